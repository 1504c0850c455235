#!/usr/bin/env bash
# cli_lr_find.sh — `ctrain train --lr-find` (the learning-rate range test) on 2000 MNIST images:
# the lr of every step follows START * (END/START)^(i/N); the smoothed loss is the debiased
# moving average (beta 0.98) of the printed losses; the test stops once it passes 4 times its
# minimum; the suggested lr is the printed lr of the step it names, where the smoothed loss
# falls fastest, and it trains (one epoch at it learns); --plot draws lr_find.png and nothing
# else is written; flags that belong to a run are refused; on the CUDA emulator (when built)
# the same losses as on the CPU. Skips without MNIST.
# Usage: bash tests/cli_lr_find.sh path/to/ctrain
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/clilib.sh"
. "$here/small_mnist.sh"
CT=${1:?usage: bash cli_lr_find.sh path/to/ctrain}
CT=$(cd "$(dirname "$CT")" && pwd)/$(basename "$CT")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3

dir=$("$CT" data path) || { echo "FAIL - ctrain data path"; exit 1; }
small_mnist "$dir" "$tmp/cut" 2000 500 || { echo "SKIP cli_lr_find: no MNIST in $dir"; exit 0; }
D=(--dataset idx --data "$tmp/cut" --val-size 500 --threads 1 --workers 0)

# ------------------------------------------------------------------ the whole curve (20 steps)
# (--lr-find-steps 20: every step is printed, so the checks below recompute the smoothing)
check_curve() { # START END N: $out's table and lines against the definitions
    "$PY" - "$1" "$2" "$3" "$out" <<'EOF'
import re, sys
start, end, n, text = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
rows = [tuple(float(v) for v in m.groups()) for m in
        re.finditer(r"^  +(\d+)  ([0-9.e+-]+) +([0-9.]+|nan) +([0-9.]+|nan)$", text, re.M)]
assert rows, text
steps = [int(r[0]) for r in rows]
assert steps == list(range(len(rows))), steps          # every step, in order
for i, lr, loss, sm in rows:                            # the lr ramp, to the printed 4 digits
    want = start * (end / start) ** (i / n)
    assert abs(lr - want) <= 5e-4 * want, (i, lr, want)
avg, best = 0.0, None
for i, lr, loss, sm in rows:                            # fastai's and Lightning's smoothing
    avg = 0.98 * avg + 0.02 * loss
    want = avg / (1 - 0.98 ** (i + 1))
    assert abs(sm - want) <= 2e-4 * (1 + abs(want)), (i, sm, want)
    best = sm if best is None else min(best, sm)
stop = re.search(r"^Stopped after step (\d+) of (\d+): the smoothed loss \(([0-9.]+)\) passed 4 "
                 r"times its minimum \(([0-9.]+)\)$", text, re.M)
if stop:                                                # early: the last row passed 4 x min
    assert int(stop.group(1)) == len(rows) - 1 and rows[-1][3] > 4 * min(r[3] for r in rows[:-1]) * 0.999
    assert all(r[3] <= 4 * min(q[3] for q in rows[:k + 1]) * 1.001 for k, r in enumerate(rows[:-1]))
else:
    assert len(rows) == n, (len(rows), n)
sug = re.search(r"^Suggested lr: ([0-9.e+-]+) \(where the smoothed loss falls fastest before its "
                r"lowest point, at step (\d+); PyTorch Lightning's rule\)$", text, re.M)
assert sug, text
k = int(sug.group(2))
lowest = min(range(len(rows)), key=lambda i: (rows[i][3], i))
hi = min(len(rows) - 1, lowest + 1)                     # skip_end 1; up to the lowest point
assert 10 <= k < hi, (k, hi, len(rows))                 # skip_begin 10
assert abs(float(sug.group(1)) - rows[k][1]) <= 1e-3 * rows[k][1], (sug.groups(), rows[k])
y = [r[3] for r in rows[10:hi]]                         # numpy.gradient, then its lowest
g = [y[1] - y[0]] + [(y[i + 1] - y[i - 1]) / 2 for i in range(1, len(y) - 1)] + [y[-1] - y[-2]]
assert g[k - 10] <= min(g) + 2e-4, (k, g)               # (the printed 4 decimals)
w0, w1 = n // 10, len(rows) - 5                        # fastai's window: [num_it//10:-5]
if w1 <= w0:
    w0, w1 = 0, len(rows)
low = min(range(w0, w1), key=lambda i: (rows[i][3], i))
m = re.search(r"^Lowest smoothed loss ([0-9.]+) at lr ([0-9.e+-]+) \(steps (\d+) to (\d+)\); a tenth "
              r"of that lr: ([0-9.e+-]+) \(fastai's minimum/10\)$", text, re.M)
assert m and (int(m.group(3)), int(m.group(4))) == (w0, w1 - 1), (m and m.groups(), w0, w1)
assert abs(float(m.group(2)) - rows[low][1]) <= 1e-3 * rows[low][1], (m.groups(), low)
print(sug.group(1))
EOF
}
run train "${D[@]}" --lr-find --lr-find-steps 20 --lr-find-range 1e-4,100 --plot "$tmp/plots"
echo "$out" | sed 's/^/    | /'
if [ "$rc" -eq 0 ] && grep -q '^LR finder: 20 steps of batch 128, lr 0.0001 to 100 exponentially' <<<"$out" &&
    sug=$(check_curve 1e-4 100 20); then
    ok "--lr-find, 20 steps from 1e-4 to 100: the lr ramp, smoothing, stop and suggestion ($sug) as defined"
else
    bad "--lr-find 20 steps -> exit $rc: $err"
fi
if [ "$(ls "$tmp/plots")" = "lr_find.png" ] && size=$("$PY" "$here/st_tool.py" png "$tmp/plots/lr_find.png") &&
    [ "$(cut -d' ' -f1-2 <<<"$size")" = "800 500" ]; then
    ok "--plot DIR: DIR/lr_find.png ($size), and nothing else"
else
    bad "--lr-find --plot: $(ls -a "$tmp/plots" 2>&1), png: ${size:-}"
fi

# ------------------------------------------------------------------ the defaults: 100 steps, 1e-7 to 10
run train "${D[@]}" --lr-find
if [ "$rc" -eq 0 ] && grep -q '^LR finder: 100 steps of batch 128, lr 1e-07 to 10 exponentially (x1.202 a step)' <<<"$out" &&
    sug=$(sed -n 's/^Suggested lr: \([0-9.e+-]*\) (.*/\1/p' <<<"$out") && [ -n "$sug" ]; then
    ok "--lr-find with the defaults: suggests $sug"
else
    bad "--lr-find -> exit $rc: $out $err"
fi
# the suggestion trains: 5 epochs at it learn the digits, far better than at a hundredth of it
acc_at() { # LR: val_acc after 5 epochs
    run train "${D[@]}" --epochs 5 --lr "$1" --quiet
    sed -n 's/^Epoch \[4\], val_loss: [0-9.]*, val_acc: \([0-9.]*\)$/\1/p' <<<"$out"
}
acc=$(acc_at "${sug:-1}")
low_acc=$(acc_at "$(awk -v s="${sug:-1}" 'BEGIN { print s / 100 }')")
if awk -v a="${acc:-0}" -v b="${low_acc:-1}" 'BEGIN { exit !(a > 0.8 && a > b + 0.1) }'; then
    ok "5 epochs at the suggested lr $sug: val_acc $acc (at a hundredth of it: $low_acc)"
else
    bad "5 epochs at --lr ${sug:-?}: val_acc '${acc:-}', at a hundredth '${low_acc:-}'"
fi

# Fashion-MNIST's MLP: past its lowest point the loss spikes and falls back towards chance; the
# suggestion comes from the descent before it, and trains (2 epochs at it)
fm=/usr/share/datasets/fashion-mnist
if [ -d "$fm" ]; then
    run train --dataset fashion-mnist --lr-find --quiet
    fsug=$(sed -n 's/^Suggested lr: \([0-9.e+-]*\) (.*/\1/p' <<<"$out")
    run train --dataset fashion-mnist --epochs 2 --lr "${fsug:-100}" --quiet
    facc=$(sed -n 's/^test_loss: [0-9.]*, test_acc: \([0-9.]*\)$/\1/p' <<<"$out")
    awk -v a="${facc:-0}" 'BEGIN { exit !(a > 0.75) }' &&
        ok "fashion-mnist: 2 epochs at the suggested lr ${fsug:-?} reach test_acc $facc" ||
        bad "fashion-mnist: suggested lr '${fsug:-}', 2 epochs at it: test_acc '${facc:-}' $err"
else
    echo "SKIP --lr-find on fashion-mnist: no $fm (apt-get install dataset-fashion-mnist)"
fi

# ------------------------------------------------------------------ what belongs to a run is refused
for f in "--save x" "--resume x" "--log x.jsonl" "--epochs 3" "--lr 0.1" "--patience 2" \
    "--lr-schedule cosine" "--restore-best" "--warmup-epochs 1" "--ema 0.9"; do
    read -ra fa <<<"$f"
    run train --lr-find "${fa[@]}"
    [ "$rc" -eq 2 ] && grep -q -- "^ctrain: ${fa[0]}: does not apply to --lr-find" <<<"$err" && [ ! -e x ] &&
        ok "--lr-find $f -> exit 2, nothing made" || bad "--lr-find $f -> exit $rc: $err"
done
for f in "--lr-find-steps 5" "--lr-find-range 1e-6,1"; do
    read -ra fa <<<"$f"
    run train "${fa[@]}"
    [ "$rc" -eq 2 ] && grep -q -- "${fa[0]}: needs --lr-find" <<<"$err" &&
        ok "$f without --lr-find -> exit 2" || bad "$f without --lr-find -> exit $rc: $err"
done
for r in 10,1 0,1 1,1 abc 1e-7 1e-7,1e31 -1,1; do
    run train --lr-find --lr-find-range "$r"
    [ "$rc" -eq 2 ] && grep -q -- '--lr-find-range: expected START,END with 0 < START < END' <<<"$err" &&
        ok "--lr-find-range $r -> exit 2" || bad "--lr-find-range $r -> exit $rc: $err"
done
run train --lr-find --lr-find-steps 0
[ "$rc" -eq 2 ] && grep -q -- '--lr-find-steps' <<<"$err" && ok "--lr-find-steps 0 -> exit 2" ||
    bad "--lr-find-steps 0 -> exit $rc: $err"
run train --lr-find --lr-find-steps 100000 --batch-size 50000 # (MNIST's 50000: 5e9 samples)
[ "$rc" -eq 2 ] && grep -q -- '--lr-find-steps: 100000 steps of batch 50000 are 5000000000 samples, more than an epoch holds' <<<"$err" &&
    ok "--lr-find-steps x batch over an epoch's bound -> exit 2" || bad "--lr-find-steps 100000 --batch-size 50000 -> exit $rc: $err"
# --plot onto a file: refused before any step
touch "$tmp/afile"
run train "${D[@]}" --lr-find --plot "$tmp/afile"
[ "$rc" -ne 0 ] && ! grep -q '^LR finder' <<<"$out" && grep -q 'afile' <<<"$err" &&
    ok "--lr-find --plot FILE -> exit $rc before any step: $err" || bad "--lr-find --plot FILE -> exit $rc: $out $err"
# (under mpirun it is refused: tests/cli_mpi.sh)

# ------------------------------------------------------------------ too few steps for a suggestion
run train "${D[@]}" --lr-find --lr-find-steps 8
[ "$rc" -eq 0 ] && grep -Eq '^Suggested lr: none \(8 steps recorded, the smoothed loss lowest at step [0-7]: the rule looks for its descent after step 10\)$' <<<"$out" &&
    ok "--lr-find-steps 8: no suggestion, said why" || bad "--lr-find-steps 8 -> exit $rc: $out $err"

# ------------------------------------------------------------------ on the emulated GPU: the CPU's losses
emu=$(dirname "$CT")/libctrain_cuda_emu.so
if [ -f "$emu" ]; then
    run train "${D[@]}" --lr-find --lr-find-steps 20 --lr-find-range 1e-4,100 --device cpu
    cpu=$(grep -E '^  +[0-9]+  ' <<<"$out")
    CTRAIN_CUDA_PLUGIN=$emu run train "${D[@]}" --lr-find --lr-find-steps 20 --lr-find-range 1e-4,100 --device cuda
    gpu=$(grep -E '^  +[0-9]+  ' <<<"$out")
    if [ "$rc" -eq 0 ] && [ -n "$cpu" ] && "$PY" - "$cpu" "$gpu" <<'EOF'; then
import sys
a = [l.split() for l in sys.argv[1].splitlines()]
b = [l.split() for l in sys.argv[2].splitlines()]
assert len(a) == len(b), (len(a), len(b))
for x, y in zip(a, b):
    assert x[:2] == y[:2], (x, y)
    for u, v in zip(x[2:], y[2:]):
        assert abs(float(u) - float(v)) <= 2e-3 * (1 + abs(float(u))), (x, y)
EOF
        ok "--lr-find on the emulated GPU (one step a launch): the CPU's $(wc -l <<<"$gpu") steps"
    else
        bad "--lr-find on the emulated GPU -> exit $rc: $err"$'\n'"cpu: $cpu"$'\n'"gpu: $gpu"
    fi
else
    echo "SKIP cli_lr_find on the emulated GPU: $emu not built"
fi

finish cli_lr_find
