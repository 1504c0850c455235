/*
 * cpu_nn.h — the CPU backend's ops for convolutional networks and modern optimizers (conv2d via
 * im2col + gemm, pooling, dropout, batch norm, Adam, gradient norms): see backend.h.
 */
#ifndef CT_CPU_NN_H
#define CT_CPU_NN_H

#include "backend/backend.h"

/* Fills conv2d_*, maxpool2d_*, avgpool2d_*, dropout_*, batchnorm_*, adam_step, sumsq and
 * clip_scale into b (called at the end of ct_cpu_backend_create). */
void ct_cpu_fill_nn_ops(ct_backend *b);
/* Fills batchnorm_forward and batchnorm_backward (cpu_bn.c; called by ct_cpu_fill_nn_ops). */
void ct_cpu_fill_bn_ops(ct_backend *b);
/* Fills gemm_batched, softmax_rows(_backward), transpose and copy2d (cpu_seq.c; called by
 * ct_cpu_fill_nn_ops). */
void ct_cpu_fill_seq_ops(ct_backend *b);

#endif
