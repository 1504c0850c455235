/*
 * test_files.c — the io module's other files: atomic writes (ct_afile: nothing half-written,
 * links and stale temporaries), JSON lines (the fewest digits that read back exactly),
 * ct_model_predict, and images in (PGM/PPM/PNG: fitting, inversion, every kind of bad file).
 * Checkpoints and the train state: test_io.c; pictures out: test_pictures.c.
 */
#define _GNU_SOURCE
#include "testutil.h"

#include "core/core.h"
#include "ctrain/io.h"
#include "io/atomic.h"
#include "io/json_out.h"

#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <time.h>

#define SPEC "flatten,linear(5),relu,linear(3)"

static ct_backend *cpu(int threads) {
    ct_backend *b = NULL;
    assert_int_equal(ct_backend_create("cpu", threads, &b), CT_OK);
    return b;
}

/* ------------------------------------------------------------------------------------------ */
/* atomic writes                                                                               */

static void test_atomic(void **state) {
    (void)state;
    const char *path = tu_tmp_path("atomic.bin");
    ct_afile f;
    assert_int_equal(ct_afile_open(&f, path), CT_OK);
    assert_int_equal(ct_afile_write(&f, "old", 3), CT_OK);
    assert_int_equal(ct_afile_commit(&f), CT_OK);
    /* an aborted write leaves the old file, and no temporary file */
    assert_int_equal(ct_afile_open(&f, path), CT_OK);
    assert_int_equal(ct_afile_write(&f, "new!", 4), CT_OK);
    char tmp[sizeof f.tmp];
    snprintf(tmp, sizeof tmp, "%s", f.tmp);
    assert_int_equal(access(tmp, F_OK), 0);
    ct_afile_abort(&f);
    assert_int_not_equal(access(tmp, F_OK), 0);
    char buf[8] = {0};
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    assert_int_equal(fread(buf, 1, sizeof buf, fp), 3);
    fclose(fp);
    assert_string_equal(buf, "old");
    /* a temporary file left by a dead process is removed by the next write */
    const char *stale = tu_tmp_path(".atomic.bin.tmp.99999999.7");
    fp = fopen(stale, "wb");
    assert_non_null(fp);
    fclose(fp);
    assert_int_equal(ct_afile_open(&f, path), CT_OK);
    assert_int_equal(ct_afile_commit(&f), CT_OK);
    assert_int_not_equal(access(stale, F_OK), 0);
    /* links planted at the temporary name the next save will take are neither followed nor
     * removed: it takes another name beside them, and the victim keeps its bytes. (The name
     * ends in serial ^ time * 2654435761: the next one is predicted from the last, for this
     * second and the next.) */
    const char *victim = tu_tmp_path("atomic-victim.bin");
    fp = fopen(victim, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite("mine", 1, 4, fp), 4);
    fclose(fp);
    assert_int_equal(ct_afile_open(&f, path), CT_OK);
    char last[PATH_MAX], planted[2][PATH_MAX + 16];
    snprintf(last, sizeof last, "%s", f.tmp);
    ct_afile_abort(&f);
    unsigned tk = (unsigned)time(NULL) * 2654435761u;
    char *dot = strrchr(last, '.');
    unsigned serial = (unsigned)strtoul(dot + 1, NULL, 10) ^ tk;
    for (int i = 0; i < 2; i++) {
        snprintf(planted[i], sizeof planted[i], "%.*s.%u", (int)(dot - last), last,
                 (serial + 1) ^ (tk + (unsigned)i * 2654435761u));
        assert_int_equal(symlink(victim, planted[i]), 0);
    }
    assert_int_equal(ct_afile_open(&f, path), CT_OK);
    for (int i = 0; i < 2; i++) assert_string_not_equal(f.tmp, planted[i]);
    assert_int_equal(ct_afile_write(&f, "new", 3), CT_OK);
    assert_int_equal(ct_afile_commit(&f), CT_OK);
    memset(buf, 0, sizeof buf);
    fp = fopen(victim, "rb");
    assert_non_null(fp);
    assert_int_equal(fread(buf, 1, sizeof buf, fp), 4);
    fclose(fp);
    assert_string_equal(buf, "mine");
    for (int i = 0; i < 2; i++) {
        struct stat lst;
        assert_int_equal(lstat(planted[i], &lst), 0); /* still there (a live pid's), a link */
        assert_true(S_ISLNK(lst.st_mode));
        unlink(planted[i]);
    }
    unlink(victim);
    /* a folder that does not exist */
    assert_int_equal(ct_afile_open(&f, tu_tmp_path("no/such/dir/file")), CT_ERR_IO);
}

/* What is at the name decides: a link's target is replaced and the link stays; a device or pipe
 * is written through, never replaced by a file (as root, rename() over /dev/null replaced it);
 * a folder is an error. */
static void test_atomic_targets(void **state) {
    (void)state;
    char target[PATH_MAX], link_path[PATH_MAX], buf[16] = {0};
    snprintf(target, sizeof target, "%s", tu_tmp_path("atomic-target.bin"));
    snprintf(link_path, sizeof link_path, "%s", tu_tmp_path("atomic-link.bin"));
    ct_afile f;
    assert_int_equal(ct_afile_open(&f, target), CT_OK);
    assert_int_equal(ct_afile_write(&f, "old", 3), CT_OK);
    assert_int_equal(ct_afile_commit(&f), CT_OK);
    unlink(link_path);
    assert_int_equal(symlink(target, link_path), 0);
    assert_int_equal(ct_afile_open(&f, link_path), CT_OK);
    assert_int_equal(ct_afile_write(&f, "new", 3), CT_OK);
    assert_int_equal(ct_afile_commit(&f), CT_OK);
    struct stat st;
    assert_int_equal(lstat(link_path, &st), 0);
    assert_true(S_ISLNK(st.st_mode));
    FILE *fp = fopen(target, "rb");
    assert_non_null(fp);
    assert_int_equal(fread(buf, 1, sizeof buf, fp), 3);
    fclose(fp);
    assert_string_equal(buf, "new");
    /* a link to /dev/null: written through, the link stays */
    unlink(link_path);
    assert_int_equal(symlink("/dev/null", link_path), 0);
    assert_int_equal(ct_afile_open(&f, link_path), CT_OK);
    assert_int_equal(ct_afile_write(&f, "gone", 4), CT_OK);
    assert_int_equal(ct_afile_commit(&f), CT_OK);
    assert_int_equal(lstat(link_path, &st), 0);
    assert_true(S_ISLNK(st.st_mode));
    unlink(link_path);
    /* a pipe: the bytes reach its reader */
    const char *fifo = tu_tmp_path("atomic.fifo");
    unlink(fifo);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    int rd = open(fifo, O_RDONLY | O_NONBLOCK);
    assert_true(rd >= 0);
    assert_int_equal(ct_afile_open(&f, fifo), CT_OK);
    assert_int_equal(ct_afile_write(&f, "piped", 5), CT_OK);
    assert_int_equal(ct_afile_commit(&f), CT_OK);
    memset(buf, 0, sizeof buf);
    assert_int_equal(read(rd, buf, sizeof buf), 5);
    assert_string_equal(buf, "piped");
    close(rd);
    assert_int_equal(stat(fifo, &st), 0);
    assert_true(S_ISFIFO(st.st_mode));
    /* a pipe that nobody reads: an error at once, not a wait forever */
    assert_int_equal(ct_afile_open(&f, fifo), CT_ERR_IO);
    assert_non_null(strstr(ct_last_error(), "no reader"));
    unlink(fifo);
    /* a folder */
    assert_int_equal(ct_afile_open(&f, tu_tmp_path("")), CT_ERR_IO);
    const char *dir = tu_tmp_path("atomic-dir");
    mkdir(dir, 0700);
    assert_int_equal(ct_afile_open(&f, dir), CT_ERR_IO);
    assert_non_null(strstr(ct_last_error(), "is a folder"));
    rmdir(dir);
    unlink(target);
}

/* ------------------------------------------------------------------------------------------ */
/* JSON lines and predictions                                                                  */

/* Numbers in the fewest digits that read back exactly, as a reader reads them: a double by
 * strtod, a float by (float)strtod, whose double rounding 7.03853069e-26f's 7 digits fail. */
static void test_json_numbers(void **state) {
    (void)state;
    const float fs[] = {0.1f, 1e30f, 7.03853069e-26f, 1.0f / 3.0f, 16777217.0f, 1e-45f};
    const double ds[] = {0.9527, 0.1 + 0.2, 1.0 / 3.0, 5e-324, 1e300, 123456789.0};
    for (size_t i = 0; i < sizeof fs / sizeof fs[0]; i++) {
        ct_jsonw j;
        ct_jw_init(&j);
        ct_jw_float(&j, fs[i]);
        assert_true((float)strtod(j.buf, NULL) == fs[i]);
        ct_jw_free(&j);
    }
    for (size_t i = 0; i < sizeof ds / sizeof ds[0]; i++) {
        ct_jsonw j;
        ct_jw_init(&j);
        ct_jw_double(&j, ds[i]);
        assert_true(strtod(j.buf, NULL) == ds[i]);
        if (i == 0) assert_string_equal(j.buf, "0.9527");
        ct_jw_free(&j);
    }
}

static void test_epoch_json(void **state) {
    (void)state;
    ct_epoch_result r = {.epoch = 3, .phase = 1, .lr = 0.1f, .train_loss = 0.25, .train_acc = 0.5,
                         .val = {NAN, 0.75, 10}, .train_s = 2.0, .samples_per_s = 1000,
                         .val_s = 0.125, .graph_steps = 390};
    char buf[512];
    int n = ct_epoch_json(&r, buf, sizeof buf);
    assert_int_equal(n, (int)strlen(buf));
    assert_non_null(strstr(buf, "{\"epoch\": 3, \"phase\": 1, \"lr\": 0.1, "));
    assert_non_null(strstr(buf, "\"train_loss\": 0.25"));
    assert_non_null(strstr(buf, "\"val_loss\": null"));
    assert_non_null(strstr(buf, "\"val_acc\": 0.75"));
    assert_non_null(strstr(buf, "\"samples_per_s\": 1000, \"val_seconds\": 0.125, "
                                "\"graph_steps\": 390}"));
    assert_null(strchr(buf, '\n'));
    assert_int_equal(ct_epoch_json(&r, buf, 20), -1);
}

static void test_predict(void **state) {
    (void)state;
    ct_backend *b = cpu(2);
    ct_model *m = NULL;
    /* logits = W x + b with W = [[1, 0], [0, 1], [1, 1]], b = [0, 0, -1] */
    assert_int_equal(ct_model_create(b, "flatten,linear(3)", 1, 1, 2, 2, 1, &m), CT_OK);
    float w[9] = {1, 0, 0, 1, 1, 1, 0, 0, -1};
    assert_int_equal(ct_model_set_params(m, w), CT_OK);
    float x[10] = {1, 2, 0, 0, 3, -1, 0.5f, 0.5f, -2, 4}, probs[15];
    assert_int_equal(ct_model_predict(m, x, 5, probs), CT_OK); /* more rows than max_batch */
    for (int i = 0; i < 5; i++) {
        double z[3] = {x[2 * i], x[2 * i + 1], x[2 * i] + x[2 * i + 1] - 1}, s = 0;
        for (int k = 0; k < 3; k++) s += exp(z[k]);
        for (int k = 0; k < 3; k++) assert_true(fabs(probs[3 * i + k] - exp(z[k]) / s) < 1e-6);
    }
    assert_int_equal(ct_model_predict(m, NULL, 1, probs), CT_ERR_INVALID);
    /* weights that are not finite: found (the tensor and element named), and not saved over a
     * file that was */
    assert_int_equal(ct_model_check_finite(m), CT_OK);
    const char *path = tu_tmp_path("finite.safetensors");
    assert_int_equal(ct_save_model(m, path, NULL, 0), CT_OK);
    w[4] = INFINITY;
    assert_int_equal(ct_model_set_params(m, w), CT_OK);
    assert_int_equal(ct_model_check_finite(m), CT_ERR_FORMAT);
    assert_string_equal(ct_last_error(), "tensor linear1.weight holds an infinity at element 4");
    assert_int_equal(ct_save_model(m, path, NULL, 0), CT_ERR_FORMAT);
    assert_non_null(strstr(ct_last_error(), "not saved: tensor linear1.weight holds an infinity"));
    ct_checkpoint *c = NULL;
    assert_int_equal(ct_checkpoint_open(path, &c), CT_OK); /* the finite one, whole */
    assert_int_equal(ct_checkpoint_load_params(c, m, ""), CT_OK);
    assert_int_equal(ct_model_check_finite(m), CT_OK);
    ct_checkpoint_free(c);
    ct_model_free(m);
    ct_backend_free(b);
}

/* ------------------------------------------------------------------------------------------ */
/* images in                                                                                   */

static void test_image_fit(void **state) {
    (void)state;
    /* 4x4 grey, dark, a bright 2x2 centre: pad (square already) to 2x2 averages 2x2 blocks */
    uint8_t px[16] = {0, 0, 0, 0, 0, 255, 255, 0, 0, 255, 255, 0, 0, 0, 0, 0};
    ct_image img = {4, 4, 1, px};
    float out[4 * 28 * 28];
    int inv = -1;
    assert_int_equal(ct_image_to_input(&img, 1, 2, 2, -1, CT_FIT_PAD, out, &inv), CT_OK);
    assert_int_equal(inv, 0);
    for (int i = 0; i < 4; i++) assert_true(fabsf(out[i] - 0.25f) < 1e-6f);
    /* the same picture dark on light is inverted by auto, and comes out the same */
    uint8_t light[16];
    for (int i = 0; i < 16; i++) light[i] = (uint8_t)(255 - px[i]);
    ct_image limg = {4, 4, 1, light};
    assert_int_equal(ct_image_to_input(&limg, 1, 2, 2, -1, CT_FIT_PAD, out, &inv), CT_OK);
    assert_int_equal(inv, 1);
    for (int i = 0; i < 4; i++) assert_true(fabsf(out[i] - 0.25f) < 1e-6f);
    assert_int_equal(ct_image_to_input(&limg, 1, 2, 2, 0, CT_FIT_PAD, out, &inv), CT_OK);
    assert_int_equal(inv, 0);
    assert_true(fabsf(out[0] - 0.75f) < 1e-6f);
    /* colour to grey by luminance; pad keeps the aspect ratio of a 2x1 picture */
    uint8_t rgb[6] = {255, 0, 0, 0, 0, 255};
    ct_image cimg = {2, 1, 3, rgb};
    assert_int_equal(ct_image_to_input(&cimg, 1, 2, 2, 0, CT_FIT_STRETCH, out, NULL), CT_OK);
    assert_true(fabsf(out[0] - 0.299f) < 1e-4f && fabsf(out[3] - 0.114f) < 1e-4f);
    assert_int_equal(ct_image_to_input(&cimg, 3, 2, 2, 0, CT_FIT_STRETCH, out, NULL), CT_OK);
    assert_true(out[0] == 1.0f && out[1] == 0.0f && out[8 + 1] == 1.0f); /* R plane, B plane */
    /* digit: an off-centre 10x6 blob in 56x56 ends up 20 pixels tall, centred */
    uint8_t *big = calloc(56 * 56, 1);
    for (int y = 2; y < 12; y++)
        for (int x = 40; x < 46; x++) big[y * 56 + x] = 255;
    ct_image bimg = {56, 56, 1, big};
    assert_int_equal(ct_image_to_input(&bimg, 1, 28, 28, -1, CT_FIT_DIGIT, out, NULL), CT_OK);
    double sum = 0, sy = 0, sx = 0;
    int top = 28, bottom = -1;
    for (int y = 0; y < 28; y++)
        for (int x = 0; x < 28; x++) {
            double v = out[y * 28 + x];
            sum += v, sy += v * (y + 0.5), sx += v * (x + 0.5);
            if (v > 0.5) top = y < top ? y : top, bottom = y > bottom ? y : bottom;
        }
    assert_true(fabs(sy / sum - 14) < 1.0 && fabs(sx / sum - 14) < 1.0);
    assert_int_equal(bottom - top + 1, 20);
    free(big);
    assert_int_equal(ct_image_to_input(&img, 2, 2, 2, 0, CT_FIT_PAD, out, NULL), CT_ERR_UNSUPPORTED);
}

static void expect_image_error(const char *name, const void *bytes, size_t n, const char *what) {
    const char *path = tu_write_file(4, name, bytes, n);
    ct_image img;
    ct_status s = ct_image_load(path, &img);
    if (s == CT_OK || !strstr(ct_last_error(), what))
        fail_msg("%s: status %d, \"%s\" (expected \"%s\")", name, s, ct_last_error(), what);
    assert_null(img.pixels);
}

static void test_image_files(void **state) {
    (void)state;
    ct_image img;
    const char pgm[] = "P5\n# a comment\n3 2\n255\n\x00\x80\xff\x10\x20\x30";
    assert_int_equal(ct_image_load(tu_write_file(4, "a.pgm", pgm, sizeof pgm - 1), &img), CT_OK);
    assert_int_equal(img.w, 3);
    assert_int_equal(img.h, 2);
    assert_int_equal(img.c, 1);
    assert_int_equal(img.pixels[2], 255);
    assert_int_equal(img.pixels[5], 0x30);
    ct_image_free(&img);
    const char p2[] = "P2\n2 1\n15\n0 15\n";
    assert_int_equal(ct_image_load(tu_write_file(4, "b.pgm", p2, sizeof p2 - 1), &img), CT_OK);
    assert_int_equal(img.pixels[1], 255);
    ct_image_free(&img);
    const char ppm[] = "P6\n1 1\n255\n\x10\x20\x30";
    assert_int_equal(ct_image_load(tu_write_file(4, "c.ppm", ppm, sizeof ppm - 1), &img), CT_OK);
    assert_int_equal(img.c, 3);
    assert_int_equal(img.pixels[2], 0x30);
    ct_image_free(&img);
    expect_image_error("short.pgm", "P5\n3 2\n255\n\x01\x02", 13, "short.pgm");
    expect_image_error("neg.pgm", "P5\n-3 2\n255\n", 12, "neg.pgm");
    expect_image_error("junk.png", "hello world", 11, "not a PNG, JPEG or PBM");
    expect_image_error("empty.png", "", 0, "not a PNG, JPEG or PBM");
    /* a PNG (drawn by cairo) reads back; cut short, it is an error */
    uint8_t cells[2 * 4 * 4] = {0};
    int labels[2] = {1, 2};
    const char *png = tu_tmp_path("cells.png");
    assert_int_equal(ct_grid_png(png, cells, 2, 1, 4, 4, labels, NULL, NULL, 0, 2, 1, NULL), CT_OK);
    assert_int_equal(ct_image_load(png, &img), CT_OK);
    assert_int_equal(img.h, 4 + 2 + 18 + 2); /* image, pad, label line; the last pad */
    ct_image_free(&img);
    FILE *f = fopen(png, "rb");
    uint8_t head[60];
    assert_int_equal(fread(head, 1, sizeof head, f), sizeof head);
    fclose(f);
    expect_image_error("cut.png", head, sizeof head, "cut.png");
    assert_int_equal(ct_image_load(tu_tmp_path("none.png"), &img), CT_ERR_IO);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_atomic),      cmocka_unit_test(test_atomic_targets),
        cmocka_unit_test(test_json_numbers), cmocka_unit_test(test_epoch_json),
        cmocka_unit_test(test_predict),     cmocka_unit_test(test_image_fit),
        cmocka_unit_test(test_image_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
