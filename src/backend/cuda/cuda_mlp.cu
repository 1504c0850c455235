/*
 * cuda_mlp.cu — the fused MLP training step (backend.h: mlp_workspace, mlp_step).
 *
 * The tutorial's model is tiny: a batch of 128 is about 10 MFLOP, and run op by op the step is
 * some fifteen launches of a few microseconds each, mostly waiting. Here a step is three
 * grid-wide phases (cuda_mlp_kernels.cuh, whose bodies a host test runs too:
 * tests/test_mlp_kernels.cu), launched in one of two ways:
 *   cooperative: one kernel runs a whole run of steps (d->steps), the phases separated by grid
 *     syncs, on as many blocks as the GPU holds at once (cudaLaunchCooperativeKernel): no
 *     launch and no host involvement between steps;
 *   phases: three launches a step, where a device cannot launch cooperatively, or with
 *     CTRAIN_CUDA_MLP_LAUNCH=phases.
 * Both give the same parameters bit for bit (the same items, the same sums in the same order,
 * and no a*b+c contracted in one and not the other: this file is compiled with -fmad=false).
 * CTRAIN_CUDA_MLP_GRID=N caps the cooperative grid at N blocks (for tuning and tests).
 */
#include <cooperative_groups.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cuda/cuda_internal.h"
#include "backend/cuda/cuda_mlp_kernels.cuh"

namespace cg = cooperative_groups;

/* Threads a block is launched with: CT_MLP_THREADS on a GPU; one in the CUDA emulator's build,
 * which plays the block's CT_MLP_THREADS in turn (CT_MLP_ONE_THREAD in cuda_mlp_kernels.cuh). */
#ifdef CT_MLP_ONE_THREAD
#define CT_MLP_LAUNCH_THREADS 1
#else
#define CT_MLP_LAUNCH_THREADS CT_MLP_THREADS
#endif

/* Phase A of one step: its scalars at the table's cursor (block 0 copies the row to cur, where
 * phases B and C read it: C's last item moves the cursor) or from a.sv / the descriptor. */
__global__ void __launch_bounds__(CT_MLP_THREADS) mlp_phase_a_kernel(ct_mlp_args a) {
    extern __shared__ __align__(16) float smem[]; /* (phase C reads doubles in it) */
    const ct_step_vars *sv = a.d.table ? a.d.table + *a.d.cursor : a.sv;
    if (a.d.table && blockIdx.x == 0 && threadIdx.x == 0) *a.d.cur = *sv;
    const ct_mlp_vars v = ct_mlp_vars_of(a.d, sv);
    for (int kb = (int)blockIdx.x; kb < ct_mlp_col_items(a.d.in); kb += (int)gridDim.x)
        ct_mlp_phase_a(a, v, kb, CT_MLP_THREADS, smem);
}

__global__ void __launch_bounds__(CT_MLP_THREADS) mlp_phase_b_kernel(ct_mlp_args a) {
    extern __shared__ __align__(16) float smem[]; /* (phase C reads doubles in it) */
    const ct_mlp_vars v = ct_mlp_vars_of(a.d, a.d.table ? a.d.cur : a.sv);
    for (int64_t rb = blockIdx.x; rb < ct_mlp_row_items(a.d.n, a.rb); rb += gridDim.x)
        ct_mlp_phase_b(a, v, rb, CT_MLP_THREADS, smem);
}

__global__ void __launch_bounds__(CT_MLP_THREADS) mlp_phase_c_kernel(ct_mlp_args a) {
    extern __shared__ __align__(16) float smem[]; /* (phase C reads doubles in it) */
    const ct_mlp_vars v = ct_mlp_vars_of(a.d, a.d.table ? a.d.cur : a.sv);
    for (int kb = (int)blockIdx.x; kb <= ct_mlp_col_items(a.d.in); kb += (int)gridDim.x)
        ct_mlp_phase_c(a, v, kb, CT_MLP_THREADS, smem, -1, NULL);
}

/* `steps` consecutive steps (rows cursor .. cursor + steps - 1 of the table; one step without
 * it). Every block reads the cursor before the first grid sync, and only the last item of
 * phase C writes it (after each step: the step's row to cur, the cursor past it). Between C of
 * one step and A of the next there is no sync: A's item kb reads W1's columns that C's item kb
 * wrote in the same block, and writes x and part, which only that block (x) or the last
 * step's B (part, before the second sync) read. */
__global__ void __launch_bounds__(CT_MLP_THREADS) mlp_coop_kernel(ct_mlp_args a, int steps) {
    extern __shared__ __align__(16) float smem[]; /* (phase C reads doubles in it) */
    cg::grid_group grid = cg::this_grid();
    const int G = (int)gridDim.x, bid = (int)blockIdx.x, nt = CT_MLP_THREADS;
    const int cols = ct_mlp_col_items(a.d.in);
    const int64_t rows = ct_mlp_row_items(a.d.n, a.rb), c0 = a.d.table ? *a.d.cursor : 0;
    for (int s = 0; s < steps; s++) {
        const ct_step_vars *sv = a.d.table ? a.d.table + c0 + s : a.sv;
        const ct_mlp_vars v = ct_mlp_vars_of(a.d, sv);
        for (int kb = bid; kb < cols; kb += G) ct_mlp_phase_a(a, v, kb, nt, smem);
        grid.sync();
        for (int64_t rb = bid; rb < rows; rb += G) ct_mlp_phase_b(a, v, rb, nt, smem);
        grid.sync();
        for (int kb = bid; kb <= cols; kb += G)
            ct_mlp_phase_c(a, v, kb, nt, smem, a.d.table ? c0 + s + 1 : -1, sv);
    }
}

static size_t cuda_mlp_workspace(ct_backend *b, const ct_mlp_step_desc *d) {
    (void)b;
    return ct_mlp_workspace_bytes(d);
}

/* How the step launches (CTRAIN_CUDA_MLP_LAUNCH: auto, cooperative or phases), and the cap on
 * the cooperative grid (CTRAIN_CUDA_MLP_GRID; 0: none). */
static ct_status launch_settings(int *mode, int *cap) {
    const char *env = getenv("CTRAIN_CUDA_MLP_LAUNCH");
    *mode = 0;
    if (env && strcmp(env, "cooperative") == 0) *mode = 1;
    else if (env && strcmp(env, "phases") == 0) *mode = 2;
    else if (env && *env && strcmp(env, "auto") != 0)
        return ct_fail(CT_ERR_INVALID, "CTRAIN_CUDA_MLP_LAUNCH=\"%s\": expected auto, "
                       "cooperative or phases", env);
    const char *grid = getenv("CTRAIN_CUDA_MLP_GRID");
    *cap = 0;
    if (grid && *grid) {
        char *end;
        long v = strtol(grid, &end, 10);
        if (grid[0] < '0' || grid[0] > '9' || *end || v < 1 || v > 65536)
            return ct_fail(CT_ERR_INVALID, "CTRAIN_CUDA_MLP_GRID=\"%s\": expected a number of "
                           "blocks, 1..65536", grid);
        *cap = (int)v;
    }
    return CT_OK;
}

static ct_status cuda_mlp_step(ct_backend *b, const ct_mlp_step_desc *d,
                                   const ct_step_vars *sv) {
    ct_cuda *cb = ct_cuda_of(b);
    const int steps = d->steps > 1 ? d->steps : 1;
    if (!ct_mlp_workspace_bytes(d))
        return ct_fail(CT_ERR_INVALID, "mlp_step: unsupported shape (n %lld, in %d, hidden "
                       "%d, classes %d)", (long long)d->n, d->in, d->hidden, d->classes);
    if (!d->images || !d->labels || !d->idx || !d->w || !d->stats || !d->ws ||
        (d->table && (!d->cursor || !d->cur)))
        return ct_fail(CT_ERR_INVALID, "mlp_step: a NULL buffer");
    if (steps > 1 && !d->table)
        return ct_fail(CT_ERR_INVALID, "mlp_step: %d steps without a step table", steps);
    if (d->opt == CT_SGD && d->momentum != 0.0f && !d->m)
        return ct_fail(CT_ERR_INVALID, "mlp_step: momentum %g needs a momentum buffer",
                       (double)d->momentum);
    if (d->opt != CT_SGD && ((d->opt != CT_ADAM && d->opt != CT_ADAMW) || !d->m || !d->v))
        return ct_fail(CT_ERR_INVALID, "mlp_step: optimizer %d without its state", (int)d->opt);
    CT_CUDA_BIND(cb);
    const size_t smem = ct_mlp_smem(d->hidden, d->classes);
    const int cols = ct_mlp_col_items(d->in);
    int mode = 0, cap = 0; /* (getenv: cheap; the device's answers below are kept) */
    CT_TRY(launch_settings(&mode, &cap));
    if (mode != 2 && cb->mlp_launch.smem != smem) { /* once per shape: a step may be a launch */
        int coop = 0, per_sm = 0;
        CT_CUDA_CHECK(cudaDeviceGetAttribute(&coop, cudaDevAttrCooperativeLaunch, cb->device));
        if (coop)
            CT_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(
                &per_sm, mlp_coop_kernel, CT_MLP_LAUNCH_THREADS, smem));
        cb->mlp_launch.coop = coop;
        cb->mlp_launch.per_sm = per_sm;
        cb->mlp_launch.smem = smem;
    }
    const int coop = mode != 2 && cb->mlp_launch.coop, per_sm = cb->mlp_launch.per_sm;
    if (mode == 1 && (!coop || per_sm < 1))
        return ct_fail(CT_ERR_UNSUPPORTED, "mlp_step: CTRAIN_CUDA_MLP_LAUNCH=cooperative, but "
                       "cuda:%d cannot launch it cooperatively", cb->device);
    char *note = b->mlp_launch;
    const size_t note_bytes = sizeof b->mlp_launch;
    /* rows per row item: about as many row items as multiprocessors (the same in both ways
     * and at any grid: the same sums) */
    ct_mlp_args a = ct_mlp_make_args(d, sv, (int)((d->n + cb->sm_count - 1) / cb->sm_count));
    if (coop && per_sm > 0) {
        /* as many blocks as the work has items and the GPU holds at once */
        int64_t most = (int64_t)per_sm * cb->sm_count;
        if (cap > 0 && cap < most) most = cap;
        int64_t items = ct_mlp_row_items(d->n, a.rb);
        if (items < cols + 1) items = cols + 1;
        dim3 grid((unsigned)(items < most ? items : most)), block(CT_MLP_LAUNCH_THREADS);
        int nsteps = steps;
        void *args[] = {&a, &nsteps};
        cudaError_t e = cudaLaunchCooperativeKernel(mlp_coop_kernel, grid, block, args, smem,
                                                    cb->compute);
        if (e == cudaSuccess) {
            snprintf(note, note_bytes, "one cooperative kernel of %u block%s a run of steps",
                     grid.x, grid.x == 1 ? "" : "s");
            return CT_OK;
        }
        /* fewer blocks fit than the occupancy said (the GPU shared, under MPS; a tool such as
         * compute-sanitizer, which instruments the kernel, taking more registers), or a tool
         * that cannot launch cooperatively: three launches a step then, unless cooperative was
         * asked for */
        if ((e != cudaErrorCooperativeLaunchTooLarge && e != cudaErrorNotSupported &&
             e != cudaErrorLaunchOutOfResources) || mode == 1)
            return ct_cuda_fail(e, __FILE__, __LINE__,
                                "cudaLaunchCooperativeKernel(mlp_coop_kernel)");
        (void)cudaGetLastError();
        snprintf(note, note_bytes, "three launches a step: the cooperative kernel of %u blocks "
                 "could not launch (%s)", grid.x, cudaGetErrorName(e));
    } else if (mode == 2) {
        snprintf(note, note_bytes, "three launches a step (CTRAIN_CUDA_MLP_LAUNCH=phases)");
    } else {
        snprintf(note, note_bytes, "three launches a step: cuda:%d cannot launch cooperatively",
                 cb->device);
    }
    for (int s = 0; s < steps; s++) {
        mlp_phase_a_kernel<<<(unsigned)cols, CT_MLP_LAUNCH_THREADS, smem, cb->compute>>>(a);
        CT_CUDA_CHECK_LAUNCH("mlp_phase_a_kernel");
        mlp_phase_b_kernel<<<(unsigned)ct_mlp_row_items(d->n, a.rb), CT_MLP_LAUNCH_THREADS, smem,
                             cb->compute>>>(a);
        CT_CUDA_CHECK_LAUNCH("mlp_phase_b_kernel");
        mlp_phase_c_kernel<<<(unsigned)cols + 1, CT_MLP_LAUNCH_THREADS, smem, cb->compute>>>(a);
        CT_CUDA_CHECK_LAUNCH("mlp_phase_c_kernel");
    }
    return CT_OK;
}

ct_status ct_cuda_probe_mlp_kernels(void) {
    cudaFuncAttributes attr;
    CT_CUDA_CHECK(cudaFuncGetAttributes(&attr, mlp_phase_a_kernel));
    CT_CUDA_CHECK(cudaFuncGetAttributes(&attr, mlp_phase_b_kernel));
    CT_CUDA_CHECK(cudaFuncGetAttributes(&attr, mlp_phase_c_kernel));
    CT_CUDA_CHECK(cudaFuncGetAttributes(&attr, mlp_coop_kernel));
    return CT_OK;
}

void ct_cuda_fill_mlp_ops(ct_backend *b) {
    b->mlp_workspace = cuda_mlp_workspace;
    b->mlp_step = cuda_mlp_step;
}
