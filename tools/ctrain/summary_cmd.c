/*
 * summary_cmd.c — `ctrain summary`: a model's layers, output shapes, parameter counts and
 * multiply-adds, like Keras' model.summary() or torchinfo, for a spec built on a dataset's
 * input shape. The shapes of the named datasets are known (MNIST and Fashion-MNIST 1x28x28,
 * CIFAR-10 3x32x32, 10 classes each); an idx dataset's come from its files (--data). A saved
 * model (a folder or a .safetensors file) is shown on its own input shape. The model is built
 * on the CPU with one thread.
 */
#include "args.h"
#include "cli.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define SUMMARY_BYTES (1 << 18) /* (640 layers of up to ~130 characters) */

typedef struct {
    const char *model, *dataset, *data_dir, *image_size, *freeze;
    int hidden;
} summary_opts;

enum { NUM_SUMMARY_FLAGS = 6 };

static int summary_flags(summary_opts *o, cli_flag *f) {
    cli_flag t[NUM_SUMMARY_FLAGS] = {
        {.name = "model", .kind = CLI_STR, .dst = &o->model, .metavar = "SPEC",
         .help = "a preset (mlp, lenet5, cnn, resnet8, resnet20, resnet18, resnet34,\n"
                 "resnet50, resnet101, resnet152, wide_resnet50_2, wide_resnet101_2,\n"
                 "resnext50_32x4d, resnext101_32x8d, resnext101_64x4d, mobilenet_v2,\n"
                 "mobilenet_v3_large, mobilenet_v3_small, efficientnet_b0, vit_b_16,\n"
                 "vit_b_32, vit_l_16, vit_l_32, vit_h_14) or layers\n"
                 "(below), as ctrain train --model;\n"
                 "or a saved model (a --save folder or a .safetensors file)"},
        {.name = "dataset", .kind = CLI_CHOICE, .dst = &o->dataset, .metavar = "NAME",
         .choices = CLI_DATASETS, .help = "the input shape and classes to build for"},
        {.name = "data", .kind = CLI_STR, .dst = &o->data_dir, .metavar = "DIR",
         .help = "--dataset idx or folder: the folder of its files (read for the\nshape and classes)",
         .def = "~/.cache/ctrain/idx; folder: required"},
        {.name = "hidden", .kind = CLI_INT, .range = CLI_POSITIVE, .dst = &o->hidden,
         .metavar = "N", .help = "hidden units of --model mlp"},
        {.name = "image-size", .kind = CLI_STR, .dst = &o->image_size, .metavar = "SIZE",
         .help = "--dataset folder: the size its images are resized to, as ctrain\n"
                 "train --image-size SIZE (HEIGHT,WIDTH or SIDE)",
         .def = "none: the first training image's"},
        {.name = "freeze", .kind = CLI_STR, .dst = &o->freeze, .metavar = "LAYER",
         .help = "show the model as ctrain train --freeze LAYER trains it: the\n"
                 "layers up to LAYER (a name below, as conv2) marked frozen and\n"
                 "their parameters apart from the trainable ones (backbone: up to\n"
                 "the layer with weights before the last, the head)", .def = "off"},
    };
    memcpy(f, t, sizeof t);
    return NUM_SUMMARY_FLAGS;
}

static void opts_init(summary_opts *o) {
    o->model = "mlp";
    o->dataset = "mnist";
    o->data_dir = NULL;
    o->hidden = 32;
    o->image_size = NULL;
    o->freeze = "off";
}

/* The summary of m, with --freeze's layers frozen (the error said: CLI_EXIT_USAGE). */
static int print_summary(const ct_model *m, const summary_opts *o, char *buf) {
    int frozen = 0;
    ct_status s;
    if (strcmp(o->freeze, "off") != 0 && (s = ct_model_freeze_point(m, o->freeze, &frozen)))
        return cli_usage_error("summary", "--freeze: %s", ct_last_error());
    if ((s = ct_model_summary(m, frozen, buf, SUMMARY_BYTES)) != CT_OK) return cli_lib_error(s);
    return CLI_EXIT_OK;
}

void summary_help(FILE *out) {
    summary_opts o;
    cli_flag flags[NUM_SUMMARY_FLAGS];
    opts_init(&o);
    int n = summary_flags(&o, flags);
    fputs("usage: ctrain summary [--model SPEC] [--dataset NAME] [--data DIR] [--hidden N]\n"
          "                      [--image-size SIZE] [--freeze LAYER]\n"
          "\n"
          "Prints each layer of the model (as ctrain train --model builds it), its output shape,\n"
          "parameter count and multiply-adds for one image (the linear, convolution and\n"
          "attention layers' matrix products; torchinfo's Mult-Adds add the biases), and\n"
          "the totals, like Keras' model.summary() or torchinfo.\n"
          "Input shapes: mnist and fashion-mnist 1x28x28, cifar10 3x32x32 (10 classes each);\n"
          "idx: read from its files in --data DIR; folder: from its training images' headers\n"
          "in --data DIR (their channels, the first one's size or --image-size).\n"
          "A malformed layer string is an error naming the offending layer. A saved model (a\n"
          "--save folder or a .safetensors file, as ctrain eval --model takes it) is shown on\n"
          "the input shape it was saved with (a preset's name wins: ./cnn for a folder cnn);\n"
          "one that records none (a PyTorch state_dict) on --dataset's.\n"
          "\n"
          "layers (--model \"A,B,...\"; each runs on the one before's output):\n"
          "  linear(UNITS)                 (a flat input: after flatten or globalavgpool;\n"
          "                                on a sequence, each token's features)\n"
          "  conv(OUT, K[, STRIDE[, PAD[, BIAS[, GROUPS]]]])   BIAS 0: none (before a\n"
          "                                batchnorm); GROUPS: each slice of the output\n"
          "                                channels reads its slice of the input's (the\n"
          "                                input's channels: depthwise)\n"
          "  maxpool(K[, STRIDE[, PAD]])   avgpool(K[, STRIDE[, PAD]])\n"
          "  globalavgpool                 the mean of each channel (AdaptiveAvgPool2d(1))\n"
          "  batchnorm[(EPS[, MOMENTUM])]  dropout[(P)]   normalize(MEAN, STD)   flatten\n"
          "  groupnorm(GROUPS[, EPS])      GroupNorm: each image's channels in GROUPS groups,\n"
          "                                each normalised by its own mean and variance,\n"
          "                                then a weight and a bias per channel\n"
          "  layernorm[(EPS)]              LayerNorm: each image (or feature vector)\n"
          "                                normalised over all its values, then a weight\n"
          "                                and a bias per value\n"
          "  droppath(P)                   stochastic depth: while training each image's\n"
          "                                input dropped whole with probability P (the\n"
          "                                last layer of a residual block: the block skipped)\n"
          "  relu  leakyrelu[(SLOPE)]  sigmoid  tanh  gelu  relu6  silu  hardswish  hardsigmoid\n"
          "  se(SQUEEZE[, ACT[, GATE]])    squeeze-and-excitation: each channel times\n"
          "                                GATE(fc2(ACT(fc1(its mean)))), 1x1 convs through\n"
          "                                SQUEEZE channels; ACT relu, GATE sigmoid unless\n"
          "                                given (MobileNetV3: se(Q,relu,hardsigmoid))\n"
          "  residual(LAYER, ...)          a residual block, as ResNet's: its layers' output\n"
          "                                plus its input; where they change the shape (a\n"
          "                                stride, more channels), plus a 1x1 conv of that\n"
          "                                stride (no bias) and a batchnorm of it instead\n"
          "                                (torchvision's projection shortcut); no nesting\n"
          "  tokens                        an image (C, H, W) as H*W tokens of C features (after\n"
          "                                conv(D, P, P): its P x P patches, as a ViT's)\n"
          "  clstoken  posembed            a learned class token put first; learned position\n"
          "                                embeddings added (torchvision's VisionTransformer)\n"
          "  attention(HEADS[, P])         multi-head self-attention over the tokens\n"
          "                                (nn.MultiheadAttention; P: its dropout of the\n"
          "                                attention weights while training, 0 unless\n"
          "                                given: torchvision's attention_dropout); on\n"
          "                                tokens linear, layernorm, the activations,\n"
          "                                dropout and residual blocks act on each token\n"
          "  clspool                       the first token's features: a flat vector\n"
          "presets: mlp (the tutorial's), lenet5, cnn (Keras' MNIST convnet), resnet8 and\n"
          "resnet20 (He et al.'s CIFAR ResNets: a conv, 3 stages of 1 or 3 residual blocks of\n"
          "16, 32, 64 channels, globalavgpool, linear(10)), resnet18, resnet34, resnet50,\n"
          "resnet101 and resnet152 (torchvision's resnet18(num_classes=10) ...: a 7x7 conv,\n"
          "max pooling, 4 stages of basic blocks (18, 34) or bottlenecks (50, 101, 152) of\n"
          "64 to 512 channels (bottlenecks' out: 4 times that), globalavgpool, linear(10);\n"
          "their layers in their state_dict's order), wide_resnet50_2 and wide_resnet101_2\n"
          "(the bottlenecks' inner convs twice as wide), resnext50_32x4d, resnext101_32x8d,\n"
          "resnext101_64x4d (their 3x3 convs in 32 or 64 groups), mobilenet_v2 (torchvision's\n"
          "mobilenet_v2(num_classes=10): inverted residual blocks of depthwise convs, ReLU6),\n"
          "mobilenet_v3_large and mobilenet_v3_small (torchvision's: inverted residual blocks\n"
          "with squeeze-and-excitation, Hardswish; batchnorm(0.001,0.01); a 2-layer head),\n"
          "efficientnet_b0 (torchvision's: 16 MBConv blocks with squeeze-and-excitation, SiLU,\n"
          "stochastic depth up to 0.175), vit_b_16, vit_b_32, vit_l_16, vit_l_32, vit_h_14\n"
          "(torchvision's vision transformers: the image's P x P patches as tokens (P 16, 32,\n"
          "14), a class token, position embeddings, 12 to 32 encoder blocks, each token's\n"
          "layernorm(1e-6); the tokens follow the image size: 224 gives 196 of 16)\n"
          "\n"
          "flags:\n",
          out);
    cli_print_flags(out, flags, n);
    fputs("\n"
          "examples:\n"
          "  ctrain summary                        the tutorial's MLP (25450 parameters)\n"
          "  ctrain summary --model cnn\n"
          "  ctrain summary --model resnet20 --dataset cifar10   (272474 parameters)\n"
          "  ctrain summary --model run1           the model saved by ctrain train --save run1\n"
          "  ctrain summary --model cnn --freeze linear1   what fine-tuning the head trains\n"
          "  ctrain summary --model \"conv(8,3),relu,maxpool(2),flatten,linear(10)\" --dataset cifar10\n",
          out);
}

/* The summary of the model saved at arg (a folder or a .safetensors file), on the input shape it
 * was saved with; a file that records none (a PyTorch state_dict) on --dataset's (given). */
static int summary_saved(const char *arg, const summary_opts *o, int dataset_seen) {
    cli_model cm;
    int rc = cli_open_checkpoint(arg, &cm), in_c = 0, in_h = 0, in_w = 0, classes;
    if (rc == CLI_EXIT_OK && dataset_seen) {
        if (ct_checkpoint_meta(cm.ck, "input_shape")) {
            cli_close_model(&cm);
            return cli_usage_error("summary", "--dataset: %s records its input shape; --dataset "
                                   "is for a file that does not", cm.path);
        }
        rc = cli_dataset_shape(o->dataset, o->data_dir, &in_c, &in_h, &in_w, &classes);
    } else if (rc == CLI_EXIT_OK && !ct_checkpoint_meta(cm.ck, "input_shape")) {
        cli_close_model(&cm);
        return cli_usage_error("summary", "%s records no input shape (a PyTorch state_dict?): "
                               "give --dataset, whose images it takes", cm.path);
    }
    if (rc == CLI_EXIT_OK) rc = cli_build_model(&cm, "cpu", 1, NULL, in_c, in_h, in_w, 1);
    else cli_close_model(&cm);
    char *buf = rc == CLI_EXIT_OK ? malloc(SUMMARY_BYTES) : NULL;
    if (rc == CLI_EXIT_OK && !buf) {
        fprintf(stderr, "ctrain: out of memory\n");
        rc = CLI_EXIT_ERROR;
    }
    if (rc == CLI_EXIT_OK) rc = print_summary(cm.m, o, buf);
    if (rc == CLI_EXIT_OK) {
        int c, h, w;
        ct_model_input_shape(cm.m, &c, &h, &w);
        char text[400];
        printf("Model: %s, input %dx%dx%d, from %s\n",
               ct_spec_text(ct_model_spec(cm.m), 0, text, sizeof text), c, h, w, cm.path);
        fputs(buf, stdout);
        if (*buf && buf[strlen(buf) - 1] != '\n') fputc('\n', stdout);
    }
    free(buf);
    cli_close_model(&cm);
    return rc;
}

int cmd_summary(int argc, char **argv) {
    summary_opts o;
    cli_flag flags[NUM_SUMMARY_FLAGS];
    opts_init(&o);
    int nflags = summary_flags(&o, flags);
    switch (cli_parse("summary", flags, nflags, argc, argv, NULL, 0, NULL)) {
    case CLI_PARSE_HELP: summary_help(stdout); return CLI_EXIT_OK;
    case CLI_PARSE_ERROR: return CLI_EXIT_USAGE;
    case CLI_PARSE_OK: break;
    }
    /* a saved model, as eval takes it: a path (a '/' or a .safetensors file) or a folder, but
     * not a preset's name (a folder called cnn is ./cnn) */
    size_t len = strlen(o.model);
    struct stat st;
    if (!ct_model_preset(o.model) &&
        (strchr(o.model, '/') || (len >= 12 && strcmp(o.model + len - 12, ".safetensors") == 0) ||
         (stat(o.model, &st) == 0 && S_ISDIR(st.st_mode)))) {
        if (cli_find(flags, nflags, "hidden")->seen)
            return cli_usage_error("summary", "--hidden: for a layer spec, not a saved model "
                                   "(--model %s)", o.model);
        if (!cli_dataset_from_files(o.dataset) && cli_find(flags, nflags, "data")->seen)
            return cli_usage_error("summary", "--data: only read for --dataset idx or folder "
                                   "(got %s)", o.dataset);
        if (o.image_size)
            return cli_usage_error("summary", "--image-size: for a layer spec; a saved model is "
                                   "shown on its own input shape (--model %s)", o.model);
        return summary_saved(o.model, &o, cli_find(flags, nflags, "dataset")->seen);
    }
    int is_mlp = strcmp(o.model, "mlp") == 0;
    if (!is_mlp && cli_find(flags, nflags, "hidden")->seen)
        return cli_usage_error("summary", "--hidden: only applies to --model mlp (got --model %s)",
                               o.model);
    if (!cli_dataset_from_files(o.dataset) && cli_find(flags, nflags, "data")->seen)
        return cli_usage_error("summary", "--data: only read for --dataset idx or folder (got %s)",
                               o.dataset);
    long ih = 0, iw = 0;
    if (o.image_size && strcmp(o.dataset, "folder") != 0)
        return cli_usage_error("summary", "--image-size: only for --dataset folder (got %s)",
                               o.dataset);
    if (o.image_size && cli_parse_image_size(o.image_size, &ih, &iw) != 0)
        return cli_usage_error("summary", "--image-size: expected SIDE or HEIGHT,WIDTH, each 1 "
                               "to %d and at most %d pixels in all, got \"%s\"",
                               CLI_MAX_IMAGE_SIDE, CLI_MAX_IMAGE_PIXELS, o.image_size);
    int in_c, in_h, in_w, classes;
    int rc0 = cli_dataset_shape(o.dataset, o.data_dir, &in_c, &in_h, &in_w, &classes);
    if (rc0 != CLI_EXIT_OK) return rc0;
    if (ih) in_h = (int)ih, in_w = (int)iw; /* (the folder's channels and classes, this size) */
    char spec_buf[MODEL_SPEC_BYTES];
    const char *spec = cli_model_spec(o.model, o.hidden, classes, spec_buf, sizeof spec_buf);
    ct_backend *b = NULL;
    ct_model *m = NULL;
    char *buf = NULL;
    int rc = CLI_EXIT_ERROR;
    ct_status s;
    if ((s = ct_backend_create("cpu", 1, &b)) != CT_OK) {
        rc = cli_lib_error(s);
        goto done;
    }
    if ((s = ct_model_create(b, spec, in_c, in_h, in_w, 1, 0, &m)) != CT_OK) {
        rc = s == CT_ERR_INVALID ? cli_usage_error("summary", "--%s: %s", is_mlp ? "hidden" : "model",
                                                   ct_last_error())
                                 : cli_lib_error(s);
        goto done;
    }
    if (!(buf = malloc(SUMMARY_BYTES))) {
        fprintf(stderr, "ctrain: out of memory\n");
        goto done;
    }
    if ((rc = print_summary(m, &o, buf)) != CLI_EXIT_OK) goto done;
    char text[400]; /* (a preset by its name: "resnet18 for 3 classes") */
    printf("Model: %s, input %dx%dx%d (%s)\n",
           is_mlp ? "mlp" : ct_spec_text(spec, 0, text, sizeof text), in_c, in_h, in_w, o.dataset);
    fputs(buf, stdout);
    if (*buf && buf[strlen(buf) - 1] != '\n') fputc('\n', stdout);
    rc = CLI_EXIT_OK;
done:
    free(buf);
    ct_model_free(m);
    ct_backend_free(b);
    return rc;
}
