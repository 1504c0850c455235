/*
 * optim.c — SGD with PyTorch's semantics (momentum, dampening 0, Nesterov, weight decay),
 * applied by one backend op over the whole parameter buffer.
 */
#include "optim/optim.h"
#include "core/core.h"

#include <string.h>

ct_status ct_optimizer_init(ct_optimizer *o, ct_backend *b, int64_t n, float momentum,
                            float weight_decay, int nesterov, int fresh) {
    if (momentum < 0.0f) return ct_fail(CT_ERR_INVALID, "momentum must be >= 0, got %g", momentum);
    if (weight_decay < 0.0f)
        return ct_fail(CT_ERR_INVALID, "weight decay must be >= 0, got %g", weight_decay);
    if (nesterov && momentum <= 0.0f)
        return ct_fail(CT_ERR_INVALID, "Nesterov momentum requires a momentum > 0");
    o->b = b;
    o->n = n;
    o->momentum = momentum;
    o->weight_decay = weight_decay;
    o->nesterov = nesterov;
    if (fresh) o->steps = 0;
    if (momentum > 0.0f && !o->m) {
        CT_TRY(b->alloc(b, (size_t)n * sizeof(float), (void **)&o->m));
        fresh = 1;
    }
    if (fresh && o->m) CT_TRY(b->memset0(b, o->m, (size_t)n * sizeof(float)));
    return CT_OK;
}

ct_status ct_optimizer_step_range(ct_optimizer *o, float *w, const float *g, float lr,
                                  int64_t p0, int64_t p1) {
    return o->b->sgd_step(o->b, w + p0, g + p0, o->m ? o->m + p0 : NULL, p1 - p0, lr,
                          o->momentum, o->weight_decay, o->nesterov, o->steps == 0);
}

void ct_optimizer_count_step(ct_optimizer *o) { o->steps++; }

ct_status ct_optimizer_step(ct_optimizer *o, float *w, const float *g, float lr) {
    ct_status s = ct_optimizer_step_range(o, w, g, lr, 0, o->n);
    ct_optimizer_count_step(o);
    return s;
}

void ct_optimizer_release(ct_optimizer *o) {
    if (o->b && o->m) o->b->free(o->b, o->m);
    o->m = NULL;
}
