/*
 * cuda_ops.cu — the CUDA backend's ops: cuBLAS GEMM and small kernels for bias, activations,
 * softmax cross-entropy, add_into for summing gradients, fill, scale_rows, dot_rows and
 * dropout, from the same Philox counter as the CPU (semantics: backend.h; the reference is
 * backend/cpu/cpu.c and cpu_nn.c). The uint8 row gather and its
 * augmentation: cuda_gather.cu; the optimizers' updates: cuda_optim.cu.
 *
 * Kernels are deliberately plain: grid-stride loops for elementwise work, one warp per row for
 * the softmax, one block per channel (or a 32-channel tile) for bias gradients. Everything is
 * launched on the compute stream; no op allocates or waits for the host.
 */
#include "backend/cuda/cuda_internal.h"

#include <limits.h>
#include <math.h>

#define CT_WARP 32
#define CT_XENT_ROWS_PER_BLOCK (CT_THREADS / CT_WARP) /* one warp per row */
#define CT_TILE_ROWS 8              /* bias_grad over (outer, channels): a 32x8 thread tile */


__device__ __forceinline__ float warp_sum(float v) {
    for (int o = CT_WARP / 2; o > 0; o /= 2) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

/* Sum over the block (blockDim.x a multiple of 32, at most 1024); the result is valid in
 * thread 0. */
__device__ float block_sum(float v) {
    __shared__ float partial[CT_WARP];
    int lane = threadIdx.x % CT_WARP, warp = threadIdx.x / CT_WARP;
    v = warp_sum(v);
    if (lane == 0) partial[warp] = v;
    __syncthreads();
    int warps = blockDim.x / CT_WARP;
    v = threadIdx.x < warps ? partial[threadIdx.x] : 0.0f;
    if (warp == 0) v = warp_sum(v);
    return v;
}

/* ------------------------------------------------------------------------------------------ */
/* gemm                                                                                        */

/* C(M, N) *= beta with row stride ldc (beta == 0 writes zeros, as BLAS does): gemm with K == 0. */
__global__ void scale_matrix_kernel(float *C, int M, int N, int ldc, float beta) {
    GRID_STRIDE(e, (int64_t)M * N) {
        int64_t i = e / N, j = e - i * N;
        float *c = C + i * ldc + j;
        *c = beta == 0.0f ? 0.0f : beta * *c;
    }
}

/* Row-major C = alpha*op(A)*op(B) + beta*C is column-major C^T = alpha*op(B)^T*op(A)^T + beta*C^T,
 * and a row-major matrix read as column-major is its transpose: so cuBLAS gets B first, A second,
 * the same transpose flags, and (N, M, K). */
static ct_status cuda_gemm(ct_backend *b, int trans_a, int trans_b, int M, int N, int K,
                           float alpha, const float *A, int lda, const float *B, int ldb,
                           float beta, float *C, int ldc) {
    ct_cuda *cb = ct_cuda_of(b);
    if (M < 0 || N < 0 || K < 0)
        return ct_fail(CT_ERR_INVALID, "gemm: negative size M=%d N=%d K=%d", M, N, K);
    if (M == 0 || N == 0) return CT_OK;
    CT_CUDA_BIND(cb);
    if (K == 0) {
        scale_matrix_kernel<<<grid_for(cb, (int64_t)M * N), CT_THREADS, 0, cb->compute>>>(
            C, M, N, ldc, beta);
        CT_CUDA_CHECK_LAUNCH("scale_matrix_kernel");
        return CT_OK;
    }
    cublasOperation_t op_a = trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
    cublasOperation_t op_b = trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
    CT_CUBLAS_CHECK(cublasSgemm(cb->cublas, op_b, op_a, N, M, K, &alpha, B, ldb, A, lda, &beta,
                                C, ldc));
    return CT_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* bias                                                                                        */

/* normalize: y = (x - mean[c]) * inv_std[c], the per-channel values by value */
typedef struct {
    float mean[CT_MAX_NORM_CHANNELS], inv_std[CT_MAX_NORM_CHANNELS];
} norm_values;

__global__ void normalize_kernel(const float *x, float *y, int64_t total, int channels,
                                 int64_t inner, norm_values v) {
    GRID_STRIDE(e, total) {
        int c = (int)((e / inner) % channels);
        y[e] = (x[e] - v.mean[c]) * v.inv_std[c];
    }
}

static ct_status cuda_normalize(ct_backend *b, const float *x, float *y, int64_t outer,
                                int channels, int64_t inner, const float *host_mean,
                                const float *host_inv_std) {
    ct_cuda *cb = ct_cuda_of(b);
    if (outer < 0 || inner < 0 || channels < 1 || channels > CT_MAX_NORM_CHANNELS)
        return ct_fail(CT_ERR_INVALID, "normalize: bad shape (%lld, %d, %lld)", (long long)outer,
                       channels, (long long)inner);
    norm_values v;
    for (int c = 0; c < CT_MAX_NORM_CHANNELS; c++) {
        v.mean[c] = host_mean && c < channels ? host_mean[c] : 0.0f;
        v.inv_std[c] = c < channels ? host_inv_std[c] : 0.0f;
    }
    int64_t total = outer * channels * inner;
    if (total == 0) return CT_OK;
    CT_CUDA_BIND(cb);
    normalize_kernel<<<grid_for(cb, total), CT_THREADS, 0, cb->compute>>>(x, y, total, channels,
                                                                          inner, v);
    CT_CUDA_CHECK_LAUNCH("normalize_kernel");
    return CT_OK;
}

/* y(outer, channels, inner) += bias(channels); INNER1: inner == 1 (no division by inner). */
template <bool INNER1>
__global__ void bias_add_kernel(float *y, const float *bias, int64_t total, int64_t channels,
                                int64_t inner) {
    GRID_STRIDE(e, total) {
        int64_t c = INNER1 ? e % channels : (e / inner) % channels;
        y[e] += bias[c];
    }
}

static ct_status cuda_bias_add(ct_backend *b, float *y, const float *bias, int64_t outer,
                               int64_t channels, int64_t inner) {
    ct_cuda *cb = ct_cuda_of(b);
    if (outer < 0 || channels < 0 || inner < 0)
        return ct_fail(CT_ERR_INVALID, "bias_add: negative size (%lld, %lld, %lld)",
                       (long long)outer, (long long)channels, (long long)inner);
    int64_t total = outer * channels * inner;
    if (total == 0) return CT_OK;
    CT_CUDA_BIND(cb);
    if (inner == 1)
        bias_add_kernel<true><<<grid_for(cb, total), CT_THREADS, 0, cb->compute>>>(
            y, bias, total, channels, inner);
    else
        bias_add_kernel<false><<<grid_for(cb, total), CT_THREADS, 0, cb->compute>>>(
            y, bias, total, channels, inner);
    CT_CUDA_CHECK_LAUNCH("bias_add_kernel");
    return CT_OK;
}

/* dbias(channels) = column sums of dy(outer, channels): a block owns 32 channels; its 32x8
 * threads read rows coalesced, then the 8 partial sums per channel are added. */
__global__ void bias_grad_cols_kernel(float *dbias, const float *dy, int64_t outer,
                                      int64_t channels) {
    __shared__ float part[CT_TILE_ROWS][CT_WARP + 1];
    int64_t c = (int64_t)blockIdx.x * CT_WARP + threadIdx.x;
    float s = 0.0f;
    if (c < channels)
        for (int64_t o = threadIdx.y; o < outer; o += CT_TILE_ROWS) s += dy[o * channels + c];
    part[threadIdx.y][threadIdx.x] = s;
    __syncthreads();
    if (threadIdx.y == 0 && c < channels) {
        float t = 0.0f;
        for (int k = 0; k < CT_TILE_ROWS; k++) t += part[k][threadIdx.x];
        dbias[c] = t;
    }
}

/* dbias(channels) = sums of dy(outer, channels, inner) over outer and inner (convolutions:
 * inner = H*W): one block of CT_PLANE_THREADS per channel. Thread t sums the channel's elements
 * t, t + blockDim, ... of its outer*inner, walking (o, i) with counters (no 64-bit division per
 * element, which made this kernel compute-bound: ncu on an H200 timed 1.09 ms for the cnn
 * preset's 64-channel 24x24 layer at batch 1024, 98 us now) and CT_PLANE_UNROLL loads in
 * flight; then the block's sum. The order of the
 * additions depends on the shape alone: the same bits on every run. */
#define CT_PLANE_THREADS 1024
#define CT_PLANE_UNROLL 8
__global__ void __launch_bounds__(CT_PLANE_THREADS)
bias_grad_planes_kernel(float *dbias, const float *dy, int64_t outer, int64_t channels,
                        int64_t inner) {
    const int64_t c = blockIdx.x, total = outer * inner, step = blockDim.x;
    const int64_t step_o = step / inner, step_i = step - step_o * inner;
    int64_t o = threadIdx.x / inner, i = threadIdx.x - o * inner, k = threadIdx.x;
    float acc[CT_PLANE_UNROLL];
#pragma unroll
    for (int u = 0; u < CT_PLANE_UNROLL; u++) acc[u] = 0.0f;
    for (; k + (CT_PLANE_UNROLL - 1) * step < total; k += CT_PLANE_UNROLL * step) {
        float v[CT_PLANE_UNROLL];
#pragma unroll
        for (int u = 0; u < CT_PLANE_UNROLL; u++) {
            v[u] = dy[(o * channels + c) * inner + i];
            o += step_o;
            i += step_i;
            if (i >= inner) {
                i -= inner;
                o++;
            }
        }
#pragma unroll
        for (int u = 0; u < CT_PLANE_UNROLL; u++) acc[u] += v[u];
    }
    for (; k < total; k += step) {
        acc[0] += dy[(o * channels + c) * inner + i];
        o += step_o;
        i += step_i;
        if (i >= inner) {
            i -= inner;
            o++;
        }
    }
    float s = 0.0f;
#pragma unroll
    for (int u = 0; u < CT_PLANE_UNROLL; u++) s += acc[u];
    s = block_sum(s);
    if (threadIdx.x == 0) dbias[c] = s;
}

static ct_status cuda_bias_grad(ct_backend *b, float *dbias, const float *dy, int64_t outer,
                                int64_t channels, int64_t inner) {
    ct_cuda *cb = ct_cuda_of(b);
    if (outer < 0 || channels < 0 || inner < 0 || channels > INT_MAX)
        return ct_fail(CT_ERR_INVALID, "bias_grad: bad size (%lld, %lld, %lld)",
                       (long long)outer, (long long)channels, (long long)inner);
    if (channels == 0) return CT_OK;
    CT_CUDA_BIND(cb);
    if (outer == 0 || inner == 0) {
        CT_CUDA_CHECK(cudaMemsetAsync(dbias, 0, (size_t)channels * sizeof(float), cb->compute));
        return CT_OK;
    }
    if (inner == 1) {
        dim3 block(CT_WARP, CT_TILE_ROWS);
        unsigned grid = (unsigned)((channels + CT_WARP - 1) / CT_WARP);
        bias_grad_cols_kernel<<<grid, block, 0, cb->compute>>>(dbias, dy, outer, channels);
        CT_CUDA_CHECK_LAUNCH("bias_grad_cols_kernel");
    } else {
        bias_grad_planes_kernel<<<(unsigned)channels, CT_PLANE_THREADS, 0, cb->compute>>>(
            dbias, dy, outer, channels, inner);
        CT_CUDA_CHECK_LAUNCH("bias_grad_planes_kernel");
    }
    return CT_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* activations                                                                                 */

#define CT_SQRT1_2 0.70710678118654752440f
#define CT_INV_SQRT_2PI 0.39894228040143267794f

template <int KIND>
__device__ __forceinline__ float act_f(float x, float param) {
    if (KIND == CT_ACT_RELU) return x > 0.0f ? x : 0.0f;
    if (KIND == CT_ACT_LEAKY_RELU) return x > 0.0f ? x : param * x;
    if (KIND == CT_ACT_SIGMOID) return 1.0f / (1.0f + expf(-x));
    if (KIND == CT_ACT_TANH) return tanhf(x);
    if (KIND == CT_ACT_RELU6) return x < 0.0f ? 0.0f : x > 6.0f ? 6.0f : x;
    if (KIND == CT_ACT_SILU) return x / (1.0f + expf(-x));
    if (KIND == CT_ACT_HARDSWISH || KIND == CT_ACT_HARDSIGMOID) {
        const float t = x + 3.0f, r = t < 0.0f ? 0.0f : t > 6.0f ? 6.0f : t;
        return KIND == CT_ACT_HARDSWISH ? x * r / 6.0f : r / 6.0f;
    }
    return 0.5f * x * (1.0f + erff(x * CT_SQRT1_2)); /* GELU, exact */
}

/* f'(x) * dy, using x (ReLU, LeakyReLU, GELU, ReLU6, SiLU, the hard ones) or y = f(x) (Sigmoid, Tanh), as the CPU does. */
template <int KIND>
__device__ __forceinline__ float act_df(float x, float y, float dy, float param) {
    if (KIND == CT_ACT_RELU) return x > 0.0f ? dy : 0.0f;
    if (KIND == CT_ACT_LEAKY_RELU) return x > 0.0f ? dy : param * dy;
    if (KIND == CT_ACT_SIGMOID) return dy * y * (1.0f - y);
    if (KIND == CT_ACT_TANH) return dy * (1.0f - y * y);
    if (KIND == CT_ACT_RELU6) return x <= 0.0f || x >= 6.0f ? 0.0f : dy;
    if (KIND == CT_ACT_SILU) {
        const float s = 1.0f / (1.0f + expf(-x));
        return dy * s * (1.0f + x * (1.0f - s));
    }
    if (KIND == CT_ACT_HARDSWISH) return x < -3.0f ? 0.0f : x <= 3.0f ? dy * (x / 3.0f + 0.5f) : dy;
    if (KIND == CT_ACT_HARDSIGMOID) return x > -3.0f && x < 3.0f ? dy * (1.0f / 6.0f) : 0.0f;
    float cdf = 0.5f * (1.0f + erff(x * CT_SQRT1_2));
    float pdf = CT_INV_SQRT_2PI * expf(-0.5f * x * x);
    return dy * (cdf + x * pdf);
}

/* y(n) = f(x(n)); x == y allowed */
template <int KIND>
__global__ void act_forward_kernel(const float *x, float *y, int64_t n, float param) {
    GRID_STRIDE(i, n) y[i] = act_f<KIND>(x[i], param);
}

/* dx(n) = f'(x) * dy(n); dx == dy allowed. x or y may be unused (and then NULL). */
template <int KIND>
__global__ void act_backward_kernel(const float *x, const float *y, const float *dy, float *dx,
                                    int64_t n, float param) {
    const bool uses_y = KIND == CT_ACT_SIGMOID || KIND == CT_ACT_TANH;
    GRID_STRIDE(i, n) {
        float xi = uses_y ? 0.0f : x[i];
        float yi = uses_y ? y[i] : 0.0f;
        dx[i] = act_df<KIND>(xi, yi, dy[i], param);
    }
}

template <int KIND>
static void launch_act_forward(const ct_cuda *cb, const float *x, float *y, int64_t n,
                               float param) {
    act_forward_kernel<KIND><<<grid_for(cb, n), CT_THREADS, 0, cb->compute>>>(x, y, n, param);
}

template <int KIND>
static void launch_act_backward(const ct_cuda *cb, const float *x, const float *y,
                                const float *dy, float *dx, int64_t n, float param) {
    act_backward_kernel<KIND><<<grid_for(cb, n), CT_THREADS, 0, cb->compute>>>(x, y, dy, dx, n,
                                                                               param);
}

static ct_status cuda_act_forward(ct_backend *b, ct_act kind, float param, const float *x,
                                  float *y, int64_t n) {
    ct_cuda *cb = ct_cuda_of(b);
    if (n < 0) return ct_fail(CT_ERR_INVALID, "act_forward: negative size %lld", (long long)n);
    if ((unsigned)kind >= CT_ACT_COUNT)
        return ct_fail(CT_ERR_INVALID, "unknown activation %d", (int)kind);
    if (n == 0) return CT_OK;
    CT_CUDA_BIND(cb);
    switch (kind) {
    case CT_ACT_RELU: launch_act_forward<CT_ACT_RELU>(cb, x, y, n, param); break;
    case CT_ACT_LEAKY_RELU: launch_act_forward<CT_ACT_LEAKY_RELU>(cb, x, y, n, param); break;
    case CT_ACT_SIGMOID: launch_act_forward<CT_ACT_SIGMOID>(cb, x, y, n, param); break;
    case CT_ACT_TANH: launch_act_forward<CT_ACT_TANH>(cb, x, y, n, param); break;
    case CT_ACT_RELU6: launch_act_forward<CT_ACT_RELU6>(cb, x, y, n, param); break;
    case CT_ACT_SILU: launch_act_forward<CT_ACT_SILU>(cb, x, y, n, param); break;
    case CT_ACT_HARDSWISH: launch_act_forward<CT_ACT_HARDSWISH>(cb, x, y, n, param); break;
    case CT_ACT_HARDSIGMOID: launch_act_forward<CT_ACT_HARDSIGMOID>(cb, x, y, n, param); break;
    default: launch_act_forward<CT_ACT_GELU>(cb, x, y, n, param); break;
    }
    CT_CUDA_CHECK_LAUNCH("act_forward_kernel");
    return CT_OK;
}

static ct_status cuda_act_backward(ct_backend *b, ct_act kind, float param, const float *x,
                                   const float *y, const float *dy, float *dx, int64_t n) {
    ct_cuda *cb = ct_cuda_of(b);
    if (n < 0) return ct_fail(CT_ERR_INVALID, "act_backward: negative size %lld", (long long)n);
    if ((unsigned)kind >= CT_ACT_COUNT)
        return ct_fail(CT_ERR_INVALID, "unknown activation %d", (int)kind);
    if (n == 0) return CT_OK;
    CT_CUDA_BIND(cb);
    switch (kind) {
    case CT_ACT_RELU: launch_act_backward<CT_ACT_RELU>(cb, x, y, dy, dx, n, param); break;
    case CT_ACT_LEAKY_RELU:
        launch_act_backward<CT_ACT_LEAKY_RELU>(cb, x, y, dy, dx, n, param);
        break;
    case CT_ACT_SIGMOID: launch_act_backward<CT_ACT_SIGMOID>(cb, x, y, dy, dx, n, param); break;
    case CT_ACT_TANH: launch_act_backward<CT_ACT_TANH>(cb, x, y, dy, dx, n, param); break;
    case CT_ACT_RELU6: launch_act_backward<CT_ACT_RELU6>(cb, x, y, dy, dx, n, param); break;
    case CT_ACT_SILU: launch_act_backward<CT_ACT_SILU>(cb, x, y, dy, dx, n, param); break;
    case CT_ACT_HARDSWISH:
        launch_act_backward<CT_ACT_HARDSWISH>(cb, x, y, dy, dx, n, param);
        break;
    case CT_ACT_HARDSIGMOID:
        launch_act_backward<CT_ACT_HARDSIGMOID>(cb, x, y, dy, dx, n, param);
        break;
    default: launch_act_backward<CT_ACT_GELU>(cb, x, y, dy, dx, n, param); break;
    }
    CT_CUDA_CHECK_LAUNCH("act_backward_kernel");
    return CT_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* softmax cross-entropy                                                                       */

/* One warp per row of logits (n, classes). Each lane strides over the row: max and argmax,
 * then the sum of exp, both reduced across the warp; the whole row is read before any lane
 * writes dlogits, so dlogits may alias logits. Per block, the rows' losses and hits are added
 * and then added once to stats[0] and stats[1] (double atomics). A label >= classes (the CPU
 * reports it as an error) makes that row's loss NaN, so it cannot pass unnoticed. */
__global__ void xent_kernel(const float *logits, const uint8_t *labels, int64_t n, int classes,
                            float grad_scale, float smoothing, const float *class_weights,
                            const uint8_t *mix_labels, const ct_step_vars *mix_sv,
                            float *dlogits, double *stats) {
    __shared__ float row_loss[CT_XENT_ROWS_PER_BLOCK];
    __shared__ int row_hit[CT_XENT_ROWS_PER_BLOCK];
    int lane = threadIdx.x % CT_WARP, warp = threadIdx.x / CT_WARP;
    int64_t r = (int64_t)blockIdx.x * CT_XENT_ROWS_PER_BLOCK + warp;
    float loss = 0.0f;
    int hit = 0;
    if (r < n) { /* uniform across the warp: the shuffles below see all 32 lanes */
        const float *z = logits + r * classes; // (classes)
        float zmax = -INFINITY;
        int arg = INT_MAX;
        for (int c = lane; c < classes; c += CT_WARP)
            if (z[c] > zmax) { zmax = z[c]; arg = c; }
        for (int o = CT_WARP / 2; o > 0; o /= 2) { /* larger value wins; ties: lower index */
            float om = __shfl_xor_sync(0xffffffffu, zmax, o);
            int oa = __shfl_xor_sync(0xffffffffu, arg, o);
            if (om > zmax || (om == zmax && oa < arg)) { zmax = om; arg = oa; }
        }
        /* as the CPU, which scans from z[0]: a NaN z[0] or a row of -inf is class 0 (the
         * loss of such a row is NaN or inf either way) */
        if (arg == INT_MAX || isnan(z[0])) arg = 0;
        float sum = 0.0f;
        for (int c = lane; c < classes; c += CT_WARP) sum += expf(z[c] - zmax);
        sum = warp_sum(sum);
        int y = labels[r];
        float zy = y < classes ? z[y] : NAN;
        const float off = smoothing / (float)classes, on = 1.0f - smoothing;
        const float wy = class_weights ? (y < classes ? class_weights[y] : NAN) : 1.0f;
        /* the target: on * (lam onehot(y) + (1 - lam) onehot(y2)) + off, y2 the MixUp / CutMix
         * partner's label (unmixed: lam 1), as the CPU's xent */
        const int mix = mix_sv && mix_labels && mix_sv->mix_kind;
        const float lam = mix ? mix_sv->mix_lam : 1.0f, on1 = on * lam, on2 = on * (1.0f - lam);
        const int y2 = mix ? mix_labels[r] : y;
        float zsum = 0.0f; /* lse - on1 z'[y] - on2 z'[y2] - s/C sum z'[c], z' = z - zmax */
        for (int c = lane; c < classes && smoothing > 0.0f; c += CT_WARP) zsum += z[c] - zmax;
        if (smoothing > 0.0f) zsum = warp_sum(zsum); /* (uniform across the warp) */
        loss = logf(sum) - on1 * (zy - zmax) - off * zsum;
        if (mix) loss -= on2 * ((y2 < classes ? z[y2] : NAN) - zmax);
        loss *= wy;
        hit = arg == (lam > 0.5f ? y : lam < 0.5f ? y2 : y < y2 ? y : y2); /* the larger share */
        __syncwarp(); /* every lane has read the row before any lane overwrites it */
        if (dlogits) {
            float *g = dlogits + r * classes; // (classes)
            float inv = 1.0f / sum, gs = grad_scale * wy;
            for (int c = lane; c < classes; c += CT_WARP) {
                float p = expf(z[c] - zmax) * inv;
                g[c] = gs * (p - off - (c == y ? on1 : 0.0f) - (c == y2 && mix ? on2 : 0.0f));
            }
        }
    }
    if (lane == 0) {
        row_loss[warp] = loss;
        row_hit[warp] = hit;
    }
    __syncthreads();
    if (threadIdx.x == 0) {
        double block_loss = 0.0;
        int block_hits = 0;
        for (int k = 0; k < CT_XENT_ROWS_PER_BLOCK; k++) {
            block_loss += (double)row_loss[k];
            block_hits += row_hit[k];
        }
        atomicAdd(&stats[0], block_loss);
        atomicAdd(&stats[1], (double)block_hits);
    }
}

static ct_status cuda_xent(ct_backend *b, const float *logits, const uint8_t *labels, int64_t n,
                           int classes, float grad_scale, float smoothing,
                           const float *class_weights, const uint8_t *mix_labels,
                           const ct_step_vars *mix_sv, float *dlogits, double *stats) {
    ct_cuda *cb = ct_cuda_of(b);
    if (n < 0 || classes <= 0)
        return ct_fail(CT_ERR_INVALID, "xent: bad shape (%lld, %d)", (long long)n, classes);
    if (n == 0) return CT_OK;
    int64_t blocks = (n + CT_XENT_ROWS_PER_BLOCK - 1) / CT_XENT_ROWS_PER_BLOCK;
    if (blocks > INT_MAX)
        return ct_fail(CT_ERR_INVALID, "xent: %lld rows is too many", (long long)n);
    CT_CUDA_BIND(cb);
    xent_kernel<<<(unsigned)blocks, CT_THREADS, 0, cb->compute>>>(logits, labels, n, classes,
                                                                 grad_scale, smoothing,
                                                                 class_weights, mix_labels,
                                                                 mix_sv, dlogits, stats);
    CT_CUDA_CHECK_LAUNCH("xent_kernel");
    return CT_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* reductions                                                                                  */

/* dst(n) += src(n); dst == src allowed */
__global__ void add_into_kernel(float *dst, const float *src, int64_t n) {
    GRID_STRIDE(i, n) dst[i] += src[i];
}

static ct_status cuda_add_into(ct_backend *b, float *dst, const float *src, int64_t n) {
    ct_cuda *cb = ct_cuda_of(b);
    if (n < 0) return ct_fail(CT_ERR_INVALID, "add_into: negative size %lld", (long long)n);
    if (n == 0) return CT_OK;
    CT_CUDA_BIND(cb);
    add_into_kernel<<<grid_for(cb, n), CT_THREADS, 0, cb->compute>>>(dst, src, n);
    CT_CUDA_CHECK_LAUNCH("add_into_kernel");
    return CT_OK;
}

__global__ void fill_kernel(float *dst, float value, int64_t n) {
    GRID_STRIDE(i, n) dst[i] = value;
}

static ct_status cuda_fill(ct_backend *b, float *dst, float value, int64_t n) {
    ct_cuda *cb = ct_cuda_of(b);
    if (n < 0) return ct_fail(CT_ERR_INVALID, "fill: negative size %lld", (long long)n);
    if (n == 0) return CT_OK;
    CT_CUDA_BIND(cb);
    fill_kernel<<<grid_for(cb, n), CT_THREADS, 0, cb->compute>>>(dst, value, n);
    CT_CUDA_CHECK_LAUNCH("fill_kernel");
    return CT_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* a channel gate: y = x * s + add by rows, and sums of rows                                   */

__global__ void scale_rows_kernel(const float *x, const float *s, const float *add, float *y,
                                  int64_t rows, int64_t cols) {
    GRID_STRIDE(e, rows * cols) {
        const int64_t r = e / cols;
        y[e] = x[e] * s[r] + (add ? add[r] : 0.0f);
    }
}

static ct_status cuda_scale_rows(ct_backend *b, const float *x, const float *s, const float *add,
                                 float *y, int64_t rows, int64_t cols) {
    ct_cuda *cb = ct_cuda_of(b);
    if (rows < 0 || cols < 0)
        return ct_fail(CT_ERR_INVALID, "scale_rows: bad shape (%lld, %lld)", (long long)rows,
                       (long long)cols);
    if (rows == 0 || cols == 0) return CT_OK;
    CT_CUDA_BIND(cb);
    scale_rows_kernel<<<grid_for(cb, rows * cols), CT_THREADS, 0, cb->compute>>>(x, s, add, y,
                                                                                rows, cols);
    CT_CUDA_CHECK_LAUNCH("scale_rows_kernel");
    return CT_OK;
}

/* one warp per row (the planes of a squeeze-and-excitation are small: 7x7 .. 56x56) */
#define CT_DOT_ROWS_PER_BLOCK (CT_THREADS / CT_WARP)
__global__ void dot_rows_kernel(const float *x, const float *y, float *out, int64_t rows,
                                int64_t cols, float alpha) {
    const int lane = threadIdx.x % CT_WARP;
    const int64_t r = (int64_t)blockIdx.x * CT_DOT_ROWS_PER_BLOCK + threadIdx.x / CT_WARP;
    if (r >= rows) return; /* (uniform across the warp) */
    const float *xr = x + r * cols, *yr = y ? y + r * cols : NULL;
    float acc = 0.0f;
    for (int64_t j = lane; j < cols; j += CT_WARP) acc += xr[j] * (yr ? yr[j] : 1.0f);
    acc = warp_sum(acc);
    if (lane == 0) out[r] = alpha * acc;
}

static ct_status cuda_dot_rows(ct_backend *b, const float *x, const float *y, float *out,
                               int64_t rows, int64_t cols, float alpha) {
    ct_cuda *cb = ct_cuda_of(b);
    const int64_t blocks = (rows + CT_DOT_ROWS_PER_BLOCK - 1) / CT_DOT_ROWS_PER_BLOCK;
    if (rows < 0 || cols < 0 || blocks > INT_MAX)
        return ct_fail(CT_ERR_INVALID, "dot_rows: bad shape (%lld, %lld)", (long long)rows,
                       (long long)cols);
    if (rows == 0) return CT_OK;
    CT_CUDA_BIND(cb);
    dot_rows_kernel<<<(unsigned)blocks, CT_THREADS, 0, cb->compute>>>(x, y, out, rows, cols,
                                                                      alpha);
    CT_CUDA_CHECK_LAUNCH("dot_rows_kernel");
    return CT_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* dropout                                                                                     */

/* out (n) = mask(in): one thread per Philox block of 4 elements. */
__global__ void dropout_kernel(const float *in, float *out, int64_t n, uint64_t seed,
                               uint64_t stream, uint64_t first, uint32_t thr, float scale,
                               const ct_step_vars *sv) {
    if (sv) stream += sv->step;
    const uint64_t b0 = first >> 2, blocks = ((first + (uint64_t)n - 1) >> 2) - b0 + 1;
    GRID_STRIDE(k, (int64_t)blocks) {
        uint32_t words[4];
        uint64_t blk = b0 + (uint64_t)k;
        philox4x32(seed, stream, blk, words);
        for (int q = 0; q < 4; q++) {
            uint64_t e = (blk << 2) + q;
            if (e < first || e >= first + (uint64_t)n) continue;
            int64_t i = (int64_t)(e - first);
            out[i] = (words[q] >> 8) >= thr ? in[i] * scale : 0.0f;
        }
    }
}

static ct_status dropout_apply(ct_backend *b, const float *in, float *out, int64_t n, float p,
                               uint64_t seed, uint64_t stream, uint64_t first,
                               const ct_step_vars *sv, const char *op) {
    ct_cuda *cb = ct_cuda_of(b);
    if (n < 0 || !(p >= 0.0f))
        return ct_fail(CT_ERR_INVALID, "%s: bad size %lld or p %g", op, (long long)n, (double)p);
    if (n == 0) return CT_OK;
    CT_CUDA_BIND(cb);
    if (p >= 1.0f) {
        CT_CUDA_CHECK(cudaMemsetAsync(out, 0, (size_t)n * sizeof(float), cb->compute));
        return CT_OK;
    }
    const uint32_t thr = (uint32_t)((double)p * 16777216.0);
    const float scale = 1.0f / (1.0f - p);
    dropout_kernel<<<grid_for(cb, n / 4 + 2), CT_THREADS, 0, cb->compute>>>(
        in, out, n, seed, stream, first, thr, scale, sv);
    CT_CUDA_CHECK_LAUNCH("dropout_kernel");
    return CT_OK;
}

static ct_status cuda_dropout_forward(ct_backend *b, const float *x, float *y, int64_t n, float p,
                                      uint64_t seed, uint64_t stream, uint64_t first,
                                      const ct_step_vars *sv) {
    return dropout_apply(b, x, y, n, p, seed, stream, first, sv, "dropout_forward");
}

static ct_status cuda_dropout_backward(ct_backend *b, const float *dy, float *dx, int64_t n,
                                       float p, uint64_t seed, uint64_t stream, uint64_t first,
                                       const ct_step_vars *sv) {
    return dropout_apply(b, dy, dx, n, p, seed, stream, first, sv, "dropout_backward");
}

/* ------------------------------------------------------------------------------------------ */
/* the step's variables: a CUDA graph's replay reads its step's row of the table               */

__global__ void step_load_kernel(ct_step_vars *cur, const ct_step_vars *table, int64_t *cursor) {
    *cur = table[*cursor];
    *cursor += 1;
}

static ct_status cuda_step_load(ct_backend *b, ct_step_vars *cur, const ct_step_vars *table,
                                int64_t *cursor) {
    ct_cuda *cb = ct_cuda_of(b);
    CT_CUDA_BIND(cb);
    step_load_kernel<<<1, 1, 0, cb->compute>>>(cur, table, cursor);
    CT_CUDA_CHECK_LAUNCH("step_load_kernel");
    return CT_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* table                                                                                       */

ct_status ct_cuda_probe_kernels(ct_cuda *cb) {
    cudaFuncAttributes attr;
    CT_CUDA_CHECK(cudaFuncGetAttributes(&attr, add_into_kernel));
    CT_CUDA_CHECK(cudaFuncGetAttributes(&attr, xent_kernel));
    return ct_cuda_probe_mlp_kernels();
}

void ct_cuda_fill_ops(ct_backend *b) {
    b->gemm = cuda_gemm;
    b->bias_add = cuda_bias_add;
    b->normalize = cuda_normalize;
    b->bias_grad = cuda_bias_grad;
    b->act_forward = cuda_act_forward;
    b->act_backward = cuda_act_backward;
    b->xent = cuda_xent;
    b->add_into = cuda_add_into;
    b->fill = cuda_fill;
    b->scale_rows = cuda_scale_rows;
    b->dot_rows = cuda_dot_rows;
    b->dropout_forward = cuda_dropout_forward;
    b->dropout_backward = cuda_dropout_backward;
    b->step_load = cuda_step_load;
}
