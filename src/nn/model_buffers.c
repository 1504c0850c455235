/*
 * model_buffers.c — the model's buffers: state that belongs to the model and its checkpoints
 * but is not trained (PyTorch's register_buffer). Today these are batch norm's running
 * statistics: per batchnorm layer, running_mean (C) then running_var (C) in one device area in
 * layer order, plus num_batches_tracked, a host counter per layer.
 */
#include "nn/model.h"

#include <stdlib.h>

ct_status ct_model_buffers_init(ct_model *m) {
    int64_t off = 0;
    for (int i = 0; i < m->n_layers; i++) {
        m->layers[i].buf_offset = off;
        off += m->layers[i].n_buffers;
    }
    m->n_buffers = off;
    if (off == 0) return CT_OK;
    size_t bytes = (size_t)off * sizeof(float);
    CT_TRY(m->b->alloc(m->b, bytes, (void **)&m->buffers));
    float *host = ct_malloc(bytes, "initial buffers");
    if (!host) {
        m->b->free(m->b, m->buffers);
        m->buffers = NULL;
        return CT_ERR_NOMEM;
    }
    for (int i = 0; i < m->n_layers; i++) {
        ct_layer *l = &m->layers[i];
        if (!l->n_buffers) continue;
        l->buf = m->buffers + l->buf_offset;
        l->ops->init_buffers(l, host + l->buf_offset);
    }
    ct_status s = m->b->h2d(m->b, m->buffers, host, bytes);
    free(host);
    return s;
}

int64_t ct_model_buffer_count(const ct_model *m) { return m->n_buffers; }

ct_status ct_model_get_buffers(const ct_model *m, float *host) {
    if (m->n_buffers == 0) return CT_OK;
    return m->b->d2h(m->b, host, m->buffers, (size_t)m->n_buffers * sizeof(float));
}

ct_status ct_model_set_buffers(ct_model *m, const float *host) {
    if (m->n_buffers == 0) return CT_OK;
    return m->b->h2d(m->b, m->buffers, host, (size_t)m->n_buffers * sizeof(float));
}

int64_t ct_model_batches_tracked(const ct_model *m, int layer) {
    if (layer < 0 || layer >= m->n_layers || m->layers[layer].ops != &ct_batchnorm_ops) return -1;
    return m->layers[layer].cfg.bn.batches_tracked;
}

void ct_model_count_batchnorm_step(ct_model *m) {
    for (int i = m->frozen; i < m->n_layers; i++) /* (a frozen one's statistics stay) */
        if (m->layers[i].ops == &ct_batchnorm_ops) m->layers[i].cfg.bn.batches_tracked++;
}

ct_status ct_model_batchnorm_reset(ct_model *m, int *layers) {
    *layers = 0;
    for (int i = m->frozen; i < m->n_layers; i++) {
        ct_layer *l = &m->layers[i];
        if (l->ops != &ct_batchnorm_ops) continue;
        float *host = ct_malloc((size_t)l->n_buffers * sizeof(float), "batch norm statistics");
        if (!host) return CT_ERR_NOMEM;
        l->ops->init_buffers(l, host);
        ct_status s = m->b->h2d(m->b, l->buf, host, (size_t)l->n_buffers * sizeof(float));
        free(host);
        CT_TRY(s);
        l->cfg.bn.batches_tracked = 0;
        ++*layers;
    }
    return CT_OK;
}

ct_status ct_model_set_batches_tracked(ct_model *m, int layer, int64_t count) {
    if (layer < 0 || layer >= m->n_layers || m->layers[layer].ops != &ct_batchnorm_ops)
        return ct_fail(CT_ERR_INVALID, "layer %d is not a batchnorm layer", layer);
    if (count < 0) return ct_fail(CT_ERR_INVALID, "num_batches_tracked %lld < 0", (long long)count);
    m->layers[layer].cfg.bn.batches_tracked = count;
    return CT_OK;
}
