#!/usr/bin/env bash
# bench/augment.sh — the augmentation of training images: ctrain (bench/augment.c: its CPU
# gather through ct_augment_images, one thread) against torchvision's transforms applied one
# image at a time, as a Dataset's __getitem__ does in a DataLoader worker (bench/augment_torch.py,
# one thread), on MNIST's 60000 training images (torchvision: BENCH_TORCH_IMAGES of them).
# Images per second each and their ratio, measured in the same run. Prints markdown to stdout
# (and bench/out/augment.md); nothing is asserted.
# Environment: BENCH_BUILD=build, CTRAIN_DATA (the MNIST folder), BENCH_TORCH_IMAGES=10000,
# BENCH_TORCH_PYTHON=/usr/bin/python3.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
BUILD=${BENCH_BUILD:-build}
DATA=${CTRAIN_DATA:-$HOME/.cache/ctrain/mnist}
TPY=${BENCH_TORCH_PYTHON:-/usr/bin/python3}
TORCH_N=${BENCH_TORCH_IMAGES:-10000}
mkdir -p bench/out
cmake --build "$BUILD" --target bench_augment >/dev/null || exit 1
"$BUILD/ctrain" data fetch mnist --data "$DATA" >/dev/null || exit 1
ours=$("$BUILD/bench_augment" "$DATA") || exit 1
theirs=$("$TPY" bench/augment_torch.py "$DATA" "$TORCH_N" 2>&1) || { echo "$theirs"; exit 1; }
{
    echo "### Augmentation of MNIST's training images, one thread ($(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs)"
    echo
    echo "| augmentation | ctrain images/s | torchvision images/s | ratio |"
    echo "| --- | --- | --- | --- |"
    while read -r name rate; do
        t=$(awk -v k="$name" '$1 == k {print $2}' <<<"$theirs")
        awk -v n="$name" -v a="$rate" -v b="$t" 'BEGIN {
            d["none"] = "none (uint8 to float)"; d["crop"] = "crop=2,flip"
            d["affine"] = "rotate=10,translate=0.1,scale=0.9:1.1"; d["resized"] = "resized-crop,flip"
            d["jitter"] = "brightness=0.4,contrast=0.4"; d["erase"] = "erase"
            d["all"] = "resized-crop,flip,brightness=0.4,contrast=0.4,erase"; d["trivial"] = "trivial"
            d["randaugment"] = "randaugment"; d["autoaugment"] = "autoaugment"
            d["augmix"] = "augmix,bilinear"
            printf "| `%s` | %d | %d | %.1fx |\n", d[n], a, b, (b > 0 ? a / b : 0) }'
    done <<<"$ours"
} | tee bench/out/augment.md
