/*
 * train_cmd.c — `ctrain train`: the PyTorch MNIST tutorial by default, every part a flag.
 *
 * Steps: open the device, find (fetch) the data, load train/test, split train into train/val,
 * build the model, evaluate once before training, fit with the phases of the schedule (one
 * "Epoch [i], val_loss: ..., val_acc: ..." line per epoch, progress bar on a terminal), then
 * evaluate the test set. The stdout lines below are parsed by bench scripts; keep them exact:
 *     Before training: val_loss: 2.3012, val_acc: 0.1032
 *     Epoch [3], val_loss: 0.1234, val_acc: 0.9567
 *     test_loss: 0.0912, test_acc: 0.9712
 *     Training time: 1.234 s (0.123 s/epoch)
 * and, without --quiet, the time of the validation passes after the epochs:
 *     Validation time: 0.110 s (0.011 s/pass)
 * While ct_fit runs (the callbacks, the signals, what an early stop says): train_fit.c.
 */
#include "args.h"
#include "cli.h"
#include "dist_cli.h"
#include "train_fit.h"

#include "ctrain.h"

#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int cmd_train(int argc, char **argv) {
    train_opts o;
    cli_flag flags[NUM_TRAIN_FLAGS];
    train_opts_init(&o);
    int nflags = train_make_flags(&o, flags);
    switch (cli_parse("train", flags, nflags, argc, argv, NULL, 0, NULL)) {
    case CLI_PARSE_HELP: train_help(stdout); return CLI_EXIT_OK;
    case CLI_PARSE_ERROR: return CLI_EXIT_USAGE;
    case CLI_PARSE_OK: break;
    }
    if (train_parse_val_size(&o) != CLI_EXIT_OK) return CLI_EXIT_USAGE;
    ct_checkpoint *ck = NULL; /* the train state being resumed */
    if (o.resume_dir && o.init_path)
        return cli_usage_error("train", "--init: a resumed run has its own weights (--resume "
                               "%s)", o.resume_dir);
    if (o.resume_dir && o.lr_find) /* (before the train state is read: see finish_options) */
        return cli_usage_error("train", "--resume: does not apply to --lr-find, which trains no "
                               "run: it ramps its own lr (--lr-find-range) over --lr-find-steps "
                               "steps and keeps nothing");
    if (o.resume_dir) {
        int r = train_resume_options(&o, flags, nflags, &ck);
        if (r != CLI_EXIT_OK) return r;
    }
    struct sigaction old_sigs[3]; /* (the handlers before the Plan line) */
    int signals_set = 0;
    cli_model init; /* --init: the file whose weights the model starts from */
    int r_init = train_open_init(&o, flags, nflags, &init);
    if (r_init != CLI_EXIT_OK) {
        ct_checkpoint_free(ck);
        return r_init;
    }
    if (train_finish_options(&o, flags, nflags) != CLI_EXIT_OK ||
        (ck && train_resume_check_schedule(&o, ck) != CLI_EXIT_OK)) {
        ct_checkpoint_free(ck);
        cli_close_model(&init);
        return CLI_EXIT_USAGE;
    }
    /* what --save and --log would destroy, where they are written: by rank 0 of an mpirun
     * (every rank checks when the launcher does not say which one this is) */
    int launch_rank = 0;
    int n_launched = ct_dist_launched(&launch_rank, &(int){0});
    int r0 = n_launched == 0 || launch_rank <= 0;
    int out_rc = r0 ? train_check_outputs(&o) : CLI_EXIT_OK;
    if (out_rc == CLI_EXIT_OK && o.lr_find && (n_launched > 1 || n_launched < 0)) {
        out_rc = CLI_EXIT_USAGE; /* (said by rank 0 alone: every rank sees the same) */
        if (r0) cli_usage_error("train", "--lr-find: runs in one process, not under mpirun");
    }
    if (out_rc == CLI_EXIT_OK && o.tensorboard_every > 0 && (n_launched > 1 || n_launched < 0)) {
        out_rc = CLI_EXIT_USAGE; /* (each rank holds its share of a batch's loss, not all-reduced) */
        if (r0) cli_usage_error("train", "--tensorboard-every: not under mpirun (a rank holds the "
                                "running loss of its share of each batch only)");
    }
    if (out_rc != CLI_EXIT_OK) {
        ct_checkpoint_free(ck);
        cli_close_model(&init);
        return out_rc;
    }
    /* under mpirun -np N: one rank of a data-parallel job; only rank 0 prints and writes files */
    ct_dist *dist = NULL;
    if (cli_dist_start(&dist, o.quiet, o.dist_timeout, argc, argv, flags, nflags) !=
        CLI_EXIT_OK) {
        ct_checkpoint_free(ck);
        cli_close_model(&init);
        return CLI_EXIT_ERROR;
    }
    o.threads = cli_dist_threads(dist, o.threads); /* --threads 0: this rank's share of cores */
    int quiet_rank = ct_dist_rank(dist) != 0;
    if (quiet_rank) {
        o.quiet = 1;
        o.plot_dir = NULL;
        o.log_path = o.tensorboard_dir = NULL;
    }
    o.cfg.dist = dist;
    const ct_train_config *cfg = &o.cfg;
    int total_epochs = 0;
    for (int i = 0; i < cfg->num_phases; i++) total_epochs += cfg->phases[i].epochs;

    ct_dataset *train = NULL, *test = NULL;
    char *folder_names = NULL; /* --dataset folder: its classes, one a line */
    int32_t *train_idx = NULL, *val_idx = NULL;
    ct_backend *b = NULL;
    ct_model *m = NULL;
    train_run run;
    memset(&run, 0, sizeof run);
    run.save_lock = -1;
    run.o = &o;
    run.total_epochs = total_epochs;
    run.save_dir = quiet_rank ? NULL : o.save_dir ? o.save_dir : o.resume_dir;
    int rc = CLI_EXIT_ERROR;
    ct_status s;

    /* Under mpirun, each step below that a rank may fail on its own ends at cli_dist_agree:
     * every rank stops there together, and an error they all share is said once. */

    /* 1. the device first: a wrong --device fails before any download or load. Under mpirun,
     * each rank of a host takes its own GPU (local rank modulo the GPUs), by ordinal rather
     * than CUDA_VISIBLE_DEVICES, which MPI_Init may already have made too late to set. */
    rc = CLI_EXIT_OK;
    cli_dist_hold(dist);
    if ((s = ct_backend_create_local(o.device, o.threads, dist ? ct_dist_local_rank(dist) : 0,
                                     &b)) != CT_OK)
        rc = cli_lib_error(s);
    if ((rc = cli_dist_agree(dist, rc)) != CLI_EXIT_OK) goto done;
    if (!o.quiet) {
        const char *why = ct_cuda_unavailable_reason();
        int say_why = strcmp(o.device, "auto") == 0 && strcmp(ct_backend_name(b), "cuda") != 0 &&
                      why && *why;
        printf("Device: %s (%s%s%s)\n", ct_backend_name(b), ct_backend_description(b),
               say_why ? "; CUDA not used: " : "", say_why ? why : "");
    }
    if (dist) { /* collective: every rank, quiet or not */
        if ((s = ct_dist_use_backend(dist, b)) != CT_OK) goto lib_error;
        if (!o.quiet) printf("Gradients: summed across ranks with %s\n", ct_dist_reduce_path(dist));
    }
    if (!o.quiet) {
        fflush(stdout); /* before any fetch log on stderr */
    }

    /* 2. the data folder (MNIST: fetched when files are missing), 3. the training and test sets */
    cli_dist_hold(dist);
    rc = train_load_data(&o, dist, &run, &train, &test, &folder_names);
    if ((rc = cli_dist_agree(dist, rc)) != CLI_EXIT_OK) goto done;
    /* every rank the same data, test set included (ct_fit checks the training set's again) */
    if ((s = ct_dist_check_dataset(dist, train, "training set")) != CT_OK ||
        (s = ct_dist_check_dataset(dist, test, "test set")) != CT_OK)
        goto lib_error;
    if (o.save_dir || o.resume_dir) /* (8 ms for MNIST's 47 MB: only when it is used) */
        snprintf(run.data_fingerprint, sizeof run.data_fingerprint, "%016llx",
                 (unsigned long long)ct_dataset_fingerprint(train));

    /* 4. the model: new, or the resumed run's (weights, optimizer state, position, history) */
    int in_c = ct_dataset_channels(train), in_h = ct_dataset_height(train);
    int in_w = ct_dataset_width(train), classes = ct_dataset_classes(train);
    if (ct_dataset_classes(test) > classes) /* idx: classes come from each part's labels */
        classes = ct_dataset_classes(test);
    int is_mlp = strcmp(o.model, "mlp") == 0 && strcmp(o.normalize, "off") == 0;
    char spec_buf[MODEL_SPEC_BYTES];
    const char *spec = cli_model_spec(o.model, o.hidden, classes, spec_buf, sizeof spec_buf);
    /* (--init's model with a last layer for these classes: train_init.c) */
    spec = train_init_spec(&o, spec, classes, strcmp(o.dataset, "folder") == 0);
    /* a preset asked for by name (its ResNets' convs are initialised as torchvision's) */
    char preset[32] = "";
    if (strcmp(o.model, "mlp") != 0 && ct_model_preset(o.model)) /* (mlp: its layers, as before) */
        snprintf(preset, sizeof preset, "%s", o.model);
    char norm_err[256]; /* --normalize: a normalize layer in front, the run's model from now on
                         * (saved as its --model: a resume builds it again) */
    if (strcmp(o.normalize, "off") != 0) {
        if (train_normalize_spec(o.normalize, train, spec, o.model_normalized,
                                 sizeof o.model_normalized, norm_err, sizeof norm_err) != 0) {
            rc = cli_usage_error("train", "--normalize: %s", norm_err);
            goto done;
        }
        spec = o.model = o.model_normalized;
    }
    int64_t n_batches = 0; /* per epoch */
    ct_backbone_fit fit = {0}; /* what --init's weights were fitted to the model */
    ct_init_scheme tv_init = CT_INIT_DEFAULT; /* a torchvision preset's weights drawn as its */
    int resumed_epochs = 0;
    rc = CLI_EXIT_ERROR;
    cli_dist_hold(dist);
    if (ct_dataset_channels(test) != in_c || ct_dataset_height(test) != in_h ||
        ct_dataset_width(test) != in_w) {
        cli_error("%s in %s: the test images are (%d, %d, %d) but the training images (%d, %d, "
                  "%d)", o.dataset, run.data_dir, ct_dataset_channels(test),
                  ct_dataset_height(test), ct_dataset_width(test), in_c, in_h, in_w);
        goto built;
    }
    if (classes < 2) { /* idx labels all 0: a one-output model, 100% accurate, learning nothing */
        cli_error("%s in %s: every label is 0 (one class): nothing to classify", o.dataset,
                  run.data_dir);
        goto built;
    }
    if ((rc = train_split(&o, &run, train, &train_idx, &val_idx)) != CLI_EXIT_OK) goto built;
    rc = CLI_EXIT_ERROR;
    /* the most samples fit and evaluate compute at once: a batch size above the samples is all
     * of them; a rank computes its share of a training batch; --micro-batch N at most N. The
     * model holds them in its shards (CPU threads), max_batch each. */
    int max_batch;
    {
        int64_t n_test = ct_dataset_count(test), n_eval = run.n_val > n_test ? run.n_val : n_test;
        int64_t train_b = cfg->batch_size < run.n_train ? cfg->batch_size : run.n_train;
        int64_t eval_b = cfg->eval_batch_size < n_eval ? cfg->eval_batch_size : n_eval;
        n_batches = (run.n_train + train_b - 1) / train_b;
        int64_t micro = cfg->micro_batch, rows = ct_dist_largest_share(dist, train_b);
        if (eval_b > rows) rows = eval_b;
        if (micro > 0 && micro < rows) rows = micro;
        int64_t shards = ct_backend_shards(b);
        max_batch = (int)((rows + shards - 1) / shards);
    }
    if ((s = ct_model_create(b, spec, in_c, in_h, in_w, max_batch, o.seed, &m)) != CT_OK) {
        char text[400]; /* (a preset by its name: "mobilenet_v2 for 1000 classes") */
        /* (the spec is the resumed or --init file's when o.model is o.model_resumed) */
        if (s == CT_ERR_INVALID && (o.resume_dir || o.model == o.model_resumed))
            cli_error("%s: its model %s cannot be built for these %dx%dx%d images: %s%s",
                      o.resume_dir ? ct_checkpoint_path(ck) : init.path,
                      ct_spec_text(o.model, 1, text, sizeof text), in_c, in_h, in_w,
                      ct_last_error(), o.resume_dir ? "" : " (--model with a last layer of "
                      "these classes fine-tunes from its weights: a preset's name, or its layers)");
        else if (s != CT_ERR_INVALID)
            cli_lib_error(s);
        else
            rc = cli_usage_error("train", "--%s: %s", is_mlp ? "hidden" : "model", ct_last_error());
        goto built;
    }
    run.m = m;
    /* a new torchvision preset's weights as torchvision draws them (convs kaiming_normal_) */
    tv_init = !ck && !o.init_path ? ct_model_preset_init(preset) : CT_INIT_DEFAULT;
    if ((s = ct_model_init_torchvision(m, tv_init, o.seed)) != CT_OK) {
        cli_lib_error(s);
        goto built;
    }
    /* RandomErasing's value 0 after Normalize: the normalize layer's mean before it */
    if (o.cfg.augment_erase_p > 0.0f)
        o.erase_to_mean = ct_model_input_mean(m, o.cfg.augment_erase_fill);
    if ((rc = train_load_init(&o, &init, m, &fit)) != CLI_EXIT_OK ||
        (rc = train_freeze(&o, m, cli_find(flags, nflags, "freeze")->seen)) != CLI_EXIT_OK)
        goto built;
    rc = CLI_EXIT_ERROR;
    cli_close_model(&init); /* the weights are in the model: the file goes (its path stays) */
    if (ct_model_num_classes(m) < classes) { /* a label the model has no output for */
        if (ck || o.model == o.model_resumed) /* the resumed or --init file's own model */
            cli_error("%s: its model outputs %d classes, but the %s data has %d",
                      ck ? ct_checkpoint_path(ck) : init.path, ct_model_num_classes(m),
                      o.dataset, classes);
        else
            rc = cli_usage_error("train", "--model: its last layer outputs %d classes, but the "
                                 "%s data has %d (end it with linear(%d))",
                                 ct_model_num_classes(m), o.dataset, classes, classes);
        goto built;
    }
    run.history = calloc((size_t)total_epochs + 1, sizeof *run.history);
    if (!run.history) {
        cli_error("out of memory (history of %d epochs)", total_epochs);
        goto built;
    }
    if (ck) {
        /* other data would not continue the same run (absent in files of before 5 Dec 2026) */
        const char *fp = ct_checkpoint_meta(ck, "data_fingerprint");
        if (fp && strcmp(fp, run.data_fingerprint) != 0) {
            cli_error("%s: the %s training set in %s is not the data this run was trained on "
                      "(fingerprint %s, saved %.20s); resuming needs the same data",
                      ct_checkpoint_path(ck), o.dataset, run.data_dir, run.data_fingerprint, fp);
            goto built;
        }
        ct_train_config saved;
        ct_epoch_result *hist = NULL;
        if ((s = ct_checkpoint_load_train_state(ck, m, &saved, &run.before, &hist,
                                                &resumed_epochs)) != CT_OK) {
            cli_lib_error(s);
            goto built;
        }
        memcpy(run.history, hist, (size_t)resumed_epochs * sizeof *hist);
        free(hist);
        o.cfg.resume = saved.resume;
        ct_fit_position p = saved.resume; /* within this run (ct_fit checks it too, nameless) */
        if (p.epoch > total_epochs || p.batch > n_batches || (p.epoch == total_epochs && p.batch)) {
            cli_error("%s: position epoch %d batch %lld is outside this run (%d epochs of %lld "
                      "batches)", ct_checkpoint_path(ck), p.epoch, (long long)p.batch,
                      total_epochs, (long long)n_batches);
            goto built;
        }
    }
    if ((rc = train_class_weights(&o, train, train_idx, run.n_train, ct_model_num_classes(m))) !=
        CLI_EXIT_OK)
        goto built;
    rc = CLI_EXIT_ERROR;
    /* --class-names (else the resumed run's): kept in the model's metadata for eval, show and
     * predict, one a line */
    if (o.class_names_path) {
        if ((rc = cli_read_class_names("train", "class-names", o.class_names_path,
                                       ct_model_num_classes(m), &o.class_names_text)) !=
            CLI_EXIT_OK)
            goto built;
    } else if (ck && ct_checkpoint_meta(ck, "class_names")) {
        cli_names check; /* (malformed in the train state: said, naming the file) */
        if (cli_model_class_names(ck, NULL, ct_model_num_classes(m), "train", NULL, &check) !=
            CLI_EXIT_OK)
            goto built;
        cli_names_free(&check);
        if (!(o.class_names_text = strdup(ct_checkpoint_meta(ck, "class_names")))) {
            cli_error("out of memory (class names)");
            goto built;
        }
    } else if (!ck && folder_names) { /* --dataset folder: its class folders' names, one an
                                        * output (else eval, show and predict refuse the file) */
        if (ct_model_num_classes(m) != classes) {
            if (o.model == o.model_resumed) /* --init's own model */
                cli_error("%s: its model outputs %d classes, but the folder data has %d",
                          init.path, ct_model_num_classes(m), classes);
            else
                rc = cli_usage_error("train", "--model: its last layer outputs %d classes, but "
                                     "the folder data has %d class folders (end it with "
                                     "linear(%d))", ct_model_num_classes(m), classes, classes);
            goto built;
        }
        o.class_names_text = folder_names, folder_names = NULL;
    }
    rc = CLI_EXIT_OK;
built:
    if ((rc = cli_dist_agree(dist, rc)) != CLI_EXIT_OK) goto done;
    rc = CLI_EXIT_ERROR; /* until the end: each failure below says its own */
    /* Ctrl-C, SIGTERM and SIGUSR1 (which Open MPI's mpirun forwards to every rank) from here on
     * stop the run cleanly after its current step (and checkpoint); one during the validation
     * before training takes effect at the first step (every rank stops at the same step). Set
     * before the Plan line: a shell's background job ignores SIGINT until then. */
    if (!o.lr_find) signals_set = 1, train_catch_signals(old_sigs);
    if (!o.quiet) {
        long long params = (long long)ct_model_param_count(m);
        char from[sizeof init.path + 256] = "", summed[160] = ""; /* --init */
        if (fit.grey)
            snprintf(summed, sizeof summed, ", the first conv's summed over its %d input "
                     "channels for grey images", fit.grey);
        if (fit.pos_from) /* (as torchvision's interpolate_embeddings) */
            snprintf(summed + strlen(summed), sizeof summed - strlen(summed), ", the position "
                     "embeddings resized from %dx%d to %dx%d patches", fit.pos_from,
                     fit.pos_from, fit.pos_to_h, fit.pos_to_w);
        if (o.init_path)
            snprintf(from, sizeof from, ", weights from %s%s%s", init.path,
                     fit.new_head ? " but the last layer's, new for these classes" : "", summed);
        if (is_mlp)
            printf("Model: %lld -> %d -> ReLU -> %d (%lld parameters%s)\n",
                   (long long)in_c * in_h * in_w, o.hidden, classes, params, from);
        else { /* "resnet18 for 3 classes, after normalize(0.5,0.25)", or the layers */
            char text[400];
            printf("Model: %s (%lld parameters%s%s)\n", ct_spec_text(spec, 0, text, sizeof text),
                   params, tv_init == CT_INIT_RESNET ? ", convs initialised as torchvision's ResNets"
                   : tv_init == CT_INIT_MOBILENET ? (strncmp(preset, "mobilenet_v3", 12)
                                                     ? ", initialised as torchvision's MobileNetV2"
                                                     : ", initialised as torchvision's MobileNetV3")
                   : tv_init == CT_INIT_EFFICIENTNET ? ", initialised as torchvision's EfficientNet"
                   : tv_init == CT_INIT_VIT ? ", initialised as torchvision's VisionTransformer"
                   : "", from);
        }
        if (cfg->frozen_layers > 0) {
            char what[160];
            train_frozen_text(m, cfg->frozen_layers, what, sizeof what);
            long long frozen = (long long)ct_model_frozen_params(m, cfg->frozen_layers);
            printf("Frozen: %s (%lld parameters; they run as at inference), %lld train\n", what,
                   frozen, params - frozen);
        }
        char why[256] = "";
        int on = ct_data_on_device_choice(m, train, cfg->data_on_device, why, sizeof why);
        char where[320];
        if (!why[0]) snprintf(why, sizeof why, "%s", on ? "resident on the device" : "host loader");
        if (on)
            snprintf(where, sizeof where, "%s", why);
        else if (cfg->workers == 0)
            snprintf(where, sizeof where, "%s, in the training thread (--workers 0)", why);
        else
            snprintf(where, sizeof where, "%s, %d worker%s", why, cfg->workers,
                     cfg->workers == 1 ? "" : "s");
        const int val_folder = ct_dataset_val_count(train) && run.n_val;
        char eval_tf[96] = ""; /* --val-resize: torchvision's evaluation transform */
        if (o.val_resize)
            snprintf(eval_tf, sizeof eval_tf, "; %s: Resize(%d), CenterCrop",
                     val_folder ? "val and test" : "test", o.val_resize);
        printf("Data: %lld train / %lld val%s / %lld test images (%dx%dx%d%s), %s\n",
               (long long)run.n_train, (long long)run.n_val, val_folder ? " (the val folder)" : "",
               (long long)ct_dataset_count(test), in_c, in_h, in_w, eval_tf, where);
        train_print_classes(&o, train); /* (--dataset folder) */
        if (!o.lr_find) train_print_plan(&o, total_epochs, run.n_train, run.save_dir);
    }
    fflush(stdout);
    if (o.lr_find) { /* a probe, not a run: nothing but its picture is written */
        rc = train_lr_find(&run, train, train_idx);
        goto done;
    }
    /* what ct_fit would refuse (under mpirun: any difference between the ranks, a resumed
     * state's included) is refused before --save, --plot and --log create anything */
    if ((s = ct_fit_check(m, train, train_idx, run.n_train, val_idx, run.n_val, cfg,
                          run.history)) != CT_OK)
        goto lib_error;
    /* rank 0's outputs (the others have none): a folder made here for them is taken away
     * again when a later one fails (--log in a folder that cannot be made, say); under mpirun
     * the ranks then stop together, without MPI_Abort */
    cli_dist_hold(dist);
    cli_made made_save = {0}, made_plot = {0};
    int outs_rc = CLI_EXIT_ERROR;
    if (run.save_dir && cli_mkdirs(run.save_dir, &made_save) != 0) {
    } else if (run.save_dir && (run.save_lock = cli_lock_dir(run.save_dir, o.save_dir ?
                                                              "--save" : "--resume")) == -1) {
        made_save.n = 0; /* (a folder this run made is the other's now: not taken away) */
    } else if (o.plot_dir && cli_mkdirs(o.plot_dir, &made_plot) != 0) {
    } else if (train_tb_prepare(&run, resumed_epochs) == 0 &&
               train_log_open(&run, resumed_epochs) == 0) {
        outs_rc = CLI_EXIT_OK;
    }
    /* best.safetensors: a replaced run's goes at this run's first checkpoint (a run that fails
     * before leaves that run's folder whole); one resumed in its own folder is kept */
    run.best_saved = run.best.epoch = run.last.epoch = run.restored = -1;
    const char *ckdir = o.save_dir ? o.save_dir : o.resume_dir; /* (every rank's: they restore) */
    if (ckdir && train_save_replaces(&o)) {
        run.stale_best = run.save_dir && o.overwrite;
        run.best_from = resumed_epochs;
    } else if (ckdir && resumed_epochs > 0) { /* its own folder: as it was saved */
        char best[PATH_MAX + 32];
        run.best_from = o.best_from_resumed <= resumed_epochs ? o.best_from_resumed : resumed_epochs;
        snprintf(best, sizeof best, "%s/best.safetensors", ckdir);
        if (o.save_best && access(best, F_OK) == 0)
            run.best_saved = train_best_epoch(&run, run.best_from, resumed_epochs - 1);
        /* --restore-best added now (or its file gone): the weights of the epochs before are
         * not at hand, so it weighs the epochs from here on (its best.safetensors too) */
        if (o.restore_best && run.best_saved < 0) run.best_from = resumed_epochs;
        if (outs_rc == CLI_EXIT_OK && train_best_resume(&run, ckdir) != 0) outs_rc = CLI_EXIT_ERROR;
    }
    if (outs_rc != CLI_EXIT_OK) { /* (rmdir: only while empty) */
        train_tb_unprepare(&run);
        cli_rmdirs(o.plot_dir, &made_plot);
        cli_rmdirs(run.save_dir, &made_save);
    }
    if ((rc = cli_dist_agree(dist, outs_rc)) != CLI_EXIT_OK) goto done;
    rc = CLI_EXIT_ERROR;

    /* 5. the tutorial's history = [evaluate(model, val_loader)]; a resumed run has it */
    ct_eval_result ev;
    if (ck) {
        ct_fit_position p = cfg->resume;
        if (!o.quiet)
            printf("Resumed from %s: epoch %d, batch %lld/%lld\n", o.resume_dir, p.epoch,
                   (long long)p.batch, (long long)n_batches);
        if (!o.quiet && p.epoch >= total_epochs)
            printf("Nothing to train: the run has done its %d epoch%s (--epochs N extends it); "
                   "testing it\n", total_epochs, total_epochs == 1 ? "" : "s");
        ct_checkpoint_free(ck);
        ck = NULL;
    } else if (run.n_val > 0) {
        if ((s = ct_evaluate_dist(m, train, val_idx, run.n_val, cfg->eval_batch_size,
                                  cfg->label_smoothing, dist, &ev)) != CT_OK)
            goto lib_error_restore;
        run.before = ev;
        printf("Before training: val_loss: %.4f, val_acc: %.4f\n", cli_metric(ev.loss),
               ev.accuracy);
    }
    fflush(stdout);
    train_tb_start(&run);

    /* 6. fit, a signal (above) turned into a clean stop (and a checkpoint) */
    fit_state st = {.epochs_done = 0, .run = &run, .test_stop_epoch = -1, .early_epoch = -1,
                    .pruned_epoch = -1, .diverged_epoch = -1};
    const char *stop_at = getenv("CTRAIN_TEST_INTERRUPT_AT");
    long long stop_batch = 0;
    if (stop_at && sscanf(stop_at, "%d:%lld", &st.test_stop_epoch, &stop_batch) == 2)
        st.test_stop_batch = stop_batch;
    else
        st.test_stop_epoch = -1;
    /* the bar: on stderr when it is a terminal (under mpirun it never is: Open MPI pipes the
     * ranks' stderr, and gives their stdout a terminal even when mpirun's goes to a file) */
    progress_init(&st.bar, !o.quiet && isatty(STDERR_FILENO) ? stderr : NULL, total_epochs);
    ct_callbacks cb = {.on_step = train_on_step, .on_epoch = train_on_epoch, .user = &st};
    double t0 = ct_time_s();
    s = ct_fit(m, train, train_idx, run.n_train, val_idx, run.n_val, cfg, &cb, run.history);
    double fit_s = ct_time_s() - t0;
    progress_clear(&st.bar);
    /* --patience: every rank decides alike (the val losses are all-reduced), whatever signal
     * reached which rank; a signal is still honoured after the test and the save below */
    if (s == CT_ERR_INTERRUPTED && st.early_epoch >= 0) {
        char by[48] = "";
        if (o.min_delta > 0.0f) snprintf(by, sizeof by, " by more than %g", (double)o.min_delta);
        printf("Early stopping after epoch %d (%d of %d epochs run): %s has not improved%s "
               "for %d epoch%s", st.early_epoch, st.early_epoch + 1, total_epochs,
               train_monitor_name(&o), by, o.patience, o.patience == 1 ? "" : "s");
        if (st.best_epoch >= 0)
            printf(" (best %.4f at epoch %d)\n", cli_metric(train_monitored(&run, st.best_epoch)),
                   st.best_epoch);
        else
            printf(" (it is NaN)\n");
        s = CT_OK;
    }
    if (s == CT_ERR_INTERRUPTED && st.pruned_epoch >= 0) { /* (sweep_report.c reads this line) */
        printf("Pruned after epoch %d (%d of %d epochs run): %s\n", st.pruned_epoch,
               st.pruned_epoch + 1, total_epochs, st.pruned_msg);
        s = CT_OK;
    }
    if (s == CT_ERR_INTERRUPTED && st.diverged_epoch >= 0) {
        train_report_divergence(&run, st.diverged_epoch, st.weights_msg, &made_save);
        rc = dist ? CLI_EXIT_ERROR_ALL : CLI_EXIT_ERROR; /* under mpirun: every rank alike */
        goto restore;
    }
    if (s == CT_ERR_INTERRUPTED && st.save_failed) { /* its message is printed: no retry */
        /* (best.safetensors failed: the run's checkpoint, other files, is still written) */
        int saved = st.save_failed == 2 && train_save(&run, NULL) == 0;
        if (ct_dist_rank(dist) == 0)
            fprintf(stderr, "ctrain: stopped after %d of %d epochs: a checkpoint could not be "
                    "written (above)%s%s\n", ct_model_fit_position(m).epoch, total_epochs,
                    saved ? "; the run is saved in " : "", saved ? run.save_dir : "");
        rc = CLI_EXIT_ERROR;
        goto restore;
    }
    if (s == CT_ERR_INTERRUPTED || (s == CT_OK && train_interrupted())) {
        int saved_ok = run.save_dir ? train_save(&run, NULL) == 0 : 0;
        train_report_interrupt(&run, saved_ok);
        rc = CLI_EXIT_INTERRUPTED;
        goto restore;
    }
    if (s != CT_OK) goto lib_error_restore;

    /* 7. the best weights (--restore-best), the test set, the time, and the final checkpoint */
    if (train_best_restore(&run, ct_model_fit_position(m).epoch - 1) != 0) {
        rc = CLI_EXIT_ERROR; /* (under mpirun, cli_dist_end ends the job) */
        goto restore;
    }
    if (cfg->swa && (s = train_swa_end(&run, train, train_idx, val_idx, dist)) != CT_OK)
        goto lib_error_restore;
    train_swa_outputs(&run, ct_model_fit_position(m).epoch);
    if ((s = ct_evaluate_dist(m, test, NULL, ct_dataset_count(test), cfg->eval_batch_size,
                              cfg->label_smoothing, dist, &ev)) != CT_OK)
        goto lib_error_restore;
    printf("test_loss: %.4f, test_acc: %.4f\n", cli_metric(ev.loss), ev.accuracy);
    train_tb_test(&run, &ev, ct_model_fit_position(m).epoch);
    printf("Training time: %.3f s (%.3f s/epoch)\n", fit_s,
           train_median_s(run.history + resumed_epochs, st.epochs_done, 0));
    if (!o.quiet && run.n_val > 0 && st.epochs_done > 0) {
        double val_total = 0.0;
        for (int i = 0; i < st.epochs_done; i++) val_total += run.history[resumed_epochs + i].val_s;
        printf("Validation time: %.3f s (%.3f s/pass)\n", val_total,
               train_median_s(run.history + resumed_epochs, st.epochs_done, 1));
    }
    if (!o.quiet && st.epochs_done > 0) { /* on a GPU: how the steps ran */
        long long replayed = 0;
        for (int i = 0; i < st.epochs_done; i++) replayed += run.history[resumed_epochs + i].graph_steps;
        const char *note = ct_model_step_graph(m);
        if (note[0]) printf("Step graphs: %s\n", note);
        else if (replayed > 0)
            printf("Step graphs: %lld training steps replayed from recorded CUDA graphs\n",
                   replayed);
        const char *fused = ct_model_fused_step(m);
        if (fused[0]) printf("Fused step: %s\n", fused);
    }
    fflush(stdout);
    rc = CLI_EXIT_OK;
    if (run.save_dir) {
        if (train_save(&run, &ev) != 0) rc = CLI_EXIT_ERROR;
        else if (!o.quiet) printf("Saved: %s\n", run.save_dir);
    }
    if (train_interrupted() && rc == CLI_EXIT_OK) { /* a signal during the test or the save */
        train_report_interrupt(&run, run.save_dir != NULL);
        rc = CLI_EXIT_INTERRUPTED;
    }
    if (rc == CLI_EXIT_OK) train_report_outputs(&run);
    goto restore;

lib_error_restore:
    rc = cli_dist_error(dist, s);
restore:
    /* a run that failed (or could not save) removes the --save folders it made and left empty
     * (only empty ones: rmdir); one with a checkpoint in it stays */
    if (rc != CLI_EXIT_OK && run.save_dir && made_save.n > 0) cli_rmdirs(run.save_dir, &made_save);
    goto done;
lib_error:
    rc = cli_dist_error(dist, s);
done:
    if (signals_set) train_restore_signals(old_sigs);
    if (run.log) fclose(run.log);
    train_tb_close(&run);
    if (run.save_lock >= 0) close(run.save_lock); /* (after the log's last lines: a sweep
                                                   * trial's is in the folder) */
    ct_checkpoint_free(ck);
    cli_close_model(&init);
    free(run.history);
    free(o.class_names_text);
    free(folder_names);
    train_best_free(&run);
    ct_model_free(m);
    ct_backend_free(b);
    free(train_idx);
    free(val_idx);
    ct_dataset_free(test);
    ct_dataset_free(train);
    rc = cli_dist_end(dist, rc); /* after an error on this rank only: ends the whole job */
    /* --log/--plot/--tensorboard (rank 0's) failed after a training that did not: exit 1, but no abort */
    return rc == CLI_EXIT_OK && run.outputs_failed ? CLI_EXIT_ERROR : rc;
}
