/*
 * sweep.h — what ctrain sweep's seven files share: the command line (sweep_args.c), the search
 * space (sweep_grid.c: the values and ranges of the flags, the grid's combinations or the
 * draws; sweep_tpe.c: TPE's draws), the command (sweep_cmd.c: the trials' checks, the loop that
 * runs them), the trials as processes (sweep_run.c: started, waited for, signalled, and given
 * the median rule's numbers, by which each prunes itself), the --save folder (sweep_save.c: checked, the command line kept in it, --resume) and the
 * results (sweep_report.c reads them back from the trials' logs, ranks them, and prints,
 * saves and draws the table).
 */
#ifndef CTRAIN_SWEEP_H
#define CTRAIN_SWEEP_H

#include "args.h"
#include "train.h"

#include <signal.h>
#include <stdio.h>

#define SWEEP_MAX_VALUES 64       /* values of one flag */
#define SWEEP_MAX_COMBOS 1000000  /* the grid's size (--trials draws from it) */
#define SWEEP_MAX_DRAWN 100000    /* trials drawn from ranges */
#define SWEEP_VALUE_BYTES 24      /* a drawn value's text */
#define SWEEP_MAX_JOBS 64         /* trials at once */

/* One flag as the trials get it: fixed (a switch, or one value) or a dimension of the search:
 * a list of values, or a range to draw from. */
typedef struct {
    const char *name;                    /* without the dashes */
    char dashed[72];                     /* with them */
    int is_switch;
    int nvals;
    const char *vals[SWEEP_MAX_VALUES];
    int range;                           /* LOW:HIGH[:log] (vals[0], as typed): drawn from */
    int integer, log_scale;              /* whole numbers; log-uniform */
    double lo, hi;
    char lo_text[64], hi_text[64];       /* its ends as typed */
} sweep_flag;

typedef struct {
    sweep_flag flags[NUM_TRAIN_FLAGS];
    int nflags;
    int dims[NUM_TRAIN_FLAGS];           /* the flags with 2+ values or a range, in order */
    int ndims;
    int random;                          /* a range given: every trial draws every dimension */
    const char **drawn;                  /* then trial k's value of dimension d at
                                          * drawn[k * ndims + d]: a list's value, or a draw's
                                          * text in drawn_text */
    char *drawn_text;
    char *owned[NUM_TRAIN_FLAGS];        /* split lists' copies */
    int nowned;
    const char *save_dir;                /* --save DIR: each trial's under DIR/trial_K */
    const char *plot_dir;                /* --plot DIR: and DIR/sweep.png */
    const char *monitor;                 /* the trials' --monitor (NULL: not given) */
    int overwrite;                       /* --overwrite: DIR may hold an earlier sweep */
    int jobs;                            /* --jobs: trials at once */
    double timeout;                      /* --timeout: no trial starts past it (s; 0: none) */
    int add_quiet;                       /* 1: the trials get --quiet (jobs > 1) */
    char threads[16];                    /* --threads the trials get ("": as given) */
    int tpe, tpe_startup;                /* --sampler tpe, --tpe-startup */
    int prune;                           /* --prune: SWEEP_PRUNE_* (0: off) */
    int prune_startup, prune_warmup;     /* median: --prune-startup, --prune-warmup */
    int prune_min_epochs, prune_factor;  /* halving, hyperband: --prune-min-epochs,
                                          * --prune-factor */
    int brackets;                        /* hyperband: its brackets (sweep_hyperband) */
    int max_epochs;                      /* the most epochs a trial runs (its flags') */
} sweep_spec;

typedef struct {
    int combo;          /* its index in the grid */
    int rc;             /* the child's exit status (-1: not run or running; 128 + N: signal N) */
    int signal;         /* the signal that ended it (0: it exited) */
    int pid;            /* while it runs */
    double t0;          /* when it started */
    int epochs;         /* lines in its log */
    int epochs_before;  /* --resume: the lines its log had when it was carried on */
    int best_epoch;     /* by the objective (-1: none finite) */
    double val_loss, val_acc; /* at best_epoch; swa: of the SWA average */
    int swa;            /* its --swa-start average validated ("SWA: ..." in its output): the
                         * trial's result, in place of its best epoch's */
    int diverged;       /* a loss in its log is not finite (null) */
    double seconds;
    char test_line[128];
    double *curve;      /* an ended trial's objective at each epoch (NAN where none) */
    int ncurve;
    int pruned_epoch;   /* --prune: it stopped itself after this epoch (-1: it did not), */
    double pruned_value, pruned_median; /* median: its best objective then, worse than the
                                         * median; halving: its objective at the rung, worse
                                         * than the last of those going on */
    int pruned_of;      /* of this many finished trials there (halving: trials at the rung) */
    int pruned_keep;    /* halving: the best this many of them go on (0: the median rule) */
    int pruned_planned; /* the epochs it would have run (its line's "E of T epochs run") */
    int earlier;        /* --resume: what an earlier run of the sweep left of it */
    int bracket;        /* --prune hyperband: its bracket (sweep_hyperband) */
} sweep_trial;

enum { /* sweep_spec.prune */
    SWEEP_PRUNE_MEDIAN = 1, /* Optuna's MedianPruner */
    SWEEP_PRUNE_HALVING,    /* Optuna's SuccessiveHalvingPruner (asynchronous successive
                             * halving, Li et al. 2020; Ray Tune's ASHA) */
    SWEEP_PRUNE_HYPERBAND,  /* Optuna's HyperbandPruner (Li et al., "Hyperband", 2018): the
                             * trials split among brackets of successive halving whose first
                             * rungs come later and later */
};

enum { /* sweep_trial.earlier */
    SWEEP_NEW = 0,  /* nothing: it runs */
    SWEEP_KEPT,     /* finished, pruned or diverged: kept as it ran */
    SWEEP_RESUMED,  /* interrupted, checkpointed: ctrain train --resume carries it on */
    SWEEP_RERUN,    /* failed, killed or interrupted before a checkpoint: it runs again */
};

/* sweep_args.c (sweep_help: cli.h) */
/* argv (argv[0] "sweep") into s, *trials (--trials; 0: not given), *seed (--sweep-seed;
 * UINT64_MAX: not given) and *objective (NULL: not given): CLI_EXIT_OK, CLI_PARSE_HELP, or
 * CLI_EXIT_USAGE (said why). */
int sweep_parse(int argc, char **argv, sweep_spec *s, long *trials, uint64_t *seed,
                const char **objective);
/* s's flag of that name (NULL: not given) */
sweep_flag *sweep_flag_of(sweep_spec *s, const char *name);

/* sweep_grid.c */
/* A value given to f (numeric: its flag takes numbers): a value, a list of them (A,B,C: copies
 * kept in s->owned) or a range (LOW:HIGH[:log]; integer: of whole numbers, -1: when both ends
 * are). Prints the error and returns CLI_EXIT_USAGE when it cannot be one. */
int sweep_add_values(sweep_spec *s, sweep_flag *f, const char *val, int numeric, int integer);
/* The grid's combinations (-1: more than SWEEP_MAX_COMBOS); with a range, none (0). */
long sweep_combos(const sweep_spec *s);
/* With a range: n trials' values drawn (uniform, or log-uniform; a list's value uniform among
 * them), seeded; CLI_EXIT_ERROR when out of memory. */
int sweep_draw(sweep_spec *s, long n, uint64_t seed);
/* splitmix64's next number in [0, 1), x its state */
double sweep_unit(uint64_t *x);
/* v as text (SWEEP_VALUE_BYTES) in [lo, hi), or [lo, hi] when closed: 3 significant digits, or
 * as many as steps of a hundredth of the range's width ask (0.99953 of 0.99:0.9999, not 1), or
 * as keep it inside. */
void sweep_format_draw(double v, double lo, double hi, int closed, char *out);
/* --resume: trial c's (a draw's) value of dimension d set to text, as an earlier run drew it;
 * CLI_EXIT_ERROR when it is not one the flag could draw. */
int sweep_set_value(sweep_spec *s, long c, int d, const char *text);
/* Trial c's value of flag i: combination c of the grid (the last dimension varies fastest),
 * or draw c. "--lr 0.5 --hidden 64": its values of the swept flags. "--lr (4 values) x
 * --momentum (log-uniform in [1e-4, 1])": the space, into out. */
const char *sweep_value_of(const sweep_spec *s, long c, int i);
void sweep_describe(const sweep_spec *s, long combo, char *out, size_t bytes);
void sweep_space(const sweep_spec *s, char *out, size_t bytes);

/* sweep_report.c */
/* The number after "key": in a --log line (NAN when absent or null). */
double sweep_json_number(const char *line, const char *key);
/* The trial's epochs from its log, its best by the objective (acc: the highest val_acc, else
 * the lowest val_loss; the first of equals), its curve (t->curve: malloc'ed; left NULL when
 * memory is short: then it counts in no median), and its test line from its stdout; with
 * --swa-start, its result is its SWA line's (the average's validation, as printed: 4 decimals). */
void sweep_read_results(sweep_trial *t, const char *log_path, const char *out_path, int acc);
/* where its result is from: "at epoch E", or "of its SWA average" (into buf) */
const char *sweep_where(const sweep_trial *t, char *buf, size_t bytes);
/* NULL for a trial that finished, else what happened to it ("diverged (NaN) after 2 epochs"). */
const char *sweep_status(const sweep_trial *t, char *buf, size_t bytes);
/* a ranks before b: a finished and b not, or a's objective is better. */
int sweep_better(const sweep_trial *a, const sweep_trial *b, int acc);
/* The trials among tr[0, n) that ran (rc >= 0), best first: their indices (malloc'ed, *ran of
 * them; NULL when none, or out of memory). */
int *sweep_ranked(const sweep_trial *tr, long n, int acc, int *ran);
/* The ranked table (ord: sweep_ranked's, ran trials) on stdout. */
void sweep_print_table(const sweep_spec *s, const sweep_trial *tr, const int *ord, int ran,
                       int acc);
/* --save DIR: the table of the trials that ran as DIR/sweep.csv, whole (written aside, then
 * renamed: after every trial, so that --resume finds each one's status). Prints the error and
 * returns CLI_EXIT_ERROR when it cannot. */
int sweep_save_csv(const sweep_spec *s, const sweep_trial *tr, long n, int acc);
/* Trial k's (from 0) log: DIR/trial_K/log.jsonl with --save, else in the folder tmp. */
void sweep_log_path(const sweep_spec *s, const char *tmp, long k, char *out, size_t bytes);
/* --plot DIR: DIR/sweep.png, the objective over the epochs of the best finished trials (at
 * most SWEEP_PLOTTED); prints the error and returns CLI_EXIT_ERROR when it cannot. */
int sweep_plot(const sweep_spec *s, const char *tmp, const sweep_trial *tr, const int *ord,
               int ran, int acc);

/* sweep_save.c */
/* --save DIR may take the trials: it is new, an empty folder, or (--overwrite) an earlier
 * sweep's. Prints the error and returns non-zero when not. */
int sweep_check_save_dir(const sweep_spec *s);
/* --save DIR: the sweep's command line (argv[1, argc)) into DIR/sweep.args, paths absolute.
 * Prints the error and returns CLI_EXIT_ERROR when it cannot. */
int sweep_args_write(const char *dir, int argc, char **argv);
/* --resume DIR (with --jobs N at most besides) in argv: *dir, and the saved command line as
 * *out_argv (NULL-terminated, *out_argc; argv[0] "sweep", its --save DIR as given now, --jobs
 * added; sweep_args_free frees it). Without --resume: *out_argv NULL. Prints the error and
 * returns non-zero when it cannot. */
int sweep_resume_args(int argc, char **argv, const char **dir, int *out_argc, char ***out_argv);
void sweep_args_free(int argc, char **argv);
/* The trials' statuses in s->save_dir/sweep.csv into tr[].earlier (and .rc, .seconds of the
 * kept ones; with --sampler tpe, the values each one ran with); none when there is no such
 * file. Prints the error and returns CLI_EXIT_ERROR
 * when a row is not one of this sweep's trials. */
int sweep_resume_statuses(sweep_spec *s, sweep_trial *tr, long n);

/* sweep_tpe.c */
/* --sampler tpe: the trials TPE learns from among tr[0, n) (ended: finished, pruned or
 * diverged) */
int sweep_tpe_observed(const sweep_trial *tr, long n);
/* Trial k's values of the swept flags (s->drawn's row k) drawn by TPE from those trials
 * (acc: ranked by val_acc), seeded by seed and k; left as drawn at random while none has
 * finished. Prints the error and returns CLI_EXIT_ERROR when out of memory. */
int sweep_tpe_draw(sweep_spec *s, const sweep_trial *tr, long n, long k, int acc,
                   uint64_t seed);

/* sweep_run.c */
/* SIGINT and SIGTERM caught (passed on to the trials running; sweep_signalled() says which
 * came, 0: none) and SIGTTOU ignored, the old actions kept in old; and put back. */
void sweep_catch_signals(struct sigaction old[3]);
void sweep_restore_signals(const struct sigaction old[3]);
int sweep_signalled(void);
/* sig to every trial running */
void sweep_signal_trials(int sig);
/* seconds, monotonic */
double sweep_now(void);
/* Starts `ctrain train` (argv: from "train", NULL-terminated) as this binary in a process
 * group of its own, its stdout into out_path (appended to with append): its pid, -1 when it
 * could not start (errno), -2 when a signal came first (it is not started). */
int sweep_spawn(char **argv, const char *out_path, int append);
/* Waits for a trial to end: its pid, its exit status in *rc (128 + signal when one ended it) and
 * that signal in *sig (0: none); -1 when none is left. */
int sweep_wait(int *rc, int *sig);
/* --prune: what the trials among tr[0, n) that ended tell the running ones, into path, whole
 * (written aside, then renamed), for the trials to read as they run (train_best.c):
 * "objective val_loss" (or val_acc), then
 * - median: a line "EPOCH MEDIAN COUNT" for each epoch from --prune-warmup on that COUNT >= 1
 *   finished trials reached; no file while fewer than --prune-startup have finished;
 * - halving: "rule halving FACTOR MIN_EPOCHS", then for each rung (after MIN_EPOCHS x FACTOR^k
 *   epochs) that ended trials reached (finished, pruned or diverged after it), a line "EPOCH
 *   V1 V2 ..." of their objectives there;
 * - hyperband: a file for each bracket b (sweep_bracket_path), as halving's with MIN_EPOCHS x
 *   FACTOR^b for MIN_EPOCHS and the objectives of bracket b's trials only.
 * -1 when it cannot be written (errno; the file in failed).
 * sweep_prune_remove: the files sweep_prune_write writes (and their parts), removed. */
#define SWEEP_PRUNE_ENV "CTRAIN_SWEEP_PRUNE"
int sweep_prune_write(const sweep_spec *s, const char *path, const sweep_trial *tr, long n,
                      int acc, char *failed, size_t bytes);
void sweep_prune_remove(const sweep_spec *s, const char *path);
/* hyperband: bracket b's file beside path (path's name with _b before its extension) */
void sweep_bracket_path(const char *path, int b, char *out, size_t bytes);
/* --prune hyperband: Optuna's HyperbandPruner over s->max_epochs epochs: floor(log_f(max /
 * min)) + 1 brackets (f: --prune-factor, min: --prune-min-epochs; at least 1), bracket b
 * successive halving from min x f^b epochs on, into s->brackets; the n trials dealt among them
 * in proportion to Optuna's budgets, ceil(B f^s / (s + 1)) for s = B - 1 - b, by a smooth
 * weighted round robin in their order (the same on every run and --resume), into their
 * bracket fields. */
void sweep_hyperband(sweep_spec *s, sweep_trial *tr, long n);
/* Whether a trial that ended was pruned (its output said so). */
int sweep_was_pruned(const sweep_trial *t);

#endif
