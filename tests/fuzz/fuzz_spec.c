/*
 * fuzz_spec.c — a model spec, as `ctrain train --model SPEC` takes it: the input (as text)
 * builds a model for 1x12x12 inputs on the CPU; a model that builds must summarise, and train
 * one step and evaluate on four images without error (the shapes it computed are the shapes its
 * ops run). Models above 200000 parameters are only built (a fuzzer's time is better spent).
 * Models over 4M parameters or activations are refused before they allocate.
 */
#include "fuzzlib.h"

#include "ctrain.h"
#include "nn/model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 4096) return 0;
    char *spec = fuzz_string(data, size);
    ct_model *m = NULL;
    /* capped (4M parameters, 4M activations): the library takes up to 2^31 - 1 parameters, a
     * size that is no bug but more memory than a fuzzer has */
    if (ct_model_create_capped(fuzz_cpu(), spec, 1, 12, 12, 4, 1, 1 << 22, 1 << 22, &m) != CT_OK) {
        if (!ct_last_error()[0]) abort();
        free(spec);
        return 0;
    }
    static char summary[1 << 18]; /* (as ctrain summary's) */
    if (ct_model_summary(m, 0, summary, sizeof summary) != CT_OK) abort();
    int classes = ct_model_num_classes(m);
    if (ct_model_param_count(m) <= 200000 && classes >= 1 && classes <= 256) {
        uint8_t images[4 * 144], labels[4];
        for (int i = 0; i < 4 * 144; i++) images[i] = (uint8_t)(i * 37);
        for (int i = 0; i < 4; i++) labels[i] = (uint8_t)(i % classes);
        ct_dataset *ds = NULL;
        if (ct_dataset_create(4, 1, 12, 12, classes, images, labels, &ds) != CT_OK) abort();
        int32_t train_idx[] = {0, 1}, val_idx[] = {2, 3};
        ct_train_config cfg;
        ct_train_config_default(&cfg);
        cfg.phases[0].epochs = 1;
        cfg.num_phases = 1;
        cfg.batch_size = 2;
        cfg.eval_batch_size = 2;
        cfg.workers = 0;
        ct_epoch_result hist[1];
        if (ct_fit(m, ds, train_idx, 2, val_idx, 2, &cfg, NULL, hist) != CT_OK) {
            fprintf(stderr, "fuzz_spec: %s: fit: %s\n", spec, ct_last_error());
            abort();
        }
        ct_eval_result r;
        if (ct_evaluate(m, ds, NULL, 4, 4, &r) != CT_OK) abort();
        ct_dataset_free(ds);
    }
    ct_model_free(m);
    free(spec);
    return 0;
}
