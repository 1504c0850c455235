/*
 * cpu_nn.c — the CPU reference of the CNN ops of backend.h: conv2d (im2col + the backend's
 * gemm, one image at a time, or several at once on small planes, a GEMM per group of a grouped
 * conv; 3x3 stride-1 layers with enough channels by Winograd F(4x4, 3x3), cpu_winograd.c;
 * depthwise layers directly, cpu_depthwise.c), max/average pooling, dropout from
 * the counter-based Philox generator, the Adam/AdamW update and the
 * gradient-norm pair (sumsq, clip_scale).
 *
 * Every op here is single-threaded: on the CPU the model runs one shard per thread (model.h),
 * and each shard calls the ops on its own rows. The loops are plain so that the compiler can
 * vectorise them. Reductions (batch norm statistics, sums of squares) accumulate in double.
 */
#include "backend/cpu/cpu_nn.h"
#include "backend/cpu/cpu_depthwise.h"
#include "backend/cpu/cpu_winograd.h"
#include "backend/cpu/kernels.h"
#include "core/core.h"

#include <math.h>
#include <string.h>

/* ------------------------------------------------------------------------------------------ */
/* conv2d: im2col + gemm per image, or per group of images                                    */

static int conv_is_pointwise(const ct_conv2d_desc *d) { /* 1x1, stride 1, no padding */
    return d->kh == 1 && d->kw == 1 && d->stride_h == 1 && d->stride_w == 1 && d->pad_h == 0 &&
           d->pad_w == 0;
}

/* A 1x1 conv on 1x1 planes (a deep network's last stages on small images): x (n, C) and y
 * (n, OC) are matrices as they lie, the conv a linear layer's products, one a group, without the
 * copies that put small planes side by side (and no workspace). */
static int conv_is_flat(const ct_conv2d_desc *d) {
    return conv_is_pointwise(d) && d->h == 1 && d->w == 1;
}

/* Output positions a product should have at least. An image's product has OH x OW of them: on
 * the small planes of a deep network's late layers (a ResNet's 7x7 down to 1x1) that is a
 * matrix times a few vectors, which reads the whole weight for little arithmetic; there the
 * images go CONV_COLS / (OH x OW) at a time, their columns side by side, and each product reads
 * the weight once for the group. */
#define CONV_COLS 256

/* The images a product takes (1: one at a time, the planes' own layout) */
static int conv_group(const ct_conv2d_desc *d) {
    const int P = d->oh * d->ow;
    if (P >= CONV_COLS || d->n <= 1) return 1;
    const int g = (CONV_COLS + P - 1) / P;
    return g < d->n ? g : d->n;
}

static ct_status conv_check(const ct_conv2d_desc *d, const char *op) {
    const int g = ct_conv_groups(d);
    if (d->groups < 0 || d->c % g || d->oc % g)
        return ct_fail(CT_ERR_INVALID, "%s: groups %d must divide the %d input and %d output "
                       "channels", op, d->groups, d->c, d->oc);
    if (d->n < 0 || d->c <= 0 || d->h <= 0 || d->w <= 0 || d->oc <= 0 || d->kh <= 0 ||
        d->kw <= 0 || d->stride_h <= 0 || d->stride_w <= 0 || d->pad_h < 0 || d->pad_w < 0 ||
        d->oh != (d->h + 2 * d->pad_h - d->kh) / d->stride_h + 1 ||
        d->ow != (d->w + 2 * d->pad_w - d->kw) / d->stride_w + 1 || d->oh <= 0 || d->ow <= 0)
        return ct_fail(CT_ERR_INVALID, "%s: inconsistent shape (n %d, c %d, %dx%d, oc %d, kernel "
                       "%dx%d, stride %d,%d, pad %d,%d, out %dx%d)", op, d->n, d->c, d->h, d->w,
                       d->oc, d->kh, d->kw, d->stride_h, d->stride_w, d->pad_h, d->pad_w, d->oh,
                       d->ow);
    return CT_OK;
}

/* (grows with d->n: a workspace sized for the largest batch fits every call) */
static size_t cpu_conv2d_workspace(ct_backend *b, const ct_conv2d_desc *d) {
    if (ct_dw_eligible(d)) return ct_dw_workspace(d);
    if (ct_wino_eligible(d)) return ct_wino_workspace(d);
    if (conv_is_flat(d)) return 0;
    const size_t K = (size_t)d->c * d->kh * d->kw, P = (size_t)d->oh * d->ow;
    const int g = conv_group(d);
    if (g > 1) /* a group's columns, its outputs (or dy), its columns transposed */
        return (2 * K + (size_t)d->oc) * (size_t)g * P * sizeof(float);
    return conv_is_pointwise(d) ? 0 : K * P * sizeof(float); // (C*KH*KW, OH*OW)
}

/* conv_check, and a workspace (d->ws_bytes, when given) as large as the op needs */
static ct_status conv_ready(ct_backend *b, const ct_conv2d_desc *d, const char *op) {
    CT_TRY(conv_check(d, op));
    size_t need = cpu_conv2d_workspace(b, d);
    if (d->ws_bytes && d->ws_bytes < need)
        return ct_fail(CT_ERR_INVALID, "%s: a workspace of %zu bytes, %zu needed", op,
                       d->ws_bytes, need);
    return CT_OK;
}

/* The output columns [*lo, *hi) whose input column ox*stride + x0 lies inside [0, w). */
static void valid_columns(int x0, int stride, int w, int ow, int *lo, int *hi) {
    int a = x0 >= 0 ? 0 : (-x0 + stride - 1) / stride;
    int b = w - x0 <= 0 ? 0 : (w - x0 + stride - 1) / stride;
    *lo = a < ow ? a : ow;
    *hi = b < ow ? b : ow;
    if (*hi < *lo) *hi = *lo;
}

/* cols (c*kh*kw, oh*ow) from one image x (c, h, w); out-of-image positions are 0. */
static void im2col(const ct_conv2d_desc *d, const float *restrict x, float *restrict cols) {
    const int P = d->oh * d->ow, sw = d->stride_w;
    for (int ci = 0; ci < d->c; ci++)
        for (int ki = 0; ki < d->kh; ki++)
            for (int kj = 0; kj < d->kw; kj++) {
                float *row = cols + (size_t)((ci * d->kh + ki) * d->kw + kj) * P; // (OH*OW)
                const float *plane = x + (size_t)ci * d->h * d->w;
                const int x0 = kj - d->pad_w;
                int lo, hi;
                valid_columns(x0, sw, d->w, d->ow, &lo, &hi);
                for (int oy = 0; oy < d->oh; oy++) {
                    int iy = oy * d->stride_h - d->pad_h + ki;
                    float *out = row + oy * d->ow;
                    if (iy < 0 || iy >= d->h) {
                        memset(out, 0, (size_t)d->ow * sizeof(float));
                        continue;
                    }
                    const float *in = plane + (size_t)iy * d->w; // (W)
                    for (int ox = 0; ox < lo; ox++) out[ox] = 0.0f;
                    if (sw == 1 && hi > lo)
                        memcpy(out + lo, in + lo + x0, (size_t)(hi - lo) * sizeof(float));
                    else
                        for (int ox = lo; ox < hi; ox++) out[ox] = in[ox * sw + x0];
                    for (int ox = hi; ox < d->ow; ox++) out[ox] = 0.0f;
                }
            }
}

/* out[i] += in[i] for i < n (a row of columns back into the image: they never overlap) */
static void add_row(float *restrict out, const float *restrict in, int n) {
    for (int i = 0; i < n; i++) out[i] += in[i];
}

/* x (c, h, w) = cols (c*kh*kw, oh*ow) put back in place, overlapping taps added. */
static void col2im(const ct_conv2d_desc *d, const float *restrict cols, float *restrict x) {
    const int P = d->oh * d->ow, sw = d->stride_w;
    memset(x, 0, (size_t)d->c * d->h * d->w * sizeof(float));
    for (int ci = 0; ci < d->c; ci++)
        for (int ki = 0; ki < d->kh; ki++)
            for (int kj = 0; kj < d->kw; kj++) {
                const float *row = cols + (size_t)((ci * d->kh + ki) * d->kw + kj) * P;
                float *plane = x + (size_t)ci * d->h * d->w;
                const int x0 = kj - d->pad_w;
                int lo, hi;
                valid_columns(x0, sw, d->w, d->ow, &lo, &hi);
                for (int oy = 0; oy < d->oh; oy++) {
                    int iy = oy * d->stride_h - d->pad_h + ki;
                    if (iy < 0 || iy >= d->h) continue;
                    const float *in = row + oy * d->ow;
                    float *out = plane + (size_t)iy * d->w; // (W)
                    if (sw == 1) /* contiguous: vectorises */
                        add_row(out + lo + x0, in + lo, hi - lo);
                    else
                        for (int ox = lo; ox < hi; ox++) out[ox * sw + x0] += in[ox];
                }
            }
}

/* On the small planes of a group (oh*ow < CONV_COLS) a tap reads the same positions in every
 * image and channel: off[p], the position within a plane that output p reads at tap (ki, kj),
 * or -1 in the padding, found once for them all. */
static void tap_offsets(const ct_conv2d_desc *d, int ki, int kj, int *off) {
    for (int oy = 0; oy < d->oh; oy++) {
        const int iy = oy * d->stride_h - d->pad_h + ki;
        for (int ox = 0; ox < d->ow; ox++) {
            const int ix = ox * d->stride_w - d->pad_w + kj;
            off[oy * d->ow + ox] =
                iy >= 0 && iy < d->h && ix >= 0 && ix < d->w ? iy * d->w + ix : -1;
        }
    }
}

/* im2col of gn images x (gn, c, h, w) on a small plane: cols (c*kh*kw, gn*oh*ow; rows ld apart),
 * image j's columns at j*oh*ow */
static void im2col_group(const ct_conv2d_desc *d, const float *restrict x, int gn,
                         float *restrict cols, size_t ld) {
    const int P = d->oh * d->ow, pointwise = conv_is_pointwise(d);
    const size_t hw = (size_t)d->h * d->w, in_size = (size_t)d->c * hw;
    int off[CONV_COLS];
    for (int ki = 0; ki < d->kh; ki++)
        for (int kj = 0; kj < d->kw; kj++) {
            tap_offsets(d, ki, kj, off);
            for (int ci = 0; ci < d->c; ci++) {
                float *row = cols + (size_t)((ci * d->kh + ki) * d->kw + kj) * ld;
                for (int j = 0; j < gn; j++) {
                    const float *plane = x + j * in_size + ci * hw;
                    float *o = row + (size_t)j * P;
                    if (pointwise) memcpy(o, plane, (size_t)P * sizeof(float));
                    else
                        for (int p = 0; p < P; p++) o[p] = off[p] >= 0 ? plane[off[p]] : 0.0f;
                }
            }
        }
}

/* col2im of gn images: dx (gn, c, h, w) = cols (im2col_group's layout) put back in place,
 * overlapping taps added */
static void col2im_group(const ct_conv2d_desc *d, const float *restrict cols, size_t ld, int gn,
                         float *restrict dx) {
    const int P = d->oh * d->ow;
    const size_t hw = (size_t)d->h * d->w, in_size = (size_t)d->c * hw;
    int off[CONV_COLS];
    memset(dx, 0, (size_t)gn * in_size * sizeof(float));
    for (int ki = 0; ki < d->kh; ki++)
        for (int kj = 0; kj < d->kw; kj++) {
            tap_offsets(d, ki, kj, off);
            for (int ci = 0; ci < d->c; ci++) {
                const float *row = cols + (size_t)((ci * d->kh + ki) * d->kw + kj) * ld;
                for (int j = 0; j < gn; j++) {
                    float *plane = dx + j * in_size + ci * hw;
                    const float *in = row + (size_t)j * P;
                    for (int p = 0; p < P; p++)
                        if (off[p] >= 0) plane[off[p]] += in[p];
                }
            }
        }
}

/* A group's outputs (OC, gn x P), the images' side by side, to or from their planes y_j (OC, P):
 * back (1) into the planes, or (0) from them. */
static void conv_planes(const ct_conv2d_desc *d, float *restrict group, float *restrict y, int gn,
                        int back) {
    const size_t P = (size_t)d->oh * d->ow, ld = (size_t)gn * P, out_size = (size_t)d->oc * P;
    for (int j = 0; j < gn; j++)
        for (int o = 0; o < d->oc; o++) {
            float *g = group + o * ld + j * P, *p = y + j * out_size + o * P;
            memcpy(back ? p : g, back ? g : p, P * sizeof(float));
        }
}

/* the forward of images [i0, i0 + gn) together: their columns side by side in ws (K, gn x P),
 * then their outputs (OC, gn x P) after them */
static ct_status conv_forward_group(ct_backend *b, const ct_conv2d_desc *d, const float *x,
                                    const float *weight, float *y, float *ws, int i0, int gn) {
    const int K = d->c * d->kh * d->kw, P = d->oh * d->ow, N = gn * P, g = ct_conv_groups(d);
    const int Kg = K / g, OCg = d->oc / g;
    const size_t in_size = (size_t)d->c * d->h * d->w;
    float *cols = ws, *out = ws + (size_t)K * N;
    im2col_group(d, x + (size_t)i0 * in_size, gn, cols, N);
    /* out_j (OC/g, N) = weight_j (OC/g, K/g) · cols_j (K/g, N) for each group j */
    CT_TRY(ct_gemm_groups(b, g, 0, 0, OCg, N, Kg, weight, Kg, (size_t)OCg * Kg, cols, N,
                          (size_t)Kg * N, 0.0f, out, N, (size_t)OCg * N));
    conv_planes(d, out, y + (size_t)i0 * d->oc * P, gn, 1);
    return CT_OK;
}

/* y (n, OC) group j = x (n, C) group j · weight_j^T */
static ct_status conv_flat_forward(ct_backend *b, const ct_conv2d_desc *d, const float *x,
                                   const float *weight, float *y) {
    const int g = ct_conv_groups(d), Cg = d->c / g, OCg = d->oc / g;
    return ct_gemm_groups(b, g, 0, 1, d->n, OCg, Cg, x, d->c, (size_t)Cg, weight, Cg,
                          (size_t)OCg * Cg, 0.0f, y, d->oc, (size_t)OCg);
}

/* dweight_j = dy_j^T (OC/g, n) · x_j (n, C/g); dx_j = dy_j (n, OC/g) · weight_j */
static ct_status conv_flat_backward(ct_backend *b, const ct_conv2d_desc *d, const float *x,
                                    const float *dy, const float *weight, float *dx,
                                    float *dweight) {
    const int g = ct_conv_groups(d), Cg = d->c / g, OCg = d->oc / g;
    if (dweight)
        CT_TRY(ct_gemm_groups(b, g, 1, 0, OCg, Cg, d->n, dy, d->oc, (size_t)OCg, x, d->c,
                              (size_t)Cg, 0.0f, dweight, Cg, (size_t)OCg * Cg));
    if (dx)
        CT_TRY(ct_gemm_groups(b, g, 0, 0, d->n, Cg, OCg, dy, d->oc, (size_t)OCg, weight, Cg,
                              (size_t)OCg * Cg, 0.0f, dx, d->c, (size_t)Cg));
    return CT_OK;
}

static ct_status cpu_conv2d_forward(ct_backend *b, const ct_conv2d_desc *d, const float *x,
                                    const float *weight, const float *bias, float *y, void *ws) {
    CT_TRY(conv_ready(b, d, "conv2d_forward"));
    if (ct_wino_eligible(d)) return ct_wino_forward(b, d, x, weight, bias, y, ws);
    if (conv_is_flat(d) && !ct_dw_eligible(d)) {
        CT_TRY(conv_flat_forward(b, d, x, weight, y));
        if (bias) CT_TRY(b->bias_add(b, y, bias, d->n, d->oc, 1));
        if (d->relu) CT_TRY(b->act_forward(b, CT_ACT_RELU, 0.0f, y, y, (int64_t)d->n * d->oc));
        return CT_OK;
    }
    const int K = d->c * d->kh * d->kw, P = d->oh * d->ow, g = conv_group(d);
    const int groups = ct_conv_groups(d), Kg = K / groups, OCg = d->oc / groups;
    const size_t in_size = (size_t)d->c * d->h * d->w, out_size = (size_t)d->oc * P;
    if (ct_dw_eligible(d)) ct_dw_forward(d, x, weight, y, ws);
    for (int i = 0; i < d->n && !ct_dw_eligible(d); i += g) {
        if (g > 1) {
            CT_TRY(conv_forward_group(b, d, x, weight, y, ws, i, d->n - i < g ? d->n - i : g));
            continue;
        }
        const float *cols = x + i * in_size; // (K, P)
        if (!conv_is_pointwise(d)) {
            im2col(d, x + i * in_size, ws);
            cols = ws;
        }
        /* y_i's group j (OC/g, P) = weight_j (OC/g, K/g) · cols_j (K/g, P) */
        CT_TRY(ct_gemm_groups(b, groups, 0, 0, OCg, P, Kg, weight, Kg, (size_t)OCg * Kg, cols, P,
                              (size_t)Kg * P, 0.0f, y + i * out_size, P, (size_t)OCg * P));
    }
    if (bias) CT_TRY(b->bias_add(b, y, bias, d->n, d->oc, P));
    if (d->relu) CT_TRY(b->act_forward(b, CT_ACT_RELU, 0.0f, y, y, (int64_t)d->n * (int64_t)out_size));
    return CT_OK;
}

/* t (cols, rows) = a (rows, cols)^T, in blocks of 16 x 16 */
static void transpose(const float *restrict a, int rows, int cols, float *restrict t) {
    for (int r0 = 0; r0 < rows; r0 += 16)
        for (int c0 = 0; c0 < cols; c0 += 16) {
            const int r1 = r0 + 16 < rows ? r0 + 16 : rows, c1 = c0 + 16 < cols ? c0 + 16 : cols;
            for (int c = c0; c < c1; c++)
                for (int r = r0; r < r1; r++) t[(size_t)c * rows + r] = a[(size_t)r * cols + c];
        }
}

/* The backward of images [i0, i0 + gn) together (conv_forward_group's layout): dweight (when
 * not NULL) plus or (first) set to their part, dx (when not NULL) theirs. dweight's product
 * takes the columns transposed: as NN it runs on the CPU's rank-1 kernels, about twice as fast
 * as NT with a short inner dimension (bench/gemm.c's r50 rows). */
static ct_status conv_backward_group(ct_backend *b, const ct_conv2d_desc *d, const float *x,
                                     const float *dy, const float *weight, float *dx,
                                     float *dweight, float *ws, int i0, int gn, int first) {
    const int K = d->c * d->kh * d->kw, P = d->oh * d->ow, N = gn * P, g = ct_conv_groups(d);
    const int Kg = K / g, OCg = d->oc / g;
    const size_t in_size = (size_t)d->c * d->h * d->w;
    float *cols = ws, *dyg = ws + (size_t)K * N, *rows = dyg + (size_t)d->oc * N;
    conv_planes(d, dyg, (float *)dy + (size_t)i0 * d->oc * P, gn, 0); /* (only read) */
    if (dweight) { /* dweight_j (OC/g, K/g) += dy_j (OC/g, N) · rows_j (N, K/g), rows = cols^T */
        im2col_group(d, x + (size_t)i0 * in_size, gn, cols, N);
        transpose(cols, K, N, rows);
        CT_TRY(ct_gemm_groups(b, g, 0, 0, OCg, Kg, N, dyg, N, (size_t)OCg * N, rows, K, (size_t)Kg,
                              first ? 0.0f : 1.0f, dweight, Kg, (size_t)OCg * Kg));
    }
    if (dx) { /* dcols_j (K/g, N) = weight_j^T · dy_j (OC/g, N), into the images' planes */
        CT_TRY(ct_gemm_groups(b, g, 1, 0, Kg, N, OCg, weight, Kg, (size_t)OCg * Kg, dyg, N,
                              (size_t)OCg * N, 0.0f, cols, N, (size_t)Kg * N));
        col2im_group(d, cols, N, gn, dx + (size_t)i0 * in_size);
    }
    return CT_OK;
}

static ct_status cpu_conv2d_backward_data(ct_backend *b, const ct_conv2d_desc *d, const float *dy,
                                          const float *weight, float *dx, void *ws) {
    CT_TRY(conv_ready(b, d, "conv2d_backward_data"));
    if (ct_wino_eligible(d)) return ct_wino_backward(b, d, NULL, dy, weight, dx, NULL, ws);
    if (ct_dw_eligible(d)) {
        ct_dw_backward_data(d, dy, weight, dx, ws);
        return CT_OK;
    }
    if (conv_is_flat(d)) return conv_flat_backward(b, d, NULL, dy, weight, dx, NULL);
    const int K = d->c * d->kh * d->kw, P = d->oh * d->ow, g = conv_group(d);
    const int groups = ct_conv_groups(d), Kg = K / groups, OCg = d->oc / groups;
    const size_t in_size = (size_t)d->c * d->h * d->w, out_size = (size_t)d->oc * P;
    for (int i = 0; i < d->n; i += g) {
        if (g > 1) {
            CT_TRY(conv_backward_group(b, d, NULL, dy, weight, dx, NULL, ws, i,
                                       d->n - i < g ? d->n - i : g, 0));
            continue;
        }
        int direct = conv_is_pointwise(d);
        float *dcols = direct ? dx + i * in_size : ws; // (K, P)
        /* dcols_j (K/g, P) = weight_j^T (K/g, OC/g) · dy_i's group j (OC/g, P) */
        CT_TRY(ct_gemm_groups(b, groups, 1, 0, Kg, P, OCg, weight, Kg, (size_t)OCg * Kg,
                              dy + i * out_size, P, (size_t)OCg * P, 0.0f, dcols, P, (size_t)Kg * P));
        if (!direct) col2im(d, dcols, dx + i * in_size);
    }
    return CT_OK;
}

static ct_status cpu_conv2d_backward_filter(ct_backend *b, const ct_conv2d_desc *d, const float *x,
                                            const float *dy, float *dweight, float *dbias,
                                            void *ws) {
    CT_TRY(conv_ready(b, d, "conv2d_backward_filter"));
    if (ct_wino_eligible(d) || ct_dw_eligible(d)) {
        if (ct_dw_eligible(d)) ct_dw_backward_filter(d, x, dy, dweight, ws);
        else CT_TRY(ct_wino_backward(b, d, x, dy, NULL, NULL, dweight, ws));
        return dbias ? b->bias_grad(b, dbias, dy, d->n, d->oc, d->oh * d->ow) : CT_OK;
    }
    if (conv_is_flat(d)) {
        CT_TRY(conv_flat_backward(b, d, x, dy, NULL, NULL, dweight));
        return dbias ? b->bias_grad(b, dbias, dy, d->n, d->oc, 1) : CT_OK;
    }
    const int K = d->c * d->kh * d->kw, P = d->oh * d->ow, g = conv_group(d);
    const int groups = ct_conv_groups(d), Kg = K / groups, OCg = d->oc / groups;
    const size_t in_size = (size_t)d->c * d->h * d->w, out_size = (size_t)d->oc * P;
    if (d->n == 0) memset(dweight, 0, (size_t)d->oc * Kg * sizeof(float));
    for (int i = 0; i < d->n && g > 1; i += g)
        CT_TRY(conv_backward_group(b, d, x, dy, NULL, NULL, dweight, ws, i,
                                   d->n - i < g ? d->n - i : g, i == 0));
    for (int i = 0; i < d->n && g == 1; i++) {
        const float *cols = x + i * in_size; // (K, P)
        if (!conv_is_pointwise(d)) {
            im2col(d, x + i * in_size, ws);
            cols = ws;
        }
        /* dweight_j (OC/g, K/g) += dy_i's group j (OC/g, P) · cols_j^T (P, K/g) */
        CT_TRY(ct_gemm_groups(b, groups, 0, 1, OCg, Kg, P, dy + i * out_size, P, (size_t)OCg * P,
                              cols, P, (size_t)Kg * P, i ? 1.0f : 0.0f, dweight, Kg,
                              (size_t)OCg * Kg));
    }
    if (dbias) CT_TRY(b->bias_grad(b, dbias, dy, d->n, d->oc, P));
    return CT_OK;
}

static ct_status cpu_conv2d_backward(ct_backend *b, const ct_conv2d_desc *d, const float *x,
                                     const float *dy, const float *weight, float *dx,
                                     float *dweight, float *dbias, void *ws) {
    CT_TRY(conv_ready(b, d, "conv2d_backward"));
    if (dx && ct_wino_eligible(d)) { /* one transform of dy for both */
        CT_TRY(ct_wino_backward(b, d, x, dy, weight, dx, dweight, ws));
        return dbias ? b->bias_grad(b, dbias, dy, d->n, d->oc, d->oh * d->ow) : CT_OK;
    }
    if (conv_is_flat(d) && !ct_dw_eligible(d)) {
        CT_TRY(conv_flat_backward(b, d, x, dy, weight, dx, dweight));
        return dbias ? b->bias_grad(b, dbias, dy, d->n, d->oc, 1) : CT_OK;
    }
    const int g = conv_group(d);
    if (g > 1 && !ct_wino_eligible(d) && !ct_dw_eligible(d)) { /* one gathering of each
                                                                 * group's dy for both */
        if (d->n == 0)
            memset(dweight, 0,
                   (size_t)d->oc * (d->c / ct_conv_groups(d)) * d->kh * d->kw * sizeof(float));
        for (int i = 0; i < d->n; i += g)
            CT_TRY(conv_backward_group(b, d, x, dy, weight, dx, dweight, ws, i,
                                       d->n - i < g ? d->n - i : g, i == 0));
        return dbias ? b->bias_grad(b, dbias, dy, d->n, d->oc, d->oh * d->ow) : CT_OK;
    }
    CT_TRY(cpu_conv2d_backward_filter(b, d, x, dy, dweight, dbias, ws));
    return dx ? cpu_conv2d_backward_data(b, d, dy, weight, dx, ws) : CT_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* pooling                                                                                     */

static ct_status pool_check(const ct_pool2d_desc *d, const char *op) {
    if (d->n < 0 || d->c <= 0 || d->h <= 0 || d->w <= 0 || d->kh <= 0 || d->kw <= 0 ||
        d->stride_h <= 0 || d->stride_w <= 0 || d->pad_h < 0 || d->pad_w < 0 ||
        2 * d->pad_h > d->kh || 2 * d->pad_w > d->kw ||
        d->oh != (d->h + 2 * d->pad_h - d->kh) / d->stride_h + 1 ||
        d->ow != (d->w + 2 * d->pad_w - d->kw) / d->stride_w + 1 || d->oh <= 0 || d->ow <= 0)
        return ct_fail(CT_ERR_INVALID, "%s: inconsistent shape (n %d, c %d, %dx%d, kernel %dx%d, "
                       "stride %d,%d, pad %d,%d, out %dx%d)", op, d->n, d->c, d->h, d->w, d->kh,
                       d->kw, d->stride_h, d->stride_w, d->pad_h, d->pad_w, d->oh, d->ow);
    return CT_OK;
}

/* The common 2x2 window, stride 2, no padding: y and argmax of one plane. */
static void maxpool_2x2(const ct_pool2d_desc *d, const float *restrict xp, float *restrict y,
                        int32_t *restrict argmax) {
    for (int oy = 0; oy < d->oh; oy++) {
        const float *r0 = xp + (size_t)(2 * oy) * d->w, *r1 = r0 + d->w;
        for (int ox = 0; ox < d->ow; ox++) {
            const float v[4] = {r0[2 * ox], r0[2 * ox + 1], r1[2 * ox], r1[2 * ox + 1]};
            float best = v[0];
            int k = 0;
            for (int q = 1; q < 4; q++)
                if (v[q] > best || isnan(v[q])) best = v[q], k = q;
            y[oy * d->ow + ox] = best;
            argmax[oy * d->ow + ox] = (2 * oy + (k >> 1)) * d->w + 2 * ox + (k & 1);
        }
    }
}

static ct_status cpu_maxpool2d_forward(ct_backend *b, const ct_pool2d_desc *d, const float *x,
                                       float *y, int32_t *argmax) {
    CT_TRY(pool_check(d, "maxpool2d_forward"));
    const int64_t planes = (int64_t)d->n * d->c, HW = (int64_t)d->h * d->w, P = d->oh * d->ow;
    const int fast = d->kh == 2 && d->kw == 2 && d->stride_h == 2 && d->stride_w == 2 &&
                     d->pad_h == 0 && d->pad_w == 0;
    for (int64_t pl = 0; pl < planes; pl++) {
        const float *xp = x + pl * HW; // (H, W)
        if (fast) {
            maxpool_2x2(d, xp, y + pl * P, argmax + pl * P);
            continue;
        }
        for (int oy = 0; oy < d->oh; oy++)
            for (int ox = 0; ox < d->ow; ox++) {
                int y0 = oy * d->stride_h - d->pad_h, x0 = ox * d->stride_w - d->pad_w;
                int y1 = y0 + d->kh < d->h ? y0 + d->kh : d->h;
                int x1 = x0 + d->kw < d->w ? x0 + d->kw : d->w;
                if (y0 < 0) y0 = 0;
                if (x0 < 0) x0 = 0;
                float best = -INFINITY;
                int32_t arg = y0 * d->w + x0;
                for (int iy = y0; iy < y1; iy++)
                    for (int ix = x0; ix < x1; ix++) {
                        float v = xp[iy * d->w + ix];
                        if (v > best || isnan(v)) {
                            best = v;
                            arg = iy * d->w + ix;
                        }
                    }
                y[pl * P + oy * d->ow + ox] = best;
                argmax[pl * P + oy * d->ow + ox] = arg;
            }
    }
    return CT_OK;
}

static ct_status cpu_maxpool2d_backward(ct_backend *b, const ct_pool2d_desc *d, const float *dy,
                                        const int32_t *argmax, float *dx) {
    CT_TRY(pool_check(d, "maxpool2d_backward"));
    const int64_t planes = (int64_t)d->n * d->c, HW = (int64_t)d->h * d->w, P = d->oh * d->ow;
    memset(dx, 0, (size_t)(planes * HW) * sizeof(float));
    for (int64_t pl = 0; pl < planes; pl++)
        for (int64_t o = 0; o < P; o++) {
            int32_t a = argmax[pl * P + o];
            if (a < 0 || a >= HW)
                return ct_fail(CT_ERR_INVALID, "maxpool2d_backward: argmax %d outside a %dx%d "
                               "plane", a, d->h, d->w);
            dx[pl * HW + a] += dy[pl * P + o];
        }
    return CT_OK;
}

static ct_status cpu_avgpool2d_forward(ct_backend *b, const ct_pool2d_desc *d, const float *x,
                                       float *y) {
    CT_TRY(pool_check(d, "avgpool2d_forward"));
    const int64_t planes = (int64_t)d->n * d->c, HW = (int64_t)d->h * d->w, P = d->oh * d->ow;
    const float inv = 1.0f / (float)(d->kh * d->kw);
    for (int64_t pl = 0; pl < planes; pl++) {
        const float *xp = x + pl * HW;
        for (int oy = 0; oy < d->oh; oy++)
            for (int ox = 0; ox < d->ow; ox++) {
                int y0 = oy * d->stride_h - d->pad_h, x0 = ox * d->stride_w - d->pad_w;
                int y1 = y0 + d->kh < d->h ? y0 + d->kh : d->h;
                int x1 = x0 + d->kw < d->w ? x0 + d->kw : d->w;
                if (y0 < 0) y0 = 0;
                if (x0 < 0) x0 = 0;
                float s = 0.0f;
                for (int iy = y0; iy < y1; iy++)
                    for (int ix = x0; ix < x1; ix++) s += xp[iy * d->w + ix];
                y[pl * P + oy * d->ow + ox] = s * inv;
            }
    }
    return CT_OK;
}

static ct_status cpu_avgpool2d_backward(ct_backend *b, const ct_pool2d_desc *d, const float *dy,
                                        float *dx) {
    CT_TRY(pool_check(d, "avgpool2d_backward"));
    const int64_t planes = (int64_t)d->n * d->c, HW = (int64_t)d->h * d->w, P = d->oh * d->ow;
    const float inv = 1.0f / (float)(d->kh * d->kw);
    memset(dx, 0, (size_t)(planes * HW) * sizeof(float));
    for (int64_t pl = 0; pl < planes; pl++) {
        float *dp = dx + pl * HW;
        for (int oy = 0; oy < d->oh; oy++)
            for (int ox = 0; ox < d->ow; ox++) {
                int y0 = oy * d->stride_h - d->pad_h, x0 = ox * d->stride_w - d->pad_w;
                int y1 = y0 + d->kh < d->h ? y0 + d->kh : d->h;
                int x1 = x0 + d->kw < d->w ? x0 + d->kw : d->w;
                if (y0 < 0) y0 = 0;
                if (x0 < 0) x0 = 0;
                float g = dy[pl * P + oy * d->ow + ox] * inv;
                for (int iy = y0; iy < y1; iy++)
                    for (int ix = x0; ix < x1; ix++) dp[iy * d->w + ix] += g;
            }
    }
    return CT_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* dropout                                                                                     */

/* Philox blocks drawn at a time by dropout (a stack buffer of 4x as many words). */
#define CT_DROPOUT_CHUNK_BLOCKS 256

/* out (n) = mask(in): see backend.h for the mask. */
static ct_status dropout_apply(const float *in, float *out, int64_t n, float p, uint64_t seed,
                               uint64_t stream, uint64_t first, const char *op) {
    if (n < 0 || !(p >= 0.0f))
        return ct_fail(CT_ERR_INVALID, "%s: bad size %lld or p %g", op, (long long)n, (double)p);
    if (p >= 1.0f) {
        memset(out, 0, (size_t)n * sizeof(float));
        return CT_OK;
    }
    const uint32_t thr = (uint32_t)((double)p * 16777216.0);
    const float scale = 1.0f / (1.0f - p);
    uint32_t words[4 * CT_DROPOUT_CHUNK_BLOCKS];
    uint64_t e = first; /* the element index of out[i] in the whole tensor */
    for (int64_t i = 0; i < n;) {
        /* the blocks holding elements e .. e + (n - i) - 1, at most a chunk of them */
        int64_t skip = (int64_t)(e & 3), blocks = (skip + (n - i) + 3) / 4;
        if (blocks > CT_DROPOUT_CHUNK_BLOCKS) blocks = CT_DROPOUT_CHUNK_BLOCKS;
        ct_philox_blocks(seed, stream, e >> 2, blocks, words);
        int64_t take = 4 * blocks - skip < n - i ? 4 * blocks - skip : n - i;
        ct_dropout_mask(words + skip, in + i, out + i, take, thr, scale);
        i += take;
        e += (uint64_t)take;
    }
    return CT_OK;
}

static ct_status cpu_dropout_forward(ct_backend *b, const float *x, float *y, int64_t n, float p,
                                     uint64_t seed, uint64_t stream, uint64_t first,
                                     const ct_step_vars *sv) {
    return dropout_apply(x, y, n, p, seed, stream + (sv ? sv->step : 0), first,
                         "dropout_forward");
}

static ct_status cpu_dropout_backward(ct_backend *b, const float *dy, float *dx, int64_t n,
                                      float p, uint64_t seed, uint64_t stream, uint64_t first,
                                      const ct_step_vars *sv) {
    return dropout_apply(dy, dx, n, p, seed, stream + (sv ? sv->step : 0), first,
                         "dropout_backward");
}

/* ------------------------------------------------------------------------------------------ */
/* Adam / AdamW / NAdam / RAdam / Adamax / Adagrad                                            */

/* the variants whose update is not Adam's (a loop each) */
static void cpu_adam_other(float *restrict w, const float *restrict g, float *restrict m,
                           float *restrict v, int64_t n, float beta1, float beta2, float eps,
                           float wd, int variant, float step_size, float bc2_sqrt) {
    const float omb1 = 1.0f - beta1, omb2 = 1.0f - beta2;
    if (variant == CT_ADAM_ADAGRAD) {
        for (int64_t i = 0; i < n; i++) {
            float gi = g[i] + wd * w[i];
            float vi = v[i] + gi * gi;
            v[i] = vi;
            w[i] -= step_size * (gi / (sqrtf(vi) + eps));
        }
    } else if (variant == CT_ADAM_ADAMAX) {
        for (int64_t i = 0; i < n; i++) {
            float gi = g[i] + wd * w[i];
            float mi = beta1 * m[i] + omb1 * gi;
            float vi = fmaxf(beta2 * v[i], fabsf(gi) + eps);
            m[i] = mi;
            v[i] = vi;
            w[i] -= step_size * (mi / vi);
        }
    } else if (bc2_sqrt > 0.0f) { /* RAdam, rectified */
        for (int64_t i = 0; i < n; i++) {
            float gi = g[i] + wd * w[i];
            float mi = beta1 * m[i] + omb1 * gi;
            float vi = beta2 * v[i] + omb2 * gi * gi;
            m[i] = mi;
            v[i] = vi;
            w[i] -= step_size * mi * (bc2_sqrt / (sqrtf(vi) + eps));
        }
    } else { /* RAdam's first updates: the momentum alone */
        for (int64_t i = 0; i < n; i++) {
            float gi = g[i] + wd * w[i];
            float mi = beta1 * m[i] + omb1 * gi;
            m[i] = mi;
            v[i] = beta2 * v[i] + omb2 * gi * gi;
            w[i] -= step_size * mi;
        }
    }
}

static ct_status cpu_adam_step(ct_backend *b, float *restrict w, const float *restrict g,
                               float *restrict m, float *restrict v, float *restrict vmax,
                               int64_t n, float lr, float beta1, float beta2, float eps, float wd,
                               int variant, float extra, int64_t t, const ct_step_vars *sv) {
    if (n < 0 || t < 1 || variant < CT_ADAM_L2 || variant > CT_ADAM_ADAGRAD ||
        (vmax && variant > CT_ADAM_DECOUPLED))
        return ct_fail(CT_ERR_INVALID, "adam_step: bad size %lld, step %lld or variant %d%s",
                       (long long)n, (long long)t, variant, vmax ? " (with AMSGrad)" : "");
    float step_size, bc2_sqrt, grad_size = 0.0f; /* (NAdam's: the gradient's own step) */
    const int decoupled = variant == CT_ADAM_DECOUPLED, nadam = variant == CT_ADAM_NADAM;
    if (sv) {
        lr = sv->lr;
        beta1 = sv->momentum;
        step_size = sv->adam_step_size;
        bc2_sqrt = sv->adam_bc2_sqrt;
        if (nadam) grad_size = sv->nadam_grad_size;
    } else {
        ct_adam_variant_factors(variant, lr, beta1, beta2, extra, t, &grad_size, &step_size,
                                &bc2_sqrt);
    }
    if (variant >= CT_ADAM_RADAM) {
        cpu_adam_other(w, g, m, v, n, beta1, beta2, eps, wd, variant, step_size, bc2_sqrt);
        return CT_OK;
    }
    const float omb1 = 1.0f - beta1, omb2 = 1.0f - beta2;
    const float decay = decoupled ? 1.0f - lr * wd : 1.0f, l2 = decoupled ? 0.0f : wd;
    for (int64_t i = 0; i < n; i++) {
        float wi = w[i] * decay;
        float gi = g[i] + l2 * w[i];
        float mi = beta1 * m[i] + omb1 * gi;
        float vi = beta2 * v[i] + omb2 * gi * gi;
        m[i] = mi;
        v[i] = vi;
        if (vmax) { /* AMSGrad (torch.maximum: a NaN kept) */
            vi = vi > vmax[i] || vi != vi ? vi : vmax[i];
            vmax[i] = vi;
        }
        float d = sqrtf(vi) / bc2_sqrt + eps;
        if (nadam) wi = wi - grad_size * (gi / d);
        w[i] = wi - step_size * (mi / d);
    }
    return CT_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* RMSprop                                                                                     */

static ct_status cpu_rmsprop_step(ct_backend *b, float *restrict w, const float *restrict g,
                                  float *restrict m, float *restrict v, float *restrict ga,
                                  int64_t n, float lr, float alpha, float eps, float wd,
                                  float momentum, int centered, const ct_step_vars *sv) {
    if (n < 0) return ct_fail(CT_ERR_INVALID, "rmsprop_step: negative size %lld", (long long)n);
    if ((centered && !ga) || (momentum != 0.0f && !m)) /* (as the CUDA backend) */
        return ct_fail(CT_ERR_INVALID, "rmsprop_step: %s needs its buffer",
                       centered && !ga ? "centered" : "momentum");
    if (sv) {
        lr = sv->lr;
        if (m) momentum = sv->momentum; /* (m: the buffer a momentum > 0 needs) */
    }
    const float oma = 1.0f - alpha;
    for (int64_t i = 0; i < n; i++) {
        float gi = g[i] + wd * w[i];
        float vi = alpha * v[i] + oma * gi * gi;
        v[i] = vi;
        float d;
        if (centered) {
            float gai = alpha * ga[i] + oma * gi;
            ga[i] = gai;
            d = sqrtf(vi - gai * gai) + eps;
        } else {
            d = sqrtf(vi) + eps;
        }
        if (m && momentum != 0.0f) {
            float mi = momentum * m[i] + gi / d;
            m[i] = mi;
            w[i] -= lr * mi;
        } else {
            w[i] -= lr * (gi / d);
        }
    }
    return CT_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* gradient norm                                                                               */

static ct_status cpu_sumsq(ct_backend *b, const float *x, int64_t n, double *out) {
    if (n < 0) return ct_fail(CT_ERR_INVALID, "sumsq: negative size %lld", (long long)n);
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) s += (double)x[i] * x[i];
    *out = s;
    return CT_OK;
}

static ct_status cpu_clip_scale(ct_backend *b, float *x, int64_t n, const double *parts,
                                int n_parts, float max_norm) {
    if (n < 0 || n_parts < 1)
        return ct_fail(CT_ERR_INVALID, "clip_scale: bad size %lld or %d parts", (long long)n,
                       n_parts);
    double total = 0.0;
    for (int k = 0; k < n_parts; k++) total += parts[k];
    double coef = (double)max_norm / (sqrt(total) + 1e-6);
    if (!(coef < 1.0)) return CT_OK;
    const float c = (float)coef;
    for (int64_t i = 0; i < n; i++) x[i] *= c;
    return CT_OK;
}

static ct_status cpu_clip_value(ct_backend *b, float *x, int64_t n, float max) {
    (void)b;
    if (n < 0 || !(max >= 0.0f))
        return ct_fail(CT_ERR_INVALID, "clip_value: bad size %lld or bound %g", (long long)n,
                       (double)max);
    for (int64_t i = 0; i < n; i++) /* (comparisons, not fminf: a NaN stays one) */
        x[i] = x[i] > max ? max : x[i] < -max ? -max : x[i];
    return CT_OK;
}

/* ------------------------------------------------------------------------------------------ */

void ct_cpu_fill_nn_ops(ct_backend *b) {
    b->conv2d_workspace = cpu_conv2d_workspace;
    b->conv2d_forward = cpu_conv2d_forward;
    b->conv2d_backward_data = cpu_conv2d_backward_data;
    b->conv2d_backward_filter = cpu_conv2d_backward_filter;
    b->conv2d_backward = cpu_conv2d_backward;
    b->maxpool2d_forward = cpu_maxpool2d_forward;
    b->maxpool2d_backward = cpu_maxpool2d_backward;
    b->avgpool2d_forward = cpu_avgpool2d_forward;
    b->avgpool2d_backward = cpu_avgpool2d_backward;
    b->dropout_forward = cpu_dropout_forward;
    b->dropout_backward = cpu_dropout_backward;
    ct_cpu_fill_bn_ops(b); /* cpu_bn.c */
    ct_cpu_fill_seq_ops(b); /* cpu_seq.c */
    b->adam_step = cpu_adam_step;
    b->rmsprop_step = cpu_rmsprop_step;
    b->sumsq = cpu_sumsq;
    b->clip_scale = cpu_clip_scale;
    b->clip_value = cpu_clip_value;
}
