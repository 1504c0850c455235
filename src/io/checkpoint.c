/*
 * checkpoint.c — a model to and from safetensors: ct_save_model, ct_checkpoint_load_params,
 * ct_checkpoint_create_model (and the tensor lists train_state.c shares).
 *
 * model.safetensors holds the tensors of ct_model_tensor_info under their own names, F32, and
 * metadata: format "pt" (what PyTorch's safetensors helpers write), ctrain_version, model_spec,
 * input_shape, classes, param_count, and whatever the caller adds (the tool adds the dataset,
 * epoch and accuracies).
 */
#include "io/checkpoint.h"

#include "io/json_out.h"
#include "nn/model.h"

#include <ctype.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


/* ------------------------------------------------------------------------------------------ */
/* tensor lists                                                                                */

void ct_tensor_list_free(ct_tensor_list *l) {
    free(l->t);
    free(l->names);
    free(l->info);
    memset(l, 0, sizeof *l);
}

/* Every value of tensor t (named name) finite? see ct_tensor_list_finite */
static ct_status tensor_finite(const ct_st_tensor *t, const char *name, const char *path,
                               const char *action) {
    if (strcmp(t->dtype, "F32") != 0) return CT_OK;
    int64_t n = 1;
    for (int d = 0; d < t->ndim; d++) n *= t->shape[d];
    const float *v = t->data;
    for (int64_t j = 0; j < n; j++) { /* NaN weights compute NaN (or, through a ReLU, 0) */
        if (isfinite(v[j])) continue;
        const char *what = isnan(v[j]) ? "NaN" : "an infinity";
        if (!path)
            return ct_fail(CT_ERR_FORMAT, "tensor %s holds %s at element %lld", name, what,
                           (long long)j);
        return ct_fail(CT_ERR_FORMAT, "%s: %s: tensor %s holds %s at element %lld: the weights "
                       "of a diverged or damaged model", path, action, name, what, (long long)j);
    }
    return CT_OK;
}

static int ends_with(const char *s, const char *tail) {
    size_t a = strlen(s), b = strlen(tail);
    return a >= b && strcmp(s + a - b, tail) == 0;
}

/* A batch norm's running variance: no value below 0 (its square root normalises). */
static ct_status variance_nonneg(const ct_st_tensor *t, const char *name, const char *path) {
    int64_t n = 1;
    for (int d = 0; d < t->ndim; d++) n *= t->shape[d];
    const float *v = t->data;
    for (int64_t j = 0; j < n; j++)
        if (v[j] < 0.0f)
            return ct_fail(CT_ERR_FORMAT, "%s: cannot be loaded: tensor %s holds a negative "
                           "variance (%g) at element %lld: a damaged model", path, name,
                           (double)v[j], (long long)j);
    return CT_OK;
}

ct_status ct_tensor_list_finite(const ct_tensor_list *l, const char *path, const char *action) {
    for (int i = 0; i < l->n; i++) CT_TRY(tensor_finite(&l->t[i], l->t[i].name, path, action));
    return CT_OK;
}

ct_status ct_model_check_finite(const ct_model *m) {
    ct_host_state hs;
    CT_TRY(ct_host_state_get(m, &hs));
    ct_tensor_list l = {0};
    ct_status s = ct_tensor_list_model(m, &hs, "", 0, &l);
    if (s == CT_OK) s = ct_tensor_list_finite(&l, NULL, NULL);
    ct_tensor_list_free(&l);
    ct_host_state_free(&hs);
    return s;
}

ct_status ct_host_state_get(const ct_model *m, ct_host_state *hs) {
    return ct_host_state_get_of(m, m->ema_swapped, hs);
}

ct_status ct_host_state_get_of(const ct_model *m, int average, ct_host_state *hs) {
    float *params, *buffers;
    ct_ema_weights(m, average, &params, &buffers);
    memset(hs, 0, sizeof *hs);
    hs->params = ct_malloc((size_t)(m->n_params ? m->n_params : 1) * sizeof(float), "parameters");
    hs->counters = ct_calloc((size_t)m->n_layers + 1, sizeof(int64_t), "counters");
    if (m->n_buffers)
        hs->buffers = ct_malloc((size_t)m->n_buffers * sizeof(float), "buffers");
    if (!hs->params || !hs->counters || (m->n_buffers && !hs->buffers)) {
        ct_host_state_free(hs);
        return CT_ERR_NOMEM;
    }
    ct_status s = m->b->d2h(m->b, hs->params, params, (size_t)m->n_params * sizeof(float));
    if (s == CT_OK && m->n_buffers)
        s = m->b->d2h(m->b, hs->buffers, buffers, (size_t)m->n_buffers * sizeof(float));
    for (int i = 0; i < m->n_layers; i++)
        if (m->layers[i].ops == &ct_batchnorm_ops) hs->counters[i] = m->layers[i].cfg.bn.batches_tracked;
    if (s != CT_OK) ct_host_state_free(hs);
    return s;
}

ct_status ct_host_state_set(ct_model *m, const ct_host_state *hs) {
    CT_TRY(ct_model_set_params(m, hs->params));
    if (m->n_buffers)
        CT_TRY(m->b->h2d(m->b, m->buffers, hs->buffers, (size_t)m->n_buffers * sizeof(float)));
    for (int i = 0; i < m->n_layers; i++)
        if (m->layers[i].ops == &ct_batchnorm_ops) m->layers[i].cfg.bn.batches_tracked = hs->counters[i];
    return CT_OK;
}

void ct_host_state_free(ct_host_state *hs) {
    free(hs->params);
    free(hs->buffers);
    free(hs->counters);
    memset(hs, 0, sizeof *hs);
}

/* Where tensor t's data lives in hs. */
static void *tensor_data(const ct_host_state *hs, const ct_tensor_info *t) {
    switch (t->kind) {
    case CT_TENSOR_PARAM: return hs->params + t->offset;
    case CT_TENSOR_BUFFER: return hs->buffers + t->offset;
    case CT_TENSOR_COUNTER: return hs->counters + t->layer;
    }
    return NULL;
}

ct_status ct_tensor_list_model(const ct_model *m, const ct_host_state *hs, const char *prefix,
                               int params_only, ct_tensor_list *out) {
    memset(out, 0, sizeof *out);
    int n = ct_model_tensor_count(m);
    out->info = ct_calloc((size_t)(n ? n : 1), sizeof *out->info, "tensor list");
    out->t = ct_calloc((size_t)(n ? n : 1), sizeof *out->t, "tensor list");
    out->names = ct_calloc((size_t)(n ? n : 1), CT_LIST_NAME_BYTES, "tensor names");
    if (!out->info || !out->t || !out->names) {
        ct_tensor_list_free(out);
        return CT_ERR_NOMEM;
    }
    int k = 0;
    for (int i = 0; i < n; i++) {
        ct_tensor_info *info = &out->info[k];
        ct_status s = ct_model_tensor_info(m, i, info);
        if (s) {
            ct_tensor_list_free(out);
            return s;
        }
        if (params_only && info->kind != CT_TENSOR_PARAM) continue;
        char *name = out->names + (size_t)k * CT_LIST_NAME_BYTES;
        snprintf(name, CT_LIST_NAME_BYTES, "%s%s", prefix, info->name);
        out->t[k] = (ct_st_tensor){.name = name,
                                   .dtype = info->kind == CT_TENSOR_COUNTER ? "I64" : "F32",
                                   .ndim = info->ndim, .shape = info->shape,
                                   .data = tensor_data(hs, info)};
        k++;
    }
    out->n = k;
    return CT_OK;
}

void ct_shape_text(const int64_t *shape, int ndim, char *buf, size_t bytes) {
    size_t used = (size_t)snprintf(buf, bytes, "[");
    for (int d = 0; d < ndim && used < bytes; d++)
        used += (size_t)snprintf(buf + used, bytes - used, "%s%lld", d ? ", " : "",
                                 (long long)shape[d]);
    if (used < bytes) snprintf(buf + used, bytes - used, "]");
}

/* ------------------------------------------------------------------------------------------ */
/* saving                                                                                      */

int ct_model_meta(const ct_model *m, char (*buf)[CT_META_VALUE_BYTES], ct_meta *out) {
    int c, h, w, n = 0;
    ct_model_input_shape(m, &c, &h, &w);
    out[n++] = (ct_meta){"ctrain_version", ct_version()};
    out[n++] = (ct_meta){"model_spec", ct_model_spec(m)};
    snprintf(buf[0], CT_META_VALUE_BYTES, "[%d, %d, %d]", c, h, w);
    out[n++] = (ct_meta){"input_shape", buf[0]};
    snprintf(buf[1], CT_META_VALUE_BYTES, "%d", ct_model_num_classes(m));
    out[n++] = (ct_meta){"classes", buf[1]};
    snprintf(buf[2], CT_META_VALUE_BYTES, "%lld", (long long)ct_model_param_count(m));
    out[n++] = (ct_meta){"param_count", buf[2]};
    return n;
}

ct_status ct_save_model(const ct_model *m, const char *path, const ct_meta *extra, int n_extra) {
    if (n_extra < 0 || (n_extra > 0 && !extra))
        return ct_fail(CT_ERR_INVALID, "%s: bad metadata list", path);
    ct_host_state hs;
    CT_TRY(ct_host_state_get(m, &hs));
    ct_meta *meta = ct_calloc((size_t)n_extra + CT_MODEL_META_MAX + 1, sizeof *meta, "metadata");
    ct_tensor_list l = {0};
    char buf[CT_MODEL_META_MAX][CT_META_VALUE_BYTES];
    ct_status s = meta ? CT_OK : CT_ERR_NOMEM;
    if (s == CT_OK) s = ct_tensor_list_model(m, &hs, "", 0, &l);
    if (s == CT_OK) s = ct_tensor_list_finite(&l, path, "not saved");
    if (s == CT_OK) {
        int n = 0;
        meta[n++] = (ct_meta){"format", "pt"};
        n += ct_model_meta(m, buf, meta + n);
        for (int i = 0; i < n_extra; i++) meta[n++] = extra[i];
        s = ct_st_write(path, l.t, l.n, meta, n);
    }
    ct_tensor_list_free(&l);
    free(meta);
    ct_host_state_free(&hs);
    return s;
}

/* ------------------------------------------------------------------------------------------ */
/* loading                                                                                     */

/* A tensor name of an nn.Sequential's state_dict, "3.weight" (or "net.3.weight": the Sequential
 * an attribute of the module saved): its index, *suffix the name after it, *at the index's
 * offset in the name (the attribute's length); -1 for another name. */
static long seq_index(const char *name, const char **suffix, size_t *at) {
    const char *p = name, *dot = strchr(name, '.');
    if (dot && !isdigit((unsigned char)*p)) p = dot + 1;
    if (!isdigit((unsigned char)*p)) return -1;
    char *end;
    long v = strtol(p, &end, 10);
    if (*end != '.' || !end[1] || v < 0 || v > 1000000) return -1;
    *suffix = end + 1;
    *at = (size_t)(p - name);
    return v;
}

/* The file's module indices in increasing order (*n of them, at most max) when every tensor
 * name is of one nn.Sequential (the same attribute before the index, or none); 0 otherwise. */
static int seq_modules(const ct_checkpoint *c, long *idx, int max) {
    int n = 0;
    size_t at0 = 0;
    for (int k = 0; k < c->n; k++) {
        const char *suffix;
        size_t at;
        long v = seq_index(c->t[k].name, &suffix, &at);
        if (v < 0) return 0;
        if (k == 0) at0 = at;
        if (at != at0 || strncmp(c->t[k].name, c->t[0].name, at) != 0) return 0;
        int i = 0;
        while (i < n && idx[i] < v) i++;
        if (i < n && idx[i] == v) continue;
        if (n == max) return 0;
        memmove(idx + i + 1, idx + i, (size_t)(n - i) * sizeof *idx);
        idx[i] = v;
        n++;
    }
    return n;
}

/* nn.Sequential names: the file's k-th module (by index) holds the model's k-th layer with
 * tensors; alias[i] becomes the file's name of the model's tensor i ("linear1.weight" <-
 * "1.weight"). 0 when the file's names are not a Sequential's; an error when its modules do
 * not pair with the model's layers. */
static ct_status seq_aliases(const ct_checkpoint *c, const ct_model *m, const ct_tensor_list *l,
                             char (*alias)[CT_LIST_NAME_BYTES], int *used) {
    *used = 0;
    long idx[CT_MAX_LAYERS];
    int n = seq_modules(c, idx, CT_MAX_LAYERS), layers = 0;
    if (n == 0) return CT_OK;
    for (int i = 0; i < l->n; i++) layers += i == 0 || l->info[i].layer != l->info[i - 1].layer;
    if (n != layers)
        return ct_fail(CT_ERR_FORMAT, "%s: its tensors are an nn.Sequential's, of %d modules "
                       "with tensors, but the model %s has %d layers with tensors",
                       c->path, n, SPEC_TEXT(m), layers);
    for (int i = 0, j = -1; i < l->n; i++) {
        j += i == 0 || l->info[i].layer != l->info[i - 1].layer;
        const char *dot = strchr(l->t[i].name, '.'), *file = "", *suffix;
        size_t at;
        for (int k = 0; k < c->n && !*file; k++) /* the file's own spelling ("net." or not) */
            if (seq_index(c->t[k].name, &suffix, &at) == idx[j]) file = c->t[k].name;
        size_t before = *file ? strlen(file) - strlen(suffix) : 0; /* up to the suffix */
        snprintf(alias[i], CT_LIST_NAME_BYTES, "%.*s%s", (int)before, file, dot ? dot + 1 : "");
    }
    *used = 1;
    return CT_OK;
}

/* ct_checkpoint_load_backbone's grey stem: out (o, 1, k, k) = file's weight (o, cf, k, k) summed
 * over its cf input channels (a grey image's response, R = G = B, to an RGB model's first conv) */
static void sum_channels(const ct_st_entry *e, const uint8_t *data, float *out) {
    const int64_t o = e->shape[0], cf = e->shape[1], kk = e->shape[2] * e->shape[3];
    for (int64_t a = 0; a < o; a++)
        for (int64_t q = 0; q < kk; q++) {
            double sum = 0.0;
            for (int64_t ch = 0; ch < cf; ch++) {
                float v;
                memcpy(&v, data + ((a * cf + ch) * kk + q) * sizeof v, sizeof v);
                sum += v;
            }
            out[a * kk + q] = (float)sum;
        }
}

/* PyTorch's bicubic weights (cubic convolution, A = -0.75) of the 4 taps around a source
 * position at fraction t past its floor. */
static void cubic_weights(double t, double w[4]) {
    const double a = -0.75, u = t + 1.0, v = 1.0 - t, x = 2.0 - t;
    w[0] = ((a * u - 5.0 * a) * u + 8.0 * a) * u - 4.0 * a;
    w[1] = ((a + 2.0) * t - (a + 3.0)) * t * t + 1.0;
    w[2] = ((a + 2.0) * v - (a + 3.0)) * v * v + 1.0;
    w[3] = ((a * x - 5.0 * a) * x + 8.0 * a) * x - 4.0 * a;
}

/* A pretrained ViT's position embeddings for the model's grid of patches, for fine-tuning on
 * images of another size (torchvision's interpolate_embeddings): the file's (1, [1 +] S*S, D)
 * resized per feature as an S x S image to the model's GH x GW patches, bicubic with
 * align_corners (F.interpolate's; taps past the edge clamped to it), the class token's row
 * (a model with one before its posembed) as it is. 1 when done (*from the file's S, *to_h
 * and *to_w the model's grid), 0 when the shapes are not so. */
static int fit_positions(const ct_st_entry *e, const uint8_t *data, const ct_model *m,
                         int layer, const int64_t *want, float *out, int *from, int *to_h,
                         int *to_w) {
    int tokens = layer, cls = 0;
    while (tokens >= 0 && m->layers[tokens].ops != &ct_tokens_ops) tokens--;
    if (tokens < 0 || e->ndim != 3 || e->shape[0] != 1 || e->shape[2] != want[2]) return 0;
    for (int k = tokens + 1; k < layer; k++) cls |= m->layers[k].ops == &ct_clstoken_ops;
    const int gh = m->layers[tokens].in_h, gw = m->layers[tokens].in_w;
    const int64_t d = e->shape[2], grid = e->shape[1] - cls;
    if (grid < 1 || grid > (int64_t)1 << 30) return 0;
    int64_t s = (int64_t)sqrt((double)grid);
    while (s * s > grid) s--;
    while ((s + 1) * (s + 1) <= grid) s++;
    if (s < 1 || s * s != grid || want[1] != (int64_t)gh * gw + cls || s > 1 << 15) return 0;
    float v;
    for (int64_t q = 0; q < cls * d; q++) memcpy(&out[q], data + q * sizeof v, sizeof v);
    const double sy = gh > 1 ? (double)(s - 1) / (gh - 1) : 0.0;
    const double sx = gw > 1 ? (double)(s - 1) / (gw - 1) : 0.0;
    for (int y = 0; y < gh; y++)
        for (int x = 0; x < gw; x++) {
            const double ry = sy * y, rx = sx * x;
            const int64_t y0 = (int64_t)floor(ry), x0 = (int64_t)floor(rx);
            double wy[4], wx[4];
            cubic_weights(ry - (double)y0, wy);
            cubic_weights(rx - (double)x0, wx);
            for (int64_t f = 0; f < d; f++) {
                double sum = 0.0;
                for (int i = 0; i < 4; i++) {
                    int64_t yy = y0 - 1 + i;
                    yy = yy < 0 ? 0 : yy >= s ? s - 1 : yy;
                    for (int j = 0; j < 4; j++) {
                        int64_t xx = x0 - 1 + j;
                        xx = xx < 0 ? 0 : xx >= s ? s - 1 : xx;
                        memcpy(&v, data + ((cls + yy * s + xx) * d + f) * sizeof v, sizeof v);
                        sum += wy[i] * wx[j] * v;
                    }
                }
                out[(cls + (int64_t)y * gw + x) * d + f] = (float)sum;
            }
        }
    *from = (int)s, *to_h = gh, *to_w = gw;
    return 1;
}

/* ct_checkpoint_load_params, or with fit ct_checkpoint_load_backbone. */
static ct_status load_params(const ct_checkpoint *c, ct_model *m, const char *prefix,
                             ct_backbone_fit *fit) {
    int *new_head = fit ? &fit->new_head : NULL, *grey = fit ? &fit->grey : NULL;
    if (!prefix) prefix = "";
    int head = -1, stem = -1; /* the model's last layer with weights, when it is a linear one;
                               * its first, when it is a conv of one input channel */
    for (int i = 0; i < m->n_layers; i++)
        if (m->layers[i].n_params) head = m->layers[i].ops == &ct_linear_ops ? i : -1;
    for (int i = 0; i < m->n_layers && stem < 0; i++)
        if (m->layers[i].n_params)
            stem = m->layers[i].ops == &ct_conv2d_ops && m->layers[i].in_c == 1 ? i : m->n_layers;
    if (!new_head) head = -1;
    if (!grey || stem == m->n_layers) stem = -1;
    size_t plen = strlen(prefix);
    ct_host_state hs;
    CT_TRY(ct_host_state_get(m, &hs)); /* every value is overwritten below */
    ct_tensor_list l = {0};
    ct_status s = ct_tensor_list_model(m, &hs, prefix, 0, &l);
    /* a PyTorch nn.Sequential's state_dict ("0.weight", ...): its modules in order */
    char (*alias)[CT_LIST_NAME_BYTES] = NULL;
    int seq = 0, tv = 0;
    int own = 1; /* every tensor under the model's own names */
    for (int i = 0; s == CT_OK && i < l.n && own; i++) own = ct_checkpoint_find(c, l.t[i].name) >= 0;
    if (s == CT_OK && !plen && l.n > 0 && !own) {
        if (!(alias = calloc((size_t)l.n, sizeof *alias)))
            s = ct_fail(CT_ERR_NOMEM, "out of memory");
        else
            s = seq_aliases(c, m, &l, alias, &seq);
        if (s == CT_OK && !seq) s = ct_tv_aliases(c, m, &l, alias, &tv); /* (torchvision's) */
        seq |= tv;
    }
#define FILE_NAME(i) (seq ? alias[i] : l.t[i].name)
    for (int i = 0; i < l.n && s == CT_OK; i++) {
        int k = ct_checkpoint_find(c, FILE_NAME(i));
        if (k < 0 && tv && l.info[i].kind == CT_TENSOR_COUNTER) { /* torchvision's older */
            hs.counters[l.info[i].layer] = 0; /* weights have none: 0, as load_state_dict */
            continue;
        }
        if (k < 0) {
            s = ct_fail(CT_ERR_FORMAT, "%s: missing tensor %s (the model %s has it%s%s)",
                        c->path, FILE_NAME(i), SPEC_TEXT(m), seq ? " as " : "",
                        seq ? l.t[i].name : "");
            break;
        }
        const ct_st_entry *e = &c->t[k];
        if (strcmp(e->dtype, l.t[i].dtype) != 0) {
            s = ct_fail(CT_ERR_FORMAT, "%s: tensor %s has dtype %s; ctrain reads %s", c->path,
                        e->name, e->dtype, l.t[i].dtype);
            break;
        }
        int same = e->ndim == l.info[i].ndim, outputs_only = same && e->ndim >= 1;
        for (int d = 0; same && d < e->ndim; d++) same = e->shape[d] == l.info[i].shape[d];
        for (int d = 1; outputs_only && d < e->ndim; d++)
            outputs_only = e->shape[d] == l.info[i].shape[d];
        if (!same && outputs_only && l.info[i].layer == head) { /* a new head: as it is */
            *new_head = 1;
            continue;
        }
        if (!same && l.info[i].layer == stem && e->ndim == 4 && l.info[i].ndim == 4 &&
            e->shape[1] > 1 && e->shape[0] == l.info[i].shape[0] &&
            e->shape[2] == l.info[i].shape[2] && e->shape[3] == l.info[i].shape[3]) {
            sum_channels(e, c->data + e->begin, (float *)l.t[i].data); /* a grey stem */
            s = tensor_finite(&l.t[i], e->name, c->path, "cannot be loaded");
            *grey = (int)e->shape[1];
            continue;
        }
        if (!same && fit && m->layers[l.info[i].layer].ops == &ct_posembed_ops &&
            fit_positions(e, c->data + e->begin, m, l.info[i].layer, l.info[i].shape,
                          (float *)l.t[i].data, &fit->pos_from, &fit->pos_to_h,
                          &fit->pos_to_w)) {
            s = tensor_finite(&l.t[i], e->name, c->path, "cannot be loaded");
            continue;
        }
        if (!same) {
            char got[160], want[160];
            ct_shape_text(e->shape, e->ndim, got, sizeof got);
            ct_shape_text(l.info[i].shape, l.info[i].ndim, want, sizeof want);
            s = ct_fail(CT_ERR_FORMAT, "%s: tensor %s has shape %s but the model %s needs %s",
                        c->path, e->name, got, SPEC_TEXT(m), want);
            break;
        }
        memcpy((void *)l.t[i].data, c->data + e->begin, (size_t)(e->end - e->begin));
        if (l.info[i].kind == CT_TENSOR_COUNTER && hs.counters[l.info[i].layer] < 0)
            s = ct_fail(CT_ERR_FORMAT, "%s: tensor %s is negative", c->path, e->name);
        else
            s = tensor_finite(&l.t[i], e->name, c->path, "cannot be loaded");
        if (s == CT_OK && l.info[i].kind == CT_TENSOR_BUFFER && ends_with(e->name, ".running_var"))
            s = variance_nonneg(&l.t[i], e->name, c->path);
    }
    /* strict, like load_state_dict(strict=True): no tensor of the file may be left over */
    for (int k = 0; k < c->n && s == CT_OK; k++) {
        if (strncmp(c->t[k].name, prefix, plen) != 0) continue;
        int found = 0;
        for (int i = 0; i < l.n && !found; i++) found = !strcmp(FILE_NAME(i), c->t[k].name);
        if (!found)
            s = ct_fail(CT_ERR_FORMAT, "%s: unexpected tensor %s (the model %s has no such "
                        "tensor)", c->path, c->t[k].name, SPEC_TEXT(m));
    }
#undef FILE_NAME
    if (s == CT_OK) s = ct_host_state_set(m, &hs);
    free(alias);
    ct_tensor_list_free(&l);
    ct_host_state_free(&hs);
    return s;
}

ct_status ct_checkpoint_load_params(const ct_checkpoint *c, ct_model *m, const char *prefix) {
    return load_params(c, m, prefix, NULL);
}

ct_status ct_checkpoint_load_backbone(const ct_checkpoint *c, ct_model *m, const char *prefix,
                                      ct_backbone_fit *fit) {
    memset(fit, 0, sizeof *fit);
    return load_params(c, m, prefix, fit);
}

const char *ct_checkpoint_prefix(const ct_checkpoint *c) {
    const char *f = ct_checkpoint_meta(c, "format");
    if (!f || strcmp(f, CT_TRAIN_STATE_FORMAT) != 0) return "";
    /* a run with a moving average: its model is the average (model.safetensors'), and
     * "model." the weights it trains on */
    return ct_checkpoint_meta(c, "ema_updates") ? "ema." : "model.";
}

/* "flatten,linear(a),relu,...,linear(z)" from tensors PREFIXlinear1.weight ... linearK.weight
 * (each with its bias, nothing else), for files without a model_spec (a PyTorch state_dict);
 * a torchvision model's as its preset (ct_tv_spec). */
static ct_status infer_spec(const ct_checkpoint *c, const char *prefix, char *spec, size_t bytes) {
    const int tv = *prefix ? 0 : ct_tv_spec(c, spec, bytes);
    if (tv > 0) return CT_OK;
    if (tv < 0)
        return ct_fail(CT_ERR_FORMAT, "%s: no model_spec in the metadata, and its tensors are a "
                       "torchvision model's but of none of the presets resnet18 ... 152, "
                       "wide_resnet50_2 or 101_2, resnext50_32x4d, resnext101_32x8d or "
                       "101_64x4d, mobilenet_v2, mobilenet_v3_large or _small, efficientnet_b0, "
                       "vit_b_16 ... vit_h_14 (another width or depth, say; give its layers: "
                       "eval's --spec, train's --model)", c->path);
    size_t used = (size_t)snprintf(spec, bytes, "flatten");
    int layers = 0, own = 0;
    int64_t prev_out = -1;
    for (int k = 0; k < c->n; k++) own += !strncmp(c->t[k].name, prefix, strlen(prefix));
    char first[CT_LIST_NAME_BYTES];
    snprintf(first, sizeof first, "%slinear1.weight", prefix);
    long idx[CT_MAX_LAYERS]; /* else an nn.Sequential's: "1.weight", "1.bias", "3.weight", ... */
    int seq = ct_checkpoint_find(c, first) < 0 && !*prefix ? seq_modules(c, idx, CT_MAX_LAYERS) : 0;
    for (int i = 1;; i++) {
        char w[CT_LIST_NAME_BYTES], b[CT_LIST_NAME_BYTES];
        if (seq && i > seq) break;
        int kw = -1, kb = -1;
        for (int k = 0; seq && k < c->n; k++) {
            const char *suffix;
            size_t at;
            if (seq_index(c->t[k].name, &suffix, &at) != idx[i - 1]) continue;
            if (!strcmp(suffix, "weight")) kw = k;
            if (!strcmp(suffix, "bias")) kb = k;
        }
        snprintf(w, sizeof w, seq ? "%s%ld.weight" : "%slinear%ld.weight", prefix,
                 seq ? idx[i - 1] : (long)i);
        snprintf(b, sizeof b, "%slinear%d.bias", prefix, i);
        if (!seq) kw = ct_checkpoint_find(c, w), kb = ct_checkpoint_find(c, b);
        if (kw < 0 && !seq) break;
        if (kw < 0)
            return ct_fail(CT_ERR_FORMAT, "%s: no model_spec in the metadata, and its module %ld "
                           "has no weight (give the spec: --spec)", c->path, idx[i - 1]);
        const ct_st_entry *e = &c->t[kw];
        if (e->ndim != 2 || kb < 0 || (prev_out >= 0 && e->shape[1] != prev_out))
            return ct_fail(CT_ERR_FORMAT, "%s: no model_spec in the metadata, and %s is not a "
                           "linear layer following the one before (give the spec: --spec)",
                           c->path, w);
        /* between two of a Sequential's linear modules: nothing (adjacent), or one module,
         * taken as the ReLU (as for linearN); more is not guessed */
        long gap = seq && layers ? idx[i - 1] - idx[i - 2] : 2;
        if (gap > 2)
            return ct_fail(CT_ERR_FORMAT, "%s: no model_spec in the metadata, and modules %ld to "
                           "%ld lie between its linear modules %ld and %ld (give the spec: --spec)",
                           c->path, idx[i - 2] + 1, idx[i - 1] - 1, idx[i - 2], idx[i - 1]);
        used += (size_t)snprintf(spec + used, used < bytes ? bytes - used : 0, "%s,linear(%lld)",
                                 layers && gap == 2 ? ",relu" : "", (long long)e->shape[0]);
        prev_out = e->shape[0];
        layers++;
    }
    if (layers == 0 || own != 2 * layers)
        return ct_fail(CT_ERR_FORMAT, "%s: no model_spec in the metadata, and the tensors are not "
                       "a chain of linear layers (linearN's, or an nn.Sequential's; give the "
                       "spec: --spec)", c->path);
    if (used >= bytes) return ct_fail(CT_ERR_FORMAT, "%s: inferred model spec too long", c->path);
    return CT_OK;
}

ct_status ct_checkpoint_model_spec(const ct_checkpoint *c, char *spec, size_t bytes) {
    const char *saved = ct_checkpoint_meta(c, "model_spec");
    if (!saved) return infer_spec(c, ct_checkpoint_prefix(c), spec, bytes);
    if ((size_t)snprintf(spec, bytes, "%s", saved) >= bytes)
        return ct_fail(CT_ERR_FORMAT, "%s: metadata \"model_spec\" is longer than %zu characters",
                       c->path, bytes - 1);
    return CT_OK;
}

ct_status ct_checkpoint_input_shape(const ct_checkpoint *c, int *in_c, int *in_h, int *in_w) {
    const char *v = ct_checkpoint_meta(c, "input_shape");
    if (!v) return CT_OK;
    json_error_t err;
    json_t *a = json_loads(v, 0, &err);
    int dims[3] = {0, 0, 0}, ok = json_is_array(a) && json_array_size(a) == 3;
    for (int d = 0; ok && d < 3; d++) {
        json_t *x = json_array_get(a, (size_t)d);
        ok = json_is_integer(x) && json_integer_value(x) > 0 && json_integer_value(x) <= 1 << 20;
        if (ok) dims[d] = (int)json_integer_value(x);
    }
    json_decref(a);
    if (!ok)
        return ct_fail(CT_ERR_FORMAT, "%s: metadata input_shape \"%.40s\" is not [C, H, W]",
                       c->path, v);
    *in_c = dims[0];
    *in_h = dims[1];
    *in_w = dims[2];
    return CT_OK;
}

/* The most floats a layer's output may hold for a model built from a file (whose metadata could
 * describe any input): a quarter of the machine's memory, at least 2^28 (1 GiB). */
static int64_t activation_cap(void) {
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
    int64_t quarter = pages > 0 && page > 0 ? (int64_t)pages * page / 4 / (int64_t)sizeof(float)
                                             : 0;
    return quarter > ((int64_t)1 << 28) ? quarter : (int64_t)1 << 28;
}

ct_status ct_checkpoint_create_model(const ct_checkpoint *c, ct_backend *b, const char *spec,
                                     int in_c, int in_h, int in_w, int max_batch,
                                     ct_model **out) {
    *out = NULL;
    const char *prefix = ct_checkpoint_prefix(c);
    char inferred[CT_SPEC_BYTES];
    if (!spec) spec = ct_checkpoint_meta(c, "model_spec");
    if (!spec) {
        CT_TRY(infer_spec(c, prefix, inferred, sizeof inferred));
        spec = inferred;
    }
    CT_TRY(ct_checkpoint_input_shape(c, &in_c, &in_h, &in_w));
    if (in_c <= 0 || in_h <= 0 || in_w <= 0)
        return ct_fail(CT_ERR_FORMAT, "%s: no input_shape in the metadata", c->path);
    /* not many more parameters than the file holds numbers, checked before allocating (a small
     * difference is left to ct_checkpoint_load_params, which names the tensor) */
    int64_t numbers = (int64_t)(c->data_bytes / sizeof(float)), slack = 1 << 24;
    ct_model *m;
    ct_status s = ct_model_create_capped(b, spec, in_c, in_h, in_w, max_batch, 0,
                                         numbers + slack, activation_cap(), &m);
    if (s) return ct_fail_context(s, "%s", c->path);
    if ((s = ct_checkpoint_load_params(c, m, prefix)) != CT_OK) {
        ct_model_free(m);
        return s;
    }
    *out = m;
    return CT_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* metrics as JSON (and CSV)                                                                   */

void ct_epoch_json_write(ct_jsonw *j, const ct_epoch_result *r, int with_count) {
    ct_jw_printf(j, "{\"epoch\": %d, \"phase\": %d, \"lr\": ", r->epoch, r->phase);
    ct_jw_float(j, r->lr);
    ct_jw_key(j, 0, "train_loss");
    ct_jw_double(j, r->train_loss);
    ct_jw_key(j, 0, "train_acc");
    ct_jw_double(j, r->train_acc);
    int val = with_count || r->val.count > 0; /* an epoch without validation: no val keys */
    if (val) {
        ct_jw_key(j, 0, "val_loss");
        ct_jw_double(j, r->val.loss);
        ct_jw_key(j, 0, "val_acc");
        ct_jw_double(j, r->val.accuracy);
    }
    if (with_count) ct_jw_printf(j, ", \"val_count\": %lld", (long long)r->val.count);
    ct_jw_key(j, 0, "seconds");
    ct_jw_double(j, r->train_s);
    ct_jw_key(j, 0, "samples_per_s");
    ct_jw_double(j, r->samples_per_s);
    if (val) {
        ct_jw_key(j, 0, "val_seconds");
        ct_jw_double(j, r->val_s);
    }
    ct_jw_printf(j, ", \"graph_steps\": %lld", (long long)r->graph_steps);
    ct_jw_raw(j, "}", 1);
}

int ct_epoch_csv(const ct_epoch_result *r, int with_val, char *buf, size_t bytes) {
    const double lr = (double)r->lr;
    double cols[] = {lr, r->train_loss, r->train_acc, r->val.loss, r->val.accuracy, r->train_s,
                     r->samples_per_s, r->val_s};
    const int keep[] = {1, 1, 1, with_val, with_val, 1, 1, with_val};
    size_t len = 0;
    int n = snprintf(buf, bytes, "%d,%d", r->epoch, r->phase);
    if (n < 0 || (size_t)n >= bytes) return -1;
    len = (size_t)n;
    for (size_t i = 0; i < sizeof cols / sizeof cols[0]; i++) {
        if (!keep[i]) continue;
        char v[48]; /* as ct_epoch_json writes them (the lr a float), non-finite as pandas reads */
        if (isnan(cols[i])) snprintf(v, sizeof v, "nan");
        else if (isinf(cols[i])) snprintf(v, sizeof v, cols[i] > 0 ? "inf" : "-inf");
        else if (i == 0) ct_fmt_float(v, sizeof v, r->lr);
        else ct_fmt_double(v, sizeof v, cols[i]);
        n = snprintf(buf + len, bytes - len, ",%s", v);
        if (n < 0 || (size_t)n >= bytes - len) return -1;
        len += (size_t)n;
    }
    n = snprintf(buf + len, bytes - len, ",%lld", (long long)r->graph_steps);
    if (n < 0 || (size_t)n >= bytes - len) return -1;
    return (int)(len + (size_t)n);
}

int ct_epoch_json(const ct_epoch_result *r, char *buf, size_t bytes) {
    ct_jsonw j;
    ct_jw_init(&j);
    ct_epoch_json_write(&j, r, 0);
    int n = -1;
    if (!j.failed && j.len < bytes) {
        memcpy(buf, j.buf, j.len + 1);
        n = (int)j.len;
    }
    ct_jw_free(&j);
    return n;
}
