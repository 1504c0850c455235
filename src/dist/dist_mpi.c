/*
 * dist_mpi.c — the MPI transport of dist.h (built when CMake finds MPI; -DCT_HAVE_MPI).
 *
 * MPI is initialised with MPI_THREAD_FUNNELED (only the training thread calls MPI) and errors
 * return codes (MPI_ERRORS_RETURN) that become ct_status messages. A rank that dies is not
 * handled here: Open MPI's mpirun ends the whole job when a process exits abnormally or without
 * MPI_Finalize, and a library error on one rank ends in ct_dist_abort (MPI_Abort), so the
 * surviving ranks never wait forever in an all-reduce.
 */
#include "dist/dist.h"
#include "core/core.h"

#include <limits.h>
#include <mpi.h>
#include <stdio.h>
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

ct_status ct_dist_transport_allreduce(ct_dist *d, void *buf, int64_t n, int is_double) {
    (void)d;
    size_t elem = is_double ? sizeof(double) : sizeof(float);
    for (int64_t off = 0; off < n; off += CT_MPI_MAX_COUNT) {
        int64_t count = n - off < CT_MPI_MAX_COUNT ? n - off : CT_MPI_MAX_COUNT;
        MPI_TRY(MPI_Allreduce(MPI_IN_PLACE, (char *)buf + (size_t)off * elem, (int)count,
                              is_double ? MPI_DOUBLE : MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD),
                "MPI_Allreduce");
    }
    return CT_OK;
}

ct_status ct_dist_transport_max_int(ct_dist *d, int *value, double timeout_s) {
    (void)d;
    if (timeout_s <= 0.0) {
        MPI_TRY(MPI_Allreduce(MPI_IN_PLACE, value, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD),
                "MPI_Allreduce");
        return CT_OK;
    }
    /* the same reduction, polled: a rank that never joins makes this fail instead of wait */
    MPI_Request req;
    MPI_TRY(MPI_Iallreduce(MPI_IN_PLACE, value, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD, &req),
            "MPI_Iallreduce");
    double deadline = ct_time_s() + timeout_s;
    for (;;) {
        int done = 0;
        MPI_TRY(MPI_Test(&req, &done, MPI_STATUS_IGNORE), "MPI_Test");
        if (done) return CT_OK;
        if (ct_time_s() > deadline)
            return ct_fail(CT_ERR_DEVICE, "the other ranks did not answer within %g s", timeout_s);
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
    }
}

ct_status ct_dist_transport_bcast(ct_dist *d, void *buf, size_t bytes, int root) {
    (void)d;
    for (size_t off = 0; off < bytes; off += (size_t)CT_MPI_MAX_COUNT) {
        size_t count = bytes - off < (size_t)CT_MPI_MAX_COUNT ? bytes - off : (size_t)CT_MPI_MAX_COUNT;
        MPI_TRY(MPI_Bcast((char *)buf + off, (int)count, MPI_BYTE, root, MPI_COMM_WORLD),
                "MPI_Bcast");
    }
    return CT_OK;
}

ct_status ct_dist_transport_allgather_u64(ct_dist *d, uint64_t value, uint64_t *all) {
    (void)d;
    MPI_TRY(MPI_Allgather(&value, 1, MPI_UINT64_T, all, 1, MPI_UINT64_T, MPI_COMM_WORLD),
            "MPI_Allgather");
    return CT_OK;
}
