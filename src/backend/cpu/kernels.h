/*
 * kernels.h — hand-written CPU kernels for the shapes where a general BLAS is slow.
 */
#ifndef CT_CPU_KERNELS_H
#define CT_CPU_KERNELS_H

#include <stdint.h>

/* Row-major C(M,N) = alpha * op(A) * op(B) + beta * C for small operands, single-threaded.
 * Returns 1 when computed, 0 when the case is not handled here (the caller uses BLAS): with
 * AVX-512 only (kernels.c says why). */
int ct_small_gemm(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                  const float *B, int ldb, float beta, float *C, int ldc);

/* Vectorised loops (single-threaded; dx may equal dy, y may equal x). */
void ct_convert_u8(const uint8_t *in, float *out, int64_t n, float scale); /* out = scale*in */
void ct_relu_forward(const float *x, float *y, int64_t n);
void ct_relu_backward(const float *x, const float *dy, float *dx, int64_t n);
/* sigmoid and SiLU (x * sigmoid(x)) and SiLU's dx = dy * f'(x), through an exp of about 1e-7
 * relative error (kernels_impl.h), the loops vectorised (x == y allowed; dx == dy too) */
void ct_sigmoid_forward(const float *x, float *y, int64_t n);
void ct_silu_forward(const float *x, float *y, int64_t n);
void ct_silu_backward(const float *x, const float *dy, float *dx, int64_t n);
/* GELU (erf form) and its dx = dy * f'(x), through Numerical Recipes' erfc fit (fractional
 * error 1.2e-7) and the exp above, vectorised */
void ct_gelu_forward(const float *x, float *y, int64_t n);
void ct_gelu_backward(const float *x, const float *dy, float *dx, int64_t n);
void ct_bias_rows(float *y, const float *bias, int64_t rows, int64_t cols); /* y += bias */
void ct_colsum(float *db, const float *dy, int64_t rows, int64_t cols);    /* db = sum rows */
float ct_sum_f32(const float *x, int64_t n); /* x[0] + ... + x[n-1], in a fixed order */
/* y = softmax(x) of one row of n (y may be x), through the exp above, the sum in a fixed order */
void ct_softmax_row(const float *x, float *y, int64_t n);
/* Batch norm's loops over one channel of x (n, c, inner): n rows of `inner` floats, `stride`
 * apart (each row summed in 16 float lanes, the rows in double). ct_bn_sum: the sum of x;
 * ct_bn_sqdev: of (x - mean)^2; ct_bn_apply: y = (x - mean) * scale + shift; ct_bn_grad_sums:
 * *sdy = the sum of dy, *sdxc = of dy * (x - mean); ct_bn_grad_apply: dx = a * dy + b * (x -
 * mean) + c (dx may be dy). */
double ct_bn_sum(const float *x, int64_t n, int64_t stride, int64_t inner);
double ct_bn_sqdev(const float *x, int64_t n, int64_t stride, int64_t inner, float mean);
void ct_bn_apply(const float *x, float *y, int64_t n, int64_t stride, int64_t inner, float mean,
                 float scale, float shift);
void ct_bn_grad_sums(const float *x, const float *dy, int64_t n, int64_t stride, int64_t inner,
                     float mean, double *sdy, double *sdxc);
void ct_bn_grad_apply(const float *x, const float *dy, float *dx, int64_t n, int64_t stride,
                      int64_t inner, float mean, float a, float b, float c);
/* Philox4x32-10 blocks (key, counter (hi, lo0 + b)) for b < nblocks into out[4*b .. 4*b+3]:
 * bit for bit core.c's ct_philox4x32, many lanes at once. */
void ct_philox_blocks(uint64_t key, uint64_t hi, uint64_t lo0, int64_t nblocks, uint32_t *out);
/* out[i] = (words[i] >> 8) >= thr ? in[i] * scale : 0 (in == out allowed) */
void ct_dropout_mask(const uint32_t *words, const float *in, float *out, int64_t n, uint32_t thr,
                     float scale);

/* The instruction set the kernels use on this CPU: "AVX-512", "AVX2" or "baseline" (the best the
 * CPU has, or a lower one named by CTRAIN_CPU_ISA=avx2|baseline). */
const char *ct_small_gemm_isa(void);

#endif
