/*
 * nn_ref.h — the model gradient check (nn_ref.c) of test_nn_grad.c and test_attention.c.
 */
#ifndef CT_TEST_NN_REF_H
#define CT_TEST_NN_REF_H

#include "backend/backend.h"

/* a model spec on inputs (c, h, w), checked on a batch of n */
typedef struct {
    const char *spec;
    int c, h, w, n;
} grad_case;

/* Builds gc's model on the CPU backend cpu and checks its training loss against the double
 * forward, its gradient against that forward's central differences and against its own float
 * loss's (cmocka failures). */
void nn_grad_check(ct_backend *cpu, const grad_case *gc);

#endif
