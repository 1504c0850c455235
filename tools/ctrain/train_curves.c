/*
 * train_curves.c — the run's curves as `ctrain train` writes them after every epoch: the --log
 * lines (JSON or CSV) and the --plot pictures (loss.png and accuracy.png, as the tutorial's
 * plot_losses and plot_accuracies draw them; the schedule's lr.png and momentum.png), and at
 * the end SWA's average as one more point beside the validation curve.
 */
#include "cli.h"
#include "train.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PLOT_WIDTH 800
#define PLOT_HEIGHT 500


static int log_line(train_run *r, const ct_epoch_result *e) {
    char line[1024];
    int n = train_log_is_csv(r->o->log_path) ? ct_epoch_csv(e, r->n_val > 0, line, sizeof line)
                                             : ct_epoch_json(e, line, sizeof line);
    if (n < 0 || fprintf(r->log, "%s\n", line) < 0 || fflush(r->log) != 0) {
        if (!(r->outputs_failed & 1))
            cli_error("--log %s: cannot write: %s", r->o->log_path,
                      strerror(errno));
        r->outputs_failed |= 1;
        return 1;
    }
    return 0;
}

int train_log_open(train_run *r, int n_epochs) {
    if (!r->o->log_path) return 0;
    /* the file stdout or stderr already writes (--log /dev/stdout > FILE): through a copy of
     * that descriptor, at its offset, rather than truncated and rewritten from the start */
    struct stat st, fd_st;
    int fd = -1;
    for (int k = 1; k <= 2 && fd < 0 && stat(r->o->log_path, &st) == 0 && S_ISREG(st.st_mode); k++)
        if (fstat(k, &fd_st) == 0 && fd_st.st_dev == st.st_dev && fd_st.st_ino == st.st_ino)
            fd = k;
    if (fd > 0) {
        fflush(fd == 1 ? stdout : stderr);
        int copy = dup(fd);
        r->log = copy >= 0 ? fdopen(copy, "w") : NULL;
        if (!r->log && copy >= 0) close(copy);
    } else {
        r->log = fopen(r->o->log_path, "w");
    }
    if (!r->log) {
        cli_error("--log %s: cannot open: %s", r->o->log_path, strerror(errno));
        return 1;
    }
    if (train_log_is_csv(r->o->log_path) &&
        (fprintf(r->log, "%s\n", r->n_val > 0 ? CT_EPOCH_CSV_HEADER : CT_EPOCH_CSV_HEADER_NO_VAL) <
             0 || fflush(r->log) != 0)) {
        cli_error("--log %s: cannot write: %s", r->o->log_path, strerror(errno));
        r->outputs_failed |= 1;
        return 1;
    }
    for (int i = 0; i < n_epochs; i++)
        if (log_line(r, &r->history[i])) return 1;
    return 0;
}

/* lr.png, and momentum.png when the schedule cycles it: the schedule of the n epochs run, step by
 * step (at most SCHEDULE_POINTS of them, evenly spread), as fastai's plot_sched; the plateau
 * schedule's cuts as the history has them (its epoch's first lr over the schedule's). buf:
 * 3 * SCHEDULE_POINTS doubles. A run that does not cycle the momentum removes the momentum.png
 * of an earlier one: a PNG file of the plots' size (train_check_outputs refused anything but a
 * PNG there before the run began; a link, or a picture of another size, is left alone). */
#define SCHEDULE_POINTS 4000
static ct_status schedule_plots(const train_run *r, int n, double *buf) {
    const ct_train_config *c = &r->o->cfg;
    const int64_t spe = (r->n_train + c->batch_size - 1) / c->batch_size;
    const int64_t total = spe * n, points = total < SCHEDULE_POINTS ? total : SCHEDULE_POINTS;
    double *x = buf, *lr = x + points, *mom = lr + points;
    for (int64_t i = 0; i < points; i++) {
        int64_t g = points == total ? i : (int64_t)((double)i * (double)(total - 1) /
                                                    (double)(points - 1));
        int e = (int)(g / spe);
        x[i] = (double)g / (double)spe;
        lr[i] = ct_schedule_lr(c, e, g % spe, spe);
        if (c->schedule == CT_SCHED_PLATEAU) lr[i] *= r->history[e].lr / ct_schedule_lr(c, e, 0, spe);
        mom[i] = c->cycle_momentum ? ct_schedule_momentum(c, e, g % spe, spe) : 0.0;
    }
    ct_series s_lr = {"learning rate", x, lr, (int)points};
    const int sgd_like = c->optimizer == CT_SGD || c->optimizer == CT_RMSPROP; /* (momentum) */
    ct_series s_mom = {sgd_like ? "momentum" : "beta1", x, mom, (int)points};
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/lr.png", r->o->plot_dir);
    ct_status s = ct_plot_png(path, "Learning rate vs. No. of epochs", "epoch", "learning rate",
                              &s_lr, 1, PLOT_WIDTH, PLOT_HEIGHT);
    snprintf(path, sizeof path, "%s/momentum.png", r->o->plot_dir);
    if (!c->cycle_momentum) {
        /* the PNG signature, then the IHDR chunk: length 13, "IHDR", width, height */
        static const unsigned char ours[24] = {
            0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R',
            0, 0, PLOT_WIDTH >> 8, PLOT_WIDTH & 255, 0, 0, PLOT_HEIGHT >> 8, PLOT_HEIGHT & 255};
        unsigned char head[24];
        struct stat st;
        int fd = lstat(path, &st) == 0 && S_ISREG(st.st_mode) ? open(path, O_RDONLY) : -1;
        int is_ours = fd >= 0 && read(fd, head, sizeof head) == (ssize_t)sizeof head &&
                      memcmp(head, ours, sizeof ours) == 0;
        if (fd >= 0) close(fd);
        if (is_ours) unlink(path);
        return s;
    }
    if (s == CT_OK)
        s = ct_plot_png(path, sgd_like ? "Momentum vs. No. of epochs"
                                                    : "Adam's beta1 vs. No. of epochs",
                        "epoch", s_mom.label, &s_mom, 1, PLOT_WIDTH, PLOT_HEIGHT);
    return s;
}

/* loss.png and accuracy.png from the validation before training and the n epochs (and SWA's
 * average's validation, once train_swa_end has it, a point at epoch n), then the schedule's. */
static void plots(train_run *r, int n) {
    size_t floats = (size_t)(n + 1) * 6;
    if (floats < 3 * SCHEDULE_POINTS) floats = 3 * SCHEDULE_POINTS;
    double *buf = malloc(sizeof(double) * floats);
    if (!buf) {
        if (!(r->outputs_failed & 2)) cli_error("--plot: out of memory");
        r->outputs_failed |= 2;
        return;
    }
    double *xv = buf, *xt = buf + (n + 1), *vloss = xt + (n + 1), *tloss = vloss + (n + 1);
    double *vacc = tloss + (n + 1), *tacc = vacc + (n + 1);
    xv[0] = 0;
    vloss[0] = r->before.count ? r->before.loss : NAN;
    vacc[0] = r->before.count ? r->before.accuracy : NAN;
    for (int i = 0; i < n; i++) {
        xv[i + 1] = xt[i] = i + 1;
        vloss[i + 1] = r->history[i].val.loss;
        vacc[i + 1] = r->history[i].val.accuracy;
        tloss[i] = r->history[i].train_loss;
        tacc[i] = r->history[i].train_acc;
    }
    const ct_eval_result *swa = train_swa_val(r);
    double swa_x = n, swa_loss = swa ? swa->loss : NAN, swa_acc = swa ? swa->accuracy : NAN;
    ct_series loss[3] = {{"train loss", xt, tloss, n}, {"validation loss", xv, vloss, n + 1},
                         {"SWA average: validation loss", &swa_x, &swa_loss, 1}};
    ct_series acc[3] = {{"train accuracy", xt, tacc, n}, {"validation accuracy", xv, vacc, n + 1},
                        {"SWA average: validation accuracy", &swa_x, &swa_acc, 1}};
    const int series = r->n_val > 0 ? (swa ? 3 : 2) : 1;
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/loss.png", r->o->plot_dir);
    ct_status s = ct_plot_png(path, "Loss vs. No. of epochs", "epoch", "loss", loss, series,
                              PLOT_WIDTH, PLOT_HEIGHT);
    snprintf(path, sizeof path, "%s/accuracy.png", r->o->plot_dir);
    if (s == CT_OK) /* train in blue, validation in orange, SWA in green, as in loss.png */
        s = ct_plot_png(path, "Accuracy vs. No. of epochs", "epoch", "accuracy", acc, series,
                        PLOT_WIDTH, PLOT_HEIGHT);
    if (s == CT_OK) s = schedule_plots(r, n, buf);
    if (s != CT_OK && !(r->outputs_failed & 2)) cli_lib_error(s);
    if (s != CT_OK) r->outputs_failed |= 2;
    free(buf);
}

void train_swa_outputs(train_run *r, int n_epochs) {
    const ct_eval_result *val = train_swa_val(r);
    if (!val) return;
    if (r->o->plot_dir) plots(r, n_epochs);
    train_tb_swa(r, val, n_epochs);
}

void train_epoch_outputs(train_run *r, int n_epochs) {
    if (r->log) log_line(r, &r->history[n_epochs - 1]);
    if (r->o->plot_dir) plots(r, n_epochs);
    train_tb_epoch(r, n_epochs);
}
