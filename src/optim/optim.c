/*
 * optim.c — SGD with PyTorch's semantics (momentum, dampening 0, Nesterov, weight decay),
 * Adam/AdamW (amsgrad too)/NAdam/RAdam/Adamax/Adagrad (torch.optim's: the backend's adam_step
 * by variant) and RMSprop (torch.optim.RMSprop), each applied by one backend op over the whole
 * parameter buffer (or a slice of it per CPU thread).
 */
#include "optim/optim.h"
#include "core/core.h"

#include <stdlib.h>
#include <string.h>

static ct_status alloc_state(ct_backend *b, int64_t n, float **p) {
    if (*p) return CT_OK;
    CT_TRY(b->alloc(b, (size_t)n * sizeof(float), (void **)p));
    return b->memset0(b, *p, (size_t)n * sizeof(float));
}

static void free_state(ct_backend *b, float **p) {
    if (b && *p) b->free(b, *p);
    *p = NULL;
}

ct_status ct_optimizer_init(ct_optimizer *o, ct_backend *b, int64_t n, float momentum,
                            float weight_decay, int nesterov, int fresh) {
    ct_train_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.momentum = momentum;
    cfg.weight_decay = weight_decay;
    cfg.nesterov = nesterov;
    return ct_optimizer_init_config(o, b, n, &cfg, fresh);
}

/* Whose state the buffers are: SGD's (m or none), Adam's (m, v; AdamW's, NAdam's, RAdam's,
 * Adamax's and Adagrad's too: Adagrad's sum is v, its m unused) or RMSprop's (m, v, ga; and
 * AMSGrad's, its ga the largest v so far). */
static const char *state_name(int v, int ga) {
    return ga ? "RMSprop's or AMSGrad's" : v ? "Adam's" : "SGD's";
}

ct_status ct_optimizer_init_config(ct_optimizer *o, ct_backend *b, int64_t n,
                                   const ct_train_config *cfg, int fresh) {
    CT_TRY(ct_optimizer_config_check(cfg));
    int rms = cfg->optimizer == CT_RMSPROP, adam = !rms && cfg->optimizer != CT_SGD;
    int third = rms || cfg->amsgrad; /* (RMSprop's grad_avg, AMSGrad's max_exp_avg_sq) */
    int have_v = o->v != NULL, have_ga = o->ga != NULL;
    if (!fresh && o->steps > 0 && o->m && (have_v != (adam || rms) || have_ga != third))
        return ct_fail(CT_ERR_INVALID, "the optimizer state to resume is %s but this run uses "
                       "%s", state_name(have_v, have_ga), state_name(adam || rms, third));
    if (o->b && o->b != b) { /* state from another device cannot be reused */
        free_state(o->b, &o->m);
        free_state(o->b, &o->v);
        free_state(o->b, &o->ga);
    }
    o->b = b;
    o->n = n;
    o->kind = cfg->optimizer;
    /* cycled (ct_schedule_momentum, through the step table): SGD's largest, as the one that
     * needs the momentum buffer, and Adam's first beta1, OneCycleLR's max_momentum */
    float base = 0.0f, max = 0.0f;
    if (cfg->cycle_momentum) ct_cycled_momentum(cfg, &base, &max);
    o->momentum = cfg->cycle_momentum ? (base > max ? base : max) : cfg->momentum;
    o->weight_decay = cfg->weight_decay; /* as given: 0 is none, with AdamW too */
    o->nesterov = cfg->nesterov;
    o->beta1 = cfg->cycle_momentum ? max : cfg->beta1 != 0.0f ? cfg->beta1 : CT_ADAM_BETA1;
    o->beta2 = cfg->beta2 != 0.0f ? cfg->beta2 : CT_ADAM_BETA2;
    o->eps = cfg->eps != 0.0f                   ? cfg->eps
             : cfg->optimizer == CT_ADAGRAD ? CT_ADAGRAD_EPS
                                            : CT_ADAM_EPS;
    o->lr_decay = cfg->lr_decay;
    o->alpha = cfg->alpha != 0.0f ? cfg->alpha : CT_RMSPROP_ALPHA;
    o->centered = cfg->centered;
    o->momentum_decay = cfg->momentum_decay != 0.0f ? cfg->momentum_decay : CT_NADAM_MOMENTUM_DECAY;
    o->nadam_prod = 1.0, o->nadam_t = 0, o->nadam_ended = 0;
    if (fresh) o->steps = 0;
    if (fresh || !third) free_state(b, &o->ga);
    if (fresh || !(adam || rms)) free_state(b, &o->v);
    if (fresh || (!(adam || rms) && o->momentum == 0.0f)) free_state(b, &o->m);
    if (adam || rms || o->momentum > 0.0f) CT_TRY(alloc_state(b, n, &o->m));
    const int fill = cfg->optimizer == CT_ADAGRAD && cfg->initial_accumulator != 0.0f &&
                     (fresh || !o->v); /* (a resumed run's sum is the saved one) */
    if (adam || rms) CT_TRY(alloc_state(b, n, &o->v));
    if (third) CT_TRY(alloc_state(b, n, &o->ga));
    if (fill) { /* Adagrad's initial_accumulator_value */
        float *host = malloc((size_t)n * sizeof *host);
        if (!host) return ct_fail(CT_ERR_NOMEM, "Adagrad's accumulator: %lld floats",
                                  (long long)n);
        for (int64_t i = 0; i < n; i++) host[i] = cfg->initial_accumulator;
        ct_status s = b->h2d(b, o->v, host, (size_t)n * sizeof *host);
        free(host);
        CT_TRY(s);
    }
    return CT_OK;
}

static int adam_variant(ct_optimizer_kind kind) {
    switch (kind) {
    case CT_ADAMW: return CT_ADAM_DECOUPLED;
    case CT_NADAM: return CT_ADAM_NADAM;
    case CT_RADAM: return CT_ADAM_RADAM;
    case CT_ADAMAX: return CT_ADAM_ADAMAX;
    case CT_ADAGRAD: return CT_ADAM_ADAGRAD;
    default: return CT_ADAM_L2;
    }
}

/* the update of [p0, p1) with weight decay wd */
static ct_status step_part(ct_optimizer *o, float *w, const float *g, float lr,
                           const ct_step_vars *sv, int64_t p0, int64_t p1, float wd) {
    if (o->kind == CT_RMSPROP)
        return o->b->rmsprop_step(o->b, w + p0, g + p0, o->m + p0, o->v + p0, o->ga + p0, p1 - p0,
                                  lr, o->alpha, o->eps, wd, o->momentum, o->centered, sv);
    if (o->kind != CT_SGD)
        return o->b->adam_step(o->b, w + p0, g + p0, o->m + p0, o->v + p0,
                               o->ga ? o->ga + p0 : NULL, p1 - p0, lr, o->beta1,
                               o->beta2, o->eps, wd, adam_variant(o->kind),
                               o->kind == CT_ADAGRAD ? o->lr_decay : o->momentum_decay,
                               o->steps + 1, sv);
    return o->b->sgd_step(o->b, w + p0, g + p0, o->m ? o->m + p0 : NULL, p1 - p0, lr,
                          o->momentum, wd, o->nesterov, o->steps == 0, sv);
}

ct_status ct_optimizer_step_range(ct_optimizer *o, float *w, const float *g, float lr,
                                  const ct_step_vars *sv, int64_t p0, int64_t p1) {
    if (o->n_segs == 0) return step_part(o, w, g, lr, sv, p0, p1, o->weight_decay);
    int64_t a = 0;
    for (int k = 0; k < o->n_segs && a < p1; a = o->segs[k++].end) {
        const int64_t lo = a > p0 ? a : p0, hi = o->segs[k].end < p1 ? o->segs[k].end : p1;
        if (hi > lo) CT_TRY(step_part(o, w, g, lr, sv, lo, hi, o->segs[k].wd));
    }
    return CT_OK;
}

ct_status ct_optimizer_set_decay(ct_optimizer *o, const ct_decay_segment *segs, int n) {
    free(o->segs);
    o->segs = NULL;
    o->n_segs = 0;
    if (n <= 0) return CT_OK;
    for (int k = 0; k < n; k++)
        if ((k > 0 && segs[k].end <= segs[k - 1].end) || segs[k].end <= 0 ||
            !(segs[k].wd >= 0.0f && segs[k].wd <= 3.4e38f))
            return ct_fail(CT_ERR_INVALID, "weight decay segment %d (end %lld, decay %g) out of "
                           "order or range", k, (long long)segs[k].end, (double)segs[k].wd);
    if (segs[n - 1].end != o->n)
        return ct_fail(CT_ERR_INVALID, "weight decay segments end at %lld, not at the %lld "
                       "parameters", (long long)segs[n - 1].end, (long long)o->n);
    if (!(o->segs = malloc((size_t)n * sizeof *o->segs)))
        return ct_fail(CT_ERR_NOMEM, "weight decay segments: %d", n);
    memcpy(o->segs, segs, (size_t)n * sizeof *segs);
    o->n_segs = n;
    return CT_OK;
}

void ct_optimizer_step_vars(ct_optimizer *o, int64_t ahead, float lr, float mom,
                            int64_t pos, ct_step_vars *out) {
    int64_t done = o->steps + ahead; /* updates before this one */
    memset(out, 0, sizeof *out);
    out->pos = pos;
    /* dropout adds the step to its stream, whose bits from 40 up name the layer
     * (conv_layers.c): as there, the step wraps at 2^40 rather than reach them */
    out->step = (uint64_t)done & ((1ull << 40) - 1);
    out->lr = lr;
    out->momentum = mom;
    out->first = done == 0;
    if (o->kind != CT_NADAM) {
        float unused;
        ct_adam_variant_factors(adam_variant(o->kind), lr, mom, o->beta2, o->lr_decay, done + 1,
                                &unused, &out->adam_step_size, &out->adam_bc2_sqrt);
        return;
    }
    /* NAdam (beta1 = mom: never cycled): the product to update done + 1, from the running one
     * (the table's steps come in order; a jump back starts it over) */
    if (o->nadam_t > done + 1) o->nadam_prod = 1.0, o->nadam_t = 0, o->nadam_ended = 0;
    if (!o->nadam_ended)
        o->nadam_ended = ct_nadam_prefix(mom, o->momentum_decay, done + 1, &o->nadam_prod,
                                         &o->nadam_t);
    ct_nadam_factors(lr, mom, o->beta2, o->momentum_decay, done + 1,
                     ct_nadam_rest(mom, done + 1, o->nadam_prod, o->nadam_t),
                     &out->nadam_grad_size, &out->adam_step_size, &out->adam_bc2_sqrt);
}

void ct_optimizer_count_step(ct_optimizer *o) { o->steps++; }

ct_status ct_optimizer_step(ct_optimizer *o, float *w, const float *g, float lr) {
    ct_status s = ct_optimizer_step_range(o, w, g, lr, NULL, 0, o->n);
    ct_optimizer_count_step(o);
    return s;
}

void ct_optimizer_release(ct_optimizer *o) {
    free(o->segs);
    o->segs = NULL;
    o->n_segs = 0;
    free_state(o->b, &o->m);
    free_state(o->b, &o->v);
    free_state(o->b, &o->ga);
}

int64_t ct_optimizer_state_count(const ct_optimizer *o) {
    return (o->m ? o->n : 0) + (o->v ? o->n : 0) + (o->ga ? o->n : 0);
}

ct_status ct_optimizer_get_state(const ct_optimizer *o, float *host) {
    size_t bytes = (size_t)o->n * sizeof(float);
    if (o->m) CT_TRY(o->b->d2h(o->b, host, o->m, bytes));
    if (o->v) CT_TRY(o->b->d2h(o->b, host + o->n, o->v, bytes));
    if (o->ga) CT_TRY(o->b->d2h(o->b, host + 2 * o->n, o->ga, bytes));
    return CT_OK;
}

ct_status ct_optimizer_set_state(ct_optimizer *o, ct_backend *b, int64_t n, const float *host,
                                 int64_t count, int64_t steps) {
    if (count != 0 && count != n && count != 2 * n && count != 3 * n)
        return ct_fail(CT_ERR_INVALID, "optimizer state has %lld values; the model has %lld "
                       "parameters (expected 0, %lld for SGD with momentum, %lld for Adam or "
                       "%lld for RMSprop)", (long long)count, (long long)n, (long long)n,
                       2 * (long long)n, 3 * (long long)n);
    if (steps < 0 || steps > CT_MAX_OPTIMIZER_STEPS) /* (the step counts ahead never overflow) */
        return ct_fail(CT_ERR_INVALID, "optimizer step count %lld is outside 0..2^62",
                       (long long)steps);
    if (o->b && o->b != b) ct_optimizer_release(o);
    o->b = b;
    o->n = n;
    o->steps = steps;
    size_t bytes = (size_t)n * sizeof(float);
    float **slot[3] = {&o->m, &o->v, &o->ga}; /* count / n of them, in this order */
    for (int k = 0; k < 3; k++) {
        if ((int64_t)k * n >= count) {
            free_state(b, slot[k]);
            continue;
        }
        CT_TRY(alloc_state(b, n, slot[k]));
        CT_TRY(b->h2d(b, *slot[k], host + (int64_t)k * n, bytes));
    }
    return CT_OK;
}
