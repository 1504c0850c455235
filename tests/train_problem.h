/*
 * train_problem.h — test_train.c's and test_train_config.c's fixture: 2000 images of 1x8x8 in
 * 4 classes (class k: a bright 4x4 quadrant k, every pixel with seeded noise), its seeded
 * train/validation split, a CPU backend of one thread, and the MLP that learns it.
 */
#ifndef CT_TEST_TRAIN_PROBLEM_H
#define CT_TEST_TRAIN_PROBLEM_H

#include "testutil.h"

#include "core/core.h"
#include "nn/model.h"

#include <stdlib.h>

#define N_SAMPLES 2000
#define N_VAL 400
#define N_TRAIN (N_SAMPLES - N_VAL)
#define SIDE 8
#define CLASSES 4
#define MAX_BATCH 64
#define SPEC "flatten,linear(16),relu,linear(4)"
#define EPOCHS 3

/* ------------------------------------------------------------------------------------------ */
/* fixture                                                                                     */

typedef struct {
    ct_backend *b;
    ct_dataset *ds;
    int32_t *train_idx, *val_idx;
} fixture;

static inline uint32_t lcg(uint32_t *s) {
    *s = *s * 1664525u + 1013904223u;
    return *s >> 8;
}

static inline ct_dataset *make_problem(uint32_t seed) {
    uint8_t *images = malloc(N_SAMPLES * SIDE * SIDE), *labels = malloc(N_SAMPLES);
    assert_non_null(images);
    assert_non_null(labels);
    uint32_t s = seed;
    for (int i = 0; i < N_SAMPLES; i++) {
        int k = (int)(lcg(&s) % CLASSES);
        labels[i] = (uint8_t)k;
        int qy = (k / 2) * 4, qx = (k % 2) * 4; /* the bright quadrant */
        for (int y = 0; y < SIDE; y++)
            for (int x = 0; x < SIDE; x++) {
                int bright = y >= qy && y < qy + 4 && x >= qx && x < qx + 4;
                int v = (int)(lcg(&s) % 100) + (bright ? 130 : 0);
                images[i * SIDE * SIDE + y * SIDE + x] = (uint8_t)v;
            }
    }
    ct_dataset *ds = NULL;
    assert_int_equal(ct_dataset_create(N_SAMPLES, 1, SIDE, SIDE, CLASSES, images, labels, &ds), CT_OK);
    free(images);
    free(labels);
    return ds;
}

static inline int setup(void **state) {
    fixture *f = calloc(1, sizeof *f);
    if (!f) return -1;
    /* one thread: fast and robust on a loaded CI machine; test_determinism adds two */
    if (ct_backend_create("cpu", 1, &f->b) != CT_OK) return -1;
    f->ds = make_problem(12345);
    if (ct_split_indices(N_SAMPLES, N_VAL, 42, &f->train_idx, &f->val_idx) != CT_OK) return -1;
    *state = f;
    return 0;
}

static inline int teardown(void **state) {
    fixture *f = *state;
    free(f->train_idx);
    free(f->val_idx);
    ct_dataset_free(f->ds);
    ct_backend_free(f->b);
    free(f);
    return 0;
}

static inline ct_model *make_model_on(ct_backend *b, uint64_t seed) {
    ct_model *m = NULL;
    ct_status s = ct_model_create(b, SPEC, 1, SIDE, SIDE, MAX_BATCH, seed, &m);
    if (s != CT_OK) fail_msg("ct_model_create: %s", ct_last_error());
    assert_int_equal(ct_model_num_classes(m), CLASSES);
    assert_int_equal(ct_model_param_count(m), 64 * 16 + 16 + 16 * 4 + 4);
    return m;
}

static inline ct_model *make_model(fixture *f, uint64_t seed) { return make_model_on(f->b, seed); }

static inline void small_config(ct_train_config *cfg) {
    ct_train_config_default(cfg);
    cfg->phases[0] = (ct_phase){EPOCHS, 0.5f};
    cfg->num_phases = 1;
    cfg->batch_size = 32;
    cfg->eval_batch_size = 64;
    cfg->workers = 2;
}

static inline float *params_of(const ct_model *m) {
    int64_t n = ct_model_param_count(m);
    float *p = malloc((size_t)n * sizeof *p);
    assert_non_null(p);
    assert_int_equal(ct_model_get_params(m, p), CT_OK);
    return p;
}

#endif /* CT_TEST_TRAIN_PROBLEM_H */
