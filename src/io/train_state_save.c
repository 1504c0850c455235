/*
 * train_state_save.c — writing train_state.safetensors (its layout: train_state.c, which reads
 * it back): the model's tensors, the optimizer's state per parameter tensor under PyTorch's
 * state keys, the configuration, the position in the run and the history as JSON.
 */
#include "io/checkpoint.h"

#include "nn/model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Slot names for a state of k floats per parameter of optimizer kind (PyTorch's state keys;
 * Adagrad's first slot is unused, zeros). */
const char *ct_state_slot_name(int kind, int k, int j, char *buf, size_t bytes) {
    if (k == 1) return "momentum_buffer";
    if (k == 2 && kind == CT_ADAMAX) return j == 0 ? "exp_avg" : "exp_inf";
    if (k == 2 && kind == CT_ADAGRAD) return j == 0 ? "unused" : "sum";
    if (k == 2) return j == 0 ? "exp_avg" : "exp_avg_sq";
    if (k == 3 && kind != CT_RMSPROP) /* AMSGrad's */
        return j == 0 ? "exp_avg" : j == 1 ? "exp_avg_sq" : "max_exp_avg_sq";
    if (k == 3) return j == 0 ? "momentum_buffer" : j == 1 ? "square_avg" : "grad_avg";
    snprintf(buf, bytes, "state%d", j);
    return buf;
}

/* ------------------------------------------------------------------------------------------ */
/* saving                                                                                      */

static void config_json(ct_jsonw *j, const ct_train_config *c) {
    ct_jw_raw(j, "{\"phases\": [", 12);
    for (int p = 0; p < c->num_phases; p++) {
        ct_jw_printf(j, "%s[%d, ", p ? ", " : "", c->phases[p].epochs);
        ct_jw_float(j, c->phases[p].lr);
        ct_jw_raw(j, "]", 1);
    }
    ct_jw_printf(j, "], \"batch_size\": %d, \"eval_batch_size\": %d, \"micro_batch\": %d, "
                 "\"workers\": %d, \"prefetch\": %d, \"data_on_device\": %d, \"momentum\": ",
                 c->batch_size, c->eval_batch_size, c->micro_batch, c->workers, c->prefetch,
                 c->data_on_device);
    ct_jw_float(j, c->momentum);
    ct_jw_key(j, 0, "weight_decay");
    ct_jw_float(j, c->weight_decay);
    ct_jw_printf(j, ", \"weight_decay_as_is\": 1"); /* (AdamW's 0 is 0: see parse_config) */
    ct_jw_printf(j, ", \"nesterov\": %d, \"seed\": \"%llu\"", c->nesterov,
                 (unsigned long long)c->seed);
    /* optimizer, schedule, warm-up and clipping (enums as their numbers) */
    ct_jw_printf(j, ", \"optimizer\": %d, \"schedule\": %d, \"step_size\": %d, "
                 "\"plateau_patience\": %d, \"warmup_steps\": %d, \"warmup_epochs\": %d, "
                 "\"augment_pad\": %d, \"augment_flip\": %d, \"cycle_momentum\": %d, "
                 "\"three_phase\": %d, \"anneal_linear\": %d, \"ema_warmup\": %d, "
                 "\"centered\": %d, \"augment_bilinear\": %d, \"restart_epochs\": %d, "
                 "\"restart_mult\": %d, \"plateau_max\": %d, \"augment_vflip\": %d, "
                 "\"frozen_layers\": %d, \"swa\": %d, \"swa_start\": %d, "
                 "\"swa_anneal_epochs\": %d, \"swa_anneal_linear\": %d, "
                 "\"plateau_threshold_abs\": %d, \"plateau_cooldown\": %d, "
                 "\"bias_wd_set\": %d, \"norm_wd_set\": %d, \"amsgrad\": %d, "
                 "\"warmup_constant\": %d, \"cyclic_mode\": %d, \"augment_ta_bins\": %d, "
                 "\"augment_ra_ops\": %d, \"augment_ra_magnitude\": %d, "
                 "\"augment_ra_bins\": %d, \"augment_aa_policy\": %d, "
                 "\"augment_augmix_severity\": %d, \"augment_augmix_width\": %d, "
                 "\"augment_augmix_depth\": %d, \"warmup_sequential\": %d, "
                 "\"lr_step_epoch\": %d, \"repeated_aug\": %d",
                 (int)c->optimizer, (int)c->schedule, c->step_size, c->plateau_patience,
                 c->warmup_steps, c->warmup_epochs, c->augment_pad, c->augment_flip,
                 c->cycle_momentum, c->three_phase, c->anneal_linear, c->ema_warmup, c->centered,
                 c->augment_bilinear, c->restart_epochs, c->restart_mult, c->plateau_max,
                 c->augment_vflip, c->frozen_layers, c->swa, c->swa_start, c->swa_anneal_epochs,
                 c->swa_anneal_linear, c->plateau_threshold_abs, c->plateau_cooldown,
                 c->bias_wd_set, c->norm_wd_set, c->amsgrad, c->warmup_constant, c->cyclic_mode,
                 c->augment_ta_bins, c->augment_ra_ops, c->augment_ra_magnitude,
                 c->augment_ra_bins, c->augment_aa_policy, c->augment_augmix_severity,
                 c->augment_augmix_width, c->augment_augmix_depth, c->warmup_sequential,
                 c->lr_step_epoch, c->repeated_aug);
    const struct { const char *key; float v; } floats[] = {
        {"beta1", c->beta1}, {"beta2", c->beta2}, {"eps", c->eps}, {"gamma", c->gamma},
        {"eta_min", c->eta_min}, {"pct_start", c->pct_start}, {"div_factor", c->div_factor},
        {"final_div_factor", c->final_div_factor},
        {"warmup_start_factor", c->warmup_start_factor}, {"clip_norm", c->clip_norm},
        {"clip_value", c->clip_value},
        {"base_momentum", c->base_momentum}, {"max_momentum", c->max_momentum},
        {"label_smoothing", c->label_smoothing}, {"end_lr", c->end_lr},
        {"ema_decay", c->ema_decay}, {"alpha", c->alpha}, {"swa_lr", c->swa_lr},
        {"momentum_decay", c->momentum_decay},
        {"plateau_threshold", c->plateau_threshold}, {"plateau_min_lr", c->plateau_min_lr},
        {"lr_decay", c->lr_decay}, {"initial_accumulator", c->initial_accumulator},
        {"bias_weight_decay", c->bias_weight_decay},
        {"norm_weight_decay", c->norm_weight_decay},
        {"augment_degrees", c->augment_degrees}, {"augment_translate", c->augment_translate},
        {"augment_scale_min", c->augment_scale_min},
        {"augment_scale_max", c->augment_scale_max}, {"augment_shear", c->augment_shear},
        {"mixup_alpha", c->mixup_alpha}, {"cutmix_alpha", c->cutmix_alpha},
        {"augment_area_min", c->augment_area_min}, {"augment_area_max", c->augment_area_max},
        {"augment_ratio_min", c->augment_ratio_min}, {"augment_ratio_max", c->augment_ratio_max},
        {"augment_erase_p", c->augment_erase_p},
        {"augment_erase_fill0", c->augment_erase_fill[0]},
        {"augment_erase_fill1", c->augment_erase_fill[1]},
        {"augment_erase_fill2", c->augment_erase_fill[2]},
        {"augment_erase_fill3", c->augment_erase_fill[3]},
        {"augment_brightness", c->augment_jitter[0]}, {"augment_contrast", c->augment_jitter[1]},
        {"augment_saturation", c->augment_jitter[2]}, {"augment_hue", c->augment_jitter[3]},
        {"augment_grey_p", c->augment_grey_p},
        {"augment_augmix_alpha", c->augment_augmix_alpha},
        {"power", c->power}, {"cyclic_base_lr", c->cyclic_base_lr},
        {"cyclic_up", c->cyclic_up}, {"cyclic_down", c->cyclic_down},
    };
    for (size_t i = 0; i < sizeof floats / sizeof floats[0]; i++) {
        ct_jw_key(j, 0, floats[i].key);
        ct_jw_float(j, floats[i].v);
    }
    if (c->n_class_weights > 0) { /* (a list, one per class; absent: none) */
        ct_jw_key(j, 0, "class_weights");
        ct_jw_raw(j, "[", 1);
        for (int k = 0; k < c->n_class_weights; k++) {
            if (k) ct_jw_raw(j, ", ", 2);
            ct_jw_float(j, c->class_weights[k]);
        }
        ct_jw_raw(j, "]", 1);
    }
    if (c->num_milestones > 0) { /* (the multistep schedule's; absent: none) */
        ct_jw_key(j, 0, "milestones");
        ct_jw_raw(j, "[", 1);
        for (int k = 0; k < c->num_milestones && k < CT_MAX_MILESTONES; k++)
            ct_jw_printf(j, "%s%d", k ? ", " : "", c->milestones[k]);
        ct_jw_raw(j, "]", 1);
    }
    ct_jw_raw(j, "}", 1);
}

static void history_json(ct_jsonw *j, const ct_train_state *st) {
    ct_jw_raw(j, "{\"before\": ", 11);
    if (st->before) {
        ct_jw_raw(j, "{\"loss\": ", 9);
        ct_jw_double(j, st->before->loss);
        ct_jw_key(j, 0, "accuracy");
        ct_jw_double(j, st->before->accuracy);
        ct_jw_printf(j, ", \"count\": %lld}", (long long)st->before->count);
    } else {
        ct_jw_raw(j, "null", 4);
    }
    ct_jw_raw(j, ", \"epochs\": [", 13);
    for (int i = 0; i < st->n_history; i++) {
        if (i) ct_jw_raw(j, ", ", 2);
        ct_epoch_json_write(j, &st->history[i], 1);
    }
    ct_jw_raw(j, "]}", 2);
}

ct_status ct_save_train_state(const ct_model *m, const char *path, const ct_train_state *st) {
    if (!st || !st->cfg || st->n_history < 0 || (st->n_history && !st->history) ||
        st->n_extra < 0 || (st->n_extra && !st->extra))
        return ct_fail(CT_ERR_INVALID, "%s: bad train state arguments", path);
    int64_t np = ct_model_param_count(m), count = ct_model_optimizer_state_count(m), steps = 0;
    int k = np > 0 && count > 0 && count % np == 0 && count / np <= CT_STATE_MAX_SLOTS ? (int)(count / np) : 0;
    ct_host_state hs, ha = {0}; /* the trained weights, their moving average's */
    CT_TRY(ct_host_state_get_of(m, 0, &hs));
    /* the moving average ("ema.") or SWA's average ("swa."): the weights while none yet */
    int ema = st->cfg->ema_decay > 0.0f || st->cfg->swa;
    const char *avg = st->cfg->swa ? "swa." : "ema.";
    ct_status got = ema ? ct_host_state_get_of(m, 1, &ha) : CT_OK;
    if (got != CT_OK) {
        ct_host_state_free(&hs);
        return got;
    }
    float *state = ct_malloc((size_t)(count ? count : 1) * sizeof(float), "optimizer state");
    ct_tensor_list lp = {0}, la = {0}, ls[CT_STATE_MAX_SLOTS];
    memset(ls, 0, sizeof ls);
    ct_st_tensor *all = NULL;
    ct_meta *meta = ct_calloc((size_t)st->n_extra + CT_MODEL_META_MAX + 8, sizeof *meta, "metadata");
    ct_jsonw jpos, jcfg, jhist, jopt;
    ct_jw_init(&jpos);
    ct_jw_init(&jcfg);
    ct_jw_init(&jhist);
    ct_jw_init(&jopt);
    ct_status s = state && meta ? CT_OK : CT_ERR_NOMEM;
    if (s == CT_OK) s = ct_model_get_optimizer_state(m, state, &steps);
    if (s == CT_OK) s = ct_tensor_list_model(m, &hs, "model.", 0, &lp);
    if (s == CT_OK) s = ct_tensor_list_finite(&lp, path, "not saved");
    if (s == CT_OK && ema) s = ct_tensor_list_model(m, &ha, avg, 0, &la);
    if (s == CT_OK) s = ct_tensor_list_finite(&la, path, "not saved");
    int n_all = lp.n + la.n;
    char slot_buf[CT_STATE_MAX_SLOTS][16];
    for (int j = 0; j < k && s == CT_OK; j++) {
        char prefix[32];
        snprintf(prefix, sizeof prefix, "optimizer.");
        ct_host_state view = {.params = state + (int64_t)j * np};
        s = ct_tensor_list_model(m, &view, prefix, 1, &ls[j]);
        /* "optimizer.NAME" → "optimizer.NAME.SLOT" */
        const char *slot = ct_state_slot_name(st->cfg->optimizer, k, j, slot_buf[j], sizeof slot_buf[j]);
        for (int i = 0; s == CT_OK && i < ls[j].n; i++) {
            char *name = ls[j].names + (size_t)i * CT_LIST_NAME_BYTES;
            size_t len = strlen(name);
            snprintf(name + len, CT_LIST_NAME_BYTES - len, ".%s", slot);
        }
        n_all += ls[j].n;
    }
    int64_t flat_shape[1] = {count};
    if (s == CT_OK) {
        all = ct_calloc((size_t)n_all + 1, sizeof *all, "tensor list");
        if (!all) s = CT_ERR_NOMEM;
    }
    if (s == CT_OK) {
        int n = 0;
        for (int i = 0; i < lp.n; i++) all[n++] = lp.t[i];
        for (int i = 0; i < la.n; i++) all[n++] = la.t[i];
        for (int j = 0; j < k; j++)
            for (int i = 0; i < ls[j].n; i++) all[n++] = ls[j].t[i];
        if (count > 0 && k == 0)
            all[n++] = (ct_st_tensor){"optimizer.state", "F32", 1, flat_shape, state};
        n_all = n;

        ct_fit_position p = ct_model_fit_position(m);
        ct_jw_printf(&jpos, "{\"epoch\": %d, \"batch\": %lld, \"loss_sum\": ", p.epoch,
                     (long long)p.batch);
        ct_jw_double(&jpos, p.loss_sum);
        ct_jw_key(&jpos, 0, "correct");
        ct_jw_double(&jpos, p.correct);
        ct_jw_key(&jpos, 0, "seconds");
        ct_jw_double(&jpos, p.seconds);
        ct_jw_raw(&jpos, "}", 1);
        config_json(&jcfg, st->cfg);
        history_json(&jhist, st);
        ct_jw_printf(&jopt, "{\"count\": %lld, \"steps\": %lld, \"slots\": [", (long long)count,
                     (long long)steps);
        for (int j = 0; j < k; j++) {
            if (j) ct_jw_raw(&jopt, ", ", 2);
            ct_jw_string(&jopt, ct_state_slot_name(st->cfg->optimizer, k, j, slot_buf[j],
                                          sizeof slot_buf[j]));
        }
        ct_jw_raw(&jopt, "]}", 2);
        if (jpos.failed || jcfg.failed || jhist.failed || jopt.failed)
            s = ct_fail(CT_ERR_NOMEM, "out of memory (train state metadata)");
    }
    if (s == CT_OK) {
        char buf[CT_MODEL_META_MAX][CT_META_VALUE_BYTES];
        int n = 0;
        meta[n++] = (ct_meta){"format", CT_TRAIN_STATE_FORMAT};
        n += ct_model_meta(m, buf, meta + n);
        meta[n++] = (ct_meta){"position", jpos.buf};
        meta[n++] = (ct_meta){"optimizer_state", jopt.buf};
        meta[n++] = (ct_meta){"config", jcfg.buf};
        meta[n++] = (ct_meta){"history", jhist.buf};
        char updates[24];
        snprintf(updates, sizeof updates, "%lld", (long long)(m->ema ? m->ema_updates : 0));
        if (ema) meta[n++] = (ct_meta){st->cfg->swa ? "swa_updates" : "ema_updates", updates};
        for (int i = 0; i < st->n_extra; i++) meta[n++] = st->extra[i];
        s = ct_st_write(path, all, n_all, meta, n);
    }
    ct_jw_free(&jpos);
    ct_jw_free(&jcfg);
    ct_jw_free(&jhist);
    ct_jw_free(&jopt);
    for (int j = 0; j < CT_STATE_MAX_SLOTS; j++) ct_tensor_list_free(&ls[j]);
    ct_tensor_list_free(&lp);
    ct_tensor_list_free(&la);
    free(all);
    free(meta);
    free(state);
    ct_host_state_free(&hs);
    ct_host_state_free(&ha);
    return s;
}
