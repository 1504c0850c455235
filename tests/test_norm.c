/*
 * test_norm.c — the backend's group normalisation ops (groupnorm_forward, groupnorm_backward:
 * GroupNorm, and LayerNorm as one group) against a double-precision reference written here, on
 * every backend that can be opened ("cpu" always, "cuda" when a GPU or the emulator is there):
 * planes of 1 (a layer norm's features) to over 16 positions (the CPU's row kernels), groups of
 * one channel to all of them, values far from 0, an empty batch, no input gradient, bad shapes.
 * Outputs are pre-filled with garbage so that "overwrites" is checked too.
 */
#include "testutil.h"

#include "backend/backend.h"
#include "core/core.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


static void test_groupnorm(void **state) {
    ct_backend *b = tu_backend(state);
    ct_rng rng;
    ct_rng_init(&rng, 31, 0);
    /* (n, c, inner, groups): a layer norm of 784 and of 10 features; GroupNorm(32, 64) on 4x4;
     * one group of all channels on 7x7; depthwise-like groups on 5x5 and 20x20 planes; a group
     * of channels with a tail on planes of 17; values near 100 on a big plane */
    const int64_t shapes[][4] = {{4, 784, 1, 1}, {64, 10, 1, 1},  {3, 64, 16, 32},
                                 {2, 6, 49, 1},  {5, 8, 25, 8},   {2, 4, 400, 4},
                                 {3, 9, 17, 3},  {2, 2, 5000, 1}, {1, 12, 3, 6}};
    const float eps = 1e-5f;
    for (size_t t = 0; t < sizeof shapes / sizeof shapes[0]; t++) {
        const int64_t n = shapes[t][0], c = shapes[t][1], inner = shapes[t][2], G = shapes[t][3];
        const int64_t m = c / G * inner;
        const size_t nx = (size_t)(n * c * inner);
        float *x = hmalloc(nx * 4), *dy = hmalloc(nx * 4), *y = hmalloc(nx * 4);
        float *dx = hmalloc(nx * 4), *g = hmalloc(c * 4), *be = hmalloc(c * 4);
        float *sv = hmalloc(2 * n * G * 4), *dg = hmalloc(2 * c * 4);
        const int far = inner > 1000;
        tu_fill(&rng, x, nx, far ? 97 : -3, far ? 105 : 5);
        tu_fill(&rng, dy, nx, -1, 1);
        tu_fill(&rng, g, c, 0.5f, 1.5f);
        tu_fill(&rng, be, c, -1, 1);
        float *d_x = dput(b, x, nx * 4), *d_dy = dput(b, dy, nx * 4), *d_y = dgarbage(b, nx);
        float *d_dx = dgarbage(b, nx), *d_g = dput(b, g, c * 4), *d_be = dput(b, be, c * 4);
        float *d_sv = dgarbage(b, 2 * n * G), *d_dg = dgarbage(b, 2 * c);
        char what[96];
        snprintf(what, sizeof what, "groupnorm (%lld, %lld, %lld) in %lld", (long long)n,
                 (long long)c, (long long)inner, (long long)G);
        OK(b->groupnorm_forward(b, d_x, d_y, n, c, inner, G, d_g, d_be, eps, d_sv, d_sv + n * G));
        OK(b->groupnorm_backward(b, d_x, d_dy, d_dx, n, c, inner, G, d_g, d_sv, d_sv + n * G,
                                 d_dg, d_dg + c));
        dget(b, y, d_y, nx * 4);
        dget(b, sv, d_sv, 2 * n * G * 4);
        dget(b, dx, d_dx, nx * 4);
        dget(b, dg, d_dg, 2 * c * 4);
        double *sdy = calloc((size_t)c, sizeof *sdy), *sdyx = calloc((size_t)c, sizeof *sdyx);
        assert_non_null(sdy);
        assert_non_null(sdyx);
        for (int64_t r = 0; r < n * G; r++) {
            const float *xr = x + r * m, *gr = dy + r * m;
            const int64_t ch0 = (r % G) * (c / G);
            double mean = 0, var = 0, s1 = 0, s2 = 0;
            for (int64_t e = 0; e < m; e++) mean += xr[e];
            mean /= m;
            for (int64_t e = 0; e < m; e++) var += (xr[e] - mean) * (xr[e] - mean);
            var /= m;
            const double is = 1 / sqrt(var + eps);
            tu_near("groupnorm save_mean", r, sv[r], mean, 1e-6 * (1 + fabs(mean)));
            tu_near("groupnorm save_invstd", r, sv[n * G + r], is, 2e-6 * is);
            for (int64_t e = 0; e < m; e++) {
                const int64_t ch = ch0 + e / inner;
                const double xh = (xr[e] - mean) * is, gg = (double)gr[e] * g[ch];
                tu_near(what, r * m + e, y[r * m + e], xh * g[ch] + be[ch], 2e-5 * (1 + fabs(xh)));
                s1 += gg;
                s2 += gg * xh;
                sdy[ch] += gr[e];
                sdyx[ch] += gr[e] * xh;
            }
            for (int64_t e = 0; e < m; e++) {
                const int64_t ch = ch0 + e / inner;
                const double xh = (xr[e] - mean) * is;
                const double ref = is * ((double)gr[e] * g[ch] - s1 / m - xh * s2 / m);
                tu_near("groupnorm dx", r * m + e, dx[r * m + e], ref, 2e-4 * (1 + fabs(ref)));
            }
        }
        for (int64_t ch = 0; ch < c; ch++) { /* (sums of n * inner terms near 1) */
            const double tol = 2e-7 * (double)(n * inner);
            tu_near("groupnorm dbeta", ch, dg[c + ch], sdy[ch], tol + 1e-5 * (1 + fabs(sdy[ch])));
            tu_near("groupnorm dgamma", ch, dg[ch], sdyx[ch], tol + 1e-5 * (1 + fabs(sdyx[ch])));
        }
        /* no input gradient: the parameters' the same */
        float *dg2 = hmalloc(2 * c * 4);
        OK(b->groupnorm_backward(b, d_x, d_dy, NULL, n, c, inner, G, d_g, d_sv, d_sv + n * G,
                                 d_dg, d_dg + c));
        dget(b, dg2, d_dg, 2 * c * 4);
        assert_memory_equal(dg, dg2, 2 * c * 4);
        free(dg2);
        free(sdy);
        free(sdyx);
        b->free(b, d_x); b->free(b, d_dy); b->free(b, d_y); b->free(b, d_dx); b->free(b, d_g);
        b->free(b, d_be); b->free(b, d_sv); b->free(b, d_dg);
        free(x); free(dy); free(y); free(dx); free(g); free(be); free(sv); free(dg);
    }
}

/* an empty batch does nothing (its parameter gradients: 0); shapes the groups do not divide,
 * or no groups, are refused */
static void test_groupnorm_edges(void **state) {
    ct_backend *b = tu_backend(state);
    float one[4] = {1, 1, 1, 1}, *d_g = dput(b, one, sizeof one), *d_dg = dgarbage(b, 8);
    float *d_x = dgarbage(b, 16), *d_sv = dgarbage(b, 8);
    OK(b->groupnorm_forward(b, d_x, d_x, 0, 4, 2, 2, d_g, d_g, 1e-5f, d_sv, d_sv + 4));
    OK(b->groupnorm_backward(b, d_x, d_x, d_x, 0, 4, 2, 2, d_g, d_sv, d_sv + 4, d_dg, d_dg + 4));
    float dg[8];
    dget(b, dg, d_dg, sizeof dg);
    for (int i = 0; i < 8; i++) assert_true(dg[i] == 0.0f);
    assert_int_equal(b->groupnorm_forward(b, d_x, d_x, 2, 4, 2, 3, d_g, d_g, 1e-5f, d_sv, d_sv),
                     CT_ERR_INVALID);
    assert_non_null(strstr(ct_last_error(), "groupnorm_forward: bad shape"));
    assert_int_equal(b->groupnorm_forward(b, d_x, d_x, 2, 4, 2, 0, d_g, d_g, 1e-5f, d_sv, d_sv),
                     CT_ERR_INVALID);
    assert_int_equal(b->groupnorm_backward(b, d_x, d_x, d_x, -1, 4, 2, 2, d_g, d_sv, d_sv, d_dg,
                                           d_dg + 4), CT_ERR_INVALID);
    assert_int_equal(b->groupnorm_backward(b, d_x, d_x, d_x, 2, 4, 0, 2, d_g, d_sv, d_sv, d_dg,
                                           d_dg + 4), CT_ERR_INVALID);
    b->free(b, d_g); b->free(b, d_dg); b->free(b, d_x); b->free(b, d_sv);
}

int main(void) {
    tu_open_backends(&tu_backends[TU_CPU], &tu_backends[TU_CUDA]);
    const struct CMUnitTest tests[] = {
        TU_ON_EACH(test_groupnorm),
        TU_ON_EACH(test_groupnorm_edges),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    tu_close_backends();
    return rc;
}
