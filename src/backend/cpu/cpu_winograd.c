/*
 * cpu_winograd.c — 3x3 stride-1 convolutions by Winograd's minimal filtering F(4x4, 3x3)
 * (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks", 2016), for the layers with
 * enough channels that im2col's products dominate (the cnn preset's 32 -> 64 conv2: 50% of an
 * epoch in GEMM kernels, 18% in im2col/col2im). Each 4x4 output tile is
 *     Y = AT · [ (G g G^T) ⊙ (BT d B) ] · A
 * for a 6x6 input patch d and a 3x3 filter g: 36 products per tile and channel pair instead of
 * 144. Over a block of tiles the elementwise products become 36 matrix products
 *     M[p] (cout, tiles) = U[p] (cout, cin) · V[p] (cin, tiles)
 * done by the backend's gemm, and the transforms copy each input element 36/16 = 2.25 times
 * instead of im2col's 9.
 *
 * The three ops of backend.h:
 *   forward          the above, bias added by the output transform (no second pass over y);
 *   backward_data    the adjoint of the forward algorithm on the same tiles:
 *                    dV[p] = U[p]^T · (A dY AT)[p], and each tile's B dV BT added into dx
 *                    (a 4x4 gather of dy per tile instead of the 6x6 of a "full"
 *                    convolution of dy, and the forward's tile count);
 *   backward_filter  the exact gradient of the forward algorithm: dU[p] = sum over tiles of
 *                    (A dY AT)[p] · (BT d B)[p]^T, then dweight = G^T dU G.
 * In exact arithmetic all three equal the direct convolution; in float the transforms' integer
 * coefficients (up to 8) and 1/6, 1/12, 1/24 make the rounding error larger than im2col's (in
 * test_nn_ops, 5-40x, yet at most a quarter of the tolerances both paths are held to).
 *
 * Tiles are numbered across the batch (image-major), so that small images still fill a block of
 * WINO_TB tiles; the transforms work on a vector of tiles, 16 (AVX-512, baseline) or 8 (AVX2)
 * (cpu_winograd_impl.h, compiled for each instruction set as kernels.c and picked by the same
 * CTRAIN_CPU_ISA choice).
 */
#include "backend/cpu/cpu_winograd.h"
#include "backend/cpu/kernels.h"
#include "core/core.h"

#include <stdint.h>
#include <string.h>

#define WINO_M 4               /* output tile */
#define WINO_A (WINO_M + 2)    /* input tile (alpha) */
#define WINO_TB 64             /* tiles per block: U, V and M of the cnn conv2 then take 1.2 MB,
                                  about the L2; measured, 64 beat 32, 128 and 256 in each op */
#define WINO_MIN_CH 16         /* below this many input or output channels the products are
                                  too thin to pay for the transforms (conv1 of cnn has 1) */
#define WINO_MAX_U_BYTES (16u << 20) /* the transformed filters sit in every CPU thread's
                                  workspace: wider layers (over ~340 x 340 channels) stay on
                                  im2col rather than hold 16+ MiB per thread */

/* F(4x4, 3x3) with the interpolation points 0, 1, -1, 2, -2 (and infinity). */
static const float k_bt[WINO_A][WINO_A] = {
    {4, 0, -5, 0, 1, 0},  {0, -4, -4, 1, 1, 0}, {0, 4, -4, -1, 1, 0},
    {0, -2, -1, 2, 1, 0}, {0, 2, -1, -2, 1, 0}, {0, 4, 0, -5, 0, 1},
};
static const float k_b[WINO_A][WINO_A] = { /* k_bt transposed, for the adjoint */
    {4, 0, 0, 0, 0, 0},   {0, -4, 4, -2, 2, 4}, {-5, -4, -4, -1, -1, 0},
    {0, 1, -1, 2, -2, -5}, {1, 1, 1, 1, 1, 0},   {0, 0, 0, 0, 0, 1},
};
static const float k_at[WINO_M][WINO_A] = {
    {1, 1, 1, 1, 1, 0}, {0, 1, -1, 2, -2, 0}, {0, 1, 1, 4, 4, 0}, {0, 1, -1, 8, -8, 1},
};
static const float k_a[WINO_A][WINO_M] = { /* k_at transposed, for the adjoint */
    {1, 0, 0, 0}, {1, 1, 1, 1}, {1, -1, 1, -1}, {1, 2, 4, 8}, {1, -2, 4, -8}, {0, 0, 0, 1},
};
static const double k_g[WINO_A][3] = { /* in double: the filter transforms are cheap */
    {1.0 / 4, 0, 0},
    {-1.0 / 6, -1.0 / 6, -1.0 / 6},
    {-1.0 / 6, 1.0 / 6, -1.0 / 6},
    {1.0 / 24, 1.0 / 12, 1.0 / 6},
    {1.0 / 24, -1.0 / 12, 1.0 / 6},
    {0, 0, 1},
};

/* The convolution as the transforms see it: input (n, cin, hin, win), output (n, cout, hout,
 * wout), output (oy, ox) reading the input from (oy - pad_h, ox - pad_w). */
typedef struct {
    int n, cin, hin, win, cout, hout, wout, pad_h, pad_w;
} wino_geom;

typedef struct {
    int img, oy, ox; /* image (-1: a padding lane) and the tile's first output row, column */
} wino_tile;

typedef float v4 __attribute__((vector_size(16)));
typedef float v8 __attribute__((vector_size(32)));
typedef float v16 __attribute__((vector_size(64)));
typedef int32_t v16i __attribute__((vector_size(64)));
typedef int32_t v8i __attribute__((vector_size(32)));

typedef struct { /* up to 16 tiles as vector lanes (impl's lanes()) */
    int64_t off[16]; /* each tile window's first element in the batch tensor */
    int fast[16];    /* 1: whole rows of the window can be read or added to without checks */
    /* a window at the plane's border (not fast): its rows [r0, r1) and columns [s0, s1) are
     * inside the plane; edge: 1 when rows of `wide` floats from the window's columns of those
     * rows lie inside the tensor (their columns outside [s0, s1) then masked off by cols). Such
     * a row may reach into the next row, plane or image, which input_adj reads, adds 0 to and
     * writes back (as the fast path does its two spare columns): one thread must own the whole
     * tensor, as each CPU shard owns its activations and gradients. */
    int r0[16], r1[16], edge[16];
    v8i cols[16];
} wino_lanes;

/* the 16 x 16 transpose's permutes: element k of row i (LO) or i + s (HI) from rows i (0..15)
 * and i + s (16..31) */
#define WINO_LO8 {0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23}
#define WINO_HI8 {8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31}
#define WINO_LO4 {0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27}
#define WINO_HI4 {4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31}
#define WINO_LO2 {0, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24, 25, 12, 13, 28, 29}
#define WINO_HI2 {2, 3, 18, 19, 6, 7, 22, 23, 10, 11, 26, 27, 14, 15, 30, 31}
#define WINO_LO1 {0, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26, 12, 28, 14, 30}
#define WINO_HI1 {1, 17, 3, 19, 5, 21, 7, 23, 9, 25, 11, 27, 13, 29, 15, 31}
/* and the 8 x 8 transpose's (rows 0..7 and 8..15) */
#define WINO8_LO4 {0, 1, 2, 3, 8, 9, 10, 11}
#define WINO8_HI4 {4, 5, 6, 7, 12, 13, 14, 15}
#define WINO8_LO2 {0, 1, 8, 9, 4, 5, 12, 13}
#define WINO8_HI2 {2, 3, 10, 11, 6, 7, 14, 15}
#define WINO8_LO1 {0, 8, 2, 10, 4, 12, 6, 14}
#define WINO8_HI1 {1, 9, 3, 11, 5, 13, 7, 15}

/* Floats between the (rows, tp) matrices of two positions in V and M: one cache line more than
 * the matrix, so that the 36 rows a transform reads or writes for one channel do not all map to
 * the same cache sets (rows * tp * 4 bytes is a multiple of 4 KiB for the cnn shapes; this
 * made each op 7-10% faster in a micro-benchmark). */
static inline size_t pos_stride(int rows, int tp) { return (size_t)rows * tp + 16; }

typedef struct {
    void (*input_tf)(const wino_geom *g, const float *x, const wino_tile *tiles, int tp, float *V);
    void (*output_tf)(const wino_geom *g, const float *M, const wino_tile *tiles, int cnt, int tp,
                      const float *bias, int relu, float *y);
    void (*output_adj)(const wino_geom *g, const float *dy, const wino_tile *tiles, int tp,
                       float *dM);
    void (*input_adj)(const wino_geom *g, const float *dV, const wino_tile *tiles, int cnt, int tp,
                      float *dx);
} wino_kernels;

/* The transforms use GCC's vector extensions (__builtin_shuffle; __builtin_shufflevector from
 * GCC 12): with another compiler the layers stay on im2col (ct_wino_eligible says no). */
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
#define WINO_BUILT 1
#else
#define WINO_BUILT 0
#endif

#if WINO_BUILT && defined(__x86_64__)
#pragma GCC push_options
#pragma GCC target("arch=x86-64-v4")
#define WNAME(f) f##_v4
#define WL 16
#include "backend/cpu/cpu_winograd_impl.h"
#undef WL
#undef WNAME
#pragma GCC pop_options
#pragma GCC push_options
#pragma GCC target("arch=x86-64-v3")
#define WNAME(f) f##_v3
#define WL 8
#include "backend/cpu/cpu_winograd_impl.h"
#undef WL
#undef WNAME
#pragma GCC pop_options
#endif
#if WINO_BUILT
#define WNAME(f) f##_base
#define WL 16
#include "backend/cpu/cpu_winograd_impl.h"
#undef WL
#undef WNAME
#endif

/* The transforms for the instruction set the GEMM kernels use (CTRAIN_CPU_ISA included). */
static const wino_kernels *pick(void) {
#if !WINO_BUILT
    return NULL; /* never asked: no layer is eligible */
#else
    static const wino_kernels base = {input_tf_base, output_tf_base, output_adj_base,
                                       input_adj_base};
#if defined(__x86_64__)
    static const wino_kernels v3 = {input_tf_v3, output_tf_v3, output_adj_v3, input_adj_v3};
    static const wino_kernels v4 = {input_tf_v4, output_tf_v4, output_adj_v4, input_adj_v4};
    const char *isa = ct_small_gemm_isa();
    if (strcmp(isa, "AVX-512") == 0) return &v4;
    if (strcmp(isa, "AVX2") == 0) return &v3;
#endif
    return &base;
#endif
}

/* ------------------------------------------------------------------------------------------ */
/* shapes and workspace                                                                        */

static int64_t tiles_of(int hout, int wout) {
    return (int64_t)((hout + WINO_M - 1) / WINO_M) * ((wout + WINO_M - 1) / WINO_M);
}

/* Also: at least half of the tiles' 4x4 outputs inside the plane (36 products a tile against
 * im2col's 9 an output: 2x fewer at half); a 2x2 or 5x5 plane stays on im2col, which takes
 * the small planes of many images in one product (cpu_nn.c) */
int ct_wino_eligible(const ct_conv2d_desc *d) {
    return WINO_BUILT && d->kh == 3 && d->kw == 3 && d->stride_h == 1 && d->stride_w == 1 &&
           ct_conv_groups(d) == 1 && d->c >= WINO_MIN_CH && d->oc >= WINO_MIN_CH &&
           (size_t)WINO_A * WINO_A * d->oc * d->c * sizeof(float) <= WINO_MAX_U_BYTES &&
           (int64_t)d->oh * d->ow * 2 >= tiles_of(d->oh, d->ow) * WINO_M * WINO_M;
}

static int round16(int64_t t) { return (int)((t + 15) / 16 * 16); }

/* The tiles in a block (all three ops tile the output): grows with d->n, so a workspace sized
 * for the largest batch fits every call. */
static int block_width(const ct_conv2d_desc *d) {
    int64_t t = (int64_t)d->n * tiles_of(d->oh, d->ow);
    return round16(t < WINO_TB ? t : WINO_TB);
}

/* U (36, oc, c), then V and M: 36 matrices (max(c, oc), block) each, pos_stride apart, then
 * dU (36, oc, c) for ct_wino_backward (which needs U and dU at once). */
size_t ct_wino_workspace(const ct_conv2d_desc *d) {
    int wide = d->c > d->oc ? d->c : d->oc;
    return (size_t)WINO_A * WINO_A *
           (2 * (size_t)d->oc * d->c + 2 * pos_stride(wide, block_width(d))) * sizeof(float);
}

/* ------------------------------------------------------------------------------------------ */
/* filter transforms (double inside, once per call: oc*c filters against n*tiles products)     */

/* U[p][o][ci] = (G g G^T)[p] for every filter g = w[o][ci] (oc, c, 3, 3), 16 filters at a time
 * so that the writes to the 36 matrices are runs of 16 (one at a time they touch 36 lines in
 * 36 pages per filter). */
static void filter_tf(const float *w, int oc, int c, float *U) {
    const size_t nf = (size_t)oc * c; /* filters, and the floats between positions of U */
    float u[16][WINO_A * WINO_A];
    for (size_t f0 = 0; f0 < nf; f0 += 16) {
        const size_t cnt = nf - f0 < 16 ? nf - f0 : 16;
        for (size_t f = 0; f < cnt; f++) {
            const float *g = w + (f0 + f) * 9;
            double t[WINO_A][3];
            for (int i = 0; i < WINO_A; i++)
                for (int l = 0; l < 3; l++)
                    t[i][l] = k_g[i][0] * g[l] + k_g[i][1] * g[3 + l] + k_g[i][2] * g[6 + l];
            for (int i = 0; i < WINO_A; i++)
                for (int j = 0; j < WINO_A; j++)
                    u[f][i * WINO_A + j] =
                        (float)(t[i][0] * k_g[j][0] + t[i][1] * k_g[j][1] + t[i][2] * k_g[j][2]);
        }
        for (int p = 0; p < WINO_A * WINO_A; p++)
            for (size_t f = 0; f < cnt; f++) U[p * nf + f0 + f] = u[f][p];
    }
}

/* dweight[o][ci] (oc, c, 3, 3) = G^T dU[.][o][ci] G: the adjoint of filter_tf. */
static void filter_adj(const float *dU, int oc, int c, float *dw) {
    const size_t pstride = (size_t)oc * c;
    for (int o = 0; o < oc; o++)
        for (int ci = 0; ci < c; ci++) {
            const float *du = dU + (size_t)o * c + ci;
            double t[3][WINO_A];
            for (int k = 0; k < 3; k++)
                for (int j = 0; j < WINO_A; j++) {
                    double s = 0.0;
                    for (int i = 0; i < WINO_A; i++)
                        s += k_g[i][k] * du[(i * WINO_A + j) * pstride];
                    t[k][j] = s;
                }
            float *g = dw + ((size_t)o * c + ci) * 9;
            for (int k = 0; k < 3; k++)
                for (int l = 0; l < 3; l++) {
                    double s = 0.0;
                    for (int j = 0; j < WINO_A; j++) s += t[k][j] * k_g[j][l];
                    g[k * 3 + l] = (float)s;
                }
        }
}

/* ------------------------------------------------------------------------------------------ */
/* the blocked loop                                                                            */

/* tiles[0, tp) for the batch's tiles g0 .. g0+cnt-1 of an output (hout, wout), then padding
 * lanes up to tp. */
static void block_tiles(const wino_geom *g, int64_t g0, int cnt, int tp, wino_tile *tiles) {
    const int tw = (g->wout + WINO_M - 1) / WINO_M;
    const int64_t per = tiles_of(g->hout, g->wout);
    for (int t = 0; t < tp; t++) {
        if (t >= cnt) {
            tiles[t] = (wino_tile){-1, 0, 0};
            continue;
        }
        int64_t q = (g0 + t) % per;
        tiles[t] = (wino_tile){(int)((g0 + t) / per), (int)(q / tw) * WINO_M,
                               (int)(q % tw) * WINO_M};
    }
}

/* out = conv(in) + bias (then max(., 0) with relu) for n images with the transformed filters U
 * (36, cout, cin). */
static ct_status wino_run(ct_backend *b, const wino_geom *g, int n, const float *U,
                          const float *in, const float *bias, int relu, float *out, float *V,
                          float *M) {
    const wino_kernels *ks = pick();
    const int64_t total = (int64_t)n * tiles_of(g->hout, g->wout);
    wino_tile tiles[WINO_TB];
    for (int64_t g0 = 0; g0 < total; g0 += WINO_TB) {
        const int cnt = (int)(total - g0 < WINO_TB ? total - g0 : WINO_TB), tp = round16(cnt);
        block_tiles(g, g0, cnt, tp, tiles);
        ks->input_tf(g, in, tiles, tp, V);
        for (int p = 0; p < WINO_A * WINO_A; p++) /* M[p] (cout, tp) = U[p] · V[p] (cin, tp) */
            CT_TRY(b->gemm(b, 0, 0, g->cout, tp, g->cin, 1.0f, U + (size_t)p * g->cout * g->cin,
                           g->cin, V + p * pos_stride(g->cin, tp), tp, 0.0f,
                           M + p * pos_stride(g->cout, tp), tp));
        ks->output_tf(g, M, tiles, cnt, tp, bias, relu, out);
    }
    return CT_OK;
}

static wino_geom geom_of(const ct_conv2d_desc *d) {
    return (wino_geom){d->n, d->c, d->h, d->w, d->oc, d->oh, d->ow, d->pad_h, d->pad_w};
}

/* The workspace's first three parts for d (the fourth, dU, follows M: ws_dU). */
static void ws_parts(const ct_conv2d_desc *d, void *ws, float **U, float **V, float **M) {
    size_t wide = (size_t)(d->c > d->oc ? d->c : d->oc);
    *U = ws;
    *V = *U + (size_t)WINO_A * WINO_A * d->oc * d->c;
    *M = *V + WINO_A * WINO_A * pos_stride((int)wide, block_width(d));
}
static float *ws_dU(const ct_conv2d_desc *d, float *M) {
    size_t wide = (size_t)(d->c > d->oc ? d->c : d->oc);
    return M + WINO_A * WINO_A * pos_stride((int)wide, block_width(d));
}

ct_status ct_wino_forward(ct_backend *b, const ct_conv2d_desc *d, const float *x,
                          const float *weight, const float *bias, float *y, void *ws) {
    float *U, *V, *M;
    ws_parts(d, ws, &U, &V, &M);
    wino_geom g = geom_of(d);
    filter_tf(weight, d->oc, d->c, U);
    return wino_run(b, &g, d->n, U, x, bias, d->relu, y, V, M);
}

/* The adjoint of the forward algorithm, per block of tiles: dM = A dY AT (dy's transform);
 * with dweight, dU[p] += dM[p] · V[p]^T (V: x's transform) and finally dweight = G^T dU G; with
 * dx, dV[p] = U[p]^T · dM[p] (into V, which the first product has consumed) and dx = sum over
 * tiles of B dV BT (the input gradient of the same tiles, with the same unflipped filters).
 * Asked for both, dy is transformed once; each result is the same as when asked alone. */
ct_status ct_wino_backward(ct_backend *b, const ct_conv2d_desc *d, const float *x,
                           const float *dy, const float *weight, float *dx, float *dweight,
                           void *ws) {
    float *U, *V, *dM;
    ws_parts(d, ws, &U, &V, &dM);
    float *dU = ws_dU(d, dM);
    const wino_kernels *ks = pick();
    wino_geom g = geom_of(d);
    const int64_t total = (int64_t)d->n * tiles_of(d->oh, d->ow);
    if (dx) {
        filter_tf(weight, d->oc, d->c, U);
        memset(dx, 0, (size_t)d->n * d->c * d->h * d->w * sizeof(float));
    }
    if (dweight && total == 0) memset(dweight, 0, (size_t)d->oc * d->c * 9 * sizeof(float));
    wino_tile tiles[WINO_TB];
    for (int64_t g0 = 0; g0 < total; g0 += WINO_TB) {
        const int cnt = (int)(total - g0 < WINO_TB ? total - g0 : WINO_TB), tp = round16(cnt);
        block_tiles(&g, g0, cnt, tp, tiles);
        if (dweight) ks->input_tf(&g, x, tiles, tp, V);
        ks->output_adj(&g, dy, tiles, tp, dM);
        for (int p = 0; p < WINO_A * WINO_A; p++) {
            if (dweight) /* dU[p] (oc, c) += dM[p] · V[p]^T */
                CT_TRY(b->gemm(b, 0, 1, d->oc, d->c, tp, 1.0f, dM + p * pos_stride(d->oc, tp),
                               tp, V + p * pos_stride(d->c, tp), tp, g0 ? 1.0f : 0.0f,
                               dU + (size_t)p * d->oc * d->c, d->c));
            if (dx) /* dV[p] (c, tp) = U[p]^T · dM[p] (oc, tp), over V[p] */
                CT_TRY(b->gemm(b, 1, 0, d->c, tp, d->oc, 1.0f, U + (size_t)p * d->oc * d->c,
                               d->c, dM + p * pos_stride(d->oc, tp), tp, 0.0f,
                               V + p * pos_stride(d->c, tp), tp));
        }
        if (dx) ks->input_adj(&g, V, tiles, cnt, tp, dx);
    }
    if (dweight && total > 0) filter_adj(dU, d->oc, d->c, dweight);
    return CT_OK;
}
