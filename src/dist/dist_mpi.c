/*
 * dist_mpi.c — the MPI transport of dist.h (built when CMake finds MPI; -DCT_HAVE_MPI).
 *
 * MPI is initialised with MPI_THREAD_FUNNELED (only the training thread calls MPI) and errors
 * return codes (MPI_ERRORS_RETURN) that become ct_status messages. A rank that dies is not
 * handled here: Open MPI's mpirun ends the whole job when a process exits abnormally or without
 * MPI_Finalize, and a library error on one rank ends in ct_dist_abort (MPI_Abort), so the
 * surviving ranks never wait forever in an all-reduce. A rank that neither dies nor errs
 * (stopped, stuck, behind a network that drops packets) is caught by time: every collective
 * after start-up is the non-blocking call, polled until it completes or d->timeout_s has
 * passed, which fails it (MPI has no way to cancel it; the caller's MPI_Abort ends the job).
 *
 * Open MPI's non-blocking all-reduce (coll/libnbc, 4.1) chooses its algorithm by itself: a
 * binomial tree (reduce to one rank, then broadcast) below 4 ranks, below 64 KB and for every
 * in-place call, else reduce-scatter + allgather. The tree is right for the 1-int stop flag of
 * every step but slow for gradients: on 2 ranks it took 23 us at 100 KB and 775 us at 4.8 MB,
 * where libnbc's ring takes 14 and 348, as fast as the blocking MPI_Allreduce (bench_dist
 * --allreduce, bench/dist_step.c). So below 4 ranks ctrain asks for the ring (for 1 int with 2
 * or 3 ranks it takes as many rounds as the tree), and from 4 ranks a gradient of 64 KB or
 * more is sent from a copy, not in place, so that libnbc may take reduce-scatter + allgather.
 * Each of these sums every element once and sends the sum, so every rank gets the same bits.
 */
#include "dist/dist.h"
#include "core/core.h"

#include <limits.h>
#include <mpi.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* MPI counts are ints: longer buffers are reduced in pieces of this many elements. */
#define CT_MPI_MAX_COUNT ((int64_t)1 << 30)
/* From 4 ranks, all-reduces of this many bytes or more are sent from a copy (see the top). */
#define CT_MPI_COPY_MIN_BYTES 65536

static int g_we_initialised; /* MPI_Init was ours (else the program had initialised MPI) */
static MPI_Comm g_local = MPI_COMM_NULL;

static ct_status mpi_fail(int rc, const char *call) {
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(rc, msg, &len) != MPI_SUCCESS) len = 0;
    msg[len] = 0;
    return ct_fail(CT_ERR_NETWORK, "%s failed: %s (MPI error %d)", call, len ? msg : "unknown",
                   rc);
}

#define MPI_TRY(call, name)                             \
    do {                                                \
        int mpi_rc_ = (call);                           \
        if (mpi_rc_ != MPI_SUCCESS) return mpi_fail(mpi_rc_, name); \
    } while (0)

const char *ct_dist_transport_unavailable(void) { return ""; }

ct_status ct_dist_transport_init(ct_dist *d, int launched_size) {
    int inited = 0, provided = 0;
    MPI_Initialized(&inited);
    if (!inited) {
        /* libnbc's ring below 4 ranks (see the top); set before MPI reads its parameters, and
         * before any thread of ours runs. A user's OMPI_MCA_ variable wins; a setting in an
         * MCA parameter file does not (the environment comes first). */
        if (launched_size == 2 || launched_size == 3)
            setenv("OMPI_MCA_coll_libnbc_iallreduce_algorithm", "ring", 0);
        int rc = MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided);
        if (rc != MPI_SUCCESS) return ct_fail(CT_ERR_NETWORK, "MPI_Init_thread failed (MPI error %d)", rc);
        g_we_initialised = 1;
    } else {
        MPI_Query_thread(&provided);
    }
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    if (provided < MPI_THREAD_FUNNELED)
        return ct_fail(CT_ERR_UNSUPPORTED, "this MPI library provides thread level %d; ctrain "
                       "needs MPI_THREAD_FUNNELED (%d)", provided, MPI_THREAD_FUNNELED);
    MPI_TRY(MPI_Comm_rank(MPI_COMM_WORLD, &d->rank), "MPI_Comm_rank");
    MPI_TRY(MPI_Comm_size(MPI_COMM_WORLD, &d->size), "MPI_Comm_size");
    MPI_TRY(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, d->rank, MPI_INFO_NULL,
                                &g_local), "MPI_Comm_split_type");
    MPI_TRY(MPI_Comm_rank(g_local, &d->local_rank), "MPI_Comm_rank");
    MPI_TRY(MPI_Comm_size(g_local, &d->local_size), "MPI_Comm_size");
    int first_on_host = d->local_rank == 0, hosts = 0;
    MPI_TRY(MPI_Allreduce(&first_on_host, &hosts, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD),
            "MPI_Allreduce");
    char lib[MPI_MAX_LIBRARY_VERSION_STRING];
    int len = 0;
    if (MPI_Get_library_version(lib, &len) != MPI_SUCCESS) len = 0;
    lib[len] = 0;
    lib[strcspn(lib, ",\n")] = 0; /* "Open MPI v4.1.4, package: ..." → "Open MPI v4.1.4" */
    snprintf(d->description, sizeof d->description, "%d ranks on %d host%s (%s)", d->size, hosts,
             hosts == 1 ? "" : "s", len ? lib : "MPI");
    return CT_OK;
}

void ct_dist_transport_finalize(ct_dist *d) {
    (void)d;
    if (g_local != MPI_COMM_NULL) MPI_Comm_free(&g_local);
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (g_we_initialised && !finalized) MPI_Finalize();
    g_we_initialised = 0;
}

void ct_dist_transport_abort(ct_dist *d, int exit_code) {
    (void)d;
    MPI_Abort(MPI_COMM_WORLD, exit_code);
}

/* Waits for req, a collective named what, at most timeout_s seconds (0: forever); hint: the
 * limit is the ranks' timeout (d->timeout_s). MPI moves a non-blocking collective on only
 * inside MPI calls, so it polls without sleeping, as Open MPI's blocking calls spin; after the
 * first millisecond it yields the core between polls. */
static ct_status wait_within(ct_dist *d, MPI_Request *req, double timeout_s, const char *what,
                             int hint) {
    if (timeout_s <= 0.0) {
        MPI_TRY(MPI_Wait(req, MPI_STATUS_IGNORE), what);
        return CT_OK;
    }
    double t0 = ct_time_s();
    /* (for ct_dist_overdue_s: MPI_Test itself may not return, e.g. while a rank stopped in the
     * middle of writing into shared memory holds its reader) */
    atomic_store(&d->waiting_until_us, (int64_t)((t0 + timeout_s) * 1e6) + 1);
    /* tests: CTRAIN_TEST_STALL_COLLECTIVE=1 plays a poll that never returns (cli_mpi.sh) */
    static int stall = -1;
    if (stall < 0) stall = getenv("CTRAIN_TEST_STALL_COLLECTIVE") != NULL;
    while (stall) sleep(1000);
    ct_status s = CT_OK;
    for (;;) {
        int done = 0;
        int rc = MPI_Test(req, &done, MPI_STATUS_IGNORE);
        if (rc != MPI_SUCCESS) {
            s = mpi_fail(rc, what);
            break;
        }
        if (done) break;
        double waited = ct_time_s() - t0;
        if (waited > timeout_s) {
            s = ct_fail(CT_ERR_NETWORK, "%s did not finish within %g s: a rank has not joined it "
                        "(stopped, stuck or unreachable without an error)%s", what, timeout_s,
                        hint ? ". hint: the ranks' timeout is --dist-timeout "
                               "(ct_dist_set_timeout)" : "");
            break;
        }
        if (waited > 1e-3) sched_yield();
    }
    atomic_store(&d->waiting_until_us, 0);
    return s;
}

ct_status ct_dist_transport_allreduce(ct_dist *d, void *buf, int64_t n, int is_double) {
    size_t elem = is_double ? sizeof(double) : sizeof(float);
    char what[64];
    for (int64_t off = 0; off < n; off += CT_MPI_MAX_COUNT) {
        int64_t count = n - off < CT_MPI_MAX_COUNT ? n - off : CT_MPI_MAX_COUNT;
        char *piece = (char *)buf + (size_t)off * elem;
        size_t bytes = (size_t)count * elem;
        const void *send = MPI_IN_PLACE;
        if (d->size >= 4 && bytes >= CT_MPI_COPY_MIN_BYTES) { /* see the top */
            CT_TRY(ct_dist_reserve(&d->send_copy, &d->send_copy_bytes, bytes,
                                   "all-reduce send buffer"));
            memcpy(d->send_copy, piece, bytes);
            send = d->send_copy;
        }
        MPI_Request req;
        snprintf(what, sizeof what, "MPI_Iallreduce (sum of %lld %s)", (long long)count,
                 is_double ? "doubles" : "floats");
        MPI_TRY(MPI_Iallreduce(send, piece, (int)count, is_double ? MPI_DOUBLE : MPI_FLOAT,
                               MPI_SUM, MPI_COMM_WORLD, &req), what);
        CT_TRY(wait_within(d, &req, d->timeout_s, what, 1));
    }
    return CT_OK;
}

ct_status ct_dist_transport_max_int(ct_dist *d, int *value, double timeout_s) {
    MPI_Request req;
    MPI_TRY(MPI_Iallreduce(MPI_IN_PLACE, value, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD, &req),
            "MPI_Iallreduce (max of 1 int)");
    return wait_within(d, &req, timeout_s, "MPI_Iallreduce (max of 1 int)",
                       timeout_s == d->timeout_s);
}

ct_status ct_dist_transport_bcast(ct_dist *d, void *buf, size_t bytes, int root) {
    char what[64];
    snprintf(what, sizeof what, "MPI_Ibcast (%zu bytes from rank %d)", bytes, root);
    for (size_t off = 0; off < bytes; off += (size_t)CT_MPI_MAX_COUNT) {
        size_t count = bytes - off < (size_t)CT_MPI_MAX_COUNT ? bytes - off : (size_t)CT_MPI_MAX_COUNT;
        MPI_Request req;
        MPI_TRY(MPI_Ibcast((char *)buf + off, (int)count, MPI_BYTE, root, MPI_COMM_WORLD, &req),
                what);
        CT_TRY(wait_within(d, &req, d->timeout_s, what, 1));
    }
    return CT_OK;
}

ct_status ct_dist_transport_allgather_u64(ct_dist *d, uint64_t value, uint64_t *all) {
    MPI_Request req;
    MPI_TRY(MPI_Iallgather(&value, 1, MPI_UINT64_T, all, 1, MPI_UINT64_T, MPI_COMM_WORLD, &req),
            "MPI_Iallgather (1 uint64 per rank)");
    return wait_within(d, &req, d->timeout_s, "MPI_Iallgather (1 uint64 per rank)", 1);
}
