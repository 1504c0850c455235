/*
 * train_swa.c — `ctrain train --swa-start`: stochastic weight averaging (torch.optim.swa_utils'
 * AveragedModel, SWALR and update_bn, which Lightning's StochasticWeightAveraging callback
 * wraps; its swa_epoch_start counts from 1 and it averages at each epoch's start, so its
 * epochs are not ctrain's): its flags, a resumed run's settings, and the run's end, where the model becomes the
 * average (ct_swa_finish) and the "SWA:" line says what it is and how it validates.
 */
#include "cli.h"
#include "train.h"

#include <stdio.h>
#include <string.h>

#define SEEN(name) (cli_find(flags, nflags, name)->seen)

/* The run's epochs in all, from the schedule train_finish_options has set in o->cfg. */
static int total_epochs(const ct_train_config *c) {
    int total = 0;
    for (int p = 0; p < c->num_phases; p++) total += c->phases[p].epochs;
    return total;
}

int train_swa_options(train_opts *o, cli_flag *flags, int nflags) {
    ct_train_config *c = &o->cfg;
    static const char *const needs[] = {"swa-lr", "swa-anneal-epochs", "swa-anneal"};
    const int on = strcmp(o->swa_start, "off") != 0;
    c->swa = on;
    if (!on) {
        for (size_t i = 0; i < sizeof needs / sizeof needs[0]; i++)
            if (SEEN(needs[i]))
                return cli_usage_error("train", "--%s: needs --swa-start E (the epoch SWA "
                                       "starts at)", needs[i]);
        return CLI_EXIT_OK;
    }
    const int total = total_epochs(c);
    double v;
    long e;
    if (strchr(o->swa_start, '.')) { /* a fraction of the run */
        if (cli_parse_double(o->swa_start, &v) != 0 || !(v > 0.0 && v < 1.0))
            return cli_usage_error("train", "--swa-start: expected an epoch E (0-based) or a "
                                   "fraction F in (0, 1) of the %d epochs, got \"%s\"", total,
                                   o->swa_start);
        e = (long)(v * total);
    } else if (cli_parse_long(o->swa_start, 0, MAX_TOTAL_EPOCHS, &e) != 0) {
        return cli_usage_error("train", "--swa-start: expected an epoch E (0-based) or a "
                               "fraction F in (0, 1) of the %d epochs, got \"%s\"", total,
                               o->swa_start);
    }
    if (e >= total && o->resume_dir && !SEEN("swa-start"))
        return cli_usage_error("train", "--resume %s: the run averages its weights from epoch "
                               "%ld on (--swa-start), past the last of the %d epochs asked "
                               "(--epochs, --schedule)", o->resume_dir, e, total);
    if (e >= total)
        return cli_usage_error("train", "--swa-start %s: epoch %ld is past the run's last, "
                               "epoch %d (the epochs count from 0)", o->swa_start, e, total - 1);
    if (o->ema_decay > 0.0f)
        return cli_usage_error("train", "--swa-start: not with --ema (two averages of the "
                               "weights: SWA's is equal-weighted over epochs, --ema's "
                               "exponential over steps)");
    if (o->restore_best)
        return cli_usage_error("train", "--swa-start: not with --restore-best (the run ends "
                               "with the average of its last epochs, not its best one)");
    if (o->swa_lr > 0.0f && (c->schedule == CT_SCHED_PLATEAU || c->schedule == CT_SCHED_ONECYCLE))
        return cli_usage_error("train", "--swa-lr: SWALR replaces the schedule from --swa-start, "
                               "which --lr-schedule %s does not allow (its lr follows the "
                               "whole run); without --swa-lr SWA averages under it",
                               o->lr_schedule);
    if (!(o->swa_lr > 0.0f) && (SEEN("swa-anneal-epochs") || SEEN("swa-anneal")))
        return cli_usage_error("train", "--%s: needs --swa-lr X (the lr SWALR anneals to)",
                               SEEN("swa-anneal") ? "swa-anneal" : "swa-anneal-epochs");
    c->swa_start = (int)e;
    c->swa_lr = o->swa_lr;
    c->swa_anneal_epochs = o->swa_anneal_epochs;
    c->swa_anneal_linear = strcmp(o->swa_anneal, "linear") == 0;
    return CLI_EXIT_OK;
}

int train_swa_resumed(train_opts *o, cli_flag *flags, int nflags, const ct_train_config *saved,
                      const char *dir) {
    char was[64];
    if (saved->swa) snprintf(was, sizeof was, "SWA from epoch %d", saved->swa_start);
    else snprintf(was, sizeof was, "no SWA");
    long e = -1;
    if (SEEN("swa-start") &&
        !(strcmp(o->swa_start, "off") == 0
              ? !saved->swa
              : saved->swa && cli_parse_long(o->swa_start, 0, MAX_TOTAL_EPOCHS, &e) == 0 &&
                    e == saved->swa_start))
        return cli_usage_error("train", "--swa-start %s: the run in %s was saved with %s, and a "
                               "resumed run keeps the settings that change its results",
                               o->swa_start, dir, was);
    const char *anneal = saved->swa_anneal_linear ? "linear" : "cos";
    if ((SEEN("swa-lr") && o->swa_lr != saved->swa_lr) ||
        (SEEN("swa-anneal-epochs") && o->swa_anneal_epochs != saved->swa_anneal_epochs) ||
        (SEEN("swa-anneal") && strcmp(o->swa_anneal, anneal) != 0)) {
        const char *flag = SEEN("swa-lr") && o->swa_lr != saved->swa_lr ? "swa-lr"
                           : SEEN("swa-anneal") && strcmp(o->swa_anneal, anneal) != 0
                               ? "swa-anneal" : "swa-anneal-epochs";
        if (saved->swa && saved->swa_lr > 0.0f)
            snprintf(was, sizeof was, "--swa-lr %g --swa-anneal-epochs %d --swa-anneal %s",
                     (double)saved->swa_lr, saved->swa_anneal_epochs, anneal);
        else if (saved->swa)
            snprintf(was, sizeof was, "SWA at the schedule's lr");
        return cli_usage_error("train", "--%s: the run in %s was saved with %s, and a resumed "
                               "run keeps the settings that change its results", flag, dir, was);
    }
    if (saved->swa) snprintf(o->swa_start_resumed, sizeof o->swa_start_resumed, "%d",
                             saved->swa_start);
    else snprintf(o->swa_start_resumed, sizeof o->swa_start_resumed, "off");
    o->swa_start = o->swa_start_resumed;
    o->swa_lr = saved->swa_lr;
    o->swa_anneal_epochs = saved->swa_anneal_epochs;
    o->swa_anneal = anneal;
    /* (train_swa_options then checks them as a new run's: needs[] are not SEEN-refused, the
     * flags being the saved values) */
    return CLI_EXIT_OK;
}

ct_status train_swa_end(train_run *run, const ct_dataset *train, const int32_t *train_idx,
                        const int32_t *val_idx, ct_dist *dist) {
    const ct_train_config *cfg = &run->o->cfg;
    ct_model *m = run->m;
    int64_t averaged = 0;
    ct_status s = ct_swa_finish(m, train, train_idx, run->n_train, cfg, &averaged);
    if (s != CT_OK) return s;
    int done = ct_model_fit_position(m).epoch;
    if (averaged == 0) {
        printf("SWA: no epoch averaged (the run ended before epoch %d): the model keeps the "
               "trained weights\n", cfg->swa_start);
        return CT_OK;
    }
    run->swa_averaged = averaged;
    int bn = 0; /* batch norm layers whose statistics were recomputed */
    for (int i = cfg->frozen_layers; ct_model_layer_name(m, i); i++)
        if (ct_model_batches_tracked(m, i) >= 0) bn++;
    printf("SWA: the weights averaged over %lld epoch%s (epoch%s %d%s", (long long)averaged,
           averaged == 1 ? "" : "s", averaged == 1 ? "" : "s", cfg->swa_start,
           averaged == 1 ? "" : " to ");
    if (averaged > 1) printf("%d", done - 1);
    printf(")");
    if (bn) printf(", batch norm's statistics recomputed over %lld training images",
                   (long long)run->n_train);
    if (run->n_val > 0) {
        ct_eval_result ev;
        if ((s = ct_evaluate_dist(m, train, val_idx, run->n_val, cfg->eval_batch_size,
                                  cfg->label_smoothing, dist, &ev)) != CT_OK)
            return s;
        printf(": val_loss: %.4f, val_acc: %.4f", cli_metric(ev.loss), ev.accuracy);
        run->swa_val = ev;
    }
    printf("\n");
    fflush(stdout);
    return CT_OK;
}

int train_swa_meta(const train_run *run, ct_meta *meta, char buf[2][24]) {
    if (run->swa_averaged <= 0) return 0;
    const int start = run->o->cfg.swa_start;
    snprintf(buf[0], sizeof buf[0], "%d", start);
    snprintf(buf[1], sizeof buf[1], "%lld", (long long)run->swa_averaged);
    meta[0] = (ct_meta){"swa_start", buf[0]};
    meta[1] = (ct_meta){"swa_epochs", buf[1]};
    return 2;
}

const ct_eval_result *train_swa_val(const train_run *run) {
    return run->swa_averaged > 0 && run->n_val > 0 ? &run->swa_val : NULL;
}
