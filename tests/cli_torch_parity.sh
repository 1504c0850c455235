#!/usr/bin/env bash
# cli_torch_parity.sh — ctrain trains as PyTorch does, epoch by epoch: every optimizer (SGD plain,
# with momentum, Nesterov and weight decay, Adam with and without L2, AdamW with its default
# weight decay, RMSprop plain and with every option), every lr schedule (phases, StepLR,
# CosineAnnealingLR, OneCycleLR with and without its momentum cycling, ReduceLROnPlateau (on val_loss and, mode="max", val_acc),
# ExponentialLR, MultiStepLR, PolynomialLR, CyclicLR (its momentum or Adam's beta1 cycled), CosineAnnealingWarmRestarts,
# LinearLR and ConstantLR warm-up alone and multiplying each of
# them), clip_grad_norm_, CrossEntropyLoss's label smoothing, Keras' class weights, MixUp and CutMix, the moving average of weights (torchvision's ExponentialMovingAverage),
# stochastic weight averaging (torch.optim.swa_utils' AveragedModel, SWALR and update_bn: the
# saved model too),
# BatchNorm MLPs, a ResNet and frozen layers (--freeze), each run's --log (lr, train_loss, train_acc, val_loss, val_acc per epoch)
# against a plain PyTorch loop (tests/torch_parity.py) from the same weights (--init, a
# state_dict PyTorch wrote), on 600 MNIST images. Mostly full-batch (--batch-size = the training
# images: one step an epoch, its gradient independent of the order); ctrain's seeded
# train/validation split and its epoch order are reproduced in Python, so val_loss (and the
# plateau schedule on it) and runs of several batches an epoch are compared too. Losses must
# agree to a relative 1e-4, lrs to 1e-6, accuracies to one image (they agree to 1e-6 and
# exactly). Skips when /usr/bin/python3 cannot import torch, or without MNIST.
# Usage: bash tests/cli_torch_parity.sh path/to/ctrain
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/clilib.sh"
. "$here/small_mnist.sh"
CT=${1:?usage: bash cli_torch_parity.sh path/to/ctrain}
CT=$(cd "$(dirname "$CT")" && pwd)/$(basename "$CT")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1

torch_or_skip cli_torch_parity
dir=$("$CT" data path) || { echo "FAIL - ctrain data path"; exit 1; }
small_mnist "$dir" "$tmp/small" 600 10 || { echo "SKIP cli_torch_parity: no MNIST in $dir"; exit 0; }
echo "torch: $("$PY" -c 'import torch; print(torch.__version__)')"

mlp="flatten,linear(16),relu,linear(10)"
bn="flatten,linear(16),batchnorm,relu,linear(10)"
bn2="flatten,linear(16),relu,batchnorm,linear(10)"
res="conv(4,3,1,1,0),batchnorm,relu,residual(conv(4,3,1,1,0),batchnorm,relu,conv(4,3,1,1,0),batchnorm),relu,residual(conv(8,3,2,1,0),batchnorm,relu,conv(8,3,1,1,0),batchnorm),relu,globalavgpool,linear(10)"
# MobileNet's inverted residual (expand, depthwise, project; ReLU6, Hardswish; MobileNetV3's
# squeeze-and-excitation), a grouped strided conv, SiLU and Hardsigmoid, EfficientNet's
# squeeze-and-excitation
mob="conv(4,3,1,1,0),batchnorm,relu6,residual(conv(12,1,1,0,0),batchnorm,hardswish,conv(12,3,1,1,0,12),batchnorm,relu6,se(4,relu,hardsigmoid),conv(4,1,1,0,0),batchnorm),conv(8,3,2,1,0,2),batchnorm,silu,se(2,silu),globalavgpool,linear(16),hardsigmoid,linear(10)"
# GroupNorm (on images and on features) and LayerNorm (on an image: a weight per value; on
# features)
norms="conv(4,3,1,1,0),groupnorm(2),relu,maxpool(2),conv(8,3,2,1),layernorm,tanh,flatten,linear(16),groupnorm(4,0.001),relu,linear(12),layernorm,linear(10)"
# a vision transformer: 7x7 patches as 16 tokens, a class token, position embeddings, an encoder
# block (nn.MultiheadAttention of two heads, each token's LayerNorm and MLP), the class token's
# features to the head
vit="conv(8,7,7,0),tokens,clstoken,posembed,residual(layernorm(1e-6),attention(2)),residual(layernorm(1e-6),linear(16),gelu,linear(8)),layernorm,clspool,linear(10)"
"$PY" "$here/torch_parity.py" init "$tmp/mlp.safetensors" "$mlp" 1 "$tmp/bn.safetensors" "$bn" 1 \
    "$tmp/bn2.safetensors" "$bn2" 1 "$tmp/res.safetensors" "$res" 1 "$tmp/mob.safetensors" "$mob" 1 \
    "$tmp/norms.safetensors" "$norms" 1 "$tmp/vit.safetensors" "$vit" 1 ||
    { bad "torch_parity.py init"; finish cli_torch_parity; exit; }

# case NAME FLAGS...: trains with ctrain (full batch: 500 training images, 100 held out, unless
# FLAGS say otherwise) into $tmp/NAME.log and adds the case to $tmp/cases for the comparison
: >"$tmp/cases"
case_() {
    local name=$1 f
    shift
    f=(--model "$mlp" --init "$tmp/mlp.safetensors" --val-size 100 --batch-size 500 --seed 7)
    f+=("$@")
    run train --dataset idx --data "$tmp/small" --threads 1 --workers 0 --quiet \
        --log "$tmp/$name.log" "${f[@]}"
    if [ "$rc" -ne 0 ]; then
        bad "$name: ctrain train ${f[*]} exited $rc: $err"
        return
    fi
    printf '%s|%s|%s\n' "$name" "$tmp/$name.log" "$(printf '%q ' "${f[@]}")" >>"$tmp/cases"
}

# optimizers
case_ sgd --epochs 5 --lr 0.5
case_ sgd_val0 --epochs 5 --lr 0.5 --val-size 0 --batch-size 600
case_ sgd_eval_batches --epochs 5 --lr 0.5 --eval-batch-size 32 --seed 3
case_ sgd_momentum_wd --epochs 5 --lr 0.2 --momentum 0.9 --weight-decay 0.01
case_ sgd_nesterov_wd --epochs 5 --lr 0.2 --momentum 0.9 --nesterov --weight-decay 0.01
case_ adam --optimizer adam --epochs 5 --lr 0.01
case_ adam_l2_betas_eps --optimizer adam --epochs 5 --lr 0.01 --weight-decay 0.05 \
    --betas 0.8,0.99 --eps 1e-6
case_ adamw --optimizer adamw --epochs 5 --lr 0.01
case_ adamw_wd --optimizer adamw --epochs 5 --lr 0.01 --weight-decay 0.5
# AMSGrad (its max_exp_avg_sq), Adam's and AdamW's (beta2 0.9 and a high lr: the largest
# second moment soon differs from the current one, so that plain Adam would fail the case)
case_ adam_amsgrad --optimizer adam --amsgrad --epochs 6 --lr 0.05 --betas 0.9,0.9 \
    --weight-decay 0.01
case_ adamw_amsgrad_batches --optimizer adamw --amsgrad --epochs 3 --lr 0.01 --batch-size 100
# NAdam: PyTorch 2's (tests/torch_parity.py's NAdam2: 1.13's torch.optim.NAdam has a mu too many)
case_ nadam --optimizer nadam --epochs 5 --lr 0.01
case_ nadam_l2_batches --optimizer nadam --epochs 3 --lr 0.005 --weight-decay 0.05 \
    --betas 0.8,0.99 --eps 1e-6 --momentum-decay 0.1 --batch-size 100
case_ nadam_cosine_warmup --optimizer nadam --lr-schedule cosine --warmup-epochs 2 --epochs 5 \
    --lr 0.01
# RAdam (its first 5 updates the momentum alone, then rectified), Adamax, Adagrad
case_ radam --optimizer radam --epochs 5 --lr 0.01
case_ radam_l2_batches_onecycle --optimizer radam --batch-size 100 --lr-schedule onecycle \
    --epochs 3 --lr 0.01 --weight-decay 0.05 --betas 0.8,0.99
case_ adamax --optimizer adamax --epochs 5 --lr 0.01
case_ adamax_l2_batches --optimizer adamax --epochs 3 --lr 0.005 --weight-decay 0.05 \
    --betas 0.8,0.99 --eps 1e-6 --batch-size 100
case_ adagrad --optimizer adagrad --epochs 5 --lr 0.05
case_ adagrad_all_batches --optimizer adagrad --epochs 3 --lr 0.05 --lr-decay 0.01 \
    --initial-accumulator 0.1 --weight-decay 0.01 --eps 1e-6 --batch-size 100
case_ adagrad_onecycle --optimizer adagrad --lr-schedule onecycle --epochs 4 --lr 0.1
case_ rmsprop --optimizer rmsprop --epochs 5 --lr 0.01
# clip_grad_value_ (with SGD's momentum and several batches an epoch)
case_ clip_value --clip-grad-value 0.002 --epochs 4 --lr 0.5 --momentum 0.5 --batch-size 300
case_ rmsprop_all --optimizer rmsprop --epochs 5 --lr 0.003 --alpha 0.9 --eps 1e-6 --momentum 0.5 \
    --centered --weight-decay 0.01
case_ rmsprop_batches_onecycle --optimizer rmsprop --batch-size 100 --lr-schedule onecycle \
    --epochs 3 --lr 0.003
case_ rmsprop_momentum_zero --optimizer rmsprop --lr-schedule onecycle --epochs 10 --lr 0.003 \
    --cycle-momentum 0,0.9 --centered
# schedules
case_ phases --schedule 2@0.5,3@0.1 --momentum 0.5
case_ step --lr-schedule step --step-size 2 --gamma 0.5 --epochs 5 --lr 0.5
case_ cyclic_tri2_batches --lr-schedule cyclic --base-lr 0.05 --step-size-up 4 --step-size-down 3 \
    --cyclic-mode triangular2 --batch-size 100 --epochs 3 --lr 0.5
case_ cyclic_adam_exp_range --optimizer adam --lr-schedule cyclic --base-lr 0.001 --step-size-up 2 \
    --cyclic-mode exp_range --gamma 0.9 --cycle-momentum 0.85,0.95 --batch-size 100 --epochs 3 --lr 0.01
case_ multistep --lr-schedule multistep --milestones 1,3 --gamma 0.5 --epochs 5 --lr 0.5 --momentum 0.5
case_ polynomial_batches_warmup --lr-schedule polynomial --power 2 --batch-size 100 \
    --warmup-epochs 1 --epochs 3 --lr 0.5
case_ cosine --lr-schedule cosine --eta-min 0.01 --epochs 5 --lr 0.5 --momentum 0.5
case_ onecycle_sgd --lr-schedule onecycle --epochs 6 --lr 1.0
case_ onecycle_adam --lr-schedule onecycle --pct-start 0.5 --epochs 6 --lr 0.02 --optimizer adam
case_ onecycle_nesterov_range --lr-schedule onecycle --epochs 6 --lr 0.3 --nesterov \
    --cycle-momentum 0.5,0.8
case_ onecycle_adamw_range --lr-schedule onecycle --epochs 6 --lr 0.02 --optimizer adamw \
    --cycle-momentum 0.8,0.95
# (Adam(betas=(0.9, 0.99)) under OneCycleLR: beta1 cycled, beta2 kept, as fastai's one-cycle)
case_ onecycle_adam_beta2 --lr-schedule onecycle --epochs 6 --lr 0.02 --optimizer adam --betas 0.9,0.99
case_ onecycle_fixed --lr-schedule onecycle --epochs 6 --lr 0.5 --cycle-momentum off \
    --momentum 0.5
# OneCycleLR's other options: three_phase, anneal_strategy="linear", div_factor, final_div_factor
case_ onecycle_three_phase_linear --lr-schedule onecycle --epochs 6 --lr 1.0 --three-phase \
    --anneal linear
case_ onecycle_div_batches --lr-schedule onecycle --batch-size 100 --epochs 3 --lr 0.5 \
    --div-factor 10 --final-div-factor 100 --three-phase
# (10 steps: the momentum is exactly 0 at step 2, where PyTorch's SGD leaves its buffer alone)
case_ onecycle_momentum_zero --lr-schedule onecycle --epochs 10 --lr 0.3 --cycle-momentum 0,0.9
# (lrs this high make val_loss rise, so that ReduceLROnPlateau cuts: at epochs 6 and 7, 4 and 6)
case_ plateau --lr-schedule plateau --lr-patience 0 --gamma 0.5 --epochs 8 --lr 1 --momentum 0.9
# on val_acc (mode="max"), and the same flags on val_loss: their cuts must differ
case_ plateau_val_acc --lr-schedule plateau --monitor val_acc --lr-patience 0 --gamma 0.5 \
    --epochs 8 --lr 2
case_ plateau_val_loss --lr-schedule plateau --lr-patience 0 --gamma 0.5 --epochs 8 --lr 2
lrs() { sed 's/.*"lr": \([^,]*\),.*/\1/' "$tmp/$1.log" | tr '\n' ' '; }
[ -s "$tmp/plateau_val_acc.log" ] && [ "$(lrs plateau_val_acc)" != "$(lrs plateau_val_loss)" ] &&
    ok "plateau on val_acc cuts other epochs than on val_loss ($(lrs plateau_val_acc)vs $(lrs plateau_val_loss))" ||
    bad "plateau on val_acc and val_loss: the same lrs ($(lrs plateau_val_acc))"
case_ plateau_patience1 --lr-schedule plateau --lr-patience 1 --gamma 0.5 --epochs 8 --lr 2
# ReduceLROnPlateau's other knobs: cooldown, min_lr (the second cut stops at it), an absolute
# threshold
case_ plateau_knobs --lr-schedule plateau --lr-patience 0 --gamma 0.5 --epochs 8 --lr 2 \
    --lr-cooldown 1 --min-lr 0.7 --lr-threshold 0.005 --lr-threshold-mode abs
case_ warmup --warmup-epochs 3 --epochs 5 --lr 0.5
case_ warmup_step --warmup-epochs 2 --warmup-start-factor 0.25 --lr-schedule step \
    --step-size 3 --epochs 5 --lr 0.5
case_ warmup_cosine --warmup-epochs 2 --lr-schedule cosine --epochs 5 --lr 0.5
case_ warmup_constant_batches_step --warmup-epochs 1 --warmup-method constant \
    --warmup-start-factor 0.1 --lr-schedule step --step-size 1 --gamma 0.5 --batch-size 100 \
    --epochs 3 --lr 0.5
case_ warmup_cosine_eta_min --warmup-epochs 2 --lr-schedule cosine --eta-min 0.1 --epochs 5 --lr 0.5
case_ warmup_onecycle --warmup-epochs 2 --lr-schedule onecycle --epochs 6 --lr 1.0
case_ exponential --lr-schedule exponential --gamma 0.8 --epochs 5 --lr 0.5
case_ cosine_restarts --lr-schedule cosine-restarts --t0 2 --epochs 5 --lr 0.5 --momentum 0.5
case_ cosine_restarts_batches_mult --lr-schedule cosine-restarts --t0 1 --t-mult 2 --eta-min 0.05 \
    --batch-size 100 --epochs 4 --lr 0.5 --warmup-epochs 1
case_ exponential_batches_warmup --lr-schedule exponential --gamma 0.5 --batch-size 100 \
    --warmup-epochs 1 --epochs 3 --lr 0.5
case_ warmup_plateau --warmup-epochs 2 --lr-schedule plateau --lr-patience 0 --gamma 0.5 \
    --epochs 8 --lr 1 --momentum 0.9
# several steps an epoch (ctrain's shuffle reproduced too; 4 of 128, 128, 128, 116 or 5 of 100): the
# schedules step per batch
case_ batches_sgd --batch-size 128 --epochs 3 --lr 0.2 --momentum 0.9
case_ batches_onecycle --batch-size 100 --lr-schedule onecycle --epochs 3 --lr 0.5
case_ batches_cosine_warmup --batch-size 100 --lr-schedule cosine --warmup-epochs 1 --epochs 3 \
    --lr 0.5
case_ batches_step --batch-size 100 --lr-schedule step --step-size 1 --gamma 0.5 --epochs 3 \
    --lr 0.02 --optimizer adam
# torchvision's recipe: the warm-up, then the schedule (SequentialLR), stepped once an epoch or
# every step; the per-step schedules stepped once an epoch
case_ recipe_cosine_epoch --batch-size 100 --lr-schedule cosine --lr-step epoch --warmup-epochs 2 \
    --warmup-sequential --warmup-start-factor 0.1 --epochs 5 --lr 0.5 --momentum 0.9
case_ sequential_cosine_batches --batch-size 100 --lr-schedule cosine --warmup-epochs 1 \
    --warmup-sequential --epochs 3 --lr 0.5
case_ sequential_step_constant --batch-size 100 --lr-schedule step --step-size 1 --gamma 0.5 \
    --warmup-epochs 2 --warmup-method constant --warmup-sequential --epochs 5 --lr 0.5
case_ onecycle_epoch --batch-size 100 --lr-schedule onecycle --lr-step epoch --epochs 6 --lr 1.0
case_ restarts_epoch --batch-size 100 --lr-schedule cosine-restarts --t0 2 --lr-step epoch \
    --epochs 5 --lr 0.5
case_ polynomial_epoch_warmup --batch-size 100 --lr-schedule polynomial --power 2 --lr-step epoch \
    --warmup-epochs 2 --epochs 5 --lr 0.5
# label smoothing (CrossEntropyLoss(label_smoothing=...): the val loss too), with batches
case_ label_smoothing --label-smoothing 0.1 --epochs 5 --lr 0.5
case_ label_smoothing_batches --label-smoothing 0.3 --batch-size 128 --epochs 3 --lr 0.2 \
    --momentum 0.9
# class weights (Keras' class_weight: the train loss weighted, val_loss not), given and
# balanced (scikit-learn's, over the training split), with batches and label smoothing
case_ class_weight --class-weight 0.5,1,1.5,2,0.25,1,3,1,0.75,1.25 --epochs 5 --lr 0.5
case_ class_weight_balanced --class-weight balanced --batch-size 100 --epochs 3 --lr 0.2 \
    --momentum 0.9 --label-smoothing 0.1
# MixUp and CutMix (torchvision's RandomMixup / RandomCutmix, and RandomChoice of the two, with
# ctrain's draws of lam and the box, which torch_parity.py repeats), label smoothing on top
case_ mixup --mixup-alpha 0.4 --batch-size 100 --epochs 3 --lr 0.5
case_ cutmix --cutmix-alpha 1.0 --batch-size 100 --epochs 3 --lr 0.5 --label-smoothing 0.1
case_ mixup_cutmix --mixup-alpha 0.2 --cutmix-alpha 1.0 --batch-size 100 --epochs 3 --lr 0.2 \
    --momentum 0.9
# gradient clipping, batchnorm
case_ clip --clip-grad-norm 0.3 --epochs 5 --lr 0.5 --momentum 0.9
case_ clip_adam --clip-grad-norm 0.5 --epochs 5 --lr 0.01 --optimizer adam
case_ batchnorm --model "$bn" --init "$tmp/bn.safetensors" --epochs 5 --lr 0.2 --momentum 0.9
# a ResNet: residual blocks (identity and projection shortcuts), batch norm, global pooling
case_ residual --model "$res" --init "$tmp/res.safetensors" --epochs 4 --lr 0.1 --momentum 0.9 \
    --batch-size 100
# grouped and depthwise convolutions, ReLU6, Hardswish, SiLU, Hardsigmoid, squeeze-and-excitation
case_ grouped_relu6 --model "$mob" --init "$tmp/mob.safetensors" --epochs 4 --lr 0.1 \
    --momentum 0.9 --batch-size 100
case_ norm_layers --model "$norms" --init "$tmp/norms.safetensors" --epochs 4 --lr 0.05 \
    --momentum 0.9 --batch-size 100
case_ norm_layers_adamw_wd_groups --model "$norms" --init "$tmp/norms.safetensors" --epochs 3 \
    --lr 0.01 --optimizer adamw --weight-decay 0.5 --norm-weight-decay 0 --batch-size 100
case_ vit --model "$vit" --init "$tmp/vit.safetensors" --epochs 4 --lr 0.05 --momentum 0.9 \
    --batch-size 100
case_ vit_adamw --model "$vit" --init "$tmp/vit.safetensors" --epochs 3 --lr 0.003 \
    --optimizer adamw --weight-decay 0.1 --batch-size 100
# (Adam on linear,batchnorm is ill-conditioned: the linear layer's bias has a gradient of zero
# but for rounding, which Adam scales up to steps of lr, and the bias moves running_mean, hence
# val_loss; there PyTorch in float32 and in float64 differ by 6e-4. So after the ReLU.)
case_ batchnorm_adamw --model "$bn2" --init "$tmp/bn2.safetensors" --epochs 5 --lr 0.01 \
    --optimizer adamw
# the moving average of the weights (torchvision's ExponentialMovingAverage, batch norm's running
# statistics averaged too): val_loss and val_acc are the average's
case_ ema --ema 0.7 --epochs 6 --lr 0.5
case_ ema_batches_adam --ema 0.9 --batch-size 100 --epochs 3 --lr 0.01 --optimizer adam
case_ ema_batchnorm --model "$bn" --init "$tmp/bn.safetensors" --ema 0.8 --batch-size 128 \
    --epochs 3 --lr 0.2 --momentum 0.9
# torchvision's weight decay groups: biases and batch norm's weights decayed otherwise
case_ wd_groups_batchnorm --model "$bn" --init "$tmp/bn.safetensors" --epochs 4 --lr 0.2 \
    --momentum 0.9 --weight-decay 0.05 --bias-weight-decay 0 --norm-weight-decay 0.01
case_ wd_groups_adamw_norm --model "$res" --init "$tmp/res.safetensors" --optimizer adamw \
    --epochs 2 --lr 0.01 --weight-decay 0.5 --norm-weight-decay 0 --batch-size 100
# (TensorFlow's num_updates warm-up: min(0.99, (1 + k) / (10 + k)) at update k)
case_ ema_warmup --ema 0.99 --ema-warmup --batch-size 50 --epochs 3 --lr 0.2
# fine-tuning, --freeze: the layers up to the one named keep their weights (requires_grad_(False))
# and run as at inference (eval(): batch norm on its running statistics); weight decay,
# clipping and the moving average cover the others. In a residual block: its input gets no
# gradient, its shortcut's layers (after the named one) train
case_ freeze_batchnorm --model "$bn" --init "$tmp/bn.safetensors" --freeze batchnorm1 --epochs 5 \
    --lr 0.2 --momentum 0.9 --weight-decay 0.01
case_ freeze_backbone --freeze backbone --batch-size 128 --epochs 3 --lr 0.5
case_ freeze_residual --model "$res" --init "$tmp/res.safetensors" --freeze conv3 --optimizer adam \
    --lr 0.01 --clip-grad-norm 0.05 --ema 0.8 --batch-size 100 --epochs 3
# stochastic weight averaging (torch.optim.swa_utils): the epochs' lrs (SWALR's from
# --swa-start) and the saved model, the average with batch norm's statistics recomputed by
# update_bn, tensor by tensor (a ResNet's: its val_loss)
case_ swa --swa-start 2 --epochs 5 --lr 0.5 --save "$tmp/swa.run"
case_ swa_lr_batchnorm --model "$bn" --init "$tmp/bn.safetensors" --swa-start 3 --swa-lr 0.05 \
    --swa-anneal-epochs 2 --batch-size 100 --epochs 6 --lr 0.2 --momentum 0.9 --save "$tmp/swa_bn.run"
case_ swa_linear_cosine_warmup --lr-schedule cosine --warmup-epochs 2 --swa-start 0.5 \
    --swa-lr 0.1 --swa-anneal linear --swa-anneal-epochs 0 --epochs 6 --lr 0.5 --save "$tmp/swa_cos.run"
case_ swa_residual --model "$res" --init "$tmp/res.safetensors" --lr 0.1 --momentum 0.9 \
    --swa-start 1 --swa-lr 0.05 --swa-anneal-epochs 1 --batch-size 100 --epochs 3 \
    --save "$tmp/swa_res.run"

"$PY" "$here/torch_parity.py" compare "$tmp/small" "$tmp/cases" >"$tmp/compare" 2>"$tmp/compare.err"
[ -s "$tmp/compare.err" ] && bad "torch_parity.py compare: $(head -c 2000 "$tmp/compare.err")"
n=0
while read -r verdict msg; do
    n=$((n + 1))
    if [ "$verdict" = ok ]; then ok "$msg"; else bad "$msg"; fi
done <"$tmp/compare"
[ "$n" -eq "$(wc -l <"$tmp/cases")" ] || bad "$n comparisons for $(wc -l <"$tmp/cases") cases"

echo
finish cli_torch_parity
