#!/usr/bin/env bash
# cli_train.sh — short real runs of `ctrain train` on MNIST: the exact output lines that bench
# scripts parse, the progress bar on a terminal (and none on a non-terminal stderr), --quiet, a
# too-large --val-size, --val-size 0 (no validation), --patience (early stopping, and resuming such a
# run), --restore-best, --lr-schedule plateau, a diverged run (NaN loss: exit 1) and Ctrl-C (exit
# 130). Skips when the MNIST files are not in `ctrain data path`.
# Usage: bash tests/cli_train.sh path/to/ctrain
set -u
. "$(cd "$(dirname "$0")" && pwd)/clilib.sh"
. "$(cd "$(dirname "$0")" && pwd)/small_mnist.sh"
CT=${1:?usage: bash cli_train.sh path/to/ctrain}
tmp=$(mktemp -d)
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1

count() { grep -Ec "$1" <<<"$out"; }
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3

# ------------------------------------------------------------------ the data, found the normal way
dir=$("$CT" data path) || { echo "FAIL - ctrain data path"; exit 1; }
for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
    if [ ! -e "$dir/$f" ] && [ ! -e "$dir/$f.gz" ]; then
        echo "SKIP cli_train: no MNIST in $dir (run: ctrain data fetch mnist)"
        exit 0
    fi
done
echo "data: $dir"

# ------------------------------------------------------------------ one epoch, default output
EPOCH_RE='^Epoch \[0\], val_loss: [0-9]+\.[0-9]{4}, val_acc: [0-9]\.[0-9]{4}$'
BEFORE_RE='^Before training: val_loss: [0-9]+\.[0-9]{4}, val_acc: [0-9]\.[0-9]{4}$'
TEST_RE='^test_loss: [0-9]+\.[0-9]{4}, test_acc: [0-9]\.[0-9]{4}$'
TIME_RE='^Training time: [0-9]+\.[0-9]{3} s \([0-9]+\.[0-9]{3} s/epoch\)$'
run train --epochs 1 --lr 0.5 --workers 1
echo "$out" | sed 's/^/    | /'
[ "$rc" -eq 0 ] && ok "train --epochs 1 --lr 0.5 --workers 1 -> exit 0" || bad "train -> exit $rc: $err"
[ "$(count '^Epoch ')" -eq 1 ] && [ "$(count "$EPOCH_RE")" -eq 1 ] &&
    ok "exactly one line 'Epoch [0], val_loss: X, val_acc: Y'" || bad "Epoch line(s) wrong"
[ "$(count "$BEFORE_RE")" -eq 1 ] && ok "one 'Before training: ...' line" || bad "Before training line wrong"
[ "$(count "$TEST_RE")" -eq 1 ] && ok "one 'test_loss: X, test_acc: Y' line" || bad "test_loss line wrong"
[ "$(count "$TIME_RE")" -eq 1 ] && ok "one 'Training time: T s (S s/epoch)' line" || bad "Training time line wrong"
[ "$(count '^Validation time: [0-9]+\.[0-9]{3} s \([0-9]+\.[0-9]{3} s/pass\)$')" -eq 1 ] &&
    ok "one 'Validation time: V s (P s/pass)' line" || bad "Validation time line wrong"
grep -q '^Device: ' <<<"$out" && grep -Eq '^Model: 784 -> 32 -> ReLU -> 10 \(25450 parameters\)$' <<<"$out" &&
    ok "Device and Model lines" || bad "Device/Model lines missing"
acc=$(grep -E "$EPOCH_RE" <<<"$out" | sed 's/.*val_acc: //')
awk -v a="${acc:-0}" 'BEGIN { exit !(a > 0.85) }' && ok "val_acc $acc > 0.85 after one epoch" ||
    bad "val_acc '$acc' after one epoch (expected > 0.85)"
if grep -q $'\r' "$tmp/err" || grep -q $'\033' "$tmp/err" || grep -q 'samples/s' "$tmp/err"; then
    bad "progress bar characters on a non-terminal stderr"
else
    ok "no progress bar on a non-terminal stderr (stderr: $(wc -c <"$tmp/err") bytes)"
fi

# ------------------------------------------------------------------ the progress bar on a terminal
# drawn on a terminal's stderr with the running train loss and accuracy (at the epoch's last
# step: the epoch's train_loss and train_acc, as --log has them), and erased before each line
if command -v script >/dev/null; then
    script -qec "$(printf '%q ' "$CT" train --epochs 2 --lr 0.5 --val-size 50000 --log "$tmp/bar.jsonl")" \
        /dev/null >"$tmp/bar.out" 2>&1
    rc=$?
    last=$(tr '\r' '\n' <"$tmp/bar.out" | grep -a '^epoch 2/2 \[=*\] 79/79  loss ' | tail -1)
    want=$("$PY" -c 'import json, sys
r = [json.loads(l) for l in open(sys.argv[1])][-1]
print("loss %.4f acc %.4f" % (r["train_loss"], r["train_acc"]))' "$tmp/bar.jsonl" 2>&1)
    if [ "$rc" -eq 0 ] && [ -n "$last" ] && grep -q -- "$want  .*ETA " <<<"$last" &&
        grep -aq $'\r\033\[KEpoch \[1\], val_loss' "$tmp/bar.out"; then
        ok "progress bar on a terminal, erased before the epoch line: $(tr -d '\r' <<<"$last")"
    else
        bad "progress bar -> exit $rc, last bar '$last', log: $want: $(tr '\r' '\n' <"$tmp/bar.out" | head -c 1500)"
    fi
else
    echo "SKIP progress bar on a terminal: no script(1) to give ctrain one"
fi

# ------------------------------------------------------------------ --quiet: only the result lines
run train --schedule 1@0.5 --quiet --batch-size 256 --workers 0
if [ "$rc" -eq 0 ] && [ "$(grep -c '' <<<"$out")" -eq 4 ] && [ "$(count "$EPOCH_RE")" -eq 1 ] &&
    [ "$(count "$TEST_RE")" -eq 1 ] && [ ! -s "$tmp/err" ]; then
    ok "--quiet -> just Before/Epoch/test/time lines, empty stderr"
else
    bad "--quiet -> exit $rc, stdout: $out, stderr: $err"
fi

# ------------------------------------------------------------------ a batch larger than the data
# is all of it in one batch, as PyTorch's DataLoader makes it: the same numbers as a batch of
# exactly the 59000 training images (the 1000 validation, the 10000 test), no 2^30-image buffers
"$CT" train --epochs 2 --lr 0.5 --val-size 1000 --quiet --batch-size 1073741824 \
    --eval-batch-size 1073741824 >"$tmp/huge.out" 2>"$tmp/huge.err"
rc_huge=$?
"$CT" train --epochs 2 --lr 0.5 --val-size 1000 --quiet --batch-size 59000 \
    --eval-batch-size 10000 >"$tmp/whole.out" 2>"$tmp/whole.err"
if [ "$rc_huge" -eq 0 ] && same huge whole 0; then
    ok "--batch-size 2^30 on 59000 images: the numbers of --batch-size 59000"
else
    bad "--batch-size 2^30 -> exit $rc_huge: $(cat "$tmp/huge.err") $(results huge) vs $(results whole)"
fi

# ------------------------------------------------------------------ --val-size too large
run train --val-size 60000 --quiet
if [ "$rc" -eq 2 ] && grep -q -- '--val-size' <<<"$err" && [ "$(grep -c '' <<<"$err")" -eq 1 ]; then
    ok "--val-size 60000 -> exit 2: $err"
else
    bad "--val-size 60000 -> exit $rc, stderr: $err"
fi

# ------------------------------------------------------------------ --val-size 0: no validation
# every image trains; the epoch lines give the training's loss and accuracy, no line evaluates
# before training, --log has no val keys, and what watches val_loss is refused
TRAIN_RE='^Epoch \[[0-9]\], train_loss: [0-9]+\.[0-9]{4}, train_acc: [0-9]\.[0-9]{4}$'
run train --val-size 0 --epochs 2 --lr 0.5 --save "$tmp/nv" --log "$tmp/nv.jsonl" --plot "$tmp/nvp"
if [ "$rc" -eq 0 ] && [ "$(count "$TRAIN_RE")" -eq 2 ] && [ "$(count 'val_|Before|Validation')" -eq 0 ] &&
    grep -q '^Data: 60000 train / 0 val / 10000 test' <<<"$out" && [ -s "$tmp/nvp/accuracy.png" ]; then
    ok "--val-size 0: 60000 images train, epoch lines of train_loss and train_acc, no val line"
else
    bad "--val-size 0 -> exit $rc: $out $err"
fi
logged=$("$PY" -c 'import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert not any(k.startswith("val_") for r in rows for k in r), rows
print(" ".join("%.4f" % r["train_loss"] for r in rows))' "$tmp/nv.jsonl" 2>&1)
printed=$(grep -E "$TRAIN_RE" <<<"$out" | sed 's/.*train_loss: \([0-9.]*\),.*/\1/' | tr '\n' ' ' | sed 's/ $//')
[ -n "$printed" ] && [ "$logged" = "$printed" ] && ok "--val-size 0: --log has the printed train losses ($logged), no val keys" ||
    bad "--val-size 0: --log says '$logged', the epoch lines '$printed'"
run train --resume "$tmp/nv" --epochs 3
[ "$rc" -eq 0 ] && [ "$(count "$TRAIN_RE")" -eq 1 ] && grep -q '^Epoch \[2\], train_loss' <<<"$out" &&
    ok "--val-size 0: resumed for a third epoch" || bad "resume of a --val-size 0 run -> exit $rc: $out $err"
run train --resume "$tmp/nv" --epochs 4 --patience 1
[ "$rc" -eq 2 ] && grep -q -- '--patience: watches val_loss, but the resumed run holds out no validation' <<<"$err" &&
    ok "--patience on a run without validation -> exit 2: $err" || bad "--patience with no validation -> exit $rc: $err"
run train --val-size 0 --save-best --save "$tmp/nv2"
[ "$rc" -eq 2 ] && grep -q -- '--save-best: watches val_loss' <<<"$err" && [ ! -e "$tmp/nv2" ] &&
    ok "--save-best --val-size 0 -> exit 2: $err" || bad "--save-best --val-size 0 -> exit $rc: $err"

# ------------------------------------------------------------------ --patience (early stopping)
# stops after the first epoch whose best val_loss is N epochs old, not before; then tests and
# saves as a finished run; a resume keeps the patience and applies it to the whole history
# patience_ok LOG N [STOPPED [FROM]]: the val losses of --log file LOG (exact, not the printed
# 4 decimals) obey patience N from epoch FROM on (a resumed run's first), and $out's Early
# stopping line says so; STOPPED=1 (default): the last epoch stopped, 0: none did
patience_ok() {
    "$PY" - "$1" "$2" "${3:-1}" "${4:-0}" "$out" <<'EOF'
import json, re, sys
log, n, stopped, start, text = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1", int(sys.argv[4]), sys.argv[5]
losses = [json.loads(l)["val_loss"] for l in open(log)]
best, stop_at = None, None
for e, v in enumerate(losses):
    if best is None or v < losses[best]:
        best = e
    if e >= start and e - best >= n:
        stop_at = e
        break
if stopped:
    assert stop_at == len(losses) - 1, (losses, stop_at)
    m = re.search(r"^Early stopping after epoch (\d+) \((\d+) of (\d+) epochs run\): val_loss has not "
                  r"improved for %d epochs? \(best ([0-9.]+) at epoch (\d+)\)$" % n, text, re.M)
    assert m and int(m.group(1)) == stop_at and int(m.group(5)) == best, (m and m.groups(), best)
else:
    assert stop_at is None and "Early stopping" not in text, (losses, stop_at)
EOF
}
run train --epochs 30 --lr 0.5 --val-size 1000 --patience 2 --save "$tmp/early" --log "$tmp/early.jsonl" \
    --save-best
n_epochs=$(count '^Epoch ')
if [ "$rc" -eq 0 ] && [ "$n_epochs" -lt 30 ] && [ "$(count "$TEST_RE")" -eq 1 ] &&
    patience_ok "$tmp/early.jsonl" 2 &&
    [ "$(grep -c '' "$tmp/early.jsonl")" -eq "$n_epochs" ] && [ -f "$tmp/early/model.safetensors" ]; then
    ok "--patience 2: stopped after $n_epochs of 30 epochs, tested and saved: $(grep '^Early' <<<"$out")"
else
    bad "--patience 2 -> exit $rc ($n_epochs epochs): $out $err"
fi
# --save-best: best.safetensors holds the epoch of the lowest val_loss (its metadata says which)
best_ok() {
    "$PY" - "$1" "$2" <<'EOF'
import json, struct, sys
losses = [json.loads(l)["val_loss"] for l in open(sys.argv[2])]
best = min(range(len(losses)), key=lambda e: (losses[e], e))
raw = open(sys.argv[1], "rb").read()
meta = json.loads(raw[8:8 + struct.unpack("<Q", raw[:8])[0]])["__metadata__"]
assert int(meta["epoch"]) == best + 1 and abs(float(meta["val_loss"]) - losses[best]) < 1e-6, (meta, losses)
EOF
}
if best_ok "$tmp/early/best.safetensors" "$tmp/early.jsonl"; then
    ok "--save-best: best.safetensors is the epoch of the lowest val_loss"
else
    bad "--save-best: $(ls "$tmp/early")"
fi
run train --resume "$tmp/early" --epochs 30 --quiet --log "$tmp/early2.jsonl" # the whole history
if [ "$rc" -eq 0 ] && grep -q '^Early stopping' <<<"$out" && patience_ok "$tmp/early2.jsonl" 2 1 "$n_epochs"; then
    ok "--resume of an early-stopped run: one more epoch at least, then patience 2 (kept) over the whole history ($(grep -c '' "$tmp/early2.jsonl") epochs in all)"
elif [ "$rc" -eq 0 ] && [ "$(grep -c '' "$tmp/early2.jsonl")" -eq 30 ] &&
    patience_ok "$tmp/early2.jsonl" 2 0 "$n_epochs"; then
    ok "--resume of an early-stopped run: ran on to 30 epochs, never 2 epochs without a better val_loss"
else
    bad "--resume of an early-stopped run -> exit $rc: $out $err"
fi
best_ok "$tmp/early/best.safetensors" "$tmp/early2.jsonl" &&
    ok "--save-best kept by --resume: best.safetensors follows the whole history" ||
    bad "--save-best after --resume"
run eval --model "$tmp/early/best.safetensors"
[ "$rc" -eq 0 ] && [ "$(count "$TEST_RE")" -eq 1 ] && ok "ctrain eval --model DIR/best.safetensors" ||
    bad "eval of best.safetensors -> exit $rc: $err"
# --monitor val_acc (Keras' monitor="val_accuracy"): --patience, --save-best and --restore-best
# follow the highest val_acc (strictly higher improves, the first of equals kept), on a noisy
# run of 3000 images
small_mnist "$dir" "$tmp/cut_acc" 3000 100 >/dev/null
run train --dataset idx --data "$tmp/cut_acc" --epochs 30 --lr 1 --val-size 500 --patience 2 \
    --monitor val_acc --save-best --restore-best --save "$tmp/acc" --log "$tmp/acc.jsonl"
if [ "$rc" -eq 0 ] && "$PY" - "$tmp/acc.jsonl" "$tmp/acc/best.safetensors" "$out" <<'EOF2'
import json, re, struct, sys
accs = [json.loads(l)["val_acc"] for l in open(sys.argv[1])]
best = None
for e, a in enumerate(accs):
    if best is None or a > accs[best]:
        best = e
    if e - best >= 2:
        break
assert e == len(accs) - 1 < 29, (accs, e)  # it stopped there, early
text = sys.argv[3]
assert re.search(r"^Early stopping after epoch %d \(%d of 30 epochs run\): val_acc has not improved "
                 r"for 2 epochs \(best %.4f at epoch %d\)$" % (e, e + 1, accs[best], best), text, re.M), text
assert re.search(r"^Restored the weights of epoch %d \(val_acc %.4f, the highest; epoch %d's: %.4f\)$"
                 % (best, accs[best], e, accs[e]), text, re.M), text
assert ", monitoring val_acc" in text
raw = open(sys.argv[2], "rb").read()
meta = json.loads(raw[8:8 + struct.unpack("<Q", raw[:8])[0]])["__metadata__"]
assert int(meta["epoch"]) == best + 1 and abs(float(meta["val_acc"]) - accs[best]) < 1e-6, (meta, accs)
print("val_accs", " ".join("%.3f" % a for a in accs), "best", best)
EOF2
then
    ok "--monitor val_acc: stopped, best.safetensors and the restored weights at the highest val_acc"
else
    bad "--monitor val_acc -> exit $rc: $out $err"
fi
# --min-delta (Keras' min_delta): the best moves only on an improvement of more than 0.04, so
# the run stops where plain patience (the same log) would not; a resume keeps it
md_ok() {
    "$PY" - "$1" "$out" <<'EOF2'
import json, re, sys
losses = [json.loads(l)["val_loss"] for l in open(sys.argv[1])]
def stop(delta):
    best = None
    for e, v in enumerate(losses):
        if best is None or v + delta < losses[best]:
            best = e
        if e - best >= 2:
            return e, best
    return None, best
(e, best), plain = stop(0.04), stop(0.0)
assert e == len(losses) - 1 and plain[0] != e, (losses, e, plain)
assert re.search(r"^Early stopping after epoch %d \(%d of 30 epochs run\): val_loss has not improved by "
                 r"more than 0.04 for 2 epochs \(best %.4f at epoch %d\)$" % (e, e + 1, losses[best], best),
                 sys.argv[2], re.M), sys.argv[2]
EOF2
}
run train --dataset idx --data "$tmp/cut_acc" --epochs 30 --lr 0.5 --val-size 500 --patience 2 \
    --min-delta 0.04 --log "$tmp/md.jsonl" --save "$tmp/md"
[ "$rc" -eq 0 ] && grep -q '^Plan: .*early stopping (patience 2, min delta 0.04)' <<<"$out" && md_ok "$tmp/md.jsonl" &&
    ok "--min-delta 0.04: $(grep '^Early' <<<"$out")" || bad "--min-delta 0.04 -> exit $rc: $out $err"
run train --resume "$tmp/md" --epochs 30 --log "$tmp/md2.jsonl"
[ "$rc" -eq 0 ] && grep -q "patience 2, min delta 0.04" <<<"$out" &&
    ok "--resume keeps --min-delta: $(grep '^Early' <<<"$out")" || bad "--resume of a --min-delta run -> exit $rc: $out $err"
run train --epochs 1 --min-delta 0.1
[ "$rc" -eq 2 ] && grep -q -- '--min-delta: applies to --patience N (not given)' <<<"$err" &&
    ok "--min-delta alone -> exit 2" || bad "--min-delta alone -> exit $rc: $err"
run train --epochs 1 --monitor val_acc
[ "$rc" -eq 2 ] && grep -q -- '--monitor: applies to --patience, --save-best, --restore-best and --lr-schedule plateau (none given)' <<<"$err" &&
    ok "--monitor alone -> exit 2" || bad "--monitor alone -> exit $rc: $err"
# a resumed run keeps its metric (its plateau cuts, best epoch and best.safetensors follow it)
run train --dataset idx --data "$tmp/cut_acc" --epochs 1 --lr 0.5 --val-size 500 --quiet \
    --lr-schedule plateau --monitor val_acc --save "$tmp/pl_acc"
run train --resume "$tmp/pl_acc" --monitor val_loss --epochs 2
[ "$rc" -eq 2 ] && grep -q -- "--monitor val_loss: the run in $tmp/pl_acc was saved with val_acc" <<<"$err" &&
    ok "--resume of a plateau run on val_acc with --monitor val_loss -> exit 2" ||
    bad "--resume pl_acc --monitor val_loss -> exit $rc: $err"
# and ReduceLROnPlateau's knobs: saved with the run, refused when they differ, taken when equal
for args in "--lr-cooldown 3|--lr-cooldown 3: the run in $tmp/pl_acc was saved with 0" \
    "--min-lr 0.01|--min-lr 0.01: the run in $tmp/pl_acc was saved with 0" \
    "--lr-threshold 0.01|--lr-threshold 0.01: the run in $tmp/pl_acc was saved with 0.0001" \
    "--lr-threshold-mode abs|--lr-threshold-mode abs: the run in $tmp/pl_acc was saved with rel"; do
    read -r -a a <<<"${args%%|*}"
    run train --resume "$tmp/pl_acc" "${a[@]}" --epochs 2
    [ "$rc" -eq 2 ] && grep -qF -- "${args#*|}" <<<"$err" && ok "--resume pl_acc ${a[*]} -> exit 2" ||
        bad "--resume pl_acc ${a[*]} -> exit $rc: $err"
done
run train --resume "$tmp/pl_acc" --lr-cooldown 0 --min-lr 0 --lr-threshold 1e-4 --lr-threshold-mode rel --epochs 2 --quiet
[ "$rc" -eq 0 ] && ok "--resume pl_acc with its plateau knobs given again: accepted" || bad "--resume pl_acc with its knobs -> exit $rc: $err"
run train --resume "$tmp/early" --monitor val_acc --epochs 31 --quiet
[ "$rc" -eq 2 ] && grep -q -- "--monitor val_acc: the run in $tmp/early was saved with val_loss" <<<"$err" &&
    ok "--resume of a --save-best run with another --monitor -> exit 2" ||
    bad "--resume early --monitor val_acc -> exit $rc: $err"
run train --resume "$tmp/acc" --epochs 31 --quiet
[ "$rc" -eq 0 ] && grep -q '^test_loss' <<<"$out" && ok "--resume of a val_acc run without --monitor: it keeps val_acc" ||
    bad "--resume acc -> exit $rc: $err"
# ------------------------------------------------------------------ --restore-best
# (Keras' restore_best_weights) on 2000 images at an lr high enough that val_loss wanders: the
# test line and model.safetensors are the best epoch's weights (as best.safetensors, which
# --save implies), the train state the last epoch's (a resume to 10 epochs prints and saves
# what a straight 10-epoch run does); the same without --save; with --patience after the stop
small_mnist "$dir" "$tmp/cut" 2000 1000 || bad "small_mnist: no cut of MNIST"
RB=(--dataset idx --data "$tmp/cut" --lr 2 --momentum 0.9 --val-size 500 --restore-best --quiet)
restored_ok() { # LOG: $out's Restored line names the epoch of the lowest val_loss in LOG
    "$PY" - "$1" "$out" <<'EOF'
import json, re, sys
losses = [json.loads(l)["val_loss"] for l in open(sys.argv[1])]
best = min(range(len(losses)), key=lambda e: (losses[e], e))
m = re.search(r"^Restored the weights of epoch (\d+) \(val_loss ([0-9.]+), the lowest; "
              r"epoch (\d+)'s: ([0-9.]+)\)$", sys.argv[2], re.M)
assert m and int(m.group(1)) == best and int(m.group(3)) == len(losses) - 1, (m and m.groups(), losses)
print(best)
EOF
}
meta_epoch() {
    "$PY" -c 'import json, struct, sys; r = open(sys.argv[1], "rb").read()
print(json.loads(r[8:8 + struct.unpack("<Q", r[:8])[0]])["__metadata__"]["epoch"])' "$1"
}
run train "${RB[@]}" --epochs 8 --save "$tmp/rb" --log "$tmp/rb.jsonl"
rb_test=$(grep -E "$TEST_RE" <<<"$out")
if [ "$rc" -eq 0 ] && b=$(restored_ok "$tmp/rb.jsonl") &&
    [ "$(meta_epoch "$tmp/rb/model.safetensors")" = $((b + 1)) ] && [ -f "$tmp/rb/best.safetensors" ]; then
    ok "--restore-best: epoch $b of 8 restored, model.safetensors says epoch $((b + 1)), best.safetensors kept"
else
    bad "--restore-best -> exit $rc: $out $err"
fi
run eval --model "$tmp/rb/best.safetensors" --data "$tmp/cut"
best_test=$(grep -E "$TEST_RE" <<<"$out")
run eval --model "$tmp/rb" --data "$tmp/cut"
if [ "$rc" -eq 0 ] && [ -n "$rb_test" ] && [ "$(grep -E "$TEST_RE" <<<"$out")" = "$rb_test" ] &&
    [ "$best_test" = "$rb_test" ]; then
    ok "--restore-best: train's test line, eval of model.safetensors and of best.safetensors agree ($rb_test)"
else
    bad "--restore-best test lines: train '$rb_test', eval '$(grep -E "$TEST_RE" <<<"$out")', best '$best_test'"
fi
run train "${RB[@]}" --epochs 8
[ "$rc" -eq 0 ] && [ "$(grep -E "$TEST_RE" <<<"$out")" = "$rb_test" ] &&
    ok "--restore-best without --save: the same test line" ||
    bad "--restore-best without --save -> exit $rc: $out $err"
run train "${RB[@]}" --epochs 10 --save "$tmp/rb10"
straight=$out
run train --resume "$tmp/rb" --epochs 10 --quiet
if [ "$rc" -eq 0 ] &&
    [ "$(grep -E '^(Epoch|Restored|test_loss)' <<<"$out")" = "$(grep -E '^(Epoch \[[89]\]|Restored|test_loss)' <<<"$straight")" ] &&
    cmp -s "$tmp/rb/model.safetensors" "$tmp/rb10/model.safetensors"; then
    ok "--restore-best resumed from 8 to 10 epochs: the straight run's epochs, restore and model file"
else
    bad "--restore-best resumed -> exit $rc: $out $err"$'\n'"straight: $straight"
fi
run train "${RB[@]}" --epochs 30 --patience 2 --log "$tmp/rbp.jsonl"
if [ "$rc" -eq 0 ] && grep -q '^Early stopping after epoch' <<<"$out" && restored_ok "$tmp/rbp.jsonl" >/dev/null &&
    [ "$(grep -A1 '^Early stopping' <<<"$out" | tail -1 | cut -c1-8)" = "Restored" ]; then
    ok "--restore-best --patience 2: stopped early, then restored the best epoch"
else
    bad "--restore-best --patience 2 -> exit $rc: $out $err"
fi
# added on a resume of a run without best.safetensors: it weighs the epochs from there on
RB0=(--dataset idx --data "$tmp/cut" --val-size 500 --quiet)
run train "${RB0[@]}" --epochs 2 --lr 0.5 --save "$tmp/rb_late"
run train --resume "$tmp/rb_late" --schedule 2@0.5,2@3 --restore-best --quiet
[ "$rc" -eq 0 ] && grep -Eq "^(Restored the weights of epoch [23] \(val_loss [0-9.]+, the lowest since epoch 2;|Best weights since epoch 2: )" <<<"$out" &&
    grep -Eq "$TEST_RE" <<<"$out" && ok "--restore-best added on a resume without best.safetensors: weighs epochs 2.. ($(grep -E '^(Restored|Best)' <<<"$out"))" ||
    bad "--restore-best added on a resume -> exit $rc: $out $err"
run train "${RB0[@]}" --epochs 2 --lr 0.5 --save "$tmp/rb_fin"
run train --resume "$tmp/rb_fin" --restore-best --quiet # (finished: nothing weighed, said)
[ "$rc" -eq 0 ] && grep -q '^Best weights: none weighed (no best.safetensors holds the run.s 2 epochs, and none ran since): the last epoch.s are kept$' <<<"$out" &&
    ok "--restore-best added on resuming a finished run without its file: says none was weighed" ||
    bad "--restore-best on a finished run -> exit $rc: $out $err"
# with batch norm, stopped mid-epoch and resumed: the straight run's model file, counters and all
BN=(--dataset idx --data "$tmp/cut" --val-size 500 --quiet --model "flatten,linear(32),batchnorm,relu,linear(10)"
    --schedule 2@0.5,2@4 --restore-best)
run train "${BN[@]}" --save "$tmp/rb_bn"
CTRAIN_CUDA_GRAPH_STEPS=1 CTRAIN_TEST_INTERRUPT_AT=3:2 "$CT" train "${BN[@]}" --save "$tmp/rb_bn2" >/dev/null 2>&1
run train --resume "$tmp/rb_bn2" --quiet
[ "$rc" -eq 0 ] && grep -q '^Restored the weights of epoch' <<<"$out" &&
    cmp -s "$tmp/rb_bn/model.safetensors" "$tmp/rb_bn2/model.safetensors" &&
    ok "--restore-best with batch norm, interrupted and resumed: the straight run's model file" ||
    bad "--restore-best batch norm resume -> exit $rc: $out $err"
# --snapshots: the model of every --save-every checkpoint kept as epoch_E.safetensors (epoch 4's
# is a 4-epoch run's model), more on a resume; a run replacing the folder removes them
run train "${RB0[@]}" --epochs 5 --lr 0.5 --save-every 2 --snapshots --save "$tmp/snap"
run eval --model "$tmp/snap/epoch_4.safetensors" --data "$tmp/cut"
snap4=$(grep -E "$TEST_RE" <<<"$out")
run train "${RB0[@]}" --epochs 4 --lr 0.5
if [ -f "$tmp/snap/epoch_2.safetensors" ] && [ ! -e "$tmp/snap/epoch_5.safetensors" ] && [ -n "$snap4" ] &&
    [ "$(meta_epoch "$tmp/snap/epoch_4.safetensors")" = 4 ] && [ "$(grep -E "$TEST_RE" <<<"$out")" = "$snap4" ]; then
    ok "--snapshots: epoch_2 and epoch_4.safetensors; epoch 4's tests as a 4-epoch run ($snap4)"
else
    bad "--snapshots: $(ls "$tmp/snap"), epoch 4's '$snap4' vs '$(grep -E "$TEST_RE" <<<"$out")'"
fi
run train --resume "$tmp/snap" --epochs 6 --quiet
[ "$rc" -eq 0 ] && [ -f "$tmp/snap/epoch_6.safetensors" ] && ok "--snapshots kept by a resume: epoch_6.safetensors" ||
    bad "--resume of a --snapshots run -> exit $rc: $(ls "$tmp/snap") $err"
run train "${RB0[@]}" --epochs 1 --lr 0.5 --save "$tmp/snap" --overwrite
[ "$rc" -eq 0 ] && [ "$(ls "$tmp/snap" | grep -c '^epoch_')" -eq 0 ] &&
    ok "--overwrite of a --snapshots folder: its epoch_E files go with it" || bad "--overwrite snap -> $(ls "$tmp/snap") $err"
run train --snapshots --epochs 1
[ "$rc" -eq 2 ] && grep -q -- '--snapshots: needs --save-every N' <<<"$err" && ok "--snapshots without --save-every -> exit 2" ||
    bad "--snapshots alone -> exit $rc: $err"
mkdir -p "$tmp/snap/epoch_3.safetensors" # (a folder of a snapshot's name: never removed)
run train "${RB0[@]}" --epochs 1 --lr 0.5 --save "$tmp/snap" --overwrite
[ "$rc" -eq 0 ] && [ -d "$tmp/snap/epoch_3.safetensors" ] && ok "--overwrite leaves a folder named like a snapshot alone" ||
    bad "--overwrite with a folder epoch_3.safetensors -> exit $rc: $err"
mkdir -p "$tmp/mine" && echo precious >"$tmp/mine/epoch_2.safetensors"
run train "${RB0[@]}" --epochs 2 --lr 0.5 --save-every 2 --snapshots --save "$tmp/mine"
[ "$rc" -eq 2 ] && grep -q -- "--save $tmp/mine: holds another run's epoch_2.safetensors; replace it with --overwrite" <<<"$err" &&
    [ "$(cat "$tmp/mine/epoch_2.safetensors")" = precious ] && ok "a new run's --save onto another run's snapshot: refused, kept" ||
    bad "--save onto epoch_2.safetensors -> exit $rc: $err"
run train "${RB0[@]}" --epochs 2 --lr 0.5 --save-every 1 --snapshots --save "$tmp/lg" --log "$tmp/lg/epoch_1.safetensors"
[ "$rc" -eq 1 ] && grep -q 'is a name --snapshots writes in' <<<"$err" && ok "--log onto a snapshot's name: refused" ||
    bad "--log lg/epoch_1.safetensors -> exit $rc: $err"
run train "${RB0[@]}" --epochs 2 --lr 0.5 --save-every 1 --snapshots --save "$tmp/snap0"
run train --resume "$tmp/snap0" --epochs 3 --save-every 0 --quiet
[ "$rc" -eq 0 ] && [ ! -e "$tmp/snap0/epoch_3.safetensors" ] && ok "--resume of a --snapshots run with --save-every 0: no more snapshots" ||
    bad "--resume snap0 --save-every 0 -> exit $rc: $err"
run train --val-size 0 --restore-best
[ "$rc" -eq 2 ] && grep -q -- '--restore-best: watches val_loss' <<<"$err" &&
    ok "--restore-best --val-size 0 -> exit 2: $err" || bad "--restore-best --val-size 0 -> exit $rc: $err"

run train --epochs 3 --lr 0.5 --val-size 1000 --patience 0 --quiet
[ "$rc" -eq 0 ] && [ "$(count '^Epoch ')" -eq 3 ] && ! grep -q '^Early' <<<"$out" &&
    ok "--patience 0: off (3 of 3 epochs)" || bad "--patience 0 -> exit $rc: $out $err"

# ------------------------------------------------------------------ --micro-batch (accumulation)
# batches of 128 computed 50 images at a time (pieces of 43, 43, 42; the last batch's 92: 46,
# 46), their gradients summed: the numbers of whole batches (no batch norm: to float rounding),
# said on the Plan line; a saved run resumes in its micro-batches (0: whole ones again); -1 is
# refused
MB=(--dataset idx --data "$tmp/cut" --val-size 500 --epochs 2 --lr 0.5 --threads 1)
"$CT" train "${MB[@]}" --quiet >"$tmp/mb0.out" 2>&1
run train "${MB[@]}" --micro-batch 50 --save "$tmp/mb"
cp "$tmp/out" "$tmp/mb1.out"
if [ "$rc" -eq 0 ] && same mb0 mb1 0.0001 &&
    grep -q '^Plan: 2 epochs (2@0.5), batch 128 in micro-batches of up to 50, SGD' <<<"$out"; then
    ok "--micro-batch 50: the epochs of whole batches of 128 (largest difference $(cat "$tmp/worst"))"
else
    bad "--micro-batch 50 -> exit $rc: $(results mb1) vs $(results mb0); $(grep Plan <<<"$out") $err"
fi
run train --resume "$tmp/mb" --epochs 4
[ "$rc" -eq 0 ] && grep -q 'micro-batches of up to 50' <<<"$out" &&
    ok "a resumed run keeps its --micro-batch" || bad "resume of a --micro-batch run -> exit $rc: $out $err"
run train --resume "$tmp/mb" --epochs 5 --micro-batch 0
[ "$rc" -eq 0 ] && grep -q '^Plan: 5 epochs (5@0.5), batch 128, SGD' <<<"$out" &&
    ok "--resume with --micro-batch 0: whole batches again" || bad "--micro-batch 0 on resume -> exit $rc: $(grep Plan <<<"$out") $err"
run train --micro-batch -1 --quiet
[ "$rc" -eq 2 ] && grep -q -- '--micro-batch' <<<"$err" && ok "--micro-batch -1 -> exit 2: $err" ||
    bad "--micro-batch -1 -> exit $rc: $err"

# ------------------------------------------------------------------ --lr-schedule plateau
# each epoch's lr (--log) is --lr times gamma per cut of ReduceLROnPlateau over the val_loss so far
# (patience 0, PyTorch's patience=0: a cut after every epoch without a better val_loss)
for pat in 1 0; do
run train --lr-schedule plateau --lr 0.5 --gamma 0.5 --lr-patience $pat --epochs 12 --dataset idx \
    --data "$tmp/cut_acc" --val-size 500 --quiet --log "$tmp/plateau$pat.jsonl"
if [ "$rc" -eq 0 ] && "$PY" - "$tmp/plateau$pat.jsonl" "$pat" <<'EOF'; then
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
patience = int(sys.argv[2])
best, bad, cuts = float("inf"), 0, 0
for r in rows:
    assert abs(r["lr"] - 0.5 * 0.5 ** cuts) < 1e-9, (r["epoch"], r["lr"], cuts)
    if r["val_loss"] < best * (1 - 1e-4):
        best, bad = r["val_loss"], 0
    else:
        bad += 1
    if bad > patience:
        cuts, bad = cuts + 1, 0
assert len(rows) == 12 and rows[-1]["lr"] < 0.5, rows
EOF
    ok "--lr-schedule plateau: the logged lr of 12 epochs follows ReduceLROnPlateau(patience $pat, factor 0.5)"
else
    bad "--lr-schedule plateau --lr-patience $pat -> exit $rc: $err $(cat "$tmp/plateau$pat.jsonl" 2>/dev/null)"
fi
done

# ------------------------------------------------------------------ a diverged run stops, unsaved
# an epoch whose loss is NaN ends the run (exit 1, no test): "nan" printed as PyTorch prints it,
# the --save-every checkpoint of the last good epoch kept, not replaced by NaN weights
run train --schedule 2@0.5,2@1e30 --val-size 55000 --save "$tmp/div" --save-every 1 --save-best \
    --log "$tmp/div.jsonl" --quiet
meta_epoch=$("$PY" -c 'import json, struct, sys
b = open(sys.argv[1], "rb").read(); n = struct.unpack("<Q", b[:8])[0]
print(json.loads(b[8:8 + n])["__metadata__"]["epoch"])' "$tmp/div/model.safetensors" 2>&1)
if [ "$rc" -eq 1 ] && grep -q '^Epoch \[2\], val_loss: nan, val_acc: ' <<<"$out" &&
    ! grep -q -e '^Epoch \[3\]' -e '^test_loss' -e '-nan' <<<"$out" &&
    grep -q 'training diverged in epoch 2 (train_loss nan, val_loss nan' <<<"$err" &&
    grep -q 'div keeps the checkpoint after epoch 1; best.safetensors: epoch 1$' <<<"$err" &&
    [ "$meta_epoch" = 2 ] && [ "$(grep -c '"val_loss": null' "$tmp/div.jsonl")" -eq 1 ]; then
    ok "a loss of NaN in epoch 2 -> exit 1, the checkpoint of 2 epochs kept: $(head -1 <<<"$err")"
else
    bad "diverging run -> exit $rc, checkpoint epoch '$meta_epoch', stdout: $out, stderr: $err"
fi
# a stop in the middle of a diverging epoch: NaN weights are not saved, the checkpoint of the
# last good epoch stays (and resumes)
cp "$tmp/div/train_state.safetensors" "$tmp/div.state"
CTRAIN_TEST_INTERRUPT_AT=2:5 "$CT" train --resume "$tmp/div" --quiet >"$tmp/out" 2>"$tmp/err"
rc=$? err=$(cat "$tmp/err")
if [ "$rc" -eq 130 ] && cmp -s "$tmp/div.state" "$tmp/div/train_state.safetensors" &&
    grep -q 'train_state.safetensors: not saved: tensor model.linear1.weight holds NaN' <<<"$err" &&
    grep -q 'the checkpoint in .*div could not be updated' <<<"$err"; then
    ok "Ctrl-C in a diverging epoch: NaN weights not saved, the last good checkpoint kept"
else
    bad "Ctrl-C in a diverging epoch -> exit $rc: $err"
fi
# weights that overflow while the losses stay finite (a batch norm's running variance under
# Adam at lr 1e18): a divergence too, the weights checked after each epoch
run train --val-size 55000 --optimizer adam --model "flatten,linear(32),batchnorm,relu,linear(10)" \
    --schedule 1@0.001,2@1e18 --save "$tmp/wdiv" --save-every 1 --quiet
if [ "$rc" -eq 1 ] && grep -q 'training diverged in epoch 1 (' <<<"$err" &&
    grep -q 'wdiv keeps the checkpoint after epoch 0$' <<<"$err" &&
    "$CT" eval --model "$tmp/wdiv" >/dev/null 2>&1; then
    ok "weights not finite after epoch 1 -> exit 1, the checkpoint of epoch 0 kept: $(head -1 <<<"$err" | cut -c1-150)"
else
    bad "weights overflowing -> exit $rc, stdout: $out, stderr: $err"
fi
run train --lr 1e30 --epochs 3 --val-size 55000 --save "$tmp/div_new" --quiet
if [ "$rc" -eq 1 ] && grep -q "nothing was saved in $tmp/div_new (removed" <<<"$err" &&
    [ ! -e "$tmp/div_new" ]; then
    ok "diverged in epoch 0 with --save: nothing saved, the new empty folder removed"
else
    bad "diverging new run -> exit $rc, $(ls "$tmp/div_new" 2>&1), stderr: $err"
fi

# ------------------------------------------------------------------ Ctrl-C stops cleanly (130)
"$CT" train --epochs 500 --lr 0.1 --quiet >"$tmp/out" 2>"$tmp/err" &
pid=$!
for _ in $(seq 1 600); do # up to 60 s for the first epoch line (the handler is set by then)
    grep -q '^Epoch \[0\]' "$tmp/out" && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
done
kill -INT "$pid" 2>/dev/null
for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$pid" 2>/dev/null; then
    kill -KILL "$pid"
    wait "$pid" 2>/dev/null
    bad "SIGINT did not stop training within 30 s"
else
    wait "$pid"
    rc=$?
    if [ "$rc" -eq 130 ] && grep -q 'interrupted' "$tmp/err" && ! grep -q '^test_loss' "$tmp/out"; then
        ok "SIGINT during training -> exit 130: $(cat "$tmp/err")"
    else
        bad "SIGINT -> exit $rc, stderr: $(cat "$tmp/err")"
    fi
fi
pid=""
# the same stop sent twice at once (GNU timeout signals the process, then its process group) is
# one stop: checkpointed, exit 130 (a second signal ended the process unsaved until 6 Dec)
"$CT" train --dataset idx --data "$tmp/cut" --val-size 500 --epochs 100000 --quiet --save "$tmp/twice" \
    >"$tmp/out" 2>"$tmp/err" &
signal_at '^Epoch \[0\]' "$tmp/out" TERM 'kill -TERM "$pid"'
[ "$rc" -eq 130 ] && grep -q "saved to $tmp/twice" "$tmp/err" && [ -f "$tmp/twice/train_state.safetensors" ] &&
    ok "two SIGTERMs at once: one stop, checkpointed, exit 130" ||
    bad "two SIGTERMs at once -> exit $rc: $(cat "$tmp/err")"

echo
finish cli_train
