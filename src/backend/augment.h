/*
 * augment.h — the augmentation of training images while they are gathered (gather_u8), one
 * definition for the CPU backend (cpu.c) and the CUDA kernel (cuda_gather.cu), so that every
 * backend draws and warps the same way.
 *
 * As torchvision's transforms.Compose([RandomAffine(degrees, translate, scale, shear,
 * interpolation, fill=0), RandomCrop(size=(h, w), padding=pad), RandomHorizontalFlip()]) on
 * each image (c, h, w) of a batch, or, with a resized crop (area_max > 0, which neither warps nor
 * pads), as Compose([RandomResizedCrop((h, w), scale=(area_min, area_max), ratio=(ratio_min,
 * ratio_max)), RandomHorizontalFlip()]) (below); then, with any of jitter[] > 0,
 * ColorJitter(brightness, contrast, saturation, hue) (below); then, with grey_p > 0,
 * RandomGrayscale(grey_p) (below); then, with aa set, TrivialAugmentWide, RandAugment or
 * AutoAugment (autoaugment.h, on bytes); then, with erase_p > 0,
 * RandomErasing(p=erase_p, scale=(0.02, 0.33), ratio=(0.3, 3.3)) (below):
 * - the affine part (when any of degrees, translate, scale, shear is set) is RandomAffine's:
 *   angle uniform in [-degrees, degrees], a shift (tx, ty) uniform in +-translate * (w, h)
 *   rounded to whole pixels (half to even, as Python's round), a zoom uniform in
 *   [scale_min, scale_max] and an x shear uniform in [-shear, shear] degrees, about the image's
 *   centre; each output pixel samples the input at torchvision's inverse map
 *   (_get_inverse_affine_matrix with grid_sample's align_corners=False pixel centres), nearest
 *   (round half to even, as grid_sample) or bilinear; outside the image, RandomAffine's fill 0
 *   (a bilinear sample near the edge is multiplied by the share of its taps inside, as
 *   torchvision's mask of ones does). Bilinear values are not rounded back to bytes
 *   (torchvision's uint8 path rounds; its float path does not).
 * - the result is zero-padded by pad on every side and cropped back to (h, w) at (ty, tx) in
 *   [0, 2*pad]^2, then mirrored left-right when its flip bit is set (and flip is on), and
 *   upside down when its vflip bit is (and vflip is on: RandomVerticalFlip()).
 * The draws of image i are Philox blocks (key seed, counter (stream, first + i)) — words 0, 1,
 * 2: ty = w0 % (2*pad+1), tx = w1 % (2*pad+1), flip = w2 & 1, vflip = w2 >> 1 & 1 (the
 * modulo's bias, below 1e-7
 * for pad <= 255, is kept: it is part of the results) — and (key seed, counter
 * (stream | CT_AUGMENT_AFFINE_BIT, first + i)): words 0..3 the angle, the shift's x and y and
 * the zoom, each from its top 24 bits as u = (w >> 8) / 2^24; word 3 of the first block the
 * shear. So an image's transform depends only on (seed, stream, its position): the same on
 * every backend, thread count and resume. The warp is computed in double with every product
 * and sum rounded on its own (no fused multiply-add), so the CPU and the CUDA kernel sample
 * the same points (sin, cos and tan, and the resized crop's and erasing's log and exp, may
 * differ in the last bit between their libraries: a box side would change only when its
 * square root fell within that of a half).
 *
 * The resized crop is RandomResizedCrop's: up to CT_RESIZED_TRIES tries, try k from the Philox
 * block (key seed, counter (stream | CT_AUGMENT_RESIZED_BIT | k << 40, first + i)): a box of
 * area h * w * U(area_min, area_max) and aspect ratio exp(U(log ratio_min, log ratio_max)),
 * its sides rounded half to even; the first that fits in the image is taken, at a uniform
 * place (words 2 and 3 modulo the free rows and columns); when none fits, the whole image, cut
 * to the nearest ratio in range, centred (a side that rounds to 0 there, which torchvision
 * would crop to nothing, is 1). The box is then resized to (h, w) bilinearly as
 * PyTorch's interpolate(antialias=True) and PIL's resize do (the box is never larger than the
 * image, so each output pixel has at most 2 taps a side; weights normalised to sum 1), in
 * double, not rounded back to bytes.
 *
 * ColorJitter, on the pixels as gathered (scaled: 0..bound, bound = 255 * scale, the scaled
 * float of the rest's value), as torchvision's functional tensor ops on a float image: the
 * four adjustments in a random order, those with jitter[k] = 0 skipped; from the Philox block
 * (key seed, counter (stream | CT_AUGMENT_JITTER_BIT, first + i)): the order the permutation
 * number word 0 % 24 (Lehmer code, as the list of 0 1 2 3 with digits w % 4, then % 3, % 2),
 * brightness factor U(max(0, 1 - b), 1 + b) from word 1, contrast's from word 2, saturation's
 * from word 3, and from the block (stream | CT_AUGMENT_JITTER_BIT | 1 << 40) the hue's U(-h, h)
 * from word 0. Brightness: v = clamp(f v); contrast: clamp(f v + (1 - f) m), m the mean of the
 * image's grey (one channel: its value) after the adjustments before it, summed in
 * CT_JITTER_CHUNKS fixed chunks of pixels (each in order, then the chunks in order: the same
 * sum on every backend); saturation (3 channels): clamp(f v + (1 - f) grey); hue (3 channels):
 * torchvision's _rgb2hsv, h + f modulo 1, _hsv2rgb; grey = 0.2989 r + 0.587 g + 0.114 b;
 * clamp to [0, bound]. Erased pixels are not jittered (erasing comes after).
 *
 * RandomGrayscale: with chance grey_p (u24 of word 0 of the block (key seed, counter (stream |
 * CT_AUGMENT_GREY_BIT, first + i)) < grey_p), a 3-channel image's pixels, as jittered, each
 * take their grey (ct_augment_grey, in double) in every channel; other images stay as they are.
 *
 * RandomErasing: with chance erase_p (u24 of word 0 of the block (key seed, counter (stream |
 * CT_AUGMENT_ERASE_BIT | CT_ERASE_TRIES << 40, first + i)) < erase_p), up to CT_ERASE_TRIES
 * tries, try k from the block (stream | CT_AUGMENT_ERASE_BIT | k << 40, first + i): a box of
 * area h * w * U(0.02, 0.33) and height / width exp(U(log 0.3, log 3.3)), its sides rounded
 * half to even; the first strictly smaller than the image on both sides is taken at a uniform
 * place (words 2, 3) (a side may round to 0: nothing erased, as torchvision's F.erase); when
 * none is, nothing is erased. The box's pixels (of the output, after
 * the flip) take erase_fill (torchvision's value, in the pixels' 0..255 here).
 */
#ifndef CT_AUGMENT_H
#define CT_AUGMENT_H

#include "core/philox.h" /* (CT_HD too) */

#include <math.h>
#include <stdint.h>
/* Products and sums rounded one by one: never fused into a multiply-add, which nvcc does by
 * default and a C compiler may do for a CPU that has one (-march=native, aarch64). */
#ifdef __CUDA_ARCH__
#define CT_DMUL(a, b) __dmul_rn((a), (b))
#define CT_DADD(a, b) __dadd_rn((a), (b))
#else
static inline double ct_dmul_rn(double a, double b) {
    double r = a * b;
#if defined(__x86_64__)
    __asm__("" : "+x"(r)); /* the product, rounded, in a register: nothing left to fuse */
#elif defined(__aarch64__)
    __asm__("" : "+w"(r));
#else
    volatile double v = r;
    r = v;
#endif
    return r;
}
#define CT_DMUL(a, b) ct_dmul_rn((a), (b))
#define CT_DADD(a, b) ((a) + (b))
#endif

/* ct_fit's stream of epoch e: CT_STREAM_AUGMENT (core.h) << CT_AUGMENT_PURPOSE_SHIFT | e */
#define CT_AUGMENT_PURPOSE_SHIFT 56
/* counter_hi of the affine draws: the stream with this bit set (streams keep it clear) */
#define CT_AUGMENT_AFFINE_BIT (1ull << 48)
/* counter_hi of the resized crop's try k: the stream | this bit | k << 40 */
#define CT_AUGMENT_RESIZED_BIT (1ull << 49)
#define CT_RESIZED_TRIES 10 /* RandomResizedCrop.get_params' */
/* counter_hi of RandomErasing's try k (its coin: k = CT_ERASE_TRIES) */
#define CT_AUGMENT_ERASE_BIT (1ull << 50)
#define CT_ERASE_TRIES 10 /* RandomErasing.get_params' */
#define CT_ERASE_AREA_MIN 0.02 /* RandomErasing's scale=(0.02, 0.33), ratio=(0.3, 3.3) */
#define CT_ERASE_AREA_MAX 0.33
#define CT_ERASE_RATIO_MIN 0.3
#define CT_ERASE_RATIO_MAX 3.3
/* counter_hi of ColorJitter's blocks */
#define CT_AUGMENT_JITTER_BIT (1ull << 51)
#define CT_JITTER_CHUNKS 256 /* the contrast mean's partial sums */
/* counter_hi of RandomGrayscale's coin (word 0: u24 < grey_p greys the image) */
#define CT_AUGMENT_GREY_BIT (1ull << 53)
#define CT_JITTER_MAX_C 4    /* channels ColorJitter takes */

typedef struct {
    int c, h, w;
    int pad;                      /* 0: no crop */
    int flip;                     /* 0 or 1 */
    int vflip;                    /* 0 or 1: RandomVerticalFlip, after the flip */
    float degrees;                /* 0: no rotation */
    float translate;              /* fraction of w and h; 0: no shift */
    float scale_min, scale_max;   /* both 0: no zoom */
    float shear;                  /* degrees; 0: no shear */
    int bilinear;                 /* 1: bilinear, 0: nearest */
    float area_min, area_max;     /* the resized crop's share of the area (both 0: none) */
    float ratio_min, ratio_max;   /* and its aspect ratio's range (width / height) */
    float jitter[4];              /* ColorJitter's brightness, contrast, saturation, hue */
    float erase_p;                /* RandomErasing's chance (0: none) */
    float erase_fill[4];          /* the erased pixels' value (0..255) by channel (< 4; more:
                                   * the first's) */
    int aa;                       /* torchvision's automatic augmentation (autoaugment.h):
                                   * CT_AA_NONE, CT_AA_TRIVIAL, CT_AA_RAND, CT_AA_AUTO or
                                   * CT_AA_AUGMIX */
    int aa_bins;                  /* TrivialAugmentWide's and RandAugment's magnitude bins */
    int aa_ops, aa_mag;           /* RandAugment's num_ops and magnitude (a bin) */
    int aa_policy;                /* AutoAugment's (ctrain.h's CT_AUTOAUGMENT_IMAGENET, ...) */
    int aa_severity, aa_width;    /* AugMix's severity, mixture_width, */
    int aa_depth;                 /* chain_depth (-1: 1 to 3 at random) */
    float aa_alpha;               /* and alpha */
    float grey_p;                 /* RandomGrayscale's chance (0: none) */
    uint64_t seed, stream, first;
    /* MixUp / CutMix (train/mix.c): 1 mixes each output row with the batch's row before it
     * (torch's roll(1, 0): its first row with its last), each augmented at its own place, by
     * the step's sv->mix_* (gather_u8 needs sv then); 0: none */
    int mix;
    int64_t mix_rows;             /* the batch's rows */
    int64_t mix_row0;             /* the first output row's place in the batch */
    int mix_shift;                /* the partner that many rows before (0: 1); repeated
                                   * augmentation's R, the image before's copy, not its own */
} ct_augment;

/* Output row i's partner under mix: its offset from the first output row (may be negative) */
static inline CT_HD int64_t ct_mix_partner(const ct_augment *a, int64_t i) {
    const int64_t shift = a->mix_shift > 1 ? a->mix_shift % a->mix_rows : 1;
    int64_t p = a->mix_row0 + i - shift;
    return (p < 0 ? p + a->mix_rows : p) - a->mix_row0;
}

/* An op of the automatic augmentation (autoaugment.h): which (CT_TA_*), its magnitude, and
 * for a warp its inverse map */
/* ops an image (at least ctrain.h's CT_MAX_RA_OPS and CT_MAX_AUGMIX_WIDTH x
 * CT_MAX_AUGMIX_DEPTH), and chains (AugMix's: CT_MAX_AUGMIX_WIDTH) */
#define CT_AA_MAX_OPS 16
#define CT_AA_MAX_CHAINS 4
typedef struct {
    int op;
    double mag, m[6];
} ct_aa_op;

/* What image i of a batch gets: the crop's (ty, tx), the flip, and when affine, the inverse
 * map m from centred output coordinates to centred input ones, plus the drawn parameters
 * (tests compare them with torchvision's functional.affine). */
typedef struct {
    int ty, tx, flip, vflip;
    int resized;                  /* 1: the box (box_y, box_x, box_h, box_w) resized */
    int box_y, box_x, box_h, box_w;
    int erased;                   /* 1: the box (erase_y, erase_x, erase_h, erase_w) erased */
    int erase_y, erase_x, erase_h, erase_w;
    int jitter;                   /* 1: ColorJitter's adjustments jorder[] by factors jf[] */
    int jorder[4];                /* 0 brightness, 1 contrast, 2 saturation, 3 hue */
    double jf[4];
    double jmean;                 /* contrast's mean (the callers compute it) */
    int grey;                     /* 1: RandomGrayscale's coin came up */
    int aa_n;                     /* the automatic augmentation's ops (autoaugment.h), in */
    ct_aa_op aa[CT_AA_MAX_OPS];   /* the order they apply: */
    int aa_chains;                /* chains of them (AugMix's; else 1), each from the image */
    int aa_depth[CT_AA_MAX_CHAINS]; /* before the ops, of aa_depth[c] ops; AugMix's weights: */
    float aa_w[CT_AA_MAX_CHAINS + 1]; /* [0] the image's, [1 + c] chain c's */
    int affine;
    double m[6];
    double angle, scale, shear;
    int shift_x, shift_y;
} ct_augment_draw;

static inline CT_HD int ct_augment_is_affine(const ct_augment *a) {
    return a->degrees != 0.0f || a->translate != 0.0f || a->scale_max != 0.0f ||
           a->shear != 0.0f;
}

static inline CT_HD double ct_augment_u24(uint32_t w) { return (double)(w >> 8) * 0x1p-24; }

static inline CT_HD uint64_t ct_augment_resized_counter(const ct_augment *a, int k) {
    return a->stream | CT_AUGMENT_RESIZED_BIT | ((uint64_t)k << 40);
}

/* The resized crop's try from its Philox block r: 1 with d's box set when the box fits */
static inline CT_HD int ct_augment_resized_try(const ct_augment *a, const uint32_t r[4],
                                               ct_augment_draw *d) {
    double area = CT_DMUL((double)a->h, (double)a->w);
    double target = CT_DMUL(area, CT_DADD((double)a->area_min,
                                          CT_DMUL((double)a->area_max - (double)a->area_min,
                                                  ct_augment_u24(r[0]))));
    double lo = log((double)a->ratio_min), hi = log((double)a->ratio_max);
    double ratio = exp(CT_DADD(lo, CT_DMUL(CT_DADD(hi, -lo), ct_augment_u24(r[1]))));
    double bw = rint(sqrt(CT_DMUL(target, ratio))), bh = rint(sqrt(target / ratio));
    if (!(bw > 0.0 && bw <= (double)a->w && bh > 0.0 && bh <= (double)a->h)) return 0;
    d->resized = 1;
    d->box_w = (int)bw, d->box_h = (int)bh;
    d->box_y = (int)(r[2] % (uint32_t)(a->h - d->box_h + 1));
    d->box_x = (int)(r[3] % (uint32_t)(a->w - d->box_w + 1));
    return 1;
}

/* ... and when no try fits: the centred box of the whole image cut to the ratio's range */
static inline CT_HD void ct_augment_resized_fallback(const ct_augment *a, ct_augment_draw *d) {
    double in = (double)a->w / (double)a->h;
    d->resized = 1;
    d->box_w = a->w, d->box_h = a->h;
    if (in < (double)a->ratio_min)
        d->box_h = (int)rint((double)a->w / (double)a->ratio_min);
    else if (in > (double)a->ratio_max)
        d->box_w = (int)rint(CT_DMUL((double)a->h, (double)a->ratio_max));
    if (d->box_h < 1) d->box_h = 1;
    if (d->box_w < 1) d->box_w = 1;
    d->box_y = (a->h - d->box_h) / 2, d->box_x = (a->w - d->box_w) / 2;
}

static inline CT_HD uint64_t ct_augment_erase_counter(const ct_augment *a, int k) {
    return a->stream | CT_AUGMENT_ERASE_BIT | ((uint64_t)k << 40);
}

/* RandomErasing's coin from its block r: 1 when the image is to be erased */
static inline CT_HD int ct_augment_erase_coin(const ct_augment *a, const uint32_t r[4]) {
    return ct_augment_u24(r[0]) < (double)a->erase_p;
}

/* RandomErasing's try from its block r: 1 with d's erased box set when the box fits */
static inline CT_HD int ct_augment_erase_try(const ct_augment *a, const uint32_t r[4],
                                             ct_augment_draw *d) {
    double area = CT_DMUL((double)a->h, (double)a->w);
    double target = CT_DMUL(area, CT_DADD(CT_ERASE_AREA_MIN,
                                          CT_DMUL(CT_ERASE_AREA_MAX - CT_ERASE_AREA_MIN,
                                                  ct_augment_u24(r[0]))));
    double lo = log(CT_ERASE_RATIO_MIN), hi = log(CT_ERASE_RATIO_MAX);
    double ratio = exp(CT_DADD(lo, CT_DMUL(CT_DADD(hi, -lo), ct_augment_u24(r[1]))));
    double eh = rint(sqrt(CT_DMUL(target, ratio))), ew = rint(sqrt(target / ratio));
    if (!(eh < (double)a->h && ew < (double)a->w)) return 0;
    d->erased = 1;
    d->erase_h = (int)eh, d->erase_w = (int)ew;
    d->erase_y = (int)(r[2] % (uint32_t)(a->h - d->erase_h + 1));
    d->erase_x = (int)(r[3] % (uint32_t)(a->w - d->erase_w + 1));
    return 1;
}

static inline CT_HD int ct_augment_jitters(const ct_augment *a) {
    return a->jitter[0] > 0.0f || a->jitter[1] > 0.0f || a->jitter[2] > 0.0f ||
           a->jitter[3] > 0.0f;
}

/* ColorJitter's draw from its blocks r (the order and three factors) and r2 (the hue's) */
static inline CT_HD void ct_augment_jitter_draw(const ct_augment *a, const uint32_t r[4],
                                                const uint32_t r2[4], ct_augment_draw *d) {
    int left[4] = {0, 1, 2, 3}, n = 4;
    uint32_t code = r[0] % 24u;
    for (int k = 0; k < 4; k++) { /* the code's digits pick from what is left */
        int pick = (int)(code % (uint32_t)n);
        code /= (uint32_t)n;
        d->jorder[k] = left[pick];
        for (int j = pick; j < n - 1; j++) left[j] = left[j + 1];
        n--;
    }
    for (int k = 0; k < 3; k++) {
        double s = (double)a->jitter[k], lo = 1.0 - s > 0.0 ? 1.0 - s : 0.0;
        d->jf[k] = CT_DADD(lo, CT_DMUL(CT_DADD(1.0 + s, -lo), ct_augment_u24(r[k + 1])));
    }
    double hue = (double)a->jitter[3];
    d->jf[3] = CT_DADD(-hue, CT_DMUL(2.0 * hue, ct_augment_u24(r2[0])));
    d->jitter = 1;
    d->jmean = 0.0;
}

static inline CT_HD double ct_augment_clamp(double v, double bound) {
    return v < 0.0 ? 0.0 : v > bound ? bound : v;
}

static inline CT_HD double ct_augment_grey(const double *px, int c) {
    if (c != 3) return px[0]; /* (one channel: the value; the mean of others: see the caller) */
    return CT_DADD(CT_DADD(CT_DMUL(0.2989, px[0]), CT_DMUL(0.587, px[1])), CT_DMUL(0.114, px[2]));
}

/* torchvision's adjust_hue on one pixel (r, g, b) in [0, bound] */
static inline CT_HD void ct_augment_hue(double *px, double f, double bound) {
    double r = px[0] / bound, g = px[1] / bound, b = px[2] / bound;
    double maxc = r > g ? (r > b ? r : b) : (g > b ? g : b);
    double minc = r < g ? (r < b ? r : b) : (g < b ? g : b);
    int eqc = maxc == minc;
    double cr = CT_DADD(maxc, -minc);
    double s = cr / (eqc ? 1.0 : maxc), div = eqc ? 1.0 : cr;
    double rc = CT_DADD(maxc, -r) / div, gc = CT_DADD(maxc, -g) / div, bc = CT_DADD(maxc, -b) / div;
    double h = maxc == r ? CT_DADD(bc, -gc)
             : maxc == g ? CT_DADD(CT_DADD(2.0, rc), -bc)
                         : CT_DADD(CT_DADD(4.0, gc), -rc);
    h = fmod(CT_DADD(h / 6.0, 1.0), 1.0);
    h = CT_DADD(h, f); /* (h + f) % 1.0, Python's modulo: into [0, 1) */
    h = CT_DADD(h, -floor(h));
    double v = maxc, i = floor(CT_DMUL(h, 6.0)), fr = CT_DADD(CT_DMUL(h, 6.0), -i);
    double p = ct_augment_clamp(CT_DMUL(v, CT_DADD(1.0, -s)), 1.0);
    double q = ct_augment_clamp(CT_DMUL(v, CT_DADD(1.0, -CT_DMUL(s, fr))), 1.0);
    double t = ct_augment_clamp(CT_DMUL(v, CT_DADD(1.0, -CT_DMUL(s, CT_DADD(1.0, -fr)))), 1.0);
    int k = ((int)i % 6 + 6) % 6;
    const double out[6][3] = {{v, t, p}, {q, v, p}, {p, v, t}, {p, q, v}, {t, p, v}, {v, p, q}};
    px[0] = CT_DMUL(out[k][0], bound);
    px[1] = CT_DMUL(out[k][1], bound);
    px[2] = CT_DMUL(out[k][2], bound);
}

/* ColorJitter's adjustments of d on the pixel px (c channels, 0..bound), in d's order: all of
 * them (d->jmean set), or, with before_contrast, those before the contrast (for its mean) */
static inline CT_HD void ct_augment_jitter_apply(const ct_augment *a, const ct_augment_draw *d,
                                                 double *px, int c, double bound,
                                                 int before_contrast) {
    for (int k = 0; k < 4; k++) {
        const int op = d->jorder[k];
        if (a->jitter[op] <= 0.0f) continue;
        if (op == 1 && before_contrast) return;
        const double f = d->jf[op];
        if (op == 3) {
            if (c == 3) ct_augment_hue(px, f, bound);
            continue;
        }
        if (op == 2 && c != 3) continue;
        double toward = op == 0 ? 0.0 : op == 1 ? d->jmean : ct_augment_grey(px, c);
        double rest = CT_DMUL(CT_DADD(1.0, -f), toward);
        for (int ch = 0; ch < c; ch++)
            px[ch] = ct_augment_clamp(CT_DADD(CT_DMUL(f, px[ch]), rest), bound);
    }
}

/* RandomGrayscale of a pixel px (c channels, as gathered: floats) under d: 3 channels their
 * grey (rgb_to_grayscale's weights, in double, as the jitter's), each; other counts as they are
 * (torchvision's keeps one channel as it is) */
static inline CT_HD void ct_augment_grey_px(const ct_augment_draw *d, float *px, int c) {
    if (!d->grey || c != 3) return;
    const double v[3] = {(double)px[0], (double)px[1], (double)px[2]};
    px[0] = px[1] = px[2] = (float)ct_augment_grey(v, 3);
}

/* Does a colour the pixels (ColorJitter or RandomGrayscale: pixel by pixel, all channels)? */
static inline CT_HD int ct_augment_colours(const ct_augment *a) {
    return ct_augment_jitters(a) || a->grey_p > 0.0f;
}

/* The grey the contrast's mean sums for a pixel px already adjusted up to it: 3 channels their
 * grey, else the sum of the channels (the mean then divides by channels x pixels) */
static inline CT_HD double ct_augment_mean_term(const double *px, int c) {
    if (c == 3) return ct_augment_grey(px, c);
    double s = 0.0;
    for (int ch = 0; ch < c; ch++) s = CT_DADD(s, px[ch]);
    return s;
}

static inline CT_HD int ct_augment_in_erased(const ct_augment_draw *d, int y, int x) {
    return d->erased && y >= d->erase_y && y < d->erase_y + d->erase_h && x >= d->erase_x &&
           x < d->erase_x + d->erase_w;
}

static inline CT_HD double ct_augment_erase_fill(const ct_augment *a, int ch) {
    return (double)a->erase_fill[ch < 4 ? ch : 0];
}

/* Output index o (of out) of an axis of a box of n (<= out) pixels, resized: its first tap
 * and the (1 or 2) normalised weights, as interpolate(antialias=True)'s bilinear filter
 * (support 1 when enlarging: taps from (int)(centre - 0.5) to (int)(centre + 1.5)); returns
 * the number of taps. */
static inline CT_HD int ct_augment_taps(int o, int out, int n, double wt[3], int *first) {
    double scale = (double)n / (double)out, centre = CT_DMUL(scale, (double)o + 0.5);
    int lo = (int)CT_DADD(centre, -0.5), hi = (int)CT_DADD(centre, 1.5);
    if (lo < 0) lo = 0;
    if (hi > n) hi = n;
    if (hi - lo > 3) hi = lo + 3; /* (never: the two ends differ by 2) */
    double total = 0.0;
    for (int j = lo; j < hi; j++) {
        double t = fabs(CT_DADD(CT_DADD((double)j, -centre), 0.5));
        wt[j - lo] = t < 1.0 ? 1.0 - t : 0.0;
        total = CT_DADD(total, wt[j - lo]);
    }
    for (int j = lo; j < hi; j++) wt[j - lo] = total != 0.0 ? wt[j - lo] / total : 0.0;
    *first = lo;
    return hi - lo;
}

/* The draw of an image from its Philox blocks w (counter (stream, first + i)) and v (counter
 * (stream | CT_AUGMENT_AFFINE_BIT, first + i); unused when not affine). */
static inline CT_HD void ct_augment_draw_of(const ct_augment *a, const uint32_t w[4],
                                            const uint32_t v[4], ct_augment_draw *d) {
    uint32_t span = 2u * (uint32_t)a->pad + 1u;
    d->ty = (int)(w[0] % span);
    d->tx = (int)(w[1] % span);
    d->flip = a->flip ? (int)(w[2] & 1u) : 0;
    d->vflip = a->vflip ? (int)(w[2] >> 1 & 1u) : 0;
    d->affine = ct_augment_is_affine(a);
    d->resized = d->box_y = d->box_x = 0, d->box_h = a->h, d->box_w = a->w; /* (the callers
                                   * draw the boxes: ct_augment_resized_try, erase_try) */
    d->erased = d->erase_y = d->erase_x = d->erase_h = d->erase_w = 0;
    d->jitter = 0; /* (the callers draw it: ct_augment_jitter_draw) */
    for (int k = 0; k < 4; k++) d->jorder[k] = k, d->jf[k] = 1.0;
    d->jmean = 0.0;
    d->grey = 0;
    d->aa_n = 0, d->aa_chains = 1; /* (the callers draw the ops: ct_aa_draw_at) */
    for (int c = 0; c < CT_AA_MAX_CHAINS; c++) d->aa_depth[c] = 0, d->aa_w[c + 1] = 0.0f;
    d->aa_w[0] = 1.0f;
    d->angle = d->shear = 0.0, d->scale = 1.0, d->shift_x = d->shift_y = 0;
    for (int k = 0; k < 6; k++) d->m[k] = 0.0;
    if (!d->affine) return;
    const double pi = 3.14159265358979323846;
    double deg = a->degrees, sh = a->shear;
    d->angle = CT_DADD(-deg, CT_DMUL(2.0 * deg, ct_augment_u24(v[0])));
    double mx = CT_DMUL((double)a->translate, (double)a->w);
    double my = CT_DMUL((double)a->translate, (double)a->h);
    d->shift_x = (int)rint(CT_DADD(-mx, CT_DMUL(2.0 * mx, ct_augment_u24(v[1]))));
    d->shift_y = (int)rint(CT_DADD(-my, CT_DMUL(2.0 * my, ct_augment_u24(v[2]))));
    d->scale = a->scale_max != 0.0f
                   ? CT_DADD((double)a->scale_min,
                             CT_DMUL((double)a->scale_max - (double)a->scale_min,
                                     ct_augment_u24(v[3])))
                   : 1.0;
    d->shear = CT_DADD(-sh, CT_DMUL(2.0 * sh, ct_augment_u24(w[3])));
    /* torchvision's _get_inverse_affine_matrix, centre (0, 0), shear_y 0:
     * rotation-scale-shear RSS = [[a, b], [c, d]], its inverse [[d, -b], [-c, a]] / scale */
    double rot = CT_DMUL(d->angle, pi / 180.0), sx = CT_DMUL(d->shear, pi / 180.0);
    double cr = cos(rot), sr = sin(rot), tsx = tan(sx);
    double ra = cr, rb = CT_DADD(-CT_DMUL(cr, tsx), -sr), rc = sr,
           rd = CT_DADD(-CT_DMUL(sr, tsx), cr);
    double m0 = rd / d->scale, m1 = -rb / d->scale, m3 = -rc / d->scale, m4 = ra / d->scale;
    double tx = -(double)d->shift_x, ty = -(double)d->shift_y;
    d->m[0] = m0;
    d->m[1] = m1;
    d->m[2] = CT_DADD(CT_DMUL(m0, tx), CT_DMUL(m1, ty));
    d->m[3] = m3;
    d->m[4] = m4;
    d->m[5] = CT_DADD(CT_DMUL(m3, tx), CT_DMUL(m4, ty));
}

static inline CT_HD void ct_aa_draw_at(const ct_augment *a, uint64_t at, ct_augment_draw *d);

/* The whole draw of the image at place pos (from a->first) under a: the crop and flips, the
 * warp, the resized crop's box, the colour jitter's order and factors, the erased box, each
 * from its own Philox blocks (above), on every backend alike. */
static inline CT_HD void ct_augment_draw_at(const ct_augment *a, uint64_t pos,
                                            ct_augment_draw *d) {
    const uint64_t at = a->first + pos;
    uint32_t w4[4], v4[4] = {0, 0, 0, 0};
    ct_philox_block(a->seed, a->stream, at, w4);
    if (ct_augment_is_affine(a))
        ct_philox_block(a->seed, a->stream | CT_AUGMENT_AFFINE_BIT, at, v4);
    ct_augment_draw_of(a, w4, v4, d);
    if (a->area_max != 0.0f) {
        int k = 0;
        for (; k < CT_RESIZED_TRIES; k++) {
            ct_philox_block(a->seed, ct_augment_resized_counter(a, k), at, v4);
            if (ct_augment_resized_try(a, v4, d)) break;
        }
        if (k == CT_RESIZED_TRIES) ct_augment_resized_fallback(a, d);
    }
    if (a->grey_p > 0.0f) {
        ct_philox_block(a->seed, a->stream | CT_AUGMENT_GREY_BIT, at, v4);
        d->grey = ct_augment_u24(v4[0]) < (double)a->grey_p;
    }
    if (a->aa) ct_aa_draw_at(a, at, d);
    if (ct_augment_jitters(a)) {
        ct_philox_block(a->seed, a->stream | CT_AUGMENT_JITTER_BIT, at, v4);
        ct_philox_block(a->seed, a->stream | CT_AUGMENT_JITTER_BIT | (1ull << 40), at, w4);
        ct_augment_jitter_draw(a, v4, w4, d);
    }
    if (a->erase_p > 0.0f) {
        ct_philox_block(a->seed, ct_augment_erase_counter(a, CT_ERASE_TRIES), at, v4);
        for (int k = 0; ct_augment_erase_coin(a, v4) && k < CT_ERASE_TRIES; k++) {
            uint32_t r4[4];
            ct_philox_block(a->seed, ct_augment_erase_counter(a, k), at, r4);
            if (ct_augment_erase_try(a, r4, d)) break;
        }
    }
}

/* The unscaled value (0..255) of output pixel (ch, y, x) of an image img (c, h, w) under d,
 * but for the erasing (below) */
static inline CT_HD double ct_augment_pixel_raw(const ct_augment *a, const ct_augment_draw *d,
                                                const uint8_t *img, int ch, int y, int x) {
    const int h = a->h, w = a->w;
    int cx = d->flip ? w - 1 - x : x; /* the crop's column shown at x */
    y = d->vflip ? h - 1 - y : y;     /* and its row */
    if (d->resized) {
        const uint8_t *p = img + ((int64_t)ch * h + d->box_y) * w + d->box_x;
        double wy[3], wx[3], v = 0.0;
        int y0, x0, ny = ct_augment_taps(y, h, d->box_h, wy, &y0),
                    nx = ct_augment_taps(cx, w, d->box_w, wx, &x0);
        for (int i = 0; i < ny; i++) {
            double row = 0.0;
            for (int j = 0; j < nx; j++)
                row = CT_DADD(row, CT_DMUL(wx[j], (double)p[(int64_t)(y0 + i) * w + x0 + j]));
            v = CT_DADD(v, CT_DMUL(wy[i], row));
        }
        return v;
    }
    int py = y + d->ty - a->pad, px = cx + d->tx - a->pad; /* in the (warped) image */
    if (py < 0 || py >= h || px < 0 || px >= w) return 0.0;
    const uint8_t *p = img + (int64_t)ch * h * w;
    if (!d->affine) return (double)p[(int64_t)py * w + px];
    double hx = 0.5 * (double)(w - 1), hy = 0.5 * (double)(h - 1);
    double xc = (double)px - hx, yc = (double)py - hy; /* pixel centres about the centre */
    double sx = CT_DADD(CT_DADD(CT_DADD(CT_DMUL(d->m[0], xc), CT_DMUL(d->m[1], yc)), d->m[2]), hx);
    double sy = CT_DADD(CT_DADD(CT_DADD(CT_DMUL(d->m[3], xc), CT_DMUL(d->m[4], yc)), d->m[5]), hy);
    if (!a->bilinear) {
        double nx = rint(sx), ny = rint(sy);
        if (!(nx >= 0.0 && nx < (double)w && ny >= 0.0 && ny < (double)h)) return 0.0;
        return (double)p[(int64_t)ny * w + (int64_t)nx];
    }
    double fx = floor(sx), fy = floor(sy);
    if (!(fx >= -1.0 && fx < (double)w && fy >= -1.0 && fy < (double)h)) return 0.0;
    int x0 = (int)fx, y0 = (int)fy;
    double ex = CT_DADD(sx, -fx), ey = CT_DADD(sy, -fy); /* in [0, 1) */
    double v = 0.0, inside = 0.0; /* inside: the weight of the taps within the image */
    for (int k = 0; k < 4; k++) {
        int xx = x0 + (k & 1), yy = y0 + (k >> 1);
        if (xx < 0 || xx >= w || yy < 0 || yy >= h) continue;
        double wt = CT_DMUL((k & 1) ? ex : CT_DADD(1.0, -ex), (k >> 1) ? ey : CT_DADD(1.0, -ey));
        v = CT_DADD(v, CT_DMUL(wt, (double)p[(int64_t)yy * w + xx]));
        inside = CT_DADD(inside, wt);
    }
    /* RandomAffine's fill 0 (fill=[0.0] to _apply_grid_transform): the sample times the
     * sampled mask of ones, plus (1 - mask) * 0 */
    return inside < 1.0 ? CT_DMUL(v, inside) : v;
}

/* The unscaled value (0..255) of output pixel (ch, y, x) of an image img (c, h, w) under d
 * (but for the automatic augmentation's ops: autoaugment.h) */
static inline CT_HD double ct_augment_pixel(const ct_augment *a, const ct_augment_draw *d,
                                            const uint8_t *img, int ch, int y, int x) {
    if (ct_augment_in_erased(d, y, x)) return ct_augment_erase_fill(a, ch);
    return ct_augment_pixel_raw(a, d, img, ch, y, x);
}

#include "backend/autoaugment.h" /* (ct_aa_draw_at) */

#endif
