/*
 * dist_train.c — what ct_fit does besides the gradient all-reduce when it trains across ranks:
 * the start-up check that every rank has the same settings, data, model and state; the
 * broadcast of batch norm's running statistics (only the shard holding row 0 of each batch,
 * which is on rank 0, updates them, as a single process does); and the end check that the
 * parameters are still the same everywhere.
 */
#include "dist/dist.h"
#include "core/core.h"
#include "data/data.h"
#include "nn/model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Hashes of the model's parameters, buffers and optimizer state (host copies). */
typedef struct {
    uint64_t params, buffers, state, ema;
    int64_t n_state, steps;
} model_hashes;

static ct_status hash_model(ct_model *m, model_hashes *h) {
    memset(h, 0, sizeof *h);
    int64_t n_params = ct_model_param_count(m), n_buffers = ct_model_buffer_count(m);
    h->n_state = ct_model_optimizer_state_count(m);
    int64_t most = n_params > n_buffers ? n_params : n_buffers;
    if (h->n_state > most) most = h->n_state;
    float *host = ct_malloc((size_t)(most > 0 ? most : 1) * sizeof(float), "model hash copy");
    if (!host) return CT_ERR_NOMEM;
    ct_status s = ct_model_get_params(m, host);
    if (s == CT_OK) h->params = ct_hash64(host, (size_t)n_params * sizeof(float), 0);
    if (s == CT_OK) s = ct_model_get_buffers(m, host);
    if (s == CT_OK) h->buffers = ct_hash64(host, (size_t)n_buffers * sizeof(float), 0);
    if (s == CT_OK) s = ct_model_get_optimizer_state(m, host, &h->steps);
    if (s == CT_OK) h->state = ct_hash64(host, (size_t)h->n_state * sizeof(float), 0);
    free(host);
    if (s == CT_OK && m->ema) { /* the moving average of the weights, wherever it is now */
        int64_t n = n_params + n_buffers;
        float *avg = ct_malloc((size_t)(n > 0 ? n : 1) * sizeof(float), "model hash copy"), *p, *q;
        if (!avg) return CT_ERR_NOMEM;
        ct_ema_weights(m, 1, &p, &q);
        s = m->b->d2h(m->b, avg, p, (size_t)n_params * sizeof(float));
        if (s == CT_OK && n_buffers)
            s = m->b->d2h(m->b, avg + n_params, q, (size_t)n_buffers * sizeof(float));
        if (s == CT_OK)
            h->ema = ct_hash64(avg, (size_t)n * sizeof(float), 0) ^ (uint64_t)m->ema_updates;
        free(avg);
    }
    return s;
}

ct_status ct_dist_check_fit(ct_dist *d, ct_model *m, const ct_dataset *ds,
                            const int32_t *train_idx, int64_t n_train, const int32_t *val_idx,
                            int64_t n_val, const ct_train_config *cfg) {
    if (!ct_dist_active(d)) return CT_OK;
    d->shared_error = 0;
    CT_TRY(ct_dist_use_backend(d, m->b)); /* how the gradients will be summed (collective) */
    char phases[CT_MAX_PHASES * 32] = "";
    size_t len = 0;
    for (int p = 0; p < cfg->num_phases && p < CT_MAX_PHASES && len < sizeof phases; p++)
        len += (size_t)snprintf(phases + len, sizeof phases - len, "%s%d@%.9g", p ? "," : "",
                                cfg->phases[p].epochs, (double)cfg->phases[p].lr);
    char spec[CT_SPEC_BYTES];
    snprintf(spec, sizeof spec, "%s", m->spec);
    for (char *c = spec; *c; c++)
        if (*c == ' ') *c = '_'; /* fields are space-separated */
    const ct_fit_position *r = &cfg->resume;
    uint64_t images, labels;
    ct_dataset_hashes(ds, &images, &labels);
    uint64_t data = images ^ (labels * 0x9e3779b97f4a7c15ULL);
    model_hashes h;
    CT_TRY(hash_model(m, &h));
    /* the settings first, so that a differing flag is named before what it causes */
    char text[CT_SPEC_BYTES + 4096]; /* (the spec takes up to 8191 of it, the phases 512) */
    snprintf(text, sizeof text,
             "phases=%s batch=%d eval_batch=%d micro_batch=%d optimizer=%d momentum=%.9g weight_decay=%.9g,%d,%.9g,%d,%.9g "
             "nesterov=%d betas=%.9g,%.9g eps=%.9g rmsprop=%.9g,%d amsgrad=%d nadam=%.9g adagrad=%.9g,%.9g schedule=%d step_size=%d "
             "milestones=%d,%016llx power=%.9g cyclic=%.9g,%.9g,%.9g,%d gamma=%.9g plateau_patience=%d,%d,%.9g,%d,%d,%.9g eta_min=%.9g restarts=%d,%d "
             "onecycle=%.9g,%.9g,%.9g,%d,%d warmup_seq=%d lr_step_epoch=%d "
             "cycle_momentum=%d,%.9g,%.9g warmup=%d,%d,%.9g,%d clip_norm=%.9g,%.9g "
             "label_smoothing=%.9g class_weights=%d,%016llx mix=%.9g,%.9g end_lr=%.9g ema=%.9g,%d "
             "augment=%d,%d,%.9g,%.9g,%.9g,%.9g,%.9g,%d,%.9g,%.9g,%.9g,%.9g,"
             "%.9g,%.9g,%.9g,%.9g,%.9g "
             "jitter=%.9g,%.9g,%.9g,%.9g vflip=%d ta=%d ra=%d,%d,%d aa=%d augmix=%d,%d,%d,%.9g grey=%.9g repeated=%d frozen=%d swa=%d,%d,%.9g,%d,%d seed=%llu "
             "resume=%d,%lld,%.17g,%.17g device=%s model=%s "
             "data=%lldx%dx%dx%d,%016llx train=%lld,%016llx val=%lld,%016llx "
             "parameters=%016llx buffers=%016llx optimizer_state=%lld,%016llx,%lld "
             "ema_state=%016llx",
             phases, cfg->batch_size, cfg->eval_batch_size, cfg->micro_batch, (int)cfg->optimizer,
             (double)cfg->momentum, (double)cfg->weight_decay, cfg->bias_wd_set,
             (double)cfg->bias_weight_decay, cfg->norm_wd_set, (double)cfg->norm_weight_decay,
             cfg->nesterov, (double)cfg->beta1,
             (double)cfg->beta2, (double)cfg->eps, (double)cfg->alpha, cfg->centered, cfg->amsgrad,
             (double)cfg->momentum_decay, (double)cfg->lr_decay, (double)cfg->initial_accumulator,
             (int)cfg->schedule, cfg->step_size, cfg->num_milestones,
             (unsigned long long)ct_hash64(cfg->milestones,
                                           (size_t)cfg->num_milestones * sizeof(int), 0),
             (double)cfg->power, (double)cfg->cyclic_base_lr, (double)cfg->cyclic_up,
             (double)cfg->cyclic_down, cfg->cyclic_mode, (double)cfg->gamma, cfg->plateau_patience, cfg->plateau_max,
             (double)cfg->plateau_threshold, cfg->plateau_threshold_abs, cfg->plateau_cooldown,
             (double)cfg->plateau_min_lr,
             (double)cfg->eta_min, cfg->restart_epochs, cfg->restart_mult,
             (double)cfg->pct_start, (double)cfg->div_factor,
             (double)cfg->final_div_factor, cfg->three_phase, cfg->anneal_linear,
             cfg->warmup_sequential, cfg->lr_step_epoch,
             cfg->cycle_momentum, (double)cfg->base_momentum, (double)cfg->max_momentum,
             cfg->warmup_steps, cfg->warmup_epochs, (double)cfg->warmup_start_factor,
             cfg->warmup_constant,
             (double)cfg->clip_norm, (double)cfg->clip_value, (double)cfg->label_smoothing, cfg->n_class_weights,
             (unsigned long long)ct_hash64(cfg->class_weights,
                                           (size_t)cfg->n_class_weights * sizeof(float), 0),
             (double)cfg->mixup_alpha, (double)cfg->cutmix_alpha, (double)cfg->end_lr,
             (double)cfg->ema_decay, cfg->ema_warmup, cfg->augment_pad, cfg->augment_flip,
             (double)cfg->augment_degrees, (double)cfg->augment_translate,
             (double)cfg->augment_scale_min, (double)cfg->augment_scale_max,
             (double)cfg->augment_shear, cfg->augment_bilinear,
             (double)cfg->augment_area_min, (double)cfg->augment_area_max,
             (double)cfg->augment_ratio_min, (double)cfg->augment_ratio_max,
             (double)cfg->augment_erase_p, (double)cfg->augment_erase_fill[0],
             (double)cfg->augment_erase_fill[1], (double)cfg->augment_erase_fill[2],
             (double)cfg->augment_erase_fill[3], (double)cfg->augment_jitter[0],
             (double)cfg->augment_jitter[1], (double)cfg->augment_jitter[2],
             (double)cfg->augment_jitter[3], cfg->augment_vflip, cfg->augment_ta_bins,
             cfg->augment_ra_ops, cfg->augment_ra_magnitude, cfg->augment_ra_bins,
             cfg->augment_aa_policy, cfg->augment_augmix_severity, cfg->augment_augmix_width,
             cfg->augment_augmix_depth, (double)cfg->augment_augmix_alpha,
             (double)cfg->augment_grey_p, cfg->repeated_aug,
             cfg->frozen_layers, cfg->swa,
             cfg->swa_start, (double)cfg->swa_lr, cfg->swa_anneal_epochs, cfg->swa_anneal_linear,
             (unsigned long long)cfg->seed, r->epoch, (long long)r->batch, r->loss_sum,
             r->correct, m->b->name, spec, (long long)ct_dataset_count(ds),
             ct_dataset_channels(ds), ct_dataset_height(ds), ct_dataset_width(ds),
             (unsigned long long)data, (long long)n_train,
             (unsigned long long)ct_hash64(train_idx, (size_t)n_train * sizeof(int32_t), 0),
             (long long)n_val,
             (unsigned long long)(val_idx ? ct_hash64(val_idx, (size_t)n_val * sizeof(int32_t), 0) : 0),
             (unsigned long long)h.params, (unsigned long long)h.buffers, (long long)h.n_state,
             (unsigned long long)h.state, (long long)h.steps, (unsigned long long)h.ema);
    return ct_dist_check_same(d, text, strlen(text), "training settings");
}

ct_status ct_dist_check_dataset(ct_dist *d, const ct_dataset *ds, const char *what) {
    if (!ct_dist_active(d)) return CT_OK;
    uint64_t images, labels;
    ct_dataset_hashes(ds, &images, &labels);
    char text[160];
    snprintf(text, sizeof text, "images=%lldx%dx%dx%d,%016llx labels=%016llx classes=%d",
             (long long)ct_dataset_count(ds), ct_dataset_channels(ds), ct_dataset_height(ds),
             ct_dataset_width(ds), (unsigned long long)images, (unsigned long long)labels,
             ct_dataset_classes(ds));
    return ct_dist_check_same(d, text, strlen(text), what);
}

ct_status ct_dist_sync_buffers(ct_dist *d, ct_model *m) {
    int64_t n = ct_model_buffer_count(m);
    if (!ct_dist_active(d) || n == 0) return CT_OK;
    /* the running statistics, and their moving average's (the other ranks' averaged theirs) */
    float *area[2], *params;
    ct_ema_weights(m, 0, &params, &area[0]);
    ct_ema_weights(m, 1, &params, &area[1]);
    int copies = m->ema ? 2 : 1;
    float *host = ct_malloc((size_t)(copies * n) * sizeof(float), "buffer broadcast");
    int64_t tracked[CT_MAX_LAYERS];
    if (!host) return CT_ERR_NOMEM;
    ct_status s = CT_OK;
    for (int k = 0; k < copies && s == CT_OK; k++)
        s = m->b->d2h(m->b, host + k * n, area[k], (size_t)n * sizeof(float));
    for (int i = 0; i < m->n_layers; i++) tracked[i] = ct_model_batches_tracked(m, i);
    if (s == CT_OK) s = ct_dist_bcast(d, host, (size_t)(copies * n) * sizeof(float), 0);
    if (s == CT_OK) s = ct_dist_bcast(d, tracked, (size_t)m->n_layers * sizeof(int64_t), 0);
    if (s == CT_OK && d->rank != 0) {
        for (int k = 0; k < copies && s == CT_OK; k++)
            s = m->b->h2d(m->b, area[k], host + k * n, (size_t)n * sizeof(float));
        for (int i = 0; i < m->n_layers && s == CT_OK; i++)
            if (tracked[i] >= 0) s = ct_model_set_batches_tracked(m, i, tracked[i]);
    }
    free(host);
    return s;
}

ct_status ct_dist_check_in_sync(ct_dist *d, ct_model *m) {
    if (!ct_dist_active(d)) return CT_OK;
    d->shared_error = 0;
    model_hashes h;
    CT_TRY(hash_model(m, &h));
    uint64_t mine = ct_hash64(&h, sizeof h, 0);
    uint64_t *all = ct_malloc((size_t)d->size * sizeof *all, "parameter hashes");
    if (!all) return CT_ERR_NOMEM;
    ct_status s = ct_dist_allgather_u64(d, mine, all);
    int bad = 0;
    for (int r = 1; s == CT_OK && r < d->size && !bad; r++)
        if (all[r] != all[0]) bad = r;
    free(all);
    if (s != CT_OK || !bad) return s;
    d->shared_error = 1;
    return ct_fail(CT_ERR_DEVICE, "after training, rank %d's parameters or optimizer state differ "
                   "from rank 0's: the ranks did not apply the same updates (a bug, or ranks on "
                   "devices that compute differently)", bad);
}
