/*
 * dist_cli.h — `mpirun -np N ctrain train ...`: what the command does as one rank of a
 * data-parallel job (dist_cli.c). A plain run (no mpirun) gets a NULL ct_dist and none of this
 * changes anything.
 */
#ifndef CTRAIN_CLI_DIST_H
#define CTRAIN_CLI_DIST_H

#include "args.h"
#include "ctrain.h"

/* Joins the job when launched by an MPI launcher (ct_dist_init) with timeout_s for each
 * collective (ct_dist_set_timeout), checks that every rank got the
 * same command line (in any order, numbers compared as parsed by flags' kinds: --lr 0.1 is
 * --lr=0.10; flags that only describe this rank's machine may differ: --threads,
 * --workers, --prefetch, --data, --data-on-device, --quiet and rank 0's outputs --save,
 * --save-every, --resume, --plot, --log), and on ranks other than 0 sends stdout to
 * /dev/null: only rank 0 prints results. Rank
 * 0 prints a "Ranks:" line unless quiet. Returns CLI_EXIT_OK, or CLI_EXIT_ERROR after printing
 * the error (and leaving the job). */
int cli_dist_start(ct_dist **out, int quiet, double timeout_s, int argc, char **argv,
                   cli_flag *flags, int nflags);
/* --threads for this rank: as given when > 0; for 0 (all cores) under mpirun, the cores this
 * rank may run on (mpirun binds ranks to cores by default) and at most its share of the host's
 * cores (online cores / ranks on this host), at least 1. */
int cli_dist_threads(const ct_dist *d, int threads);
/* cli_lib_error for a rank: rank 0 (or a single process) prints "ctrain: <message>", another
 * rank "ctrain: rank R: <message>" unless every rank failed the same check (then only rank 0
 * speaks). Returns CLI_EXIT_ERROR. */
int cli_dist_error(ct_dist *d, int status);
/* Under mpirun, a step that each rank may fail on its own (opening its device, loading its
 * data) starts with cli_dist_hold (its errors are held, on every rank) and ends with
 * cli_dist_agree (collective), where the ranks count their failures (ct_dist_failures): when
 * every rank failed with the same message, rank 0's is said and the others' dropped; else each
 * failed rank's is said ("ctrain: rank R: ..." on ranks other than 0). cli_dist_agree returns
 * CLI_EXIT_OK when none failed, else rc for a usage error and CLI_EXIT_ERROR_ALL otherwise, on
 * every rank: they stop together, and cli_dist_end lets them leave without MPI_Abort. NULL d:
 * nothing is held and cli_dist_agree returns rc. */
void cli_dist_hold(const ct_dist *d);
int cli_dist_agree(ct_dist *d, int rc);
/* Before the ranks are connected they cannot agree: under mpirun, a rank other than 0 (rank >
 * 0; main.c) holds its errors (cli_hold_errors) until cli_dist_start has connected it (then
 * they are said at once and the ranks agree from there on) or it exits
 * (cli_dist_release_errors(failed)). An error is then said after 2 s: when rank 0 failed the
 * same way, mpirun has ended the job by then and the error is said once, by rank 0; when only
 * this rank failed, it is still said, as "ctrain: rank R: ...". */
void cli_dist_hold_errors(int rank);
void cli_dist_release_errors(int failed);
/* MISSING data under mpirun: every rank would fetch at once; says to fetch first, returns 1. */
int cli_dist_missing_data(const char *dir);
/* Says any held errors, leaves the job and returns rc (CLI_EXIT_ERROR_ALL: CLI_EXIT_ERROR);
 * after an error that the other ranks may not have seen (rc == CLI_EXIT_ERROR), ends the whole
 * job at once instead (MPI_Abort with exit code 1). */
int cli_dist_end(ct_dist *d, int rc);

#endif /* CTRAIN_CLI_DIST_H */
