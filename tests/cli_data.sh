#!/usr/bin/env bash
# cli_data.sh — ctrain devices, ctrain data path, --device cuda without a GPU, and bad data
# folders (garbage, truncated, empty files named like MNIST's): one-line error naming the file,
# exit 1, no crash. Needs no data and no network (every folder it uses holds all four files).
# Usage: bash tests/cli_data.sh path/to/ctrain
set -u
. "$(cd "$(dirname "$0")" && pwd)/clilib.sh"
CT=${1:?usage: bash cli_data.sh path/to/ctrain}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1 # a core file, if any, would land here

nlines() { printf '%s' "$1" | grep -c ''; }
FILES="train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte"

# ------------------------------------------------------------------ devices
run devices
if [ "$rc" -eq 0 ] && grep -q '^auto: ' <<<"$out" && grep -q 'cpu' <<<"$out"; then
    ok "ctrain devices -> exit 0, lists the CPU and what auto picks"
else
    bad "ctrain devices -> exit $rc, stdout: $out, stderr: $err"
fi
auto_cuda=0
grep -q '^auto: cuda' <<<"$out" && auto_cuda=1

# ------------------------------------------------------------------ data path
run data path --data /some/where
[ "$rc" -eq 0 ] && [ "$out" = /some/where ] && ok "data path --data DIR -> DIR" ||
    bad "data path --data /some/where -> exit $rc, '$out'"
run data path --data=/some/where mnist
[ "$rc" -eq 0 ] && [ "$out" = /some/where ] && ok "data path --data=DIR mnist -> DIR" ||
    bad "data path --data=/some/where mnist -> exit $rc, '$out'"
CTRAIN_DATA=/from/env run data path
[ "$rc" -eq 0 ] && [ "$out" = /from/env ] && ok "data path with CTRAIN_DATA -> \$CTRAIN_DATA" ||
    bad "CTRAIN_DATA=/from/env data path -> exit $rc, '$out'"

# ------------------------------------------------------------------ bad data folders
# expect_bad_file DIR WHAT: `ctrain train --data DIR` fails with exit 1 and one line naming a file
expect_bad_file() {
    local dir=$1 what=$2
    run train --device cpu --data "$dir" --quiet
    if [ "$rc" -eq 1 ] && [ "$(nlines "$err")" -eq 1 ] && grep -q '^ctrain: ' <<<"$err" &&
        grep -Eq "(train|t10k)-(images|labels)-idx[13]-ubyte" <<<"$err"; then
        ok "$what -> exit 1: $err"
    else
        bad "$what -> expected exit 1 and one line naming the file; got exit $rc, stderr: $err"
    fi
}
mkdir -p "$tmp/garbage" "$tmp/truncated" "$tmp/empty"
for f in $FILES; do
    head -c 4096 /dev/urandom >"$tmp/garbage/$f"
    : >"$tmp/empty/$f"
    cp "$tmp/garbage/$f" "$tmp/truncated/$f"
done
# a valid idx3 header (60000 x 28 x 28) with almost no pixels behind it
printf '\x00\x00\x08\x03\x00\x00\xea\x60\x00\x00\x00\x1c\x00\x00\x00\x1c\x01\x02' \
    >"$tmp/truncated/train-images-idx3-ubyte"
expect_bad_file "$tmp/garbage" "garbage MNIST files"
expect_bad_file "$tmp/truncated" "truncated image file"
expect_bad_file "$tmp/empty" "empty MNIST files"

# ------------------------------------------------------------------ --dataset idx
# any images stored as MNIST is: 10x12 images of 13 classes (a bright pixel per class), the
# labels gzipped; the classes come from the labels, the shape from the images
mkdir -p "$tmp/idx"
python3 - "$tmp/idx" <<'PY'
import gzip, random, struct, sys
random.seed(5)
for prefix, n in (("train", 400), ("t10k", 100)):
    labels = bytes(random.randrange(13) for _ in range(n))
    pixels = bytes(250 if k % 13 == y else random.randrange(60) for y in labels for k in range(120))
    with open(f"{sys.argv[1]}/{prefix}-images-idx3-ubyte", "wb") as f:
        f.write(struct.pack(">IIII", 0x803, n, 10, 12) + pixels)
    with gzip.open(f"{sys.argv[1]}/{prefix}-labels-idx1-ubyte.gz", "wb") as f:
        f.write(struct.pack(">II", 0x801, n) + labels)
PY
run train --device cpu --dataset idx --data "$tmp/idx" --val-size 50 --epochs 3 --lr 0.2 --save "$tmp/idxrun"
if [ "$rc" -eq 0 ] && grep -q '^Model: 120 -> 32 -> ReLU -> 13 ' <<<"$out" &&
    grep -q '350 train / 50 val / 100 test images (1x10x12)' <<<"$out" && grep -q '^test_acc\|test_acc:' <<<"$out"; then
    ok "train --dataset idx: 1x10x12 images, 13 classes from the labels"
else
    bad "train --dataset idx -> exit $rc, stdout: $out, stderr: $err"
fi
# --val-size F: a fraction of the training set (Keras' validation_split: 400 - floor(400 * 0.85)
# = 60); a resume given the same fraction (the same count) continues, another is refused
run train --device cpu --dataset idx --data "$tmp/idx" --val-size 0.15 --epochs 1 --lr 0.2 --quiet --save "$tmp/frac"
run train --device cpu --dataset idx --data "$tmp/idx" --val-size 0.15 --epochs 1 --lr 0.2 --save "$tmp/frac2"
frac2_last=$(grep '^Epoch \[0\]' <<<"$out")
if [ "$rc" -eq 0 ] && grep -q '340 train / 60 val / 100 test images' <<<"$out"; then
    ok "--val-size 0.15 holds out 60 of 400 images"
else
    bad "--val-size 0.15 -> exit $rc, stdout: $out, stderr: $err"
fi
run train --resume "$tmp/frac" --val-size 0.15 --epochs 2 --quiet
[ "$rc" -eq 0 ] && grep -q '^Epoch \[1\]' <<<"$out" && ok "--resume with the run's --val-size fraction" ||
    bad "--resume frac --val-size 0.15 -> exit $rc: $out $err"
run train --resume "$tmp/frac" --val-size 0.2 --epochs 3
[ "$rc" -eq 2 ] && [ "$(nlines "$err")" -eq 1 ] &&
    grep -q -- "--val-size 0.2: 80 of the 400 training images, but the run in $tmp/frac holds out 60" <<<"$err" &&
    ok "--resume with another --val-size fraction -> exit 2: $err" || bad "--resume frac --val-size 0.2 -> exit $rc: $err"
# eval --part val: the run's split (60 images) again, as its last epoch line; on other training
# images (one pixel changed) refused by their fingerprint; of a run without validation, refused
run eval --model "$tmp/frac2" --part val --data "$tmp/idx"
if [ "$rc" -eq 0 ] && grep -q '^Data: idx validation split (--val-size 60 of the 400 training images, seed 42), 60 images$' <<<"$out" &&
    [ "$(grep '^val_loss: ' <<<"$out")" = "${frac2_last#Epoch \[0\], }" ]; then
    ok "eval --part val: the run's 60 validation images, its epoch line (${frac2_last#Epoch \[0\], })"
else
    bad "eval --part val -> exit $rc: $out $err (the run's epoch: $frac2_last)"
fi
cp -r "$tmp/idx" "$tmp/idx_other"
python3 - "$tmp/idx_other/train-images-idx3-ubyte" <<'PY'
import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(16 + 5)
    b = f.read(1)
    f.seek(16 + 5)
    f.write(bytes([b[0] ^ 1]))
PY
run eval --model "$tmp/frac2" --part val --data "$tmp/idx_other"
[ "$rc" -eq 1 ] && [ "$(nlines "$err")" -eq 1 ] && grep -q "the run's validation split is of other training images" <<<"$err" &&
    ok "eval --part val on other training images -> exit 1: $err" || bad "eval --part val on other data -> exit $rc: $err"
run train --device cpu --dataset idx --data "$tmp/idx" --val-size 0 --epochs 1 --quiet --save "$tmp/noval"
run eval --model "$tmp/noval" --part val
[ "$rc" -eq 1 ] && grep -q 'the run held out no validation images (--val-size 0)' <<<"$err" &&
    ok "eval --part val of a run without validation -> exit 1" || bad "eval --part val of --val-size 0 -> exit $rc: $err"
run train --device cpu --dataset idx --data "$tmp/idx" --val-size 1e-17 --epochs 2 --patience 1
[ "$rc" -eq 2 ] && grep -q -- '--val-size 1e-17: 0 of the 400 training images (a fraction too small to hold out one; 0 means none)' <<<"$err" &&
    ok "--val-size 1e-17 of 400 images -> exit 2 (not a run without validation): $err" || bad "--val-size 1e-17 -> exit $rc: $err"
run train --device cpu --dataset idx --data "$tmp/idx" --val-size 0.999 --epochs 1
[ "$rc" -eq 2 ] && grep -q -- '--val-size: 0.999 (400) leaves no training images' <<<"$err" &&
    ok "--val-size 0.999 of 400 images -> exit 2: $err" || bad "--val-size 0.999 -> exit $rc: $err"
run eval --model "$tmp/idxrun" --data "$tmp/idx"
[ "$rc" -eq 0 ] && grep -q '^Data: idx test set, 100 images' <<<"$out" &&
    ok "eval of an idx model reads its dataset from the checkpoint" ||
    bad "eval --model (idx) --data DIR -> exit $rc, stdout: $out, stderr: $err"
# IDX files of 10x12 images and labels 0..9 as --dataset mnist: refused by their shape
mkdir -p "$tmp/notmnist"
python3 - "$tmp/notmnist" <<'PY'
import struct, sys
for prefix in ("train", "t10k"):
    with open(f"{sys.argv[1]}/{prefix}-images-idx3-ubyte", "wb") as f:
        f.write(struct.pack(">IIII", 0x803, 20, 10, 12) + bytes(120 * 20))
    with open(f"{sys.argv[1]}/{prefix}-labels-idx1-ubyte", "wb") as f:
        f.write(struct.pack(">II", 0x801, 20) + bytes(k % 10 for k in range(20)))
PY
run train --device cpu --dataset mnist --data "$tmp/notmnist" --epochs 1
[ "$rc" -eq 1 ] && [ "$(nlines "$err")" -eq 1 ] &&
    grep -q "notmnist/train-images-idx3-ubyte: images of 10x12 pixels, not MNIST's 28x28" <<<"$err" &&
    ok "10x12 IDX files as --dataset mnist -> exit 1: ${err#ctrain: $tmp/}" || bad "IDX files as mnist -> exit $rc: $err"
# labels all 0: one class, nothing to learn (a one-output model is always right): refused
mkdir -p "$tmp/oneclass"
python3 - "$tmp/oneclass" <<'PY'
import struct, sys
for prefix in ("train", "t10k"):
    with open(f"{sys.argv[1]}/{prefix}-images-idx3-ubyte", "wb") as f:
        f.write(struct.pack(">IIII", 0x803, 20, 4, 4) + bytes(range(16)) * 20)
    with open(f"{sys.argv[1]}/{prefix}-labels-idx1-ubyte", "wb") as f:
        f.write(struct.pack(">II", 0x801, 20) + bytes(20))
PY
run train --device cpu --dataset idx --data "$tmp/oneclass" --val-size 5 --epochs 1
[ "$rc" -eq 1 ] && [ "$(nlines "$err")" -eq 1 ] && grep -q "oneclass: every label is 0 (one class): nothing to classify" <<<"$err" &&
    ok "idx data of one class -> exit 1: ${err#ctrain: }" || bad "idx data of one class -> exit $rc: $err"
# a saved model of 10 classes on 13-class data: eval and show refuse it, naming the file
run train --device cpu --dataset idx --data "$tmp/notmnist" --val-size 5 --epochs 1 --quiet --save "$tmp/ten"
for cmd in eval show; do
    extra=(); [ "$cmd" = show ] && extra=(--out "$tmp/ten.png")
    run "$cmd" --model "$tmp/ten" --data "$tmp/idx" "${extra[@]}"
    [ "$rc" -eq 1 ] && [ "$(nlines "$err")" -eq 1 ] && [ ! -e "$tmp/ten.png" ] &&
        grep -q "ten/model.safetensors: the model outputs 10 classes, but idx's test images have 13 (labels 0..12)" <<<"$err" &&
        ok "$cmd of a 10-class model on 13-class data -> exit 1: ${err#ctrain: $tmp/}" || bad "$cmd, 10-class model, 13 classes -> exit $rc: $err"
done
# ... and on images of another shape (4x4): refused before any output, naming the file
for cmd in eval show; do
    extra=(); [ "$cmd" = show ] && extra=(--out "$tmp/ten.png")
    run "$cmd" --model "$tmp/ten" --data "$tmp/oneclass" "${extra[@]}"
    [ "$rc" -eq 1 ] && [ -z "$out" ] && [ "$(nlines "$err")" -eq 1 ] &&
        grep -q "ten/model.safetensors: the model takes (1, 10, 12) images, but idx's test images are (1, 4, 4)" <<<"$err" &&
        ok "$cmd of a 10x12 model on 4x4 images -> exit 1: ${err#ctrain: $tmp/}" || bad "$cmd, 10x12 model, 4x4 images -> exit $rc: $out $err"
done
# --init with a model of 10 outputs for data of 13 classes: its last layer made anew for 13
# (tests/cli_finetune.sh); one whose last layer is not a linear one: the file named, exit 1
run train --device cpu --dataset idx --data "$tmp/idx" --val-size 50 --epochs 1 --init "$tmp/ten"
[ "$rc" -eq 0 ] && grep -q "^Model: flatten,linear(32),relu,linear(13) (.*, weights from $tmp/ten/model.safetensors but the last layer's, new for these classes)$" <<<"$out" &&
    ok "--init of a 10-class model on 13 classes: a new last layer of 13" || bad "--init, 10 classes for 13 -> exit $rc: $out $err"
run train --device cpu --dataset idx --data "$tmp/notmnist" --val-size 5 --epochs 1 --quiet \
    --model "flatten,linear(10),relu" --save "$tmp/tenrelu"
run train --device cpu --dataset idx --data "$tmp/idx" --val-size 50 --epochs 1 --init "$tmp/tenrelu"
[ "$rc" -eq 1 ] && grep -q "^ctrain: $tmp/tenrelu/model.safetensors: its model outputs 10 classes, but the idx data has 13$" <<<"$err" &&
    ok "--init of a 10-output model ending in relu on 13 classes -> exit 1, the file named" || bad "--init, 10 outputs + relu for 13 classes -> exit $rc: $err"
# a model with fewer outputs than the labels need: the flag named, exit 2
run train --device cpu --dataset idx --data "$tmp/idx" --val-size 50 --epochs 1 --model "flatten,linear(5)"
[ "$rc" -eq 2 ] && grep -qx "ctrain: --model: its last layer outputs 5 classes, but the idx data has 13 (end it with linear(13)) (see ctrain train --help)" <<<"$err" &&
    ok "--model with 5 outputs for 13 classes -> exit 2" || bad "--model linear(5) for 13 classes -> exit $rc: $err"
# resuming on other data is refused (its fingerprint is saved); a copy of the same data is fine
cp -r "$tmp/idx" "$tmp/idxcopy"
cp -r "$tmp/idxrun" "$tmp/idxrun2"
run train --resume "$tmp/idxrun2" --data "$tmp/idxcopy" --epochs 4
[ "$rc" -eq 0 ] && ok "--resume with a copy of the data in another folder -> exit 0" || bad "--resume with a copy -> exit $rc: $err"
python3 - "$tmp/idxcopy/train-images-idx3-ubyte" <<'PY'
import sys
b = bytearray(open(sys.argv[1], "rb").read()); b[100] ^= 1; open(sys.argv[1], "wb").write(b)
PY
cp "$tmp/idxrun2/train_state.safetensors" "$tmp/state.keep"
run train --resume "$tmp/idxrun2" --data "$tmp/idxcopy" --epochs 5
[ "$rc" -eq 1 ] && [ "$(nlines "$err")" -eq 1 ] && cmp -s "$tmp/state.keep" "$tmp/idxrun2/train_state.safetensors" &&
    grep -q "train_state.safetensors: the idx training set in $tmp/idxcopy is not the data this run was trained on (fingerprint [0-9a-f]\{16\}, saved [0-9a-f]\{16\}); resuming needs the same data" <<<"$err" &&
    ok "--resume on data with one pixel changed -> exit 1, the checkpoint kept" || bad "--resume on changed data -> exit $rc: $err"
CTRAIN_DATA="$tmp/nothing-here" run eval --model "$tmp/idxrun"
if [ "$rc" -eq 1 ] && [ "$(nlines "$err")" -eq 1 ] && grep -q 't10k-images-idx3-ubyte.*--data DIR' <<<"$err"; then
    ok "eval of an idx model without its folder -> exit 1: $err"
else
    bad "eval (idx) without --data -> exit $rc, stderr: $err"
fi
# show with a model of another input shape: refused before reading a row (8x8 images, the
# model's rows are 10x12: reading them as its rows ran past the batch, ASan found)
mkdir -p "$tmp/idx8"
python3 - "$tmp/idx8" <<'PY'
import struct, sys
for prefix, n in (("train", 20), ("t10k", 20)):
    with open(f"{sys.argv[1]}/{prefix}-images-idx3-ubyte", "wb") as f:
        f.write(struct.pack(">IIII", 0x803, n, 8, 8) + bytes(64 * n))
    with open(f"{sys.argv[1]}/{prefix}-labels-idx1-ubyte", "wb") as f:
        f.write(struct.pack(">II", 0x801, n) + bytes(k % 13 for k in range(n)))
PY
run show --model "$tmp/idxrun" --data "$tmp/idx8" --out "$tmp/wrongshape.png"
if [ "$rc" -eq 1 ] && [ "$(nlines "$err")" -eq 1 ] && [ ! -e "$tmp/wrongshape.png" ] &&
    grep -q 'takes (1, 10, 12) images, but idx.s test images are (1, 8, 8)' <<<"$err"; then
    ok "show --model on images of another shape -> exit 1: $err"
else
    bad "show --model (10x12) on 8x8 images -> exit $rc, stderr: $err"
fi
# training and test images of different shapes: named as the data's fault, before any work
mkdir -p "$tmp/mixed"
cp "$tmp/idx/train-"* "$tmp/idx8/t10k-"* "$tmp/mixed/"
run train --dataset idx --data "$tmp/mixed" --val-size 50 --epochs 1
[ "$rc" -eq 1 ] && [ "$(nlines "$err")" -eq 1 ] && ! grep -q "^Epoch" <<<"$out" &&
    grep -q "idx in .*mixed: the test images are (1, 8, 8) but the training images (1, 10, 12)" <<<"$err" &&
    ok "train on test images of another shape -> exit 1: ${err#ctrain: }" ||
    bad "train --dataset idx with 8x8 test and 10x12 training images -> exit $rc: $err"
# a grid whose pictures would be wider than 4096 pixels: the reason, not just the numbers
mkdir -p "$tmp/wide"
python3 - "$tmp/wide" <<'PY'
import struct, sys
for prefix in ("train", "t10k"):
    with open(f"{sys.argv[1]}/{prefix}-images-idx3-ubyte", "wb") as f:
        f.write(struct.pack(">IIII", 0x803, 4, 2, 300) + bytes(2400))
    with open(f"{sys.argv[1]}/{prefix}-labels-idx1-ubyte", "wb") as f:
        f.write(struct.pack(">II", 0x801, 4) + bytes(4))
PY
run show --dataset idx --data "$tmp/wide" --scale 16 --out "$tmp/wide.png"
[ "$rc" -eq 1 ] && [ "$(nlines "$err")" -eq 1 ] && [ ! -e "$tmp/wide.png" ] &&
    grep -q 'images of 2x300 pixels at scale 16 are more than 4096 pixels a side' <<<"$err" &&
    ok "show of too wide a grid -> exit 1: $err" || bad "show --scale 16 of 2x300 images -> exit $rc: $err"
# resumed from elsewhere without --data: the saved folder is used
(cd / && "$CT" train --resume "$tmp/idxrun" --epochs 4 --quiet >"$tmp/out" 2>"$tmp/err")
rc=$?
[ "$rc" -eq 0 ] && grep -q '^test_acc\|test_acc:' "$tmp/out" &&
    ok "train --resume (idx) without --data finds the saved folder" ||
    bad "train --resume (idx) -> exit $rc, stderr: $(cat "$tmp/err")"
run summary --dataset idx --data "$tmp/idx"
[ "$rc" -eq 0 ] && grep -q 'linear2 .*(13)' <<<"$out" && grep -q '(1, 10, 12)' <<<"$out" &&
    ok "summary --dataset idx reads the shape and classes" ||
    bad "summary --dataset idx -> exit $rc, stdout: $out, stderr: $err"
run summary --data "$tmp/idx"
[ "$rc" -eq 2 ] && ok "summary --data without --dataset idx -> exit 2" ||
    bad "summary --data (mnist) -> exit $rc, stderr: $err"

# ------------------------------------------------------------------ --device cuda without a GPU
if [ "$auto_cuda" -eq 1 ]; then
    echo "SKIP device-cuda-missing: a usable CUDA device is present"
else
    run train --device cuda --data "$tmp/garbage"
    if [ "$rc" -ne 0 ] && [ "$rc" -lt 128 ] && [ "$(nlines "$err")" -eq 1 ] &&
        grep -q '^ctrain: ' <<<"$err" && ! ls "$tmp"/core* >/dev/null 2>&1; then
        ok "train --device cuda without a GPU -> exit $rc: $err"
    else
        bad "train --device cuda without a GPU -> exit $rc, stderr: $err"
    fi
fi

# a GPU that is not there (with or without GPUs): one line naming it, exit 1
run train --device cuda:999999 --data "$tmp/garbage"
if [ "$rc" -eq 1 ] && [ "$(nlines "$err")" -eq 1 ] && grep -q '^ctrain: .*cuda:999999' <<<"$err"; then
    ok "train --device cuda:999999 -> exit 1: $err"
else
    bad "train --device cuda:999999 -> exit $rc, stderr: $err"
fi

echo
finish cli_data
