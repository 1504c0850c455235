/*
 * lr_find.c — `ctrain train --lr-find`: the learning-rate range test (Smith, "Cyclical Learning
 * Rates", 2015), as fastai's Learner.lr_find and PyTorch Lightning's Tuner.lr_find run it.
 *
 * From the model's initial weights, --lr-find-steps training steps (100) of the run's batch,
 * optimizer, loss and data, the lr rising exponentially from START to END (1e-7, 10: fastai's)
 * a step; each step's loss is smoothed as both do (an exponential moving average, beta 0.98,
 * debiased), and the test stops early once the smoothed loss is over 4 times its minimum
 * (diverging). It prints the curve, a suggested lr and fastai's "minimum / 10", and with
 * --plot DIR draws DIR/lr_find.png (loss against lr on a log scale). The weights it trained
 * are not kept: nothing but the picture is written.
 *
 * The suggestion is Lightning's rule: the lr where the smoothed loss falls fastest (the lowest
 * of its gradient over the steps, numpy.gradient's central differences, leaving out the first
 * 10 steps and the last one), but only up to the smoothed loss's lowest point: past it the
 * loss may fall fast too, back from a spike towards chance (Fashion-MNIST's MLP does), where
 * Lightning's would suggest an lr that does not train. fastai's "minimum / 10" is taken over
 * its window: the steps from a tenth of --lr-find-steps to the sixth from the end.
 */
#include "cli.h"
#include "train.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define LR_FIND_BETA 0.98      /* the smoothing of fastai's Recorder and Lightning's finder */
#define LR_FIND_DIVERGE 4.0    /* stop when the smoothed loss passes this times its minimum */
#define LR_FIND_SKIP_BEGIN 10  /* Lightning's suggestion() skips these first steps ... */
#define LR_FIND_SKIP_END 1     /* ... and these last ones */

typedef struct {
    ct_model *m;
    const ct_train_config *cfg;
    int64_t steps;
    double *lr, *loss, *smooth; /* (steps) */
    int64_t n;                  /* steps recorded */
    double prev_sum;
    int64_t prev_count;
    double avg, best;
    int diverged;               /* the step where the test stopped early (-1: it did not) */
    ct_status err;              /* reading the sums failed */
    int64_t no_loss;            /* a step whose samples did not show in the sums (0: none) */
} finder;

static int on_step(void *user, int epoch, int64_t done, int64_t total, int64_t samples,
                   double elapsed_s) {
    (void)epoch, (void)total, (void)samples, (void)elapsed_s;
    finder *f = user;
    double sum, correct;
    int64_t count;
    ct_status s = ct_model_train_sums(f->m, &sum, &correct, &count);
    if (s != CT_OK) {
        f->err = s;
        return 1;
    }
    if (count <= f->prev_count || f->n >= f->steps) { /* (a run of steps queued as one) */
        f->no_loss = done;
        return 1;
    }
    int64_t i = f->n++;
    double loss = (sum - f->prev_sum) / (double)(count - f->prev_count);
    f->prev_sum = sum;
    f->prev_count = count;
    f->lr[i] = ct_schedule_lr(f->cfg, 0, i, f->steps);
    f->loss[i] = loss;
    f->avg = LR_FIND_BETA * f->avg + (1.0 - LR_FIND_BETA) * loss;
    f->smooth[i] = f->avg / (1.0 - pow(LR_FIND_BETA, (double)(i + 1)));
    if (i == 0 || f->smooth[i] < f->best) f->best = f->smooth[i];
    if (!isfinite(f->smooth[i]) || f->smooth[i] > LR_FIND_DIVERGE * f->best) {
        f->diverged = (int)i;
        return 1;
    }
    return 0;
}

/* The step of the lowest smoothed loss among steps [from, to) (a NaN is never lower). */
static int64_t lowest(const finder *f, int64_t from, int64_t to) {
    int64_t low = from;
    for (int64_t i = from + 1; i < to; i++)
        if (f->smooth[i] < f->smooth[low] || !isfinite(f->smooth[low])) low = i;
    return low;
}

/* Lightning's suggestion: the step of the steepest fall of the smoothed loss, up to its lowest
 * point (-1: too few steps there). */
static int64_t steepest(const finder *f) {
    int64_t lo = LR_FIND_SKIP_BEGIN, hi = f->n - LR_FIND_SKIP_END; /* [lo, hi) */
    int64_t low = lowest(f, 0, f->n);
    if (low + 1 < hi) hi = low + 1;
    if (hi - lo < 2) return -1;
    int64_t best = -1;
    double best_g = INFINITY;
    for (int64_t i = lo; i < hi; i++) {
        const double *y = f->smooth;
        double g = i == lo ? y[i + 1] - y[i] : i == hi - 1 ? y[i] - y[i - 1]
                                                           : (y[i + 1] - y[i - 1]) / 2.0;
        if (g < best_g) best_g = g, best = i;
    }
    return best;
}

/* DIR/lr_find.png: the smoothed loss against the lr (log scale), as fastai and Lightning plot
 * it, the suggestion marked. */
static int draw(const finder *f, const char *dir, int64_t sug) {
    char path[PATH_MAX + 32], mark[64];
    snprintf(path, sizeof path, "%s/lr_find.png", dir);
    ct_series s[1] = {{"smoothed loss", f->lr, f->smooth, (int)f->n}};
    if (sug >= 0) snprintf(mark, sizeof mark, "suggested %.3g", f->lr[sug]);
    ct_plot_opts po = {.log_x = 1, .lines_only = 1, .mark = sug >= 0,
                       .mark_x = sug >= 0 ? f->lr[sug] : 0, .mark_label = mark};
    ct_status st = ct_plot_png_opts(path, "Loss vs. learning rate (range test)",
                                    "learning rate (log scale)", "loss", s, 1, 800, 500, &po);
    if (st != CT_OK) return cli_lib_error(st);
    printf("Wrote %s\n", path);
    return 0;
}

int train_lr_find(train_run *run, const ct_dataset *ds, const int32_t *train_idx) {
    const train_opts *o = run->o;
    const int64_t steps = o->lr_find_steps, n_train = run->n_train;
    const int64_t batch = o->cfg.batch_size < n_train ? o->cfg.batch_size : n_train;
    /* exactly `steps` full batches in one epoch: the run's training images from the start of
     * the split's order, again from its start when there are fewer (fit shuffles them) */
    const int64_t n = steps * batch;
    ct_train_config cfg = o->cfg;
    cfg.num_phases = 1;
    cfg.phases[0] = (ct_phase){1, o->lr_find_start};
    cfg.schedule = CT_SCHED_RANGE_TEST;
    cfg.end_lr = o->lr_find_end;
    cfg.batch_size = (int)batch;
    cfg.warmup_epochs = cfg.warmup_steps = 0;
    cfg.warmup_sequential = cfg.lr_step_epoch = 0;
    cfg.resume = (ct_fit_position){0};
    if (n > INT32_MAX) /* (an epoch's samples: ct_fit's bound) */
        return cli_usage_error("train", "--lr-find-steps: %lld steps of batch %lld are %lld "
                               "samples, more than an epoch holds (%d)", (long long)steps,
                               (long long)batch, (long long)n, INT32_MAX);
    finder f = {.m = run->m, .cfg = &cfg, .steps = steps, .diverged = -1};
    int32_t *idx = NULL;
    int rc = CLI_EXIT_ERROR;
    cli_made made = {0};
    if (o->plot_dir && cli_mkdirs(o->plot_dir, &made) != 0) goto done; /* before the work */
    idx = malloc((size_t)n * sizeof *idx);
    f.lr = malloc((size_t)steps * sizeof(double));
    f.loss = malloc((size_t)steps * sizeof(double));
    f.smooth = malloc((size_t)steps * sizeof(double));
    if (!idx || !f.lr || !f.loss || !f.smooth) {
        cli_error("out of memory (the lr finder's %lld steps)", (long long)steps);
        goto done;
    }
    for (int64_t i = 0; i < n; i++) idx[i] = train_idx[i % n_train];
    printf("LR finder: %lld steps of batch %lld, lr %g to %g exponentially (x%.4g a step); "
           "the weights it trains are not kept\n", (long long)steps, (long long)batch,
           (double)o->lr_find_start, (double)o->lr_find_end,
           pow((double)o->lr_find_end / o->lr_find_start, 1.0 / (double)steps));
    fflush(stdout);
    /* on a GPU, one step a launch: each step's loss is read before the next one runs */
    if (!getenv("CTRAIN_CUDA_GRAPH_STEPS")) setenv("CTRAIN_CUDA_GRAPH_STEPS", "1", 1);
    ct_callbacks cb = {.on_step = on_step, .user = &f};
    ct_status s = ct_fit(run->m, ds, idx, n, NULL, 0, &cfg, &cb, NULL);
    if (f.no_loss) {
        cli_error("--lr-find: step %lld's loss could not be told from the others' (were steps "
                  "run together? CTRAIN_CUDA_GRAPH_STEPS must be 1)", (long long)f.no_loss);
        goto done;
    }
    if (f.err != CT_OK) s = f.err;
    else if (s == CT_ERR_INTERRUPTED && f.diverged >= 0) s = CT_OK; /* (its own stop) */
    if (s != CT_OK || f.n == 0) {
        if (s != CT_OK) cli_lib_error(s);
        else cli_error("--lr-find: no step was run");
        goto done;
    }
    int64_t every = steps / 20 > 1 ? steps / 20 : 1;
    printf("  step  lr          loss      smoothed\n");
    for (int64_t i = 0; i < f.n; i++)
        if (i % every == 0 || i == f.n - 1)
            printf("  %4lld  %-10.4g  %-8.4f  %.4f\n", (long long)i, f.lr[i], cli_metric(f.loss[i]),
                   cli_metric(f.smooth[i]));
    if (f.diverged >= 0 && !isfinite(f.smooth[f.diverged]))
        printf("Stopped after step %d of %lld: the loss is not finite\n", f.diverged,
               (long long)steps);
    else if (f.diverged >= 0)
        printf("Stopped after step %d of %lld: the smoothed loss (%.4f) passed %g times its "
               "minimum (%.4f)\n", f.diverged, (long long)steps, f.smooth[f.diverged],
               LR_FIND_DIVERGE, f.best);
    int64_t sug = steepest(&f);
    /* fastai's minimum: over its window, the first tenth of the steps and the last 5 left out
     * (all steps when that leaves none) */
    int64_t w0 = steps / 10, w1 = f.n - 5;
    if (w1 <= w0) w0 = 0, w1 = f.n;
    int64_t low = lowest(&f, w0, w1);
    if (sug >= 0)
        printf("Suggested lr: %.3g (where the smoothed loss falls fastest before its lowest "
               "point, at step %lld; PyTorch Lightning's rule)\n", f.lr[sug], (long long)sug);
    else
        printf("Suggested lr: none (%lld steps recorded, the smoothed loss lowest at step "
               "%lld: the rule looks for its descent after step %d)\n", (long long)f.n,
               (long long)lowest(&f, 0, f.n), LR_FIND_SKIP_BEGIN);
    if (isfinite(f.smooth[low]))
        printf("Lowest smoothed loss %.4f at lr %.3g (steps %lld to %lld); a tenth of that lr: "
               "%.3g (fastai's minimum/10)\n", f.smooth[low], f.lr[low], (long long)w0,
               (long long)(w1 - 1), f.lr[low] / 10.0);
    fflush(stdout);
    rc = o->plot_dir && draw(&f, o->plot_dir, sug) != 0 ? CLI_EXIT_ERROR : CLI_EXIT_OK;
done:
    if (rc != CLI_EXIT_OK) cli_rmdirs(o->plot_dir, &made); /* (only folders it made, if empty) */
    free(idx);
    free(f.lr);
    free(f.loss);
    free(f.smooth);
    return rc;
}
