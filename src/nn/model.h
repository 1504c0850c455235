/*
 * model.h — the sequential model, as the training loop sees it.
 *
 * A model owns: its layers; one contiguous device buffer of parameters and one of gradients,
 * with each layer's views into them; activation buffers sized for max_batch (so that the training
 * step allocates nothing); two ping-pong buffers for input gradients; the labels of the current
 * batch and the loss statistics on the device.
 */
#ifndef CT_MODEL_H
#define CT_MODEL_H

#include "nn/layer.h"

#define CT_MAX_LAYERS 64
#define CT_SPEC_BYTES 1024

struct ct_model {
    ct_backend *b;                  /* not owned */
    char spec[CT_SPEC_BYTES];       /* the expanded layer string */
    ct_layer layers[CT_MAX_LAYERS];
    int n_layers;
    int in_c, in_h, in_w;           /* per-sample input shape */
    int classes;                    /* outputs of the last layer */
    int max_batch;
    int64_t n_params;
    float *params;                  /* (n_params) device */
    float *grads;                   /* (n_params) device */
    float *acts[CT_MAX_LAYERS + 1]; /* acts[0]: input (max_batch, in); acts[i+1]: layer i's output */
    float *gbuf[2];                 /* (max_batch, largest layer size) input-gradient ping-pong */
    uint8_t *labels;                /* (max_batch) device: labels of the current batch */
    double *stats;                  /* (2) device: summed loss, correct predictions */
    void *owned[CT_MAX_LAYERS + 8]; /* device allocations to free */
    int n_owned;
};

/* The model's input buffer (max_batch, C*H*W) and its logits after forward. */
static inline float *ct_model_input(ct_model *m) { return m->acts[0]; }
static inline float *ct_model_logits(ct_model *m) { return m->acts[m->n_layers]; }
static inline int64_t ct_model_input_size(const ct_model *m) {
    return (int64_t)m->in_c * m->in_h * m->in_w;
}

/* Runs the layers on the n samples in ct_model_input(m). */
ct_status ct_model_forward(ct_model *m, int n, int train);
/* Adds the batch's loss and correct count (labels in m->labels) to m->stats; when training,
 * also writes d(mean loss)/d(logits) and backpropagates into m->grads. */
ct_status ct_model_loss_backward(ct_model *m, int n, int train);

#endif /* CT_MODEL_H */
