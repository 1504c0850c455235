/*
 * sweep_cmd.c — `ctrain sweep`: a hyperparameter search over `ctrain train`'s flags, as Keras
 * Tuner's GridSearch and RandomSearch run one, or Optuna's TPE (sweep_tpe.c), with Optuna's
 * median pruning (sweep_run.c) and Keras Tuner's resumption (sweep_save.c).
 *
 * A train flag given several values (repeated, or a number flag given a list: --lr 0.1,0.5) is a
 * dimension of the grid; every combination of the dimensions' values is a trial, a run of
 * `ctrain train` with those values and the other flags as given. Each trial runs as a child
 * process of this binary (its own memory, device and Ctrl-C handling: exactly `ctrain train`),
 * its stdout kept in a file and its epochs read back from the --log it is given; the trials are
 * ranked by --objective (val_loss or val_acc) at each one's best epoch, on the validation split
 * (never the test set: only the best trial's test line is printed, as it ran). The results'
 * table, CSV and picture: sweep_report.c; its command line: sweep_args.c.
 *
 * Every trial's flags are checked here, as `ctrain train` checks them, before the first one
 * runs: a bad value stops the sweep at once, not after hours of trials.
 */
#define _GNU_SOURCE /* strdup, mkdtemp */
#include "args.h"
#include "cli.h"
#include "train.h"

#include "ctrain.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "sweep.h"


/* A trial's argv (NULL-terminated; argv[0] "train"): the flags in the order first given, the
 * per-trial folders under the output flags, then --log and --quiet when given. The strings
 * are owned by s, dir_buf (3 * PATH_MAX) and the caller's log path. */
static int trial_argv(const sweep_spec *s, long combo, int k, const char *log_path,
                      char *dir_buf, char **out) {
    int n = 0;
    out[n++] = "train";
    for (int i = 0; i < s->nflags; i++) {
        const sweep_flag *f = &s->flags[i];
        out[n++] = (char *)f->dashed;
        if (f->is_switch) continue;
        const char *v = sweep_value_of(s, combo, i);
        char *dir = NULL;
        if (strcmp(f->name, "save") == 0) dir = dir_buf;
        if (strcmp(f->name, "plot") == 0) dir = dir_buf + PATH_MAX;
        if (strcmp(f->name, "tensorboard") == 0) dir = dir_buf + 2 * PATH_MAX;
        if (dir) {
            if (snprintf(dir, PATH_MAX, "%s/trial_%d", v, k) >= PATH_MAX) {
                cli_usage_error("sweep", "--%s %s: too long a path", f->name, v);
                return -1;
            }
            v = dir;
        }
        out[n++] = (char *)v;
    }
    if (log_path) {
        out[n++] = "--log";
        out[n++] = (char *)log_path;
    }
    if (s->add_quiet) out[n++] = "--quiet";
    if (s->threads[0]) {
        out[n++] = "--threads";
        out[n++] = (char *)s->threads;
    }
    out[n] = NULL;
    return n;
}

/* --resume: the argv of trial k (from 0), interrupted with a checkpoint, carried on:
 * ctrain train --resume DIR/trial_K, its log and the sweep's --quiet and --threads. */
static int resumed_argv(const sweep_spec *s, long k, const char *log_path, char *dir_buf,
                        char **out) {
    int n = 0;
    snprintf(dir_buf, PATH_MAX, "%s/trial_%ld", s->save_dir, k + 1);
    out[n++] = "train";
    out[n++] = "--resume";
    out[n++] = dir_buf;
    out[n++] = "--log";
    out[n++] = (char *)log_path;
    sweep_spec *sp = (sweep_spec *)s; /* (only read) */
    if (s->add_quiet || sweep_flag_of(sp, "quiet")) out[n++] = "--quiet";
    /* (its threads and device as the others': on the CPU the numbers depend on --threads) */
    const sweep_flag *th = sweep_flag_of(sp, "threads"), *dev = sweep_flag_of(sp, "device");
    if (s->threads[0] || th) {
        out[n++] = "--threads";
        out[n++] = s->threads[0] ? (char *)s->threads : (char *)th->vals[0];
    }
    if (dev) {
        out[n++] = "--device";
        out[n++] = (char *)dev->vals[0];
    }
    out[n] = NULL;
    return n;
}

/* The data's shape, learnt once (--dataset and --data are every trial's), and the last model
 * built (trials of the same --model and --hidden build the same one); one sweep a process */
static int g_shape_known, g_shape[4]; /* c, h, w, classes */
static char g_built[MODEL_SPEC_BYTES];

/* The trial's model built on the CPU for its data's shape, as ctrain train will build it: a
 * --model (or --hidden) that cannot be is found before the first trial runs. Not with --init
 * (its file's model) or --image-size (the folder's images resized). */
static int check_model(const train_opts *o) {
    if (o->init_path || (o->image_size && *o->image_size)) return CLI_EXIT_OK;
    if (!g_shape_known) { /* (MNIST's, Fashion-MNIST's and CIFAR-10's without a file read) */
        int rc = cli_dataset_shape(o->dataset, o->data_dir, &g_shape[0], &g_shape[1],
                                   &g_shape[2], &g_shape[3]);
        if (rc != CLI_EXIT_OK) return rc; /* (said why: the trial would fail so) */
        g_shape_known = 1;
    }
    char buf[MODEL_SPEC_BYTES];
    const char *spec = cli_model_spec(o->model, o->hidden, g_shape[3], buf, sizeof buf);
    if (strcmp(spec, g_built) == 0) return CLI_EXIT_OK;
    ct_backend *b = NULL;
    ct_model *m = NULL;
    ct_status s = ct_backend_create("cpu", 1, &b);
    if (s == CT_OK) s = ct_model_create(b, spec, g_shape[0], g_shape[1], g_shape[2], 1, 0, &m);
    ct_model_free(m);
    ct_backend_free(b);
    if (s == CT_ERR_INVALID)
        return cli_usage_error("train", "--%s: %s", strcmp(o->model, "mlp") == 0 ? "hidden"
                                                                                  : "model",
                               ct_last_error());
    if (s != CT_OK) return cli_lib_error(s);
    snprintf(g_built, sizeof g_built, "%s", spec);
    return CLI_EXIT_OK;
}

/* The trial's flags checked as ctrain train checks them (its messages, prefixed with the
 * trial), and its model built; 0 when they would run. *epochs: the epochs it runs. */
static int check_trial(int argc, char **argv, int *has_val, int *epochs) {
    train_opts o;
    cli_flag flags[NUM_TRAIN_FLAGS];
    train_opts_init(&o);
    int nflags = train_make_flags(&o, flags);
    if (cli_parse("train", flags, nflags, argc, argv, NULL, 0, NULL) != CLI_PARSE_OK ||
        train_parse_val_size(&o) != CLI_EXIT_OK)
        return CLI_EXIT_USAGE;
    cli_model init;
    int rc = train_open_init(&o, flags, nflags, &init);
    if (rc != CLI_EXIT_OK) return rc;
    rc = train_finish_options(&o, flags, nflags) == CLI_EXIT_OK ? CLI_EXIT_OK : CLI_EXIT_USAGE;
    if (rc == CLI_EXIT_OK) rc = check_model(&o);
    cli_close_model(&init);
    free(o.class_names_text);
    *has_val = o.val_size != 0 || o.val_fraction > 0;
    *epochs = 0;
    for (int i = 0; rc == CLI_EXIT_OK && i < o.cfg.num_phases; i++)
        *epochs += o.cfg.phases[i].epochs;
    return rc;
}

/* --sampler tpe: trial k's values drawn by TPE from the trials that ended, then checked as
 * ctrain train will check them (as every trial's random draw was before the first ran) */
static int tpe_trial(sweep_spec *s, const sweep_trial *tr, long n, long k, int acc,
                     uint64_t seed, char *dirs) {
    int rc = sweep_tpe_draw(s, tr, n, tr[k].combo, acc, seed);
    if (rc != CLI_EXIT_OK) return rc;
    char *args[2 * NUM_TRAIN_FLAGS + 8], what[512], prefix[600];
    int na = trial_argv(s, tr[k].combo, (int)k + 1, NULL, dirs, args), has_val = 1, epochs;
    if (na < 0) return CLI_EXIT_USAGE;
    sweep_describe(s, tr[k].combo, what, sizeof what);
    snprintf(prefix, sizeof prefix, "sweep: trial %ld (%s, drawn by TPE): ", k + 1, what);
    cli_set_error_prefix(prefix);
    rc = check_trial(na, args, &has_val, &epochs);
    cli_set_error_prefix(NULL);
    return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* the command                                                                                 */

/* argv as a shell would take it back: words of plain characters as they are, others quoted. */
static void print_command(char **argv) {
    printf("  ctrain");
    for (int i = 0; argv[i]; i++) {
        const char *a = argv[i];
        if (*a && strspn(a, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
                            "_-+=.,:/@%") == strlen(a)) {
            printf(" %s", a);
            continue;
        }
        printf(" '");
        for (const char *c = a; *c; c++) *c == '\'' ? printf("'\\''") : putchar(*c);
        putchar('\'');
    }
    putchar('\n');
}

/* Trial k's (from 0) log and stdout: DIR/trial_K/log.jsonl and output.txt with --save, else
 * in the temporary folder. */
static void trial_paths(const sweep_spec *s, const char *tmp, long k, char *log, char *out) {
    sweep_log_path(s, tmp, k, log, PATH_MAX);
    if (s->save_dir) snprintf(out, PATH_MAX, "%s/trial_%ld/output.txt", s->save_dir, k + 1);
    else snprintf(out, PATH_MAX, "%s/trial_%ld.txt", tmp, k + 1);
}

/* Removes the files the trials and the pruning left in the temporary folder, then the folder. */
static void remove_tmp(const sweep_spec *s, const char *dir, int trials) {
    if (!dir[0]) return;
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/prune.txt", dir);
    sweep_prune_remove(s, p); /* (and hyperband's brackets') */
    for (int k = 1; k <= trials; k++)
        for (int e = 0; e < 2; e++) {
            snprintf(p, sizeof p, "%s/trial_%d.%s", dir, k, e ? "txt" : "jsonl");
            unlink(p);
        }
    rmdir(dir);
}

/* The lines of a trial's log (0 when it cannot be read), counted as sweep_read_results counts
 * its epochs */
static int log_lines(const char *path) {
    FILE *f = fopen(path, "r");
    char line[1024];
    int lines = 0;
    while (f && fgets(line, sizeof line, f)) lines++;
    if (f) fclose(f);
    return lines;
}

int cmd_sweep(int argc, char **argv) {
    sweep_spec *s = calloc(1, sizeof *s);
    sweep_trial *tr = NULL;
    int32_t *pick_train = NULL, *pick = NULL;
    char tmp[PATH_MAX] = "", dirs[3 * PATH_MAX];
    if (!s) return cli_error("sweep: out of memory");
    long want = 0, combos = 0, n = 0;
    uint64_t seed = UINT64_MAX; /* (not given) */
    const char *objective = NULL, *resume = NULL;
    char **saved = NULL; /* --resume DIR: the sweep's command line, read back */
    int nsaved = 0, ran = 0, interrupted = 0, acc = 0;
    struct sigaction old_sig[3];
    int handlers = 0, lock = -1;
    int rc = sweep_resume_args(argc, argv, &resume, &nsaved, &saved);
    if (rc != CLI_EXIT_OK) goto done; /* (said why) */
    rc = saved ? sweep_parse(nsaved, saved, s, &want, &seed, &objective)
               : sweep_parse(argc, argv, s, &want, &seed, &objective);
    if (rc == CLI_PARSE_HELP) {
        sweep_help(stdout);
        rc = CLI_EXIT_OK;
        goto done;
    }
    if (rc != CLI_EXIT_OK) goto done;
    if (seed != UINT64_MAX && want == 0) {
        rc = cli_usage_error("sweep", "--sweep-seed: seeds the draw of --trials N (none given: "
                             "every combination runs, in order)");
        goto done;
    }
    if (seed == UINT64_MAX) seed = 0;
    if (s->jobs < 1) s->jobs = 1;
    if (s->jobs > 1) { /* side by side: no progress bars, the cores shared */
        s->add_quiet = !sweep_flag_of(s, "quiet");
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        if (!sweep_flag_of(s, "threads"))
            snprintf(s->threads, sizeof s->threads, "%ld", cores > s->jobs ? cores / s->jobs : 1);
    }
    int launch_rank = 0, launched = ct_dist_launched(&launch_rank, &(int){0});
    if (launched > 1 || launched < 0) { /* (said once, by rank 0: every rank sees the same) */
        rc = CLI_EXIT_USAGE;
        if (launch_rank <= 0)
            cli_usage_error("sweep", "not under mpirun: the sweep runs its trials as processes "
                            "of its own (ctrain train runs under mpirun)");
        goto done;
    }
    if (s->ndims == 0) {
        rc = cli_usage_error("sweep", "nothing to sweep: give a flag several values (--lr "
                             "0.05,0.1,0.5, or --optimizer sgd --optimizer adam)");
        goto done;
    }
    if ((combos = sweep_combos(s)) < 0) {
        rc = cli_usage_error("sweep", "more than %d combinations", SWEEP_MAX_COMBOS);
        goto done;
    }
    if (s->tpe && !s->random) {
        rc = cli_usage_error("sweep", "--sampler tpe: draws from ranges (give a flag a range "
                             "LOW:HIGH or LOW:HIGH:log, and --trials N)");
        goto done;
    }
    if (s->random && (want == 0 || want > SWEEP_MAX_DRAWN)) {
        rc = cli_usage_error("sweep", "a range (%s) is drawn from: give --trials N, 1 to %d",
                             "LOW:HIGH", SWEEP_MAX_DRAWN);
        goto done;
    }
    n = s->random ? want : want > 0 && want < combos ? want : combos;
    if (!(tr = calloc((size_t)n, sizeof *tr))) {
        rc = cli_error("sweep: out of memory");
        goto done;
    }
    if (s->random && (rc = sweep_draw(s, n, seed)) != CLI_EXIT_OK) goto done;
    if (!s->random && n < combos) { /* RandomSearch: n of them, by a seeded permutation */
        ct_status st = ct_split_indices(combos, n, seed, &pick_train, &pick);
        if (st != CT_OK) {
            rc = cli_lib_error(st);
            goto done;
        }
    }
    for (long k = 0; k < n; k++)
        tr[k] = (sweep_trial){.combo = (int)(pick ? pick[k] : k), .rc = -1, .pruned_epoch = -1};
    if (resume) { /* (what an earlier run left: sweep_save.c) */
        struct stat st;
        if (stat(resume, &st) != 0 || !S_ISDIR(st.st_mode)) {
            rc = cli_error("sweep: --resume %s: not a folder", resume);
            goto done;
        }
        if ((rc = sweep_resume_statuses(s, tr, n)) != CLI_EXIT_OK) goto done;
    } else if (s->save_dir && (rc = sweep_check_save_dir(s)) != CLI_EXIT_OK) {
        goto done;
    }
    if (s->plot_dir) { /* DIR/sweep.png, drawn at the end, may replace only a picture */
        char png[PATH_MAX];
        struct stat st;
        snprintf(png, sizeof png, "%s/sweep.png", s->plot_dir);
        if (stat(s->plot_dir, &st) == 0 && !S_ISDIR(st.st_mode)) {
            rc = cli_error("sweep: --plot %s: not a folder", s->plot_dir);
            goto done;
        }
        if (stat(s->plot_dir, &st) == 0 && (rc = cli_check_png_out("plot", png)) != CLI_EXIT_OK)
            goto done;
    }
    /* every trial's flags, as ctrain train will check them */
    for (long k = 0; k < n; k++) {
        char *args[2 * NUM_TRAIN_FLAGS + 8], what[512], prefix[600];
        int na = trial_argv(s, tr[k].combo, (int)k + 1, NULL, dirs, args);
        if (na < 0) {
            rc = CLI_EXIT_USAGE;
            goto done;
        }
        sweep_describe(s, tr[k].combo, what, sizeof what);
        snprintf(prefix, sizeof prefix, "sweep: trial %ld (%s): ", k + 1, what);
        cli_set_error_prefix(prefix);
        int has_val = 0, epochs = 0;
        rc = check_trial(na, args, &has_val, &epochs);
        if (epochs > s->max_epochs) s->max_epochs = epochs;
        if (rc == CLI_EXIT_OK && !has_val)
            rc = cli_usage_error("sweep", "--val-size 0: the trials are ranked on the "
                                 "validation split, and there would be none");
        cli_set_error_prefix(NULL);
        if (rc != CLI_EXIT_OK) goto done;
    }
    if (!objective) objective = s->monitor ? s->monitor : "val_loss";
    acc = strcmp(objective, "val_acc") == 0;
    const sweep_flag *epochs_flag = sweep_flag_of(s, "epochs");
    if (s->tpe && epochs_flag && epochs_flag->range && epochs_flag->hi > s->max_epochs)
        s->max_epochs = (int)epochs_flag->hi; /* (TPE may draw up to the range's top) */
    if (s->prune == SWEEP_PRUNE_HYPERBAND) sweep_hyperband(s, tr, n);
    if (s->save_dir) {
        cli_made made = {0};
        if (cli_mkdirs(s->save_dir, &made) != 0 || /* (said why) */
            (lock = cli_lock_dir(s->save_dir, resume ? "--resume" : "--save")) == -1) {
            rc = CLI_EXIT_ERROR;
            goto done;
        }
        if (!resume) { /* (--overwrite: no earlier sweep's table under this one's flags) */
            char old[PATH_MAX + 16];
            for (int i = 0; i < 2; i++) {
                snprintf(old, sizeof old, "%s/sweep.csv%s", s->save_dir, i ? ".tmp" : "");
                unlink(old);
            }
            if ((rc = sweep_args_write(s->save_dir, argc, argv)) != CLI_EXIT_OK) goto done;
        }
    }
    if (!s->save_dir || s->prune) { /* (the trials' logs and outputs; the medians) */
        const char *t = getenv("TMPDIR");
        snprintf(tmp, sizeof tmp, "%s/ctrain-sweep-XXXXXX", t && *t ? t : "/tmp");
        if (!mkdtemp(tmp)) {
            rc = cli_error("sweep: cannot make a temporary folder %s: %s", tmp, strerror(errno));
            tmp[0] = 0;
            goto done;
        }
    }
    char prune_path[PATH_MAX + 16] = "", pid_text[24];
    unsetenv(SWEEP_PRUNE_ENV); /* (not another sweep's: this one's trials are its own) */
    snprintf(pid_text, sizeof pid_text, "%ld", (long)getpid()); /* (they end with it: main.c) */
    setenv("CTRAIN_SWEEP_PID", pid_text, 1);
    if (s->prune) { /* (the trials find it so: no file yet, no pruning) */
        snprintf(prune_path, sizeof prune_path, "%s/prune.txt", tmp);
        setenv(SWEEP_PRUNE_ENV, prune_path, 1);
    }
    {
        char space[1024];
        sweep_space(s, space, sizeof space);
        if (s->random)
            printf("Sweep: %ld trial%s, each drawing %s, ranked by %s", n, n == 1 ? "" : "s",
                   space, acc ? "val_acc" : "val_loss");
        else
            printf("Sweep: %ld trial%s, %s %ld combination%s of %s, ranked by %s", n,
                   n == 1 ? "" : "s", n < combos ? "drawn at random from the" : "all", combos,
                   combos == 1 ? "" : "s", space, acc ? "val_acc" : "val_loss");
        if (s->tpe)
            printf("; drawn by TPE once %d trial%s ended", s->tpe_startup,
                   s->tpe_startup == 1 ? " has" : "s have");
        if (s->prune == SWEEP_PRUNE_MEDIAN)
            printf("; pruned by the median rule once %d trial%s finished, from epoch %d",
                   s->prune_startup, s->prune_startup == 1 ? " has" : "s have", s->prune_warmup);
        else if (s->prune == SWEEP_PRUNE_HALVING)
            printf("; pruned by successive halving: 1 in %d goes on after %lld, %lld, %lld, ... "
                   "epochs", s->prune_factor, (long long)s->prune_min_epochs,
                   (long long)s->prune_min_epochs * s->prune_factor,
                   (long long)s->prune_min_epochs * s->prune_factor * s->prune_factor);
        else if (s->prune == SWEEP_PRUNE_HYPERBAND) {
            long counts[64] = {0};
            for (long k = 0; k < n; k++) counts[tr[k].bracket]++;
            printf("; pruned by Hyperband: %d bracket%s of successive halving (1 in %d goes on "
                   "at a rung) over %d epochs: ", s->brackets, s->brackets == 1 ? "" : "s",
                   s->prune_factor, s->max_epochs);
            long first = s->prune_min_epochs;
            for (int b = 0; b < s->brackets; b++, first *= s->prune_factor) {
                printf("%s%ld trial%s ", b ? "; " : "", counts[b], counts[b] == 1 ? "" : "s");
                if (first >= s->max_epochs) { /* (a rung at the last epoch prunes nothing) */
                    printf("never pruned");
                    continue;
                }
                const int one = first * s->prune_factor >= s->max_epochs;
                printf("with %s after %ld", one ? "a rung" : "rungs", first);
                for (long r = first * s->prune_factor; r < s->max_epochs; r *= s->prune_factor)
                    printf(r * s->prune_factor < s->max_epochs ? ", %ld" : " and %ld", r);
                printf(" epoch%s", !one || first > 1 ? "s" : "");
            }
        }
        printf("\n");
        fflush(stdout);
    }
    sweep_catch_signals(old_sig);
    handlers = 1;
    int best = -1, running = 0, stop_launch = 0, csv_failed = 0, timed_out = 0;
    long next = 0;
    const double t_start = sweep_now();
    if (resume) { /* the trials kept as they ran */
        int kept = 0, resumed = 0;
        for (long k = 0; k < n; k++) {
            sweep_trial *t = &tr[k];
            resumed += t->earlier == SWEEP_RESUMED;
            if (t->earlier != SWEEP_KEPT) continue;
            char log[PATH_MAX], out[PATH_MAX];
            const int pruned = t->pruned_epoch, diverged = t->diverged;
            trial_paths(s, tmp, k, log, out);
            sweep_read_results(t, log, out, acc);
            t->pruned_epoch = pruned; /* (its status as sweep.csv gives it) */
            t->diverged = diverged;
            kept++;
            ran++;
            char sb[64];
            if (!sweep_status(t, sb, sizeof sb) && (best < 0 || sweep_better(t, &tr[best], acc)))
                best = (int)k;
        }
        printf("Resumed from %s: %d trial%s kept as %s, %d interrupted one%s carried on, %ld "
               "to run\n", resume, kept, kept == 1 ? "" : "s", kept == 1 ? "it ran" : "they ran",
               resumed, resumed == 1 ? "" : "s", n - kept - resumed);
        fflush(stdout);
        char failed[PATH_MAX + 40];
        if (s->prune && sweep_prune_write(s, prune_path, tr, n, acc, failed, sizeof failed) != 0) {
            rc = cli_error("sweep: cannot write %s: %s", failed, strerror(errno));
            goto done;
        }
    }
    while (next < n || running > 0) {
        /* start trials while there is a slot (in their order) */
        while (!stop_launch && next < n && running < s->jobs) {
            const long k = next;
            sweep_trial *t = &tr[k];
            char log[PATH_MAX], out[PATH_MAX], *args[2 * NUM_TRAIN_FLAGS + 8];
            if (t->earlier == SWEEP_KEPT) { /* (--resume: as it ran) */
                next++;
                continue;
            }
            if (s->timeout > 0 && sweep_now() - t_start >= s->timeout) {
                timed_out = 1;
                stop_launch = 1;
                break;
            }
            if (s->save_dir) {
                snprintf(log, sizeof log, "%s/trial_%ld", s->save_dir, k + 1);
                if (mkdir(log, 0755) != 0 && errno != EEXIST) {
                    rc = cli_error("sweep: cannot make %s: %s", log, strerror(errno));
                    stop_launch = 1;
                    break;
                }
            }
            trial_paths(s, tmp, k, log, out);
            const int resumed = t->earlier == SWEEP_RESUMED;
            int tpe_rc = CLI_EXIT_OK;
            if (s->tpe && !resumed && sweep_tpe_observed(tr, n) >= s->tpe_startup &&
                (tpe_rc = tpe_trial(s, tr, n, k, acc, seed, dirs)) != CLI_EXIT_OK) {
                rc = tpe_rc;
                stop_launch = 1;
                break;
            }
            t->epochs_before = resumed ? log_lines(log) : 0;
            int na = resumed ? resumed_argv(s, k, log, dirs, args)
                             : trial_argv(s, t->combo, (int)k + 1, log, dirs, args);
            if (na < 0) { /* (checked above) */
                rc = CLI_EXIT_USAGE;
                stop_launch = 1;
                break;
            }
            if (!resumed) unlink(log); /* (an earlier sweep's: train appends to a log) */
            if (resume && !resumed && !sweep_flag_of(s, "overwrite")) { /* (over what it left) */
                args[na++] = "--overwrite";
                args[na] = NULL;
            }
            fflush(stdout);
            if (s->prune == SWEEP_PRUNE_HYPERBAND && prune_path[0]) { /* (its bracket's) */
                char bracket_file[PATH_MAX + 32];
                sweep_bracket_path(prune_path, t->bracket, bracket_file, sizeof bracket_file);
                setenv(SWEEP_PRUNE_ENV, bracket_file, 1);
            } else if (s->prune == SWEEP_PRUNE_HYPERBAND) {
                unsetenv(SWEEP_PRUNE_ENV); /* (its files could not be written: no pruning) */
            }
            t->t0 = sweep_now() - (resumed ? t->seconds : 0); /* (its time before, too) */
            int pid = sweep_spawn(args, out, resumed);
            if (pid == -2) { /* (a signal before it started: not run) */
                if (s->save_dir) {
                    snprintf(log, sizeof log, "%s/trial_%ld", s->save_dir, k + 1);
                    rmdir(log);
                }
                stop_launch = 1;
                break;
            }
            if (pid < 0) {
                rc = cli_error("sweep: trial %ld: cannot run ctrain train: %s", k + 1,
                               strerror(errno));
                stop_launch = 1;
                break;
            }
            t->pid = pid;
            running++;
            next++;
        }
        if (running == 0) break;
        int st, sig, pid = sweep_wait(&st, &sig);
        if (pid < 0) {
            rc = cli_error("sweep: waiting for the trials: %s", strerror(errno));
            break;
        }
        long k = 0;
        while (k < next && tr[k].pid != pid) k++;
        if (k == next) continue; /* (not a trial) */
        sweep_trial *t = &tr[k];
        char log[PATH_MAX], out[PATH_MAX], what[512];
        t->pid = 0;
        running--;
        t->rc = st;
        t->signal = sig;
        t->seconds = sweep_now() - t->t0;
        ran++;
        trial_paths(s, tmp, k, log, out);
        sweep_read_results(t, log, out, acc);
        char failed[PATH_MAX + 40];
        if (s->prune && prune_path[0] &&
            sweep_prune_write(s, prune_path, tr, n, acc, failed, sizeof failed) != 0) {
            cli_error("sweep: cannot write %s: %s; no trial is pruned from here on", failed,
                      strerror(errno));
            sweep_prune_remove(s, prune_path); /* (the trials running find none: no verdict) */
            prune_path[0] = 0;
        }
        /* (the table so far: what --resume reads back; a sweep.csv that cannot be written is
         * said once) */
        if (s->save_dir && !csv_failed && sweep_save_csv(s, tr, n, acc) != CLI_EXIT_OK) {
            csv_failed = 1;
            rc = CLI_EXIT_ERROR;
        }
        sweep_describe(s, t->combo, what, sizeof what);
        char sb[64];
        const char *stat_text = sweep_status(t, sb, sizeof sb);
        if (!stat_text && (best < 0 || sweep_better(t, &tr[best], acc) ||
                           (!sweep_better(&tr[best], t, acc) && k < best)))
            best = (int)k;
        printf("Trial %ld/%ld (%s): ", k + 1, n, what);
        if (sweep_was_pruned(t) && t->pruned_keep > 0)
            printf("%s: its %s %.4f there is worse than %.4f: the best %d of the %d trials "
                   "there go%s on; %.2f s\n", stat_text, acc ? "val_acc" : "val_loss",
                   t->pruned_value, t->pruned_median, t->pruned_keep, t->pruned_of,
                   t->pruned_keep == 1 ? "es" : "", t->seconds);
        else if (sweep_was_pruned(t))
            printf("%s: its best %s %.4f is worse than %.4f, the median of %d finished trial%s "
                   "there; %.2f s\n", stat_text, acc ? "val_acc" : "val_loss", t->pruned_value,
                   t->pruned_median, t->pruned_of, t->pruned_of == 1 ? "" : "s", t->seconds);
        else if (stat_text) printf("%s, %.2f s\n", stat_text, t->seconds);
        else printf("%s %.4f %s (%s %.4f), %.2f s; best so far: trial %d\n",
                    acc ? "val_acc" : "val_loss", acc ? t->val_acc : t->val_loss,
                    sweep_where(t, sb, sizeof sb),
                    acc ? "val_loss" : "val_acc", acc ? t->val_loss : t->val_acc, t->seconds,
                    best + 1);
        fflush(stdout);
        if (sweep_signalled() || (t->rc == CLI_EXIT_INTERRUPTED && !sweep_was_pruned(t))) {
            interrupted = 1;
            stop_launch = 1;
        }
        /* (a resumed trial: before its first epoch of this run) */
        if (t->rc != 0 && !t->diverged && !interrupted &&
            (t->rc == CLI_EXIT_USAGE || t->epochs <= t->epochs_before)) {
            if (!stop_launch) {
                rc = cli_error("sweep: trial %ld failed before its first epoch %sended (exit %d, "
                               "its message above); the sweep stops%s", k + 1,
                               t->epochs_before ? "of this run " : "", t->rc,
                               running ? " (the trials running: after their current step)" : "");
                sweep_signal_trials(SIGINT); /* (they checkpoint, as on Ctrl-C) */
            }
            stop_launch = 1;
        }
    }
    if (sweep_signalled()) interrupted = 1;
    if (timed_out) { /* (the trials left: none started, or an interrupted one not carried on) */
        long left = 0;
        for (long k = 0; k < n; k++) left += tr[k].rc < 0 || tr[k].earlier == SWEEP_RESUMED;
        printf("\nTime is up (--timeout %g s): %ld of %ld trial%s not run%s%s\n", s->timeout, left,
               n, n == 1 ? "" : "s", s->save_dir ? "; ctrain sweep --resume " : "",
               s->save_dir ? s->save_dir : "");
    }
    const int ran_all = ran;
    if (best < 0 && !interrupted && rc != CLI_EXIT_OK) ran = 0; /* (stopped by an error before
                                                                * any finished: no table) */
    int *ord = NULL;
    if (ran > 0 && !(ord = sweep_ranked(tr, n, acc, &ran))) {
        rc = cli_error("sweep: out of memory");
        ran = 0;
    }
    if (ran > 0) {
        sweep_print_table(s, tr, ord, ran, acc);
        if (s->save_dir && !csv_failed && sweep_save_csv(s, tr, n, acc) != CLI_EXIT_OK)
            rc = CLI_EXIT_ERROR;
        if (s->plot_dir && sweep_plot(s, tmp, tr, ord, ran, acc) != CLI_EXIT_OK && !rc)
            rc = CLI_EXIT_ERROR;
    }
    free(ord);
    if (best >= 0) {
        char what[512], *args[2 * NUM_TRAIN_FLAGS + 8];
        const sweep_trial *t = &tr[best];
        sweep_describe(s, t->combo, what, sizeof what);
        char where[64];
        printf("\nBest: trial %d (%s): %s %.4f %s, %s %.4f\n", best + 1, what,
               acc ? "val_acc" : "val_loss", acc ? t->val_acc : t->val_loss,
               sweep_where(t, where, sizeof where),
               acc ? "val_loss" : "val_acc", acc ? t->val_loss : t->val_acc);
        if (trial_argv(s, t->combo, best + 1, NULL, dirs, args) >= 0) print_command(args);
        if (t->test_line[0]) printf("%s\n", t->test_line);
        if (s->save_dir)
            printf("Saved: %s/trial_K for each trial K (checkpoints, log.jsonl, output.txt), the "
                   "table in %s/sweep.csv\n", s->save_dir, s->save_dir);
    } else if (rc == CLI_EXIT_OK && !interrupted) {
        rc = cli_error("sweep: no trial finished (%d ran)", ran_all);
    }
    fflush(stdout);
    if (interrupted && rc == CLI_EXIT_OK) {
        fprintf(stderr, "ctrain: sweep: interrupted after %d of %ld trials\n", ran, n);
        if (s->save_dir)
            fprintf(stderr, "ctrain: resume the sweep with: ctrain sweep --resume %s\n",
                    s->save_dir);
        rc = CLI_EXIT_INTERRUPTED;
    }
done:
    if (lock >= 0) close(lock);
    if (handlers) sweep_restore_signals(old_sig);
    unsetenv(SWEEP_PRUNE_ENV);
    unsetenv("CTRAIN_SWEEP_PID");
    remove_tmp(s, tmp, (int)n);
    for (int i = 0; i < s->nowned; i++) free(s->owned[i]);
    free(s->drawn);
    free(s->drawn_text);
    free(s);
    for (long k = 0; tr && k < n; k++) free(tr[k].curve);
    free(tr);
    free(pick_train);
    free(pick);
    sweep_args_free(nsaved, saved);
    return rc;
}
