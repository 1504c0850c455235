/*
 * test_mlp_kernels.cu — the fused MLP step's kernels (src/backend/cuda/cuda_mlp_kernels.cuh) run
 * on the host, block by block and thread by thread, against a double-precision step.
 *
 * The kernels' bodies are written as phases (CT_PHASE) that the host runs thread after thread;
 * this checks their indexing, their shared-memory layout, the partial last block, the sums and
 * the SGD update on any machine, without a GPU. Then the CPU backend is given the emulated
 * step as its mlp_step, so that ct_fit's fused path (which only a GPU takes) trains a whole
 * run here and is compared with the layers' ops. On a GPU the same bodies run as kernels
 * (test_nn_train trains the MLP fused and op by op and compares).
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The order the host plays a block's threads in and runs a phase's blocks in: 0 ascending,
 * 1 descending, 2 strided (t = (97 i + 5) mod nt, a permutation: 97 is a prime that divides
 * none of the thread counts here). On a GPU threads and blocks run in any order: a phase
 * whose results depend on the order is a race (run_config compares the orders bit for bit). */
static int g_order = 0;
static inline int play_order(int i, int n) {
    return g_order == 0 ? i : g_order == 1 ? n - 1 - i : (int)((97LL * i + 5) % n);
}
#define CT_MLP_THREAD_ORDER(i, nt) play_order(i, nt)

extern "C" { /* C headers without guards of their own */
#include "backend/backend.h"
#include "core/core.h"
}
#include "backend/cuda/cuda_mlp_kernels.cuh"
#include "ctrain.h"

static int failures = 0;

#define CHECK(cond, ...)                                                                       \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            printf("FAIL %s:%d: ", __FILE__, __LINE__);                                        \
            printf(__VA_ARGS__);                                                               \
            printf("\n");                                                                      \
            failures++;                                                                        \
        }                                                                                      \
    } while (0)

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint32_t rnd(void) { /* xorshift64*: the test's own data */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint32_t)((rng_state * 0x2545F4914F6CDD1Dull) >> 32);
}
static float uniform(float lo, float hi) { return lo + (hi - lo) * (float)(rnd() >> 8) / 16777216.0f; }

typedef struct {
    int64_t n;
    int in, hidden, classes;
    int nt;                   /* threads per block the host plays */
    float momentum, wd;
    int nesterov;
    int steps;                /* consecutive steps: descriptor, sv, then the step table */
    ct_optimizer_kind opt;    /* Adam/AdamW: betas 0.9, 0.999, eps 1e-8; wd as weight decay */
    int rb;                   /* rows per row item of phase B */
    float smoothing;          /* label smoothing (0 where not given) */
    int weighted;             /* 1: class weights (class_weight_of), Keras' class_weight */
} config;

/* The class weights of a weighted config or fit: in [0.25, 1.75], class 1's 0. */
static float class_weight_of(int c) { return c == 1 ? 0.0f : 0.25f + 0.5f * (float)(c % 4); }

/* One step of the MLP in double, with the same order of operations as PyTorch's optimizers
 * (Adam's factors from the float ones the op is given, as ct_adam_factors makes them). */
static void reference_step(const ct_mlp_step_desc *d, int64_t pos, float lr, float mom,
                           int first, float step_size, float bc2_sqrt, double *w, double *m,
                           double *v, double stats[2]) {
    const int K = d->in, H = d->hidden, C = d->classes;
    const int64_t n = d->n, P = (int64_t)H * K + H + (int64_t)C * H + C;
    double *g = (double *)calloc((size_t)P, sizeof(double));
    double *x = (double *)malloc(sizeof(double) * (size_t)K);
    double *z1 = (double *)malloc(sizeof(double) * (size_t)H);
    double *z2 = (double *)malloc(sizeof(double) * (size_t)C);
    double *dz1 = (double *)malloc(sizeof(double) * (size_t)H);
    double *W1 = w, *B1 = w + (int64_t)H * K, *W2 = B1 + H, *B2 = W2 + (int64_t)C * H;
    double *gW1 = g, *gB1 = g + (int64_t)H * K, *gW2 = gB1 + H, *gB2 = gW2 + (int64_t)C * H;
    for (int64_t i = 0; i < n; i++) {
        int32_t row = d->idx[pos + i];
        int y = d->labels[row];
        for (int k = 0; k < K; k++) x[k] = (double)(d->scale * (float)d->images[(int64_t)row * K + k]);
        for (int j = 0; j < H; j++) {
            double s = B1[j];
            for (int k = 0; k < K; k++) s += W1[(int64_t)j * K + k] * x[k];
            z1[j] = s;
        }
        double zmax = -INFINITY;
        int arg = 0;
        for (int c = 0; c < C; c++) {
            double s = B2[c];
            for (int j = 0; j < H; j++) s += W2[(int64_t)c * H + j] * (z1[j] > 0 ? z1[j] : 0.0);
            z2[c] = s;
            if (s > zmax) { zmax = s; arg = c; }
        }
        double sum = 0.0;
        for (int c = 0; c < C; c++) sum += exp(z2[c] - zmax);
        stats[1] += arg == y;
        for (int j = 0; j < H; j++) dz1[j] = 0.0;
        double wy = d->class_weights ? d->class_weights[y] : 1.0; /* (host memory here) */
        for (int c = 0; c < C; c++) { /* the target: (1 - s) onehot + s / C */
            double target = (1.0 - d->smoothing) * (c == y ? 1.0 : 0.0) + d->smoothing / C;
            stats[0] -= wy * target * (z2[c] - zmax - log(sum));
            double dz = wy * d->grad_scale * (exp(z2[c] - zmax) / sum - target);
            gB2[c] += dz;
            for (int j = 0; j < H; j++) {
                gW2[(int64_t)c * H + j] += dz * (z1[j] > 0 ? z1[j] : 0.0);
                dz1[j] += dz * W2[(int64_t)c * H + j];
            }
        }
        for (int j = 0; j < H; j++) {
            double dj = z1[j] > 0 ? dz1[j] : 0.0;
            gB1[j] += dj;
            for (int k = 0; k < K; k++) gW1[(int64_t)j * K + k] += dj * x[k];
        }
    }
    for (int64_t p = 0; p < P; p++) {
        if (d->opt != CT_SGD) {
            int decoupled = d->opt == CT_ADAMW;
            double gi = g[p] + (decoupled ? 0.0 : d->weight_decay * w[p]);
            if (decoupled) w[p] *= 1.0 - (double)lr * d->weight_decay;
            m[p] = mom * m[p] + (1.0 - (double)mom) * gi;
            v[p] = d->beta2 * v[p] + (1.0 - d->beta2) * gi * gi;
            w[p] -= step_size * (m[p] / (sqrt(v[p]) / bc2_sqrt + d->eps));
            continue;
        }
        double dv = g[p] + d->weight_decay * w[p];
        if (d->momentum != 0.0f && mom != 0.0f) { /* (a step at momentum 0: m left alone) */
            m[p] = first ? dv : mom * m[p] + dv;
            dv = d->nesterov ? dv + mom * m[p] : m[p];
        }
        w[p] -= lr * dv;
    }
    free(g), free(x), free(z1), free(z2), free(dz1);
}

/* `steps` steps (more than one: from the table at the cursor) the way cuda_mlp.cu launches
 * them: coop 0, three launches a step (mlp_phase_{a,b,c}_kernel); coop 1, as the cooperative
 * kernel, where C's item kb of one step may run before A's item kb of the next and before C's
 * later items (so this runs each A item of the next step right after that C item). Shared
 * memory is NaN at each item's start: a read before a write shows. */
static void emulate(const ct_mlp_args &a, int nt, int steps, int coop) {
    const ct_mlp_step_desc &d = a.d;
    const size_t bytes = ct_mlp_smem(d.hidden, d.classes);
    const int cols = ct_mlp_col_items(d.in);
    const int64_t rows = ct_mlp_row_items(d.n, a.rb);
    float *smem = (float *)malloc(bytes);
#define FRESH memset(smem, 0xff, bytes)
    if (!coop) {
        for (int s = 0; s < steps; s++) {
            const ct_step_vars *sv = d.table ? d.table + *d.cursor : a.sv;
            if (d.table) *d.cur = *sv;
            const ct_mlp_vars va = ct_mlp_vars_of(d, sv);
            for (int i = 0; i < cols; i++)
                FRESH, ct_mlp_phase_a(a, va, play_order(i, cols), nt, smem);
            const ct_mlp_vars v = ct_mlp_vars_of(d, d.table ? d.cur : a.sv);
            for (int64_t i = 0; i < rows; i++)
                FRESH, ct_mlp_phase_b(a, v, play_order((int)i, (int)rows), nt, smem);
            for (int i = 0; i <= cols; i++)
                FRESH, ct_mlp_phase_c(a, v, play_order(i, cols + 1), nt, smem, -1, NULL);
        }
    } else {
        const int64_t c0 = d.table ? *d.cursor : 0;
        const ct_step_vars *sv = d.table ? d.table + c0 : a.sv;
        for (int i = 0; i < cols; i++)
            FRESH, ct_mlp_phase_a(a, ct_mlp_vars_of(d, sv), play_order(i, cols), nt, smem);
        for (int s = 0; s < steps; s++) {
            sv = d.table ? d.table + c0 + s : a.sv;
            const ct_mlp_vars v = ct_mlp_vars_of(d, sv);
            for (int64_t i = 0; i < rows; i++)
                FRESH, ct_mlp_phase_b(a, v, play_order((int)i, (int)rows), nt, smem);
            for (int i = 0; i <= cols; i++) {
                const int kb = play_order(i, cols + 1);
                FRESH, ct_mlp_phase_c(a, v, kb, nt, smem, d.table ? c0 + s + 1 : -1, sv);
                if (s + 1 < steps && kb < cols)
                    FRESH, ct_mlp_phase_a(a, ct_mlp_vars_of(d, sv + 1), kb, nt, smem);
            }
        }
    }
#undef FRESH
    free(smem);
}

/* The config's steps through the phases, launched as cuda_mlp.cu does in mode coop (see
 * emulate) from the weights w0: the first step from the descriptor, the second from sv, the
 * rest as one run from the step table. Leaves the weights, m, v and stats in w, m, v, stats. */
static void run_mode(const config *c, const ct_mlp_step_desc *d0, const float *w0, int64_t P,
                     ct_step_vars *table, int coop, float *w, float *m, float *v, double *stats) {
    memcpy(w, w0, sizeof(float) * (size_t)P);
    memset(m, 0, sizeof(float) * (size_t)P);
    memset(v, 0, sizeof(float) * (size_t)P);
    stats[0] = stats[1] = 0.0;
    ct_mlp_step_desc d = *d0;
    d.w = w;
    d.m = c->opt != CT_SGD || c->momentum != 0.0f ? m : NULL;
    d.v = c->opt != CT_SGD ? v : NULL;
    d.stats = stats;
    for (int s = 0; s < c->steps;) {
        ct_step_vars cur;
        memset(&cur, 0xff, sizeof cur);
        int64_t cursor = s;
        ct_mlp_step_desc ds = d;
        const ct_step_vars *sv = NULL;
        int run = 1;
        if (s == 0) { /* from the descriptor */
            ds.pos = table[0].pos, ds.lr = table[0].lr, ds.first = 1;
            ds.adam_step_size = table[0].adam_step_size;
            ds.adam_bc2_sqrt = table[0].adam_bc2_sqrt;
        } else { /* the descriptor's must not be read */
            ds.pos = -1, ds.lr = NAN, ds.first = 1, ds.adam_step_size = NAN;
            ds.adam_bc2_sqrt = NAN, ds.beta1 = NAN;
            if (c->opt == CT_SGD && c->momentum != 0.0f) ds.momentum = NAN;
            if (s == 1) sv = &table[1];
            else ds.table = table, ds.cursor = &cursor, ds.cur = &cur, run = c->steps - s;
        }
        ds.steps = run;
        emulate(ct_mlp_make_args(&ds, sv, c->rb), c->nt, run, coop);
        if (ds.table) {
            CHECK(cursor == s + run, "%s, steps %d..%d: the cursor is %lld after them",
                  coop ? "cooperative" : "phases", s, s + run - 1, (long long)cursor);
            CHECK(memcmp(&cur, &table[s + run - 1], sizeof cur) == 0,
                  "steps %d..%d: cur is not the last step's row", s, s + run - 1);
        }
        s += run;
    }
}

static void run_config(const config *c) {
    const int K = c->in, H = c->hidden, C = c->classes;
    const int64_t count = 3 * c->n + 5, P = (int64_t)H * K + H + (int64_t)C * H + C;
    uint8_t *images = (uint8_t *)malloc((size_t)(count * K));
    uint8_t *labels = (uint8_t *)malloc((size_t)count);
    int32_t *idx = (int32_t *)malloc(sizeof(int32_t) * (size_t)count);
    for (int64_t i = 0; i < count * K; i++) images[i] = (uint8_t)(rnd() % 256);
    for (int64_t i = 0; i < count; i++) labels[i] = (uint8_t)(rnd() % (uint32_t)C);
    for (int64_t i = 0; i < count; i++) idx[i] = (int32_t)i;
    for (int64_t i = count - 1; i > 0; i--) { /* a shuffled order */
        int64_t j = rnd() % (uint32_t)(i + 1);
        int32_t t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
    float *w0 = (float *)malloc(sizeof(float) * (size_t)P);
    float *w[2], *m[2], *v[2];
    for (int k = 0; k < 2; k++) {
        w[k] = (float *)malloc(sizeof(float) * (size_t)P);
        m[k] = (float *)malloc(sizeof(float) * (size_t)P);
        v[k] = (float *)malloc(sizeof(float) * (size_t)P);
    }
    double *wr = (double *)malloc(sizeof(double) * (size_t)P);
    double *mr = (double *)calloc((size_t)P, sizeof(double));
    double *vr = (double *)calloc((size_t)P, sizeof(double));
    float bound1 = 1.0f / sqrtf((float)K), bound2 = 1.0f / sqrtf((float)H);
    for (int64_t p = 0; p < P; p++) {
        w0[p] = p < (int64_t)H * K + H ? uniform(-bound1, bound1) : uniform(-bound2, bound2);
        wr[p] = w0[p];
    }
    double stats[2][2], stats_ref[2] = {0.0, 0.0};
    float *ws = (float *)malloc(sizeof(float) * (size_t)ct_mlp_ws_floats(c->n, K, H, C));
    ct_step_vars table[8];
    memset(table, 0, sizeof table);

    ct_mlp_step_desc d;
    memset(&d, 0, sizeof d);
    d.n = c->n;
    d.in = K, d.hidden = H, d.classes = C;
    d.images = images, d.labels = labels, d.idx = idx;
    d.scale = 1.0f / 255.0f;
    d.grad_scale = 1.0f / (float)c->n;
    d.smoothing = c->smoothing;
    float weights[CT_MLP_MAX_CLASSES];
    for (int k = 0; k < C; k++) weights[k] = class_weight_of(k);
    d.class_weights = c->weighted ? weights : NULL;
    d.opt = c->opt;
    d.momentum = c->momentum, d.weight_decay = c->wd, d.nesterov = c->nesterov;
    d.beta1 = 0.9f, d.beta2 = 0.999f, d.eps = 1e-8f;
    d.ws = ws;
    for (int s = 0; s < c->steps; s++) { /* a different batch, lr and momentum each step (as
                                           * OneCycleLR cycles them; step 0: the descriptor's) */
        table[s].pos = (s * 7 + 1) % (count - c->n + 1);
        table[s].lr = (c->opt == CT_SGD ? 0.5f : 0.01f) / (float)(s + 1);
        table[s].momentum = c->opt == CT_SGD ? (s == 2 ? 0.0f : c->momentum * (1.0f - 0.03f * (float)s))
                                             : d.beta1 - 0.02f * (float)s;
        table[s].first = 0;
        ct_adam_factors(table[s].lr, table[s].momentum, d.beta2, s + 1,
                        &table[s].adam_step_size, &table[s].adam_bc2_sqrt);
        reference_step(&d, table[s].pos, table[s].lr, table[s].momentum, s == 0,
                       table[s].adam_step_size, table[s].adam_bc2_sqrt, wr, mr, vr, stats_ref);
    }
    for (int coop = 0; coop < 2; coop++)
        run_mode(c, &d, w0, P, table, coop, w[coop], m[coop], v[coop], stats[coop]);
    const int with_m = c->opt != CT_SGD || c->momentum != 0.0f, with_v = c->opt != CT_SGD;
    /* threads and blocks in other orders: the same bits (no phase reads what another thread
     * or block writes in it) */
    float *wo = (float *)malloc(sizeof(float) * (size_t)P), *mo = (float *)malloc(sizeof(float) * (size_t)P);
    float *vo = (float *)malloc(sizeof(float) * (size_t)P);
    for (g_order = 1; g_order <= 2; g_order++)
        for (int coop = 0; coop < 2; coop++) {
            double so[2];
            run_mode(c, &d, w0, P, table, coop, wo, mo, vo, so);
            CHECK(memcmp(wo, w[1], sizeof(float) * (size_t)P) == 0 &&
                      (!with_m || memcmp(mo, m[1], sizeof(float) * (size_t)P) == 0) &&
                      (!with_v || memcmp(vo, v[1], sizeof(float) * (size_t)P) == 0) &&
                      so[0] == stats[1][0] && so[1] == stats[1][1],
                  "%s, threads and blocks %s: not the bits of the ascending order",
                  coop ? "cooperative" : "three launches a step",
                  g_order == 1 ? "descending" : "strided");
        }
    g_order = 0;
    free(wo), free(mo), free(vo);
    CHECK(memcmp(w[0], w[1], sizeof(float) * (size_t)P) == 0 &&
              (!with_m || memcmp(m[0], m[1], sizeof(float) * (size_t)P) == 0) &&
              (!with_v || memcmp(v[0], v[1], sizeof(float) * (size_t)P) == 0) &&
              stats[0][0] == stats[1][0] && stats[0][1] == stats[1][1],
          "three launches a step and the cooperative kernel differ");
    double worst = 0.0;
    int64_t worst_p = 0, off = 0;
    for (int64_t p = 0; p < P; p++) {
        double err = fabs((double)w[1][p] - wr[p]) / (1e-3 + fabs(wr[p]));
        if (!(err <= worst)) worst = err, worst_p = p;
        off += !(err < 1e-3);
        if (with_m) {
            double em = fabs((double)m[1][p] - mr[p]) / (1e-3 + fabs(mr[p]));
            CHECK(em < 1e-3, "momentum[%lld] %g vs %g", (long long)p, (double)m[1][p], mr[p]);
            if (!(em < 1e-3)) break;
        }
        if (with_v) {
            double ev = fabs((double)v[1][p] - vr[p]) / (1e-9 + fabs(vr[p]));
            CHECK(ev < 1e-3, "exp_avg_sq[%lld] %g vs %g", (long long)p, (double)v[1][p], vr[p]);
            if (!(ev < 1e-3)) break;
        }
    }
    printf("%s n %lld in %d hidden %d classes %d threads %d rows/item %d momentum %g wd %g "
           "nesterov %d smoothing %g%s steps %d: worst relative error of the weights %.2e (param %lld), loss "
           "%.6f vs %.6f, hits %g vs %g\n",
           c->opt == CT_SGD ? "sgd" : c->opt == CT_ADAM ? "adam" : "adamw", (long long)c->n, K,
           H, C, c->nt, c->rb, (double)c->momentum, (double)c->wd, c->nesterov,
           (double)c->smoothing, c->weighted ? " class weights" : "", c->steps, worst,
           (long long)worst_p, stats[1][0], stats_ref[0], stats[1][1], stats_ref[1]);
    /* Adam divides m by sqrt(v): a weight whose gradients are as small as their rounding moves
     * by up to lr either way, so a few such weights may differ (m and v are checked above) */
    int64_t allowed = c->opt == CT_SGD ? 0 : P / 1000;
    if (off) printf("  %lld of %lld weights off by more than 1e-3 (%lld allowed)\n", (long long)off,
                    (long long)P, (long long)allowed);
    CHECK(off <= allowed && worst < (c->opt == CT_SGD ? 1e-3 : 1e-1),
          "weights differ from the double-precision step");
    CHECK(fabs(stats[1][0] - stats_ref[0]) < 1e-4 * (1.0 + fabs(stats_ref[0])),
          "loss sum %g vs %g", stats[1][0], stats_ref[0]);
    CHECK(stats[1][1] == stats_ref[1], "correct count %g vs %g", stats[1][1], stats_ref[1]);
    free(images), free(labels), free(idx), free(w0), free(wr), free(mr), free(vr), free(ws);
    for (int k = 0; k < 2; k++) free(w[k]), free(m[k]), free(v[k]);
}

/* A label outside the classes makes the batch's loss NaN instead of passing unnoticed. */
static void bad_label_is_nan(void) {
    const int K = 5, H = 3, C = 2;
    uint8_t images[2 * K], labels[2] = {1, 7};
    int32_t idx[2] = {0, 1};
    float w[H * K + H + C * H + C];
    for (int i = 0; i < (int)(sizeof w / sizeof w[0]); i++) w[i] = 0.1f;
    memset(images, 9, sizeof images);
    double stats[2] = {0.0, 0.0};
    float ws[128];
    ct_mlp_step_desc d;
    memset(&d, 0, sizeof d);
    d.n = 2, d.in = K, d.hidden = H, d.classes = C;
    d.images = images, d.labels = labels, d.idx = idx;
    d.scale = 1.0f, d.grad_scale = 0.5f, d.w = w, d.lr = 0.0f, d.stats = stats, d.ws = ws;
    CHECK(ct_mlp_ws_floats(2, K, H, C) <= 128, "workspace of %lld floats",
          (long long)ct_mlp_ws_floats(2, K, H, C));
    emulate(ct_mlp_make_args(&d, NULL, 1), 64, 1, 1);
    CHECK(isnan(stats[0]), "a label >= classes gave the loss %g, not NaN", stats[0]);
}

/* ------------------------------------------------------------------------------------------ */
/* ct_fit's fused path on the CPU, through the emulated kernels                                 */

static size_t emu_workspace(ct_backend *b, const ct_mlp_step_desc *d) {
    (void)b;
    return ct_mlp_workspace_bytes(d);
}

static int emu_steps = 0, emu_launches = 0;
static ct_status emu_step(ct_backend *b, const ct_mlp_step_desc *d, const ct_step_vars *sv) {
    (void)b;
    if (!ct_mlp_workspace_bytes(d)) return ct_fail(CT_ERR_INVALID, "emu_step: bad shape");
    int steps = d->steps > 1 ? d->steps : 1;
    /* rows per row item as cuda_mlp.cu picks them for a cooperative grid of 132 blocks */
    emulate(ct_mlp_make_args(d, sv, (int)((d->n + 131) / 132)), CT_MLP_THREADS, steps, 1);
    emu_steps += steps;
    emu_launches++;
    return CT_OK;
}

#define FIT_N 300 /* images of 1x12x12: 200 to train (3 batches of 64 and one of 8), 100 to check */

typedef struct {
    ct_epoch_result hist[3];
    float *params;
    int64_t P;
    char note[128];
    int steps;    /* emulated steps run */
    int launches; /* mlp_step calls */
} fit_run;

static void fit(ct_dataset *ds, int fused, int clip, ct_optimizer_kind opt, float smoothing,
                int weighted, fit_run *out) {
    ct_backend *b = NULL;
    ct_model *m = NULL;
    if (ct_backend_create("cpu", 1, &b) != CT_OK) {
        CHECK(0, "cpu backend: %s", ct_last_error());
        return;
    }
    if (fused) {
        b->mlp_workspace = emu_workspace;
        b->mlp_step = emu_step;
    }
    CHECK(ct_model_create(b, "flatten,linear(24),relu,linear(5)", 1, 12, 12, 64, 7, &m) == CT_OK,
          "model: %s", ct_last_error());
    ct_train_config c;
    ct_train_config_default(&c);
    c.num_phases = 1;
    c.phases[0].epochs = 3;
    c.phases[0].lr = opt == CT_SGD ? 0.2f : 0.01f;
    c.schedule = CT_SCHED_COSINE; /* a new lr every step: the step table's */
    c.optimizer = opt;
    c.momentum = opt == CT_SGD ? 0.9f : 0.0f;
    c.nesterov = opt == CT_SGD;
    c.weight_decay = opt == CT_ADAMW ? 0.05f : 1e-3f;
    c.clip_norm = clip ? 1.0f : 0.0f;
    c.label_smoothing = smoothing;
    if (weighted) {
        c.n_class_weights = 5;
        for (int k = 0; k < 5; k++) c.class_weights[k] = class_weight_of(k);
    }
    c.batch_size = 64;
    c.eval_batch_size = 50;
    c.workers = 0;
    c.data_on_device = 1;
    int32_t tr[200], va[100];
    for (int i = 0; i < 200; i++) tr[i] = i;
    for (int i = 0; i < 100; i++) va[i] = 200 + i;
    emu_steps = emu_launches = 0;
    CHECK(ct_fit(m, ds, tr, 200, va, 100, &c, NULL, out->hist) == CT_OK, "fit: %s",
          ct_last_error());
    out->steps = emu_steps;
    out->launches = emu_launches;
    snprintf(out->note, sizeof out->note, "%s", ct_model_fused_step(m));
    out->P = ct_model_param_count(m);
    out->params = (float *)malloc(sizeof(float) * (size_t)out->P);
    CHECK(ct_model_get_params(m, out->params) == CT_OK, "params: %s", ct_last_error());
    ct_model_free(m);
    ct_backend_free(b);
}

static void fit_compare(const fit_run *x, const fit_run *y, double tol, const char *what) {
    for (int e = 0; e < 3; e++) {
        const ct_epoch_result *a = &x->hist[e], *b = &y->hist[e];
        CHECK(fabs(a->train_loss - b->train_loss) <= tol * (1 + fabs(b->train_loss)) &&
                  fabs(a->val.loss - b->val.loss) <= tol * (1 + fabs(b->val.loss)) &&
                  fabs(a->train_acc - b->train_acc) <= 1.5 / 200 &&
                  fabs(a->val.accuracy - b->val.accuracy) <= 1.5 / 100,
              "%s, epoch %d: train %.6f/%.4f vs %.6f/%.4f, val %.6f/%.4f vs %.6f/%.4f", what, e,
              a->train_loss, a->train_acc, b->train_loss, b->train_acc, a->val.loss,
              a->val.accuracy, b->val.loss, b->val.accuracy);
    }
    double worst = 0.0;
    for (int64_t p = 0; p < x->P && x->P == y->P; p++) {
        double err = fabs((double)x->params[p] - y->params[p]) / (1e-2 + fabs(y->params[p]));
        if (!(err <= worst)) worst = err;
    }
    printf("%s: worst relative parameter difference %.2e, last val_loss %.6f vs %.6f\n", what,
           worst, x->hist[2].val.loss, y->hist[2].val.loss);
    CHECK(x->P == y->P && worst <= tol, "%s: parameters differ by %.3g", what, worst);
}

static void fit_through_fused_step(void) {
    uint8_t *img = (uint8_t *)malloc(FIT_N * 144), lab[FIT_N];
    for (int i = 0; i < FIT_N; i++) { /* class = the brightest of five bands, plus noise */
        int y = (int)(rnd() % 5);
        lab[i] = (uint8_t)y;
        for (int k = 0; k < 144; k++)
            img[i * 144 + k] = (uint8_t)(rnd() % 80 + (k / 12 / 3 == y % 4 && k % 12 < 6 + y ? 150 : 0));
    }
    ct_dataset *ds = NULL;
    if (ct_dataset_create(FIT_N, 1, 12, 12, 5, img, lab, &ds) != CT_OK) {
        CHECK(0, "dataset: %s", ct_last_error());
        free(img);
        return;
    }
    fit_run ops, fused, clipped_ops, clipped;
    memset(&ops, 0, sizeof ops), memset(&fused, 0, sizeof fused);
    memset(&clipped_ops, 0, sizeof clipped_ops), memset(&clipped, 0, sizeof clipped);
    fit(ds, 0, 0, CT_SGD, 0.0f, 0, &ops);
    fit(ds, 1, 0, CT_SGD, 0.0f, 0, &fused);
    CHECK(strcmp(ops.note, "") == 0, "a CPU without a fused step: note \"%s\"", ops.note);
    CHECK(strncmp(fused.note, "on", 2) == 0, "fused: note \"%s\"", fused.note);
    CHECK(fused.steps == 3 * 4, "fused: %d steps through the fused kernels, not 3 epochs x 4",
          fused.steps);
    CHECK(fused.launches == 3 * 2, "fused: %d calls of mlp_step, not 3 epochs x (a run of the "
          "3 full batches, and the last)", fused.launches);
    fit_compare(&fused, &ops, 2e-4, "ct_fit, fused vs the layers' ops");
    CHECK(fused.hist[2].val.loss < 0.7 * fused.hist[0].train_loss, "fused: did not learn (%.4f "
          "after 3 epochs, %.4f in the first)", fused.hist[2].val.loss, fused.hist[0].train_loss);
    /* clipping needs the gradient, which the fused step does not keep: the layers' ops train */
    fit(ds, 0, 1, CT_SGD, 0.0f, 0, &clipped_ops);
    fit(ds, 1, 1, CT_SGD, 0.0f, 0, &clipped);
    CHECK(strcmp(clipped.note, "off (gradient clipping)") == 0, "clipped: note \"%s\"",
          clipped.note);
    CHECK(clipped.steps == 0, "clipped: %d fused steps", clipped.steps);
    fit_compare(&clipped, &clipped_ops, 0.0, "ct_fit with clipping, fused op present vs absent");
    /* and CTRAIN_CUDA_FUSED=0 turns it off */
    fit_run off;
    memset(&off, 0, sizeof off);
    setenv("CTRAIN_CUDA_FUSED", "0", 1);
    fit(ds, 1, 0, CT_SGD, 0.0f, 0, &off);
    unsetenv("CTRAIN_CUDA_FUSED");
    CHECK(strcmp(off.note, "off (CTRAIN_CUDA_FUSED=0)") == 0, "off: note \"%s\"", off.note);
    fit_compare(&off, &ops, 0.0, "ct_fit with CTRAIN_CUDA_FUSED=0 vs the layers' ops");
    free(ops.params), free(fused.params), free(clipped_ops.params), free(clipped.params);
    free(off.params);
    /* Adam and AdamW (decoupled decay) through the fused step too */
    for (int k = 0; k < 2; k++) {
        ct_optimizer_kind opt = k ? CT_ADAMW : CT_ADAM;
        fit_run a_ops, a_fused;
        memset(&a_ops, 0, sizeof a_ops), memset(&a_fused, 0, sizeof a_fused);
        fit(ds, 0, 0, opt, 0.0f, 0, &a_ops);
        fit(ds, 1, 0, opt, 0.0f, 0, &a_fused);
        CHECK(a_fused.steps == 3 * 4, "%s: %d fused steps", k ? "adamw" : "adam", a_fused.steps);
        fit_compare(&a_fused, &a_ops, 1e-4, k ? "ct_fit with AdamW, fused vs the layers' ops"
                                              : "ct_fit with Adam, fused vs the layers' ops");
        free(a_ops.params), free(a_fused.params);
    }
    /* label smoothing: the training and validation losses are the smoothed ones on both */
    fit_run s_ops, s_fused;
    memset(&s_ops, 0, sizeof s_ops), memset(&s_fused, 0, sizeof s_fused);
    fit(ds, 0, 0, CT_SGD, 0.1f, 0, &s_ops);
    fit(ds, 1, 0, CT_SGD, 0.1f, 0, &s_fused);
    CHECK(s_fused.steps == 3 * 4, "label smoothing: %d fused steps", s_fused.steps);
    fit_compare(&s_fused, &s_ops, 2e-4,
                "ct_fit with label smoothing 0.1, fused vs the layers' ops");
    free(s_ops.params), free(s_fused.params);
    /* class weights: the weighted training loss on both, validation's unweighted */
    fit_run w_ops, w_fused, w_plain;
    memset(&w_ops, 0, sizeof w_ops), memset(&w_fused, 0, sizeof w_fused);
    memset(&w_plain, 0, sizeof w_plain);
    fit(ds, 0, 0, CT_SGD, 0.0f, 1, &w_ops);
    fit(ds, 1, 0, CT_SGD, 0.0f, 1, &w_fused);
    fit(ds, 0, 0, CT_SGD, 0.0f, 0, &w_plain); /* (unweighted, to tell them apart) */
    CHECK(w_fused.steps == 3 * 4, "class weights: %d fused steps", w_fused.steps);
    fit_compare(&w_fused, &w_ops, 2e-4, "ct_fit with class weights, fused vs the layers' ops");
    CHECK(fabs(w_ops.hist[0].train_loss - w_plain.hist[0].train_loss) > 1e-3,
          "class weights left the first epoch's train loss at %.6f", w_ops.hist[0].train_loss);
    free(w_ops.params), free(w_fused.params), free(w_plain.params);
    ct_dataset_free(ds);
    free(img);
}

int main(void) {
    const config configs[] = {
        /* the tutorial's step: MNIST rows, 32 hidden units, 10 classes, a full batch, a row
         * per row item (as on an H200) */
        {128, 784, 32, 10, CT_MLP_THREADS, 0.0f, 0.0f, 0, 4, CT_SGD, 1, 0.0f, 0},
        /* the epoch's last batch (50000 % 128 = 80), momentum and weight decay */
        {80, 784, 32, 10, CT_MLP_THREADS, 0.9f, 5e-4f, 0, 3, CT_SGD, 1, 0.0f, 0},
        /* a partial row item, a partial column item, Nesterov, another thread count */
        {13, 37, 7, 3, 96, 0.9f, 0.0f, 1, 4, CT_SGD, 3, 0.0f, 0},
        /* more rows than one round of phases A and C, the widest shapes it takes, the most
         * rows per row item */
        {150, 100, 64, 32, CT_MLP_THREADS, 0.5f, 1e-3f, 0, 3, CT_SGD, CT_MLP_RB_MAX, 0.0f, 0},
        /* one row, one warp */
        {1, 784, 32, 10, 32, 0.0f, 0.0f, 0, 3, CT_SGD, 1, 0.0f, 0},
        /* Adam with an L2 term, and AdamW's decoupled decay (partial items too) */
        {128, 784, 32, 10, CT_MLP_THREADS, 0.0f, 1e-3f, 0, 4, CT_ADAM, 4, 0.0f, 0},
        {13, 37, 7, 3, 96, 0.0f, 0.01f, 0, 4, CT_ADAMW, 2, 0.0f, 0},
        /* label smoothing, PyTorch's usual 0.1 and a uniform target */
        {80, 784, 32, 10, CT_MLP_THREADS, 0.9f, 5e-4f, 0, 3, CT_SGD, 1, 0.1f, 0},
        {13, 37, 7, 3, 96, 0.0f, 0.0f, 0, 3, CT_ADAM, 3, 1.0f, 0},
        /* class weights (one of them 0), alone and with label smoothing */
        {80, 784, 32, 10, CT_MLP_THREADS, 0.9f, 5e-4f, 0, 3, CT_SGD, 1, 0.0f, 1},
        {13, 37, 7, 3, 96, 0.0f, 0.0f, 0, 3, CT_ADAMW, 3, 0.2f, 1},
    };
    for (size_t i = 0; i < sizeof configs / sizeof configs[0]; i++) run_config(&configs[i]);
    bad_label_is_nan();
    fit_through_fused_step();
    /* the widest hidden and class counts cuda_mlp.cu takes fit in the 48 KiB of shared memory
     * a block gets without opting in */
    CHECK(ct_mlp_smem(CT_MLP_MAX_HIDDEN, CT_MLP_MAX_CLASSES) <= 48 * 1024,
          "the phases need %zu bytes", ct_mlp_smem(CT_MLP_MAX_HIDDEN, CT_MLP_MAX_CLASSES));
    /* and the batch sizes it takes: its workspace stays within about 120 MB */
    ct_mlp_step_desc wide;
    memset(&wide, 0, sizeof wide);
    wide.n = CT_MLP_MAX_ROWS, wide.in = 784, wide.hidden = CT_MLP_MAX_HIDDEN;
    wide.classes = CT_MLP_MAX_CLASSES;
    size_t bytes = ct_mlp_workspace_bytes(&wide);
    CHECK(bytes > 0 && bytes <= (size_t)120 << 20, "a batch of %d rows: %zu bytes of workspace",
          CT_MLP_MAX_ROWS, bytes);
    wide.n = CT_MLP_MAX_ROWS + 1;
    CHECK(ct_mlp_workspace_bytes(&wide) == 0, "a batch of %d rows taken", CT_MLP_MAX_ROWS + 1);
    if (failures) {
        printf("%d check(s) failed\n", failures);
        return 1;
    }
    printf("all fused-MLP kernel checks passed on the host\n");
    return 0;
}
