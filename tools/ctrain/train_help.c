/*
 * train_help.c — `ctrain help train` (and `ctrain train --help`): the usage, every flag of
 * train_make_flags' table, the output lines, the files a run writes and what a resume keeps.
 */
#include "cli.h"
#include "train.h"

#include <stdio.h>

void train_help(FILE *out) {
    train_opts o;
    cli_flag flags[NUM_TRAIN_FLAGS];
    train_opts_init(&o);
    int n = train_make_flags(&o, flags);
    fputs("usage: ctrain train [flags]\n"
          "\n"
          "Trains a model on MNIST: 50000 training / 10000 validation images (seeded split of the\n"
          "60000), evaluated on the validation part before training and after every epoch, and on\n"
          "the 10000 test images at the end. The defaults reproduce the PyTorch tutorial: an MLP\n"
          "784 -> 32 -> ReLU -> 10, SGD, 5 epochs at lr 0.5 then 5 at lr 0.1, batch 128.\n"
          "Missing MNIST files are downloaded first (see ctrain data --help). --dataset picks\n"
          "Fashion-MNIST, CIFAR-10, any IDX files or a folder of your images instead (same\n"
          "split: --val-size of the training set).\n"
          "\n"
          "flags:\n",
          out);
    cli_print_flags(out, flags, n);
    fputs("\n"
          "output (stdout, one line each, 4 decimals):\n"
          "  Before training: val_loss: L, val_acc: A\n"
          "  Epoch [E], val_loss: L, val_acc: A         E counts from 0 across all phases\n"
          "                                              (--val-size 0: no Before line, and\n"
          "                                              Epoch [E], train_loss: L, train_acc: A)\n"
          "  test_loss: L, test_acc: A\n"
          "  Training time: T s (S s/epoch)              T: wall time of training and validation;\n"
          "                                              S: median training time of one epoch\n"
          "  Validation time: V s (P s/pass)             V: all validation passes after the\n"
          "                                              epochs, P: their median (not --quiet)\n"
          "  Step graphs: G training steps replayed ...  on a GPU (not --quiet): the steps run\n"
          "                                              from recorded CUDA graphs (the full\n"
          "                                              batches but the first), or why none\n"
          "  Fused step: on (...) | off (why)            on a GPU (not --quiet): whether an\n"
          "                                              MLP's steps ran fused, a run of them a\n"
          "                                              launch (then graphs are not used), and\n"
          "                                              how they launched\n"
          "A progress bar (batches, the running train loss and accuracy, samples/s, ETA) is drawn\n"
          "on stderr when it is a terminal (not under mpirun, which pipes it). Ctrl-C (or\n"
          "SIGTERM) stops after the current step (on a GPU: the current run of recorded or fused\n"
          "steps), checkpoints when --save (or --resume) names a folder, says how to resume, and\n"
          "exits 130; a second Ctrl-C ends the process at once (one within half a second of the\n"
          "first is the same stop: GNU timeout signals the process and its group). Under mpirun:\n"
          "SIGUSR1 to mpirun (Open MPI forwards it to every rank). A --log line, --plot picture\n"
          "or --tensorboard value that cannot be written is reported once; the training goes on,\n"
          "and ctrain then exits 1. An epoch whose loss or weights are NaN or infinite (the\n"
          "training diverged) ends the run with exit 1, untested; --save DIR keeps its last\n"
          "checkpoint (weights that are not finite are never saved).\n"
          "\n"
          "checkpoints (--save DIR):\n"
          "  DIR/model.safetensors        the weights under PyTorch state_dict names (linear1.weight\n"
          "                               [32, 784], ...) and metadata (spec, input shape, accuracy)\n"
          "  DIR/train_state.safetensors  all a resume needs: weights, optimizer state, position in\n"
          "                               the epoch, settings and history\n"
          "  DIR/best.safetensors         with --save-best: the weights of the epoch with the\n"
          "                               best --monitor, as model.safetensors\n"
          "  DIR/epoch_E.safetensors      with --snapshots: the model after E epochs, every\n"
          "                               --save-every N\n"
          "  Each file is replaced atomically: a kill during a save leaves the previous one whole.\n"
          "\n"
          "resuming (--resume DIR): the run continues from where it was saved and prints the same\n"
          "numbers as a run never stopped (on the CPU, same --threads and --micro-batch). Its\n"
          "settings come from the checkpoint; flags that change the results (--dataset, --model,\n"
          "--hidden, --val-size, --seed, --batch-size, --eval-batch-size, --momentum,\n"
          "--weight-decay, --nesterov, --optimizer, --betas, --eps, --alpha, --centered,\n"
          "--momentum-decay, --lr-schedule, --step-size, --gamma, --lr-patience, --eta-min,\n"
          "--t0, --t-mult, --pct-start, --div-factor, --final-div-factor, --three-phase,\n"
          "--anneal, --cycle-momentum, --warmup-epochs, --warmup-start-factor,\n"
          "--clip-grad-norm, --label-smoothing, --class-weight, --mixup-alpha, --cutmix-alpha,\n"
          "--monitor, --ema, --ema-warmup, --swa-start, --swa-lr, --swa-anneal-epochs,\n"
          "--swa-anneal, --augment, --image-size, --freeze) may be given only with the saved value\n"
          "(--normalize not at all: it is part of the model). --epochs N extends or shortens the\n"
          "run to N epochs in all (the last phase's learning rate continues), --schedule/--lr\n"
          "replace the schedule if the epochs already run keep their learning rate (cosine and\n"
          "onecycle keep their length: it shapes every epoch's rate). --device, --threads,\n"
          "--micro-batch, --workers, --prefetch, --data-on-device, --data, --quiet, --plot, --log,\n"
          "--tensorboard, --patience, --dist-timeout may differ, --histograms, --save-best,\n"
          "--restore-best, --snapshots and --class-names be added (without --data, the folder the\n"
          "run was trained from; --data: the same data in another folder; other training data is\n"
          "refused by its fingerprint, saved in the train state: start a new run from the weights\n"
          "with --init DIR instead).\n"
          "  ctrain train --epochs 2 --save run1 && ctrain train --resume run1 --epochs 4\n",
          out);
}
