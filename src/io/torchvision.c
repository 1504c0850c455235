/*
 * torchvision.c — torchvision's state_dicts, both ways: a model of one of ctrain's torchvision
 * presets saved under torchvision's names (ct_save_torchvision: the file
 * torchvision.models.resnet50(num_classes=K).load_state_dict takes, strict), and torchvision's
 * own files read by their names (ct_tv_aliases, for ct_checkpoint_load_params) with the preset
 * found from their tensors (ct_tv_spec), as its pretrained weights are saved.
 *
 * The names: ResNets, wide ResNets and ResNeXts conv1, bn1, layerS.B.convK, layerS.B.bnK,
 * layerS.B.downsample.0/1, fc; MobileNetV2 features.0.0/1 (the stem's conv and batch norm),
 * features.I.conv.J.0/1 (a block's convs with ReLU6), features.I.conv.J (its projecting conv,
 * then batch norm), features.18.0/1, classifier.1; MobileNetV3 features.I.block.J.0/1 (a block's
 * convs, the projection's too), features.I.block.J (its squeeze-and-excitation: fc1, fc2),
 * classifier.0 and classifier.3; EfficientNet features.S.B.block.J.0/1 and features.S.B.block.J
 * (stage S, its block B), features.8.0/1, classifier.1; VisionTransformer conv_proj,
 * class_token, encoder.pos_embedding, encoder.layers.encoder_layer_K.ln_1, .self_attention,
 * .ln_2, .mlp.0 and .mlp.3, encoder.ln, heads.head (named by their layers' kinds). The
 * presets hold their layers in
 * torchvision's state_dict order, so that the file's modules sorted in that order pair with the
 * model's layers with tensors one by one.
 */
#include "io/checkpoint.h"
#include "nn/model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------------------------ */
/* writing                                                                                     */

/* torchvision's ResNet name for each of m's layers with parameters (the aliases the other way
 * round): names[i] for layer i (the others ""); an error when the layers are not a ResNet's. */
static ct_status resnet_names(const ct_model *m, char (*names)[CT_LIST_NAME_BYTES]) {
    int stage = 0, block = -1, cur = 0, convs = 0, bns = 0, stem = 0, fc = 0;
    for (int i = 0; i < m->n_layers; i++) {
        const ct_layer *l = &m->layers[i];
        names[i][0] = 0;
        if (!l->n_params && !l->n_buffers) continue;
        const int conv = l->ops == &ct_conv2d_ops, bn = l->ops == &ct_batchnorm_ops;
        const int lin = l->ops == &ct_linear_ops;
        if (l->block && l->block != cur) { /* a block: a stage begins at its projection */
            int projection = 0;
            for (int j = i; j < m->n_layers && m->layers[j].block == l->block; j++)
                projection |= m->layers[j].shortcut;
            if (stage == 0 || (projection && block >= 0)) stage++, block = 0;
            else block++;
            cur = l->block, convs = bns = 0;
        }
        const char *bad = NULL;
        if (fc) bad = "a layer with weights after the linear one";
        else if (conv && l->cfg.conv.bias) bad = "a conv with a bias, which torchvision's have not";
        else if (!l->block && stage == 0 && conv && stem == 0)
            snprintf(names[i], CT_LIST_NAME_BYTES, "conv1"), stem = 1;
        else if (!l->block && stage == 0 && bn && stem == 1)
            snprintf(names[i], CT_LIST_NAME_BYTES, "bn1"), stem = 2;
        else if (!l->block && lin && stage > 0)
            snprintf(names[i], CT_LIST_NAME_BYTES, "fc"), fc = 1;
        else if (l->block && stem == 2 && stage <= 4 && l->shortcut && (conv || bn))
            snprintf(names[i], CT_LIST_NAME_BYTES, "layer%d.%d.downsample.%d", stage, block, bn);
        else if (l->block && stem == 2 && stage <= 4 && conv && convs < 9)
            snprintf(names[i], CT_LIST_NAME_BYTES, "layer%d.%d.conv%d", stage, block, ++convs);
        else if (l->block && stem == 2 && stage <= 4 && bn && bns < 9)
            snprintf(names[i], CT_LIST_NAME_BYTES, "layer%d.%d.bn%d", stage, block, ++bns);
        else bad = "a layer where torchvision's ResNets have none";
        if (bad)
            return ct_fail(CT_ERR_INVALID, "the model %s is not a torchvision ResNet's layers "
                           "(%s: %s)", SPEC_TEXT(m), l->name, bad);
    }
    if (!fc) return ct_fail(CT_ERR_INVALID, "the model %s is not a torchvision ResNet's layers "
                            "(no linear layer at its end)", SPEC_TEXT(m));
    return CT_OK;
}


/* torchvision's MobileNetV2, MobileNetV3 and EfficientNet names (mobilenet_v2(num_classes=K),
 * mobilenet_v3_large, efficientnet_b0, ...; arch 2, 3 or 4): the layers with parameters in pairs
 * conv and batch norm, most with an activation after them (V2: ReLU6): the stem's, then blocks
 * of such pairs closed by one without activation (the projection; a squeeze-and-excitation may
 * come before it), then the last 1x1 conv's, then the linear layer (V3: two). V2's block parts
 * are features.I.conv.J.0/1 and its projection features.I.conv.J, its batch norm conv.J+1, the
 * classifier.1; V3's features.I.block.J.0/1 (the projection too) and features.I.block.J (the
 * SE: fc1, fc2), the classifier.0 and classifier.3; EfficientNet's as V3's but a stage and a
 * block, features.S.B.block.J (a stage begins at each block without a residual add), and the
 * classifier.1. An error when the layers are not so. */
static ct_status mobilenet_names(const ct_model *m, int arch, char (*names)[CT_LIST_NAME_BYTES]) {
    const char *what = arch == 2 ? "MobileNetV2" : arch == 3 ? "MobileNetV3" : "EfficientNet";
    const int heads = arch == 3 ? 2 : 1; /* linear layers */
    char none[48];
    snprintf(none, sizeof none, "a layer where %s has none", what);
    int feature = 0, in_block = 0, part = 0, fc = 0;
    int stage = 0, block = 0; /* EfficientNet's: features.STAGE.BLOCK */
    char at[32] = "";         /* the block's name: "features.3", "features.3.1" */
    for (int i = 0; i < m->n_layers; i++) names[i][0] = 0;
    for (int i = 0; i < m->n_layers; i++) {
        const ct_layer *l = &m->layers[i];
        if (!l->n_params && !l->n_buffers) continue;
        const char *bad = NULL;
        int next = i + 1; /* the batch norm after a conv, and what follows it */
        if (fc == heads) bad = "a layer with weights after the last linear one";
        else if (l->shortcut) /* (a residual block's 1x1 conv and batch norm) */
            bad = "a projection shortcut, which torchvision's have not";
        else if (l->ops == &ct_linear_ops) {
            if (in_block || feature < 2) {
                bad = "a linear layer before the blocks and the last 1x1 conv";
            } else {
                snprintf(names[i], CT_LIST_NAME_BYTES, "classifier.%d", arch == 3 ? 3 * fc : 1);
                fc++;
                continue;
            }
        } else if (fc) bad = "a layer with weights between the linear ones";
        else if (l->ops == &ct_se_ops && arch > 2 && in_block) {
            snprintf(names[i], CT_LIST_NAME_BYTES, "%s.block.%d", at, part++);
            continue;
        } else if (l->ops != &ct_conv2d_ops) bad = none;
        else if (l->cfg.conv.bias) bad = "a conv with a bias, which torchvision's have not";
        else if (next >= m->n_layers || m->layers[next].ops != &ct_batchnorm_ops)
            bad = "a conv without a batch norm after it";
        if (bad)
            return ct_fail(CT_ERR_INVALID, "the model %s is not a torchvision %s's layers (%s: %s)",
                           SPEC_TEXT(m), what, l->name, bad);
        const ct_layer *after = next + 1 < m->n_layers ? &m->layers[next + 1] : NULL;
        const int act = after && after->ops == &ct_act_ops &&
                        (arch > 2 || after->cfg.act.kind == CT_ACT_RELU6);
        int last = act; /* the last 1x1 conv: its activation, then no conv before the linear */
        for (int j = next + 1; j < m->n_layers && last; j++) {
            if (m->layers[j].ops == &ct_conv2d_ops) last = 0;
            if (m->layers[j].ops == &ct_linear_ops) break;
        }
        if (feature == 0 || (last && !in_block)) { /* the stem, or the last conv */
            if (arch == 4 && feature) feature = stage + 1;
            snprintf(names[i], CT_LIST_NAME_BYTES, "features.%d.0", feature);
            snprintf(names[next], CT_LIST_NAME_BYTES, "features.%d.1", feature);
            feature++;
            i = next; /* (the batch norm is named) */
            continue;
        }
        if (!in_block && !act && arch == 2)
            return ct_fail(CT_ERR_INVALID, "the model %s is not a torchvision MobileNetV2's "
                           "layers (%s: a conv without ReLU6 that ends no block)", SPEC_TEXT(m),
                           l->name);
        if (!in_block) { /* a block begins: its place */
            in_block = 1, part = 0;
            if (arch < 4) snprintf(at, sizeof at, "features.%d", feature);
            else { /* (a block without an add begins a stage) */
                if (!l->block || stage == 0) stage++, block = 0;
                else block++;
                snprintf(at, sizeof at, "features.%d.%d", stage, block);
            }
        }
        if (act || arch > 2) { /* a block's conv (V2: with ReLU6): its part P, P.0 and P.1 */
            const char *sub = arch > 2 ? "block" : "conv";
            snprintf(names[i], CT_LIST_NAME_BYTES, "%s.%s.%d.0", at, sub, part);
            snprintf(names[next], CT_LIST_NAME_BYTES, "%s.%s.%d.1", at, sub, part++);
            if (!act) in_block = 0, feature += arch < 4; /* (the projection) */
        } else { /* V2's projection: conv.P, then its batch norm conv.P+1 */
            snprintf(names[i], CT_LIST_NAME_BYTES, "%s.conv.%d", at, part);
            snprintf(names[next], CT_LIST_NAME_BYTES, "%s.conv.%d", at, part + 1);
            in_block = 0, feature++;
        }
        i = next; /* (the batch norm is named) */
    }
    if (fc != heads) /* (a block left open ends in a linear layer, refused above) */
        return ct_fail(CT_ERR_INVALID, "the model %s is not a torchvision %s's layers (%s)",
                       SPEC_TEXT(m), what, heads == 2 ? "not two linear layers at its end"
                                                      : "no linear layer at its end");
    return CT_OK;
}

/* torchvision's VisionTransformer names (vit_b_16(num_classes=K, image_size=S), ...): conv_proj
 * (the patches' conv, with a bias, its stride its kernel), class_token, encoder.pos_embedding,
 * encoder.layers.encoder_layer_K.ln_1, .self_attention, .ln_2, .mlp.0, .mlp.3 (the blocks:
 * residual(layernorm,attention), residual(layernorm,linear,gelu,linear), dropout anywhere in
 * them), encoder.ln, heads.head; class_token's name "" (a tensor of the module itself). NULL,
 * or what is not so (a normalize layer may come first: it has no tensors). */
static const char *vit_names(const ct_model *m, char (*names)[CT_LIST_NAME_BYTES]) {
    /* the layers but dropout and a first normalize, in order */
    int idx[CT_MAX_LAYERS], n = 0;
    for (int i = 0; i < m->n_layers; i++) {
        names[i][0] = 0;
        const ct_layer *l = &m->layers[i];
        if (l->ops != &ct_dropout_ops && !(n == 0 && l->ops == &ct_normalize_ops) &&
            n < CT_MAX_LAYERS)
            idx[n++] = i;
    }
#define AT(k) (&m->layers[idx[k]])
#define IS(k, kind) ((k) < n && AT(k)->ops == &(kind))
    const char *bad = NULL;
    int k = 0, enc = 0;
    if (!IS(0, ct_conv2d_ops) || AT(0)->block) bad = "not a conv first (conv_proj)";
    else if (!AT(0)->cfg.conv.bias) bad = "a patches' conv without a bias, which torchvision's has";
    else if (AT(0)->cfg.conv.stride != AT(0)->cfg.conv.kernel || AT(0)->cfg.conv.pad ||
             AT(0)->cfg.conv.groups != 1)
        bad = "a first conv that is not one of the patches (its stride its kernel, no padding)";
    else if (!IS(1, ct_tokens_ops) || !IS(2, ct_clstoken_ops) || !IS(3, ct_posembed_ops))
        bad = "not tokens,clstoken,posembed after the conv";
    if (!bad) {
        snprintf(names[idx[0]], CT_LIST_NAME_BYTES, "conv_proj");
        snprintf(names[idx[3]], CT_LIST_NAME_BYTES, "encoder");
        k = 4;
    }
    /* the blocks: LN, attention, add; LN, linear, GELU, linear, add */
    while (!bad && IS(k, ct_layernorm_ops) && AT(k)->block) {
        const int b1 = AT(k)->block, b2 = k + 3 < n ? AT(k + 3)->block : -1;
        const int ok =
            IS(k + 1, ct_attention_ops) && AT(k + 1)->block == b1 &&
            IS(k + 2, ct_residual_ops) && AT(k + 2)->block == b1 &&
            IS(k + 3, ct_layernorm_ops) && b2 && b2 != b1 &&
            IS(k + 4, ct_linear_ops) && AT(k + 4)->block == b2 &&
            IS(k + 5, ct_act_ops) && AT(k + 5)->cfg.act.kind == CT_ACT_GELU &&
            AT(k + 5)->block == b2 && IS(k + 6, ct_linear_ops) && AT(k + 6)->block == b2 &&
            IS(k + 7, ct_residual_ops) && AT(k + 7)->block == b2;
        if (!ok) {
            bad = "a block not torchvision's EncoderBlock: residual(layernorm,attention), "
                  "residual(layernorm,linear,gelu,linear)";
            break;
        }
        static const char *const part[8] = {"ln_1", "self_attention", NULL, "ln_2", "mlp.0",
                                            NULL, "mlp.3", NULL};
        for (int j = 0; j < 8; j++)
            if (part[j])
                snprintf(names[idx[k + j]], CT_LIST_NAME_BYTES,
                         "encoder.layers.encoder_layer_%d.%s", enc, part[j]);
        k += 8, enc++;
    }
    if (!bad && (!IS(k, ct_layernorm_ops) || AT(k)->block))
        bad = "not a layer norm after the blocks (encoder.ln)";
    else if (!bad && (!IS(k + 1, ct_clspool_ops) || !IS(k + 2, ct_linear_ops) || k + 3 != n))
        bad = "not clspool,linear at its end (heads.head)";
    if (!bad) {
        snprintf(names[idx[k]], CT_LIST_NAME_BYTES, "encoder.ln");
        snprintf(names[idx[k + 2]], CT_LIST_NAME_BYTES, "heads.head");
    }
#undef IS
#undef AT
    return bad;
}

/* What of a model of vit_names' layers torchvision's VisionTransformer class cannot be (its
 * constructor takes one num_heads and mlp_dim, its norm_layer is LayerNorm(eps=1e-6), its
 * images square, a multiple of the patch), or NULL. (A file's weights load into such a model
 * all the same: no tensor holds the heads or eps.) */
static const char *vit_not_torchvisions(const ct_model *m) {
    int heads = 0, mlp = 0, c, h, w, patch = 0;
    for (int i = 0; i < m->n_layers; i++) {
        const ct_layer *l = &m->layers[i];
        if (l->ops == &ct_conv2d_ops && !patch) patch = l->cfg.conv.kernel;
        if (l->ops == &ct_attention_ops && heads && l->cfg.attn.heads != heads)
            return "blocks of other heads than the first's: torchvision's have one num_heads";
        if (l->ops == &ct_attention_ops) heads = l->cfg.attn.heads;
        /* (the MLPs' first linear layers: those before a GELU) */
        if (l->ops == &ct_linear_ops && l->block && i + 1 < m->n_layers &&
            m->layers[i + 1].ops == &ct_act_ops) {
            if (mlp && l->cfg.linear.units != mlp)
                return "MLPs of other widths than the first's: torchvision's have one mlp_dim";
            mlp = l->cfg.linear.units;
        }
        if (l->ops == &ct_layernorm_ops && l->cfg.gn.eps != 1e-6f)
            return "a layer norm of another eps than 1e-6, torchvision's: layernorm(1e-6)";
    }
    ct_model_input_shape(m, &c, &h, &w);
    static _Thread_local char why[120];
    snprintf(why, sizeof why, "%dx%d images in patches of %d: torchvision's take square ones, "
             "a multiple of the patch", h, w, patch);
    return h != w || patch < 1 || h % patch ? why : NULL;
}

/* A model with ReLU6 is taken for a MobileNetV2 (2), one with squeeze-and-excitation for a
 * MobileNetV3 (3: its gate hardsigmoid) or an EfficientNet (4), one of token sequences for a
 * VisionTransformer (5), any other for a ResNet (0). */
static int family(const ct_model *m) {
    int se = 0;
    for (int i = 0; i < m->n_layers; i++) {
        const ct_layer *l = &m->layers[i];
        if (l->in_seq || l->out_seq) return 5;
        if (l->ops == &ct_act_ops && l->cfg.act.kind == CT_ACT_RELU6) return 2;
        if (l->ops == &ct_se_ops && !se) se = l->cfg.se.gate == CT_ACT_HARDSIGMOID ? 3 : 4;
    }
    return se;
}

ct_status ct_save_torchvision(const ct_model *m, const char *path) {
    const size_t layers = m->n_layers > 0 ? (size_t)m->n_layers : 1;
    char (*names)[CT_LIST_NAME_BYTES] = calloc(layers, sizeof *names);
    if (!names) return ct_fail(CT_ERR_NOMEM, "out of memory");
    const int fam = family(m);
    ct_status s = CT_OK;
    const char *not_vit = fam == 5 ? vit_names(m, names) : NULL;
    if (fam == 5 && !not_vit) not_vit = vit_not_torchvisions(m);
    if (not_vit)
        s = ct_fail(CT_ERR_INVALID, "the model %s is not a torchvision VisionTransformer's "
                    "layers (%s)", SPEC_TEXT(m), not_vit);
    else if (fam != 5)
        s = fam ? mobilenet_names(m, fam, names) : resnet_names(m, names);
    ct_host_state hs;
    int have_hs = 0;
    ct_tensor_list l = {0};
    if (s == CT_OK && (s = ct_host_state_get(m, &hs)) == CT_OK) have_hs = 1;
    if (s == CT_OK) s = ct_tensor_list_model(m, &hs, "", 0, &l);
    if (s == CT_OK) s = ct_tensor_list_finite(&l, path, "not saved");
    for (int i = 0; i < l.n && s == CT_OK; i++) { /* "conv3.weight" -> "layer1.0.conv1.weight" */
        char *name = l.names + (size_t)i * CT_LIST_NAME_BYTES;
        const char *dot = strchr(name, '.'), *mod = names[l.info[i].layer];
        char renamed[CT_LIST_NAME_BYTES]; /* (a ViT's "clstoken1.class_token": "class_token") */
        snprintf(renamed, sizeof renamed, "%s%s%s", mod, *mod ? "." : "", dot ? dot + 1 : "");
        memcpy(name, renamed, sizeof renamed);
    }
    if (s == CT_OK) {
        const ct_meta meta[] = {{"format", "pt"}};
        s = ct_st_write(path, l.t, l.n, meta, 1);
    }
    ct_tensor_list_free(&l);
    if (have_hs) ct_host_state_free(&hs);
    free(names);
    return s;
}

void ct_torchvision_vit_call(const ct_model *m, char *buf, size_t bytes) {
    if (bytes) buf[0] = 0;
    const size_t layers = m->n_layers > 0 ? (size_t)m->n_layers : 1;
    char (*names)[CT_LIST_NAME_BYTES] = calloc(layers, sizeof *names);
    if (!names || family(m) != 5 || vit_names(m, names) || vit_not_torchvisions(m)) {
        free(names);
        return;
    }
    int patch = 0, blocks = 0, heads = 0, hidden = 0, mlp = 0, classes = 0;
    for (int i = 0; i < m->n_layers; i++) {
        const ct_layer *l = &m->layers[i];
        const char *mod = names[i], *part = strrchr(mod, '.');
        if (!strcmp(mod, "conv_proj")) patch = l->cfg.conv.kernel, hidden = l->cfg.conv.out_c;
        else if (!strcmp(mod, "heads.head")) classes = l->cfg.linear.units;
        else if (part && !strcmp(part, ".self_attention")) blocks++, heads = l->cfg.attn.heads;
        else if (part && !strcmp(part, ".0") && l->ops == &ct_linear_ops) mlp = l->cfg.linear.units;
    }
    free(names);
    int c, h, w;
    ct_model_input_shape(m, &c, &h, &w);
    snprintf(buf, bytes, "VisionTransformer(image_size=%d, patch_size=%d, num_layers=%d, "
             "num_heads=%d, hidden_dim=%d, mlp_dim=%d, num_classes=%d)", h, patch, blocks, heads,
             hidden, mlp, classes);
}

/* ------------------------------------------------------------------------------------------ */
/* reading                                                                                     */

/* A module's place in torchvision's state_dict order, or -1 for a name of neither family.
 * ResNets ("conv1", "bn1", "layer2.0.conv3", "layer2.0.downsample.1", "fc"): the stem, the
 * blocks of each stage, each block's convs and batch norms, then its downsample's, the fc last.
 * MobileNetV2 ("features.0.0", "features.3.conv.1.0", "features.3.conv.2", "classifier.1") and V3
 * ("features.4.block.1.0", "features.4.block.2": a squeeze-and-excitation, whose fc1 and fc2
 * are one layer's, "classifier.0", "classifier.3") and EfficientNet ("features.2.1.block.0.0",
 * a stage and a block): the features in order, each one's parts in order, the classifier last. */
static long tv_module_key(const char *mod) {
    int n = 0, stage, block, k, j;
    if (!strcmp(mod, "conv1")) return 0;
    if (!strcmp(mod, "bn1")) return 1;
    if (!strcmp(mod, "fc")) return 5L << 24;
    if (sscanf(mod, "layer%d.%d.downsample.%d%n", &stage, &block, &k, &n) == 3 && !mod[n] &&
        k >= 0 && k <= 1 && stage >= 1 && stage <= 4 && block >= 0 && block < 1000)
        return ((long)stage << 24) + block * 64L + 32 + k;
    if (sscanf(mod, "layer%d.%d.conv%d%n", &stage, &block, &k, &n) == 3 && !mod[n] &&
        stage >= 1 && stage <= 4 && block >= 0 && block < 1000 && k >= 1 && k <= 9)
        return ((long)stage << 24) + block * 64L + 2 * k;
    if (sscanf(mod, "layer%d.%d.bn%d%n", &stage, &block, &k, &n) == 3 && !mod[n] &&
        stage >= 1 && stage <= 4 && block >= 0 && block < 1000 && k >= 1 && k <= 9)
        return ((long)stage << 24) + block * 64L + 2 * k + 1;
    if (sscanf(mod, "classifier.%d%n", &k, &n) == 1 && !mod[n] && (k == 0 || k == 1 || k == 3))
        return (9L << 24) + k;
    if (sscanf(mod, "features.%d.%d.block.%d.%d%n", &stage, &block, &j, &k, &n) == 4 && !mod[n] &&
        stage >= 1 && stage < 16 && block >= 0 && block < 16 && j >= 0 && j < 16 && k >= 0 &&
        k <= 1)
        return (8L << 24) + ((long)stage << 12) + block * 256L + j * 16L + k + 1;
    if (sscanf(mod, "features.%d.%d.block.%d%n", &stage, &block, &j, &n) == 3 && !mod[n] &&
        stage >= 1 && stage < 16 && block >= 0 && block < 16 && j >= 0 && j < 16)
        return (8L << 24) + ((long)stage << 12) + block * 256L + j * 16L;
    if ((sscanf(mod, "features.%d.conv.%d.%d%n", &block, &j, &k, &n) == 3 ||
         sscanf(mod, "features.%d.block.%d.%d%n", &block, &j, &k, &n) == 3) && !mod[n] &&
        block >= 0 && block < 1000 && j >= 0 && j < 16 && k >= 0 && k <= 1)
        return (8L << 24) + ((long)block << 12) + j * 16L + k + 1;
    if ((sscanf(mod, "features.%d.conv.%d%n", &block, &j, &n) == 2 ||
         sscanf(mod, "features.%d.block.%d%n", &block, &j, &n) == 2) && !mod[n] && block >= 0 &&
        block < 1000 && j >= 0 && j < 16)
        return (8L << 24) + ((long)block << 12) + j * 16L;
    if (sscanf(mod, "features.%d.%d%n", &block, &j, &n) == 2 && !mod[n] && block >= 0 &&
        block < 1000 && j >= 0 && j <= 1)
        return (8L << 24) + ((long)block << 12) + j * 16L;
    return -1;
}

/* A VisionTransformer's file: its names are the model's layers' (vit_names), each tensor's
 * after its layer's module name. */
static ct_status vit_aliases(const ct_checkpoint *c, const ct_model *m, const ct_tensor_list *l,
                             char (*alias)[CT_LIST_NAME_BYTES], int *used) {
    const size_t layers = m->n_layers > 0 ? (size_t)m->n_layers : 1;
    char (*names)[CT_LIST_NAME_BYTES] = calloc(layers, sizeof *names);
    if (!names) return ct_fail(CT_ERR_NOMEM, "out of memory");
    const char *bad = vit_names(m, names);
    ct_status s = CT_OK;
    if (bad)
        s = ct_fail(CT_ERR_FORMAT, "%s: its tensors are a torchvision VisionTransformer's, but "
                    "the model %s is not one (%s)", c->path, SPEC_TEXT(m), bad);
    for (int i = 0; i < l->n && s == CT_OK; i++) {
        const char *mod = names[l->info[i].layer], *what = strchr(l->t[i].name, '.');
        snprintf(alias[i], CT_LIST_NAME_BYTES, "%s%s%s", mod, *mod ? "." : "",
                 what ? what + 1 : "");
    }
    free(names);
    if (s == CT_OK) *used = 1;
    return s;
}

typedef struct {
    long key;
    int tensor; /* the file's first tensor of the module */
    int len;    /* the module's name: the tensor's first len characters */
} tv_module;

static int by_key(const void *a, const void *b) {
    const long x = ((const tv_module *)a)->key, y = ((const tv_module *)b)->key;
    return x < y ? -1 : x > y;
}

ct_status ct_tv_aliases(const ct_checkpoint *c, const ct_model *m, const ct_tensor_list *l,
                        char (*alias)[CT_LIST_NAME_BYTES], int *used) {
    *used = 0;
    if (ct_checkpoint_find(c, "class_token") >= 0 && ct_checkpoint_find(c, "conv_proj.weight") >= 0)
        return vit_aliases(c, m, l, alias, used);
    const int resnet =
        ct_checkpoint_find(c, "bn1.weight") >= 0 && ct_checkpoint_find(c, "fc.weight") >= 0;
    const int v3 = ct_checkpoint_find(c, "classifier.3.weight") >= 0;
    const int eff = ct_checkpoint_find(c, "features.1.0.block.0.0.weight") >= 0;
    if (!resnet && (ct_checkpoint_find(c, "features.0.0.weight") < 0 ||
                    ct_checkpoint_find(c, v3 ? "classifier.0.weight" : "classifier.1.weight") < 0))
        return CT_OK;
    tv_module *mods = malloc(sizeof *mods * (size_t)(c->n > 0 ? c->n : 1));
    if (!mods) return ct_fail(CT_ERR_NOMEM, "out of memory");
    int n = 0;
    for (int k = 0; k < c->n; k++) {
        char mod[CT_LIST_NAME_BYTES];
        const char *dot = strrchr(c->t[k].name, '.');
        snprintf(mod, sizeof mod, "%.*s", dot ? (int)(dot - c->t[k].name) : 0, c->t[k].name);
        char *sub = strrchr(mod, '.'); /* a squeeze-and-excitation's fc1 or fc2: its module */
        if (sub && (!strcmp(sub, ".fc1") || !strcmp(sub, ".fc2"))) *sub = 0;
        long key = dot ? tv_module_key(mod) : -1;
        if (key < 0) {
            free(mods);
            return CT_OK; /* (not torchvision's: the names are reported as missing) */
        }
        mods[n++] = (tv_module){key, k, (int)strlen(mod)};
    }
    qsort(mods, (size_t)n, sizeof *mods, by_key);
    int unique = 0;
    for (int i = 0; i < n; i++)
        if (i == 0 || mods[i].key != mods[unique - 1].key) mods[unique++] = mods[i];
    int layers = 0;
    for (int i = 0; i < l->n; i++) layers += i == 0 || l->info[i].layer != l->info[i - 1].layer;
    ct_status s = CT_OK;
    if (unique != layers)
        s = ct_fail(CT_ERR_FORMAT, "%s: its tensors are a torchvision %s's, of %d modules with "
                    "tensors, but the model %s has %d layers with tensors", c->path,
                    resnet ? "ResNet" : v3 ? "MobileNetV3" : eff ? "EfficientNet" : "MobileNetV2",
                    unique, SPEC_TEXT(m),
                    layers);
    for (int i = 0, j = -1; i < l->n && s == CT_OK; i++) { /* module j's name, the tensor's kind */
        j += i == 0 || l->info[i].layer != l->info[i - 1].layer;
        const char *name = c->t[mods[j].tensor].name, *what = strchr(l->t[i].name, '.');
        snprintf(alias[i], CT_LIST_NAME_BYTES, "%.*s.%s", mods[j].len, name, what ? what + 1 : "");
    }
    free(mods);
    if (s == CT_OK) *used = 1;
    return s;
}

/* A MobileNet's or EfficientNet's state_dict as the preset: V2's (width 1: a stem of 32
 * channels, 19 features, the last of 1280), V3's large (a stem of 16, 17 features, the last of
 * 960) or small (13, the last of 576), EfficientNet-B0's (a stem of 32, 9 features, the last of
 * 1280, stages of 1, 2, 2, 3, 3, 4, 1 blocks): 1; -1 for another width or depth; 0 when c is
 * none. */
static int mobilenet_spec(const ct_checkpoint *c, char *spec, size_t bytes) {
    const int v3 = ct_checkpoint_find(c, "classifier.3.weight") >= 0;
    const int fc = ct_checkpoint_find(c, v3 ? "classifier.3.weight" : "classifier.1.weight");
    const int stem = ct_checkpoint_find(c, "features.0.0.weight");
    if (fc < 0 || stem < 0) return 0;
    const int eff = ct_checkpoint_find(c, "features.1.0.block.0.0.weight") >= 0;
    static const struct { const char *name; int v3, eff, stem, features, last; } k[] = {
        {"mobilenet_v2", 0, 0, 32, 19, 1280},
        {"mobilenet_v3_large", 1, 0, 16, 17, 960},
        {"mobilenet_v3_small", 1, 0, 16, 13, 576},
        {"efficientnet_b0", 0, 1, 32, 9, 1280}};
    const char *preset = NULL;
    for (size_t i = 0; i < sizeof k / sizeof k[0] && !preset; i++) {
        char name[64], after[64];
        snprintf(name, sizeof name, "features.%d.0.weight", k[i].features - 1);
        snprintf(after, sizeof after, "features.%d.0.weight", k[i].features);
        const int last = ct_checkpoint_find(c, name);
        if (k[i].v3 == v3 && k[i].eff == eff && c->t[fc].ndim == 2 && c->t[stem].ndim == 4 &&
            c->t[stem].shape[0] == k[i].stem && last >= 0 && c->t[last].ndim == 4 &&
            c->t[last].shape[0] == k[i].last && ct_checkpoint_find(c, after) < 0)
            preset = k[i].name;
    }
    static const int b0_blocks[7] = {1, 2, 2, 3, 3, 4, 1}; /* (B1 and up: more, deeper) */
    for (int s = 0; eff && preset && s < 7; s++) {
        char name[64];
        snprintf(name, sizeof name, "features.%d.%d.block.0.0.weight", s + 1, b0_blocks[s] - 1);
        const int here = ct_checkpoint_find(c, name) >= 0;
        snprintf(name, sizeof name, "features.%d.%d.block.0.0.weight", s + 1, b0_blocks[s]);
        if (!here || ct_checkpoint_find(c, name) >= 0) preset = NULL;
    }
    if (!preset) return -1;
    const char *p = ct_model_preset(preset);
    const size_t body = strlen(p) - strlen("linear(10)");
    int n = snprintf(spec, bytes, "%.*slinear(%lld)", (int)body, p, (long long)c->t[fc].shape[0]);
    return n > 0 && (size_t)n < bytes ? 1 : -1;
}

/* A VisionTransformer's state_dict as the preset of its patches (conv_proj's kernel), width
 * (its outputs), blocks (encoder_layer_0 ...) and MLP (mlp.0's outputs): vit_b_16 ... vit_h_14
 * (their heads, which the tensors do not hold, the preset's); -1 for none of them; 0 when c is
 * no ViT's. */
static int vit_spec(const ct_checkpoint *c, char *spec, size_t bytes) {
    static const struct { const char *name; int patch, width, blocks, mlp; } k[] = {
        {"vit_b_16", 16, 768, 12, 3072},  {"vit_b_32", 32, 768, 12, 3072},
        {"vit_l_16", 16, 1024, 24, 4096}, {"vit_l_32", 32, 1024, 24, 4096},
        {"vit_h_14", 14, 1280, 32, 5120}};
    const int proj = ct_checkpoint_find(c, "conv_proj.weight");
    const int head = ct_checkpoint_find(c, "heads.head.weight");
    const int mlp = ct_checkpoint_find(c, "encoder.layers.encoder_layer_0.mlp.0.weight");
    if (proj < 0 || ct_checkpoint_find(c, "class_token") < 0) return 0;
    if (head < 0 || mlp < 0 || c->t[proj].ndim != 4 || c->t[head].ndim != 2 ||
        c->t[mlp].ndim != 2)
        return -1;
    int blocks = 0;
    char name[64];
    do snprintf(name, sizeof name, "encoder.layers.encoder_layer_%d.ln_1.weight", blocks);
    while (ct_checkpoint_find(c, name) >= 0 && ++blocks < 1000);
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++) {
        if (c->t[proj].shape[0] != k[i].width || c->t[proj].shape[2] != k[i].patch ||
            c->t[proj].shape[3] != k[i].patch || blocks != k[i].blocks ||
            c->t[mlp].shape[0] != k[i].mlp)
            continue;
        const char *p = ct_model_preset(k[i].name);
        const size_t body = strlen(p) - strlen("linear(10)");
        int n = snprintf(spec, bytes, "%.*slinear(%lld)", (int)body, p,
                         (long long)c->t[head].shape[0]);
        return n > 0 && (size_t)n < bytes ? 1 : -1;
    }
    return -1;
}

/* A torchvision ResNet's state_dict: which of the presets it is, by its blocks a stage, its
 * bottlenecks' third conv, their width and the groups of their 3x3 conv (ResNeXt's), written
 * into spec with a last layer of fc.weight's outputs; 0 when the file is not a ResNet's, -1 when
 * it is none of those (other stages, widths or groups). */
int ct_tv_spec(const ct_checkpoint *c, char *spec, size_t bytes) {
    static const struct { const char *name; int blocks[4], bottleneck, width, groups; } k[] = {
        {"resnet18", {2, 2, 2, 2}, 0, 64, 1},
        {"resnet34", {3, 4, 6, 3}, 0, 64, 1},
        {"resnet50", {3, 4, 6, 3}, 1, 64, 1},
        {"resnet101", {3, 4, 23, 3}, 1, 64, 1},
        {"resnet152", {3, 8, 36, 3}, 1, 64, 1},
        {"wide_resnet50_2", {3, 4, 6, 3}, 1, 128, 1},
        {"wide_resnet101_2", {3, 4, 23, 3}, 1, 128, 1},
        {"resnext50_32x4d", {3, 4, 6, 3}, 1, 128, 32},
        {"resnext101_32x8d", {3, 4, 23, 3}, 1, 256, 32},
        {"resnext101_64x4d", {3, 4, 23, 3}, 1, 256, 64}};
    const int mobile = mobilenet_spec(c, spec, bytes);
    if (mobile) return mobile;
    const int vit = vit_spec(c, spec, bytes);
    if (vit) return vit;
    const int fc = ct_checkpoint_find(c, "fc.weight");
    const int w = ct_checkpoint_find(c, "layer1.0.conv1.weight");
    if (fc < 0 || w < 0 || ct_checkpoint_find(c, "bn1.weight") < 0 || c->t[fc].ndim != 2) return 0;
    int blocks[4] = {0, 0, 0, 0};
    for (int s = 0; s < 4; s++) {
        char name[64];
        do snprintf(name, sizeof name, "layer%d.%d.conv1.weight", s + 1, blocks[s]);
        while (ct_checkpoint_find(c, name) >= 0 && ++blocks[s] < 1000);
    }
    const int bottleneck = ct_checkpoint_find(c, "layer1.0.conv3.weight") >= 0;
    const int w2 = ct_checkpoint_find(c, "layer1.0.conv2.weight"); /* (width / groups inputs) */
    if (w2 < 0 || c->t[w2].ndim != 4 || c->t[w].ndim != 4 || c->t[w2].shape[1] < 1 ||
        c->t[w].shape[0] % c->t[w2].shape[1])
        return -1;
    const int64_t groups = c->t[w].shape[0] / c->t[w2].shape[1];
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++) {
        if (memcmp(blocks, k[i].blocks, sizeof blocks) != 0 || bottleneck != k[i].bottleneck ||
            c->t[w].shape[0] != k[i].width || groups != k[i].groups)
            continue;
        const char *p = ct_model_preset(k[i].name);
        const size_t body = strlen(p) - strlen("linear(10)");
        int n = snprintf(spec, bytes, "%.*slinear(%lld)", (int)body, p, (long long)c->t[fc].shape[0]);
        return n > 0 && (size_t)n < bytes ? 1 : -1;
    }
    return -1;
}
