/*
 * conv_layers.c — the layers of convolutional networks: Conv2d, MaxPool2d, AvgPool2d, Dropout
 * and BatchNorm (1d or 2d by input shape). Each keeps PyTorch's parameter layout and default
 * initialisation so that a checkpoint maps 1:1 onto a state_dict:
 *
 * - conv(out_c, k[, stride[, pad[, bias[, groups]]]]): weight (out_c, C/groups, k, k) then bias
 *   (out_c), both U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with fan_in = C/groups*k*k
 *   (kaiming_uniform_(a=sqrt(5))); bias 0: none (Conv2d(bias=False), as before a batch norm,
 *   which would cancel it); groups as Conv2d's (C and out_c multiples of it; C: depthwise).
 * - maxpool(k[, stride[, pad]]), avgpool(k[, stride[, pad]]): stride defaults to k; average
 *   pooling counts padding as zeros (count_include_pad=True).
 * - dropout[(p)]: p defaults to 0.5; identity when not training. The mask of element j of
 *   batch row r at optimizer step t is drawn from Philox at (model seed, stream of (layer, t),
 *   r * row + j): the same on every backend and for every shard count.
 * - batchnorm[(eps[, momentum])]: BatchNorm1d on (C) inputs, BatchNorm2d on (C, H, W) inputs;
 *   weight (C) = 1 then bias (C) = 0; buffers running_mean (C) = 0 then running_var (C) = 1,
 *   plus num_batches_tracked (a host counter). eps 1e-5, momentum 0.1 as PyTorch.
 *   On the CPU each shard (thread) normalises its own rows with their own statistics (as
 *   DistributedDataParallel without SyncBatchNorm); the running statistics are updated by the
 *   shard that holds row 0 of the batch only.
 */
#include "nn/layer.h"

#include <math.h>
#include <string.h>

/* Output size of a window sweep along one axis: (in + 2*pad - k) / stride + 1, or <= 0. */
static int sweep(int in, int k, int stride, int pad) {
    int64_t span = (int64_t)in + 2 * (int64_t)pad - k, out = span < 0 ? 0 : span / stride + 1;
    return out > INT32_MAX ? INT32_MAX : (int)out; /* (the model then refuses the size) */
}

static void uniform_fill(float *p, int64_t n, float bound, ct_rng *rng) {
    ct_rng_fill_uniform(rng, p, n);
    for (int64_t i = 0; i < n; i++) p[i] = (2.0f * p[i] - 1.0f) * bound;
}

static ct_status same_shape_setup(ct_layer *l) {
    l->out_c = l->in_c;
    l->out_h = l->in_h;
    l->out_w = l->in_w;
    return CT_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* Conv2d: y (N, OC, OH, OW) = conv(x (N, C, H, W), W (OC, C/G, K, K)) + b (OC)                */

static const char *conv_configure(ct_layer *l, const double *a, int n) {
    const char *usage = "conv takes conv(out_channels, kernel[, stride[, padding[, bias[, "
                        "groups]]]]) with out_channels and groups in 1..65536, kernel and stride "
                        "in 1..4096, padding in 0..4096, bias 1, or 0 for none";
    if (n < 2 || n > 6) return usage;
    for (int i = 0; i < n; i++)
        if (!ct_spec_is_int(a[i]) || a[i] < (i == 3 || i == 4 ? 0 : 1) ||
            a[i] > (i == 0 || i == 5 ? 1 << 16 : i == 4 ? 1 : 1 << 12))
            return usage;
    l->cfg.conv.out_c = (int)a[0];
    l->cfg.conv.kernel = (int)a[1];
    l->cfg.conv.stride = n > 2 ? (int)a[2] : 1;
    l->cfg.conv.pad = n > 3 ? (int)a[3] : 0;
    l->cfg.conv.bias = n > 4 ? (int)a[4] : 1;
    l->cfg.conv.groups = n > 5 ? (int)a[5] : 1;
    return NULL;
}

static ct_status conv_setup(ct_layer *l) {
    int k = l->cfg.conv.kernel, s = l->cfg.conv.stride, p = l->cfg.conv.pad;
    int g = l->cfg.conv.groups;
    l->out_c = l->cfg.conv.out_c;
    if (l->in_c % g || l->out_c % g)
        return ct_fail(CT_ERR_INVALID, "conv: its groups (%d) must divide both its input channels "
                       "(%d) and its output channels (%d)", g, l->in_c, l->out_c);
    l->out_h = sweep(l->in_h, k, s, p);
    l->out_w = sweep(l->in_w, k, s, p);
    if (l->out_h <= 0 || l->out_w <= 0)
        return ct_fail(CT_ERR_INVALID, "conv: kernel %d does not fit the input (%d, %d, %d) "
                       "with padding %d", k, l->in_c, l->in_h, l->in_w, p);
    int64_t fan_in = (int64_t)(l->in_c / g) * k * k; /* <= 2^31 * 2^26: no overflow */
    l->n_params = fan_in > INT32_MAX / l->out_c ? INT64_MAX /* (refused as too many) */
                                                : fan_in * l->out_c +
                                                      (l->cfg.conv.bias ? l->out_c : 0);
    return CT_OK;
}

static void conv_init(ct_layer *l, float *host, ct_rng *rng) {
    int64_t fan_in = (int64_t)(l->in_c / l->cfg.conv.groups) * l->cfg.conv.kernel *
                     l->cfg.conv.kernel;
    int64_t nw = fan_in * l->out_c;
    float bound = 1.0f / sqrtf((float)fan_in);
    uniform_fill(host, nw, bound, rng);                              /* weight (OC, C/G, K, K) */
    if (l->cfg.conv.bias) uniform_fill(host + nw, l->out_c, bound, rng); /* bias (OC) */
}

/* ws_bytes: the scratch's size (0 while sizing it) */
static ct_conv2d_desc conv_desc(const ct_layer *l, int n, size_t ws_bytes) {
    int k = l->cfg.conv.kernel, s = l->cfg.conv.stride, p = l->cfg.conv.pad;
    return (ct_conv2d_desc){.n = n, .c = l->in_c, .h = l->in_h, .w = l->in_w, .oc = l->out_c,
                            .kh = k, .kw = k, .stride_h = s, .stride_w = s, .pad_h = p,
                            .pad_w = p, .oh = l->out_h, .ow = l->out_w,
                            .groups = l->cfg.conv.groups, .relu = l->cfg.conv.relu,
                            .ws_bytes = ws_bytes};
}

static size_t conv_scratch_bytes(const ct_layer *l, ct_backend *b, int max_batch) {
    ct_conv2d_desc d = conv_desc(l, max_batch, 0);
    return b->conv2d_workspace(b, &d);
}

static ct_status conv_forward(ct_layer *l, ct_backend *b, const float *x, float *y, int n,
                              const ct_layer_ctx *ctx) {
    ct_conv2d_desc d = conv_desc(l, n, ctx->scratch_bytes);
    const float *bias = l->cfg.conv.bias ? l->w + (l->n_params - l->out_c) : NULL; // (OC)
    return b->conv2d_forward(b, &d, x, l->w, bias, y, ctx->scratch);
}

static ct_status conv_backward(ct_layer *l, ct_backend *b, const float *x, const float *y,
                               const float *dy, float *dx, float *dw, int n,
                               const ct_layer_ctx *ctx) {
    ct_conv2d_desc d = conv_desc(l, n, ctx->scratch_bytes);
    float *db = l->cfg.conv.bias ? dw + (l->n_params - l->out_c) : NULL;
    if (b->conv2d_backward) /* both in one pass where the backend has it */
        return b->conv2d_backward(b, &d, x, dy, l->w, dx, dw, db, ctx->scratch);
    CT_TRY(b->conv2d_backward_filter(b, &d, x, dy, dw, db, ctx->scratch));
    if (dx) CT_TRY(b->conv2d_backward_data(b, &d, dy, l->w, dx, ctx->scratch));
    return CT_OK;
}

const ct_layer_ops ct_conv2d_ops = {
    .kind = "conv",
    .configure = conv_configure,
    .setup = conv_setup,
    .init = conv_init,
    .forward = conv_forward,
    .backward = conv_backward,
    .scratch_bytes = conv_scratch_bytes,
    .scratch_shared = 1, /* (im2col's columns, Winograd's transforms, cuDNN's workspace) */
};

/* ------------------------------------------------------------------------------------------ */
/* MaxPool2d, AvgPool2d: (N, C, H, W) -> (N, C, OH, OW)                                        */

static const char *pool_configure(ct_layer *l, const double *a, int n) {
    const char *usage = "pooling takes maxpool(kernel[, stride[, padding]]) (avgpool alike) "
                        "with kernel and stride in 1..4096, padding in 0..kernel/2";
    if (n < 1 || n > 3) return usage;
    for (int i = 0; i < n; i++)
        if (!ct_spec_is_int(a[i]) || a[i] < (i == 2 ? 0 : 1) || a[i] > 1 << 12) return usage;
    l->cfg.pool.kernel = (int)a[0];
    l->cfg.pool.stride = n > 1 ? (int)a[1] : (int)a[0];
    l->cfg.pool.pad = n > 2 ? (int)a[2] : 0;
    if (2 * l->cfg.pool.pad > l->cfg.pool.kernel) return usage;
    return NULL;
}

static ct_status pool_setup(ct_layer *l) {
    int k = l->cfg.pool.kernel, s = l->cfg.pool.stride, p = l->cfg.pool.pad;
    l->out_c = l->in_c;
    l->out_h = sweep(l->in_h, k, s, p);
    l->out_w = sweep(l->in_w, k, s, p);
    if (l->out_h <= 0 || l->out_w <= 0)
        return ct_fail(CT_ERR_INVALID, "%s: window %d does not fit the input (%d, %d, %d)",
                       l->ops->kind, k, l->in_c, l->in_h, l->in_w);
    l->n_params = 0;
    return CT_OK;
}

static ct_pool2d_desc pool_desc(const ct_layer *l, int n) {
    if (l->ops == &ct_global_avgpool_ops) /* one window, the whole plane */
        return (ct_pool2d_desc){.n = n, .c = l->in_c, .h = l->in_h, .w = l->in_w, .kh = l->in_h,
                                .kw = l->in_w, .stride_h = l->in_h, .stride_w = l->in_w, .oh = 1,
                                .ow = 1};
    int k = l->cfg.pool.kernel, s = l->cfg.pool.stride, p = l->cfg.pool.pad;
    return (ct_pool2d_desc){.n = n, .c = l->in_c, .h = l->in_h, .w = l->in_w, .kh = k, .kw = k,
                            .stride_h = s, .stride_w = s, .pad_h = p, .pad_w = p,
                            .oh = l->out_h, .ow = l->out_w};
}

static size_t maxpool_scratch_bytes(const ct_layer *l, ct_backend *b, int max_batch) {
    return (size_t)max_batch * (size_t)ct_layer_out_size(l) * sizeof(int32_t); // (N, C, OH, OW)
}

static ct_status maxpool_forward(ct_layer *l, ct_backend *b, const float *x, float *y, int n,
                                 const ct_layer_ctx *ctx) {
    ct_pool2d_desc d = pool_desc(l, n);
    return b->maxpool2d_forward(b, &d, x, y, ctx->scratch);
}

static ct_status maxpool_backward(ct_layer *l, ct_backend *b, const float *x, const float *y,
                                  const float *dy, float *dx, float *dw, int n,
                                  const ct_layer_ctx *ctx) {
    if (!dx) return CT_OK;
    ct_pool2d_desc d = pool_desc(l, n);
    return b->maxpool2d_backward(b, &d, dy, ctx->scratch, dx);
}

const ct_layer_ops ct_maxpool2d_ops = {
    .kind = "maxpool",
    .configure = pool_configure,
    .setup = pool_setup,
    .forward = maxpool_forward,
    .backward = maxpool_backward,
    .scratch_bytes = maxpool_scratch_bytes,
};

static ct_status avgpool_forward(ct_layer *l, ct_backend *b, const float *x, float *y, int n,
                                 const ct_layer_ctx *ctx) {
    ct_pool2d_desc d = pool_desc(l, n);
    return b->avgpool2d_forward(b, &d, x, y);
}

static ct_status avgpool_backward(ct_layer *l, ct_backend *b, const float *x, const float *y,
                                  const float *dy, float *dx, float *dw, int n,
                                  const ct_layer_ctx *ctx) {
    if (!dx) return CT_OK;
    ct_pool2d_desc d = pool_desc(l, n);
    return b->avgpool2d_backward(b, &d, dy, dx);
}

const ct_layer_ops ct_avgpool2d_ops = {
    .kind = "avgpool",
    .configure = pool_configure,
    .setup = pool_setup,
    .forward = avgpool_forward,
    .backward = avgpool_backward,
};

/* Global average pooling (AdaptiveAvgPool2d(1), Keras' GlobalAveragePooling2D): (N, C, H, W) ->
 * (N, C, 1, 1), one window of the whole plane; a linear layer may follow without a flatten. On a
 * token sequence (T, D), the mean of the tokens (D), x.mean(1) (Keras' GlobalAveragePooling1D):
 * per sample ones (1, T) / T times x (T, D), and back ones (T, 1) / T times dy (1, D). */
static ct_status global_pool_setup(ct_layer *l) {
    l->out_c = l->in_seq ? l->in_w : l->in_c;
    l->out_h = l->out_w = 1;
    l->out_seq = 0;
    l->n_params = 0;
    return CT_OK;
}

/* a sequence's row of T ones */
static size_t global_pool_scratch_bytes(const ct_layer *l, ct_backend *b, int max_batch) {
    (void)b, (void)max_batch;
    return l->in_seq ? (size_t)l->in_c * sizeof(float) : 0;
}

static ct_status global_pool_forward(ct_layer *l, ct_backend *b, const float *x, float *y, int n,
                                     const ct_layer_ctx *ctx) {
    if (!l->in_seq) return avgpool_forward(l, b, x, y, n, ctx);
    const int T = l->in_c, D = l->in_w;
    CT_TRY(b->fill(b, ctx->scratch, 1.0f, T));
    return b->gemm_batched(b, 0, 0, 1, D, T, 1.0f / (float)T, ctx->scratch, T, 0, x, D,
                           (int64_t)T * D, 0.0f, y, D, D, n);
}

static ct_status global_pool_backward(ct_layer *l, ct_backend *b, const float *x, const float *y,
                                      const float *dy, float *dx, float *dw, int n,
                                      const ct_layer_ctx *ctx) {
    if (!dx) return CT_OK;
    if (!l->in_seq) return avgpool_backward(l, b, x, y, dy, dx, dw, n, ctx);
    const int T = l->in_c, D = l->in_w;
    CT_TRY(b->fill(b, ctx->scratch, 1.0f, T));
    return b->gemm_batched(b, 0, 0, T, D, 1, 1.0f / (float)T, ctx->scratch, 1, 0, dy, D, D, 0.0f,
                           dx, D, (int64_t)T * D, n);
}

const ct_layer_ops ct_global_avgpool_ops = { /* (avgpool's ops, on pool_desc's whole plane) */
    .kind = "globalavgpool",
    .setup = global_pool_setup,
    .forward = global_pool_forward,
    .backward = global_pool_backward,
    .scratch_bytes = global_pool_scratch_bytes,
    .scratch_shared = 1,
    .seq = CT_SEQ_TOO,
};

/* ------------------------------------------------------------------------------------------ */
/* Dropout: shape preserved                                                                    */

#define CT_DROPOUT_DEFAULT_P 0.5
/* Philox counter_hi of a dropout mask: purpose, layer and step never collide (step < 2^40). */
#define CT_DROPOUT_LAYER_SHIFT 40
#define CT_DROPOUT_PURPOSE_SHIFT 56

static const char *dropout_configure(ct_layer *l, const double *a, int n) {
    if (n > 1 || (n == 1 && !(a[0] >= 0.0 && a[0] <= 1.0)))
        return "dropout takes dropout(p) with 0 <= p <= 1 (default 0.5)";
    l->cfg.dropout.p = (float)(n ? a[0] : CT_DROPOUT_DEFAULT_P);
    return NULL;
}

uint64_t ct_dropout_stream(const ct_layer *l, const ct_layer_ctx *ctx) {
    return ((uint64_t)CT_STREAM_DROPOUT << CT_DROPOUT_PURPOSE_SHIFT) |
           ((uint64_t)l->index << CT_DROPOUT_LAYER_SHIFT) |
           (ctx->sv ? 0 : (uint64_t)ctx->step & ((1ull << CT_DROPOUT_LAYER_SHIFT) - 1));
}

static ct_status dropout_forward(ct_layer *l, ct_backend *b, const float *x, float *y, int n,
                                 const ct_layer_ctx *ctx) {
    int64_t size = ct_layer_in_size(l), count = (int64_t)n * size;
    if (!ctx->train || l->cfg.dropout.p == 0.0f)
        return b->d2d(b, y, x, (size_t)count * sizeof(float));
    return b->dropout_forward(b, x, y, count, l->cfg.dropout.p, ctx->seed,
                              ct_dropout_stream(l, ctx), (uint64_t)(ctx->row0 * size), ctx->sv);
}

static ct_status dropout_backward(ct_layer *l, ct_backend *b, const float *x, const float *y,
                                  const float *dy, float *dx, float *dw, int n,
                                  const ct_layer_ctx *ctx) {
    if (!dx) return CT_OK;
    int64_t size = ct_layer_in_size(l), count = (int64_t)n * size;
    if (!ctx->train || l->cfg.dropout.p == 0.0f)
        return b->d2d(b, dx, dy, (size_t)count * sizeof(float));
    return b->dropout_backward(b, dy, dx, count, l->cfg.dropout.p, ctx->seed,
                               ct_dropout_stream(l, ctx), (uint64_t)(ctx->row0 * size), ctx->sv);
}

static ct_status dropout_setup(ct_layer *l) {
    l->n_params = 0;
    return same_shape_setup(l);
}

const ct_layer_ops ct_dropout_ops = {
    .kind = "dropout",
    .configure = dropout_configure,
    .setup = dropout_setup,
    .forward = dropout_forward,
    .backward = dropout_backward,
    .seq = CT_SEQ_TOO,
};

/* ------------------------------------------------------------------------------------------ */
/* Stochastic depth, torchvision.ops.StochasticDepth(p, "row") (timm's DropPath): while        */
/* training each sample is dropped whole with probability p, the kept ones scaled by 1/(1-p);  */
/* at inference the identity. Its mask is dropout's over the samples (sample i of a shard is   */
/* element row0 + i), kept in the scratch for the backward.                                    */

static const char *droppath_configure(ct_layer *l, const double *a, int n) {
    if (n != 1 || !(a[0] >= 0.0 && a[0] <= 1.0))
        return "droppath takes droppath(p) with 0 <= p <= 1";
    l->cfg.dropout.p = (float)a[0];
    return NULL;
}

static size_t droppath_scratch_bytes(const ct_layer *l, ct_backend *b, int max_batch) {
    return (size_t)max_batch * sizeof(float); /* (n): 0 or 1 / (1 - p) */
}

static ct_status droppath_forward(ct_layer *l, ct_backend *b, const float *x, float *y, int n,
                                  const ct_layer_ctx *ctx) {
    const int64_t size = ct_layer_in_size(l);
    if (!ctx->train || l->cfg.dropout.p == 0.0f)
        return b->d2d(b, y, x, (size_t)(n * size) * sizeof(float));
    float *mask = ctx->scratch;
    CT_TRY(b->fill(b, mask, 1.0f, n));
    CT_TRY(b->dropout_forward(b, mask, mask, n, l->cfg.dropout.p, ctx->seed,
                              ct_dropout_stream(l, ctx), (uint64_t)ctx->row0, ctx->sv));
    return b->scale_rows(b, x, mask, NULL, y, n, size);
}

static ct_status droppath_backward(ct_layer *l, ct_backend *b, const float *x, const float *y,
                                   const float *dy, float *dx, float *dw, int n,
                                   const ct_layer_ctx *ctx) {
    const int64_t size = ct_layer_in_size(l);
    if (!dx) return CT_OK;
    if (!ctx->train || l->cfg.dropout.p == 0.0f)
        return b->d2d(b, dx, dy, (size_t)(n * size) * sizeof(float));
    return b->scale_rows(b, dy, ctx->scratch, NULL, dx, n, size);
}

const ct_layer_ops ct_droppath_ops = {
    .kind = "droppath",
    .configure = droppath_configure,
    .setup = dropout_setup,
    .forward = droppath_forward,
    .backward = droppath_backward,
    .scratch_bytes = droppath_scratch_bytes,
    .seq = CT_SEQ_TOO,
};

/* ------------------------------------------------------------------------------------------ */
/* BatchNorm1d / BatchNorm2d over x (N, C, H*W)                                                */

#define CT_BN_EPS 1e-5
#define CT_BN_MOMENTUM 0.1

static const char *bn_configure(ct_layer *l, const double *a, int n) {
    const char *usage = "batchnorm takes batchnorm or batchnorm(eps[, momentum]) with eps > 0 "
                        "and 0 <= momentum <= 1";
    if (n > 2 || (n > 0 && !(a[0] > 0.0 && a[0] < 1.0)) ||
        (n > 1 && !(a[1] >= 0.0 && a[1] <= 1.0)))
        return usage;
    l->cfg.bn.eps = (float)(n > 0 ? a[0] : CT_BN_EPS);
    l->cfg.bn.momentum = (float)(n > 1 ? a[1] : CT_BN_MOMENTUM);
    l->cfg.bn.batches_tracked = 0;
    return NULL;
}

static ct_status bn_setup(ct_layer *l) {
    if (l->cfg.bn.eps == 0.0f) { /* built without configure (no arguments path) */
        l->cfg.bn.eps = (float)CT_BN_EPS;
        l->cfg.bn.momentum = (float)CT_BN_MOMENTUM;
    }
    l->n_params = 2 * (int64_t)l->in_c;  /* weight (C), bias (C) */
    l->n_buffers = 2 * (int64_t)l->in_c; /* running_mean (C), running_var (C) */
    return same_shape_setup(l);
}

static void bn_init(ct_layer *l, float *host, ct_rng *rng) {
    for (int c = 0; c < l->in_c; c++) {
        host[c] = 1.0f;
        host[l->in_c + c] = 0.0f;
    }
}

static void bn_init_buffers(ct_layer *l, float *host) {
    for (int c = 0; c < l->in_c; c++) {
        host[c] = 0.0f;
        host[l->in_c + c] = 1.0f;
    }
}

static size_t bn_scratch_bytes(const ct_layer *l, ct_backend *b, int max_batch) {
    return 2 * (size_t)l->in_c * sizeof(float); /* saved mean (C), saved invstd (C) */
}

static ct_status bn_forward(ct_layer *l, ct_backend *b, const float *x, float *y, int n,
                            const ct_layer_ctx *ctx) {
    int64_t C = l->in_c, inner = (int64_t)l->in_h * l->in_w;
    float *save = ctx->scratch; // (2, C)
    int update = ctx->train && ctx->row0 == 0;
    float momentum = ctx->bn_momentum > 0.0f ? ctx->bn_momentum : l->cfg.bn.momentum;
    CT_TRY(b->batchnorm_forward(b, ctx->train, x, y, n, C, inner, l->w, l->w + C, l->cfg.bn.eps,
                                momentum, update || !ctx->train ? l->buf : NULL,
                                update || !ctx->train ? l->buf + C : NULL, save, save + C));
    /* a host counter: inside ct_fit (sv) the training loop counts each step instead, as a
     * replayed step (CUDA graph) runs no host code */
    if (update && !ctx->sv) l->cfg.bn.batches_tracked++;
    return CT_OK;
}

static ct_status bn_backward(ct_layer *l, ct_backend *b, const float *x, const float *y,
                             const float *dy, float *dx, float *dw, int n,
                             const ct_layer_ctx *ctx) {
    int64_t C = l->in_c, inner = (int64_t)l->in_h * l->in_w;
    const float *save = ctx->scratch; // (2, C)
    return b->batchnorm_backward(b, x, dy, dx, n, C, inner, l->w, save, save + C, dw, dw + C);
}

const ct_layer_ops ct_batchnorm_ops = {
    .kind = "batchnorm",
    .configure = bn_configure,
    .setup = bn_setup,
    .init = bn_init,
    .forward = bn_forward,
    .backward = bn_backward,
    .scratch_bytes = bn_scratch_bytes,
    .init_buffers = bn_init_buffers,
};
