/*
 * test_ema.c — the moving average of the weights (ct_train_config.ema_decay) through the
 * library's API, on the CPU:
 * - after ct_fit the model holds the average, as a double-precision average of the weights
 *   read after every step (on_step) computes it: decay 0 on the first update, then ema_decay;
 *   with ema_warmup, min(ema_decay, (1 + k) / (10 + k)) at update k from the initial weights;
 *   the running statistics of a batch norm layer averaged alike;
 * - validation evaluates the average: each epoch's val loss is ct_evaluate's of the model
 *   holding it (the on_epoch callback sees it there);
 * - a new run starts from the weights the model holds (set after an earlier fit: kept), and a
 *   resumed run with an average needs one (refused without).
 */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { S = 8, N_ALL = 120, N_TRAIN = 96, BATCH = 16, EPOCHS = 2 };

static ct_dataset *make_data(void) { return tu_lines_dataset(N_ALL, S, 5); }

typedef struct {
    ct_model *m;
    const ct_dataset *ds;
    const int32_t *val;
    float decay;
    int warmup;
    int64_t P, B, k;    /* parameters, buffers, updates seen */
    double *avg;        /* (P + B) the reference average */
    float *now;         /* (P + B) the weights after the step */
    double val_loss[EPOCHS];
} watch;

static int on_step(void *user, int epoch, int64_t done, int64_t total, int64_t samples,
                   double elapsed_s) {
    (void)epoch, (void)done, (void)total, (void)samples, (void)elapsed_s;
    watch *w = user;
    assert_int_equal(ct_model_get_params(w->m, w->now), CT_OK); /* the trained weights */
    if (w->B) assert_int_equal(ct_model_get_buffers(w->m, w->now + w->P), CT_OK);
    int64_t k = ++w->k;
    double d = w->warmup ? fmin((double)w->decay, (1.0 + (double)k) / (10.0 + (double)k))
                         : k == 1 ? 0.0 : (double)w->decay;
    for (int64_t i = 0; i < w->P + w->B; i++) w->avg[i] = d * w->avg[i] + (1.0 - d) * w->now[i];
    return 0;
}

static int on_epoch(void *user, const ct_epoch_result *r) {
    watch *w = user; /* the model holds the average here: evaluate it */
    ct_eval_result ev;
    assert_int_equal(ct_evaluate(w->m, w->ds, w->val, N_ALL - N_TRAIN, 32, &ev), CT_OK);
    w->val_loss[r->epoch] = ev.loss;
    if (fabs(ev.loss - r->val.loss) > 1e-6 * fabs(ev.loss))
        fail_msg("epoch %d: val loss %.9g, but the model after it evaluates to %.9g", r->epoch,
                 r->val.loss, ev.loss);
    return 0;
}

/* Trains spec with the average (decay, warmup) and checks it against the reference. */
static void check_average(const char *spec, float decay, int warmup) {
    ct_backend *b = NULL;
    assert_int_equal(ct_backend_create("cpu", 1, &b), CT_OK);
    ct_dataset *ds = make_data();
    ct_model *m = NULL;
    assert_int_equal(ct_model_create(b, spec, 1, S, S, 32, 3, &m), CT_OK);
    int32_t idx[N_ALL];
    for (int i = 0; i < N_ALL; i++) idx[i] = i;
    watch w = {.m = m, .ds = ds, .val = idx + N_TRAIN, .decay = decay, .warmup = warmup,
               .P = ct_model_param_count(m), .B = ct_model_buffer_count(m)};
    w.avg = calloc((size_t)(w.P + w.B), sizeof(double));
    w.now = calloc((size_t)(w.P + w.B), sizeof(float));
    float *got = calloc((size_t)(w.P + w.B), sizeof(float));
    assert_non_null(w.avg);
    assert_non_null(w.now);
    assert_non_null(got);
    assert_int_equal(ct_model_get_params(m, w.now), CT_OK); /* the initial weights */
    if (w.B) assert_int_equal(ct_model_get_buffers(m, w.now + w.P), CT_OK);
    for (int64_t i = 0; i < w.P + w.B; i++) w.avg[i] = w.now[i];
    ct_train_config c;
    ct_train_config_default(&c);
    c.phases[0] = (ct_phase){EPOCHS, 0.3f};
    c.num_phases = 1;
    c.batch_size = BATCH;
    c.eval_batch_size = 32;
    c.workers = 0;
    c.momentum = 0.9f;
    c.ema_decay = decay;
    c.ema_warmup = warmup;
    ct_callbacks cb = {.on_step = on_step, .on_epoch = on_epoch, .user = &w};
    ct_epoch_result hist[EPOCHS];
    assert_int_equal(ct_fit(m, ds, idx, N_TRAIN, idx + N_TRAIN, N_ALL - N_TRAIN, &c, &cb, hist),
                     CT_OK);
    assert_int_equal(w.k, EPOCHS * (N_TRAIN / BATCH));
    assert_int_equal(ct_model_ema_updates(m), w.k);
    assert_int_equal(ct_model_get_params(m, got), CT_OK); /* the average, after ct_fit */
    if (w.B) assert_int_equal(ct_model_get_buffers(m, got + w.P), CT_OK);
    int differs = 0;
    for (int64_t i = 0; i < w.P + w.B; i++) {
        tu_near(spec, i, got[i], w.avg[i], 1e-5 * fabs(w.avg[i]) + 1e-6);
        differs |= got[i] != w.now[i];
    }
    assert_true(differs); /* (not the trained weights) */
    free(w.avg);
    free(w.now);
    free(got);
    ct_model_free(m);
    ct_dataset_free(ds);
    ct_backend_free(b);
}

static void test_average(void **state) {
    (void)state;
    check_average("flatten,linear(12),relu,linear(3)", 0.8f, 0);
    check_average("flatten,linear(12),relu,linear(3)", 0.95f, 1);
}

static void test_average_batchnorm(void **state) {
    (void)state;
    check_average("conv(4,3,1,1),batchnorm,relu,flatten,linear(3)", 0.7f, 0);
}

/* A new run starts from the weights the model holds; a resume with an average needs one. */
static void test_new_run_and_resume(void **state) {
    (void)state;
    ct_backend *b = NULL;
    assert_int_equal(ct_backend_create("cpu", 1, &b), CT_OK);
    ct_dataset *ds = make_data();
    ct_model *m = NULL;
    assert_int_equal(ct_model_create(b, "flatten,linear(6),relu,linear(3)", 1, S, S, 32, 3, &m),
                     CT_OK);
    int32_t idx[N_ALL];
    for (int i = 0; i < N_ALL; i++) idx[i] = i;
    ct_train_config c;
    ct_train_config_default(&c);
    c.phases[0] = (ct_phase){1, 0.3f};
    c.num_phases = 1;
    c.batch_size = BATCH;
    c.workers = 0;
    c.ema_decay = 0.9f;
    assert_int_equal(ct_fit(m, ds, idx, N_TRAIN, NULL, 0, &c, NULL, NULL), CT_OK);
    int64_t P = ct_model_param_count(m);
    float *w = calloc((size_t)P, sizeof(float));
    assert_non_null(w);
    for (int64_t i = 0; i < P; i++) w[i] = 0.01f * (float)(i % 7);
    assert_int_equal(ct_model_set_params(m, w), CT_OK);
    c.phases[0].lr = 1e-30f; /* a new run that moves nothing: the weights set stay */
    c.ema_decay = 0.0f;
    assert_int_equal(ct_fit(m, ds, idx, N_TRAIN, NULL, 0, &c, NULL, NULL), CT_OK);
    float *got = calloc((size_t)P, sizeof(float));
    assert_non_null(got);
    assert_int_equal(ct_model_get_params(m, got), CT_OK);
    for (int64_t i = 0; i < P; i++)
        tu_near("the weights set before a new run", i, got[i], w[i], 1e-7);
    assert_int_equal(ct_model_ema_updates(m), -1);
    /* resumed at epoch 1 of 2 with an average the model does not hold: refused */
    c.phases[0] = (ct_phase){2, 0.3f};
    c.ema_decay = 0.9f;
    c.resume = (ct_fit_position){.epoch = 1};
    assert_int_equal(ct_fit(m, ds, idx, N_TRAIN, NULL, 0, &c, NULL, NULL), CT_ERR_INVALID);
    assert_non_null(strstr(ct_last_error(), "needs the average"));
    c.ema_warmup = 1; /* and a warm-up without a decay is no setting */
    c.ema_decay = 0.0f;
    c.resume = (ct_fit_position){0};
    assert_int_equal(ct_fit(m, ds, idx, N_TRAIN, NULL, 0, &c, NULL, NULL), CT_ERR_INVALID);
    free(w);
    free(got);
    ct_model_free(m);
    ct_dataset_free(ds);
    ct_backend_free(b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_average),
        cmocka_unit_test(test_average_batchnorm),
        cmocka_unit_test(test_new_run_and_resume),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
