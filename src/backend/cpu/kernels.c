/*
 * kernels.c — register-blocked single-precision matrix products for the small, tall-skinny
 * shapes of per-thread training steps (e.g. (64, 784) x (784, 32)), where a general BLAS spends
 * much of its time packing. Written with GCC vector extensions (kernels_impl.h) and compiled
 * here for several instruction sets (x86-64-v4 = AVX-512, v3 = AVX2+FMA, baseline); the first
 * call picks the best the CPU supports, so one binary runs on any x86-64 and the same source
 * builds elsewhere.
 *
 * All three kernels keep a 16-accumulator tile in registers:
 *   NT  C(M,N) = A(M,K) · B(N,K)^T   4 rows of A x 4 rows of B, dot products along K
 *   TN  C(M,N) = A(K,M)^T · B(K,N)   8 columns of A x 32 columns of B, rank-1 updates over K
 *   NN  C(M,N) = A(M,K) · B(K,N)     8 rows of A x 32 columns of B, rank-1 updates over K
 * and finish with C = alpha * acc + beta * C (C is not read when beta == 0).
 */
#include "backend/cpu/kernels.h"

#include <stddef.h>
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
#include "backend/cpu/kernels_impl.h"
#undef KNAME
#pragma GCC pop_options
#pragma GCC push_options
#pragma GCC target("arch=x86-64-v3")
#define KNAME(f) f##_v3
#include "backend/cpu/kernels_impl.h"
#undef KNAME
#pragma GCC pop_options
#endif
#define KNAME(f) f##_base
#include "backend/cpu/kernels_impl.h"
#undef KNAME

static gemm_nt_fn g_nt;
static gemm_rank1_fn g_rank1;
static const char *g_isa = "baseline";

static void pick_kernels(void) {
    g_nt = gemm_nt_base;
    g_rank1 = gemm_rank1_base;
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq")) {
        g_nt = gemm_nt_v4;
        g_rank1 = gemm_rank1_v4;
        g_isa = "AVX-512";
    } else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        g_nt = gemm_nt_v3;
        g_rank1 = gemm_rank1_v3;
        g_isa = "AVX2";
    }
#endif
}

const char *ct_small_gemm_isa(void) {
    if (!g_nt) pick_kernels();
    return g_isa;
}

/* ------------------------------------------------------------------------------------------ */

int ct_small_gemm(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                  const float *B, int ldb, float beta, float *C, int ldc) {
    if (!g_nt) pick_kernels();
    if (!ta && tb) {
        g_nt(M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return 1;
    }
    if (ta && !tb) { /* A is (K, M): a(i, k) = A[k*lda + i] */
        g_rank1(M, N, K, alpha, A, 1, (size_t)lda, B, ldb, beta, C, ldc);
        return 1;
    }
    if (!ta && !tb) { /* A is (M, K): a(i, k) = A[i*lda + k] */
        g_rank1(M, N, K, alpha, A, (size_t)lda, 1, B, ldb, beta, C, ldc);
        return 1;
    }
    return 0;
}
