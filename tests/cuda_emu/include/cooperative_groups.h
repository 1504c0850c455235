/*
 * cooperative_groups.h — the CUDA emulator's stand-in (tests/cuda_emu): only the grid group's
 * sync, for kernels launched with cudaLaunchCooperativeKernel (include/cuda_runtime.h).
 */
#ifndef CT_EMU_COOPERATIVE_GROUPS_H
#define CT_EMU_COOPERATIVE_GROUPS_H

#include "cuda_runtime.h"

namespace cooperative_groups {
struct grid_group {
    /* every thread of the grid meets here (the emulator stops if the launch was not
     * cooperative, or if some threads returned instead) */
    void sync() const { ct_emu_grid_sync(); }
};
static inline grid_group this_grid(void) { return grid_group(); }
} // namespace cooperative_groups

#endif /* CT_EMU_COOPERATIVE_GROUPS_H */
