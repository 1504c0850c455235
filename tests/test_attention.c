/*
 * test_attention.c — token sequences and attention (nn/attention.c, backend/cpu/cpu_seq.c,
 * backend/cuda/cuda_seq.cu):
 * - the backend's sequence ops (gemm_batched, softmax_rows and its backward, transpose, copy2d)
 *   against double-precision references written here, on every backend that can be opened
 *   ("cpu" always, "cuda" when a GPU or the emulator is there), outputs pre-filled with garbage;
 *   sizes that are negative, and a copy2d stride under its columns, refused;
 * - the sequence layers' gradients (tokens, clstoken, posembed, attention, clspool, and linear,
 *   layernorm, gelu, dropout, stochastic depth and residual blocks on sequences) by nn_ref.c's
 *   finite differences of a double forward;
 * - what a model spec may not do with a sequence, and that the messages say so.
 */
#include "nn_ref.h"
#include "testutil.h"

#include "backend/backend.h"
#include "core/core.h"
#include "nn/model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------------------------ */
/* the ops                                                                                     */

/* element (i, j) of op(M) for a row-major M with row stride ld */
static double at(const float *M, int ld, int trans, int i, int j) {
    return trans ? M[(int64_t)j * ld + i] : M[(int64_t)i * ld + j];
}

static void test_gemm_batched(void **state) {
    ct_backend *b = tu_backend(state);
    ct_rng rng;
    ct_rng_init(&rng, 41, 0);
    /* (ta, tb, M, N, K, batch): attention's four products' shapes, and odd ones */
    const int shapes[][6] = {{0, 1, 17, 17, 16, 5}, {0, 0, 17, 16, 17, 3}, {1, 0, 17, 16, 17, 4},
                             {1, 1, 5, 7, 3, 2},    {0, 0, 1, 9, 33, 1},   {0, 1, 65, 65, 8, 2}};
    for (size_t t = 0; t < sizeof shapes / sizeof shapes[0]; t++) {
        const int ta = shapes[t][0], tb = shapes[t][1], M = shapes[t][2], N = shapes[t][3],
                  K = shapes[t][4], nb = shapes[t][5];
        /* strides with room between the matrices, and row strides above the rows */
        const int lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 1, ldc = N + 2;
        const int64_t sa = (int64_t)(ta ? K : M) * lda + 5, sb = (int64_t)(tb ? N : K) * ldb + 2,
                      sc = (int64_t)M * ldc + 7;
        const size_t na = (size_t)(sa * nb), nbb = (size_t)(sb * nb), nc = (size_t)(sc * nb);
        float *A = hmalloc(na * 4), *B = hmalloc(nbb * 4), *C = hmalloc(nc * 4);
        tu_fill(&rng, A, na, -1, 1);
        tu_fill(&rng, B, nbb, -1, 1);
        tu_fill(&rng, C, nc, -1, 1);
        for (int beta = 0; beta < 2; beta++) {
            float *d_a = dput(b, A, na * 4), *d_b = dput(b, B, nbb * 4), *d_c = dput(b, C, nc * 4);
            float *got = hmalloc(nc * 4);
            OK(b->gemm_batched(b, ta, tb, M, N, K, 0.5f, d_a, lda, sa, d_b, ldb, sb,
                               (float)beta, d_c, ldc, sc, nb));
            dget(b, got, d_c, nc * 4);
            for (int i = 0; i < nb; i++)
                for (int r = 0; r < M; r++)
                    for (int c = 0; c < ldc && (int64_t)r * ldc + c < sc; c++) {
                        const int64_t e = i * sc + (int64_t)r * ldc + c;
                        double ref = C[e]; /* outside the N columns: untouched */
                        if (c < N) {
                            double acc = 0;
                            for (int k = 0; k < K; k++)
                                acc += at(A + i * sa, lda, ta, r, k) * at(B + i * sb, ldb, tb, k, c);
                            ref = 0.5 * acc + beta * (double)C[e];
                        }
                        tu_near("gemm_batched", (size_t)e, got[e], ref, 1e-5 * (1 + fabs(ref)));
                    }
            b->free(b, d_a); b->free(b, d_b); b->free(b, d_c);
            free(got);
        }
        free(A); free(B); free(C);
    }
}

static void test_softmax_rows(void **state) {
    ct_backend *b = tu_backend(state);
    ct_rng rng;
    ct_rng_init(&rng, 43, 0);
    /* (rows, cols): a token, attention's rows of 17 and 65 (over two warps' widths), values
     * near 80 (exp would overflow without the max taken off) */
    const int64_t shapes[][2] = {{3, 1}, {40, 17}, {9, 65}, {5, 200}};
    for (size_t t = 0; t < sizeof shapes / sizeof shapes[0]; t++) {
        const int64_t R = shapes[t][0], Cn = shapes[t][1];
        const size_t n = (size_t)(R * Cn);
        float *x = hmalloc(n * 4), *dy = hmalloc(n * 4), *y = hmalloc(n * 4), *dx = hmalloc(n * 4);
        tu_fill(&rng, x, n, t == 2 ? 75 : -4, t == 2 ? 85 : 4);
        tu_fill(&rng, dy, n, -1, 1);
        float *d_x = dput(b, x, n * 4), *d_dy = dput(b, dy, n * 4), *d_y = dgarbage(b, n);
        float *d_dx = dgarbage(b, n);
        OK(b->softmax_rows(b, d_x, d_y, R, Cn));
        OK(b->softmax_rows_backward(b, d_y, d_dy, d_dx, R, Cn));
        dget(b, y, d_y, n * 4);
        dget(b, dx, d_dx, n * 4);
        for (int64_t r = 0; r < R; r++) {
            const float *xr = x + r * Cn;
            double mx = -INFINITY, sum = 0, dot = 0;
            for (int64_t j = 0; j < Cn; j++) mx = fmax(mx, xr[j]);
            for (int64_t j = 0; j < Cn; j++) sum += exp(xr[j] - mx);
            for (int64_t j = 0; j < Cn; j++) dot += dy[r * Cn + j] * exp(xr[j] - mx) / sum;
            for (int64_t j = 0; j < Cn; j++) {
                const double p = exp(xr[j] - mx) / sum;
                tu_near("softmax_rows", (size_t)(r * Cn + j), y[r * Cn + j], p, 2e-6 * (p + 1e-3));
                tu_near("softmax_rows_backward", (size_t)(r * Cn + j), dx[r * Cn + j],
                        p * (dy[r * Cn + j] - dot), 1e-6);
            }
        }
        /* in place, as attention calls them */
        OK(b->softmax_rows(b, d_x, d_x, R, Cn));
        float *again = hmalloc(n * 4);
        dget(b, again, d_x, n * 4);
        assert_memory_equal(again, y, n * 4);
        OK(b->softmax_rows_backward(b, d_y, d_dy, d_dy, R, Cn));
        dget(b, again, d_dy, n * 4);
        assert_memory_equal(again, dx, n * 4);
        b->free(b, d_x); b->free(b, d_dy); b->free(b, d_y); b->free(b, d_dx);
        free(x); free(dy); free(y); free(dx); free(again);
    }
}

static void test_transpose_copy2d(void **state) {
    ct_backend *b = tu_backend(state);
    ct_rng rng;
    ct_rng_init(&rng, 47, 0);
    const int64_t shapes[][3] = {{3, 64, 16}, {2, 1, 7}, {1, 37, 45}, {4, 5, 1}};
    for (size_t t = 0; t < sizeof shapes / sizeof shapes[0]; t++) {
        const int64_t nb = shapes[t][0], R = shapes[t][1], Cn = shapes[t][2];
        const size_t n = (size_t)(nb * R * Cn);
        float *x = hmalloc(n * 4), *y = hmalloc(n * 4);
        tu_fill(&rng, x, n, -1, 1);
        float *d_x = dput(b, x, n * 4), *d_y = dgarbage(b, n);
        OK(b->transpose(b, d_x, d_y, nb, R, Cn));
        dget(b, y, d_y, n * 4);
        for (int64_t i = 0; i < nb; i++)
            for (int64_t r = 0; r < R; r++)
                for (int64_t c = 0; c < Cn; c++)
                    assert_true(y[(i * Cn + c) * R + r] == x[(i * R + r) * Cn + c]);
        b->free(b, d_x); b->free(b, d_y);
        free(x); free(y);
    }
    /* rows 1.. of a (4, 6) source into columns 2..4 of a (3, 8) destination; a broadcast */
    float src[24], dst[24];
    for (int i = 0; i < 24; i++) src[i] = (float)i;
    float *d_s = dput(b, src, sizeof src), *d_d = dgarbage(b, 24);
    OK(b->copy2d(b, d_d + 2, 8, d_s + 6, 6, 3, 3));
    dget(b, dst, d_d, sizeof dst);
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < 8; c++)
            assert_true(dst[r * 8 + c] == (c >= 2 && c < 5 ? src[6 + r * 6 + c - 2] : TU_GARBAGE));
    OK(b->copy2d(b, d_d, 5, d_s + 1, 0, 4, 5));
    dget(b, dst, d_d, 20 * 4);
    for (int i = 0; i < 20; i++) assert_true(dst[i] == src[1 + i % 5]);
    OK(b->copy2d(b, d_d, 5, d_s, 5, 0, 5)); /* nothing to copy */
    assert_int_equal(b->copy2d(b, d_d, 2, d_s, 5, 3, 5), CT_ERR_INVALID);
    assert_non_null(strstr(ct_last_error(), "copy2d: row stride 2 under the 5 columns"));
    assert_int_equal(b->copy2d(b, d_d, 5, d_s, 5, -1, 5), CT_ERR_INVALID);
    assert_int_equal(b->transpose(b, d_s, d_d, 1, -2, 3), CT_ERR_INVALID);
    assert_int_equal(b->softmax_rows(b, d_s, d_d, 2, -3), CT_ERR_INVALID);
    assert_int_equal(b->softmax_rows_backward(b, d_s, d_s, d_d, -2, 3), CT_ERR_INVALID);
    assert_int_equal(b->gemm_batched(b, 0, 0, 2, 2, 2, 1.0f, d_s, 2, 4, d_s, 2, 4, 0.0f, d_d, 2,
                                     4, -1), CT_ERR_INVALID);
    OK(b->softmax_rows(b, d_s, d_d, 0, 3));
    OK(b->transpose(b, d_s, d_d, 0, 2, 3));
    OK(b->gemm_batched(b, 0, 0, 2, 2, 2, 1.0f, d_s, 2, 4, d_s, 2, 4, 0.0f, d_d, 2, 4, 0));
    b->free(b, d_s); b->free(b, d_d);
}

/* ------------------------------------------------------------------------------------------ */
/* the layers' gradients                                                                       */

static ct_backend *g_cpu;

static const grad_case k_cases[] = {
    /* an image as tokens, each token's linear layer, flattened */
    {"tokens,linear(3),tanh,flatten,linear(3)", 2, 2, 3, 3},
    /* patches, the class token, positions, two heads, the class token's features */
    {"conv(4,2,2,0),tokens,clstoken,posembed,attention(2),clspool,linear(3)", 1, 4, 4, 3},
    /* one head; a layer norm of each token; attention on the input's pixels */
    {"tokens,linear(4),attention(1),layernorm(0.01),clspool,tanh,linear(3)", 2, 3, 2, 3},
    /* a ViT encoder block (torchvision's EncoderBlock), dropout on the tokens */
    {"conv(4,2,2),tokens,clstoken,posembed,residual(layernorm(0.001),attention(2),dropout(0.2)),"
     "residual(layernorm,linear(6),gelu,dropout(0.1),linear(4)),layernorm,clspool,linear(3)", 1,
     4, 4, 3},
    /* four heads of one feature each; stochastic depth on sequences */
    {"tokens,attention(4),residual(linear(4),tanh,droppath(0.5)),flatten,linear(3)", 4, 2, 2, 6},
    /* the mean of the tokens instead of a class token */
    {"conv(4,2,2),tokens,posembed,attention(2),layernorm,globalavgpool,linear(3)", 1, 4, 4, 3},
    /* attention's dropout (nn.MultiheadAttention's dropout=p) on its weights; in two blocks
     * (their masks their own: each layer's stream). (Two bare attention blocks bend the loss
     * enough that the loose float differences, steps of 1e-2, can miss by 4-10% where the
     * double ones agree, with dropout or without: at 0.3 and 0.2, or on two channels.) */
    {"conv(4,2,2),tokens,clstoken,posembed,residual(layernorm,attention(2,0.3)),clspool,linear(3)",
     1, 4, 4, 3},
    {"conv(4,2,2),tokens,clstoken,posembed,residual(layernorm,attention(2,0.1)),"
     "residual(layernorm,attention(1,0.1)),clspool,linear(3)", 1, 4, 4, 3},
};

static void test_seq_grad(void **state) { nn_grad_check(g_cpu, *state); }

/* attention(h, p): in evaluation its weights undropped, the model attention(h)'s (the same
 * parameters from the same seed); while training they are dropped, and at p = 1 all of them
 * (the attention's output its out_proj's bias alone: the loss of any input the same) */
static void test_attention_dropout_modes(void **state) {
    (void)state;
    const char *spec[3] = {"conv(4,2,2),tokens,clstoken,posembed,attention(2),clspool,linear(3)",
                           "conv(4,2,2),tokens,clstoken,posembed,attention(2,0.5),clspool,linear(3)",
                           "conv(4,2,2),tokens,clstoken,posembed,attention(2,1),clspool,linear(3)"};
    enum { N = 4, IN = 16 };
    float x[N * IN], x2[N * IN];
    uint8_t lab[N] = {0, 1, 2, 1};
    ct_rng rng;
    ct_rng_init(&rng, 5, 0);
    for (int i = 0; i < N * IN; i++) x[i] = 2.0f * ct_rng_uniform(&rng) - 1.0f;
    for (int i = 0; i < N * IN; i++) x2[i] = 2.0f * ct_rng_uniform(&rng) - 1.0f;
    double eval[3], train[3], train2 = 0.0;
    for (int k = 0; k < 3; k++) {
        ct_model *m = NULL;
        OK(ct_model_create(g_cpu, spec[k], 1, 4, 4, N, 7, &m));
        eval[k] = tu_model_pass(m, x, lab, N, 0, NULL, NULL);
        train[k] = tu_model_pass(m, x, lab, N, 1, NULL, NULL);
        if (k == 2) train2 = tu_model_pass(m, x2, lab, N, 1, NULL, NULL);
        ct_model_free(m);
    }
    assert_true(eval[1] == eval[0] && eval[2] == eval[0]);
    assert_true(train[0] == eval[0]);
    if (!(fabs(train[1] - train[0]) > 1e-6))
        fail_msg("attention(2,0.5) trains as attention(2): loss %.9g", train[1]);
    /* (the class token's attention output: out_proj's bias, whatever the tokens) */
    if (!(fabs(train2 - train[2]) < 1e-6))
        fail_msg("attention(2,1): losses %.9g and %.9g of two inputs", train[2], train2);
}

/* ------------------------------------------------------------------------------------------ */
/* what a spec may not do with sequences                                                       */

static void test_seq_spec_errors(void **state) {
    (void)state;
    const struct { const char *spec, *says; } bad[] = {
        {"tokens,conv(4,3),clspool,linear(10)", "conv takes an image or a vector, not a token "
                                                "sequence (784, 1)"},
        {"tokens,batchnorm,clspool,linear(10)", "batchnorm takes an image or a vector"},
        {"tokens,groupnorm(1),clspool,linear(10)", "groupnorm takes an image or a vector"},
        {"tokens,maxpool(2),linear(10)", "maxpool takes an image or a vector"},
        {"tokens,tokens,clspool,linear(10)", "tokens takes an image or a vector"},
        {"flatten,attention(2),linear(10)", "attention takes a token sequence, not (784, 1, 1) "
                                            "(tokens first)"},
        {"clstoken,flatten,linear(10)", "clstoken takes a token sequence"},
        {"conv(4,3),posembed,flatten,linear(10)", "posembed takes a token sequence"},
        {"clspool,linear(10)", "clspool takes a token sequence"},
        {"conv(6,7,7),tokens,attention(4),clspool,linear(10)", "4 heads do not divide the 6"},
        {"conv(6,7,7),tokens,attention(0),clspool,linear(10)", "attention takes attention(heads[, dropout])"},
        {"conv(6,7,7),tokens,attention(2,1.5),clspool,linear(10)", "attention takes attention(heads[, dropout])"},
        {"conv(6,7,7),tokens,attention(2,0.1,3),clspool,linear(10)", "0 <= dropout <= 1"},
        {"conv(6,7,7),tokens,linear(8)", "not a token sequence (16, 8) (clspool first)"},
        {"conv(6,7,7),tokens,residual(linear(8)),clspool,linear(10)", "must keep its shape"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ct_model *m = NULL;
        assert_int_equal(ct_model_create(g_cpu, bad[i].spec, 1, 28, 28, 4, 1, &m),
                         CT_ERR_INVALID);
        assert_null(m);
        if (!strstr(ct_last_error(), bad[i].says))
            fail_msg("%s: \"%s\" does not say \"%s\"", bad[i].spec, ct_last_error(), bad[i].says);
    }
    /* a batch's tokens are rows of 32-bit GEMMs: 4096 images of a million tokens are refused */
    ct_model *big = NULL;
    assert_int_equal(ct_model_create(g_cpu, "tokens,clspool,linear(10)", 1, 1000, 1000, 4096, 1,
                                     &big), CT_ERR_INVALID);
    assert_null(big);
    assert_non_null(strstr(ct_last_error(), "a batch of 4096 sequences of 1000000 tokens is "
                                            "more than 2^31 - 1 tokens"));
    /* a sequence of one token's features, flattened: a model */
    ct_model *m = NULL;
    OK(ct_model_create(g_cpu, "conv(6,7,7),tokens,attention(3),flatten,linear(10)", 1, 28, 28, 4,
                       1, &m));
    assert_int_equal(ct_model_param_count(m), 6 * 49 + 6 + 4 * 36 + 4 * 6 + 96 * 10 + 10);
    ct_model_free(m);
}

int main(void) {
    tu_open_backends(&tu_backends[TU_CPU], &tu_backends[TU_CUDA]);
    g_cpu = tu_backends[TU_CPU];
    enum { N_CASES = sizeof k_cases / sizeof k_cases[0], N_OPS = 6 };
    struct CMUnitTest tests[N_OPS + N_CASES + 2] = {
        TU_ON_EACH(test_gemm_batched),
        TU_ON_EACH(test_softmax_rows),
        TU_ON_EACH(test_transpose_copy2d),
    };
    for (int i = 0; i < N_CASES; i++)
        tests[N_OPS + i] = (struct CMUnitTest){k_cases[i].spec, test_seq_grad, NULL, NULL,
                                               (void *)&k_cases[i]};
    tests[N_OPS + N_CASES] = (struct CMUnitTest)cmocka_unit_test(test_seq_spec_errors);
    tests[N_OPS + N_CASES + 1] = (struct CMUnitTest)cmocka_unit_test(test_attention_dropout_modes);
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    tu_close_backends();
    return rc;
}
