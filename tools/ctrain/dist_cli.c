/*
 * dist_cli.c — `ctrain train` as one rank of `mpirun -np N ctrain train ...` (see dist_cli.h and
 * the library's ct_dist in ctrain.h). Rank 0 does all the talking and all the writing (epoch
 * lines, progress bar, logs, plots, checkpoints); every rank loads the same data (and the same
 * checkpoint with --resume) and computes its share of each batch.
 */
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */
#include "dist_cli.h"
#include "args.h"

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Flags that describe one rank's machine or rank 0's outputs: they may differ between ranks. */
static const char *const k_per_rank_flags[] = {
    "threads", "workers", "prefetch", "data", "data-on-device", "quiet",
    "save", "save-every", "resume", "plot", "log",
};

/* "--flag" or "--flag=value" → is flag one of k_per_rank_flags? */
static int per_rank_flag(const char *arg) {
    if (strncmp(arg, "--", 2) != 0) return 0;
    size_t len = strcspn(arg + 2, "=");
    for (size_t i = 0; i < sizeof k_per_rank_flags / sizeof k_per_rank_flags[0]; i++)
        if (strlen(k_per_rank_flags[i]) == len && !strncmp(arg + 2, k_per_rank_flags[i], len))
            return 1;
    return 0;
}

static int by_text(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The command line as "--flag=value ..." fields without the per-rank flags, sorted (the order
 * flags are given in does not matter): what must match. */
static char *command_text(int argc, char **argv) {
    size_t bytes = 1;
    for (int i = 0; i < argc; i++) bytes += 2 * strlen(argv[i]) + 2;
    char *text = malloc(bytes), *fields = malloc(bytes), **field = malloc((size_t)argc * sizeof *field);
    if (!text || !fields || !field) {
        free(text);
        free(fields);
        free(field);
        return NULL;
    }
    char *p = fields;
    int n = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        /* a flag's value is the next word when it has no '=' and the word is not a flag */
        int joined = !strncmp(a, "--", 2) && !strchr(a, '=') && i + 1 < argc &&
                     strncmp(argv[i + 1], "--", 2) != 0;
        if (!per_rank_flag(a)) {
            field[n++] = p;
            p += sprintf(p, "%s", a);
            if (joined) p += sprintf(p, "=%s", argv[i + 1]);
            p++; /* past its NUL */
        }
        if (joined) i++;
    }
    qsort(field, (size_t)n, sizeof *field, by_text);
    char *t = text;
    *t = 0;
    for (int k = 0; k < n; k++) t += sprintf(t, "%s%s", k ? " " : "", field[k]);
    for (char *c = text; *c; c++)
        if (*c == '\n' || *c == '\t') *c = '_';
    free(fields);
    free(field);
    return text;
}

int cli_dist_start(ct_dist **out, int quiet, double timeout_s, int argc, char **argv) {
    *out = NULL;
    ct_dist *d = NULL;
    ct_status s = ct_dist_init(&d);
    if (s != CT_OK) return cli_lib_error(s);
    if (!d) return CLI_EXIT_OK; /* a single process */
    char *text = command_text(argc, argv);
    s = ct_dist_set_timeout(d, timeout_s);
    if (s == CT_OK)
        s = text ? ct_dist_check_same(d, text, strlen(text), "command line") : CT_ERR_NOMEM;
    free(text);
    if (s != CT_OK) {
        int rc = cli_dist_error(d, s);
        ct_dist_abort(d, rc); /* returns when every rank refused together */
        ct_dist_finalize(d);
        return rc;
    }
    if (ct_dist_rank(d) != 0) {
        fflush(stdout);
        if (!freopen("/dev/null", "w", stdout)) { /* then it prints; harmless */ }
    } else if (!quiet) {
        printf("Ranks: %s; each computes 1/%d of every batch (--threads is per rank)\n",
               ct_dist_description(d), ct_dist_size(d));
        fflush(stdout);
    }
    *out = d;
    return CLI_EXIT_OK;
}

int cli_dist_threads(const ct_dist *d, int threads) {
    if (!d || threads > 0) return threads;
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    int n = online > 0 ? (int)(online / ct_dist_local_size(d)) : 1;
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) < n) n = CPU_COUNT(&set);
    return n > 0 ? n : 1;
}

int cli_dist_error(ct_dist *d, int status) {
    if (ct_dist_rank(d) == 0) return cli_lib_error(status);
    if (ct_dist_error_shared(d)) return CLI_EXIT_ERROR; /* rank 0 says it */
    const char *msg = ct_last_error();
    if (!msg || !*msg) msg = ct_status_name((ct_status)status);
    fprintf(stderr, "ctrain: rank %d: ", ct_dist_rank(d));
    for (const char *p = msg; *p; p++) fputc(*p == '\n' || *p == '\r' ? ' ' : *p, stderr);
    fputc('\n', stderr);
    return CLI_EXIT_ERROR;
}

int cli_dist_missing_data(ct_dist *d, const char *dir) {
    fprintf(stderr, "ctrain: rank %d: MNIST not found in %s; under mpirun every rank would fetch "
            "it at once: run `ctrain data fetch mnist` on every host first\n", ct_dist_rank(d), dir);
    return CLI_EXIT_ERROR;
}

int cli_dist_end(ct_dist *d, int rc) {
    if (!d) return rc;
    fflush(stdout);
    fflush(stderr);
    if (rc == CLI_EXIT_ERROR) ct_dist_abort(d, rc); /* returns when the failure was shared */
    ct_dist_finalize(d);
    return rc;
}
