/*
 * checkpoint.h — what checkpoint.c, train_state.c and train_state_save.c share: a model's
 * tensors as a list ready for ct_st_write, the model's own metadata, JSON of an epoch, the
 * optimizer state's slot names.
 */
#ifndef CT_IO_CHECKPOINT_H
#define CT_IO_CHECKPOINT_H

#include "io/json_out.h"
#include "io/safetensors.h"

#define CT_LIST_NAME_BYTES (CT_TENSOR_NAME_BYTES + 32) /* a prefix + a name + a slot */
#define CT_MODEL_META_MAX 8                            /* entries ct_model_meta may add */
#define CT_META_VALUE_BYTES 64
#define CT_TRAIN_STATE_FORMAT "ctrain-train-state"     /* metadata "format" of a train state */

/* the model as messages name it: a preset by its name, long layers by their start and end */
#define SPEC_TEXT(m) ct_spec_text(ct_model_spec(m), 1, (char[320]){0}, 320)

/* The model's state on the host: what a checkpoint holds. */
typedef struct {
    float *params;      /* (n_params) */
    float *buffers;     /* (n_buffers), NULL when none */
    int64_t *counters;  /* (n_layers): batch norm's num_batches_tracked per layer */
} ct_host_state;

/* Allocates and fills hs from the model (device to host): its weights as they are now. */
ct_status ct_host_state_get(const ct_model *m, ct_host_state *hs);
/* The same from the trained weights (average 0) or their moving average (1; the model must
 * keep one: see ct_ema_weights), wherever ct_fit left them. */
ct_status ct_host_state_get_of(const ct_model *m, int average, ct_host_state *hs);
/* Copies hs into the model (host to device). */
ct_status ct_host_state_set(ct_model *m, const ct_host_state *hs);
void ct_host_state_free(ct_host_state *hs);

typedef struct {
    ct_st_tensor *t;      /* (n) names point into names, data into the caller's buffer */
    ct_tensor_info *info; /* (n) */
    char *names;          /* (n, CT_LIST_NAME_BYTES) */
    int n;
} ct_tensor_list;

/* The model's tensors named PREFIX + name, with their data in hs; params_only: only the
 * parameters (for optimizer state laid out like them: hs->params is then that state). */
ct_status ct_tensor_list_model(const ct_model *m, const ct_host_state *hs, const char *prefix,
                               int params_only, ct_tensor_list *out);
void ct_tensor_list_free(ct_tensor_list *l);
/* Every value of the list's F32 tensors finite? Else an error naming path, the tensor and the
 * element, and what of it (action: "not saved", "cannot be loaded"); path NULL: only the tensor
 * and the element. */
ct_status ct_tensor_list_finite(const ct_tensor_list *l, const char *path, const char *action);

/* train_state_save.c and train_state.c: the optimizer state's slots, at most
 * CT_STATE_MAX_SLOTS floats per parameter, named as PyTorch's state keys for a state of k floats
 * per parameter of optimizer kind (Adagrad's first slot unused, zeros; buf for "stateJ"). */
#define CT_STATE_MAX_SLOTS 8
const char *ct_state_slot_name(int kind, int k, int j, char *buf, size_t bytes);

/* ctrain_version, model_spec, input_shape, classes, param_count into out (values in buf);
 * returns how many (at most CT_MODEL_META_MAX). */
int ct_model_meta(const ct_model *m, char (*buf)[CT_META_VALUE_BYTES], ct_meta *out);

/* "[32, 784]" */
void ct_shape_text(const int64_t *shape, int ndim, char *buf, size_t bytes);

/* torchvision.c: torchvision's state_dicts (ResNets, wide ResNets, ResNeXts, MobileNetV2, V3,
 * EfficientNet, VisionTransformer). ct_tv_aliases: when every tensor of c has such a name,
 * alias[i] = the file's name of the model's tensor i in l (*used = 1); their modules, in
 * torchvision's order, hold the model's layers with tensors, in order (the presets are built
 * so; a ViT's are named from its layers' kinds); *used = 0 when the names are not
 * torchvision's; an error when the modules do not pair with the layers. */
ct_status ct_tv_aliases(const ct_checkpoint *c, const ct_model *m, const ct_tensor_list *l,
                        char (*alias)[CT_LIST_NAME_BYTES], int *used);
/* Which preset c's torchvision tensors are (written into spec, with a last layer of the file's
 * classes): 1; 0 when c is not a torchvision model's; -1 when it is one of no preset. */
int ct_tv_spec(const ct_checkpoint *c, char *spec, size_t bytes);


/* One epoch as JSON (ct_epoch_json's object; with_count adds val_count). */
void ct_epoch_json_write(ct_jsonw *j, const ct_epoch_result *r, int with_count);

#endif /* CT_IO_CHECKPOINT_H */
