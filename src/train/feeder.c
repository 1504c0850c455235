/*
 * feeder.c — the path of a batch from the dataset to the model, and the training step: gather
 * (resident) or upload (streamed), forward, loss, backward and update on each shard, the step
 * table, recorded steps (CUDA graphs) and the fused MLP step (feeder.h says what a feeder is).
 *
 * What changes from one training step to the next (the batch's place in the order, the lr,
 * Adam's bias corrections, the dropout step) comes from the epoch's step table in device memory
 * (ct_step_vars), so a step's ops keep their arguments: on a GPU, runs of full steps are
 * recorded once an epoch as CUDA graphs and replayed, one launch per run.
 */
#include "train/feeder.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ct_augments(const ct_train_config *cfg) {
    return cfg->augment_pad > 0 || cfg->augment_flip || cfg->augment_vflip ||
           cfg->augment_degrees != 0.0f || cfg->augment_translate != 0.0f ||
           cfg->augment_scale_max != 0.0f || cfg->augment_shear != 0.0f || cfg->augment_area_max != 0.0f ||
           cfg->augment_erase_p != 0.0f || cfg->augment_jitter[0] != 0.0f ||
           cfg->augment_jitter[1] != 0.0f || cfg->augment_jitter[2] != 0.0f ||
           cfg->augment_jitter[3] != 0.0f || ct_aa_configured(cfg) ||
           cfg->augment_grey_p != 0.0f;
}

/* The augmentation of images (c, h, w) at places first.. of epoch's order under cfg. */
static ct_augment augment_of(const ct_train_config *cfg, int c, int h, int w, int epoch,
                             uint64_t first) {
    ct_augment a = {.c = c, .h = h, .w = w, .pad = cfg->augment_pad, .flip = cfg->augment_flip,
                    .vflip = cfg->augment_vflip,
                    .degrees = cfg->augment_degrees, .translate = cfg->augment_translate,
                    .scale_min = cfg->augment_scale_min, .scale_max = cfg->augment_scale_max,
                    .shear = cfg->augment_shear, .bilinear = cfg->augment_bilinear,
                    .area_min = cfg->augment_area_min, .area_max = cfg->augment_area_max,
                    .ratio_min = cfg->augment_ratio_min, .ratio_max = cfg->augment_ratio_max,
                    .erase_p = cfg->augment_erase_p, .grey_p = cfg->augment_grey_p,
                    .seed = cfg->seed,
                    .stream = ((uint64_t)CT_STREAM_AUGMENT << CT_AUGMENT_PURPOSE_SHIFT) |
                              (uint64_t)epoch,
                    .first = first,
                    .mix_shift = cfg->repeated_aug > 1 ? cfg->repeated_aug : 1};
    for (int k = 0; k < 4; k++) { /* (augment.h's pixels are 0..255) */
        a.erase_fill[k] = 255.0f * cfg->augment_erase_fill[k < CT_MAX_NORM_CHANNELS ? k : 0];
        a.jitter[k] = cfg->augment_jitter[k];
    }
    (void)ct_aa_of_config(cfg, &a);
    return a;
}

ct_status ct_augment_images(const ct_train_config *cfg, const uint8_t *images, int64_t n,
                            int c, int h, int w, int epoch, int64_t first, float *out) {
    if (!cfg || !images || !out || n < 0 || c < 1 || h < 1 || w < 1 || epoch < 0 ||
        epoch > CT_MAX_EPOCHS || first < 0)
        return ct_fail(CT_ERR_INVALID, "ct_augment_images: bad arguments (%lld images of "
                       "(%d, %d, %d), epoch %d, first %lld)", (long long)n, c, h, w, epoch,
                       (long long)first);
    CT_TRY(ct_train_config_check(cfg));
    ct_backend *b;
    CT_TRY(ct_cpu_backend_create(1, &b));
    ct_augment aug = augment_of(cfg, c, h, w, epoch, (uint64_t)first);
    ct_status s = b->gather_u8(b, images, NULL, NULL, n, (int64_t)c * h * w, CT_PIXEL_SCALE,
                               ct_augments(cfg) ? &aug : NULL, NULL, out, NULL, NULL);
    b->destroy(b);
    return s;
}

ct_status ct_mix_images(const ct_train_config *cfg, const uint8_t *images, const uint8_t *labels,
                        int64_t n_all, int c, int h, int w, int epoch, int64_t first, int64_t n,
                        float *out, uint8_t *partner, float *lam) {
    if (!cfg || !images || !labels || !out || !partner || !lam || c < 1 || h < 1 || w < 1 ||
        epoch < 0 || epoch > CT_MAX_EPOCHS || first < 0 || n < 0 || n_all < 0 ||
        first > n_all - n)
        return ct_fail(CT_ERR_INVALID, "ct_mix_images: bad arguments (images %lld .. %lld of "
                       "%lld, (%d, %d, %d), epoch %d)", (long long)first,
                       (long long)(first + n - 1), (long long)n_all, c, h, w, epoch);
    CT_TRY(ct_train_config_check(cfg));
    const int64_t row = (int64_t)c * h * w, batch = cfg->batch_size;
    if (!ct_mix_on(cfg)) {
        for (int64_t i = 0; i < n; i++) partner[i] = labels[first + i], lam[i] = 1.0f;
        return ct_augment_images(cfg, images + first * row, n, c, h, w, epoch, first, out);
    }
    ct_backend *b;
    CT_TRY(ct_cpu_backend_create(1, &b));
    ct_status s = CT_OK;
    for (int64_t p0 = first; p0 < first + n && s == CT_OK;) { /* a batch's rows at a time */
        const int64_t k = p0 / batch, b0 = k * batch;
        const int64_t b1 = b0 + batch < n_all ? b0 + batch : n_all;
        const int64_t p1 = b1 < first + n ? b1 : first + n;
        ct_step_vars sv;
        memset(&sv, 0, sizeof sv);
        ct_mix_draw(cfg, epoch, k, h, w, &sv);
        ct_augment aug = augment_of(cfg, c, h, w, epoch, (uint64_t)p0);
        aug.mix = 1, aug.mix_rows = b1 - b0, aug.mix_row0 = p0 - b0; /* as batch_shard's */
        s = b->gather_u8(b, images + p0 * row, labels + p0, NULL, p1 - p0, row, CT_PIXEL_SCALE,
                         &aug, &sv, out + (p0 - first) * row, NULL, partner + (p0 - first));
        for (int64_t i = p0; i < p1; i++) lam[i - first] = sv.mix_lam;
        p0 = p1;
    }
    b->destroy(b);
    return s;
}

#define CT_MAX_GRAPH_NOTE 256
/* Full training steps one recorded graph runs (CTRAIN_CUDA_GRAPH_STEPS overrides): fewer
 * launches and no gap between the steps of a run; the results are the same for any value. */
#define CT_GRAPH_RUN 8
#define CT_GRAPH_RUN_MAX 64
#define CT_FUSED_RUN 1024 /* full steps a launch of the fused MLP step, at most */

void ct_feeder_release(feeder *f) {
    ct_backend *b = f->b;
    if (!b->host_is_device) { /* after an error, copies may still read the pinned buffers */
        char keep[1024];
        snprintf(keep, sizeof keep, "%s", ct_last_error()); /* the error being reported */
        if (b->sync(b) != CT_OK) ct_fail(CT_OK, "%s", keep);
    }
    for (int k = 0; k < 2; k++)
        if (f->graph[k]) b->graph_free(b, f->graph[k]);
    if (f->mlp.ws) b->free(b, f->mlp.ws);
    b->free(b, f->d_steps);
    b->free(b, f->d_cur);
    b->free(b, f->d_cursor);
    free(f->h_steps);
    ct_loader_free(f->loader);
    for (int k = 0; k < 2; k++) {
        if (!b->host_is_device) {
            b->free(b, f->d_stage[k]);
            b->free(b, f->d_stage_labels[k]);
        }
    }
    if (f->d_order != f->h_order) b->free(b, f->d_order);
    free(f->h_order);
    memset(f, 0, sizeof *f);
}

ct_status ct_device_data_init(device_data *d, ct_backend *b, const ct_dataset *ds) {
    memset(d, 0, sizeof *d);
    if (b->host_is_device) {
        d->images = ct_dataset_images(ds);
        d->labels = ct_dataset_labels(ds);
        return CT_OK;
    }
    size_t n = (size_t)ct_dataset_count(ds);
    size_t row = (size_t)ct_dataset_channels(ds) * ct_dataset_height(ds) * ct_dataset_width(ds);
    CT_TRY(b->alloc(b, n * row, (void **)&d->owned_images));
    CT_TRY(b->alloc(b, n, (void **)&d->owned_labels));
    CT_TRY(b->h2d(b, d->owned_images, ct_dataset_images(ds), n * row));
    CT_TRY(b->h2d(b, d->owned_labels, ct_dataset_labels(ds), n));
    d->images = d->owned_images;
    d->labels = d->owned_labels;
    return CT_OK;
}

void ct_device_data_release(device_data *d, ct_backend *b) {
    if (d->owned_images) b->free(b, d->owned_images);
    if (d->owned_labels) b->free(b, d->owned_labels);
    memset(d, 0, sizeof *d);
}

ct_status ct_feeder_init(feeder *f, ct_model *m, const ct_dataset *ds, const device_data *dd,
                         const int32_t *idx, int64_t n, int batch, int shuffle, uint64_t seed,
                         int workers, int prefetch) {
    memset(f, 0, sizeof *f);
    ct_backend *b = m->b;
    f->m = m;
    f->b = b;
    f->n = n;
    f->row = ct_model_input_size(m);
    f->batch = batch;
    f->chunk = (int64_t)m->max_batch * m->n_shards;
    f->shuffle = shuffle;
    f->seed = seed;
    f->idx = idx;
    ct_status s;
    if (dd) {
        f->resident = 1;
        f->d_images = dd->images;
        f->d_labels = dd->labels;
        f->h_order = ct_malloc((size_t)n * sizeof(int32_t), "epoch order");
        if (!f->h_order) return CT_ERR_NOMEM;
        if (b->host_is_device) f->d_order = f->h_order;
        else if ((s = b->alloc(b, (size_t)n * sizeof(int32_t), (void **)&f->d_order))) goto fail;
        return CT_OK;
    }
    if ((s = ct_loader_create(b, ds, idx, n, batch, shuffle, seed, workers, prefetch,
                              &f->loader)))
        goto fail;
    if (!b->host_is_device)
        for (int k = 0; k < 2; k++) {
            if ((s = b->alloc(b, (size_t)(batch * f->row), (void **)&f->d_stage[k]))) goto fail;
            if ((s = b->alloc(b, (size_t)batch, (void **)&f->d_stage_labels[k]))) goto fail;
        }
    return CT_OK;
fail:
    ct_feeder_release(f);
    return s;
}

/* Whether the training steps run as the backend's fused MLP step (mlp_step): a model of
 * that shape (ct_model_mlp_shape), SGD, Adam or AdamW, no clipping, augmentation, MixUp/CutMix or
 * moving average of the weights, resident data, one shard, one process and whole batches (the
 * fused step keeps no gradient to sum or clip). If so, allocates its workspace; the reason when not is kept for
 * ct_model_fused_step. */
ct_status ct_feeder_init_fused(feeder *f, const ct_train_config *cfg) {
    ct_backend *b = f->b;
    ct_model *m = f->m;
    ct_mlp_step_desc *d = &f->mlp;
    const char *env = getenv("CTRAIN_CUDA_FUSED"), *why = NULL;
    if (!b->mlp_step) why = "";
    else if (env && strcmp(env, "0") == 0) why = "off (CTRAIN_CUDA_FUSED=0)";
    else if (!ct_model_mlp_shape(m, &d->in, &d->hidden, &d->classes))
        why = ""; /* not the kind of model it is for: nothing to say */
    else if (cfg->clip_norm > 0.0f || cfg->clip_value > 0.0f) why = "off (gradient clipping)";
    else if (cfg->frozen_layers > 0) why = "off (frozen layers)";
    else if (cfg->bias_wd_set || cfg->norm_wd_set) why = "off (weight decay groups)";
    else if (cfg->amsgrad) why = "off (AMSGrad: the fused step has SGD and plain Adam)";
    else if (cfg->ema_decay > 0.0f) why = "off (the moving average of the weights)";
    else if (cfg->optimizer != CT_SGD && cfg->optimizer != CT_ADAM && cfg->optimizer != CT_ADAMW)
        why = cfg->optimizer == CT_RMSPROP ? "off (RMSprop: the fused step has SGD and Adam)"
              : cfg->optimizer == CT_NADAM ? "off (NAdam: the fused step has SGD and Adam)"
              : cfg->optimizer == CT_RADAM ? "off (RAdam: the fused step has SGD and Adam)"
              : cfg->optimizer == CT_ADAMAX ? "off (Adamax: the fused step has SGD and Adam)"
                                            : "off (Adagrad: the fused step has SGD and Adam)";
    else if (ct_augments(cfg)) why = "off (augmentation)";
    else if (ct_mix_on(cfg)) why = "off (MixUp / CutMix)";
    else if (!f->resident) why = "off (the data is streamed)";
    else if (m->n_shards != 1) why = "off (more than one shard)";
    else if (ct_dist_active(cfg->dist)) why = "off (gradients are all-reduced across processes)";
    else if (f->chunk < f->batch) why = "off (micro-batches: the fused step takes whole batches)";
    size_t bytes = 0;
    if (!why) {
        d->n = f->batch;
        if (!(bytes = b->mlp_workspace(b, d)))
            why = "off (the fused step does not take this batch size or these layer sizes)";
    }
    if (why) {
        memset(d, 0, sizeof *d);
        snprintf(m->fused_note, sizeof m->fused_note, "%s", why);
        return CT_OK;
    }
    CT_TRY(b->alloc(b, bytes, &d->ws));
    d->scale = CT_PIXEL_SCALE;
    f->fused = 1;
    snprintf(m->fused_note, sizeof m->fused_note, "on (the MLP's fused kernels, a run of "
             "steps a launch)");
    if (!f->graph_off) { /* a launch runs a run of steps already: nothing for a graph to save */
        f->graph_off = 1;
        snprintf(m->graph_note, sizeof m->graph_note, "not used (the fused step launches a run "
                 "of steps at once)");
    }
    return CT_OK;
}

/* The training feeder's step table, and whether its steps are recorded as a graph (a backend
 * with graph ops; resident data, one shard, one process: the streamed path alternates between
 * two staging buffers, and the host all-reduce reads gradients back each step). */
ct_status ct_feeder_init_steps(feeder *f, const ct_dist *dist) {
    ct_backend *b = f->b;
    ct_model *m = f->m;
    int64_t batches = (f->n + f->batch - 1) / f->batch;
    f->h_steps = ct_malloc((size_t)batches * sizeof(ct_step_vars), "step table");
    if (!f->h_steps) return CT_ERR_NOMEM;
    CT_TRY(b->alloc(b, (size_t)batches * sizeof(ct_step_vars), (void **)&f->d_steps));
    CT_TRY(b->alloc(b, sizeof(ct_step_vars), (void **)&f->d_cur));
    CT_TRY(b->alloc(b, sizeof(int64_t), (void **)&f->d_cursor));
    const char *env = getenv("CTRAIN_CUDA_GRAPH");
    const char *why = NULL;
    if (!b->graph_begin) why = "";
    else if (env && strcmp(env, "0") == 0) why = "off (CTRAIN_CUDA_GRAPH=0)";
    else if (!f->resident) why = "off (the data is streamed; --data-on-device on records steps)";
    else if (m->n_shards != 1) why = "off (more than one shard)";
    else if (ct_dist_active(dist)) why = "off (gradients are all-reduced across processes)";
    f->graph_off = why != NULL;
    snprintf(m->graph_note, sizeof m->graph_note, "%s", why ? why : "");
    /* consecutive full steps per recording: one launch runs them all (the table moves on) */
    const char *run = getenv("CTRAIN_CUDA_GRAPH_STEPS");
    f->graph_run = CT_GRAPH_RUN;
    /* the fused step: up to CT_FUSED_RUN full steps a launch (all of MNIST's 390 an epoch),
     * so that a stop, the progress bar and a display's watchdog (seconds) see an epoch of a
     * larger dataset in parts, for a launch (microseconds) per part */
    f->fused_run = CT_FUSED_RUN;
    if (run) {
        char *end;
        long v = strtol(run, &end, 10);
        if (!isdigit((unsigned char)run[0]) || *end || v < 1 || v > CT_GRAPH_RUN_MAX)
            return ct_fail(CT_ERR_INVALID, "CTRAIN_CUDA_GRAPH_STEPS=\"%s\": expected steps per "
                           "recorded graph, 1..%d", run, CT_GRAPH_RUN_MAX);
        f->graph_run = f->fused_run = (int)v;
    }
    return CT_OK;
}

/* One batch of nb rows whose pixels are at src (device; rows picked by idx, or consecutive when
 * idx is NULL) and labels at labels; pos is its first row in the epoch, and idx the epoch's
 * whole order (when training, the gather op adds pos on the device: the step table's sv->pos).
 * Each shard takes a contiguous slice of the rows; on the
 * CPU the shards run on the model's thread pool and, when training, then apply the update to
 * their own slice of the parameters, summing every shard's gradient there. */
typedef struct {
    feeder *f;
    const uint8_t *src, *labels;
    const int32_t *idx;
    int64_t nb;
    int64_t pos;             /* the batch's first row's place in the epoch (augmentation) */
    const pass_args *a;
    int steps;               /* the fused step: consecutive steps in one mlp_step */
    /* each shard's status, one array per stretch between barriers, so that none is written
     * while another thread may still read it: the forward and backward (read after the first
     * barrier), the shard's slice of the gradient sum (read after the second, under MPI), and
     * the rest (read after the join); a failed shard's message is in f->shard_msg */
    ct_status st[CT_MAX_SHARDS], sum_st[CT_MAX_SHARDS], end_st[CT_MAX_SHARDS];
    ct_status reduce_st;     /* the all-reduce across ranks (thread 0) */
} batch_job;

/* A shard's failure s: its status in *slot, its message kept for the caller. */
static void shard_failed(batch_job *j, int t, ct_status *slot, ct_status s) {
    snprintf(j->f->shard_msg[t], sizeof j->f->shard_msg[t], "%s", ct_last_error());
    *slot = s;
}

/* Shard t's rows [r0, r0 + rows) of the batch: gathered, forward, loss and, when training,
 * the gradient of the batch's mean loss (their part of it) into the shard's grads. */
static ct_status slice_run(batch_job *j, int t, int64_t r0, int64_t rows) {
    ct_model *m = j->f->m;
    ct_backend *b = j->f->b;
    int64_t row = j->f->row;
    ct_shard *sh = &m->shards[t];
    sh->row0 = r0; /* dropout masks by global row; batch norm's running stats from row 0 */
    const ct_train_config *cfg = j->a->cfg;
    const ct_step_vars *sv = j->a->train ? m->sv : NULL; /* the step table's row (ct_fit) */
    int64_t pos = sv ? 0 : j->pos; /* what the host adds; with sv the device adds sv->pos */
    ct_augment aug, *augp = NULL;
    const int mix = j->a->train && cfg && sv && ct_mix_on(cfg); /* (the step's draws: sv's) */
    if (j->a->train && cfg && (ct_augments(cfg) || mix)) {
        aug = augment_of(cfg, m->in_c, m->in_h, m->in_w, j->a->epoch, (uint64_t)(pos + r0));
        aug.mix = mix, aug.mix_rows = j->nb, aug.mix_row0 = r0; /* (partners: the batch's) */
        augp = &aug;
    }
    CT_TRY(b->gather_u8(b, j->idx ? j->src : j->src + r0 * row,
                        j->idx ? j->labels : j->labels + r0,
                        j->idx ? j->idx + pos + r0 : NULL, rows, row, CT_PIXEL_SCALE, augp, sv,
                        sh->acts[0], sh->labels, mix ? sh->mix_labels : NULL));
    CT_TRY(ct_model_forward_shard(m, t, (int)rows, j->a->train || j->a->bn_update));
    return ct_model_loss_backward_shard(m, t, (int)rows, j->a->train, 1.0f / (float)j->nb,
                                        j->a->smoothing, j->a->class_weights, mix ? sv : NULL);
}

static void batch_shard(void *arg, int t, int S) {
    batch_job *j = arg;
    ct_model *m = j->f->m;
    ct_backend *b = j->f->b;
    ct_shard *sh = &m->shards[t];
    ct_status s = CT_OK;
    /* the trained parameters [q0, n_params) (the frozen layers' come first: no gradient) */
    const int64_t q0 = m->train_param0, nq = m->n_params - q0;
    /* this rank's rows [g0, g1) of the batch (all of them for one process), in pieces of at
     * most f->chunk rows (micro-batches: one, unless the batch is larger), then the shard's */
    int64_t g0, g1;
    ct_dist_share(j->a->dist, j->nb, &g0, &g1);
    const int64_t share = g1 - g0, chunk = j->f->chunk;
    const int64_t pieces = share > chunk ? (share + chunk - 1) / chunk : 1;
    int held = 0, summed = 0; /* grads holds a piece's gradient; grad_acc the earlier ones' */
    if (pieces > 1 && j->a->train && !sh->grad_acc) /* (ct_fit allocates it when needed) */
        s = ct_fail(CT_ERR_INVALID, "a batch share of %lld rows in pieces of %lld, but no "
                    "gradient accumulation buffer", (long long)share, (long long)chunk);
    for (int64_t u = 0; u < pieces && s == CT_OK; u++) {
        /* (split as the shards split: 101 rows in 2 pieces are 51 + 50, as on 2 threads) */
        const int64_t c0 = g0 + (share * u + pieces - 1) / pieces;
        const int64_t c1 = g0 + (share * (u + 1) + pieces - 1) / pieces;
        /* (split as the ranks split, ct_dist_share: 2 ranks x 1 thread hold the rows 1 x 2 do) */
        int64_t r0 = c0 + ((c1 - c0) * t + S - 1) / S, r1 = c0 + ((c1 - c0) * (t + 1) + S - 1) / S;
        if (r1 <= r0) continue;
        if (held && j->a->train) { /* gradient accumulation: set the last piece's aside */
            s = summed ? b->add_into(b, sh->grad_acc + q0, sh->grads + q0, nq)
                       : b->d2d(b, sh->grad_acc + q0, sh->grads + q0, (size_t)nq * sizeof(float));
            summed = 1;
        }
        if (s == CT_OK) s = slice_run(j, t, r0, r1 - r0);
        held = 1;
    }
    if (s == CT_OK && j->a->train && !held)
        s = b->memset0(b, sh->grads, (size_t)m->n_params * sizeof(float));
    else if (s == CT_OK && j->a->train && summed)
        s = b->add_into(b, sh->grads + q0, sh->grad_acc + q0, nq);
    if (s != CT_OK) shard_failed(j, t, &j->st[t], s);
    if (!j->a->train) return;
    ct_pool_barrier(m->pool);
    for (int k = 0; k < S; k++)
        if (j->st[k] != CT_OK) return;
    const ct_train_config *cfg = j->a->cfg;
    const ct_step_vars *sv = m->sv;
    /* the shard's slice [p0, p1) of the trained parameters */
    int64_t p0 = q0 + nq * t / S, p1 = q0 + nq * (t + 1) / S;
    for (int k = 1; k < S && s == CT_OK; k++)
        s = b->add_into(b, m->grads + p0, m->shards[k].grads + p0, p1 - p0);
    if (ct_dist_active(j->a->dist)) { /* then across ranks: one all-reduce of the trained part */
        if (s != CT_OK) shard_failed(j, t, &j->sum_st[t], s);
        ct_pool_barrier(m->pool); /* every slice is summed */
        for (int k = 0; k < S; k++)
            if (j->sum_st[k] != CT_OK) return;
        if (t == 0)
            j->reduce_st = ct_dist_allreduce_device_f32(j->a->dist, b, m->grads + q0, nq);
        ct_pool_barrier(m->pool);
        if (j->reduce_st != CT_OK) return;
    }
    if (j->a->cfg && j->a->cfg->clip_norm > 0.0f) { /* clip_grad_norm_ of the summed gradient */
        if (s == CT_OK) s = b->sumsq(b, m->grads + p0, p1 - p0, m->norm_parts + t);
        ct_pool_barrier(m->pool); /* every slice's part is in */
        if (s == CT_OK)
            s = b->clip_scale(b, m->grads + p0, p1 - p0, m->norm_parts, S, j->a->cfg->clip_norm);
    }
    if (s == CT_OK && j->a->cfg && j->a->cfg->clip_value > 0.0f) /* clip_grad_value_ */
        s = b->clip_value(b, m->grads + p0, p1 - p0, j->a->cfg->clip_value);
    if (s == CT_OK)
        s = ct_optimizer_step_range(j->a->opt, m->params, m->grads, 0.0f /* sv's */, sv, p0,
                                    p1);
    if (s == CT_OK && m->ema && cfg->ema_decay > 0.0f) { /* the moving average: the slice, and
                                                          * thread 0 the buffers (SWA: ct_fit) */
        s = b->ema_update(b, m->ema + p0, m->params + p0, p1 - p0, cfg->ema_decay, sv);
        const int64_t u0 = m->train_buf0; /* (a frozen batch norm's statistics stay) */
        if (s == CT_OK && t == 0 && m->n_buffers > u0)
            s = b->ema_update(b, m->ema + m->n_params + u0, m->buffers + u0, m->n_buffers - u0,
                              cfg->ema_decay, sv);
    }
    if (s != CT_OK) shard_failed(j, t, &j->end_st[t], s); /* read only after the join */
}

/* The ops of one step, queued (or recorded, between graph_begin and graph_end). */
static ct_status queue_batch(batch_job *j) {
    feeder *f = j->f;
    ct_model *m = f->m;
    if (j->a->train && f->fused) { /* resident rows: src, labels and idx are the dataset's */
        ct_mlp_step_desc d = f->mlp;
        d.table = f->d_steps; /* the op loads the step's row itself: no step_load launch */
        d.cursor = f->d_cursor;
        d.cur = f->d_cur;
        d.n = j->nb;
        d.images = j->src;
        d.labels = j->labels;
        d.idx = j->idx;
        d.pos = m->sv ? 0 : j->pos;
        d.grad_scale = 1.0f / (float)j->nb;
        d.smoothing = j->a->smoothing;
        d.class_weights = j->a->class_weights;
        d.opt = m->opt.kind;
        d.w = m->params;
        d.m = m->opt.m;
        d.v = m->opt.v;
        d.momentum = m->opt.momentum;
        d.weight_decay = m->opt.weight_decay;
        d.nesterov = m->opt.nesterov;
        d.beta1 = m->opt.beta1;
        d.beta2 = m->opt.beta2;
        d.eps = m->opt.eps;
        d.stats = m->stats;
        d.steps = j->steps;
        return f->b->mlp_step(f->b, &d, NULL); /* the step's lr etc.: the step table's */
    }
    if (j->a->train) CT_TRY(f->b->step_load(f->b, f->d_cur, f->d_steps, f->d_cursor));
    ct_pool_run(m->pool, batch_shard, j);
    const ct_status *all[3] = {j->st, j->sum_st, j->end_st};
    for (int a = 0; a < 3; a++)
        for (int k = 0; k < m->n_shards; k++)
            if (all[a][k] != CT_OK) {
                ct_status s = ct_fail(all[a][k], "%s", f->shard_msg[k]); /* on the caller's thread */
                memset(j->st, 0, sizeof j->st); /* for the next step (they stay set otherwise) */
                memset(j->sum_st, 0, sizeof j->sum_st);
                memset(j->end_st, 0, sizeof j->end_st);
                return s;
            }
    return j->reduce_st;
}

/* Records `steps` consecutive steps of j (their differences are in the step table) as this
 * epoch's graph *slot. Nothing runs while recording, so when that fails the steps run as usual
 * afterwards, and later steps are not recorded. */
static void record_batch(batch_job *j, int steps, void **slot) {
    feeder *f = j->f;
    ct_backend *b = f->b;
    ct_model *m = f->m;
    ct_status s = b->graph_begin(b);
    if (s == CT_OK) {
        ct_status q = CT_OK;
        for (int k = 0; k < steps && q == CT_OK; k++) q = queue_batch(j);
        char msg[CT_MAX_GRAPH_NOTE];
        snprintf(msg, sizeof msg, "%s", ct_last_error());
        s = b->graph_end(b, slot); /* always: it leaves the recording mode */
        if (q != CT_OK) {
            s = q;
            ct_fail(q, "%s", msg);
        }
    }
    if (s == CT_OK) return;
    if (*slot) b->graph_free(b, *slot);
    *slot = NULL;
    f->graph_off = 1;
    snprintf(m->graph_note, sizeof m->graph_note, "off (recording the step failed: %s)",
             ct_last_error());
    j->reduce_st = CT_OK;
}

/* Full batches of a training epoch replay recorded steps (the last, shorter batch and
 * everything on the CPU are queued op by op), except the fit's first: run op by op, it loads
 * the kernels and sets up cuBLAS outside any recording. Can a step of nb rows from here replay
 * a recording (of it alone, or of a run of full steps from it)? */
static int can_replay(const feeder *f, const pass_args *a, int64_t nb) {
    return a->train && !f->graph_off && nb == f->batch && f->warm;
}

/* Runs `steps` consecutive training steps of nb rows each from the batch at pos (steps > 1 only
 * when they can replay, or run as one fused step; see feeder_pass), or one evaluation batch. */
static ct_status run_batch(feeder *f, const uint8_t *src, const uint8_t *labels,
                           const int32_t *idx, int64_t nb, int64_t pos, const pass_args *a,
                           int steps) {
    batch_job j = {.f = f, .src = src, .labels = labels, .idx = idx, .nb = nb, .pos = pos,
                   .a = a, .steps = 1};
    int replay = can_replay(f, a, nb);
    if (a->train && nb == f->batch) f->warm = 1;
    void **slot = &f->graph[steps > 1];
    if (replay && !*slot) record_batch(&j, steps, slot);
    if (a->train && f->fused) { /* one mlp_step runs them all */
        j.steps = steps;
        CT_TRY(queue_batch(&j));
    } else if (replay && *slot) {
        CT_TRY(f->b->graph_launch(f->b, *slot));
        f->graph_steps += steps;
    } else {
        for (int k = 0; k < steps; k++, j.pos += nb) CT_TRY(queue_batch(&j));
    }
    for (int k = 0; a->train && k < steps; k++) {
        ct_optimizer_count_step(a->opt);
        if (f->m->ema && a->cfg->ema_decay > 0.0f) f->m->ema_updates++;
        /* the layers leave num_batches_tracked to us (sv); as they did, only the process whose
         * share holds the batch's row 0 counts (rank 0's counter is the one kept) */
        int64_t g0, g1;
        ct_dist_share(a->dist, nb, &g0, &g1);
        if (g0 == 0 && g1 > 0) ct_model_count_batchnorm_step(f->m);
    }
    return CT_OK;
}

/* Runs one pass over the feeder's samples from batch `first` on (an epoch, or an evaluation),
 * adding loss and correct counts into the shards' stats. *done: batches completed. */
ct_status ct_feeder_pass(feeder *f, int epoch, int64_t first, pass_args *a, int64_t *done) {
    ct_backend *b = f->b;
    int64_t n_batches = (f->n + f->batch - 1) / f->batch, samples = first * f->batch;
    *done = first;
    if (a->train) f->m->train_count = samples; /* (a resumed epoch's sums are loaded) */

    if (f->resident) {
        ct_epoch_order(f->idx, f->n, f->seed, epoch, f->shuffle, f->h_order);
        if (f->d_order != f->h_order)
            CT_TRY(b->h2d(b, f->d_order, f->h_order, (size_t)f->n * sizeof(int32_t)));
    } else {
        CT_TRY(ct_loader_start_epoch_at(f->loader, epoch, first));
    }
    if (a->train) { /* the epoch's step table, from batch `first` on (read through m->sv) */
        for (int64_t i = first; i < n_batches; i++) {
            float lr = (float)(ct_schedule_lr(a->cfg, a->epoch, i, n_batches) * a->lr_scale);
            float mom = ct_schedule_momentum(a->cfg, a->epoch, i, n_batches);
            ct_optimizer_step_vars(a->opt, i - first, lr, mom, i * f->batch, &f->h_steps[i]);
            f->h_steps[i].ema_decay =
                ct_ema_decay(a->cfg, f->m->ema_updates + (i - first) + 1);
            ct_mix_draw(a->cfg, a->epoch, i, f->m->in_h, f->m->in_w, &f->h_steps[i]);
        }
        if (first < n_batches)
            CT_TRY(b->h2d(b, f->d_steps + first, f->h_steps + first,
                          (size_t)(n_batches - first) * sizeof(ct_step_vars)));
        CT_TRY(b->h2d(b, f->d_cursor, &first, sizeof first));
        for (int g = 0; g < 2; g++) { /* recorded with last epoch's constants */
            if (f->graph[g]) b->graph_free(b, f->graph[g]);
            f->graph[g] = NULL;
        }
        f->graph_steps = 0;
    }

    ct_batch cur, nxt;
    int have_next = 0, k = 0;
    if (!f->resident) {
        if (!ct_loader_next(f->loader, &cur)) return CT_OK;
        if (!b->host_is_device) {
            CT_TRY(b->h2d_async(b, f->d_stage[0], cur.images, (size_t)(cur.n * f->row), 0));
            CT_TRY(b->h2d_async(b, f->d_stage_labels[0], cur.labels, (size_t)cur.n, 0));
        }
    }
    for (int64_t i = first; i < n_batches;) {
        int64_t nb;
        int steps = 1; /* run at once: graph_run full steps when they replay one recording */
        if (a->bn_update) f->m->bn_momentum = 1.0f / (float)(i + 1);
        if (f->resident) {
            nb = f->n - i * f->batch < f->batch ? f->n - i * f->batch : f->batch;
            if (a->train && f->fused && nb == f->batch) { /* up to fused_run full steps */
                int64_t full = f->n / f->batch - i;
                steps = full < f->fused_run ? (int)full : f->fused_run;
            } else if (f->graph_run > 1 && can_replay(f, a, nb) &&
                       (i + f->graph_run) * f->batch <= f->n) {
                steps = f->graph_run;
            }
            CT_TRY(run_batch(f, f->d_images, f->d_labels, f->d_order, nb, i * f->batch, a,
                             steps));
        } else {
            nb = cur.n;
            /* start the upload of the next batch before computing this one */
            have_next = ct_loader_next(f->loader, &nxt);
            if (have_next && !b->host_is_device) {
                CT_TRY(b->h2d_async(b, f->d_stage[1 - k], nxt.images, (size_t)(nxt.n * f->row), 1 - k));
                CT_TRY(b->h2d_async(b, f->d_stage_labels[1 - k], nxt.labels, (size_t)nxt.n, 1 - k));
            }
            if (b->host_is_device) {
                CT_TRY(run_batch(f, cur.images, cur.labels, NULL, nb, i * f->batch, a, 1));
            } else {
                CT_TRY(b->wait_copy(b, k));
                CT_TRY(run_batch(f, f->d_stage[k], f->d_stage_labels[k], NULL, nb, i * f->batch, a,
                                 1));
                CT_TRY(b->compute_mark(b, k));
                CT_TRY(b->copy_done(b, k)); /* the pinned slot may be refilled */
            }
            ct_loader_release(f->loader, &cur);
            cur = nxt;
            k = 1 - k;
        }
        if (a->train) f->m->train_count += nb * steps; /* what the stats will hold */
        int stop = 0; /* a stop asked for within a run takes effect after it (it is queued) */
        for (int s = 0; s < steps; s++, i++) {
            samples += nb;
            *done = i + 1;
            if (a->cb && a->cb->on_step &&
                a->cb->on_step(a->cb->user, a->epoch, i + 1, n_batches, samples,
                               ct_time_s() - a->t0))
                stop = 1;
        }
        if (a->dist) CT_TRY(ct_dist_any(a->dist, &stop)); /* all ranks stop at the same step */
        if (stop) {
            if (!f->resident && have_next) { /* its upload may still be reading the slot */
                if (!b->host_is_device) CT_TRY(b->copy_done(b, k));
                ct_loader_release(f->loader, &cur);
            }
            return ct_fail(CT_ERR_INTERRUPTED, "training interrupted in epoch %d at batch %lld/%lld",
                           a->epoch, (long long)*done, (long long)n_batches);
        }
    }
    return CT_OK;
}
