#!/usr/bin/env bash
# cli_sweep.sh — ctrain sweep, the hyperparameter search: a grid of two flags on a cut of MNIST
# (every trial run, ranked as the trials' own logs rank them, the best one's command giving
# the same numbers when run again by hand, --save's folders and sweep.csv), --objective val_acc,
# --trials N (a seeded draw), --resume (a stopped sweep carried on to the table it gives at
# once; SIGKILL), --prune median, halving and hyperband (their verdicts replayed from the
# trials' logs), --sampler tpe
# (random first, then nearer the best), a diverging trial (listed, the sweep goes on), SIGTERM
# (the running trial checkpointed, the table of those done, exit 130) and the refusals (a bad
# value of any trial before the first runs, flags a sweep cannot take, a folder in use).
# Skips when the MNIST files are not in `ctrain data path` or there is no python3.
# Usage: bash tests/cli_sweep.sh path/to/ctrain
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/clilib.sh"
. "$here/small_mnist.sh"
CT=${1:?usage: bash cli_sweep.sh path/to/ctrain}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1

PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3
command -v "$PY" >/dev/null || { echo "SKIP cli_sweep: no python3"; exit 0; }
dir=$("$CT" data path) || { echo "FAIL - ctrain data path"; exit 1; }
small_mnist "$dir" "$tmp/cut" 2000 500 2>/dev/null ||
    { echo "SKIP cli_sweep: no MNIST in $dir (run: ctrain data fetch mnist)"; exit 0; }
D=(--dataset idx --data "$tmp/cut" --val-size 500 --quiet)

# ------------------------------------------------------------------ a grid of 2 x 2, saved
run sweep --lr 0.05,0.5 --hidden 16 --hidden 64 --epochs 3 "${D[@]}" --save "$tmp/s1"
if [ "$rc" -eq 0 ] && [ "$(grep -c '^Trial [1-4]/4 (--lr [0-9.]* --hidden [0-9]*): val_loss ' <<<"$out")" -eq 4 ] &&
    grep -q '^Sweep: 4 trials, all 4 combinations of --lr (2 values) x --hidden (2 values), ranked by val_loss$' <<<"$out" &&
    [ -f "$tmp/s1/sweep.csv" ] && [ -f "$tmp/s1/trial_4/model.safetensors" ] && [ -f "$tmp/s1/trial_4/log.jsonl" ] &&
    grep -q '^test_loss: ' "$tmp/s1/trial_4/output.txt"; then
    ok "sweep of --lr x --hidden: 4 trials, each saved with its log and output"
else
    bad "sweep of a 2 x 2 grid -> exit $rc: $out $err"
fi
# the table's order, best epochs and values are those of the trials' own logs; trial K ran
# combination K (the last flag's values fastest)
if "$PY" - "$tmp/s1" "$out" <<'PY'; then
import csv, json, sys
d, out = sys.argv[1], sys.argv[2]
rows = list(csv.DictReader(open(d + "/sweep.csv")))
assert [r["rank"] for r in rows] == ["1", "2", "3", "4"], rows
combos = [("0.05", "16"), ("0.05", "64"), ("0.5", "16"), ("0.5", "64")]
best = {}
for r in rows:
    k = int(r["trial"])
    assert (r["lr"], r["hidden"]) == combos[k - 1], r
    logs = [json.loads(l) for l in open("%s/trial_%d/log.jsonl" % (d, k))]
    assert len(logs) == 3 and r["epochs"] == "3", r
    e = min(range(3), key=lambda i: (logs[i]["val_loss"], i))
    assert int(r["best_epoch"]) == logs[e]["epoch"] and abs(float(r["val_loss"]) - logs[e]["val_loss"]) < 1e-12, (r, logs)
    assert abs(float(r["val_acc"]) - logs[e]["val_acc"]) < 1e-12, (r, logs)
    best[k] = logs[e]["val_loss"]
order = [int(r["trial"]) for r in rows]
assert order == sorted(best, key=lambda k: (best[k], k)), (order, best)
# the printed table: the same order
lines = out.split("\n")
i = lines.index("rank  trial  --lr  --hidden  epoch  val_loss  val_acc  seconds")
assert [int(l.split()[1]) for l in lines[i + 1:i + 5]] == order, lines[i:i + 5]
PY
    ok "the ranking, best epochs and values are the trials' logs' (val_loss, lowest first)"
else
    bad "sweep.csv or the table disagree with the trials' logs: $(cat "$tmp/s1/sweep.csv")"
fi
# the best trial's command, run again by hand (without --save), prints the same numbers
cmd=$(grep -A1 '^Best: trial ' <<<"$out" | sed -n 2p | sed 's/^  ctrain train //; s/ --save [^ ]*//')
want=$(grep -E '^test_loss: ' <<<"$out")
read -r -a again <<<"$cmd"
run train "${again[@]}"
[ "$rc" -eq 0 ] && [ -n "$want" ] && [ "$(grep '^test_loss' <<<"$out")" = "$want" ] &&
    ok "the best trial's command again: $want" || bad "the best command ($cmd) -> exit $rc: '$(grep '^test_loss' <<<"$out")' vs '$want': $err"
run train --resume "$tmp/s1/trial_2" --epochs 4
[ "$rc" -eq 0 ] && grep -q '^Epoch \[3\]' <<<"$out" && ok "a trial's folder resumes as ctrain train's" ||
    bad "resume of a trial -> exit $rc: $err"
# CTRAIN_SWEEP_PID (ctrain sweep's, for its trials): a trial whose sweep is not its parent (it
# died: here a process that has ended) does not train, exit 130; a value that is no process id
# is refused, exit 2
gone=$(sh -c 'echo $$')
CTRAIN_SWEEP_PID=$gone run train --epochs 1 "${D[@]}"
[ "$rc" -eq 130 ] && grep -qx "ctrain: train: CTRAIN_SWEEP_PID=$gone: the sweep this run was started by has ended; not training" <<<"$err" &&
    ok "CTRAIN_SWEEP_PID of a sweep that is gone: not trained, exit 130" || bad "CTRAIN_SWEEP_PID=$gone -> exit $rc: $err"
CTRAIN_SWEEP_PID=abc run train --epochs 1 "${D[@]}"
[ "$rc" -eq 2 ] && grep -qx "ctrain: train: CTRAIN_SWEEP_PID=abc: not a process id (ctrain sweep sets it for its trials; unset it)" <<<"$err" &&
    ok "CTRAIN_SWEEP_PID=abc: refused, exit 2" || bad "CTRAIN_SWEEP_PID=abc -> exit $rc: $err"

# ------------------------------------------------------------------ --objective val_acc, --plot
run sweep --lr 0.05,0.5,1 --epochs 2 "${D[@]}" --objective val_acc --plot "$tmp/p"
top=$(grep -A1 '^rank  trial' <<<"$out" | sed -n 2p)
if [ "$rc" -eq 0 ] && grep -q 'ranked by val_acc$' <<<"$out" &&
    "$PY" - "$out" <<'PY'; then
import re, sys
out = sys.argv[1]
accs = {int(m.group(1)): float(m.group(2)) for m in re.finditer(r"^Trial (\d)/3 \(--lr [0-9.]+\): val_acc ([0-9.]+) at epoch", out, re.M)}
lines = out.split("\n")
i = [j for j, l in enumerate(lines) if l.startswith("rank  trial")][0]
order = [int(l.split()[1]) for l in lines[i + 1:i + 4]]
assert len(accs) == 3 and order == sorted(accs, key=lambda k: (-accs[k], k)), (accs, order)
PY
    ok "--objective val_acc: the highest val_acc first ($top)"
else
    bad "--objective val_acc -> exit $rc: $out $err"
fi
png=$(od -An -tx1 -j16 -N8 "$tmp/p/sweep.png" 2>/dev/null | tr -d ' \n')
[ "$(head -c 8 "$tmp/p/sweep.png" 2>/dev/null | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] &&
    [ "$png" = 00000320000001f4 ] && [ -f "$tmp/p/trial_3/loss.png" ] &&
    ok "--plot DIR: DIR/sweep.png (800 x 500), each trial's pictures in DIR/trial_K" ||
    bad "--plot: sweep.png '$png', $(ls "$tmp/p" 2>&1)"

# ------------------------------------------------------------------ --trials: a seeded draw
run sweep --lr 0.01,0.02,0.05,0.1,0.2,0.5 --trials 2 --sweep-seed 7 --epochs 1 "${D[@]}"
first=$(grep '^Trial ' <<<"$out" | sed 's/: .*//')
run sweep --lr 0.01,0.02,0.05,0.1,0.2,0.5 --trials 2 --sweep-seed 7 --epochs 1 "${D[@]}"
second=$(grep '^Trial ' <<<"$out" | sed 's/: .*//')
[ "$rc" -eq 0 ] && [ "$(grep -c '' <<<"$first")" -eq 2 ] && [ "$first" = "$second" ] &&
    grep -q '^Sweep: 2 trials, drawn at random from the 6 combinations of --lr (6 values)' <<<"$out" &&
    ok "--trials 2 of 6, the same two for the same --sweep-seed: $(tr '\n' ' ' <<<"$first")" ||
    bad "--trials 2 -> exit $rc: '$first' vs '$second': $out $err"

# ------------------------------------------------------------------ ranges: RandomSearch's draws
# --lr log-uniform, --hidden uniform whole numbers, --momentum from a list, each trial drawing all
# three; the same draws for the same --sweep-seed
run sweep --lr 0.01:1:log --hidden 8:64 --momentum 0,0.9 --trials 4 --sweep-seed 5 --epochs 1 "${D[@]}"
draws=$(grep '^Trial ' <<<"$out" | sed 's/: val.*//')
run sweep --lr 0.01:1:log --hidden 8:64 --momentum 0,0.9 --trials 4 --sweep-seed 5 --epochs 1 "${D[@]}"
if [ "$rc" -eq 0 ] && [ "$draws" = "$(grep '^Trial ' <<<"$out" | sed 's/: val.*//')" ] &&
    grep -q '^Sweep: 4 trials, each drawing --lr (log-uniform in \[0.01, 1\]) x --hidden (uniform whole numbers in \[8, 64\]) x --momentum (2 values), ranked by val_loss$' <<<"$out" &&
    "$PY" - "$draws" <<'PY'; then
import re, sys
rows = re.findall(r"^Trial (\d)/4 \(--lr (\S+) --hidden (\S+) --momentum (\S+)\)$", sys.argv[1], re.M)
assert len(rows) == 4, sys.argv[1]
for _, lr, hidden, mom in rows:
    assert 0.01 <= float(lr) <= 1 and len(lr.replace("0.", "").lstrip("0")) <= 3, lr  # 3 digits
    assert hidden.isdigit() and 8 <= int(hidden) <= 64, hidden
    assert mom in ("0", "0.9"), mom
assert len({r[1] for r in rows}) == 4, rows  # (drawn, not a grid)
PY
    ok "ranges: 4 trials each drawing --lr (log), --hidden (whole) and --momentum (list), the same for the same seed: $(tr '\n' ' ' <<<"$draws")"
else
    bad "sweep with ranges -> exit $rc: '$draws': $out $err"
fi

# a draw keeps to its range however close to an end (--ema must stay below 1: 3 digits would
# print 0.9996 as 1), and a list's long values come through whole
run sweep --ema 0.99:0.9999 --trials 8 --epochs 1 "${D[@]}"
emas=$(grep -o '^Trial [0-9]/8 (--ema [0-9.]*' <<<"$out" | sed 's/.*--ema //')
[ "$rc" -eq 0 ] && [ "$(grep -c '' <<<"$emas")" -eq 8 ] &&
    awk '{ if (!($1 >= 0.99 && $1 < 0.9999)) bad = 1 } END { exit bad }' <<<"$emas" &&
    ok "--ema 0.99:0.9999: 8 draws, each in the range (as many digits as it takes): $(tr '\n' ' ' <<<"$emas")" ||
    bad "--ema 0.99:0.9999 -> exit $rc: $emas $err"
m1='flatten,linear(64),relu,linear(10)' m2='flatten,linear(32),relu,linear(10)'
run sweep --model "$m1" --model "$m2" --lr 0.01:0.1 --trials 3 --epochs 1 "${D[@]}"
[ "$rc" -eq 0 ] && [ "$(grep '^Trial [0-9]/3 ' <<<"$out" | grep -cF -e "(--model $m1 --lr 0." -e "(--model $m2 --lr 0.")" -eq 3 ] &&
    ok "a list of long --model specs drawn whole beside a range" || bad "long list values with a range -> exit $rc: $out $err"

# ------------------------------------------------------------------ --jobs: trials side by side
# the same table as one at a time (the same --threads: on the CPU the numbers depend on it)
run sweep --lr 0.05,0.5 --hidden 16,64 --epochs 2 "${D[@]}" --threads 1
one=$(sed -n '/^rank  trial/,/^$/p' <<<"$out" | awk '{ $NF = ""; print }')
run sweep --lr 0.05,0.5 --hidden 16,64 --epochs 2 "${D[@]}" --threads 1 --jobs 2
two=$(sed -n '/^rank  trial/,/^$/p' <<<"$out" | awk '{ $NF = ""; print }')
[ "$rc" -eq 0 ] && [ "$(grep -c '^Trial [1-4]/4 ' <<<"$out")" -eq 4 ] && [ "$(grep -c '' <<<"$one")" -eq 5 ] &&
    [ "$one" = "$two" ] &&
    ok "--jobs 2: every trial once, the table one at a time gives" ||
    bad "--jobs 2 -> exit $rc: '$one' vs '$two': $out $err"

# ------------------------------------------------------------------ --resume: a sweep carried on
# s1's grid again (relative --save), its first trial stopped at epoch 1, batch 2 (the trials'
# CTRAIN_TEST_INTERRUPT_AT: exit 130, checkpointed; the sweep stops there); resumed from another
# folder: that trial carried on by ctrain train --resume, the others run, and sweep.csv is s1's
# (as if never stopped, the seconds aside); resumed once more: every trial kept as it ran
CTRAIN_TEST_INTERRUPT_AT=1:2 "$CT" sweep --lr 0.05,0.5 --hidden 16 --hidden 64 --epochs 3 "${D[@]}" \
    --save rs >rs1.out 2>rs1.err
rc=$?
[ "$rc" -eq 130 ] && grep -q '^Trial 1/4 (--lr 0.05 --hidden 16): interrupted' rs1.out &&
    [ -s rs/trial_1/train_state.safetensors ] && [ ! -e rs/trial_2 ] && grep -qx -- "$tmp/rs" rs/sweep.args &&
    grep -qx -- "--save" rs/sweep.args && ok "a sweep stopped in its first trial: exit 130, the trial checkpointed, sweep.args saved (paths absolute)" ||
    bad "sweep stopped by CTRAIN_TEST_INTERRUPT_AT -> exit $rc: $(cat rs1.out rs1.err)"
# a stopped trial that fails at once when carried on (its checkpoint cut short) stops the resumed
# sweep, exit 1, as a new trial failing before its first epoch does (its log's epochs of before
# are not this run's)
cp -r rs rf && head -c 100 rs/trial_1/train_state.safetensors >rf/trial_1/train_state.safetensors
run sweep --resume rf
[ "$rc" -eq 1 ] && grep -q "^ctrain: sweep: trial 1 failed before its first epoch of this run ended (exit 1, its message above); the sweep stops$" <<<"$err" &&
    ! grep -q '^Trial 2/4' <<<"$out" && ok "--resume: a carried-on trial failing at once stops the sweep, exit 1" ||
    bad "--resume rf (a cut checkpoint) -> exit $rc: $out $err"
same_csv() { # A B: the same table but for the seconds
    [ "$(cut -d, -f1-9 "$1")" = "$(cut -d, -f1-9 "$2")" ]
}
(cd / && "$CT" sweep --resume "$tmp/rs") >rs2.out 2>rs2.err
rc=$?
[ "$rc" -eq 0 ] && grep -q "^Resumed from $tmp/rs: 0 trials kept as they ran, 1 interrupted one carried on, 3 to run$" rs2.out &&
    [ "$(grep -c '^Trial [1-4]/4 ' rs2.out)" -eq 4 ] && same_csv rs/sweep.csv s1/sweep.csv &&
    grep -q '^Epoch \[2\]' rs/trial_1/output.txt &&
    ok "--resume from another folder: trial 1 carried on, 3 run; sweep.csv as the sweep never stopped gave" ||
    bad "--resume rs -> exit $rc: $(cat rs2.out rs2.err) $(cat rs/sweep.csv) vs $(cat s1/sweep.csv)"
run sweep --resume rs --jobs 2
[ "$rc" -eq 0 ] && grep -q '^Resumed from rs: 4 trials kept as they ran, 0 interrupted ones carried on, 0 to run$' <<<"$out" &&
    ! grep -q '^Trial ' <<<"$out" && same_csv rs/sweep.csv s1/sweep.csv &&
    [ "$(sed -n '/^Best: /p' <<<"$out")" = "$(sed -n '/^Best: /p' rs2.out)" ] &&
    ok "--resume of a finished sweep: every trial kept, the same table and best" || bad "--resume again -> exit $rc: $out $err"
# a killed sweep (no row for its running trial): that trial runs again, over what it left
cp -r rs rk && "$PY" - rk/sweep.csv <<'PY'
import sys
p = sys.argv[1]
rows = open(p).read().split("\n")
open(p, "w").write("\n".join(r for r in rows if not r.split(",")[1:2] == ["3"]))
PY
run sweep --resume rk
[ "$rc" -eq 0 ] && grep -q '^Resumed from rk: 3 trials kept as they ran, 0 interrupted ones carried on, 1 to run$' <<<"$out" &&
    grep -q '^Trial 3/4 ' <<<"$out" && same_csv rk/sweep.csv s1/sweep.csv &&
    ok "--resume of a sweep killed in trial 3: trial 3 run again (--overwrite), the same table" ||
    bad "--resume rk -> exit $rc: $out $err"
# --timeout: no trial starts past it (the first always does: here each trial takes longer than
# the timeout, about 0.6 s here, so just one); the table ranks it, and --resume keeps it and
# starts the next one (for another 0.3 s). (A sanitizer build's epochs take ten times as long:
# 4 of them there, not 20.)
long=20
[ "${CTRAIN_TEST_SANITIZED:-OFF}" = ON ] && long=4
run sweep --lr 0.05,0.1,0.2 --hidden 1024 --epochs $long "${D[@]}" --timeout 0.3 --save to
if [ "$rc" -eq 0 ] && [ "$(grep -c '^Trial [1-3]/3 ' <<<"$out")" -eq 1 ] &&
    grep -q "^Time is up (--timeout 0.3 s): 2 of 3 trials not run; ctrain sweep --resume to$" <<<"$out" &&
    [ "$(grep -c '' to/sweep.csv)" -eq 2 ]; then
    ok "--timeout 0.3: one of 3 trials started, the table of it, how to run the others"
else
    bad "--timeout 0.3 -> exit $rc: $out $err"
fi
run sweep --resume to
[ "$rc" -eq 0 ] && grep -q '^Resumed from to: 1 trial kept as it ran, 0 interrupted ones carried on, 2 to run$' <<<"$out" &&
    grep -q '^Trial 2/3 ' <<<"$out" && ! grep -q '^Trial [13]/3 ' <<<"$out" && [ "$(grep -c '' to/sweep.csv)" -eq 3 ] &&
    ok "--resume after --timeout: trial 1 kept, trial 2 run, then time is up again" || bad "--resume to -> exit $rc: $out $err"
# a kept trial whose folder is gone runs again
cp -r rs rg && rm -r rg/trial_2
run sweep --resume rg
[ "$rc" -eq 0 ] && grep -q '^Resumed from rg: 3 trials kept as they ran, 0 interrupted ones carried on, 1 to run$' <<<"$out" &&
    same_csv rg/sweep.csv s1/sweep.csv && ok "--resume with a kept trial's folder gone: that trial run again, the same table" ||
    bad "--resume rg -> exit $rc: $out $err"
# two trials stopped (--jobs 2), the sweep resumed and stopped again in the first: the second is
# still listed as interrupted, and carried on by the next --resume
CTRAIN_TEST_INTERRUPT_AT=1:1 "$CT" sweep --lr 0.05,0.5 --hidden 16 --hidden 64 --epochs 3 "${D[@]}" --jobs 2 \
    --save ri >/dev/null 2>&1
rc1=$?
CTRAIN_TEST_INTERRUPT_AT=2:1 "$CT" sweep --resume ri --jobs 1 >/dev/null 2>&1
rc2=$?
run sweep --resume ri --jobs 1
[ "$rc1" -eq 130 ] && [ "$rc2" -eq 130 ] && [ "$rc" -eq 0 ] &&
    grep -q '^Resumed from ri: 0 trials kept as they ran, 2 interrupted ones carried on, 2 to run$' <<<"$out" &&
    grep -q '^Epoch \[2\]' ri/trial_2/output.txt && ! grep -q '^Epoch \[0\]' <(sed -n '/Resumed from/,$p' ri/trial_2/output.txt) &&
    ok "an interrupted trial not reached by a resumed sweep stays interrupted: carried on later, not run again" ||
    bad "twice-resumed sweep -> exit $rc1, $rc2, $rc: $out $err $(cat ri/sweep.csv)"
# killed (SIGKILL) in its first trial: the trial stops with it (SIGTERM, checkpointed: it is
# in a process group of its own), and an --overwrite sweep leaves no earlier sweep's table
cp -r s1 kz && rm kz/trial_1/output.txt
"$CT" sweep --lr 0.1,0.5 --epochs 1000 --val-size 1000 --quiet --save kz --overwrite >kz.out 2>kz.err & # (MNIST)
pid=$!
for _ in $(seq 1 600); do grep -qs '^Epoch \[0\]' kz/trial_1/output.txt && break; sleep 0.05; done
trial=$(pgrep -P "$pid")
kill -KILL "$pid"
wait "$pid" 2>/dev/null
pid=""
for _ in $(seq 1 200); do kill -0 "$trial" 2>/dev/null || break; sleep 0.05; done
! kill -0 "$trial" 2>/dev/null && [ ! -e kz/sweep.csv ] && grep -q '^ctrain: interrupted .*; saved to kz/trial_1$' kz.err &&
    grep -qx -- 1000 kz/sweep.args && ok "a sweep killed by SIGKILL: its trial ends too (checkpointed), no earlier table left" ||
    bad "SIGKILL of a sweep: trial ${trial:-?} $(ps -o pid=,args= -p "${trial:-1}"), $(ls kz)"
[ -n "$trial" ] && kill -KILL "$trial" 2>/dev/null
# refusals: not a sweep's folder, other flags, a table not this sweep's
run sweep --resume s1/trial_1
[ "$rc" -eq 1 ] && grep -q "^ctrain: sweep: --resume s1/trial_1: s1/trial_1/sweep.args: No such file or directory (not the folder of a sweep saved with --save)$" <<<"$err" &&
    ok "--resume of a trial's folder -> exit 1: ${err#ctrain: }" || bad "--resume s1/trial_1 -> exit $rc: $err"
run sweep --resume rs --lr 0.1
[ "$rc" -eq 2 ] && grep -q -- "--resume rs: takes only --jobs besides" <<<"$err" &&
    ok "--resume with a sweep flag -> exit 2" || bad "--resume rs --lr -> exit $rc: $err"
run sweep --resume rs --jobsx 3
[ "$rc" -eq 2 ] && grep -q -- "--resume rs: takes only --jobs besides .*, got --jobsx" <<<"$err" &&
    ok "--resume with --jobsx -> exit 2, naming it" || bad "--resume rs --jobsx -> exit $rc: $err"
sed 's/^\([0-9]*,2,.*\),[0-9.]*$/\1,abc/' rs/sweep.csv >rk/sweep.csv
run sweep --resume rk
[ "$rc" -eq 1 ] && grep -q "rk/sweep.csv, row [0-9]: not a row of this sweep's table" <<<"$err" &&
    ok "--resume with a row's seconds not a number -> exit 1" || bad "--resume, seconds abc -> exit $rc: $err"
{ cat rs/sweep.csv; tail -1 rs/sweep.csv; } >rk/sweep.csv
run sweep --resume rk
[ "$rc" -eq 1 ] && grep -q "rk/sweep.csv, row 5: a trial listed twice" <<<"$err" &&
    ok "--resume with a trial's row twice -> exit 1" || bad "--resume, a row twice -> exit $rc: $err"
sed -i 's/^\([0-9]*\),1,0.05,16,/\1,1,0.07,16,/' rk/sweep.csv
run sweep --resume rk
[ "$rc" -eq 1 ] && grep -q "rk/sweep.csv, row [0-9]: not a row of this sweep's table" <<<"$err" &&
    ok "--resume with a sweep.csv of other values -> exit 1: ${err#ctrain: }" || bad "--resume of an edited sweep.csv -> exit $rc: $err"

# ------------------------------------------------------------------ --prune median
# Optuna's MedianPruner, checked against its rule replayed on the trials' own logs: once 3
# trials have finished, a trial whose best objective so far is worse than the median of the
# finished ones' at an epoch >= 1 stops after that epoch (one at a time: the same verdicts
# whatever the timing); a pruned trial ranks after the finished ones and is resumable
pruned_as_replayed() { # DIR OBJECTIVE: prints the pruned trials; fails unless the rule gives them
    "$PY" - "$1" "$out" 3 1 "$2" <<'PY'
import csv, json, statistics, sys
d, out, startup, warmup, obj = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
acc = obj == "val_acc"
rows = list(csv.DictReader(open(d + "/sweep.csv")))
by = {int(r["trial"]): r for r in rows}
finished, pruned, epochs = [], [], {}
for k in range(1, len(rows) + 1):
    curve = [json.loads(l)[obj] for l in open("%s/trial_%d/log.jsonl" % (d, k))]
    epochs[k] = len(curve)
    want, best = None, None
    for e, v in enumerate(curve):
        best = v if best is None else max(best, v) if acc else min(best, v)
        at = [c[e] for c in finished if len(c) > e]
        if len(finished) >= startup and e >= warmup and at and e < 3: # (not at the last epoch)
            med = statistics.median(at)
            if (best < med) if acc else (best > med):
                want = (e, best, med, len(at))
                break
    st = by[k]["status"]
    if want is None:
        assert st == "ok", (k, st, curve)
        finished.append(curve)
        continue
    e = want[0]
    assert st == "pruned after epoch %d" % e and len(curve) == e + 1, (k, st, want, curve)
    line = "Pruned after epoch %d (%d of 4 epochs run): its best %s %.4f is worse than %.4f, the median of %d finished trials of the sweep there" % (e, e + 1, obj, want[1], want[2], want[3])
    assert line in open("%s/trial_%d/output.txt" % (d, k)).read().split("\n"), (k, line)
    assert ("Trial %d/8 (--lr %s): pruned after epoch %d: its best %s %.4f is worse than %.4f, the median of %d finished trials there;"
            % (k, by[k]["lr"], e, obj, want[1], want[2], want[3])) in out, k
    pruned.append(k)
# the finished ones first, by the objective; then the pruned ones
assert [r["status"] == "ok" for r in rows] == sorted([r["status"] == "ok" for r in rows], reverse=True), rows
assert 0 < len(pruned) < len(rows) - startup, pruned
cut = sum(epochs[k] for k in pruned) # what pruning saved, in the line under the table
assert ("Pruned: %d of 8 trials, after %d of their %d epochs: %d epochs run in all, of %d"
        % (len(pruned), cut, 4 * len(pruned), sum(epochs.values()), sum(epochs.values()) - cut + 4 * len(pruned))) in out, out
print(" ".join(map(str, pruned)))
PY
}
LRS=(--lr 0.01,0.03,0.1,0.3,1,2,0.003,0.5 --epochs 4 --prune median --prune-startup 3 --prune-warmup 1)
run sweep "${LRS[@]}" "${D[@]}" --save "$tmp/pr"
if [ "$rc" -eq 0 ] && grep -q '; pruned by the median rule once 3 trials have finished, from epoch 1$' <<<"$out" &&
    npruned=$(pruned_as_replayed "$tmp/pr" val_loss); then
    ok "--prune median: trials $npruned pruned, as the median rule replayed on the logs prunes them"
else
    bad "--prune median -> exit $rc: $out $err"
fi
run sweep "${LRS[@]}" "${D[@]}" --save "$tmp/pra" --objective val_acc
if [ "$rc" -eq 0 ] && acc_pruned=$(pruned_as_replayed "$tmp/pra" val_acc); then
    ok "--prune median --objective val_acc: trials $acc_pruned pruned, as the rule replayed prunes them"
else
    bad "--prune median --objective val_acc -> exit $rc: $out $err"
fi
k=${npruned%% *}
run train --resume "$tmp/pr/trial_${k:-1}" --epochs 4 --quiet
[ "$rc" -eq 0 ] && [ "$(grep -c '^Epoch \[' <<<"$out")" -ge 1 ] && grep -q '^Epoch \[3\]' <<<"$out" &&
    ok "a pruned trial resumes to its 4 epochs by hand: $(grep '^Epoch \[3\]' <<<"$out")" ||
    bad "--resume of pruned trial ${k:-?} -> exit $rc: $out $err"
# --prune-startup more than the trials: none pruned
run sweep --lr 2,0.1 --epochs 2 "${D[@]}" --prune median
[ "$rc" -eq 0 ] && ! grep -q 'pruned after' <<<"$out" && ok "--prune median, 2 trials of the 5 to finish first: none pruned" ||
    bad "--prune with too few trials -> exit $rc: $out $err"
for flags in "--prune mean|--prune: expected median, halving, hyperband or off, got \"mean\"" \
    "--prune-startup 2|--prune-startup: sets --prune median's rule (not given)" \
    "--prune halving --prune-warmup 1|--prune-warmup: sets --prune median's rule (not given)" \
    "--prune median --prune-factor 2|--prune-factor: sets --prune halving's or hyperband's rule (neither given)" \
    "--prune hyperband --prune-startup 2|--prune-startup: sets --prune median's rule (not given)" \
    "--prune halving --prune-factor 1|--prune-factor: expected a factor 2 to 100, got \"1\"" \
    "--prune halving --prune-min-epochs 0|--prune-min-epochs: expected epochs 1 to 1000000, got \"0\"" \
    "--prune median --prune-warmup -1|--prune-warmup: expected an epoch 0 to 1000000, got \"-1\""; do
    # shellcheck disable=SC2086 # words
    run sweep --lr 0.1,0.2 --epochs 1 "${D[@]}" ${flags%%|*}
    [ "$rc" -eq 2 ] && [ "$err" = "ctrain: ${flags#*|} (see ctrain sweep --help)" ] && ok "${flags%%|*} -> exit 2: ${err#ctrain: }" ||
        bad "${flags%%|*} -> exit $rc: $err"
done

# ------------------------------------------------------------------ --prune halving
# Optuna's SuccessiveHalvingPruner (asynchronous successive halving), checked against its rule
# replayed on the trials' logs: after 1, 2 and 4 epochs (rungs; --prune-factor 2) a trial goes
# on only when its objective there is among the best half of the ended trials' there and its
# own (at least the best one); no trial is pruned at its last epoch (4: a rung here), where
# it has finished
halved_as_replayed() { # DIR OBJECTIVE: prints the pruned trials; fails unless the rule gives them
    "$PY" - "$1" "$out" 2 1 "$2" <<'PY'
import csv, json, sys
d, out, factor, least, obj = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
acc = obj == "val_acc"
rows = list(csv.DictReader(open(d + "/sweep.csv")))
by = {int(r["trial"]): r for r in rows}
ended, pruned, epochs = [], [], {}
rungs = [least * factor ** j for j in range(8)]
for k in range(1, len(rows) + 1):
    curve = [json.loads(l)[obj] for l in open("%s/trial_%d/log.jsonl" % (d, k))]
    epochs[k] = len(curve)
    want = None
    for e, v in enumerate(curve):
        if e + 1 not in rungs or e + 1 >= 4: # (a rung, not the last epoch)
            continue
        at = sorted([c[e] for c in ended if len(c) > e] + [v], reverse=acc)
        keep = max(len(at) // factor, 1)
        if (v < at[keep - 1]) if acc else (v > at[keep - 1]):
            want = (e, v, at[keep - 1], keep, len(at))
            break
    ended.append(curve)
    st = by[k]["status"]
    if want is None:
        assert st == "ok", (k, st, curve)
        continue
    e = want[0]
    assert st == "pruned after epoch %d" % e and len(curve) == e + 1, (k, st, want, curve)
    go = "goes" if want[3] == 1 else "go"
    line = "Pruned after epoch %d (%d of 4 epochs run): its %s %.4f is worse than %.4f: the best %d of the %d trials there %s on (successive halving, 1 in 2)" % (e, e + 1, obj, want[1], want[2], want[3], want[4], go)
    assert line in open("%s/trial_%d/output.txt" % (d, k)).read().split("\n"), (k, line)
    assert ("Trial %d/8 (--lr %s): pruned after epoch %d: its %s %.4f there is worse than %.4f: the best %d of the %d trials there %s on;"
            % (k, by[k]["lr"], e, obj, want[1], want[2], want[3], want[4], go)) in out, k
    pruned.append(k)
assert [r["status"] == "ok" for r in rows] == sorted([r["status"] == "ok" for r in rows], reverse=True), rows
assert 0 < len(pruned) < len(rows), pruned
cut = sum(epochs[k] for k in pruned)
assert ("Pruned: %d of 8 trials, after %d of their %d epochs: %d epochs run in all, of %d"
        % (len(pruned), cut, 4 * len(pruned), sum(epochs.values()), sum(epochs.values()) - cut + 4 * len(pruned))) in out, out
print(" ".join(map(str, pruned)))
PY
}
HALF=(--lr 0.01,0.03,0.1,0.3,1,2,0.003,0.5 --epochs 4 --prune halving --prune-factor 2)
run sweep "${HALF[@]}" "${D[@]}" --save "$tmp/ph" --plot "$tmp/php"
if [ "$rc" -eq 0 ] && [ "$(head -c 4 "$tmp/php/sweep.png" | tail -c 3)" = PNG ] &&
    grep -q '; pruned by successive halving: 1 in 2 goes on after 1, 2, 4, ... epochs$' <<<"$out" &&
    hpruned=$(halved_as_replayed "$tmp/ph" val_loss); then
    ok "--prune halving: trials $hpruned pruned, as successive halving replayed on the logs prunes them"
else
    bad "--prune halving -> exit $rc: $out $err"
fi
# (lr 0.3 is worse than lr 1 at the rung after 4 epochs, its last: it has finished, not pruned)
run sweep --lr 0.01,1,0.3 --epochs 4 --prune halving --prune-factor 2 "${D[@]}"
[ "$rc" -eq 0 ] && [ "$(grep -c '^Trial [0-9]/3 .*: val_loss [0-9.]* at epoch' <<<"$out")" -eq 3 ] &&
    ok "--prune halving prunes no trial at its last epoch" ||
    bad "--prune halving at the last epoch -> exit $rc: $out $err"
run sweep "${HALF[@]}" "${D[@]}" --save "$tmp/pha" --objective val_acc
if [ "$rc" -eq 0 ] && hacc_pruned=$(halved_as_replayed "$tmp/pha" val_acc); then
    ok "--prune halving --objective val_acc: trials $hacc_pruned pruned, as the rule replayed prunes them"
else
    bad "--prune halving --objective val_acc -> exit $rc: $out $err"
fi

# ------------------------------------------------------------------ --prune hyperband
# Optuna's HyperbandPruner over the trials' 4 epochs, --prune-factor 2: floor(log2 4) + 1 = 3
# brackets, bracket b successive halving from 2^b epochs on (rungs after 1 and 2 epochs; 2; none
# before the last), the trials dealt among them in Optuna's proportions (budgets ceil(3 x 2^s /
# (s + 1)), s = 2 - b: 4, 3, 3) by a smooth weighted round robin in trial order, each held
# against the ended trials of its bracket only: checked by replaying that on the trials' logs
hyperband_as_replayed() { # DIR: prints the pruned trials; fails unless the rule gives them
    "$PY" - "$1" "$out" <<'PY'
import csv, json, math, sys
d, out = sys.argv[1], sys.argv[2]
rows = list(csv.DictReader(open(d + "/sweep.csv")))
by = {int(r["trial"]): r for r in rows}
n, f, epochs_all = len(rows), 2, 4
nb = int(math.floor(math.log(epochs_all, f))) + 1
budget = [math.ceil(nb * f ** (nb - 1 - b) / (nb - b)) for b in range(nb)]
credit, bracket = [0] * nb, []
for k in range(n):
    for b in range(nb):
        credit[b] += budget[b]
    pick = max(range(nb), key=lambda b: (credit[b], -b))
    credit[pick] -= sum(budget)
    bracket.append(pick)
counts = [bracket.count(b) for b in range(nb)]
head = ("; pruned by Hyperband: 3 brackets of successive halving (1 in 2 goes on at a rung) over 4 "
        "epochs: %d trials with rungs after 1 and 2 epochs; %d trials with a rung after 2 epochs; "
        "%d trials never pruned" % tuple(counts))
assert head in out.split("\n")[0], (head, out)
ended, pruned = [[] for _ in range(nb)], []
for k in range(1, n + 1):
    b = bracket[k - 1]
    curve = [json.loads(l)["val_loss"] for l in open("%s/trial_%d/log.jsonl" % (d, k))]
    rungs = [2 ** (b + j) for j in range(4)]
    want = None
    for e, v in enumerate(curve):
        if e + 1 not in rungs or e + 1 >= epochs_all:
            continue
        at = sorted([c[e] for c in ended[b] if len(c) > e] + [v])
        keep = max(len(at) // f, 1)
        if v > at[keep - 1]:
            want = e
            break
    ended[b].append(curve)
    st = by[k]["status"]
    if want is None:
        assert st == "ok", (k, b, st, curve)
        continue
    assert st == "pruned after epoch %d" % want and len(curve) == want + 1, (k, b, st, curve)
    pruned.append(k)
assert pruned and all(bracket[k - 1] < 2 for k in pruned) and 2 not in pruned, (pruned, bracket)
print(" ".join(map(str, pruned)))
PY
}
# (trial 2, lr 0.003, the first of bracket 1, goes on alone there; held against trial 1's lr 0.3,
# of bracket 0, it would be pruned at epoch 1)
# (its temporary folder, the brackets' files in it, removed at the end)
mkdir -p "$tmp/hbtmp"
TMPDIR="$tmp/hbtmp" run sweep --lr 0.3,0.003,0.1,0.01,1,2,0.03,0.5,0.05 --epochs 4 --prune hyperband \
    --prune-factor 2 "${D[@]}" --save "$tmp/hb"
if [ "$rc" -eq 0 ] && hbpruned=$(hyperband_as_replayed "$tmp/hb") && [ -z "$(ls -A "$tmp/hbtmp")" ]; then
    ok "--prune hyperband: trials $hbpruned pruned, as Hyperband's brackets replayed on the logs prune them; no file left in TMPDIR"
else
    bad "--prune hyperband -> exit $rc: $out $err; TMPDIR: $(ls -AR "$tmp/hbtmp")"
fi
# with --sampler tpe drawing --epochs from a range, the brackets span the range's top (4 epochs:
# 3 brackets at factor 2), not only the first draws' epochs
run sweep --lr 0.3 --epochs 1:4 --trials 2 --sweep-seed 2 --sampler tpe --tpe-startup 1 \
    --prune hyperband --prune-factor 2 "${D[@]}"
[ "$rc" -eq 0 ] && grep -q 'pruned by Hyperband: 3 brackets of successive halving (1 in 2 goes on at a rung) over 4 epochs' <<<"$out" &&
    ok "--prune hyperband with TPE drawing --epochs 1:4: brackets over 4 epochs" ||
    bad "--prune hyperband, TPE, --epochs 1:4 -> exit $rc: $out $err"

# ------------------------------------------------------------------ --sampler tpe
# TPE draws its first --tpe-startup trials as the random sampler does (the same seed, the same
# values); after them it draws near the good ones: on --lr 1e-4:10:log its later trials' lrs are
# nearer the best one found (in decades) than the random sampler's same trials', and its
# values stay drawable (in the range, whole numbers where asked, a list's own)
TP=(--lr 1e-4:10:log --hidden 8:64 --momentum 0,0.9 --trials 14 --sweep-seed 3 --epochs 2 "${D[@]}")
run sweep "${TP[@]}" --save "$tmp/rnd"
rc_rnd=$rc
run sweep "${TP[@]}" --sampler tpe --tpe-startup 6 --save "$tmp/tpe"
if [ "$rc_rnd" -eq 0 ] && [ "$rc" -eq 0 ] && grep -q '; drawn by TPE once 6 trials have ended$' <<<"$out" &&
    nearer=$("$PY" - "$tmp/rnd/sweep.csv" "$tmp/tpe/sweep.csv" <<'PY'
import csv, math, statistics, sys
rnd = {int(r["trial"]): r for r in csv.DictReader(open(sys.argv[1]))}
tpe = {int(r["trial"]): r for r in csv.DictReader(open(sys.argv[2]))}
assert sorted(rnd) == sorted(tpe) == list(range(1, 15)), (rnd, tpe)
for k in range(1, 7):  # the startup trials: the random sampler's
    assert all(rnd[k][f] == tpe[k][f] for f in ("lr", "hidden", "momentum")), (k, rnd[k], tpe[k])
for r in tpe.values():
    assert 1e-4 <= float(r["lr"]) < 10 and r["momentum"] in ("0", "0.9"), r
    assert r["hidden"].isdigit() and 8 <= int(r["hidden"]) <= 64, r
ok = [r for r in tpe.values() if r["status"] == "ok"] + [r for r in rnd.values() if r["status"] == "ok"]
best = min(ok, key=lambda r: float(r["val_loss"]))
def spread(rows):
    return statistics.median(abs(math.log10(float(rows[k]["lr"]) / float(best["lr"]))) for k in range(7, 15))
a, b = spread(tpe), spread(rnd)
assert a < b, (a, b)
print("%.2f decades from the best lr (%s) against %.2f" % (a, best["lr"], b))
PY
); then
    ok "--sampler tpe: the first 6 trials the random sampler's, then nearer the best lr: $nearer"
else
    bad "--sampler tpe -> exit $rc_rnd, $rc: $out $err"
fi
# resumed: a TPE sweep stopped in its first trial gives, carried on, the table it gives at once
CTRAIN_TEST_INTERRUPT_AT=1:2 "$CT" sweep "${TP[@]}" --sampler tpe --tpe-startup 6 --save "$tmp/tpr" >/dev/null 2>&1
rc1=$?
run sweep --resume "$tmp/tpr"
[ "$rc1" -eq 130 ] && [ "$rc" -eq 0 ] && same_csv "$tmp/tpr/sweep.csv" "$tmp/tpe/sweep.csv" &&
    ok "--sampler tpe, stopped and resumed: the same trials, values and table" ||
    bad "tpe resumed -> exit $rc1, $rc: $err $(diff <(cut -d, -f1-9 "$tmp/tpr/sweep.csv") <(cut -d, -f1-9 "$tmp/tpe/sweep.csv"))"
# a table that cannot be written: exit 1, as without TPE
mkdir -p "$tmp/cw/sweep.csv.tmp"
run sweep --lr 0.01:1:log --trials 3 --epochs 1 "${D[@]}" --sampler tpe --tpe-startup 1 --save "$tmp/cw" --overwrite
[ "$rc" -eq 1 ] && grep -q "cannot write $tmp/cw/sweep.csv.tmp: Is a directory" <<<"$err" &&
    ok "--sampler tpe, sweep.csv cannot be written -> exit 1" || bad "tpe, unwritable sweep.csv -> exit $rc: $err"
for flags in "--sampler tpe --lr 0.1,0.2|--sampler tpe: draws from ranges (give a flag a range LOW:HIGH or LOW:HIGH:log, and --trials N)" \
    "--lr 0.1,0.2 --tpe-startup 3|--tpe-startup: sets --sampler tpe (not given)" \
    "--lr 0.1,0.2 --sampler grid|--sampler: expected random or tpe, got \"grid\"" \
    "--lr 0.1,0.2 --timeout 0|--timeout: expected seconds > 0, got \"0\""; do
    # shellcheck disable=SC2086 # words
    run sweep --epochs 1 "${D[@]}" ${flags%%|*}
    [ "$rc" -eq 2 ] && [ "$err" = "ctrain: ${flags#*|} (see ctrain sweep --help)" ] && ok "${flags%%|*} -> exit 2" ||
        bad "${flags%%|*} -> exit $rc: $err"
done

# ------------------------------------------------------------------ a diverging trial
run sweep --lr 0.1,1e30 --epochs 2 "${D[@]}"
[ "$rc" -eq 0 ] && grep -q '^Trial 2/2 (--lr 1e30): diverged (NaN) after 1 epoch' <<<"$out" &&
    grep -Eq '^-  +2  1e30 +diverged' <<<"$out" && grep -q '^Best: trial 1 (--lr 0.1)' <<<"$out" &&
    ok "a diverging trial is listed last as diverged; the sweep goes on" ||
    bad "sweep with a diverging trial -> exit $rc: $out $err"

# ------------------------------------------------------------------ SIGTERM
# to the sweep alone (kill PID), and to its process group (GNU timeout, docker stop, systemd):
# each trial runs in a group of its own, so that it gets the signal once, from the sweep, and
# checkpoints (twice, ctrain train's handler would end it at once, unsaved); with --jobs 2, to
# both trials running
for how in alone group jobs; do
    rm -rf "$tmp/term"
    jobs=1 started=1
    [ "$how" = jobs ] && jobs=2 started=2
    setsid "$CT" sweep --lr 0.1,0.2 --epochs 100000 "${D[@]}" --save "$tmp/term" --jobs $jobs \
        >"$tmp/term.out" 2>"$tmp/term.err" &
    pid=$!
    # (every running trial past its first epoch: one still loading its data has no checkpoint
    # to save, and dies of the signal)
    for _ in $(seq 1 300); do
        [ -s "$tmp/term/trial_1/log.jsonl" ] && [ -s "$tmp/term/trial_$started/log.jsonl" ] && break
        sleep 0.1
    done
    if [ "$how" = alone ]; then kill -TERM "$pid"; else kill -TERM -- "-$pid"; fi
    wait "$pid"
    rc=$?
    if [ "$rc" -eq 130 ] && grep -q '^Trial 1/2 (--lr 0.1): interrupted' "$tmp/term.out" &&
        [ "$(grep -c '^Trial 2/2 (--lr 0.2): interrupted' "$tmp/term.out")" -eq $((started - 1)) ] &&
        [ "$(grep -c '^Trial [0-9]' "$tmp/term.out")" -eq "$started" ] &&
        grep -q "sweep: interrupted after $started of 2 trials" "$tmp/term.err" &&
        grep -q "saved to $tmp/term/trial_$started" "$tmp/term.err" &&
        [ -f "$tmp/term/trial_$started/train_state.safetensors" ] && [ -f "$tmp/term/sweep.csv" ]; then
        ok "SIGTERM ($how): the $started running trial(s) checkpointed, no other started, the table written, exit 130"
    else
        bad "SIGTERM ($how) to a sweep -> exit $rc: $(cat "$tmp/term.out" "$tmp/term.err")"
    fi
done
# a trial killed from outside (SIGKILL: the OOM killer) after its first epoch is listed so, and the
# sweep goes on to the next
rm -rf "$tmp/killed"
"$CT" sweep --lr 0.1,0.2 --epochs 100000 "${D[@]}" --save "$tmp/killed" >"$tmp/k.out" 2>"$tmp/k.err" &
pid=$!
for _ in $(seq 1 300); do [ -s "$tmp/killed/trial_1/log.jsonl" ] && break; sleep 0.1; done
kill -KILL "$(pgrep -P "$pid" | head -1)"
for _ in $(seq 1 300); do [ -s "$tmp/killed/trial_2/log.jsonl" ] && break; sleep 0.1; done
kill -TERM "$pid"
wait "$pid"
rc=$?
[ "$rc" -eq 130 ] && grep -q '^Trial 1/2 (--lr 0.1): killed by signal 9 (Killed)' "$tmp/k.out" &&
    grep -q '^Trial 2/2 (--lr 0.2): interrupted' "$tmp/k.out" &&
    ok "a trial killed by SIGKILL: listed so, the next trial run" ||
    bad "a killed trial -> exit $rc: $(cat "$tmp/k.out" "$tmp/k.err")"
done_epochs=$(grep -c '' "$tmp/term/trial_1/log.jsonl")
run train --resume "$tmp/term/trial_1" --epochs $((done_epochs + 1))
[ "$rc" -eq 0 ] && grep -q "^Epoch \[$done_epochs\], val_loss" <<<"$out" &&
    ok "the interrupted trial resumes: ctrain train --resume finishes its epoch $done_epochs" ||
    bad "resume of the interrupted trial -> exit $rc: $err"

# ------------------------------------------------------------------ refusals
run sweep --lr 0.1,abc --epochs 1 "${D[@]}"
[ "$rc" -eq 2 ] && [ "$(grep -c '' <<<"$err")" -eq 1 ] &&
    grep -q '^ctrain: sweep: trial 2 (--lr abc): --lr: expected a positive number, got "abc"' <<<"$err" &&
    ! grep -q '^Trial' <<<"$out" && ok "a bad value of one trial: exit 2 before any runs: $err" ||
    bad "--lr 0.1,abc -> exit $rc: $out $err"
run sweep --model lenet5 --model "conv(8,40),relu,flatten,linear(10)" --epochs 1 "${D[@]}"
[ "$rc" -eq 2 ] && [ "$(grep -c '' <<<"$err")" -eq 1 ] && ! grep -q '^Trial' <<<"$out" &&
    grep -q '^ctrain: sweep: trial 2 (--model conv(8,40),relu,flatten,linear(10)): --model: .*kernel 40 does not fit the input (1, 28, 28)' <<<"$err" &&
    ok "a --model that cannot be built for the data: exit 2 before any trial runs: ${err#ctrain: }" ||
    bad "--model conv(8,40) -> exit $rc: $out $err"
run sweep --optimizer sgd --optimizer adam --momentum 0.9 "${D[@]}"
[ "$rc" -eq 2 ] && grep -q '^ctrain: sweep: trial 2 (--optimizer adam): --momentum: applies to --optimizer sgd' <<<"$err" &&
    ok "flags that clash in one trial only: exit 2, naming it" || bad "sgd/adam + momentum -> exit $rc: $err"
for args in "--resume $tmp/s1|--resume $tmp/s1: takes only --jobs besides" "--log x.jsonl|--log: not in a sweep" \
    "--lr-find|--lr-find: not in a sweep" "--lr 0.1|nothing to sweep" "--val-size 0|--val-size 0: the trials are ranked on the validation split" \
    "--dataset mnist --dataset fashion-mnist|--dataset: one value for every trial" "--lr 0.1,0.1|--lr: 0.1 given twice" \
    "--trials 0|--trials: expected a positive count" "--objective acc|--objective: expected val_loss or val_acc" \
    "--sweep-seed 3|--sweep-seed: seeds the draw of --trials N" "--plot --quiet|--plot: needs a value" \
    "--jobs 0|--jobs: expected 1 to 64 trials at once" "--jobs 65|--jobs: expected 1 to 64" \
    "--lr 0.01:1|a range (LOW:HIGH) is drawn from: give --trials N" "--lr 1:0.1 --trials 2|--lr 1:0.1: expected LOW < HIGH" \
    "--lr 0:1:log --trials 2|LOW > 0 (log)" "--hidden 1.5:9 --trials 2|whole numbers" \
    "--lr 0.1:1:lin --trials 2|--lr: expected a range LOW:HIGH or LOW:HIGH:log" \
    "--lr 0.1:1 --lr 0.2 --trials 2|--lr: a range or values, not both" "--threads 1:2 --trials 2|--threads: one value for every trial" \
    "--hidden 0:64 --trials 2|sweep: --hidden 0:64, its low end: --hidden: expected a positive integer" \
    "--lr 1:2: --trials 2|--lr: expected a range LOW:HIGH or LOW:HIGH:log, got \"1:2:\"" \
    "--no-such 1|--no-such: no such flag" "--nesterov --nesterov|--nesterov: given twice" "x.png|x.png: not a flag"; do
    read -r -a a <<<"${args%%|*}"
    [[ "${args%%|*}" == --lr\ * || "${args%%|*}" == --val-size* ]] || a+=(--lr 0.1,0.2)
    [[ "${args%%|*}" == --val-size* ]] && a+=(--lr 0.1,0.2)
    run sweep "${a[@]}"
    [ "$rc" -eq 2 ] && [ "$(grep -c '' <<<"$err")" -eq 1 ] && grep -qF -- "${args#*|}" <<<"$err" && [ -z "$out" ] &&
        ok "sweep ${a[*]} -> exit 2: $err" || bad "sweep ${a[*]} -> exit $rc: $out $err"
done
: >"$tmp/plotfile"
run sweep --lr 0.1,0.2 --epochs 1 "${D[@]}" --plot "$tmp/plotfile"
[ "$rc" -eq 1 ] && grep -q -- "--plot $tmp/plotfile: not a folder" <<<"$err" && ok "--plot at a file -> exit 1: $err" ||
    bad "--plot at a file -> exit $rc: $err"
mkdir -p "$tmp/pl" && echo notes >"$tmp/pl/sweep.png"
run sweep --lr 0.1,0.2 --epochs 1 "${D[@]}" --plot "$tmp/pl"
[ "$rc" -eq 1 ] && grep -q -- "--plot $tmp/pl/sweep.png: exists and is not a PNG" <<<"$err" && [ ! -e "$tmp/pl/trial_1" ] &&
    [ "$(cat "$tmp/pl/sweep.png")" = notes ] && ok "--plot DIR whose sweep.png is no picture: exit 1 before any trial" ||
    bad "--plot over a non-PNG sweep.png -> exit $rc: $err $(ls "$tmp/pl")"
mkdir "$tmp/empty" && chmod 700 "$tmp/empty"
run sweep --lr 0.1,abc --epochs 1 "${D[@]}" --save "$tmp/empty"
[ "$rc" -eq 2 ] && [ -d "$tmp/empty" ] && ok "--save into an empty folder, a bad value: the folder stays" ||
    bad "--save empty folder + bad value -> exit $rc, $(ls -ld "$tmp/empty" 2>&1)"
run sweep --lr 0.1,0.2 --epochs 1 "${D[@]}" --save "$tmp/empty"
[ "$rc" -eq 0 ] && [ "$(stat -c %a "$tmp/empty")" = 700 ] && [ -f "$tmp/empty/sweep.csv" ] &&
    ok "--save into an empty folder: used as it is (its mode kept)" || bad "--save into an empty folder -> exit $rc: $err"
mkdir "$tmp/used" && echo keep >"$tmp/used/notes.txt"
run sweep --lr 0.1,0.2 --epochs 1 "${D[@]}" --save "$tmp/used"
[ "$rc" -eq 1 ] && grep -q -- "--save $tmp/used: holds files; not putting trials there" <<<"$err" &&
    [ "$(ls "$tmp/used")" = notes.txt ] && ok "--save into a folder in use -> exit 1, untouched" ||
    bad "--save into a used folder -> exit $rc: $err $(ls "$tmp/used")"
run sweep --lr 0.1,0.2 --epochs 1 "${D[@]}" --save "$tmp/s1"
[ "$rc" -eq 1 ] && grep -q "an earlier sweep's; .* or --overwrite to replace that sweep" <<<"$err" &&
    ok "--save into an earlier sweep's folder -> exit 1 (--overwrite replaces it)" || bad "--save over a sweep -> exit $rc: $err"
run sweep --lr 0.1,0.2 --epochs 1 "${D[@]}" --save "$tmp/s1" --overwrite
[ "$rc" -eq 0 ] && [ "$(grep -c '' "$tmp/s1/sweep.csv")" -eq 3 ] && ok "--overwrite: a new sweep in the earlier one's folder" ||
    bad "--save --overwrite -> exit $rc: $err"
run sweep --help
[ "$rc" -eq 0 ] && grep -q '^usage: ctrain sweep ' <<<"$out" && ok "sweep --help" || bad "sweep --help -> exit $rc"

echo
finish cli_sweep
