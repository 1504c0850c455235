/*
 * cpu_depthwise.h — depthwise convolutions computed directly (cpu_depthwise.c), for cpu_nn.c's
 * conv2d ops. The shapes are conv_check's; single-threaded, as every CPU op.
 */
#ifndef CT_CPU_DEPTHWISE_H
#define CT_CPU_DEPTHWISE_H

#include "backend/backend.h"

/* 1 for a depthwise layer (groups = c > 1, any channel multiplier oc / c): these ops take it. */
int ct_dw_eligible(const ct_conv2d_desc *d);
/* The bytes of workspace (ws) each op needs: grows with d->n up to the images 32 MB hold (a
 * workspace sized for a batch serves every smaller one). */
size_t ct_dw_workspace(const ct_conv2d_desc *d);
/* y = conv(x, weight) without bias (overwritten) */
void ct_dw_forward(const ct_conv2d_desc *d, const float *x, const float *weight, float *y,
                   float *ws);
/* dx = the input's gradient for dy (overwritten) */
void ct_dw_backward_data(const ct_conv2d_desc *d, const float *dy, const float *weight,
                         float *dx, float *ws);
/* dweight (oc, 1, kh, kw) = the weight's gradient, summed over the batch (overwritten) */
void ct_dw_backward_filter(const ct_conv2d_desc *d, const float *x, const float *dy,
                           float *dweight, float *ws);

#endif /* CT_CPU_DEPTHWISE_H */
