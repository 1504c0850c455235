/*
 * autoaugment.h — torchvision's automatic augmentations in the augmentation of training images
 * (augment.h): TrivialAugmentWide(num_magnitude_bins), RandAugment(num_ops, magnitude,
 * num_magnitude_bins), AutoAugment(policy) and AugMix(severity, mixture_width, chain_depth,
 * alpha), NEAREST or BILINEAR; one definition for the CPU backend (cpu.c) and the CUDA kernel
 * (cuda_gather.cu).
 *
 * They come after the warp or resized crop and the flips, before the erasing, as in
 * torchvision's recipe Compose([RandomResizedCrop, RandomHorizontalFlip, TrivialAugmentWide,
 * PILToTensor, ..., RandomErasing]), and like torchvision's they work on bytes: the pixels they
 * take are the rest's values rounded (half to even, as torch.round before a cast back to
 * uint8), and each op gives bytes, as torchvision's functional op on a uint8 tensor (float32
 * arithmetic, products and sums rounded one by one, truncated back to a byte); an image's ops
 * apply one after another, each to the bytes the one before gave.
 * - The ops an image gets, from Philox blocks (key seed, counter (stream | CT_AUGMENT_TA_BIT |
 *   k << 40, first + i)):
 *   TrivialAugmentWide (CT_AA_TRIVIAL): one op, uniform among the 14 below (all but Invert),
 *   word 0 % 14 of block 0; for an op with magnitudes, the bin word 1 % bins of its table,
 *   negated when the op is signed and word 2 is odd;
 *   RandAugment (CT_AA_RAND): aa_ops ops, op k from block k as TrivialAugmentWide's op, at the
 *   bin aa_mag of RandAugment's tables (below), negated when signed and word 2 is odd;
 *   AutoAugment (CT_AA_AUTO): the pair word 0 % 25 of block 0 of the policy's table, its op j
 *   (0, 1) applied when u24(word 1 + j) <= its chance (torch.rand(2) <= p), at its magnitude's
 *   bin of 10, negated when signed and bit j of word 3 is set;
 *   AugMix (CT_AA_AUGMIX): aa_width chains, each of aa_depth ops (-1: word c % 3 + 1 of block
 *   0), op j of chain c from block 1 + 4 c + j: AugMix's op word 0 % 13, its bin word 1 %
 *   aa_severity of 10, negated when signed and word 2 is odd; its weights (ct_augmix_draw)
 *   from uniforms of blocks 32 and on by Marsaglia and Tsang's gamma method.
 * - The magnitudes are torch.linspace's float32 values as PyTorch 1.13's AVX2 kernel computes
 *   them (ct_ta_linspace). TrivialAugmentWide's: shears 0..0.99, shifts 0..32 pixels, rotation
 *   0..135 degrees, the factors 0..0.99, posterize 8 - round(k / ((bins - 1) / 6)) bits,
 *   solarize 255..0. RandAugment's and AutoAugment's (their _augmentation_space): shears
 *   0..0.3, shifts 0..150 / 331 of the width (x) or height (y), rotation 0..30, the factors
 *   0..0.9, posterize 8 - round(k / ((bins - 1) / 4)), solarize 255..0. AugMix's: theirs but
 *   for shifts 0..a third of the width or height and posterize 4 - round(k / ((bins - 1) /
 *   4)) bits.
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
 *   _scale_channel's table of its histogram), Invert (255 - v; AutoAugment's only), Identity.
 * Images of 1 or 3 channels (torchvision's ops refuse others). The whole-image figures (the
 * mean, the min and max, the histograms) come from one histogram of bytes a channel (and of
 * the grey), integers, the same whichever order the pixels are counted in.
 *
 * Each chain of ops starts from the image's bytes before them (AugMix's several chains; the
 * others' one) and goes from byte image to byte image (ct_aa_in, ct_aa_out); AugMix then sums
 * the image and its chains' results in float32 by its weights, in torchvision's order, and
 * truncates the sum to bytes (ct_augmix_start, _add, _byte). The backends hold three byte
 * images an image, and AugMix's float sums (cpu.c: aa_row; cuda_gather.cu: a workspace a
 * block).
 */
#ifndef CT_AUTOAUGMENT_H
#define CT_AUTOAUGMENT_H

#include "backend/augment.h"
#include "ctrain.h" /* (CT_MAX_TA_BINS) */

#include <float.h>

/* counter_hi of the ops' blocks: the stream with this bit set (| k << 40: block k) */
#define CT_AUGMENT_TA_BIT (1ull << 52)
#define CT_TA_MAX_C 3   /* channels: 1 or 3 */

/* ct_augment.aa */
enum { CT_AA_NONE = 0, CT_AA_TRIVIAL, CT_AA_RAND, CT_AA_AUTO, CT_AA_AUGMIX };

/* The ops, in torchvision's _augmentation_space order (TrivialAugmentWide's and RandAugment's),
 * and AutoAugment's Invert */
enum {
    CT_TA_IDENTITY, CT_TA_SHEAR_X, CT_TA_SHEAR_Y, CT_TA_TRANSLATE_X, CT_TA_TRANSLATE_Y,
    CT_TA_ROTATE, CT_TA_BRIGHTNESS, CT_TA_COLOR, CT_TA_CONTRAST, CT_TA_SHARPNESS,
    CT_TA_POSTERIZE, CT_TA_SOLARIZE, CT_TA_AUTOCONTRAST, CT_TA_EQUALIZE, CT_TA_INVERT
};
#define CT_TA_OPS 14 /* TrivialAugmentWide's and RandAugment's: all but Invert */
#define CT_AA_BINS 10 /* AutoAugment's magnitude bins */
#define CT_AA_PAIRS 25 /* AutoAugment's pairs of ops a policy */
#define CT_AUGMIX_OPS 13 /* AugMix's (all_ops) */
#define CT_AUGMIX_BINS 10 /* AugMix's magnitude bins (its _PARAMETER_MAX) */
#define CT_AUGMIX_UNIFORM_BLOCKS 224 /* AugMix's weights' uniforms: blocks 32.. of its stream */
/* the draws' limits: the ops fit the draw; AugMix's depths are words of one block, its op
 * blocks 1 + 4 c + j below its uniforms' 32.., all below 256 (k << 40 within bits 40..47) */
typedef char ct_aa_max_ops_fit[CT_MAX_RA_OPS <= CT_AA_MAX_OPS &&
                               CT_MAX_AUGMIX_WIDTH * CT_MAX_AUGMIX_DEPTH <= CT_AA_MAX_OPS &&
                               CT_MAX_AUGMIX_WIDTH <= CT_AA_MAX_CHAINS &&
                               CT_MAX_AUGMIX_WIDTH <= 4 && CT_MAX_AUGMIX_DEPTH <= 4 &&
                               32 + CT_AUGMIX_UNIFORM_BLOCKS <= 256 ? 1 : -1];

/* How many of cfg's automatic augmentations are on (ct_train_config_check takes at most one) */
static inline int ct_aa_configured(const ct_train_config *cfg) {
    return (cfg->augment_ta_bins != 0) + (cfg->augment_ra_ops != 0) +
           (cfg->augment_aa_policy != CT_AUTOAUGMENT_NONE) + (cfg->augment_augmix_severity != 0);
}

/* cfg's automatic augmentation into a's aa fields; its name (torchvision's class), or NULL when
 * there is none */
static inline const char *ct_aa_of_config(const ct_train_config *cfg, ct_augment *a) {
    a->aa = CT_AA_NONE, a->aa_bins = a->aa_ops = a->aa_mag = a->aa_policy = 0;
    a->aa_severity = a->aa_width = a->aa_depth = 0, a->aa_alpha = 0.0f;
    if (cfg->augment_ta_bins != 0) {
        a->aa = CT_AA_TRIVIAL, a->aa_bins = cfg->augment_ta_bins;
        return "TrivialAugmentWide";
    }
    if (cfg->augment_ra_ops != 0) {
        a->aa = CT_AA_RAND, a->aa_bins = cfg->augment_ra_bins;
        a->aa_ops = cfg->augment_ra_ops, a->aa_mag = cfg->augment_ra_magnitude;
        return "RandAugment";
    }
    if (cfg->augment_aa_policy != CT_AUTOAUGMENT_NONE) {
        a->aa = CT_AA_AUTO, a->aa_policy = cfg->augment_aa_policy;
        return "AutoAugment";
    }
    if (cfg->augment_augmix_severity != 0) {
        a->aa = CT_AA_AUGMIX, a->aa_severity = cfg->augment_augmix_severity;
        a->aa_width = cfg->augment_augmix_width, a->aa_depth = cfg->augment_augmix_depth;
        a->aa_alpha = cfg->augment_augmix_alpha;
        return "AugMix";
    }
    return NULL;
}

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


/* Does op draw a magnitude, and is it signed? */
static inline CT_HD int ct_ta_has_magnitude(int op) {
    return op != CT_TA_IDENTITY && op != CT_TA_AUTOCONTRAST && op != CT_TA_EQUALIZE &&
           op != CT_TA_INVERT;
}
static inline CT_HD int ct_ta_signed(int op) {
    return op >= CT_TA_SHEAR_X && op <= CT_TA_SHARPNESS;
}

/* Bin k of op's magnitudes (of bins) under a's augmentation, as float(magnitudes[k]):
 * TrivialAugmentWide's table, or RandAugment's and AutoAugment's (bins: a->aa_bins, or
 * CT_AA_BINS for AutoAugment), or AugMix's (CT_AUGMIX_BINS: RandAugment's but for shifts up
 * to a third of the width or height and posterize 4 - round(k / ((bins - 1) / 4)) bits) */
static inline CT_HD double ct_ta_magnitude(const ct_augment *a, int op, int bins, int k) {
    if (!ct_ta_has_magnitude(op)) return 0.0;
    const int wide = a->aa == CT_AA_TRIVIAL;
    if (a->aa == CT_AA_AUGMIX) { /* AugMix's _augmentation_space */
        if (op == CT_TA_POSTERIZE) /* 4 - (arange(bins) / ((bins - 1) / 4)).round().int() */
            return (double)(4 - (int)rintf(CT_FDIV((float)k, (float)((double)(bins - 1) / 4.0))));
        if (op == CT_TA_TRANSLATE_X)
            return (double)ct_ta_linspace(0.0f, (float)((double)a->w / 3.0), bins, k);
        if (op == CT_TA_TRANSLATE_Y)
            return (double)ct_ta_linspace(0.0f, (float)((double)a->h / 3.0), bins, k);
    }
    if (op == CT_TA_POSTERIZE) /* 8 - (arange(bins) / ((bins - 1) / D)).round().int() */
        return (double)(8 - (int)rintf(CT_FDIV((float)k, (float)((double)(bins - 1) /
                                                                  (wide ? 6.0 : 4.0)))));
    if (op == CT_TA_SOLARIZE) return (double)ct_ta_linspace(255.0f, 0.0f, bins, k);
    float end = wide ? 0.99f : 0.9f;
    if (op == CT_TA_SHEAR_X || op == CT_TA_SHEAR_Y) end = wide ? 0.99f : 0.3f;
    else if (op == CT_TA_ROTATE) end = wide ? 135.0f : 30.0f;
    else if (op == CT_TA_TRANSLATE_X) end = wide ? 32.0f : (float)(150.0 / 331.0 * (double)a->w);
    else if (op == CT_TA_TRANSLATE_Y) end = wide ? 32.0f : (float)(150.0 / 331.0 * (double)a->h);
    return (double)ct_ta_linspace(0.0f, end, bins, k);
}

/* Pair `pair` of AutoAugment's policy (CT_AUTOAUGMENT_*), op j: its op, chance and bin
 * (torchvision's _get_policies; bin 0 for the ops without magnitudes) */
static inline CT_HD void ct_aa_policy_op(int policy, int pair, int j, int *op, float *p,
                                         int *bin) {
    /* {op, chance x 10, bin} for each op of each pair */
    static const unsigned char t[3][2 * CT_AA_PAIRS * 3] = {
        {/* imagenet */
        10,4,8, 5,6,9, 11,6,5, 12,6,0, 13,8,0, 13,6,0,
        10,6,7, 10,6,6, 13,4,0, 11,2,4, 13,4,0, 5,8,8,
        11,6,3, 13,6,0, 10,8,5, 13,10,0, 5,2,3, 11,6,8,
        13,6,0, 10,4,6, 5,8,8, 7,4,0, 5,4,9, 13,6,0,
        13,0,0, 13,8,0, 14,6,0, 13,10,0, 7,6,4, 8,10,8,
        5,8,8, 7,10,2, 7,8,8, 11,8,7, 9,4,7, 14,6,0,
        1,6,5, 13,10,0, 7,4,0, 13,6,0, 13,4,0, 11,2,4,
        11,6,5, 12,6,0, 14,6,0, 13,10,0, 7,6,4, 8,10,8,
        13,8,0, 13,6,0},
        {/* cifar10 */
        14,1,0, 8,2,6, 5,7,2, 3,3,9, 9,8,1, 9,9,3,
        2,5,8, 4,7,9, 12,5,0, 13,9,0, 2,2,7, 10,3,7,
        7,4,3, 6,6,7, 9,3,9, 6,7,9, 13,6,0, 13,5,0,
        8,6,7, 9,6,5, 7,7,7, 3,5,8, 13,3,0, 12,4,0,
        4,4,3, 9,2,6, 6,9,6, 7,2,8, 11,5,2, 14,0,0,
        13,2,0, 12,6,0, 13,2,0, 13,6,0, 7,9,9, 13,6,0,
        12,8,0, 11,2,8, 6,1,3, 7,7,0, 11,4,5, 12,9,0,
        4,9,9, 4,7,9, 12,9,0, 11,8,3, 13,8,0, 14,1,0,
        4,7,9, 12,9,0},
        {/* svhn */
        1,9,4, 14,2,0, 2,9,8, 14,7,0, 13,6,0, 11,6,6,
        14,9,0, 13,6,0, 13,6,0, 5,9,3, 1,9,4, 12,8,0,
        2,9,8, 14,4,0, 2,9,5, 11,2,6, 14,9,0, 12,8,0,
        13,6,0, 5,9,3, 1,9,4, 11,3,3, 2,8,8, 14,7,0,
        13,9,0, 4,6,6, 14,9,0, 13,6,0, 8,3,3, 5,8,4,
        14,8,0, 4,0,2, 2,7,6, 11,4,8, 14,6,0, 5,8,4,
        2,3,7, 3,9,3, 1,1,6, 14,6,0, 11,7,2, 4,6,7,
        2,8,4, 14,8,0, 1,7,9, 4,8,3, 2,8,5, 12,7,0,
        1,7,2, 14,1,0},
    };
    const unsigned char *e = t[policy - 1] + (pair * 2 + j) * 3;
    *op = e[0], *p = (float)((double)e[1] / 10.0), *bin = e[2];
}

/* An op o at magnitude m: for the warps, their inverse map (torchvision's
 * _get_inverse_affine_matrix, centred coordinates) */
static inline CT_HD void ct_aa_op_set(const ct_augment *a, int op, double m, ct_aa_op *o) {
    o->op = op, o->mag = m;
    for (int k = 0; k < 6; k++) o->m[k] = 0.0;
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
    double *t = o->m;
    t[0] = md, t[1] = -mb, t[3] = -mc, t[4] = ma;
    t[2] = CT_DADD(CT_DADD(CT_DMUL(t[0], CT_DADD(-cx, -tx)), CT_DMUL(t[1], CT_DADD(-cy, -ty))), cx);
    t[5] = CT_DADD(CT_DADD(CT_DMUL(t[3], CT_DADD(-cx, -tx)), CT_DMUL(t[4], CT_DADD(-cy, -ty))), cy);
}

/* AugMix's op k (its _augmentation_space's order with all_ops: the warps, Posterize, Solarize,
 * AutoContrast, Equalize, Brightness, Color, Contrast, Sharpness) */
static inline CT_HD int ct_augmix_op(int k) { return k < 5 ? k + 1 : k < 9 ? k + 5 : k - 3; }

/* AugMix's uniforms in (0, 1) for its weights: word t % 4 of the block (key seed, counter
 * (stream | CT_AUGMENT_TA_BIT | (32 + t / 4) << 40, at)), (w + 0.5) / 2^32 (past
 * CT_AUGMIX_UNIFORM_BLOCKS blocks, 0.5: never in practice) */
typedef struct {
    uint64_t seed, hi, at;
    int t;
    uint32_t w[4];
} ct_augmix_rng;
static inline CT_HD double ct_augmix_uniform(ct_augmix_rng *r) {
    if (r->t >= 4 * CT_AUGMIX_UNIFORM_BLOCKS) return 0.5;
    if ((r->t & 3) == 0)
        ct_philox_block(r->seed, r->hi | ((uint64_t)(32 + r->t / 4) << 40), r->at, r->w);
    return ((double)r->w[r->t++ & 3] + 0.5) * 0x1p-32;
}

/* Gamma(alpha, 1), Marsaglia and Tsang's method (alpha < 1: Gamma(alpha + 1) u^(1 / alpha)),
 * its normals by Box-Muller, a rejection loop cut at 1000 tries (then d: never in practice) */
static inline CT_HD double ct_augmix_gamma(ct_augmix_rng *r, double alpha) {
    double boost = 1.0;
    if (alpha < 1.0) {
        boost = pow(ct_augmix_uniform(r), 1.0 / alpha);
        alpha += 1.0;
    }
    const double pi = 3.14159265358979323846;
    const double d = alpha - 1.0 / 3.0, c = 1.0 / sqrt(9.0 * d);
    for (int k = 0; k < 1000; k++) {
        const double u1 = ct_augmix_uniform(r), u2 = ct_augmix_uniform(r);
        const double x = sqrt(-2.0 * log(u1)) * cos(2.0 * pi * u2);
        /* (each product and sum rounded alone: nvcc would fuse them into multiply-adds) */
        double v = CT_DADD(1.0, CT_DMUL(c, x));
        if (v <= 0.0) continue;
        v = CT_DMUL(CT_DMUL(v, v), v);
        const double u = ct_augmix_uniform(r), x2 = x * x;
        if (u < CT_DADD(1.0, -CT_DMUL(0.0331 * x2, x2)) ||
            log(u) < CT_DADD(CT_DMUL(0.5 * x, x), CT_DMUL(d, CT_DADD(CT_DADD(1.0, -v), log(v)))))
            return d * v * boost;
    }
    return d * boost;
}

/* A share g / sum of a Dirichlet draw in float32 as PyTorch's CPU sampler gives it (its
 * _s_dirichlet_cpu: clamped to [FLT_MIN, the float below 1]; its gammas at least DBL_MIN) */
static inline CT_HD float ct_augmix_share(double g, double sum) {
    const float v = (float)(g / sum);
    return v < FLT_MIN ? FLT_MIN : v > 0x1.fffffep-1f ? 0x1.fffffep-1f : v;
}

/* AugMix's draws of the image at `at` (ct_aa_draw_at): the chains' depths (word c % 3 + 1 of
 * block 0, unless a->aa_depth > 0), op j of chain c from block 1 + 4 c + j (the op word 0 %
 * 13, the bin word 1 % severity, the sign word 2 & 1), and the weights: m = Dirichlet(alpha,
 * alpha), the image's m[0], chain c's Dirichlet(alpha, ...)[c] x m[1], in float32 as
 * torchvision's (each share as ct_augmix_share: one chain's is the float below 1) */
static inline CT_HD void ct_augmix_draw(const ct_augment *a, uint64_t at, ct_augment_draw *d) {
    uint32_t r[4];
    const uint64_t hi = a->stream | CT_AUGMENT_TA_BIT;
    ct_philox_block(a->seed, hi, at, r);
    d->aa_chains = a->aa_width;
    for (int c = 0; c < a->aa_width && c < CT_AA_MAX_CHAINS; c++) {
        d->aa_depth[c] = a->aa_depth > 0 ? a->aa_depth : (int)(r[c] % 3u) + 1;
        for (int j = 0; j < d->aa_depth[c] && d->aa_n < CT_AA_MAX_OPS; j++) {
            uint32_t q[4];
            ct_philox_block(a->seed, hi | ((uint64_t)(1 + 4 * c + j) << 40), at, q);
            const int op = ct_augmix_op((int)(q[0] % (uint32_t)CT_AUGMIX_OPS));
            double m = ct_ta_magnitude(a, op, CT_AUGMIX_BINS,
                                       (int)(q[1] % (uint32_t)a->aa_severity));
            if (ct_ta_signed(op) && (q[2] & 1u)) m = -m;
            ct_aa_op_set(a, op, m, &d->aa[d->aa_n++]);
        }
    }
    ct_augmix_rng g = {a->seed, hi, at, 0, {0, 0, 0, 0}};
    const double alpha = (double)a->aa_alpha;
    const double x = fmax(ct_augmix_gamma(&g, alpha), DBL_MIN);
    const double y = fmax(ct_augmix_gamma(&g, alpha), DBL_MIN);
    const float m0 = ct_augmix_share(x, x + y), m1 = ct_augmix_share(y, x + y);
    double w[CT_AA_MAX_CHAINS], sum = 0.0;
    for (int c = 0; c < d->aa_chains; c++) {
        w[c] = fmax(ct_augmix_gamma(&g, alpha), DBL_MIN);
        sum += w[c];
    }
    d->aa_w[0] = m0;
    for (int c = 0; c < d->aa_chains; c++)
        d->aa_w[1 + c] = CT_FMUL(ct_augmix_share(w[c], sum), m1);
}

/* The ops of the image at `at` under a (called by ct_augment_draw_at), into d->aa[0 ..
 * d->aa_n) (AugMix's: its chains one after another) */
static inline CT_HD void ct_aa_draw_at(const ct_augment *a, uint64_t at, ct_augment_draw *d) {
    uint32_t r[4];
    d->aa_n = 0;
    if (a->aa == CT_AA_AUGMIX) {
        ct_augmix_draw(a, at, d);
        return;
    }
    if (a->aa == CT_AA_AUTO) {
        ct_philox_block(a->seed, a->stream | CT_AUGMENT_TA_BIT, at, r);
        const int pair = (int)(r[0] % (uint32_t)CT_AA_PAIRS);
        for (int j = 0; j < 2; j++) {
            int op, bin;
            float p;
            ct_aa_policy_op(a->aa_policy, pair, j, &op, &p, &bin);
            if (!(ct_augment_u24(r[1 + j]) <= (double)p)) continue;
            double m = ct_ta_magnitude(a, op, CT_AA_BINS, bin);
            if (ct_ta_signed(op) && (r[3] >> j & 1u)) m = -m;
            ct_aa_op_set(a, op, m, &d->aa[d->aa_n++]);
        }
        d->aa_chains = 1, d->aa_depth[0] = d->aa_n;
        return;
    }
    const int ops = a->aa == CT_AA_RAND ? a->aa_ops : 1;
    for (int k = 0; k < ops && k < CT_AA_MAX_OPS; k++) {
        ct_philox_block(a->seed, a->stream | CT_AUGMENT_TA_BIT | ((uint64_t)k << 40), at, r);
        const int op = (int)(r[0] % (uint32_t)CT_TA_OPS);
        const int bin = a->aa == CT_AA_RAND ? a->aa_mag : (int)(r[1] % (uint32_t)a->aa_bins);
        double m = ct_ta_magnitude(a, op, a->aa_bins, bin);
        if (ct_ta_signed(op) && (r[2] & 1u)) m = -m;
        ct_aa_op_set(a, op, m, &d->aa[d->aa_n++]);
    }
    d->aa_chains = 1, d->aa_depth[0] = d->aa_n;
}

/* Does op need the image's histograms (ct_ta_stats)? */
static inline CT_HD int ct_ta_needs_hist(int op) {
    return op == CT_TA_CONTRAST || op == CT_TA_AUTOCONTRAST || op == CT_TA_EQUALIZE;
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

/* The figures op needs from the histograms (hist[c or CT_TA_MAX_C] the grey's when c == 3) */
static inline CT_HD void ct_ta_stats_of(const ct_augment *a, int op, const unsigned (*hist)[256],
                                        ct_ta_stats *st) {
    const int c = a->c;
    if (op == CT_TA_CONTRAST) {
        const unsigned *h = hist[c == 3 ? CT_TA_MAX_C : 0];
        long long sum = 0, n = 0;
        for (int v = 0; v < 256; v++) sum += (long long)v * h[v], n += h[v];
        st->mean = CT_FDIV((float)sum, (float)n);
    } else if (op == CT_TA_AUTOCONTRAST) {
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
    } else if (op == CT_TA_EQUALIZE) {
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

/* The pixels output (y, x) of op o needs, into ys, xs: the warp's source, nearest, or its 4
 * taps with their weights wt when a->bilinear (grid_sample's, zeros outside: -1, value 0),
 * the sharpness' 3x3 (row by row) inside the image's border, else (y, x) itself; returns how
 * many (9 for the sharpness, 4 for a bilinear warp, else 1) */
static inline CT_HD int ct_ta_places(const ct_augment *a, const ct_aa_op *o, int y, int x,
                                     int *ys, int *xs, double *wt) {
    const int op = o->op, h = a->h, w = a->w;
    if (ct_ta_warps(op)) {
        const double *t = o->m;
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

/* Op o's bytes out[ch] of a pixel from its input's bytes nb[ch][k] at ct_ta_places' places
 * (n of them, weights wt for a bilinear warp's) */
static inline CT_HD void ct_ta_apply(const ct_augment *a, const ct_aa_op *o,
                                     const ct_ta_stats *st, const int (*nb)[9], int n,
                                     const double *wt, int *out) {
    const int c = a->c, op = o->op;
    const double f = 1.0 + o->mag;
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
        case CT_TA_POSTERIZE: out[ch] = v & (256 - (1 << (8 - (int)o->mag))); break;
        case CT_TA_SOLARIZE: out[ch] = (float)v >= (float)o->mag ? 255 - v : v; break;
        case CT_TA_AUTOCONTRAST: {
            float s = CT_FMUL(CT_FADD((float)v, -st->lo[ch]), st->scale[ch]);
            out[ch] = (int)(s < 0.0f ? 0.0f : s > 255.0f ? 255.0f : s);
            break;
        }
        case CT_TA_EQUALIZE: out[ch] = st->equalized[ch] ? st->lut[ch][v] : v; break;
        case CT_TA_INVERT: out[ch] = 255 - v; break;
        default: out[ch] = v; /* Identity; the warps' sample */
        }
    }
}

/* The byte before the ops of pixel (ch, y, x) (augment.h's value, without the erasing, which
 * comes after) */
static inline CT_HD int ct_ta_byte(const ct_augment *a, const ct_augment_draw *d,
                                   const uint8_t *img, int ch, int y, int x) {
    return ct_ta_round((float)ct_augment_pixel_raw(a, d, img, ch, y, x));
}

/* Pixel j of an image's bytes img (c planes of hw) counted into hist (ct_ta_stats_of's) */
static inline CT_HD void ct_ta_count(const uint8_t *img, int c, int64_t hw, int64_t j,
                                     unsigned (*hist)[256]) {
    int px[CT_TA_MAX_C];
    for (int ch = 0; ch < c; ch++) px[ch] = img[ch * hw + j];
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

/* The byte images of a chain, 0 holding the bytes before the ops: the one op j of a chain
 * reads, the one it writes, and the one a chain of depth ops ends in. AugMix keeps image 0
 * (keep: each of its chains starts there), its ops going 0 -> 1 -> 2 -> 1 ...; the others'
 * one chain goes 0 -> 1 -> 0 ... (ct_aa_images: how many an image needs) */
static inline CT_HD int ct_aa_images(const ct_augment *a) { return a->aa == CT_AA_AUGMIX ? 3 : 2; }
static inline CT_HD int ct_aa_in(int keep, int j) {
    return keep ? (j == 0 ? 0 : 1 + ((j - 1) & 1)) : (j & 1);
}
static inline CT_HD int ct_aa_out(int keep, int j) { return keep ? 1 + (j & 1) : (~j & 1); }
static inline CT_HD int ct_aa_last(int keep, int depth) {
    return depth == 0 ? 0 : ct_aa_out(keep, depth - 1);
}

/* AugMix's mix of a value: the image's weight times its byte v0 plus chain c's weight times
 * its last byte vc, summed in that order in float32 (torchvision's mix.add_), its accumulator
 * acc; then the byte, truncated (.to(uint8)) */
static inline CT_HD float ct_augmix_start(const ct_augment_draw *d, int v0) {
    return CT_FMUL(d->aa_w[0], (float)v0);
}
static inline CT_HD float ct_augmix_add(const ct_augment_draw *d, int c, float acc, int vc) {
    return CT_FADD(acc, CT_FMUL(d->aa_w[1 + c], (float)vc));
}
static inline CT_HD int ct_augmix_byte(float acc) {
    return acc >= 255.0f ? 255 : acc <= 0.0f ? 0 : (int)acc;
}

/* Pixel (y, x) of op o (st: its figures) on an image's bytes in, all its channels into out
 * (c planes of h x w bytes, as in) */
static inline CT_HD void ct_aa_op_pixel(const ct_augment *a, const ct_aa_op *o,
                                        const ct_ta_stats *st, const uint8_t *in, int y, int x,
                                        uint8_t *out) {
    const int64_t hw = (int64_t)a->h * a->w, j = (int64_t)y * a->w + x;
    int ys[9], xs[9], nb[CT_TA_MAX_C][9], v[CT_TA_MAX_C];
    double wt[4] = {0.0, 0.0, 0.0, 0.0}; /* (set for a bilinear warp) */
    const int n = ct_ta_places(a, o, y, x, ys, xs, wt);
    for (int ch = 0; ch < a->c; ch++)
        for (int k = 0; k < n; k++)
            nb[ch][k] = ys[k] < 0 ? 0 : in[ch * hw + (int64_t)ys[k] * a->w + xs[k]];
    ct_ta_apply(a, o, st, (const int (*)[9])nb, n, wt, v);
    for (int ch = 0; ch < a->c; ch++) out[ch * hw + j] = (uint8_t)v[ch];
}

#endif
