#!/usr/bin/env bash
# cli_torchvision.sh — ctrain's augmentation of training images (--augment: RandomAffine's
# rotate, translate, scale and shear, nearest or bilinear, then RandomCrop's padding, or
# RandomResizedCrop; RandomHorizontalFlip; ColorJitter, RandomGrayscale, or TrivialAugmentWide,
# RandAugment, AutoAugment, AugMix (each op against autoaugment._apply_op, AugMix's mix against
# AugMix.forward); RandomErasing) against
# torchvision's functional
# transforms, image by image with the parameters ctrain drew (augment_dump, beside ctrain in the
# build folder, writes them; see torchvision_augment.py), and the boxes of RandomResizedCrop
# and RandomErasing against their get_params' distributions. Skips when Debian's
# python3-torchvision is not installed (make test installs it when it can).
# Usage: bash tests/cli_torchvision.sh path/to/ctrain
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/clilib.sh"
CT=${1:?usage: bash cli_torchvision.sh path/to/ctrain}
dump=$(cd "$(dirname "$CT")" && pwd)/augment_dump
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

torch_or_skip cli_torchvision
# TrivialAugmentWide's magnitudes are torch.linspace's float32 values as PyTorch 1.13's AVX2
# kernel (its default on x86) computes them; its AVX-512 and plain kernels differ in last bits.
# Without AVX2 here, torchvision_augment.py skips the comparisons of the magnitudes (saying so).
if grep -qw avx2 /proc/cpuinfo 2>/dev/null; then
    export ATEN_CPU_CAPABILITY=avx2
else
    export CT_TA_NO_AVX2=1
fi
if ! "$PY" -c 'import torchvision' 2>/dev/null; then
    echo "SKIP cli_torchvision: $PY cannot import torchvision (apt-get install python3-torchvision)"
    exit 0
fi
if ! "$dump" >"$tmp/cases.jsonl" 2>"$tmp/err"; then
    bad "augment_dump: $(cat "$tmp/err")"
elif "$PY" "$here/torchvision_augment.py" "$tmp/cases.jsonl" >"$tmp/out" 2>&1 &&
    [ "$(grep -c '^ok' "$tmp/out")" -ge 20 ]; then
    ok "every image as torchvision augments it ($(grep -c '^ok' "$tmp/out") checks)"
else
    bad "torchvision_augment.py:"
fi
sed 's/^/    | /' "$tmp/out"
finish cli_torchvision
