/*
 * kernels.c — register-blocked single-precision matrix products for the small, tall-skinny
 * shapes of per-thread training steps (e.g. (64, 784) x (784, 32)), where a general BLAS spends
 * much of its time packing. Written with GCC vector extensions (kernels_impl.h) and compiled
 * here for several instruction sets (x86-64-v4 = AVX-512, v3 = AVX2+FMA, baseline); the first
 * call picks the best the CPU supports, so one binary runs on any x86-64 and the same source
 * builds elsewhere.
 *
 * All three GEMM kernels keep a 16-accumulator tile in registers:
 *   NT  C(M,N) = A(M,K) · B(N,K)^T   4 rows of A x 4 rows of B, dot products along K
 *   TN  C(M,N) = A(K,M)^T · B(K,N)   8 columns of A x 32 columns of B, rank-1 updates over K
 *   NN  C(M,N) = A(M,K) · B(K,N)     8 rows of A x 32 columns of B, rank-1 updates over K
 * and finish with C = alpha * acc + beta * C (C is not read when beta == 0). They are built for
 * AVX-512 only: a tile is 16 vectors of 16 floats, which AVX-512's 32 registers hold. With
 * AVX2 (16 registers of 8 floats) the same tile spills: bench/gemm.c measured 2.5-6.5 GFLOP/s
 * there against OpenBLAS's 22-57 on its 19 training shapes (an EPYC VM without AVX-512, 4 Dec
 * 2026), and the default job ran 1.04-1.08 s an epoch on one thread against 0.15-0.18 with
 * OpenBLAS. So the AVX2 and baseline sets have no GEMM kernels: OpenBLAS does those products.
 * AVX2 tiles of its own (12 accumulators: 3x4 dot products for NT, 6 rows x 16 columns of
 * rank-1 updates) were tried on 5 Dec: bench/gemm.c gave 42-59 GFLOP/s on the large training
 * shapes against OpenBLAS's 65-79 (better only below about 2 us), so they were not kept.
 */
#include "backend/cpu/kernels.h"
#include "core/core.h" /* ct_philox4x32 */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef float v16 __attribute__((vector_size(64)));

typedef void (*gemm_nt_fn)(int M, int N, int K, float alpha, const float *A, int lda,
                           const float *B, int ldb, float beta, float *C, int ldc);
typedef void (*gemm_rank1_fn)(int M, int N, int K, float alpha, const float *A, size_t a_i,
                              size_t a_k, const float *B, int ldb, float beta, float *C, int ldc);

#if defined(__x86_64__)
#pragma GCC push_options
#pragma GCC target("arch=x86-64-v4")
#define KNAME(f) f##_v4
#define CT_KERNELS_VEC64 1 /* 64-bit lane multiplies (vpmullq) */
#define CT_KERNELS_GEMM 1
#include "backend/cpu/kernels_impl.h"
#undef CT_KERNELS_GEMM
#undef CT_KERNELS_VEC64
#undef KNAME
#pragma GCC pop_options
#pragma GCC push_options
#pragma GCC target("arch=x86-64-v3")
#define KNAME(f) f##_v3
#define CT_KERNELS_VEC64 0
#define CT_KERNELS_GEMM 0
#include "backend/cpu/kernels_impl.h"
#undef CT_KERNELS_GEMM
#undef CT_KERNELS_VEC64
#undef KNAME
#pragma GCC pop_options
#endif
#define KNAME(f) f##_base
#define CT_KERNELS_VEC64 0
#define CT_KERNELS_GEMM 0
#include "backend/cpu/kernels_impl.h"
#undef CT_KERNELS_GEMM
#undef CT_KERNELS_VEC64
#undef KNAME

/* One instruction set's versions of every kernel (nt, rank1: NULL where OpenBLAS is faster). */
typedef struct {
    const char *isa;
    gemm_nt_fn nt;
    gemm_rank1_fn rank1;
    void (*convert_u8)(const uint8_t *in, float *out, int64_t n, float scale);
    void (*relu_forward)(const float *x, float *y, int64_t n);
    void (*relu_backward)(const float *x, const float *dy, float *dx, int64_t n);
    void (*sigmoid_forward)(const float *x, float *y, int64_t n);
    void (*silu_forward)(const float *x, float *y, int64_t n);
    void (*silu_backward)(const float *x, const float *dy, float *dx, int64_t n);
    void (*gelu_forward)(const float *x, float *y, int64_t n);
    void (*gelu_backward)(const float *x, const float *dy, float *dx, int64_t n);
    void (*bias_rows)(float *y, const float *bias, int64_t rows, int64_t cols);
    void (*colsum)(float *db, const float *dy, int64_t rows, int64_t cols);
    float (*sum)(const float *x, int64_t n);
    void (*softmax_row)(const float *x, float *y, int64_t n);
    void (*philox_blocks)(uint64_t key, uint64_t hi, uint64_t lo0, int64_t nblocks, uint32_t *out);
    void (*dropout_mask)(const uint32_t *words, const float *in, float *out, int64_t n,
                         uint32_t thr, float scale);
    double (*bn_sum)(const float *x, int64_t n, int64_t stride, int64_t inner);
    double (*bn_sqdev)(const float *x, int64_t n, int64_t stride, int64_t inner, float mean);
    void (*bn_apply)(const float *x, float *y, int64_t n, int64_t stride, int64_t inner,
                     float mean, float scale, float shift);
    void (*bn_grad_sums)(const float *x, const float *dy, int64_t n, int64_t stride,
                         int64_t inner, float mean, double *sdy, double *sdxc);
    void (*bn_grad_apply)(const float *x, const float *dy, float *dx, int64_t n, int64_t stride,
                          int64_t inner, float mean, float a, float b, float c);
} kernel_set;

#define KERNEL_SET(isa_name, nt, rank1, sfx)                                                   \
    {isa_name, nt, rank1, convert_u8_##sfx, relu_forward_##sfx, relu_backward_##sfx,            \
     sigmoid_forward_##sfx, silu_forward_##sfx, silu_backward_##sfx, gelu_forward_##sfx,        \
     gelu_backward_##sfx, bias_rows_##sfx, colsum_##sfx, sum_##sfx, softmax_row_##sfx,           \
     philox_blocks_##sfx, dropout_mask_##sfx,                                                    \
     bn_sum_##sfx, bn_sqdev_##sfx, bn_apply_##sfx, bn_grad_sums_##sfx, bn_grad_apply_##sfx}

static const kernel_set k_base = KERNEL_SET("baseline", NULL, NULL, base);
#if defined(__x86_64__)
static const kernel_set k_v3 = KERNEL_SET("AVX2", NULL, NULL, v3);
static const kernel_set k_v4 = KERNEL_SET("AVX-512", gemm_nt_v4, gemm_rank1_v4, v4);
#endif
static const kernel_set *g_k;

static void pick_kernels(void) {
    const kernel_set *k = &k_base;
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq"))
        k = &k_v4;
    else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        k = &k_v3;
    /* CTRAIN_CPU_ISA=avx2|baseline picks a lower set than the CPU's best (the tests run every
     * set this way); a higher one than the CPU has is never taken */
    const char *want = getenv("CTRAIN_CPU_ISA");
    if (want && strcmp(want, "baseline") == 0) k = &k_base;
    else if (want && strcmp(want, "avx2") == 0 && k == &k_v4) k = &k_v3;
#endif
    __atomic_store_n(&g_k, k, __ATOMIC_RELEASE);
}

static inline const kernel_set *kernels(void) {
    const kernel_set *k = __atomic_load_n(&g_k, __ATOMIC_ACQUIRE);
    if (!k) {
        pick_kernels();
        k = g_k;
    }
    return k;
}

const char *ct_small_gemm_isa(void) { return kernels()->isa; }

void ct_convert_u8(const uint8_t *in, float *out, int64_t n, float scale) {
    kernels()->convert_u8(in, out, n, scale);
}
void ct_relu_forward(const float *x, float *y, int64_t n) { kernels()->relu_forward(x, y, n); }
void ct_relu_backward(const float *x, const float *dy, float *dx, int64_t n) {
    kernels()->relu_backward(x, dy, dx, n);
}
void ct_sigmoid_forward(const float *x, float *y, int64_t n) {
    kernels()->sigmoid_forward(x, y, n);
}
void ct_silu_forward(const float *x, float *y, int64_t n) { kernels()->silu_forward(x, y, n); }
void ct_silu_backward(const float *x, const float *dy, float *dx, int64_t n) {
    kernels()->silu_backward(x, dy, dx, n);
}
void ct_gelu_forward(const float *x, float *y, int64_t n) { kernels()->gelu_forward(x, y, n); }
void ct_gelu_backward(const float *x, const float *dy, float *dx, int64_t n) {
    kernels()->gelu_backward(x, dy, dx, n);
}
void ct_softmax_row(const float *x, float *y, int64_t n) { kernels()->softmax_row(x, y, n); }
void ct_bias_rows(float *y, const float *bias, int64_t rows, int64_t cols) {
    kernels()->bias_rows(y, bias, rows, cols);
}
void ct_colsum(float *db, const float *dy, int64_t rows, int64_t cols) {
    kernels()->colsum(db, dy, rows, cols);
}
float ct_sum_f32(const float *x, int64_t n) { return kernels()->sum(x, n); }
double ct_bn_sum(const float *x, int64_t n, int64_t stride, int64_t inner) {
    return kernels()->bn_sum(x, n, stride, inner);
}
double ct_bn_sqdev(const float *x, int64_t n, int64_t stride, int64_t inner, float mean) {
    return kernels()->bn_sqdev(x, n, stride, inner, mean);
}
void ct_bn_apply(const float *x, float *y, int64_t n, int64_t stride, int64_t inner, float mean,
                 float scale, float shift) {
    kernels()->bn_apply(x, y, n, stride, inner, mean, scale, shift);
}
void ct_bn_grad_sums(const float *x, const float *dy, int64_t n, int64_t stride, int64_t inner,
                     float mean, double *sdy, double *sdxc) {
    kernels()->bn_grad_sums(x, dy, n, stride, inner, mean, sdy, sdxc);
}
void ct_bn_grad_apply(const float *x, const float *dy, float *dx, int64_t n, int64_t stride,
                      int64_t inner, float mean, float a, float b, float c) {
    kernels()->bn_grad_apply(x, dy, dx, n, stride, inner, mean, a, b, c);
}
void ct_philox_blocks(uint64_t key, uint64_t hi, uint64_t lo0, int64_t nblocks, uint32_t *out) {
    kernels()->philox_blocks(key, hi, lo0, nblocks, out);
}
void ct_dropout_mask(const uint32_t *words, const float *in, float *out, int64_t n, uint32_t thr,
                     float scale) {
    kernels()->dropout_mask(words, in, out, n, thr, scale);
}

/* ------------------------------------------------------------------------------------------ */

int ct_small_gemm(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                  const float *B, int ldb, float beta, float *C, int ldc) {
    const kernel_set *k = kernels();
    if (!k->nt) return 0; /* OpenBLAS's, which is faster there */
    if (!ta && tb) {
        k->nt(M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return 1;
    }
    if (ta && !tb) { /* A is (K, M): a(i, k) = A[k*lda + i] */
        k->rank1(M, N, K, alpha, A, 1, (size_t)lda, B, ldb, beta, C, ldc);
        return 1;
    }
    if (!ta && !tb) { /* A is (M, K): a(i, k) = A[i*lda + k] */
        k->rank1(M, N, K, alpha, A, (size_t)lda, 1, B, ldb, beta, C, ldc);
        return 1;
    }
    return 0;
}
