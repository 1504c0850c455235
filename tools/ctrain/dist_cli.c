/*
 * dist_cli.c — `ctrain train` as one rank of `mpirun -np N ctrain train ...` (see dist_cli.h and
 * the library's ct_dist in ctrain.h). Rank 0 does all the talking and all the writing (epoch
 * lines, progress bar, logs, plots, checkpoints); every rank loads the same data (and the same
 * checkpoint with --resume) and computes its share of each batch.
 */
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */
#include "dist_cli.h"
#include "args.h"
#include "train.h"

#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Flags that describe one rank's machine or rank 0's outputs: they may differ between ranks. */
static const char *const k_per_rank_flags[] = {
    "threads", "workers", "prefetch", "data", "data-on-device", "quiet",
    "save", "save-every", "resume", "plot", "log", "tensorboard", "histograms",
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

/* A number flag's value as its parsed number, in the shortest form that reads back as the same
 * value ("0.10", "1e-1" and "0.1" are all "0.1"), into out: 1; 0 for other values (as given). The
 * values are valid: cli_parse has checked them. */
static int canonical_number(const cli_flag *f, const char *v, char *out, size_t bytes) {
    if (!f || !*v) return 0;
    char *end;
    if (f->kind == CLI_INT || f->kind == CLI_I64) {
        long long k = strtoll(v, &end, 10);
        return !*end && snprintf(out, bytes, "%lld", k) > 0;
    }
    if (f->kind == CLI_U64) {
        unsigned long long k = strtoull(v, &end, 10);
        return !*end && snprintf(out, bytes, "%llu", k) > 0;
    }
    double d;
    if (f->kind != CLI_FLOAT || cli_parse_double(v, &d) != 0) return 0;
    cli_shortest_float(d, out, bytes);
    return 1;
}

/* --schedule's, --augment's and --normalize's values in one spelling, into out: 1 (0: as
 * given). --schedule E@LR,... with each number as parsed ("01@.5" is "1@0.5"); --augment as
 * train_format_augment says it ("flip,crop" is "crop=4,flip"; auto as given); --normalize's
 * numbers as parsed ("0.10,0.30" is "0.1,0.3"). */
static int canonical_list(const char *name, const char *v, char *out, size_t bytes) {
    int schedule = !strcmp(name, "schedule"), normalize = !strcmp(name, "normalize");
    if (!schedule && !normalize && strcmp(name, "augment") != 0) return 0;
    if (!schedule && !normalize) {
        ct_train_config c = {0};
        char err[256];
        if (!strcmp(v, "auto") || train_parse_augment(v, "", &c, err, sizeof err) != 0) return 0;
        train_format_augment(&c, out, bytes);
        return 1;
    }
    char copy[512], *save = NULL;
    if (snprintf(copy, sizeof copy, "%s", v) >= (int)sizeof copy) return 0;
    size_t used = 0;
    out[0] = 0;
    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        char *at = strchr(t, '@'), *end, num[32];
        double x;
        long e = at ? strtol(t, &end, 10) : 0;
        if (normalize ? cli_parse_double(t, &x) != 0
                      : !at || end != at || cli_parse_double(at + 1, &x) != 0)
            return 0; /* (off, auto: as given) */
        cli_shortest_float(x, num, sizeof num);
        int w = normalize ? snprintf(out + used, bytes - used, "%s%s", used ? "," : "", num)
                          : snprintf(out + used, bytes - used, "%s%ld@%s", used ? "," : "", e,
                                     num);
        if (w < 0 || (size_t)w >= bytes - used) return 0;
        used += (size_t)w;
    }
    return 1;
}

/* The command line as "--flag=value ..." fields without the per-rank flags, sorted (the order
 * flags are given in does not matter) and with numbers as parsed: what must match. */
static char *command_text(int argc, char **argv, cli_flag *flags, int nflags) {
    size_t bytes = 1;
    for (int i = 0; i < argc; i++) bytes += 2 * strlen(argv[i]) + 64;
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
        size_t name_len = strcspn(a, "=");
        char name[64] = "";
        if (!strncmp(a, "--", 2) && name_len - 2 < sizeof name)
            snprintf(name, sizeof name, "%.*s", (int)(name_len - 2), a + 2);
        cli_flag *f = name[0] ? cli_find(flags, nflags, name) : NULL;
        /* a flag's value is the next word when it has no '=', takes one and the word is not a flag */
        int joined = !strncmp(a, "--", 2) && !a[name_len] && i + 1 < argc &&
                     strncmp(argv[i + 1], "--", 2) != 0 && !(f && f->kind == CLI_SWITCH);
        const char *value = joined ? argv[i + 1] : a[name_len] ? a + name_len + 1 : NULL;
        if (!per_rank_flag(a)) {
            field[n++] = p;
            p += sprintf(p, "%.*s", (int)name_len, a);
            char number[512];
            int canon = value && (canonical_number(f, value, number, sizeof number) ||
                                  canonical_list(name, value, number, sizeof number));
            if (canon && strlen(number) > 2 * strlen(value) + 32) canon = 0; /* (room: above) */
            if (value) p += sprintf(p, "=%s", canon ? number : value);
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

/* ------------------------------------------------------------------------------------------ */
/* who says an error                                                                           */

/* How long a rank other than 0 holds back an error from before the ranks are connected: when
 * rank 0 failed too, mpirun ends the job within this time of its exit and the error is said
 * once, by rank 0. With Open MPI 4.1.4 here the other ranks lived 0.98-1.00 s after rank 0's
 * exit (10 runs), and 10 of 10 `mpirun -np 3 ctrain train --lr abc` printed one line. */
#define CLI_RANK_ERROR_WAIT_S 2

static int g_before_connect; /* holding errors before the ranks can talk */

void cli_dist_hold_errors(int rank) {
    if (rank <= 0) return;
    cli_set_error_rank(rank);
    cli_hold_errors();
    g_before_connect = 1;
}

void cli_dist_release_errors(int failed) {
    if (g_before_connect && failed && cli_held_errors() > 0)
        sleep(CLI_RANK_ERROR_WAIT_S); /* ended here when rank 0 failed too */
    g_before_connect = 0;
    cli_release_errors(1);
}

void cli_dist_hold(const ct_dist *d) {
    if (d) cli_hold_errors();
}

int cli_dist_agree(ct_dist *d, int rc) {
    if (!d) return rc;
    int failed = rc != CLI_EXIT_OK, n = 0, same = 0, rank = ct_dist_rank(d);
    ct_status s = ct_dist_failures(d, failed, cli_held_errors_key(), &n, &same);
    if (s != CT_OK) { /* a rank did not arrive: the job ends (cli_dist_end) */
        cli_release_errors(1);
        return cli_dist_error(d, s);
    }
    /* all failed alike: rank 0 speaks for every rank; else each failed rank says its own */
    cli_release_errors(rank == 0 || !(n == ct_dist_size(d) && same));
    if (n == 0) return CLI_EXIT_OK;
    /* every rank stops here, together: none is left waiting, so none needs MPI_Abort */
    return failed && rc != CLI_EXIT_ERROR ? rc : CLI_EXIT_ERROR_ALL;
}

/* ------------------------------------------------------------------------------------------ */
/* MPI's start and end, timed                                                                  */

/* MPI_Init (with the collectives that find the ranks of a host) and MPI_Finalize wait for every
 * rank and cannot be given a time limit: a rank stopped or stuck there holds the others for
 * ever. So the CLI times them itself with alarm(): past --dist-timeout, the rank says so and
 * exits 1, and mpirun ends the job. Ranks other than 0 wait CLI_RANK_ERROR_WAIT_S longer, so
 * that rank 0 speaks for them when it is waiting too. */
static char g_alarm_msg[320];
static size_t g_alarm_len;
static double g_timeout_s;
static struct sigaction g_old_alarm; /* put back by disarm */
static int g_armed;

static void on_alarm(int sig) {
    (void)sig;
    if (write(STDERR_FILENO, g_alarm_msg, g_alarm_len) < 0) { /* exiting anyway */ }
    _exit(CLI_EXIT_ERROR);
}

static void arm(int rank, const char *what, int end) {
    if (!(g_timeout_s > 0)) return;
    double wait = g_timeout_s + (rank > 0 ? CLI_RANK_ERROR_WAIT_S : 0);
    unsigned seconds = wait < 1e9 ? (unsigned)ceil(wait) : 1000000000u;
    char who[32] = "";
    if (rank > 0) snprintf(who, sizeof who, "rank %d: ", rank);
    int n = snprintf(g_alarm_msg, sizeof g_alarm_msg, "ctrain: %s%s did not finish within %g s: "
                     "a rank has not reached it (stopped, stuck or unreachable%s). hint: the "
                     "ranks' timeout is --dist-timeout\n", who, what, g_timeout_s,
                     end ? ", or rank 0 still writing its --save files" : "");
    g_alarm_len = n > 0 && (size_t)n < sizeof g_alarm_msg ? (size_t)n : strlen(g_alarm_msg);
    fflush(stderr);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGALRM, &sa, &g_old_alarm) != 0) return; /* then untimed, as before */
    g_armed = 1;
    alarm(seconds);
}

static void disarm(void) {
    if (!g_armed) return;
    alarm(0);
    sigaction(SIGALRM, &g_old_alarm, NULL);
    g_armed = 0;
}

/* A watchdog thread over the collectives: each times itself between MPI's polls, but a poll
 * that never returns (a rank stopped while writing into Open MPI's shared memory can hold its
 * reader so) is not timed; CLI_WATCH_GRACE_S past a collective's time limit (--dist-timeout,
 * or NCCL set-up's longer one), the rank says so and exits 1, and mpirun ends the job. */
#define CLI_WATCH_GRACE_S 5
static ct_dist *g_watched;
static atomic_int g_watch_stop;
static pthread_t g_watch_thread;
static int g_watching;
static char g_watch_msg[320];

static void *watch(void *arg) {
    (void)arg;
    const double grace = CLI_WATCH_GRACE_S + (ct_dist_rank(g_watched) > 0 ? CLI_RANK_ERROR_WAIT_S : 0);
    while (!atomic_load(&g_watch_stop)) {
        if (ct_dist_overdue_s(g_watched) > grace) {
            if (write(STDERR_FILENO, g_watch_msg, strlen(g_watch_msg)) < 0) { /* exiting */ }
            _exit(CLI_EXIT_ERROR);
        }
        usleep(200 * 1000);
    }
    return NULL;
}

static void watch_start(ct_dist *d) {
    if (!(g_timeout_s > 0) || g_watching) return;
    char who[32] = "";
    if (ct_dist_rank(d) > 0) snprintf(who, sizeof who, "rank %d: ", ct_dist_rank(d));
    snprintf(g_watch_msg, sizeof g_watch_msg, "ctrain: %san MPI collective has not returned "
             "%d s past its time limit (MPI itself is held: a rank stopped or stuck inside a "
             "transfer, say); ending the job. hint: the ranks' timeout is --dist-timeout\n", who,
             CLI_WATCH_GRACE_S);
    g_watched = d;
    atomic_store(&g_watch_stop, 0);
    g_watching = pthread_create(&g_watch_thread, NULL, watch, NULL) == 0; /* else: untimed */
}

static void watch_stop(void) {
    if (!g_watching) return;
    atomic_store(&g_watch_stop, 1);
    pthread_join(g_watch_thread, NULL);
    g_watching = 0;
}

static void finalize(ct_dist *d) {
    watch_stop();
    /* tests: CTRAIN_TEST_STOP_AT_FINALIZE=R stops rank R here (SIGSTOP) */
    const char *stop = getenv("CTRAIN_TEST_STOP_AT_FINALIZE");
    long stop_rank = -1;
    if (stop && cli_parse_long(stop, 0, INT_MAX, &stop_rank) == 0 && stop_rank == ct_dist_rank(d))
        raise(SIGSTOP);
    arm(ct_dist_rank(d), "MPI_Finalize (the end of the job)", 1);
    ct_dist_finalize(d);
    disarm();
}

/* ------------------------------------------------------------------------------------------ */
/* the job                                                                                     */

int cli_dist_start(ct_dist **out, int quiet, double timeout_s, int argc, char **argv,
                   cli_flag *flags, int nflags) {
    *out = NULL;
    ct_dist *d = NULL;
    g_timeout_s = timeout_s;
    int rank = -1, n = ct_dist_launched(&rank, NULL);
    if (n != 0 && n != 1) arm(rank, "MPI_Init (the start of the job)", 0); /* (a job, it seems) */
    ct_status s = ct_dist_init(&d);
    disarm();
    if (s != CT_OK) return cli_lib_error(s); /* (held before connecting: see main.c) */
    if (!d) { /* a single process: this is no rank of a job */
        cli_dist_release_errors(0);
        cli_set_error_rank(0);
        return CLI_EXIT_OK;
    }
    char *text = command_text(argc, argv, flags, nflags);
    s = ct_dist_set_timeout(d, timeout_s);
    watch_start(d);
    if (s == CT_OK)
        s = text ? ct_dist_check_same(d, text, strlen(text), "command line") : CT_ERR_NOMEM;
    free(text);
    cli_dist_release_errors(0); /* connected: from here on, errors are agreed on */
    if (s != CT_OK) {
        int rc = cli_dist_error(d, s);
        ct_dist_abort(d, rc); /* returns when every rank refused together */
        finalize(d);
        return rc;
    }
    if (ct_dist_rank(d) != 0) {
        cli_set_error_rank(ct_dist_rank(d));
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
    return n < 1 ? 1 : n > CT_MAX_THREADS ? CT_MAX_THREADS : n;
}

int cli_dist_error(ct_dist *d, int status) {
    if (ct_dist_rank(d) != 0 && ct_dist_error_shared(d)) return CLI_EXIT_ERROR; /* rank 0 says it */
    return cli_lib_error(status); /* "ctrain: rank R: " on another rank (cli_set_error_rank) */
}

int cli_dist_missing_data(const char *dir) {
    return cli_error("MNIST not found in %s; under mpirun every rank would fetch it at once: "
                     "fetch it on every host first (ctrain data fetch mnist)", dir);
}

int cli_dist_end(ct_dist *d, int rc) {
    if (!d) return rc;
    cli_release_errors(1); /* what is held is said before MPI_Abort could end this process */
    if (rc == CLI_EXIT_ERROR_ALL) { /* every rank stopped at the same point: each leaves */
        finalize(d);
        return CLI_EXIT_ERROR;
    }
    fflush(stdout);
    fflush(stderr);
    if (rc == CLI_EXIT_ERROR) ct_dist_abort(d, rc); /* returns when the failure was shared */
    finalize(d);
    return rc;
}
