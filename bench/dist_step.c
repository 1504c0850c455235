/*
 * dist_step.c — the cost of a data-parallel training step, as one rank of `mpirun -np N` (or
 * alone): trains SPEC on the first STEPS batches of MNIST for 2 epochs (the first one warms up)
 * and prints, on rank 0, one line of key=value pairs for the second: seconds per step, samples
 * per second, and the all-reduce's bytes and seconds per step (ct_dist's counters).
 * Build: cmake --build build --target bench_dist
 * Run:   [mpirun -np N] build/bench_dist SPEC BATCH STEPS THREADS     (bench/dist.sh runs it)
 *        [mpirun -np N] build/bench_dist --allreduce FLOATS   the all-reduce alone: the fastest
 *        and the median of REPS calls over FLOATS floats (the transport's cost, without the
 *        waiting for a slower rank that a training step adds)
 */
#include "dist/dist.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EPOCHS 2 /* epoch 0 warms caches and the allocator; epoch 1 is measured */

typedef struct {
    ct_dist *d;
    int64_t calls, bytes;
    double seconds;
} counters;

static int on_epoch(void *user, const ct_epoch_result *r) {
    counters *c = user; /* the all-reduce counters at the end of the warm-up epoch */
    if (r->epoch == 0 && c->d) {
        c->calls = c->d->reduce_calls;
        c->bytes = c->d->reduce_bytes;
        c->seconds = c->d->reduce_s;
    }
    return 0;
}

static int fail(ct_dist *d, const char *what) {
    fprintf(stderr, "bench_dist: rank %d: %s: %s\n", ct_dist_rank(d), what, ct_last_error());
    ct_dist_abort(d, 1);
    ct_dist_finalize(d);
    return 1;
}

#define ALLREDUCE_REPS 200

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int allreduce_only(int64_t n) {
    ct_dist *d = NULL;
    if (ct_dist_init(&d) != CT_OK) return fail(NULL, "ct_dist_init");
    float *buf = calloc((size_t)n, sizeof *buf);
    double t[ALLREDUCE_REPS];
    if (!buf) return fail(d, "memory");
    for (int i = 0; i < ALLREDUCE_REPS; i++) {
        double t0 = ct_time_s();
        if (ct_dist_allreduce_sum_f32(d, buf, n)) return fail(d, "all-reduce");
        t[i] = ct_time_s() - t0;
    }
    qsort(t, ALLREDUCE_REPS, sizeof t[0], cmp_double);
    if (ct_dist_rank(d) == 0)
        printf("allreduce floats=%lld bytes=%lld ranks=%d min_us=%.1f median_us=%.1f\n",
               (long long)n, (long long)(4 * n), ct_dist_size(d), 1e6 * t[0],
               1e6 * t[ALLREDUCE_REPS / 2]);
    free(buf);
    ct_dist_finalize(d);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 3 && !strcmp(argv[1], "--allreduce")) return allreduce_only(atoll(argv[2]));
    if (argc != 5) {
        fprintf(stderr, "usage: [mpirun -np N] bench_dist SPEC BATCH STEPS THREADS\n"
                        "       [mpirun -np N] bench_dist --allreduce FLOATS\n");
        return 2;
    }
    const char *spec = argv[1];
    int batch = atoi(argv[2]), threads = atoi(argv[4]);
    int64_t steps = atoll(argv[3]);
    ct_dist *d = NULL;
    if (ct_dist_init(&d) != CT_OK) return fail(NULL, "ct_dist_init");
    char dir[4096];
    ct_dataset *ds = NULL;
    ct_backend *b = NULL;
    ct_model *m = NULL;
    if (ct_data_dir(NULL, "mnist", dir, sizeof dir) || ct_dataset_load_mnist(dir, "train", &ds))
        return fail(d, "MNIST");
    if (steps * batch > ct_dataset_count(ds)) steps = ct_dataset_count(ds) / batch;
    int64_t n = steps * batch;
    int32_t *idx = malloc((size_t)n * sizeof *idx);
    if (!idx) return fail(d, "memory");
    for (int64_t i = 0; i < n; i++) idx[i] = (int32_t)i;
    if (ct_backend_create("cpu", threads, &b)) return fail(d, "backend");
    if (ct_model_create(b, spec, 1, 28, 28, batch, 42, &m)) return fail(d, "model");
    ct_train_config cfg;
    ct_train_config_default(&cfg);
    cfg.phases[0] = (ct_phase){EPOCHS, 0.01f};
    cfg.num_phases = 1;
    cfg.batch_size = batch;
    cfg.eval_batch_size = batch;
    cfg.dist = d;
    counters c = {.d = d};
    ct_callbacks cb = {.on_epoch = on_epoch, .user = &c};
    ct_epoch_result hist[EPOCHS];
    if (ct_fit(m, ds, idx, n, NULL, 0, &cfg, &cb, hist)) return fail(d, "fit");
    double step_s = hist[1].train_s / (double)steps;
    int64_t calls = d ? d->reduce_calls - c.calls : 0;
    double reduce_s = d ? d->reduce_s - c.seconds : 0.0;
    if (ct_dist_rank(d) == 0)
        printf("spec=%s params=%lld ranks=%d threads=%d batch=%d steps=%lld step_ms=%.4f "
               "samples_per_s=%.0f allreduce_ms_per_step=%.4f allreduce_bytes_per_step=%lld\n",
               spec, (long long)ct_model_param_count(m), ct_dist_size(d), threads, batch,
               (long long)steps, 1e3 * step_s, (double)n / hist[1].train_s,
               calls ? 1e3 * reduce_s / (double)calls : 0.0,
               calls ? (long long)((d->reduce_bytes - c.bytes) / calls)
                     : (long long)(4 * ct_model_param_count(m)));
    ct_model_free(m);
    ct_backend_free(b);
    ct_dataset_free(ds);
    free(idx);
    ct_dist_finalize(d);
    return 0;
}
