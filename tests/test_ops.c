/*
 * test_ops.c — every op of the backend table (backend/backend.h) against a naive
 * double-precision reference written here, on several shapes per op, on every backend that can
 * be opened: "cpu" always, "cuda" when a GPU is there (else one "SKIP cuda: why" line and the
 * CUDA cases are reported as skipped).
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

/* ------------------------------------------------------------------------------------------ */
/* backends, checked calls, device buffers                                                     */

enum { BK_CPU, BK_CUDA, BK_COUNT };
static ct_backend *g_backends[BK_COUNT];
static int k_ids[BK_COUNT] = {BK_CPU, BK_CUDA};

/* The backend a test case runs on, or skip() when it could not be opened. */
static ct_backend *backend_of(void **state) {
    int id = *(const int *)*state;
    if (!g_backends[id]) skip();
    return g_backends[id];
}

static float urand(ct_rng *r, float lo, float hi) { return lo + (hi - lo) * ct_rng_uniform(r); }
static void fill(ct_rng *r, float *p, size_t n, float lo, float hi) {
    for (size_t i = 0; i < n; i++) p[i] = urand(r, lo, hi);
}
/* Magnitudes in [0.5, 1.5) with random signs: a dropped or doubled term always shows. */
static void fill_signed(ct_rng *r, float *p, size_t n) {
    for (size_t i = 0; i < n; i++) p[i] = (ct_rng_u32(r) & 1 ? -1.0f : 1.0f) * urand(r, 0.5f, 1.5f);
}

static void near(const char *what, size_t i, double got, double ref, double tol) {
    if (!(fabs(got - ref) <= tol))
        fail_msg("%s [%zu]: got %.9g, expected %.9g (|diff| %.3g > tolerance %.3g)", what, i, got,
                 ref, fabs(got - ref), tol);
}

/* near() for a case `what` and a quantity `sub` of it. */
static void nearx(const char *what, const char *sub, size_t i, double got, double ref, double tol) {
    char w[160];
    snprintf(w, sizeof w, "%s: %s", what, sub);
    near(w, i, got, ref, tol);
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
    ct_backend *b = backend_of(state);
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
            fill(&rng, A, na, -1, 1);
            fill(&rng, B, nb, -1, 1);
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
                    near(what, (size_t)i * ldc + j, C[(size_t)i * ldc + j], ref, tol);
                }
                for (int j = N; j < ldc; j++) /* the gap between rows is not touched */
                    near(what, (size_t)i * ldc + j, C[(size_t)i * ldc + j], C_SENTINEL, 0.0);
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
    ct_backend *b = backend_of(state);
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
            near(betas[t] == 0.0f ? "gemm K=0 beta=0 over NaN" : "gemm K=0 beta=0.5", (size_t)i,
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
};

static void test_bias(void **state) {
    ct_backend *b = backend_of(state);
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
            near(what, e, out[e], ref, 2e-7 * fabs(ref) + 1e-7);
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
            near(what, (size_t)c, db[c], ref, 1e-6 * sqrt((double)(outer * inner)) * mag + 1e-6);
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
};

/* f(x) and f'(x) in double; at x == 0 PyTorch's convention (x > 0 is the positive side). */
static double act_ref(ct_act kind, double p, double x, double *deriv) {
    double s, t, cdf;
    switch (kind) {
    case CT_ACT_RELU: *deriv = x > 0 ? 1 : 0; return x > 0 ? x : 0;
    case CT_ACT_LEAKY_RELU: *deriv = x > 0 ? 1 : p; return x > 0 ? x : p * x;
    case CT_ACT_SIGMOID: s = 1 / (1 + exp(-x)); *deriv = s * (1 - s); return s;
    case CT_ACT_TANH: t = tanh(x); *deriv = 1 - t * t; return t;
    default:
        cdf = 0.5 * (1 + erf(x / sqrt(2.0)));
        *deriv = cdf + x * exp(-0.5 * x * x) / sqrt(2 * M_PI);
        return x * cdf;
    }
}

static void test_act(void **state) {
    ct_backend *b = backend_of(state);
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
            fill(&rng, x, n, -5, 5);
            fill(&rng, dy, n, -2, 2);
            if (n > 1) x[1] = 0.0f;
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
                    near(what, i, y[i], fr[i], 2e-6 * fabs(fr[i]) + 1e-6);
                snprintf(what, sizeof what, "act_backward %s n=%lld%s", k_acts[a].name,
                         (long long)n, inplace ? " in place" : "");
                OK(b->act_backward(b, kind, p, d_x, d_y, d_dy, inplace ? d_dy : d_dx, n));
                dget(b, dx, inplace ? d_dy : d_dx, bytes);
                for (int64_t i = 0; i < n; i++)
                    near(what, i, dx[i], dr[i], 1e-5 * fabs(dr[i]) + 1e-6 * (1 + fabs(dy[i])));
            }
            b->free(b, d_x); b->free(b, d_y); b->free(b, d_dy); b->free(b, d_dx); b->free(b, d_t);
            free(x); free(dy); free(y); free(dx); free(fr); free(dr);
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

/* Stable log-softmax in double: summed loss, correct count, grad_scale * (softmax - onehot). */
static void xent_ref(const float *z, const uint8_t *lab, int64_t n, int classes, double gs,
                     double *loss, double *correct, double *grad) {
    *loss = *correct = 0.0;
    for (int64_t r = 0; r < n; r++) {
        const float *row = z + r * classes;
        int arg = 0;
        for (int c = 1; c < classes; c++)
            if (row[c] > row[arg]) arg = c;
        double sum = 0.0;
        for (int c = 0; c < classes; c++) sum += exp((double)row[c] - row[arg]);
        *loss += log(sum) - ((double)row[lab[r]] - row[arg]);
        *correct += arg == lab[r];
        for (int c = 0; c < classes; c++)
            grad[r * classes + c] = gs * (exp((double)row[c] - row[arg]) / sum - (c == lab[r]));
    }
}

/* Runs xent on (logits, labels) both out of place (twice, to check that stats accumulate) and
 * with dlogits == logits (stats starting non-zero), comparing everything with xent_ref. */
static void check_xent(ct_backend *b, const float *z, const uint8_t *lab, int64_t n, int classes,
                       float gs, const char *what) {
    size_t nz = (size_t)n * classes;
    float *g = hmalloc(nz * 4);
    double *gr = hmalloc(nz * sizeof(double)), loss, correct, st[2];
    xent_ref(z, lab, n, classes, gs, &loss, &correct, gr);
    float *d_z = dput(b, z, nz * 4), *d_g = dalloc(b, nz * 4);
    uint8_t *d_lab = dput(b, lab, (size_t)n);
    double *d_st = dalloc(b, 2 * sizeof(double));
    double loss_tol = 1e-5 * (double)n + 1e-6 * loss;
    OK(b->memset0(b, d_st, 2 * sizeof(double)));
    OK(b->xent(b, d_z, d_lab, n, classes, gs, d_g, d_st));
    dget(b, st, d_st, sizeof st);
    nearx(what, "loss sum", 0, st[0], loss, loss_tol);
    nearx(what, "correct count", 0, st[1], correct, 0.0);
    OK(b->xent(b, d_z, d_lab, n, classes, gs, NULL, d_st)); /* adds to the stats */
    dget(b, st, d_st, sizeof st);
    nearx(what, "loss sum after two calls", 0, st[0], 2 * loss, 2 * loss_tol);
    nearx(what, "correct count after two calls", 0, st[1], 2 * correct, 0.0);
    dget(b, g, d_g, nz * 4);
    for (size_t i = 0; i < nz; i++)
        nearx(what, "dlogits", i, g[i], gr[i], 1e-6 * fabs(gs) + 1e-5 * fabs(gr[i]));
    /* dlogits aliasing logits, stats starting at (1.5, 2) */
    const double st0[2] = {1.5, 2.0};
    OK(b->h2d(b, d_st, st0, sizeof st0));
    OK(b->xent(b, d_z, d_lab, n, classes, gs, d_z, d_st));
    dget(b, st, d_st, sizeof st);
    dget(b, g, d_z, nz * 4);
    nearx(what, "in place, loss sum", 0, st[0], 1.5 + loss, loss_tol);
    nearx(what, "in place, correct count", 0, st[1], 2.0 + correct, 0.0);
    for (size_t i = 0; i < nz; i++)
        nearx(what, "in place, dlogits", i, g[i], gr[i], 1e-6 * fabs(gs) + 1e-5 * fabs(gr[i]));
    b->free(b, d_z); b->free(b, d_g); b->free(b, d_lab); b->free(b, d_st);
    free(g); free(gr);
}

static void test_xent(void **state) {
    ct_backend *b = backend_of(state);
    ct_rng rng;
    ct_rng_init(&rng, 14, 0);
    const int shapes[][2] = {{1, 1}, {1, 2}, {3, 10}, {65, 33}, {128, 10}, {5, 256}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int n = shapes[s][0], classes = shapes[s][1];
        float *z = hmalloc((size_t)n * classes * 4);
        uint8_t *lab = hmalloc((size_t)n);
        fill(&rng, z, (size_t)n * classes, -6, 6);
        for (int r = 0; r < n; r++) lab[r] = (uint8_t)ct_rng_below(&rng, (uint32_t)classes);
        lab[0] = 0;                          /* the first class ... */
        lab[n - 1] = (uint8_t)(classes - 1); /* ... and the last (row 0 when n == 1) */
        if (n > 2) /* make sure some rows are classified correctly */
            z[(size_t)1 * classes + lab[1]] = 9.0f;
        char what[64];
        snprintf(what, sizeof what, "xent (%d, %d)", n, classes);
        check_xent(b, z, lab, n, classes, s % 2 ? 0.37f : 1.0f / (float)n, what);
        free(z);
        free(lab);
    }
}

/* Logits of +-1e4: the loss and gradient stay finite and exact (max subtracted first). */
static void test_xent_large_logits(void **state) {
    ct_backend *b = backend_of(state);
    enum { N = 4, C = 5 };
    const float z[N * C] = {
        1e4f, 0.0f, -1e4f, 1e4f - 2.0f, 5.0f,  /* label 0: loss log(1 + e^-2) */
        -1e4f, -1e4f, -1e4f, -1e4f, -1e4f,     /* ties: argmax 0, label 4: loss log 5 */
        1e4f, -1e4f, 0.0f, 0.0f, 0.0f,         /* label 1: loss 2e4, finite */
        1e4f, 1e4f + 1.0f, 1e4f - 1.0f, 1e4f, 1e4f + 0.5f, /* label 1 */
    };
    const uint8_t lab[N] = {0, 4, 1, 1};
    check_xent(b, z, lab, N, C, 0.25f, "xent with logits of 1e4");
    float g[N * C];
    double st[2];
    float *d_z = dput(b, z, sizeof z), *d_g = dalloc(b, sizeof g);
    uint8_t *d_lab = dput(b, lab, sizeof lab);
    double *d_st = dalloc(b, sizeof st);
    OK(b->memset0(b, d_st, sizeof st));
    OK(b->xent(b, d_z, d_lab, N, C, 1.0f, d_g, d_st));
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
    ct_backend *b = backend_of(state);
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
    OK(b->xent(b, d_z, d_lab, N, C, 1.0f, NULL, d_st));
    dget(b, st, d_st, sizeof st);
    if (st[1] != N) fail_msg("%s: %g of %d diverged rows counted correct", b->name, st[1], N);
    b->free(b, d_z); b->free(b, d_lab); b->free(b, d_st);
}

/* ------------------------------------------------------------------------------------------ */
/* gather_u8                                                                                   */

static void test_gather(void **state) {
    ct_backend *b = backend_of(state);
    ct_rng rng;
    ct_rng_init(&rng, 15, 0);
    const int64_t shapes[][3] = {{50, 13, 17}, {1000, 784, 128}, {1, 1, 1}}; /* rows, row, n */
    const float scale = 1.0f / 255.0f;
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int64_t rows = shapes[s][0], row = shapes[s][1], n = shapes[s][2];
        uint8_t *src = hmalloc((size_t)(rows * row)), *lab = hmalloc((size_t)rows);
        int32_t *idx = hmalloc((size_t)n * 4);
        for (int64_t i = 0; i < rows * row; i++) src[i] = (uint8_t)ct_rng_u32(&rng);
        for (int64_t i = 0; i < rows; i++) lab[i] = (uint8_t)ct_rng_below(&rng, 10);
        for (int64_t i = 0; i < n; i++) idx[i] = (int32_t)ct_rng_below(&rng, (uint32_t)rows);
        idx[0] = (int32_t)(rows - 1); /* the last row, the first row and a repeat */
        if (n > 2) idx[1] = 0, idx[2] = idx[n - 1];
        /* one extra row / label after the n written: must stay untouched */
        size_t out_bytes = (size_t)((n + 1) * row) * 4;
        float *out = hmalloc(out_bytes);
        uint8_t out_lab[129 + 1];
        uint8_t *d_src = dput(b, src, (size_t)(rows * row)), *d_lab = dput(b, lab, (size_t)rows);
        int32_t *d_idx = dput(b, idx, (size_t)n * 4);
        float *d_out = dalloc(b, out_bytes);
        uint8_t *d_out_lab = dalloc(b, (size_t)n + 1);
        for (int mode = 0; mode < 3; mode++) { /* idx; idx NULL; no labels */
            const int32_t *use_idx = mode == 1 ? NULL : d_idx;
            for (size_t i = 0; i < out_bytes / 4; i++) out[i] = -1.0f;
            memset(out_lab, 0xAB, sizeof out_lab);
            OK(b->h2d(b, d_out, out, out_bytes));
            OK(b->h2d(b, d_out_lab, out_lab, (size_t)n + 1));
            OK(b->gather_u8(b, d_src, d_lab, use_idx, n, row, scale, NULL, NULL, d_out,
                            mode == 2 ? NULL : d_out_lab));
            dget(b, out, d_out, out_bytes);
            dget(b, out_lab, d_out_lab, (size_t)n + 1);
            char what[80];
            snprintf(what, sizeof what, "gather_u8 (%lld of %lld rows of %lld)%s", (long long)n,
                     (long long)rows, (long long)row, mode == 1 ? " idx NULL" : "");
            for (int64_t i = 0; i < n; i++) {
                int64_t from = mode == 1 ? i : idx[i];
                for (int64_t j = 0; j < row; j++)
                    near(what, (size_t)(i * row + j), out[i * row + j],
                         src[from * row + j] / 255.0, 2e-7);
                if (mode != 2) near("gathered label", (size_t)i, out_lab[i], lab[from], 0.0);
                else near("label not asked for", (size_t)i, out_lab[i], 0xAB, 0.0);
            }
            for (int64_t j = 0; j < row; j++)
                near("row after n", (size_t)j, out[n * row + j], -1.0, 0.0);
            near("label after n", (size_t)n, out_lab[n], 0xAB, 0.0);
        }
        b->free(b, d_src); b->free(b, d_lab); b->free(b, d_idx); b->free(b, d_out);
        b->free(b, d_out_lab);
        free(src); free(lab); free(idx); free(out);
    }
}

/* ------------------------------------------------------------------------------------------ */
/* gather_u8 with augmentation, against torchvision's recipe done literally: pad the image with */
/* zeros into a larger buffer, cut the (h, w) window at (ty, tx), mirror it when the coin says.  */

static void test_gather_augment(void **state) {
    ct_backend *b = backend_of(state);
    ct_rng rng;
    ct_rng_init(&rng, 16, 0);
    const int cases[][5] = {/* c, h, w, pad, flip */
                            {1, 28, 28, 2, 0}, {3, 32, 32, 4, 1}, {2, 5, 7, 3, 1},
                            {1, 4, 4, 6, 1},   {1, 28, 28, 0, 1}, {1, 9, 9, 0, 0}};
    const int64_t rows = 40, n = 33;
    const float scale = 1.0f / 255.0f;
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const int c = cases[k][0], h = cases[k][1], w = cases[k][2], pad = cases[k][3];
        const int64_t row = (int64_t)c * h * w;
        const int ph = h + 2 * pad, pw = w + 2 * pad;
        ct_augment aug = {.c = c, .h = h, .w = w, .pad = pad, .flip = cases[k][4], .seed = 99,
                          .stream = 12345 + k, .first = 1000 * k + 7};
        uint8_t *src = hmalloc((size_t)(rows * row)), *lab = hmalloc((size_t)rows);
        int32_t *idx = hmalloc((size_t)n * 4);
        float *out = hmalloc((size_t)(n * row) * 4), *padded = hmalloc((size_t)c * ph * pw * 4);
        uint8_t out_lab[33];
        for (int64_t i = 0; i < rows * row; i++) src[i] = (uint8_t)(1 + ct_rng_below(&rng, 255));
        for (int64_t i = 0; i < rows; i++) lab[i] = (uint8_t)ct_rng_below(&rng, 10);
        for (int64_t i = 0; i < n; i++) idx[i] = (int32_t)ct_rng_below(&rng, (uint32_t)rows);
        uint8_t *d_src = dput(b, src, (size_t)(rows * row)), *d_lab = dput(b, lab, (size_t)rows);
        int32_t *d_idx = dput(b, idx, (size_t)n * 4);
        float *d_out = dalloc(b, (size_t)(n * row) * 4);
        uint8_t *d_out_lab = dalloc(b, (size_t)n);
        for (int use_idx = 0; use_idx < 2; use_idx++) {
            OK(b->gather_u8(b, d_src, d_lab, use_idx ? d_idx : NULL, n, row, scale, &aug, NULL,
                            d_out, d_out_lab));
            dget(b, out, d_out, (size_t)(n * row) * 4);
            dget(b, out_lab, d_out_lab, (size_t)n);
            int flips = 0, zeros = 0;
            for (int64_t i = 0; i < n; i++) {
                const uint8_t *img = src + (use_idx ? idx[i] : i) * row;
                uint32_t r[4];
                ct_philox4x32(aug.seed, aug.stream, aug.first + (uint64_t)i, r);
                int ty = (int)(r[0] % (uint32_t)(2 * pad + 1)), tx = (int)(r[1] % (uint32_t)(2 * pad + 1));
                int flip = aug.flip && (r[2] & 1);
                flips += flip;
                for (int64_t e = 0; e < (int64_t)c * ph * pw; e++) padded[e] = 0.0f;
                for (int ch = 0; ch < c; ch++)
                    for (int y = 0; y < h; y++)
                        for (int x = 0; x < w; x++)
                            padded[((int64_t)ch * ph + y + pad) * pw + x + pad] =
                                scale * (float)img[((int64_t)ch * h + y) * w + x];
                for (int ch = 0; ch < c; ch++)
                    for (int y = 0; y < h; y++)
                        for (int x = 0; x < w; x++) {
                            int cx = flip ? w - 1 - x : x; /* the crop's column shown at x */
                            float ref = padded[((int64_t)ch * ph + ty + y) * pw + tx + cx];
                            size_t at = (size_t)(i * row + ((int64_t)ch * h + y) * w + x);
                            zeros += out[at] == 0.0f;
                            char what[96];
                            snprintf(what, sizeof what, "augmented gather (%d,%d,%d) pad %d flip %d%s",
                                     c, h, w, pad, aug.flip, use_idx ? "" : " idx NULL");
                            if (out[at] != ref) near(what, at, out[at], ref, 0.0);
                        }
                near("augmented gather's label", (size_t)i, out_lab[i], lab[use_idx ? idx[i] : i], 0.0);
            }
            if (aug.flip) assert_true(flips > 0 && flips < n); /* the coin shows both sides */
            if (pad == 0) assert_int_equal(zeros, 0);         /* src has no zero pixel */
            if (pad >= h) assert_true(zeros > 0);
        }
        b->free(b, d_src); b->free(b, d_lab); b->free(b, d_idx); b->free(b, d_out);
        b->free(b, d_out_lab);
        free(src); free(lab); free(idx); free(out); free(padded);
    }
    /* a row that is not c*h*w is refused */
    ct_augment bad = {.c = 1, .h = 2, .w = 2, .pad = 1};
    float *d_o = dalloc(b, 5 * 4);
    uint8_t *d_s = dalloc(b, 5);
    assert_int_equal(b->gather_u8(b, d_s, NULL, NULL, 1, 5, 1.0f, &bad, NULL, d_o, NULL),
                     CT_ERR_INVALID);
    b->free(b, d_o); b->free(b, d_s);
}

/* ------------------------------------------------------------------------------------------ */
/* a step's scalars in device memory (ct_step_vars): step_load walks the epoch's table, and     */
/* gather_u8 with sv is gather_u8 with idx and aug->first moved on by sv->pos                    */

static void test_step_vars(void **state) {
    ct_backend *b = backend_of(state);
    ct_rng rng;
    ct_rng_init(&rng, 17, 0);
    ct_step_vars table[3], cur;
    for (int k = 0; k < 3; k++)
        table[k] = (ct_step_vars){.pos = 128 * k + 5, .step = 1000 + (uint64_t)k,
                                  .lr = 0.5f / (float)(k + 1), .adam_step_size = 0.25f * k,
                                  .adam_bc2_sqrt = 0.125f * k, .first = k == 0};
    ct_step_vars *d_table = dput(b, table, sizeof table), *d_cur = dalloc(b, sizeof cur);
    int64_t cursor = 1, *d_cursor = dput(b, &cursor, sizeof cursor);
    for (int k = 1; k < 3; k++) {
        OK(b->step_load(b, d_cur, d_table, d_cursor));
        dget(b, &cur, d_cur, sizeof cur);
        assert_memory_equal(&cur, &table[k], sizeof cur);
    }
    dget(b, &cursor, d_cursor, sizeof cursor);
    assert_int_equal(cursor, 3);

    const int c = 3, h = 8, w = 8;
    const int64_t rows = 20, row = (int64_t)c * h * w, n = 9, pos = 6;
    uint8_t *src = hmalloc((size_t)(rows * row)), *lab = hmalloc((size_t)rows);
    int32_t idx[15];
    for (int64_t i = 0; i < rows * row; i++) src[i] = (uint8_t)ct_rng_u32(&rng);
    for (int64_t i = 0; i < rows; i++) lab[i] = (uint8_t)ct_rng_below(&rng, 10);
    for (int i = 0; i < 15; i++) idx[i] = (int32_t)ct_rng_below(&rng, (uint32_t)rows);
    size_t out_bytes = (size_t)(n * row) * 4;
    float *want = hmalloc(out_bytes), *got = hmalloc(out_bytes);
    uint8_t want_lab[9], got_lab[9];
    uint8_t *d_src = dput(b, src, (size_t)(rows * row)), *d_lab = dput(b, lab, (size_t)rows);
    int32_t *d_idx = dput(b, idx, sizeof idx);
    float *d_out = dalloc(b, out_bytes);
    uint8_t *d_out_lab = dalloc(b, (size_t)n);
    ct_step_vars sv = {.pos = pos};
    ct_step_vars *d_sv = dput(b, &sv, sizeof sv);
    for (int augment = 0; augment < 2; augment++) {
        ct_augment aug = {.c = c, .h = h, .w = w, .pad = 2, .flip = 1, .seed = 7, .stream = 3,
                          .first = 11};
        ct_augment moved = aug;
        moved.first += (uint64_t)pos;
        OK(b->gather_u8(b, d_src, d_lab, d_idx + pos, n, row, 0.5f, augment ? &moved : NULL,
                        NULL, d_out, d_out_lab));
        dget(b, want, d_out, out_bytes);
        dget(b, want_lab, d_out_lab, (size_t)n);
        OK(b->memset0(b, d_out, out_bytes));
        OK(b->gather_u8(b, d_src, d_lab, d_idx, n, row, 0.5f, augment ? &aug : NULL, d_sv, d_out,
                        d_out_lab));
        dget(b, got, d_out, out_bytes);
        dget(b, got_lab, d_out_lab, (size_t)n);
        assert_memory_equal(want, got, out_bytes);
        assert_memory_equal(want_lab, got_lab, (size_t)n);
        /* without idx (the streamed path) only the augmentation's position moves */
        OK(b->gather_u8(b, d_src, NULL, NULL, n, row, 0.5f, augment ? &moved : NULL, NULL, d_out,
                        NULL));
        dget(b, want, d_out, out_bytes);
        OK(b->gather_u8(b, d_src, NULL, NULL, n, row, 0.5f, augment ? &aug : NULL, d_sv, d_out,
                        NULL));
        dget(b, got, d_out, out_bytes);
        assert_memory_equal(want, got, out_bytes);
    }
    b->free(b, d_table); b->free(b, d_cur); b->free(b, d_cursor); b->free(b, d_src);
    b->free(b, d_lab); b->free(b, d_idx); b->free(b, d_out); b->free(b, d_out_lab);
    b->free(b, d_sv);
    free(src); free(lab); free(want); free(got);
}

/* ------------------------------------------------------------------------------------------ */
/* collectives (NCCL on CUDA): a communicator of one rank sums nothing away. The cross-rank sum  */
/* itself needs two GPUs (scripts/gpu-check runs mpirun when it has them).                       */

static void test_collectives_one_rank(void **state) {
    ct_backend *b = backend_of(state);
    if (b->host_is_device) { /* the CPU sums through MPI in host memory: no device collectives */
        assert_null(b->coll_available);
        assert_null(b->coll_allreduce_sum_f32);
        return;
    }
    if (!b->coll_available) TU_SKIP("nccl", "this build of the %s backend has no NCCL", b->name);
    if (b->coll_available(b) != CT_OK) TU_SKIP("nccl", "%s", ct_last_error());
    const int64_t n = 1000;
    float *h = hmalloc((size_t)n * 4), *back = hmalloc((size_t)n * 4);
    for (int64_t i = 0; i < n; i++) h[i] = (float)i * 0.5f - 7.0f;
    float *d = dput(b, h, (size_t)n * 4);
    assert_int_equal(b->coll_allreduce_sum_f32(b, d, n), CT_ERR_INVALID); /* no communicator */
    unsigned char id[CT_COLL_ID_BYTES];
    size_t bytes = sizeof id;
    OK(b->coll_id(b, id, &bytes));
    assert_int_equal(bytes, CT_COLL_ID_BYTES);
    assert_int_equal(b->coll_init(b, id, bytes, 1, 1), CT_ERR_INVALID); /* rank >= nranks */
    assert_false(b->coll_joined(b));
    OK(b->coll_init(b, id, bytes, 1, 0));
    assert_true(b->coll_joined(b));
    assert_int_equal(b->coll_init(b, id, bytes, 1, 0), CT_ERR_INVALID); /* already joined */
    OK(b->coll_allreduce_sum_f32(b, d, n));
    dget(b, back, d, (size_t)n * 4);
    for (int64_t i = 0; i < n; i++) near("one-rank all-reduce", (size_t)i, back[i], h[i], 0.0);
    assert_non_null(strstr(b->coll_name(b), "NCCL"));
    b->coll_release(b);
    assert_false(b->coll_joined(b));
    assert_int_equal(b->coll_allreduce_sum_f32(b, d, n), CT_ERR_INVALID);
    b->free(b, d);
    free(h); free(back);
}

/* ------------------------------------------------------------------------------------------ */
/* add_into: dst += src (also dst == src)                                                      */

static void test_add_into(void **state) {
    ct_backend *b = backend_of(state);
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
            near("add_into", i, out[i], ref, 2e-7 * fabs(ref) + 1e-7);
        }
        OK(b->add_into(b, d_s, d_s, n));
        dget(b, out, d_s, bytes);
        for (int64_t i = 0; i < n; i++) near("add_into dst == src", i, out[i], 2.0 * src[i], 0.0);
        b->free(b, d_d);
        b->free(b, d_s);
        free(d); free(src); free(out);
    }
}

/* ------------------------------------------------------------------------------------------ */
/* sgd_step against torch.optim.SGD's documented algorithm (dampening 0), in double:            */
/*   g = grad + wd*w; if momentum: buf = (t == 0) ? g : momentum*buf + g;                       */
/*   g = nesterov ? g + momentum*buf : buf; w = w - lr*g                                        */

static void test_sgd(void **state) {
    ct_backend *b = backend_of(state);
    ct_rng rng;
    ct_rng_init(&rng, 16, 0);
    const struct { float lr, momentum, wd; int nesterov; } cfgs[] = {
        {0.1f, 0.0f, 0.0f, 0},  {0.1f, 0.0f, 0.01f, 0}, {0.05f, 0.9f, 0.0f, 0},
        {0.05f, 0.9f, 0.02f, 0}, {0.05f, 0.9f, 0.05f, 1}, {0.5f, 0.5f, 0.0f, 1},
    };
    const int64_t sizes[] = {1, 37, 40000};
    enum { STEPS = 3 };
    for (size_t c = 0; c < sizeof cfgs / sizeof cfgs[0]; c++)
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
            int64_t n = sizes[s];
            size_t bytes = (size_t)n * 4;
            float *w = hmalloc(bytes), *g = hmalloc(bytes), *m = hmalloc(bytes);
            double *wr = hmalloc(n * sizeof(double)), *mr = hmalloc(n * sizeof(double));
            fill(&rng, w, n, -1, 1);
            for (int64_t i = 0; i < n; i++) m[i] = 123.0f, wr[i] = w[i]; /* garbage momentum */
            int has_m = cfgs[c].momentum != 0.0f;
            float *d_w = dput(b, w, bytes), *d_g = dalloc(b, bytes), *d_m = dput(b, m, bytes);
            ct_step_vars *d_sv = dalloc(b, sizeof(ct_step_vars));
            for (int t = 0; t < STEPS; t++) {
                fill(&rng, g, n, -1, 1);
                OK(b->h2d(b, d_g, g, bytes));
                /* every other step takes lr and the first-step flag from device memory (sv),
                 * the arguments then being wrong on purpose */
                int use_sv = (t + (int)c) % 2;
                ct_step_vars sv = {.lr = cfgs[c].lr, .first = t == 0};
                OK(b->h2d(b, d_sv, &sv, sizeof sv));
                OK(b->sgd_step(b, d_w, d_g, has_m ? d_m : NULL, n, use_sv ? 99.0f : cfgs[c].lr,
                               cfgs[c].momentum, cfgs[c].wd, cfgs[c].nesterov,
                               use_sv ? t != 0 : t == 0, use_sv ? d_sv : NULL));
                double mo = cfgs[c].momentum;
                for (int64_t i = 0; i < n; i++) {
                    double d = g[i] + (double)cfgs[c].wd * wr[i];
                    if (has_m) {
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
                    near(what, i, w[i], wr[i], 1e-5 * fabs(wr[i]) + 1e-6);
                    if (has_m) near(what, i, m[i], mr[i], 1e-5 * fabs(mr[i]) + 1e-6);
                }
            }
            b->free(b, d_w); b->free(b, d_g); b->free(b, d_m); b->free(b, d_sv);
            free(w); free(g); free(m); free(wr); free(mr);
        }
}

/* ------------------------------------------------------------------------------------------ */
/* memory and copies                                                                           */

static void test_memory(void **state) {
    ct_backend *b = backend_of(state);
    const size_t sizes[] = {1, 4099, 1 << 20};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        size_t n = sizes[s];
        uint8_t *h = hmalloc(n), *back = hmalloc(n);
        for (size_t i = 0; i < n; i++) h[i] = (uint8_t)(i * 31 + 7);
        uint8_t *d1 = dput(b, h, n), *d2 = dalloc(b, n);
        OK(b->d2d(b, d2, d1, n));
        memset(back, 0, n);
        dget(b, back, d2, n);
        assert_memory_equal(back, h, n);
        OK(b->memset0(b, d2, n));
        dget(b, back, d2, n);
        for (size_t i = 0; i < n; i++) assert_int_equal(back[i], 0);
        if (n >= 3) { /* offsets: bytes [1, n-1) zeroed in d1, then copied into d2 at +1 */
            OK(b->memset0(b, d1 + 1, n - 2));
            OK(b->d2d(b, d2 + 1, d1 + 1, n - 2));
            dget(b, back, d1, n);
            assert_int_equal(back[0], h[0]);
            assert_int_equal(back[n - 1], h[n - 1]);
            for (size_t i = 1; i + 1 < n; i++) assert_int_equal(back[i], 0);
        }
        b->free(b, d1);
        b->free(b, d2);
        free(h);
        free(back);
    }
    b->free(b, NULL);
    b->host_free(b, NULL);

    /* pinned staging round trip: upload on the copy stream, an op reads it after wait_copy,
     * compute_mark frees the slot, a second upload into the same buffer, read back both */
    enum { N = 3000 };
    const int slots[] = {0, 5, CT_MAX_COPY_SLOTS - 1};
    for (size_t k = 0; k < sizeof slots / sizeof slots[0]; k++) {
        int slot = slots[k];
        float *pin = NULL, back[N];
        OK(b->host_alloc(b, N * 4, (void **)&pin));
        assert_non_null(pin);
        for (int i = 0; i < N; i++) pin[i] = (float)(i % 7) - 3.0f;
        float *d_in = dalloc(b, N * 4), *d_out = dalloc(b, N * 4);
        OK(b->h2d_async(b, d_in, pin, N * 4, slot));
        OK(b->wait_copy(b, slot));
        OK(b->act_forward(b, CT_ACT_RELU, 0.0f, d_in, d_out, N));
        OK(b->compute_mark(b, slot));
        OK(b->copy_done(b, slot));
        for (int i = 0; i < N; i++) pin[i] = (float)(i + slot);
        OK(b->h2d_async(b, d_in, pin, N * 4, slot));
        OK(b->wait_copy(b, slot));
        OK(b->copy_done(b, slot));
        OK(b->sync(b));
        dget(b, back, d_out, sizeof back);
        for (int i = 0; i < N; i++)
            near("relu of the first upload", i, back[i], i % 7 > 3 ? i % 7 - 3 : 0, 0.0);
        dget(b, back, d_in, sizeof back);
        for (int i = 0; i < N; i++) near("second upload", i, back[i], i + slot, 0.0);
        b->free(b, d_in);
        b->free(b, d_out);
        b->host_free(b, pin);
    }
}

/* A copy slot outside [0, CT_MAX_COPY_SLOTS) is refused by every slot function. */
static void test_copy_slot_range(void **state) {
    ct_backend *b = backend_of(state);
    float h[4] = {1, 2, 3, 4};
    float *d = dalloc(b, sizeof h);
    const int bad[] = {-1, CT_MAX_COPY_SLOTS};
    for (int k = 0; k < 2; k++) {
        assert_int_equal(b->h2d_async(b, d, h, sizeof h, bad[k]), CT_ERR_INVALID);
        assert_int_equal(b->compute_mark(b, bad[k]), CT_ERR_INVALID);
        assert_int_equal(b->wait_copy(b, bad[k]), CT_ERR_INVALID);
        assert_int_equal(b->copy_done(b, bad[k]), CT_ERR_INVALID);
    }
    OK(b->sync(b));
    b->free(b, d);
}

/* ------------------------------------------------------------------------------------------ */

#define ON_EACH(f) \
    {#f " (cpu)", f, NULL, NULL, &k_ids[BK_CPU]}, {#f " (cuda)", f, NULL, NULL, &k_ids[BK_CUDA]}

int main(void) {
    tu_open_backends(&g_backends[BK_CPU], &g_backends[BK_CUDA]);
    const struct CMUnitTest tests[] = {
        ON_EACH(test_gemm),   ON_EACH(test_gemm_k0), ON_EACH(test_bias),
        ON_EACH(test_act),    ON_EACH(test_xent),    ON_EACH(test_xent_large_logits), ON_EACH(test_xent_argmax_nan),
        ON_EACH(test_gather), ON_EACH(test_gather_augment), ON_EACH(test_step_vars), ON_EACH(test_collectives_one_rank), ON_EACH(test_add_into), ON_EACH(test_sgd),     ON_EACH(test_memory),
        ON_EACH(test_copy_slot_range),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    for (int i = 0; i < BK_COUNT; i++) ct_backend_free(g_backends[i]);
    return rc;
}
