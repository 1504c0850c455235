/*
 * pool.c — a small fork/join thread pool for the CPU shards of a training step.
 *
 * A step forks once (every thread runs its shard), meets once at a barrier (gradients summed,
 * parameters updated in slices) and joins. At ~100 µs a step, the hand-off must cost well under
 * a microsecond on an idle machine, yet not burn the CPU that another runnable thread needs on
 * a busy one. So a waiting thread spins briefly with `pause`, then yields its time slice for a
 * while, then sleeps on a condition variable; a waker signals only when someone sleeps.
 */
#include "core/pool.h"
#include "core/core.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

#define CT_POOL_SPINS 4000      /* pause-loop iterations before yielding (~10-40 µs) */
#define CT_POOL_YIELDS 200      /* sched_yield rounds before sleeping */

struct ct_pool {
    int n;                      /* threads, the caller included */
    pthread_t *threads;         /* (n - 1) */
    _Atomic uint64_t generation; /* bumped by each run */
    _Atomic int remaining;      /* threads still running the current task */
    _Atomic int stop;
    _Atomic int sleepers;       /* threads blocked on wake */
    _Atomic uint64_t barrier_gen;
    _Atomic int barrier_count;
    void (*fn)(void *arg, int t, int n);
    void *arg;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    struct worker_arg { struct ct_pool *pool; int t; } *args;
};

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* Waits until *word != seen (or stop), spinning, then yielding, then sleeping. */
static void wait_change(ct_pool *p, _Atomic uint64_t *word, uint64_t seen) {
    for (int i = 0; i < CT_POOL_SPINS; i++) {
        if (atomic_load_explicit(word, memory_order_acquire) != seen || atomic_load(&p->stop))
            return;
        cpu_relax();
    }
    for (int i = 0; i < CT_POOL_YIELDS; i++) {
        if (atomic_load_explicit(word, memory_order_acquire) != seen || atomic_load(&p->stop))
            return;
        sched_yield();
    }
    pthread_mutex_lock(&p->lock);
    atomic_fetch_add(&p->sleepers, 1);
    while (atomic_load_explicit(word, memory_order_acquire) == seen && !atomic_load(&p->stop))
        pthread_cond_wait(&p->wake, &p->lock);
    atomic_fetch_sub(&p->sleepers, 1);
    pthread_mutex_unlock(&p->lock);
}

/* Publishes a change of a word others wait on: wakes sleepers if there are any. */
static void wake_all(ct_pool *p) {
    if (atomic_load(&p->sleepers) > 0) {
        pthread_mutex_lock(&p->lock);
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->lock);
    }
}

static void *worker_main(void *varg) {
    struct worker_arg *a = varg;
    ct_pool *p = a->pool;
    uint64_t seen = 0;
    for (;;) {
        wait_change(p, &p->generation, seen);
        if (atomic_load(&p->stop)) break;
        seen = atomic_load_explicit(&p->generation, memory_order_acquire);
        p->fn(p->arg, a->t, p->n);
        if (atomic_fetch_sub(&p->remaining, 1) == 1) {
            /* the caller may be asleep waiting for the last one */
            wake_all(p);
        }
    }
    return NULL;
}

ct_status ct_pool_create(int threads, ct_pool **out) {
    *out = NULL;
    if (threads < 1) return ct_fail(CT_ERR_INVALID, "thread pool: %d threads", threads);
    ct_pool *p = ct_calloc(1, sizeof *p, "thread pool");
    if (!p) return CT_ERR_NOMEM;
    p->n = threads;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->wake, NULL);
    p->threads = ct_calloc((size_t)threads, sizeof *p->threads, "thread pool");
    p->args = ct_calloc((size_t)threads, sizeof *p->args, "thread pool");
    if (!p->threads || !p->args) {
        ct_pool_free(p);
        return CT_ERR_NOMEM;
    }
    for (int t = 1; t < threads; t++) {
        p->args[t] = (struct worker_arg){p, t};
        if (pthread_create(&p->threads[t], NULL, worker_main, &p->args[t]) != 0) {
            p->n = t; /* join those started */
            ct_pool_free(p);
            return ct_fail(CT_ERR_NOMEM, "thread pool: cannot start thread %d", t);
        }
    }
    *out = p;
    return CT_OK;
}

void ct_pool_free(ct_pool *p) {
    if (!p) return;
    atomic_store(&p->stop, 1);
    pthread_mutex_lock(&p->lock);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->lock);
    for (int t = 1; t < p->n; t++) pthread_join(p->threads[t], NULL);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->wake);
    free(p->threads);
    free(p->args);
    free(p);
}

int ct_pool_size(const ct_pool *p) { return p ? p->n : 1; }

void ct_pool_run(ct_pool *p, void (*fn)(void *arg, int t, int n), void *arg) {
    if (!p || p->n == 1) {
        fn(arg, 0, 1);
        return;
    }
    p->fn = fn;
    p->arg = arg;
    atomic_store_explicit(&p->remaining, p->n - 1, memory_order_relaxed);
    atomic_fetch_add(&p->generation, 1);
    wake_all(p);
    fn(arg, 0, p->n);
    /* join: wait for the others (reuse the generation wait on a private counter) */
    for (int i = 0; atomic_load_explicit(&p->remaining, memory_order_acquire) > 0; i++) {
        if (i < CT_POOL_SPINS) {
            cpu_relax();
        } else if (i < CT_POOL_SPINS + CT_POOL_YIELDS) {
            sched_yield();
        } else {
            pthread_mutex_lock(&p->lock);
            atomic_fetch_add(&p->sleepers, 1);
            while (atomic_load_explicit(&p->remaining, memory_order_acquire) > 0)
                pthread_cond_wait(&p->wake, &p->lock);
            atomic_fetch_sub(&p->sleepers, 1);
            pthread_mutex_unlock(&p->lock);
        }
    }
}

void ct_pool_barrier(ct_pool *p) {
    if (!p || p->n == 1) return;
    uint64_t gen = atomic_load_explicit(&p->barrier_gen, memory_order_acquire);
    if (atomic_fetch_add(&p->barrier_count, 1) == p->n - 1) {
        atomic_store_explicit(&p->barrier_count, 0, memory_order_relaxed);
        atomic_fetch_add(&p->barrier_gen, 1);
        wake_all(p);
        return;
    }
    wait_change(p, &p->barrier_gen, gen);
}
