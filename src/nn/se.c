/*
 * se.c — squeeze-and-excitation, torchvision.ops.SqueezeExcitation: a gate per channel
 * computed from the whole plane,
 *     s = gate(fc2(act(fc1(mean over H, W of x))))      y = x * s
 * with fc1 a 1x1 conv of C to squeeze channels and fc2 of squeeze to C, both with biases. The
 * spec `se(squeeze[, act[, gate]])`: act ReLU and gate sigmoid by default, as torchvision's
 * (MobileNetV3 gives hardsigmoid, EfficientNet silu). Parameters as its state_dict lays them
 * out: fc1.weight (squeeze, C, 1, 1), fc1.bias (squeeze), fc2.weight (C, squeeze, 1, 1),
 * fc2.bias (C); PyTorch's Conv2d initialisation, U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
 *
 * On a batch of n the 1x1 convs on pooled (n, C) are matrix products, as a linear layer's; the
 * layer's scratch keeps the forward's pooled, fc1, act, fc2 and gate values for its backward.
 */
#include "nn/layer.h"

#include <math.h>

static ct_status se_setup(ct_layer *l) {
    const int64_t c = l->in_c, q = l->cfg.se.squeeze;
    l->out_c = l->in_c;
    l->out_h = l->in_h;
    l->out_w = l->in_w;
    l->n_params = q * c + q + c * q + c;
    return CT_OK;
}

static void se_init(ct_layer *l, float *host, ct_rng *rng) {
    const int64_t c = l->in_c, q = l->cfg.se.squeeze;
    const float b1 = 1.0f / sqrtf((float)c), b2 = 1.0f / sqrtf((float)q); /* 1 / sqrt(fan_in) */
    ct_rng_fill_uniform(rng, host, 2 * (q * c) + q + c);
    for (int64_t i = 0; i < q * c + q; i++) host[i] = (2.0f * host[i] - 1.0f) * b1;
    host += q * c + q;
    for (int64_t i = 0; i < c * q + c; i++) host[i] = (2.0f * host[i] - 1.0f) * b2;
}

/* The scratch of n samples: the forward's pooled (n, C), z1 and a1 = act(z1) (n, q), z2 and
 * s = gate(z2) (n, C); the backward's g (n, C: ds, then dz2), h (n, q: da1, then dz1) and p
 * (n, C: d(pooled) / (H*W)). */
typedef struct { float *pooled, *z1, *a1, *z2, *s, *g, *h, *p; } se_scratch;

static size_t se_scratch_bytes(const ct_layer *l, ct_backend *b, int max_batch) {
    return (size_t)max_batch * (size_t)(5 * l->in_c + 3 * l->cfg.se.squeeze) * sizeof(float);
}

static se_scratch se_views(const ct_layer *l, const ct_layer_ctx *ctx, int n) {
    const int64_t c = (int64_t)n * l->in_c, q = (int64_t)n * l->cfg.se.squeeze;
    se_scratch v;
    v.pooled = ctx->scratch;
    v.z1 = v.pooled + c;
    v.a1 = v.z1 + q;
    v.z2 = v.a1 + q;
    v.s = v.z2 + c;
    v.g = v.s + c;
    v.h = v.g + c;
    v.p = v.h + q;
    return v;
}

static ct_status se_forward(ct_layer *l, ct_backend *b, const float *x, float *y, int n,
                            const ct_layer_ctx *ctx) {
    const int c = l->in_c, q = l->cfg.se.squeeze, P = l->in_h * l->in_w;
    const float *W1 = l->w, *b1 = W1 + (int64_t)q * c, *W2 = b1 + q, *b2 = W2 + (int64_t)c * q;
    se_scratch v = se_views(l, ctx, n);
    CT_TRY(b->dot_rows(b, x, NULL, v.pooled, (int64_t)n * c, P, 1.0f / (float)P));
    CT_TRY(b->gemm(b, 0, 1, n, q, c, 1.0f, v.pooled, c, W1, c, 0.0f, v.z1, q));
    CT_TRY(b->bias_add(b, v.z1, b1, n, q, 1));
    CT_TRY(b->act_forward(b, l->cfg.se.act, l->cfg.se.act_param, v.z1, v.a1, (int64_t)n * q));
    CT_TRY(b->gemm(b, 0, 1, n, c, q, 1.0f, v.a1, q, W2, q, 0.0f, v.z2, c));
    CT_TRY(b->bias_add(b, v.z2, b2, n, c, 1));
    CT_TRY(b->act_forward(b, l->cfg.se.gate, l->cfg.se.gate_param, v.z2, v.s, (int64_t)n * c));
    return b->scale_rows(b, x, v.s, NULL, y, (int64_t)n * c, P);
}

static ct_status se_backward(ct_layer *l, ct_backend *b, const float *x, const float *y,
                             const float *dy, float *dx, float *dw, int n,
                             const ct_layer_ctx *ctx) {
    const int c = l->in_c, q = l->cfg.se.squeeze, P = l->in_h * l->in_w;
    const float *W1 = l->w, *W2 = W1 + (int64_t)q * c + q;
    float *dW1 = dw, *db1 = dW1 + (int64_t)q * c, *dW2 = db1 + q, *db2 = dW2 + (int64_t)c * q;
    se_scratch v = se_views(l, ctx, n);
    /* ds = sum over the plane of dy * x, through the gate: dz2 */
    CT_TRY(b->dot_rows(b, dy, x, v.g, (int64_t)n * c, P, 1.0f));
    CT_TRY(b->act_backward(b, l->cfg.se.gate, l->cfg.se.gate_param, v.z2, v.s, v.g, v.g,
                           (int64_t)n * c));
    /* fc2: dW2 (C, q) = dz2^T a1, db2, da1 (n, q) = dz2 W2; through act: dz1 */
    CT_TRY(b->gemm(b, 1, 0, c, q, n, 1.0f, v.g, c, v.a1, q, 0.0f, dW2, q));
    CT_TRY(b->bias_grad(b, db2, v.g, n, c, 1));
    CT_TRY(b->gemm(b, 0, 0, n, q, c, 1.0f, v.g, c, W2, q, 0.0f, v.h, q));
    CT_TRY(b->act_backward(b, l->cfg.se.act, l->cfg.se.act_param, v.z1, v.a1, v.h, v.h,
                           (int64_t)n * q));
    /* fc1: dW1 (q, C) = dz1^T pooled, db1 */
    CT_TRY(b->gemm(b, 1, 0, q, c, n, 1.0f, v.h, q, v.pooled, c, 0.0f, dW1, c));
    CT_TRY(b->bias_grad(b, db1, v.h, n, q, 1));
    if (!dx) return CT_OK;
    /* dx = dy * s + d(pooled) / P spread over the plane, d(pooled) = dz1 W1 */
    CT_TRY(b->gemm(b, 0, 0, n, c, q, 1.0f / (float)P, v.h, q, W1, c, 0.0f, v.p, c));
    return b->scale_rows(b, dy, v.s, v.p, dx, (int64_t)n * c, P);
}

const ct_layer_ops ct_se_ops = {
    .kind = "se",
    .setup = se_setup,
    .init = se_init,
    .forward = se_forward,
    .backward = se_backward,
    .scratch_bytes = se_scratch_bytes,
};
