/*
 * cuda_coll.cu — gradients summed across the GPUs of an MPI job with NCCL (issue 7).
 *
 * NCCL is loaded with dlopen on first use, not linked: the plugin (and with it the CUDA
 * backend) must still load on a machine without libnccl, where multi-process jobs then
 * all-reduce through host memory and MPI (src/dist/dist_device.c decides, with every rank).
 * Once loaded, the library stays loaded for the life of the process (a thread NCCL started,
 * e.g. rank 0's bootstrap listener, may outlive a failed set-up). The communicator is made
 * from an ncclUniqueId that rank 0 creates and MPI broadcasts; one GPU per rank. The sum runs
 * in place on the compute stream, so it is ordered after the backward and before the optimizer
 * step like any other op, with no host synchronisation.
 *
 * Built only when CMake finds nccl.h (CT_HAVE_NCCL); otherwise the collective ops stay NULL.
 */
#include "backend/cuda/cuda_internal.h"

#include <dlfcn.h>
#include <nccl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The library loaded (the CUDA emulator of tests/cuda_emu builds this file with its own NCCL,
 * inside its plugin, and names that) */
#ifndef CT_NCCL_SONAME
#define CT_NCCL_SONAME "libnccl.so.2"
#endif

static_assert(sizeof(ncclUniqueId) == CT_COLL_ID_BYTES, "CT_COLL_ID_BYTES is ncclUniqueId's size");

/* The NCCL functions we call, resolved from CT_NCCL_SONAME. */
typedef struct {
    void *lib;
    decltype(&ncclGetVersion) get_version;
    decltype(&ncclGetUniqueId) get_unique_id;
    decltype(&ncclCommInitRank) comm_init_rank;
    decltype(&ncclAllReduce) all_reduce;
    decltype(&ncclCommDestroy) comm_destroy;
    decltype(&ncclGetErrorString) error_string;
    ncclComm_t comm;
    char name[32]; /* "NCCL 2.27.3" */
} nccl_api;

static nccl_api *api_of(ct_backend *b) { return (nccl_api *)ct_cuda_of(b)->coll; }

static ct_status nccl_fail(ct_backend *b, ncclResult_t r, const char *call) {
    nccl_api *a = api_of(b);
    const char *hint = "";
    if (r == ncclInvalidUsage) hint = "; hint: one GPU per rank (two ranks cannot share a GPU)";
    else if (r == ncclSystemError || r == ncclRemoteError)
        hint = "; hint: NCCL_DEBUG=WARN shows the network or peer that failed";
    return ct_fail(CT_ERR_DEVICE, "%s failed: %s (NCCL error %d%s)", call,
                   a && a->error_string ? a->error_string(r) : "?", (int)r, hint);
}

#define NCCL_CHECK(b, call)                                                                    \
    do {                                                                                       \
        ncclResult_t ct_nccl_r_ = (call);                                                      \
        if (ct_nccl_r_ != ncclSuccess) return nccl_fail(b, ct_nccl_r_, #call);                 \
    } while (0)

static ct_status coll_available(ct_backend *b) {
    ct_cuda *cb = ct_cuda_of(b);
    if (cb->coll) return CT_OK;
    void *lib = dlopen(CT_NCCL_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (!lib) return ct_fail(CT_ERR_DEVICE, "NCCL cannot be loaded: %s", dlerror());
    nccl_api *a = (nccl_api *)calloc(1, sizeof *a);
    if (!a) {
        dlclose(lib);
        return ct_fail(CT_ERR_NOMEM, "out of memory for the NCCL table");
    }
    a->lib = lib;
    const char *missing = NULL;
#define NCCL_SYM(field, name)                                                                  \
    if (!missing && !(a->field = (decltype(a->field))dlsym(lib, name))) missing = name
    NCCL_SYM(get_version, "ncclGetVersion");
    NCCL_SYM(get_unique_id, "ncclGetUniqueId");
    NCCL_SYM(comm_init_rank, "ncclCommInitRank");
    NCCL_SYM(all_reduce, "ncclAllReduce");
    NCCL_SYM(comm_destroy, "ncclCommDestroy");
    NCCL_SYM(error_string, "ncclGetErrorString");
#undef NCCL_SYM
    if (missing) {
        dlclose(lib);
        free(a);
        return ct_fail(CT_ERR_DEVICE, "NCCL (" CT_NCCL_SONAME ") lacks %s", missing);
    }
    int v = 0;
    if (a->get_version(&v) != ncclSuccess) v = 0;
    /* the version code: major*10000 + minor*100 + patch since 2.9, major*1000 + minor*100 +
     * patch before */
    if (v >= 10000) snprintf(a->name, sizeof a->name, "NCCL %d.%d.%d", v / 10000, v / 100 % 100, v % 100);
    else snprintf(a->name, sizeof a->name, "NCCL %d.%d.%d", v / 1000, v / 100 % 10, v % 100);
    cb->coll = a;
    return CT_OK;
}

static ct_status coll_id(ct_backend *b, void *id, size_t *bytes) {
    CT_TRY(coll_available(b));
    if (*bytes < sizeof(ncclUniqueId))
        return ct_fail(CT_ERR_INVALID, "coll_id: %zu bytes for an id of %zu", *bytes,
                       sizeof(ncclUniqueId));
    ncclUniqueId u;
    NCCL_CHECK(b, api_of(b)->get_unique_id(&u));
    memcpy(id, &u, sizeof u);
    *bytes = sizeof u;
    return CT_OK;
}

static ct_status coll_init(ct_backend *b, const void *id, size_t bytes, int nranks, int rank) {
    ct_cuda *cb = ct_cuda_of(b);
    CT_TRY(coll_available(b));
    nccl_api *a = api_of(b);
    if (a->comm) return ct_fail(CT_ERR_INVALID, "coll_init: already in a communicator");
    if (bytes != sizeof(ncclUniqueId) || nranks < 1 || rank < 0 || rank >= nranks)
        return ct_fail(CT_ERR_INVALID, "coll_init: bad id (%zu bytes) or rank %d of %d", bytes,
                       rank, nranks);
    ncclUniqueId u;
    memcpy(&u, id, sizeof u);
    CT_CUDA_BIND(cb);
    ncclComm_t comm = NULL; /* kept only on success */
    NCCL_CHECK(b, a->comm_init_rank(&comm, nranks, u, rank));
    a->comm = comm;
    return CT_OK;
}

static ct_status coll_allreduce_sum_f32(ct_backend *b, float *buf, int64_t n) {
    ct_cuda *cb = ct_cuda_of(b);
    nccl_api *a = api_of(b);
    if (!a || !a->comm) return ct_fail(CT_ERR_INVALID, "all-reduce before coll_init");
    if (n <= 0) return CT_OK;
    CT_CUDA_BIND(cb);
    NCCL_CHECK(b, a->all_reduce(buf, buf, (size_t)n, ncclFloat32, ncclSum, a->comm, cb->compute));
    return CT_OK;
}

static void coll_release(ct_backend *b) {
    nccl_api *a = api_of(b);
    if (!a || !a->comm) return;
    (void)cudaSetDevice(ct_cuda_of(b)->device);
    (void)cudaStreamSynchronize(ct_cuda_of(b)->compute);
    (void)a->comm_destroy(a->comm);
    a->comm = NULL;
}

static int coll_joined(ct_backend *b) {
    nccl_api *a = api_of(b);
    return a && a->comm;
}

static const char *coll_name(ct_backend *b) {
    nccl_api *a = api_of(b);
    return a ? a->name : "NCCL";
}

void ct_cuda_coll_free(ct_cuda *cb) {
    nccl_api *a = (nccl_api *)cb->coll;
    if (!a) return;
    coll_release(&cb->base);
    free(a); /* the library stays loaded (see the top) */
    cb->coll = NULL;
}

void ct_cuda_fill_coll_ops(ct_backend *b) {
    b->coll_available = coll_available;
    b->coll_id = coll_id;
    b->coll_init = coll_init;
    b->coll_joined = coll_joined;
    b->coll_allreduce_sum_f32 = coll_allreduce_sum_f32;
    b->coll_release = coll_release;
    b->coll_name = coll_name;
}
