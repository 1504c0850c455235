/*
 * main.c — the ctrain command-line tool: dispatch to a command, and the top-level help.
 *
 *     ctrain train [flags]        train a model (default: the PyTorch MNIST tutorial's MLP)
 *     ctrain eval --model DIR     test-set loss, accuracy, per-class accuracy, precision and
 *                                 F1, confusion matrix
 *     ctrain predict --model DIR IMAGE...   class probabilities of PNG/JPEG/PGM images
 *     ctrain show [--model DIR]   a grid of dataset images with labels (and predictions)
 *     ctrain summary [--model SPEC]   layers, output shapes and parameter counts of a model
 *     ctrain devices              list the compute devices and which one "auto" picks
 *     ctrain data fetch|path      download MNIST / print where it lives
 */
#include "args.h"
#include "cli.h"
#include "dist_cli.h"

#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

static void usage(FILE *f) {
    fprintf(f, "ctrain %s — train neural networks on an NVIDIA GPU, or the CPU\n", ct_version());
    fputs("\n"
          "usage: ctrain <command> [flags]\n"
          "\n"
          "commands:\n"
          "  train          train a model; by default the PyTorch MNIST tutorial's MLP\n"
          "                 (784 -> 32 -> ReLU -> 10, 5 epochs at lr 0.5 then 5 at lr 0.1);\n"
          "                 --save DIR checkpoints it, --resume DIR continues it,\n"
          "                 --lr-find suggests a learning rate\n"
          "  eval           a saved model on the test (or training) set: loss, accuracy,\n"
          "                 top-5 accuracy, per-class accuracy (recall), precision and F1,\n"
          "                 and the confusion matrix\n"
          "  predict        the classes of PNG, JPEG or PGM images (or a folder's) by a\n"
          "                 saved model\n"
          "  show           a grid of dataset images with their labels (and a model's\n"
          "                 predictions, the wrong ones in red) as PNG\n"
          "  summary        a model's layers, output shapes, parameter counts and\n"
          "                 mult-adds (like Keras' model.summary), for --model SPEC on\n"
          "                 --dataset's inputs\n"
          "  export         a saved model as ONNX (input, logits, probabilities), for\n"
          "                 ONNX Runtime, OpenCV's dnn, TensorRT; or a torchvision\n"
          "                 model's weights under torchvision's names (FILE.safetensors)\n"
          "  sweep          a hyperparameter search: ctrain train for every combination\n"
          "                 of the values given (--lr 0.05,0.1,0.5 --hidden 32,128), or\n"
          "                 --trials N of them at random, ranked on the validation split\n"
          "  devices        list the compute devices and the one --device auto picks\n"
          "  data fetch     download MNIST (SHA-256 verified) into the data folder\n"
          "  data path      print the data folder\n"
          "  help [CMD]     show this help, or a command's help\n"
          "\n"
          "flags:\n"
          "  --help, -h     show help (also: ctrain <command> --help)\n"
          "  --version      print the version\n"
          "\n"
          "environment:\n"
          "  CTRAIN_DATA    MNIST's folder when --data is not given (else\n"
          "                 ~/.cache/ctrain/mnist; other datasets: ~/.cache/ctrain/NAME)\n"
          "  CTRAIN_SWEEP_PID, CTRAIN_SWEEP_PRUNE  set by ctrain sweep for its trials:\n"
          "                 a trial stops when its sweep dies; --prune: the finished\n"
          "                 trials' medians (median) or the ended trials' objectives at\n"
          "                 the rungs (halving; hyperband: those of the trial's\n"
          "                 bracket), by which each trial prunes itself\n"
          "  CTRAIN_CUDA_PLUGIN=FILE  the CUDA backend to load instead of the\n"
          "                 libctrain_cuda.so beside libctrain.so (the tests load\n"
          "                 build/libctrain_cuda_emu.so, the CUDA emulator); one that\n"
          "                 cannot be used is an error, with --device auto too\n"
          "  CTRAIN_CPU_ISA avx2 or baseline: CPU kernels below the CPU's best (tests)\n"
          "  CTRAIN_CUDA_GRAPH=0  run GPU training steps op by op instead of replaying\n"
          "                 recorded runs of them (CUDA graphs)\n"
          "  CTRAIN_CUDA_GRAPH_STEPS=N  GPU training steps per recorded graph or per\n"
          "                 launch of the fused MLP step, 1..64 (default 8; the fused\n"
          "                 step: an epoch's full batches, up to 1024, in one launch)\n"
          "  CTRAIN_CUDA_FUSED=0  train the MLP on a GPU through the layers' ops instead\n"
          "                 of its fused step\n"
          "  CTRAIN_CUDA_MLP_LAUNCH=phases  the fused MLP step as three launches a step\n"
          "                 instead of one cooperative kernel (auto: cooperative where\n"
          "                 the GPU can launch it)\n"
          "  CTRAIN_CUDA_MLP_GRID=N  at most N blocks in the fused step's cooperative\n"
          "                 kernel, 1..65536 (default: as many as the GPU holds)\n"
          "  CTRAIN_NCCL=0  sum GPU ranks' gradients through MPI, not NCCL\n"
          "  CTRAIN_CUDNN=0  GPU convolutions by im2col and cuBLAS, not cuDNN\n"
          "  (other values of these eight are refused)\n"
          "\n"
          "exit status: 0 ok, 1 error, 2 bad command line, 130 interrupted (Ctrl-C)\n"
          "\n"
          "examples:\n"
          "  ctrain train                          the tutorial, on the GPU when there is one\n"
          "  ctrain train --device cpu --threads 4\n"
          "  ctrain train --epochs 3 --lr 0.1 --hidden 128\n"
          "  ctrain train --schedule 5@0.1,5@0.01,5@0.001 --momentum 0.9\n"
          "  ctrain train --save run1 --plot run1 --log run1/log.jsonl\n"
          "  ctrain train --resume run1 --epochs 15\n"
          "  ctrain train --model cnn --optimizer adam --lr-schedule cosine --epochs 12\n"
          "  ctrain train --model cnn --lr-find --plot runs   a learning rate to start from\n"
          "  ctrain train --tensorboard runs/mlp     then: tensorboard --logdir runs\n"
          "  ctrain train --dataset folder --data photos --model cnn   photos/train/CLASS/*.png\n"
          "  ctrain train --dataset folder --data photos --image-size 64 --normalize auto\n"
          "               --augment resized-crop,flip,brightness=0.2,contrast=0.2,erase=0.25\n"
          "  ctrain sweep --lr 0.05,0.1,0.5,1 --hidden 32,128 --epochs 5\n"
          "  ctrain summary --model cnn\n"
          "  ctrain eval --model run1\n"
          "  ctrain predict --model run1 digit.png\n"
          "  ctrain show --model run1 --out grid.png\n"
          "  ctrain export --model run1 --out run1.onnx\n",
          f);
}

/* help for one command; returns 0, or 2 when there is no such command */
static int command_help(const char *cmd) {
    if (strcmp(cmd, "train") == 0)
        train_help(stdout);
    else if (strcmp(cmd, "eval") == 0)
        eval_help(stdout);
    else if (strcmp(cmd, "predict") == 0)
        predict_help(stdout);
    else if (strcmp(cmd, "show") == 0)
        show_help(stdout);
    else if (strcmp(cmd, "data") == 0)
        data_help(stdout);
    else if (strcmp(cmd, "devices") == 0)
        devices_help(stdout);
    else if (strcmp(cmd, "summary") == 0)
        summary_help(stdout);
    else if (strcmp(cmd, "export") == 0)
        export_help(stdout);
    else if (strcmp(cmd, "sweep") == 0)
        sweep_help(stdout);
    else if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0)
        usage(stdout); /* help help: the help there is */
    else
        return cli_usage_error(NULL, "unknown command \"%s\"", cmd);
    return CLI_EXIT_OK;
}

/* ctrain's switches in the environment (see usage): a value the library would not understand
 * is refused here, in one line, rather than quietly ignored. CTRAIN_DATA is checked where used. */
static int check_environment(void) {
    static const struct { const char *name, *values, *words; long most; } vars[] = {
        {"CTRAIN_CPU_ISA", "avx2|baseline", "avx2 or baseline", 0},
        {"CTRAIN_CUDA_GRAPH", "0|1", "0 (off) or 1", 0},
        {"CTRAIN_CUDA_GRAPH_STEPS", NULL, "a number of steps, 1..64", 64},
        {"CTRAIN_CUDA_FUSED", "0|1", "0 (off) or 1", 0},
        {"CTRAIN_CUDA_MLP_LAUNCH", "auto|cooperative|phases", "auto, cooperative or phases", 0},
        {"CTRAIN_CUDA_MLP_GRID", NULL, "a number of blocks, 1..65536", 65536},
        {"CTRAIN_NCCL", "0|1", "0 (off) or 1", 0},
        {"CTRAIN_CUDNN", "0|1", "0 (off) or 1", 0},
    };
    const char *plugin = getenv("CTRAIN_CUDA_PLUGIN");
    if (plugin && !*plugin)
        return cli_usage_error(NULL, "environment: CTRAIN_CUDA_PLUGIN is empty: expected the "
                               "path of a CUDA backend (or unset it)");
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv(vars[i].name);
        if (!v) continue;
        if (!vars[i].values) { /* a count, 1..most (as the library takes it) */
            char *end;
            long k = strtol(v, &end, 10);
            if (isdigit((unsigned char)v[0]) && !*end && k >= 1 && k <= vars[i].most) continue;
            return cli_usage_error(NULL, "environment: %s=\"%s\": expected %s", vars[i].name, v,
                                   vars[i].words);
        }
        size_t n = strlen(v);
        for (const char *c = vars[i].values; *c;) {
            size_t len = strcspn(c, "|");
            if (len == n && strncmp(c, v, n) == 0) goto next;
            c += len + (c[len] == '|');
        }
        return cli_usage_error(NULL, "environment: %s=\"%s\": expected %s", vars[i].name, v,
                               vars[i].words);
    next:;
    }
    return CLI_EXIT_OK;
}

/* Output that could not be written is an error, not a success with nothing said (ctrain eval
 * >/dev/full): stdout is flushed here and a failure named, like coreutils' close_stdout. */
static int finish_stdout(int rc) {
    int e = fflush(stdout) != 0 ? errno : 0;
    if (!e && !ferror(stdout)) return rc;
    if (e) fprintf(stderr, "ctrain: standard output: write error: %s\n", strerror(e));
    else fprintf(stderr, "ctrain: standard output: write error\n");
    return rc == CLI_EXIT_OK ? CLI_EXIT_ERROR : rc;
}

/* Under an MPI launcher (mpirun -np N ctrain train ...), a rank other than 0 holds its errors
 * until the ranks are connected (dist_cli.h): rank 0 says those they share; and its train
 * --help goes to /dev/null (rank 0 prints it once). Other commands run as N copies, as any
 * program does under a launcher. */
static void hold_rank_errors(int argc, char **argv) {
    int rank = -1;
    int n = ct_dist_launched(&rank, NULL);
    if (n == 0 || n == 1 || rank <= 0 || argc < 2 || strcmp(argv[1], "train") != 0) return;
    cli_dist_hold_errors(rank);
    for (int i = 2; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            if (!freopen("/dev/null", "w", stdout)) { /* then it prints too; harmless */ }
            break;
        }
}

/* A trial of ctrain sweep (CTRAIN_SWEEP_PID: its sweep, this process's parent) stops as on
 * SIGTERM (after its current step, checkpointed) when its sweep dies, however it died (kill -9,
 * the OOM killer): it runs in a process group of its own, which no signal to the sweep's
 * reaches. */
static int end_with_sweep(void) {
    const char *v = getenv("CTRAIN_SWEEP_PID");
    if (!v) return CLI_EXIT_OK;
    char *end;
    errno = 0;
    long pid = strtol(v, &end, 10);
    if (end == v || *end || errno || pid < 1) {
        fprintf(stderr, "ctrain: train: CTRAIN_SWEEP_PID=%s: not a process id (ctrain sweep sets "
                "it for its trials; unset it)\n", v);
        return CLI_EXIT_USAGE;
    }
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (pid == (long)getppid()) return CLI_EXIT_OK;
    /* (it died before this trial could ask: or this is not a sweep's trial) */
    fprintf(stderr, "ctrain: train: CTRAIN_SWEEP_PID=%s: the sweep this run was started by has "
            "ended; not training\n", v);
    return CLI_EXIT_INTERRUPTED;
}

static int run_command(int argc, char **argv) {
    hold_rank_errors(argc, argv);
    if (check_environment() != CLI_EXIT_OK) return CLI_EXIT_USAGE;
    if (argc < 2) {
        usage(stderr);
        return CLI_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        if (argc > 3) /* help [CMD] (--help CMD and -h CMD alike) */
            return cli_usage_error(NULL, "%s: unexpected argument \"%s\"", cmd, argv[3]);
        if (argc > 2) return command_help(argv[2]);
        usage(stdout);
        return CLI_EXIT_OK;
    }
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
        if (argc > 2)
            return cli_usage_error(NULL, "%s: unexpected argument \"%s\"", cmd, argv[2]);
        printf("ctrain %s\n", ct_version());
        return CLI_EXIT_OK;
    }
    if (strcmp(cmd, "train") == 0) {
        int swept = end_with_sweep();
        if (swept != CLI_EXIT_OK) return swept;
        return cmd_train(argc - 1, argv + 1);
    }
    if (strcmp(cmd, "eval") == 0) return cmd_eval(argc - 1, argv + 1);
    if (strcmp(cmd, "predict") == 0) return cmd_predict(argc - 1, argv + 1);
    if (strcmp(cmd, "show") == 0) return cmd_show(argc - 1, argv + 1);
    if (strcmp(cmd, "devices") == 0) return cmd_devices(argc - 1, argv + 1);
    if (strcmp(cmd, "summary") == 0) return cmd_summary(argc - 1, argv + 1);
    if (strcmp(cmd, "export") == 0) return cmd_export(argc - 1, argv + 1);
    if (strcmp(cmd, "sweep") == 0) return cmd_sweep(argc - 1, argv + 1);
    if (strcmp(cmd, "data") == 0) return cmd_data(argc - 1, argv + 1);
    if (cmd[0] == '-') return cli_usage_error(NULL, "unknown flag %s (a command comes first)", cmd);
    return cli_usage_error(NULL, "unknown command \"%s\"", cmd);
}

int main(int argc, char **argv) {
    int rc = finish_stdout(run_command(argc, argv));
    cli_dist_release_errors(rc != CLI_EXIT_OK); /* a rank's held errors (dist_cli.h) */
    return rc;
}
