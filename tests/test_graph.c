/*
 * test_graph.c — the recorded training step (CUDA graphs) checked on the CPU.
 *
 * A GPU replays a recorded step with the arguments its ops had when recorded; what changes
 * from step to step must come from the step table (ct_step_vars) in device memory. Whether
 * ct_fit keeps to that does not need a GPU: recording_backend.c wraps the CPU backend in one
 * with graph ops, whose recording stores each op and its arguments (copying the descriptors
 * they point to, as a kernel launch copies its parameters) instead of running it, and whose
 * replay calls the CPU ops again with exactly those arguments. Then:
 * - a CNN with every layer kind (conv, batch, group and layer norm, pooling,
 *   squeeze-and-excitation, a residual block closed by stochastic depth, dropout, GELU, and a
 *   vision transformer's tokens, class token, position embedding and attention) trained
 *   with AdamW,
 *   warm-up + cosine, clipping, augmentation and a moving average of the weights ends with the
 *   same parameters, running statistics and losses bit for bit whether its steps are replayed
 *   or run op by op, and every full step but the run's first was replayed;
 * - the same for the MLP with Nesterov momentum and a moving average, stopped in the middle of
 *   epoch 1 and resumed there (the step table then starts at that batch);
 * - a recording that fails (an op the recorder refuses) leaves no trace: the run falls back to
 *   op by op, says why, and ends with the same numbers.
 * An argument baked into the recording that should have changed per step (the batch's rows, the
 * lr, Adam's factors, the dropout step...) would make the replayed run differ. What the table
 * holds is checked elsewhere (test_ops, test_optim): here the op-by-op run reads it too. A copy,
 * allocation or synchronisation while recording (which a CUDA capture refuses) fails the run.
 */
#include "testutil.h"

#include "recording_backend.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------------------------ */
/* runs                                                                                        */

enum { S = 10, N_ALL = 150, N_TRAIN = 120, EPOCHS = 3 };

static ct_dataset *make_data(void) { return tu_lines_dataset(N_ALL, S, 77); }

typedef struct {
    float *params, *buffers;
    int64_t P, B, tracked;
    ct_epoch_result hist[EPOCHS];
    char note[256];
    int recordings, launches, refused;
} run_result;

static void free_result(run_result *r) {
    free(r->params);
    free(r->buffers);
}

/* Stops a run in epoch 1 after its second step. */
static int stop_mid_epoch(void *user, int epoch, int64_t done, int64_t total, int64_t samples,
                          double elapsed_s) {
    (void)user, (void)total, (void)samples, (void)elapsed_s;
    return epoch == 1 && done == 2;
}

static int g_rmsprop; /* the MLP runs train with centered RMSprop and momentum instead */

/* Trains spec on the data with the recording backend (graphs on or off, `run` steps per
 * multi-step recording: CTRAIN_CUDA_GRAPH_STEPS); cnn: AdamW, warm-up, cosine, clipping,
 * augmentation, batch 16 (7 full batches and one of 8 per epoch); else SGD with Nesterov
 * momentum, batch 25 (4 full and one of 20), stopped in epoch 1 after 2 steps (after 3 when
 * they ran as one recording of 3) and resumed there. */
static run_result train(const ct_dataset *ds, const char *spec, int cnn, int graphs, int refuse,
                        int run) {
    char run_text[16];
    snprintf(run_text, sizeof run_text, "%d", run);
    setenv("CTRAIN_CUDA_GRAPH_STEPS", run_text, 1);
    ct_backend *b = recording_backend(graphs, refuse);
    ct_model *m = NULL;
    OK(ct_model_create(b, spec, 1, S, S, 32, 13, &m));
    ct_train_config c;
    ct_train_config_default(&c);
    c.num_phases = 1;
    c.workers = 0;
    c.data_on_device = 1;
    c.eval_batch_size = 32;
    if (cnn) {
        c.phases[0] = (ct_phase){EPOCHS, 0.004f};
        c.batch_size = 16;
        c.optimizer = CT_ADAMW;
        c.schedule = CT_SCHED_COSINE;
        c.warmup_steps = 5;
        c.clip_norm = 0.5f;
        c.augment_pad = 1;
        c.augment_flip = 1;
        c.augment_degrees = 10.0f; /* (each image's warp from its place in the epoch) */
        c.augment_scale_min = 0.9f, c.augment_scale_max = 1.1f;
        c.ema_decay = 0.8f; /* (the parameters and running statistics compared: the average's) */
        c.ema_warmup = 1;   /* (its decay changes every step: from the step table) */
    } else {
        c.phases[0] = (ct_phase){EPOCHS, 0.2f};
        c.batch_size = 25;
        c.momentum = 0.9f;
        c.nesterov = 1;
        c.ema_decay = 0.7f; /* the average carried across the stop */
        if (g_rmsprop) { /* one-cycle: the lr and the momentum (0 at the peak) change per step */
            c.phases[0].lr = 0.01f;
            c.optimizer = CT_RMSPROP;
            c.nesterov = 0;
            c.momentum = 0.0f;
            c.centered = 1;
            c.schedule = CT_SCHED_ONECYCLE;
            c.cycle_momentum = 1;
            c.base_momentum = 0.0f;
            c.max_momentum = 0.9f;
        }
    }
    int32_t idx[N_ALL];
    for (int i = 0; i < N_ALL; i++) idx[i] = i;
    run_result r;
    memset(&r, 0, sizeof r);
    if (cnn) {
        OK(ct_fit(m, ds, idx, N_TRAIN, idx + N_TRAIN, N_ALL - N_TRAIN, &c, NULL, r.hist));
    } else {
        ct_callbacks stop = {.on_step = stop_mid_epoch};
        assert_int_equal(ct_fit(m, ds, idx, N_TRAIN, idx + N_TRAIN, N_ALL - N_TRAIN, &c, &stop,
                                r.hist),
                         CT_ERR_INTERRUPTED);
        c.resume = ct_model_fit_position(m);
        assert_int_equal(c.resume.epoch, 1);
        assert_int_equal(c.resume.batch, graphs && run == 3 ? 3 : 2);
        OK(ct_fit(m, ds, idx, N_TRAIN, idx + N_TRAIN, N_ALL - N_TRAIN, &c, NULL, r.hist));
    }
    r.P = ct_model_param_count(m);
    r.B = ct_model_buffer_count(m);
    r.params = malloc((size_t)r.P * 4);
    r.buffers = malloc((size_t)(r.B ? r.B : 1) * 4);
    OK(ct_model_get_params(m, r.params));
    if (r.B) OK(ct_model_get_buffers(m, r.buffers));
    r.tracked = ct_model_batches_tracked(m, 1);
    snprintf(r.note, sizeof r.note, "%s", ct_model_step_graph(m));
    recording_counts(b, &r.recordings, &r.launches, &r.refused);
    ct_model_free(m);
    ct_backend_free(b);
    unsetenv("CTRAIN_CUDA_GRAPH_STEPS");
    return r;
}

static void same_run(const run_result *a, const run_result *e, const char *what) {
    assert_int_equal(a->P, e->P);
    if (memcmp(a->params, e->params, (size_t)a->P * 4) != 0) {
        for (int64_t j = 0; j < a->P; j++)
            if (a->params[j] != e->params[j])
                fail_msg("%s: parameter %lld is %.9g replayed, %.9g op by op", what, (long long)j,
                         a->params[j], e->params[j]);
    }
    assert_memory_equal(a->buffers, e->buffers, (size_t)a->B * 4);
    assert_int_equal(a->tracked, e->tracked);
    for (int k = 0; k < EPOCHS; k++)
        if (a->hist[k].train_loss != e->hist[k].train_loss ||
            a->hist[k].val.loss != e->hist[k].val.loss || a->hist[k].lr != e->hist[k].lr)
            fail_msg("%s, epoch %d: train loss %.9g vs %.9g, val loss %.9g vs %.9g", what, k,
                     a->hist[k].train_loss, e->hist[k].train_loss, a->hist[k].val.loss,
                     e->hist[k].val.loss);
}

static const char *k_cnn = "conv(4,3,1,1),batchnorm,relu,se(2,relu,hardsigmoid),maxpool(2),"
                           "residual(conv(4,3,1,1),tanh,droppath(0.3)),conv(6,3,1,1),"
                           "groupnorm(2),tanh,avgpool(2),tokens,clstoken,posembed,"
                           "residual(layernorm,attention(2),dropout(0.3)),clspool,linear(12),"
                           "layernorm,gelu,linear(3)";

static void test_cnn_replayed_equals_op_by_op(void **state) {
    ct_dataset *ds = make_data();
    run_result eager = train(ds, k_cnn, 1, 0, 0, 1), graph = train(ds, k_cnn, 1, 1, 0, 1),
               runs = train(ds, k_cnn, 1, 1, 0, 3);
    same_run(&graph, &eager, "cnn");
    same_run(&runs, &eager, "cnn, 3 steps per recording");
    /* 7 full batches an epoch: each epoch recorded once, the fit's first step op by op */
    assert_int_equal(graph.recordings, EPOCHS);
    assert_int_equal(graph.launches, 7 * EPOCHS - 1);
    for (int k = 0; k < EPOCHS; k++) {
        assert_int_equal(graph.hist[k].graph_steps, 7 - (k == 0));
        assert_int_equal(runs.hist[k].graph_steps, 7 - (k == 0));
    }
    /* in runs of 3: epoch 0 steps 1-3 and 4-6 (one recording); later epochs 0-2 and 3-5, then
     * step 6 alone (two recordings) */
    assert_int_equal(runs.recordings, 1 + 2 * (EPOCHS - 1));
    assert_int_equal(runs.launches, 2 + 3 * (EPOCHS - 1));
    assert_string_equal(graph.note, "");
    assert_int_equal(eager.launches, 0);
    assert_int_equal(eager.hist[0].graph_steps, 0);
    assert_int_equal(graph.tracked, 8 * EPOCHS); /* every step counted, replayed or not */
    assert_int_equal(runs.tracked, 8 * EPOCHS);
    free_result(&eager);
    free_result(&graph);
    free_result(&runs);
    ct_dataset_free(ds);
}

static void test_mlp_resumed_replayed_equals_op_by_op(void **state) {
    ct_dataset *ds = make_data();
    const char *spec = "flatten,linear(16),relu,linear(3)";
    run_result eager = train(ds, spec, 0, 0, 0, 1), graph = train(ds, spec, 0, 1, 0, 1),
               runs = train(ds, spec, 0, 1, 0, 3);
    same_run(&graph, &eager, "mlp, resumed mid-epoch");
    same_run(&runs, &eager, "mlp, resumed mid-epoch, 3 steps per recording");
    /* in runs of 3: epoch 0's steps 1-3; epoch 1's 0-2 (the stop asked at 2 comes after 3);
     * resumed: step 3 op by op (warming up), epoch 2's 0-2 and then 3 alone */
    assert_int_equal(runs.recordings, 1 + 1 + 2);
    assert_int_equal(runs.launches, 1 + 1 + 2);
    free_result(&runs);
    /* 4 full batches an epoch. The first fit: epoch 0's first op by op and 3 replayed, epoch
     * 1's first 2 replayed (then the stop); the resumed fit: epoch 1's third op by op (a new
     * fit warms up again) and its fourth replayed, epoch 2's 4 replayed. Each epoch of each fit
     * is recorded once. */
    assert_int_equal(graph.recordings, 4);
    assert_int_equal(graph.launches, 3 + 2 + 1 + 4);
    free_result(&eager);
    free_result(&graph);
    ct_dataset_free(ds);
}

static void test_failed_recording_runs_op_by_op(void **state) {
    ct_dataset *ds = make_data();
    run_result eager = train(ds, k_cnn, 1, 0, 0, 1), failed = train(ds, k_cnn, 1, 1, 1, 3);
    same_run(&failed, &eager, "cnn after a failed recording");
    assert_int_equal(failed.recordings, 0);
    assert_int_equal(failed.launches, 0);
    assert_int_equal(failed.refused, 1); /* tried once, then off for the run */
    assert_non_null(strstr(failed.note, "off (recording the step failed: "));
    assert_non_null(strstr(failed.note, "conv2d_forward refused"));
    free_result(&eager);
    free_result(&failed);
    ct_dataset_free(ds);
}

/* RMSprop's lr and momentum (one-cycle's, changing every step) come from the step table too. */
static void test_rmsprop_resumed_replayed_equals_op_by_op(void **state) {
    g_rmsprop = 1;
    ct_dataset *ds = make_data();
    const char *spec = "flatten,linear(16),relu,linear(3)";
    run_result eager = train(ds, spec, 0, 0, 0, 1), graph = train(ds, spec, 0, 1, 0, 1);
    same_run(&graph, &eager, "mlp with RMSprop, resumed mid-epoch");
    assert_true(graph.launches > 0);
    /* (it learns: an update that read nothing from the table would not train at all) */
    if (!(eager.hist[EPOCHS - 1].train_loss < 0.8 * eager.hist[0].train_loss))
        fail_msg("RMSprop did not train: train loss %.6g, then %.6g", eager.hist[0].train_loss,
                 eager.hist[EPOCHS - 1].train_loss);
    free_result(&eager);
    free_result(&graph);
    ct_dataset_free(ds);
    g_rmsprop = 0;
}

/* A run length that makes no sense is refused, naming the variable. */
static void test_bad_run_length(void **state) {
    ct_dataset *ds = make_data();
    ct_backend *b = recording_backend(1, 0);
    ct_model *m = NULL;
    OK(ct_model_create(b, "flatten,linear(3)", 1, S, S, 32, 13, &m));
    ct_train_config c;
    ct_train_config_default(&c);
    c.workers = 0;
    c.batch_size = 25;
    c.eval_batch_size = 32;
    int32_t idx[N_ALL];
    for (int i = 0; i < N_ALL; i++) idx[i] = i;
    static const char *const bad[] = {"0", "65", "3x", "", " 8", "+8"};
    for (int k = 0; k < 6; k++) {
        setenv("CTRAIN_CUDA_GRAPH_STEPS", bad[k], 1);
        assert_int_equal(ct_fit(m, ds, idx, N_TRAIN, idx + N_TRAIN, N_ALL - N_TRAIN, &c, NULL,
                                NULL),
                         CT_ERR_INVALID);
        assert_non_null(strstr(ct_last_error(), "CTRAIN_CUDA_GRAPH_STEPS"));
    }
    unsetenv("CTRAIN_CUDA_GRAPH_STEPS");
    ct_model_free(m);
    ct_backend_free(b);
    ct_dataset_free(ds);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cnn_replayed_equals_op_by_op),
        cmocka_unit_test(test_mlp_resumed_replayed_equals_op_by_op),
        cmocka_unit_test(test_rmsprop_resumed_replayed_equals_op_by_op),
        cmocka_unit_test(test_failed_recording_runs_op_by_op),
        cmocka_unit_test(test_bad_run_length),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
