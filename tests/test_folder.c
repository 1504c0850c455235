/*
 * test_folder.c — ct_dataset_load_folder on small folders of PGM and PPM files written here:
 * ImageFolder's order and labels, the class names, channels taken from the first training
 * image (colour to grey as PIL's convert("L"), grey to colour repeated), val/ for test/, and
 * what it refuses. tests/cli_folder.sh trains on a folder of MNIST images (PNG, JPEG, PGM).
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char g_root[4096];

/* root/rel as a PGM (c 1) or PPM (c 3) of w x h pixels, each channel k of pixel i = v + i + k */
static void put_image(const char *rel, int c, int w, int h, int v) {
    char path[4200], dir[4200];
    snprintf(path, sizeof path, "%s/%s", g_root, rel);
    snprintf(dir, sizeof dir, "%s", path);
    for (char *p = dir + strlen(g_root) + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            mkdir(dir, 0755);
            *p = '/';
        }
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fprintf(f, "P%d\n%d %d\n255\n", c == 1 ? 5 : 6, w, h);
    for (int i = 0; i < w * h; i++)
        for (int k = 0; k < c; k++) fputc((v + i + k) & 255, f);
    fclose(f);
}

static void new_root(const char *name) {
    snprintf(g_root, sizeof g_root, "%s", tu_tmp_path(name));
    assert_int_equal(mkdir(g_root, 0755), 0);
}

/* classes sorted (b before c before d), files sorted in each, test labels by train's classes */
static void test_folder_order_and_names(void **state) {
    (void)state;
    new_root("f1");
    put_image("train/c/2.pgm", 1, 3, 2, 40);
    put_image("train/b/9.pgm", 1, 3, 2, 20);
    put_image("train/b/10.pgm", 1, 3, 2, 10); /* "10" sorts before "9" (by name) */
    put_image("train/d/x.pgm", 1, 3, 2, 60);
    put_image("test/d/1.pgm", 1, 3, 2, 70);
    put_image("test/b/1.pgm", 1, 3, 2, 80);
    put_image("train/b/notes.txt", 1, 1, 1, 0); /* not an image by its name: skipped */
    put_image("train/b/.hidden.pgm", 1, 3, 2, 0);
    ct_dataset *ds = NULL;
    char *names = NULL;
    OK(ct_dataset_load_folder(g_root, "train", &ds, &names));
    assert_string_equal(names, "b\nc\nd");
    assert_int_equal(ct_dataset_count(ds), 4);
    assert_int_equal(ct_dataset_classes(ds), 3);
    assert_int_equal(ct_dataset_channels(ds), 1);
    assert_int_equal(ct_dataset_height(ds), 2);
    assert_int_equal(ct_dataset_width(ds), 3);
    const uint8_t want_labels[] = {0, 0, 1, 2}, first_px[] = {10, 20, 40, 60};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(ct_dataset_labels(ds)[i], want_labels[i]);
        assert_int_equal(ct_dataset_images(ds)[i * 6], first_px[i]);
        assert_int_equal(ct_dataset_images(ds)[i * 6 + 5], first_px[i] + 5);
    }
    ct_dataset_free(ds);
    free(names);
    OK(ct_dataset_load_folder(g_root, "test", &ds, NULL));
    assert_int_equal(ct_dataset_count(ds), 2);
    assert_int_equal(ct_dataset_classes(ds), 3);
    assert_int_equal(ct_dataset_labels(ds)[0], 0); /* b */
    assert_int_equal(ct_dataset_labels(ds)[1], 2); /* d */
    assert_int_equal(ct_dataset_images(ds)[0], 80);
    ct_dataset_free(ds);
}

/* a colour first image makes a colour dataset (grey images repeated); a grey one a grey
 * dataset (colour images by luminance, as PIL's convert("L")); val/ when there is no test/ */
static void test_folder_channels(void **state) {
    (void)state;
    new_root("f2");
    put_image("train/a/0.ppm", 3, 2, 2, 100);
    put_image("train/a/1.pgm", 1, 2, 2, 7);
    put_image("val/a/0.pgm", 1, 2, 2, 9);
    ct_dataset *ds = NULL;
    OK(ct_dataset_load_folder(g_root, "train", &ds, NULL));
    assert_int_equal(ct_dataset_channels(ds), 3);
    const uint8_t *px = ct_dataset_images(ds);
    assert_int_equal(px[0], 100);      /* image 0, R of pixel 0 */
    assert_int_equal(px[4], 101);      /* G of pixel 0 (planes of 4 pixels) */
    assert_int_equal(px[12 + 0], 7);   /* image 1: grey repeated in R, G, B */
    assert_int_equal(px[12 + 4], 7);
    assert_int_equal(px[12 + 8 + 3], 10);
    ct_dataset_free(ds);
    OK(ct_dataset_load_folder(g_root, "test", &ds, NULL)); /* (val/) */
    assert_int_equal(ct_dataset_channels(ds), 3);
    assert_int_equal(ct_dataset_images(ds)[8], 9);
    ct_dataset_free(ds);

    new_root("f3");
    put_image("train/a/0.pgm", 1, 2, 1, 5);
    put_image("train/a/1.ppm", 3, 2, 1, 200); /* pixel 0: (200, 201, 202) */
    put_image("test/a/0.pgm", 1, 2, 1, 5);
    OK(ct_dataset_load_folder(g_root, "train", &ds, NULL));
    assert_int_equal(ct_dataset_channels(ds), 1);
    unsigned l = (200u * 19595u + 201u * 38470u + 202u * 7471u + 0x8000u) >> 16;
    assert_int_equal(ct_dataset_images(ds)[2], l);
    assert_int_equal(l, 201);
    ct_dataset_free(ds);
}

static void expect_refused(const char *part, ct_status want, const char *text) {
    ct_dataset *ds = (ct_dataset *)&ds;
    assert_int_equal(ct_dataset_load_folder(g_root, part, &ds, NULL), want);
    assert_null(ds);
    if (!strstr(ct_last_error(), text)) fail_msg("\"%s\" lacks \"%s\"", ct_last_error(), text);
}

static void test_folder_refusals(void **state) {
    (void)state;
    new_root("f4"); /* no train folder */
    expect_refused("train", CT_ERR_IO, "no train folder");
    put_image("train/a/0.pgm", 1, 2, 2, 0);
    expect_refused("test", CT_ERR_IO, "no test (or val) folder");
    put_image("test/z/0.pgm", 1, 2, 2, 0);
    expect_refused("test", CT_ERR_FORMAT, "a class that");
    new_root("f5");
    put_image("train/a/0.pgm", 1, 2, 2, 0);
    put_image("train/a/1.pgm", 1, 3, 2, 0);
    expect_refused("train", CT_ERR_FORMAT, "3x2 pixels, but the dataset's images are 2x2");
    new_root("f6");
    put_image("train/a/0.pgm", 1, 2, 2, 0);
    put_image("train/b/x.bmp", 1, 2, 2, 0);
    expect_refused("train", CT_ERR_FORMAT, ".bmp images are not read");
    new_root("f7");
    char empty[4200];
    snprintf(empty, sizeof empty, "%s/train", g_root);
    mkdir(empty, 0755);
    expect_refused("train", CT_ERR_FORMAT, "0 class folders");
    ct_dataset *ds = NULL;
    assert_int_equal(ct_dataset_load_folder(g_root, "val", &ds, NULL), CT_ERR_INVALID);
    assert_int_equal(ct_dataset_load_folder(NULL, "train", &ds, NULL), CT_ERR_INVALID);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_folder_order_and_names),
        cmocka_unit_test(test_folder_channels),
        cmocka_unit_test(test_folder_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
