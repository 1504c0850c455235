/*
 * nn_ref.c — the model gradient check of test_nn_grad.c and test_attention.c: a double-precision
 * forward written here from the layer table (PyTorch's layouts; dropout's mask from Philox as
 * conv_layers.c documents), its central differences against the library's gradient (tight),
 * and the library's own float loss's against it (loose). Inputs are redrawn while a ReLU
 * pre-activation or a max-pooling window's top two values are too close (a kink inside the
 * difference step).
 */
#include "nn_ref.h"

#include "testutil.h"

#include "core/core.h"
#include "nn/model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EPS_D 1e-6      /* central-difference step of the double forward */
#define EPS_F 1e-2f     /* central-difference step through the float model */
#define KINK_MARGIN 0.02 /* |pre-activation| of ReLU-like layers must stay above this */
#define POOL_MARGIN 1e-3 /* the top two of a max-pooling window must differ by this */

static void *hcalloc(size_t n, size_t size) {
    void *p = calloc(n ? n : 1, size);
    assert_non_null(p);
    return p;
}

/* ------------------------------------------------------------------------------------------ */
/* the double-precision reference forward (training mode), batch at a time                     */

/* *kink: the smaller of it and v's distance to a kink of activation kind */
static void note_kink(ct_act kind, double v, double *kink) {
    if ((kind == CT_ACT_RELU || kind == CT_ACT_LEAKY_RELU || kind == CT_ACT_RELU6) &&
        fabs(v) < *kink)
        *kink = fabs(v);
    if (kind == CT_ACT_RELU6 && fabs(v - 6) < *kink) *kink = fabs(v - 6);
    if ((kind == CT_ACT_HARDSWISH || kind == CT_ACT_HARDSIGMOID) && fabs(fabs(v) - 3) < *kink)
        *kink = fabs(fabs(v) - 3);
}

/* One layer on a (n, in) -> out (n, out); *kink tracks the smallest margin seen. */
static void ref_layer(const ct_model *m, const ct_layer *l, const double *p, const double *a,
                      double *out, int n, double *kink) {
    const int C = l->in_c, H = l->in_h, W = l->in_w, OC = l->out_c, OH = l->out_h, OW = l->out_w;
    const int64_t in = (int64_t)C * H * W, osz = (int64_t)OC * OH * OW;
    const char *kind = l->ops->kind;
    if (!strcmp(kind, "linear")) { /* on a sequence (C tokens of W): each token's */
        const int64_t rows = l->in_seq ? (int64_t)n * C : n, fi = l->in_seq ? W : in;
        const int fo = l->in_seq ? OW : OC;
        const double *Wt = p, *bias = p + fi * fo; // (fo, fi), (fo)
        for (int64_t s = 0; s < rows; s++)
            for (int o = 0; o < fo; o++) {
                double acc = bias[o];
                for (int64_t i = 0; i < fi; i++) acc += Wt[o * fi + i] * a[s * fi + i];
                out[s * fo + o] = acc;
            }
    } else if (l->in_seq && !strcmp(kind, "layernorm")) { /* each token over its W features */
        for (int64_t s = 0; s < (int64_t)n * C; s++) {
            const double *x = a + s * W;
            double mean = 0, var = 0;
            for (int q = 0; q < W; q++) mean += x[q] / W;
            for (int q = 0; q < W; q++) var += (x[q] - mean) * (x[q] - mean) / W;
            const double is = 1 / sqrt(var + l->cfg.gn.eps);
            for (int q = 0; q < W; q++) out[s * W + q] = (x[q] - mean) * is * p[q] + p[W + q];
        }
    } else if (!strcmp(kind, "tokens")) { /* (C, H*W) -> (H*W, C) */
        for (int s = 0; s < n; s++)
            for (int c = 0; c < C; c++)
                for (int t = 0; t < H * W; t++) out[s * in + t * C + c] = a[s * in + c * H * W + t];
    } else if (!strcmp(kind, "clstoken")) { /* the token (W), then the C tokens */
        for (int s = 0; s < n; s++)
            for (int64_t e = 0; e < osz; e++) out[s * osz + e] = e < W ? p[e] : a[s * in + e - W];
    } else if (!strcmp(kind, "posembed")) {
        for (int64_t e = 0; e < n * in; e++) out[e] = a[e] + p[e % in];
    } else if (!strcmp(kind, "clspool")) {
        for (int s = 0; s < n; s++)
            for (int d = 0; d < W; d++) out[s * W + d] = a[s * in + d];
    } else if (!strcmp(kind, "attention")) { /* nn.MultiheadAttention's self-attention */
        const int T = C, D = W, NH = l->cfg.attn.heads, dh = D / NH;
        /* its dropout: dropout's mask of step 0 on the weights P (n, NH, T, T) */
        const double pr = l->cfg.attn.dropout;
        const uint64_t stream = (4ull << 56) | ((uint64_t)l->index << 40) | (uint64_t)m->opt.steps;
        const uint32_t thr = (uint32_t)(pr * 16777216.0);
        const double kept = (double)(1.0f / (1.0f - (float)pr));
        const double *w_in = p, *b_in = p + 3 * D * D, *w_out = b_in + 3 * D, *b_out = w_out + D * D;
        double *qkv = hcalloc((size_t)T * 3 * D, 8), *o = hcalloc((size_t)T * D, 8);
        double *sc = hcalloc((size_t)T, 8);
        for (int s = 0; s < n; s++) {
            const double *x = a + s * in;
            for (int t = 0; t < T; t++)
                for (int j = 0; j < 3 * D; j++) {
                    double acc = b_in[j];
                    for (int i = 0; i < D; i++) acc += w_in[j * D + i] * x[t * D + i];
                    qkv[t * 3 * D + j] = acc;
                }
            for (int h = 0; h < NH; h++)
                for (int t = 0; t < T; t++) {
                    double mx = -INFINITY, sum = 0;
                    for (int u = 0; u < T; u++) {
                        double acc = 0;
                        for (int e = 0; e < dh; e++)
                            acc += qkv[t * 3 * D + h * dh + e] * qkv[u * 3 * D + D + h * dh + e];
                        sc[u] = acc / sqrt((double)dh);
                        mx = sc[u] > mx ? sc[u] : mx;
                    }
                    for (int u = 0; u < T; u++) sum += (sc[u] = exp(sc[u] - mx));
                    for (int u = 0; u < T && pr > 0; u++) {
                        const uint64_t e = (((uint64_t)s * NH + h) * T + t) * T + u;
                        uint32_t w[4];
                        ct_philox4x32(m->seed, stream, e >> 2, w);
                        sc[u] *= (w[e & 3] >> 8) >= thr ? kept : 0.0;
                    }
                    for (int e = 0; e < dh; e++) {
                        double acc = 0;
                        for (int u = 0; u < T; u++)
                            acc += sc[u] / sum * qkv[u * 3 * D + 2 * D + h * dh + e];
                        o[t * D + h * dh + e] = acc;
                    }
                }
            for (int t = 0; t < T; t++)
                for (int j = 0; j < D; j++) {
                    double acc = b_out[j];
                    for (int i = 0; i < D; i++) acc += w_out[j * D + i] * o[t * D + i];
                    out[s * in + t * D + j] = acc;
                }
        }
        free(qkv);
        free(o);
        free(sc);
    } else if (!strcmp(kind, "activation")) {
        for (int64_t i = 0; i < n * in; i++) {
            note_kink(l->cfg.act.kind, a[i], kink);
            out[i] = tu_act_ref(l->cfg.act.kind, l->cfg.act.param, a[i]);
        }
    } else if (!strcmp(kind, "se")) { /* x * gate(fc2(act(fc1(mean of the plane)))) */
        const int q = l->cfg.se.squeeze, P = H * W;
        const double *W1 = p, *b1 = p + q * C, *W2 = b1 + q, *b2 = W2 + C * q;
        double *pooled = hcalloc((size_t)C, 8), *a1 = hcalloc((size_t)q, 8);
        for (int s = 0; s < n; s++) {
            for (int c = 0; c < C; c++) {
                pooled[c] = 0;
                for (int e = 0; e < P; e++) pooled[c] += a[s * in + c * P + e] / P;
            }
            for (int j = 0; j < q; j++) {
                double z = b1[j];
                for (int c = 0; c < C; c++) z += W1[j * C + c] * pooled[c];
                note_kink(l->cfg.se.act, z, kink);
                a1[j] = tu_act_ref(l->cfg.se.act, l->cfg.se.act_param, z);
            }
            for (int c = 0; c < C; c++) {
                double z = b2[c];
                for (int j = 0; j < q; j++) z += W2[c * q + j] * a1[j];
                note_kink(l->cfg.se.gate, z, kink);
                const double g = tu_act_ref(l->cfg.se.gate, l->cfg.se.gate_param, z);
                for (int e = 0; e < P; e++) out[s * in + c * P + e] = a[s * in + c * P + e] * g;
            }
        }
        free(pooled);
        free(a1);
    } else if (!strcmp(kind, "conv")) {
        int k = l->cfg.conv.kernel, st = l->cfg.conv.stride, pd = l->cfg.conv.pad;
        int cg = C / l->cfg.conv.groups, ocg = OC / l->cfg.conv.groups; /* a group's channels */
        const double *Wt = p, *bias = l->cfg.conv.bias ? p + (int64_t)OC * cg * k * k : NULL;
        for (int s = 0; s < n; s++)
            for (int o = 0; o < OC; o++)
                for (int oy = 0; oy < OH; oy++)
                    for (int ox = 0; ox < OW; ox++) {
                        double acc = bias ? bias[o] : 0.0;
                        for (int cj = 0; cj < cg; cj++)
                            for (int ky = 0; ky < k; ky++)
                                for (int kx = 0; kx < k; kx++) {
                                    int iy = oy * st - pd + ky, ix = ox * st - pd + kx;
                                    int c = o / ocg * cg + cj;
                                    if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                                    acc += Wt[((o * cg + cj) * k + ky) * k + kx] *
                                           a[s * in + (c * H + iy) * W + ix];
                                }
                        out[s * osz + (o * OH + oy) * OW + ox] = acc;
                    }
    } else if (!strcmp(kind, "maxpool") || !strcmp(kind, "avgpool")) {
        int k = l->cfg.pool.kernel, st = l->cfg.pool.stride, pd = l->cfg.pool.pad;
        int is_max = !strcmp(kind, "maxpool");
        for (int s = 0; s < n; s++)
            for (int c = 0; c < C; c++)
                for (int oy = 0; oy < OH; oy++)
                    for (int ox = 0; ox < OW; ox++) {
                        double best = -INFINITY, second = -INFINITY, sum = 0;
                        for (int ky = 0; ky < k; ky++)
                            for (int kx = 0; kx < k; kx++) {
                                int iy = oy * st - pd + ky, ix = ox * st - pd + kx;
                                if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                                double v = a[s * in + (c * H + iy) * W + ix];
                                sum += v;
                                if (v > best) second = best, best = v;
                                else if (v > second) second = v;
                            }
                        /* a tie of ReLU zeros stays a tie under small changes: harmless */
                        if (is_max && second > -INFINITY && !(best == 0 && second == 0) &&
                            (best - second) * (KINK_MARGIN / POOL_MARGIN) < *kink)
                            *kink = (best - second) * (KINK_MARGIN / POOL_MARGIN);
                        out[s * osz + (c * OH + oy) * OW + ox] = is_max ? best : sum / (k * k);
                    }
    } else if (l->in_seq && !strcmp(kind, "globalavgpool")) { /* the mean of C tokens of W */
        for (int s = 0; s < n; s++)
            for (int d = 0; d < W; d++) {
                double sum = 0;
                for (int t = 0; t < C; t++) sum += a[s * in + t * W + d];
                out[s * W + d] = sum / C;
            }
    } else if (!strcmp(kind, "globalavgpool")) {
        for (int s = 0; s < n; s++)
            for (int c = 0; c < C; c++) {
                double sum = 0;
                for (int q = 0; q < H * W; q++) sum += a[s * in + c * H * W + q];
                out[s * osz + c] = sum / (H * W);
            }
    } else if (!strcmp(kind, "normalize")) { /* (x - mean) * (1 / std): the layer's float 1/std */
        for (int64_t e = 0; e < n * in; e++) {
            int c = l->cfg.norm.n > 1 ? (int)(e % in / ((int64_t)H * W)) : 0;
            out[e] = (a[e] - (double)l->cfg.norm.mean[c]) * (double)l->cfg.norm.inv_std[c];
        }
    } else if (!strcmp(kind, "dropout")) { /* the mask of step 0 (no optimizer step taken) */
        double pr = l->cfg.dropout.p;
        uint64_t stream = (4ull << 56) | ((uint64_t)l->index << 40) | (uint64_t)m->opt.steps;
        uint32_t thr = (uint32_t)(pr * 16777216.0);
        for (int64_t e = 0; e < n * in; e++) {
            uint32_t w[4];
            ct_philox4x32(m->seed, stream, (uint64_t)e >> 2, w);
            out[e] = (w[e & 3] >> 8) >= thr ? a[e] * (double)(1.0f / (1.0f - (float)pr)) : 0.0;
        }
    } else if (!strcmp(kind, "droppath")) { /* dropout's mask of step 0, on the samples */
        double pr = l->cfg.dropout.p;
        uint64_t stream = (4ull << 56) | ((uint64_t)l->index << 40) | (uint64_t)m->opt.steps;
        uint32_t thr = (uint32_t)(pr * 16777216.0);
        for (int s = 0; s < n; s++) {
            uint32_t w[4];
            ct_philox4x32(m->seed, stream, (uint64_t)s >> 2, w);
            const double keep = (w[s & 3] >> 8) >= thr ? (double)(1.0f / (1.0f - (float)pr)) : 0.0;
            for (int64_t e = 0; e < in; e++) out[s * in + e] = a[s * in + e] * keep;
        }
    } else if (!strcmp(kind, "batchnorm")) {
        int64_t inner = (int64_t)H * W, cnt = n * inner;
        for (int c = 0; c < C; c++) {
            double mean = 0, var = 0;
            for (int s = 0; s < n; s++)
                for (int64_t q = 0; q < inner; q++) mean += a[s * in + c * inner + q];
            mean /= cnt;
            for (int s = 0; s < n; s++)
                for (int64_t q = 0; q < inner; q++) {
                    double d = a[s * in + c * inner + q] - mean;
                    var += d * d;
                }
            var /= cnt;
            double is = 1 / sqrt(var + l->cfg.bn.eps);
            for (int s = 0; s < n; s++)
                for (int64_t q = 0; q < inner; q++)
                    out[s * in + c * inner + q] =
                        (a[s * in + c * inner + q] - mean) * is * p[c] + p[C + c];
        }
    } else if (!strcmp(kind, "groupnorm") || !strcmp(kind, "layernorm")) {
        /* each sample's group normalised by its own statistics; layernorm: one group of every
         * value, a weight and bias each */
        const int ln = !strcmp(kind, "layernorm"), G = l->cfg.gn.groups;
        const int64_t per = in / G, inner = ln ? 1 : (int64_t)H * W;
        for (int s = 0; s < n; s++)
            for (int g = 0; g < G; g++) {
                const double *x = a + s * in + g * per;
                double mean = 0, var = 0;
                for (int64_t q = 0; q < per; q++) mean += x[q];
                mean /= per;
                for (int64_t q = 0; q < per; q++) var += (x[q] - mean) * (x[q] - mean);
                var /= per;
                const double is = 1 / sqrt(var + l->cfg.gn.eps);
                for (int64_t q = 0; q < per; q++) {
                    const int64_t ch = (g * per + q) / inner;
                    out[s * in + g * per + q] = (x[q] - mean) * is * p[ch] + p[in / inner + ch];
                }
            }
    } else {
        fail_msg("no reference for layer kind %s", kind);
    }
}

/* Mean cross-entropy of the model's training forward in double from parameters p. */
static double ref_loss(const ct_model *m, const double *p, const float *x, const uint8_t *lab,
                       int n, double *kink) {
    int64_t width = ct_model_input_size(m);
    for (int i = 0; i < m->n_layers; i++)
        if (ct_layer_out_size(&m->layers[i]) > width) width = ct_layer_out_size(&m->layers[i]);
    /* every activation kept: a residual block's shortcut and add read earlier ones */
    double *acts[CT_MAX_LAYERS + 1] = {0};
    for (int i = 0; i <= m->n_layers; i++) acts[i] = hcalloc((size_t)(n * width), 8);
    *kink = INFINITY;
    for (int64_t i = 0; i < n * ct_model_input_size(m); i++) acts[0][i] = x[i];
    for (int i = 0; i < m->n_layers; i++) {
        const ct_layer *l = &m->layers[i];
        if (l->ops->aliases_input) {
            memcpy(acts[i + 1], acts[i], (size_t)(n * width) * 8);
        } else if (l->ops == &ct_residual_ops) {
            for (int64_t e = 0; e < n * ct_layer_out_size(l); e++)
                acts[i + 1][e] = acts[l->cfg.res.main][e] + acts[l->cfg.res.skip][e];
        } else {
            ref_layer(m, l, p + l->offset, acts[l->src], acts[i + 1], n, kink);
        }
    }
    const double *a = acts[m->n_layers];
    int C = m->classes;
    double loss = 0;
    for (int s = 0; s < n; s++) {
        double mx = a[s * C];
        for (int c = 1; c < C; c++) mx = a[s * C + c] > mx ? a[s * C + c] : mx;
        double sum = 0;
        for (int c = 0; c < C; c++) sum += exp(a[s * C + c] - mx);
        loss += log(sum) + mx - a[s * C + lab[s]];
    }
    for (int i = 0; i <= m->n_layers; i++) free(acts[i]);
    return loss / n;
}

void nn_grad_check(ct_backend *cpu, const grad_case *gc) {
    ct_model *m = NULL;
    OK(ct_model_create(cpu, gc->spec, gc->c, gc->h, gc->w, gc->n + 2, 4321, &m));
    int64_t P = ct_model_param_count(m), in = ct_model_input_size(m);
    int n = gc->n, classes = ct_model_num_classes(m);
    float *p0 = hcalloc(P, 4), *pf = hcalloc(P, 4), *ga = hcalloc(P, 4);
    double *pd = hcalloc(P, 8), *gd = hcalloc(P, 8), kink;
    float *x = hcalloc((size_t)(n * in), 4);
    uint8_t *lab = hcalloc(n, 1);
    OK(ct_model_get_params(m, p0));
    for (int64_t j = 0; j < P; j++) pd[j] = p0[j];
    ct_rng rng;
    ct_rng_init(&rng, 77, 0);
    int tries = 0;
    do {
        for (int64_t i = 0; i < n * in; i++) x[i] = 2.0f * ct_rng_uniform(&rng) - 1.0f;
        for (int i = 0; i < n; i++) lab[i] = (uint8_t)ct_rng_below(&rng, (uint32_t)classes);
        ref_loss(m, pd, x, lab, n, &kink);
    } while (kink < KINK_MARGIN && ++tries < 2000);
    if (kink < KINK_MARGIN) fail_msg("%s: no input without a kink found", gc->spec);

    double loss_ref = ref_loss(m, pd, x, lab, n, &kink);
    double loss_lib = tu_model_pass(m, x, lab, n, 1, ga, NULL);
    if (fabs(loss_lib - loss_ref) > 1e-5 * (1 + loss_ref))
        fail_msg("%s: training loss %.9g, double reference %.9g", gc->spec, loss_lib, loss_ref);
    double gmax = 0.0;
    for (int64_t j = 0; j < P; j++) {
        double k2, save = pd[j];
        pd[j] = save + EPS_D;
        double lp = ref_loss(m, pd, x, lab, n, &k2);
        pd[j] = save - EPS_D;
        double lm = ref_loss(m, pd, x, lab, n, &k2);
        pd[j] = save;
        gd[j] = (lp - lm) / (2 * EPS_D);
        if (fabs(gd[j]) > gmax) gmax = fabs(gd[j]);
    }
    assert_true(gmax > 1e-3);
    for (int64_t j = 0; j < P; j++)
        if (!(fabs(ga[j] - gd[j]) <= 1e-3 * fabs(gd[j]) + 1e-5 * (1 + gmax)))
            fail_msg("%s: grad[%lld] = %.9g, finite differences (double) %.9g", gc->spec,
                     (long long)j, ga[j], gd[j]);
    /* every layer with parameters gets a gradient */
    for (int li = 0; li < m->n_layers; li++) {
        const ct_layer *l = &m->layers[li];
        double lmax = 0.0;
        for (int64_t j = l->offset; j < l->offset + l->n_params; j++)
            lmax = fabs(ga[j]) > lmax ? fabs(ga[j]) : lmax;
        if (l->n_params && lmax < 1e-6)
            fail_msg("%s: layer %s has an all-zero gradient", gc->spec, l->name);
    }
    /* end to end through the float model, as a whole (relative error of the vector) */
    double num2 = 0.0, den2 = 0.0;
    memcpy(pf, p0, P * 4);
    for (int64_t j = 0; j < P; j++) {
        float hi = p0[j] + EPS_F, lo = p0[j] - EPS_F;
        pf[j] = hi;
        OK(ct_model_set_params(m, pf));
        double lp = tu_model_pass(m, x, lab, n, 1, NULL, NULL);
        pf[j] = lo;
        OK(ct_model_set_params(m, pf));
        double lm = tu_model_pass(m, x, lab, n, 1, NULL, NULL);
        pf[j] = p0[j];
        double gf = (lp - lm) / ((double)hi - (double)lo);
        num2 += (gf - ga[j]) * (gf - ga[j]);
        den2 += (double)ga[j] * ga[j];
    }
    OK(ct_model_set_params(m, p0));
    if (sqrt(num2) > 2e-2 * sqrt(den2))
        fail_msg("%s: relative gradient error against float differences %.3g", gc->spec,
                 sqrt(num2 / den2));
    ct_model_free(m);
    free(p0); free(pf); free(ga); free(pd); free(gd); free(x); free(lab);
}
