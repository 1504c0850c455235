/*
 * emu_nccl.cpp — the CUDA emulator's NCCL: the ranks of an MPI job on one machine (each its own
 * process and emulated GPU) sum their buffers through POSIX shared memory.
 *
 * - ncclGetUniqueId names a shared-memory segment; ncclCommInitRank maps it (rank 0 creates
 *   it and a process-shared barrier in it; the others wait up to 60 s for it), and, as NCCL,
 *   refuses two ranks on one device (ncclInvalidUsage). Once every rank is in, the name is
 *   unlinked: nothing is left behind, whatever happens later.
 * - ncclAllReduce (float32, sum) runs when called, after the stream's queued work (on a GPU
 *   the collective runs once every rank has queued it, and every rank queues it in the same
 *   order; waiting for it to run on the host instead could deadlock against a rank waiting in
 *   MPI): each rank copies a chunk into its slot, all meet, each adds the slots in rank order
 *   (the same sum, bit for bit, on every rank), all meet again.
 * - A rank that dies or stops leaves the others waiting where they meet, as NCCL's kernels
 *   would, until mpirun ends the job or their communicator is aborted (a rank's watchdog does
 *   that when its timeout passes).
 * - A broken link, as NCCL reports one: with CTRAIN_CUDA_EMU_NCCL_FAIL=R:N, rank R's N-th
 *   all-reduce never completes; ncclCommGetAsyncError says ncclRemoteError from then on, and
 *   the all-reduce waits (holding up the host that issued it, as a full launch queue would)
 *   until another thread calls ncclCommAbort. The other ranks wait at the barrier. With
 *   R:N:late the N-th all-reduce completes and the error is reported after it; with R:N:queued
 *   it is queued on the stream, as on a GPU, and what waits there is the host's next wait for
 *   the stream (for one rank: with more, the others' all-reduces, run when called, would hold
 *   their hosts where a GPU's would not). R:N:hang is queued as R:N:queued but never reports
 *   an error: a peer stuck without one, found only by a timeout.
 */
#include "emu_internal.h"
#include "nccl.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sched.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <memory>

namespace {

const size_t kChunk = (size_t)1 << 20; /* floats per rank per round */
const int kMaxRanks = 64;

struct Shared {
    pthread_barrier_t barrier;
    std::atomic<int> ready;  /* rank 0 has set the barrier up */
    std::atomic<int> arrived, generation; /* the all-reduce's meeting place (meet) */
    int device[kMaxRanks];   /* each rank's device, to refuse two ranks on one */
};                           /* then nranks slots of kChunk floats */

size_t shared_bytes(int nranks) { return sizeof(Shared) + (size_t)nranks * kChunk * sizeof(float); }
float *slot(Shared *sh, int rank) { return (float *)(sh + 1) + (size_t)rank * kChunk; }

double now_s() {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

} // namespace

struct ct_emu_nccl_comm {
    Shared *sh;
    size_t bytes;
    int nranks, rank;
    long calls = 0, fail_at = 0;                 /* CTRAIN_CUDA_EMU_NCCL_FAIL for this rank */
    bool fail_late = false, fail_queued = false, fail_silent = false;
    std::atomic<int> async_error{ncclSuccess};
    std::atomic<int> aborted{0}, inside{0};      /* inside: all-reduces running now */
    /* set by the abort for queued work, which may run after the comm is gone */
    std::shared_ptr<std::atomic<int>> gone = std::make_shared<std::atomic<int>>(0);
};

/* CTRAIN_CUDA_EMU_NCCL_FAIL=R:N[:late|:queued|:hang]: the N-th all-reduce of rank R breaks (0:
 * none here); hang is queued without an error */
static long fail_at(int rank, bool *late, bool *queued, bool *silent) {
    const char *v = getenv("CTRAIN_CUDA_EMU_NCCL_FAIL");
    int r = -1;
    long n = 0;
    char how[8] = "";
    if (!v || sscanf(v, "%d:%ld:%7s", &r, &n, how) < 2 || r != rank || n < 1) return 0;
    *late = strcmp(how, "late") == 0;
    *silent = strcmp(how, "hang") == 0;
    *queued = *silent || strcmp(how, "queued") == 0;
    return n;
}

/* The ranks of c meet (as pthread_barrier_wait, whose waiters nothing can free): false when c
 * was aborted while this rank waited. */
static bool meet(ct_emu_nccl_comm *c) {
    Shared *sh = c->sh;
    int gen = sh->generation.load(std::memory_order_acquire);
    if (sh->arrived.fetch_add(1, std::memory_order_acq_rel) + 1 == c->nranks) {
        sh->arrived.store(0, std::memory_order_relaxed);
        sh->generation.fetch_add(1, std::memory_order_acq_rel);
        return true;
    }
    for (int spins = 0; sh->generation.load(std::memory_order_acquire) == gen; spins++) {
        if (c->aborted.load()) return false;
        if (spins < 1000) sched_yield();
        else usleep(100);
    }
    return true;
}

ncclResult_t ncclGetVersion(int *version) {
    *version = 0; /* shown as "NCCL 0.0.0": not a real one */
    return ncclSuccess;
}

ncclResult_t ncclGetUniqueId(ncclUniqueId *id) {
    memset(id, 0, sizeof *id);
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    snprintf(id->internal, sizeof id->internal, "/ctrain-emu-nccl-%d-%lld-%ld", (int)getpid(),
             (long long)t.tv_sec, t.tv_nsec);
    return ncclSuccess;
}

ncclResult_t ncclCommInitRank(ncclComm_t *comm, int nranks, ncclUniqueId id, int rank) {
    *comm = nullptr;
    if (nranks < 1 || nranks > kMaxRanks || rank < 0 || rank >= nranks ||
        id.internal[0] != '/' || !memchr(id.internal, 0, sizeof id.internal))
        return ncclInvalidArgument;
    size_t bytes = shared_bytes(nranks);
    int fd = -1;
    if (rank == 0) {
        fd = shm_open(id.internal, O_CREAT | O_EXCL | O_RDWR, 0600);
        if (fd < 0 || ftruncate(fd, (off_t)bytes) != 0) {
            if (fd >= 0) close(fd);
            return ncclSystemError;
        }
    } else {
        double t0 = now_s();
        struct stat st;
        while ((fd = shm_open(id.internal, O_RDWR, 0600)) < 0 ||
               fstat(fd, &st) != 0 || (size_t)st.st_size < bytes) {
            if (fd >= 0) close(fd);
            if (now_s() - t0 > 60) return ncclRemoteError;
            usleep(1000);
        }
    }
    void *p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (p == MAP_FAILED) return ncclSystemError;
    Shared *sh = (Shared *)p;
    if (rank == 0) {
        pthread_barrierattr_t attr;
        pthread_barrierattr_init(&attr);
        pthread_barrierattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
        pthread_barrier_init(&sh->barrier, &attr, (unsigned)nranks);
        pthread_barrierattr_destroy(&attr);
        sh->ready.store(1, std::memory_order_release);
    } else {
        double t0 = now_s();
        while (sh->ready.load(std::memory_order_acquire) != 1) {
            if (now_s() - t0 > 60) {
                munmap(p, bytes);
                return ncclRemoteError;
            }
            usleep(1000);
        }
    }
    sh->device[rank] = ct_emu_current_device();
    pthread_barrier_wait(&sh->barrier); /* everyone has mapped it and said its device */
    if (rank == 0) shm_unlink(id.internal);
    bool shared_device = false;
    for (int r = 0; r < nranks; r++)
        if (r != rank && sh->device[r] == sh->device[rank]) shared_device = true;
    pthread_barrier_wait(&sh->barrier); /* everyone has read the devices */
    if (shared_device) {
        fprintf(stderr, "ctrain CUDA emulator: NCCL: rank %d and another rank are both on "
                "device %d\n", rank, sh->device[rank]);
        munmap(p, bytes);
        return ncclInvalidUsage;
    }
    *comm = new ct_emu_nccl_comm;
    (*comm)->sh = sh;
    (*comm)->bytes = bytes;
    (*comm)->nranks = nranks;
    (*comm)->rank = rank;
    (*comm)->fail_at = fail_at(rank, &(*comm)->fail_late, &(*comm)->fail_queued,
                               &(*comm)->fail_silent);
    return ncclSuccess;
}

ncclResult_t ncclAllReduce(const void *send, void *recv, size_t count, ncclDataType_t type,
                           ncclRedOp_t op, ncclComm_t comm, cudaStream_t stream) {
    if (!comm) return ncclInvalidArgument;
    if (type != ncclFloat32 || op != ncclSum) return ncclInvalidArgument;
    if (count == 0) return ncclSuccess;
    if (!ct_emu_in_device(send, count * sizeof(float)) ||
        !ct_emu_in_device(recv, count * sizeof(float)))
        return ncclInvalidArgument; /* NCCL takes device buffers only */
    comm->inside++; /* first: an abort from now on waits for this call */
    if (comm->aborted.load()) { /* a freed communicator, on NCCL */
        comm->inside--;
        return ncclInvalidUsage;
    }
    bool fails = ++comm->calls == comm->fail_at;
    if (fails && comm->fail_queued) { /* the stream, not the call, waits for the abort */
        if (!comm->fail_silent) comm->async_error.store(ncclRemoteError);
        std::shared_ptr<std::atomic<int>> gone = comm->gone; /* outlives comm, as kernels do */
        ct_emu_enqueue(stream, [gone]() {
            while (!gone->load()) usleep(1000);
        });
        comm->inside--;
        return ncclSuccess;
    }
    ct_emu_run_now(stream, [&]() {
        if (fails && !comm->fail_late) { /* the link breaks: it waits for an abort */
            comm->async_error.store(ncclRemoteError);
            while (!comm->aborted.load()) usleep(1000);
            return;
        }
        Shared *sh = comm->sh;
        const float *in = (const float *)send;
        float *out = (float *)recv;
        for (size_t off = 0; off < count; off += kChunk) {
            size_t n = count - off < kChunk ? count - off : kChunk;
            memcpy(slot(sh, comm->rank), in + off, n * sizeof(float));
            if (!meet(comm)) return; /* aborted: the sum is not finished, as on NCCL */
            for (size_t i = 0; i < n; i++) {
                float s = slot(sh, 0)[i];
                for (int r = 1; r < comm->nranks; r++) s += slot(sh, r)[i];
                out[off + i] = s;
            }
            if (!meet(comm)) return; /* every rank has read every slot */
        }
        if (fails) comm->async_error.store(ncclRemoteError); /* late: found after the sum */
    });
    comm->inside--;
    return ncclSuccess;
}

ncclResult_t ncclCommGetAsyncError(ncclComm_t comm, ncclResult_t *async_error) {
    if (!comm || !async_error) return ncclInvalidArgument;
    *async_error = (ncclResult_t)comm->async_error.load();
    return ncclSuccess;
}

/* From any thread, as NCCL allows: the all-reduce in flight gives up, then the comm goes. */
ncclResult_t ncclCommAbort(ncclComm_t comm) {
    if (!comm) return ncclInvalidArgument;
    comm->aborted.store(1);
    comm->gone->store(1);
    while (comm->inside.load() > 0) usleep(1000);
    munmap(comm->sh, comm->bytes);
    delete comm;
    return ncclSuccess;
}

ncclResult_t ncclCommDestroy(ncclComm_t comm) {
    if (!comm) return ncclInvalidArgument;
    munmap(comm->sh, comm->bytes);
    delete comm;
    return ncclSuccess;
}

const char *ncclGetErrorString(ncclResult_t r) {
    switch (r) {
    case ncclSuccess: return "no error";
    case ncclSystemError: return "unhandled system error (shared memory)";
    case ncclInvalidArgument: return "invalid argument";
    case ncclInvalidUsage: return "invalid usage (two ranks on one device)";
    case ncclRemoteError: return "remote process exited or there was a network error";
    default: return "NCCL emulator error";
    }
}
