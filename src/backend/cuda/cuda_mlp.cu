/*
 * cuda_mlp.cu — the fused MLP training step (backend.h: mlp_workspace, mlp_step).
 *
 * The tutorial's model is tiny: a batch of 128 is about 10 MFLOP, and run op by op the step is
 * some fifteen launches of a few microseconds each, mostly waiting. Here it is two kernels (the
 * rows kernel: everything that is per row, from gather to dz1; the update kernel: the weight
 * gradients, summed over the batch, and the optimizer's update), whose bodies live in
 * cuda_mlp_kernels.cuh so that a host test runs the same code (tests/test_mlp_kernels.cu).
 */
#include "backend/cuda/cuda_internal.h"
#include "backend/cuda/cuda_mlp_kernels.cuh"

__global__ void __launch_bounds__(CT_MLP_THREADS) mlp_rows_kernel(ct_mlp_args a) {
    extern __shared__ float smem[];
    ct_mlp_rows_block(a, (int)blockIdx.x, (int)blockDim.x, smem);
}

__global__ void __launch_bounds__(CT_MLP_THREADS) mlp_update_kernel(ct_mlp_args a) {
    extern __shared__ float smem[];
    ct_mlp_update_block(a, (int)blockIdx.x, (int)blockDim.x, smem);
}

static size_t cuda_mlp_workspace(ct_backend *b, const ct_mlp_step_desc *d) {
    (void)b;
    return ct_mlp_workspace_bytes(d);
}

static ct_status cuda_mlp_step(ct_backend *b, const ct_mlp_step_desc *d,
                                   const ct_step_vars *sv) {
    ct_cuda *cb = ct_cuda_of(b);
    if (!ct_mlp_workspace_bytes(d))
        return ct_fail(CT_ERR_INVALID, "mlp_step: unsupported shape (n %lld, in %d, hidden "
                       "%d, classes %d)", (long long)d->n, d->in, d->hidden, d->classes);
    if (!d->images || !d->labels || !d->idx || !d->w || !d->stats || !d->ws ||
        (d->table && (!d->cursor || !d->cur)))
        return ct_fail(CT_ERR_INVALID, "mlp_step: a NULL buffer");
    if (d->opt == CT_SGD && d->momentum != 0.0f && !d->m)
        return ct_fail(CT_ERR_INVALID, "mlp_step: momentum %g needs a momentum buffer",
                       (double)d->momentum);
    if (d->opt != CT_SGD && ((d->opt != CT_ADAM && d->opt != CT_ADAMW) || !d->m || !d->v))
        return ct_fail(CT_ERR_INVALID, "mlp_step: optimizer %d without its state", (int)d->opt);
    ct_mlp_args a = ct_mlp_make_args(d, sv);
    CT_CUDA_BIND(cb);
    mlp_rows_kernel<<<(unsigned)ct_mlp_row_blocks(d->n), CT_MLP_THREADS,
                      ct_mlp_rows_smem(d->in, d->hidden, d->classes), cb->compute>>>(a);
    CT_CUDA_CHECK_LAUNCH("mlp_rows_kernel");
    mlp_update_kernel<<<(unsigned)ct_mlp_col_blocks(d->in) + 1, CT_MLP_THREADS,
                        ct_mlp_update_smem(d->hidden, d->classes), cb->compute>>>(a);
    CT_CUDA_CHECK_LAUNCH("mlp_update_kernel");
    return CT_OK;
}

ct_status ct_cuda_probe_mlp_kernels(void) {
    cudaFuncAttributes attr;
    CT_CUDA_CHECK(cudaFuncGetAttributes(&attr, mlp_rows_kernel));
    CT_CUDA_CHECK(cudaFuncGetAttributes(&attr, mlp_update_kernel));
    return CT_OK;
}

void ct_cuda_fill_mlp_ops(ct_backend *b) {
    b->mlp_workspace = cuda_mlp_workspace;
    b->mlp_step = cuda_mlp_step;
}
