/*
 * test_train_mnist.c — the whole default job on the real MNIST, exactly as `ctrain train` does
 * it on the CPU: load train/test, split 50000/10000 with seed 42, the tutorial's MLP
 * (784 -> 32 -> ReLU -> 10, max batch 256), the default schedule (5 epochs at 0.5, 5 at 0.1,
 * batch 128, eval 256, 2 workers), fit, then the test set. Prints the tutorial's lines.
 *
 * Slow (about 10-20 s), not run under ASan; skipped when MNIST is not on disk (CTRAIN_DATA or
 * ~/.cache/ctrain/mnist, see `ctrain data fetch mnist`).
 */
#define _GNU_SOURCE
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VAL_SIZE 10000
#define SEED 42
#define MIN_ACC 0.96

typedef struct {
    int epochs_seen;
} epoch_log;

static int print_epoch(void *user, const ct_epoch_result *r) {
    epoch_log *log = user;
    log->epochs_seen++;
    printf("Epoch [%d], val_loss: %.4f, val_acc: %.4f\n", r->epoch, r->val.loss, r->val.accuracy);
    fflush(stdout);
    return 0;
}

static void test_default_job(void **state) {
    (void)state;
    const char *dir = tu_mnist_dir("test_train_mnist");
    if (!dir) skip();

    ct_dataset *train = NULL, *test = NULL;
    ct_status s = ct_dataset_load_mnist(dir, "train", &train);
    if (s != CT_OK) fail_msg("loading MNIST train: %s", ct_last_error());
    s = ct_dataset_load_mnist(dir, "test", &test);
    if (s != CT_OK) fail_msg("loading MNIST test: %s", ct_last_error());
    assert_int_equal(ct_dataset_count(train), 60000);
    assert_int_equal(ct_dataset_count(test), 10000);
    assert_int_equal(ct_dataset_classes(train), 10);

    int32_t *train_idx = NULL, *val_idx = NULL;
    int64_t n_all = ct_dataset_count(train), n_train = n_all - VAL_SIZE;
    assert_int_equal(ct_split_indices(n_all, VAL_SIZE, SEED, &train_idx, &val_idx), CT_OK);

    ct_backend *b = NULL;
    s = ct_backend_create("cpu", 0, &b);
    if (s != CT_OK) fail_msg("cpu backend: %s", ct_last_error());
    printf("Device: %s (%s)\n", ct_backend_name(b), ct_backend_description(b));

    ct_train_config cfg;
    ct_train_config_default(&cfg);
    assert_int_equal(cfg.num_phases, 2);
    int total_epochs = cfg.phases[0].epochs + cfg.phases[1].epochs;
    assert_int_equal(total_epochs, 10);
    int max_batch = cfg.batch_size > cfg.eval_batch_size ? cfg.batch_size : cfg.eval_batch_size;
    assert_int_equal(max_batch, 256);

    ct_model *m = NULL;
    s = ct_model_create(b, "mlp", ct_dataset_channels(train), ct_dataset_height(train),
                        ct_dataset_width(train), max_batch, SEED, &m);
    if (s != CT_OK) fail_msg("ct_model_create: %s", ct_last_error());
    assert_int_equal(ct_model_param_count(m), 784 * 32 + 32 + 32 * 10 + 10);

    /* the tutorial's history = [evaluate(model, val_loader)]: an untrained model guesses */
    ct_eval_result ev;
    assert_int_equal(ct_evaluate(m, train, val_idx, VAL_SIZE, cfg.eval_batch_size, &ev), CT_OK);
    printf("Before training: val_loss: %.4f, val_acc: %.4f\n", ev.loss, ev.accuracy);
    assert_int_equal(ev.count, VAL_SIZE);
    assert_true(fabs(ev.loss - log(10.0)) < 0.3);
    assert_true(ev.accuracy < 0.3);

    ct_epoch_result history[10];
    epoch_log log = {0};
    ct_callbacks cb = {NULL, print_epoch, &log};
    double t0 = ct_time_s();
    s = ct_fit(m, train, train_idx, n_train, val_idx, VAL_SIZE, &cfg, &cb, history);
    double fit_s = ct_time_s() - t0;
    if (s != CT_OK) fail_msg("ct_fit: %s", ct_last_error());
    assert_int_equal(log.epochs_seen, total_epochs);

    for (int e = 0; e < total_epochs; e++) {
        assert_int_equal(history[e].epoch, e);
        assert_int_equal(history[e].phase, e < 5 ? 0 : 1);
        assert_true(history[e].lr == (e < 5 ? 0.5f : 0.1f));
        assert_int_equal(history[e].val.count, VAL_SIZE);
        assert_true(isfinite(history[e].train_loss));
    }
    /* the tutorial reaches ~0.96-0.97 validation accuracy */
    const ct_epoch_result *last = &history[total_epochs - 1];
    assert_true(last->val.accuracy >= MIN_ACC);
    assert_true(last->val.loss < history[0].val.loss);
    assert_true(last->train_loss < history[0].train_loss);

    ct_eval_result te;
    assert_int_equal(ct_evaluate(m, test, NULL, ct_dataset_count(test), cfg.eval_batch_size, &te),
                     CT_OK);
    printf("test_loss: %.4f, test_acc: %.4f\n", te.loss, te.accuracy);
    printf("Training time: %.3f s\n", fit_s);
    assert_int_equal(te.count, 10000);
    assert_true(te.accuracy >= MIN_ACC);

    ct_model_free(m);
    ct_backend_free(b);
    free(train_idx);
    free(val_idx);
    ct_dataset_free(test);
    ct_dataset_free(train);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_job),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
