/*
 * resize.c — ct_image_resize: an 8-bit image resized as PIL's Image.resize((w, h),
 * Image.BILINEAR) resizes it, pixel for pixel, which is what torchvision's transforms.Resize
 * does to the PIL images an ImageFolder loads. Separable: a horizontal pass (when the width
 * changes) into an 8-bit image of the source rows the vertical pass reads, then a vertical pass
 * (when the height changes). Each output pixel is a weighted sum of the input pixels under a
 * triangle filter widened by the scale when shrinking (an antialiased bilinear), the weights
 * normalised, then made fixed-point with 22 fractional bits (PIL's PRECISION_BITS for 8-bit
 * images), the sum rounded and clipped to 0..255. And ct_image_to_planes: an image as
 * --dataset folder stores one (resized, its channels converted, planar).
 */
#include "core/core.h"

#include "ctrain/io.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define PRECISION_BITS (32 - 8 - 2)

typedef struct {
    int ksize;    /* weights per output pixel */
    int *bounds;  /* (out): first input pixel, count */
    int32_t *k;   /* (out, ksize) fixed-point weights */
} coeffs;

static double triangle(double x) {
    x = fabs(x);
    return x < 1.0 ? 1.0 - x : 0.0;
}

/* PIL's precompute_coeffs (support 1, the bilinear filter) and normalize_coeffs_8bpc */
static ct_status make_coeffs(int in, int out, coeffs *c) {
    double scale = (double)in / out, filterscale = scale < 1.0 ? 1.0 : scale;
    double support = 1.0 * filterscale;
    c->ksize = (int)ceil(support) * 2 + 1;
    c->bounds = malloc(sizeof(int) * 2 * (size_t)out);
    c->k = calloc((size_t)out * (size_t)c->ksize, sizeof(int32_t));
    double *w = malloc(sizeof(double) * (size_t)c->ksize);
    if (!c->bounds || !c->k || !w) {
        free(c->bounds), free(c->k), free(w);
        return ct_fail(CT_ERR_NOMEM, "out of memory (resizing %d to %d pixels)", in, out);
    }
    for (int xx = 0; xx < out; xx++) {
        double center = (xx + 0.5) * scale, ww = 0.0, ss = 1.0 / filterscale;
        int xmin = (int)(center - support + 0.5), xmax = (int)(center + support + 0.5);
        if (xmin < 0) xmin = 0;
        if (xmax > in) xmax = in;
        xmax -= xmin;
        for (int x = 0; x < xmax; x++) {
            w[x] = triangle((x + xmin - center + 0.5) * ss);
            ww += w[x];
        }
        for (int x = 0; x < xmax; x++) {
            double v = ww != 0.0 ? w[x] / ww : w[x];
            c->k[(size_t)xx * c->ksize + x] =
                (int32_t)(v < 0 ? -0.5 + v * (1 << PRECISION_BITS) : 0.5 + v * (1 << PRECISION_BITS));
        }
        c->bounds[2 * xx] = xmin;
        c->bounds[2 * xx + 1] = xmax;
    }
    free(w);
    return CT_OK;
}

static uint8_t clip8(int64_t ss) {
    ss >>= PRECISION_BITS;
    return (uint8_t)(ss < 0 ? 0 : ss > 255 ? 255 : ss);
}

ct_status ct_image_resize(const ct_image *in, int h, int w, ct_image *out) {
    memset(out, 0, sizeof *out);
    if (!in || !in->pixels || in->w < 1 || in->h < 1 || (in->c != 1 && in->c != 3) || h < 1 ||
        w < 1 || (int64_t)h * w > (1 << 26))
        return ct_fail(CT_ERR_INVALID, "ct_image_resize: bad image or size %dx%d", w, h);
    const int c = in->c;
    coeffs ch = {0}, cv = {0};
    ct_status s = make_coeffs(in->w, w, &ch);
    if (s == CT_OK) s = make_coeffs(in->h, h, &cv);
    uint8_t *tmp = NULL, *dst = NULL;
    /* the source rows the vertical pass reads */
    int y0 = s == CT_OK ? cv.bounds[0] : 0;
    int y1 = s == CT_OK ? cv.bounds[2 * (h - 1)] + cv.bounds[2 * (h - 1) + 1] : 0;
    if (s == CT_OK) {
        tmp = malloc((size_t)(y1 - y0) * (size_t)w * c);
        dst = malloc((size_t)h * (size_t)w * c);
        if (!tmp || !dst) s = ct_fail(CT_ERR_NOMEM, "out of memory (an image of %dx%d)", w, h);
    }
    if (s == CT_OK) {
        const uint8_t *src = in->pixels;
        int src_w = in->w, src_y0 = 0;
        if (w != in->w) { /* horizontal pass over rows y0..y1 */
            for (int y = y0; y < y1; y++)
                for (int xx = 0; xx < w; xx++) {
                    const int xmin = ch.bounds[2 * xx], n = ch.bounds[2 * xx + 1];
                    const int32_t *k = ch.k + (size_t)xx * ch.ksize;
                    for (int b = 0; b < c; b++) {
                        int64_t ss = 1 << (PRECISION_BITS - 1);
                        for (int x = 0; x < n; x++)
                            ss += (int64_t)src[((size_t)y * in->w + xmin + x) * c + b] * k[x];
                        tmp[((size_t)(y - y0) * w + xx) * c + b] = clip8(ss);
                    }
                }
            src = tmp, src_w = w, src_y0 = y0;
        }
        if (h != in->h) { /* vertical pass */
            for (int yy = 0; yy < h; yy++) {
                const int ymin = cv.bounds[2 * yy] - src_y0, n = cv.bounds[2 * yy + 1];
                const int32_t *k = cv.k + (size_t)yy * cv.ksize;
                for (int xx = 0; xx < w; xx++)
                    for (int b = 0; b < c; b++) {
                        int64_t ss = 1 << (PRECISION_BITS - 1);
                        for (int y = 0; y < n; y++)
                            ss += (int64_t)src[((size_t)(ymin + y) * src_w + xx) * c + b] * k[y];
                        dst[((size_t)yy * w + xx) * c + b] = clip8(ss);
                    }
            }
        } else { /* the horizontal pass's rows are the image (y0 = 0, y1 = h) */
            memcpy(dst, src + (size_t)(0 - src_y0) * src_w * c, (size_t)h * w * c);
        }
    }
    free(ch.bounds), free(ch.k), free(cv.bounds), free(cv.k), free(tmp);
    if (s != CT_OK) {
        free(dst);
        return s;
    }
    out->w = w, out->h = h, out->c = c, out->pixels = dst;
    return CT_OK;
}

/* Python's round(x / 2.0) of an integer x >= 0: halves to the even neighbour (CenterCrop's) */
static int half_round_even(int x) {
    const int k = x / 2;
    return x % 2 == 0 || k % 2 == 0 ? k : k + 1;
}

ct_status ct_image_to_planes(const ct_image *img, int c, int h, int w, int resize, uint8_t *out) {
    if (!img || !img->pixels || (c != 1 && c != 3) || (img->c != 1 && img->c != 3) || !out ||
        resize < 0 || (resize > 0 && (resize < h || resize < w)))
        return ct_fail(CT_ERR_INVALID, "ct_image_to_planes: bad image, channels or resize");
    ct_image sized = {0};
    int top = 0, left = 0, stride = w; /* the crop's corner and the rows' length */
    if (resize > 0) { /* Resize(resize): the shorter edge to resize, the ratio kept */
        const int portrait = img->w <= img->h, shorter = portrait ? img->w : img->h;
        const int64_t longer = (int64_t)resize * (portrait ? img->h : img->w) / shorter;
        if (longer > (1 << 26) / resize)
            return ct_fail(CT_ERR_INVALID, "an image of %dx%d pixels: resized to %d on its "
                           "shorter edge, over 2^26 pixels", img->w, img->h, resize);
        const int rh = portrait ? (int)longer : resize, rw = portrait ? resize : (int)longer;
        if (img->h != rh || img->w != rw) {
            CT_TRY(ct_image_resize(img, rh, rw, &sized));
            img = &sized;
        }
        top = half_round_even(rh - h), left = half_round_even(rw - w), stride = rw;
    } else if (img->h != h || img->w != w) { /* Resize((h, w)) */
        CT_TRY(ct_image_resize(img, h, w, &sized));
        img = &sized;
    }
    const size_t hw = (size_t)h * (size_t)w;
    for (size_t i = 0; i < hw; i++) { /* (CenterCrop((h, w)) of the resized image) */
        const size_t y = i / (size_t)w + (size_t)top, x = i % (size_t)w + (size_t)left;
        const uint8_t *px = img->pixels + (y * (size_t)stride + x) * (size_t)img->c;
        if (img->c == c) {
            for (int k = 0; k < c; k++) out[k * hw + i] = px[k];
        } else if (c == 1) { /* PIL's L = R 299/1000 + G 587/1000 + B 114/1000, rounded */
            out[i] = (uint8_t)((px[0] * 19595u + px[1] * 38470u + px[2] * 7471u + 0x8000u) >> 16);
        } else {
            for (int k = 0; k < c; k++) out[k * hw + i] = px[0];
        }
    }
    ct_image_free(&sized);
    return CT_OK;
}
