/*
 * test_autoaugment.c — the automatic augmentations of the uint8 row gather (backend/
 * autoaugment.h: TrivialAugmentWide, RandAugment, AutoAugment, AugMix) on every backend that can be
 * opened, bit for bit against the header's functions evaluated on the host (the bytes before
 * the ops by augment.h's pixel function, one at a time, apart from the backends' row
 * functions and workspaces), with what can be said of their ops apart (torchvision itself
 * checks the ops: tests/cli_torchvision.sh). Their MixUp and CutMix partners: test_augment.c.
 */
#include "testutil.h"

#include "backend/backend.h"
#include "core/core.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------------------------ */
/* TrivialAugmentWide, RandAugment, AutoAugment, AugMix: every backend gives autoaugment.h's    */
/* definition evaluated on the host, pixel by pixel, bit for bit (the bytes before the ops as   */
/* augment.h's pixel function gives them, one at a time, then each chain of ops on a copy of    */
/* them, AugMix's mix summed apart); and apart                                                   */
/* from it, an image without ops (or Identity alone) is the plain gather rounded, a last        */
/* Posterize keeps the top bits, a last AutoContrast spans 0..255, the erased box is filled.    */

/* The bytes after op o of the image in (c planes of h x w) into out */
static void ref_op(const ct_augment *a, const ct_aa_op *o, const uint8_t *in, uint8_t *out) {
    const int64_t hw = (int64_t)a->h * a->w;
    ct_ta_stats st = {0};
    unsigned hist[CT_TA_MAX_C + 1][256] = {{0}};
    for (int64_t j = 0; j < hw; j++) ct_ta_count(in, a->c, hw, j, hist);
    ct_ta_stats_of(a, o->op, (const unsigned (*)[256])hist, &st);
    for (int y = 0; y < a->h; y++)
        for (int x = 0; x < a->w; x++) ct_aa_op_pixel(a, o, &st, in, y, x, out);
}

static void aa_reference(const ct_augment *a, const uint8_t *img, uint64_t pos, float scale,
                         float *out, ct_augment_draw *d) {
    ct_augment_draw_at(a, pos, d);
    const int64_t hw = (int64_t)a->h * a->w, row = a->c * hw;
    uint8_t *pre = hmalloc((size_t)row), *res = hmalloc((size_t)row);
    uint8_t *chain = hmalloc((size_t)row), *next = hmalloc((size_t)row);
    float *acc = hmalloc((size_t)row * sizeof *acc);
    for (int ch = 0; ch < a->c; ch++)
        for (int y = 0; y < a->h; y++)
            for (int x = 0; x < a->w; x++)
                pre[ch * hw + (int64_t)y * a->w + x] = (uint8_t)ct_ta_byte(a, d, img, ch, y, x);
    /* each chain from the bytes before the ops, its ops one after another; AugMix's image and
     * chains summed in float32 in that order, then truncated to bytes */
    for (int64_t e = 0; e < row; e++) acc[e] = CT_FMUL(d->aa_w[0], (float)pre[e]);
    for (int c = 0, k = 0; c < d->aa_chains; c++) {
        memcpy(chain, pre, (size_t)row);
        for (int j = 0; j < d->aa_depth[c]; j++, k++) {
            ref_op(a, &d->aa[k], chain, next);
            memcpy(chain, next, (size_t)row);
        }
        for (int64_t e = 0; e < row; e++) acc[e] = CT_FADD(acc[e], CT_FMUL(d->aa_w[1 + c],
                                                                        (float)chain[e]));
        if (a->aa != CT_AA_AUGMIX) memcpy(res, chain, (size_t)row);
    }
    if (a->aa == CT_AA_AUGMIX)
        for (int64_t e = 0; e < row; e++)
            res[e] = (uint8_t)(acc[e] >= 255.0f ? 255 : acc[e] <= 0.0f ? 0 : (int)acc[e]);
    for (int ch = 0; ch < a->c; ch++)
        for (int y = 0; y < a->h; y++)
            for (int x = 0; x < a->w; x++) {
                const int64_t e = ch * hw + (int64_t)y * a->w + x;
                out[e] = scale * (float)(ct_augment_in_erased(d, y, x)
                                             ? ct_augment_erase_fill(a, ch) : (double)res[e]);
            }
    free(pre), free(res), free(chain), free(next), free(acc);
}

/* What can be said of AugMix's draws d of image i apart: its chains, their depths (counted by
 * depth into counts[depth - 1] when at random), each op's magnitude among the first severity
 * bins of its table, the image's weight in (0, 1) (torch's clamps), all summing to 1 */
static void augmix_checks(const ct_augment *a, const ct_augment_draw *d, size_t k, int64_t i,
                          int counts[3]) {
    int ops = 0;
    if (d->aa_chains != a->aa_width) fail_msg("case %zu, image %lld: %d chains", k,
                                              (long long)i, d->aa_chains);
    double sum = d->aa_w[0];
    for (int c = 0; c < d->aa_chains; c++) {
        const int depth = d->aa_depth[c];
        if (a->aa_depth > 0 ? depth != a->aa_depth : depth < 1 || depth > 3)
            fail_msg("case %zu, image %lld: a chain of %d ops", k, (long long)i, depth);
        if (a->aa_depth < 0 && depth >= 1 && depth <= 3) counts[depth - 1]++;
        ops += depth, sum += d->aa_w[1 + c];
        if (!(d->aa_w[1 + c] >= 0.0f && d->aa_w[1 + c] <= 1.0f))
            fail_msg("case %zu, image %lld: chain %d's weight %g", k, (long long)i, c,
                     (double)d->aa_w[1 + c]);
    }
    if (ops != d->aa_n) fail_msg("case %zu, image %lld: %d ops in chains of %d", k, (long long)i,
                                 d->aa_n, ops);
    if (!(d->aa_w[0] > 0.0f && d->aa_w[0] < 1.0f) || fabs(sum - 1.0) > 1e-5)
        fail_msg("case %zu, image %lld: weights %g + ... = %.9g", k, (long long)i,
                 (double)d->aa_w[0], sum);
    for (int q = 0; q < d->aa_n; q++) {
        const ct_aa_op *o = &d->aa[q];
        int found = !ct_ta_has_magnitude(o->op) && o->mag == 0.0;
        for (int bin = 0; bin < a->aa_severity && !found; bin++)
            found = fabs(o->mag) == ct_ta_magnitude(a, o->op, CT_AUGMIX_BINS, bin);
        if (!found)
            fail_msg("case %zu, image %lld: op %d at %g, not among the first %d bins", k,
                     (long long)i, o->op, o->mag, a->aa_severity);
    }
}

static void test_gather_auto(void **state) {
    ct_backend *b = tu_backend(state);
    ct_rng rng;
    ct_rng_init(&rng, 23, 0);
    const int64_t rows = 40, n = 160;
    const float scale = 1.0f / 255.0f;
    enum { TA = CT_AA_TRIVIAL, RA = CT_AA_RAND, AA = CT_AA_AUTO, AM = CT_AA_AUGMIX };
    const struct {
        int c, h, w, flip, bins;
        float a0, deg, erase;
        int pad, vflip, bil, aa, ops, mag, policy; /* (AugMix: width, severity, depth) */
        float alpha;
    } cases[] = {
        {1, 12, 10, 1, 31, 0, 0, 0, 0, 0, 0, TA, 0, 0, 0, 0}, /* after a flip */
        {3, 9, 11, 0, 31, 0.3f, 0, 0.5f, 0, 0, 0, TA, 0, 0, 0, 0}, /* a resized crop, erased */
        {3, 8, 8, 1, 3, 0, 20, 0, 0, 0, 1, TA, 0, 0, 0, 0}, /* after a bilinear warp, 3 bins, */
        {1, 2, 6, 0, 31, 0, 0, 0, 0, 0, 0, TA, 0, 0, 0, 0}, /* its warps bilinear; too small */
        {3, 40, 36, 1, 31, 0.3f, 0, 0.2f, 0, 0, 0, TA, 0, 0, 0, 0}, /* to blur; a larger image */
        {1, 11, 13, 1, 31, 0, 0, 0, 3, 1, 0, TA, 0, 0, 0, 0}, /* after a crop and both flips */
        {1, 20, 18, 0, 31, 0, 15, 0, 0, 0, 0, TA, 0, 0, 0, 0}, /* after a nearest warp */
        {3, 12, 12, 0, 31, 0, 0, 0, 0, 0, 1, TA, 0, 0, 0, 0}, /* bilinear, nothing before */
        {1, 520, 5, 1, 31, 0.3f, 0, 0, 0, 0, 0, TA, 0, 0, 0, 0}, /* a resized crop above 512 */
        {3, 10, 12, 1, 31, 0, 0, 0.5f, 0, 0, 0, RA, 2, 9, 0, 0}, /* RandAugment's defaults */
        {1, 14, 9, 0, 11, 0.4f, 0, 0, 0, 0, 1, RA, 5, 10, 0, 0}, /* 5 ops at the top of 11 bins */
        {3, 7, 7, 0, 31, 0, 0, 0, 2, 0, 0, RA, 1, 0, 0, 0}, /* 1 op at magnitude 0 */
        {3, 16, 12, 1, 0, 0, 0, 0.3f, 0, 0, 0, AA, 0, 0, CT_AUTOAUGMENT_IMAGENET, 0},
        {3, 9, 9, 0, 0, 0.5f, 0, 0, 0, 0, 1, AA, 0, 0, CT_AUTOAUGMENT_CIFAR10, 0},
        {1, 13, 8, 0, 0, 0, 10, 0, 0, 1, 0, AA, 0, 0, CT_AUTOAUGMENT_SVHN, 0},
        {3, 12, 10, 1, 0, 0, 0, 0.3f, 0, 0, 1, AM, 3, 3, -1, 1.0f}, /* AugMix's defaults */
        {1, 15, 11, 0, 0, 0.4f, 0, 0, 0, 0, 0, AM, 4, 10, 4, 0.3f}, /* its largest, alpha < 1 */
        {3, 9, 9, 0, 0, 0, 0, 0, 2, 0, 0, AM, 1, 1, 1, 5.0f}, /* one chain of one op */
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const int c = cases[k].c, h = cases[k].h, w = cases[k].w;
        const int64_t row = (int64_t)c * h * w;
        ct_augment aug = {.c = c, .h = h, .w = w, .flip = cases[k].flip, .aa = cases[k].aa,
                          .aa_bins = cases[k].bins, .aa_ops = cases[k].ops,
                          .aa_mag = cases[k].mag, .aa_policy = cases[k].policy,
                          .aa_width = cases[k].ops, .aa_severity = cases[k].mag,
                          .aa_depth = cases[k].policy, .aa_alpha = cases[k].alpha,
                          .pad = cases[k].pad, .vflip = cases[k].vflip,
                          .area_min = cases[k].a0, .area_max = cases[k].a0 > 0 ? 1.0f : 0.0f,
                          .ratio_min = cases[k].a0 > 0 ? 0.75f : 0.0f,
                          .ratio_max = cases[k].a0 > 0 ? 4.0f / 3.0f : 0.0f,
                          .degrees = cases[k].deg, .bilinear = cases[k].bil,
                          .erase_p = cases[k].erase, .erase_fill = {40, 80, 120, 0},
                          .seed = 300 + k, .stream = 9, .first = 31 * k};
        ct_augment plain_aug = aug;
        plain_aug.aa = CT_AA_NONE, plain_aug.erase_p = 0.0f;
        uint8_t *src = hmalloc((size_t)(rows * row));
        float *out = hmalloc((size_t)(n * row) * 4), *plain = hmalloc((size_t)(n * row) * 4);
        float *want = hmalloc((size_t)row * 4);
        int32_t *idx = hmalloc((size_t)n * 4);
        for (int64_t i = 0; i < rows; i++) { /* values of a random range: AutoContrast stretches */
            int lo = (int)ct_rng_below(&rng, 200), span = 1 + (int)ct_rng_below(&rng, 256 - lo);
            for (int64_t j = 0; j < row; j++)
                src[i * row + j] = (uint8_t)(lo + (int)ct_rng_below(&rng, (uint32_t)span));
        }
        for (int64_t i = 0; i < n; i++) idx[i] = (int32_t)ct_rng_below(&rng, (uint32_t)rows);
        tu_gather_twice(b, src, rows, idx, n, row, scale, &aug, &plain_aug, out, plain);
        int ops_seen[CT_TA_INVERT + 1] = {0}, counts[3] = {0};
        for (int64_t i = 0; i < n; i++) {
            ct_augment_draw d;
            aa_reference(&aug, src + (int64_t)idx[i] * row, (uint64_t)i, scale, want, &d);
            const int want_n = cases[k].aa == TA ? 1 : cases[k].aa == RA ? cases[k].ops : -1;
            if (cases[k].aa == AM) {
                augmix_checks(&aug, &d, k, i, counts);
            } else if (d.aa_n != want_n && (want_n >= 0 || d.aa_n > 2)) {
                fail_msg("case %zu, image %lld: %d ops", k, (long long)i, d.aa_n);
            }
            if (cases[k].aa == AA) counts[d.aa_n]++;
            for (int q = 0; q < d.aa_n; q++) ops_seen[d.aa[q].op]++;
            /* (AugMix's output is a mix: nothing to say of its last op) */
            const ct_aa_op *last = d.aa_n && cases[k].aa != AM ? &d.aa[d.aa_n - 1] : NULL;
            const int only = cases[k].aa != AM &&
                             (d.aa_n == 0 || (d.aa_n == 1 && last->op == CT_TA_IDENTITY));
            const float *got = out + i * row;
            for (int64_t j = 0; j < row; j++)
                if (memcmp(&got[j], &want[j], 4) != 0)
                    fail_msg("case %zu, image %lld (%d ops, the last %d at %g), value %lld: "
                             "%.9g, autoaugment.h gives %.9g", k, (long long)i, d.aa_n,
                             last ? last->op : -1, last ? last->mag : 0.0, (long long)j,
                             (double)got[j], (double)want[j]);
            for (int ch = 0; ch < c; ch++) {
                int lo = 255, hi = 0;
                for (int y = 0; y < h; y++)
                    for (int x = 0; x < w; x++) {
                        const int64_t e = ((int64_t)ch * h + y) * w + x;
                        const float v = got[e] * 255.0f, p = plain[i * row + e] * 255.0f;
                        const int byte = (int)lrintf(v);
                        if (ct_augment_in_erased(&d, y, x)) {
                            tu_near("erased pixel", (size_t)e, v, aug.erase_fill[ch], 1e-3);
                            continue;
                        }
                        lo = byte < lo ? byte : lo, hi = byte > hi ? byte : hi;
                        /* (a half, scaled and back, may land either side of it) */
                        if (only && fabsf(p - floorf(p) - 0.5f) > 1e-3f)
                            tu_near("no op: the plain gather, rounded", (size_t)e, v,
                                    (float)rint((double)p), 1e-3);
                        if (last && last->op == CT_TA_POSTERIZE &&
                            (byte & ((1 << (8 - (int)last->mag)) - 1)) != 0)
                            fail_msg("Posterize to %g bits gave %d", last->mag, byte);
                    }
                /* (the top may truncate to 254, as torchvision's float32 scale makes it) */
                if (last && last->op == CT_TA_AUTOCONTRAST && !d.erased && hi > lo &&
                    (lo != 0 || hi < 254))
                    fail_msg("case %zu, image %lld: AutoContrast's channel %d spans %d..%d", k,
                             (long long)i, ch, lo, hi);
            }
        }
        if (cases[k].aa == AM) {
            for (int op = CT_TA_SHEAR_X; op < CT_TA_INVERT; op++)
                if (!ops_seen[op])
                    fail_msg("case %zu: AugMix's op %d never drawn", k, op);
            if (ops_seen[CT_TA_IDENTITY] || ops_seen[CT_TA_INVERT])
                fail_msg("case %zu: AugMix drew Identity or Invert", k);
            if (cases[k].policy == -1 && !(counts[0] && counts[1] && counts[2]))
                fail_msg("case %zu: chains of 1, 2 and 3 ops %d, %d and %d times", k, counts[0],
                         counts[1], counts[2]);
        } else if (cases[k].aa != AA) {
            for (int op = 0; op < CT_TA_OPS; op++)
                if (!ops_seen[op])
                    fail_msg("case %zu: op %d never drawn in %lld images", k, op, (long long)n);
            if (ops_seen[CT_TA_INVERT]) fail_msg("case %zu: Invert drawn", k);
        } else if (!counts[1] || !counts[2] || !ops_seen[CT_TA_EQUALIZE]) {
            fail_msg("case %zu: %d, %d and %d images of 0, 1 and 2 ops; Equalize %d times", k,
                     counts[0], counts[1], counts[2], ops_seen[CT_TA_EQUALIZE]);
        }
        free(src); free(out); free(plain); free(want); free(idx);
    }
}

/* ------------------------------------------------------------------------------------------ */

int main(void) {
    tu_open_backends(&tu_backends[TU_CPU], &tu_backends[TU_CUDA]);
    const struct CMUnitTest tests[] = {
        TU_ON_EACH(test_gather_auto),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    tu_close_backends();
    return rc;
}
