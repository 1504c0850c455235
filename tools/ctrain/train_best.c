/*
 * train_best.c — the epoch with the best --monitor (the lowest val_loss, or the highest
 * val_acc): --save-best's file (Keras'
 * ModelCheckpoint(save_best_only=True)) and --restore-best's weights (Keras'
 * EarlyStopping(restore_best_weights=True)); and a sweep trial's best so far against the
 * sweep's median (ctrain sweep --prune median).
 *
 * --restore-best keeps a host copy of the best epoch's weights (parameters and buffers) as the
 * run goes. At the end it puts them into the model, keeping the last epoch's beside them:
 * the test set and model.safetensors get the best weights, train_state.safetensors the last
 * ones (a resume continues the run, not the best epoch). With --save it also keeps
 * best.safetensors (as --save-best), from which a resumed run takes the best weights of the
 * epochs before it; a resume without that file (--restore-best added then) weighs the epochs
 * from there on (run->best_from). The weights include batch norm's num_batches_tracked, so
 * that a restored model file and a resumed train state hold the epoch's own counters.
 */
#include "cli.h"
#include "train.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

double train_monitored(const train_run *run, int epoch) {
    const ct_epoch_result *r = &run->history[epoch];
    return train_monitor_acc(run->o) ? r->val.accuracy : r->val.loss;
}

int train_best_epoch_by(const train_run *run, int from, int epoch, double min_delta) {
    int best = -1, max = train_monitor_acc(run->o); /* (Keras': strictly better, first kept) */
    for (int e = from; e <= epoch; e++) {
        double v = train_monitored(run, e), b = best < 0 ? NAN : train_monitored(run, best);
        if (best < 0 ? !isnan(v) : max ? v - min_delta > b : v + min_delta < b) best = e;
    }
    return best;
}

int train_best_epoch(const train_run *run, int from, int epoch) {
    return train_best_epoch_by(run, from, epoch, 0.0);
}

/* The layer of each of the model's counters (num_batches_tracked) in turn: the next counter
 * tensor from *i on, -1 when there is none. */
static int next_counter(const ct_model *m, int *i) {
    ct_tensor_info t;
    for (; *i < ct_model_tensor_count(m); (*i)++)
        if (ct_model_tensor_info(m, *i, &t) == CT_OK && t.kind == CT_TENSOR_COUNTER) {
            (*i)++;
            return t.layer;
        }
    return -1;
}

/* The model's weights into w (allocated on first use), as epoch's. Prints the error. */
static int weights_get(ct_model *m, train_weights *w, int epoch) {
    int64_t np = ct_model_param_count(m), nb = ct_model_buffer_count(m);
    int nt = ct_model_tensor_count(m);
    if (!w->params || !w->buffers || !w->tracked) {
        if (!w->params) w->params = malloc((size_t)np * sizeof(float));
        if (!w->buffers) w->buffers = malloc((size_t)(nb > 0 ? nb : 1) * sizeof(float));
        if (!w->tracked) w->tracked = malloc((size_t)(nt > 0 ? nt : 1) * sizeof(int64_t));
        if (!w->params || !w->buffers || !w->tracked)
            return cli_error("out of memory (a copy of the %lld weights for --restore-best)",
                             (long long)(np + nb));
    }
    ct_status s = ct_model_get_params(m, w->params);
    if (s == CT_OK && nb > 0) s = ct_model_get_buffers(m, w->buffers);
    if (s != CT_OK) return cli_lib_error(s);
    int k = 0;
    for (int i = 0, layer; (layer = next_counter(m, &i)) >= 0;)
        w->tracked[k++] = ct_model_batches_tracked(m, layer);
    w->epoch = epoch;
    return 0;
}

/* w's weights into the model. Prints the error. */
static int weights_put(ct_model *m, const train_weights *w) {
    ct_status s = ct_model_set_params(m, w->params);
    if (s == CT_OK && ct_model_buffer_count(m) > 0) s = ct_model_set_buffers(m, w->buffers);
    int k = 0;
    for (int i = 0, layer; s == CT_OK && (layer = next_counter(m, &i)) >= 0;)
        s = ct_model_set_batches_tracked(m, layer, w->tracked[k++]);
    return s == CT_OK ? 0 : cli_lib_error(s);
}

int train_best_after_epoch(train_run *run, int epoch) {
    const train_opts *o = run->o;
    if (train_best_epoch(run, run->best_from, epoch) != epoch) return 0;
    if (o->restore_best && weights_get(run->m, &run->best, epoch) != 0) return 3;
    if (run->save_dir && o->save_best) {
        /* --overwrite: this run's first file there comes with its checkpoint, which replaces
         * the other run's (so the folder never mixes the two runs' files) */
        if (run->stale_best && train_save(run, NULL) != 0) return 1;
        if (train_save_best(run, epoch) != 0) return 2;
    }
    return 0;
}

int train_best_resume(train_run *run, const char *dir) {
    if (!run->o->restore_best || run->best_saved < 0) return 0;
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/best.safetensors", dir);
    ct_checkpoint *ck = NULL;
    ct_status s = ct_checkpoint_open(path, &ck);
    /* the run's weights aside, best.safetensors' through the model into the copy, and back */
    int rc = s == CT_OK ? weights_get(run->m, &run->last, -1) : cli_lib_error(s);
    if (rc == 0) {
        s = ct_checkpoint_load_params(ck, run->m, ct_checkpoint_prefix(ck));
        rc = s != CT_OK ? cli_lib_error(s) : weights_get(run->m, &run->best, run->best_saved);
        if (weights_put(run->m, &run->last) != 0) rc = 1;
    }
    ct_checkpoint_free(ck);
    return rc;
}

int train_best_restore(train_run *run, int last_epoch) {
    if (!run->o->restore_best || last_epoch < 0) return 0;
    if (run->best_from > last_epoch) { /* added on resuming a finished run without its file */
        printf("Best weights: none weighed (no best.safetensors holds the run's %d epochs, and "
               "none ran since): the last epoch's are kept\n", last_epoch + 1);
        return 0;
    }
    int b = train_best_epoch(run, run->best_from, last_epoch);
    if (b < 0) return 0; /* (no finite val_loss: a diverged run stops before) */
    char since[48] = ""; /* (a resume that began weighing there: see train_cmd.c) */
    if (run->best_from > 0) snprintf(since, sizeof since, " since epoch %d", run->best_from);
    if (b == last_epoch) {
        printf("Best weights%s: the last epoch's (epoch %d, %s %.4f), kept\n", since, b,
               train_monitor_name(run->o), cli_metric(train_monitored(run, b)));
        return 0;
    }
    if (run->best.epoch != b)
        return cli_error("--restore-best: the weights of epoch %d (the best %s) were not kept",
                         b, train_monitor_name(run->o));
    if (weights_get(run->m, &run->last, last_epoch) != 0 || weights_put(run->m, &run->best) != 0)
        return 1;
    run->restored = b;
    printf("Restored the weights of epoch %d (%s %.4f, the %s%s; epoch %d's: %.4f)\n", b,
           train_monitor_name(run->o), cli_metric(train_monitored(run, b)),
           train_monitor_acc(run->o) ? "highest" : "lowest", since, last_epoch,
           cli_metric(train_monitored(run, last_epoch)));
    return 0;
}

int train_best_swap(train_run *run, int want_last) {
    if (run->restored < 0) return 0;
    return weights_put(run->m, want_last ? &run->last : &run->best);
}

void train_best_free(train_run *run) {
    free(run->best.params);
    free(run->best.buffers);
    free(run->best.tracked);
    free(run->last.params);
    free(run->last.buffers);
    free(run->last.tracked);
}

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* --prune halving: the rungs' line of f (after its "rule halving FACTOR MIN" line) for epoch:
 * whether epoch is a rung, and if so whether the run's objective there is among the best
 * 1/FACTOR of the trials' there and its own (at least the best one); when not, says why. */
static int halving_pruned(FILE *f, const char *rule, const train_run *run, int epoch, int acc,
                          char *msg, size_t bytes) {
    int factor = 0, min = 0;
    if (sscanf(rule, "rule halving %d %d", &factor, &min) != 2 || factor < 2 || min < 1) return 0;
    long done = min;
    while (done < epoch + 1) done *= factor;
    const double own = acc ? run->history[epoch].val.accuracy : run->history[epoch].val.loss;
    if (done != epoch + 1 || !isfinite(own)) return 0; /* (not a rung; a NaN stops anyway) */
    char *line = NULL;
    size_t cap = 0;
    double *v = NULL;
    long n = 0, nv = 0;
    while (getline(&line, &cap, f) > 0) {
        char *p = line, *end;
        if (strtol(p, &end, 10) != epoch || end == p || (*end != ' ' && *end != '\n' && *end))
            continue;
        nv = 1; /* its values (and the run's own), one a space at most */
        for (const char *c = end; *c; c++) nv += *c == ' ';
        if (!(v = malloc((size_t)(nv + 1) * sizeof *v))) break; /* (no verdict) */
        for (p = end; n < nv; p = end) {
            double x = strtod(p, &end);
            if (end == p) break;
            if (isfinite(x)) v[n++] = acc ? -x : x; /* (best first when sorted) */
        }
        break;
    }
    free(line);
    if (nv == 0) v = malloc(sizeof *v); /* (no trial has ended at this rung: the run alone) */
    if (!v) return 0;
    v[n++] = acc ? -own : own;
    qsort(v, (size_t)n, sizeof *v, by_value);
    const long keep = n / factor > 1 ? n / factor : 1;
    const double last = v[keep - 1]; /* the worst that goes on */
    free(v);
    if ((acc ? -own : own) <= last) return 0;
    snprintf(msg, bytes, "its %s %.4f is worse than %.4f: the best %ld of the %ld trials there "
             "go%s on (successive halving, 1 in %d)", acc ? "val_acc" : "val_loss", own,
             acc ? -last : last, keep, n, keep == 1 ? "es" : "", factor);
    return 1;
}

/* ctrain sweep --prune (sweep_run.c): the sweep names in CTRAIN_SWEEP_PRUNE a file of what its
 * ended trials tell, rewritten whole as they end: "objective val_loss" (or val_acc), then
 * - median: "EPOCH MEDIAN COUNT" lines, of the finished trials. After an epoch with a median
 *   there, a run whose best objective over its epochs so far is worse (higher loss, lower
 *   accuracy) is pruned: Optuna's MedianPruner;
 * - halving: a line "rule halving FACTOR MIN", then "EPOCH V1 V2 ..." lines of the trials'
 *   objectives at the rungs (halving_pruned): Optuna's SuccessiveHalvingPruner;
 * judged by the trial itself at the end of each epoch but its last. Not under mpirun (a sweep
 * runs its trials alone; the ranks might read the file at different times). */
int train_sweep_pruned(const train_run *run, int epoch, char *msg, size_t bytes) {
    const char *path = getenv("CTRAIN_SWEEP_PRUNE");
    /* (the last epoch: nothing is left to save, and a run that ran them all has finished) */
    if (!path || !*path || run->o->cfg.dist || epoch + 1 >= run->total_epochs) return 0;
    FILE *f = fopen(path, "r");
    if (!f) return 0; /* (none yet: too few trials have finished) */
    char objective[16] = "", line[128];
    int e = -1, count = 0, found = 0;
    double median = NAN;
    if (fgets(line, sizeof line, f) && sscanf(line, "objective %15s", objective) == 1) {
        const int acc = strcmp(objective, "val_acc") == 0;
        if (fgets(line, sizeof line, f) && strncmp(line, "rule halving ", 13) == 0) {
            int pruned = (acc || strcmp(objective, "val_loss") == 0) &&
                         halving_pruned(f, line, run, epoch, acc, msg, bytes);
            fclose(f);
            return pruned;
        }
        found = sscanf(line, "%d %lf %d", &e, &median, &count) == 3 && e == epoch;
        while (!found && fgets(line, sizeof line, f))
            found = sscanf(line, "%d %lf %d", &e, &median, &count) == 3 && e == epoch;
    }
    fclose(f);
    const int acc = strcmp(objective, "val_acc") == 0;
    if (!found || (!acc && strcmp(objective, "val_loss") != 0) || !isfinite(median)) return 0;
    double best = NAN;
    for (int i = 0; i <= epoch; i++) {
        double v = acc ? run->history[i].val.accuracy : run->history[i].val.loss;
        if (isfinite(v) && (!isfinite(best) || (acc ? v > best : v < best))) best = v;
    }
    if (isfinite(best) && (acc ? best >= median : best <= median)) return 0;
    snprintf(msg, bytes, "its best %s %.4f is worse than %.4f, the median of %d finished "
             "trial%s of the sweep there", objective, best, median, count, count == 1 ? "" : "s");
    return 1;
}
