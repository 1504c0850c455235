/*
 * augment_dump.c — for tests/cli_torchvision.sh: random images through ct_augment_images (the
 * CPU backend's gather_u8, as ct_fit feeds training batches) under several --augment settings,
 * written as JSON lines with each image's drawn parameters (augment.h), so that
 * tests/torchvision_augment.py can redo every image with torchvision's functional.affine, pad,
 * crop, resized_crop and hflip and compare; then, for RandomResizedCrop's distribution, lines
 * of BOXES boxes drawn for images of a few sizes (and RandomErasing's, ColorJitter's draws).
 * Then torchvision's automatic augmentations (autoaugment.h): TrivialAugmentWide (ta_dump:
 * each image with its op and magnitude, the bytes the op takes, and the output; the ops'
 * distribution; every op's magnitude tables), RandAugment and AutoAugment (aa_dump: each image
 * with its whole list of ops [[op, magnitude], ...], AutoAugment's drawn pair, the bytes the
 * first op takes and after each op (as the CPU backend computes them, with autoaugment.h's
 * functions), and the output; RandAugment's ops' and AutoAugment's pairs' and chances'
 * distributions; RandAugment's magnitude tables for a few (bins, h, w) and AutoAugment's for
 * a few (h, w)), and AugMix (augmix_dump: each image with its chains' ops one chain after
 * another, their depths, its float32 weights (the image's, each chain's), the bytes before the
 * ops and after each op, each chain from those before the ops, and the output, their mix,
 * erased; the depths', ops', bins', signs' and weights' distributions; its magnitude tables
 * for a few (h, w)), for torchvision_augment.py (tests/torchvision_autoaugment.py) to redo with
 * torchvision's own autoaugment._apply_op and AugMix.forward.
 * Usage: augment_dump > cases.jsonl
 */
#include "backend/augment.h"
#include "core/core.h"
#include "ctrain.h"

#include <stdio.h>
#include <stdlib.h>

typedef struct {
    int c, h, w, pad, flip, bilinear;
    float degrees, translate, scale_min, scale_max, shear;
    float area_min, area_max, ratio_min, ratio_max; /* the resized crop */
    float erase_p;                                  /* RandomErasing's */
    float jitter[4];                                /* ColorJitter's */
    float grey;                                     /* RandomGrayscale's */
} dump_case;

#define R34 0.75f
#define R43 (4.0f / 3.0f)

static const dump_case k_cases[] = {
    {1, 28, 28, 0, 0, 0, 30, 0, 0, 0, 0, 0, 0, 0, 0, 0, {0}, 0},         /* rotation, nearest */
    {1, 28, 28, 0, 0, 1, 30, 0, 0, 0, 0, 0, 0, 0, 0, 0, {0}, 0},         /* rotation, bilinear */
    {1, 28, 28, 0, 0, 0, 0, 0.2f, 0, 0, 0, 0, 0, 0, 0, 0, {0}, 0},       /* whole-pixel shifts */
    {1, 28, 28, 0, 0, 1, 0, 0, 0.7f, 1.3f, 0, 0, 0, 0, 0, 0, {0}, 0},    /* zoom */
    {1, 28, 28, 0, 0, 1, 0, 0, 0, 0, 25, 0, 0, 0, 0, 0, {0}, 0},         /* shear */
    {1, 28, 28, 0, 0, 0, 180, 0.1f, 0.5f, 2, 40, 0, 0, 0, 0, 0, {0}, 0}, /* everything, wide ranges, nearest */
    {3, 9, 11, 2, 2, 1, 15, 0.1f, 0.9f, 1.1f, 10, 0, 0, 0, 0, 0, {0}, 0}, /* colour, odd, unequal, vflip */
    {3, 9, 11, 3, 1, 0, 15, 0.1f, 0.9f, 1.1f, 10, 0, 0, 0, 0, 0, {0}, 0},
    {2, 8, 8, 0, 1, 0, 180, 0, 0, 0, 0, 0, 0, 0, 0, 0, {0}, 0},  /* even sides: the centre between pixels */
    {1, 28, 28, 0, 0, 0, 0, 0, 0, 0, 0, 0.08f, 1, R34, R43, 0, {0}, 0}, /* RandomResizedCrop's defaults */
    {3, 9, 13, 0, 2, 0, 0, 0, 0, 0, 0, 0.08f, 1, R34, R43, 0, {0}, 0},  /* colour, unequal, both flips */
    {2, 6, 20, 0, 1, 0, 0, 0, 0, 0, 0, 0.3f, 1, 0.5f, 2, 0, {0}, 0},    /* too wide: the fallback too */
    {1, 12, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0.01f, 0.1f, 0.2f, 5, 0, {0}, 0}, /* small boxes, far ratios */
    {1, 28, 28, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0.6f, {0}, 0},          /* RandomErasing alone */
    {3, 16, 12, 2, 1, 1, 10, 0, 0, 0, 0, 0, 0, 0, 0, 1, {0}, 0},             /* after a warp, crop, flip */
    {3, 9, 13, 0, 1, 0, 0, 0, 0, 0, 0, 0.5f, 1, R34, R43, 1, {0}, 0},       /* after a resized crop */
    {3, 10, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, {0.4f, 0.4f, 0.4f, 0.1f}, 0}, /* ColorJitter */
    {3, 8, 8, 0, 1, 0, 0, 0, 0, 0, 0, 0.3f, 1, R34, R43, 0.5f, {0, 0.8f, 0, 0.5f}, 0}, /* all */
    {1, 28, 28, 2, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, {0.5f, 0.5f, 0, 0}, 0},     /* one channel */
    {3, 16, 12, 2, 1, 1, 10, 0, 0, 0, 0, 0, 0, 0, 0, 1, {0, 0.9f, 0, 0}, 0}, /* a warp, jitter, */
    {1, 16, 12, 0, 0, 0, 20, 0, 0, 0, 0, 0, 0, 0, 0, 1, {0, 0.9f, 0, 0}, 0}, /* erasing after */
    {3, 10, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, {0.4f, 0.4f, 0.4f, 0.1f}, 0.5f}, /* grey */
    {3, 9, 13, 0, 1, 0, 0, 0, 0, 0, 0, 0.5f, 1, R34, R43, 0.5f, {0}, 0.6f}, /* after a crop */
    {1, 12, 12, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, {0}, 1.0f},  /* one channel: as it is */
};

/* RandomResizedCrop's boxes drawn for one image size (tries and fallback: augment.h), for a
 * comparison of their distribution with torchvision's get_params */
typedef struct { int h, w; float area_min, area_max, ratio_min, ratio_max; } box_case;
static const box_case k_boxes[] = {
    {28, 28, 0.08f, 1, R34, R43}, {32, 20, 0.08f, 1, R34, R43}, {9, 40, 0.08f, 1, R34, R43},
    {24, 24, 0.5f, 1, 0.5f, 2},
};
#define BOXES 4000
/* the same for RandomErasing's boxes (every image erased when a box fits) */
static const int k_erase_boxes[][2] = {{28, 28}, {6, 40}, {3, 3}};
static const float k_erase_fill[4] = {0.25f, 0.5f, 0.75f, 0.0f}; /* (torchvision's value) */

/* An image's gathered values (0..1) as "out": [...] in 0..255, and the image's closing brace */
static void print_out(const float *out, int64_t row) {
    printf("], \"out\": [");
    for (int64_t j = 0; j < row; j++) printf("%s%.9g", j ? "," : "", (double)out[j] * 255.0);
    printf("]}");
}

/* n images (c, h, w) of random ranges of values (so that AutoContrast and Equalize change
 * them) into *img, and their augmentation under cfg (images first.., epoch 1) into *out: 0, or
 * 1 (the error printed) */
static int augment_random(const ct_train_config *cfg, ct_rng *rng, int n, int c, int h, int w,
                          int64_t first, uint8_t **img, float **out) {
    const int64_t row = (int64_t)c * h * w;
    *img = malloc((size_t)(n * row));
    *out = malloc((size_t)(n * row) * sizeof **out);
    if (!*img || !*out) return 1;
    for (int i = 0; i < n; i++) {
        int lo = (int)ct_rng_below(rng, 200), span = 1 + (int)ct_rng_below(rng, 256 - lo);
        for (int64_t j = 0; j < row; j++)
            (*img)[i * row + j] = (uint8_t)(lo + (int)ct_rng_below(rng, (uint32_t)span));
    }
    if (ct_augment_images(cfg, *img, n, c, h, w, 1, first, *out) != CT_OK) {
        fprintf(stderr, "augment_dump: %s\n", ct_last_error());
        return 1;
    }
    return 0;
}

/* The automatic augmentations' cases (TrivialAugmentWide's, RandAugment's and AutoAugment's,
 * AugMix's) share these: the config (a flip, erasing, bilinear warps, a resized crop), the
 * augmentation training makes of it, the case's head and each image's tail in the output. */
static void case_config(ct_train_config *cfg, uint64_t seed, float erase_p, int bilinear,
                        int resized) {
    ct_train_config_default(cfg);
    cfg->seed = seed;
    cfg->augment_flip = 1, cfg->augment_erase_p = erase_p;
    cfg->augment_bilinear = bilinear;
    if (resized)
        cfg->augment_area_min = 0.3f, cfg->augment_area_max = 1.0f,
        cfg->augment_ratio_min = R34, cfg->augment_ratio_max = R43;
    for (int j = 0; j < 4; j++) cfg->augment_erase_fill[j] = k_erase_fill[j];
}

static ct_augment case_augment(const ct_train_config *cfg, int c, int h, int w) {
    ct_augment a = {.c = c, .h = h, .w = w, .flip = 1, .bilinear = cfg->augment_bilinear,
                    .area_min = cfg->augment_area_min, .area_max = cfg->augment_area_max,
                    .ratio_min = cfg->augment_ratio_min, .ratio_max = cfg->augment_ratio_max,
                    .erase_p = cfg->augment_erase_p, .seed = cfg->seed,
                    .stream = ((uint64_t)CT_STREAM_AUGMENT << CT_AUGMENT_PURPOSE_SHIFT) | 1};
    (void)ct_aa_of_config(cfg, &a); /* (as training sets them) */
    return a;
}

/* after the case's own keys: "bilinear", "c", "h", "w", "fill", then its "images" */
static void print_case_head(const ct_augment *a) {
    printf("\"bilinear\": %d, \"c\": %d, \"h\": %d, \"w\": %d, \"fill\": [%.9g, %.9g, %.9g], "
           "\"images\": [", a->bilinear, a->c, a->h, a->w, (double)k_erase_fill[0],
           (double)k_erase_fill[1], (double)k_erase_fill[2]);
}

/* an image's draw of a crop, flip and erasing, its bytes in, the bytes its (first) op takes,
 * and ctrain's output of it */
static void print_image_tail(const ct_augment *a, const ct_augment_draw *dr, const uint8_t *img,
                             const float *out) {
    const int64_t hw = (int64_t)a->h * a->w, row = a->c * hw;
    printf("\"flip\": %d, \"box\": [%d, %d, %d, %d], \"erased\": [%d, %d, %d, %d], \"in\": [",
           dr->flip, dr->box_y, dr->box_x, dr->resized ? dr->box_h : 0, dr->box_w, dr->erase_y,
           dr->erase_x, dr->erased ? dr->erase_h : 0, dr->erase_w);
    for (int64_t j = 0; j < row; j++) printf("%s%d", j ? "," : "", img[j]);
    printf("], \"pre\": [");
    for (int64_t j = 0; j < row; j++)
        printf("%s%d", j ? "," : "",
               ct_ta_byte(a, dr, img, (int)(j / hw), (int)(j / a->w % a->h), (int)(j % a->w)));
    print_out(out, row);
}

/* Every op's magnitudes under a (ops 0 .. n - 1, bins of them) as "ops": [[...], ...] */
static void print_tables(const ct_augment *a, int bins, int n) {
    printf("\"ops\": [");
    for (int op = 0; op < n; op++) {
        printf("%s[", op ? ", " : "");
        for (int b = 0; b < (ct_ta_has_magnitude(op) ? bins : 1); b++)
            printf("%s%.17g", b ? ", " : "", ct_ta_magnitude(a, op, bins, b));
        printf("]");
    }
    printf("]}\n");
}

/* TrivialAugmentWide (autoaugment.h): images of random ranges of values (so that AutoContrast
 * and Equalize change them), after a flip or a resized crop, some erased after; each with its
 * op and magnitude, for torchvision's own autoaugment._apply_op to redo */
typedef struct { int c, h, w, bins, resized; float erase_p; int bilinear; } ta_case;
static const ta_case k_ta_cases[] = {
    {1, 28, 28, 31, 0, 0, 0}, {3, 12, 10, 31, 1, 0, 0}, {3, 9, 7, 5, 0, 0.5f, 0},
    {3, 2, 5, 31, 0, 0, 0}, {1, 40, 33, 31, 1, 0.3f, 0},
    {1, 28, 28, 31, 0, 0, 1}, {3, 13, 16, 31, 1, 0, 1}, /* the warps bilinear */
};
#define TA_IMAGES 150

static int ta_dump(ct_rng *rng) {
    for (size_t k = 0; k < sizeof k_ta_cases / sizeof k_ta_cases[0]; k++) {
        const ta_case *t = &k_ta_cases[k];
        ct_train_config cfg;
        case_config(&cfg, 3000 + k, t->erase_p, t->bilinear, t->resized);
        cfg.augment_ta_bins = t->bins;
        const int64_t row = (int64_t)t->c * t->h * t->w, first = 5 * (int64_t)k;
        uint8_t *img;
        float *out;
        if (augment_random(&cfg, rng, TA_IMAGES, t->c, t->h, t->w, first, &img, &out)) return 1;
        ct_augment a = case_augment(&cfg, t->c, t->h, t->w);
        printf("{\"ta\": %d, ", t->bins);
        print_case_head(&a);
        for (int i = 0; i < TA_IMAGES; i++) {
            ct_augment_draw dr;
            ct_augment_draw_at(&a, (uint64_t)(first + i), &dr);
            printf("%s{\"op\": %d, \"mag\": %.17g, ", i ? ", " : "", dr.aa[0].op, dr.aa[0].mag);
            print_image_tail(&a, &dr, img + i * row, out + i * row);
        }
        printf("]}\n");
        free(img);
        free(out);
    }
    /* the ops' and magnitudes' distribution */
    ct_augment a = {.c = 1, .h = 1, .w = 1, .aa = CT_AA_TRIVIAL, .aa_bins = 31, .seed = 9100,
                    .stream = 5};
    printf("{\"ta_draws\": 31, \"draws\": [");
    for (int i = 0; i < 14 * 2000; i++) {
        ct_augment_draw dr;
        ct_augment_draw_at(&a, (uint64_t)i, &dr);
        printf("%s[%d, %.17g]", i ? ", " : "", dr.aa[0].op, dr.aa[0].mag);
    }
    printf("]}\n");
    static const int tables[] = {2, 3, 7, 16, 31, 33, 100, 1024}; /* every op's magnitudes */
    for (size_t k = 0; k < sizeof tables / sizeof tables[0]; k++) {
        printf("{\"ta_table\": %d, ", tables[k]);
        print_tables(&a, tables[k], CT_TA_OPS);
    }
    return 0;
}

/* RandAugment and AutoAugment (autoaugment.h), as TrivialAugmentWide above: each image with its
 * whole list of ops ("ops": [[op, magnitude], ...], in the order they apply), and for
 * AutoAugment the pair of the policy it drew (word 0 % 25 of its ops' block, autoaugment.h: the
 * test holds the ops against that pair of torchvision's policy) */
typedef struct { int aa, c, h, w, ops, mag, bins, policy, resized; float erase_p; int bilinear; }
aa_case;
static const aa_case k_aa_cases[] = {
    {CT_AA_RAND, 3, 12, 10, 2, 9, 31, 0, 0, 0, 0}, /* RandAugment's defaults */
    {CT_AA_RAND, 1, 28, 28, 2, 9, 31, 0, 0, 0, 0},
    {CT_AA_RAND, 3, 13, 16, 3, 20, 31, 0, 0, 0, 1}, /* 3 ops at 20 of 31, bilinear */
    {CT_AA_RAND, 1, 28, 28, 3, 20, 31, 0, 1, 0, 1},
    {CT_AA_RAND, 3, 12, 10, 1, 5, 11, 0, 1, 0.5f, 0}, /* 1 op at 5 of 11, resized crop, erasing */
    {CT_AA_RAND, 1, 13, 16, 1, 5, 11, 0, 1, 0.5f, 0},
    {CT_AA_RAND, 3, 9, 7, 2, 30, 31, 0, 0, 0, 0}, /* the ends: the largest bin, and bin 0 */
    {CT_AA_RAND, 1, 9, 7, 2, 0, 5, 0, 0, 0, 0},
    {CT_AA_AUTO, 3, 12, 10, 0, 0, 0, CT_AUTOAUGMENT_IMAGENET, 0, 0, 0},
    {CT_AA_AUTO, 1, 28, 28, 0, 0, 0, CT_AUTOAUGMENT_IMAGENET, 1, 0.3f, 1}, /* bilinear */
    {CT_AA_AUTO, 3, 13, 16, 0, 0, 0, CT_AUTOAUGMENT_CIFAR10, 0, 0, 0},
    {CT_AA_AUTO, 1, 28, 28, 0, 0, 0, CT_AUTOAUGMENT_CIFAR10, 0, 0.5f, 0},
    {CT_AA_AUTO, 3, 12, 10, 0, 0, 0, CT_AUTOAUGMENT_SVHN, 1, 0, 0},
    {CT_AA_AUTO, 1, 28, 28, 0, 0, 0, CT_AUTOAUGMENT_SVHN, 0, 0, 1}, /* bilinear */
};
#define AA_IMAGES 150
#define RA_DRAWS (14 * 1000) /* images of the draws' distributions */
#define AA_DRAWS (25 * 400)

/* d's ops as [[op, magnitude], ...] */
static void print_ops(const ct_augment_draw *d) {
    printf("[");
    for (int k = 0; k < d->aa_n; k++)
        printf("%s[%d, %.17g]", k ? ", " : "", d->aa[k].op, d->aa[k].mag);
    printf("]");
}

/* The bytes after each of d's ops of an image img, as "steps": [[...], ...]: from its bytes
 * before them (ct_ta_byte), each op of a chain on the bytes the one before gave (the chain's
 * first on those before the ops: AugMix's chains one after another, each from them), with the
 * functions the CPU backend's aa_row applies them by (autoaugment.h); buf: 3 x c x h x w
 * bytes. (The test holds every op against torchvision's on the same bytes, and ctrain's output
 * against the last step's, erased, or AugMix's mix of its chains' last steps.) */
static void print_steps(const ct_augment *a, const ct_augment_draw *d, const uint8_t *img,
                        uint8_t *buf) {
    const int c = a->c, h = a->h, w = a->w;
    const int64_t hw = (int64_t)h * w, row = c * hw;
    for (int64_t j = 0; j < row; j++)
        buf[j] = (uint8_t)ct_ta_byte(a, d, img, (int)(j / hw), (int)(j / w % h), (int)(j % w));
    printf("\"steps\": [");
    for (int k = 0, chain = 0, j0 = 0; k < d->aa_n; k++) {
        while (chain < d->aa_chains - 1 && k - j0 >= d->aa_depth[chain])
            j0 += d->aa_depth[chain++];
        const ct_aa_op *o = &d->aa[k];
        const uint8_t *in = buf + ct_aa_in(1, k - j0) * row; /* (op k - j0 of its chain) */
        uint8_t *out = buf + ct_aa_out(1, k - j0) * row;
        ct_ta_stats st = {0};
        if (ct_ta_needs_hist(o->op)) {
            unsigned hist[CT_TA_MAX_C + 1][256] = {{0}};
            for (int64_t j = 0; j < hw; j++) ct_ta_count(in, c, hw, j, hist);
            ct_ta_stats_of(a, o->op, (const unsigned (*)[256])hist, &st);
        }
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) ct_aa_op_pixel(a, o, &st, in, y, x, out);
        printf("%s[", k ? ", " : "");
        for (int64_t j = 0; j < row; j++) printf("%s%d", j ? "," : "", out[j]);
        printf("]");
    }
    printf("], ");
}

/* AutoAugment's pair drawn for the image at `at` under a (autoaugment.h's ct_aa_draw_at) */
static int aa_pair(const ct_augment *a, uint64_t at) {
    uint32_t r[4];
    ct_philox_block(a->seed, a->stream | CT_AUGMENT_TA_BIT, at, r);
    return (int)(r[0] % (uint32_t)CT_AA_PAIRS);
}

static int aa_dump(ct_rng *rng) {
    for (size_t k = 0; k < sizeof k_aa_cases / sizeof k_aa_cases[0]; k++) {
        const aa_case *t = &k_aa_cases[k];
        ct_train_config cfg;
        case_config(&cfg, 3500 + k, t->erase_p, t->bilinear, t->resized);
        if (t->aa == CT_AA_RAND)
            cfg.augment_ra_ops = t->ops, cfg.augment_ra_magnitude = t->mag,
            cfg.augment_ra_bins = t->bins;
        else
            cfg.augment_aa_policy = t->policy;
        const int64_t row = (int64_t)t->c * t->h * t->w, first = 7 * (int64_t)k;
        uint8_t *img, *buf = malloc((size_t)(3 * row));
        float *out;
        if (!buf || augment_random(&cfg, rng, AA_IMAGES, t->c, t->h, t->w, first, &img, &out))
            return 1;
        ct_augment a = case_augment(&cfg, t->c, t->h, t->w);
        if (t->aa == CT_AA_RAND)
            printf("{\"ra\": [%d, %d, %d], ", t->ops, t->mag, t->bins);
        else
            printf("{\"autoaug\": %d, ", t->policy);
        print_case_head(&a);
        for (int i = 0; i < AA_IMAGES; i++) {
            ct_augment_draw dr;
            ct_augment_draw_at(&a, (uint64_t)(first + i), &dr);
            printf("%s{\"ops\": ", i ? ", " : "");
            print_ops(&dr);
            if (t->aa == CT_AA_AUTO) printf(", \"pair\": %d", aa_pair(&a, (uint64_t)(first + i)));
            printf(", ");
            print_steps(&a, &dr, img + i * row, buf);
            print_image_tail(&a, &dr, img + i * row, out + i * row);
        }
        printf("]}\n");
        free(img);
        free(out);
        free(buf);
    }
    { /* RandAugment's ops' distribution: 2 ops at 9 of 31 on 28 x 28 */
        ct_augment a = {.c = 1, .h = 28, .w = 28, .aa = CT_AA_RAND, .aa_ops = 2, .aa_mag = 9,
                        .aa_bins = 31, .seed = 9200, .stream = 6};
        printf("{\"ra_draws\": [2, 9, 31], \"h\": 28, \"w\": 28, \"draws\": [");
        for (int i = 0; i < RA_DRAWS; i++) {
            ct_augment_draw dr;
            ct_augment_draw_at(&a, (uint64_t)i, &dr);
            printf("%s", i ? ", " : "");
            print_ops(&dr);
        }
        printf("]}\n");
    }
    for (int policy = CT_AUTOAUGMENT_IMAGENET; policy <= CT_AUTOAUGMENT_SVHN; policy++) {
        /* AutoAugment's pairs and chances, on 32 x 32 */
        ct_augment a = {.c = 3, .h = 32, .w = 32, .aa = CT_AA_AUTO, .aa_policy = policy,
                        .seed = 9300 + (uint64_t)policy, .stream = 7};
        printf("{\"aa_draws\": %d, \"h\": 32, \"w\": 32, \"draws\": [", policy);
        for (int i = 0; i < AA_DRAWS; i++) {
            ct_augment_draw dr;
            ct_augment_draw_at(&a, (uint64_t)i, &dr);
            printf("%s[%d, ", i ? ", " : "", aa_pair(&a, (uint64_t)i));
            print_ops(&dr);
            printf("]");
        }
        printf("]}\n");
    }
    /* RandAugment's magnitudes (bins, h, w), every op's; AutoAugment's (10 bins) by (h, w) */
    static const int ra_tables[][3] = {{31, 28, 28}, {10, 32, 32}, {11, 13, 16}, {100, 224, 200},
                                       {2, 12, 10}, {1024, 331, 500}, {17, 1, 3}};
    for (size_t k = 0; k < sizeof ra_tables / sizeof ra_tables[0]; k++) {
        ct_augment a = {.c = 3, .h = ra_tables[k][1], .w = ra_tables[k][2], .aa = CT_AA_RAND};
        printf("{\"ra_table\": [%d, %d, %d], ", ra_tables[k][0], a.h, a.w);
        print_tables(&a, ra_tables[k][0], CT_TA_OPS);
    }
    static const int aa_tables[][2] = {{32, 32}, {224, 224}, {13, 16}, {28, 28}, {500, 331}};
    for (size_t k = 0; k < sizeof aa_tables / sizeof aa_tables[0]; k++) {
        ct_augment a = {.c = 3, .h = aa_tables[k][0], .w = aa_tables[k][1], .aa = CT_AA_AUTO};
        printf("{\"aa_table\": [%d, %d], ", a.h, a.w);
        print_tables(&a, CT_AA_BINS, CT_TA_INVERT + 1); /* (with Invert) */
    }
    return 0;
}

/* AugMix (autoaugment.h), as RandAugment above: each image with its chains' ops one chain after
 * another ("ops"), their depths ("depths"), its weights ("weights": aa_w, the image's, then each
 * chain's, float32 printed exactly), the bytes after each op, each chain from the bytes before
 * the ops ("steps"), and the output (their mix, erased) */
typedef struct { int c, h, w, severity, width, depth; float alpha; int resized; float erase_p;
                 int bilinear; } augmix_case;
static const augmix_case k_augmix_cases[] = {
    {3, 12, 10, 3, 3, -1, 1.0f, 0, 0, 0},    /* AugMix's defaults, nearest */
    {1, 28, 28, 3, 3, -1, 1.0f, 0, 0, 1},    /* and bilinear (torchvision's default) */
    {3, 13, 16, 10, 4, 4, 0.3f, 1, 0.5f, 0}, /* the most ops, the largest bins, erasing */
    {3, 9, 13, 6, 2, -1, 2.0f, 1, 0, 1},     /* a resized crop, bilinear */
    {1, 9, 7, 1, 1, 1, 5.0f, 0, 0, 0},       /* one chain of one op, bin 0 */
};
#define AUGMIX_IMAGES 120
#define AUGMIX_DRAWS 5000 /* images of the draws' distributions */

/* d's AugMix weights as "weights": [...] (exact: %.9g gives a float32 back) */
static void print_weights(const ct_augment_draw *d) {
    printf("\"weights\": [");
    for (int c = 0; c <= d->aa_chains; c++) printf("%s%.9g", c ? ", " : "", (double)d->aa_w[c]);
    printf("]");
}

/* d's chains' depths as "depths": [...] */
static void print_depths(const ct_augment_draw *d) {
    printf("\"depths\": [");
    for (int c = 0; c < d->aa_chains; c++) printf("%s%d", c ? ", " : "", d->aa_depth[c]);
    printf("]");
}

static int augmix_dump(ct_rng *rng) {
    for (size_t k = 0; k < sizeof k_augmix_cases / sizeof k_augmix_cases[0]; k++) {
        const augmix_case *t = &k_augmix_cases[k];
        ct_train_config cfg;
        case_config(&cfg, 3800 + k, t->erase_p, t->bilinear, t->resized);
        cfg.augment_augmix_severity = t->severity, cfg.augment_augmix_width = t->width;
        cfg.augment_augmix_depth = t->depth, cfg.augment_augmix_alpha = t->alpha;
        const int64_t row = (int64_t)t->c * t->h * t->w, first = 11 * (int64_t)k;
        uint8_t *img, *buf = malloc((size_t)(3 * row));
        float *out;
        if (!buf ||
            augment_random(&cfg, rng, AUGMIX_IMAGES, t->c, t->h, t->w, first, &img, &out))
            return 1;
        ct_augment a = case_augment(&cfg, t->c, t->h, t->w);
        printf("{\"augmix\": [%d, %d, %d, %#.9g], ", t->severity, t->width, t->depth,
               (double)t->alpha);
        print_case_head(&a);
        for (int i = 0; i < AUGMIX_IMAGES; i++) {
            ct_augment_draw dr;
            ct_augment_draw_at(&a, (uint64_t)(first + i), &dr);
            printf("%s{\"ops\": ", i ? ", " : "");
            print_ops(&dr);
            printf(", ");
            print_depths(&dr);
            printf(", ");
            print_weights(&dr);
            printf(", ");
            print_steps(&a, &dr, img + i * row, buf);
            print_image_tail(&a, &dr, img + i * row, out + i * row);
        }
        printf("]}\n");
        free(img);
        free(out);
        free(buf);
    }
    /* the draws' distributions on 32 x 32: {severity, width, depth, alpha} */
    static const float draws[][4] = {{3, 3, -1, 1.0f}, {10, 4, -1, 0.3f}, {5, 2, 2, 4.0f},
                                     {3, 1, -1, 1.0f}};
    for (size_t k = 0; k < sizeof draws / sizeof draws[0]; k++) {
        ct_augment a = {.c = 3, .h = 32, .w = 32, .aa = CT_AA_AUGMIX,
                        .aa_severity = (int)draws[k][0], .aa_width = (int)draws[k][1],
                        .aa_depth = (int)draws[k][2], .aa_alpha = draws[k][3],
                        .seed = 9400 + (uint64_t)k, .stream = 8};
        printf("{\"augmix_draws\": [%d, %d, %d, %#.9g], \"h\": 32, \"w\": 32, \"draws\": [",
               a.aa_severity, a.aa_width, a.aa_depth, (double)a.aa_alpha);
        for (int i = 0; i < AUGMIX_DRAWS; i++) {
            ct_augment_draw dr;
            ct_augment_draw_at(&a, (uint64_t)i, &dr);
            printf("%s{", i ? ", " : "");
            print_depths(&dr);
            printf(", \"ops\": ");
            print_ops(&dr);
            printf(", ");
            print_weights(&dr);
            printf("}");
        }
        printf("]}\n");
    }
    /* AugMix's magnitudes (10 bins) by (h, w), every op's */
    static const int tables[][2] = {{32, 32}, {224, 224}, {13, 16}, {28, 28}, {500, 331},
                                    {7, 9}, {1, 2}};
    for (size_t k = 0; k < sizeof tables / sizeof tables[0]; k++) {
        ct_augment a = {.c = 3, .h = tables[k][0], .w = tables[k][1], .aa = CT_AA_AUGMIX};
        printf("{\"augmix_table\": [%d, %d], ", a.h, a.w);
        print_tables(&a, CT_AUGMIX_BINS, CT_TA_OPS);
    }
    return 0;
}

int main(void) {
    enum { N = 12 };
    ct_rng rng;
    ct_rng_init(&rng, 2026, 0);
    for (size_t k = 0; k < sizeof k_cases / sizeof k_cases[0]; k++) {
        const dump_case *d = &k_cases[k];
        ct_train_config cfg;
        ct_train_config_default(&cfg);
        cfg.seed = 1000 + k;
        cfg.augment_pad = d->pad, cfg.augment_bilinear = d->bilinear;
        cfg.augment_flip = d->flip > 0, cfg.augment_vflip = d->flip == 2; /* (2: both flips) */
        cfg.augment_degrees = d->degrees, cfg.augment_translate = d->translate;
        cfg.augment_scale_min = d->scale_min, cfg.augment_scale_max = d->scale_max;
        cfg.augment_shear = d->shear;
        cfg.augment_area_min = d->area_min, cfg.augment_area_max = d->area_max;
        cfg.augment_ratio_min = d->ratio_min, cfg.augment_ratio_max = d->ratio_max;
        cfg.augment_erase_p = d->erase_p;
        for (int k = 0; k < 4; k++) cfg.augment_jitter[k] = d->jitter[k];
        for (int k = 0; k < 4; k++) cfg.augment_erase_fill[k] = k_erase_fill[k];
        cfg.augment_grey_p = d->grey;
        const int epoch = (int)k % 3;
        const int64_t first = 17 * (int64_t)k, row = (int64_t)d->c * d->h * d->w;
        uint8_t *img = malloc((size_t)(N * row));
        float *out = malloc((size_t)(N * row) * sizeof *out);
        if (!img || !out) return 1;
        for (int64_t i = 0; i < N * row; i++) img[i] = (uint8_t)ct_rng_below(&rng, 256);
        ct_status s = ct_augment_images(&cfg, img, N, d->c, d->h, d->w, epoch, first, out);
        if (s != CT_OK) {
            fprintf(stderr, "augment_dump: %s\n", ct_last_error());
            return 1;
        }
        ct_augment a = {.c = d->c, .h = d->h, .w = d->w, .pad = d->pad, .flip = d->flip > 0,
                        .vflip = d->flip == 2,
                        .degrees = d->degrees, .translate = d->translate,
                        .scale_min = d->scale_min, .scale_max = d->scale_max,
                        .shear = d->shear, .bilinear = d->bilinear,
                        .area_min = d->area_min, .area_max = d->area_max,
                        .ratio_min = d->ratio_min, .ratio_max = d->ratio_max,
                        .erase_p = d->erase_p,
                        .jitter = {d->jitter[0], d->jitter[1], d->jitter[2], d->jitter[3]},
                        .grey_p = d->grey, .seed = cfg.seed,
                        .stream = ((uint64_t)CT_STREAM_AUGMENT << CT_AUGMENT_PURPOSE_SHIFT) |
                                  (uint64_t)epoch};
        printf("{\"c\": %d, \"h\": %d, \"w\": %d, \"pad\": %d, \"flip\": %d, \"bilinear\": %d, "
               "\"degrees\": %.9g, \"translate\": %.9g, \"scale\": [%.9g, %.9g], \"shear\": %.9g, "
               "\"area\": [%.9g, %.9g], \"ratio\": [%.9g, %.9g], \"erase\": %.9g, "
               "\"fill\": [%.9g, %.9g, %.9g], \"jitter\": [%.9g, %.9g, %.9g, %.9g], "
               "\"grey\": %.9g, \"images\": [",
               d->c, d->h, d->w, d->pad, d->flip, d->bilinear, (double)d->degrees,
               (double)d->translate,
               (double)d->scale_min, (double)d->scale_max, (double)d->shear,
               (double)d->area_min, (double)d->area_max, (double)d->ratio_min,
               (double)d->ratio_max, (double)d->erase_p, (double)k_erase_fill[0],
               (double)k_erase_fill[1], (double)k_erase_fill[2], (double)d->jitter[0],
               (double)d->jitter[1], (double)d->jitter[2], (double)d->jitter[3], (double)d->grey);
        for (int i = 0; i < N; i++) {
            ct_augment_draw dr; /* (as the gather draws it: the same function) */
            ct_augment_draw_at(&a, (uint64_t)(first + i), &dr);
            printf("%s{\"angle\": %.17g, \"shift\": [%d, %d], \"scale\": %.17g, \"shear\": %.17g, "
                   "\"crop\": [%d, %d], \"flip\": %d, \"vflip\": %d, \"box\": [%d, %d, %d, %d], "
                   "\"erased\": [%d, %d, %d, %d], \"jorder\": [%d, %d, %d, %d], "
                   "\"jf\": [%.17g, %.17g, %.17g, %.17g], \"grey\": %d, \"in\": [",
                   i ? ", " : "", dr.angle, dr.shift_x, dr.shift_y, dr.scale, dr.shear, dr.ty,
                   dr.tx, dr.flip, dr.vflip, dr.box_y, dr.box_x, dr.box_h, dr.box_w, dr.erase_y,
                   dr.erase_x, dr.erased ? dr.erase_h : 0, dr.erase_w, dr.jorder[0], dr.jorder[1],
                   dr.jorder[2], dr.jorder[3], dr.jf[0], dr.jf[1], dr.jf[2], dr.jf[3], dr.grey);
            for (int64_t j = 0; j < row; j++) printf("%s%d", j ? "," : "", img[i * row + j]);
            print_out(out + i * row, row);
        }
        printf("]}\n");
        free(img);
        free(out);
    }
    for (size_t k = 0; k < sizeof k_boxes / sizeof k_boxes[0]; k++) {
        const box_case *bc = &k_boxes[k];
        ct_augment a = {.c = 1, .h = bc->h, .w = bc->w, .area_min = bc->area_min,
                        .area_max = bc->area_max, .ratio_min = bc->ratio_min,
                        .ratio_max = bc->ratio_max, .seed = 7000 + k, .stream = 3};
        printf("{\"boxes_of\": [%d, %d], \"area\": [%.9g, %.9g], \"ratio\": [%.9g, %.9g], "
               "\"boxes\": [", bc->h, bc->w, (double)bc->area_min, (double)bc->area_max,
               (double)bc->ratio_min, (double)bc->ratio_max);
        for (int i = 0; i < BOXES; i++) {
            ct_augment_draw dr;
            ct_augment_draw_at(&a, (uint64_t)i, &dr);
            printf("%s[%d, %d, %d, %d]", i ? ", " : "", dr.box_y, dr.box_x, dr.box_h, dr.box_w);
        }
        printf("]}\n");
    }
    { /* ColorJitter's orders and factors, for their distribution */
        ct_augment a = {.c = 3, .h = 1, .w = 1, .jitter = {0.4f, 1.5f, 0.2f, 0.25f}, .seed = 9000,
                        .stream = 2};
        printf("{\"jitter_draws\": [0.4, 1.5, 0.2, 0.25], \"draws\": [");
        for (int i = 0; i < BOXES; i++) {
            ct_augment_draw dr;
            ct_augment_draw_at(&a, (uint64_t)i, &dr);
            printf("%s[%d, %d, %d, %d, %.17g, %.17g, %.17g, %.17g]", i ? ", " : "", dr.jorder[0],
                   dr.jorder[1], dr.jorder[2], dr.jorder[3], dr.jf[0], dr.jf[1], dr.jf[2],
                   dr.jf[3]);
        }
        printf("]}\n");
    }
    for (size_t k = 0; k < sizeof k_erase_boxes / sizeof k_erase_boxes[0]; k++) {
        const int h = k_erase_boxes[k][0], w = k_erase_boxes[k][1];
        ct_augment a = {.c = 1, .h = h, .w = w, .erase_p = 1.0f, .seed = 8000 + k, .stream = 4};
        printf("{\"erase_boxes_of\": [%d, %d], \"boxes\": [", h, w);
        for (int i = 0; i < BOXES; i++) {
            ct_augment_draw dr;
            ct_augment_draw_at(&a, (uint64_t)i, &dr);
            if (!dr.erased) dr.erase_y = dr.erase_x = 0, dr.erase_h = h, dr.erase_w = w;
            printf("%s[%d, %d, %d, %d]", i ? ", " : "", dr.erase_y, dr.erase_x, dr.erase_h,
                   dr.erase_w);
        }
        printf("]}\n");
    }
    if (ta_dump(&rng) || aa_dump(&rng)) return 1;
    return augmix_dump(&rng);
}
