/*
 * test_data_ops.c — the data and memory ops of the backend table (backend/backend.h: the
 * uint8 row gather with and without augmentation (crop, flip and the affine warp), a step's
 * scalars in device memory, collectives on one rank, allocation, copies and slots) against
 * references written here, on
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
/* gather_u8 with augmentation, against torchvision's recipe done literally: pad the image with */
/* zeros into a larger buffer, cut the (h, w) window at (ty, tx), mirror it when the coin says.  */

static void test_gather_augment(void **state) {
    ct_backend *b = tu_backend(state);
    ct_rng rng;
    ct_rng_init(&rng, 16, 0);
    const int cases[][5] = {/* c, h, w, pad, flip */
                            {1, 28, 28, 2, 0}, {3, 32, 32, 4, 1}, {2, 5, 7, 3, 1},
                            {1, 4, 4, 6, 1},   {1, 28, 28, 0, 1}, {1, 9, 9, 0, 0}};
    const int64_t rows = 40, n = 33;
    const float scale = 1.0f / 255.0f;
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const int c = cases[k][0], h = cases[k][1], w = cases[k][2], pad = cases[k][3];
        const int64_t row = (int64_t)c * h * w;
        const int ph = h + 2 * pad, pw = w + 2 * pad;
        ct_augment aug = {.c = c, .h = h, .w = w, .pad = pad, .flip = cases[k][4], .seed = 99,
                          .stream = 12345 + k, .first = 1000 * k + 7};
        uint8_t *src = hmalloc((size_t)(rows * row)), *lab = hmalloc((size_t)rows);
        int32_t *idx = hmalloc((size_t)n * 4);
        float *out = hmalloc((size_t)(n * row) * 4), *padded = hmalloc((size_t)c * ph * pw * 4);
        uint8_t out_lab[33];
        for (int64_t i = 0; i < rows * row; i++) src[i] = (uint8_t)(1 + ct_rng_below(&rng, 255));
        for (int64_t i = 0; i < rows; i++) lab[i] = (uint8_t)ct_rng_below(&rng, 10);
        for (int64_t i = 0; i < n; i++) idx[i] = (int32_t)ct_rng_below(&rng, (uint32_t)rows);
        uint8_t *d_src = dput(b, src, (size_t)(rows * row)), *d_lab = dput(b, lab, (size_t)rows);
        int32_t *d_idx = dput(b, idx, (size_t)n * 4);
        float *d_out = dalloc(b, (size_t)(n * row) * 4);
        uint8_t *d_out_lab = dalloc(b, (size_t)n);
        for (int use_idx = 0; use_idx < 2; use_idx++) {
            OK(b->gather_u8(b, d_src, d_lab, use_idx ? d_idx : NULL, n, row, scale, &aug, NULL,
                            d_out, d_out_lab, NULL));
            dget(b, out, d_out, (size_t)(n * row) * 4);
            dget(b, out_lab, d_out_lab, (size_t)n);
            int flips = 0, zeros = 0;
            for (int64_t i = 0; i < n; i++) {
                const uint8_t *img = src + (use_idx ? idx[i] : i) * row;
                uint32_t r[4];
                ct_philox4x32(aug.seed, aug.stream, aug.first + (uint64_t)i, r);
                int ty = (int)(r[0] % (uint32_t)(2 * pad + 1)), tx = (int)(r[1] % (uint32_t)(2 * pad + 1));
                int flip = aug.flip && (r[2] & 1);
                flips += flip;
                for (int64_t e = 0; e < (int64_t)c * ph * pw; e++) padded[e] = 0.0f;
                for (int ch = 0; ch < c; ch++)
                    for (int y = 0; y < h; y++)
                        for (int x = 0; x < w; x++)
                            padded[((int64_t)ch * ph + y + pad) * pw + x + pad] =
                                scale * (float)img[((int64_t)ch * h + y) * w + x];
                for (int ch = 0; ch < c; ch++)
                    for (int y = 0; y < h; y++)
                        for (int x = 0; x < w; x++) {
                            int cx = flip ? w - 1 - x : x; /* the crop's column shown at x */
                            float ref = padded[((int64_t)ch * ph + ty + y) * pw + tx + cx];
                            size_t at = (size_t)(i * row + ((int64_t)ch * h + y) * w + x);
                            zeros += out[at] == 0.0f;
                            char what[96];
                            snprintf(what, sizeof what, "augmented gather (%d,%d,%d) pad %d flip %d%s",
                                     c, h, w, pad, aug.flip, use_idx ? "" : " idx NULL");
                            if (out[at] != ref) tu_near(what, at, out[at], ref, 0.0);
                        }
                tu_near("augmented gather's label", (size_t)i, out_lab[i], lab[use_idx ? idx[i] : i], 0.0);
            }
            if (aug.flip) assert_true(flips > 0 && flips < n); /* the coin shows both sides */
            if (pad == 0) assert_int_equal(zeros, 0);         /* src has no zero pixel */
            if (pad >= h) assert_true(zeros > 0);
        }
        b->free(b, d_src); b->free(b, d_lab); b->free(b, d_idx); b->free(b, d_out);
        b->free(b, d_out_lab);
        free(src); free(lab); free(idx); free(out); free(padded);
    }
    /* a row that is not c*h*w is refused */
    ct_augment bad = {.c = 1, .h = 2, .w = 2, .pad = 1};
    float *d_o = dalloc(b, 5 * 4);
    uint8_t *d_s = dalloc(b, 5);
    assert_int_equal(b->gather_u8(b, d_s, NULL, NULL, 1, 5, 1.0f, &bad, NULL, d_o, NULL, NULL),
                     CT_ERR_INVALID);
    b->free(b, d_o); b->free(b, d_s);
}

/* ------------------------------------------------------------------------------------------ */
/* gather_u8 with the affine part (augment.h; torchvision itself checks it: cli_torchvision.sh): */
/* the same as the definition computed here on the host, an identity warp is no warp, and a     */
/* pure shift moves the image by the drawn whole pixels                                          */

static void test_gather_affine(void **state) {
    ct_backend *b = tu_backend(state);
    ct_rng rng;
    ct_rng_init(&rng, 18, 0);
    const int64_t rows = 30, n = 24;
    const float scale = 1.0f / 255.0f;
    const struct { int c, h, w, pad, flip, bilinear; float deg, tr, s0, s1, shear; } cases[] = {
        {1, 28, 28, 0, 0, 0, 20, 0.1f, 0.9f, 1.1f, 10},
        {1, 28, 28, 2, 1, 1, 20, 0.1f, 0.9f, 1.1f, 10},
        {3, 9, 13, 0, 1, 1, 180, 0.3f, 0.5f, 3, 45},     {2, 6, 5, 1, 0, 0, 90, 0, 0, 0, 0},
        {1, 16, 16, 0, 0, 0, 0, 0, 1, 1, 0},             {1, 16, 16, 0, 1, 1, 0, 0, 1, 1, 0},
        {1, 12, 10, 0, 0, 1, 0, 0.25f, 0, 0, 0},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const int c = cases[k].c, h = cases[k].h, w = cases[k].w;
        const int64_t row = (int64_t)c * h * w;
        ct_augment aug = {.c = c, .h = h, .w = w, .pad = cases[k].pad, .flip = cases[k].flip,
                          .degrees = cases[k].deg, .translate = cases[k].tr,
                          .scale_min = cases[k].s0, .scale_max = cases[k].s1,
                          .shear = cases[k].shear, .bilinear = cases[k].bilinear, .seed = 5 + k,
                          .stream = 77, .first = 300 * k};
        uint8_t *src = hmalloc((size_t)(rows * row));
        int32_t *idx = hmalloc((size_t)n * 4);
        float *out = hmalloc((size_t)(n * row) * 4), *plain = hmalloc((size_t)(n * row) * 4);
        for (int64_t i = 0; i < rows * row; i++) src[i] = (uint8_t)(1 + ct_rng_below(&rng, 255));
        for (int64_t i = 0; i < n; i++) idx[i] = (int32_t)ct_rng_below(&rng, (uint32_t)rows);
        uint8_t *d_src = dput(b, src, (size_t)(rows * row));
        int32_t *d_idx = dput(b, idx, (size_t)n * 4);
        float *d_out = dalloc(b, (size_t)(n * row) * 4);
        OK(b->gather_u8(b, d_src, NULL, d_idx, n, row, scale, &aug, NULL, d_out, NULL, NULL));
        dget(b, out, d_out, (size_t)(n * row) * 4);
        ct_augment none = aug; /* the crop and flip alone */
        none.degrees = none.translate = none.scale_min = none.scale_max = none.shear = 0.0f;
        OK(b->gather_u8(b, d_src, NULL, d_idx, n, row, scale, &none, NULL, d_out, NULL, NULL));
        dget(b, plain, d_out, (size_t)(n * row) * 4);
        int64_t off = 0, shifted = 0;
        for (int64_t i = 0; i < n; i++) {
            const uint8_t *img = src + (int64_t)idx[i] * row;
            uint32_t w4[4], v4[4];
            ct_augment_draw d;
            ct_philox4x32(aug.seed, aug.stream, aug.first + (uint64_t)i, w4);
            ct_philox4x32(aug.seed, aug.stream | CT_AUGMENT_AFFINE_BIT, aug.first + (uint64_t)i,
                          v4);
            ct_augment_draw_of(&aug, w4, v4, &d);
            assert_true(d.affine);
            assert_true(fabs(d.angle) <= aug.degrees && fabs(d.shear) <= aug.shear);
            if (aug.scale_max > 0)
                assert_true(d.scale >= aug.scale_min && d.scale <= aug.scale_max);
            else assert_true(d.scale == 1.0);
            assert_true(abs(d.shift_x) <= (int)lrint(aug.translate * w) &&
                        abs(d.shift_y) <= (int)lrint(aug.translate * h));
            shifted += d.shift_x != 0 || d.shift_y != 0;
            for (int ch = 0; ch < c; ch++)
                for (int y = 0; y < h; y++)
                    for (int x = 0; x < w; x++) {
                        int64_t at = i * row + ((int64_t)ch * h + y) * w + x;
                        float want = scale * (float)ct_augment_pixel(&aug, &d, img, ch, y, x);
                        /* (a GPU's sin and cos may differ in the last bit: a nearest sample
                         * within rounding of a half pixel may round the other way) */
                        if (fabsf(out[at] - want) > 1e-6f) off++;
                        if (aug.degrees == 0 && aug.translate == 0 && aug.shear == 0 &&
                            out[at] != plain[at]) /* scale 1:1: the identity */
                            tu_near("identity warp", (size_t)at, out[at], plain[at], 0.0);
                        if (aug.degrees == 0 && aug.scale_max == 0 && aug.shear == 0 &&
                            aug.pad == 0 && !aug.flip) { /* a shift by whole pixels */
                            int sy = y - d.shift_y, sx = x - d.shift_x;
                            float v = sy >= 0 && sy < h && sx >= 0 && sx < w
                                          ? scale * (float)img[((int64_t)ch * h + sy) * w + sx]
                                          : 0.0f;
                            if (out[at] != v) tu_near("shifted image", (size_t)at, out[at], v, 0.0);
                        }
                    }
        }
        if (off * 1000 > n * row) {
            char what[96];
            snprintf(what, sizeof what, "affine gather, case %zu: %lld of %lld pixels differ", k,
                     (long long)off, (long long)(n * row));
            fail_msg("%s", what);
        }
        if (aug.translate > 0) assert_true(shifted > 0);
        b->free(b, d_src); b->free(b, d_idx); b->free(b, d_out);
        free(src); free(idx); free(out); free(plain);
    }
}

/* ------------------------------------------------------------------------------------------ */
/* gather_u8 with a resized crop (RandomResizedCrop; torchvision itself checks it:              */
/* cli_torchvision.sh): each image is the box RandomResizedCrop.get_params picks from the       */
/* image's Philox blocks (written out again here, tries and fallback), resized by bilinear      */
/* weights max(0, 1 - |j + 0.5 - centre|) over the whole box, normalised, then flipped          */

/* get_params of RandomResizedCrop from the image's blocks, as augment.h's comment states it */
static void ref_resized_box(const ct_augment *a, uint64_t pos, int box[4], int *tried) {
    double area = (double)a->h * a->w, lr0 = log(a->ratio_min), lr1 = log(a->ratio_max);
    for (int k = 0; k < 10; k++) {
        uint32_t r[4];
        ct_philox4x32(a->seed, a->stream | (1ull << 49) | ((uint64_t)k << 40), a->first + pos, r);
        double u0 = (r[0] >> 8) / 16777216.0, u1 = (r[1] >> 8) / 16777216.0;
        double t = area * (a->area_min + (a->area_max - (double)a->area_min) * u0);
        double ar = exp(lr0 + (lr1 - lr0) * u1);
        int bw = (int)nearbyint(sqrt(t * ar)), bh = (int)nearbyint(sqrt(t / ar));
        if (bw > 0 && bw <= a->w && bh > 0 && bh <= a->h) {
            box[0] = (int)(r[2] % (uint32_t)(a->h - bh + 1));
            box[1] = (int)(r[3] % (uint32_t)(a->w - bw + 1));
            box[2] = bh, box[3] = bw, *tried = k + 1;
            return;
        }
    }
    double in = (double)a->w / a->h;
    box[2] = a->h, box[3] = a->w, *tried = 11;
    if (in < a->ratio_min) box[2] = (int)nearbyint(a->w / (double)a->ratio_min);
    else if (in > a->ratio_max) box[3] = (int)nearbyint(a->h * (double)a->ratio_max);
    box[0] = (a->h - box[2]) / 2, box[1] = (a->w - box[3]) / 2;
}

/* the weight of box pixel j for output o of out, the box n pixels wide */
static double ref_tap(int o, int out, int n, int j) {
    double centre = (double)n / out * (o + 0.5), total = 0.0;
    for (int k = 0; k < n; k++) total += fmax(0.0, 1.0 - fabs(k + 0.5 - centre));
    return fmax(0.0, 1.0 - fabs(j + 0.5 - centre)) / total;
}

static void test_gather_resized(void **state) {
    ct_backend *b = tu_backend(state);
    ct_rng rng;
    ct_rng_init(&rng, 19, 0);
    const int64_t rows = 20, n = 40;
    const float scale = 1.0f / 255.0f;
    const struct { int c, h, w, flip; float a0, a1, r0, r1; } cases[] = {
        {1, 28, 28, 0, 0.08f, 1.0f, 0.75f, 4.0f / 3.0f}, /* RandomResizedCrop's defaults */
        {3, 9, 13, 1, 0.08f, 1.0f, 0.75f, 4.0f / 3.0f},  /* colour, unequal sides, flip */
        {2, 7, 30, 1, 0.5f, 1.0f, 0.75f, 4.0f / 3.0f},   /* too wide: tries fail, fallback */
        {1, 30, 6, 0, 0.9f, 1.0f, 0.5f, 2.0f},           /* too tall */
        {1, 16, 16, 0, 1.0f, 1.0f, 1.0f, 1.0f},          /* the whole image: the identity */
        {1, 5, 5, 1, 0.01f, 0.05f, 0.2f, 5.0f},          /* boxes of a pixel or two */
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const int c = cases[k].c, h = cases[k].h, w = cases[k].w;
        const int64_t row = (int64_t)c * h * w;
        ct_augment aug = {.c = c, .h = h, .w = w, .flip = cases[k].flip,
                          .area_min = cases[k].a0, .area_max = cases[k].a1,
                          .ratio_min = cases[k].r0, .ratio_max = cases[k].r1, .seed = 50 + k,
                          .stream = 91, .first = 1000 * k};
        uint8_t *src = hmalloc((size_t)(rows * row));
        int32_t *idx = hmalloc((size_t)n * 4);
        float *out = hmalloc((size_t)(n * row) * 4);
        for (int64_t i = 0; i < rows * row; i++) src[i] = (uint8_t)ct_rng_below(&rng, 256);
        for (int64_t i = 0; i < n; i++) idx[i] = (int32_t)ct_rng_below(&rng, (uint32_t)rows);
        uint8_t *d_src = dput(b, src, (size_t)(rows * row));
        int32_t *d_idx = dput(b, idx, (size_t)n * 4);
        float *d_out = dalloc(b, (size_t)(n * row) * 4);
        OK(b->gather_u8(b, d_src, NULL, d_idx, n, row, scale, &aug, NULL, d_out, NULL, NULL));
        dget(b, out, d_out, (size_t)(n * row) * 4);
        int flips = 0, fallbacks = 0, sizes = 0, last_area = -1;
        for (int64_t i = 0; i < n; i++) {
            const uint8_t *img = src + (int64_t)idx[i] * row;
            int box[4], tried;
            ref_resized_box(&aug, (uint64_t)i, box, &tried);
            assert_true(box[0] >= 0 && box[1] >= 0 && box[2] >= 1 && box[3] >= 1 &&
                        box[0] + box[2] <= h && box[1] + box[3] <= w);
            fallbacks += tried > 10;
            sizes += box[2] * box[3] != last_area, last_area = box[2] * box[3];
            uint32_t w4[4];
            ct_philox4x32(aug.seed, aug.stream, aug.first + (uint64_t)i, w4);
            int flip = aug.flip && (w4[2] & 1u);
            flips += flip;
            for (int ch = 0; ch < c; ch++)
                for (int y = 0; y < h; y++)
                    for (int x = 0; x < w; x++) {
                        int sx = flip ? w - 1 - x : x;
                        double v = 0.0;
                        for (int yy = 0; yy < box[2]; yy++)
                            for (int xx = 0; xx < box[3]; xx++)
                                v += ref_tap(y, h, box[2], yy) * ref_tap(sx, w, box[3], xx) *
                                     img[((int64_t)ch * h + box[0] + yy) * w + box[1] + xx];
                        int64_t at = i * row + ((int64_t)ch * h + y) * w + x;
                        tu_near("resized crop", (size_t)at, out[at], scale * v, 2e-6);
                        if (aug.area_min == 1.0f && aug.ratio_min == 1.0f) /* the identity */
                            tu_near("whole-image resized crop", (size_t)at, out[at],
                                    scale * img[((int64_t)ch * h + y) * w + sx], 0.0);
                    }
        }
        if (aug.flip) assert_true(flips > 0 && flips < n);
        if (k == 2) assert_true(fallbacks > 0); /* (a box as wide as 4:3 fits no 7x30 image) */
        if (k == 0 || k == 1) assert_true(sizes > n / 2);
        b->free(b, d_src); b->free(b, d_idx); b->free(b, d_out);
        free(src); free(idx); free(out);
    }
}

/* ------------------------------------------------------------------------------------------ */
/* gather_u8 with RandomErasing on top of the rest: the box RandomErasing.get_params picks from */
/* the image's Philox words (written out again here) takes the fill; every other pixel is the   */
/* gather without erasing's                                                                      */

/* the erased box of the image at place pos under a (box[2] == 0: none), as augment.h states */
static void ref_erase_box(const ct_augment *a, uint64_t pos, int box[4]) {
    uint32_t coin[4];
    box[0] = box[1] = box[2] = box[3] = 0;
    ct_philox4x32(a->seed, a->stream | (1ull << 50) | (10ull << 40), a->first + pos, coin);
    if (!((coin[0] >> 8) / 16777216.0 < a->erase_p)) return;
    double area = (double)a->h * a->w, lr0 = log(0.3), lr1 = log(3.3);
    for (int k = 0; k < 10; k++) {
        uint32_t r[4];
        ct_philox4x32(a->seed, a->stream | (1ull << 50) | ((uint64_t)k << 40), a->first + pos, r);
        double t = area * (0.02 + (0.33 - 0.02) * ((r[0] >> 8) / 16777216.0));
        double ar = exp(lr0 + (lr1 - lr0) * ((r[1] >> 8) / 16777216.0));
        int eh = (int)nearbyint(sqrt(t * ar)), ew = (int)nearbyint(sqrt(t / ar));
        if (eh < a->h && ew < a->w) {
            box[0] = (int)(r[2] % (uint32_t)(a->h - eh + 1));
            box[1] = (int)(r[3] % (uint32_t)(a->w - ew + 1));
            box[2] = eh, box[3] = ew;
            return;
        }
    }
}

static void test_gather_erase(void **state) {
    ct_backend *b = tu_backend(state);
    ct_rng rng;
    ct_rng_init(&rng, 20, 0);
    const int64_t rows = 16, n = 60;
    const float scale = 1.0f / 255.0f;
    const struct { int c, h, w, pad, flip; float deg, a0, p; } cases[] = {
        {1, 28, 28, 0, 0, 0, 0, 1.0f},      /* erasing alone, every image */
        {3, 12, 9, 2, 1, 10, 0, 0.5f},      /* over a warp, crop and flip, half of them */
        {2, 10, 14, 0, 1, 0, 0.3f, 0.7f},   /* over a resized crop */
        {1, 1, 20, 0, 0, 0, 0, 1.0f},       /* no box is below one row: none erased */
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const int c = cases[k].c, h = cases[k].h, w = cases[k].w;
        const int64_t row = (int64_t)c * h * w;
        ct_augment aug = {.c = c, .h = h, .w = w, .pad = cases[k].pad, .flip = cases[k].flip,
                          .degrees = cases[k].deg, .bilinear = cases[k].deg > 0,
                          .area_min = cases[k].a0, .area_max = cases[k].a0 > 0 ? 1.0f : 0.0f,
                          .ratio_min = cases[k].a0 > 0 ? 0.75f : 0.0f,
                          .ratio_max = cases[k].a0 > 0 ? 4.0f / 3.0f : 0.0f,
                          .erase_p = cases[k].p, .erase_fill = {17, 200, 96, 5},
                          .seed = 70 + k, .stream = 5, .first = 77 * k};
        ct_augment plain_aug = aug;
        plain_aug.erase_p = 0.0f;
        uint8_t *src = hmalloc((size_t)(rows * row));
        int32_t *idx = hmalloc((size_t)n * 4);
        float *out = hmalloc((size_t)(n * row) * 4), *plain = hmalloc((size_t)(n * row) * 4);
        for (int64_t i = 0; i < rows * row; i++) src[i] = (uint8_t)ct_rng_below(&rng, 256);
        for (int64_t i = 0; i < n; i++) idx[i] = (int32_t)ct_rng_below(&rng, (uint32_t)rows);
        uint8_t *d_src = dput(b, src, (size_t)(rows * row));
        int32_t *d_idx = dput(b, idx, (size_t)n * 4);
        float *d_out = dalloc(b, (size_t)(n * row) * 4);
        OK(b->gather_u8(b, d_src, NULL, d_idx, n, row, scale, &aug, NULL, d_out, NULL, NULL));
        dget(b, out, d_out, (size_t)(n * row) * 4);
        OK(b->gather_u8(b, d_src, NULL, d_idx, n, row, scale, &plain_aug, NULL, d_out, NULL,
                        NULL));
        dget(b, plain, d_out, (size_t)(n * row) * 4);
        int erased = 0;
        for (int64_t i = 0; i < n; i++) {
            int box[4];
            ref_erase_box(&aug, (uint64_t)i, box);
            erased += box[2] > 0;
            if (box[2] > 0 && box[3] > 0) { /* RandomErasing's ranges (rounding aside) */
                double share = (double)box[2] * box[3] / ((double)h * w);
                assert_true(share >= 0.005 && share <= 0.45 && box[2] < h && box[3] < w);
            }
            for (int ch = 0; ch < c; ch++)
                for (int y = 0; y < h; y++)
                    for (int x = 0; x < w; x++) {
                        int64_t at = i * row + ((int64_t)ch * h + y) * w + x;
                        int in = y >= box[0] && y < box[0] + box[2] && x >= box[1] &&
                                 x < box[1] + box[3];
                        float want = in ? scale * aug.erase_fill[ch < 4 ? ch : 0] : plain[at];
                        if (out[at] != want)
                            tu_near("erased gather", (size_t)at, out[at], want, 0.0);
                    }
        }
        if (h == 1) assert_int_equal(erased, 0);
        else if (aug.erase_p == 1.0f) assert_true(erased > n * 9 / 10); /* (tries may fail) */
        else assert_true(erased > n / 5 && erased < n * 9 / 10);
        b->free(b, d_src); b->free(b, d_idx); b->free(b, d_out);
        free(src); free(idx); free(out); free(plain);
    }
}

/* ------------------------------------------------------------------------------------------ */
/* gather_u8 with ColorJitter: each image is the gather without it, adjusted as torchvision's   */
/* functional tensor ops adjust a float image (written out again here: the order from the       */
/* Philox word, the factors, a plain mean, HSV by the textbook's sextants)                      */

/* hue shift of one pixel (r, g, b in [0, 1]) by f turns, the textbook's HSV round trip */
static void ref_hue(double *p, double f) {
    double mx = fmax(p[0], fmax(p[1], p[2])), mn = fmin(p[0], fmin(p[1], p[2])), d = mx - mn;
    double h = 0.0, s = mx > 0 ? d / mx : 0.0;
    if (d > 0) {
        if (mx == p[0]) h = fmod((p[1] - p[2]) / d + 6.0, 6.0) / 6.0;
        else if (mx == p[1]) h = ((p[2] - p[0]) / d + 2.0) / 6.0;
        else h = ((p[0] - p[1]) / d + 4.0) / 6.0;
    }
    h = h + f - floor(h + f);
    double c = mx * s, hp = h * 6.0, x = c * (1.0 - fabs(fmod(hp, 2.0) - 1.0)), m = mx - c;
    double rgb[6][3] = {{c, x, 0}, {x, c, 0}, {0, c, x}, {0, x, c}, {x, 0, c}, {c, 0, x}};
    int k = (int)floor(hp) % 6;
    for (int ch = 0; ch < 3; ch++) p[ch] = rgb[k][ch] + m;
}

static void test_gather_jitter(void **state) {
    ct_backend *b = tu_backend(state);
    ct_rng rng;
    ct_rng_init(&rng, 21, 0);
    const int64_t rows = 10, n = 48;
    const float scale = 1.0f / 255.0f;
    const struct { int c, h, w, flip; float b, ct, s, hue, a0, deg, erase; } cases[] = {
        {3, 7, 9, 0, 0.4f, 0.4f, 0.4f, 0.1f, 0, 0, 0},   /* all four, colour */
        {1, 12, 10, 1, 0.8f, 0.6f, 0.5f, 0.3f, 0, 0, 0}, /* one channel: saturation, hue no-ops */
        {3, 6, 6, 1, 0, 0.9f, 0, 0.5f, 0.3f, 0, 0},      /* contrast and hue after a resized crop */
        {3, 5, 8, 0, 0, 0, 2.0f, 0, 0, 0, 0},            /* saturation alone, wide */
        {3, 9, 7, 1, 0, 0.9f, 0, 0, 0, 15, 1},           /* a warp, then erasing: the contrast */
        {1, 8, 8, 0, 0, 0.9f, 0, 0, 0, 20, 1},           /* mean of the image before the erasing */
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const int c = cases[k].c, h = cases[k].h, w = cases[k].w;
        const int64_t row = (int64_t)c * h * w, hw = (int64_t)h * w;
        ct_augment aug = {.c = c, .h = h, .w = w, .flip = cases[k].flip,
                          .jitter = {cases[k].b, cases[k].ct, cases[k].s, cases[k].hue},
                          .area_min = cases[k].a0, .area_max = cases[k].a0 > 0 ? 1.0f : 0.0f,
                          .ratio_min = cases[k].a0 > 0 ? 0.75f : 0.0f,
                          .ratio_max = cases[k].a0 > 0 ? 4.0f / 3.0f : 0.0f,
                          .degrees = cases[k].deg, .bilinear = cases[k].deg > 0,
                          .seed = 90 + k, .stream = 6, .first = 55 * k};
        ct_augment plain_aug = aug, erased_aug = aug; /* (the erasing compared apart: */
        aug.erase_p = cases[k].erase, aug.erase_fill[0] = 200.0f; /*  test_gather_erase) */
        for (int j = 0; j < 4; j++) plain_aug.jitter[j] = 0.0f;
        erased_aug.erase_p = aug.erase_p, erased_aug.erase_fill[0] = 200.0f;
        uint8_t *src = hmalloc((size_t)(rows * row));
        float *out = hmalloc((size_t)(n * row) * 4), *plain = hmalloc((size_t)(n * row) * 4);
        int32_t *idx = hmalloc((size_t)n * 4);
        for (int64_t i = 0; i < rows * row; i++) src[i] = (uint8_t)ct_rng_below(&rng, 256);
        for (int64_t i = 0; i < n; i++) idx[i] = (int32_t)ct_rng_below(&rng, (uint32_t)rows);
        uint8_t *d_src = dput(b, src, (size_t)(rows * row));
        int32_t *d_idx = dput(b, idx, (size_t)n * 4);
        float *d_out = dalloc(b, (size_t)(n * row) * 4);
        OK(b->gather_u8(b, d_src, NULL, d_idx, n, row, scale, &aug, NULL, d_out, NULL, NULL));
        dget(b, out, d_out, (size_t)(n * row) * 4);
        OK(b->gather_u8(b, d_src, NULL, d_idx, n, row, scale, &plain_aug, NULL, d_out, NULL,
                        NULL));
        dget(b, plain, d_out, (size_t)(n * row) * 4);
        int orders_seen[24] = {0}, changed = 0;
        for (int64_t i = 0; i < n; i++) {
            uint32_t r[4], r2[4];
            ct_philox4x32(aug.seed, aug.stream | (1ull << 51), aug.first + (uint64_t)i, r);
            ct_philox4x32(aug.seed, aug.stream | (1ull << 51) | (1ull << 40),
                          aug.first + (uint64_t)i, r2);
            int order[4], left[4] = {0, 1, 2, 3}, nl = 4;
            uint32_t code = r[0] % 24u;
            orders_seen[code] = 1;
            for (int j = 0; j < 4; j++, nl--) { /* Lehmer digits, most to least varying */
                int pick = (int)(code % (uint32_t)nl);
                code /= (uint32_t)nl;
                order[j] = left[pick];
                memmove(left + pick, left + pick + 1, (size_t)(nl - pick - 1) * sizeof *left);
            }
            double f[4];
            for (int j = 0; j < 3; j++) {
                double x = aug.jitter[j], lo = fmax(0.0, 1.0 - x);
                f[j] = lo + (1.0 + x - lo) * ((r[j + 1] >> 8) / 16777216.0);
                if (x > 0) assert_true(f[j] >= lo && f[j] <= 1.0 + x);
            }
            f[3] = -aug.jitter[3] + 2.0 * aug.jitter[3] * ((r2[0] >> 8) / 16777216.0);
            /* the image in [0, 1] (bound = 255 * scale), adjusted in order */
            const double bound = 255.0 * (double)scale;
            double *img = malloc((size_t)row * sizeof *img);
            for (int64_t j = 0; j < row; j++) img[j] = plain[i * row + j] / bound;
            for (int o = 0; o < 4; o++) {
                const int op = order[o];
                if (aug.jitter[op] <= 0) continue;
                double mean = 0.0;
                if (op == 1) { /* over the grey image (one channel: all values) */
                    for (int64_t j = 0; j < hw; j++)
                        mean += c == 3 ? 0.2989 * img[j] + 0.587 * img[hw + j] + 0.114 * img[2 * hw + j]
                                       : img[j];
                    mean /= (double)hw;
                }
                for (int64_t j = 0; j < hw; j++) {
                    double p[3] = {img[j], c == 3 ? img[hw + j] : 0, c == 3 ? img[2 * hw + j] : 0};
                    double grey = 0.2989 * p[0] + 0.587 * p[1] + 0.114 * p[2];
                    if (op == 3) {
                        if (c == 3) ref_hue(p, f[3]);
                    } else if (op != 2 || c == 3) {
                        double to = op == 0 ? 0.0 : op == 1 ? mean : grey;
                        for (int ch = 0; ch < c; ch++)
                            p[ch] = fmin(1.0, fmax(0.0, f[op] * p[ch] + (1.0 - f[op]) * to));
                    }
                    for (int ch = 0; ch < c; ch++) img[ch * hw + j] = p[ch];
                }
            }
            int ebox[4] = {0, 0, 0, 0};
            if (aug.erase_p > 0) ref_erase_box(&erased_aug, (uint64_t)i, ebox);
            for (int64_t j = 0; j < row; j++) {
                const int y = (int)(j % hw / w), x = (int)(j % w);
                if (y >= ebox[0] && y < ebox[0] + ebox[2] && x >= ebox[1] && x < ebox[1] + ebox[3]) {
                    tu_near("erased pixel", (size_t)(i * row + j), out[i * row + j],
                            scale * 200.0f * (j < hw), 0.0); /* (fill[0]; the others 0) */
                    continue;
                }
                tu_near("jittered pixel", (size_t)(i * row + j), out[i * row + j],
                        img[j] * bound, 3e-6);
                changed += fabsf(out[i * row + j] - plain[i * row + j]) > 1e-3f;
            }
            free(img);
        }
        int distinct = 0;
        for (int j = 0; j < 24; j++) distinct += orders_seen[j];
        assert_true(distinct >= 15 && changed > n * row / 4); /* (48 draws of 24 orders) */
        b->free(b, d_src); b->free(b, d_idx); b->free(b, d_out);
        free(src); free(idx); free(out); free(plain);
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
/* gather_u8 mixing (MixUp, CutMix): each shard's rows of a batch against the whole batch       */
/* gathered unmixed, then mixed with itself rolled by one as torchvision's RandomMixup and     */
/* RandomCutmix do; with the batch's rows picked by idx (and sv->pos) and consecutive (a       */
/* streamed batch), augmented and not; the partners' labels.                                    */

static void test_gather_mix(void **state) {
    ct_backend *b = tu_backend(state);
    ct_rng rng;
    ct_rng_init(&rng, 17, 0);
    enum { C = 2, H = 5, W = 6, ROWS = 20, NB = 12, POS = 8, ORDER = 30 };
    const int64_t row = C * H * W;
    const float scale = 1.0f / 255.0f;
    uint8_t src[ROWS * C * H * W], lab[ROWS], batch_src[NB * C * H * W], batch_lab[NB];
    int32_t order[ORDER];
    for (int i = 0; i < ROWS * row; i++) src[i] = (uint8_t)ct_rng_below(&rng, 256);
    for (int i = 0; i < ROWS; i++) lab[i] = (uint8_t)ct_rng_below(&rng, 10);
    for (int i = 0; i < ORDER; i++) order[i] = (int32_t)ct_rng_below(&rng, ROWS);
    for (int i = 0; i < NB; i++) { /* the batch as a loader hands it over */
        memcpy(batch_src + i * row, src + order[POS + i] * row, (size_t)row);
        batch_lab[i] = lab[order[POS + i]];
    }
    uint8_t *d_src = dput(b, src, sizeof src), *d_lab = dput(b, lab, sizeof lab);
    uint8_t *d_bsrc = dput(b, batch_src, sizeof batch_src), *d_blab = dput(b, batch_lab, NB);
    int32_t *d_order = dput(b, order, sizeof order);
    float *d_out = dalloc(b, (size_t)NB * row * 4), all[NB * C * H * W], got[NB * C * H * W];
    uint8_t *d_ol = dalloc(b, NB), *d_ml = dalloc(b, NB), all_lab[NB], got_ml[NB];
    ct_step_vars sv = {.pos = POS};
    ct_step_vars *d_sv = dput(b, &sv, sizeof sv);
    for (int k = 0; k < 8; k++) { /* kind x augmented x idx */
        const int cutmix = k & 1, augmented = k >> 1 & 1, use_idx = k >> 2 & 1;
        ct_augment aug = {.c = C, .h = H, .w = W, .pad = augmented ? 2 : 0, .flip = augmented,
                          .seed = 5, .stream = 77, .first = 0};
        if (augmented) /* (colour jitter and erasing too: each partner its own) */
            aug.jitter[0] = aug.jitter[1] = 0.4f, aug.erase_p = 0.5f, aug.erase_fill[1] = 99.0f;
        const uint8_t *s_src = use_idx ? d_src : d_bsrc, *s_lab = use_idx ? d_lab : d_blab;
        const int32_t *s_idx = use_idx ? d_order : NULL;
        /* the whole batch, unmixed (sv: no mix) */
        sv = (ct_step_vars){.pos = POS};
        OK(b->h2d(b, d_sv, &sv, sizeof sv));
        OK(b->gather_u8(b, s_src, s_lab, s_idx, NB, row, scale, &aug, d_sv, d_out, d_ol, NULL));
        dget(b, all, d_out, sizeof all);
        dget(b, all_lab, d_ol, NB);
        sv.mix_kind = cutmix ? CT_MIX_CUTMIX : CT_MIX_MIXUP;
        sv.mix_lam = cutmix ? 1.0f - 6.0f / 30.0f : 0.35f;
        sv.mix_y1 = 1, sv.mix_y2 = 3, sv.mix_x1 = 2, sv.mix_x2 = 5; /* 2 x 3 of 5 x 6 */
        OK(b->h2d(b, d_sv, &sv, sizeof sv));
        const int64_t shards[][2] = {{0, 5}, {5, NB}};
        for (int t = 0; t < 2; t++) { /* each shard as batch_shard gathers it */
            const int64_t r0 = shards[t][0], n = shards[t][1] - r0;
            ct_augment a = aug;
            a.first = (uint64_t)r0, a.mix = 1, a.mix_rows = NB, a.mix_row0 = r0;
            OK(b->gather_u8(b, use_idx ? d_src : d_bsrc + r0 * row, use_idx ? d_lab : d_blab + r0,
                            use_idx ? d_order + r0 : NULL, n, row, scale, &a, d_sv,
                            d_out + r0 * row, d_ol, d_ml + r0));
        }
        dget(b, got, d_out, sizeof got);
        dget(b, got_ml, d_ml, NB);
        for (int i = 0; i < NB; i++) {
            int p = (i + NB - 1) % NB; /* torch's roll(1, 0) */
            char what[96];
            snprintf(what, sizeof what, "%s gather, %saugmented, %s, row %d",
                     cutmix ? "CutMix" : "MixUp", augmented ? "" : "not ",
                     use_idx ? "rows by idx" : "a streamed batch", i);
            if (got_ml[i] != all_lab[p]) fail_msg("%s: partner label %d, not %d", what, got_ml[i], all_lab[p]);
            for (int ch = 0; ch < C; ch++)
                for (int y = 0; y < H; y++)
                    for (int x = 0; x < W; x++) {
                        int64_t e = ((int64_t)ch * H + y) * W + x;
                        float a = all[i * row + e], q = all[p * row + e];
                        int in_box = y >= 1 && y < 3 && x >= 2 && x < 5;
                        float want = cutmix ? (in_box ? q : a) : 0.35f * a + (1.0f - 0.35f) * q;
                        tu_near(what, (size_t)e, got[i * row + e], want, 1e-6);
                    }
        }
    }
    b->free(b, d_src); b->free(b, d_lab); b->free(b, d_bsrc); b->free(b, d_blab);
    b->free(b, d_order); b->free(b, d_out); b->free(b, d_ol); b->free(b, d_ml); b->free(b, d_sv);
}

/* ------------------------------------------------------------------------------------------ */

int main(void) {
    tu_open_backends(&tu_backends[TU_CPU], &tu_backends[TU_CUDA]);
    const struct CMUnitTest tests[] = {
        TU_ON_EACH(test_gather), TU_ON_EACH(test_gather_augment), TU_ON_EACH(test_gather_mix),
        TU_ON_EACH(test_gather_affine), TU_ON_EACH(test_gather_resized),
        TU_ON_EACH(test_gather_erase), TU_ON_EACH(test_gather_jitter),
        TU_ON_EACH(test_step_vars),
        TU_ON_EACH(test_collectives_one_rank), TU_ON_EACH(test_collectives_broken_link),
        TU_ON_EACH(test_collectives_timeout),
        TU_ON_EACH(test_memory),
        TU_ON_EACH(test_copy_slot_range),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    tu_close_backends();
    return rc;
}
