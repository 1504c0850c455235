/*
 * pool.h — a fork/join thread pool: the CPU shards of a training step run on it.
 */
#ifndef CT_POOL_H
#define CT_POOL_H

#include "ctrain.h"

typedef struct ct_pool ct_pool;

/* A pool of `threads` threads, the caller counting as thread 0 (threads - 1 are started). */
ct_status ct_pool_create(int threads, ct_pool **out);
void ct_pool_free(ct_pool *p); /* accepts NULL */
int ct_pool_size(const ct_pool *p); /* 1 for NULL */
/* Runs fn(arg, t, n) on every thread t < n (the caller runs t = 0) and returns when all have
 * finished. A NULL pool runs fn(arg, 0, 1) on the caller. */
void ct_pool_run(ct_pool *p, void (*fn)(void *arg, int t, int n), void *arg);
/* Inside fn: waits until every thread of the pool has reached it. */
void ct_pool_barrier(ct_pool *p);

#endif
