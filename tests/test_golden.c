/*
 * test_golden.c — the tutorial's MLP against numbers PyTorch produced (tests/golden/mlp.txt,
 * written by tests/golden/make_golden.py), like llm.c's test_gpt2: logits, loss, every
 * gradient, and five SGD steps (momentum 0.9, Nesterov, weight decay) on every backend.
 */
#include "testutil.h"

#include "nn/model.h"
#include "optim/optim.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { B = 8, IN = 784, H = 32, OUT = 10 };

typedef struct {
    double logits[B * OUT], loss, sgd_losses[5], final_loss;
    struct { char name[32]; double sum, sumsq; int pick_idx[5]; double pick[5]; } grad[4];
} golden;

static void read_golden(golden *g) {
    char path[512];
    const char *src = getenv("CTRAIN_SOURCE_DIR");
    snprintf(path, sizeof path, "%s/tests/golden/mlp.txt", src ? src : ".");
    FILE *f = fopen(path, "r");
    if (!f) fail_msg("cannot open %s", path);
    char line[8192];
    int ng = 0;
    while (fgets(line, sizeof line, f)) {
        char *p = line;
        int used = 0;
        if (!strncmp(line, "logits ", 7)) {
            p += 7;
            for (int i = 0; i < B * OUT; i++, p += used)
                assert_int_equal(sscanf(p, "%lf%n", &g->logits[i], &used), 1);
        } else if (!strncmp(line, "loss ", 5)) {
            assert_int_equal(sscanf(line + 5, "%lf", &g->loss), 1);
        } else if (!strncmp(line, "grad ", 5)) {
            assert_true(ng < 4);
            assert_int_equal(sscanf(line, "grad %31s sum %lf sumsq %lf picks%n", g->grad[ng].name,
                                    &g->grad[ng].sum, &g->grad[ng].sumsq, &used), 3);
            p = line + used;
            for (int k = 0; k < 5; k++, p += used)
                assert_int_equal(sscanf(p, " %d:%lf%n", &g->grad[ng].pick_idx[k],
                                        &g->grad[ng].pick[k], &used), 2);
            ng++;
        } else if (!strncmp(line, "sgd_losses ", 11)) {
            p += 11;
            for (int i = 0; i < 5; i++, p += used)
                assert_int_equal(sscanf(p, "%lf%n", &g->sgd_losses[i], &used), 1);
        } else if (!strncmp(line, "final_loss ", 11)) {
            assert_int_equal(sscanf(line + 11, "%lf", &g->final_loss), 1);
        }
    }
    fclose(f);
    assert_int_equal(ng, 4);
}

/* The formulas make_golden.py uses. */
static void fill(float *p, int n, double salt, double scale) {
    for (int i = 0; i < n; i++) p[i] = (float)(scale * sin(0.37 * i + salt));
}

static double mean_loss(ct_model *m) {
    double st[2];
    assert_int_equal(m->b->d2h(m->b, st, m->stats, sizeof st), CT_OK);
    assert_int_equal(m->b->memset0(m->b, m->stats, sizeof st), CT_OK);
    return st[0] / B;
}

static void run_golden(const char *device) {
    ct_backend *b = NULL;
    if (ct_backend_create(device, 1, &b) != CT_OK) {
        TU_SKIP(device, "%s", ct_last_error());
        return;
    }
    golden g;
    memset(&g, 0, sizeof g);
    read_golden(&g);
    ct_model *m = NULL;
    assert_int_equal(ct_model_create(b, "mlp", 1, 28, 28, B, 1, &m), CT_OK);
    assert_int_equal(ct_model_param_count(m), H * IN + H + OUT * H + OUT);
    float *params = malloc(sizeof(float) * (size_t)ct_model_param_count(m));
    float *x = malloc(sizeof(float) * B * IN);
    float *host = malloc(sizeof(float) * (size_t)ct_model_param_count(m));
    uint8_t y[B];
    fill(params, H * IN, 1.0, 0.05);                        /* linear1.weight (32, 784) */
    fill(params + H * IN, H, 2.0, 0.1);                     /* linear1.bias (32) */
    fill(params + H * IN + H, OUT * H, 3.0, 0.3);           /* linear2.weight (10, 32) */
    fill(params + H * IN + H + OUT * H, OUT, 4.0, 0.1);     /* linear2.bias (10) */
    assert_int_equal(ct_model_set_params(m, params), CT_OK);
    for (int r = 0; r < B; r++) {
        for (int j = 0; j < IN; j++) x[r * IN + j] = (float)((37 * r + 11 * j) % 256) / 255.0f;
        y[r] = (uint8_t)((3 * r + 1) % OUT);
    }
    assert_int_equal(b->h2d(b, ct_model_input(m), x, sizeof(float) * B * IN), CT_OK);
    assert_int_equal(b->h2d(b, m->labels, y, sizeof y), CT_OK);

    /* forward: logits and loss */
    assert_int_equal(ct_model_forward(m, B, 1), CT_OK);
    float logits[B * OUT];
    assert_int_equal(b->d2h(b, logits, ct_model_logits(m), sizeof logits), CT_OK);
    for (int i = 0; i < B * OUT; i++)
        if (fabs(logits[i] - g.logits[i]) > 1e-5)
            fail_msg("%s: logit %d: %.7f, PyTorch %.7f", device, i, logits[i], g.logits[i]);
    assert_int_equal(ct_model_loss_backward(m, B, 1), CT_OK);
    double loss = mean_loss(m);
    if (fabs(loss - g.loss) > 1e-5) fail_msg("%s: loss %.7f, PyTorch %.7f", device, loss, g.loss);

    /* every gradient: sum, sum of squares and five entries */
    assert_int_equal(b->d2h(b, host, m->grads, sizeof(float) * (size_t)ct_model_param_count(m)),
                     CT_OK);
    const int sizes[4] = {H * IN, H, OUT * H, OUT};
    const char *names[4] = {"linear1.weight", "linear1.bias", "linear2.weight", "linear2.bias"};
    int off = 0;
    for (int t = 0; t < 4; t++) {
        assert_string_equal(g.grad[t].name, names[t]);
        double sum = 0, sumsq = 0;
        for (int i = 0; i < sizes[t]; i++) {
            sum += host[off + i];
            sumsq += (double)host[off + i] * host[off + i];
        }
        if (fabs(sum - g.grad[t].sum) > 1e-5 + 1e-4 * fabs(g.grad[t].sum) ||
            fabs(sumsq - g.grad[t].sumsq) > 1e-4 * g.grad[t].sumsq)
            fail_msg("%s: %s gradient: sum %.9g sumsq %.9g, PyTorch %.9g %.9g", device, names[t],
                     sum, sumsq, g.grad[t].sum, g.grad[t].sumsq);
        for (int k = 0; k < 5; k++) {
            double v = host[off + g.grad[t].pick_idx[k]];
            if (fabs(v - g.grad[t].pick[k]) > 1e-6 + 1e-4 * fabs(g.grad[t].pick[k]))
                fail_msg("%s: %s[%d] = %.9g, PyTorch %.9g", device, names[t],
                         g.grad[t].pick_idx[k], v, g.grad[t].pick[k]);
        }
        off += sizes[t];
    }

    /* five SGD steps (the first loss is the one above; recompute it from a clean start) */
    assert_int_equal(ct_model_set_params(m, params), CT_OK);
    ct_optimizer opt;
    memset(&opt, 0, sizeof opt);
    assert_int_equal(ct_optimizer_init(&opt, b, ct_model_param_count(m), 0.9f, 1e-3f, 1, 1),
                     CT_OK);
    for (int step = 0; step < 5; step++) {
        assert_int_equal(ct_model_forward(m, B, 1), CT_OK);
        assert_int_equal(ct_model_loss_backward(m, B, 1), CT_OK);
        double l = mean_loss(m);
        if (fabs(l - g.sgd_losses[step]) > 2e-5 * (1 + step))
            fail_msg("%s: SGD step %d loss %.7f, PyTorch %.7f", device, step, l,
                     g.sgd_losses[step]);
        assert_int_equal(ct_optimizer_step(&opt, m->params, m->grads, 0.05f), CT_OK);
    }
    assert_int_equal(ct_model_forward(m, B, 0), CT_OK);
    assert_int_equal(ct_model_loss_backward(m, B, 0), CT_OK);
    double final = mean_loss(m);
    if (fabs(final - g.final_loss) > 2e-4)
        fail_msg("%s: loss after 5 steps %.7f, PyTorch %.7f", device, final, g.final_loss);
    printf("%s: logits, loss, 4 gradients and 5 SGD steps match PyTorch (final loss %.6f vs "
           "%.6f)\n", device, final, g.final_loss);

    ct_optimizer_release(&opt);
    free(params);
    free(x);
    free(host);
    ct_model_free(m);
    ct_backend_free(b);
}

static void test_golden_cpu(void **state) { run_golden("cpu"); }
static void test_golden_cuda(void **state) { run_golden("cuda"); }

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_cpu),
        cmocka_unit_test(test_golden_cuda),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
