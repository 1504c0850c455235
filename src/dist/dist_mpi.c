/*
 * dist_mpi.c — the MPI transport of dist.h (built when CMake finds MPI; -DCT_HAVE_MPI).
 *
 * MPI is initialised with MPI_THREAD_FUNNELED (only the training thread calls MPI) and errors
 * return codes (MPI_ERRORS_RETURN) that become ct_status messages. A rank that dies is not
 * handled here: Open MPI's mpirun ends the whole job when a process exits abnormally or without
 * MPI_Finalize, and a library error on one rank ends in ct_dist_abort (MPI_Abort), so the
 * surviving ranks never wait forever in an all-reduce. A rank that neither dies nor errs
 * (stopped, stuck, behind a network that drops packets) is caught by time: every collective is
 * the non-blocking call, polled until it completes or d->timeout_s has passed, which fails it
 * (MPI has no way to cancel it; the caller's MPI_Abort ends the job).
 */
#include "dist/dist.h"
#include "core/core.h"

#include <limits.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* MPI counts are ints: longer buffers are reduced in pieces of this many elements. */
#define CT_MPI_MAX_COUNT ((int64_t)1 << 30)

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
    (void)launched_size;
    int inited = 0, provided = 0;
    MPI_Initialized(&inited);
    if (!inited) {
        /* Open MPI's non-blocking all-reduce (libnbc) takes, in place and below 4 ranks, a
         * binomial tree that costs 1.7x the blocking call at 100 KB and 2.6x at 4.8 MB; its
         * ring matches the blocking call and gives every rank the same bits (each element is
         * summed once, then sent). An OMPI_MCA_ setting of the user's wins. */
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

/* Waits for req, a collective named what, at most timeout_s seconds (0: forever). It spins for
 * the first millisecond, as a blocking MPI call would (a step's all-reduce is tens of
 * microseconds), then sleeps 50 us between polls (a rank waiting for rank 0's checkpoint). */
static ct_status wait_within(MPI_Request *req, double timeout_s, const char *what) {
    if (timeout_s <= 0.0) {
        MPI_TRY(MPI_Wait(req, MPI_STATUS_IGNORE), what);
        return CT_OK;
    }
    double t0 = ct_time_s();
    for (;;) {
        int done = 0;
        MPI_TRY(MPI_Test(req, &done, MPI_STATUS_IGNORE), what);
        if (done) return CT_OK;
        double waited = ct_time_s() - t0;
        if (waited > timeout_s)
            return ct_fail(CT_ERR_NETWORK, "%s did not finish within %g s: a rank has not joined "
                           "it (stopped, stuck or unreachable without an error). hint: the ranks' timeout is "
                           "--dist-timeout (ct_dist_set_timeout)", what, timeout_s);
        if (waited > 1e-3) {
            struct timespec pause = {0, 50000};
            nanosleep(&pause, NULL);
        }
    }
}

ct_status ct_dist_transport_allreduce(ct_dist *d, void *buf, int64_t n, int is_double) {
    size_t elem = is_double ? sizeof(double) : sizeof(float);
    char what[64];
    for (int64_t off = 0; off < n; off += CT_MPI_MAX_COUNT) {
        int64_t count = n - off < CT_MPI_MAX_COUNT ? n - off : CT_MPI_MAX_COUNT;
        MPI_Request req;
        snprintf(what, sizeof what, "MPI_Iallreduce (sum of %lld %s)", (long long)count,
                 is_double ? "doubles" : "floats");
        MPI_TRY(MPI_Iallreduce(MPI_IN_PLACE, (char *)buf + (size_t)off * elem, (int)count,
                               is_double ? MPI_DOUBLE : MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &req),
                what);
        CT_TRY(wait_within(&req, d->timeout_s, what));
    }
    return CT_OK;
}

ct_status ct_dist_transport_max_int(ct_dist *d, int *value, double timeout_s) {
    (void)d;
    MPI_Request req;
    MPI_TRY(MPI_Iallreduce(MPI_IN_PLACE, value, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD, &req),
            "MPI_Iallreduce (max of 1 int)");
    return wait_within(&req, timeout_s, "MPI_Iallreduce (max of 1 int)");
}

ct_status ct_dist_transport_bcast(ct_dist *d, void *buf, size_t bytes, int root) {
    char what[64];
    snprintf(what, sizeof what, "MPI_Ibcast (%zu bytes from rank %d)", bytes, root);
    for (size_t off = 0; off < bytes; off += (size_t)CT_MPI_MAX_COUNT) {
        size_t count = bytes - off < (size_t)CT_MPI_MAX_COUNT ? bytes - off : (size_t)CT_MPI_MAX_COUNT;
        MPI_Request req;
        MPI_TRY(MPI_Ibcast((char *)buf + off, (int)count, MPI_BYTE, root, MPI_COMM_WORLD, &req),
                what);
        CT_TRY(wait_within(&req, d->timeout_s, what));
    }
    return CT_OK;
}

ct_status ct_dist_transport_allgather_u64(ct_dist *d, uint64_t value, uint64_t *all) {
    MPI_Request req;
    MPI_TRY(MPI_Iallgather(&value, 1, MPI_UINT64_T, all, 1, MPI_UINT64_T, MPI_COMM_WORLD, &req),
            "MPI_Iallgather (1 uint64 per rank)");
    return wait_within(&req, d->timeout_s, "MPI_Iallgather (1 uint64 per rank)");
}
