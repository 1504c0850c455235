/*
 * model.c — the sequential model: spec parsing, the one parameter buffer, forward, loss and
 * backward.
 *
 * Spec grammar: a preset name, or comma-separated layers `kind` or `kind(arg, ...)`, e.g.
 *     flatten,linear(32),relu,linear(10)
 * (arguments are numbers, then names where a layer takes them: se(16,relu,hardsigmoid))
 * and residual blocks `residual(layer, ...)`: the block's output is its layers' plus its input
 * (or, where the layers change the shape, a 1x1 strided conv and batch norm of it: the
 * projection shortcut). The layers stay one list: a block's layers, its shortcut's (whose first
 * reads the block's input: layer.src) and its add; blocks do not nest.
 * Parameterised layers are named kindN (linear1, linear2, conv1, batchnorm1, ...), which for
 * the tutorial's MLP gives exactly the tutorial's state_dict names (linear1.weight, ...).
 * The presets' layer strings are presets.c's.
 */
#include "nn/model.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------------------------ */
/* parsing                                                                                     */

#define CT_MAX_LAYER_ARGS (2 * CT_MAX_NORM_CHANNELS) /* normalize's means and stds */

#define CT_MAX_LAYER_WORDS 2 /* se's activation and gate */

typedef struct {
    char kind[32];
    double args[CT_MAX_LAYER_ARGS];
    int n_args;
    /* arguments that are names, after the numbers: se(16,relu,hardsigmoid) */
    char words[CT_MAX_LAYER_WORDS][16];
    int word_pos[CT_MAX_LAYER_WORDS];
    int n_words;
    int pos;   /* character offset in the spec, for error messages */
    int opens; /* 1: "residual(", which opens a block of layers */
} spec_token;

/* The spec as errors quote it: whole up to 120 characters, else its start and end (a message
 * holds 1023 bytes: what is wrong and where must fit after it). */
typedef struct { char s[160]; } spec_text;
static spec_text shown(const char *spec) {
    spec_text t;
    size_t n = strlen(spec);
    if (n <= 120) snprintf(t.s, sizeof t.s, "\"%s\"", spec);
    else snprintf(t.s, sizeof t.s, "\"%.60s...%s\" (%zu characters)", spec, spec + n - 40, n);
    return t;
}

static ct_status spec_error(const char *spec, int pos, const char *what) {
    return ct_fail(CT_ERR_INVALID, "model spec %s: %s at position %d (\"%.20s\")", shown(spec).s,
                   what, pos + 1, spec + pos);
}

/* Reads one token starting at spec[*pos] (a layer, or "residual(") and the spaces after it;
 * advances past them. */
static ct_status spec_next(const char *spec, int *pos, spec_token *t) {
    int p = *pos;
    memset(t, 0, sizeof *t);
    while (isspace((unsigned char)spec[p])) p++;
    t->pos = p;
    int k = 0;
    while (isalnum((unsigned char)spec[p]) || spec[p] == '_') {
        if (k + 1 >= (int)sizeof t->kind) return spec_error(spec, t->pos, "layer name too long");
        t->kind[k++] = (char)tolower((unsigned char)spec[p++]);
    }
    if (k == 0) return spec_error(spec, t->pos, "expected a layer name");
    while (isspace((unsigned char)spec[p])) p++;
    if (!strcmp(t->kind, "residual")) {
        if (spec[p] != '(')
            return spec_error(spec, t->pos, "residual takes layers: residual(conv(16,3,1,1),"
                              "batchnorm,relu,...)");
        p++;
        while (isspace((unsigned char)spec[p])) p++;
        if (spec[p] == ')') return spec_error(spec, p, "an empty residual block");
        t->opens = 1;
        *pos = p;
        return CT_OK;
    }
    if (spec[p] == '(') {
        p++;
        for (;;) {
            while (isspace((unsigned char)spec[p])) p++;
            if (spec[p] == ')' && t->n_args == 0 && t->n_words == 0) break;
            if (spec[p] == ')') return spec_error(spec, p, "expected an argument after ','");
            if (isalpha((unsigned char)spec[p])) { /* a name */
                if (t->n_words == CT_MAX_LAYER_WORDS)
                    return spec_error(spec, p, "too many arguments");
                int len = 0;
                t->word_pos[t->n_words] = p;
                while (isalnum((unsigned char)spec[p]) || spec[p] == '_') {
                    if (len + 1 >= (int)sizeof t->words[0])
                        return spec_error(spec, t->word_pos[t->n_words], "name too long");
                    t->words[t->n_words][len++] = (char)tolower((unsigned char)spec[p++]);
                }
                t->n_words++;
                while (isspace((unsigned char)spec[p])) p++;
                if (spec[p] == ',') { p++; continue; }
                if (spec[p] == ')') break;
                return spec_error(spec, p, "expected ',' or ')'");
            }
            if (t->n_args == CT_MAX_LAYER_ARGS) return spec_error(spec, p, "too many arguments");
            if (t->n_words) return spec_error(spec, p, "numbers come before names");
            char *end;
            errno = 0;
            double v = strtod(spec + p, &end);
            /* decimal only: strtod would also take 0x10, inf and nan */
            if (end == spec + p || errno ||
                strspn(spec + p, "0123456789+-.eE") < (size_t)(end - (spec + p)))
                return spec_error(spec, p, "expected a number");
            t->args[t->n_args++] = v;
            p = (int)(end - spec);
            while (isspace((unsigned char)spec[p])) p++;
            if (spec[p] == ',') { p++; continue; }
            if (spec[p] == ')') break;
            return spec_error(spec, p, "expected ',' or ')'");
        }
        p++; /* ')' */
        while (isspace((unsigned char)spec[p])) p++;
    }
    *pos = p;
    return CT_OK;
}

/* Turns a token into a layer's kind and settings. */
static ct_status spec_layer(const char *spec, const spec_token *t, ct_layer *l) {
    ct_act act = CT_ACT_RELU;
    const ct_layer_ops *ops = ct_layer_kind(t->kind, &act);
    if (!ops) return spec_error(spec, t->pos, "unknown layer");
    l->ops = ops;
    if (t->n_words && ops != &ct_se_ops)
        return spec_error(spec, t->word_pos[0], "expected a number");
    if (ops == &ct_linear_ops) {
        if (t->n_args != 1 || !ct_spec_is_int(t->args[0]) || t->args[0] < 1 ||
            t->args[0] > 1 << 24)
            return spec_error(spec, t->pos, "linear takes one integer in 1..16777216: "
                              "linear(units)");
        l->cfg.linear.units = (int)t->args[0];
    } else if (ops == &ct_act_ops) {
        l->cfg.act.kind = act;
        l->cfg.act.param = act == CT_ACT_LEAKY_RELU ? 0.01f : 0.0f;
        if (act == CT_ACT_LEAKY_RELU && t->n_args == 1) l->cfg.act.param = (float)t->args[0];
        else if (t->n_args != 0)
            return spec_error(spec, t->pos, "this activation takes no arguments");
    } else if (ops == &ct_se_ops) {
        if (t->n_args != 1 || !ct_spec_is_int(t->args[0]) || t->args[0] < 1 ||
            t->args[0] > 1 << 16)
            return spec_error(spec, t->pos, "se takes se(squeeze_channels[, activation[, gate]]) "
                              "with squeeze_channels in 1..65536, e.g. se(16,relu,hardsigmoid)");
        l->cfg.se.squeeze = (int)t->args[0];
        ct_act a[2] = {CT_ACT_RELU, CT_ACT_SIGMOID}; /* (torchvision's defaults) */
        for (int k = 0; k < t->n_words; k++)
            if (ct_layer_kind(t->words[k], &a[k]) != &ct_act_ops)
                return spec_error(spec, t->word_pos[k], "not an activation (relu, silu, sigmoid, "
                                  "hardsigmoid, ...)");
        l->cfg.se.act = a[0];
        l->cfg.se.gate = a[1];
        l->cfg.se.act_param = a[0] == CT_ACT_LEAKY_RELU ? 0.01f : 0.0f;
        l->cfg.se.gate_param = a[1] == CT_ACT_LEAKY_RELU ? 0.01f : 0.0f;
    } else if (ops->configure) { /* conv, pooling, dropout, batchnorm (conv_layers.c) */
        const char *why = ops->configure(l, t->args, t->n_args);
        if (why) return spec_error(spec, t->pos, why);
    } else if (t->n_args != 0) {
        return spec_error(spec, t->pos, "this layer takes no arguments");
    }
    return CT_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* creation                                                                                    */

static ct_status model_alloc(ct_model *m, size_t bytes, void **out) {
    if (m->n_owned == m->cap_owned) {
        int cap = m->cap_owned ? 2 * m->cap_owned : 64;
        void **grown = realloc(m->owned, (size_t)cap * sizeof *grown);
        if (!grown) return ct_fail(CT_ERR_NOMEM, "out of memory (model buffer list)");
        m->owned = grown;
        m->cap_owned = cap;
    }
    CT_TRY(m->b->alloc(m->b, bytes ? bytes : 1, out));
    m->owned[m->n_owned++] = *out;
    return CT_OK;
}

/* Allocates one shard's buffers: activations (flatten and a fused ReLU reuse their input),
 * gradient ping-pong, labels, statistics and parameter gradients. */
static ct_status shard_alloc(ct_model *m, ct_shard *sh, int64_t widest) {
    size_t act_bytes;
    if (!ct_mul_size((size_t)m->max_batch * sizeof(float), (size_t)widest, &act_bytes))
        return ct_fail(CT_ERR_INVALID, "model: activations too large");
    CT_TRY(model_alloc(m, (size_t)m->max_batch * ct_model_input_size(m) * sizeof(float),
                       (void **)&sh->acts[0]));
    for (int i = 0; i < m->n_layers; i++) {
        ct_layer *l = &m->layers[i];
        if (l->ops->aliases_input || l->fused) {
            sh->acts[i + 1] = sh->acts[i];
            continue;
        }
        size_t bytes = (size_t)m->max_batch * ct_layer_out_size(l) * sizeof(float);
        CT_TRY(model_alloc(m, bytes, (void **)&sh->acts[i + 1]));
    }
    for (int k = 0; k < 2; k++) CT_TRY(model_alloc(m, act_bytes, (void **)&sh->gbuf[k]));
    for (int i = 0; i < m->n_layers && !sh->gskip; i++) /* (a model with residual blocks) */
        if (m->layers[i].ops == &ct_residual_ops)
            CT_TRY(model_alloc(m, act_bytes, (void **)&sh->gskip));
    CT_TRY(model_alloc(m, (size_t)m->max_batch, (void **)&sh->labels));
    CT_TRY(model_alloc(m, (size_t)m->max_batch, (void **)&sh->mix_labels));
    CT_TRY(model_alloc(m, 2 * sizeof(double), (void **)&sh->stats));
    CT_TRY(model_alloc(m, (size_t)m->n_params * sizeof(float), (void **)&sh->grads));
    CT_TRY(m->b->memset0(m->b, sh->stats, 2 * sizeof(double)));
    /* im2col workspace (one for all the convs: the largest), argmax, saved statistics */
    size_t shared = 0;
    void *shared_buf = NULL;
    for (int i = 0; i < m->n_layers; i++) {
        const ct_layer *l = &m->layers[i];
        size_t bytes = l->ops->scratch_bytes ? l->ops->scratch_bytes(l, m->b, m->max_batch) : 0;
        sh->scratch_bytes[i] = bytes;
        if (l->ops->scratch_shared && bytes > shared) shared = bytes;
        const size_t ws =
            l->ops->workspace_bytes ? l->ops->workspace_bytes(l, m->b, m->max_batch) : 0;
        if (ws > shared) shared = ws;
    }
    if (shared) CT_TRY(model_alloc(m, shared, &shared_buf));
    sh->workspace = shared_buf;
    for (int i = 0; i < m->n_layers; i++) {
        const size_t bytes = sh->scratch_bytes[i];
        if (bytes && m->layers[i].ops->scratch_shared) sh->scratch[i] = shared_buf;
        else if (bytes) CT_TRY(model_alloc(m, bytes, &sh->scratch[i]));
    }
    return CT_OK;
}

ct_status ct_model_grad_acc(ct_model *m) {
    for (int k = 0; k < m->n_shards; k++)
        if (!m->shards[k].grad_acc)
            CT_TRY(model_alloc(m, (size_t)m->n_params * sizeof(float),
                               (void **)&m->shards[k].grad_acc));
    return CT_OK;
}

/* The next layer's slot, m->layers[m->n_layers], to configure before place_layer. */
static ct_status next_layer(ct_model *m, ct_layer **out) {
    if (m->n_layers == CT_MAX_LAYERS)
        return ct_fail(CT_ERR_INVALID, "model spec: more than %d layers", CT_MAX_LAYERS);
    *out = &m->layers[m->n_layers];
    return CT_OK;
}

/* Puts the configured layer next_layer gave (ops, cfg, src, block, shortcut set) on an input
 * of (c, h, w) (seq: a token sequence of c tokens of w features): its shapes, parameter count
 * and name (kindN for a layer with parameters, the Nth of its kind: conv1, linear2, ...; else
 * `label`). pos: where the spec names it. */
static ct_status place_layer(ct_model *m, const char *spec, int pos, const char *label, int c,
                             int h, int w, int seq) {
    ct_layer *l = &m->layers[m->n_layers];
    l->in_c = c;
    l->in_h = h;
    l->in_w = w;
    l->in_seq = l->out_seq = seq;
    l->index = m->n_layers;
    if (seq && l->ops->seq == CT_SEQ_NO)
        return ct_fail(CT_ERR_INVALID, "model spec %s at position %d: %s takes an image or a "
                       "vector, not a token sequence (%d, %d) (clspool or flatten first)",
                       shown(spec).s, pos + 1, label, c, w);
    if (!seq && l->ops->seq == CT_SEQ_ONLY)
        return ct_fail(CT_ERR_INVALID, "model spec %s at position %d: %s takes a token sequence, "
                       "not (%d, %d, %d) (tokens first)", shown(spec).s, pos + 1, label, c, h, w);
    ct_status s = l->ops->setup(l);
    if (s != CT_OK)
        return ct_fail_context(s, "model spec %s at position %d", shown(spec).s, pos + 1);
    if (l->out_seq && ct_layer_out_size(l) > INT32_MAX)
        return ct_fail(CT_ERR_INVALID, "model spec %s at position %d: %s gives a sequence of "
                       "(%d, %d), more than 2^31 - 1 outputs per image", shown(spec).s, pos + 1,
                       label, l->out_c, l->out_w);
    if (ct_layer_out_size(l) > INT32_MAX || l->n_params > INT32_MAX)
        return ct_fail(CT_ERR_INVALID, "model spec %s at position %d: %s of (%d, %d, %d) "
                       "gives more than 2^31 - 1 %s", shown(spec).s, pos + 1, label, c, h, w,
                       l->n_params > INT32_MAX ? "parameters" : "outputs per image");
    if (l->n_params > 0) {
        int same = 1;
        for (int j = 0; j < m->n_layers; j++) same += m->layers[j].ops == l->ops;
        snprintf(l->name, sizeof l->name, "%s%d", l->ops->kind, same);
    } else {
        snprintf(l->name, sizeof l->name, "%s", label);
    }
    m->n_params += l->n_params;
    m->n_layers++;
    return CT_OK;
}

/* Ends residual block `block`, whose layers begin at m->layers[begin] on an input of (bc, bh,
 * bw) and give (c, h, w): adds its shortcut — the identity when the shapes agree, else
 * torchvision's projection, conv(c, 1, stride) then batchnorm, with the one stride that gives
 * (h, w) — and the add. */
static ct_status close_block(ct_model *m, const char *spec, int pos, int block, int begin, int bc,
                             int bh, int bw, int bseq, int c, int h, int w, int seq) {
    const int main_end = m->n_layers;
    int skip = begin;
    if ((seq || bseq) && (c != bc || h != bh || w != bw || seq != bseq))
        return spec_error(spec, pos, "a residual block on a token sequence must keep its shape");
    if (c != bc || h != bh || w != bw) {
        int stride = 0;
        for (int st = 1; st <= (bh > bw ? bh : bw) && !stride; st++)
            if ((bh - 1) / st + 1 == h && (bw - 1) / st + 1 == w) stride = st;
        if (!stride)
            return spec_error(spec, pos, "a residual block's layers must keep its input's shape "
                              "or change it as one strided convolution does (a 1x1 "
                              "convolution of one stride is its shortcut)");
        ct_layer *conv = NULL, *bn = NULL;
        CT_TRY(next_layer(m, &conv));
        conv->ops = &ct_conv2d_ops;
        const double conv_args[5] = {c, 1, stride, 0, 0}; /* (no bias: a batch norm follows) */
        if (conv->ops->configure(conv, conv_args, 5))
            return spec_error(spec, pos, "a residual block's projection shortcut would be a conv "
                              "of more than 65536 channels");
        conv->src = begin;
        conv->block = block;
        conv->shortcut = 1;
        CT_TRY(place_layer(m, spec, pos, "conv", bc, bh, bw, 0));
        CT_TRY(next_layer(m, &bn));
        bn->ops = &ct_batchnorm_ops;
        const char *why = bn->ops->configure(bn, NULL, 0);
        if (why) return spec_error(spec, pos, why);
        bn->src = (int)(bn - m->layers);
        bn->block = block;
        bn->shortcut = 1;
        CT_TRY(place_layer(m, spec, pos, "batchnorm", c, h, w, 0));
        skip = m->n_layers;
    }
    ct_layer *add = NULL;
    CT_TRY(next_layer(m, &add));
    add->ops = &ct_residual_ops;
    add->src = main_end;
    add->block = block;
    add->cfg.res.begin = begin;
    add->cfg.res.main = main_end;
    add->cfg.res.skip = skip;
    return place_layer(m, spec, pos, "add", c, h, w, seq);
}

/* Parses the spec into m->layers and works out every shape and parameter count. */
static ct_status model_build(ct_model *m, const char *spec) {
    int pos = 0, c = m->in_c, h = m->in_h, w = m->in_w, seq = 0;
    /* the kernels index one sample's values and a layer's parameters with 32-bit ints */
    if ((int64_t)c * h > INT32_MAX || (int64_t)c * h * w > INT32_MAX) /* c * h first */
        return ct_fail(CT_ERR_INVALID, "model: an input of (%d, %d, %d) is more than 2^31 - 1 "
                       "values", c, h, w);
    /* the open residual block: its number, first layer, input shape and where it opened */
    int block = 0, blocks = 0, begin = 0, bc = 0, bh = 0, bw = 0, bseq = 0, open_pos = 0;
    for (;;) {
        spec_token t;
        CT_TRY(spec_next(spec, &pos, &t));
        if (t.opens) {
            if (block) return spec_error(spec, t.pos, "residual blocks do not nest");
            block = ++blocks;
            begin = m->n_layers;
            bc = c, bh = h, bw = w, bseq = seq;
            open_pos = t.pos;
            continue; /* its first layer follows the '(' */
        }
        ct_layer *l = NULL;
        CT_TRY(next_layer(m, &l));
        CT_TRY(spec_layer(spec, &t, l));
        l->src = m->n_layers;
        l->block = block;
        CT_TRY(place_layer(m, spec, t.pos, t.kind, c, h, w, seq));
        c = l->out_c;
        h = l->out_h;
        w = l->out_w;
        seq = l->out_seq;
        if (spec[pos] == ')') {
            if (!block) return spec_error(spec, pos, "')' closes no residual(");
            CT_TRY(close_block(m, spec, open_pos, block, begin, bc, bh, bw, bseq, c, h, w, seq));
            block = 0;
            pos++;
            while (isspace((unsigned char)spec[pos])) pos++;
        }
        if (spec[pos] == ',') { /* and a layer after it: "linear(10)," is a layer missing */
            int q = pos + 1;
            while (isspace((unsigned char)spec[q])) q++;
            if (!spec[q]) return spec_error(spec, pos, "no layer after the last ','");
            pos++;
            continue;
        }
        if (spec[pos] == ')') return spec_error(spec, pos, "')' closes no residual(");
        if (spec[pos] != 0) return spec_error(spec, pos, block ? "expected ',' or ')'" : "expected ','");
        if (block) return spec_error(spec, open_pos, "residual( is not closed by ')'");
        break;
    }
    if (m->n_params > INT32_MAX)
        return ct_fail(CT_ERR_INVALID, "model spec %s: %lld parameters, more than 2^31 - 1",
                       shown(spec).s, (long long)m->n_params);
    if (seq)
        return ct_fail(CT_ERR_INVALID, "model spec %s: the last layer must give a flat vector "
                       "of class scores, not a token sequence (%d, %d) (clspool first)",
                       shown(spec).s, c, w);
    if (h != 1 || w != 1)
        return ct_fail(CT_ERR_INVALID, "model spec %s: the last layer must give a flat "
                       "vector of class scores, not (%d, %d, %d)", shown(spec).s, c, h, w);
    m->classes = c;
    return CT_OK;
}

ct_status ct_model_create(ct_backend *b, const char *spec, int in_c, int in_h, int in_w,
                          int max_batch, uint64_t seed, ct_model **out) {
    return ct_model_create_capped(b, spec, in_c, in_h, in_w, max_batch, seed, INT32_MAX,
                                  INT64_MAX, out);
}

ct_status ct_model_create_capped(ct_backend *b, const char *spec, int in_c, int in_h, int in_w,
                                 int max_batch, uint64_t seed, int64_t max_params,
                                 int64_t max_activations, ct_model **out) {
    *out = NULL;
    if (!spec || !*spec) return ct_fail(CT_ERR_INVALID, "model spec is empty");
    if (in_c <= 0 || in_h <= 0 || in_w <= 0 || max_batch <= 0)
        return ct_fail(CT_ERR_INVALID, "model: bad input shape (%d, %d, %d) or batch %d", in_c,
                       in_h, in_w, max_batch);
    const char *expanded = ct_model_preset(spec);
    if (strlen(expanded ? expanded : spec) >= CT_SPEC_BYTES)
        return ct_fail(CT_ERR_INVALID, "model spec longer than %d characters", CT_SPEC_BYTES - 1);
    ct_model *m = ct_calloc(1, sizeof *m, "model");
    if (!m) return CT_ERR_NOMEM;
    m->b = b;
    m->in_c = in_c;
    m->in_h = in_h;
    m->in_w = in_w;
    m->max_batch = max_batch;
    m->seed = seed;
    snprintf(m->spec, sizeof m->spec, "%s", expanded ? expanded : spec);
    ct_status s = model_build(m, m->spec);
    if (s != CT_OK) goto fail;
    if (m->classes > 256) {
        s = ct_fail(CT_ERR_INVALID, "model: %d outputs; labels are bytes, so at most 256 classes",
                    m->classes);
        goto fail;
    }
    int64_t widest = ct_model_input_size(m); /* the largest activation of one sample */
    for (int i = 0; i < m->n_layers; i++)
        if (ct_layer_out_size(&m->layers[i]) > widest) widest = ct_layer_out_size(&m->layers[i]);
    for (int i = 0; i < m->n_layers; i++) { /* (a batch's tokens are rows of 32-bit GEMMs) */
        const ct_layer *l = &m->layers[i];
        const int tokens = l->in_seq ? l->in_c : l->out_c;
        if ((l->in_seq || l->out_seq) && (int64_t)max_batch * tokens > INT32_MAX) {
            s = ct_fail(CT_ERR_INVALID, "model spec %s: a batch of %d sequences of %d tokens is "
                        "more than 2^31 - 1 tokens", shown(m->spec).s, max_batch, tokens);
            goto fail;
        }
    }
    if (m->n_params > max_params || widest > max_activations / max_batch) {
        s = m->n_params > max_params
                ? ct_fail(CT_ERR_INVALID, "model spec %s: %lld parameters, more than %lld",
                          shown(m->spec).s, (long long)m->n_params, (long long)max_params)
                : ct_fail(CT_ERR_INVALID, "model spec %s on input %dx%dx%d: %lld outputs in "
                          "a layer for one sample, more than the %lld allowed for a batch of %d",
                          shown(m->spec).s, in_c, in_h, in_w, (long long)widest,
                          (long long)(max_activations / max_batch), max_batch);
        goto fail;
    }

    /* one buffer of parameters with a view for each layer; gradients and activations per shard */
    size_t pbytes = (size_t)m->n_params * sizeof(float);
    if ((s = model_alloc(m, pbytes, (void **)&m->params)) != CT_OK) goto fail;
    int64_t off = 0;
    /* a ReLU right after a conv is applied by the conv's forward as it writes its output (one
     * pass over the activations less); the ReLU's backward reads that output, whose sign is its
     * input's */
    for (int i = 1; i < m->n_layers; i++) {
        ct_layer *prev = &m->layers[i - 1], *l = &m->layers[i];
        /* (not a block's first layer: the conv's output before the ReLU is the block's input) */
        if (prev->ops == &ct_conv2d_ops && l->ops == &ct_act_ops &&
            l->cfg.act.kind == CT_ACT_RELU && prev->block == l->block) {
            prev->cfg.conv.relu = 1;
            l->fused = 1;
        }
    }
    for (int i = 0; i < m->n_layers; i++) {
        ct_layer *l = &m->layers[i];
        l->offset = off;
        l->w = m->params + off;
        off += l->n_params;
    }
    m->n_shards = ct_backend_shards(b);
    if (m->n_shards > 1 && (s = ct_pool_create(m->n_shards, &m->pool)) != CT_OK) goto fail;
    for (int k = 0; k < m->n_shards; k++)
        if ((s = shard_alloc(m, &m->shards[k], widest)) != CT_OK) goto fail;
    m->grads = m->shards[0].grads;
    m->acts = m->shards[0].acts;
    m->labels = m->shards[0].labels;
    m->stats = m->shards[0].stats;
    if ((s = model_alloc(m, (size_t)m->n_shards * sizeof(double), (void **)&m->norm_parts)))
        goto fail;
    if ((s = ct_model_buffers_init(m)) != CT_OK) goto fail; /* model_buffers.c */

    /* PyTorch's default initialisation, drawn on the host from (seed, init stream) */
    float *host = ct_malloc(pbytes, "initial parameters");
    if (!host) { s = CT_ERR_NOMEM; goto fail; }
    ct_rng rng;
    ct_rng_init(&rng, seed, CT_STREAM_INIT);
    for (int i = 0; i < m->n_layers; i++)
        if (m->layers[i].n_params) m->layers[i].ops->init(&m->layers[i], host + m->layers[i].offset, &rng);
    s = b->h2d(b, m->params, host, pbytes);
    free(host);
    if (s != CT_OK) goto fail;
    *out = m;
    return CT_OK;
fail:
    ct_model_free(m);
    return s;
}

void ct_model_free(ct_model *m) {
    if (!m) return;
    ct_pool_free(m->pool);
    ct_optimizer_release(&m->opt);
    ct_ema_release(m);
    m->b->free(m->b, m->buffers);
    for (int i = 0; i < m->n_owned; i++) m->b->free(m->b, m->owned[i]);
    free(m->owned);
    free(m);
}

int64_t ct_model_param_count(const ct_model *m) { return m->n_params; }
int ct_model_num_classes(const ct_model *m) { return m->classes; }

int ct_model_input_mean(const ct_model *m, float mean[CT_MAX_NORM_CHANNELS]) {
    const ct_layer *l = m->n_layers > 0 ? &m->layers[0] : NULL;
    const int norm = l && l->ops == &ct_normalize_ops;
    for (int k = 0; k < CT_MAX_NORM_CHANNELS; k++)
        mean[k] = norm ? l->cfg.norm.mean[k < l->cfg.norm.n ? k : 0] : 0.0f;
    return norm;
}

ct_status ct_model_get_params(const ct_model *m, float *host) {
    return m->b->d2h(m->b, host, m->params, (size_t)m->n_params * sizeof(float));
}

ct_status ct_model_set_params(ct_model *m, const float *host) {
    return m->b->h2d(m->b, m->params, host, (size_t)m->n_params * sizeof(float));
}

/* Multiply-adds of one image through layer l's weights: a linear layer's in x units, a
 * convolution's weights times its output positions, attention's products; 0 for the other
 * layers. (torchinfo's
 * Mult-Adds also count the biases, and batch norm's scale and shift.) */
static int64_t layer_mult_adds(const ct_layer *l) {
    if (l->ops == &ct_linear_ops) /* on a sequence: each token's */
        return l->in_seq ? (int64_t)l->in_c * l->in_w * l->out_w : ct_layer_in_size(l) * l->out_c;
    if (l->ops == &ct_attention_ops) /* the projections, the scores and their products with V */
        return (int64_t)l->in_c * (4 * (int64_t)l->in_w * l->in_w + 2 * (int64_t)l->in_c * l->in_w);
    if (l->ops == &ct_se_ops) return 2 * (int64_t)l->in_c * l->cfg.se.squeeze; /* its 1x1 convs */
    if (l->ops == &ct_conv2d_ops)
        return (int64_t)l->out_c * (l->in_c / l->cfg.conv.groups) * l->cfg.conv.kernel *
               l->cfg.conv.kernel * l->out_h * l->out_w;
    return 0;
}

ct_status ct_model_summary(const ct_model *m, int frozen_layers, char *buf, size_t bytes) {
    size_t used = 0;
    int64_t mult_adds = 0;
#define APPEND(...)                                                                   \
    do {                                                                              \
        int n_ = snprintf(buf + used, used < bytes ? bytes - used : 0, __VA_ARGS__);  \
        if (n_ > 0) used += (size_t)n_;                                               \
    } while (0)
    if (frozen_layers < 0 || frozen_layers > m->n_layers)
        return ct_fail(CT_ERR_INVALID, "model summary: %d frozen layers of %d", frozen_layers,
                       m->n_layers);
    /* a residual block's layers indented, its shortcut's marked, its add saying what it adds */
    char label[CT_MAX_LAYERS][CT_LAYER_NAME_BYTES + 32];
    int width = 16;
    for (int i = 0; i < m->n_layers; i++) {
        const ct_layer *l = &m->layers[i];
        const int identity = l->ops == &ct_residual_ops && l->cfg.res.skip == l->cfg.res.begin;
        int len = snprintf(label[i], sizeof label[i], "%s%s%s%s", l->block ? "  " : "", l->name,
                           l->shortcut ? " (shortcut)" : identity ? " (+ input)" : "",
                           i < frozen_layers && l->n_params ? " (frozen)" : "");
        if (len > width) width = len;
    }
    APPEND("%-*s %-20s %12s %14s\n", width, "Layer", "Output shape", "Param #", "Mult-adds");
    char in_shape[64];
    snprintf(in_shape, sizeof in_shape, "(%d, %d, %d)", m->in_c, m->in_h, m->in_w);
    APPEND("%-*s %-20s %12s %14s\n", width, "input", in_shape, "0", "0");
    for (int i = 0; i < m->n_layers; i++) {
        const ct_layer *l = &m->layers[i];
        char shape[64];
        if (l->out_seq) snprintf(shape, sizeof shape, "(%d, %d)", l->out_c, l->out_w);
        else if (l->out_h == 1 && l->out_w == 1) snprintf(shape, sizeof shape, "(%d)", l->out_c);
        else snprintf(shape, sizeof shape, "(%d, %d, %d)", l->out_c, l->out_h, l->out_w);
        int64_t ma = layer_mult_adds(l);
        mult_adds += ma;
        APPEND("%-*s %-20s %12lld %14lld\n", width, label[i], shape, (long long)l->n_params,
               (long long)ma);
    }
    /* as Keras: the total with its size, then what the optimizer trains and what it does not
     * (batch norm's running mean and variance: PyTorch's buffers, Keras' non-trainable) */
    APPEND("Total params: %lld (%.2f MiB as float32)\n", (long long)m->n_params,
           (double)m->n_params * 4.0 / (1 << 20));
    int64_t frozen = ct_model_frozen_params(m, frozen_layers);
    APPEND("Trainable params: %lld\n", (long long)(m->n_params - frozen));
    if (frozen > 0) { /* (Keras counts them as non-trainable) */
        int last = frozen_layers - 1;
        while (!m->layers[last].n_params) last--;
        APPEND("Frozen params: %lld (the layers up to %s: kept as they are, run as at "
               "inference)\n", (long long)frozen, m->layers[last].name);
    }
    APPEND("Non-trainable buffers: %lld (batch norm's running statistics)\n",
           (long long)m->n_buffers);
    /* as torchinfo's "Total mult-adds", for one image (a training step: about 3x, per image) */
    APPEND("Mult-adds per image: %lld (%.2f M; training about 3x that)\n", (long long)mult_adds,
           (double)mult_adds / 1e6);
#undef APPEND
    if (used >= bytes) return ct_fail(CT_ERR_INVALID, "model summary: buffer too small");
    return CT_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* forward, loss, backward                                                                     */

/* What shard s's layers need to know for this pass (layer i's scratch filled in per call). */
static ct_layer_ctx shard_ctx(const ct_model *m, const ct_shard *sh, int train) {
    return (ct_layer_ctx){.train = train, .row0 = sh->row0, .seed = m->seed,
                          .step = m->opt.steps, .sv = train ? m->sv : NULL,
                          .bn_momentum = m->bn_momentum, .workspace = sh->workspace};
}

ct_status ct_model_forward_shard(ct_model *m, int s, int n, int train) {
    ct_shard *sh = &m->shards[s];
    ct_layer_ctx ctx = shard_ctx(m, sh, train);
    for (int i = 0; i < m->n_layers; i++) {
        ct_layer *l = &m->layers[i];
        if (l->ops->aliases_input || l->fused) continue;
        ctx.train = train && i >= m->frozen; /* a frozen layer runs as at inference */
        ctx.scratch = sh->scratch[i];
        ctx.scratch_bytes = sh->scratch_bytes[i];
        ctx.skip = l->ops == &ct_residual_ops ? sh->acts[l->cfg.res.skip] : NULL;
        CT_TRY(l->ops->forward(l, m->b, sh->acts[l->src], sh->acts[i + 1], n, &ctx));
    }
    return CT_OK;
}

/* Runs layers hi down to lo (a chain, each reading the one before's output) backward from *dy,
 * which is in pair[0] or pair[1]: each writes its input gradient into the other one, or nothing
 * where no layer before its input has parameters (first: the first layer with parameters; *dy
 * then becomes NULL). */
static ct_status backward_chain(ct_model *m, ct_shard *sh, ct_layer_ctx *ctx, int hi, int lo,
                                int first, int n, float **dy, float *const pair[2]) {
    for (int j = hi; j >= lo && j >= first; j--) {
        ct_layer *l = &m->layers[j];
        if (l->ops->aliases_input) continue; /* dx is dy */
        float *dx = l->src > first ? (*dy == pair[0] ? pair[1] : pair[0]) : NULL;
        ctx->scratch = sh->scratch[j];
        ctx->scratch_bytes = sh->scratch_bytes[j];
        CT_TRY(l->ops->backward(l, m->b, sh->acts[l->src], sh->acts[j + 1], *dy, dx,
                                sh->grads + l->offset, n, ctx));
        *dy = dx;
    }
    return CT_OK;
}

/* A residual block backward, from its add (dy: the gradient of its output, in one of the
 * ping-pong buffers): dy goes to the block's path and to its shortcut. The shortcut's copy waits
 * in gskip while the path runs back; then the shortcut's layers run back (through gskip and the
 * ping-pong buffer the path's result is not in) and their input gradient is added to the
 * path's. *dy becomes the gradient of the block's input (NULL: none needed). */
static ct_status residual_backward(ct_model *m, ct_shard *sh, ct_layer_ctx *ctx,
                                   const ct_layer *add, int first, int n, float **dy) {
    ct_backend *b = m->b;
    const int begin = add->cfg.res.begin, main_end = add->cfg.res.main;
    CT_TRY(b->d2d(b, sh->gskip, *dy, (size_t)n * ct_layer_out_size(add) * sizeof(float)));
    float *path = *dy, *sc = sh->gskip;
    CT_TRY(backward_chain(m, sh, ctx, main_end - 1, begin, first, n, &path, sh->gbuf));
    if (main_end < add->index) { /* the projection: conv, batchnorm */
        float *const pair[2] = {sh->gskip, path == sh->gbuf[0] ? sh->gbuf[1] : sh->gbuf[0]};
        CT_TRY(backward_chain(m, sh, ctx, add->index - 1, main_end, first, n, &sc, pair));
    }
    if (path && sc && begin > first)
        CT_TRY(b->add_into(b, path, sc, (int64_t)n * ct_layer_in_size(&m->layers[begin])));
    *dy = begin > first ? path : NULL;
    return CT_OK;
}

ct_status ct_model_loss_backward_shard(ct_model *m, int s, int n, int train, float grad_scale,
                                       float smoothing, const float *class_weights,
                                       const ct_step_vars *mix_sv) {
    ct_backend *b = m->b;
    ct_shard *sh = &m->shards[s];
    float *dy = train ? sh->gbuf[0] : NULL; // (n, classes)
    CT_TRY(b->xent(b, sh->acts[m->n_layers], sh->labels, n, m->classes, grad_scale, smoothing,
                   class_weights, mix_sv ? sh->mix_labels : NULL, mix_sv, dy, sh->stats));
    if (!train) return CT_OK;
    ct_layer_ctx ctx = shard_ctx(m, sh, train);
    /* the first trained layer with parameters needs no input gradient (nor the frozen ones
     * before it any gradient) */
    int first = m->frozen;
    while (first < m->n_layers && m->layers[first].n_params == 0) first++;
    /* runs of layers between residual blocks' adds, and the blocks */
    for (int i = m->n_layers - 1; i >= first;) {
        int lo = i;
        while (lo > first && m->layers[lo].ops != &ct_residual_ops) lo--;
        if (m->layers[lo].ops != &ct_residual_ops) {
            CT_TRY(backward_chain(m, sh, &ctx, i, lo, first, n, &dy, sh->gbuf));
            break;
        }
        CT_TRY(backward_chain(m, sh, &ctx, i, lo + 1, first, n, &dy, sh->gbuf));
        CT_TRY(residual_backward(m, sh, &ctx, &m->layers[lo], first, n, &dy));
        i = m->layers[lo].cfg.res.begin - 1;
    }
    return CT_OK;
}

ct_status ct_model_forward(ct_model *m, int n, int train) {
    return ct_model_forward_shard(m, 0, n, train);
}

ct_status ct_model_loss_backward(ct_model *m, int n, int train) {
    return ct_model_loss_backward_shard(m, 0, n, train, 1.0f / (float)n, 0.0f, NULL, NULL);
}

int ct_model_mlp_shape(const ct_model *m, int *in, int *hidden, int *classes) {
    int k = m->n_layers == 4 && m->layers[0].ops == &ct_flatten_ops ? 1 : 0;
    if (m->n_layers - k != 3) return 0;
    const ct_layer *l1 = &m->layers[k], *act = &m->layers[k + 1], *l2 = &m->layers[k + 2];
    if (l1->ops != &ct_linear_ops || l1->in_seq || act->ops != &ct_act_ops ||
        act->cfg.act.kind != CT_ACT_RELU || l2->ops != &ct_linear_ops)
        return 0;
    if (l1->offset != 0 || l2->offset != l1->n_params || m->n_params != l1->n_params + l2->n_params)
        return 0; /* not the layout the fused step assumes */
    int64_t n_in = ct_layer_in_size(l1);
    if (n_in > (1 << 30)) return 0;
    *in = (int)n_in;
    *hidden = l1->out_c;
    *classes = l2->out_c;
    return 1;
}
