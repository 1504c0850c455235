/*
 * cuda_seq.cu — the CUDA backend's ops for token sequences (attention, nn/attention.c):
 * cuBLAS's strided batched GEMM, the softmax of rows and its backward (a warp a row), a batch
 * of transposes and a strided row copy (grid-stride loops). Semantics: backend.h; the
 * reference: backend/cpu/cpu_seq.c.
 */
#include "backend/cuda/cuda_internal.h"

#include <math.h>

#define SEQ_WARP 32
#define SEQ_ROWS_PER_BLOCK (CT_THREADS / SEQ_WARP) /* one warp per row */

static __device__ __forceinline__ float seq_warp_sum(float v) {
    for (int o = SEQ_WARP / 2; o > 0; o /= 2) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
static __device__ __forceinline__ float seq_warp_max(float v) {
    for (int o = SEQ_WARP / 2; o > 0; o /= 2) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

/* Row-major as cuda_gemm: cuBLAS gets B first, A second, and (N, M, K). */
static ct_status cuda_gemm_batched(ct_backend *b, int ta, int tb, int M, int N, int K,
                                   float alpha, const float *A, int lda, int64_t sa,
                                   const float *B, int ldb, int64_t sb, float beta, float *C,
                                   int ldc, int64_t sc, int batch) {
    ct_cuda *cb = ct_cuda_of(b);
    CT_TRY(ct_seq_check("gemm_batched", M, N, K));
    CT_TRY(ct_seq_check("gemm_batched", batch, 0, 0));
    if (M == 0 || N == 0 || batch == 0) return CT_OK;
    if (K == 0) { /* C_i *= beta: gemm's own case */
        for (int i = 0; i < batch; i++)
            CT_TRY(b->gemm(b, ta, tb, M, N, 0, alpha, A, lda, B, ldb, beta, C + i * sc, ldc));
        return CT_OK;
    }
    CT_CUDA_BIND(cb);
    cublasOperation_t op_a = ta ? CUBLAS_OP_T : CUBLAS_OP_N;
    cublasOperation_t op_b = tb ? CUBLAS_OP_T : CUBLAS_OP_N;
    CT_CUBLAS_CHECK(cublasSgemmStridedBatched(cb->cublas, op_b, op_a, N, M, K, &alpha, B, ldb, sb,
                                              A, lda, sa, &beta, C, ldc, sc, batch));
    return CT_OK;
}

__global__ void softmax_rows_kernel(const float *x, float *y, int64_t rows, int64_t cols) {
    const int lane = threadIdx.x % SEQ_WARP;
    const int64_t r = (int64_t)blockIdx.x * SEQ_ROWS_PER_BLOCK + threadIdx.x / SEQ_WARP;
    if (r >= rows) return; /* (a whole warp: the shuffles below see all 32 lanes) */
    const float *xr = x + r * cols;
    float *yr = y + r * cols;
    float mx = -INFINITY;
    for (int64_t j = lane; j < cols; j += SEQ_WARP) mx = fmaxf(mx, xr[j]);
    mx = seq_warp_max(mx);
    float sum = 0.0f;
    for (int64_t j = lane; j < cols; j += SEQ_WARP) {
        const float e = expf(xr[j] - mx);
        yr[j] = e;
        sum += e;
    }
    const float inv = 1.0f / seq_warp_sum(sum);
    for (int64_t j = lane; j < cols; j += SEQ_WARP) yr[j] *= inv;
}

__global__ void softmax_rows_backward_kernel(const float *y, const float *dy, float *dx,
                                             int64_t rows, int64_t cols) {
    const int lane = threadIdx.x % SEQ_WARP;
    const int64_t r = (int64_t)blockIdx.x * SEQ_ROWS_PER_BLOCK + threadIdx.x / SEQ_WARP;
    if (r >= rows) return;
    const float *yr = y + r * cols, *gr = dy + r * cols;
    float *dr = dx + r * cols;
    float dot = 0.0f;
    for (int64_t j = lane; j < cols; j += SEQ_WARP) dot += gr[j] * yr[j];
    dot = seq_warp_sum(dot);
    for (int64_t j = lane; j < cols; j += SEQ_WARP) dr[j] = yr[j] * (gr[j] - dot);
}

static int64_t seq_blocks(int64_t rows) {
    return (rows + SEQ_ROWS_PER_BLOCK - 1) / SEQ_ROWS_PER_BLOCK;
}

static ct_status cuda_softmax_rows(ct_backend *b, const float *x, float *y, int64_t rows,
                                   int64_t cols) {
    ct_cuda *cb = ct_cuda_of(b);
    CT_TRY(ct_seq_check("softmax_rows", rows, cols, 0));
    if (rows == 0 || cols == 0) return CT_OK;
    if (seq_blocks(rows) > INT32_MAX)
        return ct_fail(CT_ERR_INVALID, "softmax_rows: %lld rows", (long long)rows);
    CT_CUDA_BIND(cb);
    softmax_rows_kernel<<<(unsigned)seq_blocks(rows), CT_THREADS, 0, cb->compute>>>(x, y, rows,
                                                                                   cols);
    CT_CUDA_CHECK_LAUNCH("softmax_rows_kernel");
    return CT_OK;
}

static ct_status cuda_softmax_rows_backward(ct_backend *b, const float *y, const float *dy,
                                            float *dx, int64_t rows, int64_t cols) {
    ct_cuda *cb = ct_cuda_of(b);
    CT_TRY(ct_seq_check("softmax_rows_backward", rows, cols, 0));
    if (rows == 0 || cols == 0) return CT_OK;
    if (seq_blocks(rows) > INT32_MAX)
        return ct_fail(CT_ERR_INVALID, "softmax_rows_backward: %lld rows", (long long)rows);
    CT_CUDA_BIND(cb);
    softmax_rows_backward_kernel<<<(unsigned)seq_blocks(rows), CT_THREADS, 0, cb->compute>>>(
        y, dy, dx, rows, cols);
    CT_CUDA_CHECK_LAUNCH("softmax_rows_backward_kernel");
    return CT_OK;
}

/* a thread an output value, consecutive threads consecutive outputs (the writes coalesce) */
__global__ void transpose_kernel(const float *x, float *y, int64_t batch, int64_t rows,
                                 int64_t cols) {
    const int64_t per = rows * cols;
    GRID_STRIDE(e, batch * per) {
        const int64_t i = e / per, k = e - i * per; /* y_i (cols, rows): k = c * rows + r */
        const int64_t c = k / rows, r = k - c * rows;
        y[e] = x[i * per + r * cols + c];
    }
}

static ct_status cuda_transpose(ct_backend *b, const float *x, float *y, int64_t batch,
                                int64_t rows, int64_t cols) {
    ct_cuda *cb = ct_cuda_of(b);
    CT_TRY(ct_seq_check("transpose", batch, rows, cols));
    const int64_t n = batch * rows * cols;
    if (n == 0) return CT_OK;
    CT_CUDA_BIND(cb);
    transpose_kernel<<<grid_for(cb, n), CT_THREADS, 0, cb->compute>>>(x, y, batch, rows, cols);
    CT_CUDA_CHECK_LAUNCH("transpose_kernel");
    return CT_OK;
}

__global__ void copy2d_kernel(float *dst, int64_t ldd, const float *src, int64_t lds,
                              int64_t rows, int64_t cols) {
    GRID_STRIDE(e, rows * cols) {
        const int64_t r = e / cols, c = e - r * cols;
        dst[r * ldd + c] = src[r * lds + c];
    }
}

static ct_status cuda_copy2d(ct_backend *b, float *dst, int64_t ldd, const float *src,
                             int64_t lds, int64_t rows, int64_t cols) {
    ct_cuda *cb = ct_cuda_of(b);
    CT_TRY(ct_copy2d_check(ldd, lds, rows, cols));
    if (rows == 0 || cols == 0) return CT_OK;
    CT_CUDA_BIND(cb);
    copy2d_kernel<<<grid_for(cb, rows * cols), CT_THREADS, 0, cb->compute>>>(dst, ldd, src, lds,
                                                                             rows, cols);
    CT_CUDA_CHECK_LAUNCH("copy2d_kernel");
    return CT_OK;
}

void ct_cuda_fill_seq_ops(ct_backend *b) {
    b->gemm_batched = cuda_gemm_batched;
    b->softmax_rows = cuda_softmax_rows;
    b->softmax_rows_backward = cuda_softmax_rows_backward;
    b->transpose = cuda_transpose;
    b->copy2d = cuda_copy2d;
}
