/*
 * model.h — the sequential model, as the training loop sees it.
 *
 * A model owns: its layers; one contiguous device buffer of parameters and one of gradients,
 * with each layer's views into them; activation buffers sized for max_batch (so that the training
 * step allocates nothing); two ping-pong buffers for input gradients; the labels of the current
 * batch and the loss statistics on the device.
 */
#ifndef CT_MODEL_H
#define CT_MODEL_H

#include "core/pool.h"
#include "nn/layer.h"
#include "optim/optim.h"

#define CT_MAX_LAYERS 640   /* (resnet152: 514) */
#define CT_SPEC_BYTES 8192  /* (resnet152: 5554 characters) */

/* A shard processes a slice of each batch with its own buffers. On the CPU there is one shard
 * per thread, each running the ops single-threaded, and their gradients are summed before the
 * update: one fork/join per step instead of one per op. On a GPU there is one shard. */
#define CT_MAX_SHARDS CT_MAX_THREADS

typedef struct {
    float *acts[CT_MAX_LAYERS + 1]; /* acts[0]: input (max_batch, in); acts[i+1]: layer i's output */
    float *gbuf[2];                 /* (max_batch, widest layer) input-gradient ping-pong */
    float *gskip;                   /* as large, with residual blocks: a block's shortcut's
                                     * gradient while its path runs back (else NULL) */
    uint8_t *labels;                /* (max_batch) device: labels of the shard's rows */
    uint8_t *mix_labels;            /* (max_batch) device: their MixUp / CutMix partners' */
    double *stats;                  /* (2) device: summed loss, correct predictions */
    float *grads;                   /* (n_params) device: the shard's parameter gradients */
    float *grad_acc;                /* (n_params) device or NULL: a batch computed in pieces
                                     * (micro-batches) sums their gradients here
                                     * (ct_model_grad_acc) */
    void *scratch[CT_MAX_LAYERS];   /* layer i's scratch (ops->scratch_bytes) or NULL */
    size_t scratch_bytes[CT_MAX_LAYERS]; /* and its size */
    void *workspace;                /* the layers' shared scratch (ops->scratch_shared, and
                                     * ops->workspace_bytes), or NULL */
    int64_t row0;                   /* first row of the shard's slice within the current batch
                                     * (set by the caller before forward; 0 for one shard) */
} ct_shard;

struct ct_model {
    ct_backend *b;                  /* not owned */
    char spec[CT_SPEC_BYTES];       /* the expanded layer string */
    ct_layer layers[CT_MAX_LAYERS];
    int n_layers;
    int in_c, in_h, in_w;           /* per-sample input shape */
    int classes;                    /* outputs of the last layer */
    int max_batch;
    int64_t n_params;
    float *params;                  /* (n_params) device; each layer's w is a view */
    ct_shard shards[CT_MAX_SHARDS];
    int n_shards;
    ct_pool *pool;                  /* n_shards threads (NULL for one shard) */
    /* shard 0's buffers under short names: the gradient the optimizer applies, the labels and
     * statistics of a single-shard pass */
    float *grads, **acts;
    uint8_t *labels;
    double *stats;
    uint64_t seed;                  /* the creation seed: initialisation, dropout masks */
    /* Buffers (PyTorch's register_buffer): state that is not trained but belongs in a
     * checkpoint — batch norm's running_mean (C) then running_var (C), per layer in order, each
     * layer's buf a view; num_batches_tracked is the host counter layer.cfg.bn.batches_tracked. */
    float *buffers;                 /* (n_buffers) device */
    int64_t n_buffers;
    double *norm_parts;             /* (n_shards) device: gradient sums of squares (clipping) */
    ct_optimizer opt;               /* its state persists across ct_fit calls (resume) */
    /* The moving average of the weights (ct_train_config.ema_decay; train/ema.c), or NULL:
     * (n_params + n_buffers) device floats, the parameters' average then the buffers'. While
     * ema_swapped, params and buffers hold the average and ema the trained weights (ct_fit
     * swaps for validation and at its end). ema_tmp: as large, for the swap. */
    float *ema, *ema_tmp;
    int ema_swapped;
    int64_t ema_updates;            /* updates averaged so far */
    const ct_step_vars *sv;         /* device: the step's scalars while ct_fit trains, else NULL */
    /* While ct_fit trains (ct_train_config.frozen_layers, else 0): the first `frozen` layers keep
     * their weights and buffers and run as at inference; the gradient, its sums and the updates
     * cover the parameters from train_param0 on, the moving average the buffers from
     * train_buf0 on (ct_model_freeze). */
    int frozen;
    /* > 0: every batch norm layer's momentum in training-mode forwards, instead of its own
     * (ct_swa_finish's cumulative pass sets 1/k before batch k); 0: their own */
    float bn_momentum;
    int64_t train_param0, train_buf0;
    char graph_note[256];           /* why the last ct_fit did not record its steps ("": it did,
                                     * or the device has no graphs) */
    char fused_note[240];           /* whether the last ct_fit trained through the backend's
                                     * fused MLP step, or why not ("": the device has none) */
    ct_fit_position pos;            /* where the last ct_fit stopped */
    int64_t train_count;            /* the epoch's training samples in the shards' stats so far,
                                     * queued steps included (ct_model_train_sums) */
    void **owned;                   /* device allocations to free */
    int n_owned, cap_owned;
};

/* Shard 0's input buffer (max_batch, C*H*W) and its logits after forward. */
static inline float *ct_model_input(ct_model *m) { return m->shards[0].acts[0]; }
static inline float *ct_model_logits(ct_model *m) { return m->shards[0].acts[m->n_layers]; }
static inline int64_t ct_model_input_size(const ct_model *m) {
    return (int64_t)m->in_c * m->in_h * m->in_w;
}

/* Runs the layers on the n samples in shard s's input. */
ct_status ct_model_forward_shard(ct_model *m, int s, int n, int train);
/* Adds the loss (cross-entropy with label smoothing `smoothing` and the device array
 * class_weights or NULL, and with mix_sv the MixUp / CutMix targets of its labels and mix_labels:
 * the xent op's) and correct count of shard s's n samples (labels in its labels) to its stats; when training, also backpropagates d(loss sum)/d(logits) * grad_scale
 * into its grads. */
ct_status ct_model_loss_backward_shard(ct_model *m, int s, int n, int train, float grad_scale,
                                       float smoothing, const float *class_weights,
                                       const ct_step_vars *mix_sv);
/* 1 when m is [flatten,] linear(hidden), relu, linear(classes) on `in` features with its
 * parameters laid out as ct_mlp_step_desc says (the backend's fused MLP step can train it). */
int ct_model_mlp_shape(const ct_model *m, int *in, int *hidden, int *classes);
/* Sets m->frozen, train_param0 and train_buf0 for `layers` frozen layers (0: none). */
void ct_model_freeze(ct_model *m, int layers);
/* Allocates every shard's grad_acc, once (a fit whose batches run in pieces). */
ct_status ct_model_grad_acc(ct_model *m);
/* Adds one training step to every batch norm layer's num_batches_tracked (ct_fit, whose steps
 * may replay without running layer code on the host). */
void ct_model_count_batchnorm_step(ct_model *m);
/* Batch norm layers from m->frozen on: their running statistics start over (mean 0, var 1, no
 * batches tracked); *layers: how many. */
ct_status ct_model_batchnorm_reset(ct_model *m, int *layers);
/* Lays out the layers' buffers (n_buffers each) in one device area and writes their initial
 * values (model_buffers.c; called by ct_model_create). */
ct_status ct_model_buffers_init(ct_model *m);
/* ct_model_create refusing, before its parameters and activations are allocated, more than
 * max_params parameters or a layer output of more than max_activations floats for a batch of
 * max_batch (a checkpoint's model cannot have many more parameters than its file has numbers;
 * the fuzz targets keep models small). */
ct_status ct_model_create_capped(ct_backend *b, const char *spec, int in_c, int in_h, int in_w,
                                 int max_batch, uint64_t seed, int64_t max_params,
                                 int64_t max_activations, ct_model **out);
/* The moving average of weights (train/ema.c). ct_ema_alloc makes the areas (once);
 * ct_ema_store copies the model's weights into the average (its start; a loaded average);
 * ct_ema_swap(m, 1) puts the average into params and buffers (0: the trained weights), a no-op
 * when they are there already; ct_ema_weights gives where the trained weights (which 0) or the
 * average (1) are now, parameters then buffers; ct_ema_release frees them (a model without). */
ct_status ct_ema_alloc(ct_model *m);
/* The decay of update k (1, 2, ...) under cfg: 0 for the first (the average starts as the
 * weights after it), then ema_decay; with ema_warmup min(ema_decay, (1 + k) / (10 + k)). */
float ct_ema_decay(const ct_train_config *cfg, int64_t k);
ct_status ct_ema_store(ct_model *m);
ct_status ct_ema_swap(ct_model *m, int average);
void ct_ema_weights(const ct_model *m, int average, float **params, float **buffers);
void ct_ema_release(ct_model *m);
/* Single-shard forms on shard 0, gradient of the mean loss over the n samples. */
ct_status ct_model_forward(ct_model *m, int n, int train);
ct_status ct_model_loss_backward(ct_model *m, int n, int train);

#endif /* CT_MODEL_H */
