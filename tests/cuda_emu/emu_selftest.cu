/*
 * emu_selftest.cu — the CUDA emulator checked on its own (test_cuda_emulator): kernels written
 * as for a GPU, rewritten by emu_rewrite.pl like the plugin's sources, run with the emulated
 * runtime. That barriers and shuffles meet, that a barrier inside divergent code is reported,
 * that work waits for the host to wait, that captures record and refuse unsafe calls, that the
 * host cannot touch device memory, that bad launches and copies fail as on a GPU, that a
 * cooperative launch's blocks meet at grid syncs, each with its own shared memory.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cooperative_groups.h>

#include "cuda_runtime.h"

static int failures = 0;
#define CHECK(cond, ...)                                                                       \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            printf("FAIL %s:%d: ", __FILE__, __LINE__);                                        \
            printf(__VA_ARGS__);                                                               \
            printf("\n");                                                                      \
            failures++;                                                                        \
        }                                                                                      \
    } while (0)
#define CUDA_OK(call) CHECK((call) == cudaSuccess, "%s", #call)

/* out[blockIdx.x] = sum of in over the block's part: warp shuffles, then shared memory */
__global__ void block_sum_kernel(const float *in, float *out, int n) {
    extern __shared__ float partial[];
    int t = threadIdx.x, i = blockIdx.x * blockDim.x + t;
    float v = i < n ? in[i] : 0.0f;
    for (int o = 16; o > 0; o /= 2) v += __shfl_xor_sync(0xffffffffu, v, o);
    if (t % 32 == 0) partial[t / 32] = v;
    __syncthreads();
    if (t == 0) {
        float s = 0.0f;
        for (int w = 0; w < (int)blockDim.x / 32; w++) s += partial[w];
        out[blockIdx.x] = s;
    }
}

__global__ void add_one_kernel(float *x, int n) {
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x)
        x[i] += 1.0f;
}

/* each block writes its part of buf, and (after the grid sync, when sync) reads the next
 * block's; out is 1e6 where a block's shared memory did not keep what the block wrote */
__global__ void rotate_kernel(float *buf, float *out, int sync) {
    extern __shared__ float sm[];
    const int t = threadIdx.x, b = blockIdx.x, per = blockDim.x;
    sm[t] = (float)(b * 1000 + t);
    buf[b * per + t] = (float)(b + 1);
    if (sync) cooperative_groups::this_grid().sync();
    __syncthreads();
    out[b * per + t] = buf[(b + 1) % gridDim.x * per + t] + (sm[t] == b * 1000 + t ? 0.0f : 1e6f);
}

/* half the threads return, the rest meet at a grid sync: undefined on a GPU */
__global__ void grid_sync_after_return_kernel(float *x) {
    if (threadIdx.x >= 32) return;
    cooperative_groups::this_grid().sync();
    x[threadIdx.x] = 1.0f;
}

/* lanes 0-15 shuffle, lanes 16-31 wait at the block barrier: they can never meet */
__global__ void divergent_kernel(float *x) {
    float v = x[threadIdx.x];
    if (threadIdx.x % 32 < 16) v = __shfl_xor_sync(0xffffffffu, v, 1);
    else __syncthreads();
    x[threadIdx.x] = v;
}

/* lanes 0-15 shuffle, lanes 16-31 wait at __syncwarp: they meet at different points */
__global__ void shuffle_vs_syncwarp_kernel(float *x) {
    float v = x[threadIdx.x];
    if (threadIdx.x % 32 < 16) v = __shfl_xor_sync(0xffffffffu, v, 16);
    else __syncwarp();
    x[threadIdx.x] = v;
}

/* a shuffle among half a warp's lanes: the emulator pairs full warps only */
__global__ void partial_mask_kernel(float *x) {
    if (threadIdx.x % 32 < 16) x[threadIdx.x] = __shfl_xor_sync(0x0000ffffu, x[threadIdx.x], 1);
}

/* lanes 16-31 return, lanes 0-15 shuffle over the full mask */
__global__ void exited_lanes_kernel(float *x) {
    if (threadIdx.x % 32 >= 16) return;
    x[threadIdx.x] = __shfl_xor_sync(0xffffffffu, x[threadIdx.x], 1);
}

/* the second warp returns before the block's barrier */
__global__ void early_return_kernel(float *x) {
    if (threadIdx.x >= 32) return;
    __syncthreads();
    x[threadIdx.x] = 1.0f;
}

/* reads static shared memory that no thread wrote */
__global__ void unwritten_shared_kernel(float *x) {
    __shared__ float never[64];
    __syncthreads();
    x[threadIdx.x] = never[threadIdx.x];
}

/* deep recursion on a fiber (a barrier first, so that it runs on one) */
__device__ float deep(int n) {
    volatile char pad[4096];
    pad[0] = (char)n;
    return n == 0 ? 0.0f : deep(n - 1) + pad[0];
}
__global__ void overflow_kernel(float *x) {
    __syncthreads();
    x[threadIdx.x] = deep(1 << 20);
}

__global__ void copy_kernel(const float *src, float *dst, int n) {
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x)
        dst[i] = src[i];
}

/* Runs f in a child process; returns its stderr and whether it was killed by a signal. */
template <class F>
static bool dies(F f, char *err, size_t bytes) {
    int fd[2];
    if (pipe(fd) != 0) return false;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fd[1], 2);
        close(fd[0]);
        f();
        _exit(0);
    }
    close(fd[1]);
    size_t used = 0;
    ssize_t k;
    while (used + 1 < bytes && (k = read(fd[0], err + used, bytes - 1 - used)) > 0) used += (size_t)k;
    err[used] = 0;
    close(fd[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFSIGNALED(status) || (WIFEXITED(status) && WEXITSTATUS(status) != 0);
}

int main(void) {
    cudaStream_t s;
    CUDA_OK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    const int n = 1000, threads = 256, blocks = (n + threads - 1) / threads;
    float *host = NULL, *pinned = NULL, *d_in = NULL, *d_out = NULL;
    host = (float *)malloc(n * sizeof(float));
    CUDA_OK(cudaHostAlloc((void **)&pinned, n * sizeof(float), cudaHostAllocPortable));
    CUDA_OK(cudaMalloc((void **)&d_in, n * sizeof(float)));
    CUDA_OK(cudaMalloc((void **)&d_out, blocks * sizeof(float)));

    /* new device memory reads as NaN */
    CUDA_OK(cudaMemcpyAsync(host, d_in, sizeof(float), cudaMemcpyDeviceToHost, s));
    CHECK(isnan(host[0]), "uninitialised device memory reads %g, not NaN", host[0]);

    /* shuffles and barriers meet; twice (the second launch must still use fibers) */
    for (int i = 0; i < n; i++) host[i] = (float)(i % 7);
    CUDA_OK(cudaMemcpyAsync(d_in, host, n * sizeof(float), cudaMemcpyHostToDevice, s));
    for (int round = 0; round < 2; round++) {
        block_sum_kernel<<<blocks, threads, threads / 32 * sizeof(float), s>>>(d_in, d_out, n);
        CUDA_OK(cudaGetLastError());
        float sums[4];
        CUDA_OK(cudaMemcpyAsync(sums, d_out, sizeof sums, cudaMemcpyDeviceToHost, s));
        for (int b = 0; b < blocks; b++) {
            double want = 0;
            for (int i = b * threads; i < n && i < (b + 1) * threads; i++) want += i % 7;
            CHECK(sums[b] == (float)want, "round %d block %d: sum %g, want %g", round, b,
                  sums[b], want);
        }
    }

    /* work waits until the host waits: a copy into pinned memory lands at the synchronisation */
    for (int i = 0; i < n; i++) pinned[i] = -1.0f;
    add_one_kernel<<<2, 128, 0, s>>>(d_in, n);
    CUDA_OK(cudaMemcpyAsync(pinned, d_in, n * sizeof(float), cudaMemcpyDeviceToHost, s));
    CHECK(pinned[0] == -1.0f, "a copy into pinned memory ran before the host waited");
    CUDA_OK(cudaStreamSynchronize(s));
    CHECK(pinned[0] == 1.0f && pinned[n - 1] == (float)((n - 1) % 7) + 1,
          "after the synchronisation: %g, %g", pinned[0], pinned[n - 1]);

    /* a copy from pageable memory reads it at once; from pinned memory, when it runs */
    host[0] = 10.0f;
    pinned[1] = 20.0f;
    CUDA_OK(cudaMemcpyAsync(d_in, host, sizeof(float), cudaMemcpyHostToDevice, s));
    CUDA_OK(cudaMemcpyAsync(d_in + 1, pinned + 1, sizeof(float), cudaMemcpyHostToDevice, s));
    host[0] = 11.0f;
    pinned[1] = 21.0f;
    float two[2];
    CUDA_OK(cudaMemcpyAsync(two, d_in, sizeof two, cudaMemcpyDeviceToHost, s));
    CHECK(two[0] == 10.0f && two[1] == 21.0f, "staged/pinned copies gave %g, %g", two[0], two[1]);

    /* a capture records without running; its graph replays; an allocation breaks a capture */
    CUDA_OK(cudaMemsetAsync(d_in, 0, n * sizeof(float), s));
    CUDA_OK(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal));
    add_one_kernel<<<2, 128, 0, s>>>(d_in, n);
    cudaGraph_t g = NULL;
    cudaGraphExec_t x = NULL;
    CUDA_OK(cudaStreamEndCapture(s, &g));
    CUDA_OK(cudaGraphInstantiate(&x, g, 0));
    CUDA_OK(cudaGraphDestroy(g));
    for (int k = 0; k < 3; k++) CUDA_OK(cudaGraphLaunch(x, s));
    CUDA_OK(cudaMemcpyAsync(two, d_in, sizeof two, cudaMemcpyDeviceToHost, s));
    CHECK(two[0] == 3.0f, "three replays of a recorded +1 gave %g", two[0]);
    CUDA_OK(cudaGraphExecDestroy(x));
    CUDA_OK(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal));
    void *p = NULL;
    CHECK(cudaMalloc(&p, 16) == cudaErrorStreamCaptureUnsupported, "cudaMalloc while capturing");
    CHECK(cudaStreamSynchronize(s) == cudaErrorStreamCaptureUnsupported, "a sync while capturing");
    CHECK(cudaStreamEndCapture(s, &g) == cudaErrorStreamCaptureInvalidated && g == NULL,
          "a capture with unsafe calls in it ends invalidated");
    (void)cudaGetLastError();

    /* streams run as late as they may: a kernel that does not wait for another stream's copy
     * reads what was there before; with cudaStreamWaitEvent it reads the copy */
    cudaStream_t copy;
    cudaEvent_t copied;
    CUDA_OK(cudaStreamCreateWithFlags(&copy, cudaStreamNonBlocking));
    CUDA_OK(cudaEventCreateWithFlags(&copied, cudaEventDisableTiming));
    CUDA_OK(cudaMemsetAsync(d_in, 0, n * sizeof(float), s));
    CUDA_OK(cudaStreamSynchronize(s));
    for (int i = 0; i < n; i++) pinned[i] = 5.0f;
    CUDA_OK(cudaMemcpyAsync(d_in, pinned, n * sizeof(float), cudaMemcpyHostToDevice, copy));
    copy_kernel<<<2, 128, 0, s>>>(d_in, d_out, blocks);
    CUDA_OK(cudaMemcpyAsync(two, d_out, sizeof two, cudaMemcpyDeviceToHost, s));
    CHECK(two[0] == 0.0f, "a kernel that did not wait for the other stream's copy read %g", two[0]);
    CUDA_OK(cudaEventRecord(copied, copy));
    CUDA_OK(cudaStreamWaitEvent(s, copied, 0));
    copy_kernel<<<2, 128, 0, s>>>(d_in, d_out, blocks);
    CUDA_OK(cudaMemcpyAsync(two, d_out, sizeof two, cudaMemcpyDeviceToHost, s));
    CHECK(two[0] == 5.0f, "a kernel that waited for the copy's event read %g", two[0]);
    CUDA_OK(cudaEventDestroy(copied));
    CUDA_OK(cudaStreamDestroy(copy));

    /* static shared memory no thread wrote reads NaN */
    unwritten_shared_kernel<<<1, 64, 0, s>>>(d_in);
    CUDA_OK(cudaMemcpyAsync(two, d_in, sizeof two, cudaMemcpyDeviceToHost, s));
    CHECK(isnan(two[0]) && isnan(two[1]), "unwritten static shared memory read %g, %g", two[0],
          two[1]);

    /* a cooperative launch: two blocks meet at the grid sync, each with its shared memory;
     * without the sync the first block runs to its end before the second starts, and reads
     * what the second has not written yet */
    int attr = 0, per_sm = 0;
    CUDA_OK(cudaDeviceGetAttribute(&attr, cudaDevAttrCooperativeLaunch, 0));
    CHECK(attr == 1, "cudaDevAttrCooperativeLaunch %d", attr);
    CUDA_OK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, rotate_kernel, 64, 256));
    CHECK(per_sm == 1, "%d blocks per multiprocessor", per_sm);
    float *d_rot = NULL;
    CUDA_OK(cudaMalloc((void **)&d_rot, 128 * sizeof(float)));
    for (int sync = 1; sync >= 0; sync--) {
        float rot[128];
        CUDA_OK(cudaMemsetAsync(d_in, 0, 128 * sizeof(float), s));
        void *args[] = {&d_in, &d_rot, &sync};
        CUDA_OK(cudaLaunchCooperativeKernel(rotate_kernel, dim3(2), dim3(64), args,
                                            64 * sizeof(float), s));
        CUDA_OK(cudaMemcpyAsync(rot, d_rot, sizeof rot, cudaMemcpyDeviceToHost, s));
        if (sync)
            CHECK(rot[0] == 2.0f && rot[63] == 2.0f && rot[64] == 1.0f && rot[127] == 1.0f,
                  "after a grid sync the blocks read %g %g %g %g, not 2 2 1 1", rot[0], rot[63],
                  rot[64], rot[127]);
        else
            CHECK(rot[0] == 0.0f && rot[64] == 1.0f, "without the grid sync block 0 read %g (the "
                  "other block's part before it was written: 0), block 1 %g", rot[0], rot[64]);
    }
    {
        int one = 1;
        void *args[] = {&d_in, &d_rot, &one};
        CHECK(cudaLaunchCooperativeKernel(rotate_kernel, dim3(3), dim3(64), args, 256, s) ==
                  cudaErrorCooperativeLaunchTooLarge, "3 blocks on 2 multiprocessors");
    }
    CUDA_OK(cudaFree(d_rot));

    /* bad launches and copies fail as on a GPU */
    add_one_kernel<<<1, 2048, 0, s>>>(d_in, n);
    CHECK(cudaGetLastError() == cudaErrorInvalidConfiguration, "2048 threads per block");
    CHECK(cudaGetLastError() == cudaSuccess, "cudaGetLastError clears the error");
    block_sum_kernel<<<1, 256, 64 * 1024, s>>>(d_in, d_out, n);
    CHECK(cudaGetLastError() == cudaErrorInvalidValue, "64 KiB of shared memory");
    CHECK(cudaMemcpyAsync(host, d_out, (blocks + 1) * sizeof(float), cudaMemcpyDeviceToHost, s) ==
              cudaErrorInvalidValue, "a copy past the end of an allocation");
    CHECK(cudaMemsetAsync(host, 0, 4, s) == cudaErrorInvalidValue, "a memset of host memory");
    (void)cudaGetLastError();

    /* what a GPU would hang or fault on stops the program with a message */
    char err[4096];
    bool died = dies([&]() {
        float *d = NULL;
        cudaMalloc((void **)&d, n * sizeof(float));
        divergent_kernel<<<1, 64, 0, s>>>(d);
        cudaStreamSynchronize(s);
    }, err, sizeof err);
    CHECK(died && strstr(err, "wait at barriers that the others never reach"),
          "a shuffle and a barrier in divergent code: died %d, stderr: %s", died, err);
    struct {
        const char *what, *message;
        void (*kernel)(float *);
    } undefined[] = {
        {"a full-mask shuffle with exited lanes", "lanes have returned", exited_lanes_kernel},
        {"lanes at a shuffle and at __syncwarp", "lanes meet at different shuffles or __syncwarp",
         shuffle_vs_syncwarp_kernel},
        {"a shuffle with a partial mask", "the emulator takes full-warp ones only",
         partial_mask_kernel},
        {"a barrier after some threads returned", "__syncthreads reached by", early_return_kernel},
#if !defined(__SANITIZE_ADDRESS__)
        {"a stack overflow", "overflowed its stack", overflow_kernel},
#endif
    };
    for (auto &u : undefined) {
        died = dies([&]() {
            u.kernel<<<1, 64, 0, s>>>(d_in);
            cudaStreamSynchronize(s);
        }, err, sizeof err);
        CHECK(died && strstr(err, u.message), "%s: died %d, stderr: %s", u.what, died, err);
    }
    died = dies([&]() {
        void *args[] = {&d_in};
        cudaLaunchCooperativeKernel(grid_sync_after_return_kernel, dim3(2), dim3(64), args, 0, s);
        cudaStreamSynchronize(s);
    }, err, sizeof err);
    CHECK(died && strstr(err, "a grid sync reached by"),
          "a grid sync after some threads returned: died %d, stderr: %s", died, err);
    died = dies([&]() {
        int one = 1;
        rotate_kernel<<<1, 64, 256, s>>>(d_in, d_in + 500, one);
        cudaStreamSynchronize(s);
    }, err, sizeof err);
    CHECK(died && strstr(err, "not launched with cudaLaunchCooperativeKernel"),
          "a grid sync in a plain launch: died %d, stderr: %s", died, err);
    died = dies([&]() {
        copy_kernel<<<1, 32, 0, s>>>(host, d_in, 1); /* a host pointer to a kernel */
    }, err, sizeof err);
    CHECK(died && strstr(err, "argument 0 is"), "a host pointer to a kernel: died %d, stderr: %s",
          died, err);
    died = dies([&]() {
        volatile float *d = d_in;
        d[0] = 1.0f; /* the host writing device memory */
    }, err, sizeof err);
#if defined(__SANITIZE_ADDRESS__)
    CHECK(died, "the host wrote device memory and lived");
#else
    CHECK(died && strstr(err, "the host touched device memory"),
          "the host wrote device memory: died %d, stderr: %s", died, err);
#endif

    CUDA_OK(cudaFree(d_in));
    CUDA_OK(cudaFree(d_out));
    CUDA_OK(cudaFreeHost(pinned));
    CHECK(cudaFree(d_in) == cudaErrorInvalidValue, "a second cudaFree of the same pointer");
    CUDA_OK(cudaStreamDestroy(s));
    free(host);
    if (failures) {
        printf("test_cuda_emulator: %d check(s) failed\n", failures);
        return 1;
    }
    printf("test_cuda_emulator: all checks passed\n");
    return 0;
}
