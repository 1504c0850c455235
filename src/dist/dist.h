/*
 * dist.h — data-parallel training across processes (DESIGN.md, module "dist"): the internal
 * side of the ct_dist handle whose public part is in ctrain.h.
 *
 * Every rank runs the same program on the same data with the same seed, so every rank holds
 * the same shuffled order; a batch of nb rows is split by rank (rows [nb*r/R, nb*(r+1)/R)),
 * each rank computes the gradient of its rows scaled by 1/nb, and one all-reduce (sum) over the
 * model's contiguous gradient buffer gives every rank the gradient of the global batch. The
 * optimizer then steps identically everywhere, so the parameters never need to be sent.
 *
 * The transport is MPI (dist_mpi.c, built when CMake finds MPI) or nothing (dist_none.c, which
 * refuses a launch under mpirun with more than one process). dist.c holds what both share.
 * MPI is initialised with MPI_THREAD_FUNNELED: only the thread that called ct_dist_init (the
 * training thread, which is thread 0 of the model's pool) makes MPI calls.
 *
 * A NULL ct_dist, or one of size 1, means a single process: every function below is then a
 * no-op that returns CT_OK, and training runs exactly as without this module.
 */
#ifndef CT_DIST_H
#define CT_DIST_H

#include "backend/backend.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

struct ct_dist {
    int rank, size;             /* in MPI_COMM_WORLD */
    int local_rank, local_size; /* among the ranks on this host */
    int shared_error;           /* the last failure was one that every rank saw (refused launch) */
    double timeout_s;           /* how long a collective may wait for the others (0: forever) */
    /* when the MPI collective being waited for will have waited its time limit (ct_time_s in
     * µs; 0: none, or no limit): read by ct_dist_overdue_s from another thread (a watchdog's) */
    _Atomic int64_t waiting_until_us;
    char description[256];      /* "2 ranks (1 per host × 2 hosts), Open MPI v4.1.4" */
    void *staging;              /* host copy of a device buffer being all-reduced (GPU ranks) */
    size_t staging_bytes;
    void *send_copy;            /* what an all-reduce sends from, when not in place (dist_mpi.c) */
    size_t send_copy_bytes;
    /* the device all-reduce (dist_device.c): the backend it was set up for, whether that
     * backend's collectives (NCCL) carry it, and a line saying how gradients are summed */
    ct_backend *coll_b;
    int coll_ready;
    double coll_timeout_s;      /* the timeout its communicator was set up with */
    char reduce_path[320];
    /* counters for benchmarks: gradient all-reduces, their bytes and seconds */
    int64_t reduce_calls, reduce_bytes;
    double reduce_s;
};

/* Is d more than one process? */
static inline int ct_dist_active(const ct_dist *d) { return d && d->size > 1; }

/* This rank's share [*lo, *hi) of n items split as evenly as possible by rank (the last ranks
 * get one less when n % size != 0): lo = ceil(n*rank/size), hi = ceil(n*(rank+1)/size). So
 * rank 0 holds item 0 of any n >= 1: a batch's row 0, whose shard alone updates batch norm's
 * running statistics, is always rank 0's, whose buffers are the ones kept (sync_buffers). */
void ct_dist_share(const ct_dist *d, int64_t n, int64_t *lo, int64_t *hi);

/* In-place sums over all ranks of host buffers (MPI_Allreduce with MPI_IN_PLACE; counts above
 * INT_MAX go in pieces). Every rank gets bitwise the same result. */
ct_status ct_dist_allreduce_sum_f32(ct_dist *d, float *buf, int64_t n);
ct_status ct_dist_allreduce_sum_f64(ct_dist *d, double *buf, int64_t n);
/* The sum of a device buffer of backend b (collective): in place on the CPU (its device memory
 * is host memory); on GPUs with the backend's collectives (NCCL) when ct_dist_use_backend set
 * them up, else copied through a host staging buffer (d2h, MPI all-reduce, h2d). */
ct_status ct_dist_allreduce_device_f32(ct_dist *d, ct_backend *b, float *dbuf, int64_t n);
/* *flag = 1 on every rank when it is non-zero on any rank (a collective "stop"). */
ct_status ct_dist_any(ct_dist *d, int *flag);
/* ct_dist_any that fails after timeout_s seconds (not d->timeout_s) without every rank's answer
 * (some rank is stuck elsewhere, e.g. in a library's own handshake): the caller must then end
 * the job. */
ct_status ct_dist_any_within(ct_dist *d, int *flag, double timeout_s);
/* Copies root's bytes to every rank. */
ct_status ct_dist_bcast(ct_dist *d, void *buf, size_t bytes, int root);
/* all[r] = rank r's value (all has size entries). */
ct_status ct_dist_allgather_u64(ct_dist *d, uint64_t value, uint64_t *all);

/* Makes *buf (of *have bytes) hold at least bytes, keeping it when it does (contents not kept):
 * the reused buffers above. */
ct_status ct_dist_reserve(void **buf, size_t *have, size_t bytes, const char *what);

/* ------------------------------------------------------------------------------------------ */
/* what ct_fit adds when training across ranks (dist_train.c); no-ops for one process         */

/* At the start: every rank has the same settings (cfg, except per-rank ones such as workers),
 * dataset, split, model spec, parameters, buffers and optimizer state; else all fail with
 * "rank R was launched with different settings than rank 0 (training settings: ...)". */
ct_status ct_dist_check_fit(ct_dist *d, ct_model *m, const ct_dataset *ds,
                            const int32_t *train_idx, int64_t n_train, const int32_t *val_idx,
                            int64_t n_val, const ct_train_config *cfg);
/* Rank 0's model buffers (batch norm's running statistics and batches tracked) to every rank:
 * only rank 0 updates them during training, as only the shard holding row 0 of a batch does. */
ct_status ct_dist_sync_buffers(ct_dist *d, ct_model *m);
/* At the end: the parameters, buffers and optimizer state are bitwise the same on every rank;
 * else every rank fails with a message naming the first rank that differs. */
ct_status ct_dist_check_in_sync(ct_dist *d, ct_model *m);

/* ------------------------------------------------------------------------------------------ */
/* the transport (dist_mpi.c or dist_none.c)                                                   */

/* Joins the job: fills rank, size, local rank/size and description. Called by ct_dist_init
 * only when the environment says this process was launched by an MPI launcher with size > 1. */
ct_status ct_dist_transport_init(ct_dist *d, int launched_size);
void ct_dist_transport_finalize(ct_dist *d);
void ct_dist_transport_abort(ct_dist *d, int exit_code);
ct_status ct_dist_transport_allreduce(ct_dist *d, void *buf, int64_t n, int is_double);
/* The collectives below fail (CT_ERR_NETWORK, leaving the operation pending: the job must then
 * be aborted) when the other ranks have not all joined within d->timeout_s seconds (> 0). */
/* MPI_MAX over the ranks, within timeout_s seconds (not d->timeout_s; 0: forever). */
ct_status ct_dist_transport_max_int(ct_dist *d, int *value, double timeout_s);
ct_status ct_dist_transport_bcast(ct_dist *d, void *buf, size_t bytes, int root);
ct_status ct_dist_transport_allgather_u64(ct_dist *d, uint64_t value, uint64_t *all);
/* "" when this build has MPI, else why not. */
const char *ct_dist_transport_unavailable(void);

#endif /* CT_DIST_H */
