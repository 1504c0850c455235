#!/usr/bin/env bash
# cli_tensorboard.sh — `ctrain train --tensorboard DIR`: the event files read back by
# tests/tfevents_read.py (crcmod and Google's protobuf, as TensorBoard reads them: files in name
# order, a SessionLog START dropping the steps it restarts), compared with the run's --log:
# a run; the same DIR again (the first run's steps replaced, also those of folders the new run
# does not write); a resume in the same DIR and in a new one (the history written first); a
# resume from an earlier checkpoint (the orphaned steps dropped), one with nothing to train; no
# validation; refusals. On a 3000-image cut of MNIST.
# Skips when the MNIST files are not in `ctrain data path`, or protobuf or crcmod is missing.
# Usage: bash tests/cli_tensorboard.sh path/to/ctrain
set -u
. "$(cd "$(dirname "$0")" && pwd)/clilib.sh"
. "$(cd "$(dirname "$0")" && pwd)/small_mnist.sh"
CT=${1:?usage: bash cli_tensorboard.sh path/to/ctrain}
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1

PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3
dir=$("$CT" data path) || { echo "FAIL - ctrain data path"; exit 1; }
small_mnist "$dir" sm 3000 1000 || { echo "SKIP cli_tensorboard: no MNIST in $dir (run: ctrain data fetch mnist)"; exit 0; }
"$PY" "$here/tfevents_read.py" /nonexistent >/dev/null 2>&1
[ $? -eq 2 ] && { echo "SKIP cli_tensorboard: $PY lacks crcmod or protobuf (apt-get install python3-crcmod python3-protobuf)"; exit 0; }

base=(train --dataset idx --data sm --val-size 500 --batch-size 100 --quiet)
# view NAME DIR: what TensorBoard shows of DIR into NAME.tb ("RUN TAG STEP VALUE" lines)
view() {
    if "$PY" "$here/tfevents_read.py" "$2" >"$1.tb" 2>"$1.tberr"; then return 0; fi
    bad "$2: not read back: $(cat "$1.tberr")"
    return 1
}
# expect NAME LOG [TEST_STEP]: NAME.tb holds exactly the epochs of LOG (JSON lines) at steps
# 1..E (train: loss, accuracy, lr; validation: loss, accuracy, and step 0 = the Before line
# of NAME.out when it has one), and test_loss/test_acc of NAME.out at TEST_STEP (and in swa,
# the val_loss/val_acc of its SWA line, when it has one), each within float32's rounding
# (printed: 4 decimals)
expect() {
    "$PY" - "$1.tb" "$2" "$1.out" "${3:-}" <<'EOF'
import json, re, sys
tb, log, out, test_step = sys.argv[1:5]
got = {}
for line in open(tb):
    p = line.split()
    if p[1] == "files" or p[0] == "train_batch": continue  # (--tensorboard-every's: batch_ok)
    got[(p[0], p[1], int(p[2]))] = float(p[3])
want = {}
for line in open(log):
    r = json.loads(line)
    s = r["epoch"] + 1
    want[("train", "epoch_loss", s)] = r["train_loss"]
    want[("train", "epoch_accuracy", s)] = r["train_acc"]
    want[("train", "epoch_learning_rate", s)] = r["lr"]
    if "val_loss" in r:
        want[("validation", "epoch_loss", s)] = r["val_loss"]
        want[("validation", "epoch_accuracy", s)] = r["val_acc"]
text = open(out).read()
m = re.search(r"^Before training: val_loss: ([\d.]+), val_acc: ([\d.]+)$", text, re.M)
approx = set()
if m:
    want[("validation", "epoch_loss", 0)], want[("validation", "epoch_accuracy", 0)] = map(float, m.groups())
    approx |= {("validation", "epoch_loss", 0), ("validation", "epoch_accuracy", 0)}
if test_step:
    m = re.search(r"^test_loss: ([\d.]+), test_acc: ([\d.]+)$", text, re.M)
    want[("test", "epoch_loss", int(test_step))], want[("test", "epoch_accuracy", int(test_step))] = map(float, m.groups())
    approx |= {("test", "epoch_loss", int(test_step)), ("test", "epoch_accuracy", int(test_step))}
    m = re.search(r"^SWA: .*: val_loss: ([\d.]+), val_acc: ([\d.]+)$", text, re.M)
    if m:  # --swa-start: the average's validation, beside the test point
        want[("swa", "epoch_loss", int(test_step))], want[("swa", "epoch_accuracy", int(test_step))] = map(float, m.groups())
        approx |= {("swa", "epoch_loss", int(test_step)), ("swa", "epoch_accuracy", int(test_step))}
if set(got) != set(want):
    sys.exit(f"steps differ: extra {sorted(set(got) - set(want))}, missing {sorted(set(want) - set(got))}")
for k, v in want.items():
    tol = 5e-5 if k in approx else 1e-6 * max(1.0, abs(v))  # printed to 4 decimals / float32
    if abs(got[k] - v) > tol:
        sys.exit(f"{k}: {got[k]} in the event files, {v} in the run's output")
EOF
}
files_of() { sed -n "s/^$2 files \([0-9]*\) version brain.Event:2$/\1/p" "$1.tb"; }

# ------------------------------------------------------------------ a run
"$CT" "${base[@]}" --epochs 3 --log a.jsonl --tensorboard tb >a.out 2>a.err
rc=$?
[ $rc -eq 0 ] && ok "train --tensorboard tb -> exit 0" || bad "train --tensorboard tb -> exit $rc: $(cat a.err)"
ls tb/train/events.out.tfevents.*."$(hostname)".* >/dev/null 2>&1 &&
    ok "tb/train/events.out.tfevents.TIME.HOST.PID.N, as PyTorch's SummaryWriter names them" ||
    bad "tb/train: $(ls tb/train 2>&1)"
if view a tb; then
    if e=$(expect a a.jsonl 3 2>&1); then
        ok "tb: train and validation at steps 1-3 (validation 0: before training), test at 3, as the log and output say"
    else
        bad "tb against the run's log: $e"
    fi
    [ "$(files_of a train)$(files_of a validation)$(files_of a test)" = 111 ] &&
        ok "one file each in train, validation and test, version brain.Event:2" || bad "files: $(grep files a.tb)"
fi

# ------------------------------------------------------------------ the same DIR again
"$CT" "${base[@]}" --epochs 2 --seed 7 --log b.jsonl --tensorboard tb >b.out 2>b.err
rc=$?
[ $rc -eq 0 ] || bad "a second run into tb -> exit $rc: $(cat b.err)"
if view b tb; then
    if e=$(expect b b.jsonl 2 2>&1); then
        ok "a second run into tb replaces the first's steps (its step 3 gone, its values replaced)"
    else
        bad "tb after a second run: $e"
    fi
    [ "$(files_of b train)$(files_of b test)" = 22 ] && ok "the first run's files kept (2 in train, 2 in test)" ||
        bad "files: $(grep files b.tb)"
fi

# ------------------------------------------------------------------ --swa-start: DIR/swa
"$CT" "${base[@]}" --epochs 3 --swa-start 1 --log s.jsonl --tensorboard tbs >s.out 2>s.err
rc=$?
if [ $rc -eq 0 ] && view s tbs; then
    e=$(expect s s.jsonl 3 2>&1) && grep -q '^swa epoch_loss 3 ' s.tb &&
        ok "--swa-start 1: the average's validation in tbs/swa at step 3, as its SWA line says" ||
        bad "tbs against the SWA run's output: $e"
else
    bad "train --swa-start 1 --tensorboard tbs -> exit $rc: $(cat s.err)"
fi
"$CT" "${base[@]}" --epochs 2 --log s2.jsonl --tensorboard tbs >s2.out 2>s2.err ||
    bad "a run without SWA into tbs failed: $(cat s2.err)"
view s2 tbs && { e=$(expect s2 s2.jsonl 2 2>&1) && ok "a run without SWA into tbs: the earlier SWA point dropped" ||
    bad "tbs after a run without SWA: $e"; }

# ------------------------------------------------------------------ --tensorboard-every: DIR/train_batch
# batch_loss and batch_accuracy every 4 of the run's steps (25 an epoch: 4 does not divide it)
# and at each epoch's last, at the steps done since the run began; the epoch's last is the
# epoch's train loss and accuracy (Keras' running average); a run stopped in epoch 1 and
# resumed into the same DIR: the same steps and values as the straight run
batch_ok() { # NAME LOG: NAME.tb's train_batch steps are 4, 8, ..., 48 and 25, 50, their values
    # in [0, 1] for the accuracy, and steps 25 and 50 the epochs' train_loss and train_acc of LOG
    "$PY" - "$1.tb" "$2" <<'EOF'
import json, sys
got = {}
for line in open(sys.argv[1]):
    p = line.split()
    if p[0] == "train_batch" and p[1] != "files":
        got.setdefault(p[1], {})[int(p[2])] = float(p[3])
log = [json.loads(l) for l in open(sys.argv[2])]
assert sorted(got) == ["batch_accuracy", "batch_loss"], sorted(got)
for tag in got:
    assert sorted(got[tag]) == sorted(set(range(4, 51, 4)) | {25, 50}), (tag, sorted(got[tag]))
assert all(0 <= a <= 1 for a in got["batch_accuracy"].values())
for e, s in ((0, 25), (1, 50)):
    for tag, key in (("batch_loss", "train_loss"), ("batch_accuracy", "train_acc")):
        assert abs(got[tag][s] - log[e][key]) <= 1e-6 * max(1, abs(log[e][key])), (tag, s, got[tag][s], log[e][key])
EOF
}
"$CT" "${base[@]}" --epochs 2 --log tb1.jsonl --tensorboard tbb --tensorboard-every 4 >tb1.out 2>tb1.err
rc=$?
e2=""
if [ $rc -eq 0 ] && view tb1 tbb; then
    e=$(batch_ok tb1 tb1.jsonl 2>&1) && e2=$(expect tb1 tb1.jsonl 2 2>&1) &&
        ok "--tensorboard-every 4: tbb/train_batch at steps 4, 8, ..., 48 and 25, 50, the epochs' last their train loss and accuracy" ||
        bad "tbb/train_batch: $e $e2"
else
    bad "train --tensorboard-every 4 -> exit $rc: $(cat tb1.err)"
fi
CTRAIN_TEST_INTERRUPT_AT=1:7 "$CT" "${base[@]}" --epochs 2 --tensorboard tbb2 --tensorboard-every 4 --save tbbk \
    >tb2.out 2>tb2.err
rc=$?
"$CT" train --resume tbbk --quiet --tensorboard tbb2 --tensorboard-every 4 >tb3.out 2>tb3.err || bad "resume of tbbk failed: $(cat tb3.err)"
if [ $rc -eq 130 ] && view tb3 tbb2; then
    e=$(batch_ok tb3 tb1.jsonl 2>&1) && ok "stopped at step 32 and resumed into the same DIR: train_batch as the straight run's" ||
        bad "tbb2 after a resume: $e"
else
    bad "the run to stop -> exit $rc: $(cat tb2.err)"
fi
run train --epochs 1 --tensorboard-every 5
[ "$rc" -eq 2 ] && grep -q -- '--tensorboard-every: needs --tensorboard DIR' <<<"$err" &&
    ok "--tensorboard-every without --tensorboard -> exit 2" || bad "--tensorboard-every alone -> exit $rc: $err"

# ------------------------------------------------------------------ resumes
"$CT" "${base[@]}" --epochs 4 --lr 0.5 --log straight.jsonl >straight.out 2>&1 || bad "a straight run failed"
"$CT" "${base[@]}" --epochs 2 --lr 0.5 --save ck --tensorboard tbr >r1.out 2>r1.err || bad "a run to resume failed: $(cat r1.err)"
cp -r ck ck_at2
"$CT" train --resume ck --epochs 4 --quiet --tensorboard tbr --log r2.jsonl >r2.out 2>r2.err
rc=$?
[ $rc -eq 0 ] || bad "--resume ck --epochs 4 --tensorboard tbr -> exit $rc: $(cat r2.err)"
# what TensorBoard shows: the first part's Before line, the resumed part's test line
{ grep -v "^test_loss" r1.out; cat r2.out; } >r2full.out
if view r2 tbr; then
    # the first part's test point (step 2) stays beside the resumed run's (step 4)
    grep -q "^test epoch_loss 2 " r2.tb && ok "tbr: the first part's test point (step 2) stays" ||
        bad "tbr: no test at step 2: $(grep ^test r2.tb)"
    grep -v "^test [a-z_]* 2 " r2.tb >r2full.tb
    if e=$(expect r2full straight.jsonl 4 2>&1); then
        ok "resumed in the same DIR: steps 1-4 as a straight 4-epoch run's (2 files in train)"
    else
        bad "tbr after a resume: $e"
    fi
    [ "$(files_of r2 train)" = 2 ] || bad "tbr/train: $(grep files r2.tb)"
fi
# the same resume into a new DIR: the 2 epochs done are written first
"$CT" train --resume ck_at2 --epochs 4 --quiet --tensorboard tbn --save ck_n >n.out 2>n.err
rc=$?
[ $rc -eq 0 ] || bad "--resume into a new --tensorboard -> exit $rc: $(cat n.err)"
{ grep -v "^test_loss" r1.out; cat n.out; } >nfull.out
if view nfull tbn && e=$(expect nfull straight.jsonl 4 2>&1); then
    ok "resumed into a new DIR: the history first, then the new epochs: steps 0-4 as the straight run's"
else
    bad "tbn: ${e:-}"
fi
# from the checkpoint at 2 again, into tbr (which holds steps 3 and 4 of the first resume):
# one epoch at another lr; TensorBoard drops the orphaned steps 3 and 4 for the new step 3
"$CT" train --resume ck_at2 --schedule 2@0.5,1@0.1 --quiet --tensorboard tbr --log o.jsonl >o.out 2>o.err
rc=$?
[ $rc -eq 0 ] || bad "--resume ck_at2 --schedule 2@0.5,1@0.1 -> exit $rc: $(cat o.err)"
if view o tbr; then
    lr3=$(sed -n 's/^train epoch_learning_rate 3 //p' o.tb)
    steps=$(grep -c "^train epoch_loss" o.tb)
    awk -v x="$lr3" 'BEGIN { exit !(x > 0.0999999 && x < 0.1000001) }' && [ "$steps" = 3 ] && ! grep -q "^validation epoch_loss 4 " o.tb &&
        ok "resumed from an earlier checkpoint: steps 3-4 of the later run dropped, step 3 at lr 0.1" ||
        bad "tbr after the second resume: lr at 3: $lr3, train steps: $steps"
fi

# ------------------------------------------------------------------ folders this run does not write
# a run stopped early in tb (its 3-epoch predecessor tested at step 3) and one without
# validation: TensorBoard drops the earlier run's test and validation points too
"$CT" "${base[@]}" --epochs 3 --tensorboard tbi >i1.out 2>&1 || bad "a 3-epoch run into tbi: $(cat i1.out)"
CTRAIN_TEST_INTERRUPT_AT=1:2 "$CT" "${base[@]}" --epochs 3 --seed 5 --tensorboard tbi >i2.out 2>i2.err
rc=$?
if [ $rc -eq 130 ] && view i2 tbi; then
    ! grep -q "^test epoch" i2.tb && ! grep -q "^validation epoch_loss [23] " i2.tb &&
        grep -q "^train epoch_loss 1 " i2.tb &&
        ok "a repeated run stopped in epoch 1: the earlier run's test point and later steps dropped" ||
        bad "tbi after a stopped repeat: $(cat i2.tb)"
else
    bad "a stopped repeat -> exit $rc: $(cat i2.err)"
fi
"$CT" "${base[@]}" --epochs 1 --val-size 0 --tensorboard tbi >i3.out 2>&1 || bad "--val-size 0 into tbi: $(cat i3.out)"
view i3 tbi && { ! grep -q "^validation epoch" i3.tb && ok "a repeat without validation: the earlier validation points dropped" ||
    bad "tbi after a repeat without validation: $(grep ^validation i3.tb)"; }
# a resume with nothing left to train tests again at its last step: one point there, not two
"$CT" "${base[@]}" --epochs 2 --save ckz --tensorboard tbz >z1.out 2>&1 || bad "a run to resume: $(cat z1.out)"
"$CT" train --resume ckz --quiet --tensorboard tbz >z2.out 2>z2.err || bad "--resume with nothing to train: $(cat z2.err)"
view z2 tbz && { [ "$(grep -c '^test epoch_loss 2 ' z2.tb)" = 1 ] && ok "a resume with nothing to train: its test point replaces the one at step 2" ||
    bad "tbz: $(grep ^test z2.tb)"; }

# ------------------------------------------------------------------ --histograms
# each float tensor's histogram at each step, under its state_dict name; at the last step those
# of the saved model's tensors (count, min, max, sum), read back from model.safetensors
HM="flatten,linear(16),batchnorm,relu,linear(10)"
"$CT" "${base[@]}" --epochs 2 --model "$HM" --tensorboard tbh --histograms --save ckh >h.out 2>h.err
rc=$?
if [ $rc -eq 0 ] && view h tbh; then
    if e=$("$PY" - h.tb ckh/model.safetensors "$here" <<'EOF' 2>&1
import struct, sys
sys.path.insert(0, sys.argv[3])
from st_tool import st_read
header, _, data = st_read(sys.argv[2])
tensors = {n: (t["dtype"], t["shape"], data[t["data_offsets"][0]:t["data_offsets"][1]])
           for n, t in header.items()}
hist = {}
for line in open(sys.argv[1]):
    p = line.split()
    if len(p) > 3 and p[3] == "histo":
        hist[(p[1], int(p[2]))] = [float(x) for x in p[4:10]]
names = sorted(n for n, t in tensors.items() if t[0] == "F32")
got = sorted({k[0] for k in hist})
if got != names:
    sys.exit(f"histograms of {got}, float tensors {names}")
for n in names:
    if (n, 1) not in hist:
        sys.exit(f"{n}: no histogram at step 1")
    dtype, shape, data = tensors[n]
    v = struct.unpack(f"<{len(data) // 4}f", data)
    num, lo, hi, s, sq, k = hist[(n, 2)]
    f32 = lambda x: struct.unpack("<f", struct.pack("<f", x))[0]  # (printed to 9 digits)
    if (num != len(v) or f32(lo) != min(v) or f32(hi) != max(v) or
            abs(s - sum(v)) > 1e-6 * max(1.0, sum(abs(x) for x in v))):
        sys.exit(f"{n}: step 2's histogram {hist[(n, 2)]}, the saved tensor: {len(v)} values in "
                 f"[{min(v)}, {max(v)}], sum {sum(v)}")
print(len(names))
EOF
    ); then
        ok "--histograms: $e tensors' histograms at steps 1 and 2, the last as model.safetensors' (count, min, max, sum)"
    else
        bad "--histograms: $e"
    fi
else
    bad "--histograms -> exit $rc: $(cat h.err)"
fi
run "${base[@]}" --epochs 1 --histograms
[ "$rc" -eq 2 ] && grep -q -- "--histograms: needs --tensorboard" <<<"$err" && ok "--histograms without --tensorboard -> exit 2" ||
    bad "--histograms alone -> exit $rc: $err"

# ------------------------------------------------------------------ no validation
"$CT" "${base[@]}" --val-size 0 --epochs 1 --tensorboard tb0 >z.out 2>z.err || bad "--val-size 0 --tensorboard: $(cat z.err)"
[ -d tb0/train ] && [ ! -e tb0/validation ] && ok "--val-size 0: DIR/train and DIR/test, no DIR/validation" ||
    bad "--val-size 0: $(ls tb0)"

# ------------------------------------------------------------------ refusals
: >afile
run "${base[@]}" --epochs 1 --tensorboard afile
[ "$rc" -eq 1 ] && grep -q "afile" <<<"$err" && ! grep -q "^Epoch" <<<"$out" &&
    ok "--tensorboard at a file -> exit 1 before training: $(head -n 1 <<<"$err")" ||
    bad "--tensorboard afile -> exit $rc: $err"
mkdir tbt && : >tbt/test # (DIR/test is made at the end: a file in its way is found first)
run "${base[@]}" --epochs 1 --tensorboard tbt
[ "$rc" -eq 1 ] && [ "$(grep -c '' <<<"$err")" -eq 1 ] && grep -q "tbt/test is not a folder" <<<"$err" &&
    ! grep -q "^Epoch" <<<"$out" && [ "$(ls tbt)" = test ] &&
    ok "--tensorboard DIR with a file DIR/test -> exit 1 before training: $err" ||
    bad "--tensorboard with a file at DIR/test -> exit $rc: $err $(ls tbt)"
run "${base[@]}" --lr-find --tensorboard tbf
[ "$rc" -eq 2 ] && grep -q -- "--tensorboard" <<<"$err" && [ ! -e tbf ] &&
    ok "--lr-find --tensorboard -> exit 2: $(head -n 1 <<<"$err")" || bad "--lr-find --tensorboard -> exit $rc: $err"

finish cli_tensorboard
