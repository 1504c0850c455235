/*
 * test_train.c — ct_fit and ct_evaluate on a small synthetic problem, on the CPU backend.
 *
 * The problem: 2000 images of 1x8x8 in 4 classes; class k has a bright 4x4 quadrant k, every
 * pixel carries seeded noise. A 2-layer MLP must learn it in 3 epochs. Around that: callbacks
 * (order, counts, interruption), determinism (bit-identical history and parameters across runs,
 * across worker counts, and between the streamed and resident data paths), bad configurations
 * (errors, not crashes) and evaluation of an untrained model.
 */
#define _GNU_SOURCE
#include "testutil.h"

#include "core/core.h"
#include "nn/model.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static uint32_t lcg(uint32_t *s) {
    *s = *s * 1664525u + 1013904223u;
    return *s >> 8;
}

static ct_dataset *make_problem(uint32_t seed) {
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

static int setup(void **state) {
    fixture *f = calloc(1, sizeof *f);
    if (!f) return -1;
    /* one thread: fast and robust on a loaded CI machine; test_determinism adds two */
    if (ct_backend_create("cpu", 1, &f->b) != CT_OK) return -1;
    f->ds = make_problem(12345);
    if (ct_split_indices(N_SAMPLES, N_VAL, 42, &f->train_idx, &f->val_idx) != CT_OK) return -1;
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    free(f->train_idx);
    free(f->val_idx);
    ct_dataset_free(f->ds);
    ct_backend_free(f->b);
    free(f);
    return 0;
}

static ct_model *make_model_on(ct_backend *b, uint64_t seed) {
    ct_model *m = NULL;
    ct_status s = ct_model_create(b, SPEC, 1, SIDE, SIDE, MAX_BATCH, seed, &m);
    if (s != CT_OK) fail_msg("ct_model_create: %s", ct_last_error());
    assert_int_equal(ct_model_num_classes(m), CLASSES);
    assert_int_equal(ct_model_param_count(m), 64 * 16 + 16 + 16 * 4 + 4);
    return m;
}

static ct_model *make_model(fixture *f, uint64_t seed) { return make_model_on(f->b, seed); }

static void small_config(ct_train_config *cfg) {
    ct_train_config_default(cfg);
    cfg->phases[0] = (ct_phase){EPOCHS, 0.5f};
    cfg->num_phases = 1;
    cfg->batch_size = 32;
    cfg->eval_batch_size = 64;
    cfg->workers = 2;
}

static float *params_of(const ct_model *m) {
    int64_t n = ct_model_param_count(m);
    float *p = malloc((size_t)n * sizeof *p);
    assert_non_null(p);
    assert_int_equal(ct_model_get_params(m, p), CT_OK);
    return p;
}

/* ------------------------------------------------------------------------------------------ */
/* callbacks                                                                                   */

typedef struct {
    int epochs_seen;
    int last_epoch;
    ct_epoch_result results[8];
    int64_t steps[8];      /* on_step calls per epoch */
    int64_t last_done[8], last_total[8], last_samples[8];
    int order_ok;          /* done counts 1, 2, ... within each epoch, epochs in order */
    double last_elapsed;
    int stop_at_epoch;     /* on_step returns 1 at (stop_at_epoch, stop_at_step) */
    int64_t stop_at_step;
    int stop_after_epoch;  /* on_epoch returns 1 after this epoch (-1: never) */
} recorder;

static void recorder_init(recorder *r) {
    memset(r, 0, sizeof *r);
    r->last_epoch = -1;
    r->order_ok = 1;
    r->stop_at_epoch = -1;
    r->stop_after_epoch = -1;
}

static int on_step(void *user, int epoch, int64_t done, int64_t total, int64_t samples,
                   double elapsed_s) {
    recorder *r = user;
    if (epoch < 0 || epoch >= 8) { r->order_ok = 0; return 1; }
    if (done != r->steps[epoch] + 1 || done > total || samples <= 0 || elapsed_s < 0.0)
        r->order_ok = 0;
    if (epoch != r->epochs_seen) r->order_ok = 0; /* steps come before their epoch's end */
    if (done > 1 && elapsed_s < r->last_elapsed) r->order_ok = 0;
    r->last_elapsed = elapsed_s;
    r->steps[epoch]++;
    r->last_done[epoch] = done;
    r->last_total[epoch] = total;
    r->last_samples[epoch] = samples;
    return epoch == r->stop_at_epoch && done == r->stop_at_step;
}

static int on_epoch(void *user, const ct_epoch_result *res) {
    recorder *r = user;
    if (res->epoch != r->last_epoch + 1) r->order_ok = 0;
    r->last_epoch = res->epoch;
    if (r->epochs_seen < 8) r->results[r->epochs_seen] = *res;
    r->epochs_seen++;
    return res->epoch == r->stop_after_epoch;
}

/* ------------------------------------------------------------------------------------------ */
/* tests                                                                                       */

static void test_fit_learns(void **state) {
    fixture *f = *state;
    ct_model *m = make_model(f, 1);
    ct_train_config cfg;
    small_config(&cfg);
    recorder rec;
    recorder_init(&rec);
    ct_callbacks cb = {on_step, on_epoch, &rec};
    ct_epoch_result hist[EPOCHS];
    memset(hist, 0xff, sizeof hist);
    ct_status s = ct_fit(m, f->ds, f->train_idx, N_TRAIN, f->val_idx, N_VAL, &cfg, &cb, hist);
    if (s != CT_OK) fail_msg("ct_fit: %s", ct_last_error());

    assert_true(rec.order_ok);
    assert_int_equal(rec.epochs_seen, EPOCHS);
    int64_t total = (N_TRAIN + 31) / 32;
    for (int e = 0; e < EPOCHS; e++) {
        /* on_step: once per batch, ending with done == total */
        assert_int_equal(rec.steps[e], total);
        assert_int_equal(rec.last_done[e], total);
        assert_int_equal(rec.last_total[e], total);
        assert_int_equal(rec.last_samples[e], N_TRAIN);
        /* on_epoch received what history holds */
        assert_int_equal(rec.results[e].epoch, e);
        const ct_epoch_result *got = &rec.results[e];
        assert_int_equal(got->phase, hist[e].phase);
        assert_true(got->lr == hist[e].lr);
        assert_memory_equal(&got->train_loss, &hist[e].train_loss, sizeof(double));
        assert_memory_equal(&got->train_acc, &hist[e].train_acc, sizeof(double));
        assert_memory_equal(&got->val.loss, &hist[e].val.loss, sizeof(double));
        assert_memory_equal(&got->val.accuracy, &hist[e].val.accuracy, sizeof(double));
        assert_int_equal(got->val.count, hist[e].val.count);
        assert_memory_equal(&got->train_s, &hist[e].train_s, sizeof(double));
        assert_int_equal(hist[e].epoch, e);
        assert_int_equal(hist[e].phase, 0);
        assert_true(hist[e].lr == 0.5f);
        assert_int_equal(hist[e].val.count, N_VAL);
        assert_true(isfinite(hist[e].train_loss) && hist[e].train_loss > 0.0);
        assert_true(hist[e].train_acc >= 0.0 && hist[e].train_acc <= 1.0);
        assert_true(isfinite(hist[e].val.loss) && hist[e].val.loss >= 0.0);
        assert_true(hist[e].val.accuracy >= 0.0 && hist[e].val.accuracy <= 1.0);
        assert_true(hist[e].train_s >= 0.0);
        assert_true(hist[e].samples_per_s >= 0.0);
        printf("epoch %d: train loss %.4f acc %.4f, val loss %.4f acc %.4f\n", e,
               hist[e].train_loss, hist[e].train_acc, hist[e].val.loss, hist[e].val.accuracy);
    }
    /* it learned */
    assert_true(hist[EPOCHS - 1].val.accuracy > 0.9);
    assert_true(hist[EPOCHS - 1].val.loss < 0.5 * log(CLASSES));
    assert_true(hist[EPOCHS - 1].train_loss < hist[0].train_loss);

    /* ct_evaluate on the validation part agrees with fit's last validation */
    ct_eval_result ev;
    assert_int_equal(ct_evaluate(m, f->ds, f->val_idx, N_VAL, 64, &ev), CT_OK);
    assert_int_equal(ev.count, N_VAL);
    assert_true(fabs(ev.loss - hist[EPOCHS - 1].val.loss) < 1e-9);
    assert_true(fabs(ev.accuracy - hist[EPOCHS - 1].val.accuracy) < 1e-12);
    /* with another batch size, the same up to float summation order */
    assert_int_equal(ct_evaluate(m, f->ds, f->val_idx, N_VAL, 7, &ev), CT_OK);
    assert_true(fabs(ev.loss - hist[EPOCHS - 1].val.loss) < 1e-4);
    assert_true(fabs(ev.accuracy - hist[EPOCHS - 1].val.accuracy) < 1e-12);
    ct_model_free(m);
}

static void test_fit_without_callbacks_or_history(void **state) {
    fixture *f = *state;
    ct_model *m = make_model(f, 2);
    ct_train_config cfg;
    small_config(&cfg);
    cfg.phases[0].epochs = 1;
    assert_int_equal(ct_fit(m, f->ds, f->train_idx, N_TRAIN, f->val_idx, N_VAL, &cfg, NULL, NULL), CT_OK);
    /* no validation part, several phases (one of them empty) */
    cfg.phases[0] = (ct_phase){1, 0.5f};
    cfg.phases[1] = (ct_phase){0, 0.2f};
    cfg.phases[2] = (ct_phase){1, 0.1f};
    cfg.num_phases = 3;
    ct_epoch_result hist[2];
    assert_int_equal(ct_fit(m, f->ds, f->train_idx, N_TRAIN, NULL, 0, &cfg, NULL, hist), CT_OK);
    assert_int_equal(hist[0].phase, 0);
    assert_int_equal(hist[1].epoch, 1);
    assert_int_equal(hist[1].phase, 2);
    assert_true(hist[1].lr == 0.1f);
    assert_int_equal(hist[1].val.count, 0);
    ct_model_free(m);
}

static void test_interrupt(void **state) {
    fixture *f = *state;
    ct_train_config cfg;
    small_config(&cfg);
    const int workers[] = {0, 2};
    const int on_device[] = {0, 1};
    for (int w = 0; w < 2; w++) {
        for (int d = 0; d < 2; d++) {
            cfg.workers = workers[w];
            cfg.data_on_device = on_device[d];
            ct_model *m = make_model(f, 3);
            /* on_step stops in the middle of epoch 1 */
            recorder rec;
            recorder_init(&rec);
            rec.stop_at_epoch = 1;
            rec.stop_at_step = 5;
            ct_callbacks cb = {on_step, on_epoch, &rec};
            ct_epoch_result hist[EPOCHS];
            ct_clear_error();
            assert_int_equal(ct_fit(m, f->ds, f->train_idx, N_TRAIN, f->val_idx, N_VAL, &cfg, &cb, hist),
                             CT_ERR_INTERRUPTED);
            assert_true(ct_last_error()[0] != 0);
            assert_int_equal(rec.epochs_seen, 1);
            assert_int_equal(rec.steps[1], 5);
            assert_int_equal(rec.steps[2], 0);
            assert_int_equal(hist[0].epoch, 0);

            /* on_epoch stops after epoch 0 */
            recorder_init(&rec);
            rec.stop_after_epoch = 0;
            assert_int_equal(ct_fit(m, f->ds, f->train_idx, N_TRAIN, f->val_idx, N_VAL, &cfg, &cb, hist),
                             CT_ERR_INTERRUPTED);
            assert_int_equal(rec.epochs_seen, 1);
            assert_int_equal(rec.steps[1], 0);

            /* on_step stops at the last step of the first epoch */
            recorder_init(&rec);
            rec.stop_at_epoch = 0;
            rec.stop_at_step = (N_TRAIN + 31) / 32;
            assert_int_equal(ct_fit(m, f->ds, f->train_idx, N_TRAIN, f->val_idx, N_VAL, &cfg, &cb, hist),
                             CT_ERR_INTERRUPTED);
            assert_int_equal(rec.epochs_seen, 0);

            /* the model can still be trained and evaluated afterwards */
            cfg.phases[0].epochs = 1;
            assert_int_equal(ct_fit(m, f->ds, f->train_idx, N_TRAIN, f->val_idx, N_VAL, &cfg, NULL, hist),
                             CT_OK);
            cfg.phases[0].epochs = EPOCHS;
            ct_eval_result ev;
            assert_int_equal(ct_evaluate(m, f->ds, NULL, 0, 64, &ev), CT_OK);
            assert_int_equal(ev.count, N_SAMPLES);
            ct_model_free(m);
        }
    }
}

typedef struct {
    ct_epoch_result hist[EPOCHS];
    float *params;
} run_result;

static run_result run_fit(fixture *f, ct_backend *b, int workers, int data_on_device,
                          int prefetch) {
    ct_train_config cfg;
    small_config(&cfg);
    cfg.workers = workers;
    cfg.data_on_device = data_on_device;
    cfg.prefetch = prefetch;
    ct_model *m = make_model_on(b, 7);
    run_result r;
    memset(&r, 0, sizeof r);
    ct_status s = ct_fit(m, f->ds, f->train_idx, N_TRAIN, f->val_idx, N_VAL, &cfg, NULL, r.hist);
    if (s != CT_OK) fail_msg("ct_fit (workers %d, data_on_device %d): %s", workers, data_on_device,
                             ct_last_error());
    r.params = params_of(m);
    ct_model_free(m);
    return r;
}

static void assert_same_run(const run_result *a, const run_result *b, int64_t n_params,
                            const char *what) {
    for (int e = 0; e < EPOCHS; e++) {
        const ct_epoch_result *x = &a->hist[e], *y = &b->hist[e];
        if (memcmp(&x->train_loss, &y->train_loss, sizeof x->train_loss) != 0 ||
            memcmp(&x->train_acc, &y->train_acc, sizeof x->train_acc) != 0 ||
            memcmp(&x->val.loss, &y->val.loss, sizeof x->val.loss) != 0 ||
            memcmp(&x->val.accuracy, &y->val.accuracy, sizeof x->val.accuracy) != 0 ||
            x->val.count != y->val.count)
            fail_msg("%s: epoch %d differs: train loss %.17g vs %.17g, val loss %.17g vs %.17g",
                     what, e, x->train_loss, y->train_loss, x->val.loss, y->val.loss);
    }
    if (memcmp(a->params, b->params, (size_t)n_params * sizeof(float)) != 0) {
        for (int64_t i = 0; i < n_params; i++)
            if (memcmp(&a->params[i], &b->params[i], sizeof(float)) != 0)
                fail_msg("%s: parameter %lld differs: %.9g vs %.9g", what, (long long)i,
                         a->params[i], b->params[i]);
    }
}

static void test_determinism(void **state) {
    fixture *f = *state;
    ct_model *probe = make_model(f, 7);
    int64_t n_params = ct_model_param_count(probe);
    ct_model_free(probe);

    run_result ref = run_fit(f, f->b, 2, 0, 2);
    run_result again = run_fit(f, f->b, 2, 0, 2);
    assert_same_run(&ref, &again, n_params, "same seed, second run");
    run_result w0 = run_fit(f, f->b, 0, 0, 2);
    assert_same_run(&ref, &w0, n_params, "workers 0 vs 2");
    run_result w3 = run_fit(f, f->b, 3, 0, 4);
    assert_same_run(&ref, &w3, n_params, "workers 3 prefetch 4 vs workers 2");
    run_result resident = run_fit(f, f->b, 2, 1, 2);
    assert_same_run(&ref, &resident, n_params, "data_on_device 1 vs 0");
    run_result autopath = run_fit(f, f->b, 2, -1, 2);
    assert_same_run(&ref, &autopath, n_params, "data_on_device -1 vs 0");

    /* with two CPU threads (the batch split in shards): the same thread count gives the same
     * run, whatever the loader and data path */
    ct_backend *b2 = NULL;
    assert_int_equal(ct_backend_create("cpu", 2, &b2), CT_OK);
    run_result t2 = run_fit(f, b2, 2, 0, 2), t2again = run_fit(f, b2, 0, 0, 2),
               t2resident = run_fit(f, b2, 2, 1, 2);
    assert_same_run(&t2, &t2again, n_params, "2 threads: workers 0 vs 2");
    assert_same_run(&t2, &t2resident, n_params, "2 threads: data_on_device 1 vs 0");
    /* and agrees with one thread to float tolerance */
    for (int e = 0; e < EPOCHS; e++)
        assert_true(fabs(t2.hist[e].train_loss - ref.hist[e].train_loss) <
                    1e-3 * (1.0 + ref.hist[e].train_loss));
    free(t2.params); free(t2again.params); free(t2resident.params);
    ct_backend_free(b2);

    /* another shuffling seed gives another training run */
    ct_train_config cfg;
    small_config(&cfg);
    cfg.seed = 43;
    ct_model *m = make_model(f, 7);
    ct_epoch_result hist[EPOCHS];
    assert_int_equal(ct_fit(m, f->ds, f->train_idx, N_TRAIN, f->val_idx, N_VAL, &cfg, NULL, hist), CT_OK);
    assert_true(hist[0].train_loss != ref.hist[0].train_loss);
    ct_model_free(m);

    /* another init seed gives other parameters */
    ct_model *m1 = make_model(f, 7), *m2 = make_model(f, 8);
    float *p1 = params_of(m1), *p2 = params_of(m2);
    assert_true(memcmp(p1, p2, (size_t)n_params * sizeof *p1) != 0);
    free(p1);
    free(p2);
    ct_model_free(m1);
    ct_model_free(m2);

    free(ref.params); free(again.params); free(w0.params); free(w3.params);
    free(resident.params); free(autopath.params);
}

/* Interrupting a run and resuming it from ct_model_fit_position gives the uninterrupted run:
 * in the same model, and in a fresh model given the parameters and optimizer state (what a
 * checkpoint holds). With momentum, so that the optimizer state matters. */
static void test_resume_exact(void **state) {
    fixture *f = *state;
    ct_train_config cfg;
    small_config(&cfg);
    cfg.momentum = 0.9f;
    cfg.phases[0].lr = 0.05f;
    /* the second path also augments: each image's warp, crop and flip follow its place in the
     * epoch */
    const struct { int workers, on_device, augment; } paths[] = {{2, 0, 0}, {0, 1, 1}};
    for (int pi = 0; pi < 2; pi++) {
        cfg.workers = paths[pi].workers;
        cfg.data_on_device = paths[pi].on_device;
        cfg.augment_pad = cfg.augment_flip = paths[pi].augment;
        cfg.augment_degrees = paths[pi].augment ? 12.0f : 0.0f; /* and a warp */
        cfg.augment_shear = paths[pi].augment ? 8.0f : 0.0f;
        memset(&cfg.resume, 0, sizeof cfg.resume);
        ct_model *ref = make_model(f, 7);
        int64_t n_params = ct_model_param_count(ref);
        ct_epoch_result ref_hist[EPOCHS];
        assert_int_equal(ct_fit(ref, f->ds, f->train_idx, N_TRAIN, f->val_idx, N_VAL, &cfg, NULL, ref_hist),
                         CT_OK);
        ct_fit_position end = ct_model_fit_position(ref);
        assert_int_equal(end.epoch, EPOCHS);
        assert_int_equal(end.batch, 0);
        float *want = params_of(ref);

        /* stop in epoch 1 after its 5th step */
        ct_model *m = make_model(f, 7);
        recorder rec;
        recorder_init(&rec);
        rec.stop_at_epoch = 1;
        rec.stop_at_step = 5;
        ct_callbacks cb = {on_step, on_epoch, &rec};
        ct_epoch_result hist[EPOCHS];
        assert_int_equal(ct_fit(m, f->ds, f->train_idx, N_TRAIN, f->val_idx, N_VAL, &cfg, &cb, hist),
                         CT_ERR_INTERRUPTED);
        ct_fit_position pos = ct_model_fit_position(m);
        assert_int_equal(pos.epoch, 1);
        assert_int_equal(pos.batch, 5);
        assert_true(pos.loss_sum > 0.0 && pos.correct >= 0.0 && pos.correct <= 5 * 32);
        assert_true(pos.seconds >= 0.0);

        /* a checkpoint of that point, restored into a fresh model */
        float *ckpt = params_of(m);
        int64_t n_state = ct_model_optimizer_state_count(m), steps = -1;
        assert_int_equal(n_state, n_params);
        float *opt_state = malloc((size_t)n_state * sizeof *opt_state);
        assert_non_null(opt_state);
        assert_int_equal(ct_model_get_optimizer_state(m, opt_state, &steps), CT_OK);
        assert_int_equal(steps, (N_TRAIN + 31) / 32 + 5);

        /* resume in the same model */
        cfg.resume = pos;
        recorder_init(&rec);
        rec.last_epoch = 0;
        rec.epochs_seen = 1;
        rec.steps[1] = 5;
        assert_int_equal(ct_fit(m, f->ds, f->train_idx, N_TRAIN, f->val_idx, N_VAL, &cfg, &cb, hist),
                         CT_OK);
        assert_true(rec.order_ok);
        assert_int_equal(rec.steps[1], (N_TRAIN + 31) / 32); /* steps 6.. of epoch 1 */
        assert_int_equal(rec.epochs_seen, EPOCHS);
        float *got = params_of(m);
        if (memcmp(got, want, (size_t)n_params * sizeof *got) != 0)
            fail_msg("workers %d data_on_device %d: resumed parameters differ from the "
                     "uninterrupted run", cfg.workers, cfg.data_on_device);
        for (int e = 1; e < EPOCHS; e++) {
            assert_true(fabs(hist[e].train_loss - ref_hist[e].train_loss) <=
                        1e-12 * ref_hist[e].train_loss);
            assert_true(hist[e].train_acc == ref_hist[e].train_acc);
            assert_memory_equal(&hist[e].val.loss, &ref_hist[e].val.loss, sizeof(double));
        }
        free(got);

        /* resume in a fresh model from the checkpoint */
        ct_model *m2 = make_model(f, 99); /* other init: all of it is overwritten */
        assert_int_equal(ct_model_set_params(m2, ckpt), CT_OK);
        assert_int_equal(ct_model_set_optimizer_state(m2, opt_state, n_state, steps), CT_OK);
        assert_int_equal(ct_fit(m2, f->ds, f->train_idx, N_TRAIN, f->val_idx, N_VAL, &cfg, NULL, hist),
                         CT_OK);
        got = params_of(m2);
        if (memcmp(got, want, (size_t)n_params * sizeof *got) != 0)
            fail_msg("workers %d data_on_device %d: parameters resumed from a checkpoint differ "
                     "from the uninterrupted run", cfg.workers, cfg.data_on_device);
        assert_true(fabs(hist[EPOCHS - 1].train_loss - ref_hist[EPOCHS - 1].train_loss) <=
                    1e-12 * ref_hist[EPOCHS - 1].train_loss);
        free(got);

        /* resuming at the end of the run does nothing */
        cfg.resume = end;
        assert_int_equal(ct_fit(ref, f->ds, f->train_idx, N_TRAIN, f->val_idx, N_VAL, &cfg, NULL, hist),
                         CT_OK);
        got = params_of(ref);
        assert_memory_equal(got, want, (size_t)n_params * sizeof *got);
        free(got);

        /* a stop after an epoch's last step (before its validation) resumes from there */
        memset(&cfg.resume, 0, sizeof cfg.resume);
        ct_model *m3 = make_model(f, 7);
        recorder_init(&rec);
        rec.stop_at_epoch = 1;
        rec.stop_at_step = (N_TRAIN + 31) / 32;
        assert_int_equal(ct_fit(m3, f->ds, f->train_idx, N_TRAIN, f->val_idx, N_VAL, &cfg, &cb, hist),
                         CT_ERR_INTERRUPTED);
        cfg.resume = ct_model_fit_position(m3);
        assert_int_equal(cfg.resume.epoch, 1);
        assert_int_equal(cfg.resume.batch, (N_TRAIN + 31) / 32);
        assert_int_equal(ct_fit(m3, f->ds, f->train_idx, N_TRAIN, f->val_idx, N_VAL, &cfg, NULL, hist),
                         CT_OK);
        got = params_of(m3);
        if (memcmp(got, want, (size_t)n_params * sizeof *got) != 0)
            fail_msg("workers %d data_on_device %d: resumed after an epoch's last step, the "
                     "parameters differ from the uninterrupted run", cfg.workers,
                     cfg.data_on_device);
        assert_memory_equal(&hist[1].val.loss, &ref_hist[1].val.loss, sizeof(double));
        assert_true(fabs(hist[1].train_loss - ref_hist[1].train_loss) <=
                    1e-12 * ref_hist[1].train_loss);
        free(got);
        ct_model_free(m3);

        /* positions outside the run are errors */
        const ct_fit_position bad[] = {
            {.epoch = EPOCHS + 1}, {.epoch = -1}, {.epoch = 0, .batch = -1},
            {.epoch = 1, .batch = (N_TRAIN + 31) / 32 + 1}, {.epoch = EPOCHS, .batch = 1},
        };
        for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
            cfg.resume = bad[k];
            assert_int_equal(ct_fit(ref, f->ds, f->train_idx, N_TRAIN, f->val_idx, N_VAL, &cfg, NULL, hist),
                             CT_ERR_INVALID);
        }
        memset(&cfg.resume, 0, sizeof cfg.resume);

        free(want);
        free(ckpt);
        free(opt_state);
        ct_model_free(m2);
        ct_model_free(m);
        ct_model_free(ref);
    }
}

static void test_bad_configs(void **state) {
    fixture *f = *state;
    ct_model *m = make_model(f, 4);
    float *before = params_of(m);
    ct_train_config cfg;
    ct_epoch_result hist[CT_MAX_PHASES];
    /* ct_fit_check refuses what ct_fit refuses, with the same message, and passes the rest */
    char checked[512];
#define EXPECT_INVALID(what)                                                                     \
    do {                                                                                         \
        ct_clear_error();                                                                        \
        ct_status c_ = ct_fit_check(m, f->ds, f->train_idx, N_TRAIN, f->val_idx, N_VAL, &cfg,    \
                                    hist);                                                       \
        snprintf(checked, sizeof checked, "%s", ct_last_error());                                \
        ct_clear_error();                                                                        \
        ct_status s_ = ct_fit(m, f->ds, f->train_idx, N_TRAIN, f->val_idx, N_VAL, &cfg, NULL,    \
                              hist);                                                             \
        if (s_ != CT_ERR_INVALID) fail_msg("%s: got status %d, expected CT_ERR_INVALID", what, s_); \
        if (ct_last_error()[0] == 0) fail_msg("%s: no error message", what);                     \
        if (c_ != s_ || strcmp(checked, ct_last_error()) != 0)                                   \
            fail_msg("%s: ct_fit_check said %d \"%s\", ct_fit %d \"%s\"", what, c_, checked, s_, \
                     ct_last_error());                                                           \
    } while (0)

    small_config(&cfg);
    assert_int_equal(ct_fit_check(m, f->ds, f->train_idx, N_TRAIN, f->val_idx, N_VAL, &cfg, hist),
                     CT_OK);
    cfg.batch_size = 1000; /* above max_batch, clamped to the 32 samples, as ct_fit does */
    cfg.eval_batch_size = 1000;
    assert_int_equal(ct_fit_check(m, f->ds, f->train_idx, 32, f->val_idx, 16, &cfg, hist), CT_OK);
    assert_int_equal(ct_fit_check(m, f->ds, f->train_idx, N_TRAIN, f->val_idx, N_VAL, &cfg, hist),
                     CT_ERR_INVALID);
    assert_int_equal(ct_fit_check(NULL, f->ds, f->train_idx, N_TRAIN, f->val_idx, N_VAL, &cfg,
                                  hist), CT_ERR_INVALID);

    small_config(&cfg); cfg.batch_size = 0; EXPECT_INVALID("batch 0");
    small_config(&cfg); cfg.batch_size = -4; EXPECT_INVALID("batch -4");
    small_config(&cfg); cfg.batch_size = MAX_BATCH + 1; EXPECT_INVALID("batch > max_batch");
    small_config(&cfg); cfg.batch_size = MAX_BATCH + 1; cfg.micro_batch = MAX_BATCH + 1;
    EXPECT_INVALID("micro-batch > max_batch");
    small_config(&cfg); cfg.micro_batch = -1; EXPECT_INVALID("micro-batch -1");
    small_config(&cfg); cfg.eval_batch_size = 0; EXPECT_INVALID("eval batch 0");
    small_config(&cfg); cfg.phases[0].lr = 0.0f; EXPECT_INVALID("lr 0");
    small_config(&cfg); cfg.phases[0].lr = -0.1f; EXPECT_INVALID("lr < 0");
    small_config(&cfg); cfg.phases[0].lr = NAN; EXPECT_INVALID("lr NaN");
    small_config(&cfg); cfg.num_phases = 0; EXPECT_INVALID("zero phases");
    small_config(&cfg); cfg.num_phases = -1; EXPECT_INVALID("negative phases");
    small_config(&cfg); cfg.num_phases = CT_MAX_PHASES + 1; EXPECT_INVALID("too many phases");
    small_config(&cfg); cfg.phases[0].epochs = -1; EXPECT_INVALID("negative epochs");
    small_config(&cfg); cfg.workers = -1; EXPECT_INVALID("workers -1");
    small_config(&cfg); cfg.workers = 100000; EXPECT_INVALID("workers 100000");
    small_config(&cfg); cfg.augment_pad = -1; EXPECT_INVALID("augment pad -1");
    small_config(&cfg); cfg.augment_pad = CT_MAX_AUGMENT_PAD + 1; EXPECT_INVALID("augment pad too big");
    small_config(&cfg); cfg.augment_flip = 2; EXPECT_INVALID("augment flip 2");
    small_config(&cfg); cfg.augment_vflip = -1; EXPECT_INVALID("augment vflip -1");
    small_config(&cfg); cfg.augment_degrees = 181; EXPECT_INVALID("rotation above 180");
    small_config(&cfg); cfg.augment_degrees = NAN; EXPECT_INVALID("rotation NaN");
    small_config(&cfg); cfg.augment_translate = 1.01f; EXPECT_INVALID("translation above 1");
    small_config(&cfg); cfg.augment_scale_max = 1.1f; EXPECT_INVALID("scale range without min");
    small_config(&cfg); cfg.augment_scale_min = 1.2f, cfg.augment_scale_max = 1.1f;
    EXPECT_INVALID("scale min > max");
    small_config(&cfg); cfg.augment_scale_min = 1, cfg.augment_scale_max = 11;
    EXPECT_INVALID("scale above 10");
    small_config(&cfg); cfg.augment_shear = 89.5f; EXPECT_INVALID("shear above 89");
    small_config(&cfg); cfg.augment_bilinear = 2; EXPECT_INVALID("interpolation 2");
    small_config(&cfg); cfg.augment_bilinear = 1; EXPECT_INVALID("bilinear without a warp");
    small_config(&cfg); cfg.augment_area_min = 0.1f, cfg.augment_area_max = 1;
    EXPECT_INVALID("resized crop without its ratios");
    small_config(&cfg); cfg.augment_ratio_min = 0.5f, cfg.augment_ratio_max = 2;
    EXPECT_INVALID("ratios without a resized crop");
    small_config(&cfg); cfg.augment_area_min = 0.5f, cfg.augment_area_max = 0.4f,
    cfg.augment_ratio_min = 0.5f, cfg.augment_ratio_max = 2; EXPECT_INVALID("area min > max");
    small_config(&cfg); cfg.augment_area_min = 0.5f, cfg.augment_area_max = 1.5f,
    cfg.augment_ratio_min = 0.5f, cfg.augment_ratio_max = 2; EXPECT_INVALID("area above 1");
    small_config(&cfg); cfg.augment_area_min = 0.5f, cfg.augment_area_max = 1,
    cfg.augment_ratio_min = 0.5f, cfg.augment_ratio_max = 101; EXPECT_INVALID("ratio above 100");
    small_config(&cfg); cfg.augment_area_min = 0.5f, cfg.augment_area_max = 1,
    cfg.augment_ratio_min = NAN, cfg.augment_ratio_max = 2; EXPECT_INVALID("ratio NaN");
    small_config(&cfg); cfg.augment_area_min = 0.5f, cfg.augment_area_max = 1,
    cfg.augment_ratio_min = 0.5f, cfg.augment_ratio_max = 2, cfg.augment_pad = 2;
    EXPECT_INVALID("resized crop and padded crop");
    small_config(&cfg); cfg.augment_area_min = 0.5f, cfg.augment_area_max = 1,
    cfg.augment_ratio_min = 0.5f, cfg.augment_ratio_max = 2, cfg.augment_degrees = 5;
    EXPECT_INVALID("resized crop and rotation");
    small_config(&cfg); cfg.augment_area_min = 0.5f, cfg.augment_area_max = 1,
    cfg.augment_ratio_min = 0.005f, cfg.augment_ratio_max = 2; EXPECT_INVALID("ratio below 1/100");
    small_config(&cfg); cfg.augment_erase_p = 1.5f; EXPECT_INVALID("erasing chance above 1");
    small_config(&cfg); cfg.augment_erase_p = NAN; EXPECT_INVALID("erasing chance NaN");
    small_config(&cfg); cfg.augment_erase_p = 0.5f, cfg.augment_erase_fill[2] = INFINITY;
    EXPECT_INVALID("erasing fill infinite");
    small_config(&cfg); cfg.augment_erase_fill[0] = NAN; EXPECT_INVALID("erasing fill NaN");
    small_config(&cfg); cfg.augment_jitter[0] = -0.1f; EXPECT_INVALID("brightness < 0");
    small_config(&cfg); cfg.augment_ta_bins = 1; EXPECT_INVALID("TrivialAugmentWide of 1 bin");
    small_config(&cfg); cfg.augment_ta_bins = CT_MAX_TA_BINS + 1;
    EXPECT_INVALID("TrivialAugmentWide of too many bins");
    small_config(&cfg); cfg.augment_ta_bins = 31, cfg.augment_jitter[1] = 0.2f;
    EXPECT_INVALID("TrivialAugmentWide with colour jitter");
    small_config(&cfg); cfg.augment_ra_ops = CT_MAX_RA_OPS + 1, cfg.augment_ra_bins = 31;
    EXPECT_INVALID("RandAugment of too many ops");
    small_config(&cfg); cfg.augment_ra_ops = 2, cfg.augment_ra_bins = 1;
    EXPECT_INVALID("RandAugment of 1 bin");
    small_config(&cfg); cfg.augment_ra_ops = 2, cfg.augment_ra_bins = 10;
    cfg.augment_ra_magnitude = 10; EXPECT_INVALID("RandAugment's magnitude past its bins");
    small_config(&cfg); cfg.augment_ra_ops = 2, cfg.augment_ra_bins = 10;
    cfg.augment_ra_magnitude = -1; EXPECT_INVALID("RandAugment's magnitude below 0");
    small_config(&cfg); cfg.augment_aa_policy = CT_AUTOAUGMENT_SVHN + 1;
    EXPECT_INVALID("AutoAugment's policy unknown");
    small_config(&cfg); cfg.augment_aa_policy = CT_AUTOAUGMENT_CIFAR10, cfg.augment_ta_bins = 31;
    EXPECT_INVALID("AutoAugment with TrivialAugmentWide");
    small_config(&cfg); cfg.augment_ra_ops = 2, cfg.augment_ra_bins = 31;
    cfg.augment_aa_policy = CT_AUTOAUGMENT_IMAGENET; EXPECT_INVALID("AutoAugment with RandAugment");
    small_config(&cfg); cfg.augment_aa_policy = CT_AUTOAUGMENT_IMAGENET;
    cfg.augment_jitter[0] = 0.2f; EXPECT_INVALID("AutoAugment with colour jitter");
    small_config(&cfg); cfg.augment_augmix_severity = 11; EXPECT_INVALID("AugMix's severity 11");
    small_config(&cfg); cfg.augment_augmix_severity = 3, cfg.augment_augmix_width = 5;
    EXPECT_INVALID("AugMix of 5 chains");
    small_config(&cfg); cfg.augment_augmix_severity = 3, cfg.augment_augmix_depth = 0;
    EXPECT_INVALID("AugMix's chains of 0 ops");
    small_config(&cfg); cfg.augment_augmix_severity = 3, cfg.augment_augmix_alpha = 0.0f;
    EXPECT_INVALID("AugMix's alpha 0");
    small_config(&cfg); cfg.augment_augmix_severity = 3, cfg.augment_augmix_alpha = NAN;
    EXPECT_INVALID("AugMix's alpha NaN");
    small_config(&cfg); cfg.augment_augmix_severity = 3, cfg.augment_ra_ops = 2;
    EXPECT_INVALID("AugMix with RandAugment");
    small_config(&cfg); cfg.augment_grey_p = 1.5f; EXPECT_INVALID("greyscale chance above 1");
    small_config(&cfg); cfg.augment_grey_p = NAN; EXPECT_INVALID("greyscale chance NaN");
    small_config(&cfg); cfg.augment_grey_p = 0.2f, cfg.augment_ta_bins = 31;
    EXPECT_INVALID("greyscale with TrivialAugmentWide");
    small_config(&cfg); cfg.augment_jitter[2] = 11; EXPECT_INVALID("saturation above 10");
    small_config(&cfg); cfg.augment_jitter[3] = 0.6f; EXPECT_INVALID("hue above 0.5");
    small_config(&cfg); cfg.augment_jitter[1] = NAN; EXPECT_INVALID("contrast NaN");
    small_config(&cfg); cfg.phases[0].lr = INFINITY; EXPECT_INVALID("lr inf");
    small_config(&cfg); cfg.n_class_weights = CLASSES - 1; EXPECT_INVALID("3 class weights");
    small_config(&cfg); cfg.n_class_weights = CT_MAX_CLASSES + 1; EXPECT_INVALID("257 class weights");
    small_config(&cfg); cfg.n_class_weights = CLASSES, cfg.class_weights[2] = -0.5f;
    EXPECT_INVALID("a class weight < 0");
    small_config(&cfg); cfg.n_class_weights = CLASSES, cfg.class_weights[0] = NAN;
    EXPECT_INVALID("a class weight NaN");
    small_config(&cfg); /* (their sum overflowed an int) */
    cfg.phases[0] = cfg.phases[1] = (ct_phase){INT_MAX, 0.1f};
    cfg.num_phases = 2;
    EXPECT_INVALID("2 x INT_MAX epochs");
#undef EXPECT_INVALID
    /* indices outside the dataset, or none: refused on both data paths before any step (the
     * resident path gathered them on the device: a crash on the CPU) */
    int32_t bad_idx[N_TRAIN];
    memcpy(bad_idx, f->train_idx, sizeof bad_idx);
    bad_idx[N_TRAIN / 2] = 99999;
    for (int resident = 0; resident <= 1; resident++) {
        small_config(&cfg);
        cfg.data_on_device = resident;
        assert_int_equal(ct_fit(m, f->ds, bad_idx, N_TRAIN, f->val_idx, N_VAL, &cfg, NULL, hist),
                         CT_ERR_INVALID);
        assert_non_null(strstr(ct_last_error(), "sample index 99999"));
        assert_int_equal(ct_fit(m, f->ds, f->train_idx, N_TRAIN, bad_idx + N_TRAIN / 2 - 1, 2,
                                &cfg, NULL, hist), CT_ERR_INVALID);
        assert_non_null(strstr(ct_last_error(), "validation: sample index 99999"));
    }
    small_config(&cfg);
    assert_int_equal(ct_fit(m, f->ds, NULL, N_TRAIN, f->val_idx, N_VAL, &cfg, NULL, hist),
                     CT_ERR_INVALID);
    assert_int_equal(ct_fit(m, f->ds, f->train_idx, N_TRAIN, NULL, N_VAL, &cfg, NULL, hist),
                     CT_ERR_INVALID);
    ct_eval_result bad_ev;
    assert_int_equal(ct_evaluate(m, f->ds, bad_idx, N_TRAIN, 8, &bad_ev), CT_ERR_INVALID);
    assert_int_equal(ct_evaluate(m, f->ds, f->val_idx, -5, 8, &bad_ev), CT_ERR_INVALID);
    /* ct_schedule_lr of a config ct_fit would refuse: NaN, not a read past the phases */
    small_config(&cfg);
    cfg.num_phases = 100000;
    assert_true(isnan(ct_schedule_lr(&cfg, 5, 0, 10)));
    small_config(&cfg); /* steps per epoch past int64 products: saturated, finite */
    cfg.schedule = CT_SCHED_COSINE;
    cfg.warmup_epochs = 2;
    assert_true(isfinite(ct_schedule_lr(&cfg, 1, 3, INT64_MAX)));

    /* no training samples */
    small_config(&cfg);
    assert_int_equal(ct_fit(m, f->ds, f->train_idx, 0, f->val_idx, N_VAL, &cfg, NULL, hist),
                     CT_ERR_INVALID);

    /* a dataset whose images do not fit the model */
    uint8_t images[10 * 4 * 4] = {0}, labels[10] = {0};
    int32_t idx[10] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
    ct_dataset *small = NULL;
    assert_int_equal(ct_dataset_create(10, 1, 4, 4, CLASSES, images, labels, &small), CT_OK);
    assert_int_equal(ct_fit(m, small, idx, 8, idx + 8, 2, &cfg, NULL, hist), CT_ERR_INVALID);
    assert_true(strstr(ct_last_error(), "model") != NULL);
    ct_eval_result ev;
    assert_int_equal(ct_evaluate(m, small, NULL, 0, 8, &ev), CT_ERR_INVALID);
    ct_dataset_free(small);
    /* 3 channels instead of 1, same pixel count per channel */
    uint8_t *rgb = calloc(10 * 3 * SIDE * SIDE, 1);
    assert_non_null(rgb);
    assert_int_equal(ct_dataset_create(10, 3, SIDE, SIDE, CLASSES, rgb, labels, &small), CT_OK);
    assert_int_equal(ct_fit(m, small, idx, 8, idx + 8, 2, &cfg, NULL, hist), CT_ERR_INVALID);
    ct_dataset_free(small);
    /* TrivialAugmentWide of images of 2 channels (torchvision's ops take 1 or 3) */
    ct_model *m2c = NULL;
    assert_int_equal(ct_model_create(f->b, SPEC, 2, SIDE, SIDE, MAX_BATCH, 4, &m2c), CT_OK);
    assert_int_equal(ct_dataset_create(10, 2, SIDE, SIDE, CLASSES, rgb, labels, &small), CT_OK);
    cfg.augment_ta_bins = 31;
    assert_int_equal(ct_fit_check(m2c, small, idx, 8, idx + 8, 2, &cfg, hist), CT_ERR_INVALID);
    assert_non_null(strstr(ct_last_error(), "TrivialAugmentWide takes images of 1 or 3 channels"));
    cfg.augment_ta_bins = 0, cfg.augment_ra_ops = 1, cfg.augment_ra_bins = 31;
    assert_int_equal(ct_fit_check(m2c, small, idx, 8, idx + 8, 2, &cfg, hist), CT_ERR_INVALID);
    assert_non_null(strstr(ct_last_error(), "RandAugment takes images of 1 or 3 channels"));
    cfg.augment_ra_ops = 0, cfg.augment_aa_policy = CT_AUTOAUGMENT_CIFAR10;
    assert_int_equal(ct_fit_check(m2c, small, idx, 8, idx + 8, 2, &cfg, hist), CT_ERR_INVALID);
    assert_non_null(strstr(ct_last_error(), "AutoAugment takes images of 1 or 3 channels"));
    cfg.augment_aa_policy = CT_AUTOAUGMENT_NONE, cfg.augment_augmix_severity = 3;
    assert_int_equal(ct_fit_check(m2c, small, idx, 8, idx + 8, 2, &cfg, hist), CT_ERR_INVALID);
    assert_non_null(strstr(ct_last_error(), "AugMix takes images of 1 or 3 channels"));
    cfg.augment_augmix_severity = 0, cfg.augment_grey_p = 0.1f;
    assert_int_equal(ct_fit_check(m2c, small, idx, 8, idx + 8, 2, &cfg, hist), CT_ERR_INVALID);
    assert_non_null(strstr(ct_last_error(), "random greyscale takes images of 1 or 3 channels"));
    cfg.augment_grey_p = 0.0f;
    assert_int_equal(ct_fit_check(m2c, small, idx, 8, idx + 8, 2, &cfg, hist), CT_OK);
    ct_model_free(m2c);
    ct_dataset_free(small);
    free(rgb);
    /* more classes in the data than the model outputs */
    uint8_t img8[10 * SIDE * SIDE] = {0}, lab8[10] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
    assert_int_equal(ct_dataset_create(10, 1, SIDE, SIDE, 10, img8, lab8, &small), CT_OK);
    assert_int_equal(ct_fit(m, small, idx, 8, idx + 8, 2, &cfg, NULL, hist), CT_ERR_INVALID);
    assert_int_equal(ct_evaluate(m, small, NULL, 0, 8, &ev), CT_ERR_INVALID);
    ct_dataset_free(small);

    /* evaluation batch sizes */
    assert_int_equal(ct_evaluate(m, f->ds, NULL, 0, 0, &ev), CT_ERR_INVALID);
    /* (a batch above what the model holds runs in pieces: test_nn_train's test_micro_batch) */

    /* nothing was trained by the failed calls */
    float *after = params_of(m);
    assert_memory_equal(before, after, (size_t)ct_model_param_count(m) * sizeof(float));
    free(before);
    free(after);
    ct_model_free(m);
}

static void test_evaluate_untrained(void **state) {
    fixture *f = *state;
    ct_model *m = make_model(f, 5);
    ct_eval_result ev;
    memset(&ev, 0xff, sizeof ev);
    ct_status s = ct_evaluate(m, f->ds, NULL, 12345 /* ignored */, 64, &ev);
    if (s != CT_OK) fail_msg("ct_evaluate: %s", ct_last_error());
    assert_int_equal(ev.count, N_SAMPLES);
    /* PyTorch's default init gives small logits: the loss is near ln(classes) */
    printf("untrained: loss %.4f (ln 4 = %.4f), accuracy %.4f\n", ev.loss, log(CLASSES), ev.accuracy);
    assert_true(fabs(ev.loss - log(CLASSES)) < 0.25);
    assert_true(ev.accuracy >= 0.0 && ev.accuracy <= 1.0);
    /* a subset: count is its size; batch 1 and a batch larger than the subset both work */
    ct_eval_result a, b;
    assert_int_equal(ct_evaluate(m, f->ds, f->val_idx, 10, 1, &a), CT_OK);
    assert_int_equal(ct_evaluate(m, f->ds, f->val_idx, 10, MAX_BATCH, &b), CT_OK);
    assert_int_equal(a.count, 10);
    assert_int_equal(b.count, 10);
    assert_true(fabs(a.loss - b.loss) < 1e-5);
    assert_true(a.accuracy == b.accuracy);
    /* evaluating is repeatable and does not change the model */
    float *before = params_of(m);
    ct_eval_result again;
    assert_int_equal(ct_evaluate(m, f->ds, NULL, 0, 64, &again), CT_OK);
    assert_memory_equal(&ev.loss, &again.loss, sizeof ev.loss);
    assert_memory_equal(&ev.accuracy, &again.accuracy, sizeof ev.accuracy);
    float *after = params_of(m);
    assert_memory_equal(before, after, (size_t)ct_model_param_count(m) * sizeof(float));
    free(before);
    free(after);
    ct_model_free(m);
}

/* A shard that fails on another thread than the caller's (the pool's thread 1 holds the second
 * half of each batch): the caller gets its status and its message (the error text is per
 * thread). A label past the classes, planted after the dataset checked them, makes it fail. */
static void test_shard_error_message(void **state) {
    (void)state;
    ct_backend *b2 = NULL;
    assert_int_equal(ct_backend_create("cpu", 2, &b2), CT_OK);
    ct_dataset *ds = make_problem(777);
    ((uint8_t *)ct_dataset_labels(ds))[63] = 9; /* row 63: shard 1 of the first batch of 64 */
    ct_model *m = make_model_on(b2, 5);
    ct_eval_result ev;
    assert_int_equal(ct_evaluate(m, ds, NULL, 0, 64, &ev), CT_ERR_INVALID);
    assert_non_null(strstr(ct_last_error(), "label 9 >= 4 classes"));
    int32_t idx[64];
    for (int i = 0; i < 64; i++) idx[i] = i;
    ct_train_config cfg;
    small_config(&cfg);
    cfg.batch_size = 64;
    cfg.num_phases = 1;
    cfg.phases[0].epochs = 1;
    assert_int_equal(ct_fit(m, ds, idx, 64, NULL, 0, &cfg, NULL, NULL), CT_ERR_INVALID);
    assert_non_null(strstr(ct_last_error(), "label 9 >= 4 classes"));
    ct_model_free(m);
    ct_dataset_free(ds);
    ct_backend_free(b2);
}

/* --data-on-device auto: RAM on the CPU; on a GPU, resident when the pixels and labels take at
 * most a quarter of the free device memory (a stand-in backend reports the free memory). */
static size_t g_fake_free;
static ct_status fake_mem_info(ct_backend *b, size_t *free_bytes, size_t *total_bytes) {
    (void)b;
    *free_bytes = g_fake_free;
    *total_bytes = 2 * g_fake_free;
    return CT_OK;
}

static void test_data_on_device_choice(void **state) {
    fixture *f = *state;
    ct_model *m = make_model(f, 5);
    char why[256];
    assert_int_equal(ct_data_on_device_choice(m, f->ds, -1, why, sizeof why), 1);
    assert_non_null(strstr(why, "resident in RAM"));
    assert_int_equal(ct_data_on_device_choice(m, f->ds, 0, why, sizeof why), 0);
    assert_non_null(strstr(why, "as asked"));
    assert_int_equal(ct_data_on_device_choice(m, f->ds, 1, why, sizeof why), 1);
    assert_string_equal(why, "resident in RAM (as asked)"); /* the CPU's memory is RAM */
    ct_backend *cpu = m->b, gpu = *cpu; /* the CPU's table, posing as a device with its own memory */
    gpu.host_is_device = 0;
    gpu.mem_info = fake_mem_info;
    m->b = &gpu;
    const size_t bytes = (size_t)N_SAMPLES * (SIDE * SIDE + 1);
    g_fake_free = 4 * bytes;
    assert_int_equal(ct_data_on_device_choice(m, f->ds, -1, why, sizeof why), 1);
    assert_non_null(strstr(why, "resident on the device"));
    g_fake_free = 4 * bytes - 4;
    assert_int_equal(ct_data_on_device_choice(m, f->ds, -1, why, sizeof why), 0);
    assert_non_null(strstr(why, "over a quarter"));
    assert_int_equal(ct_data_on_device_choice(m, f->ds, 1, why, sizeof why), 1); /* as asked */
    gpu.mem_info = NULL;
    assert_int_equal(ct_data_on_device_choice(m, f->ds, -1, why, sizeof why), 0);
    assert_non_null(strstr(why, "unknown"));
    m->b = cpu;
    ct_model_free(m);
}

/* threads: 0..CT_MAX_THREADS (0: the cores), and the description says what is used */
static void test_backend_threads(void **state) {
    (void)state;
    ct_backend *b = NULL;
    assert_int_equal(ct_backend_create("cpu", CT_MAX_THREADS + 1, &b), CT_ERR_INVALID);
    assert_null(b);
    assert_non_null(strstr(ct_last_error(), "threads must be in 0..64, got 65"));
    assert_int_equal(ct_backend_create("cpu", -1, &b), CT_ERR_INVALID);
    assert_int_equal(ct_backend_create("cpu", CT_MAX_THREADS, &b), CT_OK);
    assert_non_null(strstr(ct_backend_description(b), "CPU: 64 threads"));
    ct_backend_free(b);
}

/* ct_mix_images (ctrain show --mixup-alpha/--cutmix-alpha): each image at place p mixed with
 * its batch's place before it (the batch's last for its first), both augmented at their own
 * places, the partner's label and the batch's lam beside it */
static void test_mix_images(void **state) {
    (void)state;
    enum { N = 300, C = 2, H = 6, W = 5, ROW = C * H * W, FIRST = 100, COUNT = 200, B = 128 };
    static uint8_t images[N * ROW], labels[N], partner[COUNT];
    static float out[COUNT * ROW], plain[N * ROW], lam[COUNT];
    ct_rng rng;
    ct_rng_init(&rng, 31, 0);
    for (int i = 0; i < N * ROW; i++) images[i] = (uint8_t)ct_rng_below(&rng, 256);
    for (int i = 0; i < N; i++) labels[i] = (uint8_t)(i * 7 % 10);
    ct_train_config cfg;
    ct_train_config_default(&cfg);
    cfg.batch_size = B, cfg.seed = 9, cfg.augment_flip = 1;
    /* every image augmented at its place (its index here), unmixed */
    assert_int_equal(ct_augment_images(&cfg, images, N, C, H, W, 2, 0, plain), CT_OK);
    /* no mixing: ct_augment_images' images, their own labels, lam 1 */
    assert_int_equal(ct_mix_images(&cfg, images, labels, N, C, H, W, 2, FIRST, COUNT, out,
                                   partner, lam), CT_OK);
    assert_memory_equal(out, plain + FIRST * ROW, sizeof out);
    for (int i = 0; i < COUNT; i++)
        assert_true(partner[i] == labels[FIRST + i] && lam[i] == 1.0f);
    for (int kind = 0; kind < 2; kind++) { /* MixUp, CutMix */
        cfg.mixup_alpha = kind == 0 ? 1.0f : 0.0f, cfg.cutmix_alpha = kind == 1 ? 1.0f : 0.0f;
        assert_int_equal(ct_mix_images(&cfg, images, labels, N, C, H, W, 2, FIRST, COUNT, out,
                                       partner, lam), CT_OK);
        float lams[3] = {-1, -1, -1};
        for (int i = 0; i < COUNT; i++) {
            const int p = FIRST + i, k = p / B, b0 = k * B, b1 = b0 + B < N ? b0 + B : N;
            const int q = p == b0 ? b1 - 1 : p - 1;
            assert_int_equal(partner[i], labels[q]);
            if (lams[k] < 0) lams[k] = lam[i];
            assert_true(lam[i] == lams[k] && lam[i] >= 0.0f && lam[i] <= 1.0f);
            int from_partner = 0;
            for (int j = 0; j < ROW; j++) {
                float own = plain[p * ROW + j], other = plain[q * ROW + j], got = out[i * ROW + j];
                if (kind == 0) {
                    tu_near("mixed pixel", (size_t)(i * ROW + j), got,
                            lam[i] * own + (1.0f - lam[i]) * other, 1e-6);
                } else {
                    assert_true(got == own || got == other);
                    from_partner += got == other && got != own;
                }
            }
            if (kind == 1) /* the box: 1 - lam of each channel's pixels (bytes may agree) */
                assert_true(from_partner <= (int)lrintf((1.0f - lam[i]) * ROW) &&
                            from_partner >= (int)lrintf((1.0f - lam[i]) * ROW) * 9 / 10);
        }
        assert_true(lams[0] != lams[1] && lams[1] != lams[2]); /* a draw a batch */
    }
    assert_int_equal(ct_mix_images(&cfg, images, labels, N, C, H, W, 2, FIRST, N, out, partner,
                                   lam), CT_ERR_INVALID); /* (past the last image) */
    assert_int_equal(ct_mix_images(&cfg, images, labels, N, C, H, W, 2, 0, 1, out, NULL, lam),
                     CT_ERR_INVALID);
    cfg.cutmix_alpha = -1.0f;
    assert_int_equal(ct_mix_images(&cfg, images, labels, N, C, H, W, 2, 0, 1, out, partner, lam),
                     CT_ERR_INVALID);
}

static void test_default_config(void **state) {
    (void)state;
    ct_train_config cfg;
    memset(&cfg, 0x5a, sizeof cfg);
    ct_train_config_default(&cfg);
    assert_int_equal(cfg.num_phases, 2);
    assert_int_equal(cfg.phases[0].epochs, 5);
    assert_true(cfg.phases[0].lr == 0.5f);
    assert_int_equal(cfg.phases[1].epochs, 5);
    assert_true(cfg.phases[1].lr == 0.1f);
    assert_int_equal(cfg.batch_size, 128);
    assert_int_equal(cfg.eval_batch_size, 256);
    assert_int_equal(cfg.workers, 2);
    assert_true(cfg.prefetch >= 1);
    assert_int_equal(cfg.data_on_device, -1);
    assert_true(cfg.momentum == 0.0f && cfg.weight_decay == 0.0f && cfg.nesterov == 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_config),
        cmocka_unit_test(test_mix_images),
        cmocka_unit_test(test_backend_threads),
        cmocka_unit_test_setup_teardown(test_evaluate_untrained, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fit_learns, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fit_without_callbacks_or_history, setup, teardown),
        cmocka_unit_test_setup_teardown(test_interrupt, setup, teardown),
        cmocka_unit_test_setup_teardown(test_determinism, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resume_exact, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_configs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_data_on_device_choice, setup, teardown),
        cmocka_unit_test(test_shard_error_message),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
