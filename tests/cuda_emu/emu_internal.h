/*
 * emu_internal.h — what the CUDA emulator's two halves share: the runtime (emu_runtime.cpp:
 * memory, streams, events, graphs, cuBLAS) and the kernel executor (emu_simt.cpp: blocks,
 * threads, barriers, shuffles).
 */
#ifndef CT_EMU_INTERNAL_H
#define CT_EMU_INTERNAL_H

#include "cuda_runtime.h"

/* Runs one launch now: every block, every thread. Called by the runtime, in stream order,
 * with device memory open to access. */
void ct_emu_run_kernel(const void *key, const ct_emu_config &c, const std::function<void()> &body);

/* Prints "ctrain CUDA emulator: <message>" to stderr and aborts: what a GPU would hang or
 * fault on (a deadlocked barrier, a kernel that diverges on one). */
[[noreturn]] void ct_emu_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif /* CT_EMU_INTERNAL_H */
