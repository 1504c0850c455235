/*
 * cpu_seq.c — the CPU's ops for token sequences (attention, nn/attention.c): a batch of GEMMs,
 * the softmax of rows and its backward, a batch of transposes and a strided row copy (see
 * backend.h). Each runs on the calling thread: the model's shards are the CPU's threads.
 */
#include "backend/cpu/cpu_nn.h"
#include "backend/cpu/kernels.h"
#include "core/core.h"

#include <string.h>

/* b->gemm for each matrix: the CPU's small-GEMM kernels or OpenBLAS, as one gemm picks */
static ct_status cpu_gemm_batched(ct_backend *b, int ta, int tb, int M, int N, int K,
                                  float alpha, const float *A, int lda, int64_t sa,
                                  const float *B, int ldb, int64_t sb, float beta, float *C,
                                  int ldc, int64_t sc, int batch) {
    CT_TRY(ct_seq_check("gemm_batched", M, N, K));
    CT_TRY(ct_seq_check("gemm_batched", batch, 0, 0));
    for (int i = 0; i < batch; i++)
        CT_TRY(b->gemm(b, ta, tb, M, N, K, alpha, A + i * sa, lda, B + i * sb, ldb, beta,
                       C + i * sc, ldc));
    return CT_OK;
}

/* A row's softmax: the max subtracted, exp (vectorised) and sum, then scaled by 1 / sum
 * (kernels.c). */
static ct_status cpu_softmax_rows(ct_backend *b, const float *x, float *y, int64_t rows,
                                  int64_t cols) {
    (void)b;
    CT_TRY(ct_seq_check("softmax_rows", rows, cols, 0));
    for (int64_t r = 0; r < rows; r++) ct_softmax_row(x + r * cols, y + r * cols, cols);
    return CT_OK;
}

static ct_status cpu_softmax_rows_backward(ct_backend *b, const float *y, const float *dy,
                                           float *dx, int64_t rows, int64_t cols) {
    (void)b;
    CT_TRY(ct_seq_check("softmax_rows_backward", rows, cols, 0));
    for (int64_t r = 0; r < rows; r++) {
        const float *yr = y + r * cols, *gr = dy + r * cols;
        float *dr = dx + r * cols;
        double dot = 0.0;
        for (int64_t j = 0; j < cols; j++) dot += (double)gr[j] * yr[j];
        const float d = (float)dot;
        for (int64_t j = 0; j < cols; j++) dr[j] = yr[j] * (gr[j] - d);
    }
    return CT_OK;
}

/* in 32x32 tiles, so that both sides are read and written a cache line at a time */
static ct_status cpu_transpose(ct_backend *b, const float *x, float *y, int64_t batch,
                               int64_t rows, int64_t cols) {
    (void)b;
    CT_TRY(ct_seq_check("transpose", batch, rows, cols));
    enum { TILE = 32 };
    for (int64_t i = 0; i < batch; i++) {
        const float *xi = x + i * rows * cols;
        float *yi = y + i * rows * cols;
        for (int64_t r0 = 0; r0 < rows; r0 += TILE)
            for (int64_t c0 = 0; c0 < cols; c0 += TILE) {
                const int64_t r1 = r0 + TILE < rows ? r0 + TILE : rows;
                const int64_t c1 = c0 + TILE < cols ? c0 + TILE : cols;
                for (int64_t r = r0; r < r1; r++)
                    for (int64_t c = c0; c < c1; c++) yi[c * rows + r] = xi[r * cols + c];
            }
    }
    return CT_OK;
}

static ct_status cpu_copy2d(ct_backend *b, float *dst, int64_t ldd, const float *src,
                            int64_t lds, int64_t rows, int64_t cols) {
    (void)b;
    CT_TRY(ct_copy2d_check(ldd, lds, rows, cols));
    for (int64_t r = 0; r < rows; r++)
        memcpy(dst + r * ldd, src + r * lds, (size_t)cols * sizeof(float));
    return CT_OK;
}

void ct_cpu_fill_seq_ops(ct_backend *b) {
    b->gemm_batched = cpu_gemm_batched;
    b->softmax_rows = cpu_softmax_rows;
    b->softmax_rows_backward = cpu_softmax_rows_backward;
    b->transpose = cpu_transpose;
    b->copy2d = cpu_copy2d;
}
