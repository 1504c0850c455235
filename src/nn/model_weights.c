/*
 * model_weights.c — what a training run may do to a model's weights besides training them:
 * draw them again as torchvision does (ct_model_init_torchvision), and freeze its first
 * layers for fine-tuning (ct_model_freeze_point names them; ct_fit's frozen_layers applies
 * them through ct_model_freeze).
 */
#include "nn/model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* torchvision's VisionTransformer: conv_proj N(0, 1 / fan_in), bias 0; each MLP's linear layers
 * (on tokens) xavier_uniform_, biases N(0, 1e-6^2); the head (a linear layer on the pooled
 * features) 0; the rest (attention, layer norms, the class token, the position embeddings) as
 * the layers drew them, PyTorch's and torchvision's. */
static void vit_init(const ct_layer *l, float *w, ct_rng *rng) {
    if (l->ops == &ct_conv2d_ops) {
        const int64_t k2 = (int64_t)l->cfg.conv.kernel * l->cfg.conv.kernel;
        const int64_t fan_in = (int64_t)(l->in_c / l->cfg.conv.groups) * k2;
        const int64_t nw = (int64_t)l->out_c * fan_in;
        const double std = sqrt(1.0 / (double)fan_in);
        ct_rng_fill_normal(rng, w, nw);
        for (int64_t j = 0; j < nw; j++) w[j] = (float)(std * w[j]);
        if (l->cfg.conv.bias) memset(w + nw, 0, (size_t)l->out_c * sizeof(float));
    } else if (l->ops == &ct_linear_ops && !l->in_seq) { /* the head */
        memset(w, 0, (size_t)l->n_params * sizeof(float));
    } else if (l->ops == &ct_linear_ops) {
        const int64_t out = l->cfg.linear.units, in = l->in_w, nw = out * in;
        const double bound = sqrt(6.0 / (double)(in + out));
        ct_rng_fill_uniform(rng, w, nw);
        for (int64_t j = 0; j < nw; j++) w[j] = (float)(bound * (2.0 * w[j] - 1.0));
        ct_rng_fill_normal(rng, w + nw, out);
        for (int64_t j = 0; j < out; j++) w[nw + j] = (float)(1e-6 * w[nw + j]);
    }
}

ct_status ct_model_init_torchvision(ct_model *m, ct_init_scheme scheme, uint64_t seed) {
    if (scheme == CT_INIT_DEFAULT) return CT_OK;
    if (scheme != CT_INIT_RESNET && scheme != CT_INIT_MOBILENET &&
        scheme != CT_INIT_EFFICIENTNET && scheme != CT_INIT_VIT)
        return ct_fail(CT_ERR_INVALID, "init_torchvision: unknown scheme %d", (int)scheme);
    size_t bytes = (size_t)m->n_params * sizeof(float);
    float *host = ct_malloc(bytes ? bytes : 1, "parameters");
    if (!host) return CT_ERR_NOMEM;
    ct_status s = ct_model_get_params(m, host);
    ct_rng rng;
    ct_rng_init(&rng, seed, CT_STREAM_INIT_KAIMING);
    for (int i = 0; i < m->n_layers && s == CT_OK; i++) {
        const ct_layer *l = &m->layers[i];
        float *w = host + l->offset;
        if (scheme == CT_INIT_VIT) {
            vit_init(l, w, &rng);
            continue;
        }
        if (l->ops == &ct_linear_ops && scheme != CT_INIT_RESNET) {
            const int64_t out = l->cfg.linear.units;
            const int64_t nw = l->n_params - out; /* weight (out, in), bias (out) */
            const double range = 1.0 / sqrt((double)out);
            if (scheme == CT_INIT_MOBILENET) {
                ct_rng_fill_normal(&rng, w, nw);
                for (int64_t j = 0; j < nw; j++) w[j] = (float)(0.01 * w[j]);
            } else {
                ct_rng_fill_uniform(&rng, w, nw);
                for (int64_t j = 0; j < nw; j++) w[j] = (float)(range * (2.0 * w[j] - 1.0));
            }
            memset(w + nw, 0, (size_t)out * sizeof(float));
        }
        if (l->ops == &ct_se_ops) { /* its two 1x1 convs (with biases: 0), as the others */
            const int64_t c = l->in_c, q = l->cfg.se.squeeze;
            float *fc[2] = {w, w + q * c + q};
            for (int k = 0; k < 2; k++) {
                const int64_t out = k ? c : q; /* fan_out */
                const double std = sqrt(2.0 / (double)out);
                ct_rng_fill_normal(&rng, fc[k], q * c);
                for (int64_t j = 0; j < q * c; j++) fc[k][j] = (float)(std * fc[k][j]);
                memset(fc[k] + q * c, 0, (size_t)out * sizeof(float));
            }
        }
        if (l->ops != &ct_conv2d_ops) continue;
        const int64_t k2 = (int64_t)l->cfg.conv.kernel * l->cfg.conv.kernel;
        const int64_t nw = (int64_t)l->out_c * (l->in_c / l->cfg.conv.groups) * k2;
        const double std = sqrt(2.0 / (double)(l->out_c * k2)); /* gain sqrt(2) / sqrt(fan_out) */
        ct_rng_fill_normal(&rng, w, nw);
        for (int64_t j = 0; j < nw; j++) w[j] = (float)(std * w[j]);
        if (l->cfg.conv.bias && scheme != CT_INIT_RESNET)
            memset(w + nw, 0, (size_t)l->out_c * sizeof(float));
    }
    if (s == CT_OK) s = ct_model_set_params(m, host);
    free(host);
    return s;
}

void ct_model_freeze(ct_model *m, int layers) {
    m->frozen = layers;
    m->train_param0 = m->n_params;
    m->train_buf0 = m->n_buffers;
    for (int i = m->n_layers - 1; i >= layers; i--) {
        m->train_param0 = m->layers[i].offset;
        m->train_buf0 = m->layers[i].buf_offset;
    }
}

const char *ct_model_layer_name(const ct_model *m, int layer) {
    return layer >= 0 && layer < m->n_layers ? m->layers[layer].name : NULL;
}

int64_t ct_model_frozen_params(const ct_model *m, int frozen_layers) {
    int64_t n = 0;
    for (int i = 0; i < frozen_layers && i < m->n_layers; i++) n += m->layers[i].n_params;
    return n;
}

ct_status ct_model_freeze_point(const ct_model *m, const char *what, int *frozen_layers) {
    *frozen_layers = 0;
    int last = -1; /* the last layer with weights: the head */
    for (int i = 0; i < m->n_layers; i++)
        if (m->layers[i].n_params) last = i;
    int found = -1;
    if (!strcmp(what, "backbone")) { /* up to the last layer with weights before the head (a
                                        * dropout between stays a training one) */
        found = last - 1;
        while (found >= 0 && !m->layers[found].n_params) found--;
        if (found < 0 && last >= 0)
            return ct_fail(CT_ERR_INVALID, "backbone: the model's only layer with weights is its "
                           "head, %s: nothing to freeze", m->layers[last].name);
    } else {
        for (int i = 0; i < m->n_layers && found < 0; i++)
            if (m->layers[i].n_params && !strcmp(m->layers[i].name, what)) found = i;
        if (found < 0) { /* the names it could have been: all of up to 8, else the ends */
            int named[CT_MAX_LAYERS], n = 0;
            for (int i = 0; i < m->n_layers; i++)
                if (m->layers[i].n_params) named[n++] = i;
            char names[256] = "none";
            size_t used = 0;
            for (int k = 0; k < n && used < sizeof names; k++) {
                if (n > 8 && k >= 3 && k < n - 2) continue;
                int len = snprintf(names + used, sizeof names - used, "%s%s",
                                   k == 0 ? "" : n > 8 && k == n - 2 ? ", ..., " : ", ",
                                   m->layers[named[k]].name);
                if (len > 0) used += (size_t)len;
            }
            return ct_fail(CT_ERR_INVALID, "the model has no layer with weights named \"%.40s\" "
                           "(its %d layers with weights, as ctrain summary lists them: %s; or "
                           "backbone: all but the last's)", what, n, names);
        }
    }
    if (last < 0) return ct_fail(CT_ERR_INVALID, "the model has no weights to freeze");
    if (found >= last)
        return ct_fail(CT_ERR_INVALID, "freezing %s leaves no layer with weights to train (%s "
                       "is the last)", what, m->layers[last].name);
    *frozen_layers = found + 1;
    return CT_OK;
}
