/*
 * cpu_winograd.h — 3x3 stride-1 convolutions by Winograd F(4x4, 3x3) for cpu_nn.c's conv2d ops
 * (see cpu_winograd.c). The ops keep backend.h's contracts; ws is ct_wino_workspace(d)
 * bytes for a desc with at least d->n images.
 */
#ifndef CT_CPU_WINOGRAD_H
#define CT_CPU_WINOGRAD_H

#include "backend/backend.h"

#include <stddef.h>

/* 1 when d is a 3x3 stride-1 convolution with enough channels for the Winograd path. */
int ct_wino_eligible(const ct_conv2d_desc *d);
size_t ct_wino_workspace(const ct_conv2d_desc *d);
ct_status ct_wino_forward(ct_backend *b, const ct_conv2d_desc *d, const float *x,
                          const float *weight, const float *bias, float *y, void *ws);
/* dx and/or dweight (either may be NULL; the caller sums dbias), dy transformed once. */
ct_status ct_wino_backward(ct_backend *b, const ct_conv2d_desc *d, const float *x,
                           const float *dy, const float *weight, float *dx, float *dweight,
                           void *ws);

#endif
