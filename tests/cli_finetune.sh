#!/usr/bin/env bash
# cli_finetune.sh — fine-tuning, as Keras' mnist_transfer_cnn example does it: a LeNet-5 trained
# on MNIST's digits 0-4, then --init from it on 200 images of digits 5-9 (relabelled 0-4):
# whole (all layers train), with --freeze conv2 (the convolutions kept, the dense layers train)
# and --freeze backbone (the head alone). Each must beat the same training from scratch by far,
# the frozen layers' tensors must come out bit for bit as they went in and the others not. Then
# a new head (--init on 10 classes, on a folder of 3, and with a --model for other classes),
# resuming a frozen run (its layers stay frozen; another --freeze refused), ctrain summary
# --freeze, --lr-find with frozen layers, and the refusals (no such layer, the last layer, a
# model whose other layers do not fit the file).
# Skips when the MNIST files are not in `ctrain data path` or there is no python3.
# Usage: bash tests/cli_finetune.sh path/to/ctrain
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/clilib.sh"
CT=${1:?usage: bash cli_finetune.sh path/to/ctrain}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1

PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3
command -v "$PY" >/dev/null || { echo "SKIP cli_finetune: no python3"; exit 0; }
dir=$("$CT" data path) || { echo "FAIL - ctrain data path"; exit 1; }
"$PY" "$here/idx_subset.py" "$dir" lo 0,1,2,3,4 3000 500 2>/dev/null ||
    { echo "SKIP cli_finetune: no MNIST in $dir (run: ctrain data fetch mnist)"; exit 0; }
"$PY" "$here/idx_subset.py" "$dir" hi 5,6,7,8,9 200 1000 &&
    "$PY" "$here/idx_subset.py" "$dir" all 0,1,2,3,4,5,6,7,8,9 500 500 ||
    { echo "FAIL - idx_subset.py"; exit 1; }

# the base model: digits 0-4
run train --dataset idx --data lo --model lenet5 --epochs 3 --lr 0.05 --momentum 0.9 \
    --val-size 0 --save base --quiet
base_acc=$(sed -n 's/^test_loss: [0-9.]*, test_acc: //p' <<<"$out")
[ "$rc" -eq 0 ] && [ -n "$base_acc" ] && ok "the base model: LeNet-5 on digits 0-4, test_acc $base_acc" ||
    { bad "the base run -> exit $rc: $err"; finish cli_finetune; exit; }

# acc FLAGS...: trains on digits 5-9 (5 epochs); its test_acc in $got (empty if it failed)
acc() {
    run train --dataset idx --data hi --model lenet5 --epochs 5 --lr 0.05 --momentum 0.9 \
        --val-size 0 "$@"
    got=$(sed -n 's/^test_loss: [0-9.]*, test_acc: //p' <<<"$out")
    [ "$rc" -eq 0 ] || { bad "train $* on digits 5-9 -> exit $rc: $err"; got=; }
}
acc --quiet && scratch=$got
acc --init base --quiet --save whole && whole=$got
acc --init base --freeze conv2 --save conv && conv=$got conv_out=$out
acc --init base --freeze backbone --quiet --save head && head=$got
echo "# digits 5-9 from 200 images: scratch $scratch, fine-tuned $whole, conv layers frozen $conv, head alone $head"
for x in whole conv head; do
    [ -n "${!x}" ] && [ -n "$scratch" ] && awk -v a="${!x}" -v b="$scratch" 'BEGIN { exit !(a > b + 0.15) }' &&
        ok "fine-tuning ($x) beats training from scratch: $scratch -> ${!x}" ||
        bad "fine-tuning ($x): test_acc '${!x}', from scratch '$scratch'"
done
grep -q '^Frozen: the layers up to conv2 (2572 parameters; they run as at inference), 58709 train$' <<<"$conv_out" &&
    grep -q 'weights from base/model.safetensors)$' <<<"$conv_out" &&
    ok "the Frozen line names the last frozen layer and counts the parameters" ||
    bad "Frozen/Model lines: $(grep -E '^(Model|Frozen)' <<<"$conv_out")"
# same RUN LAYERS...: the tensors of those layers are the base's bit for bit, the others not
same_as_base() {
    local run=$1 t v want
    shift
    "$PY" "$here/st_tool.py" same base/model.safetensors "$run/model.safetensors" >"$tmp/same" ||
        return 1
    while read -r t v; do
        want=differs
        for l in "$@"; do [ "${t%%.*}" = "$l" ] && want=same; done
        [ "$v" = "$want" ] || { echo "$t $v, expected $want"; return 1; }
    done <"$tmp/same"
}
r=$(same_as_base conv conv1 conv2) && r2=$(same_as_base head conv1 conv2 linear1 linear2) &&
    r3=$(same_as_base whole) &&
    ok "frozen tensors come out bit for bit as they went in, the others trained" ||
    bad "tensors after fine-tuning: $r ${r2:-} ${r3:-}"

# a new head: 10 classes from the 5-class model (its last layer linear(5) -> linear(10))
run train --dataset idx --data all --init base --freeze backbone --epochs 2 --lr 0.05 --val-size 0
[ "$rc" -eq 0 ] &&
    grep -q '^Model: lenet5 (61706 parameters, weights from base/model.safetensors but the last layer.s, new for these classes)$' <<<"$out" &&
    grep -q '^Frozen: the layers up to linear2 (60856 parameters' <<<"$out" &&
    ok "--init on 10 classes: the last layer new, for them" ||
    bad "--init on 10 classes -> exit $rc: $(grep -E '^(Model|Frozen)' <<<"$out") $err"
# ... and such a run resumes (its model saved with the new last layer)
run train --dataset idx --data all --init base --epochs 1 --lr 0.05 --val-size 0 --save nh --quiet
run train --resume nh --epochs 2
[ "$rc" -eq 0 ] && grep -q '^Model: lenet5 (61706 parameters)$' <<<"$out" &&
    grep -q '^Epoch \[1\]' <<<"$out" && ok "a run with a new last layer resumes" ||
    bad "--resume of a run with a new last layer -> exit $rc: $(grep '^Model' <<<"$out") $err"
# a saved spec written loosely (spaces, capitals, as the spec parser takes them): its last
# layer found all the same
run train --dataset idx --data lo --model " flatten , linear(16) , relu , Linear ( 5 ) " --epochs 1 \
    --val-size 0 --save loose --quiet
run train --dataset idx --data all --init loose --epochs 1 --val-size 0
[ "$rc" -eq 0 ] && grep -q '^Model:  flatten , linear(16) , relu , linear(10) (12730 parameters, weights from loose/model.safetensors but the last layer.s, new for these classes)$' <<<"$out" &&
    ok "--init of a loosely written spec: its last layer new all the same" ||
    bad "--init of \" flatten , linear(16) , relu , Linear ( 5 ) \" on 10 classes -> exit $rc: $(grep '^Model' <<<"$out") $err"
# --model for other classes: lenet5 of 10 outputs takes all but the last layer
run train --dataset idx --data all --init base --model lenet5 --epochs 1 --lr 0.05 --val-size 0 --quiet
[ "$rc" -eq 0 ] && ok "--init with --model lenet5 for 10 classes: all but its last layer" ||
    bad "--init --model lenet5 on 10 classes -> exit $rc: $err"
# a folder of 3 classes (a folder's model outputs exactly its classes)
"$PY" - hi folder <<'EOF' || bad "writing the folder"
import os, struct, sys
src, out = sys.argv[1:3]
for part, n in (("train", 20), ("test", 10)):
    raw = open("%s/%s-images-idx3-ubyte" % (src, "train" if part == "train" else "t10k"), "rb").read()
    lab = open("%s/%s-labels-idx1-ubyte" % (src, "train" if part == "train" else "t10k"), "rb").read()
    count = {}
    for i in range(struct.unpack(">I", lab[4:8])[0]):
        c = lab[8 + i]
        if c >= 3 or count.get(c, 0) >= n:
            continue
        count[c] = count.get(c, 0) + 1
        d = "%s/%s/digit%d" % (out, part, c + 5)
        os.makedirs(d, exist_ok=True)
        with open("%s/%05d.pgm" % (d, i), "wb") as f:
            f.write(b"P5\n28 28\n255\n" + raw[16 + 784 * i:16 + 784 * (i + 1)])
EOF
run train --dataset folder --data folder --init base --epochs 1 --lr 0.05 --val-size 0
[ "$rc" -eq 0 ] && grep -q '^Model: lenet5 for 3 classes (61111 parameters, weights from base/model.safetensors but the last layer.s, new for these classes)$' <<<"$out" &&
    ok "--init on a folder of 3 classes: the last layer new, for them" ||
    bad "--init on a folder of 3 classes -> exit $rc: $(grep '^Model' <<<"$out") $err"

# resuming a frozen run: still frozen; --freeze only as saved
run train --dataset idx --data hi --init base --freeze conv2 --epochs 2 --lr 0.05 --val-size 0 --save fr --quiet
run train --resume fr --epochs 3
[ "$rc" -eq 0 ] && grep -q '^Frozen: the layers up to conv2 ' <<<"$out" &&
    r=$(same_as_base fr conv1 conv2) && ok "a resumed run keeps its layers frozen" ||
    bad "--resume of a frozen run -> exit $rc: ${r:-} $err"
run train --resume fr --epochs 4 --freeze conv2 --quiet
[ "$rc" -eq 0 ] && ok "--resume with the saved --freeze" || bad "--resume --freeze conv2 -> exit $rc: $err"
for f in backbone off; do
    run train --resume fr --epochs 5 --freeze $f
    [ "$rc" -eq 2 ] && grep -q -- "--freeze $f: the run in fr was saved with the layers up to conv2 frozen; a resumed run keeps them" <<<"$err" &&
        ok "--resume --freeze $f of a run saved with conv2 -> exit 2" ||
        bad "--resume --freeze $f -> exit $rc: $err"
done
# a train state whose frozen_layers the model cannot have: refused, naming the file
cp -r fr frbad && "$PY" "$here/st_tool.py" meta frbad/train_state.safetensors config 14 frozen_layers
run train --resume frbad --epochs 5
[ "$rc" -eq 1 ] && grep -qx "ctrain: frbad/train_state.safetensors: frozen_layers 14: more than the model's layers" <<<"$err" &&
    ok "a train state with frozen_layers past the model's layers -> exit 1, the file named" ||
    bad "--resume of frozen_layers 14 -> exit $rc: $err"
"$PY" "$here/st_tool.py" meta frbad/train_state.safetensors config 12 frozen_layers
run train --resume frbad --epochs 5
[ "$rc" -eq 1 ] && grep -qx "ctrain: frbad/train_state.safetensors: frozen_layers 12: leaves no layer with weights to train" <<<"$err" &&
    ok "a train state freezing every layer -> exit 1, the file named" ||
    bad "--resume of frozen_layers 12 -> exit $rc: $err"
run train --resume whole --epochs 6 --freeze conv1
[ "$rc" -eq 2 ] && grep -q -- "--freeze conv1: the run in whole was saved with no layer frozen" <<<"$err" &&
    ok "--resume --freeze of a run saved without frozen layers -> exit 2" ||
    bad "--resume whole --freeze conv1 -> exit $rc: $err"

# ctrain summary --freeze
run summary --model lenet5 --freeze conv2
[ "$rc" -eq 0 ] && grep -q '^conv2 (frozen) ' <<<"$out" && ! grep -q '^linear1 (frozen)' <<<"$out" &&
    grep -q '^Trainable params: 59134$' <<<"$out" &&
    grep -q '^Frozen params: 2572 (the layers up to conv2: kept as they are, run as at inference)$' <<<"$out" &&
    ok "summary --freeze conv2 marks the frozen layers and counts them apart" ||
    bad "summary --freeze conv2 -> exit $rc: $out $err"
run summary --model base --freeze backbone
[ "$rc" -eq 0 ] && grep -q '^Trainable params: 425$' <<<"$out" &&
    ok "summary of a saved model --freeze backbone: the head's 425 parameters train" ||
    bad "summary --model base --freeze backbone -> exit $rc: $out $err"

# --lr-find with frozen layers: another loss curve than the same test's without
run train --dataset idx --data hi --init base --lr-find --lr-find-steps 20 --val-size 0
curve=$(grep -v -E '^(Device|Model|Data|Plan|Frozen)' <<<"$out")
run train --dataset idx --data hi --init base --freeze conv2 --lr-find --lr-find-steps 20 --val-size 0
[ "$rc" -eq 0 ] && grep -q '^Frozen: ' <<<"$out" && grep -q 'Suggested' <<<"$out" &&
    [ -n "$curve" ] && [ "$(grep -v -E '^(Device|Model|Data|Plan|Frozen)' <<<"$out")" != "$curve" ] &&
    ok "--lr-find with frozen layers: its own loss curve" || bad "--lr-find --freeze conv2 -> exit $rc: $out $err"

# refusals
run train --dataset idx --data hi --model lenet5 --freeze conv9 --epochs 1 --val-size 0
[ "$rc" -eq 2 ] && grep -q -- '--freeze: the model has no layer with weights named "conv9" (its 5 layers with weights, as ctrain summary lists them: conv1, conv2, linear1, linear2, linear3; or backbone' <<<"$err" &&
    ok "--freeze of no such layer -> exit 2, naming the layers" || bad "--freeze conv9 -> exit $rc: $err"
run train --dataset idx --data hi --model lenet5 --freeze linear3 --epochs 1 --val-size 0
[ "$rc" -eq 2 ] && grep -q -- '--freeze: freezing linear3 leaves no layer with weights to train (linear3 is the last)' <<<"$err" &&
    ok "--freeze of the last layer -> exit 2" || bad "--freeze linear3 -> exit $rc: $err"
run summary --model "flatten,linear(10)" --freeze backbone
[ "$rc" -eq 2 ] && grep -q "only layer with weights is its head" <<<"$err" &&
    ok "--freeze backbone of a one-layer model -> exit 2" || bad "summary --freeze backbone (one layer) -> exit $rc: $err"
run train --dataset idx --data all --init base --model cnn --epochs 1 --val-size 0
[ "$rc" -eq 2 ] && grep -q -- '--init: base/model.safetensors: tensor conv1.weight has shape \[6, 1, 5, 5\] but the model cnn needs \[32, 1, 3, 3\]' <<<"$err" &&
    ok "--init with a --model whose other layers differ -> exit 2" || bad "--init base --model cnn -> exit $rc: $err"

echo
finish cli_finetune
