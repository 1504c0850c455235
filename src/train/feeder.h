/*
 * feeder.h — private to src/train: how batches reach the model and how training steps are
 * queued (feeder.c), for fit and evaluate (train.c).
 *
 * A feeder runs passes over a set of samples (an epoch, or an evaluation) in one of two ways:
 * resident (the dataset in device memory, gathered by the epoch's order) or streamed (loader
 * workers fill pinned slots, uploaded on the copy stream, double-buffered). A training feeder
 * also owns the epoch's step table (backend.h, ct_step_vars), the recorded graphs of its steps
 * and, where the backend has one, the fused MLP step's workspace.
 */
#ifndef CT_TRAIN_FEEDER_H
#define CT_TRAIN_FEEDER_H

#include "dist/dist.h"
#include "loader/loader.h"
#include "nn/model.h"
#include "optim/optim.h"

#define CT_PIXEL_SCALE (1.0f / 255.0f) /* like torchvision's ToTensor */

typedef struct {
    ct_model *m;
    ct_backend *b;
    int64_t n, row;
    int batch;
    int64_t chunk;                      /* rows of a batch computed at once (by all the shards):
                                         * a larger batch runs in pieces (micro-batches), their
                                         * gradients summed; the model's max_batch a shard, or
                                         * ct_train_config.micro_batch */
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
    void *graph[2];                     /* this epoch's recordings of one full-batch step and of
                                         * graph_run consecutive ones, once recorded */
    int graph_run;                      /* steps per multi-step recording (1: none) */
    int fused_run;                      /* full steps per launch of the fused step, at most */
    int graph_off;                      /* 1: steps are not recorded (see ct_model_step_graph) */
    int warm;                           /* a full training step has run op by op */
    int64_t graph_steps;                /* steps replayed from graph this epoch */
    int fused;                          /* 1: training steps are the backend's mlp_step */
    ct_mlp_step_desc mlp;                /* its fixed part (shapes, workspace) */
    char shard_msg[CT_MAX_SHARDS][256]; /* a shard's failure, for the caller (the error text is
                                         * per thread, and the pool's threads are not the
                                         * caller's); read only after its status says so */
} feeder;

/* Device copy of the whole dataset for resident feeding (the dataset itself on the CPU). */
typedef struct {
    const uint8_t *images, *labels;
    uint8_t *owned_images, *owned_labels;
} device_data;

/* What one pass does: evaluate, or train one epoch. */
typedef struct {
    int train;               /* 1: forward, backward, update */
    int bn_update;           /* not train: the forward in training mode, batch norm's running
                              * statistics the cumulative average over the pass's batches
                              * (m->bn_momentum 1/k at batch k; ct_swa_finish resets it) */
    ct_optimizer *opt;
    const ct_train_config *cfg; /* training: the lr follows its schedule (ct_schedule_lr) */
    double lr_scale;         /* times the schedule's lr: the plateau cuts so far (gamma^cuts) */
    int epoch;
    const ct_callbacks *cb;
    double t0;
    ct_dist *dist;           /* training across ranks: this rank's rows, all-reduced gradient */
    float smoothing;         /* the loss's label smoothing (training and evaluation alike) */
    const float *class_weights; /* training: the loss's class weights on the device, or NULL */
} pass_args;

/* mix.c: whether cfg mixes training batches (MixUp or CutMix); the draws of batch `batch` of
 * epoch's order for images h x w into sv's mix_* fields (none: kind 0, lam 1). */
int ct_mix_on(const ct_train_config *cfg);
void ct_mix_draw(const ct_train_config *cfg, int epoch, int64_t batch, int h, int w,
                 ct_step_vars *sv);

/* Does cfg augment each training image (a draw of its own; MixUp and CutMix aside)? */
int ct_augments(const ct_train_config *cfg);
/* The dataset on the device for resident feeding (on the CPU: the dataset itself). */
ct_status ct_device_data_init(device_data *d, ct_backend *b, const ct_dataset *ds);
void ct_device_data_release(device_data *d, ct_backend *b);
/* A feeder of the n samples idx[0..n) in batches of `batch` (shuffled per epoch with seed when
 * shuffle): resident from dd when dd is not NULL, else streamed by `workers` loader threads. */
ct_status ct_feeder_init(feeder *f, ct_model *m, const ct_dataset *ds, const device_data *dd,
                         const int32_t *idx, int64_t n, int batch, int shuffle, uint64_t seed,
                         int workers, int prefetch);
/* A training feeder's step table and whether its steps are recorded (see feeder.c). */
ct_status ct_feeder_init_steps(feeder *f, const ct_dist *dist);
/* Whether a training feeder's steps run as the backend's fused MLP step (see feeder.c). */
ct_status ct_feeder_init_fused(feeder *f, const ct_train_config *cfg);
void ct_feeder_release(feeder *f);
/* Runs one pass over the feeder's samples from batch `first` on (an epoch, or an evaluation),
 * adding loss and correct counts into the shards' stats. *done: batches completed. */
ct_status ct_feeder_pass(feeder *f, int epoch, int64_t first, pass_args *a, int64_t *done);

#endif /* CT_TRAIN_FEEDER_H */
