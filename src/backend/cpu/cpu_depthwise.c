/*
 * cpu_depthwise.c — depthwise convolutions (groups = input channels: output channel o reads
 * input channel o / (oc / c) alone, MobileNet's 3x3 layers) computed directly, channels last.
 *
 * im2col would copy each input plane kh x kw times for products of one row (a GEMM of M = oc/c,
 * K = kh x kw): on mobilenet_v2 that copying and col2im's scatter took a third of a training
 * step (perf), and computing on the planes row by row was slower still on its small planes
 * (7x7 down to 1x1: rows of a few columns, mostly padding). So the ops transpose the images to
 * channels last, (h*w, n, c), where one tap at one output position is the same product for
 * every image and channel: y[p][i][:] += w[tap][:] * x[q][i][:], a contiguous row of c that
 * vectorises (q: the input position the tap reads there; taps in the padding skipped). The
 * weight gradient sums those row products over the batch and positions per tap. Workspace: the
 * weights a tap a row, and the transposed input and output of a chunk of images (as many as fit
 * in 32 MB, at least one: 224x224 images would need 771 MB a batch of 128 in one piece).
 */
#include "backend/cpu/cpu_depthwise.h"
#include "backend/cpu/kernels.h"

#include <string.h>

/* The ops' one inner loop, out[o] += a[o] * b[o] for o < n, built for each instruction set (as
 * the GEMM kernels and Winograd's transforms; GCC's target pragmas, else the baseline alone). */
#define DW_ROW(sfx)                                                                            \
    static void row_fma_##sfx(float *restrict out, const float *restrict a,                   \
                              const float *restrict b, int n) {                                \
        for (int o = 0; o < n; o++) out[o] += a[o] * b[o];                                     \
    }
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#pragma GCC push_options
#pragma GCC target("arch=x86-64-v4")
DW_ROW(v4)
#pragma GCC pop_options
#pragma GCC push_options
#pragma GCC target("arch=x86-64-v3")
DW_ROW(v3)
#pragma GCC pop_options
#define DW_ISAS 1
#endif
DW_ROW(base)

typedef void (*row_fma_fn)(float *restrict, const float *restrict, const float *restrict, int);

/* for the instruction set the GEMM kernels use (CTRAIN_CPU_ISA included) */
static row_fma_fn row_fma(void) {
#ifdef DW_ISAS
    const char *isa = ct_small_gemm_isa();
    if (strcmp(isa, "AVX-512") == 0) return row_fma_v4;
    if (strcmp(isa, "AVX2") == 0) return row_fma_v3;
#endif
    return row_fma_base;
}

int ct_dw_eligible(const ct_conv2d_desc *d) { return d->groups > 1 && d->groups == d->c; }

#define DW_CHUNK_BYTES ((size_t)32 << 20)

/* The images a pass takes: as many as fit in DW_CHUNK_BYTES (at least 1, at most d->n). */
static int dw_chunk(const ct_conv2d_desc *d) {
    const size_t per = ((size_t)d->c * d->h * d->w + (size_t)d->oc * d->oh * d->ow) * sizeof(float);
    size_t k = DW_CHUNK_BYTES / per;
    if (k < 1) k = 1;
    return k < (size_t)d->n ? (int)k : d->n > 0 ? d->n : 1;
}

size_t ct_dw_workspace(const ct_conv2d_desc *d) {
    return ((size_t)d->kh * d->kw * d->oc +
            (size_t)dw_chunk(d) * ((size_t)d->c * d->h * d->w + (size_t)d->oc * d->oh * d->ow)) *
           sizeof(float);
}

/* t (q, rows) = a (rows, q): (n*c, h*w) planes to channels last, or back with rows and q swapped */
static void transpose(const float *restrict a, size_t rows, size_t q, float *restrict t) {
    for (size_t r0 = 0; r0 < rows; r0 += 16)
        for (size_t q0 = 0; q0 < q; q0 += 16) {
            const size_t r1 = r0 + 16 < rows ? r0 + 16 : rows, q1 = q0 + 16 < q ? q0 + 16 : q;
            for (size_t k = q0; k < q1; k++)
                for (size_t r = r0; r < r1; r++) t[k * rows + r] = a[r * q + k];
        }
}

/* The input position tap t = ki * kw + kj of output position p reads, or -1 in the padding. */
static int tap_input(const ct_conv2d_desc *d, int p, int t) {
    const int oy = p / d->ow, ox = p % d->ow, ki = t / d->kw, kj = t % d->kw;
    const int iy = oy * d->stride_h - d->pad_h + ki, ix = ox * d->stride_w - d->pad_w + kj;
    return iy >= 0 && iy < d->h && ix >= 0 && ix < d->w ? iy * d->w + ix : -1;
}

/* The workspace's parts: a (kh*kw, oc) table (the weights a tap a row, or the weight
 * gradient's sums), then a chunk's x channels last (h*w, chunk, c) and y (oh*ow, chunk, oc) */
typedef struct {
    float *taps, *xt, *yt;
    int mult, kk, P, hw, chunk;
} dw_parts;

static dw_parts parts(const ct_conv2d_desc *d, float *ws) {
    dw_parts s = {ws, NULL, NULL, d->oc / d->c, d->kh * d->kw, d->oh * d->ow, d->h * d->w,
                  dw_chunk(d)};
    s.xt = s.taps + (size_t)s.kk * d->oc;
    s.yt = s.xt + (size_t)s.chunk * d->c * s.hw;
    return s;
}

/* The weights a tap a row: taps (kh*kw, oc) = weight (oc, kh*kw) transposed */
static void weights_by_tap(const ct_conv2d_desc *d, const float *weight, const dw_parts *s) {
    for (int o = 0; o < d->oc; o++)
        for (int t = 0; t < s->kk; t++) s->taps[t * d->oc + o] = weight[o * s->kk + t];
}

/* Every tap at every output position p, for nc images: forward, y[p][i][:] += w[tap][:] *
 * x[q][i][:]; back (to the input), x[q][i][:] += w[tap][:] * y[p][i][:], q the input position
 * the tap reads (taps in the padding skipped). */
static void tap_rows(const ct_conv2d_desc *d, const dw_parts *s, int nc, int back,
                     row_fma_fn axpy) {
    const int oc = d->oc, c = d->c, m = s->mult;
    for (int p = 0; p < s->P; p++)
        for (int t = 0; t < s->kk; t++) {
            const int q = tap_input(d, p, t);
            if (q < 0) continue;
            const float *restrict w = s->taps + (size_t)t * oc;
            for (int i = 0; i < nc; i++) {
                float *restrict yr = s->yt + ((size_t)p * nc + i) * oc;
                float *restrict xr = s->xt + ((size_t)q * nc + i) * c;
                if (m == 1 && back) axpy(xr, w, yr, oc);
                else if (m == 1) axpy(yr, w, xr, oc);
                else if (back) /* (a channel multiplier: m outputs read input o / m) */
                    for (int o = 0; o < oc; o++) xr[o / m] += w[o] * yr[o];
                else
                    for (int o = 0; o < oc; o++) yr[o] += w[o] * xr[o / m];
            }
        }
}

/* out = the taps applied to in, chunk by chunk: forward (back 0) x (n, c, h*w) -> y (n, oc,
 * oh*ow); back (1) dy -> dx. Each chunk: its images channels last, the other side zeroed, the
 * taps, the result back to planes. */
static void dw_apply(const ct_conv2d_desc *d, const float *weight, const float *in, float *out,
                     float *ws, int back) {
    const dw_parts s = parts(d, ws);
    const size_t in_ch = back ? d->oc : d->c, in_q = back ? s.P : s.hw;
    const size_t out_ch = back ? d->c : d->oc, out_q = back ? s.hw : s.P;
    float *tin = back ? s.yt : s.xt, *tout = back ? s.xt : s.yt;
    weights_by_tap(d, weight, &s);
    for (int i0 = 0; i0 < d->n; i0 += s.chunk) {
        const size_t nc = (size_t)(d->n - i0 < s.chunk ? d->n - i0 : s.chunk);
        transpose(in + (size_t)i0 * in_ch * in_q, nc * in_ch, in_q, tin);
        memset(tout, 0, nc * out_ch * out_q * sizeof(float));
        tap_rows(d, &s, (int)nc, back, row_fma());
        transpose(tout, out_q, nc * out_ch, out + (size_t)i0 * out_ch * out_q);
    }
}

void ct_dw_forward(const ct_conv2d_desc *d, const float *x, const float *weight, float *y,
                   float *ws) {
    dw_apply(d, weight, x, y, ws, 0);
}

void ct_dw_backward_data(const ct_conv2d_desc *d, const float *dy, const float *weight,
                         float *dx, float *ws) {
    dw_apply(d, weight, dy, dx, ws, 1);
}

void ct_dw_backward_filter(const ct_conv2d_desc *d, const float *x, const float *dy,
                           float *dweight, float *ws) {
    const dw_parts s = parts(d, ws); /* (taps: the sums, over every chunk) */
    const int oc = d->oc, c = d->c;
    const row_fma_fn axpy = row_fma();
    memset(s.taps, 0, (size_t)s.kk * oc * sizeof(float));
    for (int i0 = 0; i0 < d->n; i0 += s.chunk) {
        const int nc = d->n - i0 < s.chunk ? d->n - i0 : s.chunk;
        transpose(x + (size_t)i0 * c * s.hw, (size_t)nc * c, (size_t)s.hw, s.xt);
        transpose(dy + (size_t)i0 * oc * s.P, (size_t)nc * oc, (size_t)s.P, s.yt);
        for (int p = 0; p < s.P; p++)
            for (int t = 0; t < s.kk; t++) {
                const int q = tap_input(d, p, t);
                if (q < 0) continue;
                float *restrict sum = s.taps + (size_t)t * oc;
                for (int i = 0; i < nc; i++) { /* dw[tap][:] += dy[p][i][:] * x[q][i][:] */
                    const float *restrict g = s.yt + ((size_t)p * nc + i) * oc;
                    const float *restrict in = s.xt + ((size_t)q * nc + i) * c;
                    if (s.mult == 1)
                        axpy(sum, g, in, oc);
                    else
                        for (int o = 0; o < oc; o++) sum[o] += g[o] * in[o / s.mult];
                }
            }
    }
    for (int o = 0; o < oc; o++)
        for (int t = 0; t < s.kk; t++) dweight[o * s.kk + t] = s.taps[t * oc + o];
}
