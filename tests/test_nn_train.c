/*
 * test_nn_train.c — CNNs trained end to end through ct_fit on the CPU, in a few seconds:
 *
 * - a small CNN (conv, batch norm, ReLU, max and average pooling, dropout, linear) learns a
 *   synthetic 12x12 image task (3 classes of shapes: horizontal bar, vertical bar, hollow
 *   square, at random places on a noisy background) with Adam and a one-cycle schedule;
 * - dropout and stochastic depth masks do not depend on the number of CPU shards: the same run
 *   on 1 and 2 threads
 *   ends with the same parameters (up to the summation order of the gradients);
 * - augmentation (crop, flip) is the same whatever the threads and the data path;
 * - group and layer norm, and a small vision transformer (attention), end alike on 1 and 2
 *   threads and on CUDA;
 * - evaluation is deterministic (dropout off, batch norm on its running statistics);
 * - CUDA, when there, ends the same run as the CPU on one thread (one shard) with the same
 *   parameters and running statistics, augmentation, squeeze-and-excitation and stochastic
 *   depth included (else "SKIP cuda: why");
 * - micro-batches (gradient accumulation, ct_train_config.micro_batch) train as whole batches:
 *   to float rounding without batch norm (uneven pieces, a shorter last batch, dropout and
 *   augmentation), and with it as the CPU's shards do (1 thread in pieces of half a batch is 2
 *   threads on whole ones); on CUDA too, from recorded steps; evaluation runs in pieces of
 *   what the model holds, and a batch the model cannot hold without them is refused.
 */
#include "testutil.h"

#include "core/core.h"
#include "ctrain/io.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { S = 12, N_TRAIN = 1200, N_VAL = 300, N_ALL = N_TRAIN + N_VAL };

/* n images (n, 1, 12, 12) of the three shapes, label = shape. */
static ct_dataset *make_shapes(int n, uint64_t seed) {
    uint8_t *img = calloc((size_t)n, S * S), *lab = calloc((size_t)n, 1);
    assert_non_null(img);
    ct_rng r;
    ct_rng_init(&r, seed, 9);
    for (int i = 0; i < n; i++) {
        uint8_t *p = img + (size_t)i * S * S;
        for (int k = 0; k < S * S; k++) p[k] = (uint8_t)ct_rng_below(&r, 60);
        int cls = (int)ct_rng_below(&r, 3), y = (int)ct_rng_below(&r, S - 5),
            x = (int)ct_rng_below(&r, S - 5);
        lab[i] = (uint8_t)cls;
        for (int k = 0; k < 5; k++) {
            if (cls == 0) p[(y + 2) * S + x + k] = 255;               /* horizontal bar */
            if (cls == 1) p[(y + k) * S + x + 2] = 255;               /* vertical bar */
            if (cls == 2 && k < 4) {                                  /* hollow 4x4 square */
                p[y * S + x + k] = p[(y + 3) * S + x + k] = 255;
                p[(y + k) * S + x] = p[(y + k) * S + x + 3] = 255;
            }
        }
    }
    ct_dataset *ds = NULL;
    OK(ct_dataset_create(n, 1, S, S, 3, img, lab, &ds));
    free(img);
    free(lab);
    return ds;
}

static int32_t *range(int from, int n) {
    int32_t *idx = malloc(sizeof(int32_t) * (size_t)n);
    for (int i = 0; i < n; i++) idx[i] = from + i;
    return idx;
}

static void test_cnn_learns_shapes(void **state) {
    ct_backend *b = NULL;
    OK(ct_backend_create("cpu", 0, &b));
    ct_dataset *ds = make_shapes(N_ALL, 3);
    const char *spec = "conv(8,3,1,1),batchnorm,relu,maxpool(2),conv(16,3),relu,avgpool(2),"
                       "flatten,dropout(0.25),linear(3)";
    ct_model *m = NULL;
    OK(ct_model_create(b, spec, 1, S, S, 64, 11, &m));
    ct_train_config c;
    ct_train_config_default(&c);
    c.num_phases = 1;
    c.phases[0] = (ct_phase){4, 0.01f};
    c.optimizer = CT_ADAM;
    c.schedule = CT_SCHED_ONECYCLE;
    c.batch_size = 32;
    c.eval_batch_size = 64;
    c.workers = 0;
    c.clip_norm = 5.0f;
    int32_t *tr = range(0, N_TRAIN), *va = range(N_TRAIN, N_VAL);
    ct_epoch_result hist[4];
    double t0 = ct_time_s();
    OK(ct_fit(m, ds, tr, N_TRAIN, va, N_VAL, &c, NULL, hist));
    for (int e = 0; e < 4; e++)
        printf("# epoch %d: lr %.4f train loss %.4f acc %.3f, val loss %.4f acc %.3f (%.2f s)\n",
               e, hist[e].lr, hist[e].train_loss, hist[e].train_acc, hist[e].val.loss,
               hist[e].val.accuracy, hist[e].train_s);
    printf("# %.2f s in all\n", ct_time_s() - t0);
    if (hist[3].val.accuracy < 0.95)
        fail_msg("validation accuracy %.3f after 4 epochs (expected >= 0.95)",
                 hist[3].val.accuracy);
    assert_true(hist[3].train_loss < hist[0].train_loss);
    /* num_batches_tracked counts every training step (1200 / 32: 38 an epoch), on all threads'
     * shards together, not once per shard; evaluation does not count */
    assert_int_equal(ct_model_batches_tracked(m, 1), 4 * 38);
    /* evaluation is deterministic: dropout is off, batch norm uses its running statistics */
    ct_eval_result r1, r2;
    OK(ct_evaluate(m, ds, va, N_VAL, 64, &r1));
    OK(ct_evaluate(m, ds, va, N_VAL, 50, &r2));
    if (fabs(r1.loss - r2.loss) > 1e-5 || r1.accuracy != r2.accuracy)
        fail_msg("evaluation depends on the batch: loss %.7f vs %.7f", r1.loss, r2.loss);
    if (fabs(r1.accuracy - hist[3].val.accuracy) > 1e-9)
        fail_msg("evaluate %.4f vs the fit's validation %.4f", r1.accuracy, hist[3].val.accuracy);
    assert_int_equal(ct_model_batches_tracked(m, 1), 4 * 38);
    ct_model_free(m);
    ct_dataset_free(ds);
    ct_backend_free(b);
    free(tr);
    free(va);
}

/* The small run the invariance tests make: spec on 96 shapes, 2 epochs of SGD with momentum,
 * batch 31 (uneven shards), on device (`threads` CPU threads) with the given data path (-1 auto,
 * 0 the loader workers, 1 resident) and augmentation. Returns the final parameters (malloc'd;
 * *P of them) and, when hist is not NULL, the epochs' results there; NULL when the device
 * cannot be opened. */
static float *small_run_on(const char *device, const ct_dataset *ds, const char *spec,
                           int threads, int data_on_device, int augment_pad, int augment_flip,
                           int64_t *P, ct_epoch_result *hist) {
    ct_backend *b = NULL;
    if (ct_backend_create(device, threads, &b) != CT_OK) return NULL;
    ct_model *m = NULL;
    OK(ct_model_create(b, spec, 1, S, S, 32, 5, &m));
    ct_train_config c;
    ct_train_config_default(&c);
    c.num_phases = 1;
    c.phases[0] = (ct_phase){2, 0.05f};
    c.momentum = 0.9f;
    c.batch_size = 31;
    c.eval_batch_size = 32;
    c.data_on_device = data_on_device;
    c.workers = data_on_device == 0 ? 2 : 0;
    c.augment_pad = augment_pad;
    c.augment_flip = augment_flip;
    if (augment_flip) { /* and the affine warp */
        c.augment_degrees = 15.0f;
        c.augment_translate = 0.1f;
        c.augment_scale_min = 0.9f, c.augment_scale_max = 1.1f;
        c.augment_shear = 5.0f;
        c.augment_bilinear = 1;
    }
    int32_t *tr = range(0, 96);
    OK(ct_fit(m, ds, tr, 96, NULL, 0, &c, NULL, hist));
    *P = ct_model_param_count(m);
    float *p = malloc((size_t)*P * 4);
    assert_non_null(p);
    OK(ct_model_get_params(m, p));
    ct_model_free(m);
    ct_backend_free(b);
    free(tr);
    return p;
}

static float *small_run(const ct_dataset *ds, const char *spec, int threads, int data_on_device,
                        int augment_pad, int augment_flip, int64_t *P) {
    float *p = small_run_on("cpu", ds, spec, threads, data_on_device, augment_pad, augment_flip,
                            P, NULL);
    assert_non_null(p);
    return p;
}

/* max |a - b| and max |a| over n */
static void max_diff(const float *a, const float *b, int64_t n, double *diff, double *mag) {
    *diff = *mag = 0;
    for (int64_t j = 0; j < n; j++) {
        *diff = fmax(*diff, fabs(a[j] - b[j]));
        *mag = fmax(*mag, fabs(a[j]));
    }
}

/* The same run with dropout and stochastic depth on one thread and on two: their masks follow
 * the global row. */
static void test_dropout_shard_invariance(void **state) {
    ct_dataset *ds = make_shapes(96, 4);
    const char *spec = "conv(4,3),relu,residual(conv(4,3,1,1),tanh,droppath(0.4)),flatten,"
                       "dropout(0.5),linear(16),relu,dropout(0.3),linear(3)";
    int64_t P = 0;
    float *p1 = small_run(ds, spec, 1, -1, 0, 0, &P), *p2 = small_run(ds, spec, 2, -1, 0, 0, &P);
    double diff, mag;
    max_diff(p1, p2, P, &diff, &mag);
    if (diff > 1e-4 * mag) fail_msg("1 vs 2 threads: parameters differ by %.3g (max |p| %.3g)",
                                    diff, mag);
    free(p1);
    free(p2);
    ct_dataset_free(ds);
}

/* 2 epochs of SGD with momentum of spec end alike on one CPU thread, on two (uneven shards)
 * and on CUDA (when there: the emulator in make test); and, when learns, they train (the loss
 * falls). */
static void same_on_devices(const char *test, const char *spec, int learns) {
    ct_dataset *ds = make_shapes(96, 4);
    const char *device[3] = {"cpu", "cpu", "cuda"};
    float *p[3] = {NULL, NULL, NULL};
    double loss[3][2];
    int64_t P = 0;
    for (int k = 0; k < 3; k++) {
        ct_epoch_result hist[2];
        if (!(p[k] = small_run_on(device[k], ds, spec, k == 1 ? 2 : 1, -1, 0, 0, &P, hist))) {
            if (tu_needed("cuda")) fail_msg("cuda (CTRAIN_TEST_NEED): %s", ct_last_error());
            printf("SKIP %s on cuda: %s\n", test, ct_last_error());
            break;
        }
        loss[k][0] = hist[0].train_loss, loss[k][1] = hist[1].train_loss;
    }
    printf("# loss %.4f then %.4f\n", loss[0][0], loss[0][1]);
    if (learns && !(loss[0][1] < loss[0][0]))
        fail_msg("loss %.4f then %.4f", loss[0][0], loss[0][1]);
    for (int k = 1; k < 3 && p[k]; k++) {
        double diff, mag;
        max_diff(p[0], p[k], P, &diff, &mag);
        if (!(diff <= 1e-4 * mag) || !(fabs(loss[k][1] - loss[0][1]) <= 1e-4 * (1 + loss[0][1])))
            fail_msg("%s (%d threads) vs 1 CPU thread: parameters differ by %.3g (max |p| %.3g), "
                     "last loss %.6f vs %.6f", device[k], k == 1 ? 2 : 1, diff, mag, loss[k][1],
                     loss[0][1]);
    }
    for (int k = 0; k < 3; k++) free(p[k]);
    ct_dataset_free(ds);
}

/* Group and layer norm: each sample's own statistics, however the batch is split. */
static void test_norm_layers(void **state) {
    same_on_devices("test_norm_layers",
                    "conv(4,3,2,1),groupnorm(2),relu,conv(6,3),layernorm,tanh,flatten,linear(12),"
                    "groupnorm(2,0.001),tanh,linear(12),layernorm,relu,linear(3)", 1);
}

/* A small vision transformer (attention.c): patches as tokens, a class token, position
 * embeddings, an encoder block of attention and an MLP, each token's layer norm. Then with
 * attention's dropout (its weights'), whose masks are the batch's on each shard and on the GPU
 * (its loss then wanders in these 2 epochs: 1.204, 1.222 at 0.2; 1.215, 1.214 without). */
static void test_attention_layers(void **state) {
    same_on_devices("test_attention_layers",
                    "conv(8,3,3,0),tokens,clstoken,posembed,residual(layernorm(1e-6),attention(2)),"
                    "residual(layernorm(1e-6),linear(16),gelu,linear(8)),layernorm,clspool,"
                    "linear(3)", 1);
    same_on_devices("test_attention_layers (dropout)",
                    "conv(8,3,3,0),tokens,clstoken,posembed,"
                    "residual(layernorm(1e-6),attention(2,0.2)),"
                    "residual(layernorm(1e-6),linear(16),gelu,linear(8)),layernorm,clspool,"
                    "linear(3)", 0);
}

/* Augmentation (random affine, random crop with padding, flip): the same run on 1 thread with
 * the dataset resident and on 2 threads through the loader workers ends with the same
 * parameters (each image's transform follows its place in the epoch, not the thread or path
 * that gathers it); and it does change the training (the same run without it ends elsewhere). */
static void test_augment_invariance(void **state) {
    ct_dataset *ds = make_shapes(96, 5);
    const char *spec = "conv(4,3),relu,flatten,linear(16),relu,linear(3)";
    int64_t P = 0;
    float *resident = small_run(ds, spec, 1, 1, 2, 1, &P);
    float *streamed = small_run(ds, spec, 2, 0, 2, 1, &P);
    float *plain = small_run(ds, spec, 1, 1, 0, 0, &P);
    double diff, off, mag;
    max_diff(resident, streamed, P, &diff, &mag);
    if (diff > 1e-4 * mag)
        fail_msg("augmented, 1 thread resident vs 2 threads streamed: parameters differ by %.3g "
                 "(max |p| %.3g)", diff, mag);
    max_diff(resident, plain, P, &off, &mag);
    if (!(off > 1e-2 * mag))
        fail_msg("augmentation on vs off: parameters differ by only %.3g (max |p| %.3g)", off, mag);
    free(resident);
    free(streamed);
    free(plain);
    ct_dataset_free(ds);
}

/* The model's tensor called name (its offset and count in the parameters). */
static ct_tensor_info tensor_named(const ct_model *m, const char *name) {
    ct_tensor_info t;
    for (int i = 0; i < ct_model_tensor_count(m); i++) {
        OK(ct_model_tensor_info(m, i, &t));
        if (!strcmp(t.name, name)) return t;
    }
    fail_msg("no tensor %s", name);
    return t;
}

/* CUDA (when there) against the CPU on one thread (one shard each): the same run of a CNN with
 * every new layer ends with the same parameters and running statistics, to float tolerance.
 * CUDA runs it twice: replaying each epoch's recorded steps (CUDA graphs, in runs of 2), and op
 * by op (CTRAIN_CUDA_GRAPH=0); the CPU records nothing. */
static void test_cuda_matches_cpu(void **state) {
    ct_backend *bk[3] = {NULL, NULL, NULL};
    if (ct_backend_create("cuda", 0, &bk[1]) != CT_OK)
        TU_SKIP("cuda", "%s", ct_last_error());
    OK(ct_backend_create("cpu", 1, &bk[0]));
    bk[2] = bk[1];
    ct_dataset *ds = make_shapes(200, 6);
    const char *spec = "conv(6,3,1,1),batchnorm,relu,se(3,relu,hardsigmoid),maxpool(2),"
                       "residual(conv(6,3,1,1),tanh,se(2,silu),droppath(0.3)),conv(8,3,2,1),tanh,"
                       "avgpool(3,1,1),flatten,dropout(0.3),linear(12),batchnorm,gelu,linear(3)";
    float *p[3], *bufs[3];
    int64_t P = 0, B = 0;
    ct_tensor_info noisy[2]; /* the biases before the batch norms (below) */
    ct_epoch_result hist[3][2];
    for (int k = 0; k < 3; k++) {
        if (k == 2) setenv("CTRAIN_CUDA_GRAPH", "0", 1);
        if (k == 1) setenv("CTRAIN_CUDA_GRAPH_STEPS", "2", 1); /* runs of 2 recorded steps */
        ct_model *m = NULL;
        OK(ct_model_create(bk[k], spec, 1, S, S, 64, 8, &m));
        ct_train_config c;
        ct_train_config_default(&c);
        c.num_phases = 1;
        c.phases[0] = (ct_phase){2, 0.003f};
        c.optimizer = CT_ADAMW;
        c.schedule = CT_SCHED_COSINE;
        c.warmup_steps = 3;
        c.clip_norm = 1.0f;
        c.augment_pad = 2;
        c.augment_flip = 1;
        c.augment_degrees = 20.0f;
        c.augment_translate = 0.1f;
        c.batch_size = 40;
        c.eval_batch_size = 64;
        c.workers = 0;
        c.data_on_device = 1;
        int32_t *tr = range(0, 160), *va = range(160, 40);
        if (k == 0) {
            noisy[0] = tensor_named(m, "conv1.bias");
            noisy[1] = tensor_named(m, "linear1.bias");
        }
        OK(ct_fit(m, ds, tr, 160, va, 40, &c, NULL, hist[k]));
        unsetenv("CTRAIN_CUDA_GRAPH");
        unsetenv("CTRAIN_CUDA_GRAPH_STEPS");
        const char *note = ct_model_step_graph(m);
        for (int e = 0; e < 2; e++) /* 4 full batches an epoch, replayed on CUDA but the
                                     * fit's first (run op by op, before any recording) */
            if (hist[k][e].graph_steps != (k == 1 ? 4 - (e == 0) : 0))
                fail_msg("run %d epoch %d: %lld steps replayed from a graph (%s)", k, e,
                         (long long)hist[k][e].graph_steps, note);
        if (k == 2) assert_string_equal(note, "off (CTRAIN_CUDA_GRAPH=0)");
        else assert_string_equal(note, "");
        int bn_layers = 0; /* num_batches_tracked: every step counts, replayed or not */
        for (int i = 0; i < 20; i++) { /* -1: not a batch norm layer, or no such layer */
            int64_t t = ct_model_batches_tracked(m, i);
            if (t == -1) continue;
            bn_layers++;
            if (t != 8) fail_msg("run %d: layer %d tracked %lld batches, not 2 x 4", k, i,
                                 (long long)t);
        }
        assert_int_equal(bn_layers, 2);
        P = ct_model_param_count(m);
        B = ct_model_buffer_count(m);
        p[k] = malloc((size_t)P * 4);
        bufs[k] = malloc((size_t)B * 4);
        OK(ct_model_get_params(m, p[k]));
        OK(ct_model_get_buffers(m, bufs[k]));
        ct_model_free(m);
        free(tr);
        free(va);
    }
    for (int e = 0; e < 2; e++)
        if (!(fabs(hist[0][e].train_loss - hist[1][e].train_loss) <= 1e-3 * (1 + hist[0][e].train_loss)))
            fail_msg("epoch %d: training loss cpu %.6f, cuda %.6f", e, hist[0][e].train_loss,
                     hist[1][e].train_loss);
    /* The biases of the two layers that feed a batch norm (conv(6) and linear(12)) have a
     * gradient that is zero but for rounding: batch norm takes the mean out. AdamW divides that
     * noise by its own size and moves them by up to a step each time, in directions no two
     * summation orders agree on (the CUDA emulator showed it); so here they are held only to
     * being finite and within AdamW's reach, 8 steps of at most lr * (1 - beta1) / sqrt(1 -
     * beta2) each (the ops that compute them are checked against the CPU in test_ops and
     * test_nn_ops). NaN fails every check below (!(d <= tol)). */
    const double reach = 2 * 8 * 0.003 * (1 - 0.9) / sqrt(1 - 0.999); /* two runs apart */
    assert_int_equal(noisy[0].count, 6);
    assert_int_equal(noisy[1].count, 12);
    for (int64_t j = 0; j < P; j++) {
        int noise = 0;
        for (int t = 0; t < 2; t++)
            noise |= j >= noisy[t].offset && j < noisy[t].offset + noisy[t].count;
        double d = fabs(p[0][j] - p[1][j]);
        if (!(d <= (noise ? reach : 1e-3 * (1 + fabs(p[0][j])))))
            fail_msg("parameter %lld: cpu %.7g, cuda %.7g", (long long)j, p[0][j], p[1][j]);
    }
    /* buffers: running_mean (6), running_var (6), running_mean (12), running_var (12); the
     * running means average those biases in */
    assert_int_equal(B, 2 * 6 + 2 * 12);
    for (int64_t j = 0; j < B; j++) {
        int noise = j < 6 || (j >= 12 && j < 24);
        double d = fabs(bufs[0][j] - bufs[1][j]);
        if (!(d <= (noise ? reach : 1e-3 * (1 + fabs(bufs[0][j])))))
            fail_msg("buffer %lld: cpu %.7g, cuda %.7g", (long long)j, bufs[0][j], bufs[1][j]);
    }
    /* the same kernels in the same order: only atomic sums' order may differ */
    for (int64_t j = 0; j < P; j++)
        if (!(fabs(p[1][j] - p[2][j]) <= 1e-5 * (1 + fabs(p[1][j]))))
            fail_msg("parameter %lld: cuda graph %.7g, op by op %.7g", (long long)j, p[1][j],
                     p[2][j]);
    for (int k = 0; k < 3; k++) {
        free(p[k]);
        free(bufs[k]);
    }
    ct_backend_free(bk[0]);
    ct_backend_free(bk[1]);
    ct_dataset_free(ds);
}

/* Trains the MLP on b for 3 epochs (170 rows in batches of 40: 4 full and one of 10), SGD with
 * momentum or AdamW; the parameters (malloc'ed) and the fused-step note come back. */
static float *fit_mlp(ct_backend *b, const ct_dataset *ds, ct_optimizer_kind opt,
                      ct_epoch_result hist[3], int64_t *P, char note[240]) {
    ct_model *m = NULL;
    OK(ct_model_create(b, "flatten,linear(32),relu,linear(3)", 1, S, S, 64, 9, &m));
    ct_train_config c;
    ct_train_config_default(&c);
    c.num_phases = 1;
    c.phases[0] = (ct_phase){3, opt == CT_SGD ? 0.2f : 0.003f};
    c.optimizer = opt;
    c.schedule = opt == CT_SGD ? CT_SCHED_COSINE : CT_SCHED_ONECYCLE;
    if (opt == CT_SGD) c.momentum = 0.9f, c.weight_decay = 1e-4f;
    c.batch_size = 40;
    c.eval_batch_size = 64;
    c.workers = 0;
    c.data_on_device = 1;
    int32_t *tr = range(0, 170), *va = range(170, 60);
    OK(ct_fit(m, ds, tr, 170, va, 60, &c, NULL, hist));
    snprintf(note, 240, "%s", ct_model_fused_step(m));
    *P = ct_model_param_count(m);
    float *p = malloc((size_t)*P * 4);
    OK(ct_model_get_params(m, p));
    ct_model_free(m);
    free(tr);
    free(va);
    return p;
}

/* Run `what` (history h, parameters p) ends where the CPU's run (h0, p0) does, to 1e-3. */
static void same_as_cpu(const char *what, const ct_epoch_result *h0, const float *p0,
                        const ct_epoch_result *h, const float *p, int64_t P) {
    for (int e = 0; e < 3; e++)
        if (fabs(h0[e].train_loss - h[e].train_loss) > 1e-3 * (1 + h0[e].train_loss) ||
            fabs(h0[e].val.loss - h[e].val.loss) > 1e-3 * (1 + h0[e].val.loss))
            fail_msg("%s epoch %d: losses cpu %.6f/%.6f, cuda %.6f/%.6f", what, e,
                     h0[e].train_loss, h0[e].val.loss, h[e].train_loss, h[e].val.loss);
    for (int64_t j = 0; j < P; j++)
        if (fabs(p0[j] - p[j]) > 1e-3 * (1 + fabs(p0[j])))
            fail_msg("%s parameter %lld: cpu %.7g, cuda %.7g", what, (long long)j, p0[j], p[j]);
}

/* The MLP on CUDA (when there) trains through the fused step (mlp_step): all of an epoch's
 * full steps in one cooperative launch (the default), a step a launch
 * (CTRAIN_CUDA_GRAPH_STEPS=1), on one block (CTRAIN_CUDA_MLP_GRID=1), as three launches a step
 * (CTRAIN_CUDA_MLP_LAUNCH=phases) and, for comparison, through the layers' ops
 * (CTRAIN_CUDA_FUSED=0, graphs replayed), with SGD; and fused with AdamW. All end where the
 * CPU does, to float tolerance; the fused runs agree bit for bit. */
static void test_cuda_fused_mlp(void **state) {
    ct_backend *cpu = NULL, *gpu = NULL;
    if (ct_backend_create("cuda", 0, &gpu) != CT_OK) TU_SKIP("cuda", "%s", ct_last_error());
    OK(ct_backend_create("cpu", 1, &cpu));
    ct_dataset *ds = make_shapes(230, 8);
    enum { RUNS = 6 };
    static const char *const env[RUNS][2] = {{NULL, NULL},
                                             {NULL, NULL},
                                             {"CTRAIN_CUDA_GRAPH_STEPS", "1"},
                                             {"CTRAIN_CUDA_MLP_GRID", "1"},
                                             {"CTRAIN_CUDA_MLP_LAUNCH", "phases"},
                                             {"CTRAIN_CUDA_FUSED", "0"}};
    static const char *const what[RUNS] = {"", "fused", "fused, a step a launch",
                                           "fused, one block", "fused, three launches a step",
                                           "layers' ops"};
    float *p[RUNS];
    int64_t P = 0;
    ct_epoch_result hist[RUNS][3];
    char note[240];
    for (int k = 0; k < RUNS; k++) {
        if (env[k][0]) setenv(env[k][0], env[k][1], 1);
        p[k] = fit_mlp(k ? gpu : cpu, ds, CT_SGD, hist[k], &P, note);
        if (env[k][0]) unsetenv(env[k][0]);
        if (k) printf("%s: Fused step: %s\n", what[k], note);
        if (k == 0) assert_string_equal(note, "");
        else if (k == RUNS - 1) assert_string_equal(note, "off (CTRAIN_CUDA_FUSED=0)");
        else if (strncmp(note, "on", 2) != 0) fail_msg("%s: fused step %s", what[k], note);
        /* the cooperative kernel where it was not turned off: a GPU (or a tool) that cannot
         * launch it falls back to three launches a step, which would leave it untested */
        else if ((k < RUNS - 2) != (strstr(note, "one cooperative kernel of ") != NULL))
            fail_msg("%s: the fused step launched as \"%s\"", what[k], note);
        for (int e = 0; e < 3; e++)
            if (hist[k][e].graph_steps != (k == RUNS - 1 ? 4 - (e == 0) : 0))
                fail_msg("%s, epoch %d: %lld steps replayed from a graph", what[k], e,
                         (long long)hist[k][e].graph_steps);
    }
    for (int k = 1; k < RUNS; k++) same_as_cpu(what[k], hist[0], p[0], hist[k], p[k], P);
    /* the fused step sums in one fixed order however it is launched: the same bits */
    for (int k = 2; k < RUNS - 1; k++)
        if (memcmp(p[1], p[k], (size_t)P * 4) != 0) fail_msg("%s and %s differ", what[1], what[k]);
    for (int k = 0; k < RUNS; k++) free(p[k]);

    ct_epoch_result ahist[2][3]; /* AdamW: the CPU's layers' ops, the fused step */
    float *ap[2];
    for (int k = 0; k < 2; k++) ap[k] = fit_mlp(k ? gpu : cpu, ds, CT_ADAMW, ahist[k], &P, note);
    if (strncmp(note, "on", 2) != 0) fail_msg("AdamW on CUDA: fused step %s", note);
    same_as_cpu("AdamW, fused", ahist[0], ap[0], ahist[1], ap[1], P);
    free(ap[0]);
    free(ap[1]);
    ct_backend_free(cpu);
    ct_backend_free(gpu);
    ct_dataset_free(ds);
}

/* One run of micro_test_run's: spec on make_shapes(200, 7)'s first n_train images (batches of
 * `batch`, micro-batches of `micro`, 0: none) on backend `device` with `threads`, the model
 * holding max_batch a shard; 2 epochs of SGD with momentum, augmented, validated on 40 images.
 * The final parameters (malloc'd), the history and the running statistics' sum. */
typedef struct {
    float *params;
    int64_t n_params;
    ct_epoch_result hist[2];
    double buffers;
} micro_result;

static micro_result micro_run(const char *device, int threads, const char *spec, int max_batch,
                              int batch, int micro, int n_train) {
    micro_result r;
    memset(&r, 0, sizeof r);
    ct_backend *b = NULL;
    OK(ct_backend_create(device, threads, &b));
    ct_dataset *ds = make_shapes(200, 7);
    ct_model *m = NULL;
    OK(ct_model_create(b, spec, 1, S, S, max_batch, 9, &m));
    ct_train_config c;
    ct_train_config_default(&c);
    c.num_phases = 1;
    c.phases[0] = (ct_phase){2, 0.05f};
    c.momentum = 0.9f;
    c.batch_size = batch;
    c.micro_batch = micro;
    c.eval_batch_size = 40;
    c.workers = 0;
    c.data_on_device = 1;
    c.augment_pad = 2;
    c.augment_flip = 1;
    int32_t *tr = range(0, n_train), *va = range(160, 40);
    OK(ct_fit(m, ds, tr, n_train, va, 40, &c, NULL, r.hist));
    r.n_params = ct_model_param_count(m);
    r.params = malloc((size_t)r.n_params * 4);
    assert_non_null(r.params);
    OK(ct_model_get_params(m, r.params));
    int64_t nb = ct_model_buffer_count(m);
    float *bufs = malloc((size_t)(nb ? nb : 1) * 4);
    OK(ct_model_get_buffers(m, bufs));
    for (int64_t j = 0; j < nb; j++) r.buffers += bufs[j];
    free(bufs);
    ct_model_free(m);
    ct_dataset_free(ds);
    ct_backend_free(b);
    free(tr);
    free(va);
    return r;
}

/* a and b's losses and parameters agree within tol (relative, and of the largest parameter) */
static void micro_same(const char *what, const micro_result *a, const micro_result *b, double tol) {
    for (int e = 0; e < 2; e++) {
        const double la[2] = {a->hist[e].train_loss, a->hist[e].val.loss};
        const double lb[2] = {b->hist[e].train_loss, b->hist[e].val.loss};
        for (int k = 0; k < 2; k++)
            if (!(fabs(la[k] - lb[k]) <= tol * fabs(la[k])))
                fail_msg("%s: epoch %d %s loss %.9f vs %.9f", what, e, k ? "val" : "train", la[k],
                         lb[k]);
    }
    double diff, mag;
    max_diff(a->params, b->params, a->n_params, &diff, &mag);
    if (!(diff <= tol * mag))
        fail_msg("%s: parameters differ by %.3g (max |p| %.3g)", what, diff, mag);
    if (!(fabs(a->buffers - b->buffers) <= tol * (1 + fabs(a->buffers))))
        fail_msg("%s: running statistics' sums %.9g vs %.9g", what, a->buffers, b->buffers);
}

static void micro_free(micro_result *r) { free(r->params); }

static void test_micro_batch(void **state) {
    const char *plain = "conv(6,3,1,1),relu,maxpool(2),flatten,dropout(0.3),linear(3)";
    const char *bn = "conv(6,3,1,1),batchnorm,relu,maxpool(2),flatten,dropout(0.3),linear(3)";
    /* batches of 40 (the last of 150: 30) in pieces of at most 16: 14 + 13 + 13, then 15 + 15 */
    micro_result whole = micro_run("cpu", 1, plain, 40, 40, 0, 150);
    micro_result parts = micro_run("cpu", 1, plain, 16, 40, 16, 150);
    micro_same("whole batches vs micro-batches of 16", &whole, &parts, 1e-5);
    micro_result parts2 = micro_run("cpu", 2, plain, 8, 40, 16, 150); /* 2 shards a piece */
    micro_same("1 thread vs 2 in micro-batches", &whole, &parts2, 1e-5);
    /* batch norm: each shard normalises its rows, each piece its own: the same steps (an odd
     * batch, 41: 21 + 20 rows either way) */
    micro_result shards = micro_run("cpu", 2, bn, 21, 41, 0, 164);
    micro_result pieces = micro_run("cpu", 1, bn, 21, 41, 21, 164);
    micro_same("batch norm, 2 threads vs 1 in halves", &shards, &pieces, 1e-6);
    micro_result* all[] = {&whole, &parts, &parts2, &shards, &pieces};
    for (int k = 0; k < 5; k++) micro_free(all[k]);

    /* evaluation in pieces of what the model holds (16), whatever the batch asked; a batch of
     * 40 the model cannot hold is refused, naming micro_batch, and so is a negative one */
    ct_backend *b = NULL;
    OK(ct_backend_create("cpu", 1, &b));
    ct_dataset *ds = make_shapes(200, 7);
    ct_model *m = NULL;
    OK(ct_model_create(b, plain, 1, S, S, 16, 9, &m));
    ct_eval_result e1, e2;
    OK(ct_evaluate(m, ds, NULL, 200, 200, &e1));
    OK(ct_evaluate(m, ds, NULL, 200, 7, &e2));
    if (!(fabs(e1.loss - e2.loss) <= 1e-6 * e1.loss) || e1.accuracy != e2.accuracy)
        fail_msg("evaluation in pieces: loss %.9f vs %.9f", e1.loss, e2.loss);
    ct_train_config c;
    ct_train_config_default(&c);
    c.batch_size = 40;
    c.eval_batch_size = 100;
    int32_t *tr = range(0, 160);
    assert_int_equal(ct_fit_check(m, ds, tr, 160, NULL, 0, &c, NULL), CT_ERR_INVALID);
    if (!strstr(ct_last_error(), "micro_batch")) fail_msg("says: %s", ct_last_error());
    c.micro_batch = -1;
    assert_int_equal(ct_fit_check(m, ds, tr, 160, NULL, 0, &c, NULL), CT_ERR_INVALID);
    c.micro_batch = 16;
    OK(ct_fit_check(m, ds, tr, 160, NULL, 0, &c, NULL));
    c.micro_batch = 17; /* more than the model holds at once */
    assert_int_equal(ct_fit_check(m, ds, tr, 160, NULL, 0, &c, NULL), CT_ERR_INVALID);
    free(tr);
    ct_model_free(m);
    ct_dataset_free(ds);
    ct_backend_free(b);
}

/* On CUDA (when there): micro-batches train as whole batches, replaying recorded steps. */
static void test_cuda_micro_batch(void **state) {
    ct_backend *b = NULL;
    if (ct_backend_create("cuda", 0, &b) != CT_OK) TU_SKIP("cuda", "%s", ct_last_error());
    ct_backend_free(b);
    const char *plain = "conv(6,3,1,1),relu,maxpool(2),flatten,dropout(0.3),linear(3)";
    micro_result whole = micro_run("cuda", 0, plain, 40, 40, 0, 160);
    micro_result parts = micro_run("cuda", 0, plain, 16, 40, 16, 160);
    micro_same("cuda: whole batches vs micro-batches of 16", &whole, &parts, 1e-5);
    for (int e = 0; e < 2; e++) /* 4 full batches an epoch; the fit's first runs op by op */
        if (parts.hist[e].graph_steps != 4 - (e == 0))
            fail_msg("epoch %d: %lld steps replayed from a graph", e,
                     (long long)parts.hist[e].graph_steps);
    micro_free(&whole);
    micro_free(&parts);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cnn_learns_shapes),
        cmocka_unit_test(test_dropout_shard_invariance),
        cmocka_unit_test(test_norm_layers),
        cmocka_unit_test(test_attention_layers),
        cmocka_unit_test(test_augment_invariance),
        cmocka_unit_test(test_cuda_matches_cpu),
        cmocka_unit_test(test_cuda_fused_mlp),
        cmocka_unit_test(test_micro_batch),
        cmocka_unit_test(test_cuda_micro_batch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
