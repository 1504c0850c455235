/*
 * augment.c — bench/augment.sh's ctrain side: the training images of MNIST through
 * ct_augment_images (the CPU backend's gather_u8, as ct_fit augments each batch; one thread)
 * under each augmentation of bench/augment.sh's table, and the images per second.
 * Usage: bench_augment MNIST_DIR [IMAGES]   prints "NAME IMAGES_PER_S" lines
 */
#include "ctrain.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: bench_augment MNIST_DIR [IMAGES]\n");
        return 2;
    }
    ct_dataset *ds = NULL;
    if (ct_dataset_load_mnist(argv[1], "train", &ds) != CT_OK) {
        fprintf(stderr, "bench_augment: %s\n", ct_last_error());
        return 1;
    }
    long n = argc > 2 ? atol(argv[2]) : (long)ct_dataset_count(ds);
    if (n < 1 || n > ct_dataset_count(ds)) n = (long)ct_dataset_count(ds);
    enum { CHUNK = 1000, ROW = 28 * 28 };
    float *out = malloc((size_t)CHUNK * ROW * sizeof *out);
    if (!out) return 1;
    for (int k = 0; k < 11; k++) {
        ct_train_config c;
        ct_train_config_default(&c);
        const char *name = "none";
        switch (k) {
        case 1: name = "crop", c.augment_pad = 2, c.augment_flip = 1; break;
        case 2:
            name = "affine", c.augment_degrees = 10, c.augment_translate = 0.1f;
            c.augment_scale_min = 0.9f, c.augment_scale_max = 1.1f;
            break;
        case 3:
            name = "resized", c.augment_area_min = 0.08f, c.augment_area_max = 1;
            c.augment_ratio_min = 0.75f, c.augment_ratio_max = 4.0f / 3.0f, c.augment_flip = 1;
            break;
        case 4: name = "jitter", c.augment_jitter[0] = c.augment_jitter[1] = 0.4f; break;
        case 5: name = "erase", c.augment_erase_p = 0.5f; break;
        case 6:
            name = "all", c.augment_area_min = 0.08f, c.augment_area_max = 1;
            c.augment_ratio_min = 0.75f, c.augment_ratio_max = 4.0f / 3.0f, c.augment_flip = 1;
            c.augment_jitter[0] = c.augment_jitter[1] = 0.4f, c.augment_erase_p = 0.5f;
            break;
        case 7: name = "trivial", c.augment_ta_bins = 31; break;
        case 8:
            name = "randaugment", c.augment_ra_ops = 2, c.augment_ra_magnitude = 9;
            c.augment_ra_bins = 31;
            break;
        case 9: name = "autoaugment", c.augment_aa_policy = CT_AUTOAUGMENT_IMAGENET; break;
        case 10: name = "augmix", c.augment_augmix_severity = 3, c.augment_bilinear = 1; break;
        }
        double t0 = now_s();
        for (long i = 0; i < n; i += CHUNK) {
            long len = n - i < CHUNK ? n - i : CHUNK;
            if (ct_augment_images(&c, ct_dataset_images(ds) + (size_t)i * ROW, len, 1, 28, 28, 0,
                                  i, out) != CT_OK) {
                fprintf(stderr, "bench_augment: %s\n", ct_last_error());
                return 1;
            }
        }
        printf("%s %.0f\n", name, (double)n / (now_s() - t0));
        fflush(stdout);
    }
    free(out);
    ct_dataset_free(ds);
    return 0;
}
