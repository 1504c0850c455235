/*
 * core.h — internal helpers shared by every module: the error slot, checked allocation,
 * overflow-checked sizes and the counter-based random number generator.
 */
#ifndef CT_CORE_H
#define CT_CORE_H

#include "ctrain.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ------------------------------------------------------------------------------------------ */
/* errors: one thread-local slot holding the last message                                      */

/* Records a formatted message and returns s, so that code can write
 *     return ct_fail(CT_ERR_FORMAT, "%s: wrong magic 0x%08x (expected 0x00000803)", path, m); */
ct_status ct_fail(ct_status s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prefixes the current message with "what: " (to add context as an error travels up). */
ct_status ct_fail_context(ct_status s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void ct_clear_error(void);

#define CT_TRY(expr)                         \
    do {                                     \
        ct_status ct_try_s_ = (expr);        \
        if (ct_try_s_ != CT_OK) return ct_try_s_; \
    } while (0)

/* ------------------------------------------------------------------------------------------ */
/* memory                                                                                      */

/* malloc/calloc that record "out of memory (N bytes for what)" on failure. */
void *ct_malloc(size_t bytes, const char *what);
void *ct_calloc(size_t count, size_t size, const char *what);

/* open(path, O_RDONLY) that does not wait for a writer: a FIFO with none (a stray mkfifo
 * where a data file should be) then reads as empty instead of blocking for ever; one with a
 * writer (a process substitution, /dev/fd/N) streams as usual. The cost: a named FIFO whose
 * writer opens it only after us also reads as empty. -1 and errno as open's. */
int ct_open_read(const char *path);
/* Whether something is at path. What cannot be looked at (a loop of links, a folder we may not
 * search) counts as there, so that opening it names the real error, not "not found". */
bool ct_path_present(const char *path);

/* Asks the kernel to back a large buffer (datasets) with huge pages: a training step reads
 * rows scattered over it, and 4 KiB pages would cost a TLB miss per row. Best effort. */
void ct_advise_huge(void *p, size_t bytes);

/* a*b (and a*b*c) with overflow detection: return false when the product does not fit. */
static inline bool ct_mul_size(size_t a, size_t b, size_t *out) {
    return !__builtin_mul_overflow(a, b, out);
}

/* 64-bit hash of bytes, continuing from h (start with 0): a fingerprint for the ranks' start-up
 * checks, not a cryptographic hash. Reads 8 bytes at a time. */
uint64_t ct_hash64(const void *bytes, size_t n, uint64_t h);
/* The cores this process may run on (its affinity: taskset, mpirun's binding), else the online
 * ones; 1..CT_MAX_THREADS. */
int ct_cpu_cores(void);

/* ------------------------------------------------------------------------------------------ */
/* random numbers: Philox4x32-10, counter-based, so that any stream position can be computed   */
/* directly (same numbers on every backend, on any thread, after a resume).                    */

typedef struct {
    uint64_t key;     /* the seed */
    uint64_t counter; /* position in the stream, in blocks of 4 words */
    uint32_t buf[4];
    int have;         /* unread words left in buf */
} ct_rng;

void ct_philox4x32(uint64_t key, uint64_t counter_hi, uint64_t counter_lo, uint32_t out[4]);
/* A stream for (seed, purpose): purposes keep init, split, shuffle and dropout independent. */
void ct_rng_init(ct_rng *r, uint64_t seed, uint64_t stream);
uint32_t ct_rng_u32(ct_rng *r);
float ct_rng_uniform(ct_rng *r);              /* [0, 1) with 24 random bits */
uint32_t ct_rng_below(ct_rng *r, uint32_t n); /* uniform in [0, n), unbiased */
float ct_rng_normal(ct_rng *r);               /* N(0, 1), Box-Muller of two uniforms */
/* The next n words, uniforms or normals at once: the values n calls of ct_rng_u32,
 * ct_rng_uniform or ct_rng_normal return, in order, the stream left where they leave it (a
 * model's initial weights: many blocks a loop). */
void ct_rng_fill_u32(ct_rng *r, uint32_t *out, int64_t n);
void ct_rng_fill_uniform(ct_rng *r, float *out, int64_t n);
void ct_rng_fill_normal(ct_rng *r, float *out, int64_t n);
/* Fisher–Yates shuffle of idx[0..n). */
void ct_rng_shuffle_i32(ct_rng *r, int32_t *idx, int64_t n);

enum { CT_STREAM_INIT = 1, CT_STREAM_SPLIT = 2, CT_STREAM_SHUFFLE = 3, CT_STREAM_DROPOUT = 4,
       CT_STREAM_AUGMENT = 5, CT_STREAM_MIX = 6, CT_STREAM_INIT_KAIMING = 7 };

#endif /* CT_CORE_H */
