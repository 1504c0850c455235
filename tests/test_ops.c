/*
 * test_ops.c — the arithmetic ops of the backend table (backend/backend.h: gemm, bias,
 * activations, softmax cross-entropy, add_into, the channel gate's scale_rows and dot_rows, the SGD
 * update) against a naive
 * double-precision reference written here, on several shapes per op, on every backend that can
 * be opened: "cpu" always, "cuda" when a GPU is there (else one "SKIP cuda: why" line and the
 * CUDA cases are reported as skipped). test_data_ops.c has the data and memory ops.
 *
 * The same code path serves both backends: inputs go to device buffers with b->alloc + b->h2d,
 * results come back with b->d2h. Tolerances are tight enough to catch a wrong index (see each
 * op); random data comes from the library's seeded Philox generator.
 */
#include "testutil.h"

#include "backend/backend.h"
#include "core/core.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static float urand(ct_rng *r, float lo, float hi) { return lo + (hi - lo) * ct_rng_uniform(r); }
/* Magnitudes in [0.5, 1.5) with random signs: a dropped or doubled term always shows. */
static void fill_signed(ct_rng *r, float *p, size_t n) {
    for (size_t i = 0; i < n; i++) p[i] = (ct_rng_u32(r) & 1 ? -1.0f : 1.0f) * urand(r, 0.5f, 1.5f);
}

/* tu_near() for a case `what` and a quantity `sub` of it. */
static void nearx(const char *what, const char *sub, size_t i, double got, double ref, double tol) {
    char w[160];
    snprintf(w, sizeof w, "%s: %s", what, sub);
    tu_near(w, i, got, ref, tol);
}

/* ------------------------------------------------------------------------------------------ */
/* gemm                                                                                        */

typedef struct { int M, N, K; } mnk;
static const mnk k_gemm_shapes[] = {
    {1, 1, 1}, {3, 17, 5}, {65, 33, 129}, {2, 7, 800}, /* and remainders of 4x4 / 8x32 tiles: */
    {5, 16, 1}, {9, 47, 300}, {13, 70, 128}, {1, 100, 200},
    {128, 32, 784}, {32, 784, 128}, {128, 784, 32}, /* the tutorial's forward, dW and dx */
};
static const float k_alpha_beta[][2] = {{1.0f, 0.0f}, {0.5f, 1.0f}, {-1.25f, 0.75f}, {2.0f, -0.5f}};
#define C_SENTINEL 777.0f

static void test_gemm(void **state) {
    ct_backend *b = tu_backend(state);
    ct_rng rng;
    ct_rng_init(&rng, 11, 0);
    int combo_no = 0;
    for (size_t s = 0; s < sizeof k_gemm_shapes / sizeof k_gemm_shapes[0]; s++)
        for (int t = 0; t < 4; t++, combo_no++) {
            int M = k_gemm_shapes[s].M, N = k_gemm_shapes[s].N, K = k_gemm_shapes[s].K;
            int ta = t & 1, tb = t >> 1;
            float alpha = k_alpha_beta[combo_no % 4][0], beta = k_alpha_beta[combo_no % 4][1];
            /* stored shapes, with row strides larger than the rows */
            int rows_a = ta ? K : M, lda = (ta ? M : K) + 1 + combo_no % 3;
            int rows_b = tb ? N : K, ldb = (tb ? K : N) + 2 + combo_no % 2;
            int ldc = N + 3;
            size_t na = (size_t)rows_a * lda, nb = (size_t)rows_b * ldb, nc = (size_t)M * ldc;
            float *A = hmalloc(na * 4), *B = hmalloc(nb * 4), *C = hmalloc(nc * 4);
            float *C0 = hmalloc(nc * 4);
            tu_fill(&rng, A, na, -1, 1);
            tu_fill(&rng, B, nb, -1, 1);
            for (size_t i = 0; i < nc; i++) /* beta == 0: C must not be read (BLAS) */
                C0[i] = i % ldc >= (size_t)N ? C_SENTINEL : beta == 0.0f ? NAN : urand(&rng, -1, 1);
            float *dA = dput(b, A, na * 4), *dB = dput(b, B, nb * 4), *dC = dput(b, C0, nc * 4);
            OK(b->gemm(b, ta, tb, M, N, K, alpha, dA, lda, dB, ldb, beta, dC, ldc));
            dget(b, C, dC, nc * 4);
            char what[96];
            snprintf(what, sizeof what, "gemm M=%d N=%d K=%d ta=%d tb=%d alpha=%g beta=%g", M, N,
                     K, ta, tb, alpha, beta);
            for (int i = 0; i < M; i++) {
                for (int j = 0; j < N; j++) {
                    double acc = 0.0, mag = 0.0;
                    for (int k = 0; k < K; k++) {
                        double a = ta ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k];
                        double v = tb ? B[(size_t)j * ldb + k] : B[(size_t)k * ldb + j];
                        acc += a * v;
                        mag += fabs(a * v);
                    }
                    double c0 = beta == 0.0f ? 0.0 : C0[(size_t)i * ldc + j];
                    double ref = alpha * acc + beta * c0;
                    /* float rounding grows like sqrt(K) times the sum of |terms| */
                    double tol = 1e-5 * sqrt((double)K) * (fabs(alpha) * mag + fabs(beta * c0));
                    tu_near(what, (size_t)i * ldc + j, C[(size_t)i * ldc + j], ref, tol);
                }
                for (int j = N; j < ldc; j++) /* the gap between rows is not touched */
                    tu_near(what, (size_t)i * ldc + j, C[(size_t)i * ldc + j], C_SENTINEL, 0.0);
            }
            b->free(b, dA);
            b->free(b, dB);
            b->free(b, dC);
            free(A); free(B); free(C); free(C0);
        }
}

/* K == 0: C = beta*C, and beta == 0 writes zeros whatever C held (BLAS semantics, as cuBLAS and
 * the K > 0 path through OpenBLAS do). */
static void test_gemm_k0(void **state) {
    ct_backend *b = tu_backend(state);
    enum { M = 3, N = 4, LDC = 6 };
    float A[4] = {1, 2, 3, 4}, B[4] = {5, 6, 7, 8}, C0[M * LDC], C[M * LDC];
    const float betas[2] = {0.5f, 0.0f};
    for (int t = 0; t < 2; t++) {
        for (int i = 0; i < M * LDC; i++)
            C0[i] = i % LDC >= N ? C_SENTINEL : betas[t] == 0.0f ? NAN : (float)i;
        float *dA = dput(b, A, sizeof A), *dB = dput(b, B, sizeof B), *dC = dput(b, C0, sizeof C0);
        OK(b->gemm(b, 0, 0, M, N, 0, 1.0f, dA, 1, dB, N, betas[t], dC, LDC));
        dget(b, C, dC, sizeof C);
        for (int i = 0; i < M * LDC; i++)
            tu_near(betas[t] == 0.0f ? "gemm K=0 beta=0 over NaN" : "gemm K=0 beta=0.5", (size_t)i,
                 C[i], i % LDC >= N ? C_SENTINEL : betas[t] == 0.0f ? 0.0 : 0.5 * i, 0.0);
        b->free(b, dA);
        b->free(b, dB);
        b->free(b, dC);
    }
}

/* ------------------------------------------------------------------------------------------ */
/* bias_add, bias_grad over (outer, channels, inner)                                           */

static const int64_t k_bias_shapes[][3] = {
    {1, 1, 1}, {3, 17, 1}, {128, 32, 1}, {5, 7, 9}, {2, 65, 33}, {64, 16, 49},
    /* CUDA's plane sums (1024 threads, 8 loads each): a plane shorter than the block, one
     * longer, one exactly as long */
    {300, 3, 37}, {9, 2, 2000}, {17, 4, 1024},
};

static void test_bias(void **state) {
    ct_backend *b = tu_backend(state);
    ct_rng rng;
    ct_rng_init(&rng, 12, 0);
    for (size_t s = 0; s < sizeof k_bias_shapes / sizeof k_bias_shapes[0]; s++) {
        int64_t outer = k_bias_shapes[s][0], ch = k_bias_shapes[s][1], inner = k_bias_shapes[s][2];
        size_t n = (size_t)(outer * ch * inner);
        float *y = hmalloc(n * 4), *bias = hmalloc(ch * 4), *out = hmalloc(n * 4);
        float *db = hmalloc(ch * 4);
        fill_signed(&rng, y, n);
        fill_signed(&rng, bias, ch);
        char what[80];
        snprintf(what, sizeof what, "bias_add (%lld, %lld, %lld)", (long long)outer,
                 (long long)ch, (long long)inner);
        float *dy = dput(b, y, n * 4), *dbias = dput(b, bias, ch * 4);
        OK(b->bias_add(b, dy, dbias, outer, ch, inner));
        dget(b, out, dy, n * 4);
        for (size_t e = 0; e < n; e++) {
            double ref = (double)y[e] + bias[(e / inner) % ch];
            tu_near(what, e, out[e], ref, 2e-7 * fabs(ref) + 1e-7);
        }
        /* bias_grad overwrites dbias: start from garbage */
        for (int64_t c = 0; c < ch; c++) db[c] = 1e3f;
        OK(b->h2d(b, dbias, db, ch * 4));
        OK(b->h2d(b, dy, y, n * 4));
        OK(b->bias_grad(b, dbias, dy, outer, ch, inner));
        dget(b, db, dbias, ch * 4);
        snprintf(what, sizeof what, "bias_grad (%lld, %lld, %lld)", (long long)outer,
                 (long long)ch, (long long)inner);
        for (int64_t c = 0; c < ch; c++) {
            double ref = 0.0, mag = 0.0;
            for (int64_t o = 0; o < outer; o++)
                for (int64_t i = 0; i < inner; i++) {
                    double v = y[(o * ch + c) * inner + i];
                    ref += v;
                    mag += fabs(v);
                }
            tu_near(what, (size_t)c, db[c], ref, 1e-6 * sqrt((double)(outer * inner)) * mag + 1e-6);
        }
        b->free(b, dy);
        b->free(b, dbias);
        free(y); free(bias); free(out); free(db);
    }
}

/* ------------------------------------------------------------------------------------------ */
/* activations                                                                                 */

static const struct { ct_act kind; float param; const char *name; } k_acts[] = {
    {CT_ACT_RELU, 0.0f, "relu"},          {CT_ACT_LEAKY_RELU, 0.1f, "leakyrelu(0.1)"},
    {CT_ACT_LEAKY_RELU, 0.01f, "leakyrelu(0.01)"}, {CT_ACT_SIGMOID, 0.0f, "sigmoid"},
    {CT_ACT_TANH, 0.0f, "tanh"},          {CT_ACT_GELU, 0.0f, "gelu"},
    {CT_ACT_RELU6, 0.0f, "relu6"},        {CT_ACT_SILU, 0.0f, "silu"},
    {CT_ACT_HARDSWISH, 0.0f, "hardswish"}, {CT_ACT_HARDSIGMOID, 0.0f, "hardsigmoid"},
};

/* f(x) and f'(x) in double; at x == 0 PyTorch's convention (x > 0 is the positive side). */
static double act_ref(ct_act kind, double p, double x, double *deriv) {
    double s, t, cdf;
    switch (kind) {
    case CT_ACT_RELU: *deriv = x > 0 ? 1 : 0; return x > 0 ? x : 0;
    case CT_ACT_LEAKY_RELU: *deriv = x > 0 ? 1 : p; return x > 0 ? x : p * x;
    case CT_ACT_SIGMOID: s = 1 / (1 + exp(-x)); *deriv = s * (1 - s); return s;
    case CT_ACT_TANH: t = tanh(x); *deriv = 1 - t * t; return t;
    case CT_ACT_RELU6: *deriv = x > 0 && x < 6 ? 1 : 0; return x < 0 ? 0 : x > 6 ? 6 : x;
    case CT_ACT_SILU: s = 1 / (1 + exp(-x)); *deriv = s * (1 + x * (1 - s)); return x * s;
    case CT_ACT_HARDSWISH: /* (PyTorch's scalar and CUDA kernels': x/3 + 1/2 on [-3, 3]) */
        *deriv = x < -3 ? 0 : x <= 3 ? x / 3 + 0.5 : 1;
        return x * (x < -3 ? 0 : x > 3 ? 6 : x + 3) / 6;
    case CT_ACT_HARDSIGMOID:
        *deriv = x > -3 && x < 3 ? 1.0 / 6 : 0;
        return (x < -3 ? 0 : x > 3 ? 6 : x + 3) / 6;
    default:
        cdf = 0.5 * (1 + erf(x / sqrt(2.0)));
        *deriv = cdf + x * exp(-0.5 * x * x) / sqrt(2 * M_PI);
        return x * cdf;
    }
}

static void test_act(void **state) {
    ct_backend *b = tu_backend(state);
    ct_rng rng;
    ct_rng_init(&rng, 13, 0);
    const int64_t sizes[] = {1, 17, 1000, 40000}; /* the last one takes the threaded path */
    for (size_t a = 0; a < sizeof k_acts / sizeof k_acts[0]; a++)
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
            int64_t n = sizes[s];
            size_t bytes = (size_t)n * 4;
            float *x = hmalloc(bytes), *dy = hmalloc(bytes), *y = hmalloc(bytes);
            float *dx = hmalloc(bytes);
            double *fr = hmalloc(n * sizeof(double)), *dr = hmalloc(n * sizeof(double));
            tu_fill(&rng, x, n, -5, 5);
            tu_fill(&rng, dy, n, -2, 2);
            if (n > 1) x[1] = 0.0f;
            if (n > 3) x[2] = 6.0f, x[3] = 7.25f; /* (ReLU6's top, and above it) */
            if (n > 5) x[4] = -3.0f, x[5] = 3.0f; /* (the hard ones' ends) */
            if (n > 9) x[6] = -100.0f, x[7] = 100.0f, x[8] = -30.0f, x[9] = 30.0f; /* (tails) */
            for (int64_t i = 0; i < n; i++) {
                double d;
                fr[i] = act_ref(k_acts[a].kind, k_acts[a].param, x[i], &d);
                dr[i] = d * dy[i];
            }
            ct_act kind = k_acts[a].kind;
            float p = k_acts[a].param;
            float *d_x = dput(b, x, bytes), *d_y = dalloc(b, bytes), *d_dy = dput(b, dy, bytes);
            float *d_dx = dalloc(b, bytes), *d_t = dput(b, x, bytes);
            char what[80];
            /* out of place, then in place (x == y, dx == dy) */
            for (int inplace = 0; inplace < 2; inplace++) {
                snprintf(what, sizeof what, "act_forward %s n=%lld%s", k_acts[a].name,
                         (long long)n, inplace ? " in place" : "");
                OK(b->act_forward(b, kind, p, inplace ? d_t : d_x, inplace ? d_t : d_y, n));
                dget(b, y, inplace ? d_t : d_y, bytes);
                for (int64_t i = 0; i < n; i++)
                    tu_near(what, i, y[i], fr[i], 2e-6 * fabs(fr[i]) + 1e-6);
                snprintf(what, sizeof what, "act_backward %s n=%lld%s", k_acts[a].name,
                         (long long)n, inplace ? " in place" : "");
                OK(b->act_backward(b, kind, p, d_x, d_y, d_dy, inplace ? d_dy : d_dx, n));
                dget(b, dx, inplace ? d_dy : d_dx, bytes);
                for (int64_t i = 0; i < n; i++)
                    tu_near(what, i, dx[i], dr[i], 1e-5 * fabs(dr[i]) + 1e-6 * (1 + fabs(dy[i])));
            }
            b->free(b, d_x); b->free(b, d_y); b->free(b, d_dy); b->free(b, d_dx); b->free(b, d_t);
            free(x); free(dy); free(y); free(dx); free(fr); free(dr);
        }
    /* sigmoid and SiLU (the CPU's own exp: kernels_impl.h) keep a NaN, as torch does, go to 0
     * (sigmoid, SiLU's -0) far below and stay x far above, not clamped values: sigmoid(-inf) 0,
     * SiLU(-inf) NaN as torch's -inf * 0 */
    const ct_act nan_kinds[] = {CT_ACT_SIGMOID, CT_ACT_SILU};
    for (size_t k = 0; k < 2; k++) {
        float v[6] = {NAN, 1.0f, -INFINITY, -100.0f, -1e38f, 1e30f}, out[6];
        float *d_v = dput(b, v, sizeof v), *d_o = dalloc(b, sizeof v);
        OK(b->act_forward(b, nan_kinds[k], 0.0f, d_v, d_o, 6));
        dget(b, out, d_o, sizeof out);
        const int silu = nan_kinds[k] == CT_ACT_SILU;
        if (!isnan(out[0]) || isnan(out[1]) || (silu ? !isnan(out[2]) : out[2] != 0.0f) ||
            !(fabsf(out[3]) < 1e-38f) || !(fabsf(out[4]) < 1e-30f) ||
            out[5] != (silu ? 1e30f : 1.0f))
            fail_msg("act_forward %d: NaN, 1, -inf, -100, -1e38, 1e30 gave %g %g %g %g %g %g",
                     (int)nan_kinds[k], out[0], out[1], out[2], out[3], out[4], out[5]);
        OK(b->act_forward(b, nan_kinds[k], 0.0f, d_v, d_o, 4));
        dget(b, out, d_o, sizeof out);
        OK(b->act_backward(b, nan_kinds[k], 0.0f, d_v, d_o, d_v, d_o, 4));
        dget(b, out, d_o, sizeof out);
        if (!isnan(out[0]))
            fail_msg("act_backward %d: NaN gave %g", (int)nan_kinds[k], out[0]);
        b->free(b, d_v);
        b->free(b, d_o);
    }
    /* the CPU's sigmoid and SiLU to a few ulps of double's over the float exp's range (its
     * polynomial and reduction: 1 ulp; a division and a product more) */
    if (strcmp(b->name, "cpu") == 0) {
        const int64_t n = 12800;
        float *xs = hmalloc(n * 4), *ys = hmalloc(n * 4);
        for (int64_t i = 0; i < n; i++) xs[i] = -87.0f + 174.0f * (float)i / (float)n + 0.00037f;
        float *d_v = dput(b, xs, n * 4), *d_o = dalloc(b, n * 4);
        for (size_t k = 0; k < 2; k++) {
            OK(b->act_forward(b, nan_kinds[k], 0.0f, d_v, d_o, n));
            dget(b, ys, d_o, n * 4);
            for (int64_t i = 0; i < n; i++) {
                const double s = 1.0 / (1.0 + exp(-(double)xs[i]));
                const double ref = nan_kinds[k] == CT_ACT_SILU ? xs[i] * s : s;
                tu_near(nan_kinds[k] == CT_ACT_SILU ? "silu, tight" : "sigmoid, tight", (size_t)i,
                        ys[i], ref, 4.5e-7 * fabs(ref) + 1e-45);
            }
        }
        b->free(b, d_v), b->free(b, d_o);
        free(xs), free(ys);
    }
    /* an unknown kind is an error, not a crash */
    float *d = dalloc(b, 16);
    OK(b->memset0(b, d, 16));
    assert_int_not_equal(b->act_forward(b, CT_ACT_COUNT, 0.0f, d, d, 4), CT_OK);
    assert_int_not_equal(b->act_backward(b, CT_ACT_COUNT, 0.0f, d, d, d, d, 4), CT_OK);
    b->free(b, d);
}

/* ------------------------------------------------------------------------------------------ */
/* softmax cross-entropy                                                                       */

/* Stable log-softmax in double: summed loss, correct count, grad_scale * (softmax - target),
 * the target (1 - s) * onehot + s / classes (PyTorch's label smoothing s): a row's loss is
 * -sum over c of target[c] * log softmax[c]; with class weights w (or NULL), w[label] times
 * that and its gradient (Keras' class_weight). */
static void xent_ref(const float *z, const uint8_t *lab, int64_t n, int classes, double gs,
                     double s, const float *w, const uint8_t *lab2, float lam, double *loss,
                     double *correct, double *grad) {
    *loss = *correct = 0.0;
    for (int64_t r = 0; r < n; r++) {
        const float *row = z + r * classes;
        int arg = 0;
        for (int c = 1; c < classes; c++)
            if (row[c] > row[arg]) arg = c;
        double sum = 0.0;
        for (int c = 0; c < classes; c++) sum += exp((double)row[c] - row[arg]);
        double wy = w ? w[lab[r]] : 1.0;
        for (int c = 0; c < classes; c++) { /* mixed (lab2): lam onehot + (1 - lam) onehot2 */
            double hot = lab2 ? lam * (c == lab[r]) + (1.0 - lam) * (c == lab2[r]) : c == lab[r];
            double target = (1.0 - s) * hot + s / classes;
            if (target > 0.0) *loss -= wy * target * ((double)row[c] - row[arg] - log(sum));
            grad[r * classes + c] = wy * gs * (exp((double)row[c] - row[arg]) / sum - target);
        }
        int top = lab[r]; /* the larger share's label (torch's max of the target: ties, the first) */
        if (lab2 && (lam < 0.5f || (lam == 0.5f && lab2[r] < lab[r]))) top = lab2[r];
        *correct += arg == top;
    }
}

/* Runs xent on (logits, labels) both out of place (twice, to check that stats accumulate) and
 * with dlogits == logits (stats starting non-zero), comparing everything with xent_ref. */
static void check_xent_mix(ct_backend *b, const float *z, const uint8_t *lab, int64_t n,
                           int classes, float gs, float sm, const float *w, const uint8_t *lab2,
                           float lam, const char *what) {
    size_t nz = (size_t)n * classes;
    float *g = hmalloc(nz * 4);
    double *gr = hmalloc(nz * sizeof(double)), loss, correct, st[2];
    xent_ref(z, lab, n, classes, gs, sm, w, lab2, lam, &loss, &correct, gr);
    float *d_w = w ? dput(b, w, (size_t)classes * 4) : NULL;
    ct_step_vars sv = {.mix_kind = CT_MIX_MIXUP, .mix_lam = lam};
    ct_step_vars *d_sv = lab2 ? dput(b, &sv, sizeof sv) : NULL;
    uint8_t *d_lab2 = lab2 ? dput(b, lab2, (size_t)n) : NULL;
    float *d_z = dput(b, z, nz * 4), *d_g = dalloc(b, nz * 4);
    uint8_t *d_lab = dput(b, lab, (size_t)n);
    double *d_st = dalloc(b, 2 * sizeof(double));
    double loss_tol = 1e-5 * (double)n + 1e-6 * loss;
    OK(b->memset0(b, d_st, 2 * sizeof(double)));
    OK(b->xent(b, d_z, d_lab, n, classes, gs, sm, d_w, d_lab2, d_sv, d_g, d_st));
    dget(b, st, d_st, sizeof st);
    nearx(what, "loss sum", 0, st[0], loss, loss_tol);
    nearx(what, "correct count", 0, st[1], correct, 0.0);
    OK(b->xent(b, d_z, d_lab, n, classes, gs, sm, d_w, d_lab2, d_sv, NULL, d_st)); /* adds */
    dget(b, st, d_st, sizeof st);
    nearx(what, "loss sum after two calls", 0, st[0], 2 * loss, 2 * loss_tol);
    nearx(what, "correct count after two calls", 0, st[1], 2 * correct, 0.0);
    dget(b, g, d_g, nz * 4);
    for (size_t i = 0; i < nz; i++)
        nearx(what, "dlogits", i, g[i], gr[i], 1e-6 * fabs(gs) + 1e-5 * fabs(gr[i]));
    /* dlogits aliasing logits, stats starting at (1.5, 2) */
    const double st0[2] = {1.5, 2.0};
    OK(b->h2d(b, d_st, st0, sizeof st0));
    OK(b->xent(b, d_z, d_lab, n, classes, gs, sm, d_w, d_lab2, d_sv, d_z, d_st));
    dget(b, st, d_st, sizeof st);
    dget(b, g, d_z, nz * 4);
    nearx(what, "in place, loss sum", 0, st[0], 1.5 + loss, loss_tol);
    nearx(what, "in place, correct count", 0, st[1], 2.0 + correct, 0.0);
    for (size_t i = 0; i < nz; i++)
        nearx(what, "in place, dlogits", i, g[i], gr[i], 1e-6 * fabs(gs) + 1e-5 * fabs(gr[i]));
    b->free(b, d_z); b->free(b, d_g); b->free(b, d_lab); b->free(b, d_st); b->free(b, d_w);
    b->free(b, d_sv); b->free(b, d_lab2);
    free(g); free(gr);
}

static void check_xent(ct_backend *b, const float *z, const uint8_t *lab, int64_t n, int classes,
                       float gs, float sm, const float *w, const char *what) {
    check_xent_mix(b, z, lab, n, classes, gs, sm, w, NULL, 1.0f, what);
}

static void test_xent(void **state) {
    ct_backend *b = tu_backend(state);
    ct_rng rng;
    ct_rng_init(&rng, 14, 0);
    const int shapes[][2] = {{1, 1}, {1, 2}, {3, 10}, {65, 33}, {128, 10}, {5, 256}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int n = shapes[s][0], classes = shapes[s][1];
        float *z = hmalloc((size_t)n * classes * 4);
        uint8_t *lab = hmalloc((size_t)n);
        tu_fill(&rng, z, (size_t)n * classes, -6, 6);
        for (int r = 0; r < n; r++) lab[r] = (uint8_t)ct_rng_below(&rng, (uint32_t)classes);
        lab[0] = 0;                          /* the first class ... */
        lab[n - 1] = (uint8_t)(classes - 1); /* ... and the last (row 0 when n == 1) */
        if (n > 2) /* make sure some rows are classified correctly */
            z[(size_t)1 * classes + lab[1]] = 9.0f;
        /* label smoothing: none, PyTorch's usual 0.1, more, and all (a uniform target) */
        const float smoothing[] = {0.0f, 0.1f, 0.37f, 1.0f};
        /* class weights in [0, 4), one of them 0 (Keras' class_weight) */
        float *w = hmalloc((size_t)classes * 4);
        tu_fill(&rng, w, (size_t)classes, 0, 4);
        w[classes / 2] = 0.0f;
        for (size_t k = 0; k < sizeof smoothing / sizeof smoothing[0] + 2; k++) {
            char what[96];
            int weighted = k >= sizeof smoothing / sizeof smoothing[0]; /* (with 0 and 0.37) */
            float sm = weighted ? smoothing[2 * (k % 2)] : smoothing[k];
            snprintf(what, sizeof what, "xent (%d, %d), label smoothing %g%s", n, classes,
                     (double)sm, weighted ? ", class weights" : "");
            check_xent(b, z, lab, n, classes, s % 2 ? 0.37f : 1.0f / (float)n, sm,
                       weighted ? w : NULL, what);
        }
        /* MixUp / CutMix's targets: each row's label and a partner's (the rows rolled by one,
         * as the gather makes them), lam above, below and at 0.5, with and without smoothing */
        uint8_t *lab2 = hmalloc((size_t)n);
        for (int r = 0; r < n; r++) lab2[r] = lab[(r + n - 1) % n];
        const float lams[] = {0.7f, 0.2f, 0.5f};
        for (int k = 0; k < 3; k++) {
            char what[96];
            snprintf(what, sizeof what, "xent (%d, %d), mixed targets, lam %g, smoothing %g", n,
                     classes, (double)lams[k], k == 1 ? 0.1 : 0.0);
            check_xent_mix(b, z, lab, n, classes, s % 2 ? 0.37f : 1.0f / (float)n,
                           k == 1 ? 0.1f : 0.0f, NULL, lab2, lams[k], what);
        }
        free(lab2);
        free(w);
        free(z);
        free(lab);
    }
}

/* Logits of +-1e4: the loss and gradient stay finite and exact (max subtracted first). */
static void test_xent_large_logits(void **state) {
    ct_backend *b = tu_backend(state);
    enum { N = 4, C = 5 };
    const float z[N * C] = {
        1e4f, 0.0f, -1e4f, 1e4f - 2.0f, 5.0f,  /* label 0: loss log(1 + e^-2) */
        -1e4f, -1e4f, -1e4f, -1e4f, -1e4f,     /* ties: argmax 0, label 4: loss log 5 */
        1e4f, -1e4f, 0.0f, 0.0f, 0.0f,         /* label 1: loss 2e4, finite */
        1e4f, 1e4f + 1.0f, 1e4f - 1.0f, 1e4f, 1e4f + 0.5f, /* label 1 */
    };
    const uint8_t lab[N] = {0, 4, 1, 1};
    check_xent(b, z, lab, N, C, 0.25f, 0.0f, NULL, "xent with logits of 1e4");
    check_xent(b, z, lab, N, C, 0.25f, 0.1f, NULL, "xent with logits of 1e4, label smoothing 0.1");
    float g[N * C];
    double st[2];
    float *d_z = dput(b, z, sizeof z), *d_g = dalloc(b, sizeof g);
    uint8_t *d_lab = dput(b, lab, sizeof lab);
    double *d_st = dalloc(b, sizeof st);
    OK(b->memset0(b, d_st, sizeof st));
    OK(b->xent(b, d_z, d_lab, N, C, 1.0f, 0.0f, NULL, NULL, NULL, d_g, d_st));
    dget(b, g, d_g, sizeof g);
    dget(b, st, d_st, sizeof st);
    assert_true(isfinite(st[0]));
    for (int i = 0; i < N * C; i++) assert_true(isfinite(g[i]));
    b->free(b, d_z); b->free(b, d_g); b->free(b, d_lab); b->free(b, d_st);
}

/* Diverged rows count the same on every backend: the argmax scans from z[0] and takes a later
 * element only when it is greater, so a NaN z[0] or a row of -inf gives class 0, and a later
 * NaN is never taken. */
static void test_xent_argmax_nan(void **state) {
    ct_backend *b = tu_backend(state);
    enum { N = 4, C = 40 }; /* more classes than a warp's lanes */
    float z[N * C];
    for (int i = 0; i < N * C; i++) z[i] = (float)(i % 7) - 3.0f;
    z[0 * C] = NAN;                                      /* row 0: class 0 */
    for (int c = 0; c < C; c++) z[1 * C + c] = -INFINITY; /* row 1: class 0 */
    z[2 * C + 35] = 50.0f;                               /* row 2: class 35, NaN before it */
    z[2 * C + 3] = NAN;
    z[3 * C + 0] = -INFINITY;                            /* row 3: class 33 beats the NaN */
    z[3 * C + 33] = 9.0f;
    z[3 * C + 34] = NAN;
    const uint8_t lab[N] = {0, 0, 35, 33};
    float *d_z = dput(b, z, sizeof z);
    uint8_t *d_lab = dput(b, lab, sizeof lab);
    double st[2], *d_st = dalloc(b, sizeof st);
    OK(b->memset0(b, d_st, sizeof st));
    OK(b->xent(b, d_z, d_lab, N, C, 1.0f, 0.1f, NULL, NULL, NULL, NULL, d_st));
    dget(b, st, d_st, sizeof st);
    if (st[1] != N) fail_msg("%s: %g of %d diverged rows counted correct", b->name, st[1], N);
    b->free(b, d_z); b->free(b, d_lab); b->free(b, d_st);
}

/* ------------------------------------------------------------------------------------------ */
/* add_into: dst += src (also dst == src)                                                      */

static void test_add_into(void **state) {
    ct_backend *b = tu_backend(state);
    if (!ct_backend_supports(b, add_into))
        TU_SKIP("add_into", "the %s backend has no add_into", b->name);
    ct_rng rng;
    ct_rng_init(&rng, 17, 0);
    const int64_t sizes[] = {1, 37, 40000};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        int64_t n = sizes[s];
        size_t bytes = (size_t)n * 4;
        float *d = hmalloc(bytes), *src = hmalloc(bytes), *out = hmalloc(bytes);
        fill_signed(&rng, d, n);
        fill_signed(&rng, src, n);
        float *d_d = dput(b, d, bytes), *d_s = dput(b, src, bytes);
        OK(b->add_into(b, d_d, d_s, n));
        dget(b, out, d_d, bytes);
        for (int64_t i = 0; i < n; i++) {
            double ref = (double)d[i] + src[i];
            tu_near("add_into", i, out[i], ref, 2e-7 * fabs(ref) + 1e-7);
        }
        OK(b->add_into(b, d_s, d_s, n));
        dget(b, out, d_s, bytes);
        for (int64_t i = 0; i < n; i++) tu_near("add_into dst == src", i, out[i], 2.0 * src[i], 0.0);
        b->free(b, d_d);
        b->free(b, d_s);
        free(d); free(src); free(out);
    }
}

/* ------------------------------------------------------------------------------------------ */
/* fill; scale_rows: y = x * s + add by rows (also x == y, add NULL); dot_rows: alpha * sums of x * y */
/* (y NULL: of x) by rows                                                                      */

static void test_rows(void **state) {
    ct_backend *b = tu_backend(state);
    if (!ct_backend_supports(b, scale_rows) || !ct_backend_supports(b, dot_rows) ||
        !ct_backend_supports(b, fill))
        TU_SKIP("rows", "the %s backend has no scale_rows, dot_rows or fill", b->name);
    ct_rng rng;
    ct_rng_init(&rng, 23, 0);
    /* (planes of a squeeze-and-excitation: 7x7, 1x1; remainders of 8 partial sums; a long row) */
    const int64_t shapes[][2] = {{1, 1}, {6, 49}, {130, 9}, {3, 1000}, {64, 8}, {5, 0}};
    for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
        const int64_t R = shapes[k][0], C = shapes[k][1];
        const size_t xb = (size_t)(R * C) * 4 + 4, rb = (size_t)R * 4, ob = xb > rb ? xb : rb;
        float *x = hmalloc(xb), *y = hmalloc(xb), *s = hmalloc(rb), *a = hmalloc(rb),
              *out = hmalloc(ob);
        fill_signed(&rng, x, R * C);
        fill_signed(&rng, y, R * C);
        fill_signed(&rng, s, R);
        fill_signed(&rng, a, R);
        float *d_x = dput(b, x, xb), *d_y = dput(b, y, xb), *d_s = dput(b, s, rb),
              *d_a = dput(b, a, rb), *d_o = dalloc(b, ob);
        char what[64];
        for (int with_add = 0; with_add < 2; with_add++) {
            snprintf(what, sizeof what, "scale_rows (%lld, %lld)%s", (long long)R, (long long)C,
                     with_add ? " + add" : "");
            OK(b->scale_rows(b, d_x, d_s, with_add ? d_a : NULL, d_o, R, C));
            dget(b, out, d_o, xb);
            for (int64_t i = 0; i < R * C; i++) {
                const double ref = (double)x[i] * s[i / C] + (with_add ? a[i / C] : 0.0);
                tu_near(what, (size_t)i, out[i], ref, 4e-7 * fabs(ref) + 1e-7);
            }
        }
        const float sentinel = 777.0f; /* (fill: n floats, nothing past them) */
        OK(b->h2d(b, d_o + R * C, &sentinel, sizeof sentinel));
        OK(b->fill(b, d_o, -2.5f, R * C));
        dget(b, out, d_o, xb);
        for (int64_t i = 0; i < R * C; i++) tu_near("fill", (size_t)i, out[i], -2.5, 0.0);
        tu_near("fill: past its n", 0, out[R * C], sentinel, 0.0);
        OK(b->scale_rows(b, d_y, d_s, d_a, d_y, R, C)); /* in place */
        dget(b, out, d_y, xb);
        for (int64_t i = 0; i < R * C; i++)
            tu_near("scale_rows x == y", (size_t)i, out[i], (double)y[i] * s[i / C] + a[i / C],
                    4e-7 * fabs((double)y[i] * s[i / C] + a[i / C]) + 1e-7);
        b->free(b, d_y);
        d_y = dput(b, y, xb);
        for (int with_y = 0; with_y < 2; with_y++) {
            const float alpha = with_y ? -0.75f : 1.0f / (float)(C ? C : 1);
            snprintf(what, sizeof what, "dot_rows (%lld, %lld)%s", (long long)R, (long long)C,
                     with_y ? " of x * y" : " of x");
            OK(b->dot_rows(b, d_x, with_y ? d_y : NULL, d_o, R, C, alpha));
            dget(b, out, d_o, rb);
            for (int64_t r = 0; r < R; r++) {
                double ref = 0.0, mag = 0.0;
                for (int64_t j = 0; j < C; j++) {
                    const double t = (double)x[r * C + j] * (with_y ? y[r * C + j] : 1.0);
                    ref += t;
                    mag += fabs(t);
                }
                tu_near(what, (size_t)r, out[r], alpha * ref, 1e-6 * fabs(alpha) * mag + 1e-7);
            }
        }
        b->free(b, d_x); b->free(b, d_y); b->free(b, d_s); b->free(b, d_a); b->free(b, d_o);
        free(x); free(y); free(s); free(a); free(out);
    }
}

/* ------------------------------------------------------------------------------------------ */
/* sgd_step against torch.optim.SGD's documented algorithm (dampening 0), in double:            */
/*   g = grad + wd*w; if momentum: buf = (t == 0) ? g : momentum*buf + g;                       */
/*   g = nesterov ? g + momentum*buf : buf; w = w - lr*g                                        */

static void test_sgd(void **state) {
    ct_backend *b = tu_backend(state);
    ct_rng rng;
    ct_rng_init(&rng, 16, 0);
    const struct { float lr, momentum, wd; int nesterov; } cfgs[] = {
        {0.1f, 0.0f, 0.0f, 0},  {0.1f, 0.0f, 0.01f, 0}, {0.05f, 0.9f, 0.0f, 0},
        {0.05f, 0.9f, 0.02f, 0}, {0.05f, 0.9f, 0.05f, 1}, {0.5f, 0.5f, 0.0f, 1},
    };
    const int64_t sizes[] = {1, 37, 40000};
    enum { STEPS = 4 };
    for (size_t c = 0; c < sizeof cfgs / sizeof cfgs[0]; c++)
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
            int64_t n = sizes[s];
            size_t bytes = (size_t)n * 4;
            float *w = hmalloc(bytes), *g = hmalloc(bytes), *m = hmalloc(bytes);
            double *wr = hmalloc(n * sizeof(double)), *mr = hmalloc(n * sizeof(double));
            tu_fill(&rng, w, n, -1, 1);
            for (int64_t i = 0; i < n; i++) m[i] = 123.0f, wr[i] = w[i]; /* garbage momentum */
            int has_m = cfgs[c].momentum != 0.0f;
            float *d_w = dput(b, w, bytes), *d_g = dalloc(b, bytes), *d_m = dput(b, m, bytes);
            ct_step_vars *d_sv = dalloc(b, sizeof(ct_step_vars));
            for (int t = 0; t < STEPS; t++) {
                tu_fill(&rng, g, n, -1, 1);
                OK(b->h2d(b, d_g, g, bytes));
                /* every other step takes lr, the momentum and the first-step flag from device
                 * memory (sv), the arguments then being wrong on purpose; the momentum
                 * changes from step to step (as OneCycleLR cycles it), and at 0 (step 2)
                 * leaves the buffer alone, as PyTorch's SGD */
                int use_sv = (t + (int)c) % 2;
                const float mom = t == 2 ? 0.0f : cfgs[c].momentum * (1.0f - 0.05f * (float)t);
                ct_step_vars sv = {.lr = cfgs[c].lr, .momentum = mom, .first = t == 0};
                OK(b->h2d(b, d_sv, &sv, sizeof sv));
                OK(b->sgd_step(b, d_w, d_g, has_m ? d_m : NULL, n, use_sv ? 99.0f : cfgs[c].lr,
                               use_sv ? 0.5f * mom : mom, cfgs[c].wd, cfgs[c].nesterov,
                               use_sv ? t != 0 : t == 0, use_sv ? d_sv : NULL));
                double mo = mom;
                for (int64_t i = 0; i < n; i++) {
                    double d = g[i] + (double)cfgs[c].wd * wr[i];
                    if (has_m && mo != 0.0) {
                        mr[i] = t == 0 ? d : mo * mr[i] + d;
                        d = cfgs[c].nesterov ? d + mo * mr[i] : mr[i];
                    }
                    wr[i] -= (double)cfgs[c].lr * d;
                }
                dget(b, w, d_w, bytes);
                dget(b, m, d_m, bytes);
                char what[112];
                snprintf(what, sizeof what, "sgd lr=%g momentum=%g wd=%g nesterov=%d n=%lld "
                         "step %d", cfgs[c].lr, cfgs[c].momentum, cfgs[c].wd, cfgs[c].nesterov,
                         (long long)n, t);
                for (int64_t i = 0; i < n; i++) {
                    tu_near(what, i, w[i], wr[i], 1e-5 * fabs(wr[i]) + 1e-6);
                    if (has_m) tu_near(what, i, m[i], mr[i], 1e-5 * fabs(mr[i]) + 1e-6);
                }
            }
            b->free(b, d_w); b->free(b, d_g); b->free(b, d_m); b->free(b, d_sv);
            free(w); free(g); free(m); free(wr); free(mr);
        }
}

/* ------------------------------------------------------------------------------------------ */
/* rmsprop_step against torch.optim.RMSprop's algorithm, in double:                            */
/*   g += wd*w; v = alpha*v + (1-alpha)*g^2; centered: ga = alpha*ga + (1-alpha)*g,            */
/*   d = sqrt(v - ga^2) + eps, else d = sqrt(v) + eps; momentum: m = mom*m + g/d, w -= lr*m;   */
/*   else w -= lr*g/d                                                                          */

static void test_rmsprop(void **state) {
    ct_backend *b = tu_backend(state);
    ct_rng rng;
    ct_rng_init(&rng, 18, 0);
    const struct { float lr, alpha, eps, wd, momentum; int centered; } cfgs[] = {
        {0.01f, 0.99f, 1e-8f, 0.0f, 0.0f, 0}, {0.01f, 0.9f, 1e-6f, 0.05f, 0.0f, 0},
        {0.005f, 0.99f, 1e-8f, 0.0f, 0.9f, 0}, {0.005f, 0.95f, 1e-8f, 0.0f, 0.0f, 1},
        {0.002f, 0.9f, 1e-5f, 0.01f, 0.5f, 1},
    };
    const int64_t sizes[] = {1, 37, 40000};
    enum { STEPS = 4 };
    for (size_t c = 0; c < sizeof cfgs / sizeof cfgs[0]; c++)
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
            int64_t n = sizes[s];
            size_t bytes = (size_t)n * 4;
            float *w = hmalloc(bytes), *g = hmalloc(bytes), *st = hmalloc(3 * bytes);
            double *ref = hmalloc(4 * n * sizeof(double)); /* w, m, v, ga */
            tu_fill(&rng, w, n, -1, 1);
            memset(st, 0, 3 * bytes);
            for (int64_t i = 0; i < 4 * n; i++) ref[i] = i < n ? w[i] : 0.0;
            int has_m = cfgs[c].momentum != 0.0f;
            float *d_w = dput(b, w, bytes), *d_g = dalloc(b, bytes), *d_st = dput(b, st, 3 * bytes);
            float *d_m = d_st, *d_v = d_st + n, *d_ga = d_st + 2 * n;
            ct_step_vars *d_sv = dalloc(b, sizeof(ct_step_vars));
            for (int t = 0; t < STEPS; t++) {
                tu_fill(&rng, g, n, -1, 1);
                OK(b->h2d(b, d_g, g, bytes));
                /* every other step takes lr and the momentum from device memory (sv), the
                 * arguments then being wrong on purpose; the momentum changes from step to
                 * step (as OneCycleLR cycles it), and at 0 (step 2) leaves the buffer alone */
                int use_sv = (t + (int)c) % 2;
                const float mom = t == 2 ? 0.0f : cfgs[c].momentum * (1.0f - 0.05f * (float)t);
                ct_step_vars sv = {.lr = cfgs[c].lr, .momentum = mom};
                OK(b->h2d(b, d_sv, &sv, sizeof sv));
                OK(b->rmsprop_step(b, d_w, d_g, has_m ? d_m : NULL, d_v,
                                   cfgs[c].centered ? d_ga : NULL, n,
                                   use_sv ? 99.0f : cfgs[c].lr, cfgs[c].alpha, cfgs[c].eps,
                                   cfgs[c].wd, use_sv ? 0.5f * mom : mom, cfgs[c].centered,
                                   use_sv ? d_sv : NULL));
                double a = cfgs[c].alpha, mo = has_m ? mom : 0.0;
                for (int64_t i = 0; i < n; i++) {
                    double *rw = ref + i, *rm = ref + n + i, *rv = ref + 2 * n + i;
                    double *rg = ref + 3 * n + i;
                    double gi = g[i] + (double)cfgs[c].wd * *rw;
                    *rv = a * *rv + (1.0 - a) * gi * gi;
                    double d;
                    if (cfgs[c].centered) {
                        *rg = a * *rg + (1.0 - a) * gi;
                        d = sqrt(*rv - *rg * *rg) + cfgs[c].eps;
                    } else {
                        d = sqrt(*rv) + cfgs[c].eps;
                    }
                    if (mo != 0.0) {
                        *rm = mo * *rm + gi / d;
                        *rw -= (double)cfgs[c].lr * *rm;
                    } else {
                        *rw -= (double)cfgs[c].lr * gi / d;
                    }
                }
                dget(b, w, d_w, bytes);
                dget(b, st, d_st, 3 * bytes);
                char what[128];
                snprintf(what, sizeof what, "rmsprop lr=%g alpha=%g wd=%g momentum=%g centered=%d "
                         "n=%lld step %d", cfgs[c].lr, cfgs[c].alpha, cfgs[c].wd, cfgs[c].momentum,
                         cfgs[c].centered, (long long)n, t);
                for (int64_t i = 0; i < n; i++) {
                    /* (g/d is up to 1/eps where v is tiny: relative tolerances) */
                    tu_near(what, i, w[i], ref[i], 1e-5 * fabs(ref[i]) + 1e-6);
                    tu_near(what, i, st[n + i], ref[2 * n + i], 1e-5 * fabs(ref[2 * n + i]) + 1e-7);
                    if (has_m) tu_near(what, i, st[i], ref[n + i], 1e-4 * fabs(ref[n + i]) + 1e-5);
                    if (cfgs[c].centered)
                        tu_near(what, i, st[2 * n + i], ref[3 * n + i],
                                1e-5 * fabs(ref[3 * n + i]) + 1e-7);
                }
            }
            b->free(b, d_w); b->free(b, d_g); b->free(b, d_st); b->free(b, d_sv);
            free(w); free(g); free(st); free(ref);
        }
}

/* ------------------------------------------------------------------------------------------ */
/* ema_update against torchvision's ExponentialMovingAverage: avg = decay*avg + (1-decay)*x,   */
/* in double; decay 0 makes avg x exactly (the average's first update)                        */

static void test_ema_update(void **state) {
    ct_backend *b = tu_backend(state);
    ct_rng rng;
    ct_rng_init(&rng, 17, 0);
    const int64_t sizes[] = {1, 37, 40000};
    const float decays[] = {0.0f, 0.5f, 0.9f, 0.999f};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        int64_t n = sizes[s];
        size_t bytes = (size_t)n * 4;
        float *avg = hmalloc(bytes), *x = hmalloc(bytes);
        double *ref = hmalloc(n * sizeof(double));
        tu_fill(&rng, avg, n, -3, 3);
        for (int64_t i = 0; i < n; i++) ref[i] = avg[i];
        float *d_avg = dput(b, avg, bytes), *d_x = dalloc(b, bytes);
        ct_step_vars *d_sv = dalloc(b, sizeof(ct_step_vars));
        for (size_t k = 0; k < sizeof decays / sizeof decays[0]; k++) {
            tu_fill(&rng, x, n, -1, 1);
            OK(b->h2d(b, d_x, x, bytes));
            /* every other update takes its decay from device memory (sv), the argument then
             * being wrong on purpose */
            int use_sv = (int)(k + s) % 2;
            ct_step_vars sv = {.ema_decay = decays[k]};
            OK(b->h2d(b, d_sv, &sv, sizeof sv));
            OK(b->ema_update(b, d_avg, d_x, n, use_sv ? 0.25f : decays[k], use_sv ? d_sv : NULL));
            double d = decays[k];
            for (int64_t i = 0; i < n; i++) ref[i] = d * ref[i] + (1.0 - d) * x[i];
            dget(b, avg, d_avg, bytes);
            char what[64];
            snprintf(what, sizeof what, "ema_update decay=%g n=%lld", (double)decays[k],
                     (long long)n);
            for (int64_t i = 0; i < n; i++) {
                if (decays[k] == 0.0f && avg[i] != x[i]) /* a copy, bit for bit */
                    fail_msg("%s: element %lld is %.9g, not x's %.9g", what, (long long)i,
                             (double)avg[i], (double)x[i]);
                tu_near(what, i, avg[i], ref[i], 1e-6 * fabs(ref[i]) + 1e-7);
            }
        }
        OK(b->ema_update(b, d_avg, d_x, 0, 0.5f, NULL)); /* nothing to do */
        b->free(b, d_avg); b->free(b, d_x); b->free(b, d_sv);
        free(avg); free(x); free(ref);
    }
}

/* ------------------------------------------------------------------------------------------ */

int main(void) {
    tu_open_backends(&tu_backends[TU_CPU], &tu_backends[TU_CUDA]);
    const struct CMUnitTest tests[] = {
        TU_ON_EACH(test_gemm), TU_ON_EACH(test_gemm_k0),           TU_ON_EACH(test_bias),
        TU_ON_EACH(test_act),  TU_ON_EACH(test_xent),              TU_ON_EACH(test_xent_large_logits),
        TU_ON_EACH(test_xent_argmax_nan),                          TU_ON_EACH(test_add_into),
        TU_ON_EACH(test_rows),
        TU_ON_EACH(test_sgd),  TU_ON_EACH(test_ema_update),        TU_ON_EACH(test_rmsprop),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    tu_close_backends();
    return rc;
}
