/*
 * test_augment.c — the uint8 row gather with augmentation (backend/augment.h: the padded crop
 * and flip, the affine warp, the resized crop, colour jitter, random erasing, MixUp and CutMix
 * partners) against references written here apart from augment.h, on every backend that can
 * be opened (torchvision itself checks the same: tests/cli_torchvision.sh). TrivialAugmentWide,
 * RandAugment and AutoAugment: test_autoaugment.c.
 */
#include "testutil.h"

#include "backend/backend.h"
#include "core/core.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------------------------ */
/* gather_u8 with augmentation, against torchvision's recipe done literally: pad the image with */
/* zeros into a larger buffer, cut the (h, w) window at (ty, tx), mirror it when the coin says, */
/* turn it upside down when the other coin says.                                                 */

static void test_gather_augment(void **state) {
    ct_backend *b = tu_backend(state);
    ct_rng rng;
    ct_rng_init(&rng, 16, 0);
    const int cases[][6] = {/* c, h, w, pad, flip, vflip */
                            {1, 28, 28, 2, 0, 0}, {3, 32, 32, 4, 1, 0}, {2, 5, 7, 3, 1, 1},
                            {1, 4, 4, 6, 1, 0},   {1, 28, 28, 0, 1, 1}, {1, 9, 9, 0, 0, 0},
                            {3, 6, 9, 2, 0, 1}};
    const int64_t rows = 40, n = 33;
    const float scale = 1.0f / 255.0f;
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const int c = cases[k][0], h = cases[k][1], w = cases[k][2], pad = cases[k][3];
        const int64_t row = (int64_t)c * h * w;
        const int ph = h + 2 * pad, pw = w + 2 * pad;
        ct_augment aug = {.c = c, .h = h, .w = w, .pad = pad, .flip = cases[k][4],
                          .vflip = cases[k][5], .seed = 99, .stream = 12345 + k,
                          .first = 1000 * k + 7};
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
            int flips = 0, vflips = 0, zeros = 0;
            for (int64_t i = 0; i < n; i++) {
                const uint8_t *img = src + (use_idx ? idx[i] : i) * row;
                uint32_t r[4];
                ct_philox4x32(aug.seed, aug.stream, aug.first + (uint64_t)i, r);
                int ty = (int)(r[0] % (uint32_t)(2 * pad + 1)), tx = (int)(r[1] % (uint32_t)(2 * pad + 1));
                int flip = aug.flip && (r[2] & 1), vflip = aug.vflip && (r[2] & 2);
                flips += flip, vflips += vflip;
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
                            int cy = vflip ? h - 1 - y : y; /* and row */
                            float ref = padded[((int64_t)ch * ph + ty + cy) * pw + tx + cx];
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
            if (aug.vflip) assert_true(vflips > 0 && vflips < n);
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
        {3, 11, 8, 2, 0.3f, 1.0f, 0.75f, 4.0f / 3.0f},   /* flip 2: vflip too */
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const int c = cases[k].c, h = cases[k].h, w = cases[k].w;
        const int64_t row = (int64_t)c * h * w;
        ct_augment aug = {.c = c, .h = h, .w = w, .flip = cases[k].flip > 0,
                          .vflip = cases[k].flip == 2,
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
            int flip = aug.flip && (w4[2] & 1u), vflip = aug.vflip && (w4[2] & 2u);
            flips += flip;
            for (int ch = 0; ch < c; ch++)
                for (int y = 0; y < h; y++)
                    for (int x = 0; x < w; x++) {
                        int sx = flip ? w - 1 - x : x, sy = vflip ? h - 1 - y : y;
                        double v = 0.0;
                        for (int yy = 0; yy < box[2]; yy++)
                            for (int xx = 0; xx < box[3]; xx++)
                                v += ref_tap(sy, h, box[2], yy) * ref_tap(sx, w, box[3], xx) *
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
        tu_gather_twice(b, src, rows, idx, n, row, scale, &aug, &plain_aug, out, plain);
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
        tu_gather_twice(b, src, rows, idx, n, row, scale, &aug, &plain_aug, out, plain);
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
        free(src); free(idx); free(out); free(plain);
    }
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
    enum { C = 3, H = 5, W = 6, ROWS = 20, NB = 12, POS = 8, ORDER = 30 };
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
    /* kind x augmented (no, jitter) x idx; then kind x idx for RandAugment, AutoAugment, AugMix */
    for (int k = 0; k < 20; k++) {
        const int ta = k >= 8, cutmix = k & 1, augmented = ta || (k >> 1 & 1);
        const int use_idx = ta ? k >> 1 & 1 : k >> 2 & 1, kind = (k - 8) / 4;
        /* (every third case with repeated augmentation's partner: 3 rows back, the image
         * before's copy) */
        const int shift = k % 3 == 2 ? 3 : 1;
        ct_augment aug = {.c = C, .h = H, .w = W, .pad = augmented ? 2 : 0, .flip = augmented,
                          .seed = 5, .stream = 77, .first = 0, .mix_shift = shift == 3 ? 3 : 0};
        if (augmented) /* (colour jitter, greyscale and erasing too: each partner its own) */
            aug.jitter[0] = aug.jitter[1] = 0.4f, aug.erase_p = 0.5f, aug.erase_fill[1] = 99.0f,
            aug.grey_p = 0.5f;
        if (ta) { /* (and the automatic augmentation's ops, each partner its own) */
            aug.jitter[0] = aug.jitter[1] = 0.0f, aug.grey_p = 0.0f;
            /* (AutoAugment: 0 to 2 ops an image; AugMix: chains of 1 to 3, and its mix) */
            aug.aa = kind == 0 ? CT_AA_RAND : kind == 1 ? CT_AA_AUTO : CT_AA_AUGMIX;
            aug.aa_bins = 31, aug.aa_ops = 3, aug.aa_mag = 12, aug.aa_policy = CT_AUTOAUGMENT_SVHN;
            aug.aa_severity = 4, aug.aa_width = 4, aug.aa_depth = -1, aug.aa_alpha = 1.0f;
        }
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
            int p = (i + NB - shift) % NB; /* torch's roll(1, 0) (or roll(3, 0)) */
            char what[96];
            snprintf(what, sizeof what, "%s gather (partner %d back), %saugmented%s, %s, row %d",
                     cutmix ? "CutMix" : "MixUp", shift, augmented ? "" : "not ",
                     !ta ? "" : kind == 0 ? ", RandAugment" : kind == 1 ? ", AutoAugment"
                                                                : ", AugMix",
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
/* RandomGrayscale: an image whose coin (its own Philox block) came up is the plain gather's    */
/* grey, 0.2989 r + 0.587 g + 0.114 b, in each channel; the others, and one-channel images,     */
/* are the plain gather's; the erased box is the fill's.                                          */

static void test_gather_grey(void **state) {
    ct_backend *b = tu_backend(state);
    ct_rng rng;
    ct_rng_init(&rng, 29, 0);
    const int64_t rows = 12, n = 60;
    const float scale = 1.0f / 255.0f;
    const struct { int c, h, w; float p, jitter, a0, erase; } cases[] = {
        {3, 7, 9, 0.5f, 0, 0, 0},        /* alone */
        {3, 8, 6, 0.7f, 0.4f, 0, 0},     /* after colour jitter */
        {3, 9, 11, 0.5f, 0, 0.3f, 0.5f}, /* after a resized crop, erased after */
        {1, 6, 6, 1.0f, 0, 0, 0},        /* one channel: as it is */
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const int c = cases[k].c, h = cases[k].h, w = cases[k].w;
        const int64_t row = (int64_t)c * h * w, hw = (int64_t)h * w;
        ct_augment aug = {.c = c, .h = h, .w = w, .flip = 1, .grey_p = cases[k].p,
                          .jitter = {cases[k].jitter, cases[k].jitter, cases[k].jitter, 0},
                          .area_min = cases[k].a0, .area_max = cases[k].a0 > 0 ? 1.0f : 0.0f,
                          .ratio_min = cases[k].a0 > 0 ? 0.75f : 0.0f,
                          .ratio_max = cases[k].a0 > 0 ? 4.0f / 3.0f : 0.0f,
                          .erase_p = cases[k].erase, .erase_fill = {10, 20, 30, 0},
                          .seed = 500 + k, .stream = 11, .first = 7 * k};
        ct_augment plain_aug = aug;
        plain_aug.grey_p = 0.0f, plain_aug.erase_p = 0.0f;
        uint8_t *src = hmalloc((size_t)(rows * row));
        float *out = hmalloc((size_t)(n * row) * 4), *plain = hmalloc((size_t)(n * row) * 4);
        int32_t *idx = hmalloc((size_t)n * 4);
        for (int64_t i = 0; i < rows * row; i++) src[i] = (uint8_t)ct_rng_below(&rng, 256);
        for (int64_t i = 0; i < n; i++) idx[i] = (int32_t)ct_rng_below(&rng, (uint32_t)rows);
        tu_gather_twice(b, src, rows, idx, n, row, scale, &aug, &plain_aug, out, plain);
        int greyed = 0;
        for (int64_t i = 0; i < n; i++) {
            uint32_t coin[4];
            ct_philox4x32(aug.seed, aug.stream | (1ull << 53), aug.first + (uint64_t)i, coin);
            const int grey = (coin[0] >> 8) / 16777216.0 < aug.grey_p;
            greyed += grey;
            ct_augment_draw d; /* (the erased box: test_gather_erase checks it) */
            ct_augment_draw_at(&aug, (uint64_t)i, &d);
            const float *o = out + i * row, *p = plain + i * row;
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++) {
                    const int64_t j = (int64_t)y * w + x;
                    double g = c == 3 ? 0.2989 * p[j] + 0.587 * p[hw + j] + 0.114 * p[2 * hw + j]
                                      : p[j];
                    for (int ch = 0; ch < c; ch++) {
                        double want = ct_augment_in_erased(&d, y, x) ? aug.erase_fill[ch] * scale
                                      : grey ? g : p[ch * hw + j];
                        tu_near("greyscale", (size_t)(ch * hw + j), o[ch * hw + j], (float)want,
                                1e-6);
                    }
                }
        }
        if (cases[k].p < 1.0f && !(greyed > 0 && greyed < n))
            fail_msg("case %zu: %d of %lld images greyed at p %g", k, greyed, (long long)n,
                     (double)cases[k].p);
        free(src); free(out); free(plain); free(idx);
    }
}

/* ------------------------------------------------------------------------------------------ */

int main(void) {
    tu_open_backends(&tu_backends[TU_CPU], &tu_backends[TU_CUDA]);
    const struct CMUnitTest tests[] = {
        TU_ON_EACH(test_gather_augment), TU_ON_EACH(test_gather_affine),
        TU_ON_EACH(test_gather_resized), TU_ON_EACH(test_gather_erase),
        TU_ON_EACH(test_gather_jitter), TU_ON_EACH(test_gather_mix),
        TU_ON_EACH(test_gather_grey),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    tu_close_backends();
    return rc;
}
