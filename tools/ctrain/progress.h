/*
 * progress.h — the one-line training progress bar on a terminal.
 *
 *     epoch 3/10 [=========>         ] 210/391  loss 0.2345 acc 0.9312  61k samples/s  ETA 0.4s
 *
 * Drawn only when given a stream (the CLI gives stderr when it is a terminal and --quiet is off),
 * redrawn at most every PROGRESS_REDRAW_S with '\r', fitted to the terminal's width so that it
 * never wraps (without the rate, then without the bar, then cut), and erased (progress_clear)
 * before anything else is printed.
 */
#ifndef CTRAIN_CLI_PROGRESS_H
#define CTRAIN_CLI_PROGRESS_H

#include <stdint.h>
#include <stdio.h>

#define PROGRESS_REDRAW_S 0.1

typedef struct {
    FILE *out;        /* where it is drawn (NULL: it is not) */
    int total_epochs; /* for "epoch 3/10" */
    int drawn_len;    /* characters on the line now (0 = nothing drawn) */
    double last_draw_s;
} progress_bar;

void progress_init(progress_bar *p, FILE *out, int total_epochs); /* out NULL: not drawn */
/* 1 when progress_step would redraw now: PROGRESS_REDRAW_S has passed since the last drawing,
 * or it is the first or the last step (what the bar shows may be fetched only then). */
int progress_due(const progress_bar *p, int64_t done, int64_t total);
/* After a training step: epoch is 0-based; done/total count the epoch's batches; samples and
 * elapsed_s count from the epoch's start; metrics (may be NULL: not shown) the running train
 * loss and accuracy. Redraws when progress_due. */
void progress_step(progress_bar *p, int epoch, int64_t done, int64_t total, int64_t samples,
                   double elapsed_s, const double metrics[2]);
/* Erases the bar (if drawn) so that the cursor is at the start of an empty line. */
void progress_clear(progress_bar *p);

#endif /* CTRAIN_CLI_PROGRESS_H */
