#!/usr/bin/env bash
# cli_checkpoint_kill.sh — a save killed at any moment leaves the previous checkpoint whole.
# CTRAIN_TEST_SAVE_DELAY_MS slows the writer down (a pause after every 16 KiB) so that the test
# can SIGKILL ctrain while it writes: first while it writes train_state.safetensors (both files
# must then be the old ones, byte for byte, and load), then while it writes model.safetensors
# (the new train state is complete, the old model file is whole: eval and resume both work).
# Skips when the MNIST files are not in `ctrain data path`.
# Usage: bash tests/cli_checkpoint_kill.sh path/to/ctrain
set -u
. "$(cd "$(dirname "$0")" && pwd)/clilib.sh"
CT=${1:?usage: bash cli_checkpoint_kill.sh path/to/ctrain}
tmp=$(mktemp -d)
pid=""
trap '[ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1

dir=$("$CT" data path) || { echo "FAIL - ctrain data path"; exit 1; }
for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
    if [ ! -e "$dir/$f" ] && [ ! -e "$dir/$f.gz" ]; then
        echo "SKIP cli_checkpoint_kill: no MNIST in $dir (run: ctrain data fetch mnist)"
        exit 0
    fi
done

SET=(--lr 0.5 --val-size 1000 --quiet)
"$CT" train --epochs 1 "${SET[@]}" --save k >k.out 2>k.err || bad "first run: $(cat k.err)"
cp -r k k0
"$CT" eval --model k0 2>&1 | grep -v '^Model: ' >eval0.out

# kill_during FILE: resumes k to 2 epochs with a slow writer; SIGKILL once .FILE.tmp.PID.N exists
kill_during() {
    CTRAIN_TEST_SAVE_DELAY_MS=150 "$CT" train --resume k --epochs 2 --quiet >kill.out 2>kill.err &
    pid=$!
    local seen=""
    for _ in $(seq 1 1500); do
        seen=$(ls -A k | grep "^\.$1\.tmp\.$pid\.[0-9]*$")
        [ -n "$seen" ] && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.02
    done
    sleep 0.2 # well inside the write: each 16 KiB chunk takes 150 ms
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    pid=""
    [ -n "$seen" ] && ok "SIGKILL while writing $1 (k/$seen, $(stat -c %s "k/$seen" 2>/dev/null) bytes so far)" ||
        bad "never saw k/.$1.tmp.PID.N (exit: $(cat kill.err))"
}

# ------------------------------------------------------------------ killed in the first file
kill_during train_state.safetensors
cmp -s k/train_state.safetensors k0/train_state.safetensors && cmp -s k/model.safetensors k0/model.safetensors &&
    ok "both files are the previous ones, byte for byte" || bad "a file changed"
"$CT" eval --model k >eval1.out 2>eval1.err
[ $? -eq 0 ] && grep -v '^Model: ' eval1.out | cmp -s eval0.out - && ok "eval --model k: the previous model, the same results" ||
    bad "eval after the kill: $(cat eval1.err)"

# ------------------------------------------------------------------ killed in the second file
kill_during model.safetensors
if ! cmp -s k/train_state.safetensors k0/train_state.safetensors && cmp -s k/model.safetensors k0/model.safetensors; then
    ok "the new train state is in place, model.safetensors is still the previous one"
else
    bad "expected a new train_state.safetensors and the old model.safetensors"
fi
"$CT" eval --model k >eval2.out 2>eval2.err
[ $? -eq 0 ] && grep -v '^Model: ' eval2.out | cmp -s eval0.out - && ok "eval --model k still reads the previous model" ||
    bad "eval after the second kill: $(cat eval2.err)"
ls -A k | grep -q '\.tmp\.' && ok "the killed writes left temporary files: $(ls -A k | grep '\.tmp\.' | tr '\n' ' ')" ||
    bad "no temporary file left by the kills?"
"$CT" train --resume k --epochs 2 --quiet >r.out 2>r.err
rc=$?
# the train state says both epochs are done: nothing to train, the test line, a fresh save
if [ "$rc" -eq 0 ] && ! grep -q '^Epoch' r.out && grep -q '^test_loss' r.out; then
    ok "resume from the new train state: both epochs done, $(grep '^test_loss' r.out)"
else
    bad "resume after the kills -> exit $rc: $(cat r.err)"
fi
ls -A k | grep -q '\.tmp\.' && bad "stale temporary files not removed: $(ls -A k)" ||
    ok "the next save removed the stale temporary files"
"$CT" train --epochs 2 "${SET[@]}" >straight.out 2>&1
grep '^test_loss' straight.out | cmp -s - <(grep '^test_loss' r.out) &&
    ok "the model saved from it is the 2-epoch model (same test line as a straight 2-epoch run)" ||
    bad "test line differs from a straight run: $(grep test_loss straight.out) vs $(grep test_loss r.out)"

echo
finish cli_checkpoint_kill
