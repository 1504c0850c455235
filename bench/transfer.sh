#!/usr/bin/env bash
# bench/transfer.sh — fine-tuning, after Keras' mnist_transfer_cnn example: a convnet trained on
# MNIST's digits 0-4, then trained on digits 5-9 (relabelled 0-4) from its weights (--init):
# every layer, with the convolutions frozen (--freeze conv2: Keras' example freezes its
# "feature layers"), and the head alone (--freeze backbone), against the same training from
# scratch, on BENCH_TRANSFER_IMAGES training images of 5-9 (a few labels: where transfer
# helps). Prints the test accuracy on the 4861 test images of 5-9 and the median epoch's
# training time (frozen layers need no backward pass) as markdown, to stdout and
# bench/out/transfer.md; nothing is asserted.
# Environment: BENCH_BUILD=build, CTRAIN_DATA (the MNIST folder), BENCH_TRANSFER_MODEL=cnn,
# BENCH_TRANSFER_IMAGES="200 1000 29404" (29404: all of 5-9's), BENCH_TRANSFER_EPOCHS=10
# (the base model: 3), BENCH_THREADS (default: all cores).
set -u
cd "$(dirname "$0")/.." || exit 1
BUILD=${BENCH_BUILD:-build}
DATA=${CTRAIN_DATA:-$HOME/.cache/ctrain/mnist}
MODEL=${BENCH_TRANSFER_MODEL:-cnn}
SIZES=${BENCH_TRANSFER_IMAGES:-200 1000 29404}
EPOCHS=${BENCH_TRANSFER_EPOCHS:-10}
THREADS=${BENCH_THREADS:-$(nproc)}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p bench/out
"$BUILD/ctrain" data fetch mnist --data "$DATA" >/dev/null 2>&1 || exit 1
python3 tests/idx_subset.py "$DATA" "$tmp/lo" 0,1,2,3,4 || exit 1
sgd=(--lr 0.05 --momentum 0.9 --threads "$THREADS" --val-size 0 --quiet)
base=$("$BUILD/ctrain" train --dataset idx --data "$tmp/lo" --model "$MODEL" --epochs 3 "${sgd[@]}" \
       --save "$tmp/base" 2>&1) || { echo "the base run: $base"; exit 1; }
# line NAME FLAGS...: a table row of the run on $tmp/hi
line() {
    local name=$1 out acc s
    shift
    out=$("$BUILD/ctrain" train --dataset idx --data "$tmp/hi" --model "$MODEL" --epochs "$EPOCHS" \
          "${sgd[@]}" "$@" 2>&1) || { echo "$name: $out" >&2; return; }
    acc=$(sed -n 's/^test_loss: [0-9.]*, test_acc: //p' <<<"$out")
    s=$(sed -n 's/^Training time: .* s (\([0-9.]*\) s\/epoch)$/\1/p' <<<"$out")
    echo "| $n | $name | $acc | $s |"
}
{
    echo "### Fine-tuning $MODEL from digits 0-4 to 5-9 ($(date -u '+%Y-%m-%d %H:%M UTC'), $THREADS threads)"
    echo
    echo "Base model: $MODEL, 3 epochs on the 30596 training images of 0-4 (SGD, lr 0.05," \
         "momentum 0.9): $(sed -n 's/^test_loss: [0-9.]*, test_acc: /test_acc /p' <<<"$base") on" \
         "their 5139 test images. Then $EPOCHS epochs on N training images of 5-9, tested on" \
         "their 4861."
    echo
    echo "| N | run | test_acc | s/epoch |"
    echo "| --- | --- | --- | --- |"
    for n in $SIZES; do
        python3 tests/idx_subset.py "$DATA" "$tmp/hi" 5,6,7,8,9 "$n" || exit 1
        line "from scratch"
        line "--init base (every layer trains)" --init "$tmp/base"
        line "--init base --freeze conv2" --init "$tmp/base" --freeze conv2
        line "--init base --freeze backbone" --init "$tmp/base" --freeze backbone
    done
} | tee bench/out/transfer.md
