/*
 * train.c — fit and evaluate: the tutorial's `fit` and `evaluate`, with the data path of
 * DESIGN.md.
 *
 * Two ways a batch reaches the model's input (both end in the gather_u8 op, which turns uint8
 * pixels into floats on the device):
 * - resident: the dataset sits in device memory (on the CPU: it already does), the epoch's
 *   shuffled order is uploaded once per epoch, and each step gathers its rows from it;
 * - streamed: loader workers fill pinned staging slots, each batch is uploaded asynchronously on
 *   the copy stream into one of two device staging buffers, the upload of batch i+1 overlapping
 *   the compute of batch i.
 * Both are feeders (feeder.c), which also queue the training steps (and record them as CUDA
 * graphs). Loss and accuracy are summed on the device and read back once per epoch; this file
 * holds the epochs, the schedule, validation, checkpoint positions and the history.
 */
#include "train/feeder.h"
#include "ctrain/io.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* auto keeps the dataset on a GPU when it takes at most this fraction of its free memory */
#define CT_RESIDENT_MAX_FRACTION 0.25

void ct_train_config_default(ct_train_config *cfg) {
    memset(cfg, 0, sizeof *cfg);
    cfg->phases[0] = (ct_phase){5, 0.5f};
    cfg->phases[1] = (ct_phase){5, 0.1f};
    cfg->num_phases = 2;
    cfg->batch_size = 128;
    cfg->eval_batch_size = 256;
    cfg->workers = 2;
    cfg->prefetch = 2;
    cfg->data_on_device = -1;
    cfg->seed = 42;
    cfg->swa_anneal_epochs = 10; /* (SWALR's anneal_epochs) */
    cfg->augment_ra_magnitude = CT_RA_DEFAULT_MAGNITUDE; /* (RandAugment's, with ops > 0) */
    cfg->augment_ra_bins = CT_RA_DEFAULT_BINS;
    cfg->augment_augmix_width = CT_AUGMIX_DEFAULT_WIDTH; /* (AugMix's, with a severity) */
    cfg->augment_augmix_depth = CT_AUGMIX_DEFAULT_DEPTH;
    cfg->augment_augmix_alpha = CT_AUGMIX_DEFAULT_ALPHA;
}

int ct_data_on_device_choice(const ct_model *m, const ct_dataset *ds, int data_on_device,
                             char *why, size_t why_bytes) {
    size_t bytes = (size_t)ct_dataset_count(ds) *
                   ((size_t)ct_dataset_channels(ds) * ct_dataset_height(ds) * ct_dataset_width(ds) + 1);
    ct_backend *b = m->b;
    if (data_on_device >= 0) {
        snprintf(why, why_bytes, "%s (as asked)", !data_on_device ? "streamed by the loader"
                 : b->host_is_device ? "resident in RAM" : "resident on the device");
        return data_on_device;
    }
    if (b->host_is_device) { /* RAM is the device's memory: gather straight from it */
        snprintf(why, why_bytes, "resident in RAM, gathered by the training threads "
                 "(loader workers only with --data-on-device off)");
        return 1;
    }
    /* a GPU: resident when the pixels and labels take at most a quarter of the free memory.
     * Each call (and each MPI rank) decides on its own: either path gives the same results. */
    size_t free_bytes = 0, total_bytes = 0;
    if (!b->mem_info || b->mem_info(b, &free_bytes, &total_bytes) != CT_OK) {
        snprintf(why, why_bytes, "streamed by the loader (the device's free memory is "
                 "unknown; --data-on-device on keeps it resident)");
        return 0;
    }
    if ((double)bytes > CT_RESIDENT_MAX_FRACTION * (double)free_bytes) {
        snprintf(why, why_bytes, "streamed by the loader (%.1f MB is over a quarter of the "
                 "device's %.1f MB free; --data-on-device on forces it)", (double)bytes / 1e6,
                 (double)free_bytes / 1e6);
        return 0;
    }
    snprintf(why, why_bytes, "resident on the device (%.1f MB, %.1f MB free; "
             "--data-on-device off streams it)", (double)bytes / 1e6,
             (double)free_bytes / 1e6);
    return 1;
}

/* Reads and clears the shards' statistics, summed over the ranks of dist (collective): mean
 * loss and accuracy over count samples. */
static ct_status take_stats_dist(ct_model *m, int64_t count, ct_eval_result *r, ct_dist *dist) {
    double sum[2] = {0.0, 0.0};
    for (int k = 0; k < m->n_shards; k++) {
        double host[2];
        CT_TRY(m->b->d2h(m->b, host, m->shards[k].stats, sizeof host));
        CT_TRY(m->b->memset0(m->b, m->shards[k].stats, sizeof host));
        sum[0] += host[0];
        sum[1] += host[1];
    }
    CT_TRY(ct_dist_allreduce_sum_f64(dist, sum, 2));
    r->count = count;
    r->loss = count ? sum[0] / (double)count : 0.0;
    r->accuracy = count ? sum[1] / (double)count : 0.0;
    return CT_OK;
}

/* The statistics of this process alone. */
static ct_status take_stats(ct_model *m, int64_t count, ct_eval_result *r) {
    return take_stats_dist(m, count, r, NULL);
}

static ct_status check_batch(int batch, const char *what) {
    if (batch <= 0) return ct_fail(CT_ERR_INVALID, "%s must be positive, got %d", what, batch);
    return CT_OK;
}

/* The most rows of a training batch a process gets (the same on every rank): the largest
 * share of a full batch, which no share of the shorter last one exceeds. */
static int64_t largest_share(const ct_train_config *cfg) {
    return ct_dist_largest_share(cfg->dist, cfg->batch_size);
}

/* The rows of a training batch a process computes at once: its share of the batch, or
 * micro_batch of them at a time; the model must hold them (max_batch a shard). */
static ct_status check_micro_batch(const ct_model *m, const ct_train_config *cfg) {
    if (cfg->micro_batch < 0)
        return ct_fail(CT_ERR_INVALID, "micro_batch must be >= 0 (0: whole batches), got %d",
                       cfg->micro_batch);
    const int64_t share = largest_share(cfg), at_once = (int64_t)m->max_batch * m->n_shards;
    if (cfg->micro_batch > 0 && cfg->micro_batch < share && cfg->micro_batch > at_once)
        return ct_fail(CT_ERR_INVALID, "micro_batch %d is more than the model holds at once, "
                       "%lld samples (max_batch %d x %d shards)", cfg->micro_batch,
                       (long long)at_once, m->max_batch, m->n_shards);
    if ((cfg->micro_batch <= 0 || cfg->micro_batch >= share) && share > at_once)
        return ct_fail(CT_ERR_INVALID, "batch size %d: %lld samples at once are more than the "
                       "model holds, %lld (max_batch %d x %d shards); micro_batch computes a "
                       "batch in pieces (gradient accumulation)", cfg->batch_size,
                       (long long)share, (long long)at_once, m->max_batch, m->n_shards);
    return CT_OK;
}

static ct_status check_data(const ct_model *m, const ct_dataset *ds) {
    if (ct_dataset_channels(ds) != m->in_c || ct_dataset_height(ds) != m->in_h ||
        ct_dataset_width(ds) != m->in_w)
        return ct_fail(CT_ERR_INVALID, "dataset images are (%d, %d, %d) but the model takes "
                       "(%d, %d, %d)", ct_dataset_channels(ds), ct_dataset_height(ds),
                       ct_dataset_width(ds), m->in_c, m->in_h, m->in_w);
    if (ct_dataset_classes(ds) > m->classes)
        return ct_fail(CT_ERR_INVALID, "dataset has %d classes but the model outputs %d",
                       ct_dataset_classes(ds), m->classes);
    return CT_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* evaluate and fit                                                                            */

/* idx[0..n) must name samples of ds (a sample's index is an int32: at most 2^31 - 1 of them). */
static ct_status check_indices(const ct_dataset *ds, const int32_t *idx, int64_t n,
                               const char *what) {
    if (n < 0 || n > INT32_MAX)
        return ct_fail(CT_ERR_INVALID, "%s: %lld samples (0..%d allowed)", what, (long long)n,
                       INT32_MAX);
    if (n > 0 && !idx) return ct_fail(CT_ERR_INVALID, "%s: %lld samples but no indices", what,
                                      (long long)n);
    int64_t count = ct_dataset_count(ds);
    for (int64_t i = 0; i < n; i++)
        if (idx[i] < 0 || idx[i] >= count)
            return ct_fail(CT_ERR_INVALID, "%s: sample index %d (at %lld) is outside the "
                           "dataset's %lld samples", what, idx[i], (long long)i, (long long)count);
    return CT_OK;
}

ct_status ct_evaluate(ct_model *m, const ct_dataset *ds, const int32_t *idx, int64_t n,
                      int batch_size, ct_eval_result *out) {
    return ct_evaluate_dist(m, ds, idx, n, batch_size, 0.0f, NULL, out);
}

ct_status ct_evaluate_dist(ct_model *m, const ct_dataset *ds, const int32_t *idx, int64_t n,
                           int batch_size, float label_smoothing, ct_dist *dist,
                           ct_eval_result *out) {
    memset(out, 0, sizeof *out);
    if (!(label_smoothing >= 0.0f && label_smoothing <= 1.0f))
        return ct_fail(CT_ERR_INVALID, "label smoothing must be in [0, 1], got %g",
                       (double)label_smoothing);
    if (!idx) n = ct_dataset_count(ds);
    else CT_TRY(check_indices(ds, idx, n, "evaluation"));
    if (batch_size > n && n > 0) batch_size = (int)n; /* all of them in one batch */
    if (n > 0) CT_TRY(check_batch(batch_size, "evaluation batch size"));
    CT_TRY(check_data(m, ds));
    int32_t *all = NULL;
    if (!idx) {
        all = ct_malloc((size_t)n * sizeof(int32_t), "evaluation indices");
        if (!all) return CT_ERR_NOMEM;
        for (int64_t i = 0; i < n; i++) all[i] = (int32_t)i;
        idx = all;
    }
    char why[256];
    int resident = ct_data_on_device_choice(m, ds, -1, why, sizeof why);
    device_data dd;
    feeder f;
    memset(&f, 0, sizeof f);
    ct_status s = resident ? ct_device_data_init(&dd, m->b, ds) : CT_OK;
    if (!resident) memset(&dd, 0, sizeof dd);
    int64_t lo, hi; /* this rank's share of the samples */
    ct_dist_share(dist, n, &lo, &hi);
    if (s == CT_OK && hi > lo)
        s = ct_feeder_init(&f, m, ds, resident ? &dd : NULL, idx + lo, hi - lo, batch_size, 0, 0, 0, 2);
    ct_eval_result discard;
    if (s == CT_OK) s = take_stats(m, 0, &discard); /* clears the statistics */
    pass_args a = {.train = 0, .smoothing = label_smoothing};
    int64_t done;
    if (s == CT_OK && f.b) s = ct_feeder_pass(&f, 0, 0, &a, &done);
    if (s == CT_OK) s = take_stats_dist(m, n, out, dist);
    if (f.b) ct_feeder_release(&f);
    ct_device_data_release(&dd, m->b);
    free(all);
    return s;
}

/* Loads a partial epoch's training statistics into shard 0 (resuming mid-epoch). */
static ct_status put_stats(ct_model *m, double loss_sum, double correct) {
    double host[2] = {loss_sum, correct};
    return m->b->h2d(m->b, m->shards[0].stats, host, sizeof host);
}

/* A batch larger than the samples is all of them in one batch, as PyTorch's DataLoader makes
 * it: a model needs a max_batch of at most the sample counts. cfg, or *clamped made so. */
static const ct_train_config *clamp_batches(const ct_train_config *cfg, int64_t n_train,
                                            int64_t n_val, ct_train_config *clamped) {
    if ((cfg->batch_size > n_train && n_train > 0) || (cfg->eval_batch_size > n_val && n_val > 0)) {
        *clamped = *cfg;
        if (clamped->batch_size > n_train && n_train > 0) clamped->batch_size = (int)n_train;
        if (clamped->eval_batch_size > n_val && n_val > 0) clamped->eval_batch_size = (int)n_val;
        return clamped;
    }
    return cfg;
}

/* The epochs SWA has averaged before `epoch` starts. */
static int64_t swa_averaged(const ct_train_config *cfg, int epoch) {
    return cfg->swa && epoch > cfg->swa_start ? epoch - cfg->swa_start : 0;
}

/* ct_fit_check with cfg's batches clamped. */
static int by_offset(const void *a, const void *b) {
    const ct_tensor_info *x = a, *y = b;
    return (x->offset > y->offset) - (x->offset < y->offset);
}

/* torchvision's weight decay groups (cfg's bias_wd_set, norm_wd_set) as the optimizer's
 * segments: each parameter tensor's decay, runs of equal ones merged */
static ct_status decay_groups(ct_model *m, const ct_train_config *cfg) {
    if (!cfg->bias_wd_set && !cfg->norm_wd_set) return ct_optimizer_set_decay(&m->opt, NULL, 0);
    const int nt = ct_model_tensor_count(m);
    ct_tensor_info *t = malloc(((size_t)nt + 1) * sizeof *t);
    ct_decay_segment *seg = malloc((2 * (size_t)nt + 2) * sizeof *seg); /* (a gap: 2 each) */
    if (!t || !seg) {
        free(t);
        free(seg);
        return ct_fail(CT_ERR_NOMEM, "weight decay groups of %d tensors", nt);
    }
    int np = 0, n = 0;
    for (int i = 0; i < nt; i++)
        if (ct_model_tensor_info(m, i, &t[np]) == CT_OK && t[np].kind == CT_TENSOR_PARAM) np++;
    qsort(t, (size_t)np, sizeof *t, by_offset);
    for (int i = 0; i < np; i++) {
        const size_t len = strlen(t[i].name);
        const int bias = len >= 5 && strcmp(t[i].name + len - 5, ".bias") == 0;
        const ct_layer_ops *k = m->layers[t[i].layer].ops; /* (torchvision's norm classes) */
        const int norm = k == &ct_batchnorm_ops || k == &ct_groupnorm_ops || k == &ct_layernorm_ops;
        float wd = cfg->weight_decay;
        if (bias && cfg->bias_wd_set) wd = cfg->bias_weight_decay;
        else if (norm && cfg->norm_wd_set) wd = cfg->norm_weight_decay;
        if (n > 0 && seg[n - 1].end < t[i].offset) /* (a gap: none in a model's layout) */
            seg[n++] = (ct_decay_segment){t[i].offset, cfg->weight_decay};
        if (n > 0 && seg[n - 1].wd == wd) seg[n - 1].end = t[i].offset + t[i].count;
        else seg[n++] = (ct_decay_segment){t[i].offset + t[i].count, wd};
    }
    if (n == 0 || seg[n - 1].end < m->n_params)
        seg[n++] = (ct_decay_segment){m->n_params, cfg->weight_decay};
    ct_status s = ct_optimizer_set_decay(&m->opt, seg, n);
    free(t);
    free(seg);
    return s;
}

static ct_status fit_check(ct_model *m, const ct_dataset *ds, const int32_t *train_idx,
                           int64_t n_train, const int32_t *val_idx, int64_t n_val,
                           const ct_train_config *cfg, const ct_epoch_result *history) {
    CT_TRY(check_batch(cfg->batch_size, "batch size"));
    if (n_val > 0) CT_TRY(check_batch(cfg->eval_batch_size, "evaluation batch size"));
    CT_TRY(check_micro_batch(m, cfg));
    CT_TRY(check_data(m, ds));
    ct_augment aa;
    const char *aa_name = ct_aa_of_config(cfg, &aa);
    if ((aa_name || cfg->augment_grey_p > 0.0f) && m->in_c != 1 && m->in_c != 3)
        return ct_fail(CT_ERR_INVALID, "%s takes images of 1 or 3 channels (as torchvision's), "
                       "and these have %d", aa_name ? aa_name : "random greyscale", m->in_c);
    if (cfg->repeated_aug > 1 && !ct_augments(cfg))
        return ct_fail(CT_ERR_INVALID, "repeated augmentation (%d copies of each image) without "
                       "an augmentation of each image: its copies would be the same image",
                       cfg->repeated_aug);
    if (n_train <= 0) return ct_fail(CT_ERR_INVALID, "no training samples");
    CT_TRY(check_indices(ds, train_idx, n_train, "training"));
    CT_TRY(check_indices(ds, val_idx, n_val, "validation"));
    CT_TRY(ct_train_config_check(cfg)); /* phases (1..CT_MAX_EPOCHS epochs in all), optimizer */
    if (cfg->n_class_weights && cfg->n_class_weights != m->classes)
        return ct_fail(CT_ERR_INVALID, "%d class weights for a model of %d classes",
                       cfg->n_class_weights, m->classes);
    if (cfg->frozen_layers < 0 || cfg->frozen_layers > m->n_layers)
        return ct_fail(CT_ERR_INVALID, "frozen_layers must be in 0..%d (the model's layers), "
                       "got %d", m->n_layers, cfg->frozen_layers);
    if (ct_model_frozen_params(m, cfg->frozen_layers) == m->n_params && m->n_params > 0)
        return ct_fail(CT_ERR_INVALID, "frozen_layers %d leaves no layer with weights to train",
                       cfg->frozen_layers);
    if (cfg->ema_decay > 0.0f && !m->b->ema_update)
        return ct_fail(CT_ERR_UNSUPPORTED, "the %s device has no ema_update op (the moving "
                       "average of the weights)", m->b->name);
    if (cfg->workers < 0 || cfg->workers > CT_MAX_WORKERS)
        return ct_fail(CT_ERR_INVALID, "workers must be in 0..%d, got %d", CT_MAX_WORKERS,
                       cfg->workers);
    if (cfg->prefetch < 0) return ct_fail(CT_ERR_INVALID, "prefetch must be >= 0, got %d",
                                          cfg->prefetch);
    if (cfg->data_on_device < -1 || cfg->data_on_device > 1)
        return ct_fail(CT_ERR_INVALID, "data_on_device must be -1 (auto), 0 or 1, got %d",
                       cfg->data_on_device);
    int total_epochs = 0;
    for (int p = 0; p < cfg->num_phases; p++) total_epochs += cfg->phases[p].epochs;
    const ct_fit_position *from = &cfg->resume;
    int64_t n_batches = (n_train + cfg->batch_size - 1) / cfg->batch_size;
    /* batch == n_batches: stopped after the epoch's last step, before its validation */
    if (from->epoch < 0 || from->epoch > total_epochs || from->batch < 0 ||
        from->batch > n_batches || (from->epoch == total_epochs && from->batch))
        return ct_fail(CT_ERR_INVALID, "resume position epoch %d batch %lld is outside this run "
                       "(%d epochs of %lld batches)", from->epoch, (long long)from->batch,
                       total_epochs, (long long)n_batches);
    if (cfg->ema_decay > 0.0f && (from->epoch || from->batch) && !m->ema)
        return ct_fail(CT_ERR_INVALID, "a resumed run with a moving average of the weights "
                       "needs the average (a train state's, ct_checkpoint_load_train_state): "
                       "the model holds none");
    if (cfg->swa && (from->epoch || from->batch) &&
        swa_averaged(cfg, from->epoch) != (m->ema ? m->ema_updates : 0))
        return ct_fail(CT_ERR_INVALID, "a run with SWA resumed at epoch %d has averaged %lld "
                       "epochs' weights, but the model holds an average of %lld (a train "
                       "state's, ct_checkpoint_load_train_state)", from->epoch,
                       (long long)swa_averaged(cfg, from->epoch),
                       (long long)(m->ema ? m->ema_updates : 0));
    if (cfg->swa && !m->b->ema_update)
        return ct_fail(CT_ERR_UNSUPPORTED, "the %s device has no ema_update op (SWA's average)",
                       m->b->name);
    if (cfg->schedule == CT_SCHED_PLATEAU && (n_val <= 0 || !history))
        return ct_fail(CT_ERR_INVALID, "the plateau schedule follows val_loss: it needs "
                       "validation samples and the history (with a resume's earlier epochs)");
    for (int k = 0; cfg->schedule == CT_SCHED_PLATEAU && k < from->epoch; k++)
        if (history[k].val.count <= 0)
            return ct_fail(CT_ERR_INVALID, "the plateau schedule resumes from the history, but "
                           "epoch %d of it has no validation result", k);
    return ct_dist_check_fit(cfg->dist, m, ds, train_idx, n_train, val_idx, n_val, cfg);
}

ct_status ct_fit_check(ct_model *m, const ct_dataset *ds, const int32_t *train_idx,
                       int64_t n_train, const int32_t *val_idx, int64_t n_val,
                       const ct_train_config *cfg, const ct_epoch_result *history) {
    if (!m || !ds || !cfg) return ct_fail(CT_ERR_INVALID, "ct_fit_check: NULL model, dataset or "
                                          "config");
    ct_train_config clamped;
    cfg = clamp_batches(cfg, n_train, n_val, &clamped);
    return fit_check(m, ds, train_idx, n_train, val_idx, n_val, cfg, history);
}

ct_status ct_fit(ct_model *m, const ct_dataset *ds, const int32_t *train_idx, int64_t n_train,
                 const int32_t *val_idx, int64_t n_val, const ct_train_config *cfg,
                 const ct_callbacks *cb, ct_epoch_result *history) {
    ct_backend *b = m->b;
    ct_train_config clamped;
    cfg = clamp_batches(cfg, n_train, n_val, &clamped);
    CT_TRY(fit_check(m, ds, train_idx, n_train, val_idx, n_val, cfg, history));
    int total_epochs = 0;
    for (int p = 0; p < cfg->num_phases; p++) total_epochs += cfg->phases[p].epochs;
    const ct_fit_position *from = &cfg->resume;
    int fresh = from->epoch == 0 && from->batch == 0;
    int64_t n_batches = (n_train + cfg->batch_size - 1) / cfg->batch_size;

    /* the moving average of the weights (or SWA's). A new run starts from the weights the
     * model holds (after an earlier fit with an average, the average, or whatever was set
     * since), so any trained weights kept beside an average go, and the average starts as the
     * weights; a resumed one continues the trained weights and their average
     * (ct_fit's own, or a train state's); a run without drops it. */
    if (fresh) ct_ema_release(m);
    else CT_TRY(ct_ema_swap(m, 0));
    if (cfg->ema_decay <= 0.0f && !cfg->swa) {
        ct_ema_release(m);
    } else if (fresh || !m->ema) {
        CT_TRY(ct_ema_store(m));
        m->ema_updates = 0;
    }

    double *monitored = NULL; /* (total_epochs) the plateau schedule's input (val loss or acc) */
    if (cfg->schedule == CT_SCHED_PLATEAU &&
        !(monitored = ct_malloc((size_t)(total_epochs + 1) * sizeof(double), "val metrics")))
        return CT_ERR_NOMEM;
    char why[256];
    int resident = ct_data_on_device_choice(m, ds, cfg->data_on_device, why, sizeof why);
    device_data dd;
    memset(&dd, 0, sizeof dd);
    feeder ftrain, fval;
    memset(&ftrain, 0, sizeof ftrain);
    memset(&fval, 0, sizeof fval);
    ct_status s = CT_OK;
    ct_model_freeze(m, cfg->frozen_layers); /* (until the end of ct_fit) */
    float *d_weights = NULL; /* the class weights on the device */
    if (cfg->n_class_weights > 0) {
        size_t bytes = (size_t)cfg->n_class_weights * sizeof(float);
        if ((s = b->alloc(b, bytes, (void **)&d_weights)) ||
            (s = b->h2d(b, d_weights, cfg->class_weights, bytes)))
            goto done;
    }
    if (resident && (s = ct_device_data_init(&dd, b, ds))) goto done;
    if ((s = ct_feeder_init(&ftrain, m, ds, resident ? &dd : NULL, train_idx, n_train,
                            cfg->batch_size, cfg->repeated_aug > 1 ? cfg->repeated_aug : 1,
                            cfg->seed, cfg->workers, cfg->prefetch)))
        goto done;
    if (cfg->micro_batch > 0) ftrain.chunk = cfg->micro_batch; /* (<= the model's, checked) */
    if (ftrain.chunk < largest_share(cfg) && (s = ct_model_grad_acc(m))) goto done;
    if ((s = ct_feeder_init_steps(&ftrain, cfg->dist)) || (s = ct_feeder_init_fused(&ftrain, cfg)))
        goto done;
    int64_t v0, v1; /* this rank's share of the validation samples */
    ct_dist_share(cfg->dist, n_val, &v0, &v1);
    if (v1 > v0 && (s = ct_feeder_init(&fval, m, ds, resident ? &dd : NULL, val_idx + v0, v1 - v0,
                                    cfg->eval_batch_size, 0, 0, 0, 2)))
        goto done;
    if ((s = ct_optimizer_init_config(&m->opt, b, m->n_params, cfg, fresh)) ||
        (s = decay_groups(m, cfg)))
        goto done;
    ct_eval_result discard;
    if ((s = take_stats(m, 0, &discard))) goto done; /* clears the statistics */
    m->pos = *from;

    int epoch = 0;
    for (int p = 0; p < cfg->num_phases; p++) {
        for (int e = 0; e < cfg->phases[p].epochs; e++, epoch++) {
            if (epoch < from->epoch) continue;
            if ((s = ct_ema_swap(m, 0))) goto done; /* (validation evaluated the average) */
            int64_t first = epoch == from->epoch ? from->batch : 0;
            double before_s = first ? from->seconds : 0.0;
            if (first && ct_dist_rank(cfg->dist) == 0 && /* the sums are over all ranks */
                (s = put_stats(m, from->loss_sum, from->correct)))
                goto done;
            ct_epoch_result r;
            memset(&r, 0, sizeof r);
            r.epoch = epoch;
            r.phase = p;
            double lr_scale = 1.0; /* ReduceLROnPlateau: the cuts of the epochs so far */
            if (cfg->schedule == CT_SCHED_PLATEAU) {
                for (int k = 0; k < epoch; k++) /* (mode="max": the accuracies) */
                    monitored[k] = cfg->plateau_max ? history[k].val.accuracy
                                                    : history[k].val.loss;
                lr_scale = ct_plateau_lr_scale(cfg, monitored, epoch);
            }
            r.lr = (float)(ct_schedule_lr(cfg, epoch, 0, n_batches) * lr_scale); /* first step */
            double t0 = ct_time_s();
            pass_args a = {.train = 1, .opt = &m->opt, .cfg = cfg, .lr_scale = lr_scale,
                           .epoch = epoch,
                           .cb = cb, .t0 = t0 - before_s, .dist = cfg->dist,
                           .smoothing = cfg->label_smoothing, .class_weights = d_weights};
            int64_t batches_done;
            m->sv = ftrain.d_cur; /* the step's scalars: the layers, gather and update read them */
            s = ct_feeder_pass(&ftrain, epoch, first, &a, &batches_done);
            m->sv = NULL;
            r.graph_steps = ftrain.graph_steps;
            if (s == CT_ERR_INTERRUPTED) { /* remember where, for a checkpoint */
                char msg[1024];
                snprintf(msg, sizeof msg, "%s", ct_last_error());
                ct_eval_result part;
                if (take_stats_dist(m, 1, &part, cfg->dist) == CT_OK)
                    m->pos = (ct_fit_position){epoch, batches_done, part.loss, part.accuracy,
                                               before_s + ct_time_s() - t0};
                s = ct_fail(CT_ERR_INTERRUPTED, "%s", msg);
            }
            if (s) goto done;
            ct_eval_result tr;
            if ((s = take_stats_dist(m, n_train, &tr, cfg->dist))) goto done; /* synchronises */
            r.train_s = before_s + ct_time_s() - t0;
            r.train_loss = tr.loss;
            r.train_acc = tr.accuracy;
            r.samples_per_s = r.train_s > 0 ? (double)n_train / r.train_s : 0.0;
            if ((s = ct_dist_sync_buffers(cfg->dist, m))) goto done; /* rank 0's running stats */
            if (cfg->swa && epoch >= cfg->swa_start) { /* AveragedModel.update_parameters */
                int64_t k = m->ema_updates; /* avg = k / (k + 1) * avg + 1 / (k + 1) * weights */
                if ((s = b->ema_update(b, m->ema, m->params, m->n_params,
                                       k ? (float)((double)k / (double)(k + 1)) : 0.0f, NULL)))
                    goto done;
                /* (the buffers are not averaged: the trained ones, until ct_swa_finish) */
                if (m->n_buffers && (s = b->d2d(b, m->ema + m->n_params, m->buffers,
                                                (size_t)m->n_buffers * sizeof(float))))
                    goto done;
                m->ema_updates++;
            }
            /* validation evaluates the moving average (SWA's: the trained weights) */
            if (!cfg->swa && (s = ct_ema_swap(m, 1))) goto done;
            if (n_val > 0) {
                double tv = ct_time_s();
                pass_args v = {.train = 0, .smoothing = cfg->label_smoothing};
                if (fval.b && (s = ct_feeder_pass(&fval, 0, 0, &v, &batches_done))) goto done;
                if ((s = take_stats_dist(m, n_val, &r.val, cfg->dist))) goto done;
                r.val_s = ct_time_s() - tv;
            }
            m->pos = (ct_fit_position){.epoch = epoch + 1};
            if (history) history[epoch] = r;
            int stop = cb && cb->on_epoch && cb->on_epoch(cb->user, &r);
            if ((s = ct_dist_any(cfg->dist, &stop))) goto done;
            if (stop) {
                s = ct_fail(CT_ERR_INTERRUPTED, "training stopped after epoch %d", epoch);
                goto done;
            }
        }
    }
    s = ct_dist_check_in_sync(cfg->dist, m); /* the ranks' parameters still agree */
done:
    if ((s == CT_OK || s == CT_ERR_INTERRUPTED) && !cfg->swa) { /* the model ends holding the
                                                                 * average (SWA's: see
                                                                 * ct_swa_finish) */
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", ct_last_error());
        ct_status t = ct_ema_swap(m, 1);
        if (t != CT_OK) s = t;
        else if (s != CT_OK) ct_fail(s, "%s", msg);
    }
    if (ftrain.fused && b->mlp_launch[0]) /* how the backend launched it, once it has */
        snprintf(m->fused_note, sizeof m->fused_note, "on (the MLP's fused kernels: %s)",
                 b->mlp_launch);
    ct_model_freeze(m, 0);
    if (fval.b) ct_feeder_release(&fval);
    if (ftrain.b) ct_feeder_release(&ftrain);
    ct_device_data_release(&dd, b);
    b->free(b, d_weights);
    free(monitored);
    return s;
}

ct_status ct_swa_finish(ct_model *m, const ct_dataset *ds, const int32_t *train_idx,
                        int64_t n_train, const ct_train_config *cfg, int64_t *averaged) {
    if (averaged) *averaged = 0;
    if (!m || !ds || !cfg || !cfg->swa)
        return ct_fail(CT_ERR_INVALID, "ct_swa_finish: NULL model, dataset or config, or a "
                       "config without swa");
    if (!m->ema || m->ema_updates <= 0) return CT_OK; /* nothing averaged yet */
    ct_train_config clamped;
    cfg = clamp_batches(cfg, n_train, 0, &clamped);
    CT_TRY(check_batch(cfg->batch_size, "batch size"));
    CT_TRY(check_data(m, ds));
    CT_TRY(check_indices(ds, train_idx, n_train, "training"));
    ct_backend *b = m->b;
    if (!m->ema_swapped && m->n_buffers) /* the average's statistics start as the trained ones
                                          * (a frozen layer's stay so) */
        CT_TRY(b->d2d(b, m->ema + m->n_params, m->buffers, (size_t)m->n_buffers * sizeof(float)));
    CT_TRY(ct_ema_swap(m, 1));
    if (averaged) *averaged = m->ema_updates;
    ct_model_freeze(m, cfg->frozen_layers); /* (until the end: a frozen layer runs as at inference) */
    int layers = 0;
    ct_status s = ct_model_batchnorm_reset(m, &layers);
    if (s != CT_OK || layers == 0) goto out;
    char why[256];
    int resident = ct_data_on_device_choice(m, ds, cfg->data_on_device, why, sizeof why);
    device_data dd;
    memset(&dd, 0, sizeof dd);
    feeder f;
    memset(&f, 0, sizeof f);
    s = resident ? ct_device_data_init(&dd, b, ds) : CT_OK;
    if (s == CT_OK)
        s = ct_feeder_init(&f, m, ds, resident ? &dd : NULL, train_idx, n_train, cfg->batch_size,
                           0, 0, 0, 2);
    if (s == CT_OK && cfg->micro_batch > 0 && cfg->micro_batch < f.chunk)
        f.chunk = cfg->micro_batch;
    ct_eval_result discard;
    pass_args a = {.train = 0, .bn_update = 1};
    int64_t done;
    if (s == CT_OK) s = take_stats(m, 0, &discard);
    if (s == CT_OK) s = ct_feeder_pass(&f, 0, 0, &a, &done);
    if (s == CT_OK) s = take_stats(m, 0, &discard); /* (the pass's loss: not wanted) */
    m->bn_momentum = 0.0f; /* (the pass set it: the layers' own again) */
    if (f.b) ct_feeder_release(&f);
    ct_device_data_release(&dd, b);
out:
    ct_model_freeze(m, 0);
    if (s != CT_OK) { /* the model holds the trained weights again (their buffers too) */
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", ct_last_error());
        if (ct_ema_swap(m, 0) == CT_OK) ct_fail(s, "%s", msg);
        if (averaged) *averaged = 0;
    }
    return s;
}

ct_fit_position ct_model_fit_position(const ct_model *m) { return m->pos; }

ct_status ct_model_train_sums(ct_model *m, double *loss_sum, double *correct, int64_t *count) {
    double sum[2] = {0.0, 0.0};
    for (int k = 0; k < m->n_shards; k++) { /* as take_stats_dist, but leaving them be */
        double host[2];
        CT_TRY(m->b->d2h(m->b, host, m->shards[k].stats, sizeof host));
        sum[0] += host[0];
        sum[1] += host[1];
    }
    *loss_sum = sum[0];
    *correct = sum[1];
    *count = m->train_count;
    return CT_OK;
}

const char *ct_model_step_graph(const ct_model *m) { return m->graph_note; }

const char *ct_model_fused_step(const ct_model *m) { return m->fused_note; }

/* Optimizer state (optim.c): SGD's momentum buffer (n_params), Adam's exp_avg then exp_avg_sq
 * (2 * n_params; AMSGrad's max_exp_avg_sq too: 3), or RMSprop's momentum_buffer, square_avg,
 * grad_avg (3 * n_params). */
int64_t ct_model_optimizer_state_count(const ct_model *m) {
    return ct_optimizer_state_count(&m->opt);
}

ct_status ct_model_get_optimizer_state(const ct_model *m, float *host, int64_t *steps) {
    *steps = m->opt.steps;
    return ct_optimizer_get_state(&m->opt, host);
}

ct_status ct_model_set_optimizer_state(ct_model *m, const float *host, int64_t count,
                                       int64_t steps) {
    return ct_optimizer_set_state(&m->opt, m->b, m->n_params, host, count, steps);
}
