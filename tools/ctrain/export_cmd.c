/*
 * export_cmd.c — `ctrain export`: a saved model as an ONNX file (the library's ct_save_onnx), to
 * run where ctrain is not: ONNX Runtime, OpenCV's dnn, TensorRT, a browser; or a torchvision
 * preset's weights as torchvision's own state_dict (ct_save_torchvision).
 */
#include "cli.h"

#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
    const char *model, *out, *spec, *dataset, *data_dir;
} export_opts;

enum { NUM_EXPORT_FLAGS = 5 };

static int export_flags(export_opts *o, cli_flag *f) {
    memset(o, 0, sizeof *o);
    o->out = "model.onnx";
    o->dataset = "mnist";
    cli_flag t[NUM_EXPORT_FLAGS] = {
        {.name = "model", .kind = CLI_STR, .dst = &o->model, .metavar = "PATH",
         .help = "a checkpoint folder (its model.safetensors) or a .safetensors file",
         .def = "required"},
        {.name = "out", .kind = CLI_STR, .dst = &o->out, .metavar = "FILE",
         .help = "the ONNX file to write (its name ends in .onnx), or, for the\n"
                 "torchvision presets (resnet18 ... wide_resnet101_2, resnext50_32x4d ...,\n"
                 "mobilenet_v2, mobilenet_v3_large and _small, efficientnet_b0) and\n"
                 "vision transformers (vit_b_16 ..., or any of their layers),\n"
                 "FILE.safetensors: the weights under torchvision's names,\n"
                 "the state_dict torchvision.models.resnet50(num_classes=K) (and so on;\n"
                 "a ViT's: the VisionTransformer(...) the line written names)\n"
                 "loads (strict); an existing file that is not an ONNX model (or\n"
                 "safetensors file) is refused"},
        {.name = "spec", .kind = CLI_STR, .dst = &o->spec, .metavar = "SPEC",
         .help = "the model's layers, for a file that does not record them (as ctrain\n"
                 "eval --spec)",
         .def = "the file's model_spec"},
        {.name = "dataset", .kind = CLI_CHOICE, .dst = &o->dataset, .metavar = "NAME",
         .choices = CLI_DATASETS,
         .help = "the input shape, for a file that records none (a PyTorch state_dict)",
         .def = "the file's input_shape"},
        {.name = "data", .kind = CLI_STR, .dst = &o->data_dir, .metavar = "DIR",
         .help = "--dataset idx or folder: the folder of its files (read for the shape)",
         .def = "~/.cache/ctrain/idx; folder: required"},
    };
    memcpy(f, t, sizeof t);
    return NUM_EXPORT_FLAGS;
}

void export_help(FILE *out) {
    export_opts o;
    cli_flag flags[NUM_EXPORT_FLAGS];
    int n = export_flags(&o, flags);
    fputs("usage: ctrain export --model PATH [--out FILE.onnx | FILE.safetensors]\n"
          "\n"
          "Writes a saved model as ONNX (opset 13), as torch.onnx.export writes the equivalent\n"
          "nn.Module in eval mode (dropout off, batch norm on its running statistics), to run\n"
          "with ONNX Runtime, OpenCV's dnn module, TensorRT or in a browser:\n"
          "  input          float32 (batch, C, H, W): the pixels / 255, as ctrain and\n"
          "                 torchvision's ToTensor feed them (the batch size is free)\n"
          "  logits         float32 (batch, classes)\n"
          "  probabilities  their softmax\n"
          "The weights keep ctrain's state_dict names (linear1.weight, ...); the model's metadata\n"
          "(spec, input shape, classes, accuracy, class names) travels as metadata_props.\n"
          "The file is replaced atomically.\n"
          "\n"
          "flags:\n",
          out);
    cli_print_flags(out, flags, n);
    fputs("\nexample:\n"
          "  ctrain export --model run1 --out digits.onnx\n"
          "and then, in Python with ONNX Runtime (x: float32 (n, 1, 28, 28), pixels / 255):\n"
          "  s = onnxruntime.InferenceSession(\"digits.onnx\")\n"
          "  p = s.run([\"probabilities\"], {\"input\": x})[0]\n",
          out);
}

static int ends_with(const char *s, const char *tail) {
    size_t n = strlen(s), t = strlen(tail);
    return n > t && strcmp(s + n - t, tail) == 0;
}

/* --out FILE: named *.onnx (or *.safetensors), in a folder that exists, and replacing nothing
 * but an earlier ONNX file (whose first field is ir_version: the byte 0x08), or safetensors
 * file (one that opens as one) other than the model's own. */
static int check_out(const char *path, const char *model_file) {
    static const unsigned char ir_version_field[1] = {0x08};
    if (ends_with(path, ".safetensors")) {
        struct stat a, b;
        ct_checkpoint *ck = NULL;
        if (stat(path, &a) == 0 && stat(model_file, &b) == 0 && a.st_dev == b.st_dev &&
            a.st_ino == b.st_ino)
            return cli_usage_error("export", "--out %s: is the model's own file", path);
        if (stat(path, &a) == 0 && S_ISREG(a.st_mode) && a.st_size > 0 &&
            ct_checkpoint_open(path, &ck) != CT_OK)
            return cli_error("--out %s: exists and is not a safetensors file; not replaced",
                             path);
        ct_checkpoint_free(ck);
        return cli_check_out("out", path, "", 0, "a safetensors file");
    }
    if (!ends_with(path, ".onnx"))
        return cli_usage_error("export", "--out %s: the file's name must end in .onnx (or "
                               ".safetensors)", path);
    return cli_check_out("out", path, ir_version_field, 1, "an ONNX model");
}

int cmd_export(int argc, char **argv) {
    export_opts o;
    cli_flag flags[NUM_EXPORT_FLAGS];
    int nflags = export_flags(&o, flags);
    switch (cli_parse("export", flags, nflags, argc, argv, NULL, 0, NULL)) {
    case CLI_PARSE_HELP: export_help(stdout); return CLI_EXIT_OK;
    case CLI_PARSE_ERROR: return CLI_EXIT_USAGE;
    case CLI_PARSE_OK: break;
    }
    if (!o.model) return cli_usage_error("export", "--model: required (a checkpoint folder or a "
                                         ".safetensors file)");
    int rc, in_c = 0, in_h = 0, in_w = 0, classes;
    cli_model cm;
    if ((rc = cli_open_checkpoint(o.model, &cm)) != CLI_EXIT_OK) return rc;
    if ((rc = check_out(o.out, ct_checkpoint_path(cm.ck))) != CLI_EXIT_OK) {
        cli_close_model(&cm);
        return rc;
    }
    int dataset_seen = cli_find(flags, nflags, "dataset")->seen;
    if (cli_find(flags, nflags, "data")->seen &&
        (!dataset_seen || !cli_dataset_from_files(o.dataset))) {
        cli_close_model(&cm);
        return cli_usage_error("export", "--data: only read for --dataset idx or folder (a file "
                               "that records no input shape)");
    }
    if (dataset_seen && ct_checkpoint_meta(cm.ck, "input_shape")) {
        cli_close_model(&cm);
        return cli_usage_error("export", "--dataset: %s records its input shape; --dataset is for "
                               "a file that does not", cm.path);
    }
    if (!dataset_seen && !ct_checkpoint_meta(cm.ck, "input_shape")) {
        cli_close_model(&cm);
        return cli_usage_error("export", "%s records no input shape (a PyTorch state_dict?): give "
                               "--dataset, whose images it takes", cm.path);
    }
    if (dataset_seen &&
        (rc = cli_dataset_shape(o.dataset, o.data_dir, &in_c, &in_h, &in_w, &classes)) !=
            CLI_EXIT_OK) {
        cli_close_model(&cm);
        return rc;
    }
    if ((rc = cli_build_model(&cm, "cpu", 1, o.spec, in_c, in_h, in_w, 1)) != CLI_EXIT_OK)
        return rc;
    /* the checkpoint's own metadata (accuracy, seed, class names...) beside the model's */
    static const char *const keys[] = {"dataset",  "input_scale", "epoch",          "seed",
                                       "val_loss", "val_acc",     "test_loss",      "test_acc",
                                       "class_names", "label_smoothing", "ema_decay"};
    ct_meta extra[sizeof keys / sizeof keys[0]];
    int n_extra = 0;
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        const char *v = ct_checkpoint_meta(cm.ck, keys[i]);
        if (v) extra[n_extra++] = (ct_meta){keys[i], v};
    }
    const int torchvision = ends_with(o.out, ".safetensors");
    ct_status s = torchvision ? ct_save_torchvision(cm.m, o.out)
                              : ct_save_onnx(cm.m, o.out, extra, n_extra);
    if (s != CT_OK) rc = cli_lib_error(s);
    else { /* (the line not into the model: an --out that is stdout, a *.onnx link to it or a
            * pipe, gets it on stderr) */
        int c, h, w;
        ct_model_input_shape(cm.m, &c, &h, &w);
        struct stat st_out, st_stdout;
        FILE *say = stat(o.out, &st_out) == 0 && fstat(STDOUT_FILENO, &st_stdout) == 0 &&
                            st_out.st_dev == st_stdout.st_dev && st_out.st_ino == st_stdout.st_ino
                        ? stderr
                        : stdout;
        char text[400], vit[200] = "";
        if (torchvision) ct_torchvision_vit_call(cm.m, vit, sizeof vit);
        if (torchvision) /* (a normalize layer has no weights: the network's input is its) */
            fprintf(say, "Wrote %s: the weights of %s under torchvision's names (its first "
                    "conv on %d channel%s, %d outputs%s)%s%s%s\n", o.out,
                    ct_spec_text(ct_model_spec(cm.m), 0, text, sizeof text), c,
                    c == 1 ? "" : "s", ct_model_num_classes(cm.m),
                    strncmp(ct_model_spec(cm.m), "normalize(", 10) == 0
                        ? "; normalize its inputs as the model's normalize layer does"
                        : "",
                    *vit ? "; torchvision.models." : "", vit, *vit ? " loads them" : "");
        else
            fprintf(say, "Wrote %s: %s, input (batch, %d, %d, %d), outputs logits and "
                    "probabilities (batch, %d)\n", o.out,
                    ct_spec_text(ct_model_spec(cm.m), 0, text, sizeof text), c, h, w,
                    ct_model_num_classes(cm.m));
    }
    cli_close_model(&cm);
    return rc;
}
