/*
 * names.c — a model's tensors under PyTorch's state_dict names and layouts.
 *
 * The scheme (the model names each layer with parameters kindN, model.c):
 *     linear:    NAME.weight (out, in)         NAME.bias (out)
 *     conv:      NAME.weight (out, in, k, k)   NAME.bias (out)
 *     batchnorm: NAME.weight (C)               NAME.bias (C)
 * Parameters are stored weight then bias in the model's one buffer, so each tensor is a slice of
 * it. A kind with parameters that is not listed here gets one flat tensor NAME.params, which
 * ctrain reads back but PyTorch has no name for: add the kind here when adding such a layer.
 */
#include "nn/model.h"

#include "ctrain/io.h"

#include <stdio.h>
#include <string.h>

#define LAYER_MAX_TENSORS 4

const char *ct_model_spec(const ct_model *m) { return m->spec; }

void ct_model_input_shape(const ct_model *m, int *c, int *h, int *w) {
    *c = m->in_c;
    *h = m->in_h;
    *w = m->in_w;
}

static void set(ct_tensor_info *t, const ct_layer *l, const char *what, int64_t offset,
                int ndim, const int64_t *shape) {
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s.%s", l->name, what);
    t->ndim = ndim;
    t->count = 1;
    for (int d = 0; d < ndim; d++) {
        t->shape[d] = shape[d];
        t->count *= shape[d];
    }
    t->offset = offset;
}

static int kind_is(const ct_layer *l, const char *a, const char *b) {
    const char *k = l->ops->kind;
    return !strcmp(k, a) || (b && !strcmp(k, b));
}

/* The tensors of layer l (at most LAYER_MAX_TENSORS) into out; returns how many. */
static int layer_tensors(const ct_layer *l, ct_tensor_info *out) {
    if (l->n_params <= 0) return 0;
    int64_t n = l->n_params, o = l->out_c, in = ct_layer_in_size(l), off = l->offset;
    if (kind_is(l, "linear", NULL) && n == o * in + o) {
        set(&out[0], l, "weight", off, 2, (int64_t[]){o, in});
        set(&out[1], l, "bias", off + o * in, 1, (int64_t[]){o});
        return 2;
    }
    if (kind_is(l, "conv", "conv2d") && o > 0 && l->in_c > 0 && (n - o) % (o * l->in_c) == 0) {
        int64_t kk = (n - o) / (o * l->in_c), k = 1;
        while (k * k < kk) k++;
        if (k * k == kk) {
            set(&out[0], l, "weight", off, 4, (int64_t[]){o, l->in_c, k, k});
            set(&out[1], l, "bias", off + n - o, 1, (int64_t[]){o});
            return 2;
        }
    }
    if (strncmp(l->ops->kind, "batchnorm", 9) == 0 && n == 2 * o) {
        set(&out[0], l, "weight", off, 1, (int64_t[]){o});
        set(&out[1], l, "bias", off + o, 1, (int64_t[]){o});
        return 2;
    }
    set(&out[0], l, "params", off, 1, (int64_t[]){n});
    return 1;
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
        if (i < at + n) {
            *out = t[i - at];
            return CT_OK;
        }
        at += n;
    }
    return ct_fail(CT_ERR_INVALID, "model has %d tensors, no tensor %d", at, i);
}
