/*
 * sweep_args.c — ctrain sweep's command line: its help, and its flags read into the search
 * space (sweep.h's sweep_spec: each train flag's values or range, through sweep_grid.c) and the
 * sweep's own numbers (--trials, --objective, --jobs, --sampler, --prune, ...).
 */
#include "args.h"
#include "cli.h"
#include "train.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sweep.h"

void sweep_help(FILE *f) {
    fputs("usage: ctrain sweep [--trials N] [--sweep-seed N] [--objective METRIC] [--jobs N]\n"
          "                    [--timeout SECONDS] [--sampler tpe]\n"
          "                    [--prune median|halving|hyperband]\n"
          "                    TRAIN-FLAGS...\n"
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
          "checked as ctrain train reads them, and its model built for the data's shape,\n"
          "before the first trial runs; what needs the data itself (--freeze,\n"
          "--class-weight's count) is checked by each trial as it starts.\n"
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
          "                            objective); of a trial with --swa-start: its SWA line's,\n"
          "                            the average it ends with (4 decimals, as printed)\n"
          "                            [default: the trials' --monitor, else val_loss]\n"
          "  --timeout SECONDS         start no trial after SECONDS (Optuna's timeout): those\n"
          "                            running finish, the table ranks the trials run, and\n"
          "                            --resume runs the others (for SECONDS more)\n"
          "                            [default: none]\n"
          "  --jobs N                  run N trials at once, 1 to 64 (Optuna's n_jobs), each\n"
          "                            with --quiet (no progress bar) and, without --threads,\n"
          "                            --threads CORES/N (a small model trains faster so; on the\n"
          "                            CPU a run's numbers depend on its --threads: the order of\n"
          "                            its sums) [default: 1]\n"
          "  --sampler NAME            how the trials' values are drawn from the ranges: random\n"
          "                            (uniform or log-uniform, RandomSearch), or tpe: Optuna's\n"
          "                            default TPESampler (Bergstra et al. 2011): once\n"
          "                            --tpe-startup trials have ended, each flag's next value\n"
          "                            is the likeliest among 24 draws to be one of the best\n"
          "                            tenth's rather than of the rest's (the values seen,\n"
          "                            smoothed); with --jobs, from the trials ended by then\n"
          "                            (random, tpe) [default: random]\n"
          "  --tpe-startup N           trials drawn at random before TPE (n_startup_trials)\n"
          "                            [default: 10]\n"
          "  --prune RULE              median: stop unpromising trials early, as Optuna's\n"
          "                            MedianPruner: after each epoch, once --prune-startup\n"
          "                            trials have finished, a trial whose best objective so far\n"
          "                            is worse than the median of the finished trials' at that\n"
          "                            epoch stops there (tested and checkpointed, as --patience\n"
          "                            stops a run) and ranks after the finished ones.\n"
          "                            halving: successive halving, as Optuna's\n"
          "                            SuccessiveHalvingPruner and Ray Tune's ASHA: after\n"
          "                            --prune-min-epochs epochs, --prune-factor times as many,\n"
          "                            and so on (rungs), a trial goes on only when its\n"
          "                            objective there is among the best 1/factor of the\n"
          "                            trials' there (those ended, and itself; at least the\n"
          "                            best one of them; with --jobs, not those running\n"
          "                            beside it); pruned, it stops as median's do.\n"
          "                            hyperband: Hyperband, as Optuna's HyperbandPruner: the\n"
          "                            trials dealt among brackets of successive halving (in\n"
          "                            Optuna's proportions), bracket b's first rung after\n"
          "                            --prune-min-epochs x factor^b epochs, as many brackets\n"
          "                            as fit in the trials' epochs; a trial is held against\n"
          "                            its bracket's only (the last bracket's first rung comes\n"
          "                            latest: a hedge against a rule too eager); --sampler tpe\n"
          "                            learns from every bracket's trials (Optuna's, from the\n"
          "                            trial's bracket's). No rule prunes a trial at its last\n"
          "                            epoch.\n"
          "                            off: none [default: off]\n"
          "  --prune-startup N         median: trials to finish before any is pruned\n"
          "                            (n_startup_trials) [default: 5]\n"
          "  --prune-warmup N          median: no trial is pruned before epoch N\n"
          "                            (n_warmup_steps; the epochs count from 0) [default: 0]\n"
          "  --prune-min-epochs N      halving, hyperband: epochs before the first rung\n"
          "                            (min_resource) [default: 1]\n"
          "  --prune-factor F          halving, hyperband: 1 in F trials goes on at a rung, and\n"
          "                            the next comes after F times the epochs\n"
          "                            (reduction_factor, 2 to 100) [default: 3]\n"
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
          "                            draws the trials side by side); --plot also draws\n"
          "                            DIR/sweep.png: the best ten trials' objective by epoch\n"
          "                            (with --swa-start, the SWA average a diamond after it),\n"
          "                            the pruned ones' in grey behind them\n"
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
          "               --prune median\n"
          "  ctrain sweep --lr 1e-3:1:log --momentum 0:0.95 --trials 30 --sampler tpe\n",
          f);
}

/* ------------------------------------------------------------------------------------------ */
/* the command line                                                                            */

static int numeric(cli_kind k) {
    return k == CLI_INT || k == CLI_I64 || k == CLI_U64 || k == CLI_FLOAT;
}

sweep_flag *sweep_flag_of(sweep_spec *s, const char *name) {
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

/* --name's value, a whole number in [lo, hi], into *out; else says so (expected: what it
 * takes) and returns -1 */
static int whole(int argc, char **argv, int *i, const char *eq, const char *name,
                 const char *expected, long lo, long hi, long *out) {
    const char *val = flag_value(argc, argv, i, eq);
    if (val && cli_parse_long(val, lo, hi, out) == 0) return 0;
    cli_usage_error("sweep", "--%s: expected %s, got %s%s%s", name, expected,
                    val ? "\"" : "no value", val ? val : "", val ? "\"" : "");
    return -1;
}

/* --name's value, one of two words: 0 for a, 1 for b; else says so and returns -1 */
static int word(int argc, char **argv, int *i, const char *eq, const char *name, const char *a,
                const char *b) {
    const char *val = flag_value(argc, argv, i, eq);
    if (val && (strcmp(val, a) == 0 || strcmp(val, b) == 0)) return strcmp(val, b) == 0;
    cli_usage_error("sweep", "--%s: expected %s or %s, got %s%s%s", name, a, b,
                    val ? "\"" : "no value", val ? val : "", val ? "\"" : "");
    return -1;
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
int sweep_parse(int argc, char **argv, sweep_spec *s, long *trials, uint64_t *seed,
                       const char **objective) {
    static const char *const refused[] = {"log", "lr-find", "lr-find-range", "lr-find-steps"};
    static const char *const single[] = {"save", "plot", "tensorboard", "monitor", "data",
                                         "dataset", "device", "threads"};
    train_opts o;
    cli_flag tf[NUM_TRAIN_FLAGS];
    train_opts_init(&o);
    int ntf = train_make_flags(&o, tf);
    const char *prune_knob = NULL; /* --prune-startup or --prune-warmup, given */
    const char *halving_knob = NULL; /* --prune-min-epochs or --prune-factor, given */
    int tpe_knob = 0;              /* --tpe-startup, given */
    s->prune_startup = 5;          /* Optuna's n_startup_trials, n_warmup_steps (MedianPruner) */
    s->prune_warmup = 0;
    s->prune_min_epochs = 1;       /* SuccessiveHalvingPruner's min_resource, reduction_factor */
    s->prune_factor = 3;
    s->tpe_startup = 10;           /* and TPESampler's */
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
        /* the sweep's own flags */
        long v;
        int w;
        if (strcmp(name, "jobs") == 0) {
            char expected[40];
            snprintf(expected, sizeof expected, "1 to %d trials at once", SWEEP_MAX_JOBS);
            if (whole(argc, argv, &i, eq, name, expected, 1, SWEEP_MAX_JOBS, &v))
                return CLI_EXIT_USAGE;
            s->jobs = (int)v;
            continue;
        }
        if (strcmp(name, "timeout") == 0) {
            const char *val = flag_value(argc, argv, &i, eq);
            double t;
            if (!val || cli_parse_double(val, &t) != 0 || !(t > 0) || !isfinite(t))
                return cli_usage_error("sweep", "--timeout: expected seconds > 0, got %s%s%s",
                                       val ? "\"" : "no value", val ? val : "",
                                       val ? "\"" : "");
            s->timeout = t;
            continue;
        }
        if (strcmp(name, "sampler") == 0) {
            if ((w = word(argc, argv, &i, eq, name, "random", "tpe")) < 0) return CLI_EXIT_USAGE;
            s->tpe = w;
            continue;
        }
        if (strcmp(name, "tpe-startup") == 0) {
            if (whole(argc, argv, &i, eq, name, "a count of trials 1 to 1000000", 1, 1000000, &v))
                return CLI_EXIT_USAGE;
            s->tpe_startup = (int)v;
            tpe_knob = 1;
            continue;
        }
        if (strcmp(name, "prune") == 0) {
            const char *val = flag_value(argc, argv, &i, eq);
            if (val && strcmp(val, "median") == 0) s->prune = SWEEP_PRUNE_MEDIAN;
            else if (val && strcmp(val, "halving") == 0) s->prune = SWEEP_PRUNE_HALVING;
            else if (val && strcmp(val, "hyperband") == 0) s->prune = SWEEP_PRUNE_HYPERBAND;
            else if (val && strcmp(val, "off") == 0) s->prune = 0;
            else
                return cli_usage_error("sweep", "--prune: expected median, halving, hyperband or "
                                       "off, got %s%s%s", val ? "\"" : "no value", val ? val : "",
                                       val ? "\"" : "");
            continue;
        }
        if (strcmp(name, "prune-startup") == 0 || strcmp(name, "prune-warmup") == 0) {
            const int startup = name[6] == 's';
            if (whole(argc, argv, &i, eq, name, startup ? "a count of trials 0 to 1000000"
                                                        : "an epoch 0 to 1000000",
                      0, 1000000, &v))
                return CLI_EXIT_USAGE;
            *(startup ? &s->prune_startup : &s->prune_warmup) = (int)v;
            prune_knob = startup ? "--prune-startup" : "--prune-warmup";
            continue;
        }
        if (strcmp(name, "prune-min-epochs") == 0 || strcmp(name, "prune-factor") == 0) {
            const int min = name[6] == 'm';
            if (whole(argc, argv, &i, eq, name, min ? "epochs 1 to 1000000" : "a factor 2 to 100",
                      min ? 1 : 2, min ? 1000000 : 100, &v))
                return CLI_EXIT_USAGE;
            *(min ? &s->prune_min_epochs : &s->prune_factor) = (int)v;
            halving_knob = min ? "--prune-min-epochs" : "--prune-factor";
            continue;
        }
        if (strcmp(name, "trials") == 0 || strcmp(name, "sweep-seed") == 0) {
            const int count = strcmp(name, "trials") == 0;
            if (whole(argc, argv, &i, eq, name, count ? "a positive count" : "a count >= 0",
                      count, LONG_MAX, &v))
                return CLI_EXIT_USAGE;
            if (count) *trials = v;
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
        sweep_flag *sf = sweep_flag_of(s, name);
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
    if (prune_knob && s->prune != SWEEP_PRUNE_MEDIAN)
        return cli_usage_error("sweep", "%s: sets --prune median's rule (not given)", prune_knob);
    if (halving_knob && s->prune != SWEEP_PRUNE_HALVING && s->prune != SWEEP_PRUNE_HYPERBAND)
        return cli_usage_error("sweep", "%s: sets --prune halving's or hyperband's rule (neither "
                               "given)", halving_knob);
    if (tpe_knob && !s->tpe)
        return cli_usage_error("sweep", "--tpe-startup: sets --sampler tpe (not given)");
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

