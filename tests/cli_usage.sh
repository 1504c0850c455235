#!/usr/bin/env bash
# cli_usage.sh — the ctrain tool's command line, driven as a user would: help pages, exit codes,
# and a one-line error naming the flag for every kind of bad value. Needs no data and no GPU.
# Usage: bash tests/cli_usage.sh path/to/ctrain
set -u
CT=${1:?usage: bash cli_usage.sh path/to/ctrain}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1
fails=0

ok() { echo "ok   - $*"; }
bad() { echo "FAIL - $*"; fails=$((fails + 1)); }
# run ARGS...: runs ctrain; sets rc, out (stdout), err (stderr)
run() {
    "$CT" "$@" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    out=$(cat "$tmp/out")
    err=$(cat "$tmp/err")
}
nlines() { printf '%s' "$1" | grep -c ''; }

# expect_usage WHAT ARGS...: exit 2, nothing on stdout, one line on stderr containing WHAT
expect_usage() {
    local what=$1
    shift
    run "$@"
    if [ "$rc" -eq 2 ] && [ -z "$out" ] && [ "$(nlines "$err")" -eq 1 ] &&
        grep -qF -- "$what" <<<"$err" && grep -q '^ctrain: ' <<<"$err"; then
        ok "ctrain $* -> exit 2, one line naming $what"
    else
        bad "ctrain $* -> expected exit 2 and one stderr line naming $what; got exit $rc, stderr: $err"
    fi
}

# ------------------------------------------------------------------ help and version
run --help
if [ "$rc" -eq 0 ] && grep -q 'train' <<<"$out" && grep -q 'devices' <<<"$out" &&
    grep -q 'data fetch' <<<"$out"; then
    ok "ctrain --help -> exit 0, lists train, devices, data"
else
    bad "ctrain --help -> exit $rc"
fi
run help
[ "$rc" -eq 0 ] && [ -n "$out" ] && ok "ctrain help -> exit 0" || bad "ctrain help -> exit $rc"
run --version
if [ "$rc" -eq 0 ] && grep -Eq '^ctrain [0-9]+\.[0-9]+\.[0-9]+' <<<"$out"; then
    ok "ctrain --version -> exit 0, prints ctrain X.Y.Z"
else
    bad "ctrain --version -> exit $rc, $out"
fi
run
if [ "$rc" -eq 2 ] && [ -z "$out" ] && grep -q 'usage' <<<"$err"; then
    ok "ctrain (no command) -> usage on stderr, exit 2"
else
    bad "ctrain (no command) -> exit $rc"
fi

run train --help
if [ "$rc" -eq 0 ]; then ok "ctrain train --help -> exit 0"; else bad "ctrain train --help -> exit $rc"; fi
missing=""
for f in data val-size model hidden schedule epochs lr batch-size eval-batch-size momentum \
    weight-decay nesterov seed device threads workers prefetch data-on-device quiet help; do
    grep -qe "--$f\b" <<<"$out" || missing="$missing --$f"
done
[ -z "$missing" ] && ok "train --help documents every flag" || bad "train --help lacks:$missing"
missing=""
for d in 'default: 5@0.5,5@0.1' 'default: 128' 'default: 256' 'default: 10000' 'default: 32' \
    'default: 42' 'default: auto' 'default: 2' 'default: mlp'; do
    grep -qF "$d" <<<"$out" || missing="$missing [$d]"
done
[ -z "$missing" ] && ok "train --help shows the defaults" || bad "train --help lacks:$missing"
run help train
[ "$rc" -eq 0 ] && grep -q -- '--batch-size' <<<"$out" && ok "ctrain help train -> train help" ||
    bad "ctrain help train -> exit $rc"
run data --help
[ "$rc" -eq 0 ] && grep -q -- '--data' <<<"$out" && ok "ctrain data --help -> exit 0" ||
    bad "ctrain data --help -> exit $rc"
run devices --help
[ "$rc" -eq 0 ] && ok "ctrain devices --help -> exit 0" || bad "ctrain devices --help -> exit $rc"
for c in eval predict show; do
    run $c --help
    [ "$rc" -eq 0 ] && grep -q -- '--model' <<<"$out" && ok "ctrain $c --help -> exit 0" ||
        bad "ctrain $c --help -> exit $rc"
    run help $c
    [ "$rc" -eq 0 ] && grep -q "usage: ctrain $c" <<<"$out" && ok "ctrain help $c" || bad "ctrain help $c -> exit $rc"
done
run --help
for c in eval predict show; do
    grep -q "^  $c " <<<"$out" && ok "ctrain --help lists $c" || bad "ctrain --help lacks $c"
done
run train --help
missing=""
for f in save save-every resume plot log; do grep -qe "--$f\b" <<<"$out" || missing="$missing --$f"; done
[ -z "$missing" ] && ok "train --help documents the checkpoint flags" || bad "train --help lacks:$missing"

# ------------------------------------------------------------------ unknown commands and flags
expect_usage '"evaluate"' evaluate
expect_usage '"frobnicate"' frobnicate
expect_usage '--bogus' --bogus
expect_usage '--bogus' train --bogus
expect_usage '--bogus' train --bogus=3
expect_usage '-x' train -x
expect_usage 'did you mean --lr' train --lrr 0.1
expect_usage '"stray"' train stray
expect_usage '"nope"' data nope
expect_usage '"cifar"' data path cifar
expect_usage '--x' devices --x
run data
[ "$rc" -eq 2 ] && ok "ctrain data (no subcommand) -> exit 2" || bad "ctrain data -> exit $rc"

# ------------------------------------------------------------------ bad values, each named
expect_usage '--lr' train --lr abc
expect_usage '--lr' train --lr 0
expect_usage '--lr' train --lr -0.5
expect_usage '--lr' train --lr=-1
expect_usage '--lr' train --lr nan
expect_usage '--lr' train --lr 1e999
expect_usage '--lr' train --lr 0.1x
expect_usage '--lr' train --lr
expect_usage '--lr' train --lr ''
expect_usage '--epochs' train --epochs 0
expect_usage '--epochs' train --epochs 2.5
expect_usage '--batch-size' train --batch-size 0
expect_usage '--batch-size' train --batch-size -8
expect_usage '--batch-size' train --batch-size=abc
expect_usage '--batch-size' train --batch-size 99999999999
expect_usage '--eval-batch-size' train --eval-batch-size 0
expect_usage '--val-size' train --val-size 0
expect_usage '--val-size' train --val-size -1
expect_usage '--workers' train --workers -1
expect_usage '--threads' train --threads -1
expect_usage '--threads' train --threads two
expect_usage '--hidden' train --hidden 0
expect_usage '--seed' train --seed -3
expect_usage '--momentum' train --momentum 1.5
expect_usage '--weight-decay' train --weight-decay -0.1
expect_usage '--device' train --device gpu
expect_usage '--data-on-device' train --data-on-device maybe
expect_usage '--nesterov' train --nesterov=1
expect_usage '--nesterov' train --nesterov
expect_usage '--data' train --data ''
expect_usage '--data' train --data --seed 1
expect_usage '--schedule' train --schedule 5@0.5,x
expect_usage '--schedule' train --schedule 5@0.5,
expect_usage '--schedule' train --schedule 0@0.1
expect_usage '--schedule' train --schedule 3@-1
expect_usage '--schedule' train --schedule 3
expect_usage '--schedule' train --schedule ''
expect_usage '--schedule' train --schedule "$(printf '1@0.1,%.0s' {1..16})1@0.1"
expect_usage '--schedule' train --schedule 1@0.1 --epochs 3
expect_usage '--hidden' train --model 'flatten,linear(10)' --hidden 8
expect_usage '--save-every' train --save-every -1
expect_usage '--save' train --save ''
expect_usage '--model' eval
expect_usage '--model' predict x.png
expect_usage 'no IMAGE' predict --model m
expect_usage '--invert' predict --model m --invert maybe x.png
expect_usage '--fit' predict --model m --fit crop x.png
expect_usage '--top' predict --model m --top 0 x.png
expect_usage '--dataset' eval --model m --dataset imagenet
expect_usage '--count' show --count 0
expect_usage '--count' show --count 5000
expect_usage '--wrong' show --wrong
expect_usage '--part' show --part val
expect_usage '"stray"' eval --model m stray

# ------------------------------------------------------------------ files that are not there
run train --resume "$tmp/nothing-here"
if [ "$rc" -eq 1 ] && [ "$(nlines "$err")" -eq 1 ] && grep -q 'nothing-here/train_state.safetensors' <<<"$err"; then
    ok "train --resume MISSING -> exit 1, one line naming the file"
else
    bad "train --resume MISSING -> exit $rc, stderr: $err"
fi
run predict --model "$tmp/nothing-here" x.png
if [ "$rc" -eq 1 ] && [ "$(nlines "$err")" -eq 1 ] && grep -q 'nothing-here' <<<"$err"; then
    ok "predict --model MISSING -> exit 1, one line naming the file"
else
    bad "predict --model MISSING -> exit $rc, stderr: $err"
fi

echo
if [ "$fails" -eq 0 ]; then echo "cli_usage: all checks passed"; else echo "cli_usage: $fails check(s) failed"; fi
[ "$fails" -eq 0 ]
