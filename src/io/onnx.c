/*
 * onnx.c — a model as an ONNX file (ct_save_onnx, ctrain export): what torch.onnx.export writes
 * for the equivalent nn.Module, serialised by protobuf-c from onnx.proto (Debian's libonnx-dev;
 * CMake generates onnx.pb-c.c from it).
 *
 * The graph: input "input" float32 (batch, C, H, W), pixels / 255 as ctrain feeds them (as
 * torchvision's ToTensor); one node (or a few) per layer in the model's order; outputs "logits"
 * (batch, classes) and "probabilities", their softmax. Opset 13, IR version 7. The weights are
 * initializers under the state_dict names of model.safetensors ("linear1.weight", ...); dropout
 * is the identity of inference and batch norm uses its running statistics (model.eval()).
 * Layer by layer: flatten → Flatten(axis 1); linear → Gemm(transB 1) (after a Flatten when its
 * input is an image); conv → Conv; maxpool → MaxPool; avgpool → AveragePool(count_include_pad
 * 1); batchnorm → BatchNormalization; groupnorm, layernorm → ReduceMean, Sub, Mul,
 * ReduceMean, Add, Sqrt, Div, Mul, Add (a group norm between Reshapes to (batch, groups, rest)
 * and back); normalize → Sub, Mul (by 1 / std, as ctrain computes
 * it); relu, leakyrelu, sigmoid, tanh → their ops; gelu → the
 * erf form torch exports, x * 0.5 * (1 + Erf(x / sqrt(2))). A conv or pool after a flatten
 * gets a Reshape back to (batch, C, H, W). Token sequences are (batch, T, D): tokens → Reshape,
 * Transpose; clstoken → Concat of the token Expanded to the batch; posembed → Add; attention →
 * MatMul, Add, Reshape, Transpose, Gather (Q, K, V), MatMul, Mul, Softmax, MatMul, Transpose,
 * Reshape, MatMul, Add; clspool → Gather; linear on a sequence → MatMul by the weight's
 * Transpose, Add; layernorm → over the last axis; globalavgpool → ReduceMean over the tokens.
 */
#include "io/atomic.h"
#include "io/checkpoint.h"
#include "nn/model.h"
#include "onnx.pb-c.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ONNX_OPSET 13
#define ONNX_IR_VERSION 7
#define MAX_NODES (14 * CT_MAX_LAYERS + 8) /* (a group norm: 14 nodes) */
#define MAX_INITS (8 * CT_MAX_LAYERS + 8)
#define NAME_BYTES 96

/* Everything the graph points to lives in one arena, freed at the end. */
typedef struct arena_block {
    struct arena_block *next;
    size_t used, size;
    _Alignas(16) unsigned char data[];
} arena_block;

typedef struct {
    arena_block *head;
    int failed;
    Onnx__NodeProto *nodes[MAX_NODES];
    int n_nodes;
    Onnx__TensorProto *inits[MAX_INITS];
    int n_inits;
    char cur[NAME_BYTES]; /* the name of the tensor the next node takes */
    int rank;             /* its rank: 4 (batch, C, H, W) or 2 (batch, features) */
    int serial;           /* for fresh names */
    int full;             /* more nodes or initializers than the arrays hold */
    /* the tensor holding the model's activation k (its acts[k]) and its rank: a residual
     * block's shortcut and add read earlier ones */
    char act[CT_MAX_LAYERS + 1][NAME_BYTES];
    int act_rank[CT_MAX_LAYERS + 1];
} builder;

static void *arena(builder *b, size_t bytes) {
    bytes = (bytes + 15) & ~(size_t)15;
    if (!b->head || b->head->size - b->head->used < bytes) {
        size_t size = bytes > 65536 ? bytes : 65536;
        arena_block *blk = malloc(sizeof *blk + size);
        if (!blk) {
            b->failed = 1;
            return NULL;
        }
        blk->next = b->head, blk->used = 0, blk->size = size;
        b->head = blk;
    }
    void *p = b->head->data + b->head->used;
    b->head->used += bytes;
    memset(p, 0, bytes);
    return p;
}

static char *str(builder *b, const char *s) {
    char *p = arena(b, strlen(s) + 1);
    if (p) strcpy(p, s);
    return p;
}

static void free_arena(builder *b) {
    while (b->head) {
        arena_block *next = b->head->next;
        free(b->head);
        b->head = next;
    }
}

static Onnx__AttributeProto *attr_int(builder *b, const char *name, int64_t v) {
    Onnx__AttributeProto *a = arena(b, sizeof *a);
    if (!a) return NULL;
    onnx__attribute_proto__init(a);
    a->name = str(b, name);
    a->has_type = 1, a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
    a->has_i = 1, a->i = v;
    return a;
}

static Onnx__AttributeProto *attr_float(builder *b, const char *name, float v) {
    Onnx__AttributeProto *a = arena(b, sizeof *a);
    if (!a) return NULL;
    onnx__attribute_proto__init(a);
    a->name = str(b, name);
    a->has_type = 1, a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT;
    a->has_f = 1, a->f = v;
    return a;
}

/* ints (v, v) or, with four, (v, v, v, v) */
static Onnx__AttributeProto *attr_ints(builder *b, const char *name, int64_t v, int n) {
    Onnx__AttributeProto *a = arena(b, sizeof *a);
    int64_t *ints = arena(b, (size_t)n * sizeof *ints);
    if (!a || !ints) return NULL;
    onnx__attribute_proto__init(a);
    a->name = str(b, name);
    a->has_type = 1, a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS;
    for (int i = 0; i < n; i++) ints[i] = v;
    a->n_ints = (size_t)n, a->ints = ints;
    return a;
}

/* ints v[0..n) */
static Onnx__AttributeProto *attr_ints_of(builder *b, const char *name, const int64_t *v, int n) {
    Onnx__AttributeProto *a = attr_ints(b, name, 0, n);
    if (a) memcpy(a->ints, v, (size_t)n * sizeof *v);
    return a;
}

/* A node op(inputs...) whose output is a fresh name (or `out`), which becomes b->cur. */
static void node(builder *b, const char *op, const char *out, const char *const *in, int n_in,
                 Onnx__AttributeProto **attrs, int n_attrs) {
    if (b->failed) return;
    if (b->n_nodes == MAX_NODES) {
        b->failed = b->full = 1;
        return;
    }
    Onnx__NodeProto *nd = arena(b, sizeof *nd);
    char **ins = arena(b, (size_t)n_in * sizeof *ins), **outs = arena(b, sizeof *outs);
    Onnx__AttributeProto **as = n_attrs ? arena(b, (size_t)n_attrs * sizeof *as) : NULL;
    if (!nd || !ins || !outs || (n_attrs && !as)) return;
    onnx__node_proto__init(nd);
    for (int i = 0; i < n_in; i++) ins[i] = str(b, in[i]);
    char name[NAME_BYTES];
    if (out) snprintf(name, sizeof name, "%s", out);
    else snprintf(name, sizeof name, "%s_%d", op, ++b->serial);
    outs[0] = str(b, name);
    for (int i = 0; i < n_attrs; i++) {
        if (!attrs[i]) b->failed = 1;
        as[i] = attrs[i];
    }
    nd->op_type = str(b, op);
    nd->name = str(b, name);
    nd->n_input = (size_t)n_in, nd->input = ins;
    nd->n_output = 1, nd->output = outs;
    nd->n_attribute = (size_t)n_attrs, nd->attribute = as;
    b->nodes[b->n_nodes++] = nd;
    snprintf(b->cur, sizeof b->cur, "%s", name);
}

/* One-input node on b->cur. */
static void unary(builder *b, const char *op, Onnx__AttributeProto **attrs, int n_attrs) {
    const char *in[1] = {b->cur};
    node(b, op, NULL, in, 1, attrs, n_attrs);
}

/* An initializer: float32 (data_type 1) or int64 (7) from raw little-endian bytes. */
static void init_tensor(builder *b, const char *name, int type, const int64_t *shape, int ndim,
                        const void *data, size_t bytes) {
    if (b->failed) return;
    if (b->n_inits == MAX_INITS) {
        b->failed = b->full = 1;
        return;
    }
    Onnx__TensorProto *t = arena(b, sizeof *t);
    int64_t *dims = arena(b, (size_t)(ndim ? ndim : 1) * sizeof *dims);
    uint8_t *raw = arena(b, bytes ? bytes : 1);
    if (!t || !dims || !raw) return;
    onnx__tensor_proto__init(t);
    if (ndim) memcpy(dims, shape, (size_t)ndim * sizeof *dims); /* (a scalar: shape NULL) */
    if (bytes) memcpy(raw, data, bytes);
    t->name = str(b, name);
    t->n_dims = (size_t)ndim, t->dims = dims;
    t->has_data_type = 1, t->data_type = type;
    t->has_raw_data = 1, t->raw_data.len = bytes, t->raw_data.data = raw;
    b->inits[b->n_inits++] = t;
}

static void scalar(builder *b, const char *name, float v) {
    init_tensor(b, name, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, NULL, 0, &v, sizeof v);
}

/* (batch, C, H, W) again for a conv or pool after a flatten */
static void to_image(builder *b, const ct_layer *l) {
    if (b->rank == 4) return;
    char name[NAME_BYTES];
    snprintf(name, sizeof name, "shape_%d", ++b->serial);
    int64_t shape[4] = {-1, l->in_c, l->in_h, l->in_w}, dims[1] = {4};
    init_tensor(b, name, ONNX__TENSOR_PROTO__DATA_TYPE__INT64, dims, 1, shape, sizeof shape);
    const char *in[2] = {b->cur, name};
    node(b, "Reshape", NULL, in, 2, NULL, 0);
    b->rank = 4;
}

static void flatten(builder *b) {
    if (b->rank == 2) return;
    Onnx__AttributeProto *a[1] = {attr_int(b, "axis", 1)};
    unary(b, "Flatten", a, 1);
    b->rank = 2;
}

/* An int64 shape initializer of n values; its name into name. */
static void shape_init(builder *b, const int64_t *v, int n, char name[NAME_BYTES]) {
    snprintf(name, NAME_BYTES, "shape_%d", ++b->serial);
    const int64_t dims[1] = {n};
    init_tensor(b, name, ONNX__TENSOR_PROTO__DATA_TYPE__INT64, dims, 1, v, (size_t)n * sizeof *v);
}

/* groupnorm and layernorm (opset 13 has neither: as torch.onnx writes them there): b->cur
 * normalised over its last axes (a group norm's input reshaped to (batch, groups, rest) first,
 * and back), (x - mean) / sqrt(mean((x - mean)^2) + eps), then times the weight and plus the
 * bias (a group norm's of shape (C, 1, 1) on images). */
static void norm_nodes(builder *b, const ct_layer *l, const char *w, const char *bias) {
    const int group = l->ops == &ct_groupnorm_ops;
    if (l->in_seq) {}                               /* (batch, T, D): over the last axis */
    else if (l->in_h * l->in_w > 1) to_image(b, l); /* (an image flattened for a residual add) */
    else if (!group) flatten(b);                    /* (a layer norm's weight of (F)) */
    char eps[NAME_BYTES], x[NAME_BYTES], d[NAME_BYTES], s[NAME_BYTES];
    if (group) {
        const int64_t split[3] = {0, l->cfg.gn.groups, -1};
        shape_init(b, split, 3, s);
        const char *in[2] = {b->cur, s};
        node(b, "Reshape", NULL, in, 2, NULL, 0);
    }
    /* the axes reduced: a group's (batch, groups, rest) over 2; a layer norm's over 1.., a
     * sequence's over 2 (each token's) */
    const int64_t axes[3] = {1, 2, 3}, *ax = group || l->in_seq ? axes + 1 : axes;
    const int n_ax = group || l->in_seq ? 1 : b->rank - 1;
    snprintf(x, sizeof x, "%s", b->cur);
    Onnx__AttributeProto *a[2] = {attr_ints_of(b, "axes", ax, n_ax),
                                  attr_int(b, "keepdims", 1)};
    unary(b, "ReduceMean", a, 2);
    const char *sub[2] = {x, b->cur};
    node(b, "Sub", NULL, sub, 2, NULL, 0);
    snprintf(d, sizeof d, "%s", b->cur);
    const char *sq[2] = {d, d};
    node(b, "Mul", NULL, sq, 2, NULL, 0);
    Onnx__AttributeProto *a2[2] = {attr_ints_of(b, "axes", ax, n_ax),
                                   attr_int(b, "keepdims", 1)};
    unary(b, "ReduceMean", a2, 2);
    snprintf(eps, sizeof eps, "const_%d", ++b->serial);
    scalar(b, eps, l->cfg.gn.eps);
    const char *add[2] = {b->cur, eps};
    node(b, "Add", NULL, add, 2, NULL, 0);
    unary(b, "Sqrt", NULL, 0);
    const char *div[2] = {d, b->cur};
    node(b, "Div", NULL, div, 2, NULL, 0);
    char wv[NAME_BYTES], bv[NAME_BYTES];
    snprintf(wv, sizeof wv, "%s", w);
    snprintf(bv, sizeof bv, "%s", bias);
    if (group) {
        const int64_t back4[4] = {-1, l->in_c, l->in_h, l->in_w}, back2[2] = {-1, l->in_c};
        shape_init(b, b->rank == 4 ? back4 : back2, b->rank, s);
        const char *in[2] = {b->cur, s};
        node(b, "Reshape", NULL, in, 2, NULL, 0);
        if (b->rank == 4) { /* the weight and bias (C) as (C, 1, 1) */
            char y[NAME_BYTES], c11[NAME_BYTES];
            snprintf(y, sizeof y, "%s", b->cur);
            const int64_t per_channel[3] = {-1, 1, 1};
            shape_init(b, per_channel, 3, c11);
            const char *rw[2] = {w, c11}, *rb[2] = {bias, c11};
            node(b, "Reshape", NULL, rw, 2, NULL, 0);
            snprintf(wv, sizeof wv, "%s", b->cur);
            node(b, "Reshape", NULL, rb, 2, NULL, 0);
            snprintf(bv, sizeof bv, "%s", b->cur);
            snprintf(b->cur, sizeof b->cur, "%s", y);
        }
    }
    const char *mul[2] = {b->cur, wv};
    node(b, "Mul", NULL, mul, 2, NULL, 0);
    const char *plus[2] = {b->cur, bv};
    node(b, "Add", NULL, plus, 2, NULL, 0);
}

/* b->cur times the transpose of the 2-D weight w, plus bias: nn.Linear on (batch, T, D) */
static void matmul_t(builder *b, const char *w, const char *bias) {
    char x[NAME_BYTES];
    snprintf(x, sizeof x, "%s", b->cur);
    const char *tw[1] = {w};
    node(b, "Transpose", NULL, tw, 1, NULL, 0); /* (the default perm reverses the axes) */
    const char *mm[2] = {x, b->cur};
    node(b, "MatMul", NULL, mm, 2, NULL, 0);
    const char *plus[2] = {b->cur, bias};
    node(b, "Add", NULL, plus, 2, NULL, 0);
}

/* Transpose of b->cur by perm (n axes) */
static void transpose(builder *b, const int64_t *perm, int n) {
    Onnx__AttributeProto *a[1] = {attr_ints_of(b, "perm", perm, n)};
    unary(b, "Transpose", a, 1);
}

/* Reshape of b->cur to shape (n values; 0: that axis kept) */
static void reshape(builder *b, const int64_t *shape, int n) {
    char s[NAME_BYTES];
    shape_init(b, shape, n, s);
    const char *in[2] = {b->cur, s};
    node(b, "Reshape", NULL, in, 2, NULL, 0);
}

/* An int64 scalar initializer (Gather's index); its name into name */
static void index_init(builder *b, int64_t v, char name[NAME_BYTES]) {
    snprintf(name, NAME_BYTES, "index_%d", ++b->serial);
    init_tensor(b, name, ONNX__TENSOR_PROTO__DATA_TYPE__INT64, NULL, 0, &v, sizeof v);
}

/* The token sequences' layers (attention.c) on b->cur, a (batch, T, D) tensor of rank 3 but
 * for tokens' input (an image) and clspool's output (batch, D); linear and layernorm on a
 * sequence too. As torch.onnx writes nn.MultiheadAttention: the input projection, the heads as
 * (batch, heads, T, d), softmax(Q K^T / sqrt(d)) V, the output projection. */
static void seq_nodes(builder *b, const ct_layer *l) {
    const int64_t D = l->in_w;
    char name[4][NAME_BYTES];
    if (l->ops == &ct_tokens_ops) { /* (batch, C, H*W), then (batch, H*W, C) */
        to_image(b, l);
        const int64_t shape[3] = {0, l->in_c, -1}, perm[3] = {0, 2, 1};
        reshape(b, shape, 3);
        transpose(b, perm, 3);
    } else if (l->ops == &ct_linear_ops) {
        snprintf(name[0], NAME_BYTES, "%s.weight", l->name);
        snprintf(name[1], NAME_BYTES, "%s.bias", l->name);
        matmul_t(b, name[0], name[1]);
    } else if (l->ops == &ct_clstoken_ops) { /* Concat(Expand(token, (batch, 1, D)), x) */
        char x[NAME_BYTES], batch[NAME_BYTES];
        snprintf(x, sizeof x, "%s", b->cur);
        unary(b, "Shape", NULL, 0);
        const int64_t zero = 0, one = 1, rest[2] = {1, D};
        shape_init(b, &zero, 1, name[0]);
        shape_init(b, &one, 1, name[1]);
        const char *sl[3] = {b->cur, name[0], name[1]};
        node(b, "Slice", NULL, sl, 3, NULL, 0);
        snprintf(batch, sizeof batch, "%s", b->cur);
        shape_init(b, rest, 2, name[2]);
        const char *cat[2] = {batch, name[2]};
        Onnx__AttributeProto *a0[1] = {attr_int(b, "axis", 0)};
        node(b, "Concat", NULL, cat, 2, a0, 1);
        snprintf(name[3], NAME_BYTES, "%s.class_token", l->name);
        const char *ex[2] = {name[3], b->cur};
        node(b, "Expand", NULL, ex, 2, NULL, 0);
        const char *both[2] = {b->cur, x};
        Onnx__AttributeProto *a1[1] = {attr_int(b, "axis", 1)};
        node(b, "Concat", NULL, both, 2, a1, 1);
    } else if (l->ops == &ct_posembed_ops) {
        snprintf(name[0], NAME_BYTES, "%s.pos_embedding", l->name);
        const char *plus[2] = {b->cur, name[0]};
        node(b, "Add", NULL, plus, 2, NULL, 0);
    } else if (l->ops == &ct_clspool_ops) { /* x[:, 0] */
        index_init(b, 0, name[0]);
        const char *in[2] = {b->cur, name[0]};
        Onnx__AttributeProto *a[1] = {attr_int(b, "axis", 1)};
        node(b, "Gather", NULL, in, 2, a, 1);
        b->rank = 2;
        return;
    } else if (l->ops == &ct_attention_ops) {
        const int64_t H = l->cfg.attn.heads, d = D / H;
        snprintf(name[0], NAME_BYTES, "%s.in_proj_weight", l->name);
        snprintf(name[1], NAME_BYTES, "%s.in_proj_bias", l->name);
        matmul_t(b, name[0], name[1]); /* (batch, T, 3D) */
        const int64_t split[5] = {0, 0, 3, H, d}, heads[5] = {2, 0, 3, 1, 4};
        reshape(b, split, 5);
        transpose(b, heads, 5); /* (3, batch, H, T, d) */
        char qkv[NAME_BYTES], part[3][NAME_BYTES];
        snprintf(qkv, sizeof qkv, "%s", b->cur);
        for (int i = 0; i < 3; i++) {
            char at[NAME_BYTES];
            index_init(b, i, at);
            const char *in[2] = {qkv, at};
            Onnx__AttributeProto *a[1] = {attr_int(b, "axis", 0)};
            node(b, "Gather", NULL, in, 2, a, 1);
            snprintf(part[i], sizeof part[i], "%s", b->cur);
        }
        const int64_t kt[4] = {0, 1, 3, 2};
        snprintf(b->cur, sizeof b->cur, "%s", part[1]);
        transpose(b, kt, 4); /* K^T: (batch, H, d, T) */
        const char *scores[2] = {part[0], b->cur};
        node(b, "MatMul", NULL, scores, 2, NULL, 0);
        char scale[NAME_BYTES];
        snprintf(scale, sizeof scale, "const_%d", ++b->serial);
        scalar(b, scale, 1.0f / sqrtf((float)d));
        const char *mul[2] = {b->cur, scale};
        node(b, "Mul", NULL, mul, 2, NULL, 0);
        Onnx__AttributeProto *a[1] = {attr_int(b, "axis", -1)};
        unary(b, "Softmax", a, 1);
        const char *pv[2] = {b->cur, part[2]};
        node(b, "MatMul", NULL, pv, 2, NULL, 0); /* (batch, H, T, d) */
        const int64_t back[4] = {0, 2, 1, 3}, merged[3] = {0, 0, D};
        transpose(b, back, 4);
        reshape(b, merged, 3);
        snprintf(name[2], NAME_BYTES, "%s.out_proj.weight", l->name);
        snprintf(name[3], NAME_BYTES, "%s.out_proj.bias", l->name);
        matmul_t(b, name[2], name[3]);
    }
    b->rank = 3;
}

/* The nodes of activation kind (param: LeakyReLU's slope) on b->cur, as torch.onnx exports
 * them. */
static ct_status act_nodes(builder *b, ct_act kind, float param, const char *layer) {
    switch (kind) {
    case CT_ACT_RELU: unary(b, "Relu", NULL, 0); break;
    case CT_ACT_LEAKY_RELU: {
        Onnx__AttributeProto *a[1] = {attr_float(b, "alpha", param)};
        unary(b, "LeakyRelu", a, 1);
        break;
    }
    case CT_ACT_SIGMOID: unary(b, "Sigmoid", NULL, 0); break;
    case CT_ACT_TANH: unary(b, "Tanh", NULL, 0); break;
    case CT_ACT_GELU: { /* x * 0.5 * (1 + erf(x / sqrt(2))), as torch.onnx exports GELU */
        char x[NAME_BYTES], c[3][NAME_BYTES];
        snprintf(x, sizeof x, "%s", b->cur);
        const float v[3] = {(float)M_SQRT2, 1.0f, 0.5f};
        for (int i = 0; i < 3; i++) {
            snprintf(c[i], sizeof c[i], "const_%d", ++b->serial);
            scalar(b, c[i], v[i]);
        }
        const char *div[2] = {x, c[0]};
        node(b, "Div", NULL, div, 2, NULL, 0);
        unary(b, "Erf", NULL, 0);
        const char *add[2] = {b->cur, c[1]};
        node(b, "Add", NULL, add, 2, NULL, 0);
        const char *mul[2] = {x, b->cur};
        node(b, "Mul", NULL, mul, 2, NULL, 0);
        const char *half[2] = {b->cur, c[2]};
        node(b, "Mul", NULL, half, 2, NULL, 0);
        break;
    }
    case CT_ACT_HARDSIGMOID: {
        Onnx__AttributeProto *a[2] = {attr_float(b, "alpha", 1.0f / 6.0f),
                                      attr_float(b, "beta", 0.5f)};
        unary(b, "HardSigmoid", a, 2);
        break;
    }
    case CT_ACT_SILU:      /* x * Sigmoid(x), as torch.onnx exports SiLU */
    case CT_ACT_HARDSWISH: { /* x * HardSigmoid(x) (HardSwish: opset 14) */
        char x[NAME_BYTES];
        snprintf(x, sizeof x, "%s", b->cur);
        if (kind == CT_ACT_SILU) {
            unary(b, "Sigmoid", NULL, 0);
        } else {
            Onnx__AttributeProto *a[2] = {attr_float(b, "alpha", 1.0f / 6.0f),
                                          attr_float(b, "beta", 0.5f)};
            unary(b, "HardSigmoid", a, 2);
        }
        const char *mul[2] = {x, b->cur};
        node(b, "Mul", NULL, mul, 2, NULL, 0);
        break;
    }
    case CT_ACT_RELU6: { /* Clip(x, 0, 6), as torch.onnx exports ReLU6 */
        char lo[NAME_BYTES], hi[NAME_BYTES];
        snprintf(lo, sizeof lo, "const_%d", ++b->serial);
        scalar(b, lo, 0.0f);
        snprintf(hi, sizeof hi, "const_%d", ++b->serial);
        scalar(b, hi, 6.0f);
        const char *in[3] = {b->cur, lo, hi};
        node(b, "Clip", NULL, in, 3, NULL, 0);
        break;
    }
    default:
        return ct_fail(CT_ERR_INVALID, "ONNX export: activation %d of layer %s has no ONNX "
                       "operator here", (int)kind, layer);
    }
    return CT_OK;
}

static ct_status layer_nodes(builder *b, const ct_layer *l) {
    char w[NAME_BYTES], bias[NAME_BYTES], mean[NAME_BYTES], var[NAME_BYTES];
    snprintf(w, sizeof w, "%s.weight", l->name);
    snprintf(bias, sizeof bias, "%s.bias", l->name);
    snprintf(mean, sizeof mean, "%s.running_mean", l->name);
    snprintf(var, sizeof var, "%s.running_var", l->name);
    const ct_layer_ops *k = l->ops;
    if (k == &ct_tokens_ops || k == &ct_clstoken_ops || k == &ct_posembed_ops ||
        k == &ct_clspool_ops || k == &ct_attention_ops || (l->in_seq && k == &ct_linear_ops)) {
        seq_nodes(b, l);
    } else if (k == &ct_flatten_ops) {
        flatten(b);
    } else if (k == &ct_linear_ops) {
        flatten(b);
        const char *in[3] = {b->cur, w, bias};
        Onnx__AttributeProto *a[1] = {attr_int(b, "transB", 1)};
        node(b, "Gemm", NULL, in, 3, a, 1);
    } else if (k == &ct_conv2d_ops) {
        to_image(b, l);
        const char *in[3] = {b->cur, w, bias}; /* (B is optional) */
        Onnx__AttributeProto *a[5] = {attr_ints(b, "kernel_shape", l->cfg.conv.kernel, 2),
                                      attr_ints(b, "strides", l->cfg.conv.stride, 2),
                                      attr_ints(b, "pads", l->cfg.conv.pad, 4),
                                      attr_ints(b, "dilations", 1, 2),
                                      attr_int(b, "group", l->cfg.conv.groups)};
        node(b, "Conv", NULL, in, l->cfg.conv.bias ? 3 : 2, a, 5);
    } else if (k == &ct_maxpool2d_ops || k == &ct_avgpool2d_ops) {
        to_image(b, l);
        int avg = k == &ct_avgpool2d_ops;
        Onnx__AttributeProto *a[4] = {attr_ints(b, "kernel_shape", l->cfg.pool.kernel, 2),
                                      attr_ints(b, "strides", l->cfg.pool.stride, 2),
                                      attr_ints(b, "pads", l->cfg.pool.pad, 4),
                                      avg ? attr_int(b, "count_include_pad", 1) : NULL};
        unary(b, avg ? "AveragePool" : "MaxPool", a, avg ? 4 : 3);
    } else if (k == &ct_global_avgpool_ops && l->in_seq) { /* the tokens' mean */
        const int64_t tokens_axis = 1;
        Onnx__AttributeProto *a[2] = {attr_ints_of(b, "axes", &tokens_axis, 1),
                                      attr_int(b, "keepdims", 0)};
        unary(b, "ReduceMean", a, 2);
        b->rank = 2;
    } else if (k == &ct_global_avgpool_ops) {
        to_image(b, l);
        unary(b, "GlobalAveragePool", NULL, 0);
    } else if (k == &ct_residual_ops) { /* the block's path + its input or shortcut */
        int r[2] = {b->act_rank[l->cfg.res.main], b->act_rank[l->cfg.res.skip]};
        char in[2][NAME_BYTES];
        for (int i = 0; i < 2; i++) { /* (one flat and one image: the image flattened) */
            snprintf(b->cur, sizeof b->cur, "%s", b->act[i ? l->cfg.res.skip : l->cfg.res.main]);
            b->rank = r[i];
            if (r[0] != r[1]) flatten(b);
            snprintf(in[i], sizeof in[i], "%s", b->cur);
        }
        const char *add[2] = {in[0], in[1]};
        node(b, "Add", NULL, add, 2, NULL, 0);
    } else if (k == &ct_dropout_ops || k == &ct_droppath_ops) {
        /* the identity of inference */
    } else if (k == &ct_normalize_ops) { /* (x - mean) * (1 / std), as ctrain computes it */
        int c = l->cfg.norm.n;
        int64_t dims[3] = {c, 1, 1};
        int ndim = c == 1 ? 0 : b->rank == 4 ? 3 : 1;
        char m[NAME_BYTES], s[NAME_BYTES];
        snprintf(m, sizeof m, "normalize_%d.mean", ++b->serial);
        snprintf(s, sizeof s, "normalize_%d.inv_std", b->serial);
        init_tensor(b, m, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, dims, ndim, l->cfg.norm.mean,
                    (size_t)c * sizeof(float));
        init_tensor(b, s, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, dims, ndim, l->cfg.norm.inv_std,
                    (size_t)c * sizeof(float));
        const char *sub[2] = {b->cur, m};
        node(b, "Sub", NULL, sub, 2, NULL, 0);
        const char *mul[2] = {b->cur, s};
        node(b, "Mul", NULL, mul, 2, NULL, 0);
    } else if (k == &ct_batchnorm_ops) {
        const char *in[5] = {b->cur, w, bias, mean, var};
        Onnx__AttributeProto *a[1] = {attr_float(b, "epsilon", l->cfg.bn.eps)};
        node(b, "BatchNormalization", NULL, in, 5, a, 1);
    } else if (k == &ct_groupnorm_ops || k == &ct_layernorm_ops) {
        norm_nodes(b, l, w, bias);
    } else if (k == &ct_act_ops) {
        CT_TRY(act_nodes(b, l->cfg.act.kind, l->cfg.act.param, l->name));
    } else if (k == &ct_se_ops) { /* x * gate(fc2(act(fc1(GlobalAveragePool(x))))) */
        to_image(b, l);
        char x[NAME_BYTES], fc[4][NAME_BYTES];
        snprintf(x, sizeof x, "%s", b->cur);
        const char *part[4] = {"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"};
        for (int i = 0; i < 4; i++) snprintf(fc[i], sizeof fc[i], "%s.%s", l->name, part[i]);
        unary(b, "GlobalAveragePool", NULL, 0);
        for (int i = 0; i < 2; i++) {
            const char *in[3] = {b->cur, fc[2 * i], fc[2 * i + 1]};
            Onnx__AttributeProto *a[1] = {attr_ints(b, "kernel_shape", 1, 2)};
            node(b, "Conv", NULL, in, 3, a, 1);
            CT_TRY(act_nodes(b, i ? l->cfg.se.gate : l->cfg.se.act,
                             i ? l->cfg.se.gate_param : l->cfg.se.act_param, l->name));
        }
        const char *mul[2] = {x, b->cur};
        node(b, "Mul", NULL, mul, 2, NULL, 0);
    } else {
        return ct_fail(CT_ERR_INVALID, "ONNX export: layer %s (%s) has no ONNX operator here",
                       l->name, k->kind);
    }
    return CT_OK;
}

/* A graph input or output: float32 (batch, dims...). */
static Onnx__ValueInfoProto *value_info(builder *b, const char *name, const int64_t *dims,
                                        int n) {
    Onnx__ValueInfoProto *v = arena(b, sizeof *v);
    Onnx__TypeProto *tp = arena(b, sizeof *tp);
    Onnx__TypeProto__Tensor *tt = arena(b, sizeof *tt);
    Onnx__TensorShapeProto *sh = arena(b, sizeof *sh);
    Onnx__TensorShapeProto__Dimension **d = arena(b, (size_t)(n + 1) * sizeof *d);
    if (!v || !tp || !tt || !sh || !d) return NULL;
    onnx__value_info_proto__init(v);
    onnx__type_proto__init(tp);
    onnx__type_proto__tensor__init(tt);
    onnx__tensor_shape_proto__init(sh);
    for (int i = 0; i <= n; i++) {
        if (!(d[i] = arena(b, sizeof *d[i]))) return NULL;
        onnx__tensor_shape_proto__dimension__init(d[i]);
        if (i == 0) {
            d[i]->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            d[i]->dim_param = str(b, "batch");
        } else {
            d[i]->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            d[i]->dim_value = dims[i - 1];
        }
    }
    sh->n_dim = (size_t)n + 1, sh->dim = d;
    tt->has_elem_type = 1, tt->elem_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    tt->shape = sh;
    tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE, tp->tensor_type = tt;
    v->name = str(b, name);
    v->type = tp;
    return v;
}

ct_status ct_save_onnx(const ct_model *m, const char *path, const ct_meta *extra, int n_extra) {
    if (!m || !path || n_extra < 0 || (n_extra && !extra))
        return ct_fail(CT_ERR_INVALID, "ct_save_onnx: bad arguments");
    for (int i = 0; i < n_extra; i++)
        if (!extra[i].key || !extra[i].value)
            return ct_fail(CT_ERR_INVALID, "ct_save_onnx: metadata entry %d has no %s", i,
                           extra[i].key ? "value" : "key");
    ct_host_state hs;
    CT_TRY(ct_host_state_get(m, &hs));
    ct_tensor_list l = {0};
    ct_status s = ct_tensor_list_model(m, &hs, "", 0, &l);
    if (s == CT_OK) s = ct_tensor_list_finite(&l, path, "not saved");
    builder *b = s == CT_OK ? calloc(1, sizeof *b) : NULL;
    if (s == CT_OK && !b) s = ct_fail(CT_ERR_NOMEM, "out of memory (ONNX export)");
    uint8_t *buf = NULL;
    size_t bytes = 0;
    if (s == CT_OK) {
        for (int i = 0; i < l.n; i++) /* the weights (batch norm's counters are not needed) */
            if (strcmp(l.t[i].dtype, "F32") == 0)
                init_tensor(b, l.t[i].name, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, l.t[i].shape,
                            l.t[i].ndim, l.t[i].data, (size_t)l.info[i].count * sizeof(float));
        snprintf(b->act[0], sizeof b->act[0], "input");
        b->act_rank[0] = 4;
        for (int i = 0; i < m->n_layers && s == CT_OK; i++) {
            const ct_layer *l = &m->layers[i];
            snprintf(b->cur, sizeof b->cur, "%s", b->act[l->src]);
            b->rank = b->act_rank[l->src];
            s = layer_nodes(b, l);
            snprintf(b->act[i + 1], sizeof b->act[i + 1], "%s", b->cur);
            b->act_rank[i + 1] = b->rank;
        }
    }
    if (s == CT_OK) {
        flatten(b); /* (a model ending in an image: its outputs flat, as the loss takes them) */
        const char *last[1] = {b->cur};
        node(b, "Identity", "logits", last, 1, NULL, 0);
        Onnx__AttributeProto *a[1] = {attr_int(b, "axis", 1)};
        const char *logits[1] = {"logits"};
        node(b, "Softmax", "probabilities", logits, 1, a, 1);
        int64_t in_dims[3] = {m->in_c, m->in_h, m->in_w}, out_dims[1] = {m->classes};
        Onnx__ValueInfoProto *inputs[1] = {value_info(b, "input", in_dims, 3)};
        Onnx__ValueInfoProto *outputs[2] = {value_info(b, "logits", out_dims, 1),
                                            value_info(b, "probabilities", out_dims, 1)};
        char meta_buf[CT_MODEL_META_MAX][CT_META_VALUE_BYTES];
        ct_meta own[CT_MODEL_META_MAX];
        int n_own = ct_model_meta(m, meta_buf, own), n_props = n_own + n_extra;
        Onnx__StringStringEntryProto **props = arena(b, (size_t)(n_props + 1) * sizeof *props);
        for (int i = 0; props && i < n_props; i++) {
            const ct_meta *e = i < n_own ? &own[i] : &extra[i - n_own];
            if (!(props[i] = arena(b, sizeof *props[i]))) break;
            onnx__string_string_entry_proto__init(props[i]);
            props[i]->key = str(b, e->key);
            props[i]->value = str(b, e->value);
        }
        Onnx__GraphProto g;
        Onnx__OperatorSetIdProto opset;
        Onnx__OperatorSetIdProto *opsets[1] = {&opset};
        Onnx__ModelProto model;
        onnx__graph_proto__init(&g);
        onnx__operator_set_id_proto__init(&opset);
        onnx__model_proto__init(&model);
        g.name = "ctrain";
        g.n_node = (size_t)b->n_nodes, g.node = b->nodes;
        g.n_initializer = (size_t)b->n_inits, g.initializer = b->inits;
        g.n_input = 1, g.input = inputs;
        g.n_output = 2, g.output = outputs;
        opset.domain = "", opset.has_version = 1, opset.version = ONNX_OPSET;
        model.has_ir_version = 1, model.ir_version = ONNX_IR_VERSION;
        model.n_opset_import = 1, model.opset_import = opsets;
        model.producer_name = "ctrain";
        model.producer_version = (char *)ct_version();
        char doc[CT_SPEC_BYTES + 160];
        snprintf(doc, sizeof doc, "%s; input: float32 (batch, %d, %d, %d), pixels / 255",
                 m->spec, m->in_c, m->in_h, m->in_w);
        model.doc_string = doc;
        model.graph = &g;
        model.n_metadata_props = (size_t)n_props, model.metadata_props = props;
        if (b->full) {
            s = ct_fail(CT_ERR_INVALID, "ONNX export: more than %d nodes or %d initializers",
                        MAX_NODES, MAX_INITS);
        } else if (b->failed || !props || !inputs[0] || !outputs[0] || !outputs[1]) {
            s = ct_fail(CT_ERR_NOMEM, "out of memory (ONNX export of %d layers)", m->n_layers);
        } else {
            bytes = onnx__model_proto__get_packed_size(&model);
            buf = malloc(bytes ? bytes : 1);
            if (!buf) s = ct_fail(CT_ERR_NOMEM, "out of memory (%zu bytes of ONNX)", bytes);
            else if (onnx__model_proto__pack(&model, buf) != bytes)
                s = ct_fail(CT_ERR_INVALID, "ONNX export: the model packed to another size");
        }
    }
    if (s == CT_OK) {
        ct_afile f;
        s = ct_afile_open(&f, path);
        if (s == CT_OK) s = ct_afile_write(&f, buf, bytes);
        if (s == CT_OK) s = ct_afile_commit(&f);
        else ct_afile_abort(&f);
    }
    free(buf);
    if (b) free_arena(b);
    free(b);
    ct_tensor_list_free(&l);
    ct_host_state_free(&hs);
    return s;
}
