/*
 * norm.c — normalisation by each sample's own statistics (the same in training and at
 * inference, no running statistics), PyTorch's:
 * - groupnorm(groups[, eps]): nn.GroupNorm(groups, C, eps): the C channels of a (C, H, W) or a
 *   flat (C) input in `groups` groups, each sample's group normalised over its C / groups
 *   channels and the plane, then a weight and a bias per channel (C each);
 * - layernorm[(eps)]: nn.LayerNorm(input shape, eps): each sample normalised over all its values,
 *   then a weight and a bias per value ((F) on flat inputs, (C, H, W) on images); on a token
 *   sequence (T, D), nn.LayerNorm(D): each token normalised over its D features, (D) each.
 * eps 1e-5 by default; weight 1 and bias 0 to start, as PyTorch. Both are the backend's
 * groupnorm ops: a layer norm is one group of C*H*W channels of a plane of one.
 */
#include "nn/layer.h"

#define CT_NORM_EPS 1e-5

/* eps from argument `at` when given (else 1e-5); 0 when it is outside (0, 1) */
static int eps_arg(ct_layer *l, const double *a, int n, int at) {
    if (n > at && !(a[at] > 0.0 && a[at] < 1.0)) return 0;
    l->cfg.gn.eps = (float)(n > at ? a[at] : CT_NORM_EPS);
    return 1;
}

static const char *gn_configure(ct_layer *l, const double *a, int n) {
    const char *usage = "groupnorm takes groupnorm(groups[, eps]) with groups in 1..65536 "
                        "dividing the channels and 0 < eps < 1, e.g. groupnorm(8)";
    if (n < 1 || n > 2 || !ct_spec_is_int(a[0]) || a[0] < 1 || a[0] > 65536 ||
        !eps_arg(l, a, n, 1))
        return usage;
    l->cfg.gn.groups = (int)a[0];
    return NULL;
}

static const char *ln_configure(ct_layer *l, const double *a, int n) {
    if (n > 1 || !eps_arg(l, a, n, 0)) return "layernorm takes layernorm or layernorm(eps) with "
                                              "0 < eps < 1";
    l->cfg.gn.groups = 1;
    return NULL;
}

/* The op's rows a sample: a sequence's tokens, else 1 */
static int64_t gn_rows(const ct_layer *l) { return l->in_seq ? l->in_c : 1; }

/* The op's view: (channels, inner) of a row, and the affine parameters per channel. */
static void gn_view(const ct_layer *l, int64_t *c, int64_t *inner) {
    if (l->in_seq) { /* (a layer norm: groupnorm's kind takes no sequences) */
        *c = l->in_w;
        *inner = 1;
        return;
    }
    const int64_t plane = (int64_t)l->in_h * l->in_w;
    const int layer_norm = l->ops == &ct_layernorm_ops;
    *c = layer_norm ? l->in_c * plane : l->in_c;
    *inner = layer_norm ? 1 : plane;
}

static ct_status gn_setup(ct_layer *l) {
    int64_t c, inner;
    gn_view(l, &c, &inner);
    if (c % l->cfg.gn.groups)
        return ct_fail(CT_ERR_INVALID, "groupnorm(%d): %d groups do not divide the %d channels",
                       l->cfg.gn.groups, l->cfg.gn.groups, l->in_c);
    l->n_params = 2 * c; /* weight, bias */
    l->out_c = l->in_c;
    l->out_h = l->in_h;
    l->out_w = l->in_w;
    return CT_OK;
}

static void gn_init(ct_layer *l, float *host, ct_rng *rng) {
    const int64_t c = l->n_params / 2;
    for (int64_t k = 0; k < c; k++) {
        host[k] = 1.0f;
        host[c + k] = 0.0f;
    }
}

/* the forward's mean and invstd (n * groups each), kept for the backward */
static size_t gn_scratch_bytes(const ct_layer *l, ct_backend *b, int max_batch) {
    return 2 * (size_t)max_batch * (size_t)gn_rows(l) * (size_t)l->cfg.gn.groups * sizeof(float);
}

static ct_status gn_forward(ct_layer *l, ct_backend *b, const float *x, float *y, int n,
                            const ct_layer_ctx *ctx) {
    int64_t c, inner;
    gn_view(l, &c, &inner);
    const int64_t g = l->cfg.gn.groups, rows = n * gn_rows(l);
    float *save = ctx->scratch;
    return b->groupnorm_forward(b, x, y, rows, c, inner, g, l->w, l->w + c, l->cfg.gn.eps, save,
                                save + rows * g);
}

static ct_status gn_backward(ct_layer *l, ct_backend *b, const float *x, const float *y,
                             const float *dy, float *dx, float *dw, int n,
                             const ct_layer_ctx *ctx) {
    int64_t c, inner;
    gn_view(l, &c, &inner);
    const int64_t g = l->cfg.gn.groups, rows = n * gn_rows(l);
    const float *save = ctx->scratch;
    return b->groupnorm_backward(b, x, dy, dx, rows, c, inner, g, l->w, save, save + rows * g,
                                 dw, dw + c);
}

const ct_layer_ops ct_groupnorm_ops = {
    .kind = "groupnorm",
    .configure = gn_configure,
    .setup = gn_setup,
    .init = gn_init,
    .forward = gn_forward,
    .backward = gn_backward,
    .scratch_bytes = gn_scratch_bytes,
};

const ct_layer_ops ct_layernorm_ops = {
    .kind = "layernorm",
    .configure = ln_configure,
    .setup = gn_setup,
    .init = gn_init,
    .forward = gn_forward,
    .backward = gn_backward,
    .scratch_bytes = gn_scratch_bytes,
    .seq = CT_SEQ_TOO,
};
