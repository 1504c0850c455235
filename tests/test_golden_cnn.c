/*
 * test_golden_cnn.c — a small CNN with every new layer kind against numbers PyTorch produced
 * (tests/golden/cnn.txt, written by tests/golden/make_golden_cnn.py): the logits and loss of a
 * training-mode forward (batch norm on batch statistics), every gradient, five AdamW steps,
 * batch norm's running statistics and num_batches_tracked after them, and the eval-mode loss,
 * on every backend ("SKIP cuda: why" without a GPU). Dropout is left out: PyTorch's masks come
 * from its own generator (dropout is checked by test_nn_ops and test_nn_train).
 */
#include "testutil.h"

#include "nn/model.h"
#include "optim/optim.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { B = 6, C = 1, H = 10, W = 10, K = 5, N_TENSORS = 12, N_BN = 2 };
static const char *k_spec = "conv(4,3,1,1),relu,batchnorm,maxpool(2),conv(6,3,2,1),tanh,"
                            "avgpool(3,1,1),flatten,linear(16),gelu,batchnorm,linear(5)";

typedef struct {
    double logits[B * K], loss, adamw[5], eval_loss;
    struct { char name[32]; double sum, sumsq; int idx[3]; double pick[3]; } grad[N_TENSORS];
    double running[N_BN][32];
    int tracked[N_BN];
} golden;

static void read_golden(golden *g) {
    char path[512];
    const char *src = getenv("CTRAIN_SOURCE_DIR");
    snprintf(path, sizeof path, "%s/tests/golden/cnn.txt", src ? src : ".");
    FILE *f = fopen(path, "r");
    if (!f) fail_msg("cannot open %s", path);
    char line[8192];
    int ng = 0, nr = 0, nt = 0, used;
    while (fgets(line, sizeof line, f)) {
        char *p = line;
        if (!strncmp(line, "logits ", 7)) {
            p += 7;
            for (int i = 0; i < B * K; i++, p += used)
                assert_int_equal(sscanf(p, "%lf%n", &g->logits[i], &used), 1);
        } else if (!strncmp(line, "loss ", 5)) {
            assert_int_equal(sscanf(line + 5, "%lf", &g->loss), 1);
        } else if (!strncmp(line, "grad ", 5)) {
            assert_true(ng < N_TENSORS);
            assert_int_equal(sscanf(line + 5, "%31s %lf %lf %d %lf %d %lf %d %lf",
                                    g->grad[ng].name, &g->grad[ng].sum, &g->grad[ng].sumsq,
                                    &g->grad[ng].idx[0], &g->grad[ng].pick[0], &g->grad[ng].idx[1],
                                    &g->grad[ng].pick[1], &g->grad[ng].idx[2],
                                    &g->grad[ng].pick[2]), 9);
            ng++;
        } else if (!strncmp(line, "adamw_losses ", 13)) {
            p += 13;
            for (int i = 0; i < 5; i++, p += used)
                assert_int_equal(sscanf(p, "%lf%n", &g->adamw[i], &used), 1);
        } else if (!strncmp(line, "running ", 8)) {
            p += 8;
            for (int i = 0; nr < N_BN && sscanf(p, "%lf%n", &g->running[nr][i], &used) == 1; i++)
                p += used;
            nr++;
        } else if (!strncmp(line, "batches_tracked ", 16)) {
            assert_int_equal(sscanf(line + 16, "%d", &g->tracked[nt++]), 1);
        } else if (!strncmp(line, "eval_loss ", 10)) {
            assert_int_equal(sscanf(line + 10, "%lf", &g->eval_loss), 1);
        }
    }
    fclose(f);
    assert_int_equal(ng, N_TENSORS);
    assert_int_equal(nr, N_BN);
    assert_int_equal(nt, N_BN);
}

/* The formulas of make_golden_cnn.py. */
static void fill(float *v, int n, double salt, double scale, double offset) {
    for (int i = 0; i < n; i++) v[i] = (float)(offset + scale * sin(0.37 * i + salt));
}

static void near(const char *dev, const char *what, int i, double got, double ref, double tol) {
    if (!(fabs(got - ref) <= tol))
        fail_msg("%s: %s [%d] = %.9g, PyTorch %.9g (|diff| %.3g > %.3g)", dev, what, i, got, ref,
                 fabs(got - ref), tol);
}

/* Forward (training mode) and backward on the fixed batch; returns the mean loss. */
static double train_pass(ct_model *m) {
    double st[2];
    OK(m->b->memset0(m->b, m->stats, sizeof st));
    OK(ct_model_forward(m, B, 1));
    OK(ct_model_loss_backward(m, B, 1));
    OK(m->b->d2h(m->b, st, m->stats, sizeof st));
    return st[0] / B;
}

static void test_golden_cnn(void **state) {
    const char *dev = *state;
    ct_backend *b = NULL;
    if (ct_backend_create(dev, 1, &b) != CT_OK) TU_SKIP(dev, "%s", ct_last_error());
    golden g;
    memset(&g, 0, sizeof g);
    read_golden(&g);
    ct_model *m = NULL;
    OK(ct_model_create(b, k_spec, C, H, W, B, 1, &m));
    int64_t P = ct_model_param_count(m);
    float *p = calloc((size_t)P, 4), *grads = calloc((size_t)P, 4);
    int64_t sizes[N_TENSORS], off = 0;
    int t = 0;
    for (int i = 0; i < m->n_layers; i++) { /* weight then bias of each layer with parameters */
        const ct_layer *l = &m->layers[i];
        if (!l->n_params) continue;
        int64_t nb = !strcmp(l->ops->kind, "batchnorm") ? l->n_params / 2 : l->out_c;
        sizes[t] = l->n_params - nb;
        sizes[t + 1] = nb;
        int bn = !strcmp(l->ops->kind, "batchnorm");
        fill(p + off, (int)sizes[t], t + 1.0, bn ? 0.1 : 0.3, bn ? 1.0 : 0.0);
        fill(p + off + sizes[t], (int)nb, t + 2.0, 0.05, 0.0);
        off += l->n_params;
        t += 2;
    }
    assert_int_equal(t, N_TENSORS);
    assert_int_equal(off, P);
    OK(ct_model_set_params(m, p));
    float x[B * C * H * W], logits[B * K];
    uint8_t y[B];
    fill(x, B * C * H * W, 0.5, 1.0, 0.0);
    for (int i = 0; i < B; i++) y[i] = (uint8_t)((3 * i + 1) % K);
    OK(b->h2d(b, ct_model_input(m), x, sizeof x));
    OK(b->h2d(b, m->labels, y, sizeof y));

    double loss = train_pass(m);
    near(dev, "loss", 0, loss, g.loss, 2e-6);
    OK(b->d2h(b, logits, ct_model_logits(m), sizeof logits));
    for (int i = 0; i < B * K; i++) near(dev, "logits", i, logits[i], g.logits[i], 2e-6);
    OK(b->d2h(b, grads, m->grads, (size_t)P * 4));
    off = 0;
    for (t = 0; t < N_TENSORS; t++) {
        double sum = 0, sumsq = 0, scale = sqrt(g.grad[t].sumsq / sizes[t]);
        for (int64_t j = 0; j < sizes[t]; j++) {
            sum += grads[off + j];
            sumsq += (double)grads[off + j] * grads[off + j];
        }
        double tol = 1e-4 * scale + 1e-6;
        near(dev, g.grad[t].name, -1, sum, g.grad[t].sum, tol * sqrt((double)sizes[t]) * 4);
        near(dev, g.grad[t].name, -2, sumsq, g.grad[t].sumsq, 1e-3 * g.grad[t].sumsq + 1e-10);
        for (int k = 0; k < 3; k++)
            near(dev, g.grad[t].name, g.grad[t].idx[k], grads[off + g.grad[t].idx[k]],
                 g.grad[t].pick[k], tol + 1e-4 * fabs(g.grad[t].pick[k]));
        off += sizes[t];
    }

    ct_train_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.optimizer = CT_ADAMW;
    cfg.weight_decay = 0.01f;
    ct_optimizer opt;
    memset(&opt, 0, sizeof opt);
    OK(ct_optimizer_init_config(&opt, b, P, &cfg, 1));
    for (int s = 0; s < 5; s++) {
        double l = train_pass(m);
        near(dev, "AdamW step loss", s, l, g.adamw[s], 2e-6 * (1 + 4 * s));
        OK(ct_optimizer_step(&opt, m->params, m->grads, 0.01f));
    }
    assert_int_equal(ct_model_buffer_count(m), 2 * 4 + 2 * 16);
    float bufs[40];
    OK(ct_model_get_buffers(m, bufs));
    for (int i = 0; i < 8; i++) near(dev, "batchnorm1 running stats", i, bufs[i], g.running[0][i], 1e-5);
    for (int i = 0; i < 32; i++)
        near(dev, "batchnorm2 running stats", i, bufs[8 + i], g.running[1][i], 1e-5);
    assert_int_equal(ct_model_batches_tracked(m, 2), g.tracked[0]);
    assert_int_equal(ct_model_batches_tracked(m, 10), g.tracked[1]);
    double st[2];
    OK(b->memset0(b, m->stats, sizeof st));
    OK(ct_model_forward(m, B, 0));
    OK(ct_model_loss_backward(m, B, 0));
    OK(b->d2h(b, st, m->stats, sizeof st));
    near(dev, "eval loss", 0, st[0] / B, g.eval_loss, 1e-5);
    ct_optimizer_release(&opt);
    ct_model_free(m);
    ct_backend_free(b);
    free(p);
    free(grads);
}

int main(void) {
    static const char *devs[] = {"cpu", "cuda"};
    const struct CMUnitTest tests[] = {
        {"golden cnn (cpu)", test_golden_cnn, NULL, NULL, (void *)devs[0]},
        {"golden cnn (cuda)", test_golden_cnn, NULL, NULL, (void *)devs[1]},
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
