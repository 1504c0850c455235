/*
 * train_outputs.c — what `ctrain train` checks before it writes anything: that --save does not
 * replace another run's checkpoint (without --overwrite), and that --log does not destroy a
 * file that is not a log of ctrain's, or a checkpoint or picture the run itself writes.
 * Paths are compared canonically (absolute, ".", ".." and links resolved, also for files and
 * folders that do not exist yet), so that no spelling of a path gets past a check. And the
 * Plan line that says, before training, what the run will do.
 */
#include "cli.h"
#include "train.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_LINKS 40 /* as the kernel's ELOOP limit */

/* path made absolute and canonical into out (PATH_MAX bytes): "." and ".." and "//" resolved,
 * and every link that exists followed (a dangling one to what it names), while the rest of the
 * path need not exist. 0 when it is too long or has too many links. */
static int canonical_at(const char *path, char *out, int links) {
    char buf[2 * PATH_MAX];
    if (path[0] == '/') {
        if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) return 0;
    } else {
        char cwd[PATH_MAX];
        if (!getcwd(cwd, sizeof cwd) ||
            snprintf(buf, sizeof buf, "%s/%s", cwd, path) >= (int)sizeof buf)
            return 0;
    }
    size_t len = 0;
    out[0] = 0;
    char *rest = NULL;
    for (char *part = strtok_r(buf, "/", &rest); part; part = strtok_r(NULL, "/", &rest)) {
        if (strcmp(part, ".") == 0) continue;
        if (strcmp(part, "..") == 0) { /* out has no links left in it: ".." is lexical here */
            char *slash = strrchr(out, '/');
            len = slash ? (size_t)(slash - out) : 0;
            out[len] = 0;
            continue;
        }
        size_t before = len;
        int n = snprintf(out + len, PATH_MAX - len, "/%s", part);
        if (n < 0 || (size_t)n >= PATH_MAX - len) return 0;
        len += (size_t)n;
        char target[PATH_MAX];
        ssize_t t = readlink(out, target, sizeof target - 1);
        if (t < 0) continue; /* not a link, or not there */
        if (links >= MAX_LINKS) return 0;
        target[t] = 0;
        out[before] = 0; /* the link's folder */
        char next[2 * PATH_MAX + 2];
        if (snprintf(next, sizeof next, "%s%s%s%s%s", target[0] == '/' ? "" : out,
                     target[0] == '/' ? "" : "/", target, rest && *rest ? "/" : "",
                     rest ? rest : "") >= (int)sizeof next)
            return 0;
        return canonical_at(next[0] ? next : "/", out, links + 1);
    }
    if (!out[0]) snprintf(out, PATH_MAX, "/");
    return 1;
}

/* a and b name the same file or folder (canonically; or the same inode where both exist) */
static int same_path(const char *a, const char *b) {
    char ca[PATH_MAX], cb[PATH_MAX];
    struct stat sa, sb;
    if (stat(a, &sa) == 0 && stat(b, &sb) == 0)
        return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
    return canonical_at(a, ca, 0) && canonical_at(b, cb, 0) && strcmp(ca, cb) == 0;
}

int train_save_replaces(const train_opts *o) {
    return o->save_dir && !(o->resume_dir && same_path(o->save_dir, o->resume_dir));
}

/* --save DIR of a new run (or another folder than --resume's) holding a checkpoint */
static int check_save_dir(const train_opts *o) {
    if (o->overwrite || !train_save_replaces(o)) return CLI_EXIT_OK;
    static const char *const files[] = {"train_state.safetensors", "model.safetensors",
                                        "best.safetensors"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char path[PATH_MAX + 32];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", o->save_dir, files[i]);
        if (lstat(path, &st) != 0) continue;
        if (i < 2) /* a run to continue */
            return cli_usage_error("train", "--save %s: holds another run's checkpoint (%s); "
                                   "continue it with --resume %s, or replace it with "
                                   "--overwrite", o->save_dir, files[i], o->save_dir);
        return cli_usage_error("train", "--save %s: holds another run's %s; replace it with "
                               "--overwrite", o->save_dir, files[i]);
    }
    DIR *d = opendir(o->save_dir); /* and another run's --snapshots */
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL)
        if (train_is_snapshot_name(e->d_name)) {
            int rc = cli_usage_error("train", "--save %s: holds another run's %s; replace it "
                                     "with --overwrite", o->save_dir, e->d_name);
            closedir(d);
            return rc;
        }
    if (d) closedir(d);
    return CLI_EXIT_OK;
}

/* --log FILE: not a file this run writes, and not a file that is not a log of ctrain's */
static int check_log(const train_opts *o) {
    const char *log = o->log_path, *save = o->save_dir ? o->save_dir : o->resume_dir;
    if (!log) return CLI_EXIT_OK;
    const struct { const char *dir, *name; int on; } ours[] = {
        {save, "model.safetensors", 1}, {save, "train_state.safetensors", 1},
        {save, "best.safetensors", o->save_best}, {o->plot_dir, "loss.png", 1},
        {o->plot_dir, "accuracy.png", 1}, {o->plot_dir, "lr.png", 1},
        {o->plot_dir, "momentum.png", 1}};
    for (size_t i = 0; i < sizeof ours / sizeof ours[0]; i++) {
        char f[PATH_MAX + 32];
        if (!ours[i].dir || !ours[i].on) continue;
        snprintf(f, sizeof f, "%s/%s", ours[i].dir, ours[i].name);
        if (same_path(log, f))
            return cli_error("--log %s: is %s, which this run writes", log, f);
    }
    const char *base = strrchr(log, '/'); /* --snapshots' epoch_E.safetensors in the folder */
    base = base ? base + 1 : log;
    if (save && train_is_snapshot_name(base)) {
        char f[PATH_MAX + 32];
        snprintf(f, sizeof f, "%s/%s", save, base);
        if (same_path(log, f))
            return cli_error("--log %s: is a name --snapshots writes in %s", log, save);
    }
    static const char json[] = "{\"epoch\":", csv[] = "epoch,phase,"; /* their first words */
    int is_csv = train_log_is_csv(log);
    return cli_check_replaceable("log", log, is_csv ? csv : json,
                                 is_csv ? sizeof csv - 1 : sizeof json - 1, "a log of ctrain's",
                                 is_csv ? " (its first line is not ctrain's CSV header)"
                                        : " (its first line is not an epoch's JSON)");
}

int train_is_snapshot_name(const char *name) {
    int n, len = 0;
    char again[64];
    return sscanf(name, "epoch_%d.safetensors%n", &n, &len) == 1 && n > 0 &&
           len == (int)strlen(name) &&
           snprintf(again, sizeof again, "epoch_%d.safetensors", n) > 0 &&
           strcmp(again, name) == 0;
}

int train_log_is_csv(const char *path) {
    size_t n = strlen(path);
    return n >= 4 && strcasecmp(path + n - 4, ".csv") == 0;
}

/* --plot DIR: loss.png, accuracy.png, lr.png and momentum.png (--lr-find: lr_find.png) replace
 * only pictures (a file of another kind there, or a link to one, such as a checkpoint, is
 * refused) */
static int check_plots(const train_opts *o) {
    static const unsigned char png[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    static const char *const run[] = {"loss.png", "accuracy.png", "lr.png", "momentum.png"};
    static const char *const find[] = {"lr_find.png"};
    const char *const *names = o->lr_find ? find : run;
    size_t n = o->lr_find ? 1 : sizeof run / sizeof run[0];
    for (size_t i = 0; o->plot_dir && i < n; i++) {
        char f[PATH_MAX + 32];
        snprintf(f, sizeof f, "%s/%s", o->plot_dir, names[i]);
        int rc = cli_check_replaceable("plot", f, png, sizeof png, "a PNG", "");
        if (rc != CLI_EXIT_OK) return rc;
    }
    return CLI_EXIT_OK;
}

int train_check_outputs(const train_opts *o) {
    int rc = check_save_dir(o);
    if (rc == CLI_EXIT_OK) rc = check_log(o);
    return rc != CLI_EXIT_OK ? rc : check_plots(o);
}

/* ------------------------------------------------------------------------------------------ */
/* the Plan line                                                                               */

void train_print_plan(const train_opts *o, int total_epochs, int64_t n_train,
                      const char *save_dir) {
    const ct_train_config *c = &o->cfg;
    char sched[SCHEDULE_BYTES];
    train_format_schedule(c->phases, c->num_phases, sched, sizeof sched);
    static const char *const names[] = {"SGD",   "Adam",  "AdamW",  "RMSprop",
                                        "NAdam", "RAdam", "Adamax", "Adagrad"};
    /* (a momentum, or none: no betas) */
    const int sgd_like = c->optimizer == CT_SGD || c->optimizer == CT_RMSPROP ||
                         c->optimizer == CT_ADAGRAD;
    printf("Plan: %d epoch%s (%s), batch %d", total_epochs, total_epochs == 1 ? "" : "s", sched,
           c->batch_size);
    /* (pieces when a process's largest share of a batch, as ct_fit cuts it, is more) */
    int64_t batch = c->batch_size < n_train ? c->batch_size : n_train;
    if (c->micro_batch > 0 && c->micro_batch < ct_dist_largest_share(c->dist, batch))
        printf(" in micro-batches of up to %d%s", c->micro_batch,
               ct_dist_size(c->dist) > 1 ? " a rank" : "");
    printf(", %s", names[(unsigned)c->optimizer <= CT_ADAGRAD ? c->optimizer : 0]);
    if (c->optimizer == CT_RMSPROP)
        printf(" (alpha %g, eps %g%s)", (double)(c->alpha > 0 ? c->alpha : CT_RMSPROP_ALPHA),
               (double)(c->eps > 0 ? c->eps : 1e-8f), c->centered ? ", centered" : "");
    if (c->optimizer == CT_ADAGRAD)
        printf(" (lr decay %g, initial accumulator %g, eps %g)", (double)c->lr_decay,
               (double)c->initial_accumulator, (double)(c->eps > 0 ? c->eps : CT_ADAGRAD_EPS));
    if (c->momentum > 0) printf(", momentum %g", (double)c->momentum);
    if (c->nesterov) printf(" (Nesterov)");
    if (!sgd_like && c->cycle_momentum) /* (beta1: on the schedule's part) */
        printf(" (beta2 %g, eps %g%s)", (double)(c->beta2 > 0 ? c->beta2 : 0.999f),
               (double)(c->eps > 0 ? c->eps : 1e-8f), c->amsgrad ? ", AMSGrad" : "");
    else if (!sgd_like)
        printf(" (betas %g,%g, eps %g%s", (double)(c->beta1 > 0 ? c->beta1 : 0.9f),
               (double)(c->beta2 > 0 ? c->beta2 : 0.999f), (double)(c->eps > 0 ? c->eps : 1e-8f),
               c->optimizer == CT_NADAM ? ", momentum decay "
               : c->amsgrad             ? ", AMSGrad)"
                                        : ")");
    if (c->optimizer == CT_NADAM)
        printf("%g)", (double)(c->momentum_decay > 0 ? c->momentum_decay
                                                     : CT_NADAM_MOMENTUM_DECAY));
    if (c->weight_decay > 0 || c->bias_wd_set || c->norm_wd_set)
        printf(", weight decay %g", (double)c->weight_decay);
    if (c->bias_wd_set && c->norm_wd_set)
        printf(" (biases %g, batch norm's weights %g)", (double)c->bias_weight_decay,
               (double)c->norm_weight_decay);
    else if (c->bias_wd_set) printf(" (biases %g)", (double)c->bias_weight_decay);
    else if (c->norm_wd_set) printf(" (batch norm %g)", (double)c->norm_weight_decay);
    switch (c->schedule) {
    case CT_SCHED_STEP:
        printf(", step lr every %d epoch%s x%g", c->step_size, c->step_size == 1 ? "" : "s",
               (double)(c->gamma > 0 ? c->gamma : 0.1f));
        break;
    case CT_SCHED_MULTISTEP: {
        char ms[CT_MAX_MILESTONES * 8];
        train_format_milestones(c, ms, sizeof ms);
        printf(", lr x%g from epoch%s %s", (double)(c->gamma > 0 ? c->gamma : 0.1f),
               c->num_milestones == 1 ? "" : "s", ms);
        break;
    }
    case CT_SCHED_POLYNOMIAL:
        printf(", polynomial lr to 0 (power %g)", (double)(c->power > 0 ? c->power : 1.0f));
        break;
    case CT_SCHED_COSINE: printf(", cosine lr to %g", (double)c->eta_min); break;
    case CT_SCHED_COSINE_RESTARTS: {
        int mult = c->restart_mult > 1 ? c->restart_mult : 1;
        printf(", cosine lr to %g restarting after %d epoch%s", (double)c->eta_min,
               c->restart_epochs, c->restart_epochs == 1 ? "" : "s");
        if (mult > 1) printf(", each cycle x%d as long", mult);
        break;
    }
    case CT_SCHED_EXPONENTIAL:
        printf(", exponential lr x%g per epoch", (double)(c->gamma > 0 ? c->gamma : 0.1f));
        break;
    case CT_SCHED_PLATEAU: { /* PyTorch's patience N: the cut comes after N + 1 bad epochs */
        int patience = train_patience_flag(c->plateau_patience);
        printf(", plateau lr x%g (patience %d: cut after %d epoch%s without a better %s",
               (double)(c->gamma > 0 ? c->gamma : 0.1f), patience, patience + 1,
               patience ? "s" : "", train_monitor_name(o));
        if (o->lr_threshold != 1e-4f || c->plateau_threshold_abs) /* (PyTorch's: 1e-4, rel) */
            printf(c->plateau_threshold_abs ? "; better: by more than %g" : "; better: by more "
                   "than %g of the best", (double)o->lr_threshold);
        if (c->plateau_cooldown > 0) printf("; cooldown %d", c->plateau_cooldown);
        if (c->plateau_min_lr > 0.0f) printf("; min lr %g", (double)c->plateau_min_lr);
        printf(")");
        break;
    }
    case CT_SCHED_ONECYCLE:
        printf(", one-cycle lr (pct_start %g", (double)(c->pct_start > 0 ? c->pct_start : 0.3f));
        if (c->div_factor > 0 || c->final_div_factor > 0)
            printf(", div %g, final div %g", (double)(c->div_factor > 0 ? c->div_factor : 25.0f),
                   (double)(c->final_div_factor > 0 ? c->final_div_factor : 1e4f));
        printf("%s%s)", c->three_phase ? ", three phases" : "",
               c->anneal_linear ? ", linear" : "");
        if (c->cycle_momentum) {
            float base, max;
            ct_cycled_momentum(c, &base, &max);
            printf(" and %s %g -> %g -> %g", sgd_like ? "momentum" : "beta1",
                   (double)max, (double)base, (double)max);
        }
        break;
    case CT_SCHED_CYCLIC: {
        static const char *const modes[] = {"triangular", "triangular2", "exp_range"};
        const float down = c->cyclic_down > 0.0f ? c->cyclic_down : c->cyclic_up;
        printf(", cyclic lr %g <-> %g (%s, %g %s up, %g down", (double)c->cyclic_base_lr,
               (double)c->phases[0].lr, modes[c->cyclic_mode >= 0 && c->cyclic_mode <= 2
                                                  ? c->cyclic_mode : 0],
               (double)c->cyclic_up, c->lr_step_epoch ? "epochs" : "steps", (double)down);
        if (c->cyclic_mode == CT_CYCLIC_EXP_RANGE)
            printf(", gamma %g", (double)(c->gamma > 0 ? c->gamma : 1.0f));
        printf(")");
        if (c->cycle_momentum) {
            float base, max;
            ct_cycled_momentum(c, &base, &max);
            printf(" and %s %g <-> %g", sgd_like ? "momentum" : "beta1", (double)max,
                   (double)base);
        }
        break;
    }
    case CT_SCHED_PHASES:
    case CT_SCHED_RANGE_TEST: break; /* (--lr-find's, which prints no plan) */
    }
    if (c->warmup_epochs > 0 || c->warmup_steps > 0)
    {
        int n = c->warmup_steps > 0 ? c->warmup_steps : c->warmup_epochs;
        printf(c->warmup_constant ? ", warm-up %d %s%s at x%g" : ", warm-up %d %s%s from x%g", n,
               c->warmup_steps > 0 ? "step" : "epoch", n == 1 ? "" : "s",
               (double)(c->warmup_start_factor > 0 ? c->warmup_start_factor : 1.0f / 3.0f));
        if (c->warmup_sequential) printf(", then the schedule (its epochs counted from there)");
    }
    if (c->lr_step_epoch) printf(", the lr stepped once an epoch");
    if (c->clip_norm > 0) printf(", clip grad norm %g", (double)c->clip_norm);
    if (c->clip_value > 0) printf(", clip grad value %g", (double)c->clip_value);
    if (c->label_smoothing > 0) printf(", label smoothing %g", (double)c->label_smoothing);
    if (c->mixup_alpha > 0 && c->cutmix_alpha > 0)
        printf(", MixUp (alpha %g) or CutMix (alpha %g), one a batch", (double)c->mixup_alpha,
               (double)c->cutmix_alpha);
    else if (c->mixup_alpha > 0 || c->cutmix_alpha > 0)
        printf(", %s (alpha %g)", c->mixup_alpha > 0 ? "MixUp" : "CutMix",
               (double)(c->mixup_alpha > 0 ? c->mixup_alpha : c->cutmix_alpha));
    if (c->n_class_weights > 0) {
        printf(", class weights%s ", o->class_weight_balanced ? " (balanced)" : "");
        for (int k = 0; k < c->n_class_weights && k < 16; k++)
            printf("%s%.4g", k ? "," : "", (double)c->class_weights[k]);
        if (c->n_class_weights > 16) printf(",... (%d)", c->n_class_weights);
    }
    if (c->repeated_aug > 1)
        printf(", repeated augmentation (each image %d times in a row)", c->repeated_aug);
    if (c->ema_decay > 0)
        printf(", EMA of the weights (decay %g%s)", (double)c->ema_decay,
               c->ema_warmup ? ", warm-up" : "");
    if (c->swa) {
        printf(", SWA from epoch %d", c->swa_start);
        if (c->swa_lr > 0)
            printf(" (SWALR to lr %g over %d epoch%s, %s)", (double)c->swa_lr,
                   c->swa_anneal_epochs, c->swa_anneal_epochs == 1 ? "" : "s",
                   c->swa_anneal_linear ? "linear" : "cos");
    }
    if (o->patience > 0) printf(", early stopping (patience %d", o->patience);
    if (o->patience > 0 && o->min_delta > 0.0f) printf(", min delta %g", (double)o->min_delta);
    if (o->patience > 0) printf(")");
    if (o->restore_best) printf(", restoring the best epoch's weights");
    if (train_monitor_acc(o) && (o->patience > 0 || o->restore_best || o->save_best))
        printf(", monitoring val_acc"); /* (val_loss unless said; plateau's says it above) */
    const char *sep = ", augment: ";
    if (c->augment_degrees > 0 || c->augment_translate > 0 || c->augment_scale_max > 0 ||
        c->augment_shear > 0) {
        printf("%srandom affine (", sep);
        const char *comma = "";
        if (c->augment_degrees > 0)
            printf("rotate +-%g deg", (double)c->augment_degrees), comma = ", ";
        if (c->augment_translate > 0)
            printf("%stranslate +-%g", comma, (double)c->augment_translate), comma = ", ";
        if (c->augment_scale_max > 0)
            printf("%sscale %g to %g", comma, (double)c->augment_scale_min,
                   (double)c->augment_scale_max), comma = ", ";
        if (c->augment_shear > 0) printf("%sshear +-%g deg", comma, (double)c->augment_shear);
        printf(", %s)", c->augment_bilinear ? "bilinear" : "nearest");
        sep = " + ";
    }
    if (c->augment_pad > 0) printf("%srandom crop (padding %d)", sep, c->augment_pad), sep = " + ";
    if (c->augment_area_max > 0)
        printf("%srandom resized crop (area %g to %g, ratio %.4g to %.4g)", sep,
               (double)c->augment_area_min, (double)c->augment_area_max,
               (double)c->augment_ratio_min, (double)c->augment_ratio_max), sep = " + ";
    if (c->augment_flip) printf("%shorizontal flip", sep), sep = " + ";
    if (c->augment_vflip) printf("%svertical flip", sep), sep = " + ";
    if (c->augment_jitter[0] > 0 || c->augment_jitter[1] > 0 || c->augment_jitter[2] > 0 ||
        c->augment_jitter[3] > 0) {
        static const char *const names[4] = {"brightness", "contrast", "saturation", "hue"};
        const char *comma = "";
        printf("%scolour jitter (", sep);
        for (int k = 0; k < 4; k++)
            if (c->augment_jitter[k] > 0)
                printf("%s%s %g", comma, names[k], (double)c->augment_jitter[k]), comma = ", ";
        printf(")");
        sep = " + ";
    }
    if (c->augment_grey_p > 0)
        printf("%srandom greyscale (p %g)", sep, (double)c->augment_grey_p), sep = " + ";
    if (c->augment_ta_bins) {
        printf("%sTrivialAugmentWide", sep), sep = " + ";
        const int bins = c->augment_ta_bins;
        if (c->augment_bilinear && bins != 31) printf(" (bilinear, %d bins)", bins);
        else if (c->augment_bilinear) printf(" (bilinear)");
        else if (bins != 31) printf(" (%d bins)", bins);
    }
    if (c->augment_ra_ops) {
        printf("%sRandAugment (%d op%s, magnitude %d of bins 0-%d", sep, c->augment_ra_ops,
               c->augment_ra_ops == 1 ? "" : "s", c->augment_ra_magnitude,
               c->augment_ra_bins - 1);
        printf("%s)", c->augment_bilinear ? ", bilinear" : ""), sep = " + ";
    }
    if (c->augment_aa_policy) {
        static const char *const policies[] = {"", "ImageNet", "CIFAR-10", "SVHN"};
        printf("%sAutoAugment (%s policy%s)", sep, policies[c->augment_aa_policy],
               c->augment_bilinear ? ", bilinear" : ""), sep = " + ";
    }
    if (c->augment_augmix_severity) {
        printf("%sAugMix (severity %d, %d chain%s of ", sep, c->augment_augmix_severity,
               c->augment_augmix_width, c->augment_augmix_width == 1 ? "" : "s");
        if (c->augment_augmix_depth > 0)
            printf("%d op%s", c->augment_augmix_depth, c->augment_augmix_depth == 1 ? "" : "s");
        else
            printf("1-3 ops");
        printf(", alpha %g%s)", (double)c->augment_augmix_alpha,
               c->augment_bilinear ? ", bilinear" : ""), sep = " + ";
    }
    if (c->augment_erase_p > 0)
        printf("%srandom erasing (p %g%s)", sep, (double)c->augment_erase_p,
               o->erase_to_mean ? ", to the normalize layer's mean" : "");
    if (strcmp(o->dataset, "mnist") != 0) printf(", dataset %s", o->dataset);
    printf(", seed %llu", (unsigned long long)o->seed);
    if (save_dir) printf(", saving to %s", save_dir);
    printf("\n");
}

void train_report_outputs(const train_run *r) {
    static const char *const names[] = {"--log", "--plot", "--tensorboard"};
    const char *failed[3];
    int n = 0;
    for (int i = 0; i < 3; i++)
        if (r->outputs_failed & (1 << i)) failed[n++] = names[i];
    if (n == 0) return;
    fprintf(stderr, "ctrain: the training finished, but %s%s%s%s%s could not be written (above)\n",
            failed[0], n == 3 ? ", " : n == 2 ? " and " : "", n > 1 ? failed[1] : "",
            n == 3 ? " and " : "", n == 3 ? failed[2] : "");
}
