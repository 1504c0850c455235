#!/usr/bin/env bash
# bench/dist.sh — data-parallel training (issue 7) on this machine, and a projection of how far
# each model scales on a real network.
#
# 1. The default job (`ctrain train`: MNIST MLP, batch 128, 3 epochs here) as 1 process with
#    --threads 1 and 2, and as `mpirun -np 2` with --threads 1 per rank: seconds per epoch
#    (median of the run's epochs, best of BENCH_REPS runs) and samples/s (50000 / that).
# 2. build/bench_dist (bench/dist_step.c) for the MLP and the `cnn` preset with 1 and 2 ranks:
#    seconds per step, the all-reduce's seconds per step, and the bytes all-reduced per step
#    (4 × parameters: one all-reduce over the contiguous gradient buffer); then the all-reduce
#    alone over shared memory and over TCP (fastest and median of 200 calls).
# 3. A projection for N ranks on a BENCH_GBPS (25) Gb/s network with the global batch fixed
#    (strong scaling, as `mpirun -np N ctrain train --batch-size 128`): compute per step
#    t1 / N (t1: one rank's measured step), ring all-reduce 2(N-1)/N × bytes / bandwidth +
#    2(N-1) × BENCH_LATENCY_US (5 µs per message); the largest N where the all-reduce still
#    takes less time than the compute, and the speed-up t1 / (t1/N + all-reduce) there.
#
# Prints markdown to stdout (and bench/out/dist.md). Nothing is asserted: it only measures.
# Environment: BENCH_REPS=3, BENCH_CNN_STEPS=6, BENCH_GBPS=25, BENCH_LATENCY_US=5,
# BENCH_BUILD=build, CTRAIN_DATA (the MNIST folder).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
BUILD=${BENCH_BUILD:-build}
REPS=${BENCH_REPS:-3}
CNN_STEPS=${BENCH_CNN_STEPS:-6}
GBPS=${BENCH_GBPS:-25}
LAT_US=${BENCH_LATENCY_US:-5}
CT=$BUILD/ctrain
mkdir -p bench/out
exec > >(tee bench/out/dist.md)

[ -x "$CT" ] || { echo "bench/dist.sh: build first (make build)"; exit 1; }
if ! ldd "$BUILD/libctrain.so" | grep -q libmpi; then
    echo "bench/dist.sh: $BUILD was built without MPI (install libopenmpi-dev openmpi-bin, rebuild)"
    exit 1
fi
cmake --build "$BUILD" --target bench_dist >/dev/null || exit 1
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
MPIRUN=(mpirun --bind-to none)

echo "# Data-parallel training: $(nproc) cores, $(mpirun --version 2>&1 | head -1), $(date -u +%Y-%m-%dT%H:%MZ)"
echo
echo "Load average before: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine slows the MPI runs most:"
echo "a rank waiting in the all-reduce spins, and every step waits for the slowest rank)."
echo

# ------------------------------------------------------------------ 1. the default job
# best_epoch_s CMD...: the smallest "(S s/epoch)" over REPS runs
best_epoch_s() {
    local best="" s
    for _ in $(seq 1 "$REPS"); do
        s=$("$@" 2>/dev/null | sed -n 's/^Training time: .*(\([0-9.]*\) s\/epoch)$/\1/p')
        [ -n "$s" ] && { [ -z "$best" ] || awk -v a="$s" -v b="$best" 'BEGIN{exit !(a<b)}'; } && best=$s
    done
    echo "${best:-nan}"
}
JOB=(train --epochs 3 --lr 0.5 --quiet)
echo "## The default job (MLP, batch 128, 50000 images per epoch)"
echo
echo "| run | s/epoch (best of $REPS) | samples/s |"
echo "| --- | --- | --- |"
for cfg in "1 process, --threads 1|$CT ${JOB[*]} --threads 1" \
           "1 process, --threads 2|$CT ${JOB[*]} --threads 2" \
           "mpirun -np 2, --threads 1 each|${MPIRUN[*]} -np 2 $CT ${JOB[*]} --threads 1" \
           "mpirun -np 2 --mca btl tcp,self, --threads 1 each|${MPIRUN[*]} --mca btl tcp,self -np 2 $CT ${JOB[*]} --threads 1"; do
    name=${cfg%%|*}
    # shellcheck disable=SC2086
    s=$(best_epoch_s ${cfg#*|})
    echo "| $name | $s | $(awk -v s="$s" 'BEGIN{ if (s+0 > 0) printf "%.0f", 50000 / s; else print "-" }') |"
done
echo

# ------------------------------------------------------------------ 2. per-step costs
# best_step ARGS...: the bench_dist line with the smallest step_ms over REPS runs
best_step() {
    local best="" line
    for _ in $(seq 1 "$REPS"); do
        line=$("$@" 2>/dev/null | grep '^spec=')
        [ -z "$line" ] && continue
        if [ -z "$best" ] || awk -v a="$(sed 's/.*step_ms=\([0-9.]*\).*/\1/' <<<"$line")" \
            -v b="$(sed 's/.*step_ms=\([0-9.]*\).*/\1/' <<<"$best")" 'BEGIN{exit !(a<b)}'; then
            best=$line
        fi
    done
    echo "$best"
}
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<" $2"; }
echo "## One training step (bench_dist: batch 128, 1 thread per rank, best of $REPS)"
echo
echo "| model | parameters | bytes all-reduced per step | ranks | ms per step | all-reduce ms per step | samples/s |"
echo "| --- | --- | --- | --- | --- | --- | --- |"
declare -A T1 BYTES PARAMS
for model in mlp cnn; do
    steps=391
    [ "$model" = cnn ] && steps=$CNN_STEPS
    for np in 1 2; do
        if [ "$np" -eq 1 ]; then line=$(best_step "$BUILD/bench_dist" $model 128 "$steps" 1)
        else line=$(best_step "${MPIRUN[@]}" -np "$np" "$BUILD/bench_dist" $model 128 "$steps" 1); fi
        [ -z "$line" ] && { echo "| $model | - | - | $np | failed | - | - |"; continue; }
        echo "| $model | $(field params "$line") | $(field allreduce_bytes_per_step "$line") | $np |" \
             "$(field step_ms "$line") | $(field allreduce_ms_per_step "$line") | $(field samples_per_s "$line") |"
        if [ "$np" -eq 1 ]; then
            T1[$model]=$(field step_ms "$line")
            BYTES[$model]=$(field allreduce_bytes_per_step "$line")
            PARAMS[$model]=$(field params "$line")
        fi
    done
done
echo

# ------------------------------------------------------------------ 2b. the all-reduce alone
echo "## The all-reduce alone (2 ranks, $((200)) calls: fastest / median)"
echo
echo "| bytes | shared memory µs | TCP (--mca btl tcp,self) µs |"
echo "| --- | --- | --- |"
for model in mlp cnn; do
    [ -n "${PARAMS[$model]:-}" ] || continue
    shm=$("${MPIRUN[@]}" -np 2 "$BUILD/bench_dist" --allreduce "${PARAMS[$model]}" 2>/dev/null)
    tcp=$("${MPIRUN[@]}" --mca btl tcp,self -np 2 "$BUILD/bench_dist" --allreduce "${PARAMS[$model]}" 2>/dev/null)
    echo "| $((4 * PARAMS[$model])) ($model) | $(field min_us "$shm") / $(field median_us "$shm") |" \
         "$(field min_us "$tcp") / $(field median_us "$tcp") |"
done
echo

# ------------------------------------------------------------------ 3. projection
echo "## Projection: N ranks on a $GBPS Gb/s network, global batch 128"
echo
echo "Compute per step t1/N (t1: one rank, 1 thread, measured above); ring all-reduce"
echo "2(N-1)/N × bytes / bandwidth + 2(N-1) × ${LAT_US} µs. \"Scales to\": the largest N (≤ 128, one"
echo "row per rank at least) where the all-reduce takes less time than the compute."
echo
echo "| model | t1 ms | all-reduce ms at N=2 / 8 / 64 | scales to N | speed-up there |"
echo "| --- | --- | --- | --- | --- |"
for model in mlp cnn; do
    [ -n "${T1[$model]:-}" ] || continue
    awk -v t1="${T1[$model]}" -v bytes="${BYTES[$model]}" -v gbps="$GBPS" -v lat="$LAT_US" -v model="$model" '
        function comm(n) { return n == 1 ? 0 : (2 * (n - 1) / n * bytes * 8 / (gbps * 1e9) + 2 * (n - 1) * lat * 1e-6) * 1e3 }
        BEGIN {
            best = 1
            for (n = 2; n <= 128; n++) if (comm(n) < t1 / n) best = n
            printf "| %s | %.3f | %.3f / %.3f / %.3f | %d | %.1fx |\n", model, t1, comm(2), comm(8), comm(64),
                   best, t1 / (t1 / best + comm(best))
        }'
done
echo
echo "Load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
