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
 * A network error does not fail the call that queued the all-reduce: NCCL reports it later
 * (ncclCommGetAsyncError), while its kernels wait for a peer that will not answer, and with
 * them the stream, every host wait on it and, once the launch queue is full, the host thread
 * queueing work. So while in a communicator a watchdog thread polls for that error, as
 * PyTorch's and XLA's do; when it comes, the watchdog aborts the communicator (ncclCommAbort:
 * the kernels return, the stream moves on) and the next all-reduce or host wait fails with the
 * error, which ends the job (the caller's MPI_Abort). A peer that dies on this host is not
 * reported by NCCL; mpirun ends the job then. A peer that hangs without an error (stopped,
 * stuck, behind a link that drops packets) is caught by time, as PyTorch's timeout per
 * collective does: the watchdog also aborts when an all-reduce has not finished timeout_s
 * after the GPU reached it (events recorded before and after each say when it started and
 * whether it has finished; the work queued before it does not count), or when the thread
 * queueing one has been inside ncclAllReduce that long.
 *
 * Built only when CMake finds nccl.h (CT_HAVE_NCCL); otherwise the collective ops stay NULL.
 */
#include "backend/cuda/cuda_internal.h"

#include <dlfcn.h>
#include <errno.h>
#include <nccl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The library loaded (the CUDA emulator of tests/cuda_emu builds this file with its own NCCL,
 * inside its plugin, and names that) */
#ifndef CT_NCCL_SONAME
#define CT_NCCL_SONAME "libnccl.so.2"
#endif

static_assert(sizeof(ncclUniqueId) == CT_COLL_ID_BYTES, "CT_COLL_ID_BYTES is ncclUniqueId's size");

/* How often the watchdog asks NCCL for an asynchronous error, and how long it waits for the
 * thread that may be queueing an all-reduce before it aborts anyway (that thread is then stuck
 * inside NCCL, and only the abort frees it). */
#define CT_NCCL_WATCH_MS 200
#define CT_NCCL_ABORT_WAIT_MS 2000
/* All-reduces timed at once: a host that has queued this many unfinished ones waits for the
 * oldest before queueing another (ring_room), so that every one is timed. */
#define CT_NCCL_TIMED 256

/* The NCCL functions we call, resolved from CT_NCCL_SONAME. */
typedef struct {
    void *lib;
    decltype(&ncclGetVersion) get_version;
    decltype(&ncclGetUniqueId) get_unique_id;
    decltype(&ncclCommInitRank) comm_init_rank;
    decltype(&ncclAllReduce) all_reduce;
    decltype(&ncclCommDestroy) comm_destroy;
    decltype(&ncclCommAbort) comm_abort;
    decltype(&ncclCommGetAsyncError) get_async_error;
    decltype(&ncclGetErrorString) error_string;
    ncclComm_t comm;
    char name[32]; /* "NCCL 2.27.3" */
    int device;
    double timeout_s;         /* an all-reduce unfinished this long aborts comm (0: no limit) */
    /* the all-reduces queued and not yet seen finished, oldest first: slot i % CT_NCCL_TIMED
     * for i in [tail, head) holds an event recorded before it and one after it, and when the
     * watchdog first saw the one before it happen (0: not yet). The clock starts there, not at
     * the queueing: the host may run far ahead of the GPU, and the compute queued before an
     * all-reduce is not its wait. The queueing thread advances head, the watchdog tail
     * (atomics). */
    cudaEvent_t start[CT_NCCL_TIMED], done[CT_NCCL_TIMED];
    int64_t started_ns[CT_NCCL_TIMED];
    uint64_t head, tail;
    int64_t calling_ns;       /* when the thread queueing one entered ncclAllReduce (atomic) */
    /* the watchdog, while in a communicator */
    pthread_t watchdog;
    int watching;             /* the thread runs (joined by coll_release) */
    pthread_mutex_t mu;       /* held while an all-reduce is queued, and for the abort */
    pthread_mutex_t wmu;      /* guards stop */
    pthread_cond_t wake;      /* coll_release tells the watchdog to stop */
    int stop;
    int aborted;              /* the watchdog aborted comm (atomic: set after why) */
    char why[320];            /* then: the error the job ends with */
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
    pthread_mutex_init(&a->mu, NULL);
    pthread_mutex_init(&a->wmu, NULL);
    pthread_condattr_t ca; /* the watchdog's sleeps, on a clock that is never set back */
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&a->wake, &ca);
    pthread_condattr_destroy(&ca);
    const char *missing = NULL;
#define NCCL_SYM(field, name)                                                                  \
    if (!missing && !(a->field = (decltype(a->field))dlsym(lib, name))) missing = name
    NCCL_SYM(get_version, "ncclGetVersion");
    NCCL_SYM(get_unique_id, "ncclGetUniqueId");
    NCCL_SYM(comm_init_rank, "ncclCommInitRank");
    NCCL_SYM(all_reduce, "ncclAllReduce");
    NCCL_SYM(comm_destroy, "ncclCommDestroy");
    NCCL_SYM(comm_abort, "ncclCommAbort");
    NCCL_SYM(get_async_error, "ncclCommGetAsyncError");
    NCCL_SYM(error_string, "ncclGetErrorString");
#undef NCCL_SYM
    if (missing) {
        dlclose(lib);
        pthread_mutex_destroy(&a->mu);
        pthread_mutex_destroy(&a->wmu);
        pthread_cond_destroy(&a->wake);
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

static int64_t mono_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* The watchdog's abort, with the reason (cause, then hint): under mu when the queueing thread
 * lets go of it within CT_NCCL_ABORT_WAIT_MS, else without (that thread is stuck in NCCL). */
static void watchdog_abort(nccl_api *a, const char *cause, const char *hint) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    t.tv_sec += CT_NCCL_ABORT_WAIT_MS / 1000;
    int locked = pthread_mutex_clocklock(&a->mu, CLOCK_MONOTONIC, &t) == 0;
    snprintf(a->why, sizeof a->why, "%s%s; the communicator was aborted%s", cause,
             locked ? "" : "; it held this rank up in ncclAllReduce", hint);
    /* before the abort: the all-reduce the abort lets go of then reports it */
    __atomic_store_n(&a->aborted, 1, __ATOMIC_RELEASE);
    /* Unlocked, the abort frees the communicator under the thread stuck in NCCL, which may not
     * live to report why: the one place the library writes to stderr itself. */
    if (!locked) fprintf(stderr, "ctrain: %s\n", a->why);
    (void)a->comm_abort(a->comm);
    if (locked) pthread_mutex_unlock(&a->mu);
}

/* Why to abort now, or 0: NCCL's asynchronous error, or an all-reduce unfinished too long. */
static int watchdog_check(nccl_api *a, char *cause, size_t bytes, const char **hint) {
    ncclResult_t r = ncclSuccess;
    if (a->get_async_error(a->comm, &r) == ncclSuccess && r != ncclSuccess &&
        r != ncclInProgress) {
        snprintf(cause, bytes, "NCCL reported an error while the GPUs were summing gradients: "
                 "%s (NCCL error %d)", a->error_string(r), (int)r);
        *hint = ". hint: NCCL_DEBUG=WARN shows the network or peer that failed";
        return 1;
    }
    if (a->timeout_s <= 0) return 0;
    /* (one over about a year, 3e7 s, counts as that: its nanoseconds must fit in 64 bits) */
    int64_t now = mono_ns(), limit = (int64_t)((a->timeout_s < 3e7 ? a->timeout_s : 3e7) * 1e9);
    int64_t calling = __atomic_load_n(&a->calling_ns, __ATOMIC_ACQUIRE);
    int late = calling && now - calling > limit;
    uint64_t head = __atomic_load_n(&a->head, __ATOMIC_ACQUIRE), tail = a->tail;
    for (; !late && tail != head; tail++) { /* the finished ones leave; the oldest left counts */
        int k = (int)(tail % CT_NCCL_TIMED);
        cudaError_t q = cudaEventQuery(a->done[k]);
        if (q == cudaSuccess) continue;
        if (q != cudaErrorNotReady) break; /* (the host's next wait reports it) */
        if (!a->started_ns[k] && cudaEventQuery(a->start[k]) == cudaSuccess) a->started_ns[k] = now;
        late = a->started_ns[k] && now - a->started_ns[k] > limit;
        break;
    }
    __atomic_store_n(&a->tail, tail, __ATOMIC_RELEASE);
    if (!late) return 0;
    snprintf(cause, bytes, "an all-reduce of the gradients has not finished within %g s and NCCL "
             "reports no error: another rank is stopped, stuck or unreachable", a->timeout_s);
    *hint = ". hint: the ranks' timeout is --dist-timeout (ct_dist_set_timeout)";
    return 1;
}

/* The watchdog: every CT_NCCL_WATCH_MS, NCCL's asynchronous error and the age of the all-reduce
 * in flight; on an error or an all-reduce past the timeout, the communicator is aborted and
 * why kept. */
static void *watchdog_main(void *arg) {
    nccl_api *a = (nccl_api *)arg;
    (void)cudaSetDevice(a->device); /* for cudaEventQuery */
    pthread_mutex_lock(&a->wmu);
    while (!a->stop) {
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t); /* wake's clock (coll_available) */
        t.tv_nsec += CT_NCCL_WATCH_MS * 1000000L;
        t.tv_sec += t.tv_nsec / 1000000000L;
        t.tv_nsec %= 1000000000L;
        (void)pthread_cond_timedwait(&a->wake, &a->wmu, &t);
        if (a->stop) break;
        char cause[224];
        const char *hint = "";
        if (!watchdog_check(a, cause, sizeof cause, &hint)) continue;
        watchdog_abort(a, cause, hint);
        break;
    }
    pthread_mutex_unlock(&a->wmu);
    return NULL;
}

static int is_aborted(nccl_api *a) { return __atomic_load_n(&a->aborted, __ATOMIC_ACQUIRE); }
static void coll_release(ct_backend *b);

/* A slot for the next all-reduce. With CT_NCCL_TIMED of them unfinished (a host far ahead of
 * a fast model's steps, the watchdog letting finished ones go only every CT_NCCL_WATCH_MS),
 * waits for the oldest to finish and the watchdog to let it go: an all-reduce left untimed
 * could hang, and hold every later one, unseen. A hang of the oldest is the watchdog's to
 * catch; its abort ends the wait. */
static ct_status ring_room(nccl_api *a) {
    uint64_t h = a->head; /* (only this thread moves head) */
    if (h - __atomic_load_n(&a->tail, __ATOMIC_ACQUIRE) < CT_NCCL_TIMED) return CT_OK;
    cudaError_t e = cudaEventSynchronize(a->done[h % CT_NCCL_TIMED]); /* all-reduce h - T */
    while (e == cudaSuccess && !is_aborted(a) &&
           h - __atomic_load_n(&a->tail, __ATOMIC_ACQUIRE) >= CT_NCCL_TIMED) {
        pthread_mutex_lock(&a->wmu); /* a poll now, not at the next tick */
        pthread_cond_signal(&a->wake);
        pthread_mutex_unlock(&a->wmu);
        struct timespec t = {0, 20000};
        nanosleep(&t, NULL);
    }
    if (e != cudaSuccess && !is_aborted(a)) CT_CUDA_CHECK(e);
    return CT_OK;
}

/* Stops the watchdog; after it, a->aborted says whether comm is already gone. */
static void watchdog_stop(nccl_api *a) {
    if (!a->watching) return;
    pthread_mutex_lock(&a->wmu);
    a->stop = 1;
    pthread_cond_signal(&a->wake);
    pthread_mutex_unlock(&a->wmu);
    pthread_join(a->watchdog, NULL);
    a->watching = 0;
}

static ct_status coll_init(ct_backend *b, const void *id, size_t bytes, int nranks, int rank,
                           double timeout_s) {
    ct_cuda *cb = ct_cuda_of(b);
    CT_TRY(coll_available(b));
    nccl_api *a = api_of(b);
    if (a->comm && is_aborted(a)) coll_release(b); /* what is left of an aborted one */
    if (a->comm) return ct_fail(CT_ERR_INVALID, "coll_init: already in a communicator");
    if (bytes != sizeof(ncclUniqueId) || nranks < 1 || rank < 0 || rank >= nranks ||
        !(timeout_s >= 0 && timeout_s <= 1e300))
        return ct_fail(CT_ERR_INVALID, "coll_init: bad id (%zu bytes), rank %d of %d or timeout "
                       "%g s", bytes, rank, nranks, timeout_s);
    ncclUniqueId u;
    memcpy(&u, id, sizeof u);
    CT_CUDA_BIND(cb);
    for (int i = 0; i < CT_NCCL_TIMED; i++) {
        if (!a->start[i]) CT_CUDA_CHECK(cudaEventCreateWithFlags(&a->start[i], cudaEventDisableTiming));
        if (!a->done[i]) CT_CUDA_CHECK(cudaEventCreateWithFlags(&a->done[i], cudaEventDisableTiming));
    }
    ncclComm_t comm = NULL; /* kept only on success */
    NCCL_CHECK(b, a->comm_init_rank(&comm, nranks, u, rank));
    a->comm = comm;
    a->device = cb->device;
    a->timeout_s = timeout_s;
    a->head = a->tail = 0;
    a->calling_ns = 0;
    a->stop = 0;
    __atomic_store_n(&a->aborted, 0, __ATOMIC_RELAXED);
    a->why[0] = 0;
    int e = pthread_create(&a->watchdog, NULL, watchdog_main, a);
    if (e != 0) {
        (void)a->comm_destroy(comm);
        a->comm = NULL;
        return ct_fail(CT_ERR_DEVICE, "NCCL: cannot start the thread that watches for its "
                       "errors: %s", strerror(e));
    }
    a->watching = 1;
    return CT_OK;
}

static ct_status coll_allreduce_sum_f32(ct_backend *b, float *buf, int64_t n) {
    ct_cuda *cb = ct_cuda_of(b);
    nccl_api *a = api_of(b);
    if (!a || !a->comm) return ct_fail(CT_ERR_INVALID, "all-reduce before coll_init");
    if (n <= 0) return CT_OK;
    CT_CUDA_BIND(cb);
    if (a->timeout_s > 0 && !is_aborted(a)) CT_TRY(ring_room(a));
    pthread_mutex_lock(&a->mu); /* the watchdog does not abort comm while it is used here */
    ncclResult_t r = ncclSuccess;
    if (!is_aborted(a)) {
        /* timed by the watchdog from when the event before it has happened until the one after
         * it has (ring_room made its slot free: the watchdog's tail has passed it) */
        uint64_t h = a->head;
        int k = (int)(h % CT_NCCL_TIMED);
        int timed = a->timeout_s > 0 && cudaEventRecord(a->start[k], cb->compute) == cudaSuccess;
        __atomic_store_n(&a->calling_ns, mono_ns(), __ATOMIC_RELEASE);
        r = a->all_reduce(buf, buf, (size_t)n, ncclFloat32, ncclSum, a->comm, cb->compute);
        __atomic_store_n(&a->calling_ns, 0, __ATOMIC_RELEASE);
        if (r == ncclSuccess && timed && !is_aborted(a) &&
            cudaEventRecord(a->done[k], cb->compute) == cudaSuccess) {
            a->started_ns[k] = 0;
            __atomic_store_n(&a->head, h + 1, __ATOMIC_RELEASE);
        }
    }
    pthread_mutex_unlock(&a->mu);
    if (is_aborted(a)) return ct_fail(CT_ERR_DEVICE, "%s", a->why);
    if (r != ncclSuccess) return nccl_fail(b, r, "ncclAllReduce(grads, grads, n, float32, sum)");
    return CT_OK;
}

ct_status ct_cuda_coll_check(ct_cuda *cb) {
    nccl_api *a = (nccl_api *)cb->coll;
    if (!a || !a->comm || !is_aborted(a)) return CT_OK;
    return ct_fail(CT_ERR_DEVICE, "%s", a->why);
}

/* Leaves the communicator: NCCL's queued work finishes first, watched (an error while it
 * finishes aborts it), then a communicator with an error is aborted, a sound one destroyed. */
static void coll_release(ct_backend *b) {
    nccl_api *a = api_of(b);
    if (!a || !a->comm) return;
    if (!is_aborted(a)) {
        (void)cudaSetDevice(ct_cuda_of(b)->device);
        (void)cudaStreamSynchronize(ct_cuda_of(b)->compute);
    }
    watchdog_stop(a);
    if (!is_aborted(a)) {
        ncclResult_t r = ncclSuccess;
        if (a->get_async_error(a->comm, &r) == ncclSuccess && r == ncclSuccess)
            (void)a->comm_destroy(a->comm);
        else
            (void)a->comm_abort(a->comm); /* destroy could wait for a peer that is gone */
    }
    a->comm = NULL;
}

static int coll_joined(ct_backend *b) {
    nccl_api *a = api_of(b);
    return a && a->comm && !is_aborted(a);
}

static const char *coll_name(ct_backend *b) {
    nccl_api *a = api_of(b);
    return a ? a->name : "NCCL";
}

void ct_cuda_coll_free(ct_cuda *cb) {
    nccl_api *a = (nccl_api *)cb->coll;
    if (!a) return;
    coll_release(&cb->base);
    for (int i = 0; i < CT_NCCL_TIMED; i++) {
        if (a->start[i]) (void)cudaEventDestroy(a->start[i]);
        if (a->done[i]) (void)cudaEventDestroy(a->done[i]);
    }
    pthread_mutex_destroy(&a->mu);
    pthread_mutex_destroy(&a->wmu);
    pthread_cond_destroy(&a->wake);
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
