/*
 * recording_backend.h — a one-thread CPU backend whose training steps can be recorded and
 * replayed as a GPU records and replays CUDA graphs (recording_backend.c; test_graph.c).
 */
#ifndef CT_TEST_RECORDING_BACKEND_H
#define CT_TEST_RECORDING_BACKEND_H

#include "backend/backend.h"

/* The backend, with graph ops (graphs 1) or without; refuse 1: its recorder refuses a conv op
 * (a recording that fails). Freed by ct_backend_free. */
ct_backend *recording_backend(int graphs, int refuse);
/* The recordings made, the replays launched and the ops refused so far. */
void recording_counts(ct_backend *b, int *recordings, int *launches, int *refused);

#endif /* CT_TEST_RECORDING_BACKEND_H */
