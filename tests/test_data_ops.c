/*
 * test_data_ops.c — the data and memory ops of the backend table (backend/backend.h: the
 * uint8 row gather (with augmentation: test_augment.c), a step's scalars in device memory,
 * collectives on one rank, allocation, copies and slots) against references written here, on
 * every backend that can be opened, as test_ops.c does for the arithmetic ops.
 */
#define _GNU_SOURCE /* usleep, setenv */
#include "testutil.h"

#include "backend/backend.h"
#include "core/core.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ------------------------------------------------------------------------------------------ */
/* gather_u8                                                                                   */

static void test_gather(void **state) {
    ct_backend *b = tu_backend(state);
    ct_rng rng;
    ct_rng_init(&rng, 15, 0);
    const int64_t shapes[][3] = {{50, 13, 17}, {1000, 784, 128}, {1, 1, 1}}; /* rows, row, n */
    const float scale = 1.0f / 255.0f;
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int64_t rows = shapes[s][0], row = shapes[s][1], n = shapes[s][2];
        uint8_t *src = hmalloc((size_t)(rows * row)), *lab = hmalloc((size_t)rows);
        int32_t *idx = hmalloc((size_t)n * 4);
        for (int64_t i = 0; i < rows * row; i++) src[i] = (uint8_t)ct_rng_u32(&rng);
        for (int64_t i = 0; i < rows; i++) lab[i] = (uint8_t)ct_rng_below(&rng, 10);
        for (int64_t i = 0; i < n; i++) idx[i] = (int32_t)ct_rng_below(&rng, (uint32_t)rows);
        idx[0] = (int32_t)(rows - 1); /* the last row, the first row and a repeat */
        if (n > 2) idx[1] = 0, idx[2] = idx[n - 1];
        /* one extra row / label after the n written: must stay untouched */
        size_t out_bytes = (size_t)((n + 1) * row) * 4;
        float *out = hmalloc(out_bytes);
        uint8_t out_lab[129 + 1];
        uint8_t *d_src = dput(b, src, (size_t)(rows * row)), *d_lab = dput(b, lab, (size_t)rows);
        int32_t *d_idx = dput(b, idx, (size_t)n * 4);
        float *d_out = dalloc(b, out_bytes);
        uint8_t *d_out_lab = dalloc(b, (size_t)n + 1);
        for (int mode = 0; mode < 3; mode++) { /* idx; idx NULL; no labels */
            const int32_t *use_idx = mode == 1 ? NULL : d_idx;
            for (size_t i = 0; i < out_bytes / 4; i++) out[i] = -1.0f;
            memset(out_lab, 0xAB, sizeof out_lab);
            OK(b->h2d(b, d_out, out, out_bytes));
            OK(b->h2d(b, d_out_lab, out_lab, (size_t)n + 1));
            OK(b->gather_u8(b, d_src, d_lab, use_idx, n, row, scale, NULL, NULL, d_out,
                            mode == 2 ? NULL : d_out_lab, NULL));
            dget(b, out, d_out, out_bytes);
            dget(b, out_lab, d_out_lab, (size_t)n + 1);
            char what[80];
            snprintf(what, sizeof what, "gather_u8 (%lld of %lld rows of %lld)%s", (long long)n,
                     (long long)rows, (long long)row, mode == 1 ? " idx NULL" : "");
            for (int64_t i = 0; i < n; i++) {
                int64_t from = mode == 1 ? i : idx[i];
                for (int64_t j = 0; j < row; j++)
                    tu_near(what, (size_t)(i * row + j), out[i * row + j],
                         src[from * row + j] / 255.0, 2e-7);
                if (mode != 2) tu_near("gathered label", (size_t)i, out_lab[i], lab[from], 0.0);
                else tu_near("label not asked for", (size_t)i, out_lab[i], 0xAB, 0.0);
            }
            for (int64_t j = 0; j < row; j++)
                tu_near("row after n", (size_t)j, out[n * row + j], -1.0, 0.0);
            tu_near("label after n", (size_t)n, out_lab[n], 0xAB, 0.0);
        }
        b->free(b, d_src); b->free(b, d_lab); b->free(b, d_idx); b->free(b, d_out);
        b->free(b, d_out_lab);
        free(src); free(lab); free(idx); free(out);
    }
}

/* ------------------------------------------------------------------------------------------ */
/* a step's scalars in device memory (ct_step_vars): step_load walks the epoch's table, and     */
/* gather_u8 with sv is gather_u8 with idx and aug->first moved on by sv->pos                    */

static void test_step_vars(void **state) {
    ct_backend *b = tu_backend(state);
    ct_rng rng;
    ct_rng_init(&rng, 17, 0);
    ct_step_vars table[3], cur;
    for (int k = 0; k < 3; k++)
        table[k] = (ct_step_vars){.pos = 128 * k + 5, .step = 1000 + (uint64_t)k,
                                  .lr = 0.5f / (float)(k + 1), .adam_step_size = 0.25f * k,
                                  .adam_bc2_sqrt = 0.125f * k, .first = k == 0};
    ct_step_vars *d_table = dput(b, table, sizeof table), *d_cur = dalloc(b, sizeof cur);
    int64_t cursor = 1, *d_cursor = dput(b, &cursor, sizeof cursor);
    for (int k = 1; k < 3; k++) {
        OK(b->step_load(b, d_cur, d_table, d_cursor));
        dget(b, &cur, d_cur, sizeof cur);
        assert_memory_equal(&cur, &table[k], sizeof cur);
    }
    dget(b, &cursor, d_cursor, sizeof cursor);
    assert_int_equal(cursor, 3);

    const int c = 3, h = 8, w = 8;
    const int64_t rows = 20, row = (int64_t)c * h * w, n = 9, pos = 6;
    uint8_t *src = hmalloc((size_t)(rows * row)), *lab = hmalloc((size_t)rows);
    int32_t idx[15];
    for (int64_t i = 0; i < rows * row; i++) src[i] = (uint8_t)ct_rng_u32(&rng);
    for (int64_t i = 0; i < rows; i++) lab[i] = (uint8_t)ct_rng_below(&rng, 10);
    for (int i = 0; i < 15; i++) idx[i] = (int32_t)ct_rng_below(&rng, (uint32_t)rows);
    size_t out_bytes = (size_t)(n * row) * 4;
    float *want = hmalloc(out_bytes), *got = hmalloc(out_bytes);
    uint8_t want_lab[9], got_lab[9];
    uint8_t *d_src = dput(b, src, (size_t)(rows * row)), *d_lab = dput(b, lab, (size_t)rows);
    int32_t *d_idx = dput(b, idx, sizeof idx);
    float *d_out = dalloc(b, out_bytes);
    uint8_t *d_out_lab = dalloc(b, (size_t)n);
    ct_step_vars sv = {.pos = pos};
    ct_step_vars *d_sv = dput(b, &sv, sizeof sv);
    for (int augment = 0; augment < 4; augment++) { /* none, crop and flip, all, resized crop */
        ct_augment aug = {.c = c, .h = h, .w = w, .pad = 2, .flip = 1, .seed = 7, .stream = 3,
                          .first = 11};
        if (augment == 2)
            aug.degrees = 30, aug.translate = 0.1f, aug.scale_min = 0.8f, aug.scale_max = 1.2f,
            aug.shear = 5, aug.bilinear = 1;
        if (augment == 3)
            aug.pad = 0, aug.area_min = 0.1f, aug.area_max = 0.9f, aug.ratio_min = 0.5f,
            aug.ratio_max = 2.0f, aug.erase_p = 0.5f, aug.erase_fill[0] = 30.0f;
        ct_augment moved = aug;
        moved.first += (uint64_t)pos;
        OK(b->gather_u8(b, d_src, d_lab, d_idx + pos, n, row, 0.5f, augment ? &moved : NULL,
                        NULL, d_out, d_out_lab, NULL));
        dget(b, want, d_out, out_bytes);
        dget(b, want_lab, d_out_lab, (size_t)n);
        OK(b->memset0(b, d_out, out_bytes));
        OK(b->gather_u8(b, d_src, d_lab, d_idx, n, row, 0.5f, augment ? &aug : NULL, d_sv, d_out,
                        d_out_lab, NULL));
        dget(b, got, d_out, out_bytes);
        dget(b, got_lab, d_out_lab, (size_t)n);
        assert_memory_equal(want, got, out_bytes);
        assert_memory_equal(want_lab, got_lab, (size_t)n);
        /* without idx (the streamed path) only the augmentation's position moves */
        OK(b->gather_u8(b, d_src, NULL, NULL, n, row, 0.5f, augment ? &moved : NULL, NULL, d_out,
                        NULL, NULL));
        dget(b, want, d_out, out_bytes);
        OK(b->gather_u8(b, d_src, NULL, NULL, n, row, 0.5f, augment ? &aug : NULL, d_sv, d_out,
                        NULL, NULL));
        dget(b, got, d_out, out_bytes);
        assert_memory_equal(want, got, out_bytes);
    }
    b->free(b, d_table); b->free(b, d_cur); b->free(b, d_cursor); b->free(b, d_src);
    b->free(b, d_lab); b->free(b, d_idx); b->free(b, d_out); b->free(b, d_out_lab);
    b->free(b, d_sv);
    free(src); free(lab); free(want); free(got);
}

/* ------------------------------------------------------------------------------------------ */
/* collectives (NCCL on CUDA): a communicator of one rank sums nothing away. The cross-rank sum  */
/* itself needs two GPUs (scripts/gpu-check runs mpirun when it has them).                       */

static void test_collectives_one_rank(void **state) {
    ct_backend *b = tu_backend(state);
    if (b->host_is_device) { /* the CPU sums through MPI in host memory: no device collectives */
        assert_null(b->coll_available);
        assert_null(b->coll_allreduce_sum_f32);
        return;
    }
    if (!b->coll_available) TU_SKIP("nccl", "this build of the %s backend has no NCCL", b->name);
    if (b->coll_available(b) != CT_OK) TU_SKIP("nccl", "%s", ct_last_error());
    const int64_t n = 1000;
    float *h = hmalloc((size_t)n * 4), *back = hmalloc((size_t)n * 4);
    for (int64_t i = 0; i < n; i++) h[i] = (float)i * 0.5f - 7.0f;
    float *d = dput(b, h, (size_t)n * 4);
    assert_int_equal(b->coll_allreduce_sum_f32(b, d, n), CT_ERR_INVALID); /* no communicator */
    unsigned char id[CT_COLL_ID_BYTES];
    size_t bytes = sizeof id;
    OK(b->coll_id(b, id, &bytes));
    assert_int_equal(bytes, CT_COLL_ID_BYTES);
    assert_int_equal(b->coll_init(b, id, bytes, 1, 1, 0.0), CT_ERR_INVALID); /* rank >= nranks */
    assert_false(b->coll_joined(b));
    OK(b->coll_init(b, id, bytes, 1, 0, 0.0));
    assert_true(b->coll_joined(b));
    assert_int_equal(b->coll_init(b, id, bytes, 1, 0, 0.0), CT_ERR_INVALID); /* already joined */
    OK(b->coll_allreduce_sum_f32(b, d, n));
    dget(b, back, d, (size_t)n * 4);
    for (int64_t i = 0; i < n; i++) tu_near("one-rank all-reduce", (size_t)i, back[i], h[i], 0.0);
    assert_non_null(strstr(b->coll_name(b), "NCCL"));
    b->coll_release(b);
    assert_false(b->coll_joined(b));
    assert_int_equal(b->coll_allreduce_sum_f32(b, d, n), CT_ERR_INVALID);
    b->free(b, d);
    free(h); free(back);
}

/* A broken link (the CUDA emulator's NCCL breaks one on request: CTRAIN_CUDA_EMU_NCCL_FAIL):
 * the watchdog aborts the communicator and the next host wait or all-reduce says why, whether
 * NCCL reports the error after an all-reduce completed, while one waits in the stream (the
 * host's wait is held up) or while one holds up the host inside the call. */
/* b alone in a new communicator (1 rank), timing its all-reduces with timeout_s */
static void join_alone(ct_backend *b, double timeout_s) {
    unsigned char id[CT_COLL_ID_BYTES];
    size_t bytes = sizeof id;
    OK(b->coll_id(b, id, &bytes));
    OK(b->coll_init(b, id, bytes, 1, 0, timeout_s));
}

/* n zeroed floats on b, for a fault only the CUDA emulator's NCCL makes; skips elsewhere */
static float *fault_buffer(ct_backend *b, const char *fault, int64_t n) {
    if (!b->coll_available || b->coll_available(b) != CT_OK)
        TU_SKIP("nccl", "no NCCL for the %s backend", b->name);
    if (!strstr(b->coll_name(b), "NCCL 0.0.0"))
        TU_SKIP("nccl fault", "%s is made only by the CUDA emulator's NCCL, not %s", fault,
                b->coll_name(b));
    float *d = NULL;
    OK(b->alloc(b, (size_t)n * 4, (void **)&d));
    OK(b->memset0(b, d, (size_t)n * 4));
    return d;
}

static void test_collectives_broken_link(void **state) {
    ct_backend *b = tu_backend(state);
    if (b->host_is_device) return; /* no device collectives (above) */
    const int64_t n = 64;
    float *d = fault_buffer(b, "a broken link", n);
    /* late: the first all-reduce completes, the error comes after it */
    setenv("CTRAIN_CUDA_EMU_NCCL_FAIL", "0:1:late", 1);
    join_alone(b, 0.0);
    OK(b->coll_allreduce_sum_f32(b, d, n));
    ct_status s = CT_OK;
    for (int k = 0; k < 100 && s == CT_OK; k++) { /* the watchdog looks every 0.2 s */
        s = b->sync(b);
        if (s == CT_OK) usleep(50000);
    }
    assert_int_equal(s, CT_ERR_DEVICE);
    assert_non_null(strstr(ct_last_error(), "NCCL reported an error"));
    assert_non_null(strstr(ct_last_error(), "the communicator was aborted"));
    assert_false(b->coll_joined(b));
    assert_int_equal(b->coll_allreduce_sum_f32(b, d, n), CT_ERR_DEVICE);
    b->coll_release(b); /* the abort freed it: nothing more to free */
    /* queued (as on a GPU): the host's wait for the stream is held until the abort */
    setenv("CTRAIN_CUDA_EMU_NCCL_FAIL", "0:1:queued", 1);
    join_alone(b, 0.0);
    OK(b->coll_allreduce_sum_f32(b, d, n));
    assert_int_equal(b->sync(b), CT_ERR_DEVICE);
    assert_non_null(strstr(ct_last_error(), "the communicator was aborted"));
    assert_null(strstr(ct_last_error(), "held this rank up"));
    /* a new communicator replaces what is left of the aborted one */
    unsetenv("CTRAIN_CUDA_EMU_NCCL_FAIL");
    join_alone(b, 0.0);
    OK(b->coll_allreduce_sum_f32(b, d, n));
    OK(b->sync(b));
    b->coll_release(b);
    /* stuck: the all-reduce never completes and holds the host until the abort frees it */
    setenv("CTRAIN_CUDA_EMU_NCCL_FAIL", "0:1", 1);
    join_alone(b, 0.0);
    assert_int_equal(b->coll_allreduce_sum_f32(b, d, n), CT_ERR_DEVICE);
    assert_non_null(strstr(ct_last_error(), "held this rank up in ncclAllReduce"));
    b->coll_release(b);
    unsetenv("CTRAIN_CUDA_EMU_NCCL_FAIL");
    /* and a communicator after them works */
    join_alone(b, 0.0);
    OK(b->coll_allreduce_sum_f32(b, d, n));
    OK(b->sync(b));
    b->coll_release(b);
    b->free(b, d);
}

/* A peer stuck without an error: the all-reduce never finishes and NCCL reports nothing; the
 * watchdog's timeout aborts the communicator, and the host's wait for the stream fails. */
static void test_collectives_timeout(void **state) {
    ct_backend *b = tu_backend(state);
    if (b->host_is_device) return; /* no device collectives */
    const int64_t n = 64;
    float *d = fault_buffer(b, "a stuck peer", n);
    unsigned char id[CT_COLL_ID_BYTES];
    size_t bytes = sizeof id;
    assert_int_equal(b->coll_init(b, id, bytes, 1, 0, -1.0), CT_ERR_INVALID);
    /* all-reduces that finish are not timed out, however long after them the watchdog looks */
    setenv("CTRAIN_CUDA_EMU_NCCL_FAIL", "0:3:hang", 1);
    join_alone(b, 0.3);
    OK(b->coll_allreduce_sum_f32(b, d, n));
    OK(b->coll_allreduce_sum_f32(b, d, n));
    OK(b->sync(b));
    usleep(800000);
    assert_true(b->coll_joined(b));
    /* the third never finishes: about 0.3 s after the stream reaches it, the host's wait fails */
    OK(b->coll_allreduce_sum_f32(b, d, n));
    double t0 = ct_time_s();
    assert_int_equal(b->sync(b), CT_ERR_DEVICE);
    double took = ct_time_s() - t0;
    assert_non_null(strstr(ct_last_error(), "has not finished within 0.3 s and NCCL reports no error"));
    assert_non_null(strstr(ct_last_error(), "the communicator was aborted"));
    assert_null(strstr(ct_last_error(), "held this rank up"));
    assert_true(took > 0.25 && took < 10.0);
    assert_false(b->coll_joined(b));
    b->coll_release(b);
    unsetenv("CTRAIN_CUDA_EMU_NCCL_FAIL");
    /* without a timeout nothing is timed */
    join_alone(b, 0.0);
    OK(b->coll_allreduce_sum_f32(b, d, n));
    OK(b->sync(b));
    b->coll_release(b);
    b->free(b, d);
}

/* ------------------------------------------------------------------------------------------ */
/* memory and copies                                                                           */

static void test_memory(void **state) {
    ct_backend *b = tu_backend(state);
    const size_t sizes[] = {1, 4099, 1 << 20};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        size_t n = sizes[s];
        uint8_t *h = hmalloc(n), *back = hmalloc(n);
        for (size_t i = 0; i < n; i++) h[i] = (uint8_t)(i * 31 + 7);
        uint8_t *d1 = dput(b, h, n), *d2 = dalloc(b, n);
        OK(b->d2d(b, d2, d1, n));
        memset(back, 0, n);
        dget(b, back, d2, n);
        assert_memory_equal(back, h, n);
        OK(b->memset0(b, d2, n));
        dget(b, back, d2, n);
        for (size_t i = 0; i < n; i++) assert_int_equal(back[i], 0);
        if (n >= 3) { /* offsets: bytes [1, n-1) zeroed in d1, then copied into d2 at +1 */
            OK(b->memset0(b, d1 + 1, n - 2));
            OK(b->d2d(b, d2 + 1, d1 + 1, n - 2));
            dget(b, back, d1, n);
            assert_int_equal(back[0], h[0]);
            assert_int_equal(back[n - 1], h[n - 1]);
            for (size_t i = 1; i + 1 < n; i++) assert_int_equal(back[i], 0);
        }
        b->free(b, d1);
        b->free(b, d2);
        free(h);
        free(back);
    }
    b->free(b, NULL);
    b->host_free(b, NULL);

    /* pinned staging round trip: upload on the copy stream, an op reads it after wait_copy,
     * compute_mark frees the slot, a second upload into the same buffer, read back both */
    enum { N = 3000 };
    const int slots[] = {0, 5, CT_MAX_COPY_SLOTS - 1};
    for (size_t k = 0; k < sizeof slots / sizeof slots[0]; k++) {
        int slot = slots[k];
        float *pin = NULL, back[N];
        OK(b->host_alloc(b, N * 4, (void **)&pin));
        assert_non_null(pin);
        for (int i = 0; i < N; i++) pin[i] = (float)(i % 7) - 3.0f;
        float *d_in = dalloc(b, N * 4), *d_out = dalloc(b, N * 4);
        OK(b->h2d_async(b, d_in, pin, N * 4, slot));
        OK(b->wait_copy(b, slot));
        OK(b->act_forward(b, CT_ACT_RELU, 0.0f, d_in, d_out, N));
        OK(b->compute_mark(b, slot));
        OK(b->copy_done(b, slot));
        for (int i = 0; i < N; i++) pin[i] = (float)(i + slot);
        OK(b->h2d_async(b, d_in, pin, N * 4, slot));
        OK(b->wait_copy(b, slot));
        OK(b->copy_done(b, slot));
        OK(b->sync(b));
        dget(b, back, d_out, sizeof back);
        for (int i = 0; i < N; i++)
            tu_near("relu of the first upload", i, back[i], i % 7 > 3 ? i % 7 - 3 : 0, 0.0);
        dget(b, back, d_in, sizeof back);
        for (int i = 0; i < N; i++) tu_near("second upload", i, back[i], i + slot, 0.0);
        b->free(b, d_in);
        b->free(b, d_out);
        b->host_free(b, pin);
    }
}

/* A copy slot outside [0, CT_MAX_COPY_SLOTS) is refused by every slot function. */
static void test_copy_slot_range(void **state) {
    ct_backend *b = tu_backend(state);
    float h[4] = {1, 2, 3, 4};
    float *d = dalloc(b, sizeof h);
    const int bad[] = {-1, CT_MAX_COPY_SLOTS};
    for (int k = 0; k < 2; k++) {
        assert_int_equal(b->h2d_async(b, d, h, sizeof h, bad[k]), CT_ERR_INVALID);
        assert_int_equal(b->compute_mark(b, bad[k]), CT_ERR_INVALID);
        assert_int_equal(b->wait_copy(b, bad[k]), CT_ERR_INVALID);
        assert_int_equal(b->copy_done(b, bad[k]), CT_ERR_INVALID);
    }
    OK(b->sync(b));
    b->free(b, d);
}

/* ------------------------------------------------------------------------------------------ */

int main(void) {
    tu_open_backends(&tu_backends[TU_CPU], &tu_backends[TU_CUDA]);
    const struct CMUnitTest tests[] = {
        TU_ON_EACH(test_gather), TU_ON_EACH(test_step_vars),
        TU_ON_EACH(test_collectives_one_rank), TU_ON_EACH(test_collectives_broken_link),
        TU_ON_EACH(test_collectives_timeout),
        TU_ON_EACH(test_memory),
        TU_ON_EACH(test_copy_slot_range),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    tu_close_backends();
    return rc;
}
