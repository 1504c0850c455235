#!/usr/bin/env bash
# cli_checkpoint.sh — checkpoints in and out of ctrain, checked by an independent implementation
# (tests/st_tool.py: Python's standard library only):
#   - a checkpoint ctrain wrote is read by the Python reader: names, shapes, metadata; and its
#     values give, in a pure-Python forward pass, the probabilities `ctrain predict` prints;
#   - files the Python writer made (no metadata; or ctrain's) are evaluated by `ctrain eval` with
#     the loss and accuracy the Python side computes;
#   - every kind of bad file is one line on stderr naming the file, exit 1, never a crash.
# Skips when the MNIST files are not in `ctrain data path` or python3 is missing.
# Usage: bash tests/cli_checkpoint.sh path/to/ctrain
set -u
. "$(cd "$(dirname "$0")" && pwd)/clilib.sh"
CT=${1:?usage: bash cli_checkpoint.sh path/to/ctrain}
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1

PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3 # the system one starts fastest
py() { "$PY" "$here/st_tool.py" "$@"; }
nlines() { printf '%s' "$1" | grep -c ''; }

dir=$("$CT" data path) || { echo "FAIL - ctrain data path"; exit 1; }
for f in t10k-images-idx3-ubyte t10k-labels-idx1-ubyte train-images-idx3-ubyte train-labels-idx1-ubyte; do
    if [ ! -e "$dir/$f" ] && [ ! -e "$dir/$f.gz" ]; then
        echo "SKIP cli_checkpoint: no MNIST in $dir (run: ctrain data fetch mnist)"
        exit 0
    fi
done
command -v "$PY" >/dev/null || { echo "SKIP cli_checkpoint: no python3"; exit 0; }
# the runs whose training is not the point: 1000 training images of a cut of MNIST
. "$here/small_mnist.sh"
small_mnist "$dir" "$tmp/cut" 2000 500 || { echo "FAIL - could not cut a small MNIST from $dir"; exit 1; }
CUT=(--data "$tmp/cut" --val-size 1000)

# compare_probs EXPECTED_FILE: every "IMAGE: C (P)  top 10: c p, ..." line of $out against the
# expected probabilities (one line of 10 per image), within 2e-4 (4 decimals are printed)
compare_probs() {
    "$PY" - "$1" "$tmp/out" <<'EOF'
import sys
expect = [list(map(float, l.split())) for l in open(sys.argv[1])]
got = []
for line in open(sys.argv[2]):
    probs = [0.0] * 10
    for part in line.split("top 10:")[1].replace("[inverted]", "").split(","):
        c, p = part.split()
        probs[int(c)] = float(p)
    got.append(probs)
assert len(got) == len(expect), (len(got), len(expect))
worst = max(abs(a - b) for e, g in zip(expect, got) for a, b in zip(e, g))
print("max difference %.6f" % worst)
sys.exit(0 if worst <= 2e-4 else 1)
EOF
}

# ------------------------------------------------------------------ ctrain writes, Python reads
run train --epochs 1 --lr 0.5 --val-size 1000 --workers 0 --quiet --save "$tmp/run"
test_line=$(grep '^test_loss' <<<"$out")
run_out=$out
if [ "$rc" -eq 0 ] && [ -s run/model.safetensors ] && [ -s run/train_state.safetensors ]; then
    ok "train --save run -> model.safetensors and train_state.safetensors"
else
    bad "train --save -> exit $rc: $err"
fi
[ -z "$(ls -A run | grep -v safetensors)" ] && ok "no temporary files left in run/" || bad "left in run/: $(ls -A run)"
py read run/model.safetensors >"$tmp/read" 2>&1
if grep -qx 'linear1.weight F32 \[32, 784\]' "$tmp/read" && grep -qx 'linear1.bias F32 \[32\]' "$tmp/read" &&
    grep -qx 'linear2.weight F32 \[10, 32\]' "$tmp/read" && grep -qx 'linear2.bias F32 \[10\]' "$tmp/read" &&
    [ "$(grep -vc '^meta' "$tmp/read")" -eq 4 ]; then
    ok "the Python reader finds the tutorial's state_dict: linear1.weight [32, 784] ... linear2.bias [10]"
else
    bad "Python reader: $(cat "$tmp/read")"
fi
acc=$(sed 's/.*test_acc: //' <<<"$test_line")
if grep -qx 'meta model_spec = flatten,linear(32),relu,linear(10)' "$tmp/read" &&
    grep -qx 'meta input_shape = \[1, 28, 28\]' "$tmp/read" && grep -qx 'meta format = pt' "$tmp/read" &&
    grep -q "^meta test_acc = ${acc}" "$tmp/read" && grep -qx 'meta epoch = 1' "$tmp/read"; then
    ok "metadata: format pt, model_spec, input_shape, epoch, test_acc $acc"
else
    bad "metadata: $(grep '^meta' "$tmp/read" | tr '\n' ';')"
fi
py read run/train_state.safetensors >"$tmp/read2" 2>&1
grep -q '^model.linear1.weight F32 \[32, 784\]' "$tmp/read2" && grep -q '^meta position = {"epoch": 1, "batch": 0' "$tmp/read2" &&
    grep -q '^meta config = {"phases": \[\[1, 0.5\]\]' "$tmp/read2" &&
    ok "train state: model.* tensors, position and config in the metadata" || bad "train state: $(head -c 600 "$tmp/read2")"

for i in 0 1 2 3 4 5; do py export "$dir" "$i" "$tmp/img$i.pgm"; done
py forward run/model.safetensors "$dir" 6 >"$tmp/expect"
run predict --model run --top 10 img0.pgm img1.pgm img2.pgm img3.pgm img4.pgm img5.pgm
if [ "$rc" -eq 0 ] && d=$(compare_probs "$tmp/expect"); then
    ok "a pure-Python forward pass with the file's values gives ctrain predict's probabilities ($d)"
else
    bad "Python forward vs ctrain predict -> exit $rc: $d $err"
fi

run eval --model run
if [ "$rc" -eq 0 ] && grep -qxF "$test_line" <<<"$out"; then
    ok "eval --model run prints train's test line: $test_line"
else
    bad "eval -> exit $rc, $(head -3 <<<"$out") $err"
fi

# ------------------------------------------------------------------ Python writes, ctrain reads
mkdir -p const mlp
py write-const const/model.safetensors 3
run eval --model const
expect=$(py const-expect "$dir" 3)
if [ "$rc" -eq 0 ] && grep -qxF "$expect" <<<"$out" && grep -q '^Model: flatten,linear(10) (7850 parameters)' <<<"$out"; then
    ok "a Python-written file (no metadata: spec inferred) predicting 3 everywhere: $expect"
else
    bad "eval of the constant model -> exit $rc, expected $expect, got: $(head -3 <<<"$out") $err"
fi
if grep -qx '  class 3: 1.0000 (1010/1010), precision 0.1010 (1010/10000), F1 0.1835' <<<"$out" &&
    grep -qx '  class 0: 0.0000 (0/980), precision 0.0000 (0/0), F1 0.0000' <<<"$out" &&
    grep -qx '  macro average: accuracy (recall) 0.1000, precision 0.0101, F1 0.0183' <<<"$out" &&
    grep -qE '^   0 +0 +0 +0 +980 +0 +0 +0 +0 +0 +0$' <<<"$out"; then
    ok "its per-class accuracy, precision and F1 (0 for a class never predicted) and confusion matrix (all in column 3)"
else
    bad "per-class / confusion of the constant model: $out"
fi
py write-mlp mlp/model.safetensors 11 16 --meta
py forward mlp/model.safetensors "$dir" 6 >"$tmp/expect"
run predict --model mlp/model.safetensors --top 10 img0.pgm img1.pgm img2.pgm img3.pgm img4.pgm img5.pgm
if [ "$rc" -eq 0 ] && d=$(compare_probs "$tmp/expect"); then
    ok "a Python-written MLP (784 -> 16 -> 10, with metadata): ctrain predict matches Python ($d)"
else
    bad "Python MLP -> exit $rc: $d $err"
fi
run eval --model mlp --spec 'flatten,linear(16),relu,linear(10)'
[ "$rc" -eq 0 ] && ok "eval --spec (the same layers as the file's)" || bad "eval --spec -> exit $rc: $err"

# summary of a saved model, on the shape it was saved with (like Keras' summary of a loaded one)
run summary --model run
[ "$rc" -eq 0 ] && grep -q "^Model: flatten,linear(32),relu,linear(10), input 1x28x28, from run/model.safetensors$" <<<"$out" &&
    grep -q "^Total params: 25450 " <<<"$out" && ok "summary --model run: its layers and 25450 parameters" ||
    bad "summary --model run -> exit $rc: $out $err"
cp -r run cnn # a folder named as a preset: the preset, and ./cnn the folder
run summary --model cnn
grep -q "^Total params: 1199882 " <<<"$out" && ok "summary --model cnn beside a folder cnn: the preset" ||
    bad "summary --model cnn beside a folder cnn -> exit $rc: $out $err"
run summary --model ./cnn
grep -q "^Total params: 25450 " <<<"$out" && ok "summary --model ./cnn: the saved model" ||
    bad "summary --model ./cnn -> exit $rc: $out $err"
run summary --model run --dataset cifar10
[ "$rc" -eq 2 ] && grep -q -- "--dataset: run/model.safetensors records its input shape" <<<"$err" &&
    ok "summary --model run --dataset cifar10 -> exit 2" || bad "summary of a saved model with --dataset -> exit $rc: $err"
py write-mlp sd.safetensors 7 16 # a PyTorch state_dict: no input shape recorded
run summary --model sd.safetensors
[ "$rc" -eq 2 ] && grep -q -- "sd.safetensors records no input shape (a PyTorch state_dict?): give --dataset" <<<"$err" &&
    ok "summary of a state_dict without --dataset -> exit 2, asking for it" || bad "summary of a state_dict -> exit $rc: $err"
run summary --model sd.safetensors --dataset mnist
[ "$rc" -eq 0 ] && grep -q "^Model: flatten,linear(16),relu,linear(10), input 1x28x28, from sd.safetensors$" <<<"$out" &&
    ok "summary of a state_dict on --dataset mnist's shape" || bad "summary --model sd.safetensors --dataset mnist -> exit $rc: $out $err"

# ------------------------------------------------------------------ bad files
mkdir -p bad
check_bad() { # CASE WORDS
    local case=$1 words=$2
    py bad "$tmp/bad" "$case"
    run predict --model "$tmp/bad" img0.pgm
    if [ "$rc" -eq 1 ] && [ -z "$out" ] && [ "$(nlines "$err")" -eq 1 ] &&
        grep -q "^ctrain: $tmp/bad/model.safetensors: " <<<"$err" && grep -qF -- "$words" <<<"$err"; then
        ok "$case -> exit 1: ${err#ctrain: $tmp/}"
    else
        bad "$case -> exit $rc (expected 1 and one line with \"$words\"): $err"
    fi
}
check_bad truncated "too short"
check_bad truncated-data "out of bounds"
check_bad header-past-end "runs past the end"
check_bad malformed-json "malformed JSON"
check_bad not-object "does not start with '{'"
check_bad metadata-not-string "not a string"
check_bad dtype-f64 "has dtype F64; ctrain reads F32"
check_bad unknown-dtype 'unknown dtype "Q4"'
check_bad offsets-out-of-bounds "out of bounds"
check_bad offsets-overlap "overlap"
check_bad shape-mismatch "hold 100352 bytes but shape and dtype F32 need 12800"
check_bad wrong-shape-for-model "has shape [16, 784] but the model"
check_bad missing-tensor "missing tensor linear2.bias"
check_bad input-too-large "more than 2^31 - 1 values"
check_bad nan-weight "tensor linear2.weight holds NaN at element 5"
check_bad overflowing "the model's output for img0.pgm is not a number (NaN): its weights are damaged or too large"
# a batch norm's running variance below 0 (finite, but its square root is NaN) is a damaged model
run train --model "flatten,linear(16),batchnorm,relu,linear(10)" --epochs 1 "${CUT[@]}" --quiet --save "$tmp/bnv"
mkdir -p "$tmp/bad" && cp "$tmp/bnv/model.safetensors" "$tmp/bad/model.safetensors" &&
    py poke "$tmp/bad/model.safetensors" batchnorm1.running_var 2 -1 && run predict --model "$tmp/bad" img0.pgm
[ "$rc" -eq 1 ] && [ -z "$out" ] && [ "$(nlines "$err")" -eq 1 ] &&
    grep -qF "$tmp/bad/model.safetensors: cannot be loaded: tensor batchnorm1.running_var holds a negative variance (-1) at element 2: a damaged model" <<<"$err" &&
    ok "a negative running variance -> exit 1: ${err#ctrain: $tmp/}" || bad "a negative running_var -> exit $rc: $out $err"
mkfifo fifo.safetensors
timeout 20 "$CT" eval --model fifo.safetensors >"$tmp/out" 2>"$tmp/err"
rc=$? err=$(cat "$tmp/err")
[ "$rc" -eq 1 ] && [ "$err" = "ctrain: fifo.safetensors: not a regular file" ] &&
    ok "a FIFO as the model -> exit 1 at once: ${err#ctrain: }" || bad "a FIFO as the model -> exit $rc: $err"
run eval --model "$tmp/bad"
[ "$rc" -eq 1 ] && [ "$(nlines "$err")" -eq 1 ] && ok "eval with a bad file -> exit 1, one line" ||
    bad "eval with a bad file -> exit $rc: $err"
cp bad/model.safetensors bad/train_state.safetensors
run train --resume "$tmp/bad" --quiet
[ "$rc" -eq 1 ] && [ "$(nlines "$err")" -eq 1 ] && grep -q 'train_state.safetensors' <<<"$err" &&
    ok "train --resume with a bad train state -> exit 1: ${err#ctrain: $tmp/}" || bad "resume of a bad file -> exit $rc: $err"
cp run/model.safetensors bad/train_state.safetensors
run train --resume "$tmp/bad" --quiet
[ "$rc" -eq 1 ] && grep -q 'not a ctrain train state' <<<"$err" &&
    ok "train --resume with a model file -> exit 1: ${err#ctrain: $tmp/}" || bad "resume of a model file -> exit $rc: $err"

# --init: a new run from saved weights. Its validation before training is the saved run's last
# epoch (the same weights, the same split); a model of other shapes is refused naming the
# tensor; a train state's weights serve too; the new run saves and resumes as any other.
last=$(grep '^Epoch \[0\]' <<<"$run_out" | sed 's/^Epoch \[0\], //')
run train --init "$tmp/run" --epochs 1 --lr 0.1 --val-size 1000 --quiet --save "$tmp/ft"
[ "$rc" -eq 0 ] && [ -n "$last" ] && grep -qx "Before training: $last" <<<"$out" &&
    ok "--init DIR: training starts from the saved weights (Before training: $last)" ||
    bad "--init -> exit $rc, expected 'Before training: $last': $out $err"
run train --init "$tmp/run/train_state.safetensors" --epochs 1 --val-size 1000 --quiet
[ "$rc" -eq 0 ] && grep -qx "Before training: $last" <<<"$out" &&
    ok "--init FILE (a train state): the same weights" || bad "--init train state -> exit $rc: $out $err"
py write-mlp pt.safetensors 7 16 # no metadata, as PyTorch's save_file writes a state_dict
run train --init pt.safetensors --hidden 16 --epochs 1 "${CUT[@]}"
[ "$rc" -eq 0 ] && grep -qx 'Model: 784 -> 16 -> ReLU -> 10 (12730 parameters, weights from pt.safetensors)' <<<"$out" &&
    ok "--init from a state_dict without metadata (--hidden 16 to match it)" || bad "--init pt.safetensors -> exit $rc: $out $err"
run train --init pt.safetensors --epochs 1 "${CUT[@]}"
[ "$rc" -eq 0 ] && grep -q '^Model: flatten,linear(16),relu,linear(10) (12730 parameters, weights from pt.safetensors)$' <<<"$out" &&
    ok "--init from a state_dict without metadata: its model inferred from its linearN tensors" ||
    bad "--init pt.safetensors, no --hidden -> exit $rc: $out $err"
run train --resume "$tmp/ft" --epochs 2 --quiet
[ "$rc" -eq 0 ] && grep -q '^Epoch \[1\]' <<<"$out" && ok "a run started with --init resumes" ||
    bad "--resume of an --init run -> exit $rc: $err"
run train --init "$tmp/run" --hidden 16 --epochs 1 --val-size 1000
[ "$rc" -eq 2 ] && [ "$(nlines "$err")" -eq 1 ] &&
    grep -q "^ctrain: --init: $tmp/run/model.safetensors: tensor linear1.weight has shape \[32, 784\]" <<<"$err" &&
    ok "--init with another --hidden -> exit 2, naming the tensor" || bad "--init --hidden 16 -> exit $rc: $err"
# a damaged --init file (no flag involved) is the file's fault: exit 1, naming it
rm -rf ib && cp -r run ib && py meta ib/model.safetensors model_spec 'flatten,linear(32),relu,linear(10'
run train --init "$tmp/ib" --epochs 1 --val-size 1000 --quiet
[ "$rc" -eq 1 ] && [ "$(nlines "$err")" -eq 1 ] && grep -q "^ctrain: $tmp/ib/model.safetensors: its model \"flatten,linear(32),relu,linear(10\" cannot be built" <<<"$err" &&
    ok "--init with a malformed model_spec -> exit 1, naming the file" || bad "--init, malformed model_spec -> exit $rc: $err"
rm -rf ib && cp -r run ib && py meta ib/model.safetensors input_shape '[0, 28, 28]'
run train --init "$tmp/ib" --epochs 1 --val-size 1000 --quiet
[ "$rc" -eq 1 ] && [ "$(nlines "$err")" -eq 1 ] && grep -q "^ctrain: $tmp/ib/model.safetensors: metadata input_shape \"\[0, 28, 28\]\" is not \[C, H, W\]" <<<"$err" &&
    ok "--init with a malformed input_shape -> exit 1, as eval says it" || bad "--init, input_shape [0, 28, 28] -> exit $rc: $err"
rm -rf ib && cp -r run ib && py meta ib/model.safetensors model_spec 'flatten,linear(16),relu,linear(10)'
run train --init "$tmp/ib" --epochs 1 --val-size 1000 --quiet
[ "$rc" -eq 1 ] && [ "$(nlines "$err")" -eq 1 ] && grep -q "^ctrain: $tmp/ib/model.safetensors: tensor linear1.weight has shape \[32, 784\]" <<<"$err" &&
    ok "--init whose weights are not its own model's -> exit 1" || bad "--init, spec and weights apart -> exit $rc: $err"
run train --init "$tmp/run" --resume "$tmp/ft"
[ "$rc" -eq 2 ] && grep -q '^ctrain: --init: a resumed run has its own weights' <<<"$err" &&
    ok "--init with --resume -> exit 2" || bad "--init with --resume -> exit $rc: $err"

# tiny FILE SPEC SHAPE: a safetensors file of metadata alone, no tensors
tiny() {
    "$PY" - "$@" <<'EOF'
import json, struct, sys
h = json.dumps({"__metadata__": {"model_spec": sys.argv[2], "input_shape": sys.argv[3]}}).encode()
h += b" " * (-len(h) % 8)
open(sys.argv[1], "wb").write(struct.pack("<Q", len(h)) + h)
EOF
}
# a file of 112 bytes whose metadata describes a model of a billion parameters: refused before
# allocating 4 GB (its model cannot have many more parameters than the file has numbers)
tiny huge.safetensors "flatten,linear(1000000),linear(250)" "[1, 28, 28]"
run eval --model huge.safetensors
[ "$rc" -eq 1 ] && [ "$(nlines "$err")" -eq 1 ] &&
    grep -q '^ctrain: huge.safetensors: model spec "flatten,linear(1000000),linear(250)": 1035000250 parameters, more than 16777216$' <<<"$err" &&
    ok "a tiny file describing a huge model -> exit 1 at once: ${err#ctrain: }" || bad "a tiny file of a huge model -> exit $rc: $err"
# ... and one whose metadata describes an input of 16384x16384 (no parameters at all): refused
# before allocating gigabytes of activations
tiny wide.safetensors "maxpool(4096),maxpool(4),flatten" "[1, 16384, 16384]"
run eval --model wide.safetensors
[ "$rc" -eq 1 ] && [ "$(nlines "$err")" -eq 1 ] &&
    grep -Eq '^ctrain: wide.safetensors: model spec ".*" on input 1x16384x16384: 268435456 outputs in a layer for one sample, more than the [0-9]+ allowed for a batch of 256$' <<<"$err" &&
    ok "a tiny file describing huge activations -> exit 1 at once" || bad "a tiny file of huge activations -> exit $rc: $err"

# a train state with a value out of range: refused, naming the file and the value, before any
# work (not taken for a bad flag, not quietly replaced by a default)
bad_state() { # WHAT WORDS KEY VALUE [FIELD]
    local what=$1 words=$2
    shift 2
    rm -rf st && cp -r run st && py meta st/train_state.safetensors "$@" && check_state "$what" "$words"
}
check_state() { # WHAT WORDS: resuming st is refused so
    local what=$1 words=$2
    run train --resume "$tmp/st" --quiet
    if [ "$rc" -eq 1 ] && [ "$(nlines "$err")" -eq 1 ] && [ -z "$out" ] &&
        grep -q "^ctrain: $tmp/st/train_state.safetensors: " <<<"$err" && grep -qF -- "$words" <<<"$err"; then
        ok "train state with $what -> exit 1: ${err#ctrain: $tmp/}"
    else
        bad "train state with $what -> exit $rc (expected 1 and one line with \"$words\"): $err"
    fi
}
bad_state "val_size x50" 'metadata "val_size" is "x50"' val_size x50
bad_state "device gpu" 'metadata "device" is "gpu"' device gpu
bad_state "momentum -1" "config: momentum must be >= 0" config -1 momentum
bad_state 'schedule "x"' 'config: "schedule" is not an integer' config '"x"' schedule
bad_state "eps []" 'config: "eps" is not a finite number' config '[]' eps
bad_state "a huge optimizer count" '"count" 1000000000000 is more than' optimizer_state 1000000000000 count
bad_state "weight_decay null" "config: weight decay must be a finite number" config null weight_decay
bad_state 'dataset ""' 'metadata "dataset" is ""' dataset ''
bad_state 'model ""' 'its model "" cannot be built for these 1x28x28 images: model spec is empty' model ''
bad_state "an infinite lr" 'config: phase 1 is not [epochs, lr]' config '[[1, 1e308]]' phases
bad_state "a phase of 0 epochs" 'config: phase 1 has 0 epochs, which --schedule cannot express' config '[[0, 0.1], [1, 0.5]]' phases
bad_state "a hundred thousand and one epochs" 'the phases hold more than 100000 epochs' config '[[100000, 0.1], [1, 0.1]]' phases
bad_state 'seed "-5"' 'config: "seed" is not a number in a string' config '"-5"' seed
bad_state 'seed 10^23' 'config: "seed" is not a number in a string' config '"100000000000000000000000"' seed
bad_state "momentum 5" 'config: momentum 5 is outside [0, 1), the range of --momentum' config 5 momentum
bad_state "a position past the end" 'position: epoch 1 batch 7 is past the end of the run' position 7 batch
bad_state "a negative loss sum" 'position: "loss_sum" is -1e+300, not a finite number >= 0' position -1e300 loss_sum
bad_state "negative seconds" 'position: "seconds" is -1e+308, not a finite number >= 0' position -1e308 seconds
bad_state "more correct than samples" 'position: "correct" is 5, more than the 0 batches of 128 hold' position 5 correct
bad_state "an accuracy of 2" 'history.before: "accuracy" is 2, not a number in [0, 1]' history '{"loss": 0.5, "accuracy": 2, "count": 1000}' before
bad_state "another model's spec" 'metadata model_spec "flatten,linear(10)" is not the run'"'"'s model "flatten,linear(32),relu,linear(10)"' model_spec 'flatten,linear(10)'
bad_state "another input shape" 'metadata input_shape "[0, 28, 28]" is not the run'"'"'s input [1, 28, 28]' input_shape '[0, 28, 28]'
rm -rf st && cp -r run st && py meta-del st/train_state.safetensors model hidden val_size device &&
    check_state "none of the tool's options (the first missing is said)" 'no "model" in the metadata'
rm -rf st && cp -r run st && py meta st/train_state.safetensors config 0.9 momentum &&
    check_state "momentum but no momentum buffer" 'optimizer_state is empty, but 461 steps of SGD with momentum have run'
rm -rf st && cp -r run st && py meta st/train_state.safetensors config 0.9 momentum &&
    py meta st/train_state.safetensors optimizer_state 25450 count && py meta st/train_state.safetensors optimizer_state '["exp_avg"]' slots &&
    check_state "a slot of another name" 'optimizer_state: slot 0 is not "momentum_buffer"'
rm -rf st && cp -r run st && py meta st/train_state.safetensors val_size 60000
run train --resume "$tmp/st" --quiet
[ "$rc" -eq 1 ] && [ "$(nlines "$err")" -eq 1 ] && grep -qF "$tmp/st: the run holds out 60000 validation images, but this training set has only 60000" <<<"$err" &&
    ok "a saved split larger than the data -> exit 1, naming the run: ${err#ctrain: $tmp/}" ||
    bad "a saved val_size of 60000 -> exit $rc: $err"
rm -rf st && cp -r run st && py meta st/train_state.safetensors history '[]' epochs &&
    py meta st/train_state.safetensors position 0 epoch && py meta st/train_state.safetensors position 100000 batch &&
    check_state "a position past the epoch's batches" 'position epoch 0 batch 100000 is outside this run (1 epochs of 461 batches)'

# AdamW's weight decay: PyTorch's 0.01 by default, 0 when --weight-decay 0 says so; a train state
# written before 5 Dec 2026 (no "weight_decay_as_is") with 0 meant 0.01, and resumes so
run train --optimizer adamw --weight-decay 0 --epochs 1 "${CUT[@]}" --save "$tmp/aw0"
grep -q '^Plan: .*AdamW' <<<"$out" && ! grep -q 'weight decay' <<<"$out" &&
    ok "adamw --weight-decay 0: no decay" || bad "adamw --weight-decay 0 -> exit $rc: $out"
"$PY" - "$tmp/aw0/train_state.safetensors" <<'EOF'
import json, struct, sys
raw = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
h = json.loads(raw[8:8 + n])
c = json.loads(h["__metadata__"]["config"])
del c["weight_decay_as_is"]
h["__metadata__"]["config"] = json.dumps(c)
t = json.dumps(h).encode()
t += b" " * (-len(t) % 8)
open(sys.argv[1], "wb").write(struct.pack("<Q", len(t)) + t + raw[8 + n:])
EOF
run train --resume "$tmp/aw0" --epochs 2
[ "$rc" -eq 0 ] && grep -q '^Plan: .*AdamW.*, weight decay 0.01' <<<"$out" &&
    ok "an older AdamW train state with weight decay 0 resumes with PyTorch's 0.01, as it ran" ||
    bad "older AdamW train state -> exit $rc: $out $err"
# an optimizer's state that is not finite, or a mean of squares below 0, is refused when read,
# not trained on (NaN from the first step)
for poke in "exp_avg 5 nan|holds NaN at element 5: a damaged train state" \
    "exp_avg_sq 3 -1|holds a negative value at element 3: a damaged train state" \
    "exp_avg 0 inf|holds an infinity at element 0"; do
    read -r slot at value <<<"${poke%%|*}"
    rm -rf st && cp -r aw0 st && py poke st/train_state.safetensors "optimizer.linear1.weight.$slot" "$at" "$value" &&
        check_state "optimizer.linear1.weight.$slot[$at] = $value" "tensor optimizer.linear1.weight.$slot ${poke#*|}"
done

# the largest values the flags take are resumed too (the train state's ranges are the flags')
# (an lr of 1e30 diverges: the run stops with exit 1, and its checkpoint of epoch 0 is resumed)
for flags in "--epochs 1 --batch-size 2147483647 --eval-batch-size 2147483647 --prefetch 2147483647|0|2" \
             "--schedule 1@0.5,1@1e30 --save-every 1|1|1"; do
    IFS='|' read -r flags want1 epochs <<<"$flags"
    rm -rf big
    # shellcheck disable=SC2086 # $flags are words
    run train "${CUT[@]}" --quiet --save big $flags
    rc1=$rc
    run train --resume big --epochs "$epochs" --quiet
    [ "$rc1" -eq "$want1" ] && [ "$rc" -eq 0 ] && ok "train $flags (exit $rc1), then --resume -> exit 0" ||
        bad "train $flags (exit $rc1), then --resume -> exit $rc: $err"
done

# a --save folder that cannot be written in is found before the training, not after it
mkdir -p "$tmp/ro"
if chattr +i "$tmp/ro" 2>/dev/null; then
    run train --epochs 1 --val-size 1000 --quiet --save "$tmp/ro"
    chattr -i "$tmp/ro"
    [ "$rc" -eq 1 ] && [ -z "$out" ] && [ "$(nlines "$err")" -eq 1 ] && grep -q "ro: cannot write in the folder" <<<"$err" &&
        ok "--save into an immutable folder -> exit 1 before training: ${err#ctrain: $tmp/}" ||
        bad "--save into an immutable folder -> exit $rc, stdout: $out, stderr: $err"
elif [ "$(id -u)" != 0 ]; then
    chmod 555 "$tmp/ro"
    run train --epochs 1 --val-size 1000 --quiet --save "$tmp/ro"
    chmod 755 "$tmp/ro"
    [ "$rc" -eq 1 ] && [ -z "$out" ] && grep -q "ro: cannot write in the folder" <<<"$err" &&
        ok "--save into a read-only folder -> exit 1 before training" || bad "--save into a read-only folder -> exit $rc: $err"
else
    echo "SKIP --save into an unwritable folder: root, and chattr +i is not available here"
fi

# a save that fails between its two files (here model.safetensors is a folder) puts the
# previous train state back: the folder keeps the old pair, and nothing else
rm -rf pair && cp -r run pair && rm pair/model.safetensors && mkdir pair/model.safetensors
cp pair/train_state.safetensors state.before
run train --resume "$tmp/pair" --epochs 2 --quiet
if [ "$rc" -eq 1 ] && grep -q "model.safetensors: is a folder, not a file" <<<"$err" &&
    cmp -s state.before pair/train_state.safetensors &&
    [ "$(ls -A pair | tr '\n' ' ')" = "model.safetensors train_state.safetensors " ]; then
    ok "a save failing at its second file -> exit 1, the previous train state back"
else
    bad "a save failing at its second file -> exit $rc, $(ls -A pair | tr '\n' ' '), $err"
fi
# the same with the train state a link to a file elsewhere: the link stays, its file is put back
rm -rf pair elsewhere && cp -r run pair && mkdir elsewhere && mv pair/train_state.safetensors elsewhere/ &&
    ln -s "$tmp/elsewhere/train_state.safetensors" pair/train_state.safetensors &&
    rm pair/model.safetensors && mkdir pair/model.safetensors
run train --resume "$tmp/pair" --epochs 2 --quiet
if [ "$rc" -eq 1 ] && [ -L pair/train_state.safetensors ] && cmp -s state.before elsewhere/train_state.safetensors &&
    [ "$(ls -A elsewhere | tr '\n' ' ')" = "train_state.safetensors " ]; then
    ok "... and through a link to a train state elsewhere: the link kept, its file put back"
else
    bad "a save failing at its second file (linked train state) -> exit $rc, $(ls -A elsewhere pair | tr '\n' ' '), $err"
fi
# a checkpoint during the run (--save-every, --save-best) that cannot be written stops the run
# as an error (exit 1, the cause said once), not as an interruption, and is not tried again
rm -rf pair && cp -r run pair && rm pair/model.safetensors && mkdir pair/model.safetensors
run train --resume "$tmp/pair" --epochs 3 --save-every 1 --quiet
if [ "$rc" -eq 1 ] && [ "$(grep -c "model.safetensors: is a folder, not a file" <<<"$err")" -eq 1 ] &&
    grep -q "stopped after 2 of 3 epochs: a checkpoint could not be written" <<<"$err" &&
    ! grep -q "interrupted" <<<"$err" && ! grep -q "test_loss" <<<"$out"; then
    ok "--save-every failing -> exit 1 after epoch 2 of 3, the cause said once"
else
    bad "--save-every failing -> exit $rc, stdout: $out, stderr: $err"
fi
rm -rf pair && cp -r run pair && mkdir pair/best.safetensors
run train --resume "$tmp/pair" --epochs 2 --save-best --quiet
if [ "$rc" -eq 1 ] && [ "$(grep -c "best.safetensors: is a folder, not a file" <<<"$err")" -eq 1 ] &&
    grep -q "stopped after 2 of 2 epochs: .*; the run is saved in $tmp/pair$" <<<"$err" &&
    ! grep -q "interrupted" <<<"$err" && ! cmp -s run/train_state.safetensors pair/train_state.safetensors; then
    ok "--save-best failing -> exit 1, the cause said once, the run's own checkpoint still written"
else
    bad "--save-best failing -> exit $rc, stderr: $err"
fi

echo
finish cli_checkpoint
