/*
 * train_flags.c — the flags of `ctrain train`: their defaults (train_opts_init) and their table,
 * with each flag's help text (train_make_flags); train_opts.c checks them against each other and
 * turns them into a ct_train_config.
 */
#include "args.h"
#include "cli.h"
#include "train.h"

#include "ctrain.h"

#include <string.h>

void train_opts_init(train_opts *o) {
    memset(o, 0, sizeof *o);
    ct_train_config_default(&o->cfg);
    train_format_schedule(o->cfg.phases, o->cfg.num_phases, o->schedule_default, sizeof o->schedule_default);
    o->val_size = 10000;
    o->dataset = "mnist";
    o->optimizer = "sgd";
    o->lr_schedule = "phases";
    o->model = "mlp";
    o->hidden = 32;
    o->schedule = o->schedule_default;
    o->lr = o->cfg.num_phases > 0 ? o->cfg.phases[0].lr : 0.5f;
    o->batch_size = o->cfg.batch_size;
    o->eval_batch_size = o->cfg.eval_batch_size;
    o->momentum = o->cfg.momentum;
    o->weight_decay = o->cfg.weight_decay;
    o->nesterov = o->cfg.nesterov;
    o->seed = 42;
    o->device = "auto";
    o->threads = 0;
    o->workers = o->cfg.workers;
    o->prefetch = o->cfg.prefetch > 0 ? o->cfg.prefetch : 2;
    o->data_on_device = "auto";
    o->dist_timeout = (float)CT_DIST_TIMEOUT_S;
    o->augment = "auto";
    o->normalize = "off";
    o->lr_patience = 10;
    o->lr_threshold = 1e-4f;
    o->lr_threshold_mode = "rel";
    o->monitor = "val_loss";
    o->t_mult = 1;
    o->power = 1.0f;
    o->warmup_method = "linear";
    o->lr_step = "step";
    o->step_size_up = 2000.0f;
    o->cyclic_mode = "triangular";
    o->lr_find_range = "1e-7,10";
    o->lr_find_steps = 100;
    o->cycle_momentum = "on";
    o->anneal = "cos";
    o->momentum_decay = CT_NADAM_MOMENTUM_DECAY;
    o->swa_start = "off";
    o->swa_anneal_epochs = o->cfg.swa_anneal_epochs;
    o->swa_anneal = "cos";
    o->freeze = "off";
    o->frozen_resumed = -1;
}

/* Fills flags[NUM_TRAIN_FLAGS] pointing into o. */
int train_make_flags(train_opts *o, cli_flag *f) {
    cli_flag t[] = {
        {.name = "dataset", .kind = CLI_CHOICE, .dst = &o->dataset, .metavar = "NAME",
         .choices = CLI_DATASETS,
         .help = "what to train on; the input shape and classes come from it\n"
                 "(fashion-mnist: /usr/share/datasets/fashion-mnist when there;\n"
                 "idx: any images stored as MNIST is, e.g. KMNIST or EMNIST, in\n"
                 "--data DIR: the four files' names as MNIST's, any image size,\n"
                 "classes 0 .. the largest label; folder: your own images, as\n"
                 "torchvision's ImageFolder reads them: --data DIR holding\n"
                 "train/CLASS/IMAGE and test/CLASS/IMAGE (or val/; with both,\n"
                 "val/ is the validation set, not a split of train/), the classes\n"
                 "train's sub-folders sorted by name (their names saved in the\n"
                 "model), PNG, JPEG, PGM or PPM files of one size (else\n"
                 "--image-size), colour when any training image is)"},
        {.name = "data", .kind = CLI_STR, .dst = &o->data_dir, .metavar = "DIR",
         .help = "folder with the dataset's files (MNIST: fetched there\nwhen missing)",
         .def = "~/.cache/ctrain/DATASET; mnist: $CTRAIN_DATA first; folder: required"},
        {.name = "image-size", .kind = CLI_STR, .dst = &o->image_size, .metavar = "SIZE",
         .help = "--dataset folder: resize every image to SIZE, HEIGHT,WIDTH (or\n"
                 "SIDE: SIDE,SIDE, not Resize(SIDE)'s shorter edge), as torchvision's\n"
                 "transforms.Resize((HEIGHT, WIDTH)) resizes the PIL images of an\n"
                 "ImageFolder (bilinear, antialiased, the same pixels); eval and show\n"
                 "resize to the model's input",
         .def = "none: all images of the first one's size"},
        {.name = "val-resize", .kind = CLI_INT, .range = CLI_POSITIVE, .dst = &o->val_resize,
         .max = CT_FOLDER_MAX_RESIZE, .metavar = "SIDE",
         .help = "--dataset folder: the evaluation images, test/'s and val/'s, as\n"
                 "torchvision's recipes evaluate: resized so that their shorter edge is\n"
                 "SIDE (Resize(SIDE), the ratio kept), then their centre at --image-size\n"
                 "(CenterCrop; SIDE at least its height and width: 256 for 224, 232 for\n"
                 "torchvision's newer weights), instead of resized as the training images;\n"
                 "saved in the model: eval, predict and show read images so. A split of\n"
                 "train/ (no val/) is validated on training images as loaded",
         .def = "none: as the training images"},
        {.name = "val-size", .kind = CLI_STR, .dst = &o->val_size_text, .metavar = "N|F",
         .help = "training images held out for validation (a seeded random\n"
                 "split): N images, or a fraction F in (0, 1) of them (Keras'\n"
                 "validation_split: 0.2 holds out 12000 of MNIST's 60000); 0: none,\n"
                 "every image trains and the epoch lines give the train loss and\n"
                 "accuracy. --dataset folder with val/ beside test/: val/'s images\n"
                 "(only 0 may be given: none)",
         .def = "10000"},
        {.name = "model", .kind = CLI_STR, .dst = &o->model, .metavar = "SPEC",
         .help = "\"mlp\" (flatten,linear(HIDDEN),relu,linear(CLASSES)), lenet5,\n"
                 "cnn, resnet8, resnet20 (CIFAR ResNets), resnet18, resnet34, resnet50,\n"
                 "resnet101, resnet152, wide_resnet50_2, wide_resnet101_2,\n"
                 "resnext50_32x4d, resnext101_32x8d, resnext101_64x4d, mobilenet_v2,\n"
                 "mobilenet_v3_large, mobilenet_v3_small, efficientnet_b0, vit_b_16,\n"
                 "vit_b_32, vit_l_16, vit_l_32, vit_h_14 (vision transformers)\n"
                 "(torchvision's; a preset's last layer: an output a class of the data),\n"
                 "or layers:\n"
                 "\"flatten,linear(64),relu,linear(10)\", residual blocks too:\n"
                 "\"...,residual(conv(16,3,1,1,0),batchnorm,relu,conv(16,3,1,1,0),\n"
                 "batchnorm),relu,...\" (the layers, ctrain summary --help)"},
        {.name = "hidden", .kind = CLI_INT, .range = CLI_POSITIVE, .dst = &o->hidden,
         .metavar = "N", .help = "hidden units of --model mlp"},
        {.name = "schedule", .kind = CLI_STR, .dst = &o->schedule, .metavar = "PHASES",
         .help = "training phases EPOCHS@LR,EPOCHS@LR,... (at most 16)"},
        {.name = "epochs", .kind = CLI_INT, .range = CLI_POSITIVE, .dst = &o->epochs,
         .metavar = "N",
         .help = "train N epochs at one learning rate (--lr, else 0.5;\n"
                 "adam/adamw/radam: 0.001; nadam/adamax: 0.002; rmsprop/adagrad:\n"
                 "0.01) instead of --schedule",
         .def = "the schedule; other optimizers than sgd: 10"},
        {.name = "lr", .kind = CLI_FLOAT, .range = CLI_POSITIVE, .dst = &o->lr, .metavar = "X",
         .help = "one learning rate for all epochs (--epochs, else 10)\n"
                 "instead of --schedule; the base lr of --lr-schedule",
         .def = "the schedule; adam/adamw/radam: 0.001; nadam/adamax: 0.002; "
                "rmsprop/adagrad: 0.01"},
        {.name = "batch-size", .kind = CLI_INT, .range = CLI_POSITIVE, .dst = &o->batch_size,
         .metavar = "N", .help = "training batch size"},
        {.name = "eval-batch-size", .kind = CLI_INT, .range = CLI_POSITIVE,
         .dst = &o->eval_batch_size, .metavar = "N", .help = "validation and test batch size"},
        {.name = "micro-batch", .kind = CLI_INT, .range = CLI_NONNEG, .dst = &o->micro_batch,
         .metavar = "N",
         .help = "compute each training batch N images at a time (gradient\n"
                 "accumulation: the pieces' gradients summed before one optimizer\n"
                 "step, as a PyTorch loop calling loss.backward() on each piece, or\n"
                 "Lightning's accumulate_grad_batches = batch / N): the same training\n"
                 "in the memory of N images. Batch norm normalises each piece by its\n"
                 "own statistics (its running statistics: the first piece's, once a\n"
                 "step); validation and test run N at a time too. Under mpirun: N of\n"
                 "a rank's share. 0: whole batches",
         .def = "0"},
        {.name = "momentum", .kind = CLI_FLOAT, .range = CLI_FRACTION, .dst = &o->momentum,
         .metavar = "X", .help = "SGD's or RMSprop's momentum"},
        {.name = "weight-decay", .kind = CLI_FLOAT, .range = CLI_NONNEG, .dst = &o->weight_decay,
         .metavar = "X", .help = "every optimizer but adamw: L2 penalty added to the gradient;\n"
                                 "adamw: decoupled weight decay (0: none)",
         .def = "0; adamw: 0.01"},
        {.name = "bias-weight-decay", .kind = CLI_FLOAT, .range = CLI_NONNEG,
         .dst = &o->bias_weight_decay, .metavar = "X",
         .help = "the weight decay of every bias (batch norm's too), as torchvision's\n"
                 "--bias-weight-decay (its param groups; 0 in its recipes: biases are\n"
                 "not shrunk)",
         .def = "--weight-decay's"},
        {.name = "norm-weight-decay", .kind = CLI_FLOAT, .range = CLI_NONNEG,
         .dst = &o->norm_weight_decay, .metavar = "X",
         .help = "the weight decay of the norm layers' weights, batch, group and layer\n"
                 "norm's (and biases, without --bias-weight-decay), as torchvision's\n"
                 "--norm-weight-decay (0 in its recipes)",
         .def = "--weight-decay's"},
        {.name = "nesterov", .kind = CLI_SWITCH, .dst = &o->nesterov,
         .help = "Nesterov momentum (needs --momentum > 0, or onecycle's\n"
                 "cycled momentum)"},
        {.name = "optimizer", .kind = CLI_CHOICE, .dst = &o->optimizer, .metavar = "NAME",
         .choices = "sgd|adam|adamw|nadam|radam|adamax|adagrad|rmsprop",
         .help = "torch.optim's SGD, Adam, AdamW, NAdam, RAdam, Adamax, Adagrad or\n"
                 "RMSprop (PyTorch's defaults); with any but sgd and no --lr/--schedule:\n"
                 "10 epochs at lr 0.001 (adam, adamw, radam), 0.002 (nadam, adamax) or\n"
                 "0.01 (rmsprop, adagrad)"},
        {.name = "betas", .kind = CLI_STR, .dst = &o->betas, .metavar = "B1,B2",
         .help = "Adam/AdamW/NAdam/RAdam/Adamax betas, each in (0, 1)", .def = "0.9,0.999"},
        {.name = "eps", .kind = CLI_FLOAT, .range = CLI_POSITIVE, .dst = &o->eps, .metavar = "X",
         .help = "the epsilon of every optimizer but SGD's (Adamax: added to |g|)",
         .def = "1e-08; adagrad: 1e-10"},
        {.name = "alpha", .kind = CLI_FLOAT, .range = CLI_NONNEG, .dst = &o->alpha,
         .metavar = "X", .help = "RMSprop's smoothing constant, in (0, 1)", .def = "0.99"},
        {.name = "amsgrad", .kind = CLI_SWITCH, .dst = &o->amsgrad,
         .help = "Adam/AdamW: AMSGrad (PyTorch's and Keras' amsgrad=True): divide by the\n"
                 "largest second moment so far, not the current one"},
        {.name = "centered", .kind = CLI_SWITCH, .dst = &o->centered,
         .help = "RMSprop: divide by the centered second moment (the gradient's\n"
                 "estimated variance)"},
        {.name = "momentum-decay", .kind = CLI_FLOAT, .range = CLI_POSITIVE,
         .dst = &o->momentum_decay, .metavar = "X",
         .help = "NAdam's momentum_decay (psi): update t uses the momentum\n"
                 "beta1 x (1 - 0.5 x 0.96^(t x X)), rising to beta1 (Dozat's\n"
                 "schedule; the one-cycle schedule does not cycle NAdam's beta1)",
         .def = "0.004"},
        {.name = "lr-decay", .kind = CLI_FLOAT, .range = CLI_NONNEG, .dst = &o->lr_decay,
         .metavar = "X", .help = "Adagrad's lr_decay: update t at lr / (1 + (t - 1) x X)",
         .def = "0"},
        {.name = "initial-accumulator", .kind = CLI_FLOAT, .range = CLI_NONNEG,
         .dst = &o->initial_accumulator, .metavar = "X",
         .help = "Adagrad's initial_accumulator_value: where its sum of squared\n"
                 "gradients starts (Keras' Adagrad: 0.1)",
         .def = "0"},
        {.name = "lr-schedule", .kind = CLI_CHOICE, .dst = &o->lr_schedule, .metavar = "NAME",
         .choices = "phases|step|multistep|cosine|onecycle|plateau|exponential|polynomial|"
                    "cosine-restarts|cyclic",
         .help = "phases: --schedule's constant lr per phase; step, multistep,\n"
                 "cosine, onecycle, plateau, exponential, polynomial, cosine-restarts,\n"
                 "cyclic: PyTorch's StepLR, MultiStepLR, CosineAnnealingLR, OneCycleLR,\n"
                 "ReduceLROnPlateau (on --monitor), ExponentialLR, PolynomialLR,\n"
                 "CosineAnnealingWarmRestarts (SGDR: cycles of --t0 epochs and on),\n"
                 "CyclicLR (between --base-lr and --lr) over --epochs (else 10) from\n"
                 "--lr (the max lr for onecycle and cyclic); cosine, onecycle,\n"
                 "polynomial, cosine-restarts and cyclic advance every step (batch i\n"
                 "of epoch e at the lr of epoch e + i / batches), the others every\n"
                 "epoch"},
        {.name = "step-size", .kind = CLI_INT, .range = CLI_POSITIVE, .dst = &o->step_size,
         .metavar = "N", .help = "step: epochs between decays (required)", .def = "none"},
        {.name = "milestones", .kind = CLI_STR, .dst = &o->milestones, .metavar = "E1,E2,...",
         .help = "multistep: the epochs (0-based, as the Epoch [E] lines) from\n"
                 "which the lr is --gamma times lower, increasing, at most 16\n"
                 "(MultiStepLR's milestones; required): 30,60,80 trains epochs 0-29\n"
                 "at --lr, 30-59 at lr x gamma, ...",
         .def = "none"},
        {.name = "power", .kind = CLI_FLOAT, .range = CLI_POSITIVE, .dst = &o->power,
         .metavar = "P", .help = "polynomial: PolynomialLR's power: the lr falls to 0 at the\n"
                                 "run's end as lr x (1 - t / T)^P (1: a straight line; Keras'\n"
                                 "PolynomialDecay to 0)",
         .def = "1"},
        {.name = "base-lr", .kind = CLI_FLOAT, .range = CLI_POSITIVE, .dst = &o->base_lr,
         .metavar = "X", .help = "cyclic: CyclicLR's base_lr, where each cycle starts and ends\n"
                                 "(required; --lr is its max_lr)",
         .def = "none"},
        {.name = "step-size-up", .kind = CLI_FLOAT, .range = CLI_POSITIVE,
         .dst = &o->step_size_up, .metavar = "N",
         .help = "cyclic: training steps (batches, not epochs: PyTorch's\n"
                 "step_size_up) from --base-lr up to --lr; Smith suggests 2 to 10\n"
                 "epochs' worth",
         .def = "2000"},
        {.name = "step-size-down", .kind = CLI_FLOAT, .range = CLI_POSITIVE,
         .dst = &o->step_size_down, .metavar = "N",
         .help = "cyclic: training steps from --lr back down to --base-lr",
         .def = "--step-size-up's"},
        {.name = "cyclic-mode", .kind = CLI_CHOICE, .dst = &o->cyclic_mode, .metavar = "MODE",
         .choices = "triangular|triangular2|exp_range",
         .help = "cyclic: CyclicLR's mode: every cycle as high (triangular), each\n"
                 "half as high as the one before (triangular2), or the height times\n"
                 "--gamma^step (exp_range)"},
        {.name = "gamma", .kind = CLI_FLOAT, .range = CLI_POSITIVE, .dst = &o->gamma,
         .metavar = "X", .help = "step, multistep, plateau, exponential: lr decay factor\n"
                                 "(exponential: required, the lr is lr * X^epoch); cyclic's\n"
                                 "exp_range: the height's factor a step (default 1)",
         .def = "0.1"},
        {.name = "lr-patience", .kind = CLI_INT, .range = CLI_NONNEG, .dst = &o->lr_patience,
         .metavar = "N", .help = "plateau: PyTorch's patience, the epochs without a better\n"
                                  "--monitor tolerated (the lr is cut after N + 1)",
         .def = "10"},
        {.name = "lr-threshold", .kind = CLI_FLOAT, .range = CLI_NONNEG, .dst = &o->lr_threshold,
         .metavar = "X", .help = "plateau: PyTorch's threshold: an epoch's --monitor is better\n"
                                  "only when it beats the best by more than X of it (rel), or\n"
                                  "by more than X (--lr-threshold-mode abs)",
         .def = "1e-4"},
        {.name = "lr-threshold-mode", .kind = CLI_CHOICE, .dst = &o->lr_threshold_mode,
         .metavar = "MODE", .choices = "rel|abs",
         .help = "plateau: --lr-threshold as a fraction of the best (rel) or an\n"
                 "amount (abs): PyTorch's threshold_mode"},
        {.name = "lr-cooldown", .kind = CLI_INT, .range = CLI_NONNEG, .dst = &o->lr_cooldown,
         .metavar = "N", .help = "plateau: PyTorch's cooldown, the epochs after a cut whose\n"
                                  "lack of progress is not counted",
         .def = "0"},
        {.name = "min-lr", .kind = CLI_FLOAT, .range = CLI_NONNEG, .dst = &o->min_lr,
         .metavar = "X", .help = "plateau: no cut takes the lr below X (PyTorch's and Keras'\n"
                                  "min_lr)",
         .def = "0"},
        {.name = "eta-min", .kind = CLI_FLOAT, .range = CLI_NONNEG, .dst = &o->eta_min,
         .metavar = "X", .help = "cosine: the final lr; cosine-restarts: each cycle's",
         .def = "0"},
        {.name = "t0", .kind = CLI_INT, .range = CLI_POSITIVE, .max = CT_MAX_EPOCHS,
         .dst = &o->t0, .metavar = "N",
         .help = "cosine-restarts: the first cycle's epochs (T_0; required): the lr\n"
                 "falls from --lr to --eta-min over them, then restarts at --lr",
         .def = "none"},
        {.name = "t-mult", .kind = CLI_INT, .range = CLI_POSITIVE, .max = CT_MAX_EPOCHS,
         .dst = &o->t_mult, .metavar = "M",
         .help = "cosine-restarts: each cycle is M times as long as the one\n"
                 "before (T_mult)",
         .def = "1"},
        {.name = "pct-start", .kind = CLI_FLOAT, .range = CLI_ANY, .dst = &o->pct_start,
         .metavar = "X", .help = "onecycle: fraction of the steps rising, in (0, 1)",
         .def = "0.3"},
        {.name = "div-factor", .kind = CLI_FLOAT, .range = CLI_POSITIVE, .dst = &o->div_factor,
         .metavar = "X", .help = "onecycle: the first lr is --lr / X (OneCycleLR's div_factor)",
         .def = "25"},
        {.name = "final-div-factor", .kind = CLI_FLOAT, .range = CLI_POSITIVE,
         .dst = &o->final_div_factor, .metavar = "X",
         .help = "onecycle: the last lr is the first / X (final_div_factor)", .def = "1e4"},
        {.name = "three-phase", .kind = CLI_SWITCH, .dst = &o->three_phase,
         .help = "onecycle: OneCycleLR's three_phase: the lr rises over pct_start of\n"
                 "the steps, falls back to the first lr over as many, then to the last"},
        {.name = "anneal", .kind = CLI_CHOICE, .dst = &o->anneal, .metavar = "NAME",
         .choices = "cos|linear",
         .help = "onecycle: how the lr (and momentum) move within a phase\n"
                 "(OneCycleLR's anneal_strategy)"},
        {.name = "cycle-momentum", .kind = CLI_STR, .dst = &o->cycle_momentum, .metavar = "SPEC",
         .help = "onecycle, cyclic: as OneCycleLR's and CyclicLR's cycle_momentum,\n"
                 "SGD's or RMSprop's momentum (Adam's beta1) falls from MAX to BASE as\n"
                 "the lr rises, and back: BASE,MAX (each in [0, 1)), on (PyTorch's:\n"
                 "0.85,0.95 for onecycle, 0.8,0.9 for cyclic) or off (a fixed\n"
                 "--momentum and --betas). With it on, --momentum is refused and\n"
                 "--betas gives beta2 only (its beta1 replaced, as OneCycleLR does)",
         .def = "on"},
        {.name = "warmup-epochs", .kind = CLI_INT, .range = CLI_NONNEG, .dst = &o->warmup_epochs,
         .metavar = "N", .help = "warm-up over the first N epochs (LinearLR, or ConstantLR\n"
                                  "with --warmup-method constant), multiplying any\n"
                                  "schedule's lr (or before it: --warmup-sequential)"},
        {.name = "warmup-method", .kind = CLI_CHOICE, .dst = &o->warmup_method,
         .metavar = "NAME", .choices = "linear|constant",
         .help = "--warmup-epochs: the lr factor rises from --warmup-start-factor to 1\n"
                 "step by step (linear: LinearLR), or stays --warmup-start-factor,\n"
                 "then is 1 (constant: ConstantLR; torchvision's --lr-warmup-method\n"
                 "constant, which runs it before the schedule: --warmup-sequential)"},
        {.name = "warmup-sequential", .kind = CLI_SWITCH, .dst = &o->warmup_sequential,
         .help = "--warmup-epochs N: the schedule starts after the warm-up, at its\n"
                 "beginning, over the epochs left (torchvision's recipes:\n"
                 "SequentialLR([warm-up, schedule], milestones=[N])), instead of being\n"
                 "multiplied by it from the first epoch (not with onecycle, cyclic,\n"
                 "plateau)"},
        {.name = "lr-step", .kind = CLI_CHOICE, .dst = &o->lr_step, .metavar = "WHEN",
         .choices = "step|epoch",
         .help = "when cosine, onecycle, polynomial, cosine-restarts, cyclic and the\n"
                 "warm-up move the lr: every training step (batch i of epoch e at epoch\n"
                 "e + i / batches), or once an epoch, as a PyTorch loop calling\n"
                 "scheduler.step() after each epoch (torchvision's recipes; cyclic's\n"
                 "--step-size-up and -down then count epochs)"},
        {.name = "warmup-start-factor", .kind = CLI_FLOAT, .range = CLI_POSITIVE,
         .dst = &o->warmup_start_factor, .metavar = "X",
         .help = "warm-up's first lr factor, in (0, 1] (constant: its only one;\n"
                 "torchvision's --lr-warmup-decay)",
         .def = "0.333333"},
        {.name = "clip-grad-norm", .kind = CLI_FLOAT, .range = CLI_NONNEG, .dst = &o->clip_norm,
         .metavar = "X", .help = "clip the gradients' global L2 norm to X (0: off)",
         .def = "off"},
        {.name = "clip-grad-value", .kind = CLI_FLOAT, .range = CLI_NONNEG,
         .dst = &o->clip_value, .metavar = "X",
         .help = "clamp each gradient to [-X, X] before the update, as PyTorch's\n"
                 "clip_grad_value_ and Keras' clipvalue (0: off; not with\n"
                 "--clip-grad-norm)",
         .def = "off"},
        {.name = "label-smoothing", .kind = CLI_FLOAT, .range = CLI_NONNEG,
         .dst = &o->label_smoothing, .metavar = "X",
         .help = "train on cross-entropy with label smoothing X in [0, 1], as PyTorch's\n"
                 "CrossEntropyLoss(label_smoothing=X): the target is 1 - X on the\n"
                 "label plus X / classes on every class. The train, val and test\n"
                 "losses printed are this loss (as Keras and torchvision's training\n"
                 "scripts report theirs); ctrain eval gives both",
         .def = "0"},
        {.name = "class-weight", .kind = CLI_STR, .dst = &o->class_weight, .metavar = "SPEC",
         .help = "weigh each training image's loss by its class, as Keras'\n"
                 "fit(class_weight=...) (for classes of unequal size): balanced\n"
                 "(scikit-learn's: images / (classes x the class's images), over the\n"
                 "training split), W0,W1,... (one per class), or off. The mean stays\n"
                 "over the batch's images (PyTorch: (F.cross_entropy(z, y,\n"
                 "reduction=\"none\") * w[y]).mean()); train_loss is weighted,\n"
                 "val_loss and test_loss are not",
         .def = "off"},
        {.name = "mixup-alpha", .kind = CLI_FLOAT, .range = CLI_NONNEG, .dst = &o->mixup_alpha,
         .metavar = "A",
         .help = "MixUp, as torchvision's classification recipe (--mixup-alpha):\n"
                 "each training batch becomes lam * batch + (1 - lam) * the batch\n"
                 "rolled by one image, lam ~ Beta(A, A), trained on the targets mixed\n"
                 "alike (train_acc: the larger share's label). 0.2 is the recipe's",
         .def = "off"},
        {.name = "cutmix-alpha", .kind = CLI_FLOAT, .range = CLI_NONNEG, .dst = &o->cutmix_alpha,
         .metavar = "A",
         .help = "CutMix (--cutmix-alpha): a box of each image, of 1 - lam of its\n"
                 "area (lam ~ Beta(A, A)) at a uniform centre, from the batch rolled\n"
                 "by one image; the targets mixed by the box's share. With\n"
                 "--mixup-alpha, each batch one of the two (RandomChoice). 1.0 is the\n"
                 "recipe's",
         .def = "off"},
        {.name = "ema", .kind = CLI_FLOAT, .range = CLI_NONNEG, .dst = &o->ema_decay,
         .metavar = "DECAY",
         .help = "keep an exponential moving average of the weights, as torchvision's\n"
                 "ExponentialMovingAverage and Keras' use_ema: after every step\n"
                 "avg = DECAY * avg + (1 - DECAY) * weights (batch norm's statistics\n"
                 "too), DECAY in [0, 1). Validation, --save-best, --patience, the test\n"
                 "line and model.safetensors take the average; it spans about\n"
                 "1 / (1 - DECAY) steps (0.999: 1000)",
         .def = "off"},
        {.name = "ema-warmup", .kind = CLI_SWITCH, .dst = &o->ema_warmup,
         .help = "--ema: TensorFlow's ExponentialMovingAverage(num_updates=step)\n"
                 "warm-up: update k decays by min(DECAY, (1 + k) / (10 + k)) from the\n"
                 "initial weights, so that the average of a short run keeps up with it"},
        {.name = "swa-start", .kind = CLI_STR, .dst = &o->swa_start, .metavar = "E|F",
         .help = "stochastic weight averaging (torch.optim.swa_utils' AveragedModel,\n"
                 "SWALR and update_bn): the weights after each epoch from epoch E on\n"
                 "(0-based, as the Epoch [E] lines; or F in (0, 1): epoch int(F x\n"
                 "epochs)) averaged with equal weights. At the end the model becomes\n"
                 "the average, batch norm's statistics recomputed by one pass over the\n"
                 "training split (update_bn), and a line \"SWA: ...\" gives its val_loss\n"
                 "and val_acc (also in --plot's pictures and --tensorboard's DIR/swa;\n"
                 "ctrain sweep ranks the trial by it); the test line and\n"
                 "model.safetensors are the average's. The epoch lines, --log,\n"
                 "--save-best and --patience follow the trained weights. Not with\n"
                 "--ema or --restore-best",
         .def = "off"},
        {.name = "swa-lr", .kind = CLI_FLOAT, .range = CLI_POSITIVE, .dst = &o->swa_lr,
         .metavar = "X",
         .help = "--swa-start: PyTorch's SWALR: from epoch E the lr moves from the\n"
                 "schedule's to X over --swa-anneal-epochs, then stays X (not with the\n"
                 "plateau and onecycle schedules; cyclic's cycled momentum stays at\n"
                 "epoch E's, the schedule no longer stepped)",
         .def = "the schedule's lr"},
        {.name = "swa-anneal-epochs", .kind = CLI_INT, .range = CLI_NONNEG,
         .dst = &o->swa_anneal_epochs, .metavar = "N", .max = CT_MAX_EPOCHS,
         .help = "--swa-lr: SWALR's anneal_epochs (0: X from epoch E on)"},
        {.name = "swa-anneal", .kind = CLI_CHOICE, .dst = &o->swa_anneal, .metavar = "NAME",
         .choices = "cos|linear", .help = "--swa-lr: SWALR's anneal_strategy"},
        {.name = "augment", .kind = CLI_STR, .dst = &o->augment, .metavar = "SPEC",
         .help = "augment the training images, as torchvision's RandomAffine, then\n"
                 "RandomCrop(padding=P), then RandomHorizontalFlip: off, or parts\n"
                 "joined by commas: rotate=D (angle uniform in +-D degrees),\n"
                 "translate=F (a shift of up to F of the width and height, whole\n"
                 "pixels), scale=A:B (a zoom uniform in [A, B]), shear=S (x shear in\n"
                 "+-S degrees), bilinear (the warps' sampling, the policies' below too;\n"
                 "else nearest, torchvision's default), crop[=P] (P pixels, default 4),\n"
                 "flip, vflip (RandomVerticalFlip, Keras' vertical_flip: upside down).\n"
                 "Or, in place of the warp and crop, RandomResizedCrop:\n"
                 "resized-crop[=A:B] (a box of a share of the area uniform in [A, B],\n"
                 "default 0.08:1, of an aspect ratio (width / height) log-uniform in\n"
                 "ratio=R:S, default 0.75:1.333, resized back to the image's size,\n"
                 "bilinear and antialiased), then flip if given. Then ColorJitter:\n"
                 "brightness=X, contrast=X, saturation=X (factors uniform in [1 - X,\n"
                 "1 + X]), hue=X (a shift in +-X, X <= 0.5), in a random order (the\n"
                 "last two: colour images only). Then RandomGrayscale: grey[=P] (or\n"
                 "gray; with chance P, default 0.1, a colour image made grey). Or, in\n"
                 "place of ColorJitter and RandomGrayscale,\n"
                 "TrivialAugmentWide: trivial[=BINS] (one of 14 ops an image: shears,\n"
                 "shifts, rotation, brightness, colour, contrast, sharpness, posterize,\n"
                 "solarize, autocontrast, equalize, identity, at one of BINS magnitudes,\n"
                 "default 31, on the pixels as bytes); or RandAugment:\n"
                 "randaugment[=N[:M[:BINS]]] (N of those ops an image, one after\n"
                 "another, each at bin M of BINS of RandAugment's milder magnitudes;\n"
                 "default 2:9:31); or AutoAugment: autoaugment[=POLICY] (the policy\n"
                 "learnt on imagenet, the default, cifar10 or svhn: one of its 25 pairs\n"
                 "of ops an image, each op with its own chance and magnitude, invert\n"
                 "among them); or AugMix: augmix[=S[:W[:D[:ALPHA]]]] (the image mixed with\n"
                 "W chains of D ops, 1 to 3 at random for -1, each at one of the first S\n"
                 "of 10 magnitudes, by Beta and Dirichlet(ALPHA) weights; default\n"
                 "3:3:-1:1; torchvision's AugMix is bilinear: add bilinear). And, after all,\n"
                 "RandomErasing: erase[=P] (with chance P, default 0.5, a box of 2% to\n"
                 "33% of the area, height / width log-uniform in 0.3 to 3.3, set to 0\n"
                 "after the model's normalize layer: its mean; else black).\n"
                 "auto = crop=4,flip for cifar10, off for digits and fashion-mnist\n"
                 "(for digits try rotate=10,translate=0.1,scale=0.9:1.1; for photos\n"
                 "resized-crop,flip, with trivial,bilinear,erase=0.1 as torchvision's\n"
                 "ImageNet recipe; ctrain show --augment SPEC draws what the model sees)"},
        {.name = "repeated-aug", .kind = CLI_INT, .range = CLI_NONNEG, .dst = &o->repeated_aug,
         .max = CT_MAX_REPEATED_AUG, .metavar = "R",
         .help = "repeated augmentation, as torchvision's --ra-sampler --ra-reps R\n"
                 "(RASampler; DeiT's recipe): each epoch takes about 1 / R of the\n"
                 "shuffled training images, each R times in a row, every copy\n"
                 "augmented by its own draw (mostly in one batch; needs --augment; a\n"
                 "MixUp/CutMix partner: the image before's copy); the epoch as long as\n"
                 "without (torchvision's rounds it down to 256 images). 0 or 1: off",
         .def = "0"},
        {.name = "normalize", .kind = CLI_STR, .dst = &o->normalize, .metavar = "SPEC",
         .help = "normalize the inputs, as torchvision's Normalize(mean, std) (Keras'\n"
                 "Normalization layer): a normalize(...) layer in front of the model, so\n"
                 "that eval, predict, show and export apply it too. auto: the training\n"
                 "images' mean and std per channel (mnist: 0.1307,0.3081); MEAN,STD; or\n"
                 "M1,...,MC,S1,...,SC for C <= 4 channels; off"},
        {.name = "seed", .kind = CLI_U64, .range = CLI_NONNEG, .dst = &o->seed, .metavar = "N",
         .help = "seeds the split, the initial weights and the shuffling"},
        {.name = "device", .kind = CLI_CHOICE, .dst = &o->device, .metavar = "NAME",
         .choices = "auto|cpu|cuda|cuda:N",
         .help = "where to train; auto = CUDA if usable, else the CPU;\n"
                 "cuda (GPU 0; under mpirun each rank of a host its\n"
                 "own) or cuda:N fails when no usable GPU is found"},
        {.name = "threads", .kind = CLI_INT, .range = CLI_NONNEG, .max = CT_MAX_THREADS,
         .dst = &o->threads, .metavar = "N",
         .help = "CPU threads for the CPU device, at most 64 (0 = all cores,\n"
                 "up to 64; under mpirun: per rank, 0 = the rank's share)"},
        {.name = "workers", .kind = CLI_INT, .range = CLI_NONNEG, .max = CT_MAX_WORKERS,
         .dst = &o->workers, .metavar = "N",
         .help = "data loader threads, at most 64 (0 = load in the training\n"
                 "thread)"},
        {.name = "prefetch", .kind = CLI_INT, .range = CLI_POSITIVE, .dst = &o->prefetch,
         .metavar = "N", .help = "batches each loader thread prepares ahead"},
        {.name = "data-on-device", .kind = CLI_CHOICE, .dst = &o->data_on_device,
         .metavar = "MODE", .choices = "auto|on|off",
         .help = "keep the whole dataset in device memory (on), or\n"
                 "stream batches through the loader (off)"},
        {.name = "dist-timeout", .kind = CLI_FLOAT, .range = CLI_NONNEG, .dst = &o->dist_timeout,
         .metavar = "S", .help = "under mpirun: seconds a collective (an all-reduce, MPI's\n"
                                  "start or end) may wait for the other ranks before the job\n"
                                  "ends with an error (a rank stopped, stuck or unreachable);\n"
                                  "0: wait forever"},
        {.name = "quiet", .kind = CLI_SWITCH, .dst = &o->quiet,
         .help = "no progress bar, no Device/Model/Data/Classes/Plan lines"},
        {.name = "save", .kind = CLI_STR, .dst = &o->save_dir, .metavar = "DIR",
         .help = "checkpoint into DIR (model.safetensors, train_state.safetensors)\n"
                 "at the end, on Ctrl-C and every --save-every epochs (a folder\n"
                 "another ctrain is writing in is refused: it holds the folder's lock)",
         .def = "none; with --resume, the resumed folder"},
        {.name = "save-every", .kind = CLI_INT, .range = CLI_NONNEG, .dst = &o->save_every,
         .metavar = "N", .help = "also checkpoint after every N epochs (0: only at the end)"},
        {.name = "snapshots", .kind = CLI_SWITCH, .dst = &o->snapshots,
         .help = "also keep each --save-every checkpoint's model as\n"
                 "DIR/epoch_E.safetensors (E: the epochs done), as Keras'\n"
                 "ModelCheckpoint(filepath=\"...{epoch}...\") keeps one an epoch"},
        {.name = "save-best", .kind = CLI_SWITCH, .dst = &o->save_best,
         .help = "also keep DIR/best.safetensors: the weights of the epoch with\n"
                 "the best --monitor so far (Keras' save_best_only)"},
        {.name = "restore-best", .kind = CLI_SWITCH, .dst = &o->restore_best,
         .help = "end with the weights of the epoch with the best --monitor: the\n"
                 "test line and model.safetensors are theirs (Keras' EarlyStopping\n"
                 "restore_best_weights, here also when no early stop ends the run);\n"
                 "train_state.safetensors keeps the last epoch's, to resume from.\n"
                 "With --save, also --save-best (a resume restores from its file)"},
        {.name = "overwrite", .kind = CLI_SWITCH, .dst = &o->overwrite,
         .help = "let --save DIR replace the checkpoint of another run in DIR\n"
                 "(refused without it; its best.safetensors and epoch_E.safetensors\n"
                 "are removed)"},
        {.name = "patience", .kind = CLI_INT, .range = CLI_NONNEG, .dst = &o->patience,
         .metavar = "N", .help = "stop early when --monitor has not improved for N epochs\n"
                                  "(Keras' EarlyStopping; the last weights are kept)",
         .def = "off"},
        {.name = "min-delta", .kind = CLI_FLOAT, .range = CLI_NONNEG, .dst = &o->min_delta,
         .metavar = "X", .help = "--patience: an epoch improves on the best only when its\n"
                                  "--monitor beats it by more than X (Keras' min_delta; the best\n"
                                  "of --save-best and --restore-best: by any margin)",
         .def = "0"},
        {.name = "monitor", .kind = CLI_CHOICE, .dst = &o->monitor, .metavar = "METRIC",
         .choices = "val_loss|val_acc",
         .help = "what --patience, --save-best, --restore-best and the plateau\n"
                 "schedule follow, as Keras' monitor=: the lowest val_loss, or the\n"
                 "highest val_acc (Keras' \"val_accuracy\"; ReduceLROnPlateau's\n"
                 "mode=\"max\")"},
        {.name = "class-names", .kind = CLI_STR, .dst = &o->class_names_path, .metavar = "FILE",
         .help = "the classes' names, one a line (KMNIST's, EMNIST's, your own):\n"
                 "saved in the model, for ctrain eval, show and predict (mnist needs\n"
                 "none; fashion-mnist and cifar10 have torchvision's)",
         .def = "none; with --resume, the run's"},
        {.name = "resume", .kind = CLI_STR, .dst = &o->resume_dir, .metavar = "DIR",
         .help = "continue the run saved in DIR exactly where it stopped; its\n"
                 "settings are kept (see below)", .def = "none"},
        {.name = "init", .kind = CLI_STR, .dst = &o->init_path, .metavar = "DIR",
         .help = "start a new run from the weights saved in DIR (a --save folder\n"
                 "or a .safetensors file, torchvision's ResNet state_dicts too; its\n"
                 "model unless --model/--hidden): fine-tuning, or training on other\n"
                 "data; optimizer and schedule start afresh (PyTorch's\n"
                 "load_state_dict, Keras' load_weights). On data of other classes\n"
                 "(more than its model outputs; a folder's: another number), or with\n"
                 "a --model for them, its last layer, a linear one, starts anew with\n"
                 "an output a class (torchvision's recipe: model.fc replaced; Keras'\n"
                 "include_top=False); an RGB model's first conv on grey images (one\n"
                 "without a normalize layer: torchvision's) takes its weights summed\n"
                 "over the colours; a ViT's position embeddings on images of another\n"
                 "size are resized to its patches (torchvision's interpolate_embeddings)",
         .def = "none"},
        {.name = "freeze", .kind = CLI_STR, .dst = &o->freeze, .metavar = "LAYER",
         .help = "fine-tune the layers after LAYER only: LAYER (a name as ctrain\n"
                 "summary shows it: conv2, linear1) and the layers before it keep\n"
                 "their weights and batch norm statistics and run as at inference\n"
                 "(Keras' transfer-learning recipe: trainable = False, the base\n"
                 "called with training=False; PyTorch's requires_grad_(False));\n"
                 "no gradient is computed for them. backbone: up to the layer with\n"
                 "weights before the last (the classifier head, which trains with\n"
                 "the layers between); off: none. With --init, its weights; without,\n"
                 "the new model's (random features). ctrain summary --freeze LAYER\n"
                 "shows what trains",
         .def = "off"},
        {.name = "plot", .kind = CLI_STR, .dst = &o->plot_dir, .metavar = "DIR",
         .help = "after each epoch draw DIR/loss.png, DIR/accuracy.png and the\n"
                 "schedule so far, step by step: DIR/lr.png (and DIR/momentum.png\n"
                 "when onecycle or cyclic cycles it; else an earlier run's is\n"
                 "removed);\n"
                 "with --swa-start, the average's validation a point at the end;\n"
                 "with --lr-find, DIR/lr_find.png",
         .def = "none"},
        {.name = "log", .kind = CLI_STR, .dst = &o->log_path, .metavar = "FILE",
         .help = "one JSON object per epoch per line (epoch, phase, lr,\n"
                 "train_loss, train_acc, val_loss, val_acc, seconds, samples_per_s,\n"
                 "val_seconds, graph_steps; the val keys only with --val-size > 0);\n"
                 "FILE.csv: the same as CSV under a header line (Keras' CSVLogger)",
         .def = "none"},
        {.name = "tensorboard", .kind = CLI_STR, .dst = &o->tensorboard_dir, .metavar = "DIR",
         .help = "write the curves as TensorBoard event files, laid out as Keras'\n"
                 "TensorBoard callback lays them out: DIR/train (epoch_loss,\n"
                 "epoch_accuracy, epoch_learning_rate), DIR/validation (epoch_loss,\n"
                 "epoch_accuracy; step 0: before training), at the end DIR/test (and\n"
                 "with --swa-start DIR/swa: the average's validation); step E: after E\n"
                 "epochs. tensorboard --logdir DIR draws them (runs in folders under\n"
                 "one --logdir side by side). A run repeated or resumed in DIR\n"
                 "replaces the steps it does again",
         .def = "none"},
        {.name = "histograms", .kind = CLI_SWITCH, .dst = &o->histograms,
         .help = "with --tensorboard: also the histogram of each weight tensor (and\n"
                 "batch norm's statistics) after every epoch, under its state_dict\n"
                 "name in DIR/train, as PyTorch's add_histogram or Keras'\n"
                 "histogram_freq=1 (TensorBoard's Histograms and Distributions tabs)"},
        {.name = "tensorboard-every", .kind = CLI_INT, .range = CLI_POSITIVE,
         .dst = &o->tensorboard_every, .metavar = "N",
         .help = "with --tensorboard: also the running train loss and accuracy every\n"
                 "N training steps (and at each epoch's last), in DIR/train_batch as\n"
                 "batch_loss and batch_accuracy at step S, the steps done since the run\n"
                 "began: Keras' update_freq=N (the average over the epoch so far), a\n"
                 "PyTorch loop's add_scalar(..., global_step). On a GPU, whose steps\n"
                 "run in groups (a recorded graph's 8, the fused MLP step's epoch), at\n"
                 "the step the values are of, a group's last. Not under mpirun",
         .def = "off"},
        {.name = "lr-find", .kind = CLI_SWITCH, .dst = &o->lr_find,
         .help = "instead of training, run the learning-rate range test (fastai's\n"
                 "lr_find, PyTorch Lightning's lr finder): from the initial weights,\n"
                 "--lr-find-steps steps of this model, batch, optimizer and data at\n"
                 "an lr rising exponentially, stopped when the loss diverges; prints\n"
                 "the loss curve and a suggested --lr (and, with --plot DIR, draws\n"
                 "DIR/lr_find.png). Nothing else is written"},
        {.name = "lr-find-range", .kind = CLI_STR, .dst = &o->lr_find_range,
         .metavar = "START,END", .help = "--lr-find: the first lr and the one it rises towards",
         .def = "1e-7,10"},
        {.name = "lr-find-steps", .kind = CLI_INT, .range = CLI_POSITIVE,
         .dst = &o->lr_find_steps, .metavar = "N", .max = 100000,
         .help = "--lr-find: training steps at most (the lr grows by\n"
                 "(END/START)^(1/N) a step)"},
    };
    _Static_assert(sizeof t / sizeof t[0] == NUM_TRAIN_FLAGS, "NUM_TRAIN_FLAGS is the table's size");
    memcpy(f, t, sizeof t);
    return NUM_TRAIN_FLAGS;
}
