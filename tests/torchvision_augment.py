"""torchvision_augment.py — ctrain's augmentation of training images (src/backend/augment.h)
against torchvision's: each image of tests/augment_dump's cases, with the parameters ctrain drew
for it, redone as torchvision.transforms.Compose([RandomAffine, RandomCrop(padding),
RandomHorizontalFlip]) applies them (functional.affine on a float64 tensor, fill 0; pad; crop;
hflip), must give ctrain's pixels: bilinear within 1e-4 (of 255), nearest exactly but for a
pixel in 2000 (a sampling point within rounding of a half pixel may round either way).
The drawn parameters must lie in RandomAffine's ranges, and the shifts be whole pixels as its
get_params rounds them. Usage: python3 torchvision_augment.py cases.jsonl
"""
import json
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


for line in open(sys.argv[1]):
    case = json.loads(line)
    c, h, w, pad = case["c"], case["h"], case["w"], case["pad"]
    deg, tr, (smin, smax), sh = case["degrees"], case["translate"], case["scale"], case["shear"]
    mode = InterpolationMode.BILINEAR if case["bilinear"] else InterpolationMode.NEAREST
    name = "c%d %dx%d rotate %g translate %g scale %g:%g shear %g pad %d %s" % (
        c, h, w, deg, tr, smin, smax, sh, pad, mode.value)
    worst, mismatched, total, in_range, flips = 0.0, 0, 0, True, 0
    for im in case["images"]:
        x = torch.tensor(im["in"], dtype=torch.float64).reshape(c, h, w)
        ours = torch.tensor(im["out"], dtype=torch.float64).reshape(c, h, w)
        angle, (tx, ty), scale, shear = im["angle"], im["shift"], im["scale"], im["shear"]
        in_range &= abs(angle) <= deg and abs(shear) <= sh
        in_range &= abs(tx) <= round(tr * w) and abs(ty) <= round(tr * h)
        in_range &= (smin <= scale <= smax) if smax else scale == 1.0
        # (RandomAffine's fill=0 reaches F.affine as [0.0] * channels: bilinear samples near
        # the edge are then multiplied by the share of the image under them)
        ref = F.affine(x, angle=angle, translate=[tx, ty], scale=scale, shear=[shear, 0.0],
                       interpolation=mode, fill=[0.0] * c)
        if pad:
            ref = F.pad(ref, [pad, pad, pad, pad], fill=0)
        ref = F.crop(ref, im["crop"][0], im["crop"][1], h, w)
        if im["flip"]:
            ref = F.hflip(ref)
            flips += 1
        diff = (ours - ref).abs()
        worst = max(worst, diff.max().item())
        mismatched += int((diff > 1e-4).sum().item())
        total += diff.numel()
    check(in_range, "%s: the drawn parameters lie in RandomAffine's ranges" % name)
    if case["bilinear"]:
        check(worst <= 1e-4, "%s: as torchvision (largest difference %.2g of 255)" % (name, worst))
    else:
        check(mismatched * 2000 <= total,
              "%s: as torchvision (%d of %d pixels differ)" % (name, mismatched, total))
    if case["flip"]:
        check(0 < flips < len(case["images"]), "%s: both sides of the flip's coin" % name)

print("%s: %d failed" % ("FAIL" if fails else "PASS", fails))
sys.exit(1 if fails else 0)
