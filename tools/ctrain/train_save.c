/*
 * train_save.c — what `ctrain train` leaves behind and picks up again: checkpoints (--save,
 * --save-every, on Ctrl-C) and resuming (--resume: the saved settings, checked against the
 * flags given).
 *
 * The tool's own options travel in the train state's metadata as strings: dataset, data_dir,
 * data_fingerprint (of the training part: a resume refuses other data), model (the --model
 * flag), hidden, val_size, device, threads, save_every, patience, schedule, and for reading
 * only: optimizer, lr_schedule. The library keeps the training configuration
 * (batch sizes, optimizer and its betas/eps, lr schedule and its settings, warm-up, clipping,
 * phases, seed) itself; a resume checks the flags given against it.
 */
#include "cli.h"
#include "train.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <sys/file.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void cli_rmdirs(const char *dir, cli_made *made) {
    char path[PATH_MAX];
    for (int i = made->n - 1; i >= 0; i--) { /* innermost first */
        snprintf(path, sizeof path, "%.*s", made->len[i], dir);
        if (rmdir(path) != 0 && errno != ENOENT) break; /* not empty: a file of someone's */
    }
    made->n = 0;
}

int cli_mkdirs(const char *dir, cli_made *made) {
    char path[PATH_MAX];
    made->n = 0;
    if (snprintf(path, sizeof path, "%s", dir) >= (int)sizeof path) {
        cli_error("%s: path too long", dir);
        return 1;
    }
    for (char *p = path + 1;; p++) {
        if (*p != '/' && *p != 0) continue;
        char c = *p;
        *p = 0;
        if (mkdir(path, 0755) == 0) {
            if (made->n < CLI_MADE_MAX) made->len[made->n++] = (int)(p - path);
        } else if (errno != EEXIST) {
            cli_error("%s: cannot create the folder: %s", path, strerror(errno));
            cli_rmdirs(dir, made);
            return 1;
        }
        *p = c;
        if (!c) break;
    }
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        cli_error("%s: not a folder", dir);
        cli_rmdirs(dir, made);
        return 1;
    }
    /* a folder we cannot write in (read-only, immutable) is found now, not after the training */
    char probe[PATH_MAX + 48];
    snprintf(probe, sizeof probe, "%s/.ctrain-write-test.%ld", dir, (long)getpid());
    int fd = open(probe, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        cli_error("%s: cannot write in the folder: %s", dir, strerror(errno));
        cli_rmdirs(dir, made);
        return 1;
    }
    close(fd);
    unlink(probe);
    return 0;
}

int cli_lock_dir(const char *dir, const char *flag) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return CLI_NO_LOCK; /* (a folder it may write in but not read: no lock) */
    if (flock(fd, LOCK_EX | LOCK_NB) == 0) return fd;
    int e = errno;
    close(fd);
    if (e != EWOULDBLOCK) return CLI_NO_LOCK; /* (NFS's flock of a folder: EBADF or ENOLCK) */
    cli_error("%s %s: another ctrain is writing in this folder (it holds its lock) and would "
              "overwrite what this run saves; wait for it to end, or give another folder", flag,
              dir);
    return -1;
}

/* "5@0.5,5@0.1" with every digit the float needs (%.9g), so that it parses back exactly. */
static void schedule_text(const ct_phase *ph, int n, char *out, size_t bytes) {
    size_t used = 0;
    out[0] = 0;
    for (int i = 0; i < n && used < bytes; i++)
        used += (size_t)snprintf(out + used, bytes - used, "%s%d@%.9g", i ? "," : "",
                                 ph[i].epochs, (double)ph[i].lr);
}

/* ------------------------------------------------------------------------------------------ */
/* resuming                                                                                    */

/* The saved value of an option of the tool, or NULL (message printed). */
static const char *saved_opt(const ct_checkpoint *ck, const char *key) {
    const char *v = ct_checkpoint_meta(ck, key);
    if (!v)
        cli_error("%s: no \"%s\" in the metadata (not saved by ctrain train?)",
                  ct_checkpoint_path(ck), key);
    return v;
}

/* The saved integer option key, in lo..hi: 0 with *out set (left alone when an optional key is
 * absent), or -1 with the message printed. */
static int saved_long(const ct_checkpoint *ck, const char *key, int required, long lo, long hi,
                      long *out) {
    const char *v = required ? saved_opt(ck, key) : ct_checkpoint_meta(ck, key);
    if (!v) return required ? -1 : 0;
    if (cli_parse_long(v, lo, hi, out) != 0) {
        cli_error("%s: metadata \"%s\" is \"%.40s\", not an integer in %ld..%ld",
                  ct_checkpoint_path(ck), key, v, lo, hi);
        return -1;
    }
    return 0;
}

static int differs(const char *dir, const char *flag, const char *given, const char *saved) {
    return cli_usage_error("train", "--%s %s: the run in %s was saved with %s, and a resumed run "
                           "keeps the settings that change its results", flag, given, dir, saved);
}

int train_resume_options(train_opts *o, cli_flag *flags, int nflags, ct_checkpoint **out) {
    char path[PATH_MAX];
    *out = NULL;
    snprintf(path, sizeof path, "%s/train_state.safetensors", o->resume_dir);
    ct_checkpoint *ck;
    ct_status s = ct_checkpoint_open(path, &ck);
    if (s != CT_OK) return cli_lib_error(s);
    ct_train_config saved;
    if ((s = ct_checkpoint_train_config(ck, &saved)) != CT_OK) {
        ct_checkpoint_free(ck);
        return cli_lib_error(s);
    }
    for (int i = 0; i < saved.num_phases; i++) /* (ct_fit's may; --schedule's may not) */
        if (saved.phases[i].epochs == 0) {
            cli_error("%s: config: phase %d has 0 epochs, which --schedule cannot "
                      "express (a run of the library's, not of ctrain train?)", path, i + 1);
            ct_checkpoint_free(ck);
            return CLI_EXIT_ERROR;
        }
    if (!(saved.momentum < 1.0f)) { /* the library takes any (as torch.optim.SGD); --momentum not */
        cli_error("%s: config: momentum %g is outside [0, 1), the range of "
                  "--momentum", path, (double)saved.momentum);
        ct_checkpoint_free(ck);
        return CLI_EXIT_ERROR;
    }
    /* the first one missing is said (one line), then the numbers are checked before anything
     * is taken from them; save_every, patience, save_best and restore_best are absent in older
     * files */
    const char *model, *hidden = NULL, *val_size = NULL, *device = NULL;
    long hidden_v = 0, val_size_v = 0, threads_v = 0, every_v = -1, patience_v = -1, best_v = -1,
         best_from_v = 0, restore_v = -1, snap_v = -1;
    if (!(model = saved_opt(ck, "model")) || !(hidden = saved_opt(ck, "hidden")) ||
        !(val_size = saved_opt(ck, "val_size")) || !(device = saved_opt(ck, "device")) ||
        saved_long(ck, "hidden", 1, 1, 1 << 24, &hidden_v) ||
        saved_long(ck, "val_size", 1, 0, LONG_MAX, &val_size_v) ||
        saved_long(ck, "threads", 1, 0, INT_MAX, &threads_v) ||
        saved_long(ck, "save_every", 0, 0, INT_MAX, &every_v) ||
        saved_long(ck, "patience", 0, 0, INT_MAX, &patience_v) ||
        saved_long(ck, "save_best", 0, 0, 1, &best_v) ||
        saved_long(ck, "best_from", 0, 0, INT_MAX, &best_from_v) ||
        saved_long(ck, "restore_best", 0, 0, 1, &restore_v) ||
        saved_long(ck, "snapshots", 0, 0, 1, &snap_v)) {
        ct_checkpoint_free(ck);
        return CLI_EXIT_ERROR;
    }
    if (strcmp(device, "auto") && strcmp(device, "cpu") && strcmp(device, "cuda") &&
        !(strncmp(device, "cuda:", 5) == 0 && cli_parse_long(device + 5, 0, INT_MAX, &(long){0}) == 0)) {
        cli_error("%s: metadata \"device\" is \"%.40s\", not auto, cpu, cuda or "
                  "cuda:N", ct_checkpoint_path(ck), device);
        ct_checkpoint_free(ck);
        return CLI_EXIT_ERROR;
    }
    const char *saved_dataset = ct_checkpoint_meta(ck, "dataset"); /* absent: MNIST (below) */
    if (saved_dataset && !cli_known_dataset(saved_dataset)) {
        cli_error("%s: metadata \"dataset\" is \"%.40s\", not one of %s",
                  ct_checkpoint_path(ck), saved_dataset, CLI_DATASETS);
        ct_checkpoint_free(ck);
        return CLI_EXIT_ERROR;
    }
    const char *dir = o->resume_dir;
    char given[64], was[64];
    int rc = CLI_EXIT_OK;
    /* Every setting of the library's configuration comes from the checkpoint (optimizer kind,
     * betas, lr schedule, warm-up, clipping...); train_finish_options then sets the ones that have
     * flags, from the flags checked below. A new flag that changes the results must be added to
     * these checks, or a resumed run would quietly take the flag's default. */
    ct_train_config keep = o->cfg;
    o->cfg = saved;
    o->cfg.resume = keep.resume;
#define SEEN(name) (cli_find(flags, nflags, name)->seen)
    /* settings that change the results: equal, or taken from the checkpoint */
    if (SEEN("model") && strcmp(o->model, model) != 0) rc = differs(dir, "model", o->model, model);
    if (rc == CLI_EXIT_OK &&
        (size_t)snprintf(o->model_resumed, sizeof o->model_resumed, "%s", model) >=
            sizeof o->model_resumed)
        rc = cli_error("%s: metadata \"model\" is longer than %d characters, a model spec's "
                       "limit", ct_checkpoint_path(ck), MODEL_SPEC_BYTES - 1);
    o->model = o->model_resumed;
    if (rc == CLI_EXIT_OK && SEEN("hidden") && hidden_v != o->hidden) {
        snprintf(given, sizeof given, "%d", o->hidden);
        rc = differs(dir, "hidden", given, hidden);
    }
    o->hidden = (int)hidden_v;
    /* (a fraction: compared once the training set is counted, train_cmd.c) */
    if (rc == CLI_EXIT_OK && SEEN("val-size") && o->val_fraction == 0.0 &&
        val_size_v != o->val_size) {
        snprintf(given, sizeof given, "%s", o->val_size_text); /* (as typed: "0.0") */
        rc = differs(dir, "val-size", given, val_size);
    }
    o->val_size = val_size_v;
/* (SAME_NUM_IF: compared only when cond holds, as a schedule's own flags on a run of that
 * schedule: on another's, train_finish_options refuses them as it would a new run's) */
#define SAME_NUM_IF(cond, name, field, saved_value, fmt, cast)                                 \
    do {                                                                                        \
        if (rc == CLI_EXIT_OK && (cond) && SEEN(name) && o->field != (saved_value)) {           \
            snprintf(given, sizeof given, fmt, (cast)o->field);                                 \
            snprintf(was, sizeof was, fmt, (cast)(saved_value));                                \
            rc = differs(dir, name, given, was);                                                \
        }                                                                                       \
        if ((cond) || !SEEN(name)) o->field = saved_value;                                     \
    } while (0)
#define SAME_NUM(name, field, saved_value, fmt, cast)                                          \
    SAME_NUM_IF(1, name, field, saved_value, fmt, cast)
/* (a float flag against the run's setting `same` (the values as the shortest texts that give
 * them), o->field then `kept`) */
#define SAME_FLOAT_IF(cond, name, field, same, kept)                                            \
    do {                                                                                        \
        const float s_ = (same);                                                                \
        if (rc == CLI_EXIT_OK && (cond) && SEEN(name) && o->field != s_) {                      \
            cli_shortest_float(o->field, given, sizeof given);                                  \
            cli_shortest_float(s_, was, sizeof was);                                            \
            rc = differs(dir, name, given, was);                                                \
        }                                                                                       \
        if ((cond) || !SEEN(name)) o->field = (kept);                                           \
    } while (0)
/* (a float whose 0 in the library is its default def: a flag of that value is the same
 * setting; the library's 0 kept) */
#define SAME_OR_DEFAULT_IF(cond, name, field, def)                                              \
    SAME_FLOAT_IF(cond, name, field, saved.field != 0.0f ? saved.field : (float)(def), saved.field)
    SAME_NUM("seed", seed, saved.seed, "%llu", unsigned long long);
    SAME_NUM("batch-size", batch_size, saved.batch_size, "%d", int);
    SAME_NUM("eval-batch-size", eval_batch_size, saved.eval_batch_size, "%d", int);
    const int rms = saved.optimizer == CT_RMSPROP;
    if (rc == CLI_EXIT_OK && SEEN("momentum") && saved.optimizer != CT_SGD && !rms) {
        rc = cli_usage_error("train", "--momentum: applies to --optimizer sgd or rmsprop (the run "
                             "in %s uses %s)", dir, train_optimizer_name(saved.optimizer));
    } else if (rc == CLI_EXIT_OK && SEEN("momentum") && saved.cycle_momentum) {
        char cyc[64];
        train_format_cycle_momentum(&saved, cyc, sizeof cyc);
        rc = cli_usage_error("train", "--momentum: the run in %s cycles its momentum with its "
                             "%s schedule (--cycle-momentum %s)", dir,
                             saved.schedule == CT_SCHED_CYCLIC ? "cyclic" : "one-cycle", cyc);
    }
    SAME_NUM("momentum", momentum, saved.momentum, "%g", double);
    SAME_NUM("weight-decay", weight_decay, saved.weight_decay, "%g", double);
    /* torchvision's groups: a resumed run keeps them (one given that the run had not: refused) */
    const struct { const char *flag; float *dst; int *set; float saved; int saved_set; } grp[] = {
        {"bias-weight-decay", &o->bias_weight_decay, &o->bias_wd_set, saved.bias_weight_decay,
         saved.bias_wd_set},
        {"norm-weight-decay", &o->norm_weight_decay, &o->norm_wd_set, saved.norm_weight_decay,
         saved.norm_wd_set}};
    for (int k = 0; k < 2; k++) {
        if (rc == CLI_EXIT_OK && SEEN(grp[k].flag) &&
            (!grp[k].saved_set || *grp[k].dst != grp[k].saved)) {
            snprintf(given, sizeof given, "%g", (double)*grp[k].dst);
            if (grp[k].saved_set) snprintf(was, sizeof was, "%g", (double)grp[k].saved);
            else snprintf(was, sizeof was, "none (--weight-decay for all)");
            rc = differs(dir, grp[k].flag, given, was);
        }
        *grp[k].dst = grp[k].saved;
        *grp[k].set = grp[k].saved_set;
    }
    if (rc == CLI_EXIT_OK && SEEN("nesterov") && !saved.nesterov)
        rc = differs(dir, "nesterov", "(on)", "Nesterov off");
    o->nesterov = saved.nesterov;
    /* the dataset (absent in older files: MNIST) */
    const char *dataset = ct_checkpoint_meta(ck, "dataset");
    if (!dataset) dataset = "mnist";
    if (rc == CLI_EXIT_OK && SEEN("dataset") && strcmp(o->dataset, dataset) != 0)
        rc = differs(dir, "dataset", o->dataset, dataset);
    snprintf(o->dataset_resumed, sizeof o->dataset_resumed, "%s", dataset);
    o->dataset = o->dataset_resumed;
    int ic, ih, iw; /* --dataset folder: resized to the model's input, as the run was */
    if (!strcmp(dataset, "folder") && ct_checkpoint_input_shape(ck, &ic, &ih, &iw) == CT_OK)
        snprintf(o->image_size_saved, sizeof o->image_size_saved, "%d,%d", ih, iw);
    /* --val-resize (absent in older files: none) */
    const char *vr = ct_checkpoint_meta(ck, "val_resize");
    char *vr_end = NULL;
    long vr_saved = vr ? strtol(vr, &vr_end, 10) : 0;
    if (rc == CLI_EXIT_OK && vr && (vr_end == vr || *vr_end || vr_saved < 0 ||
                                    vr_saved > CT_FOLDER_MAX_RESIZE))
        rc = cli_usage_error("train", "--resume %s: its val_resize \"%.40s\" is not a size", dir,
                             vr);
    if (rc == CLI_EXIT_OK && SEEN("val-resize") && o->val_resize != vr_saved) {
        char given[24], was[32];
        snprintf(given, sizeof given, "%d", o->val_resize);
        snprintf(was, sizeof was, vr_saved ? "--val-resize %ld" : "none", vr_saved);
        rc = differs(dir, "val-resize", given, was);
    }
    o->val_resize = (int)vr_saved;
    /* the data folder the run was trained on, unless --data says: MNIST's when it still holds
     * the files (else its usual folder, verified, fetched when missing: another machine);
     * another dataset given --data (idx has no usual folder) is found there */
    const char *data_dir = ct_checkpoint_meta(ck, "data_dir");
    if (!SEEN("data") && data_dir && strcmp(data_dir, "(default)") != 0 &&
        (strcmp(dataset, "mnist") != 0 || mnist_files_present(data_dir))) {
        snprintf(o->data_dir_resumed, sizeof o->data_dir_resumed, "%s", data_dir);
        o->data_dir = o->data_dir_resumed;
    }
    /* optimizer, lr schedule, warm-up, clipping */
    const char *opt_saved = train_optimizer_name(saved.optimizer);
    if (rc == CLI_EXIT_OK && SEEN("optimizer") && strcmp(o->optimizer, opt_saved) != 0)
        rc = differs(dir, "optimizer", o->optimizer, opt_saved);
    o->optimizer = opt_saved;
    const char *sched_saved = train_schedule_name(saved.schedule);
    if (rc == CLI_EXIT_OK && SEEN("lr-schedule") && strcmp(o->lr_schedule, sched_saved) != 0)
        rc = differs(dir, "lr-schedule", o->lr_schedule, sched_saved);
    o->lr_schedule = sched_saved;
    if (rc == CLI_EXIT_OK && SEEN("betas") &&
        (saved.optimizer == CT_SGD || rms || saved.optimizer == CT_ADAGRAD)) {
        rc = cli_usage_error("train", "--betas: applies to --optimizer adam, adamw, nadam, radam "
                             "or adamax (the run in %s uses %s)", dir,
                             train_optimizer_name(saved.optimizer));
    } else if (rc == CLI_EXIT_OK && SEEN("betas")) {
        float b1 = 0, b2 = 0;
        double x, y;
        if (train_parse_pair(o->betas, &x, &y) == 0) b1 = (float)x, b2 = (float)y;
        float s1 = saved.beta1 > 0 ? saved.beta1 : 0.9f, s2 = saved.beta2 > 0 ? saved.beta2 : 0.999f;
        if ((b1 != s1 && !saved.cycle_momentum) || b2 != s2) { /* (cycled: beta2 only) */
            if (saved.cycle_momentum) snprintf(was, sizeof was, "beta2 %g", (double)s2);
            else snprintf(was, sizeof was, "%g,%g", (double)s1, (double)s2);
            rc = differs(dir, "betas", o->betas, was);
        }
    }
    if (saved.beta1 > 0 || saved.beta2 > 0) {
        snprintf(o->betas_resumed, sizeof o->betas_resumed, "%.9g,%.9g",
                 (double)(saved.beta1 > 0 ? saved.beta1 : 0.9f),
                 (double)(saved.beta2 > 0 ? saved.beta2 : 0.999f));
        o->betas = o->betas_resumed;
    }
    o->beta1 = saved.beta1;
    o->beta2 = saved.beta2;
    /* eps (Adam's, RMSprop's) and RMSprop's alpha (another optimizer's run: refused by
     * train_finish_options, as a new run's) */
    SAME_OR_DEFAULT_IF(saved.optimizer != CT_SGD, "eps", eps,
                       saved.optimizer == CT_ADAGRAD ? CT_ADAGRAD_EPS : 1e-8f);
    SAME_OR_DEFAULT_IF(rms, "alpha", alpha, CT_RMSPROP_ALPHA);
    SAME_OR_DEFAULT_IF(saved.optimizer == CT_NADAM, "momentum-decay", momentum_decay,
                       CT_NADAM_MOMENTUM_DECAY);
    SAME_OR_DEFAULT_IF(saved.optimizer == CT_ADAGRAD, "lr-decay", lr_decay, 0.0f);
    SAME_OR_DEFAULT_IF(saved.optimizer == CT_ADAGRAD, "initial-accumulator",
                       initial_accumulator, 0.0f);
    if (rc == CLI_EXIT_OK && SEEN("amsgrad") && !saved.amsgrad) {
        const int adam_saved = saved.optimizer == CT_ADAM || saved.optimizer == CT_ADAMW;
        rc = differs(dir, "amsgrad", "(on)",
                     adam_saved ? "Adam without AMSGrad" : train_optimizer_name(saved.optimizer));
    }
    o->amsgrad = saved.amsgrad;
    if (rc == CLI_EXIT_OK && rms && SEEN("centered") && !saved.centered)
        rc = differs(dir, "centered", "(on)", "an uncentered RMSprop");
    if (rms || !SEEN("centered")) o->centered = saved.centered;
    const int step = saved.schedule == CT_SCHED_STEP, plateau = saved.schedule == CT_SCHED_PLATEAU;
    SAME_NUM_IF(step, "step-size", step_size, saved.step_size, "%d", int);
    const int multistep = saved.schedule == CT_SCHED_MULTISTEP;
    SAME_OR_DEFAULT_IF(step || multistep || plateau || saved.schedule == CT_SCHED_EXPONENTIAL,
                       "gamma", gamma, 0.1f);
    if (multistep) { /* (another schedule's: refused by train_finish_options, as a new run's) */
        train_format_milestones(&saved, o->milestones_resumed, sizeof o->milestones_resumed);
        ct_train_config given_ms = {0};
        char ms_err[160];
        if (rc == CLI_EXIT_OK && SEEN("milestones") &&
            train_parse_milestones(o->milestones, &given_ms, ms_err, sizeof ms_err) != 0)
            rc = cli_usage_error("train", "--milestones: %s", ms_err);
        else if (rc == CLI_EXIT_OK && SEEN("milestones") &&
                 (given_ms.num_milestones != saved.num_milestones ||
                  memcmp(given_ms.milestones, saved.milestones,
                         (size_t)saved.num_milestones * sizeof(int)) != 0))
            rc = differs(dir, "milestones", o->milestones, o->milestones_resumed);
        o->milestones = o->milestones_resumed;
    }
    SAME_OR_DEFAULT_IF(saved.schedule == CT_SCHED_POLYNOMIAL, "power", power, 1.0f);
    const int cyclic = saved.schedule == CT_SCHED_CYCLIC;
    static const char *const cyclic_modes[] = {"triangular", "triangular2", "exp_range"};
    const char *mode_name = cyclic_modes[saved.cyclic_mode >= 0 && saved.cyclic_mode <= 2
                                             ? saved.cyclic_mode : 0];
    SAME_OR_DEFAULT_IF(cyclic && saved.cyclic_mode == CT_CYCLIC_EXP_RANGE, "gamma", gamma, 1.0f);
    SAME_FLOAT_IF(cyclic, "base-lr", base_lr, saved.cyclic_base_lr, saved.cyclic_base_lr);
    SAME_FLOAT_IF(cyclic, "step-size-up", step_size_up, saved.cyclic_up, saved.cyclic_up);
    const float down = saved.cyclic_down > 0.0f ? saved.cyclic_down : saved.cyclic_up;
    SAME_FLOAT_IF(cyclic, "step-size-down", step_size_down, down, down);
    if (rc == CLI_EXIT_OK && cyclic && SEEN("cyclic-mode") && strcmp(o->cyclic_mode, mode_name) != 0)
        rc = differs(dir, "cyclic-mode", o->cyclic_mode, mode_name);
    if (cyclic || !SEEN("cyclic-mode")) o->cyclic_mode = mode_name;
    SAME_NUM_IF(plateau, "lr-patience", lr_patience,
                train_patience_flag(saved.plateau_patience), "%d", int);
    const float threshold = saved.plateau_threshold > 0.0f                ? saved.plateau_threshold
                            : saved.plateau_threshold == CT_THRESHOLD_NONE ? 0.0f
                                                                           : 1e-4f;
    SAME_NUM_IF(plateau, "lr-threshold", lr_threshold, threshold, "%g", double);
    SAME_NUM_IF(plateau, "lr-cooldown", lr_cooldown, saved.plateau_cooldown, "%d", int);
    SAME_NUM_IF(plateau, "min-lr", min_lr, saved.plateau_min_lr, "%g", double);
    const char *mode_saved = saved.plateau_threshold_abs ? "abs" : "rel";
    if (rc == CLI_EXIT_OK && plateau && SEEN("lr-threshold-mode") &&
        strcmp(o->lr_threshold_mode, mode_saved) != 0)
        rc = differs(dir, "lr-threshold-mode", o->lr_threshold_mode, mode_saved);
    if (plateau || !SEEN("lr-threshold-mode")) o->lr_threshold_mode = mode_saved;
    /* --monitor: kept (the plateau schedule's metric, and the one best.safetensors and the
     * best epoch so far were chosen by) */
    const char *monitor_saved = saved.plateau_max ? "val_acc" : "val_loss";
    if (rc == CLI_EXIT_OK && SEEN("monitor") && strcmp(o->monitor, monitor_saved) != 0)
        rc = differs(dir, "monitor", o->monitor, monitor_saved);
    o->monitor = monitor_saved;
    const int restarts = saved.schedule == CT_SCHED_COSINE_RESTARTS;
    SAME_NUM_IF(saved.schedule == CT_SCHED_COSINE || restarts, "eta-min", eta_min, saved.eta_min,
                "%g", double);
    SAME_NUM_IF(restarts, "t0", t0, saved.restart_epochs, "%d", int);
    SAME_NUM_IF(restarts, "t-mult", t_mult, saved.restart_mult > 0 ? saved.restart_mult : 1, "%d",
                int);
    /* onecycle's settings (another schedule's run: refused by train_finish_options, as a new
     * run's); the library's 0 is its default, so a flag of that value is the same setting */
    const int onecycle = saved.schedule == CT_SCHED_ONECYCLE;
    SAME_OR_DEFAULT_IF(onecycle, "pct-start", pct_start, 0.3f);
    SAME_OR_DEFAULT_IF(onecycle, "div-factor", div_factor, 25.0f);
    SAME_OR_DEFAULT_IF(onecycle, "final-div-factor", final_div_factor, 1e4f);
    if (rc == CLI_EXIT_OK && onecycle && SEEN("three-phase") && !saved.three_phase)
        rc = differs(dir, "three-phase", "(on)", "two phases");
    o->three_phase = saved.three_phase;
    const char *anneal_saved = saved.anneal_linear ? "linear" : "cos";
    if (rc == CLI_EXIT_OK && onecycle && SEEN("anneal") && strcmp(o->anneal, anneal_saved) != 0)
        rc = differs(dir, "anneal", o->anneal, anneal_saved);
    o->anneal = SEEN("anneal") && !onecycle ? o->anneal : anneal_saved;
    /* (absent in older files: off) */
    train_format_cycle_momentum(&saved, o->cycle_momentum_resumed,
                                sizeof o->cycle_momentum_resumed);
    /* (another schedule's: refused by train_finish_options, as a new run's) */
    if (rc == CLI_EXIT_OK && SEEN("cycle-momentum") &&
        (saved.schedule == CT_SCHED_ONECYCLE || cyclic)) {
        ct_train_config given_cfg = saved;
        if (train_parse_cycle_momentum(o->cycle_momentum, &given_cfg) != 0)
            rc = cli_usage_error("train", "--cycle-momentum: expected on, off or BASE,MAX with "
                                 "each in [0, 1) (not both 0, as 32-bit floats), got \"%s\"",
                                 o->cycle_momentum);
        else if (!train_same_cycle_momentum(&given_cfg, &saved))
            rc = differs(dir, "cycle-momentum", o->cycle_momentum, o->cycle_momentum_resumed);
    }
    o->cycle_momentum = o->cycle_momentum_resumed;
    SAME_NUM("warmup-epochs", warmup_epochs, saved.warmup_epochs, "%d", int);
    SAME_NUM("warmup-start-factor", warmup_start_factor, saved.warmup_start_factor, "%g", double);
    const char *warmup_method_saved = saved.warmup_constant ? "constant" : "linear";
    if (rc == CLI_EXIT_OK && SEEN("warmup-method") && saved.warmup_epochs > 0 &&
        strcmp(o->warmup_method, warmup_method_saved) != 0)
        rc = differs(dir, "warmup-method", o->warmup_method, warmup_method_saved);
    if (saved.warmup_epochs > 0 || !SEEN("warmup-method")) o->warmup_method = warmup_method_saved;
    if (rc == CLI_EXIT_OK && SEEN("warmup-sequential") && saved.warmup_epochs > 0 &&
        !saved.warmup_sequential)
        rc = differs(dir, "warmup-sequential", "(on)", "(off: the warm-up multiplying the schedule)");
    o->warmup_sequential = saved.warmup_sequential;
    const char *lr_step_saved = saved.lr_step_epoch ? "epoch" : "step";
    if (rc == CLI_EXIT_OK && SEEN("lr-step") && strcmp(o->lr_step, lr_step_saved) != 0)
        rc = differs(dir, "lr-step", o->lr_step, lr_step_saved);
    o->lr_step = lr_step_saved;
    SAME_NUM("clip-grad-norm", clip_norm, saved.clip_norm, "%g", double);
    SAME_NUM("clip-grad-value", clip_value, saved.clip_value, "%g", double);
    SAME_NUM("label-smoothing", label_smoothing, saved.label_smoothing, "%g", double);
    SAME_NUM("mixup-alpha", mixup_alpha, saved.mixup_alpha, "%g", double);
    SAME_NUM("cutmix-alpha", cutmix_alpha, saved.cutmix_alpha, "%g", double);
    if (rc == CLI_EXIT_OK && SEEN("ema") && o->ema_decay != saved.ema_decay) {
        snprintf(given, sizeof given, "%g", (double)o->ema_decay);
        snprintf(was, sizeof was, saved.ema_decay > 0 ? "%g" : "no moving average",
                 (double)saved.ema_decay);
        rc = differs(dir, "ema", given, was);
    }
    o->ema_decay = saved.ema_decay;
    if (rc == CLI_EXIT_OK && SEEN("ema-warmup") && !saved.ema_warmup)
        rc = differs(dir, "ema-warmup", "(on)", "no warm-up of its moving average");
    o->ema_warmup = saved.ema_warmup;
    if (rc == CLI_EXIT_OK && SEEN("repeated-aug") && o->repeated_aug != saved.repeated_aug &&
        (o->repeated_aug > 1 || saved.repeated_aug > 1)) {
        char given[16], was[48];
        snprintf(given, sizeof given, "%d", o->repeated_aug);
        snprintf(was, sizeof was, saved.repeated_aug > 1 ? "--repeated-aug %d" : "none",
                 saved.repeated_aug);
        rc = differs(dir, "repeated-aug", given, was);
    }
    o->repeated_aug = saved.repeated_aug;
    if (rc == CLI_EXIT_OK) rc = train_swa_resumed(o, flags, nflags, &saved, dir);
    o->frozen_resumed = saved.frozen_layers; /* (--freeze: checked on the model, train_init.c) */
#undef SAME_NUM
#undef SAME_NUM_IF
#undef SAME_OR_DEFAULT_IF
#undef SAME_FLOAT_IF
    /* augmentation (absent in older files: off) */
    train_format_augment(&saved, o->augment_resumed, sizeof o->augment_resumed);
    if (rc == CLI_EXIT_OK && SEEN("augment")) {
        ct_train_config given = {0};
        char err[256], text[sizeof o->augment_resumed];
        if (train_parse_augment(o->augment, dataset, &given, err, sizeof err) != 0)
            rc = cli_usage_error("train", "--augment: %s", err);
        else if (train_format_augment(&given, text, sizeof text), strcmp(text, o->augment_resumed))
            rc = differs(dir, "augment", o->augment, o->augment_resumed);
    }
    o->augment = o->augment_resumed;
    /* settings that do not change the results: the flags, else the checkpoint's */
    if (!SEEN("workers")) o->workers = saved.workers;
    if (!SEEN("micro-batch")) o->micro_batch = saved.micro_batch;
    if (!SEEN("prefetch") && saved.prefetch > 0) o->prefetch = saved.prefetch;
    if (!SEEN("data-on-device"))
        o->data_on_device = saved.data_on_device > 0 ? "on" : saved.data_on_device == 0 ? "off" : "auto";
    if (!SEEN("device")) {
        snprintf(o->device_resumed, sizeof o->device_resumed, "%s", device);
        o->device = o->device_resumed;
    }
    if (!SEEN("threads")) /* (files of before 5 Dec 2026 may hold more than 64: the most now) */
        o->threads = threads_v > CT_MAX_THREADS ? CT_MAX_THREADS : (int)threads_v;
    if (!SEEN("save-every") && every_v >= 0) o->save_every = (int)every_v;
    if (!SEEN("patience") && patience_v >= 0) o->patience = (int)patience_v;
    double md; /* (absent before 7 Dec 2026: 0) */
    const char *min_delta = ct_checkpoint_meta(ck, "min_delta");
    if (min_delta && (cli_parse_double(min_delta, &md) != 0 || !(md >= 0 && md <= FLT_MAX))) {
        cli_error("--resume %s: its min_delta, \"%s\", is not a number >= 0", dir, min_delta);
        ct_checkpoint_free(ck);
        return CLI_EXIT_ERROR;
    }
    if (!SEEN("min-delta") && min_delta) o->min_delta = (float)md;
    if (!SEEN("save-best") && best_v >= 0) o->save_best = (int)best_v;
    if (!SEEN("restore-best") && restore_v >= 0) o->restore_best = (int)restore_v;
    if (!SEEN("snapshots") && snap_v >= 0) o->snapshots = (int)snap_v;
    o->best_from_resumed = (int)best_from_v;
    /* the schedule: the saved one, extended or cut by --epochs, or replaced */
    int total = 0;
    for (int i = 0; i < saved.num_phases; i++) total += saved.phases[i].epochs;
    cli_flag *fe = cli_find(flags, nflags, "epochs"), *fl = cli_find(flags, nflags, "lr");
    cli_flag *fs = cli_find(flags, nflags, "schedule");
    if (rc == CLI_EXIT_OK && !fs->seen) {
        ct_phase ph[CT_MAX_PHASES];
        int n = 0;
        if (fl->seen) {
            ph[n++] = (ct_phase){fe->seen ? o->epochs : total, o->lr};
        } else if (fe->seen) {
            int left = o->epochs;
            for (int i = 0; i < saved.num_phases && left > 0; i++) {
                int last = i == saved.num_phases - 1;
                int e = last || saved.phases[i].epochs > left ? left : saved.phases[i].epochs;
                ph[n++] = (ct_phase){e, saved.phases[i].lr};
                left -= e;
            }
        } else {
            memcpy(ph, saved.phases, sizeof ph);
            n = saved.num_phases;
        }
        schedule_text(ph, n, o->schedule_resumed, sizeof o->schedule_resumed);
        o->schedule = o->schedule_resumed;
        fs->seen = 1; /* train_finish_options parses it; --epochs/--lr have been folded in */
        fe->seen = fl->seen = 0;
    }
#undef SEEN
    if (rc != CLI_EXIT_OK) {
        ct_checkpoint_free(ck);
        return rc;
    }
    *out = ck;
    return CLI_EXIT_OK;
}

static float lr_at(const ct_phase *ph, int n, int epoch) {
    for (int i = 0; i < n; i++) {
        if (epoch < ph[i].epochs) return ph[i].lr;
        epoch -= ph[i].epochs;
    }
    return NAN;
}

int train_resume_check_schedule(const train_opts *o, const ct_checkpoint *ck) {
    ct_train_config saved;
    if (ct_checkpoint_train_config(ck, &saved) != CT_OK) return cli_lib_error(CT_ERR_FORMAT);
    const ct_train_config *c = &o->cfg;
    int total = 0, done = saved.resume.epoch + (saved.resume.batch > 0);
    for (int i = 0; i < c->num_phases; i++) total += c->phases[i].epochs;
    if (total < done)
        return cli_usage_error("train", "--epochs/--schedule: %d epoch%s in all, but the run in "
                               "%s has already done %s%d", total, total == 1 ? "" : "s",
                               o->resume_dir,
                               saved.resume.batch > 0 ? "part of epoch " : "",
                               saved.resume.batch > 0 ? saved.resume.epoch : done);
    /* cosine, onecycle and polynomial spread their curve over the run's length: another length
     * would give the steps already run other learning rates (PyTorch's T_max, total_steps,
     * total_iters) */
    int saved_total = 0;
    for (int i = 0; i < saved.num_phases; i++) saved_total += saved.phases[i].epochs;
    if (done > 0 && total != saved_total &&
        (saved.schedule == CT_SCHED_COSINE || saved.schedule == CT_SCHED_ONECYCLE ||
         saved.schedule == CT_SCHED_POLYNOMIAL))
        return cli_usage_error("train", "--epochs %d: the run in %s follows a %s schedule over "
                               "%d epochs, whose learning rates depend on that length (it "
                               "cannot be lengthened or shortened; --init %s starts a new run "
                               "from its weights)", total, o->resume_dir,
                               train_schedule_name(saved.schedule), saved_total, o->resume_dir);
    for (int e = 0; e < done; e++) {
        float was = lr_at(saved.phases, saved.num_phases, e), now = lr_at(c->phases, c->num_phases, e);
        if (was != now)
            return cli_usage_error("train", "--schedule/--lr: epoch %d already ran at lr %g, but "
                                   "the new schedule gives %g (the run in %s keeps the learning "
                                   "rate of the epochs it has run)", e, (double)was, (double)now,
                                   o->resume_dir);
    }
    return CLI_EXIT_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* saving                                                                                      */

/* The model file at position p (p.epoch epochs done): the weights and what a user of them
 * wants to know; test (may be NULL) adds the test results. */
static ct_status save_model_file(const train_run *r, const char *path, ct_fit_position p,
                                 const ct_eval_result *test) {
    const train_opts *o = r->o;
    char epoch[24], batch[24], seed[24], vl[32], va[32], tl[32], ta[32], ls[32], run_e[24];
    char ema[32], val_size[24], val_resize[24];
    ct_meta model_meta[21];
    int n = 0;
    snprintf(epoch, sizeof epoch, "%d", p.epoch);
    snprintf(batch, sizeof batch, "%lld", (long long)p.batch);
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)o->seed);
    model_meta[n++] = (ct_meta){"dataset", o->dataset};
    snprintf(val_resize, sizeof val_resize, "%d", o->val_resize);
    if (o->val_resize) model_meta[n++] = (ct_meta){"val_resize", val_resize};
    model_meta[n++] = (ct_meta){"optimizer", train_optimizer_name(o->cfg.optimizer)};
    model_meta[n++] = (ct_meta){"lr_schedule", train_schedule_name(o->cfg.schedule)};
    model_meta[n++] = (ct_meta){"input_scale", "pixel / 255"};
    model_meta[n++] = (ct_meta){"epoch", epoch};
    if (p.batch > 0) model_meta[n++] = (ct_meta){"batch", batch};
    if (r->restored >= 0 && p.epoch == r->restored + 1) { /* --restore-best's: of how many */
        snprintf(run_e, sizeof run_e, "%d", ct_model_fit_position(r->m).epoch);
        model_meta[n++] = (ct_meta){"restored_best_of_epochs", run_e};
    }
    model_meta[n++] = (ct_meta){"seed", seed};
    snprintf(val_size, sizeof val_size, "%lld", (long long)r->n_val); /* (eval --part val) */
    model_meta[n++] = (ct_meta){"val_size", val_size};
    if (r->data_fingerprint[0]) /* (of the training images: eval --part val checks its data) */
        model_meta[n++] = (ct_meta){"data_fingerprint", r->data_fingerprint};
    if (o->class_names_text) model_meta[n++] = (ct_meta){"class_names", o->class_names_text};
    if (o->cfg.label_smoothing > 0.0f) { /* the loss of val_loss, test_loss (and of eval) */
        cli_shortest_float(o->cfg.label_smoothing, ls, sizeof ls); /* "0.1", not 0.100000001 */
        model_meta[n++] = (ct_meta){"label_smoothing", ls};
    }
    if (o->cfg.ema_decay > 0.0f) { /* the weights are the moving average (--ema) */
        cli_shortest_float(o->cfg.ema_decay, ema, sizeof ema);
        model_meta[n++] = (ct_meta){"ema_decay", ema};
    }
    char swa[2][24];
    n += train_swa_meta(r, model_meta + n, swa);
    if (p.epoch > 0 && r->n_val > 0) { /* (the weights': SWA's average, or the last epoch's) */
        const ct_eval_result *v = train_swa_val(r) ? train_swa_val(r) : &r->history[p.epoch - 1].val;
        snprintf(vl, sizeof vl, "%.6f", v->loss);
        snprintf(va, sizeof va, "%.6f", v->accuracy);
        model_meta[n++] = (ct_meta){"val_loss", vl};
        model_meta[n++] = (ct_meta){"val_acc", va};
    }
    if (test) {
        snprintf(tl, sizeof tl, "%.6f", test->loss);
        snprintf(ta, sizeof ta, "%.6f", test->accuracy);
        model_meta[n++] = (ct_meta){"test_loss", tl};
        model_meta[n++] = (ct_meta){"test_acc", ta};
    }
    return ct_save_model(r->m, path, model_meta, n);
}

/* The snapshots of a replaced run (--overwrite): DIR/epoch_N.safetensors files, removed. */
static int remove_snapshots(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(d)) != NULL) {
        if (!train_is_snapshot_name(e->d_name)) continue; /* (only the names it writes) */
        char path[PATH_MAX + 64];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (lstat(path, &st) != 0 || !(S_ISREG(st.st_mode) || S_ISLNK(st.st_mode)))
            continue; /* (a folder of that name is not a snapshot: left alone) */
        if (unlink(path) != 0 && errno != ENOENT)
            rc = cli_error("%s: cannot remove: %s", path, strerror(errno));
    }
    closedir(d);
    return rc;
}

int train_save(train_run *r, const ct_eval_result *test) {
    const train_opts *o = r->o;
    ct_fit_position p = ct_model_fit_position(r->m);
    char path[PATH_MAX], hidden[24], val_size[24], threads[24], every[24], patience[24],
        min_delta[32], best[8], best_from[24], restore[8], snap[8], sched[SCHEDULE_BYTES],
        val_resize[24];
    snprintf(hidden, sizeof hidden, "%d", o->hidden);
    snprintf(val_resize, sizeof val_resize, "%d", o->val_resize);
    snprintf(val_size, sizeof val_size, "%lld", (long long)o->val_size);
    snprintf(threads, sizeof threads, "%d", o->threads);
    snprintf(every, sizeof every, "%d", o->save_every);
    snprintf(patience, sizeof patience, "%d", o->patience);
    cli_shortest_float(o->min_delta, min_delta, sizeof min_delta);
    snprintf(best, sizeof best, "%d", o->save_best);
    snprintf(restore, sizeof restore, "%d", o->restore_best);
    snprintf(snap, sizeof snap, "%d", o->snapshots);
    snprintf(best_from, sizeof best_from, "%d", r->best_from);
    schedule_text(o->cfg.phases, o->cfg.num_phases, sched, sizeof sched);
    ct_meta state_meta[] = {
        {"dataset", o->dataset}, {"data_dir", r->data_dir},
        {"data_fingerprint", r->data_fingerprint}, {"model", o->model},
        {"hidden", hidden},      {"val_size", val_size},    {"device", o->device},
        {"threads", threads},    {"save_every", every},     {"schedule", sched},
        {"patience", patience},  {"min_delta", min_delta}, {"save_best", best},
        {"best_from", best_from},
        {"restore_best", restore}, {"snapshots", snap},
        {"optimizer", train_optimizer_name(o->cfg.optimizer)},
        {"lr_schedule", train_schedule_name(o->cfg.schedule)},
        {"val_resize", val_resize},
        {"class_names", o->class_names_text}, /* (the last: left out when there are none) */
    };
    ct_train_state st = {.cfg = &o->cfg, .before = &r->before, .history = r->history,
                         .n_history = p.epoch, .extra = state_meta,
                         .n_extra = (int)(sizeof state_meta / sizeof state_meta[0]) -
                                    !o->class_names_text};
    /* Each file is replaced atomically; the pair is kept together too when the second one fails
     * (a full disk, a file that cannot be replaced): the previous train state, kept as a hard
     * link, is put back, so that the folder holds the old pair, or no train state when there was
     * none. (A process killed between the two leaves the new train state, which a resume goes
     * by, and the old model.) */
    char state[PATH_MAX], target[PATH_MAX], prev[PATH_MAX + 16];
    snprintf(state, sizeof state, "%s/train_state.safetensors", r->save_dir);
    struct stat sb;
    int had_state = stat(state, &sb) == 0;
    /* a link is followed, as the save does: the file it names is what is replaced and kept */
    if (!had_state || !realpath(state, target)) snprintf(target, sizeof target, "%s", state);
    char *slash = strrchr(target, '/');
    snprintf(prev, sizeof prev, "%.*s.%s.prev", slash ? (int)(slash - target + 1) : 0, target,
             slash ? slash + 1 : target);
    unlink(prev);
    int kept = had_state && link(target, prev) == 0;
    int link_errno = errno;
    /* --restore-best, restored: the train state takes the last epoch's weights (a resume goes on
     * from them), the model file the best epoch's, which the model then holds again */
    int rc = train_best_swap(r, 1); /* (errors printed) */
    ct_status s = CT_OK;
    if (rc == 0 && (s = ct_save_train_state(r->m, state, &st)) != CT_OK) rc = cli_lib_error(s);
    int back = train_best_swap(r, 0);
    if (rc != 0) {
        if (kept) unlink(prev);
        return rc;
    }
    snprintf(path, sizeof path, "%s/model.safetensors", r->save_dir);
    ct_fit_position pm = p; /* the model file's position: the restored epoch's end */
    if (r->restored >= 0) pm = (ct_fit_position){.epoch = r->restored + 1};
    if (back != 0 || (s = save_model_file(r, path, pm, test)) != CT_OK) {
        rc = back != 0 ? back : cli_lib_error(s);
        if (had_state && !kept) /* no hard links here (vfat, some network file systems) */
            cli_error("%s: is the new one, beside the previous model file (the "
                      "previous one could not be kept: %s)", state, strerror(link_errno));
        else if (kept ? rename(prev, target) != 0 : !had_state && unlink(state) != 0)
            cli_error("%s: could not be put back as it was: %s", state,
                      strerror(errno));
        return rc;
    }
    if (kept) unlink(prev);
    r->saved_epochs = p.epoch;
    if (r->stale_best) { /* --overwrite: the replaced run's best weights are not this run's */
        snprintf(path, sizeof path, "%s/best.safetensors", r->save_dir);
        if (unlink(path) != 0 && errno != ENOENT)
            return cli_error("%s: cannot remove: %s", path, strerror(errno));
        if (remove_snapshots(r->save_dir) != 0) return 1; /* (and its epoch_N files) */
        r->stale_best = 0;
    }
    return 0;
}

int train_save_snapshot(train_run *r, int epochs_done) {
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/epoch_%d.safetensors", r->save_dir, epochs_done);
    ct_status s = save_model_file(r, path, (ct_fit_position){.epoch = epochs_done}, NULL);
    return s == CT_OK ? 0 : cli_lib_error(s);
}

int train_save_best(train_run *r, int epoch) {
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/best.safetensors", r->save_dir);
    ct_status s = save_model_file(r, path, (ct_fit_position){.epoch = epoch + 1}, NULL);
    if (s != CT_OK) return cli_lib_error(s);
    r->stale_best = 0; /* replaced */
    r->best_saved = epoch;
    return 0;
}
