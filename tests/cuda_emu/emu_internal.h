/*
 * emu_internal.h — what the CUDA emulator's two halves share: the runtime (emu_runtime.cpp:
 * memory, streams, events, graphs, cuBLAS) and the kernel executor (emu_simt.cpp: blocks,
 * threads, barriers, shuffles).
 */
#ifndef CT_EMU_INTERNAL_H
#define CT_EMU_INTERNAL_H

#include "cuda_runtime.h"

/* Runs one launch now: every block, every thread (cooperative: every block's threads at once,
 * so that grid syncs meet). Called by the runtime, in stream order, with device memory open to
 * access. */
void ct_emu_run_kernel(const void *key, const ct_emu_config &c, const std::function<void()> &body,
                       bool cooperative);

/* Runs fn now, after the work queued on s, with device memory open: what must happen when it
 * is called (emu_nccl.cpp: a collective, which on a GPU runs once every rank has queued it). */
void ct_emu_run_now(cudaStream_t s, const std::function<void()> &fn);
/* Queues op on s as a kernel would be queued (recorded when s is capturing): what a library
 * call of the emulator (emu_cudnn.cpp) runs on the device. */
void ct_emu_enqueue(cudaStream_t s, std::function<void()> op);
/* The calling thread's current device (cudaSetDevice). */
int ct_emu_current_device(void);
/* Is [p, p + bytes) inside one device allocation? */
bool ct_emu_in_device(const void *p, size_t bytes);

/* Is a in the guard page below a fiber's stack? And the stacks' size. */
bool ct_emu_in_stack_guard(const void *a);
size_t ct_emu_stack_bytes(void);

/* Prints "ctrain CUDA emulator: <message>" to stderr and aborts: what a GPU would hang or
 * fault on (a deadlocked barrier, a kernel that diverges on one). */
[[noreturn]] void ct_emu_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif /* CT_EMU_INTERNAL_H */
