#!/usr/bin/env python3
"""Parsing and tables for bench/run (standard library only; any python3 >= 3.8).

  benchlib.py parse --kind ctrain|torch --program NAME --rep N [--hidden H --batch B] OUT TIME
      prints one JSON record for one run: OUT is the program's stdout+stderr, TIME the file
      written by `/usr/bin/time -f '%e %M' -o TIME` (wall seconds, peak RSS KiB).
  benchlib.py report RUNS.jsonl
      prints the markdown tables (main comparison, ratios, scaling) for all records.

The ctrain output formats live in CTRAIN_PATTERNS below: adapt them there when the CLI changes.
"""
import argparse
import json
import re
import statistics
import sys

# ---- ctrain's output (tools/ctrain) ---------------------------------------------------------
# Each pattern is searched line by line; the last match wins.
CTRAIN_PATTERNS = {
    # Epoch [3], val_loss: 0.1234, val_acc: 0.9567
    "epoch": re.compile(r"^Epoch \[(\d+)\], val_loss: ([0-9.naif]+), val_acc: ([0-9.]+)"),
    # test_loss: 0.0912, test_acc: 0.9712
    "test": re.compile(r"test_loss: ([0-9.naif]+), test_acc: ([0-9.]+)"),
    # Training time: 1.234 s (0.123 s/epoch)     -> training epochs only (mean per epoch)
    "train_time": re.compile(r"Training time: ([0-9.]+) s \(([0-9.]+) s/epoch\)"),
    # Optional, proposed: "Validation time: 0.110 s (0.010 s/pass)" -> one validation pass
    "val_time": re.compile(r"Validation time: ([0-9.]+) s \(([0-9.]+) s/pass\)"),
    # Optional: per-epoch training time on the epoch line, e.g. "..., val_acc: 0.9567, time: 0.123 s"
    "epoch_time": re.compile(r"^Epoch \[\d+\].*?\btime: ([0-9.]+) ?s"),
    # Any line naming the BLAS or the device the CLI reports (informative only)
    "blas": re.compile(r"(?i)(openblas|\bblas\b|cublas|device: .*)"),
}

# FLOPs of one training step per sample, MLP 784 -> H -> ReLU -> 10 (matrix products only;
# bias adds, ReLU, softmax/cross-entropy and the SGD update are O(H) and left out):
#   forward:  2*784*H (layer 1) + 2*H*10 (layer 2)
#   backward: weight gradients 2*784*H + 2*H*10, input gradient of layer 2 2*H*10
#             (the input gradient of layer 1, 2*784*H, is not needed and not computed)
#   total:    4*784*H + 6*10*H = 3196*H FLOPs per sample
TRAIN_SAMPLES = 50000


def flops_per_epoch(hidden):
    return TRAIN_SAMPLES * (4 * 784 * hidden + 6 * 10 * hidden)


def read_time(path):
    """(wall seconds, peak RSS KiB) from a GNU time -o file; the last line holds them."""
    try:
        lines = [ln for ln in open(path).read().splitlines() if ln.strip()]
        wall, rss = lines[-1].split()[:2]
        return float(wall), int(rss)
    except (OSError, ValueError, IndexError):
        return None, None


def parse_ctrain(text):
    rec = {}
    val_acc = None
    epoch_times = []
    blas = None
    for line in text.splitlines():
        m = CTRAIN_PATTERNS["epoch"].search(line)
        if m:
            val_acc = float(m.group(3))
        m = CTRAIN_PATTERNS["epoch_time"].search(line)
        if m:
            epoch_times.append(float(m.group(1)))
        m = CTRAIN_PATTERNS["test"].search(line)
        if m:
            rec["test_acc"] = float(m.group(2))
        m = CTRAIN_PATTERNS["train_time"].search(line)
        if m:
            rec["train_total"] = float(m.group(1))
            rec["epoch_time"] = float(m.group(2))
        m = CTRAIN_PATTERNS["val_time"].search(line)
        if m:
            rec["val_time"] = float(m.group(2))
        if blas is None and CTRAIN_PATTERNS["blas"].search(line):
            blas = line.strip()
    if epoch_times:  # per-epoch times, when printed, give a true median
        rec["epoch_times"] = epoch_times
        rec["epoch_time"] = statistics.median(epoch_times)
    if val_acc is not None:
        rec["val_acc"] = val_acc
    if blas:
        rec["blas_line"] = blas
    if "epoch_time" not in rec:
        rec["error"] = "no 'Training time: ... (X s/epoch)' line in ctrain's output"
    return rec


def parse_torch(text):
    for line in reversed(text.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                d = json.loads(line)
            except ValueError:
                continue
            d["epoch_time"] = statistics.median(d["epoch_times"]) if d.get("epoch_times") else None
            return d
    return {"error": "no JSON result line in the program's output"}


def cmd_parse(a):
    try:
        text = open(a.out, errors="replace").read()
    except OSError:
        text = ""
    rec = parse_ctrain(text) if a.kind == "ctrain" else parse_torch(text)
    rec.update(program=a.program, kind=a.kind, rep=a.rep, phase=a.phase)
    if a.hidden:
        rec["hidden"] = a.hidden
    if a.batch:
        rec["batch_size"] = a.batch
    rec["wall_s"], rec["rss_kib"] = read_time(a.time)
    if a.rc:
        rec["rc"] = a.rc
        rec.setdefault("error", "exit status %d" % a.rc)
    if "error" in rec:
        tail = [ln for ln in text.splitlines() if ln.strip()][-3:]
        rec["tail"] = tail
    print(json.dumps(rec))


# ---- report ---------------------------------------------------------------------------------
def med(vals):
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None


def fmt(v, digits=3, unit=""):
    if v is None:
        return "n/a"
    if digits > 1 and isinstance(v, float) and abs(v) >= 100:
        return "%.1f%s" % (v, unit)
    return ("%." + str(digits) + "f%s") % (v, unit)


def ratio(a, b):
    if a is None or b is None or b == 0:
        return "n/a"
    r = a / b
    return "%.3f" % r if r < 0.1 else "%.2f" % r


MAIN_LABELS = [
    ("ctrain", "ctrain (`build/ctrain train`)"),
    ("tutorial", "PyTorch, tutorial program (`bench/tutorial.py`)"),
    ("tuned", "PyTorch, tuned loop (`bench/tuned.py`)"),
]


def summarize(recs):
    ok = [r for r in recs if "error" not in r]
    return {
        "reps": "%d/%d" % (len(ok), len(recs)),
        "epoch": med([r.get("epoch_time") for r in ok]),
        "val": med([r.get("val_time") for r in ok]),
        "job": med([r.get("wall_s") for r in ok]),
        "rss": med([r["rss_kib"] / 1024.0 if r.get("rss_kib") else None for r in ok]),
        "val_acc": med([r.get("val_acc") for r in ok]),
        "test_acc": med([r.get("test_acc") for r in ok]),
        "errors": [r for r in recs if "error" in r],
    }


def cmd_report(a):
    recs = [json.loads(ln) for ln in open(a.runs) if ln.strip()]
    out = []
    main = {p: summarize([r for r in recs if r["phase"] == "main" and r["program"] == p])
            for p, _ in MAIN_LABELS}
    out.append("## Default job (tutorial schedule: 5 epochs at lr 0.5 + 5 at lr 0.1, hidden 32, batch 128/256)\n")
    out.append("| program | runs ok | training epoch, median (s) | validation pass, median (s) "
               "| whole job, wall (s) | peak RSS (MiB) | final val acc | test acc |")
    out.append("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for p, label in MAIN_LABELS:
        s = main[p]
        if s["reps"] == "0/0":
            out.append("| %s | skipped | | | | | | |" % label)
            continue
        out.append("| %s | %s | %s | %s | %s | %s | %s | %s |" % (
            label, s["reps"], fmt(s["epoch"]), fmt(s["val"], 4), fmt(s["job"], 2), fmt(s["rss"], 0),
            fmt(s["val_acc"], 4), fmt(s["test_acc"], 4)))
    c = main["ctrain"]
    out.append("")
    out.append("Ratios ctrain / other (below 1: ctrain takes less time or memory):\n")
    out.append("| ratio | training epoch | validation pass | whole job | peak RSS |")
    out.append("| --- | ---: | ---: | ---: | ---: |")
    for p, label in MAIN_LABELS[1:]:
        o = main[p]
        out.append("| ctrain / %s | %s | %s | %s | %s |" % (
            p, ratio(c["epoch"], o["epoch"]), ratio(c["val"], o["val"]), ratio(c["job"], o["job"]),
            ratio(c["rss"], o["rss"])))

    scal = [r for r in recs if r["phase"] == "scaling"]
    if scal:
        out.append("")
        out.append("## Scaling: training epoch vs hidden size and batch (2 epochs at lr 0.1, median epoch)\n")
        out.append("GFLOP per epoch = 50000 * (4*784*H + 6*10*H) / 1e9 (matrix products only: forward "
                   "2*784*H + 2*10*H, backward weight gradients 2*784*H + 2*10*H plus the hidden-layer "
                   "input gradient 2*10*H; the input gradient of the first layer is not computed).\n")
        out.append("| hidden | batch | GFLOP/epoch | ctrain epoch (s) | ctrain GFLOP/s "
                   "| tuned PyTorch epoch (s) | tuned GFLOP/s | ctrain / tuned |")
        out.append("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        keys = sorted({(r["hidden"], r["batch_size"]) for r in scal})
        for h, b in keys:
            gf = flops_per_epoch(h) / 1e9
            row = {}
            for p in ("ctrain", "tuned"):
                rs = [r for r in scal if r["program"] == p and r["hidden"] == h and r["batch_size"] == b
                      and "error" not in r]
                row[p] = med([r.get("epoch_time") for r in rs])
            out.append("| %d | %d | %.2f | %s | %s | %s | %s | %s |" % (
                h, b, gf, fmt(row["ctrain"]), fmt(gf / row["ctrain"], 1) if row["ctrain"] else "n/a",
                fmt(row["tuned"]), fmt(gf / row["tuned"], 1) if row["tuned"] else "n/a",
                ratio(row["ctrain"], row["tuned"])))

    cnn = [r for r in recs if r["phase"] == "cnn"]
    if cnn:
        out.append("")
        out.append("## The `cnn` preset (Keras MNIST convnet, 1,199,882 parameters): one epoch, Adam lr 1e-3, batch 128\n")
        out.append("Same data (seeded 50000/10000 split), same network, same optimizer and batch; "
                   "ctrain `build/ctrain train --model cnn --optimizer adam --epochs 1`, PyTorch "
                   "`bench/tuned.py --model cnn --optimizer adam --epochs 1 --lr 0.001` (its `--threads`, as "
                   "printed above; ctrain uses every core).\n")
        out.append("| program | runs ok | training epoch (s) | images/s | val acc after 1 epoch | whole job (s) | peak RSS (MiB) |")
        out.append("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
        row = {}
        for p, label in (("ctrain", "ctrain"), ("tuned", "PyTorch (same network, tuned loop)")):
            sm = summarize([r for r in cnn if r["program"] == p])
            row[p] = sm
            out.append("| %s | %s | %s | %s | %s | %s | %s |" % (
                label, sm["reps"], fmt(sm["epoch"], 2), fmt(50000 / sm["epoch"], 0) if sm["epoch"] else "n/a",
                fmt(sm["val_acc"], 4), fmt(sm["job"], 1), fmt(sm["rss"], 0)))
        out.append("")
        out.append("ctrain / PyTorch, training epoch: %s" % ratio(row["ctrain"]["epoch"], row["tuned"]["epoch"]))

    errs = [r for r in recs if "error" in r]
    if errs:
        out.append("")
        out.append("Failed runs:\n")
        for r in errs:
            where = r["program"] + (" H=%s B=%s" % (r.get("hidden"), r.get("batch_size")) if r["phase"] == "scaling" else "")
            out.append("- %s rep %s: %s; last lines: %s" % (where, r["rep"], r["error"],
                                                            " | ".join(r.get("tail", []))[:400]))
    print("\n".join(out))


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("parse")
    p.add_argument("--kind", choices=["ctrain", "torch"], required=True)
    p.add_argument("--program", required=True)
    p.add_argument("--phase", default="main", choices=["main", "scaling", "cnn"])
    p.add_argument("--rep", type=int, default=1)
    p.add_argument("--hidden", type=int)
    p.add_argument("--batch", type=int)
    p.add_argument("--rc", type=int, default=0)
    p.add_argument("out")
    p.add_argument("time")
    r = sub.add_parser("report")
    r.add_argument("runs")
    a = ap.parse_args()
    cmd_parse(a) if a.cmd == "parse" else cmd_report(a)


if __name__ == "__main__":
    sys.exit(main())
