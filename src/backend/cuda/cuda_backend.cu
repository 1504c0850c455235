/*
 * cuda_backend.cu — the CUDA backend plugin (libctrain_cuda.so): opening a GPU, listing GPUs,
 * memory, streams and copies, and the error reporting behind the checking macros.
 *
 * The plugin exports exactly three C functions (see backend.h): ct_cuda_backend_open,
 * ct_cuda_list_devices and ct_cuda_backend_bytes (its op table's size, checked by the loader). The CUDA runtime is linked statically, so a machine without an NVIDIA
 * driver loads this plugin fine and gets a clean CT_ERR_DEVICE ("no NVIDIA driver found") from
 * them instead of a loader error. The ops (kernels, cuBLAS) live in cuda_ops.cu and beside it.
 *
 * Streams: every op, memset and blocking copy runs on one compute stream; h2d_async uploads run
 * on a copy stream and record one event per slot; compute_mark records, per slot, the point at
 * which the compute stream is done with that slot's buffer, and the next upload into the slot
 * waits (on the device) for it. Nothing here prints, exits or aborts.
 */
#include "backend/cuda/cuda_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CT_MIB (1024.0 * 1024.0)
#define CT_GIB (1024.0 * 1024.0 * 1024.0)
/* cuBLAS workspace (its guide recommends 32 MiB on Hopper, 4 MiB before). */
#define CT_CUBLAS_WORKSPACE_HOPPER_BYTES ((size_t)32 << 20)
#define CT_CUBLAS_WORKSPACE_BYTES ((size_t)4 << 20)

/* ------------------------------------------------------------------------------------------ */
/* errors                                                                                      */

static const char *base_name(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* What the user can do about e (empty when there is nothing useful to say). */
static const char *cuda_hint(cudaError_t e) {
    switch (e) {
    case cudaErrorMemoryAllocation:
        return "; hint: --micro-batch N computes a batch N images at a time, or free GPU memory "
               "(nvidia-smi)";
    case cudaErrorInsufficientDriver:
        return "; hint: install or update the NVIDIA driver, or use --device cpu";
    case cudaErrorNoDevice:
        return "; hint: check CUDA_VISIBLE_DEVICES and nvidia-smi, or use --device cpu";
    case cudaErrorNoKernelImageForDevice:
    case cudaErrorInvalidDeviceFunction:
    case cudaErrorUnsupportedPtxVersion:
        return "; hint: this build has no kernels for this GPU: rebuild with "
               "-DCMAKE_CUDA_ARCHITECTURES=native";
    case cudaErrorIllegalAddress:
    case cudaErrorLaunchFailure:
    case cudaErrorMisalignedAddress:
    case cudaErrorIllegalInstruction:
        return "; hint: a kernel faulted (the CUDA context is now unusable): run the same "
               "command under compute-sanitizer to find it";
    case cudaErrorLaunchOutOfResources:
    case cudaErrorInvalidConfiguration:
        return "; hint: a kernel launch configuration is too large for this GPU";
    case cudaErrorStubLibrary:
        return "; hint: the libcuda.so.1 found is the toolkit's stub: install the NVIDIA driver "
               "or take the stubs folder out of LD_LIBRARY_PATH";
    case cudaErrorDevicesUnavailable:
        return "; hint: the GPU is busy or in exclusive-process mode (nvidia-smi -q -d COMPUTE)";
    case cudaErrorInvalidValue:
        return "; hint: a bad pointer, size or slot reached the CUDA backend";
    default:
        return "";
    }
}

ct_status ct_cuda_fail(cudaError_t e, const char *file, int line, const char *call) {
    (void)cudaGetLastError(); /* clear the non-sticky error so later launch checks stay clean */
    ct_status s = e == cudaErrorMemoryAllocation ? CT_ERR_NOMEM : CT_ERR_DEVICE;
    return ct_fail(s, "%s:%d: %s failed: %s (%s%s)", base_name(file), line, call,
                   cudaGetErrorString(e), cudaGetErrorName(e), cuda_hint(e));
}

ct_status ct_cublas_fail(cublasStatus_t st, const char *file, int line, const char *call) {
    (void)cudaGetLastError(); /* as ct_cuda_fail: a launch error cuBLAS left is not ours */
    const char *hint = "";
    if (st == CUBLAS_STATUS_ALLOC_FAILED) hint = "; hint: GPU memory is exhausted";
    else if (st == CUBLAS_STATUS_INVALID_VALUE) hint = "; hint: bad matrix sizes or strides";
    else if (st == CUBLAS_STATUS_EXECUTION_FAILED) hint = "; hint: run under compute-sanitizer";
    ct_status s = st == CUBLAS_STATUS_ALLOC_FAILED ? CT_ERR_NOMEM : CT_ERR_DEVICE;
    return ct_fail(s, "%s:%d: %s failed: %s (%s%s)", base_name(file), line, call,
                   cublasGetStatusString(st), cublasGetStatusName(st), hint);
}

/* 13000 -> "13.0", 12040 -> "12.4" */
static void version_string(int v, char *out, size_t bytes) {
    if (v <= 0) snprintf(out, bytes, "none");
    else snprintf(out, bytes, "%d.%d", v / 1000, (v % 1000) / 10);
}

/* Counts the GPUs. On failure (no driver, driver too old, no GPU, ...) sets a message for the
 * user, returns CT_ERR_DEVICE and leaves CUDA's error code in *why. */
static ct_status count_devices(int *count, cudaError_t *why) {
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    *count = 0;
    *why = e;
    if (e == cudaSuccess && n > 0) {
        *count = n;
        return CT_OK;
    }
    (void)cudaGetLastError();
    int driver = 0, runtime = 0;
    (void)cudaDriverGetVersion(&driver); /* 0 when no driver is installed */
    (void)cudaRuntimeGetVersion(&runtime);
    char dv[16], rv[16];
    version_string(driver, dv, sizeof dv);
    version_string(runtime, rv, sizeof rv);
    if (e == cudaErrorInsufficientDriver) {
        if (driver == 0)
            return ct_fail(CT_ERR_DEVICE, "no NVIDIA driver found (cudaErrorInsufficientDriver)");
        return ct_fail(CT_ERR_DEVICE,
                       "the NVIDIA driver supports CUDA %s but this build needs CUDA %s "
                       "(cudaErrorInsufficientDriver); update the driver",
                       dv, rv);
    }
    if (e == cudaSuccess || e == cudaErrorNoDevice) {
        *why = cudaErrorNoDevice;
        const char *visible = getenv("CUDA_VISIBLE_DEVICES");
        if (visible)
            return ct_fail(CT_ERR_DEVICE,
                           "no CUDA-capable GPU found "
                           "(cudaErrorNoDevice; CUDA_VISIBLE_DEVICES=\"%s\")",
                           visible);
        return ct_fail(CT_ERR_DEVICE, "no CUDA-capable GPU found (cudaErrorNoDevice)");
    }
    if (driver > 0)
        return ct_fail(CT_ERR_DEVICE, "cannot initialise CUDA: %s (%s%s; driver %s, runtime %s)",
                       cudaGetErrorString(e), cudaGetErrorName(e), cuda_hint(e), dv, rv);
    return ct_fail(CT_ERR_DEVICE, "cannot initialise CUDA: %s (%s%s)", cudaGetErrorString(e),
                   cudaGetErrorName(e), cuda_hint(e));
}

/* ------------------------------------------------------------------------------------------ */
/* memory                                                                                      */

static ct_status cuda_alloc(ct_backend *b, size_t bytes, void **out) {
    ct_cuda *cb = ct_cuda_of(b);
    *out = NULL;
    CT_CUDA_BIND(cb);
    cudaError_t e = cudaMalloc(out, bytes ? bytes : 1); /* a real pointer even for 0 bytes */
    if (e == cudaErrorMemoryAllocation) {
        (void)cudaGetLastError();
        size_t free_bytes = 0, total_bytes = 0;
        (void)cudaMemGetInfo(&free_bytes, &total_bytes);
        (void)cudaGetLastError();
        *out = NULL;
        return ct_fail(CT_ERR_NOMEM,
                       "CUDA out of memory: asked for %.1f MiB, %.1f MiB free of %.1f MiB "
                       "(hint: --micro-batch N computes a batch N images at a time, or free GPU "
                       "memory)",
                       bytes / CT_MIB, free_bytes / CT_MIB, total_bytes / CT_MIB);
    }
    if (e != cudaSuccess) {
        *out = NULL;
        return ct_cuda_fail(e, __FILE__, __LINE__, "cudaMalloc(out, bytes)");
    }
    return CT_OK;
}

static void cuda_free(ct_backend *b, void *p) {
    if (!p) return;
    (void)cudaSetDevice(ct_cuda_of(b)->device);
    (void)cudaFree(p);        /* nothing useful to do on failure: the table says void */
    (void)cudaGetLastError();
}

static ct_status cuda_host_alloc(ct_backend *b, size_t bytes, void **out) {
    ct_cuda *cb = ct_cuda_of(b);
    *out = NULL;
    CT_CUDA_BIND(cb);
    /* Portable: pinned for every CUDA context, whichever thread allocates it. */
    cudaError_t e = cudaHostAlloc(out, bytes ? bytes : 1, cudaHostAllocPortable);
    if (e != cudaSuccess) {
        (void)cudaGetLastError();
        *out = NULL;
        return ct_fail(e == cudaErrorMemoryAllocation ? CT_ERR_NOMEM : CT_ERR_DEVICE,
                       "%s:%d: cannot allocate %.1f MiB of pinned host memory: %s (%s)",
                       base_name(__FILE__), __LINE__, bytes / CT_MIB, cudaGetErrorString(e),
                       cudaGetErrorName(e));
    }
    return CT_OK;
}

static void cuda_host_free(ct_backend *b, void *p) {
    if (!p) return;
    (void)cudaSetDevice(ct_cuda_of(b)->device);
    (void)cudaFreeHost(p);
    (void)cudaGetLastError();
}

static ct_status cuda_mem_info(ct_backend *b, size_t *free_bytes, size_t *total_bytes) {
    CT_CUDA_BIND(ct_cuda_of(b));
    CT_CUDA_CHECK(cudaMemGetInfo(free_bytes, total_bytes));
    return CT_OK;
}

static ct_status cuda_memset0(ct_backend *b, void *p, size_t bytes) {
    ct_cuda *cb = ct_cuda_of(b);
    if (bytes == 0) return CT_OK;
    CT_CUDA_BIND(cb);
    CT_CUDA_CHECK(cudaMemsetAsync(p, 0, bytes, cb->compute));
    return CT_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* stream                                                                                      */

static ct_status check_slot(int slot) {
    if (slot < 0 || slot >= CT_MAX_COPY_SLOTS)
        return ct_fail(CT_ERR_INVALID, "copy slot %d out of range [0, %d)", slot,
                       CT_MAX_COPY_SLOTS);
    return CT_OK;
}

/* Blocking upload. It is queued on the compute stream, so it cannot overwrite a buffer that
 * queued ops still read (the CPU backend's ops are synchronous; this keeps the same meaning),
 * and returns when the data is on the device and host_src may be reused. */
static ct_status cuda_h2d(ct_backend *b, void *dst, const void *host_src, size_t bytes) {
    ct_cuda *cb = ct_cuda_of(b);
    if (bytes == 0) return CT_OK;
    CT_CUDA_BIND(cb);
    CT_CUDA_CHECK(cudaMemcpyAsync(dst, host_src, bytes, cudaMemcpyHostToDevice, cb->compute));
    CT_CUDA_CHECK(cudaStreamSynchronize(cb->compute));
    return ct_cuda_coll_check(cb);
}

/* Blocking download: waits for the compute stream (the results it is producing). */
static ct_status cuda_d2h(ct_backend *b, void *host_dst, const void *src, size_t bytes) {
    ct_cuda *cb = ct_cuda_of(b);
    if (bytes == 0) return CT_OK;
    CT_CUDA_BIND(cb);
    CT_CUDA_CHECK(cudaMemcpyAsync(host_dst, src, bytes, cudaMemcpyDeviceToHost, cb->compute));
    CT_CUDA_CHECK(cudaStreamSynchronize(cb->compute));
    return ct_cuda_coll_check(cb);
}

/* Device-to-device copy, ordered with the ops on the compute stream (asynchronous). */
static ct_status cuda_d2d(ct_backend *b, void *dst, const void *src, size_t bytes) {
    ct_cuda *cb = ct_cuda_of(b);
    if (bytes == 0 || dst == src) return CT_OK;
    CT_CUDA_BIND(cb);
    CT_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, cb->compute));
    return CT_OK;
}

static ct_status cuda_h2d_async(ct_backend *b, void *dst, const void *host_src, size_t bytes,
                                int slot) {
    ct_cuda *cb = ct_cuda_of(b);
    CT_TRY(check_slot(slot));
    CT_CUDA_BIND(cb);
    /* Do not overwrite the slot's buffer before the compute stream is done with it (a no-op
     * until compute_mark has recorded the event once). */
    CT_CUDA_CHECK(cudaStreamWaitEvent(cb->copy, cb->released[slot], 0));
    if (bytes > 0)
        CT_CUDA_CHECK(cudaMemcpyAsync(dst, host_src, bytes, cudaMemcpyHostToDevice, cb->copy));
    CT_CUDA_CHECK(cudaEventRecord(cb->copied[slot], cb->copy));
    return CT_OK;
}

static ct_status cuda_compute_mark(ct_backend *b, int slot) {
    ct_cuda *cb = ct_cuda_of(b);
    CT_TRY(check_slot(slot));
    CT_CUDA_BIND(cb);
    CT_CUDA_CHECK(cudaEventRecord(cb->released[slot], cb->compute));
    return CT_OK;
}

static ct_status cuda_wait_copy(ct_backend *b, int slot) {
    ct_cuda *cb = ct_cuda_of(b);
    CT_TRY(check_slot(slot));
    CT_CUDA_BIND(cb);
    CT_CUDA_CHECK(cudaStreamWaitEvent(cb->compute, cb->copied[slot], 0));
    return CT_OK;
}

static ct_status cuda_copy_done(ct_backend *b, int slot) {
    ct_cuda *cb = ct_cuda_of(b);
    CT_TRY(check_slot(slot));
    CT_CUDA_BIND(cb);
    CT_CUDA_CHECK(cudaEventSynchronize(cb->copied[slot]));
    return ct_cuda_coll_check(cb);
}

static ct_status cuda_sync(ct_backend *b) {
    ct_cuda *cb = ct_cuda_of(b);
    CT_CUDA_BIND(cb);
    CT_CUDA_CHECK(cudaStreamSynchronize(cb->copy));
    CT_CUDA_CHECK(cudaStreamSynchronize(cb->compute));
    return ct_cuda_coll_check(cb);
}

/* ------------------------------------------------------------------------------------------ */
/* recorded steps: CUDA graphs of the compute stream                                          */

static ct_status cuda_graph_begin(ct_backend *b) {
    ct_cuda *cb = ct_cuda_of(b);
    CT_CUDA_BIND(cb);
    /* thread-local: only this thread's unsafe calls (a blocking copy, say) break the recording */
    CT_CUDA_CHECK(cudaStreamBeginCapture(cb->compute, cudaStreamCaptureModeThreadLocal));
    cb->recording = 1;
    return CT_OK;
}

static ct_status cuda_graph_end(ct_backend *b, void **graph) {
    ct_cuda *cb = ct_cuda_of(b);
    *graph = NULL;
    CT_CUDA_BIND(cb);
    cudaGraph_t g = NULL;
    cudaError_t e = cudaStreamEndCapture(cb->compute, &g);
    cb->recording = 0;
    if (e != cudaSuccess) {
        if (g) (void)cudaGraphDestroy(g);
        return ct_cuda_fail(e, __FILE__, __LINE__, "cudaStreamEndCapture(compute, &graph)");
    }
    cudaGraphExec_t x = NULL;
    e = cudaGraphInstantiate(&x, g, 0);
    (void)cudaGraphDestroy(g); /* the executable copy is independent of it */
    if (e != cudaSuccess)
        return ct_cuda_fail(e, __FILE__, __LINE__, "cudaGraphInstantiate(&exec, graph, 0)");
    *graph = (void *)x;
    return CT_OK;
}

static ct_status cuda_graph_launch(ct_backend *b, void *graph) {
    ct_cuda *cb = ct_cuda_of(b);
    CT_CUDA_BIND(cb);
    CT_CUDA_CHECK(cudaGraphLaunch((cudaGraphExec_t)graph, cb->compute));
    return CT_OK;
}

/* In-flight replays finish first: CUDA frees an executing graph when it completes. */
static void cuda_graph_free(ct_backend *b, void *graph) {
    if (!graph) return;
    (void)cudaSetDevice(ct_cuda_of(b)->device);
    (void)cudaGraphExecDestroy((cudaGraphExec_t)graph);
    (void)cudaGetLastError();
}

/* ------------------------------------------------------------------------------------------ */
/* creation and destruction                                                                    */

/* Frees whatever part of cb exists (open may fail half-way). Never touches the error slot. */
static void cuda_destroy(ct_backend *b) {
    if (!b) return;
    ct_cuda *cb = ct_cuda_of(b);
    (void)cudaSetDevice(cb->device);
#ifdef CT_HAVE_NCCL
    ct_cuda_coll_free(cb);
#endif
    if (cb->copy) (void)cudaStreamSynchronize(cb->copy);
    if (cb->compute) (void)cudaStreamSynchronize(cb->compute);
    ct_cuda_dnn_free(cb);
    if (cb->cublas) (void)cublasDestroy(cb->cublas);
    if (cb->cublas_workspace) (void)cudaFree(cb->cublas_workspace);
    if (cb->aug_ws) (void)cudaFree(cb->aug_ws);
    for (int i = 0; i < CT_MAX_COPY_SLOTS; i++) {
        if (cb->copied[i]) (void)cudaEventDestroy(cb->copied[i]);
        if (cb->released[i]) (void)cudaEventDestroy(cb->released[i]);
    }
    if (cb->copy) (void)cudaStreamDestroy(cb->copy);
    if (cb->compute) (void)cudaStreamDestroy(cb->compute);
    (void)cudaGetLastError();
    free(cb);
}

/* Creates the streams, events and cuBLAS handle of cb (device already current). */
static ct_status create_resources(ct_cuda *cb, const cudaDeviceProp *prop) {
    CT_CUDA_CHECK(cudaStreamCreateWithFlags(&cb->compute, cudaStreamNonBlocking));
    CT_CUDA_CHECK(cudaStreamCreateWithFlags(&cb->copy, cudaStreamNonBlocking));
    for (int i = 0; i < CT_MAX_COPY_SLOTS; i++) {
        CT_CUDA_CHECK(cudaEventCreateWithFlags(&cb->copied[i], cudaEventDisableTiming));
        CT_CUDA_CHECK(cudaEventCreateWithFlags(&cb->released[i], cudaEventDisableTiming));
    }
    CT_CUBLAS_CHECK(cublasCreate(&cb->cublas));
    CT_CUBLAS_CHECK(cublasSetStream(cb->cublas, cb->compute));
    /* A workspace of our own, set after cublasSetStream (which resets it): cuBLAS then never
     * allocates inside a gemm. Plain FP32 math (no TF32), to agree with the CPU backend. */
    size_t ws = prop->major >= 9 ? CT_CUBLAS_WORKSPACE_HOPPER_BYTES : CT_CUBLAS_WORKSPACE_BYTES;
    CT_TRY(cuda_alloc(&cb->base, ws, &cb->cublas_workspace));
    CT_CUBLAS_CHECK(cublasSetWorkspace(cb->cublas, cb->cublas_workspace, ws));
    CT_CUBLAS_CHECK(cublasSetMathMode(cb->cublas, CUBLAS_DEFAULT_MATH));
    return CT_OK;
}

static void fill_table(ct_cuda *cb, const cudaDeviceProp *prop, const char *dnn_why) {
    ct_backend *b = &cb->base;
    int driver = 0, runtime = 0;
    (void)cudaDriverGetVersion(&driver);
    (void)cudaRuntimeGetVersion(&runtime);
    char dv[16], rv[16];
    version_string(driver, dv, sizeof dv);
    version_string(runtime, rv, sizeof rv);
    b->name = "cuda";
    char dnn[160];
    if (cb->dnn) snprintf(dnn, sizeof dnn, "%s", cb->dnn_name);
    else snprintf(dnn, sizeof dnn, "no cuDNN (%.110s): convolutions by im2col", dnn_why);
    snprintf(b->description, sizeof b->description,
             "CUDA: %s (%.1f GiB, sm_%d%d), driver %s, runtime %s, %s", prop->name,
             prop->totalGlobalMem / CT_GIB, prop->major, prop->minor, dv, rv, dnn);
    b->host_is_device = 0;
    b->threads = 0;
    b->destroy = cuda_destroy;
    b->alloc = cuda_alloc;
    b->free = cuda_free;
    b->host_alloc = cuda_host_alloc;
    b->host_free = cuda_host_free;
    b->memset0 = cuda_memset0;
    b->mem_info = cuda_mem_info;
    b->h2d = cuda_h2d;
    b->d2h = cuda_d2h;
    b->d2d = cuda_d2d;
    b->h2d_async = cuda_h2d_async;
    b->compute_mark = cuda_compute_mark;
    b->wait_copy = cuda_wait_copy;
    b->copy_done = cuda_copy_done;
    b->sync = cuda_sync;
    b->graph_begin = cuda_graph_begin;
    b->graph_end = cuda_graph_end;
    b->graph_launch = cuda_graph_launch;
    b->graph_free = cuda_graph_free;
    ct_cuda_fill_ops(b);
    ct_cuda_fill_gather_ops(b); /* cuda_gather.cu: the row gather and its augmentation */
    ct_cuda_fill_optim_ops(b); /* cuda_optim.cu: SGD, the weights' average, Adam, RMSprop */
    ct_cuda_fill_nn_ops(b); /* cuda_nn.cu: conv, pooling, batch and group norm, norms */
    ct_cuda_fill_seq_ops(b); /* cuda_seq.cu: batched GEMM, softmax rows, transposes */
    ct_cuda_fill_mlp_ops(b); /* cuda_mlp.cu: the tutorial's MLP step, fused */
#ifdef CT_HAVE_NCCL
    ct_cuda_fill_coll_ops(b); /* cuda_coll.cu: NCCL all-reduce across ranks */
#endif
}

extern "C" __attribute__((visibility("default"))) ct_status
ct_cuda_backend_open(int device, ct_backend **out) {
    *out = NULL;
    int count = 0;
    cudaError_t why;
    CT_TRY(count_devices(&count, &why));
    if (device < 0 || device >= count) {
        if (count == 1)
            return ct_fail(CT_ERR_DEVICE, "cuda:%d does not exist (1 GPU found: cuda:0)", device);
        return ct_fail(CT_ERR_DEVICE, "cuda:%d does not exist (%d GPUs found: cuda:0 to cuda:%d)",
                       device, count, count - 1);
    }
    CT_CUDA_CHECK(cudaSetDevice(device));
    cudaDeviceProp prop;
    CT_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));

    ct_cuda *cb = (ct_cuda *)calloc(1, sizeof *cb);
    if (!cb)
        return ct_fail(CT_ERR_NOMEM, "out of memory (%zu bytes for the CUDA backend)", sizeof *cb);
    cb->device = device;
    cb->sm_count = prop.multiProcessorCount > 0 ? prop.multiProcessorCount : 1;
    cb->mem_total = prop.totalGlobalMem;
    ct_status s = create_resources(cb, &prop);
    if (s == CT_OK) s = ct_cuda_probe_kernels(cb);
    if (s != CT_OK) {
        cuda_destroy(&cb->base);
        return ct_fail_context(s, "opening cuda:%d (%s, sm_%d%d)", device, prop.name, prop.major,
                               prop.minor);
    }
    char dnn_why[200];
    ct_cuda_dnn_open(cb, dnn_why, sizeof dnn_why); /* convolutions by im2col without it */
    fill_table(cb, &prop, dnn_why);
    *out = &cb->base;
    return CT_OK;
}

/* Appends to buf (always NUL-terminated when buf_bytes > 0). */
static void append(char *buf, size_t buf_bytes, size_t *used, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void append(char *buf, size_t buf_bytes, size_t *used, const char *fmt, ...) {
    if (!buf || buf_bytes == 0 || *used >= buf_bytes - 1) return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + *used, buf_bytes - *used, fmt, ap);
    va_end(ap);
    if (n > 0) *used = (size_t)n < buf_bytes - *used ? *used + (size_t)n : buf_bytes - 1;
}

extern "C" __attribute__((visibility("default"))) int ct_cuda_list_devices(char *buf,
                                                                          size_t buf_bytes) {
    if (buf && buf_bytes > 0) buf[0] = 0;
    int count = 0;
    cudaError_t why;
    if (count_devices(&count, &why) != CT_OK) return why == cudaErrorNoDevice ? 0 : -1;
    int driver = 0, runtime = 0;
    (void)cudaDriverGetVersion(&driver);
    (void)cudaRuntimeGetVersion(&runtime);
    char dv[16], rv[16];
    version_string(driver, dv, sizeof dv);
    version_string(runtime, rv, sizeof rv);
    size_t used = 0;
    for (int i = 0; i < count; i++) {
        cudaDeviceProp prop;
        cudaError_t e = cudaGetDeviceProperties(&prop, i);
        if (e != cudaSuccess) {
            (void)cudaGetLastError();
            append(buf, buf_bytes, &used, "cuda:%d  (cannot query: %s)\n", i,
                   cudaGetErrorString(e));
            continue;
        }
        append(buf, buf_bytes, &used,
               "cuda:%d  %s  %.1f GiB  compute %d.%d  driver %s  runtime %s\n", i, prop.name,
               prop.totalGlobalMem / CT_GIB, prop.major, prop.minor, dv, rv);
    }
    return count;
}

extern "C" __attribute__((visibility("default"))) size_t ct_cuda_backend_bytes(void) {
    return sizeof(ct_backend);
}

/* The exports must match the types the loader casts them to (backend.h). */
__attribute__((unused)) static const ct_cuda_open_fn ct_cuda_open_signature = ct_cuda_backend_open;
__attribute__((unused)) static const ct_cuda_list_fn ct_cuda_list_signature = ct_cuda_list_devices;
__attribute__((unused)) static const ct_cuda_table_fn ct_cuda_table_signature = ct_cuda_backend_bytes;
