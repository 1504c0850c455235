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

/* Sets the hyperparameters; allocates the momentum buffer when needed. fresh: zero the state
 * and the step count (a new run); else keep them (a resumed run). */
ct_status ct_optimizer_init(ct_optimizer *o, ct_backend *b, int64_t n, float momentum,
                            float weight_decay, int nesterov, int fresh);
/* w -= update(g) at learning rate lr (one fused op over the whole buffer). */
ct_status ct_optimizer_step(ct_optimizer *o, float *w, const float *g, float lr);
/* The same update on parameters [p0, p1) only (threads updating slices in parallel); call
 * ct_optimizer_count_step once after all slices of a step. */
ct_status ct_optimizer_step_range(ct_optimizer *o, float *w, const float *g, float lr,
                                  int64_t p0, int64_t p1);
void ct_optimizer_count_step(ct_optimizer *o);
void ct_optimizer_release(ct_optimizer *o);

#endif /* CT_OPTIM_H */
