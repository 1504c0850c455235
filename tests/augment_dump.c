/*
 * augment_dump.c — for tests/cli_torchvision.sh: random images through ct_augment_images (the
 * CPU backend's gather_u8, as ct_fit feeds training batches) under several --augment settings,
 * written as JSON lines with each image's drawn parameters (augment.h), so that
 * tests/torchvision_augment.py can redo every image with torchvision's functional.affine, pad,
 * crop and hflip and compare.
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
} dump_case;

static const dump_case k_cases[] = {
    {1, 28, 28, 0, 0, 0, 30, 0, 0, 0, 0},         /* rotation, nearest */
    {1, 28, 28, 0, 0, 1, 30, 0, 0, 0, 0},         /* rotation, bilinear */
    {1, 28, 28, 0, 0, 0, 0, 0.2f, 0, 0, 0},       /* whole-pixel shifts */
    {1, 28, 28, 0, 0, 1, 0, 0, 0.7f, 1.3f, 0},    /* zoom */
    {1, 28, 28, 0, 0, 1, 0, 0, 0, 0, 25},         /* shear */
    {1, 28, 28, 0, 0, 0, 180, 0.1f, 0.5f, 2, 40}, /* everything, wide ranges, nearest */
    {3, 9, 11, 2, 1, 1, 15, 0.1f, 0.9f, 1.1f, 10}, /* colour, odd and unequal sides, crop, flip */
    {3, 9, 11, 3, 1, 0, 15, 0.1f, 0.9f, 1.1f, 10},
    {2, 8, 8, 0, 1, 0, 180, 0, 0, 0, 0},          /* even sides: the centre between pixels */
};

int main(void) {
    enum { N = 12 };
    ct_rng rng;
    ct_rng_init(&rng, 2026, 0);
    for (size_t k = 0; k < sizeof k_cases / sizeof k_cases[0]; k++) {
        const dump_case *d = &k_cases[k];
        ct_train_config cfg;
        ct_train_config_default(&cfg);
        cfg.seed = 1000 + k;
        cfg.augment_pad = d->pad, cfg.augment_flip = d->flip, cfg.augment_bilinear = d->bilinear;
        cfg.augment_degrees = d->degrees, cfg.augment_translate = d->translate;
        cfg.augment_scale_min = d->scale_min, cfg.augment_scale_max = d->scale_max;
        cfg.augment_shear = d->shear;
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
        ct_augment a = {.c = d->c, .h = d->h, .w = d->w, .pad = d->pad, .flip = d->flip,
                        .degrees = d->degrees, .translate = d->translate,
                        .scale_min = d->scale_min, .scale_max = d->scale_max,
                        .shear = d->shear, .bilinear = d->bilinear, .seed = cfg.seed,
                        .stream = ((uint64_t)CT_STREAM_AUGMENT << CT_AUGMENT_PURPOSE_SHIFT) |
                                  (uint64_t)epoch};
        printf("{\"c\": %d, \"h\": %d, \"w\": %d, \"pad\": %d, \"flip\": %d, \"bilinear\": %d, "
               "\"degrees\": %.9g, \"translate\": %.9g, \"scale\": [%.9g, %.9g], \"shear\": %.9g, "
               "\"images\": [",
               d->c, d->h, d->w, d->pad, d->flip, d->bilinear, (double)d->degrees,
               (double)d->translate,
               (double)d->scale_min, (double)d->scale_max, (double)d->shear);
        for (int i = 0; i < N; i++) {
            uint32_t w4[4], v4[4];
            ct_augment_draw dr;
            ct_philox4x32(a.seed, a.stream, (uint64_t)(first + i), w4);
            ct_philox4x32(a.seed, a.stream | CT_AUGMENT_AFFINE_BIT, (uint64_t)(first + i), v4);
            ct_augment_draw_of(&a, w4, v4, &dr);
            printf("%s{\"angle\": %.17g, \"shift\": [%d, %d], \"scale\": %.17g, \"shear\": %.17g, "
                   "\"crop\": [%d, %d], \"flip\": %d, \"in\": [",
                   i ? ", " : "", dr.angle, dr.shift_x, dr.shift_y, dr.scale, dr.shear, dr.ty,
                   dr.tx, dr.flip);
            for (int64_t j = 0; j < row; j++) printf("%s%d", j ? "," : "", img[i * row + j]);
            printf("], \"out\": [");
            for (int64_t j = 0; j < row; j++)
                printf("%s%.9g", j ? "," : "", (double)out[i * row + j] * 255.0);
            printf("]}");
        }
        printf("]}\n");
        free(img);
        free(out);
    }
    return 0;
}
