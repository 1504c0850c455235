/*
 * sweep_cmd.c — `ctrain sweep`: a hyperparameter search over `ctrain train`'s flags, as Keras
 * Tuner's GridSearch and RandomSearch run one.
 *
 * A train flag given several values (repeated, or a number flag given a list: --lr 0.1,0.5) is a
 * dimension of the grid; every combination of the dimensions' values is a trial, a run of
 * `ctrain train` with those values and the other flags as given. Each trial runs as a child
 * process of this binary (its own memory, device and Ctrl-C handling: exactly `ctrain train`),
 * its stdout kept in a file and its epochs read back from the --log it is given; the trials are
 * ranked by --objective (val_loss or val_acc) at each one's best epoch, on the validation split
 * (never the test set: only the best trial's test line is printed, as it ran). The results'
 * table, CSV and picture: sweep_report.c.
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


void sweep_help(FILE *f) {
    fputs("usage: ctrain sweep [--trials N] [--sweep-seed N] [--objective METRIC] [--jobs N]\n"
          "                    [--prune median] TRAIN-FLAGS...\n"
          "       ctrain sweep --resume DIR [--jobs N]\n"
          "\n"
          "A hyperparameter search, as Keras Tuner's GridSearch and RandomSearch: runs\n"
          "ctrain train once for every combination of the values given to its flags and\n"
          "ranks the runs (trials) by --objective at each one's best epoch on the\n"
          "validation split. A flag given more than once takes each value in turn\n"
          "(--optimizer sgd --optimizer adam); a number's flag (and --val-size) also takes\n"
          "a list of them (--lr 0.05,0.1,0.5); --data, --dataset, --device, --threads,\n"
          "--monitor and the output folders take one. A number's flag may instead take a\n"
          "range, LOW:HIGH (uniform) or LOW:HIGH:log (log-uniform, as Keras Tuner's\n"
          "sampling=\"log\"; whole numbers for a flag of counts): then --trials N trials\n"
          "run, each drawing every swept flag's value at random (a list's too), floats to 3\n"
          "significant digits (more where a narrow range needs them). The other flags are\n"
          "the same in every trial: the same data, split and --seed (unless --seed itself is\n"
          "swept: --seed 1,2,3 measures the spread of one setting). Every trial's flags are\n"
          "checked as ctrain train reads them before the first trial runs; what needs the\n"
          "data or the model (a --model spec, --freeze, --class-weight's count) is checked\n"
          "by each trial as it starts.\n"
          "\n"
          "Prints a line per trial as it ends (with --jobs, in the order they end), then\n"
          "the trials ranked, the best one's command and its test line (as ctrain train\n"
          "printed it: the test set is never used to rank). A trial that diverges (NaN) is\n"
          "listed as such and the sweep goes on; one that fails before its first epoch ends\n"
          "(missing data, memory) stops it, and any others running. Ctrl-C stops the\n"
          "running trials after their current step (as ctrain train, checkpointed with\n"
          "--save) and the sweep there, with the table of the trials done; the exit status\n"
          "is then 130, and with --save DIR, ctrain sweep --resume DIR carries it on.\n"
          "\n"
          "flags:\n"
          "  --trials N                run N of the combinations, drawn at random (RandomSearch's\n"
          "                            max_trials); with a range, N draws (required)\n"
          "                            [default: all the combinations, in order]\n"
          "  --sweep-seed N            seeds the draws of --trials [default: 0]\n"
          "  --objective METRIC        what ranks the trials: the lowest val_loss, or the\n"
          "                            highest val_acc, of each trial's epochs (Keras Tuner's\n"
          "                            objective) [default: the trials' --monitor, else val_loss]\n"
          "  --jobs N                  run N trials at once, 1 to 64 (Optuna's n_jobs), each\n"
          "                            with --quiet (no progress bar) and, without --threads,\n"
          "                            --threads CORES/N (a small model trains faster so; on the\n"
          "                            CPU a run's numbers depend on its --threads: the order of\n"
          "                            its sums) [default: 1]\n"
          "  --prune RULE              median: stop unpromising trials early, as Optuna's\n"
          "                            MedianPruner: after each epoch, once --prune-startup\n"
          "                            trials have finished, a trial whose best objective so far\n"
          "                            is worse than the median of the finished trials' at that\n"
          "                            epoch stops there (tested and checkpointed, as --patience\n"
          "                            stops a run) and ranks after the finished ones; off: none\n"
          "                            [default: off]\n"
          "  --prune-startup N         trials to finish before any is pruned (n_startup_trials)\n"
          "                            [default: 5]\n"
          "  --prune-warmup N          no trial is pruned before epoch N (n_warmup_steps; the\n"
          "                            epochs count from 0) [default: 0]\n"
          "  --save DIR                keep each trial as DIR/trial_K (its checkpoints, log.jsonl\n"
          "                            and output.txt: what ctrain train printed), the table as\n"
          "                            DIR/sweep.csv (after every trial) and the command line as\n"
          "                            DIR/sweep.args; DIR must be new or empty (--overwrite:\n"
          "                            or an earlier sweep's, whose trials of the same numbers\n"
          "                            these replace)\n"
          "  --resume DIR              carry on a sweep saved with --save DIR (as Keras Tuner\n"
          "                            does with overwrite=False): its flags from\n"
          "                            DIR/sweep.args, the trials DIR/sweep.csv lists as\n"
          "                            finished, pruned or diverged kept as they ran, an\n"
          "                            interrupted one resumed from its checkpoint, the others\n"
          "                            run; no flag but --jobs besides\n"
          "  --plot DIR, --tensorboard DIR\n"
          "                            each trial's under DIR/trial_K (tensorboard --logdir DIR\n"
          "                            draws the trials side by side)\n"
          "  --quiet                   the trials without progress bars\n"
          "  --help, -h                show this help\n"
          "  any other flag of ctrain train (ctrain train --help) but --log and --lr-find\n"
          "  (with its --lr-find-range and --lr-find-steps)\n"
          "\n"
          "examples:\n"
          "  ctrain sweep --lr 0.05,0.1,0.5,1 --hidden 32,128 --epochs 5\n"
          "  ctrain sweep --model cnn --optimizer adam --lr 3e-4,1e-3,3e-3 --batch-size 64,128\n"
          "               --epochs 3 --objective val_acc --save sweep1\n"
          "  ctrain sweep --lr 0.01,0.03,0.1,0.3,1 --momentum 0,0.5,0.9 --trials 6\n"
          "  ctrain sweep --lr 1e-3:1:log --hidden 16:256:log --momentum 0,0.9 --trials 20\n"
          "               --prune median\n",
          f);
}

/* ------------------------------------------------------------------------------------------ */
/* the command line                                                                            */

static int numeric(cli_kind k) {
    return k == CLI_INT || k == CLI_I64 || k == CLI_U64 || k == CLI_FLOAT;
}

static sweep_flag *flag_of(sweep_spec *s, const char *name) {
    for (int i = 0; i < s->nflags; i++)
        if (strcmp(s->flags[i].name, name) == 0) return &s->flags[i];
    return NULL;
}

/* The value of the flag at argv[*i]: after its '=' (eq), else the next word unless that is a
 * flag (then NULL), which is consumed. */
static const char *flag_value(int argc, char **argv, int *i, const char *eq) {
    if (eq) return eq + 1;
    if (*i + 1 < argc && strncmp(argv[*i + 1], "--", 2) != 0) return argv[++*i];
    return NULL;
}

/* One end of f's range checked as ctrain train reads the flag's value (the message names the
 * range). */
static int check_range_end(const sweep_flag *f, const char *end, const char *which) {
    train_opts o;
    cli_flag tf[NUM_TRAIN_FLAGS];
    train_opts_init(&o);
    int ntf = train_make_flags(&o, tf);
    char *args[] = {"train", (char *)f->dashed, (char *)end, NULL};
    char prefix[200];
    snprintf(prefix, sizeof prefix, "sweep: --%s %s, its %s end: ", f->name, f->vals[0], which);
    cli_set_error_prefix(prefix);
    int r = cli_parse("train", tf, ntf, 3, args, NULL, 0, NULL);
    cli_set_error_prefix(NULL);
    return r == CLI_PARSE_OK ? CLI_EXIT_OK : CLI_EXIT_USAGE;
}

/* Reads argv into s (the train flags, each value of each) and the sweep's own numbers. */
static int parse_sweep(int argc, char **argv, sweep_spec *s, long *trials, uint64_t *seed,
                       const char **objective) {
    static const char *const refused[] = {"log", "lr-find", "lr-find-range", "lr-find-steps"};
    static const char *const single[] = {"save", "plot", "tensorboard", "monitor", "data",
                                         "dataset", "device", "threads"};
    train_opts o;
    cli_flag tf[NUM_TRAIN_FLAGS];
    train_opts_init(&o);
    int ntf = train_make_flags(&o, tf);
    const char *prune_knob = NULL; /* --prune-startup or --prune-warmup, given */
    s->prune_startup = 5;          /* Optuna's n_startup_trials, n_warmup_steps */
    s->prune_warmup = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) return CLI_PARSE_HELP;
        if (strncmp(a, "--", 2) != 0 || !a[2])
            return cli_usage_error("sweep", "%s: not a flag (the trials' flags are ctrain "
                                   "train's)", a);
        char name[64];
        const char *eq = strchr(a + 2, '='), *val = NULL;
        size_t len = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
        if (len >= sizeof name) return cli_usage_error("sweep", "%s: no such flag", a);
        memcpy(name, a + 2, len);
        name[len] = 0;
        if (strcmp(name, "objective") == 0) {
            val = flag_value(argc, argv, &i, eq);
            if (!val || (strcmp(val, "val_loss") != 0 && strcmp(val, "val_acc") != 0))
                return cli_usage_error("sweep", "--objective: expected val_loss or val_acc, got "
                                       "%s%s%s", val ? "\"" : "no value", val ? val : "",
                                       val ? "\"" : "");
            *objective = val;
            continue;
        }
        if (strcmp(name, "jobs") == 0) {
            val = flag_value(argc, argv, &i, eq);
            long v;
            if (!val || cli_parse_long(val, 1, SWEEP_MAX_JOBS, &v))
                return cli_usage_error("sweep", "--jobs: expected 1 to %d trials at once, got "
                                       "%s%s%s", SWEEP_MAX_JOBS, val ? "\"" : "no value",
                                       val ? val : "", val ? "\"" : "");
            s->jobs = (int)v;
            continue;
        }
        if (strcmp(name, "prune") == 0) {
            val = flag_value(argc, argv, &i, eq);
            if (!val || (strcmp(val, "median") != 0 && strcmp(val, "off") != 0))
                return cli_usage_error("sweep", "--prune: expected median or off, got %s%s%s",
                                       val ? "\"" : "no value", val ? val : "", val ? "\"" : "");
            s->prune = strcmp(val, "median") == 0;
            continue;
        }
        if (strcmp(name, "prune-startup") == 0 || strcmp(name, "prune-warmup") == 0) {
            val = flag_value(argc, argv, &i, eq);
            long v;
            if (!val || cli_parse_long(val, 0, 1000000, &v))
                return cli_usage_error("sweep", "--%s: expected %s 0 to 1000000, got %s%s%s",
                                       name, name[6] == 's' ? "a count of trials" : "an epoch",
                                       val ? "\"" : "no value", val ? val : "", val ? "\"" : "");
            *(name[6] == 's' ? &s->prune_startup : &s->prune_warmup) = (int)v;
            prune_knob = name[6] == 's' ? "--prune-startup" : "--prune-warmup";
            continue;
        }
        if (strcmp(name, "trials") == 0 || strcmp(name, "sweep-seed") == 0) {
            val = flag_value(argc, argv, &i, eq);
            long v;
            if (!val || cli_parse_long(val, strcmp(name, "trials") == 0 ? 1 : 0, LONG_MAX, &v))
                return cli_usage_error("sweep", "--%s: expected %s, got %s%s%s", name,
                                       strcmp(name, "trials") == 0 ? "a positive count"
                                                                   : "a count >= 0",
                                       val ? "\"" : "no value", val ? val : "", val ? "\"" : "");
            if (strcmp(name, "trials") == 0) *trials = v;
            else *seed = (uint64_t)v;
            continue;
        }
        const cli_flag *f = cli_find(tf, ntf, name);
        if (!f)
            return cli_usage_error("sweep", "--%s: no such flag of ctrain train or sweep", name);
        for (size_t k = 0; k < sizeof refused / sizeof refused[0]; k++)
            if (strcmp(name, refused[k]) == 0)
                return cli_usage_error("sweep", "--%s: not in a sweep (%s)", name,
                                       strcmp(name, "log") == 0
                                           ? "each trial's log is DIR/trial_K/log.jsonl with "
                                             "--save DIR"
                                           : "find a learning rate with ctrain train "
                                             "--lr-find, then sweep around it");
        sweep_flag *sf = flag_of(s, name);
        if (!sf) {
            sf = &s->flags[s->nflags++];
            *sf = (sweep_flag){.name = f->name, .is_switch = f->kind == CLI_SWITCH};
            snprintf(sf->dashed, sizeof sf->dashed, "--%s", f->name);
        } else if (sf->is_switch) {
            return cli_usage_error("sweep", "--%s: given twice (a switch is on in every trial "
                                   "or in none)", name);
        }
        if (f->kind == CLI_SWITCH) {
            if (eq) return cli_usage_error("sweep", "--%s: takes no value", name);
            continue;
        }
        val = flag_value(argc, argv, &i, eq);
        if (!val) return cli_usage_error("sweep", "--%s: needs a value", name);
        const int val_size = strcmp(name, "val-size") == 0;
        if (sweep_add_values(s, sf, val, numeric(f->kind) || val_size,
                             val_size ? -1 : f->kind != CLI_FLOAT) != CLI_EXIT_OK)
            return CLI_EXIT_USAGE;
    }
    if (prune_knob && !s->prune)
        return cli_usage_error("sweep", "%s: sets --prune median's rule (not given)", prune_knob);
    for (int i = 0; i < s->nflags; i++) {
        sweep_flag *f = &s->flags[i];
        for (size_t k = 0; (f->nvals > 1 || f->range) && k < sizeof single / sizeof single[0]; k++)
            if (strcmp(f->name, single[k]) == 0)
                return cli_usage_error("sweep", "--%s: one value for every trial (got %s)",
                                       f->name, f->range ? "a range" : "several");
        if (f->nvals > 1 || f->range) s->dims[s->ndims++] = i;
        if (f->range) s->random = 1;
        /* a range's ends as the flag takes a value (a float range's high end is never drawn) */
        if (f->range && strcmp(f->name, "val-size") != 0 &&
            (check_range_end(f, f->lo_text, "low") != CLI_EXIT_OK ||
             (f->integer && check_range_end(f, f->hi_text, "high") != CLI_EXIT_OK)))
            return CLI_EXIT_USAGE;
        if (strcmp(f->name, "save") == 0) s->save_dir = f->vals[0];
        if (strcmp(f->name, "plot") == 0) s->plot_dir = f->vals[0];
        if (strcmp(f->name, "overwrite") == 0) s->overwrite = 1;
        if (strcmp(f->name, "monitor") == 0) s->monitor = f->vals[0];
    }
    return CLI_EXIT_OK;
}

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
    if (s->add_quiet || flag_of((sweep_spec *)s, "quiet")) out[n++] = "--quiet";
    /* (its threads and device as the others': on the CPU the numbers depend on --threads) */
    const sweep_flag *th = flag_of((sweep_spec *)s, "threads"), *dev = flag_of((sweep_spec *)s, "device");
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

/* The trial's flags checked as ctrain train checks them (its messages, prefixed with the
 * trial); 0 when they would run. */
static int check_trial(int argc, char **argv, int *has_val) {
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
    cli_close_model(&init);
    free(o.class_names_text);
    *has_val = o.val_size != 0 || o.val_fraction > 0;
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
static void remove_tmp(const char *dir, int trials) {
    if (!dir[0]) return;
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/prune.txt", dir);
    unlink(p);
    snprintf(p, sizeof p, "%s/prune.txt.part", dir);
    unlink(p);
    for (int k = 1; k <= trials; k++)
        for (int e = 0; e < 2; e++) {
            snprintf(p, sizeof p, "%s/trial_%d.%s", dir, k, e ? "txt" : "jsonl");
            unlink(p);
        }
    rmdir(dir);
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
    int handlers = 0;
    int rc = sweep_resume_args(argc, argv, &resume, &nsaved, &saved);
    if (rc != CLI_EXIT_OK) goto done; /* (said why) */
    rc = saved ? parse_sweep(nsaved, saved, s, &want, &seed, &objective)
               : parse_sweep(argc, argv, s, &want, &seed, &objective);
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
        s->add_quiet = !flag_of(s, "quiet");
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        if (!flag_of(s, "threads"))
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
    if (resume) { /* (what an earlier run left: sweep_resume.c) */
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
        int has_val = 0;
        rc = check_trial(na, args, &has_val);
        if (rc == CLI_EXIT_OK && !has_val)
            rc = cli_usage_error("sweep", "--val-size 0: the trials are ranked on the "
                                 "validation split, and there would be none");
        cli_set_error_prefix(NULL);
        if (rc != CLI_EXIT_OK) goto done;
    }
    if (!objective) objective = s->monitor ? s->monitor : "val_loss";
    acc = strcmp(objective, "val_acc") == 0;
    if (s->save_dir) {
        cli_made made = {0};
        if (cli_mkdirs(s->save_dir, &made) != 0) { /* (said why) */
            rc = CLI_EXIT_ERROR;
            goto done;
        }
        if (!resume && (rc = sweep_args_write(s->save_dir, argc, argv)) != CLI_EXIT_OK) goto done;
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
    char prune_path[PATH_MAX + 16] = "";
    unsetenv(SWEEP_PRUNE_ENV); /* (not another sweep's: this one's trials are its own) */
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
        if (s->prune)
            printf("; pruned by the median rule once %d trial%s finished, from epoch %d",
                   s->prune_startup, s->prune_startup == 1 ? " has" : "s have", s->prune_warmup);
        printf("\n");
        fflush(stdout);
    }
    sweep_catch_signals(old_sig);
    handlers = 1;
    int best = -1, running = 0, stop_launch = 0, csv_failed = 0;
    long next = 0;
    if (resume) { /* the trials kept as they ran */
        int kept = 0, resumed = 0;
        for (long k = 0; k < n; k++) {
            sweep_trial *t = &tr[k];
            resumed += t->earlier == SWEEP_RESUMED;
            if (t->earlier != SWEEP_KEPT) continue;
            char log[PATH_MAX], out[PATH_MAX];
            trial_paths(s, tmp, k, log, out);
            sweep_read_results(t, log, out, acc);
            kept++;
            ran++;
            if (!sweep_status(t, (char[64]){0}, 64) && (best < 0 || sweep_better(t, &tr[best], acc)))
                best = (int)k;
        }
        printf("Resumed from %s: %d trial%s kept as %s, %d interrupted one%s carried on, %ld "
               "to run\n", resume, kept, kept == 1 ? "" : "s", kept == 1 ? "it ran" : "they ran",
               resumed, resumed == 1 ? "" : "s", n - kept - resumed);
        fflush(stdout);
        if (s->prune && sweep_prune_write(s, prune_path, tr, n, acc) != 0) {
            rc = cli_error("sweep: cannot write %s: %s", prune_path, strerror(errno));
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
            int na = resumed ? resumed_argv(s, k, log, dirs, args)
                             : trial_argv(s, t->combo, (int)k + 1, log, dirs, args);
            if (na < 0) { /* (checked above) */
                rc = CLI_EXIT_USAGE;
                stop_launch = 1;
                break;
            }
            if (!resumed) unlink(log); /* (an earlier sweep's: train appends to a log) */
            if (resume && !resumed && !flag_of(s, "overwrite")) { /* (over what it left) */
                args[na++] = "--overwrite";
                args[na] = NULL;
            }
            fflush(stdout);
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
        if (s->prune && prune_path[0] && sweep_prune_write(s, prune_path, tr, n, acc) != 0) {
            cli_error("sweep: cannot write %s: %s; no trial is pruned from here on", prune_path,
                      strerror(errno));
            unlink(prune_path);
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
        if (sweep_was_pruned(t))
            printf("%s: its best %s %.4f is worse than %.4f, the median of %d finished trial%s "
                   "there; %.2f s\n", stat_text, acc ? "val_acc" : "val_loss", t->pruned_value,
                   t->pruned_median, t->pruned_of, t->pruned_of == 1 ? "" : "s", t->seconds);
        else if (stat_text) printf("%s, %.2f s\n", stat_text, t->seconds);
        else printf("%s %.4f at epoch %d (%s %.4f), %.2f s; best so far: trial %d\n",
                    acc ? "val_acc" : "val_loss", acc ? t->val_acc : t->val_loss, t->best_epoch,
                    acc ? "val_loss" : "val_acc", acc ? t->val_loss : t->val_acc, t->seconds,
                    best + 1);
        fflush(stdout);
        if (sweep_signalled() || (t->rc == CLI_EXIT_INTERRUPTED && !sweep_was_pruned(t))) {
            interrupted = 1;
            stop_launch = 1;
        }
        if (t->rc != 0 && !t->diverged && !interrupted &&
            (t->rc == CLI_EXIT_USAGE || t->epochs == 0)) {
            if (!stop_launch) {
                rc = cli_error("sweep: trial %ld failed before its first epoch ended (exit %d, "
                               "its message above); the sweep stops%s", k + 1, t->rc,
                               running ? " (the trials running: after their current step)" : "");
                sweep_signal_trials(SIGINT); /* (they checkpoint, as on Ctrl-C) */
            }
            stop_launch = 1;
        }
    }
    if (sweep_signalled()) interrupted = 1;
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
        printf("\nBest: trial %d (%s): %s %.4f at epoch %d, %s %.4f\n", best + 1, what,
               acc ? "val_acc" : "val_loss", acc ? t->val_acc : t->val_loss, t->best_epoch,
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
    if (handlers) sweep_restore_signals(old_sig);
    unsetenv(SWEEP_PRUNE_ENV);
    remove_tmp(tmp, (int)n);
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
