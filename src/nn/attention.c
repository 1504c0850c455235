/*
 * attention.c — token sequences and self-attention, the parts of torchvision's VisionTransformer
 * (Dosovitskiy et al. 2021) that are not already layers:
 * - tokens: an image (C, H, W) as H*W tokens of C features, (H*W, 1, C): torchvision's
 *   x.reshape(n, C, H*W).permute(0, 2, 1) after its conv_proj (a conv of kernel and stride P);
 * - clstoken: a learned token (D) put before the others, (T, D) -> (T + 1, D): its class_token
 *   (1, 1, D), zeros to start;
 * - posembed: a learned (T, D) added to every sequence: its pos_embedding (1, T, D), drawn
 *   N(0, 0.02^2) to start;
 * - attention(heads[, p]): nn.MultiheadAttention(D, heads, dropout=p, batch_first=True) as
 *   self-attention, attn(x, x, x): in_proj_weight (3D, D), in_proj_bias (3D), out_proj.weight
 *   (D, D), out_proj.bias (D), initialised as PyTorch's (xavier_uniform_ in_proj_weight, the
 *   biases 0, out_proj.weight as nn.Linear's); p (default 0; torchvision's attention_dropout)
 *   drops attention weights while training, as dropout(p) would the (n, H, T, T) scores after
 *   the softmax (its mask from the layer's Philox stream, as dropout's);
 * - clspool: the first token's features (D), torchvision's x[:, 0] before its head.
 * linear, layernorm, the activations, dropout and residual blocks act on each token of a
 * sequence (layers.c, norm.c), as PyTorch's on (N, T, D): a ViT encoder block is
 * residual(layernorm(1e-6),attention(H),dropout(p)),residual(layernorm(1e-6),linear(M),gelu,
 * dropout(p),linear(D),dropout(p)).
 *
 * Attention on a sample's x (T, D), heads h of d = D / H features:
 *     [Q K V] = x W_in^T + b_in      P_h = softmax(Q_h K_h^T / sqrt(d))      O_h = drop(P_h) V_h
 *     y = [O_1 ... O_H] W_out^T + b_out
 * the projections one GEMM over the batch's n * T tokens, the scores and the products with V
 * a batched GEMM for each head over the n samples.
 */
#include "nn/layer.h"

#include <math.h>

/* ------------------------------------------------------------------------------------------ */
/* tokens: (C, H, W) -> (H*W, 1, C)                                                            */

static ct_status tokens_setup(ct_layer *l) {
    l->out_c = l->in_h * l->in_w;
    l->out_h = 1;
    l->out_w = l->in_c;
    l->out_seq = 1;
    l->n_params = 0;
    return CT_OK;
}

static ct_status tokens_forward(ct_layer *l, ct_backend *b, const float *x, float *y, int n,
                                const ct_layer_ctx *ctx) {
    (void)ctx;
    return b->transpose(b, x, y, n, l->in_c, (int64_t)l->in_h * l->in_w);
}

static ct_status tokens_backward(ct_layer *l, ct_backend *b, const float *x, const float *y,
                                 const float *dy, float *dx, float *dw, int n,
                                 const ct_layer_ctx *ctx) {
    (void)x, (void)y, (void)dw, (void)ctx;
    if (!dx) return CT_OK;
    return b->transpose(b, dy, dx, n, (int64_t)l->in_h * l->in_w, l->in_c);
}

const ct_layer_ops ct_tokens_ops = {
    .kind = "tokens",
    .setup = tokens_setup,
    .forward = tokens_forward,
    .backward = tokens_backward,
};

/* ------------------------------------------------------------------------------------------ */
/* clstoken: (T, D) -> (T + 1, D), the parameter (D) first                                     */

static ct_status clstoken_setup(ct_layer *l) {
    if (l->in_c == INT32_MAX)
        return ct_fail(CT_ERR_INVALID, "clstoken: a sequence of %d tokens", l->in_c);
    l->out_c = l->in_c + 1;
    l->out_h = 1;
    l->out_w = l->in_w;
    l->n_params = l->in_w;
    return CT_OK;
}

static void zero_init(ct_layer *l, float *host, ct_rng *rng) {
    (void)rng;
    for (int64_t i = 0; i < l->n_params; i++) host[i] = 0.0f;
}

/* the backward's row of n ones (the token's gradient: a sum over the batch, as a product) */
static size_t clstoken_scratch_bytes(const ct_layer *l, ct_backend *b, int max_batch) {
    (void)l, (void)b;
    return (size_t)max_batch * sizeof(float);
}

static ct_status clstoken_forward(ct_layer *l, ct_backend *b, const float *x, float *y, int n,
                                  const ct_layer_ctx *ctx) {
    (void)ctx;
    const int64_t D = l->in_w, in = (int64_t)l->in_c * D, out = in + D;
    CT_TRY(b->copy2d(b, y + D, out, x, in, n, in));
    return b->copy2d(b, y, out, l->w, 0, n, D);
}

static ct_status clstoken_backward(ct_layer *l, ct_backend *b, const float *x, const float *y,
                                   const float *dy, float *dx, float *dw, int n,
                                   const ct_layer_ctx *ctx) {
    (void)x, (void)y;
    const int D = l->in_w;
    const int64_t in = (int64_t)l->in_c * D, out = in + D;
    float *ones = ctx->scratch;
    CT_TRY(b->fill(b, ones, 1.0f, n));
    /* dw (1, D) = ones (1, n) . dy[:, 0, :] (n, D), row stride out */
    CT_TRY(b->gemm(b, 0, 0, 1, D, n, 1.0f, ones, n, dy, (int)out, 0.0f, dw, D));
    if (dx) CT_TRY(b->copy2d(b, dx, in, dy + D, out, n, in));
    return CT_OK;
}

const ct_layer_ops ct_clstoken_ops = {
    .kind = "clstoken",
    .setup = clstoken_setup,
    .init = zero_init,
    .forward = clstoken_forward,
    .backward = clstoken_backward,
    .scratch_bytes = clstoken_scratch_bytes,
    .scratch_shared = 1,
    .seq = CT_SEQ_ONLY,
};

/* ------------------------------------------------------------------------------------------ */
/* posembed: y = x + pos, pos (T, D)                                                           */

static ct_status same_shape_setup(ct_layer *l) {
    l->out_c = l->in_c;
    l->out_h = l->in_h;
    l->out_w = l->in_w;
    return CT_OK;
}

static ct_status posembed_setup(ct_layer *l) {
    l->n_params = ct_layer_in_size(l);
    return same_shape_setup(l);
}

static void posembed_init(ct_layer *l, float *host, ct_rng *rng) {
    ct_rng_fill_normal(rng, host, l->n_params);
    for (int64_t i = 0; i < l->n_params; i++) host[i] *= 0.02f; /* torchvision's std */
}

static ct_status posembed_forward(ct_layer *l, ct_backend *b, const float *x, float *y, int n,
                                  const ct_layer_ctx *ctx) {
    (void)ctx;
    const int64_t m = ct_layer_in_size(l);
    CT_TRY(b->d2d(b, y, x, (size_t)n * (size_t)m * sizeof(float)));
    return b->bias_add(b, y, l->w, n, m, 1);
}

static ct_status posembed_backward(ct_layer *l, ct_backend *b, const float *x, const float *y,
                                   const float *dy, float *dx, float *dw, int n,
                                   const ct_layer_ctx *ctx) {
    (void)x, (void)y, (void)ctx;
    const int64_t m = ct_layer_in_size(l);
    CT_TRY(b->bias_grad(b, dw, dy, n, m, 1));
    if (dx) CT_TRY(b->d2d(b, dx, dy, (size_t)n * (size_t)m * sizeof(float)));
    return CT_OK;
}

const ct_layer_ops ct_posembed_ops = {
    .kind = "posembed",
    .setup = posembed_setup,
    .init = posembed_init,
    .forward = posembed_forward,
    .backward = posembed_backward,
    .seq = CT_SEQ_ONLY,
};

/* ------------------------------------------------------------------------------------------ */
/* clspool: (T, D) -> (D), the first token                                                     */

static ct_status clspool_setup(ct_layer *l) {
    l->out_c = l->in_w;
    l->out_h = l->out_w = 1;
    l->out_seq = 0;
    l->n_params = 0;
    return CT_OK;
}

static ct_status clspool_forward(ct_layer *l, ct_backend *b, const float *x, float *y, int n,
                                 const ct_layer_ctx *ctx) {
    (void)ctx;
    return b->copy2d(b, y, l->in_w, x, ct_layer_in_size(l), n, l->in_w);
}

static ct_status clspool_backward(ct_layer *l, ct_backend *b, const float *x, const float *y,
                                  const float *dy, float *dx, float *dw, int n,
                                  const ct_layer_ctx *ctx) {
    (void)x, (void)y, (void)dw, (void)ctx;
    if (!dx) return CT_OK;
    const int64_t m = ct_layer_in_size(l);
    CT_TRY(b->fill(b, dx, 0.0f, (int64_t)n * m));
    return b->copy2d(b, dx, m, dy, l->in_w, n, l->in_w);
}

const ct_layer_ops ct_clspool_ops = {
    .kind = "clspool",
    .setup = clspool_setup,
    .forward = clspool_forward,
    .backward = clspool_backward,
    .seq = CT_SEQ_ONLY,
};

/* ------------------------------------------------------------------------------------------ */
/* attention(heads): multi-head self-attention                                                 */

static const char *attn_configure(ct_layer *l, const double *a, int n) {
    if (n < 1 || n > 2 || !ct_spec_is_int(a[0]) || a[0] < 1 || a[0] > 65536 ||
        (n == 2 && !(a[1] >= 0.0 && a[1] <= 1.0)))
        return "attention takes attention(heads[, dropout]) with heads in 1..65536 dividing the "
               "tokens' features and 0 <= dropout <= 1, e.g. attention(4) or attention(4,0.1)";
    l->cfg.attn.heads = (int)a[0];
    l->cfg.attn.dropout = n == 2 ? (float)a[1] : 0.0f;
    return NULL;
}

static ct_status attn_setup(ct_layer *l) {
    const int64_t D = l->in_w, T = l->in_c, H = l->cfg.attn.heads;
    if (D % H)
        return ct_fail(CT_ERR_INVALID, "attention(%d): %d heads do not divide the %d features "
                       "of a token", l->cfg.attn.heads, l->cfg.attn.heads, l->in_w);
    if (H * T * T > INT32_MAX)
        return ct_fail(CT_ERR_INVALID, "attention(%d): %d heads of %lld x %lld scores are more "
                       "than 2^31 - 1 values a sample", l->cfg.attn.heads, l->cfg.attn.heads,
                       (long long)T, (long long)T);
    l->n_params = 4 * D * D + 4 * D;
    return same_shape_setup(l);
}

static void attn_init(ct_layer *l, float *host, ct_rng *rng) {
    const int64_t D = l->in_w;
    const float xavier = sqrtf(6.0f / (float)(D + 3 * D)), linear = 1.0f / sqrtf((float)D);
    float *w_in = host, *b_in = w_in + 3 * D * D, *w_out = b_in + 3 * D, *b_out = w_out + D * D;
    ct_rng_fill_uniform(rng, w_in, 3 * D * D);
    for (int64_t i = 0; i < 3 * D * D; i++) w_in[i] = (2.0f * w_in[i] - 1.0f) * xavier;
    ct_rng_fill_uniform(rng, w_out, D * D);
    for (int64_t i = 0; i < D * D; i++) w_out[i] = (2.0f * w_out[i] - 1.0f) * linear;
    for (int64_t i = 0; i < 3 * D; i++) b_in[i] = 0.0f;
    for (int64_t i = 0; i < D; i++) b_out[i] = 0.0f;
}

/* The scratch of n samples: the forward's qkv (n, T, 3D), P (n, H, T, T) and O (n, T, D),
 * kept for the backward; and in the workspace (shared by the layers: a ViT's blocks need one)
 * the backward's dO (n, T, D), dS (n, H, T, T) and dqkv (n, T, 3D). With dropout, drop(P) is
 * made in dS's place, by the forward and again by the backward (its mask drawn again: no
 * second (n, H, T, T) kept, 22 MB a sample for vit_b_16's 12 blocks). */
typedef struct { float *qkv, *p, *o, *d_o, *ds, *dqkv; } attn_scratch;

static size_t attn_scratch_bytes(const ct_layer *l, ct_backend *b, int max_batch) {
    (void)b;
    const size_t T = (size_t)l->in_c, D = (size_t)l->in_w, H = (size_t)l->cfg.attn.heads;
    return (size_t)max_batch * (4 * T * D + H * T * T) * sizeof(float);
}

static attn_scratch attn_views(const ct_layer *l, const ct_layer_ctx *ctx, int n) {
    const int64_t T = l->in_c, D = l->in_w, H = l->cfg.attn.heads, tok = (int64_t)n * T;
    attn_scratch v;
    v.qkv = ctx->scratch;
    v.p = v.qkv + tok * 3 * D;
    v.o = v.p + (int64_t)n * H * T * T;
    v.d_o = ctx->workspace; /* (the same sizes) */
    v.ds = v.d_o ? v.d_o + tok * D : NULL;
    v.dqkv = v.ds ? v.ds + (int64_t)n * H * T * T : NULL;
    return v;
}

/* drop(P) into pd: P's dropout of this layer and step (the forward's and the backward's the
 * same mask), the element of sample i, head h, row t, column u at (((row0 + i) H + h) T + t) T
 * + u, as dropout's of a row-major (n, H, T, T) */
static ct_status attn_drop(const ct_layer *l, ct_backend *b, const float *p, float *pd, int n,
                           const ct_layer_ctx *ctx) {
    const int64_t H = l->cfg.attn.heads, TT = (int64_t)l->in_c * l->in_c;
    if (!pd) return ct_fail(CT_ERR_INVALID, "attention: no workspace for its dropout");
    return b->dropout_forward(b, p, pd, n * H * TT, l->cfg.attn.dropout, ctx->seed,
                              ct_dropout_stream(l, ctx), (uint64_t)(ctx->row0 * H * TT), ctx->sv);
}

static ct_status attn_forward(ct_layer *l, ct_backend *b, const float *x, float *y, int n,
                              const ct_layer_ctx *ctx) {
    const int T = l->in_c, D = l->in_w, H = l->cfg.attn.heads, d = D / H, tok = n * T;
    const int64_t TT = (int64_t)T * T, s3 = (int64_t)T * 3 * D;
    const float *w_in = l->w, *b_in = w_in + (int64_t)3 * D * D, *w_out = b_in + 3 * D,
                *b_out = w_out + (int64_t)D * D;
    const float scale = 1.0f / sqrtf((float)d);
    attn_scratch v = attn_views(l, ctx, n);
    CT_TRY(b->gemm(b, 0, 1, tok, 3 * D, D, 1.0f, x, D, w_in, D, 0.0f, v.qkv, 3 * D));
    CT_TRY(b->bias_add(b, v.qkv, b_in, tok, 3 * D, 1));
    for (int h = 0; h < H; h++) { /* S_h (T, T) = scale Q_h K_h^T, for each sample */
        const float *q = v.qkv + h * d, *k = q + D;
        CT_TRY(b->gemm_batched(b, 0, 1, T, T, d, scale, q, 3 * D, s3, k, 3 * D, s3, 0.0f,
                               v.p + h * TT, T, H * TT, n));
    }
    CT_TRY(b->softmax_rows(b, v.p, v.p, (int64_t)n * H * T, T));
    /* P's dropout while training (in eval, and without it, P itself) */
    const float *pd = v.p;
    if (ctx->train && l->cfg.attn.dropout > 0.0f) {
        CT_TRY(attn_drop(l, b, v.p, v.ds, n, ctx));
        pd = v.ds;
    }
    for (int h = 0; h < H; h++) /* O_h (T, d) = drop(P_h) V_h */
        CT_TRY(b->gemm_batched(b, 0, 0, T, d, T, 1.0f, pd + h * TT, T, H * TT,
                               v.qkv + 2 * D + h * d, 3 * D, s3, 0.0f, v.o + h * d, D,
                               (int64_t)T * D, n));
    CT_TRY(b->gemm(b, 0, 1, tok, D, D, 1.0f, v.o, D, w_out, D, 0.0f, y, D));
    return b->bias_add(b, y, b_out, tok, D, 1);
}

static ct_status attn_backward(ct_layer *l, ct_backend *b, const float *x, const float *y,
                               const float *dy, float *dx, float *dw, int n,
                               const ct_layer_ctx *ctx) {
    (void)y;
    const int T = l->in_c, D = l->in_w, H = l->cfg.attn.heads, d = D / H, tok = n * T;
    const int64_t TT = (int64_t)T * T, s3 = (int64_t)T * 3 * D, s1 = (int64_t)T * D;
    const float *w_in = l->w, *w_out = w_in + (int64_t)3 * D * D + 3 * D;
    float *dw_in = dw, *db_in = dw_in + (int64_t)3 * D * D, *dw_out = db_in + 3 * D,
          *db_out = dw_out + (int64_t)D * D;
    const float scale = 1.0f / sqrtf((float)d);
    attn_scratch v = attn_views(l, ctx, n);
    /* the output projection: dW_out = dy^T O, db_out, dO = dy W_out */
    CT_TRY(b->gemm(b, 1, 0, D, D, tok, 1.0f, dy, D, v.o, D, 0.0f, dw_out, D));
    CT_TRY(b->bias_grad(b, db_out, dy, tok, D, 1));
    CT_TRY(b->gemm(b, 0, 0, tok, D, D, 1.0f, dy, D, w_out, D, 0.0f, v.d_o, D));
    const int dropped = ctx->train && l->cfg.attn.dropout > 0.0f;
    if (dropped) CT_TRY(attn_drop(l, b, v.p, v.ds, n, ctx)); /* drop(P) again, in dS's place */
    for (int h = 0; h < H; h++) {
        const float *vh = v.qkv + 2 * D + h * d, *ph = (dropped ? v.ds : v.p) + h * TT,
                    *doh = v.d_o + h * d;
        /* dV_h (T, d) = drop(P_h)^T dO_h; then dP_h (T, T) = dO_h V_h^T over it */
        CT_TRY(b->gemm_batched(b, 1, 0, T, d, T, 1.0f, ph, T, H * TT, doh, D, s1, 0.0f,
                               v.dqkv + 2 * D + h * d, 3 * D, s3, n));
        CT_TRY(b->gemm_batched(b, 0, 1, T, T, d, 1.0f, doh, D, s1, vh, 3 * D, s3, 0.0f,
                               v.ds + h * TT, T, H * TT, n));
    }
    if (dropped) /* through the dropout: dP's elements where it kept P's, scaled as they were */
        CT_TRY(b->dropout_backward(b, v.ds, v.ds, (int64_t)n * H * TT, l->cfg.attn.dropout,
                                   ctx->seed, ct_dropout_stream(l, ctx),
                                   (uint64_t)(ctx->row0 * H * TT), ctx->sv));
    CT_TRY(b->softmax_rows_backward(b, v.p, v.ds, v.ds, (int64_t)n * H * T, T));
    for (int h = 0; h < H; h++) {
        const float *qh = v.qkv + h * d, *kh = qh + D, *dsh = v.ds + h * TT;
        /* dQ_h = scale dS_h K_h; dK_h = scale dS_h^T Q_h */
        CT_TRY(b->gemm_batched(b, 0, 0, T, d, T, scale, dsh, T, H * TT, kh, 3 * D, s3, 0.0f,
                               v.dqkv + h * d, 3 * D, s3, n));
        CT_TRY(b->gemm_batched(b, 1, 0, T, d, T, scale, dsh, T, H * TT, qh, 3 * D, s3, 0.0f,
                               v.dqkv + D + h * d, 3 * D, s3, n));
    }
    /* the input projection: dW_in = dqkv^T x, db_in, dx = dqkv W_in */
    CT_TRY(b->gemm(b, 1, 0, 3 * D, D, tok, 1.0f, v.dqkv, 3 * D, x, D, 0.0f, dw_in, D));
    CT_TRY(b->bias_grad(b, db_in, v.dqkv, tok, 3 * D, 1));
    if (dx) CT_TRY(b->gemm(b, 0, 0, tok, D, 3 * D, 1.0f, v.dqkv, 3 * D, w_in, D, 0.0f, dx, D));
    return CT_OK;
}

const ct_layer_ops ct_attention_ops = {
    .kind = "attention",
    .configure = attn_configure,
    .setup = attn_setup,
    .init = attn_init,
    .forward = attn_forward,
    .backward = attn_backward,
    .scratch_bytes = attn_scratch_bytes,
    .workspace_bytes = attn_scratch_bytes,
    .seq = CT_SEQ_ONLY,
};
