/*
 * test_cifar.c — the CIFAR-10 binary reader and the Fashion-MNIST loader, on small files the
 * test writes: record layout (label byte, then the R, G, B planes as (3, 32, 32)), the five
 * training batches in order, the archive's cifar-10-batches-bin subfolder, and one-line errors
 * for a missing file, an empty file, a size that is not whole records and a bad label. When
 * Debian's dataset-fashion-mnist is installed, its test part is loaded too.
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define REC 3073

/* Record r of file f: label (f + r) % 10, pixel p = (f * 31 + r * 7 + p) % 251. */
static void make_record(int f, int r, uint8_t *rec) {
    rec[0] = (uint8_t)((f + r) % 10);
    for (int p = 0; p < 3072; p++) rec[1 + p] = (uint8_t)((f * 31 + r * 7 + p) % 251);
}

/* Writes dir/name with `records` records of file index f (plus `extra` stray bytes). */
static void write_batch(const char *dir, const char *name, int f, int records, int extra) {
    char path[600];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    uint8_t rec[REC];
    for (int r = 0; r < records; r++) {
        make_record(f, r, rec);
        assert_int_equal(fwrite(rec, 1, REC, fp), REC);
    }
    for (int i = 0; i < extra; i++) fputc(7, fp);
    fclose(fp);
}

static const char *make_dir(const char *name) {
    static char dirs[4][512];
    static int next;
    char *d = dirs[next++ % 4];
    snprintf(d, 512, "%s/%s", tu_tmpdir(), name);
    mkdir(d, 0755);
    return d;
}

static void write_full_set(const char *dir, const int *counts) {
    char name[64];
    for (int f = 0; f < 5; f++) {
        snprintf(name, sizeof name, "data_batch_%d.bin", f + 1);
        write_batch(dir, name, f, counts[f], 0);
    }
    write_batch(dir, "test_batch.bin", 9, 3, 0);
}

static void test_cifar_read(void **state) {
    const char *dir = make_dir("cifar");
    const int counts[5] = {2, 1, 3, 1, 2};
    write_full_set(dir, counts);
    ct_dataset *ds = NULL;
    OK(ct_dataset_load_cifar10(dir, "train", &ds));
    assert_int_equal(ct_dataset_count(ds), 9);
    assert_int_equal(ct_dataset_channels(ds), 3);
    assert_int_equal(ct_dataset_height(ds), 32);
    assert_int_equal(ct_dataset_width(ds), 32);
    assert_int_equal(ct_dataset_classes(ds), 10);
    int i = 0;
    uint8_t rec[REC];
    for (int f = 0; f < 5; f++)
        for (int r = 0; r < counts[f]; r++, i++) {
            make_record(f, r, rec);
            assert_int_equal(ct_dataset_labels(ds)[i], rec[0]);
            assert_memory_equal(ct_dataset_images(ds) + (size_t)i * 3072, rec + 1, 3072);
        }
    /* (3, 32, 32): green plane of image 0, row 1, column 2 is byte 1024 + 32 + 2 */
    make_record(0, 0, rec);
    assert_int_equal(ct_dataset_images(ds)[1024 + 32 + 2], rec[1 + 1024 + 32 + 2]);
    ct_dataset_free(ds);
    OK(ct_dataset_load_cifar10(dir, "test", &ds));
    assert_int_equal(ct_dataset_count(ds), 3);
    make_record(9, 2, rec);
    assert_int_equal(ct_dataset_labels(ds)[2], rec[0]);
    assert_memory_equal(ct_dataset_images(ds) + 2 * 3072, rec + 1, 3072);
    ct_dataset_free(ds);

    /* the archive's layout: dir/cifar-10-batches-bin/... */
    const char *top = make_dir("cifar-top");
    char sub[600];
    snprintf(sub, sizeof sub, "%s/cifar-10-batches-bin", top);
    mkdir(sub, 0755);
    write_full_set(sub, counts);
    OK(ct_dataset_load_cifar10(top, "test", &ds));
    assert_int_equal(ct_dataset_count(ds), 3);
    ct_dataset_free(ds);
}

/* Every malformed input is an error naming the file, never a crash. */
static void test_cifar_errors(void **state) {
    const int counts[5] = {1, 1, 1, 1, 1};
    ct_dataset *ds = (ct_dataset *)1;
    struct { const char *setup; const char *part; const char *expect; } cases[] = {
        {"missing", "train", "data_batch_3.bin"},
        {"empty", "test", "empty file"},
        {"truncated", "test", "not a whole number of 3073-byte records"},
        {"extra", "train", "not a whole number"},
        {"label", "test", "label 10"},
        {"ok", "validation", "unknown"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        char name[32];
        snprintf(name, sizeof name, "bad%zu", k);
        const char *dir = make_dir(name);
        write_full_set(dir, counts);
        char path[600];
        if (!strcmp(cases[k].setup, "missing")) {
            snprintf(path, sizeof path, "%s/data_batch_3.bin", dir);
            unlink(path);
        } else if (!strcmp(cases[k].setup, "empty")) {
            write_batch(dir, "test_batch.bin", 0, 0, 0);
        } else if (!strcmp(cases[k].setup, "truncated")) {
            snprintf(path, sizeof path, "%s/test_batch.bin", dir);
            assert_int_equal(truncate(path, REC + 100), 0);
        } else if (!strcmp(cases[k].setup, "extra")) {
            write_batch(dir, "data_batch_5.bin", 4, 2, 1);
        } else if (!strcmp(cases[k].setup, "label")) {
            snprintf(path, sizeof path, "%s/test_batch.bin", dir);
            FILE *fp = fopen(path, "wb"); /* a good record 0, then label 10 in record 1 */
            assert_non_null(fp);
            uint8_t rec[REC];
            make_record(9, 0, rec);
            fwrite(rec, 1, REC, fp);
            rec[0] = 10;
            fwrite(rec, 1, REC, fp);
            fclose(fp);
        }
        ds = (ct_dataset *)1;
        ct_status s = ct_dataset_load_cifar10(dir, cases[k].part, &ds);
        assert_int_not_equal(s, CT_OK);
        assert_null(ds);
        if (!strstr(ct_last_error(), cases[k].expect))
            fail_msg("%s: error \"%s\" lacks \"%s\"", cases[k].setup, ct_last_error(),
                     cases[k].expect);
        if (strchr(ct_last_error(), '\n')) fail_msg("multi-line error: %s", ct_last_error());
        if (!strcmp(cases[k].setup, "label") && !strstr(ct_last_error(), "record 1"))
            fail_msg("the error does not name the record: %s", ct_last_error());
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Fashion-MNIST                                                                               */

static void put_be32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}

static void test_fashion_files(void **state) {
    const char *dir = make_dir("fashion");
    enum { N = 3, H = 28, W = 28 };
    static uint8_t img[16 + N * H * W];
    uint8_t lab[8 + N];
    put_be32(img, 0x803);
    put_be32(img + 4, N);
    put_be32(img + 8, H);
    put_be32(img + 12, W);
    for (int i = 0; i < N * H * W; i++) img[16 + i] = (uint8_t)(i * 13);
    put_be32(lab, 0x801);
    put_be32(lab + 4, N);
    lab[8] = 9, lab[9] = 0, lab[10] = 4;
    char path[600];
    snprintf(path, sizeof path, "%s/t10k-images-idx3-ubyte", dir);
    FILE *f = fopen(path, "wb");
    fwrite(img, 1, sizeof img, f);
    fclose(f);
    snprintf(path, sizeof path, "%s/t10k-labels-idx1-ubyte", dir);
    f = fopen(path, "wb");
    fwrite(lab, 1, sizeof lab, f);
    fclose(f);
    ct_dataset *ds = NULL;
    OK(ct_dataset_load_fashion_mnist(dir, "test", &ds));
    assert_int_equal(ct_dataset_count(ds), N);
    assert_int_equal(ct_dataset_labels(ds)[0], 9);
    assert_int_equal(ct_dataset_images(ds)[5], (uint8_t)(5 * 13));
    ct_dataset_free(ds);
    ds = (ct_dataset *)1;
    assert_int_equal(ct_dataset_load_fashion_mnist(dir, "train", &ds), CT_ERR_IO);
    assert_null(ds);
    assert_non_null(strstr(ct_last_error(), "dataset-fashion-mnist"));
    assert_int_equal(ct_dataset_load_fashion_mnist(dir, "t10k", &ds), CT_ERR_INVALID);
}

static void test_fashion_debian(void **state) {
    const char *sys = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz";
    if (access(sys, R_OK) != 0) TU_SKIP("fashion-mnist", "%s not installed", sys);
    ct_dataset *ds = NULL;
    OK(ct_dataset_load_fashion_mnist(NULL, "test", &ds));
    assert_int_equal(ct_dataset_count(ds), 10000);
    assert_int_equal(ct_dataset_height(ds), 28);
    int seen[10] = {0};
    for (int i = 0; i < 10000; i++) seen[ct_dataset_labels(ds)[i]]++;
    for (int c = 0; c < 10; c++) assert_int_equal(seen[c], 1000); /* balanced test set */
    ct_dataset_free(ds);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cifar_read),    cmocka_unit_test(test_cifar_errors),
        cmocka_unit_test(test_fashion_files), cmocka_unit_test(test_fashion_debian),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
