/*
 * presets.c — the models ctrain knows by name (--model resnet50): their layer strings, how
 * torchvision draws a new one's weights (ct_model_preset_init), and the names messages give
 * their layers (ct_spec_text).
 *
 * Presets: mlp (the tutorial's), lenet5, cnn (the Keras MNIST convnet), resnet8 and resnet20
 * (He et al.'s CIFAR ResNets), resnet18, resnet34, resnet50, resnet101, resnet152,
 * wide_resnet50_2, wide_resnet101_2, resnext50_32x4d, resnext101_32x8d, resnext101_64x4d,
 * mobilenet_v2, mobilenet_v3_large and _small, efficientnet_b0, vit_b_16, vit_b_32, vit_l_16,
 * vit_l_32 and vit_h_14 (torchvision's).
 */
#include "nn/model.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


/* ResNets for small images, as He et al. (2016) section 4.2 build them for CIFAR-10: a 3x3 conv
 * of 16 channels, three stages of N basic blocks (two 3x3 convs with batch norm; 16, 32, 64
 * channels; the second and third stages' first block halves the plane), global average pooling,
 * linear(10): 6N + 2 layers with weights. The convs have no bias (each is followed by a batch
 * norm), and the shortcuts where the shape changes are torchvision's projections (1x1 conv with
 * stride 2, batch norm; the paper's option B). */
#define RES_BLOCK(c, s)                                                                       \
    "residual(conv(" #c ",3," #s ",1,0),batchnorm,relu,conv(" #c ",3,1,1,0),batchnorm),relu,"
#define RES_STEM "conv(16,3,1,1,0),batchnorm,relu,"
#define RES_HEAD "globalavgpool,linear(10)"
/* torchvision's ResNets (resnet18 ... resnet152, num_classes=10): a 7x7 conv with stride 2 and a
 * 3x3 max pooling with stride 2, four stages of blocks of 64, 128, 256, 512 channels (the last
 * three halving the plane), global average pooling, linear(10); their layers and parameters in
 * torchvision's state_dict order. resnet18 and resnet34 stack basic blocks; resnet50, 101 and
 * 152 bottlenecks (ResNet v1.5, as torchvision: a 1x1 conv to the stage's width, the 3x3 conv
 * with the stride, a 1x1 conv to 4 times the width; the first block of each stage has the
 * projection shortcut) */
#define TV_STEM "conv(64,7,2,3,0),batchnorm,relu,maxpool(3,2,1),"
#define BOTTLENECK(w, o, s)                                                                   \
    "residual(conv(" #w ",1,1,0,0),batchnorm,relu,conv(" #w ",3," #s ",1,0),batchnorm,relu,"   \
    "conv(" #o ",1,1,0,0),batchnorm),relu,"
#define B1(x) x
#define B2(x) x x
#define B3(x) x x x
#define B4(x) x x x x
#define B5(x) x x x x x
#define B7(x) x x x x x x x
#define B22(x) B4(B5(x)) x x  /* 22 */
#define B35(x) B5(B7(x))      /* 35 */
#define BASIC_STAGES(n1, n2, n3, n4)                                                          \
    RES_BLOCK(64, 1) n1(RES_BLOCK(64, 1)) RES_BLOCK(128, 2) n2(RES_BLOCK(128, 1))               \
        RES_BLOCK(256, 2) n3(RES_BLOCK(256, 1)) RES_BLOCK(512, 2) n4(RES_BLOCK(512, 1))
#define BOTTLENECK_STAGES(n1, n2, n3, n4)                                                     \
    BOTTLENECK(64, 256, 1) n1(BOTTLENECK(64, 256, 1)) BOTTLENECK(128, 512, 2)                   \
        n2(BOTTLENECK(128, 512, 1)) BOTTLENECK(256, 1024, 2) n3(BOTTLENECK(256, 1024, 1))       \
            BOTTLENECK(512, 2048, 2) n4(BOTTLENECK(512, 2048, 1))
/* wide_resnet50_2 and wide_resnet101_2: the bottlenecks' inner convs twice as wide */
#define WIDE_STAGES(n1, n2, n3, n4)                                                           \
    BOTTLENECK(128, 256, 1) n1(BOTTLENECK(128, 256, 1)) BOTTLENECK(256, 512, 2)                 \
        n2(BOTTLENECK(256, 512, 1)) BOTTLENECK(512, 1024, 2) n3(BOTTLENECK(512, 1024, 1))       \
            BOTTLENECK(1024, 2048, 2) n4(BOTTLENECK(1024, 2048, 1))

/* ResNeXt (Xie et al. 2017, torchvision's resnext50_32x4d ...): ResNet v1.5's bottlenecks with
 * the 3x3 conv grouped, g groups of width/g channels (32x4d: 32 groups of 4 in the first
 * stage's 128), the stages' widths w1..w4 */
#define XBOTTLENECK(w, o, s, g)                                                               \
    "residual(conv(" #w ",1,1,0,0),batchnorm,relu,conv(" #w ",3," #s ",1,0," #g "),batchnorm,"  \
    "relu,conv(" #o ",1,1,0,0),batchnorm),relu,"
#define XSTAGES(n1, n2, n3, n4, w1, w2, w3, w4, g)                                            \
    XBOTTLENECK(w1, 256, 1, g) n1(XBOTTLENECK(w1, 256, 1, g)) XBOTTLENECK(w2, 512, 2, g)         \
        n2(XBOTTLENECK(w2, 512, 1, g)) XBOTTLENECK(w3, 1024, 2, g)                              \
            n3(XBOTTLENECK(w3, 1024, 1, g)) XBOTTLENECK(w4, 2048, 2, g)                         \
                n4(XBOTTLENECK(w4, 2048, 1, g))
/* MobileNetV2 (Sandler et al. 2018, torchvision's mobilenet_v2(num_classes=10), width 1): a 3x3
 * conv of 32 channels with stride 2, 17 inverted residual blocks (a 1x1 conv expanding the
 * channels t times, unless t is 1; a depthwise 3x3 conv with the block's stride; a 1x1 conv
 * projecting to the block's channels, with no activation after it: each conv with batch norm,
 * the first two with ReLU6), the input added back where a block keeps the shape (stride 1, its
 * channels in and out), a 1x1 conv to 1280 channels, global average pooling, dropout(0.2),
 * linear(10). Blocks (t, channels, repeats, first stride): (1, 16, 1, 1), (6, 24, 2, 2),
 * (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1). */
#define MB_EXPAND(h) "conv(" #h ",1,1,0,0),batchnorm,relu6,"
#define MB_DW(h, s) "conv(" #h ",3," #s ",1,0," #h "),batchnorm,relu6,"
#define MB_PROJECT(o) "conv(" #o ",1,1,0,0),batchnorm"
#define MB_BLOCK(h, o, s) MB_EXPAND(h) MB_DW(h, s) MB_PROJECT(o) ","  /* changes the shape */
#define MB_RES(h, o) "residual(" MB_EXPAND(h) MB_DW(h, 1) MB_PROJECT(o) "),"
#define MB_STAGES                                                                             \
    "conv(32,3,2,1,0),batchnorm,relu6," MB_DW(32, 1) MB_PROJECT(16) ","                       \
    MB_BLOCK(96, 24, 2) MB_RES(144, 24) MB_BLOCK(144, 32, 2) B2(MB_RES(192, 32))              \
    MB_BLOCK(192, 64, 2) B3(MB_RES(384, 64)) MB_BLOCK(384, 96, 1) B2(MB_RES(576, 96))         \
    MB_BLOCK(576, 160, 2) B2(MB_RES(960, 160)) MB_BLOCK(960, 320, 1)                          \
    "conv(1280,1,1,0,0),batchnorm,relu6,globalavgpool,dropout(0.2),linear(10)"

/* MobileNetV3 (Howard et al. 2019, torchvision's mobilenet_v3_large and mobilenet_v3_small
 * (num_classes=10), width 1): batch norms of eps 0.001 and momentum 0.01; a 3x3 conv of 16
 * channels with stride 2 and Hardswish; inverted residual blocks (a 1x1 conv expanding to e
 * channels unless e is the block's input; a depthwise conv of kernel k (padding p) with the
 * block's stride; in some, squeeze-and-excitation through q channels, ReLU then Hardsigmoid; a
 * 1x1 conv projecting to o channels without activation; the others with a: ReLU or Hardswish),
 * the input added back where a block keeps the shape; a 1x1 conv to 6 times the last block's
 * channels with Hardswish, global average pooling, linear(1280 or 1024), Hardswish,
 * dropout(0.2), linear(10). */
#define V3_BN "batchnorm(0.001,0.01),"
#define V3_EXPAND(e, a) "conv(" #e ",1,1,0,0)," V3_BN #a ","
#define V3_DW(e, k, p, s, a) "conv(" #e "," #k "," #s "," #p ",0," #e ")," V3_BN #a ","
#define V3_SE(q) "se(" #q ",relu,hardsigmoid),"
#define V3_PROJECT(o) "conv(" #o ",1,1,0,0),batchnorm(0.001,0.01)"
/* a block that changes the shape; one that keeps it (its input added back) */
#define V3_BLOCK(e, k, p, s, a, se, o) V3_EXPAND(e, a) V3_DW(e, k, p, s, a) se V3_PROJECT(o) ","
#define V3_RES(e, k, p, a, se, o) "residual(" V3_EXPAND(e, a) V3_DW(e, k, p, 1, a) se V3_PROJECT(o) "),"
#define V3_STEM "conv(16,3,2,1,0)," V3_BN "hardswish,"
#define V3_HEAD(c, h)                                                                         \
    "conv(" #c ",1,1,0,0)," V3_BN "hardswish,globalavgpool,linear(" #h "),hardswish,"          \
    "dropout(0.2),linear(10)"
/* blocks (k, e, o, q, a, stride): (3, 16, 16, -, relu, 1), (3, 64, 24, -, relu, 2),
 * (3, 72, 24, -, relu, 1), (5, 72, 40, 24, relu, 2), 2 x (5, 120, 40, 32, relu, 1),
 * (3, 240, 80, -, hs, 2), (3, 200, 80, -, hs, 1), 2 x (3, 184, 80, -, hs, 1),
 * (3, 480, 112, 120, hs, 1), (3, 672, 112, 168, hs, 1), (5, 672, 160, 168, hs, 2),
 * 2 x (5, 960, 160, 240, hs, 1) */
#define V3_LARGE                                                                              \
    V3_STEM "residual(" V3_DW(16, 3, 1, 1, relu) V3_PROJECT(16) "),"                           \
    V3_BLOCK(64, 3, 1, 2, relu, , 24) V3_RES(72, 3, 1, relu, , 24)                             \
    V3_BLOCK(72, 5, 2, 2, relu, V3_SE(24), 40) B2(V3_RES(120, 5, 2, relu, V3_SE(32), 40))      \
    V3_BLOCK(240, 3, 1, 2, hardswish, , 80) V3_RES(200, 3, 1, hardswish, , 80)                 \
    B2(V3_RES(184, 3, 1, hardswish, , 80))                                                    \
    V3_BLOCK(480, 3, 1, 1, hardswish, V3_SE(120), 112)                                        \
    V3_RES(672, 3, 1, hardswish, V3_SE(168), 112)                                             \
    V3_BLOCK(672, 5, 2, 2, hardswish, V3_SE(168), 160)                                        \
    B2(V3_RES(960, 5, 2, hardswish, V3_SE(240), 160)) V3_HEAD(960, 1280)
/* blocks: (3, 16, 16, 8, relu, 2), (3, 72, 24, -, relu, 2), (3, 88, 24, -, relu, 1),
 * (5, 96, 40, 24, hs, 2), 2 x (5, 240, 40, 64, hs, 1), (5, 120, 48, 32, hs, 1),
 * (5, 144, 48, 40, hs, 1), (5, 288, 96, 72, hs, 2), 2 x (5, 576, 96, 144, hs, 1) */
#define V3_SMALL                                                                              \
    V3_STEM V3_DW(16, 3, 1, 2, relu) V3_SE(8) V3_PROJECT(16) ","                               \
    V3_BLOCK(72, 3, 1, 2, relu, , 24) V3_RES(88, 3, 1, relu, , 24)                             \
    V3_BLOCK(96, 5, 2, 2, hardswish, V3_SE(24), 40)                                           \
    B2(V3_RES(240, 5, 2, hardswish, V3_SE(64), 40))                                           \
    V3_BLOCK(120, 5, 2, 1, hardswish, V3_SE(32), 48)                                          \
    V3_RES(144, 5, 2, hardswish, V3_SE(40), 48)                                               \
    V3_BLOCK(288, 5, 2, 2, hardswish, V3_SE(72), 96)                                          \
    B2(V3_RES(576, 5, 2, hardswish, V3_SE(144), 96)) V3_HEAD(576, 1024)

/* EfficientNet-B0 (Tan & Le 2019, torchvision's efficientnet_b0(num_classes=10)): a 3x3 conv of
 * 32 channels with stride 2, batch norm, SiLU; 16 MBConv blocks in 7 stages (a 1x1 conv
 * expanding the channels 6 times, but in the first; a depthwise conv of kernel k (padding p)
 * with the block's stride; squeeze-and-excitation through a quarter (q) of the block's input
 * channels, SiLU and sigmoid; a 1x1 conv projecting to o channels without activation: each conv
 * with batch norm, the others with SiLU), the input added back where the shape stays, after
 * stochastic depth of 0.2 x the block's index / 16 (d); a 1x1 conv to 1280 channels, SiLU,
 * global average pooling, dropout(0.2), linear(10). Stages (expansion, k, stride, channels,
 * blocks): (1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3),
 * (6, 5, 1, 112, 3), (6, 5, 2, 192, 4), (6, 3, 1, 320, 1). */
#define EF_EXPAND(e) "conv(" #e ",1,1,0,0),batchnorm,silu,"
#define EF_DW(e, k, p, s) "conv(" #e "," #k "," #s "," #p ",0," #e "),batchnorm,silu,"
#define EF_SE(q) "se(" #q ",silu),"
#define EF_PROJECT(o) "conv(" #o ",1,1,0,0),batchnorm"
#define EF_BLOCK(e, k, p, s, q, o) EF_EXPAND(e) EF_DW(e, k, p, s) EF_SE(q) EF_PROJECT(o) ","
#define EF_RES(e, k, p, q, o, d)                                                              \
    "residual(" EF_EXPAND(e) EF_DW(e, k, p, 1) EF_SE(q) EF_PROJECT(o) ",droppath(" #d ")),"
#define EF_B0                                                                                 \
    "conv(32,3,2,1,0),batchnorm,silu," EF_DW(32, 3, 1, 1) EF_SE(8) EF_PROJECT(16) ","          \
    EF_BLOCK(96, 3, 1, 2, 4, 24) EF_RES(144, 3, 1, 6, 24, 0.025)                               \
    EF_BLOCK(144, 5, 2, 2, 6, 40) EF_RES(240, 5, 2, 10, 40, 0.05)                              \
    EF_BLOCK(240, 3, 1, 2, 10, 80) EF_RES(480, 3, 1, 20, 80, 0.075)                            \
    EF_RES(480, 3, 1, 20, 80, 0.0875) EF_BLOCK(480, 5, 2, 1, 20, 112)                          \
    EF_RES(672, 5, 2, 28, 112, 0.1125) EF_RES(672, 5, 2, 28, 112, 0.125)                       \
    EF_BLOCK(672, 5, 2, 2, 28, 192) EF_RES(1152, 5, 2, 48, 192, 0.15)                          \
    EF_RES(1152, 5, 2, 48, 192, 0.1625) EF_RES(1152, 5, 2, 48, 192, 0.175)                     \
    EF_BLOCK(1152, 3, 1, 1, 48, 320)                                                          \
    "conv(1280,1,1,0,0),batchnorm,silu,globalavgpool,dropout(0.2),linear(10)"

/* Vision transformers (Dosovitskiy et al. 2021, torchvision's vit_b_16 ... vit_h_14
 * (num_classes=10), dropout 0): a conv of kernel and stride P to D channels (the patches'
 * embeddings), the patches as tokens, a class token before them, position embeddings added;
 * L encoder blocks (each token's layer norm of eps 1e-6, attention of H heads, added back; a
 * layer norm, an MLP of M GELU units, added back); a layer norm, the class token's features,
 * linear(10). (P, L, H, D, M): b_16 (16, 12, 12, 768, 3072), b_32 (32, ...), l_16 (16, 24, 16,
 * 1024, 4096), l_32, h_14 (14, 32, 16, 1280, 5120). The tokens follow the image's size, as
 * torchvision's image_size: 224 gives 196 patches of 16. */
#define VIT_BLOCK(h, d, m)                                                                    \
    "residual(layernorm(1e-6),attention(" #h ")),residual(layernorm(1e-6),linear(" #m "),gelu," \
    "linear(" #d ")),"
#define VIT(p, d, blocks)                                                                     \
    "conv(" #d "," #p "," #p ",0),tokens,clstoken,posembed," blocks                          \
    "layernorm(1e-6),clspool,linear(10)"
#define B8(x) B4(x) B4(x)
#define B12(x) B8(x) B4(x)
#define B24(x) B12(x) B12(x)
#define B32(x) B24(x) B8(x)

static const struct { const char *name, *spec; ct_init_scheme init; } k_presets[] = {
    {"mlp", "flatten,linear(32),relu,linear(10)", CT_INIT_DEFAULT}, /* the tutorial's Mnistmodel */
    /* LeNet-5 as PyTorch tutorials write it for 28x28 inputs (ReLU, max pooling) */
    {"lenet5", "conv(6,5,1,2),relu,maxpool(2),conv(16,5),relu,maxpool(2),flatten,linear(120),"
               "relu,linear(84),relu,linear(10)", CT_INIT_DEFAULT},
    /* the classic Keras MNIST convnet (examples/mnist_cnn.py) */
    {"cnn", "conv(32,3),relu,conv(64,3),relu,maxpool(2),dropout(0.25),flatten,linear(128),relu,"
            "dropout(0.5),linear(10)", CT_INIT_DEFAULT},
    {"resnet8", RES_STEM RES_BLOCK(16, 1) RES_BLOCK(32, 2) RES_BLOCK(64, 2) RES_HEAD,
     CT_INIT_RESNET}, /* (He et al. draw theirs as torchvision does: their init [13]) */
    {"resnet20", RES_STEM RES_BLOCK(16, 1) RES_BLOCK(16, 1) RES_BLOCK(16, 1) RES_BLOCK(32, 2)
                     RES_BLOCK(32, 1) RES_BLOCK(32, 1) RES_BLOCK(64, 2) RES_BLOCK(64, 1)
                         RES_BLOCK(64, 1) RES_HEAD, CT_INIT_RESNET},
    /* torchvision's: blocks a stage [2, 2, 2, 2], [3, 4, 6, 3], [3, 4, 6, 3], [3, 4, 23, 3],
     * [3, 8, 36, 3] (each stage's first block written apart: it may stride) */
    {"resnet18", TV_STEM BASIC_STAGES(B1, B1, B1, B1) RES_HEAD, CT_INIT_RESNET},
    {"resnet34", TV_STEM BASIC_STAGES(B2, B3, B5, B2) RES_HEAD, CT_INIT_RESNET},
    {"resnet50", TV_STEM BOTTLENECK_STAGES(B2, B3, B5, B2) RES_HEAD, CT_INIT_RESNET},
    {"resnet101", TV_STEM BOTTLENECK_STAGES(B2, B3, B22, B2) RES_HEAD, CT_INIT_RESNET},
    {"resnet152", TV_STEM BOTTLENECK_STAGES(B2, B7, B35, B2) RES_HEAD, CT_INIT_RESNET},
    {"wide_resnet50_2", TV_STEM WIDE_STAGES(B2, B3, B5, B2) RES_HEAD, CT_INIT_RESNET},
    {"wide_resnet101_2", TV_STEM WIDE_STAGES(B2, B3, B22, B2) RES_HEAD, CT_INIT_RESNET},
    {"resnext50_32x4d", TV_STEM XSTAGES(B2, B3, B5, B2, 128, 256, 512, 1024, 32) RES_HEAD,
     CT_INIT_RESNET},
    {"resnext101_32x8d", TV_STEM XSTAGES(B2, B3, B22, B2, 256, 512, 1024, 2048, 32) RES_HEAD,
     CT_INIT_RESNET},
    {"resnext101_64x4d", TV_STEM XSTAGES(B2, B3, B22, B2, 256, 512, 1024, 2048, 64) RES_HEAD,
     CT_INIT_RESNET},
    {"mobilenet_v2", MB_STAGES, CT_INIT_MOBILENET},
    {"mobilenet_v3_large", V3_LARGE, CT_INIT_MOBILENET},
    {"mobilenet_v3_small", V3_SMALL, CT_INIT_MOBILENET},
    {"efficientnet_b0", EF_B0, CT_INIT_EFFICIENTNET},
    {"vit_b_16", VIT(16, 768, B12(VIT_BLOCK(12, 768, 3072))), CT_INIT_VIT},
    {"vit_b_32", VIT(32, 768, B12(VIT_BLOCK(12, 768, 3072))), CT_INIT_VIT},
    {"vit_l_16", VIT(16, 1024, B24(VIT_BLOCK(16, 1024, 4096))), CT_INIT_VIT},
    {"vit_l_32", VIT(32, 1024, B24(VIT_BLOCK(16, 1024, 4096))), CT_INIT_VIT},
    {"vit_h_14", VIT(14, 1280, B32(VIT_BLOCK(16, 1280, 5120))), CT_INIT_VIT},
};

ct_init_scheme ct_model_preset_init(const char *name) {
    for (size_t i = 0; name && i < sizeof k_presets / sizeof k_presets[0]; i++)
        if (!strcmp(name, k_presets[i].name)) return k_presets[i].init;
    return CT_INIT_DEFAULT;
}

const char *ct_model_preset(const char *name) {
    for (size_t i = 0; i < sizeof k_presets / sizeof k_presets[0]; i++)
        if (!strcmp(name, k_presets[i].name)) return k_presets[i].spec;
    return NULL;
}

/* The preset whose layers body is, but for its last linear(10)'s units (*classes: body's, or 0
 * when 10), or -1 (mlp's layers are never named: its hidden width would be lost). */
static int preset_of(const char *body, int *classes) {
    static const char tail[] = "linear(10)";
    const size_t tl = sizeof tail - 1;
    for (int i = 1; i < (int)(sizeof k_presets / sizeof k_presets[0]); i++) {
        const char *p = k_presets[i].spec;
        size_t len = strlen(p);
        if (len < tl || strcmp(p + len - tl, tail) != 0 || strncmp(body, p, len - tl + 7) != 0)
            continue; /* (up to "linear(") */
        const char *d = body + len - tl + 7;
        char *end;
        errno = 0;
        long k = strtol(d, &end, 10);
        if (!isdigit((unsigned char)*d) || errno || k < 1 || k > 1 << 24 || strcmp(end, ")") != 0)
            continue;
        *classes = k == 10 ? 0 : (int)k;
        return i;
    }
    return -1;
}

const char *ct_spec_text(const char *spec, int quoted, char *buf, size_t bytes) {
    if (!buf || !bytes) return "";
    if (!spec) spec = "";
    const char *body = spec, *close = strchr(spec, ')');
    if (strncmp(spec, "normalize(", 10) == 0 && close && close[1] == ',') body = close + 2;
    int classes, p = preset_of(body, &classes);
    if (p >= 0) {
        char k[40] = "", norm[200] = "";
        if (classes) snprintf(k, sizeof k, " for %d classes", classes);
        if (body != spec) snprintf(norm, sizeof norm, ", after %.*s", (int)(close - spec + 1), spec);
        snprintf(buf, bytes, "%s%s%s", k_presets[p].name, k, norm);
        return buf;
    }
    const char *q = quoted ? "\"" : "";
    size_t n = strlen(spec);
    if (n <= 240) snprintf(buf, bytes, "%s%s%s", q, spec, q);
    else snprintf(buf, bytes, "%s%.120s...%s%s (%zu characters)", q, spec, spec + n - 60, q, n);
    return buf;
}

