/*
 * dist_device.c — how the ranks sum a gradient buffer that lives on their device.
 *
 * CPU ranks: MPI_Allreduce in place (the device's memory is host memory). GPU ranks: the
 * backend's collectives, i.e. NCCL, when every rank can load them; rank 0 makes the
 * communicator's id and MPI broadcasts it. Where NCCL cannot be used (not built, libnccl
 * missing, two ranks on one GPU, CTRAIN_NCCL=0) every rank falls back together to copying the
 * buffer to the host, MPI_Allreduce, and copying it back; ct_dist_reduce_path says which and
 * why. Every decision is agreed on by all ranks before anyone acts on it, so no rank waits in a
 * collective that another skipped.
 */
#include "dist/dist.h"
#include "core/core.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* How long the ranks wait for each other at the end of NCCL's set-up, at least (the ranks'
 * timeout when longer; none when that is none). */
#define CT_COLL_SETUP_TIMEOUT_S 120.0

const char *ct_dist_reduce_path(const ct_dist *d) { return d ? d->reduce_path : ""; }

/* Every rank goes through host memory; why: this rank's reason, or NULL when another rank's. */
static ct_status use_host_path(ct_dist *d, const char *why) {
    snprintf(d->reduce_path, sizeof d->reduce_path, "MPI_Allreduce through host memory (NCCL not "
             "used: %s)", why ? why : "another rank cannot use it");
    return CT_OK;
}

ct_status ct_dist_use_backend(ct_dist *d, ct_backend *b) {
    if (!ct_dist_active(d) || !b) return CT_OK;
    /* 0. already set up for b on every rank? (b's own state says whether it is still in a
     * communicator: the pointer alone could be a new backend at a freed one's address) */
    int again = d->coll_b == b && (!d->coll_ready || (b->coll_joined && b->coll_joined(b) &&
                                                      d->coll_timeout_s == d->timeout_s));
    int redo = !again;
    CT_TRY(ct_dist_any(d, &redo));
    if (!redo) return CT_OK;
    if (b->coll_joined && b->coll_joined(b)) b->coll_release(b); /* b is alive: ours to leave */
    d->coll_b = b;
    d->coll_ready = 0;
    /* 1. can every rank load the library? (a CPU rank cannot; each rank takes part in every
     * collective below whatever its device, so that none waits for another) */
    char why[256] = "";
    const char *off = getenv("CTRAIN_NCCL");
    if (b->host_is_device) snprintf(why, sizeof why, "the %s backend sums in host memory", b->name);
    else if (off && strcmp(off, "0") == 0) snprintf(why, sizeof why, "CTRAIN_NCCL=0");
    else if (!b->coll_available) snprintf(why, sizeof why, "the %s backend has no collectives "
                                          "in this build", b->name);
    else if (b->coll_available(b) != CT_OK) snprintf(why, sizeof why, "%s", ct_last_error());
    int any = why[0] != 0;
    CT_TRY(ct_dist_any(d, &any));
    if (any && b->host_is_device) {
        snprintf(d->reduce_path, sizeof d->reduce_path, "MPI_Allreduce in host memory");
        return CT_OK;
    }
    if (any) return use_host_path(d, why[0] ? why : NULL);
    /* 2. rank 0's id to everyone (with whether rank 0 could make one) */
    struct { int32_t failed, bytes; uint8_t id[CT_COLL_ID_BYTES]; } msg;
    memset(&msg, 0, sizeof msg);
    if (d->rank == 0) {
        size_t bytes = sizeof msg.id;
        if (b->coll_id(b, msg.id, &bytes) != CT_OK) {
            msg.failed = 1;
            snprintf(why, sizeof why, "%s", ct_last_error());
        }
        msg.bytes = (int32_t)bytes;
    }
    CT_TRY(ct_dist_bcast(d, &msg, sizeof msg, 0));
    if (msg.failed) return use_host_path(d, why[0] ? why : NULL);
    /* 3. join the communicator. NCCL's set-up waits for every rank: if this one failed while
     * others are still inside it, they never reach the agreement, so it is bounded in time and
     * a timeout is an error that ends the job (the caller aborts) rather than a hang. When
     * every rank answers and any failed, all leave the communicator and use the host path. */
    int failed = b->coll_init(b, msg.id, (size_t)msg.bytes, d->size, d->rank, d->timeout_s) != CT_OK;
    if (failed) snprintf(why, sizeof why, "%s", ct_last_error());
    any = failed;
    double setup_s = d->timeout_s <= 0 ? 0 /* forever */
                     : d->timeout_s > CT_COLL_SETUP_TIMEOUT_S ? d->timeout_s : CT_COLL_SETUP_TIMEOUT_S;
    if (ct_dist_any_within(d, &any, setup_s) != CT_OK)
        return ct_fail(CT_ERR_DEVICE, "NCCL set-up: %s, and %s", failed ? why : "this rank joined",
                       ct_last_error());
    if (any) {
        if (!failed) b->coll_release(b);
        return use_host_path(d, failed ? why : NULL);
    }
    d->coll_ready = 1;
    d->coll_timeout_s = d->timeout_s;
    snprintf(d->reduce_path, sizeof d->reduce_path, "%s on the GPUs (one per rank)",
             b->coll_name ? b->coll_name(b) : "device collectives");
    return CT_OK;
}

ct_status ct_dist_allreduce_device_f32(ct_dist *d, ct_backend *b, float *dbuf, int64_t n) {
    if (!ct_dist_active(d) || n <= 0) return CT_OK;
    double t0 = ct_time_s();
    size_t bytes = (size_t)n * sizeof(float);
    ct_status s;
    if (b->host_is_device) {
        s = ct_dist_transport_allreduce(d, dbuf, n, 0);
    } else if (d->coll_ready && d->coll_b == b) {
        /* queued on the compute stream: reduce_s below counts the queueing, not the transfer */
        s = b->coll_allreduce_sum_f32(b, dbuf, n);
    } else {
        CT_TRY(ct_dist_reserve(&d->staging, &d->staging_bytes, bytes, "all-reduce staging buffer"));
        CT_TRY(b->d2h(b, d->staging, dbuf, bytes));
        CT_TRY(ct_dist_transport_allreduce(d, d->staging, n, 0));
        s = b->h2d(b, dbuf, d->staging, bytes);
    }
    d->reduce_calls++;
    d->reduce_bytes += (int64_t)bytes;
    d->reduce_s += ct_time_s() - t0;
    return s;
}
