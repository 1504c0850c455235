"""torchvision_autoaugment.py — for torchvision_augment.py (which imports it and sets check and
ks_distance here to its own): ctrain's automatic augmentations (src/backend/autoaugment.h), from
tests/augment_dump's lines, against torchvision's own autoaugment._apply_op on uint8 tensors:
TrivialAugmentWide (check_ta, check_ta_draws), RandAugment and AutoAugment (check_aa,
check_ra_draws, check_aa_draws), AugMix (check_augmix: each op on ctrain's bytes before it, the
mix of ctrain's chains by its float32 weights as AugMix.forward computes it, and AugMix.forward
itself with ctrain's draws; check_augmix_draws: the draws' distributions, the weights down to
their range and last bits as torch._sample_dirichlet's), the magnitude tables value for value
(check_tables); each function says what it holds. Without AVX2 (CT_TA_NO_AVX2 set) the tables'
comparisons print SKIP and the drawn magnitudes are held within 1e-6 (PyTorch's other kernels
compute linspace's last bits otherwise).
"""
import itertools
import math
import os

import torch
import torchvision.transforms.functional as F
from torchvision.transforms import InterpolationMode
from torchvision.transforms import autoaugment as AA

# torchvision_augment.py's check(ok, what) (prints ok or FAIL, counts the failures) and
# ks_distance(a, b) (the two-sample Kolmogorov-Smirnov statistic), set by it
check = ks_distance = None

# torch._sample_dirichlet's (CPU) components: (float)(gamma / sum) clamped to [FLT_MIN,
# nexttoward(1.0f, 0)] (its gammas in double, at least DBL_MIN)
DIRICHLET_MIN, DIRICHLET_MAX = 2.0 ** -126, 1.0 - 2.0 ** -24

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


class StepTally:
    """ops, each on ctrain's bytes before it (augment_dump's steps), against torchvision's
    _apply_op (op_allowed, matches), counted by op"""

    def __init__(self, mode, shown):
        self.mode, self.shown, self.grids_ok = mode, shown, True
        self.step = {}  # op: [times, pixels unlike torchvision's (nor an alternative's),
        #                      pixels, pixels ctrain's other way at a half]

    def chain(self, i, x, ops, steps):
        """image i's ops [(name, magnitude)] from its bytes x, ctrain's bytes after each in
        steps (uint8 tensors): each held against torchvision's on the bytes before it; the last
        step's bytes (x without ops)"""
        for (op, mag), y in zip(ops, steps):
            ref, alts, same = op_allowed(x, op, mag, self.mode)
            self.grids_ok &= same
            ok, at_half = matches(y.double(), ref, alts)
            st = self.step.setdefault(op, [0, 0, 0, 0])
            st[0] += 1
            st[1] += int((~ok).sum().item())
            st[2] += ok.numel()
            st[3] += int((at_half & ((y.double() - ref).abs() > 1e-3)).sum().item())
            if not bool(ok.all()) and len(self.shown) < 5:
                self.shown.append("  image %d, %s %g on ctrain's bytes: %d pixels unlike "
                                  "torchvision's" % (i, op, mag, int((~ok).sum().item())))
            x = y
        return x

    def report(self, name):
        """the checks: the grids, the warps, the other ops"""
        step, mode = self.step, self.mode
        check(self.grids_ok, "%s: the warps' float64 grids here are torchvision's" % name)
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
            how = ("exact but for points or sums at a half (%d of %d pixels differ, %d of them "
                   "ctrain's other way at a half)" % (bad + half, total, half) if warps else
                   "exact (%d of %d pixels differ)" % (bad, total))
            check(bad == 0, "%s: %s, %d times, each on ctrain's bytes before it, as "
                  "torchvision's _apply_op on a uint8 tensor: %s" % (name, what, n, how))
            for op in ops_here:
                if step[op][1]:
                    print("  %s: %d times, %d of %d pixels unlike torchvision's" % (
                        op, step[op][0], step[op][1], step[op][2]))


def torchvision_chain(x, ops, mode):
    """torchvision's _apply_op alone, the ops [(name, magnitude)] one after another from the
    uint8 tensor x: its bytes, and whether a warp had a point or sum at a half"""
    half = False
    for op, mag in ops:
        ref, alts, _ = op_allowed(x, op, mag, mode)
        half |= bool(matches(ref, ref, alts)[1].any())
        x = ref.to(torch.uint8)
    return x, half


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
    out_bad, out_total = 0, 0
    chain = {"exact": [0, 0, 0], "half": [0, 0, 0]}  # images, pixels, pixels differing
    shown = []
    tally = StepTally(mode, shown)
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
        x = tally.chain(i, pre, ops, steps)
        ours = torch.tensor(im["out"], dtype=torch.float64).reshape(c, h, w)
        out_bad += int(((ours - erase_as(x.double(), im, case, c)).abs() > 1e-3).sum().item())
        out_total += ours.numel()
        # the whole chain by torchvision's ops alone
        x, half = torchvision_chain(pre, ops, mode)
        differ = int(((ours - erase_as(x.double(), im, case, c)).abs() > 1e-3).sum().item())
        key = "half" if half else "exact"
        chain[key] = [a + b for a, b in zip(chain[key], (1, ours.numel(), differ))]
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
    tally.report(name)
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
    """TrivialAugmentWide's (bins), RandAugment's (bins, h, w), AutoAugment's and AugMix's (10
    bins, h, w) magnitude tables, every op's, value for value against torchvision's
    _augmentation_space"""
    names = op_names()
    if "ta_table" in case:
        bins = case["ta_table"]
        what = "TrivialAugmentWide's magnitude tables of %d bins" % bins
        space = AA.TrivialAugmentWide(num_magnitude_bins=bins)._augmentation_space(bins)
    elif "ra_table" in case:
        bins, h, w = case["ra_table"]
        what = "RandAugment's magnitude tables of %d bins for %dx%d" % (bins, h, w)
        space = AA.RandAugment()._augmentation_space(bins, (h, w))
    elif "augmix_table" in case:
        h, w = case["augmix_table"]
        what = "AugMix's magnitude tables (10 bins, its 13 ops) for %dx%d" % (h, w)
        space = AA.AugMix()._augmentation_space(10, (h, w))
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


def augmix_bin(op, mag, space, severity):
    """ctrain's op (a name) and magnitude against AugMix's space: is it one of its 13 at one of
    its table's first severity values (signed ones of either sign, the rest not negative), and
    the first such bin (None without magnitudes)"""
    if op not in space:
        return False, None
    mags, signed = space[op]
    if mags.ndim == 0:
        return mag == 0, None
    value = abs(mag) if signed else mag
    bins = [k for k in range(severity) if same_mag(value, float(mags[k].item()))]
    return bool(bins) and (signed or mag >= 0), bins[0] if bins else None


def augmix_chains(depths, ops):
    """ops cut into chains of depths"""
    return [ops[end - d:end] for d, end in zip(depths, itertools.accumulate(depths))]


def augmix_forward(pre, im, args, mode, space):
    """torchvision's AugMix(*args, interpolation=mode).forward on the uint8 tensor pre, its random
    draws ctrain's: _sample_dirichlet gives [[m0, 1]], then [the chains' weights], ctrain's
    (float32: combined_weights, their products with 1, ctrain's exactly), and torch.randint each
    chain's depth (chain_depth -1), each op's index in op_meta, its bin, its sign; the output,
    and whether forward took exactly the draws given"""
    names, ctrain_names = list(space.keys()), op_names()
    weights = torch.tensor(im["weights"], dtype=torch.float32)
    dirichlet = [torch.stack([weights[0], torch.tensor(1.0)])[None], weights[None, 1:]]
    draws = []
    for depth, chain in zip(im["depths"], augmix_chains(im["depths"], im["ops"])):
        if args[2] <= 0:
            draws.append(depth)
        for op, mag in chain:
            name = ctrain_names[op]
            draws.append(names.index(name))
            if space[name][0].ndim:
                draws.append(augmix_bin(name, mag, space, args[0])[1])
            if space[name][1]:
                draws.append(int(mag < 0))
    aug = AA.AugMix(*args, interpolation=mode)
    aug._sample_dirichlet = lambda params: dirichlet.pop(0)
    randint, out = torch.randint, None
    torch.randint = lambda *a, **k: torch.tensor([draws.pop(0)], dtype=torch.long)
    try:
        out = aug(pre)
    except IndexError:  # (more draws than ctrain's)
        pass
    finally:
        torch.randint = randint
    return out, out is not None and not draws and not dirichlet


def check_augmix(case):
    """AugMix, image by image: width chains of depth ops each (chain_depth -1: 1 to 3), each op
    one of its 13 at a bin below severity of _augmentation_space(10, (h, w)) (signed ones of
    either sign); the weights, width + 1 of them, not negative, summing to 1 within 1e-5; the
    bytes before the ops torchvision's resized crop (rounded) and flip; each op on ctrain's bytes
    before it (each chain from the bytes before the ops) as check_aa holds RandAugment's; the
    mix of ctrain's chains' last bytes by ctrain's weights, in float32 as AugMix.forward
    computes it (m[:, 0] * batch, then mix.add_(combined_weights[:, i] * aug) in chain order,
    .to(uint8)), erased, exactly ctrain's output; and torchvision's AugMix.forward on the bytes
    before the ops, its draws ctrain's (augmix_forward), erased, exactly ctrain's output for
    every image none of whose warps has a point or sum at a half"""
    severity, width, depth, alpha = case["augmix"]  # (alpha a float: %#.9g)
    c, h, w = case["c"], case["h"], case["w"]
    names = op_names()
    mode = InterpolationMode.BILINEAR if case["bilinear"] else InterpolationMode.NEAREST
    space = AA.AugMix()._augmentation_space(10, (h, w))
    args = (severity, width, depth, alpha)
    name = "AugMix(%d, %d, %d, %g, %s) of c%d %dx%d" % (severity, width, depth, alpha,
                                                        mode.value, c, h, w)
    images = case["images"]
    n_erased = sum(1 for im in images if im["erased"][2])
    name += ", resized crop" if any(im["box"][2] for im in images) else ""
    name += ", erased" if n_erased else ""
    count_ok, mags_ok, weights_ok, forward_ok, seen = True, True, True, True, {}
    pre_bad = pre_total = mix_bad = in_range = 0
    chain = {"exact": [0, 0, 0], "half": [0, 0, 0]}  # images, pixels, pixels differing
    shown = []
    tally = StepTally(mode, shown)
    for i, im in enumerate(images):
        pre, bad = pre_bytes(im, c, h, w)
        pre_bad += bad
        pre_total += pre.numel()
        depths, wts = im["depths"], im["weights"]
        ops = [(names[op], mag) for op, mag in im["ops"]]
        count_ok &= len(depths) == width and len(ops) == sum(depths) == len(im["steps"])
        count_ok &= all(1 <= d <= 3 if depth <= 0 else d == depth for d in depths)
        for op, mag in ops:
            mags_ok &= augmix_bin(op, mag, space, severity)[0]
            seen.setdefault(op, set())
            if mag != 0:
                seen[op].add(mag < 0)
        weights = torch.tensor(wts, dtype=torch.float32)  # (%.9g: exactly ctrain's)
        weights_ok &= len(wts) == width + 1 and min(wts) >= 0 and \
            abs(float(weights.double().sum()) - 1) <= 1e-5
        in_range += DIRICHLET_MIN <= float(weights[0]) <= DIRICHLET_MAX and \
            float(weights[1:].max()) <= DIRICHLET_MAX
        steps = [torch.tensor(s_, dtype=torch.uint8).reshape(c, h, w) for s_ in im["steps"]]
        # each chain's ops on ctrain's bytes, from those before the ops; their mix, as forward
        batch = pre.view(1, c, h, w)
        mix = weights[0].view(1, 1, 1, 1) * batch
        for k, (chain_ops, chain_steps) in enumerate(zip(augmix_chains(depths, ops),
                                                         augmix_chains(depths, steps))):
            last = tally.chain(i, pre, chain_ops, chain_steps).view(1, c, h, w)
            mix.add_(weights[1 + k].view(1, 1, 1, 1) * last)
        mix = mix.view(c, h, w).to(torch.uint8)
        ours = torch.tensor(im["out"], dtype=torch.float64).reshape(c, h, w)
        mix_bad += int(((ours - erase_as(mix.double(), im, case, c)).abs() > 1e-3).sum().item())
        # torchvision's AugMix.forward, its draws ctrain's; the chains' points or sums at a half
        theirs, took = augmix_forward(pre, im, args, mode, space)
        forward_ok &= took
        half = any(torchvision_chain(pre, chain_ops, mode)[1]
                   for chain_ops in augmix_chains(depths, ops))
        differ = ours.numel() if theirs is None else \
            int(((ours - erase_as(theirs.double(), im, case, c)).abs() > 1e-3).sum().item())
        key = "half" if half else "exact"
        chain[key] = [a + b for a, b in zip(chain[key], (1, ours.numel(), differ))]
        if differ and not half and len(shown) < 10:
            shown.append("  image %d, depths %s, ops %s: %d pixels unlike AugMix.forward's" % (
                i, depths, [(op, round(mag, 4)) for op, mag in ops], differ))
    avx = " (within 1e-6: no AVX2 here)" if os.environ.get("CT_TA_NO_AVX2") else ""
    check(count_ok, "%s: every image %d chains of %s ops" % (
        name, width, "1 to 3" if depth <= 0 else depth))
    check(mags_ok, "%s: every op one of AugMix's 13 at a bin below %d of its "
          "_augmentation_space(10, (%d, %d)), signed ones of either sign%s" % (
              name, severity, h, w, avx))
    n_ops = sum(len(im["ops"]) for im in images)
    if n_ops >= 300:
        signed = [op for op in space if space[op][1]] if severity > 1 else []
        check(len(seen) == 13 and all(len(seen[op]) == 2 for op in signed),
              "%s: all 13 ops drawn (%d) in %d ops%s" % (
                  name, len(seen), n_ops, ", the signed ones with both signs" if signed else ""))
    check(weights_ok, "%s: %d weights an image, none negative, summing to 1 within 1e-5" % (
        name, width + 1))
    check(in_range == len(images), "%s: the weights in torch._sample_dirichlet's range (m0 in "
          "[FLT_MIN, 1 - 2^-24], the chains' at most 1 - 2^-24: %d of %d images)" % (
              name, in_range, len(images)))
    check(pre_bad == 0, "%s: the bytes before the ops are torchvision's resized crop "
          "(rounded) and flip (%d of %d differ)" % (name, pre_bad, pre_total))
    tally.report(name)
    check(mix_bad == 0, "%s: the output the mix of ctrain's chains by its float32 weights as "
          "AugMix.forward mixes them (mix.add_ in chain order, .to(uint8)), erased (%d of %d "
          "pixels differ)" % (name, mix_bad, pre_total))
    n, total, bad = chain["exact"]
    hn, htotal, hbad = chain["half"]
    check(forward_ok and bad == 0, "%s: torchvision's AugMix.forward on the bytes before the ops, "
          "its draws ctrain's%s, exactly ctrain's output for the %d images without a point or sum "
          "at a half (%d pixels differ; the %d images with one: %d of %d pixels differ)" % (
              name, "" if forward_ok else " (NOT all taken as given)", n, bad, hn, hbad, htotal))
    for line in shown:
        print(line)
    if n_erased:
        check(0 < n_erased < len(images), "%s: both sides of the erasing's coin" % name)


def check_augmix_draws(case):
    """AugMix's draws: width chains, the depths 1 to 3 (chain_depth -1) uniform and the first
    two chains' independent, or all chain_depth; the ops uniform over the 13, the bins below
    severity uniform (of the ops whose first severity values differ), the signs half, all within
    5 standard deviations; the weights summing to 1 within 1e-5, in torch._sample_dirichlet's
    range (its components clamped to [FLT_MIN, 1 - 2^-24]), their sum's difference from 1 (their
    last bits) distributed as torchvision's m[:, 0] and combined_weights', the image's weight m0
    as torch._sample_dirichlet([alpha, alpha])[0] (Beta(alpha, alpha)), each chain's share of
    the chains' weights as torch._sample_dirichlet([alpha] * width)[c] (the two-sample KS
    distances at most 0.05)"""
    severity, width, depth, alpha = case["augmix_draws"]  # (alpha a float: %#.9g)
    h, w = case["h"], case["w"]
    space = AA.AugMix()._augmentation_space(10, (h, w))
    names, opnames = op_names(), list(space.keys())
    draws = case["draws"]
    n = len(draws)
    name = "AugMix(%d, %d, %d, %g)'s draws of %d images" % (severity, width, depth, alpha, n)
    ok = all(len(d["depths"]) == width and len(d["ops"]) == sum(d["depths"]) and
             len(d["weights"]) == width + 1 for d in draws)
    ok &= all(augmix_bin(names[op], mag, space, severity)[0] for d in draws for op, mag in d["ops"])
    check(ok, "%s: %d chains each, every op one of AugMix's 13 at a bin below %d of its table" % (
        name, width, severity))
    depths = [k for d in draws for k in d["depths"]]
    if depth <= 0:
        counts = [depths.count(k) for k in (1, 2, 3)]
        check(five_sd(counts, len(depths), 1 / 3), "%s: the depths 1 to 3 uniform within 5 "
              "standard deviations (%s of %d chains)" % (name, counts, len(depths)))
        if width >= 2:
            pairs = [(d["depths"][0], d["depths"][1]) for d in draws]
            counts = [pairs.count((a, b)) for a in (1, 2, 3) for b in (1, 2, 3)]
            check(five_sd(counts, n, 1 / 9), "%s: the first two chains' depths independent: "
                  "each of the 9 pairs within 5 standard deviations (%d to %d, expected %.0f)" % (
                      name, min(counts), max(counts), n / 9))
    else:
        check(all(k == depth for k in depths), "%s: every chain %d ops" % (name, depth))
    ops = [(names[op], mag) for d in draws for op, mag in d["ops"]]
    counts = [sum(1 for op, _ in ops if op == o) for o in opnames]
    check(five_sd(counts, len(ops), 1 / 13), "%s: the ops uniform over the 13 within 5 standard "
          "deviations (%d to %d of %d, expected %.0f)" % (
              name, min(counts), max(counts), len(ops), len(ops) / 13))
    distinct = [o for o in opnames if space[o][0].ndim and
                len(set(space[o][0][:severity].tolist())) == severity]
    bins = [augmix_bin(op, mag, space, severity)[1] for op, mag in ops if op in distinct]
    counts = [bins.count(k) for k in range(severity)]
    check(five_sd(counts, len(bins), 1 / severity), "%s: the bins below %d uniform within 5 "
          "standard deviations (%d to %d of %d ops of %d kinds)" % (
              name, severity, min(counts), max(counts), len(bins), len(distinct)))
    signs = [mag < 0 for op, mag in ops if space[op][1] and mag != 0]
    check(five_sd([sum(signs)], len(signs), 0.5), "%s: signs: %d of %d negative within 5 standard "
          "deviations of half" % (name, sum(signs), len(signs)))
    wts = torch.tensor([d["weights"] for d in draws], dtype=torch.float32).double()  # (exact)
    sums = (wts.sum(1) - 1).tolist()
    check(max(map(abs, sums)) <= 1e-5, "%s: the weights summing to 1 within 1e-5 (the farthest "
          "%.2g)" % (name, max(map(abs, sums))))
    low = int(((wts[:, 0] < DIRICHLET_MIN) | (wts[:, 0] > DIRICHLET_MAX)).sum())
    high = int(((wts[:, 1:] < 0) | (wts[:, 1:] > DIRICHLET_MAX)).sum())
    check(low == high == 0, "%s: the weights in torch._sample_dirichlet's range (m0 in [FLT_MIN, "
          "1 - 2^-24], the chains' at most 1 - 2^-24: %d images' m0 and %d chains' weights "
          "outside)" % (name, low, high))
    torch.manual_seed(n + width)
    m = torch._sample_dirichlet(torch.tensor([alpha, alpha]).expand(n, -1))
    combined = torch._sample_dirichlet(torch.tensor([alpha] * width).expand(n, -1)) * m[:, 1:]
    theirs = (m[:, 0].double() + combined.double().sum(1) - 1).tolist()
    d = ks_distance(sums, theirs)
    check(d <= 0.05, "%s: the weights' last bits as torchvision's: their sum's difference from 1 "
          "distributed as that of torch._sample_dirichlet's m[:, 0] and combined_weights (KS "
          "distance %.3f; mean %.3g, torchvision's %.3g)" % (
              name, d, sum(sums) / n, sum(theirs) / n))
    d = ks_distance(wts[:, 0].tolist(), m[:, 0].tolist())
    check(d <= 0.05, "%s: the image's weight distributed as torch._sample_dirichlet([%g, %g])[0] "
          "(KS distance %.3f)" % (name, alpha, alpha, d))
    theirs = torch._sample_dirichlet(torch.tensor([alpha] * width).expand(n, -1))
    rest = wts[:, 1:].sum(1)
    for k in range(width if width > 1 else 0):
        ours = (wts[:, 1 + k] / rest)[rest > 0].tolist()
        d = ks_distance(ours, theirs[:, k].tolist())
        check(d <= 0.05 and len(ours) == n, "%s: chain %d's share of the chains' weights "
              "distributed as torch._sample_dirichlet([%g] * %d)[%d] (KS distance %.3f)" % (
                  name, k, alpha, width, k, d))


CHECKS = {"ta": check_ta, "ta_draws": check_ta_draws, "ra": check_aa, "autoaug": check_aa,
          "augmix": check_augmix, "ra_draws": check_ra_draws, "aa_draws": check_aa_draws,
          "augmix_draws": check_augmix_draws, "ta_table": check_tables, "ra_table": check_tables,
          "aa_table": check_tables, "augmix_table": check_tables}


def check_case(case):
    """check augment_dump's line case if it is an automatic augmentation's; was it"""
    for key in case:
        if key in CHECKS:
            CHECKS[key](case)
            return True
    return False
