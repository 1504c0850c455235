"""torchvision_augment.py — ctrain's augmentation of training images (src/backend/augment.h)
against torchvision's: each image of tests/augment_dump's cases, with the parameters ctrain drew
for it, redone as torchvision.transforms.Compose([RandomAffine, RandomCrop(padding),
RandomHorizontalFlip, RandomVerticalFlip]) applies them (functional.affine on a float64
tensor, fill 0; pad; crop; hflip; vflip), or Compose([RandomResizedCrop, RandomHorizontalFlip,
RandomVerticalFlip]) (functional.resized_crop, bilinear, antialias=True; hflip; vflip), must give ctrain's pixels: bilinear within 1e-4 (of 255),
nearest exactly but for a pixel in 2000 (a sampling point within rounding of a half pixel may
round either way). The drawn parameters must lie in RandomAffine's ranges, and the shifts be
whole pixels as its get_params rounds them. Then ColorJitter (functional.adjust_brightness,
adjust_contrast, adjust_saturation, adjust_hue on the image in [0, 1], in the order and by the
factors ctrain drew; the orders and factors of 4000 draws distributed as ColorJitter.get_params
draws them: each of the 24 orders 4000/24 times within 5 standard deviations, the factors'
KS distance at most 0.05). Then RandomErasing (functional.erase of the box ctrain drew, to its
fill). RandomResizedCrop's and RandomErasing's boxes (drawn from ctrain's
own random numbers) must be distributed as torchvision's get_params draws them: the
two-sample Kolmogorov-Smirnov distance between 4000 of each, for the box's area, aspect ratio
and place, at most 0.05 (for boxes of one distribution, a larger distance has a chance below
1e-4). Then torchvision's automatic augmentations, against torchvision's own
autoaugment._apply_op on uint8 tensors: TrivialAugmentWide (check_ta: each image's op on the
bytes ctrain's op took, which must be torchvision's resized crop, rounded, and flip; exact but
for a nearest warp's pixel in 2000 and bilinear sums within 1e-3 of a half; the ops and bins
uniform, the signs half; the magnitude tables value for value), RandAugment and AutoAugment
(check_aa: the magnitudes torchvision's, RandAugment's num_ops ops at bin `magnitude` of
_augmentation_space(bins, (h, w)), AutoAugment's the ops of its policy's pair the image drew, in
order, a subset, at table[magnitude_id]; each op, on the bytes ctrain's op before it gave, exactly
torchvision's but for a warp's sampling points or sums within rounding of a half (op_allowed);
the output the last op's bytes, erased; and torchvision's ops alone, one after another from the
first bytes, exactly ctrain's output for every image with no such point or sum; check_ra_draws,
check_aa_draws: RandAugment's ops uniform over the 14 and independent, AutoAugment's pair
uniform over the 25 and each op applied with its chance, the signs half, all within 5 standard
deviations; check_tables: RandAugment's and AutoAugment's magnitude tables value for value).
Without AVX2 (CT_TA_NO_AVX2 set) the table comparisons print SKIP and the drawn magnitudes are
held within 1e-6 (PyTorch's other kernels compute linspace's last bits otherwise).
Usage: python3 torchvision_augment.py cases.jsonl
"""
import json
import math
import os
import sys

import torch
import torchvision.transforms.functional as F
from torchvision.transforms import InterpolationMode

fails = 0


def check(ok, what):
    global fails
    print(("ok   - " if ok else "FAIL - ") + what)
    if not ok:
        fails += 1


def ks_distance(a, b):
    """the two-sample Kolmogorov-Smirnov statistic of samples a and b"""
    a, b = sorted(a), sorted(b)
    i = j = 0
    d = 0.0
    while i < len(a) and j < len(b):
        v = min(a[i], b[j])
        while i < len(a) and a[i] == v:
            i += 1
        while j < len(b) and b[j] == v:
            j += 1
        d = max(d, abs(i / len(a) - j / len(b)))
    return d


def box_stats(boxes, h, w):
    """each box's area share, log aspect ratio and place (of the free rows and columns)"""
    return {
        "area": [bh * bw / (h * w) for _, _, bh, bw in boxes],
        "log ratio": [math.log(bw / bh) for _, _, bh, bw in boxes if bh and bw],
        "top": [t / (h - bh) if h > bh else 0.5 for t, _, bh, _ in boxes],
        "left": [l / (w - bw) if w > bw else 0.5 for _, l, _, bw in boxes],
    }


def check_jitter_draws(case):
    from torchvision.transforms import ColorJitter
    b, c, s, h = case["jitter_draws"]
    ours = case["draws"]
    torch.manual_seed(4242)
    cj = ColorJitter(brightness=b, contrast=c, saturation=s, hue=h)
    theirs = []
    for _ in range(len(ours)):
        order, fb, fc, fs, fh = ColorJitter.get_params(cj.brightness, cj.contrast,
                                                      cj.saturation, cj.hue)
        theirs.append(list(order.tolist()) + [fb, fc, fs, fh])
    name = "ColorJitter draws (brightness %g, contrast %g, saturation %g, hue %g)" % (b, c, s, h)
    counts = {}
    for d in ours:
        counts[tuple(d[:4])] = counts.get(tuple(d[:4]), 0) + 1
    expect = len(ours) / 24.0
    sd = math.sqrt(expect * (1 - 1 / 24.0))
    check(len(counts) == 24 and all(abs(n - expect) <= 5 * sd for n in counts.values()),
          "%s: each of the 24 orders about as often (%d to %d of %d, expected %.0f)" % (
              name, min(counts.values()), max(counts.values()), len(ours), expect))
    for k, what in enumerate(["brightness", "contrast", "saturation", "hue"]):
        d = ks_distance([x[4 + k] for x in ours], [x[4 + k] for x in theirs])
        check(d <= 0.05, "%s: %s factors distributed as torchvision's (KS distance %.3f)" % (
            name, what, d))


def check_erase_boxes(case):
    from torchvision.transforms import RandomErasing
    h, w = case["erase_boxes_of"]
    ours = case["boxes"]
    torch.manual_seed(len(ours) + h * 100 + w + 1)
    img = torch.zeros(1, h, w)
    theirs = [RandomErasing.get_params(img, scale=(0.02, 0.33), ratio=(0.3, 3.3), value=[0])[:4]
              for _ in range(len(ours))]
    name = "RandomErasing boxes of %dx%d" % (h, w)
    # (a side may round to 0 pixels: torchvision then erases nothing, and so does ctrain)
    check(all(0 <= t and 0 <= l and 0 <= bh and 0 <= bw and t + bh <= h and l + bw <= w
              for t, l, bh, bw in ours), "%s: every box inside the image" % name)
    none_ours = sum(1 for b in ours if b == [0, 0, h, w])
    none_theirs = sum(1 for b in theirs if tuple(b) == (0, 0, h, w))
    check(abs(none_ours - none_theirs) <= 0.03 * len(ours) + 10,
          "%s: as often none fits as in torchvision (%d and %d of %d)" % (
              name, none_ours, none_theirs, len(ours)))
    a, b = box_stats(ours, h, w), box_stats(theirs, h, w)
    for key in a:
        d = ks_distance(a[key], b[key])
        check(d <= 0.05, "%s: %s distributed as torchvision's (KS distance %.3f)" % (name, key, d))


def check_boxes(case):
    from torchvision.transforms import RandomResizedCrop
    h, w = case["boxes_of"]
    ours = case["boxes"]
    torch.manual_seed(len(ours) + h * 100 + w)
    img = torch.zeros(1, h, w)
    theirs = [RandomResizedCrop.get_params(img, case["area"], case["ratio"])
              for _ in range(len(ours))]
    name = "RandomResizedCrop boxes of %dx%d, scale %g:%g, ratio %.4g:%.4g" % (
        h, w, case["area"][0], case["area"][1], case["ratio"][0], case["ratio"][1])
    check(all(0 <= t and 0 <= l and 0 < bh and 0 < bw and t + bh <= h and l + bw <= w
              for t, l, bh, bw in ours), "%s: every box inside the image" % name)
    a, b = box_stats(ours, h, w), box_stats(theirs, h, w)
    for key in a:
        d = ks_distance(a[key], b[key])
        check(d <= 0.05, "%s: %s distributed as torchvision's (KS distance %.3f)" % (name, key, d))


TA_WARPS = ("ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate")


def pre_bytes(im, c, h, w):
    """the bytes an image's first op takes, as a uint8 tensor, and how many of them are not
    torchvision's resized crop (rounded half to even from its float32: a value within float32
    rounding of a half, 2e-5 at 255, may go either way) and flip of the input"""
    x = torch.tensor(im["in"], dtype=torch.uint8).reshape(c, h, w)
    pre = torch.tensor(im["pre"], dtype=torch.uint8).reshape(c, h, w)
    top, left, bh, bw = im["box"]
    x = x.double()
    if bh:
        x = F.resized_crop(x, top, left, bh, bw, [h, w],
                           interpolation=InterpolationMode.BILINEAR, antialias=True)
    if im["flip"]:
        x = F.hflip(x)
    near_half = ((x - x.floor()) - 0.5).abs() < 2e-5
    pre_d = pre.double()
    bad = int(((pre_d != x.round()) & ~(near_half & ((pre_d == x.floor()) |
                                                     (pre_d == x.ceil())))).sum().item())
    return pre, bad


def erase_as(ref, im, case, c):
    """ref (float64) with the box ctrain erased, if any, at the case's fill"""
    ey, ex, eh, ew = im["erased"]
    if not eh:
        return ref
    fill = torch.tensor([255.0 * f for f in case["fill"]][:c], dtype=torch.float64)
    return F.erase(ref, ey, ex, eh, ew, fill[:, None, None])


def check_ta(case):
    """TrivialAugmentWide: each image's op redone by torchvision's own autoaugment._apply_op on
    the uint8 tensor of the bytes ctrain's op took (which must be torchvision's resized crop,
    rounded, and flip of the input); exact, but for the nearest warps' pixel in 2000
    (torchvision's grid is float32, ctrain's double: a point within rounding of a half pixel may
    round the other way) and the bilinear warps' sums within 1e-3 of a half"""
    from torchvision.transforms import autoaugment as AA
    bins, c, h, w = case["ta"], case["c"], case["h"], case["w"]
    space = AA.TrivialAugmentWide(num_magnitude_bins=bins)._augmentation_space(bins)
    names = list(space.keys())
    mode = InterpolationMode.BILINEAR if case["bilinear"] else InterpolationMode.NEAREST
    name = "TrivialAugmentWide(%d, %s) of c%d %dx%d" % (bins, mode.value, c, h, w)
    in_table, pre_bad, pre_total, per_op = True, 0, 0, {}
    for im in case["images"]:
        pre, bad = pre_bytes(im, c, h, w)
        pre_bad += bad
        pre_total += pre.numel()
        op, mag = names[im["op"]], im["mag"]
        mags, signed = space[op]
        table = [float(v) for v in mags.reshape(-1)]
        in_table &= (abs(mag) if signed else mag) in table and (signed or mag >= 0)
        ref = AA._apply_op(pre, op, mag, interpolation=mode, fill=None)
        ref = ref.double()
        ey, ex, eh, ew = im["erased"]
        if eh:
            fill = torch.tensor([255.0 * f for f in case["fill"]][:c], dtype=torch.float64)
            ref = F.erase(ref, ey, ex, eh, ew, fill[:, None, None])
        ours = torch.tensor(im["out"], dtype=torch.float64).reshape(c, h, w)
        diff = (ours - ref).abs()
        off = diff > 1e-3
        if op in TA_WARPS and case["bilinear"]:
            # the sums unrounded (float64): where one lies within 1e-3 of a half, float32's and
            # float64's may round either way
            exact = AA._apply_op(pre.double(), op, mag, interpolation=mode, fill=None)
            if eh:
                exact = F.erase(exact, ey, ex, eh, ew, fill[:, None, None])
            near = ((exact - exact.floor()) - 0.5).abs() < 1e-3
            byte = ours.round()
            off &= ~(near & ((byte == exact.floor()) | (byte == exact.ceil())))
        st = per_op.setdefault(op, [0, 0, 0, 0.0, set()])
        st[0] += 1
        st[1] += int(off.sum().item())
        st[2] += diff.numel()
        st[3] = max(st[3], diff.max().item())
        st[4].add(mag < 0)
    if os.environ.get("CT_TA_NO_AVX2"):
        print("SKIP %s: every op's magnitude in torchvision's table: no AVX2 here, and "
              "PyTorch's other kernels compute linspace's last bits otherwise" % name)
    else:
        check(in_table, "%s: every op's magnitude in torchvision's table" % name)
    check(pre_bad == 0, "%s: the bytes the op takes are torchvision's resized crop (rounded) and "
          "flip (%d of %d differ)" % (name, pre_bad, pre_total))
    check(len(per_op) == len(names), "%s: all %d ops drawn (%d)" % (name, len(names), len(per_op)))
    for op in sorted(per_op):
        n, bad, total, worst, signs = per_op[op]
        ok = bad * 2000 <= total if op in TA_WARPS and not case["bilinear"] else bad == 0
        halves = " but for sums at a half" if op in TA_WARPS and case["bilinear"] else ""
        check(ok, "%s, %s (%d images%s): as torchvision's _apply_op on a uint8 tensor (%d of %d "
              "pixels differ%s, largest %g)" % (name, op, n, ", both signs" if len(signs) == 2
                                                else "", bad, total, halves, worst))


def check_ta_draws(case):
    """TrivialAugmentWide's ops uniform, each op's bins uniform, the signs half and half"""
    from torchvision.transforms import autoaugment as AA
    bins = case["ta_draws"]
    space = AA.TrivialAugmentWide(num_magnitude_bins=bins)._augmentation_space(bins)
    names = list(space.keys())
    draws = case["draws"]
    n = len(draws)
    counts = [sum(1 for op, _ in draws if op == k) for k in range(len(names))]
    sd = math.sqrt(n * (1 / len(names)) * (1 - 1 / len(names)))
    check(all(abs(k - n / len(names)) <= 5 * sd for k in counts),
          "TrivialAugmentWide's ops: each of the %d drawn %d times within 5 standard deviations "
          "(%s)" % (len(names), n // len(names), counts))
    rotate = [m for op, m in draws if names[op] == "Rotate"]
    table = [float(v) for v in space["Rotate"][0]]
    per_bin = [sum(1 for m in rotate if abs(m) == v) for v in table]
    sd = math.sqrt(len(rotate) / bins)
    check(all(abs(k - len(rotate) / bins) <= 5 * sd for k in per_bin),
          "TrivialAugmentWide's Rotate magnitudes: each of the %d bins within 5 standard "
          "deviations" % bins)
    neg = sum(1 for m in rotate if m < 0)
    check(abs(neg - len(rotate) / 2) <= 5 * math.sqrt(len(rotate) / 4),
          "TrivialAugmentWide's signs: %d of %d negative" % (neg, len(rotate)))


def op_names():
    """ctrain's op numbers (autoaugment.h's CT_TA_*): RandAugment's _augmentation_space order,
    then AutoAugment's Invert"""
    from torchvision.transforms import autoaugment as AA
    return list(AA.RandAugment()._augmentation_space(2, (1, 1)).keys()) + ["Invert"]


def same_mag(ours, theirs):
    """a magnitude ctrain drew against torchvision's table value: exact (linspace's float32 as
    PyTorch's AVX2 kernel gives it); without AVX2 here, PyTorch's other kernels compute the last
    bits otherwise, so within 1e-6"""
    if os.environ.get("CT_TA_NO_AVX2"):
        return math.isclose(ours, theirs, rel_tol=1e-6, abs_tol=1e-9)
    return ours == theirs


def aa_policies(policy):
    """torchvision's AutoAugment(policy).policies for ctrain's CT_AUTOAUGMENT_* number"""
    from torchvision.transforms import autoaugment as AA
    which = [AA.AutoAugmentPolicy.IMAGENET, AA.AutoAugmentPolicy.CIFAR10,
             AA.AutoAugmentPolicy.SVHN][policy - 1]
    return which.value, AA.AutoAugment(which).policies


def aa_expected(pairs, space, pair):
    """pair `pair`'s two ops as (name, chance, signed, magnitude): the table's value at the
    pair's magnitude_id (0.0 without one), as AutoAugment.forward takes it"""
    out = []
    for name, p, mid in pairs[pair]:
        mags, signed = space[name]
        out.append((name, p, signed, float(mags[mid].item()) if mid is not None else 0.0))
    return out


def op_is(entry, names, exp):
    """does ctrain's [op, magnitude] entry match the expected (name, p, signed, magnitude)"""
    op, mag = entry
    name, _, signed, value = exp
    if names[op] != name:
        return False
    return same_mag(abs(mag), value) if signed else (mag >= 0 and same_mag(mag, value))


def aa_outcome(ops, names, exp):
    """which of the pair's ops an image's ops are, in order: 'none', 'both', 'first', 'second',
    'one' (when the pair's two ops are the same op at the same magnitude), or None when they
    are not the pair's"""
    same = exp[0][0] == exp[1][0] and exp[0][3] == exp[1][3]
    if not ops:
        return "none"
    if len(ops) == 2:
        return "both" if op_is(ops[0], names, exp[0]) and op_is(ops[1], names, exp[1]) else None
    if len(ops) != 1:
        return None
    if same:
        return "one" if op_is(ops[0], names, exp[0]) else None
    if op_is(ops[0], names, exp[0]):
        return "first"
    return "second" if op_is(ops[0], names, exp[1]) else None


def warp_grid(name, mag, h, w):
    """the float64 sampling grid of _apply_op's warp (name, mag) on an h x w image: F.affine's
    (F.rotate's) inverse map as functional_tensor builds it for a float64 image"""
    import torchvision.transforms.functional_tensor as F_t
    center, angle, shift, shear = [0.0, 0.0], 0.0, [0.0, 0.0], [0.0, 0.0]
    if name in ("ShearX", "ShearY"):  # (center=[0, 0]: the corner)
        center = [0.0 - w * 0.5, 0.0 - h * 0.5]
        shear[name == "ShearY"] = math.degrees(math.atan(mag))
    elif name in ("TranslateX", "TranslateY"):
        shift[name == "TranslateY"] = 1.0 * int(mag)
    else:
        angle = -mag
    m = F._get_inverse_affine_matrix(center, angle, shift, 1.0, shear)
    theta = torch.tensor(m, dtype=torch.float64).reshape(1, 2, 3)
    return F_t._gen_affine_grid(theta, w=w, h=h, ow=w, oh=h)


def op_allowed(x, name, mag, mode):
    """torchvision's _apply_op(x, name, mag) on the uint8 tensor x, as float64, and the other
    values a pixel may take (a list of tensors, NaN where none): for a warp where the pixel's
    sampling point lies within 1e-4 pixel of a half (nearest: the grid nudged 1e-4 either way
    in x and in y) or its sum within 1e-3 of a half (bilinear: the float64 sum's floor and
    ceil), as torchvision's float32 grid and sums and ctrain's double ones may round either way
    there; and whether the float64 grid above is torchvision's (its unnudged samples those of
    _apply_op on a float64 tensor)"""
    from torchvision.transforms import autoaugment as AA
    ref = AA._apply_op(x, name, mag, interpolation=mode, fill=None).double()
    if name not in TA_WARPS:
        return ref, [], True
    c, h, w = x.shape
    grid, img = warp_grid(name, mag, h, w), x.double()[None]

    def sample(g, how):
        return torch.nn.functional.grid_sample(img, g, mode=how, padding_mode="zeros",
                                               align_corners=False)[0]
    exact = sample(grid, mode.value)
    same = torch.equal(exact, AA._apply_op(x.double(), name, mag, interpolation=mode, fill=None))
    if mode == InterpolationMode.NEAREST:
        alts = [sample(grid + torch.tensor([sx * 2e-4 / w, sy * 2e-4 / h], dtype=torch.float64),
                       "nearest") for sx in (-1, 1) for sy in (-1, 1)]
        return ref, alts, same
    near = ((exact - exact.floor()) - 0.5).abs() < 1e-3
    nan = torch.full_like(exact, math.nan)
    return ref, [torch.where(near, exact.floor(), nan), torch.where(near, exact.ceil(), nan)], same


def matches(ours, ref, alts):
    """the pixels of ours that are ref's or one of the alternatives' (within 1e-3), and those
    where an alternative is not ref's (a point or sum at a half)"""
    ok = (ours - ref).abs() <= 1e-3
    at_half = torch.zeros_like(ok)
    for alt in alts:
        ok |= (ours - alt).abs() <= 1e-3
        at_half |= (alt - ref).abs() > 1e-3
    return ok, at_half


def check_aa(case):
    """RandAugment and AutoAugment, image by image, against torchvision's own
    autoaugment._apply_op on uint8 tensors. The magnitudes must be torchvision's: RandAugment's
    every op at its bin `magnitude` of _augmentation_space(bins, (h, w)), signed ones of either
    sign, num_ops of them; AutoAugment's the ops of the policy's pair the image drew, in order,
    a subset (each op with its chance), at table[magnitude_id] of _augmentation_space(10, (h,
    w)). The bytes the first op takes must be torchvision's resized crop (rounded) and flip of
    the input. Then each op, on the bytes ctrain's op before it gave (augment_dump's steps), must
    give ctrain's bytes: exactly, but where a warp's sampling point (nearest) or sum (bilinear)
    lies within rounding of a half (op_allowed: RandAugment's and AutoAugment's round
    magnitudes, a shear of 0.2 or a rotation of 30 degrees, put whole rows and columns of
    points exactly at a half, which torchvision's float32 grid and ctrain's double one may
    round either way); ctrain's output must be the last step's bytes, erased. Last, the whole
    chain from those first bytes by torchvision's ops alone, erased: exactly ctrain's output for
    every image none of whose warps has a point or sum at a half (the others are counted and
    shown: a pixel at a half rounded the other way is carried through the ops after it)"""
    from torchvision.transforms import autoaugment as AA
    c, h, w = case["c"], case["h"], case["w"]
    names = op_names()
    mode = InterpolationMode.BILINEAR if case["bilinear"] else InterpolationMode.NEAREST
    if "ra" in case:
        nops, mag_bin, bins = case["ra"]
        space = AA.RandAugment()._augmentation_space(bins, (h, w))
        name = "RandAugment(%d, %d, %d, %s) of c%d %dx%d" % (nops, mag_bin, bins, mode.value,
                                                             c, h, w)
    else:
        pname, pairs = aa_policies(case["autoaug"])
        space = AA.AutoAugment()._augmentation_space(10, (h, w))
        name = "AutoAugment(%s, %s) of c%d %dx%d" % (pname, mode.value, c, h, w)
    images = case["images"]
    n_resized = sum(1 for im in images if im["box"][2])
    n_erased = sum(1 for im in images if im["erased"][2])
    if n_resized:
        name += ", resized crop"
    if n_erased:
        name += ", erased"
    mags_ok, count_ok, pre_bad, pre_total, seen = True, True, 0, 0, {}
    step = {}  # op: [times, pixels unlike torchvision's (and no alternative's), pixels, at half]
    grids_ok, out_bad, out_total = True, 0, 0
    chain = {"exact": [0, 0, 0], "half": [0, 0, 0]}  # images, pixels, pixels differing
    shown = []
    for i, im in enumerate(images):
        pre, bad = pre_bytes(im, c, h, w)
        pre_bad += bad
        pre_total += pre.numel()
        ops = [(names[op], mag) for op, mag in im["ops"]]
        if "ra" in case:
            count_ok &= len(ops) == nops
            for op, mag in ops:
                mags, signed = space[op]
                if mags.ndim == 0:
                    mags_ok &= mag == 0
                else:
                    want = float(mags[mag_bin].item())
                    mags_ok &= same_mag(abs(mag), want) if signed else same_mag(mag, want)
        else:
            mags_ok &= aa_outcome(im["ops"], names, aa_expected(pairs, space, im["pair"])) \
                is not None
        for op, mag in ops:
            seen.setdefault(op, set())
            if mag != 0:
                seen[op].add(mag < 0)
        # each op on ctrain's bytes before it
        steps = [torch.tensor(s_, dtype=torch.uint8).reshape(c, h, w) for s_ in im["steps"]]
        count_ok &= len(steps) == len(ops)
        x = pre
        for (op, mag), y in zip(ops, steps):
            ref, alts, same = op_allowed(x, op, mag, mode)
            grids_ok &= same
            ok, at_half = matches(y.double(), ref, alts)
            st = step.setdefault(op, [0, 0, 0, 0])
            st[0] += 1
            st[1] += int((~ok).sum().item())
            st[2] += ok.numel()
            st[3] += int((at_half & ((y.double() - ref).abs() > 1e-3)).sum().item())
            if not bool(ok.all()) and len(shown) < 5:
                shown.append("  image %d, %s %g on ctrain's bytes: %d pixels unlike torchvision's"
                             % (i, op, mag, int((~ok).sum().item())))
            x = y
        ours = torch.tensor(im["out"], dtype=torch.float64).reshape(c, h, w)
        out_bad += int(((ours - erase_as(x.double(), im, case, c)).abs() > 1e-3).sum().item())
        out_total += ours.numel()
        # the whole chain by torchvision's ops alone
        x, half = pre, False
        for op, mag in ops:
            ref, alts, _ = op_allowed(x, op, mag, mode)
            half |= bool(matches(ref, ref, alts)[1].any())
            x = ref.to(torch.uint8)
        differ = int(((ours - erase_as(x.double(), im, case, c)).abs() > 1e-3).sum().item())
        ch = chain["half" if half else "exact"]
        ch[0] += 1
        ch[1] += ours.numel()
        ch[2] += differ
        if differ and not half and len(shown) < 10:
            shown.append("  image %d, ops %s: %d pixels unlike torchvision's chain" % (
                i, [(op, round(mag, 4)) for op, mag in ops], differ))
    avx = " (within 1e-6: no AVX2 here)" if os.environ.get("CT_TA_NO_AVX2") else ""
    if "ra" in case:
        check(count_ok, "%s: every image %d ops" % (name, nops))
        check(mags_ok, "%s: every op's magnitude bin %d of torchvision's _augmentation_space(%d, "
              "(%d, %d)), signed ones of either sign%s" % (name, mag_bin, bins, h, w, avx))
        signed = [op for op in space if space[op][1] and float(space[op][0][mag_bin]) != 0]
        check(len(seen) == 14 and all(len(seen[op]) == 2 for op in signed),
              "%s: all 14 ops drawn (%d), the signed ones with both signs" % (name, len(seen)))
    else:
        check(mags_ok and count_ok, "%s: every image's ops those of the pair it drew of "
              "torchvision's policy, in order, at table[magnitude_id] of "
              "_augmentation_space(10, (%d, %d))%s" % (name, h, w, avx))
    check(pre_bad == 0, "%s: the bytes the first op takes are torchvision's resized crop "
          "(rounded) and flip (%d of %d differ)" % (name, pre_bad, pre_total))
    check(grids_ok, "%s: the warps' float64 grids here are torchvision's" % name)
    for warps in (False, True):
        ops_here = sorted(op for op in step if (op in TA_WARPS) == warps)
        if not ops_here:
            continue
        n = sum(step[op][0] for op in ops_here)
        bad = sum(step[op][1] for op in ops_here)
        total = sum(step[op][2] for op in ops_here)
        half = sum(step[op][3] for op in ops_here)
        what = ("the warps (%s), %s" % (", ".join(ops_here), mode.value) if warps else
                "the other ops (%d kinds)" % len(ops_here))
        how = ("exact but for points or sums at a half (%d pixels differ, %d of them ctrain's "
               "other way at a half)" % (bad + half, half) if warps else
               "exact (%d pixels differ)" % bad)
        check(bad == 0, "%s: %s, %d times, each on ctrain's bytes before it, as torchvision's "
              "_apply_op on a uint8 tensor: %s" % (name, what, n, how))
        for op in ops_here:
            if step[op][1]:
                print("  %s: %d times, %d of %d pixels unlike torchvision's" % (
                    op, step[op][0], step[op][1], step[op][2]))
    check(out_bad == 0, "%s: the output the last op's bytes, erased (%d of %d pixels differ)" % (
        name, out_bad, out_total))
    n, total, bad = chain["exact"]
    hn, htotal, hbad = chain["half"]
    check(bad == 0, "%s: torchvision's ops alone, one after another, exactly ctrain's output for "
          "the %d images without a point or sum at a half (%d pixels differ; the %d images with "
          "one: %d of %d pixels differ)" % (name, n, bad, hn, hbad, htotal))
    for line in shown:
        print(line)
    if n_erased:
        check(0 < n_erased < len(images), "%s: both sides of the erasing's coin" % name)


def five_sd(counts, n, q):
    """are all counts within 5 standard deviations of n q (a binomial's)"""
    sd = math.sqrt(n * q * (1 - q))
    return all(abs(k - n * q) <= 5 * sd for k in counts)


def check_ra_draws(case):
    """RandAugment's ops: each of num_ops uniform over the 14, independently (the 196 pairs
    of the first two), every magnitude the bin's, the signs half and half"""
    from torchvision.transforms import autoaugment as AA
    nops, mag_bin, bins = case["ra_draws"]
    h, w = case["h"], case["w"]
    space = AA.RandAugment()._augmentation_space(bins, (h, w))
    names = op_names()
    draws = case["draws"]
    n = len(draws)
    name = "RandAugment(%d, %d, %d)'s draws of %d images" % (nops, mag_bin, bins, n)
    check(all(len(d) == nops for d in draws), "%s: %d ops each" % (name, nops))
    for k in range(nops):
        counts = [sum(1 for d in draws if d[k][0] == op) for op in range(14)]
        check(five_sd(counts, n, 1 / 14), "%s: op %d uniform over the 14 within 5 standard "
              "deviations (%d to %d, expected %.0f)" % (name, k, min(counts), max(counts), n / 14))
    if nops >= 2:
        joint = {}
        for d in draws:
            joint[(d[0][0], d[1][0])] = joint.get((d[0][0], d[1][0]), 0) + 1
        counts = [joint.get((i, j), 0) for i in range(14) for j in range(14)]
        check(five_sd(counts, n, 1 / 196), "%s: ops 0 and 1 independent: each of the 196 pairs "
              "within 5 standard deviations (%d to %d, expected %.1f)" % (
                  name, min(counts), max(counts), n / 196))
    mags_ok = True
    for d in draws:
        for op, mag in d:
            mags, signed = space[names[op]]
            want = float(mags[mag_bin].item()) if mags.ndim else 0.0
            mags_ok &= same_mag(abs(mag) if signed else mag, want)
    check(mags_ok, "%s: every magnitude bin %d of torchvision's table" % (name, mag_bin))
    for k in range(nops):
        signs = [mag < 0 for op, mag in (d[k] for d in draws) if space[names[op]][1]]
        neg = sum(signs)
        check(abs(neg - len(signs) / 2) <= 5 * math.sqrt(len(signs) / 4),
              "%s: op %d's signs: %d of %d negative" % (name, k, neg, len(signs)))


def check_aa_draws(case):
    """AutoAugment's draws: the pair uniform over the 25, each pair's ops applied as their
    chances (torch.rand(2) <= p: both, the first only, the second only, neither, each as often
    as the chances give), the ops and magnitudes the pair's, the signs half and half"""
    from torchvision.transforms import autoaugment as AA
    policy, h, w = case["aa_draws"], case["h"], case["w"]
    pname, pairs = aa_policies(policy)
    space = AA.AutoAugment()._augmentation_space(10, (h, w))
    names = op_names()
    draws = case["draws"]
    n = len(draws)
    name = "AutoAugment(%s)'s draws of %d images" % (pname, n)
    counts = [sum(1 for p, _ in draws if p == k) for k in range(len(pairs))]
    check(len(pairs) == 25 and all(0 <= p < 25 for p, _ in draws) and five_sd(counts, n, 1 / 25),
          "%s: the pair uniform over the 25 within 5 standard deviations (%d to %d, expected %d)"
          % (name, min(counts), max(counts), n // 25))
    outcomes = [{} for _ in pairs]
    matched = True
    for p, ops in draws:
        o = aa_outcome(ops, names, aa_expected(pairs, space, p))
        matched &= o is not None
        outcomes[p][o] = outcomes[p].get(o, 0) + 1
    check(matched, "%s: every image's ops those of its pair, in order, at its magnitudes" % name)
    worst, worst_what, ok = 0.0, "", True
    for k, exp in enumerate(aa_expected(pairs, space, k) for k in range(len(pairs))):
        (n0, p0, _, _), (n1, p1, _, _) = exp
        q = {"both": p0 * p1, "first": p0 * (1 - p1), "second": (1 - p0) * p1,
             "none": (1 - p0) * (1 - p1)}
        if n0 == n1 and exp[0][3] == exp[1][3]:
            q = {"both": q["both"], "one": q["first"] + q["second"], "none": q["none"]}
        m = counts[k]
        for what, qq in q.items():
            got = outcomes[k].get(what, 0)
            sd = math.sqrt(m * qq * (1 - qq))
            ok &= abs(got - m * qq) <= 5 * sd
            z = abs(got - m * qq) / sd if sd else (0.0 if got == m * qq else math.inf)
            if z >= worst:
                worst, worst_what = z, "pair %d (%s %g, %s %g) %s: %d of %d" % (
                    k, n0, p0, n1, p1, what, got, m)
        ok &= all(what in q for what in outcomes[k])
    check(ok, "%s: each pair's ops applied as their chances, within 5 standard deviations "
          "(the farthest %.1f: %s)" % (name, worst, worst_what))
    signs = [mag < 0 for _, ops in draws for op, mag in ops
             if space[names[op]][1] and mag != 0]
    neg = sum(signs)
    check(abs(neg - len(signs) / 2) <= 5 * math.sqrt(len(signs) / 4),
          "%s: signs: %d of %d negative" % (name, neg, len(signs)))


def check_tables(case):
    """RandAugment's (bins, h, w) and AutoAugment's (10 bins, h, w) magnitude tables, every op's,
    value for value against torchvision's _augmentation_space"""
    from torchvision.transforms import autoaugment as AA
    names = op_names()
    if "ra_table" in case:
        bins, h, w = case["ra_table"]
        what = "RandAugment's magnitude tables of %d bins for %dx%d" % (bins, h, w)
        space = AA.RandAugment()._augmentation_space(bins, (h, w))
    else:
        bins, (h, w) = 10, case["aa_table"]
        what = "AutoAugment's magnitude tables for %dx%d" % (h, w)
        space = AA.AutoAugment()._augmentation_space(10, (h, w))
    if os.environ.get("CT_TA_NO_AVX2"):
        print("SKIP %s: no AVX2 here, and PyTorch's other kernels compute linspace's last bits "
              "otherwise" % what)
        return
    ok = all(case["ops"][names.index(op)] == [float(v) for v in m.reshape(-1)]
             for op, (m, _) in space.items())
    check(ok and len(case["ops"]) >= len(space), "%s: torchvision's, value for value" % what)


for line in open(sys.argv[1]):
    case = json.loads(line)
    if "ta" in case:
        check_ta(case)
        continue
    if "ta_draws" in case:
        check_ta_draws(case)
        continue
    if "ra" in case or "autoaug" in case:
        check_aa(case)
        continue
    if "ra_draws" in case:
        check_ra_draws(case)
        continue
    if "aa_draws" in case:
        check_aa_draws(case)
        continue
    if "ra_table" in case or "aa_table" in case:
        check_tables(case)
        continue
    if "ta_table" in case:
        if os.environ.get("CT_TA_NO_AVX2"):
            print("SKIP TrivialAugmentWide's magnitude tables of %d bins: no AVX2 here, and "
                  "PyTorch's other kernels compute linspace's last bits otherwise"
                  % case["ta_table"])
            continue
        from torchvision.transforms import autoaugment as AA
        bins = case["ta_table"]
        space = AA.TrivialAugmentWide(num_magnitude_bins=bins)._augmentation_space(bins)
        theirs = [[float(v) for v in m.reshape(-1)] for m, _ in space.values()]
        check(case["ops"] == theirs, "TrivialAugmentWide's magnitude tables of %d bins: "
              "torchvision's, value for value" % bins)
        continue
    if "boxes_of" in case:
        check_boxes(case)
        continue
    if "erase_boxes_of" in case:
        check_erase_boxes(case)
        continue
    if "jitter_draws" in case:
        check_jitter_draws(case)
        continue
    c, h, w, pad = case["c"], case["h"], case["w"], case["pad"]
    deg, tr, (smin, smax), sh = case["degrees"], case["translate"], case["scale"], case["shear"]
    (amin, amax), (rmin, rmax) = case["area"], case["ratio"]
    resized = amax > 0
    mode = InterpolationMode.BILINEAR if case["bilinear"] or resized else InterpolationMode.NEAREST
    name = "c%d %dx%d rotate %g translate %g scale %g:%g shear %g pad %d %s" % (
        c, h, w, deg, tr, smin, smax, sh, pad, mode.value)
    if resized:
        name = "c%d %dx%d resized crop area %g:%g ratio %.4g:%.4g, flip %d" % (
            c, h, w, amin, amax, rmin, rmax, case["flip"])
    jitter = case["jitter"]
    if any(jitter):
        name += ", jitter %g:%g:%g:%g" % tuple(jitter)
    erase_p = case["erase"]
    if erase_p:
        name += ", then erase p %g" % erase_p
    erased = greyed = 0
    if case["grey"]:
        name += ", grey p %g" % case["grey"]
    worst, mismatched, total, in_range, flips, vflips = 0.0, 0, 0, True, 0, 0
    for im in case["images"]:
        x = torch.tensor(im["in"], dtype=torch.float64).reshape(c, h, w)
        ours = torch.tensor(im["out"], dtype=torch.float64).reshape(c, h, w)
        angle, (tx, ty), scale, shear = im["angle"], im["shift"], im["scale"], im["shear"]
        in_range &= abs(angle) <= deg and abs(shear) <= sh
        in_range &= abs(tx) <= round(tr * w) and abs(ty) <= round(tr * h)
        in_range &= (smin <= scale <= smax) if smax else scale == 1.0
        if resized:
            top, left, bh, bw = im["box"]
            in_range &= 0 <= top and 0 <= left and 0 < bh and 0 < bw
            in_range &= top + bh <= h and left + bw <= w
            ref = F.resized_crop(x, top, left, bh, bw, [h, w],
                                 interpolation=InterpolationMode.BILINEAR, antialias=True)
        else:
            # (RandomAffine's fill=0 reaches F.affine as [0.0] * channels: bilinear samples
            # near the edge are then multiplied by the share of the image under them)
            ref = F.affine(x, angle=angle, translate=[tx, ty], scale=scale, shear=[shear, 0.0],
                           interpolation=mode, fill=[0.0] * c)
            if pad:
                ref = F.pad(ref, [pad, pad, pad, pad], fill=0)
            ref = F.crop(ref, im["crop"][0], im["crop"][1], h, w)
        if im["flip"]:
            ref = F.hflip(ref)
            flips += 1
        if im["vflip"]:
            ref = F.vflip(ref)
            vflips += 1
        if any(jitter):  # on the image in [0, 1], as after ToTensor
            ref = ref / 255.0
            for op in im["jorder"]:
                f = im["jf"][op]
                if not jitter[op]:
                    continue
                if op == 0:
                    ref = F.adjust_brightness(ref, f)
                elif op == 1:
                    ref = F.adjust_contrast(ref, f)
                elif op == 2 and c == 3:
                    ref = F.adjust_saturation(ref, f)
                elif op == 3 and c == 3:
                    ref = F.adjust_hue(ref, f)
            ref = ref * 255.0
        if im["grey"]:  # RandomGrayscale: rgb_to_grayscale to as many channels
            greyed += 1
            if c == 3:
                ref = F.rgb_to_grayscale(ref, num_output_channels=3)
        ey, ex, eh, ew = im["erased"]
        if eh:
            in_range &= eh < h and ew < w and 0 <= ey and 0 <= ex and ey + eh <= h and ex + ew <= w
            fill = torch.tensor([255.0 * f for f in case["fill"]][:c], dtype=torch.float64)
            ref = F.erase(ref, ey, ex, eh, ew, fill[:, None, None])
            erased += 1
        diff = (ours - ref).abs()
        worst = max(worst, diff.max().item())
        mismatched += int((diff > 1e-4).sum().item())
        total += diff.numel()
    check(in_range, "%s: the drawn parameters lie in %s's ranges" % (
        name, "RandomResizedCrop" if resized else "RandomAffine"))
    if case["bilinear"] or resized or any(jitter) or case["grey"]:
        check(worst <= 1e-4, "%s: as torchvision (largest difference %.2g of 255)" % (name, worst))
    else:
        check(mismatched * 2000 <= total,
              "%s: as torchvision (%d of %d pixels differ)" % (name, mismatched, total))
    if case["flip"]:
        check(0 < flips < len(case["images"]), "%s: both sides of the flip's coin" % name)
    if case["flip"] == 2:
        check(0 < vflips < len(case["images"]), "%s: both sides of the vertical flip's coin" % name)
    if 0 < case["grey"] < 1:
        check(0 < greyed < len(case["images"]), "%s: both sides of the greyscale's coin" % name)
    elif case["grey"] == 1:
        check(greyed == len(case["images"]), "%s: every image greyed" % name)
    if 0 < erase_p < 1:
        check(0 < erased < len(case["images"]), "%s: both sides of the erasing's coin" % name)
    elif erase_p == 1:
        check(erased >= len(case["images"]) // 2, "%s: most images erased" % name)

print("%s: %d failed" % ("FAIL" if fails else "PASS", fails))
sys.exit(1 if fails else 0)
