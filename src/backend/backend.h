/*
 * backend.h — the table every compute device fills (DESIGN.md, "The backend interface").
 *
 * A backend is a struct of function pointers split by concern: device, memory, stream, ops.
 * Layers never ask which device they run on; they call these ops on device pointers.
 * The CPU backend (backend/cpu/cpu.c) is the reference; the CUDA backend (backend/cuda/) is a
 * plugin (libctrain_cuda.so) loaded at run time so that one binary runs where there is no GPU.
 *
 * Conventions
 * - Every pointer passed to an op is a device pointer (for the CPU, host memory) unless named
 *   host_*. Tensors are row-major, float32, batch first: (N, C, H, W) or (N, features).
 * - Ops are asynchronous on the backend's compute stream; only d2h, sync and copy_done block.
 * - An op that a backend does not provide is NULL (see ct_backend_supports).
 * - Ops return CT_OK or a ct_status with ct_last_error() set (file:line of the failing call).
 */
#ifndef CT_BACKEND_H
#define CT_BACKEND_H

#include "ctrain.h"
#include "backend/augment.h"

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#define CT_MAX_COPY_SLOTS 16

typedef enum {
    CT_ACT_RELU = 0,
    CT_ACT_LEAKY_RELU, /* param: negative slope (0.01) */
    CT_ACT_SIGMOID,
    CT_ACT_TANH,
    CT_ACT_GELU,       /* exact (erf) form, as torch.nn.GELU() */
    CT_ACT_RELU6,      /* min(max(x, 0), 6), as torch.nn.ReLU6 (gradient 0 at 0 and 6, as its
                        * hardtanh_backward) */
    CT_ACT_SILU,       /* x * sigmoid(x), torch.nn.SiLU (swish) */
    CT_ACT_HARDSWISH,  /* x * relu6(x + 3) / 6, torch.nn.Hardswish (gradient x/3 + 1/2 on
                        * [-3, 3], 0 below, 1 above: PyTorch's scalar and CUDA kernels; its
                        * vectorised CPU loop gives 1 at exactly 3) */
    CT_ACT_HARDSIGMOID, /* relu6(x + 3) / 6, torch.nn.Hardsigmoid (gradient 1/6 inside
                         * (-3, 3), else 0) */
    CT_ACT_COUNT
} ct_act;

/* The scalars of a training step that change from one step to the next. The training loop
 * writes an epoch's table of them to device memory once per epoch; the first op of each step,
 * step_load, copies the step's row into one device-resident ct_step_vars that the ops read on
 * the device (`sv` below). So the step's ops keep the same arguments from step to step, and a
 * step recorded once (a CUDA graph) replays every later step correctly. An op given sv == NULL
 * uses its own arguments instead (like cuBLAS's host pointer mode). */
typedef struct {
    int64_t pos;          /* the batch's first row in the epoch order (gather_u8) */
    uint64_t step;        /* optimizer updates before this step, < 2^40 (dropout's stream) */
    float lr;             /* the learning rate of this update */
    float momentum;       /* SGD's momentum, Adam's beta1 of this update (OneCycleLR cycles it) */
    float adam_step_size; /* lr / (1 - beta1^t), t = step + 1, as adam_step computes it */
    float adam_bc2_sqrt;  /* sqrt(1 - beta2^t) */
    int32_t first;        /* 1 on the optimizer's first update (SGD's momentum starts as g) */
    float ema_decay;      /* ema_update's decay after this update (0 on the average's first:
                           * it starts as the weights) */
    /* MixUp / CutMix of this batch (train/mix.c draws them): kind CT_MIX_MIXUP or
     * CT_MIX_CUTMIX (0: none), lam (CutMix's: 1 - the box's share of the image) and CutMix's
     * box, rows [mix_y1, mix_y2) and columns [mix_x1, mix_x2) */
    int32_t mix_kind;
    float mix_lam;
    int32_t mix_y1, mix_y2, mix_x1, mix_x2;
    float nadam_grad_size; /* NAdam: the gradient's step (adam_step_size: exp_avg's), as
                            * ct_nadam_factors */
} ct_step_vars;

enum { CT_MIX_MIXUP = 1, CT_MIX_CUTMIX = 2 };

/* A 2-D convolution as torch.nn.Conv2d computes it (a cross-correlation; dilation 1, zero
 * padding): x (n, c, h, w) with weight (oc, c / groups, kh, kw) gives y (n, oc, oh, ow), where
 * oh = (h + 2*pad_h - kh) / stride_h + 1 and ow = (w + 2*pad_w - kw) / stride_w + 1. With
 * groups g > 1 (c and oc multiples of g) output channels [j*oc/g, (j+1)*oc/g) read input
 * channels [j*c/g, (j+1)*c/g) only: g = c is a depthwise convolution. */
typedef struct {
    int n, c, h, w;                      /* input */
    int oc, kh, kw;                      /* filters */
    int stride_h, stride_w, pad_h, pad_w;
    int oh, ow;                          /* output plane */
    int groups;                          /* 0 or 1: dense; else as above */
    int relu;                            /* forward only: 1 gives y = max(conv + bias, 0) (NaN:
                                          * 0), the ReLU that follows fused in (model.c) */
    size_t ws_bytes;                     /* the ops: the bytes at ws, conv2d_workspace of this
                                          * shape at this or a larger batch; 0: exactly
                                          * conv2d_workspace(d) */
} ct_conv2d_desc;

/* d's groups: 1 for a dense convolution (groups 0 or 1) */
static inline int ct_conv_groups(const ct_conv2d_desc *d) { return d->groups > 1 ? d->groups : 1; }

/* A 2-D pooling window (torch.nn.MaxPool2d / AvgPool2d, floor mode): x (n, c, h, w) gives
 * y (n, c, oh, ow) with oh, ow as for ct_conv2d_desc. Requires pad <= kernel / 2 (as PyTorch),
 * so that every window holds at least one input element. */
typedef struct {
    int n, c, h, w;
    int kh, kw, stride_h, stride_w, pad_h, pad_w;
    int oh, ow;
} ct_pool2d_desc;

/* One training step of the MLP flatten -> linear(hidden) -> ReLU -> linear(classes) with softmax
 * cross-entropy and SGD, Adam or AdamW, as one fused op (mlp_step): the same arithmetic as
 * gather_u8 (no augmentation), the layers' forward and backward, xent and sgd_step / adam_step
 * over the parameters, up to the order of float sums. The batch is rows idx[pos + i], i < n, of
 * the resident dataset; w holds W1 (hidden, in), b1 (hidden), W2 (classes, hidden), b2
 * (classes) as the linear layers lay them out, m and v likewise. The step's gradients are not
 * kept. */
typedef struct {
    int64_t n;                      /* rows of the batch (> 0) */
    int in, hidden, classes;
    const uint8_t *images, *labels; /* (count, in), (count): the dataset on the device */
    const int32_t *idx;             /* the epoch's order of dataset rows */
    int64_t pos;                    /* the batch's first place in idx (sv: sv->pos) */
    float scale;                    /* pixel scale (gather_u8's) */
    float grad_scale;               /* d(loss) / d(sum of the rows' losses): 1 / batch */
    float smoothing;                /* label smoothing, as the xent op's */
    const float *class_weights;     /* (classes) device, or NULL, as the xent op's */
    ct_optimizer_kind opt;          /* CT_SGD, CT_ADAM or CT_ADAMW */
    float *w;                       /* parameters */
    float *m;                       /* SGD: momentum buffer or NULL; Adam: exp_avg */
    float *v;                       /* Adam: exp_avg_sq */
    float lr;                       /* sv: sv->lr */
    float momentum, weight_decay;   /* weight_decay: SGD/Adam's L2 term, AdamW's decay */
    int nesterov;
    int first;                      /* SGD's first update (sv: sv->first) */
    float beta1, beta2, eps;        /* Adam */
    float adam_step_size, adam_bc2_sqrt; /* Adam's factors (sv: sv's; see ct_adam_factors) */
    double *stats;                  /* (2) device: += the rows' summed loss and correct count */
    void *ws;                       /* mlp_workspace(b, this) bytes of device memory */
    /* The step table (device), or NULL. With it the op also does step_load's work for each
     * of its steps (*cur = table[*cursor], *cursor += 1) and takes the step's values from that
     * row (sv unused): no step_load launch. */
    const ct_step_vars *table;
    int64_t *cursor;
    ct_step_vars *cur;
    int steps;                      /* consecutive steps of n rows, the table's rows from the
                                     * cursor on (> 1 needs the table); 0 or 1: one */
} ct_mlp_step_desc;

struct ct_backend {
    /* -------------------------------------------------------------------- device */
    const char *name;           /* "cpu" or "cuda" */
    char description[256];      /* one line for humans */
    int host_is_device;         /* 1: device pointers are host pointers (CPU) */
    int threads;                /* CPU threads used by the ops */
    void (*destroy)(ct_backend *b);

    /* -------------------------------------------------------------------- memory */
    ct_status (*alloc)(ct_backend *b, size_t bytes, void **out);      /* device memory */
    void (*free)(ct_backend *b, void *p);                            /* accepts NULL */
    ct_status (*host_alloc)(ct_backend *b, size_t bytes, void **out); /* pinned host memory */
    void (*host_free)(ct_backend *b, void *p);                       /* accepts NULL */
    ct_status (*memset0)(ct_backend *b, void *p, size_t bytes);
    /* Free and total device memory in bytes (NULL when the device's memory is the host's). */
    ct_status (*mem_info)(ct_backend *b, size_t *free_bytes, size_t *total_bytes);

    /* -------------------------------------------------------------------- stream */
    /* Blocking copies (parameters, results), ordered after the work already queued: h2d may
     * overwrite a buffer that queued ops read, so it waits for them; d2h waits for compute. */
    ct_status (*h2d)(ct_backend *b, void *dst, const void *host_src, size_t bytes);
    ct_status (*d2h)(ct_backend *b, void *host_dst, const void *src, size_t bytes);
    ct_status (*d2d)(ct_backend *b, void *dst, const void *src, size_t bytes);
    /* Asynchronous upload from pinned host memory on the copy stream; records event `slot`
     * (0 <= slot < CT_MAX_COPY_SLOTS) after it. */
    ct_status (*h2d_async)(ct_backend *b, void *dst, const void *host_src, size_t bytes,
                           int slot);
    /* Records that the compute stream has finished (so far) with the device buffer that the
     * copies of `slot` fill: the next h2d_async with this slot waits (on the device) for that
     * point before overwriting the buffer. */
    ct_status (*compute_mark)(ct_backend *b, int slot);
    /* The compute stream waits (on the device) for the copy recorded in `slot`. */
    ct_status (*wait_copy)(ct_backend *b, int slot);
    /* The host waits until the copy recorded in `slot` has finished (its source is free). */
    ct_status (*copy_done)(ct_backend *b, int slot);
    ct_status (*sync)(ct_backend *b); /* the host waits for all queued work */

    /* -------------------------------------------------------------------- ops */
    /* C(M,N) = alpha * op(A) * op(B) + beta * C, row-major; op(A) is (M,K), op(B) is (K,N).
     * lda/ldb/ldc are row strides of the matrices as stored. */
    ct_status (*gemm)(ct_backend *b, int trans_a, int trans_b, int M, int N, int K, float alpha,
                      const float *A, int lda, const float *B, int ldb, float beta, float *C,
                      int ldc);
    /* y(outer, channels, inner) += bias(channels) */
    ct_status (*bias_add)(ct_backend *b, float *y, const float *bias, int64_t outer,
                          int64_t channels, int64_t inner);
    /* dbias(channels) = sum over outer and inner of dy(outer, channels, inner) (overwrites) */
    ct_status (*bias_grad)(ct_backend *b, float *dbias, const float *dy, int64_t outer,
                           int64_t channels, int64_t inner);
    /* y(outer, c, inner) = (x(outer, c, inner) - host_mean[c]) * host_inv_std[c] for c <
     * channels (1..CT_MAX_NORM_CHANNELS; host_mean NULL: 0), torchvision's Normalize (its
     * backward: dx = dy * inv_std, with host_mean NULL). x == y allowed. The two arrays are
     * host memory, read when the op is called (a recorded graph keeps their values). */
    ct_status (*normalize)(ct_backend *b, const float *x, float *y, int64_t outer, int channels,
                           int64_t inner, const float *host_mean, const float *host_inv_std);
    /* y = f(x) elementwise (x == y allowed) */
    ct_status (*act_forward)(ct_backend *b, ct_act kind, float param, const float *x, float *y,
                             int64_t n);
    /* dx = f'(x) * dy given x and y = f(x) (dx == dy allowed) */
    ct_status (*act_backward)(ct_backend *b, ct_act kind, float param, const float *x,
                              const float *y, const float *dy, float *dx, int64_t n);
    /* Softmax cross-entropy over logits (n, classes) with labels (n), with PyTorch's label
     * smoothing s in [0, 1] (CrossEntropyLoss(label_smoothing=s)): the target is (1 - s) on
     * the label plus s / classes on every class, a row's loss (1 - s) * (lse - z[y]) +
     * s / classes * sum over c of (lse - z[c]), lse = log(sum of exp(z)). Adds the summed loss
     * to stats[0] and the number of correct argmax predictions to stats[1] (stats: 2 doubles
     * in device memory). When dlogits is not NULL, writes grad_scale * (softmax - target)
     * there (dlogits == logits allowed). class_weights (classes floats in device memory, or
     * NULL: all 1) multiplies each row's loss and gradient by its label's weight, as Keras'
     * class_weight does (the mean stays a mean over the rows: grad_scale is unchanged). With
     * mix_sv (device; a MixUp or CutMix step, mix_sv->mix_kind, lam = mix_sv->mix_lam) and
     * mix_labels (n), the target is lam on the label and 1 - lam on mix_labels' (each then
     * smoothed): a row's loss (1 - s) (lam (lse - z[y]) + (1 - lam) (lse - z[y2])) + s / classes
     * * sum (lse - z[c]); a hit is the argmax on the label of the larger share (lam 0.5: the
     * smaller label, as torch's max of the target). */
    ct_status (*xent)(ct_backend *b, const float *logits, const uint8_t *labels, int64_t n,
                      int classes, float grad_scale, float smoothing,
                      const float *class_weights, const uint8_t *mix_labels,
                      const ct_step_vars *mix_sv, float *dlogits, double *stats);
    /* dst[i][j] = scale * src[idx[i]][j] for i < n, j < row; labels_dst[i] = labels_src[idx[i]]
     * (idx NULL: rows in order). Pixels travel as uint8 and become float here. aug (may be
     * NULL) warps, crops and flips each row on the way (augment.h; row must be c*h*w). With sv, the
     * rows are idx[sv->pos + i] (when idx is given) and aug->first is taken as
     * aug->first + sv->pos. With aug->mix and a mixing step (sv->mix_kind), each row is mixed
     * with its partner (augment.h, ct_mix_partner: a row of src before the first, or after the
     * n-th, when the batch's rows lie there: idx or src must span the batch): MixUp
     * lam * row + (1 - lam) * partner, CutMix the partner's pixels in the box; the partners'
     * labels go to mix_labels_dst (may be NULL). */
    ct_status (*gather_u8)(ct_backend *b, const uint8_t *src, const uint8_t *labels_src,
                           const int32_t *idx, int64_t n, int64_t row, float scale,
                           const ct_augment *aug, const ct_step_vars *sv, float *dst,
                           uint8_t *labels_dst, uint8_t *mix_labels_dst);
    /* dst[i] += src[i] for i < n (summing gradients of shards or ranks) */
    ct_status (*add_into)(ct_backend *b, float *dst, const float *src, int64_t n);
    /* dst[i] = value for i < n */
    ct_status (*fill)(ct_backend *b, float *dst, float value, int64_t n);
    /* y(rows, cols) = x(rows, cols) * s(rows) + add(rows), s and add broadcast along each row
     * (add NULL: none); x == y allowed: a channel gate (squeeze-and-excitation's x * s, with a
     * plane per row) and its input gradient dy * s + the pooling's d(mean) / (H*W) */
    ct_status (*scale_rows)(ct_backend *b, const float *x, const float *s, const float *add,
                            float *y, int64_t rows, int64_t cols);
    /* out(rows) = alpha * the sum of each row of x(rows, cols) * y(rows, cols) (y NULL: of x;
     * overwrites): global average pooling (alpha 1 / cols) and a gate's gradient */
    ct_status (*dot_rows)(ct_backend *b, const float *x, const float *y, float *out,
                          int64_t rows, int64_t cols, float alpha);
    /* PyTorch SGD over n parameters: g += wd*w; m = momentum*m + g (m = g on the first step);
     * g = nesterov ? g + momentum*m : m; w -= lr*g. m may be NULL when momentum == 0.
     * With sv, lr and first_step are sv->lr and sv->first, and momentum (where m is given)
     * sv->momentum; a step whose momentum is 0 leaves m alone, as PyTorch's SGD. */
    ct_status (*sgd_step)(ct_backend *b, float *w, const float *g, float *m, int64_t n, float lr,
                          float momentum, float weight_decay, int nesterov, int first_step,
                          const ct_step_vars *sv);
    /* The exponential moving average of weights (torchvision's ExponentialMovingAverage, Keras'
     * use_ema): avg[i] = decay * avg[i] + (1 - decay) * x[i] for i < n, decay in [0, 1) (0:
     * avg becomes x). With sv, decay is sv->ema_decay. */
    ct_status (*ema_update)(ct_backend *b, float *avg, const float *x, int64_t n, float decay,
                            const ct_step_vars *sv);
    /* *cur = table[*cursor], then *cursor += 1 (all three in device memory): the first op of a
     * training step (see ct_step_vars). */
    ct_status (*step_load)(ct_backend *b, ct_step_vars *cur, const ct_step_vars *table,
                           int64_t *cursor);

    /* -------------------------------------------------------------------- ops: CNNs (issue 5) */
    /* Bytes of device workspace the three conv2d ops need for d (the CPU: one image's im2col
     * columns, or for 3x3 stride-1 layers with 16+ channels Winograd's transformed filters and
     * a block of tiles; CUDA: the batch's columns and a transposed output, in chunks of at most
     * 256 MB, or what cuDNN's algorithms for the shape need when that is more). It may grow
     * with d->n: a workspace sized for the largest batch serves every smaller one. The ops
     * refuse a d->ws_bytes smaller than what they need. */
    size_t (*conv2d_workspace)(ct_backend *b, const ct_conv2d_desc *d);
    /* y (n, oc, oh, ow) = conv(x (n, c, h, w), weight (oc, c / groups, kh, kw)) + bias (oc);
     * bias may be NULL. ws: conv2d_workspace(d) bytes, clobbered. */
    ct_status (*conv2d_forward)(ct_backend *b, const ct_conv2d_desc *d, const float *x,
                                const float *weight, const float *bias, float *y, void *ws);
    /* dx (n, c, h, w) = the gradient of the input for dy (n, oc, oh, ow) (overwrites dx). */
    ct_status (*conv2d_backward_data)(ct_backend *b, const ct_conv2d_desc *d, const float *dy,
                                      const float *weight, float *dx, void *ws);
    /* dweight (oc, c / groups, kh, kw) = sum over the batch of dy ⋆ x, and dbias (oc) = sums of
     * dy over (n, oh, ow) when dbias is not NULL (both overwritten). */
    ct_status (*conv2d_backward_filter)(ct_backend *b, const ct_conv2d_desc *d, const float *x,
                                        const float *dy, float *dweight, float *dbias, void *ws);
    /* Optional (NULL: a layer calls conv2d_backward_filter, then conv2d_backward_data when it
     * wants dx): both at once, with those two ops' results (dx may be NULL); on the CPU's
     * Winograd path dy is then transformed once instead of twice. */
    ct_status (*conv2d_backward)(ct_backend *b, const ct_conv2d_desc *d, const float *x,
                                 const float *dy, const float *weight, float *dx, float *dweight,
                                 float *dbias, void *ws);
    /* y (n, c, oh, ow) = max over each window (padding counts as -inf); argmax (n, c, oh, ow)
     * receives the index ih*w + iw of the maximum within its input plane: scanning the window in
     * row-major order, an element replaces the best so far when it is greater or NaN (as
     * PyTorch: the first maximum wins, a NaN beats numbers); the first element when all are -inf. */
    ct_status (*maxpool2d_forward)(ct_backend *b, const ct_pool2d_desc *d, const float *x,
                                   float *y, int32_t *argmax);
    /* dx (n, c, h, w) = for each input element, the sum of the dy of the outputs whose argmax
     * it is, added in increasing output order (overwrites dx). */
    ct_status (*maxpool2d_backward)(ct_backend *b, const ct_pool2d_desc *d, const float *dy,
                                    const int32_t *argmax, float *dx);
    /* y (n, c, oh, ow) = mean over each window of kh*kw elements, padding counted as zeros
     * (count_include_pad=True, PyTorch's default). */
    ct_status (*avgpool2d_forward)(ct_backend *b, const ct_pool2d_desc *d, const float *x,
                                   float *y);
    /* dx (n, c, h, w) = sum over the windows holding each element of dy / (kh*kw), in
     * increasing output order (overwrites dx). */
    ct_status (*avgpool2d_backward)(ct_backend *b, const ct_pool2d_desc *d, const float *dy,
                                    float *dx);
    /* Inverted dropout of n elements that are elements first .. first+n-1 of a larger tensor:
     * element e is kept when (word >> 8) >= (uint32_t)((double)p * 16777216.0), word being
     * word e % 4 of ct_philox4x32(seed, stream, e / 4) (core.h); kept elements are multiplied by
     * 1/(1-p) (as a float), dropped ones are 0. p >= 1 drops everything. The same (seed, stream,
     * e) gives the same decision on every backend, however the tensor is split. With sv, the
     * stream is stream + sv->step.
     * Forward: y = mask(x) (x == y allowed). */
    ct_status (*dropout_forward)(ct_backend *b, const float *x, float *y, int64_t n, float p,
                                 uint64_t seed, uint64_t stream, uint64_t first,
                                 const ct_step_vars *sv);
    /* Backward: dx = mask(dy) with the same arguments as the forward (dx == dy allowed). */
    ct_status (*dropout_backward)(ct_backend *b, const float *dy, float *dx, int64_t n, float p,
                                  uint64_t seed, uint64_t stream, uint64_t first,
                                  const ct_step_vars *sv);
    /* Batch normalisation of x (n, c, inner) per channel (BatchNorm1d: inner 1; BatchNorm2d:
     * inner h*w): y = (x - mean) * invstd * gamma + beta, invstd = 1 / sqrt(var + eps).
     * train: mean and the biased var are those of x over (n, inner) (accumulated in double);
     * save_mean, save_invstd (c) receive them for the backward; when running_mean and
     * running_var (c) are not NULL they are updated as PyTorch does:
     * r = (1 - momentum) * r + momentum * s, with the unbiased variance (m/(m-1), m = n*inner,
     * m > 1; the biased one when m == 1). Not train: mean and var are the running ones, and
     * save_* are not written (may be NULL). */
    ct_status (*batchnorm_forward)(ct_backend *b, int train, const float *x, float *y,
                                   int64_t n, int64_t c, int64_t inner, const float *gamma,
                                   const float *beta, float eps, float momentum,
                                   float *running_mean, float *running_var, float *save_mean,
                                   float *save_invstd);
    /* The training-mode backward from the forward's save_mean and save_invstd: with
     * xhat = (x - mean) * invstd, dbeta = sum dy, dgamma = sum dy * xhat (over (n, inner),
     * overwritten) and dx = gamma * invstd / m * (m * dy - dbeta - xhat * dgamma), m = n*inner
     * (dx may be NULL). */
    ct_status (*batchnorm_backward)(ct_backend *b, const float *x, const float *dy, float *dx,
                                    int64_t n, int64_t c, int64_t inner, const float *gamma,
                                    const float *save_mean, const float *save_invstd,
                                    float *dgamma, float *dbeta);
    /* Group normalisation (PyTorch's GroupNorm; its LayerNorm is one group of c features,
     * inner 1) of x (n, c, inner): the c channels in `groups` groups of c / groups, each
     * sample's group normalised by the mean and biased variance of its m = c / groups * inner
     * values (in double), y = (x - mean) * invstd * gamma[ch] + beta[ch] with
     * invstd = 1 / sqrt(var + eps); save_mean and save_invstd (n * groups, sample-major)
     * receive them for the backward. The same in training and inference. */
    ct_status (*groupnorm_forward)(ct_backend *b, const float *x, float *y, int64_t n,
                                   int64_t c, int64_t inner, int64_t groups, const float *gamma,
                                   const float *beta, float eps, float *save_mean,
                                   float *save_invstd);
    /* From the forward's statistics, with xhat = (x - mean) * invstd and g = dy * gamma[ch]:
     * dx = invstd * (g - mean(g) - xhat * mean(g * xhat)), the means over each sample's group
     * (dx may be NULL); dgamma[ch] = the sum over (n, inner) of dy * xhat and dbeta[ch] = of
     * dy (overwritten). */
    ct_status (*groupnorm_backward)(ct_backend *b, const float *x, const float *dy, float *dx,
                                    int64_t n, int64_t c, int64_t inner, int64_t groups,
                                    const float *gamma, const float *save_mean,
                                    const float *save_invstd, float *dgamma, float *dbeta);
    /* Token sequences (attention; cpu_seq.c, cuda_seq.cu). gemm over `batch` matrices at once:
     * C_i = alpha * op(A_i) * op(B_i) + beta * C_i with A_i = A + i * stride_a, B_i and C_i
     * alike (cuBLAS's strided batched GEMM); sizes and strides as gemm's. */
    ct_status (*gemm_batched)(ct_backend *b, int trans_a, int trans_b, int M, int N, int K,
                              float alpha, const float *A, int lda, int64_t stride_a,
                              const float *B, int ldb, int64_t stride_b, float beta, float *C,
                              int ldc, int64_t stride_c, int batch);
    /* y = the softmax of each row of x (rows, cols), max-subtracted (x == y allowed) */
    ct_status (*softmax_rows)(ct_backend *b, const float *x, float *y, int64_t rows,
                              int64_t cols);
    /* Its backward, from its output y: dx = y * (dy - the sum over the row of dy * y)
     * (dx == dy allowed) */
    ct_status (*softmax_rows_backward)(ct_backend *b, const float *y, const float *dy,
                                       float *dx, int64_t rows, int64_t cols);
    /* y_i (cols, rows) = x_i (rows, cols) transposed, for `batch` matrices one after the other
     * (x and y do not overlap) */
    ct_status (*transpose)(ct_backend *b, const float *x, float *y, int64_t batch, int64_t rows,
                           int64_t cols);
    /* dst row r (cols values, row stride ldd) = src row r (row stride lds; 0: every row is
     * src's first, a broadcast), for r < rows (dst and src do not overlap) */
    ct_status (*copy2d)(ct_backend *b, float *dst, int64_t ldd, const float *src, int64_t lds,
                        int64_t rows, int64_t cols);
    /* torch.optim.Adam / AdamW / NAdam / RAdam / Adamax (amsgrad off) / Adagrad over n
     * parameters at step t >= 1 (1 on the first update), by variant (CT_ADAM_L2,
     * CT_ADAM_DECOUPLED, CT_ADAM_NADAM, CT_ADAM_RADAM, CT_ADAM_ADAMAX, CT_ADAM_ADAGRAD):
     * decoupled ? w *= 1 - lr*wd : g += wd*w; m = beta1*m + (1-beta1)*g;
     * v = beta2*v + (1-beta2)*g*g; d = sqrt(v) / sqrt(bc2) + eps; Adam: w -= (lr / bc1) * m / d
     * with bc1 = 1 - beta1^t, bc2 = 1 - beta2^t computed in double on the host: in float,
     * step_size = lr / bc1 and bc2_sqrt = sqrt(bc2) (ct_adam_factors); NAdam: w -= grad_size *
     * g / d, then w -= step_size * m / d, with its factors from beta1 and psi (extra), its
     * momentum decay (ct_nadam_factors); RAdam: w -= step_size * m * (bc2_sqrt / (sqrt(v) +
     * eps)), or w -= step_size * m where bc2_sqrt is 0 (ct_radam_factors); Adamax: v =
     * max(beta2*v, |g| + eps), w -= step_size * m / v; Adagrad: v += g*g (m untouched),
     * w -= step_size * g / (sqrt(v) + eps) with step_size = lr / (1 + (t-1) * lr_decay)
     * (extra). See ct_adam_variant_factors. With vmax (n; Adam and AdamW only: AMSGrad,
     * amsgrad=True) vmax = max(vmax, v) (a NaN kept) and d = sqrt(vmax) / sqrt(bc2) + eps. With
     * sv, lr, step_size, bc2_sqrt and NAdam's grad_size are sv's, and beta1 is sv->momentum (t
     * is then only checked to be >= 1). */
    ct_status (*adam_step)(ct_backend *b, float *w, const float *g, float *m, float *v,
                           float *vmax, int64_t n, float lr, float beta1, float beta2, float eps,
                           float weight_decay, int variant, float extra, int64_t t,
                           const ct_step_vars *sv);
    /* torch.optim.RMSprop over n parameters: g += wd*w; v = alpha*v + (1-alpha)*g*g; centered:
     * ga = alpha*ga + (1-alpha)*g and d = sqrt(v - ga*ga) + eps, else d = sqrt(v) + eps; with
     * momentum (m given and this step's momentum != 0) m = momentum*m + g/d, w -= lr*m; else
     * w -= lr*g/d. ga may be NULL when not centered, m when momentum is 0. With sv, lr and
     * momentum are sv's. */
    ct_status (*rmsprop_step)(ct_backend *b, float *w, const float *g, float *m, float *v,
                              float *ga, int64_t n, float lr, float alpha, float eps,
                              float weight_decay, float momentum, int centered,
                              const ct_step_vars *sv);
    /* *out = sum of x[i]^2 for i < n, accumulated in double (out: one double in device
     * memory, overwritten). The global gradient norm is the sqrt of the sum of such parts. */
    ct_status (*sumsq)(ct_backend *b, const float *x, int64_t n, double *out);
    /* torch.nn.utils.clip_grad_norm_: norm = sqrt(parts[0] + ... + parts[n_parts-1]) (device
     * doubles from sumsq); when max_norm / (norm + 1e-6) < 1, x (n) is multiplied by it (as a
     * float). */
    ct_status (*clip_scale)(ct_backend *b, float *x, int64_t n, const double *parts, int n_parts,
                            float max_norm);
    /* torch.nn.utils.clip_grad_value_: each x[i] (n) clamped to [-max, max] (NaN kept) */
    ct_status (*clip_value)(ct_backend *b, float *x, int64_t n, float max);

    /* ------------------------------------- fused steps; NULL where a backend has none (the CPU)
     * Bytes of workspace mlp_step needs for d's shapes and up to d->n rows, or 0 when the
     * fused step does not support them (the layers' ops then train this model). */
    size_t (*mlp_workspace)(ct_backend *b, const ct_mlp_step_desc *d);
    /* d->steps training steps (one when 0) of the MLP of ct_mlp_step_desc: gather, forward,
     * loss, backward and the update, reading pos, lr, first and Adam's factors from d->table
     * (see there), else from sv when it is not NULL, else from d. */
    ct_status (*mlp_step)(ct_backend *b, const ct_mlp_step_desc *d, const ct_step_vars *sv);
    /* How the last mlp_step launched, for humans ("one cooperative kernel of N blocks a run
     * of steps", "three launches a step (...)"); "" where the backend does not say. */
    char mlp_launch[176];

    /* ------------------------------------- collectives across the processes of a job (issue 7)
     * The GPUs of an MPI job sum their gradients with a device library (CUDA: NCCL, loaded at
     * run time); NULL on the CPU, whose ranks all-reduce host memory through MPI. Protocol
     * (dist/dist_device.c): every rank asks coll_available; when all can, rank 0's coll_id is
     * broadcast and every rank calls coll_init with it; then coll_allreduce_sum_f32 sums in
     * place across the ranks, asynchronously on the compute stream like any op. An all-reduce
     * that has not finished timeout_s seconds (> 0; 0: no limit) after it was queued (a rank
     * stopped or unreachable without an error) aborts the communicator, and the next all-reduce
     * or host wait fails. The backend owns its communicator: coll_release leaves it, and
     * destroy does too. */
    ct_status (*coll_available)(ct_backend *b);          /* loads the library; the reason if not */
    ct_status (*coll_id)(ct_backend *b, void *id, size_t *bytes); /* *bytes <= CT_COLL_ID_BYTES */
    ct_status (*coll_init)(ct_backend *b, const void *id, size_t bytes, int nranks, int rank,
                           double timeout_s);
    int (*coll_joined)(ct_backend *b);                   /* 1 while in a communicator */
    ct_status (*coll_allreduce_sum_f32)(ct_backend *b, float *buf, int64_t n);
    void (*coll_release)(ct_backend *b);
    const char *(*coll_name)(ct_backend *b);             /* "NCCL 2.27.3" once loaded */

    /* ------------------------------------- recorded steps (CUDA graphs); NULL on the CPU
     * graph_begin starts recording the ops queued on the compute stream by this thread (they
     * do not run); graph_end stops it and makes *graph a replayable copy of them, or fails
     * (the recording is dropped, nothing ran) when one of them cannot be recorded. A replay
     * runs the same ops with the same arguments, asynchronously like an op. */
    ct_status (*graph_begin)(ct_backend *b);
    ct_status (*graph_end)(ct_backend *b, void **graph);
    ct_status (*graph_launch)(ct_backend *b, void *graph);
    void (*graph_free)(ct_backend *b, void *graph);      /* accepts NULL */
};

enum { /* adam_step's variant */
    CT_ADAM_L2 = 0, CT_ADAM_DECOUPLED = 1, CT_ADAM_NADAM = 2, CT_ADAM_RADAM = 3,
    CT_ADAM_ADAMAX = 4, CT_ADAM_ADAGRAD = 5,
};

/* NAdam's mu_t = beta1 * (1 - 0.5 * 0.96^(t * psi)), and the product mu_1 ... mu_t (t >= 0;
 * 1 for t = 0), in double: one factor after the other up to the first that is beta1 exactly
 * (0.96^(t psi) below double's precision) or a product of 0, then times beta1^(the rest) at
 * once, so that it takes a few thousand factors at most. optim.c keeps the running part
 * (ct_nadam_prefix) and ends it alike (ct_nadam_rest): the same value however reached. */
static inline double ct_nadam_mu(float beta1, float psi, int64_t t) {
    return (double)beta1 * (1.0 - 0.5 * pow(0.96, (double)t * (double)psi));
}
/* Extends the running part *p = mu_1 ... mu_*i towards t; returns 1 once it has ended (every
 * later factor beta1, or *p 0). */
static inline int ct_nadam_prefix(float beta1, float psi, int64_t t, double *p, int64_t *i) {
    while (*i < t) {
        double mu = ct_nadam_mu(beta1, psi, *i + 1);
        if (mu == (double)beta1 || *p == 0.0) return 1;
        *p *= mu;
        ++*i;
    }
    return 0;
}
static inline double ct_nadam_rest(float beta1, int64_t t, double p, int64_t i) {
    return i < t && p != 0.0 ? p * pow((double)beta1, (double)(t - i)) : p;
}
static inline double ct_nadam_product(float beta1, float psi, int64_t t) {
    double p = 1.0;
    int64_t i = 0;
    ct_nadam_prefix(beta1, psi, t, &p, &i);
    return ct_nadam_rest(beta1, t, p, i);
}
/* NAdam's factors for update t >= 1 given prod = mu_1 ... mu_t: grad_size = lr (1 - mu_t) /
 * (1 - prod), step_size = lr mu_{t+1} / (1 - prod mu_{t+1}) (PyTorch 2's; 1.13 multiplied one
 * more mu_t into the second product), bc2_sqrt = sqrt(1 - beta2^t). */
static inline void ct_nadam_factors(float lr, float beta1, float beta2, float psi, int64_t t,
                                    double prod, float *grad_size, float *step_size,
                                    float *bc2_sqrt) {
    double mu = ct_nadam_mu(beta1, psi, t), mu_next = ct_nadam_mu(beta1, psi, t + 1);
    *grad_size = (float)((double)lr * (1.0 - mu) / (1.0 - prod));
    *step_size = (float)((double)lr * mu_next / (1.0 - prod * mu_next));
    *bc2_sqrt = (float)sqrt(1.0 - pow((double)beta2, (double)t));
}

/* Adam's bias-corrected factors for update t >= 1, as adam_step computes them. */
static inline void ct_adam_factors(float lr, float beta1, float beta2, int64_t t,
                                   float *step_size, float *bc2_sqrt) {
    *step_size = (float)((double)lr / (1.0 - pow((double)beta1, (double)t)));
    *bc2_sqrt = (float)sqrt(1.0 - pow((double)beta2, (double)t));
}

/* RAdam's (torch.optim.RAdam) for update t >= 1: with rho_inf = 2 / (1 - beta2) - 1 and
 * rho_t = rho_inf - 2 t beta2^t / (1 - beta2^t), when rho_t > 5 the rectified step,
 * step_size = lr rect / (1 - beta1^t) with rect = sqrt((rho_t - 4)(rho_t - 2) rho_inf /
 * ((rho_inf - 4)(rho_inf - 2) rho_t)) and bc2_sqrt = sqrt(1 - beta2^t); else (the first few
 * updates) the momentum alone: step_size = lr / (1 - beta1^t), bc2_sqrt = 0. */
static inline void ct_radam_factors(float lr, float beta1, float beta2, int64_t t,
                                    float *step_size, float *bc2_sqrt) {
    const double bc1 = 1.0 - pow((double)beta1, (double)t);
    const double b2t = pow((double)beta2, (double)t), bc2 = 1.0 - b2t;
    const double rho_inf = 2.0 / (1.0 - (double)beta2) - 1.0;
    const double rho_t = rho_inf - 2.0 * (double)t * b2t / bc2;
    if (rho_t > 5.0) {
        double rect = sqrt((rho_t - 4.0) * (rho_t - 2.0) * rho_inf /
                           ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_t));
        *step_size = (float)((double)lr * rect / bc1);
        *bc2_sqrt = (float)sqrt(bc2);
    } else {
        *step_size = (float)((double)lr / bc1);
        *bc2_sqrt = 0.0f;
    }
}

/* The factors adam_step takes from sv for update t >= 1 of variant (extra: NAdam's psi, or
 * Adagrad's lr_decay): Adam and AdamW's, NAdam's, RAdam's as above; Adamax's step_size =
 * lr / (1 - beta1^t) (bc2_sqrt 1: unused); Adagrad's step_size = lr / (1 + (t - 1) lr_decay)
 * (bc2_sqrt 1). grad_size: NAdam's, else 0. */
static inline void ct_adam_variant_factors(int variant, float lr, float beta1, float beta2,
                                           float extra, int64_t t, float *grad_size,
                                           float *step_size, float *bc2_sqrt) {
    *grad_size = 0.0f;
    *bc2_sqrt = 1.0f;
    switch (variant) {
    case CT_ADAM_NADAM:
        ct_nadam_factors(lr, beta1, beta2, extra, t, ct_nadam_product(beta1, extra, t),
                         grad_size, step_size, bc2_sqrt);
        break;
    case CT_ADAM_RADAM: ct_radam_factors(lr, beta1, beta2, t, step_size, bc2_sqrt); break;
    case CT_ADAM_ADAMAX:
        *step_size = (float)((double)lr / (1.0 - pow((double)beta1, (double)t)));
        break;
    case CT_ADAM_ADAGRAD:
        *step_size = (float)((double)lr / (1.0 + (double)(t - 1) * (double)extra));
        break;
    default: ct_adam_factors(lr, beta1, beta2, t, step_size, bc2_sqrt);
    }
}

#define CT_COLL_ID_BYTES 128 /* ncclUniqueId */

/* C_j = op(A_j) op(B_j) + beta C_j for each group j < g of a grouped convolution, the
 * operands' blocks sa, sb and sc floats apart: one b->gemm a group (a dense conv: g = 1, one
 * product). The conv2d ops of both backends take all groups' columns from one im2col. */
static inline ct_status ct_gemm_groups(ct_backend *b, int g, int ta, int tb, int M, int N, int K,
                                       const float *A, int lda, size_t sa, const float *B,
                                       int ldb, size_t sb, float beta, float *C, int ldc,
                                       size_t sc) {
    for (int j = 0; j < g; j++) {
        ct_status s = b->gemm(b, ta, tb, M, N, K, 1.0f, A + j * sa, lda, B + j * sb, ldb, beta,
                              C + j * sc, ldc);
        if (s != CT_OK) return s;
    }
    return CT_OK;
}

/* Opens the CPU backend (threads 0 = all cores). */
ct_status ct_cpu_backend_create(int threads, ct_backend **out);
/* gather_u8's checks of its augmentation, for every backend: aug's images of row values,
 * mixing with the step's sv, colour jitter of at most CT_JITTER_MAX_C channels (aug NULL: ok) */
ct_status ct_gather_u8_check(const ct_augment *aug, int64_t row, const ct_step_vars *sv);
/* The other checks every backend makes alike (registry.c): groupnorm_*'s shape, x (n, c, inner)
 * in `groups` groups dividing c (rows n * groups and channels c 32-bit ints); the sequence ops'
 * sizes, none negative (op: the message's name); copy2d's, and its row stride ldd at least the
 * columns where there is a row to copy. */
ct_status ct_groupnorm_check(const char *op, int64_t n, int64_t c, int64_t inner, int64_t groups);
ct_status ct_seq_check(const char *op, int64_t a, int64_t b, int64_t c);
ct_status ct_copy2d_check(int64_t ldd, int64_t lds, int64_t rows, int64_t cols);

/* Entry point of the CUDA plugin (libctrain_cuda.so): opens GPU `device`. On failure returns
 * CT_ERR_DEVICE and sets ct_last_error() to the reason (no driver, no GPU, ...). */
typedef ct_status (*ct_cuda_open_fn)(int device, ct_backend **out);
#define CT_CUDA_OPEN_SYMBOL "ct_cuda_backend_open"
/* Fills buf with one line per GPU (name, memory, compute capability, driver/runtime versions);
 * returns the number of GPUs, or -1 with ct_last_error() set when there is no driver. */
typedef int (*ct_cuda_list_fn)(char *buf, size_t buf_bytes);
#define CT_CUDA_LIST_SYMBOL "ct_cuda_list_devices"
/* sizeof(ct_backend) as the plugin was built: a plugin of another build of ctrain (another op
 * table, one op added, say) is refused rather than called through a table of another layout. */
typedef size_t (*ct_cuda_table_fn)(void);
#define CT_CUDA_TABLE_SYMBOL "ct_cuda_backend_bytes"

/* Does backend b implement op (a member of the table)? */
#define ct_backend_supports(b, op) ((b)->op != NULL)

#endif /* CT_BACKEND_H */
