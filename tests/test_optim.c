/*
 * test_optim.c — optimizers, and the schedules and gradient clipping inside ct_fit:
 *
 * - SGD (momentum, Nesterov, weight decay), Adam and AdamW through the optimizer module over
 *   several steps against a double-precision re-implementation of torch.optim's algorithms
 *   written here, plus a few steps against values PyTorch 1.13 printed (see k_torch_*);
 * - PyTorch's defaults (betas 0.9/0.999, eps 1e-8, AdamW weight decay 0.01), the state size
 *   for checkpoints (0, n, 2n) and its round trip, and refusing SGD state for Adam;
 * - ReduceLROnPlateau's cuts inside ct_fit, resumed or not (the schedules themselves:
 *   test_schedule.c);
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
        ct_train_config cfg = tu_train_config();
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
            tu_near("AdamW weight decay 0", 0, o.weight_decay, 0.0f, 0.0);
        if (cases[c].kind != CT_SGD && cases[c].b1 == 0.0f) {
            tu_near("default beta1", 0, o.beta1, 0.9f, 0.0);
            tu_near("default beta2", 0, o.beta2, 0.999f, 0.0);
            tu_near("default eps", 0, o.eps, 1e-8f, 0.0);
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
            for (int i = 0; i < N; i++) tu_near("optimizer step", i, w[i], wr[i], 2e-6 * (1 + fabs(wr[i])));
        }
        assert_int_equal(o.steps, STEPS);
        /* state round trip */
        if (want_state) {
            float *st = calloc(want_state, 4), *st2 = calloc(want_state, 4);
            OK(ct_optimizer_get_state(&o, st));
            for (int i = 0; i < N; i++) tu_near("state m", i, st[i], mr[i], 1e-5 * (1 + fabs(mr[i])));
            if (want_state == 2 * N)
                for (int i = 0; i < N; i++) tu_near("state v", i, st[N + i], vr[i], 1e-5 * (1 + vr[i]));
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
        ct_train_config cfg = tu_train_config();
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
                tu_near(k ? "AdamW vs PyTorch" : "Adam vs PyTorch", t * 3 + i, w[i],
                     k ? k_torch_adamw[t][i] : k_torch_adam[t][i], 2e-7);
        }
        ct_optimizer_release(&o);
    }
}

/* Resuming Adam from SGD's momentum buffer is refused; the reverse too. */
static void test_optimizer_mismatch(void **state) {
    enum { N = 10 };
    float st[2 * N] = {0};
    ct_train_config cfg = tu_train_config();
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
    ct_train_config cfg = tu_train_config();
    cfg.optimizer = CT_RADAM;
    cfg.beta1 = 0.8f;
    OK(ct_train_config_check(&cfg));
    cfg.lr_decay = 0.1f; /* (Adagrad's) */
    assert_int_equal(ct_train_config_check(&cfg), CT_ERR_INVALID);
    cfg.lr_decay = 0.0f;
    cfg.momentum = 0.9f; /* (SGD's) */
    assert_int_equal(ct_train_config_check(&cfg), CT_ERR_INVALID);
    cfg = tu_train_config();
    cfg.optimizer = CT_ADAMAX;
    cfg.beta2 = 1.0f;
    assert_int_equal(ct_train_config_check(&cfg), CT_ERR_INVALID);
    cfg = tu_train_config();
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
        ct_train_config cfg = tu_train_config();
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
        ct_train_config cfg = tu_train_config();
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
        ct_train_config c = tu_sched_config(CT_SCHED_COSINE, 3, 0.5f);
        c.batch_size = c.eval_batch_size = FIT_N; /* one step per epoch: the whole dataset */
        c.workers = 0;
        c.clip_norm = clip ? 0.05f : 0.0f;
        ct_epoch_result hist[3];
        OK(ct_fit(m, ds, k_all, FIT_N, NULL, 0, &c, NULL, hist));
        for (int e = 0; e < 3; e++) {
            float lr = ct_schedule_lr(&c, e, 0, 1);
            tu_near("history lr", e, hist[e].lr, lr, 0.0);
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
            tu_near(clip ? "fit with clipping" : "fit with a cosine schedule", (int)j, w2[j], w[j],
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
    ct_train_config c = tu_sched_config(CT_SCHED_ONECYCLE, 2, 0.01f);
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
        ct_train_config c = tu_sched_config(CT_SCHED_PLATEAU, E, 4.0f); /* too high: it wobbles */
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
            tu_near("plateau lr", e, h[e].lr, 4.0 * pow(0.5, ct_plateau_cuts(&c, losses, e)), 0.0);
        if (!resumed) assert_true(ct_plateau_cuts(&c, losses, E - 1) > 0); /* it did cut */
        P = ct_model_param_count(m);
        float *w = malloc((size_t)P * 4);
        OK(ct_model_get_params(m, w));
        if (resumed) w_part = w;
        else w_full = w;
        ct_model_free(m);
    }
    for (int e = 0; e < E; e++) tu_near("resumed plateau lr", e, part[e].lr, full[e].lr, 0.0);
    assert_memory_equal(w_full, w_part, (size_t)P * 4);
    free(w_full);
    free(w_part);
    /* without validation, or without a history to read, the plateau cannot run */
    ct_model *m = NULL;
    OK(ct_model_create(g_cpu, spec, 1, 3, 4, FIT_N, 5, &m));
    ct_train_config c = tu_sched_config(CT_SCHED_PLATEAU, 2, 0.1f);
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
        cmocka_unit_test(test_optimizer_mismatch), cmocka_unit_test(test_fit_schedule_and_clip),
        cmocka_unit_test(test_fit_adam_state),     cmocka_unit_test(test_more_optimizers),
        cmocka_unit_test(test_decay_segments),     cmocka_unit_test(test_fit_plateau),
        cmocka_unit_test(test_nadam_step_vars),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    ct_backend_free(g_cpu);
    return rc;
}
