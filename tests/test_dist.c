/*
 * test_dist.c — data-parallel training (ct_dist, issue 7) through the library API.
 *
 * Single process: ct_dist_init without a launcher gives NULL and every ct_dist_* call is a
 * no-op; a build without MPI refuses a launch of several processes. With MPI built (and Open
 * MPI's mpirun present), the program starts itself as 2 ranks (`mpirun -np 2 test_dist`) and
 * each rank checks: rank/size, the collectives, the start-up check (same text passes, a
 * different field is named on every rank), and that ct_fit over 2 ranks × 1 thread gives
 * bitwise the parameters, batch norm buffers and history of 1 process × 2 threads (the shards
 * then hold the same rows, and a + b is b + a), with evaluation split across ranks. Then as 4
 * ranks, the sums that from 4 ranks go from a copy (not in place) and the same bits on all.
 */
#define _GNU_SOURCE
#include "testutil.h"

#include "dist/dist.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define N_SAMPLES 1200
#define N_VAL 300
#define N_TRAIN (N_SAMPLES - N_VAL)
#define SIDE 8
#define CLASSES 4
#define BATCH 37 /* odd: the ranks' shares are 19 and 18 rows */
#define EPOCHS 2
#define CHILD_ENV "CT_TEST_DIST_CHILD"

static ct_dist *g_dist; /* the child's job */

/* ------------------------------------------------------------------------------------------ */
/* a small problem                                                                             */

static uint32_t lcg(uint32_t *s) {
    *s = *s * 1664525u + 1013904223u;
    return *s >> 8;
}

static ct_dataset *make_problem(void) {
    static uint8_t images[N_SAMPLES * SIDE * SIDE], labels[N_SAMPLES];
    uint32_t s = 7;
    for (int i = 0; i < N_SAMPLES; i++) {
        int k = (int)(lcg(&s) % CLASSES);
        labels[i] = (uint8_t)k;
        for (int p = 0; p < SIDE * SIDE; p++) {
            int bright = (p / SIDE) / 4 == k / 2 && (p % SIDE) / 4 == k % 2;
            images[i * SIDE * SIDE + p] = (uint8_t)((int)(lcg(&s) % 100) + (bright ? 130 : 0));
        }
    }
    ct_dataset *ds = NULL;
    assert_int_equal(ct_dataset_create(N_SAMPLES, 1, SIDE, SIDE, CLASSES, images, labels, &ds), CT_OK);
    return ds;
}

typedef struct {
    float params[4096];
    float buffers[256];
    int64_t n_params, n_buffers;
    ct_epoch_result history[EPOCHS];
    ct_eval_result eval;
} run_result;

/* Trains spec on the problem with `threads` CPU threads, across dist (NULL: alone). */
static void train(const char *spec, int threads, ct_dist *dist, uint64_t seed, int batch,
                  run_result *out) {
    ct_backend *b = NULL;
    ct_model *m = NULL;
    ct_dataset *ds = make_problem();
    int32_t *tr = NULL, *va = NULL;
    assert_int_equal(ct_backend_create("cpu", threads, &b), CT_OK);
    assert_int_equal(ct_model_create(b, spec, 1, SIDE, SIDE, batch > 64 ? batch : 64, 3, &m),
                     CT_OK);
    assert_int_equal(ct_split_indices(N_SAMPLES, N_VAL, 5, &tr, &va), CT_OK);
    ct_train_config cfg;
    ct_train_config_default(&cfg);
    cfg.phases[0] = (ct_phase){EPOCHS, 0.2f};
    cfg.num_phases = 1;
    cfg.batch_size = batch;
    cfg.eval_batch_size = 50;
    cfg.momentum = 0.9f;
    cfg.seed = seed;
    cfg.dist = dist;
    memset(out, 0, sizeof *out);
    ct_status s = ct_fit(m, ds, tr, N_TRAIN, va, N_VAL, &cfg, NULL, out->history);
    assert_int_equal(s, CT_OK);
    out->n_params = ct_model_param_count(m);
    out->n_buffers = ct_model_buffer_count(m);
    assert_true(out->n_params <= 4096 && out->n_buffers <= 256);
    assert_int_equal(ct_model_get_params(m, out->params), CT_OK);
    assert_int_equal(ct_model_get_buffers(m, out->buffers), CT_OK);
    assert_int_equal(ct_evaluate_dist(m, ds, NULL, N_SAMPLES, 64, 0.0f, dist, &out->eval), CT_OK);
    free(tr);
    free(va);
    ct_model_free(m);
    ct_dataset_free(ds);
    ct_backend_free(b);
}

/* ------------------------------------------------------------------------------------------ */
/* one process                                                                                 */

static void test_single_process(void **state) {
    (void)state;
    if (getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMI_SIZE") || getenv("PMIX_RANK"))
        TU_SKIP("test_single_process", "running under an MPI launcher");
    ct_dist *d = (ct_dist *)1;
    assert_int_equal(ct_dist_init(&d), CT_OK);
    assert_null(d);
    assert_int_equal(ct_dist_rank(NULL), 0);
    assert_int_equal(ct_dist_size(NULL), 1);
    assert_int_equal(ct_dist_local_rank(NULL), 0);
    assert_int_equal(ct_dist_local_size(NULL), 1);
    assert_string_equal(ct_dist_description(NULL), "1 process");
    assert_int_equal(ct_dist_check_same(NULL, "x", 1, "what"), CT_OK);
    int64_t lo, hi;
    ct_dist_share(NULL, 37, &lo, &hi);
    assert_true(lo == 0 && hi == 37);
    float f[2] = {1, 2};
    assert_int_equal(ct_dist_allreduce_sum_f32(NULL, f, 2), CT_OK);
    assert_true(f[0] == 1 && f[1] == 2);
    int flag = 0;
    assert_int_equal(ct_dist_any(NULL, &flag), CT_OK);
    assert_int_equal(flag, 0);
    int count = -1, same = -1;
    assert_int_equal(ct_dist_failures(NULL, 3, 9, &count, &same), CT_OK);
    assert_true(count == 1 && same == 1);
    assert_int_equal(ct_dist_set_timeout(NULL, 5.0), CT_OK);
    assert_int_equal(ct_dist_set_timeout(NULL, -1.0), CT_ERR_INVALID);
    assert_int_equal(ct_dist_set_timeout(NULL, NAN), CT_ERR_INVALID);
    ct_dist_abort(NULL, 1); /* returns */
    ct_dist_finalize(NULL);
}

static void test_hash(void **state) {
    (void)state;
    const char *a = "phases=2@0.5 seed=42", *b = "phases=2@0.5 seed=43";
    assert_true(ct_hash64(a, strlen(a), 0) == ct_hash64(a, strlen(a), 0));
    assert_true(ct_hash64(a, strlen(a), 0) != ct_hash64(b, strlen(b), 0));
    assert_true(ct_hash64(a, 3, 0) != ct_hash64(a, 4, 0));
    assert_true(ct_hash64("", 0, 0) != ct_hash64("", 0, 1));
}

/* ct_dist_launched reads the launchers' variables: set here, read, and unset before any
 * assertion (a failed one must not leave a launch for the later tests' ct_dist_init). */
static const char *const k_launch_vars[] = {
    "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_LOCAL_RANK", "PMI_SIZE",
    "PMI_RANK", "MPI_LOCALRANKID", "PMIX_RANK", "MV2_COMM_WORLD_SIZE", "MV2_COMM_WORLD_RANK",
    "MV2_COMM_WORLD_LOCAL_RANK"};

/* vars: "NAME=VALUE" pairs, NULL-ended; out: size, rank, local rank */
static void launched_with(const char *const *vars, int out[3]) {
    for (int i = 0; vars[i]; i += 2) setenv(vars[i], vars[i + 1], 1);
    out[0] = ct_dist_launched(&out[1], &out[2]);
    for (size_t i = 0; i < sizeof k_launch_vars / sizeof k_launch_vars[0]; i++)
        unsetenv(k_launch_vars[i]);
}

static void test_launched(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof k_launch_vars / sizeof k_launch_vars[0]; i++)
        if (getenv(k_launch_vars[i])) TU_SKIP("test_launched", "running under an MPI launcher");
    int r[3];
    launched_with((const char *const[]){NULL}, r);
    assert_true(r[0] == 0 && r[1] == -1 && r[2] == -1);
    launched_with((const char *const[]){"OMPI_COMM_WORLD_SIZE", "4", "OMPI_COMM_WORLD_RANK", "3",
                                        "OMPI_COMM_WORLD_LOCAL_RANK", "1", NULL}, r);
    assert_true(r[0] == 4 && r[1] == 3 && r[2] == 1);
    /* a local rank that is not a number: not known */
    launched_with((const char *const[]){"OMPI_COMM_WORLD_SIZE", "4", "OMPI_COMM_WORLD_RANK", "3",
                                        "OMPI_COMM_WORLD_LOCAL_RANK", "x1", NULL}, r);
    assert_true(r[0] == 4 && r[1] == 3 && r[2] == -1);
    /* a size that is not a number: a plain run */
    launched_with((const char *const[]){"OMPI_COMM_WORLD_SIZE", "lots", NULL}, r);
    assert_true(r[0] == 0 && r[1] == -1);
    /* MPICH's Hydra */
    launched_with((const char *const[]){"PMI_SIZE", "2", "PMI_RANK", "1", "MPI_LOCALRANKID", "0",
                                        NULL}, r);
    assert_true(r[0] == 2 && r[1] == 1 && r[2] == 0);
    /* PMIx: a rank, no size */
    launched_with((const char *const[]){"PMIX_RANK", "5", NULL}, r);
    assert_true(r[0] == -1 && r[1] == 5 && r[2] == -1);
    assert_int_equal(ct_dist_launched(NULL, NULL), 0);
}

static void test_no_mpi_refuses(void **state) {
    (void)state;
    if (!ct_dist_unavailable_reason()[0])
        TU_SKIP("test_no_mpi_refuses", "this build has MPI (the launch would be real)");
    setenv("OMPI_COMM_WORLD_SIZE", "2", 1);
    ct_dist *d = NULL;
    ct_status s = ct_dist_init(&d);
    unsetenv("OMPI_COMM_WORLD_SIZE");
    assert_int_equal(s, CT_ERR_UNSUPPORTED);
    assert_null(d);
    assert_non_null(strstr(ct_last_error(), "built without MPI"));
    assert_non_null(strstr(ct_last_error(), "2 processes"));
}

/* Runs this program as np ranks under mpirun (CHILD_ENV=np); skips, saying why, where it cannot */
static void run_as_ranks(const char *name, int np) {
    if (ct_dist_unavailable_reason()[0]) TU_SKIP(name, "%s", ct_dist_unavailable_reason());
    if (getenv("OMPI_COMM_WORLD_SIZE")) TU_SKIP(name, "already under mpirun");
    if (system("mpirun --version 2>&1 | grep -q 'Open MPI'") != 0)
        TU_SKIP(name, "no Open MPI mpirun in PATH (Debian: openmpi-bin)");
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    assert_true(n > 0);
    self[n] = 0;
    char cmd[8192];
    snprintf(cmd, sizeof cmd,
             "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 "
             "ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 " CHILD_ENV "=%d "
             "timeout 120 mpirun --oversubscribe --bind-to none -np %d '%s'", np, np, self);
    fflush(stdout);
    assert_int_equal(system(cmd), 0);
}

static void test_two_ranks(void **state) {
    (void)state;
    run_as_ranks("test_two_ranks", 2);
}

/* 4 ranks (oversubscribed here): large all-reduces then go from a copy, not in place */
static void test_four_ranks(void **state) {
    (void)state;
    run_as_ranks("test_four_ranks", 4);
}

/* ------------------------------------------------------------------------------------------ */
/* each of 2 ranks (CT_TEST_DIST_CHILD)                                                        */

static void test_rank_size(void **state) {
    (void)state;
    assert_non_null(g_dist);
    assert_int_equal(ct_dist_size(g_dist), 2);
    int r = ct_dist_rank(g_dist);
    assert_true(r == 0 || r == 1);
    assert_int_equal(ct_dist_local_size(g_dist), 2);
    assert_int_equal(ct_dist_local_rank(g_dist), r);
    assert_non_null(strstr(ct_dist_description(g_dist), "2 ranks on 1 host"));
    int lr = -2, llocal = -2; /* what mpirun's environment said before MPI started */
    assert_int_equal(ct_dist_launched(&lr, &llocal), 2);
    assert_int_equal(lr, r);
    assert_int_equal(llocal, r);
    int count = -1, same = -1; /* how many ranks failed, and whether for rank 0's reason */
    assert_int_equal(ct_dist_failures(g_dist, r == 1, 5, &count, &same), CT_OK);
    assert_true(count == 1 && same == 0);
    assert_int_equal(ct_dist_failures(g_dist, 7, 42, &count, &same), CT_OK);
    assert_true(count == 2 && same == 1);
    assert_int_equal(ct_dist_failures(g_dist, 1, 42 + (uint64_t)r, &count, &same), CT_OK);
    assert_true(count == 2 && same == 0);
    assert_int_equal(ct_dist_failures(g_dist, 0, (uint64_t)r, &count, NULL), CT_OK);
    assert_int_equal(count, 0);
    int64_t lo, hi;
    ct_dist_share(g_dist, 37, &lo, &hi);
    assert_true(r == 0 ? (lo == 0 && hi == 19) : (lo == 19 && hi == 37));
}

static void test_collectives(void **state) {
    (void)state;
    int r = ct_dist_rank(g_dist);
    float f[5];
    double d[3];
    for (int i = 0; i < 5; i++) f[i] = (float)(r + 1 + i);
    for (int i = 0; i < 3; i++) d[i] = 0.5 * (r + 1) + i;
    assert_int_equal(ct_dist_allreduce_sum_f32(g_dist, f, 5), CT_OK);
    assert_int_equal(ct_dist_allreduce_sum_f64(g_dist, d, 3), CT_OK);
    for (int i = 0; i < 5; i++) assert_true(f[i] == (float)(3 + 2 * i));
    for (int i = 0; i < 3; i++) assert_true(d[i] == 1.5 + 2 * i);
    ct_backend *b = NULL;
    assert_int_equal(ct_backend_create("cpu", 1, &b), CT_OK);
    float g[3] = {1, 2, 3};
    assert_int_equal(ct_dist_allreduce_device_f32(g_dist, b, g, 3), CT_OK);
    assert_true(g[0] == 2 && g[1] == 4 && g[2] == 6);
    /* a device whose memory is not the host's (a GPU) goes through the staging buffer: the
     * CPU backend's table with host_is_device cleared (its d2h/h2d copy host memory) */
    ct_backend staged = *b;
    staged.host_is_device = 0;
    float big[1000];
    for (int i = 0; i < 1000; i++) big[i] = (float)(i * (r + 1));
    assert_int_equal(ct_dist_allreduce_device_f32(g_dist, &staged, big, 1000), CT_OK);
    for (int i = 0; i < 1000; i++) assert_true(big[i] == (float)(3 * i));
    assert_true(g_dist->staging_bytes >= sizeof big);
    assert_int_equal(g_dist->reduce_calls, 2);
    assert_int_equal(g_dist->reduce_bytes, (int64_t)(sizeof g + sizeof big));
    ct_backend_free(b);
    int flag = r == 1;
    assert_int_equal(ct_dist_any(g_dist, &flag), CT_OK);
    assert_int_equal(flag, 1);
    flag = 0;
    assert_int_equal(ct_dist_any(g_dist, &flag), CT_OK);
    assert_int_equal(flag, 0);
    char msg[8] = "";
    if (r == 1) strcpy(msg, "hello");
    assert_int_equal(ct_dist_bcast(g_dist, msg, sizeof msg, 1), CT_OK);
    assert_string_equal(msg, "hello");
    uint64_t all[2];
    assert_int_equal(ct_dist_allgather_u64(g_dist, 10 + (uint64_t)r, all), CT_OK);
    assert_true(all[0] == 10 && all[1] == 11);
    /* the collectives wait within the timeout (polled), or without one (0: MPI_Wait) */
    assert_true(g_dist->timeout_s == CT_DIST_TIMEOUT_S);
    assert_int_equal(ct_dist_set_timeout(g_dist, -2.0), CT_ERR_INVALID);
    assert_true(g_dist->timeout_s == CT_DIST_TIMEOUT_S);
    for (int k = 0; k < 2; k++) {
        assert_int_equal(ct_dist_set_timeout(g_dist, k ? 0.0 : 30.0), CT_OK);
        for (int i = 0; i < 5; i++) f[i] = (float)(r + 1 + i);
        assert_int_equal(ct_dist_allreduce_sum_f32(g_dist, f, 5), CT_OK);
        for (int i = 0; i < 5; i++) assert_true(f[i] == (float)(3 + 2 * i));
        flag = r == 0;
        assert_int_equal(ct_dist_any(g_dist, &flag), CT_OK);
        assert_int_equal(flag, 1);
    }
    assert_int_equal(ct_dist_set_timeout(g_dist, CT_DIST_TIMEOUT_S), CT_OK);
}

/* each of 4 ranks: sums small (in place) and large (from a copy), the same bits everywhere */
static void test_collectives_wide(void **state) {
    (void)state;
    assert_int_equal(ct_dist_size(g_dist), 4);
    int r = ct_dist_rank(g_dist);
    enum { N = 40000 }; /* 160 KB: from a copy */
    float *big = malloc(N * sizeof *big), small[3];
    assert_non_null(big);
    for (int i = 0; i < N; i++) big[i] = 0.1f * (float)(r + 1) + 1e-4f * (float)i;
    for (int i = 0; i < 3; i++) small[i] = (float)(r * 10 + i);
    assert_int_equal(ct_dist_allreduce_sum_f32(g_dist, big, N), CT_OK);
    assert_true(g_dist->send_copy_bytes >= N * sizeof *big);
    assert_int_equal(ct_dist_allreduce_sum_f32(g_dist, small, 3), CT_OK);
    for (int i = 0; i < 3; i++) assert_true(small[i] == (float)(60 + 4 * i));
    for (int i = 0; i < N; i += 997)
        assert_true(fabsf(big[i] - (1.0f + 4e-4f * (float)i)) < 1e-4f * (1.0f + 4e-4f * (float)i));
    uint64_t all[4];
    assert_int_equal(ct_dist_allgather_u64(g_dist, ct_hash64(big, N * sizeof *big, 0), all), CT_OK);
    for (int k = 1; k < 4; k++) assert_true(all[k] == all[0]);
    int flag = r == 3;
    assert_int_equal(ct_dist_any(g_dist, &flag), CT_OK);
    assert_int_equal(flag, 1);
    free(big);
}

static void test_check_same(void **state) {
    (void)state;
    int r = ct_dist_rank(g_dist);
    const char *same = "--epochs=2 --seed=42";
    assert_int_equal(ct_dist_check_same(g_dist, same, strlen(same), "command line"), CT_OK);
    assert_int_equal(ct_dist_error_shared(g_dist), 0);
    const char *mine = r == 0 ? "--epochs=2 --seed=42 --lr=1" : "--epochs=2 --seed=43 --lr=1";
    assert_int_equal(ct_dist_check_same(g_dist, mine, strlen(mine), "command line"), CT_ERR_INVALID);
    assert_int_equal(ct_dist_error_shared(g_dist), 1);
    assert_non_null(strstr(ct_last_error(), "rank 1 was launched with different settings than "
                           "rank 0 (command line: rank 0 has \"--seed=42\", rank 1 has "
                           "\"--seed=43\")"));
    ct_dist_abort(g_dist, 1); /* a shared failure: returns, no MPI_Abort */
    /* binary bytes of different lengths: named by hash only */
    uint8_t bin[3] = {0, 1, (uint8_t)r};
    assert_int_equal(ct_dist_check_same(g_dist, bin, 2 + (size_t)r, "blob"), CT_ERR_INVALID);
    assert_non_null(strstr(ct_last_error(), "(blob: they differ)"));
}

static void check_same_runs(const char *spec, int batch) {
    run_result *one = calloc(1, sizeof *one), *two = calloc(1, sizeof *two);
    assert_non_null(one);
    assert_non_null(two);
    train(spec, 2, NULL, 11, batch, one);   /* 1 process × 2 threads, on each rank */
    train(spec, 1, g_dist, 11, batch, two); /* 2 ranks × 1 thread */
    assert_int_equal(one->n_params, two->n_params);
    assert_memory_equal(one->params, two->params, (size_t)one->n_params * sizeof(float));
    assert_int_equal(one->n_buffers, two->n_buffers);
    if (one->n_buffers)
        assert_memory_equal(one->buffers, two->buffers, (size_t)one->n_buffers * sizeof(float));
    for (int e = 0; e < EPOCHS; e++) {
        assert_true(fabs(one->history[e].train_loss - two->history[e].train_loss) < 1e-9);
        assert_true(fabs(one->history[e].val.loss - two->history[e].val.loss) < 1e-9);
        assert_true(one->history[e].val.accuracy == two->history[e].val.accuracy);
        assert_int_equal(two->history[e].val.count, N_VAL);
    }
    assert_true(fabs(one->eval.loss - two->eval.loss) < 1e-9);
    assert_true(one->eval.accuracy == two->eval.accuracy);
    if (batch == BATCH) assert_true(two->history[EPOCHS - 1].val.accuracy > 0.5); /* learned */
    free(one);
    free(two);
}

static void test_fit_mlp(void **state) {
    (void)state;
    check_same_runs("flatten,linear(16),relu,linear(4)", BATCH);
}

static void test_fit_batchnorm_dropout(void **state) {
    (void)state;
    check_same_runs("conv(4,3,1,1),batchnorm,relu,maxpool(2),flatten,dropout(0.2),linear(4)",
                    BATCH);
    /* an epoch's last batch of one row, fewer rows than ranks: that row is still rank 0's, so
     * its update of the running statistics is the one kept (it was rank 1's, then lost) */
    check_same_runs("conv(4,3,1,1),batchnorm,relu,maxpool(2),flatten,linear(4)", N_TRAIN - 1);
}

static void test_fit_refuses_mismatch(void **state) {
    (void)state;
    int r = ct_dist_rank(g_dist);
    ct_backend *b = NULL;
    ct_model *m = NULL;
    ct_dataset *ds = make_problem();
    int32_t *tr = NULL, *va = NULL;
    assert_int_equal(ct_backend_create("cpu", 1, &b), CT_OK);
    assert_int_equal(ct_model_create(b, "flatten,linear(8),relu,linear(4)", 1, SIDE, SIDE, 64, 3,
                                     &m), CT_OK);
    assert_int_equal(ct_split_indices(N_SAMPLES, N_VAL, 5, &tr, &va), CT_OK);
    ct_train_config cfg;
    ct_train_config_default(&cfg);
    cfg.phases[0] = (ct_phase){1, 0.1f};
    cfg.num_phases = 1;
    cfg.batch_size = BATCH;
    cfg.eval_batch_size = 50;
    cfg.seed = 100 + (uint64_t)r; /* the shuffling seed differs */
    cfg.workers = r;              /* a per-rank setting: allowed to differ */
    cfg.dist = g_dist;
    assert_int_equal(ct_fit(m, ds, tr, N_TRAIN, va, N_VAL, &cfg, NULL, NULL), CT_ERR_INVALID);
    assert_non_null(strstr(ct_last_error(), "(training settings: rank 0 has \"seed=100\", rank 1 "
                           "has \"seed=101\")"));
    assert_int_equal(ct_dist_error_shared(g_dist), 1);
    free(tr);
    free(va);
    ct_model_free(m);
    ct_dataset_free(ds);
    ct_backend_free(b);
}

int main(void) {
    if (getenv(CHILD_ENV)) {
        ct_status s = ct_dist_init(&g_dist);
        if (s != CT_OK || !g_dist) {
            fprintf(stderr, "test_dist: ct_dist_init: %s\n", s ? ct_last_error() : "no job");
            return 1;
        }
        const struct CMUnitTest wide_tests[] = {cmocka_unit_test(test_collectives_wide)};
        const struct CMUnitTest rank_tests[] = {
            cmocka_unit_test(test_rank_size),
            cmocka_unit_test(test_collectives),
            cmocka_unit_test(test_check_same),
            cmocka_unit_test(test_fit_mlp),
            cmocka_unit_test(test_fit_batchnorm_dropout),
            cmocka_unit_test(test_fit_refuses_mismatch),
        };
        char name[32];
        snprintf(name, sizeof name, "dist rank %d", ct_dist_rank(g_dist));
        int wide = strcmp(getenv(CHILD_ENV), "4") == 0;
        int failed = wide ? _cmocka_run_group_tests(name, wide_tests, 1, NULL, NULL)
                          : _cmocka_run_group_tests(name, rank_tests,
                                                    sizeof rank_tests / sizeof rank_tests[0],
                                                    NULL, NULL);
        /* a failed rank must not leave the other waiting in a collective */
        if (failed) {
            g_dist->shared_error = 0;
            ct_dist_abort(g_dist, 1);
        }
        ct_dist_finalize(g_dist);
        return failed ? 1 : 0;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_single_process),
        cmocka_unit_test(test_hash),
        cmocka_unit_test(test_launched),
        cmocka_unit_test(test_no_mpi_refuses),
        cmocka_unit_test(test_two_ranks),
        cmocka_unit_test(test_four_ranks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
