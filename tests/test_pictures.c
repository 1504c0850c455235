/*
 * test_pictures.c — pictures out (src/io/plot.c), each read back with ct_image_load and checked:
 * line charts (ct_plot_png), image grids (ct_grid_png) and confusion matrices
 * (ct_confusion_png): their sizes, that they are not blank, and where their colours fall.
 */
#include "testutil.h"

#include "ctrain/io.h"
#include "io/json_out.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Fashion-MNIST's classes, as torchvision's .classes */
static const char *const names[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                      "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"};

static void test_plot(void **state) {
    (void)state;
    double x[5] = {0, 1, 2, 3, 4}, y1[5] = {2.3, 0.5, 0.3, NAN, 0.2}, y2[4] = {0.6, 0.4, 0.35, 0.3};
    ct_series s[2] = {{"validation loss", x, y1, 5}, {"train loss", x + 1, y2, 4}};
    const char *path = tu_tmp_path("loss.png");
    assert_int_equal(ct_plot_png(path, "Loss", "epoch", "loss", s, 2, 640, 400), CT_OK);
    ct_image img;
    assert_int_equal(ct_image_load(path, &img), CT_OK);
    assert_int_equal(img.w, 640);
    assert_int_equal(img.h, 400);
    int seen[256] = {0}, distinct = 0;
    long coloured = 0, non_white = 0;
    for (int i = 0; i < img.w * img.h; i++) {
        const uint8_t *p = img.pixels + 3 * i;
        int grey = (p[0] + p[1] + p[2]) / 3;
        distinct += !seen[grey]++;
        non_white += grey < 250;
        coloured += abs(p[0] - p[2]) > 60; /* the blue and orange lines */
    }
    assert_true(distinct > 20);
    assert_true(non_white > img.w * img.h / 100);
    assert_true(coloured > 300);
    ct_image_free(&img);
    /* nothing to draw yet still gives a picture with axes */
    assert_int_equal(ct_plot_png(path, "empty", "x", "y", NULL, 0, 300, 200), CT_OK);
    assert_int_equal(ct_plot_png(path, "t", "x", "y", s, 2, 10, 10), CT_ERR_INVALID);
}

/* A log-scale x axis (the lr finder's chart) and a marked x: the dashed red line is drawn in
 * the column where log10 of its x falls between the axis ends; x <= 0 is skipped. */
static void test_plot_log_x(void **state) {
    (void)state;
    enum { N = 100, W = 800, H = 500 };
    double x[N], y[N];
    for (int i = 0; i < N; i++) {
        x[i] = 1e-7 * pow(1e8, (double)i / (N - 1)); /* 1e-7 .. 10 */
        double t = log10(x[i]) + 2.0;
        y[i] = 2.0 + 0.05 * t * t;
    }
    x[3] = 0.0; /* (skipped: no log) */
    x[4] = -1.0;
    ct_series s[1] = {{"loss", x, y, N}};
    ct_plot_opts po = {.log_x = 1, .mark = 1, .mark_x = 1e-2, .mark_label = "suggested 0.01"};
    const char *path = tu_tmp_path("lr_find.png");
    assert_int_equal(ct_plot_png_opts(path, "Loss vs. lr", "lr", "loss", s, 1, W, H, &po), CT_OK);
    ct_image img;
    assert_int_equal(ct_image_load(path, &img), CT_OK);
    assert_int_equal(img.w, W);
    assert_int_equal(img.h, H);
    int best_col = -1, best = 0;
    for (int c = 0; c < img.w; c++) { /* the column with the most of the mark's red */
        int red = 0;
        for (int r = 0; r < img.h; r++) {
            const uint8_t *p = img.pixels + 3 * (r * img.w + c);
            red += p[0] > 180 && p[1] < 90 && p[2] < 90;
        }
        if (red > best) best = red, best_col = c;
    }
    /* the plot area spans x 90 .. W - 25 over log10 x in [-7, 1] widened by 4% each side */
    double lo = -7 - 0.04 * 8, hi = 1 + 0.04 * 8, want = 90 + (-2 - lo) / (hi - lo) * (W - 25 - 90);
    if (!(fabs(best_col - want) <= 3.0 && best > (H - 110) / 3))
        fail_msg("the mark at 1e-2: red column %d (%d pixels), expected near %.1f", best_col, best,
                 want);
    ct_image_free(&img);
    /* a mark at x <= 0 on a log axis is not drawn; many series on a log axis are drawn */
    po.mark_x = 0.0;
    assert_int_equal(ct_plot_png_opts(path, "t", "x", "y", s, 1, W, H, &po), CT_OK);
    static ct_series many[100];
    for (int k = 0; k < 100; k++) many[k] = s[0];
    po.mark = 0;
    assert_int_equal(ct_plot_png_opts(path, "t", "x", "y", many, 100, W, H, &po), CT_OK);
}

/* A plot's pixels: the mean row of the blue ones (the first series' line) and the count of
 * those of the muted lines' grey. */
static void plot_pixels(const char *path, double *blue_row, long *grey) {
    ct_image img;
    assert_int_equal(ct_image_load(path, &img), CT_OK);
    double rows = 0;
    long blue = 0;
    *grey = 0;
    for (int r = 0; r < img.h; r++)
        for (int c = 0; c < img.w; c++) {
            const uint8_t *p = img.pixels + 3 * (r * img.w + c);
            if (p[2] > p[0] + 60) blue++, rows += r;
            *grey += p[0] == p[1] && p[1] == p[2] && p[0] >= 160 && p[0] <= 222;
        }
    ct_image_free(&img);
    *blue_row = blue ? rows / blue : 0;
}

/* Muted series (the sweep's pruned trials): grey lines and dots behind the coloured ones (a
 * single point shows); the axes take them in (one far above the rest stretches the y axis,
 * so the coloured line sits lower); refused with a log x axis or without their series. */
static void test_plot_muted(void **state) {
    (void)state;
    enum { W = 600, H = 400 };
    double x[3] = {0, 1, 2}, y[3] = {0.3, 0.2, 0.1}, far[1] = {5.0}, grey[2] = {0.4, 0.35};
    ct_series s[1] = {{"best", x, y, 3}};
    ct_series muted[2] = {{NULL, x, far, 1}, {NULL, x, grey, 2}};
    ct_plot_opts po = {.muted = muted, .n_muted = 2, .muted_label = "2 pruned trials"};
    const char *path = tu_tmp_path("muted.png");
    double row0, row1;
    long grey0, grey1;
    assert_int_equal(ct_plot_png(path, "t", "epoch", "val_loss", s, 1, W, H), CT_OK);
    plot_pixels(path, &row0, &grey0);
    assert_int_equal(ct_plot_png_opts(path, "t", "epoch", "val_loss", s, 1, W, H, &po), CT_OK);
    plot_pixels(path, &row1, &grey1);
    printf("# muted: the blue line's mean row %.0f -> %.0f, grey pixels %ld -> %ld\n", row0, row1,
           grey0, grey1);
    if (!(row1 > row0 + 60 && grey1 > grey0 + 100))
        fail_msg("muted: the blue line's mean row %.0f -> %.0f, grey pixels %ld -> %ld", row0,
                 row1, grey0, grey1);
    po.log_x = 1;
    assert_int_equal(ct_plot_png_opts(path, "t", "x", "y", s, 1, W, H, &po), CT_ERR_INVALID);
    po.log_x = 0, po.muted = NULL;
    assert_int_equal(ct_plot_png_opts(path, "t", "x", "y", s, 1, W, H, &po), CT_ERR_INVALID);
}

/* Blue pixels of a plot (the first series' colour). */
static long blue_pixels(const char *path) {
    ct_image img;
    assert_int_equal(ct_image_load(path, &img), CT_OK);
    long n = 0;
    for (long i = 0; i < (long)img.h * img.w; i++)
        n += img.pixels[3 * i + 2] > img.pixels[3 * i] + 60;
    ct_image_free(&img);
    return n;
}

/* End points (the sweep's SWA averages): a diamond in the series' colour, apart from its line;
 * the axes take it in (one far above stretches the y axis: the blue line sits lower); against
 * the same axes made by a grey point there instead, the diamond adds blue pixels; a non-finite
 * one draws nothing; refused with a log x axis or with only x or y. */
static void test_plot_end_points(void **state) {
    (void)state;
    enum { W = 600, H = 400 };
    double x[3] = {0, 1, 2}, y[3] = {0.3, 0.2, 0.1}, ex[1] = {3}, ey[1] = {5.0}, none[1] = {NAN};
    ct_series s[1] = {{"best", x, y, 3}}, grey_pt[1] = {{NULL, ex, ey, 1}};
    ct_plot_opts po = {.end_x = ex, .end_y = ey, .end_label = "the SWA average"};
    ct_plot_opts pg = {.muted = grey_pt, .n_muted = 1, .muted_label = "a grey point"};
    const char *path = tu_tmp_path("ends.png");
    double row0, row1, row2;
    long grey;
    assert_int_equal(ct_plot_png(path, "t", "epoch", "val_loss", s, 1, W, H), CT_OK);
    plot_pixels(path, &row0, &grey);
    assert_int_equal(ct_plot_png_opts(path, "t", "epoch", "val_loss", s, 1, W, H, &pg), CT_OK);
    const long blue_grey_pt = blue_pixels(path);
    assert_int_equal(ct_plot_png_opts(path, "t", "epoch", "val_loss", s, 1, W, H, &po), CT_OK);
    plot_pixels(path, &row1, &grey);
    const long blue_end = blue_pixels(path);
    printf("# end point: the blue line's mean row %.0f -> %.0f; blue pixels %ld, with a grey "
           "point there instead %ld\n", row0, row1, blue_end, blue_grey_pt);
    if (!(row1 > row0 + 30 && blue_end > blue_grey_pt + 30))
        fail_msg("end point: the blue mean row %.0f -> %.0f, blue pixels %ld (a grey point: "
                 "%ld)", row0, row1, blue_end, blue_grey_pt);
    po.end_y = none; /* not finite: no point, no legend row, the axes as without */
    assert_int_equal(ct_plot_png_opts(path, "t", "epoch", "val_loss", s, 1, W, H, &po), CT_OK);
    plot_pixels(path, &row2, &grey);
    if (!(fabs(row2 - row0) < 1.0))
        fail_msg("a non-finite end point moved the line: mean row %.0f, without %.0f", row2, row0);
    po.end_y = ey, po.log_x = 1;
    assert_int_equal(ct_plot_png_opts(path, "t", "x", "y", s, 1, W, H, &po), CT_ERR_INVALID);
    po.log_x = 0, po.end_y = NULL;
    assert_int_equal(ct_plot_png_opts(path, "t", "x", "y", s, 1, W, H, &po), CT_ERR_INVALID);
}

static void test_grid(void **state) {
    (void)state;
    enum { N = 10, S = 8 };
    uint8_t images[N * S * S];
    int labels[N], preds[N];
    for (int i = 0; i < N; i++) {
        labels[i] = i % 10;
        preds[i] = i == 3 ? 5 : labels[i]; /* one wrong */
        for (int k = 0; k < S * S; k++) images[i * S * S + k] = (uint8_t)((k * 37 + i * 11) & 255);
    }
    const char *path = tu_tmp_path("grid.png");
    assert_int_equal(ct_grid_png(path, images, N, 1, S, S, labels, preds, NULL, 0, 5, 4, "title"), CT_OK);
    ct_image img;
    assert_int_equal(ct_image_load(path, &img), CT_OK);
    assert_int_equal(img.w, 5 * (S * 4 + 2) + 2);     /* make_grid: 2 pixels around each */
    assert_int_equal(img.h, 30 + 2 * (S * 4 + 2 + 18) + 2); /* title, label lines */
    long red = 0;
    for (int i = 0; i < img.w * img.h; i++)
        red += img.pixels[3 * i] > 180 && img.pixels[3 * i + 1] < 80 && img.pixels[3 * i + 2] < 80;
    assert_true(red > 4 * S * 4); /* the frame of the wrong one */
    ct_image_free(&img);
    /* with class names, a wrong prediction's name gets a second line under the wrong cell */
    static uint8_t dark[N * 28 * 28]; /* black images: only the labels are lit */
    assert_int_equal(ct_grid_png(path, dark, N, 1, 28, 28, labels, preds, names, 10, 5, 3,
                                 NULL), CT_OK);
    assert_int_equal(ct_image_load(path, &img), CT_OK);
    assert_int_equal(img.h, 2 * (28 * 3 + 2 + 34) + 2);
    int cell_w = 28 * 3 + 2, cell_h = 28 * 3 + 2 + 34;
    long second[5] = {0}; /* lit pixels of the second label line under row 0's five cells */
    for (int y = 2 + 28 * 3 + 18; y < cell_h; y++)
        for (int x = 0; x < 5 * cell_w; x++)
            second[x / cell_w] += img.pixels[3 * (y * img.w + x)] > 128;
    assert_true(second[3] > 20); /* image 3: "Dress", wrongly "Sandal" */
    assert_int_equal(second[0] + second[1] + second[2] + second[4], 0);
    ct_image_free(&img);
    assert_int_equal(ct_grid_png(path, images, 0, 1, S, S, labels, NULL, NULL, 0, 5, 3, NULL), CT_ERR_INVALID);
    /* captions of the caller's (ctrain show's mixed images): a line under each cell that has
     * one, in white */
    const char *captions[5] = {"1+7 0.62", NULL, "3", NULL, "9+2 0.05"};
    assert_int_equal(ct_grid_png_captions(path, dark, 5, 1, 28, 28, captions, 5, 3, NULL), CT_OK);
    assert_int_equal(ct_image_load(path, &img), CT_OK);
    assert_int_equal(img.h, 28 * 3 + 2 + 18 + 2);
    long under[5] = {0};
    for (int y = 2 + 28 * 3; y < img.h; y++)
        for (int x = 0; x < 5 * cell_w; x++)
            under[x / cell_w] += img.pixels[3 * (y * img.w + x)] > 128;
    assert_true(under[0] > 20 && under[2] > 5 && under[4] > 20 && under[0] > under[2]);
    assert_int_equal(under[1] + under[3], 0);
    ct_image_free(&img);
    assert_int_equal(ct_grid_png_captions(path, dark, 5, 1, 28, 28, NULL, 5, 3, NULL),
                     CT_ERR_INVALID);
    /* a title wider than the grid widens the picture: drawn whole, a black margin each side */
    const char *wide = "mnist train: label -> prediction (16 of 1000 wrong), a long title";
    assert_int_equal(ct_grid_png(path, images, 2, 1, S, S, labels, preds, NULL, 0, 2, 1, wide), CT_OK);
    assert_int_equal(ct_image_load(path, &img), CT_OK);
    assert_true(img.w > 300);
    long lit = 0, edge = 0;
    for (int y = 0; y < 30; y++)
        for (int x = 0; x < img.w; x++) {
            int on = img.pixels[3 * (y * img.w + x)] > 128;
            lit += on;
            edge += on && (x < 3 || x >= img.w - 3);
        }
    assert_true(lit > 100);
    assert_int_equal(edge, 0);
    ct_image_free(&img);
}

static void test_confusion(void **state) {
    (void)state;
    enum { K = 10 };
    int64_t cm[K * K] = {0};
    for (int t = 0; t < K; t++) cm[t * K + t] = 90, cm[t * K + (t + 1) % K] = 10;
    const char *path = tu_tmp_path("cm.png");
    assert_int_equal(ct_confusion_png(path, cm, K, NULL, 0, "test set"), CT_OK);
    ct_image img;
    assert_int_equal(ct_image_load(path, &img), CT_OK);
    /* cells of 56 pixels, margins 70 + 86 (the colour bar: 20 + 16 + 50) across and 50 + 60
     * down */
    assert_int_equal(img.w, 70 + K * 56 + 86);
    assert_int_equal(img.h, 50 + K * 56 + 60);
    /* the colour bar: Blues' end at its top (1.0), white at its bottom (0.0) */
    const int bar_x = 70 + K * 56 + 20 + 8;
    const uint8_t *bar_top = img.pixels + 3 * ((50 + 3) * img.w + bar_x);
    const uint8_t *bar_low = img.pixels + 3 * ((50 + K * 56 - 3) * img.w + bar_x);
    assert_true(bar_top[2] > bar_top[0] + 60 && bar_top[0] < 60);
    assert_true(bar_low[0] > 240 && bar_low[1] > 240 && bar_low[2] > 240);
    /* the diagonal (90% of its row) dark blue, the cell beside it (10%) pale, another white:
     * sampled at a cell's corner, away from its count */
    const uint8_t *diag = img.pixels + 3 * ((50 + 3) * img.w + 70 + 3);
    const uint8_t *next = img.pixels + 3 * ((50 + 3) * img.w + 70 + 56 + 3);
    const uint8_t *none = img.pixels + 3 * ((50 + 3) * img.w + 70 + 5 * 56 + 3);
    assert_true(diag[2] > diag[0] + 60 && diag[0] < 60);
    assert_true(next[2] > next[0] && next[0] > 200);
    assert_true(none[0] == 255 && none[1] == 255 && none[2] == 255);
    ct_image_free(&img);
    /* many classes: small cells, no counts; names beside the rows widen the picture */
    static int64_t big[300 * 300];
    for (int t = 0; t < 300; t++) big[t * 300 + t] = 1;
    assert_int_equal(ct_confusion_png(path, big, 300, NULL, 0, NULL), CT_OK);
    assert_int_equal(ct_confusion_png(path, cm, K, names, K, "named"), CT_OK);
    assert_int_equal(ct_image_load(path, &img), CT_OK);
    assert_true(img.w > 70 + K * 56 + 86);
    ct_image_free(&img);
    assert_int_equal(ct_confusion_png(path, cm, 0, NULL, 0, NULL), CT_ERR_INVALID);
    assert_int_equal(ct_confusion_png(path, NULL, K, NULL, 0, NULL), CT_ERR_INVALID);
}

/* Text that is not valid UTF-8 (a class folder named in Latin-1, a long name cut in a label
 * mid-character) drawn with U+FFFD in its place: cairo would draw nothing more after it and fail
 * the picture. */
static void test_text_not_utf8(void **state) {
    (void)state;
    char t[64];
    assert_string_equal(ct_utf8_clean(t, sizeof t, "b\xe9" "\xc3\xa9"), "b\xef\xbf\xbd\xc3\xa9");
    assert_string_equal(ct_utf8_clean(t, 4, "\xc3\xa9\xc3\xa9"), "\xc3\xa9"); /* (not half of one) */
    /* a surrogate, a code point past U+10FFFF: a U+FFFD a byte */
    const char *const R = "\xef\xbf\xbd";
    char want[64];
    snprintf(want, sizeof want, "%s%s%sx%s%s%s%s", R, R, R, R, R, R, R);
    assert_string_equal(ct_utf8_clean(t, sizeof t, "\xed\xa0\x80x\xf4\x90\x80\x80"), want);
    char long_name[200]; /* 66 two-byte letters: cut mid-letter by the confusion matrix's labels */
    for (int i = 0; i < 66; i++) memcpy(long_name + 2 * i, "\xc3\xa9", 2);
    long_name[132] = 0;
    const char *bad[3] = {"a", "b\xe9", long_name};
    int64_t cm[9] = {5, 1, 0, 0, 5, 1, 1, 0, 5};
    const char *path = tu_tmp_path("cm_latin1.png");
    assert_int_equal(ct_confusion_png(path, cm, 3, bad, 3, "caf\xe9"), CT_OK);
    uint8_t images[3 * 8 * 8] = {0};
    int labels[3] = {0, 1, 2}, preds[3] = {0, 2, 1};
    path = tu_tmp_path("grid_latin1.png");
    assert_int_equal(ct_grid_png(path, images, 3, 1, 8, 8, labels, preds, bad, 3, 3, 4, "t\xe9"),
                     CT_OK);
    ct_series s = {"\xff", (double[]){0, 1}, (double[]){1, 2}, 2};
    path = tu_tmp_path("plot_latin1.png");
    assert_int_equal(ct_plot_png(path, "\xe9", "x", "y", &s, 1, 320, 200), CT_OK);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text_not_utf8),
        cmocka_unit_test(test_plot), cmocka_unit_test(test_plot_log_x),
        cmocka_unit_test(test_plot_muted),        cmocka_unit_test(test_plot_end_points),
        cmocka_unit_test(test_grid),
        cmocka_unit_test(test_confusion),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
