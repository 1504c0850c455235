/*
 * optim.h — optimizers: one fused update over the model's one parameter buffer.
 *
 * The optimizer's state (momentum buffer) is one device buffer parallel to the parameters.
 */
#ifndef CT_OPTIM_H
#define CT_OPTIM_H

#include "backend/backend.h"

typedef struct {
    ct_backend *b;   /* not owned */
    int64_t n;       /* parameters */
    float momentum, weight_decay;
    int nesterov;
    float *m;        /* (n) device: momentum buffer, NULL when momentum == 0 */
    int64_t steps;   /* updates made so far */
} ct_optimizer;

ct_status ct_optimizer_init(ct_optimizer *o, ct_backend *b, int64_t n, float momentum,
                            float weight_decay, int nesterov);
/* w -= update(g) at learning rate lr (one fused op). */
ct_status ct_optimizer_step(ct_optimizer *o, float *w, const float *g, float lr);
void ct_optimizer_release(ct_optimizer *o);

#endif /* CT_OPTIM_H */
