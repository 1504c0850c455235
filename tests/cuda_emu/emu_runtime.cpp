/*
 * emu_runtime.cpp — the CUDA emulator's runtime and cuBLAS: device memory, pinned memory,
 * streams, events, graphs and sgemm, with the checks a GPU's runtime makes.
 *
 * - Device memory is one arena that the host cannot touch: it is mapped PROT_NONE except while
 *   queued work runs, so host code that dereferences a device pointer faults at once (and is
 *   named). New device (under 16 MiB) and pinned memory reads as NaN (0xff bytes), as
 *   uninitialised memory may. Copies and memsets must stay inside one allocation. Under
 *   AddressSanitizer the gaps between allocations are poisoned, so a kernel reading past its
 *   buffer is reported.
 * - Each stream queues its work and runs it as late as it may: when the host waits for it (a
 *   stream or event synchronisation, a copy to pageable memory, cudaFree) or when a stream that
 *   waits for one of its events (cudaStreamWaitEvent) gets to the wait, and then only as far as
 *   that event. So a kernel that reads what another stream copies without waiting for it reads
 *   stale data, and a copy that may overwrite a buffer still in use does, as on a GPU at its
 *   worst. CTRAIN_CUDA_EMU_EAGER=N makes the N-th stream created run its work as soon as it is
 *   issued instead (the plugin's first is its compute stream, its second the copy stream): then
 *   a consumer that does not wait for a lazy producer reads what was there before. A copy from
 *   pinned memory reads it when it runs (as DMA would); a copy from pageable memory reads it at
 *   once (as CUDA stages it).
 * - Capture (cudaStreamBeginCapture) records what is queued on the stream into a graph; the
 *   capturing thread's unsafe calls (allocation, synchronisation, copies to or from pageable
 *   memory) fail with cudaErrorStreamCaptureUnsupported and invalidate the capture.
 * - CTRAIN_CUDA_EMU_DEVICES devices (default 1), "ctrain CUDA emulator", sm_90, sharing one
 *   arena of CTRAIN_CUDA_EMU_MEM_MIB MiB (default 4096).
 */
#include "cublas_v2.h"
#include "emu_internal.h"

#include <cblas.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define EMU_POISON(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#define EMU_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define EMU_POISON(p, n) ((void)(p), (void)(n))
#define EMU_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

struct ct_emu_graph {
    std::vector<std::function<void()>> ops;
};
struct ct_emu_stream {
    std::deque<std::function<void()>> queue; /* issued, not yet run */
    uint64_t issued = 0;                     /* operations issued so far */
    std::atomic<uint64_t> done{0};           /* and run (read without the lock: cudaEventQuery) */
    bool running = false;                    /* inside run_until (a cycle of waits is a bug) */
    bool eager = false;                      /* runs its work when issued (CTRAIN_CUDA_EMU_EAGER) */
    ct_emu_graph *capture = nullptr;         /* recording into this graph */
    std::thread::id owner;                   /* the thread that began the capture */
    bool invalidated = false;
};
struct ct_emu_event {
    ct_emu_stream *stream = nullptr; /* complete once stream->done >= seq (never recorded: now) */
    uint64_t seq = 0;
};
struct ct_emu_cublas {
    cudaStream_t stream = nullptr;
};

namespace {

const size_t kAlign = 256;   /* cudaMalloc's alignment; also the gap after each allocation */
/* Allocations this large are not filled with NaN: untouched pages keep the arena's mprotect
 * calls cheap (cuBLAS's 32 MiB workspace), and a buffer this size is written before use. */
const size_t kFillLimit = (size_t)16 << 20;
std::recursive_mutex g_mu;   /* every call; queued work runs under it */
thread_local cudaError_t t_last = cudaSuccess;

/* ---- device memory: an arena with first-fit allocation ------------------------------------ */
char *g_arena = nullptr;
size_t g_arena_bytes = 0, g_high = 0, g_used = 0;
std::map<size_t, size_t> g_free;  /* offset -> bytes */
std::map<size_t, size_t> g_alloc; /* offset -> bytes asked for (the block is that, rounded,
                                   * plus a gap of kAlign) */
std::map<uintptr_t, size_t> g_pinned; /* cudaHostAlloc'd ranges */
int g_open = 0;                       /* device memory accessible (nesting depth) */

size_t round_up(size_t n) { return (n + kAlign - 1) / kAlign * kAlign; }
/* The arena is opened and closed in whole 2 MiB pages: with transparent huge pages (asked for
 * below) an mprotect then changes one entry per 2 MiB instead of 512. */
size_t page_round(size_t n) {
    const size_t p = (size_t)2 << 20;
    return (n + p - 1) / p * p;
}

void open_memory() {
    if (g_open++ == 0 && g_high > 0) mprotect(g_arena, page_round(g_high), PROT_READ | PROT_WRITE);
}
void close_memory() {
    if (--g_open == 0 && g_high > 0) mprotect(g_arena, page_round(g_high), PROT_NONE);
}

#if !defined(__SANITIZE_ADDRESS__) /* AddressSanitizer reports faults itself */
struct sigaction g_old_segv;
void on_segv(int sig, siginfo_t *info, void *uctx) {
    char *a = (char *)info->si_addr;
    if (g_arena && a >= g_arena && a < g_arena + g_arena_bytes) {
        size_t off = (size_t)(a - g_arena);
        auto it = g_alloc.upper_bound(off);
        if (it != g_alloc.begin() && off < std::prev(it)->first + std::prev(it)->second)
            ct_emu_fatal("the host touched device memory at %p (byte %zu of an allocation of %zu "
                         "bytes): device memory is reached through d2h/h2d", (void *)a,
                         off - std::prev(it)->first, std::prev(it)->second);
        ct_emu_fatal("the host touched device memory at %p, in no live allocation (freed, or "
                     "past the end of one)", (void *)a);
    }
    if (ct_emu_in_stack_guard(a))
        ct_emu_fatal("a kernel thread overflowed its stack of %zu KiB (a fiber's)",
                     ct_emu_stack_bytes() >> 10);
    sigaction(SIGSEGV, &g_old_segv, nullptr); /* not ours: fault again, the old way */
    (void)sig;
    (void)uctx;
}
#endif

bool arena_init() {
    if (g_arena) return true;
    const char *env = getenv("CTRAIN_CUDA_EMU_MEM_MIB");
    size_t mib = env && atol(env) > 0 ? (size_t)atol(env) : 4096;
    g_arena_bytes = mib << 20;
    const size_t huge = (size_t)2 << 20;
    void *m = mmap(nullptr, g_arena_bytes + huge, PROT_NONE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED) return false;
    char *p = (char *)(((uintptr_t)m + huge - 1) & ~(uintptr_t)(huge - 1)); /* 2 MiB aligned */
    madvise(p, g_arena_bytes, MADV_HUGEPAGE); /* (only a hint) */
    g_arena = p;
    g_free[0] = g_arena_bytes;
    EMU_POISON(g_arena, g_arena_bytes);
#if !defined(__SANITIZE_ADDRESS__)
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK; /* a fiber's overflowed stack cannot run it */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &g_old_segv);
#endif
    return true;
}

void *arena_alloc(size_t bytes) {
    size_t need = round_up(bytes ? bytes : 1) + kAlign;
    for (auto it = g_free.begin(); it != g_free.end(); ++it) {
        if (it->second < need) continue;
        size_t off = it->first, rest = it->second - need;
        g_free.erase(it);
        if (rest) g_free[off + need] = rest;
        g_alloc[off] = bytes;
        g_used += need - kAlign;
        if (off + need > g_high) g_high = off + need;
        char *p = g_arena + off;
        EMU_UNPOISON(p, bytes);
        if (bytes < kFillLimit) { /* uninitialised: NaN as floats */
            open_memory();
            memset(p, 0xff, bytes);
            close_memory();
        }
        return p;
    }
    return nullptr;
}

bool arena_free(void *ptr) {
    char *c = (char *)ptr;
    if (!g_arena || c < g_arena || c >= g_arena + g_arena_bytes) return false;
    auto it = g_alloc.find((size_t)(c - g_arena));
    if (it == g_alloc.end()) return false;
    size_t off = it->first, bytes = round_up(it->second ? it->second : 1) + kAlign;
    EMU_POISON(g_arena + off, bytes);
    g_used -= bytes - kAlign;
    g_alloc.erase(it);
    auto next = g_free.lower_bound(off);
    if (next != g_free.end() && next->first == off + bytes) { /* merge with the block after */
        bytes += next->second;
        g_free.erase(next);
    }
    auto prev = g_free.lower_bound(off);
    if (prev != g_free.begin() && (--prev)->first + prev->second == off) {
        prev->second += bytes;
    } else {
        g_free[off] = bytes;
    }
    return true;
}

/* Is [p, p + bytes) inside one device allocation? */
bool in_device(const void *p, size_t bytes) {
    const char *c = (const char *)p;
    if (!g_arena || c < g_arena || c >= g_arena + g_arena_bytes) return false;
    auto it = g_alloc.upper_bound((size_t)(c - g_arena));
    if (it == g_alloc.begin()) return false;
    --it;
    return (size_t)(c - g_arena) + bytes <= it->first + it->second;
}

bool is_pinned(const void *p, size_t bytes) {
    auto it = g_pinned.upper_bound((uintptr_t)p);
    if (it == g_pinned.begin()) return false;
    --it;
    return (uintptr_t)p + bytes <= it->first + it->second;
}

/* ---- streams: one queue each, run as late as the host or another stream makes them ---------- */
ct_emu_stream g_legacy;                   /* stream 0 */
std::vector<ct_emu_stream *> g_streams = {&g_legacy};
/* destroyed streams (all their work run), kept for good: never freed, not even at exit */
std::vector<ct_emu_stream *> &g_retired = *new std::vector<ct_emu_stream *>;

ct_emu_stream *stream_of(cudaStream_t s) { return s ? s : &g_legacy; }
void run_until(ct_emu_stream *st, uint64_t seq);

void enqueue(cudaStream_t s, std::function<void()> op) {
    ct_emu_stream *st = stream_of(s);
    if (st->capture) {
        st->capture->ops.push_back(std::move(op));
        return;
    }
    st->queue.push_back(std::move(op));
    st->issued++;
    if (st->eager) run_until(st, st->issued);
}

/* Runs st's operations until `seq` of them have run (a wait for another stream's event runs
 * that stream as far as the event, and no further). */
void run_until(ct_emu_stream *st, uint64_t seq) {
    if (st->done >= seq) return;
    if (st->running) ct_emu_fatal("streams wait for each other's events in a cycle");
    st->running = true;
    open_memory();
    while (st->done < seq) {
        std::function<void()> op = std::move(st->queue.front());
        st->queue.pop_front();
        op();
        st->done++;
    }
    close_memory();
    st->running = false;
}

/* The host waits for stream s (cudaStreamSynchronize). */
void finish(ct_emu_stream *st) { run_until(st, st->issued); }

/* The host waits for the whole device (cudaFree, cudaDeviceSynchronize). */
void finish_all() {
    for (size_t i = 0; i < g_streams.size(); i++) finish(g_streams[i]);
}

/* An unsafe call while this thread captures: the capture is invalidated. */
bool capture_violation() {
    bool hit = false;
    for (ct_emu_stream *s : g_streams)
        if (s->capture && s->owner == std::this_thread::get_id()) {
            s->invalidated = true;
            hit = true;
        }
    return hit;
}

cudaError_t ret(cudaError_t e) {
    if (e != cudaSuccess) t_last = e;
    return e;
}

} // namespace

#define LOCK std::lock_guard<std::recursive_mutex> lock_(g_mu)

/* ------------------------------------------------------------------------------------------ */
/* errors, devices                                                                             */

cudaError_t cudaGetLastError(void) {
    cudaError_t e = t_last;
    t_last = cudaSuccess;
    return e;
}

const char *cudaGetErrorName(cudaError_t e) {
    switch (e) {
#define N(x) case x: return #x;
    N(cudaSuccess) N(cudaErrorInvalidValue) N(cudaErrorMemoryAllocation)
    N(cudaErrorInitializationError) N(cudaErrorInvalidConfiguration) N(cudaErrorStubLibrary)
    N(cudaErrorInsufficientDriver) N(cudaErrorDevicesUnavailable)
    N(cudaErrorInvalidDeviceFunction) N(cudaErrorNoDevice) N(cudaErrorInvalidDevice)
    N(cudaErrorNoKernelImageForDevice) N(cudaErrorNotReady) N(cudaErrorUnsupportedPtxVersion)
    N(cudaErrorInvalidResourceHandle) N(cudaErrorIllegalAddress) N(cudaErrorLaunchOutOfResources)
    N(cudaErrorIllegalInstruction) N(cudaErrorMisalignedAddress) N(cudaErrorLaunchFailure)
    N(cudaErrorCooperativeLaunchTooLarge) N(cudaErrorNotSupported)
    N(cudaErrorStreamCaptureUnsupported)
    N(cudaErrorStreamCaptureInvalidated)
    N(cudaErrorStreamCaptureWrongThread)
#undef N
    }
    return "cudaErrorUnknown";
}

const char *cudaGetErrorString(cudaError_t e) {
    switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    case cudaErrorCooperativeLaunchTooLarge: return "too many blocks in cooperative launch";
    case cudaErrorStreamCaptureUnsupported: return "operation not permitted when stream is capturing";
    case cudaErrorStreamCaptureInvalidated: return "operation failed due to a previous error during capture";
    case cudaErrorStreamCaptureWrongThread: return "attempt to terminate a thread-local capture sequence from another thread";
    default: return cudaGetErrorName(e);
    }
}

/* CTRAIN_CUDA_EMU_DEVICES (1..8, default 1) devices, all alike (and sharing one arena). */
static int device_count() {
    const char *env = getenv("CTRAIN_CUDA_EMU_DEVICES");
    int n = env ? atoi(env) : 1;
    return n >= 1 && n <= 8 ? n : 1;
}
static thread_local int t_device = 0;

cudaError_t cudaGetDeviceCount(int *count) {
    *count = device_count();
    return cudaSuccess;
}
cudaError_t cudaSetDevice(int device) {
    if (device < 0 || device >= device_count()) return ret(cudaErrorInvalidDevice);
    t_device = device;
    return cudaSuccess;
}
int ct_emu_current_device(void) { return t_device; }
cudaError_t cudaGetDeviceProperties(cudaDeviceProp *prop, int device) {
    LOCK;
    if (device < 0 || device >= device_count()) return ret(cudaErrorInvalidDevice);
    if (!arena_init()) return ret(cudaErrorInitializationError);
    memset(prop, 0, sizeof *prop);
    snprintf(prop->name, sizeof prop->name, "ctrain CUDA emulator");
    prop->totalGlobalMem = g_arena_bytes;
    prop->major = 9;
    prop->minor = 0;
    prop->multiProcessorCount = CT_EMU_SM_COUNT;
    return cudaSuccess;
}
cudaError_t cudaDeviceGetAttribute(int *value, cudaDeviceAttr attr, int device) {
    LOCK;
    if (device < 0 || device >= device_count()) return ret(cudaErrorInvalidDevice);
    if (attr == cudaDevAttrMultiProcessorCount) *value = CT_EMU_SM_COUNT;
    else if (attr == cudaDevAttrCooperativeLaunch) *value = 1;
    else return ret(cudaErrorInvalidValue);
    return cudaSuccess;
}
cudaError_t cudaDriverGetVersion(int *v) {
    *v = 13000;
    return cudaSuccess;
}
cudaError_t cudaRuntimeGetVersion(int *v) {
    *v = 13000;
    return cudaSuccess;
}

/* ------------------------------------------------------------------------------------------ */
/* memory                                                                                      */

cudaError_t cudaMalloc(void **p, size_t bytes) {
    LOCK;
    *p = nullptr;
    if (capture_violation()) return ret(cudaErrorStreamCaptureUnsupported);
    if (!arena_init()) return ret(cudaErrorInitializationError);
    *p = arena_alloc(bytes);
    return ret(*p ? cudaSuccess : cudaErrorMemoryAllocation);
}

cudaError_t cudaFree(void *p) {
    LOCK;
    if (capture_violation()) return ret(cudaErrorStreamCaptureUnsupported);
    if (!p) return cudaSuccess;
    finish_all(); /* cudaFree waits for the device */
    return ret(arena_free(p) ? cudaSuccess : cudaErrorInvalidValue);
}

cudaError_t cudaHostAlloc(void **p, size_t bytes, unsigned flags) {
    LOCK;
    (void)flags;
    *p = nullptr;
    if (capture_violation()) return ret(cudaErrorStreamCaptureUnsupported);
    size_t n = round_up(bytes ? bytes : 1);
    void *q = aligned_alloc(kAlign, n);
    if (!q) return ret(cudaErrorMemoryAllocation);
    memset(q, 0xff, n);
    g_pinned[(uintptr_t)q] = bytes;
    *p = q;
    return cudaSuccess;
}

cudaError_t cudaFreeHost(void *p) {
    LOCK;
    if (capture_violation()) return ret(cudaErrorStreamCaptureUnsupported);
    if (!p) return cudaSuccess;
    auto it = g_pinned.find((uintptr_t)p);
    if (it == g_pinned.end()) return ret(cudaErrorInvalidValue);
    finish_all();
    g_pinned.erase(it);
    free(p);
    return cudaSuccess;
}

cudaError_t cudaMemGetInfo(size_t *free_bytes, size_t *total_bytes) {
    LOCK;
    if (!arena_init()) return ret(cudaErrorInitializationError);
    *total_bytes = g_arena_bytes;
    *free_bytes = g_arena_bytes - g_used;
    return cudaSuccess;
}

cudaError_t cudaMemsetAsync(void *p, int value, size_t bytes, cudaStream_t s) {
    LOCK;
    if (bytes == 0) return cudaSuccess;
    if (!in_device(p, bytes)) return ret(cudaErrorInvalidValue);
    enqueue(s, [p, value, bytes]() { memset(p, value, bytes); });
    return cudaSuccess;
}

cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind,
                            cudaStream_t s) {
    LOCK;
    if (bytes == 0) return cudaSuccess;
    bool dev_dst = kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice;
    bool dev_src = kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice;
    if (kind < cudaMemcpyHostToDevice || kind > cudaMemcpyDeviceToDevice ||
        (dev_dst && !in_device(dst, bytes)) || (dev_src && !in_device(src, bytes)) ||
        (!dev_dst && in_device(dst, 1)) || (!dev_src && in_device(src, 1)))
        return ret(cudaErrorInvalidValue);
    bool pageable = (!dev_src && !is_pinned(src, bytes)) || (!dev_dst && !is_pinned(dst, bytes));
    if (pageable && capture_violation()) return ret(cudaErrorStreamCaptureUnsupported);
    if (kind == cudaMemcpyHostToDevice && pageable) { /* staged now: src may change at once */
        auto copy = std::make_shared<std::vector<char>>((const char *)src, (const char *)src + bytes);
        enqueue(s, [dst, copy]() { memcpy(dst, copy->data(), copy->size()); });
        return cudaSuccess;
    }
    enqueue(s, [dst, src, bytes]() { memmove(dst, src, bytes); });
    if (kind == cudaMemcpyDeviceToHost && pageable) finish(stream_of(s)); /* the data is there */
    return cudaSuccess;
}

/* ------------------------------------------------------------------------------------------ */
/* streams, events, graphs                                                                     */

cudaError_t cudaStreamCreateWithFlags(cudaStream_t *s, unsigned flags) {
    LOCK;
    (void)flags;
    *s = new ct_emu_stream;
    g_streams.push_back(*s);
    static int created = 0;
    const char *eager = getenv("CTRAIN_CUDA_EMU_EAGER");
    (*s)->eager = eager && atoi(eager) == ++created;
    return cudaSuccess;
}

cudaError_t cudaStreamDestroy(cudaStream_t s) {
    LOCK;
    if (!s) return ret(cudaErrorInvalidResourceHandle);
    finish(s); /* its work completes; the handle goes at once */
    for (size_t i = 0; i < g_streams.size(); i++)
        if (g_streams[i] == s) g_streams.erase(g_streams.begin() + (long)i);
    delete s->capture;
    s->capture = nullptr;
    g_retired.push_back(s); /* kept: an event or another stream's wait may still name it */
    return cudaSuccess;
}

cudaError_t cudaStreamSynchronize(cudaStream_t s) {
    LOCK;
    if (capture_violation()) return ret(cudaErrorStreamCaptureUnsupported);
    finish(stream_of(s));
    return cudaSuccess;
}

/* s's later work waits for the work e marks (as recorded now); a never-recorded e: no wait */
cudaError_t cudaStreamWaitEvent(cudaStream_t s, cudaEvent_t e, unsigned flags) {
    LOCK;
    (void)flags;
    if (!e) return ret(cudaErrorInvalidResourceHandle);
    if (!e->stream || stream_of(s)->capture) return cudaSuccess; /* (no cross-stream captures) */
    ct_emu_event mark = *e;
    enqueue(s, [mark]() { run_until(mark.stream, mark.seq); });
    return cudaSuccess;
}

cudaError_t cudaEventCreateWithFlags(cudaEvent_t *e, unsigned flags) {
    (void)flags;
    *e = new ct_emu_event;
    return cudaSuccess;
}
cudaError_t cudaEventDestroy(cudaEvent_t e) {
    delete e;
    return cudaSuccess;
}
/* e marks the work issued to s so far */
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s) {
    LOCK;
    if (!e) return ret(cudaErrorInvalidResourceHandle);
    ct_emu_stream *st = stream_of(s);
    if (st->capture) return cudaSuccess; /* (no cross-stream captures) */
    e->stream = st;
    e->seq = st->issued;
    return cudaSuccess;
}
cudaError_t cudaEventSynchronize(cudaEvent_t e) {
    LOCK;
    if (!e) return ret(cudaErrorInvalidResourceHandle);
    if (capture_violation()) return ret(cudaErrorStreamCaptureUnsupported);
    if (e->stream) run_until(e->stream, e->seq);
    return cudaSuccess;
}

/* Has the work e marks run? Work runs when waited for, so it may say not yet where a GPU would
 * have finished it. Without the lock, which another thread running queued work holds (the
 * query of a GPU's event never waits): e must not be recorded again meanwhile, and a thread
 * that saw it recorded must have read that through an acquire (the NCCL watchdog does). */
cudaError_t cudaEventQuery(cudaEvent_t e) {
    if (!e) return cudaErrorInvalidResourceHandle;
    return !e->stream || e->stream->done.load() >= e->seq ? cudaSuccess : cudaErrorNotReady;
}

cudaError_t cudaStreamBeginCapture(cudaStream_t s, cudaStreamCaptureMode mode) {
    LOCK;
    (void)mode;
    if (!s || s->capture) return ret(cudaErrorInvalidValue);
    s->capture = new ct_emu_graph;
    s->owner = std::this_thread::get_id();
    s->invalidated = false;
    return cudaSuccess;
}

cudaError_t cudaStreamEndCapture(cudaStream_t s, cudaGraph_t *g) {
    LOCK;
    *g = nullptr;
    if (!s || !s->capture) return ret(cudaErrorInvalidValue);
    if (s->owner != std::this_thread::get_id()) return ret(cudaErrorStreamCaptureWrongThread);
    ct_emu_graph *graph = s->capture;
    s->capture = nullptr;
    if (s->invalidated) {
        delete graph;
        return ret(cudaErrorStreamCaptureInvalidated);
    }
    *g = graph;
    return cudaSuccess;
}

cudaError_t cudaGraphInstantiate(cudaGraphExec_t *x, cudaGraph_t g, unsigned long long flags) {
    (void)flags;
    if (!g) return ret(cudaErrorInvalidValue);
    *x = new ct_emu_graph(*g);
    return cudaSuccess;
}
cudaError_t cudaGraphDestroy(cudaGraph_t g) {
    delete g;
    return cudaSuccess;
}
cudaError_t cudaGraphExecDestroy(cudaGraphExec_t x) {
    LOCK;
    finish_all(); /* a graph still queued finishes first */
    delete x;
    return cudaSuccess;
}
cudaError_t cudaGraphLaunch(cudaGraphExec_t x, cudaStream_t s) {
    LOCK;
    if (!x) return ret(cudaErrorInvalidValue);
    enqueue(s, [x]() {
        for (auto &op : x->ops) op();
    });
    return cudaSuccess;
}

void ct_emu_run_now(cudaStream_t s, const std::function<void()> &fn) {
    LOCK;
    finish(stream_of(s));
    open_memory();
    fn();
    close_memory();
}

void ct_emu_enqueue(cudaStream_t s, std::function<void()> op) {
    LOCK;
    enqueue(s, std::move(op));
}

bool ct_emu_in_device(const void *p, size_t bytes) {
    LOCK;
    return in_device(p, bytes);
}

/* ------------------------------------------------------------------------------------------ */
/* kernels                                                                                     */

void ct_emu_check_pointer(const void *p, int index) {
    LOCK;
    const char *c = (const char *)p;
    if (!p || (g_arena && c >= g_arena && c <= g_arena + g_arena_bytes) || is_pinned(p, 0)) return;
    ct_emu_fatal("a kernel launch's argument %d is %p, neither device nor pinned memory (on a GPU "
                 "the kernel faults on it)", index, p);
}

/* What a GPU says of a launch's configuration before it runs (cudaSuccess: it may). */
static cudaError_t launch_config_error(const ct_emu_config &c) {
    const dim3 &g = c.grid, &b = c.block;
    uint64_t threads = (uint64_t)b.x * b.y * b.z;
    if (threads == 0 || threads > 1024 || b.x > 1024 || b.y > 1024 || b.z > 64 || g.x == 0 ||
        g.y == 0 || g.z == 0 || g.x > 0x7fffffffu || g.y > 65535 || g.z > 65535)
        return cudaErrorInvalidConfiguration;
    if (c.smem > 48 * 1024) /* more needs cudaFuncSetAttribute, which the plugin never calls */
        return cudaErrorInvalidValue;
    return cudaSuccess;
}

void ct_emu_launch(const void *key, const ct_emu_config &c, std::function<void()> body) {
    LOCK;
    cudaError_t e = launch_config_error(c);
    if (e != cudaSuccess) {
        t_last = e;
        return;
    }
    enqueue(c.stream, [key, c, body]() { ct_emu_run_kernel(key, c, body, false); });
}

cudaError_t ct_emu_launch_cooperative(const void *key, const ct_emu_config &c,
                                      std::function<void()> body) {
    LOCK;
    cudaError_t e = launch_config_error(c);
    if (e != cudaSuccess) return ret(e);
    /* 1 block a multiprocessor (cudaOccupancyMaxActiveBlocksPerMultiprocessor) */
    if ((uint64_t)c.grid.x * c.grid.y * c.grid.z > CT_EMU_SM_COUNT)
        return ret(cudaErrorCooperativeLaunchTooLarge);
    enqueue(c.stream, [key, c, body]() { ct_emu_run_kernel(key, c, body, true); });
    return cudaSuccess;
}

/* ------------------------------------------------------------------------------------------ */
/* cuBLAS                                                                                      */

extern "C" void openblas_set_num_threads(int num_threads);

cublasStatus_t cublasCreate(cublasHandle_t *h) {
    /* one thread, as the CPU backend sets it: OpenBLAS's idle workers spin (sched_yield) and
     * would take the cores from the emulated kernels and from other ranks */
    openblas_set_num_threads(1);
    *h = new ct_emu_cublas;
    return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasDestroy(cublasHandle_t h) {
    LOCK;
    finish_all();
    delete h;
    return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasSetStream(cublasHandle_t h, cudaStream_t s) {
    if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
    h->stream = s;
    return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasSetWorkspace(cublasHandle_t h, void *ws, size_t bytes) {
    LOCK;
    if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
    return bytes == 0 || in_device(ws, bytes) ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_INVALID_VALUE;
}
cublasStatus_t cublasSetMathMode(cublasHandle_t h, cublasMath_t mode) {
    (void)mode;
    return h ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_NOT_INITIALIZED;
}

cublasStatus_t cublasSgemm(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m,
                           int n, int k, const float *alpha, const float *A, int lda,
                           const float *B, int ldb, const float *beta, float *C, int ldc) {
    LOCK;
    if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
    int rows_a = ta == CUBLAS_OP_N ? m : k, rows_b = tb == CUBLAS_OP_N ? k : n;
    if (m < 0 || n < 0 || k < 0 || lda < (rows_a > 1 ? rows_a : 1) ||
        ldb < (rows_b > 1 ? rows_b : 1) || ldc < (m > 1 ? m : 1))
        return CUBLAS_STATUS_INVALID_VALUE;
    if (m == 0 || n == 0) return CUBLAS_STATUS_SUCCESS;
    /* every matrix in one device allocation (the last column need only reach its last row) */
    int cols_a = ta == CUBLAS_OP_N ? k : m, cols_b = tb == CUBLAS_OP_N ? n : k;
    if ((k > 0 && (!in_device(A, ((size_t)(cols_a - 1) * lda + rows_a) * sizeof(float)) ||
                   !in_device(B, ((size_t)(cols_b - 1) * ldb + rows_b) * sizeof(float)))) ||
        !in_device(C, ((size_t)(n - 1) * ldc + m) * sizeof(float)))
        return CUBLAS_STATUS_INVALID_VALUE;
    float al = *alpha, be = *beta; /* host pointer mode: read at the call */
    CBLAS_TRANSPOSE a = ta == CUBLAS_OP_N ? CblasNoTrans : CblasTrans;
    CBLAS_TRANSPOSE b = tb == CUBLAS_OP_N ? CblasNoTrans : CblasTrans;
    enqueue(h->stream, [=]() {
        cblas_sgemm(CblasColMajor, a, b, m, n, k, al, A, lda, B, ldb, be, C, ldc);
    });
    return CUBLAS_STATUS_SUCCESS;
}

/* cublasSgemm's checks for the first and the last matrix (the others lie between), then each
 * matrix's product in one queued op */
cublasStatus_t cublasSgemmStridedBatched(cublasHandle_t h, cublasOperation_t ta,
                                         cublasOperation_t tb, int m, int n, int k,
                                         const float *alpha, const float *A, int lda,
                                         long long stride_a, const float *B, int ldb,
                                         long long stride_b, const float *beta, float *C, int ldc,
                                         long long stride_c, int batch) {
    LOCK;
    if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
    int rows_a = ta == CUBLAS_OP_N ? m : k, rows_b = tb == CUBLAS_OP_N ? k : n;
    if (m < 0 || n < 0 || k < 0 || batch < 0 || lda < (rows_a > 1 ? rows_a : 1) ||
        ldb < (rows_b > 1 ? rows_b : 1) || ldc < (m > 1 ? m : 1))
        return CUBLAS_STATUS_INVALID_VALUE;
    if (m == 0 || n == 0 || batch == 0) return CUBLAS_STATUS_SUCCESS;
    int cols_a = ta == CUBLAS_OP_N ? k : m, cols_b = tb == CUBLAS_OP_N ? n : k;
    for (long long i : {0LL, (long long)batch - 1})
        if ((k > 0 && (!in_device(A + i * stride_a, ((size_t)(cols_a - 1) * lda + rows_a) * sizeof(float)) ||
                       !in_device(B + i * stride_b, ((size_t)(cols_b - 1) * ldb + rows_b) * sizeof(float)))) ||
            !in_device(C + i * stride_c, ((size_t)(n - 1) * ldc + m) * sizeof(float)))
            return CUBLAS_STATUS_INVALID_VALUE;
    float al = *alpha, be = *beta;
    CBLAS_TRANSPOSE a = ta == CUBLAS_OP_N ? CblasNoTrans : CblasTrans;
    CBLAS_TRANSPOSE b = tb == CUBLAS_OP_N ? CblasNoTrans : CblasTrans;
    enqueue(h->stream, [=]() {
        for (long long i = 0; i < batch; i++)
            cblas_sgemm(CblasColMajor, a, b, m, n, k, al, A + i * stride_a, lda, B + i * stride_b,
                        ldb, be, C + i * stride_c, ldc);
    });
    return CUBLAS_STATUS_SUCCESS;
}

const char *cublasGetStatusName(cublasStatus_t s) {
    switch (s) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    }
    return "CUBLAS_STATUS_UNKNOWN";
}
const char *cublasGetStatusString(cublasStatus_t s) {
    switch (s) {
    case CUBLAS_STATUS_SUCCESS: return "success";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "the library was not initialized";
    case CUBLAS_STATUS_INVALID_VALUE: return "an invalid numeric value was used as an argument";
    default: return cublasGetStatusName(s);
    }
}
