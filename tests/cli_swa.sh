#!/usr/bin/env bash
# cli_swa.sh — `ctrain train --swa-start` (stochastic weight averaging) as a user sees it: the
# Plan line, SWALR's lrs in --log, the "SWA:" line (with batch norm's statistics recomputed, and
# without batch norm), the saved model is the average (eval --part val gives the SWA line's
# numbers, the test line is its), a run stopped inside the averaged epochs and resumed ends as
# one never stopped (epoch lines, SWA line, model file byte for byte), and the flags refused,
# each with one line and exit 2. (tests/cli_torch_parity.sh checks the numbers against
# torch.optim.swa_utils.) On a small cut of MNIST; skips without MNIST.
# Usage: bash tests/cli_swa.sh path/to/ctrain
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/clilib.sh"
. "$here/small_mnist.sh"
CT=${1:?usage: bash cli_swa.sh path/to/ctrain}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1

dir=$("$CT" data path) || { echo "FAIL - ctrain data path"; exit 1; }
small_mnist "$dir" cut 2000 500 || { echo "SKIP cli_swa: no MNIST in $dir (run: ctrain data fetch mnist)"; exit 0; }
bn="flatten,linear(32),batchnorm,relu,linear(10)"
COMMON=(--dataset idx --data cut --val-size 500 --batch-size 100 --threads 1)
num() { sed -n "s/.*$1: \([0-9.]*\).*/\1/p" <<<"$2" | head -1; }

# ------------------------------------------------------------------ a run with batch norm
run train "${COMMON[@]}" --model "$bn" --epochs 4 --lr 0.2 --momentum 0.9 --swa-start 2 \
    --swa-lr 0.05 --swa-anneal-epochs 1 --log swa.log --save swa --plot plots
swa_line=$(grep '^SWA: ' <<<"$out")
test_line=$(grep '^test_loss: ' <<<"$out")
if [ "$rc" -eq 0 ] &&
    grep -q '^Plan: .*, SWA from epoch 2 (SWALR to lr 0.05 over 1 epoch, cos)' <<<"$out" &&
    grep -qE "^SWA: the weights averaged over 2 epochs \(epochs 2 to 3\), batch norm's statistics recomputed over 1500 training images: val_loss: [0-9.]+, val_acc: [0-9.]+$" <<<"$swa_line" &&
    [ "$(grep -n '^SWA: ' <<<"$out" | cut -d: -f1)" -lt "$(grep -n '^test_loss' <<<"$out" | cut -d: -f1)" ]; then
    ok "--swa-start 2 --swa-lr 0.05: the Plan line names it; $swa_line"
else
    bad "--swa-start 2 -> exit $rc: $out $err"
fi
lrs=$(sed 's/.*"lr": \([^,]*\),.*/\1/' swa.log | tr '\n' ' ')
# (SWALR starts at the lr it finds, and reaches --swa-lr after --swa-anneal-epochs)
[ "$lrs" = "0.2 0.2 0.2 0.05 " ] && ok "SWALR: the epochs' lrs $lrs(from epoch 2, annealed over 1 epoch)" ||
    bad "SWALR lrs: $lrs(expected 0.2 0.2 0.2 0.05)"
# the saved model is the average: eval on the validation split gives the SWA line's numbers,
# on the test set the test line
run eval --model swa --part val --dataset idx --data cut --threads 1
[ "$rc" -eq 0 ] && [ -n "$(num val_loss "$swa_line")" ] &&
    [ "$(num val_loss "$(grep '^val_loss' <<<"$out")")" = "$(num val_loss "$swa_line")" ] &&
    [ "$(num val_acc "$(grep '^val_loss' <<<"$out")")" = "$(num val_acc "$swa_line")" ] &&
    ok "eval --part val of the saved model: the SWA line's $(num val_loss "$swa_line") and $(num val_acc "$swa_line")" ||
    bad "eval --part val of the SWA model -> exit $rc: $out $err (SWA line: $swa_line)"
grep -q "^Weights: SWA's average of the weights after 2 epochs from epoch 2 (train --swa-start)$" <<<"$out" &&
    ok "eval says what the weights are: $(grep '^Weights' <<<"$out")" || bad "eval of the SWA model: no Weights line: $out"
# (the model file's metadata: the average's validation, not the last epoch's)
meta_vl=$(grep -ao '"val_loss": "[0-9.]*"' swa/model.safetensors | grep -o '[0-9][0-9.]*')
[ -n "$meta_vl" ] && [ "$(printf '%.4f' "$meta_vl")" = "$(num val_loss "$swa_line")" ] &&
    grep -aq '"swa_epochs": "2"' swa/model.safetensors &&
    ok "model.safetensors' metadata: val_loss $meta_vl (the average's), swa_epochs 2" ||
    bad "model.safetensors' metadata: val_loss '$meta_vl', SWA line: $swa_line"
run eval --model swa/train_state.safetensors --dataset idx --data cut --threads 1
[ "$rc" -eq 0 ] && grep -q "^Weights: the trained weights (the train state's model.\* tensors" <<<"$out" &&
    ok "eval of the train state: the trained weights, and it says so" || bad "eval of the train state -> exit $rc: $out $err"
run eval --model swa --dataset idx --data cut --threads 1
[ "$rc" -eq 0 ] && [ -n "$test_line" ] &&
    [ "$(num test_loss "$(grep '^test_loss' <<<"$out")")" = "$(num test_loss "$test_line")" ] &&
    ok "eval of the saved model: train's test line ($test_line)" ||
    bad "eval of the SWA model -> exit $rc: $out $err (train: $test_line)"
# and it is not the last epoch's weights: those validate as the last epoch line says, unlike it
last=$(grep -o '"val_loss": [0-9.]*' swa.log | tail -1 | sed 's/.*: //')
[ -n "$last" ] && [ "$(num val_loss "$swa_line")" != "$(printf '%.4f' "$last")" ] &&
    ok "the average validates otherwise than the last epoch's weights ($(printf '%.4f' "$last"))" ||
    bad "SWA line's val_loss is the last epoch's ($last): $swa_line"
# --plot: the average's validation a point of its own (the third series' colour, tab10's green)
# in loss.png and accuracy.png: two blobs of green, the legend's sample and the point; none in
# a run without SWA
green() { /usr/bin/python3 -c 'import sys
from PIL import Image
im = Image.open(sys.argv[1]).convert("RGB")
w, h = im.size
px = im.load()
seen, blobs = set(), 0
for y in range(h):
    for x in range(w):
        if px[x, y] != (44, 160, 44) or (x, y) in seen:
            continue
        blobs += 1
        todo = [(x, y)]
        seen.add((x, y))
        while todo:
            a, b = todo.pop()
            for n in ((a + 1, b), (a - 1, b), (a, b + 1), (a, b - 1)):
                if 0 <= n[0] < w and 0 <= n[1] < h and n not in seen and px[n] == (44, 160, 44):
                    seen.add(n)
                    todo.append(n)
print(blobs)' "$1"; }
if /usr/bin/python3 -c 'import PIL' 2>/dev/null; then
    "$CT" train "${COMMON[@]}" --epochs 2 --lr 0.1 --quiet --plot plots0 >/dev/null 2>&1 || bad "a run with --plot failed"
    g=$(green plots/loss.png) ga=$(green plots/accuracy.png) g0=$(green plots0/loss.png)
    [ "$g" -eq 2 ] && [ "$ga" -eq 2 ] && [ "$g0" -eq 0 ] &&
        ok "--plot: SWA's point in loss.png and accuracy.png (beside the legend's sample); none without SWA" ||
        bad "--plot: green blobs $g, $ga (SWA, expected 2: the legend's and the point), $g0 (without)"
else
    echo "SKIP cli_swa --plot's SWA point: /usr/bin/python3 lacks PIL (apt-get install python3-pil)"
fi

# ------------------------------------------------------------------ without batch norm; a fraction
run train "${COMMON[@]}" --epochs 4 --lr 0.1 --swa-start 0.5 --quiet
if [ "$rc" -eq 0 ] && grep -qE "^SWA: the weights averaged over 2 epochs \(epochs 2 to 3\): val_loss: [0-9.]+, val_acc: [0-9.]+$" <<<"$out"; then
    ok "--swa-start 0.5 of 4 epochs, an MLP: $(grep '^SWA' <<<"$out")"
else
    bad "--swa-start 0.5 -> exit $rc: $out $err"
fi
run train "${COMMON[@]}" --epochs 2 --lr 0.1 --swa-start 1 --val-size 0 --quiet
[ "$rc" -eq 0 ] && grep -qx "SWA: the weights averaged over 1 epoch (epoch 1)" <<<"$out" &&
    ok "--swa-start on the last epoch, no validation split: $(grep '^SWA' <<<"$out")" ||
    bad "--swa-start 1 --val-size 0 -> exit $rc: $out $err"

# ------------------------------------------------------------------ stopped and resumed
# SIGINT at epoch 2 step 3 (one epoch averaged, in the train state), then resumed: the straight
# run's epoch lines, SWA line and model file
SW=("${COMMON[@]}" --model "$bn" --epochs 4 --lr 0.2 --momentum 0.9 --swa-start 1 --swa-lr 0.05
    --swa-anneal-epochs 2 --swa-anneal linear --quiet)
"$CT" train "${SW[@]}" --save straight >straight.out 2>&1
CTRAIN_CUDA_GRAPH_STEPS=1 CTRAIN_TEST_INTERRUPT_AT=2:3 "$CT" train "${SW[@]}" --save part >part1.out 2>&1
r1=$?
grep -aq '"swa_updates": "1"' part/train_state.safetensors && ok "the stop's train state: swa_updates 1" ||
    bad "part/train_state.safetensors: no swa_updates 1 ($(grep -ao '"swa_updates": "[0-9]*"' part/train_state.safetensors))"
"$CT" train --resume part --quiet >part2.out 2>&1
r2=$?
lines() { grep -hE '^(Epoch|SWA|test_loss)' "$@"; }
if [ "$r1" -eq 130 ] && [ "$r2" -eq 0 ] && grep -q '^SWA' straight.out &&
    [ "$(lines part1.out part2.out)" = "$(lines straight.out)" ] &&
    cmp -s part/model.safetensors straight/model.safetensors; then
    ok "stopped in epoch 2 (one epoch averaged) and resumed: the straight run's lines and model file"
else
    bad "SWA stopped and resumed: exit $r1 then $r2: $(cat part1.out part2.out) vs $(cat straight.out)"
fi
grep -aq 'swa\.linear1\.weight' part/train_state.safetensors &&
    ok "the train state keeps the average (swa.* tensors)" || bad "no swa.* tensors in part/train_state.safetensors"
run train --resume part --epochs 4 --quiet
[ "$rc" -eq 0 ] && [ "$(lines <<<"$out")" = "$(grep -E '^(SWA|test_loss)' straight.out)" ] &&
    ok "a finished run resumed: nothing to train, the same SWA and test lines" ||
    bad "--resume of the finished run -> exit $rc: $out $err"
run train --resume part --swa-start 2
[ "$rc" -eq 2 ] && grep -q -- '--swa-start 2: the run in part was saved with SWA from epoch 1' <<<"$err" &&
    ok "--resume with another --swa-start -> exit 2: $err" || bad "--resume part --swa-start 2 -> exit $rc: $err"
run train --resume part --epochs 1
[ "$rc" -eq 2 ] && grep -q -- '--resume part: the run averages its weights from epoch 1 on (--swa-start), past the last of the 1 epochs asked' <<<"$err" &&
    ok "--resume --epochs 1 of a run averaging from epoch 1 -> exit 2: $err" || bad "--resume part --epochs 1 -> exit $rc: $err"
run train --resume part --swa-lr 0.1
[ "$rc" -eq 2 ] && grep -q -- '--swa-lr: the run in part was saved with --swa-lr 0.05' <<<"$err" &&
    ok "--resume with another --swa-lr -> exit 2" || bad "--resume part --swa-lr 0.1 -> exit $rc: $err"
run train --resume part --swa-start 1 --swa-lr 0.05 --swa-anneal-epochs 2 --swa-anneal linear --epochs 4 --quiet
[ "$rc" -eq 0 ] && ok "--resume with the saved SWA flags given again: accepted" || bad "--resume part with its SWA flags -> exit $rc: $err"

# ------------------------------------------------------------------ ctrain sweep ranks by the average
run sweep "${COMMON[@]}" --quiet --epochs 3 --momentum 0.9 --lr 0.05,0.3 --swa-start 1 --swa-start 2 --swa-lr 0.02 \
    --swa-anneal-epochs 1 --save sw
rows=$(tail -n +2 sw/sweep.csv 2>/dev/null)
# each row: its trial's SWA line's values, best_epoch "swa"; ranked by them (ties: the earlier)
mismatch=$(while IFS=, read -r rank trial lr start status ep loss acc epochs secs; do
    line=$(grep '^SWA: ' "sw/trial_$trial/output.txt")
    [ "$ep" = swa ] && [ "$status" = ok ] && [ "$loss" = "$(num val_loss "$line")" ] &&
        [ "$acc" = "$(num val_acc "$line")" ] || echo "trial $trial: $ep $loss $acc vs $line"
done <<<"$rows")
sorted=$(sort -t, -k7,7g -k2,2n <<<"$rows" | cut -d, -f2 | tr '\n' ' ')
if [ "$rc" -eq 0 ] && [ "$(grep -c '' <<<"$rows")" -eq 4 ] && [ -z "$mismatch" ] &&
    [ "$(cut -d, -f2 <<<"$rows" | tr '\n' ' ')" = "$sorted" ] &&
    [ "$(grep -c '^Trial [1-4]/4 (--lr [0-9.]* --swa-start [12]): val_loss [0-9.]* of its SWA average (val_acc ' <<<"$out")" -eq 4 ] &&
    grep -q "best epoch, or of its SWA average: epoch SWA):" <<<"$out" && [ "$(grep -cE '^[1-4] +[1-4] .*  SWA  ' <<<"$out")" -eq 4 ] &&
    grep -q '^Best: trial [1-4] (.*): val_loss [0-9.]* of its SWA average, val_acc ' <<<"$out"; then
    ok "sweep --lr x --swa-start: each trial ranked by its SWA line (order $sorted)"
else
    bad "sweep of SWA trials -> exit $rc: $mismatch / $rows / $out $err"
fi

# ------------------------------------------------------------------ refused
refused() { # WHAT ARGS...: exit 2, one line naming WHAT
    local what=$1
    shift
    run train "${COMMON[@]}" "$@"
    if [ "$rc" -eq 2 ] && [ "$(printf '%s\n' "$err" | grep -c '')" -eq 1 ] && grep -qF -- "$what" <<<"$err"; then
        ok "$* -> exit 2: ${err#ctrain: }"
    else
        bad "$* -> exit $rc (expected 2 naming $what): $err"
    fi
}
refused '--swa-lr: needs --swa-start' --epochs 2 --swa-lr 0.1
refused '--swa-start 4: epoch 4 is past' --epochs 4 --swa-start 4
refused '--swa-start: expected an epoch' --epochs 4 --swa-start 1.5
refused '--swa-start: expected an epoch' --epochs 4 --swa-start two
refused '--swa-start: not with --ema' --epochs 4 --swa-start 2 --ema 0.9
refused '--swa-start: not with --restore-best' --epochs 4 --swa-start 2 --restore-best
refused '--swa-lr: SWALR replaces the schedule' --epochs 4 --swa-start 2 --swa-lr 0.1 --lr-schedule onecycle
refused '--swa-anneal: needs --swa-lr' --epochs 4 --swa-start 2 --swa-anneal linear
refused '--swa-start: does not apply to --lr-find' --lr-find --swa-start 2

finish cli_swa
