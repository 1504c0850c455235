/*
 * image.c — images in, for `ctrain predict` and --dataset folder: decoding (libpng for PNG,
 * libjpeg-turbo for JPEG, libnetpbm's PAM reader for PBM/PGM/PPM/PAM) and turning
 * a picture into a model input the way
 * MNIST's own images look: grey by luminance, light ink on a dark background, fitted to the
 * input size by area averaging.
 *
 * libnetpbm reports errors through a callback and a longjmp (pm_setjmpbufsave); its state is
 * global, so PNM reading is not thread-safe (the tool reads images on one thread).
 */
#include "core/core.h"

#include "ctrain/io.h"

#include <errno.h>
#include <math.h>
#include <pam.h>
#include <png.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdio.h>
#include <jpeglib.h> /* (after stdio.h: it uses FILE) */
#include <jerror.h>  /* JWRN_JPEG_EOF */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define CT_IMAGE_MAX_PIXELS (1 << 26) /* 64 Mpixel: larger pictures are refused */
#define DIGIT_BOX_FRACTION (20.0 / 28.0) /* MNIST: digits fit a 20x20 box in a 28x28 field */
#define INK_THRESHOLD 0.25               /* ink: above background + 25% of the range */

void ct_image_free(ct_image *img) {
    if (!img) return;
    free(img->pixels);
    memset(img, 0, sizeof *img);
}

static ct_status check_size(const char *path, long w, long h) {
    if (w <= 0 || h <= 0 || w > CT_IMAGE_MAX_PIXELS || h > CT_IMAGE_MAX_PIXELS ||
        (int64_t)w * h > CT_IMAGE_MAX_PIXELS)
        return ct_fail(CT_ERR_FORMAT, "%s: image size %ldx%ld is empty or too large (at most %d "
                       "pixels)", path, w, h, CT_IMAGE_MAX_PIXELS);
    return CT_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* PNG                                                                                         */

typedef struct {
    jmp_buf jb;
    char msg[200];
} png_err;

static void png_fail(png_structp png, png_const_charp msg) {
    png_err *e = png_get_error_ptr(png);
    snprintf(e->msg, sizeof e->msg, "%s", msg);
    longjmp(e->jb, 1);
}
static void png_quiet(png_structp png, png_const_charp msg) { (void)png, (void)msg; }

/* libpng's reader with PIL's choices: the samples as stored (no gamma or sRGB conversion;
 * 16 bits: their high byte), palettes and low bit depths expanded, transparency (tRNS) as
 * alpha. probe: out gets the size and channels only (pixels NULL), nothing is decoded. */
static ct_status load_png(FILE *f, const char *path, ct_image *out, int probe) {
    png_err e = {.msg = ""};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &e, png_fail, png_quiet);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    uint8_t *volatile buf = NULL;
    png_bytep *volatile rows = NULL;
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        return ct_fail(CT_ERR_NOMEM, "out of memory (reading %s)", path);
    }
    if (setjmp(e.jb)) {
        png_destroy_read_struct(&png, &info, NULL);
        free(buf);
        free(rows);
        return ct_fail(CT_ERR_FORMAT, "%s: not a readable PNG, truncated or corrupt? (libpng: "
                       "%s)", path, e.msg);
    }
    png_init_io(png, f);
    png_read_info(png, info);
    png_uint_32 w, h;
    int depth, type;
    png_get_IHDR(png, info, &w, &h, &depth, &type, NULL, NULL, NULL);
    int colour = (type & PNG_COLOR_MASK_COLOR) != 0; /* (a palette too) */
    ct_status s = check_size(path, (long)w, (long)h);
    if (s != CT_OK || probe) {
        png_destroy_read_struct(&png, &info, NULL);
        if (s == CT_OK) out->w = (int)w, out->h = (int)h, out->c = colour ? 3 : 1;
        return s;
    }
    if (type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (type == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (png_get_valid(png, info, PNG_INFO_tRNS)) png_set_tRNS_to_alpha(png);
    if (depth == 16) png_set_strip_16(png);
    if (!(type & PNG_COLOR_MASK_ALPHA) && !png_get_valid(png, info, PNG_INFO_tRNS))
        png_set_add_alpha(png, 0xFF, PNG_FILLER_AFTER); /* G -> GA, RGB -> RGBA: one layout */
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    const int in_c = colour ? 4 : 2;
    const size_t n = (size_t)w * h, stride = (size_t)w * in_c;
    if (png_get_rowbytes(png, info) != stride) png_error(png, "unexpected row layout");
    buf = ct_malloc(n * (size_t)in_c, "PNG pixels");
    rows = buf ? malloc(sizeof *rows * h) : NULL;
    if (!rows) {
        png_destroy_read_struct(&png, &info, NULL);
        free(buf);
        return CT_ERR_NOMEM;
    }
    for (png_uint_32 y = 0; y < h; y++) rows[y] = buf + y * stride;
    png_read_image(png, rows);
    png_read_end(png, NULL);
    png_destroy_read_struct(&png, &info, NULL);
    free(rows);
    out->w = (int)w;
    out->h = (int)h;
    out->c = colour ? 3 : 1;
    out->pixels = buf; /* composited in place: alpha over white */
    for (size_t i = 0; i < n; i++) {
        unsigned a = buf[i * in_c + in_c - 1];
        for (int k = 0; k < out->c; k++) {
            unsigned v = buf[i * in_c + k];
            buf[i * out->c + k] = (uint8_t)((v * a + 255u * (255u - a) + 127u) / 255u);
        }
    }
    return CT_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* JPEG (libjpeg-turbo, its defaults: the accurate integer IDCT and fancy upsampling, as
 * PIL decodes a JPEG through the same library)                                                */

typedef struct {
    struct jpeg_error_mgr pub;
    jmp_buf jb;
    char msg[JMSG_LENGTH_MAX];
    int truncated; /* libjpeg's warning that the data ended early (it fills the rest grey) */
} jpeg_err;

static void jpeg_fail(j_common_ptr c) {
    jpeg_err *e = (jpeg_err *)c->err;
    (*c->err->format_message)(c, e->msg);
    longjmp(e->jb, 1);
}
/* warnings (level -1) and traces: quiet; a premature end remembered, as PIL refuses such a
 * file ("image file is truncated") */
static void jpeg_warning(j_common_ptr c, int level) {
    if (level < 0 && c->err->msg_code == JWRN_JPEG_EOF) ((jpeg_err *)c->err)->truncated = 1;
}

static ct_status load_jpeg(FILE *f, const char *path, ct_image *out, int probe) {
    struct jpeg_decompress_struct d;
    jpeg_err e;
    uint8_t *volatile px = NULL;
    d.err = jpeg_std_error(&e.pub);
    e.pub.error_exit = jpeg_fail;
    e.pub.emit_message = jpeg_warning;
    e.msg[0] = 0;
    e.truncated = 0;
    if (setjmp(e.jb)) {
        jpeg_destroy_decompress(&d);
        free(px);
        return ct_fail(CT_ERR_FORMAT, "%s: not a readable JPEG (libjpeg: %s)", path, e.msg);
    }
    jpeg_create_decompress(&d);
    jpeg_stdio_src(&d, f);
    jpeg_read_header(&d, TRUE);
    ct_status s = check_size(path, (long)d.image_width, (long)d.image_height);
    int grey = d.jpeg_color_space == JCS_GRAYSCALE;
    if (s == CT_OK && !grey && d.jpeg_color_space != JCS_YCbCr && d.jpeg_color_space != JCS_RGB)
        s = ct_fail(CT_ERR_FORMAT, "%s: a CMYK JPEG, which ctrain does not read (save it as RGB)",
                    path);
    int c = grey ? 1 : 3;
    if (s == CT_OK && probe) {
        out->w = (int)d.image_width, out->h = (int)d.image_height, out->c = c;
        jpeg_destroy_decompress(&d);
        return CT_OK;
    }
    if (s == CT_OK && !(px = ct_malloc((size_t)d.image_width * d.image_height * c, "JPEG pixels")))
        s = CT_ERR_NOMEM;
    if (s != CT_OK) {
        jpeg_destroy_decompress(&d);
        return s;
    }
    d.out_color_space = grey ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_start_decompress(&d);
    while (d.output_scanline < d.output_height) {
        JSAMPROW row = px + (size_t)d.output_scanline * d.output_width * c;
        jpeg_read_scanlines(&d, &row, 1);
    }
    jpeg_finish_decompress(&d);
    jpeg_destroy_decompress(&d);
    if (e.truncated) {
        free(px);
        return ct_fail(CT_ERR_FORMAT, "%s: a truncated JPEG (its data ends before the image "
                       "does)", path);
    }
    out->w = (int)d.output_width;
    out->h = (int)d.output_height;
    out->c = c;
    out->pixels = px;
    return CT_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* PBM / PGM / PPM / PAM                                                                       */

static pthread_once_t g_pm_once = PTHREAD_ONCE_INIT;
static char g_pm_message[256];

static void pm_init_once(void) { pm_init("ctrain", 0); }
static void pm_error_message(const char *msg) {
    snprintf(g_pm_message, sizeof g_pm_message, "%s", msg);
    size_t n = strlen(g_pm_message);
    while (n && (g_pm_message[n - 1] == '\n' || g_pm_message[n - 1] == '.')) g_pm_message[--n] = 0;
}
static void pm_quiet(const char *msg) { (void)msg; }

/* libnetpbm keeps its error handler and jump buffer in globals: one image at a time (threads
 * decoding a folder take turns here; PNG and JPEG have their own state) */
static ct_status load_pnm_locked(FILE *f, const char *path, ct_image *out, int probe);
static pthread_mutex_t g_pm_lock = PTHREAD_MUTEX_INITIALIZER;

static ct_status load_pnm(FILE *f, const char *path, ct_image *out, int probe) {
    pthread_mutex_lock(&g_pm_lock);
    ct_status s = load_pnm_locked(f, path, out, probe);
    pthread_mutex_unlock(&g_pm_lock);
    return s;
}

static ct_status load_pnm_locked(FILE *f, const char *path, ct_image *out, int probe) {
    pthread_once(&g_pm_once, pm_init_once);
    pm_setusererrormsgfn(pm_error_message);
    pm_setusermessagefn(pm_quiet);
    struct pam pam;
    tuple *volatile row = NULL;
    uint8_t *volatile px = NULL;
    jmp_buf jb, *saved = NULL;
    g_pm_message[0] = 0;
    if (setjmp(jb)) { /* libnetpbm failed: pm_error longjmp'd here */
        pm_setjmpbuf(saved);
        if (row) pnm_freepamrow(row);
        free(px);
        return ct_fail(CT_ERR_FORMAT, "%s: %s", path, g_pm_message[0] ? g_pm_message :
                       "not a readable PBM/PGM/PPM/PAM image");
    }
    pm_setjmpbufsave(&jb, &saved);
    /* PAM_STRUCT_SIZE(tuple_type), without the macro's member access through a null pointer */
    pnm_readpaminit(f, &pam, offsetof(struct pam, tuple_type) + sizeof pam.tuple_type);
    ct_status s = check_size(path, (long)pam.width, (long)pam.height);
    if (s == CT_OK && (pam.depth < 1 || pam.depth > 4 || pam.maxval < 1))
        s = ct_fail(CT_ERR_FORMAT, "%s: %u channels with maxval %lu: not an image ctrain reads",
                    path, pam.depth, (unsigned long)pam.maxval);
    int colour = pam.depth >= 3, alpha = pam.depth == 2 || pam.depth == 4;
    int c = colour ? 3 : 1;
    if (s == CT_OK && probe) {
        pm_setjmpbuf(saved);
        out->w = pam.width, out->h = pam.height, out->c = c;
        return CT_OK;
    }
    if (s == CT_OK) {
        px = ct_malloc((size_t)pam.width * pam.height * c, "image pixels");
        if (!px) s = CT_ERR_NOMEM;
    }
    if (s == CT_OK) row = pnm_allocpamrow(&pam);
    for (int y = 0; s == CT_OK && y < pam.height; y++) {
        pnm_readpamrow(&pam, row);
        for (int x = 0; x < pam.width; x++) {
            double a = alpha ? (double)row[x][pam.depth - 1] / pam.maxval : 1.0;
            for (int k = 0; k < c; k++) {
                double v = (double)row[x][k] / pam.maxval;
                v = v * a + (1.0 - a); /* alpha over white */
                px[((size_t)y * pam.width + x) * c + k] = (uint8_t)lrint(v * 255.0);
            }
        }
    }
    if (row) pnm_freepamrow(row);
    pm_setjmpbuf(saved);
    if (s != CT_OK) {
        free(px);
        return s;
    }
    out->w = pam.width;
    out->h = pam.height;
    out->c = c;
    out->pixels = px;
    return CT_OK;
}

static ct_status read_image(const char *path, ct_image *out, int probe) {
    memset(out, 0, sizeof *out);
    struct stat st; /* read twice (the magic, then from the start again), so a file; and
                     * open() would wait on a FIFO */
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode))
        return ct_fail(CT_ERR_IO, "%s: not a regular file", path);
    FILE *f = fopen(path, "rb"); /* one open: the magic, then the decoder from the start */
    if (!f) return ct_fail(CT_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    unsigned char magic[8] = {0};
    size_t got = fread(magic, 1, sizeof magic, f);
    rewind(f);
    ct_status s;
    if (got == 8 && png_sig_cmp(magic, 0, 8) == 0)
        s = load_png(f, path, out, probe);
    else if (got >= 3 && magic[0] == 0xFF && magic[1] == 0xD8 && magic[2] == 0xFF)
        s = load_jpeg(f, path, out, probe);
    else if (got >= 2 && magic[0] == 'P' && magic[1] >= '1' && magic[1] <= '7')
        s = load_pnm(f, path, out, probe);
    else
        s = ct_fail(CT_ERR_FORMAT, "%s: not a PNG, JPEG or PBM/PGM/PPM/PAM image", path);
    fclose(f);
    return s;
}

ct_status ct_image_load(const char *path, ct_image *out) { return read_image(path, out, 0); }

ct_status ct_image_probe(const char *path, int *w, int *h, int *c) {
    ct_image img;
    ct_status s = read_image(path, &img, 1);
    if (s == CT_OK) *w = img.w, *h = img.h, *c = img.c;
    return s;
}

/* ------------------------------------------------------------------------------------------ */
/* resizing: separable area averaging (box filter over exact coverage)                         */

/* dst[o * dstride] for o < dn = average of src over [o*sn/dn, (o+1)*sn/dn). */
static void resample_1d(const float *src, int sn, int sstride, float *dst, int dn, int dstride) {
    double scale = (double)sn / dn;
    for (int o = 0; o < dn; o++) {
        double a = o * scale, b = (o + 1) * scale, sum = 0.0;
        for (int i = (int)floor(a); i < sn && i < b; i++) {
            double lo = i > a ? i : a, hi = i + 1 < b ? i + 1 : b;
            if (hi > lo) sum += (hi - lo) * src[(size_t)i * sstride];
        }
        dst[(size_t)o * dstride] = (float)(sum / (b - a));
    }
}

/* (sh, sw) → (dh, dw), one plane. */
static ct_status resize(const float *src, int sh, int sw, float *dst, int dh, int dw) {
    float *tmp = ct_malloc((size_t)sh * dw * sizeof(float), "resize buffer");
    if (!tmp) return CT_ERR_NOMEM;
    for (int y = 0; y < sh; y++) resample_1d(src + (size_t)y * sw, sw, 1, tmp + (size_t)y * dw, dw, 1);
    for (int x = 0; x < dw; x++) resample_1d(tmp + x, sh, dw, dst + x, dh, dw);
    free(tmp);
    return CT_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* fitting                                                                                     */

/* Mean of the one-pixel border of a plane. */
static double border_mean(const float *p, int h, int w) {
    double sum = 0.0;
    long n = 0;
    for (int x = 0; x < w; x++) {
        sum += p[x] + p[(size_t)(h - 1) * w + x];
        n += 2;
    }
    for (int y = 1; y < h - 1; y++) {
        sum += p[(size_t)y * w] + p[(size_t)y * w + w - 1];
        n += 2;
    }
    return n ? sum / n : 0.0;
}

/* Places plane src (sh, sw) into dst (h, w) filled with bg, with src's top-left at (oy, ox). */
static void paste(const float *src, int sh, int sw, float *dst, int h, int w, int oy, int ox,
                  float bg) {
    for (size_t i = 0; i < (size_t)h * w; i++) dst[i] = bg;
    for (int y = 0; y < sh; y++)
        for (int x = 0; x < sw; x++)
            if (y + oy >= 0 && y + oy < h && x + ox >= 0 && x + ox < w)
                dst[(size_t)(y + oy) * w + x + ox] = src[(size_t)y * sw + x];
}

typedef struct {
    int y0, x0, y1, x1; /* crop [y0, y1) x [x0, x1) of the source */
    int rh, rw;         /* its size after scaling */
    int oy, ox;         /* where it goes in the output */
    int by_mass;        /* 1: placed by its centre of mass instead (digit) */
} fit_plan;

/* Works out the crop, scale and placement of fit mode `fit` from the guide plane g (sh, sw). */
static void plan_fit(const float *g, int sh, int sw, int h, int w, ct_image_fit fit, float bg,
                     fit_plan *p) {
    *p = (fit_plan){0, 0, sh, sw, h, w, 0, 0, 0};
    if (fit == CT_FIT_STRETCH) return;
    if (fit == CT_FIT_DIGIT) {
        float mx = bg;
        for (size_t i = 0; i < (size_t)sh * sw; i++) mx = g[i] > mx ? g[i] : mx;
        float thr = bg + (float)INK_THRESHOLD * (mx - bg);
        int y0 = sh, x0 = sw, y1 = 0, x1 = 0;
        for (int y = 0; y < sh; y++)
            for (int x = 0; x < sw; x++)
                if (mx > bg && g[(size_t)y * sw + x] > thr) {
                    y0 = y < y0 ? y : y0;
                    x0 = x < x0 ? x : x0;
                    y1 = y + 1 > y1 ? y + 1 : y1;
                    x1 = x + 1 > x1 ? x + 1 : x1;
                }
        if (y1 > y0 && x1 > x0) {
            double box_h = h * DIGIT_BOX_FRACTION, box_w = w * DIGIT_BOX_FRACTION;
            double scale = fmin(box_h / (y1 - y0), box_w / (x1 - x0));
            p->y0 = y0, p->x0 = x0, p->y1 = y1, p->x1 = x1;
            p->rh = (int)lround((y1 - y0) * scale);
            p->rw = (int)lround((x1 - x0) * scale);
            p->rh = p->rh < 1 ? 1 : p->rh;
            p->rw = p->rw < 1 ? 1 : p->rw;
            p->by_mass = 1; /* placed after scaling */
            return;
        }
    }
    /* pad: keep the aspect ratio, centre in the output */
    double scale = fmin((double)h / sh, (double)w / sw);
    p->rh = (int)lround(sh * scale);
    p->rw = (int)lround(sw * scale);
    p->rh = p->rh < 1 ? 1 : p->rh > h ? h : p->rh;
    p->rw = p->rw < 1 ? 1 : p->rw > w ? w : p->rw;
    p->oy = (h - p->rh) / 2;
    p->ox = (w - p->rw) / 2;
}

/* Output offset putting the centre of mass (above bg) of plane r (rh, rw) at the centre. */
static void centre_of_mass(const float *r, int rh, int rw, int h, int w, float bg, int *oy,
                           int *ox) {
    double sum = 0.0, sy = 0.0, sx = 0.0;
    for (int y = 0; y < rh; y++)
        for (int x = 0; x < rw; x++) {
            double v = r[(size_t)y * rw + x] - bg;
            if (v <= 0) continue;
            sum += v;
            sy += v * (y + 0.5);
            sx += v * (x + 0.5);
        }
    double cy = sum > 0 ? sy / sum : rh / 2.0, cx = sum > 0 ? sx / sum : rw / 2.0;
    *oy = (int)lround(h / 2.0 - cy);
    *ox = (int)lround(w / 2.0 - cx);
}

/* The plan's crop of plane src (row length sw) into crop, scaled into scaled (rh, rw). */
static ct_status crop_resize(const float *src, int sw, const fit_plan *fp, float *crop,
                             float *scaled) {
    int ch = fp->y1 - fp->y0, cw = fp->x1 - fp->x0;
    for (int y = 0; y < ch; y++)
        memcpy(crop + (size_t)y * cw, src + (size_t)(y + fp->y0) * sw + fp->x0,
               (size_t)cw * sizeof(float));
    return resize(crop, ch, cw, scaled, fp->rh, fp->rw);
}

ct_status ct_image_to_input(const ct_image *img, int c, int h, int w, int invert,
                            ct_image_fit fit, float *out, int *inverted) {
    if (!img || !img->pixels || img->w <= 0 || img->h <= 0 || (img->c != 1 && img->c != 3))
        return ct_fail(CT_ERR_INVALID, "image: empty or with %d channels", img ? img->c : 0);
    if ((c != 1 && c != 3) || h <= 0 || w <= 0)
        return ct_fail(CT_ERR_UNSUPPORTED, "image: the model takes (%d, %d, %d); images fit "
                       "models with 1 or 3 channels", c, h, w);
    int sh = img->h, sw = img->w;
    size_t n = (size_t)sh * sw;
    /* planes (c, sh, sw) of 0..255, and the grey guide plane */
    float *planes = ct_malloc(n * (size_t)(c + 1) * sizeof(float), "image planes");
    float *res = ct_malloc((size_t)h * w * (size_t)c * sizeof(float), "fitted image");
    if (!planes || !res) {
        free(planes);
        free(res);
        return CT_ERR_NOMEM;
    }
    float *guide = planes + n * (size_t)c;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *p = img->pixels + i * (size_t)img->c;
        float grey = img->c == 1 ? p[0] : (float)(0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2]);
        guide[i] = grey;
        for (int k = 0; k < c; k++) planes[(size_t)k * n + i] = c == 1 ? grey : p[img->c == 1 ? 0 : k];
    }
    int inv = invert == 1 || (invert < 0 && border_mean(guide, sh, sw) > 127.5);
    if (inv)
        for (size_t i = 0; i < n * (size_t)(c + 1); i++) planes[i] = 255.0f - planes[i];
    float bg = (float)border_mean(guide, sh, sw);
    fit_plan fp;
    plan_fit(guide, sh, sw, h, w, fit, bg, &fp);
    int ch = fp.y1 - fp.y0, cw = fp.x1 - fp.x0;
    float *crop = ct_malloc((size_t)ch * cw * sizeof(float), "image crop");
    float *scaled = ct_malloc((size_t)fp.rh * fp.rw * sizeof(float), "image scaled");
    ct_status s = crop && scaled ? CT_OK : CT_ERR_NOMEM;
    int oy = fp.oy, ox = fp.ox;
    /* the grey guide decides the placement of a cropped digit; then every channel follows */
    if (fp.by_mass && s == CT_OK &&
        (s = crop_resize(guide, sw, &fp, crop, scaled)) == CT_OK)
        centre_of_mass(scaled, fp.rh, fp.rw, h, w, bg, &oy, &ox);
    for (int k = 0; k < c && s == CT_OK; k++)
        if ((s = crop_resize(planes + (size_t)k * n, sw, &fp, crop, scaled)) == CT_OK)
            paste(scaled, fp.rh, fp.rw, res + (size_t)k * h * w, h, w, oy, ox, bg);
    if (s == CT_OK) {
        for (size_t i = 0; i < (size_t)c * h * w; i++) {
            float v = res[i] / 255.0f;
            out[i] = v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v;
        }
        if (inverted) *inverted = inv;
    }
    free(crop);
    free(scaled);
    free(planes);
    free(res);
    return s;
}
