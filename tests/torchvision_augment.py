"""torchvision_augment.py — ctrain's augmentation of training images (src/backend/augment.h)
against torchvision's: each image of tests/augment_dump's cases, with the parameters ctrain drew
for it, redone as torchvision.transforms.Compose([RandomAffine, RandomCrop(padding),
RandomHorizontalFlip, RandomVerticalFlip]) applies them (functional.affine on a float64
tensor, fill 0; pad; crop; hflip; vflip), or Compose([RandomResizedCrop, RandomHorizontalFlip,
RandomVerticalFlip]) (functional.resized_crop, bilinear, antialias=True; hflip; vflip), must
give ctrain's pixels: bilinear within 1e-4 (of 255), nearest exactly but for a pixel in 2000 (a
sampling point within rounding of a half pixel may round either way). The drawn parameters must
lie in RandomAffine's ranges, and the shifts be whole pixels as its get_params rounds them.
Then ColorJitter (functional.adjust_brightness, adjust_contrast, adjust_saturation, adjust_hue
on the image in [0, 1], in the order and by the factors ctrain drew; the orders and factors of
4000 draws distributed as ColorJitter.get_params draws them: each of the 24 orders 4000/24 times
within 5 standard deviations, the factors' KS distance at most 0.05). Then RandomErasing
(functional.erase of the box ctrain drew, to its fill). RandomResizedCrop's and RandomErasing's
boxes (drawn from ctrain's own random numbers) must be distributed as torchvision's get_params
draws them: the two-sample Kolmogorov-Smirnov distance between 4000 of each, for the box's area,
aspect ratio and place, at most 0.05 (for boxes of one distribution, a larger distance has a
chance below 1e-4). Then torchvision's automatic augmentations, TrivialAugmentWide, RandAugment,
AutoAugment and AugMix, each op against torchvision's own autoaugment._apply_op on uint8 tensors
and AugMix's mix against AugMix.forward's: tests/torchvision_autoaugment.py (beside this file)
holds them.
Usage: python3 torchvision_augment.py cases.jsonl
"""
import json
import math
import sys

import torch
import torchvision.transforms.functional as F
from torchvision.transforms import InterpolationMode

import torchvision_autoaugment as auto  # (beside this file)

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


auto.check, auto.ks_distance = check, ks_distance
for line in open(sys.argv[1]):
    case = json.loads(line)
    if auto.check_case(case):  # TrivialAugmentWide, RandAugment, AutoAugment, AugMix
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
