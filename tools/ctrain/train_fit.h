/*
 * train_fit.h — train_fit.c for train_cmd.c: the state of a run while ct_fit runs, its
 * callbacks, the signals that stop it cleanly, and what a run that stops early says.
 */
#ifndef CTRAIN_CLI_TRAIN_FIT_H
#define CTRAIN_CLI_TRAIN_FIT_H

#include "progress.h"
#include "train.h"

#include <signal.h>

typedef struct {
    progress_bar bar;
    int epochs_done;
    train_run *run;
    int test_stop_epoch;     /* CTRAIN_TEST_INTERRUPT_AT=EPOCH:BATCH raises SIGINT there */
    int64_t test_stop_batch;
    int early_epoch;         /* --patience stopped the run after this epoch (-1: it did not) */
    int pruned_epoch;        /* a sweep pruned it after this epoch (-1: it did not), */
    char pruned_msg[200];    /* saying why */
    int best_epoch;          /* the epoch of the best --monitor so far */
    int diverged_epoch;      /* the loss became NaN or infinite in this epoch (-1: it did not),
                              * or the weights: the run stopped there, unsaved */
    char weights_msg[256];   /* which weight was not finite ("": the loss was not) */
    int save_failed;         /* a checkpoint during the run could not be written (1; 2: the
                              * --save-best or a --snapshots file): the run stopped after
                              * that epoch (an error, not an interruption) */
} fit_state;

/* ct_callbacks' on_step and on_epoch, user a fit_state. */
int train_on_step(void *user, int epoch, int64_t done, int64_t total, int64_t samples,
                  double elapsed_s);
int train_on_epoch(void *user, const ct_epoch_result *r);

/* Ctrl-C, SIGTERM and SIGUSR1 from now on stop the run after its current step (a second one
 * within half a second is the same stop; a later one ends the process); their handlers before
 * into old, and put back. train_interrupted: one came since train_catch_signals. */
void train_catch_signals(struct sigaction old[3]);
void train_restore_signals(const struct sigaction old[3]);
int train_interrupted(void);

/* The median of the epochs' training times (val 0) or validation times (val 1) of h[0..n). */
double train_median_s(const ct_epoch_result *h, int n, int val);

/* What to say when the run stops early: where it stopped, what was saved, how to go on. */
void train_report_interrupt(const train_run *run, int saved_ok);
/* The loss (or, per weights, a weight) became NaN or infinite in epoch `epoch`: says so, and
 * what the --save folder holds (its folder removed when this run made it and it is empty). */
void train_report_divergence(const train_run *run, int epoch, const char *weights,
                             cli_made *made_save);

#endif /* CTRAIN_CLI_TRAIN_FIT_H */
