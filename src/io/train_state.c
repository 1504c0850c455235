/*
 * train_state.c — train_state.safetensors: everything `ctrain train --resume` needs; read
 * here (written by train_state_save.c).
 *
 * Tensors: "model.NAME" (a copy of the parameters: the file is a complete resume point even if
 * a kill lands between the renames of the two files of a save) and "optimizer.NAME.SLOT" (the
 * optimizer's state viewed per parameter tensor, PyTorch's state keys: SLOT momentum_buffer
 * for SGD; exp_avg and exp_avg_sq for a two-slot optimizer such as Adam (Adamax: exp_avg,
 * exp_inf; Adagrad: unused, sum); exp_avg, exp_avg_sq and max_exp_avg_sq for AMSGrad;
 * momentum_buffer, square_avg and grad_avg for RMSprop, whose three are always there, zeros
 * when unused; a state whose size is not a
 * multiple of the parameter count is one flat tensor "optimizer.state").
 * Metadata (values are strings; JSON where structured):
 *     format "ctrain-train-state", ctrain_version, model_spec, input_shape, classes, param_count
 *     position          {"epoch": E, "batch": B, "loss_sum": L, "correct": C, "seconds": S}
 *     optimizer_steps   "N"
 *     optimizer_state   {"count": N, "slots": ["momentum_buffer"]}
 *     config            {"phases": [[5, 0.5], [5, 0.1]], "batch_size": 128, ..., "seed": "42",
 *                        "optimizer": 0, "schedule": 0, ..., "clip_norm": 0} (every field of
 *                        ct_train_config but resume; enums as numbers; and
 *                        "weight_decay_as_is": 1, absent before 5 Dec 2026, when AdamW's 0
 *                        meant 0.01)
 *     history           {"before": {"loss": ..., "accuracy": ..., "count": ...} | null,
 *                        "epochs": [{"epoch": 0, ... as ct_epoch_json, "val_count": N}, ...]}
 *     ema_updates       "N" (a run with config "ema_decay" > 0: then tensors "ema.NAME" hold
 *                        the moving average of the weights, "model.NAME" the trained ones)
 *     swa_updates       "N" (a run with config "swa" 1: the epochs averaged, tensors "swa.NAME"
 *                        their average; with N 0 the trained weights)
 *     + the caller's extra entries (the tool's options: dataset, val_size, ...)
 * Doubles are written with 17 significant digits, so they read back bit for bit.
 */
#include "io/checkpoint.h"

#include "nn/model.h"

#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------------------------ */
/* loading                                                                                     */

#define BAD(...) ct_fail(CT_ERR_FORMAT, __VA_ARGS__)

/* Parses metadata key as a JSON object (*out, to json_decref). */
static ct_status meta_json(const ct_checkpoint *c, const char *key, json_t **out) {
    const char *v = ct_checkpoint_meta(c, key);
    if (!v) return BAD("%s: no \"%s\" in the metadata", c->path, key);
    json_error_t err;
    *out = json_loads(v, 0, &err);
    if (!*out) return BAD("%s: metadata %s: malformed JSON: %s", c->path, key, err.text);
    if (!json_is_object(*out)) {
        json_decref(*out);
        *out = NULL;
        return BAD("%s: metadata %s is not a JSON object", c->path, key);
    }
    return CT_OK;
}

/* Field readers: 0 when absent or of the wrong type. null reads as NaN for doubles. */
static int get_int(const json_t *o, const char *k, long long lo, long long hi, long long *out) {
    const json_t *v = json_object_get(o, k);
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) return 0;
    *out = json_integer_value(v);
    return 1;
}

static int get_double(const json_t *o, const char *k, double *out) {
    const json_t *v = json_object_get(o, k);
    if (json_is_null(v)) {
        *out = NAN;
        return 1;
    }
    if (!json_is_number(v)) return 0;
    *out = json_number_value(v);
    return 1;
}

#define NEED_INT(obj, key, lo, hi, dst, what)                                                 \
    do {                                                                                      \
        long long v_;                                                                         \
        if (!get_int(obj, key, lo, hi, &v_))                                                  \
            return BAD("%s: %s: \"%s\" missing or out of range", c->path, what, key);         \
        dst = v_;                                                                             \
    } while (0)
#define NEED_DOUBLE(obj, key, dst, what)                                                      \
    do {                                                                                      \
        if (!get_double(obj, key, &(dst)))                                                    \
            return BAD("%s: %s: \"%s\" missing or not a number", c->path, what, key);         \
    } while (0)

/* A number in [lo, hi] (NaN too when nan_ok: a diverged run's loss, a run without validation) */
#define NEED_IN(obj, key, dst, lo, hi, nan_ok, what)                                          \
    do {                                                                                      \
        NEED_DOUBLE(obj, key, dst, what);                                                     \
        if (isnan(dst) ? !(nan_ok) : !((dst) >= (lo) && (dst) <= (hi)))                       \
            return BAD("%s: %s: \"%s\" is %g, not %s", c->path, what, key, (double)(dst),     \
                       (hi) == 1.0 ? "a number in [0, 1]" : "a finite number >= 0");         \
    } while (0)

static ct_status parse_config(const ct_checkpoint *c, const json_t *o, ct_train_config *cfg) {
    const json_t *ph = json_object_get(o, "phases");
    if (!json_is_array(ph) || json_array_size(ph) < 1 || json_array_size(ph) > CT_MAX_PHASES)
        return BAD("%s: config: \"phases\" is not a list of 1..%d [epochs, lr]", c->path,
                   CT_MAX_PHASES);
    cfg->num_phases = (int)json_array_size(ph);
    int total = 0;
    for (int p = 0; p < cfg->num_phases; p++) {
        const json_t *e = json_array_get(ph, (size_t)p);
        const json_t *ep = json_array_get(e, 0), *lr = json_array_get(e, 1);
        float lr_f = json_is_number(lr) ? (float)json_number_value(lr) : 0.0f; /* as it trains */
        if (!json_is_array(e) || json_array_size(e) != 2 || !json_is_integer(ep) ||
            json_integer_value(ep) < 0 || json_integer_value(ep) > CT_MAX_EPOCHS || !(lr_f > 0) ||
            !isfinite(lr_f))
            return BAD("%s: config: phase %d is not [epochs, lr] with 0..%d epochs and a "
                       "positive float lr", c->path, p + 1, CT_MAX_EPOCHS);
        cfg->phases[p].epochs = (int)json_integer_value(ep);
        cfg->phases[p].lr = lr_f;
        if ((total += cfg->phases[p].epochs) > CT_MAX_EPOCHS)
            return BAD("%s: config: the phases hold more than %d epochs", c->path, CT_MAX_EPOCHS);
    }
    const char *what = "config";
    /* the ranges ct_fit takes (a batch above the samples is one batch of them all) */
    NEED_INT(o, "batch_size", 1, INT32_MAX, cfg->batch_size, what);
    NEED_INT(o, "eval_batch_size", 1, INT32_MAX, cfg->eval_batch_size, what);
    NEED_INT(o, "workers", 0, CT_MAX_WORKERS, cfg->workers, what);
    NEED_INT(o, "prefetch", 0, INT32_MAX, cfg->prefetch, what);
    NEED_INT(o, "data_on_device", -1, 1, cfg->data_on_device, what);
    NEED_INT(o, "nesterov", 0, 1, cfg->nesterov, what);
    double mom, wd;
    NEED_DOUBLE(o, "momentum", mom, what);
    NEED_DOUBLE(o, "weight_decay", wd, what);
    cfg->momentum = (float)mom;
    cfg->weight_decay = (float)wd;
    /* optimizer, schedule, warm-up, clipping: absent in older files (then 0: the defaults) */
    /* ... but one that is there must be valid */
#define OPT_INT(key, lo, hi, dst)                                                             \
    do {                                                                                      \
        long long v_;                                                                         \
        if (json_object_get(o, key) && !get_int(o, key, lo, hi, &v_))                         \
            return BAD("%s: config: \"%s\" is not an integer in %lld..%lld", c->path, key,   \
                       (long long)(lo), (long long)(hi));                                     \
        if (json_object_get(o, key)) dst = v_;                                                \
    } while (0)
    OPT_INT("optimizer", 0, CT_ADAGRAD, cfg->optimizer);
    OPT_INT("micro_batch", 0, INT32_MAX, cfg->micro_batch); /* (absent before 6 Dec 2026: 0) */
    /* before 5 Dec 2026, AdamW took a weight decay of 0 for PyTorch's default, 0.01, and files
     * did not say "weight_decay_as_is": such a run resumes with the decay it had */
    if (cfg->optimizer == CT_ADAMW && cfg->weight_decay == 0.0f &&
        !json_object_get(o, "weight_decay_as_is"))
        cfg->weight_decay = CT_ADAMW_WEIGHT_DECAY;
    OPT_INT("schedule", 0, CT_SCHED_CYCLIC, cfg->schedule);
    OPT_INT("restart_epochs", 0, CT_MAX_EPOCHS, cfg->restart_epochs); /* (absent before 5 Dec) */
    OPT_INT("restart_mult", 0, CT_MAX_EPOCHS, cfg->restart_mult);
    OPT_INT("step_size", 0, INT32_MAX, cfg->step_size);
    OPT_INT("plateau_patience", CT_PATIENCE_NONE, INT32_MAX, cfg->plateau_patience);
    OPT_INT("plateau_max", 0, 1, cfg->plateau_max); /* (absent before 6 Dec 2026: 0) */
    OPT_INT("warmup_steps", 0, INT32_MAX, cfg->warmup_steps);
    OPT_INT("warmup_epochs", 0, INT32_MAX, cfg->warmup_epochs);
    OPT_INT("augment_pad", 0, CT_MAX_AUGMENT_PAD, cfg->augment_pad);
    OPT_INT("augment_flip", 0, 1, cfg->augment_flip);
    OPT_INT("augment_vflip", 0, 1, cfg->augment_vflip); /* (absent before 6 Dec 2026: 0) */
    OPT_INT("augment_ta_bins", 0, CT_MAX_TA_BINS, cfg->augment_ta_bins); /* (before 7 Dec: 0) */
    OPT_INT("augment_ra_ops", 0, CT_MAX_RA_OPS, cfg->augment_ra_ops); /* (the same) */
    OPT_INT("repeated_aug", 0, CT_MAX_REPEATED_AUG, cfg->repeated_aug); /* (the same) */
    OPT_INT("augment_ra_magnitude", 0, CT_MAX_TA_BINS - 1, cfg->augment_ra_magnitude);
    OPT_INT("augment_ra_bins", 0, CT_MAX_TA_BINS, cfg->augment_ra_bins);
    OPT_INT("augment_aa_policy", 0, CT_AUTOAUGMENT_SVHN, cfg->augment_aa_policy);
    OPT_INT("augment_augmix_severity", 0, CT_MAX_AUGMIX_SEVERITY, cfg->augment_augmix_severity);
    OPT_INT("augment_augmix_width", 0, CT_MAX_AUGMIX_WIDTH, cfg->augment_augmix_width);
    OPT_INT("augment_augmix_depth", -1, CT_MAX_AUGMIX_DEPTH, cfg->augment_augmix_depth);
    OPT_INT("cycle_momentum", 0, 1, cfg->cycle_momentum); /* (absent before 5 Dec 2026: 0) */
    OPT_INT("three_phase", 0, 1, cfg->three_phase);       /* (the same) */
    OPT_INT("anneal_linear", 0, 1, cfg->anneal_linear);
    OPT_INT("ema_warmup", 0, 1, cfg->ema_warmup);
    OPT_INT("centered", 0, 1, cfg->centered);
    OPT_INT("augment_bilinear", 0, 1, cfg->augment_bilinear); /* (absent before 5 Dec 2026) */
    OPT_INT("frozen_layers", 0, CT_MAX_LAYERS, cfg->frozen_layers); /* (absent in older files) */
    OPT_INT("swa", 0, 1, cfg->swa); /* (the four absent before 6 Dec 2026: no SWA) */
    OPT_INT("swa_start", 0, CT_MAX_EPOCHS, cfg->swa_start);
    OPT_INT("swa_anneal_epochs", 0, CT_MAX_EPOCHS, cfg->swa_anneal_epochs);
    OPT_INT("swa_anneal_linear", 0, 1, cfg->swa_anneal_linear);
    OPT_INT("plateau_threshold_abs", 0, 1, cfg->plateau_threshold_abs); /* (absent before 7 Dec
                                                                         * 2026: 0) */
    OPT_INT("plateau_cooldown", 0, INT32_MAX, cfg->plateau_cooldown);
    OPT_INT("bias_wd_set", 0, 1, cfg->bias_wd_set); /* (absent before 7 Dec 2026: 0) */
    OPT_INT("norm_wd_set", 0, 1, cfg->norm_wd_set);
    OPT_INT("amsgrad", 0, 1, cfg->amsgrad); /* (absent before 7 Dec 2026: 0) */
    OPT_INT("warmup_constant", 0, 1, cfg->warmup_constant); /* (the same) */
    OPT_INT("warmup_sequential", 0, 1, cfg->warmup_sequential); /* (absent before 7 Dec: 0) */
    OPT_INT("lr_step_epoch", 0, 1, cfg->lr_step_epoch);         /* (the same) */
    OPT_INT("cyclic_mode", 0, CT_CYCLIC_EXP_RANGE, cfg->cyclic_mode); /* (the same) */
#undef OPT_INT
    struct { const char *key; float *dst; } floats[] = {
        {"beta1", &cfg->beta1}, {"beta2", &cfg->beta2}, {"eps", &cfg->eps},
        {"gamma", &cfg->gamma}, {"eta_min", &cfg->eta_min}, {"pct_start", &cfg->pct_start},
        {"div_factor", &cfg->div_factor}, {"final_div_factor", &cfg->final_div_factor},
        {"warmup_start_factor", &cfg->warmup_start_factor}, {"clip_norm", &cfg->clip_norm},
        {"clip_value", &cfg->clip_value}, /* (absent before 7 Dec 2026: 0) */
        {"base_momentum", &cfg->base_momentum}, {"max_momentum", &cfg->max_momentum},
        {"label_smoothing", &cfg->label_smoothing}, /* (absent before 5 Dec 2026: 0) */
        {"end_lr", &cfg->end_lr},
        {"ema_decay", &cfg->ema_decay}, /* (absent before 5 Dec 2026: 0) */
        {"alpha", &cfg->alpha},         /* (the same) */
        {"swa_lr", &cfg->swa_lr},       /* (absent before 6 Dec 2026: 0) */
        {"momentum_decay", &cfg->momentum_decay}, /* (the same) */
        {"plateau_threshold", &cfg->plateau_threshold}, /* (absent before 7 Dec 2026: 0) */
        {"plateau_min_lr", &cfg->plateau_min_lr},
        {"lr_decay", &cfg->lr_decay}, /* (absent before 7 Dec 2026: 0) */
        {"initial_accumulator", &cfg->initial_accumulator},
        {"bias_weight_decay", &cfg->bias_weight_decay}, /* (absent before 7 Dec 2026: 0) */
        {"norm_weight_decay", &cfg->norm_weight_decay},
        {"augment_degrees", &cfg->augment_degrees}, /* (absent before 5 Dec 2026: 0) */
        {"augment_translate", &cfg->augment_translate},
        {"augment_scale_min", &cfg->augment_scale_min},
        {"augment_scale_max", &cfg->augment_scale_max},
        {"augment_shear", &cfg->augment_shear},
        {"mixup_alpha", &cfg->mixup_alpha}, /* (absent before 6 Dec 2026: 0) */
        {"cutmix_alpha", &cfg->cutmix_alpha},
        {"augment_area_min", &cfg->augment_area_min}, /* (absent before 6 Dec 2026: 0) */
        {"augment_area_max", &cfg->augment_area_max},
        {"augment_ratio_min", &cfg->augment_ratio_min},
        {"augment_ratio_max", &cfg->augment_ratio_max},
        {"augment_erase_p", &cfg->augment_erase_p},
        {"augment_erase_fill0", &cfg->augment_erase_fill[0]},
        {"augment_erase_fill1", &cfg->augment_erase_fill[1]},
        {"augment_erase_fill2", &cfg->augment_erase_fill[2]},
        {"augment_erase_fill3", &cfg->augment_erase_fill[3]},
        {"augment_brightness", &cfg->augment_jitter[0]},
        {"augment_contrast", &cfg->augment_jitter[1]},
        {"augment_saturation", &cfg->augment_jitter[2]},
        {"augment_hue", &cfg->augment_jitter[3]},
        {"augment_grey_p", &cfg->augment_grey_p}, /* (absent before 7 Dec 2026: 0) */
        {"augment_augmix_alpha", &cfg->augment_augmix_alpha}, /* (the same: 1) */
        {"power", &cfg->power}, /* (absent before 7 Dec 2026: 0) */
        {"cyclic_base_lr", &cfg->cyclic_base_lr}, /* (the same) */
        {"cyclic_up", &cfg->cyclic_up}, {"cyclic_down", &cfg->cyclic_down},
    };
    for (size_t i = 0; i < sizeof floats / sizeof floats[0]; i++) {
        double d;
        if (!json_object_get(o, floats[i].key)) continue;
        if (!get_double(o, floats[i].key, &d) || !isfinite((float)d))
            return BAD("%s: config: \"%s\" is not a finite number", c->path, floats[i].key);
        *floats[i].dst = (float)d;
    }
    const json_t *cw = json_object_get(o, "class_weights"); /* (absent before 6 Dec 2026) */
    if (cw) {
        size_t n = json_array_size(cw);
        if (!json_is_array(cw) || n < 1 || n > CT_MAX_CLASSES)
            return BAD("%s: config: \"class_weights\" is not a list of 1..%d numbers", c->path,
                       CT_MAX_CLASSES);
        for (size_t k = 0; k < n; k++) {
            const json_t *v = json_array_get(cw, k);
            float w = json_is_number(v) ? (float)json_number_value(v) : -1.0f;
            if (!(w >= 0.0f && isfinite(w)))
                return BAD("%s: config: class_weights[%zu] is not a finite number >= 0",
                           c->path, k);
            cfg->class_weights[k] = w;
        }
        cfg->n_class_weights = (int)n;
    }
    const json_t *ms = json_object_get(o, "milestones"); /* (absent before 7 Dec 2026) */
    if (ms) {
        size_t n = json_array_size(ms);
        if (!json_is_array(ms) || n < 1 || n > CT_MAX_MILESTONES)
            return BAD("%s: config: \"milestones\" is not a list of 1..%d epochs", c->path,
                       CT_MAX_MILESTONES);
        for (size_t k = 0; k < n; k++) {
            const json_t *v = json_array_get(ms, k);
            if (!json_is_integer(v) || json_integer_value(v) < 1 ||
                json_integer_value(v) > CT_MAX_EPOCHS)
                return BAD("%s: config: milestones[%zu] is not an epoch 1..%d", c->path, k,
                           CT_MAX_EPOCHS);
            cfg->milestones[k] = (int)json_integer_value(v);
        }
        cfg->num_milestones = (int)n;
    }
    const json_t *seed = json_object_get(o, "seed");
    char *end;
    errno = 0;
    if (!json_is_string(seed) || !isdigit((unsigned char)*json_string_value(seed)) ||
        (cfg->seed = strtoull(json_string_value(seed), &end, 10), *end) || errno == ERANGE)
        return BAD("%s: config: \"seed\" is not a number in a string", c->path);
    return CT_OK;
}

static ct_status parse_position(const ct_checkpoint *c, const json_t *o, ct_fit_position *p) {
    const char *what = "position";
    NEED_INT(o, "epoch", 0, CT_MAX_EPOCHS, p->epoch, what);
    NEED_INT(o, "batch", 0, INT64_MAX, p->batch, what);
    NEED_IN(o, "loss_sum", p->loss_sum, 0.0, DBL_MAX, 1, what);
    NEED_IN(o, "correct", p->correct, 0.0, DBL_MAX, 0, what); /* at most the batches' samples:
                                                                 * checked below */
    NEED_IN(o, "seconds", p->seconds, 0.0, DBL_MAX, 0, what);
    return CT_OK;
}

static ct_status parse_epoch(const ct_checkpoint *c, const json_t *o, ct_epoch_result *r) {
    const char *what = "history";
    if (!json_is_object(o)) return BAD("%s: history: an epoch is not a JSON object", c->path);
    double lr;
    NEED_INT(o, "epoch", 0, CT_MAX_EPOCHS, r->epoch, what);
    NEED_INT(o, "phase", 0, CT_MAX_PHASES - 1, r->phase, what);
    NEED_IN(o, "lr", lr, 0.0, FLT_MAX, 0, what);
    r->lr = (float)lr;
    NEED_IN(o, "train_loss", r->train_loss, 0.0, DBL_MAX, 1, what);
    NEED_IN(o, "train_acc", r->train_acc, 0.0, 1.0, 0, what);
    NEED_IN(o, "val_loss", r->val.loss, 0.0, DBL_MAX, 1, what);
    NEED_IN(o, "val_acc", r->val.accuracy, 0.0, 1.0, 1, what);
    NEED_INT(o, "val_count", 0, INT64_MAX, r->val.count, what);
    NEED_IN(o, "seconds", r->train_s, 0.0, DBL_MAX, 0, what);
    NEED_IN(o, "samples_per_s", r->samples_per_s, 0.0, DBL_MAX, 0, what);
    r->val_s = 0.0; /* absent in older files */
    if (json_object_get(o, "val_seconds"))
        NEED_IN(o, "val_seconds", r->val_s, 0.0, DBL_MAX, 0, what);
    return CT_OK;
}

static ct_status parse_history(const ct_checkpoint *c, const json_t *o, ct_eval_result *before,
                               ct_epoch_result **out, int *n_out) {
    const json_t *b = json_object_get(o, "before"), *ep = json_object_get(o, "epochs");
    ct_eval_result bf = {0};
    if (b && !json_is_null(b)) {
        const char *what = "history.before";
        NEED_IN(b, "loss", bf.loss, 0.0, DBL_MAX, 1, what);
        NEED_IN(b, "accuracy", bf.accuracy, 0.0, 1.0, 1, what);
        NEED_INT(b, "count", 0, INT64_MAX, bf.count, what);
    }
    if (before) *before = bf;
    if (!json_is_array(ep)) return BAD("%s: history: \"epochs\" is not a list", c->path);
    int n = (int)json_array_size(ep);
    ct_epoch_result *h = ct_calloc((size_t)(n ? n : 1), sizeof *h, "history");
    if (!h) return CT_ERR_NOMEM;
    for (int i = 0; i < n; i++) {
        ct_status s = parse_epoch(c, json_array_get(ep, (size_t)i), &h[i]);
        if (s == CT_OK && h[i].epoch != i)
            s = BAD("%s: history: entry %d is epoch %d", c->path, i, h[i].epoch);
        if (s) {
            free(h);
            return s;
        }
    }
    *out = h;
    *n_out = n;
    return CT_OK;
}

/* An optimizer tensor's n values, as read: finite, and (nonneg: a mean of squares) not below 0;
 * else the train state is damaged (a diverged run saves none), and the run would train on
 * NaN. */
static ct_status state_values_ok(const ct_checkpoint *c, const char *name, const float *v,
                                 int64_t n, int nonneg) {
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(v[i]) || (nonneg && v[i] < 0.0f))
            return BAD("%s: tensor %s holds %s at element %lld: a damaged train state", c->path,
                       name, isnan(v[i]) ? "NaN" : isinf(v[i]) ? "an infinity" : "a negative value",
                       (long long)i);
    return CT_OK;
}

/* Reads the optimizer tensors back into one flat state of count floats and restores it. */
static ct_status load_optimizer(const ct_checkpoint *c, ct_model *m, const json_t *o,
                                int kind) {
    long long count, steps;
    if (!get_int(o, "count", 0, INT64_MAX, &count) || !get_int(o, "steps", 0, INT64_MAX, &steps))
        return BAD("%s: optimizer_state: \"count\" or \"steps\" missing", c->path);
    int64_t np = ct_model_param_count(m);
    if (count == 0) return ct_model_set_optimizer_state(m, NULL, 0, steps);
    if (count > CT_STATE_MAX_SLOTS * np) /* before it sizes an allocation */
        return BAD("%s: optimizer_state: \"count\" %lld is more than %d values per parameter "
                   "(%lld parameters)", c->path, count, CT_STATE_MAX_SLOTS, (long long)np);
    float *state = ct_malloc((size_t)count * sizeof(float), "optimizer state");
    if (!state) return CT_ERR_NOMEM;
    int k = np > 0 && count % np == 0 && count / np <= CT_STATE_MAX_SLOTS ? (int)(count / np) : 0;
    const json_t *slots = json_object_get(o, "slots");
    ct_status s = CT_OK;
    if (k && (!json_is_array(slots) || (int)json_array_size(slots) != k))
        s = BAD("%s: optimizer_state: %lld values need %d slots", c->path, count, k);
    ct_tensor_list l = {0};
    for (int j = 0; j < k && s == CT_OK; j++) {
        const char *slot = json_string_value(json_array_get(slots, (size_t)j));
        char want_buf[16];
        const char *want = ct_state_slot_name(kind, k, j, want_buf, sizeof want_buf);
        if (!slot || strcmp(slot, want) != 0) /* the order says which is which: it is fixed */
            s = BAD("%s: optimizer_state: slot %d is not \"%s\"", c->path, j, want);
        ct_host_state view = {.params = state + (int64_t)j * np};
        if (s == CT_OK) s = ct_tensor_list_model(m, &view, "", 1, &l);
        for (int i = 0; i < l.n && s == CT_OK; i++) {
            char name[CT_LIST_NAME_BYTES + 64];
            snprintf(name, sizeof name, "optimizer.%s.%s", l.info[i].name, slot);
            int t = ct_checkpoint_find(c, name);
            if (t < 0) s = BAD("%s: missing tensor %s", c->path, name);
            else if (strcmp(c->t[t].dtype, "F32") || c->t[t].numel != l.info[i].count)
                s = BAD("%s: tensor %s: expected F32 with %lld values", c->path, name,
                        (long long)l.info[i].count);
            else {
                float *dst = state + (int64_t)j * np + l.info[i].offset;
                memcpy(dst, c->data + c->t[t].begin, (size_t)l.info[i].count * sizeof(float));
                s = state_values_ok(c, name, dst, l.info[i].count,
                                    !strcmp(slot, "exp_avg_sq") || !strcmp(slot, "square_avg") ||
                                    !strcmp(slot, "max_exp_avg_sq") || !strcmp(slot, "exp_inf") ||
                                    !strcmp(slot, "sum"));
            }
        }
        ct_tensor_list_free(&l);
    }
    if (s == CT_OK && !k) {
        int t = ct_checkpoint_find(c, "optimizer.state");
        if (t < 0 || strcmp(c->t[t].dtype, "F32") || c->t[t].numel != count)
            s = BAD("%s: tensor optimizer.state missing or not F32 with %lld values", c->path,
                    count);
        else {
            memcpy(state, c->data + c->t[t].begin, (size_t)count * sizeof(float));
            s = state_values_ok(c, "optimizer.state", state, count, 0);
        }
    }
    if (s == CT_OK) s = ct_model_set_optimizer_state(m, state, count, steps);
    if (s != CT_OK && s != CT_ERR_FORMAT) s = ct_fail_context(s, "%s", c->path);
    free(state);
    return s;
}

static ct_status check_format(const ct_checkpoint *c) {
    const char *format = ct_checkpoint_meta(c, "format");
    if (!format || strcmp(format, CT_TRAIN_STATE_FORMAT) != 0)
        return BAD("%s: not a ctrain train state (metadata format \"%s\", expected \"%s\")",
                   c->path, format ? format : "", CT_TRAIN_STATE_FORMAT);
    return CT_OK;
}

ct_status ct_checkpoint_train_config(const ct_checkpoint *c, ct_train_config *cfg) {
    ct_train_config_default(cfg);
    CT_TRY(check_format(c));
    json_t *jcfg = NULL, *jpos = NULL;
    ct_status s = meta_json(c, "config", &jcfg);
    if (s == CT_OK) s = meta_json(c, "position", &jpos);
    if (s == CT_OK) s = parse_config(c, jcfg, cfg);
    if (s == CT_OK) s = parse_position(c, jpos, &cfg->resume);
    if (s == CT_OK) { /* a finished run stands at the end of its schedule, never past it */
        int total = 0;
        for (int p = 0; p < cfg->num_phases; p++) total += cfg->phases[p].epochs;
        if (cfg->resume.epoch > total || (cfg->resume.epoch == total && cfg->resume.batch))
            s = BAD("%s: position: epoch %d batch %lld is past the end of the run's %d epochs",
                    c->path, cfg->resume.epoch, (long long)cfg->resume.batch, total);
        else if (cfg->resume.correct > (double)cfg->resume.batch * cfg->batch_size)
            s = BAD("%s: position: \"correct\" is %g, more than the %lld batches of %d hold",
                    c->path, cfg->resume.correct, (long long)cfg->resume.batch, cfg->batch_size);
    }
    if (s == CT_OK && ct_train_config_check(cfg) != CT_OK) /* the saved settings, as a run's */
        s = ct_fail_context(CT_ERR_FORMAT, "%s: config", c->path);
    json_decref(jcfg);
    json_decref(jpos);
    return s;
}

/* A run with a moving average of the weights: tensors "ema.NAME" (through the model, which
 * then takes its trained weights) and "ema_updates"; with SWA "swa.NAME" and "swa_updates";
 * else the model keeps none. */
static ct_status load_ema(const ct_checkpoint *c, ct_model *m, const ct_train_config *cfg,
                          const json_t *jopt) {
    ct_ema_release(m);
    if (cfg->swa) {
        const char *v = ct_checkpoint_meta(c, "swa_updates");
        char *end = NULL;
        errno = 0;
        long long n = v && isdigit((unsigned char)v[0]) ? strtoll(v, &end, 10) : -1;
        long long want = cfg->resume.epoch > cfg->swa_start ? cfg->resume.epoch - cfg->swa_start : 0;
        if (!v || n < 0 || *end || errno)
            return BAD("%s: config \"swa\" is 1 but metadata \"swa_updates\" is %s%.40s%s, not a "
                       "count", c->path, v ? "\"" : "", v ? v : "missing", v ? "\"" : "");
        if (n != want) /* (one an epoch from swa_start on) */
            return BAD("%s: metadata \"swa_updates\" is %lld but the run averages one epoch "
                       "a time from epoch %d, and stopped in epoch %d: %lld", c->path, n,
                       cfg->swa_start, cfg->resume.epoch, want);
        if (n == 0) return CT_OK;
        CT_TRY(ct_checkpoint_load_params(c, m, "swa."));
        CT_TRY(ct_ema_store(m));
        m->ema_updates = n;
        return CT_OK;
    }
    if (cfg->ema_decay <= 0.0f) return CT_OK;
    const char *v = ct_checkpoint_meta(c, "ema_updates");
    char *end = NULL;
    errno = 0;
    long long n = v && isdigit((unsigned char)v[0]) ? strtoll(v, &end, 10) : -1;
    if (!v || n < 0 || *end || errno)
        return BAD("%s: config \"ema_decay\" is %g but metadata \"ema_updates\" is %s%.40s%s, "
                   "not a count", c->path, (double)cfg->ema_decay, v ? "\"" : "", v ? v : "missing",
                   v ? "\"" : "");
    long long steps = -1; /* (the average is updated at every step of the run) */
    if (!get_int(jopt, "steps", 0, INT64_MAX, &steps) || steps != n)
        return BAD("%s: metadata \"ema_updates\" is %lld but the optimizer made %lld steps (the "
                   "average is updated at every one)", c->path, n, steps);
    CT_TRY(ct_checkpoint_load_params(c, m, "ema."));
    CT_TRY(ct_ema_store(m));
    m->ema_updates = n;
    return CT_OK;
}

ct_status ct_checkpoint_load_train_state(const ct_checkpoint *c, ct_model *m,
                                         ct_train_config *cfg, ct_eval_result *before,
                                         ct_epoch_result **history, int *n_history) {
    *history = NULL;
    *n_history = 0;
    json_t *jhist = NULL, *jopt = NULL;
    ct_status s = ct_checkpoint_train_config(c, cfg);
    if (s == CT_OK) s = meta_json(c, "history", &jhist);
    if (s == CT_OK) s = meta_json(c, "optimizer_state", &jopt);
    if (s == CT_OK) s = load_ema(c, m, cfg, jopt);
    if (s == CT_OK) s = ct_checkpoint_load_params(c, m, "model.");
    if (s == CT_OK) { /* the model the file says it holds (what eval of it builds) is this one */
        const char *spec = ct_checkpoint_meta(c, "model_spec");
        const char *shape = ct_checkpoint_meta(c, "input_shape");
        int ic, ih, iw;
        char mine[64];
        ct_model_input_shape(m, &ic, &ih, &iw);
        snprintf(mine, sizeof mine, "[%d, %d, %d]", ic, ih, iw);
        if (spec && strcmp(spec, ct_model_spec(m)) != 0) {
            char theirs[320], ours[320];
            s = BAD("%s: metadata model_spec %s is not the run's model %s", c->path,
                    ct_spec_text(spec, 1, theirs, sizeof theirs),
                    ct_spec_text(ct_model_spec(m), 1, ours, sizeof ours));
        }
        else if (shape && strcmp(shape, mine) != 0)
            s = BAD("%s: metadata input_shape \"%.40s\" is not the run's input %s", c->path,
                    shape, mine);
    }
    if (s == CT_OK) s = load_optimizer(c, m, jopt, cfg->optimizer);
    int64_t count = ct_model_optimizer_state_count(m), np = ct_model_param_count(m);
    long long steps = 0;
    const int sgd = cfg->optimizer == CT_SGD, rms = cfg->optimizer == CT_RMSPROP;
    static const char *const names[] = {"SGD",   "Adam",  "AdamW",  "RMSprop",
                                        "NAdam", "RAdam", "Adamax", "Adagrad"};
    const char *name = cfg->amsgrad ? "AMSGrad"
                       : (unsigned)cfg->optimizer <= CT_ADAGRAD ? names[cfg->optimizer] : "?";
    if (s == CT_OK && count == 0 && np > 0 && get_int(jopt, "steps", 0, INT64_MAX, &steps) &&
        steps > 0 && (!sgd || cfg->momentum > 0))
        s = BAD("%s: optimizer_state is empty, but %lld steps of %s have run (its state would be "
                "lost)", c->path, steps, sgd ? "SGD with momentum" : name);
    if (s == CT_OK && count && count != (sgd ? 1 : rms || cfg->amsgrad ? 3 : 2) * np)
        s = BAD("%s: optimizer_state holds %lld values for %lld parameters, which is not %s's "
                "state (config \"optimizer\")", c->path, (long long)count, (long long)np, name);
    if (s == CT_OK) s = parse_history(c, jhist, before, history, n_history);
    if (s == CT_OK && *n_history != cfg->resume.epoch) {
        s = BAD("%s: history has %d epochs but the position is epoch %d", c->path, *n_history,
                cfg->resume.epoch);
        free(*history);
        *history = NULL;
        *n_history = 0;
    }
    json_decref(jhist);
    json_decref(jopt);
    return s;
}
