#!/usr/bin/env bash
# cli_usage.sh — the ctrain tool's command line, driven as a user would: help pages, exit codes,
# and a one-line error naming the flag for every kind of bad value. Needs no data and no GPU.
# Usage: bash tests/cli_usage.sh path/to/ctrain
set -u
. "$(cd "$(dirname "$0")" && pwd)/clilib.sh"
CT=${1:?usage: bash cli_usage.sh path/to/ctrain}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1

# run ARGS...: runs ctrain; sets rc, out (stdout), err (stderr)
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
help_out=$out
run help help
[ "$rc" -eq 0 ] && [ "$out" = "$help_out" ] && ok "ctrain help help -> the help" || bad "ctrain help help -> exit $rc: $err"
run --version
if [ "$rc" -eq 0 ] && grep -Eq '^ctrain [0-9]+\.[0-9]+\.[0-9]+' <<<"$out"; then
    ok "ctrain --version -> exit 0, prints ctrain X.Y.Z"
else
    bad "ctrain --version -> exit $rc, $out"
fi
expect_usage '--version: unexpected argument "x"' --version x
expect_usage 'help: unexpected argument "eval"' help train eval
run --help train
[ "$rc" -eq 0 ] && grep -q '^usage: ctrain train' <<<"$out" && ok "ctrain --help train -> the train page" ||
    bad "ctrain --help train -> exit $rc: $out"
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
    weight-decay nesterov seed device threads workers prefetch data-on-device dist-timeout quiet patience \
    help; do
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
# README.md pastes `ctrain --help`, `ctrain help train` and `ctrain help sweep` whole: they must
# be the binary's
readme="${CTRAIN_SOURCE_DIR:-$(dirname "$0")/..}/README.md"
for page in "--help|^ctrain [0-9]" "help train|^usage: ctrain train" "help sweep|^usage: ctrain sweep"; do
    args=${page%%|*} first=${page#*|}
    run $args
    awk -v first="$first" '$0 ~ first { f = 1 } f && /^```/ { exit } f' "$readme" >"$tmp/readme"
    if [ ! -s "$tmp/readme" ]; then
        bad "README.md has no block starting like ctrain $args"
    elif diff "$tmp/readme" "$tmp/out" >"$tmp/diff"; then
        ok "README.md's ctrain $args is the binary's"
    else
        bad "README.md's ctrain $args differs from the binary's (regenerate it): $(head -c 1500 "$tmp/diff")"
    fi
done
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
# a control character quoted back (a terminal escape from a script or a file) shown as '?'
expect_usage '--lr: expected a positive number, got "1?[31mred"' train --lr $'1\e[31mred'
expect_usage '--lr: expected a finite number (a positive number), got "nan"' train --lr nan
expect_usage '--lr: expected a finite number (a positive number), got "inf"' train --lr inf
expect_usage '--lr' train --lr 1e999
expect_usage '--lr: at most 1e30' train --lr 1e31
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
expect_usage '--val-size' train --val-size -1
for v in 1.0 1.5 -0.1 abc 12x 1e3 ' 0.2' 0x10 0x0.8 0X1p-1 inf; do
    expect_usage "--val-size: expected a number of images (10000) or a fraction in (0, 1) of the training set (0.2), got \"$v\"" train --val-size "$v"
done
expect_usage '--val-size: 99999999999 is more images than any dataset holds' train --val-size 99999999999
expect_usage '--val-size: 1e-400 is too small a fraction to hold out an image' train --val-size 1e-400
expect_usage '--workers' train --workers -1
expect_usage '--workers' train --workers 65
expect_usage '--hidden' summary --hidden 16777217
expect_usage '--model' summary --model 'flatten,lnear(10)'
run summary --model ./run1 # a path: a saved model that is not there
[ "$rc" -eq 1 ] && [ "$err" = "ctrain: ./run1: cannot open: No such file or directory" ] &&
    ok "summary --model ./run1 (no such folder) -> exit 1: $err" || bad "summary --model ./run1 -> exit $rc: $err"
expect_usage '--model' summary --model 'flatten,linear(300000),relu,linear(300000),linear(10)'
# a spec longer than a small buffer (282 characters) is built whole, up to the library's 8191
# characters and 640 layers
long="flatten,  linear(10)$(printf ',relu%.0s' $(seq 47)),linear(32),relu,linear(10)"
run summary --model "$long"
[ "$rc" -eq 0 ] && grep -q '^Total params: 8532 ' <<<"$out" && ok "summary of a ${#long}-character spec: all of it" ||
    bad "summary of a ${#long}-character spec -> exit $rc: $(tail -3 <<<"$out") $err"
expect_usage 'longer than 8191 characters' summary --model "flatten,$(printf 'relu,%.0s' $(seq 1640))linear(10)"
expect_usage 'more than 640 layers' summary --model "flatten,$(printf 'relu,%.0s' $(seq 639))linear(10)"
# an error in a long spec quotes its start and end: what is wrong and where still fit the line
expect_usage '(1210 characters): linear takes one integer in 1..16777216: linear(units) at position 1202' \
    summary --model "conv(16,3,1,1,0),$(printf 'residual(conv(16,3,1,1,0),batchnorm,relu,conv(16,3,1,1,0),batchnorm),relu,%.0s' $(seq 16))linear(0)"
expect_usage '--threads' train --threads -1
expect_usage '--threads' train --threads two
expect_usage '--threads: 100000 is out of range (expected a non-negative integer of at most 64)' train --threads 100000
expect_usage '--threads' predict --threads 65 --model x x.png
expect_usage '--hidden' train --hidden 0
expect_usage '--seed' train --seed -3
expect_usage '--momentum' train --momentum 1.5
expect_usage '--weight-decay' train --weight-decay -0.1
expect_usage '--device' train --device gpu
expect_usage '--patience' train --patience -1
expect_usage '--dist-timeout' train --dist-timeout=-1
expect_usage '--dist-timeout' train --dist-timeout inf
expect_usage '--save-best' train --save-best
expect_usage '--save-every: needs --save DIR' train --save-every 1
# a value in range as typed but not as the 32-bit float it becomes: the message says both
expect_usage '--momentum: 0.99999999 is 1 as a 32-bit float (expected a number in [0, 1))' train --momentum 0.99999999
expect_usage 'got 0.99999999 (1 as a 32-bit float)' train --lr-schedule onecycle --pct-start 0.99999999
expect_usage 'expected a number in (0, 1], got 1.0000001 (see' train --warmup-epochs 1 --warmup-start-factor 1.0000001
expect_usage '--momentum: expected a number in [0, 1), got "1.1"' train --momentum 1.1
expect_usage '--lr: at most 1e30, got 1e31 (see' train --lr 1e31
expect_usage '--overwrite: needs --save DIR' train --overwrite
expect_usage '--lr-patience' train --lr-patience 3
expect_usage '--lr-patience' train --lr-schedule plateau --lr-patience -1
expect_usage '--lr-cooldown: applies to --lr-schedule plateau (got phases)' train --lr-cooldown 2
expect_usage '--min-lr: applies to --lr-schedule plateau (got cosine)' train --lr-schedule cosine --min-lr 0.01
expect_usage '--lr-threshold: applies to --lr-schedule plateau' train --lr-threshold 0.01
expect_usage '--lr-threshold-mode: applies to --lr-schedule plateau' train --lr-threshold-mode abs
expect_usage '--lr-threshold-mode: expected one of rel, abs' train --lr-schedule plateau --lr-threshold-mode absolute
expect_usage '--lr-threshold: expected a non-negative number' train --lr-schedule plateau --lr-threshold -1
expect_usage '--min-delta: expected a non-negative number' train --patience 2 --min-delta -0.1
expect_usage '--gamma' train --lr-schedule plateau --gamma 1.5
expect_usage '--gamma' train --lr-schedule cosine --gamma 0.5
# ctrain's switches in the environment: a value it does not know is refused, not ignored
for bad_env in CTRAIN_CPU_ISA=avx9 CTRAIN_CUDA_GRAPH=maybe CTRAIN_CUDA_GRAPH_STEPS=0 CTRAIN_CUDA_GRAPH_STEPS=65 \
    CTRAIN_CUDA_GRAPH_STEPS=8x "CTRAIN_CUDA_GRAPH_STEPS= 8" CTRAIN_CUDA_GRAPH_STEPS=+8 CTRAIN_CUDA_FUSED=no CTRAIN_NCCL=off CTRAIN_CUDNN=no CTRAIN_CPU_ISA= \
    CTRAIN_CUDA_MLP_LAUNCH=coop CTRAIN_CUDA_MLP_LAUNCH= CTRAIN_CUDA_MLP_GRID=0 CTRAIN_CUDA_MLP_GRID=65537 CTRAIN_CUDA_MLP_GRID=4k \
    CTRAIN_CUDA_PLUGIN=; do
    export "$bad_env"
    expect_usage "${bad_env%%=*}" train --epochs 1
    unset "${bad_env%%=*}"
done
# a CUDA plugin named that cannot be used fails --device auto too (not "no GPU": the CPU)
for plugin in "$tmp/none.so" /lib/x86_64-linux-gnu/libz.so.1; do
    [ "$plugin" = "$tmp/none.so" ] || [ -e "$plugin" ] || { echo "SKIP CTRAIN_CUDA_PLUGIN=$plugin: no such file here"; continue; }
    CTRAIN_CUDA_PLUGIN=$plugin run train --epochs 1 --quiet
    if [ "$rc" -eq 1 ] && [ -z "$out" ] && [ "$(nlines "$err")" -eq 1 ] &&
        grep -Eq "^ctrain: --device auto: (CTRAIN_CUDA_PLUGIN=$tmp/none.so: no such file|the CUDA plugin lacks ct_cuda_backend_open and ct_cuda_list_devices)" <<<"$err"; then
        ok "CTRAIN_CUDA_PLUGIN=$plugin with --device auto -> exit 1: ${err#ctrain: }"
    else
        bad "CTRAIN_CUDA_PLUGIN=$plugin with --device auto -> exit $rc: $out $err"
    fi
done
expect_usage '--patience' train --patience soon
expect_usage '--device' train --device cuda:
expect_usage '--device' train --device cuda:N
expect_usage '--device' train --device cuda:x
expect_usage '--device' train --device cuda:-1
expect_usage '--device' train --device cuda:1234567
expect_usage '--device' eval --device cuda1
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

# ------------------------------------------------------------------ optimizers, schedules, datasets
run train --help
missing=""
for f in dataset optimizer betas eps lr-schedule step-size milestones power base-lr step-size-up step-size-down \
    cyclic-mode gamma eta-min pct-start warmup-epochs \
    warmup-start-factor warmup-method clip-grad-norm label-smoothing ema augment; do
    grep -qe "--$f\b" <<<"$out" || missing="$missing --$f"
done
[ -z "$missing" ] && ok "train --help documents the optimizer/schedule/dataset flags" ||
    bad "train --help lacks:$missing"
missing=""
for d in 'default: sgd' 'default: phases' 'default: 0.9,0.999' 'default: 1e-08' 'default: mnist' \
    'adam/adamw/radam: 0.001' 'default: 1e-08; adagrad: 1e-10'; do
    grep -qF "$d" <<<"$out" || missing="$missing [$d]"
done
[ -z "$missing" ] && ok "train --help shows the new defaults" || bad "train --help lacks:$missing"
expect_usage '--gamma: required with --lr-schedule exponential' train --lr-schedule exponential
expect_usage '--t0: required with --lr-schedule cosine-restarts' train --lr-schedule cosine-restarts
expect_usage '--t0: applies to --lr-schedule cosine-restarts (got cosine)' train --lr-schedule cosine --t0 2
expect_usage '--t-mult: applies to --lr-schedule cosine-restarts (got phases)' train --t-mult 2
expect_usage '--eta-min: applies to --lr-schedule cosine or cosine-restarts (got step)' train --lr-schedule step --step-size 1 --eta-min 0.1
expect_usage '--t0' train --lr-schedule cosine-restarts --t0 0
expect_usage '--t-mult' train --lr-schedule cosine-restarts --t0 1 --t-mult 0
expect_usage '--gamma: applies to --lr-schedule step, multistep, plateau or exponential, and cyclic'\''s --cyclic-mode exp_range (got cosine)' train --lr-schedule cosine --gamma 0.5
expect_usage '--lr-schedule' train --lr-schedule range-test
expect_usage '--alpha: applies to --optimizer rmsprop (got sgd)' train --alpha 0.9
expect_usage '--centered: applies to --optimizer rmsprop (got adam)' train --optimizer adam --centered
expect_usage '--alpha: expected a number in (0, 1), got 0' train --optimizer rmsprop --alpha 0
expect_usage '--alpha: expected a number in (0, 1), got 1' train --optimizer rmsprop --alpha 1
expect_usage '--betas: applies to --optimizer adam, adamw, nadam, radam or adamax (got rmsprop)' train --optimizer rmsprop --betas 0.9,0.99
expect_usage '--betas: applies to --optimizer adam, adamw, nadam, radam or adamax (got adagrad)' train --optimizer adagrad --betas 0.9,0.99
expect_usage '--lr-decay: applies to --optimizer adagrad (got adam)' train --optimizer adam --lr-decay 0.01
expect_usage '--initial-accumulator: applies to --optimizer adagrad (got sgd)' train --initial-accumulator 0.1
expect_usage '--lr-decay: expected a non-negative number' train --optimizer adagrad --lr-decay -1
expect_usage '--momentum: applies to --optimizer sgd or rmsprop (adagrad has none)' train --optimizer adagrad --momentum 0.9
expect_usage '--nesterov: applies to --optimizer sgd (got adagrad)' train --optimizer adagrad --nesterov
expect_usage "--cycle-momentum on: Adagrad has no momentum to cycle" train --optimizer adagrad --lr-schedule onecycle --cycle-momentum on
expect_usage '--momentum: applies to --optimizer sgd or rmsprop (radam uses --betas)' train --optimizer radam --momentum 0.9
expect_usage '--optimizer: expected one of sgd, adam, adamw, nadam, radam, adamax, adagrad, rmsprop' train --optimizer adadelta
expect_usage '--nesterov: applies to --optimizer sgd (got rmsprop)' train --optimizer rmsprop --momentum 0.9 --nesterov
expect_usage '--eps: applies to the optimizers other than sgd' train --eps 1e-6
expect_usage '--amsgrad: applies to --optimizer adam or adamw (got nadam)' train --optimizer nadam --amsgrad
expect_usage '--amsgrad: applies to --optimizer adam or adamw (got sgd)' train --amsgrad
expect_usage '--clip-grad-value: not with --clip-grad-norm' train --clip-grad-value 0.1 --clip-grad-norm 1
expect_usage '--clip-grad-value: expected a non-negative number' train --clip-grad-value -1
expect_usage '--momentum-decay: applies to --optimizer nadam (got adam)' train --optimizer adam --momentum-decay 0.01
expect_usage '--momentum-decay: expected a positive number' train --optimizer nadam --momentum-decay -1
expect_usage '--momentum-decay: expected a positive number' train --optimizer nadam --momentum-decay 0
expect_usage "--cycle-momentum on: NAdam's beta1 follows its own schedule" train --optimizer nadam --lr-schedule onecycle --cycle-momentum on
expect_usage '--momentum: applies to --optimizer sgd or rmsprop (nadam uses --betas)' train --optimizer nadam --momentum 0.9
expect_usage '--augment' train --augment blur
expect_usage '--augment' train --augment crop=0
expect_usage '--augment' train --augment crop=256
expect_usage '--augment' train --augment crop=2,
expect_usage '--augment' train --augment flip,flip
expect_usage '--augment' train --augment ''
expect_usage '--augment' train --augment rotate=200
expect_usage '--augment' train --augment rotate=-5
expect_usage '--augment' train --augment translate=1.5
expect_usage '--augment' train --augment scale=1.2:0.9
expect_usage '--augment' train --augment scale=0:1
expect_usage '--augment' train --augment scale=1.1
expect_usage '--augment' train --augment shear=90
expect_usage '--augment' train --augment rotate=5,rotate=6
expect_usage '--augment' train --augment bilinear,crop
expect_usage '--augment' train --augment rotate=0,bilinear
expect_usage '--augment' train --augment scale=1e-300:1
expect_usage '--augment' train --augment resized-crop,crop
expect_usage '--augment' train --augment resized-crop,rotate=5
expect_usage '--augment' train --augment resized-crop,bilinear
expect_usage '--augment' train --augment ratio=0.5:2
expect_usage '--augment' train --augment resized-crop=0:1
expect_usage '--augment' train --augment resized-crop=0.5:1.5
expect_usage '--augment' train --augment resized-crop=0.5
expect_usage '--augment' train --augment resized-crop,ratio=2:1
expect_usage '--augment' train --augment resized-crop,ratio=0:1
expect_usage '--augment' train --augment resized-crop,ratio=1:101
expect_usage '--augment' train --augment resized-crop,resized-crop
expect_usage '--augment' train --augment resized-crops
expect_usage '--augment' train --augment resized-crop,ratio=0.001:1
expect_usage '--augment' train --augment erase=0
expect_usage '--augment' train --augment erase=1.5
expect_usage '--augment' train --augment erase=x
expect_usage '--augment' train --augment erase=1e-50
expect_usage '--augment' train --augment erase,erase=0.1
expect_usage '--augment' train --augment erased
expect_usage '--augment' train --augment brightness=-1
expect_usage '--augment' train --augment contrast=11
expect_usage '--augment' train --augment hue=0.6
expect_usage '--augment' train --augment saturation=x
expect_usage '--augment' train --augment hue=0.1,hue=0.2
expect_usage '--augment' train --augment trivial=1
expect_usage '--augment' train --augment trivial=1025
expect_usage '--augment' train --augment trivial=x
expect_usage '--augment' train --augment trivial,trivial=5
expect_usage '--augment' train --augment trivials
expect_usage '--augment' train --augment trivial,contrast=0.2
expect_usage '--augment' train --augment flip,bilinear
expect_usage '--augment' train --augment randaugment=0
expect_usage '--augment' train --augment randaugment=9
expect_usage '--augment' train --augment randaugment=2:31
expect_usage '--augment' train --augment randaugment=2:9:1
expect_usage '--augment' train --augment randaugment=2:9:31:4
expect_usage '--augment' train --augment randaugment=2:x
expect_usage '--augment' train --augment randaugment=2::31
expect_usage '--augment' train --augment randaugment,trivial
expect_usage '--augment' train --augment randaugment,hue=0.1
expect_usage '--augment' train --augment autoaugment=cifar
expect_usage '--augment' train --augment autoaugment=
expect_usage '--augment' train --augment autoaugment,randaugment
expect_usage '--augment' train --augment autoaugment,grey
expect_usage '--warmup-sequential' train --warmup-sequential
expect_usage '--warmup-sequential' train --warmup-epochs 2 --warmup-sequential --lr-schedule onecycle
expect_usage '--warmup-sequential' train --warmup-epochs 2 --warmup-sequential --lr-schedule plateau
expect_usage '--warmup-sequential' train --warmup-epochs 2 --warmup-sequential --schedule 3@0.5,3@0.1
expect_usage '--lr-step' train --lr-step hourly
expect_usage '--lr-step' train --lr-find --lr-step epoch
expect_usage '--augment' train --augment augmix=0
expect_usage '--augment' train --augment augmix=11
expect_usage '--augment' train --augment augmix=3:5
expect_usage '--augment' train --augment augmix=3:3:0
expect_usage '--augment' train --augment augmix=3:3:-2
expect_usage '--augment' train --augment augmix=3:3:5
expect_usage '--augment' train --augment augmix=3:3:-1:0
expect_usage '--augment' train --augment augmix=3:3:-1:101
expect_usage '--augment' train --augment augmix=3:3:-1:1:1
expect_usage '--augment' train --augment augmix=3:x
expect_usage '--augment' train --augment augmix,trivial
expect_usage '--augment' train --augment augmix,contrast=0.1
expect_usage '--augment' train --augment grey=0
expect_usage '--augment' train --augment grey=1.5
expect_usage '--augment' train --augment grey=x
expect_usage '--augment' train --augment grey,grey=0.2
expect_usage '--augment' train --augment trivial,grey
expect_usage '--augment' train --augment vflip,vflip
expect_usage '--augment' train --augment vflip=1
expect_usage '--augment' show --augment scale=1e-300:1
expect_usage '--augment' show --augment rotate=x
expect_usage '--normalize' train --normalize x
expect_usage '--normalize' train --normalize 0.5
expect_usage '--normalize' train --normalize 0.5,0
expect_usage '--normalize' train --normalize 0.5,-1
expect_usage '--normalize' train --normalize 1,2,3,4,5,6,7,8,9,10
expect_usage '--normalize' train --normalize 0.5,inf
expect_usage '--normalize' train --normalize 0.1,,0.3
expect_usage '--normalize' train --normalize 0,1e-40
expect_usage '--seed' show --seed 3
expect_usage '--batch-size' show --batch-size 64
expect_usage '--image-size' show --image-size 16
expect_usage '--image-size' show --dataset folder --data x --image-size 0
expect_usage '--mixup-alpha' show --mixup-alpha 2000
expect_usage '--cutmix-alpha' show --cutmix-alpha -1
expect_usage '--epoch' show --epoch 1
expect_usage '--optimizer' train --optimizer ''
expect_usage '--momentum' train --optimizer adam --momentum 0.9
expect_usage '--nesterov' train --optimizer adamw --nesterov
expect_usage '--betas' train --optimizer adam --betas 0.9
expect_usage '--betas' train --optimizer adam --betas 0.9,1
expect_usage '--betas' train --optimizer adam --betas a,b
expect_usage '--betas' train --betas 0.9,0.99
expect_usage '--eps' train --optimizer adam --eps 0
expect_usage '--eps' train --optimizer adam --eps -1e-8
expect_usage '--eps' train --eps 1e-6
expect_usage '--lr-schedule' train --lr-schedule linear
expect_usage '--step-size' train --lr-schedule step
expect_usage '--milestones: required with --lr-schedule multistep' train --lr-schedule multistep
expect_usage '--milestones: applies to --lr-schedule multistep (got step)' train --lr-schedule step --step-size 2 --milestones 2
expect_usage '--milestones: milestones must increase, got 2 after 3' train --lr-schedule multistep --milestones 3,2
expect_usage '--milestones: "0" is not an epoch 1..100000' train --lr-schedule multistep --milestones 0,2
expect_usage '--milestones: expected epochs E1,E2,... (whole numbers), got "2,"' train --lr-schedule multistep --milestones 2,
expect_usage '--milestones: "x" is not an epoch' train --lr-schedule multistep --milestones 2,x
expect_usage '--milestones: at most 16 milestones' train --lr-schedule multistep --milestones 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17
expect_usage '--power: applies to --lr-schedule polynomial (got cosine)' train --lr-schedule cosine --power 2
expect_usage '--power' train --lr-schedule polynomial --power 0
expect_usage '--base-lr: required with --lr-schedule cyclic' train --lr-schedule cyclic
expect_usage '--base-lr: applies to --lr-schedule cyclic (got phases)' train --base-lr 0.01
expect_usage '--step-size-up: applies to --lr-schedule cyclic (got onecycle)' train --lr-schedule onecycle --step-size-up 100
expect_usage '--step-size-up' train --lr-schedule cyclic --base-lr 0.01 --step-size-up 0
expect_usage '--cyclic-mode' train --lr-schedule cyclic --base-lr 0.01 --cyclic-mode sawtooth
expect_usage '(got cyclic with another mode)' train --lr-schedule cyclic --base-lr 0.01 --gamma 0.9
expect_usage '--momentum: --lr-schedule cyclic cycles the momentum' train --lr-schedule cyclic --base-lr 0.01 --momentum 0.9
expect_usage 'the cyclic schedule does not cycle' train --lr-schedule cyclic --base-lr 0.01 --optimizer nadam --cycle-momentum on
expect_usage '--step-size' train --lr-schedule step --step-size 0
expect_usage '--step-size' train --step-size 2
expect_usage '--gamma' train --lr-schedule step --step-size 2 --gamma 0
expect_usage '--gamma' train --lr-schedule cosine --gamma 0.5
expect_usage '--eta-min' train --lr-schedule cosine --eta-min -1
expect_usage '--eta-min' train --eta-min 0.01
expect_usage '--pct-start: expected a number in (0, 1), got 0' train --lr-schedule onecycle --pct-start 0
expect_usage '--pct-start: expected a number in (0, 1), got 1' train --lr-schedule onecycle --pct-start 1
expect_usage '--cycle-momentum: applies to --lr-schedule onecycle or cyclic (got cosine)' train --lr-schedule cosine --cycle-momentum off
for spec in 0.9 0.8,1 -0.1,0.9 0,0 0,1e-50 0.99999999,0.9 0.8,0.9,0.95 yes; do
    expect_usage "--cycle-momentum: expected on, off or BASE,MAX with each in [0, 1) (not both 0, as 32-bit floats), got \"$spec\"" \
        train --lr-schedule onecycle --cycle-momentum "$spec"
done
expect_usage '--momentum: --lr-schedule onecycle cycles the momentum (--cycle-momentum on); --cycle-momentum off keeps it fixed' \
    train --lr-schedule onecycle --momentum 0.9
expect_usage '--lr: 1e-50 is 0 as a 32-bit float' train --lr 1e-50
expect_usage 'phase 1: expected a number of epochs in 1..100000, got "2147483647"' train --schedule 2147483647@0.1
expect_usage 'phase 1: expected a learning rate above 0 (as a 32-bit float)' train --schedule 1@1e-50
expect_usage '--help: takes no value, got "1"' train --help=1
expect_usage '--pct-start' train --pct-start 0.2
for f in "--div-factor 10" "--final-div-factor 100" "--three-phase" "--anneal linear"; do
    read -ra fa <<<"$f"
    expect_usage "${fa[0]}: applies to --lr-schedule onecycle (got phases)" train "${fa[@]}"
done
expect_usage '--anneal' train --lr-schedule onecycle --anneal exp
expect_usage '--div-factor' train --lr-schedule onecycle --div-factor 0
expect_usage '--final-div-factor' train --lr-schedule onecycle --final-div-factor -1
expect_usage '--schedule' train --lr-schedule cosine --schedule 5@0.1
expect_usage '--warmup-epochs' train --warmup-epochs -1
expect_usage '--warmup-method: needs --warmup-epochs > 0' train --warmup-method constant
expect_usage '--warmup-method' train --warmup-epochs 1 --warmup-method cosine
expect_usage '--warmup-method: does not apply to --lr-find' train --lr-find --warmup-method constant
expect_usage '--milestones: does not apply to --lr-find' train --lr-find --milestones 2
expect_usage '--base-lr: does not apply to --lr-find' train --lr-find --base-lr 0.01
expect_usage '--warmup-epochs' train --warmup-epochs x
expect_usage '--warmup-start-factor' train --warmup-epochs 1 --warmup-start-factor 0
expect_usage '--warmup-start-factor' train --warmup-epochs 1 --warmup-start-factor 1.5
expect_usage '--warmup-start-factor' train --warmup-start-factor 0.5
expect_usage '--clip-grad-norm' train --clip-grad-norm -1
expect_usage '--clip-grad-norm' train --clip-grad-norm inf
expect_usage '--label-smoothing: 1.5 is not in [0, 1]' train --label-smoothing 1.5
expect_usage '--label-smoothing' train --label-smoothing -0.1
expect_usage '--label-smoothing' train --label-smoothing nan
expect_usage '--label-smoothing: 2 is not in [0, 1]' eval --model m --label-smoothing 2
expect_usage '--top-k' eval --model m --top-k 0
expect_usage '--mixup-alpha' train --mixup-alpha -0.1
expect_usage '--cutmix-alpha: 2000 is more than 1000' train --cutmix-alpha 2000
expect_usage '--class-weight: not with --mixup-alpha (a mixed image has two classes)' train --class-weight balanced --mixup-alpha 0.2
expect_usage '--top-k' eval --model m --top-k 256
expect_usage '--class-weight bal: weight 1 ("bal") is not a finite number >= 0; expected balanced, off or W0,W1,... (one per class)' train --class-weight bal
expect_usage '--class-weight 1,-0.5: weight 2 ("-0.5") is not a finite number >= 0' train --class-weight 1,-0.5
expect_usage '--class-weight 1,nan,2: weight 2' train --class-weight 1,nan,2
expect_usage '--class-weight 1,,2: weight 2 ("")' train --class-weight 1,,2
expect_usage '--class-weight 1e39: weight 1' train --class-weight 1e39
expect_usage 'weight 1 ("00000000000000000000...") is 66 characters long' train --class-weight "$(printf '0%.0s' $(seq 65))2,1"
expect_usage '--ema: 1 is not in [0, 1)' train --ema 1
expect_usage '--ema' train --ema -0.1
expect_usage '--ema' train --ema nan
expect_usage '--ema' train --ema 0.9x
expect_usage '--ema-warmup: needs --ema DECAY' train --ema-warmup
expect_usage '--ema-warmup: needs --ema DECAY' train --ema 0 --ema-warmup
expect_usage '--dataset' train --dataset imagenet
expect_usage '--dataset' summary --dataset imagenet
expect_usage '--hidden' summary --hidden 0
expect_usage '--hidden' summary --model cnn --hidden 8
expect_usage '--bogus' summary --bogus

# ------------------------------------------------------------------ ctrain summary
run summary --help
[ "$rc" -eq 0 ] && grep -q -- '--model' <<<"$out" && ok "ctrain summary --help -> exit 0" ||
    bad "ctrain summary --help -> exit $rc"
run export --help
[ "$rc" -eq 0 ] && grep -q -- '--out FILE' <<<"$out" && ok "ctrain export --help -> exit 0" ||
    bad "ctrain export --help -> exit $rc"
run help export
[ "$rc" -eq 0 ] && grep -q "usage: ctrain export" <<<"$out" && ok "ctrain help export" ||
    bad "ctrain help export -> exit $rc"
expect_usage '--bogus' export --bogus
run help summary
[ "$rc" -eq 0 ] && grep -q "usage: ctrain summary" <<<"$out" && ok "ctrain help summary" ||
    bad "ctrain help summary -> exit $rc"
run --help
grep -q "^  summary " <<<"$out" && ok "ctrain --help lists summary" || bad "ctrain --help lacks summary"
run summary
if [ "$rc" -eq 0 ] && grep -q 'Total params: 25450' <<<"$out" && grep -q 'linear1' <<<"$out" &&
    grep -Eq '\(784\)' <<<"$out" && grep -Eq '^linear1 +\(32\) +25120 +25088$' <<<"$out" &&
    grep -q '^Mult-adds per image: 25408 (0.03 M; ' <<<"$out"; then
    ok "summary (mlp) -> 25450 total params, 784 x 32 + 32 x 10 = 25408 mult-adds an image"
else
    bad "summary (mlp) -> exit $rc, stdout: $out, stderr: $err"
fi
run summary --model cnn
# (mult-adds: conv1 32x1x3x3 at 26x26, conv2 64x32x3x3 at 24x24, 9216x128, 128x10)
if [ "$rc" -eq 0 ] && grep -q 'Total params: 1199882' <<<"$out" && grep -q '(64, 12, 12)' <<<"$out" &&
    grep -Eq '^conv2 +\(64, 24, 24\) +18496 +10616832$' <<<"$out" &&
    grep -q "^Mult-adds per image: $((32 * 9 * 26 * 26 + 64 * 32 * 9 * 24 * 24 + 9216 * 128 + 128 * 10)) " <<<"$out"; then
    ok "summary --model cnn -> 1199882 total params, its mult-adds layer by layer"
else
    bad "summary --model cnn -> exit $rc, stdout: $out, stderr: $err"
fi
run summary --model lenet5
if [ "$rc" -eq 0 ] && grep -q 'conv1' <<<"$out" && grep -q 'Total params: ' <<<"$out"; then
    ok "summary --model lenet5 prints ($(grep 'Total params' <<<"$out"))"
else
    bad "summary --model lenet5 -> exit $rc, stderr: $err"
fi
run summary --model 'conv(8,3),relu,maxpool(2),flatten,linear(10)' --dataset cifar10
if [ "$rc" -eq 0 ] && grep -q '(8, 30, 30)' <<<"$out" && grep -q 'Total params: 18234' <<<"$out"; then
    ok "summary --dataset cifar10 -> built on 3x32x32"
else
    bad "summary --dataset cifar10 -> exit $rc, stdout: $out, stderr: $err"
fi
run summary --hidden 64
grep -q 'Total params: 50890' <<<"$out" && ok "summary --hidden 64 -> 50890" || bad "summary --hidden 64: $out"
run summary --model 'conv(8,3),batchnorm,relu,flatten,linear(10)'
if [ "$rc" -eq 0 ] && grep -q '^Total params: 54186 (0.21 MiB as float32)$' <<<"$out" &&
    grep -q '^Trainable params: 54186$' <<<"$out" && grep -q '^Non-trainable buffers: 16 ' <<<"$out"; then
    ok "summary with batch norm: 54186 trainable, 16 buffer values"
else
    bad "summary with batch norm -> exit $rc, stdout: $out"
fi
run summary --model 'conv(32,3),relu,maxpoo(2)'
if [ "$rc" -ne 0 ] && [ -z "$out" ] && [ "$(nlines "$err")" -eq 1 ] && grep -q 'maxpoo' <<<"$err"; then
    ok "summary of a malformed spec -> exit $rc, one line naming maxpoo: $err"
else
    bad "summary of a malformed spec -> exit $rc, stdout: $out, stderr: $err"
fi

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

# ------------------------------------------------------------------ output that cannot be written
if [ -c /dev/full ]; then
    for args in "summary" "--version" "help train"; do
        # shellcheck disable=SC2086
        "$CT" $args >/dev/full 2>"$tmp/err"
        rc=$?
        err=$(cat "$tmp/err")
        [ "$rc" -eq 1 ] && [ "$(nlines "$err")" -eq 1 ] && grep -q '^ctrain: standard output: write error' <<<"$err" &&
            ok "ctrain $args >/dev/full -> exit 1: $err" || bad "ctrain $args >/dev/full -> exit $rc, stderr: $err"
    done
else
    echo "SKIP stdout write errors: no /dev/full"
fi

echo
finish cli_usage
