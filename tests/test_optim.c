/*
 * test_optim.c — optimizers, learning-rate schedules and gradient clipping:
 *
 * - SGD (momentum, Nesterov, weight decay), Adam and AdamW through the optimizer module over
 *   several steps against a double-precision re-implementation of torch.optim's algorithms
 *   written here, plus a few steps against values PyTorch 1.13 printed (see k_torch_*);
 * - PyTorch's defaults (betas 0.9/0.999, eps 1e-8, AdamW weight decay 0.01), the state size
 *   for checkpoints (0, n, 2n) and its round trip, and refusing SGD state for Adam;
 * - ct_schedule_lr against the formulas of torch.optim.lr_scheduler (StepLR, CosineAnnealingLR,
 *   OneCycleLR, LinearLR chained) and against sequences PyTorch printed; ReduceLROnPlateau's
 *   cuts (ct_plateau_cuts) against PyTorch, and inside ct_fit, resumed or not;
 * - NAdam's step-table factors (its running product of mu) against those computed afresh;
 * - inside ct_fit: the lr of each step follows the schedule, and clip_norm rescales the summed
 *   gradient to the global norm asked (2 CPU shards, so the norm's parts are combined).
 *
 * PyTorch values came from /usr/bin/python3 with torch 1.13, e.g. for one-cycle:
 *   OneCycleLR(SGD([p], lr=0.1), max_lr=0.1, total_steps=20, cycle_momentum=False)
 * reading param_groups[0]['lr'] before each step.
 */
#include "testutil.h"

#include "backend/backend.h"
#include "core/core.h"
#include "nn/model.h"
#include "optim/optim.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static ct_backend *g_cpu;

static void near(const char *what, int i, double got, double ref, double tol) {
    if (!(fabs(got - ref) <= tol))
        fail_msg("%s [%d]: got %.9g, expected %.9g (|diff| %.3g > %.3g)", what, i, got, ref,
                 fabs(got - ref), tol);
}

static ct_train_config base_config(void) {
    ct_train_config c;
    ct_train_config_default(&c);
    return c;
}

/* ------------------------------------------------------------------------------------------ */
/* optimizers against torch.optim in double                                                    */

/* One step of torch.optim.{SGD, Adam, AdamW} at step t (1-based) in double. */
static void ref_step(const ct_optimizer *o, double *w, const double *g0, double *m, double *v,
                     int n, double lr, int t) {
    for (int i = 0; i < n; i++) {
        double g = g0[i];
        if (o->kind == CT_SGD) {
            g += o->weight_decay * w[i];
            if (o->momentum != 0.0f) {
                m[i] = t == 1 ? g : o->momentum * m[i] + g;
                g = o->nesterov ? g + o->momentum * m[i] : m[i];
            }
            w[i] -= lr * g;
            continue;
        }
        if (o->kind == CT_ADAMW) w[i] *= 1 - lr * o->weight_decay;
        else g += o->weight_decay * w[i];
        m[i] = o->beta1 * m[i] + (1 - o->beta1) * g;
        v[i] = o->beta2 * v[i] + (1 - o->beta2) * g * g;
        double bc1 = 1 - pow(o->beta1, t), bc2 = 1 - pow(o->beta2, t);
        w[i] -= lr / bc1 * m[i] / (sqrt(v[i]) / sqrt(bc2) + o->eps);
    }
}

static void test_optimizers(void **state) {
    ct_backend *b = g_cpu;
    struct { ct_optimizer_kind kind; float momentum, wd; int nesterov; float b1, b2, eps, lr; }
    cases[] = {
        {CT_SGD, 0, 0, 0, 0, 0, 0, 0.1f},          {CT_SGD, 0.9f, 0, 0, 0, 0, 0, 0.05f},
        {CT_SGD, 0.9f, 0.01f, 1, 0, 0, 0, 0.05f},  {CT_SGD, 0.5f, 0.1f, 0, 0, 0, 0, 0.2f},
        {CT_ADAM, 0, 0, 0, 0, 0, 0, 1e-3f},        {CT_ADAM, 0, 0.05f, 0, 0.8f, 0.95f, 1e-6f, 0.01f},
        {CT_ADAMW, 0, 0, 0, 0, 0, 0, 1e-3f},       {CT_ADAMW, 0, 0.2f, 0, 0.5f, 0.9f, 1e-4f, 0.05f},
    };
    enum { N = 257, STEPS = 6 };
    ct_rng rng;
    ct_rng_init(&rng, 31, 0);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        ct_train_config cfg = base_config();
        cfg.optimizer = cases[c].kind;
        cfg.momentum = cases[c].momentum;
        cfg.weight_decay = cases[c].wd;
        cfg.nesterov = cases[c].nesterov;
        cfg.beta1 = cases[c].b1;
        cfg.beta2 = cases[c].b2;
        cfg.eps = cases[c].eps;
        ct_optimizer o;
        memset(&o, 0, sizeof o);
        OK(ct_optimizer_init_config(&o, b, N, &cfg, 1));
        if (cases[c].kind == CT_ADAMW && cases[c].wd == 0.0f) /* as given: no decay */
            near("AdamW weight decay 0", 0, o.weight_decay, 0.0f, 0.0);
        if (cases[c].kind != CT_SGD && cases[c].b1 == 0.0f) {
            near("default beta1", 0, o.beta1, 0.9f, 0.0);
            near("default beta2", 0, o.beta2, 0.999f, 0.0);
            near("default eps", 0, o.eps, 1e-8f, 0.0);
        }
        int64_t want_state = cases[c].kind != CT_SGD ? 2 * N : cases[c].momentum ? N : 0;
        assert_int_equal(ct_optimizer_state_count(&o), want_state);
        float w[N], g[N];
        double wr[N], gr[N], mr[N] = {0}, vr[N] = {0};
        for (int i = 0; i < N; i++) w[i] = 2 * ct_rng_uniform(&rng) - 1, wr[i] = w[i];
        for (int t = 1; t <= STEPS; t++) {
            for (int i = 0; i < N; i++) g[i] = 2 * ct_rng_uniform(&rng) - 1, gr[i] = g[i];
            float lr = cases[c].lr * (t % 2 ? 1.0f : 0.5f); /* the lr may change per step */
            if (t == 3) { /* two slices, as CPU threads do, then one count */
                OK(ct_optimizer_step_range(&o, w, g, lr, NULL, 0, 100));
                OK(ct_optimizer_step_range(&o, w, g, lr, NULL, 100, N));
                ct_optimizer_count_step(&o);
            } else if (t % 2 == 0) { /* the step's scalars from a step table row (ct_fit's way;
                                      * the CPU's device memory is this host memory) */
                ct_step_vars sv;
                ct_optimizer_step_vars(&o, 0, lr, cases[c].kind == CT_SGD ? o.momentum : o.beta1,
                                       0, &sv);
                assert_int_equal(sv.step, t - 1);
                assert_int_equal(sv.first, t == 1);
                OK(ct_optimizer_step_range(&o, w, g, 1e3f, &sv, 0, N)); /* lr from sv, not 1e3 */
                ct_optimizer_count_step(&o);
            } else {
                OK(ct_optimizer_step(&o, w, g, lr));
            }
            ref_step(&o, wr, gr, mr, vr, N, lr, t);
            for (int i = 0; i < N; i++) near("optimizer step", i, w[i], wr[i], 2e-6 * (1 + fabs(wr[i])));
        }
        assert_int_equal(o.steps, STEPS);
        /* state round trip */
        if (want_state) {
            float *st = calloc(want_state, 4), *st2 = calloc(want_state, 4);
            OK(ct_optimizer_get_state(&o, st));
            for (int i = 0; i < N; i++) near("state m", i, st[i], mr[i], 1e-5 * (1 + fabs(mr[i])));
            if (want_state == 2 * N)
                for (int i = 0; i < N; i++) near("state v", i, st[N + i], vr[i], 1e-5 * (1 + vr[i]));
            ct_optimizer o2;
            memset(&o2, 0, sizeof o2);
            OK(ct_optimizer_set_state(&o2, b, N, st, want_state, STEPS));
            OK(ct_optimizer_init_config(&o2, b, N, &cfg, 0)); /* resumed: state kept */
            OK(ct_optimizer_get_state(&o2, st2));
            assert_memory_equal(st, st2, want_state * 4);
            assert_int_equal(o2.steps, STEPS);
            ct_optimizer_release(&o2);
            free(st);
            free(st2);
        }
        ct_optimizer_release(&o);
    }
}

/* Three steps PyTorch 1.13 took on w = (0.5, -1, 2) with lr 0.01, weight_decay 0.1. */
static void test_optimizers_torch(void **state) {
    static const float gs[3][3] = {{0.1f, -0.2f, 0.3f}, {-0.5f, 0.0f, 1.5f}, {0.25f, 0.125f, -2.0f}};
    static const double k_torch_adam[3][3] = {
        {0.49000000953674316, -0.9900000095367432, 1.9900000095367432},
        {0.4949477016925812, -0.9813042283058167, 1.9809702634811401},
        {0.4947759807109833, -0.9751484990119934, 1.9806358814239502}};
    static const double k_torch_adamw[3][3] = {
        {0.4895000159740448, -0.9890000224113464, 1.9880000352859497},
        {0.49499404430389404, -0.9813104867935181, 1.977401614189148},
        {0.4958382248878479, -0.9793263077735901, 1.976457118988037}};
    for (int k = 0; k < 2; k++) {
        ct_train_config cfg = base_config();
        cfg.optimizer = k ? CT_ADAMW : CT_ADAM;
        cfg.weight_decay = 0.1f;
        ct_optimizer o;
        memset(&o, 0, sizeof o);
        OK(ct_optimizer_init_config(&o, g_cpu, 3, &cfg, 1));
        float w[3] = {0.5f, -1.0f, 2.0f}, g[3];
        for (int t = 0; t < 3; t++) {
            memcpy(g, gs[t], sizeof g);
            OK(ct_optimizer_step(&o, w, g, 0.01f));
            for (int i = 0; i < 3; i++)
                near(k ? "AdamW vs PyTorch" : "Adam vs PyTorch", t * 3 + i, w[i],
                     k ? k_torch_adamw[t][i] : k_torch_adam[t][i], 2e-7);
        }
        ct_optimizer_release(&o);
    }
}

/* Resuming Adam from SGD's momentum buffer is refused; the reverse too. */
static void test_optimizer_mismatch(void **state) {
    enum { N = 10 };
    float st[2 * N] = {0};
    ct_train_config cfg = base_config();
    cfg.optimizer = CT_ADAM;
    ct_optimizer o;
    memset(&o, 0, sizeof o);
    OK(ct_optimizer_set_state(&o, g_cpu, N, st, N, 5));
    assert_int_equal(ct_optimizer_init_config(&o, g_cpu, N, &cfg, 0), CT_ERR_INVALID);
    OK(ct_optimizer_set_state(&o, g_cpu, N, st, 2 * N, 5));
    cfg.optimizer = CT_SGD;
    cfg.momentum = 0.9f;
    assert_int_equal(ct_optimizer_init_config(&o, g_cpu, N, &cfg, 0), CT_ERR_INVALID);
    assert_int_equal(ct_optimizer_set_state(&o, g_cpu, N, st, 3, 5), CT_ERR_INVALID);
    cfg.momentum = 0.5f; /* momentum with Adam is an error */
    cfg.optimizer = CT_ADAM;
    assert_int_equal(ct_optimizer_init_config(&o, g_cpu, N, &cfg, 1), CT_ERR_INVALID);
    /* RMSprop's three buffers are not Adam's two, nor the reverse */
    float st3[3 * N] = {0};
    cfg.momentum = 0.0f;
    OK(ct_optimizer_set_state(&o, g_cpu, N, st3, 3 * N, 5));
    assert_int_equal(ct_optimizer_init_config(&o, g_cpu, N, &cfg, 0), CT_ERR_INVALID);
    OK(ct_optimizer_set_state(&o, g_cpu, N, st, 2 * N, 5));
    cfg.optimizer = CT_RMSPROP;
    assert_int_equal(ct_optimizer_init_config(&o, g_cpu, N, &cfg, 0), CT_ERR_INVALID);
    OK(ct_optimizer_set_state(&o, g_cpu, N, st3, 3 * N, 5));
    OK(ct_optimizer_init_config(&o, g_cpu, N, &cfg, 0));
    assert_int_equal(ct_optimizer_state_count(&o), 3 * N);
    /* AMSGrad's three (Adam's two and max_exp_avg_sq): Adam's two are not enough, and plain
     * Adam takes no third (the size cannot tell RMSprop's three from AMSGrad's: the train state
     * tells them apart by its slot names) */
    cfg.optimizer = CT_ADAM;
    cfg.amsgrad = 1;
    OK(ct_optimizer_set_state(&o, g_cpu, N, st, 2 * N, 5));
    assert_int_equal(ct_optimizer_init_config(&o, g_cpu, N, &cfg, 0), CT_ERR_INVALID);
    OK(ct_optimizer_set_state(&o, g_cpu, N, st3, 3 * N, 5));
    OK(ct_optimizer_init_config(&o, g_cpu, N, &cfg, 0));
    assert_int_equal(ct_optimizer_state_count(&o), 3 * N);
    cfg.amsgrad = 0;
    assert_int_equal(ct_optimizer_init_config(&o, g_cpu, N, &cfg, 0), CT_ERR_INVALID);
    cfg.optimizer = CT_NADAM; /* (AMSGrad is Adam's and AdamW's) */
    cfg.amsgrad = 1;
    assert_int_equal(ct_train_config_check(&cfg), CT_ERR_INVALID);
    ct_optimizer_release(&o);
}

/* NAdam's step table: the running product in ct_optimizer_step_vars gives, bit for bit, the
 * factors ct_nadam_product computes from nothing, in order, after a jump back (a second fit)
 * and far out (a resume at a large step count: the product ends after a few thousand factors,
 * where it once took one a step: 1e11 of them). */
/* RAdam, Adamax and Adagrad: the settings each takes and refuses; Adagrad's eps default
 * (1e-10, PyTorch's) and its initial accumulator in a fresh state, not in a kept one. */
static void test_more_optimizers(void **state) {
    (void)state;
    ct_backend *b = g_cpu;
    ct_train_config cfg = base_config();
    cfg.optimizer = CT_RADAM;
    cfg.beta1 = 0.8f;
    OK(ct_train_config_check(&cfg));
    cfg.lr_decay = 0.1f; /* (Adagrad's) */
    assert_int_equal(ct_train_config_check(&cfg), CT_ERR_INVALID);
    cfg.lr_decay = 0.0f;
    cfg.momentum = 0.9f; /* (SGD's) */
    assert_int_equal(ct_train_config_check(&cfg), CT_ERR_INVALID);
    cfg = base_config();
    cfg.optimizer = CT_ADAMAX;
    cfg.beta2 = 1.0f;
    assert_int_equal(ct_train_config_check(&cfg), CT_ERR_INVALID);
    cfg = base_config();
    cfg.optimizer = CT_ADAGRAD;
    cfg.lr_decay = 0.1f;
    cfg.initial_accumulator = 0.25f;
    OK(ct_train_config_check(&cfg));
    cfg.beta1 = 0.9f;
    assert_int_equal(ct_train_config_check(&cfg), CT_ERR_INVALID);
    cfg.beta1 = 0.0f;
    cfg.initial_accumulator = -1.0f;
    assert_int_equal(ct_train_config_check(&cfg), CT_ERR_INVALID);
    cfg.initial_accumulator = 0.25f;
    cfg.optimizer = (ct_optimizer_kind)(CT_ADAGRAD + 1);
    assert_int_equal(ct_train_config_check(&cfg), CT_ERR_INVALID);
    cfg.optimizer = CT_ADAGRAD;
    ct_optimizer o;
    memset(&o, 0, sizeof o);
    enum { N = 5 };
    OK(ct_optimizer_init_config(&o, b, N, &cfg, 1));
    assert_true(o.eps == CT_ADAGRAD_EPS && o.lr_decay == 0.1f);
    float v[N], host[2 * N];
    assert_int_equal(ct_optimizer_state_count(&o), 2 * N);
    OK(ct_optimizer_get_state(&o, host));
    for (int i = 0; i < N; i++) assert_true(host[N + i] == 0.25f && host[i] == 0.0f);
    /* a kept state (a resume) keeps its sum */
    for (int i = 0; i < N; i++) host[N + i] = (float)i;
    OK(ct_optimizer_set_state(&o, b, N, host, 2 * N, 3));
    OK(ct_optimizer_init_config(&o, b, N, &cfg, 0));
    OK(ct_optimizer_get_state(&o, host));
    for (int i = 0; i < N; i++) v[i] = host[N + i];
    for (int i = 0; i < N; i++) assert_true(v[i] == (float)i);
    ct_optimizer_release(&o);
}

/* Weight decay by parameter range (torchvision's param groups): each segment's update as a
 * whole-buffer update of that decay would make it, on the CPU threads' slices too; segments
 * out of order or short of the parameters refused. */
static void test_decay_segments(void **state) {
    (void)state;
    enum { N = 7 };
    const ct_optimizer_kind kinds[] = {CT_SGD, CT_ADAMW, CT_ADAGRAD};
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        ct_train_config cfg = base_config();
        cfg.optimizer = kinds[k];
        cfg.momentum = kinds[k] == CT_SGD ? 0.9f : 0.0f;
        cfg.weight_decay = 0.5f;
        const ct_decay_segment segs[] = {{2, 0.5f}, {5, 0.0f}, {N, 0.25f}};
        float w[N], g[N], ref[N];
        for (int i = 0; i < N; i++) w[i] = 0.3f * (float)(i + 1), g[i] = 0.1f * (float)(3 - i);
        memcpy(ref, w, sizeof w);
        /* the reference: each segment's values updated by an optimizer of that one decay */
        for (int s = 0, a = 0; s < 3; a = (int)segs[s++].end) {
            ct_optimizer r;
            memset(&r, 0, sizeof r);
            cfg.weight_decay = segs[s].wd;
            OK(ct_optimizer_init_config(&r, g_cpu, N, &cfg, 1));
            float rw[N];
            memcpy(rw, w, sizeof w);
            for (int t = 0; t < 3; t++) OK(ct_optimizer_step(&r, rw, g, 0.1f));
            for (int i = a; i < segs[s].end; i++) ref[i] = rw[i];
            ct_optimizer_release(&r);
        }
        cfg.weight_decay = 0.5f;
        ct_optimizer o;
        memset(&o, 0, sizeof o);
        OK(ct_optimizer_init_config(&o, g_cpu, N, &cfg, 1));
        OK(ct_optimizer_set_decay(&o, segs, 3));
        for (int t = 0; t < 3; t++) { /* (in two slices, as two threads would: 0..4, 4..7) */
            OK(ct_optimizer_step_range(&o, w, g, 0.1f, NULL, 0, 4));
            OK(ct_optimizer_step_range(&o, w, g, 0.1f, NULL, 4, N));
            ct_optimizer_count_step(&o);
        }
        for (int i = 0; i < N; i++)
            if (w[i] != ref[i])
                fail_msg("optimizer %d, parameter %d: %.9g with segments, %.9g alone", kinds[k], i,
                         w[i], ref[i]);
        const ct_decay_segment disorder[] = {{5, 0.0f}, {2, 0.5f}}, shortfall[] = {{6, 0.0f}};
        assert_int_equal(ct_optimizer_set_decay(&o, disorder, 2), CT_ERR_INVALID);
        assert_int_equal(ct_optimizer_set_decay(&o, shortfall, 1), CT_ERR_INVALID);
        ct_optimizer_release(&o);
    }
}

static void test_nadam_step_vars(void **state) {
    enum { N = 4 };
    const struct { float b1, psi; } cases[] = {{0.9f, 0.004f}, {0.999f, 0.5f}, {0.5f, 1e-6f}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        ct_train_config cfg = base_config();
        cfg.optimizer = CT_NADAM;
        cfg.beta1 = cases[c].b1;
        cfg.momentum_decay = cases[c].psi;
        ct_optimizer o;
        memset(&o, 0, sizeof o);
        OK(ct_optimizer_init_config(&o, g_cpu, N, &cfg, 1));
        const int64_t starts[] = {0, 3, 0, 5000, 100000000000LL, 7};
        for (size_t s = 0; s < sizeof starts / sizeof starts[0]; s++) {
            o.steps = starts[s];
            for (int64_t a = 0; a < 60; a++) {
                ct_step_vars sv;
                ct_optimizer_step_vars(&o, a, 0.002f, cases[c].b1, 0, &sv);
                float g, m, b;
                int64_t t = starts[s] + a + 1;
                ct_nadam_factors(0.002f, cases[c].b1, 0.999f, cases[c].psi, t,
                                 ct_nadam_product(cases[c].b1, cases[c].psi, t), &g, &m, &b);
                if (sv.nadam_grad_size != g || sv.adam_step_size != m || sv.adam_bc2_sqrt != b)
                    fail_msg("NAdam b1 %g psi %g step %lld: table %.9g %.9g %.9g, from nothing "
                             "%.9g %.9g %.9g", (double)cases[c].b1, (double)cases[c].psi,
                             (long long)t, (double)sv.nadam_grad_size, (double)sv.adam_step_size,
                             (double)sv.adam_bc2_sqrt, (double)g, (double)m, (double)b);
                assert_true(isfinite(g) && isfinite(m) && g > 0.0f && m > 0.0f);
            }
        }
        ct_optimizer_release(&o);
    }
}

/* ExponentialLR: lr * gamma^epoch, the same at every step of an epoch (warm-up multiplies). */
static void test_exponential_schedule(void **state) {
    ct_train_config c = base_config();
    c.num_phases = 1;
    c.phases[0] = (ct_phase){4, 0.5f};
    c.schedule = CT_SCHED_EXPONENTIAL;
    c.gamma = 0.8f;
    for (int e = 0; e < 4; e++)
        for (int s = 0; s < 3; s++)
            near("ExponentialLR", e * 3 + s, ct_schedule_lr(&c, e, s, 3),
                 0.5 * pow((double)0.8f, e), 1e-7);
    c.warmup_epochs = 1; /* LinearLR from 1/3 over epoch 0's 3 steps, then 1 */
    near("ExponentialLR with warm-up", 0, ct_schedule_lr(&c, 0, 0, 3), 0.5 / 3.0, 1e-7);
    near("ExponentialLR with warm-up", 1, ct_schedule_lr(&c, 1, 0, 3), 0.5 * 0.8, 1e-7);
}

/* CosineAnnealingWarmRestarts(T_0=2, T_mult=3, eta_min=0.01) from lr 0.5, stepped 4 times an
 * epoch at the fractional epoch (scheduler.step(k / 4)): PyTorch 1.13's lrs, cycles of 2 and 6
 * epochs, the restart at epoch 8 included. T_mult 1 repeats the first cycle. */
static void test_cosine_restarts_schedule(void **state) {
    static const double torch_lr[33] = {
        0.5, 0.48135048546526527, 0.4282411613907041, 0.348757440929447, 0.255,
        0.16124255907055302, 0.08175883860929586, 0.02864951453473475, 0.5, 0.49790399103658356,
        0.4916518274408217, 0.48135048546526527, 0.4671762239271875, 0.4493715683713526,
        0.4282411613907041, 0.40414655010713657, 0.3775, 0.348757440929447, 0.3184106660501176,
        0.2869789170939127, 0.255, 0.22302108290608738, 0.19158933394988245,
        0.16124255907055307, 0.13250000000000006, 0.10585344989286344, 0.08175883860929586,
        0.060628431628647415, 0.04282377607281252, 0.02864951453473475, 0.01834817255917829,
        0.012096008963416456, 0.5};
    ct_train_config c = base_config();
    c.num_phases = 1;
    c.phases[0] = (ct_phase){9, 0.5f};
    c.schedule = CT_SCHED_COSINE_RESTARTS;
    c.restart_epochs = 2;
    c.restart_mult = 3;
    c.eta_min = 0.01f;
    for (int k = 0; k < 33; k++)
        near("CosineAnnealingWarmRestarts", k, ct_schedule_lr(&c, k / 4, k % 4, 4), torch_lr[k],
             1e-7);
    c.restart_mult = 0; /* (0: 1) cycles of 2 epochs */
    for (int k = 0; k < 24; k++)
        near("CosineAnnealingWarmRestarts T_mult 1", k, ct_schedule_lr(&c, k / 4, k % 4, 4),
             torch_lr[k % 8], 1e-7);
    c.restart_epochs = 0; /* T_0 is required */
    assert_int_equal(ct_train_config_check(&c), CT_ERR_INVALID);
    c.restart_epochs = 2, c.restart_mult = -1;
    assert_int_equal(ct_train_config_check(&c), CT_ERR_INVALID);
}

/* ------------------------------------------------------------------------------------------ */
/* schedules                                                                                   */

static ct_train_config sched_config(ct_schedule_kind kind, int epochs, float lr) {
    ct_train_config c = base_config();
    c.num_phases = 1;
    c.phases[0] = (ct_phase){epochs, lr};
    c.schedule = kind;
    return c;
}

static void test_schedules_torch(void **state) {
    /* one step per epoch so that step == epoch where PyTorch steps per epoch */
    static const double onecycle[20] = {
        0.0040000000000000036, 0.013167184270002533, 0.037167184270002526, 0.06683281572999747,
        0.09083281572999748,   0.1,                  0.09874640062350874,  0.09504846320134738,
        0.089091617757105,     0.0811745653949763,   0.07169430017913009,  0.06112620219362893,
        0.0500002,             0.03887419780637107,  0.028306099820869922, 0.0188258346050237,
        0.010908782242895003,  0.004951936798652629, 0.0012539993764912555, 4e-07};
    static const double cosine[10] = {
        0.1, 0.09757729755661011, 0.0905463412215599, 0.07959536998847742, 0.0657963412215599,
        0.0505, 0.03520365877844011, 0.02140463001152259, 0.010453658778440109,
        0.0034227024433899004};
    static const double step[7] = {0.1, 0.1, 0.05, 0.05, 0.025, 0.025, 0.0125};
    static const double warm_cos[10] = {
        0.03333333333333333, 0.048776412907378844, 0.06030056647916493, 0.06615771884551973,
        0.06545084971874739, 0.05000000000000001,  0.03454915028125264, 0.020610737385376353,
        0.009549150281252635, 0.002447174185242324};
    /* OneCycleLR's momentum: SGD's, by default; Adam's beta1 with base_momentum 0.6,
     * max_momentum 0.9, pct_start 0.25 */
    static const double sgd_mom[20] = {
        0.95, 0.9404508497187474, 0.9154508497187474, 0.8845491502812526, 0.8595491502812526,
        0.85, 0.8512536043909088, 0.854951556604879, 0.8609084258765984, 0.8688255099070633,
        0.878305813044122, 0.8888739533021842, 0.8999999999999999, 0.9111260466978157,
        0.9216941869558779, 0.9311744900929366, 0.9390915741234015, 0.945048443395121,
        0.9487463956090911, 0.95};
    static const double adam_beta1[20] = {
        0.9, 0.8560660171779821, 0.75, 0.6439339828220179, 0.6, 0.6032778598899291,
        0.6129681813536099, 0.6286474508437578, 0.6496304090461713, 0.675, 0.7036474508437579,
        0.734320730509852, 0.765679269490148, 0.7963525491562421, 0.825, 0.8503695909538287,
        0.8713525491562422, 0.8870318186463901, 0.8967221401100709, 0.9};
    /* OneCycleLR(max_lr 0.1, total_steps 20): 4 epochs of 5 steps */
    ct_train_config c = sched_config(CT_SCHED_ONECYCLE, 4, 0.1f);
    for (int g = 0; g < 20; g++)
        near("onecycle vs PyTorch", g, ct_schedule_lr(&c, g / 5, g % 5, 5), onecycle[g],
             1e-7 * onecycle[g] + 1e-9);
    for (int g = 0; g < 20; g++) /* not cycled: the fixed momentum */
        near("onecycle, momentum not cycled", g, ct_schedule_momentum(&c, g / 5, g % 5, 5), 0.0,
             0.0);
    c.cycle_momentum = 1;
    for (int g = 0; g < 20; g++)
        near("onecycle's SGD momentum vs PyTorch", g, ct_schedule_momentum(&c, g / 5, g % 5, 5),
             sgd_mom[g], 1e-7);
    ct_train_config ca = c;
    ca.optimizer = CT_ADAM;
    ca.base_momentum = 0.6f, ca.max_momentum = 0.9f, ca.pct_start = 0.25f;
    for (int g = 0; g < 20; g++)
        near("onecycle's Adam beta1 vs PyTorch", g, ct_schedule_momentum(&ca, g / 5, g % 5, 5),
             adam_beta1[g], 1e-7);
    ca.cycle_momentum = 0; /* not cycled: Adam's beta1 (0: 0.9) */
    near("Adam's beta1, not cycled", 0, ct_schedule_momentum(&ca, 1, 2, 5), 0.9, 1e-7);
    /* refused: cycling outside onecycle, a fixed momentum or beta1 beside it, a range outside
     * [0, 1) */
    ct_train_config bad = c;
    bad.schedule = CT_SCHED_COSINE;
    assert_true(isnan(ct_schedule_momentum(&bad, 0, 0, 5)));
    assert_non_null(strstr(ct_last_error(), "one-cycle"));
    bad = c, bad.momentum = 0.9f;
    assert_int_equal(ct_train_config_check(&bad), CT_ERR_INVALID);
    assert_non_null(strstr(ct_last_error(), "a fixed momentum of 0.9"));
    bad = ca, bad.cycle_momentum = 1, bad.beta1 = 0.8f;
    assert_int_equal(ct_train_config_check(&bad), CT_ERR_INVALID);
    bad = c, bad.max_momentum = 1.0f;
    assert_int_equal(ct_train_config_check(&bad), CT_ERR_INVALID);
    bad = c, bad.nesterov = 1; /* Nesterov with a cycled momentum: accepted */
    assert_int_equal(ct_train_config_check(&bad), CT_OK);
    /* CosineAnnealingLR(T_max 10, eta_min 0.001): 10 epochs of 1 step */
    c = sched_config(CT_SCHED_COSINE, 10, 0.1f);
    c.eta_min = 0.001f;
    for (int g = 0; g < 10; g++)
        near("cosine vs PyTorch", g, ct_schedule_lr(&c, g, 0, 1), cosine[g], 1e-7 * cosine[g]);
    /* StepLR(step_size 2, gamma 0.5) */
    c = sched_config(CT_SCHED_STEP, 7, 0.1f);
    c.step_size = 2;
    c.gamma = 0.5f;
    for (int e = 0; e < 7; e++)
        near("step vs PyTorch", e, ct_schedule_lr(&c, e, 3, 4), step[e], 1e-7 * step[e]);
    /* ChainedScheduler([LinearLR(1/3, 4), CosineAnnealingLR(T_max 10)]) */
    c = sched_config(CT_SCHED_COSINE, 10, 0.1f);
    c.warmup_steps = 4;
    for (int g = 0; g < 10; g++)
        near("warm-up + cosine vs PyTorch", g, ct_schedule_lr(&c, g, 0, 1), warm_cos[g],
             1e-7 * warm_cos[g]);
    /* the same warm-up counted in epochs (2 steps each) */
    ct_train_config ce = sched_config(CT_SCHED_COSINE, 10, 0.1f), cs = ce;
    ce.warmup_epochs = 2;
    cs.warmup_steps = 4;
    for (int g = 0; g < 20; g++)
        near("warm-up in epochs", g, ct_schedule_lr(&ce, g / 2, g % 2, 2),
             ct_schedule_lr(&cs, g / 2, g % 2, 2), 0.0);
}

/* OneCycleLR(max_lr 0.1, total_steps 20, pct_start 0.25, div_factor 10, final_div_factor 100,
 * base_momentum 0.8, max_momentum 0.9) with three_phase and anneal_strategy, from PyTorch 1.13:
 * the lr and SGD's momentum of each step. */
static void test_onecycle_options_torch(void **state) {
    (void)state;
    static const struct {
        int three, linear;
        double lr[20], mom[20];
    } cases[] = {
        {1, 1,
         {0.01, 0.0325, 0.05500000000000001, 0.0775, 0.1, 0.0775, 0.055, 0.0325,
          0.009999999999999995, 0.0091, 0.0082, 0.0073, 0.0063999999999999994, 0.0055, 0.0046,
          0.0037, 0.0027999999999999995, 0.001899999999999999, 0.0009999999999999992,
          9.99999999999994e-05},
         {0.9, 0.875, 0.8500000000000001, 0.8250000000000001, 0.8, 0.8250000000000001,
          0.8500000000000001, 0.875, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9}},
        {1, 0,
         {0.009999999999999995, 0.023180194846605356, 0.055, 0.08681980515339464, 0.1,
          0.08681980515339464, 0.05500000000000001, 0.023180194846605363, 0.01,
          0.009799490219391763, 0.009214204987514346, 0.008291560633029162,
          0.007106304314359339, 0.005754458449452763, 0.004345541550547239,
          0.002993695685640663, 0.0018084393669708396, 0.0008857950124856526,
          0.0003005097806082386, 0.0001},
         {0.9, 0.8853553390593274, 0.8500000000000001, 0.8146446609406727, 0.8,
          0.8146446609406727, 0.8500000000000001, 0.8853553390593274, 0.9, 0.9, 0.9, 0.9, 0.9,
          0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9}},
        {0, 1,
         {0.01, 0.0325, 0.05500000000000001, 0.0775, 0.1, 0.09334, 0.08668000000000001,
          0.08002000000000001, 0.07336000000000001, 0.06670000000000001, 0.06004,
          0.053380000000000004, 0.046720000000000005, 0.040060000000000005, 0.03340000000000001,
          0.026740000000000014, 0.02008, 0.013420000000000001, 0.006760000000000002,
          0.00010000000000000286},
         {0.9, 0.875, 0.8500000000000001, 0.8250000000000001, 0.8, 0.8066666666666668,
          0.8133333333333334, 0.8200000000000001, 0.8266666666666667, 0.8333333333333334,
          0.8400000000000001, 0.8466666666666667, 0.8533333333333334, 0.86, 0.8666666666666667,
          0.8733333333333333, 0.88, 0.8866666666666667, 0.8933333333333333, 0.9}},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        ct_train_config c = sched_config(CT_SCHED_ONECYCLE, 4, 0.1f); /* 4 epochs of 5 steps */
        c.pct_start = 0.25f, c.div_factor = 10.0f, c.final_div_factor = 100.0f;
        c.cycle_momentum = 1, c.base_momentum = 0.8f, c.max_momentum = 0.9f;
        c.three_phase = cases[k].three, c.anneal_linear = cases[k].linear;
        char what[64];
        snprintf(what, sizeof what, "onecycle three_phase %d linear %d", cases[k].three,
                 cases[k].linear);
        for (int g = 0; g < 20; g++) {
            near(what, g, ct_schedule_lr(&c, g / 5, g % 5, 5), cases[k].lr[g],
                 1e-6 * cases[k].lr[g]);
            near(what, g, ct_schedule_momentum(&c, g / 5, g % 5, 5), cases[k].mom[g], 1e-7);
        }
    }
    /* runs so short that pct_start * total_steps < 1: the first phase ends before step 0, and
     * the next starts there (PyTorch's start_step), max_lr 0.1, PyTorch's defaults otherwise */
    static const struct {
        int total, three;
        float pct;
        double lr[9], mom[9];
    } shorts[] = {
        {5, 0, 0.1f,
         {0.09698464310077128, 0.0750001, 0.04131782584628902, 0.01169813105293973, 4e-07},
         {0.8530153689607045, 0.875, 0.9086824088833465, 0.9383022221559488, 0.95}},
        {2, 0, 0.3f, {0.0811745653949763, 4e-07}, {0.8688255099070633, 0.95}},
        {3, 1, 0.3f, {0.003918994048634272, 0.001715598786421084, 4e-07}, {0.95, 0.95, 0.95}},
        {9, 1, 0.1f,
         {0.003994132189207244, 0.0037923518808107184, 0.003330718335191097,
          0.0026761661534413232, 0.0019236021931666673, 0.001182144539384754,
          0.0005593009171171456, 0.00014538059828603074, 4e-07},
         {0.95, 0.95, 0.95, 0.95, 0.95, 0.95, 0.95, 0.95, 0.95}},
    };
    for (size_t k = 0; k < sizeof shorts / sizeof shorts[0]; k++) {
        ct_train_config c = sched_config(CT_SCHED_ONECYCLE, shorts[k].total, 0.1f); /* 1 step each */
        c.pct_start = shorts[k].pct, c.three_phase = shorts[k].three, c.cycle_momentum = 1;
        char what[64];
        snprintf(what, sizeof what, "onecycle of %d steps, pct_start %g, three_phase %d",
                 shorts[k].total, (double)shorts[k].pct, shorts[k].three);
        for (int g = 0; g < shorts[k].total; g++) {
            near(what, g, ct_schedule_lr(&c, g, 0, 1), shorts[k].lr[g], 1e-6 * shorts[k].lr[g]);
            near(what, g, ct_schedule_momentum(&c, g, 0, 1), shorts[k].mom[g], 1e-7);
        }
    }
    ct_train_config bad = sched_config(CT_SCHED_ONECYCLE, 4, 0.1f);
    bad.three_phase = 2;
    assert_int_equal(ct_train_config_check(&bad), CT_ERR_INVALID);
}

/* The formulas, in double, over runs with many steps per epoch and several phases. */
static void test_schedules_formulas(void **state) {
    const int spe = 7, E = 6;
    const int T = spe * E;
    ct_train_config c = base_config();
    c.num_phases = 2;
    c.phases[0] = (ct_phase){4, 0.2f};
    c.phases[1] = (ct_phase){2, 0.02f};
    for (int e = 0; e < E; e++)
        for (int s = 0; s < spe; s++) {
            int g = e * spe + s;
            double base = e < 4 ? 0.2f : 0.02f;
            c.schedule = CT_SCHED_PHASES;
            near("phases", g, ct_schedule_lr(&c, e, s, spe), base, 1e-7 * base);
            c.schedule = CT_SCHED_STEP;
            c.step_size = 3;
            c.gamma = 0;
            near("step (gamma 0 = 0.1)", g, ct_schedule_lr(&c, e, s, spe),
                 base * pow(0.1, e / 3), 1e-7 * base);
            c.schedule = CT_SCHED_COSINE;
            c.eta_min = 0.001f;
            near("cosine", g, ct_schedule_lr(&c, e, s, spe),
                 0.001f + (base - 0.001f) * (1 + cos(M_PI * g / T)) / 2, 1e-7 * base);
            c.schedule = CT_SCHED_ONECYCLE;
            double init = base / 25, mn = init / 1e4, e1 = 0.3 * T - 1, lr;
            if (g <= e1) lr = base + (init - base) / 2 * (cos(M_PI * g / e1) + 1);
            else lr = mn + (base - mn) / 2 * (cos(M_PI * (g - e1) / (T - 1 - e1)) + 1);
            near("onecycle", g, ct_schedule_lr(&c, e, s, spe), lr, 1e-7 * lr);
            c.warmup_steps = 10;
            c.warmup_start_factor = 0.1f;
            double f = 0.1f + (1 - 0.1f) * (g < 10 ? g : 10) / 10.0;
            near("onecycle with warm-up", g, ct_schedule_lr(&c, e, s, spe), lr * f, 1e-7 * lr);
            c.warmup_steps = 0;
            c.warmup_start_factor = 0;
            c.schedule = CT_SCHED_RANGE_TEST; /* from the phase's lr towards 10 over the run */
            c.end_lr = 10.0f;
            near("range test", g, ct_schedule_lr(&c, e, s, spe), base * pow(10.0 / base, (double)g / T),
                 1e-6 * base * pow(10.0 / base, (double)g / T));
            c.end_lr = 0;
        }
    /* fastai's lr_find ramp: 1e-7 to 10 over 100 steps, a factor of 10^0.08 a step */
    c = sched_config(CT_SCHED_RANGE_TEST, 1, 1e-7f);
    c.end_lr = 10.0f;
    near("range test, step 0", 0, ct_schedule_lr(&c, 0, 0, 100), 1e-7, 1e-13);
    near("range test, step 50", 50, ct_schedule_lr(&c, 0, 50, 100), 1e-3, 1e-9);
    near("range test, step 99", 99, ct_schedule_lr(&c, 0, 99, 100), 10.0 * pow(10.0, -0.08),
         1e-5);
    /* a bad setting is an error from ct_train_config_check (and so from ct_fit) */
    c = sched_config(CT_SCHED_STEP, 3, 0.1f);
    assert_int_equal(ct_train_config_check(&c), CT_ERR_INVALID); /* step_size 0 */
    c = sched_config(CT_SCHED_ONECYCLE, 3, 0.1f);
    c.pct_start = 1.5f;
    assert_int_equal(ct_train_config_check(&c), CT_ERR_INVALID);
    c = sched_config(CT_SCHED_PHASES, 3, 0.1f);
    c.clip_norm = -1;
    assert_int_equal(ct_train_config_check(&c), CT_ERR_INVALID);
    c.clip_norm = 0;
    c.schedule = (ct_schedule_kind)9;
    assert_int_equal(ct_train_config_check(&c), CT_ERR_INVALID);
    c = sched_config(CT_SCHED_RANGE_TEST, 3, 0.1f); /* end_lr 0 */
    assert_int_equal(ct_train_config_check(&c), CT_ERR_INVALID);
    c.end_lr = INFINITY;
    assert_int_equal(ct_train_config_check(&c), CT_ERR_INVALID);
}

/* ------------------------------------------------------------------------------------------ */
/* inside ct_fit: per-step learning rates and clipping                                         */

enum { FIT_N = 8, FIT_PIX = 12 };

static const int32_t k_all[FIT_N] = {0, 1, 2, 3, 4, 5, 6, 7};

static void fit_data(ct_dataset **ds) {
    uint8_t img[FIT_N * FIT_PIX], lab[FIT_N];
    for (int i = 0; i < FIT_N * FIT_PIX; i++) img[i] = (uint8_t)((i * 37 + 11) % 256);
    for (int i = 0; i < FIT_N; i++) lab[i] = (uint8_t)(i % 3);
    OK(ct_dataset_create(FIT_N, 1, 3, 4, 3, img, lab, ds));
}

/* The mean-loss gradient of the model on the whole dataset (pixels / 255), single shard. */
static void full_grad(ct_model *m, const ct_dataset *ds, float *g) {
    float x[FIT_N * FIT_PIX];
    for (int i = 0; i < FIT_N * FIT_PIX; i++) x[i] = ct_dataset_images(ds)[i] * (1.0f / 255.0f);
    OK(m->b->h2d(m->b, ct_model_input(m), x, sizeof x));
    OK(m->b->h2d(m->b, m->labels, ct_dataset_labels(ds), FIT_N));
    OK(ct_model_forward(m, FIT_N, 1));
    OK(ct_model_loss_backward(m, FIT_N, 1));
    OK(m->b->d2h(m->b, g, m->grads, (size_t)ct_model_param_count(m) * 4));
}

static void test_fit_schedule_and_clip(void **state) {
    ct_backend *b2 = NULL;
    OK(ct_backend_create("cpu", 2, &b2)); /* two shards: the norm has two parts */
    ct_dataset *ds = NULL;
    fit_data(&ds);
    const char *spec = "flatten,linear(5),tanh,linear(3)";
    for (int clip = 0; clip < 2; clip++) {
        ct_model *m = NULL, *ref = NULL;
        OK(ct_model_create(b2, spec, 1, 3, 4, FIT_N, 5, &m));
        OK(ct_model_create(g_cpu, spec, 1, 3, 4, FIT_N, 5, &ref));
        int64_t P = ct_model_param_count(m);
        float *w = calloc(P, 4), *g = calloc(P, 4), *w2 = calloc(P, 4);
        OK(ct_model_get_params(ref, w));
        ct_train_config c = sched_config(CT_SCHED_COSINE, 3, 0.5f);
        c.batch_size = c.eval_batch_size = FIT_N; /* one step per epoch: the whole dataset */
        c.workers = 0;
        c.clip_norm = clip ? 0.05f : 0.0f;
        ct_epoch_result hist[3];
        OK(ct_fit(m, ds, k_all, FIT_N, NULL, 0, &c, NULL, hist));
        for (int e = 0; e < 3; e++) {
            float lr = ct_schedule_lr(&c, e, 0, 1);
            near("history lr", e, hist[e].lr, lr, 0.0);
            full_grad(ref, ds, g);
            double norm = 0;
            for (int64_t j = 0; j < P; j++) norm += (double)g[j] * g[j];
            norm = sqrt(norm);
            double coef = clip && c.clip_norm / (norm + 1e-6) < 1 ? c.clip_norm / (norm + 1e-6) : 1;
            if (clip) assert_true(coef < 0.5); /* the clipping is active */
            for (int64_t j = 0; j < P; j++) w[j] -= lr * (float)(g[j] * coef);
            OK(ct_model_set_params(ref, w));
        }
        OK(ct_model_get_params(m, w2));
        for (int64_t j = 0; j < P; j++)
            near(clip ? "fit with clipping" : "fit with a cosine schedule", (int)j, w2[j], w[j],
                 1e-5);
        ct_model_free(m);
        ct_model_free(ref);
        free(w); free(g); free(w2);
    }
    ct_dataset_free(ds);
    ct_backend_free(b2);
}

/* ct_fit with Adam: the model's optimizer state is exposed as 2 * params. */
static void test_fit_adam_state(void **state) {
    ct_dataset *ds = NULL;
    fit_data(&ds);
    ct_model *m = NULL;
    OK(ct_model_create(g_cpu, "flatten,linear(4),relu,linear(3)", 1, 3, 4, FIT_N, 5, &m));
    ct_train_config c = sched_config(CT_SCHED_ONECYCLE, 2, 0.01f);
    c.optimizer = CT_ADAMW;
    c.batch_size = 4;
    c.eval_batch_size = FIT_N;
    c.workers = 0;
    OK(ct_fit(m, ds, k_all, FIT_N, NULL, 0, &c, NULL, NULL));
    int64_t P = ct_model_param_count(m), steps = 0;
    assert_int_equal(ct_model_optimizer_state_count(m), 2 * P);
    float *st = calloc(2 * P, 4);
    OK(ct_model_get_optimizer_state(m, st, &steps));
    assert_int_equal(steps, 4);
    double vsum = 0;
    for (int64_t j = 0; j < P; j++) vsum += st[P + j];
    assert_true(vsum > 0); /* exp_avg_sq is filled */
    free(st);
    c.optimizer = CT_SGD; /* back to plain SGD: no state */
    OK(ct_fit(m, ds, k_all, FIT_N, NULL, 0, &c, NULL, NULL));
    assert_int_equal(ct_model_optimizer_state_count(m), 0);
    c.optimizer = CT_ADAM; /* a bad setting reaches the caller from ct_fit */
    c.beta2 = 1.5f;
    assert_int_equal(ct_fit(m, ds, k_all, FIT_N, NULL, 0, &c, NULL, NULL), CT_ERR_INVALID);
    ct_model_free(m);
    ct_dataset_free(ds);
}

/* ------------------------------------------------------------------------------------------ */

/* ReduceLROnPlateau(SGD([p], lr=0.5), mode="min" (and "max"), factor=0.1, patience=P) stepped with each
 * value of a sequence, the lr read after each step (torch 1.13, /usr/bin/python3): the number of
 * cuts, log(lr / 0.5) / log(0.1). "flat" meets the eps rule (no cut of less than 1e-8). */
static void test_plateau_torch(void **state) {
    static const double a[15] = {1.0, 0.9, 0.95, 0.97, 0.89, 0.89, 0.8999, 0.88991, 0.5, 0.6,
                                 0.7, 0.8, 0.9, 0.55, 0.56};
    static const double nan_seq[10] = {1.0, NAN, NAN, 0.99999, 0.5, NAN, 0.4, 0.4, 0.4, 0.4};
    static const double flat[22] = {2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
                                    2, 2};
    static const struct { const double *seq; int n, patience; int cuts[22]; } cases[] = {
        {a, 15, 1, {0, 0, 0, 1, 1, 1, 2, 2, 2, 2, 3, 3, 4, 4, 5}},
        {a, 15, 2, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 2}},
        {a, 15, 3, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1}},
        {nan_seq, 10, 1, {0, 0, 1, 1, 1, 1, 1, 1, 2, 2}},
        {nan_seq, 10, 2, {0, 0, 0, 1, 1, 1, 1, 1, 1, 2}},
        {nan_seq, 10, 3, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0}},
        {flat, 22, 1, {0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 8, 8, 8, 8}},
        {flat, 14, 2, {0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4}},
        {flat, 14, 3, {0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3}},
        /* patience=0: CT_PATIENCE_NONE */
        {a, 15, CT_PATIENCE_NONE, {0, 0, 1, 2, 2, 3, 4, 4, 4, 5, 6, 7, 8, 8, 8}},
        {nan_seq, 10, CT_PATIENCE_NONE, {0, 1, 2, 3, 3, 4, 4, 5, 6, 7}},
        {flat, 22, CT_PATIENCE_NONE, {0, 1, 2, 3, 4, 5, 6, 7, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8}},
    };
    ct_train_config c = sched_config(CT_SCHED_PLATEAU, 20, 0.5f);
    OK(ct_train_config_check(&c));
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        c.plateau_patience = cases[k].patience;
        for (int n = 1; n <= cases[k].n; n++)
            if (ct_plateau_cuts(&c, cases[k].seq, n) != cases[k].cuts[n - 1])
                fail_msg("plateau case %zu (patience %d) after %d epochs: %d cuts, PyTorch %d", k,
                         cases[k].patience, n, ct_plateau_cuts(&c, cases[k].seq, n),
                         cases[k].cuts[n - 1]);
    }
    /* mode="max" (plateau_max: ctrain train --monitor val_acc), the same way: better is above
     * best * (1 + 1e-4) (0.60005 is not above 0.6's, 0.6001 is) */
    static const double acc[15] = {0.5, 0.6, 0.59, 0.6, 0.60005, 0.6001, 0.7, 0.7, 0.69, 0.71,
                                   0.71, 0.7, 0.72, 0.72, 0.5};
    static const double acc_nan[10] = {0.1, NAN, NAN, 0.10001, 0.2, NAN, 0.3, 0.3, 0.3, 0.3};
    static const struct { const double *seq; int n, patience; int cuts[15]; } max_cases[] = {
        {acc, 15, 1, {0, 0, 0, 1, 1, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4}},
        {acc, 15, 2, {0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}},
        {acc, 15, CT_PATIENCE_NONE, {0, 0, 1, 2, 3, 3, 3, 4, 5, 5, 6, 7, 7, 8, 8}},
        {acc_nan, 10, 1, {0, 0, 1, 1, 1, 1, 1, 1, 2, 2}},
        {acc_nan, 10, 2, {0, 0, 0, 1, 1, 1, 1, 1, 1, 2}},
        {acc_nan, 10, CT_PATIENCE_NONE, {0, 1, 2, 3, 3, 4, 4, 5, 6, 7}},
    };
    c.plateau_max = 1;
    OK(ct_train_config_check(&c));
    for (size_t k = 0; k < sizeof max_cases / sizeof max_cases[0]; k++) {
        c.plateau_patience = max_cases[k].patience;
        for (int n = 1; n <= max_cases[k].n; n++)
            if (ct_plateau_cuts(&c, max_cases[k].seq, n) != max_cases[k].cuts[n - 1])
                fail_msg("plateau mode=max case %zu (patience %d) after %d epochs: %d cuts, "
                         "PyTorch %d", k, max_cases[k].patience, n,
                         ct_plateau_cuts(&c, max_cases[k].seq, n), max_cases[k].cuts[n - 1]);
    }
    c.plateau_max = 2;
    assert_int_equal(ct_train_config_check(&c), CT_ERR_INVALID);
    c.plateau_max = 0;
    /* (the flat run stops at 8 cuts: the ninth would change an lr of 5e-9 by less than eps) */
    /* 0 cuts under other schedules; the default patience is PyTorch's 10 */
    c.schedule = CT_SCHED_STEP;
    assert_int_equal(ct_plateau_cuts(&c, flat, 14), 0);
    c = sched_config(CT_SCHED_PLATEAU, 20, 0.5f);
    assert_int_equal(ct_plateau_cuts(&c, flat, 11), 0);
    assert_int_equal(ct_plateau_cuts(&c, flat, 12), 1);
    c.plateau_patience = CT_PATIENCE_NONE;
    OK(ct_train_config_check(&c));
    c.plateau_patience = -2;
    assert_int_equal(ct_train_config_check(&c), CT_ERR_INVALID);
    c.plateau_patience = 0;
    c.gamma = 1.0f; /* a factor that cuts nothing is refused */
    assert_int_equal(ct_train_config_check(&c), CT_ERR_INVALID);
}

/* ReduceLROnPlateau's other knobs (cooldown, min_lr, threshold and threshold_mode, factor), the
 * lr after each step read from torch 1.13 as above (SGD at lr 0.5; /usr/bin/python3) against
 * 0.5 x ct_plateau_lr_scale over the epochs so far. */
static void test_plateau_torch_knobs(void **state) {
    (void)state;
    static const double a[15] = {1.0, 0.9, 0.95, 0.97, 0.89, 0.89, 0.8999, 0.88991, 0.5, 0.6,
                                 0.7, 0.8, 0.9, 0.55, 0.56};
    static const double flat[14] = {2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2};
    static const double acc[15] = {0.5, 0.6, 0.59, 0.6, 0.60005, 0.6001, 0.7, 0.7, 0.69, 0.71,
                                   0.71, 0.7, 0.72, 0.72, 0.5};
    static const struct {
        const double *seq;
        int n, max, patience, cooldown, abs_mode;
        float threshold, min_lr, factor; /* (threshold: CT_THRESHOLD_NONE is PyTorch's 0) */
        double lr[15];
    } cases[] = {
        {a, 15, 0, 1, 2, 0, 0.0f, 0.0f, 0.1f,
         {0.5, 0.5, 0.5, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05, 0.005, 0.005, 0.005, 0.005,
          0.0005}},
        {a, 15, 0, CT_PATIENCE_NONE, 1, 0, 0.0f, 0.0f, 0.1f,
         {0.5, 0.5, 0.05, 0.05, 0.05, 0.005, 0.005, 0.005, 0.005, 0.0005, 0.0005, 5e-05, 5e-05,
          5e-06, 5e-06}},
        {a, 15, 0, 1, 0, 0, 0.0f, 0.004f, 0.1f,
         {0.5, 0.5, 0.5, 0.05, 0.05, 0.05, 0.005, 0.005, 0.005, 0.005, 0.004, 0.004, 0.004, 0.004,
          0.004}},
        {flat, 14, 0, CT_PATIENCE_NONE, 0, 0, 0.0f, 0.0007f, 0.1f,
         {0.5, 0.05, 0.005, 0.0007, 0.0007, 0.0007, 0.0007, 0.0007, 0.0007, 0.0007, 0.0007,
          0.0007, 0.0007, 0.0007}},
        {a, 15, 0, 1, 0, 0, 0.05f, 0.0f, 0.1f,
         {0.5, 0.5, 0.5, 0.05, 0.05, 0.005, 0.005, 0.0005, 0.0005, 0.0005, 5e-05, 5e-05, 5e-06,
          5e-06, 5e-07}},
        {a, 15, 0, 1, 0, 1, 0.02f, 0.0f, 0.1f,
         {0.5, 0.5, 0.5, 0.05, 0.05, 0.005, 0.005, 0.0005, 0.0005, 0.0005, 5e-05, 5e-05, 5e-06,
          5e-06, 5e-07}},
        {a, 15, 0, 1, 0, 0, CT_THRESHOLD_NONE, 0.0f, 0.1f,
         {0.5, 0.5, 0.5, 0.05, 0.05, 0.05, 0.005, 0.005, 0.005, 0.005, 0.0005, 0.0005, 5e-05,
          5e-05, 5e-06}},
        {acc, 15, 1, 1, 1, 1, 0.015f, 0.003f, 0.1f,
         {0.5, 0.5, 0.5, 0.05, 0.05, 0.05, 0.05, 0.05, 0.005, 0.005, 0.005, 0.003, 0.003, 0.003,
          0.003}},
        {acc, 15, 1, CT_PATIENCE_NONE, 0, 0, CT_THRESHOLD_NONE, 0.0f, 0.5f,
         {0.5, 0.5, 0.25, 0.125, 0.125, 0.125, 0.125, 0.0625, 0.03125, 0.03125, 0.015625,
          0.0078125, 0.0078125, 0.00390625, 0.001953125}},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        ct_train_config c = sched_config(CT_SCHED_PLATEAU, 20, 0.5f);
        c.plateau_max = cases[k].max;
        c.plateau_patience = cases[k].patience;
        c.plateau_cooldown = cases[k].cooldown;
        c.plateau_threshold_abs = cases[k].abs_mode;
        c.plateau_threshold = cases[k].threshold;
        c.plateau_min_lr = cases[k].min_lr;
        c.gamma = cases[k].factor;
        OK(ct_train_config_check(&c));
        for (int n = 1; n <= cases[k].n; n++) {
            double lr = 0.5 * ct_plateau_lr_scale(&c, cases[k].seq, n), want = cases[k].lr[n - 1];
            if (fabs(lr - want) > 1e-7 * want) /* (min_lr and factor are floats) */
                fail_msg("plateau knobs case %zu after %d epochs: lr %.9g, PyTorch %.9g", k, n, lr,
                         want);
        }
    }
    ct_train_config c = sched_config(CT_SCHED_PLATEAU, 20, 0.5f);
    c.plateau_threshold = -0.5f;
    assert_int_equal(ct_train_config_check(&c), CT_ERR_INVALID);
    c.plateau_threshold = 0.0f;
    c.plateau_cooldown = -1;
    assert_int_equal(ct_train_config_check(&c), CT_ERR_INVALID);
    c.plateau_cooldown = 0;
    c.plateau_min_lr = -1e-3f;
    assert_int_equal(ct_train_config_check(&c), CT_ERR_INVALID);
    c.plateau_min_lr = 0.0f;
    c.plateau_threshold_abs = 2;
    assert_int_equal(ct_train_config_check(&c), CT_ERR_INVALID);
    /* min_lr never lifts a later phase's lower lr (PyTorch's cuts never raise the lr) */
    c = sched_config(CT_SCHED_PLATEAU, 2, 0.5f);
    c.num_phases = 2;
    c.phases[1] = (ct_phase){3, 0.001f};
    c.plateau_patience = CT_PATIENCE_NONE;
    c.plateau_min_lr = 0.01f;
    static const double flat5[5] = {2, 2, 2, 2, 2};
    assert_int_equal(ct_plateau_cuts(&c, flat5, 2), 1); /* (0.5 to 0.05 after epoch 1) */
    for (int n = 2; n <= 4; n++) /* (epochs 2-4 at the phase's 0.001, not at min_lr's 0.01) */
        assert_true(ct_plateau_lr_scale(&c, flat5, n) == 1.0);
    /* its settings are checked whatever the schedule (a train state holds them) */
    c = sched_config(CT_SCHED_PHASES, 2, 0.5f);
    c.plateau_min_lr = NAN;
    assert_int_equal(ct_train_config_check(&c), CT_ERR_INVALID);
    c.plateau_min_lr = 0.0f;
    c.plateau_cooldown = -1;
    assert_int_equal(ct_train_config_check(&c), CT_ERR_INVALID);
}

/* Inside ct_fit the plateau's cuts reach the lr of the next epoch (the history's lr), and a run
 * resumed at an epoch boundary gets the same lrs from the history it is given. */
static void test_fit_plateau(void **state) {
    ct_dataset *ds = NULL;
    fit_data(&ds);
    const char *spec = "flatten,linear(5),tanh,linear(3)";
    enum { E = 8 };
    ct_epoch_result full[E], part[E];
    float *w_full = NULL, *w_part = NULL;
    int64_t P = 0;
    for (int resumed = 0; resumed < 2; resumed++) {
        ct_model *m = NULL;
        OK(ct_model_create(g_cpu, spec, 1, 3, 4, FIT_N, 5, &m));
        ct_train_config c = sched_config(CT_SCHED_PLATEAU, E, 4.0f); /* too high: it wobbles */
        c.plateau_patience = 1;
        c.gamma = 0.5f;
        c.batch_size = 8;
        c.eval_batch_size = FIT_N;
        c.workers = 0;
        ct_epoch_result *h = resumed ? part : full;
        memset(h, 0, sizeof full);
        if (!resumed) {
            OK(ct_fit(m, ds, k_all, FIT_N, k_all, FIT_N, &c, NULL, h));
        } else { /* the first 3 epochs, then the rest from the saved history */
            c.phases[0].epochs = 3;
            OK(ct_fit(m, ds, k_all, FIT_N, k_all, FIT_N, &c, NULL, h));
            c.phases[0].epochs = E;
            c.resume = (ct_fit_position){.epoch = 3};
            OK(ct_fit(m, ds, k_all, FIT_N, k_all, FIT_N, &c, NULL, h));
        }
        double losses[E];
        for (int e = 0; e < E; e++) losses[e] = h[e].val.loss;
        for (int e = 0; e < E; e++)
            near("plateau lr", e, h[e].lr, 4.0 * pow(0.5, ct_plateau_cuts(&c, losses, e)), 0.0);
        if (!resumed) assert_true(ct_plateau_cuts(&c, losses, E - 1) > 0); /* it did cut */
        P = ct_model_param_count(m);
        float *w = malloc((size_t)P * 4);
        OK(ct_model_get_params(m, w));
        if (resumed) w_part = w;
        else w_full = w;
        ct_model_free(m);
    }
    for (int e = 0; e < E; e++) near("resumed plateau lr", e, part[e].lr, full[e].lr, 0.0);
    assert_memory_equal(w_full, w_part, (size_t)P * 4);
    free(w_full);
    free(w_part);
    /* without validation, or without a history to read, the plateau cannot run */
    ct_model *m = NULL;
    OK(ct_model_create(g_cpu, spec, 1, 3, 4, FIT_N, 5, &m));
    ct_train_config c = sched_config(CT_SCHED_PLATEAU, 2, 0.1f);
    c.workers = 0;
    assert_int_equal(ct_fit(m, ds, k_all, FIT_N, NULL, 0, &c, NULL, full), CT_ERR_INVALID);
    assert_int_equal(ct_fit(m, ds, k_all, FIT_N, k_all, FIT_N, &c, NULL, NULL), CT_ERR_INVALID);
    /* a resume whose history lacks the earlier epochs' validation */
    memset(full, 0, sizeof full);
    c.resume = (ct_fit_position){.epoch = 1};
    assert_int_equal(ct_fit(m, ds, k_all, FIT_N, k_all, FIT_N, &c, NULL, full), CT_ERR_INVALID);
    ct_model_free(m);
    ct_dataset_free(ds);
}

int main(void) {
    if (ct_backend_create("cpu", 1, &g_cpu) != CT_OK) {
        fprintf(stderr, "cannot open the CPU backend: %s\n", ct_last_error());
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_optimizers),         cmocka_unit_test(test_optimizers_torch),
        cmocka_unit_test(test_optimizer_mismatch), cmocka_unit_test(test_schedules_torch),
        cmocka_unit_test(test_onecycle_options_torch),
        cmocka_unit_test(test_schedules_formulas), cmocka_unit_test(test_fit_schedule_and_clip),
        cmocka_unit_test(test_fit_adam_state),     cmocka_unit_test(test_plateau_torch),
        cmocka_unit_test(test_plateau_torch_knobs),
        cmocka_unit_test(test_more_optimizers),   cmocka_unit_test(test_decay_segments),
        cmocka_unit_test(test_fit_plateau),        cmocka_unit_test(test_exponential_schedule),
        cmocka_unit_test(test_cosine_restarts_schedule), cmocka_unit_test(test_nadam_step_vars),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    ct_backend_free(g_cpu);
    return rc;
}
