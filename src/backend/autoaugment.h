/*
 * autoaugment.h — torchvision's TrivialAugmentWide(num_magnitude_bins, NEAREST or BILINEAR) in
 * the augmentation of training images (augment.h): one definition for the CPU backend (cpu.c)
 * and the CUDA kernel (cuda_ops.cu).
 *
 * It comes after the warp or resized crop and the flips, before the erasing, as in
 * torchvision's recipe Compose([RandomResizedCrop, RandomHorizontalFlip, TrivialAugmentWide,
 * PILToTensor, ..., RandomErasing]), and like torchvision's it works on bytes: the pixels it
 * takes are the rest's values rounded (half to even, as torch.round before a cast back to
 * uint8), and it gives bytes, each op as torchvision's functional op on a uint8 tensor (float32
 * arithmetic, products and sums rounded one by one, truncated back to a byte):
 * - the op uniform among the 14 below, from word 0 of the Philox block (key seed, counter
 *   (stream | CT_AUGMENT_TA_BIT, first + i)) % 14; for an op with magnitudes, the bin word 1 %
 *   bins of torch.linspace's float32 table (computed as ATen's linspace), negated when the op
 *   is signed and word 2 is odd;
 * - ShearX, ShearY (shear atan(m) in degrees about the corner (0, 0)), TranslateX, TranslateY
 *   (int(m) pixels), Rotate (m degrees counter-clockwise): functional.affine's or rotate's
 *   inverse map, nearest (round half to even) or, with a->bilinear, grid_sample's 4 taps
 *   summed and rounded, 0 outside; computed in double (torchvision's grid and sums are
 *   float32: a sampling point or a sum within rounding of a half may round the other way);
 * - Brightness, Color (3 channels), Contrast, Sharpness by the factor 1 + m: _blend(img, other,
 *   f) = trunc(clamp(f * img + (1 - f) * other, 0, 255)), other 0, the grey (rgb_to_grayscale:
 *   trunc(0.2989 r + 0.587 g + 0.114 b)), the mean of the grey (one channel: of the pixels) as
 *   torch.mean gives it (an exact sum while below 2^24, / the count), the 3x3 blur [[1, 1, 1],
 *   [1, 5, 1], [1, 1, 1]] / 13 rounded inside a border of the pixels themselves;
 * - Posterize (keep the top int(m) bits), Solarize (255 - v where v >= m), AutoContrast (each
 *   channel's min..max stretched to 0..255), Equalize (each channel by torchvision's
 *   _scale_channel's table of its histogram), Identity.
 * Images of 1 or 3 channels (torchvision's ops refuse others). The whole-image figures (the
 * mean, the min and max, the histograms) come from one histogram of bytes a channel (and of
 * the grey), integers, the same whichever order the pixels are counted in.
 */
#ifndef CT_AUTOAUGMENT_H
#define CT_AUTOAUGMENT_H

#include "backend/augment.h"
#include "ctrain.h" /* (CT_MAX_TA_BINS) */

/* counter_hi of TrivialAugmentWide's block: the stream with this bit set */
#define CT_AUGMENT_TA_BIT (1ull << 52)
#define CT_TA_MAX_C 3   /* channels: 1 or 3 */

/* torchvision's _augmentation_space order */
enum {
    CT_TA_IDENTITY, CT_TA_SHEAR_X, CT_TA_SHEAR_Y, CT_TA_TRANSLATE_X, CT_TA_TRANSLATE_Y,
    CT_TA_ROTATE, CT_TA_BRIGHTNESS, CT_TA_COLOR, CT_TA_CONTRAST, CT_TA_SHARPNESS,
    CT_TA_POSTERIZE, CT_TA_SOLARIZE, CT_TA_AUTOCONTRAST, CT_TA_EQUALIZE, CT_TA_OPS
};

/* float32 products, sums and quotients rounded one by one (never fused) */
#ifdef __CUDA_ARCH__
#define CT_FMUL(a, b) __fmul_rn((a), (b))
#define CT_FADD(a, b) __fadd_rn((a), (b))
#define CT_FDIV(a, b) __fdiv_rn((a), (b))
#else
static inline float ct_fmul_rn(float a, float b) {
    float r = a * b;
#if defined(__x86_64__)
    __asm__("" : "+x"(r));
#elif defined(__aarch64__)
    __asm__("" : "+w"(r));
#else
    volatile float v = r;
    r = v;
#endif
    return r;
}
#define CT_FMUL(a, b) ct_fmul_rn((a), (b))
#define CT_FADD(a, b) ((a) + (b))
#define CT_FDIV(a, b) ((a) / (b))
#endif

/* Value i of torch.linspace(start, end, steps) in float32 as PyTorch 1.13's CPU kernel gives it
 * (its AVX2 build): start + step i in the first half, end - step (steps - 1 - i) in the second,
 * each one fused multiply-add; but the vectorised part (blocks of 8, two at a time while 16
 * are left) takes a block's first value so and adds j step, rounded, to it. (tests/
 * torchvision_augment.py holds these tables against torchvision's.) */
static inline CT_HD float ct_ta_at(float start, float end, float step, int steps, int i) {
    return i < steps / 2 ? fmaf(step, (float)i, start) : fmaf(-step, (float)(steps - 1 - i), end);
}
static inline CT_HD float ct_ta_linspace(float start, float end, int steps, int i) {
    const float step = CT_FDIV(CT_FADD(end, -start), (float)(steps - 1));
    if (i < steps / 16 * 16) {
        const int block = i / 8 * 8;
        return CT_FADD(ct_ta_at(start, end, step, steps, block), CT_FMUL((float)(i - block), step));
    }
    return ct_ta_at(start, end, step, steps, i);
}

/* Does op draw a magnitude (from bins), and is it signed? */
static inline CT_HD int ct_ta_has_magnitude(int op) {
    return op != CT_TA_IDENTITY && op != CT_TA_AUTOCONTRAST && op != CT_TA_EQUALIZE;
}
static inline CT_HD int ct_ta_signed(int op) {
    return op >= CT_TA_SHEAR_X && op <= CT_TA_SHARPNESS;
}

/* Bin k of op's magnitudes (of bins), as float(magnitudes[k]) */
static inline CT_HD double ct_ta_magnitude(int op, int bins, int k) {
    switch (op) {
    case CT_TA_TRANSLATE_X:
    case CT_TA_TRANSLATE_Y: return (double)ct_ta_linspace(0.0f, 32.0f, bins, k);
    case CT_TA_ROTATE: return (double)ct_ta_linspace(0.0f, 135.0f, bins, k);
    case CT_TA_POSTERIZE: /* 8 - (arange(bins) / ((bins - 1) / 6)).round().int() */
        return (double)(8 - (int)rintf(CT_FDIV((float)k, (float)((double)(bins - 1) / 6.0))));
    case CT_TA_SOLARIZE: return (double)ct_ta_linspace(255.0f, 0.0f, bins, k);
    default: return ct_ta_has_magnitude(op) ? (double)ct_ta_linspace(0.0f, 0.99f, bins, k) : 0.0;
    }
}

/* The op, its magnitude, and for the warps their inverse map (torchvision's
 * _get_inverse_affine_matrix, centred coordinates), from the block r */
static inline CT_HD void ct_ta_draw(const ct_augment *a, const uint32_t r[4], ct_augment_draw *d) {
    const int op = (int)(r[0] % (uint32_t)CT_TA_OPS);
    double m = ct_ta_has_magnitude(op) ? ct_ta_magnitude(op, a->ta_bins,
                                                          (int)(r[1] % (uint32_t)a->ta_bins))
                                       : 0.0;
    if (ct_ta_signed(op) && (r[2] & 1u)) m = -m;
    d->ta_op = op, d->ta_mag = m;
    if (op < CT_TA_SHEAR_X || op > CT_TA_ROTATE) return;
    const double pi = 3.14159265358979323846;
    double cx = 0.0, cy = 0.0, tx = 0.0, ty = 0.0, angle = 0.0, shx = 0.0, shy = 0.0;
    if (op == CT_TA_SHEAR_X || op == CT_TA_SHEAR_Y) { /* about the corner: center=[0, 0] */
        cx = -0.5 * (double)a->w, cy = -0.5 * (double)a->h;
        double deg = CT_DMUL(atan(m), 180.0 / pi); /* math.degrees(math.atan(m)) */
        if (op == CT_TA_SHEAR_X) shx = deg;
        else shy = deg;
    } else if (op == CT_TA_TRANSLATE_X) {
        tx = (double)(int)m; /* int(): toward zero */
    } else if (op == CT_TA_TRANSLATE_Y) {
        ty = (double)(int)m;
    } else {
        angle = -m; /* F.rotate: counter-clockwise, F.affine's -angle */
    }
    double rot = CT_DMUL(angle, pi / 180.0), sx = CT_DMUL(shx, pi / 180.0),
           sy = CT_DMUL(shy, pi / 180.0);
    double csy = cos(sy), crs = cos(CT_DADD(rot, -sy)), srs = sin(CT_DADD(rot, -sy));
    double ma = crs / csy, mb = CT_DADD(-CT_DMUL(crs, tan(sx)) / csy, -sin(rot));
    double mc = srs / csy, md = CT_DADD(-CT_DMUL(srs, tan(sx)) / csy, cos(rot));
    double *t = d->ta_m;
    t[0] = md, t[1] = -mb, t[3] = -mc, t[4] = ma;
    t[2] = CT_DADD(CT_DADD(CT_DMUL(t[0], CT_DADD(-cx, -tx)), CT_DMUL(t[1], CT_DADD(-cy, -ty))), cx);
    t[5] = CT_DADD(CT_DADD(CT_DMUL(t[3], CT_DADD(-cx, -tx)), CT_DMUL(t[4], CT_DADD(-cy, -ty))), cy);
}

/* The draw of image at under a (called by ct_augment_draw_at) */
static inline CT_HD void ct_ta_draw_at(const ct_augment *a, uint64_t at, ct_augment_draw *d) {
    uint32_t r[4];
    ct_philox_block(a->seed, a->stream | CT_AUGMENT_TA_BIT, at, r);
    ct_ta_draw(a, r, d);
}

/* Does d's op need the image's histograms (ct_ta_stats)? */
static inline CT_HD int ct_ta_needs_hist(const ct_augment_draw *d) {
    return d->ta_op == CT_TA_CONTRAST || d->ta_op == CT_TA_AUTOCONTRAST ||
           d->ta_op == CT_TA_EQUALIZE;
}

/* rgb_to_grayscale of a uint8 pixel */
static inline CT_HD int ct_ta_grey(const int *px) {
    float v = CT_FADD(CT_FADD(CT_FMUL(0.2989f, (float)px[0]), CT_FMUL(0.587f, (float)px[1])),
                      CT_FMUL(0.114f, (float)px[2]));
    return (int)v;
}

/* _blend(img, other, ratio) of one uint8 value */
static inline CT_HD int ct_ta_blend(float x, float other, double ratio) {
    const float r = (float)ratio, q = (float)(1.0 - ratio);
    float v = CT_FADD(CT_FMUL(r, x), CT_FMUL(q, other));
    v = v < 0.0f ? 0.0f : v > 255.0f ? 255.0f : v;
    return (int)v;
}

/* An image's figures for Contrast, AutoContrast and Equalize, from hist[ch][v] (its pixels of
 * value v in channel ch; hist[CT_TA_MAX_C]: of the grey, for 3 channels) */
typedef struct {
    float mean;                     /* Contrast's */
    float lo[CT_TA_MAX_C], scale[CT_TA_MAX_C]; /* AutoContrast's */
    int equalized[CT_TA_MAX_C];     /* Equalize: 0 leaves the channel as it is */
    uint8_t lut[CT_TA_MAX_C][256];
} ct_ta_stats;

/* The figures d's op needs from the histograms (hist[c or CT_TA_MAX_C] the grey's when c == 3) */
static inline CT_HD void ct_ta_stats_of(const ct_augment *a, const ct_augment_draw *d,
                                        const unsigned (*hist)[256], ct_ta_stats *st) {
    const int c = a->c;
    if (d->ta_op == CT_TA_CONTRAST) {
        const unsigned *h = hist[c == 3 ? CT_TA_MAX_C : 0];
        long long sum = 0, n = 0;
        for (int v = 0; v < 256; v++) sum += (long long)v * h[v], n += h[v];
        st->mean = CT_FDIV((float)sum, (float)n);
    } else if (d->ta_op == CT_TA_AUTOCONTRAST) {
        for (int ch = 0; ch < c; ch++) {
            int lo = 0, hi = 255;
            while (lo < 255 && !hist[ch][lo]) lo++;
            while (hi > 0 && !hist[ch][hi]) hi--;
            if (hi <= lo) { /* one value: the scale is infinite, and torchvision's is then 1 */
                st->lo[ch] = 0.0f, st->scale[ch] = 1.0f;
            } else {
                st->lo[ch] = (float)lo;
                /* (255 / tensor is tensor.reciprocal() * 255) */
                st->scale[ch] = CT_FMUL(CT_FDIV(1.0f, CT_FADD((float)hi, -(float)lo)), 255.0f);
            }
        }
    } else if (d->ta_op == CT_TA_EQUALIZE) {
        for (int ch = 0; ch < c; ch++) {
            const unsigned *h = hist[ch];
            long long total = 0, last = 0;
            for (int v = 0; v < 256; v++)
                if (h[v]) total += h[v], last = h[v];
            const long long step = (total - last) / 255; /* (all but the last nonzero bin) */
            st->equalized[ch] = step != 0;
            if (!step) continue;
            long long cum = 0;
            st->lut[ch][0] = 0;
            for (int v = 1; v < 256; v++) { /* pad([1, 0])[:-1]: the table of v - 1's cumsum */
                cum += h[v - 1];
                long long t = (cum + step / 2) / step;
                st->lut[ch][v] = (uint8_t)(t > 255 ? 255 : t);
            }
        }
    }
}

/* A byte from a value v as a float (the CPU's row functions write floats), rounded half to
 * even, as torch.round before a cast to uint8 */
static inline CT_HD int ct_ta_round(float v) {
    float r = rintf(v);
    return r < 0.0f ? 0 : r > 255.0f ? 255 : (int)r;
}

static inline CT_HD int ct_ta_warps(int op) { return op >= CT_TA_SHEAR_X && op <= CT_TA_ROTATE; }

/* The pre-op pixels output (y, x) needs, into ys, xs: the warp's source, nearest, or its 4
 * taps with their weights wt when a->bilinear (grid_sample's, zeros outside: -1, value 0),
 * the sharpness' 3x3 (row by row) inside the image's border, else (y, x) itself; returns how
 * many (9 for the sharpness, 4 for a bilinear warp, else 1) */
static inline CT_HD int ct_ta_places(const ct_augment *a, const ct_augment_draw *d, int y, int x,
                                     int *ys, int *xs, double *wt) {
    const int op = d->ta_op, h = a->h, w = a->w;
    if (ct_ta_warps(op)) {
        const double *t = d->ta_m;
        double hx = 0.5 * (double)w, hy = 0.5 * (double)h;
        double xb = CT_DADD(CT_DADD((double)x, 0.5), -hx);
        double yb = CT_DADD(CT_DADD((double)y, 0.5), -hy);
        /* the source point in pixels (grid_sample's unnormalised, align_corners=False) */
        double sx = CT_DADD(CT_DADD(CT_DADD(CT_DMUL(t[0], xb), CT_DMUL(t[1], yb)), t[2]), hx);
        double sy = CT_DADD(CT_DADD(CT_DADD(CT_DMUL(t[3], xb), CT_DMUL(t[4], yb)), t[5]), hy);
        sx = CT_DADD(sx, -0.5), sy = CT_DADD(sy, -0.5);
        if (a->bilinear) {
            double fx = floor(sx), fy = floor(sy), ex = CT_DADD(sx, -fx), ey = CT_DADD(sy, -fy);
            for (int k = 0; k < 4; k++) {
                double xx = fx + (double)(k & 1), yy = fy + (double)(k >> 1);
                int in = xx >= 0.0 && xx < (double)w && yy >= 0.0 && yy < (double)h;
                ys[k] = in ? (int)yy : -1, xs[k] = in ? (int)xx : -1;
                wt[k] = CT_DMUL((k & 1) ? ex : CT_DADD(1.0, -ex),
                                (k >> 1) ? ey : CT_DADD(1.0, -ey));
            }
            return 4;
        }
        double nx = rint(sx), ny = rint(sy);
        int in = nx >= 0.0 && nx < (double)w && ny >= 0.0 && ny < (double)h;
        ys[0] = in ? (int)ny : -1, xs[0] = in ? (int)nx : -1;
        return 1;
    }
    if (op == CT_TA_SHARPNESS && h > 2 && w > 2 && y > 0 && y < h - 1 && x > 0 && x < w - 1) {
        for (int k = 0; k < 9; k++) ys[k] = y - 1 + k / 3, xs[k] = x - 1 + k % 3;
        return 9;
    }
    ys[0] = y, xs[0] = x;
    return 1;
}

/* The op's bytes out[ch] of a pixel from the pre-op bytes nb[ch][k] of ct_ta_places' places
 * (n of them, weights wt for a bilinear warp's) */
static inline CT_HD void ct_ta_apply(const ct_augment *a, const ct_augment_draw *d,
                                     const ct_ta_stats *st, const int (*nb)[9], int n,
                                     const double *wt, int *out) {
    const int c = a->c, op = d->ta_op;
    const double f = 1.0 + d->ta_mag;
    int grey = 0;
    if (c == 3 && op == CT_TA_COLOR) {
        const int px[3] = {nb[0][0], nb[1][0], nb[2][0]};
        grey = ct_ta_grey(px);
    }
    for (int ch = 0; ch < c; ch++) {
        int v = nb[ch][n == 9 ? 4 : 0];
        if (n == 4 && ct_ta_warps(op)) { /* bilinear: the taps' sum, rounded to a byte */
            double s = 0.0;
            for (int k = 0; k < 4; k++) s = CT_DADD(s, CT_DMUL(wt[k], (double)nb[ch][k]));
            v = ct_ta_round((float)s);
        }
        switch (op) {
        case CT_TA_BRIGHTNESS: out[ch] = ct_ta_blend((float)v, 0.0f, f); break;
        case CT_TA_COLOR: out[ch] = c == 3 ? ct_ta_blend((float)v, (float)grey, f) : v; break;
        case CT_TA_CONTRAST: out[ch] = ct_ta_blend((float)v, st->mean, f); break;
        case CT_TA_SHARPNESS: {
            int blur = v; /* (the border keeps its pixels) */
            if (n == 9) {
                int s = 4 * nb[ch][4]; /* 5 x the centre + the 8 around it, / 13, rounded */
                for (int k = 0; k < 9; k++) s += nb[ch][k];
                blur = (2 * s + 13) / 26; /* (s / 13 is never a half) */
            }
            out[ch] = a->h > 2 && a->w > 2 ? ct_ta_blend((float)v, (float)blur, f) : v;
            break;
        }
        case CT_TA_POSTERIZE: out[ch] = v & (256 - (1 << (8 - (int)d->ta_mag))); break;
        case CT_TA_SOLARIZE: out[ch] = (float)v >= (float)d->ta_mag ? 255 - v : v; break;
        case CT_TA_AUTOCONTRAST: {
            float s = CT_FMUL(CT_FADD((float)v, -st->lo[ch]), st->scale[ch]);
            out[ch] = (int)(s < 0.0f ? 0.0f : s > 255.0f ? 255.0f : s);
            break;
        }
        case CT_TA_EQUALIZE: out[ch] = st->equalized[ch] ? st->lut[ch][v] : v; break;
        default: out[ch] = v; /* Identity; the warps' sample */
        }
    }
}

/* The pre-op byte of pixel (ch, y, x) (augment.h's value, without the erasing, which comes
 * after) */
static inline CT_HD int ct_ta_byte(const ct_augment *a, const ct_augment_draw *d,
                                   const uint8_t *img, int ch, int y, int x) {
    return ct_ta_round((float)ct_augment_pixel_raw(a, d, img, ch, y, x));
}

/* A pixel's pre-op bytes px counted into hist (ct_ta_stats_of's) */
static inline CT_HD void ct_ta_count_px(const int *px, int c, unsigned (*hist)[256]) {
    for (int ch = 0; ch < c; ch++) {
#ifdef __CUDA_ARCH__
        atomicAdd(&hist[ch][px[ch]], 1u);
#else
        hist[ch][px[ch]]++;
#endif
    }
    if (c == 3) {
#ifdef __CUDA_ARCH__
        atomicAdd(&hist[CT_TA_MAX_C][ct_ta_grey(px)], 1u);
#else
        hist[CT_TA_MAX_C][ct_ta_grey(px)]++;
#endif
    }
}

/* Pixel (y, x)'s pre-op bytes, computed, counted into hist */
static inline CT_HD void ct_ta_count(const ct_augment *a, const ct_augment_draw *d,
                                     const uint8_t *img, int y, int x, unsigned (*hist)[256]) {
    int px[CT_TA_MAX_C];
    for (int ch = 0; ch < a->c; ch++) px[ch] = ct_ta_byte(a, d, img, ch, y, x);
    ct_ta_count_px(px, a->c, hist);
}

/* Output pixel (y, x) of image img under d, all its channels into out (times scale): the op's
 * bytes, or the erased box's fill */
static inline CT_HD void ct_ta_pixel(const ct_augment *a, const ct_augment_draw *d,
                                     const ct_ta_stats *st, const uint8_t *img, int y, int x,
                                     float scale, float *out) {
    if (ct_augment_in_erased(d, y, x)) {
        for (int ch = 0; ch < a->c; ch++) out[ch] = scale * (float)ct_augment_erase_fill(a, ch);
        return;
    }
    int ys[9], xs[9], nb[CT_TA_MAX_C][9], v[CT_TA_MAX_C];
    double wt[4] = {0.0, 0.0, 0.0, 0.0}; /* (set for a bilinear warp) */
    const int n = ct_ta_places(a, d, y, x, ys, xs, wt);
    for (int ch = 0; ch < a->c; ch++)
        for (int k = 0; k < n; k++)
            nb[ch][k] = ys[k] < 0 ? 0 : ct_ta_byte(a, d, img, ch, ys[k], xs[k]);
    ct_ta_apply(a, d, st, (const int (*)[9])nb, n, wt, v);
    for (int ch = 0; ch < a->c; ch++) out[ch] = scale * (float)v[ch];
}

#endif
