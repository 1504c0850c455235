/*
 * kernels.h — hand-written CPU kernels for the shapes where a general BLAS is slow.
 */
#ifndef CT_CPU_KERNELS_H
#define CT_CPU_KERNELS_H

/* Row-major C(M,N) = alpha * op(A) * op(B) + beta * C for small operands, single-threaded.
 * Returns 1 when computed, 0 when the case is not handled here (the caller uses BLAS). */
int ct_small_gemm(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                  const float *B, int ldb, float beta, float *C, int ldc);

/* The instruction set the kernels use on this CPU: "AVX-512", "AVX2" or "baseline". */
const char *ct_small_gemm_isa(void);

#endif
