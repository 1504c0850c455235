#!/usr/bin/env bash
# cli_outputs.sh — what a run leaves for people and other tools: --plot (loss.png, accuracy.png,
# lr.png, momentum.png),
# --log (JSON lines, and CSV for FILE.csv), `ctrain eval` (per-class accuracy, precision and F1, --predictions' CSV, the confusion matrix as
# text and --confusion's picture), `ctrain show` (image
# grids), `ctrain predict` (PNG and PGM, grey and colour, any size, dark on light). PNGs are
# decoded by tests/st_tool.py (Python's zlib) and checked for size and for not being blank.
# Skips when the MNIST files are not in `ctrain data path` or python3 is missing.
# Usage: bash tests/cli_outputs.sh path/to/ctrain
set -u
. "$(cd "$(dirname "$0")" && pwd)/clilib.sh"
CT=${1:?usage: bash cli_outputs.sh path/to/ctrain}
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1

PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3 # the system one starts fastest
py() { "$PY" "$here/st_tool.py" "$@"; }
meta_of() { py read "$1" | sed -n "s/^meta $2 = //p"; } # FILE KEY: a metadata value

dir=$("$CT" data path) || { echo "FAIL - ctrain data path"; exit 1; }
for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
    if [ ! -e "$dir/$f" ] && [ ! -e "$dir/$f.gz" ]; then
        echo "SKIP cli_outputs: no MNIST in $dir (run: ctrain data fetch mnist)"
        exit 0
    fi
done
command -v "$PY" >/dev/null || { echo "SKIP cli_outputs: no python3"; exit 0; }
# the runs that train 1000 images to check what they write: on a cut of MNIST (they validated
# 59000 images, most of their time under the sanitizers)
. "$here/small_mnist.sh"
small_mnist "$dir" "$tmp/cut" 2000 500 || { echo "FAIL - small_mnist: no cut of MNIST"; exit 1; }
CUT=(--dataset idx --data "$tmp/cut" --val-size 1000)

# png_ok FILE W H: the PNG's size (W ">N": wider than N), more than 8 distinct colours, at
# least 1% not background
png_ok() {
    local info
    info=$(py png "$1" 2>&1)
    if awk -v w="$2" -v h="$3" '{ wide = substr(w, 1, 1) == ">" ? $1 > substr(w, 2) + 0 : $1 == w
                                  exit !(wide && $2 == h && $3 > 8 && $4 > 0.01) }' <<<"$info"; then
        ok "$1: ${2}x$3, not blank (colours, non-background fraction: $(cut -d' ' -f3,4 <<<"$info"))"
    else
        bad "$1: expected ${2}x$3 and not blank, got: $info"
    fi
}

# ------------------------------------------------------------------ --plot and --log
run train --epochs 2 --lr 0.5 --val-size 1000 --quiet --save run --plot plots --log run.jsonl
[ "$rc" -eq 0 ] && ok "train --plot plots --log run.jsonl -> exit 0" || bad "train -> exit $rc: $err"
png_ok plots/loss.png 800 500
png_ok plots/accuracy.png 800 500
png_ok plots/lr.png 800 500
[ ! -e plots/momentum.png ] && ok "no momentum.png where the momentum is not cycled" ||
    bad "plots/momentum.png drawn for a run without a cycled momentum"
"$PY" - run.jsonl "$tmp/out" <<'EOF' && ok "run.jsonl: 2 JSON lines with every field; val_acc as printed" || bad "run.jsonl: $(cat run.jsonl)"
import json, re, sys
lines = open(sys.argv[1]).read().splitlines()
assert len(lines) == 2, lines
printed = re.findall(r"^Epoch \[(\d+)\], val_loss: ([\d.]+), val_acc: ([\d.]+)$", open(sys.argv[2]).read(), re.M)
for i, line in enumerate(lines):
    r = json.loads(line)
    keys = ["epoch", "phase", "lr", "train_loss", "train_acc", "val_loss", "val_acc", "seconds", "samples_per_s",
            "val_seconds", "graph_steps"]
    assert list(r) == keys, list(r)
    assert isinstance(r["graph_steps"], int) and r["graph_steps"] >= 0  # > 0 on a GPU only
    assert r["epoch"] == i and r["phase"] == 0 and abs(r["lr"] - 0.5) < 1e-6
    assert "%.4f" % r["val_acc"] == printed[i][2] and "%.4f" % r["val_loss"] == printed[i][1]
    assert r["seconds"] > 0 and r["samples_per_s"] > 0 and r["val_seconds"] > 0 and 0 < r["train_acc"] <= 1
EOF
# onecycle: the lr's schedule and the cycled momentum's, step by step
run train --epochs 1 "${CUT[@]}" --lr-schedule onecycle --quiet --plot oc_plots
[ "$rc" -eq 0 ] && ok "train --lr-schedule onecycle --plot oc_plots -> exit 0" || bad "onecycle --plot -> exit $rc: $err"
png_ok oc_plots/lr.png 800 500
png_ok oc_plots/momentum.png 800 500
run train --epochs 1 "${CUT[@]}" --quiet --plot oc_plots
[ "$rc" -eq 0 ] && [ ! -e oc_plots/momentum.png ] && [ -e oc_plots/lr.png ] &&
    ok "a run without a cycled momentum removes the earlier run's momentum.png" ||
    bad "--plot oc_plots again, not cycled -> exit $rc, $(ls oc_plots): $err"
cp oc_plots/accuracy.png oc_plots/momentum.png # (a plot's size: taken for ours) and another PNG
run show --out oc_plots/momentum.png --count 4
cp oc_plots/momentum.png mine.png
run train --epochs 1 "${CUT[@]}" --quiet --plot oc_plots
[ "$rc" -eq 0 ] && cmp -s mine.png oc_plots/momentum.png &&
    ok "a momentum.png that is not one of ctrain's plots (another size) is left alone" ||
    bad "--plot oc_plots with another picture as momentum.png -> exit $rc, $(ls oc_plots): $err"
# a resumed run rewrites the log from the checkpoint's history, then goes on; the plots follow
run train --resume run --epochs 3 --quiet --plot plots --log run.jsonl
[ "$rc" -eq 0 ] && [ "$(grep -c '' run.jsonl)" -eq 3 ] && grep -q '"epoch": 2,' run.jsonl &&
    ok "after --resume run --epochs 3: run.jsonl has epochs 0, 1, 2" || bad "resumed log -> exit $rc: $(cat run.jsonl) $err"
# --log FILE.csv: the same numbers as CSV under a header (Keras' CSVLogger), rewritten from the
# history by a resume; without validation, no val columns; a .csv that is not ctrain's is kept
run train --resume run --epochs 3 --quiet --log run.csv
if [ "$rc" -eq 0 ] && "$PY" - run.jsonl run.csv <<'EOF'; then
import csv, json, sys
js = [json.loads(l) for l in open(sys.argv[1])]
head = open(sys.argv[2]).readline().strip()
assert head == ("epoch,phase,lr,train_loss,train_acc,val_loss,val_acc,seconds,samples_per_s,"
                "val_seconds,graph_steps"), head
rows = list(csv.DictReader(open(sys.argv[2])))
assert len(rows) == len(js) == 3, (len(rows), len(js))
for j, r in zip(js, rows):
    for k in ("epoch", "phase", "lr", "train_loss", "train_acc", "val_loss", "val_acc", "seconds",
              "samples_per_s", "val_seconds", "graph_steps"):
        assert float(r[k]) == float(j[k]), (k, r[k], j[k])
EOF
    ok "--log run.csv: a header and run.jsonl's 3 epochs, every number the same"
else
    bad "--log run.csv -> exit $rc: $(cat run.csv) $err"
fi
run train --epochs 1 --val-size 0 --quiet --log nv.CSV
[ "$rc" -eq 0 ] && [ "$(head -1 nv.CSV)" = "epoch,phase,lr,train_loss,train_acc,seconds,samples_per_s,graph_steps" ] &&
    [ "$(grep -c '' nv.CSV)" -eq 2 ] && ok "--log nv.CSV with --val-size 0: no val columns" ||
    bad "--log nv.CSV -> exit $rc: $(cat nv.CSV) $err"
printf 'name,score\nada,1\n' >scores.csv
run train --epochs 1 "${CUT[@]}" --quiet --log scores.csv
[ "$rc" -ne 0 ] && grep -q '^ctrain: --log scores.csv: exists and is not a log of ctrain' <<<"$err" &&
    [ "$(cat scores.csv)" = $'name,score\nada,1' ] && ok "--log onto a CSV file that is not ctrain's: refused, kept" ||
    bad "--log scores.csv -> exit $rc: $err"
png_ok plots/loss.png 800 500

# ------------------------------------------------------------------ eval: the tables
run eval --model run
"$PY" - "$tmp/out" <<'EOF' && ok "eval: 10 per-class lines (recall, precision, F1 as the confusion matrix gives them) and their macro average, a 10x10 confusion matrix of 10000 images, its diagonal = test_acc" || bad "eval output: $out $err"
import re, sys
text = open(sys.argv[1]).read()
acc = float(re.search(r"^test_loss: [\d.]+, test_acc: ([\d.]+)$", text, re.M).group(1))
classes = re.findall(r"^  class (\d): ([\d.]+) \((\d+)/(\d+)\), precision ([\d.]+) \((\d+)/(\d+)\), "
                     r"F1 ([\d.]+)$", text, re.M)
assert [int(c[0]) for c in classes] == list(range(10)), classes
rows = [list(map(int, l.split()[1:])) for l in text.split("predicted class):\n")[1].splitlines()[1:]]
assert len(rows) == 10 and all(len(r) == 10 for r in rows), rows
total = sum(map(sum, rows))
assert total == 10000, total
assert abs(sum(rows[i][i] for i in range(10)) / total - acc) < 1e-4
assert all(int(classes[i][2]) == rows[i][i] and int(classes[i][3]) == sum(rows[i]) for i in range(10))
# precision: the column's share on the diagonal; F1: their harmonic mean (scikit-learn's)
ps, rs, fs = [], [], []
for i in range(10):
    col = sum(r[i] for r in rows)
    assert int(classes[i][5]) == rows[i][i] and int(classes[i][6]) == col
    p, r = rows[i][i] / col, rows[i][i] / sum(rows[i])
    f = 2 * p * r / (p + r)
    assert "%.4f" % p == classes[i][4] and "%.4f" % r == classes[i][1] and "%.4f" % f == classes[i][7]
    ps.append(p), rs.append(r), fs.append(f)
want = "  macro average: accuracy (recall) %.4f, precision %.4f, F1 %.4f" % (
    sum(rs) / 10, sum(ps) / 10, sum(fs) / 10)
assert want in text.splitlines(), want
EOF
# --part train: the 60000 training images, the lines named train_loss, train_acc
run eval --model run --part train
"$PY" - "$tmp/out" <<'EOF' && ok "eval --part train: the training set's 60000 images, train_loss and train_acc as its confusion matrix gives them" || bad "eval --part train -> exit $rc: $out $err"
import re, sys
text = open(sys.argv[1]).read()
assert re.search(r"^Data: mnist training set, 60000 images$", text, re.M), text[:300]
acc = float(re.search(r"^train_loss: [\d.]+, train_acc: ([\d.]+)$", text, re.M).group(1))
rows = [list(map(int, l.split()[1:])) for l in text.split("predicted class):\n")[1].splitlines()[1:]]
assert sum(map(sum, rows)) == 60000 and "test_loss" not in text
assert abs(sum(rows[i][i] for i in range(10)) / 60000 - acc) < 1e-4
EOF
# --predictions: each image's as CSV: its place, label, prediction (the most probable class),
# confidence and the 10 probabilities, as the confusion matrix and test_acc printed beside them;
# a file that is not one refused before any work and kept; --part val: the training file's
# places of the run's 1000 held-out images
run eval --model run --predictions pred.csv
"$PY" - "$tmp/out" pred.csv <<'EOF' && ok "eval --predictions: 10000 rows (label, predicted = argmax, confidence, 10 probabilities summing to 1) giving the printed test_acc and confusion matrix" || bad "eval --predictions -> exit $rc: $out $err $(head -3 pred.csv)"
import csv, re, sys
text = open(sys.argv[1]).read()
acc = float(re.search(r"^test_loss: [\d.]+, test_acc: ([\d.]+)$", text, re.M).group(1))
rows = [list(map(int, l.split()[1:])) for l in text.split("predicted class):\n")[1].splitlines()[1:11]]
assert "Wrote pred.csv: the 10000 images' predictions" in text
recs = list(csv.reader(open(sys.argv[2])))
head, recs = recs[0], recs[1:]
assert head == ["index", "label", "label_name", "predicted", "predicted_name", "confidence",
                "correct"] + ["p_%d" % c for c in range(10)], head
assert len(recs) == 10000 and [int(r[0]) for r in recs] == list(range(10000))
cm = [[0] * 10 for _ in range(10)]
for r in recs:
    p = [float(v) for v in r[7:]]
    best = max(range(10), key=lambda c: p[c])
    assert int(r[3]) == best and r[4] == str(best) and r[2] == r[1], r
    assert float(r[5]) == p[best] and int(r[6]) == (int(r[1]) == best) and abs(sum(p) - 1) < 1e-5, r
    cm[int(r[1])][best] += 1
assert cm == rows, (cm, rows)
assert "%.4f" % (sum(int(r[6]) for r in recs) / 10000) == "%.4f" % acc
EOF
printf 'a,b\n1,2\n' >scores2.csv
run eval --model run --predictions scores2.csv
[ "$rc" -eq 1 ] && [ -z "$out" ] && [ "$(cat scores2.csv)" = $'a,b\n1,2' ] &&
    grep -qx 'ctrain: --predictions scores2.csv: exists and is not a predictions file of ctrain eval; not overwriting it' <<<"$err" &&
    ok "eval --predictions onto a CSV that is not one: refused before evaluating, the file kept" ||
    bad "eval --predictions scores2.csv -> exit $rc: $out $err"
# onto a pipe, or /dev/stdout redirected to a file: the rows after the report, /dev/stdout left
# a link; onto a link: its target replaced, the link kept; a FILE.part (a link to another file)
# never followed
n_piped=$("$CT" eval --model run --predictions /dev/stdout 2>/dev/null | grep -c '^[0-9][0-9]*,[0-9],')
"$CT" eval --model run --predictions /dev/stdout >redirected.txt 2>/dev/null
[ "$n_piped" = 10000 ] && [ -L /dev/stdout ] && [ "$(grep -c '^[0-9][0-9]*,[0-9],' redirected.txt)" = 10000 ] &&
    grep -q '^test_loss: ' redirected.txt && ! grep -q '^Wrote' redirected.txt &&
    ok "eval --predictions /dev/stdout: the 10000 rows down a pipe and into a redirected file, after the report" ||
    bad "eval --predictions /dev/stdout: $n_piped rows piped; $(head -5 redirected.txt)"
cp pred.csv pred_target.csv && ln -sf pred_target.csv pred_link.csv && echo mine >victim.txt &&
    ln -sf victim.txt pred_link.csv.part
run eval --model run --part val --predictions pred_link.csv
[ "$rc" -eq 0 ] && [ -L pred_link.csv ] && [ "$(grep -c '' pred_target.csv)" -eq 1001 ] &&
    [ "$(cat victim.txt)" = mine ] &&
    ok "eval --predictions onto a link: its target replaced, the link kept; a link FILE.part not followed" ||
    bad "eval --predictions pred_link.csv -> exit $rc: $err $(ls -la pred_link.csv pred_target.csv victim.txt)"
# class names holding a comma and quotes: quoted as CSV quotes them
printf '%s\n' 'zero, nought' 'one "1"' two three four five six seven eight nine >names_q.txt
run eval --model run --class-names names_q.txt --predictions pred_q.csv
"$PY" - pred_q.csv <<'EOF' && ok "eval --predictions with class names holding a comma and quotes: CSV-quoted, read back whole" || bad "eval --class-names names_q.txt --predictions -> exit $rc: $err $(head -2 pred_q.csv)"
import csv, sys
recs = list(csv.reader(open(sys.argv[1])))
assert recs[0][7:9] == ["p_zero, nought", 'p_one "1"'] and len(recs[0]) == 17, recs[0]
names = ["zero, nought", 'one "1"', "two", "three", "four", "five", "six", "seven", "eight", "nine"]
assert all(r[2] == names[int(r[1])] and r[4] == names[int(r[3])] for r in recs[1:]), recs[1]
EOF
run eval --model run --part val --predictions pred.csv
"$PY" - pred.csv "$tmp/out" <<'EOF' && ok "eval --part val --predictions: the 1000 held-out images, by their places in the training file, giving the printed val_acc" || bad "eval --part val --predictions -> exit $rc: $out $err"
import csv, re, sys
recs = list(csv.DictReader(open(sys.argv[1])))
idx = [int(r["index"]) for r in recs]
assert len(idx) == 1000 and len(set(idx)) == 1000 and all(0 <= i < 60000 for i in idx), idx[:10]
assert max(idx) >= 10000, max(idx)  # (not the test file's places)
acc = re.search(r"^val_loss: [\d.]+, val_acc: ([\d.]+)$", open(sys.argv[2]).read(), re.M).group(1)
assert "%.4f" % (sum(int(r["correct"]) for r in recs) / 1000) == acc, acc
EOF
# --confusion: the matrix as a picture (10 cells of 56 pixels, margins 70 + 86 (its colour bar)
# and 50 + 60)
run eval --model run --confusion cm.png
[ "$rc" -eq 0 ] && grep -qx 'Wrote cm.png: the confusion matrix' <<<"$out" && ok "eval --confusion cm.png -> exit 0" ||
    bad "eval --confusion -> exit $rc: $err"
png_ok cm.png 716 670
printf 'my notes\n' >cm_notes.txt
run eval --model run --confusion cm_notes.txt
[ "$rc" -eq 1 ] && [ -z "$out" ] && [ "$(cat cm_notes.txt)" = "my notes" ] &&
    grep -qx 'ctrain: --confusion cm_notes.txt: exists and is not a PNG; not overwriting it' <<<"$err" &&
    ok "eval --confusion onto a file that is not a PNG: refused before evaluating, the file kept" ||
    bad "eval --confusion cm_notes.txt -> exit $rc: $out $err"
mkdir -p cm_dir.png
run eval --model run --confusion cm_dir.png
[ "$rc" -eq 1 ] && [ -z "$out" ] && grep -qx 'ctrain: --confusion cm_dir.png: is a folder, not a file' <<<"$err" &&
    ok "eval --confusion onto a folder: refused before evaluating" || bad "eval --confusion cm_dir.png -> exit $rc: $out $err"
run eval --model run --confusion no/such/cm.png
[ "$rc" -eq 1 ] && [ -z "$out" ] && grep -qx 'ctrain: --confusion no/such/cm.png: its folder no/such does not exist' <<<"$err" &&
    ok "eval --confusion into a missing folder: refused before evaluating" || bad "eval --confusion no/such/cm.png -> exit $rc: $out $err"
# a test set of 0s and 1s only: the macro averages are over the classes present or predicted
# (scikit-learn's labels), the other rows 0 of 0
mkdir -p only01 && cp "$dir"/train-*-ubyte only01/ 2>/dev/null ||
    for f in train-images-idx3-ubyte train-labels-idx1-ubyte; do gzip -dc "$dir/$f.gz" >only01/$f; done
"$PY" - "$dir" only01 <<'EOF' || bad "could not write a test set of 0s and 1s"
import gzip, os, sys
def raw(name):
    path = os.path.join(sys.argv[1], name)
    return open(path, "rb").read() if os.path.exists(path) else gzip.open(path + ".gz").read()
images, labels = raw("t10k-images-idx3-ubyte"), raw("t10k-labels-idx1-ubyte")
keep = [i for i in range(10000) if labels[8 + i] in (0, 1)]
n = len(keep).to_bytes(4, "big")
open(os.path.join(sys.argv[2], "t10k-images-idx3-ubyte"), "wb").write(
    images[:4] + n + images[8:16] + b"".join(images[16 + 784 * i:16 + 784 * (i + 1)] for i in keep))
open(os.path.join(sys.argv[2], "t10k-labels-idx1-ubyte"), "wb").write(
    labels[:4] + n + bytes(labels[8 + i] for i in keep))
EOF
run eval --model run --dataset idx --data only01
"$PY" - "$tmp/out" <<'EOF' && ok "eval on 0s and 1s only: macro averages over the classes present or predicted (scikit-learn's)" || bad "eval on only01: $out $err"
import re, sys
text = open(sys.argv[1]).read()
rows = [list(map(int, l.split()[1:])) for l in text.split("predicted class):\n")[1].splitlines()[1:]]
labels = [c for c in range(10) if sum(rows[c]) or sum(r[c] for r in rows)]
assert 2 <= len(labels) < 10, labels
ps, rs, fs = [], [], []
for c in labels:
    col, row = sum(r[c] for r in rows), sum(rows[c])
    p, r = (rows[c][c] / col if col else 0.0), (rows[c][c] / row if row else 0.0)
    ps.append(p), rs.append(r), fs.append(2 * p * r / (p + r) if p + r else 0.0)
want = "  macro average over the %d classes present or predicted: accuracy (recall) %.4f, " \
       "precision %.4f, F1 %.4f" % (len(labels), sum(rs) / len(labels), sum(ps) / len(labels), sum(fs) / len(labels))
assert want in text.splitlines(), (want, text)
assert "  class 5: 0.0000 (0/0), precision" in text or 5 in labels
EOF

# ------------------------------------------------------------------ show: grids
run show --out grid.png --count 16 --cols 4
[ "$rc" -eq 0 ] && [ "$out" = "Wrote grid.png: 16 images" ] && ok "show --count 16 --cols 4: $out" || bad "show -> exit $rc: $out $err"
png_ok grid.png $((4 * (28 * 3 + 2) + 2)) $((30 + 4 * (28 * 3 + 2 + 18) + 2))
run show --model run --out pred.png --count 64
[ "$rc" -eq 0 ] && grep -Eq '^Wrote pred.png: 64 images, [0-9]+ wrong$' <<<"$out" && ok "show --model run: $out" ||
    bad "show --model -> exit $rc: $out $err"
png_ok pred.png $((8 * 86 + 2)) $((30 + 8 * 104 + 2))
run show --model run --wrong --count 6 --cols 3 --scale 2 --part train --out wrong.png
[ "$rc" -eq 0 ] && [ "$out" = "Wrote wrong.png: 6 images, 6 wrong" ] && ok "show --wrong: $out" ||
    bad "show --wrong -> exit $rc: $out $err"
# (a title wider than the grid widens the picture, the grid centred under it)
png_ok wrong.png ">$((3 * (28 * 2 + 2) + 2))" $((30 + 2 * (28 * 2 + 2 + 18) + 2))
# --augment: the training images as a run with that --augment and --seed sees them (the same
# seed draws the same picture, another seed another; the model predicts what is shown)
run show --augment rotate=20,translate=0.1,scale=0.8:1.2 --count 16 --out aug1.png
run show --augment rotate=20,translate=0.1,scale=0.8:1.2 --count 16 --out aug2.png
run show --augment rotate=20,translate=0.1,scale=0.8:1.2 --count 16 --seed 7 --out aug3.png
run show --part train --count 16 --out plain.png
[ "$rc" -eq 0 ] && cmp -s aug1.png aug2.png && ! cmp -s aug1.png aug3.png && ! cmp -s aug1.png plain.png &&
    ok "show --augment: the same seed the same picture, another seed or none another" ||
    bad "show --augment -> exit $rc: $err"
png_ok aug1.png $((8 * 86 + 2)) $((30 + 2 * 104 + 2))
run show --augment rotate=30 --model run --count 64 --epoch 3 --out augpred.png
[ "$rc" -eq 0 ] && grep -Eq '^Wrote augpred.png: 64 images, [0-9]+ wrong$' <<<"$out" &&
    ok "show --augment --model --epoch: $out" || bad "show --augment --model -> exit $rc: $out $err"
# --mixup-alpha / --cutmix-alpha: mixed as training mixes them (test_train's test_mix_images
# checks the pixels, partners and shares); the same seed the same picture, another epoch another
run show --mixup-alpha 0.2 --cutmix-alpha 1.0 --count 16 --start 120 --out mix1.png
run show --mixup-alpha 0.2 --cutmix-alpha 1.0 --count 16 --start 120 --out mix2.png
run show --mixup-alpha 0.2 --cutmix-alpha 1.0 --count 16 --start 120 --epoch 1 --out mix3.png
[ "$rc" -eq 0 ] && [ "$out" = "Wrote mix3.png: 16 images" ] && cmp -s mix1.png mix2.png &&
    ! cmp -s mix1.png mix3.png && ! cmp -s mix1.png plain.png &&
    ok "show --mixup-alpha --cutmix-alpha: the same draw the same picture, another epoch another" ||
    bad "show --mixup-alpha --cutmix-alpha -> exit $rc: $out $err"
run show --cutmix-alpha 1.0 --augment flip --batch-size 10 --count 16 --out mix4.png
[ "$rc" -eq 0 ] && ! cmp -s mix4.png mix1.png && ok "show --cutmix-alpha --augment flip --batch-size 10" ||
    bad "show --cutmix-alpha --augment --batch-size -> exit $rc: $err"
run show --mixup-alpha 0.2 --model run --out mixmodel.png
[ "$rc" -eq 2 ] && grep -q 'not with --model' <<<"$err" && [ ! -e mixmodel.png ] &&
    ok "show --mixup-alpha --model -> exit 2" || bad "show --mixup-alpha --model -> exit $rc: $err"
# --out onto an existing file: a PNG is replaced (above: grid.png again), anything else (here
# the model it reads) is refused and left whole
run show --out grid.png --count 4
[ "$rc" -eq 0 ] && ok "show --out onto an earlier PNG: replaced" || bad "show --out grid.png again -> exit $rc: $err"
cp run/model.safetensors model.before
run show --model run --out run/model.safetensors
[ "$rc" -eq 1 ] && [ "$(printf '%s' "$err" | grep -c '')" -eq 1 ] &&
    grep -q '^ctrain: --out run/model.safetensors: exists and is not a PNG; not overwriting it$' <<<"$err" &&
    cmp -s model.before run/model.safetensors && ok "show --out onto its own checkpoint -> exit 1, the file whole" ||
    bad "show --out run/model.safetensors -> exit $rc: $err"

# to a pipe (the PNG alone on stdout, the summary line on stderr), and to a full device through
# a link (an error; the link is not replaced by a file)
"$CT" show --out /dev/stdout --count 4 --cols 2 2>"$tmp/show.err" | cat >piped.png
# (grep: under ASan, stderr also holds its summary)
if grep -qx "Wrote /dev/stdout: 4 images" "$tmp/show.err"; then png_ok piped.png ">$((2 * (28 * 3 + 2) + 2))" $((30 + 2 * (28 * 3 + 2 + 18) + 2))
else bad "show --out /dev/stdout: stderr $(cat "$tmp/show.err")"
fi
# stdout redirected to a file: written where stdout stands (not a new file renamed over it)
{ echo header; "$CT" show --out /dev/stdout --count 4 --cols 2 2>/dev/null; echo trailer; } >framed.bin
[ "$(head -n 1 framed.bin)" = header ] && [ "$(tail -c 8 framed.bin)" = trailer ] &&
    [ "$(head -c 11 framed.bin | tail -c 3)" = PNG ] &&
    ok "show --out /dev/stdout into a file between two echos: all three kept, in order" ||
    bad "show --out /dev/stdout into a file: $(head -c 40 framed.bin | od -c | head -n 2)"
ln -s /dev/full full.png
run show --out full.png --count 4
[ "$rc" -eq 1 ] && grep -q '^ctrain: full.png: write failed: No space left on device$' <<<"$err" && [ -L full.png ] &&
    ok "show --out (a link to /dev/full) -> exit 1, the link kept: $err" ||
    bad "show --out (link to /dev/full) -> exit $rc: $err; $(ls -l full.png)"

# ------------------------------------------------------------------ predict: files of every kind
for i in 0 1 2; do
    py export "$dir" $i "d$i.png"
    py export "$dir" $i "d$i.pgm"
    py export "$dir" $i "d$i-inv-rgb.png"
done
run predict --model run d0.png d0.pgm d0-inv-rgb.png d1.png d1.pgm d1-inv-rgb.png d2.png d2.pgm d2-inv-rgb.png
classes=$(sed 's/^[^:]*: \([0-9]\) .*/\1/' <<<"$out" | tr -d '\n')
if [ "$rc" -eq 0 ] && [ "$(grep -c '' <<<"$out")" -eq 9 ] && [ "${classes:0:3}" = "777" ] &&
    [ "${classes:3:3}" = "222" ] && [ "${classes:6:3}" = "111" ]; then
    ok "predict: test images 0, 1, 2 as grey PNG, PGM and 84x84 dark-on-light RGB PNG -> 7, 2, 1"
else
    bad "predict -> exit $rc, classes $classes: $out $err"
fi
grep -E '^d0-inv-rgb.png: 7 \(0\.[0-9]{4}\)  top 3: 7 0\.[0-9]{4}, [0-9] 0\.[0-9]{4}, [0-9] 0\.[0-9]{4}  \[inverted\]$' <<<"$out" >/dev/null &&
    ! grep -q 'd0.png.*inverted' <<<"$out" && ok "the dark-on-light picture was inverted (auto), the MNIST ones not" ||
    bad "inversion marks: $out"
run predict --model run --fit digit --top 1 d0-inv-rgb.png
grep -Eq '^d0-inv-rgb.png: 7 \(0\.[0-9]{4}\)  top 1: 7 0\.[0-9]{4}  \[inverted\]$' <<<"$out" &&
    ok "predict --fit digit --top 1: $out" || bad "--fit digit -> exit $rc: $out $err"
printf 'P5\n28 28\n255\n' >short.pgm
run predict --model run short.pgm d1.png
[ "$rc" -eq 1 ] && grep -q '^d1.png: 2 ' <<<"$out" && grep -q '^ctrain: short.pgm: ' <<<"$err" &&
    ok "an unreadable image: one line on stderr, the others still classified, exit 1" ||
    bad "unreadable image -> exit $rc: $out $err"

# outputs that would destroy something: a --log onto a file that is not a log of ctrain's, or
# onto a checkpoint of the run's own --save folder, is refused before the training and the file
# is left as it was; a log of ctrain's is replaced. A fresh --save onto another run's checkpoint
# is refused (exit 2, nothing written) unless --overwrite, which also drops that run's best.
printf 'my notes\n' >notes.txt
run train --epochs 1 "${CUT[@]}" --quiet --log notes.txt
[ "$rc" -eq 1 ] && [ "$(cat notes.txt)" = "my notes" ] && [ "$(printf '%s' "$err" | grep -c '')" -eq 1 ] &&
    grep -q '^ctrain: --log notes.txt: exists and is not a log of ctrain' <<<"$err" && [ -z "$out" ] &&
    ok "--log onto a file that is not a log: refused, the file kept: $err" || bad "--log notes.txt -> exit $rc: $out $err"
cp run/train_state.safetensors keep.st
run train --resume run --epochs 3 --quiet --log run/train_state.safetensors
[ "$rc" -eq 1 ] && cmp -s keep.st run/train_state.safetensors &&
    grep -qx 'ctrain: --log run/train_state.safetensors: is run/train_state.safetensors, which this run writes' <<<"$err" &&
    ok "--log onto the run's own train state: refused, the checkpoint kept" || bad "--log onto the checkpoint -> exit $rc: $err"
run train --epochs 1 "${CUT[@]}" --quiet --save fresh --save-best --log fresh/best.safetensors
[ "$rc" -eq 1 ] && [ ! -e fresh ] && grep -q 'which this run writes' <<<"$err" &&
    ok "--log onto a file --save-best will write: refused before the folder is made" || bad "--log fresh/best.safetensors -> exit $rc: $err"
run train --epochs 1 "${CUT[@]}" --quiet --log run.jsonl
[ "$rc" -eq 0 ] && [ "$(wc -l <run.jsonl)" -eq 1 ] && ok "--log onto an earlier log of ctrain's: replaced" ||
    bad "--log run.jsonl again -> exit $rc: $err"

run train --epochs 1 "${CUT[@]}" --quiet --save best --save-best
cp best/model.safetensors keep.model
run train --epochs 1 "${CUT[@]}" --quiet --save best --hidden 8
[ "$rc" -eq 2 ] && cmp -s keep.model best/model.safetensors && [ -e best/best.safetensors ] && [ -z "$out" ] &&
    grep -qx "ctrain: --save best: holds another run's checkpoint (train_state.safetensors); continue it with --resume best, or replace it with --overwrite (see ctrain train --help)" <<<"$err" &&
    ok "a fresh --save onto another run's checkpoint: refused, exit 2, nothing written" || bad "--save onto a checkpoint -> exit $rc: $out $err"
# a folder another ctrain is writing in (it holds the folder's lock; here this shell does, with
# flock(1)): refused, exit 1, nothing written there, by train --save (--overwrite too), train
# --resume and sweep --save (two runs saving at once would leave one's model beside the other's
# train state)
mkdir -p swl
if command -v flock >/dev/null && exec 8<best 9<swl && flock -n 8 && flock -n 9; then
    cp best/model.safetensors keep.model
    locked=0
    for cmd in "--save best|train --epochs 1 ${CUT[*]} --quiet --save best --overwrite" \
        "--resume best|train --epochs 2 ${CUT[*]} --quiet --resume best" \
        "--save swl|sweep --lr 0.1,0.2 --epochs 1 ${CUT[*]} --save swl"; do
        IFS='|' read -r what args <<<"$cmd"
        read -ra words <<<"$args"
        run "${words[@]}"
        [ "$rc" -eq 1 ] && cmp -s keep.model best/model.safetensors && [ -z "$(ls swl)" ] &&
            [ "$(grep -c '' <<<"$err")" -eq 1 ] &&
            grep -q "^ctrain: $what: another ctrain is writing in this folder (it holds its lock)" <<<"$err" &&
            locked=$((locked + 1)) || bad "ctrain $args into a locked folder -> exit $rc: $err"
    done
    exec 8<&- 9<&-
    [ "$locked" -eq 3 ] && ok "a folder another ctrain writes in (its lock held): train --save, --resume and sweep --save refused, exit 1, nothing written"
else
    echo "SKIP the save folder's lock: flock(1) (util-linux) missing or failing"
fi
run train --epochs 1 "${CUT[@]}" --quiet --save best --hidden 8 --overwrite
if [ "$rc" -eq 0 ] && [ ! -e best/best.safetensors ] && ! cmp -s keep.model best/model.safetensors &&
    "$CT" summary --model best | grep -q 'linear1  *(8)'; then
    ok "--overwrite: the new run's checkpoint, the old run's best.safetensors removed"
else
    bad "--overwrite -> exit $rc: $err; $(ls best)"
fi
run train --resume best --epochs 2 --quiet --save ./best/
[ "$rc" -eq 0 ] && ok "--resume best --save ./best/ (its own folder, spelt otherwise) needs no --overwrite" || bad "--resume best --save ./best/ -> exit $rc: $err"
run train --epochs 1 "${CUT[@]}" --quiet --save kb --save-best
run train --resume kb --epochs 2 --quiet --overwrite
[ "$rc" -eq 0 ] && [ -e kb/best.safetensors ] && ok "--resume DIR --overwrite: the run's own best.safetensors kept" ||
    bad "--resume kb --overwrite -> exit $rc, $(ls kb): $err"
run train --epochs 1 "${CUT[@]}" --quiet --save kb --overwrite --plot newplots --log notes.txt
[ "$rc" -eq 1 ] && [ -e kb/best.safetensors ] && [ ! -e newplots ] && [ "$(cat notes.txt)" = "my notes" ] &&
    ok "a refused --log: nothing removed or created (best.safetensors kept, no --plot folder)" ||
    bad "--overwrite with a refused --log -> exit $rc, $(ls kb; ls -d newplots): $err"
# a --log that cannot be opened (its folder missing): the --save and --plot folders made for the
# run are taken away again
run train --epochs 1 "${CUT[@]}" --quiet --save new_save --plot new_plots --log no/such/dir/x.jsonl
[ "$rc" -eq 1 ] && [ ! -e new_save ] && [ ! -e new_plots ] &&
    grep -q '^ctrain: --log no/such/dir/x.jsonl: cannot open: No such file or directory$' <<<"$err" &&
    ok "--log that cannot be opened -> exit 1, no --save or --plot folder left" ||
    bad "--log no/such/dir/x.jsonl -> exit $rc, $(ls -d new_save new_plots 2>&1): $err"
# the same with --save in folders yet to be made: all of them taken away, not only the last
run train --epochs 1 "${CUT[@]}" --quiet --save deep/er/save --log no/such/dir/x.jsonl
[ "$rc" -eq 1 ] && [ ! -e deep ] && ok "--save deep/er/save with a --log that cannot be opened: no folder of it left" ||
    bad "--save deep/er/save -> exit $rc, $(ls -R deep 2>&1): $err"
mkdir -p kept_empty
run train --epochs 1 "${CUT[@]}" --quiet --save made/../kept_empty --log no/such/dir/x.jsonl
[ "$rc" -eq 1 ] && [ ! -e made ] && [ -d kept_empty ] &&
    ok "--save made/../kept_empty, failed start: the folder made removed, the one that was there kept" ||
    bad "--save made/../kept_empty -> exit $rc, $(ls -d made kept_empty 2>&1): $err"
# --plot replaces only pictures: a file of another kind, or a link to a checkpoint, is refused
mkdir -p notes_plots && printf 'my notes\n' >notes_plots/loss.png
run train --epochs 1 "${CUT[@]}" --quiet --plot notes_plots
[ "$rc" -eq 1 ] && [ "$(cat notes_plots/loss.png)" = "my notes" ] &&
    grep -qx 'ctrain: --plot notes_plots/loss.png: exists and is not a PNG; not overwriting it' <<<"$err" &&
    ok "--plot onto a loss.png that is not a PNG: refused, the file kept" || bad "--plot notes_plots -> exit $rc: $err"
rm notes_plots/loss.png && printf 'my notes\n' >notes_plots/momentum.png
run train --epochs 1 "${CUT[@]}" --quiet --plot notes_plots
[ "$rc" -eq 1 ] && [ "$(cat notes_plots/momentum.png)" = "my notes" ] && [ ! -e notes_plots/loss.png ] &&
    grep -qx 'ctrain: --plot notes_plots/momentum.png: exists and is not a PNG; not overwriting it' <<<"$err" &&
    ok "--plot onto a momentum.png that is not a PNG: refused before training, the file kept" ||
    bad "--plot notes_plots (momentum.png) -> exit $rc: $err"
mkdir -p link_plots && ln -sf ../kb/model.safetensors link_plots/accuracy.png && cp kb/model.safetensors keep.kb
run train --epochs 1 "${CUT[@]}" --quiet --plot link_plots
[ "$rc" -eq 1 ] && cmp -s keep.kb kb/model.safetensors && grep -q 'link_plots/accuracy.png: exists and is not a PNG' <<<"$err" &&
    ok "--plot through a link to a checkpoint: refused, the checkpoint kept" || bad "--plot link_plots -> exit $rc: $err"
# --overwrite replaces the other run's files at this run's first checkpoint, not before: a run
# that diverges first leaves them all, best.safetensors too, and says so
cp kb/best.safetensors keep.best
run train --epochs 2 --lr 1e30 "${CUT[@]}" --quiet --save kb --overwrite
[ "$rc" -eq 1 ] && cmp -s keep.best kb/best.safetensors && cmp -s keep.kb kb/model.safetensors &&
    grep -qx 'ctrain: kb keeps the checkpoint it held before, not replaced' <<<"$err" &&
    ok "--overwrite of a run that diverges before its first checkpoint: the other run's files kept" ||
    bad "--overwrite, diverged -> exit $rc, $(ls kb): $err"
# resumed into another folder with --save-best: its best.safetensors is the best of the epochs
# trained there (Keras' ModelCheckpoint), written at the first of them
run train --resume kb --epochs 3 --quiet --save kb_branch
[ "$rc" -eq 0 ] && [ -e kb_branch/best.safetensors ] && [ -e kb/best.safetensors ] &&
    ok "--resume kb --save kb_branch (--save-best): kb_branch has its own best.safetensors" ||
    bad "--resume into another folder with --save-best -> exit $rc, $(ls kb_branch): $err"
# ... and keeps that rule when resumed in its own folder: its best is among epochs 2.. only
# (kb had run 2 when it branched), even when an earlier epoch of kb's had a lower val_loss
run train --resume kb_branch --epochs 5 --quiet --log kb_branch.jsonl
from=$(meta_of kb_branch/train_state.safetensors best_from 2>&1)
want=$("$PY" -c 'import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print(1 + min(range(2, len(rows)), key=lambda e: (rows[e]["val_loss"], e)))' kb_branch.jsonl 2>&1)
got=$(meta_of kb_branch/best.safetensors epoch 2>&1)
[ "$rc" -eq 0 ] && [ "$from" = 2 ] && [ "$got" = "$want" ] &&
    ok "kb_branch resumed in its own folder: best.safetensors the best of epochs 2..4 (epoch count $got)" ||
    bad "kb_branch's best: epoch count '$got', expected '$want', best_from '$from' (exit $rc: $err)"
# a run that replaces another's folder (--overwrite) with --save-best: its first best comes with
# its own checkpoint, so the folder never holds one run's best beside the other's pair
run train --epochs 1 "${CUT[@]}" --quiet --save ow --save-best --seed 3
run train --schedule 1@0.5,1@1e30 "${CUT[@]}" --quiet --save ow --save-best --overwrite --seed 4
[ "$rc" -eq 1 ] && [ "$(meta_of ow/model.safetensors seed)" = 4 ] && [ "$(meta_of ow/best.safetensors seed)" = 4 ] &&
    grep -q 'ow keeps the checkpoint after epoch 0; best.safetensors: epoch 0' <<<"$err" &&
    ok "--overwrite --save-best, diverged in epoch 1: the folder holds this run's pair and best" ||
    bad "--overwrite --save-best then diverged -> exit $rc: $err; seeds $(meta_of ow/model.safetensors seed) $(meta_of ow/best.safetensors seed)"
ln -s fresh2/model.safetensors dangling.log
run train --epochs 1 "${CUT[@]}" --quiet --save fresh2 --log dangling.log
[ "$rc" -eq 1 ] && [ ! -e fresh2 ] && grep -q '^ctrain: --log dangling.log: is fresh2/model.safetensors, which this run writes' <<<"$err" &&
    ok "--log through a dangling link to a file --save will write: refused, no folder made" || bad "--log dangling.log -> exit $rc: $err"
mkdir -p onlybest && cp kb/best.safetensors onlybest/
run train --epochs 1 "${CUT[@]}" --quiet --save onlybest
[ "$rc" -eq 2 ] && grep -q "^ctrain: --save onlybest: holds another run's best.safetensors; replace it with --overwrite" <<<"$err" &&
    ok "a fresh --save onto a folder with another run's best.safetensors: refused" || bad "--save onlybest -> exit $rc: $err"
"$CT" train --epochs 2 "${CUT[@]}" --quiet --log /dev/stdout >stdout.txt 2>"$tmp/err"
rc=$?
[ "$rc" -eq 0 ] && [ "$(grep -c '^{"epoch": ' stdout.txt)" -eq 2 ] && [ "$(grep -c '^Epoch \[' stdout.txt)" -eq 2 ] &&
    grep -q '^test_loss' stdout.txt && ok "--log /dev/stdout >FILE: the log lines among the output, none lost" ||
    bad "--log /dev/stdout >FILE -> exit $rc: $(cat stdout.txt) $(cat "$tmp/err")"

# --log or --plot that cannot be written (/dev/full; loss.png a pipe that nobody reads: not even
# root can write there; a folder in its place is refused before the run): the training still
# runs to its end, each failure is said once, and the exit status says the run did not give
# all it was asked for
mkdir -p noplot && mkfifo noplot/loss.png
run train --epochs 2 --lr 0.5 --val-size 1000 --quiet --log /dev/full --plot noplot
want="--log and --plot"
if [ "$rc" -eq 1 ] && grep -q '^test_loss: ' <<<"$out" && [ "$(grep -c '^Epoch' <<<"$out")" -eq 2 ] &&
    [ "$(grep -c 'ctrain: --log /dev/full: cannot write' <<<"$err")" -eq 1 ] &&
    [ "$(grep -c '^ctrain: noplot/loss.png: ' <<<"$err")" -eq 1 ] &&
    grep -qx "ctrain: the training finished, but $want could not be written (above)" <<<"$err"; then
    ok "$want failing: the training ran to its end, exit 1, each said once"
else
    bad "$want failing -> exit $rc: $out $err"
fi

echo
finish cli_outputs
