/*
 * test_nn_grad.c — gradient checks of the CNN layers through the model API on the CPU backend:
 * conv (stride, padding), max and average pooling (overlapping windows, padding), batch norm
 * (1d and 2d, training mode), dropout and stochastic depth (the masks of step 0, fixed), global average pooling and
 * residual blocks (identity and projection shortcuts, a block on the input, a block whose path
 * has no parameters), in small models.
 *
 * - the library's training-mode loss against a double-precision forward (nn_ref.c, from the
 *   layer table: PyTorch's layouts; dropout's mask from Philox as conv_layers.c documents);
 * - the library's gradient (m->grads) against central differences of that double forward
 *   (tight), and against central differences of the library's own float loss (loose);
 * - inputs are redrawn while a ReLU pre-activation or a max-pooling window's top two values are
 *   too close (a kink inside the difference step);
 * (the token sequences' layers: test_attention.c) plus parameter counts and names of the presets, batch norm's running statistics and
 * num_batches_tracked, spec errors that point at the offending token, and torchvision's ResNet
 * initialisation (ct_model_init_torchvision: each conv's and linear layer's weights' std and mean).
 */
#include "nn_ref.h"
#include "testutil.h"

#include "backend/backend.h"
#include "core/core.h"
#include "nn/model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static ct_backend *g_cpu;

/* ------------------------------------------------------------------------------------------ */
/* the gradient checks (nn_ref.c)                                                             */

static const grad_case k_cases[] = {
    {"conv(3,3),tanh,flatten,linear(4)", 1, 5, 5, 3},
    {"conv(2,3,2,1),sigmoid,conv(3,2),flatten,linear(3)", 2, 6, 6, 2},
    {"conv(2,3,1,1),relu,maxpool(2),flatten,linear(3)", 1, 4, 4, 2},
    {"conv(3,3),avgpool(2),tanh,flatten,linear(3)", 2, 7, 7, 2},
    {"avgpool(3,2,1),flatten,linear(3)", 1, 5, 5, 3},
    {"maxpool(3,2,1),flatten,linear(3)", 2, 5, 5, 2},
    {"conv(2,1),maxpool(3,1),tanh,flatten,linear(3)", 1, 5, 5, 2},
    {"flatten,linear(6),batchnorm,tanh,linear(3)", 1, 3, 3, 5},
    {"conv(3,3),batchnorm,tanh,flatten,linear(3)", 1, 5, 5, 4},
    {"conv(2,3,1,1),batchnorm(0.001,0.5),relu,avgpool(2),flatten,batchnorm,linear(3)", 2, 4, 4, 3},
    {"flatten,linear(8),tanh,dropout(0.5),linear(3)", 1, 3, 3, 4},
    {"conv(2,3),dropout(0.25),flatten,linear(3)", 1, 5, 5, 3},
    {"normalize(0.2,-1,0.5,2),conv(2,3),normalize(0.1,0.3,0.25,4),tanh,flatten,linear(3)", 2, 5,
     5, 3},
    {"flatten,linear(6),normalize(0.5,3),sigmoid,linear(3)", 1, 3, 3, 2},
    {"conv(3,3,2,1,0),globalavgpool,tanh,linear(3)", 2, 5, 4, 3}, /* (no bias) */
    /* grouped convs: two groups with a bias, depthwise (groups = channels) with a channel
     * multiplier of 2 and without a bias, as MobileNetV2's and ResNeXt's blocks use them */
    {"conv(4,3,1,1,1,2),tanh,conv(8,3,2,1,0,4),tanh,flatten,linear(3)", 2, 5, 5, 3},
    {"conv(4,1),residual(conv(4,3,1,1,0,4),tanh,conv(4,1,1,0,0,2)),globalavgpool,linear(3)", 2,
     4, 4, 2},
    {"flatten,linear(6),relu6,linear(3)", 1, 3, 3, 2}, /* (MobileNetV2's activation) */
    {"flatten,linear(6),silu,linear(5),hardswish,linear(4),hardsigmoid,linear(3)", 1, 3, 3, 2},
    /* squeeze-and-excitation: torchvision's defaults (ReLU, sigmoid); MobileNetV3's (ReLU,
     * hardsigmoid) in an inverted residual block; EfficientNet's (SiLU, sigmoid); on the input
     * (no input gradient); on a 1x1 plane */
    {"conv(4,3,1,1),se(3),tanh,flatten,linear(3)", 1, 5, 5, 3},
    {"conv(4,1),residual(conv(4,3,1,1,0,4),tanh,se(3,relu,hardsigmoid),conv(4,1,1,0,0)),"
     "globalavgpool,linear(3)", 2, 4, 4, 2},
    {"conv(6,3,2,1),se(2,silu,sigmoid),globalavgpool,linear(3)", 2, 5, 5, 3},
    {"se(2,tanh,hardsigmoid),flatten,linear(3)", 3, 3, 2, 2},
    {"flatten,linear(5),se(4),linear(3)", 1, 3, 3, 4},
    /* stochastic depth closing residual blocks, as EfficientNet's (a batch of 8: samples kept and
     * dropped), and on a flat vector */
    {"conv(3,3,1,1),residual(conv(3,3,1,1),tanh,droppath(0.5)),residual(conv(3,1),droppath(0.3)),"
     "globalavgpool,linear(3)", 1, 4, 4, 8},
    {"flatten,linear(6),tanh,droppath(0.4),linear(3)", 1, 3, 3, 6},
    /* group norm: 2 groups of 2 channels (5x5 planes), one group (a layer norm over C, H, W
     * with a weight per channel), a group a channel (InstanceNorm's, with its affine; not
     * before a global pooling, whose mean of it would be its bias alone), on a flat vector
     * (groups of 4); layer norm after a linear layer (a weight per feature), on an image (a
     * weight per value), on the input (no input gradient) */
    {"conv(4,3,1,1),groupnorm(2),tanh,flatten,linear(3)", 1, 5, 5, 3},
    {"conv(3,3,1,1),groupnorm(1,0.001),tanh,conv(3,1),groupnorm(3),tanh,flatten,linear(3)", 2,
     4, 4, 2},
    {"flatten,linear(8),groupnorm(2),tanh,linear(3)", 1, 3, 3, 4},
    {"flatten,linear(6),layernorm,tanh,linear(3)", 1, 3, 3, 4},
    {"conv(2,3),layernorm(0.01),tanh,flatten,linear(3)", 1, 5, 5, 3},
    {"layernorm,flatten,linear(3)", 2, 3, 3, 3},
    /* residual blocks: identity shortcut; projection (stride 2, batch norm) after a conv whose
     * ReLU is fused (the block's input is the ReLU's output), and a ReLU after its add; a block on the input and one whose path has no
     * parameters; the shortcut the only parameters before the head; blocks on flat vectors */
    {"conv(2,3,1,1),residual(conv(2,3,1,1),tanh,conv(2,3,1,1)),tanh,flatten,linear(3)", 1, 5, 5,
     2},
    {"conv(2,3,1,1),relu,residual(conv(3,3,2,1),batchnorm,tanh,conv(3,3,1,1),batchnorm),relu,"
     "globalavgpool,linear(3)", 1, 4, 4, 3},
    {"residual(conv(2,3,1,1),tanh),residual(tanh),flatten,linear(3)", 2, 4, 4, 2},
    {"residual(maxpool(2)),tanh,flatten,linear(3)", 2, 4, 4, 3},
    {"flatten,linear(6),residual(linear(6),tanh),residual(linear(4),tanh),linear(3)", 1, 3, 3,
     4},
};

static void test_model_grad(void **state) { nn_grad_check(g_cpu, *state); }

/* ------------------------------------------------------------------------------------------ */
/* batch norm's running statistics and num_batches_tracked; eval uses them                     */

static void test_batchnorm_running(void **state) {
    ct_model *m = NULL;
    enum { N = 6, C = 3 };
    OK(ct_model_create(g_cpu, "flatten,batchnorm,linear(2)", C, 1, 1, N, 1, &m));
    assert_int_equal(ct_model_buffer_count(m), 2 * C);
    float buf[2 * C], x[N * C], y[N * 2];
    OK(ct_model_get_buffers(m, buf));
    for (int c = 0; c < C; c++) {
        assert_true(buf[c] == 0.0f);
        assert_true(buf[C + c] == 1.0f);
    }
    assert_int_equal(ct_model_batches_tracked(m, 1), 0);
    assert_int_equal(ct_model_batches_tracked(m, 0), -1);
    for (int i = 0; i < N * C; i++) x[i] = (float)(i % 5) + 0.5f * (float)(i % C);
    OK(m->b->h2d(m->b, ct_model_input(m), x, sizeof x));
    OK(ct_model_forward(m, N, 1));
    OK(ct_model_forward(m, N, 1));
    assert_int_equal(ct_model_batches_tracked(m, 1), 2);
    OK(ct_model_get_buffers(m, buf));
    for (int c = 0; c < C; c++) {
        double mean = 0, var = 0;
        for (int i = 0; i < N; i++) mean += x[i * C + c];
        mean /= N;
        for (int i = 0; i < N; i++) var += (x[i * C + c] - mean) * (x[i * C + c] - mean);
        var /= N - 1; /* unbiased */
        double rm = 0.1 * mean + 0.9 * 0.1 * mean, rv = 0.9 * (0.9 + 0.1 * var) + 0.1 * var;
        if (fabs(buf[c] - rm) > 1e-6 || fabs(buf[C + c] - rv) > 1e-5)
            fail_msg("channel %d: running (%g, %g), expected (%g, %g)", c, buf[c], buf[C + c],
                     rm, rv);
    }
    /* eval: normalised with the running statistics; set_buffers is honoured */
    for (int c = 0; c < C; c++) buf[c] = 1.0f, buf[C + c] = 4.0f;
    OK(ct_model_set_buffers(m, buf));
    OK(ct_model_forward(m, N, 0));
    float *h = m->shards[0].acts[2]; /* the batchnorm's output (CPU: host memory) */
    for (int i = 0; i < N * C; i++)
        if (fabs(h[i] - (x[i] - 1.0) / sqrt(4.0 + 1e-5)) > 1e-5)
            fail_msg("eval output [%d] = %g", i, h[i]);
    (void)y;
    OK(ct_model_set_batches_tracked(m, 1, 7));
    assert_int_equal(ct_model_batches_tracked(m, 1), 7);
    assert_int_not_equal(ct_model_set_batches_tracked(m, 2, 7), CT_OK);
    ct_model_free(m);
}

/* ------------------------------------------------------------------------------------------ */
/* presets, names, spec errors                                                                 */

static void test_presets(void **state) {
    /* (models of up to 125M parameters built and initialised: most of this program's time, the
     * same on every instruction set of the kernels, which its other runs are for) */
    if (getenv("CTRAIN_CPU_ISA"))
        TU_SKIP("test_presets", "run with CTRAIN_CPU_ISA=%s: the presets' layers and counts do "
                "not depend on it (the default run checks them)", getenv("CTRAIN_CPU_ISA"));
    struct { const char *spec; int64_t params; const char *names; } k[] = {
        {"lenet5", 61706, "conv1 relu maxpool conv2 relu maxpool flatten linear1 relu linear2 "
                          "relu linear3"},
        {"cnn", 1199882, "conv1 relu conv2 relu maxpool dropout flatten linear1 relu dropout "
                         "linear2"},
        {"conv(8,3,1,1),batchnorm,relu,flatten,batchnorm,linear(10)", 8 * 9 + 8 + 16 + 8 * 784 * 2 + 80 * 784 +
                                                                       10,
         "conv1 batchnorm1 relu flatten batchnorm2 linear1"},
        /* He et al.'s 0.27M for ResNet-20 (with projection shortcuts): on one channel; CIFAR's
         * three: 272474 */
        {"resnet8", 77754, NULL},
        {"resnet20", 272186, NULL},
        /* torchvision's resnet18 ... resnet152(num_classes=10), conv1 on one channel */
        {"resnet18", 11175370, NULL},
        {"resnet34", 21283530, NULL},
        {"resnet50", 23522250, NULL},
        {"resnet101", 42514378, NULL},
        {"resnet152", 58158026, NULL},
        {"wide_resnet50_2", 66848458, NULL},
        {"wide_resnet101_2", 124851914, NULL},
        {"resnext50_32x4d", 22994122, NULL},
        {"resnext101_32x8d", 86756554, NULL},
        {"resnext101_64x4d", 81420490, NULL},
        {"mobilenet_v2", 2236106, NULL}, /* (torchvision's mobilenet_v2(num_classes=10)) */
        {"mobilenet_v3_large", 4214554, NULL}, /* (and mobilenet_v3_large ...) */
        {"mobilenet_v3_small", 1527818, NULL},
        {"efficientnet_b0", 4019782, NULL},
        {"conv(4,3,1,1),residual(conv(8,3,2,1),relu,conv(8,3,1,1)),relu,globalavgpool,linear(10)",
         4 * 10 + 8 * 37 + 8 * 73 + 8 * 4 + 16 + 8 * 10 + 10,
         "conv1 conv2 relu conv3 conv4 batchnorm1 add relu globalavgpool linear1"},
    };
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++) {
        ct_model *m = NULL;
        OK(ct_model_create(g_cpu, k[i].spec, 1, 28, 28, 4, 1, &m));
        assert_int_equal(ct_model_param_count(m), k[i].params);
        char names[8192] = ""; /* (resnet152: 514 layers) */
        for (int l = 0; l < m->n_layers; l++) {
            strcat(names, m->layers[l].name);
            if (l + 1 < m->n_layers) strcat(names, " ");
        }
        if (k[i].names) assert_string_equal(names, k[i].names);
        assert_int_equal(ct_model_num_classes(m), 10);
        char summary[65536];
        OK(ct_model_summary(m, 0, summary, sizeof summary));
        ct_model_free(m);
    }
    /* the ResNets' blocks: their adds, and the projection shortcuts where the shape changes */
    const struct { const char *name; int adds, projections, width, layers; } nets[] = {
        {"resnet8", 3, 2, 64, 30},          {"resnet20", 9, 2, 64, 72},
        {"resnet18", 8, 3, 512, 68},        {"resnet34", 16, 3, 512, 124},
        {"resnet50", 16, 4, 2048, 174},     {"resnet101", 33, 4, 2048, 344},
        {"resnet152", 50, 4, 2048, 514},    {"wide_resnet50_2", 16, 4, 2048, 174}};
    for (size_t i = 0; i < sizeof nets / sizeof nets[0]; i++) {
        ct_model *r = NULL;
        OK(ct_model_create(g_cpu, nets[i].name, 3, 32, 32, 2, 1, &r));
        int adds = 0, projections = 0;
        for (int l = 0; l < r->n_layers; l++) {
            const ct_layer *a = &r->layers[l];
            if (a->ops != &ct_residual_ops) continue;
            adds++;
            projections += a->cfg.res.skip != a->cfg.res.begin;
            assert_int_equal(r->layers[a->cfg.res.begin].block, a->block);
        }
        assert_int_equal(r->n_layers, nets[i].layers);
        assert_int_equal(adds, nets[i].adds);
        assert_int_equal(projections, nets[i].projections);
        assert_int_equal(r->layers[r->n_layers - 2].out_c, nets[i].width); /* global pooling */
        assert_int_equal(r->layers[r->n_layers - 2].out_h, 1);
        ct_model_free(r);
    }
    /* torchvision's vit_b_16 and vit_b_32(num_classes=10, image_size=32): their parameters (the
     * larger ones' too, 303115274 for vit_l_16, 305471498 for vit_l_32, 630455050 for vit_h_14
     * at 28, measured once: too large to build here), tokens and layers */
    const struct { const char *name; int64_t params; int tokens; } vits[] = {
        {"vit_b_16", 85658890, 5}, {"vit_b_32", 87426058, 2}};
    for (size_t i = 0; i < sizeof vits / sizeof vits[0]; i++) {
        ct_model *v = NULL;
        OK(ct_model_create(g_cpu, vits[i].name, 3, 32, 32, 2, 1, &v));
        assert_int_equal(ct_model_param_count(v), vits[i].params);
        assert_int_equal(v->layers[3].out_c, vits[i].tokens); /* (posembed1's) */
        assert_int_equal(v->n_layers, 4 + 12 * 8 + 3);
        ct_model_free(v);
    }
    /* the cnn's shapes: (32, 26, 26) (64, 24, 24) (64, 12, 12) */
    ct_model *m = NULL;
    OK(ct_model_create(g_cpu, "cnn", 1, 28, 28, 4, 1, &m));
    assert_int_equal(m->layers[2].out_c * m->layers[2].out_h * m->layers[2].out_w, 64 * 24 * 24);
    assert_int_equal(m->layers[4].out_h, 12);
    ct_model_free(m);
}

/* ct_spec_text: a preset's layers by its name (for its classes, after a normalize layer), others
 * whole, or by their start and end when long; the mlp's layers never named */
static void test_spec_text(void **state) {
    (void)state;
    char buf[400], spec[8192];
    const char *r50 = ct_model_preset("resnet50");
    assert_string_equal(ct_spec_text(r50, 1, buf, sizeof buf), "resnet50");
    const size_t body = strlen(r50) - strlen("linear(10)");
    snprintf(spec, sizeof spec, "%.*slinear(3)", (int)body, r50);
    assert_string_equal(ct_spec_text(spec, 0, buf, sizeof buf), "resnet50 for 3 classes");
    snprintf(spec, sizeof spec, "normalize(0.5,0.25),%.*slinear(7)", (int)body, r50);
    assert_string_equal(ct_spec_text(spec, 0, buf, sizeof buf),
                        "resnet50 for 7 classes, after normalize(0.5,0.25)");
    snprintf(spec, sizeof spec, "normalize(0.1307,0.3081),%s", ct_model_preset("lenet5"));
    assert_string_equal(ct_spec_text(spec, 1, buf, sizeof buf), "lenet5, after normalize(0.1307,0.3081)");
    assert_string_equal(ct_spec_text(ct_model_preset("resnet18"), 0, buf, sizeof buf), "resnet18");
    /* not a preset's: the mlp's, another last layer, something after it, a changed layer */
    const char *mlp = ct_model_preset("mlp");
    assert_string_equal(ct_spec_text(mlp, 0, buf, sizeof buf), mlp);
    snprintf(spec, sizeof spec, "\"%s\"", mlp);
    assert_string_equal(ct_spec_text(mlp, 1, buf, sizeof buf), spec);
    const char *bad_tails[] = {"linear(0)", "linear(3),relu", "linear(3 )", "linear(-3)", "linear()",
                               "linear(x)", "relu"};
    for (size_t i = 0; i < sizeof bad_tails / sizeof bad_tails[0]; i++) {
        snprintf(spec, sizeof spec, "%.*s%s", (int)body, r50, bad_tails[i]);
        ct_spec_text(spec, 0, buf, sizeof buf);
        assert_string_not_equal(buf, "resnet50");
        assert_non_null(strstr(buf, " characters)")); /* (long: shortened) */
        assert_non_null(strstr(buf, bad_tails[i]));    /* (its end shown) */
    }
    snprintf(spec, sizeof spec, "%s", ct_model_preset("cnn"));
    spec[6] = '3'; /* conv(32,...) -> conv(33,...) */
    assert_string_equal(ct_spec_text(spec, 0, buf, sizeof buf), spec);
    /* long layers: their first 120 and last 60 characters, quoted as asked */
    snprintf(spec, sizeof spec, "flatten,%0300d,linear(10)", 0);
    ct_spec_text(spec, 1, buf, sizeof buf);
    assert_int_equal(strlen(buf), 1 + 120 + 3 + 60 + 1 + strlen(" (319 characters)"));
    assert_memory_equal(buf, "\"flatten,000", 12);
    assert_string_equal(buf + strlen(buf) - 30, "0,linear(10)\" (319 characters)");
    /* a small buffer: cut, terminated */
    assert_string_equal(ct_spec_text(r50, 0, buf, 5), "resn");
}

/* the weights w[0..n) drawn normal with mean 0 and std want (to 6 / sqrt(n) of it) */
static void assert_normal(const char *what, const float *w, int64_t n, double want) {
    double s1 = 0, s2 = 0;
    for (int64_t j = 0; j < n; j++) s1 += w[j], s2 += (double)w[j] * w[j];
    const double mean = s1 / n, std = sqrt(s2 / n - mean * mean);
    printf("# %s: %lld weights, std %.5f (want %.5f), mean %.5f\n", what, (long long)n, std,
           want, mean);
    assert_true(fabs(std / want - 1.0) < 6.0 / sqrt((double)n) + 0.005);
    assert_true(fabs(mean) < 5.0 * want / sqrt((double)n));
}

/* w[0..n) drawn from U(-r, r): every one within r, their std r / sqrt(3) to 3% */
static void assert_uniform(const char *what, const float *w, int64_t n, double r) {
    double s1 = 0, s2 = 0;
    for (int64_t j = 0; j < n; j++) {
        assert_true(fabs(w[j]) <= r);
        s1 += w[j], s2 += (double)w[j] * w[j];
    }
    const double sd = sqrt(s2 / n - (s1 / n) * (s1 / n));
    printf("# %s: %lld weights uniform, std %.5f (want %.5f)\n", what, (long long)n, sd,
           r / sqrt(3.0));
    assert_true(fabs(sd / (r / sqrt(3.0)) - 1.0) < 0.03);
}

/* spec (c, h, w) with ct_model_init_torchvision(scheme, seed 9): the model, its parameters
 * before and after (*before, *after, n of them); a second model so made draws the same */
static ct_model *init_twice(const char *spec, int c, int h, int w, ct_init_scheme scheme,
                            float **before, float **after) {
    ct_model *m = NULL, *again = NULL;
    OK(ct_model_create(g_cpu, spec, c, h, w, 2, 3, &m));
    OK(ct_model_create(g_cpu, spec, c, h, w, 2, 3, &again));
    const int64_t n = ct_model_param_count(m);
    float *other = hmalloc((size_t)n * 4);
    *before = hmalloc((size_t)n * 4), *after = hmalloc((size_t)n * 4);
    OK(ct_model_get_params(m, *before));
    OK(ct_model_init_torchvision(m, scheme, 9));
    OK(ct_model_init_torchvision(again, scheme, 9));
    OK(ct_model_get_params(m, *after));
    OK(ct_model_get_params(again, other));
    assert_memory_equal(*after, other, (size_t)n * 4);
    free(other);
    ct_model_free(again);
    return m;
}

/* ct_model_init_torchvision: each conv's weights normal with std sqrt(2 / (out_c k k)) (a
 * grouped conv's too: PyTorch's fan_out is out_c k k whatever the groups), as torchvision's
 * ResNets draw them (a squeeze-and-excitation's 1x1 convs alike, biases 0); biases, batch norm
 * and linear layers as they were; with MobileNetV2's scheme linear weights N(0, 0.01) and
 * biases 0 too, with EfficientNet's U(+-1/sqrt(out)) and 0; the same seed the same weights;
 * CT_INIT_DEFAULT nothing; and the presets' schemes */
static void test_init_torchvision(void **state) {
    (void)state;
    const char *spec = "conv(64,3,1,1),batchnorm,relu,residual(conv(128,3,2,1,0),batchnorm,relu,"
                       "conv(128,3,1,1,0,32),batchnorm,se(64)),relu,globalavgpool,linear(100)";
    for (int scheme = CT_INIT_DEFAULT; scheme <= CT_INIT_EFFICIENTNET; scheme++) {
        float *before, *after;
        ct_model *m = init_twice(spec, 16, 8, 8, (ct_init_scheme)scheme, &before, &after);
        const int64_t n = ct_model_param_count(m);
        if (scheme == CT_INIT_DEFAULT) assert_memory_equal(after, before, (size_t)n * 4);
        int convs = 0, linears = 0, ses = 0;
        for (int i = 0; i < m->n_layers && scheme != CT_INIT_DEFAULT; i++) {
            const ct_layer *l = &m->layers[i];
            const float *b = before + l->offset, *a = after + l->offset;
            if (l->ops == &ct_linear_ops && scheme == CT_INIT_MOBILENET) {
                const int64_t nw = l->n_params - l->out_c;
                assert_normal(l->name, a, nw, 0.01);
                for (int o = 0; o < l->out_c; o++) assert_true(a[nw + o] == 0.0f);
                linears++;
                continue;
            }
            if (l->ops == &ct_linear_ops && scheme == CT_INIT_EFFICIENTNET) {
                /* U(-r, r), r = 1 / sqrt(100) */
                const int64_t nw = l->n_params - l->out_c;
                assert_uniform(l->name, a, nw, 1.0 / sqrt((double)l->out_c));
                for (int o = 0; o < l->out_c; o++) assert_true(a[nw + o] == 0.0f);
                linears++;
                continue;
            }
            if (l->ops == &ct_se_ops) { /* fc1 (64, 128), fc2 (128, 64): fan_out 64, 128 */
                const int64_t c = l->in_c, q = l->cfg.se.squeeze;
                assert_normal("se1.fc1", a, q * c, sqrt(2.0 / (double)q));
                assert_normal("se1.fc2", a + q * c + q, q * c, sqrt(2.0 / (double)c));
                for (int64_t o = 0; o < q; o++) assert_true(a[q * c + o] == 0.0f);
                for (int64_t o = 0; o < c; o++) assert_true(a[2 * q * c + q + o] == 0.0f);
                ses++;
                continue;
            }
            if (l->ops != &ct_conv2d_ops) { /* untouched */
                assert_memory_equal(a, b, (size_t)l->n_params * 4);
                continue;
            }
            convs++;
            const int k2 = l->cfg.conv.kernel * l->cfg.conv.kernel; /* (the shortcut's: 1) */
            const int64_t nw = (int64_t)l->out_c * (l->in_c / l->cfg.conv.groups) * k2;
            assert_normal(l->name, a, nw, sqrt(2.0 / ((double)l->out_c * k2)));
            if (l->cfg.conv.bias && scheme == CT_INIT_RESNET) /* conv1's: PyTorch's, kept */
                assert_memory_equal(a + nw, b + nw, (size_t)l->out_c * 4);
            for (int o = 0; l->cfg.conv.bias && scheme != CT_INIT_RESNET && o < l->out_c; o++)
                assert_true(a[nw + o] == 0.0f);
        }
        if (scheme != CT_INIT_DEFAULT) /* (conv4: the projection shortcut's 1x1) */
            assert_int_equal(convs, 4), assert_int_equal(linears, scheme != CT_INIT_RESNET),
                assert_int_equal(ses, 1);
        free(before), free(after);
        ct_model_free(m);
    }
    assert_int_equal(ct_model_preset_init("resnet18"), CT_INIT_RESNET);
    assert_int_equal(ct_model_preset_init("wide_resnet50_2"), CT_INIT_RESNET);
    assert_int_equal(ct_model_preset_init("resnext50_32x4d"), CT_INIT_RESNET);
    assert_int_equal(ct_model_preset_init("mobilenet_v2"), CT_INIT_MOBILENET);
    assert_int_equal(ct_model_preset_init("mobilenet_v3_small"), CT_INIT_MOBILENET);
    assert_int_equal(ct_model_preset_init("mobilenet_v3_large"), CT_INIT_MOBILENET);
    assert_int_equal(ct_model_preset_init("efficientnet_b0"), CT_INIT_EFFICIENTNET);
    assert_int_equal(ct_model_preset_init("vit_b_16"), CT_INIT_VIT);
    assert_int_equal(ct_model_preset_init("vit_h_14"), CT_INIT_VIT);
    assert_int_equal(ct_model_preset_init("resnet20"), CT_INIT_RESNET); /* (He et al.'s too) */
    assert_int_equal(ct_model_preset_init("cnn"), CT_INIT_DEFAULT);
    assert_int_equal(ct_model_preset_init("mlp"), CT_INIT_DEFAULT);
    assert_int_equal(ct_model_preset_init("conv(4,3)"), CT_INIT_DEFAULT);
    assert_int_equal(ct_model_preset_init(NULL), CT_INIT_DEFAULT);
    ct_model *m = NULL;
    OK(ct_model_create(g_cpu, "conv(2,3),flatten,linear(3)", 1, 5, 5, 2, 3, &m));
    assert_int_equal(ct_model_init_torchvision(m, (ct_init_scheme)7, 1), CT_ERR_INVALID);
    ct_model_free(m);
}

/* torchvision's VisionTransformer's scheme: the patch conv N(0, 1 / fan_in) with bias 0, each
 * token's linear layers xavier_uniform_ with biases N(0, 1e-12), the head 0; attention, the
 * layer norms, the class token and the position embeddings as drawn; the same seed the same */
static void test_init_vit(void **state) {
    (void)state;
    const char *spec = "conv(64,4,4,0),tokens,clstoken,posembed,residual(layernorm(1e-6),"
                       "attention(4)),residual(layernorm(1e-6),linear(256),gelu,linear(64)),"
                       "layernorm(1e-6),clspool,linear(10)";
    float *before, *after;
    ct_model *m = init_twice(spec, 3, 32, 32, CT_INIT_VIT, &before, &after);
    int linears = 0;
    for (int i = 0; i < m->n_layers; i++) {
        const ct_layer *l = &m->layers[i];
        const float *a = after + l->offset, *b = before + l->offset;
        if (l->ops == &ct_conv2d_ops) {
            assert_normal(l->name, a, 64 * 48, sqrt(1.0 / 48.0));
            for (int o = 0; o < 64; o++) assert_true(a[64 * 48 + o] == 0.0f);
        } else if (l->ops == &ct_linear_ops && !l->in_seq) { /* the head */
            for (int64_t j = 0; j < l->n_params; j++) assert_true(a[j] == 0.0f);
        } else if (l->ops == &ct_linear_ops) { /* U(-r, r), r = sqrt(6 / (64 + 256)) */
            const int64_t out = l->out_w, nw = out * l->in_w;
            assert_uniform(l->name, a, nw, sqrt(6.0 / 320.0));
            double bmax = 0;
            for (int64_t j = 0; j < out; j++) bmax = fmax(bmax, fabs(a[nw + j]));
            assert_true(bmax > 0 && bmax < 6e-6); /* (N(0, 1e-12): 16384 draws under 6 sigma) */
            linears++;
        } else {
            assert_memory_equal(a, b, (size_t)l->n_params * 4);
        }
    }
    assert_int_equal(linears, 2);
    free(before), free(after);
    ct_model_free(m);
}

static void test_spec_errors(void **state) {
    struct { const char *spec; const char *token; } bad[] = {
        {"conv(32),relu,flatten,linear(10)", "conv(32)"},
        {"conv(32,3,0),flatten,linear(10)", "conv(32,3,0)"},
        {"conv(32,3,1,-1),flatten,linear(10)", "conv(32,3,1,-1)"},
        {"conv(3,3),maxpool(0),flatten,linear(10)", "maxpool(0)"},
        {"conv(3,3,1,1,2),flatten,linear(10)", "conv(3,3,1,1,2)"}, /* bias: 0 or 1 */
        {"conv(4,3,1,1,1,0),flatten,linear(10)", "conv(4,3,1,1,1,0)"}, /* groups >= 1 */
        {"conv(4,3),conv(6,3,1,1,0,4),flatten,linear(10)", "conv(6,3,1,1,0,4)"}, /* 4 ∤ 6 */
        {"conv(4,3,1,1,1,2),flatten,linear(10)", "conv(4,3,1,1,1,2)"}, /* 1 channel in */
        {"conv(3,3),avgpool(4,2,3),flatten,linear(10)", "avgpool(4,2,3)"},
        {"flatten,dropout(1.5),linear(10)", "dropout(1.5)"},
        {"flatten,batchnorm(0,0.1),linear(10)", "batchnorm(0,0.1)"},
        {"conv(3,3),conv2d(4,3),flatten,linear(10)", "conv2d(4,3)"},
        {"conv(3,40),flatten,linear(10)", "conv(3,40)"}, /* kernel larger than the image */
        {"conv(3,3),linear(10)", "linear(10)"},          /* linear needs a flat input */
        {"flatten,linear(0x10)", "0x10"},                /* decimal numbers only */
        {"flatten,dropout(nan),linear(10)", "nan"},
        {"flatten,", ","},                               /* a layer missing after a ',' */
        {"residual(relu", "residual(relu"},              /* not closed */
        {"residual(residual(relu)),flatten,linear(10)", "residual(relu)"}, /* nested */
        {"relu),flatten,linear(10)", "),"},              /* closes nothing */
        {"residual(),flatten,linear(10)", "),"},         /* empty */
        {"residual,flatten,linear(10)", "residual"},     /* no layers */
        {"residual(relu;tanh),flatten,linear(10)", ";"},
        /* a shape no 1x1 strided convolution gives */
        {"residual(conv(3,3)),flatten,linear(10)", "residual(conv(3,3))"},
        {"conv(6,3),groupnorm(4),flatten,linear(10)", "groupnorm(4)"}, /* 4 does not divide 6 */
        {"conv(6,3),groupnorm,flatten,linear(10)", "groupnorm"},       /* groups required */
        {"conv(6,3),groupnorm(2,0),flatten,linear(10)", "groupnorm(2,0)"}, /* eps > 0 */
        {"conv(6,3),groupnorm(1.5),flatten,linear(10)", "groupnorm(1.5)"},
        {"flatten,layernorm(1e-5,2),linear(10)", "layernorm(1e-5,2)"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ct_model *m = NULL;
        assert_int_equal(ct_model_create(g_cpu, bad[i].spec, 1, 28, 28, 4, 1, &m),
                         CT_ERR_INVALID);
        assert_null(m);
        const char *pos = strstr(bad[i].spec, bad[i].token);
        char want[32];
        snprintf(want, sizeof want, "position %d", (int)(pos - bad[i].spec) + 1);
        if (!strstr(ct_last_error(), want))
            fail_msg("spec \"%s\": error \"%s\" does not point at %s", bad[i].spec,
                     ct_last_error(), want);
    }
    /* sizes whose products pass 2^63 (UBSan caught them): refused, not wrapped round */
    struct { const char *spec; int c, h, w; } huge[] = {
        {"flatten,linear(10)", 1 << 21, 1 << 21, 1 << 21},          /* the input itself */
        {"conv(65536,4096,1,2048),flatten,linear(10)", 1 << 24, 1, 1}, /* conv weights */
        {"conv(1,1,1,1),flatten,linear(10)", 1, INT32_MAX, 1},        /* in + 2 * pad */
    };
    for (size_t i = 0; i < sizeof huge / sizeof huge[0]; i++) {
        ct_model *m = NULL;
        if (ct_model_create(g_cpu, huge[i].spec, huge[i].c, huge[i].h, huge[i].w, 1, 1, &m) !=
                CT_ERR_INVALID ||
            !strstr(ct_last_error(), "2^31 - 1"))
            fail_msg("spec \"%s\" on (%d, %d, %d): \"%s\"", huge[i].spec, huge[i].c, huge[i].h,
                     huge[i].w, ct_last_error());
        assert_null(m);
    }
}

/* ------------------------------------------------------------------------------------------ */

int main(void) {
    if (ct_backend_create("cpu", 1, &g_cpu) != CT_OK) {
        fprintf(stderr, "cannot open the CPU backend: %s\n", ct_last_error());
        return 1;
    }
    enum { N_CASES = sizeof k_cases / sizeof k_cases[0] };
    struct CMUnitTest tests[N_CASES + 6];
    for (int i = 0; i < N_CASES; i++)
        tests[i] = (struct CMUnitTest){k_cases[i].spec, test_model_grad, NULL, NULL,
                                       (void *)&k_cases[i]};
    tests[N_CASES] = (struct CMUnitTest)cmocka_unit_test(test_batchnorm_running);
    tests[N_CASES + 1] = (struct CMUnitTest)cmocka_unit_test(test_presets);
    tests[N_CASES + 2] = (struct CMUnitTest)cmocka_unit_test(test_spec_errors);
    tests[N_CASES + 3] = (struct CMUnitTest)cmocka_unit_test(test_init_torchvision);
    tests[N_CASES + 4] = (struct CMUnitTest)cmocka_unit_test(test_spec_text);
    tests[N_CASES + 5] = (struct CMUnitTest)cmocka_unit_test(test_init_vit);
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    ct_backend_free(g_cpu);
    return rc;
}
