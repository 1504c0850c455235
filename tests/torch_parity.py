"""torch_parity.py — ctrain's training against a plain PyTorch loop, epoch by epoch
(tests/cli_torch_parity.sh drives it).

    torch_parity.py init OUT SPEC SEED ...    a state_dict of ctrain's model SPEC on MNIST's
                                              inputs, under ctrain's names, for --init OUT
                                              (each triple: one process, one import of torch)
    torch_parity.py compare DATA CASES        CASES: one case a line, NAME|LOG|FLAGS: the
                                              --log LOG of `ctrain train FLAGS` (on --dataset
                                              idx --data DATA) against the same training in
                                              PyTorch; prints "ok NAME: ..." or "FAIL NAME: ..."
                                              per case

Mostly full-batch (--batch-size = the training images: one step an epoch, on the whole training
set, whatever the order). ctrain's train/validation split (ct_split_indices: a Fisher-Yates
shuffle of 0..n-1 by ctrain's Philox4x32-10 stream CT_STREAM_SPLIT keyed by --seed, the training
part first) and, with smaller batches, its epoch order (ct_epoch_order: the training indices
shuffled by stream CT_STREAM_SHUFFLE from block epoch * 2^26) are reproduced below. The lr
schedules step per batch, as ctrain's (src/optim/schedule.c: over the run's steps; StepLR,
MultiStepLR and ReduceLROnPlateau by epoch). For every epoch, lr (the epoch's first step's), train_loss (the
mean over the epoch's samples, each taken before its batch's update), train_acc and, with
--val-size > 0, val_loss and val_acc are compared: losses to a relative RTOL, the lr to 1e-6
(ctrain logs it as a float), accuracies to one image. With --swa-start (and --save DIR), the
model ctrain saved, SWA's average with batch norm's statistics recomputed, is compared tensor by
tensor with torch.optim.swa_utils' (AveragedModel updated after each epoch from swa_start on,
SWALR made at the start of epoch swa_start and stepped after each epoch from there, update_bn
over the training split in order), to a RTOL of each tensor's largest value.
"""
import json
import math
import os
import shlex
import struct
import sys
import warnings

import torch
from torch import nn

# SequentialLR (--warmup-sequential) steps its next scheduler with step(0), which PyTorch 1.13
# warns of as deprecated: its closed form is what torchvision's recipes get too
warnings.filterwarnings("ignore", message="The epoch parameter in `scheduler.step\\(\\)`")

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
import ctrain_torch  # noqa: E402

RTOL = 1e-4
M32 = 0xFFFFFFFF
# torchvision's set_weight_decay's norm_classes (--norm-weight-decay)
_NORM_CLASSES = (nn.modules.batchnorm._BatchNorm, nn.LayerNorm, nn.GroupNorm,
                 nn.modules.instancenorm._InstanceNorm, nn.LocalResponseNorm)


# ------------------------------------------------------------------ ctrain's split (src/core/core.c)
def philox4x32(key, counter, counter_hi=0):
    """ct_philox4x32(key, counter_hi, counter): Philox4x32-10."""
    m0, m1, w0, w1 = 0xD2511F53, 0xCD9E8D57, 0x9E3779B9, 0xBB67AE85
    c0, c1, c2, c3 = counter & M32, counter >> 32 & M32, counter_hi & M32, counter_hi >> 32 & M32
    k0, k1 = key & M32, key >> 32 & M32
    for _ in range(10):
        p0, p1 = m0 * c0, m1 * c2
        c0, c1, c2, c3 = (p1 >> 32) ^ c1 ^ k0, p1 & M32, (p0 >> 32) ^ c3 ^ k1, p0 & M32
        k0, k1 = (k0 + w0) & M32, (k1 + w1) & M32
    return [c0, c1, c2, c3]


class Rng:
    """ct_rng: ct_rng_init, ct_rng_u32, ct_rng_below."""

    def __init__(self, seed, stream):
        self.key, self.counter, self.buf = seed, stream << 40, []

    def u32(self):
        if not self.buf:
            self.buf = philox4x32(self.key, self.counter)
            self.counter += 1
        return self.buf.pop(0)

    def below(self, n):
        m = self.u32() * n
        if m & M32 < n:
            threshold = (2**32 - n) % n
            while m & M32 < threshold:
                m = self.u32() * n
        return m >> 32


def shuffled(train, seed, epoch):
    """ct_epoch_order (src/loader/loader.c): epoch's order of the training indices."""
    order, rng = list(train), Rng(seed, 3)  # CT_STREAM_SHUFFLE
    rng.counter += epoch << 26
    for i in range(len(order) - 1, 0, -1):
        j = rng.below(i + 1)
        order[i], order[j] = order[j], order[i]
    return order


def split(n, val_size, seed):
    """ct_split_indices: (train indices, validation indices)."""
    perm, rng = list(range(n)), Rng(seed, 2)  # CT_STREAM_SPLIT
    for i in range(n - 1, 0, -1):
        j = rng.below(i + 1)
        perm[i], perm[j] = perm[j], perm[i]
    return perm[:n - val_size], perm[n - val_size:]


def mix_draw(f, epoch, batch, h, w):
    """ct_mix_draw (src/train/mix.c): (kind, lam as a float32, (y1, y2, x1, x2)) of a batch,
    or None without --mixup-alpha / --cutmix-alpha."""
    mixup, cutmix = float(f.get("mixup-alpha", 0)), float(f.get("cutmix-alpha", 0))
    if mixup <= 0 and cutmix <= 0:
        return None
    st = {"lo": batch << 16, "buf": []}

    def uniform():
        if not st["buf"]:
            st["buf"] = philox4x32(int(f.get("seed", 42)), st["lo"], 6 << 56 | epoch)  # CT_STREAM_MIX
            st["lo"] += 1
        return (st["buf"].pop(0) + 0.5) * 2.0 ** -32

    def normal():
        u1 = uniform()
        u2 = uniform()
        return math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)

    def gamma(a):  # Marsaglia and Tsang, as mix.c
        if a < 1.0:
            g = gamma(a + 1.0)
            return g * math.pow(uniform(), 1.0 / a)
        d = a - 1.0 / 3.0
        c = 1.0 / math.sqrt(9.0 * d)
        for _ in range(1000):
            x = normal()
            v = 1.0 + c * x
            if v <= 0.0:
                continue
            v = v * v * v
            u = uniform()
            if u < 1.0 - 0.0331 * (x * x) * (x * x) or math.log(u) < 0.5 * x * x + d * (1.0 - v + math.log(v)):
                return d * v
        return d

    use_cutmix = cutmix > 0
    if mixup > 0 and use_cutmix:
        use_cutmix = uniform() >= 0.5  # RandomChoice
    alpha = cutmix if use_cutmix else mixup
    x = gamma(alpha)
    y = gamma(alpha)
    lam = x / (x + y) if x + y > 0.0 else 0.5
    box = None
    if use_cutmix:  # torchvision's RandomCutmix, with these draws
        rx = int(uniform() * w)
        ry = int(uniform() * h)
        r = 0.5 * math.sqrt(1.0 - lam)
        hw, hh = int(r * w), int(r * h)
        box = (max(ry - hh, 0), min(ry + hh, h), max(rx - hw, 0), min(rx + hw, w))
        lam = 1.0 - (box[1] - box[0]) * (box[3] - box[2]) / (w * h)
    return ("cutmix" if use_cutmix else "mixup", struct.unpack("f", struct.pack("f", lam))[0], box)


# ------------------------------------------------------------------ files
def idx(path):
    raw = open(path, "rb").read()
    nd = raw[3]
    dims = struct.unpack(">" + "I" * nd, raw[4:4 + 4 * nd])
    return torch.frombuffer(bytearray(raw[4 + 4 * nd:]), dtype=torch.uint8).reshape(dims)


def test_outputs(model, data_dir):
    """model's outputs on data_dir's IDX test images (pixels / 255), and their labels."""
    x = idx(data_dir + "/t10k-images-idx3-ubyte").float().div(255).unsqueeze(1)
    y = idx(data_dir + "/t10k-labels-idx1-ubyte").long()
    with torch.no_grad():
        return model(x), y


def test_line(out, y):
    """ctrain's "test_loss: L, test_acc: A" line of outputs out for labels y."""
    return "test_loss: %.4f, test_acc: %.4f" % (torch.nn.functional.cross_entropy(out, y).item(),
                                                 (out.argmax(1) == y).float().mean().item())


def save_state_dict(sd, path):
    """What safetensors.torch.save_file writes (no metadata)."""
    header, blobs, off = {}, [], 0
    for k, v in sd.items():
        dtype = {torch.float32: "F32", torch.int64: "I64"}[v.dtype]
        b = v.contiguous().numpy().tobytes()
        header[k] = {"dtype": dtype, "shape": list(v.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


# ------------------------------------------------------------------ the PyTorch side
class NAdam2(torch.optim.Optimizer):
    """torch.optim.NAdam as PyTorch 2 computes it (_single_tensor_nadam): 1.13's, this test's
    torch, multiplies one more mu_t into the product of its exp_avg step (mu_product_next =
    mu_product * mu * mu_next), which PyTorch 2 corrected to Dozat's mu_product * mu_next."""

    def __init__(self, params, lr, betas, eps, weight_decay, momentum_decay):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      momentum_decay=momentum_decay))

    @torch.no_grad()
    def step(self):
        for g in self.param_groups:
            b1, b2 = g["betas"]
            for p in g["params"]:
                st = self.state[p]
                if not st:
                    st.update(step=0, mu_product=torch.tensor(1.0), exp_avg=torch.zeros_like(p),
                              exp_avg_sq=torch.zeros_like(p))
                st["step"] += 1
                t = st["step"]
                grad = p.grad if g["weight_decay"] == 0 else p.grad.add(p, alpha=g["weight_decay"])
                mu = b1 * (1. - 0.5 * (0.96 ** (t * g["momentum_decay"])))
                mu_next = b1 * (1. - 0.5 * (0.96 ** ((t + 1) * g["momentum_decay"])))
                st["mu_product"] *= mu
                st["exp_avg"].mul_(b1).add_(grad, alpha=1 - b1)
                st["exp_avg_sq"].mul_(b2).addcmul_(grad, grad, value=1 - b2)
                denom = st["exp_avg_sq"].sqrt().div_(math.sqrt(1 - b2 ** t)).add_(g["eps"])
                prod = st["mu_product"].item()
                p.addcdiv_(grad, denom, value=-g["lr"] * (1. - mu) / (1. - prod))
                p.addcdiv_(st["exp_avg"], denom, value=-g["lr"] * mu_next / (1. - prod * mu_next))


def flags(words):
    """ctrain train's flags as a dict (a flag without a value: True)."""
    out, i = {}, 0
    while i < len(words):
        name = words[i][2:]
        if i + 1 < len(words) and not words[i + 1].startswith("--"):
            out[name], i = words[i + 1], i + 2
        else:
            out[name], i = True, i + 1
    return out


def reference(data, f):
    """The epochs of the training the flags f describe, as a plain PyTorch loop: a list of
    {"lr", "train_loss", "train_acc"[, "val_loss", "val_acc"]}."""
    torch.set_num_threads(1)
    x = idx(os.path.join(data, "train-images-idx3-ubyte")).float().div(255).unsqueeze(1)
    y = idx(os.path.join(data, "train-labels-idx1-ubyte")).long()
    n_val = int(f.get("val-size", 10000))
    tr, va = split(len(x), n_val, int(f.get("seed", 42)))
    xv, yv = x[va], y[va]
    batch = int(f["batch-size"])
    spe = -(-len(tr) // batch)  # steps an epoch

    model = ctrain_torch.build_model(f["model"], (1, 28, 28))
    model.load_state_dict(ctrain_torch.load_state_dict(f["init"]), strict=True)
    # --freeze LAYER: it and the modules before it keep their weights (requires_grad_(False)) and
    # run as at inference (eval(), as Keras' base_model(x, training=False)); backbone: up to the
    # module with weights before the last
    frozen = []
    if f.get("freeze", "off") != "off":
        names = list(model._modules)
        weighted = [n for n in names if any(True for _ in model._modules[n].parameters())]
        last = weighted[-2] if f["freeze"] == "backbone" else f["freeze"]
        frozen = [model._modules[n] for n in names[:names.index(last) + 1]]
        for mod in frozen:
            mod.requires_grad_(False)
    params = [p for p in model.parameters() if p.requires_grad]
    opt_params = params
    # --bias-weight-decay, --norm-weight-decay: torchvision's set_weight_decay param groups
    # (a bias by its name first, then batch norm's by its module)
    if "bias-weight-decay" in f or "norm-weight-decay" in f:
        groups = {}
        for mod in model.modules():
            for pname, p in mod.named_parameters(recurse=False):
                if not p.requires_grad:
                    continue
                key = ("bias" if pname == "bias" and "bias-weight-decay" in f else
                       "norm" if isinstance(mod, _NORM_CLASSES) and "norm-weight-decay" in f
                       else "other")
                groups.setdefault(key, []).append(p)
        opt_params = [{"params": ps, **({"weight_decay": float(f[key + "-weight-decay"])} if key != "other" else {})}
                  for key, ps in groups.items()]

    kind = f.get("optimizer", "sgd")
    if "schedule" in f:  # ctrain's phases: EPOCHS@LR,...
        phases = [(int(p.split("@")[0]), float(p.split("@")[1])) for p in f["schedule"].split(",")]
    else:
        phases = [(int(f["epochs"]), float(f["lr"]))]
    epochs, lr = sum(e for e, _ in phases), phases[0][1]
    wd = float(f.get("weight-decay", 0.01 if kind == "adamw" else 0.0))
    if kind == "sgd":  # (Nesterov with a cycled momentum: OneCycleLR sets it before each step)
        mom = float(f.get("momentum", 0.9 if "nesterov" in f else 0))
        opt = torch.optim.SGD(opt_params, lr=lr, momentum=mom, weight_decay=wd,
                              nesterov="nesterov" in f)
    elif kind == "rmsprop":  # (a cycled momentum: OneCycleLR sets it, as SGD's)
        opt = torch.optim.RMSprop(opt_params, lr=lr, alpha=float(f.get("alpha", 0.99)),
                                  eps=float(f.get("eps", 1e-8)), weight_decay=wd,
                                  momentum=float(f.get("momentum", 0)), centered="centered" in f)
    elif kind == "nadam":
        b1, b2 = (float(b) for b in f.get("betas", "0.9,0.999").split(","))
        opt = NAdam2(opt_params, lr=lr, betas=(b1, b2), eps=float(f.get("eps", 1e-8)), weight_decay=wd,
                     momentum_decay=float(f.get("momentum-decay", 0.004)))
    elif kind == "adagrad":
        opt = torch.optim.Adagrad(opt_params, lr=lr, lr_decay=float(f.get("lr-decay", 0)),
                                  weight_decay=wd, eps=float(f.get("eps", 1e-10)),
                                  initial_accumulator_value=float(f.get("initial-accumulator", 0)))
    else:
        b1, b2 = (float(b) for b in f.get("betas", "0.9,0.999").split(","))
        cls = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "radam": torch.optim.RAdam,
               "adamax": torch.optim.Adamax}[kind]
        extra = {"amsgrad": True} if "amsgrad" in f else {}
        opt = cls(opt_params, lr=lr, betas=(b1, b2), eps=float(f.get("eps", 1e-8)), weight_decay=wd,
                  **extra)

    # The schedule runs on a stand-in optimizer whose lr the real one takes each epoch, times
    # LinearLR's factor (run on another): ctrain's warm-up multiplies any schedule's lr ("ctrain
    # help train"). (torch's ChainedScheduler composes the schedulers' recursive forms instead,
    # the same for StepLR, LinearLR, ReduceLROnPlateau and CosineAnnealingLR with eta_min 0.)
    def stand_in(lr0):
        return torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=lr0)
    sched_opt, warm_opt = stand_in(lr), stand_in(1.0)
    sched_name, sched, warm, plateau = f.get("lr-schedule", "phases"), None, None, None
    # --lr-step epoch: the schedulers count epochs and step once an epoch; --warmup-sequential:
    # torchvision's SequentialLR([warm-up, schedule], milestones=[W]) on the schedule's stand-in,
    # the schedule over the epochs after the warm-up
    by_epoch = f.get("lr-step") == "epoch"
    units = 1 if by_epoch else spe
    sequential = "warmup-sequential" in f
    w_epochs = int(f.get("warmup-epochs", 0))
    span = epochs - w_epochs if sequential else epochs  # (the schedule's epochs)
    per_epoch = None  # ExponentialLR, stepped once an epoch
    cycled = False
    gamma = float(f.get("gamma", 0.1))
    if sched_name == "step":
        sched = torch.optim.lr_scheduler.StepLR(sched_opt, int(f["step-size"]) * units, gamma)
    elif sched_name == "multistep":
        sched = torch.optim.lr_scheduler.MultiStepLR(
            sched_opt, [int(m) * units for m in f["milestones"].split(",")], gamma)
    elif sched_name == "polynomial":
        sched = torch.optim.lr_scheduler.PolynomialLR(sched_opt, total_iters=span * units,
                                                      power=float(f.get("power", 1)))
    elif sched_name == "cosine":
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(sched_opt, span * units,
                                                           eta_min=float(f.get("eta-min", 0)))
    elif sched_name == "onecycle":  # with cycle_momentum, the stand-in's momentum cycles too:
        # the real optimizer takes it as its momentum (SGD) or beta1 (Adam, AdamW)
        cyc = f.get("cycle-momentum", "off" if kind == "adagrad" else "on")
        base_m, max_m = (0.85, 0.95) if cyc in ("on", "off") else (float(v) for v in cyc.split(","))
        sched = torch.optim.lr_scheduler.OneCycleLR(
            sched_opt, max_lr=lr, total_steps=epochs * units,
            pct_start=float(f.get("pct-start", 0.3)), cycle_momentum=cyc != "off",
            base_momentum=base_m, max_momentum=max_m, div_factor=float(f.get("div-factor", 25)),
            final_div_factor=float(f.get("final-div-factor", 1e4)),
            three_phase="three-phase" in f, anneal_strategy=f.get("anneal", "cos"))
        cycled = cyc != "off"
    elif sched_name == "cyclic":  # CyclicLR (its momentum, or beta1, cycled as onecycle's is)
        cyc = f.get("cycle-momentum", "off" if kind == "adagrad" else "on")
        base_m, max_m = (0.8, 0.9) if cyc in ("on", "off") else (float(v) for v in cyc.split(","))
        mode = f.get("cyclic-mode", "triangular")
        sched = torch.optim.lr_scheduler.CyclicLR(
            sched_opt, base_lr=float(f["base-lr"]), max_lr=lr,
            step_size_up=float(f.get("step-size-up", 2000)),
            step_size_down=float(f["step-size-down"]) if "step-size-down" in f else None,
            mode=mode, gamma=float(f.get("gamma", 1.0)), cycle_momentum=cyc != "off",
            base_momentum=base_m, max_momentum=max_m)
        cycled = cyc != "off"
    elif sched_name == "cosine-restarts":  # stepped per batch at the fractional epoch of the
        # next batch (batch i of epoch e trains at e + i / iters)
        sched = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(
            sched_opt, T_0=int(f["t0"]), T_mult=int(f.get("t-mult", 1)),
            eta_min=float(f.get("eta-min", 0)))
    elif sched_name == "exponential":
        per_epoch = torch.optim.lr_scheduler.ExponentialLR(sched_opt, gamma=float(f["gamma"]))
    elif sched_name == "plateau":
        plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(
            sched_opt, factor=gamma, patience=int(f.get("lr-patience", 10)),
            mode="max" if f.get("monitor") == "val_acc" else "min",
            threshold=float(f.get("lr-threshold", 1e-4)),
            threshold_mode=f.get("lr-threshold-mode", "rel"),
            cooldown=int(f.get("lr-cooldown", 0)), min_lr=float(f.get("min-lr", 0)))
    warm_on = sched_opt if sequential else warm_opt
    if w_epochs > 0 and f.get("warmup-method") == "constant":
        warm = torch.optim.lr_scheduler.ConstantLR(
            warm_on, factor=float(f.get("warmup-start-factor", 1 / 3)),
            total_iters=w_epochs * units)
    elif w_epochs > 0:
        warm = torch.optim.lr_scheduler.LinearLR(
            warm_on, start_factor=float(f.get("warmup-start-factor", 1 / 3)),
            total_iters=w_epochs * units)
    if sequential:  # (torchvision's recipe: one scheduler, the warm-up's then the schedule's)
        sched = torch.optim.lr_scheduler.SequentialLR(
            sched_opt, [warm, sched or torch.optim.lr_scheduler.ConstantLR(sched_opt, 1.0)],
            milestones=[w_epochs * units])
        warm = None
    clip = float(f.get("clip-grad-norm", 0))
    clip_value, clamped = float(f.get("clip-grad-value", 0)), 0
    smooth = float(f.get("label-smoothing", 0))  # ctrain reports the smoothed loss everywhere
    cw = None  # --class-weight: Keras' class_weight, each sample's loss times its class' weight
    if f.get("class-weight", "off") == "balanced":  # scikit-learn's compute_class_weight
        counts = torch.bincount(y[tr], minlength=10).double()
        cw = torch.where(counts > 0, len(tr) / ((counts > 0).sum() * counts), 0.0).float()
    elif f.get("class-weight", "off") != "off":
        cw = torch.tensor([float(v) for v in f["class-weight"].split(",")])
    ema = None  # --ema: torchvision's ExponentialMovingAverage (its reference scripts' --model-ema)
    if "ema" in f:
        decay = float(f["ema"])

        def ema_avg(avg, p, n):  # n: the updates before this one (the first copies p)
            d = decay
            if "ema-warmup" in f:  # TensorFlow's num_updates rule, update k = n (from 1, below)
                d = min(decay, (1 + n.item()) / (10 + n.item()))
            return d * avg + (1 - d) * p
        ema = torch.optim.swa_utils.AveragedModel(model, avg_fn=ema_avg, use_buffers=True)
        if "ema-warmup" in f:  # no copy at the first update: it averages the initial weights in
            ema.n_averaged.fill_(1)

    # --swa-start: AveragedModel (parameters averaged, use_buffers=False); SWALR on a stand-in
    # optimizer made at the start of epoch swa_start, stepped
    # after each epoch from there; update_bn at the end
    swa, swa_start, swalr, swa_opt = None, None, None, None
    if "swa-start" in f:
        s = f["swa-start"]
        swa_start = int(float(s) * epochs) if "." in s else int(s)
        swa = torch.optim.swa_utils.AveragedModel(model)

    out, e0, norms, sched_lrs = [], 0, [], []
    for p, (n_epochs, phase_lr) in enumerate(phases):
        if p > 0:  # the next phase: its lr (ctrain's phases, as the tutorial sets them)
            sched_opt.param_groups[0]["lr"] = phase_lr
        for e in range(e0, e0 + n_epochs):
            sched_lrs.append(sched_opt.param_groups[0]["lr"])
            model.train()
            for mod in frozen:
                mod.eval()
            order = tr if spe == 1 else shuffled(tr, int(f.get("seed", 42)), e)
            row, loss_sum, correct = {}, 0.0, 0
            if e == swa_start and "swa-lr" in f:  # from the lr the schedule has reached
                swa_opt = stand_in(sched_opt.param_groups[0]["lr"] * warm_opt.param_groups[0]["lr"])
                swalr = torch.optim.swa_utils.SWALR(
                    swa_opt, swa_lr=float(f["swa-lr"]),
                    anneal_epochs=int(f.get("swa-anneal-epochs", 10)),
                    anneal_strategy=f.get("swa-anneal", "cos"))
            for i in range(0, len(order), batch):
                for g in opt.param_groups:
                    g["lr"] = sched_opt.param_groups[0]["lr"] * warm_opt.param_groups[0]["lr"]
                    if swalr:
                        g["lr"] = swa_opt.param_groups[0]["lr"]
                    if cycled:
                        m = sched_opt.param_groups[0]["momentum"]
                        if kind in ("sgd", "rmsprop"):
                            g["momentum"] = m
                        else:
                            g["betas"] = (m, g["betas"][1])
                row.setdefault("lr", opt.param_groups[0]["lr"])  # (the epoch's first step's)
                xb, yb = x[order[i:i + batch]], y[order[i:i + batch]]
                mix = mix_draw(f, e, i // batch, 28, 28)
                target, hit_label = yb, yb
                if mix:  # torchvision's RandomMixup / RandomCutmix (p=1) with ctrain's draws
                    kind, lam, box = mix
                    if kind == "mixup":
                        xb = lam * xb + (1.0 - lam) * xb.roll(1, 0)
                    else:
                        xb = xb.clone()
                        xb[:, :, box[0]:box[1], box[2]:box[3]] = xb.roll(1, 0)[:, :, box[0]:box[1], box[2]:box[3]]
                    onehot = nn.functional.one_hot(yb, 10).float()
                    target = lam * onehot + (1.0 - lam) * onehot.roll(1, 0)
                    hit_label = target.max(1)[1]
                opt.zero_grad()
                logits = model(xb)
                if mix:
                    loss = nn.functional.cross_entropy(logits, target, label_smoothing=smooth)
                elif cw is None:
                    loss = nn.functional.cross_entropy(logits, yb, label_smoothing=smooth)
                else:  # the mean over the batch's samples (Keras'), not weight=cw's weighted mean
                    loss = (nn.functional.cross_entropy(logits, yb, label_smoothing=smooth,
                                                        reduction="none") * cw[yb]).mean()
                loss.backward()
                if clip > 0:
                    norms.append(nn.utils.clip_grad_norm_(params, clip).item())
                if clip_value > 0:  # (it must clamp some: counted for the check below)
                    clamped += sum(int((p.grad.abs() > clip_value).sum()) for p in params)
                    nn.utils.clip_grad_value_(params, clip_value)
                opt.step()
                if ema:
                    ema.update_parameters(model)  # (validation evaluates the average)
                loss_sum += loss.item() * len(yb)
                correct += (logits.argmax(1) == hit_label).sum().item()
                sched_opt.step()  # (no gradients: nothing moves; schedulers expect a step first)
                warm_opt.step()
                if by_epoch:
                    pass
                elif sched and sched_name == "cosine-restarts" and not sequential:
                    sched.step(e + (i // batch + 1) / spe)
                elif sched:
                    sched.step()
                if warm and not by_epoch:
                    warm.step()
            if by_epoch:  # (a loop calling scheduler.step() after each epoch)
                if sched:
                    sched.step()
                if warm:
                    warm.step()
            row["train_loss"] = loss_sum / len(tr)
            row["train_acc"] = correct / len(tr)
            if swa and e >= swa_start:
                swa.update_parameters(model)
                if swalr:
                    swa_opt.step()  # (no gradients: nothing moves; schedulers expect a step first)
                    swalr.step()
            if n_val > 0:
                judged = ema.module if ema else model
                judged.eval()
                with torch.no_grad():
                    lv = judged(xv)
                row["val_loss"] = nn.functional.cross_entropy(lv, yv, label_smoothing=smooth).item()
                row["val_acc"] = (lv.argmax(1) == yv).float().mean().item()
            if plateau:
                plateau.step(row[f.get("monitor", "val_loss")])
            if per_epoch:
                per_epoch.step()
            out.append(row)
        e0 += n_epochs
    final = None
    if swa:  # (one pass over the training split in its order, in training batches)
        torch.optim.swa_utils.update_bn([x[tr[i:i + batch]] for i in range(0, len(tr), batch)], swa)

        def val_of(state):  # a model of these weights on the validation images
            judged = ctrain_torch.build_model(f["model"], (1, 28, 28))
            judged.load_state_dict(state, strict=True)
            judged.eval()
            with torch.no_grad():
                lv = judged(xv)
            return nn.functional.cross_entropy(lv, yv, label_smoothing=smooth).item()
        final = (swa.module.state_dict(), val_of)
    # a case must test what it names: clipping that clips, a plateau that cuts the lr
    clipped = sum(g > clip for g in norms)
    if clip > 0 and not clipped:
        raise ValueError("no gradient norm above --clip-grad-norm %g: nothing clipped" % clip)
    if clip_value > 0 and not clamped:
        raise ValueError("no gradient above --clip-grad-value %g: nothing clamped" % clip_value)
    if plateau and min(sched_lrs) == lr:
        raise ValueError("the plateau schedule never cut the lr")
    return out, len(tr), n_val, "%d of %d steps clipped, gradient norms %s; " % (
        clipped, len(norms), " ".join("%.3g" % g for g in norms)) if clip else "", final


def compare(name, log, f, data):
    want, n_train, n_val, note, final = reference(data, f)
    try:
        got = [json.loads(line) for line in open(log)]
    except (OSError, ValueError) as ex:
        return "FAIL %s: no log from ctrain (%s)" % (name, ex)
    if len(got) != len(want):
        return "FAIL %s: %d epochs logged, PyTorch ran %d" % (name, len(got), len(want))
    worst, fails = {}, []
    for e, (g, w) in enumerate(zip(got, want)):
        for key, wv in w.items():
            gv = g.get(key)
            if gv is None:
                fails.append("epoch %d: no %s" % (e, key))
                continue
            if key.endswith("_acc"):
                d, tol = abs(gv - wv) * (n_train if key == "train_acc" else n_val), 1.01  # images
            else:
                d, tol = abs(gv - wv) / max(abs(wv), 1e-30), 1e-6 if key == "lr" else RTOL
            worst[key] = max(worst.get(key, 0.0), d)
            if not d <= tol:
                fails.append("epoch %d %s: ctrain %.9g, PyTorch %.9g" % (e, key, gv, wv))
    if final is not None:  # SWA's model, as saved, against AveragedModel's after update_bn
        try:
            saved = ctrain_torch.load_state_dict(os.path.join(f["save"], "model.safetensors"))
        except (OSError, ValueError, KeyError) as ex:
            return "FAIL %s: no SWA model from ctrain (%s)" % (name, ex)
        state, val_of = final
        if sorted(saved) != sorted(state):
            fails.append("SWA model: tensors %s, PyTorch's %s" % (sorted(saved), sorted(state)))
        # (a ResNet's weights drift apart by more: conv before batch norm is scale-invariant,
        # and rounding moves it along directions that change no loss; its val_loss is compared)
        for key in sorted(set(saved) & set(state)) if "residual" not in f["model"] else []:
            g, w = saved[key].double(), state[key].double()
            d = (g - w).abs().max().item() / max(w.abs().max().item(), 1e-30)
            worst["swa_weights"] = max(worst.get("swa_weights", 0.0), d)
            if not d <= RTOL:
                fails.append("SWA model %s: differs by %.3g of its largest value" % (key, d))
        if n_val > 0 and not fails:
            g, w = val_of(saved), val_of(state)
            d = abs(g - w) / abs(w)
            worst["swa_val_loss"] = d
            if not d <= RTOL:
                fails.append("SWA model's val_loss: ctrain's %.9g, PyTorch's %.9g" % (g, w))
    summary = ", ".join("%s %.1e" % (k, v) if not k.endswith("_acc") else "%s %d" % (k, round(v))
                        for k, v in worst.items())
    lrs = " ".join("%.4g" % w["lr"] for w in want)
    losses = " ".join("%.4f" % w["train_loss"] for w in want)
    if fails:
        return "FAIL %s: %s (largest differences: %s; PyTorch's lrs %s, train losses %s)" % (
            name, "; ".join(fails[:4]) + ("; ..." if len(fails) > 4 else ""), summary, lrs, losses)
    return "ok %s: %d epochs as PyTorch (%slr %s; train_loss %s; largest differences, relative " \
           "or in images: %s)" % (name, len(want), note, lrs, losses, summary)


def main(argv):
    if argv[1] == "init" and len(argv) > 2 and (len(argv) - 2) % 3 == 0:
        for i in range(2, len(argv), 3):
            out, spec, seed = argv[i], argv[i + 1], int(argv[i + 2])
            torch.manual_seed(seed)
            model = ctrain_torch.build_model(spec, (1, 28, 28))
            save_state_dict(model.state_dict(), out)
        return 0
    if argv[1] == "compare":
        data, cases = argv[2], argv[3]
        for line in open(cases):
            name, log, words = line.rstrip("\n").split("|", 2)
            try:
                print(compare(name, log, flags(shlex.split(words)), data), flush=True)
            except Exception as ex:  # one case's error is that case's failure
                print("FAIL %s: %s: %s" % (name, type(ex).__name__, ex), flush=True)
        return 0
    raise SystemExit(__doc__)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
