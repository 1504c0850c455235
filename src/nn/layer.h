/*
 * layer.h — what a layer is: a table of functions (forward, backward, init) plus a small
 * descriptor with its shapes, its parameter view into the model's one parameter buffer, and its
 * own settings. Layers call backend ops and never ask which device they are on.
 *
 * Shapes are per sample: (C, H, W); a flat feature vector is (F, 1, 1). Batches are batch-first.
 * A token sequence (attention.c) of T tokens of D features is (T, 1, D) with in_seq / out_seq
 * set: stored (N, T, D), each token's features together, as PyTorch's batch_first tensors.
 */
#ifndef CT_LAYER_H
#define CT_LAYER_H

#include "backend/backend.h"
#include "core/core.h"

#include <limits.h>

#define CT_LAYER_NAME_BYTES 48

typedef struct ct_layer ct_layer;

/* What a layer takes (ct_layer_ops.seq): images and flat vectors only (the default), token
 * sequences too (linear and layernorm then act on each token, as PyTorch's on (N, T, D)), or
 * token sequences only. */
enum { CT_SEQ_NO = 0, CT_SEQ_TOO = 1, CT_SEQ_ONLY = 2 };

/* What one forward or backward call of a layer knows besides its tensors (set by the model for
 * each shard pass; the backward of a step sees the same values as its forward). */
typedef struct {
    int train;        /* 1 while training (dropout, batch norm) */
    void *scratch;    /* the layer's per-shard scratch (ops->scratch_bytes), NULL when none */
    size_t scratch_bytes; /* its size */
    int64_t row0;     /* the shard's first row within the whole batch: dropout masks do not
                       * depend on the shard count, and only the shard with row0 == 0 updates
                       * batch norm's running statistics */
    uint64_t seed;    /* the model's seed (dropout masks) */
    const float *skip; /* a residual add's second input: its shortcut's output (forward) */
    int64_t step;     /* optimizer steps taken so far: dropout draws a new mask each step */
    const ct_step_vars *sv; /* device: the step's scalars while ct_fit trains (step is then
                             * sv->step, read on the device), else NULL */
    void *workspace;  /* the shard's workspace: ops->workspace_bytes for up to max_batch
                       * samples, shared by the layers (holds nothing from call to call) */
    float bn_momentum; /* > 0: batch norm's momentum instead of each layer's (ct_model's) */
} ct_layer_ctx;

typedef struct {
    const char *kind; /* "linear", "relu", ... as written in model specs */
    /* Works out out_c/out_h/out_w, n_params and n_buffers from in_* and the settings. */
    ct_status (*setup)(ct_layer *l);
    /* Writes the layer's initial parameters (n_params floats) into host, PyTorch's default. */
    void (*init)(ct_layer *l, float *host, ct_rng *rng);
    /* y = f(x) for n samples. */
    ct_status (*forward)(ct_layer *l, ct_backend *b, const float *x, float *y, int n,
                         const ct_layer_ctx *ctx);
    /* Given x, y and dy: writes the parameter gradients into dw (n_params floats, overwriting)
     * and, when dx is not NULL, the input gradient. */
    ct_status (*backward)(ct_layer *l, ct_backend *b, const float *x, const float *y,
                          const float *dy, float *dx, float *dw, int n, const ct_layer_ctx *ctx);
    int aliases_input; /* 1: y is x (flatten); forward/backward may be NULL */
    /* Optional, may be NULL: takes the spec arguments (kind(a, b, ...)); returns NULL when they
     * are valid, else what is wrong ("conv takes conv(out_channels, kernel[, stride[, pad]])"). */
    const char *(*configure)(ct_layer *l, const double *args, int n_args);
    /* Optional: bytes of device scratch one shard needs for up to max_batch samples (im2col
     * workspace, pooling argmax, batch norm's saved statistics), after setup. */
    size_t (*scratch_bytes)(const ct_layer *l, ct_backend *b, int max_batch);
    /* 1: the scratch holds nothing from one call to the next (a conv's workspace): a shard's
     * layers that say so share one buffer, as large as the largest of them needs; 0: the
     * layer's own (argmax, statistics kept from forward for backward) */
    int scratch_shared;
    /* Optional: initial values of the layer's buffers (n_buffers floats; batch norm's running
     * mean 0 and running variance 1). */
    void (*init_buffers)(ct_layer *l, float *host);
    /* Optional: bytes of device memory one call needs only while it runs, for up to max_batch
     * samples (ctx->workspace; one buffer a shard, the largest any layer asks, shared with the
     * scratch_shared layers' scratch): attention's backward temporaries. */
    size_t (*workspace_bytes)(const ct_layer *l, ct_backend *b, int max_batch);
    int seq; /* CT_SEQ_NO, CT_SEQ_TOO or CT_SEQ_ONLY: see above */
} ct_layer_ops;

struct ct_layer {
    const ct_layer_ops *ops;
    char name[CT_LAYER_NAME_BYTES]; /* parameter prefix, e.g. "linear1" */
    int in_c, in_h, in_w;           /* per-sample input shape */
    int out_c, out_h, out_w;        /* per-sample output shape */
    int in_seq, out_seq;            /* 1: a token sequence (T, 1, D); setup sets out_seq (the
                                     * model sets it to in_seq before) */
    int64_t n_params;               /* floats of parameters (weights then biases) */
    int64_t offset;                 /* where they start in the model's parameter buffer */
    float *w;                       /* view into the model's parameter buffer */
    int index;                      /* position in the model (dropout: one stream per layer) */
    int src;                        /* the activation it reads: the model's acts[src]; its own
                                     * index (the layer before's output) but for the first layer
                                     * of a projection shortcut, which reads its block's input */
    int block;                      /* 0, or k: a layer of residual block k (1, 2, ...): of its
                                     * path, of its shortcut (shortcut = 1) or its add */
    int shortcut;                   /* 1: a layer of its block's projection shortcut */
    int fused;                      /* 1: the layer before computes this one's forward (a ReLU
                                     * after a conv): its output is its input, its backward runs */
    int64_t n_buffers;              /* floats of non-trained state (PyTorch buffers) */
    int64_t buf_offset;             /* where they start in the model's buffer area */
    float *buf;                     /* view into the model's buffer area */
    union {                         /* settings, by kind */
        struct { int units; } linear;
        struct { ct_act kind; float param; } act;
        /* conv(out_c, k[, stride[, pad[, bias[, groups]]]]); bias 0: none; groups >= 1; relu:
         * its forward also applies the ReLU after it */
        struct { int out_c, kernel, stride, pad, bias, groups, relu; } conv;
        struct { int kernel, stride, pad; } pool;          /* maxpool/avgpool(k[, stride[, pad]]) */
        struct { float p; } dropout;                       /* dropout(p), droppath(p) */
        /* batchnorm[(eps[, momentum])]: buffers running_mean (C) then running_var (C) */
        struct { float eps, momentum; int64_t batches_tracked; } bn;
        /* normalize(means..., stds...): n pairs (1: for every channel), 1 / std kept */
        struct { int n; float mean[CT_MAX_NORM_CHANNELS], inv_std[CT_MAX_NORM_CHANNELS]; } norm;
        /* residual(...)'s add: acts[main] (the block's path) + acts[skip] (its input, or its
         * projection shortcut's output); begin: the index of the block's first layer, whose
         * input acts[begin] is the block's */
        struct { int begin, main, skip; } res;
        /* se(squeeze[, act[, gate]]): squeeze-and-excitation (se.c) */
        struct { int squeeze; ct_act act, gate; float act_param, gate_param; } se;
        /* groupnorm(groups[, eps]), layernorm[(eps)] (groups 1): norm.c */
        struct { int groups; float eps; } gn;
        struct { int heads; float dropout; } attn; /* attention(heads[, dropout]) */
    } cfg;
};

static inline int64_t ct_layer_in_size(const ct_layer *l) {
    return (int64_t)l->in_c * l->in_h * l->in_w;
}
static inline int64_t ct_layer_out_size(const ct_layer *l) {
    return (int64_t)l->out_c * l->out_h * l->out_w;
}
/* A spec argument v is an int's value (false for NaN and outside int's range, where the cast
 * would be undefined). */
static inline int ct_spec_is_int(double v) {
    return v >= INT_MIN && v <= INT_MAX && v == (double)(int)v;
}

/* The known layer kinds (layers.c; conv_layers.c; se.c; norm.c; attention.c). */
extern const ct_layer_ops ct_linear_ops, ct_flatten_ops, ct_act_ops, ct_normalize_ops;
extern const ct_layer_ops ct_conv2d_ops, ct_maxpool2d_ops, ct_avgpool2d_ops, ct_dropout_ops,
    ct_batchnorm_ops, ct_global_avgpool_ops, ct_se_ops, ct_droppath_ops, ct_groupnorm_ops,
    ct_layernorm_ops, ct_tokens_ops, ct_clstoken_ops, ct_posembed_ops, ct_clspool_ops,
    ct_attention_ops;
/* The Philox stream of layer l's dropout masks at ctx's step (dropout, droppath and attention's
 * dropout: conv_layers.c); with ctx->sv the op adds the step on the device. */
uint64_t ct_dropout_stream(const ct_layer *l, const ct_layer_ctx *ctx);
/* A residual block's add (model.c builds it at the block's ')'; its backward is the model's). */
extern const ct_layer_ops ct_residual_ops;
/* Finds a kind by the name used in specs ("linear", "relu", "tanh", ...). For activation names
 * *act receives which one. Returns NULL when unknown. */
const ct_layer_ops *ct_layer_kind(const char *name, ct_act *act);

#endif /* CT_LAYER_H */
