/*
 * emu_simt.cpp — the CUDA emulator's kernel executor: a launch's blocks run one after another,
 * and a block's threads run as fibers that switch only where CUDA makes threads meet:
 * __syncthreads (every thread of the block), __syncwarp and the warp shuffles (every lane of
 * the warp). A barrier that some of its threads can never reach (they wait elsewhere, or have
 * returned) is reported, not hung on or passed.
 *
 * A cooperative launch (cudaLaunchCooperativeKernel) runs all its blocks' threads as fibers at
 * once, each block with its own dynamic shared memory, so that a grid sync (cooperative_groups:
 * every thread of the grid) can meet; static shared memory is refused there (one copy serves
 * all blocks here).
 *
 * Most kernels have no barrier at all. Each kernel's first launch runs on fibers and notes
 * whether any thread met a barrier; a kernel that met none runs its later launches as plain
 * calls, thread after thread (CTRAIN_CUDA_EMU_FIBERS=1: always fibers). Should such a kernel
 * meet a barrier after all, the emulator stops and says so.
 *
 * A fiber starts once (makecontext/setcontext) and then switches with __builtin_setjmp and
 * __builtin_longjmp, which keep only the frame, the stack pointer and where to resume (the
 * compiler saves the rest around the receiver). swapcontext saves the signal mask each time, a
 * system call: ten times slower here; glibc's _setjmp/_longjmp also save and check more (a
 * `ctrain eval` of the MLP on the emulator, mostly shuffles: 1.22 s with them, 0.88 s with
 * these). AddressSanitizer, which follows swapcontext but not a jump to another stack, is told
 * of each switch through its fiber interface (swapcontext there cleared the whole stack's
 * shadow at each switch: a memset and a system call, three quarters of test_nn_train_cuda_emu).
 */
#include "emu_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <sys/mman.h>
#include <ucontext.h>
/* AddressSanitizer: GCC says so by __SANITIZE_ADDRESS__, clang (before 22) by __has_feature */
#if defined(__SANITIZE_ADDRESS__)
#define CT_EMU_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CT_EMU_ASAN 1
#endif
#endif
#ifndef CT_EMU_ASAN
#define CT_EMU_ASAN 0
#endif
#if CT_EMU_ASAN
#include <sanitizer/common_interface_defs.h>
#endif

#include <unordered_map>
#include <vector>

uint3 threadIdx, blockIdx;
dim3 blockDim, gridDim;

void ct_emu_fatal(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "ctrain CUDA emulator: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    abort();
}

namespace {

/* (AT_SHUFFLE: a warp barrier met in a shuffle, AT_WARP_BARRIER: in __syncwarp) */
enum { RUNNABLE, AT_WARP_BARRIER, AT_SHUFFLE, AT_BLOCK_BARRIER, AT_GRID_BARRIER, DONE };

const size_t kStackBytes = 1 << 20; /* each, with a guard page below (mapped, not committed) */
const size_t kGuardBytes = 4096;
const int kMaxThreads = 1024;
const int kMaxFibers = 2 * kMaxThreads; /* a cooperative grid: 2 blocks (emu_runtime.cpp) */
const int kWarp = 32;

/* Where a switch resumes (__builtin_setjmp's buffer). jump_to is the other half: the two may
 * not be called from one function. It does not return, but is called through a pointer the
 * compiler cannot see through: AddressSanitizer would otherwise unpoison the stack before each
 * call to a function that does not return (a system call and a memset, most of a switch),
 * where the switch abandons no frame but jump_to's own, of no poisoned locals. */
typedef void *jump_buf[5];
__attribute__((noinline, no_sanitize_address)) void longjmp_to(jump_buf jb) {
    __builtin_longjmp(jb, 1);
}
void (*volatile jump_to)(jump_buf) = longjmp_to;

struct Fiber {
    ucontext_t ctx;
    jump_buf jb;
    void *fake_stack;  /* AddressSanitizer's, while the fiber is switched away from */
    bool started;
    int state;
    uint3 idx, bidx; /* threadIdx, blockIdx */
    int block;       /* the block's place in a cooperative launch (else 0) */
    unsigned shfls;  /* shuffles this thread has made in this block */
};

struct Block {
    const std::function<void()> *body = nullptr;
    bool fibers = false;       /* threads run as fibers (else as plain calls) */
    bool met_barrier = false;  /* some thread of this launch met a barrier */
    bool coop = false;         /* a cooperative launch: all its blocks run at once */
    int nthreads = 0, current = 0; /* fibers (every block's threads when coop) */
    int per_block = 0, nblocks = 0;
    size_t smem_bytes = 0;     /* a block's dynamic shared memory */
    jump_buf scheduler_jb;
    /* AddressSanitizer's: the scheduler's fake stack while a fiber runs, and the scheduler's
     * stack as the fibers last found it */
    void *scheduler_fake_stack = nullptr;
    const void *scheduler_stack = nullptr;
    size_t scheduler_stack_bytes = 0;
    std::vector<Fiber> fiber;
    std::vector<uint64_t> exchange; /* two slots per thread for the shuffles */
    std::vector<unsigned char> smem;
    std::vector<void *> statics; /* static shared memory made undefined in this block */
};

Block g_block;           /* the runtime runs one launch at a time (under its lock) */
char *g_stacks = nullptr; /* kMaxFibers of a guard page and a stack of kStackBytes */
const size_t kSlotBytes = kGuardBytes + kStackBytes;
std::unordered_map<const void *, bool> g_plain; /* kernel -> may run as plain calls */

char *stack_of(int t) { return g_stacks + (size_t)t * kSlotBytes + kGuardBytes; }

/* AddressSanitizer's fiber interface (no-ops without it): before a switch to the fiber or
 * scheduler, and on arriving there */
void to_fiber(Block &b, int t) {
#if CT_EMU_ASAN
    __sanitizer_start_switch_fiber(&b.scheduler_fake_stack, stack_of(t), kStackBytes);
#else
    (void)b, (void)t;
#endif
}
void in_scheduler(Block &b) {
#if CT_EMU_ASAN
    __sanitizer_finish_switch_fiber(b.scheduler_fake_stack, nullptr, nullptr);
#else
    (void)b;
#endif
}
void to_scheduler(Block &b, Fiber &f) {
#if CT_EMU_ASAN
    __sanitizer_start_switch_fiber(&f.fake_stack, b.scheduler_stack, b.scheduler_stack_bytes);
#else
    (void)b, (void)f;
#endif
}
void in_fiber(Block &b, Fiber &f) {
#if CT_EMU_ASAN
    __sanitizer_finish_switch_fiber(f.fake_stack, &b.scheduler_stack, &b.scheduler_stack_bytes);
#else
    (void)b, (void)f;
#endif
}

/* A fiber runs the body for its thread of each block in turn: it is made once and then only
 * switched to. */
void fiber_main() {
    Block &b = g_block;
    in_fiber(b, b.fiber[b.current]);
    for (;;) {
        (*b.body)();
        Fiber &f = b.fiber[b.current];
        f.state = DONE;
        if (__builtin_setjmp(f.jb) == 0) {
            to_scheduler(b, f);
            jump_to(b.scheduler_jb);
        }
        in_fiber(b, b.fiber[b.current]);
    }
}

/* The scheduler runs fiber f (its t-th) until it waits at a barrier or ends. */
void resume(Block &b, int t) {
    Fiber &f = b.fiber[t];
    if (__builtin_setjmp(b.scheduler_jb) == 0) {
        to_fiber(b, t);
        if (!f.started) {
            f.started = true;
            setcontext(&f.ctx);
        }
        jump_to(f.jb);
    }
    in_scheduler(b);
}

/* The current thread stops at a barrier of the given kind until the scheduler releases it. */
void wait_at(int kind) {
    Block &b = g_block;
    b.met_barrier = true;
    if (!b.fibers)
        ct_emu_fatal("a kernel met a barrier in a launch run as plain calls (its first launch met "
                     "none); rerun with CTRAIN_CUDA_EMU_FIBERS=1");
    Fiber &f = b.fiber[b.current];
    f.state = kind;
    if (__builtin_setjmp(f.jb) == 0) {
        to_scheduler(b, f);
        jump_to(b.scheduler_jb);
    }
    in_fiber(b, f);
    threadIdx = f.idx;
    blockIdx = f.bidx;
}

/* Releases the threads waiting at a barrier that every thread it spans has reached. Returns
 * the number still live. A barrier that some of its threads have returned without reaching
 * (a full-mask shuffle or __syncwarp with exited lanes, __syncthreads after some threads
 * returned, a grid sync after some threads of the grid returned) is undefined on a GPU: the
 * emulator stops there. */
int release(Block &b) {
    int live = 0, at_grid = 0, done_all = 0;
    for (int k = 0; k < b.nblocks; k++) {
        const int base = k * b.per_block, end = base + b.per_block;
        const uint3 bi = b.fiber[base].bidx;
        int blive = 0, at_block = 0, done = 0;
        for (int lo = base; lo < end; lo += kWarp) {
            int hi = lo + kWarp < end ? lo + kWarp : end;
            int wlive = 0, wwait = 0, wshfl = 0;
            for (int t = lo; t < hi; t++) {
                int s = b.fiber[t].state;
                if (s != DONE) wlive++;
                if (s == AT_WARP_BARRIER || s == AT_SHUFFLE) wwait++;
                if (s == AT_SHUFFLE) wshfl++;
                if (s == AT_BLOCK_BARRIER) at_block++;
                if (s == AT_GRID_BARRIER) at_grid++;
            }
            if (wwait > 0 && wlive < hi - lo)
                ct_emu_fatal("block (%u, %u, %u), warp %d: a shuffle or __syncwarp over all lanes, "
                             "but %d of its %d lanes have returned", bi.x, bi.y, bi.z,
                             (lo - base) / kWarp, hi - lo - wlive, hi - lo);
            blive += wlive;
            done += hi - lo - wlive;
            if (wlive > 0 && wwait == wlive) {
                /* every lane at the same shuffle, or every lane at __syncwarp (else a GPU's
                 * lanes would meet at different points: undefined) */
                bool same = wshfl == 0 || wshfl == wwait;
                for (int t = lo + 1; t < hi && same && wshfl > 0; t++)
                    same = b.fiber[t].shfls == b.fiber[lo].shfls;
                if (!same)
                    ct_emu_fatal("block (%u, %u, %u), warp %d: lanes meet at different shuffles or "
                                 "__syncwarp (%d of %d at a shuffle)", bi.x, bi.y, bi.z,
                                 (lo - base) / kWarp, wshfl, wwait);
                for (int t = lo; t < hi; t++) b.fiber[t].state = RUNNABLE;
            }
        }
        if (at_block > 0 && done > 0)
            ct_emu_fatal("block (%u, %u, %u): __syncthreads reached by %d threads after %d of the "
                         "block's %d returned", bi.x, bi.y, bi.z, at_block, done, b.per_block);
        if (blive > 0 && at_block == blive)
            for (int t = base; t < end; t++) b.fiber[t].state = RUNNABLE;
        live += blive;
        done_all += done;
    }
    if (at_grid > 0 && done_all > 0)
        ct_emu_fatal("a grid sync reached by %d threads after %d of the grid's %d returned",
                     at_grid, done_all, b.nthreads);
    if (live > 0 && at_grid == live)
        for (int t = 0; t < b.nthreads; t++) b.fiber[t].state = RUNNABLE;
    return live;
}

void run_block_fibers(Block &b) {
    if (!g_stacks) {
        void *p = mmap(nullptr, kSlotBytes * kMaxFibers, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (p == MAP_FAILED) ct_emu_fatal("cannot map %zu bytes of fiber stacks",
                                          kSlotBytes * kMaxFibers);
        for (int t = 0; t < kMaxFibers; t++)
            mprotect((char *)p + t * kSlotBytes, kGuardBytes, PROT_NONE);
        g_stacks = (char *)p;
    }
#if !CT_EMU_ASAN /* (which reports faults itself) */
    /* a stack overflow's SIGSEGV is handled on a stack of its own (emu_runtime.cpp) */
    static thread_local void *alt_stack = nullptr; /* kept for the thread's life */
    if (!alt_stack) {
        stack_t ss;
        ss.ss_size = 64 << 10;
        ss.ss_sp = alt_stack = malloc(ss.ss_size);
        ss.ss_flags = 0;
        if (ss.ss_sp) sigaltstack(&ss, nullptr);
    }
#endif
    for (int t = 0; t < b.nthreads; t++) {
        Fiber &f = b.fiber[t];
        f.state = RUNNABLE;
        if (f.started) continue;
        getcontext(&f.ctx);
        f.ctx.uc_stack.ss_sp = stack_of(t);
        f.ctx.uc_stack.ss_size = kStackBytes;
        f.ctx.uc_link = nullptr; /* (fiber_main never returns) */
        makecontext(&f.ctx, fiber_main, 0);
        f.fake_stack = nullptr;
    }
    for (;;) {
        /* only the first block with runnable threads runs: in a cooperative launch a block
         * goes as far as it can (to a grid sync) before the next one starts, so that a missing
         * grid sync shows as a read of what another block has not written yet */
        int first = 0;
        while (first < b.nthreads && b.fiber[first].state != RUNNABLE) first++;
        const int k = first < b.nthreads ? b.fiber[first].block : 0;
        for (int t = k * b.per_block; t < (k + 1) * b.per_block; t++) {
            Fiber &f = b.fiber[t];
            if (f.state != RUNNABLE) continue;
            b.current = t;
            threadIdx = f.idx;
            blockIdx = f.bidx;
            resume(b, t);
        }
        int live = release(b);
        if (live == 0) return;
        bool runnable = false;
        for (int t = 0; t < b.nthreads && !runnable; t++) runnable = b.fiber[t].state == RUNNABLE;
        if (!runnable)
            ct_emu_fatal("block (%u, %u, %u): %d threads wait at barriers that the others never "
                         "reach (a __syncthreads, a grid sync or a shuffle in divergent code)",
                         blockIdx.x, blockIdx.y, blockIdx.z, live);
    }
}

} // namespace

bool ct_emu_in_stack_guard(const void *a) {
    const char *c = (const char *)a;
    return g_stacks && c >= g_stacks && c < g_stacks + kSlotBytes * kMaxFibers &&
           (size_t)(c - g_stacks) % kSlotBytes < kGuardBytes;
}
size_t ct_emu_stack_bytes(void) { return kStackBytes; }

void ct_emu_syncthreads(void) { wait_at(AT_BLOCK_BARRIER); }
/* Partial masks and widths: the emulator would not pair the right lanes (it ignores them). */
static void full_warp_only(const char *what, unsigned mask, int width) {
    if (mask != 0xffffffffu || width != kWarp)
        ct_emu_fatal("%s with mask %#x, width %d: the emulator takes full-warp ones only "
                     "(mask 0xffffffff, width 32)", what, mask, width);
}

void ct_emu_syncwarp(unsigned mask) {
    full_warp_only("__syncwarp", mask, kWarp);
    wait_at(AT_WARP_BARRIER);
}
void ct_emu_grid_sync(void) {
    if (!g_block.coop)
        ct_emu_fatal("a grid sync in a kernel not launched with cudaLaunchCooperativeKernel");
    wait_at(AT_GRID_BARRIER);
}

void *ct_emu_dynamic_smem(void) {
    Block &b = g_block;
    return b.smem.data() + (b.coop ? (size_t)b.fiber[b.current].block * b.smem_bytes : 0);
}

void ct_emu_static_smem(void *p, size_t bytes) {
    Block &b = g_block;
    if (b.coop)
        ct_emu_fatal("static shared memory in a cooperative launch (the emulator runs its "
                     "blocks at once, and has one copy of it)");
    for (void *q : b.statics)
        if (q == p) return;
    b.statics.push_back(p);
    memset(p, 0xff, bytes);
}

uint64_t ct_emu_shfl_xor(uint64_t bits, int lane_mask, unsigned mask, int width) {
    full_warp_only("__shfl_xor_sync", mask, width);
    Block &b = g_block;
    int me = b.current, base = b.fiber[me].block * b.per_block, rel = me - base;
    /* Shuffles alternate between two slots a thread, so one barrier each is enough: a lane
     * that writes shuffle k + 2's value into slot k's has passed shuffle k + 1's barrier, which
     * every lane reaches only after reading shuffle k. */
    const size_t half = (size_t)(b.fiber[me].shfls++ & 1) * (size_t)b.nthreads;
    b.exchange[half + me] = bits;
    wait_at(AT_SHUFFLE);
    int other = (rel & ~(kWarp - 1)) | ((rel & (kWarp - 1)) ^ (lane_mask & (kWarp - 1)));
    return other < b.per_block ? b.exchange[half + base + other] : bits;
}

void ct_emu_run_kernel(const void *key, const ct_emu_config &c, const std::function<void()> &body,
                       bool cooperative) {
    static const bool always_fibers = getenv("CTRAIN_CUDA_EMU_FIBERS") &&
                                      atoi(getenv("CTRAIN_CUDA_EMU_FIBERS")) != 0;
    Block &b = g_block;
    auto known = g_plain.find(key);
    const int per_block = (int)(c.block.x * c.block.y * c.block.z);
    const int nblocks = cooperative ? (int)(c.grid.x * c.grid.y * c.grid.z) : 1;
    if ((int64_t)per_block * nblocks > kMaxFibers)
        ct_emu_fatal("a cooperative launch of %d blocks of %d threads: more than the emulator's "
                     "%d fibers", nblocks, per_block, kMaxFibers);
    b.body = &body;
    b.coop = cooperative;
    b.fibers = cooperative || always_fibers || known == g_plain.end() || !known->second;
    b.met_barrier = false;
    b.per_block = per_block;
    b.nblocks = nblocks;
    b.nthreads = per_block * nblocks;
    b.smem_bytes = (c.smem + 15) & ~(size_t)15; /* each block's at 16-byte alignment, as a GPU's */
    b.fiber.resize(kMaxFibers); /* once: a fiber's jump buffer must not move */
    b.exchange.assign(2 * (size_t)b.nthreads, 0);
    /* uninitialised shared memory reads NaN */
    b.smem.assign(c.smem > 0 ? b.smem_bytes * (size_t)nblocks : 1, 0xff);
    gridDim = c.grid;
    blockDim = c.block;
    auto place = [&](int k, const uint3 &bi) { /* block k's fibers, at blockIdx bi */
        for (int t = 0; t < per_block; t++) {
            Fiber &f = b.fiber[k * per_block + t];
            f.idx = uint3{t % c.block.x, t / c.block.x % c.block.y, t / (c.block.x * c.block.y)};
            f.bidx = bi;
            f.block = k;
            f.shfls = 0;
        }
    };
    if (cooperative) {
        int k = 0;
        for (unsigned z = 0; z < c.grid.z; z++)
            for (unsigned y = 0; y < c.grid.y; y++)
                for (unsigned x = 0; x < c.grid.x; x++) place(k++, uint3{x, y, z});
        b.statics.clear();
        run_block_fibers(b);
    } else {
        for (unsigned z = 0; z < c.grid.z; z++)
            for (unsigned y = 0; y < c.grid.y; y++)
                for (unsigned x = 0; x < c.grid.x; x++) {
                    blockIdx = uint3{x, y, z};
                    place(0, blockIdx);
                    if (c.smem > 0) memset(b.smem.data(), 0xff, c.smem);
                    b.statics.clear();
                    if (b.fibers) {
                        run_block_fibers(b);
                    } else {
                        for (int t = 0; t < b.nthreads; t++) {
                            threadIdx = b.fiber[t].idx;
                            body();
                        }
                    }
                }
        if (known == g_plain.end()) g_plain[key] = !b.met_barrier;
    }
    b.coop = false;
    b.body = nullptr;
}
