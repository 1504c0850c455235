/*
 * layers.c — the dense layers: Linear, Flatten, the elementwise activations and Normalize.
 *
 * Linear keeps PyTorch's layout: weight (out, in) row-major followed by bias (out), so that a
 * checkpoint maps 1:1 onto a state_dict. Initialisation is PyTorch's default for nn.Linear:
 * kaiming_uniform_(a=sqrt(5)) for the weight, i.e. U(-1/sqrt(in), 1/sqrt(in)), and the same
 * bound for the bias.
 */
#include "nn/layer.h"

#include <math.h>
#include <string.h>

/* ------------------------------------------------------------------------------------------ */
/* Linear: y (N, out) = x (N, in) · W^T (in, out) + b; on a token sequence (T, D) each token's */
/* features: y (N*T, out) = x (N*T, D) · W^T + b, the output (T, out)                          */

/* features in, and rows a sample */
static int linear_in(const ct_layer *l) { return l->in_seq ? l->in_w : (int)ct_layer_in_size(l); }
static int linear_rows(const ct_layer *l) { return l->in_seq ? l->in_c : 1; }

static ct_status linear_setup(ct_layer *l) {
    int64_t in = ct_layer_in_size(l);
    if (l->cfg.linear.units <= 0)
        return ct_fail(CT_ERR_INVALID, "linear: units must be positive, got %d",
                       l->cfg.linear.units);
    if (l->in_seq) {
        l->out_c = l->in_c; /* (T, 1, units) */
        l->out_h = 1;
        l->out_w = l->cfg.linear.units;
        l->n_params = (int64_t)l->in_w * l->out_w + l->out_w;
        return CT_OK;
    }
    if (l->in_h != 1 || l->in_w != 1)
        return ct_fail(CT_ERR_INVALID,
                       "linear: input is (%d, %d, %d); put a flatten layer before it", l->in_c,
                       l->in_h, l->in_w);
    l->out_c = l->cfg.linear.units;
    l->out_h = l->out_w = 1;
    l->n_params = in * l->out_c + l->out_c;
    return CT_OK;
}

static void uniform_fill(float *p, int64_t n, float bound, ct_rng *rng) {
    ct_rng_fill_uniform(rng, p, n);
    for (int64_t i = 0; i < n; i++) p[i] = (2.0f * p[i] - 1.0f) * bound;
}

static void linear_init(ct_layer *l, float *host, ct_rng *rng) {
    int64_t in = linear_in(l), out = l->cfg.linear.units;
    float bound = 1.0f / sqrtf((float)in);
    uniform_fill(host, in * out, bound, rng);      /* weight (out, in) */
    uniform_fill(host + in * out, out, bound, rng); /* bias (out) */
}

static ct_status linear_forward(ct_layer *l, ct_backend *b, const float *x, float *y, int n,
                                const ct_layer_ctx *ctx) {
    int in = linear_in(l), out = l->cfg.linear.units;
    n *= linear_rows(l);
    const float *W = l->w, *bias = l->w + (int64_t)in * out; // (out, in), (out)
    CT_TRY(b->gemm(b, 0, 1, n, out, in, 1.0f, x, in, W, in, 0.0f, y, out));
    return b->bias_add(b, y, bias, n, out, 1);
}

static ct_status linear_backward(ct_layer *l, ct_backend *b, const float *x, const float *y,
                                 const float *dy, float *dx, float *dw, int n,
                                 const ct_layer_ctx *ctx) {
    int in = linear_in(l), out = l->cfg.linear.units;
    n *= linear_rows(l);
    float *dW = dw, *db = dw + (int64_t)in * out; // (out, in), (out)
    /* dW (out, in) = dy^T (out, N) · x (N, in) */
    CT_TRY(b->gemm(b, 1, 0, out, in, n, 1.0f, dy, out, x, in, 0.0f, dW, in));
    CT_TRY(b->bias_grad(b, db, dy, n, out, 1));
    /* dx (N, in) = dy (N, out) · W (out, in) */
    if (dx) CT_TRY(b->gemm(b, 0, 0, n, in, out, 1.0f, dy, out, l->w, in, 0.0f, dx, in));
    return CT_OK;
}

const ct_layer_ops ct_linear_ops = {
    .kind = "linear",
    .setup = linear_setup,
    .init = linear_init,
    .forward = linear_forward,
    .backward = linear_backward,
    .seq = CT_SEQ_TOO,
};

/* ------------------------------------------------------------------------------------------ */
/* Flatten: (C, H, W) -> (C*H*W, 1, 1); the output is the input buffer                         */

static ct_status flatten_setup(ct_layer *l) {
    l->out_c = (int)ct_layer_in_size(l);
    l->out_h = l->out_w = 1;
    l->out_seq = 0;
    l->n_params = 0;
    return CT_OK;
}

const ct_layer_ops ct_flatten_ops = {
    .kind = "flatten",
    .setup = flatten_setup,
    .aliases_input = 1,
    .seq = CT_SEQ_TOO, /* (T, D) -> (T*D) */
};

/* ------------------------------------------------------------------------------------------ */
/* Activations: elementwise, shape preserved                                                   */

static ct_status act_setup(ct_layer *l) {
    l->out_c = l->in_c;
    l->out_h = l->in_h;
    l->out_w = l->in_w;
    l->n_params = 0;
    return CT_OK;
}

static ct_status act_forward(ct_layer *l, ct_backend *b, const float *x, float *y, int n,
                             const ct_layer_ctx *ctx) {
    return b->act_forward(b, l->cfg.act.kind, l->cfg.act.param, x, y,
                          (int64_t)n * ct_layer_in_size(l));
}

static ct_status act_backward(ct_layer *l, ct_backend *b, const float *x, const float *y,
                              const float *dy, float *dx, float *dw, int n,
                              const ct_layer_ctx *ctx) {
    if (!dx) return CT_OK;
    return b->act_backward(b, l->cfg.act.kind, l->cfg.act.param, x, y, dy, dx,
                           (int64_t)n * ct_layer_in_size(l));
}

const ct_layer_ops ct_act_ops = {
    .kind = "activation",
    .setup = act_setup,
    .forward = act_forward,
    .backward = act_backward,
    .seq = CT_SEQ_TOO,
};

/* ------------------------------------------------------------------------------------------ */
/* normalize(mean, std) or normalize(m1, ..., mC, s1, ..., sC): torchvision's Normalize (Keras'   */
/* Normalization layer) inside the model, y = (x - mean) / std per channel (one pair: for all    */
/* channels); no parameters, so a checkpoint's tensors are those of the model without it.        */

static const char *norm_configure(ct_layer *l, const double *a, int n) {
    const char *usage = "normalize takes normalize(mean, std) or normalize(mean1, ..., meanC, "
                        "std1, ..., stdC) for C <= 4 channels, each std > 0";
    if (n < 2 || n % 2 || n / 2 > CT_MAX_NORM_CHANNELS) return usage;
    l->cfg.norm.n = n / 2;
    for (int c = 0; c < n / 2; c++) {
        float m = (float)a[c], s = (float)a[n / 2 + c];
        if (!isfinite(m) || !(s > 0.0f) || !isfinite(s) || !isfinite(1.0f / s)) return usage;
        l->cfg.norm.mean[c] = m;
        l->cfg.norm.inv_std[c] = 1.0f / s;
    }
    return NULL;
}

static ct_status norm_setup(ct_layer *l) {
    if (l->cfg.norm.n != 1 && l->cfg.norm.n != l->in_c)
        return ct_fail(CT_ERR_INVALID, "normalize: %d means and stds for inputs of %d channel%s "
                       "(give one pair, or one a channel)", l->cfg.norm.n, l->in_c,
                       l->in_c == 1 ? "" : "s");
    return act_setup(l);
}

/* (one pair: the whole sample as one channel) */
static ct_status norm_apply(const ct_layer *l, ct_backend *b, const float *x, float *y, int n,
                            const float *mean) {
    int per = l->cfg.norm.n > 1;
    return b->normalize(b, x, y, n, per ? l->in_c : 1,
                        per ? (int64_t)l->in_h * l->in_w : ct_layer_in_size(l), mean,
                        l->cfg.norm.inv_std);
}

static ct_status norm_forward(ct_layer *l, ct_backend *b, const float *x, float *y, int n,
                              const ct_layer_ctx *ctx) {
    return norm_apply(l, b, x, y, n, l->cfg.norm.mean);
}

static ct_status norm_backward(ct_layer *l, ct_backend *b, const float *x, const float *y,
                               const float *dy, float *dx, float *dw, int n,
                               const ct_layer_ctx *ctx) {
    return dx ? norm_apply(l, b, dy, dx, n, NULL) : CT_OK; /* dx = dy / std */
}

const ct_layer_ops ct_normalize_ops = {
    .kind = "normalize",
    .configure = norm_configure,
    .setup = norm_setup,
    .forward = norm_forward,
    .backward = norm_backward,
};

/* ------------------------------------------------------------------------------------------ */
/* Residual add: y = x (the block's path) + skip (its input or its projection shortcut's)      */

static ct_status residual_forward(ct_layer *l, ct_backend *b, const float *x, float *y, int n,
                                  const ct_layer_ctx *ctx) {
    const int64_t count = (int64_t)n * ct_layer_out_size(l);
    CT_TRY(b->d2d(b, y, x, (size_t)count * sizeof(float)));
    return b->add_into(b, y, ctx->skip, count);
}

/* Its backward routes dy to both inputs; model.c does it (the shortcut's gradient is added to
 * the block's input gradient once the block's path has been run back). */
const ct_layer_ops ct_residual_ops = {
    .kind = "residual",
    .setup = act_setup, /* (the shape kept; model.c checks the two inputs') */
    .forward = residual_forward,
    .seq = CT_SEQ_TOO,
};

/* ------------------------------------------------------------------------------------------ */
/* registry                                                                                    */

const ct_layer_ops *ct_layer_kind(const char *name, ct_act *act) {
    static const struct { const char *name; ct_act act; } acts[] = {
        {"relu", CT_ACT_RELU},       {"leakyrelu", CT_ACT_LEAKY_RELU}, {"sigmoid", CT_ACT_SIGMOID},
        {"tanh", CT_ACT_TANH},       {"gelu", CT_ACT_GELU},            {"relu6", CT_ACT_RELU6},
        {"silu", CT_ACT_SILU},       {"hardswish", CT_ACT_HARDSWISH},
        {"hardsigmoid", CT_ACT_HARDSIGMOID},
    };
    static const ct_layer_ops *const kinds[] = {
        &ct_linear_ops,    &ct_flatten_ops, &ct_conv2d_ops,    &ct_maxpool2d_ops,
        &ct_avgpool2d_ops, &ct_dropout_ops, &ct_batchnorm_ops, &ct_normalize_ops,
        &ct_global_avgpool_ops, &ct_se_ops, &ct_droppath_ops, &ct_groupnorm_ops,
        &ct_layernorm_ops, &ct_tokens_ops, &ct_clstoken_ops, &ct_posembed_ops, &ct_clspool_ops,
        &ct_attention_ops,
    };
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (!strcmp(name, kinds[i]->kind)) return kinds[i];
    for (size_t i = 0; i < sizeof acts / sizeof acts[0]; i++)
        if (!strcmp(name, acts[i].name)) {
            *act = acts[i].act;
            return &ct_act_ops;
        }
    return NULL;
}
