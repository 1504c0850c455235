/*
 * sweep_run.c — ctrain sweep's trials as processes: each one started as a child of this binary
 * (`ctrain train` in a process group of its own), waited for and passed the sweep's signals;
 * and, with --prune, what the trials need to stop early: by the median stopping rule, as
 * Optuna's MedianPruner stops them (Golovin et al., "Google Vizier", 2017), or by successive
 * halving, as its SuccessiveHalvingPruner and Ray Tune's ASHA do (Li et al., "A System for
 * Massively Parallel Hyperparameter Tuning", 2020).
 *
 * Pruning: once --prune-startup trials have finished, the sweep writes, each time another
 * finishes, the median of the finished trials' objectives at each epoch from --prune-warmup on
 * (of those that reached it) into a file it names to every trial (CTRAIN_SWEEP_PRUNE; a pruned
 * trial is not a finished one). Each trial reads it after every epoch and, when its best
 * objective so far is worse than that epoch's median, stops there as --patience stops a run
 * (train_best.c: train_sweep_pruned): at an epoch's end, tested and checkpointed, the same
 * with --jobs 1 whatever the timing. A pruned trial ranks after the finished ones, as Optuna's
 * best_trial is a finished one.
 *
 * Successive halving: rungs after r, r x f, r x f^2, ... epochs (--prune-min-epochs r,
 * --prune-factor f); a trial reaching a rung goes on only when its objective there is among
 * the best 1/f of those the trials that ended (finished, pruned or diverged later) had there,
 * its own included (at least the best one of them: the rule is strict while few have ended).
 * The sweep writes every trial's objective at each rung; the trial counts.
 *
 * Hyperband (Optuna's HyperbandPruner): the trials dealt among brackets of successive halving,
 * bracket b's first rung after r x f^b epochs; the sweep writes a file for each bracket, of
 * its trials' objectives only, and names to each trial its bracket's (sweep_hyperband).
 */
#include "sweep.h"
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static volatile sig_atomic_t g_stop; /* SIGINT/SIGTERM: no trial after those running */
static volatile sig_atomic_t g_child[SWEEP_MAX_JOBS]; /* the trials running (0: a free slot) */

/* Each trial runs in a process group of its own, so that a signal reaches it once, from here,
 * however it was sent (a terminal's Ctrl-C, GNU timeout's SIGTERM to the group, a kill of this
 * process alone): it stops after its current step and checkpoints, as ctrain train does; a
 * second Ctrl-C passed on ends it at once, as ctrain train's second Ctrl-C does. */
void sweep_signal_trials(int sig) {
    for (int i = 0; i < SWEEP_MAX_JOBS; i++)
        if (g_child[i] > 0) kill((pid_t)g_child[i], sig);
}

static void on_signal(int sig) {
    g_stop = sig;
    sweep_signal_trials(sig);
}

int sweep_signalled(void) { return g_stop; }

void sweep_catch_signals(struct sigaction old[3]) {
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old[0]);
    sigaction(SIGTERM, &sa, &old[1]);
    /* a trial's group is not the terminal's foreground: with `stty tostop` its progress bar
     * would stop it (SIGTTOU) but for this, which it inherits */
    struct sigaction ign = {0};
    ign.sa_handler = SIG_IGN;
    sigemptyset(&ign.sa_mask);
    sigaction(SIGTTOU, &ign, &old[2]);
}

void sweep_restore_signals(const struct sigaction old[3]) {
    sigaction(SIGINT, &old[0], NULL);
    sigaction(SIGTERM, &old[1], NULL);
    sigaction(SIGTTOU, &old[2], NULL);
}

double sweep_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* (SIGINT and SIGTERM are blocked from the check of g_stop until g_child is set, so that none
 * is lost between) */
int sweep_spawn(char **argv, const char *out_path, int append) {
    int slot = 0;
    while (slot < SWEEP_MAX_JOBS - 1 && g_child[slot]) slot++;
    sigset_t sigs, old;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    sigprocmask(SIG_BLOCK, &sigs, &old);
    if (g_stop) {
        sigprocmask(SIG_SETMASK, &old, NULL);
        return -2;
    }
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    if (posix_spawn_file_actions_init(&fa)) {
        sigprocmask(SIG_SETMASK, &old, NULL);
        return -1;
    }
    posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, out_path,
                                     O_WRONLY | O_CREAT | (append ? O_APPEND : O_TRUNC), 0644);
    posix_spawnattr_init(&at);
    posix_spawnattr_setsigdefault(&at, &sigs); /* (this process handles them) */
    posix_spawnattr_setsigmask(&at, &old);
    posix_spawnattr_setpgroup(&at, 0);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK |
                                      POSIX_SPAWN_SETPGROUP);
    char *args[2 * NUM_TRAIN_FLAGS + 12];
    args[0] = "ctrain";
    int n = 1;
    for (; argv[n - 1] && n < (int)(sizeof args / sizeof args[0]) - 1; n++) args[n] = argv[n - 1];
    args[n] = NULL;
    pid_t pid;
    int err = posix_spawn(&pid, "/proc/self/exe", &fa, &at, args, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    if (!err) g_child[slot] = pid;
    sigprocmask(SIG_SETMASK, &old, NULL); /* (a signal held meanwhile is passed on now) */
    if (err) {
        errno = err;
        return -1;
    }
    return (int)pid;
}

int sweep_wait(int *rc, int *sig) {
    siginfo_t info;
    do /* (which one ended, left unreaped: until its slot is cleared, its pid is not reused) */
        info.si_pid = 0;
    while (waitid(P_ALL, 0, &info, WEXITED | WNOWAIT) < 0 && errno == EINTR);
    if (info.si_pid <= 0) return -1;
    sigset_t sigs, old;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    sigprocmask(SIG_BLOCK, &sigs, &old);
    for (int i = 0; i < SWEEP_MAX_JOBS; i++)
        if (g_child[i] == info.si_pid) g_child[i] = 0;
    int st = 0;
    pid_t pid = waitpid(info.si_pid, &st, 0);
    sigprocmask(SIG_SETMASK, &old, NULL);
    if (pid < 0) return -1;
    *rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    *sig = WIFSIGNALED(st) ? WTERMSIG(st) : 0;
    return (int)pid;
}

/* ------------------------------------------------------------------------------------------ */
/* --prune: the finished trials' medians, or the rungs' objectives, for the trials to judge
 * themselves by */

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The median (numpy's: the mean of the middle two of an even count) of the finished trials'
 * objectives at epoch e, NAN where none has a finite one; *count: how many had. */
static double median_at(const sweep_trial *tr, long n, int e, int *count) {
    double stack[256], *v = n <= 256 ? stack : malloc((size_t)n * sizeof *v);
    int m = 0;
    *count = 0;
    if (!v) return NAN; /* (no verdict) */
    for (long k = 0; k < n; k++) {
        const sweep_trial *t = &tr[k];
        if (t->rc == 0 && t->best_epoch >= 0 && !sweep_was_pruned(t) && e < t->ncurve &&
            isfinite(t->curve[e]))
            v[m++] = t->curve[e];
    }
    double med = NAN;
    if (m > 0) {
        qsort(v, (size_t)m, sizeof *v, cmp_double);
        med = m % 2 ? v[m / 2] : 0.5 * (v[m / 2 - 1] + v[m / 2]);
    }
    if (v != stack) free(v);
    *count = m;
    return med;
}

int sweep_was_pruned(const sweep_trial *t) {
    return t->rc == 0 && t->pruned_epoch >= 0;
}

/* Halving: the rungs' lines (each ended trial's objective at each rung it reached), the first
 * rung after min epochs; hyperband: of the trials of bracket b only (b < 0: all). */
static void write_rungs(FILE *f, const sweep_spec *s, const sweep_trial *tr, long n, long min,
                        int b) {
    int epochs = 0;
    for (long k = 0; k < n; k++)
        if ((tr[k].rc == 0 || tr[k].diverged) && tr[k].ncurve > epochs) epochs = tr[k].ncurve;
    fprintf(f, "rule halving %d %ld\n", s->prune_factor, min);
    for (long done = min; done <= epochs; done *= s->prune_factor) {
        const int e = (int)done - 1; /* (the epoch index after `done` epochs) */
        int any = 0;
        for (long k = 0; k < n; k++) {
            const sweep_trial *t = &tr[k];
            if ((t->rc == 0 || t->diverged) && (b < 0 || t->bracket == b) && e < t->ncurve &&
                isfinite(t->curve[e])) {
                if (!any++) fprintf(f, "%d", e);
                fprintf(f, " %.17g", t->curve[e]);
            }
        }
        if (any) fprintf(f, "\n");
    }
}

void sweep_bracket_path(const char *path, int b, char *out, size_t bytes) {
    const char *dot = strrchr(path, '.'), *slash = strrchr(path, '/');
    const int stem = dot && (!slash || dot > slash) ? (int)(dot - path) : (int)strlen(path);
    snprintf(out, bytes, "%.*s_%d%s", stem, path, b, path + stem);
}

void sweep_hyperband(sweep_spec *s, sweep_trial *tr, long n) {
    const long f = s->prune_factor, min = s->prune_min_epochs;
    int brackets = 1; /* floor(log_f(max / min)) + 1, counted in whole numbers */
    for (long r = min * f; r <= s->max_epochs && brackets < 64; r *= f) brackets++;
    s->brackets = brackets;
    double budget[64], credit[64] = {0}, total = 0;
    for (int b = 0; b < brackets; b++) {
        const int sb = brackets - 1 - b;
        budget[b] = ceil((double)brackets * pow((double)f, sb) / (sb + 1));
        total += budget[b];
    }
    for (long k = 0; k < n; k++) { /* smooth weighted round robin: the one furthest behind */
        int pick = 0;
        for (int b = 0; b < brackets; b++) {
            credit[b] += budget[b];
            if (credit[b] > credit[pick]) pick = b;
        }
        credit[pick] -= total;
        tr[k].bracket = pick;
    }
}

/* --prune hyperband: each bracket's file (write_rungs of its trials) beside path; the one that
 * could not be written into failed */
static int write_brackets(const sweep_spec *s, const char *path, const sweep_trial *tr, long n,
                          int acc, char *failed, size_t bytes) {
    long min = s->prune_min_epochs;
    for (int b = 0; b < s->brackets; b++, min *= s->prune_factor) {
        char file[PATH_MAX + 32], part[PATH_MAX + 40];
        sweep_bracket_path(path, b, file, sizeof file);
        snprintf(part, sizeof part, "%s.part", file);
        snprintf(failed, bytes, "%s", file);
        FILE *f = fopen(part, "w");
        if (!f) return -1;
        fprintf(f, "objective %s\n", acc ? "val_acc" : "val_loss");
        write_rungs(f, s, tr, n, min, b);
        if (fclose(f) != 0 || rename(part, file) != 0) {
            const int e = errno;
            unlink(part);
            errno = e;
            return -1;
        }
    }
    return 0;
}

void sweep_prune_remove(const sweep_spec *s, const char *path) {
    char file[PATH_MAX + 40];
    for (int b = -1; b < (s->prune == SWEEP_PRUNE_HYPERBAND ? s->brackets : 0); b++)
        for (int part = 0; part < 2; part++) {
            if (b < 0) snprintf(file, sizeof file, "%s", path);
            else sweep_bracket_path(path, b, file, sizeof file);
            if (part) strncat(file, ".part", sizeof file - strlen(file) - 1);
            unlink(file);
        }
}

int sweep_prune_write(const sweep_spec *s, const char *path, const sweep_trial *tr, long n,
                      int acc, char *failed, size_t bytes) {
    snprintf(failed, bytes, "%s", path);
    if (s->prune == SWEEP_PRUNE_HYPERBAND)
        return write_brackets(s, path, tr, n, acc, failed, bytes);
    int finished = 0, epochs = 0;
    for (long k = 0; k < n; k++)
        if (tr[k].rc == 0 && tr[k].best_epoch >= 0 && !sweep_was_pruned(&tr[k])) {
            finished++;
            if (tr[k].ncurve > epochs) epochs = tr[k].ncurve;
        }
    const int halving = s->prune == SWEEP_PRUNE_HALVING;
    if (!halving && (finished < s->prune_startup || finished == 0))
        return 0; /* (none yet: no file) */
    char part[PATH_MAX + 8];
    snprintf(part, sizeof part, "%s.part", path);
    FILE *f = fopen(part, "w");
    if (!f) return -1;
    fprintf(f, "objective %s\n", acc ? "val_acc" : "val_loss");
    if (halving) write_rungs(f, s, tr, n, s->prune_min_epochs, -1);
    for (int e = s->prune_warmup; !halving && e < epochs; e++) {
        int count;
        double med = median_at(tr, n, e, &count);
        if (count > 0) fprintf(f, "%d %.17g %d\n", e, med, count);
    }
    if (fclose(f) != 0 || rename(part, path) != 0) { /* (whole or not at all: read as it runs) */
        const int e = errno;
        unlink(part);
        errno = e;
        return -1;
    }
    return 0;
}
