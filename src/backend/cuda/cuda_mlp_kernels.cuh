/*
 * cuda_mlp_kernels.cuh — the fused MLP training step (backend.h, mlp_step) as two kernels,
 * written so that the same source also runs on the host, where a test can check it without a
 * GPU (tests/test_mlp_kernels.cu).
 *
 * A block's work is a sequence of phases, each written as CT_PHASE(t, nt) { ... }: on the GPU
 * the body runs once in every thread t = threadIdx.x and ends with __syncthreads(); on the host
 * it runs for t = 0 .. nt-1 in turn. So a phase may read only what earlier phases wrote to
 * shared memory (or to global memory) and its own locals; values that live across phases are
 * in shared memory or are the same in every thread. No warp shuffles, no atomics: every sum has
 * one fixed order, so a GPU run is deterministic and the host run checks the same arithmetic.
 *
 * The step for a batch of n rows (rows i = idx[pos + i] of the dataset):
 *   rows kernel, block b: rows [b*R, b*R + R): gather x (uint8 -> float), z1 = x W1^T + b1,
 *     h = relu(z1), z2 = h W2^T + b2, softmax cross-entropy: loss and hit of each row,
 *     dz2 = grad_scale * (softmax - onehot), dh = dz2 W2, dz1 = dh * (z1 > 0). Writes h, dz1,
 *     dz2 of its rows and its rows' loss and hits to the workspace.
 *   update kernel: blocks 0 .. ceil(in / KT) - 1 each own KT columns of W1: dW1 = dz1^T x over
 *     the batch (x gathered again from uint8), then the optimizer's update of those weights
 *     (SGD, Adam or AdamW); the last block owns b1, W2 and b2 (db1 = sum dz1, dW2 = dz2^T h,
 *     db2 = sum dz2), updates them, and adds the batch's loss and hits to stats (the rows
 *     blocks' in CT_MLP_PS partial sums read in parallel, partial s holding blocks s, s + PS,
 *     ... in order; then the partial sums in order).
 * ncu on an H200 timed them at 26 and 28 us a step for the tutorial's job, far more than
 * their arithmetic needs; by the code, most of it is phases waiting on global memory one after
 * another. So what later phases read again is staged in shared memory (the rows kernel's W2
 * and b2), the update takes its rows in as few rounds as fit, and the loss and hits are summed
 * by 32 threads, not one (not yet timed on a GPU).
 * Parameters (as the layers lay them out): W1 (hidden, in), b1 (hidden), W2 (classes, hidden),
 * b2 (classes); the optimizer's state (SGD's momentum, Adam's m and v) is laid out alike.
 *
 * With the step table (d.table), the rows kernel reads its row at *d.cursor and block 0 copies
 * it to *d.cur; the update kernel reads *d.cur and its last block advances *d.cursor. So no
 * block reads the cursor after it moves, and the step needs no step_load launch.
 */
#ifndef CT_CUDA_MLP_KERNELS_CUH
#define CT_CUDA_MLP_KERNELS_CUH

#include <math.h>
#include <stdint.h>

#include "backend/backend.h"

#define CT_MLP_THREADS 256 /* threads per block of both kernels (a multiple of 32) */
#define CT_MLP_ROWS 4      /* batch rows per block of the rows kernel */
#define CT_MLP_LANES 32    /* the input columns of W1 are split over 32 lanes per output */
#define CT_MLP_KT 32       /* W1 columns per block of the update kernel */
#define CT_MLP_RC_MAX 128  /* batch rows staged in shared memory per round of the update: the
                            * most of 128, 64, 32 whose shared memory fits (ct_mlp_rc); one
                            * round for the tutorial's batch of 128, each round costing a wait
                            * on global memory */
#define CT_MLP_PS 32       /* partial sums of the batch's loss and hits (update kernel) */

#ifdef __CUDA_ARCH__
#define CT_PHASE(t, nt)                                                                     \
    for (int t = (int)threadIdx.x, ct_once_ = 1; ct_once_; ct_once_ = 0, __syncthreads())
/* keep several loads of W1 in flight per lane: the step waits on memory, not arithmetic */
#define CT_MLP_UNROLL _Pragma("unroll 8")
#else
#define CT_PHASE(t, nt) for (int t = 0; t < (nt); t++)
#define CT_MLP_UNROLL
#endif

/* What both kernels get (by value). ws is carved into h (n, hidden), dz1 (n, hidden),
 * dz2 (n, classes) and the rows kernel's per-block loss and hits (2 per block). */
typedef struct {
    ct_mlp_step_desc d;
    const ct_step_vars *sv; /* device: pos, lr and first come from here when not NULL (and
                             * d.table is NULL) */
    float *h, *dz1, *dz2, *bstats;
} ct_mlp_args;

static inline __host__ __device__ int64_t ct_mlp_row_blocks(int64_t n) {
    return (n + CT_MLP_ROWS - 1) / CT_MLP_ROWS;
}
static inline __host__ __device__ int ct_mlp_col_blocks(int in) {
    return (in + CT_MLP_KT - 1) / CT_MLP_KT;
}
/* Floats of workspace for n rows. */
static inline __host__ __device__ int64_t ct_mlp_ws_floats(int64_t n, int hidden, int classes) {
    return n * (2 * (int64_t)hidden + classes) + 2 * ct_mlp_row_blocks(n);
}
#define CT_MLP_MAX_SMEM (48 * 1024) /* a block's shared memory without opting in to more */

/* Floats of the rows kernel's first region: the block's rows of x, then (once z1 is summed)
 * W2 and b2, read from there instead of global memory by the phases after it. */
static inline __host__ __device__ size_t ct_mlp_rows_xs(int in, int hidden, int classes) {
    size_t x = (size_t)CT_MLP_ROWS * in, w2 = (size_t)classes * hidden + classes;
    return x > w2 ? x : w2;
}
/* Shared memory of the rows kernel, and of the update kernel at rc rows a round and at the
 * rc it takes (bytes). */
static inline __host__ __device__ size_t ct_mlp_rows_smem(int in, int hidden, int classes) {
    const int R = CT_MLP_ROWS;
    return sizeof(float) * (ct_mlp_rows_xs(in, hidden, classes) +
                            (size_t)R * hidden * (CT_MLP_LANES + 1) + (size_t)R * hidden +
                            (size_t)R * classes + 2 * R);
}
static inline __host__ __device__ size_t ct_mlp_update_smem_rc(int hidden, int classes, int rc) {
    size_t w1 = (size_t)rc * hidden + (size_t)rc * CT_MLP_KT + (size_t)hidden * CT_MLP_KT;
    size_t l2 = 2 * CT_MLP_PS * (sizeof(double) / sizeof(float)) +
                (size_t)rc * (2 * (size_t)hidden + classes) +
                ((size_t)hidden + (size_t)classes * hidden + classes);
    return sizeof(float) * (w1 > l2 ? w1 : l2);
}
static inline __host__ __device__ int ct_mlp_rc(int hidden, int classes) {
    int rc = CT_MLP_RC_MAX;
    while (rc > 32 && ct_mlp_update_smem_rc(hidden, classes, rc) > CT_MLP_MAX_SMEM) rc /= 2;
    return rc;
}
static inline __host__ __device__ size_t ct_mlp_update_smem(int hidden, int classes) {
    return ct_mlp_update_smem_rc(hidden, classes, ct_mlp_rc(hidden, classes));
}
#define CT_MLP_MAX_HIDDEN 64   /* with MNIST's 784 inputs the rows kernel's shared memory is */
#define CT_MLP_MAX_CLASSES 32  /* then just under 48 KiB */

/* Bytes of workspace for d (mlp_workspace), or 0 when the kernels do not take its shapes. */
static inline size_t ct_mlp_workspace_bytes(const ct_mlp_step_desc *d) {
    if (d->n <= 0 || d->n > INT32_MAX || d->in <= 0 || d->hidden <= 0 ||
        d->hidden > CT_MLP_MAX_HIDDEN || d->classes <= 0 || d->classes > CT_MLP_MAX_CLASSES)
        return 0;
    if (ct_mlp_rows_smem(d->in, d->hidden, d->classes) > CT_MLP_MAX_SMEM ||
        ct_mlp_update_smem(d->hidden, d->classes) > CT_MLP_MAX_SMEM)
        return 0;
    return (size_t)ct_mlp_ws_floats(d->n, d->hidden, d->classes) * sizeof(float);
}

/* The kernels' arguments for d and sv, the workspace carved up (m dropped without momentum). */
static inline ct_mlp_args ct_mlp_make_args(const ct_mlp_step_desc *d, const ct_step_vars *sv) {
    ct_mlp_args a;
    a.d = *d;
    if (d->opt == CT_SGD && d->momentum == 0.0f) a.d.m = NULL;
    a.sv = sv;
    a.h = (float *)d->ws;
    a.dz1 = a.h + d->n * d->hidden;
    a.dz2 = a.dz1 + d->n * d->hidden;
    a.bstats = a.dz2 + d->n * d->classes;
    return a;
}

/* The optimizer's update of parameter i with gradient g, as sgd_step and adam_step do it
 * (cuda_ops.cu, cuda_nn.cu; cpu.c). lr, first, step_size, bc2_sqrt: this step's. */
static inline __host__ __device__ void ct_mlp_update(const ct_mlp_step_desc &d, int64_t i, float g,
                                                     float lr, int first, float step_size,
                                                     float bc2_sqrt) {
    float w0 = d.w[i];
    if (d.opt == CT_SGD) {
        float dv = g + d.weight_decay * w0;
        if (d.m) {
            float mv = first ? dv : d.momentum * d.m[i] + dv;
            d.m[i] = mv;
            dv = d.nesterov ? dv + d.momentum * mv : mv;
        }
        d.w[i] = w0 - lr * dv;
        return;
    }
    const int decoupled = d.opt == CT_ADAMW;
#ifdef __CUDA_ARCH__
    const float decay = decoupled ? __fsub_rn(1.0f, __fmul_rn(lr, d.weight_decay)) : 1.0f;
#else
    const float decay = decoupled ? 1.0f - lr * d.weight_decay : 1.0f;
#endif
    float wi = w0 * decay;
    float gi = g + (decoupled ? 0.0f : d.weight_decay) * w0;
    float mi = d.beta1 * d.m[i] + (1.0f - d.beta1) * gi;
    float vi = d.beta2 * d.v[i] + (1.0f - d.beta2) * gi * gi;
    d.m[i] = mi;
    d.v[i] = vi;
    d.w[i] = wi - step_size * (mi / (sqrtf(vi) / bc2_sqrt + d.eps));
}

/* The rows kernel's block `bid` of nt threads; smem: ct_mlp_rows_smem bytes. */
static inline __host__ __device__ void ct_mlp_rows_block(const ct_mlp_args &a, int bid, int nt,
                                                         float *smem) {
    const ct_mlp_step_desc &d = a.d;
    const int R = CT_MLP_ROWS, L = CT_MLP_LANES, K = d.in, H = d.hidden, C = d.classes;
    /* with the step table, its row at the cursor (which only the update kernel advances) */
    const ct_step_vars *sv = d.table ? d.table + *d.cursor : a.sv;
    const int64_t pos = sv ? sv->pos : d.pos, r0 = (int64_t)bid * R;
    const int rows = d.n - r0 < R ? (int)(d.n - r0) : R;
    const int32_t *order = d.idx + pos + r0;
    const float *W1 = d.w, *B1 = W1 + (int64_t)H * K, *W2 = B1 + H, *B2 = W2 + (int64_t)C * H;
    float *xs = smem;                      /* (R, K); then W2 (C, H) and b2 (C) */
    float *part = xs + ct_mlp_rows_xs(K, H, C); /* (R * H, L + 1): partial dot products */
    float *hs = part + (int64_t)R * H * (L + 1); /* (R, H) */
    float *zs = hs + R * H;                /* (R, C): logits, then dz2 */
    float *rs = zs + R * C;                /* (R, 2): loss and hit of each row */
    CT_PHASE(t, nt) { /* gather; rows past the batch are zeros (computed, never stored) */
        if (d.table && bid == 0 && t == 0) *d.cur = *sv; /* step_load's copy */
        CT_MLP_UNROLL
        for (int e = t; e < R * K; e += nt) {
            int r = e / K, k = e - r * K;
            xs[e] = r < rows ? d.scale * (float)d.images[(int64_t)order[r] * K + k] : 0.0f;
        }
    }
    CT_PHASE(t, nt) { /* lane l of a warp sums columns l, l+32, ... of R rows against W1[j] */
        int lane = t % L, warp = t / L, warps = nt / L;
        for (int j = warp; j < H; j += warps) {
            float acc[CT_MLP_ROWS];
            for (int r = 0; r < R; r++) acc[r] = 0.0f;
            const float *wj = W1 + (int64_t)j * K;
            CT_MLP_UNROLL
            for (int k = lane; k < K; k += L) {
                float wv = wj[k];
                for (int r = 0; r < R; r++) acc[r] += wv * xs[r * K + k];
            }
            for (int r = 0; r < R; r++) part[(r * H + j) * (L + 1) + lane] = acc[r];
        }
    }
    float *w2s = xs, *b2s = xs + C * H; /* x is read no more */
    CT_PHASE(t, nt) { /* z1 = b1 + the lanes' sums in lane order; h = relu(z1); W2, b2 */
        CT_MLP_UNROLL
        for (int e = t; e < C * H + C; e += nt) w2s[e] = e < C * H ? W2[e] : B2[e - C * H];
        for (int o = t; o < R * H; o += nt) {
            int r = o / H, j = o - r * H;
            float z = 0.0f;
            for (int l = 0; l < L; l++) z += part[o * (L + 1) + l];
            z += B1[j];
            float hv = z > 0.0f ? z : 0.0f;
            hs[o] = hv;
            if (r < rows) a.h[(r0 + r) * H + j] = hv;
        }
    }
    CT_PHASE(t, nt) { /* z2 = h W2^T + b2 */
        for (int o = t; o < R * C; o += nt) {
            int r = o / C, c = o - r * C;
            float z = 0.0f;
            for (int j = 0; j < H; j++) z += hs[r * H + j] * w2s[c * H + j];
            zs[o] = z + b2s[c];
        }
    }
    CT_PHASE(t, nt) { /* one thread per row: softmax cross-entropy as the xent op, dz2 */
        if (t < rows) {
            float *z = zs + t * C;
            int y = d.labels[order[t]];
            float zmax = z[0];
            int arg = 0;
            for (int c = 1; c < C; c++)
                if (z[c] > zmax) { zmax = z[c]; arg = c; }
            float sum = 0.0f;
            for (int c = 0; c < C; c++) sum += expf(z[c] - zmax);
            float zy = y < C ? z[y] : NAN; /* a label out of range makes the loss NaN */
            rs[2 * t] = logf(sum) - (zy - zmax);
            rs[2 * t + 1] = arg == y ? 1.0f : 0.0f;
            float inv = 1.0f / sum;
            for (int c = 0; c < C; c++) {
                float p = expf(z[c] - zmax) * inv;
                float g = d.grad_scale * (c == y ? p - 1.0f : p);
                z[c] = g;
                a.dz2[(r0 + t) * C + c] = g;
            }
        }
    }
    CT_PHASE(t, nt) { /* dz1 = (dz2 W2) * relu'(z1); the block's loss and hits */
        for (int o = t; o < rows * H; o += nt) {
            int r = o / H, j = o - r * H;
            float dh = 0.0f;
            for (int c = 0; c < C; c++) dh += zs[r * C + c] * w2s[c * H + j];
            a.dz1[(r0 + r) * H + j] = hs[o] > 0.0f ? dh : 0.0f;
        }
        if (t == 0) {
            float loss = 0.0f, hits = 0.0f;
            for (int r = 0; r < rows; r++) {
                loss += rs[2 * r];
                hits += rs[2 * r + 1];
            }
            a.bstats[2 * bid] = loss;
            a.bstats[2 * bid + 1] = hits;
        }
    }
}

/* The update kernel's block `bid` of nt threads; smem: ct_mlp_update_smem bytes. */
static inline __host__ __device__ void ct_mlp_update_block(const ct_mlp_args &a, int bid, int nt,
                                                           float *smem) {
    const ct_mlp_step_desc &d = a.d;
    const int K = d.in, H = d.hidden, C = d.classes, KT = CT_MLP_KT, RC = ct_mlp_rc(H, C);
    /* with the step table, the row the rows kernel copied to cur (the cursor moves on below) */
    const ct_step_vars *sv = d.table ? d.cur : a.sv;
    const int64_t n = d.n, pos = sv ? sv->pos : d.pos;
    const float lr = sv ? sv->lr : d.lr;
    const int first = sv ? sv->first : d.first;
    const float step_size = sv ? sv->adam_step_size : d.adam_step_size;
    const float bc2_sqrt = sv ? sv->adam_bc2_sqrt : d.adam_bc2_sqrt;
    const int32_t *order = d.idx + pos;
    if (bid < ct_mlp_col_blocks(K)) { /* W1 columns [k0, k0 + KT) */
        const int k0 = bid * KT;
        float *dzs = smem;                 /* (RC, H) */
        float *xt = dzs + RC * H;          /* (RC, KT) */
        float *acc = xt + RC * KT;         /* (H, KT) */
        CT_PHASE(t, nt) {
            for (int e = t; e < H * KT; e += nt) acc[e] = 0.0f;
        }
        for (int64_t c0 = 0; c0 < n; c0 += RC) { /* the same rounds in every thread */
            const int rc = n - c0 < RC ? (int)(n - c0) : RC;
            CT_PHASE(t, nt) {
                CT_MLP_UNROLL
                for (int e = t; e < rc * H; e += nt) dzs[e] = a.dz1[c0 * H + e];
                CT_MLP_UNROLL
                for (int e = t; e < rc * KT; e += nt) {
                    int r = e / KT, k = k0 + (e - r * KT);
                    xt[e] = k < K ? d.scale * (float)d.images[(int64_t)order[c0 + r] * K + k]
                                  : 0.0f;
                }
            }
            CT_PHASE(t, nt) {
                for (int e = t; e < H * KT; e += nt) {
                    int j = e / KT, kk = e - j * KT;
                    float s = acc[e];
                    for (int r = 0; r < rc; r++) s += dzs[r * H + j] * xt[r * KT + kk];
                    acc[e] = s;
                }
            }
        }
        CT_PHASE(t, nt) {
            for (int e = t; e < H * KT; e += nt) {
                int j = e / KT, k = k0 + (e - j * KT);
                if (k < K)
                    ct_mlp_update(d, (int64_t)j * K + k, acc[e], lr, first, step_size, bc2_sqrt);
            }
        }
        return;
    }
    /* the last block: b1, W2 and b2, whose gradients are sums over the rows of dz1, dz2 and h
     * (acc: db1 (H), dW2 (C, H), db2 (C), as they lie in the parameters) */
    const int P = H + C * H + C;
    const int64_t base = (int64_t)H * K; /* b1's place in the parameters */
    double *ps = (double *)smem;  /* (CT_MLP_PS, 2): partial sums of the loss and hits */
    float *hs = (float *)(ps + 2 * CT_MLP_PS), *d1 = hs + RC * H, *d2 = d1 + RC * H,
          *acc = d2 + RC * C;
    CT_PHASE(t, nt) {
        for (int e = t; e < P; e += nt) acc[e] = 0.0f;
    }
    for (int64_t c0 = 0; c0 < n; c0 += RC) {
        const int rc = n - c0 < RC ? (int)(n - c0) : RC;
        CT_PHASE(t, nt) {
            for (int e = t; e < rc * H; e += nt) {
                hs[e] = a.h[c0 * H + e];
                d1[e] = a.dz1[c0 * H + e];
            }
            for (int e = t; e < rc * C; e += nt) d2[e] = a.dz2[c0 * C + e];
        }
        CT_PHASE(t, nt) {
            for (int e = t; e < P; e += nt) {
                float s = acc[e];
                if (e < H) { /* db1[e] */
                    for (int r = 0; r < rc; r++) s += d1[r * H + e];
                } else if (e < H + C * H) { /* dW2[c][j] */
                    int c = (e - H) / H, j = (e - H) - c * H;
                    for (int r = 0; r < rc; r++) s += d2[r * C + c] * hs[r * H + j];
                } else { /* db2[c] */
                    int c = e - H - C * H;
                    for (int r = 0; r < rc; r++) s += d2[r * C + c];
                }
                acc[e] = s;
            }
        }
    }
    CT_PHASE(t, nt) { /* the update; the rows blocks' loss and hits in CT_MLP_PS partial sums
                       * (partial s: blocks s, s + PS, ... in order), read in parallel */
        for (int e = t; e < P; e += nt)
            ct_mlp_update(d, base + e, acc[e], lr, first, step_size, bc2_sqrt);
        for (int s = t; s < CT_MLP_PS; s += nt) {
            double loss = 0.0, hits = 0.0;
            for (int64_t k = s; k < ct_mlp_row_blocks(n); k += CT_MLP_PS) {
                loss += (double)a.bstats[2 * k];
                hits += (double)a.bstats[2 * k + 1];
            }
            ps[2 * s] = loss;
            ps[2 * s + 1] = hits;
        }
    }
    CT_PHASE(t, nt) {
        if (t == 0) { /* the batch's loss and hits: the partial sums in order */
            double loss = 0.0, hits = 0.0;
            for (int s = 0; s < CT_MLP_PS; s++) {
                loss += ps[2 * s];
                hits += ps[2 * s + 1];
            }
            d.stats[0] += loss;
            d.stats[1] += hits;
            if (d.table) *d.cursor += 1; /* no block of this kernel reads it */
        }
    }
}

#endif /* CT_CUDA_MLP_KERNELS_CUH */
