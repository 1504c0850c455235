/*
 * dist_none.c — the transport of a build without MPI: a single process only. Launched by
 * mpirun with more than one process, ct_dist_init refuses instead of running N independent
 * trainings that would each believe they are the whole job.
 */
#include "dist/dist.h"
#include "core/core.h"

#define CT_NO_MPI_REASON                                                                       \
    "built without MPI (CTRAIN_MPI=OFF, or no MPI found: install Debian's libopenmpi-dev and "  \
    "openmpi-bin, then rebuild)"

const char *ct_dist_transport_unavailable(void) { return CT_NO_MPI_REASON; }

ct_status ct_dist_transport_init(ct_dist *d, int launched_size) {
    if (launched_size > 1)
        return ct_fail(CT_ERR_UNSUPPORTED, "launched as %d processes (mpirun -np %d), but this "
                       "ctrain was %s; run it without mpirun", launched_size, launched_size,
                       CT_NO_MPI_REASON);
    d->rank = 0; /* a PMIx launch of unknown size: run as a single process */
    d->size = 1;
    return CT_OK;
}

/* Never reached with size > 1: ct_dist_init returns no handle in this build. */
void ct_dist_transport_finalize(ct_dist *d) { (void)d; }
void ct_dist_transport_abort(ct_dist *d, int exit_code) { (void)d; (void)exit_code; }

ct_status ct_dist_transport_allreduce(ct_dist *d, void *buf, int64_t n, int is_double) {
    (void)d; (void)buf; (void)n; (void)is_double;
    return ct_fail(CT_ERR_UNSUPPORTED, "%s", CT_NO_MPI_REASON);
}

ct_status ct_dist_transport_max_int(ct_dist *d, int *value, double timeout_s) {
    (void)d; (void)value; (void)timeout_s;
    return ct_fail(CT_ERR_UNSUPPORTED, "%s", CT_NO_MPI_REASON);
}

ct_status ct_dist_transport_bcast(ct_dist *d, void *buf, size_t bytes, int root) {
    (void)d; (void)buf; (void)bytes; (void)root;
    return ct_fail(CT_ERR_UNSUPPORTED, "%s", CT_NO_MPI_REASON);
}

ct_status ct_dist_transport_allgather_u64(ct_dist *d, uint64_t value, uint64_t *all) {
    (void)d; (void)value; (void)all;
    return ct_fail(CT_ERR_UNSUPPORTED, "%s", CT_NO_MPI_REASON);
}
