/*
 * test_idx.c — the data module's loading side: IDX files raw and gzip (good and every kind of
 * bad), ct_dataset_create and accessors, MNIST file lookup, ct_split_indices, ct_data_dir, and
 * the real MNIST when it is on disk.
 *
 * The tests write their gzip files themselves (a tiny stored-block gzip writer below, plus a
 * really compressed pair made once with `gzip -9`), so they do not need to link zlib.
 */
#define _GNU_SOURCE
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

/* ------------------------------------------------------------------------------------------ */
/* building IDX and gzip bytes                                                                 */

typedef struct {
    uint8_t *p;
    size_t n;
} bytes;

static void put_be32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (24 - 8 * i));
}

/* An idx3 image file: header (n, h, w) followed by data_bytes bytes of a pattern. */
static bytes idx3(uint32_t magic, uint32_t n, uint32_t h, uint32_t w, size_t data_bytes) {
    bytes b = {malloc(16 + data_bytes), 16 + data_bytes};
    assert_non_null(b.p);
    put_be32(b.p, magic); put_be32(b.p + 4, n); put_be32(b.p + 8, h); put_be32(b.p + 12, w);
    for (size_t i = 0; i < data_bytes; i++) b.p[16 + i] = (uint8_t)(i * 7 + 3);
    return b;
}
static bytes images(uint32_t n, uint32_t h, uint32_t w) {
    return idx3(0x803, n, h, w, (size_t)n * h * w);
}
/* An idx1 label file holding labels[0..count) but claiming n labels. */
static bytes idx1(uint32_t n, const uint8_t *labels, size_t count) {
    bytes b = {malloc(8 + count), 8 + count};
    assert_non_null(b.p);
    put_be32(b.p, 0x801); put_be32(b.p + 4, n);
    memcpy(b.p + 8, labels, count);
    return b;
}

static uint32_t crc32_of(const uint8_t *p, size_t n) {
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
    }
    return ~c;
}

/* A valid gzip file of `in` made of stored (uncompressed) deflate blocks. */
static bytes gzip_stored(const uint8_t *in, size_t n) {
    size_t blocks = n / 65535 + 1;
    bytes g = {malloc(10 + 5 * blocks + n + 8), 0};
    assert_non_null(g.p);
    static const uint8_t head[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff};
    memcpy(g.p, head, 10);
    g.n = 10;
    size_t done = 0;
    do {
        size_t len = n - done > 65535 ? 65535 : n - done;
        g.p[g.n++] = done + len == n ? 1 : 0; /* BFINAL, BTYPE = stored */
        g.p[g.n++] = (uint8_t)len; g.p[g.n++] = (uint8_t)(len >> 8);
        g.p[g.n++] = (uint8_t)~len; g.p[g.n++] = (uint8_t)(~len >> 8);
        memcpy(g.p + g.n, in + done, len);
        g.n += len;
        done += len;
    } while (done < n);
    uint32_t crc = crc32_of(in, n), size = (uint32_t)n;
    for (int i = 0; i < 4; i++) g.p[g.n++] = (uint8_t)(crc >> (8 * i));
    for (int i = 0; i < 4; i++) g.p[g.n++] = (uint8_t)(size >> (8 * i));
    return g;
}

static const char *write_bytes(int slot, const char *name, bytes b) {
    const char *path = tu_write_file(slot, name, b.p, b.n);
    free(b.p);
    return path;
}
static const char *write_gz(int slot, const char *name, bytes b) {
    bytes g = gzip_stored(b.p, b.n);
    free(b.p);
    return write_bytes(slot, name, g);
}

/* `gzip -9` of images(3, 4, 4) and of idx1 labels {3, 1, 4}: real deflate streams. */
static const uint8_t GZ_IMAGES[] = {
    0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x03, 0x63, 0x60, 0xe0, 0x60, 0x66,
    0x60, 0x60, 0x00, 0x61, 0x16, 0x10, 0x66, 0xe6, 0x12, 0x94, 0x90, 0x57, 0xd3, 0x35, 0xb1,
    0x76, 0xf2, 0x0c, 0x08, 0x8f, 0x4b, 0xcd, 0x29, 0xae, 0x6a, 0xec, 0xe8, 0x9f, 0x36, 0x77,
    0xc9, 0xea, 0x4d, 0x3b, 0x0f, 0x1c, 0x3f, 0x77, 0xf5, 0xce, 0xe3, 0x57, 0x1f, 0x7f, 0xfc,
    0x67, 0xe3, 0x15, 0x91, 0x56, 0xd2, 0x34, 0x30, 0xb7, 0x73, 0xf5, 0x01, 0x00, 0x86, 0xcc,
    0xb7, 0xad, 0x40, 0x00, 0x00, 0x00};
static const uint8_t GZ_LABELS[] = {
    0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x03, 0x63, 0x60, 0xe0, 0x60, 0x64, 0x60,
    0x60, 0x60, 0x66, 0x66, 0x64, 0x01, 0x00, 0x85, 0xf7, 0x70, 0x12, 0x0b, 0x00, 0x00, 0x00};

static const uint8_t LABELS3[3] = {3, 1, 4};

/* Loads the pair and expects failure s with every one of the given substrings in the message. */
#define EXPECT_FAIL(img, lab, classes, status, ...)                                        \
    do {                                                                                   \
        ct_dataset *ds_ = (ct_dataset *)0x1;                                               \
        assert_int_equal(ct_dataset_load_idx((img), (lab), (classes), &ds_), (status));    \
        assert_null(ds_);                                                                  \
        const char *subs_[] = {__VA_ARGS__, NULL};                                         \
        for (int i_ = 0; subs_[i_]; i_++) {                                                \
            if (!strstr(ct_last_error(), subs_[i_]))                                       \
                fail_msg("message \"%s\" lacks \"%s\"", ct_last_error(), subs_[i_]);       \
        }                                                                                  \
    } while (0)

static void check_small(const ct_dataset *ds) {
    assert_int_equal(ct_dataset_count(ds), 3);
    assert_int_equal(ct_dataset_channels(ds), 1);
    assert_int_equal(ct_dataset_height(ds), 4);
    assert_int_equal(ct_dataset_width(ds), 4);
    assert_int_equal(ct_dataset_classes(ds), 10);
    const uint8_t *im = ct_dataset_images(ds);
    for (int i = 0; i < 48; i++) assert_int_equal(im[i], (uint8_t)(i * 7 + 3));
    assert_memory_equal(ct_dataset_labels(ds), LABELS3, 3);
}

/* ------------------------------------------------------------------------------------------ */
/* good files                                                                                  */

static void test_good_raw(void **state) {
    const char *img = write_bytes(0, "img", images(3, 4, 4));
    const char *lab = write_bytes(1, "lab", idx1(3, LABELS3, 3));
    ct_dataset *ds = NULL;
    assert_int_equal(ct_dataset_load_idx(img, lab, 10, &ds), CT_OK);
    check_small(ds);
    ct_dataset_free(ds);
}

static void test_good_gzip_stored(void **state) {
    const char *img = write_gz(0, "img.gz", images(3, 4, 4));
    const char *lab = write_gz(1, "lab.gz", idx1(3, LABELS3, 3));
    ct_dataset *ds = NULL;
    assert_int_equal(ct_dataset_load_idx(img, lab, 10, &ds), CT_OK);
    check_small(ds);
    ct_dataset_free(ds);
}

static void test_good_gzip_deflate(void **state) {
    const char *img = tu_write_file(0, "img9.gz", GZ_IMAGES, sizeof GZ_IMAGES);
    const char *lab = tu_write_file(1, "lab9.gz", GZ_LABELS, sizeof GZ_LABELS);
    ct_dataset *ds = NULL;
    assert_int_equal(ct_dataset_load_idx(img, lab, 10, &ds), CT_OK);
    check_small(ds);
    ct_dataset_free(ds);
    /* raw images with gzip labels mix fine */
    img = write_bytes(0, "img", images(3, 4, 4));
    assert_int_equal(ct_dataset_load_idx(img, lab, 10, &ds), CT_OK);
    check_small(ds);
    ct_dataset_free(ds);
}

static void test_bigger_gzip_grows(void **state) {
    /* 3000 images of 28x28 (2.35 MB): the reader's buffer must grow while decompressing */
    enum { N = 3000 };
    const char *img = write_gz(0, "big.gz", images(N, 28, 28));
    uint8_t labels[N];
    for (int i = 0; i < N; i++) labels[i] = (uint8_t)(i % 10);
    const char *lab = write_gz(1, "biglab.gz", idx1(N, labels, N));
    ct_dataset *ds = NULL;
    assert_int_equal(ct_dataset_load_idx(img, lab, 10, &ds), CT_OK);
    assert_int_equal(ct_dataset_count(ds), N);
    for (size_t i = 0; i < (size_t)N * 784; i += 4099)
        assert_int_equal(ct_dataset_images(ds)[i], (uint8_t)(i * 7 + 3));
    assert_int_equal(ct_dataset_labels(ds)[N - 1], (N - 1) % 10);
    ct_dataset_free(ds);
}

/* ------------------------------------------------------------------------------------------ */
/* bad files                                                                                   */

static void test_missing_and_empty(void **state) {
    const char *lab = write_bytes(1, "lab", idx1(3, LABELS3, 3));
    char missing[600];
    snprintf(missing, sizeof missing, "%s/no-such-file", tu_tmpdir());
    EXPECT_FAIL(missing, lab, 10, CT_ERR_IO, "no-such-file", "not found");
    EXPECT_FAIL(tu_tmpdir(), lab, 10, CT_ERR_IO, "directory");
    const char *empty = tu_write_file(0, "empty", "", 0);
    EXPECT_FAIL(empty, lab, 10, CT_ERR_FORMAT, "empty", "empty file");
    const char *empty_gz = write_gz(0, "empty.gz", (bytes){malloc(1), 0});
    EXPECT_FAIL(empty_gz, lab, 10, CT_ERR_FORMAT, "empty.gz", "empty file");
    const char *img = write_bytes(0, "img", images(3, 4, 4));
    EXPECT_FAIL(img, missing, 10, CT_ERR_IO, "no-such-file", "not found");
    /* a FIFO nobody writes to: read as empty, never waited on for ever */
    char fifo[600];
    snprintf(fifo, sizeof fifo, "%s/a-fifo", tu_tmpdir());
    unlink(fifo);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    EXPECT_FAIL(fifo, lab, 10, CT_ERR_FORMAT, "a-fifo");
    unlink(fifo);
}

static void test_wrong_magic(void **state) {
    const char *lab = write_bytes(1, "lab", idx1(3, LABELS3, 3));
    const char *img = write_bytes(0, "img", idx3(0x12345678, 3, 4, 4, 48));
    EXPECT_FAIL(img, lab, 10, CT_ERR_FORMAT, "img:", "magic", "0x12345678", "0x00000803");
    img = write_bytes(0, "img", images(3, 4, 4));
    /* swapped files: each names its own kind */
    EXPECT_FAIL(lab, img, 10, CT_ERR_FORMAT, "lab:", "magic", "label file");
    const char *text = tu_write_file(0, "text", "hello world, not idx", 20);
    EXPECT_FAIL(text, lab, 10, CT_ERR_FORMAT, "text", "magic");
    const char *gz = write_gz(0, "badmagic.gz", idx3(0x801, 3, 4, 4, 48));
    EXPECT_FAIL(gz, lab, 10, CT_ERR_FORMAT, "badmagic.gz", "magic");
}

static void test_truncated_header(void **state) {
    const char *lab = write_bytes(1, "lab", idx1(3, LABELS3, 3));
    const uint8_t two[2] = {0, 0};
    const char *img = tu_write_file(0, "two", two, 2);
    EXPECT_FAIL(img, lab, 10, CT_ERR_FORMAT, "two", "truncated header");
    bytes b = images(3, 4, 4);
    b.n = 9; /* magic + 5 bytes of the sizes */
    img = write_bytes(0, "short", b);
    EXPECT_FAIL(img, lab, 10, CT_ERR_FORMAT, "short", "truncated header", "16");
    b = images(3, 4, 4);
    b.n = 9;
    img = write_gz(0, "short.gz", b);
    EXPECT_FAIL(img, lab, 10, CT_ERR_FORMAT, "short.gz", "truncated header");
    bytes l = idx1(3, LABELS3, 3);
    l.n = 6;
    const char *labp = write_bytes(1, "shortlab", l);
    img = write_bytes(0, "img", images(3, 4, 4));
    EXPECT_FAIL(img, labp, 10, CT_ERR_FORMAT, "shortlab", "truncated header");
}

static void test_truncated_data(void **state) {
    const char *lab = write_bytes(1, "lab", idx1(3, LABELS3, 3));
    const char *img = write_bytes(0, "trunc", idx3(0x803, 3, 4, 4, 10));
    EXPECT_FAIL(img, lab, 10, CT_ERR_FORMAT, "trunc", "truncated data", "3 images of 4x4",
                "48 bytes", "10 bytes");
    img = write_gz(0, "trunc.gz", idx3(0x803, 3, 4, 4, 10));
    EXPECT_FAIL(img, lab, 10, CT_ERR_FORMAT, "trunc.gz", "truncated data", "48 bytes");
    img = write_bytes(0, "img", images(3, 4, 4));
    lab = write_bytes(1, "trunclab", idx1(3, LABELS3, 2));
    EXPECT_FAIL(img, lab, 10, CT_ERR_FORMAT, "trunclab", "truncated data", "3 labels");
    /* a header claiming 10^15 bytes: refused from the file size / as data runs out, without
     * allocating anything like that much */
    img = write_bytes(0, "huge", idx3(0x803, 100000, 100000, 100000, 16));
    EXPECT_FAIL(img, lab, 10, CT_ERR_FORMAT, "huge", "truncated data");
    img = write_gz(0, "huge.gz", idx3(0x803, 100000, 100000, 100000, 16));
    EXPECT_FAIL(img, lab, 10, CT_ERR_FORMAT, "huge.gz", "truncated data");
}

static void test_trailing_garbage(void **state) {
    const char *lab = write_bytes(1, "lab", idx1(3, LABELS3, 3));
    const char *img = write_bytes(0, "long", idx3(0x803, 3, 4, 4, 50));
    EXPECT_FAIL(img, lab, 10, CT_ERR_FORMAT, "long", "trailing garbage", "2 bytes");
    img = write_gz(0, "long.gz", idx3(0x803, 3, 4, 4, 53));
    EXPECT_FAIL(img, lab, 10, CT_ERR_FORMAT, "long.gz", "trailing garbage", "5 bytes");
    img = write_bytes(0, "img", images(3, 4, 4));
    const uint8_t four[4] = {3, 1, 4, 1};
    lab = write_bytes(1, "longlab", idx1(3, four, 4));
    EXPECT_FAIL(img, lab, 10, CT_ERR_FORMAT, "longlab", "trailing garbage");
}

static void test_zero_and_overflow(void **state) {
    const char *lab = write_bytes(1, "lab", idx1(3, LABELS3, 3));
    const char *img = write_bytes(0, "zero_n", idx3(0x803, 0, 4, 4, 0));
    EXPECT_FAIL(img, lab, 10, CT_ERR_FORMAT, "zero_n", "image count is 0");
    img = write_bytes(0, "zero_h", idx3(0x803, 3, 0, 4, 0));
    EXPECT_FAIL(img, lab, 10, CT_ERR_FORMAT, "zero_h", "height is 0");
    img = write_bytes(0, "zero_w", idx3(0x803, 3, 4, 0, 0));
    EXPECT_FAIL(img, lab, 10, CT_ERR_FORMAT, "zero_w", "width is 0");
    img = write_bytes(0, "img", images(3, 4, 4));
    const char *lab0 = write_bytes(1, "zerolab", idx1(0, LABELS3, 0));
    EXPECT_FAIL(img, lab0, 10, CT_ERR_FORMAT, "zerolab", "label count is 0");
    if (sizeof(size_t) == 8) {
        img = write_bytes(0, "overflow", idx3(0x803, 0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu, 8));
        EXPECT_FAIL(img, lab, 10, CT_ERR_FORMAT, "overflow", "overflows");
        img = write_gz(0, "overflow.gz", idx3(0x803, 0xFFFFFFFFu, 0xFFFFFFFFu, 2, 8));
        EXPECT_FAIL(img, lab, 10, CT_ERR_FORMAT, "overflow.gz", "overflows");
    }
}

static void test_counts_and_labels(void **state) {
    const char *img = write_bytes(0, "img", images(3, 4, 4));
    const char *lab = write_bytes(1, "lab2", idx1(2, LABELS3, 2));
    EXPECT_FAIL(img, lab, 10, CT_ERR_FORMAT, "img", "lab2", "3 images", "2 labels");
    const uint8_t bad[3] = {1, 2, 7};
    lab = write_bytes(1, "badlab", idx1(3, bad, 3));
    EXPECT_FAIL(img, lab, 5, CT_ERR_FORMAT, "badlab", "label 2 is 7", "5 classes");
    /* the same labels are fine with 8 classes */
    ct_dataset *ds = NULL;
    assert_int_equal(ct_dataset_load_idx(img, lab, 8, &ds), CT_OK);
    assert_int_equal(ct_dataset_classes(ds), 8);
    ct_dataset_free(ds);
    EXPECT_FAIL(img, lab, 0, CT_ERR_INVALID, "classes");
    EXPECT_FAIL(img, lab, 257, CT_ERR_INVALID, "classes");
    assert_int_equal(ct_dataset_load_idx(NULL, lab, 10, &ds), CT_ERR_INVALID);
    assert_int_equal(ct_dataset_load_idx(img, lab, 10, NULL), CT_ERR_INVALID);
}

static void test_corrupt_gzip(void **state) {
    const char *lab = write_bytes(1, "lab", idx1(3, LABELS3, 3));
    uint8_t g[sizeof GZ_IMAGES];
    /* bad CRC in the trailer */
    memcpy(g, GZ_IMAGES, sizeof g);
    g[sizeof g - 8] ^= 0x55;
    const char *img = tu_write_file(0, "badcrc.gz", g, sizeof g);
    EXPECT_FAIL(img, lab, 10, CT_ERR_FORMAT, "badcrc.gz", "corrupt gzip");
    /* unknown compression method in the header */
    memcpy(g, GZ_IMAGES, sizeof g);
    g[2] = 7;
    img = tu_write_file(0, "badmethod.gz", g, sizeof g);
    EXPECT_FAIL(img, lab, 10, CT_ERR_FORMAT, "badmethod.gz", "corrupt gzip");
    /* invalid deflate block type (3 is reserved) */
    memcpy(g, GZ_IMAGES, sizeof g);
    g[10] |= 0x06;
    img = tu_write_file(0, "badblock.gz", g, sizeof g);
    EXPECT_FAIL(img, lab, 10, CT_ERR_FORMAT, "badblock.gz", "corrupt gzip");
    /* cut in the middle of the compressed stream */
    img = tu_write_file(0, "cut.gz", GZ_IMAGES, 40);
    EXPECT_FAIL(img, lab, 10, CT_ERR_FORMAT, "cut.gz", "corrupt gzip");
    /* cut inside the trailer: all data there, CRC missing */
    img = tu_write_file(0, "cut2.gz", GZ_IMAGES, sizeof GZ_IMAGES - 3);
    EXPECT_FAIL(img, lab, 10, CT_ERR_FORMAT, "cut2.gz", "corrupt gzip");
    /* corrupt labels gzip */
    img = write_bytes(0, "img", images(3, 4, 4));
    const char *labp = tu_write_file(1, "cutlab.gz", GZ_LABELS, 20);
    EXPECT_FAIL(img, labp, 10, CT_ERR_FORMAT, "cutlab.gz", "corrupt gzip");
}

/* ------------------------------------------------------------------------------------------ */
/* create, accessors, MNIST lookup                                                             */

static void test_create(void **state) {
    uint8_t im[2 * 3 * 2 * 2];
    for (int i = 0; i < 24; i++) im[i] = (uint8_t)i;
    uint8_t lab[2] = {0, 4};
    ct_dataset *ds = NULL;
    assert_int_equal(ct_dataset_create(2, 3, 2, 2, 5, im, lab, &ds), CT_OK);
    im[0] = 99; /* copied: no effect */
    assert_int_equal(ct_dataset_count(ds), 2);
    assert_int_equal(ct_dataset_channels(ds), 3);
    assert_int_equal(ct_dataset_height(ds), 2);
    assert_int_equal(ct_dataset_width(ds), 2);
    assert_int_equal(ct_dataset_classes(ds), 5);
    assert_int_equal(ct_dataset_images(ds)[0], 0);
    assert_int_equal(ct_dataset_images(ds)[23], 23);
    assert_int_equal(ct_dataset_labels(ds)[1], 4);
    ct_dataset_free(ds);

    ds = (ct_dataset *)0x1;
    assert_int_equal(ct_dataset_create(2, 3, 2, 2, 4, im, lab, &ds), CT_ERR_INVALID);
    assert_null(ds);
    assert_non_null(strstr(ct_last_error(), "label 1 is 4"));
    assert_int_equal(ct_dataset_create(0, 3, 2, 2, 5, im, lab, &ds), CT_ERR_INVALID);
    assert_int_equal(ct_dataset_create(2, 0, 2, 2, 5, im, lab, &ds), CT_ERR_INVALID);
    assert_int_equal(ct_dataset_create(2, 3, 2, 2, 5, NULL, lab, &ds), CT_ERR_INVALID);
    assert_int_equal(ct_dataset_create(2, 3, 2, 2, 0, im, lab, &ds), CT_ERR_INVALID);
    assert_int_equal(ct_dataset_create(2, 3, 2, 2, 5, im, lab, NULL), CT_ERR_INVALID);

    ct_dataset_free(NULL);
    assert_int_equal(ct_dataset_count(NULL), 0);
    assert_int_equal(ct_dataset_height(NULL), 0);
    assert_null(ct_dataset_images(NULL));
    assert_null(ct_dataset_labels(NULL));
}

/* The fingerprint follows the data: equal for equal data, changed by one pixel, one label, the
 * shape (same bytes seen as other sizes) or the classes. */
static void test_fingerprint(void **state) {
    (void)state;
    uint8_t im[2 * 3 * 4], lab[2] = {1, 4};
    for (int i = 0; i < (int)sizeof im; i++) im[i] = (uint8_t)(i * 11);
    ct_dataset *a, *b;
    assert_int_equal(ct_dataset_create(2, 1, 3, 4, 5, im, lab, &a), CT_OK);
    assert_int_equal(ct_dataset_create(2, 1, 3, 4, 5, im, lab, &b), CT_OK);
    uint64_t fa = ct_dataset_fingerprint(a);
    assert_true(fa == ct_dataset_fingerprint(b));
    assert_true(fa == ct_dataset_fingerprint(a)); /* asked again: the same */
    ct_dataset_free(b);
    struct { int c, h, w, classes, pixel, label; } other[] = {
        {1, 3, 4, 5, 7, -1}, {1, 3, 4, 5, -1, 1}, {1, 4, 3, 5, -1, -1}, {3, 1, 4, 5, -1, -1},
        {1, 3, 4, 6, -1, -1}};
    for (size_t k = 0; k < sizeof other / sizeof other[0]; k++) {
        uint8_t im2[sizeof im], lab2[2];
        memcpy(im2, im, sizeof im);
        memcpy(lab2, lab, sizeof lab);
        if (other[k].pixel >= 0) im2[other[k].pixel] ^= 1;
        if (other[k].label >= 0) lab2[other[k].label] = 0;
        assert_int_equal(ct_dataset_create(2, other[k].c, other[k].h, other[k].w,
                                           other[k].classes, im2, lab2, &b), CT_OK);
        if (ct_dataset_fingerprint(b) == fa) fail_msg("case %zu: the same fingerprint", k);
        ct_dataset_free(b);
    }
    ct_dataset_free(a);
}

static void test_mnist_lookup(void **state) {
    char dir[600], path[700];
    snprintf(dir, sizeof dir, "%s/fake-mnist", tu_tmpdir());
    mkdir(dir, 0755);
    /* train: images gzip, labels raw; test: missing */
    bytes im = images(3, 4, 4), g = gzip_stored(im.p, im.n);
    free(im.p);
    snprintf(path, sizeof path, "%s/train-images-idx3-ubyte.gz", dir);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(g.p, 1, g.n, f), g.n);
    fclose(f);
    free(g.p);
    bytes l = idx1(3, LABELS3, 3);
    snprintf(path, sizeof path, "%s/train-labels-idx1-ubyte", dir);
    f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(l.p, 1, l.n, f), l.n);
    fclose(f);
    free(l.p);

    ct_dataset *ds = NULL;
    /* found (the .gz one), read, and refused: MNIST's images are 28x28 */
    assert_int_equal(ct_dataset_load_mnist(dir, "train", &ds), CT_ERR_FORMAT);
    assert_null(ds);
    assert_non_null(strstr(ct_last_error(), "train-images-idx3-ubyte.gz: images of 4x4 pixels, "
                                            "not MNIST's 28x28"));
    assert_int_equal(ct_dataset_load_idx_dir(dir, "train", &ds), CT_OK); /* as idx: fine */
    assert_int_equal(ct_dataset_height(ds), 4);
    ct_dataset_free(ds);
    assert_int_equal(ct_dataset_load_mnist(dir, "test", &ds), CT_ERR_IO);
    assert_null(ds);
    assert_non_null(strstr(ct_last_error(), "t10k-images-idx3-ubyte"));
    assert_non_null(strstr(ct_last_error(), "not found"));
    /* a loop of links is named as one, not as a missing file */
    char lpath[700];
    snprintf(path, sizeof path, "%s/t10k-images-idx3-ubyte", dir);
    snprintf(lpath, sizeof lpath, "%s/t10k-labels-idx1-ubyte", dir);
    assert_int_equal(symlink(path, path), 0);
    assert_int_equal(symlink(lpath, lpath), 0);
    assert_int_equal(ct_dataset_load_mnist(dir, "test", &ds), CT_ERR_IO);
    assert_non_null(strstr(ct_last_error(), "symbolic links"));
    unlink(path);
    unlink(lpath);
    assert_int_equal(ct_dataset_load_mnist(dir, "validation", &ds), CT_ERR_INVALID);
    assert_non_null(strstr(ct_last_error(), "validation"));
    assert_int_equal(ct_dataset_load_mnist(dir, NULL, &ds), CT_ERR_INVALID);
}

/* Any dataset stored as MNIST is (--dataset idx): classes from the labels, up to 256, any
 * image size, and a missing file named with what the folder must hold. */
static void test_idx_dir(void **state) {
    char dir[600], path[700];
    snprintf(dir, sizeof dir, "%s/any-idx", tu_tmpdir());
    mkdir(dir, 0755);
    static const uint8_t labels[4] = {0, 46, 3, 46}; /* EMNIST balanced has 47 classes */
    bytes im = images(4, 5, 7), l = idx1(4, labels, 4);
    struct { const char *name; bytes b; } files[2] = {{"train-images-idx3-ubyte", im},
                                                      {"train-labels-idx1-ubyte.gz", l}};
    for (int k = 0; k < 2; k++) {
        bytes b = k ? gzip_stored(files[k].b.p, files[k].b.n) : files[k].b;
        snprintf(path, sizeof path, "%s/%s", dir, files[k].name);
        FILE *f = fopen(path, "wb");
        assert_non_null(f);
        assert_int_equal(fwrite(b.p, 1, b.n, f), b.n);
        fclose(f);
        free(b.p);
    }
    free(l.p);
    ct_dataset *ds = NULL;
    assert_int_equal(ct_dataset_load_idx_dir(dir, "train", &ds), CT_OK);
    assert_int_equal(ct_dataset_count(ds), 4);
    assert_int_equal(ct_dataset_height(ds), 5);
    assert_int_equal(ct_dataset_width(ds), 7);
    assert_int_equal(ct_dataset_classes(ds), 47);
    ct_dataset_free(ds);
    assert_int_equal(ct_dataset_load_idx_dir(dir, "test", &ds), CT_ERR_IO);
    assert_null(ds);
    assert_non_null(strstr(ct_last_error(), "t10k-images-idx3-ubyte"));
    assert_non_null(strstr(ct_last_error(), "--data DIR"));
    assert_int_equal(ct_dataset_load_idx_dir(dir, "val", &ds), CT_ERR_INVALID);
}

/* ------------------------------------------------------------------------------------------ */
/* split                                                                                       */

static void test_split(void **state) {
    const int64_t n = 1000, nv = 100;
    int32_t *tr = NULL, *va = NULL;
    assert_int_equal(ct_split_indices(n, nv, 42, &tr, &va), CT_OK);
    char *seen = calloc((size_t)n, 1);
    assert_non_null(seen);
    for (int64_t i = 0; i < n - nv; i++) {
        assert_true(tr[i] >= 0 && tr[i] < n);
        assert_int_equal(seen[tr[i]]++, 0);
    }
    for (int64_t i = 0; i < nv; i++) {
        assert_true(va[i] >= 0 && va[i] < n);
        assert_int_equal(seen[va[i]]++, 0);
    }
    free(seen);
    int in_order = 1; /* a shuffle, not the identity */
    for (int64_t i = 0; i < n - nv; i++) in_order &= tr[i] == i;
    assert_false(in_order);

    int32_t *tr2 = NULL, *va2 = NULL, *tr3 = NULL, *va3 = NULL;
    assert_int_equal(ct_split_indices(n, nv, 42, &tr2, &va2), CT_OK);
    assert_memory_equal(tr, tr2, (size_t)(n - nv) * sizeof *tr);
    assert_memory_equal(va, va2, (size_t)nv * sizeof *va);
    assert_int_equal(ct_split_indices(n, nv, 43, &tr3, &va3), CT_OK);
    assert_memory_not_equal(va, va3, (size_t)nv * sizeof *va);
    free(tr); free(va); free(tr2); free(va2); free(tr3); free(va3);

    assert_int_equal(ct_split_indices(2, 1, 0, &tr, &va), CT_OK);
    assert_true((tr[0] == 0 && va[0] == 1) || (tr[0] == 1 && va[0] == 0));
    free(tr); free(va);

    tr = va = (int32_t *)0x1; /* (no validation part, size 0: test_loader) */
    assert_int_equal(ct_split_indices(n, n, 1, &tr, &va), CT_ERR_INVALID);
    assert_null(tr);
    assert_null(va);
    assert_non_null(strstr(ct_last_error(), "between 0 and"));
    assert_int_equal(ct_split_indices(n, -5, 1, &tr, &va), CT_ERR_INVALID);
    assert_int_equal(ct_split_indices(n, 1, 1, NULL, &va), CT_ERR_INVALID);
}

/* ------------------------------------------------------------------------------------------ */
/* data folder                                                                                 */

static char *saved_env(const char *name) {
    const char *v = getenv(name);
    return v ? strdup(v) : NULL;
}
static void restore_env(const char *name, char *v) {
    if (v) setenv(name, v, 1);
    else unsetenv(name);
    free(v);
}

static void test_data_dir(void **state) {
    char *home = saved_env("HOME"), *data = saved_env("CTRAIN_DATA");
    char out[256];
    setenv("HOME", "/home/someone", 1);
    setenv("CTRAIN_DATA", "/data/mnist", 1);
    assert_int_equal(ct_data_dir("/given", "mnist", out, sizeof out), CT_OK);
    assert_string_equal(out, "/given");
    assert_int_equal(ct_data_dir(NULL, "mnist", out, sizeof out), CT_OK);
    assert_string_equal(out, "/data/mnist");
    assert_int_equal(ct_data_dir(NULL, "idx", out, sizeof out), CT_OK); /* MNIST's folder only */
    assert_string_equal(out, "/home/someone/.cache/ctrain/idx");
    unsetenv("CTRAIN_DATA");
    assert_int_equal(ct_data_dir(NULL, "mnist", out, sizeof out), CT_OK);
    assert_string_equal(out, "/home/someone/.cache/ctrain/mnist");
    assert_int_equal(ct_data_dir(NULL, "fashion-mnist", out, sizeof out), CT_OK);
    assert_string_equal(out, "/home/someone/.cache/ctrain/fashion-mnist");
    setenv("CTRAIN_DATA", "", 1); /* empty counts as unset */
    assert_int_equal(ct_data_dir(NULL, "mnist", out, sizeof out), CT_OK);
    assert_string_equal(out, "/home/someone/.cache/ctrain/mnist");
    unsetenv("HOME");
    assert_int_equal(ct_data_dir(NULL, "mnist", out, sizeof out), CT_ERR_INVALID);
    assert_non_null(strstr(ct_last_error(), "HOME"));
    assert_int_equal(ct_data_dir("/given", "mnist", out, sizeof out), CT_OK);
    char tiny[8];
    assert_int_equal(ct_data_dir("/a/long/folder", "mnist", tiny, sizeof tiny), CT_ERR_INVALID);
    assert_non_null(strstr(ct_last_error(), "too long"));
    assert_int_equal(ct_data_dir("/given", NULL, out, sizeof out), CT_ERR_INVALID);
    restore_env("HOME", home);
    restore_env("CTRAIN_DATA", data);
}

/* ------------------------------------------------------------------------------------------ */
/* the real MNIST                                                                              */

static void test_real_mnist(void **state) {
    const char *dir = tu_mnist_dir("test_real_mnist");
    if (!dir) {
        skip();
        return;
    }
    ct_dataset *train = NULL, *test = NULL;
    assert_int_equal(ct_dataset_load_mnist(dir, "train", &train), CT_OK);
    assert_int_equal(ct_dataset_count(train), 60000);
    assert_int_equal(ct_dataset_channels(train), 1);
    assert_int_equal(ct_dataset_height(train), 28);
    assert_int_equal(ct_dataset_width(train), 28);
    assert_int_equal(ct_dataset_classes(train), 10);
    assert_int_equal(ct_dataset_labels(train)[0], 5);
    assert_int_equal(ct_dataset_load_mnist(dir, "test", &test), CT_OK);
    assert_int_equal(ct_dataset_count(test), 10000);
    assert_int_equal(ct_dataset_labels(test)[0], 7);
    ct_dataset_free(train);
    ct_dataset_free(test);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_raw),          cmocka_unit_test(test_good_gzip_stored),
        cmocka_unit_test(test_good_gzip_deflate), cmocka_unit_test(test_bigger_gzip_grows),
        cmocka_unit_test(test_missing_and_empty), cmocka_unit_test(test_wrong_magic),
        cmocka_unit_test(test_truncated_header),  cmocka_unit_test(test_truncated_data),
        cmocka_unit_test(test_trailing_garbage),  cmocka_unit_test(test_zero_and_overflow),
        cmocka_unit_test(test_counts_and_labels), cmocka_unit_test(test_corrupt_gzip),
        cmocka_unit_test(test_create),            cmocka_unit_test(test_mnist_lookup),
        cmocka_unit_test(test_idx_dir),           cmocka_unit_test(test_fingerprint),
        cmocka_unit_test(test_split),             cmocka_unit_test(test_data_dir),
        cmocka_unit_test(test_real_mnist),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
