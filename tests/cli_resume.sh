#!/usr/bin/env bash
# cli_resume.sh — `ctrain train --resume` continues exactly: a run stopped and resumed prints the
# same "Epoch [k]" lines as one never stopped, and ends with a byte-identical model file. Stops
# tried: at an epoch boundary (--save, then --resume --epochs N), in the middle of an epoch (a
# SIGINT at a chosen step through CTRAIN_TEST_INTERRUPT_AT, and a real SIGINT wherever it lands),
# SIGTERM, a SIGKILL after a --save-every checkpoint. Then the flags a resumed run refuses.
# Skips when the MNIST files are not in `ctrain data path`.
# Usage: bash tests/cli_resume.sh path/to/ctrain
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/clilib.sh"
CT=${1:?usage: bash cli_resume.sh path/to/ctrain}
tmp=$(mktemp -d)
pid=""
trap '[ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1

nlines() { printf '%s' "$1" | grep -c ''; }
epochs() { grep -h '^Epoch ' "$@"; }

dir=$("$CT" data path) || { echo "FAIL - ctrain data path"; exit 1; }
for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
    if [ ! -e "$dir/$f" ] && [ ! -e "$dir/$f.gz" ]; then
        echo "SKIP cli_resume: no MNIST in $dir (run: ctrain data fetch mnist)"
        exit 0
    fi
done

# The run: 3 epochs on MNIST's first 20000 images, SGD with Nesterov momentum (optimizer state to
# carry over), 1000 val images: 190 batches an epoch
. "$here/small_mnist.sh"
small_mnist "$dir" "$tmp/m20k" 20000 2000 || { echo "FAIL - could not cut a small MNIST from $dir"; exit 1; }
SET=(--data m20k --lr 0.1 --momentum 0.9 --nesterov --val-size 1000 --batch-size 100 --quiet)

# ------------------------------------------------------------------ the run never stopped
"$CT" train --epochs 3 "${SET[@]}" --save straight >straight.out 2>straight.err
rc=$?
[ "$rc" -eq 0 ] && [ "$(epochs straight.out | wc -l)" -eq 3 ] && ok "straight: 3 epochs" ||
    bad "straight run -> exit $rc: $(cat straight.err)"
same_as_straight() { # WHAT DIR OUTFILES...: epoch lines and the final model file
    local what=$1 d=$2
    shift 2
    if [ "$(epochs "$@")" = "$(epochs straight.out)" ]; then
        ok "$what: the same Epoch lines as the straight run"
    else
        bad "$what: Epoch lines differ:"$'\n'"$(epochs "$@")"$'\n'"straight:"$'\n'"$(epochs straight.out)"
    fi
    if cmp -s "$d/model.safetensors" straight/model.safetensors; then
        ok "$what: model.safetensors byte-identical to the straight run's"
    else
        bad "$what: model.safetensors differs from the straight run's"
    fi
}

# ------------------------------------------------------------------ stopped at an epoch boundary
"$CT" train --epochs 1 "${SET[@]}" --save b >b1.out 2>b1.err
"$CT" train --resume b --epochs 3 --quiet >b2.out 2>b2.err
rc=$?
[ "$rc" -eq 0 ] && ! grep -q '^Before training' b2.out && ok "--resume b --epochs 3 -> exit 0" ||
    bad "--resume b --epochs 3 -> exit $rc: $(cat b2.err)"
same_as_straight "1 epoch + resume to 3" b b1.out b2.out

# ------------------------------------------------------------------ SIGINT in the middle of epoch 1
# (one step per recorded graph: on a GPU a stop asked within a run of 8 lands after the run)
CTRAIN_CUDA_GRAPH_STEPS=1 CTRAIN_TEST_INTERRUPT_AT=1:137 "$CT" train --epochs 3 "${SET[@]}" --save c >c1.out 2>c1.err
rc=$?
if [ "$rc" -eq 130 ] && grep -q 'interrupted in epoch 1 at batch 137/190' c1.err &&
    grep -q 'resume with: ctrain train --resume c' c1.err && ! grep -q '^test_loss' c1.out; then
    ok "SIGINT at epoch 1 step 137 -> exit 130, saved, says how to resume"
else
    bad "SIGINT at a step -> exit $rc: $(cat c1.err)"
fi
grep -aqF '\"epoch\": 1, \"batch\": 137,' c/train_state.safetensors && ok "the train state holds epoch 1, batch 137" ||
    bad "position not in c/train_state.safetensors"
"$CT" train --resume c --quiet >c2.out 2>c2.err
rc=$?
[ "$rc" -eq 0 ] && ok "--resume c -> exit 0" || bad "--resume c -> exit $rc: $(cat c2.err)"
same_as_straight "interrupted mid-epoch + resumed" c c1.out c2.out

# ------------------------------------------------------------------ a real SIGINT, wherever it lands
"$CT" train --epochs 3 "${SET[@]}" --save d >d1.out 2>d1.err &
signal_at '^Epoch \[0\]' d1.out INT
if [ "$rc" -eq 130 ] && grep -q 'resume with: ctrain train --resume d' d1.err; then
    ok "SIGINT after epoch 0 -> exit 130: $(head -1 d1.err)"
    "$CT" train --resume d --quiet >d2.out 2>d2.err
    rc=$?
    [ "$rc" -eq 0 ] && ok "--resume d -> exit 0" || bad "--resume d -> exit $rc: $(cat d2.err)"
    same_as_straight "real SIGINT + resumed" d d1.out d2.out
elif [ "$rc" -eq 0 ]; then
    ok "SIGINT came after the run ended (a loaded machine): nothing to resume"
else
    bad "real SIGINT -> exit $rc: $(cat d1.err)"
fi

# ------------------------------------------------------------------ SIGTERM without --save
"$CT" train --epochs 50 "${SET[@]}" >e.out 2>e.err &
signal_at '^Epoch \[0\]' e.out TERM
[ "$rc" -eq 130 ] && grep -q 'nothing saved' e.err && ok "SIGTERM without --save -> exit 130: $(cat e.err)" ||
    bad "SIGTERM -> exit $rc: $(cat e.err)"

# ------------------------------------------------------------------ Ctrl-C before training
# during the validation before training (the cnn's, of 10000 images on one thread: seconds; 2000
# on the CUDA emulator, whose kernels are slower): the run stops at its first step and
# checkpoints, instead of dying of the signal
ev=10000
[ -n "${CTRAIN_CUDA_PLUGIN:-}" ] && ev=2000
"$CT" train --model cnn --epochs 1 --val-size $ev --threads 1 --save early >g.out 2>g.err &
signal_at '^Plan: ' g.out INT 'grep -q "^Before training" g.out && echo "note: the validation had ended before the signal"'
[ "$rc" -eq 130 ] && grep -q "^ctrain: interrupted in epoch 0 at batch 1/$(((60000 - ev + 127) / 128)); saved to early\$" g.err &&
    [ -s early/train_state.safetensors ] && ok "Ctrl-C during the validation before training -> a checkpoint after one step, exit 130" ||
    bad "Ctrl-C before training -> exit $rc: $(cat g.err)"

# ------------------------------------------------------------------ --save-every, then SIGKILL
"$CT" train --epochs 3 "${SET[@]}" --save f --save-every 1 >f1.out 2>f1.err &
pid=$!
for _ in $(seq 1 1200); do
    [ -e f/model.safetensors ] && grep -aqF '\"epoch\": 1,' f/train_state.safetensors 2>/dev/null && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.02
done
kill -KILL "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
pid=""
n_done=$(grep -ao '"position": "{\\"epoch\\": [0-9]*' f/train_state.safetensors | grep -o '[0-9]*$')
if [ -n "$n_done" ] && [ "$n_done" -ge 1 ]; then
    ok "--save-every 1: a checkpoint after epoch $n_done survived SIGKILL"
    "$CT" train --resume f --quiet >f2.out 2>f2.err
    rc=$?
    [ "$rc" -eq 0 ] && ok "--resume f -> exit 0" || bad "--resume f -> exit $rc: $(cat f2.err)"
    head -n "$n_done" <(epochs f1.out) >f1.kept # the epochs the checkpoint covers
    same_as_straight "--save-every + SIGKILL + resumed" f f1.kept f2.out
else
    bad "--save-every 1: no checkpoint after epoch 0 ($(ls -A f 2>&1))"
fi

# ------------------------------------------------------------------ what a resumed run refuses
refused() { # WHAT ARGS...
    local what=$1
    shift
    run train --resume b "$@"
    if [ "$rc" -eq 2 ] && [ "$(nlines "$err")" -eq 1 ] && grep -qF -- "$what" <<<"$err"; then
        ok "--resume b $* -> exit 2: ${err#ctrain: }"
    else
        bad "--resume b $* -> exit $rc (expected 2 naming $what): $err"
    fi
}
refused '--batch-size 64' --batch-size 64
refused '--momentum 0.5' --momentum 0.5
refused '--seed 7' --seed 7
refused '--val-size 2000' --val-size 2000
refused '--model' --model 'flatten,linear(10)'
refused '--hidden 64' --hidden 64
refused 'already ran at lr 0.1' --lr 0.5
refused 'already ran at lr 0.1' --schedule 1@0.1,2@0.2
refused 'has already done 3' --epochs 2
run train --resume b --epochs 3 --lr 0.1 --momentum 0.9 --nesterov --val-size 1000 --batch-size 100 --seed 42 --quiet
[ "$rc" -eq 0 ] && grep -q '^test_loss' <<<"$out" && ! grep -q '^Epoch' <<<"$out" &&
    ok "--resume with the same flags again: nothing left to train, the test line" || bad "same flags -> exit $rc: $err"

# a run trained from another MNIST folder (--data, relative) resumes from it without --data,
# also from another folder; and a cosine schedule's rates follow its length: a resume may not
# change it (the epochs already run would have had other rates), where a phases run's --epochs
# extends it (both on a small cut of MNIST)
small_mnist "$dir" "$tmp/cut" 2000 500
run train --data cut --epochs 1 --lr 0.1 --val-size 500 --quiet --save cut_run
mkdir -p elsewhere && cd elsewhere || exit 1
run train --resume ../cut_run --epochs 2 --quiet
cd "$tmp" || exit 1
[ "$rc" -eq 0 ] && grep -q '^Epoch \[1\]' <<<"$out" &&
    ok "--resume of a run trained on --data DIR (MNIST, relative), from another folder: its folder found again" || bad "--resume cut_run -> exit $rc: $err"
run train --data cut --epochs 2 --lr 0.1 --lr-schedule cosine --val-size 500 --quiet --save cs
run train --resume cs --epochs 3
[ "$rc" -eq 2 ] && grep -q -- '--epochs 3: the run in cs follows a cosine schedule over 2 epochs' <<<"$err" &&
    ok "--resume of a cosine run with another --epochs -> exit 2" || bad "--resume cs --epochs 3 -> exit $rc: $err"
run train --resume cs --cycle-momentum on
[ "$rc" -eq 2 ] && grep -q -- '--cycle-momentum: applies to --lr-schedule onecycle or cyclic (got cosine)' <<<"$err" &&
    ok "--resume of a cosine run with --cycle-momentum -> exit 2, as a new run" || bad "--resume cs --cycle-momentum on -> exit $rc: $err"

# a one-cycle run whose momentum (Adam's beta1) cycles with the lr, on a label-smoothed loss,
# stopped in the middle of epoch 1 and resumed: the same epochs and weights as straight
# through; its --cycle-momentum and --label-smoothing are kept (another one is refused, the
# same one written otherwise is not)
# stopped_resumed NAME "RESUME FLAGS" RUN FLAGS...: the run straight through into NAME_straight,
# then stopped by a SIGINT at epoch 1 step 7 into NAME and resumed with --resume NAME RESUME
# FLAGS; true when the two parts print the straight run's epoch lines and end with its model
# file byte for byte (else $why says what they did)
stopped_resumed() {
    local name=$1 rf
    read -ra rf <<<"$2"
    shift 2
    "$CT" train "$@" --save "${name}_straight" >"${name}_straight.out" 2>&1
    CTRAIN_CUDA_GRAPH_STEPS=1 CTRAIN_TEST_INTERRUPT_AT=1:7 "$CT" train "$@" --save "$name" >"$name.1.out" 2>&1
    local r1=$?
    "$CT" train --resume "$name" "${rf[@]}" >"$name.2.out" 2>&1
    local r2=$?
    why="exit $r1 then $r2: $(cat "$name.1.out" "$name.2.out") vs $(cat "${name}_straight.out")"
    [ "$r1" -eq 130 ] && [ "$r2" -eq 0 ] && grep -q "^Epoch \[1\]" "${name}_straight.out" &&
        [ "$(epochs "$name.1.out" "$name.2.out")" = "$(epochs "${name}_straight.out")" ] &&
        cmp -s "$name/model.safetensors" "${name}_straight/model.safetensors"
}
OC=(--data cut --epochs 2 --lr 0.01 --optimizer adam --lr-schedule onecycle --cycle-momentum 0.8,0.9
    --label-smoothing 0.2 --val-size 500 --batch-size 100 --quiet)
if stopped_resumed oc "--cycle-momentum 0.80,0.90 --label-smoothing 0.20" "${OC[@]}"; then
    ok "onecycle with a cycled beta1 and label smoothing, stopped in epoch 1 and resumed: the straight run's epochs and weights"
else
    bad "onecycle cycled, resumed: $why"
fi
# CosineAnnealingWarmRestarts: stopped mid-epoch and resumed (its defaults given as flags), then
# lengthened (its cycles do not depend on the run's length), and refused with another T_0
SG=(--data cut --epochs 2 --lr 0.1 --lr-schedule cosine-restarts --t0 1 --eta-min 0.01
    --val-size 500 --batch-size 100 --quiet)
if stopped_resumed sgdr "--t-mult 1 --eta-min 0.010" "${SG[@]}"; then
    ok "cosine-restarts, stopped in epoch 1 and resumed: the straight run's epochs and weights"
else
    bad "cosine-restarts resumed: $why"
fi
# MultiStepLR: stopped mid-epoch and resumed (its milestones and gamma given again), then
# lengthened past its second milestone (the lr falls there as in a run that long), and refused
# with other milestones; PolynomialLR: the same, and refused with another length or power
MS=(--data cut --epochs 2 --lr 0.1 --lr-schedule multistep --milestones 1,3 --gamma 0.5
    --val-size 500 --batch-size 100 --quiet)
if stopped_resumed ms "--milestones 1,3 --gamma 0.50" "${MS[@]}"; then
    ok "multistep, stopped in epoch 1 and resumed: the straight run's epochs and weights"
else
    bad "multistep resumed: $why"
fi
run train --resume ms --epochs 4 --log ms.jsonl
[ "$rc" -eq 0 ] && grep -q '"epoch": 2, "phase": 0, "lr": 0.05,' ms.jsonl &&
    grep -q '"epoch": 3, "phase": 0, "lr": 0.025,' ms.jsonl &&
    ok "--resume of a multistep run with more --epochs: the lr falls at its next milestone" ||
    bad "--resume ms --epochs 4 -> exit $rc: $err $(cat ms.jsonl)"
run train --resume ms --milestones 1,2
[ "$rc" -eq 2 ] && grep -q -- '--milestones 1,2: the run in ms was saved with 1,3' <<<"$err" &&
    ok "--resume of a multistep run with other --milestones -> exit 2" || bad "--resume ms --milestones 1,2 -> exit $rc: $err"
PL=(--data cut --epochs 2 --lr 0.1 --lr-schedule polynomial --power 2 --val-size 500
    --batch-size 100 --quiet)
if stopped_resumed poly "--power 2.0" "${PL[@]}"; then
    ok "polynomial, stopped in epoch 1 and resumed: the straight run's epochs and weights"
else
    bad "polynomial resumed: $why"
fi
run train --resume poly --epochs 3
[ "$rc" -eq 2 ] && grep -q -- '--epochs 3: the run in poly follows a polynomial schedule over 2 epochs' <<<"$err" &&
    ok "--resume of a polynomial run with another --epochs -> exit 2" || bad "--resume poly --epochs 3 -> exit $rc: $err"
run train --resume poly --power 1
[ "$rc" -eq 2 ] && grep -q -- '--power 1: the run in poly was saved with 2' <<<"$err" &&
    ok "--resume of a polynomial run with another --power -> exit 2" || bad "--resume poly --power 1 -> exit $rc: $err"
# CyclicLR (its momentum cycled): stopped mid-epoch and resumed (its settings given again), then
# lengthened (its cycles do not depend on the run's length), refused with another mode
CY=(--data cut --epochs 2 --lr 0.1 --lr-schedule cyclic --base-lr 0.01 --step-size-up 7
    --cyclic-mode triangular2 --val-size 500 --batch-size 100 --quiet)
if stopped_resumed cyc "--base-lr 0.010 --step-size-up 7 --step-size-down 7 --cyclic-mode triangular2 --cycle-momentum on" "${CY[@]}"; then
    ok "cyclic, stopped in epoch 1 and resumed: the straight run's epochs and weights"
else
    bad "cyclic resumed: $why"
fi
"$CT" train --data cut --epochs 3 --lr 0.1 --lr-schedule cyclic --base-lr 0.01 --step-size-up 7 \
    --cyclic-mode triangular2 --val-size 500 --batch-size 100 --quiet --save cyc3 >/dev/null 2>&1
run train --resume cyc --epochs 3
[ "$rc" -eq 0 ] && grep -q '^Epoch \[2\]' <<<"$out" && cmp -s cyc/model.safetensors cyc3/model.safetensors &&
    ok "--resume of a cyclic run with more --epochs: continues to the straight 3-epoch run's model" ||
    bad "--resume cyc --epochs 3 -> exit $rc: $err"
run train --resume cyc --cyclic-mode triangular
[ "$rc" -eq 2 ] && grep -q -- '--cyclic-mode triangular: the run in cyc was saved with triangular2' <<<"$err" &&
    ok "--resume of a cyclic run with another --cyclic-mode -> exit 2" || bad "--resume cyc --cyclic-mode triangular -> exit $rc: $err"
run train --resume cyc --step-size-up 8
[ "$rc" -eq 2 ] && grep -q -- '--step-size-up 8: the run in cyc was saved with 7' <<<"$err" &&
    ok "--resume of a cyclic run with another --step-size-up -> exit 2" || bad "--resume cyc --step-size-up 8 -> exit $rc: $err"
run train --resume sgdr --epochs 3
[ "$rc" -eq 0 ] && grep -q '^Epoch \[2\]' <<<"$out" && ok "--resume of a cosine-restarts run with more --epochs: continues" ||
    bad "--resume sgdr --epochs 3 -> exit $rc: $err"
run train --resume sgdr --t0 2
[ "$rc" -eq 2 ] && grep -q -- '--t0 2: the run in sgdr was saved with 1' <<<"$err" &&
    ok "--resume of a cosine-restarts run with another --t0 -> exit 2" || bad "--resume sgdr --t0 2 -> exit $rc: $err"
run train --resume oc --cycle-momentum on
[ "$rc" -eq 2 ] && grep -q -- '--cycle-momentum on' <<<"$err" && grep -q '0.8,0.9' <<<"$err" &&
    ok "--resume of a cycled run with another --cycle-momentum -> exit 2" ||
    bad "--resume oc --cycle-momentum on -> exit $rc: $err"
# OneCycleLR's other settings: the saved ones, their defaults given as flags accepted
run train --resume oc --three-phase
[ "$rc" -eq 2 ] && grep -q -- '--three-phase (on): the run in oc was saved with two phases' <<<"$err" &&
    ok "--resume of a two-phase one-cycle run with --three-phase -> exit 2" || bad "--resume oc --three-phase -> exit $rc: $err"
run train --resume oc --anneal linear
[ "$rc" -eq 2 ] && grep -q -- '--anneal linear: the run in oc was saved with cos' <<<"$err" &&
    ok "--resume with another --anneal -> exit 2" || bad "--resume oc --anneal linear -> exit $rc: $err"
run train --resume oc --div-factor 10
[ "$rc" -eq 2 ] && grep -q -- '--div-factor 10: the run in oc was saved with 25' <<<"$err" &&
    ok "--resume with another --div-factor -> exit 2, the saved default named" || bad "--resume oc --div-factor 10 -> exit $rc: $err"
run train --resume oc --pct-start 0
[ "$rc" -eq 2 ] && grep -q -- '--pct-start 0: the run in oc was saved with 0.3' <<<"$err" &&
    ok "--resume with --pct-start 0 (not the default) -> exit 2" || bad "--resume oc --pct-start 0 -> exit $rc: $err"
run train --resume cs --three-phase
[ "$rc" -eq 2 ] && grep -q -- '--three-phase: applies to --lr-schedule onecycle (got cosine)' <<<"$err" &&
    ok "--resume of a cosine run with --three-phase -> exit 2, as a new run" || bad "--resume cs --three-phase -> exit $rc: $err"
run train --resume oc --pct-start 0.3 --div-factor 25 --final-div-factor 1e4 --anneal cos
[ "$rc" -eq 0 ] && ok "--resume with the defaults given as flags (--pct-start 0.3, --div-factor 25, ...): accepted" ||
    bad "--resume oc with the default one-cycle flags -> exit $rc: $err"
run train --resume oc --momentum 0.1
[ "$rc" -eq 2 ] && grep -q -- '--momentum: applies to --optimizer sgd or rmsprop (the run in oc uses adam)' <<<"$err" &&
    ok "--resume of an Adam run with --momentum -> exit 2, naming the optimizer" || bad "--resume oc --momentum 0.1 -> exit $rc: $err"
run train --data cut --epochs 1 --lr 0.1 --lr-schedule onecycle --val-size 500 --quiet --save ocs
run train --resume ocs --momentum 0.9
[ "$rc" -eq 2 ] && grep -q -- '--momentum: the run in ocs cycles its momentum with its one-cycle schedule (--cycle-momentum on)' <<<"$err" &&
    ok "--resume of a cycled SGD run with --momentum -> exit 2, saying it cycles" || bad "--resume ocs --momentum 0.9 -> exit $rc: $err"
run train --resume ocs --betas 0.9,0.99
[ "$rc" -eq 2 ] && grep -q -- '--betas: applies to --optimizer adam, adamw, nadam, radam or adamax (the run in ocs uses sgd)' <<<"$err" &&
    ok "--resume of an SGD run with --betas -> exit 2, naming the optimizer" || bad "--resume ocs --betas 0.9,0.99 -> exit $rc: $err"
# (cycled, --betas gives beta2 only: its beta1 is not compared, its beta2 is)
run train --resume oc --betas 0.5,0.999
[ "$rc" -eq 0 ] && ok "--resume of a cycled Adam run with --betas of its beta2: accepted" ||
    bad "--resume oc --betas 0.5,0.999 -> exit $rc: $err"
run train --resume oc --betas 0.9,0.99
[ "$rc" -eq 2 ] && grep -q -- '--betas 0.9,0.99: the run in oc was saved with beta2 0.999' <<<"$err" &&
    ok "--resume of a cycled Adam run with another beta2 -> exit 2" || bad "--resume oc --betas 0.9,0.99 -> exit $rc: $err"
# Adam's --betas likewise: the same values in another spelling resume, others are refused
run train --data cut --epochs 1 --lr 0.01 --optimizer adam --betas 0.8,0.99 --val-size 500 --quiet --save ab
run train --resume ab --epochs 2 --betas 0.80,9.9e-1 --quiet
[ "$rc" -eq 0 ] && grep -q '^Epoch \[1\]' <<<"$out" && ok "--resume with --betas as saved, spelled otherwise" ||
    bad "--resume ab --betas 0.80,9.9e-1 -> exit $rc: $err"
run train --resume ab --epochs 3 --betas 0.9,0.99
[ "$rc" -eq 2 ] && grep -q -- '--betas 0.9,0.99: the run in ab was saved with 0.8,0.99' <<<"$err" &&
    ok "--resume with other --betas -> exit 2, naming both" || bad "--resume ab --betas 0.9,0.99 -> exit $rc: $err"

# RMSprop (its state: momentum_buffer, square_avg, grad_avg) with momentum and centered, stopped in
# the middle of epoch 1 and resumed: the straight run's epochs and model file; its --alpha and
# --centered are kept (another alpha, or centered added to an uncentered run, refused)
RMS=(--data cut --epochs 2 --lr 0.002 --optimizer rmsprop --momentum 0.5 --centered --alpha 0.9
     --val-size 500 --batch-size 100 --quiet)
if stopped_resumed rms "--alpha 0.90 --centered" "${RMS[@]}" &&
    python3 "$here/st_tool.py" read rms/train_state.safetensors 2>/dev/null |
        grep -q '^meta optimizer_state = .*"slots": \["momentum_buffer", "square_avg", "grad_avg"\]'; then
    ok "RMSprop, centered, with momentum, stopped in epoch 1 and resumed: the straight run's epochs and weights"
else
    bad "RMSprop resumed: $why"
fi
run train --resume rms --alpha 0.99
[ "$rc" -eq 2 ] && grep -q -- '--alpha 0.99: the run in rms was saved with 0.9' <<<"$err" &&
    ok "--resume of an RMSprop run with another --alpha -> exit 2" || bad "--resume rms --alpha 0.99 -> exit $rc: $err"
run train --data cut --epochs 1 --optimizer rmsprop --val-size 500 --quiet --save rms_plain
run train --resume rms_plain --centered
[ "$rc" -eq 2 ] && grep -q -- '--centered (on): the run in rms_plain was saved with an uncentered RMSprop' <<<"$err" &&
    ok "--resume adding --centered -> exit 2" || bad "--resume rms_plain --centered -> exit $rc: $err"
run train --resume rms_plain --alpha 0.99 --eps 1e-8 --epochs 2
[ "$rc" -eq 0 ] && ok "--resume of an RMSprop run with its defaults given as flags: accepted" ||
    bad "--resume rms_plain --alpha 0.99 --eps 1e-8 -> exit $rc: $err"
# NAdam (its mu_product a function of the step count, recomputed on resume), stopped in epoch 1
# and resumed; its --momentum-decay kept (another refused)
NA=(--data cut --epochs 2 --lr 0.005 --optimizer nadam --momentum-decay 0.05 --weight-decay 0.01
    --val-size 500 --batch-size 100 --quiet)
if stopped_resumed nadam "--momentum-decay 0.05" "${NA[@]}"; then
    ok "NAdam stopped in epoch 1 and resumed: the straight run's epochs and weights"
else
    bad "NAdam resumed: $why"
fi
run train --resume nadam --momentum-decay 0.004
[ "$rc" -eq 2 ] && grep -q -- '--momentum-decay 0.004: the run in nadam was saved with 0.05' <<<"$err" &&
    ok "--resume of a NAdam run with another --momentum-decay -> exit 2" || bad "--resume nadam --momentum-decay 0.004 -> exit $rc: $err"
# AMSGrad (its max_exp_avg_sq, a third slot of Adam's state), stopped in epoch 1 and resumed;
# added on the resume of an Adam run without it: refused
AM=(--data cut --epochs 2 --lr 0.01 --optimizer adamw --amsgrad --val-size 500 --batch-size 100 --quiet)
if stopped_resumed ams "--amsgrad" "${AM[@]}" &&
    python3 "$here/st_tool.py" read ams/train_state.safetensors 2>/dev/null |
        grep -q '^meta optimizer_state = .*"slots": \["exp_avg", "exp_avg_sq", "max_exp_avg_sq"\]'; then
    ok "AdamW with AMSGrad stopped in epoch 1 and resumed: the straight run's epochs and weights"
else
    bad "AMSGrad resumed: $why"
fi
run train --resume ab --amsgrad --epochs 3
[ "$rc" -eq 2 ] && grep -q -- '--amsgrad (on): the run in ab was saved with Adam without AMSGrad' <<<"$err" &&
    ok "--resume of an Adam run adding --amsgrad -> exit 2" || bad "--resume ab --amsgrad -> exit $rc: $err"
# RAdam (rectified from its 6th update: a function of the step count) and Adagrad (its sum
# started at --initial-accumulator, not refilled on resume; --lr-decay by the step count), each
# stopped in epoch 1 and resumed
RA=(--data cut --epochs 2 --lr 0.01 --optimizer radam --weight-decay 0.01 --val-size 500
    --batch-size 100 --quiet)
stopped_resumed radam "" "${RA[@]}" &&
    ok "RAdam stopped in epoch 1 and resumed: the straight run's epochs and weights" || bad "RAdam resumed: $why"
AG=(--data cut --epochs 2 --lr 0.05 --optimizer adagrad --lr-decay 0.01 --initial-accumulator 0.1
    --val-size 500 --batch-size 100 --quiet)
stopped_resumed adagrad "--initial-accumulator 0.1" "${AG[@]}" &&
    ok "Adagrad stopped in epoch 1 and resumed: the straight run's epochs and weights" || bad "Adagrad resumed: $why"
# torchvision's weight decay groups: kept by a resume (the same run), refused otherwise
WG=(--data cut --epochs 2 --lr 0.1 --momentum 0.9 --weight-decay 0.05 --bias-weight-decay 0
    --val-size 500 --batch-size 100 --quiet)
stopped_resumed wdg "--bias-weight-decay 0" "${WG[@]}" &&
    ok "--bias-weight-decay 0, stopped in epoch 1 and resumed: the straight run's epochs and weights" ||
    bad "weight decay groups resumed: $why"
run train --resume wdg --bias-weight-decay 0.01
[ "$rc" -eq 2 ] && grep -q -- '--bias-weight-decay 0.01: the run in wdg was saved with 0,' <<<"$err" &&
    ok "--resume with another --bias-weight-decay -> exit 2" || bad "--resume wdg --bias-weight-decay 0.01 -> exit $rc: $err"
run train --resume wdg --clip-grad-value 0.1
[ "$rc" -eq 2 ] && grep -q -- '--clip-grad-value 0.1: the run in wdg was saved with 0' <<<"$err" &&
    ok "--resume adding --clip-grad-value -> exit 2" || bad "--resume wdg --clip-grad-value 0.1 -> exit $rc: $err"
run train --resume wdg --norm-weight-decay 0
[ "$rc" -eq 2 ] && grep -q -- '--norm-weight-decay 0: the run in wdg was saved with none (--weight-decay for all)' <<<"$err" &&
    ok "--resume adding --norm-weight-decay -> exit 2" || bad "--resume wdg --norm-weight-decay 0 -> exit $rc: $err"
run train --resume adagrad --lr-decay 0.02
[ "$rc" -eq 2 ] && grep -q -- '--lr-decay 0.02: the run in adagrad was saved with 0.01' <<<"$err" &&
    ok "--resume of an Adagrad run with another --lr-decay -> exit 2" || bad "--resume adagrad --lr-decay 0.02 -> exit $rc: $err"
run train --data cut --epochs 1 --lr 0.1 --lr-schedule step --step-size 1 --val-size 500 --quiet --save st_def
run train --resume st_def --gamma 0.1 --epochs 2 --quiet
[ "$rc" -eq 0 ] && ok "--resume of a step run with --gamma 0.1, its default: accepted" ||
    bad "--resume st_def --gamma 0.1 -> exit $rc: $err"
run train --resume cut_run --alpha 0.9
[ "$rc" -eq 2 ] && grep -q -- '--alpha: applies to --optimizer rmsprop (got sgd)' <<<"$err" &&
    ok "--resume of an SGD run with --alpha -> exit 2, as a new run" || bad "--resume cut_run --alpha -> exit $rc: $err"

# a schedule's own flags on a run of another schedule: refused as a new run's are (not as a
# value that "differs" from the run's)
for f in "eta-min 0.1|cosine or cosine-restarts" "gamma 0.5|step, multistep, plateau or exponential, and cyclic's --cyclic-mode exp_range" \
    "step-size 2|step" "lr-patience 2|plateau" "t0 2|cosine-restarts" "t-mult 2|cosine-restarts" \
    "milestones 2|multistep" "power 2|polynomial" "base-lr 0.01|cyclic" "cyclic-mode exp_range|cyclic"; do
    flag=${f%%|*} sched=${f#*|}
    read -ra fa <<<"--$flag"
    run train --resume cut_run "${fa[@]}"
    [ "$rc" -eq 2 ] && grep -q -- "--${flag%% *}: applies to --lr-schedule $sched (got phases)" <<<"$err" &&
        ok "--resume of a phases run with --$flag -> exit 2, as a new run" || bad "--resume cut_run --$flag -> exit $rc: $err"
done

# the moving average of the weights (--ema, with the warm-up whose decay follows the update
# count) on a batch norm MLP with MixUp and CutMix, stopped in the middle of epoch 1 and resumed: the straight run's
# epochs (validation evaluates the average) and model file (the average); the train state keeps
# both the trained weights and the average, and the count
EMA=(--data cut --epochs 2 --lr 0.1 --momentum 0.9 --ema 0.95 --ema-warmup --val-size 500 --batch-size 100
     --model "flatten,linear(32),batchnorm,relu,linear(10)" --mixup-alpha 0.3 --cutmix-alpha 1 --quiet)
if stopped_resumed ema "--ema 0.950 --ema-warmup --mixup-alpha 0.30" "${EMA[@]}"; then
    ok "--ema 0.95 --ema-warmup with batch norm, MixUp and CutMix, stopped in epoch 1 and resumed: the straight run's epochs and model file"
else
    bad "--ema resumed: $why"
fi
run train --resume ema --ema 0.9
[ "$rc" -eq 2 ] && grep -q -- '--ema 0.9: the run in ema was saved with 0.95' <<<"$err" &&
    ok "--resume with another --ema -> exit 2, naming both" || bad "--resume ema --ema 0.9 -> exit $rc: $err"
run train --resume ema --cutmix-alpha 0.5
[ "$rc" -eq 2 ] && grep -q -- '--cutmix-alpha 0.5: the run in ema was saved with 1' <<<"$err" &&
    ok "--resume with another --cutmix-alpha -> exit 2" || bad "--resume ema --cutmix-alpha 0.5 -> exit $rc: $err"
# ConstantLR's warm-up (torchvision's --lr-warmup-method constant): stopped mid-epoch and resumed
# within the warm-up (its method and factor given again), then refused with the linear one
WC=(--data cut --epochs 2 --lr 0.1 --warmup-epochs 2 --warmup-method constant
    --warmup-start-factor 0.1 --val-size 500 --batch-size 100 --quiet)
if stopped_resumed wc "--warmup-method constant --warmup-start-factor 0.1" "${WC[@]}"; then
    ok "constant warm-up, stopped in epoch 1 and resumed: the straight run's epochs and weights"
else
    bad "constant warm-up resumed: $why"
fi
run train --resume wc --warmup-method linear
[ "$rc" -eq 2 ] && grep -q -- '--warmup-method linear: the run in wc was saved with constant' <<<"$err" &&
    ok "--resume of a constant warm-up run with --warmup-method linear -> exit 2" ||
    bad "--resume wc --warmup-method linear -> exit $rc: $err"
run train --resume cut_run --ema-warmup
[ "$rc" -eq 2 ] && grep -q -- '--ema-warmup (on): the run in cut_run was saved with no warm-up of its moving average' <<<"$err" &&
    ok "--resume adding --ema-warmup -> exit 2" || bad "--resume cut_run --ema-warmup -> exit $rc: $err"
run train --resume cut_run --ema 0.99
[ "$rc" -eq 2 ] && grep -q -- '--ema 0.99: the run in cut_run was saved with no moving average' <<<"$err" &&
    ok "--resume of a run without a moving average with --ema -> exit 2" || bad "--resume cut_run --ema 0.99 -> exit $rc: $err"
# a train state whose average cannot be read back is refused, naming the file and what is wrong
cp -r ema ema_bad
python3 "$here/st_tool.py" meta ema_bad/train_state.safetensors ema_updates -3 >/dev/null
run train --resume ema_bad --epochs 3
[ "$rc" -eq 1 ] && [ "$(nlines "$err")" -eq 1 ] &&
    grep -q 'train_state.safetensors: config "ema_decay" is 0.95 but metadata "ema_updates" is "-3", not a count' <<<"$err" &&
    ok "a train state with a bad ema_updates -> exit 1, one line: $err" || bad "bad ema_updates -> exit $rc: $err"
python3 "$here/st_tool.py" meta ema_bad/train_state.safetensors ema_updates " 5" >/dev/null
run train --resume ema_bad --epochs 3
[ "$rc" -eq 1 ] && grep -q 'metadata "ema_updates" is " 5", not a count' <<<"$err" &&
    ok "ema_updates with a leading space -> exit 1" || bad "ema_updates ' 5' -> exit $rc: $err"
python3 "$here/st_tool.py" meta ema_bad/train_state.safetensors ema_updates 0 >/dev/null
run train --resume ema_bad --epochs 3
[ "$rc" -eq 1 ] && [ "$(nlines "$err")" -eq 1 ] &&
    grep -q 'metadata "ema_updates" is 0 but the optimizer made 30 steps (the average is updated at every one)' <<<"$err" &&
    ok "ema_updates that is not the step count -> exit 1, one line: $err" || bad "ema_updates 0 -> exit $rc: $err"

echo
finish cli_resume
