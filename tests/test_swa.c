/*
 * test_swa.c — stochastic weight averaging (ct_train_config.swa, ct_swa_finish) through the
 * library's API, on the CPU:
 * - validation during ct_fit evaluates the trained weights, which the model still holds after
 *   it; ct_swa_finish then gives the model the equal-weighted average of the weights after each
 *   epoch from swa_start on, as a double-precision average of those read by on_epoch computes
 *   it;
 * - with batch norm, ct_swa_finish recomputes the running statistics (a pass of training
 *   batches: num_batches_tracked counts them), leaves a frozen layer's alone, and the model
 *   evaluates as those statistics say (two finishes from the same state agree);
 * - SWALR's lrs (ct_schedule_lr), cos, linear and at once, from the lr the schedule reached;
 * - the settings refused, a resume without its average refused, nothing averaged yet.
 */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { S = 8, N_ALL = 120, N_TRAIN = 96, BATCH = 16, EPOCHS = 4, START = 1 };

static ct_dataset *make_data(void) { return tu_lines_dataset(N_ALL, S, 9); }

typedef struct {
    ct_model *m;
    const ct_dataset *ds;
    const int32_t *val;
    int64_t P, k;     /* parameters, epochs averaged */
    double *avg;      /* (P) the reference average */
    float *now;       /* (P) the weights after the epoch */
} watch;

static int on_epoch(void *user, const ct_epoch_result *r) {
    watch *w = user; /* the model holds the trained weights: validation evaluated them */
    ct_eval_result ev;
    assert_int_equal(ct_evaluate(w->m, w->ds, w->val, N_ALL - N_TRAIN, 32, &ev), CT_OK);
    if (fabs(ev.loss - r->val.loss) > 1e-6 * fabs(ev.loss))
        fail_msg("epoch %d: val loss %.9g, but the model after it evaluates to %.9g", r->epoch,
                 r->val.loss, ev.loss);
    assert_int_equal(ct_model_get_params(w->m, w->now), CT_OK);
    if (r->epoch >= START) {
        w->k++;
        for (int64_t i = 0; i < w->P; i++) w->avg[i] += ((double)w->now[i] - w->avg[i]) / (double)w->k;
    }
    assert_int_equal(ct_model_ema_updates(w->m), w->k);
    return 0;
}

static void config(ct_train_config *c) {
    ct_train_config_default(c);
    c->phases[0] = (ct_phase){EPOCHS, 0.3f};
    c->num_phases = 1;
    c->batch_size = BATCH;
    c->eval_batch_size = 32;
    c->workers = 0;
    c->momentum = 0.9f;
    c->swa = 1;
    c->swa_start = START;
}

/* Trains spec with SWA from START, then finishes: the model holds the reference average. */
static void test_average(void **state) {
    (void)state;
    ct_backend *b = NULL;
    assert_int_equal(ct_backend_create("cpu", 1, &b), CT_OK);
    ct_dataset *ds = make_data();
    ct_model *m = NULL;
    assert_int_equal(ct_model_create(b, "flatten,linear(12),relu,linear(3)", 1, S, S, 32, 3, &m),
                     CT_OK);
    int32_t idx[N_ALL];
    for (int i = 0; i < N_ALL; i++) idx[i] = i;
    watch w = {.m = m, .ds = ds, .val = idx + N_TRAIN, .P = ct_model_param_count(m)};
    w.avg = calloc((size_t)w.P, sizeof(double));
    w.now = calloc((size_t)w.P, sizeof(float));
    float *got = calloc((size_t)w.P, sizeof(float));
    assert_non_null(w.avg);
    assert_non_null(w.now);
    assert_non_null(got);
    ct_train_config c;
    config(&c);
    ct_callbacks cb = {.on_epoch = on_epoch, .user = &w};
    ct_epoch_result hist[EPOCHS];
    assert_int_equal(ct_fit(m, ds, idx, N_TRAIN, idx + N_TRAIN, N_ALL - N_TRAIN, &c, &cb, hist),
                     CT_OK);
    assert_int_equal(w.k, EPOCHS - START);
    assert_int_equal(ct_model_get_params(m, got), CT_OK); /* after ct_fit: the trained weights */
    for (int64_t i = 0; i < w.P; i++) tu_near("trained", i, got[i], w.now[i], 0.0);
    int64_t averaged = -1;
    assert_int_equal(ct_swa_finish(m, ds, idx, N_TRAIN, &c, &averaged), CT_OK);
    assert_int_equal(averaged, EPOCHS - START);
    assert_int_equal(ct_model_get_params(m, got), CT_OK);
    int differs = 0;
    for (int64_t i = 0; i < w.P; i++) {
        tu_near("SWA average", i, got[i], w.avg[i], 1e-6 * fabs(w.avg[i]) + 1e-7);
        differs |= got[i] != w.now[i];
    }
    assert_true(differs); /* (not the trained weights) */
    /* a second ct_fit, resumed past the end with nothing to train, trains the trained weights
     * on: the model holds them again, the average kept beside */
    c.resume = (ct_fit_position){.epoch = EPOCHS};
    assert_int_equal(ct_fit(m, ds, idx, N_TRAIN, NULL, 0, &c, NULL, NULL), CT_OK);
    assert_int_equal(ct_model_get_params(m, got), CT_OK);
    for (int64_t i = 0; i < w.P; i++) tu_near("trained again", i, got[i], w.now[i], 0.0);
    assert_int_equal(ct_swa_finish(m, ds, idx, N_TRAIN, &c, &averaged), CT_OK);
    assert_int_equal(ct_model_get_params(m, got), CT_OK);
    for (int64_t i = 0; i < w.P; i++)
        tu_near("SWA average again", i, got[i], w.avg[i], 1e-6 * fabs(w.avg[i]) + 1e-7);
    free(w.avg);
    free(w.now);
    free(got);
    ct_model_free(m);
    ct_dataset_free(ds);
    ct_backend_free(b);
}

/* Batch norm: the statistics recomputed over a pass of training batches, a frozen layer's kept. */
static void test_batchnorm(void **state) {
    (void)state;
    ct_backend *b = NULL;
    assert_int_equal(ct_backend_create("cpu", 1, &b), CT_OK);
    ct_dataset *ds = make_data();
    ct_model *m = NULL;
    /* layers: conv1 batchnorm1 relu flatten linear1 batchnorm2 relu linear2 */
    assert_int_equal(ct_model_create(b, "conv(4,3,1,1),batchnorm,relu,flatten,linear(8),batchnorm,"
                                        "relu,linear(3)", 1, S, S, 32, 3, &m), CT_OK);
    int32_t idx[N_ALL];
    for (int i = 0; i < N_ALL; i++) idx[i] = i;
    const int64_t B = ct_model_buffer_count(m); /* batchnorm1's 2 x 4, then batchnorm2's 2 x 8 */
    assert_int_equal(B, 24);
    float *trained = calloc((size_t)B, sizeof(float)), *got = calloc((size_t)B, sizeof(float));
    float *again = calloc((size_t)B, sizeof(float));
    assert_non_null(trained);
    assert_non_null(got);
    assert_non_null(again);
    ct_train_config c;
    config(&c);
    c.frozen_layers = 3; /* conv1, batchnorm1 and relu: batchnorm1 keeps its statistics */
    assert_int_equal(ct_fit(m, ds, idx, N_TRAIN, NULL, 0, &c, NULL, NULL), CT_OK);
    assert_int_equal(ct_model_get_buffers(m, trained), CT_OK);
    int64_t tracked = ct_model_batches_tracked(m, 5);
    assert_int_equal(tracked, EPOCHS * (N_TRAIN / BATCH));
    int64_t averaged = 0;
    c.batch_size = 32; /* the pass's batches: 3 */
    assert_int_equal(ct_swa_finish(m, ds, idx, N_TRAIN, &c, &averaged), CT_OK);
    assert_int_equal(averaged, EPOCHS - START);
    assert_int_equal(ct_model_get_buffers(m, got), CT_OK);
    for (int i = 0; i < 8; i++) tu_near("frozen batchnorm1", i, got[i], trained[i], 0.0);
    int differs = 0;
    for (int i = 8; i < 24; i++) {
        differs |= got[i] != trained[i];
        if (i >= 16) assert_true(got[i] > 0.0f); /* (variances) */
    }
    assert_true(differs);
    assert_int_equal(ct_model_batches_tracked(m, 5), N_TRAIN / 32);
    assert_int_equal(ct_model_batches_tracked(m, 1), 0); /* (frozen: never counted) */
    /* the statistics are a function of the average and the pass: a model set to the same
     * average with other statistics, finished again (resumed past the end), gets the same */
    ct_eval_result e1, e2;
    assert_int_equal(ct_evaluate(m, ds, idx + N_TRAIN, N_ALL - N_TRAIN, 32, &e1), CT_OK);
    c.resume = (ct_fit_position){.epoch = EPOCHS};
    assert_int_equal(ct_fit(m, ds, idx, N_TRAIN, NULL, 0, &c, NULL, NULL), CT_OK);
    assert_int_equal(ct_swa_finish(m, ds, idx, N_TRAIN, &c, &averaged), CT_OK);
    assert_int_equal(ct_model_get_buffers(m, again), CT_OK);
    for (int i = 0; i < 24; i++) tu_near("finished twice", i, again[i], got[i], 0.0);
    assert_int_equal(ct_evaluate(m, ds, idx + N_TRAIN, N_ALL - N_TRAIN, 32, &e2), CT_OK);
    assert_true(e1.loss == e2.loss);
    free(trained);
    free(got);
    free(again);
    ct_model_free(m);
    ct_dataset_free(ds);
    ct_backend_free(b);
}

/* SWALR: lr0 + (swa_lr - lr0) * a(min(1, k / anneal)), lr0 the schedule's at swa_start. */
static void test_swalr(void **state) {
    (void)state;
    ct_train_config c;
    ct_train_config_default(&c);
    c.phases[0] = (ct_phase){8, 0.4f};
    c.num_phases = 1;
    c.schedule = CT_SCHED_STEP;
    c.step_size = 2;
    c.gamma = 0.5f; /* 0.4 0.4 0.2 0.2 0.1 0.1 0.05 0.05 */
    c.swa = 1;
    c.swa_start = 3;
    c.swa_lr = 0.05f;
    c.swa_anneal_epochs = 2; /* from lr0 = 0.2 at epoch 3 */
    const double cos_half = (1.0 - cos(M_PI * 0.5)) / 2.0;
    const double want_cos[8] = {0.4, 0.4, 0.2, 0.2, 0.2 + (0.05 - 0.2) * cos_half, 0.05, 0.05, 0.05};
    for (int e = 0; e < 8; e++)
        for (int64_t i = 0; i < 3; i += 2) /* (constant within an epoch, from swa_start) */
            tu_near("SWALR cos", e, ct_schedule_lr(&c, e, i, 3), want_cos[e], 1e-7);
    c.swa_anneal_linear = 1;
    c.swa_anneal_epochs = 4;
    for (int k = 0; k < 5; k++)
        tu_near("SWALR linear", k, ct_schedule_lr(&c, 3 + k, 0, 3),
                0.2 + (0.05 - 0.2) * (k < 4 ? k / 4.0 : 1.0), 1e-7);
    c.swa_anneal_epochs = 0; /* at once */
    tu_near("SWALR at once", 3, ct_schedule_lr(&c, 3, 0, 3), 0.05, 1e-7);
    c.swa_lr = 0.0f; /* without it: the schedule's */
    tu_near("SWA under the schedule", 6, ct_schedule_lr(&c, 6, 0, 3), 0.05, 1e-7);
    tu_near("SWA under the schedule", 4, ct_schedule_lr(&c, 4, 0, 3), 0.1, 1e-7);
}

static int stop_now(void *user, const ct_epoch_result *r) {
    (void)user, (void)r;
    return 1; /* (as --patience stops a run) */
}

/* Settings refused; a resume without its average; a run that averaged nothing. */
static void test_refused(void **state) {
    (void)state;
    ct_train_config c;
    config(&c);
    assert_int_equal(ct_train_config_check(&c), CT_OK);
    c.swa_start = EPOCHS; /* past the last epoch */
    assert_int_equal(ct_train_config_check(&c), CT_ERR_INVALID);
    assert_non_null(strstr(ct_last_error(), "outside the run's epochs 0..3"));
    config(&c);
    c.ema_decay = 0.9f;
    assert_int_equal(ct_train_config_check(&c), CT_ERR_INVALID);
    assert_non_null(strstr(ct_last_error(), "not both"));
    config(&c);
    c.swa_lr = 0.1f;
    c.schedule = CT_SCHED_PLATEAU;
    assert_int_equal(ct_train_config_check(&c), CT_ERR_INVALID);
    assert_non_null(strstr(ct_last_error(), "plateau"));
    c.schedule = CT_SCHED_ONECYCLE;
    assert_int_equal(ct_train_config_check(&c), CT_ERR_INVALID);
    config(&c);
    c.swa_anneal_epochs = -1;
    assert_int_equal(ct_train_config_check(&c), CT_ERR_INVALID);
    config(&c);
    c.swa_lr = NAN;
    assert_int_equal(ct_train_config_check(&c), CT_ERR_INVALID);
    config(&c);
    c.swa = 2;
    assert_int_equal(ct_train_config_check(&c), CT_ERR_INVALID);

    ct_backend *b = NULL;
    assert_int_equal(ct_backend_create("cpu", 1, &b), CT_OK);
    ct_dataset *ds = make_data();
    ct_model *m = NULL;
    assert_int_equal(ct_model_create(b, "flatten,linear(6),relu,linear(3)", 1, S, S, 32, 3, &m),
                     CT_OK);
    int32_t idx[N_ALL];
    for (int i = 0; i < N_ALL; i++) idx[i] = i;
    config(&c);
    c.resume = (ct_fit_position){.epoch = 3}; /* 2 epochs averaged by then: none held */
    assert_int_equal(ct_fit(m, ds, idx, N_TRAIN, NULL, 0, &c, NULL, NULL), CT_ERR_INVALID);
    assert_non_null(strstr(ct_last_error(), "has averaged 2 epochs' weights"));
    c.resume = (ct_fit_position){.epoch = 1}; /* none averaged by then: fine, one more epoch */
    c.phases[0].epochs = 2;
    assert_int_equal(ct_fit(m, ds, idx, N_TRAIN, NULL, 0, &c, NULL, NULL), CT_OK);
    assert_int_equal(ct_model_ema_updates(m), 1);
    /* nothing averaged (an early stop before swa_start): the model is left as it is */
    int64_t P = ct_model_param_count(m), averaged = -1;
    float *before = calloc((size_t)P, sizeof(float)), *after = calloc((size_t)P, sizeof(float));
    assert_non_null(before);
    assert_non_null(after);
    c.resume = (ct_fit_position){0};
    c.phases[0].epochs = 3;
    c.swa_start = 2;
    ct_callbacks stop = {.on_epoch = stop_now};
    assert_int_equal(ct_fit(m, ds, idx, N_TRAIN, NULL, 0, &c, &stop, NULL), CT_ERR_INTERRUPTED);
    assert_int_equal(ct_model_ema_updates(m), 0);
    assert_int_equal(ct_model_get_params(m, before), CT_OK);
    assert_int_equal(ct_swa_finish(m, ds, idx, N_TRAIN, &c, &averaged), CT_OK);
    assert_int_equal(averaged, 0);
    assert_int_equal(ct_model_get_params(m, after), CT_OK);
    assert_memory_equal(before, after, (size_t)P * sizeof(float));
    c.swa = 0;
    assert_int_equal(ct_swa_finish(m, ds, idx, N_TRAIN, &c, &averaged), CT_ERR_INVALID);
    free(before);
    free(after);
    ct_model_free(m);
    ct_dataset_free(ds);
    ct_backend_free(b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_average),
        cmocka_unit_test(test_batchnorm),
        cmocka_unit_test(test_swalr),
        cmocka_unit_test(test_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
