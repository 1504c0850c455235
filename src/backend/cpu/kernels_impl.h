/*
 * kernels_impl.h — the body of kernels.c, included once per instruction set with KNAME(f)
 * giving each copy's function names (see kernels.c). Not a header to include elsewhere.
 */

static inline v16 KNAME(load16)(const float *p) {
    v16 v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline v16 KNAME(splat)(float x) { return (v16){x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x}; }

static inline float KNAME(hsum)(v16 v) {
    float s = 0.0f;
    for (int i = 0; i < 16; i++) s += v[i];
    return s;
}

#if CT_KERNELS_GEMM /* (kernels.c: only where they beat OpenBLAS) */
static inline void KNAME(store16)(float *p, v16 v) { memcpy(p, &v, sizeof v); }

static inline void KNAME(put)(float *c, float acc, float alpha, float beta) {
    *c = beta == 0.0f ? alpha * acc : alpha * acc + beta * *c;
}

/* ------------------------------------------------------------------------------------------ */
/* NT: dot products                                                                            */

/* One (rm, rn) <= (4, 4) tile: C[i][j] for i < rm, j < rn. */
static inline void KNAME(nt_tile)(int rm, int rn, int K, float alpha, const float *A, int lda,
                           const float *B, int ldb, float beta, float *C, int ldc) {
    v16 acc[4][4];
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) acc[i][j] = KNAME(splat)(0.0f);
    int k = 0;
    for (; k + 16 <= K; k += 16) {
        v16 a[4], b[4];
        for (int i = 0; i < 4; i++) a[i] = i < rm ? KNAME(load16)(A + (size_t)i * lda + k) : KNAME(splat)(0.0f);
        for (int j = 0; j < 4; j++) b[j] = j < rn ? KNAME(load16)(B + (size_t)j * ldb + k) : KNAME(splat)(0.0f);
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 4; j++) acc[i][j] += a[i] * b[j];
    }
    for (int i = 0; i < rm; i++)
        for (int j = 0; j < rn; j++) {
            float s = KNAME(hsum)(acc[i][j]);
            for (int kk = k; kk < K; kk++) s += A[(size_t)i * lda + kk] * B[(size_t)j * ldb + kk];
            KNAME(put)(C + (size_t)i * ldc + j, s, alpha, beta);
        }
}

void KNAME(gemm_nt)(int M, int N, int K, float alpha, const float *A, int lda, const float *B,
                    int ldb, float beta, float *C, int ldc) {
    for (int i = 0; i < M; i += 4) {
        int rm = M - i < 4 ? M - i : 4;
        for (int j = 0; j < N; j += 4) {
            int rn = N - j < 4 ? N - j : 4;
            if (rm == 4 && rn == 4)
                KNAME(nt_tile)(4, 4, K, alpha, A + (size_t)i * lda, lda, B + (size_t)j * ldb, ldb, beta,
                        C + (size_t)i * ldc + j, ldc);
            else
                KNAME(nt_tile)(rm, rn, K, alpha, A + (size_t)i * lda, lda, B + (size_t)j * ldb, ldb,
                        beta, C + (size_t)i * ldc + j, ldc);
        }
    }
}

/* ------------------------------------------------------------------------------------------ */
/* TN and NN: rank-1 updates along rows of B                                                   */

/* C[i][j0..j0+16*nv) for i < rm (<= 8): sum over k of a(i, k) * B[k][j0..]. a(i, k) is
 * A[k*lda + i] (TN, a_row_stride 1, a_k_stride lda) or A[i*lda + k] (NN). */
static inline void KNAME(rank1_tile)(int rm, int nv, int K, float alpha, const float *A, size_t a_i,
                              size_t a_k, const float *B, int ldb, float beta, float *C, int ldc) {
    v16 acc[8][2];
    for (int i = 0; i < 8; i++) acc[i][0] = acc[i][1] = KNAME(splat)(0.0f);
    for (int k = 0; k < K; k++) {
        const float *brow = B + (size_t)k * ldb;
        v16 b0 = KNAME(load16)(brow), b1 = nv > 1 ? KNAME(load16)(brow + 16) : KNAME(splat)(0.0f);
        for (int i = 0; i < 8; i++) {
            if (i >= rm) break;
            v16 a = KNAME(splat)(A[i * a_i + k * a_k]);
            acc[i][0] += a * b0;
            if (nv > 1) acc[i][1] += a * b1;
        }
    }
    for (int i = 0; i < rm; i++)
        for (int v = 0; v < nv; v++) {
            float *c = C + (size_t)i * ldc + 16 * v;
            if (beta == 0.0f) KNAME(store16)(c, KNAME(splat)(alpha) * acc[i][v]);
            else KNAME(store16)(c, KNAME(splat)(alpha) * acc[i][v] + KNAME(splat)(beta) * KNAME(load16)(c));
        }
}

/* Columns past the last multiple of 16, one at a time. */
static void KNAME(rank1_tail)(int M, int j0, int N, int K, float alpha, const float *A, size_t a_i,
                       size_t a_k, const float *B, int ldb, float beta, float *C, int ldc) {
    for (int i = 0; i < M; i++)
        for (int j = j0; j < N; j++) {
            float s = 0.0f;
            for (int k = 0; k < K; k++) s += A[i * a_i + k * a_k] * B[(size_t)k * ldb + j];
            KNAME(put)(C + (size_t)i * ldc + j, s, alpha, beta);
        }
}

void KNAME(gemm_rank1)(int M, int N, int K, float alpha, const float *A, size_t a_i, size_t a_k,
                       const float *B, int ldb, float beta, float *C, int ldc) {
    int n16 = N / 16 * 16;
    for (int i = 0; i < M; i += 8) {
        int rm = M - i < 8 ? M - i : 8;
        const float *Ai = A + (size_t)i * a_i;
        float *Ci = C + (size_t)i * ldc;
        int j = 0;
        for (; j + 32 <= n16; j += 32) {
            if (rm == 8) KNAME(rank1_tile)(8, 2, K, alpha, Ai, a_i, a_k, B + j, ldb, beta, Ci + j, ldc);
            else KNAME(rank1_tile)(rm, 2, K, alpha, Ai, a_i, a_k, B + j, ldb, beta, Ci + j, ldc);
        }
        if (j < n16) KNAME(rank1_tile)(rm, 1, K, alpha, Ai, a_i, a_k, B + j, ldb, beta, Ci + j, ldc);
    }
    if (n16 < N) KNAME(rank1_tail)(M, n16, N, K, alpha, A, a_i, a_k, B, ldb, beta, C, ldc);
}
#endif /* CT_KERNELS_GEMM */

/* ------------------------------------------------------------------------------------------ */
/* elementwise and row-wise loops: restrict pointers so that they vectorise                    */

void KNAME(convert_u8)(const uint8_t *restrict in, float *restrict out, int64_t n, float scale) {
    for (int64_t j = 0; j < n; j++) out[j] = scale * (float)in[j];
}

void KNAME(relu_forward)(const float *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

void KNAME(relu_backward)(const float *x, const float *dy, float *dx, int64_t n) {
    for (int64_t i = 0; i < n; i++) dx[i] = x[i] > 0.0f ? dy[i] : 0.0f;
}

/* e^x: 0 below ln FLT_MIN = -87.3365, inf above ln FLT_MAX = 88.7228 (the polynomial's input
 * clamped to [-87, 88]: a normal float, no overflow), NaN kept; written
 * so that the loops below vectorise, where glibc's expf is a call per element: x = n ln 2 + r
 * with n the nearest integer to x / ln 2 (rounded by adding 1.5 * 2^23, which also leaves n in
 * the low bits: no float-to-int conversion, with which GCC 12 saw "control flow" and vectorised
 * nothing) and |r| <= ln 2 / 2 (ln 2 in two parts, Cody and Waite), e^r by Cephes' degree-7
 * polynomial (relative error about 1e-7), 2^n built in the exponent bits. */
static inline float KNAME(exp_f32)(float x) {
    const float lo = x > -87.0f ? x : -87.0f; /* (NaN: -87) */
    const float xc = lo < 88.0f ? lo : 88.0f;
    const float k = xc * 1.44269504088896341f + 12582912.0f, fn = k - 12582912.0f;
    int32_t kb;
    memcpy(&kb, &k, sizeof kb);
    const float r = (xc - fn * 0.693359375f) + fn * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    const int32_t bits = (kb - 0x4B400000 + 127) * (1 << 23); /* (kb - 0x4B400000: n) */
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    const float e = p * scale, lo_e = x < -87.3365f ? 0.0f : e; /* (below FLT_MIN: 0) */
    const float hi_e = x > 88.7228f ? __builtin_inff() : lo_e;   /* (above FLT_MAX: inf) */
    return x == x ? hi_e : x;
}

/* sigmoid: y = 1 / (1 + e^-x); SiLU: y = x / (1 + e^-x) and dx = dy s (1 + x (1 - s)) */
void KNAME(sigmoid_forward)(const float *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = 1.0f / (1.0f + KNAME(exp_f32)(-x[i]));
}

void KNAME(silu_forward)(const float *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = x[i] / (1.0f + KNAME(exp_f32)(-x[i]));
}

void KNAME(silu_backward)(const float *x, const float *dy, float *dx, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        const float v = x[i], s = 1.0f / (1.0f + KNAME(exp_f32)(-v));
        dx[i] = dy[i] * s * (1.0f + v * (1.0f - s));
    }
}

/* Phi(x) = P(N(0, 1) <= x) = erfc(-x / sqrt(2)) / 2, by the Chebyshev fit of erfc in Numerical
 * Recipes (erfcc: a fractional error under 1.2e-7 everywhere) through the exp above, the side
 * of x chosen by a select (no branch): GELU's CDF, where glibc's erff is a call per element.
 * NaN stays NaN; +-inf give 1 and 0. */
static inline float KNAME(normal_cdf)(float x) {
    const float z = (x < 0.0f ? -x : x) * 0.70710678118654752f; /* |x| / sqrt(2) */
    const float t = 1.0f / (1.0f + 0.5f * z);
    float p = 0.17087277f;
    p = p * t - 0.82215223f;
    p = p * t + 1.48851587f;
    p = p * t - 1.13520398f;
    p = p * t + 0.27886807f;
    p = p * t - 0.18628806f;
    p = p * t + 0.09678418f;
    p = p * t + 0.37409196f;
    p = p * t + 1.00002368f;
    p = p * t - 1.26551223f;
    const float half_erfc = 0.5f * t * KNAME(exp_f32)(p - z * z); /* erfc(z) / 2 */
    return x < 0.0f ? half_erfc : 1.0f - half_erfc;
}

/* GELU (exact, PyTorch's default): y = x Phi(x); dx = dy (Phi(x) + x phi(x)) */
void KNAME(gelu_forward)(const float *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = x[i] * KNAME(normal_cdf)(x[i]);
}

void KNAME(gelu_backward)(const float *x, const float *dy, float *dx, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        const float v = x[i];
        const float pdf = 0.39894228040143268f * KNAME(exp_f32)(-0.5f * v * v);
        dx[i] = dy[i] * (KNAME(normal_cdf)(v) + v * pdf);
    }
}

/* y(rows, cols) += bias(cols) */
void KNAME(bias_rows)(float *restrict y, const float *restrict bias, int64_t rows, int64_t cols) {
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < cols; c++) y[r * cols + c] += bias[c];
}

/* the sum of x[0..n), 16 partial sums then the tail (a fixed order: deterministic) */
float KNAME(sum)(const float *x, int64_t n) {
    v16 acc = KNAME(splat)(0.0f);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) acc += KNAME(load16)(x + i);
    float s = KNAME(hsum)(acc);
    for (; i < n; i++) s += x[i];
    return s;
}

/* One row's softmax (attention's weights), y = e^(x - max) / sum (y may be x): the exps through
 * exp_f32, vectorised (glibc's expf, a call an element, was a fifth of a ViT's epoch on 50
 * tokens); the sum in 16 float lanes a run of 256, the runs in double, a fixed order. A NaN
 * stays NaN. */
void KNAME(softmax_row)(const float *x, float *y, int64_t n) {
    float lane[16], mx = -__builtin_inff(); /* (the max in 16 lanes: the loop vectorises) */
    int64_t i = 0;
    for (int l = 0; l < 16; l++) lane[l] = mx;
    for (; i + 16 <= n; i += 16)
        for (int l = 0; l < 16; l++) lane[l] = x[i + l] > lane[l] ? x[i + l] : lane[l];
    for (int l = 0; l < 16; l++) mx = lane[l] > mx ? lane[l] : mx;
    for (; i < n; i++) mx = x[i] > mx ? x[i] : mx;
    for (i = 0; i < n; i++) y[i] = KNAME(exp_f32)(x[i] - mx);
    double sum = 0.0;
    for (int64_t r = 0; r < n; r += 256) sum += KNAME(sum)(y + r, n - r < 256 ? n - r : 256);
    const float inv = (float)(1.0 / sum);
    for (int64_t i = 0; i < n; i++) y[i] *= inv;
}

/* ------------------------------------------------------------------------------------------ */
/* batch norm's loops over one channel of x (n, c, inner): its n rows of `inner` floats,        */
/* `stride` apart. Each run of 256 floats of a row in 16 float lanes, then in double (so that  */
/* a float lane adds 16 values at most: planes of any size, means far from 0), the tail too.   */

#ifndef CT_BN_RUN
#define CT_BN_RUN 256
#endif

static inline double KNAME(row_sum)(const float *x, int64_t inner) {
    double s = 0.0;
    int64_t k = 0;
    while (k + 16 <= inner) {
        v16 acc = KNAME(splat)(0.0f);
        for (int64_t end = k + CT_BN_RUN; k + 16 <= inner && k < end; k += 16)
            acc += KNAME(load16)(x + k);
        s += KNAME(hsum)(acc);
    }
    for (; k < inner; k++) s += x[k];
    return s;
}

/* sum of x */
double KNAME(bn_sum)(const float *x, int64_t n, int64_t stride, int64_t inner) {
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) s += KNAME(row_sum)(x + i * stride, inner);
    return s;
}

/* sum of (x - mean)^2 */
double KNAME(bn_sqdev)(const float *x, int64_t n, int64_t stride, int64_t inner, float mean) {
    const v16 mv = KNAME(splat)(mean);
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) {
        const float *r = x + i * stride;
        int64_t k = 0;
        while (k + 16 <= inner) {
            v16 acc = KNAME(splat)(0.0f);
            for (int64_t end = k + CT_BN_RUN; k + 16 <= inner && k < end; k += 16) {
                v16 d = KNAME(load16)(r + k) - mv;
                acc += d * d;
            }
            s += KNAME(hsum)(acc);
        }
        for (; k < inner; k++) s += (double)(r[k] - mean) * (r[k] - mean);
    }
    return s;
}

/* y = (x - mean) * scale + shift */
void KNAME(bn_apply)(const float *x, float *y, int64_t n, int64_t stride, int64_t inner,
                     float mean, float scale, float shift) {
    for (int64_t i = 0; i < n; i++) {
        const float *r = x + i * stride;
        float *o = y + i * stride;
        for (int64_t k = 0; k < inner; k++) o[k] = (r[k] - mean) * scale + shift;
    }
}

/* *sdy = sum of dy, *sdxc = sum of dy * (x - mean) */
void KNAME(bn_grad_sums)(const float *x, const float *dy, int64_t n, int64_t stride,
                         int64_t inner, float mean, double *sdy, double *sdxc) {
    const v16 mv = KNAME(splat)(mean);
    double s1 = 0.0, s2 = 0.0;
    for (int64_t i = 0; i < n; i++) {
        const float *r = x + i * stride, *g = dy + i * stride;
        int64_t k = 0;
        while (k + 16 <= inner) {
            v16 a1 = KNAME(splat)(0.0f), a2 = KNAME(splat)(0.0f);
            for (int64_t end = k + CT_BN_RUN; k + 16 <= inner && k < end; k += 16) {
                v16 gv = KNAME(load16)(g + k);
                a1 += gv;
                a2 += gv * (KNAME(load16)(r + k) - mv);
            }
            s1 += KNAME(hsum)(a1);
            s2 += KNAME(hsum)(a2);
        }
        for (; k < inner; k++) {
            s1 += g[k];
            s2 += (double)g[k] * (r[k] - mean);
        }
    }
    *sdy = s1;
    *sdxc = s2;
}

/* dx = a * dy + b * (x - mean) + c (dx may be dy) */
void KNAME(bn_grad_apply)(const float *x, const float *dy, float *dx, int64_t n, int64_t stride,
                          int64_t inner, float mean, float a, float b, float c) {
    for (int64_t i = 0; i < n; i++) {
        const float *r = x + i * stride, *g = dy + i * stride;
        float *o = dx + i * stride;
        for (int64_t k = 0; k < inner; k++) o[k] = a * g[k] + b * (r[k] - mean) + c;
    }
}

/* db(cols) = sum over rows of dy(rows, cols) */
void KNAME(colsum)(float *restrict db, const float *restrict dy, int64_t rows, int64_t cols) {
    for (int64_t c = 0; c < cols; c++) db[c] = 0.0f;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < cols; c++) db[c] += dy[r * cols + c];
}

/* ------------------------------------------------------------------------------------------ */
/* Philox4x32-10 (core.c's ct_philox4x32) for nblocks consecutive counters lo0, lo0+1, ...:     */
/* out[4*b .. 4*b+3] = block b; 8 blocks at a time where the rounds vectorise (AVX-512).        */

void KNAME(philox_blocks)(uint64_t key, uint64_t hi, uint64_t lo0, int64_t nblocks,
                          uint32_t *restrict out) {
#if CT_KERNELS_VEC64
    /* 8 blocks per vector: each 32-bit word in a 64-bit lane, so that the 32x32->64 products
     * of a round are one vector multiply and their halves a shift and a mask (AVX-512 only:
     * without 64-bit lane multiplies this is slower than one block at a time) */
    typedef uint64_t u64x8 __attribute__((vector_size(64)));
    const uint64_t M0 = 0xD2511F53u, M1 = 0xCD9E8D57u, W0 = 0x9E3779B9u, W1 = 0xBB67AE85u;
    const u64x8 low = {0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu,
                       0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu};
    for (int64_t b = 0; b < nblocks; b += 8) {
        u64x8 c0, c1, c2, c3;
        for (int l = 0; l < 8; l++) {
            uint64_t lo = lo0 + (uint64_t)(b + l);
            c0[l] = lo & 0xFFFFFFFFu;
            c1[l] = lo >> 32;
            c2[l] = hi & 0xFFFFFFFFu;
            c3[l] = hi >> 32;
        }
        uint64_t k0 = key & 0xFFFFFFFFu, k1 = key >> 32;
        for (int round = 0; round < 10; round++) {
            u64x8 p0 = c0 * M0, p1 = c2 * M1; /* both factors below 2^32 */
            u64x8 n0 = (p1 >> 32) ^ c1 ^ k0, n2 = (p0 >> 32) ^ c3 ^ k1;
            c1 = p1 & low;
            c3 = p0 & low;
            c0 = n0;
            c2 = n2;
            k0 = (k0 + W0) & 0xFFFFFFFFu;
            k1 = (k1 + W1) & 0xFFFFFFFFu;
        }
        int64_t m = nblocks - b < 8 ? nblocks - b : 8;
        for (int64_t l = 0; l < m; l++) {
            uint32_t *o = out + 4 * (b + l);
            o[0] = (uint32_t)c0[l];
            o[1] = (uint32_t)c1[l];
            o[2] = (uint32_t)c2[l];
            o[3] = (uint32_t)c3[l];
        }
    }
#else
    for (int64_t b = 0; b < nblocks; b++) ct_philox4x32(key, hi, lo0 + (uint64_t)b, out + 4 * b);
#endif
}

/* out = (word >> 8) >= thr ? in * scale : 0 (dropout's mask; in == out allowed) */
void KNAME(dropout_mask)(const uint32_t *restrict words, const float *in, float *out, int64_t n,
                         uint32_t thr, float scale) {
    for (int64_t i = 0; i < n; i++) out[i] = (words[i] >> 8) >= thr ? in[i] * scale : 0.0f;
}
