/*
 * optim.h — optimizers: one fused update over the model's one parameter buffer.
 *
 * SGD (momentum, Nesterov, weight decay), Adam, AdamW, NAdam, RAdam, Adamax, Adagrad and
 * RMSprop with PyTorch's semantics and defaults. The optimizer's state is up to three device
 * buffers parallel to the parameters: SGD's momentum buffer (when momentum > 0); Adam's
 * (AdamW's, NAdam's, RAdam's) exp_avg (m) and exp_avg_sq (v) (NAdam's mu_product is a function
 * of the step count), Adamax's exp_avg and exp_inf (v), Adagrad's sum (v; m unused); RMSprop's
 * momentum_buffer (m), square_avg (v) and grad_avg (ga), all three always (zeros when unused),
 * and AMSGrad's max_exp_avg_sq (ga) after Adam's two. The state's size says whose it is, but
 * for RMSprop's and AMSGrad's three, which the train state tells apart by its slot names and
 * saved optimizer.
 */
#ifndef CT_OPTIM_H
#define CT_OPTIM_H

#include "backend/backend.h"

#define CT_MAX_OPTIMIZER_STEPS ((int64_t)1 << 62) /* a restored state's step count */

#define CT_ADAM_BETA1 0.9f
#define CT_ADAM_BETA2 0.999f
#define CT_ADAM_EPS 1e-8f

typedef struct {
    ct_backend *b;   /* not owned */
    int64_t n;       /* parameters */
    ct_optimizer_kind kind;
    float momentum, weight_decay; /* weight_decay: SGD/Adam L2 term, AdamW decoupled decay */
    int nesterov;
    float beta1, beta2, eps;      /* Adam/AdamW (defaults filled in); eps also RMSprop's */
    float alpha;                  /* RMSprop (default filled in) */
    int centered;                 /* RMSprop */
    float momentum_decay;         /* NAdam's psi (default filled in) */
    float lr_decay;               /* Adagrad's */
    double nadam_prod;            /* NAdam: mu_1 ... mu_t for t = nadam_t, the running part of
                                   * ct_nadam_product (ct_nadam_prefix), for the step table */
    int64_t nadam_t;
    int nadam_ended;              /* that part has ended (ct_nadam_prefix returned 1) */
    float *m;        /* (n) device: SGD momentum buffer (NULL when momentum == 0), Adam exp_avg,
                      * RMSprop momentum_buffer */
    float *v;        /* (n) device: Adam exp_avg_sq, RMSprop square_avg; NULL for SGD */
    float *ga;       /* (n) device: RMSprop grad_avg, AMSGrad's max_exp_avg_sq; NULL for the
                      * others */
    int64_t steps;   /* updates made so far */
    /* weight decay by parameter range (ct_optimizer_set_decay; NULL: weight_decay for all):
     * segment k spans [segs[k-1].end (0 for k = 0), segs[k].end) */
    struct ct_decay_segment *segs;
    int n_segs;
} ct_optimizer;

typedef struct ct_decay_segment {
    int64_t end;
    float wd;
} ct_decay_segment;

/* The weight decay of each range of parameters (n segments ending at n_params, in order, a
 * copy kept; n == 0: o->weight_decay for all): torchvision's param groups of another weight
 * decay for biases or batch norm. Every update then runs one op per segment in its range. */
ct_status ct_optimizer_set_decay(ct_optimizer *o, const ct_decay_segment *segs, int n);

/* Sets the kind and hyperparameters from cfg (optimizer, momentum, weight_decay, nesterov,
 * beta1, beta2, eps; zero fields take PyTorch's defaults) and allocates the state it needs.
 * fresh: zero the state and the step count (a new run); else keep them (a resumed run; missing
 * buffers start at zero, and Adam refuses SGD's state and the reverse). */
ct_status ct_optimizer_init_config(ct_optimizer *o, ct_backend *b, int64_t n,
                                   const ct_train_config *cfg, int fresh);
/* The same for SGD with these settings. */
ct_status ct_optimizer_init(ct_optimizer *o, ct_backend *b, int64_t n, float momentum,
                            float weight_decay, int nesterov, int fresh);
/* w -= update(g) at learning rate lr (one fused op over the whole buffer). */
ct_status ct_optimizer_step(ct_optimizer *o, float *w, const float *g, float lr);
/* The same update on parameters [p0, p1) only (threads updating slices in parallel); call
 * ct_optimizer_count_step once after all slices of a step. */
ct_status ct_optimizer_step_range(ct_optimizer *o, float *w, const float *g, float lr,
                                  const ct_step_vars *sv, int64_t p0, int64_t p1);
/* The ct_step_vars of the update `ahead` updates after the next one (0: the next), at learning
 * rate lr and momentum mom (SGD's momentum or Adam's beta1: ct_schedule_momentum), for a batch
 * starting at row pos of the epoch. With sv (device) the step range above reads lr, the
 * momentum and the step from there instead of from lr, o and o->steps. */
void ct_optimizer_step_vars(ct_optimizer *o, int64_t ahead, float lr, float mom,
                            int64_t pos, ct_step_vars *out);
void ct_optimizer_count_step(ct_optimizer *o);
/* gamma^ct_plateau_cuts(cfg, values, n) (gamma's default included), or what takes epoch n's
 * phase lr to plateau_min_lr when that is more and there were cuts: what the plateau schedule
 * multiplies epoch n's lr by (1 under the other schedules). */
double ct_plateau_lr_scale(const ct_train_config *cfg, const double *values, int n);
/* ct_train_config_check less the phases: the optimizer's, schedule's and augmentation's
 * settings (all an optimizer needs; ct_train_config_check adds the phases). */
ct_status ct_optimizer_config_check(const ct_train_config *cfg);
void ct_optimizer_release(ct_optimizer *o);

/* State for checkpoints: floats held (0, n for SGD with momentum, 2n for Adam: m then v, 3n for
 * RMSprop: m, v, ga). */
int64_t ct_optimizer_state_count(const ct_optimizer *o);
ct_status ct_optimizer_get_state(const ct_optimizer *o, float *host);
/* Restores count floats (0, n, 2n or 3n) for n parameters on b; the kind is checked at the next
 * ct_optimizer_init. */
ct_status ct_optimizer_set_state(ct_optimizer *o, ct_backend *b, int64_t n, const float *host,
                                 int64_t count, int64_t steps);

#endif /* CT_OPTIM_H */
