/*
 * test_train_config.c — ct_fit's configurations on test_train.c's problem (train_problem.h):
 * the defaults, bad configurations (errors with messages, not crashes, the model untouched),
 * evaluation of an untrained model, a shard's error message, where the data lives
 * (ct_data_on_device_choice), the backend's threads and ct_mix_images (MixUp / CutMix).
 */
#define _GNU_SOURCE
#include "train_problem.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>


static void test_bad_configs(void **state) {
    fixture *f = *state;
    ct_model *m = make_model(f, 4);
    float *before = params_of(m);
    ct_train_config cfg;
    ct_epoch_result hist[CT_MAX_PHASES];
    /* ct_fit_check refuses what ct_fit refuses, with the same message, and passes the rest */
    char checked[512];
#define EXPECT_INVALID(what)                                                                     \
    do {                                                                                         \
        ct_clear_error();                                                                        \
        ct_status c_ = ct_fit_check(m, f->ds, f->train_idx, N_TRAIN, f->val_idx, N_VAL, &cfg,    \
                                    hist);                                                       \
        snprintf(checked, sizeof checked, "%s", ct_last_error());                                \
        ct_clear_error();                                                                        \
        ct_status s_ = ct_fit(m, f->ds, f->train_idx, N_TRAIN, f->val_idx, N_VAL, &cfg, NULL,    \
                              hist);                                                             \
        if (s_ != CT_ERR_INVALID) fail_msg("%s: got status %d, expected CT_ERR_INVALID", what, s_); \
        if (ct_last_error()[0] == 0) fail_msg("%s: no error message", what);                     \
        if (c_ != s_ || strcmp(checked, ct_last_error()) != 0)                                   \
            fail_msg("%s: ct_fit_check said %d \"%s\", ct_fit %d \"%s\"", what, c_, checked, s_, \
                     ct_last_error());                                                           \
    } while (0)

    small_config(&cfg);
    assert_int_equal(ct_fit_check(m, f->ds, f->train_idx, N_TRAIN, f->val_idx, N_VAL, &cfg, hist),
                     CT_OK);
    cfg.batch_size = 1000; /* above max_batch, clamped to the 32 samples, as ct_fit does */
    cfg.eval_batch_size = 1000;
    assert_int_equal(ct_fit_check(m, f->ds, f->train_idx, 32, f->val_idx, 16, &cfg, hist), CT_OK);
    assert_int_equal(ct_fit_check(m, f->ds, f->train_idx, N_TRAIN, f->val_idx, N_VAL, &cfg, hist),
                     CT_ERR_INVALID);
    assert_int_equal(ct_fit_check(NULL, f->ds, f->train_idx, N_TRAIN, f->val_idx, N_VAL, &cfg,
                                  hist), CT_ERR_INVALID);

    small_config(&cfg); cfg.batch_size = 0; EXPECT_INVALID("batch 0");
    small_config(&cfg); cfg.batch_size = -4; EXPECT_INVALID("batch -4");
    small_config(&cfg); cfg.batch_size = MAX_BATCH + 1; EXPECT_INVALID("batch > max_batch");
    small_config(&cfg); cfg.batch_size = MAX_BATCH + 1; cfg.micro_batch = MAX_BATCH + 1;
    EXPECT_INVALID("micro-batch > max_batch");
    small_config(&cfg); cfg.micro_batch = -1; EXPECT_INVALID("micro-batch -1");
    small_config(&cfg); cfg.eval_batch_size = 0; EXPECT_INVALID("eval batch 0");
    small_config(&cfg); cfg.phases[0].lr = 0.0f; EXPECT_INVALID("lr 0");
    small_config(&cfg); cfg.phases[0].lr = -0.1f; EXPECT_INVALID("lr < 0");
    small_config(&cfg); cfg.phases[0].lr = NAN; EXPECT_INVALID("lr NaN");
    small_config(&cfg); cfg.num_phases = 0; EXPECT_INVALID("zero phases");
    small_config(&cfg); cfg.num_phases = -1; EXPECT_INVALID("negative phases");
    small_config(&cfg); cfg.num_phases = CT_MAX_PHASES + 1; EXPECT_INVALID("too many phases");
    small_config(&cfg); cfg.phases[0].epochs = -1; EXPECT_INVALID("negative epochs");
    small_config(&cfg); cfg.workers = -1; EXPECT_INVALID("workers -1");
    small_config(&cfg); cfg.workers = 100000; EXPECT_INVALID("workers 100000");
    small_config(&cfg); cfg.augment_pad = -1; EXPECT_INVALID("augment pad -1");
    small_config(&cfg); cfg.augment_pad = CT_MAX_AUGMENT_PAD + 1; EXPECT_INVALID("augment pad too big");
    small_config(&cfg); cfg.augment_flip = 2; EXPECT_INVALID("augment flip 2");
    small_config(&cfg); cfg.augment_vflip = -1; EXPECT_INVALID("augment vflip -1");
    small_config(&cfg); cfg.augment_degrees = 181; EXPECT_INVALID("rotation above 180");
    small_config(&cfg); cfg.augment_degrees = NAN; EXPECT_INVALID("rotation NaN");
    small_config(&cfg); cfg.augment_translate = 1.01f; EXPECT_INVALID("translation above 1");
    small_config(&cfg); cfg.augment_scale_max = 1.1f; EXPECT_INVALID("scale range without min");
    small_config(&cfg); cfg.augment_scale_min = 1.2f, cfg.augment_scale_max = 1.1f;
    EXPECT_INVALID("scale min > max");
    small_config(&cfg); cfg.augment_scale_min = 1, cfg.augment_scale_max = 11;
    EXPECT_INVALID("scale above 10");
    small_config(&cfg); cfg.augment_shear = 89.5f; EXPECT_INVALID("shear above 89");
    small_config(&cfg); cfg.augment_bilinear = 2; EXPECT_INVALID("interpolation 2");
    small_config(&cfg); cfg.augment_bilinear = 1; EXPECT_INVALID("bilinear without a warp");
    small_config(&cfg); cfg.augment_area_min = 0.1f, cfg.augment_area_max = 1;
    EXPECT_INVALID("resized crop without its ratios");
    small_config(&cfg); cfg.augment_ratio_min = 0.5f, cfg.augment_ratio_max = 2;
    EXPECT_INVALID("ratios without a resized crop");
    small_config(&cfg); cfg.augment_area_min = 0.5f, cfg.augment_area_max = 0.4f,
    cfg.augment_ratio_min = 0.5f, cfg.augment_ratio_max = 2; EXPECT_INVALID("area min > max");
    small_config(&cfg); cfg.augment_area_min = 0.5f, cfg.augment_area_max = 1.5f,
    cfg.augment_ratio_min = 0.5f, cfg.augment_ratio_max = 2; EXPECT_INVALID("area above 1");
    small_config(&cfg); cfg.augment_area_min = 0.5f, cfg.augment_area_max = 1,
    cfg.augment_ratio_min = 0.5f, cfg.augment_ratio_max = 101; EXPECT_INVALID("ratio above 100");
    small_config(&cfg); cfg.augment_area_min = 0.5f, cfg.augment_area_max = 1,
    cfg.augment_ratio_min = NAN, cfg.augment_ratio_max = 2; EXPECT_INVALID("ratio NaN");
    small_config(&cfg); cfg.augment_area_min = 0.5f, cfg.augment_area_max = 1,
    cfg.augment_ratio_min = 0.5f, cfg.augment_ratio_max = 2, cfg.augment_pad = 2;
    EXPECT_INVALID("resized crop and padded crop");
    small_config(&cfg); cfg.augment_area_min = 0.5f, cfg.augment_area_max = 1,
    cfg.augment_ratio_min = 0.5f, cfg.augment_ratio_max = 2, cfg.augment_degrees = 5;
    EXPECT_INVALID("resized crop and rotation");
    small_config(&cfg); cfg.augment_area_min = 0.5f, cfg.augment_area_max = 1,
    cfg.augment_ratio_min = 0.005f, cfg.augment_ratio_max = 2; EXPECT_INVALID("ratio below 1/100");
    small_config(&cfg); cfg.augment_erase_p = 1.5f; EXPECT_INVALID("erasing chance above 1");
    small_config(&cfg); cfg.augment_erase_p = NAN; EXPECT_INVALID("erasing chance NaN");
    small_config(&cfg); cfg.augment_erase_p = 0.5f, cfg.augment_erase_fill[2] = INFINITY;
    EXPECT_INVALID("erasing fill infinite");
    small_config(&cfg); cfg.augment_erase_fill[0] = NAN; EXPECT_INVALID("erasing fill NaN");
    small_config(&cfg); cfg.augment_jitter[0] = -0.1f; EXPECT_INVALID("brightness < 0");
    small_config(&cfg); cfg.augment_ta_bins = 1; EXPECT_INVALID("TrivialAugmentWide of 1 bin");
    small_config(&cfg); cfg.augment_ta_bins = CT_MAX_TA_BINS + 1;
    EXPECT_INVALID("TrivialAugmentWide of too many bins");
    small_config(&cfg); cfg.augment_ta_bins = 31, cfg.augment_jitter[1] = 0.2f;
    EXPECT_INVALID("TrivialAugmentWide with colour jitter");
    small_config(&cfg); cfg.augment_ra_ops = CT_MAX_RA_OPS + 1, cfg.augment_ra_bins = 31;
    EXPECT_INVALID("RandAugment of too many ops");
    small_config(&cfg); cfg.augment_ra_ops = 2, cfg.augment_ra_bins = 1;
    EXPECT_INVALID("RandAugment of 1 bin");
    small_config(&cfg); cfg.augment_ra_ops = 2, cfg.augment_ra_bins = 10;
    cfg.augment_ra_magnitude = 10; EXPECT_INVALID("RandAugment's magnitude past its bins");
    small_config(&cfg); cfg.augment_ra_ops = 2, cfg.augment_ra_bins = 10;
    cfg.augment_ra_magnitude = -1; EXPECT_INVALID("RandAugment's magnitude below 0");
    small_config(&cfg); cfg.augment_aa_policy = CT_AUTOAUGMENT_SVHN + 1;
    EXPECT_INVALID("AutoAugment's policy unknown");
    small_config(&cfg); cfg.augment_aa_policy = CT_AUTOAUGMENT_CIFAR10, cfg.augment_ta_bins = 31;
    EXPECT_INVALID("AutoAugment with TrivialAugmentWide");
    small_config(&cfg); cfg.augment_ra_ops = 2, cfg.augment_ra_bins = 31;
    cfg.augment_aa_policy = CT_AUTOAUGMENT_IMAGENET; EXPECT_INVALID("AutoAugment with RandAugment");
    small_config(&cfg); cfg.augment_aa_policy = CT_AUTOAUGMENT_IMAGENET;
    cfg.augment_jitter[0] = 0.2f; EXPECT_INVALID("AutoAugment with colour jitter");
    small_config(&cfg); cfg.augment_augmix_severity = 11; EXPECT_INVALID("AugMix's severity 11");
    small_config(&cfg); cfg.augment_augmix_severity = 3, cfg.augment_augmix_width = 5;
    EXPECT_INVALID("AugMix of 5 chains");
    small_config(&cfg); cfg.augment_augmix_severity = 3, cfg.augment_augmix_depth = 0;
    EXPECT_INVALID("AugMix's chains of 0 ops");
    small_config(&cfg); cfg.augment_augmix_severity = 3, cfg.augment_augmix_alpha = 0.0f;
    EXPECT_INVALID("AugMix's alpha 0");
    small_config(&cfg); cfg.augment_augmix_severity = 3, cfg.augment_augmix_alpha = NAN;
    EXPECT_INVALID("AugMix's alpha NaN");
    small_config(&cfg); cfg.augment_augmix_severity = 3, cfg.augment_ra_ops = 2;
    EXPECT_INVALID("AugMix with RandAugment");
    small_config(&cfg); cfg.augment_grey_p = 1.5f; EXPECT_INVALID("greyscale chance above 1");
    small_config(&cfg); cfg.augment_grey_p = NAN; EXPECT_INVALID("greyscale chance NaN");
    small_config(&cfg); cfg.augment_grey_p = 0.2f, cfg.augment_ta_bins = 31;
    EXPECT_INVALID("greyscale with TrivialAugmentWide");
    small_config(&cfg); cfg.augment_jitter[2] = 11; EXPECT_INVALID("saturation above 10");
    small_config(&cfg); cfg.augment_jitter[3] = 0.6f; EXPECT_INVALID("hue above 0.5");
    small_config(&cfg); cfg.augment_jitter[1] = NAN; EXPECT_INVALID("contrast NaN");
    small_config(&cfg); cfg.phases[0].lr = INFINITY; EXPECT_INVALID("lr inf");
    small_config(&cfg); cfg.n_class_weights = CLASSES - 1; EXPECT_INVALID("3 class weights");
    small_config(&cfg); cfg.n_class_weights = CT_MAX_CLASSES + 1; EXPECT_INVALID("257 class weights");
    small_config(&cfg); cfg.n_class_weights = CLASSES, cfg.class_weights[2] = -0.5f;
    EXPECT_INVALID("a class weight < 0");
    small_config(&cfg); cfg.n_class_weights = CLASSES, cfg.class_weights[0] = NAN;
    EXPECT_INVALID("a class weight NaN");
    small_config(&cfg); /* (their sum overflowed an int) */
    cfg.phases[0] = cfg.phases[1] = (ct_phase){INT_MAX, 0.1f};
    cfg.num_phases = 2;
    EXPECT_INVALID("2 x INT_MAX epochs");
#undef EXPECT_INVALID
    /* indices outside the dataset, or none: refused on both data paths before any step (the
     * resident path gathered them on the device: a crash on the CPU) */
    int32_t bad_idx[N_TRAIN];
    memcpy(bad_idx, f->train_idx, sizeof bad_idx);
    bad_idx[N_TRAIN / 2] = 99999;
    for (int resident = 0; resident <= 1; resident++) {
        small_config(&cfg);
        cfg.data_on_device = resident;
        assert_int_equal(ct_fit(m, f->ds, bad_idx, N_TRAIN, f->val_idx, N_VAL, &cfg, NULL, hist),
                         CT_ERR_INVALID);
        assert_non_null(strstr(ct_last_error(), "sample index 99999"));
        assert_int_equal(ct_fit(m, f->ds, f->train_idx, N_TRAIN, bad_idx + N_TRAIN / 2 - 1, 2,
                                &cfg, NULL, hist), CT_ERR_INVALID);
        assert_non_null(strstr(ct_last_error(), "validation: sample index 99999"));
    }
    small_config(&cfg);
    assert_int_equal(ct_fit(m, f->ds, NULL, N_TRAIN, f->val_idx, N_VAL, &cfg, NULL, hist),
                     CT_ERR_INVALID);
    assert_int_equal(ct_fit(m, f->ds, f->train_idx, N_TRAIN, NULL, N_VAL, &cfg, NULL, hist),
                     CT_ERR_INVALID);
    ct_eval_result bad_ev;
    assert_int_equal(ct_evaluate(m, f->ds, bad_idx, N_TRAIN, 8, &bad_ev), CT_ERR_INVALID);
    assert_int_equal(ct_evaluate(m, f->ds, f->val_idx, -5, 8, &bad_ev), CT_ERR_INVALID);
    /* ct_schedule_lr of a config ct_fit would refuse: NaN, not a read past the phases */
    small_config(&cfg);
    cfg.num_phases = 100000;
    assert_true(isnan(ct_schedule_lr(&cfg, 5, 0, 10)));
    small_config(&cfg); /* steps per epoch past int64 products: saturated, finite */
    cfg.schedule = CT_SCHED_COSINE;
    cfg.warmup_epochs = 2;
    assert_true(isfinite(ct_schedule_lr(&cfg, 1, 3, INT64_MAX)));

    /* no training samples */
    small_config(&cfg);
    assert_int_equal(ct_fit(m, f->ds, f->train_idx, 0, f->val_idx, N_VAL, &cfg, NULL, hist),
                     CT_ERR_INVALID);

    /* a dataset whose images do not fit the model */
    uint8_t images[10 * 4 * 4] = {0}, labels[10] = {0};
    int32_t idx[10] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
    ct_dataset *small = NULL;
    assert_int_equal(ct_dataset_create(10, 1, 4, 4, CLASSES, images, labels, &small), CT_OK);
    assert_int_equal(ct_fit(m, small, idx, 8, idx + 8, 2, &cfg, NULL, hist), CT_ERR_INVALID);
    assert_true(strstr(ct_last_error(), "model") != NULL);
    ct_eval_result ev;
    assert_int_equal(ct_evaluate(m, small, NULL, 0, 8, &ev), CT_ERR_INVALID);
    ct_dataset_free(small);
    /* 3 channels instead of 1, same pixel count per channel */
    uint8_t *rgb = calloc(10 * 3 * SIDE * SIDE, 1);
    assert_non_null(rgb);
    assert_int_equal(ct_dataset_create(10, 3, SIDE, SIDE, CLASSES, rgb, labels, &small), CT_OK);
    assert_int_equal(ct_fit(m, small, idx, 8, idx + 8, 2, &cfg, NULL, hist), CT_ERR_INVALID);
    ct_dataset_free(small);
    /* TrivialAugmentWide of images of 2 channels (torchvision's ops take 1 or 3) */
    ct_model *m2c = NULL;
    assert_int_equal(ct_model_create(f->b, SPEC, 2, SIDE, SIDE, MAX_BATCH, 4, &m2c), CT_OK);
    assert_int_equal(ct_dataset_create(10, 2, SIDE, SIDE, CLASSES, rgb, labels, &small), CT_OK);
    cfg.augment_ta_bins = 31;
    assert_int_equal(ct_fit_check(m2c, small, idx, 8, idx + 8, 2, &cfg, hist), CT_ERR_INVALID);
    assert_non_null(strstr(ct_last_error(), "TrivialAugmentWide takes images of 1 or 3 channels"));
    cfg.augment_ta_bins = 0, cfg.augment_ra_ops = 1, cfg.augment_ra_bins = 31;
    assert_int_equal(ct_fit_check(m2c, small, idx, 8, idx + 8, 2, &cfg, hist), CT_ERR_INVALID);
    assert_non_null(strstr(ct_last_error(), "RandAugment takes images of 1 or 3 channels"));
    cfg.augment_ra_ops = 0, cfg.augment_aa_policy = CT_AUTOAUGMENT_CIFAR10;
    assert_int_equal(ct_fit_check(m2c, small, idx, 8, idx + 8, 2, &cfg, hist), CT_ERR_INVALID);
    assert_non_null(strstr(ct_last_error(), "AutoAugment takes images of 1 or 3 channels"));
    cfg.augment_aa_policy = CT_AUTOAUGMENT_NONE, cfg.augment_augmix_severity = 3;
    assert_int_equal(ct_fit_check(m2c, small, idx, 8, idx + 8, 2, &cfg, hist), CT_ERR_INVALID);
    assert_non_null(strstr(ct_last_error(), "AugMix takes images of 1 or 3 channels"));
    cfg.augment_augmix_severity = 0, cfg.augment_grey_p = 0.1f;
    assert_int_equal(ct_fit_check(m2c, small, idx, 8, idx + 8, 2, &cfg, hist), CT_ERR_INVALID);
    assert_non_null(strstr(ct_last_error(), "random greyscale takes images of 1 or 3 channels"));
    cfg.augment_grey_p = 0.0f;
    assert_int_equal(ct_fit_check(m2c, small, idx, 8, idx + 8, 2, &cfg, hist), CT_OK);
    ct_model_free(m2c);
    ct_dataset_free(small);
    free(rgb);
    /* more classes in the data than the model outputs */
    uint8_t img8[10 * SIDE * SIDE] = {0}, lab8[10] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
    assert_int_equal(ct_dataset_create(10, 1, SIDE, SIDE, 10, img8, lab8, &small), CT_OK);
    assert_int_equal(ct_fit(m, small, idx, 8, idx + 8, 2, &cfg, NULL, hist), CT_ERR_INVALID);
    assert_int_equal(ct_evaluate(m, small, NULL, 0, 8, &ev), CT_ERR_INVALID);
    ct_dataset_free(small);

    /* evaluation batch sizes */
    assert_int_equal(ct_evaluate(m, f->ds, NULL, 0, 0, &ev), CT_ERR_INVALID);
    /* (a batch above what the model holds runs in pieces: test_nn_train's test_micro_batch) */

    /* nothing was trained by the failed calls */
    float *after = params_of(m);
    assert_memory_equal(before, after, (size_t)ct_model_param_count(m) * sizeof(float));
    free(before);
    free(after);
    ct_model_free(m);
}

static void test_evaluate_untrained(void **state) {
    fixture *f = *state;
    ct_model *m = make_model(f, 5);
    ct_eval_result ev;
    memset(&ev, 0xff, sizeof ev);
    ct_status s = ct_evaluate(m, f->ds, NULL, 12345 /* ignored */, 64, &ev);
    if (s != CT_OK) fail_msg("ct_evaluate: %s", ct_last_error());
    assert_int_equal(ev.count, N_SAMPLES);
    /* PyTorch's default init gives small logits: the loss is near ln(classes) */
    printf("untrained: loss %.4f (ln 4 = %.4f), accuracy %.4f\n", ev.loss, log(CLASSES), ev.accuracy);
    assert_true(fabs(ev.loss - log(CLASSES)) < 0.25);
    assert_true(ev.accuracy >= 0.0 && ev.accuracy <= 1.0);
    /* a subset: count is its size; batch 1 and a batch larger than the subset both work */
    ct_eval_result a, b;
    assert_int_equal(ct_evaluate(m, f->ds, f->val_idx, 10, 1, &a), CT_OK);
    assert_int_equal(ct_evaluate(m, f->ds, f->val_idx, 10, MAX_BATCH, &b), CT_OK);
    assert_int_equal(a.count, 10);
    assert_int_equal(b.count, 10);
    assert_true(fabs(a.loss - b.loss) < 1e-5);
    assert_true(a.accuracy == b.accuracy);
    /* evaluating is repeatable and does not change the model */
    float *before = params_of(m);
    ct_eval_result again;
    assert_int_equal(ct_evaluate(m, f->ds, NULL, 0, 64, &again), CT_OK);
    assert_memory_equal(&ev.loss, &again.loss, sizeof ev.loss);
    assert_memory_equal(&ev.accuracy, &again.accuracy, sizeof ev.accuracy);
    float *after = params_of(m);
    assert_memory_equal(before, after, (size_t)ct_model_param_count(m) * sizeof(float));
    free(before);
    free(after);
    ct_model_free(m);
}

/* A shard that fails on another thread than the caller's (the pool's thread 1 holds the second
 * half of each batch): the caller gets its status and its message (the error text is per
 * thread). A label past the classes, planted after the dataset checked them, makes it fail. */
static void test_shard_error_message(void **state) {
    (void)state;
    ct_backend *b2 = NULL;
    assert_int_equal(ct_backend_create("cpu", 2, &b2), CT_OK);
    ct_dataset *ds = make_problem(777);
    ((uint8_t *)ct_dataset_labels(ds))[63] = 9; /* row 63: shard 1 of the first batch of 64 */
    ct_model *m = make_model_on(b2, 5);
    ct_eval_result ev;
    assert_int_equal(ct_evaluate(m, ds, NULL, 0, 64, &ev), CT_ERR_INVALID);
    assert_non_null(strstr(ct_last_error(), "label 9 >= 4 classes"));
    int32_t idx[64];
    for (int i = 0; i < 64; i++) idx[i] = i;
    ct_train_config cfg;
    small_config(&cfg);
    cfg.batch_size = 64;
    cfg.num_phases = 1;
    cfg.phases[0].epochs = 1;
    assert_int_equal(ct_fit(m, ds, idx, 64, NULL, 0, &cfg, NULL, NULL), CT_ERR_INVALID);
    assert_non_null(strstr(ct_last_error(), "label 9 >= 4 classes"));
    ct_model_free(m);
    ct_dataset_free(ds);
    ct_backend_free(b2);
}

/* --data-on-device auto: RAM on the CPU; on a GPU, resident when the pixels and labels take at
 * most a quarter of the free device memory (a stand-in backend reports the free memory). */
static size_t g_fake_free;
static ct_status fake_mem_info(ct_backend *b, size_t *free_bytes, size_t *total_bytes) {
    (void)b;
    *free_bytes = g_fake_free;
    *total_bytes = 2 * g_fake_free;
    return CT_OK;
}

static void test_data_on_device_choice(void **state) {
    fixture *f = *state;
    ct_model *m = make_model(f, 5);
    char why[256];
    assert_int_equal(ct_data_on_device_choice(m, f->ds, -1, why, sizeof why), 1);
    assert_non_null(strstr(why, "resident in RAM"));
    assert_int_equal(ct_data_on_device_choice(m, f->ds, 0, why, sizeof why), 0);
    assert_non_null(strstr(why, "as asked"));
    assert_int_equal(ct_data_on_device_choice(m, f->ds, 1, why, sizeof why), 1);
    assert_string_equal(why, "resident in RAM (as asked)"); /* the CPU's memory is RAM */
    ct_backend *cpu = m->b, gpu = *cpu; /* the CPU's table, posing as a device with its own memory */
    gpu.host_is_device = 0;
    gpu.mem_info = fake_mem_info;
    m->b = &gpu;
    const size_t bytes = (size_t)N_SAMPLES * (SIDE * SIDE + 1);
    g_fake_free = 4 * bytes;
    assert_int_equal(ct_data_on_device_choice(m, f->ds, -1, why, sizeof why), 1);
    assert_non_null(strstr(why, "resident on the device"));
    g_fake_free = 4 * bytes - 4;
    assert_int_equal(ct_data_on_device_choice(m, f->ds, -1, why, sizeof why), 0);
    assert_non_null(strstr(why, "over a quarter"));
    assert_int_equal(ct_data_on_device_choice(m, f->ds, 1, why, sizeof why), 1); /* as asked */
    gpu.mem_info = NULL;
    assert_int_equal(ct_data_on_device_choice(m, f->ds, -1, why, sizeof why), 0);
    assert_non_null(strstr(why, "unknown"));
    m->b = cpu;
    ct_model_free(m);
}

/* threads: 0..CT_MAX_THREADS (0: the cores), and the description says what is used */
static void test_backend_threads(void **state) {
    (void)state;
    ct_backend *b = NULL;
    assert_int_equal(ct_backend_create("cpu", CT_MAX_THREADS + 1, &b), CT_ERR_INVALID);
    assert_null(b);
    assert_non_null(strstr(ct_last_error(), "threads must be in 0..64, got 65"));
    assert_int_equal(ct_backend_create("cpu", -1, &b), CT_ERR_INVALID);
    assert_int_equal(ct_backend_create("cpu", CT_MAX_THREADS, &b), CT_OK);
    assert_non_null(strstr(ct_backend_description(b), "CPU: 64 threads"));
    ct_backend_free(b);
}

/* ct_mix_images (ctrain show --mixup-alpha/--cutmix-alpha): each image at place p mixed with
 * its batch's place before it (the batch's last for its first), both augmented at their own
 * places, the partner's label and the batch's lam beside it */
static void test_mix_images(void **state) {
    (void)state;
    enum { N = 300, C = 2, H = 6, W = 5, ROW = C * H * W, FIRST = 100, COUNT = 200, B = 128 };
    static uint8_t images[N * ROW], labels[N], partner[COUNT];
    static float out[COUNT * ROW], plain[N * ROW], lam[COUNT];
    ct_rng rng;
    ct_rng_init(&rng, 31, 0);
    for (int i = 0; i < N * ROW; i++) images[i] = (uint8_t)ct_rng_below(&rng, 256);
    for (int i = 0; i < N; i++) labels[i] = (uint8_t)(i * 7 % 10);
    ct_train_config cfg;
    ct_train_config_default(&cfg);
    cfg.batch_size = B, cfg.seed = 9, cfg.augment_flip = 1;
    /* every image augmented at its place (its index here), unmixed */
    assert_int_equal(ct_augment_images(&cfg, images, N, C, H, W, 2, 0, plain), CT_OK);
    /* no mixing: ct_augment_images' images, their own labels, lam 1 */
    assert_int_equal(ct_mix_images(&cfg, images, labels, N, C, H, W, 2, FIRST, COUNT, out,
                                   partner, lam), CT_OK);
    assert_memory_equal(out, plain + FIRST * ROW, sizeof out);
    for (int i = 0; i < COUNT; i++)
        assert_true(partner[i] == labels[FIRST + i] && lam[i] == 1.0f);
    for (int kind = 0; kind < 2; kind++) { /* MixUp, CutMix */
        cfg.mixup_alpha = kind == 0 ? 1.0f : 0.0f, cfg.cutmix_alpha = kind == 1 ? 1.0f : 0.0f;
        assert_int_equal(ct_mix_images(&cfg, images, labels, N, C, H, W, 2, FIRST, COUNT, out,
                                       partner, lam), CT_OK);
        float lams[3] = {-1, -1, -1};
        for (int i = 0; i < COUNT; i++) {
            const int p = FIRST + i, k = p / B, b0 = k * B, b1 = b0 + B < N ? b0 + B : N;
            const int q = p == b0 ? b1 - 1 : p - 1;
            assert_int_equal(partner[i], labels[q]);
            if (lams[k] < 0) lams[k] = lam[i];
            assert_true(lam[i] == lams[k] && lam[i] >= 0.0f && lam[i] <= 1.0f);
            int from_partner = 0;
            for (int j = 0; j < ROW; j++) {
                float own = plain[p * ROW + j], other = plain[q * ROW + j], got = out[i * ROW + j];
                if (kind == 0) {
                    tu_near("mixed pixel", (size_t)(i * ROW + j), got,
                            lam[i] * own + (1.0f - lam[i]) * other, 1e-6);
                } else {
                    assert_true(got == own || got == other);
                    from_partner += got == other && got != own;
                }
            }
            if (kind == 1) /* the box: 1 - lam of each channel's pixels (bytes may agree) */
                assert_true(from_partner <= (int)lrintf((1.0f - lam[i]) * ROW) &&
                            from_partner >= (int)lrintf((1.0f - lam[i]) * ROW) * 9 / 10);
        }
        assert_true(lams[0] != lams[1] && lams[1] != lams[2]); /* a draw a batch */
    }
    assert_int_equal(ct_mix_images(&cfg, images, labels, N, C, H, W, 2, FIRST, N, out, partner,
                                   lam), CT_ERR_INVALID); /* (past the last image) */
    assert_int_equal(ct_mix_images(&cfg, images, labels, N, C, H, W, 2, 0, 1, out, NULL, lam),
                     CT_ERR_INVALID);
    cfg.cutmix_alpha = -1.0f;
    assert_int_equal(ct_mix_images(&cfg, images, labels, N, C, H, W, 2, 0, 1, out, partner, lam),
                     CT_ERR_INVALID);
}

static void test_default_config(void **state) {
    (void)state;
    ct_train_config cfg;
    memset(&cfg, 0x5a, sizeof cfg);
    ct_train_config_default(&cfg);
    assert_int_equal(cfg.num_phases, 2);
    assert_int_equal(cfg.phases[0].epochs, 5);
    assert_true(cfg.phases[0].lr == 0.5f);
    assert_int_equal(cfg.phases[1].epochs, 5);
    assert_true(cfg.phases[1].lr == 0.1f);
    assert_int_equal(cfg.batch_size, 128);
    assert_int_equal(cfg.eval_batch_size, 256);
    assert_int_equal(cfg.workers, 2);
    assert_true(cfg.prefetch >= 1);
    assert_int_equal(cfg.data_on_device, -1);
    assert_true(cfg.momentum == 0.0f && cfg.weight_decay == 0.0f && cfg.nesterov == 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_config),
        cmocka_unit_test(test_mix_images),
        cmocka_unit_test(test_backend_threads),
        cmocka_unit_test_setup_teardown(test_evaluate_untrained, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_configs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_data_on_device_choice, setup, teardown),
        cmocka_unit_test(test_shard_error_message),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
