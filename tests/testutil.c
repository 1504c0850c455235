/*
 * testutil.c — see testutil.h.
 */
#define _GNU_SOURCE
#include "testutil.h"
#include "backend/cpu/kernels.h"

#include <math.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char g_tmpdir[256];

static void tu_cleanup(void) {
    if (!g_tmpdir[0]) return;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_tmpdir);
}

const char *tu_tmpdir(void) {
    if (!g_tmpdir[0]) {
        snprintf(g_tmpdir, sizeof g_tmpdir, "/tmp/ctrain-test-XXXXXX");
        if (!mkdtemp(g_tmpdir)) { perror("mkdtemp"); exit(2); }
        atexit(tu_cleanup);
    }
    return g_tmpdir;
}

char *tu_tmp_path(const char *name) {
    static char buf[8][512];
    static int k;
    char *p = buf[k++ % 8];
    snprintf(p, 512, "%s/%s", tu_tmpdir(), name);
    return p;
}

const char *tu_write_file(int slot, const char *name, const void *bytes, size_t n) {
    static char paths[8][512];
    snprintf(paths[slot], sizeof paths[slot], "%s/%s", tu_tmpdir(), name);
    FILE *f = fopen(paths[slot], "wb");
    if (!f) { perror(paths[slot]); exit(2); }
    if (n && fwrite(bytes, 1, n, f) != n) { perror(paths[slot]); exit(2); }
    fclose(f);
    return paths[slot];
}

const char *tu_mnist_dir(const char *test) {
    static char dir[512];
    if (ct_data_dir(NULL, "mnist", dir, sizeof dir) != CT_OK) {
        printf("SKIP %s: %s\n", test, ct_last_error());
        return NULL;
    }
    const char *files[] = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                           "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"};
    for (int i = 0; i < 4; i++) {
        char p[600];
        struct stat st;
        snprintf(p, sizeof p, "%s/%s", dir, files[i]);
        if (stat(p, &st) != 0) {
            printf("SKIP %s: MNIST not found in %s (run `ctrain data fetch mnist`)\n", test, dir);
            return NULL;
        }
    }
    return dir;
}

void *hmalloc(size_t bytes) {
    void *p = calloc(1, bytes ? bytes : 1);
    assert_non_null(p);
    return p;
}

void *dalloc(ct_backend *b, size_t bytes) {
    void *p = NULL;
    OK(b->alloc(b, bytes ? bytes : 1, &p));
    assert_non_null(p);
    return p;
}

void *dput(ct_backend *b, const void *host, size_t bytes) {
    void *p = dalloc(b, bytes);
    OK(b->h2d(b, p, host, bytes));
    return p;
}

void dget(ct_backend *b, void *host, const void *dev, size_t bytes) {
    OK(b->d2h(b, host, dev, bytes));
}

float *dgarbage(ct_backend *b, size_t n) {
    float *h = hmalloc(n * sizeof *h);
    for (size_t i = 0; i < n; i++) h[i] = TU_GARBAGE;
    float *d = dput(b, h, n * sizeof *h);
    free(h);
    return d;
}

/* Rows idx[0..n) of src (rows of row bytes) gathered on b under aug into out and under plain
 * into plain_out (host memory) */
void tu_gather_twice(ct_backend *b, const uint8_t *src, int64_t rows, const int32_t *idx,
                     int64_t n, int64_t row, float scale, const ct_augment *aug,
                     const ct_augment *plain, float *out, float *plain_out) {
    uint8_t *d_src = dput(b, src, (size_t)(rows * row));
    int32_t *d_idx = dput(b, idx, (size_t)n * 4);
    float *d_out = dalloc(b, (size_t)(n * row) * 4);
    OK(b->gather_u8(b, d_src, NULL, d_idx, n, row, scale, aug, NULL, d_out, NULL, NULL));
    dget(b, out, d_out, (size_t)(n * row) * 4);
    OK(b->gather_u8(b, d_src, NULL, d_idx, n, row, scale, plain, NULL, d_out, NULL, NULL));
    dget(b, plain_out, d_out, (size_t)(n * row) * 4);
    b->free(b, d_src); b->free(b, d_idx); b->free(b, d_out);
}

void tu_open_backends(ct_backend **cpu, ct_backend **cuda) {
    const char *isa = getenv("CTRAIN_CPU_ISA");
    printf("CPU kernels: %s%s%s%s\n", ct_small_gemm_isa(), isa ? " (CTRAIN_CPU_ISA=" : "",
           isa ? isa : "", isa ? ")" : "");
    if (ct_backend_create("cpu", 0, cpu) != CT_OK) {
        fprintf(stderr, "cannot open the CPU backend: %s\n", ct_last_error());
        exit(1);
    }
    if (ct_backend_create("cuda", 0, cuda) != CT_OK) {
        if (tu_needed("cuda")) {
            fprintf(stderr, "FAIL cuda is required (CTRAIN_TEST_NEED=cuda): %s\n", ct_last_error());
            exit(1);
        }
        printf("SKIP cuda: %s\n", ct_last_error());
        *cuda = NULL;
    }
}

ct_backend *tu_backends[TU_NBACKENDS];
int tu_backend_ids[TU_NBACKENDS] = {TU_CPU, TU_CUDA};

ct_backend *tu_backend(void **state) {
    int id = *(const int *)*state;
    if (!tu_backends[id]) skip();
    return tu_backends[id];
}

void tu_close_backends(void) {
    for (int i = 0; i < TU_NBACKENDS; i++) {
        ct_backend_free(tu_backends[i]);
        tu_backends[i] = NULL;
    }
}

void tu_near(const char *what, size_t i, double got, double ref, double tol) {
    if (!(fabs(got - ref) <= tol))
        fail_msg("%s [%zu]: got %.9g, expected %.9g (|diff| %.3g > tolerance %.3g)", what, i, got,
                 ref, fabs(got - ref), tol);
}

void tu_fill(ct_rng *r, float *p, size_t n, float lo, float hi) {
    for (size_t i = 0; i < n; i++) p[i] = lo + (hi - lo) * ct_rng_uniform(r);
}

ct_dataset *tu_lines_dataset(int n, int side, uint64_t seed) {
    const int S = side;
    uint8_t *img = calloc((size_t)n, (size_t)S * S), *lab = calloc((size_t)n, 1);
    assert_non_null(img);
    assert_non_null(lab);
    ct_rng r;
    ct_rng_init(&r, seed, 1);
    for (int i = 0; i < n; i++) {
        uint8_t *p = img + (size_t)i * S * S;
        for (int k = 0; k < S * S; k++) p[k] = (uint8_t)ct_rng_below(&r, 60);
        int c = (int)ct_rng_below(&r, 3), at = (int)ct_rng_below(&r, S);
        for (int k = 0; k < S; k++) p[c == 0 ? at * S + k : c == 1 ? k * S + at : k * S + k] = 250;
        lab[i] = (uint8_t)c;
    }
    ct_dataset *ds = NULL;
    assert_int_equal(ct_dataset_create(n, 1, S, S, 3, img, lab, &ds), CT_OK);
    free(img);
    free(lab);
    return ds;
}

int tu_needed(const char *name) {
    const char *need = getenv("CTRAIN_TEST_NEED");
    return need && !strcmp(need, name);
}

double tu_act_ref(ct_act kind, double p, double x) {
    switch (kind) {
    case CT_ACT_RELU: return x > 0 ? x : 0;
    case CT_ACT_LEAKY_RELU: return x > 0 ? x : p * x;
    case CT_ACT_SIGMOID: return 1 / (1 + exp(-x));
    case CT_ACT_TANH: return tanh(x);
    case CT_ACT_RELU6: return x < 0 ? 0 : x > 6 ? 6 : x;
    case CT_ACT_SILU: return x / (1 + exp(-x));
    case CT_ACT_HARDSWISH: return x * (x < -3 ? 0 : x > 3 ? 6 : x + 3) / 6;
    case CT_ACT_HARDSIGMOID: return (x < -3 ? 0 : x > 3 ? 6 : x + 3) / 6;
    default: return 0.5 * x * (1 + erf(x / sqrt(2.0)));
    }
}

double tu_model_pass(ct_model *m, const float *x, const uint8_t *lab, int n, int train, float *g,
                     double *correct) {
    ct_backend *b = m->b;
    int64_t P = ct_model_param_count(m);
    double st[2];
    if (g) {
        for (int64_t j = 0; j < P; j++) g[j] = 1e3f;
        OK(b->h2d(b, m->grads, g, (size_t)P * sizeof(float)));
    }
    OK(b->h2d(b, ct_model_input(m), x, (size_t)n * ct_model_input_size(m) * sizeof(float)));
    OK(b->h2d(b, m->labels, lab, (size_t)n));
    OK(b->memset0(b, m->stats, sizeof st));
    OK(ct_model_forward(m, n, train));
    OK(ct_model_loss_backward(m, n, g != NULL));
    if (g) OK(b->d2h(b, g, m->grads, (size_t)P * sizeof(float)));
    OK(b->d2h(b, st, m->stats, sizeof st));
    if (correct) *correct = st[1];
    return st[0] / n;
}

ct_train_config tu_train_config(void) {
    ct_train_config c;
    ct_train_config_default(&c);
    return c;
}

ct_train_config tu_sched_config(ct_schedule_kind kind, int epochs, float lr) {
    ct_train_config c = tu_train_config();
    c.num_phases = 1;
    c.phases[0] = (ct_phase){epochs, lr};
    c.schedule = kind;
    return c;
}
