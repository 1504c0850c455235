#!/usr/bin/env bash
# cli_cuda_emu.sh — `ctrain --device cuda` on the CUDA emulator (tests/cuda_emu: the CUDA
# plugin's own sources built for the CPU): the tool's GPU paths, end to end, without a GPU.
#   - devices lists the emulated GPU and auto picks it
#   - the default job (1 epoch) on cuda gives the CPU's results, along every path a GPU takes:
#     the fused MLP step (the default: one cooperative launch an epoch; and three launches a
#     step, CTRAIN_CUDA_MLP_LAUNCH=phases), the layers' ops with recorded graphs
#     (CTRAIN_CUDA_FUSED=0) and not recorded (CTRAIN_CUDA_GRAPH=0), streamed by loader workers
#     (--data-on-device off)
#   - the cnn preset on a small MNIST cut: cuda (the emulator's cuDNN, and im2col without it) as
#     the CPU; its checkpoint evaluates on the CPU
#   - a ResNet (residual blocks, identity and projection shortcuts, global pooling) as the CPU
#   - onecycle's cycled momentum (SGD's, fused; Adam's beta1, the layers' ops) as the CPU
#   - --ema (the moving average of the weights, batch norm's statistics too) as the CPU
#   - RMSprop as the CPU
#   - little device memory: data streamed instead of resident, out of memory in one line; a
#     batch too large for it trains with --micro-batch (pointed at by the error) as the CPU does
#   - mpirun -np 2 --device cuda as 1 process: with NCCL (the emulator's) on 2 emulated GPUs,
#     through MPI when 2 ranks share 1; a killed rank ends the job, and so do a broken link and
#     a stopped rank (--dist-timeout)
# Usage: bash tests/cli_cuda_emu.sh path/to/ctrain path/to/libctrain_cuda_emu.so
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/clilib.sh"
. "$HERE/small_mnist.sh"
CT=${1:?usage: bash cli_cuda_emu.sh path/to/ctrain path/to/libctrain_cuda_emu.so}
export CTRAIN_CUDA_PLUGIN=${2:?usage: bash cli_cuda_emu.sh path/to/ctrain path/to/libctrain_cuda_emu.so}
tmp=$(mktemp -d)
job=""
trap '[ -n "$job" ] && kill -KILL "$job" 2>/dev/null; rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1

# train NAME ARGS...: `ctrain train ARGS` with stdout in NAME.out, stderr in NAME.err, $rc
train() {
    local name=$1
    shift
    "$@" >"$tmp/$name.out" 2>"$tmp/$name.err"
    rc=$?
    [ "$rc" -eq 0 ] || bad "$name: exit $rc: $(head -c 1500 "$tmp/$name.err")"
}
compare() { # compare A B TOL WHAT
    if same "$1" "$2" "$3"; then ok "$4: the same results (largest difference $(cat "$tmp/worst"), tolerance $3)"
    else bad "$4: results differ: $(results "$1" | tr '\n' ' ') vs $(results "$2" | tr '\n' ' ')"; fi
}
nlines() { printf '%s' "$1" | grep -c ''; }
has() { grep -q "$2" "$tmp/$1.out" && ok "$1: '$2'" || bad "$1: no '$2' in: $(head -c 1500 "$tmp/$1.out")"; }

# ------------------------------------------------------------------ devices
run devices
if [ "$rc" -eq 0 ] && grep -q '^cuda:0 .*ctrain CUDA emulator' <<<"$out" && grep -q '^auto: cuda' <<<"$out"; then
    ok "devices: lists the emulated GPU, auto picks it"
else
    bad "devices: exit $rc: $out $err"
fi

CTRAIN_CUDA_PLUGIN=$tmp/none.so run train --device cuda --epochs 1
if [ "$rc" -eq 1 ] && [ "$err" = "ctrain: --device cuda: CTRAIN_CUDA_PLUGIN=$tmp/none.so: no such file" ]; then
    ok "a missing CTRAIN_CUDA_PLUGIN file -> exit 1, one line naming it"
else
    bad "CTRAIN_CUDA_PLUGIN=missing: exit $rc, stderr: $err"
fi
# a plugin of another build of ctrain (its op table another size) is refused, not called
fake=${CTRAIN_BUILD_DIR:-$(dirname "$CT")}/libct_fake_cuda_plugin.so
for dev in cuda auto; do
    CTRAIN_CUDA_PLUGIN=$fake run train --device $dev --epochs 1
    if [ "$rc" -eq 1 ] && [ "$(nlines "$err")" -eq 1 ] &&
        grep -q "^ctrain: --device $dev: the CUDA plugin $fake is from another build of ctrain (its op table [0-9]* bytes, this one's [0-9]*): rebuild it (make)$" <<<"$err"; then
        ok "--device $dev with a plugin of another build -> exit 1: $err"
    else
        bad "--device $dev, CTRAIN_CUDA_PLUGIN=$fake: exit $rc, stderr: $err"
    fi
done

# ------------------------------------------------------------------ the default job, 1 epoch
dir=$("$CT" data path)
have_mnist=1
for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
    [ -e "$dir/$f" ] || [ -e "$dir/$f.gz" ] || have_mnist=0
done
if [ "$have_mnist" -eq 0 ]; then
    echo "SKIP mnist: no MNIST in $dir (run: ctrain data fetch mnist): no default-job, cnn or mpirun runs"
    finish cli_cuda_emu
    exit $?
fi
JOB=(train --epochs 1 --threads 1)
train cpu "$CT" "${JOB[@]}" --device cpu
train fused "$CT" "${JOB[@]}" --device cuda
has fused "^Device: cuda (CUDA: ctrain CUDA emulator"
has fused "^Fused step: on (the MLP's fused kernels: one cooperative kernel of [0-9]* blocks* a run of steps)$"
has fused "^Step graphs: not used (the fused step launches a run of steps at once)"
compare cpu fused 0.002 "default job on cuda (fused step: one cooperative launch an epoch) vs cpu"
CTRAIN_CUDA_MLP_LAUNCH=phases train phases "$CT" "${JOB[@]}" --device cuda
has phases "^Fused step: on (the MLP's fused kernels: three launches a step (CTRAIN_CUDA_MLP_LAUNCH=phases))$"
compare fused phases 0 "fused step, three launches a step (CTRAIN_CUDA_MLP_LAUNCH=phases) vs cooperative"
CTRAIN_CUDA_FUSED=0 train layers "$CT" "${JOB[@]}" --device cuda
has layers "^Fused step: off (CTRAIN_CUDA_FUSED=0)"
has layers "^Step graphs: 389 training steps replayed"
compare cpu layers 0.002 "the layers' ops, graphs (CTRAIN_CUDA_FUSED=0) vs cpu"
CTRAIN_CUDA_FUSED=0 CTRAIN_CUDA_GRAPH=0 train nograph "$CT" "${JOB[@]}" --device cuda
has nograph "^Step graphs: off (CTRAIN_CUDA_GRAPH=0)"
compare cpu nograph 0.002 "the layers' ops, not recorded (CTRAIN_CUDA_GRAPH=0) vs cpu"
train streamed "$CT" "${JOB[@]}" --device cuda --data-on-device off
has streamed "streamed by the loader"
compare cpu streamed 0.002 "streamed (--data-on-device off) vs cpu"
# the compute stream run as soon as issued and the copy stream as late as it may: a step that
# did not wait for its batch's upload would read the staging buffer's old bytes
CTRAIN_CUDA_EMU_EAGER=1 train eager "$CT" "${JOB[@]}" --device cuda --data-on-device off
compare cpu eager 0.002 "streamed, compute eager and copies late (CTRAIN_CUDA_EMU_EAGER=1) vs cpu"

# ------------------------------------------------------------------ cnn on a small cut
small_mnist "$dir" "$tmp/small" 1280 512 || bad "could not cut a small MNIST from $dir"
# (the emulator runs cnn's kernels slowly: 512 training images)
small_mnist "$dir" "$tmp/cnn" 768 256 || bad "could not cut a small MNIST from $dir"
SMALL=(train --dataset idx --data "$tmp/cnn" --val-size 256 --model cnn --epochs 2 --lr 0.05 --threads 1)
train cnn_cpu "$CT" "${SMALL[@]}" --device cpu
train cnn_cuda "$CT" "${SMALL[@]}" --device cuda --save "$tmp/ck"
compare cnn_cpu cnn_cuda 0.002 "cnn, 2 epochs on 512 images at lr 0.05: cuda vs cpu"
# TrivialAugmentWide (and a flip and erasing) in the gather kernel, recorded in step graphs
TA=(train --dataset idx --data "$tmp/small" --val-size 256 --epochs 2 --threads 1
    --augment flip,trivial,erase=0.2)
train ta_cpu "$CT" "${TA[@]}" --device cpu
train ta_cuda "$CT" "${TA[@]}" --device cuda
compare ta_cpu ta_cuda 0.002 "--augment flip,trivial,erase=0.2, 2 epochs: cuda vs cpu"
# RandAugment's chain of ops (bytes in the kernel's workspace), with MixUp's partners
RA=(train --dataset idx --data "$tmp/small" --val-size 256 --epochs 2 --threads 1
    --augment randaugment=3:12,bilinear --mixup-alpha 0.2)
train ra_cpu "$CT" "${RA[@]}" --device cpu
train ra_cuda "$CT" "${RA[@]}" --device cuda
compare ra_cpu ra_cuda 0.002 "--augment randaugment=3:12,bilinear --mixup-alpha 0.2: cuda vs cpu"
# AugMix's chains and mix (its sums in the workspace), with CutMix's partners
AM=(train --dataset idx --data "$tmp/small" --val-size 256 --epochs 2 --threads 1
    --augment augmix,bilinear,erase=0.2 --cutmix-alpha 1)
train am_cpu "$CT" "${AM[@]}" --device cpu
train am_cuda "$CT" "${AM[@]}" --device cuda
compare am_cpu am_cuda 0.002 "--augment augmix,bilinear,erase=0.2 --cutmix-alpha 1: cuda vs cpu"
has cnn_cuda "^Device: cuda (CUDA: .*, cuDNN 0.0.0)"
# a cuDNN that loads but cannot run (a driver too old for it, say): its test convolution at
# start-up fails, and convolutions go by im2col
CTRAIN_CUDA_EMU_CUDNN_BROKEN=1 run devices
if [ "$rc" -eq 0 ] && grep -q "no cuDNN (it fails here, a test convolution: CUDNN_STATUS_EXECUTION_FAILED): convolutions by im2col" <<<"$out"; then
    ok "a cuDNN that cannot run is found out at start-up: im2col, and devices says why"
else
    bad "a broken cuDNN: exit $rc, devices said: $out $err"
fi
# without cuDNN (as where libcudnn is missing): convolutions by im2col and cuBLAS, the same numbers
# (1 epoch: im2col's kernels are the emulator's slowest, 11 s for 2)
train cnn_cpu1 "$CT" "${SMALL[@]}" --epochs 1 --device cpu
CTRAIN_CUDNN=0 train cnn_im2col "$CT" "${SMALL[@]}" --epochs 1 --device cuda
has cnn_im2col "^Device: cuda (CUDA: .*, no cuDNN (CTRAIN_CUDNN=0): convolutions by im2col)"
compare cnn_cpu1 cnn_im2col 0.002 "cnn on cuda without cuDNN (CTRAIN_CUDNN=0), 1 epoch, vs cpu"
run eval --model "$tmp/ck" --dataset idx --data "$tmp/cnn" --device cpu
acc=$(grep -o 'test_acc: [0-9.]*' "$tmp/cnn_cuda.out")
if [ "$rc" -eq 0 ] && [ -n "$acc" ] && grep -qF "$acc" <<<"$out"; then
    ok "the cuda run's checkpoint evaluates on the cpu to its test accuracy"
else
    bad "eval on cpu of the cuda checkpoint: exit $rc: $out $err"
fi

# ------------------------------------------------------------------ residual blocks
RES=(train --dataset idx --data "$tmp/cnn" --val-size 256 --epochs 2 --lr 0.1 --momentum 0.9 --threads 1
     --model "conv(8,3,1,1,0),batchnorm,relu,residual(conv(8,3,1,1,0),batchnorm,relu,conv(8,3,1,1,0),batchnorm),relu,residual(conv(16,3,2,1,0),batchnorm,relu,conv(16,3,1,1,0),batchnorm),relu,globalavgpool,linear(10)")
train res_cpu "$CT" "${RES[@]}" --device cpu
train res_cuda "$CT" "${RES[@]}" --device cuda
has res_cuda "^Step graphs: [1-9]"
compare res_cpu res_cuda 0.002 "a ResNet, 2 epochs on 512 images: cuda (graphs, cuDNN) vs cpu"

# ------------------------------------------------------------------ a cycled momentum
# onecycle's momentum (Adam's beta1) changes every step: the fused MLP step and the layers' ops
# read it from the step table as the CPU does
OCY=(train --dataset idx --data "$tmp/small" --val-size 256 --epochs 2 --threads 1 --lr-schedule onecycle)
train oc_cpu "$CT" "${OCY[@]}" --lr 0.5 --nesterov --device cpu
train oc_cuda "$CT" "${OCY[@]}" --lr 0.5 --nesterov --device cuda
has oc_cuda "^Fused step: on"
compare oc_cpu oc_cuda 0.002 "onecycle, SGD's momentum cycled, the fused MLP step: cuda vs cpu"
train oca_cpu "$CT" "${OCY[@]}" --lr 0.01 --optimizer adam --device cpu
CTRAIN_CUDA_FUSED=0 train oca_cuda "$CT" "${OCY[@]}" --lr 0.01 --optimizer adam --device cuda
compare oca_cpu oca_cuda 0.002 "onecycle, Adam's beta1 cycled, the layers' ops: cuda vs cpu"

# ------------------------------------------------------------------ the moving average of weights
# --ema: a batch norm MLP whose steps replay recorded graphs (the average's update among their
# ops, its decay from the step table); validation and the test evaluate the average, as the CPU
EMA=(train --dataset idx --data "$tmp/small" --val-size 256 --epochs 2 --threads 1 --lr 0.2
     --model "flatten,linear(32),batchnorm,relu,linear(10)" --ema 0.9)
train ema_cpu "$CT" "${EMA[@]}" --device cpu
train ema_cuda "$CT" "${EMA[@]}" --device cuda
has ema_cuda "^Step graphs: [1-9][0-9]* training steps replayed"
compare ema_cpu ema_cuda 0.002 "--ema 0.9, batch norm, recorded steps: cuda vs cpu"

# RMSprop (centered; one-cycle's lr and momentum, which reaches 0, from the step table) on the
# layers' ops, its steps replayed from recorded graphs
RMS=(train --dataset idx --data "$tmp/small" --val-size 256 --epochs 2 --threads 1 --lr 0.003
     --optimizer rmsprop --centered --lr-schedule onecycle --cycle-momentum 0,0.9)
train rms_cpu "$CT" "${RMS[@]}" --device cpu
train rms_cuda "$CT" "${RMS[@]}" --device cuda
has rms_cuda "^Fused step: off (RMSprop: the fused step has SGD and Adam)"
compare rms_cpu rms_cuda 0.002 "RMSprop, centered, one-cycle's lr and momentum: cuda vs cpu"

# ------------------------------------------------------------------ little device memory
# (32 MiB of it go to cuBLAS's workspace) data that would take over a quarter of what is free
# is streamed, and the run says why; --data-on-device on then runs out, in one line with sizes
TINY=(train --dataset idx --data "$tmp/small" --val-size 256 --epochs 1 --threads 1 --device cuda)
CTRAIN_CUDA_EMU_MEM_MIB=36 train lowmem "$CT" "${TINY[@]}"
has lowmem "streamed by the loader (1.0 MB is over a quarter of the device's .* free"
CTRAIN_CUDA_EMU_MEM_MIB=33 run "${TINY[@]}" --data-on-device on
if [ "$rc" -eq 1 ] && [ "$(nlines "$err")" -eq 1 ] &&
    grep -qE '^ctrain: CUDA out of memory: asked for [0-9.]+ MiB, [0-9.]+ MiB free of 33.0 MiB' <<<"$err"; then
    ok "out of device memory -> exit 1, one line with what was asked and what is free"
else
    bad "out of device memory: exit $rc, stderr: $err"
fi
# a batch whose activations do not fit: the error points at --micro-batch, which then trains it
# (pieces of 16, validation too), replaying recorded steps, as the CPU does in pieces
WIDE=(train --dataset idx --data "$tmp/small" --val-size 256 --epochs 1 --threads 1 --batch-size 256
      --model "conv(32,3,1,1),relu,flatten,linear(10)")
CTRAIN_CUDA_EMU_MEM_MIB=48 run "${WIDE[@]}" --device cuda
if [ "$rc" -eq 1 ] && grep -q '^ctrain: CUDA out of memory: .*hint: --micro-batch N' <<<"$err"; then
    ok "a batch of 256 too large for the device -> exit 1, pointing at --micro-batch"
else
    bad "a batch too large for the device: exit $rc, stderr: $err"
fi
CTRAIN_CUDA_EMU_MEM_MIB=48 train wide_cuda "$CT" "${WIDE[@]}" --device cuda --micro-batch 16
train wide_cpu "$CT" "${WIDE[@]}" --device cpu --micro-batch 16
has wide_cuda "^Step graphs: [1-9][0-9]* training steps replayed"
compare wide_cpu wide_cuda 0.002 "--micro-batch 16 in 48 MiB of device memory: cuda vs cpu"

# ------------------------------------------------------------------ 2 ranks on cuda
# two emulated GPUs: NCCL (the emulator's, through shared memory); one GPU for two ranks: NCCL
# refuses it and every rank falls back to MPI through host memory
if command -v mpirun >/dev/null && mpirun --version 2>&1 | grep -q 'Open MPI' &&
    { ldd "$(dirname "$CT")/libctrain.so" 2>/dev/null || ldd "$CT"; } | grep -q libmpi; then
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
    # (its session files here: not raced for with cli_mpi's mpiruns, see there)
    mkdir -p "$tmp/ompi" && export OMPI_MCA_orte_tmpdir_base="$tmp/ompi"
    # (a failed job's ranks killed at once, shared memory only: as cli_mpi's, see there)
    export OMPI_MCA_odls_base_sigkill_timeout=0 OMPI_MCA_btl=self,vader OMPI_MCA_pml=ob1
    # Open MPI keeps memory until exit; a sanitizer build should not count that as our leak
    export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0
    MPIRUN=(timeout 120 mpirun --bind-to none -np 2)
    MLP=(train --dataset idx --data "$tmp/small" --val-size 256 --epochs 2 --threads 1 --device cuda)
    train one "$CT" "${MLP[@]}"
    CTRAIN_CUDA_EMU_DEVICES=2 train nccl "${MPIRUN[@]}" "$CT" "${MLP[@]}"
    has nccl "^Gradients: summed across ranks with NCCL .* on the GPUs (one per rank)"
    compare one nccl 0.002 "mpirun -np 2 --device cuda, NCCL on 2 GPUs, vs 1 process"
    train shared "${MPIRUN[@]}" "$CT" "${MLP[@]}"
    has shared "^Gradients: summed across ranks with MPI_Allreduce through host memory (NCCL not used: .*two ranks on one device"
    compare one shared 0.002 "mpirun -np 2 --device cuda, 1 GPU (MPI through the host), vs 1 process"
    # a rank killed while the other waits in the NCCL all-reduce: mpirun ends the job
    CTRAIN_CUDA_EMU_DEVICES=2 "${MPIRUN[@]}" "$CT" "${MLP[@]}" --epochs 1000 --quiet >"$tmp/kill.out" 2>"$tmp/kill.err" &
    job=$!
    kill_a_rank "$job" "$tmp/kill.out" "$tmp/kill.err" "NCCL on 2 emulated GPUs"
    # a rank stopped (neither dead nor erring) while the other waits in the NCCL all-reduce or
    # in MPI: past --dist-timeout the watchdog aborts NCCL (or MPI gives up) and the job ends
    CTRAIN_CUDA_EMU_DEVICES=2 "${MPIRUN[@]}" "$CT" "${MLP[@]}" --epochs 1000 --quiet \
        --dist-timeout 3 >"$tmp/stop.out" 2>"$tmp/stop.err" &
    job=$!
    kill_a_rank "$job" "$tmp/stop.out" "$tmp/stop.err" "NCCL on 2 emulated GPUs, --dist-timeout 3" \
        STOP '^ctrain: (rank [0-9]+: )?(an all-reduce of the gradients has not finished|MPI_I[a-z]+ \(.*\) did not finish) within 3 s' 3
    # a broken link on rank 1 (NCCL's asynchronous error; its all-reduce never completes): rank
    # 1's watchdog aborts NCCL, rank 1 says why, and the job ends (MPI_Abort) instead of hanging
    start=$SECONDS
    CTRAIN_CUDA_EMU_NCCL_FAIL=1:3 CTRAIN_CUDA_EMU_DEVICES=2 "${MPIRUN[@]}" "$CT" "${MLP[@]}" \
        --quiet >"$tmp/link.out" 2>"$tmp/link.err"
    rc=$? took=$((SECONDS - start))
    if [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && [ "$took" -lt 60 ] &&
        grep -q '^ctrain: rank 1: NCCL reported an error while the GPUs were summing gradients: .*the communicator was aborted' "$tmp/link.err"; then
        ok "a broken NCCL link on rank 1 -> rank 1 says so and the job ends (exit $rc, ${took} s)"
    else
        bad "a broken NCCL link: exit $rc after ${took} s, stderr: $(head -c 600 "$tmp/link.err")"
    fi
    leftover=$(ls /dev/shm 2>/dev/null | grep -c '^ctrain-emu-nccl-')
    [ "$leftover" -eq 0 ] && ok "no shared-memory segment left behind" ||
        bad "$leftover ctrain-emu-nccl-* segments left in /dev/shm"
else
    echo "SKIP mpirun: no Open MPI mpirun, or ctrain built without MPI"
fi

finish cli_cuda_emu
