/*
 * layer.h — what a layer is: a table of functions (forward, backward, init) plus a small
 * descriptor with its shapes, its parameter view into the model's one parameter buffer, and its
 * own settings. Layers call backend ops and never ask which device they are on.
 *
 * Shapes are per sample: (C, H, W); a flat feature vector is (F, 1, 1). Batches are batch-first.
 */
#ifndef CT_LAYER_H
#define CT_LAYER_H

#include "backend/backend.h"
#include "core/core.h"

#define CT_LAYER_NAME_BYTES 48

typedef struct ct_layer ct_layer;

typedef struct {
    const char *kind; /* "linear", "relu", ... as written in model specs */
    /* Works out out_c/out_h/out_w and n_params from in_* and the settings. */
    ct_status (*setup)(ct_layer *l);
    /* Writes the layer's initial parameters (n_params floats) into host, PyTorch's default. */
    void (*init)(ct_layer *l, float *host, ct_rng *rng);
    /* y = f(x) for n samples. train: 1 while training (dropout, batch norm). */
    ct_status (*forward)(ct_layer *l, ct_backend *b, const float *x, float *y, int n, int train);
    /* Given x, y and dy: writes the parameter gradients into dw (n_params floats, overwriting)
     * and, when dx is not NULL, the input gradient. */
    ct_status (*backward)(ct_layer *l, ct_backend *b, const float *x, const float *y,
                          const float *dy, float *dx, float *dw, int n);
    int aliases_input; /* 1: y is x (flatten); forward/backward may be NULL */
} ct_layer_ops;

struct ct_layer {
    const ct_layer_ops *ops;
    char name[CT_LAYER_NAME_BYTES]; /* parameter prefix, e.g. "linear1" */
    int in_c, in_h, in_w;           /* per-sample input shape */
    int out_c, out_h, out_w;        /* per-sample output shape */
    int64_t n_params;               /* floats of parameters (weights then biases) */
    int64_t offset;                 /* where they start in the model's parameter buffer */
    float *w;                       /* view into the model's parameter buffer */
    union {                         /* settings, by kind */
        struct { int units; } linear;
        struct { ct_act kind; float param; } act;
    } cfg;
};

static inline int64_t ct_layer_in_size(const ct_layer *l) {
    return (int64_t)l->in_c * l->in_h * l->in_w;
}
static inline int64_t ct_layer_out_size(const ct_layer *l) {
    return (int64_t)l->out_c * l->out_h * l->out_w;
}

/* The known layer kinds (layers.c). */
extern const ct_layer_ops ct_linear_ops, ct_flatten_ops, ct_act_ops;
/* Finds a kind by the name used in specs ("linear", "relu", "tanh", ...). For activation names
 * *act receives which one. Returns NULL when unknown. */
const ct_layer_ops *ct_layer_kind(const char *name, ct_act *act);

#endif /* CT_LAYER_H */
