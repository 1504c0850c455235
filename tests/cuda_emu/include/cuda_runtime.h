/*
 * cuda_runtime.h — the CUDA emulator's stand-in for the CUDA runtime (tests/cuda_emu).
 *
 * The CUDA plugin's sources (the .cu files of src/backend/cuda) are compiled by the host C++ compiler
 * against this header instead of the toolkit's, after one textual rewrite (emu_rewrite.pl:
 * `k<<<grid, block, smem, stream>>>(args)` becomes `ct_emu_launcher(k, grid, block, smem,
 * stream)(args)`). The result, libctrain_cuda_emu.so, is a CUDA backend that runs on the CPU:
 * every kernel's every thread runs (as a fiber where it meets barriers or warp shuffles), work
 * is queued per stream and runs at the points where a GPU's would be waited for, graphs are
 * recorded and replayed, cuBLAS's sgemm is OpenBLAS's. It checks the backend's logic, indexing
 * and launch configurations without a GPU; it says nothing of a GPU's speed, and races between
 * threads that a GPU would show are not reproduced.
 *
 * Only what the plugin uses is here: warp shuffles and __syncwarp over the full warp only (a
 * partial mask or width stops the program with a message).
 */
#ifndef CT_EMU_CUDA_RUNTIME_H
#define CT_EMU_CUDA_RUNTIME_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <functional>
#include <tuple>
#include <type_traits>
#include <utility>

/* ------------------------------------------------------------------------------------------ */
/* the language                                                                                */

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __shared__ static /* blocks run one after another: one copy per kernel is enough */
#define __launch_bounds__(...)

struct uint3 {
    unsigned x, y, z;
};
struct dim3 {
    unsigned x, y, z;
    dim3(unsigned a = 1, unsigned b = 1, unsigned c = 1) : x(a), y(b), z(c) {}
};
extern uint3 threadIdx, blockIdx; /* plain globals: queued work runs under one lock */
extern dim3 blockDim, gridDim;

void ct_emu_syncthreads(void);
/* (mask, width: the emulator takes full-warp ones only, and stops at others) */
void ct_emu_syncwarp(unsigned mask);
void *ct_emu_dynamic_smem(void);
/* Static shared memory p: filled with 0xff by the first thread of each block to get here. */
void ct_emu_static_smem(void *p, size_t bytes);
uint64_t ct_emu_shfl_xor(uint64_t bits, int lane_mask, unsigned mask, int width);
#define __syncthreads() ct_emu_syncthreads()
static inline void __syncwarp(unsigned mask = 0xffffffffu) { ct_emu_syncwarp(mask); }

/* Every lane of the warp exchanges v (lanes meet: a fiber switch). */
template <class T>
static inline T __shfl_xor_sync(unsigned mask, T v, int lane_mask, int width = 32) {
    static_assert(sizeof(T) <= 8 && std::is_trivially_copyable<T>::value, "shuffle of T");
    uint64_t bits = 0;
    memcpy(&bits, &v, sizeof v);
    bits = ct_emu_shfl_xor(bits, lane_mask, mask, width);
    T r;
    memcpy(&r, &bits, sizeof r);
    return r;
}

/* One thread runs at a time: atomics are plain read-modify-writes. */
template <class T>
static inline T atomicAdd(T *p, T v) {
    T old = *p;
    *p = old + v;
    return old;
}
static inline unsigned __umulhi(unsigned a, unsigned b) {
    return (unsigned)(((uint64_t)a * b) >> 32);
}
/* Round-to-nearest products and differences, never contracted into an FMA: the emulator is
 * compiled with -ffp-contract=fast (as nvcc contracts a*b+c), and a volatile result is the
 * one way to keep the compiler from fusing these with what is around them. */
static inline float __fmul_rn(float a, float b) { volatile float r = a * b; return r; }
static inline float __fsub_rn(float a, float b) { volatile float r = a - b; return r; }
static inline float __fadd_rn(float a, float b) { volatile float r = a + b; return r; }
static inline float __fdiv_rn(float a, float b) { volatile float r = a / b; return r; }
static inline double __dmul_rn(double a, double b) { volatile double r = a * b; return r; }
static inline double __dadd_rn(double a, double b) { volatile double r = a + b; return r; }

/* ------------------------------------------------------------------------------------------ */
/* the runtime API                                                                             */

typedef enum cudaError {
    cudaSuccess = 0,
    cudaErrorInvalidValue = 1,
    cudaErrorMemoryAllocation = 2,
    cudaErrorInitializationError = 3,
    cudaErrorInvalidConfiguration = 9,
    cudaErrorStubLibrary = 34,
    cudaErrorInsufficientDriver = 35,
    cudaErrorDevicesUnavailable = 46,
    cudaErrorInvalidDeviceFunction = 98,
    cudaErrorNoDevice = 100,
    cudaErrorInvalidDevice = 101,
    cudaErrorNoKernelImageForDevice = 209,
    cudaErrorNotReady = 600,
    cudaErrorUnsupportedPtxVersion = 222,
    cudaErrorInvalidResourceHandle = 400,
    cudaErrorIllegalAddress = 700,
    cudaErrorLaunchOutOfResources = 701,
    cudaErrorIllegalInstruction = 715,
    cudaErrorMisalignedAddress = 716,
    cudaErrorLaunchFailure = 719,
    cudaErrorCooperativeLaunchTooLarge = 720,
    cudaErrorNotSupported = 801,
    cudaErrorStreamCaptureUnsupported = 900,
    cudaErrorStreamCaptureInvalidated = 901,
    cudaErrorStreamCaptureWrongThread = 908,
} cudaError_t;

typedef enum {
    cudaMemcpyHostToHost = 0,
    cudaMemcpyHostToDevice = 1,
    cudaMemcpyDeviceToHost = 2,
    cudaMemcpyDeviceToDevice = 3,
    cudaMemcpyDefault = 4,
} cudaMemcpyKind;

typedef enum {
    cudaStreamCaptureModeGlobal = 0,
    cudaStreamCaptureModeThreadLocal = 1,
    cudaStreamCaptureModeRelaxed = 2,
} cudaStreamCaptureMode;

#define cudaStreamNonBlocking 0x01
#define cudaEventDisableTiming 0x02
#define cudaHostAllocPortable 0x01

typedef enum {
    cudaDevAttrMultiProcessorCount = 16,
    cudaDevAttrCooperativeLaunch = 95,
} cudaDeviceAttr;

typedef struct ct_emu_stream *cudaStream_t;
typedef struct ct_emu_event *cudaEvent_t;
typedef struct ct_emu_graph *cudaGraph_t;
typedef struct ct_emu_graph *cudaGraphExec_t;

typedef struct {
    char name[256];
    size_t totalGlobalMem;
    int major, minor;
    int multiProcessorCount;
} cudaDeviceProp;

typedef struct {
    size_t sharedSizeBytes;
    int maxThreadsPerBlock;
} cudaFuncAttributes;

cudaError_t cudaGetLastError(void);
const char *cudaGetErrorName(cudaError_t e);
const char *cudaGetErrorString(cudaError_t e);
cudaError_t cudaGetDeviceCount(int *count);
cudaError_t cudaSetDevice(int device);
cudaError_t cudaGetDeviceProperties(cudaDeviceProp *prop, int device);
/* cudaDevAttrMultiProcessorCount (2) and cudaDevAttrCooperativeLaunch (1) */
cudaError_t cudaDeviceGetAttribute(int *value, cudaDeviceAttr attr, int device);
cudaError_t cudaDriverGetVersion(int *v);
cudaError_t cudaRuntimeGetVersion(int *v);
cudaError_t cudaMalloc(void **p, size_t bytes);
cudaError_t cudaFree(void *p);
cudaError_t cudaHostAlloc(void **p, size_t bytes, unsigned flags);
cudaError_t cudaFreeHost(void *p);
cudaError_t cudaMemGetInfo(size_t *free_bytes, size_t *total_bytes);
cudaError_t cudaMemsetAsync(void *p, int value, size_t bytes, cudaStream_t s);
cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind,
                            cudaStream_t s);
cudaError_t cudaStreamCreateWithFlags(cudaStream_t *s, unsigned flags);
cudaError_t cudaStreamDestroy(cudaStream_t s);
cudaError_t cudaStreamSynchronize(cudaStream_t s);
cudaError_t cudaStreamWaitEvent(cudaStream_t s, cudaEvent_t e, unsigned flags);
cudaError_t cudaEventCreateWithFlags(cudaEvent_t *e, unsigned flags);
cudaError_t cudaEventDestroy(cudaEvent_t e);
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s);
cudaError_t cudaEventSynchronize(cudaEvent_t e);
cudaError_t cudaEventQuery(cudaEvent_t e);
cudaError_t cudaStreamBeginCapture(cudaStream_t s, cudaStreamCaptureMode mode);
cudaError_t cudaStreamEndCapture(cudaStream_t s, cudaGraph_t *g);
cudaError_t cudaGraphInstantiate(cudaGraphExec_t *x, cudaGraph_t g, unsigned long long flags);
cudaError_t cudaGraphDestroy(cudaGraph_t g);
cudaError_t cudaGraphExecDestroy(cudaGraphExec_t x);
cudaError_t cudaGraphLaunch(cudaGraphExec_t x, cudaStream_t s);

template <class F>
static inline cudaError_t cudaFuncGetAttributes(cudaFuncAttributes *a, F *kernel) {
    (void)kernel;
    a->sharedSizeBytes = 0;
    a->maxThreadsPerBlock = 1024;
    return cudaSuccess;
}

/* ------------------------------------------------------------------------------------------ */
/* kernel launches                                                                             */

typedef struct {
    dim3 grid, block;
    size_t smem;
    cudaStream_t stream;
} ct_emu_config;

/* The emulated GPU's multiprocessors: few, so that grids are small and the kernels' grid-stride
 * loops do the rest; a cooperative kernel may have one block on each. */
#define CT_EMU_SM_COUNT 2

/* Checks the configuration as a GPU would (an error for cudaGetLastError, nothing queued), then
 * queues body on the stream (or the graph it is recording); body runs the kernel in one
 * thread. key identifies the kernel (whether its threads need fibers is learnt per kernel). */
void ct_emu_launch(const void *key, const ct_emu_config &c, std::function<void()> body);

/* A kernel's pointer argument must be NULL, device memory or pinned memory (which a GPU can
 * reach): anything else stops the run, naming the argument (index from 0). */
void ct_emu_check_pointer(const void *p, int index);
template <class T>
static inline void ct_emu_check_arg(const T &v, int index) {
    if constexpr (std::is_pointer<T>::value) ct_emu_check_pointer((const void *)v, index);
}

template <class... P>
struct ct_emu_kernel {
    void (*f)(P...);
    ct_emu_config c;
    /* The arguments are converted to the parameters' types and copied now, as a launch does;
     * each thread gets its own copy of them, as on a GPU. */
    void operator()(P... a) const {
        int index = 0;
        (ct_emu_check_arg(a, index++), ...);
        std::tuple<typename std::decay<P>::type...> args(a...);
        void (*fn)(P...) = f;
        ct_emu_launch((const void *)fn, c, [fn, args]() { std::apply(fn, args); });
    }
};

/* A cooperative launch: every block's threads run at once as fibers, so that grid syncs
 * (cooperative_groups.h) meet; its grid may have at most the emulated GPU's CT_EMU_SM_COUNT
 * multiprocessors times 1 block (cudaOccupancyMaxActiveBlocksPerMultiprocessor), else
 * cudaErrorCooperativeLaunchTooLarge, as on a GPU. */
cudaError_t ct_emu_launch_cooperative(const void *key, const ct_emu_config &c,
                                      std::function<void()> body);
void ct_emu_grid_sync(void);

template <class... P, size_t... I>
static inline std::tuple<typename std::decay<P>::type...>
ct_emu_args_of(void **args, std::index_sequence<I...>) {
    return std::tuple<typename std::decay<P>::type...>(
        *(typename std::decay<P>::type *)args[I]...);
}

template <class... P>
static inline cudaError_t cudaLaunchCooperativeKernel(void (*f)(P...), dim3 grid, dim3 block,
                                                      void **args, size_t smem = 0,
                                                      cudaStream_t s = nullptr) {
    auto tuple = ct_emu_args_of<P...>(args, std::index_sequence_for<P...>{});
    int index = 0;
    std::apply([&index](const auto &...a) { (ct_emu_check_arg(a, index++), ...); }, tuple);
    void (*fn)(P...) = f;
    return ct_emu_launch_cooperative((const void *)fn, ct_emu_config{grid, block, smem, s},
                                     [fn, tuple]() { std::apply(fn, tuple); });
}

/* One block of a cooperative kernel per emulated multiprocessor (any block size up to 1024,
 * dynamic shared memory up to 48 KiB). */
template <class F>
static inline cudaError_t cudaOccupancyMaxActiveBlocksPerMultiprocessor(int *blocks, F *kernel,
                                                                        int block_size,
                                                                        size_t smem) {
    (void)kernel;
    *blocks = block_size >= 1 && block_size <= 1024 && smem <= 48 * 1024 ? 1 : 0;
    return cudaSuccess;
}

template <class... P>
static inline ct_emu_kernel<P...> ct_emu_launcher(void (*f)(P...), dim3 grid, dim3 block,
                                                  size_t smem = 0, cudaStream_t s = nullptr) {
    return ct_emu_kernel<P...>{f, ct_emu_config{grid, block, smem, s}};
}

#endif /* CT_EMU_CUDA_RUNTIME_H */
