/*
 * sweep_report.c — ctrain sweep's results: each trial's epochs read back from the --log it was
 * given, the trials ranked by the objective, and the table printed, saved as CSV (--save) and
 * drawn (--plot); see sweep.h.
 */
#include "sweep.h"
#include "cli.h"

#include "ctrain.h"
#include "ctrain/io.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

double sweep_json_number(const char *line, const char *key) {
    char pat[32];
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    const char *p = strstr(line, pat);
    if (!p) return NAN;
    p += strlen(pat);
    char *end;
    double v = strtod(p, &end);
    return end == p ? NAN : v;
}

void sweep_read_results(sweep_trial *t, const char *log_path, const char *out_path, int acc) {
    t->epochs = 0;
    t->best_epoch = -1;
    FILE *f = fopen(log_path, "r");
    char line[1024];
    while (f && fgets(line, sizeof line, f)) {
        double loss = sweep_json_number(line, "val_loss"), a = sweep_json_number(line, "val_acc");
        double e = sweep_json_number(line, "epoch");
        if (e >= 0 && e < 1e6 && (int)e >= t->ncurve) { /* (its epochs count from 0) */
            double *c = realloc(t->curve, ((size_t)e + 1) * sizeof *c);
            if (c) {
                for (int i = t->ncurve; i <= (int)e; i++) c[i] = NAN;
                t->curve = c;
                t->ncurve = (int)e + 1;
            }
        }
        if (e >= 0 && e < t->ncurve) t->curve[(int)e] = acc ? a : loss;
        t->epochs++;
        if (!isfinite(loss) || !isfinite(sweep_json_number(line, "train_loss"))) t->diverged = 1;
        if (!isfinite(loss) || !isfinite(a)) continue;
        if (t->best_epoch < 0 || (acc ? a > t->val_acc : loss < t->val_loss)) {
            t->best_epoch = (int)e;
            t->val_loss = loss;
            t->val_acc = a;
        }
    }
    if (f) fclose(f);
    t->test_line[0] = 0;
    t->swa = 0;
    t->pruned_epoch = -1;
    t->pruned_keep = t->pruned_planned = 0;
    if (!(f = fopen(out_path, "r"))) return;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "test_loss: ", 11) == 0) {
            line[strcspn(line, "\n")] = 0;
            snprintf(t->test_line, sizeof t->test_line, "%s", line);
        }
        /* (train_swa.c's line: the average the trial ends with is its result) */
        const char *v = strncmp(line, "SWA: the weights averaged", 25) == 0
                            ? strstr(line, ": val_loss: ") : NULL;
        double sl, sa;
        if (v && t->best_epoch >= 0 && sscanf(v, ": val_loss: %lf, val_acc: %lf", &sl, &sa) == 2 &&
            isfinite(sl) && isfinite(sa)) {
            t->swa = 1;
            t->val_loss = sl;
            t->val_acc = sa;
        }
        /* (train_cmd.c's line of a trial that pruned itself) */
        int e;
        if (sscanf(line, "Pruned after epoch %d (%*d of %d epochs run): its best %*s %lf is "
                   "worse than %lf, the median of %d", &e, &t->pruned_planned, &t->pruned_value,
                   &t->pruned_median, &t->pruned_of) == 5)
            t->pruned_epoch = e;
        else if (sscanf(line, "Pruned after epoch %d (%*d of %d epochs run): its %*s %lf is "
                        "worse than %lf: the best %d of the %d trials", &e, &t->pruned_planned,
                        &t->pruned_value, &t->pruned_median, &t->pruned_keep,
                        &t->pruned_of) == 6)
            t->pruned_epoch = e;
    }
    fclose(f);
}

const char *sweep_where(const sweep_trial *t, char *buf, size_t bytes) {
    if (t->swa) snprintf(buf, bytes, "of its SWA average");
    else snprintf(buf, bytes, "at epoch %d", t->best_epoch);
    return buf;
}

/* the table                                                                                   */

int sweep_better(const sweep_trial *a, const sweep_trial *b, int acc) {
    int oka = a->rc == 0 && a->best_epoch >= 0 && !sweep_was_pruned(a);
    int okb = b->rc == 0 && b->best_epoch >= 0 && !sweep_was_pruned(b);
    if (oka != okb) return oka;
    if (!oka) return 0;
    return acc ? a->val_acc > b->val_acc : a->val_loss < b->val_loss;
}

const char *sweep_status(const sweep_trial *t, char *buf, size_t bytes) {
    if (t->rc == 0 && t->best_epoch >= 0 && !sweep_was_pruned(t)) return NULL;
    if (t->rc < 0) snprintf(buf, bytes, "not run");
    else if (t->diverged) snprintf(buf, bytes, "diverged (NaN) after %d epoch%s", t->epochs,
                                   t->epochs == 1 ? "" : "s");
    else if (sweep_was_pruned(t)) snprintf(buf, bytes, "pruned after epoch %d", t->pruned_epoch);
    else if (t->rc == CLI_EXIT_INTERRUPTED) snprintf(buf, bytes, "interrupted");
    else if (t->signal) snprintf(buf, bytes, "killed by signal %d (%s)", t->signal,
                                 strsignal(t->signal));
    else if (t->rc == 0) snprintf(buf, bytes, "no validation result"); /* (its log gone) */
    else snprintf(buf, bytes, "failed (exit %d)", t->rc);
    return buf;
}

/* ord[0, m): the trials idx[0, m) best first (a stable merge sort: the earlier of equals
 * first); work: m ints. */
static void sweep_rank(const sweep_trial *tr, const int *idx, int ran, int acc, int *ord,
                       int *work) {
    for (int i = 0; i < ran; i++) ord[i] = idx[i];
    for (int w = 1; w < ran; w *= 2) {
        for (int lo = 0; lo < ran; lo += 2 * w) {
            int mid = lo + w < ran ? lo + w : ran, hi = lo + 2 * w < ran ? lo + 2 * w : ran;
            int a = lo, b = mid, k = lo;
            while (a < mid || b < hi)
                work[k++] = b >= hi || (a < mid && !sweep_better(&tr[ord[b]], &tr[ord[a]], acc))
                                ? ord[a++] : ord[b++];
        }
        memcpy(ord, work, (size_t)ran * sizeof *ord);
    }
}

/* The ranked table on stdout (print) and as CSV into csv (may be NULL). */
static void table(const sweep_spec *s, const sweep_trial *tr, const int *ord, int ran, int acc,
                  int print, FILE *csv) {
    int w[NUM_TRAIN_FLAGS];
    for (int d = 0; d < s->ndims; d++) {
        w[d] = (int)strlen(s->flags[s->dims[d]].name) + 2;
        for (int r = 0; r < ran; r++) {
            int len = (int)strlen(sweep_value_of(s, tr[ord[r]].combo, s->dims[d]));
            if (len > w[d]) w[d] = len;
        }
    }
    if (print) {
        int swa = 0;
        for (int r = 0; r < ran; r++) swa |= tr[ord[r]].swa;
        printf("\nTrials ranked by %s (%s at each trial's best epoch%s):\n",
               acc ? "val_acc" : "val_loss", acc ? "the highest" : "the lowest",
               swa ? ", or of its SWA average: epoch SWA" : "");
        printf("rank  trial");
        for (int d = 0; d < s->ndims; d++) printf("  --%-*s", w[d] - 2, s->flags[s->dims[d]].name);
        printf("  epoch  val_loss  val_acc  seconds\n");
    }
    if (csv) {
        fprintf(csv, "rank,trial");
        for (int d = 0; d < s->ndims; d++) fprintf(csv, ",%s", s->flags[s->dims[d]].name);
        fprintf(csv, ",status,best_epoch,val_loss,val_acc,epochs,seconds\n");
    }
    for (int r = 0; r < ran; r++) {
        const sweep_trial *t = &tr[ord[r]];
        char sb[64];
        const char *st = sweep_status(t, sb, sizeof sb);
        char rank[16];
        snprintf(rank, sizeof rank, "%d", r + 1);
        const int values = !st || sweep_was_pruned(t); /* (a pruned trial's, as far as it ran) */
        if (print) {
            printf("%-4s  %5d", st ? "-" : rank, ord[r] + 1);
            for (int d = 0; d < s->ndims; d++)
                printf("  %-*s", w[d], sweep_value_of(s, t->combo, s->dims[d]));
            char ep[16];
            if (t->swa) snprintf(ep, sizeof ep, "SWA");
            else snprintf(ep, sizeof ep, "%d", t->best_epoch);
            if (values)
                printf("  %5s  %8.4f  %7.4f  %7.2f", ep, t->val_loss, t->val_acc, t->seconds);
            printf(st ? "  %s\n" : "\n", st);
        }
        if (!csv) continue;
        fprintf(csv, "%s,%d", st ? "" : rank, ord[r] + 1);
        for (int d = 0; d < s->ndims; d++) {
            const char *v = sweep_value_of(s, t->combo, s->dims[d]);
            if (strpbrk(v, ",\"\r\n")) { /* RFC 4180: quoted, quotes doubled */
                fputc(',', csv);
                fputc('"', csv);
                for (const char *c = v; *c; c++) {
                    if (*c == '"') fputc('"', csv);
                    fputc(*c, csv);
                }
                fputc('"', csv);
            } else {
                fprintf(csv, ",%s", v);
            }
        }
        /* (SWA's values as its line printed them) */
        if (values && t->swa)
            fprintf(csv, ",%s,swa,%.4f,%.4f,%d,%.3f\n", st ? st : "ok", t->val_loss, t->val_acc,
                    t->epochs, t->seconds);
        else if (values)
            fprintf(csv, ",%s,%d,%.17g,%.17g,%d,%.3f\n", st ? st : "ok", t->best_epoch,
                    t->val_loss, t->val_acc, t->epochs, t->seconds);
        else fprintf(csv, ",%s,,,,%d,%.3f\n", st, t->epochs, t->seconds);
    }
}

void sweep_print_table(const sweep_spec *s, const sweep_trial *tr, const int *ord, int ran,
                       int acc) {
    table(s, tr, ord, ran, acc, 1, NULL);
    if (!s->prune) return;
    int pruned = 0;
    long done = 0, cut = 0, planned = 0; /* epochs run; of those, the pruned trials' and plans */
    for (int r = 0; r < ran; r++) {
        const sweep_trial *t = &tr[ord[r]];
        done += t->epochs;
        if (!sweep_was_pruned(t)) continue;
        pruned++;
        cut += t->epochs;
        planned += t->pruned_planned > t->epochs ? t->pruned_planned : t->epochs;
    }
    if (pruned) /* (what pruning saved) */
        printf("Pruned: %d of %d trial%s, after %ld of their %ld epochs: %ld epochs run in all, "
               "of %ld\n", pruned, ran, ran == 1 ? "" : "s", cut, planned, done,
               done - cut + planned);
}

int *sweep_ranked(const sweep_trial *tr, long n, int acc, int *ran) {
    int m = 0;
    for (long k = 0; k < n; k++) m += tr[k].rc >= 0;
    *ran = m;
    int *ord = m > 0 ? malloc(3 * (size_t)m * sizeof *ord) : NULL;
    if (!ord) return NULL;
    int *idx = ord + 2 * m, i = 0; /* (with --jobs, those that ran are not a prefix) */
    for (long k = 0; k < n; k++)
        if (tr[k].rc >= 0) idx[i++] = (int)k;
    sweep_rank(tr, idx, m, acc, ord, ord + m);
    return ord;
}

int sweep_save_csv(const sweep_spec *s, const sweep_trial *tr, long n, int acc) {
    char path[PATH_MAX], part[PATH_MAX + 8];
    snprintf(path, sizeof path, "%s/sweep.csv", s->save_dir);
    snprintf(part, sizeof part, "%s.tmp", path);
    int ran, *ord = sweep_ranked(tr, n, acc, &ran);
    if (!ord && ran > 0) return cli_error("sweep: out of memory");
    FILE *f = fopen(part, "w");
    if (!f) {
        free(ord);
        return cli_error("sweep: cannot write %s: %s", part, strerror(errno));
    }
    table(s, tr, ord, ran, acc, 0, f);
    free(ord);
    if (fclose(f) != 0 || rename(part, path) != 0) {
        int e = errno;
        unlink(part);
        return cli_error("sweep: cannot write %s: %s", path, strerror(e));
    }
    return CLI_EXIT_OK;
}

/* The trial's log: DIR/trial_K/log.jsonl with --save, else in the temporary folder. */
void sweep_log_path(const sweep_spec *s, const char *tmp, long k, char *out, size_t bytes) {
    if (s->save_dir) snprintf(out, bytes, "%s/trial_%ld/log.jsonl", s->save_dir, k + 1);
    else snprintf(out, bytes, "%s/trial_%ld.jsonl", tmp, k + 1);
}

#define SWEEP_PLOTTED 10 /* curves in sweep.png: the best trials (one colour each) */

/* Trial k's objective over its epochs from its log into *ser (x: the epochs), *xs and *ys
 * malloc'd (NULL: out of memory). */
static void read_curve(const sweep_spec *s, const char *tmp, const sweep_trial *t, long k,
                       int acc, const char *label, ct_series *ser, double **xs, double **ys) {
    *xs = malloc(((size_t)t->epochs + 1) * sizeof(double));
    *ys = malloc(((size_t)t->epochs + 1) * sizeof(double));
    *ser = (ct_series){label, *xs, *ys, 0};
    if (!*xs || !*ys) return;
    char path[PATH_MAX], line[1024];
    sweep_log_path(s, tmp, k, path, sizeof path);
    FILE *f = fopen(path, "r");
    int m = 0;
    while (f && m < t->epochs && fgets(line, sizeof line, f)) {
        (*xs)[m] = sweep_json_number(line, "epoch");
        (*ys)[m++] = sweep_json_number(line, acc ? "val_acc" : "val_loss");
    }
    if (f) fclose(f);
    ser->n = m;
}

/* --plot DIR: DIR/sweep.png, the objective over the epochs of the best finished trials (a
 * trial ranked by its SWA average: that as a diamond one epoch after its last, at x = the
 * epochs run), and the pruned ones' in grey behind them (as Optuna's plot_intermediate_values
 * shows them). */
int sweep_plot(const sweep_spec *s, const char *tmp, const sweep_trial *tr,
                      const int *ord, int ran, int acc) {
    ct_series ser[SWEEP_PLOTTED], *muted = malloc(((size_t)ran + 1) * sizeof *muted);
    char label[SWEEP_PLOTTED][160];
    double end_x[SWEEP_PLOTTED], end_y[SWEEP_PLOTTED];
    int n_swa = 0;
    double **xs = calloc((size_t)ran + 1, sizeof *xs), **ys = calloc((size_t)ran + 1, sizeof *ys);
    int n = 0, n_muted = 0, nx = 0, rc = CLI_EXIT_OK;
    for (int r = 0; muted && xs && ys && r < ran && rc == CLI_EXIT_OK; r++) {
        const sweep_trial *t = &tr[ord[r]];
        char sb[64], what[128];
        const int plotted = !sweep_status(t, sb, sizeof sb) && n < SWEEP_PLOTTED;
        if (!plotted && !sweep_was_pruned(t)) continue;
        if (plotted) {
            sweep_describe(s, t->combo, what, sizeof what);
            snprintf(label[n], sizeof label[n], "%d. trial %d: %s", r + 1, ord[r] + 1, what);
        }
        read_curve(s, tmp, t, ord[r], acc, plotted ? label[n] : NULL,
                   plotted ? &ser[n] : &muted[n_muted], &xs[nx], &ys[nx]);
        if (!xs[nx++] || !ys[nx - 1]) rc = cli_error("sweep: out of memory");
        if (plotted) { /* (its SWA line's value, after its last epoch: x = the epochs run) */
            end_x[n] = t->swa ? (double)t->epochs : NAN;
            end_y[n] = t->swa ? (acc ? t->val_acc : t->val_loss) : NAN;
            n_swa += t->swa;
        }
        if (plotted) n++;
        else n_muted++;
    }
    if (!muted || !xs || !ys) rc = cli_error("sweep: out of memory");
    char png[PATH_MAX], title[96], muted_label[64];
    snprintf(png, sizeof png, "%s/sweep.png", s->plot_dir);
    snprintf(muted_label, sizeof muted_label, "%d pruned trial%s", n_muted, n_muted == 1 ? "" : "s");
    if (rc == CLI_EXIT_OK && n + n_muted > 0) {
        const char *obj = acc ? "val_acc" : "val_loss";
        if (n + n_muted == ran) snprintf(title, sizeof title, "%s of each trial", obj);
        else if (n == 0) snprintf(title, sizeof title, "%s of the pruned trials", obj);
        else if (n == 1) snprintf(title, sizeof title, "%s of the best trial", obj);
        else snprintf(title, sizeof title, "%s of the best %d trials", obj, n);
        const ct_plot_opts opts = {.muted = muted, .n_muted = n_muted, .muted_label = muted_label,
                                   .end_x = n_swa ? end_x : NULL, .end_y = n_swa ? end_y : NULL,
                                   .end_label = "the SWA average (its result)"};
        rc = cli_check_png_out("plot", png);
        ct_status st = rc == CLI_EXIT_OK ? ct_plot_png_opts(png, title, "epoch",
                                                            acc ? "val_acc" : "val_loss", ser, n,
                                                            800, 500, &opts)
                                         : CT_OK;
        if (st != CT_OK) rc = cli_lib_error(st);
    }
    for (int i = 0; i < nx; i++) {
        free(xs[i]);
        free(ys[i]);
    }
    free(xs);
    free(ys);
    free(muted);
    return rc;
}
