/*
 * core.c — the error slot, checked allocation, Philox random numbers, the clock and the
 * number of cores.
 */
#define _GNU_SOURCE /* sched_getaffinity */
#include "core.h"
#include "philox.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------------------------------ */
/* errors                                                                                      */

/* room for a message naming two paths of PATH_MAX (4096) bytes and why: one cut short would
 * lose the why, at its end */
#define CT_ERROR_BYTES 16384
static _Thread_local char g_error[CT_ERROR_BYTES];

const char *ct_last_error(void) { return g_error; }
void ct_clear_error(void) { g_error[0] = 0; }

ct_status ct_fail(ct_status s, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_error, sizeof g_error, fmt, ap);
    va_end(ap);
    return s;
}

ct_status ct_fail_context(ct_status s, const char *fmt, ...) {
    char prefix[CT_ERROR_BYTES], old[CT_ERROR_BYTES];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, g_error, sizeof old);
    snprintf(g_error, sizeof g_error, "%s: %s", prefix, old);
    return s;
}

const char *ct_status_name(ct_status s) {
    switch (s) {
    case CT_OK: return "ok";
    case CT_ERR_INVALID: return "invalid argument";
    case CT_ERR_IO: return "I/O error";
    case CT_ERR_FORMAT: return "bad file format";
    case CT_ERR_NOMEM: return "out of memory";
    case CT_ERR_DEVICE: return "device error";
    case CT_ERR_UNSUPPORTED: return "not supported";
    case CT_ERR_INTERRUPTED: return "interrupted";
    case CT_ERR_NETWORK: return "network error";
    }
    return "unknown status";
}

/* ------------------------------------------------------------------------------------------ */
/* memory                                                                                      */

int ct_open_read(const char *path) {
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd >= 0) { /* reads block again: a FIFO's writer may be slower than us */
        int flags = fcntl(fd, F_GETFL);
        if (flags >= 0) (void)fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
    }
    return fd;
}

bool ct_path_present(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 || errno != ENOENT;
}

void *ct_malloc(size_t bytes, const char *what) {
    void *p = malloc(bytes ? bytes : 1);
    if (!p) ct_fail(CT_ERR_NOMEM, "out of memory (%zu bytes for %s)", bytes, what);
    return p;
}

void *ct_calloc(size_t count, size_t size, const char *what) {
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p) ct_fail(CT_ERR_NOMEM, "out of memory (%zu x %zu bytes for %s)", count, size, what);
    return p;
}

void ct_advise_huge(void *p, size_t bytes) {
#ifdef MADV_HUGEPAGE
    const uintptr_t huge = (uintptr_t)2 << 20;
    uintptr_t start = ((uintptr_t)p + huge - 1) & ~(huge - 1);
    uintptr_t end = ((uintptr_t)p + bytes) & ~(huge - 1);
    if (end > start) (void)madvise((void *)start, end - start, MADV_HUGEPAGE);
#else
    (void)p;
    (void)bytes;
#endif
}

/* ------------------------------------------------------------------------------------------ */
/* Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11)         */

void ct_philox4x32(uint64_t key, uint64_t counter_hi, uint64_t counter_lo, uint32_t out[4]) {
    ct_philox_block(key, counter_hi, counter_lo, out);
}

void ct_rng_init(ct_rng *r, uint64_t seed, uint64_t stream) {
    r->key = seed;
    r->counter = stream << 40; /* 2^40 blocks per stream before streams could meet */
    r->have = 0;
}

uint32_t ct_rng_u32(ct_rng *r) {
    if (r->have == 0) {
        ct_philox4x32(r->key, 0, r->counter++, r->buf);
        r->have = 4;
    }
    return r->buf[4 - r->have--];
}

static float uniform_of(uint32_t w) { return (float)(w >> 8) * (1.0f / 16777216.0f); }

static float normal_of(uint32_t w1, uint32_t w2) {
    const double u1 = ((w1 >> 8) + 1.0) / 16777216.0; /* (0, 1]: log(u1) finite */
    const double u2 = (w2 >> 8) / 16777216.0;
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

float ct_rng_uniform(ct_rng *r) { return uniform_of(ct_rng_u32(r)); }

float ct_rng_normal(ct_rng *r) {
    const uint32_t w1 = ct_rng_u32(r);
    return normal_of(w1, ct_rng_u32(r));
}

/* Blocks (key, (0, lo0 + b)) for b < blocks: the loop the compiler vectorises, its lanes as wide
 * as this CPU's (integer arithmetic: every clone's words the same). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__GLIBC__)
__attribute__((target_clones("avx512f", "avx2", "default"))) /* (an ifunc: glibc's) */
#endif
static void philox_run(uint64_t key, uint64_t lo0, int64_t blocks, uint32_t *out) {
    for (int64_t b = 0; b < blocks; b++) ct_philox_block(key, 0, lo0 + (uint64_t)b, out + 4 * b);
}

void ct_rng_fill_u32(ct_rng *r, uint32_t *out, int64_t n) {
    if (n <= 0) return;
    int64_t i = 0;
    while (i < n && r->have) out[i++] = ct_rng_u32(r); /* the block begun */
    const int64_t blocks = (n - i) / 4;
    philox_run(r->key, r->counter, blocks, out + i);
    r->counter += (uint64_t)blocks;
    for (i += 4 * blocks; i < n; i++) out[i] = ct_rng_u32(r);
}

enum { FILL_CHUNK = 1024 }; /* words a pass, on the stack */

void ct_rng_fill_uniform(ct_rng *r, float *out, int64_t n) {
    uint32_t w[FILL_CHUNK];
    for (int64_t i = 0; i < n; i += FILL_CHUNK) {
        const int64_t m = n - i < FILL_CHUNK ? n - i : FILL_CHUNK;
        ct_rng_fill_u32(r, w, m);
        for (int64_t j = 0; j < m; j++) out[i + j] = uniform_of(w[j]);
    }
}

void ct_rng_fill_normal(ct_rng *r, float *out, int64_t n) {
    uint32_t w[FILL_CHUNK];
    for (int64_t i = 0; i < n; i += FILL_CHUNK / 2) {
        const int64_t m = n - i < FILL_CHUNK / 2 ? n - i : FILL_CHUNK / 2;
        ct_rng_fill_u32(r, w, 2 * m);
        for (int64_t j = 0; j < m; j++) out[i + j] = normal_of(w[2 * j], w[2 * j + 1]);
    }
}

uint32_t ct_rng_below(ct_rng *r, uint32_t n) {
    /* Lemire's multiply-shift with rejection: unbiased. */
    uint64_t m = (uint64_t)ct_rng_u32(r) * n;
    uint32_t low = (uint32_t)m;
    if (low < n) {
        uint32_t threshold = (uint32_t)(-n) % n;
        while (low < threshold) {
            m = (uint64_t)ct_rng_u32(r) * n;
            low = (uint32_t)m;
        }
    }
    return (uint32_t)(m >> 32);
}

void ct_rng_shuffle_i32(ct_rng *r, int32_t *idx, int64_t n) {
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = ct_rng_below(r, (uint32_t)(i + 1));
        int32_t t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
}

/* ------------------------------------------------------------------------------------------ */
/* time                                                                                        */

double ct_time_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ------------------------------------------------------------------------------------------ */
/* hashing                                                                                     */

static inline uint64_t mix64(uint64_t x) { /* splitmix64's finaliser */
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

uint64_t ct_hash64(const void *bytes, size_t n, uint64_t h) {
    const unsigned char *p = bytes;
    h = mix64(h ^ (0x9e3779b97f4a7c15ULL + n));
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        h = (h ^ w) * 0x100000001b3ULL;
        h ^= h >> 29;
    }
    uint64_t tail = 0;
    memcpy(&tail, p + i, n - i);
    return mix64(h ^ tail);
}

int ct_cpu_cores(void) {
    /* the cores this process may run on (taskset, mpirun binding), else all online */
    cpu_set_t set;
    long n = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set)
                                                        : sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > CT_MAX_THREADS ? CT_MAX_THREADS : (int)n;
}
