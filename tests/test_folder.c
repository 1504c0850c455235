/*
 * test_folder.c — ct_dataset_load_folder on small folders of PGM and PPM files written here:
 * ImageFolder's order and labels, the class names, channels taken from the first training
 * image (colour to grey as PIL's convert("L"), grey to colour repeated), val/ for test/, and
 * what it refuses. tests/cli_folder.sh trains on a folder of MNIST images (PNG, JPEG, PGM).
 */
#include "testutil.h"

#include "ctrain/io.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

static char g_root[4096];

/* root/rel as a PGM (c 1) or PPM (c 3) of w x h pixels, each channel k of pixel i = v + i + k */
static void make_parents(const char *path) {
    char dir[4200];
    snprintf(dir, sizeof dir, "%s", path);
    for (char *p = dir + strlen(g_root) + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            mkdir(dir, 0755);
            *p = '/';
        }
}

static void put_image(const char *rel, int c, int w, int h, int v) {
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", g_root, rel);
    make_parents(path);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fprintf(f, "P%d\n%d %d\n255\n", c == 1 ? 5 : 6, w, h);
    for (int i = 0; i < w * h; i++)
        for (int k = 0; k < c; k++) fputc((v + i + k) & 255, f);
    fclose(f);
}

/* root/rel as a grey PNG of w x h pixels, pixel i = v + 3i (filter 0, zlib's deflate); with
 * cut > 0, the file ends after cut bytes (a truncated image) */
static void put_png(const char *rel, int w, int h, int v, long cut) {
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", g_root, rel);
    uint8_t raw[4096], z[8192], ihdr[13] = {0};
    int n = 0;
    for (int y = 0; y < h; y++) {
        raw[n++] = 0; /* filter: none */
        for (int x = 0; x < w; x++) raw[n++] = (uint8_t)(v + 3 * (y * w + x));
    }
    uLongf zn = sizeof z;
    assert_int_equal(compress(z, &zn, raw, (uLong)n), Z_OK);
    const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    ihdr[3] = (uint8_t)w, ihdr[7] = (uint8_t)h, ihdr[8] = 8; /* 8-bit grey */
    make_parents(path);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fwrite(sig, 1, 8, f);
    const struct { const char *type; const uint8_t *data; uLong len; } chunks[] = {
        {"IHDR", ihdr, 13}, {"IDAT", z, zn}, {"IEND", NULL, 0}};
    for (int k = 0; k < 3; k++) {
        uint8_t be[4] = {(uint8_t)(chunks[k].len >> 24), (uint8_t)(chunks[k].len >> 16),
                         (uint8_t)(chunks[k].len >> 8), (uint8_t)chunks[k].len};
        fwrite(be, 1, 4, f);
        fwrite(chunks[k].type, 1, 4, f);
        if (chunks[k].len) fwrite(chunks[k].data, 1, chunks[k].len, f);
        uLong crc = crc32(0, (const Bytef *)chunks[k].type, 4);
        if (chunks[k].len) crc = crc32(crc, chunks[k].data, chunks[k].len); /* (NULL: 0) */
        uint8_t cb[4] = {(uint8_t)(crc >> 24), (uint8_t)(crc >> 16), (uint8_t)(crc >> 8), (uint8_t)crc};
        fwrite(cb, 1, 4, f);
    }
    fclose(f);
    if (cut > 0) assert_int_equal(truncate(path, cut), 0);
}

static void new_root(const char *name) {
    snprintf(g_root, sizeof g_root, "%s", tu_tmp_path(name));
    assert_int_equal(mkdir(g_root, 0755), 0);
}

/* classes sorted (b before c before d), files sorted in each (a class's sub-folders after its
 * own files, as sorted(os.walk) has them), test labels by train's classes */
static void test_folder_order_and_names(void **state) {
    (void)state;
    new_root("f1");
    put_image("train/c/2.pgm", 1, 3, 2, 40);
    put_image("train/b/9.pgm", 1, 3, 2, 20);
    put_image("train/b/10.pgm", 1, 3, 2, 10); /* "10" sorts before "9" (by name) */
    put_image("train/d/x.pgm", 1, 3, 2, 60);
    put_image("train/c/sub/1.pgm", 1, 3, 2, 45);
    put_image("train/.git/x.pgm", 1, 3, 2, 0); /* a hidden folder: no class */
    put_image("test/d/1.pgm", 1, 3, 2, 70);
    put_image("test/b/1.pgm", 1, 3, 2, 80);
    put_image("train/b/notes.txt", 1, 1, 1, 0); /* not an image by its name: skipped */
    put_image("train/b/.hidden.pgm", 1, 3, 2, 0);
    ct_dataset *ds = NULL;
    char *names = NULL;
    OK(ct_dataset_load_folder(g_root, "train", 0, 0, 0, 0, 0, &ds, &names));
    assert_string_equal(names, "b\nc\nd");
    assert_int_equal(ct_dataset_count(ds), 5);
    assert_int_equal(ct_dataset_classes(ds), 3);
    assert_int_equal(ct_dataset_channels(ds), 1);
    assert_int_equal(ct_dataset_height(ds), 2);
    assert_int_equal(ct_dataset_width(ds), 3);
    const uint8_t want_labels[] = {0, 0, 1, 1, 2}, first_px[] = {10, 20, 40, 45, 60};
    for (int i = 0; i < 5; i++) {
        assert_int_equal(ct_dataset_labels(ds)[i], want_labels[i]);
        assert_int_equal(ct_dataset_images(ds)[i * 6], first_px[i]);
        assert_int_equal(ct_dataset_images(ds)[i * 6 + 5], first_px[i] + 5);
    }
    ct_dataset_free(ds);
    free(names);
    OK(ct_dataset_load_folder(g_root, "test", 0, 0, 0, 0, 0, &ds, NULL));
    assert_int_equal(ct_dataset_count(ds), 2);
    assert_int_equal(ct_dataset_classes(ds), 3);
    assert_int_equal(ct_dataset_labels(ds)[0], 0); /* b */
    assert_int_equal(ct_dataset_labels(ds)[1], 2); /* d */
    assert_int_equal(ct_dataset_images(ds)[0], 80);
    ct_dataset_free(ds);
    int c, h, w, k;
    OK(ct_dataset_folder_shape(g_root, 0, 0, &c, &h, &w, &k));
    assert_true(c == 1 && h == 2 && w == 3 && k == 3);
    OK(ct_dataset_folder_shape(g_root, 7, 5, &c, &h, &w, &k));
    assert_true(c == 1 && h == 7 && w == 5 && k == 3);
    /* val/ beside test/: the validation images, after train/'s in the "train" part (its
     * classes are train's; test/ stays the test part) */
    put_image("val/d/v1.pgm", 1, 3, 2, 90);
    put_image("val/c/v2.pgm", 1, 3, 2, 95);
    OK(ct_dataset_load_folder(g_root, "train", 0, 0, 0, 0, 0, &ds, NULL));
    assert_int_equal(ct_dataset_count(ds), 7);
    assert_int_equal(ct_dataset_val_count(ds), 2);
    assert_int_equal(ct_dataset_labels(ds)[5], 1); /* c's v2, then d's v1 (classes sorted) */
    assert_int_equal(ct_dataset_images(ds)[5 * 6], 95);
    assert_int_equal(ct_dataset_labels(ds)[6], 2);
    assert_int_equal(ct_dataset_images(ds)[6 * 6], 90);
    for (int i = 0; i < 5; i++) assert_int_equal(ct_dataset_images(ds)[i * 6], first_px[i]);
    ct_dataset_free(ds);
    OK(ct_dataset_load_folder(g_root, "test", 0, 0, 0, 0, 0, &ds, NULL));
    assert_int_equal(ct_dataset_count(ds), 2); /* test/'s */
    assert_int_equal(ct_dataset_val_count(ds), 0);
    assert_int_equal(ct_dataset_images(ds)[0], 80);
    ct_dataset_free(ds);
    put_image("val/e/x.pgm", 1, 3, 2, 0); /* a class train lacks */
    ds = (ct_dataset *)&ds;
    assert_int_equal(ct_dataset_load_folder(g_root, "train", 0, 0, 0, 0, 0, &ds, NULL),
                     CT_ERR_FORMAT);
    assert_null(ds);
    if (!strstr(ct_last_error(), "val/e: a class that the train folder does not have"))
        fail_msg("\"%s\"", ct_last_error());
}

/* a colour training image makes a colour dataset (grey images repeated), the first or a later
 * one; all grey, a grey dataset (colour test images by luminance, as PIL's convert("L"));
 * val/ when there is no test/ */
static void test_folder_channels(void **state) {
    (void)state;
    new_root("f2");
    put_image("train/a/0.ppm", 3, 2, 2, 100);
    put_image("train/a/1.pgm", 1, 2, 2, 7);
    put_image("val/a/0.pgm", 1, 2, 2, 9);
    ct_dataset *ds = NULL;
    OK(ct_dataset_load_folder(g_root, "train", 0, 0, 0, 0, 0, &ds, NULL));
    assert_int_equal(ct_dataset_channels(ds), 3);
    const uint8_t *px = ct_dataset_images(ds);
    assert_int_equal(px[0], 100);      /* image 0, R of pixel 0 */
    assert_int_equal(px[4], 101);      /* G of pixel 0 (planes of 4 pixels) */
    assert_int_equal(px[12 + 0], 7);   /* image 1: grey repeated in R, G, B */
    assert_int_equal(px[12 + 4], 7);
    assert_int_equal(px[12 + 8 + 3], 10);
    ct_dataset_free(ds);
    OK(ct_dataset_load_folder(g_root, "test", 0, 0, 0, 0, 0, &ds, NULL)); /* (val/) */
    assert_int_equal(ct_dataset_channels(ds), 3);
    assert_int_equal(ct_dataset_images(ds)[8], 9);
    ct_dataset_free(ds);

    new_root("f3");
    put_image("train/a/0.pgm", 1, 2, 1, 5);
    put_image("train/b/1.ppm", 3, 2, 1, 200); /* a later colour image: colour */
    put_image("test/a/0.ppm", 3, 2, 1, 200);  /* pixel 0: (200, 201, 202) */
    OK(ct_dataset_load_folder(g_root, "train", 0, 0, 0, 0, 0, &ds, NULL));
    assert_int_equal(ct_dataset_channels(ds), 3);
    assert_int_equal(ct_dataset_images(ds)[2 + 1], 6); /* the grey image's G, pixel 1 */
    ct_dataset_free(ds);
    char path[4200];
    snprintf(path, sizeof path, "%s/train/b/1.ppm", g_root);
    unlink(path);
    put_image("train/b/1.pgm", 1, 2, 1, 9);
    OK(ct_dataset_load_folder(g_root, "test", 0, 0, 0, 0, 0, &ds, NULL));
    assert_int_equal(ct_dataset_channels(ds), 1);
    unsigned l = (200u * 19595u + 201u * 38470u + 202u * 7471u + 0x8000u) >> 16;
    assert_int_equal(ct_dataset_images(ds)[0], l);
    assert_int_equal(l, 201);
    ct_dataset_free(ds);
}

static void expect_refused(const char *part, ct_status want, const char *text) {
    ct_dataset *ds = (ct_dataset *)&ds;
    assert_int_equal(ct_dataset_load_folder(g_root, part, 0, 0, 0, 0, 0, &ds, NULL), want);
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
    expect_refused("train", CT_ERR_FORMAT, "no class folders in it");
    put_image("train/a/0.pgm", 1, 2, 2, 0);
    put_image("test/a/0.pgm", 1, 2, 2, 0);
    snprintf(empty, sizeof empty, "%s/train/b", g_root);
    mkdir(empty, 0755);
    expect_refused("test", CT_ERR_FORMAT, "train/b: no images in this class");
    ct_dataset *ds = NULL;
    assert_int_equal(ct_dataset_load_folder(g_root, "val", 0, 0, 0, 0, 0, &ds, NULL), CT_ERR_INVALID);
    assert_int_equal(ct_dataset_load_folder(NULL, "train", 0, 0, 0, 0, 0, &ds, NULL), CT_ERR_INVALID);
}

/* Decoding on threads: 1, 2, 3 and all cores give the same bytes (PNG files, and PGM ones,
 * which take turns in libnetpbm), and the same error: the first failing image's in the
 * folder's order, however the threads met the failures */
static void test_folder_threads(void **state) {
    (void)state;
    new_root("f8");
    char rel[64];
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < 110; i++) {
            snprintf(rel, sizeof rel, "train/c%d/%03d.%s", k, i, i % 7 == 3 ? "pgm" : "png");
            if (i % 7 == 3) put_image(rel, 1, 9, 5, k * 50 + i);
            else put_png(rel, 9, 5, k * 50 + i, 0);
        }
    put_png("test/c1/a.png", 9, 5, 7, 0);
    ct_dataset *one = NULL, *ds = NULL;
    OK(ct_dataset_load_folder(g_root, "train", 0, 0, 0, 0, 1, &one, NULL));
    assert_int_equal(ct_dataset_count(one), 330);
    assert_int_equal(ct_dataset_images(one)[45 * 2 + 1], 2 + 3 * 1); /* c0/002.png, pixel 1 */
    const int threads[] = {2, 3, 0};
    for (int t = 0; t < 3; t++) {
        OK(ct_dataset_load_folder(g_root, "train", 0, 0, 0, 0, threads[t], &ds, NULL));
        assert_int_equal(ct_dataset_count(ds), 330);
        assert_memory_equal(ct_dataset_images(ds), ct_dataset_images(one), 330 * 45);
        assert_memory_equal(ct_dataset_labels(ds), ct_dataset_labels(one), 330);
        ct_dataset_free(ds);
    }
    ct_dataset_free(one);
    /* truncated images at 150 and 300 (c1/040, c2/080) and a wrong size at 250 (c2/030) */
    put_png("train/c1/040.png", 9, 5, 0, 40);
    put_png("train/c2/080.png", 9, 5, 0, 40);
    put_png("train/c2/030.png", 8, 5, 0, 0);
    char first[1024];
    for (int t = 0; t < 4; t++) {
        ds = (ct_dataset *)&ds;
        assert_int_not_equal(ct_dataset_load_folder(g_root, "train", 0, 0, 0, 0, t + 1, &ds, NULL),
                             CT_OK);
        assert_null(ds);
        if (!strstr(ct_last_error(), "c1/040.png"))
            fail_msg("%d threads: \"%s\" does not name c1/040.png", t + 1, ct_last_error());
        if (t == 0) snprintf(first, sizeof first, "%s", ct_last_error());
        else assert_string_equal(ct_last_error(), first);
    }
    assert_int_equal(ct_dataset_load_folder(g_root, "train", 0, 0, 0, 0, CT_MAX_THREADS + 1, &ds,
                                            NULL), CT_ERR_INVALID);
}

/* ct_image_resize (tests/cli_folder.sh holds it to PIL's resize on 800 images): the same size
 * is the image; a constant image stays constant at any size; one pixel fills any size; a 2x1
 * image widened to 4x1 by the triangle filter: 0.75/0.25 blends, rounded */
static void test_resize(void **state) {
    (void)state;
    uint8_t px[12] = {0, 50, 100, 150, 200, 250, 7, 8, 9, 10, 11, 12};
    ct_image in = {.w = 4, .h = 3, .c = 1, .pixels = px}, out;
    OK(ct_image_resize(&in, 3, 4, &out));
    assert_memory_equal(out.pixels, px, 12);
    ct_image_free(&out);
    uint8_t flat[2 * 5 * 3];
    memset(flat, 77, sizeof flat);
    ct_image f = {.w = 5, .h = 2, .c = 3, .pixels = flat};
    for (int h = 1; h < 9; h += 3)
        for (int w = 1; w < 12; w += 5) {
            OK(ct_image_resize(&f, h, w, &out));
            assert_int_equal(out.c, 3);
            for (int i = 0; i < h * w * 3; i++) assert_int_equal(out.pixels[i], 77);
            ct_image_free(&out);
        }
    uint8_t one = 200, two[2] = {0, 100};
    ct_image dot = {.w = 1, .h = 1, .c = 1, .pixels = &one}, pair = {.w = 2, .h = 1, .c = 1, .pixels = two};
    OK(ct_image_resize(&dot, 3, 2, &out));
    for (int i = 0; i < 6; i++) assert_int_equal(out.pixels[i], 200);
    ct_image_free(&out);
    OK(ct_image_resize(&pair, 1, 4, &out)); /* centres 0.25, 0.75, 1.25, 1.75 of the source */
    const uint8_t want[4] = {0, 25, 75, 100};
    assert_memory_equal(out.pixels, want, 4);
    ct_image_free(&out);
    assert_int_equal(ct_image_resize(&pair, 0, 4, &out), CT_ERR_INVALID);
}

/* ct_image_to_planes with resize (torchvision's Resize(resize) then CenterCrop((h, w)); tests/
 * cli_folder.sh holds it to torchvision's on PIL images): the crop's corner rounded half to even
 * as Python rounds; the resize on the shorter edge; too small a resize refused. And --dataset
 * folder's evaluation images (val/'s at the end of "train", test/'s) made so, train/'s not. */
static void test_eval_resize(void **state) {
    (void)state;
    uint8_t px[20 * 11], out[16];
    for (int i = 0; i < 20 * 11; i++) px[i] = (uint8_t)i;
    const struct { int w, h, top, left; } k[] = {
        {6, 10, 3, 1}, /* (10 - 4) / 2 = 3, (6 - 4) / 2 = 1 */
        {6, 9, 2, 1},  /* 2.5: 2 (even) */
        {6, 11, 4, 1}, /* 3.5: 4 (even) */
        {7, 6, 1, 2},  /* landscape: (7 - 4) / 2 = 1.5: 2, (6 - 4) / 2 = 1 */
    };
    for (size_t t = 0; t < sizeof k / sizeof k[0]; t++) {
        const int shorter = k[t].w < k[t].h ? k[t].w : k[t].h; /* (no resizing at this size) */
        ct_image img = {.w = k[t].w, .h = k[t].h, .c = 1, .pixels = px};
        OK(ct_image_to_planes(&img, 1, 4, 4, shorter, out));
        for (int y = 0; y < 4; y++)
            for (int x = 0; x < 4; x++)
                assert_int_equal(out[y * 4 + x], px[(k[t].top + y) * k[t].w + k[t].left + x]);
    }
    /* 20x10 at resize 5: resized to 10x5 (ct_image_resize's pixels), then columns 3..6 */
    ct_image wide = {.w = 20, .h = 10, .c = 1, .pixels = px}, small;
    OK(ct_image_resize(&wide, 5, 10, &small));
    OK(ct_image_to_planes(&wide, 1, 4, 4, 5, out));
    for (int y = 0; y < 4; y++)
        for (int x = 0; x < 4; x++) assert_int_equal(out[y * 4 + x], small.pixels[y * 10 + 3 + x]);
    ct_image_free(&small);
    /* 11x20 at resize 5: 5x9 (int(5 * 20 / 11) = 9), rows 2..5 ((9 - 4) / 2 = 2.5: 2) */
    ct_image tall = {.w = 11, .h = 20, .c = 1, .pixels = px};
    OK(ct_image_resize(&tall, 9, 5, &small));
    OK(ct_image_to_planes(&tall, 1, 4, 4, 5, out));
    for (int y = 0; y < 4; y++)
        for (int x = 0; x < 4; x++) assert_int_equal(out[y * 4 + x], small.pixels[(2 + y) * 5 + x]);
    ct_image_free(&small);
    assert_int_equal(ct_image_to_planes(&wide, 1, 4, 6, 5, out), CT_ERR_INVALID); /* 5 < 6 */
    assert_int_equal(ct_image_to_planes(&wide, 1, 4, 4, -1, out), CT_ERR_INVALID);

    /* a folder: train/'s images as they are (4x4), val/'s and test/'s resized and cropped */
    new_root("fr");
    put_image("train/a/0.pgm", 1, 4, 4, 10);
    put_image("train/b/0.pgm", 1, 4, 4, 20);
    put_image("val/a/0.pgm", 1, 8, 6, 30);
    put_image("test/b/0.pgm", 1, 9, 13, 40);
    ct_dataset *ds = NULL;
    for (int sized = 0; sized <= 1; sized++) { /* (--image-size 4 or none: the first image's) */
        const int hw = sized ? 4 : 0;
        OK(ct_dataset_load_folder(g_root, "train", 0, hw, hw, 5, 0, &ds, NULL));
        assert_int_equal(ct_dataset_count(ds), 3);
        assert_int_equal(ct_dataset_val_count(ds), 1);
        const uint8_t *im = ct_dataset_images(ds);
        for (int i = 0; i < 16; i++) assert_int_equal(im[i], 10 + i); /* as it is */
        uint8_t v[8 * 6], want[16];
        for (int i = 0; i < 48; i++) v[i] = (uint8_t)(30 + i);
        ct_image vimg = {.w = 8, .h = 6, .c = 1, .pixels = v};
        OK(ct_image_to_planes(&vimg, 1, 4, 4, 5, want));
        assert_memory_equal(im + 32, want, 16);
        ct_dataset_free(ds);
        OK(ct_dataset_load_folder(g_root, "test", 0, hw, hw, 5, 0, &ds, NULL));
        uint8_t tp[9 * 13];
        for (int i = 0; i < 9 * 13; i++) tp[i] = (uint8_t)(40 + i);
        ct_image timg = {.w = 9, .h = 13, .c = 1, .pixels = tp};
        OK(ct_image_to_planes(&timg, 1, 4, 4, 5, want));
        assert_memory_equal(ct_dataset_images(ds), want, 16);
        ct_dataset_free(ds);
    }
    /* a resize under the images' size: refused, naming it */
    assert_int_equal(ct_dataset_load_folder(g_root, "test", 0, 0, 0, 3, 0, &ds, NULL),
                     CT_ERR_INVALID);
    assert_non_null(strstr(ct_last_error(), "smaller than their centre crop of 4x4"));
    assert_null(ds);
    assert_int_equal(ct_dataset_load_folder(g_root, "test", 0, 0, 0, CT_FOLDER_MAX_RESIZE + 1, 0,
                                            &ds, NULL), CT_ERR_INVALID);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_folder_order_and_names),
        cmocka_unit_test(test_folder_channels),
        cmocka_unit_test(test_folder_refusals),
        cmocka_unit_test(test_folder_threads),
        cmocka_unit_test(test_resize),
        cmocka_unit_test(test_eval_resize),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
