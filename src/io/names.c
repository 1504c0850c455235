/*
 * names.c — a model's tensors under PyTorch's state_dict names and layouts.
 *
 * The scheme (the model names each layer with parameters kindN, model.c):
 *     linear:    NAME.weight (out, in)         NAME.bias (out)
 *     conv:      NAME.weight (out, in / groups, k, k)   NAME.bias (out)
 *     batchnorm: NAME.weight (C)  NAME.bias (C)  and the buffers NAME.running_mean (C),
 *                NAME.running_var (C), NAME.num_batches_tracked (I64 scalar)
 *     se:        NAME.fc1.weight (q, C, 1, 1)  NAME.fc1.bias (q)  NAME.fc2.weight (C, q, 1, 1)
 *                NAME.fc2.bias (C): torchvision.ops.SqueezeExcitation's
 *     groupnorm: NAME.weight (C)  NAME.bias (C)
 *     layernorm: NAME.weight  NAME.bias, of the input's shape: (F) (a plane of 1x1), else
 *                (C, H, W), as nn.LayerNorm(that shape)'s; on a token sequence (T, D): (D)
 *     clstoken:  NAME.class_token (1, 1, D)       posembed: NAME.pos_embedding (1, T, D)
 *     attention: NAME.in_proj_weight (3D, D)  NAME.in_proj_bias (3D)  NAME.out_proj.weight
 *                (D, D)  NAME.out_proj.bias (D): nn.MultiheadAttention's
 * (linear on a token sequence (T, D): weight (out, D), bias (out))
 * Parameters are stored weight then bias in the model's one buffer, buffers in its buffer area,
 * so each tensor is a slice of one of them. A kind with parameters that is not listed here gets
 * one flat tensor NAME.params, which ctrain reads back but PyTorch has no name for: add the kind
 * here when adding such a layer.
 */
#include "nn/model.h"

#include "ctrain/io.h"

#include <stdio.h>
#include <string.h>

#define LAYER_MAX_TENSORS 8

const char *ct_model_spec(const ct_model *m) { return m->spec; }

void ct_model_input_shape(const ct_model *m, int *c, int *h, int *w) {
    *c = m->in_c;
    *h = m->in_h;
    *w = m->in_w;
}

static void set(ct_tensor_info *t, const ct_layer *l, const char *what, ct_tensor_kind kind,
                int64_t offset, int ndim, const int64_t *shape) {
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s.%s", l->name, what);
    t->ndim = ndim;
    t->count = 1;
    for (int d = 0; d < ndim; d++) {
        t->shape[d] = shape[d];
        t->count *= shape[d];
    }
    t->offset = offset;
    t->kind = kind;
    t->layer = l->index;
}

/* The tensors of layer l (at most LAYER_MAX_TENSORS) into out; returns how many. */
static int layer_tensors(const ct_layer *l, ct_tensor_info *out) {
    int64_t n = l->n_params, o = l->out_c, in = ct_layer_in_size(l), off = l->offset;
    const int64_t D = l->in_w; /* a token's features, on a sequence */
    if (l->in_seq && l->ops == &ct_linear_ops) { /* each token's (D) -> (out) */
        o = l->out_w;
        in = D;
    }
    if (l->ops == &ct_linear_ops && n == o * in + o) {
        set(&out[0], l, "weight", CT_TENSOR_PARAM, off, 2, (int64_t[]){o, in});
        set(&out[1], l, "bias", CT_TENSOR_PARAM, off + o * in, 1, (int64_t[]){o});
        return 2;
    }
    const int conv = l->ops == &ct_conv2d_ops, has_bias = conv && l->cfg.conv.bias;
    const int64_t k = l->cfg.conv.kernel, cg = conv ? l->in_c / l->cfg.conv.groups : 0;
    if (conv && n == o * cg * k * k + (has_bias ? o : 0)) { /* (cg: channels a group) */
        set(&out[0], l, "weight", CT_TENSOR_PARAM, off, 4, (int64_t[]){o, cg, k, k});
        if (has_bias) set(&out[1], l, "bias", CT_TENSOR_PARAM, off + n - o, 1, (int64_t[]){o});
        return 1 + has_bias;
    }
    int64_t c = l->in_c;
    if (l->ops == &ct_batchnorm_ops && n == 2 * c && l->n_buffers == 2 * c) {
        set(&out[0], l, "weight", CT_TENSOR_PARAM, off, 1, (int64_t[]){c});
        set(&out[1], l, "bias", CT_TENSOR_PARAM, off + c, 1, (int64_t[]){c});
        set(&out[2], l, "running_mean", CT_TENSOR_BUFFER, l->buf_offset, 1, (int64_t[]){c});
        set(&out[3], l, "running_var", CT_TENSOR_BUFFER, l->buf_offset + c, 1, (int64_t[]){c});
        set(&out[4], l, "num_batches_tracked", CT_TENSOR_COUNTER, 0, 0, NULL);
        return 5;
    }
    if ((l->ops == &ct_groupnorm_ops && n == 2 * c) ||
        (l->ops == &ct_layernorm_ops && n == 2 * (l->in_seq ? D : in))) { /* PyTorch's shapes:
                                            * LayerNorm's the input's, (F) or (C, H, W), or (D) */
        const int flat =
            l->ops == &ct_groupnorm_ops || l->in_seq || (l->in_h == 1 && l->in_w == 1);
        const int64_t image[3] = {c, l->in_h, l->in_w}, f[1] = {n / 2};
        set(&out[0], l, "weight", CT_TENSOR_PARAM, off, flat ? 1 : 3, flat ? f : image);
        set(&out[1], l, "bias", CT_TENSOR_PARAM, off + n / 2, flat ? 1 : 3, flat ? f : image);
        return 2;
    }
    const int64_t q = l->cfg.se.squeeze;
    if (l->ops == &ct_se_ops && n == 2 * q * c + q + c) {
        set(&out[0], l, "fc1.weight", CT_TENSOR_PARAM, off, 4, (int64_t[]){q, c, 1, 1});
        set(&out[1], l, "fc1.bias", CT_TENSOR_PARAM, off + q * c, 1, (int64_t[]){q});
        set(&out[2], l, "fc2.weight", CT_TENSOR_PARAM, off + q * c + q, 4, (int64_t[]){c, q, 1, 1});
        set(&out[3], l, "fc2.bias", CT_TENSOR_PARAM, off + 2 * q * c + q, 1, (int64_t[]){c});
        return 4;
    }
    if (l->ops == &ct_clstoken_ops && n == D) {
        set(&out[0], l, "class_token", CT_TENSOR_PARAM, off, 3, (int64_t[]){1, 1, D});
        return 1;
    }
    if (l->ops == &ct_posembed_ops && n == in) {
        set(&out[0], l, "pos_embedding", CT_TENSOR_PARAM, off, 3, (int64_t[]){1, c, D});
        return 1;
    }
    if (l->ops == &ct_attention_ops && n == 4 * D * D + 4 * D) {
        set(&out[0], l, "in_proj_weight", CT_TENSOR_PARAM, off, 2, (int64_t[]){3 * D, D});
        set(&out[1], l, "in_proj_bias", CT_TENSOR_PARAM, off + 3 * D * D, 1, (int64_t[]){3 * D});
        set(&out[2], l, "out_proj.weight", CT_TENSOR_PARAM, off + 3 * D * D + 3 * D, 2,
            (int64_t[]){D, D});
        set(&out[3], l, "out_proj.bias", CT_TENSOR_PARAM, off + 4 * D * D + 3 * D, 1,
            (int64_t[]){D});
        return 4;
    }
    int k_out = 0;
    if (n > 0) set(&out[k_out++], l, "params", CT_TENSOR_PARAM, off, 1, (int64_t[]){n});
    if (l->n_buffers > 0)
        set(&out[k_out++], l, "buffers", CT_TENSOR_BUFFER, l->buf_offset, 1,
            (int64_t[]){l->n_buffers});
    return k_out;
}

int ct_model_tensor_count(const ct_model *m) {
    int n = 0;
    ct_tensor_info t[LAYER_MAX_TENSORS];
    for (int i = 0; i < m->n_layers; i++) n += layer_tensors(&m->layers[i], t);
    return n;
}

ct_status ct_model_tensor_info(const ct_model *m, int i, ct_tensor_info *out) {
    int at = 0;
    ct_tensor_info t[LAYER_MAX_TENSORS];
    for (int k = 0; k < m->n_layers; k++) {
        int n = layer_tensors(&m->layers[k], t);
        if (i >= 0 && i < at + n) {
            *out = t[i - at];
            return CT_OK;
        }
        at += n;
    }
    return ct_fail(CT_ERR_INVALID, "model has %d tensors, no tensor %d", at, i);
}
