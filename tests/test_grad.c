/*
 * test_grad.c — gradient checks of the model API on the CPU backend, for every dense layer kind:
 *
 * - the library's loss (stats[0] / n) against a double-precision forward pass written here from
 *   the layer table (weights (out, in) then bias (out), layer after layer);
 * - the library's gradient (m->grads: d(mean loss)/d(params)) against central differences of
 *   that double forward (eps 1e-6: tight), and against central differences of the library's own
 *   float loss through ct_model_set_params (eps 1e-2: loose, but end to end);
 * - the softmax cross-entropy op's gradient with respect to the logits on its own;
 * - PyTorch's default initialisation: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weights and biases,
 *   reproducible from the seed.
 * Models with ReLU-like activations redraw their inputs until no pre-activation is near a kink.
 */
#include "testutil.h"

#include "backend/backend.h"
#include "core/core.h"
#include "nn/model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static ct_backend *g_cpu;

#define MAX_WIDTH 64   /* widest layer of the test models */
#define EPS_D 1e-6     /* central-difference step of the double forward */
#define EPS_F 1e-2f    /* central-difference step through the float model */
#define KINK_MARGIN 0.02 /* |pre-activation| of ReLU-like layers must stay above this */

/* Mean softmax cross-entropy of the model in double, from double parameters p (layer order,
 * each linear's weight (out, in) then bias (out)). *correct: argmax hits; *kink: the smallest
 * |pre-activation| seen by a ReLU or LeakyReLU. */
static double ref_loss(const ct_model *m, const double *p, const float *x, const uint8_t *lab,
                       int n, int *correct, double *kink) {
    double loss = 0.0;
    *correct = 0;
    *kink = INFINITY;
    int64_t in0 = ct_model_input_size(m);
    for (int s = 0; s < n; s++) {
        double a[MAX_WIDTH], t[MAX_WIDTH];
        int64_t size = in0, off = 0;
        assert_true(size <= MAX_WIDTH);
        for (int64_t i = 0; i < size; i++) a[i] = x[s * in0 + i];
        for (int li = 0; li < m->n_layers; li++) {
            const ct_layer *l = &m->layers[li];
            if (!strcmp(l->ops->kind, "flatten")) continue;
            if (!strcmp(l->ops->kind, "linear")) {
                int64_t out = l->out_c;
                assert_true(out <= MAX_WIDTH);
                assert_int_equal(l->n_params, size * out + out);
                const double *W = p + off, *bias = p + off + size * out; // (out, size), (out)
                for (int64_t o = 0; o < out; o++) {
                    double acc = bias[o];
                    for (int64_t i = 0; i < size; i++) acc += W[o * size + i] * a[i];
                    t[o] = acc;
                }
                memcpy(a, t, (size_t)out * sizeof(double));
                size = out;
                off += l->n_params;
                continue;
            }
            assert_string_equal(l->ops->kind, "activation");
            for (int64_t i = 0; i < size; i++) {
                if (l->cfg.act.kind == CT_ACT_RELU || l->cfg.act.kind == CT_ACT_LEAKY_RELU)
                    if (fabs(a[i]) < *kink) *kink = fabs(a[i]);
                a[i] = tu_act_ref(l->cfg.act.kind, l->cfg.act.param, a[i]);
            }
        }
        assert_int_equal(off, ct_model_param_count(m));
        assert_int_equal(size, ct_model_num_classes(m));
        int arg = 0;
        for (int64_t c = 1; c < size; c++)
            if (a[c] > a[arg]) arg = (int)c;
        double sum = 0.0;
        for (int64_t c = 0; c < size; c++) sum += exp(a[c] - a[arg]);
        loss += log(sum) - (a[lab[s]] - a[arg]);
        *correct += arg == lab[s];
    }
    return loss / n;
}

/* ------------------------------------------------------------------------------------------ */
/* per-model gradient checks                                                                   */

typedef struct {
    const char *spec;
    int c, h, w, n;
} grad_case;

static const grad_case k_cases[] = {
    {"flatten,linear(5),relu,linear(3)", 1, 3, 4, 4},
    {"flatten,linear(4),sigmoid,linear(3)", 1, 3, 4, 4},
    {"flatten,linear(4),tanh,linear(3)", 1, 3, 4, 4},
    {"flatten,linear(4),gelu,linear(3)", 1, 3, 4, 4},
    {"flatten,linear(5),leakyrelu(0.1),linear(3)", 1, 3, 4, 4},
    {"flatten,linear(4),tanh,linear(4),tanh,linear(3)", 1, 3, 4, 5}, /* dx through two layers */
    {"flatten,linear(6),gelu,linear(5),sigmoid,linear(4)", 2, 2, 2, 3},
    {"flatten,linear(6),relu,linear(5),leakyrelu(0.2),linear(3)", 3, 2, 1, 6},
    {"linear(3)", 5, 1, 1, 3},
    {"flatten,linear(7)", 1, 2, 3, 1},
};

static void test_model_grad(void **state) {
    const grad_case *gc = *state;
    ct_model *m = NULL;
    int max_batch = gc->n + 3; /* n < max_batch on purpose */
    OK(ct_model_create(g_cpu, gc->spec, gc->c, gc->h, gc->w, max_batch, 1234, &m));
    int64_t P = ct_model_param_count(m), in = ct_model_input_size(m);
    int n = gc->n, classes = ct_model_num_classes(m), correct;
    float *p0 = hmalloc(P * sizeof(float)), *pf = hmalloc(P * sizeof(float));
    float *ga = hmalloc(P * sizeof(float)), *ga2 = hmalloc(P * sizeof(float));
    double *pd = hmalloc(P * sizeof(double)), *gd = hmalloc(P * sizeof(double)), kink;
    float *x = hmalloc((size_t)n * in * sizeof(float));
    uint8_t *lab = hmalloc((size_t)n);
    OK(ct_model_get_params(m, p0));
    for (int64_t j = 0; j < P; j++) pd[j] = p0[j];

    /* inputs and labels; redrawn while a ReLU-like pre-activation is near its kink */
    ct_rng rng;
    ct_rng_init(&rng, 99, 0);
    int tries = 0;
    do {
        for (int64_t i = 0; i < n * in; i++) x[i] = 2.0f * ct_rng_uniform(&rng) - 1.0f;
        for (int i = 0; i < n; i++) lab[i] = (uint8_t)ct_rng_below(&rng, (uint32_t)classes);
        ref_loss(m, pd, x, lab, n, &correct, &kink);
    } while (kink < KINK_MARGIN && ++tries < 1000);
    assert_true(kink >= KINK_MARGIN);

    /* the loss: library (eval pass and training pass) against the double forward */
    double correct_lib, loss_ref = ref_loss(m, pd, x, lab, n, &correct, &kink);
    double loss_lib = tu_model_pass(m, x, lab, n, 0, NULL, &correct_lib);
    if (fabs(loss_lib - loss_ref) > 1e-5 * (1 + loss_ref))
        fail_msg("%s: mean loss %.9g, double reference %.9g", gc->spec, loss_lib, loss_ref);
    assert_int_equal((int)correct_lib, correct);
    double loss_train = tu_model_pass(m, x, lab, n, 1, ga, NULL);
    if (fabs(loss_train - loss_ref) > 1e-5 * (1 + loss_ref))
        fail_msg("%s: training-pass mean loss %.9g, reference %.9g", gc->spec, loss_train,
                 loss_ref);
    /* a second pass gives the same gradient (backward overwrites, it does not accumulate) */
    tu_model_pass(m, x, lab, n, 1, ga2, NULL);
    for (int64_t j = 0; j < P; j++)
        if (ga2[j] != ga[j])
            fail_msg("%s: grad[%lld] %.9g then %.9g", gc->spec, (long long)j, ga[j], ga2[j]);

    /* tight: central differences of the double forward */
    double gmax = 0.0;
    for (int64_t j = 0; j < P; j++) {
        int cc;
        double k2, save = pd[j];
        pd[j] = save + EPS_D;
        double lp = ref_loss(m, pd, x, lab, n, &cc, &k2);
        pd[j] = save - EPS_D;
        double lm = ref_loss(m, pd, x, lab, n, &cc, &k2);
        pd[j] = save;
        gd[j] = (lp - lm) / (2 * EPS_D);
        if (fabs(gd[j]) > gmax) gmax = fabs(gd[j]);
    }
    assert_true(gmax > 1e-3); /* not all zero */
    for (int64_t j = 0; j < P; j++)
        if (!(fabs(ga[j] - gd[j]) <= 1e-3 * fabs(gd[j]) + 1e-6 * (1 + gmax)))
            fail_msg("%s: grad[%lld] = %.9g, finite differences (double) %.9g", gc->spec,
                     (long long)j, ga[j], gd[j]);
    /* every layer with parameters gets a gradient (the dx chain reaches the first one) */
    int64_t off = 0;
    for (int li = 0; li < m->n_layers; li++) {
        double lmax = 0.0;
        for (int64_t j = off; j < off + m->layers[li].n_params; j++)
            if (fabs(ga[j]) > lmax) lmax = fabs(ga[j]);
        if (m->layers[li].n_params && lmax < 1e-5)
            fail_msg("%s: layer %d (%s) has an all-zero gradient", gc->spec, li,
                     m->layers[li].name);
        off += m->layers[li].n_params;
    }

    /* end to end: central differences of the library's own float loss */
    double num2 = 0.0, den2 = 0.0;
    memcpy(pf, p0, P * sizeof(float));
    for (int64_t j = 0; j < P; j++) {
        float hi = p0[j] + EPS_F, lo = p0[j] - EPS_F;
        pf[j] = hi;
        OK(ct_model_set_params(m, pf));
        double lp = tu_model_pass(m, x, lab, n, 0, NULL, NULL);
        pf[j] = lo;
        OK(ct_model_set_params(m, pf));
        double lm = tu_model_pass(m, x, lab, n, 0, NULL, NULL);
        pf[j] = p0[j];
        double gf = (lp - lm) / ((double)hi - (double)lo);
        if (!(fabs(gf - ga[j]) <= 1e-2 * fabs(ga[j]) + 2e-4))
            fail_msg("%s: grad[%lld] = %.9g, finite differences (float, eps %g) %.9g", gc->spec,
                     (long long)j, ga[j], (double)EPS_F, gf);
        num2 += (gf - ga[j]) * (gf - ga[j]);
        den2 += (double)ga[j] * ga[j];
    }
    OK(ct_model_set_params(m, p0));
    if (sqrt(num2) > 1e-2 * sqrt(den2))
        fail_msg("%s: relative gradient error %.3g", gc->spec, sqrt(num2 / den2));

    ct_model_free(m);
    free(p0); free(pf); free(ga); free(ga2); free(pd); free(gd); free(x); free(lab);
}

/* ------------------------------------------------------------------------------------------ */
/* the loss on its own: xent's dlogits against differences of its loss                         */

static void test_xent_grad(void **state) {
    ct_backend *b = g_cpu;
    enum { N = 3, C = 5 };
    float z[N * C], g[N * C], *d_z = NULL, *d_g = NULL;
    const uint8_t lab[N] = {0, 4, 2};
    uint8_t *d_lab = NULL;
    double *d_st = NULL, st[2];
    ct_rng rng;
    ct_rng_init(&rng, 5, 0);
    for (int i = 0; i < N * C; i++) z[i] = 6.0f * ct_rng_uniform(&rng) - 3.0f;
    OK(b->alloc(b, sizeof z, (void **)&d_z));
    OK(b->alloc(b, sizeof g, (void **)&d_g));
    OK(b->alloc(b, sizeof lab, (void **)&d_lab));
    OK(b->alloc(b, sizeof st, (void **)&d_st));
    OK(b->h2d(b, d_lab, lab, sizeof lab));
    const float gs = 1.0f / N; /* gradient of the mean loss */
    /* none, PyTorch's label smoothing, each with Keras' class weights, and MixUp's targets
     * (lam 0.3 on the label, 0.7 on lab2's) with smoothing */
    const float smoothing[] = {0.0f, 0.2f, 0.0f, 0.2f, 0.2f};
    const float weights[C] = {0.5f, 2.0f, 1.5f, 1.0f, 3.0f};
    const uint8_t lab2[N] = {2, 0, 2};
    const ct_step_vars mix = {.mix_kind = CT_MIX_MIXUP, .mix_lam = 0.3f};
    float *d_w = NULL;
    uint8_t *d_lab2 = NULL;
    ct_step_vars *d_mix = NULL;
    OK(b->alloc(b, sizeof weights, (void **)&d_w));
    OK(b->h2d(b, d_w, weights, sizeof weights));
    OK(b->alloc(b, sizeof lab2, (void **)&d_lab2));
    OK(b->h2d(b, d_lab2, lab2, sizeof lab2));
    OK(b->alloc(b, sizeof mix, (void **)&d_mix));
    OK(b->h2d(b, d_mix, &mix, sizeof mix));
    for (int k = 0; k < 5; k++) {
        const float sm = smoothing[k];
        const float *w = k == 2 || k == 3 ? weights : NULL, *dw = w ? d_w : NULL;
        const int mixed = k == 4;
        OK(b->h2d(b, d_z, z, sizeof z));
        OK(b->memset0(b, d_st, sizeof st));
        OK(b->xent(b, d_z, d_lab, N, C, gs, sm, dw, mixed ? d_lab2 : NULL, mixed ? d_mix : NULL,
                   d_g, d_st));
        OK(b->d2h(b, g, d_g, sizeof g));
        for (int j = 0; j < N * C; j++) {
            /* in double: the mean loss as a function of logit j */
            double f[2];
            for (int side = 0; side < 2; side++) {
                double h = side ? -EPS_D : EPS_D, loss = 0.0;
                for (int r = 0; r < N; r++) {
                    double zmax = -INFINITY, sum = 0.0, v[C];
                    for (int c = 0; c < C; c++) {
                        v[c] = z[r * C + c] + (r * C + c == j ? h : 0.0);
                        if (v[c] > zmax) zmax = v[c];
                    }
                    for (int c = 0; c < C; c++) sum += exp(v[c] - zmax);
                    double lse = log(sum) + zmax; /* (1 - s)(lse - v[y]) + s/C sum (lse - v[c]) */
                    double row = mixed ? (1.0 - sm) * (0.3 * (lse - v[lab[r]]) +
                                                       0.7 * (lse - v[lab2[r]]))
                                       : (1.0 - sm) * (lse - v[lab[r]]);
                    for (int c = 0; c < C; c++) row += sm / C * (lse - v[c]);
                    loss += (w ? w[lab[r]] : 1.0) * row; /* times the label's class weight */
                }
                f[side] = loss / N;
            }
            double gdbl = (f[0] - f[1]) / (2 * EPS_D);
            if (!(fabs(g[j] - gdbl) <= 1e-5 * fabs(gdbl) + 1e-7))
                fail_msg("xent (smoothing %g%s%s) dlogits[%d] = %.9g, finite differences (double) "
                         "%.9g", (double)sm, w ? ", class weights" : "", mixed ? ", mixed" : "", j,
                         g[j], gdbl);
            /* through the op itself: its float loss, summed in double */
            float zs = z[j], hi = zs + EPS_F, lo = zs - EPS_F;
            double lf[2];
            for (int side = 0; side < 2; side++) {
                z[j] = side ? lo : hi;
                OK(b->h2d(b, d_z, z, sizeof z));
                OK(b->memset0(b, d_st, sizeof st));
                OK(b->xent(b, d_z, d_lab, N, C, gs, sm, dw, mixed ? d_lab2 : NULL,
                           mixed ? d_mix : NULL, NULL, d_st));
                OK(b->d2h(b, st, d_st, sizeof st));
                lf[side] = st[0] / N;
            }
            z[j] = zs;
            double gf = (lf[0] - lf[1]) / ((double)hi - (double)lo);
            if (!(fabs(g[j] - gf) <= 1e-2 * fabs(g[j]) + 1e-4))
                fail_msg("xent (smoothing %g%s) dlogits[%d] = %.9g, finite differences of the "
                         "op %.9g", (double)sm, w ? ", class weights" : "", j, g[j], gf);
        }
    }
    b->free(b, d_z); b->free(b, d_g); b->free(b, d_lab); b->free(b, d_st); b->free(b, d_w);
    b->free(b, d_lab2); b->free(b, d_mix);
}

/* ------------------------------------------------------------------------------------------ */
/* PyTorch's default initialisation                                                            */

/* v[0..n) look like U(-bound, bound): inside it, mean ~0, variance ~bound^2/3, extremes near
 * the bound, and (n >= 1000) a flat 10-bin histogram. */
static void check_uniform(const char *what, const float *v, int64_t n, double bound) {
    double sum = 0.0, sq = 0.0, vmin = INFINITY, vmax = -INFINITY;
    int64_t bins[10] = {0};
    for (int64_t i = 0; i < n; i++) {
        if (!(fabs(v[i]) <= bound))
            fail_msg("%s[%lld] = %.9g outside +-%.9g", what, (long long)i, v[i], bound);
        sum += v[i];
        sq += (double)v[i] * v[i];
        if (v[i] < vmin) vmin = v[i];
        if (v[i] > vmax) vmax = v[i];
        int k = (int)((v[i] + bound) / (2 * bound) * 10);
        bins[k > 9 ? 9 : k]++;
    }
    double mean = sum / n, var = sq / n, want = bound * bound / 3;
    if (fabs(mean) > 6 * sqrt(want / n)) fail_msg("%s: mean %.3g (bound %.3g)", what, mean, bound);
    if (n >= 100 && fabs(var / want - 1) > 6 * sqrt(0.8 / n))
        fail_msg("%s: variance %.4g, expected %.4g", what, var, want);
    /* extremes: P(max < bound*(1 - x)) = (1 - x/2)^n */
    double edge = n >= 100 ? 1 - 30.0 / n : 0.3;
    if (vmax < edge * bound || vmin > -edge * bound)
        fail_msg("%s: range [%.4g, %.4g], bound %.4g", what, vmin, vmax, bound);
    if (n >= 1000)
        for (int k = 0; k < 10; k++)
            if (fabs(bins[k] - n / 10.0) > 6 * sqrt(n / 10.0))
                fail_msg("%s: histogram bin %d holds %lld of %lld", what, k, (long long)bins[k],
                         (long long)n);
}

static void test_init(void **state) {
    const char *spec = "flatten,linear(100),relu,linear(10)";
    ct_model *m1 = NULL, *m2 = NULL, *m3 = NULL;
    OK(ct_model_create(g_cpu, spec, 1, 28, 28, 1, 7, &m1));
    OK(ct_model_create(g_cpu, spec, 1, 28, 28, 1, 7, &m2));
    OK(ct_model_create(g_cpu, spec, 1, 28, 28, 1, 8, &m3));
    int64_t P = ct_model_param_count(m1);
    assert_int_equal(P, 784 * 100 + 100 + 100 * 10 + 10);
    float *p1 = hmalloc(P * 4), *p2 = hmalloc(P * 4), *p3 = hmalloc(P * 4);
    OK(ct_model_get_params(m1, p1));
    OK(ct_model_get_params(m2, p2));
    OK(ct_model_get_params(m3, p3));
    assert_memory_equal(p1, p2, P * 4); /* same seed: same parameters */
    int64_t same = 0;
    for (int64_t j = 0; j < P; j++) same += p1[j] == p3[j];
    if (same > P / 100)
        fail_msg("seeds 7 and 8 share %lld of %lld parameters", (long long)same, (long long)P);
    check_uniform("linear1.weight", p1, 78400, 1 / sqrt(784.0));
    check_uniform("linear1.bias", p1 + 78400, 100, 1 / sqrt(784.0));
    check_uniform("linear2.weight", p1 + 78500, 1000, 1 / sqrt(100.0));
    check_uniform("linear2.bias", p1 + 79500, 10, 1 / sqrt(100.0));
    ct_model_free(m1);
    ct_model_free(m2);
    ct_model_free(m3);
    free(p1); free(p2); free(p3);
}

/* ------------------------------------------------------------------------------------------ */

int main(void) {
    if (ct_backend_create("cpu", 2, &g_cpu) != CT_OK) {
        fprintf(stderr, "cannot open the CPU backend: %s\n", ct_last_error());
        return 1;
    }
    enum { N_CASES = sizeof k_cases / sizeof k_cases[0] };
    struct CMUnitTest tests[N_CASES + 2];
    for (int i = 0; i < N_CASES; i++)
        tests[i] = (struct CMUnitTest){k_cases[i].spec, test_model_grad, NULL, NULL,
                                       (void *)&k_cases[i]};
    tests[N_CASES] = (struct CMUnitTest)cmocka_unit_test(test_xent_grad);
    tests[N_CASES + 1] = (struct CMUnitTest)cmocka_unit_test(test_init);
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    ct_backend_free(g_cpu);
    return rc;
}
