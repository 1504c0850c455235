/*
 * cuda_mlp_kernels.cuh — the fused MLP training step (backend.h, mlp_step) as three grid-wide
 * phases, written so that the same source also runs on the host, where a test can check it
 * without a GPU (tests/test_mlp_kernels.cu).
 *
 * A phase is a set of work items; a block takes items bid, bid + G, ... of a grid of G blocks.
 * An item's work is a sequence of block phases, each written as CT_PHASE(t, nt) { ... }: on the
 * GPU the body runs once in every thread t = threadIdx.x and ends with __syncthreads(); on the
 * host it runs for t = 0 .. nt-1 in turn. So a block phase may read only what earlier ones
 * wrote to shared or global memory and its own locals. No warp shuffles, no atomics: every sum
 * has one fixed order, so a GPU run is deterministic and the host run checks the same
 * arithmetic. Items hand their results on through the workspace (global memory) only.
 *
 * The step for a batch of n rows (rows idx[pos + i] of the dataset); W1 (hidden, in) is cut
 * into column items of KT columns:
 *   A, item kb: gather x[:, kb's columns] (uint8 -> float) into the workspace; the partial
 *     products part[kb] = x[:, cols] W1[:, cols]^T (n, hidden).
 *   B, item rb: rows [rb*R, rb*R + R): z1 = b1 + the sum of the items' partials (in item
 *     order), h = relu(z1), z2 = h W2^T + b2, softmax cross-entropy (the rows' loss and hits),
 *     dz2 = grad_scale * w[y] * (softmax - target) (xent's: label smoothing, class weights),
 *     dz1 = (dz2 W2) * (z1 > 0) into the workspace.
 *   C, item kb: dW1[:, cols] = dz1^T x[:, cols] and the optimizer's update of those weights
 *     (SGD, Adam or AdamW); the last item (kb = column items) takes b1, W2 and b2 (db1 = sum
 *     dz1, dW2 = dz2^T h, db2 = sum dz2) and adds the batch's loss and hits to stats (the row
 *     items' in CT_MLP_PS partial sums read in parallel, then those in order).
 * cuda_mlp.cu runs them either as one cooperative kernel for a run of steps (A, grid sync, B,
 * grid sync, C, and on to the next step: an item kb of C and of the next step's A run in the
 * same block, so W1's columns need no sync between them), or as three launches a step.
 *
 * Why: the step before this was two kernels (rows, update), 26 + 28 us a step on an H200 by
 * ncu, while its arithmetic is a few: a block's phases each wait on global memory, and each
 * kernel had only 26 or 32 blocks. Here W1 is spread over in/KT items (98 for MNIST), a phase
 * waits on global memory once or twice (A: the order, then the pixels), and a run of steps
 * needs one launch.
 *
 * Parameters (as the layers lay them out): W1 (hidden, in), b1 (hidden), W2 (classes, hidden),
 * b2 (classes); the optimizer's state (SGD's momentum, Adam's m and v) is laid out alike.
 */
#ifndef CT_CUDA_MLP_KERNELS_CUH
#define CT_CUDA_MLP_KERNELS_CUH

#include <math.h>
#include <stdint.h>

#include "backend/backend.h"

#define CT_MLP_THREADS 256 /* threads per block (a multiple of 32) */
#define CT_MLP_KT 8        /* W1 columns per column item (phases A and C) */
#define CT_MLP_RA 128      /* rows per round of phase A */
#define CT_MLP_RB_MAX 8    /* rows per row item of phase B, at most (ct_mlp_args.rb) */
#define CT_MLP_RC_MAX 128  /* rows per round of phase C: the most of 128, 64, 32 whose shared
                            * memory fits (ct_mlp_rc) */
#define CT_MLP_PS 32       /* partial sums of the batch's loss and hits (phase C's last item) */
#define CT_MLP_MAX_HIDDEN 64
#define CT_MLP_MAX_CLASSES 32
#define CT_MLP_MAX_ROWS 4096 /* the workspace holds in/KT partial products a row: at most about
                              * 120 MB; larger batches keep the GPU busy through the layers' ops */
#define CT_MLP_MAX_SMEM (48 * 1024) /* a block's shared memory without opting in to more */

/* CT_MLP_ONE_THREAD (the CUDA emulator's build, tests/cuda_emu): a block's one thread plays
 * its CT_MLP_THREADS, as the host does (the emulator would switch between 256 fibers at every
 * phase and grid sync, for nothing a host run does not check); cuda_mlp.cu then launches the
 * kernels with one thread a block. */
#if defined(__CUDA_ARCH__) && !defined(CT_MLP_ONE_THREAD)
#define CT_PHASE(t, nt)                                                                     \
    for (int t = (int)threadIdx.x, ct_once_ = 1; ct_once_; ct_once_ = 0, __syncthreads())
#define CT_MLP_UNROLL _Pragma("unroll 8") /* several loads in flight per thread */
#else
/* the host plays a block's threads one after another, in CT_MLP_THREAD_ORDER's order where a
 * test defines it (threads i = 0 .. nt - 1 as t = ORDER(i, nt): a permutation), so that a phase
 * whose threads read what another thread of that phase writes gives different results */
#ifndef CT_MLP_THREAD_ORDER
#define CT_MLP_THREAD_ORDER(i, nt) (i)
#endif
#define CT_PHASE(t, nt)                                                                     \
    for (int ct_i_ = 0, t = 0; ct_i_ < (nt) && ((t = CT_MLP_THREAD_ORDER(ct_i_, (nt))), 1);  \
         ct_i_++)
#define CT_MLP_UNROLL
#endif

/* What every phase gets (by value). ws is carved into x (column items, n, KT), part (column
 * items, n, hidden), h (n, hidden), dz1 (n, hidden), dz2 (n, classes) and the row items'
 * loss and hits (2 per item, at most n items). */
typedef struct {
    ct_mlp_step_desc d;
    const ct_step_vars *sv; /* device: pos, lr and first come from here when not NULL (and
                             * d.table is NULL) */
    float *x, *part, *h, *dz1, *dz2, *bstats;
    int rb; /* rows per row item (1 .. CT_MLP_RB_MAX) */
} ct_mlp_args;

/* One step's scalars, from its ct_step_vars or (sv NULL) the descriptor. */
typedef struct {
    int64_t pos;
    float lr, momentum, step_size, bc2_sqrt; /* momentum: SGD's, or Adam's beta1 */
    int first;
} ct_mlp_vars;

static inline __host__ __device__ ct_mlp_vars ct_mlp_vars_of(const ct_mlp_step_desc &d,
                                                             const ct_step_vars *sv) {
    ct_mlp_vars v;
    v.pos = sv ? sv->pos : d.pos;
    v.lr = sv ? sv->lr : d.lr;
    v.momentum = sv ? sv->momentum : d.opt == CT_SGD ? d.momentum : d.beta1;
    v.first = sv ? sv->first : d.first;
    v.step_size = sv ? sv->adam_step_size : d.adam_step_size;
    v.bc2_sqrt = sv ? sv->adam_bc2_sqrt : d.adam_bc2_sqrt;
    return v;
}

static inline __host__ __device__ int ct_mlp_col_items(int in) {
    return (in + CT_MLP_KT - 1) / CT_MLP_KT;
}
static inline __host__ __device__ int64_t ct_mlp_row_items(int64_t n, int rb) {
    return (n + rb - 1) / rb;
}
/* Floats of workspace for n rows. */
static inline __host__ __device__ int64_t ct_mlp_ws_floats(int64_t n, int in, int hidden,
                                                          int classes) {
    int64_t cols = (int64_t)ct_mlp_col_items(in);
    return n * (cols * CT_MLP_KT + cols * hidden + 2 * (int64_t)hidden + classes + 2);
}

/* Shared memory (floats) of each phase; phase C's at rc rows a round. */
static inline __host__ __device__ size_t ct_mlp_smem_a(int hidden) {
    return (size_t)CT_MLP_RA * CT_MLP_KT + (size_t)CT_MLP_KT * hidden;
}
static inline __host__ __device__ size_t ct_mlp_smem_b(int hidden, int classes) {
    size_t out = (size_t)CT_MLP_RB_MAX * hidden;
    size_t part = out > CT_MLP_THREADS ? out : CT_MLP_THREADS;
    return part + out + (size_t)CT_MLP_RB_MAX * classes + 2 * CT_MLP_RB_MAX +
           (size_t)classes * hidden + classes + hidden;
}
static inline __host__ __device__ size_t ct_mlp_smem_c_rc(int hidden, int classes, int rc) {
    size_t w1 = (size_t)rc * hidden + (size_t)rc * CT_MLP_KT + (size_t)hidden * CT_MLP_KT;
    size_t l2 = 2 * CT_MLP_PS * (sizeof(double) / sizeof(float)) +
                (size_t)rc * (2 * (size_t)hidden + classes) +
                ((size_t)hidden + (size_t)classes * hidden + classes);
    return w1 > l2 ? w1 : l2;
}
static inline __host__ __device__ int ct_mlp_rc(int hidden, int classes) {
    int rc = CT_MLP_RC_MAX;
    while (rc > 32 && sizeof(float) * ct_mlp_smem_c_rc(hidden, classes, rc) > CT_MLP_MAX_SMEM)
        rc /= 2;
    return rc;
}
/* Bytes of shared memory a block needs for every phase. */
static inline __host__ __device__ size_t ct_mlp_smem(int hidden, int classes) {
    size_t a = ct_mlp_smem_a(hidden), b = ct_mlp_smem_b(hidden, classes);
    size_t c = ct_mlp_smem_c_rc(hidden, classes, ct_mlp_rc(hidden, classes));
    size_t m = a > b ? a : b;
    return sizeof(float) * (m > c ? m : c);
}

/* Bytes of workspace for d (mlp_workspace), or 0 when the kernels do not take its shapes. */
static inline size_t ct_mlp_workspace_bytes(const ct_mlp_step_desc *d) {
    if (d->n <= 0 || d->n > CT_MLP_MAX_ROWS || d->in <= 0 || d->in > INT32_MAX - CT_MLP_KT ||
        d->hidden <= 0 || d->hidden > CT_MLP_MAX_HIDDEN || d->classes <= 0 ||
        d->classes > CT_MLP_MAX_CLASSES)
        return 0;
    if (ct_mlp_smem(d->hidden, d->classes) > CT_MLP_MAX_SMEM) return 0;
    return (size_t)ct_mlp_ws_floats(d->n, d->in, d->hidden, d->classes) * sizeof(float);
}

/* The phases' arguments for d and sv, the workspace carved up (m dropped without momentum),
 * rb rows per row item. */
static inline ct_mlp_args ct_mlp_make_args(const ct_mlp_step_desc *d, const ct_step_vars *sv,
                                           int rb) {
    ct_mlp_args a;
    a.d = *d;
    if (d->opt == CT_SGD && d->momentum == 0.0f) a.d.m = NULL;
    a.sv = sv;
    a.rb = rb < 1 ? 1 : rb > CT_MLP_RB_MAX ? CT_MLP_RB_MAX : rb;
    const int64_t n = d->n, cols = ct_mlp_col_items(d->in);
    a.x = (float *)d->ws;
    a.part = a.x + n * cols * CT_MLP_KT;
    a.h = a.part + n * cols * d->hidden;
    a.dz1 = a.h + n * d->hidden;
    a.dz2 = a.dz1 + n * d->hidden;
    a.bstats = a.dz2 + n * d->classes;
    return a;
}

/* The optimizer's update of parameter i with gradient g, as sgd_step and adam_step do it
 * (cuda_ops.cu, cuda_nn.cu; cpu.c), with this step's scalars v. */
static inline __host__ __device__ void ct_mlp_update(const ct_mlp_step_desc &d, int64_t i, float g,
                                                     const ct_mlp_vars &v) {
    float w0 = d.w[i];
    if (d.opt == CT_SGD) {
        float dv = g + d.weight_decay * w0;
        if (d.m && v.momentum != 0.0f) { /* (at 0, as sgd_step: the buffer left alone) */
            float mv = v.first ? dv : v.momentum * d.m[i] + dv;
            d.m[i] = mv;
            dv = d.nesterov ? dv + v.momentum * mv : mv;
        }
        d.w[i] = w0 - v.lr * dv;
        return;
    }
    const int decoupled = d.opt == CT_ADAMW;
#ifdef __CUDA_ARCH__
    const float decay = decoupled ? __fsub_rn(1.0f, __fmul_rn(v.lr, d.weight_decay)) : 1.0f;
#else
    const float decay = decoupled ? 1.0f - v.lr * d.weight_decay : 1.0f;
#endif
    float wi = w0 * decay;
    float gi = g + (decoupled ? 0.0f : d.weight_decay) * w0;
    float mi = v.momentum * d.m[i] + (1.0f - v.momentum) * gi;
    float vi = d.beta2 * d.v[i] + (1.0f - d.beta2) * gi * gi;
    d.m[i] = mi;
    d.v[i] = vi;
    d.w[i] = wi - v.step_size * (mi / (sqrtf(vi) / v.bc2_sqrt + d.eps));
}

/* Phase A, column item kb, in a block of nt threads; smem: ct_mlp_smem bytes. */
static inline __host__ __device__ void ct_mlp_phase_a(const ct_mlp_args &a, const ct_mlp_vars &v,
                                                      int kb, int nt, float *smem) {
    const ct_mlp_step_desc &d = a.d;
    const int K = d.in, H = d.hidden, KT = CT_MLP_KT, k0 = kb * KT;
    const int kw = K - k0 < KT ? K - k0 : KT; /* columns of this item */
    const int64_t n = d.n;
    const int32_t *order = d.idx + v.pos;
    float *xs = smem, *wt = xs + CT_MLP_RA * KT; /* (RA, KT) rows of x; (KT, H): W1's columns */
    float *X = a.x + (int64_t)kb * n * KT, *P = a.part + (int64_t)kb * n * H;
    for (int64_t c0 = 0; c0 < n; c0 += CT_MLP_RA) { /* the same rounds in every thread */
        const int rows = n - c0 < CT_MLP_RA ? (int)(n - c0) : CT_MLP_RA;
        CT_PHASE(t, nt) { /* gather (columns past the input are zeros), and W1's columns */
            CT_MLP_UNROLL
            for (int e = t; e < rows * KT; e += nt) {
                int r = e / KT, kk = e - r * KT;
                float xv = kk < kw ? d.scale * (float)d.images[(int64_t)order[c0 + r] * K + k0 + kk]
                                   : 0.0f;
                xs[e] = xv;
                X[c0 * KT + e] = xv; /* phase C's dW1 reads it back */
            }
            if (c0 == 0)
                for (int e = t; e < KT * H; e += nt) {
                    int kk = e / H, j = e - kk * H;
                    wt[e] = kk < kw ? d.w[(int64_t)j * K + k0 + kk] : 0.0f;
                }
        }
        CT_PHASE(t, nt) { /* part[kb][r][j] = sum over the item's columns in order */
            for (int o = t; o < rows * H; o += nt) {
                int r = o / H, j = o - r * H;
                float s = 0.0f;
                for (int kk = 0; kk < KT; kk++) s += xs[r * KT + kk] * wt[kk * H + j];
                P[(c0 + r) * H + j] = s;
            }
        }
    }
}

/* Phase B, row item rb, in a block of nt threads; smem: ct_mlp_smem bytes. */
static inline __host__ __device__ void ct_mlp_phase_b(const ct_mlp_args &a, const ct_mlp_vars &v,
                                                      int64_t rb, int nt, float *smem) {
    const ct_mlp_step_desc &d = a.d;
    const int H = d.hidden, C = d.classes, cols = ct_mlp_col_items(d.in);
    const int64_t n = d.n, r0 = rb * a.rb;
    const int rows = n - r0 < a.rb ? (int)(n - r0) : a.rb, out = rows * H;
    const int lanes = nt >= out ? nt / out : 1; /* partial sums per z1: items l, l + lanes, .. */
    const int32_t *order = d.idx + v.pos + r0;
    const float *B1 = d.w + (int64_t)H * d.in, *W2 = B1 + H, *B2 = W2 + (int64_t)C * H;
    const size_t pb = (size_t)CT_MLP_RB_MAX * H > CT_MLP_THREADS ? (size_t)CT_MLP_RB_MAX * H
                                                                 : CT_MLP_THREADS;
    float *part = smem;                         /* (lanes, out) */
    float *hs = part + pb;                      /* (rows, H) */
    float *zs = hs + CT_MLP_RB_MAX * H;         /* (rows, C): logits, then dz2 */
    float *rs = zs + CT_MLP_RB_MAX * C;         /* (rows, 2): loss and hit of each row */
    float *w2s = rs + 2 * CT_MLP_RB_MAX, *b2s = w2s + C * H, *b1s = b2s + C;
    CT_PHASE(t, nt) { /* the items' partials, lane l summing items l, l + lanes, ... in order */
        for (int u = t; u < out * lanes; u += nt) {
            int l = u / out, o = u - l * out;
            const float *p = a.part + (r0 * H + o) + (int64_t)l * n * H;
            float s = 0.0f;
            CT_MLP_UNROLL
            for (int kb = l; kb < cols; kb += lanes, p += (int64_t)lanes * n * H) s += *p;
            part[u] = s;
        }
        for (int e = t; e < C * H + C + H; e += nt)
            w2s[e] = e < C * H ? W2[e] : e < C * H + C ? B2[e - C * H] : B1[e - C * H - C];
    }
    CT_PHASE(t, nt) { /* z1 = the lanes' sums in lane order + b1; h = relu(z1) */
        for (int o = t; o < out; o += nt) {
            float z = 0.0f;
            for (int l = 0; l < lanes; l++) z += part[l * out + o];
            z += b1s[o % H];
            float hv = z > 0.0f ? z : 0.0f;
            hs[o] = hv;
            a.h[r0 * H + o] = hv;
        }
    }
    CT_PHASE(t, nt) { /* z2 = h W2^T + b2 */
        for (int o = t; o < rows * C; o += nt) {
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
            const float off = d.smoothing / (float)C, on = 1.0f - d.smoothing;
            /* the label's class weight (xent's; x 1 without: exact) */
            const float wy = d.class_weights ? (y < C ? d.class_weights[y] : NAN) : 1.0f;
            if (d.smoothing > 0.0f) { /* lse - (1 - s) z'[y] - s/C sum z'[c], as xent */
                float zsum = 0.0f;
                for (int c = 0; c < C; c++) zsum += z[c] - zmax;
                rs[2 * t] = wy * (logf(sum) - on * (zy - zmax) - off * zsum);
            } else {
                rs[2 * t] = wy * (logf(sum) - (zy - zmax));
            }
            rs[2 * t + 1] = arg == y ? 1.0f : 0.0f;
            float inv = 1.0f / sum, gs = d.grad_scale * wy;
            for (int c = 0; c < C; c++) {
                float p = expf(z[c] - zmax) * inv;
                float g = gs * (c == y ? p - off - on : p - off);
                z[c] = g;
                a.dz2[(r0 + t) * C + c] = g;
            }
        }
    }
    CT_PHASE(t, nt) { /* dz1 = (dz2 W2) * relu'(z1); the item's loss and hits */
        for (int o = t; o < out; o += nt) {
            int r = o / H, j = o - r * H;
            float dh = 0.0f;
            for (int c = 0; c < C; c++) dh += zs[r * C + c] * w2s[c * H + j];
            a.dz1[r0 * H + o] = hs[o] > 0.0f ? dh : 0.0f;
        }
        if (t == 0) {
            float loss = 0.0f, hits = 0.0f;
            for (int r = 0; r < rows; r++) {
                loss += rs[2 * r];
                hits += rs[2 * r + 1];
            }
            a.bstats[2 * rb] = loss;
            a.bstats[2 * rb + 1] = hits;
        }
    }
}

/* Phase C, item kb (kb == ct_mlp_col_items(in): b1, W2, b2 and the stats), in a block of nt
 * threads; smem: ct_mlp_smem bytes. The last item then moves the step table on: cursor_to >= 0
 * sets *d.cursor to it (and *d.cur to *cur_from), else with d.table *d.cursor += 1. */
static inline __host__ __device__ void ct_mlp_phase_c(const ct_mlp_args &a, const ct_mlp_vars &v,
                                                      int kb, int nt, float *smem,
                                                      int64_t cursor_to,
                                                      const ct_step_vars *cur_from) {
    const ct_mlp_step_desc &d = a.d;
    const int K = d.in, H = d.hidden, C = d.classes, KT = CT_MLP_KT, RC = ct_mlp_rc(H, C);
    const int64_t n = d.n;
    if (kb < ct_mlp_col_items(K)) { /* W1 columns [k0, k0 + KT) */
        const int k0 = kb * KT;
        const float *X = a.x + (int64_t)kb * n * KT;
        float *dzs = smem;        /* (RC, H) */
        float *xt = dzs + RC * H; /* (RC, KT) */
        float *acc = xt + RC * KT; /* (H, KT) */
        CT_PHASE(t, nt) {
            for (int e = t; e < H * KT; e += nt) acc[e] = 0.0f;
        }
        for (int64_t c0 = 0; c0 < n; c0 += RC) { /* the same rounds in every thread */
            const int rc = n - c0 < RC ? (int)(n - c0) : RC;
            CT_PHASE(t, nt) {
                CT_MLP_UNROLL
                for (int e = t; e < rc * H; e += nt) dzs[e] = a.dz1[c0 * H + e];
                for (int e = t; e < rc * KT; e += nt) xt[e] = X[c0 * KT + e];
            }
            CT_PHASE(t, nt) { /* the round's rows in four partial sums (rows 0, 1, 2, 3 mod 4,
                               * added in that order): four chains of additions, not one */
                for (int e = t; e < H * KT; e += nt) {
                    const int j = e / KT, kk = e - j * KT;
                    const float *dz = dzs + j, *xk = xt + kk;
                    float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
                    int r = 0;
                    for (; r + 4 <= rc; r += 4) {
                        s0 += dz[r * H] * xk[r * KT];
                        s1 += dz[(r + 1) * H] * xk[(r + 1) * KT];
                        s2 += dz[(r + 2) * H] * xk[(r + 2) * KT];
                        s3 += dz[(r + 3) * H] * xk[(r + 3) * KT];
                    }
                    for (; r < rc; r++) s0 += dz[r * H] * xk[r * KT];
                    acc[e] += (s0 + s1) + (s2 + s3);
                }
            }
        }
        CT_PHASE(t, nt) {
            for (int e = t; e < H * KT; e += nt) {
                int j = e / KT, k = k0 + (e - j * KT);
                if (k < K) ct_mlp_update(d, (int64_t)j * K + k, acc[e], v);
            }
        }
        return;
    }
    /* the last item: b1, W2 and b2, whose gradients are sums over the rows of dz1, dz2 and h
     * (acc: db1 (H), dW2 (C, H), db2 (C), as they lie in the parameters) */
    const int P = H + C * H + C;
    const int64_t base = (int64_t)H * K, items = ct_mlp_row_items(n, a.rb);
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
    CT_PHASE(t, nt) { /* the update; the row items' loss and hits in CT_MLP_PS partial sums
                       * (partial s: items s, s + PS, ... in order), read in parallel */
        for (int e = t; e < P; e += nt) ct_mlp_update(d, base + e, acc[e], v);
        for (int s = t; s < CT_MLP_PS; s += nt) {
            double loss = 0.0, hits = 0.0;
            for (int64_t k = s; k < items; k += CT_MLP_PS) {
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
            if (cursor_to >= 0) {
                *d.cur = *cur_from;
                *d.cursor = cursor_to;
            } else if (d.table) {
                *d.cursor += 1; /* phase C reads it nowhere else */
            }
        }
    }
}

#endif /* CT_CUDA_MLP_KERNELS_CUH */
