/*
 * recording_backend.c — test_graph.c's recording backend: the CPU backend's table with the
 * training step's ops wrapped. Outside a recording a wrapper runs the CPU op; inside one it
 * stores the op and its arguments (copying the descriptors they point to, as a kernel launch
 * copies its parameters), and a replay calls the CPU ops again with exactly those arguments.
 * A copy, allocation or synchronisation while recording (which a CUDA capture refuses) fails.
 */
#include "recording_backend.h"

#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------------------------ */
/* the recording backend: the CPU's table, with the step's ops wrapped                         */

typedef enum {
    R_GATHER, R_STEP_LOAD, R_GEMM, R_BIAS_ADD, R_BIAS_GRAD, R_ACT_F, R_ACT_B, R_XENT, R_SGD,
    R_ADAM, R_CONV_F, R_CONV_BD, R_CONV_BF, R_CONV_B, R_MAXPOOL_F, R_MAXPOOL_B, R_AVGPOOL_F, R_AVGPOOL_B,
    R_DROPOUT_F, R_DROPOUT_B, R_BN_F, R_BN_B, R_SUMSQ, R_CLIP, R_MEMSET0, R_D2D, R_ADD_INTO,
    R_EMA, R_RMSPROP, R_FILL, R_SCALE_ROWS, R_DOT_ROWS, R_GN_F, R_GN_B, R_GEMM_BATCHED,
    R_SOFTMAX, R_SOFTMAX_B, R_TRANSPOSE, R_COPY2D
} rec_kind;

/* One recorded op: its arguments in generic slots, in the order its wrapper stores them. */
typedef struct {
    rec_kind kind;
    void *p[12];
    int64_t i[12];
    double f[6];
    ct_augment aug;
    int has_aug;
    ct_conv2d_desc conv;
    ct_pool2d_desc pool;
} rec_op;

typedef struct {
    rec_op *ops;
    int n;
} rec_graph;

typedef struct {
    ct_backend base;     /* must be first */
    ct_backend *cpu;     /* the real ops */
    int recording;
    rec_graph cur;
    int refuse;          /* the recorder refuses a conv op (to test a failed recording) */
    int refused;
    int recordings, launches;
} rec_backend;

static rec_backend *rb(ct_backend *b) { return (rec_backend *)b; }

/* While recording: a new op slot (else NULL: run the op now). */
static rec_op *rec(ct_backend *b, rec_kind kind) {
    rec_backend *r = rb(b);
    if (!r->recording) return NULL;
    r->cur.ops = realloc(r->cur.ops, (size_t)(r->cur.n + 1) * sizeof(rec_op));
    assert_non_null(r->cur.ops);
    rec_op *o = &r->cur.ops[r->cur.n++];
    memset(o, 0, sizeof *o);
    o->kind = kind;
    return o;
}

#define CPU(b) (rb(b)->cpu)

static ct_status w_gather(ct_backend *b, const uint8_t *src, const uint8_t *ls, const int32_t *idx,
                          int64_t n, int64_t row, float scale, const ct_augment *aug,
                          const ct_step_vars *sv, float *dst, uint8_t *ld, uint8_t *mld) {
    rec_op *o = rec(b, R_GATHER);
    if (!o) return CPU(b)->gather_u8(CPU(b), src, ls, idx, n, row, scale, aug, sv, dst, ld, mld);
    o->p[0] = (void *)src, o->p[1] = (void *)ls, o->p[2] = (void *)idx, o->p[3] = (void *)sv;
    o->p[4] = dst, o->p[5] = ld, o->p[6] = mld, o->i[0] = n, o->i[1] = row, o->f[0] = scale;
    if (aug) o->aug = *aug, o->has_aug = 1; /* by value, as a kernel's parameters */
    return CT_OK;
}

static ct_status w_step_load(ct_backend *b, ct_step_vars *cur, const ct_step_vars *table,
                             int64_t *cursor) {
    rec_op *o = rec(b, R_STEP_LOAD);
    if (!o) return CPU(b)->step_load(CPU(b), cur, table, cursor);
    o->p[0] = cur, o->p[1] = (void *)table, o->p[2] = cursor;
    return CT_OK;
}

static ct_status w_gemm(ct_backend *b, int ta, int tb, int M, int N, int K, float alpha,
                        const float *A, int lda, const float *B, int ldb, float beta, float *C,
                        int ldc) {
    rec_op *o = rec(b, R_GEMM);
    if (!o) return CPU(b)->gemm(CPU(b), ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    o->i[0] = ta, o->i[1] = tb, o->i[2] = M, o->i[3] = N, o->i[4] = K, o->i[5] = lda;
    o->i[6] = ldb, o->i[7] = ldc, o->f[0] = alpha, o->f[1] = beta;
    o->p[0] = (void *)A, o->p[1] = (void *)B, o->p[2] = C;
    return CT_OK;
}

static ct_status w_bias_add(ct_backend *b, float *y, const float *bias, int64_t outer,
                            int64_t ch, int64_t inner) {
    rec_op *o = rec(b, R_BIAS_ADD);
    if (!o) return CPU(b)->bias_add(CPU(b), y, bias, outer, ch, inner);
    o->p[0] = y, o->p[1] = (void *)bias, o->i[0] = outer, o->i[1] = ch, o->i[2] = inner;
    return CT_OK;
}

static ct_status w_bias_grad(ct_backend *b, float *db, const float *dy, int64_t outer,
                             int64_t ch, int64_t inner) {
    rec_op *o = rec(b, R_BIAS_GRAD);
    if (!o) return CPU(b)->bias_grad(CPU(b), db, dy, outer, ch, inner);
    o->p[0] = db, o->p[1] = (void *)dy, o->i[0] = outer, o->i[1] = ch, o->i[2] = inner;
    return CT_OK;
}

static ct_status w_act_f(ct_backend *b, ct_act k, float param, const float *x, float *y,
                         int64_t n) {
    rec_op *o = rec(b, R_ACT_F);
    if (!o) return CPU(b)->act_forward(CPU(b), k, param, x, y, n);
    o->i[0] = k, o->f[0] = param, o->p[0] = (void *)x, o->p[1] = y, o->i[1] = n;
    return CT_OK;
}

static ct_status w_act_b(ct_backend *b, ct_act k, float param, const float *x, const float *y,
                         const float *dy, float *dx, int64_t n) {
    rec_op *o = rec(b, R_ACT_B);
    if (!o) return CPU(b)->act_backward(CPU(b), k, param, x, y, dy, dx, n);
    o->i[0] = k, o->f[0] = param, o->p[0] = (void *)x, o->p[1] = (void *)y;
    o->p[2] = (void *)dy, o->p[3] = dx, o->i[1] = n;
    return CT_OK;
}

static ct_status w_xent(ct_backend *b, const float *z, const uint8_t *lab, int64_t n, int classes,
                        float scale, float smoothing, const float *cw, const uint8_t *ml,
                        const ct_step_vars *msv, float *dz, double *stats) {
    rec_op *o = rec(b, R_XENT);
    if (!o) return CPU(b)->xent(CPU(b), z, lab, n, classes, scale, smoothing, cw, ml, msv, dz, stats);
    o->p[0] = (void *)z, o->p[1] = (void *)lab, o->i[0] = n, o->i[1] = classes;
    o->f[0] = scale, o->f[1] = smoothing, o->p[2] = dz, o->p[3] = stats, o->p[4] = (void *)cw;
    o->p[5] = (void *)ml, o->p[6] = (void *)msv;
    return CT_OK;
}

static ct_status w_sgd(ct_backend *b, float *w, const float *g, float *m, int64_t n, float lr,
                       float mom, float wd, int nest, int first, const ct_step_vars *sv) {
    rec_op *o = rec(b, R_SGD);
    if (!o) return CPU(b)->sgd_step(CPU(b), w, g, m, n, lr, mom, wd, nest, first, sv);
    o->p[0] = w, o->p[1] = (void *)g, o->p[2] = m, o->i[0] = n, o->f[0] = lr, o->f[1] = mom;
    o->f[2] = wd, o->i[1] = nest, o->i[2] = first, o->p[3] = (void *)sv;
    return CT_OK;
}

static ct_status w_ema(ct_backend *b, float *avg, const float *x, int64_t n, float decay,
                       const ct_step_vars *sv) {
    rec_op *o = rec(b, R_EMA);
    if (!o) return CPU(b)->ema_update(CPU(b), avg, x, n, decay, sv);
    o->p[0] = avg, o->p[1] = (void *)x, o->i[0] = n, o->f[0] = decay, o->p[2] = (void *)sv;
    return CT_OK;
}

static ct_status w_rmsprop(ct_backend *b, float *w, const float *g, float *m, float *v,
                           float *ga, int64_t n, float lr, float alpha, float eps, float wd,
                           float mom, int centered, const ct_step_vars *sv) {
    rec_op *o = rec(b, R_RMSPROP);
    if (!o)
        return CPU(b)->rmsprop_step(CPU(b), w, g, m, v, ga, n, lr, alpha, eps, wd, mom, centered,
                                    sv);
    o->p[0] = w, o->p[1] = (void *)g, o->p[2] = m, o->p[3] = v, o->p[4] = ga, o->i[0] = n;
    o->f[0] = lr, o->f[1] = alpha, o->f[2] = eps, o->f[3] = wd, o->f[4] = mom;
    o->i[1] = centered, o->p[5] = (void *)sv;
    return CT_OK;
}

static ct_status w_adam(ct_backend *b, float *w, const float *g, float *m, float *v,
                        float *vmax, int64_t n, float lr, float b1, float b2, float eps, float wd,
                        int dec, float psi, int64_t t, const ct_step_vars *sv) {
    rec_op *o = rec(b, R_ADAM);
    if (!o)
        return CPU(b)->adam_step(CPU(b), w, g, m, v, vmax, n, lr, b1, b2, eps, wd, dec, psi, t,
                                 sv);
    o->p[5] = vmax;
    o->p[0] = w, o->p[1] = (void *)g, o->p[2] = m, o->p[3] = v, o->i[0] = n, o->f[0] = lr;
    o->f[1] = b1, o->f[2] = b2, o->f[3] = eps, o->f[4] = wd, o->i[1] = dec, o->i[2] = t;
    o->f[5] = psi;
    o->p[4] = (void *)sv;
    return CT_OK;
}

static ct_status w_conv_f(ct_backend *b, const ct_conv2d_desc *d, const float *x, const float *w,
                          const float *bias, float *y, void *ws) {
    if (rb(b)->refuse && rb(b)->recording) { /* a recording that cannot be made */
        rb(b)->refused++;
        return ct_fail(CT_ERR_DEVICE, "test recorder: conv2d_forward refused");
    }
    rec_op *o = rec(b, R_CONV_F);
    if (!o) return CPU(b)->conv2d_forward(CPU(b), d, x, w, bias, y, ws);
    o->conv = *d, o->p[0] = (void *)x, o->p[1] = (void *)w, o->p[2] = (void *)bias, o->p[3] = y;
    o->p[4] = ws;
    return CT_OK;
}

static ct_status w_conv_bd(ct_backend *b, const ct_conv2d_desc *d, const float *dy,
                           const float *w, float *dx, void *ws) {
    rec_op *o = rec(b, R_CONV_BD);
    if (!o) return CPU(b)->conv2d_backward_data(CPU(b), d, dy, w, dx, ws);
    o->conv = *d, o->p[0] = (void *)dy, o->p[1] = (void *)w, o->p[2] = dx, o->p[3] = ws;
    return CT_OK;
}

static ct_status w_conv_bf(ct_backend *b, const ct_conv2d_desc *d, const float *x,
                           const float *dy, float *dw, float *db, void *ws) {
    rec_op *o = rec(b, R_CONV_BF);
    if (!o) return CPU(b)->conv2d_backward_filter(CPU(b), d, x, dy, dw, db, ws);
    o->conv = *d, o->p[0] = (void *)x, o->p[1] = (void *)dy, o->p[2] = dw, o->p[3] = db;
    o->p[4] = ws;
    return CT_OK;
}

static ct_status w_conv_b(ct_backend *b, const ct_conv2d_desc *d, const float *x,
                          const float *dy, const float *w, float *dx, float *dw, float *db,
                          void *ws) {
    rec_op *o = rec(b, R_CONV_B);
    if (!o) return CPU(b)->conv2d_backward(CPU(b), d, x, dy, w, dx, dw, db, ws);
    o->conv = *d, o->p[0] = (void *)x, o->p[1] = (void *)dy, o->p[2] = (void *)w, o->p[3] = dx;
    o->p[4] = dw, o->p[5] = db, o->p[6] = ws;
    return CT_OK;
}

static ct_status w_maxpool_f(ct_backend *b, const ct_pool2d_desc *d, const float *x, float *y,
                             int32_t *am) {
    rec_op *o = rec(b, R_MAXPOOL_F);
    if (!o) return CPU(b)->maxpool2d_forward(CPU(b), d, x, y, am);
    o->pool = *d, o->p[0] = (void *)x, o->p[1] = y, o->p[2] = am;
    return CT_OK;
}

static ct_status w_maxpool_b(ct_backend *b, const ct_pool2d_desc *d, const float *dy,
                             const int32_t *am, float *dx) {
    rec_op *o = rec(b, R_MAXPOOL_B);
    if (!o) return CPU(b)->maxpool2d_backward(CPU(b), d, dy, am, dx);
    o->pool = *d, o->p[0] = (void *)dy, o->p[1] = (void *)am, o->p[2] = dx;
    return CT_OK;
}

static ct_status w_avgpool_f(ct_backend *b, const ct_pool2d_desc *d, const float *x, float *y) {
    rec_op *o = rec(b, R_AVGPOOL_F);
    if (!o) return CPU(b)->avgpool2d_forward(CPU(b), d, x, y);
    o->pool = *d, o->p[0] = (void *)x, o->p[1] = y;
    return CT_OK;
}

static ct_status w_avgpool_b(ct_backend *b, const ct_pool2d_desc *d, const float *dy, float *dx) {
    rec_op *o = rec(b, R_AVGPOOL_B);
    if (!o) return CPU(b)->avgpool2d_backward(CPU(b), d, dy, dx);
    o->pool = *d, o->p[0] = (void *)dy, o->p[1] = dx;
    return CT_OK;
}

static ct_status w_dropout(ct_backend *b, rec_kind kind, const float *in, float *out, int64_t n,
                           float p, uint64_t seed, uint64_t stream, uint64_t first,
                           const ct_step_vars *sv) {
    rec_op *o = rec(b, kind);
    if (!o)
        return (kind == R_DROPOUT_F ? CPU(b)->dropout_forward : CPU(b)->dropout_backward)(
            CPU(b), in, out, n, p, seed, stream, first, sv);
    o->p[0] = (void *)in, o->p[1] = out, o->i[0] = n, o->f[0] = p, o->i[1] = (int64_t)seed;
    o->i[2] = (int64_t)stream, o->i[3] = (int64_t)first, o->p[2] = (void *)sv;
    return CT_OK;
}
static ct_status w_dropout_f(ct_backend *b, const float *x, float *y, int64_t n, float p,
                             uint64_t seed, uint64_t stream, uint64_t first,
                             const ct_step_vars *sv) {
    return w_dropout(b, R_DROPOUT_F, x, y, n, p, seed, stream, first, sv);
}
static ct_status w_dropout_b(ct_backend *b, const float *dy, float *dx, int64_t n, float p,
                             uint64_t seed, uint64_t stream, uint64_t first,
                             const ct_step_vars *sv) {
    return w_dropout(b, R_DROPOUT_B, dy, dx, n, p, seed, stream, first, sv);
}

static ct_status w_bn_f(ct_backend *b, int train, const float *x, float *y, int64_t n, int64_t c,
                        int64_t inner, const float *g, const float *be, float eps, float mom,
                        float *rm, float *rv, float *sm, float *si) {
    rec_op *o = rec(b, R_BN_F);
    if (!o)
        return CPU(b)->batchnorm_forward(CPU(b), train, x, y, n, c, inner, g, be, eps, mom, rm,
                                         rv, sm, si);
    o->i[0] = train, o->p[0] = (void *)x, o->p[1] = y, o->i[1] = n, o->i[2] = c;
    o->i[3] = inner, o->p[2] = (void *)g, o->p[3] = (void *)be, o->f[0] = eps, o->f[1] = mom;
    o->p[4] = rm, o->p[5] = rv, o->p[6] = sm, o->p[7] = si;
    return CT_OK;
}

static ct_status w_gn_f(ct_backend *b, const float *x, float *y, int64_t n, int64_t c,
                        int64_t inner, int64_t groups, const float *g, const float *be, float eps,
                        float *sm, float *si) {
    rec_op *o = rec(b, R_GN_F);
    if (!o)
        return CPU(b)->groupnorm_forward(CPU(b), x, y, n, c, inner, groups, g, be, eps, sm, si);
    o->p[0] = (void *)x, o->p[1] = y, o->i[0] = n, o->i[1] = c, o->i[2] = inner;
    o->i[3] = groups, o->p[2] = (void *)g, o->p[3] = (void *)be, o->f[0] = eps, o->p[4] = sm;
    o->p[5] = si;
    return CT_OK;
}
static ct_status w_gn_b(ct_backend *b, const float *x, const float *dy, float *dx, int64_t n,
                        int64_t c, int64_t inner, int64_t groups, const float *g,
                        const float *sm, const float *si, float *dg, float *db) {
    rec_op *o = rec(b, R_GN_B);
    if (!o)
        return CPU(b)->groupnorm_backward(CPU(b), x, dy, dx, n, c, inner, groups, g, sm, si, dg,
                                          db);
    o->p[0] = (void *)x, o->p[1] = (void *)dy, o->p[2] = dx, o->i[0] = n, o->i[1] = c;
    o->i[2] = inner, o->i[3] = groups, o->p[3] = (void *)g, o->p[4] = (void *)sm;
    o->p[5] = (void *)si, o->p[6] = dg, o->p[7] = db;
    return CT_OK;
}
static ct_status w_bn_b(ct_backend *b, const float *x, const float *dy, float *dx, int64_t n,
                        int64_t c, int64_t inner, const float *g, const float *sm,
                        const float *si, float *dg, float *db) {
    rec_op *o = rec(b, R_BN_B);
    if (!o) return CPU(b)->batchnorm_backward(CPU(b), x, dy, dx, n, c, inner, g, sm, si, dg, db);
    o->p[0] = (void *)x, o->p[1] = (void *)dy, o->p[2] = dx, o->i[0] = n, o->i[1] = c;
    o->i[2] = inner, o->p[3] = (void *)g, o->p[4] = (void *)sm, o->p[5] = (void *)si;
    o->p[6] = dg, o->p[7] = db;
    return CT_OK;
}

static ct_status w_sumsq(ct_backend *b, const float *x, int64_t n, double *out) {
    rec_op *o = rec(b, R_SUMSQ);
    if (!o) return CPU(b)->sumsq(CPU(b), x, n, out);
    o->p[0] = (void *)x, o->i[0] = n, o->p[1] = out;
    return CT_OK;
}

static ct_status w_clip(ct_backend *b, float *x, int64_t n, const double *parts, int np,
                        float max_norm) {
    rec_op *o = rec(b, R_CLIP);
    if (!o) return CPU(b)->clip_scale(CPU(b), x, n, parts, np, max_norm);
    o->p[0] = x, o->i[0] = n, o->p[1] = (void *)parts, o->i[1] = np, o->f[0] = max_norm;
    return CT_OK;
}

static ct_status w_memset0(ct_backend *b, void *p, size_t bytes) {
    rec_op *o = rec(b, R_MEMSET0);
    if (!o) return CPU(b)->memset0(CPU(b), p, bytes);
    o->p[0] = p, o->i[0] = (int64_t)bytes;
    return CT_OK;
}

static ct_status w_d2d(ct_backend *b, void *dst, const void *src, size_t bytes) {
    rec_op *o = rec(b, R_D2D);
    if (!o) return CPU(b)->d2d(CPU(b), dst, src, bytes);
    o->p[0] = dst, o->p[1] = (void *)src, o->i[0] = (int64_t)bytes;
    return CT_OK;
}

/* What a CUDA stream capture cannot hold: refused while recording (a failed test). */
static ct_status refuse_recorded(ct_backend *b, const char *op) {
    if (!rb(b)->recording) return CT_OK;
    fail_msg("%s called while a step was being recorded", op);
    return CT_ERR_INVALID;
}
static ct_status w_h2d(ct_backend *b, void *dst, const void *src, size_t bytes) {
    CT_TRY(refuse_recorded(b, "h2d"));
    return CPU(b)->h2d(CPU(b), dst, src, bytes);
}
static ct_status w_d2h(ct_backend *b, void *dst, const void *src, size_t bytes) {
    CT_TRY(refuse_recorded(b, "d2h"));
    return CPU(b)->d2h(CPU(b), dst, src, bytes);
}
static ct_status w_h2d_async(ct_backend *b, void *dst, const void *src, size_t bytes, int slot) {
    CT_TRY(refuse_recorded(b, "h2d_async"));
    return CPU(b)->h2d_async(CPU(b), dst, src, bytes, slot);
}
static ct_status w_sync(ct_backend *b) {
    CT_TRY(refuse_recorded(b, "sync"));
    return CPU(b)->sync(CPU(b));
}
static ct_status w_alloc(ct_backend *b, size_t bytes, void **out) {
    CT_TRY(refuse_recorded(b, "alloc"));
    return CPU(b)->alloc(CPU(b), bytes, out);
}
/* the streamed path's events and the rest of memory management: none inside a recording */
static ct_status w_compute_mark(ct_backend *b, int slot) {
    CT_TRY(refuse_recorded(b, "compute_mark"));
    return CPU(b)->compute_mark(CPU(b), slot);
}
static ct_status w_wait_copy(ct_backend *b, int slot) {
    CT_TRY(refuse_recorded(b, "wait_copy"));
    return CPU(b)->wait_copy(CPU(b), slot);
}
static ct_status w_copy_done(ct_backend *b, int slot) {
    CT_TRY(refuse_recorded(b, "copy_done"));
    return CPU(b)->copy_done(CPU(b), slot);
}
static ct_status w_host_alloc(ct_backend *b, size_t bytes, void **out) {
    CT_TRY(refuse_recorded(b, "host_alloc"));
    return CPU(b)->host_alloc(CPU(b), bytes, out);
}
static void w_free(ct_backend *b, void *p) {
    (void)refuse_recorded(b, "free");
    CPU(b)->free(CPU(b), p);
}
static ct_status w_mem_info(ct_backend *b, size_t *free_bytes, size_t *total_bytes) {
    CT_TRY(refuse_recorded(b, "mem_info"));
    if (!CPU(b)->mem_info) return ct_fail(CT_ERR_DEVICE, "no mem_info");
    return CPU(b)->mem_info(CPU(b), free_bytes, total_bytes);
}

static ct_status w_add_into(ct_backend *b, float *dst, const float *src, int64_t n) {
    rec_op *o = rec(b, R_ADD_INTO);
    if (!o) return CPU(b)->add_into(CPU(b), dst, src, n);
    o->p[0] = dst, o->p[1] = (void *)src, o->i[0] = n;
    return CT_OK;
}

static ct_status w_fill(ct_backend *b, float *dst, float value, int64_t n) {
    rec_op *o = rec(b, R_FILL);
    if (!o) return CPU(b)->fill(CPU(b), dst, value, n);
    o->p[0] = dst, o->f[0] = value, o->i[0] = n;
    return CT_OK;
}

static ct_status w_scale_rows(ct_backend *b, const float *x, const float *s, const float *add,
                              float *y, int64_t rows, int64_t cols) {
    rec_op *o = rec(b, R_SCALE_ROWS);
    if (!o) return CPU(b)->scale_rows(CPU(b), x, s, add, y, rows, cols);
    o->p[0] = (void *)x, o->p[1] = (void *)s, o->p[2] = (void *)add, o->p[3] = y;
    o->i[0] = rows, o->i[1] = cols;
    return CT_OK;
}

static ct_status w_gemm_batched(ct_backend *b, int ta, int tb, int M, int N, int K,
                                float alpha, const float *A, int lda, int64_t sa, const float *B,
                                int ldb, int64_t sb, float beta, float *C, int ldc, int64_t sc,
                                int batch) {
    rec_op *o = rec(b, R_GEMM_BATCHED);
    if (!o)
        return CPU(b)->gemm_batched(CPU(b), ta, tb, M, N, K, alpha, A, lda, sa, B, ldb, sb, beta,
                                    C, ldc, sc, batch);
    const int64_t ints[12] = {ta, tb, M, N, K, lda, sa, ldb, sb, ldc, sc, batch};
    memcpy(o->i, ints, sizeof ints);
    o->p[0] = (void *)A, o->p[1] = (void *)B, o->p[2] = C, o->f[0] = alpha, o->f[1] = beta;
    return CT_OK;
}

static ct_status w_softmax(ct_backend *b, const float *x, float *y, int64_t rows, int64_t cols) {
    rec_op *o = rec(b, R_SOFTMAX);
    if (!o) return CPU(b)->softmax_rows(CPU(b), x, y, rows, cols);
    o->p[0] = (void *)x, o->p[1] = y, o->i[0] = rows, o->i[1] = cols;
    return CT_OK;
}

static ct_status w_softmax_b(ct_backend *b, const float *y, const float *dy, float *dx,
                             int64_t rows, int64_t cols) {
    rec_op *o = rec(b, R_SOFTMAX_B);
    if (!o) return CPU(b)->softmax_rows_backward(CPU(b), y, dy, dx, rows, cols);
    o->p[0] = (void *)y, o->p[1] = (void *)dy, o->p[2] = dx, o->i[0] = rows, o->i[1] = cols;
    return CT_OK;
}

static ct_status w_transpose(ct_backend *b, const float *x, float *y, int64_t batch,
                             int64_t rows, int64_t cols) {
    rec_op *o = rec(b, R_TRANSPOSE);
    if (!o) return CPU(b)->transpose(CPU(b), x, y, batch, rows, cols);
    o->p[0] = (void *)x, o->p[1] = y, o->i[0] = batch, o->i[1] = rows, o->i[2] = cols;
    return CT_OK;
}

static ct_status w_copy2d(ct_backend *b, float *dst, int64_t ldd, const float *src, int64_t lds,
                          int64_t rows, int64_t cols) {
    rec_op *o = rec(b, R_COPY2D);
    if (!o) return CPU(b)->copy2d(CPU(b), dst, ldd, src, lds, rows, cols);
    o->p[0] = dst, o->p[1] = (void *)src, o->i[0] = ldd, o->i[1] = lds, o->i[2] = rows;
    o->i[3] = cols;
    return CT_OK;
}

static ct_status w_dot_rows(ct_backend *b, const float *x, const float *y, float *out,
                            int64_t rows, int64_t cols, float alpha) {
    rec_op *o = rec(b, R_DOT_ROWS);
    if (!o) return CPU(b)->dot_rows(CPU(b), x, y, out, rows, cols, alpha);
    o->p[0] = (void *)x, o->p[1] = (void *)y, o->p[2] = out;
    o->i[0] = rows, o->i[1] = cols, o->f[0] = alpha;
    return CT_OK;
}

/* Runs one recorded op with its recorded arguments. */
static ct_status replay(ct_backend *c, const rec_op *o) {
    const ct_augment *aug = o->has_aug ? &o->aug : NULL;
    void *const *p = o->p;
    const int64_t *i = o->i;
    const double *f = o->f;
    switch (o->kind) {
    case R_GATHER:
        return c->gather_u8(c, p[0], p[1], p[2], i[0], i[1], (float)f[0], aug, p[3], p[4], p[5],
                            p[6]);
    case R_STEP_LOAD: return c->step_load(c, p[0], p[1], p[2]);
    case R_GEMM:
        return c->gemm(c, (int)i[0], (int)i[1], (int)i[2], (int)i[3], (int)i[4], (float)f[0],
                       p[0], (int)i[5], p[1], (int)i[6], (float)f[1], p[2], (int)i[7]);
    case R_BIAS_ADD: return c->bias_add(c, p[0], p[1], i[0], i[1], i[2]);
    case R_BIAS_GRAD: return c->bias_grad(c, p[0], p[1], i[0], i[1], i[2]);
    case R_ACT_F: return c->act_forward(c, (ct_act)i[0], (float)f[0], p[0], p[1], i[1]);
    case R_ACT_B:
        return c->act_backward(c, (ct_act)i[0], (float)f[0], p[0], p[1], p[2], p[3], i[1]);
    case R_XENT:
        return c->xent(c, p[0], p[1], i[0], (int)i[1], (float)f[0], (float)f[1], p[4], p[5], p[6],
                       p[2], p[3]);
    case R_SGD:
        return c->sgd_step(c, p[0], p[1], p[2], i[0], (float)f[0], (float)f[1], (float)f[2],
                           (int)i[1], (int)i[2], p[3]);
    case R_ADAM:
        return c->adam_step(c, p[0], p[1], p[2], p[3], p[5], i[0], (float)f[0], (float)f[1],
                            (float)f[2], (float)f[3], (float)f[4], (int)i[1], (float)f[5], i[2],
                            p[4]);
    case R_CONV_F: return c->conv2d_forward(c, &o->conv, p[0], p[1], p[2], p[3], p[4]);
    case R_CONV_BD: return c->conv2d_backward_data(c, &o->conv, p[0], p[1], p[2], p[3]);
    case R_CONV_BF: return c->conv2d_backward_filter(c, &o->conv, p[0], p[1], p[2], p[3], p[4]);
    case R_CONV_B:
        return c->conv2d_backward(c, &o->conv, p[0], p[1], p[2], p[3], p[4], p[5], p[6]);
    case R_MAXPOOL_F: return c->maxpool2d_forward(c, &o->pool, p[0], p[1], p[2]);
    case R_MAXPOOL_B: return c->maxpool2d_backward(c, &o->pool, p[0], p[1], p[2]);
    case R_AVGPOOL_F: return c->avgpool2d_forward(c, &o->pool, p[0], p[1]);
    case R_AVGPOOL_B: return c->avgpool2d_backward(c, &o->pool, p[0], p[1]);
    case R_DROPOUT_F:
    case R_DROPOUT_B:
        return (o->kind == R_DROPOUT_F ? c->dropout_forward : c->dropout_backward)(
            c, p[0], p[1], i[0], (float)f[0], (uint64_t)i[1], (uint64_t)i[2], (uint64_t)i[3], p[2]);
    case R_BN_F:
        return c->batchnorm_forward(c, (int)i[0], p[0], p[1], i[1], i[2], i[3], p[2], p[3],
                                    (float)f[0], (float)f[1], p[4], p[5], p[6], p[7]);
    case R_BN_B:
        return c->batchnorm_backward(c, p[0], p[1], p[2], i[0], i[1], i[2], p[3], p[4], p[5], p[6],
                                     p[7]);
    case R_GN_F:
        return c->groupnorm_forward(c, p[0], p[1], i[0], i[1], i[2], i[3], p[2], p[3],
                                    (float)f[0], p[4], p[5]);
    case R_GN_B:
        return c->groupnorm_backward(c, p[0], p[1], p[2], i[0], i[1], i[2], i[3], p[3], p[4],
                                     p[5], p[6], p[7]);
    case R_GEMM_BATCHED:
        return c->gemm_batched(c, (int)i[0], (int)i[1], (int)i[2], (int)i[3], (int)i[4],
                               (float)f[0], p[0], (int)i[5], i[6], p[1], (int)i[7], i[8],
                               (float)f[1], p[2], (int)i[9], i[10], (int)i[11]);
    case R_SOFTMAX: return c->softmax_rows(c, p[0], p[1], i[0], i[1]);
    case R_SOFTMAX_B: return c->softmax_rows_backward(c, p[0], p[1], p[2], i[0], i[1]);
    case R_TRANSPOSE: return c->transpose(c, p[0], p[1], i[0], i[1], i[2]);
    case R_COPY2D: return c->copy2d(c, p[0], i[0], p[1], i[1], i[2], i[3]);
    case R_SUMSQ: return c->sumsq(c, p[0], i[0], p[1]);
    case R_CLIP: return c->clip_scale(c, p[0], i[0], p[1], (int)i[1], (float)f[0]);
    case R_MEMSET0: return c->memset0(c, p[0], (size_t)i[0]);
    case R_D2D: return c->d2d(c, p[0], p[1], (size_t)i[0]);
    case R_ADD_INTO: return c->add_into(c, p[0], p[1], i[0]);
    case R_FILL: return c->fill(c, p[0], (float)f[0], i[0]);
    case R_SCALE_ROWS: return c->scale_rows(c, p[0], p[1], p[2], p[3], i[0], i[1]);
    case R_DOT_ROWS: return c->dot_rows(c, p[0], p[1], p[2], i[0], i[1], (float)f[0]);
    case R_EMA: return c->ema_update(c, p[0], p[1], i[0], (float)f[0], p[2]);
    case R_RMSPROP:
        return c->rmsprop_step(c, p[0], p[1], p[2], p[3], p[4], i[0], (float)f[0], (float)f[1],
                               (float)f[2], (float)f[3], (float)f[4], (int)i[1], p[5]);
    }
    return ct_fail(CT_ERR_INVALID, "test recorder: unknown op %d", (int)o->kind);
}

static ct_status w_graph_begin(ct_backend *b) {
    rec_backend *r = rb(b);
    if (r->recording) return ct_fail(CT_ERR_INVALID, "test recorder: already recording");
    r->recording = 1;
    r->cur = (rec_graph){NULL, 0};
    return CT_OK;
}

static ct_status w_graph_end(ct_backend *b, void **graph) {
    rec_backend *r = rb(b);
    *graph = NULL;
    r->recording = 0;
    rec_graph *g = malloc(sizeof *g);
    assert_non_null(g);
    *g = r->cur;
    r->cur = (rec_graph){NULL, 0};
    if (r->refused) { /* as cudaStreamEndCapture after a refused call: no graph */
        free(g->ops);
        free(g);
        return ct_fail(CT_ERR_DEVICE, "test recorder: the recording was invalidated");
    }
    r->recordings++;
    *graph = g;
    return CT_OK;
}

static ct_status w_graph_launch(ct_backend *b, void *graph) {
    const rec_graph *g = graph;
    rb(b)->launches++;
    for (int k = 0; k < g->n; k++) CT_TRY(replay(CPU(b), &g->ops[k]));
    return CT_OK;
}

static void w_graph_free(ct_backend *b, void *graph) {
    (void)b;
    rec_graph *g = graph;
    if (g) free(g->ops);
    free(g);
}

static void w_destroy(ct_backend *b) {
    rec_backend *r = rb(b);
    free(r->cur.ops);
    ct_backend_free(r->cpu);
    free(r);
}

ct_backend *recording_backend(int graphs, int refuse) {
    rec_backend *r = calloc(1, sizeof *r);
    assert_non_null(r);
    OK(ct_backend_create("cpu", 1, &r->cpu));
    r->base = *r->cpu; /* every other op and the memory functions are the CPU's */
    ct_backend *b = &r->base;
    b->destroy = w_destroy;
    b->gather_u8 = w_gather;
    b->step_load = w_step_load;
    b->gemm = w_gemm;
    b->bias_add = w_bias_add;
    b->bias_grad = w_bias_grad;
    b->act_forward = w_act_f;
    b->act_backward = w_act_b;
    b->xent = w_xent;
    b->sgd_step = w_sgd;
    b->adam_step = w_adam;
    b->ema_update = w_ema;
    b->rmsprop_step = w_rmsprop;
    b->conv2d_forward = w_conv_f;
    b->conv2d_backward_data = w_conv_bd;
    b->conv2d_backward = w_conv_b;
    b->conv2d_backward_filter = w_conv_bf;
    b->maxpool2d_forward = w_maxpool_f;
    b->maxpool2d_backward = w_maxpool_b;
    b->avgpool2d_forward = w_avgpool_f;
    b->avgpool2d_backward = w_avgpool_b;
    b->dropout_forward = w_dropout_f;
    b->dropout_backward = w_dropout_b;
    b->batchnorm_forward = w_bn_f;
    b->batchnorm_backward = w_bn_b;
    b->groupnorm_forward = w_gn_f;
    b->groupnorm_backward = w_gn_b;
    b->gemm_batched = w_gemm_batched;
    b->softmax_rows = w_softmax;
    b->softmax_rows_backward = w_softmax_b;
    b->transpose = w_transpose;
    b->copy2d = w_copy2d;
    b->sumsq = w_sumsq;
    b->clip_scale = w_clip;
    b->memset0 = w_memset0;
    b->d2d = w_d2d;
    b->add_into = w_add_into;
    b->fill = w_fill;
    b->scale_rows = w_scale_rows;
    b->dot_rows = w_dot_rows;
    b->h2d = w_h2d;
    b->d2h = w_d2h;
    b->h2d_async = w_h2d_async;
    b->sync = w_sync;
    b->alloc = w_alloc;
    b->compute_mark = w_compute_mark;
    b->wait_copy = w_wait_copy;
    b->copy_done = w_copy_done;
    b->host_alloc = w_host_alloc;
    b->free = w_free;
    if (CPU(b)->mem_info) b->mem_info = w_mem_info;
    if (graphs) {
        b->graph_begin = w_graph_begin;
        b->graph_end = w_graph_end;
        b->graph_launch = w_graph_launch;
        b->graph_free = w_graph_free;
    }
    r->refuse = refuse;
    return b;
}

void recording_counts(ct_backend *b, int *recordings, int *launches, int *refused) {
    *recordings = rb(b)->recordings;
    *launches = rb(b)->launches;
    *refused = rb(b)->refused;
}
