#!/usr/bin/env bash
# bench/cnn.sh — training convnets on the CPU: ctrain against a tuned PyTorch loop on the same
# model (bench/cnn_torch.py: ctrain's saved model_spec rebuilt by tools/ctrain_torch.py; the images
# as one float tensor, randperm batches, torch.set_num_threads as ctrain's --threads), SGD with
# momentum 0.9 at lr 0.05, batch 128, on the first BENCH_CNN_IMAGES of MNIST's training images.
# Training images per second each (the median epoch: ctrain's "s/epoch", PyTorch's median of
# its epochs) and their ratio, measured in the same run. Prints markdown to stdout (and
# bench/out/cnn.md); nothing is asserted.
# Environment: BENCH_BUILD=build, CTRAIN_DATA (the MNIST folder), BENCH_CNN_MODELS="lenet5 cnn
# resnet8" (any --model spec without spaces), BENCH_CNN_IMAGES=10000, BENCH_CNN_EPOCHS=3,
# BENCH_THREADS (default: all cores), BENCH_TORCH_PYTHON=/usr/bin/python3.
set -u # (not pipefail: small_mnist cuts the files with head, which ends gzip early)
cd "$(dirname "$0")/.." || exit 1
BUILD=${BENCH_BUILD:-build}
DATA=${CTRAIN_DATA:-$HOME/.cache/ctrain/mnist}
TPY=${BENCH_TORCH_PYTHON:-/usr/bin/python3}
MODELS=${BENCH_CNN_MODELS:-lenet5 cnn resnet8}
N=${BENCH_CNN_IMAGES:-10000}
EPOCHS=${BENCH_CNN_EPOCHS:-3}
THREADS=${BENCH_THREADS:-$(nproc)}
. tests/small_mnist.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p bench/out
"$BUILD/ctrain" data fetch mnist --data "$DATA" >/dev/null 2>&1 || exit 1
small_mnist "$DATA" "$tmp/data" "$N" 256 || { echo "cannot cut $N images from $DATA"; exit 1; }
"$TPY" -c 'import torch' 2>/dev/null || { echo "SKIP bench/cnn.sh: $TPY cannot import torch"; exit 0; }
{
    echo "### Training convnets on the CPU, $N MNIST images an epoch, batch 128, $THREADS threads" \
        "($(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, PyTorch $("$TPY" -c 'import torch; print(torch.__version__)'))"
    echo
    echo "| model | parameters | ctrain s/epoch | PyTorch s/epoch | ctrain images/s | PyTorch images/s | ratio |"
    echo "| --- | --- | --- | --- | --- | --- | --- |"
    k=0
    for m in $MODELS; do
        k=$((k + 1))
        save=$tmp/model$k # (a spec can be longer than a file name may be)
        out=$("$BUILD/ctrain" train --dataset idx --data "$tmp/data" --model "$m" --val-size 0 \
              --epochs "$EPOCHS" --lr 0.05 --momentum 0.9 --threads "$THREADS" --quiet \
              --save "$save" 2>&1) || { echo "ctrain $m: $out" >&2; continue; }
        ours=$(sed -n 's/^Training time: .* s (\([0-9.]*\) s\/epoch)$/\1/p' <<<"$out")
        params=$("$BUILD/ctrain" summary --model "$save" | sed -n 's/^Total params: \([0-9]*\) .*/\1/p')
        theirs=$("$TPY" bench/cnn_torch.py "$save" "$tmp/data" "$EPOCHS" "$THREADS" 2>&1) ||
            { echo "PyTorch $m: $theirs" >&2; continue; }
        t=$(awk '{print $3}' <<<"$theirs" | sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}')
        awk -v m="$m" -v p="$params" -v a="$ours" -v b="$t" -v n="$N" 'BEGIN {
            printf "| `%s` | %d | %.3f | %.3f | %d | %d | %.2fx |\n", m, p, a, b, n / a, n / b, b / a }'
    done
} | tee bench/out/cnn.md
