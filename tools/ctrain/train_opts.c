/*
 * train_opts.c — the checks of `ctrain train`'s flags against each other, and their values
 * turned into a ct_train_config (train_flags.c holds the flags' table and defaults,
 * train_parse.c reads the values that have a syntax of their own; train_cmd.c runs the
 * training).
 */
#include "args.h"
#include "cli.h"
#include "train.h"

#include "ctrain.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------------------------ */
/* options                                                                                     */

#define ADAM_DEFAULT_LR 1e-3f  /* torch.optim.Adam/AdamW's default lr */
#define RMSPROP_DEFAULT_LR 1e-2f /* torch.optim.RMSprop's */
#define NADAM_DEFAULT_LR 2e-3f /* torch.optim.NAdam's, and Adamax's */
#define ADAGRAD_DEFAULT_LR 1e-2f /* torch.optim.Adagrad's */
#define SINGLE_PHASE_EPOCHS 10 /* --lr or a non-phase schedule without --epochs */

/* Checks the flags against each other and fills o->cfg; prints the error and returns 2. */
int train_finish_options(train_opts *o, cli_flag *flags, int nflags) {
    int seen_epochs = cli_find(flags, nflags, "epochs")->seen;
    int seen_lr = cli_find(flags, nflags, "lr")->seen;
    int seen_schedule = cli_find(flags, nflags, "schedule")->seen;
#define SEEN(name) (cli_find(flags, nflags, name)->seen)
    char fbuf[96]; /* cli_float_text */
#define F(name) cli_find(flags, nflags, name)
    ct_train_config *c = &o->cfg;
    int opt = train_optimizer_kind(o->optimizer), sched = train_schedule_kind(o->lr_schedule);
    int adam = opt == CT_ADAM || opt == CT_ADAMW || opt == CT_NADAM || opt == CT_RADAM ||
               opt == CT_ADAMAX,
        rms = opt == CT_RMSPROP, adagrad = opt == CT_ADAGRAD;
    /* --lr-find: a probe of its own lrs, that trains no run (nothing to save, log or resume) */
    static const char *const not_with_find[] = {
        "resume", "save", "save-every", "save-best", "restore-best", "overwrite", "log",
        "snapshots", "tensorboard", "histograms", "tensorboard-every",
        "patience", "epochs", "lr", "schedule", "lr-schedule", "step-size", "gamma",
        "lr-patience", "lr-threshold", "lr-threshold-mode", "lr-cooldown", "min-lr", "min-delta",
        "eta-min", "t0", "t-mult", "pct-start", "cycle-momentum", "warmup-epochs",
        "warmup-start-factor", "warmup-method", "warmup-sequential", "lr-step", "milestones",
        "power", "base-lr",
        "step-size-up", "step-size-down", "cyclic-mode", "div-factor", "final-div-factor",
        "three-phase", "anneal",
        "class-names", "ema", "ema-warmup", "swa-start", "swa-lr", "swa-anneal-epochs",
        "swa-anneal"};
    if (strcmp(o->dataset, "folder") == 0 && !o->data_dir)
        return cli_usage_error("train", "--dataset folder: needs --data DIR, the folder holding "
                               "train/CLASS/IMAGE and test/CLASS/IMAGE");
    if (train_parse_image_size(o) != CLI_EXIT_OK) return CLI_EXIT_USAGE;
    if (o->histograms && !o->tensorboard_dir)
        return cli_usage_error("train", "--histograms: needs --tensorboard DIR (where they go)");
    if (o->tensorboard_every > 0 && !o->tensorboard_dir)
        return cli_usage_error("train", "--tensorboard-every: needs --tensorboard DIR (where "
                               "the values go)");
    for (size_t i = 0; o->lr_find && i < sizeof not_with_find / sizeof not_with_find[0]; i++)
        if (SEEN(not_with_find[i]))
            return cli_usage_error("train", "--%s: does not apply to --lr-find, which trains "
                                   "no run: it ramps its own lr (--lr-find-range) over "
                                   "--lr-find-steps steps and keeps nothing", not_with_find[i]);
    if (!o->lr_find && (SEEN("lr-find-range") || SEEN("lr-find-steps")))
        return cli_usage_error("train", "--%s: needs --lr-find",
                               SEEN("lr-find-range") ? "lr-find-range" : "lr-find-steps");
    if (o->lr_find) {
        double a, b;
        if (train_parse_pair(o->lr_find_range, &a, &b) != 0 || !(a > 0 && b > a && b <= MAX_LR) ||
            !((float)a > 0))
            return cli_usage_error("train", "--lr-find-range: expected START,END with 0 < START "
                                   "< END <= %g, got \"%s\"", (double)MAX_LR, o->lr_find_range);
        o->lr_find_start = (float)a;
        o->lr_find_end = (float)b;
    }
    /* the optimizer's own flags */
    if (adam && SEEN("momentum") && o->momentum != 0)
        return cli_usage_error("train", "--momentum: applies to --optimizer sgd or rmsprop (%s "
                               "uses --betas)", o->optimizer);
    if (adagrad && SEEN("momentum") && o->momentum != 0)
        return cli_usage_error("train", "--momentum: applies to --optimizer sgd or rmsprop "
                               "(adagrad has none)");
    if ((adam || rms || adagrad) && o->nesterov)
        return cli_usage_error("train", "--nesterov: applies to --optimizer sgd (got %s)",
                               o->optimizer);
    if (!adam && SEEN("betas"))
        return cli_usage_error("train", "--betas: applies to --optimizer adam, adamw, nadam, "
                               "radam or adamax (got %s)", o->optimizer);
    if (opt == CT_SGD && SEEN("eps"))
        return cli_usage_error("train", "--eps: applies to the optimizers other than sgd");
    if (!adagrad && (SEEN("lr-decay") || SEEN("initial-accumulator")))
        return cli_usage_error("train", "--%s: applies to --optimizer adagrad (got %s)",
                               SEEN("lr-decay") ? "lr-decay" : "initial-accumulator",
                               o->optimizer);
    c->lr_decay = adagrad ? o->lr_decay : 0.0f;
    c->initial_accumulator = adagrad ? o->initial_accumulator : 0.0f;
    if (o->amsgrad && opt != CT_ADAM && opt != CT_ADAMW)
        return cli_usage_error("train", "--amsgrad: applies to --optimizer adam or adamw (got %s)",
                               o->optimizer);
    c->amsgrad = o->amsgrad;
    if (!rms && (SEEN("alpha") || SEEN("centered")))
        return cli_usage_error("train", "--%s: applies to --optimizer rmsprop (got %s)",
                               SEEN("alpha") ? "alpha" : "centered", o->optimizer);
    if (opt != CT_NADAM && SEEN("momentum-decay"))
        return cli_usage_error("train", "--momentum-decay: applies to --optimizer nadam (got %s)",
                               o->optimizer);
    c->momentum_decay = opt == CT_NADAM ? o->momentum_decay : 0.0f;
    /* (resumed: the run's own value, 0 for the default, checked against the flag already) */
    if (SEEN("alpha") && !o->resume_dir && !(o->alpha > 0.0f && o->alpha < 1.0f))
        return cli_usage_error("train", "--alpha: expected a number in (0, 1), got %s",
                               cli_float_text(F("alpha"),
                                              cli_float_typed(F("alpha")) > 0 &&
                                                  cli_float_typed(F("alpha")) < 1,
                                              fbuf, sizeof fbuf));
    if (SEEN("betas") && train_parse_betas(o->betas, &o->beta1, &o->beta2) != 0)
        return cli_usage_error("train", "--betas: expected B1,B2 with each in (0, 1), got \"%s\"",
                               o->betas);
    if (SEEN("normalize") && o->resume_dir)
        return cli_usage_error("train", "--normalize: a resumed run keeps its model, and its "
                               "normalize layer with it: see its Model line");
    char norm_out[MODEL_SPEC_BYTES], norm_err[256];
    if (train_normalize_spec(o->normalize, NULL, "", norm_out, sizeof norm_out, norm_err,
                             sizeof norm_err) != 0)
        return cli_usage_error("train", "--normalize: %s", norm_err);
    /* the schedule's own flags */
    static const struct { const char *flag; int sched; } only[] = {
        {"step-size", CT_SCHED_STEP}, {"milestones", CT_SCHED_MULTISTEP},
        {"power", CT_SCHED_POLYNOMIAL}, {"t0", CT_SCHED_COSINE_RESTARTS},
        {"t-mult", CT_SCHED_COSINE_RESTARTS},
        {"base-lr", CT_SCHED_CYCLIC}, {"step-size-up", CT_SCHED_CYCLIC},
        {"step-size-down", CT_SCHED_CYCLIC}, {"cyclic-mode", CT_SCHED_CYCLIC},
        {"pct-start", CT_SCHED_ONECYCLE},
        {"div-factor", CT_SCHED_ONECYCLE}, {"final-div-factor", CT_SCHED_ONECYCLE},
        {"three-phase", CT_SCHED_ONECYCLE}, {"anneal", CT_SCHED_ONECYCLE},
        {"lr-patience", CT_SCHED_PLATEAU}, {"lr-threshold", CT_SCHED_PLATEAU},
        {"lr-threshold-mode", CT_SCHED_PLATEAU}, {"lr-cooldown", CT_SCHED_PLATEAU},
        {"min-lr", CT_SCHED_PLATEAU}};
    const int exp_range = sched == CT_SCHED_CYCLIC && strcmp(o->cyclic_mode, "exp_range") == 0;
    if (SEEN("gamma") && sched != CT_SCHED_STEP && sched != CT_SCHED_MULTISTEP &&
        sched != CT_SCHED_PLATEAU && sched != CT_SCHED_EXPONENTIAL && !exp_range)
        return cli_usage_error("train", "--gamma: applies to --lr-schedule step, multistep, "
                               "plateau or exponential, and cyclic's --cyclic-mode exp_range "
                               "(got %s%s)", o->lr_schedule,
                               sched == CT_SCHED_CYCLIC ? " with another mode" : "");
    if (SEEN("cycle-momentum") && sched != CT_SCHED_ONECYCLE && sched != CT_SCHED_CYCLIC)
        return cli_usage_error("train", "--cycle-momentum: applies to --lr-schedule onecycle or "
                               "cyclic (got %s)", o->lr_schedule);
    if (SEEN("gamma") && sched == CT_SCHED_PLATEAU && !(o->gamma < 1))
        return cli_usage_error("train", "--gamma: the plateau factor must be below 1, got %s",
                               cli_float_text(F("gamma"), cli_float_typed(F("gamma")) < 1, fbuf,
                                              sizeof fbuf));
    if (SEEN("eta-min") && sched != CT_SCHED_COSINE && sched != CT_SCHED_COSINE_RESTARTS)
        return cli_usage_error("train", "--eta-min: applies to --lr-schedule cosine or "
                               "cosine-restarts (got %s)", o->lr_schedule);
    for (size_t i = 0; i < sizeof only / sizeof only[0]; i++)
        if (SEEN(only[i].flag) && sched != only[i].sched)
            return cli_usage_error("train", "--%s: applies to --lr-schedule %s (got %s)",
                                   only[i].flag, train_schedule_name(only[i].sched),
                                   o->lr_schedule);
    ct_train_config cyc;
    if (train_parse_cycle_momentum(o->cycle_momentum, &cyc) != 0)
        return cli_usage_error("train", "--cycle-momentum: expected on, off or BASE,MAX with "
                               "each in [0, 1) (not both 0, as 32-bit floats), got \"%s\"",
                               o->cycle_momentum);
    if (opt == CT_NADAM && cyc.cycle_momentum && SEEN("cycle-momentum"))
        return cli_usage_error("train", "--cycle-momentum %s: NAdam's beta1 follows its own "
                               "schedule (--momentum-decay), which the %s schedule does not "
                               "cycle: give --cycle-momentum off", o->cycle_momentum,
                               o->lr_schedule);
    if (adagrad && cyc.cycle_momentum && SEEN("cycle-momentum"))
        return cli_usage_error("train", "--cycle-momentum %s: Adagrad has no momentum to cycle "
                               "(PyTorch's OneCycleLR and CyclicLR refuse it too): give "
                               "--cycle-momentum off", o->cycle_momentum);
    /* (NAdam's: off, as its own schedule is its momentum's; Adagrad has none) */
    const int cycle = cyc.cycle_momentum &&
                      (sched == CT_SCHED_ONECYCLE || sched == CT_SCHED_CYCLIC) &&
                      opt != CT_NADAM && !adagrad;
    if (cycle && SEEN("momentum"))
        return cli_usage_error("train", "--momentum: --lr-schedule %s cycles the momentum "
                               "(--cycle-momentum %s); --cycle-momentum off keeps it fixed",
                               o->lr_schedule, o->cycle_momentum);
    if (sched == CT_SCHED_CYCLIC && !(o->base_lr > 0))
        return cli_usage_error("train", "--base-lr: required with --lr-schedule cyclic (where "
                               "each cycle starts; --lr is its top)");
    if (sched == CT_SCHED_STEP && o->step_size <= 0)
        return cli_usage_error("train", "--step-size: required with --lr-schedule step");
    if (sched == CT_SCHED_MULTISTEP && !o->milestones)
        return cli_usage_error("train", "--milestones: required with --lr-schedule multistep (the "
                               "epochs the lr falls at: 30,60,80)");
    char ms_err[160];
    if (sched == CT_SCHED_MULTISTEP &&
        train_parse_milestones(o->milestones, c, ms_err, sizeof ms_err) != 0)
        return cli_usage_error("train", "--milestones: %s", ms_err);
    if (sched == CT_SCHED_COSINE_RESTARTS && o->t0 <= 0) /* (PyTorch's T_0 has no default) */
        return cli_usage_error("train", "--t0: required with --lr-schedule cosine-restarts (the "
                               "first cycle's epochs)");
    if (sched == CT_SCHED_EXPONENTIAL && !SEEN("gamma") && !o->resume_dir) /* (as PyTorch's) */
        return cli_usage_error("train", "--gamma: required with --lr-schedule exponential (the "
                               "lr is lr * gamma^epoch)");
    /* (resumed: the run's own value, 0 for the default, checked against the flag already) */
    if (SEEN("pct-start") && !o->resume_dir && !(o->pct_start > 0 && o->pct_start < 1))
        return cli_usage_error("train", "--pct-start: expected a number in (0, 1), got %s",
                               cli_float_text(F("pct-start"),
                                              cli_float_typed(F("pct-start")) > 0 &&
                                                  cli_float_typed(F("pct-start")) < 1,
                                              fbuf, sizeof fbuf));
    if (SEEN("warmup-start-factor") && !(o->warmup_start_factor <= 1))
        return cli_usage_error("train", "--warmup-start-factor: expected a number in (0, 1], "
                               "got %s",
                               cli_float_text(F("warmup-start-factor"),
                                              cli_float_typed(F("warmup-start-factor")) <= 1,
                                              fbuf, sizeof fbuf));
    if (SEEN("warmup-start-factor") && o->warmup_epochs <= 0)
        return cli_usage_error("train", "--warmup-start-factor: needs --warmup-epochs > 0");
    if (SEEN("warmup-method") && o->warmup_epochs <= 0)
        return cli_usage_error("train", "--warmup-method: needs --warmup-epochs > 0");
    if (SEEN("warmup-sequential") && o->warmup_epochs <= 0)
        return cli_usage_error("train", "--warmup-sequential: needs --warmup-epochs > 0");
    if (o->warmup_sequential && !o->resume_dir &&
        (sched == CT_SCHED_ONECYCLE || sched == CT_SCHED_CYCLIC || sched == CT_SCHED_PLATEAU))
        return cli_usage_error("train", "--warmup-sequential: not with --lr-schedule %s, "
                               "which SequentialLR cannot start after a warm-up (without "
                               "--warmup-sequential the warm-up multiplies it)", o->lr_schedule);
    if (o->snapshots && o->save_every <= 0 && !SEEN("snapshots") && o->resume_dir)
        o->snapshots = 0; /* the resumed run's, ended by --save-every 0 */
    if (o->snapshots && o->save_every <= 0)
        return cli_usage_error("train", "--snapshots: needs --save-every N (> 0), the epochs "
                               "between them");
    if (SEEN("save-every") && !o->save_dir && !o->resume_dir)
        return cli_usage_error("train", "--save-every: needs --save DIR (or --resume DIR) to "
                               "checkpoint in");
    if (o->overwrite && !o->save_dir && !o->resume_dir)
        return cli_usage_error("train", "--overwrite: needs --save DIR, the folder whose "
                               "checkpoint it lets the run replace");
    if (o->save_best && !o->save_dir && !o->resume_dir)
        return cli_usage_error("train", "--save-best: needs --save DIR (or --resume DIR) to "
                               "write DIR/best.safetensors in");
    if (o->val_size == 0 &&
        (o->patience > 0 || o->save_best || o->restore_best || sched == CT_SCHED_PLATEAU))
        return cli_usage_error("train", "--%s: watches %s, but %s holds out no validation "
                               "images", o->patience > 0 ? "patience"
                                         : o->save_best  ? "save-best"
                                         : o->restore_best ? "restore-best"
                                                           : "lr-schedule plateau",
                               o->monitor, o->resume_dir ? "the resumed run" : "--val-size 0");
    if (o->clip_value > 0.0f && o->clip_norm > 0.0f)
        return cli_usage_error("train", "--clip-grad-value: not with --clip-grad-norm (one or "
                               "the other, as Keras' clipvalue and clipnorm)");
    if (cli_find(flags, nflags, "min-delta")->seen && o->patience == 0)
        return cli_usage_error("train", "--min-delta: applies to --patience N (not given)");
    if (cli_find(flags, nflags, "monitor")->seen && o->patience == 0 && !o->save_best &&
        !o->restore_best && sched != CT_SCHED_PLATEAU)
        return cli_usage_error("train", "--monitor: applies to --patience, --save-best, "
                               "--restore-best and --lr-schedule plateau (none given)");
    if (o->restore_best && (o->save_dir || o->resume_dir))
        o->save_best = 1; /* its file: what a resumed run restores from */
    /* a fresh run's --schedule is only for phases; a resumed one's is its folded schedule */
    if (!o->resume_dir && seen_schedule && sched != CT_SCHED_PHASES)
        return cli_usage_error("train", "--schedule: only with --lr-schedule phases (%s takes "
                               "--epochs and --lr)", o->lr_schedule);
    if (seen_schedule && (seen_epochs || seen_lr))
        return cli_usage_error("train", "--schedule: cannot be combined with --%s",
                               seen_epochs ? "epochs" : "lr");
    if (seen_epochs && o->epochs > MAX_TOTAL_EPOCHS)
        return cli_usage_error("train", "--epochs: %d is out of range (at most %d)", o->epochs,
                               MAX_TOTAL_EPOCHS);
    if (!seen_schedule && opt != CT_SGD && !seen_lr) { /* PyTorch's defaults */
        c->phases[0].epochs = seen_epochs ? o->epochs : SINGLE_PHASE_EPOCHS;
        c->phases[0].lr = rms                                       ? RMSPROP_DEFAULT_LR
                          : adagrad                                 ? ADAGRAD_DEFAULT_LR
                          : opt == CT_NADAM || opt == CT_ADAMAX     ? NADAM_DEFAULT_LR
                                                                    : ADAM_DEFAULT_LR;
        c->num_phases = 1;
    } else if (seen_epochs || seen_lr || (!seen_schedule && sched != CT_SCHED_PHASES)) {
        if (seen_lr && o->lr > MAX_LR) /* as --schedule's: a resume reads it back as one */
            return cli_usage_error("train", "--lr: at most 1e30, got %s",
                                   cli_float_text(F("lr"), cli_float_typed(F("lr")) <= 1e30, fbuf,
                                                  sizeof fbuf));
        int total = 0;
        for (int i = 0; i < c->num_phases; i++) total += c->phases[i].epochs;
        c->phases[0].epochs = seen_epochs ? o->epochs : (total > 0 ? total : SINGLE_PHASE_EPOCHS);
        c->phases[0].lr = o->lr;
        c->num_phases = 1;
    } else {
        char err[256];
        if (train_parse_schedule(o->schedule, c->phases, &c->num_phases, err, sizeof err) != 0)
            return cli_usage_error("train", "--schedule: %s", err);
    }
    if (o->warmup_sequential && o->warmup_epochs > 0 && sched == CT_SCHED_PHASES &&
        c->num_phases > 1 && !o->resume_dir)
        return cli_usage_error("train", "--warmup-sequential: not with %d phases (--schedule), "
                               "whose epochs count from the run's start: give --lr, or "
                               "--lr-schedule", c->num_phases);
    if (strcmp(o->model, "mlp") != 0 && cli_find(flags, nflags, "hidden")->seen)
        return cli_usage_error("train", "--hidden: only applies to --model mlp (got --model %s)",
                               o->model);
    if (o->nesterov && !(o->momentum > 0) && !cycle)
        return cli_usage_error("train", "--nesterov: needs --momentum > 0 (or the cycled "
                               "momentum of onecycle or cyclic)");
#undef SEEN
#undef F
    char err[256];
    if (train_parse_augment(o->augment, o->dataset, c, err, sizeof err) != 0)
        return cli_usage_error("train", "--augment: %s", err);
    c->batch_size = o->batch_size;
    c->eval_batch_size = o->eval_batch_size;
    c->micro_batch = o->micro_batch;
    c->workers = o->workers;
    c->prefetch = o->prefetch;
    c->data_on_device = strcmp(o->data_on_device, "on") == 0 ? 1
                        : strcmp(o->data_on_device, "off") == 0 ? 0 : -1;
    c->momentum = o->momentum;
    if (opt == CT_ADAMW && !cli_find(flags, nflags, "weight-decay")->seen && !o->resume_dir)
        o->weight_decay = CT_ADAMW_WEIGHT_DECAY; /* PyTorch's default (a resume: the saved) */
    c->weight_decay = o->weight_decay;
    c->bias_wd_set = o->bias_wd_set || cli_find(flags, nflags, "bias-weight-decay")->seen;
    c->norm_wd_set = o->norm_wd_set || cli_find(flags, nflags, "norm-weight-decay")->seen;
    c->bias_weight_decay = c->bias_wd_set ? o->bias_weight_decay : 0.0f;
    c->norm_weight_decay = c->norm_wd_set ? o->norm_weight_decay : 0.0f;
    c->nesterov = o->nesterov;
    c->seed = o->seed;
    c->optimizer = (ct_optimizer_kind)opt;
    c->beta1 = cycle ? 0.0f : o->beta1; /* (cycled: --betas gives beta2, as to OneCycleLR) */
    c->beta2 = o->beta2;
    c->eps = o->eps;
    c->alpha = rms ? o->alpha : 0.0f;
    c->centered = rms ? o->centered : 0;
    c->schedule = (ct_schedule_kind)sched;
    c->step_size = o->step_size;
    if (sched != CT_SCHED_MULTISTEP) c->num_milestones = 0; /* (multistep's: parsed above) */
    c->power = sched == CT_SCHED_POLYNOMIAL ? o->power : 0.0f;
    const int cyclic = sched == CT_SCHED_CYCLIC;
    c->cyclic_base_lr = cyclic ? o->base_lr : 0.0f;
    c->cyclic_up = cyclic ? o->step_size_up : 0.0f;
    c->cyclic_down = cyclic ? o->step_size_down : 0.0f;
    c->cyclic_mode = !cyclic                                  ? 0
                     : strcmp(o->cyclic_mode, "triangular2") == 0 ? CT_CYCLIC_TRIANGULAR2
                     : strcmp(o->cyclic_mode, "exp_range") == 0   ? CT_CYCLIC_EXP_RANGE
                                                                  : CT_CYCLIC_TRIANGULAR;
    c->gamma = o->gamma;
    c->plateau_patience = train_patience_config(o->lr_patience);
    c->plateau_max = strcmp(o->monitor, "val_acc") == 0; /* (also the saved --monitor) */
    /* (the default as the library's 0: PyTorch's 1e-4 in double, not the float nearest it) */
    c->plateau_threshold = o->lr_threshold == 1e-4f ? 0.0f
                           : o->lr_threshold > 0.0f ? o->lr_threshold
                                                    : CT_THRESHOLD_NONE;
    c->plateau_threshold_abs = strcmp(o->lr_threshold_mode, "abs") == 0;
    c->plateau_cooldown = o->lr_cooldown;
    c->plateau_min_lr = o->min_lr;
    c->eta_min = o->eta_min;
    c->restart_epochs = sched == CT_SCHED_COSINE_RESTARTS ? o->t0 : 0;
    c->restart_mult = sched == CT_SCHED_COSINE_RESTARTS ? o->t_mult : 0;
    c->pct_start = o->pct_start;
    c->div_factor = o->div_factor;
    c->final_div_factor = o->final_div_factor;
    c->three_phase = o->three_phase;
    c->anneal_linear = strcmp(o->anneal, "linear") == 0;
    c->cycle_momentum = cycle;
    c->base_momentum = cycle ? cyc.base_momentum : 0.0f;
    c->max_momentum = cycle ? cyc.max_momentum : 0.0f;
    c->warmup_epochs = o->warmup_epochs;
    c->warmup_start_factor = o->warmup_start_factor;
    c->warmup_constant = o->warmup_epochs > 0 && strcmp(o->warmup_method, "constant") == 0;
    c->warmup_sequential = o->warmup_epochs > 0 && o->warmup_sequential;
    c->lr_step_epoch = strcmp(o->lr_step, "epoch") == 0;
    c->clip_norm = o->clip_norm;
    c->clip_value = o->clip_value;
    if (!(o->label_smoothing <= 1.0f))
        return cli_usage_error("train", "--label-smoothing: %g is not in [0, 1]",
                               (double)o->label_smoothing);
    c->label_smoothing = o->label_smoothing;
    if (!(o->mixup_alpha <= CT_MAX_MIX_ALPHA) || !(o->cutmix_alpha <= CT_MAX_MIX_ALPHA))
        return cli_usage_error("train", "--%s: %g is more than %g",
                               o->mixup_alpha > CT_MAX_MIX_ALPHA ? "mixup-alpha" : "cutmix-alpha",
                               (double)(o->mixup_alpha > CT_MAX_MIX_ALPHA ? o->mixup_alpha
                                                                          : o->cutmix_alpha),
                               (double)CT_MAX_MIX_ALPHA);
    c->mixup_alpha = o->mixup_alpha;
    c->cutmix_alpha = o->cutmix_alpha;
    if (o->class_weight && strcmp(o->class_weight, "off") != 0 &&
        (o->mixup_alpha > 0.0f || o->cutmix_alpha > 0.0f))
        return cli_usage_error("train", "--class-weight: not with --%s (a mixed image has two "
                               "classes)", o->mixup_alpha > 0.0f ? "mixup-alpha" : "cutmix-alpha");
    if (o->class_weight) { /* (the count and balanced's values need the data: train_data.c) */
        float w[CT_MAX_CLASSES];
        int n;
        char err[160];
        if (train_parse_class_weight(o->class_weight, w, &n, err, sizeof err) != 0)
            return cli_usage_error("train", "--class-weight %.40s: %s", o->class_weight, err);
    }
    if (!(o->ema_decay < 1.0f))
        return cli_usage_error("train", "--ema: %s is not in [0, 1) (the weight the average "
                               "keeps at each step)",
                               cli_float_text(cli_find(flags, nflags, "ema"),
                                              cli_float_typed(cli_find(flags, nflags, "ema")) < 1.0,
                                              fbuf, sizeof fbuf));
    c->ema_decay = o->ema_decay;
    if (o->ema_warmup && !(o->ema_decay > 0.0f))
        return cli_usage_error("train", "--ema-warmup: needs --ema DECAY (the moving average it "
                               "warms up)");
    c->ema_warmup = o->ema_warmup;
    c->repeated_aug = o->repeated_aug > 1 ? o->repeated_aug : 0; /* (1: off, as 0) */
    char aug_text[512];
    train_format_augment(c, aug_text, sizeof aug_text);
    if (c->repeated_aug && strcmp(aug_text, "off") == 0)
        return cli_usage_error("train", "--repeated-aug %d: needs --augment (each copy of an "
                               "image augmented by its own draw; without, the copies are the "
                               "same image)", o->repeated_aug);
    if (train_swa_options(o, flags, nflags) != CLI_EXIT_OK) return CLI_EXIT_USAGE;
    /* the library's own check, for whatever combination the flags above let through */
    if (ct_train_config_check(c) != CT_OK) {
        const char *msg = ct_last_error();
        return cli_usage_error("train", "%s", msg && *msg ? msg : "bad optimizer settings");
    }
    return CLI_EXIT_OK;
}
