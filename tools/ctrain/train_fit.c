/*
 * train_fit.c — `ctrain train` while ct_fit runs: the callbacks (the epoch lines, the progress
 * bar, --patience, --save-every's and --snapshots' checkpoints, a sweep's pruning, a diverged
 * run), Ctrl-C, SIGTERM and SIGUSR1 turned into a clean stop, and what a run that stops early
 * says (train_cmd.c runs the command).
 */
#include "train_fit.h"

#include "ctrain.h"

#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------------------------------ */
/* callbacks, Ctrl-C and SIGTERM                                                               */

static volatile sig_atomic_t g_interrupted = 0;
static struct timespec g_interrupted_at; /* (the handler's alone) */

/* The first signal stops the run after its current step; a second ends the process at once (the
 * default action), unless it comes within half a second of the first: that is the same stop
 * sent twice (GNU timeout signals the process and then its process group; a sweep's trial may
 * get its sweep's copy too), which must not lose the checkpoint. */
static void on_signal(int sig) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (!g_interrupted) {
        g_interrupted_at = now;
        g_interrupted = 1;
        return;
    }
    long long ns = (long long)(now.tv_sec - g_interrupted_at.tv_sec) * 1000000000LL +
                   (now.tv_nsec - g_interrupted_at.tv_nsec);
    if (ns < 500000000LL) return;
    signal(sig, SIG_DFL);
    raise(sig);
}

static const int k_signals[3] = {SIGINT, SIGTERM, SIGUSR1};

/* on_signal for k_signals, their handlers before into old */
void train_catch_signals(struct sigaction old[3]) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART; /* (a write to a full pipe is not cut short by it) */
    sigemptyset(&sa.sa_mask); /* (one handler at a time: it reads and writes g_interrupted_at) */
    for (int k = 0; k < 3; k++) sigaddset(&sa.sa_mask, k_signals[k]);
    g_interrupted = 0;
    for (int k = 0; k < 3; k++) sigaction(k_signals[k], &sa, &old[k]);
}

/* --patience: Keras' EarlyStopping(monitor=--monitor, min_delta=--min-delta, patience=N): stop
 * when the best value (improved on by more than min_delta) is N epochs old. */
static int patience_says_stop(fit_state *st, const train_run *run, int epoch) {
    int best = st->best_epoch = train_best_epoch_by(run, 0, epoch, run->o->min_delta);
    int patience = run->o->patience;
    return patience > 0 && epoch - (best < 0 ? -1 : best) >= patience;
}

int train_on_step(void *user, int epoch, int64_t done, int64_t total, int64_t samples,
                  double elapsed_s) {
    fit_state *st = user;
    if (epoch == st->test_stop_epoch && done == st->test_stop_batch) raise(SIGINT);
    train_tb_batch(st->run, epoch, done, total);
    if (g_interrupted) return 1;
    if (progress_due(&st->bar, done, total)) { /* the running train loss, when it is drawn */
        double sums[2], metrics[2];
        int64_t count = 0; /* (one process's only: not under mpirun, which has no bar anyway) */
        int have = !st->run->o->cfg.dist &&
                   ct_model_train_sums(st->run->m, &sums[0], &sums[1], &count) == CT_OK &&
                   count > 0;
        if (have) {
            metrics[0] = sums[0] / (double)count;
            metrics[1] = sums[1] / (double)count;
        }
        progress_step(&st->bar, epoch, done, total, samples, elapsed_s, have ? metrics : NULL);
    }
    return 0;
}

int train_on_epoch(void *user, const ct_epoch_result *r) {
    fit_state *st = user;
    train_run *run = st->run;
    progress_clear(&st->bar);
    if (run->n_val > 0)
        printf("Epoch [%d], val_loss: %.4f, val_acc: %.4f\n", r->epoch, cli_metric(r->val.loss),
               r->val.accuracy);
    else /* --val-size 0: nothing held out, the training's own numbers (Keras' loss, accuracy) */
        printf("Epoch [%d], train_loss: %.4f, train_acc: %.4f\n", r->epoch,
               cli_metric(r->train_loss), r->train_acc);
    fflush(stdout);
    st->epochs_done++;
    train_epoch_outputs(run, r->epoch + 1);
    /* a diverged run (Keras' TerminateOnNaN, per epoch) stops before a checkpoint of NaN weights
     * replaces a good one; every rank decides alike (the losses are all-reduced) */
    if (!isfinite(r->train_loss) || (run->n_val > 0 && !isfinite(r->val.loss))) {
        st->diverged_epoch = r->epoch;
        return 1;
    }
    /* or the weights, though the losses are finite (a batch norm's running variance overflowed,
     * or the last update of an epoch): the same on every rank (their weights are the same) */
    if (ct_model_check_finite(run->m) != CT_OK) {
        snprintf(st->weights_msg, sizeof st->weights_msg, "%s", ct_last_error());
        st->diverged_epoch = r->epoch;
        return 1;
    }
    /* --save-best's file, --restore-best's copy: one that cannot be written stops the run as a
     * checkpoint that cannot be written (printed) */
    int best_failed = train_best_after_epoch(run, r->epoch);
    if (best_failed) return st->save_failed = best_failed;
    int every = run->o->save_every; /* --snapshots: epoch_E.safetensors every N epochs */
    if (run->save_dir && run->o->snapshots && every > 0 && (r->epoch + 1) % every == 0) {
        /* (--overwrite: this run's first file there comes with its checkpoint, as best's) */
        if (run->stale_best && train_save(run, NULL) != 0) return st->save_failed = 1;
        if (train_save_snapshot(run, r->epoch + 1) != 0) return st->save_failed = 2;
    }
    if (train_sweep_pruned(run, r->epoch, st->pruned_msg, sizeof st->pruned_msg)) {
        st->pruned_epoch = r->epoch;
        return 1; /* the final checkpoint follows */
    }
    if (patience_says_stop(st, run, r->epoch) && r->epoch + 1 < run->total_epochs) {
        st->early_epoch = r->epoch;
        return 1; /* the final checkpoint follows */
    }
    if (run->save_dir && every > 0 && (r->epoch + 1) % every == 0 && !g_interrupted &&
        r->epoch + 1 < run->total_epochs && train_save(run, NULL) != 0)
        return st->save_failed = 1; /* a checkpoint that cannot be written stops the run
                                     * (message printed) */
    return g_interrupted ? 1 : 0;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The median of the epochs' training times (val 0) or validation times (val 1). */
double train_median_s(const ct_epoch_result *h, int n, int val) {
    if (n <= 0) return 0.0;
    double *v = malloc((size_t)n * sizeof *v);
    if (!v) return val ? h[n / 2].val_s : h[n / 2].train_s;
    for (int i = 0; i < n; i++) v[i] = val ? h[i].val_s : h[i].train_s;
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    double m = n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
    free(v);
    return m;
}

int train_interrupted(void) { return g_interrupted != 0; }

void train_restore_signals(const struct sigaction old[3]) {
    for (int k = 0; k < 3; k++) sigaction(k_signals[k], &old[k], NULL);
}

/* ------------------------------------------------------------------------------------------ */
/* what an early stop says                                                                     */

/* What to say when the run stops early: where it stopped, what was saved, how to go on. */
void train_report_interrupt(const train_run *run, int saved_ok) {
    if (ct_dist_rank(run->o->cfg.dist) != 0) return; /* rank 0 speaks for the job */
    ct_fit_position p = ct_model_fit_position(run->m);
    if (p.batch > 0) {
        int64_t n_batches = (run->n_train + run->o->cfg.batch_size - 1) / run->o->cfg.batch_size;
        fprintf(stderr, "ctrain: interrupted in epoch %d at batch %lld/%lld", p.epoch,
                (long long)p.batch, (long long)n_batches);
    } else {
        fprintf(stderr, "ctrain: interrupted after %d of %d epochs", p.epoch, run->total_epochs);
    }
    if (!run->save_dir)
        fprintf(stderr, "; nothing saved (give --save DIR to checkpoint)\n");
    else if (saved_ok)
        fprintf(stderr, "; saved to %s\nctrain: resume with: ctrain train --resume %s\n",
                run->save_dir, run->save_dir);
    else
        fprintf(stderr, "; the checkpoint in %s could not be updated\n", run->save_dir);
}

/* The loss (or, per `weights`, a weight) became NaN or infinite in epoch `epoch`: says so, and
 * what the --save folder holds (the run's last checkpoint, written before; its folder is
 * removed when this run made it and it is still empty). */
void train_report_divergence(const train_run *run, int epoch, const char *weights,
                             cli_made *made_save) {
    if (ct_dist_rank(run->o->cfg.dist) != 0) return; /* rank 0 speaks for the job */
    const ct_epoch_result *r = &run->history[epoch];
    char val[40] = "", why[300] = "";
    if (run->n_val > 0) snprintf(val, sizeof val, ", val_loss %.4g", cli_metric(r->val.loss));
    if (weights[0]) snprintf(why, sizeof why, "weights not finite: %s; ", weights);
    fprintf(stderr, "ctrain: training diverged in epoch %d (%strain_loss %.4g%s, lr %g); stopped "
            "after %d of %d epochs; a lower --lr or --clip-grad-norm may help\n", epoch, why,
            cli_metric(r->train_loss), val, (double)r->lr, epoch + 1, run->total_epochs);
    if (!run->save_dir) return;
    char best[64] = "", state[PATH_MAX + 32];
    int b = run->best_saved; /* (the diverged epoch is never the best: NaN does not improve) */
    if (b >= 0) snprintf(best, sizeof best, "; best.safetensors: epoch %d", b);
    snprintf(state, sizeof state, "%s/train_state.safetensors", run->save_dir);
    if (run->saved_epochs > 0)
        fprintf(stderr, "ctrain: %s keeps the checkpoint after epoch %d%s\n", run->save_dir,
                run->saved_epochs - 1, best);
    else if (run->o->resume_dir && !train_save_replaces(run->o))
        fprintf(stderr, "ctrain: %s keeps the checkpoint this run was resumed from%s\n",
                run->save_dir, best);
    else if (access(state, F_OK) == 0) /* --overwrite: not replaced yet */
        fprintf(stderr, "ctrain: %s keeps the checkpoint it held before, not replaced%s\n",
                run->save_dir, best);
    else if (b >= 0)
        fprintf(stderr, "ctrain: %s holds only best.safetensors (epoch %d)\n", run->save_dir, b);
    else {
        int gone = 0;
        if (made_save->n > 0) {
            cli_rmdirs(run->save_dir, made_save);
            gone = access(run->save_dir, F_OK) != 0;
        }
        fprintf(stderr, "ctrain: nothing was saved in %s%s\n", run->save_dir,
                gone ? " (removed: it was new and is empty)" : "");
    }
}
