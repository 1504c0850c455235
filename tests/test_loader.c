/*
 * test_loader.c — the loader (internal API loader/loader.h) on the CPU backend, and
 * ct_split_indices.
 *
 * The synthetic dataset holds N images of 1x4x4 whose pixels encode the sample's index (so a
 * batch's content can be checked against its idx) and labels index % 10. Every test runs under
 * an alarm(): a loader that hangs fails the test instead of blocking CI.
 */
#define _GNU_SOURCE
#include "testutil.h"

#include "core/core.h"
#include "loader/loader.h"

#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define N_SAMPLES 1000
#define ROW 16 /* 1x4x4 */
#define TIMEOUT_S 20 /* each phase; the whole file takes well under a second without ASan */

/* ------------------------------------------------------------------------------------------ */
/* fixtures                                                                                    */

static const char *g_phase = "";

static void on_alarm(int sig) {
    (void)sig;
    static const char msg[] = "\n[  FAILED  ] TIMEOUT: the loader hung (deadlock?) during: ";
    ssize_t r = write(2, msg, sizeof msg - 1);
    r = write(2, g_phase, strlen(g_phase));
    r = write(2, "\n", 1);
    (void)r;
    _exit(1);
}

static void arm(const char *phase) {
    g_phase = phase;
    signal(SIGALRM, on_alarm);
    alarm(TIMEOUT_S);
}

static uint8_t pixel(int64_t sample, int j) {
    if (j == 0) return (uint8_t)(sample & 0xff);
    if (j == 1) return (uint8_t)(sample >> 8);
    return (uint8_t)((sample * 31 + j * 7) & 0xff);
}

typedef struct {
    ct_backend *b;
    ct_dataset *ds;
} fixture;

static ct_dataset *make_dataset(int64_t n) {
    uint8_t *images = malloc((size_t)n * ROW), *labels = malloc((size_t)n);
    assert_non_null(images);
    assert_non_null(labels);
    for (int64_t i = 0; i < n; i++) {
        for (int j = 0; j < ROW; j++) images[i * ROW + j] = pixel(i, j);
        labels[i] = (uint8_t)(i % 10);
    }
    ct_dataset *ds = NULL;
    assert_int_equal(ct_dataset_create(n, 1, 4, 4, 10, images, labels, &ds), CT_OK);
    free(images);
    free(labels);
    return ds;
}

static int setup(void **state) {
    fixture *f = calloc(1, sizeof *f);
    if (!f) return -1;
    if (ct_backend_create("cpu", 1, &f->b) != CT_OK) return -1;
    f->ds = make_dataset(N_SAMPLES);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    alarm(0);
    ct_dataset_free(f->ds);
    ct_backend_free(f->b);
    free(f);
    return 0;
}

static int32_t *iota(int64_t n) {
    int32_t *idx = malloc((size_t)n * sizeof *idx);
    assert_non_null(idx);
    for (int64_t i = 0; i < n; i++) idx[i] = (int32_t)i;
    return idx;
}

static ct_loader *make_loader(fixture *f, const int32_t *idx, int64_t n, int batch, int shuffle,
                              uint64_t seed, int workers, int prefetch) {
    ct_loader *l = NULL;
    ct_status s = ct_loader_create(f->b, f->ds, idx, n, batch, shuffle, seed, workers, prefetch, &l);
    if (s != CT_OK) fail_msg("ct_loader_create: %s", ct_last_error());
    assert_non_null(l);
    return l;
}

/* One epoch's stream: for every sample in the order yielded, its index, image and label. */
#define REC (4 + ROW + 1)
typedef struct {
    uint8_t *bytes; /* (n, REC) */
    int32_t *order; /* (n) the indices as yielded */
    int64_t n;      /* samples yielded */
    int64_t batches;
} stream;

static void stream_free(stream *s) {
    free(s->bytes);
    free(s->order);
    memset(s, 0, sizeof *s);
}

/* Checks one batch against the dataset and the loader's order; appends it to st. */
static void check_and_append(fixture *f, ct_loader *l, const ct_batch *bt, int64_t n_total,
                             int batch_size, stream *st) {
    int64_t n_batches = ct_loader_batches(l);
    assert_int_equal(bt->index, st->batches);
    int64_t want_n = bt->index == n_batches - 1 ? n_total - (n_batches - 1) * batch_size : batch_size;
    assert_int_equal(bt->n, want_n);
    assert_true(bt->slot >= 0 && bt->slot < CT_MAX_COPY_SLOTS);
    /* the batch's idx is its part of the epoch order */
    assert_ptr_equal(bt->idx, ct_loader_order(l) + bt->index * batch_size);
    const uint8_t *images = ct_dataset_images(f->ds), *labels = ct_dataset_labels(f->ds);
    for (int64_t i = 0; i < bt->n; i++) {
        int32_t id = bt->idx[i];
        assert_true(id >= 0 && id < ct_dataset_count(f->ds));
        if (memcmp(bt->images + i * ROW, images + (int64_t)id * ROW, ROW) != 0)
            fail_msg("batch %lld sample %lld: image is not dataset row %d", (long long)bt->index,
                     (long long)i, id);
        assert_int_equal(bt->labels[i], labels[id]);
        uint8_t *rec = st->bytes + (st->n + i) * REC;
        memcpy(rec, &id, 4);
        memcpy(rec + 4, bt->images + i * ROW, ROW);
        rec[4 + ROW] = bt->labels[i];
        st->order[st->n + i] = id;
    }
    st->n += bt->n;
    st->batches++;
}

/* Runs epoch `epoch` from batch `first` to its end, holding each batch until the next one is
 * taken (as fit does: two slots in use at once), and checks every batch. */
static stream run_epoch_at(fixture *f, ct_loader *l, int epoch, int64_t first, int64_t n_total,
                           int batch_size) {
    stream st = {malloc((size_t)n_total * REC), malloc((size_t)n_total * sizeof(int32_t)), 0, first};
    assert_non_null(st.bytes);
    assert_non_null(st.order);
    if (first == 0) assert_int_equal(ct_loader_start_epoch(l, epoch), CT_OK);
    else assert_int_equal(ct_loader_start_epoch_at(l, epoch, first), CT_OK);
    int64_t skipped = first * batch_size < n_total ? first * batch_size : n_total;
    ct_batch prev, cur;
    int have_prev = 0;
    while (ct_loader_next(l, &cur)) {
        assert_true(skipped + st.n + cur.n <= n_total);
        check_and_append(f, l, &cur, n_total, batch_size, &st);
        if (have_prev) ct_loader_release(l, &prev);
        prev = cur;
        have_prev = 1;
    }
    if (have_prev) ct_loader_release(l, &prev);
    assert_int_equal(st.batches, ct_loader_batches(l));
    assert_int_equal(st.n, n_total - skipped);
    assert_int_equal(ct_loader_next(l, &cur), 0); /* stays at the end */
    /* the yielded order is (the rest of) ct_loader_order */
    assert_memory_equal(st.order, ct_loader_order(l) + skipped, (size_t)st.n * sizeof(int32_t));
    return st;
}

static stream run_epoch(fixture *f, ct_loader *l, int epoch, int64_t n_total, int batch_size) {
    return run_epoch_at(f, l, epoch, 0, n_total, batch_size);
}

/* Every element of idx[0..n) appears exactly once in order[0..n). */
static void assert_same_set(const int32_t *idx, const int32_t *order, int64_t n, int64_t universe) {
    int *count = calloc((size_t)universe, sizeof *count);
    assert_non_null(count);
    for (int64_t i = 0; i < n; i++) count[idx[i]]++;
    for (int64_t i = 0; i < n; i++) {
        assert_true(order[i] >= 0 && order[i] < universe);
        if (--count[order[i]] < 0) fail_msg("index %d yielded more often than it is in idx", order[i]);
    }
    for (int64_t i = 0; i < universe; i++) assert_int_equal(count[i], 0);
    free(count);
}

/* ------------------------------------------------------------------------------------------ */
/* tests                                                                                       */

static void test_every_sample_once(void **state) {
    fixture *f = *state;
    arm("every sample once");
    int32_t *idx = iota(N_SAMPLES);
    ct_loader *l = make_loader(f, idx, N_SAMPLES, 64, 1, 42, 2, 2);
    assert_int_equal(ct_loader_batches(l), 16); /* 15 x 64 + 40 */
    for (int e = 0; e < 3; e++) {
        stream st = run_epoch(f, l, e, N_SAMPLES, 64);
        assert_same_set(idx, st.order, N_SAMPLES, N_SAMPLES);
        stream_free(&st);
    }
    ct_loader_free(l);
    free(idx);
}

static void test_subset_every_sample_once(void **state) {
    fixture *f = *state;
    arm("subset");
    /* a subset in a scrambled order: every third sample plus a few, 338 in all */
    int32_t idx[400];
    int64_t n = 0;
    for (int i = N_SAMPLES - 1; i >= 0; i -= 3) idx[n++] = i;
    for (int i = 1; i < 15; i += 3) idx[n++] = i;
    for (int workers = 0; workers <= 3; workers += 3) {
        ct_loader *l = make_loader(f, idx, n, 25, 1, 7, workers, 2);
        assert_int_equal(ct_loader_batches(l), (n + 24) / 25);
        for (int e = 0; e < 2; e++) {
            stream st = run_epoch(f, l, e, n, 25);
            assert_same_set(idx, st.order, n, N_SAMPLES);
            stream_free(&st);
        }
        ct_loader_free(l);
    }
}

static void test_partial_and_oversized_batches(void **state) {
    fixture *f = *state;
    arm("partial batches");
    int32_t *idx = iota(N_SAMPLES);
    /* batch sizes that do and do not divide n, and one larger than n */
    const int sizes[] = {1, 7, 100, 999, 1000, 4096};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        int bs = sizes[k];
        ct_loader *l = make_loader(f, idx, N_SAMPLES, bs, 1, 3, 2, 2);
        assert_int_equal(ct_loader_batches(l), (N_SAMPLES + bs - 1) / bs);
        stream st = run_epoch(f, l, 0, N_SAMPLES, bs); /* checks each batch's size */
        assert_same_set(idx, st.order, N_SAMPLES, N_SAMPLES);
        stream_free(&st);
        ct_loader_free(l);
    }
    free(idx);
}

static void test_order_by_seed_and_epoch(void **state) {
    fixture *f = *state;
    arm("order by seed and epoch");
    int32_t *idx = iota(N_SAMPLES);
    ct_loader *a = make_loader(f, idx, N_SAMPLES, 50, 1, 42, 2, 2);
    ct_loader *b = make_loader(f, idx, N_SAMPLES, 50, 1, 42, 0, 1);
    ct_loader *c = make_loader(f, idx, N_SAMPLES, 50, 1, 43, 2, 2);
    stream a0 = run_epoch(f, a, 0, N_SAMPLES, 50), a1 = run_epoch(f, a, 1, N_SAMPLES, 50);
    stream b0 = run_epoch(f, b, 0, N_SAMPLES, 50), c0 = run_epoch(f, c, 0, N_SAMPLES, 50);
    /* same seed and epoch: the same order, from another loader too */
    assert_memory_equal(a0.bytes, b0.bytes, (size_t)N_SAMPLES * REC);
    /* different epoch or seed: a different order */
    int same_epoch = 0, same_seed = 0, in_place = 0;
    for (int i = 0; i < N_SAMPLES; i++) {
        same_epoch += a0.order[i] == a1.order[i];
        same_seed += a0.order[i] == c0.order[i];
        in_place += a0.order[i] == i;
    }
    assert_true(same_epoch < 20);
    assert_true(same_seed < 20);
    assert_true(in_place < 20);
    /* going back to epoch 0 gives epoch 0's order again */
    stream a0b = run_epoch(f, a, 0, N_SAMPLES, 50);
    assert_memory_equal(a0.bytes, a0b.bytes, (size_t)N_SAMPLES * REC);
    /* ct_epoch_order computes the same orders on its own */
    int32_t *order = malloc(N_SAMPLES * sizeof *order);
    assert_non_null(order);
    ct_epoch_order(idx, N_SAMPLES, 42, 1, 1, order);
    assert_memory_equal(order, a1.order, N_SAMPLES * sizeof *order);
    ct_epoch_order(idx, N_SAMPLES, 43, 0, 1, order);
    assert_memory_equal(order, c0.order, N_SAMPLES * sizeof *order);
    /* repeated augmentation (shuffle R > 1): the same permutation's first entries, each R times
     * in a row, N_SAMPLES in all (the last one fewer times when R does not divide it) */
    int32_t *rep = malloc(N_SAMPLES * sizeof *rep);
    assert_non_null(rep);
    for (int r = 2; r <= 7; r += 5) {
        ct_epoch_order(idx, N_SAMPLES, 43, 0, r, rep);
        for (int i = 0; i < N_SAMPLES; i++) assert_int_equal(rep[i], c0.order[i / r]);
    }
    /* through the loader: the batches carry that order */
    ct_loader *rl = make_loader(f, idx, N_SAMPLES, 50, 3, 43, 2, 2);
    stream r0 = run_epoch(f, rl, 0, N_SAMPLES, 50);
    for (int i = 0; i < N_SAMPLES; i++) assert_int_equal(r0.order[i], c0.order[i / 3]);
    stream_free(&r0);
    ct_loader_free(rl);
    free(rep);
    free(order);
    stream_free(&a0); stream_free(&a1); stream_free(&b0); stream_free(&c0); stream_free(&a0b);
    ct_loader_free(a);
    ct_loader_free(b);
    ct_loader_free(c);
    free(idx);
}

static void test_no_shuffle_keeps_order(void **state) {
    fixture *f = *state;
    arm("no shuffle");
    int32_t idx[300];
    for (int i = 0; i < 300; i++) idx[i] = (int32_t)((i * 37 + 11) % N_SAMPLES); /* distinct */
    ct_loader *l = make_loader(f, idx, 300, 32, 0, 42, 3, 2);
    for (int e = 0; e < 3; e++) {
        stream st = run_epoch(f, l, e, 300, 32);
        assert_memory_equal(st.order, idx, sizeof idx);
        stream_free(&st);
    }
    int32_t order[300];
    ct_epoch_order(idx, 300, 42, 5, 0, order);
    assert_memory_equal(order, idx, sizeof idx);
    ct_loader_free(l);
}

static void test_workers_and_prefetch_agree(void **state) {
    fixture *f = *state;
    int32_t *idx = iota(N_SAMPLES);
    enum { EPOCHS = 3, BS = 37 };
    stream ref[EPOCHS];
    arm("workers 0 prefetch 1 (reference)");
    ct_loader *r = make_loader(f, idx, N_SAMPLES, BS, 1, 42, 0, 1);
    for (int e = 0; e < EPOCHS; e++) ref[e] = run_epoch(f, r, e, N_SAMPLES, BS);
    ct_loader_free(r);
    const int workers[] = {0, 1, 2, 3, 5};
    for (size_t w = 0; w < sizeof workers / sizeof workers[0]; w++) {
        /* INT_MAX: workers x prefetch past int (the ring is capped; UBSan caught the product) */
        for (int p = 0; p < 5; p++) {
            int prefetch = p < 4 ? p + 1 : INT_MAX;
            static char phase[96];
            snprintf(phase, sizeof phase, "workers %d prefetch %d", workers[w], prefetch);
            arm(phase);
            ct_loader *l = make_loader(f, idx, N_SAMPLES, BS, 1, 42, workers[w], prefetch);
            for (int e = 0; e < EPOCHS; e++) {
                stream st = run_epoch(f, l, e, N_SAMPLES, BS);
                if (memcmp(st.bytes, ref[e].bytes, (size_t)N_SAMPLES * REC) != 0)
                    fail_msg("%s, epoch %d: stream differs from workers 0", phase, e);
                stream_free(&st);
            }
            ct_loader_free(l);
        }
    }
    for (int e = 0; e < EPOCHS; e++) stream_free(&ref[e]);
    free(idx);
}

static void test_abandon_epoch(void **state) {
    fixture *f = *state;
    int32_t *idx = iota(N_SAMPLES);
    enum { BS = 40 };
    int32_t *want = malloc(N_SAMPLES * sizeof *want);
    assert_non_null(want);
    const int workers[] = {0, 1, 3};
    for (size_t w = 0; w < sizeof workers / sizeof workers[0]; w++) {
        static char phase[64];
        snprintf(phase, sizeof phase, "abandon, workers %d", workers[w]);
        arm(phase);
        ct_loader *l = make_loader(f, idx, N_SAMPLES, BS, 1, 9, workers[w], 2);
        for (int take = 0; take <= 6; take++) {
            /* start epoch `take`, take `take` batches, keep the last one unreleased, move on */
            assert_int_equal(ct_loader_start_epoch(l, take), CT_OK);
            ct_batch bt;
            for (int i = 0; i < take; i++) {
                assert_int_equal(ct_loader_next(l, &bt), 1);
                assert_int_equal(bt.index, i);
                if (i + 1 < take) ct_loader_release(l, &bt);
            }
            stream st = run_epoch(f, l, take + 1, N_SAMPLES, BS);
            ct_epoch_order(idx, N_SAMPLES, 9, take + 1, 1, want);
            assert_memory_equal(st.order, want, N_SAMPLES * sizeof *want);
            stream_free(&st);
        }
        /* restarting the same epoch in its middle starts it over */
        assert_int_equal(ct_loader_start_epoch(l, 3), CT_OK);
        ct_batch bt;
        for (int i = 0; i < 10; i++) {
            assert_int_equal(ct_loader_next(l, &bt), 1);
            ct_loader_release(l, &bt);
        }
        stream st = run_epoch(f, l, 3, N_SAMPLES, BS);
        ct_epoch_order(idx, N_SAMPLES, 9, 3, 1, want);
        assert_memory_equal(st.order, want, N_SAMPLES * sizeof *want);
        stream_free(&st);
        ct_loader_free(l);
    }
    /* freeing a loader in the middle of an epoch, with batches taken and not */
    arm("free mid-epoch");
    ct_loader *l = make_loader(f, idx, N_SAMPLES, BS, 1, 9, 3, 3);
    assert_int_equal(ct_loader_start_epoch(l, 0), CT_OK);
    ct_batch bt;
    assert_int_equal(ct_loader_next(l, &bt), 1);
    ct_loader_free(l);
    /* and a loader that never started an epoch yields nothing */
    l = make_loader(f, idx, N_SAMPLES, BS, 1, 9, 2, 2);
    assert_int_equal(ct_loader_next(l, &bt), 0);
    ct_loader_free(l);
    free(want);
    free(idx);
}

/* Starting an epoch at batch `first` (resume) yields exactly the rest of that epoch, for any
 * number of workers and prefetch depth, also right after an abandoned epoch. */
static void test_start_mid_epoch(void **state) {
    fixture *f = *state;
    int32_t *idx = iota(N_SAMPLES);
    enum { BS = 30 }; /* 34 batches, the last of 10 */
    arm("start mid-epoch (reference)");
    ct_loader *r = make_loader(f, idx, N_SAMPLES, BS, 1, 77, 0, 1);
    stream full = run_epoch(f, r, 4, N_SAMPLES, BS);
    ct_loader_free(r);
    const int64_t firsts[] = {1, 2, 5, 16, 17, 33, 34};
    const int workers[] = {0, 1, 2, 3, 5};
    for (size_t w = 0; w < sizeof workers / sizeof workers[0]; w++) {
        for (int prefetch = 1; prefetch <= 4; prefetch++) {
            static char phase[96];
            snprintf(phase, sizeof phase, "start mid-epoch, workers %d prefetch %d", workers[w],
                     prefetch);
            arm(phase);
            ct_loader *l = make_loader(f, idx, N_SAMPLES, BS, 1, 77, workers[w], prefetch);
            for (size_t k = 0; k < sizeof firsts / sizeof firsts[0]; k++) {
                int64_t first = firsts[k];
                /* abandon another epoch first, with a batch taken */
                ct_batch bt;
                assert_int_equal(ct_loader_start_epoch(l, 1), CT_OK);
                assert_int_equal(ct_loader_next(l, &bt), 1);
                stream st = run_epoch_at(f, l, 4, first, N_SAMPLES, BS);
                int64_t skipped = first * BS < N_SAMPLES ? first * BS : N_SAMPLES;
                if (memcmp(st.bytes, full.bytes + skipped * REC, (size_t)st.n * REC) != 0)
                    fail_msg("%s, first %lld: not the rest of the epoch", phase, (long long)first);
                stream_free(&st);
            }
            /* batches outside the epoch are errors */
            assert_int_equal(ct_loader_start_epoch_at(l, 4, -1), CT_ERR_INVALID);
            assert_int_equal(ct_loader_start_epoch_at(l, 4, 35), CT_ERR_INVALID);
            ct_loader_free(l);
        }
    }
    stream_free(&full);
    free(idx);
}

static void test_many_short_epochs(void **state) {
    fixture *f = *state;
    /* tiny sets, many epochs, several worker counts: a lost wake-up or a slot mix-up hangs or
     * breaks the order check */
    int32_t idx[23];
    for (int i = 0; i < 23; i++) idx[i] = (int32_t)(i * 41 % N_SAMPLES);
    int32_t want[23];
    const struct { int workers, prefetch, batch; } cfg[] = {
        {1, 1, 3}, {2, 2, 3}, {3, 1, 2}, {4, 2, 5}, {5, 3, 1}, {2, 4, 23}, {3, 4, 1},
    };
    for (size_t c = 0; c < sizeof cfg / sizeof cfg[0]; c++) {
        static char phase[96];
        snprintf(phase, sizeof phase, "200 short epochs, workers %d prefetch %d batch %d",
                 cfg[c].workers, cfg[c].prefetch, cfg[c].batch);
        arm(phase);
        ct_loader *l = make_loader(f, idx, 23, cfg[c].batch, 1, 5, cfg[c].workers, cfg[c].prefetch);
        for (int e = 0; e < 200; e++) {
            if (e % 7 == 3) { /* now and then abandon an epoch after one batch */
                ct_batch bt;
                assert_int_equal(ct_loader_start_epoch(l, e), CT_OK);
                assert_int_equal(ct_loader_next(l, &bt), 1);
                continue;
            }
            stream st = run_epoch(f, l, e, 23, cfg[c].batch);
            ct_epoch_order(idx, 23, 5, e, 1, want);
            assert_memory_equal(st.order, want, sizeof want);
            stream_free(&st);
        }
        ct_loader_free(l);
    }
}

/* More workers than fit evenly into the ring of slots (workers * prefetch above
 * CT_MAX_COPY_SLOTS and not a multiple of workers): many epochs so that a worker running ahead
 * into another worker's slot would show up as a hang. */
static void test_slot_ring_clamped(void **state) {
    fixture *f = *state;
    int32_t *idx = iota(N_SAMPLES);
    const struct { int workers, prefetch; } cfg[] = {{5, 4}, {3, 6}, {7, 3}};
    for (size_t c = 0; c < sizeof cfg / sizeof cfg[0]; c++) {
        static char phase[96];
        snprintf(phase, sizeof phase, "clamped ring: workers %d prefetch %d", cfg[c].workers,
                 cfg[c].prefetch);
        arm(phase);
        ct_loader *l = make_loader(f, idx, N_SAMPLES, 4, 1, 1, cfg[c].workers, cfg[c].prefetch);
        for (int e = 0; e < 30; e++) {
            stream st = run_epoch(f, l, e, N_SAMPLES, 4);
            stream_free(&st);
        }
        ct_loader_free(l);
    }
    free(idx);
}

static void test_create_errors(void **state) {
    fixture *f = *state;
    arm("create errors");
    int32_t idx[4] = {0, 1, 2, 3}, bad[2] = {0, N_SAMPLES};
    ct_loader *l = (ct_loader *)1;
    assert_int_equal(ct_loader_create(f->b, f->ds, idx, 0, 2, 1, 0, 0, 1, &l), CT_ERR_INVALID);
    assert_null(l);
    assert_int_equal(ct_loader_create(f->b, f->ds, idx, 4, 0, 1, 0, 0, 1, &l), CT_ERR_INVALID);
    assert_int_equal(ct_loader_create(f->b, f->ds, idx, 4, -3, 1, 0, 0, 1, &l), CT_ERR_INVALID);
    assert_int_equal(ct_loader_create(f->b, f->ds, idx, 4, 2, 1, 0, -1, 1, &l), CT_ERR_INVALID);
    assert_int_equal(ct_loader_create(f->b, f->ds, idx, 4, 2, 1, 0, 1000, 1, &l), CT_ERR_INVALID);
    assert_int_equal(ct_loader_create(f->b, f->ds, bad, 2, 2, 1, 0, 0, 1, &l), CT_ERR_INVALID);
    assert_true(strstr(ct_last_error(), "out of range") != NULL);
    bad[1] = -1;
    assert_int_equal(ct_loader_create(f->b, f->ds, bad, 2, 2, 1, 0, 0, 1, &l), CT_ERR_INVALID);
    assert_null(l);
    /* prefetch 0 is taken as 1 */
    l = make_loader(f, idx, 4, 3, 1, 0, 2, 0);
    stream st = run_epoch(f, l, 0, 4, 3);
    assert_same_set(idx, st.order, 4, N_SAMPLES);
    stream_free(&st);
    ct_loader_free(l);
    ct_loader_free(NULL);
}

/* ------------------------------------------------------------------------------------------ */
/* ct_split_indices                                                                            */

static void test_split_indices(void **state) {
    (void)state;
    arm("split");
    const struct { int64_t n, val; } cases[] = {{60000, 10000}, {1000, 1}, {1000, 999}, {2, 1}, {37, 12}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int64_t n = cases[c].n, nv = cases[c].val, nt = n - nv;
        int32_t *tr = NULL, *va = NULL;
        assert_int_equal(ct_split_indices(n, nv, 42, &tr, &va), CT_OK);
        assert_non_null(tr);
        assert_non_null(va);
        /* disjoint, and together exactly [0, n) */
        uint8_t *seen = calloc((size_t)n, 1);
        assert_non_null(seen);
        for (int64_t i = 0; i < nt; i++) {
            assert_true(tr[i] >= 0 && tr[i] < n);
            assert_int_equal(seen[tr[i]], 0);
            seen[tr[i]] = 1;
        }
        for (int64_t i = 0; i < nv; i++) {
            assert_true(va[i] >= 0 && va[i] < n);
            assert_int_equal(seen[va[i]], 0);
            seen[va[i]] = 2;
        }
        for (int64_t i = 0; i < n; i++) assert_true(seen[i] != 0);
        /* the same seed gives the same split, another seed another */
        int32_t *tr2 = NULL, *va2 = NULL, *tr3 = NULL, *va3 = NULL;
        assert_int_equal(ct_split_indices(n, nv, 42, &tr2, &va2), CT_OK);
        assert_memory_equal(tr, tr2, (size_t)nt * sizeof *tr);
        assert_memory_equal(va, va2, (size_t)nv * sizeof *va);
        if (n >= 1000) {
            assert_int_equal(ct_split_indices(n, nv, 43, &tr3, &va3), CT_OK);
            int64_t same = 0;
            for (int64_t i = 0; i < nt; i++) same += tr[i] == tr3[i];
            assert_true(same < nt / 10 + 10);
            /* shuffled, not the last part of [0, n): about nv * nt / n validation indices
             * fall below nt */
            int64_t low = 0;
            for (int64_t i = 0; i < nv; i++) low += va[i] < nt;
            double expect = (double)nv * (double)nt / (double)n;
            if (fabs((double)low - expect) > 5.0 * sqrt(expect) + 2.0)
                fail_msg("split %lld/%lld: %lld validation indices below %lld, expected ~%.0f",
                         (long long)nt, (long long)nv, (long long)low, (long long)nt, expect);
        }
        free(seen);
        free(tr); free(va); free(tr2); free(va2); free(tr3); free(va3);
    }
    /* no validation part: every index trains, in the seeded permutation; no val array */
    int32_t *tr = (int32_t *)1, *va = (int32_t *)1;
    assert_int_equal(ct_split_indices(100, 0, 1, &tr, &va), CT_OK);
    assert_null(va);
    int hit[100] = {0}, moved = 0;
    for (int i = 0; i < 100; i++) {
        hit[tr[i]]++;
        moved += tr[i] != i;
    }
    for (int i = 0; i < 100; i++) assert_int_equal(hit[i], 1);
    assert_true(moved > 50);
    free(tr);
    assert_int_equal(ct_split_indices(1, 0, 1, &tr, &va), CT_OK);
    assert_int_equal(tr[0], 0);
    free(tr);
    tr = (int32_t *)1, va = (int32_t *)1;
    assert_int_equal(ct_split_indices(100, 101, 1, &tr, &va), CT_ERR_INVALID);
    assert_null(tr);
    assert_null(va);
    assert_int_equal(ct_split_indices(100, 100, 1, &tr, &va), CT_ERR_INVALID);
    assert_int_equal(ct_split_indices(100, -5, 1, &tr, &va), CT_ERR_INVALID);
    assert_int_equal(ct_split_indices(1, 1, 1, &tr, &va), CT_ERR_INVALID);
    assert_int_equal(ct_split_indices(0, 0, 1, &tr, &va), CT_ERR_INVALID);
    assert_int_equal(ct_split_indices(100, 10, 1, NULL, &va), CT_ERR_INVALID);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_every_sample_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_subset_every_sample_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_partial_and_oversized_batches, setup, teardown),
        cmocka_unit_test_setup_teardown(test_order_by_seed_and_epoch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_shuffle_keeps_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_abandon_epoch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_start_mid_epoch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_short_epochs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_split_indices, setup, teardown),
        /* last: a hang here ends the program (alarm), so the tests above report first */
        cmocka_unit_test_setup_teardown(test_workers_and_prefetch_agree, setup, teardown),
        cmocka_unit_test_setup_teardown(test_slot_ring_clamped, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
