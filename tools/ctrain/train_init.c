/*
 * train_init.c — fine-tuning in `ctrain train`: --init DIR (a new run from saved weights; on
 * data of other classes with a new last layer, as torchvision's fine-tuning recipe replaces
 * model.fc) and --freeze LAYER (the layers up to LAYER keep their weights: Keras'
 * trainable = False, PyTorch's requires_grad_(False)).
 */
#include "cli.h"
#include "train.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int train_open_init(train_opts *o, cli_flag *flags, int nflags, cli_model *init) {
    memset(init, 0, sizeof *init);
    if (!o->init_path) return CLI_EXIT_OK;
    int r = cli_open_checkpoint(o->init_path, init);
    if (r != CLI_EXIT_OK) return r;
    int ic, ih, iw; /* (another shape than the data's is fine when the weights fit it) */
    ct_status s = ct_checkpoint_input_shape(init->ck, &ic, &ih, &iw);
    if (s != CT_OK) {
        cli_close_model(init);
        return cli_lib_error(s);
    }
    /* its model (the metadata's, or inferred from a PyTorch state_dict's linear layers),
     * unless one is given */
    if (cli_find(flags, nflags, "model")->seen || cli_find(flags, nflags, "hidden")->seen)
        return CLI_EXIT_OK;
    if ((s = ct_checkpoint_model_spec(init->ck, o->model_resumed, sizeof o->model_resumed)) !=
        CT_OK) {
        /* (a torchvision ResNet's names: the library's message says which it is not) */
        int tv = 0;
        for (int i = 0; i < ct_checkpoint_tensor_count(init->ck); i++) {
            const char *name, *dtype;
            int ndim;
            const int64_t *shape;
            const void *data;
            if (ct_checkpoint_tensor(init->ck, i, &name, &dtype, &ndim, &shape, &data) == CT_OK)
                tv |= !strcmp(name, "bn1.weight");
        }
        r = s == CT_ERR_FORMAT && !ct_checkpoint_meta(init->ck, "model_spec") && !tv
                ? cli_usage_error("train", "--init: %s has no model_spec in its metadata, and "
                                  "its tensors are not a chain of linear layers: give its "
                                  "--model", init->path)
                : cli_lib_error(s);
        cli_close_model(init);
        return r;
    }
    o->model = o->model_resumed;
    return CLI_EXIT_OK;
}

/* Where spec's last layer, "linear(UNITS)" (spaces allowed around its parts, the name in any
 * case, as the spec parser takes them), begins, and its UNITS; -1 when spec does not end in
 * one (a residual block ends in "))"). Read from the end. */
static long last_linear(const char *spec, long *units) {
    long e = (long)strlen(spec);
    while (e > 0 && isspace((unsigned char)spec[e - 1])) e--;
    if (e == 0 || spec[--e] != ')') return -1;
    while (e > 0 && isspace((unsigned char)spec[e - 1])) e--;
    long d = e;
    while (d > 0 && isdigit((unsigned char)spec[d - 1])) d--;
    if (d == e || e - d > 9) return -1;
    *units = strtol(spec + d, NULL, 10);
    while (d > 0 && isspace((unsigned char)spec[d - 1])) d--;
    if (d == 0 || spec[--d] != '(') return -1;
    while (d > 0 && isspace((unsigned char)spec[d - 1])) d--;
    if (d < 6 || strncasecmp(spec + d - 6, "linear", 6) != 0) return -1;
    d -= 6; /* (and the name is the whole word: leakylinear( is no layer) */
    if (d > 0 && (isalnum((unsigned char)spec[d - 1]) || spec[d - 1] == '_')) return -1;
    return d;
}

const char *train_init_spec(train_opts *o, const char *spec, int classes, int folder) {
    long units = 0, at;
    if (!o->init_path || o->model != o->model_resumed || (at = last_linear(spec, &units)) < 0)
        return spec; /* (--model given: built for the data; not --init; no linear head) */
    if (units >= classes && !(folder && units != classes))
        return spec; /* its outputs serve these classes (labels a subset of its classes) */
    char buf[sizeof o->model_resumed];
    int n = snprintf(buf, sizeof buf, "%.*slinear(%d)", (int)at, spec, classes);
    if (n < 0 || (size_t)n >= sizeof buf) return spec; /* (too long: the model's build says) */
    /* the run's model from now on: saved as its --model, which a resume builds again */
    memcpy(o->model_resumed, buf, (size_t)n + 1);
    return o->model = o->model_resumed;
}

int train_load_init(const train_opts *o, cli_model *init, ct_model *m, ct_backbone_fit *fit) {
    memset(fit, 0, sizeof *fit);
    if (!init->ck) return CLI_EXIT_OK;
    ct_status s = ct_checkpoint_load_backbone(init->ck, m, ct_checkpoint_prefix(init->ck), fit);
    if (s == CT_OK) return CLI_EXIT_OK;
    /* the error names the file and the tensor */
    if (o->model == o->model_resumed) return cli_lib_error(s); /* the file is at fault */
    /* the model of --model/--hidden (or the default mlp) does not take these weights */
    return cli_usage_error("train", "--init: %s", ct_last_error());
}

void train_frozen_text(const ct_model *m, int n, char *out, size_t bytes) {
    int last = n - 1;
    while (last > 0 && ct_model_frozen_params(m, last + 1) == ct_model_frozen_params(m, last))
        last--;
    if (n <= 0) snprintf(out, bytes, "no layer");
    else snprintf(out, bytes, "the layers up to %s", ct_model_layer_name(m, last));
}

int train_freeze(train_opts *o, const ct_model *m, int given) {
    int n = 0;
    if (strcmp(o->freeze, "off") != 0) {
        ct_status s = ct_model_freeze_point(m, o->freeze, &n);
        if (s != CT_OK) return cli_usage_error("train", "--freeze: %s", ct_last_error());
    } else if (o->frozen_resumed >= 0 && !given) {
        n = o->frozen_resumed;
        if ((n > 0 && !ct_model_layer_name(m, n - 1)) ||
            (n > 0 && ct_model_frozen_params(m, n) == ct_model_param_count(m))) {
            cli_error("%s/train_state.safetensors: frozen_layers %d: %s", o->resume_dir, n,
                      ct_model_layer_name(m, n - 1) ? "leaves no layer with weights to train"
                                                    : "more than the model's layers");
            return CLI_EXIT_ERROR;
        }
    }
    if (o->resume_dir && given && n != o->frozen_resumed) {
        char was[160];
        train_frozen_text(m, o->frozen_resumed, was, sizeof was);
        return cli_usage_error("train", "--freeze %s: the run in %s was saved with %s frozen; a "
                               "resumed run keeps them", o->freeze, o->resume_dir, was);
    }
    o->cfg.frozen_layers = n;
    return CLI_EXIT_OK;
}
