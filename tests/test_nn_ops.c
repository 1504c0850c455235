/*
 * test_nn_ops.c — the CNN ops of the backend table (conv2d, pooling, dropout, batch norm, Adam,
 * sumsq/clip_scale) against naive double-precision references written here, on several shapes
 * per op (strides, padding, odd sizes), on every backend that can be opened: "cpu" always,
 * "cuda" when a GPU is there (else one "SKIP cuda: why" line and its cases are skipped).
 * Outputs are pre-filled with garbage so that "overwrites" is checked too.
 */
#include "testutil.h"

#include "backend/backend.h"
#include "core/core.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


/* ------------------------------------------------------------------------------------------ */
/* conv2d                                                                                      */

typedef struct { int n, c, h, w, oc, k, s, p, g; } conv_case; /* g: groups (0: 1) */
static const conv_case k_convs[] = {
    {2, 1, 6, 6, 3, 3, 1, 0, 1},   {3, 2, 7, 5, 4, 3, 2, 1, 1}, {1, 3, 5, 5, 2, 1, 1, 0, 1}, /* 1x1 */
    {4, 3, 9, 8, 5, 5, 1, 2, 1},   {2, 4, 8, 8, 6, 2, 2, 0, 1}, {1, 1, 1, 1, 1, 1, 1, 0, 1},
    {5, 6, 12, 12, 8, 3, 1, 1, 1}, {2, 2, 6, 7, 3, 4, 3, 2, 1},
    /* 3x3 stride 1 with >= 16 channels in and out: the CPU's Winograd F(4x4, 3x3) path
     * (cpu_winograd.c). Odd sizes (partial 4x4 tiles), padding 0, 1, 2, odd channel counts, the
     * cnn preset's conv2 (32 -> 64, 26x26), and 37 images of 2x2 tiles (148 tiles: two full
     * blocks of 64 and one of 20 with padding lanes) */
    {2, 16, 9, 11, 16, 3, 1, 1, 1}, {1, 17, 7, 6, 20, 3, 1, 0, 1},  {2, 24, 5, 5, 16, 3, 1, 2, 1},
    {3, 32, 26, 26, 64, 3, 1, 0, 1}, {37, 16, 6, 6, 16, 3, 1, 1, 1}, {1, 64, 3, 3, 32, 3, 1, 1, 1},
    /* the same kinds of layer that stay on im2col: too few channels, stride 2, 5x5 */
    {2, 16, 9, 9, 8, 3, 1, 1, 1},   {2, 8, 9, 9, 16, 3, 1, 1, 1},   {2, 16, 9, 9, 16, 3, 2, 1, 1},
    {1, 16, 9, 9, 16, 5, 1, 2, 1},
    /* planes under 256 positions: the CPU computes several images in one product (cpu_nn.c's
     * conv_group), some with a last group of fewer: 1x1 (a bottleneck's), 1x1 with stride 2 (a
     * projection shortcut), 3x3 on 1x1 and 2x2 planes (a ResNet's last stage); a 1x1 conv on
     * 1x1 planes (the 40 images here, the one image above) is a plain product instead */
    {7, 8, 10, 10, 12, 1, 1, 0, 1}, {20, 4, 9, 9, 8, 1, 2, 0, 1},   {40, 8, 1, 1, 12, 1, 1, 0, 1},
    {60, 12, 1, 1, 8, 3, 1, 1, 1},  {45, 8, 2, 2, 6, 3, 2, 1, 1},
    /* groups: ResNeXt's (several channels a group: on the one-image and the several-image
     * paths, 3x3 stride-1 with 16+ channels leaving Winograd for im2col, 1x1 grouped) and
     * depthwise (groups = c: the CPU's cpu_depthwise.c; a channel multiplier of 2 too, 1x1
     * planes, and images of 10 MB a piece, which its 32 MB workspace takes 3 at a time) */
    {3, 8, 9, 9, 8, 3, 1, 1, 4},     {2, 6, 7, 6, 9, 3, 2, 1, 3},  {2, 5, 8, 8, 5, 3, 1, 1, 5},
    {3, 4, 7, 7, 8, 3, 2, 1, 4},     {5, 8, 6, 6, 12, 1, 1, 0, 2}, {30, 16, 3, 3, 16, 3, 1, 1, 16},
    {20, 32, 4, 4, 32, 3, 1, 1, 8},  {2, 32, 17, 17, 32, 3, 1, 1, 32}, {9, 24, 2, 2, 48, 3, 2, 1, 24},
    {40, 16, 1, 1, 16, 3, 1, 1, 16}, {5, 2, 1024, 1024, 2, 3, 2, 1, 2},
    /* 1x1 convs on 1x1 planes (EfficientNet's and ResNets' last stages on MNIST): the CPU's
     * products on (n, C) as it lies; grouped, and depthwise */
    {33, 12, 1, 1, 18, 1, 1, 0, 3},  {6, 8, 1, 1, 8, 1, 1, 0, 8},  {50, 20, 1, 1, 7, 1, 1, 0, 1},
};

static void test_conv2d(void **state) {
    ct_backend *b = tu_backend(state);
    ct_rng rng;
    ct_rng_init(&rng, 21, 0);
    for (size_t t = 0; t < sizeof k_convs / sizeof k_convs[0]; t++) {
        conv_case cc = k_convs[t];
        ct_conv2d_desc d = {.n = cc.n, .c = cc.c, .h = cc.h, .w = cc.w, .oc = cc.oc, .kh = cc.k,
                            .kw = cc.k, .stride_h = cc.s, .stride_w = cc.s, .pad_h = cc.p,
                            .pad_w = cc.p, .groups = cc.g};
        d.oh = (cc.h + 2 * cc.p - cc.k) / cc.s + 1;
        d.ow = (cc.w + 2 * cc.p - cc.k) / cc.s + 1;
        const int cg = cc.c / (cc.g ? cc.g : 1), ocg = cc.oc / (cc.g ? cc.g : 1);
        size_t nx = (size_t)cc.n * cc.c * cc.h * cc.w, K = (size_t)cg * cc.k * cc.k;
        size_t nw = cc.oc * K, ny = (size_t)cc.n * cc.oc * d.oh * d.ow;
        float *x = hmalloc(nx * 4), *w = hmalloc(nw * 4), *bias = hmalloc(cc.oc * 4);
        float *dy = hmalloc(ny * 4), *y = hmalloc(ny * 4), *dx = hmalloc(nx * 4);
        float *dw = hmalloc(nw * 4), *db = hmalloc(cc.oc * 4);
        double *yr = calloc(ny, 8), *dxr = calloc(nx, 8), *dwr = calloc(nw, 8);
        double *dbr = calloc(cc.oc, 8), *mag = calloc(ny, 8);
        tu_fill(&rng, x, nx, -1, 1);
        tu_fill(&rng, w, nw, -1, 1);
        tu_fill(&rng, bias, cc.oc, -1, 1);
        tu_fill(&rng, dy, ny, -1, 1);
        for (int i = 0; i < cc.n; i++)
            for (int o = 0; o < cc.oc; o++)
                for (int oy = 0; oy < d.oh; oy++)
                    for (int ox = 0; ox < d.ow; ox++) {
                        size_t yi = (((size_t)i * cc.oc + o) * d.oh + oy) * d.ow + ox;
                        double acc = bias[o];
                        for (int cj = 0; cj < cg; cj++) /* the group's input channels */
                            for (int ki = 0; ki < cc.k; ki++)
                                for (int kj = 0; kj < cc.k; kj++) {
                                    int iy = oy * cc.s - cc.p + ki, ix = ox * cc.s - cc.p + kj;
                                    if (iy < 0 || iy >= cc.h || ix < 0 || ix >= cc.w) continue;
                                    int ci = o / ocg * cg + cj;
                                    size_t xi = (((size_t)i * cc.c + ci) * cc.h + iy) * cc.w + ix;
                                    size_t wi = (((size_t)o * cg + cj) * cc.k + ki) * cc.k + kj;
                                    acc += (double)w[wi] * x[xi];
                                    mag[yi] += fabs((double)w[wi] * x[xi]);
                                    dxr[xi] += (double)w[wi] * dy[yi];
                                    dwr[wi] += (double)x[xi] * dy[yi];
                                }
                        yr[yi] = acc;
                        dbr[o] += dy[yi];
                    }
        char what[128];
        snprintf(what, sizeof what, "conv2d n%d c%d %dx%d oc%d k%d s%d p%d g%d", cc.n, cc.c, cc.h,
                 cc.w, cc.oc, cc.k, cc.s, cc.p, cc.g);
        size_t wsb = b->conv2d_workspace(b, &d);
        /* CTRAIN_TEST_DNN_WS: the bytes per image the emulated cuDNN's forward algorithm asks
         * for (CTRAIN_CUDA_EMU_CUDNN_WS), more than im2col's but within ctrain's cap: then the
         * workspace must be cuDNN's (its ops check they are given that much) */
        const char *dnn_ws = getenv("CTRAIN_TEST_DNN_WS");
        if (dnn_ws && strcmp(b->name, "cuda") == 0 && wsb < strtoull(dnn_ws, NULL, 10) * cc.n)
            fail_msg("%s: workspace %zu bytes, not cuDNN's %s per image", what, wsb, dnn_ws);
        void *ws = wsb ? dalloc(b, wsb) : NULL;
        float *d_x = dput(b, x, nx * 4), *d_w = dput(b, w, nw * 4), *d_b = dput(b, bias, cc.oc * 4);
        float *d_dy = dput(b, dy, ny * 4), *d_y = dgarbage(b, ny), *d_dx = dgarbage(b, nx);
        float *d_dw = dgarbage(b, nw), *d_db = dgarbage(b, cc.oc);
        if (wsb > 1 && cc.n > 0) { /* a workspace said smaller than needed: refused, not overrun */
            ct_conv2d_desc small = d;
            small.ws_bytes = 1;
            assert_int_equal(b->conv2d_forward(b, &small, d_x, d_w, d_b, d_y, ws), CT_ERR_INVALID);
            assert_non_null(strstr(ct_last_error(), "workspace of 1 bytes"));
            assert_int_equal(b->conv2d_backward_data(b, &small, d_dy, d_w, d_dx, ws), CT_ERR_INVALID);
            assert_int_equal(b->conv2d_backward_filter(b, &small, d_x, d_dy, d_dw, d_db, ws),
                             CT_ERR_INVALID);
        }
        d.ws_bytes = wsb; /* as the model passes it (0, the ops' default, is the same size) */
        for (int with_bias = 1; with_bias >= 0; with_bias--) {
            OK(b->conv2d_forward(b, &d, d_x, d_w, with_bias ? d_b : NULL, d_y, ws));
            dget(b, y, d_y, ny * 4);
            for (size_t i = 0; i < ny; i++) {
                double ref = yr[i] - (with_bias ? 0.0 : bias[(i / (d.oh * d.ow)) % cc.oc]);
                tu_near(what, i, y[i], ref, 1e-5 * sqrt((double)K) * (mag[i] + 1));
            }
        }
        /* the fused ReLU: exactly max(y, 0) of the same convolution (here without bias) */
        d.relu = 1;
        OK(b->conv2d_forward(b, &d, d_x, d_w, NULL, d_y, ws));
        d.relu = 0;
        float *yrelu = hmalloc(ny * 4);
        dget(b, yrelu, d_y, ny * 4);
        for (size_t i = 0; i < ny; i++)
            if (yrelu[i] != (y[i] > 0.0f ? y[i] : 0.0f))
                fail_msg("%s with relu: y[%zu] = %g, max(%g, 0) without", what, i, yrelu[i], y[i]);
        free(yrelu);
        OK(b->conv2d_backward_data(b, &d, d_dy, d_w, d_dx, ws));
        dget(b, dx, d_dx, nx * 4);
        for (size_t i = 0; i < nx; i++) tu_near("conv2d dx", i, dx[i], dxr[i], 1e-5 * (1 + fabs(dxr[i])) * cc.oc);
        OK(b->conv2d_backward_filter(b, &d, d_x, d_dy, d_dw, d_db, ws));
        dget(b, dw, d_dw, nw * 4);
        dget(b, db, d_db, cc.oc * 4);
        for (size_t i = 0; i < nw; i++)
            tu_near("conv2d dweight", i, dw[i], dwr[i], 1e-5 * (1 + fabs(dwr[i])) * sqrt((double)ny));
        for (int o = 0; o < cc.oc; o++) tu_near("conv2d dbias", o, db[o], dbr[o], 1e-5 * sqrt((double)ny));
        if (b->conv2d_backward) { /* both at once: the two ops' results, bit for bit */
            float *dx2 = hmalloc(nx * 4), *dw2 = hmalloc(nw * 4), *db2 = hmalloc(cc.oc * 4);
            for (int with_dx = 1; with_dx >= 0; with_dx--) {
                float *d_dx2 = dgarbage(b, nx), *d_dw2 = dgarbage(b, nw), *d_db2 = dgarbage(b, cc.oc);
                OK(b->conv2d_backward(b, &d, d_x, d_dy, d_w, with_dx ? d_dx2 : NULL, d_dw2, d_db2,
                                      ws));
                dget(b, dw2, d_dw2, nw * 4);
                dget(b, db2, d_db2, cc.oc * 4);
                if (memcmp(dw2, dw, nw * 4) || memcmp(db2, db, cc.oc * 4))
                    fail_msg("%s: conv2d_backward's dweight/dbias differ from the two ops'", what);
                if (with_dx) {
                    dget(b, dx2, d_dx2, nx * 4);
                    if (memcmp(dx2, dx, nx * 4))
                        fail_msg("%s: conv2d_backward's dx differs from backward_data's", what);
                }
                b->free(b, d_dx2); b->free(b, d_dw2); b->free(b, d_db2);
            }
            free(dx2); free(dw2); free(db2);
        }
        b->free(b, ws);
        b->free(b, d_x); b->free(b, d_w); b->free(b, d_b); b->free(b, d_dy); b->free(b, d_y);
        b->free(b, d_dx); b->free(b, d_dw); b->free(b, d_db);
        free(x); free(w); free(bias); free(dy); free(y); free(dx); free(dw); free(db);
        free(yr); free(dxr); free(dwr); free(dbr); free(mag);
    }
    /* groups that do not divide the channels: refused before any memory is touched */
    ct_conv2d_desc bad = {.n = 1, .c = 4, .h = 3, .w = 3, .oc = 6, .kh = 1, .kw = 1, .stride_h = 1,
                          .stride_w = 1, .oh = 3, .ow = 3, .groups = 4};
    assert_int_equal(b->conv2d_forward(b, &bad, NULL, NULL, NULL, NULL, NULL), CT_ERR_INVALID);
    assert_non_null(strstr(ct_last_error(), "groups 4 must divide the 4 input and 6 output"));
    bad.groups = -1;
    assert_int_equal(b->conv2d_backward_data(b, &bad, NULL, NULL, NULL, NULL), CT_ERR_INVALID);
}

/* Finite differences of the forward op against both backward ops, on shapes of both CPU paths
 * (Winograd and im2col): with L(x, w) = <r, conv(x, w)>, the central difference
 * (L(x + h v) - L(x - h v)) / 2h must equal <backward_data(r), v>, and likewise along a
 * direction u of the weights <backward_filter(x, r), u>. conv is linear in each argument, so the
 * difference has no truncation error: what is left is float rounding, which the tolerance bounds
 * by 1e-6 (~10 float epsilons) of the sum of the absolute values of the terms of both sides
 * (measured: at most 1.6e-8 of it on these shapes, every kernel set). */
static double conv_loss(ct_backend *b, const ct_conv2d_desc *d, const float *x, const float *w,
                        const float *r, size_t ny, void *ws, double *mag) {
    float *d_x = dput(b, x, (size_t)d->n * d->c * d->h * d->w * 4);
    float *d_w = dput(b, w, (size_t)d->oc * (d->c / ct_conv_groups(d)) * d->kh * d->kw * 4);
    float *d_y = dgarbage(b, ny);
    float *y = hmalloc(ny * 4);
    OK(b->conv2d_forward(b, d, d_x, d_w, NULL, d_y, ws));
    dget(b, y, d_y, ny * 4);
    double l = 0.0;
    for (size_t i = 0; i < ny; i++) {
        l += (double)r[i] * y[i];
        *mag += fabs((double)r[i] * y[i]);
    }
    b->free(b, d_x); b->free(b, d_w); b->free(b, d_y);
    free(y);
    return l;
}

static void test_conv2d_fd(void **state) {
    ct_backend *b = tu_backend(state);
    ct_rng rng;
    ct_rng_init(&rng, 27, 0);
    static const conv_case cases[] = {
        {3, 32, 26, 26, 64, 3, 1, 0, 1}, {2, 16, 9, 11, 16, 3, 1, 1, 1}, {37, 16, 6, 6, 16, 3, 1, 1, 1},
        {2, 24, 5, 5, 16, 3, 1, 2, 1},   {2, 8, 9, 9, 16, 3, 1, 1, 1},   {2, 16, 9, 9, 16, 3, 2, 1, 1},
        {3, 8, 9, 9, 8, 3, 1, 1, 4},  {2, 16, 9, 9, 16, 3, 2, 1, 16}, {30, 16, 3, 3, 32, 3, 1, 1, 16},
    };
    const float h = 0.5f;
    for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
        conv_case cc = cases[t];
        ct_conv2d_desc d = {.n = cc.n, .c = cc.c, .h = cc.h, .w = cc.w, .oc = cc.oc, .kh = cc.k,
                            .kw = cc.k, .stride_h = cc.s, .stride_w = cc.s, .pad_h = cc.p,
                            .pad_w = cc.p, .groups = cc.g};
        d.oh = (cc.h + 2 * cc.p - cc.k) / cc.s + 1;
        d.ow = (cc.w + 2 * cc.p - cc.k) / cc.s + 1;
        size_t nx = (size_t)cc.n * cc.c * cc.h * cc.w;
        size_t nw = (size_t)cc.oc * (cc.c / ct_conv_groups(&d)) * cc.k * cc.k;
        size_t ny = (size_t)cc.n * cc.oc * d.oh * d.ow;
        float *x = hmalloc(nx * 4), *w = hmalloc(nw * 4), *r = hmalloc(ny * 4);
        float *v = hmalloc(nx * 4), *u = hmalloc(nw * 4), *dx = hmalloc(nx * 4);
        float *dw = hmalloc(nw * 4), *xp = hmalloc(nx * 4), *wp = hmalloc(nw * 4);
        tu_fill(&rng, x, nx, -1, 1);
        tu_fill(&rng, w, nw, -1, 1);
        tu_fill(&rng, r, ny, -1, 1);
        tu_fill(&rng, v, nx, -1, 1);
        tu_fill(&rng, u, nw, -1, 1);
        size_t wsb = b->conv2d_workspace(b, &d);
        void *ws = wsb ? dalloc(b, wsb) : NULL;
        float *d_x = dput(b, x, nx * 4), *d_w = dput(b, w, nw * 4), *d_r = dput(b, r, ny * 4);
        float *d_dx = dgarbage(b, nx), *d_dw = dgarbage(b, nw), *d_db = dgarbage(b, cc.oc);
        OK(b->conv2d_backward_data(b, &d, d_r, d_w, d_dx, ws));
        OK(b->conv2d_backward_filter(b, &d, d_x, d_r, d_dw, d_db, ws));
        dget(b, dx, d_dx, nx * 4);
        dget(b, dw, d_dw, nw * 4);
        char what[128];
        for (int wrt = 0; wrt < 2; wrt++) { /* 0: along v in x, 1: along u in the weights */
            const size_t n = wrt ? nw : nx;
            const float *dir = wrt ? u : v, *grad = wrt ? dw : dx, *at = wrt ? w : x;
            float *moved = wrt ? wp : xp;
            /* the steps as taken in float: (at + h dir) - (at - h dir) is 2 h dir up to rounding,
             * so the predicted difference uses the steps themselves */
            double mag = 0.0, predicted = 0.0;
            for (size_t i = 0; i < n; i++) {
                float up = at[i] + h * dir[i], down = at[i] - h * dir[i];
                predicted += (double)grad[i] * ((double)up - down);
                mag += fabs((double)grad[i] * ((double)up - down));
                moved[i] = up;
            }
            double lp = conv_loss(b, &d, wrt ? x : moved, wrt ? moved : w, r, ny, ws, &mag);
            for (size_t i = 0; i < n; i++) moved[i] = at[i] - h * dir[i];
            double lm = conv_loss(b, &d, wrt ? x : moved, wrt ? moved : w, r, ny, ws, &mag);
            snprintf(what, sizeof what, "conv2d finite difference d/d%s n%d c%d %dx%d oc%d k%d "
                     "s%d p%d g%d", wrt ? "w" : "x", cc.n, cc.c, cc.h, cc.w, cc.oc, cc.k, cc.s, cc.p,
                     cc.g);
            tu_near(what, 0, lp - lm, predicted, 1e-6 * mag);
        }
        b->free(b, ws);
        b->free(b, d_x); b->free(b, d_w); b->free(b, d_r); b->free(b, d_dx); b->free(b, d_dw);
        b->free(b, d_db);
        free(x); free(w); free(r); free(v); free(u); free(dx); free(dw); free(xp); free(wp);
    }
}

/* ------------------------------------------------------------------------------------------ */
/* pooling                                                                                     */

typedef struct { int n, c, h, w, k, s, p; } pool_case;
static const pool_case k_pools[] = {
    {2, 3, 6, 6, 2, 2, 0}, {1, 2, 7, 5, 3, 2, 1}, {3, 1, 5, 5, 3, 1, 1},
    {2, 2, 9, 9, 2, 1, 0}, {1, 1, 1, 1, 1, 1, 0}, {2, 4, 28, 28, 2, 2, 0},
    /* CUDA takes planes a block each: more planes than blocks, planes of 1 to 20x20 threads */
    {40, 80, 4, 4, 2, 2, 0}, {3, 5, 20, 20, 3, 2, 1},
};

static ct_pool2d_desc pool_desc(pool_case pc) {
    ct_pool2d_desc d = {.n = pc.n, .c = pc.c, .h = pc.h, .w = pc.w, .kh = pc.k, .kw = pc.k,
                        .stride_h = pc.s, .stride_w = pc.s, .pad_h = pc.p, .pad_w = pc.p};
    d.oh = (pc.h + 2 * pc.p - pc.k) / pc.s + 1;
    d.ow = (pc.w + 2 * pc.p - pc.k) / pc.s + 1;
    return d;
}

static void test_pool(void **state) {
    ct_backend *b = tu_backend(state);
    ct_rng rng;
    ct_rng_init(&rng, 22, 0);
    for (size_t t = 0; t < sizeof k_pools / sizeof k_pools[0]; t++) {
        pool_case pc = k_pools[t];
        ct_pool2d_desc d = pool_desc(pc);
        size_t HW = (size_t)pc.h * pc.w, P = (size_t)d.oh * d.ow, planes = (size_t)pc.n * pc.c;
        size_t nx = planes * HW, ny = planes * P;
        float *x = hmalloc(nx * 4), *dy = hmalloc(ny * 4), *y = hmalloc(ny * 4);
        float *dx = hmalloc(nx * 4);
        int32_t *am = hmalloc(ny * 4), *amr = hmalloc(ny * 4);
        double *ymax = hmalloc(ny * 8), *yavg = hmalloc(ny * 8);
        double *dxmax = calloc(nx, 8), *dxavg = calloc(nx, 8);
        /* few distinct values: ties happen, and the first maximum must win */
        for (size_t i = 0; i < nx; i++) x[i] = (float)ct_rng_below(&rng, 7) - 3.0f;
        tu_fill(&rng, dy, ny, -1, 1);
        for (size_t pl = 0; pl < planes; pl++)
            for (int oy = 0; oy < d.oh; oy++)
                for (int ox = 0; ox < d.ow; ox++) {
                    size_t o = pl * P + oy * d.ow + ox;
                    double best = -INFINITY, sum = 0;
                    int arg = -1;
                    for (int ky = 0; ky < pc.k; ky++)
                        for (int kx = 0; kx < pc.k; kx++) {
                            int iy = oy * pc.s - pc.p + ky, ix = ox * pc.s - pc.p + kx;
                            if (iy < 0 || iy >= pc.h || ix < 0 || ix >= pc.w) continue;
                            double v = x[pl * HW + iy * pc.w + ix];
                            sum += v;
                            if (arg < 0 || v > best) best = v, arg = iy * pc.w + ix;
                        }
                    ymax[o] = best;
                    amr[o] = arg;
                    yavg[o] = sum / (pc.k * pc.k);
                    dxmax[pl * HW + arg] += dy[o];
                    for (int ky = 0; ky < pc.k; ky++)
                        for (int kx = 0; kx < pc.k; kx++) {
                            int iy = oy * pc.s - pc.p + ky, ix = ox * pc.s - pc.p + kx;
                            if (iy < 0 || iy >= pc.h || ix < 0 || ix >= pc.w) continue;
                            dxavg[pl * HW + iy * pc.w + ix] += dy[o] / (pc.k * pc.k);
                        }
                }
        float *d_x = dput(b, x, nx * 4), *d_dy = dput(b, dy, ny * 4), *d_y = dgarbage(b, ny);
        float *d_dx = dgarbage(b, nx);
        int32_t *d_am = dalloc(b, ny * 4);
        OK(b->maxpool2d_forward(b, &d, d_x, d_y, d_am));
        dget(b, y, d_y, ny * 4);
        dget(b, am, d_am, ny * 4);
        for (size_t i = 0; i < ny; i++) {
            tu_near("maxpool y", i, y[i], ymax[i], 0.0);
            tu_near("maxpool argmax (first maximum)", i, am[i], amr[i], 0.0);
        }
        OK(b->maxpool2d_backward(b, &d, d_dy, d_am, d_dx));
        dget(b, dx, d_dx, nx * 4);
        for (size_t i = 0; i < nx; i++) tu_near("maxpool dx", i, dx[i], dxmax[i], 1e-6 * pc.k * pc.k);
        OK(b->avgpool2d_forward(b, &d, d_x, d_y));
        dget(b, y, d_y, ny * 4);
        for (size_t i = 0; i < ny; i++) tu_near("avgpool y", i, y[i], yavg[i], 1e-6 * pc.k * pc.k);
        OK(b->avgpool2d_backward(b, &d, d_dy, d_dx));
        dget(b, dx, d_dx, nx * 4);
        for (size_t i = 0; i < nx; i++) tu_near("avgpool dx", i, dx[i], dxavg[i], 1e-6 * pc.k * pc.k);
        b->free(b, d_x); b->free(b, d_dy); b->free(b, d_y); b->free(b, d_dx); b->free(b, d_am);
        free(x); free(dy); free(y); free(dx); free(am); free(amr); free(ymax); free(yavg);
        free(dxmax); free(dxavg);
    }
}

/* A NaN in a window wins (PyTorch's max pooling propagates NaN). */
static void test_maxpool_nan(void **state) {
    ct_backend *b = tu_backend(state);
    ct_pool2d_desc d = pool_desc((pool_case){1, 1, 2, 2, 2, 2, 0});
    const float x[4] = {1.0f, NAN, 5.0f, 2.0f};
    float y;
    int32_t am;
    float *d_x = dput(b, x, sizeof x), *d_y = dalloc(b, 4);
    int32_t *d_am = dalloc(b, 4);
    OK(b->maxpool2d_forward(b, &d, d_x, d_y, d_am));
    dget(b, &y, d_y, 4);
    dget(b, &am, d_am, 4);
    assert_true(isnan(y));
    assert_int_equal(am, 1);
    b->free(b, d_x); b->free(b, d_y); b->free(b, d_am);
}

/* ------------------------------------------------------------------------------------------ */
/* dropout                                                                                     */

static void test_dropout(void **state) {
    ct_backend *b = tu_backend(state);
    ct_rng rng;
    ct_rng_init(&rng, 23, 0);
    enum { N = 10007 };
    const float ps[] = {0.0f, 0.25f, 0.5f, 0.9f, 1.0f};
    const uint64_t seed = 0x1234567890abcdefull, stream = (4ull << 56) | (3ull << 40) | 17;
    float *x = hmalloc(N * 4), *y = hmalloc(N * 4), *y2 = hmalloc(N * 4);
    tu_fill(&rng, x, N, -2, 2);
    float *d_x = dput(b, x, N * 4), *d_y = dgarbage(b, N);
    for (size_t k = 0; k < sizeof ps / sizeof ps[0]; k++) {
        float p = ps[k];
        /* not aligned to a Philox block; once, the block counter crosses 2^32 mid-tensor (and in
         * the middle of a 16-lane group of the vectorised generator) */
        const uint64_t first = k == 2 ? (1ull << 34) - 4 * 2008 + 3 : 4 * 1000 + 3;
        OK(b->dropout_forward(b, d_x, d_y, N, p, seed, stream, first, NULL));
        dget(b, y, d_y, N * 4);
        uint32_t thr = (uint32_t)((double)p * 16777216.0);
        float scale = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;
        int64_t kept = 0;
        for (int64_t i = 0; i < N; i++) {
            uint64_t e = first + i;
            uint32_t words[4];
            ct_philox4x32(seed, stream, e >> 2, words);
            int keep = p < 1.0f && (words[e & 3] >> 8) >= thr;
            kept += keep;
            tu_near("dropout forward", i, y[i], keep ? x[i] * scale : 0.0f, 0.0);
        }
        double frac = (double)kept / N;
        if (fabs(frac - (1 - p)) > 0.03) fail_msg("dropout p=%g kept %.3f", p, frac);
        /* split in two pieces at any row: the same values (the mask follows the element) */
        OK(b->dropout_forward(b, d_x, d_y, 5000, p, seed, stream, first, NULL));
        OK(b->dropout_forward(b, d_x + 5000, d_y + 5000, N - 5000, p, seed, stream, first + 5000,
                              NULL));
        dget(b, y2, d_y, N * 4);
        assert_memory_equal(y, y2, N * 4);
        /* backward applies the same mask; in place */
        OK(b->h2d(b, d_y, x, N * 4));
        OK(b->dropout_backward(b, d_y, d_y, N, p, seed, stream, first, NULL));
        dget(b, y2, d_y, N * 4);
        assert_memory_equal(y, y2, N * 4);
        /* the step from device memory (sv): stream + sv->step */
        ct_step_vars sv = {.step = 17};
        ct_step_vars *d_sv = dput(b, &sv, sizeof sv);
        OK(b->dropout_forward(b, d_x, d_y, N, p, seed, stream - 17, first, d_sv));
        dget(b, y2, d_y, N * 4);
        assert_memory_equal(y, y2, N * 4);
        OK(b->h2d(b, d_y, x, N * 4));
        OK(b->dropout_backward(b, d_y, d_y, N, p, seed, stream - 17, first, d_sv));
        dget(b, y2, d_y, N * 4);
        assert_memory_equal(y, y2, N * 4);
        b->free(b, d_sv);
    }
    /* another step (stream) gives another mask */
    OK(b->dropout_forward(b, d_x, d_y, N, 0.5f, seed, stream + 1, 0, NULL));
    dget(b, y, d_y, N * 4);
    OK(b->dropout_forward(b, d_x, d_y, N, 0.5f, seed, stream, 0, NULL));
    dget(b, y2, d_y, N * 4);
    int same = 0;
    for (int i = 0; i < N; i++) same += (y[i] == 0) == (y2[i] == 0);
    if (same > N * 0.6) fail_msg("dropout masks of two steps agree on %d of %d", same, N);
    b->free(b, d_x); b->free(b, d_y);
    free(x); free(y); free(y2);
}

/* ------------------------------------------------------------------------------------------ */
/* batch norm                                                                                  */

static void test_batchnorm(void **state) {
    ct_backend *b = tu_backend(state);
    ct_rng rng;
    ct_rng_init(&rng, 24, 0);
    /* (inner: the CPU sums a row in 16 lanes and a tail, in runs of 256, and takes planes under
     * 16 positions every channel at once; the last plane's values sit near 100, far from 0) */
    const int64_t shapes[][3] = {{4, 3, 1}, {5, 2, 9}, {64, 16, 1}, {3, 8, 49}, {1, 4, 1},
                                 {2, 3, 784}, {6, 2, 33}, {2, 2, 5000}, {6, 37, 4}, {3, 5, 15},
                                 {2, 3, 16}};
    const float eps = 1e-5f, mom = 0.1f;
    for (size_t t = 0; t < sizeof shapes / sizeof shapes[0]; t++) {
        int64_t n = shapes[t][0], c = shapes[t][1], inner = shapes[t][2], m = n * inner;
        size_t nx = (size_t)(n * c * inner);
        float *x = hmalloc(nx * 4), *dy = hmalloc(nx * 4), *y = hmalloc(nx * 4);
        float *dx = hmalloc(nx * 4), *g = hmalloc(c * 4), *be = hmalloc(c * 4);
        float *rm = hmalloc(c * 4), *rv = hmalloc(c * 4), *sv = hmalloc(2 * c * 4);
        float *dg = hmalloc(2 * c * 4);
        tu_fill(&rng, x, nx, inner > 1000 ? 97 : -3, inner > 1000 ? 105 : 5);
        tu_fill(&rng, dy, nx, -1, 1);
        tu_fill(&rng, g, c, 0.5f, 1.5f);
        tu_fill(&rng, be, c, -1, 1);
        tu_fill(&rng, rm, c, -0.5f, 0.5f);
        tu_fill(&rng, rv, c, 0.5f, 2.0f);
        float *d_x = dput(b, x, nx * 4), *d_dy = dput(b, dy, nx * 4), *d_y = dgarbage(b, nx);
        float *d_dx = dgarbage(b, nx), *d_g = dput(b, g, c * 4), *d_be = dput(b, be, c * 4);
        float *d_rm = dput(b, rm, c * 4), *d_rv = dput(b, rv, c * 4), *d_sv = dgarbage(b, 2 * c);
        float *d_dg = dgarbage(b, 2 * c);
        char what[96];
        snprintf(what, sizeof what, "batchnorm (%lld, %lld, %lld)", (long long)n, (long long)c,
                 (long long)inner);
        OK(b->batchnorm_forward(b, 1, d_x, d_y, n, c, inner, d_g, d_be, eps, mom, d_rm, d_rv,
                                d_sv, d_sv + c));
        dget(b, y, d_y, nx * 4);
        dget(b, sv, d_sv, 2 * c * 4);
        float rm2[64], rv2[64];
        assert_true(c <= 64);
        dget(b, rm2, d_rm, c * 4);
        dget(b, rv2, d_rv, c * 4);
        OK(b->batchnorm_backward(b, d_x, d_dy, d_dx, n, c, inner, d_g, d_sv, d_sv + c, d_dg,
                                 d_dg + c));
        dget(b, dx, d_dx, nx * 4);
        dget(b, dg, d_dg, 2 * c * 4);
        for (int64_t ch = 0; ch < c; ch++) {
            double mean = 0, var = 0, sdy = 0, sdyx = 0;
            for (int64_t i = 0; i < n; i++)
                for (int64_t k = 0; k < inner; k++) mean += x[(i * c + ch) * inner + k];
            mean /= m;
            for (int64_t i = 0; i < n; i++)
                for (int64_t k = 0; k < inner; k++) {
                    double v = x[(i * c + ch) * inner + k] - mean;
                    var += v * v;
                }
            var /= m;
            double is = 1 / sqrt(var + eps);
            tu_near("batchnorm save_mean", ch, sv[ch], mean, 1e-6 * (1 + fabs(mean)));
            tu_near("batchnorm save_invstd", ch, sv[c + ch], is, 1e-6 * is);
            const double rm_want = 0.9 * rm[ch] + 0.1 * mean; /* (near 10: 1e-6 relative) */
            tu_near("batchnorm running_mean", ch, rm2[ch], rm_want, 1e-6 * (1 + fabs(rm_want)));
            double unb = m > 1 ? var * m / (m - 1) : var;
            tu_near("batchnorm running_var", ch, rv2[ch], 0.9 * rv[ch] + 0.1 * unb, 1e-5 * (1 + unb));
            for (int64_t i = 0; i < n; i++)
                for (int64_t k = 0; k < inner; k++) {
                    size_t e = (i * c + ch) * inner + k;
                    double xh = (x[e] - mean) * is;
                    tu_near(what, e, y[e], xh * g[ch] + be[ch], 1e-5 * (1 + fabs(xh)));
                    sdy += dy[e];
                    sdyx += dy[e] * xh;
                }
            tu_near("batchnorm dbeta", ch, dg[c + ch], sdy, 1e-5 * m);
            tu_near("batchnorm dgamma", ch, dg[ch], sdyx, 1e-5 * m);
            for (int64_t i = 0; i < n; i++)
                for (int64_t k = 0; k < inner; k++) {
                    size_t e = (i * c + ch) * inner + k;
                    double xh = (x[e] - mean) * is;
                    double ref = g[ch] * is / m * (m * dy[e] - sdy - xh * sdyx);
                    tu_near("batchnorm dx", e, dx[e], ref, 1e-4 * (1 + fabs(ref)));
                }
        }
        /* eval: the running statistics (as updated) */
        OK(b->batchnorm_forward(b, 0, d_x, d_y, n, c, inner, d_g, d_be, eps, mom, d_rm, d_rv,
                                NULL, NULL));
        dget(b, y, d_y, nx * 4);
        for (size_t e = 0; e < nx; e++) {
            int64_t ch = (e / inner) % c;
            double ref = (x[e] - rm2[ch]) / sqrt((double)rv2[ch] + eps) * g[ch] + be[ch];
            tu_near("batchnorm eval", e, y[e], ref, 1e-5 * (1 + fabs(ref)));
        }
        /* no running statistics given: they are not touched (other CPU shards) */
        OK(b->batchnorm_forward(b, 1, d_x, d_y, n, c, inner, d_g, d_be, eps, mom, NULL, NULL,
                                d_sv, d_sv + c));
        b->free(b, d_x); b->free(b, d_dy); b->free(b, d_y); b->free(b, d_dx); b->free(b, d_g);
        b->free(b, d_be); b->free(b, d_rm); b->free(b, d_rv); b->free(b, d_sv); b->free(b, d_dg);
        free(x); free(dy); free(y); free(dx); free(g); free(be); free(rm); free(rv); free(sv);
        free(dg);
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Adam / AdamW / NAdam against torch.optim's algorithms in double (NAdam: PyTorch 2's)       */

static void test_adam(void **state) {
    ct_backend *b = tu_backend(state);
    ct_rng rng;
    ct_rng_init(&rng, 25, 0);
    const struct { float lr, b1, b2, eps, wd; int decoupled; float psi; int ams; } cfgs[] = {
        {1e-3f, 0.9f, 0.999f, 1e-8f, 0.0f, 0, 0, 0}, {1e-2f, 0.8f, 0.99f, 1e-6f, 0.1f, 0, 0, 0},
        {1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, 1, 0, 0}, {5e-2f, 0.5f, 0.9f, 1e-3f, 0.5f, 1, 0, 0},
        {2e-3f, 0.9f, 0.999f, 1e-8f, 0.0f, CT_ADAM_NADAM, 0.004f, 0},
        {1e-2f, 0.8f, 0.99f, 1e-6f, 0.1f, CT_ADAM_NADAM, 0.5f, 0},
        /* RAdam: from update 6 on rectified (rho_t > 5), with beta2 0.9 and 0.999 alike */
        {1e-2f, 0.8f, 0.9f, 1e-6f, 0.1f, CT_ADAM_RADAM, 0, 0},
        {1e-3f, 0.9f, 0.999f, 1e-8f, 0.0f, CT_ADAM_RADAM, 0, 0},
        {2e-3f, 0.9f, 0.999f, 1e-8f, 0.0f, CT_ADAM_ADAMAX, 0, 0},
        {1e-2f, 0.5f, 0.9f, 1e-3f, 0.2f, CT_ADAM_ADAMAX, 0, 0},
        /* Adagrad: psi is its lr_decay; betas unused */
        {1e-2f, 0.0f, 0.0f, 1e-10f, 0.0f, CT_ADAM_ADAGRAD, 0, 0},
        {5e-2f, 0.0f, 0.0f, 1e-6f, 0.05f, CT_ADAM_ADAGRAD, 0.1f, 0},
        /* AMSGrad (vmax): Adam's and AdamW's */
        {1e-2f, 0.8f, 0.99f, 1e-6f, 0.1f, CT_ADAM_L2, 0, 1},
        {5e-2f, 0.5f, 0.9f, 1e-3f, 0.5f, CT_ADAM_DECOUPLED, 0, 1},
    };
    enum { N = 1001, STEPS = 7 };
    for (size_t c = 0; c < sizeof cfgs / sizeof cfgs[0]; c++) {
        float *w = hmalloc(N * 4), *g = hmalloc(N * 4), *mv = hmalloc(2 * N * 4);
        double wr[N], mr[N] = {0}, vr[N] = {0};
        tu_fill(&rng, w, N, -1, 1);
        for (int i = 0; i < N; i++) wr[i] = w[i];
        memset(mv, 0, 2 * N * 4);
        float *d_w = dput(b, w, N * 4), *d_g = dalloc(b, N * 4), *d_mv = dput(b, mv, 2 * N * 4);
        float *d_vmax = cfgs[c].ams ? dput(b, mv, N * 4) : NULL; /* (zeros) */
        double vmaxr[N] = {0};
        ct_step_vars *d_sv = dalloc(b, sizeof(ct_step_vars));
        const int variant = cfgs[c].decoupled, nadam = variant == CT_ADAM_NADAM;
        double prod = 1.0; /* NAdam's mu_1 ... mu_t */
        for (int t = 1; t <= STEPS; t++) {
            tu_fill(&rng, g, N, -1, 1);
            if (t == 2) g[0] = 0.0f; /* a zero gradient: eps keeps the step finite */
            OK(b->h2d(b, d_g, g, N * 4));
            /* every other step takes lr and the bias corrections from device memory (sv); the
             * arguments lr and t are then wrong on purpose */
            int use_sv = (t + (int)c) % 2;
            ct_step_vars sv = {.lr = cfgs[c].lr, .momentum = cfgs[c].b1};
            ct_adam_variant_factors(variant, cfgs[c].lr, cfgs[c].b1, cfgs[c].b2, cfgs[c].psi, t,
                                    &sv.nadam_grad_size, &sv.adam_step_size, &sv.adam_bc2_sqrt);
            OK(b->h2d(b, d_sv, &sv, sizeof sv));
            OK(b->adam_step(b, d_w, d_g, d_mv, d_mv + N, d_vmax, N, use_sv ? 7.0f : cfgs[c].lr,
                            use_sv ? 0.25f : cfgs[c].b1, cfgs[c].b2, cfgs[c].eps, cfgs[c].wd,
                            cfgs[c].decoupled, use_sv ? 9.0f : cfgs[c].psi, use_sv ? 100 : t,
                            use_sv ? d_sv : NULL));
            /* NAdam (torch.optim.NAdam, PyTorch 2): mu_t = b1 (1 - 0.5 * 0.96^(t psi)) */
            double mu = cfgs[c].b1 * (1 - 0.5 * pow(0.96, t * (double)cfgs[c].psi));
            double mu_next = cfgs[c].b1 * (1 - 0.5 * pow(0.96, (t + 1) * (double)cfgs[c].psi));
            prod *= mu;
            /* RAdam's rectification (torch.optim.RAdam) */
            const double b2 = cfgs[c].b2, rho_inf = 2 / (1 - b2) - 1;
            const double rho_t = rho_inf - 2 * t * pow(b2, t) / (1 - pow(b2, t));
            const double rect = rho_t > 5 ? sqrt((rho_t - 4) * (rho_t - 2) * rho_inf /
                                                 ((rho_inf - 4) * (rho_inf - 2) * rho_t))
                                          : 0;
            for (int i = 0; i < N; i++) {
                double gi = g[i], lr = cfgs[c].lr, wd = cfgs[c].wd, eps = cfgs[c].eps;
                if (cfgs[c].decoupled == 1) wr[i] *= 1 - lr * wd;
                else gi += wd * wr[i];
                double bc1 = 1 - pow(cfgs[c].b1, t), bc2 = 1 - pow(cfgs[c].b2, t);
                if (variant == CT_ADAM_ADAGRAD) { /* torch.optim.Adagrad: m untouched */
                    vr[i] += gi * gi;
                    wr[i] -= lr / (1 + (t - 1) * (double)cfgs[c].psi) * gi / (sqrt(vr[i]) + eps);
                    continue;
                }
                mr[i] = cfgs[c].b1 * mr[i] + (1 - cfgs[c].b1) * gi;
                if (variant == CT_ADAM_ADAMAX) { /* torch.optim.Adamax */
                    vr[i] = fmax(cfgs[c].b2 * vr[i], fabs(gi) + eps);
                    wr[i] -= lr / bc1 * mr[i] / vr[i];
                    continue;
                }
                vr[i] = cfgs[c].b2 * vr[i] + (1 - cfgs[c].b2) * gi * gi;
                if (cfgs[c].ams) vmaxr[i] = fmax(vmaxr[i], vr[i]); /* (torch.maximum) */
                double d = sqrt(cfgs[c].ams ? vmaxr[i] : vr[i]) / sqrt(bc2) + cfgs[c].eps;
                if (variant == CT_ADAM_RADAM)
                    wr[i] -= rho_t > 5 ? lr / bc1 * mr[i] * rect * sqrt(bc2) / (sqrt(vr[i]) + eps)
                                       : lr / bc1 * mr[i];
                else if (nadam)
                    wr[i] -= lr * (1 - mu) / (1 - prod) * gi / d +
                             lr * mu_next / (1 - prod * mu_next) * mr[i] / d;
                else
                    wr[i] -= lr / bc1 * mr[i] / d;
            }
            dget(b, w, d_w, N * 4);
            dget(b, mv, d_mv, 2 * N * 4);
            char what[96];
            snprintf(what, sizeof what, "adam lr=%g wd=%g decoupled=%d step %d", cfgs[c].lr,
                     cfgs[c].wd, cfgs[c].decoupled, t);
            for (int i = 0; i < N; i++) {
                tu_near(what, i, w[i], wr[i], 2e-6 * (1 + fabs(wr[i])));
                tu_near("adam exp_avg", i, mv[i], mr[i], 1e-6 * (1 + fabs(mr[i])));
                tu_near("adam exp_avg_sq", i, mv[N + i], vr[i], 1e-6 * (1 + fabs(vr[i])));
            }
            if (d_vmax) { /* AMSGrad's max_exp_avg_sq (mv's first half reused as the host copy) */
                dget(b, mv, d_vmax, N * 4);
                for (int i = 0; i < N; i++)
                    tu_near("adam max_exp_avg_sq", i, mv[i], vmaxr[i], 1e-6 * (1 + vmaxr[i]));
            }
        }
        b->free(b, d_w); b->free(b, d_g); b->free(b, d_mv); b->free(b, d_sv);
        if (d_vmax) b->free(b, d_vmax);
        free(w); free(g); free(mv);
    }
}

/* ------------------------------------------------------------------------------------------ */
/* sumsq and clip_scale (clip_grad_norm_)                                                      */

static void test_clip(void **state) {
    ct_backend *b = tu_backend(state);
    ct_rng rng;
    ct_rng_init(&rng, 26, 0);
    enum { N = 50001 };
    float *x = hmalloc(N * 4), *y = hmalloc(N * 4);
    tu_fill(&rng, x, N, -1, 1);
    double ss = 0, parts[3];
    for (int i = 0; i < N; i++) ss += (double)x[i] * x[i];
    float *d_x = dput(b, x, N * 4);
    double *d_parts = dalloc(b, 3 * sizeof(double));
    /* three slices, as CPU shards do */
    OK(b->sumsq(b, d_x, 20000, d_parts));
    OK(b->sumsq(b, d_x + 20000, 30000, d_parts + 1));
    OK(b->sumsq(b, d_x + 50000, 1, d_parts + 2));
    dget(b, parts, d_parts, sizeof parts);
    tu_near("sumsq total", 0, parts[0] + parts[1] + parts[2], ss, 1e-9 * ss);
    double norm = sqrt(ss);
    const float maxes[] = {(float)(norm * 2), (float)(norm / 3)};
    for (int k = 0; k < 2; k++) {
        OK(b->h2d(b, d_x, x, N * 4));
        OK(b->clip_scale(b, d_x, N, d_parts, 3, maxes[k]));
        dget(b, y, d_x, N * 4);
        double coef = maxes[k] / (norm + 1e-6);
        if (coef > 1) coef = 1;
        for (int i = 0; i < N; i++) tu_near("clip_scale", i, y[i], x[i] * coef, 1e-6 * fabs(x[i]));
    }
    /* clip_value (clip_grad_value_): each clamped to [-max, max], exactly; a NaN kept, as
     * torch.clamp keeps it; max 0 zeroes; a negative max refused */
    x[7] = NAN;
    x[8] = INFINITY;
    x[9] = -INFINITY;
    const float bounds[] = {0.5f, 0.0f, 2.0f};
    for (int k = 0; k < 3; k++) {
        OK(b->h2d(b, d_x, x, N * 4));
        OK(b->clip_value(b, d_x + 1, N - 1, bounds[k])); /* (x[0] outside: left alone) */
        dget(b, y, d_x, N * 4);
        assert_true(y[0] == x[0] && isnan(y[7]));
        for (int i = 1; i < N; i++) {
            if (i == 7) continue;
            float want = x[i] > bounds[k] ? bounds[k] : x[i] < -bounds[k] ? -bounds[k] : x[i];
            if (y[i] != want) fail_msg("clip_value %g [%d]: %g, expected %g", bounds[k], i, y[i], want);
        }
    }
    assert_int_equal(b->clip_value(b, d_x, N, -1.0f), CT_ERR_INVALID);
    b->free(b, d_x); b->free(b, d_parts);
    free(x); free(y);
}

/* normalize: y = (x - mean[c]) * inv_std[c] against the same in double, on random shapes and
 * channel counts, in place too; mean NULL (the backward's dy * inv_std); bad channel counts. */
static void test_normalize(void **state) {
    ct_backend *b = tu_backend(state);
    ct_rng rng;
    ct_rng_init(&rng, 27, 0);
    for (int k = 0; k < 12; k++) {
        int64_t outer = 1 + ct_rng_below(&rng, 9), inner = 1 + ct_rng_below(&rng, 300);
        int c = 1 + (int)ct_rng_below(&rng, CT_MAX_NORM_CHANNELS);
        int64_t n = outer * c * inner;
        float mean[CT_MAX_NORM_CHANNELS], inv[CT_MAX_NORM_CHANNELS];
        tu_fill(&rng, mean, c, -1, 1);
        tu_fill(&rng, inv, c, 0.2f, 5);
        float *x = hmalloc((size_t)n * 4), *y = hmalloc((size_t)n * 4);
        tu_fill(&rng, x, n, -3, 3);
        float *d_x = dput(b, x, (size_t)n * 4), *d_y = dalloc(b, (size_t)n * 4);
        for (int in_place = 0; in_place < 2; in_place++)
            for (int with_mean = 0; with_mean < 2; with_mean++) {
                OK(b->h2d(b, d_x, x, (size_t)n * 4));
                float *out = in_place ? d_x : d_y;
                OK(b->normalize(b, d_x, out, outer, c, inner, with_mean ? mean : NULL, inv));
                dget(b, y, out, (size_t)n * 4);
                for (int64_t e = 0; e < n; e++) {
                    int ch = (int)(e / inner % c);
                    double want = ((double)x[e] - (with_mean ? mean[ch] : 0.0)) * inv[ch];
                    tu_near("normalize", (size_t)e, y[e], want, 1e-6 * (fabs(want) + 1));
                }
            }
        b->free(b, d_x); b->free(b, d_y);
        free(x); free(y);
    }
    float one = 1;
    assert_int_equal(b->normalize(b, NULL, NULL, 1, 0, 1, NULL, &one), CT_ERR_INVALID);
    assert_int_equal(b->normalize(b, NULL, NULL, 1, CT_MAX_NORM_CHANNELS + 1, 1, NULL, &one),
                     CT_ERR_INVALID);
}

/* ------------------------------------------------------------------------------------------ */

int main(void) {
    tu_open_backends(&tu_backends[TU_CPU], &tu_backends[TU_CUDA]);
    const struct CMUnitTest tests[] = {
        TU_ON_EACH(test_conv2d),  TU_ON_EACH(test_conv2d_fd), TU_ON_EACH(test_pool),
        TU_ON_EACH(test_maxpool_nan), TU_ON_EACH(test_dropout), TU_ON_EACH(test_batchnorm),
        TU_ON_EACH(test_adam),    TU_ON_EACH(test_clip),      TU_ON_EACH(test_normalize),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    tu_close_backends();
    return rc;
}
