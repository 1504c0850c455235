/*
 * train_tensorboard.c — `ctrain train --tensorboard DIR`: the run's curves as TensorBoard event
 * files (the library's ct_tfevents), laid out as Keras' TensorBoard callback lays them out, so
 * that `tensorboard --logdir DIR` draws train and validation on the same charts:
 *
 *   DIR/train/       epoch_loss, epoch_accuracy, epoch_learning_rate   at step E (E epochs done);
 *                    with --histograms, each weight tensor's histogram (its state_dict name)
 *   DIR/validation/  epoch_loss, epoch_accuracy                         step 0: before training
 *   DIR/test/        epoch_loss, epoch_accuracy                         at the end, step E
 *   DIR/swa/         epoch_loss, epoch_accuracy of --swa-start's average   at the end, step E
 *                    (on the validation split: a point beside the validation curve's last)
 *   DIR/train_batch/ batch_loss, batch_accuracy (--tensorboard-every N)      every N training
 *                    steps, step S: S steps done since the run began (Keras' update_freq=N:
 *                    the running average over the epoch so far); a folder of its own, its
 *                    steps not epochs, so that each run's START drops only its own kind
 *
 * Each run (and each resume) writes new files, opened at its first value, so that a run that
 * fails before it trains leaves none: one in each of the folders it writes or that
 * holds earlier files. Their SessionLog START makes TensorBoard drop the steps this run redoes
 * from earlier files in DIR: all of a repeated run's, a resumed run's after its checkpoint
 * (also in a folder this run does not write: an earlier run's validation, or its test point
 * when this one stops early). A run resumed into a DIR without its earlier files writes the
 * epochs it had done first (at the time of the resume: their own times are not saved).
 */
#include "cli.h"
#include "train.h"

#include <dirent.h>
#include <sys/stat.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

static const char *const k_runs[TRAIN_TB_RUNS] = {"train", "validation", "test", "swa",
                                                   "train_batch"};
enum { TB_TRAIN, TB_VAL, TB_TEST, TB_SWA, TB_BATCH };

/* DIR/run holds a file TensorBoard reads ("tfevents" in its name) */
static int has_events(const char *dir, const char *run) {
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/%s", dir, run);
    DIR *d = opendir(path);
    struct dirent *e;
    int found = 0;
    while (d && !found && (e = readdir(d)) != NULL) found = strstr(e->d_name, "tfevents") != NULL;
    if (d) closedir(d);
    return found;
}

int train_tb_prepare(train_run *r, int resumed_epochs) {
    const char *dir = r->o->tensorboard_dir;
    if (!dir) return 0;
    struct stat st;
    if (stat(dir, &st) == 0 && !S_ISDIR(st.st_mode)) {
        cli_error("--tensorboard %s: not a folder", dir);
        return 1;
    }
    int fresh = !has_events(dir, k_runs[TB_TRAIN]);
    for (int i = 0; i < 2; i++) {
        char path[PATH_MAX + 16];
        if (i == TB_VAL && r->n_val == 0) break;
        if (snprintf(path, sizeof path, "%s/%s", dir, k_runs[i]) >= PATH_MAX) {
            cli_error("--tensorboard %s: path too long", dir);
            train_tb_unprepare(r);
            return 1;
        }
        if (cli_mkdirs(path, &r->tb_made[i]) != 0) {
            train_tb_unprepare(r);
            return 1;
        }
    }
    for (int i = TB_TEST; i <= TB_BATCH; i++) { /* (made at their first value; a file in
                                                 * their way is found now) */
        char path[PATH_MAX + 16];
        snprintf(path, sizeof path, "%s/%s", dir, k_runs[i]);
        if (stat(path, &st) == 0 && !S_ISDIR(st.st_mode)) {
            cli_error("--tensorboard %s: %s is not a folder (where the %s go)", dir, path,
                      i == TB_TEST  ? "test values"
                      : i == TB_SWA ? "SWA average's values"
                                    : "values of --tensorboard-every");
            train_tb_unprepare(r);
            return 1;
        }
    }
    /* a resume: its history is in DIR already, or written first (from step 0) */
    r->tb_history = resumed_epochs > 0 && fresh ? resumed_epochs : 0;
    r->tb_start = resumed_epochs > 0 && !fresh ? resumed_epochs + 1 : 0;
    /* DIR/train_batch: the training steps done at the resume (its position's) are kept */
    const ct_fit_position p = r->o->cfg.resume; /* (all zero: a new run) */
    const int64_t spe = (r->n_train + r->o->cfg.batch_size - 1) / r->o->cfg.batch_size;
    r->tb_batch_last = (int64_t)p.epoch * spe + p.batch;
    r->tb_batch_start = r->tb_batch_last > 0 ? r->tb_batch_last + 1 : 0;
    return 0;
}

void train_tb_unprepare(train_run *r) {
    for (int i = 1; i >= 0 && r->o->tensorboard_dir; i--) {
        char path[PATH_MAX + 16];
        snprintf(path, sizeof path, "%s/%s", r->o->tensorboard_dir, k_runs[i]);
        cli_rmdirs(path, &r->tb_made[i]);
    }
}

/* DIR/run's new file, its START at step start (DIR/train_batch's: tb_batch_start; DIR/test,
 * DIR/swa and DIR/train_batch made when missing); non-zero on failure, printed */
static int tb_open(train_run *r, int run, int64_t start) {
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/%s", r->o->tensorboard_dir, k_runs[run]);
    if (run == TB_BATCH) start = r->tb_batch_start;
    if (run >= TB_TEST && cli_mkdirs(path, &(cli_made){0}) != 0) return 1;
    ct_status s = ct_tfevents_open(&r->tb[run], path, start);
    return s == CT_OK ? 0 : (cli_lib_error(s), 1);
}

/* DIR/run's file ready to write: at the run's first value, the files of all the folders that
 * this run writes or that hold earlier files are opened. Non-zero when it is not (an error is
 * reported once and remembered in outputs_failed (4), and the run goes on). */
static int tb_ready(train_run *r, int run) {
    if (!r->o->tensorboard_dir || (r->outputs_failed & 4)) return 1;
    int failed = 0;
    for (int i = 0; i < TRAIN_TB_RUNS && !r->tb_opened && !failed; i++)
        if (!r->tb[i] && (i == run || i == TB_TRAIN || (i == TB_VAL && r->n_val > 0) ||
                          has_events(r->o->tensorboard_dir, k_runs[i])))
            failed = tb_open(r, i, r->tb_start);
    r->tb_opened = 1;
    if (!failed && !r->tb[run]) failed = tb_open(r, run, r->tb_start);
    if (failed) r->outputs_failed |= 4;
    return failed;
}

static void tb_failed(train_run *r, ct_status s) {
    if (s == CT_OK) return;
    cli_lib_error(s);
    r->outputs_failed |= 4;
}

/* n scalars at step into DIR/run's file */
static void tb_write(train_run *r, int run, int64_t step, const char *const *tags,
                     const double *values, int n) {
    if (tb_ready(r, run) == 0) tb_failed(r, ct_tfevents_scalars(r->tb[run], step, tags, values, n));
}

static const char *const k_tags[] = {"epoch_loss", "epoch_accuracy", "epoch_learning_rate"};

static void tb_epoch(train_run *r, int i) {
    const ct_epoch_result *e = &r->history[i];
    double train[3] = {e->train_loss, e->train_acc, e->lr}, val[2] = {e->val.loss, e->val.accuracy};
    tb_write(r, TB_TRAIN, i + 1, k_tags, train, 3);
    if (e->val.count > 0) tb_write(r, TB_VAL, i + 1, k_tags, val, 2);
}

void train_tb_start(train_run *r) {
    if (!r->o->tensorboard_dir || r->tb_start > 0) return;
    if (r->before.count > 0) {
        double before[2] = {r->before.loss, r->before.accuracy};
        tb_write(r, TB_VAL, 0, k_tags, before, 2);
    }
    for (int i = 0; i < r->tb_history; i++) tb_epoch(r, i);
}

void train_tb_epoch(train_run *r, int n_epochs) {
    if (!r->o->tensorboard_dir) return;
    tb_epoch(r, n_epochs - 1);
    if (r->o->histograms && tb_ready(r, TB_TRAIN) == 0) /* (the weights as validated) */
        tb_failed(r, ct_tfevents_model_histograms(r->tb[TB_TRAIN], n_epochs, r->m));
}

/* the test's or SWA's point at the end (run: TB_TEST or TB_SWA) */
static void tb_final(train_run *r, int run, const ct_eval_result *ev, int epochs_done) {
    double v[2] = {ev->loss, ev->accuracy};
    /* a resumed run with nothing left to train ends at the step before its start: a file
     * whose START replaces the point there */
    if (r->o->tensorboard_dir && epochs_done < r->tb_start && !(r->outputs_failed & 4)) {
        ct_status s = ct_tfevents_close(r->tb[run]);
        r->tb[run] = NULL;
        if (s != CT_OK) cli_lib_error(s);
        if (s != CT_OK || tb_open(r, run, epochs_done) != 0) {
            r->outputs_failed |= 4;
            return;
        }
    }
    tb_write(r, run, epochs_done, k_tags, v, 2);
}

void train_tb_test(train_run *r, const ct_eval_result *test, int epochs_done) {
    tb_final(r, TB_TEST, test, epochs_done);
}

void train_tb_swa(train_run *r, const ct_eval_result *val, int epochs_done) {
    tb_final(r, TB_SWA, val, epochs_done);
}

void train_tb_batch(train_run *r, int epoch, int64_t done, int64_t total) {
    const int every = r->o->tensorboard_every; /* (of the run's steps, as Keras' update_freq) */
    if (!r->o->tensorboard_dir || every <= 0 ||
        (((int64_t)epoch * total + done) % every != 0 && done != total))
        return;
    double sums[2];
    int64_t count = 0;
    if (ct_model_train_sums(r->m, &sums[0], &sums[1], &count) != CT_OK || count <= 0) return;
    /* the step the sums are of: on a GPU a recorded run of steps may be queued ahead of done */
    const int64_t batch = r->o->cfg.batch_size, in_epoch = (count + batch - 1) / batch;
    const int64_t step = (int64_t)epoch * total + (in_epoch < total ? in_epoch : total);
    if (step <= r->tb_batch_last) return;
    r->tb_batch_last = step;
    static const char *const tags[] = {"batch_loss", "batch_accuracy"};
    double v[2] = {sums[0] / (double)count, sums[1] / (double)count};
    tb_write(r, TB_BATCH, step, tags, v, 2);
}

void train_tb_close(train_run *r) {
    for (int i = 0; i < TRAIN_TB_RUNS; i++) {
        ct_status s = ct_tfevents_close(r->tb[i]);
        r->tb[i] = NULL;
        if (s != CT_OK && !(r->outputs_failed & 4)) {
            cli_lib_error(s);
            r->outputs_failed |= 4;
        }
    }
}
