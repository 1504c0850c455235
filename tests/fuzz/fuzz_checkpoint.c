/*
 * fuzz_checkpoint.c — a safetensors file, as `ctrain eval/predict/summary --model` and
 * `ctrain train --resume` read one (model.safetensors or train_state.safetensors): open and
 * validate it, list its tensors and metadata, build the model it describes on the CPU (spec
 * and input shape from its metadata, else 1x12x12), then read it as a train state into that
 * model: configuration, parameters, optimizer state, history.
 */
#include "fuzzlib.h"

#include "ctrain.h"
#include "ctrain/io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_file(data, size, ".safetensors");
    ct_checkpoint *c = NULL;
    if (ct_checkpoint_open(path, &c) != CT_OK) {
        if (!ct_last_error()[0] || c) abort();
        return 0;
    }
    volatile uint8_t sink = 0;
    for (int i = 0; i < ct_checkpoint_tensor_count(c); i++) {
        const char *name, *dtype;
        int ndim;
        const int64_t *shape;
        const void *p;
        if (ct_checkpoint_tensor(c, i, &name, &dtype, &ndim, &shape, &p) != CT_OK) abort();
        sink ^= (uint8_t)(name[0] ^ dtype[0]);
        int empty = 0; /* (a shape may multiply past int64 with a 0 in it: no product) */
        for (int d = 0; d < ndim; d++) empty |= shape[d] == 0;
        if (!empty) sink ^= ((const uint8_t *)p)[0];
    }
    const char *spec = ct_checkpoint_meta(c, "model_spec");
    if (spec) sink ^= (uint8_t)spec[0];
    (void)sink;

    /* the file's parameters are bounded by its size; its input shape (up to 2^20 a side) is
     * not, and activations for a valid huge one are more than a fuzzer has: skipped */
    const char *shape_text = ct_checkpoint_meta(c, "input_shape");
    long sc = 0, sh = 0, sw = 0;
    if (shape_text && sscanf(shape_text, "[%ld, %ld, %ld]", &sc, &sh, &sw) == 3 &&
        sc > 0 && sh > 0 && sw > 0 && sc * sh * sw > 1 << 16) {
        ct_checkpoint_free(c);
        return 0;
    }
    ct_model *m = NULL;
    if (ct_checkpoint_create_model(c, fuzz_cpu(), NULL, 1, 12, 12, 4, &m) != CT_OK) {
        if (!ct_last_error()[0] || m) abort();
    } else {
        ct_train_config cfg;
        (void)ct_checkpoint_train_config(c, &cfg);
        ct_eval_result before;
        ct_epoch_result *history = NULL;
        int n_history = -1;
        if (ct_checkpoint_load_train_state(c, m, &cfg, &before, &history, &n_history) == CT_OK) {
            if (n_history < 0 || (n_history > 0 && !history)) abort();
            if (ct_train_config_check(&cfg) != CT_OK) {
                fprintf(stderr, "fuzz_checkpoint: a train state's config loads but fails its "
                                "check: %s\n", ct_last_error());
                abort();
            }
        }
        free(history);
        ct_model_free(m);
    }
    ct_checkpoint_free(c);
    return 0;
}
