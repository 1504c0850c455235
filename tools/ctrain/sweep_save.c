/*
 * sweep_save.c — ctrain sweep's --save DIR: the folder checked before the sweep, the command
 * line kept in it, and --resume DIR: a sweep saved so carried on where it stopped (Ctrl-C, a
 * lost session, a killed job), as Keras Tuner's tuner reloads its finished trials
 * (overwrite=False) and Optuna's study its storage.
 *
 * A sweep with --save DIR writes its command line to DIR/sweep.args when it starts (one
 * argument a line, backslash and newline escaped; paths made absolute, so that it resumes from
 * any folder) and DIR/sweep.csv after every trial. --resume DIR reads both: the same flags give
 * the same trials (the same grid, the same seeded draws); a trial sweep.csv lists as finished,
 * pruned or diverged is kept as it ran, an interrupted one with a checkpoint is resumed
 * (ctrain train --resume DIR/trial_K), and every other one runs (again).
 */
#include "sweep.h"
#include "cli.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ARGS_HEADER "ctrain sweep arguments 1"

/* DIR may take the trials: it is new, an empty folder, or (--overwrite) an earlier sweep's: a
 * folder of nothing but its trial_K folders, sweep.csv, sweep.args and sweep.png. */
int sweep_check_save_dir(const sweep_spec *s) {
    struct stat st;
    if (stat(s->save_dir, &st) != 0)
        return errno == ENOENT ? CLI_EXIT_OK
                               : cli_error("sweep: --save %s: %s", s->save_dir, strerror(errno));
    if (!S_ISDIR(st.st_mode)) return cli_error("sweep: --save %s: not a folder", s->save_dir);
    DIR *d = opendir(s->save_dir);
    if (!d) return cli_error("sweep: --save %s: %s", s->save_dir, strerror(errno));
    int entries = 0, others = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        entries++;
        int k = 0, end = 0;
        if (strcmp(e->d_name, "sweep.csv") != 0 && strcmp(e->d_name, "sweep.csv.tmp") != 0 &&
            strcmp(e->d_name, "sweep.png") != 0 && strcmp(e->d_name, "sweep.args") != 0 &&
            strcmp(e->d_name, "sweep.args.tmp") != 0 &&
            !(sscanf(e->d_name, "trial_%d%n", &k, &end) == 1 && !e->d_name[end] && k > 0))
            others++;
    }
    closedir(d);
    if (entries == 0 || (s->overwrite && others == 0)) return CLI_EXIT_OK;
    return cli_error("sweep: --save %s: holds files%s; not putting trials there (a new or empty "
                     "folder%s)", s->save_dir, others ? "" : ", an earlier sweep's",
                     others ? "" : ", or --overwrite to replace that sweep");
}

/* name is a train flag that takes a path (its metavar DIR or FILE) */
static int path_flag(const char *name) {
    train_opts o;
    cli_flag tf[NUM_TRAIN_FLAGS];
    train_opts_init(&o);
    int ntf = train_make_flags(&o, tf);
    const cli_flag *f = cli_find(tf, ntf, name);
    return f && f->kind == CLI_STR && f->metavar &&
           (strcmp(f->metavar, "DIR") == 0 || strcmp(f->metavar, "FILE") == 0);
}

/* one argument, escaped, a line */
static void put_arg(FILE *f, const char *a) {
    for (const char *c = a; *c; c++) {
        if (*c == '\\') fputs("\\\\", f);
        else if (*c == '\n') fputs("\\n", f);
        else fputc(*c, f);
    }
    fputc('\n', f);
}

/* a path's value: absolute (cwd/a when relative) */
static void put_path(FILE *f, const char *a, const char *cwd) {
    char buf[2 * PATH_MAX + 2];
    if (a[0] != '/' && snprintf(buf, sizeof buf, "%s/%s", cwd, a) < (int)sizeof buf) a = buf;
    put_arg(f, a);
}

int sweep_args_write(const char *dir, int argc, char **argv) {
    char path[PATH_MAX], part[PATH_MAX + 8], cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof cwd))
        return cli_error("sweep: the working folder: %s", strerror(errno));
    snprintf(path, sizeof path, "%s/sweep.args", dir);
    snprintf(part, sizeof part, "%s.tmp", path);
    FILE *f = fopen(part, "w");
    if (!f) return cli_error("sweep: cannot write %s: %s", part, strerror(errno));
    fputs(ARGS_HEADER "\n", f);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *eq = strchr(a, '=');
        char name[64] = "";
        size_t len = strncmp(a, "--", 2) != 0 ? sizeof name : eq ? (size_t)(eq - a - 2)
                                                                  : strlen(a + 2);
        if (len < sizeof name) {
            memcpy(name, a + 2, len);
            name[len] = 0;
        }
        if (!name[0] || !path_flag(name)) {
            put_arg(f, a);
            continue;
        }
        fprintf(f, "--%s\n", name); /* (--data=DIR too: the flag, then its value) */
        if (eq) put_path(f, eq + 1, cwd);
        else if (i + 1 < argc) put_path(f, argv[++i], cwd);
    }
    if (fclose(f) != 0 || rename(part, path) != 0) {
        int e = errno;
        unlink(part);
        return cli_error("sweep: cannot write %s: %s", path, strerror(e));
    }
    return CLI_EXIT_OK;
}

/* one line of sweep.args back: unescaped, malloc'ed; NULL at the end or out of memory (*oom) */
static char *get_arg(FILE *f, int *oom) {
    size_t cap = 64, n = 0;
    char *a = malloc(cap);
    int c;
    if (!a) return *oom = 1, NULL;
    while ((c = fgetc(f)) != EOF && c != '\n') {
        if (c == '\\') { /* an escape: \\ or \n (a lone one at the end: dropped) */
            if ((c = fgetc(f)) == EOF) break;
            if (c == 'n') c = '\n';
        }
        if (n + 2 > cap) {
            char *b = realloc(a, cap *= 2);
            if (!b) return free(a), *oom = 1, NULL;
            a = b;
        }
        a[n++] = (char)c;
    }
    if (c == EOF && n == 0) return free(a), NULL;
    a[n] = 0;
    return a;
}

void sweep_args_free(int argc, char **argv) {
    for (int i = 1; argv && i < argc; i++) free(argv[i]);
    free(argv);
}

int sweep_resume_args(int argc, char **argv, const char **dir, int *out_argc, char ***out_argv) {
    *dir = NULL;
    *out_argv = NULL;
    const char *jobs = NULL;
    int resume = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--resume") == 0 || strncmp(a, "--resume=", 9) == 0) {
            resume = 1;
            *dir = a[8] ? a + 9 : i + 1 < argc ? argv[++i] : NULL;
        } else if (strcmp(a, "--jobs") == 0 || strncmp(a, "--jobs=", 7) == 0) {
            jobs = a[6] ? a + 7 : i + 1 < argc ? argv[++i] : NULL;
        }
    }
    if (!resume) return CLI_EXIT_OK;
    if (!*dir || !**dir)
        return cli_usage_error("sweep", "--resume: needs the folder of a sweep saved with --save");
    for (int i = 1; i < argc; i++) { /* (--help: the help, as without --resume) */
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) return *dir = NULL, 0;
        const char *a = argv[i];
        int ours = strcmp(a, "--resume") == 0 || strncmp(a, "--resume=", 9) == 0 ||
                   strcmp(a, "--jobs") == 0 || strncmp(a, "--jobs=", 7) == 0;
        if (!ours && !(i > 1 && (strcmp(argv[i - 1], "--resume") == 0 ||
                                 strcmp(argv[i - 1], "--jobs") == 0)))
            return cli_usage_error("sweep", "--resume %s: takes only --jobs besides (the sweep "
                                   "goes on with the flags it was started with, in "
                                   "%s/sweep.args), got %s", *dir, *dir, a);
    }
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/sweep.args", *dir);
    FILE *f = fopen(path, "r");
    if (!f)
        return cli_error("sweep: --resume %s: %s: %s%s", *dir, path, strerror(errno),
                         errno == ENOENT ? " (not the folder of a sweep saved with --save)" : "");
    int oom = 0, n = 1, cap = 16;
    char **v = malloc((size_t)cap * sizeof *v), *a = get_arg(f, &oom);
    if (!v || !a || strcmp(a, ARGS_HEADER) != 0) {
        fclose(f);
        free(v);
        free(a);
        return oom || !v ? cli_error("sweep: out of memory")
                         : cli_error("sweep: --resume %s: %s is not a sweep's arguments file",
                                     *dir, path);
    }
    free(a);
    v[0] = "sweep";
    int save_at = -1;
    while ((a = get_arg(f, &oom))) {
        if (n + 4 > cap) {
            char **w = realloc(v, (size_t)(cap *= 2) * sizeof *v);
            if (!w) {
                free(a);
                oom = 1;
                break;
            }
            v = w;
        }
        if (n > 1 && strcmp(v[n - 1], "--save") == 0) save_at = n;
        v[n++] = a;
    }
    fclose(f);
    if (!oom && save_at < 0) { /* (a sweep without --save writes no such file) */
        sweep_args_free(n, v);
        return cli_error("sweep: --resume %s: %s names no --save folder", *dir, path);
    }
    char *d = oom ? NULL : strdup(*dir), *j = oom || !jobs ? NULL : strdup(jobs);
    if (oom || !d || (jobs && !j)) {
        free(d);
        sweep_args_free(n, v);
        return cli_error("sweep: out of memory");
    }
    free(v[save_at]); /* the folder as given now (it may have moved) */
    v[save_at] = d;
    if (j) { /* (the last --jobs counts) */
        v[n++] = strdup("--jobs");
        v[n++] = j;
        if (!v[n - 2]) {
            sweep_args_free(n, v);
            return cli_error("sweep: out of memory");
        }
    }
    v[n] = NULL;
    *out_argc = n;
    *out_argv = v;
    return CLI_EXIT_OK;
}

/* the next field of a CSV line at *p (RFC 4180: quoted, quotes doubled) into out */
static int csv_field(const char **p, char *out, size_t bytes) {
    const char *c = *p;
    size_t n = 0;
    if (*c == '"') {
        for (c++; *c && !(*c == '"' && c[1] != '"'); c++) {
            if (*c == '"') c++;
            if (n + 1 < bytes) out[n++] = *c;
        }
        if (*c == '"') c++;
    } else {
        for (; *c && *c != ',' && *c != '\n' && *c != '\r'; c++)
            if (n + 1 < bytes) out[n++] = *c;
    }
    out[n] = 0;
    if (*c == ',') c++;
    else if (*c && *c != '\n' && *c != '\r') return -1;
    *p = c;
    return 0;
}

int sweep_resume_statuses(sweep_spec *s, sweep_trial *tr, long n) {
    char path[PATH_MAX], line[8192], field[1024];
    snprintf(path, sizeof path, "%s/sweep.csv", s->save_dir);
    FILE *f = fopen(path, "r");
    if (!f) { /* (stopped before a trial ended: every trial runs) */
        if (errno == ENOENT) return CLI_EXIT_OK;
        return cli_error("sweep: --resume: %s: %s", path, strerror(errno));
    }
    int rc = CLI_EXIT_OK, row = 0;
    if (!fgets(line, sizeof line, f)) rc = cli_error("sweep: --resume: %s is empty", path);
    while (rc == CLI_EXIT_OK && fgets(line, sizeof line, f)) {
        const char *p = line;
        long k = 0;
        char status[256] = "", *end;
        double seconds = 0;
        row++;
        int bad = csv_field(&p, field, sizeof field) || csv_field(&p, field, sizeof field);
        k = strtol(field, &end, 10);
        bad |= *end || k < 1 || k > n;
        for (int d = 0; !bad && d < s->ndims; d++) /* its values: this sweep's trial k's (TPE's:
                                                    * as drawn then, from the trials before) */
            bad |= csv_field(&p, field, sizeof field) ||
                   (s->tpe ? sweep_set_value(s, tr[k - 1].combo, d, field) != 0
                           : strcmp(field, sweep_value_of(s, tr[k - 1].combo, s->dims[d])) != 0);
        if (!bad) bad = csv_field(&p, status, sizeof status);
        for (int c = 0; !bad && c < 5; c++) bad |= csv_field(&p, field, sizeof field);
        if (!bad) seconds = strtod(field, &end);
        bad = bad || *end || !(seconds >= 0);
        if (bad || tr[k - 1].earlier != SWEEP_NEW) {
            rc = cli_error("sweep: --resume: %s, row %d: %s", path, row,
                           bad ? "not a row of this sweep's table (its trial, values, status or "
                                 "seconds)"
                               : "a trial listed twice");
            break;
        }
        sweep_trial *t = &tr[k - 1];
        t->seconds = seconds;
        /* (a trial is kept on its files: the log and output it left) */
        char lg[PATH_MAX], out[PATH_MAX], ck[PATH_MAX];
        struct stat st;
        snprintf(lg, sizeof lg, "%s/trial_%ld/log.jsonl", s->save_dir, k);
        snprintf(out, sizeof out, "%s/trial_%ld/output.txt", s->save_dir, k);
        snprintf(ck, sizeof ck, "%s/trial_%ld/train_state.safetensors", s->save_dir, k);
        const int files = stat(lg, &st) == 0 && stat(out, &st) == 0;
        int e = -1, used = 0;
        if (files && (strcmp(status, "ok") == 0 ||
                      (sscanf(status, "pruned after epoch %d%n", &e, &used) == 1 && !status[used] &&
                       e >= 0))) {
            t->earlier = SWEEP_KEPT; /* (as the table says, whatever its files say) */
            t->rc = 0;
            t->pruned_epoch = e;
        } else if (files && strncmp(status, "diverged", 8) == 0) {
            t->earlier = SWEEP_KEPT;
            t->rc = CLI_EXIT_ERROR;
            t->diverged = 1;
        } else if (strcmp(status, "interrupted") == 0 && stat(ck, &st) == 0) {
            t->earlier = SWEEP_RESUMED; /* (listed as such until it runs) */
            t->rc = CLI_EXIT_INTERRUPTED;
        } else {
            t->earlier = SWEEP_RERUN; /* (failed, killed, or its files gone) */
        }
    }
    fclose(f);
    return rc;
}
