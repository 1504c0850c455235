/*
 * test_core.c — the core module: the thread-local error slot (ct_fail, ct_fail_context,
 * ct_clear_error, CT_TRY), ct_status_name, checked sizes and allocation, the clock, and the
 * Philox4x32-10 generator (published known-answer vectors, stream layout, ct_rng_below,
 * ct_rng_uniform, ct_rng_shuffle_i32, the bulk fills).
 */
#define _GNU_SOURCE
#include "testutil.h"

#include "core/core.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------------------------ */
/* the error slot                                                                              */

static void test_fail_sets_message(void **state) {
    (void)state;
    ct_clear_error();
    assert_string_equal(ct_last_error(), "");
    ct_status s = ct_fail(CT_ERR_FORMAT, "%s: wrong magic 0x%08x (expected 0x%08x)", "f.idx",
                          0x1234u, 0x803u);
    assert_int_equal(s, CT_ERR_FORMAT);
    assert_string_equal(ct_last_error(), "f.idx: wrong magic 0x00001234 (expected 0x00000803)");
    /* a later failure replaces the message */
    assert_int_equal(ct_fail(CT_ERR_IO, "second"), CT_ERR_IO);
    assert_string_equal(ct_last_error(), "second");
    ct_clear_error();
    assert_string_equal(ct_last_error(), "");
}

static void test_fail_context_prefixes(void **state) {
    (void)state;
    ct_fail(CT_ERR_IO, "cannot open x");
    assert_int_equal(ct_fail_context(CT_ERR_INVALID, "loading %s", "train"), CT_ERR_INVALID);
    assert_string_equal(ct_last_error(), "loading train: cannot open x");
    ct_fail_context(CT_ERR_INVALID, "outer");
    assert_string_equal(ct_last_error(), "outer: loading train: cannot open x");
}

static void test_fail_long_messages_truncate(void **state) {
    (void)state;
    /* two paths of PATH_MAX bytes and why: whole (the why, at the end, not cut off) */
    static char path[4096];
    memset(path, 'p', sizeof path - 1);
    ct_fail(CT_ERR_IO, "%s -> %s: path too long", path, path);
    assert_int_equal(strlen(ct_last_error()), 2 * 4095 + strlen(" -> : path too long"));
    ct_fail_context(CT_ERR_IO, "--save %s", path);
    assert_non_null(strstr(ct_last_error(), ": path too long"));
    /* longer ones are cut */
    static char big[20000];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = 0;
    ct_fail(CT_ERR_INVALID, "%s", big);
    size_t len = strlen(ct_last_error());
    assert_true(len > 0 && len < sizeof big - 1);
    assert_int_equal(ct_last_error()[0], 'a');
    ct_fail_context(CT_ERR_INVALID, "%s", big); /* prefix and message both too long */
    assert_true(strlen(ct_last_error()) <= len);
    ct_fail(CT_ERR_INVALID, "short");
    ct_fail_context(CT_ERR_INVALID, "%s", big);
    assert_true(strlen(ct_last_error()) > 0);
    ct_clear_error();
}

static ct_status try_twice(ct_status first, int *reached) {
    CT_TRY(first);
    *reached = 1;
    return CT_OK;
}

static void test_try_macro(void **state) {
    (void)state;
    int reached = 0;
    assert_int_equal(try_twice(CT_OK, &reached), CT_OK);
    assert_int_equal(reached, 1);
    reached = 0;
    assert_int_equal(try_twice(CT_ERR_NOMEM, &reached), CT_ERR_NOMEM);
    assert_int_equal(reached, 0);
}

/* Two threads each record their own error between two barriers and check that they see only
 * their own; a fresh thread starts with an empty slot. */
typedef struct {
    pthread_barrier_t *barrier;
    int id;
    int ok_empty_at_start, ok_own_after, ok_own_at_end;
} thread_arg;

static void *error_thread(void *p) {
    thread_arg *a = p;
    a->ok_empty_at_start = ct_last_error()[0] == 0;
    ct_fail(CT_ERR_IO, "thread %d failed", a->id);
    pthread_barrier_wait(a->barrier); /* both have written */
    char want[64];
    snprintf(want, sizeof want, "thread %d failed", a->id);
    a->ok_own_after = strcmp(ct_last_error(), want) == 0;
    if (a->id == 1) ct_fail_context(CT_ERR_IO, "ctx"); /* only thread 1 adds context */
    pthread_barrier_wait(a->barrier);
    a->ok_own_at_end = strcmp(ct_last_error(), a->id == 1 ? "ctx: thread 1 failed" : want) == 0;
    return NULL;
}

static void test_error_slot_is_thread_local(void **state) {
    (void)state;
    ct_fail(CT_ERR_INVALID, "main thread error");
    pthread_barrier_t barrier;
    pthread_barrier_init(&barrier, NULL, 2);
    thread_arg args[2] = {{&barrier, 1, 0, 0, 0}, {&barrier, 2, 0, 0, 0}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++) assert_int_equal(pthread_create(&t[i], NULL, error_thread, &args[i]), 0);
    for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
    pthread_barrier_destroy(&barrier);
    for (int i = 0; i < 2; i++) {
        assert_true(args[i].ok_empty_at_start);
        assert_true(args[i].ok_own_after);
        assert_true(args[i].ok_own_at_end);
    }
    /* nothing leaked into the main thread either */
    assert_string_equal(ct_last_error(), "main thread error");
    ct_clear_error();
}

static void test_status_names(void **state) {
    (void)state;
    static const struct { ct_status s; const char *name; } want[] = {
        {CT_OK, "ok"},
        {CT_ERR_INVALID, "invalid argument"},
        {CT_ERR_IO, "I/O error"},
        {CT_ERR_FORMAT, "bad file format"},
        {CT_ERR_NOMEM, "out of memory"},
        {CT_ERR_DEVICE, "device error"},
        {CT_ERR_UNSUPPORTED, "not supported"},
        {CT_ERR_INTERRUPTED, "interrupted"},
        {CT_ERR_NETWORK, "network error"},
    };
    size_t n = sizeof want / sizeof want[0];
    assert_int_equal(n, (size_t)CT_ERR_NETWORK + 1); /* every status is listed */
    for (size_t i = 0; i < n; i++) {
        const char *got = ct_status_name(want[i].s);
        assert_non_null(got);
        assert_string_equal(got, want[i].name);
        for (size_t j = 0; j < i; j++) assert_string_not_equal(got, ct_status_name(want[j].s));
    }
    assert_string_equal(ct_status_name((ct_status)99), "unknown status");
    assert_string_equal(ct_status_name((ct_status)-1), "unknown status");
}

/* ------------------------------------------------------------------------------------------ */
/* sizes, memory, clock                                                                        */

static void test_mul_size(void **state) {
    (void)state;
    size_t out = 0;
    assert_true(ct_mul_size(60000, 784, &out));
    assert_int_equal(out, (size_t)47040000);
    assert_true(ct_mul_size(0, SIZE_MAX, &out));
    assert_int_equal(out, 0);
    assert_false(ct_mul_size(SIZE_MAX / 2 + 1, 2, &out));
    assert_false(ct_mul_size((size_t)1 << 40, (size_t)1 << 40, &out));
}

static void test_checked_alloc(void **state) {
    (void)state;
    void *p = ct_malloc(0, "zero bytes");
    assert_non_null(p);
    free(p);
    uint8_t *z = ct_calloc(100, 3, "zeroed");
    assert_non_null(z);
    for (int i = 0; i < 300; i++) assert_int_equal(z[i], 0);
    free(z);
}

static void test_clock_is_monotonic(void **state) {
    (void)state;
    double t0 = ct_time_s(), prev = t0;
    for (int i = 0; i < 1000; i++) {
        double t = ct_time_s();
        assert_true(t >= prev);
        prev = t;
    }
    assert_true(t0 > 0.0);
}

/* ------------------------------------------------------------------------------------------ */
/* Philox4x32-10                                                                               */

/* Random123's kat_vectors for philox4x32_10: counter words c0..c3, key words k0 k1, and the
 * expected output words. ct_philox4x32 takes c0 | c1 << 32 as counter_lo, c2 | c3 << 32 as
 * counter_hi and k0 | k1 << 32 as the key (see core.c). */
typedef struct {
    uint32_t c[4], k[2], out[4];
} philox_kat;

static const philox_kat g_kat[] = {
    {{0, 0, 0, 0}, {0, 0}, {0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u}},
    {{0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu}, {0xffffffffu, 0xffffffffu},
     {0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu}},
    {{0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}, {0xa4093822u, 0x299f31d0u},
     {0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u}},
};

static uint64_t pack(uint32_t lo, uint32_t hi) { return (uint64_t)lo | (uint64_t)hi << 32; }

static void test_philox_known_answers(void **state) {
    (void)state;
    for (size_t v = 0; v < sizeof g_kat / sizeof g_kat[0]; v++) {
        const philox_kat *t = &g_kat[v];
        uint32_t out[4] = {0};
        ct_philox4x32(pack(t->k[0], t->k[1]), pack(t->c[2], t->c[3]), pack(t->c[0], t->c[1]), out);
        for (int i = 0; i < 4; i++) {
            if (out[i] != t->out[i])
                fail_msg("philox vector %zu word %d: got %08x, expected %08x", v, i, out[i],
                         t->out[i]);
        }
    }
}

static void test_rng_stream_layout(void **state) {
    (void)state;
    /* a stream (seed, purpose) reads blocks seed/counter = purpose << 40, +1, +2, ... in order */
    ct_rng r;
    ct_rng_init(&r, 1234, CT_STREAM_SHUFFLE);
    for (uint64_t block = 0; block < 5; block++) {
        uint32_t want[4];
        ct_philox4x32(1234, 0, ((uint64_t)CT_STREAM_SHUFFLE << 40) + block, want);
        for (int i = 0; i < 4; i++) assert_int_equal(ct_rng_u32(&r), want[i]);
    }
    /* streams and seeds are independent */
    ct_rng a, b, c;
    ct_rng_init(&a, 7, CT_STREAM_INIT);
    ct_rng_init(&b, 7, CT_STREAM_SPLIT);
    ct_rng_init(&c, 8, CT_STREAM_INIT);
    int same_ab = 0, same_ac = 0;
    for (int i = 0; i < 64; i++) {
        uint32_t x = ct_rng_u32(&a), y = ct_rng_u32(&b), z = ct_rng_u32(&c);
        same_ab += x == y;
        same_ac += x == z;
    }
    assert_true(same_ab < 2 && same_ac < 2);
    /* same seed and stream: same numbers */
    ct_rng d, e;
    ct_rng_init(&d, 99, CT_STREAM_DROPOUT);
    ct_rng_init(&e, 99, CT_STREAM_DROPOUT);
    for (int i = 0; i < 100; i++) assert_int_equal(ct_rng_u32(&d), ct_rng_u32(&e));
}

/* Pearson's chi-square of counts against a uniform expectation. */
static double chi_square(const int64_t *counts, int k, int64_t total) {
    double expect = (double)total / k, x2 = 0.0;
    for (int i = 0; i < k; i++) x2 += ((double)counts[i] - expect) * ((double)counts[i] - expect) / expect;
    return x2;
}

static void test_rng_below_uniform(void **state) {
    (void)state;
    ct_rng r;
    ct_rng_init(&r, 42, CT_STREAM_INIT);
    enum { K = 10, DRAWS = 200000 };
    int64_t counts[K] = {0};
    for (int i = 0; i < DRAWS; i++) {
        uint32_t v = ct_rng_below(&r, K);
        assert_true(v < K);
        counts[v]++;
    }
    /* 9 degrees of freedom: P(X2 > 33.7) = 1e-4 */
    double x2 = chi_square(counts, K, DRAWS);
    if (x2 > 33.7) fail_msg("ct_rng_below(10): chi-square %.1f over 10 buckets", x2);

    /* a bound just above 2^31 forces rejections: a biased method would put ~2/3 of the draws
     * in the lower half */
    uint32_t n = 0x80000001u;
    int64_t halves[2] = {0};
    for (int i = 0; i < 100000; i++) {
        uint32_t v = ct_rng_below(&r, n);
        assert_true(v < n);
        halves[v >= n / 2]++;
    }
    x2 = chi_square(halves, 2, 100000);
    if (x2 > 15.1) fail_msg("ct_rng_below(2^31+1): halves %lld / %lld", (long long)halves[0],
                            (long long)halves[1]);

    /* n = 1 is always 0; n = 2 is a fair coin; the largest bound works */
    for (int i = 0; i < 100; i++) assert_int_equal(ct_rng_below(&r, 1), 0);
    int64_t coin[2] = {0};
    for (int i = 0; i < 20000; i++) coin[ct_rng_below(&r, 2)]++;
    assert_true(chi_square(coin, 2, 20000) < 15.1);
    for (int i = 0; i < 100; i++) assert_true(ct_rng_below(&r, UINT32_MAX) < UINT32_MAX);
}

/* ct_rng_normal: N(0, 1) by its moments and its CDF at a few points */
static void test_rng_normal(void **state) {
    (void)state;
    ct_rng r;
    ct_rng_init(&r, 5, CT_STREAM_INIT_KAIMING);
    enum { DRAWS = 400000 };
    double s1 = 0, s2 = 0, s4 = 0;
    int64_t below[3] = {0}; /* x < -1, x < 0, x < 2 */
    for (int i = 0; i < DRAWS; i++) {
        double x = ct_rng_normal(&r);
        assert_true(isfinite(x));
        s1 += x, s2 += x * x, s4 += x * x * x * x;
        below[0] += x < -1.0, below[1] += x < 0.0, below[2] += x < 2.0;
    }
    double mean = s1 / DRAWS, var = s2 / DRAWS - mean * mean, kurt = s4 / DRAWS / (var * var);
    printf("# normal: mean %.4f var %.4f kurtosis %.3f P(<-1) %.4f P(<0) %.4f P(<2) %.4f\n", mean,
           var, kurt, (double)below[0] / DRAWS, (double)below[1] / DRAWS,
           (double)below[2] / DRAWS);
    assert_true(fabs(mean) < 0.008 && fabs(var - 1.0) < 0.01 && fabs(kurt - 3.0) < 0.05);
    assert_true(fabs((double)below[0] / DRAWS - 0.158655) < 0.003);
    assert_true(fabs((double)below[1] / DRAWS - 0.5) < 0.003);
    assert_true(fabs((double)below[2] / DRAWS - 0.977250) < 0.002);
}

/* ct_rng_fill_u32 / _uniform / _normal: the words, uniforms and normals the one-at-a-time calls
 * give, in order, whatever the stream's place in its block and however many (a partial block,
 * one pass, several), the stream left where the calls leave it */
static void test_rng_fill(void **state) {
    (void)state;
    enum { MAX = 2600 };
    static uint32_t wa[MAX + 1];
    static float fa[MAX + 1];
    const int lengths[] = {0, 1, 3, 4, 5, 17, 511, 512, 513, 1024, 1025, 2600};
    for (int kind = 0; kind < 3; kind++)
        for (int skip = 0; skip < 4; skip++)
            for (size_t li = 0; li < sizeof lengths / sizeof lengths[0]; li++) {
                const int n = lengths[li];
                ct_rng a, b;
                ct_rng_init(&a, 77 + (uint64_t)kind, CT_STREAM_INIT);
                ct_rng_init(&b, 77 + (uint64_t)kind, CT_STREAM_INIT);
                for (int i = 0; i < skip; i++) ct_rng_u32(&a), ct_rng_u32(&b); /* mid-block */
                wa[n] = 0xdeadbeefu, fa[n] = -7.0f;                          /* not written */
                if (kind == 0) ct_rng_fill_u32(&a, wa, n);
                if (kind == 1) ct_rng_fill_uniform(&a, fa, n);
                if (kind == 2) ct_rng_fill_normal(&a, fa, n);
                for (int i = 0; i < n; i++) {
                    if (kind == 0) assert_int_equal(wa[i], ct_rng_u32(&b));
                    if (kind == 1) assert_true(fa[i] == ct_rng_uniform(&b));
                    if (kind == 2) assert_true(fa[i] == ct_rng_normal(&b));
                }
                assert_true(wa[n] == 0xdeadbeefu && fa[n] == -7.0f);
                for (int i = 0; i < 9; i++) assert_int_equal(ct_rng_u32(&a), ct_rng_u32(&b));
            }
}

static void test_rng_uniform_range(void **state) {
    (void)state;
    ct_rng r;
    ct_rng_init(&r, 3, CT_STREAM_DROPOUT);
    enum { DRAWS = 200000, K = 16 };
    double sum = 0.0;
    float lo = 1.0f, hi = 0.0f;
    int64_t counts[K] = {0};
    for (int i = 0; i < DRAWS; i++) {
        float u = ct_rng_uniform(&r);
        assert_true(u >= 0.0f && u < 1.0f);
        float scaled = u * 16777216.0f; /* 24 random bits: an integer multiple of 2^-24 */
        assert_true(scaled == floorf(scaled));
        if (u < lo) lo = u;
        if (u > hi) hi = u;
        sum += u;
        counts[(int)(u * K)]++;
    }
    double mean = sum / DRAWS;
    assert_true(fabs(mean - 0.5) < 0.005);
    assert_true(lo < 0.001f && hi > 0.999f);
    assert_true(chi_square(counts, K, DRAWS) < 44.3); /* 15 dof, P = 1e-4 */
}

static int is_permutation(const int32_t *p, int64_t n) {
    uint8_t *seen = calloc((size_t)n + 1, 1);
    int ok = 1;
    for (int64_t i = 0; i < n && ok; i++) {
        if (p[i] < 0 || p[i] >= n || seen[p[i]]) ok = 0;
        else seen[p[i]] = 1;
    }
    free(seen);
    return ok;
}

static void test_shuffle(void **state) {
    (void)state;
    enum { N = 1000 };
    int32_t a[N], b[N], c[N];
    for (int i = 0; i < N; i++) a[i] = b[i] = c[i] = i;
    ct_rng ra, rb, rc;
    ct_rng_init(&ra, 5, CT_STREAM_SHUFFLE);
    ct_rng_init(&rb, 5, CT_STREAM_SHUFFLE);
    ct_rng_init(&rc, 6, CT_STREAM_SHUFFLE);
    ct_rng_shuffle_i32(&ra, a, N);
    ct_rng_shuffle_i32(&rb, b, N);
    ct_rng_shuffle_i32(&rc, c, N);
    assert_true(is_permutation(a, N));
    assert_true(is_permutation(c, N));
    assert_memory_equal(a, b, sizeof a); /* same seed: same order */
    int same = 0, fixed = 0;
    for (int i = 0; i < N; i++) {
        same += a[i] == c[i];
        fixed += a[i] == i;
    }
    assert_true(same < 20);  /* a different seed gives a different order (~1 coincidence) */
    assert_true(fixed < 20); /* and it is really shuffled */

    /* tiny sizes */
    int32_t one = 7;
    ct_rng_shuffle_i32(&ra, &one, 1);
    assert_int_equal(one, 7);
    ct_rng_shuffle_i32(&ra, NULL, 0);

    /* every element lands in every position about equally often: 5 elements, 20000 shuffles */
    enum { M = 5, ROUNDS = 20000 };
    int64_t where[M][M] = {{0}};
    ct_rng r;
    ct_rng_init(&r, 11, CT_STREAM_SHUFFLE);
    for (int k = 0; k < ROUNDS; k++) {
        int32_t p[M] = {0, 1, 2, 3, 4};
        ct_rng_shuffle_i32(&r, p, M);
        assert_true(is_permutation(p, M));
        for (int i = 0; i < M; i++) where[p[i]][i]++;
    }
    for (int e = 0; e < M; e++) {
        double x2 = chi_square(where[e], M, ROUNDS);
        if (x2 > 23.5) fail_msg("element %d: positions chi-square %.1f", e, x2); /* 4 dof */
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fail_sets_message),
        cmocka_unit_test(test_fail_context_prefixes),
        cmocka_unit_test(test_fail_long_messages_truncate),
        cmocka_unit_test(test_try_macro),
        cmocka_unit_test(test_error_slot_is_thread_local),
        cmocka_unit_test(test_status_names),
        cmocka_unit_test(test_mul_size),
        cmocka_unit_test(test_checked_alloc),
        cmocka_unit_test(test_clock_is_monotonic),
        cmocka_unit_test(test_philox_known_answers),
        cmocka_unit_test(test_rng_stream_layout),
        cmocka_unit_test(test_rng_below_uniform),
        cmocka_unit_test(test_rng_uniform_range),
        cmocka_unit_test(test_rng_normal),
        cmocka_unit_test(test_rng_fill),
        cmocka_unit_test(test_shuffle),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
