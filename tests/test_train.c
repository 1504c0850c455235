/*
 * test_train.c — ct_fit on a small synthetic problem (train_problem.h), on the CPU backend.
 *
 * The problem: 2000 images of 1x8x8 in 4 classes; class k has a bright 4x4 quadrant k, every
 * pixel carries seeded noise. A 2-layer MLP must learn it in 3 epochs. Around that: callbacks
 * (order, counts, interruption), determinism (bit-identical history and parameters across runs,
 * across worker counts, and between the streamed and resident data paths) and an exact resume.
 * Configurations, good and bad: test_train_config.c.
 */
#define _GNU_SOURCE
#include "train_problem.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

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

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_fit_learns, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fit_without_callbacks_or_history, setup, teardown),
        cmocka_unit_test_setup_teardown(test_interrupt, setup, teardown),
        cmocka_unit_test_setup_teardown(test_determinism, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resume_exact, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
