/*
 * test_tfevents.c — ct_tfevents' files read back record by record: the TFRecord framing checked
 * with a CRC-32C computed here bit by bit (not ISA-L's), each Event unpacked by protobuf-c
 * (tensorboard.proto's generated reader, compiled into this test). tests/cli_tensorboard.sh
 * reads them again with Python's protobuf and crcmod, as TensorBoard does.
 */
#include "testutil.h"

#include "ctrain/io.h"
#include "tensorboard.pb-c.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* CRC-32C, reflected polynomial 0x82F63B78, bit by bit */
static uint32_t crc32c_bits(const unsigned char *p, size_t n) {
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1u)));
    }
    return ~c;
}

static uint32_t masked(const unsigned char *p, size_t n) {
    uint32_t c = crc32c_bits(p, n);
    return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}

static uint32_t le32(const unsigned char *b) {
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

/* The events of path (at most max), each checked; returns how many. */
static int read_events(const char *path, Tensorboard__Event **ev, int max) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    int n = 0;
    unsigned char head[12];
    while (fread(head, 1, 12, f) == 12) {
        uint64_t len = 0;
        for (int i = 0; i < 8; i++) len |= (uint64_t)head[i] << (8 * i);
        assert_int_equal(le32(head + 8), masked(head, 8));
        assert_true(len < 4096);
        unsigned char *buf = hmalloc(len + 4);
        assert_int_equal(fread(buf, 1, len + 4, f), len + 4);
        assert_int_equal(le32(buf + len), masked(buf, len));
        assert_true(n < max);
        ev[n] = tensorboard__event__unpack(NULL, len, buf);
        assert_non_null(ev[n]);
        n++;
        free(buf);
    }
    assert_true(feof(f));
    fclose(f);
    return n;
}

static void test_crc32c_check_value(void **state) {
    (void)state; /* the reference value of CRC-32C (RFC 3720, "123456789") */
    assert_int_equal(crc32c_bits((const unsigned char *)"123456789", 9), 0xE3069283u);
}

/* file version, START at the start step, then the scalars, in a file named as PyTorch's */
static void test_tfevents_write(void **state) {
    (void)state;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", tu_tmp_path("tb1"));
    assert_int_equal(mkdir(dir, 0755), 0);
    ct_tfevents *w = NULL;
    double t0 = (double)time(NULL);
    OK(ct_tfevents_open(&w, dir, 5));
    const char *tags[] = {"epoch_loss", "epoch_accuracy"};
    double v1[] = {0.25, 0.875}, v2[] = {1.0 / 3.0, NAN};
    OK(ct_tfevents_scalars(w, 5, tags, v1, 2));
    OK(ct_tfevents_scalars(w, 6, tags, v2, 2));
    char path[4096], host[256] = "";
    snprintf(path, sizeof path, "%s", ct_tfevents_path(w));
    OK(ct_tfevents_close(w));
    double t1 = (double)time(NULL) + 1;

    gethostname(host, sizeof host);
    const char *base = strrchr(path, '/') + 1;
    assert_int_equal(strncmp(base, "events.out.tfevents.", 20), 0);
    assert_non_null(strstr(base, host));

    Tensorboard__Event *ev[8];
    int n = read_events(path, ev, 8);
    assert_int_equal(n, 4);
    assert_int_equal(ev[0]->what_case, TENSORBOARD__EVENT__WHAT_FILE_VERSION);
    assert_string_equal(ev[0]->file_version, "brain.Event:2");
    assert_int_equal(ev[1]->what_case, TENSORBOARD__EVENT__WHAT_SESSION_LOG);
    assert_int_equal(ev[1]->session_log->status, TENSORBOARD__SESSION_LOG__SESSION_STATUS__START);
    assert_int_equal(ev[1]->step, 5);
    for (int i = 2; i < 4; i++) {
        assert_int_equal(ev[i]->what_case, TENSORBOARD__EVENT__WHAT_SUMMARY);
        assert_int_equal(ev[i]->step, 3 + i);
        /* Unix seconds (not ms, not a monotonic clock): within a minute of the write, as a
         * virtual machine's clock may be stepped while the test runs (it once failed at 1 s) */
        if (!(ev[i]->wall_time >= t0 - 60 && ev[i]->wall_time <= t1 + 60))
            fail_msg("event %d: wall_time %.3f, written between %.0f and %.0f", i,
                     ev[i]->wall_time, t0, t1);
        assert_int_equal(ev[i]->summary->n_value, 2);
        for (int k = 0; k < 2; k++) {
            assert_string_equal(ev[i]->summary->value[k]->tag, tags[k]);
            assert_int_equal(ev[i]->summary->value[k]->value_case,
                             TENSORBOARD__SUMMARY__VALUE__VALUE_SIMPLE_VALUE);
        }
    }
    assert_true(ev[2]->summary->value[0]->simple_value == 0.25f);
    assert_true(ev[2]->summary->value[1]->simple_value == 0.875f);
    assert_true(ev[3]->summary->value[0]->simple_value == (float)(1.0 / 3.0));
    assert_true(isnan(ev[3]->summary->value[1]->simple_value));
    for (int i = 0; i < n; i++) tensorboard__event__free_unpacked(ev[i], NULL);
}

/* two writers in one folder in the same second: two files */
static void test_tfevents_distinct_files(void **state) {
    (void)state;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", tu_tmp_path("tb2"));
    assert_int_equal(mkdir(dir, 0755), 0);
    ct_tfevents *a = NULL, *b = NULL;
    OK(ct_tfevents_open(&a, dir, 0));
    OK(ct_tfevents_open(&b, dir, 0));
    assert_string_not_equal(ct_tfevents_path(a), ct_tfevents_path(b));
    OK(ct_tfevents_close(a));
    OK(ct_tfevents_close(b));
    int files = 0;
    DIR *d = opendir(dir);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) files += strstr(e->d_name, "tfevents") != NULL;
    closedir(d);
    assert_int_equal(files, 2);
    assert_int_equal(ct_tfevents_close(NULL), CT_OK);
}

/* a folder that is not there, a negative start step, too many or missing scalars */
static void test_tfevents_refusals(void **state) {
    (void)state;
    ct_tfevents *w = (ct_tfevents *)&w;
    const char *missing = tu_tmp_path("no/such/folder");
    assert_int_equal(ct_tfevents_open(&w, missing, 0), CT_ERR_IO);
    assert_null(w);
    assert_non_null(strstr(ct_last_error(), missing));
    assert_int_equal(ct_tfevents_open(&w, tu_tmpdir(), -1), CT_ERR_INVALID);
    assert_int_equal(ct_tfevents_open(&w, "", 0), CT_ERR_INVALID);
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", tu_tmp_path("tb3"));
    assert_int_equal(mkdir(dir, 0755), 0);
    OK(ct_tfevents_open(&w, dir, 0));
    const char *tags[65];
    double v[65];
    for (int i = 0; i < 65; i++) tags[i] = "t", v[i] = i;
    assert_int_equal(ct_tfevents_scalars(w, 1, tags, v, 65), CT_ERR_INVALID);
    assert_int_equal(ct_tfevents_scalars(w, 1, NULL, v, 1), CT_ERR_INVALID);
    OK(ct_tfevents_scalars(w, 1, tags, v, 64));
    OK(ct_tfevents_close(w));
}

/* a model's histograms: one value per float tensor under its state_dict name; the weight
 * 0, 1, ..., 11 (one NaN instead of 6) in 30 equal buckets from 0 to 11, each value in the
 * first bucket whose limit is above it (the max in the last); the bias, all 5, in one bucket */
static void test_tfevents_histograms(void **state) {
    (void)state;
    ct_backend *b = NULL;
    ct_model *m = NULL;
    OK(ct_backend_create("cpu", 1, &b));
    OK(ct_model_create(b, "flatten,linear(3)", 1, 2, 2, 4, 1, &m));
    assert_int_equal(ct_model_param_count(m), 15);
    float p[15];
    for (int i = 0; i < 12; i++) p[i] = (float)i;
    p[6] = NAN;
    for (int i = 12; i < 15; i++) p[i] = 5.0f;
    OK(ct_model_set_params(m, p));
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", tu_tmp_path("tbh"));
    assert_int_equal(mkdir(dir, 0755), 0);
    ct_tfevents *w = NULL;
    OK(ct_tfevents_open(&w, dir, 0));
    OK(ct_tfevents_model_histograms(w, 3, m));
    char path[4096];
    snprintf(path, sizeof path, "%s", ct_tfevents_path(w));
    OK(ct_tfevents_close(w));
    Tensorboard__Event *ev[4];
    int n = read_events(path, ev, 4);
    assert_int_equal(n, 3);
    assert_int_equal(ev[2]->step, 3);
    assert_int_equal(ev[2]->summary->n_value, 2);
    const Tensorboard__Summary__Value *wv = ev[2]->summary->value[0], *bv = ev[2]->summary->value[1];
    assert_string_equal(wv->tag, "linear1.weight");
    assert_string_equal(bv->tag, "linear1.bias");
    assert_int_equal(wv->value_case, TENSORBOARD__SUMMARY__VALUE__VALUE_HISTO);
    const Tensorboard__HistogramProto *h = wv->histo;
    assert_true(h->min == 0 && h->max == 11 && h->num == 11 && h->sum == 60 && h->sum_squares == 470);
    assert_int_equal(h->n_bucket, 30);
    assert_int_equal(h->n_bucket_limit, 30);
    double total = 0;
    for (int k = 0; k < 30; k++) {
        double expect = 0; /* the values v (not 6) with limit[k - 1] <= v < limit[k] */
        for (int v = 0; v < 12; v++)
            if (v != 6 && (v < h->bucket_limit[k] || k == 29) && (k == 0 || v >= h->bucket_limit[k - 1]))
                expect += 1;
        assert_true(h->bucket[k] == expect);
        assert_true(fabs(h->bucket_limit[k] - 11.0 * (k + 1) / 30) < 1e-12);
        total += h->bucket[k];
    }
    assert_true(total == 11 && h->bucket[0] == 1 && h->bucket[29] == 1);
    assert_true(bv->histo->n_bucket == 1 && bv->histo->bucket[0] == 3 &&
                bv->histo->bucket_limit[0] == 5 && bv->histo->min == 5);
    for (int i = 0; i < n; i++) tensorboard__event__free_unpacked(ev[i], NULL);
    ct_model_free(m);
    ct_backend_free(b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc32c_check_value),
        cmocka_unit_test(test_tfevents_write),
        cmocka_unit_test(test_tfevents_distinct_files),
        cmocka_unit_test(test_tfevents_refusals),
        cmocka_unit_test(test_tfevents_histograms),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
