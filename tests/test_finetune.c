/*
 * test_finetune.c — fine-tuning: frozen layers (ct_train_config.frozen_layers) and loading all
 * of a saved model but its head (ct_checkpoint_load_backbone).
 *
 * - ct_model_freeze_point: layer names and "backbone" to a count of layers; the errors;
 *   ct_model_summary marking the frozen layers and counting their parameters apart;
 * - a CNN with batch norm and dropout trained with frozen layers (Adam with weight decay,
 *   clipping, a moving average, all cores' shards): the frozen parameters, running statistics
 *   and num_batches_tracked stay bit for bit (the average's too), the others train;
 * - one step: the trained layers' update is the unfrozen run's (the gradient past the frozen
 *   layers does not depend on them being frozen, in a model without batch norm or dropout);
 * - ct_fit refuses a frozen_layers out of range, or one that leaves nothing to train;
 * - ct_checkpoint_load_backbone: a model of other outputs takes all but the last layer's
 *   weights (which keep their initialisation), and only that layer may differ.
 * Each training case runs on the CPU and on CUDA (the emulator under ctest; else SKIP cuda).
 * That frozen layers run as at inference (batch norm on its running statistics) and train as
 * PyTorch's requires_grad_(False) modules in eval() do: cli_torch_parity.sh's freeze cases.
 */
#include "testutil.h"

#include "ctrain/io.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { S = 10, N = 240 };

#define CNN "conv(6,3,1,1),batchnorm,relu,maxpool(2),dropout(0.25),flatten,linear(16),relu," \
            "dropout(0.5),linear(3)"

/* n noisy images of 3 classes (the class is which third of the image is bright). */
static ct_dataset *make_data(int n) {
    uint8_t *img = hmalloc((size_t)n * S * S), *lab = hmalloc((size_t)n);
    ct_rng r;
    ct_rng_init(&r, 5, 9);
    for (int i = 0; i < n; i++) {
        lab[i] = (uint8_t)ct_rng_below(&r, 3);
        for (int k = 0; k < S * S; k++)
            img[(size_t)i * S * S + k] =
                (uint8_t)(ct_rng_below(&r, 100) + ((k % S) * 3 / S == lab[i] ? 120 : 0));
    }
    ct_dataset *ds = NULL;
    OK(ct_dataset_create(n, 1, S, S, 3, img, lab, &ds));
    free(img);
    free(lab);
    return ds;
}

static int32_t *range(int n) {
    int32_t *idx = hmalloc(sizeof(int32_t) * (size_t)n);
    for (int i = 0; i < n; i++) idx[i] = i;
    return idx;
}

static void test_freeze_point(void **state) {
    (void)state;
    ct_backend *b = NULL;
    OK(ct_backend_create("cpu", 1, &b));
    ct_model *m = NULL;
    OK(ct_model_create(b, CNN, 1, S, S, 8, 1, &m));
    int n = -1;
    /* conv1 batchnorm1 relu maxpool dropout flatten linear1 relu dropout linear2 */
    OK(ct_model_freeze_point(m, "batchnorm1", &n));
    assert_int_equal(n, 2);
    OK(ct_model_freeze_point(m, "conv1", &n));
    assert_int_equal(n, 1);
    /* backbone: up to linear1, the layer with weights before the head (the dropout after it
     * stays a training one) */
    OK(ct_model_freeze_point(m, "backbone", &n));
    assert_int_equal(n, 7);
    assert_string_equal(ct_model_layer_name(m, 6), "linear1");
    assert_null(ct_model_layer_name(m, 10));
    assert_int_equal(ct_model_frozen_params(m, 7),
                     ct_model_param_count(m) - (16 * 3 + 3)); /* all but linear2's */
    assert_int_equal(ct_model_frozen_params(m, 0), 0);
    assert_int_equal(ct_model_freeze_point(m, "linear2", &n), CT_ERR_INVALID); /* the head */
    assert_non_null(strstr(ct_last_error(), "leaves no layer with weights to train"));
    assert_int_equal(ct_model_freeze_point(m, "relu", &n), CT_ERR_INVALID); /* no weights */
    assert_non_null(strstr(ct_last_error(), "conv1, batchnorm1, linear1, linear2"));
    assert_int_equal(ct_model_freeze_point(m, "linear3", &n), CT_ERR_INVALID);
    /* the summary: the frozen layers marked, their parameters apart */
    char buf[4096];
    OK(ct_model_summary(m, 7, buf, sizeof buf));
    assert_non_null(strstr(buf, "linear1 (frozen)"));
    assert_null(strstr(buf, "linear2 (frozen)"));
    char want[128];
    snprintf(want, sizeof want, "Trainable params: 51\nFrozen params: %lld (the layers up to "
             "linear1", (long long)ct_model_param_count(m) - 51);
    assert_non_null(strstr(buf, want));
    OK(ct_model_summary(m, 0, buf, sizeof buf));
    assert_null(strstr(buf, "frozen"));
    ct_model_free(m);
    /* a model with one layer with weights has no backbone */
    OK(ct_model_create(b, "flatten,linear(3)", 1, S, S, 8, 1, &m));
    assert_int_equal(ct_model_freeze_point(m, "backbone", &n), CT_ERR_INVALID);
    assert_non_null(strstr(ct_last_error(), "only layer with weights"));
    ct_model_free(m);
    ct_backend_free(b);
}

static ct_train_config config(int epochs, int batch) {
    ct_train_config c;
    ct_train_config_default(&c);
    c.num_phases = 1;
    c.phases[0] = (ct_phase){epochs, 0.01f};
    c.batch_size = batch;
    c.eval_batch_size = 64;
    c.workers = 0;
    return c;
}

/* Frozen layers keep everything, bit for bit; the others train. */
static void test_frozen_stay(void **state) {
    ct_backend *b = tu_backend(state);
    ct_dataset *ds = make_data(N);
    int32_t *idx = range(N);
    ct_model *m = NULL;
    OK(ct_model_create(b, CNN, 1, S, S, 64, 3, &m));
    int64_t np = ct_model_param_count(m), nb = ct_model_buffer_count(m);
    float *p0 = hmalloc((size_t)np * 4), *p1 = hmalloc((size_t)np * 4);
    float *b0 = hmalloc((size_t)nb * 4), *b1 = hmalloc((size_t)nb * 4);
    OK(ct_model_get_params(m, p0));
    OK(ct_model_get_buffers(m, b0));
    ct_train_config c = config(2, 32);
    c.optimizer = CT_ADAM;
    c.weight_decay = 0.1f;
    c.clip_norm = 0.5f;
    c.ema_decay = 0.9f;
    OK(ct_model_freeze_point(m, "batchnorm1", &c.frozen_layers));
    OK(ct_fit(m, ds, idx, N - 40, idx + N - 40, 40, &c, NULL, NULL));
    OK(ct_model_get_params(m, p1)); /* (the moving average: the frozen part's is the weights) */
    OK(ct_model_get_buffers(m, b1));
    int64_t frozen = ct_model_frozen_params(m, c.frozen_layers);
    assert_int_equal(frozen, 6 * 9 + 6 + 6 * 2);
    assert_memory_equal(p0, p1, (size_t)frozen * 4);
    assert_memory_equal(b0, b1, (size_t)nb * 4); /* batchnorm1's running mean and var */
    assert_int_equal(ct_model_batches_tracked(m, 1), 0);
    int moved = 0;
    for (int64_t i = frozen; i < np; i++) moved += p0[i] != p1[i];
    if (moved < (np - frozen) / 2) fail_msg("only %d of %lld trained parameters moved", moved,
                                            (long long)(np - frozen));
    /* the trained weights (beside the average) too */
    OK(ct_ema_swap(m, 0));
    OK(ct_model_get_params(m, p1));
    assert_memory_equal(p0, p1, (size_t)frozen * 4);
    ct_model_free(m);
    free(p0), free(p1), free(b0), free(b1), free(idx);
    ct_dataset_free(ds);
}

/* One step: the trained layers get the unfrozen run's update. */
static void test_one_step_as_unfrozen(void **state) {
    ct_backend *b = tu_backend(state);
    ct_dataset *ds = make_data(N);
    int32_t *idx = range(N);
    const char *spec = "flatten,linear(12),relu,linear(8),tanh,linear(3)";
    float *got[2];
    int64_t np = 0, frozen = 0;
    for (int k = 0; k < 2; k++) {
        ct_model *m = NULL;
        OK(ct_model_create(b, spec, 1, S, S, 64, 4, &m));
        ct_train_config c = config(1, 64); /* one batch of 64: one step */
        c.momentum = 0.9f;
        c.weight_decay = 0.01f;
        if (k) OK(ct_model_freeze_point(m, "linear1", &c.frozen_layers));
        OK(ct_fit(m, ds, idx, 64, NULL, 0, &c, NULL, NULL));
        np = ct_model_param_count(m);
        frozen = ct_model_frozen_params(m, 2);
        got[k] = hmalloc((size_t)np * 4);
        OK(ct_model_get_params(m, got[k]));
        ct_model_free(m);
    }
    /* linear2 and linear3 as unfrozen; linear1 moved only unfrozen */
    assert_memory_equal(got[0] + frozen, got[1] + frozen, (size_t)(np - frozen) * 4);
    assert_memory_not_equal(got[0], got[1], (size_t)frozen * 4);
    free(got[0]), free(got[1]), free(idx);
    ct_dataset_free(ds);
}

/* ct_fit's checks of frozen_layers. */
static void test_frozen_refused(void **state) {
    ct_backend *b = tu_backend(state);
    ct_dataset *ds = make_data(64);
    int32_t *idx = range(64);
    ct_model *m = NULL;
    OK(ct_model_create(b, CNN, 1, S, S, 64, 3, &m));
    ct_train_config c = config(1, 32);
    const int bad[] = {-1, 10, 11}; /* 10: every layer, linear2 included */
    for (int k = 0; k < 3; k++) {
        c.frozen_layers = bad[k];
        assert_int_equal(ct_fit(m, ds, idx, 64, NULL, 0, &c, NULL, NULL), CT_ERR_INVALID);
        assert_non_null(strstr(ct_last_error(), "frozen_layers"));
    }
    ct_model_free(m);
    free(idx);
    ct_dataset_free(ds);
}

/* A saved 3-class model into one of 5 classes: all but the head. */
static void test_load_backbone(void **state) {
    (void)state;
    ct_backend *b = NULL;
    OK(ct_backend_create("cpu", 1, &b));
    ct_model *src = NULL, *dst = NULL, *other = NULL;
    OK(ct_model_create(b, CNN, 1, S, S, 8, 1, &src));
    const char *path = tu_tmp_path("src.safetensors");
    OK(ct_save_model(src, path, NULL, 0));
    ct_checkpoint *ck = NULL;
    OK(ct_checkpoint_open(path, &ck));
    const char *five = "conv(6,3,1,1),batchnorm,relu,maxpool(2),dropout(0.25),flatten,"
                       "linear(16),relu,dropout(0.5),linear(5)";
    OK(ct_model_create(b, five, 1, S, S, 8, 2, &dst));
    int64_t ns = ct_model_param_count(src), nd = ct_model_param_count(dst);
    int64_t head = ct_model_frozen_params(dst, 9); /* where linear2 begins */
    float *ps = hmalloc((size_t)ns * 4), *pd = hmalloc((size_t)nd * 4);
    float *init = hmalloc((size_t)nd * 4);
    OK(ct_model_get_params(src, ps));
    OK(ct_model_get_params(dst, init));
    /* strict: refused */
    assert_int_equal(ct_checkpoint_load_params(ck, dst, ""), CT_ERR_FORMAT);
    assert_non_null(strstr(ct_last_error(), "linear2.weight"));
    ct_backbone_fit fit = {-1, -1, -1, -1, -1};
    OK(ct_checkpoint_load_backbone(ck, dst, "", &fit));
    assert_int_equal(fit.new_head, 1);
    assert_int_equal(fit.grey, 0);
    assert_int_equal(fit.pos_from, 0);
    OK(ct_model_get_params(dst, pd));
    assert_memory_equal(pd, ps, (size_t)head * 4);                          /* the backbone */
    assert_memory_equal(pd + head, init + head, (size_t)(nd - head) * 4);  /* its own head */
    /* the same model: new_head 0, everything loaded */
    OK(ct_checkpoint_load_backbone(ck, src, "", &fit));
    assert_int_equal(fit.new_head, 0);
    /* another layer differing: refused as by the strict load */
    OK(ct_model_create(b, "conv(6,3,1,1),batchnorm,relu,maxpool(2),dropout(0.25),flatten,"
                          "linear(17),relu,dropout(0.5),linear(5)", 1, S, S, 8, 2, &other));
    assert_int_equal(ct_checkpoint_load_backbone(ck, other, "", &fit), CT_ERR_FORMAT);
    assert_non_null(strstr(ct_last_error(), "linear1.weight"));
    ct_checkpoint_free(ck);
    ct_model_free(src), ct_model_free(dst), ct_model_free(other);
    free(ps), free(pd), free(init);

    /* an RGB model's first conv into a grey model's: summed over its 3 input channels (the
     * grey image's response, R = G = B); the rest as it is; a strict load refuses it */
    const char *rgb = "conv(4,3,1,1),relu,flatten,linear(5)";
    ct_model *m3 = NULL, *m1 = NULL;
    OK(ct_model_create(b, rgb, 3, S, S, 8, 3, &m3));
    OK(ct_model_create(b, rgb, 1, S, S, 8, 4, &m1));
    OK(ct_save_model(m3, path, NULL, 0));
    OK(ct_checkpoint_open(path, &ck));
    assert_int_equal(ct_checkpoint_load_params(ck, m1, ""), CT_ERR_FORMAT);
    OK(ct_checkpoint_load_backbone(ck, m1, "", &fit));
    assert_int_equal(fit.grey, 3);
    assert_int_equal(fit.new_head, 0);
    const int64_t n3 = ct_model_param_count(m3), n1 = ct_model_param_count(m1);
    float *p3 = hmalloc((size_t)n3 * 4), *p1 = hmalloc((size_t)n1 * 4);
    OK(ct_model_get_params(m3, p3));
    OK(ct_model_get_params(m1, p1));
    for (int o = 0; o < 4; o++) /* weight (4, 3, 3, 3) -> (4, 1, 3, 3) */
        for (int q = 0; q < 9; q++) {
            const float *w = p3 + o * 27 + q;
            assert_float_equal(p1[o * 9 + q], (float)((double)w[0] + w[9] + w[18]), 0.0f);
        }
    assert_memory_equal(p1 + 36, p3 + 108, (size_t)(n1 - 36) * 4); /* bias, linear1 */
    /* the input sized for grey images: a grey picture gives the RGB model's outputs for R = G =
     * B = it (up to float rounding) */
    float x1[S * S], x3[3 * S * S], y1[5], y3[5];
    for (int i = 0; i < S * S; i++) x1[i] = x3[i] = x3[S * S + i] = x3[2 * S * S + i] = (float)(i % 7) / 7;
    OK(ct_model_predict(m1, x1, 1, y1));
    OK(ct_model_predict(m3, x3, 1, y3));
    for (int k = 0; k < 5; k++) assert_float_equal(y1[k], y3[k], 1e-5f);
    ct_checkpoint_free(ck);
    ct_model_free(m3), ct_model_free(m1);
    free(p3), free(p1);
    ct_backend_free(b);
}

/* A ViT's position embeddings for images of another size: 4x4 patches (28x28 images) into 5x5
 * (35x35), 3x3 (21x21) and 2x2 (14x14): the class token's row as it is; a grid of embeddings
 * f + 0.5 x - 0.25 y as PyTorch's F.interpolate(mode="bicubic", align_corners=True) resizes it:
 * per axis, the ramp 0, 1, 2, 3 to 5 points is 0, 0.66796875, 1.5, 2.33203125, 3 (as torch
 * 1.13 computes it; to 3 and 2 points the ramp's values at 0, 1.5, 3 and 0, 3); a strict load
 * refuses it, and a file of a grid that is not square is not resized. */
#define VIT(c) "conv(4,7,7,0),tokens," c "posembed,residual(layernorm,attention(2)),layernorm," \
               "globalavgpool,linear(3)"
static void test_load_backbone_positions(void **state) {
    (void)state;
    ct_backend *b = NULL;
    OK(ct_backend_create("cpu", 1, &b));
    const char *path = tu_tmp_path("vit.safetensors");
    const int64_t conv = 4 * 49 + 4, d = 4;
    for (int cls = 0; cls <= 1; cls++) {
        const char *spec = cls ? VIT("clstoken,") : VIT("");
        ct_model *big = NULL;
        OK(ct_model_create(b, spec, 1, 28, 28, 2, 1, &big));
        const int64_t nb = ct_model_param_count(big), pos = conv + cls * d; /* posembed's */
        float *pb = hmalloc((size_t)nb * 4);
        OK(ct_model_get_params(big, pb));
        for (int64_t f = 0; f < d * cls; f++) pb[conv + f] = 7.0f + (float)f; /* the class token's */
        for (int64_t f = 0; f < d * cls; f++) pb[pos + f] = -3.0f - (float)f;
        for (int y = 0; y < 4; y++) /* value f + 0.5 x - 0.25 y at patch (y, x) */
            for (int x = 0; x < 4; x++)
                for (int64_t f = 0; f < d; f++)
                    pb[pos + (cls + y * 4 + x) * d + f] = (float)f + 0.5f * x - 0.25f * y;
        OK(ct_model_set_params(big, pb));
        OK(ct_save_model(big, path, NULL, 0));
        ct_checkpoint *ck = NULL;
        OK(ct_checkpoint_open(path, &ck));
        static const double ramp[6][5] = {[2] = {0, 3}, [3] = {0, 1.5, 3},
                                          [5] = {0, 0.66796875, 1.5, 2.33203125, 3}};
        for (int side = 5; side >= 2; side--) {
            if (side == 4) continue;
            ct_model *small = NULL;
            OK(ct_model_create(b, spec, 1, 7 * side, 7 * side, 2, 2, &small));
            assert_int_equal(ct_checkpoint_load_params(ck, small, ""), CT_ERR_FORMAT);
            assert_non_null(strstr(ct_last_error(), "pos_embedding"));
            ct_backbone_fit fit;
            OK(ct_checkpoint_load_backbone(ck, small, "", &fit));
            assert_int_equal(fit.pos_from, 4);
            assert_int_equal(fit.pos_to_h, side);
            assert_int_equal(fit.pos_to_w, side);
            assert_int_equal(fit.new_head, 0);
            const int64_t ns = ct_model_param_count(small);
            float *ps = hmalloc((size_t)ns * 4);
            OK(ct_model_get_params(small, ps));
            assert_memory_equal(ps, pb, (size_t)pos * 4); /* conv, class token */
            for (int64_t f = 0; f < d * cls; f++) assert_float_equal(ps[pos + f], -3.0f - (float)f, 0.0f);
            for (int y = 0; y < side; y++)
                for (int x = 0; x < side; x++)
                    for (int64_t f = 0; f < d; f++)
                        assert_float_equal(ps[pos + (cls + y * side + x) * d + f],
                                           (double)f + 0.5 * ramp[side][x] - 0.25 * ramp[side][y],
                                           1e-6);
            /* the rest as the file has it */
            const int64_t rest = pos + (cls + side * side) * d;
            assert_memory_equal(ps + rest, pb + pos + (cls + 16) * d, (size_t)(ns - rest) * 4);
            free(ps);
            ct_model_free(small);
        }
        /* 28x21 images: a grid of 4x3 patches, resized to (each side its own) */
        ct_model *wide = NULL;
        OK(ct_model_create(b, spec, 1, 28, 21, 2, 2, &wide));
        ct_backbone_fit fit;
        OK(ct_checkpoint_load_backbone(ck, wide, "", &fit));
        assert_true(fit.pos_from == 4 && fit.pos_to_h == 4 && fit.pos_to_w == 3);
        ct_model_free(wide);
        ct_checkpoint_free(ck);
        /* a file of 4x3 patches (not square): not resized, the shapes named */
        ct_model *rect = NULL, *square = NULL;
        OK(ct_model_create(b, spec, 1, 28, 21, 2, 3, &rect));
        OK(ct_save_model(rect, path, NULL, 0));
        OK(ct_checkpoint_open(path, &ck));
        OK(ct_model_create(b, spec, 1, 14, 14, 2, 3, &square));
        assert_int_equal(ct_checkpoint_load_backbone(ck, square, "", &fit), CT_ERR_FORMAT);
        assert_non_null(strstr(ct_last_error(), "pos_embedding has shape"));
        ct_checkpoint_free(ck);
        ct_model_free(rect), ct_model_free(square), ct_model_free(big);
        free(pb);
    }
    ct_backend_free(b);
}

int main(void) {
    tu_open_backends(&tu_backends[TU_CPU], &tu_backends[TU_CUDA]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_freeze_point),
        TU_ON_EACH(test_frozen_stay),
        TU_ON_EACH(test_one_step_as_unfrozen),
        TU_ON_EACH(test_frozen_refused),
        cmocka_unit_test(test_load_backbone),
        cmocka_unit_test(test_load_backbone_positions),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    tu_close_backends();
    return rc;
}
