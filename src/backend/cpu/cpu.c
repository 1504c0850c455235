/*
 * cpu.c — the CPU backend: the reference implementation of every op in backend.h.
 *
 * Every op runs on the calling thread: the model gives each CPU thread its own shard of the
 * batch (nn/model.h), so threads split work once per step rather than once per op. Matrix
 * products use the register-blocked kernels of kernels.c for the small training shapes and
 * single-threaded OpenBLAS otherwise; loops that matter are in kernels.c too, compiled per
 * instruction set. "Device" memory is host memory: copies are memcpy and the stream functions
 * only check their arguments.
 */
#include "backend/backend.h"
#include "backend/cpu/cpu_nn.h"
#include "backend/cpu/kernels.h"
#include "core/core.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* OpenBLAS extensions (declared in its cblas.h; repeated so other BLAS headers also build). */
extern void openblas_set_num_threads(int num_threads);
extern char *openblas_get_config(void);

#define CT_CPU_ALIGN_BYTES 64
/* gather_u8 prefetches the row this many rows ahead */
#define CT_GATHER_AHEAD 4

typedef struct {
    ct_backend base; /* must be first */
} ct_cpu;

/* ------------------------------------------------------------------------------------------ */
/* memory                                                                                      */

static ct_status cpu_alloc(ct_backend *b, size_t bytes, void **out) {
    size_t rounded = (bytes + CT_CPU_ALIGN_BYTES - 1) / CT_CPU_ALIGN_BYTES * CT_CPU_ALIGN_BYTES;
    void *p = aligned_alloc(CT_CPU_ALIGN_BYTES, rounded ? rounded : CT_CPU_ALIGN_BYTES);
    if (!p) return ct_fail(CT_ERR_NOMEM, "out of memory: asked for %zu bytes", bytes);
    *out = p;
    return CT_OK;
}

static void cpu_free(ct_backend *b, void *p) { free(p); }

static ct_status cpu_memset0(ct_backend *b, void *p, size_t bytes) {
    memset(p, 0, bytes);
    return CT_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* stream                                                                                      */

static ct_status cpu_copy(ct_backend *b, void *dst, const void *src, size_t bytes) {
    if (dst != src) memcpy(dst, src, bytes);
    return CT_OK;
}

static ct_status check_slot(int slot) {
    if (slot < 0 || slot >= CT_MAX_COPY_SLOTS)
        return ct_fail(CT_ERR_INVALID, "copy slot %d out of range 0..%d", slot,
                       CT_MAX_COPY_SLOTS - 1);
    return CT_OK;
}

static ct_status cpu_h2d_async(ct_backend *b, void *dst, const void *src, size_t bytes,
                               int slot) {
    CT_TRY(check_slot(slot));
    return cpu_copy(b, dst, src, bytes);
}

/* compute_mark, wait_copy, copy_done: copies are synchronous, nothing to wait for */
static ct_status cpu_nop_slot(ct_backend *b, int slot) { return check_slot(slot); }
static ct_status cpu_sync(ct_backend *b) { return CT_OK; }

/* ------------------------------------------------------------------------------------------ */
/* ops                                                                                         */

/* Where the register-blocked kernels beat single-threaded OpenBLAS (bench/gemm.c measures the
 * training shapes; with AVX-512 only, ct_small_gemm declines elsewhere): rank-1 kernels (TN,
 * NN) need at least 16 output columns; the dot-product kernel (NT) needs a long K to amortise
 * its final sums, the longer the more outputs (it loses at 1024 x 256 x 128 and 256 x 64 x 294,
 * wins at 64 x 10 x 256 and from K = 384 on). Very large products go to OpenBLAS, whose cache
 * blocking wins there. */
static int use_small_gemm(int ta, int tb, int M, int N, int K) {
    if ((double)M * N * K > (double)(1 << 28)) return 0;
    if (!ta && tb) return K >= 384 || (K >= 128 && (double)M * N <= 4096);
    if (!tb) return N >= 16;
    return 0;
}

static ct_status cpu_gemm(ct_backend *b, int ta, int tb, int M, int N, int K, float alpha,
                          const float *A, int lda, const float *B, int ldb, float beta, float *C,
                          int ldc) {
    if (M <= 0 || N <= 0) return CT_OK;
    if (K <= 0) { /* C = beta*C */
        for (int i = 0; i < M; i++) /* beta == 0: C is not read (BLAS semantics) */
            for (int j = 0; j < N; j++)
                C[(size_t)i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[(size_t)i * ldc + j];
        return CT_OK;
    }
    if (use_small_gemm(ta, tb, M, N, K) &&
        ct_small_gemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc))
        return CT_OK;
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M,
                N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return CT_OK;
}

static ct_status cpu_normalize(ct_backend *b, const float *x, float *y, int64_t outer,
                               int channels, int64_t inner, const float *host_mean,
                               const float *host_inv_std) {
    if (outer < 0 || inner < 0 || channels < 1 || channels > CT_MAX_NORM_CHANNELS)
        return ct_fail(CT_ERR_INVALID, "normalize: bad shape (%lld, %d, %lld)", (long long)outer,
                       channels, (long long)inner);
    for (int64_t o = 0; o < outer; o++)
        for (int c = 0; c < channels; c++) {
            const float m = host_mean ? host_mean[c] : 0.0f, s = host_inv_std[c];
            const float *in = x + (o * channels + c) * inner;
            float *out = y + (o * channels + c) * inner;
            for (int64_t i = 0; i < inner; i++) out[i] = (in[i] - m) * s;
        }
    return CT_OK;
}

static ct_status cpu_bias_add(ct_backend *b, float *y, const float *bias, int64_t outer,
                              int64_t channels, int64_t inner) {
    if (inner == 1) {
        ct_bias_rows(y, bias, outer, channels);
        return CT_OK;
    }
    for (int64_t o = 0; o < outer; o++)
        for (int64_t c = 0; c < channels; c++) {
            float *row = y + (o * channels + c) * inner; // (inner)
            float v = bias[c];
            for (int64_t i = 0; i < inner; i++) row[i] += v;
        }
    return CT_OK;
}

static ct_status cpu_bias_grad(ct_backend *b, float *dbias, const float *dy, int64_t outer,
                               int64_t channels, int64_t inner) {
    if (inner == 1) { /* (outer, channels): sum the rows, vectorised along channels */
        ct_colsum(dbias, dy, outer, channels);
        return CT_OK;
    }
    for (int64_t c = 0; c < channels; c++) { /* (outer, channels, inner): vectorised along inner */
        float s = 0.0f;
        for (int64_t o = 0; o < outer; o++) s += ct_sum_f32(dy + (o * channels + c) * inner, inner);
        dbias[c] = s;
    }
    return CT_OK;
}

static ct_status cpu_act_forward(ct_backend *b, ct_act kind, float param, const float *x,
                                 float *y, int64_t n) {
    switch (kind) {
    case CT_ACT_RELU:
        ct_relu_forward(x, y, n);
        break;
    case CT_ACT_LEAKY_RELU:
        for (int64_t i = 0; i < n; i++) y[i] = x[i] > 0.0f ? x[i] : param * x[i];
        break;
    case CT_ACT_SIGMOID:
        ct_sigmoid_forward(x, y, n);
        break;
    case CT_ACT_TANH:
        for (int64_t i = 0; i < n; i++) y[i] = tanhf(x[i]);
        break;
    case CT_ACT_GELU:
        ct_gelu_forward(x, y, n);
        break;
    case CT_ACT_RELU6:
        for (int64_t i = 0; i < n; i++) y[i] = x[i] < 0.0f ? 0.0f : x[i] > 6.0f ? 6.0f : x[i];
        break;
    case CT_ACT_SILU:
        ct_silu_forward(x, y, n);
        break;
    case CT_ACT_HARDSWISH:
    case CT_ACT_HARDSIGMOID:
        for (int64_t i = 0; i < n; i++) {
            const float v = x[i], t = v + 3.0f, r = t < 0.0f ? 0.0f : t > 6.0f ? 6.0f : t;
            y[i] = kind == CT_ACT_HARDSWISH ? v * r / 6.0f : r / 6.0f;
        }
        break;
    default: return ct_fail(CT_ERR_INVALID, "unknown activation %d", (int)kind);
    }
    return CT_OK;
}

static ct_status cpu_act_backward(ct_backend *b, ct_act kind, float param, const float *x,
                                  const float *y, const float *dy, float *dx, int64_t n) {
    switch (kind) {
    case CT_ACT_RELU:
        ct_relu_backward(x, dy, dx, n);
        break;
    case CT_ACT_LEAKY_RELU:
        for (int64_t i = 0; i < n; i++) dx[i] = x[i] > 0.0f ? dy[i] : param * dy[i];
        break;
    case CT_ACT_SIGMOID:
        for (int64_t i = 0; i < n; i++) dx[i] = dy[i] * y[i] * (1.0f - y[i]);
        break;
    case CT_ACT_TANH:
        for (int64_t i = 0; i < n; i++) dx[i] = dy[i] * (1.0f - y[i] * y[i]);
        break;
    case CT_ACT_GELU:
        ct_gelu_backward(x, dy, dx, n);
        break;
    case CT_ACT_RELU6: /* (no short circuit, no conditional load: the loop vectorises) */
        for (int64_t i = 0; i < n; i++) {
            const float g = dy[i];
            dx[i] = ((x[i] <= 0.0f) | (x[i] >= 6.0f)) ? 0.0f : g;
        }
        break;
    case CT_ACT_SILU:
        ct_silu_backward(x, dy, dx, n);
        break;
    case CT_ACT_HARDSWISH:
        for (int64_t i = 0; i < n; i++) {
            const float g = dy[i], v = x[i];
            dx[i] = v < -3.0f ? 0.0f : v <= 3.0f ? g * (v / 3.0f + 0.5f) : g;
        }
        break;
    case CT_ACT_HARDSIGMOID:
        for (int64_t i = 0; i < n; i++) {
            const float g = dy[i];
            dx[i] = ((x[i] > -3.0f) & (x[i] < 3.0f)) ? g * (1.0f / 6.0f) : 0.0f;
        }
        break;
    default: return ct_fail(CT_ERR_INVALID, "unknown activation %d", (int)kind);
    }
    return CT_OK;
}

static ct_status cpu_xent(ct_backend *b, const float *logits, const uint8_t *labels, int64_t n,
                          int classes, float grad_scale, float smoothing,
                          const float *class_weights, const uint8_t *mix_labels,
                          const ct_step_vars *mix_sv, float *dlogits, double *stats) {
    double loss_sum = 0.0, correct = 0.0;
    const float off = smoothing / (float)classes, on = 1.0f - smoothing; /* the target's parts */
    const int mix = mix_sv && mix_labels && mix_sv->mix_kind;
    const float lam = mix ? mix_sv->mix_lam : 1.0f, on1 = on * lam, on2 = on * (1.0f - lam);
    for (int64_t r = 0; r < n; r++) {
        const float *z = logits + r * classes; // (classes)
        int y = labels[r];
        if (y >= classes) return ct_fail(CT_ERR_INVALID, "label %d >= %d classes", y, classes);
        float zmax = z[0];
        int arg = 0;
        for (int c = 1; c < classes; c++)
            if (z[c] > zmax) { zmax = z[c]; arg = c; }
        float sum = 0.0f;
        for (int c = 0; c < classes; c++) sum += expf(z[c] - zmax);
        float logsum = logf(sum);
        /* the target: on * (lam onehot(y) + (1 - lam) onehot(y2)) + off, y2 the MixUp / CutMix
         * partner's label (unmixed: lam 1); the row's loss and gradient times y's class weight */
        const int y2 = mix ? mix_labels[r] : y;
        if (y2 >= classes) return ct_fail(CT_ERR_INVALID, "label %d >= %d classes", y2, classes);
        const float wy = class_weights ? class_weights[y] : 1.0f; /* (x 1: exact) */
        float zsum = 0.0f; /* lse - on1 z'[y] - on2 z'[y2] - s/C sum z'[c], z' = z - zmax */
        for (int c = 0; c < classes && smoothing > 0.0f; c++) zsum += z[c] - zmax;
        float loss = logsum - on1 * (z[y] - zmax) - off * zsum;
        if (mix) loss -= on2 * (z[y2] - zmax);
        loss_sum += (double)(wy * loss);
        correct += arg == (lam > 0.5f ? y : lam < 0.5f ? y2 : y < y2 ? y : y2); /* the larger share */
        if (dlogits) {
            float *g = dlogits + r * classes;
            float inv = 1.0f / sum, gs = grad_scale * wy;
            /* (gs * p first: unmixed and unsmoothed, the same rounding as before these came) */
            for (int c = 0; c < classes; c++) g[c] = gs * expf(z[c] - zmax) * inv - gs * off;
            g[y] -= gs * on1;
            if (mix) g[y2] -= gs * on2;
        }
    }
    stats[0] += loss_sum;
    stats[1] += correct;
    return CT_OK;
}

#define CT_RESIZED_ROW_MAX 512 /* sides up to this have their taps computed once an image */

/* The resized crop of d (augment.h) of one image: ct_augment_pixel's sums, with each row's and
 * column's taps computed once, not once a pixel (the same values: the same function) */
static void resized_row(const ct_augment *a, const ct_augment_draw *d, const uint8_t *src,
                        float *dst, float scale) {
    const int h = a->h, w = a->w;
    double wy[CT_RESIZED_ROW_MAX][3], wx[CT_RESIZED_ROW_MAX][3];
    int y0[CT_RESIZED_ROW_MAX], x0[CT_RESIZED_ROW_MAX], ny[CT_RESIZED_ROW_MAX],
        nx[CT_RESIZED_ROW_MAX];
    for (int y = 0; y < h; y++) ny[y] = ct_augment_taps(y, h, d->box_h, wy[y], &y0[y]);
    for (int x = 0; x < w; x++) /* (x: the column shown at the output's, after the flip) */
        nx[x] = ct_augment_taps(x, w, d->box_w, wx[x], &x0[x]);
    for (int ch = 0; ch < a->c; ch++) {
        const uint8_t *p = src + ((int64_t)ch * h + d->box_y) * w + d->box_x;
        for (int oy = 0; oy < h; oy++) {
            float *out = dst + ((int64_t)ch * h + oy) * w;
            const int y = d->vflip ? h - 1 - oy : oy; /* the row shown at oy */
            for (int x = 0; x < w; x++) {
                const int cx = d->flip ? w - 1 - x : x;
                double v = 0.0;
                for (int i = 0; i < ny[y]; i++) {
                    const uint8_t *q = p + (int64_t)(y0[y] + i) * w + x0[cx];
                    double row = 0.0;
                    for (int j = 0; j < nx[cx]; j++)
                        row = CT_DADD(row, CT_DMUL(wx[cx][j], (double)q[j]));
                    v = CT_DADD(v, CT_DMUL(wy[y][i], row));
                }
                out[x] = scale * (float)v;
            }
        }
    }
}

/* augment_row's image but for resized_row's: warped (or resized, sides above
 * CT_RESIZED_ROW_MAX) pixel by pixel, else shifted by the crop and flipped row by row */
static void shifted_row(const ct_augment *a, const ct_augment_draw *dp, const uint8_t *src,
                        float *dst, float scale) {
    ct_augment_draw d = *dp;
    d.erased = 0; /* (augment_row erases after the jitter, whose contrast mean must not see it) */
    const int h = a->h, w = a->w;
    if (d.affine || d.resized) { /* every pixel its own sample */
        for (int ch = 0; ch < a->c; ch++)
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++)
                    dst[((int64_t)ch * h + y) * w + x] =
                        scale * (float)ct_augment_pixel(a, &d, src, ch, y, x);
        return;
    }
    const int dy = d.ty - a->pad, dx = d.tx - a->pad, fl = d.flip;
    /* output columns x whose source column x + dx (before the flip) lies inside the image */
    const int x0 = dx < 0 ? -dx : 0, x1 = dx > 0 ? w - dx : w;
    for (int ch = 0; ch < a->c; ch++)
        for (int y = 0; y < h; y++) {
            float *out = dst + ((int64_t)ch * h + y) * w;
            int sy = (d.vflip ? h - 1 - y : y) + dy; /* (the crop's row shown at y) */
            if (sy < 0 || sy >= h || x0 >= x1) {
                memset(out, 0, (size_t)w * sizeof *out);
                continue;
            }
            const uint8_t *in = src + ((int64_t)ch * h + sy) * w;
            for (int x = 0; x < x0; x++) out[fl ? w - 1 - x : x] = 0.0f;
            for (int x = x1; x < w; x++) out[fl ? w - 1 - x : x] = 0.0f;
            if (!fl) ct_convert_u8(in + x0 + dx, out + x0, x1 - x0, scale);
            else
                for (int x = x0; x < x1; x++) out[w - 1 - x] = scale * (float)in[x + dx];
        }
}

/* ColorJitter (augment.h) on an image's gathered pixels dst, in place (before the erasing) */
static void jitter_row(const ct_augment *a, ct_augment_draw *d, float *dst, float scale) {
    const int c = a->c;
    const int64_t hw = (int64_t)a->h * a->w;
    const double bound = 255.0 * (double)scale;
    double px[CT_JITTER_MAX_C];
    if (a->jitter[1] > 0.0f) { /* the contrast's mean: chunks of pixels summed in order */
        double total = 0.0;
        for (int k = 0; k < CT_JITTER_CHUNKS; k++) {
            double part = 0.0;
            for (int64_t j = hw * k / CT_JITTER_CHUNKS; j < hw * (k + 1) / CT_JITTER_CHUNKS; j++) {
                for (int ch = 0; ch < c; ch++) px[ch] = (double)dst[ch * hw + j];
                ct_augment_jitter_apply(a, d, px, c, bound, 1);
                part = CT_DADD(part, ct_augment_mean_term(px, c));
            }
            total = CT_DADD(total, part);
        }
        d->jmean = total / (double)(c == 3 ? hw : hw * c);
    }
    for (int64_t j = 0; j < hw; j++) {
        for (int ch = 0; ch < c; ch++) px[ch] = (double)dst[ch * hw + j];
        ct_augment_jitter_apply(a, d, px, c, bound, 0);
        for (int ch = 0; ch < c; ch++) dst[ch * hw + j] = (float)px[ch];
    }
}

/* The bytes of aa_row's scratch: the image as floats, and three times as bytes */
static size_t aa_ws_bytes(const ct_augment *a) {
    return (size_t)a->c * a->h * a->w * (sizeof(float) + 3);
}

/* The automatic augmentation (autoaugment.h) of an image under d, and the erasing: the image
 * before the ops by the row functions above (unscaled: each value the float the GPU rounds
 * too) into ws's floats, its bytes into ws's first byte image, each chain's ops from one byte
 * image to another (ct_aa_in, ct_aa_out; after the histograms an op needs), AugMix's chains
 * mixed into the floats as each ends, then the last bytes as floats times scale. ws:
 * aa_ws_bytes(a). */
static void aa_row(const ct_augment *a, const ct_augment_draw *d, const uint8_t *src,
                   float *dst, float scale, void *ws) {
    const int h = a->h, w = a->w, c = a->c;
    const int64_t hw = (int64_t)h * w, row = c * hw;
    float *pre_f = ws; /* (then AugMix's sums) */
    uint8_t *img[3] = {(uint8_t *)(pre_f + row), (uint8_t *)(pre_f + row) + row,
                       (uint8_t *)(pre_f + row) + 2 * row};
    if (d->resized && h <= CT_RESIZED_ROW_MAX && w <= CT_RESIZED_ROW_MAX)
        resized_row(a, d, src, pre_f, 1.0f);
    else
        shifted_row(a, d, src, pre_f, 1.0f); /* (without the erasing) */
    for (int64_t j = 0; j < row; j++) img[0][j] = (uint8_t)ct_ta_round(pre_f[j]);
    const int augmix = a->aa == CT_AA_AUGMIX;
    int last = 0;
    for (int ch = 0, k = 0; ch < d->aa_chains; ch++) {
        for (int j = 0; j < d->aa_depth[ch] && k < d->aa_n; j++, k++) {
            const ct_aa_op *o = &d->aa[k];
            const uint8_t *in = img[ct_aa_in(augmix, j)];
            ct_ta_stats st = {0};
            if (ct_ta_needs_hist(o->op)) {
                unsigned hist[CT_TA_MAX_C + 1][256] = {{0}};
                for (int64_t e = 0; e < hw; e++) ct_ta_count(in, c, hw, e, hist);
                ct_ta_stats_of(a, o->op, (const unsigned (*)[256])hist, &st);
            }
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++)
                    ct_aa_op_pixel(a, o, &st, in, y, x, img[ct_aa_out(augmix, j)]);
        }
        last = ct_aa_last(augmix, d->aa_depth[ch]);
        if (augmix)
            for (int64_t e = 0; e < row; e++)
                pre_f[e] = ct_augmix_add(d, ch, ch ? pre_f[e] : ct_augmix_start(d, img[0][e]),
                                         img[last][e]);
    }
    if (augmix) {
        for (int64_t e = 0; e < row; e++) img[1][e] = (uint8_t)ct_augmix_byte(pre_f[e]);
        last = 1;
    }
    for (int ch = 0; ch < c; ch++)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                const int64_t j = ch * hw + (int64_t)y * w + x;
                dst[j] = scale * (float)(ct_augment_in_erased(d, y, x)
                                             ? ct_augment_erase_fill(a, ch)
                                             : (double)img[last][j]);
            }
}

/* One image (c, h, w) of src into dst, warped (or resized), cropped, flipped, jittered (or
 * given the automatic augmentation's ops) and erased as augment.h describes. ws: the automatic
 * augmentation's aa_ws_bytes(a) bytes (else unused). */
static void augment_row(const ct_augment *a, const uint8_t *src, float *dst, float scale,
                        uint64_t pos, void *ws) {
    if (!a->pad && !a->flip && !a->vflip && !ct_augment_is_affine(a) && a->area_max == 0.0f &&
        a->erase_p == 0.0f && !ct_augment_colours(a) && !a->aa) {
        ct_convert_u8(src, dst, (int64_t)a->c * a->h * a->w, scale); /* (mixing alone) */
        return;
    }
    ct_augment_draw d;
    ct_augment_draw_at(a, pos, &d);
    if (a->aa) { /* (no colour jitter with it: ct_gather_u8_check) */
        aa_row(a, &d, src, dst, scale, ws);
        return;
    }
    const int h = a->h, w = a->w;
    if (d.resized && h <= CT_RESIZED_ROW_MAX && w <= CT_RESIZED_ROW_MAX)
        resized_row(a, &d, src, dst, scale);
    else
        shifted_row(a, &d, src, dst, scale);
    if (d.jitter) jitter_row(a, &d, dst, scale);
    if (d.grey && a->c == 3) { /* RandomGrayscale (augment.h), pixel by pixel */
        const int64_t hw = (int64_t)h * w;
        for (int64_t j = 0; j < hw; j++) {
            float px[3] = {dst[j], dst[hw + j], dst[2 * hw + j]};
            ct_augment_grey_px(&d, px, 3);
            dst[j] = px[0], dst[hw + j] = px[1], dst[2 * hw + j] = px[2];
        }
    }
    if (d.erased) /* (the erased box: over what the warp, crop or resize wrote) */
        for (int ch = 0; ch < a->c; ch++)
            for (int y = d.erase_y; y < d.erase_y + d.erase_h; y++)
                for (int x = d.erase_x; x < d.erase_x + d.erase_w; x++)
                    dst[((int64_t)ch * h + y) * w + x] =
                        scale * (float)ct_augment_erase_fill(a, ch);
}


/* gather_u8's mixing (aug->mix, sv's MixUp or CutMix): each gathered row of dst with its
 * partner's, gathered (and augmented at its place) here; the partners' labels */
static ct_status mix_rows(const ct_augment *aug, const ct_step_vars *sv, const uint8_t *src,
                          const uint8_t *labels_src, const int32_t *idx, int64_t n, int64_t row,
                          float scale, float *dst, uint8_t *mix_labels_dst, void *ws) {
    float *tmp = ct_malloc((size_t)row * sizeof(float), "mixing row");
    if (!tmp) return CT_ERR_NOMEM;
    const float lam = sv->mix_lam, rest = 1.0f - lam;
    const int h = aug->h, w = aug->w;
    for (int64_t i = 0; i < n; i++) {
        int64_t q = ct_mix_partner(aug, i), s = idx ? idx[q] : q;
        augment_row(aug, src + s * row, tmp, scale, (uint64_t)q, ws);
        float *out = dst + i * row;
        if (mix_labels_dst && labels_src) mix_labels_dst[i] = labels_src[s];
        if (sv->mix_kind == CT_MIX_MIXUP) {
            for (int64_t j = 0; j < row; j++) /* (never fused: as the GPU's) */
                out[j] = CT_FADD(CT_FMUL(lam, out[j]), CT_FMUL(rest, tmp[j]));
            continue;
        }
        for (int ch = 0; ch < aug->c; ch++) /* CutMix: the box is the partner's */
            for (int y = sv->mix_y1; y < sv->mix_y2; y++)
                for (int x = sv->mix_x1; x < sv->mix_x2; x++) {
                    int64_t k = ((int64_t)ch * h + y) * w + x;
                    out[k] = tmp[k];
                }
    }
    free(tmp);
    return CT_OK;
}

static ct_status cpu_gather_u8(ct_backend *b, const uint8_t *src, const uint8_t *labels_src,
                               const int32_t *idx, int64_t n, int64_t row, float scale,
                               const ct_augment *aug, const ct_step_vars *sv, float *dst,
                               uint8_t *labels_dst, uint8_t *mix_labels_dst) {
    CT_TRY(ct_gather_u8_check(aug, row, sv));
    const int mix = aug && aug->mix ? sv->mix_kind : 0;
    ct_augment moved;
    if (sv) { /* the step's rows: sv is host memory here */
        if (idx) idx += sv->pos;
        if (aug) {
            moved = *aug;
            moved.first += (uint64_t)sv->pos;
            aug = &moved;
        }
    }
    void *ws = NULL; /* the automatic augmentation's scratch (aa_row) */
    if (aug && aug->aa && n > 0 && !(ws = ct_malloc(aa_ws_bytes(aug), "augmentation scratch")))
        return CT_ERR_NOMEM;
    for (int64_t i = 0; i < n; i++) {
        int64_t s = idx ? idx[i] : i;
        if (idx && i + CT_GATHER_AHEAD < n) /* rows lie scattered over the dataset */
            for (int64_t off = 0; off < row; off += 64)
                __builtin_prefetch(src + (int64_t)idx[i + CT_GATHER_AHEAD] * row + off);
        if (aug) augment_row(aug, src + s * row, dst + i * row, scale, (uint64_t)i, ws);
        else ct_convert_u8(src + s * row, dst + i * row, row, scale); // (row) -> (row)
    }
    if (labels_dst)
        for (int64_t i = 0; i < n; i++) labels_dst[i] = labels_src[idx ? idx[i] : i];
    ct_status s = mix ? mix_rows(aug, sv, src, labels_src, idx, n, row, scale, dst,
                                 mix_labels_dst, ws)
                      : CT_OK;
    free(ws);
    return s;
}

static ct_status cpu_add_into(ct_backend *b, float *dst, const float *src, int64_t n) {
    for (int64_t i = 0; i < n; i++) dst[i] += src[i];
    return CT_OK;
}

static ct_status cpu_fill(ct_backend *b, float *dst, float value, int64_t n) {
    for (int64_t i = 0; i < n; i++) dst[i] = value;
    return CT_OK;
}

static ct_status cpu_scale_rows(ct_backend *b, const float *x, const float *s, const float *add,
                                float *y, int64_t rows, int64_t cols) {
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * cols;
        float *yr = y + r * cols;
        const float g = s[r], a = add ? add[r] : 0.0f;
        for (int64_t j = 0; j < cols; j++) yr[j] = xr[j] * g + a;
    }
    return CT_OK;
}

/* (eight partial sums a row: the loop vectorises without reassociating float additions) */
static ct_status cpu_dot_rows(ct_backend *b, const float *x, const float *y, float *out,
                              int64_t rows, int64_t cols, float alpha) {
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * cols, *yr = y ? y + r * cols : NULL;
        float acc[8] = {0};
        int64_t j = 0;
        for (; j + 8 <= cols; j += 8)
            for (int k = 0; k < 8; k++) acc[k] += xr[j + k] * (yr ? yr[j + k] : 1.0f);
        for (; j < cols; j++) acc[j % 8] += xr[j] * (yr ? yr[j] : 1.0f);
        out[r] = alpha * (((acc[0] + acc[4]) + (acc[2] + acc[6])) +
                          ((acc[1] + acc[5]) + (acc[3] + acc[7])));
    }
    return CT_OK;
}

static ct_status cpu_sgd_step(ct_backend *b, float *w, const float *g, float *m, int64_t n,
                              float lr, float momentum, float wd, int nesterov, int first,
                              const ct_step_vars *sv) {
    if (momentum != 0.0f && !m) /* (as the CUDA backend) */
        return ct_fail(CT_ERR_INVALID, "sgd_step: momentum %g needs a momentum buffer",
                       (double)momentum);
    if (sv) {
        lr = sv->lr;
        first = sv->first;
        if (m) momentum = sv->momentum; /* (m: the buffer a momentum > 0 needs) */
    }
    if (momentum == 0.0f || !m) {
        for (int64_t i = 0; i < n; i++) w[i] -= lr * (g[i] + wd * w[i]);
        return CT_OK;
    }
    for (int64_t i = 0; i < n; i++) {
        float d = g[i] + wd * w[i];
        float v = first ? d : momentum * m[i] + d;
        m[i] = v;
        w[i] -= lr * (nesterov ? d + momentum * v : v);
    }
    return CT_OK;
}

static ct_status cpu_ema_update(ct_backend *b, float *avg, const float *x, int64_t n,
                                float decay, const ct_step_vars *sv) {
    (void)b;
    if (sv) decay = sv->ema_decay;
    float keep = 1.0f - decay;
    for (int64_t i = 0; i < n; i++) avg[i] = decay * avg[i] + keep * x[i];
    return CT_OK;
}

static ct_status cpu_step_load(ct_backend *b, ct_step_vars *cur, const ct_step_vars *table,
                               int64_t *cursor) {
    *cur = table[*cursor];
    *cursor += 1;
    return CT_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* creation                                                                                    */

static void cpu_destroy(ct_backend *b) { free(b); }

ct_status ct_cpu_backend_create(int threads, ct_backend **out) {
    *out = NULL;
    if (threads < 0 || threads > CT_MAX_THREADS)
        return ct_fail(CT_ERR_INVALID, "threads must be in 0..%d, got %d", CT_MAX_THREADS,
                       threads);
    if (threads == 0) threads = ct_cpu_cores();
    ct_cpu *c = ct_calloc(1, sizeof *c, "CPU backend");
    if (!c) return CT_ERR_NOMEM;
    ct_backend *b = &c->base;
    b->name = "cpu";
    b->host_is_device = 1;
    b->threads = threads;
    /* The model runs one shard per thread (model.h), each calling single-threaded ops. */
    openblas_set_num_threads(1);
    const char *cfg = openblas_get_config();
    char blas[64];
    snprintf(blas, sizeof blas, "%s", cfg ? cfg : "BLAS");
    if (strchr(blas, ' ')) *strchr(blas, ' ') = 0; /* "OpenBLAS 0.3.21 NO_LAPACKE ..." */
    if (cfg && strchr(cfg, ' ')) {
        const char *ver = strchr(cfg, ' ') + 1;
        size_t len = strcspn(ver, " ");
        snprintf(blas + strlen(blas), sizeof blas - strlen(blas), " %.*s", (int)len, ver);
    }
    snprintf(b->description, sizeof b->description, "CPU: %d thread%s, %s kernels, %s", threads,
             threads == 1 ? "" : "s", ct_small_gemm_isa(), blas);
    b->destroy = cpu_destroy;
    b->alloc = cpu_alloc;
    b->free = cpu_free;
    b->host_alloc = cpu_alloc;
    b->host_free = cpu_free;
    b->memset0 = cpu_memset0;
    b->h2d = cpu_copy;
    b->d2h = cpu_copy;
    b->d2d = cpu_copy;
    b->h2d_async = cpu_h2d_async;
    b->compute_mark = cpu_nop_slot;
    b->wait_copy = cpu_nop_slot;
    b->copy_done = cpu_nop_slot;
    b->sync = cpu_sync;
    b->gemm = cpu_gemm;
    b->bias_add = cpu_bias_add;
    b->normalize = cpu_normalize;
    b->bias_grad = cpu_bias_grad;
    b->act_forward = cpu_act_forward;
    b->act_backward = cpu_act_backward;
    b->xent = cpu_xent;
    b->gather_u8 = cpu_gather_u8;
    b->add_into = cpu_add_into;
    b->fill = cpu_fill;
    b->scale_rows = cpu_scale_rows;
    b->dot_rows = cpu_dot_rows;
    b->sgd_step = cpu_sgd_step;
    b->ema_update = cpu_ema_update;
    b->step_load = cpu_step_load;
    ct_cpu_fill_nn_ops(b); /* cpu_nn.c: conv, pooling, dropout, batch norm, Adam, norms */
    *out = b;
    return CT_OK;
}
