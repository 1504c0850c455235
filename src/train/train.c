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
 * Loss and accuracy are summed on the device and read back once per epoch.
 *
 * What changes from one training step to the next (the batch's place in the order, the lr,
 * Adam's bias corrections, the dropout step) comes from the epoch's step table in device memory
 * (ct_step_vars), so a step's ops keep their arguments: on a GPU the first full step of an
 * epoch is recorded as a CUDA graph and the other full steps replay it, one launch per step.
 */
#include "dist/dist.h"
#include "loader/loader.h"
#include "nn/model.h"
#include "optim/optim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CT_PIXEL_SCALE (1.0f / 255.0f) /* like torchvision's ToTensor */
/* auto keeps the dataset on a GPU when it takes at most this fraction of its free memory */
#define CT_RESIDENT_MAX_FRACTION 0.25
/* Philox counter_hi of the augmentation draws: purpose above, epoch below */
#define CT_AUGMENT_PURPOSE_SHIFT 56

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
}

int ct_data_on_device_choice(const ct_model *m, const ct_dataset *ds, int data_on_device,
                             char *why, size_t why_bytes) {
    size_t bytes = (size_t)ct_dataset_count(ds) *
                   ((size_t)ct_dataset_channels(ds) * ct_dataset_height(ds) * ct_dataset_width(ds) + 1);
    ct_backend *b = m->b;
    if (data_on_device >= 0) {
        snprintf(why, why_bytes, "%s (as asked)", data_on_device ? "resident on the device" :
                 "streamed by loader workers");
        return data_on_device;
    }
    if (b->host_is_device) { /* RAM is the device's memory: gather straight from it */
        snprintf(why, why_bytes, "resident in RAM, gathered by the training threads "
                 "(--data-on-device off: loader workers)");
        return 1;
    }
    /* a GPU: resident when the pixels and labels take at most a quarter of the free memory.
     * Each call (and each MPI rank) decides on its own: either path gives the same results. */
    size_t free_bytes = 0, total_bytes = 0;
    if (!b->mem_info || b->mem_info(b, &free_bytes, &total_bytes) != CT_OK) {
        snprintf(why, why_bytes, "streamed by loader workers (the device's free memory is "
                 "unknown; --data-on-device on: resident)");
        return 0;
    }
    if ((double)bytes > CT_RESIDENT_MAX_FRACTION * (double)free_bytes) {
        snprintf(why, why_bytes, "streamed by loader workers (%.1f MB is over a quarter of the "
                 "device's %.1f MB free; --data-on-device on: resident)", (double)bytes / 1e6,
                 (double)free_bytes / 1e6);
        return 0;
    }
    snprintf(why, why_bytes, "resident on the device (%.1f MB, %.1f MB free; "
             "--data-on-device off: loader workers)", (double)bytes / 1e6,
             (double)free_bytes / 1e6);
    return 1;
}

/* ------------------------------------------------------------------------------------------ */
/* feeding batches                                                                             */

typedef struct {
    ct_model *m;
    ct_backend *b;
    int64_t n, row;
    int batch;
    int resident;
    /* resident */
    const uint8_t *d_images, *d_labels; /* (count, row), (count) device */
    int shuffle;
    uint64_t seed;
    const int32_t *idx;                 /* (n) host, not owned */
    int32_t *h_order;                   /* (n) host */
    int32_t *d_order;                   /* (n) device (== h_order on the CPU) */
    /* streamed */
    ct_loader *loader;
    uint8_t *d_stage[2];                /* (batch, row) device staging, images */
    uint8_t *d_stage_labels[2];         /* (batch) */
    /* training: the epoch's step table (backend.h, ct_step_vars) */
    ct_step_vars *h_steps;              /* (batches) host */
    ct_step_vars *d_steps;              /* (batches) device */
    ct_step_vars *d_cur;                /* the running step's row (device) */
    int64_t *d_cursor;                  /* the next row of d_steps (device) */
    void *graph;                        /* this epoch's recorded full-batch step, once recorded */
    int graph_off;                      /* 1: steps are not recorded (see ct_model_step_graph) */
    int warm;                           /* a full training step has run op by op */
    int64_t graph_steps;                /* steps replayed from graph this epoch */
    int fused;                          /* 1: training steps are the backend's mlp_sgd_step */
    ct_mlp_sgd_desc mlp;                /* its fixed part (shapes, workspace) */
} feeder;

#define CT_MAX_GRAPH_NOTE 256

static void feeder_release(feeder *f) {
    ct_backend *b = f->b;
    if (f->graph) b->graph_free(b, f->graph);
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

/* Device copy of the whole dataset for resident feeding (the dataset itself on the CPU). */
typedef struct {
    const uint8_t *images, *labels;
    uint8_t *owned_images, *owned_labels;
} device_data;

static ct_status device_data_init(device_data *d, ct_backend *b, const ct_dataset *ds) {
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

static void device_data_release(device_data *d, ct_backend *b) {
    if (d->owned_images) b->free(b, d->owned_images);
    if (d->owned_labels) b->free(b, d->owned_labels);
    memset(d, 0, sizeof *d);
}

static ct_status feeder_init(feeder *f, ct_model *m, const ct_dataset *ds, const device_data *dd,
                             const int32_t *idx, int64_t n, int batch, int shuffle, uint64_t seed,
                             int workers, int prefetch) {
    memset(f, 0, sizeof *f);
    ct_backend *b = m->b;
    f->m = m;
    f->b = b;
    f->n = n;
    f->row = ct_model_input_size(m);
    f->batch = batch;
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
    feeder_release(f);
    return s;
}

/* Whether the training steps run as the backend's fused MLP step (mlp_sgd_step): a model of
 * that shape (ct_model_mlp_shape), plain SGD without clipping or augmentation, resident data,
 * one shard and one process (the fused step keeps no gradient to sum or clip). If so, allocates
 * its workspace; the reason when not is kept for ct_model_fused_step. */
static ct_status feeder_init_fused(feeder *f, const ct_train_config *cfg) {
    ct_backend *b = f->b;
    ct_model *m = f->m;
    ct_mlp_sgd_desc *d = &f->mlp;
    const char *env = getenv("CTRAIN_CUDA_FUSED"), *why = NULL;
    if (!b->mlp_sgd_step) why = "";
    else if (env && strcmp(env, "0") == 0) why = "off (CTRAIN_CUDA_FUSED=0)";
    else if (!ct_model_mlp_shape(m, &d->in, &d->hidden, &d->classes))
        why = "off (the model is not [flatten,] linear, relu, linear)";
    else if (cfg->optimizer != CT_SGD) why = "off (the optimizer is not SGD)";
    else if (cfg->clip_norm > 0.0f) why = "off (gradient clipping)";
    else if (cfg->augment_pad > 0 || cfg->augment_flip) why = "off (augmentation)";
    else if (!f->resident) why = "off (the data is streamed)";
    else if (m->n_shards != 1) why = "off (more than one shard)";
    else if (ct_dist_active(cfg->dist)) why = "off (gradients are all-reduced across processes)";
    size_t bytes = 0;
    if (!why) {
        d->n = f->batch;
        if (!(bytes = b->mlp_sgd_workspace(b, d)))
            why = "off (the fused step does not take these layer sizes)";
    }
    if (why) {
        memset(d, 0, sizeof *d);
        snprintf(m->fused_note, sizeof m->fused_note, "%s", why);
        return CT_OK;
    }
    CT_TRY(b->alloc(b, bytes, &d->ws));
    d->scale = CT_PIXEL_SCALE;
    f->fused = 1;
    snprintf(m->fused_note, sizeof m->fused_note, "on (each training step: the MLP's fused "
             "kernels)");
    return CT_OK;
}

/* The training feeder's step table, and whether its steps are recorded as a graph (a backend
 * with graph ops; resident data, one shard, one process: the streamed path alternates between
 * two staging buffers, and the host all-reduce reads gradients back each step). */
static ct_status feeder_init_steps(feeder *f, const ct_dist *dist) {
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
    return CT_OK;
}

typedef struct {
    int train;               /* 1: forward, backward, update */
    ct_optimizer *opt;
    const ct_train_config *cfg; /* training: the lr follows its schedule (ct_schedule_lr) */
    double lr_scale;         /* times the schedule's lr: the plateau cuts so far (gamma^cuts) */
    int epoch;
    const ct_callbacks *cb;
    double t0;
    ct_dist *dist;           /* training across ranks: this rank's rows, all-reduced gradient */
} pass_args;

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
    ct_status st[CT_MAX_SHARDS];
    ct_status reduce_st;     /* the all-reduce across ranks (thread 0) */
} batch_job;

static void batch_shard(void *arg, int t, int S) {
    batch_job *j = arg;
    ct_model *m = j->f->m;
    ct_backend *b = j->f->b;
    /* this rank's rows [g0, g1) of the batch (all of them for one process), then the shard's */
    int64_t g0, g1;
    ct_dist_share(j->a->dist, j->nb, &g0, &g1);
    int64_t r0 = g0 + (g1 - g0) * t / S, r1 = g0 + (g1 - g0) * (t + 1) / S, rows = r1 - r0;
    int64_t row = j->f->row;
    ct_shard *sh = &m->shards[t];
    ct_status s = CT_OK;
    sh->row0 = r0; /* dropout masks by global row; batch norm's running stats from row 0 */
    const ct_train_config *cfg = j->a->cfg;
    const ct_step_vars *sv = j->a->train ? m->sv : NULL; /* the step table's row (ct_fit) */
    int64_t pos = sv ? 0 : j->pos; /* what the host adds; with sv the device adds sv->pos */
    ct_augment aug, *augp = NULL;
    if (j->a->train && cfg && (cfg->augment_pad > 0 || cfg->augment_flip)) {
        aug = (ct_augment){.c = m->in_c, .h = m->in_h, .w = m->in_w, .pad = cfg->augment_pad,
                           .flip = cfg->augment_flip, .seed = cfg->seed,
                           .stream = ((uint64_t)CT_STREAM_AUGMENT << CT_AUGMENT_PURPOSE_SHIFT) |
                                     (uint64_t)j->a->epoch,
                           .first = (uint64_t)(pos + r0)};
        augp = &aug;
    }
    if (rows > 0) {
        s = b->gather_u8(b, j->idx ? j->src : j->src + r0 * row,
                         j->idx ? j->labels : j->labels + r0,
                         j->idx ? j->idx + pos + r0 : NULL, rows, row, CT_PIXEL_SCALE, augp, sv,
                         sh->acts[0], sh->labels);
        if (s == CT_OK) s = ct_model_forward_shard(m, t, (int)rows, j->a->train);
        if (s == CT_OK)
            s = ct_model_loss_backward_shard(m, t, (int)rows, j->a->train, 1.0f / (float)j->nb);
    } else if (j->a->train) {
        s = b->memset0(b, sh->grads, (size_t)m->n_params * sizeof(float));
    }
    j->st[t] = s;
    if (!j->a->train) return;
    ct_pool_barrier(m->pool);
    for (int k = 0; k < S; k++)
        if (j->st[k] != CT_OK) return;
    int64_t p0 = m->n_params * t / S, p1 = m->n_params * (t + 1) / S;
    for (int k = 1; k < S && s == CT_OK; k++)
        s = b->add_into(b, m->grads + p0, m->shards[k].grads + p0, p1 - p0);
    if (ct_dist_active(j->a->dist)) { /* then across ranks: one all-reduce of the whole buffer */
        if (s != CT_OK) j->st[t] = s;
        ct_pool_barrier(m->pool); /* every slice is summed */
        for (int k = 0; k < S; k++)
            if (j->st[k] != CT_OK) return;
        if (t == 0) j->reduce_st = ct_dist_allreduce_device_f32(j->a->dist, b, m->grads, m->n_params);
        ct_pool_barrier(m->pool);
        if (j->reduce_st != CT_OK) return;
    }
    if (j->a->cfg && j->a->cfg->clip_norm > 0.0f) { /* clip_grad_norm_ of the summed gradient */
        if (s == CT_OK) s = b->sumsq(b, m->grads + p0, p1 - p0, m->norm_parts + t);
        ct_pool_barrier(m->pool); /* every slice's part is in */
        if (s == CT_OK)
            s = b->clip_scale(b, m->grads + p0, p1 - p0, m->norm_parts, S, j->a->cfg->clip_norm);
    }
    if (s == CT_OK)
        s = ct_optimizer_step_range(j->a->opt, m->params, m->grads, 0.0f /* sv's */, sv, p0,
                                    p1);
    if (s != CT_OK) j->st[t] = s; /* read only after the join */
}

/* The ops of one step, queued (or recorded, between graph_begin and graph_end). */
static ct_status queue_batch(batch_job *j) {
    feeder *f = j->f;
    ct_model *m = f->m;
    if (j->a->train && f->fused) { /* resident rows: src, labels and idx are the dataset's */
        ct_mlp_sgd_desc d = f->mlp;
        d.table = f->d_steps; /* the op loads the step's row itself: no step_load launch */
        d.cursor = f->d_cursor;
        d.cur = f->d_cur;
        d.n = j->nb;
        d.images = j->src;
        d.labels = j->labels;
        d.idx = j->idx;
        d.pos = m->sv ? 0 : j->pos;
        d.grad_scale = 1.0f / (float)j->nb;
        d.w = m->params;
        d.m = m->opt.m;
        d.momentum = m->opt.momentum;
        d.weight_decay = m->opt.weight_decay;
        d.nesterov = m->opt.nesterov;
        d.stats = m->stats;
        return f->b->mlp_sgd_step(f->b, &d, NULL); /* pos, lr and first: the step table's */
    }
    if (j->a->train) CT_TRY(f->b->step_load(f->b, f->d_cur, f->d_steps, f->d_cursor));
    ct_pool_run(m->pool, batch_shard, j);
    for (int k = 0; k < m->n_shards; k++)
        if (j->st[k] != CT_OK) return j->st[k];
    return j->reduce_st;
}

/* Records the step of j as this epoch's graph. Nothing runs while recording, so when that
 * fails the step runs as usual afterwards, and later steps are not recorded. */
static void record_batch(batch_job *j) {
    feeder *f = j->f;
    ct_backend *b = f->b;
    ct_model *m = f->m;
    ct_status s = b->graph_begin(b);
    if (s == CT_OK) {
        ct_status q = queue_batch(j);
        char msg[CT_MAX_GRAPH_NOTE];
        snprintf(msg, sizeof msg, "%s", ct_last_error());
        s = b->graph_end(b, &f->graph); /* always: it leaves the recording mode */
        if (q != CT_OK) {
            s = q;
            ct_fail(q, "%s", msg);
        }
    }
    if (s == CT_OK) return;
    if (f->graph) b->graph_free(b, f->graph);
    f->graph = NULL;
    f->graph_off = 1;
    snprintf(m->graph_note, sizeof m->graph_note, "off (recording the step failed: %s)",
             ct_last_error());
    memset(j->st, 0, sizeof j->st);
    j->reduce_st = CT_OK;
}

static ct_status run_batch(feeder *f, const uint8_t *src, const uint8_t *labels,
                           const int32_t *idx, int64_t nb, int64_t pos, const pass_args *a) {
    batch_job j = {.f = f, .src = src, .labels = labels, .idx = idx, .nb = nb, .pos = pos,
                   .a = a};
    /* full batches of a training epoch replay one recorded step (the last, shorter batch and
     * everything on the CPU are queued op by op), except the fit's first: run op by op, it
     * loads the kernels and sets up cuBLAS outside any recording */
    int replay = a->train && !f->graph_off && nb == f->batch && f->warm;
    if (a->train && nb == f->batch) f->warm = 1;
    if (replay && !f->graph) record_batch(&j);
    if (replay && f->graph) {
        CT_TRY(f->b->graph_launch(f->b, f->graph));
        f->graph_steps++;
    } else {
        CT_TRY(queue_batch(&j));
    }
    if (a->train) {
        ct_optimizer_count_step(a->opt);
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
static ct_status feeder_pass(feeder *f, int epoch, int64_t first, pass_args *a,
                             int64_t *done) {
    ct_backend *b = f->b;
    int64_t n_batches = (f->n + f->batch - 1) / f->batch, samples = first * f->batch;
    *done = first;

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
            ct_optimizer_step_vars(a->opt, i - first, lr, i * f->batch, &f->h_steps[i]);
        }
        if (first < n_batches)
            CT_TRY(b->h2d(b, f->d_steps + first, f->h_steps + first,
                          (size_t)(n_batches - first) * sizeof(ct_step_vars)));
        CT_TRY(b->h2d(b, f->d_cursor, &first, sizeof first));
        if (f->graph) b->graph_free(b, f->graph); /* recorded with last epoch's constants */
        f->graph = NULL;
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
    for (int64_t i = first; i < n_batches; i++) {
        int64_t nb;
        if (f->resident) {
            nb = f->n - i * f->batch < f->batch ? f->n - i * f->batch : f->batch;
            CT_TRY(run_batch(f, f->d_images, f->d_labels, f->d_order, nb, i * f->batch, a));
        } else {
            nb = cur.n;
            /* start the upload of the next batch before computing this one */
            have_next = ct_loader_next(f->loader, &nxt);
            if (have_next && !b->host_is_device) {
                CT_TRY(b->h2d_async(b, f->d_stage[1 - k], nxt.images, (size_t)(nxt.n * f->row), 1 - k));
                CT_TRY(b->h2d_async(b, f->d_stage_labels[1 - k], nxt.labels, (size_t)nxt.n, 1 - k));
            }
            if (b->host_is_device) {
                CT_TRY(run_batch(f, cur.images, cur.labels, NULL, nb, i * f->batch, a));
            } else {
                CT_TRY(b->wait_copy(b, k));
                CT_TRY(run_batch(f, f->d_stage[k], f->d_stage_labels[k], NULL, nb, i * f->batch, a));
                CT_TRY(b->compute_mark(b, k));
                CT_TRY(b->copy_done(b, k)); /* the pinned slot may be refilled */
            }
            ct_loader_release(f->loader, &cur);
            cur = nxt;
            k = 1 - k;
        }
        samples += nb;
        *done = i + 1;
        int stop = a->cb && a->cb->on_step &&
                   a->cb->on_step(a->cb->user, a->epoch, i + 1, n_batches, samples,
                                  ct_time_s() - a->t0);
        if (a->dist) CT_TRY(ct_dist_any(a->dist, &stop)); /* all ranks stop at the same step */
        if (stop) {
            if (!f->resident && have_next) ct_loader_release(f->loader, &cur);
            return ct_fail(CT_ERR_INTERRUPTED, "training interrupted in epoch %d at batch %lld/%lld",
                           a->epoch, (long long)(i + 1), (long long)n_batches);
        }
    }
    return CT_OK;
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

static ct_status check_batch(const ct_model *m, int batch, const char *what) {
    if (batch <= 0) return ct_fail(CT_ERR_INVALID, "%s must be positive, got %d", what, batch);
    if (batch > m->max_batch)
        return ct_fail(CT_ERR_INVALID, "%s %d exceeds the model's maximum batch %d", what, batch,
                       m->max_batch);
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

ct_status ct_evaluate(ct_model *m, const ct_dataset *ds, const int32_t *idx, int64_t n,
                      int batch_size, ct_eval_result *out) {
    return ct_evaluate_dist(m, ds, idx, n, batch_size, NULL, out);
}

ct_status ct_evaluate_dist(ct_model *m, const ct_dataset *ds, const int32_t *idx, int64_t n,
                           int batch_size, ct_dist *dist, ct_eval_result *out) {
    memset(out, 0, sizeof *out);
    CT_TRY(check_batch(m, batch_size, "evaluation batch size"));
    CT_TRY(check_data(m, ds));
    int32_t *all = NULL;
    if (!idx) {
        n = ct_dataset_count(ds);
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
    ct_status s = resident ? device_data_init(&dd, m->b, ds) : CT_OK;
    if (!resident) memset(&dd, 0, sizeof dd);
    int64_t lo, hi; /* this rank's share of the samples */
    ct_dist_share(dist, n, &lo, &hi);
    if (s == CT_OK && hi > lo)
        s = feeder_init(&f, m, ds, resident ? &dd : NULL, idx + lo, hi - lo, batch_size, 0, 0, 0, 2);
    ct_eval_result discard;
    if (s == CT_OK) s = take_stats(m, 0, &discard); /* clears the statistics */
    pass_args a = {.train = 0};
    int64_t done;
    if (s == CT_OK && f.b) s = feeder_pass(&f, 0, 0, &a, &done);
    if (s == CT_OK) s = take_stats_dist(m, n, out, dist);
    if (f.b) feeder_release(&f);
    device_data_release(&dd, m->b);
    free(all);
    return s;
}

/* Loads a partial epoch's training statistics into shard 0 (resuming mid-epoch). */
static ct_status put_stats(ct_model *m, double loss_sum, double correct) {
    double host[2] = {loss_sum, correct};
    return m->b->h2d(m->b, m->shards[0].stats, host, sizeof host);
}

ct_status ct_fit(ct_model *m, const ct_dataset *ds, const int32_t *train_idx, int64_t n_train,
                 const int32_t *val_idx, int64_t n_val, const ct_train_config *cfg,
                 const ct_callbacks *cb, ct_epoch_result *history) {
    ct_backend *b = m->b;
    CT_TRY(check_batch(m, cfg->batch_size, "batch size"));
    CT_TRY(check_batch(m, cfg->eval_batch_size, "evaluation batch size"));
    CT_TRY(check_data(m, ds));
    if (n_train <= 0) return ct_fail(CT_ERR_INVALID, "no training samples");
    if (cfg->num_phases <= 0 || cfg->num_phases > CT_MAX_PHASES)
        return ct_fail(CT_ERR_INVALID, "schedule: %d phases (1..%d allowed)", cfg->num_phases,
                       CT_MAX_PHASES);
    if (cfg->workers < 0 || cfg->workers > 64)
        return ct_fail(CT_ERR_INVALID, "workers must be in 0..64, got %d", cfg->workers);
    if (cfg->prefetch < 0) return ct_fail(CT_ERR_INVALID, "prefetch must be >= 0, got %d",
                                          cfg->prefetch);
    if (cfg->data_on_device < -1 || cfg->data_on_device > 1)
        return ct_fail(CT_ERR_INVALID, "data_on_device must be -1 (auto), 0 or 1, got %d",
                       cfg->data_on_device);
    int total_epochs = 0;
    for (int p = 0; p < cfg->num_phases; p++) {
        if (cfg->phases[p].epochs < 0 || !(cfg->phases[p].lr > 0.0f))
            return ct_fail(CT_ERR_INVALID, "schedule phase %d: %d epochs at lr %g", p + 1,
                           cfg->phases[p].epochs, cfg->phases[p].lr);
        total_epochs += cfg->phases[p].epochs;
    }
    const ct_fit_position *from = &cfg->resume;
    int64_t n_batches = (n_train + cfg->batch_size - 1) / cfg->batch_size;
    int fresh = from->epoch == 0 && from->batch == 0;
    if (from->epoch < 0 || from->epoch > total_epochs || from->batch < 0 ||
        from->batch >= n_batches || (from->epoch == total_epochs && from->batch))
        return ct_fail(CT_ERR_INVALID, "resume position epoch %d batch %lld is outside this run "
                       "(%d epochs of %lld batches)", from->epoch, (long long)from->batch,
                       total_epochs, (long long)n_batches);
    if (cfg->schedule == CT_SCHED_PLATEAU && (n_val <= 0 || !history))
        return ct_fail(CT_ERR_INVALID, "the plateau schedule follows val_loss: it needs "
                       "validation samples and the history (with a resume's earlier epochs)");
    for (int k = 0; cfg->schedule == CT_SCHED_PLATEAU && k < from->epoch; k++)
        if (history[k].val.count <= 0)
            return ct_fail(CT_ERR_INVALID, "the plateau schedule resumes from the history, but "
                           "epoch %d of it has no validation result", k);
    CT_TRY(ct_dist_check_fit(cfg->dist, m, ds, train_idx, n_train, val_idx, n_val, cfg));

    double *val_losses = NULL; /* (total_epochs) the plateau schedule's input */
    if (cfg->schedule == CT_SCHED_PLATEAU &&
        !(val_losses = ct_malloc((size_t)(total_epochs + 1) * sizeof(double), "val losses")))
        return CT_ERR_NOMEM;
    char why[256];
    int resident = ct_data_on_device_choice(m, ds, cfg->data_on_device, why, sizeof why);
    device_data dd;
    memset(&dd, 0, sizeof dd);
    feeder ftrain, fval;
    memset(&ftrain, 0, sizeof ftrain);
    memset(&fval, 0, sizeof fval);
    ct_status s = CT_OK;
    if (resident && (s = device_data_init(&dd, b, ds))) goto done;
    if ((s = feeder_init(&ftrain, m, ds, resident ? &dd : NULL, train_idx, n_train,
                         cfg->batch_size, 1, cfg->seed, cfg->workers, cfg->prefetch)) ||
        (s = feeder_init_steps(&ftrain, cfg->dist)) || (s = feeder_init_fused(&ftrain, cfg)))
        goto done;
    int64_t v0, v1; /* this rank's share of the validation samples */
    ct_dist_share(cfg->dist, n_val, &v0, &v1);
    if (v1 > v0 && (s = feeder_init(&fval, m, ds, resident ? &dd : NULL, val_idx + v0, v1 - v0,
                                    cfg->eval_batch_size, 0, 0, 0, 2)))
        goto done;
    if ((s = ct_optimizer_init_config(&m->opt, b, m->n_params, cfg, fresh))) goto done;
    ct_eval_result discard;
    if ((s = take_stats(m, 0, &discard))) goto done; /* clears the statistics */
    m->pos = *from;

    int epoch = 0;
    for (int p = 0; p < cfg->num_phases; p++) {
        for (int e = 0; e < cfg->phases[p].epochs; e++, epoch++) {
            if (epoch < from->epoch) continue;
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
                for (int k = 0; k < epoch; k++) val_losses[k] = history[k].val.loss;
                lr_scale = ct_plateau_lr_scale(cfg, val_losses, epoch);
            }
            r.lr = (float)(ct_schedule_lr(cfg, epoch, 0, n_batches) * lr_scale); /* first step */
            double t0 = ct_time_s();
            pass_args a = {.train = 1, .opt = &m->opt, .cfg = cfg, .lr_scale = lr_scale,
                           .epoch = epoch,
                           .cb = cb, .t0 = t0 - before_s, .dist = cfg->dist};
            int64_t batches_done;
            m->sv = ftrain.d_cur; /* the step's scalars: the layers, gather and update read them */
            s = feeder_pass(&ftrain, epoch, first, &a, &batches_done);
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
            if (n_val > 0) {
                double tv = ct_time_s();
                pass_args v = {.train = 0};
                if (fval.b && (s = feeder_pass(&fval, 0, 0, &v, &batches_done))) goto done;
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
    if (fval.b) feeder_release(&fval);
    if (ftrain.b) feeder_release(&ftrain);
    device_data_release(&dd, b);
    free(val_losses);
    return s;
}

ct_fit_position ct_model_fit_position(const ct_model *m) { return m->pos; }

const char *ct_model_step_graph(const ct_model *m) { return m->graph_note; }

const char *ct_model_fused_step(const ct_model *m) { return m->fused_note; }

/* Optimizer state (optim.c): SGD's momentum buffer (n_params), or Adam's exp_avg then
 * exp_avg_sq (2 * n_params). */
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
