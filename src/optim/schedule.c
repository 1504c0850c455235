/*
 * schedule.c — learning-rate schedules, computed in closed form from the position in the run
 * (so a resumed run gets exactly the lr of an uninterrupted one), and the checks of the
 * optimizer and schedule settings of a ct_train_config.
 *
 * With g = epoch * steps_per_epoch + step the global step (0-based), T the run's steps and
 * base the lr of the phase holding `epoch`:
 *   phases:   base
 *   step:     base * gamma^floor(epoch / step_size)                  (StepLR, per epoch)
 *   cosine:   eta_min + (base - eta_min) * (1 + cos(pi * g / T)) / 2  (CosineAnnealingLR)
 *   onecycle: OneCycleLR(max_lr = base, total_steps = T, pct_start, div_factor,
 *             final_div_factor, anneal_strategy, three_phase); with
 *             cycle_momentum, ct_schedule_momentum gives its momentum (base_momentum,
 *             max_momentum), which replaces SGD's momentum or Adam's beta1
 *   plateau:  base (ct_fit multiplies by gamma^cuts, ct_plateau_cuts over the history)
 *   range test: base * (end_lr / base)^(g / T)   (fastai's and Lightning's lr finders' ramp)
 *   exponential: base * gamma^epoch                                  (ExponentialLR, per epoch)
 *   multistep: base * gamma^(the milestones <= epoch)                (MultiStepLR, per epoch)
 *   polynomial: base * (1 - min(g, T) / T)^power                     (PolynomialLR, per step)
 *   cyclic:   CyclicLR(base_lr, max_lr = base, ...) at step g (cyclic_scale)  (per step)
 * then times the linear warm-up factor s + (1 - s) * min(g, W) / W (LinearLR(start_factor = s,
 * total_iters = W)), or the constant one, s while g < W, then 1 (ConstantLR(factor = s,
 * total_iters = W)): the product of the two lrs over base. (torch's ChainedScheduler gives the
 * same for step, plateau and cosine with eta_min 0; other values for cosine with eta_min > 0
 * and for onecycle: tests/cli_torch_parity.sh checks the product against PyTorch.)
 * With SWA's swa_lr, SWALR replaces all of it from epoch swa_start (ct_train_config.swa).
 * lr_step_epoch: the same with an epoch one step (step 0 of each epoch throughout: a loop
 * stepping its scheduler once an epoch). warmup_sequential: epoch, g and T of the schedule (not
 * of the warm-up, nor the phase's base) count from the warm-up's end, as SequentialLR starts its
 * second scheduler there.
 */
#include "core/core.h"
#include "backend/augment.h" /* (ct_aa_configured, ct_aa_of_config) */
#include "optim/optim.h"

#include <float.h>
#include <math.h>

#define CT_STEP_GAMMA 0.1
#define CT_ONECYCLE_PCT_START 0.3
#define CT_ONECYCLE_DIV 25.0
#define CT_ONECYCLE_FINAL_DIV 1e4
#define CT_ONECYCLE_BASE_MOMENTUM 0.85
#define CT_ONECYCLE_MAX_MOMENTUM 0.95
#define CT_CYCLIC_BASE_MOMENTUM 0.8 /* CyclicLR's base_momentum, max_momentum */
#define CT_CYCLIC_MAX_MOMENTUM 0.9
#define CT_WARMUP_START_FACTOR (1.0 / 3.0)
#define CT_PLATEAU_PATIENCE 10
#define CT_PLATEAU_THRESHOLD 1e-4 /* relative: better means below best * (1 - 1e-4) */
#define CT_PLATEAU_EPS 1e-8       /* a cut smaller than this is not made */
#define CT_MAX_STEPS_PER_EPOCH ((int64_t)1 << 31) /* past it, ct_schedule_lr saturates */

static double or_default(float v, double def) { return v != 0.0f ? (double)v : def; }

/* OneCycleLR's annealing from start to end as pct goes from 0 to 1: cosine, or linear. */
static double anneal(const ct_train_config *cfg, double start, double end, double pct) {
    if (cfg->anneal_linear) return (end - start) * pct + start;
    return end + (start - end) / 2.0 * (cos(M_PI * pct) + 1.0);
}

/* OneCycleLR's phases at step g of total (its get_lr), with its lr (initial, max_lr, min_lr)
 * or its momentum (max, base, max) as a, b, c: from a to b over the first pct_start of the
 * steps, then from b to c; three_phase: from a to b, from b back to a over as many steps,
 * then from a to c. Each phase starts where the one before ends, even before step 0 (with
 * pct_start * total < 1), as PyTorch's; one that ends where it starts (PyTorch divides by
 * zero there) gives its end value. */
static double onecycle(const ct_train_config *cfg, double a, double b, double c, int64_t g,
                       int64_t total) {
    double pct_start = or_default(cfg->pct_start, CT_ONECYCLE_PCT_START);
    double end[3], from[3], to[3];
    int n = 0;
    end[n] = pct_start * (double)total - 1.0, from[n] = a, to[n++] = b;
    if (cfg->three_phase) end[n] = 2.0 * pct_start * (double)total - 2.0, from[n] = b, to[n++] = a;
    end[n] = (double)total - 1.0, from[n] = cfg->three_phase ? a : b, to[n++] = c;
    double start = 0.0;
    for (int i = 0; i < n; i++) {
        if ((double)g <= end[i] || i == n - 1) {
            if (end[i] == start) return to[i];
            double pct = ((double)g - start) / (end[i] - start);
            return anneal(cfg, from[i], to[i], pct > 1.0 ? 1.0 : pct);
        }
        start = end[i];
    }
    return c;
}

/* The run's steps and the global step g of (epoch, step); returns the steps per epoch (all
 * three clamped as the header says). */
static int64_t run_steps(const ct_train_config *cfg, int epoch, int64_t step, int64_t spe,
                         int64_t *g, int64_t *total) {
    int total_epochs = 0;
    for (int p = 0; p < cfg->num_phases; p++) total_epochs += cfg->phases[p].epochs;
    if (spe < 1) spe = 1;
    if (spe > CT_MAX_STEPS_PER_EPOCH) spe = CT_MAX_STEPS_PER_EPOCH;
    /* (fits: epochs <= CT_MAX_EPOCHS, steps per epoch <= 2^31, step within an epoch) */
    if (step < 0) step = 0;
    if (step > CT_MAX_STEPS_PER_EPOCH) step = CT_MAX_STEPS_PER_EPOCH;
    *g = (int64_t)epoch * spe + step;
    *total = (int64_t)total_epochs * spe;
    return spe;
}

/* The lr of the phase holding epoch (the last phase's past the end). */
static double phase_lr(const ct_train_config *cfg, int epoch) {
    if (cfg->num_phases < 1 || cfg->num_phases > CT_MAX_PHASES) return NAN; /* (unchecked cfg) */
    int64_t e = 0;
    for (int p = 0; p < cfg->num_phases; p++) {
        if (epoch < e + cfg->phases[p].epochs) return cfg->phases[p].lr;
        e += cfg->phases[p].epochs;
    }
    return cfg->num_phases > 0 ? cfg->phases[cfg->num_phases - 1].lr : 0.0;
}

/* the plateau schedule's factor on an lr of base after cuts cuts: gamma^cuts, or what takes
 * base to min_lr when that is more (as PyTorch's max(old_lr * factor, min_lr)) */
static double plateau_scale(const ct_train_config *cfg, int cuts, double base) {
    if (cuts == 0) return 1.0;
    double s = pow(or_default(cfg->gamma, CT_STEP_GAMMA), (double)cuts);
    /* (never above the schedule's own lr: a later phase's may be below min_lr) */
    return base * s < cfg->plateau_min_lr ? fmin(1.0, cfg->plateau_min_lr / base) : s;
}

int ct_plateau_cuts(const ct_train_config *cfg, const double *values, int n) {
    if (cfg->schedule != CT_SCHED_PLATEAU) return 0;
    int patience = cfg->plateau_patience > 0                  ? cfg->plateau_patience
                   : cfg->plateau_patience == CT_PATIENCE_NONE ? 0
                                                               : CT_PLATEAU_PATIENCE;
    const double th = cfg->plateau_threshold > 0.0f               ? cfg->plateau_threshold
                      : cfg->plateau_threshold == CT_THRESHOLD_NONE ? 0.0
                                                                    : CT_PLATEAU_THRESHOLD;
    const int max = cfg->plateau_max, abs_mode = cfg->plateau_threshold_abs;
    double factor = or_default(cfg->gamma, CT_STEP_GAMMA), best = max ? -INFINITY : INFINITY;
    int bad = 0, cuts = 0, cooldown = 0;
    for (int e = 0; e < n; e++) {
        /* PyTorch's is_better (NaN is never better) */
        const double v = values[e];
        const int better = abs_mode ? (max ? v > best + th : v < best - th)
                                    : (max ? v > best * (1.0 + th) : v < best * (1.0 - th));
        if (better) {
            best = v;
            bad = 0;
        } else {
            bad++;
        }
        if (cooldown > 0) { /* (its bad epochs ignored) */
            cooldown--;
            bad = 0;
        }
        if (bad > patience) {
            const double base = phase_lr(cfg, e), lr = base * plateau_scale(cfg, cuts, base);
            const double next = fmax(lr * factor, (double)cfg->plateau_min_lr);
            if (lr - next > CT_PLATEAU_EPS) cuts++;
            cooldown = cfg->plateau_cooldown;
            bad = 0;
        }
    }
    return cuts;
}

double ct_plateau_lr_scale(const ct_train_config *cfg, const double *values, int n) {
    return plateau_scale(cfg, ct_plateau_cuts(cfg, values, n), phase_lr(cfg, n));
}

/* CosineAnnealingWarmRestarts at the fractional epoch t = epoch + step / spe: the cycle holding
 * t (cycle i is T_0 * T_mult^i epochs long) and t's place in it, as PyTorch's step(epoch)
 * computes them (its closed form for T_mult > 1 walked cycle by cycle instead: exact at the
 * boundaries, where a logarithm may round either way). */
static double restarts_lr(const ct_train_config *cfg, double base, int64_t g, int64_t spe) {
    double t = (double)g / (double)spe, t_i = (double)cfg->restart_epochs;
    double mult = cfg->restart_mult > 1 ? (double)cfg->restart_mult : 1.0;
    if (mult == 1.0) t = fmod(t, t_i);
    else
        while (t >= t_i) t -= t_i, t_i *= mult;
    return cfg->eta_min + (base - cfg->eta_min) * (1.0 + cos(M_PI * t / t_i)) / 2.0;
}

/* CyclicLR at step g: where in its cycle's height the lr is (0: base_lr, 1: the top), times
 * the mode's scale, as its get_lr computes them (in double): cycle = floor(1 + g / size), x =
 * 1 + g / size - cycle, up while x <= up / size; triangular2: / 2^(cycle - 1); exp_range:
 * gamma^g. */
static double cyclic_scale(const ct_train_config *cfg, int64_t g) {
    const double up = cfg->cyclic_up, down = cfg->cyclic_down > 0.0f ? cfg->cyclic_down : up;
    const double size = up + down, ratio = up / size;
    const double cycle = floor(1.0 + (double)g / size), x = 1.0 + (double)g / size - cycle;
    const double scale = x <= ratio ? x / ratio : (x - 1.0) / (ratio - 1.0);
    switch (cfg->cyclic_mode) {
    case CT_CYCLIC_TRIANGULAR2: return scale / pow(2.0, cycle - 1.0);
    case CT_CYCLIC_EXP_RANGE: return scale * pow(or_default(cfg->gamma, 1.0), (double)g);
    default: return scale;
    }
}

/* The schedule's steps when it moves once an epoch (lr_step_epoch): an epoch one step */
static void epoch_steps(const ct_train_config *cfg, int64_t *step, int64_t *spe) {
    if (cfg->lr_step_epoch && cfg->schedule != CT_SCHED_RANGE_TEST) *step = 0, *spe = 1;
}

/* The warm-up's steps (0: none) */
static int64_t warm_steps(const ct_train_config *cfg, int64_t spe) {
    return cfg->warmup_steps > 0 ? cfg->warmup_steps
           : (int64_t)(cfg->warmup_epochs < CT_MAX_EPOCHS ? cfg->warmup_epochs : CT_MAX_EPOCHS) * spe;
}

/* The schedule's lr at (epoch, step), warm-up included: all of it but SWALR. With
 * warmup_sequential, the schedule's own epoch, step and length start after the warm-up. */
static double schedule_lr(const ct_train_config *cfg, int epoch, int64_t step, int64_t spe) {
    double base = phase_lr(cfg, epoch);
    int64_t g, total;
    epoch_steps(cfg, &step, &spe);
    spe = run_steps(cfg, epoch, step, spe, &g, &total);
    const int64_t run_g = g, warm = warm_steps(cfg, spe); /* (the run's step, the warm-up's) */
    if (cfg->warmup_sequential && warm > 0) {
        epoch = epoch > cfg->warmup_epochs ? epoch - cfg->warmup_epochs : 0;
        g = g > warm ? g - warm : 0;
        total = total > warm ? total - warm : 0;
    }
    double lr = base;
    switch (cfg->schedule) {
    case CT_SCHED_STEP:
        if (cfg->step_size > 0)
            lr = base * pow(or_default(cfg->gamma, CT_STEP_GAMMA), (double)(epoch / cfg->step_size));
        break;
    case CT_SCHED_COSINE: {
        double eta_min = cfg->eta_min;
        lr = total > 0 ? eta_min + (base - eta_min) * (1.0 + cos(M_PI * (double)g / (double)total)) / 2.0
                       : base;
        break;
    }
    case CT_SCHED_ONECYCLE: {
        double initial = base / or_default(cfg->div_factor, CT_ONECYCLE_DIV);
        double min_lr = initial / or_default(cfg->final_div_factor, CT_ONECYCLE_FINAL_DIV);
        lr = onecycle(cfg, initial, base, min_lr, g, total);
        break;
    }
    case CT_SCHED_RANGE_TEST:
        lr = total > 0 ? base * pow((double)cfg->end_lr / base, (double)g / (double)total) : base;
        break;
    case CT_SCHED_EXPONENTIAL:
        lr = base * pow(or_default(cfg->gamma, CT_STEP_GAMMA), (double)epoch);
        break;
    case CT_SCHED_COSINE_RESTARTS:
        lr = restarts_lr(cfg, base, g, spe);
        break;
    case CT_SCHED_MULTISTEP: {
        int passed = 0;
        while (passed < cfg->num_milestones && cfg->milestones[passed] <= epoch) passed++;
        lr = base * pow(or_default(cfg->gamma, CT_STEP_GAMMA), (double)passed);
        break;
    }
    case CT_SCHED_POLYNOMIAL:
        lr = total > 0 ? base * pow(1.0 - (double)(g < total ? g : total) / (double)total,
                                    or_default(cfg->power, 1.0))
                       : base;
        break;
    case CT_SCHED_CYCLIC:
        lr = (double)cfg->cyclic_base_lr +
             (base - (double)cfg->cyclic_base_lr) * cyclic_scale(cfg, g);
        break;
    default: break;
    }
    if (warm > 0) {
        const int64_t r = run_g;
        double s = or_default(cfg->warmup_start_factor, CT_WARMUP_START_FACTOR);
        lr *= cfg->warmup_constant ? (r < warm ? s : 1.0)
                                   : s + (1.0 - s) * (double)(r < warm ? r : warm) / (double)warm;
    }
    return lr;
}

float ct_schedule_lr(const ct_train_config *cfg, int epoch, int64_t step, int64_t spe) {
    if (ct_train_config_check(cfg) != CT_OK) return NAN; /* (its reason in ct_last_error) */
    if (!cfg->swa || cfg->swa_lr <= 0.0f || epoch < cfg->swa_start)
        return (float)schedule_lr(cfg, epoch, step, spe);
    /* SWALR from the lr it found at the start of epoch swa_start, one step an epoch */
    double lr0 = schedule_lr(cfg, cfg->swa_start, 0, spe);
    double k = (double)(epoch - cfg->swa_start), n = (double)cfg->swa_anneal_epochs;
    double t = n > 0.0 ? (k < n ? k / n : 1.0) : 1.0;
    double a = cfg->swa_anneal_linear ? t : (1.0 - cos(M_PI * t)) / 2.0;
    return (float)((double)cfg->swa_lr * a + lr0 * (1.0 - a));
}

/* The stochastic weight averaging settings (ct_train_config.swa), for a run of total epochs. */
static ct_status swa_check(const ct_train_config *cfg, int64_t total) {
    if (cfg->swa == 0) return CT_OK;
    if (cfg->swa != 1) return ct_fail(CT_ERR_INVALID, "swa must be 0 or 1, got %d", cfg->swa);
    if (cfg->swa_start < 0 || cfg->swa_start >= total)
        return ct_fail(CT_ERR_INVALID, "SWA's first epoch averaged, %d, is outside the run's "
                       "epochs 0..%lld", cfg->swa_start, (long long)total - 1);
    if (cfg->ema_decay > 0.0f)
        return ct_fail(CT_ERR_INVALID, "SWA and a moving average of the weights (ema_decay) "
                       "are two averages: not both");
    if (!(cfg->swa_lr >= 0.0f) || !isfinite(cfg->swa_lr))
        return ct_fail(CT_ERR_INVALID, "swa_lr must be a finite number >= 0 (0: the schedule's "
                       "lr), got %g", (double)cfg->swa_lr);
    if (cfg->swa_anneal_epochs < 0 || cfg->swa_anneal_epochs > CT_MAX_EPOCHS)
        return ct_fail(CT_ERR_INVALID, "swa_anneal_epochs must be in 0..%d, got %d",
                       CT_MAX_EPOCHS, cfg->swa_anneal_epochs);
    if (cfg->swa_anneal_linear != 0 && cfg->swa_anneal_linear != 1)
        return ct_fail(CT_ERR_INVALID, "swa_anneal_linear must be 0 or 1, got %d",
                       cfg->swa_anneal_linear);
    static const char *no_swalr[] = {[CT_SCHED_PLATEAU] = "plateau",
                                     [CT_SCHED_ONECYCLE] = "onecycle",
                                     [CT_SCHED_RANGE_TEST] = "the range test"};
    if (cfg->swa_lr > 0.0f && (int)cfg->schedule >= 0 &&
        (size_t)cfg->schedule < sizeof no_swalr / sizeof no_swalr[0] && no_swalr[cfg->schedule])
        return ct_fail(CT_ERR_INVALID, "swa_lr: SWALR replaces the schedule from swa_start, "
                       "which %s does not allow (its lr follows the whole run)",
                       no_swalr[cfg->schedule]);
    return CT_OK;
}

void ct_cycled_momentum(const ct_train_config *cfg, float *base, float *max) {
    int given = cfg->base_momentum != 0.0f || cfg->max_momentum != 0.0f; /* (both 0: none) */
    const int cyclic = cfg->schedule == CT_SCHED_CYCLIC;
    *base = given ? cfg->base_momentum
                  : (float)(cyclic ? CT_CYCLIC_BASE_MOMENTUM : CT_ONECYCLE_BASE_MOMENTUM);
    *max = given ? cfg->max_momentum
                 : (float)(cyclic ? CT_CYCLIC_MAX_MOMENTUM : CT_ONECYCLE_MAX_MOMENTUM);
}

float ct_schedule_momentum(const ct_train_config *cfg, int epoch, int64_t step, int64_t spe) {
    if (ct_train_config_check(cfg) != CT_OK) return NAN; /* (its reason in ct_last_error) */
    if (!cfg->cycle_momentum)
        return cfg->optimizer == CT_SGD || cfg->optimizer == CT_RMSPROP
                   ? cfg->momentum
                   : (float)or_default(cfg->beta1, CT_ADAM_BETA1);
    float base, max;
    int64_t g, total;
    ct_cycled_momentum(cfg, &base, &max);
    epoch_steps(cfg, &step, &spe); /* (warmup_sequential: not with onecycle, cyclic) */
    run_steps(cfg, epoch, step, spe, &g, &total);
    if (cfg->schedule == CT_SCHED_CYCLIC) { /* (the other way: max at the bottom of the lr) */
        /* SWALR from swa_start: the schedule is no longer stepped, its momentum stays */
        if (cfg->swa && cfg->swa_lr > 0.0f && epoch >= cfg->swa_start)
            run_steps(cfg, cfg->swa_start, 0, spe, &g, &total);
        return (float)((double)max - ((double)max - (double)base) * cyclic_scale(cfg, g));
    }
    return (float)onecycle(cfg, max, base, max, g, total);
}

ct_status ct_optimizer_config_check(const ct_train_config *cfg) {
    const struct { const char *name; float v; } floats[] = {
        {"momentum", cfg->momentum}, {"weight decay", cfg->weight_decay}, {"beta1", cfg->beta1},
        {"beta2", cfg->beta2}, {"eps", cfg->eps}, {"gamma", cfg->gamma},
        {"eta_min", cfg->eta_min}, {"pct_start", cfg->pct_start}, {"div_factor", cfg->div_factor},
        {"final_div_factor", cfg->final_div_factor},
        {"warmup_start_factor", cfg->warmup_start_factor}, {"clip_norm", cfg->clip_norm},
        {"clip_value", cfg->clip_value},
        {"base_momentum", cfg->base_momentum}, {"max_momentum", cfg->max_momentum},
        {"label smoothing", cfg->label_smoothing}, {"end_lr", cfg->end_lr},
        {"EMA decay", cfg->ema_decay}, {"alpha", cfg->alpha},
        {"momentum decay", cfg->momentum_decay}, {"lr decay", cfg->lr_decay},
        {"bias weight decay", cfg->bias_weight_decay},
        {"plateau threshold", cfg->plateau_threshold}, {"plateau min_lr", cfg->plateau_min_lr},
        {"norm weight decay", cfg->norm_weight_decay},
        {"initial accumulator", cfg->initial_accumulator},
    };
    for (size_t i = 0; i < sizeof floats / sizeof floats[0]; i++) /* (a train state holds them) */
        if (!isfinite(floats[i].v))
            return ct_fail(CT_ERR_INVALID, "%s must be a finite number, got %g", floats[i].name,
                           (double)floats[i].v);
    if ((unsigned)cfg->optimizer > CT_ADAGRAD)
        return ct_fail(CT_ERR_INVALID, "unknown optimizer %d", (int)cfg->optimizer);
    if (!(cfg->momentum >= 0.0f))
        return ct_fail(CT_ERR_INVALID, "momentum must be >= 0, got %g", cfg->momentum);
    if (cfg->weight_decay < 0.0f)
        return ct_fail(CT_ERR_INVALID, "weight decay must be >= 0, got %g", cfg->weight_decay);
    if (cfg->bias_weight_decay < 0.0f || cfg->norm_weight_decay < 0.0f ||
        (cfg->bias_wd_set != 0 && cfg->bias_wd_set != 1) ||
        (cfg->norm_wd_set != 0 && cfg->norm_wd_set != 1))
        return ct_fail(CT_ERR_INVALID, "bias and norm weight decay must be >= 0 (and their set "
                       "flags 0 or 1), got %g, %g (%d, %d)", (double)cfg->bias_weight_decay,
                       (double)cfg->norm_weight_decay, cfg->bias_wd_set, cfg->norm_wd_set);
    if (cfg->cycle_momentum) {
        if (cfg->cycle_momentum != 1)
            return ct_fail(CT_ERR_INVALID, "cycle_momentum must be 0 or 1, got %d",
                           cfg->cycle_momentum);
        if (cfg->schedule != CT_SCHED_ONECYCLE && cfg->schedule != CT_SCHED_CYCLIC)
            return ct_fail(CT_ERR_INVALID, "momentum cycling belongs to the one-cycle and cyclic "
                           "schedules");
        if (!(cfg->base_momentum >= 0.0f && cfg->base_momentum < 1.0f) ||
            !(cfg->max_momentum >= 0.0f && cfg->max_momentum < 1.0f))
            return ct_fail(CT_ERR_INVALID, "cycled momentum: base and max must be in [0, 1), "
                           "got %g and %g", cfg->base_momentum, cfg->max_momentum);
        if (cfg->momentum != 0.0f || cfg->beta1 != 0.0f)
            return ct_fail(CT_ERR_INVALID, "the %s schedule cycles the momentum (beta1 of Adam): "
                           "a fixed %s of %g cannot be kept with it",
                           cfg->schedule == CT_SCHED_CYCLIC ? "cyclic" : "one-cycle",
                           cfg->momentum != 0.0f ? "momentum" : "beta1",
                           cfg->momentum != 0.0f ? cfg->momentum : cfg->beta1);
    }
    if ((cfg->alpha != 0.0f || cfg->centered) && cfg->optimizer != CT_RMSPROP)
        return ct_fail(CT_ERR_INVALID, "alpha and centered apply to RMSprop");
    if (cfg->momentum_decay != 0.0f && cfg->optimizer != CT_NADAM)
        return ct_fail(CT_ERR_INVALID, "momentum_decay applies to NAdam");
    if (cfg->optimizer == CT_NADAM && !(cfg->momentum_decay >= 0.0f))
        return ct_fail(CT_ERR_INVALID, "NAdam's momentum_decay must be >= 0, got %g",
                       (double)cfg->momentum_decay);
    if (cfg->optimizer == CT_NADAM && cfg->cycle_momentum)
        return ct_fail(CT_ERR_INVALID, "NAdam's beta1 follows its own schedule (momentum_decay): "
                       "no schedule can cycle it");
    if ((cfg->amsgrad != 0 && cfg->amsgrad != 1) ||
        (cfg->amsgrad && cfg->optimizer != CT_ADAM && cfg->optimizer != CT_ADAMW))
        return ct_fail(CT_ERR_INVALID, "amsgrad applies to Adam and AdamW (0 or 1, got %d)",
                       cfg->amsgrad);
    if ((cfg->lr_decay != 0.0f || cfg->initial_accumulator != 0.0f) &&
        cfg->optimizer != CT_ADAGRAD)
        return ct_fail(CT_ERR_INVALID, "lr_decay and initial_accumulator apply to Adagrad");
    if (cfg->optimizer == CT_SGD) {
        /* (a cycled momentum always reaches a value > 0: both 0 are the defaults) */
        if (cfg->nesterov && cfg->momentum <= 0.0f && !cfg->cycle_momentum)
            return ct_fail(CT_ERR_INVALID, "Nesterov momentum requires a momentum > 0");
    } else if (cfg->optimizer == CT_RMSPROP) {
        if (cfg->nesterov || cfg->beta1 != 0.0f || cfg->beta2 != 0.0f)
            return ct_fail(CT_ERR_INVALID, "RMSprop takes no %s", cfg->nesterov ? "Nesterov "
                           "momentum" : "betas");
        if (!(cfg->alpha >= 0.0f && cfg->alpha < 1.0f))
            return ct_fail(CT_ERR_INVALID, "RMSprop's alpha must be in [0, 1), got %g",
                           (double)cfg->alpha);
        if (cfg->centered != 0 && cfg->centered != 1)
            return ct_fail(CT_ERR_INVALID, "RMSprop's centered must be 0 or 1, got %d",
                           cfg->centered);
        if (!(cfg->eps >= 0.0f))
            return ct_fail(CT_ERR_INVALID, "RMSprop eps must be >= 0, got %g", cfg->eps);
    } else if (cfg->optimizer == CT_ADAGRAD) {
        if (cfg->momentum != 0.0f || cfg->nesterov || cfg->beta1 != 0.0f || cfg->beta2 != 0.0f ||
            cfg->cycle_momentum)
            return ct_fail(CT_ERR_INVALID, "Adagrad takes no momentum or betas (nor a cycled "
                           "momentum)");
        if (!(cfg->lr_decay >= 0.0f) || !(cfg->initial_accumulator >= 0.0f) ||
            !(cfg->eps >= 0.0f))
            return ct_fail(CT_ERR_INVALID, "Adagrad's lr_decay, initial_accumulator and eps must "
                           "be >= 0, got %g, %g and %g", (double)cfg->lr_decay,
                           (double)cfg->initial_accumulator, (double)cfg->eps);
    } else {
        const char *name = cfg->optimizer == CT_ADAM     ? "Adam"
                           : cfg->optimizer == CT_NADAM  ? "NAdam"
                           : cfg->optimizer == CT_RADAM  ? "RAdam"
                           : cfg->optimizer == CT_ADAMAX ? "Adamax"
                                                         : "AdamW";
        if (cfg->momentum != 0.0f || cfg->nesterov)
            return ct_fail(CT_ERR_INVALID, "momentum and Nesterov apply to SGD; %s uses betas",
                           name);
        if (!(cfg->beta1 >= 0.0f && cfg->beta1 < 1.0f) || !(cfg->beta2 >= 0.0f && cfg->beta2 < 1.0f))
            return ct_fail(CT_ERR_INVALID, "%s betas must be in [0, 1), got %g and %g", name,
                           cfg->beta1, cfg->beta2);
        if (!(cfg->eps >= 0.0f))
            return ct_fail(CT_ERR_INVALID, "%s eps must be >= 0, got %g", name, cfg->eps);
    }
    switch (cfg->schedule) {
    case CT_SCHED_PHASES: break;
    case CT_SCHED_STEP:
        if (cfg->step_size <= 0)
            return ct_fail(CT_ERR_INVALID, "step schedule: step_size must be a positive number "
                           "of epochs, got %d", cfg->step_size);
        if (!(cfg->gamma >= 0.0f))
            return ct_fail(CT_ERR_INVALID, "step schedule: gamma must be > 0, got %g", cfg->gamma);
        break;
    case CT_SCHED_COSINE:
        if (!(cfg->eta_min >= 0.0f))
            return ct_fail(CT_ERR_INVALID, "cosine schedule: eta_min must be >= 0, got %g",
                           cfg->eta_min);
        break;
    case CT_SCHED_ONECYCLE:
        if (!(cfg->pct_start >= 0.0f && cfg->pct_start < 1.0f))
            return ct_fail(CT_ERR_INVALID, "one-cycle schedule: pct_start must be in (0, 1), got "
                           "%g", cfg->pct_start);
        if (!(cfg->div_factor >= 0.0f) || !(cfg->final_div_factor >= 0.0f))
            return ct_fail(CT_ERR_INVALID, "one-cycle schedule: div_factor and final_div_factor "
                           "must be > 0, got %g and %g", cfg->div_factor, cfg->final_div_factor);
        if ((cfg->three_phase != 0 && cfg->three_phase != 1) ||
            (cfg->anneal_linear != 0 && cfg->anneal_linear != 1))
            return ct_fail(CT_ERR_INVALID, "one-cycle schedule: three_phase and anneal_linear "
                           "must be 0 or 1, got %d and %d", cfg->three_phase, cfg->anneal_linear);
        break;
    case CT_SCHED_PLATEAU:
        if (!(cfg->gamma >= 0.0f && cfg->gamma < 1.0f))
            return ct_fail(CT_ERR_INVALID, "plateau schedule: gamma (the factor) must be in "
                           "(0, 1), got %g", cfg->gamma);
        break;
    case CT_SCHED_COSINE_RESTARTS:
        if (cfg->restart_epochs < 1 || cfg->restart_mult < 0)
            return ct_fail(CT_ERR_INVALID, "cosine restarts: the first cycle's epochs (T_0) must "
                           "be > 0 and the growth (T_mult) >= 1 (0: 1), got %d and %d",
                           cfg->restart_epochs, cfg->restart_mult);
        if (!(cfg->eta_min >= 0.0f))
            return ct_fail(CT_ERR_INVALID, "cosine restarts: eta_min must be >= 0, got %g",
                           cfg->eta_min);
        break;
    case CT_SCHED_EXPONENTIAL:
        if (!(cfg->gamma >= 0.0f))
            return ct_fail(CT_ERR_INVALID, "exponential schedule: gamma must be >= 0 (0: 0.1), "
                           "got %g", cfg->gamma);
        break;
    case CT_SCHED_MULTISTEP:
        if (cfg->num_milestones < 1)
            return ct_fail(CT_ERR_INVALID, "multistep schedule: at least one milestone needed");
        for (int i = 0; i < cfg->num_milestones && i < CT_MAX_MILESTONES; i++)
            if (cfg->milestones[i] < 1 || cfg->milestones[i] > CT_MAX_EPOCHS ||
                (i > 0 && cfg->milestones[i] <= cfg->milestones[i - 1]))
                return ct_fail(CT_ERR_INVALID, "multistep schedule: milestones must be epochs "
                               "1..%d in increasing order, got %d after %d", CT_MAX_EPOCHS,
                               cfg->milestones[i], i > 0 ? cfg->milestones[i - 1] : 0);
        if (!(cfg->gamma >= 0.0f))
            return ct_fail(CT_ERR_INVALID, "multistep schedule: gamma must be >= 0 (0: 0.1), got "
                           "%g", (double)cfg->gamma);
        break;
    case CT_SCHED_POLYNOMIAL: break; /* (power: below) */
    case CT_SCHED_CYCLIC:
        if (!(cfg->cyclic_base_lr > 0.0f && cfg->cyclic_base_lr <= FLT_MAX) ||
            !(cfg->cyclic_up > 0.0f && cfg->cyclic_up <= FLT_MAX) ||
            !(cfg->cyclic_down >= 0.0f && cfg->cyclic_down <= FLT_MAX))
            return ct_fail(CT_ERR_INVALID, "cyclic schedule: base_lr and the steps up must be "
                           "finite and > 0, the steps down finite and >= 0 (0: as up), got %g, "
                           "%g and %g",
                           (double)cfg->cyclic_base_lr, (double)cfg->cyclic_up,
                           (double)cfg->cyclic_down);
        if (cfg->cyclic_mode < CT_CYCLIC_TRIANGULAR || cfg->cyclic_mode > CT_CYCLIC_EXP_RANGE ||
            !(cfg->gamma >= 0.0f))
            return ct_fail(CT_ERR_INVALID, "cyclic schedule: mode must be 0..2 and gamma >= 0 (0: "
                           "1), got %d and %g", cfg->cyclic_mode, (double)cfg->gamma);
        break;
    case CT_SCHED_RANGE_TEST:
        if (!(cfg->end_lr > 0.0f))
            return ct_fail(CT_ERR_INVALID, "range test: end_lr must be > 0, got %g",
                           (double)cfg->end_lr);
        break;
    default: return ct_fail(CT_ERR_INVALID, "unknown schedule %d", (int)cfg->schedule);
    }
    if (cfg->num_milestones < 0 || cfg->num_milestones > CT_MAX_MILESTONES ||
        (cfg->num_milestones > 0 && cfg->schedule != CT_SCHED_MULTISTEP))
        return ct_fail(CT_ERR_INVALID, "milestones: 1..%d for the multistep schedule, none for "
                       "another, got %d", CT_MAX_MILESTONES, cfg->num_milestones);
    if (!(cfg->power >= 0.0f && cfg->power <= FLT_MAX))
        return ct_fail(CT_ERR_INVALID, "power (the polynomial schedule's) must be finite and >= 0 "
                       "(0: 1), got %g", (double)cfg->power);
    /* the plateau schedule's settings, whatever the schedule (a train state holds them) */
    if (cfg->plateau_patience < CT_PATIENCE_NONE)
        return ct_fail(CT_ERR_INVALID, "plateau schedule: patience must be an epoch count "
                       "(0: 10) or CT_PATIENCE_NONE (-1: none), got %d",
                       cfg->plateau_patience);
    if (!(cfg->plateau_threshold >= 0.0f && cfg->plateau_threshold <= FLT_MAX) &&
        cfg->plateau_threshold != CT_THRESHOLD_NONE)
        return ct_fail(CT_ERR_INVALID, "plateau schedule: threshold must be finite and >= 0 "
                       "(0: 1e-4) or CT_THRESHOLD_NONE (-1: 0), got %g",
                       (double)cfg->plateau_threshold);
    if ((cfg->plateau_threshold_abs != 0 && cfg->plateau_threshold_abs != 1) ||
        cfg->plateau_cooldown < 0 ||
        !(cfg->plateau_min_lr >= 0.0f && cfg->plateau_min_lr <= FLT_MAX))
        return ct_fail(CT_ERR_INVALID, "plateau schedule: threshold_abs must be 0 or 1, "
                       "cooldown >= 0 and min_lr finite and >= 0, got %d, %d and %g",
                       cfg->plateau_threshold_abs, cfg->plateau_cooldown,
                       (double)cfg->plateau_min_lr);
    if (cfg->warmup_steps < 0 || cfg->warmup_epochs < 0)
        return ct_fail(CT_ERR_INVALID, "warm-up length must be >= 0, got %d steps, %d epochs",
                       cfg->warmup_steps, cfg->warmup_epochs);
    if (!(cfg->warmup_start_factor >= 0.0f && cfg->warmup_start_factor <= 1.0f))
        return ct_fail(CT_ERR_INVALID, "warm-up start factor must be in (0, 1], got %g",
                       cfg->warmup_start_factor);
    if (cfg->warmup_constant != 0 && cfg->warmup_constant != 1)
        return ct_fail(CT_ERR_INVALID, "warmup_constant must be 0 or 1, got %d",
                       cfg->warmup_constant);
    if ((cfg->warmup_sequential != 0 && cfg->warmup_sequential != 1) ||
        (cfg->lr_step_epoch != 0 && cfg->lr_step_epoch != 1))
        return ct_fail(CT_ERR_INVALID, "warmup_sequential and lr_step_epoch must be 0 or 1, got "
                       "%d and %d", cfg->warmup_sequential, cfg->lr_step_epoch);
    if (cfg->lr_step_epoch && cfg->warmup_steps > 0)
        return ct_fail(CT_ERR_INVALID, "a warm-up of %d optimizer steps with a schedule that "
                       "moves once an epoch: give warmup_epochs", cfg->warmup_steps);
    if (cfg->warmup_sequential &&
        (cfg->warmup_epochs <= 0 || cfg->warmup_steps > 0 || cfg->schedule == CT_SCHED_ONECYCLE ||
         cfg->schedule == CT_SCHED_CYCLIC || cfg->schedule == CT_SCHED_PLATEAU ||
         cfg->schedule == CT_SCHED_RANGE_TEST))
        return ct_fail(CT_ERR_INVALID, "a sequential warm-up needs warmup_epochs (not steps) and "
                       "a schedule SequentialLR can start after it (not onecycle, cyclic, "
                       "plateau or the range test)");
    if (cfg->warmup_sequential && cfg->schedule == CT_SCHED_PHASES && cfg->num_phases > 1)
        return ct_fail(CT_ERR_INVALID, "a sequential warm-up with %d phases, whose epochs count "
                       "from the run's start: give one lr, or a schedule", cfg->num_phases);
    if (!(cfg->clip_norm >= 0.0f))
        return ct_fail(CT_ERR_INVALID, "gradient clipping norm must be > 0, got %g",
                       cfg->clip_norm);
    if (!(cfg->clip_value >= 0.0f) || (cfg->clip_value > 0.0f && cfg->clip_norm > 0.0f))
        return ct_fail(CT_ERR_INVALID, "gradient clipping value must be > 0, and not with a "
                       "clipping norm, got %g", (double)cfg->clip_value);
    if (!(cfg->label_smoothing >= 0.0f && cfg->label_smoothing <= 1.0f))
        return ct_fail(CT_ERR_INVALID, "label smoothing must be in [0, 1], got %g",
                       (double)cfg->label_smoothing);
    if (!(cfg->mixup_alpha >= 0.0f && cfg->mixup_alpha <= CT_MAX_MIX_ALPHA) ||
        !(cfg->cutmix_alpha >= 0.0f && cfg->cutmix_alpha <= CT_MAX_MIX_ALPHA))
        return ct_fail(CT_ERR_INVALID, "MixUp's and CutMix's alphas must be in [0, %g], got %g "
                       "and %g", (double)CT_MAX_MIX_ALPHA, (double)cfg->mixup_alpha,
                       (double)cfg->cutmix_alpha);
    if ((cfg->mixup_alpha > 0.0f || cfg->cutmix_alpha > 0.0f) && cfg->n_class_weights > 0)
        return ct_fail(CT_ERR_INVALID, "class weights do not go with MixUp or CutMix (a mixed "
                       "image has two classes)");
    if (cfg->plateau_max != 0 && cfg->plateau_max != 1)
        return ct_fail(CT_ERR_INVALID, "plateau_max must be 0 (val_loss) or 1 (accuracy), got %d",
                       cfg->plateau_max);
    if (cfg->n_class_weights < 0 || cfg->n_class_weights > CT_MAX_CLASSES)
        return ct_fail(CT_ERR_INVALID, "class weights: %d of them (at most %d)",
                       cfg->n_class_weights, CT_MAX_CLASSES);
    for (int c = 0; c < cfg->n_class_weights; c++)
        if (!(cfg->class_weights[c] >= 0.0f && cfg->class_weights[c] <= FLT_MAX))
            return ct_fail(CT_ERR_INVALID, "class %d's weight must be finite and >= 0, got %g",
                           c, (double)cfg->class_weights[c]);
    if (!(cfg->ema_decay >= 0.0f && cfg->ema_decay < 1.0f))
        return ct_fail(CT_ERR_INVALID, "the moving average's decay must be in [0, 1), got %g",
                       (double)cfg->ema_decay);
    if (cfg->ema_warmup != 0 && cfg->ema_warmup != 1)
        return ct_fail(CT_ERR_INVALID, "the moving average's warm-up must be 0 or 1, got %d",
                       cfg->ema_warmup);
    if (cfg->ema_warmup && cfg->ema_decay <= 0.0f)
        return ct_fail(CT_ERR_INVALID, "the moving average's warm-up needs a decay (ema_decay "
                       "is 0: no average)");
    if (cfg->augment_pad < 0 || cfg->augment_pad > CT_MAX_AUGMENT_PAD)
        return ct_fail(CT_ERR_INVALID, "augmentation crop padding must be in [0, %d], got %d",
                       CT_MAX_AUGMENT_PAD, cfg->augment_pad);
    if (cfg->augment_flip != 0 && cfg->augment_flip != 1)
        return ct_fail(CT_ERR_INVALID, "augmentation flip must be 0 or 1, got %d",
                       cfg->augment_flip);
    if (cfg->augment_vflip != 0 && cfg->augment_vflip != 1)
        return ct_fail(CT_ERR_INVALID, "augmentation vertical flip must be 0 or 1, got %d",
                       cfg->augment_vflip);
    if (!(cfg->augment_degrees >= 0.0f && cfg->augment_degrees <= 180.0f))
        return ct_fail(CT_ERR_INVALID, "augmentation rotation must be in [0, 180] degrees, "
                       "got %g", (double)cfg->augment_degrees);
    if (!(cfg->augment_translate >= 0.0f && cfg->augment_translate <= 1.0f))
        return ct_fail(CT_ERR_INVALID, "augmentation translation must be a fraction in [0, 1], "
                       "got %g", (double)cfg->augment_translate);
    if (!(cfg->augment_scale_min == 0.0f && cfg->augment_scale_max == 0.0f) &&
        !(cfg->augment_scale_min > 0.0f && cfg->augment_scale_min <= cfg->augment_scale_max &&
          cfg->augment_scale_max <= CT_MAX_AUGMENT_SCALE))
        return ct_fail(CT_ERR_INVALID, "augmentation scale range must be 0 < min <= max <= %g "
                       "(both 0: none), got [%g, %g]", (double)CT_MAX_AUGMENT_SCALE,
                       (double)cfg->augment_scale_min, (double)cfg->augment_scale_max);
    if (!(cfg->augment_shear >= 0.0f && cfg->augment_shear <= 89.0f))
        return ct_fail(CT_ERR_INVALID, "augmentation shear must be in [0, 89] degrees, got %g",
                       (double)cfg->augment_shear);
    if (cfg->augment_bilinear != 0 && cfg->augment_bilinear != 1)
        return ct_fail(CT_ERR_INVALID, "augmentation interpolation must be 0 (nearest) or 1 "
                       "(bilinear), got %d", cfg->augment_bilinear);
    if (cfg->augment_bilinear && cfg->augment_degrees == 0.0f && cfg->augment_translate == 0.0f &&
        cfg->augment_scale_max == 0.0f && cfg->augment_shear == 0.0f && !ct_aa_configured(cfg))
        return ct_fail(CT_ERR_INVALID, "augmentation interpolation bilinear needs a warp "
                       "(rotation, translation, scale, shear, or an automatic augmentation's)");
    if (!(cfg->augment_erase_p >= 0.0f && cfg->augment_erase_p <= 1.0f))
        return ct_fail(CT_ERR_INVALID, "random erasing's chance must be in [0, 1], got %g",
                       (double)cfg->augment_erase_p);
    for (int k = 0; k < CT_MAX_NORM_CHANNELS; k++) /* (a normalize mean may lie outside [0, 1]) */
        if (!isfinite(cfg->augment_erase_fill[k]))
            return ct_fail(CT_ERR_INVALID, "random erasing's fill (channel %d) must be finite, "
                           "got %g", k, (double)cfg->augment_erase_fill[k]);
    for (int k = 0; k < 4; k++)
        if (!(cfg->augment_jitter[k] >= 0.0f && cfg->augment_jitter[k] <= (k == 3 ? 0.5f
                                                                                : CT_MAX_JITTER)))
            return ct_fail(CT_ERR_INVALID, "colour jitter's %s must be in [0, %g], got %g",
                           k == 0 ? "brightness" : k == 1 ? "contrast" : k == 2 ? "saturation"
                                                                                : "hue",
                           k == 3 ? 0.5 : (double)CT_MAX_JITTER, (double)cfg->augment_jitter[k]);
    if (cfg->augment_ta_bins != 0 &&
        (cfg->augment_ta_bins < 2 || cfg->augment_ta_bins > CT_MAX_TA_BINS))
        return ct_fail(CT_ERR_INVALID, "TrivialAugmentWide's magnitude bins must be in [2, %d], "
                       "got %d", CT_MAX_TA_BINS, cfg->augment_ta_bins);
    if (cfg->repeated_aug < 0 || cfg->repeated_aug > CT_MAX_REPEATED_AUG)
        return ct_fail(CT_ERR_INVALID, "repeated augmentation's copies must be in [0, %d], got %d",
                       CT_MAX_REPEATED_AUG, cfg->repeated_aug);
    if (cfg->augment_ra_ops < 0 || cfg->augment_ra_ops > CT_MAX_RA_OPS)
        return ct_fail(CT_ERR_INVALID, "RandAugment's ops an image must be in [0, %d], got %d",
                       CT_MAX_RA_OPS, cfg->augment_ra_ops);
    if (cfg->augment_ra_ops != 0 &&
        (cfg->augment_ra_bins < 2 || cfg->augment_ra_bins > CT_MAX_TA_BINS))
        return ct_fail(CT_ERR_INVALID, "RandAugment's magnitude bins must be in [2, %d], got %d",
                       CT_MAX_TA_BINS, cfg->augment_ra_bins);
    if (cfg->augment_ra_ops != 0 &&
        (cfg->augment_ra_magnitude < 0 || cfg->augment_ra_magnitude >= cfg->augment_ra_bins))
        return ct_fail(CT_ERR_INVALID, "RandAugment's magnitude must be a bin in [0, %d], got "
                       "%d", cfg->augment_ra_bins - 1, cfg->augment_ra_magnitude);
    if (cfg->augment_aa_policy < CT_AUTOAUGMENT_NONE ||
        cfg->augment_aa_policy > CT_AUTOAUGMENT_SVHN)
        return ct_fail(CT_ERR_INVALID, "AutoAugment's policy must be 0 (none) to %d, got %d",
                       CT_AUTOAUGMENT_SVHN, cfg->augment_aa_policy);
    if (cfg->augment_augmix_severity < 0 || cfg->augment_augmix_severity > CT_MAX_AUGMIX_SEVERITY)
        return ct_fail(CT_ERR_INVALID, "AugMix's severity must be in [0, %d], got %d",
                       CT_MAX_AUGMIX_SEVERITY, cfg->augment_augmix_severity);
    if (cfg->augment_augmix_severity != 0 &&
        (cfg->augment_augmix_width < 1 || cfg->augment_augmix_width > CT_MAX_AUGMIX_WIDTH))
        return ct_fail(CT_ERR_INVALID, "AugMix's chains (mixture width) must be 1 to %d, got %d",
                       CT_MAX_AUGMIX_WIDTH, cfg->augment_augmix_width);
    if (cfg->augment_augmix_severity != 0 && cfg->augment_augmix_depth != -1 &&
        (cfg->augment_augmix_depth < 1 || cfg->augment_augmix_depth > CT_MAX_AUGMIX_DEPTH))
        return ct_fail(CT_ERR_INVALID, "AugMix's chain depth must be 1 to %d, or -1 (1 to 3 at "
                       "random), got %d", CT_MAX_AUGMIX_DEPTH, cfg->augment_augmix_depth);
    if (cfg->augment_augmix_severity != 0 && !(cfg->augment_augmix_alpha > 0.0f &&
                                               cfg->augment_augmix_alpha <= CT_MAX_AUGMIX_ALPHA))
        return ct_fail(CT_ERR_INVALID, "AugMix's alpha must be in (0, %g], got %g",
                       (double)CT_MAX_AUGMIX_ALPHA, (double)cfg->augment_augmix_alpha);
    if (ct_aa_configured(cfg) > 1)
        return ct_fail(CT_ERR_INVALID, "TrivialAugmentWide, RandAugment, AutoAugment and AugMix "
                       "are each a whole policy: one of them, not %d", ct_aa_configured(cfg));
    ct_augment aa;
    const char *aa_name = ct_aa_of_config(cfg, &aa);
    if (aa_name && (cfg->augment_jitter[0] > 0.0f || cfg->augment_jitter[1] > 0.0f ||
                    cfg->augment_jitter[2] > 0.0f || cfg->augment_jitter[3] > 0.0f))
        return ct_fail(CT_ERR_INVALID, "%s and colour jitter are not taken together (its ops "
                       "include brightness, colour and contrast)", aa_name);
    if (!(cfg->augment_grey_p >= 0.0f && cfg->augment_grey_p <= 1.0f))
        return ct_fail(CT_ERR_INVALID, "random greyscale's chance must be in [0, 1], got %g",
                       (double)cfg->augment_grey_p);
    if (cfg->augment_grey_p > 0.0f && aa_name)
        return ct_fail(CT_ERR_INVALID, "%s and random greyscale are not taken together (%s "
                       "works on the bytes before any colouring)", aa_name, aa_name);
    if (cfg->augment_area_min == 0.0f && cfg->augment_area_max == 0.0f) {
        if (cfg->augment_ratio_min != 0.0f || cfg->augment_ratio_max != 0.0f)
            return ct_fail(CT_ERR_INVALID, "a resized crop's ratio range [%g, %g] without its "
                           "area range", (double)cfg->augment_ratio_min,
                           (double)cfg->augment_ratio_max);
        return CT_OK;
    }
    if (!(cfg->augment_area_min > 0.0f && cfg->augment_area_min <= cfg->augment_area_max &&
          cfg->augment_area_max <= 1.0f))
        return ct_fail(CT_ERR_INVALID, "a resized crop's area range must be 0 < min <= max <= 1 "
                       "(both 0: none), got [%g, %g]", (double)cfg->augment_area_min,
                       (double)cfg->augment_area_max);
    if (!(cfg->augment_ratio_min >= 1.0f / CT_MAX_AUGMENT_RATIO &&
          cfg->augment_ratio_min <= cfg->augment_ratio_max &&
          cfg->augment_ratio_max <= CT_MAX_AUGMENT_RATIO))
        return ct_fail(CT_ERR_INVALID, "a resized crop's ratio range must be 1/%g <= min <= max "
                       "<= %g, got [%g, %g]", (double)CT_MAX_AUGMENT_RATIO,
                       (double)CT_MAX_AUGMENT_RATIO, (double)cfg->augment_ratio_min,
                       (double)cfg->augment_ratio_max);
    if (cfg->augment_pad > 0 || cfg->augment_degrees != 0.0f || cfg->augment_translate != 0.0f ||
        cfg->augment_scale_max != 0.0f || cfg->augment_shear != 0.0f)
        return ct_fail(CT_ERR_INVALID, "a resized crop replaces the warp (rotation, translation, "
                       "scale, shear) and the padded crop: not both");
    return CT_OK;
}

ct_status ct_train_config_check(const ct_train_config *cfg) {
    if (cfg->num_phases < 1 || cfg->num_phases > CT_MAX_PHASES)
        return ct_fail(CT_ERR_INVALID, "schedule: %d phases (1..%d allowed)", cfg->num_phases,
                       CT_MAX_PHASES);
    int64_t total = 0;
    for (int p = 0; p < cfg->num_phases; p++) {
        if (cfg->phases[p].epochs < 0 || !(cfg->phases[p].lr > 0.0f) || !isfinite(cfg->phases[p].lr))
            return ct_fail(CT_ERR_INVALID, "schedule phase %d: %d epochs at lr %g (epochs >= 0 "
                           "and a finite lr > 0 expected)", p + 1, cfg->phases[p].epochs,
                           (double)cfg->phases[p].lr);
        total += cfg->phases[p].epochs;
    }
    if (total > CT_MAX_EPOCHS)
        return ct_fail(CT_ERR_INVALID, "schedule: %lld epochs in all (at most %d)", (long long)total,
                       CT_MAX_EPOCHS);
    CT_TRY(swa_check(cfg, total));
    return ct_optimizer_config_check(cfg);
}
