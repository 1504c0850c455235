/*
 * ctrain/io.h — what training leaves behind: safetensors checkpoints (PyTorch state_dict names),
 * images read for prediction, plots and image grids written as PNG, one JSON line per epoch.
 *
 * Checkpoint folder (written by `ctrain train --save DIR`):
 *     DIR/model.safetensors        the parameters under PyTorch state_dict names, and metadata
 *     DIR/train_state.safetensors  all a resume needs: a copy of the parameters ("model." + name),
 *                                  their moving average ("ema." + name, with ema_decay > 0),
 *                                  the optimizer's state ("optimizer." + name + ".momentum_buffer"),
 *                                  and in its metadata the fit position, step count, training
 *                                  configuration and history
 * Tensor names: each layer with parameters is named kindN, the Nth layer of that kind in the
 * spec (linear1, linear2, conv1, batchnorm1), and its tensors are NAME.weight and NAME.bias in
 * PyTorch's layout — linear (out, in), conv (out, in, k, k), batchnorm (C) — plus, for batch
 * norm, the buffers NAME.running_mean (C), NAME.running_var (C) and NAME.num_batches_tracked
 * (I64, a scalar). A module whose attributes carry these names loads them with
 * load_state_dict; the tutorial's Mnistmodel (linear1, linear2) does as it is.
 *
 * Every file is written atomically: a new DIR/.NAME.tmp.PID.N, fsync, rename over NAME, fsync
 * DIR. A process killed at any moment leaves the previous file whole. (Test hook: the environment
 * variable CTRAIN_TEST_SAVE_DELAY_MS makes writers sleep that long between 16 KiB chunks.)
 *
 * Reading validates the whole file first: a bad file is a CT_ERR_FORMAT whose message starts
 * with the file's path and says what is wrong, on one line.
 */
#ifndef CTRAIN_IO_H
#define CTRAIN_IO_H

#include "ctrain.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------------------------ */
/* a model's tensors under their PyTorch names                                                 */

#define CT_TENSOR_MAX_DIMS 8
#define CT_TENSOR_NAME_BYTES 128

typedef enum {
    CT_TENSOR_PARAM = 0, /* a slice of the parameters (F32) */
    CT_TENSOR_BUFFER,    /* a slice of the buffers: batch norm's running statistics (F32) */
    CT_TENSOR_COUNTER    /* batch norm's num_batches_tracked: an I64 scalar */
} ct_tensor_kind;

typedef struct {
    char name[CT_TENSOR_NAME_BYTES]; /* "linear1.weight" */
    int ndim;                        /* 0 for a scalar */
    int64_t shape[CT_TENSOR_MAX_DIMS];
    int64_t offset;                  /* first float in the parameters (or the buffers) */
    int64_t count;                   /* elements */
    ct_tensor_kind kind;
    int layer;                       /* the layer it belongs to (0-based position) */
} ct_tensor_info;

/* The expanded layer string and the per-sample input shape the model was built for. */
const char *ct_model_spec(const ct_model *m);
void ct_model_input_shape(const ct_model *m, int *c, int *h, int *w);
/* Tensors of the model's state_dict, in layer order (each layer's parameters, then its
 * buffers), as PyTorch's state_dict orders them. */
int ct_model_tensor_count(const ct_model *m);
ct_status ct_model_tensor_info(const ct_model *m, int i, ct_tensor_info *out);

/* ------------------------------------------------------------------------------------------ */
/* writing checkpoints                                                                         */

typedef struct {
    const char *key, *value; /* both UTF-8; values are stored as strings (safetensors' rule) */
} ct_meta;

/* Writes m's parameters (and buffers) to path as safetensors, with metadata: format "pt",
 * ctrain_version, model_spec, input_shape ("[1, 28, 28]"), classes, param_count, then extra.
 * Weights that are not finite are not written (CT_ERR_FORMAT; the file at path stays as it was);
 * nor are they loaded, by any of the loaders below. */
ct_status ct_save_model(const ct_model *m, const char *path, const ct_meta *extra, int n_extra);
/* As ct_save_model, under torchvision's names (metadata format "pt" alone): the state_dict that
 * torchvision.models.resnet50(num_classes=K) (its first conv on the model's input channels) and
 * so on load with load_state_dict(strict=True), for the torchvision presets (resnet18 ...
 * wide_resnet101_2, resnext50_32x4d ..., mobilenet_v2). A ResNet's or ResNeXt's names: conv1,
 * bn1, layerS.B.convK, layerS.B.bnK, layerS.B.downsample.0/1, fc; layers that are not a stem
 * conv and batch norm, residual blocks in up to 4 stages (a stage begins with a projection
 * shortcut) and one linear layer are refused (CT_ERR_INVALID). A model with ReLU6 is taken for a
 * MobileNetV2 (features.0.0, features.I.conv.J.K, ..., classifier.1), refused unless its layers
 * are a stem conv, blocks and a last conv, each conv with a batch norm, and a linear layer;
 * one of token sequences for a VisionTransformer (conv_proj, class_token,
 * encoder.pos_embedding, encoder.layers.encoder_layer_K..., encoder.ln, heads.head: vit_b_16's
 * and any of its layers: a patches' conv, tokens, clstoken, posembed, blocks of
 * residual(layernorm,attention) and residual(layernorm,linear,gelu,linear), layernorm, clspool,
 * linear; one head count and MLP width, layer norms of eps 1e-6, square images a multiple of
 * the patch, as torchvision's class has them). */
ct_status ct_save_torchvision(const ct_model *m, const char *path);
/* For a model ct_save_torchvision writes as a VisionTransformer, the torchvision module whose
 * load_state_dict takes that file, in Python ("VisionTransformer(image_size=28, patch_size=7,
 * num_layers=1, num_heads=4, hidden_dim=16, mlp_dim=32, num_classes=10)": the heads are in no
 * tensor), into buf; "" for any other model. */
void ct_torchvision_vit_call(const ct_model *m, char *buf, size_t bytes);
/* Writes n bytes to path as the files above are written (the whole of them or nothing: a new
 * file beside it renamed over it; a symbolic link's target replaced, the link kept; a device,
 * pipe or /dev/stdout written to as it stands): ctrain eval --predictions' CSV. */
ct_status ct_file_write_atomic(const char *path, const void *data, size_t n);
/* Writes m as an ONNX model to path (atomically), as torch.onnx.export would write the
 * equivalent module in eval mode: input "input" float32 (batch, C, H, W) holding pixels / 255,
 * outputs "logits" and "probabilities" (batch, classes); opset 13, the weights under their
 * state_dict names; ct_model_meta's entries and extra as metadata_props. Weights that are not
 * finite are not written (CT_ERR_FORMAT). */
ct_status ct_save_onnx(const ct_model *m, const char *path, const ct_meta *extra, int n_extra);
/* CT_OK when every parameter and buffer of m is finite; else CT_ERR_FORMAT and a message naming
 * the tensor and the element (a diverged training: the loss may still be finite, as when a batch
 * norm's running variance overflows). */
ct_status ct_model_check_finite(const ct_model *m);

typedef struct {
    const ct_train_config *cfg;    /* the run's configuration; cfg->resume is ignored: the */
                                   /* position saved is ct_model_fit_position(m) */
    const ct_eval_result *before;  /* validation before training (NULL: none) */
    const ct_epoch_result *history; /* the epochs run so far */
    int n_history;
    const ct_meta *extra;          /* more metadata (the tool's options) */
    int n_extra;
} ct_train_state;

/* Writes everything a resume needs to path: tensors "model.NAME" (a copy of the parameters and
 * buffers, so that the file is a complete resume point on its own) and "optimizer.NAME.SLOT"
 * (SLOT: momentum_buffer for SGD; exp_avg, exp_avg_sq for a two-slot optimizer (Adamax's
 * second exp_inf, Adagrad's unused and sum); exp_avg, exp_avg_sq, max_exp_avg_sq for AMSGrad;
 * momentum_buffer, square_avg, grad_avg for RMSprop), "ema.NAME" with a moving average of the
 * weights, and metadata: position (JSON: epoch, batch, loss_sum, correct, seconds),
 * optimizer_steps, config (JSON), history (JSON: before and epochs), ctrain_version,
 * model_spec, input_shape, ema_updates (with the average), then extra. */
ct_status ct_save_train_state(const ct_model *m, const char *path, const ct_train_state *st);
/* (Refuses weights that are not finite, as ct_save_model.) */

/* ------------------------------------------------------------------------------------------ */
/* reading checkpoints                                                                         */

typedef struct ct_checkpoint ct_checkpoint;

/* Reads and validates a safetensors file: the header length, the JSON header (parsed with
 * jansson), every entry's dtype, shape and data_offsets (inside the data, no overlaps, no
 * holes, sizes matching the shapes), metadata values being strings. */
ct_status ct_checkpoint_open(const char *path, ct_checkpoint **out);
void ct_checkpoint_free(ct_checkpoint *c);
const char *ct_checkpoint_path(const ct_checkpoint *c);
/* A metadata value, NULL when the key is absent. */
const char *ct_checkpoint_meta(const ct_checkpoint *c, const char *key);
int ct_checkpoint_tensor_count(const ct_checkpoint *c);
/* Tensor i (in the header's order): name, dtype ("F32", "I64", ...), shape and raw
 * little-endian data (not aligned: copy it out with memcpy). */
ct_status ct_checkpoint_tensor(const ct_checkpoint *c, int i, const char **name,
                               const char **dtype, int *ndim, const int64_t **shape,
                               const void **data);

/* The metadata's input_shape "[C, H, W]" into *c, *h, *w (left as they are when there is
 * none); an error naming the file when it is not three positive integers. */
ct_status ct_checkpoint_input_shape(const ct_checkpoint *c, int *in_c, int *in_h, int *in_w);

/* The model spec of the checkpoint: its metadata's model_spec, else the one inferred from a
 * PyTorch state_dict's chain of linear layers, linearN's or an nn.Sequential's ("1.weight", ...:
 * adjacent modules get nothing between them, one module between is taken as the ReLU):
 * "flatten,linear(a),relu,...,linear(z)". An error naming the file when there is neither. */
ct_status ct_checkpoint_model_spec(const ct_checkpoint *c, char *spec, size_t bytes);
/* Builds the model the checkpoint describes: spec (NULL: ct_checkpoint_model_spec's), input shape
 * from the metadata's input_shape, else in_c/in_h/in_w; then loads its parameters (names
 * without prefix, or with ct_checkpoint_prefix's in a train state). A file's metadata is not
 * trusted with memory: not many more parameters than it holds numbers, and a layer's output for
 * a batch of max_batch at most a quarter of the machine's memory (at least 1 GiB). */
ct_status ct_checkpoint_create_model(const ct_checkpoint *c, ct_backend *b, const char *spec,
                                     int in_c, int in_h, int in_w, int max_batch,
                                     ct_model **out);
/* Copies the tensors PREFIX + name into m: every tensor of the model must be there, F32 (I64
 * for num_batches_tracked) with the model's shape, and no other tensor may carry the prefix.
 * A file whose names are all an nn.Sequential's ("0.weight", "net.3.bias") gives its k-th
 * module with tensors to the model's k-th layer with tensors; one of a torchvision ResNet's
 * names (conv1, bn1, layer1.0.conv1, ..., fc) its modules in torchvision's order. */
ct_status ct_checkpoint_load_params(const ct_checkpoint *c, ct_model *m, const char *prefix);
/* What ct_checkpoint_load_backbone fitted to the model (0s: nothing). */
typedef struct {
    int new_head; /* 1: the last linear layer kept its initial weights (other classes) */
    int grey;     /* the file's input channels, summed into the first conv's one */
    int pos_from, pos_to_h, pos_to_w; /* position embeddings resized from the file's grid of
                                       * pos_from x pos_from patches to pos_to_h x pos_to_w */
} ct_backbone_fit;
/* As ct_checkpoint_load_params, for fine-tuning on other classes: the model's last layer with
 * weights, when it is a linear layer of other outputs than the file's (of the same inputs),
 * keeps its initial weights (a new head). For grey images: the model's first layer with
 * weights, when it is a conv of one input channel and the file's takes more (an RGB model's,
 * as torchvision's pretrained ones), gets the file's weights summed over their input channels
 * (a grey image's response as R = G = B; timm's adapt_input_conv). For images of another size:
 * a ViT's position embeddings of a square grid of patches (a class token's first) resized
 * bicubically to the model's grid, as torchvision's interpolate_embeddings does. */
ct_status ct_checkpoint_load_backbone(const ct_checkpoint *c, ct_model *m, const char *prefix,
                                      ct_backbone_fit *fit);
/* The prefix of the model's tensors in c: "" in a model file; in a train state "model.", or
 * "ema." when the run keeps a moving average of the weights (its model is the average, as its
 * model.safetensors; "model." then holds the weights being trained). */
const char *ct_checkpoint_prefix(const ct_checkpoint *c);

/* From a train state, without a model: its configuration, resume = the saved position. */
ct_status ct_checkpoint_train_config(const ct_checkpoint *c, ct_train_config *cfg);
/* From a train state: loads the parameters and the optimizer's state into m, fills *cfg (the
 * saved configuration, resume = the saved position), *before (may be NULL) and *history
 * (malloc'd, *n_history entries; the caller frees it). */
ct_status ct_checkpoint_load_train_state(const ct_checkpoint *c, ct_model *m,
                                         ct_train_config *cfg, ct_eval_result *before,
                                         ct_epoch_result **history, int *n_history);

/* ------------------------------------------------------------------------------------------ */
/* metrics as JSON                                                                             */

/* One epoch as a JSON object on one line (no newline): {"epoch": 0, "phase": 0, "lr": 0.5,
 * "train_loss": ..., "train_acc": ..., "val_loss": ..., "val_acc": ..., "seconds": ...,
 * "samples_per_s": ..., "val_seconds": ..., "graph_steps": ...}; the val keys only when the
 * epoch was validated (r->val.count > 0); non-finite numbers are null. Returns the length, or
 * -1 when it does not fit in buf. */
int ct_epoch_json(const ct_epoch_result *r, char *buf, size_t buf_bytes);

/* The same as a CSV row (no newline), as Keras' CSVLogger writes one: the columns of
 * CT_EPOCH_CSV_HEADER, or of CT_EPOCH_CSV_HEADER_NO_VAL when with_val is 0 (a run without
 * validation); each number as ct_epoch_json writes it, a non-finite one as nan or inf (as
 * pandas reads them). Returns the length, or -1 when it does not fit in buf. */
#define CT_EPOCH_CSV_HEADER                                                                     \
    "epoch,phase,lr,train_loss,train_acc,val_loss,val_acc,seconds,samples_per_s,val_seconds,"  \
    "graph_steps"
#define CT_EPOCH_CSV_HEADER_NO_VAL                                                              \
    "epoch,phase,lr,train_loss,train_acc,seconds,samples_per_s,graph_steps"
int ct_epoch_csv(const ct_epoch_result *r, int with_val, char *buf, size_t buf_bytes);

/* ------------------------------------------------------------------------------------------ */
/* TensorBoard event files                                                                     */

typedef struct ct_tfevents ct_tfevents;

/* Creates a new event file in the folder dir (which must exist), named as PyTorch's
 * SummaryWriter names them (events.out.tfevents.TIME.HOST.PID.N; never an existing file), and
 * writes its first two events: the file version "brain.Event:2", and a SessionLog START at
 * start_step, on which TensorBoard drops the values that earlier files in dir hold at steps >=
 * start_step (a run repeated, or resumed after its last checkpoint, replaces those steps). */
ct_status ct_tfevents_open(ct_tfevents **w, const char *dir, int64_t start_step);
/* One event at step holding n <= 64 scalars (tags[i]: values[i], stored as float32, as
 * SummaryWriter.add_scalar stores them), written and flushed: TensorBoard sees it at once. After
 * a failed write the file takes nothing more (each later call fails). */
ct_status ct_tfevents_scalars(ct_tfevents *w, int64_t step, const char *const *tags,
                              const double *values, int n);
/* One event at step holding a histogram of each float tensor of the model (its weights and
 * batch norm's running statistics, as the run validates with them) under its state_dict name
 * ("linear1.weight"), as PyTorch's add_histogram or Keras' histogram_freq do: min, max, count,
 * sum, sum of squares, and 30 equal buckets from min to max (tf.summary.histogram's default;
 * each counts [its lower limit, its limit), the last the max too); written and flushed. */
ct_status ct_tfevents_model_histograms(ct_tfevents *w, int64_t step, const ct_model *m);
/* The file's path. */
const char *ct_tfevents_path(const ct_tfevents *w);
/* Closes the file and frees w (NULL: nothing); an error when the last write does not reach it. */
ct_status ct_tfevents_close(ct_tfevents *w);

/* ------------------------------------------------------------------------------------------ */
/* images in                                                                                   */

typedef struct {
    int w, h;         /* pixels */
    int c;            /* 1 (grey) or 3 (RGB) */
    uint8_t *pixels;  /* (h, w, c) */
} ct_image;

/* Reads a PNG (libpng), a JPEG (libjpeg-turbo: grey or RGB, not CMYK) or a PBM/PGM/PPM/PAM
 * image (libnetpbm), telling them apart by their first bytes. Any bit depth; palette and alpha are resolved (alpha over white). */
ct_status ct_image_load(const char *path, ct_image *out);
void ct_image_free(ct_image *img); /* frees the pixels; accepts an empty image */

typedef enum {
    CT_FIT_PAD = 0,  /* pad to a square with the background, then resize (area average) */
    CT_FIT_STRETCH,  /* resize to the input's size as it is */
    CT_FIT_DIGIT     /* like MNIST was made: crop to the ink, scale it into a 20/28 box, put its
                      * centre of mass at the centre */
} ct_image_fit;

/* Turns an image into one model input (c, h, w) of floats in [0, 1] (pixel / 255): channels
 * converted (grey from RGB by luminance 0.299 R + 0.587 G + 0.114 B), inverted when invert is
 * 1, or when it is -1 (auto) and the border is mostly light (MNIST digits are light on black),
 * then fitted. *inverted (may be NULL) says whether it was. */
ct_status ct_image_to_input(const ct_image *img, int c, int h, int w, int invert,
                            ct_image_fit fit, float *out, int *inverted);

/* The size and channels (1 grey, 3 colour) of the image in path, from its header alone (its
 * pixels are not decoded; a file that only a full read finds broken passes). */
ct_status ct_image_probe(const char *path, int *w, int *h, int *c);
/* img as --dataset folder stores it into out (c, h, w) uint8: resized as ct_image_resize when
 * its size is not h x w, then given c channels (grey from colour as PIL's convert("L"):
 * (19595 R + 38470 G + 7471 B + 2^15) >> 16; colour from grey repeated). With resize > 0
 * (at least h and w), torchvision's evaluation transform instead: resized so that its shorter
 * edge is resize pixels, the ratio kept (Resize(resize): the longer edge
 * int(resize x longer / shorter)), then its centre h x w cut out (CenterCrop((h, w)): the
 * corner at round((resized - h) / 2), halves to even, as Python rounds). */
ct_status ct_image_to_planes(const ct_image *img, int c, int h, int w, int resize, uint8_t *out);
/* img resized to w x h pixels into out (its channels kept; ct_image_free frees it) as PIL's
 * Image.resize((w, h), Image.BILINEAR) resizes it, pixel for pixel (an antialiased bilinear:
 * torchvision's transforms.Resize((h, w)) on the PIL images of an ImageFolder). */
ct_status ct_image_resize(const ct_image *img, int h, int w, ct_image *out);

/* ------------------------------------------------------------------------------------------ */
/* pictures out (cairo)                                                                        */

typedef struct {
    const char *label;   /* legend text */
    const double *x, *y; /* n points; non-finite y values are skipped */
    int n;
} ct_series;

/* A line chart as PNG (width x height pixels): axes with ticks and numbers, axis labels, a
 * title, a legend, one coloured line per series (with a marker at each point when it has at
 * most 200). */
ct_status ct_plot_png(const char *path, const char *title, const char *xlabel,
                      const char *ylabel, const ct_series *series, int n_series, int width,
                      int height);

/* What ct_plot_png_opts draws beyond ct_plot_png (all zero: the same chart). */
typedef struct {
    int log_x;              /* x on a log scale (matplotlib's xscale("log")): ticks at powers of
                             * ten over two decades or more, at nice exponents over less,
                             * labelled with x; points with x <= 0 are skipped */
    int lines_only;         /* 1: no marker at the points, however few */
    int mark;               /* 1: a dashed red vertical line at mark_x, named mark_label in
                             * the legend */
    double mark_x;
    const char *mark_label; /* (may be NULL) */
    /* n_muted more series, drawn first as thin light grey lines with small dots, behind the
     * coloured ones (Optuna's pruned trials in plot_intermediate_values), under one legend row
     * named muted_label (NULL: none); the axes take them in too. Not with log_x. */
    const ct_series *muted;
    int n_muted;
    const char *muted_label;
    /* For series k (k < the series given; NULL: none): one more point (end_x[k], end_y[k]),
     * not joined to its line, a hollow diamond in its colour (not finite: none), all under one
     * legend row named end_label (NULL: none) (ctrain sweep: a trial's SWA average, the model
     * it ended with). Not with log_x. */
    const double *end_x, *end_y;
    const char *end_label;
} ct_plot_opts;

/* ct_plot_png with opts (may be NULL). */
ct_status ct_plot_png_opts(const char *path, const char *title, const char *xlabel,
                           const char *ylabel, const ct_series *series, int n_series, int width,
                           int height, const ct_plot_opts *opts);

/* A grid of images like torchvision's make_grid (padding 2) as PNG: images (n, c, h, w) uint8,
 * cols per row, each scaled by scale, with its label under it; with preds (may be NULL) the
 * prediction too, and wrong ones framed and labelled in red. names (may be NULL): the n_names
 * classes' names, shown instead of the numbers where they fit under an image (a wrong
 * prediction's on a second line). title may be NULL. */
ct_status ct_grid_png(const char *path, const uint8_t *images, int n, int c, int h, int w,
                      const int *labels, const int *preds, const char *const *names,
                      int n_names, int cols, int scale, const char *title);
/* The same grid with a caption of the caller's under each image (captions[i], NULL: none), in
 * white (shrunk to fit, as the labels are). */
ct_status ct_grid_png_captions(const char *path, const uint8_t *images, int n, int c, int h,
                               int w, const char *const *captions, int cols, int scale,
                               const char *title);

/* A confusion matrix cm (k x k counts, rows: true class, columns: predicted) as PNG, like
 * scikit-learn's ConfusionMatrixDisplay: each cell coloured by its share of the row (white to
 * blue, as with normalize='true'), with its count where the cell is large enough; the classes
 * numbered (every few where they would crowd), and named beside the rows when names
 * (n_names == k) is given. 1 <= k <= 1000. */
ct_status ct_confusion_png(const char *path, const int64_t *cm, int k, const char *const *names,
                           int n_names, const char *title);

#ifdef __cplusplus
}
#endif
#endif /* CTRAIN_IO_H */
