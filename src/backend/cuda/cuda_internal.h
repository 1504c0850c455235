/*
 * cuda_internal.h — private to the CUDA plugin (libctrain_cuda.so): the backend's state, the
 * checking macros every CUDA/cuBLAS call goes through, and the op entry points that
 * cuda_ops.cu, cuda_gather.cu and the others fill into the table.
 *
 * Nothing here is exported: the plugin builds with hidden visibility and a linker version script,
 * so only ct_cuda_backend_open and ct_cuda_list_devices leave the .so.
 */
#ifndef CT_CUDA_INTERNAL_H
#define CT_CUDA_INTERNAL_H

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <stdio.h>
#include <math.h> /* here, outside the extern "C" below (backend.h includes it too) */

/* core.h and backend.h are C headers without extern "C" guards of their own. */
extern "C" {
#include "backend/backend.h"
#include "core/core.h"
#include "core/philox.h"
}

/* ------------------------------------------------------------------------------------------ */
/* state                                                                                       */

typedef struct {
    ct_backend base;                              /* must be first: the table the caller sees */
    int device;                                   /* CUDA device ordinal */
    int sm_count;                                 /* multiprocessors, to size grid-stride grids */
    size_t mem_total;                             /* the GPU's memory, bytes */
    cudaStream_t compute;                         /* every op and blocking copy runs here */
    cudaStream_t copy;                            /* h2d_async uploads run here */
    cudaEvent_t copied[CT_MAX_COPY_SLOTS];        /* recorded on `copy` after each upload */
    cudaEvent_t released[CT_MAX_COPY_SLOTS];      /* recorded on `compute` by compute_mark */
    cublasHandle_t cublas;                        /* bound to `compute` */
    void *cublas_workspace;                       /* fixed workspace: no allocation inside ops */
    uint8_t *aug_ws;                              /* gather_u8's automatic augmentation's, */
    size_t aug_ws_bytes;                          /* grown outside recordings (cuda_gather.cu) */
    int recording;                                /* a graph records the compute stream */
    void *coll;                                   /* NCCL, once loaded (cuda_coll.cu) */
    void *dnn;                                    /* cuDNN, when loaded (cuda_dnn.cu) */
    char dnn_name[32];                            /* "cuDNN 9.19.0" */
    struct {                      /* the fused MLP step's cooperative launch (cuda_mlp.cu): */
        size_t smem;              /* for this much shared memory (0: not asked yet), */
        int coop, per_sm;         /* whether the GPU can, and blocks a multiprocessor holds */
    } mlp_launch;
} ct_cuda;

static inline ct_cuda *ct_cuda_of(ct_backend *b) { return (ct_cuda *)b; }

/* 1-D kernels (cuda_ops.cu, cuda_optim.cu, cuda_gather.cu): threads a block, grid-stride grids */
#define CT_THREADS 256              /* threads per block */
#define CT_BLOCKS_PER_SM 32         /* grid-stride grids stop growing here */

/* Blocks for a grid-stride loop over n items (n > 0). */
static inline unsigned grid_for(const ct_cuda *cb, int64_t n) {
    int64_t blocks = (n + CT_THREADS - 1) / CT_THREADS;
    int64_t cap = (int64_t)cb->sm_count * CT_BLOCKS_PER_SM;
    return (unsigned)(blocks < cap ? blocks : cap);
}

#define GRID_STRIDE(i, n)                                                                  \
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n);              \
         i += (int64_t)gridDim.x * blockDim.x)

/* ------------------------------------------------------------------------------------------ */
/* error checking: record file:line, the call, CUDA's message and a hint; never print or exit  */

/* Turns a failed CUDA call into a ct_status (CT_ERR_NOMEM for out-of-memory, else
 * CT_ERR_DEVICE) with ct_last_error() = "file:line: call failed: message (name; hint)".
 * Clears CUDA's (non-sticky) last-error slot so that later launch checks do not see it. */
ct_status ct_cuda_fail(cudaError_t e, const char *file, int line, const char *call);
ct_status ct_cublas_fail(cublasStatus_t s, const char *file, int line, const char *call);

#define CT_CUDA_CHECK(call)                                                          \
    do {                                                                             \
        cudaError_t ct_cuda_e_ = (call);                                             \
        if (ct_cuda_e_ != cudaSuccess)                                               \
            return ct_cuda_fail(ct_cuda_e_, __FILE__, __LINE__, #call);              \
    } while (0)

#define CT_CUBLAS_CHECK(call)                                                        \
    do {                                                                             \
        cublasStatus_t ct_cublas_s_ = (call);                                        \
        if (ct_cublas_s_ != CUBLAS_STATUS_SUCCESS)                                   \
            return ct_cublas_fail(ct_cublas_s_, __FILE__, __LINE__, #call);          \
    } while (0)

/* After a <<<...>>> launch: a bad configuration shows up here; a fault inside the kernel shows
 * up later, at the next blocking call (d2h, sync, copy_done). */
#define CT_CUDA_CHECK_LAUNCH(kernel_name)                                            \
    do {                                                                             \
        cudaError_t ct_cuda_e_ = cudaGetLastError();                                 \
        if (ct_cuda_e_ != cudaSuccess)                                               \
            return ct_cuda_fail(ct_cuda_e_, __FILE__, __LINE__, kernel_name "<<<>>>"); \
    } while (0)

/* Makes the backend's device current on the calling thread (ops may come from any thread;
 * cudaSetDevice is cheap when the device is already current). */
#define CT_CUDA_BIND(cb) CT_CUDA_CHECK(cudaSetDevice((cb)->device))

/* ------------------------------------------------------------------------------------------ */
/* ops (cuda_ops.cu)                                                                           */

/* Fills gemm, bias_add, normalize, bias_grad, act_forward, act_backward, xent, add_into, fill,
 * scale_rows, dot_rows, dropout_* and step_load. */
void ct_cuda_fill_ops(ct_backend *b);
/* Fills sgd_step, ema_update, adam_step and rmsprop_step (cuda_optim.cu). */
void ct_cuda_fill_optim_ops(ct_backend *b);
/* Fills gather_u8 (cuda_gather.cu). */
void ct_cuda_fill_gather_ops(ct_backend *b);
/* Fills the CNN ops (cuda_nn.cu): conv2d_*, maxpool2d_*, avgpool2d_*, batchnorm_*,
 * groupnorm_*, sumsq, clip_scale and clip_value. */
void ct_cuda_fill_nn_ops(ct_backend *b);
/* Fills gemm_batched, softmax_rows(_backward), transpose and copy2d (cuda_seq.cu). */
void ct_cuda_fill_seq_ops(ct_backend *b);
/* Fills the fused MLP step (cuda_mlp.cu): mlp_workspace, mlp_step. */
void ct_cuda_fill_mlp_ops(ct_backend *b);
ct_status ct_cuda_probe_mlp_kernels(void);
/* Fills the collective ops (cuda_coll.cu: NCCL, when the build found nccl.h); frees what they
 * hold (the communicator, the library), called by destroy. */
void ct_cuda_fill_coll_ops(ct_backend *b);
void ct_cuda_coll_free(ct_cuda *cb);
/* cuDNN for convolutions (cuda_dnn.cu). open: loads it, or says in why[] why not (cb->dnn then
 * stays NULL); free: what open made. plan: makes d's shape's plan on first sight, with
 * algorithms that need at most ws bytes of workspace at d->n, and returns the workspace the
 * plan needs at d->n (0: no plan, im2col); planned: does this call run on cuDNN, its shape
 * planned and its batch needing at most ws bytes (then the ops below), or by im2col? */
#ifdef CT_HAVE_CUDNN
void ct_cuda_dnn_open(ct_cuda *cb, char *why, size_t why_len);
void ct_cuda_dnn_free(ct_cuda *cb);
size_t ct_cuda_dnn_plan(ct_cuda *cb, const ct_conv2d_desc *d, size_t ws);
int ct_cuda_dnn_planned(ct_cuda *cb, const ct_conv2d_desc *d, size_t ws);
ct_status ct_cuda_dnn_forward(ct_cuda *cb, const ct_conv2d_desc *d, const float *x,
                              const float *weight, const float *bias, float *y, void *ws);
ct_status ct_cuda_dnn_backward_data(ct_cuda *cb, const ct_conv2d_desc *d, const float *dy,
                                    const float *weight, float *dx, void *ws);
ct_status ct_cuda_dnn_backward_filter(ct_cuda *cb, const ct_conv2d_desc *d, const float *x,
                                      const float *dy, float *dweight, void *ws);
#else /* built without cudnn.h: never planned, so the ops below are never called */
static inline void ct_cuda_dnn_open(ct_cuda *cb, char *why, size_t why_len) {
    (void)cb;
    snprintf(why, why_len, "not built: cudnn.h was not found");
}
static inline void ct_cuda_dnn_free(ct_cuda *cb) { (void)cb; }
static inline size_t ct_cuda_dnn_plan(ct_cuda *cb, const ct_conv2d_desc *d, size_t ws) {
    return (void)cb, (void)d, (void)ws, 0;
}
static inline int ct_cuda_dnn_planned(ct_cuda *cb, const ct_conv2d_desc *d, size_t ws) {
    return (void)cb, (void)d, (void)ws, 0;
}
#define ct_cuda_dnn_forward(cb, d, x, w, bias, y, ws) CT_ERR_INVALID
#define ct_cuda_dnn_backward_data(cb, d, dy, w, dx, ws) CT_ERR_INVALID
#define ct_cuda_dnn_backward_filter(cb, d, x, dy, dw, ws) CT_ERR_INVALID
#endif
/* After a host wait on the device: the error NCCL's watchdog aborted the communicator for
 * (the wait itself returns once the abort lets NCCL's kernels go), else CT_OK. */
#ifdef CT_HAVE_NCCL
ct_status ct_cuda_coll_check(ct_cuda *cb);
#else
static inline ct_status ct_cuda_coll_check(ct_cuda *cb) { return (void)cb, CT_OK; }
#endif
/* Checks that this build has kernels the device can run (no cudaErrorNoKernelImageForDevice
 * at the first op), by loading the MLP step's kernels now; the others (convolutions, pooling,
 * ...) still load lazily at their first launch, which is an uncaptured warm-up step. */
ct_status ct_cuda_probe_kernels(ct_cuda *cb);

/* ct_philox4x32 of core.c (core/philox.h: the same definition). */
static __device__ __forceinline__ void philox4x32(uint64_t key, uint64_t hi, uint64_t lo,
                                                  uint32_t out[4]) {
    ct_philox_block(key, hi, lo, out);
}


#endif /* CT_CUDA_INTERNAL_H */
