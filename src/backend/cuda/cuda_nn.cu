/*
 * cuda_nn.cu — the CUDA backend's CNN ops (semantics: backend.h; the reference is
 * backend/cpu/cpu_nn.c, which these mirror operation for operation): conv2d through a batched
 * im2col + one cuBLAS GEMM per chunk of images (and group), max/average pooling, batch and
 * group normalisation and gradient clipping (sumsq, clip_scale, clip_value). Dropout:
 * cuda_ops.cu; the optimizers' updates: cuda_optim.cu.
 *
 * Determinism: pooling and col2im backward gather (each input element sums its windows in
 * increasing output order, like the CPU's scatter) instead of scattering with atomics; batch
 * norm reduces one channel per block in double. Only sumsq adds block partials with double
 * atomics (the order of those additions may vary in the last bits).
 */
#include "backend/cuda/cuda_internal.h"

#include <limits.h>
#include <math.h>

#define CT_NN_THREADS 256       /* threads per block */
#define CT_NN_BLOCKS_PER_SM 32  /* grid-stride grids stop growing here */
#define CT_NN_MAX_WARPS 32
/* conv2d processes the batch in chunks whose workspace (columns + transposed output) stays
 * under this, so that large batches do not need gigabytes of scratch */
#define CT_CONV_WORKSPACE_CAP_BYTES ((size_t)256 << 20)

static unsigned nn_grid(const ct_cuda *cb, int64_t n) {
    int64_t blocks = (n + CT_NN_THREADS - 1) / CT_NN_THREADS;
    int64_t cap = (int64_t)cb->sm_count * CT_NN_BLOCKS_PER_SM;
    if (blocks < 1) blocks = 1;
    return (unsigned)(blocks < cap ? blocks : cap);
}

#define NN_GRID_STRIDE(i, n)                                                               \
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n);              \
         i += (int64_t)gridDim.x * blockDim.x)

/* Sum over the block in double (blockDim.x a multiple of 32, at most 1024); valid in every
 * thread on return. */
__device__ double block_sum_double(double v) {
    __shared__ double partial[CT_NN_MAX_WARPS];
    __shared__ double total;
    int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    for (int o = 16; o > 0; o /= 2) v += __shfl_xor_sync(0xffffffffu, v, o);
    __syncthreads(); /* partial/total may still be read by a previous call */
    if (lane == 0) partial[warp] = v;
    __syncthreads();
    if (threadIdx.x == 0) {
        double t = 0.0;
        for (int k = 0; k < (int)(blockDim.x / 32); k++) t += partial[k];
        total = t;
    }
    __syncthreads();
    return total;
}

/* ------------------------------------------------------------------------------------------ */
/* conv2d                                                                                      */

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

/* Images per chunk: the workspace of a chunk is (K + OC) * chunk * P floats. */
static int conv_chunk(const ct_conv2d_desc *d) {
    size_t per_image = (size_t)(d->c * d->kh * d->kw + d->oc) * d->oh * d->ow * sizeof(float);
    size_t chunk = CT_CONV_WORKSPACE_CAP_BYTES / per_image;
    if (chunk < 1) chunk = 1;
    return (int)(chunk < (size_t)d->n ? chunk : (size_t)d->n);
}

static size_t im2col_bytes(const ct_conv2d_desc *d) {
    return (size_t)(d->c * d->kh * d->kw + d->oc) * d->oh * d->ow * conv_chunk(d) * sizeof(float);
}

/* What cuDNN's algorithms may need beyond im2col's workspace: 1 GiB, or a sixteenth of a
 * smaller GPU's memory (the GPU's size, not what is free, so the same algorithms each run). */
static size_t dnn_cap(const ct_cuda *cb) {
    size_t cap = cb->mem_total / 16;
    return cap < ((size_t)1 << 30) ? cap : (size_t)1 << 30;
}

/* For either path: the larger of im2col's and what cuDNN's plan for d's shape (made here, its
 * algorithms taking at most dnn_cap or im2col's) needs at d->n. */
static size_t cuda_conv2d_workspace(ct_backend *b, const ct_conv2d_desc *d) {
    size_t bytes = im2col_bytes(d);
    if (conv_check(d, "conv2d_workspace") != CT_OK) return bytes;
    ct_cuda *cb = ct_cuda_of(b);
    size_t cap = dnn_cap(cb) > bytes ? dnn_cap(cb) : bytes;
    size_t dnn = ct_cuda_dnn_plan(cb, d, cap);
    return dnn > bytes ? dnn : bytes;
}

/* The bytes at an op's ws: d->ws_bytes, or (0) conv2d_workspace(d) exactly; *have = them.
 * Refuses a workspace too small for im2col (cuDNN's is checked by ct_cuda_dnn_planned). */
static ct_status conv_ws(ct_backend *b, const ct_conv2d_desc *d, const char *op, size_t *have) {
    *have = d->ws_bytes ? d->ws_bytes : cuda_conv2d_workspace(b, d);
    size_t need = im2col_bytes(d);
    if (*have < need)
        return ct_fail(CT_ERR_INVALID, "%s: a workspace of %zu bytes, %zu needed", op, *have,
                       need);
    return CT_OK;
}

/* cols (K, nc*P) from images x (nc, C, H, W): cols[k][j*P + p], zero outside the image. A
 * thread an input channel, image and output place (ci, j, p) writes its kh*kw rows k = ci*kh*kw
 * + (ki, kj) (Caffe's im2col_gpu: the index divided out once for all taps, not once a value;
 * neighbouring threads write neighbouring places of a row). */
__global__ void im2col_kernel(const float *x, float *cols, ct_conv2d_desc d, int nc) {
    const int64_t P = (int64_t)d.oh * d.ow, NP = (int64_t)nc * P, HW = (int64_t)d.h * d.w;
    NN_GRID_STRIDE(e, (int64_t)d.c * NP) {
        int64_t ci = e / NP, r = e - ci * NP, j = r / P, p = r - j * P;
        int oy = (int)(p / d.ow), ox = (int)(p - (int64_t)oy * d.ow);
        const float *xc = x + (j * d.c + ci) * HW;
        float *col = cols + ci * d.kh * d.kw * NP + r;
        for (int ki = 0; ki < d.kh; ki++) {
            int iy = oy * d.stride_h - d.pad_h + ki;
            for (int kj = 0; kj < d.kw; kj++) {
                int ix = ox * d.stride_w - d.pad_w + kj;
                col[(int64_t)(ki * d.kw + kj) * NP] =
                    iy >= 0 && iy < d.h && ix >= 0 && ix < d.w ? xc[(int64_t)iy * d.w + ix] : 0.0f;
            }
        }
    }
}

/* dx (nc, C, H, W) = cols (K, nc*P) folded back: each input element sums its (ki, kj) taps in
 * increasing order (the CPU's col2im adds them in that order too). */
__global__ void col2im_kernel(const float *cols, float *dx, ct_conv2d_desc d, int nc) {
    const int64_t P = (int64_t)d.oh * d.ow, HW = (int64_t)d.h * d.w;
    NN_GRID_STRIDE(e, (int64_t)nc * d.c * HW) {
        int64_t jc = e / HW, q = e - jc * HW;
        int j = (int)(jc / d.c), ci = (int)(jc - (int64_t)j * d.c);
        int iy = (int)(q / d.w), ix = (int)(q - (int64_t)iy * d.w);
        float s = 0.0f;
        for (int ki = 0; ki < d.kh; ki++) {
            int ty = iy + d.pad_h - ki;
            if (ty < 0 || ty % d.stride_h) continue;
            int oy = ty / d.stride_h;
            if (oy >= d.oh) continue;
            for (int kj = 0; kj < d.kw; kj++) {
                int tx = ix + d.pad_w - kj;
                if (tx < 0 || tx % d.stride_w) continue;
                int ox = tx / d.stride_w;
                if (ox >= d.ow) continue;
                int64_t k = ((int64_t)ci * d.kh + ki) * d.kw + kj;
                s += cols[k * nc * P + (int64_t)j * P + (int64_t)oy * d.ow + ox];
            }
        }
        dx[e] = s;
    }
}

/* y (nc, OC, P) = t (OC, nc*P) transposed per image, + bias (OC) when not NULL */
__global__ void conv_out_kernel(const float *t, const float *bias, float *y, int oc, int nc,
                                int64_t P) {
    NN_GRID_STRIDE(e, (int64_t)nc * oc * P) {
        int64_t jo = e / P, p = e - jo * P;
        int j = (int)(jo / oc), o = (int)(jo - (int64_t)j * oc);
        float v = t[(int64_t)o * nc * P + (int64_t)j * P + p];
        y[e] = bias ? v + bias[o] : v;
    }
}

/* t (OC, nc*P) = dy (nc, OC, P) transposed per image */
__global__ void conv_dy_kernel(const float *dy, float *t, int oc, int nc, int64_t P) {
    NN_GRID_STRIDE(e, (int64_t)nc * oc * P) {
        int64_t jo = e / P, p = e - jo * P;
        int j = (int)(jo / oc), o = (int)(jo - (int64_t)j * oc);
        t[(int64_t)o * nc * P + (int64_t)j * P + p] = dy[e];
    }
}

/* y = conv(x) + bias, by cuDNN or im2col and cuBLAS (d->relu is cuda_conv2d_forward's). */
static ct_status conv_forward_linear(ct_backend *b, const ct_conv2d_desc *d, const float *x,
                                     const float *weight, const float *bias, float *y, void *ws) {
    ct_cuda *cb = ct_cuda_of(b);
    CT_CUDA_BIND(cb);
    size_t have;
    CT_TRY(conv_ws(b, d, "conv2d_forward", &have));
    if (ct_cuda_dnn_planned(cb, d, have))
        return ct_cuda_dnn_forward(cb, d, x, weight, bias, y, ws);
    const int K = d->c * d->kh * d->kw, chunk = conv_chunk(d), g = ct_conv_groups(d);
    const int Kg = K / g, OCg = d->oc / g;
    const int64_t P = (int64_t)d->oh * d->ow, in_size = (int64_t)d->c * d->h * d->w;
    float *cols = (float *)ws, *t = cols + (int64_t)K * chunk * P; // (K, nc*P), (OC, nc*P)
    for (int i0 = 0; i0 < d->n; i0 += chunk) {
        int nc = d->n - i0 < chunk ? d->n - i0 : chunk;
        int cols_n = (int)(nc * P);
        im2col_kernel<<<nn_grid(cb, (int64_t)d->c * cols_n), CT_NN_THREADS, 0, cb->compute>>>(
            x + i0 * in_size, cols, *d, nc);
        CT_CUDA_CHECK_LAUNCH("im2col_kernel");
        /* t_j (OC/g, nc*P) = weight_j (OC/g, K/g) · cols_j (K/g, nc*P) for each group j */
        CT_TRY(ct_gemm_groups(b, g, 0, 0, OCg, cols_n, Kg, weight, Kg, (size_t)OCg * Kg, cols,
                              cols_n, (size_t)Kg * cols_n, 0.0f, t, cols_n, (size_t)OCg * cols_n));
        conv_out_kernel<<<nn_grid(cb, (int64_t)d->oc * cols_n), CT_NN_THREADS, 0, cb->compute>>>(
            t, bias, y + (int64_t)i0 * d->oc * P, d->oc, nc, P);
        CT_CUDA_CHECK_LAUNCH("conv_out_kernel");
    }
    return CT_OK;
}

static ct_status cuda_conv2d_forward(ct_backend *b, const ct_conv2d_desc *d, const float *x,
                                     const float *weight, const float *bias, float *y, void *ws) {
    CT_TRY(conv_check(d, "conv2d_forward"));
    if (d->n == 0) return CT_OK;
    ct_conv2d_desc linear = *d; /* the same cuDNN plan (and so bits) with or without the ReLU */
    linear.relu = 0;
    CT_TRY(conv_forward_linear(b, &linear, x, weight, bias, y, ws));
    if (!d->relu) return CT_OK;
    /* the fused ReLU, in place on the output (stream order) */
    return b->act_forward(b, CT_ACT_RELU, 0.0f, y, y, (int64_t)d->n * d->oc * d->oh * d->ow);
}

static ct_status cuda_conv2d_backward_data(ct_backend *b, const ct_conv2d_desc *d,
                                           const float *dy, const float *weight, float *dx,
                                           void *ws) {
    ct_cuda *cb = ct_cuda_of(b);
    CT_TRY(conv_check(d, "conv2d_backward_data"));
    if (d->n == 0) return CT_OK;
    CT_CUDA_BIND(cb);
    size_t have;
    CT_TRY(conv_ws(b, d, "conv2d_backward_data", &have));
    if (ct_cuda_dnn_planned(cb, d, have))
        return ct_cuda_dnn_backward_data(cb, d, dy, weight, dx, ws);
    const int K = d->c * d->kh * d->kw, chunk = conv_chunk(d), g = ct_conv_groups(d);
    const int Kg = K / g, OCg = d->oc / g;
    const int64_t P = (int64_t)d->oh * d->ow, in_size = (int64_t)d->c * d->h * d->w;
    float *cols = (float *)ws, *t = cols + (int64_t)K * chunk * P;
    for (int i0 = 0; i0 < d->n; i0 += chunk) {
        int nc = d->n - i0 < chunk ? d->n - i0 : chunk;
        int cols_n = (int)(nc * P);
        conv_dy_kernel<<<nn_grid(cb, (int64_t)d->oc * cols_n), CT_NN_THREADS, 0, cb->compute>>>(
            dy + (int64_t)i0 * d->oc * P, t, d->oc, nc, P);
        CT_CUDA_CHECK_LAUNCH("conv_dy_kernel");
        /* cols_j (K/g, nc*P) = weight_j^T (K/g, OC/g) · t_j (OC/g, nc*P) */
        CT_TRY(ct_gemm_groups(b, g, 1, 0, Kg, cols_n, OCg, weight, Kg, (size_t)OCg * Kg, t, cols_n,
                              (size_t)OCg * cols_n, 0.0f, cols, cols_n, (size_t)Kg * cols_n));
        col2im_kernel<<<nn_grid(cb, (int64_t)nc * in_size), CT_NN_THREADS, 0, cb->compute>>>(
            cols, dx + i0 * in_size, *d, nc);
        CT_CUDA_CHECK_LAUNCH("col2im_kernel");
    }
    return CT_OK;
}

static ct_status cuda_conv2d_backward_filter(ct_backend *b, const ct_conv2d_desc *d,
                                             const float *x, const float *dy, float *dweight,
                                             float *dbias, void *ws) {
    ct_cuda *cb = ct_cuda_of(b);
    CT_TRY(conv_check(d, "conv2d_backward_filter"));
    CT_CUDA_BIND(cb);
    const int K = d->c * d->kh * d->kw, g = ct_conv_groups(d), Kg = K / g, OCg = d->oc / g;
    const int64_t P = (int64_t)d->oh * d->ow, in_size = (int64_t)d->c * d->h * d->w;
    if (d->n == 0) {
        CT_CUDA_CHECK(cudaMemsetAsync(dweight, 0, (size_t)d->oc * Kg * sizeof(float), cb->compute));
        if (dbias) CT_CUDA_CHECK(cudaMemsetAsync(dbias, 0, (size_t)d->oc * sizeof(float), cb->compute));
        return CT_OK;
    }
    size_t have;
    CT_TRY(conv_ws(b, d, "conv2d_backward_filter", &have));
    if (ct_cuda_dnn_planned(cb, d, have)) {
        CT_TRY(ct_cuda_dnn_backward_filter(cb, d, x, dy, dweight, ws));
        return dbias ? b->bias_grad(b, dbias, dy, d->n, d->oc, P) : CT_OK;
    }
    const int chunk = conv_chunk(d);
    float *cols = (float *)ws, *t = cols + (int64_t)K * chunk * P;
    for (int i0 = 0; i0 < d->n; i0 += chunk) {
        int nc = d->n - i0 < chunk ? d->n - i0 : chunk;
        int cols_n = (int)(nc * P);
        conv_dy_kernel<<<nn_grid(cb, (int64_t)d->oc * cols_n), CT_NN_THREADS, 0, cb->compute>>>(
            dy + (int64_t)i0 * d->oc * P, t, d->oc, nc, P);
        CT_CUDA_CHECK_LAUNCH("conv_dy_kernel");
        im2col_kernel<<<nn_grid(cb, (int64_t)d->c * cols_n), CT_NN_THREADS, 0, cb->compute>>>(
            x + i0 * in_size, cols, *d, nc);
        CT_CUDA_CHECK_LAUNCH("im2col_kernel");
        /* dweight_j (OC/g, K/g) (+)= t_j (OC/g, nc*P) · cols_j^T (nc*P, K/g) */
        CT_TRY(ct_gemm_groups(b, g, 0, 1, OCg, Kg, cols_n, t, cols_n, (size_t)OCg * cols_n, cols,
                              cols_n, (size_t)Kg * cols_n, i0 ? 1.0f : 0.0f, dweight, Kg,
                              (size_t)OCg * Kg));
    }
    if (dbias) CT_TRY(b->bias_grad(b, dbias, dy, d->n, d->oc, P));
    return CT_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* pooling                                                                                     */

static ct_status pool_check(const ct_pool2d_desc *d, const char *op) {
    if (d->n < 0 || d->c <= 0 || d->h <= 0 || d->w <= 0 || d->kh <= 0 || d->kw <= 0 ||
        d->stride_h <= 0 || d->stride_w <= 0 || d->pad_h < 0 || d->pad_w < 0 ||
        2 * d->pad_h > d->kh || 2 * d->pad_w > d->kw ||
        d->oh != (d->h + 2 * d->pad_h - d->kh) / d->stride_h + 1 ||
        d->ow != (d->w + 2 * d->pad_w - d->kw) / d->stride_w + 1 || d->oh <= 0 || d->ow <= 0 ||
        (int64_t)d->h * d->w > INT32_MAX) /* (argmax holds an int32 index within a plane) */
        return ct_fail(CT_ERR_INVALID, "%s: inconsistent shape (n %d, c %d, %dx%d, kernel %dx%d, "
                       "stride %d,%d, pad %d,%d, out %dx%d)", op, d->n, d->c, d->h, d->w, d->kh,
                       d->kw, d->stride_h, d->stride_w, d->pad_h, d->pad_w, d->oh, d->ow);
    return CT_OK;
}

/* The window of output (oy, ox) clipped to the image: rows [y0, y1), columns [x0, x1). */
__device__ __forceinline__ void pool_window(const ct_pool2d_desc &d, int oy, int ox, int *y0,
                                            int *y1, int *x0, int *x1) {
    int a = oy * d.stride_h - d.pad_h, c = ox * d.stride_w - d.pad_w;
    *y1 = a + d.kh < d.h ? a + d.kh : d.h;
    *x1 = c + d.kw < d.w ? c + d.kw : d.w;
    *y0 = a < 0 ? 0 : a;
    *x0 = c < 0 ? 0 : c;
}

/* The outputs whose windows hold input (iy, ix): rows [*o0, *o1], columns [*p0, *p1]. */
__device__ __forceinline__ void pool_covering(const ct_pool2d_desc &d, int iy, int ix, int *o0,
                                              int *o1, int *p0, int *p1) {
    int a = iy + d.pad_h - d.kh, c = ix + d.pad_w - d.kw;
    *o0 = a < 0 ? 0 : a / d.stride_h + 1;
    *p0 = c < 0 ? 0 : c / d.stride_w + 1;
    int e = (iy + d.pad_h) / d.stride_h, f = (ix + d.pad_w) / d.stride_w;
    *o1 = e < d.oh - 1 ? e : d.oh - 1;
    *p1 = f < d.ow - 1 ? f : d.ow - 1;
}

/* The pooling kernels: a block takes whole planes (pl, grid-stride over n*c), its threads the
 * plane's elements (i), so no element pays for a 64-bit division. (ncu on an H200 timed
 * max-pool backward at 0.37 ms for the cnn preset at batch 1024, several times what its memory
 * traffic needs; by instruction count, the divisions.) */
#define NN_PLANES(pl, planes, i, per)                                                      \
    for (int64_t pl = blockIdx.x; pl < (planes); pl += gridDim.x)                          \
        for (int i = (int)threadIdx.x; i < (per); i += (int)blockDim.x)

/* Launch shape of a per-plane kernel: per elements a plane (threads: per rounded up to a warp,
 * at most CT_NN_THREADS), n planes. */
static void plane_launch(const ct_cuda *cb, int64_t n, int per, unsigned *grid,
                         unsigned *threads) {
    int t = (per + 31) / 32 * 32;
    t = t < 32 ? 32 : t > CT_NN_THREADS ? CT_NN_THREADS : t;
    int64_t cap = (int64_t)cb->sm_count * CT_NN_BLOCKS_PER_SM * (CT_NN_THREADS / t);
    *grid = (unsigned)(n < cap ? n : cap);
    *threads = (unsigned)t;
}

__global__ void maxpool_forward_kernel(const float *x, float *y, int32_t *argmax,
                                       ct_pool2d_desc d) {
    const int P = d.oh * d.ow, HW = d.h * d.w;
    NN_PLANES(pl, (int64_t)d.n * d.c, p, P) {
        int oy = p / d.ow, ox = p - oy * d.ow, y0, y1, x0, x1;
        pool_window(d, oy, ox, &y0, &y1, &x0, &x1);
        const float *xp = x + pl * HW;
        const int64_t e = pl * P + p;
        float best = -INFINITY;
        int32_t arg = y0 * d.w + x0;
        for (int iy = y0; iy < y1; iy++)
            for (int ix = x0; ix < x1; ix++) {
                float v = xp[iy * d.w + ix];
                if (v > best || isnan(v)) {
                    best = v;
                    arg = iy * d.w + ix;
                }
            }
        y[e] = best;
        argmax[e] = arg;
    }
}

__global__ void maxpool_backward_kernel(const float *dy, const int32_t *argmax, float *dx,
                                        ct_pool2d_desc d) {
    const int P = d.oh * d.ow, HW = d.h * d.w;
    NN_PLANES(pl, (int64_t)d.n * d.c, q, HW) {
        int iy = q / d.w, ix = q - iy * d.w, o0, o1, p0, p1;
        pool_covering(d, iy, ix, &o0, &o1, &p0, &p1);
        const float *dyp = dy + pl * P;
        const int32_t *ap = argmax + pl * P;
        float s = 0.0f;
        for (int oy = o0; oy <= o1; oy++)
            for (int ox = p0; ox <= p1; ox++) {
                int o = oy * d.ow + ox;
                if (ap[o] == q) s += dyp[o];
            }
        dx[pl * HW + q] = s;
    }
}

__global__ void avgpool_forward_kernel(const float *x, float *y, ct_pool2d_desc d, float inv) {
    const int P = d.oh * d.ow, HW = d.h * d.w;
    NN_PLANES(pl, (int64_t)d.n * d.c, p, P) {
        int oy = p / d.ow, ox = p - oy * d.ow, y0, y1, x0, x1;
        pool_window(d, oy, ox, &y0, &y1, &x0, &x1);
        const float *xp = x + pl * HW;
        float s = 0.0f;
        for (int iy = y0; iy < y1; iy++)
            for (int ix = x0; ix < x1; ix++) s += xp[iy * d.w + ix];
        y[pl * P + p] = s * inv;
    }
}

__global__ void avgpool_backward_kernel(const float *dy, float *dx, ct_pool2d_desc d, float inv) {
    const int P = d.oh * d.ow, HW = d.h * d.w;
    NN_PLANES(pl, (int64_t)d.n * d.c, q, HW) {
        int iy = q / d.w, ix = q - iy * d.w, o0, o1, p0, p1;
        pool_covering(d, iy, ix, &o0, &o1, &p0, &p1);
        const float *dyp = dy + pl * P;
        float s = 0.0f;
        for (int oy = o0; oy <= o1; oy++)
            for (int ox = p0; ox <= p1; ox++) s += dyp[oy * d.ow + ox] * inv;
        dx[pl * HW + q] = s;
    }
}

static ct_status cuda_maxpool2d_forward(ct_backend *b, const ct_pool2d_desc *d, const float *x,
                                        float *y, int32_t *argmax) {
    ct_cuda *cb = ct_cuda_of(b);
    CT_TRY(pool_check(d, "maxpool2d_forward"));
    int64_t total = (int64_t)d->n * d->c * d->oh * d->ow;
    if (total == 0) return CT_OK;
    CT_CUDA_BIND(cb);
    unsigned grid, threads;
    plane_launch(cb, (int64_t)d->n * d->c, d->oh * d->ow, &grid, &threads);
    maxpool_forward_kernel<<<grid, threads, 0, cb->compute>>>(x, y, argmax, *d);
    CT_CUDA_CHECK_LAUNCH("maxpool_forward_kernel");
    return CT_OK;
}

static ct_status cuda_maxpool2d_backward(ct_backend *b, const ct_pool2d_desc *d, const float *dy,
                                         const int32_t *argmax, float *dx) {
    ct_cuda *cb = ct_cuda_of(b);
    CT_TRY(pool_check(d, "maxpool2d_backward"));
    int64_t total = (int64_t)d->n * d->c * d->h * d->w;
    if (total == 0) return CT_OK;
    CT_CUDA_BIND(cb);
    unsigned grid, threads;
    plane_launch(cb, (int64_t)d->n * d->c, d->h * d->w, &grid, &threads);
    maxpool_backward_kernel<<<grid, threads, 0, cb->compute>>>(dy, argmax, dx, *d);
    CT_CUDA_CHECK_LAUNCH("maxpool_backward_kernel");
    return CT_OK;
}

static ct_status cuda_avgpool2d_forward(ct_backend *b, const ct_pool2d_desc *d, const float *x,
                                        float *y) {
    ct_cuda *cb = ct_cuda_of(b);
    CT_TRY(pool_check(d, "avgpool2d_forward"));
    int64_t total = (int64_t)d->n * d->c * d->oh * d->ow;
    if (total == 0) return CT_OK;
    CT_CUDA_BIND(cb);
    float inv = 1.0f / (float)(d->kh * d->kw);
    unsigned grid, threads;
    plane_launch(cb, (int64_t)d->n * d->c, d->oh * d->ow, &grid, &threads);
    avgpool_forward_kernel<<<grid, threads, 0, cb->compute>>>(x, y, *d, inv);
    CT_CUDA_CHECK_LAUNCH("avgpool_forward_kernel");
    return CT_OK;
}

static ct_status cuda_avgpool2d_backward(ct_backend *b, const ct_pool2d_desc *d, const float *dy,
                                         float *dx) {
    ct_cuda *cb = ct_cuda_of(b);
    CT_TRY(pool_check(d, "avgpool2d_backward"));
    int64_t total = (int64_t)d->n * d->c * d->h * d->w;
    if (total == 0) return CT_OK;
    CT_CUDA_BIND(cb);
    float inv = 1.0f / (float)(d->kh * d->kw);
    unsigned grid, threads;
    plane_launch(cb, (int64_t)d->n * d->c, d->h * d->w, &grid, &threads);
    avgpool_backward_kernel<<<grid, threads, 0, cb->compute>>>(dy, dx, *d, inv);
    CT_CUDA_CHECK_LAUNCH("avgpool_backward_kernel");
    return CT_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* batch normalisation over x (n, c, inner): one block per channel for the statistics          */

__device__ __forceinline__ int64_t bn_index(int64_t e, int64_t c, int64_t ch, int64_t inner) {
    int64_t i = e / inner, k = e - i * inner;
    return (i * c + ch) * inner + k;
}

/* Per channel (block): mean and biased variance in double (two passes), save_mean and
 * save_invstd, and the running statistics when given. */
__global__ void bn_stats_kernel(const float *x, int64_t n, int64_t c, int64_t inner, float eps,
                                float momentum, float *running_mean, float *running_var,
                                float *save_mean, float *save_invstd) {
    const int64_t ch = blockIdx.x, m = n * inner;
    double s = 0.0;
    for (int64_t e = threadIdx.x; e < m; e += blockDim.x) s += x[bn_index(e, c, ch, inner)];
    double mean = block_sum_double(s) / (double)m;
    double q = 0.0;
    for (int64_t e = threadIdx.x; e < m; e += blockDim.x) {
        double dv = x[bn_index(e, c, ch, inner)] - mean;
        q += dv * dv;
    }
    double var = block_sum_double(q) / (double)m;
    if (threadIdx.x == 0) {
        float mean_f = (float)mean;
        save_mean[ch] = mean_f;
        save_invstd[ch] = (float)(1.0 / sqrt(var + (double)eps));
        if (running_mean && running_var) {
            float unbiased = (float)(m > 1 ? var * (double)m / (double)(m - 1) : var);
            running_mean[ch] = (1.0f - momentum) * running_mean[ch] + momentum * mean_f;
            running_var[ch] = (1.0f - momentum) * running_var[ch] + momentum * unbiased;
        }
    }
}

/* y = (x - mean) * (invstd * gamma) + beta with the saved (train) or running (eval) stats. */
__global__ void bn_apply_kernel(const float *x, float *y, int64_t total, int64_t c, int64_t inner,
                                const float *gamma, const float *beta, const float *mean,
                                const float *invstd, const float *running_var, float eps) {
    NN_GRID_STRIDE(e, total) {
        int64_t ch = (e / inner) % c;
        float is = running_var ? (float)(1.0 / sqrt((double)running_var[ch] + (double)eps))
                               : invstd[ch];
        y[e] = (x[e] - mean[ch]) * (is * gamma[ch]) + beta[ch];
    }
}

/* Per channel (block): dbeta, dgamma, then dx (when not NULL). */
__global__ void bn_backward_kernel(const float *x, const float *dy, float *dx, int64_t n,
                                   int64_t c, int64_t inner, const float *gamma,
                                   const float *save_mean, const float *save_invstd,
                                   float *dgamma, float *dbeta) {
    const int64_t ch = blockIdx.x, m = n * inner;
    const double mean = save_mean[ch], invstd = save_invstd[ch];
    double sdy = 0.0, sdyx = 0.0;
    for (int64_t e = threadIdx.x; e < m; e += blockDim.x) {
        int64_t i = bn_index(e, c, ch, inner);
        sdy += dy[i];
        sdyx += dy[i] * ((x[i] - mean) * invstd);
    }
    sdy = block_sum_double(sdy);
    sdyx = block_sum_double(sdyx);
    if (threadIdx.x == 0) {
        dbeta[ch] = (float)sdy;
        dgamma[ch] = (float)sdyx;
    }
    if (!dx) return;
    const double k1 = (double)gamma[ch] * invstd / (double)m;
    for (int64_t e = threadIdx.x; e < m; e += blockDim.x) {
        int64_t i = bn_index(e, c, ch, inner);
        double xhat = (x[i] - mean) * invstd;
        dx[i] = (float)(k1 * ((double)m * dy[i] - sdy - xhat * sdyx));
    }
}

static ct_status cuda_batchnorm_forward(ct_backend *b, int train, const float *x, float *y,
                                        int64_t n, int64_t c, int64_t inner, const float *gamma,
                                        const float *beta, float eps, float momentum,
                                        float *running_mean, float *running_var, float *save_mean,
                                        float *save_invstd) {
    ct_cuda *cb = ct_cuda_of(b);
    if (n < 0 || c <= 0 || c > INT_MAX || inner <= 0 || (train && n == 0))
        return ct_fail(CT_ERR_INVALID, "batchnorm_forward: bad shape (%lld, %lld, %lld)",
                       (long long)n, (long long)c, (long long)inner);
    if (n == 0) return CT_OK;
    CT_CUDA_BIND(cb);
    int64_t total = n * c * inner;
    if (train) {
        bn_stats_kernel<<<(unsigned)c, CT_NN_THREADS, 0, cb->compute>>>(
            x, n, c, inner, eps, momentum, running_mean, running_var, save_mean, save_invstd);
        CT_CUDA_CHECK_LAUNCH("bn_stats_kernel");
        bn_apply_kernel<<<nn_grid(cb, total), CT_NN_THREADS, 0, cb->compute>>>(
            x, y, total, c, inner, gamma, beta, save_mean, save_invstd, NULL, eps);
    } else {
        bn_apply_kernel<<<nn_grid(cb, total), CT_NN_THREADS, 0, cb->compute>>>(
            x, y, total, c, inner, gamma, beta, running_mean, NULL, running_var, eps);
    }
    CT_CUDA_CHECK_LAUNCH("bn_apply_kernel");
    return CT_OK;
}

static ct_status cuda_batchnorm_backward(ct_backend *b, const float *x, const float *dy, float *dx,
                                         int64_t n, int64_t c, int64_t inner, const float *gamma,
                                         const float *save_mean, const float *save_invstd,
                                         float *dgamma, float *dbeta) {
    ct_cuda *cb = ct_cuda_of(b);
    if (n <= 0 || c <= 0 || c > INT_MAX || inner <= 0)
        return ct_fail(CT_ERR_INVALID, "batchnorm_backward: bad shape (%lld, %lld, %lld)",
                       (long long)n, (long long)c, (long long)inner);
    CT_CUDA_BIND(cb);
    bn_backward_kernel<<<(unsigned)c, CT_NN_THREADS, 0, cb->compute>>>(
        x, dy, dx, n, c, inner, gamma, save_mean, save_invstd, dgamma, dbeta);
    CT_CUDA_CHECK_LAUNCH("bn_backward_kernel");
    return CT_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* group normalisation: row r = (sample, group) is x[r * m .. (r + 1) * m), m = c / groups * inner;
 * one block a row for its statistics and dx, one a channel for dgamma and dbeta               */

/* Per row (block): mean and biased variance in double (two passes), then y. */
__global__ void gn_forward_kernel(const float *x, float *y, int64_t c, int64_t inner,
                                  int64_t groups, const float *gamma, const float *beta,
                                  float eps, float *save_mean, float *save_invstd) {
    const int64_t r = blockIdx.x, cg = c / groups, m = cg * inner, ch0 = (r % groups) * cg;
    const float *xr = x + r * m;
    double s = 0.0;
    for (int64_t e = threadIdx.x; e < m; e += blockDim.x) s += xr[e];
    const float mean = (float)(block_sum_double(s) / (double)m);
    double q = 0.0;
    for (int64_t e = threadIdx.x; e < m; e += blockDim.x) {
        const float d = xr[e] - mean;
        q += (double)d * d;
    }
    const float invstd = (float)(1.0 / sqrt(block_sum_double(q) / (double)m + (double)eps));
    if (threadIdx.x == 0) {
        save_mean[r] = mean;
        save_invstd[r] = invstd;
    }
    for (int64_t e = threadIdx.x; e < m; e += blockDim.x) {
        const int64_t ch = ch0 + e / inner;
        y[r * m + e] = (xr[e] - mean) * (invstd * gamma[ch]) + beta[ch];
    }
}

/* Per row (block): s1 = sum g, S = sum g (x - mean) with g = dy * gamma[ch], then
 * dx = invstd gamma[ch] dy - invstd^3 S / m (x - mean) - invstd s1 / m. */
__global__ void gn_dx_kernel(const float *x, const float *dy, float *dx, int64_t c,
                             int64_t inner, int64_t groups, const float *gamma,
                             const float *save_mean, const float *save_invstd) {
    const int64_t r = blockIdx.x, cg = c / groups, m = cg * inner, ch0 = (r % groups) * cg;
    const float *xr = x + r * m, *gr = dy + r * m, mean = save_mean[r];
    const double invstd = save_invstd[r];
    double s1 = 0.0, S = 0.0;
    for (int64_t e = threadIdx.x; e < m; e += blockDim.x) {
        const double g = (double)gr[e] * gamma[ch0 + e / inner];
        s1 += g;
        S += g * (xr[e] - mean);
    }
    s1 = block_sum_double(s1);
    S = block_sum_double(S);
    const float bb = (float)(-invstd * invstd * invstd * S / (double)m),
                cc = (float)(-invstd * s1 / (double)m);
    for (int64_t e = threadIdx.x; e < m; e += blockDim.x) {
        const float a = (float)(invstd * gamma[ch0 + e / inner]);
        dx[r * m + e] = a * gr[e] + bb * (xr[e] - mean) + cc;
    }
}

/* Per channel (block): dbeta = sum dy, dgamma = sum dy * xhat over the samples and the plane. */
__global__ void gn_dparams_kernel(const float *x, const float *dy, int64_t n, int64_t c,
                                  int64_t inner, int64_t groups, const float *save_mean,
                                  const float *save_invstd, float *dgamma, float *dbeta) {
    const int64_t ch = blockIdx.x, g = ch / (c / groups), total = n * inner;
    double sdy = 0.0, sdyx = 0.0;
    for (int64_t e = threadIdx.x; e < total; e += blockDim.x) {
        const int64_t i = e / inner, at = (i * c + ch) * inner + (e - i * inner);
        const int64_t r = i * groups + g;
        sdy += dy[at];
        sdyx += (double)dy[at] * (x[at] - save_mean[r]) * (double)save_invstd[r];
    }
    sdy = block_sum_double(sdy);
    sdyx = block_sum_double(sdyx);
    if (threadIdx.x == 0) {
        dbeta[ch] = (float)sdy;
        dgamma[ch] = (float)sdyx;
    }
}

/* Threads for a block that sums m values: a warp for a short row (a layer norm of a few dozen
 * features), up to CT_NN_THREADS; a multiple of 32 (block_sum_double). */
static unsigned gn_threads(int64_t m) {
    const int64_t t = (m + 31) / 32 * 32;
    return (unsigned)(t < 32 ? 32 : t > CT_NN_THREADS ? CT_NN_THREADS : t);
}

static ct_status cuda_groupnorm_forward(ct_backend *b, const float *x, float *y, int64_t n,
                                        int64_t c, int64_t inner, int64_t groups,
                                        const float *gamma, const float *beta, float eps,
                                        float *save_mean, float *save_invstd) {
    ct_cuda *cb = ct_cuda_of(b);
    CT_TRY(ct_groupnorm_check("groupnorm_forward", n, c, inner, groups));
    if (n == 0) return CT_OK;
    CT_CUDA_BIND(cb);
    gn_forward_kernel<<<(unsigned)(n * groups), gn_threads(c / groups * inner), 0, cb->compute>>>(
        x, y, c, inner, groups, gamma, beta, eps, save_mean, save_invstd);
    CT_CUDA_CHECK_LAUNCH("gn_forward_kernel");
    return CT_OK;
}

static ct_status cuda_groupnorm_backward(ct_backend *b, const float *x, const float *dy,
                                         float *dx, int64_t n, int64_t c, int64_t inner,
                                         int64_t groups, const float *gamma,
                                         const float *save_mean, const float *save_invstd,
                                         float *dgamma, float *dbeta) {
    ct_cuda *cb = ct_cuda_of(b);
    CT_TRY(ct_groupnorm_check("groupnorm_backward", n, c, inner, groups));
    CT_CUDA_BIND(cb);
    gn_dparams_kernel<<<(unsigned)c, gn_threads(n * inner), 0, cb->compute>>>(
        x, dy, n, c, inner, groups, save_mean, save_invstd, dgamma, dbeta);
    CT_CUDA_CHECK_LAUNCH("gn_dparams_kernel");
    if (!dx || n == 0) return CT_OK;
    gn_dx_kernel<<<(unsigned)(n * groups), gn_threads(c / groups * inner), 0, cb->compute>>>(
        x, dy, dx, c, inner, groups, gamma, save_mean, save_invstd);
    CT_CUDA_CHECK_LAUNCH("gn_dx_kernel");
    return CT_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* gradient norm                                                                               */

__global__ void sumsq_kernel(const float *x, int64_t n, double *out) {
    double s = 0.0;
    NN_GRID_STRIDE(i, n) s += (double)x[i] * x[i];
    s = block_sum_double(s);
    if (threadIdx.x == 0) atomicAdd(out, s);
}

static ct_status cuda_sumsq(ct_backend *b, const float *x, int64_t n, double *out) {
    ct_cuda *cb = ct_cuda_of(b);
    if (n < 0) return ct_fail(CT_ERR_INVALID, "sumsq: negative size %lld", (long long)n);
    CT_CUDA_BIND(cb);
    CT_CUDA_CHECK(cudaMemsetAsync(out, 0, sizeof(double), cb->compute));
    if (n == 0) return CT_OK;
    sumsq_kernel<<<nn_grid(cb, n), CT_NN_THREADS, 0, cb->compute>>>(x, n, out);
    CT_CUDA_CHECK_LAUNCH("sumsq_kernel");
    return CT_OK;
}

/* x *= min(1, max_norm / (sqrt(sum of parts) + 1e-6)), the norm read on the device */
__global__ void clip_scale_kernel(float *x, int64_t n, const double *parts, int n_parts,
                                  float max_norm) {
    double total = 0.0;
    for (int k = 0; k < n_parts; k++) total += parts[k];
    double coef = (double)max_norm / (sqrt(total) + 1e-6);
    if (!(coef < 1.0)) return;
    const float c = (float)coef;
    NN_GRID_STRIDE(i, n) x[i] *= c;
}

static ct_status cuda_clip_scale(ct_backend *b, float *x, int64_t n, const double *parts,
                                 int n_parts, float max_norm) {
    ct_cuda *cb = ct_cuda_of(b);
    if (n < 0 || n_parts < 1)
        return ct_fail(CT_ERR_INVALID, "clip_scale: bad size %lld or %d parts", (long long)n,
                       n_parts);
    if (n == 0) return CT_OK;
    CT_CUDA_BIND(cb);
    clip_scale_kernel<<<nn_grid(cb, n), CT_NN_THREADS, 0, cb->compute>>>(x, n, parts, n_parts,
                                                                        max_norm);
    CT_CUDA_CHECK_LAUNCH("clip_scale_kernel");
    return CT_OK;
}

/* x clamped to [-max, max], a NaN kept (as cpu_clip_value) */
__global__ void clip_value_kernel(float *x, int64_t n, float max) {
    NN_GRID_STRIDE(i, n) {
        float v = x[i];
        x[i] = v > max ? max : v < -max ? -max : v;
    }
}

static ct_status cuda_clip_value(ct_backend *b, float *x, int64_t n, float max) {
    ct_cuda *cb = ct_cuda_of(b);
    if (n < 0 || !(max >= 0.0f))
        return ct_fail(CT_ERR_INVALID, "clip_value: bad size %lld or bound %g", (long long)n,
                       (double)max);
    if (n == 0) return CT_OK;
    CT_CUDA_BIND(cb);
    clip_value_kernel<<<nn_grid(cb, n), CT_NN_THREADS, 0, cb->compute>>>(x, n, max);
    CT_CUDA_CHECK_LAUNCH("clip_value_kernel");
    return CT_OK;
}

/* ------------------------------------------------------------------------------------------ */

void ct_cuda_fill_nn_ops(ct_backend *b) {
    b->conv2d_workspace = cuda_conv2d_workspace;
    b->conv2d_forward = cuda_conv2d_forward;
    b->conv2d_backward_data = cuda_conv2d_backward_data;
    b->conv2d_backward_filter = cuda_conv2d_backward_filter;
    b->maxpool2d_forward = cuda_maxpool2d_forward;
    b->maxpool2d_backward = cuda_maxpool2d_backward;
    b->avgpool2d_forward = cuda_avgpool2d_forward;
    b->avgpool2d_backward = cuda_avgpool2d_backward;
    b->batchnorm_forward = cuda_batchnorm_forward;
    b->batchnorm_backward = cuda_batchnorm_backward;
    b->groupnorm_forward = cuda_groupnorm_forward;
    b->groupnorm_backward = cuda_groupnorm_backward;
    b->sumsq = cuda_sumsq;
    b->clip_scale = cuda_clip_scale;
    b->clip_value = cuda_clip_value;
}
