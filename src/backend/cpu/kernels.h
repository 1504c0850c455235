/*
 * kernels.h — hand-written CPU kernels for the shapes where a general BLAS is slow.
 */
#ifndef CT_CPU_KERNELS_H
#define CT_CPU_KERNELS_H

#include <stdint.h>

/* Row-major C(M,N) = alpha * op(A) * op(B) + beta * C for small operands, single-threaded.
 * Returns 1 when computed, 0 when the case is not handled here (the caller uses BLAS). */
int ct_small_gemm(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                  const float *B, int ldb, float beta, float *C, int ldc);

/* Vectorised loops (single-threaded; dx may equal dy, y may equal x). */
void ct_convert_u8(const uint8_t *in, float *out, int64_t n, float scale); /* out = scale*in */
void ct_relu_forward(const float *x, float *y, int64_t n);
void ct_relu_backward(const float *x, const float *dy, float *dx, int64_t n);
void ct_bias_rows(float *y, const float *bias, int64_t rows, int64_t cols); /* y += bias */
void ct_colsum(float *db, const float *dy, int64_t rows, int64_t cols);    /* db = sum rows */

/* The instruction set the kernels use on this CPU: "AVX-512", "AVX2" or "baseline". */
const char *ct_small_gemm_isa(void);

#endif
