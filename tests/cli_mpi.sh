#!/usr/bin/env bash
# cli_mpi.sh — data-parallel `ctrain train` under Open MPI's mpirun (issue 7), on this machine:
#   - 2 ranks × 1 thread give the epoch lines of 1 process × 2 threads (the same rows per shard)
#     and of 1 process × 1 thread, to float tolerance; only rank 0 prints them;
#   - the same with the shared-memory transport switched off (--mca btl tcp,self);
#   - 3 ranks with a batch that does not divide by 3 (uneven shares) agree with 3 threads, and
#     5 ranks in micro-batches (--micro-batch) with 1 process;
#   - --restore-best on 2 ranks restores the epoch 1 process restores, with its test line;
#   - --ema with batch norm on 2 ranks gives 1 process's epochs and test line, and so does
#     --freeze (frozen through a batch norm: the all-reduce covers the trained layers);
#   - a launch with different flags on one rank is refused with a message (the same flags in
#     another order or spelling are not);
#   - an error every rank meets is said once, before the ranks connect and after; so is a
#     diverged run (NaN loss), which every rank stops alike;
#   - ranks resuming different runs are refused before rank 0 writes anything;
#   - an error on one rank (its data folder is empty) ends the job (MPI_Abort) with the message;
#   - a rank killed with SIGKILL ends the job with an error within a bounded time (no hang);
#   - SIGUSR1 to mpirun (forwarded to every rank) stops the job as Ctrl-C stops one process;
#   - so does an MPI poll that never returns (the CLI's watchdog: --dist-timeout + 5 s)
#   - so does a rank stopped with SIGSTOP (neither dead nor erring): --dist-timeout, also before
#     MPI_Init and at MPI_Finalize.
# Skips when ctrain was built without MPI, when mpirun is not Open MPI's, or without MNIST.
# Usage: bash tests/cli_mpi.sh path/to/ctrain
set -u
. "$(cd "$(dirname "$0")" && pwd)/clilib.sh"
. "$(cd "$(dirname "$0")" && pwd)/small_mnist.sh"
CT=${1:?usage: bash cli_mpi.sh path/to/ctrain}
CT=$(cd "$(dirname "$CT")" && pwd)/$(basename "$CT")
tmp=$(mktemp -d)
job="" bg_jobs=()
# (a background run: its subshell's child is timeout, which passes a TERM on to mpirun)
trap '[ -n "$job" ] && kill -KILL "$job" 2>/dev/null
for j in "${bg_jobs[@]}"; do pkill -TERM -P "$j"; done 2>/dev/null
[ "${#bg_jobs[@]}" -gt 0 ] && sleep 1 && for j in "${bg_jobs[@]}"; do pkill -KILL -P "$j"; done 2>/dev/null
rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1
skip() { echo "SKIP cli_mpi: $*"; exit 0; }

# ------------------------------------------------------------------ what this build and host have
lib=$(dirname "$CT")/libctrain.so
if ! { ldd "$lib" 2>/dev/null || ldd "$CT"; } | grep -q 'libmpi'; then
    skip "ctrain was built without MPI (install libopenmpi-dev openmpi-bin and rebuild)"
fi
command -v mpirun >/dev/null || skip "no mpirun in PATH (Debian: openmpi-bin)"
mpirun --version 2>&1 | grep -q 'Open MPI' || skip "mpirun is not Open MPI's ($(mpirun --version 2>&1 | head -1))"
dir=$("$CT" data path) || { echo "FAIL - ctrain data path"; exit 1; }
for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
    [ -e "$dir/$f" ] || [ -e "$dir/$f.gz" ] || skip "no MNIST in $dir (run: ctrain data fetch mnist)"
done
# Containers run as root; this machine has few cores (--oversubscribe lets 3 ranks share 2).
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1
# Its session files in this test's folder: mpiruns started together (this test's background
# runs, cli_cuda_emu's beside it under ctest -j) race to make a shared /tmp/ompi.HOST.UID
# ("mkdir ... File exists", orte_init failed: seen once in make test on 7 Dec)
mkdir -p "$tmp/ompi" && export OMPI_MCA_orte_tmpdir_base="$tmp/ompi"
# Open MPI keeps memory until exit; a sanitizer build should not count that as our leak.
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0
# No second's grace between a failed job's SIGTERM and SIGKILL to its other ranks (a job whose
# rank exits 2 on a bad flag: mpirun 1.1 s -> 0.1 s; ranks still save and stop on SIGUSR1,
# below), and only the shared-memory and self transports unless a run asks for TCP (MPI_Init
# 0.37 s -> 0.18 s: no probing for network devices)
export OMPI_MCA_odls_base_sigkill_timeout=0 OMPI_MCA_btl=self,vader OMPI_MCA_pml=ob1
MPIRUN=(timeout 120 mpirun --bind-to none)

# run NAME CMD...: stdout → NAME.out, stderr → NAME.err, exit status → $rc
run() {
    local name=$1
    shift
    "$@" >"$tmp/$name.out" 2>"$tmp/$name.err"
    rc=$?
}
show() { sed 's/^/    | /' "$tmp/$1.out"; }

echo "data: $dir; $(mpirun --version 2>&1 | head -1)"
FLAGS=(train --epochs 2 --lr 0.5 --val-size 10000 --quiet)
quick=0 # a sanitizer build is ~10x slower: the code paths only (test_dist compares under ASan)
if ldd "$CT" 2>/dev/null | grep -q libasan; then
    quick=1
    FLAGS=(train --epochs 1 --lr 0.5 --val-size 50000 --quiet)
    echo "sanitizer build: one 2-rank run of 1 epoch (no comparisons, no TCP or 3-rank runs)"
fi

# ------------------------------------------------------------------ 2 ranks = 1 process
[ "$quick" -eq 1 ] || run one2 "$CT" "${FLAGS[@]}" --threads 2
[ "$quick" -eq 1 ] || run one1 "$CT" "${FLAGS[@]}" --threads 1
t0=$(date +%s.%N)
run mpi2 "${MPIRUN[@]}" -np 2 "$CT" "${FLAGS[@]}" --threads 1
t1=$(date +%s.%N)
show mpi2
if [ "$rc" -eq 0 ]; then ok "mpirun -np 2 ctrain train --threads 1 -> exit 0 ($(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}') s)"
else bad "mpirun -np 2 -> exit $rc: $(head -c 2000 "$tmp/mpi2.err")"; fi
[ "$(grep -c '^Epoch \[0\]' "$tmp/mpi2.out")" -eq 1 ] && [ "$(grep -c '^test_loss' "$tmp/mpi2.out")" -eq 1 ] &&
    ok "one copy of the output (rank 0's)" || bad "expected one Epoch [0] and one test_loss line"
[ "$quick" -eq 1 ] ||
    { same mpi2 one2 2e-3 && ok "2 ranks x 1 thread = 1 process x 2 threads (largest difference $(cat "$tmp/worst"))" ||
      { bad "2 ranks vs 1 process x 2 threads differ:"; show one2; }; }
[ "$quick" -eq 1 ] ||
    { same mpi2 one1 2e-3 && ok "2 ranks x 1 thread ~ 1 process x 1 thread (largest difference $(cat "$tmp/worst"), tolerance 2e-3)" ||
      { bad "2 ranks vs 1 process x 1 thread differ beyond 2e-3:"; show one1; }; }

# augmentation draws follow each image's place in the epoch, not the rank that gathers it; an
# image's MixUp / CutMix partner (the batch's image before it) may be another rank's
[ "$quick" -eq 1 ] || {
AUG=(train --epochs 1 --lr 0.5 --val-size 50000 --quiet --augment rotate=10,scale=0.9:1.1,crop=2,flip
     --mixup-alpha 0.3 --cutmix-alpha 1)
run aug1 "$CT" "${AUG[@]}" --threads 2
run aug2 "${MPIRUN[@]}" -np 2 "$CT" "${AUG[@]}" --threads 1
[ "$rc" -eq 0 ] && same aug2 aug1 2e-3 &&
    ok "--augment rotate=10,scale=0.9:1.1,crop=2,flip, MixUp and CutMix: 2 ranks x 1 thread = 1 process x 2 threads (largest difference $(cat "$tmp/worst"))" ||
    { bad "--augment: 2 ranks vs 1 process differ (exit $rc):"; show aug2; show aug1; }
}

# rank 0 says how the gradients are summed (CPU ranks: MPI in host memory)
run say "${MPIRUN[@]}" -np 2 "$CT" train --epochs 1 --lr 0.5 --val-size 59000 --threads 1
grep -q '^Gradients: summed across ranks with MPI_Allreduce in host memory$' "$tmp/say.out" &&
    [ "$(grep -c '^Gradients: ' "$tmp/say.out")" -eq 1 ] &&
    ok "rank 0 prints one 'Gradients: summed across ranks with MPI_Allreduce in host memory' line" ||
    bad "no (or more than one) Gradients line: exit $rc: $(head -c 1000 "$tmp/say.out")"

# ------------------------------------------------------------------ --restore-best on every rank
# (on 1500 images at an lr whose val_loss rises after the first epoch, here: every rank puts
# those weights back for the test set, and rank 0 saves them; where another CPU's rounding makes
# the last epoch the best, both runs must say so alike)
if [ "$quick" -eq 0 ] && small_mnist "$dir" "$tmp/cut" 2000 500; then
    RB=(train --dataset idx --data "$tmp/cut" --val-size 500 --lr 1 --momentum 0.9 --epochs 3
        --restore-best --quiet)
    run rb1 "$CT" "${RB[@]}" --threads 2
    run rb2 "${MPIRUN[@]}" -np 2 "$CT" "${RB[@]}" --threads 1 --save "$tmp/rb2" --tensorboard "$tmp/rbtb"
    n=$(ls "$tmp/rbtb/train" "$tmp/rbtb/validation" "$tmp/rbtb/test" 2>/dev/null | grep -c tfevents)
    [ "$n" -eq 3 ] && ok "--tensorboard on 2 ranks: one file in each of train, validation, test (rank 0's)" ||
        bad "--tensorboard on 2 ranks: $n event files: $(ls -R "$tmp/rbtb" 2>&1)"
    r1=$(grep -E '^(Restored|Best weights)' "$tmp/rb1.out")
    if [ "$rc" -eq 0 ] && [ -n "$r1" ] &&
        [ "$(grep -E '^(Restored|Best weights)' "$tmp/rb2.out" | cut -c1-33)" = "${r1:0:33}" ] &&
        same rb2 rb1 2e-3 && [ -f "$tmp/rb2/best.safetensors" ]; then
        ok "--restore-best on 2 ranks: 1 process's restored epoch and test line ($r1)"
    else
        bad "--restore-best on 2 ranks -> exit $rc: $(cat "$tmp/rb2.out" "$tmp/rb2.err")"$'\n'"1 process: $(cat "$tmp/rb1.out")"
    fi
    # --ema with batch norm: every rank's average (its running statistics' included: only rank
    # 0 updates those, and their average) is the one process's, validation and test alike
    EMA=(train --dataset idx --data "$tmp/cut" --val-size 500 --lr 0.2 --epochs 2 --ema 0.9
         --model "flatten,linear(32),batchnorm,relu,linear(10)" --quiet)
    run ema1 "$CT" "${EMA[@]}" --threads 2
    run ema2 "${MPIRUN[@]}" -np 2 "$CT" "${EMA[@]}" --threads 1
    [ "$rc" -eq 0 ] && same ema2 ema1 2e-3 &&
        ok "--ema 0.9 with batch norm: 2 ranks x 1 thread = 1 process x 2 threads (largest difference $(cat "$tmp/worst"))" ||
        { bad "--ema: 2 ranks vs 1 process differ (exit $rc):"; show ema2; show ema1; }
    # --freeze: the all-reduce sums the trained layers' gradients only
    FZ=(train --dataset idx --data "$tmp/cut" --val-size 500 --lr 0.2 --momentum 0.9 --epochs 2
        --model "flatten,linear(32),batchnorm,relu,linear(16),relu,linear(10)" --freeze batchnorm1
        --quiet)
    run fz1 "$CT" "${FZ[@]}" --threads 2
    run fz2 "${MPIRUN[@]}" -np 2 "$CT" "${FZ[@]}" --threads 1
    [ "$rc" -eq 0 ] && same fz2 fz1 2e-3 &&
        ok "--freeze batchnorm1: 2 ranks x 1 thread = 1 process x 2 threads (largest difference $(cat "$tmp/worst"))" ||
        { bad "--freeze: 2 ranks vs 1 process differ (exit $rc):"; show fz2; show fz1; }
fi

# ------------------------------------------------------------------ the network path
[ "$quick" -eq 1 ] || {
run tcp "${MPIRUN[@]}" --mca btl tcp,self -np 2 "$CT" "${FLAGS[@]}" --threads 1
[ "$rc" -eq 0 ] && same tcp one2 2e-3 &&
    ok "over TCP (--mca btl tcp,self): the same lines (largest difference $(cat "$tmp/worst"))" ||
    { bad "over TCP: exit $rc: $(head -c 2000 "$tmp/tcp.err")"; show tcp; }

# ------------------------------------------------------------------ uneven shares: 100 rows / 3
SMALL=(train --epochs 1 --lr 0.1 --val-size 50000 --batch-size 100 --eval-batch-size 70 --quiet)
run one3 "$CT" "${SMALL[@]}" --threads 3
run mpi3 "${MPIRUN[@]}" -np 3 "$CT" "${SMALL[@]}" --threads 1
[ "$rc" -eq 0 ] && same mpi3 one3 2e-3 &&
    ok "3 ranks, batch 100 (shares 33/33/34) = 1 process x 3 threads (largest difference $(cat "$tmp/worst"))" ||
    { bad "3 ranks: exit $rc: $(head -c 2000 "$tmp/mpi3.err")"; show mpi3; show one3; }
# --micro-batch 25 on 5 ranks: a batch of 128 is shared 26/26/25/26/25, the last one, of 127
# (1151 images), 26/25/26/25/25: rank 2's share of it alone comes in pieces
MB5=(train --dataset idx --data "$tmp/cut" --val-size 849 --epochs 1 --lr 0.5 --quiet --micro-batch 25)
run one5 "$CT" "${MB5[@]}" --threads 1
run mpi5 "${MPIRUN[@]}" -np 5 "$CT" "${MB5[@]}" --threads 1
[ "$rc" -eq 0 ] && same mpi5 one5 2e-3 &&
    ok "5 ranks in micro-batches of 25 (a piece more in the last batch's share) = 1 process (largest difference $(cat "$tmp/worst"))" ||
    { bad "5 ranks, --micro-batch 25: exit $rc: $(head -c 2000 "$tmp/mpi5.err")"; show mpi5; show one5; }
}

# ------------------------------------------------------------------ a mismatched launch is refused
run seed "${MPIRUN[@]}" -np 2 bash -c 'exec "$0" train --epochs 1 --quiet --threads 1 --seed $((42 + OMPI_COMM_WORLD_RANK))' "$CT"
if [ "$rc" -ne 0 ] && grep -q 'rank 1 was launched with different settings than rank 0 (command line: rank 0 has "--seed=42", rank 1 has "--seed=43")' "$tmp/seed.err" &&
    ! grep -q '^Epoch' "$tmp/seed.out"; then
    ok "--seed differing on rank 1 -> exit $rc: $(grep -m1 'rank 1 was' "$tmp/seed.err")"
else
    bad "mismatched --seed -> exit $rc: $(head -c 2000 "$tmp/seed.err")"
fi
# a flag only one rank has is named as that, and the order flags come in does not matter
run extra "${MPIRUN[@]}" -np 2 bash -c '[ "$OMPI_COMM_WORLD_RANK" = 1 ] && set -- --momentum 0.5; exec "$0" train --epochs 1 --quiet --threads 1 "$@"' "$CT"
[ "$rc" -ne 0 ] && grep -q '(command line: rank 0 has no --momentum, rank 1 has "--momentum=0.5")' "$tmp/extra.err" &&
    ok "--momentum on rank 1 only -> exit $rc, named" || bad "--momentum on rank 1 only -> exit $rc: $(head -c 2000 "$tmp/extra.err")"
run order "${MPIRUN[@]}" -np 2 bash -c 'if [ "$OMPI_COMM_WORLD_RANK" = 1 ]; then set -- --lr=0.10 --epochs 01; else set -- --epochs 1 --lr 1e-1; fi
    exec "$0" train --val-size 50000 --batch-size 100 --quiet --threads 1 "$@"' "$CT"
[ "$rc" -eq 0 ] && grep -q '^test_acc\|test_acc:' "$tmp/order.out" && ok "the same flags in another order and spelling on rank 1 (--lr 1e-1 / --lr=0.10) -> trains" ||
    bad "flags in another order on rank 1 -> exit $rc: $(head -c 2000 "$tmp/order.err")"
run spelt "${MPIRUN[@]}" -np 2 bash -c 'if [ "$OMPI_COMM_WORLD_RANK" = 1 ]; then set -- --schedule 01@.5 --augment flip,crop,rotate=5 --normalize .13,0.30; else set -- --schedule=1@0.50 --augment rotate=5.0,crop=4,flip --normalize 0.130,0.3; fi
    exec "$0" train --val-size 50000 --batch-size 100 --quiet --threads 1 "$@"' "$CT"
[ "$rc" -eq 0 ] && grep -q 'test_acc:' "$tmp/spelt.out" && ok "--schedule, --augment and --normalize spelt otherwise on rank 1 (01@.5 / 1@0.50, flip,crop,rotate=5 / rotate=5.0,crop=4,flip, .13,0.30 / 0.130,0.3) -> trains" ||
    bad "--schedule/--augment/--normalize spelt otherwise on rank 1 -> exit $rc: $(head -c 2000 "$tmp/spelt.err")"
run spelt2 "${MPIRUN[@]}" -np 2 bash -c 'a=crop=4; [ "$OMPI_COMM_WORLD_RANK" = 1 ] && a=crop=2; exec "$0" train --epochs 1 --quiet --threads 1 --augment "$a"' "$CT"
[ "$rc" -ne 0 ] && grep -q 'rank 0 has "--augment=crop=4", rank 1 has "--augment=crop=2"' "$tmp/spelt2.err" &&
    ok "--augment crop=4 / crop=2 -> refused, named" || bad "--augment crop=4 / crop=2 -> exit $rc: $(head -c 2000 "$tmp/spelt2.err")"
# a rank with another test set (--data is per rank): refused before any work
mkdir -p "$tmp/tA" "$tmp/tB"
for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
    if [ -f "$dir/$f" ]; then cp "$dir/$f" "$tmp/tA/"; else gzip -dc "$dir/$f.gz" >"$tmp/tA/$f"; fi
done
cp "$tmp/tA/"* "$tmp/tB/"
printf '\x09' | dd of="$tmp/tB/t10k-labels-idx1-ubyte" bs=1 seek=8 conv=notrunc 2>/dev/null # first label: 9
run testset "${MPIRUN[@]}" -np 2 bash -c 'd=$1; [ "$OMPI_COMM_WORLD_RANK" = 1 ] && d=$2; exec "$0" train --epochs 1 --threads 1 --data "$d"' "$CT" "$tmp/tA" "$tmp/tB"
[ "$rc" -ne 0 ] && grep -q '(test set: rank 0 has "labels=[0-9a-f]*", rank 1 has "labels=[0-9a-f]*")' "$tmp/testset.err" &&
    ! grep -q '^Before training' "$tmp/testset.out" && ok "another test set on rank 1 -> exit $rc before any work" ||
    bad "another test set on rank 1 -> exit $rc: $(head -c 2000 "$tmp/testset.err")"

# ------------------------------------------------------------------ who says an error, who runs what
# a bad flag on every rank: said once (rank 0), not once per rank
run usage "${MPIRUN[@]}" -np 3 "$CT" train --lr abc
[ "$rc" -eq 2 ] && [ "$(grep -c '^ctrain: ' "$tmp/usage.err")" -eq 1 ] &&
    grep -q '^ctrain: --lr: expected a positive number, got "abc"' "$tmp/usage.err" &&
    ok "--lr abc on 3 ranks -> exit 2, one line: $(grep -m1 '^ctrain: ' "$tmp/usage.err")" ||
    bad "--lr abc on 3 ranks -> exit $rc, expected one ctrain: line: $(head -c 2000 "$tmp/usage.err")"
# a bad flag on rank 1 only (--threads may differ): rank 1 says it, with its rank
run usage1 "${MPIRUN[@]}" -np 2 bash -c 't=1; [ "$OMPI_COMM_WORLD_RANK" = 1 ] && t=abc; exec "$0" train --epochs 1 --quiet --threads "$t"' "$CT"
[ "$rc" -ne 0 ] && grep -q '^ctrain: rank 1: --threads: expected a non-negative integer, got "abc"' "$tmp/usage1.err" &&
    ok "--threads abc on rank 1 only -> exit $rc: $(grep -m1 '^ctrain: rank 1' "$tmp/usage1.err")" ||
    bad "--threads abc on rank 1 only -> exit $rc: $(head -c 2000 "$tmp/usage1.err")"
# errors after the ranks connect: the ranks stop together, and what they share is said once
mkdir -p "$tmp/nodata"
for case in "nodata|MNIST not found in $tmp/nodata|--data $tmp/nodata" \
            "valsize|--val-size: 60000 leaves no training images|--val-size 60000" \
            "device|cuda|--device cuda"; do
    IFS='|' read -r name want extra <<<"$case"
    [ "$name" = device ] && "$CT" devices 2>/dev/null | grep -q '^auto: cuda' && continue # a GPU here
    start=$(date +%s)
    # shellcheck disable=SC2086 # $extra is two words
    run "$name" "${MPIRUN[@]}" -np 3 "$CT" train --epochs 1 --quiet --threads 1 $extra
    took=$(($(date +%s) - start))
    if [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && [ "$took" -le 60 ] && [ "$(grep -c '^ctrain: ' "$tmp/$name.err")" -eq 1 ] &&
        grep -q "^ctrain: .*$want" "$tmp/$name.err" && ! grep -q 'MPI_ABORT' "$tmp/$name.err"; then
        ok "3 ranks, $extra -> exit $rc after ${took} s, said once: $(grep -m1 '^ctrain: ' "$tmp/$name.err" | cut -c1-100)"
    else
        bad "3 ranks, $extra -> exit $rc after ${took} s, expected one ctrain: line: $(head -c 2000 "$tmp/$name.err")"
    fi
done

# every rank failing, each for its own reason: each says its own
mkdir -p "$tmp/tC" "$tmp/nodata2"
cp "$tmp/tA/"* "$tmp/tC/"
truncate -s 1000 "$tmp/tC/train-images-idx3-ubyte"
run own "${MPIRUN[@]}" -np 2 bash -c 'd=$1; [ "$OMPI_COMM_WORLD_RANK" = 1 ] && d=$2; exec "$0" train --epochs 1 --quiet --threads 1 --data "$d"' "$CT" "$tmp/nodata2" "$tmp/tC"
[ "$rc" -ne 0 ] && grep -q "^ctrain: MNIST not found in $tmp/nodata2" "$tmp/own.err" &&
    grep -q "^ctrain: rank 1: $tmp/tC/train-images-idx3-ubyte" "$tmp/own.err" &&
    ok "both ranks failing differently (no data / a truncated file) -> exit $rc, each said" ||
    bad "both ranks failing differently -> exit $rc: $(head -c 2000 "$tmp/own.err")"

# a diverged run (NaN loss) stops every rank alike, after rank 0 keeps its last checkpoint, no abort
run div "${MPIRUN[@]}" -np 2 "$CT" train --schedule 1@0.5,2@1e30 --val-size 55000 --quiet --threads 1 \
    --save "$tmp/mdiv" --save-every 1
[ "$rc" -eq 1 ] && [ "$(grep -c 'training diverged in epoch 1' "$tmp/div.err")" -eq 1 ] &&
    grep -q "mdiv keeps the checkpoint after epoch 0" "$tmp/div.err" && ! grep -q 'MPI_ABORT' "$tmp/div.err" &&
    ok "2 ranks, a loss of NaN in epoch 1 -> exit 1, said once, no MPI_Abort" ||
    bad "2 ranks diverging -> exit $rc: $(head -c 2000 "$tmp/div.err")"

# ------------------------------------------------------------------ resumed states that differ
# are refused before rank 0's --log (or --save, --plot) is created or anything is written
run r0 "$CT" train --epochs 1 --val-size 50000 --quiet --threads 1 --save "$tmp/r0"
run r1 "$CT" train --epochs 1 --val-size 50000 --quiet --threads 1 --save "$tmp/r1" --seed 7
before=$(cd "$tmp/r0" && ls -l --time-style=+%s.%N | md5sum)
run resumed "${MPIRUN[@]}" -np 2 bash -c 'd=$1; [ "$OMPI_COMM_WORLD_RANK" = 1 ] && d=$2; exec "$0" train --resume "$d" --epochs 2 --quiet --threads 1 --log "$3"' "$CT" "$tmp/r0" "$tmp/r1" "$tmp/resumed.jsonl"
[ "$rc" -ne 0 ] && grep -q 'rank 1 was launched with different settings than rank 0 (training settings: rank 0 has "seed=[0-9]*", rank 1 has "seed=7")' "$tmp/resumed.err" &&
    [ ! -e "$tmp/resumed.jsonl" ] && [ "$before" = "$(cd "$tmp/r0" && ls -l --time-style=+%s.%N | md5sum)" ] &&
    ok "ranks resuming different runs -> exit $rc before --log or the checkpoint is touched" ||
    bad "ranks resuming different runs -> exit $rc (log there: $([ -e "$tmp/resumed.jsonl" ] && echo yes || echo no)): $(head -c 2000 "$tmp/resumed.err")"

# ------------------------------------------------------------------ an error on one rank ends the job
mkdir -p "$tmp/empty"
start=$(date +%s)
run fail "${MPIRUN[@]}" -np 2 bash -c 'd=$1; [ "$OMPI_COMM_WORLD_RANK" = 1 ] && d=$2; exec "$0" train --epochs 5 --quiet --threads 1 --data "$d"' "$CT" "$dir" "$tmp/empty"
took=$(($(date +%s) - start))
if [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && grep -q 'ctrain: rank 1: MNIST not found' "$tmp/fail.err" && [ "$took" -le 60 ]; then
    ok "rank 1 without data -> the job ends, exit $rc after ${took} s: $(grep -m1 'rank 1:' "$tmp/fail.err")"
else
    bad "rank 1 without data -> exit $rc after ${took} s: $(head -c 2000 "$tmp/fail.err")"
fi

# ------------------------------------------------------------------ rank 0's output
# train --help once (not once a rank); no progress bar, even where mpirun runs in a terminal (it
# pipes the ranks' stderr, and gives their stdout a terminal whether or not its own is one)
run help "${MPIRUN[@]}" -np 2 "$CT" train --help
n=$(grep -c '^usage: ctrain train' "$tmp/help.out")
[ "$rc" -eq 0 ] && [ "$n" -eq 1 ] && ok "mpirun -np 2 ctrain train --help -> the help once" ||
    bad "mpirun -np 2 train --help -> exit $rc, the help $n times"
# ctrain sweep runs trials as processes of its own: refused under mpirun, said once
run sweepmpi "${MPIRUN[@]}" -np 2 "$CT" sweep --lr 0.1,0.2 --epochs 1
n=$(grep -c -- 'not under mpirun: the sweep runs its trials' "$tmp/sweepmpi.err")
[ "$rc" -ne 0 ] && [ "$n" -eq 1 ] && ok "mpirun -np 2 ctrain sweep -> exit $rc, refused once" ||
    bad "mpirun -np 2 sweep -> exit $rc, said $n times: $(head -c 1500 "$tmp/sweepmpi.err")"
# --lr-find is one process's probe: refused, said once
run lrfind "${MPIRUN[@]}" -np 2 "$CT" train --lr-find
n=$(grep -c -- '--lr-find: runs in one process, not under mpirun' "$tmp/lrfind.err")
[ "$rc" -ne 0 ] && [ "$n" -eq 1 ] && ok "mpirun -np 2 ctrain train --lr-find -> exit $rc, refused once" ||
    bad "mpirun -np 2 train --lr-find -> exit $rc, said $n times: $(head -c 1500 "$tmp/lrfind.err")"
# --tensorboard-every: a rank's running loss is its share's: refused, said once
run tbevery "${MPIRUN[@]}" -np 2 "$CT" train --tensorboard "$tmp/tbe" --tensorboard-every 5
n=$(grep -c -- '--tensorboard-every: not under mpirun' "$tmp/tbevery.err")
[ "$rc" -ne 0 ] && [ "$n" -eq 1 ] && [ ! -e "$tmp/tbe" ] &&
    ok "mpirun -np 2 ctrain train --tensorboard-every 5 -> exit $rc, refused once, nothing made" ||
    bad "mpirun -np 2 train --tensorboard-every -> exit $rc, said $n times: $(head -c 1500 "$tmp/tbevery.err")"
if command -v script >/dev/null; then
    script -qec "$(printf '%q ' "${MPIRUN[@]}" -np 2 "$CT" train --epochs 1 --lr 0.1 --val-size 50000 --threads 1)" \
        /dev/null >"$tmp/pty.out" 2>&1
    rc=$?
    bars=$(grep -ac 'samples/s' "$tmp/pty.out")
    [ "$rc" -eq 0 ] && [ "$bars" -eq 0 ] && grep -aq '^Epoch \[0\], val_loss' "$tmp/pty.out" &&
        ok "mpirun in a terminal: the epoch lines, no progress bar in them" ||
        bad "mpirun under a terminal -> exit $rc, $bars bar lines: $(head -c 1500 "$tmp/pty.out")"
else
    echo "SKIP mpirun in a terminal: no script(1) to give it one"
fi
grep -q 'samples/s' "$tmp/mpi2.out" "$tmp/mpi2.err" && bad "mpirun -np 2 into files: a progress bar in them" ||
    ok "mpirun -np 2 into files: no progress bar in them"

# ------------------------------------------------------------------ ranks that never finish
# These runs wait out time limits (the CLI's watchdog, MPI_Init's and MPI_Finalize's): started
# now in the background, they wait while the next cases run, and are checked after them.
# bg_run NAME CMD...: CMD in the background: NAME.out, NAME.err, its exit status in NAME.rc and
# its seconds in NAME.took; its mpirun's session files in a folder of its own (above)
bg_run() {
    local name=$1
    shift
    mkdir -p "$tmp/ompi_$name"
    (
        export OMPI_MCA_orte_tmpdir_base="$tmp/ompi_$name"
        start=$SECONDS
        "$@" >"$tmp/$name.out" 2>"$tmp/$name.err"
        echo $? >"$tmp/$name.rc"
        echo $((SECONDS - start)) >"$tmp/$name.took"
    ) &
    bg_jobs+=("$!")
}
# a poll of MPI that never returns (as when a rank stopped in the middle of writing into Open
# MPI's shared memory holds its reader; played on every rank by CTRAIN_TEST_STALL_COLLECTIVE):
# the ranks' own timeouts cannot fire, so the CLI's watchdog ends the job after
# --dist-timeout + 5 s
bg_run stall "${MPIRUN[@]}" -x CTRAIN_TEST_STALL_COLLECTIVE=1 -np 2 "$CT" train --epochs 1 --quiet \
    --threads 1 --dist-timeout 3 --val-size 59000
# a rank stopped before MPI_Init or at MPI_Finalize (the ranks' start and end, timed by the CLI)
bg_run stop_init "${MPIRUN[@]}" -np 2 bash -c '[ "$OMPI_COMM_WORLD_RANK" = 1 ] && kill -STOP $$; exec "$0" train --epochs 1 --quiet --threads 1 --dist-timeout 3' "$CT"
bg_run stop_finalize "${MPIRUN[@]}" -x CTRAIN_TEST_STOP_AT_FINALIZE=1 -np 2 "$CT" train --epochs 1 --val-size 50000 --quiet --threads 1 --dist-timeout 3

# ------------------------------------------------------------------ a killed rank ends the job
"${MPIRUN[@]}" -np 2 "$CT" train --epochs 1000 --lr 0.1 --quiet --threads 1 >"$tmp/kill.out" 2>"$tmp/kill.err" &
job=$!
kill_a_rank "$job" "$tmp/kill.out" "$tmp/kill.err" "2 ranks"

# ------------------------------------------------------------------ a stopped rank ends the job
# (the other's all-reduce waits for it, past --dist-timeout; then MPI_Abort ends the job)
"${MPIRUN[@]}" -np 2 "$CT" train --epochs 1000 --lr 0.1 --quiet --threads 1 --dist-timeout 3 \
    >"$tmp/stop.out" 2>"$tmp/stop.err" &
job=$!
# (or, where the stop holds the other inside MPI's poll, the watchdog below: 5 s later)
kill_a_rank "$job" "$tmp/stop.out" "$tmp/stop.err" "2 ranks, --dist-timeout 3" STOP \
    '^ctrain: (rank [0-9]+: )?(MPI_I[a-z]+ \(.*\) did not finish within 3 s: a rank has not joined it|an MPI collective has not returned 5 s past its time limit)' 3

# ------------------------------------------------------------------ SIGUSR1 to mpirun stops the job
# Open MPI forwards SIGUSR1 to every rank (Ctrl-C on mpirun kills them 1 s after a SIGTERM):
# the ranks stop at the same step, rank 0 checkpoints, and mpirun exits 130
"${MPIRUN[@]}" -np 2 "$CT" train --epochs 1000 --lr 0.1 --quiet --threads 1 --save "$tmp/usr1" \
    >"$tmp/usr1.out" 2>"$tmp/usr1.err" &
job=$!
# (after an epoch line: the ranks handle SIGUSR1 from the validation before training; a signal
# while they load their data ends them)
for _ in $(seq 1 600); do grep -q '^Epoch \[0\]' "$tmp/usr1.out" && break; sleep 0.1; done
kill -USR1 "$(pgrep -P "$job" -x mpirun)" 2>/dev/null
wait "$job"
rc=$?
job=""
if [ "$rc" -eq 130 ] && grep -q "^ctrain: interrupted .*; saved to $tmp/usr1$" "$tmp/usr1.err" &&
    [ -s "$tmp/usr1/model.safetensors" ] && [ -s "$tmp/usr1/train_state.safetensors" ]; then
    ok "SIGUSR1 to mpirun -> every rank stops, rank 0 checkpoints, exit 130: $(grep -m1 '^ctrain: interrupted' "$tmp/usr1.err" | sed "s|$tmp/||")"
else
    bad "SIGUSR1 to mpirun -> exit $rc: $(head -c 2000 "$tmp/usr1.err")"
fi

# ------------------------------------------------------------------ and those started above
wait "${bg_jobs[@]}"
# (their seconds include the start and the data's loading, beside the cases above: 60 at most)
rc=$(cat "$tmp/stall.rc") took=$(cat "$tmp/stall.took")
if [ "$rc" -eq 1 ] && [ "$took" -ge 8 ] && [ "$took" -le 60 ] &&
    grep -q '^ctrain: an MPI collective has not returned 5 s past its time limit (MPI itself is held' "$tmp/stall.err"; then
    ok "an MPI poll that never returns -> the watchdog ends the job, exit 1 after $took s"
else
    bad "a stalled MPI poll -> exit $rc after $took s: $(head -c 1500 "$tmp/stall.err")"
fi
for where in init finalize; do
    rc=$(cat "$tmp/stop_$where.rc") took=$(cat "$tmp/stop_$where.took")
    what=$([ "$where" = init ] && echo MPI_Init || echo MPI_Finalize)
    if [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && [ "$took" -le 60 ] &&
        grep -q "^ctrain: $what (the [a-z]* of the job) did not finish within 3 s: a rank has not reached it" "$tmp/stop_$where.err"; then
        ok "a rank stopped at $what -> the job ends, exit $rc after ${took} s: $(grep -m1 "^ctrain: $what" "$tmp/stop_$where.err" | cut -c1-90)..."
    else
        bad "a rank stopped at $what -> exit $rc after ${took} s: $(head -c 2000 "$tmp/stop_$where.err")"
    fi
done

echo
finish cli_mpi
