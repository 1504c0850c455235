"""ctrain_torch.py — ctrain's checkpoints in PyTorch, without ctrain.

    import sys; sys.path.insert(0, "tools")          # or copy this one file
    import ctrain_torch
    model = ctrain_torch.load_model("run1")          # an nn.Module with run1's weights, in eval()
    probs = model(x).softmax(1)                      # x: (N, C, H, W) float, pixels / 255
    sd = ctrain_torch.load_state_dict("run1")        # the tensors, under their state_dict names
    meta = ctrain_torch.load_metadata("run1")        # model_spec, input_shape, val_acc, ...

A path is a --save folder (its model.safetensors), or a .safetensors file: model.safetensors,
best.safetensors, or a train_state.safetensors (its "model." tensors). The file is read with the
`safetensors` package when it is installed, else with the standard library: the format is an
8-byte header length, a JSON header and the raw little-endian tensors.

load_model rebuilds the network from the metadata's model_spec (ctrain's layer string) as an
nn.Sequential whose parameterised layers carry ctrain's names (linear1, conv1, batchnorm1, ...),
so that load_state_dict(strict=True) takes the file's tensors as they are:

    linear(U)                  nn.Linear(in, U)
    conv(O, K[, S[, P[, B[, G]]]])
                               nn.Conv2d(C, O, K, S, P, bias=B != 0, groups=G)
    maxpool(K[, S[, P]])       nn.MaxPool2d(K, S or K, P)
    avgpool(K[, S[, P]])       nn.AvgPool2d(K, S or K, P)   (count_include_pad, as ctrain)
    dropout[(p)]               nn.Dropout(p, default 0.5)
    droppath(p)                torchvision.ops.StochasticDepth(p, "row")
    batchnorm[(eps[, mom])]    nn.BatchNorm1d / 2d by the input's shape (eps 1e-5, momentum 0.1)
    groupnorm(G[, eps])        nn.GroupNorm(G, C, eps) (eps 1e-5)
    layernorm[(eps)]           nn.LayerNorm(the input's shape, eps): (F) on flat inputs (and
                               planes of 1x1), else (C, H, W)
    globalavgpool              nn.AdaptiveAvgPool2d(1)
    residual(LAYERS)           its layers, then (where they change the shape) a projection
                               shortcut Conv2d(C, C', 1, stride, bias=False) and BatchNorm2d,
                               then an Add of the block's input (or shortcut) to its layers'
                               output: modules of the one Sequential
    flatten relu sigmoid tanh  nn.Flatten, nn.ReLU, nn.Sigmoid, nn.Tanh
    leakyrelu[(slope)] gelu    nn.LeakyReLU(slope, default 0.01), nn.GELU() (erf)
    relu6 silu                 nn.ReLU6(), nn.SiLU()
    hardswish hardsigmoid      nn.Hardswish(), nn.Hardsigmoid()
    se(Q[, ACT[, GATE]])       torchvision.ops.SqueezeExcitation(C, Q, ACT, GATE) (ReLU and
                               Sigmoid unless given): its fc1 and fc2 (1x1 convs with biases)
    normalize(M.., S..)        (x - mean) * (1 / std) per channel (torchvision's Normalize)
    tokens                     an image (N, C, H, W) as a sequence (N, H*W, C), as
                               torchvision's VisionTransformer after its conv_proj; on a
                               sequence linear and layernorm act on each token (nn.Linear(D, U),
                               nn.LayerNorm(D)), as on any (N, T, D) tensor
    clstoken                   a learned class_token (1, 1, D) before the tokens
    posembed                   a learned pos_embedding (1, T, D) added
    attention(H[, p])          nn.MultiheadAttention(D, H, dropout=p, batch_first=True) on
                               (x, x, x) (p: 0 unless given)
    clspool                    the first token, x[:, 0]; globalavgpool on a sequence: the
                               tokens' mean, x.mean(1)

A file without a model_spec (a state_dict saved by PyTorch) gets the chain its linearN tensors
make, flatten,linear(a),relu,...,linear(z), as ctrain infers it; an nn.Sequential's names
("1.weight", "net.1.weight") go to the model's layers with tensors in order, as ctrain loads them.
"""
import json
import os
import struct
from collections import OrderedDict

import torch
from torch import nn

_DTYPES = {"F32": torch.float32, "F64": torch.float64, "F16": torch.float16,
           "BF16": torch.bfloat16, "I64": torch.int64, "I32": torch.int32, "U8": torch.uint8}
TRAIN_STATE_FORMAT = "ctrain-train-state"


def _file(path):
    return os.path.join(path, "model.safetensors") if os.path.isdir(path) else path


def _read(path):
    """(header dict, data bytes) of a safetensors file, by the standard library."""
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        raise ValueError("%s: not a safetensors file (%d bytes)" % (path, len(raw)))
    n = struct.unpack("<Q", raw[:8])[0]
    if n > len(raw) - 8:
        raise ValueError("%s: header of %d bytes past the end of the file" % (path, n))
    return json.loads(raw[8:8 + n].decode("utf-8")), raw[8 + n:]


def load_metadata(path):
    """The file's metadata: a dict of strings ({} when it has none)."""
    header, _ = _read(_file(path))
    return dict(header.get("__metadata__") or {})


def load_state_dict(path):
    """The model's tensors by name (a train state's "model." prefix taken off)."""
    path = _file(path)
    try:
        from safetensors.torch import load_file
        tensors = load_file(path)
    except ImportError:
        header, data = _read(path)
        tensors = {}
        for name, e in header.items():
            if name == "__metadata__":
                continue
            lo, hi = e["data_offsets"]
            t = torch.frombuffer(bytearray(data[lo:hi]), dtype=_DTYPES[e["dtype"]])
            tensors[name] = t.reshape(e["shape"])
    meta = load_metadata(path)
    if meta.get("format", "").startswith(TRAIN_STATE_FORMAT):
        tensors = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
    return tensors


def _split(spec):
    """'conv(32,3),relu,...' -> [('conv', [32.0, 3.0]), ('relu', []), ...]; a residual block as
    ('residual', [its layers, split alike])."""
    layers, depth, start = [], 0, 0
    for i, ch in enumerate(spec + ","):
        depth += ch == "("
        depth -= ch == ")"
        if ch == "," and depth == 0:
            tok = spec[start:i].strip()
            start = i + 1
            name, _, args = tok.partition("(")
            name = name.strip()
            if name == "residual":
                layers.append((name, _split(args[:args.rindex(")")])))
            else:
                args = [a.strip() for a in args.rstrip(")").split(",") if a.strip()]
                layers.append((name, [a.lower() if a[0].isalpha() else float(a) for a in args]))
    return layers


def _sequential(tensors):
    """{index: {suffix: tensor}} when every name is one nn.Sequential's ("1.weight",
    "net.1.weight"), else None."""
    mods, attr = {}, None
    for name, t in tensors.items():
        parts = name.split(".")
        if len(parts) >= 2 and parts[0].isdigit():
            a, i, rest = "", parts[0], parts[1:]
        elif len(parts) >= 3 and parts[1].isdigit():
            a, i, rest = parts[0], parts[1], parts[2:]
        else:
            return None
        if attr is not None and a != attr:
            return None
        attr = a
        mods.setdefault(int(i), {})[".".join(rest)] = t
    return dict(sorted(mods.items())) if mods else None


def _infer_spec(tensors):
    """As ctrain infers it: linear1.weight ... (ReLU between), or an nn.Sequential's chain of
    linear modules (ReLU where one module lies between two, nothing where they are adjacent)."""
    layers, i = ["flatten"], 1
    while "linear%d.weight" % i in tensors:
        layers += (["relu"] if i > 1 else []) + ["linear(%d)" % tensors["linear%d.weight" % i].shape[0]]
        i += 1
    if i > 1:
        return ",".join(layers)
    seq = _sequential(tensors)
    if not seq or any(set(m) != {"weight", "bias"} or m["weight"].dim() != 2 for m in seq.values()):
        raise ValueError("no model_spec in the metadata, and not a chain of linear layers: "
                         "give spec=")
    prev = None
    for k, m in seq.items():
        if prev is not None and k - prev > 2:
            raise ValueError("modules between linear modules %d and %d: give spec=" % (prev, k))
        if prev is not None and k - prev == 2:
            layers.append("relu")
        layers.append("linear(%d)" % m["weight"].shape[0])
        prev = k
    return ",".join(layers)


def _ctrain_names(tensors, model):
    """An nn.Sequential's names onto the model's: its k-th module with tensors is the k-th
    layer with tensors (as ctrain loads it); other names stay."""
    seq = _sequential(tensors)
    if not seq:
        return tensors
    named = [n for n, m in model.named_children() if m.state_dict()]  # (layers with tensors)
    if len(named) != len(seq):
        raise ValueError("an nn.Sequential of %d modules with tensors, for a model of %d layers "
                         "with tensors" % (len(seq), len(named)))
    return {"%s.%s" % (n, suffix): t
            for n, mod in zip(named, seq.values()) for suffix, t in mod.items()}


def build_model(spec, input_shape):
    """ctrain's layer string as an nn.Sequential for inputs of input_shape (C, H, W). A residual
    block's layers, its projection shortcut (where the shape changes: conv(C, 1, stride),
    batchnorm) and its Add are modules of the one Sequential, in ctrain's order and names; the
    forward reads each module's input as ctrain does."""
    mods, count, src = OrderedDict(), {}, []
    acts = [torch.zeros(1, *input_shape)]  # the shapes, found by running each layer

    def add(kind, module, named, reads=None):
        count[kind] = count.get(kind, 0) + 1
        mods["%s%d" % (kind, count[kind]) if named else "_%s%d" % (kind, len(mods))] = module
        src.append(len(acts) - 1 if reads is None else reads)
        module.eval()
        with torch.no_grad():
            acts.append(_run(module, acts[src[-1]], acts))
        return module

    def layer(name, a, x):
        i = [int(v) for v in a if not isinstance(v, str)]
        if name == "linear":
            features = x.shape[2] if x.dim() == 3 else x.flatten(1).shape[1]  # (a token's)
            return add("linear", nn.Linear(features, i[0]), True)
        if name == "conv":
            return add("conv", nn.Conv2d(_image(x).shape[1], i[0], i[1], i[2] if len(i) > 2 else 1,
                                         i[3] if len(i) > 3 else 0, bias=len(i) < 5 or i[4] == 1,
                                         groups=i[5] if len(i) > 5 else 1), True)
        if name in ("maxpool", "avgpool"):
            cls = nn.MaxPool2d if name == "maxpool" else nn.AvgPool2d
            return add(name, cls(i[0], i[1] if len(i) > 1 else i[0], i[2] if len(i) > 2 else 0),
                       False)
        if name == "globalavgpool" and x.dim() == 3:  # the mean of the tokens
            return add(name, TokenMean(), False)
        if name == "globalavgpool":
            return add(name, nn.AdaptiveAvgPool2d(1), False)
        if name == "batchnorm":
            cls = nn.BatchNorm2d if x.dim() == 4 else nn.BatchNorm1d
            return add("batchnorm", cls(x.shape[1], eps=a[0] if a else 1e-5,
                                        momentum=a[1] if len(a) > 1 else 0.1), True)
        if name == "groupnorm":
            return add(name, nn.GroupNorm(i[0], x.shape[1], eps=a[1] if len(a) > 1 else 1e-5),
                       True)
        if name == "layernorm" and x.dim() == 3:  # each token's features
            return add(name, nn.LayerNorm(x.shape[2], eps=a[0] if a else 1e-5), True)
        if name == "layernorm":
            flat = x.dim() == 2 or x.shape[2:] == (1, 1)
            return add(name, LayerNorm((x[0].numel(),) if flat else tuple(x.shape[1:]),
                                       eps=a[0] if a else 1e-5), True)
        if name == "dropout":
            return add(name, nn.Dropout(a[0] if a else 0.5), False)
        if name == "droppath":
            return add(name, DropPath(a[0]), False)
        if name == "flatten":
            return add(name, nn.Flatten(), False)
        if name == "normalize":  # torchvision's Normalize(mean, std), per channel or for all
            return add(name, Normalize(a[:len(a) // 2], a[len(a) // 2:], x.dim()), False)
        if name == "se":
            return add("se", SqueezeExcitation(_image(x).shape[1], int(a[0]),
                                               _activation(a[1] if len(a) > 1 else "relu"),
                                               _activation(a[2] if len(a) > 2 else "sigmoid")),
                       True)
        if name == "tokens":
            return add(name, Tokens(), False)
        if name == "clstoken":
            return add(name, ClassToken(x.shape[2]), True)
        if name == "posembed":
            return add(name, PosEmbedding(x.shape[1], x.shape[2]), True)
        if name == "attention":
            return add(name, SelfAttention(x.shape[2], i[0], float(a[1]) if len(a) > 1 else 0.0),
                       True)
        if name == "clspool":
            return add(name, ClsPool(), False)
        if name == "leakyrelu" or name in _ACTS:
            return add(name, _activation(name, *a), False)
        raise ValueError("unknown layer %r in model spec %r" % (name, spec))

    for name, a in _split(spec):
        if name != "residual":
            layer(name, a, acts[-1])
            continue
        begin = len(acts) - 1  # the block's input
        for sub, sa in a:
            if sub == "residual":
                raise ValueError("residual blocks do not nest, in model spec %r" % spec)
            layer(sub, sa, acts[-1])
        main, x0, y = len(acts) - 1, _image(acts[begin]), _image(acts[-1])
        skip = begin
        if x0.shape[1:] != y.shape[1:]:  # the projection: the stride that gives the shape
            h, w = x0.shape[2], x0.shape[3]
            st = next((s for s in range(1, max(h, w) + 1)
                       if ((h - 1) // s + 1, (w - 1) // s + 1) == tuple(y.shape[2:])), None)
            if st is None:
                raise ValueError("a residual block of model spec %r changes the shape as no "
                                 "1x1 strided convolution does" % spec)
            add("conv", nn.Conv2d(x0.shape[1], y.shape[1], 1, st, bias=False), True, reads=begin)
            add("batchnorm", nn.BatchNorm2d(y.shape[1]), True)
            skip = len(acts) - 1
        add("add", Add(main, skip), False, reads=main)
    model = _Sequential(mods)
    model._src = src
    return model


_ACTS = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "gelu": nn.GELU,
         "relu6": nn.ReLU6, "silu": nn.SiLU, "hardswish": nn.Hardswish,
         "hardsigmoid": nn.Hardsigmoid}


def _activation(name, *args):
    """The activation module of ctrain's name (leakyrelu's slope: 0.01 unless given)."""
    if name == "leakyrelu":
        return nn.LeakyReLU(args[0] if args else 0.01)
    if name not in _ACTS:
        raise ValueError("unknown activation %r" % name)
    return _ACTS[name]()


class DropPath(nn.Module):
    """ctrain's droppath(p): torchvision.ops.StochasticDepth(p, "row"), each sample of a training
    batch dropped whole with probability p, the others scaled by 1 / (1 - p)."""

    def __init__(self, p):
        super().__init__()
        self.p = p

    def forward(self, x):
        if not self.training or self.p == 0.0:
            return x
        keep = 1.0 - self.p
        noise = torch.empty([x.shape[0]] + [1] * (x.dim() - 1), dtype=x.dtype).bernoulli_(keep)
        return x * (noise / keep if keep > 0.0 else noise)


class SqueezeExcitation(nn.Module):
    """ctrain's se(q, act, gate): torchvision.ops.SqueezeExcitation(C, q, act, gate), its
    forward and its names (fc1, fc2: 1x1 convs with biases)."""

    def __init__(self, channels, squeeze, activation, scale_activation):
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, squeeze, 1)
        self.fc2 = nn.Conv2d(squeeze, channels, 1)
        self.activation, self.scale_activation = activation, scale_activation

    def forward(self, x):
        s = self.scale_activation(self.fc2(self.activation(self.fc1(self.avgpool(x)))))
        return s * x


class LayerNorm(nn.LayerNorm):
    """nn.LayerNorm over each sample's values, its shape normalized_shape ((C, H, W), or (F) for
    a flat input and a plane of 1x1), the output of the input's shape."""

    def forward(self, x):
        return super().forward(x.reshape(x.shape[0], *self.normalized_shape)).reshape(x.shape)


class Tokens(nn.Module):
    """ctrain's tokens: an image (N, C, H, W) as H*W tokens of C features, (N, H*W, C), as
    torchvision's VisionTransformer after its conv_proj (a flat (N, F): one token)."""

    def forward(self, x):
        x = _image(x)
        return x.reshape(x.shape[0], x.shape[1], -1).permute(0, 2, 1)


class ClassToken(nn.Module):
    """ctrain's clstoken: a learned token (torchvision's class_token, zeros to start) before the
    sequence's."""

    def __init__(self, dim):
        super().__init__()
        self.class_token = nn.Parameter(torch.zeros(1, 1, dim))

    def forward(self, x):
        return torch.cat([self.class_token.expand(x.shape[0], -1, -1), x], dim=1)


class PosEmbedding(nn.Module):
    """ctrain's posembed: a learned (1, T, D) added (torchvision's pos_embedding, N(0, 0.02^2))."""

    def __init__(self, tokens, dim):
        super().__init__()
        self.pos_embedding = nn.Parameter(torch.empty(1, tokens, dim).normal_(std=0.02))

    def forward(self, x):
        return x + self.pos_embedding


class SelfAttention(nn.MultiheadAttention):
    """ctrain's attention(heads[, p]): nn.MultiheadAttention(D, heads, dropout=p,
    batch_first=True) on (x, x, x), as torchvision's EncoderBlock calls it; its state_dict
    names."""

    def __init__(self, dim, heads, dropout=0.0):
        super().__init__(dim, heads, dropout=dropout, batch_first=True)

    def forward(self, x):
        return super().forward(x, x, x, need_weights=False)[0]


class TokenMean(nn.Module):
    """ctrain's globalavgpool on a sequence: the mean of the tokens, x.mean(1)."""

    def forward(self, x):
        return x.mean(1)


class ClsPool(nn.Module):
    """ctrain's clspool: the first token's features, torchvision's x[:, 0]."""

    def forward(self, x):
        return x[:, 0]


def _image(x):
    """ctrain's view of a flat (N, F) tensor as an image (N, F, 1, 1); images as they are."""
    return x.reshape(x.shape[0], -1, 1, 1) if x.dim() == 2 else x


def _run(m, x, acts):
    """Module m on its input x as ctrain runs it (acts: the activations so far, for an Add)."""
    if isinstance(m, Add):
        return m(acts[m.main], acts[m.skip])
    if isinstance(m, nn.Linear) and x.dim() > 3:  # (a sequence's: each token's)
        x = x.flatten(1)
    elif isinstance(m, (nn.Conv2d, nn.AdaptiveAvgPool2d, nn.MaxPool2d, nn.AvgPool2d,
                        SqueezeExcitation)):
        x = _image(x)
    return m(x)


class Add(nn.Module):
    """A residual block's add: its layers' output (activation `main`) + its input or its
    shortcut's output (activation `skip`), as one flat vector when one of them is flat."""

    def __init__(self, main, skip):
        super().__init__()
        self.main, self.skip = main, skip

    def forward(self, a, b):
        if a.dim() != b.dim():
            a, b = a.flatten(1), b.flatten(1)
        return a + b


class Normalize(nn.Module):
    """ctrain's normalize layer: (x - mean) * (1 / std) per channel (dim 1), as float32 does
    it; no state_dict entries (as ctrain's checkpoints have none for it)."""

    def __init__(self, mean, std, dim):
        super().__init__()
        shape = (1, -1) + (1,) * (dim - 2) if len(mean) > 1 else ()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).reshape(shape),
                             persistent=False)
        self.register_buffer("inv_std", (1 / torch.tensor(std, dtype=torch.float32)).reshape(shape),
                             persistent=False)

    def forward(self, x):
        return (x - self.mean) * self.inv_std


class _Sequential(nn.Sequential):
    """nn.Sequential whose modules read their inputs as ctrain's layers do: a linear layer its
    input flattened, a conv or pooling a flat input as (N, F, 1, 1), a residual block's
    shortcut the block's input and its Add two earlier activations (_src[k]: the activation
    module k reads; 0 is the input)."""

    def forward(self, x):
        acts = [x]
        for k, m in enumerate(self):
            acts.append(_run(m, acts[self._src[k]], acts))
        return acts[-1]


def load_model(path, spec=None, input_shape=None):
    """The saved model as an nn.Module in eval() mode (spec and input_shape: for files without
    ctrain's metadata; input_shape defaults to MNIST's (1, 28, 28))."""
    meta = load_metadata(path)
    tensors = load_state_dict(path)
    spec = spec or meta.get("model_spec") or _infer_spec(tensors)
    if input_shape is None:
        input_shape = tuple(json.loads(meta["input_shape"])) if "input_shape" in meta else (1, 28, 28)
    model = build_model(spec, input_shape)
    model.load_state_dict(_ctrain_names(tensors, model), strict=True)
    return model.eval()


def _vision_transformer(spec, shape, ours, arch):
    """ctrain's ViT layers (conv(D, P, P),tokens,clstoken,posembed, blocks of
    residual(layernorm(1e-6),attention(H)) and residual(layernorm(1e-6),linear(M),gelu,
    linear(D)), layernorm(1e-6),clspool,linear(K); dropout anywhere) as torchvision's
    VisionTransformer: arch a vit_* preset's name (torchvision.models.<arch>(num_classes=K,
    image_size=S)) or "VisionTransformer" (any such model), its conv_proj on the input's
    channels. What its constructor cannot be is a ValueError, as ctrain export says it."""
    import torchvision
    flat = []
    for name, a in _split(spec):
        flat += a if name == "residual" else [(name, a)]
    heads = {int(a[0]) for n, a in flat if n == "attention"}
    eps = {a[0] if a else 1e-5 for n, a in flat if n == "layernorm"}
    units = [int(a[0]) for n, a in flat if n == "linear"]
    patch, c, h, w = ours["conv1.weight"].shape[-1], shape[0], shape[1], shape[2]
    why = ("blocks of other heads than the first's" if len(heads) != 1 else
           "a layer norm of another eps than 1e-6" if eps != {1e-6} else
           "MLPs of other widths than the first's" if len(set(units[:-1][::2])) > 1 else
           "%dx%d images in patches of %d: torchvision's take square ones, a multiple of the "
           "patch" % (h, w, patch) if h != w or h % patch else None)
    if why:
        raise ValueError("%s is not a torchvision VisionTransformer's layers (%s)" % (spec, why))
    hidden, classes = ours["conv1.weight"].shape[0], units[-1]
    if arch == "VisionTransformer":
        tv = torchvision.models.VisionTransformer(
            image_size=h, patch_size=patch, num_layers=len(units[:-1]) // 2,
            num_heads=heads.pop(), hidden_dim=hidden, mlp_dim=units[0], num_classes=classes)
    else:
        tv = getattr(torchvision.models, arch)(num_classes=classes, image_size=h)
    tv.conv_proj = nn.Conv2d(c, hidden, patch, patch)
    return tv


def load_torchvision(path, arch):
    """A model saved from one of ctrain's torchvision presets (resnet18 ... wide_resnet101_2,
    resnext50_32x4d ..., mobilenet_v2, mobilenet_v3_large and _small, efficientnet_b0, vit_b_16
    ... vit_h_14) as torchvision's own module:
    torchvision.models.<arch>(num_classes=its outputs), its first conv taking its input's
    channels (a ViT's image_size its input's), its tensors given in order (the presets hold
    torchvision's state_dict order, a ViT's class token aside; each shape checked), in eval()
    mode; arch "VisionTransformer": any ViT of ctrain's layers that torchvision's
    VisionTransformer class can be (ctrain export names the same call). A model trained with
    --normalize (a normalize layer in front, which has no tensors) as nn.Sequential(that
    Normalize, the network). ctrain reads torchvision's state_dicts (a pretrained one saved as
    safetensors) the other way round: ctrain train --init FILE."""
    import torchvision
    meta = load_metadata(path)
    ours = load_state_dict(path)
    spec = meta.get("model_spec") or _infer_spec(ours)
    shape = tuple(json.loads(meta["input_shape"])) if "input_shape" in meta else (1, 28, 28)
    order = build_model(spec, shape).state_dict().keys()
    vit = arch == "VisionTransformer" or arch.startswith("vit_")
    if vit:
        tv = _vision_transformer(spec, shape, ours, arch)
    else:
        tv = getattr(torchvision.models, arch)(num_classes=ours[list(order)[-2]].shape[0])
        if arch.startswith(("mobilenet", "efficientnet")):  # (a stem of 32 channels, V3's 16)
            tv.features[0][0] = nn.Conv2d(shape[0], tv.features[0][0].out_channels, 3, 2, 1,
                                          bias=False)
        else:
            tv.conv1 = nn.Conv2d(shape[0], 64, 7, 2, 3, bias=False)
    theirs = tv.state_dict()
    if vit:  # (its class_token first, ours after the patches' conv)
        theirs = OrderedDict([(k, v) for k, v in theirs.items() if k.startswith("conv_proj.")] +
                             [("class_token", theirs["class_token"])] +
                             [(k, v) for k, v in theirs.items()
                              if k != "class_token" and not k.startswith("conv_proj.")])
    if len(order) != len(theirs):
        raise ValueError("%s holds %d tensors, torchvision's %s %d" % (path, len(order), arch,
                                                                      len(theirs)))
    mapped = OrderedDict()
    for a, b in zip(theirs, order):
        if theirs[a].shape != ours[b].shape:
            raise ValueError("%s: %s has shape %s, torchvision's %s %s" % (
                path, b, tuple(ours[b].shape), a, tuple(theirs[a].shape)))
        mapped[a] = ours[b].to(theirs[a].dtype)
    tv.load_state_dict(mapped, strict=True)
    if _split(spec)[0][0] == "normalize":  # (its values are in the spec, not the tensors)
        return nn.Sequential(build_model(spec[:spec.index(")") + 1], shape)[0], tv).eval()
    return tv.eval()
