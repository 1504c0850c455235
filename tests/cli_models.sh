#!/usr/bin/env bash
# cli_models.sh — short real runs of `ctrain train` beyond the tutorial: Adam, a small CNN, a
# non-phase lr schedule with warm-up and clipping, augmentation, label smoothing, class weights, the moving
# average of weights (--ema), and Fashion-MNIST (when Debian's dataset-fashion-mnist is
# installed). Prints SKIP <name>: <why> for what cannot run here.
# Usage: bash tests/cli_models.sh path/to/ctrain
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/clilib.sh"
. "$here/small_mnist.sh"
CT=${1:?usage: bash cli_models.sh path/to/ctrain}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1

EPOCH_RE='^Epoch \[0\], val_loss: [0-9]+\.[0-9]{4}, val_acc: [0-9]\.[0-9]{4}$'
# expect_acc NAME MIN ARGS...: runs ctrain train ARGS; exit 0 and epoch 0's val_acc > MIN
expect_acc() {
    local name=$1 min=$2
    shift 2
    local t0=$SECONDS
    run train "$@"
    local acc
    acc=$(grep -E "$EPOCH_RE" <<<"$out" | sed 's/.*val_acc: //')
    if [ "$rc" -eq 0 ] && awk -v a="${acc:-0}" -v m="$min" 'BEGIN { exit !(a > m) }'; then
        ok "$name: val_acc $acc > $min ($((SECONDS - t0)) s)"
    else
        bad "$name: exit $rc, val_acc '$acc' (expected > $min), stderr: $err"
    fi
}

dir=$("$CT" data path) || { echo "FAIL - ctrain data path"; exit 1; }
have_mnist=1
for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
    [ -e "$dir/$f" ] || [ -e "$dir/$f.gz" ] || have_mnist=0
done

if [ "$have_mnist" -eq 1 ]; then
    # the runs that train 1000 images to check a flag: on a cut of MNIST where nothing later needs
    # MNIST's own (they validated 59000 images, most of their time under the sanitizers;
    # LeNet-5's took 28 s)
    small_mnist "$dir" "$tmp/cut" 2000 500 || bad "small_mnist: no cut of MNIST"
    CUT=(--dataset idx --data "$tmp/cut" --val-size 1000)
    expect_acc "adam" 0.85 --optimizer adam --epochs 1 --lr 0.001 --val-size 10000 --quiet
    # RMSprop: without --lr PyTorch's 1e-2, named in the Plan line with its alpha and eps
    run train --optimizer rmsprop --epochs 1 --val-size 50000 --momentum 0.5 --centered
    plan=$(grep '^Plan: ' <<<"$out")
    acc=$(grep -E "$EPOCH_RE" <<<"$out" | sed 's/.*val_acc: //')
    if [ "$rc" -eq 0 ] && grep -qF '(1@0.01), batch 128, RMSprop (alpha 0.99, eps 1e-08, centered), momentum 0.5' <<<"$plan" &&
        awk -v a="${acc:-0}" 'BEGIN { exit !(a > 0.8) }'; then
        ok "rmsprop, centered, momentum 0.5: val_acc $acc > 0.8 on 10000 images; $plan"
    else
        bad "rmsprop -> exit $rc, plan: $plan, val_acc '$acc', stderr: $err"
    fi
    # without --lr, Adam takes PyTorch's 1e-3: the Plan line says so
    run train --optimizer adamw --epochs 1 "${CUT[@]}" --lr-schedule cosine --warmup-epochs 1 \
        --clip-grad-norm 1
    plan=$(grep '^Plan: ' <<<"$out")
    if [ "$rc" -eq 0 ] && grep -qF '(1@0.001)' <<<"$plan" && grep -q 'AdamW' <<<"$plan" &&
        grep -q 'cosine' <<<"$plan" && grep -q 'warm-up 1 epoch from' <<<"$plan" &&
        grep -q 'clip grad norm 1' <<<"$plan"; then
        ok "adamw + cosine + warm-up + clipping runs: $plan"
    else
        bad "adamw + cosine run -> exit $rc, plan: $plan, stderr: $err"
    fi
    expect_acc "tiny cnn" 0.8 --model "conv(4,3),relu,maxpool(2),flatten,linear(10)" --epochs 1 \
        --lr 0.1 --quiet
    expect_acc "step schedule" 0.85 --lr-schedule step --step-size 1 --gamma 0.5 --epochs 1 \
        --lr 0.5 --quiet
    # the new settings travel with a checkpoint and bind a resume
    run train --optimizer adam --lr-schedule step --step-size 1 --epochs 1 --lr 0.01 --val-size 59000 \
        --augment crop=1 --save "$tmp/run"
    plan=$(grep '^Plan: ' <<<"$out")
    [ "$rc" -eq 0 ] && grep -qF 'augment: random crop (padding 1)' <<<"$plan" &&
        ok "--augment crop=1 runs and is named in the Plan line" ||
        bad "--augment crop=1 -> exit $rc, plan: $plan, stderr: $err"
    run train --resume "$tmp/run" --augment crop=1,flip
    [ "$rc" -eq 2 ] && grep -q -- '--augment crop=1,flip' <<<"$err" && grep -q 'saved with crop=1,' <<<"$err" &&
        ok "resume with another --augment -> exit 2" ||
        bad "resume with another --augment -> exit $rc, stderr: $err"
    # torchvision's RandomAffine before the crop (cli_torchvision.sh checks the pixels)
    run train --epochs 1 --lr 0.5 "${CUT[@]}" --augment translate=0.1,rotate=10,bilinear \
        --save "$tmp/aff"
    plan=$(grep '^Plan: ' <<<"$out")
    [ "$rc" -eq 0 ] && grep -q '^test_loss: .*test_acc: 0\.[4-9]' <<<"$out" &&
        grep -qF 'augment: random affine (rotate +-10 deg, translate +-0.1, bilinear)' <<<"$plan" &&
        ok "--augment translate=0.1,rotate=10,bilinear trains and is named: $plan" ||
        bad "--augment rotate/translate -> exit $rc, plan: $plan, stdout: $out, stderr: $err"
    run train --resume "$tmp/aff" --epochs 2 --augment bilinear,rotate=10.0,translate=.1 --quiet
    [ "$rc" -eq 0 ] && grep -q '^Epoch \[1\]' <<<"$out" &&
        ok "resume with the same --augment spelt otherwise -> continues" ||
        bad "resume with the same --augment spelt otherwise -> exit $rc, stderr: $err"
    run train --resume "$tmp/aff" --epochs 3 --augment rotate=10,translate=0.1
    [ "$rc" -eq 2 ] && grep -qF 'saved with rotate=10,translate=0.1,bilinear' <<<"$err" &&
        ok "resume without its bilinear -> exit 2, names the saved setting" ||
        bad "resume with another affine --augment -> exit $rc, stderr: $err"
    # torchvision's RandomResizedCrop (cli_torchvision.sh checks the boxes and pixels)
    run train --epochs 1 --lr 0.5 "${CUT[@]}" --augment resized-crop=0.5:1,flip,vflip --save "$tmp/rrc"
    plan=$(grep '^Plan: ' <<<"$out")
    [ "$rc" -eq 0 ] && grep -q '^test_loss: .*test_acc: 0\.[2-9]' <<<"$out" &&
        grep -qF 'augment: random resized crop (area 0.5 to 1, ratio 0.75 to 1.333) + horizontal flip + vertical flip' <<<"$plan" &&
        ok "--augment resized-crop=0.5:1,flip,vflip trains and is named: $plan" ||
        bad "--augment resized-crop -> exit $rc, plan: $plan, stdout: $out, stderr: $err"
    run train --resume "$tmp/rrc" --epochs 2 --augment vflip,flip,resized-crop=.5:1.0,ratio=0.75:1.3333334 --quiet
    [ "$rc" -eq 0 ] && grep -q '^Epoch \[1\]' <<<"$out" &&
        ok "resume with the same resized crop spelt otherwise (its default ratio given) -> continues" ||
        bad "resume with the same resized crop spelt otherwise -> exit $rc, stderr: $err"
    run train --resume "$tmp/rrc" --epochs 3 --augment resized-crop=0.5:1,ratio=0.5:2,flip,vflip
    [ "$rc" -eq 2 ] && grep -qF 'saved with resized-crop=0.5:1,flip,vflip' <<<"$err" &&
        ok "resume with another resized crop ratio -> exit 2, names the saved setting" ||
        bad "resume with another resized crop ratio -> exit $rc, stderr: $err"
    # RandomErasing after the rest, to the normalize layer's mean (0 after it, as torchvision's)
    run train --epochs 1 --lr 0.5 --val-size 59000 --normalize auto --augment crop=2,erase=0.3 \
        --save "$tmp/erase"
    plan=$(grep '^Plan: ' <<<"$out")
    [ "$rc" -eq 0 ] && grep -q '^test_loss: .*test_acc: 0\.[4-9]' <<<"$out" &&
        grep -qF "augment: random crop (padding 2) + random erasing (p 0.3, to the normalize layer's mean)" <<<"$plan" &&
        ok "--augment crop=2,erase=0.3 trains and is named: $plan" ||
        bad "--augment erase -> exit $rc, plan: $plan, stdout: $out, stderr: $err"
    run train --resume "$tmp/erase" --epochs 2 --augment crop=2 --quiet
    [ "$rc" -eq 2 ] && grep -qF 'saved with crop=2,erase=0.3' <<<"$err" &&
        ok "resume without its erase -> exit 2, names the saved setting" ||
        bad "resume without its erase -> exit $rc, stderr: $err"
    # ColorJitter (cli_torchvision.sh checks the pixels), named, bound to a resume
    run train --epochs 1 --lr 0.5 "${CUT[@]}" --augment hue=0.1,brightness=0.3,contrast=0.3 \
        --save "$tmp/jit"
    plan=$(grep '^Plan: ' <<<"$out")
    [ "$rc" -eq 0 ] && grep -q '^test_loss: .*test_acc: 0\.[4-9]' <<<"$out" &&
        grep -qF 'augment: colour jitter (brightness 0.3, contrast 0.3, hue 0.1)' <<<"$plan" &&
        ok "--augment hue=0.1,brightness=0.3,contrast=0.3 trains and is named: $plan" ||
        bad "--augment brightness/contrast/hue -> exit $rc, plan: $plan, stdout: $out, stderr: $err"
    run train --resume "$tmp/jit" --epochs 2 --augment brightness=0.3,contrast=0.3,hue=0.2 --quiet
    [ "$rc" -eq 2 ] && grep -qF 'saved with brightness=0.3,contrast=0.3,hue=0.1' <<<"$err" &&
        ok "resume with another hue -> exit 2, names the saved setting" ||
        bad "resume with another hue -> exit $rc, stderr: $err"
    # TrivialAugmentWide (cli_torchvision.sh checks the pixels), named, bound to a resume
    run train --epochs 1 --lr 0.5 "${CUT[@]}" --augment flip,trivial,erase=0.2 --save "$tmp/ta"
    plan=$(grep '^Plan: ' <<<"$out")
    [ "$rc" -eq 0 ] && grep -q '^test_loss: .*test_acc: 0\.[4-9]' <<<"$out" &&
        grep -qF 'augment: horizontal flip + TrivialAugmentWide + random erasing (p 0.2)' <<<"$plan" &&
        ok "--augment flip,trivial,erase=0.2 trains and is named: $plan" ||
        bad "--augment trivial -> exit $rc, plan: $plan, stdout: $out, stderr: $err"
    run train --resume "$tmp/ta" --epochs 2 --augment erase=0.2,trivial=31,flip --quiet
    [ "$rc" -eq 0 ] && grep -q '^Epoch \[1\]' <<<"$out" &&
        ok "resume with the same TrivialAugmentWide spelt otherwise -> continues" ||
        bad "resume with TrivialAugmentWide spelt otherwise -> exit $rc, stderr: $err"
    run train --resume "$tmp/ta" --epochs 3 --augment flip,trivial=15,erase=0.2 --quiet
    [ "$rc" -eq 2 ] && grep -qF 'saved with flip,trivial,erase=0.2' <<<"$err" &&
        ok "resume with other magnitude bins -> exit 2, names the saved setting" ||
        bad "resume with other magnitude bins -> exit $rc, stderr: $err"
    run train --epochs 1 --lr 0.5 "${CUT[@]}" --augment trivial=7,bilinear --quiet
    [ "$rc" -eq 0 ] && grep -q '^test_loss: ' <<<"$out" &&
        ok "--augment trivial=7,bilinear (its warps sampled bilinearly) trains" ||
        bad "--augment trivial=7,bilinear -> exit $rc, stderr: $err"
    run train --epochs 1 --lr 0.5 "${CUT[@]}" --augment bilinear,trivial=7
    plan=$(grep '^Plan: ' <<<"$out")
    grep -qF 'augment: TrivialAugmentWide (bilinear, 7 bins)' <<<"$plan" &&
        ok "trivial=7,bilinear is named: $plan" || bad "trivial=7,bilinear: plan: $plan, stderr: $err"
    # RandAugment and AutoAugment: named, bound to a resume
    run train --epochs 1 --lr 0.5 "${CUT[@]}" --augment randaugment,erase=0.2 --save "$tmp/ra"
    plan=$(grep '^Plan: ' <<<"$out")
    [ "$rc" -eq 0 ] && grep -q '^test_loss: .*test_acc: 0\.[4-9]' <<<"$out" &&
        grep -qF 'augment: RandAugment (2 ops, magnitude 9 of bins 0-30) + random erasing (p 0.2)' \
            <<<"$plan" &&
        ok "--augment randaugment,erase=0.2 trains and is named: $plan" ||
        bad "--augment randaugment -> exit $rc, plan: $plan, stdout: $out, stderr: $err"
    run train --resume "$tmp/ra" --epochs 2 --augment erase=0.2,randaugment=2:9:31 --quiet
    [ "$rc" -eq 0 ] && grep -q '^Epoch \[1\]' <<<"$out" &&
        ok "resume with the same RandAugment spelt otherwise -> continues" ||
        bad "resume with RandAugment spelt otherwise -> exit $rc, stderr: $err"
    run train --resume "$tmp/ra" --epochs 3 --augment randaugment=2:10,erase=0.2 --quiet
    [ "$rc" -eq 2 ] && grep -qF 'saved with randaugment,erase=0.2' <<<"$err" &&
        ok "resume with another RandAugment magnitude -> exit 2, names the saved setting" ||
        bad "resume with another RandAugment magnitude -> exit $rc, stderr: $err"
    # repeated augmentation (torchvision's RASampler): named, the epoch as long, bound to a resume
    run train --epochs 1 --lr 0.5 "${CUT[@]}" --augment randaugment --repeated-aug 3 --save "$tmp/rep"
    plan=$(grep '^Plan: ' <<<"$out")
    [ "$rc" -eq 0 ] && grep -q '^test_loss: .*test_acc: 0\.[2-9]' <<<"$out" && # (a third of the images)
        grep -qF 'repeated augmentation (each image 3 times in a row)' <<<"$plan" &&
        ok "--repeated-aug 3 trains and is named: $plan" ||
        bad "--repeated-aug 3 -> exit $rc, plan: $plan, stdout: $out, stderr: $err"
    run train --resume "$tmp/rep" --epochs 2 --repeated-aug 2 --quiet
    [ "$rc" -eq 2 ] && grep -qF -- '--repeated-aug 2: the run in' <<<"$err" && grep -qF 'saved with --repeated-aug 3' <<<"$err" &&
        ok "resume with another --repeated-aug -> exit 2" || bad "resume --repeated-aug 2 -> exit $rc, stderr: $err"
    run train --resume "$tmp/rep" --epochs 2 --quiet
    [ "$rc" -eq 0 ] && grep -q '^Epoch \[1\]' <<<"$out" && ok "resume keeps --repeated-aug" ||
        bad "resume of --repeated-aug -> exit $rc, stderr: $err"
    run train --epochs 1 "${CUT[@]}" --repeated-aug 3 --mixup-alpha 0.2
    [ "$rc" -eq 2 ] && grep -qF -- '--repeated-aug 3: needs --augment' <<<"$err" &&
        ok "--repeated-aug without --augment (MixUp alone) -> exit 2: $err" ||
        bad "--repeated-aug without --augment -> exit $rc, stderr: $err"
    run train --epochs 1 --lr 0.5 "${CUT[@]}" --augment bilinear,randaugment=3:20:41
    plan=$(grep '^Plan: ' <<<"$out")
    [ "$rc" -eq 0 ] && grep -qF 'augment: RandAugment (3 ops, magnitude 20 of bins 0-40, bilinear)' \
        <<<"$plan" && ok "randaugment=3:20:41,bilinear trains and is named: $plan" ||
        bad "randaugment=3:20:41,bilinear -> exit $rc, plan: $plan, stderr: $err"
    run train --epochs 1 --lr 0.5 "${CUT[@]}" --augment autoaugment=cifar10 --save "$tmp/aa"
    plan=$(grep '^Plan: ' <<<"$out")
    [ "$rc" -eq 0 ] && grep -q '^test_loss: .*test_acc: 0\.[4-9]' <<<"$out" &&
        grep -qF 'augment: AutoAugment (CIFAR-10 policy)' <<<"$plan" &&
        ok "--augment autoaugment=cifar10 trains and is named: $plan" ||
        bad "--augment autoaugment=cifar10 -> exit $rc, plan: $plan, stdout: $out, stderr: $err"
    run train --resume "$tmp/aa" --epochs 2 --augment autoaugment --quiet
    [ "$rc" -eq 2 ] && grep -qF 'saved with autoaugment=cifar10' <<<"$err" &&
        ok "resume with another AutoAugment policy -> exit 2, names the saved setting" ||
        bad "resume with another AutoAugment policy -> exit $rc, stderr: $err"
    # torchvision's schedule: the warm-up, then cosine, stepped once an epoch; bound to a resume
    run train --epochs 2 --lr 0.5 "${CUT[@]}" --lr-schedule cosine --lr-step epoch \
        --warmup-epochs 1 --warmup-sequential --warmup-start-factor 0.1 --save "$tmp/seq" \
        --log "$tmp/seq.jsonl"
    plan=$(grep '^Plan: ' <<<"$out")
    lrs=$(grep -o '"lr": [0-9.e-]*' "$tmp/seq.jsonl" 2>/dev/null | cut -d' ' -f2 | tr '\n' ' ')
    [ "$rc" -eq 0 ] && [ "$lrs" = "0.05 0.5 " ] &&
        grep -qF 'warm-up 1 epoch from x0.1, then the schedule (its epochs counted from there), the lr stepped once an epoch' \
            <<<"$plan" &&
        ok "--lr-step epoch --warmup-sequential: lr $lrs, named: $plan" ||
        bad "--lr-step epoch --warmup-sequential -> exit $rc, lr $lrs, plan: $plan, stderr: $err"
    run train --resume "$tmp/seq" --epochs 3 --lr-step step --quiet
    [ "$rc" -eq 2 ] && grep -qF -- '--lr-step' <<<"$err" && grep -qF 'epoch' <<<"$err" &&
        ok "resume with --lr-step step -> exit 2, names the saved setting" ||
        bad "resume with another --lr-step -> exit $rc, stderr: $err"
    # AugMix: named, its settings spelt out, bound to a resume
    run train --epochs 1 --lr 0.5 "${CUT[@]}" --augment augmix,bilinear --save "$tmp/am"
    plan=$(grep '^Plan: ' <<<"$out")
    [ "$rc" -eq 0 ] && grep -q '^test_loss: .*test_acc: 0\.[4-9]' <<<"$out" &&
        grep -qF 'augment: AugMix (severity 3, 3 chains of 1-3 ops, alpha 1, bilinear)' \
            <<<"$plan" &&
        ok "--augment augmix,bilinear trains and is named: $plan" ||
        bad "--augment augmix,bilinear -> exit $rc, plan: $plan, stdout: $out, stderr: $err"
    run train --resume "$tmp/am" --epochs 2 --augment bilinear,augmix=3:3:-1:1 --quiet
    [ "$rc" -eq 0 ] && grep -q '^Epoch \[1\]' <<<"$out" &&
        ok "resume with the same AugMix spelt otherwise -> continues" ||
        bad "resume with AugMix spelt otherwise -> exit $rc, stderr: $err"
    run train --resume "$tmp/am" --epochs 3 --augment augmix=3:2,bilinear --quiet
    [ "$rc" -eq 2 ] && grep -qF 'saved with bilinear,augmix' <<<"$err" &&
        ok "resume with other AugMix chains -> exit 2, names the saved setting" ||
        bad "resume with other AugMix chains -> exit $rc, stderr: $err"
    run train --epochs 1 --lr 0.5 "${CUT[@]}" --augment augmix=5:2:2:0.5
    plan=$(grep '^Plan: ' <<<"$out")
    [ "$rc" -eq 0 ] && grep -qF 'augment: AugMix (severity 5, 2 chains of 2 ops, alpha 0.5)' \
        <<<"$plan" && ok "augmix=5:2:2:0.5 trains and is named: $plan" ||
        bad "augmix=5:2:2:0.5 -> exit $rc, plan: $plan, stderr: $err"
    # RandomGrayscale (digits have one channel: named, and they stay as they are)
    run train --epochs 1 --lr 0.5 "${CUT[@]}" --augment flip,grey=0.2
    plan=$(grep '^Plan: ' <<<"$out")
    [ "$rc" -eq 0 ] && grep -qF 'augment: horizontal flip + random greyscale (p 0.2)' <<<"$plan" &&
        ok "--augment flip,grey=0.2 trains and is named: $plan" ||
        bad "--augment grey -> exit $rc, plan: $plan, stderr: $err"
    # every part at full precision (the longest spelling) saves and resumes
    long="rotate=12.3456785,translate=0.123456791,scale=0.912345682:1.12345684,shear=12.3456783,bilinear,crop=4,flip,brightness=0.123456791,contrast=0.234567896,saturation=0.345678914,hue=0.123456791,erase=0.123456791"
    run train --epochs 1 --lr 0.5 "${CUT[@]}" --augment "$long" --quiet --save "$tmp/long"
    [ "$rc" -eq 0 ] && run train --resume "$tmp/long" --epochs 2 --quiet
    [ "$rc" -eq 0 ] && grep -q '^Epoch \[1\]' <<<"$out" &&
        ok "--augment with every part at full precision saves and resumes" ||
        bad "--augment at full precision: save and resume -> exit $rc, stderr: $err"
    # a normalize mean outside [0, 1] is a model like any other (the erasing fill is its mean)
    run train --epochs 1 --lr 0.1 "${CUT[@]}" --normalize 1.5,0.5 --augment erase --quiet
    [ "$rc" -eq 0 ] && grep -q '^test_loss: ' <<<"$out" &&
        ok "--normalize 1.5,0.5 --augment erase trains (its fill 1.5)" ||
        bad "--normalize 1.5,0.5 --augment erase -> exit $rc, stderr: $err"
    # --normalize auto on MNIST: torchvision's constants (0.1307, 0.3081) from the training images
    run train --normalize auto --epochs 1 --lr 0.1 --val-size 59000 --save "$tmp/norm"
    [ "$rc" -eq 0 ] && grep -q '^Model: normalize(0.1307,0.3081),flatten,linear(32),relu,linear(10) ' <<<"$out" &&
        ok "--normalize auto on MNIST: $(grep '^Model' <<<"$out")" || bad "--normalize auto -> exit $rc: $out $err"
    run train --normalize 0.13,0.31 --model lenet5 --epochs 1 --lr 0.1 --dataset idx --data "$tmp/cut" \
        --val-size 1000 --quiet
    [ "$rc" -eq 0 ] && ok "--normalize with a preset (lenet5)" || bad "--normalize --model lenet5 -> exit $rc: $err"
    run train --resume "$tmp/norm" --epochs 2 --quiet
    [ "$rc" -eq 0 ] && grep -q '^Epoch \[1\]' <<<"$out" && ok "a --normalize run resumes (its model saved with the layer)" ||
        bad "--resume of a --normalize run -> exit $rc: $err"
    run train --resume "$tmp/norm" --normalize auto --epochs 3
    [ "$rc" -eq 2 ] && grep -q -- '--normalize: a resumed run keeps its model' <<<"$err" &&
        ok "--resume with --normalize -> exit 2" || bad "--resume --normalize -> exit $rc: $err"
    run train --model "normalize(0.5,0.5),flatten,linear(10)" --normalize 0.1,0.3 --epochs 1 "${CUT[@]}"
    [ "$rc" -eq 2 ] && grep -q 'already starts with a normalize layer' <<<"$err" &&
        ok "--normalize onto a model that normalizes -> exit 2" || bad "--normalize twice -> exit $rc: $err"
    run train --resume "$tmp/run" --optimizer sgd
    if [ "$rc" -eq 2 ] && grep -q -- '--optimizer sgd' <<<"$err" && grep -q 'adam' <<<"$err"; then
        ok "resume with another --optimizer -> exit 2"
    else
        bad "resume with another --optimizer -> exit $rc, stderr: $err"
    fi
    run train --resume "$tmp/run" --lr-schedule cosine
    [ "$rc" -eq 2 ] && grep -q -- '--lr-schedule' <<<"$err" && ok "resume with another --lr-schedule -> exit 2" ||
        bad "resume with another --lr-schedule -> exit $rc, stderr: $err"
    run train --resume "$tmp/run" --dataset fashion-mnist
    [ "$rc" -eq 2 ] && grep -q -- '--dataset' <<<"$err" && ok "resume with another --dataset -> exit 2" ||
        bad "resume with another --dataset -> exit $rc, stderr: $err"
    run train --resume "$tmp/run" --optimizer adam --augment crop=1 --epochs 2 --quiet
    [ "$rc" -eq 0 ] && grep -q '^Epoch \[1\]' <<<"$out" && ok "resume --epochs 2 with the same --optimizer" ||
        bad "resume --epochs 2 -> exit $rc, stderr: $err"
    # label smoothing: named in the Plan line, recorded in the model, and eval's test_loss is
    # train's (the smoothed loss) with the plain cross-entropy after it
    run train --label-smoothing 0.1 --epochs 1 --lr 0.5 --val-size 59000 --save "$tmp/ls"
    plan=$(grep '^Plan: ' <<<"$out")
    test_line=$(grep '^test_loss: ' <<<"$out")
    if [ "$rc" -eq 0 ] && grep -qF 'label smoothing 0.1' <<<"$plan" && [ -n "$test_line" ]; then
        ok "--label-smoothing 0.1 runs and is named in the Plan line"
    else
        bad "--label-smoothing 0.1 -> exit $rc, plan: $plan, stderr: $err"
    fi
    run eval --model "$tmp/ls"
    eval_line=$(grep '^test_loss: ' <<<"$out")
    plain=$(sed -n 's/^test_loss is cross-entropy with label smoothing 0.1; without it: \([0-9.]*\)$/\1/p' <<<"$out")
    if [ "$rc" -eq 0 ] && [ "$eval_line" = "$test_line" ] && [ -n "$plain" ]; then
        ok "eval of a label-smoothed model: train's test line ($eval_line), plain loss $plain"
    else
        bad "eval of the label-smoothed model -> exit $rc: '$eval_line' vs train's '$test_line', stdout: $out, stderr: $err"
    fi
    run eval --model "$tmp/ls" --label-smoothing 0
    if [ "$rc" -eq 0 ] && [ -n "$plain" ] && grep -q "^test_loss: $plain, " <<<"$out" &&
        ! grep -q 'without it' <<<"$out" && awk -v p="$plain" -v s="${test_line#test_loss: }" \
        'BEGIN { exit !(p + 0 < s + 0) }'; then
        ok "eval --label-smoothing 0: the plain cross-entropy $plain, below the smoothed loss"
    else
        bad "eval --label-smoothing 0 -> exit $rc (plain '$plain', smoothed '$test_line'): $out $err"
    fi
    run train --resume "$tmp/ls" --label-smoothing 0.2 --epochs 2
    [ "$rc" -eq 2 ] && grep -q -- '--label-smoothing 0.2' <<<"$err" && grep -q 'saved with 0.1' <<<"$err" &&
        ok "resume with another --label-smoothing -> exit 2" ||
        bad "resume with another --label-smoothing -> exit $rc, stderr: $err"
    cp "$tmp/ls/model.safetensors" "$tmp/ls_bad.safetensors"
    python3 "$here/st_tool.py" meta "$tmp/ls_bad.safetensors" label_smoothing 1.5 >/dev/null
    run eval --model "$tmp/ls_bad.safetensors"
    [ "$rc" -eq 1 ] && grep -q 'ls_bad.safetensors: metadata "label_smoothing" is "1.5", not a number in \[0, 1\]' <<<"$err" &&
        ok "eval refuses a model whose label_smoothing metadata is out of range" ||
        bad "eval of label_smoothing 1.5 metadata -> exit $rc, stderr: $err"
    # class weights: balanced's, named in the Plan line; kept by a resume (the same flag
    # taken, another refused, as one added to a run saved without)
    run train --class-weight balanced --epochs 1 --lr 0.5 "${CUT[@]}" --save "$tmp/cw"
    plan=$(grep '^Plan: ' <<<"$out")
    if [ "$rc" -eq 0 ] && grep -qE 'class weights \(balanced\) [0-9.]+(,[0-9.]+){9},' <<<"$plan"; then
        ok "--class-weight balanced: its 10 weights in the Plan line"
    else
        bad "--class-weight balanced -> exit $rc, plan: $plan, stderr: $err"
    fi
    run train --resume "$tmp/cw" --class-weight balanced --epochs 2
    [ "$rc" -eq 0 ] && grep -q '^Epoch \[1\]' <<<"$out" && grep -qF "$(sed 's/.*class weights/class weights/; s/, seed.*//' <<<"$plan")" <<<"$out" &&
        ok "resume --class-weight balanced: the same weights, epoch 1 trained" ||
        bad "resume --class-weight balanced -> exit $rc: $out $err"
    run train --resume "$tmp/cw" --class-weight 1,1,1,1,1,1,1,1,1,1 --epochs 3
    [ "$rc" -eq 2 ] && grep -q -- "--class-weight 1,1,1,1,1,1,1,1,1,1: the run in $tmp/cw was saved with weights [0-9.]*,[0-9.]*,\.\.\." <<<"$err" &&
        ok "resume with other class weights -> exit 2" ||
        bad "resume with other --class-weight -> exit $rc, stderr: $err"
    run train --resume "$tmp/ls" --class-weight balanced --epochs 2
    [ "$rc" -eq 2 ] && grep -q -- "--class-weight balanced: the run in $tmp/ls was saved with none" <<<"$err" &&
        ok "resume of a run without class weights, adding them -> exit 2" ||
        bad "resume of $tmp/ls with --class-weight -> exit $rc, stderr: $err"
    run train --class-weight 1,2,3 --epochs 1 "${CUT[@]}"
    [ "$rc" -eq 2 ] && grep -q -- '--class-weight: 3 weights for 10 classes (one per class, or balanced)' <<<"$err" &&
        ok "--class-weight with 3 weights for 10 classes -> exit 2" ||
        bad "--class-weight 1,2,3 -> exit $rc, stderr: $err"
    # --ema: named in the Plan line; validation and the test line are the average's (so they
    # differ from the run without; --ema 0 is that run); model.safetensors holds the average
    # (eval gives train's test line; metadata ema_decay), train_state.safetensors the average
    # ("ema." tensors, the model file's) beside the trained weights ("model.", which differ)
    run train --epochs 2 --lr 0.5 --val-size 59000 --quiet
    plain_epochs=$(grep '^Epoch ' <<<"$out")
    run train --ema 0 --epochs 2 --lr 0.5 --val-size 59000 --quiet
    [ "$rc" -eq 0 ] && [ "$(grep '^Epoch ' <<<"$out")" = "$plain_epochs" ] &&
        ok "--ema 0: the run without a moving average" || bad "--ema 0 -> exit $rc: $out $err"
    run train --ema 0.9 --epochs 2 --lr 0.5 --val-size 59000 --save "$tmp/ema"
    ema_last=$(grep '^Epoch \[1\]' <<<"$out")
    plan=$(grep '^Plan: ' <<<"$out")
    test_line=$(grep '^test_loss: ' <<<"$out")
    if [ "$rc" -eq 0 ] && grep -qF 'EMA of the weights (decay 0.9)' <<<"$plan" && [ -n "$test_line" ] &&
        [ "$(grep -c '^Epoch ' <<<"$out")" -eq 2 ] && [ "$(grep '^Epoch ' <<<"$out")" != "$plain_epochs" ]; then
        ok "--ema 0.9: named in the Plan line; its validation is not the plain run's"
    else
        bad "--ema 0.9 -> exit $rc, plan: $plan, epochs: $(grep '^Epoch ' <<<"$out") vs $plain_epochs, stderr: $err"
    fi
    run eval --model "$tmp/ema"
    [ "$rc" -eq 0 ] && [ "$(grep '^test_loss: ' <<<"$out")" = "$test_line" ] &&
        grep -qF "Weights: the moving average of training's (train --ema 0.9)" <<<"$out" &&
        ok "eval of the --ema model: says so, and train's test line ($test_line)" ||
        bad "eval of the --ema model -> exit $rc: $(grep '^test_loss' <<<"$out") vs train's $test_line: $err"
    run eval --model "$tmp/ema/train_state.safetensors"
    [ "$rc" -eq 0 ] && [ "$(grep '^test_loss: ' <<<"$out")" = "$test_line" ] &&
        grep -qF "Weights: the moving average of training's (the train state's ema.* tensors)" <<<"$out" &&
        ok "eval of the --ema run's train state: its average, as the model file" ||
        bad "eval of the --ema train state -> exit $rc: $(grep '^test_loss' <<<"$out") vs train's $test_line: $err"
    # eval --part val: the run's validation split (its --val-size and --seed), as the last epoch
    # line (validation evaluated the average, the model file holds it)
    run eval --model "$tmp/ema" --part val
    if [ "$rc" -eq 0 ] && grep -q '^Data: mnist validation split (--val-size 59000 of the 60000 training images, seed 42), 59000 images$' <<<"$out" &&
        [ "$(grep '^val_loss: ' <<<"$out")" = "${ema_last#Epoch \[1\], }" ]; then
        ok "eval --part val of the --ema model: the last epoch's line (${ema_last#Epoch \[1\], })"
    else
        bad "eval --part val -> exit $rc: $out $err (the run's last epoch: $ema_last)"
    fi
    if python3 - "$tmp/ema" "$here" <<'PY'
import sys
sys.path.insert(0, sys.argv[2])
from st_tool import st_read
d = sys.argv[1]
mh, mm, md = st_read(d + "/model.safetensors")
sh, sm, sd = st_read(d + "/train_state.safetensors")
blob = lambda h, data, k: data[h[k]["data_offsets"][0]:h[k]["data_offsets"][1]]
assert mm["ema_decay"] == "0.9", mm.get("ema_decay")
assert int(sm["ema_updates"]) == 2 * 8, sm["ema_updates"]  # 2 epochs of 1000 / 128 batches
for k in mh:
    assert blob(mh, md, k) == blob(sh, sd, "ema." + k), k + ": the model file is not the average"
assert any(blob(mh, md, k) != blob(sh, sd, "model." + k) for k in mh), "trained weights = average"
PY
    then
        ok "--ema: model.safetensors = the train state's average (ema.*), not its trained weights"
    else
        bad "--ema: the files' tensors (see above)"
    fi
    # --class-names: saved in the model; eval, predict and show name the classes; kept by a
    # resume; a file of the wrong count or with an empty line refused, as are bad metadata
    printf 'zero\none\ntwo\nthree\nfour\nfive\nsix\nseven\neight\nnine\n' >"$tmp/names.txt"
    run train --epochs 1 --lr 0.5 --val-size 59000 --class-names "$tmp/names.txt" --save "$tmp/cn" --quiet
    run eval --model "$tmp/cn"
    [ "$rc" -eq 0 ] && grep -q '^  class 0 (zero): ' <<<"$out" && grep -q '^  class 9 (nine): ' <<<"$out" &&
        ok "--class-names: eval names the classes" || bad "eval of a --class-names model -> exit $rc: $out $err"
    python3 "$here/st_tool.py" export "$dir" 0 "$tmp/seven.png" >/dev/null 2>&1
    run predict --model "$tmp/cn" "$tmp/seven.png"
    [ "$rc" -eq 0 ] && grep -Eq '^.*seven.png: [0-9] (zero|one|two|three|four|five|six|seven|eight|nine) \(' <<<"$out" &&
        ok "--class-names: predict names the class ($out)" || bad "predict with class names -> exit $rc: $out $err"
    run show --model "$tmp/cn" --count 8 --out "$tmp/cn.png"
    [ "$rc" -eq 0 ] && [ -s "$tmp/cn.png" ] && ok "--class-names: show draws the grid" || bad "show -> exit $rc: $err"
    run train --resume "$tmp/cn" --epochs 2 --quiet
    [ "$rc" -eq 0 ] && grep -aq 'zero\\none\\ntwo' "$tmp/cn/model.safetensors" &&
        ok "--class-names kept by a resume without the flag" || bad "resume of a --class-names run -> exit $rc: $err"
    printf 'a\nb\n' >"$tmp/two.txt"
    run train --epochs 1 --val-size 59000 --class-names "$tmp/two.txt" --save "$tmp/cn2"
    [ "$rc" -eq 2 ] && grep -q 'two.txt: holds 2 class names, one a line, but there are 10 classes' <<<"$err" &&
        [ ! -e "$tmp/cn2" ] && ok "--class-names with 2 names for 10 classes -> exit 2, nothing saved" ||
        bad "--class-names two.txt -> exit $rc: $err"
    # eval, predict and show take --class-names for a model that records none (or instead)
    run eval --model "$tmp/run" --class-names "$tmp/names.txt"
    [ "$rc" -eq 0 ] && grep -q '^  class 3 (three): ' <<<"$out" && ok "eval --class-names FILE names a model's classes" ||
        bad "eval --class-names -> exit $rc: $err"
    run predict --model "$tmp/run" --class-names "$tmp/names.txt" "$tmp/seven.png"
    [ "$rc" -eq 0 ] && grep -Eq ': [0-9] [a-z]+ \(' <<<"$out" && ok "predict --class-names FILE: $out" ||
        bad "predict --class-names -> exit $rc: $out $err"
    run show --class-names "$tmp/names.txt" --count 4 --out "$tmp/names.png"
    [ "$rc" -eq 0 ] && ok "show --class-names FILE (no model)" || bad "show --class-names -> exit $rc: $err"
    # a Notepad file: BOM, CRLF, spaces around names, blank lines at the end; a NUL refused
    printf '\xef\xbb\xbf zero \r\none\r\ntwo\r\nthree\r\nfour\r\nfive\r\nsix\r\nseven\r\neight\r\nnine  \r\n\r\n\r\n' >"$tmp/notepad.txt"
    run eval --model "$tmp/run" --class-names "$tmp/notepad.txt"
    [ "$rc" -eq 0 ] && grep -q '^  class 0 (zero): ' <<<"$out" && grep -q '^  class 9 (nine): ' <<<"$out" &&
        ok "--class-names: BOM, CRLF, spaces and trailing blank lines taken as a text editor writes them" ||
        bad "--class-names notepad.txt -> exit $rc: $out $err"
    printf 'a\0z\nb\nc\nd\ne\nf\ng\nh\ni\nj\n' >"$tmp/nul.txt"
    run eval --model "$tmp/run" --class-names "$tmp/nul.txt"
    [ "$rc" -eq 2 ] && grep -q 'nul.txt: holds a NUL byte' <<<"$err" && ok "--class-names with a NUL byte -> exit 2" ||
        bad "--class-names nul.txt -> exit $rc: $err"
    run eval --model "$tmp/run" --class-names "$tmp/two.txt"
    [ "$rc" -eq 2 ] && grep -q -- '--class-names .*two.txt: holds 2 class names, one a line, but there are 10 classes (see ctrain eval --help)' <<<"$err" &&
        ok "eval --class-names of the wrong count -> exit 2" || bad "eval --class-names two.txt -> exit $rc: $err"
    printf 'a\n\nb\n' >"$tmp/gap.txt"
    run train --epochs 1 --val-size 59000 --class-names "$tmp/gap.txt"
    [ "$rc" -eq 2 ] && grep -q 'gap.txt: a line is empty' <<<"$err" && ok "--class-names with an empty line -> exit 2" ||
        bad "--class-names gap.txt -> exit $rc: $err"
    cp "$tmp/cn/model.safetensors" "$tmp/cn_bad.safetensors"
    python3 "$here/st_tool.py" meta "$tmp/cn_bad.safetensors" class_names 'a
b' >/dev/null
    run eval --model "$tmp/cn_bad.safetensors"
    [ "$rc" -eq 1 ] && grep -q 'cn_bad.safetensors: metadata "class_names" does not hold 10 names' <<<"$err" &&
        ok "eval refuses class_names metadata of the wrong count" || bad "eval of bad class_names -> exit $rc: $err"
else
    echo "SKIP adam, tiny cnn, schedules: no MNIST in $dir (run: ctrain data fetch mnist)"
fi

fm=/usr/share/datasets/fashion-mnist
if [ -d "$fm" ]; then
    expect_acc "fashion-mnist" 0.6 --dataset fashion-mnist --epochs 1 --quiet
    run train --dataset fashion-mnist --epochs 1 --lr 0.5 --val-size 59000 --save "$tmp/fm"
    if [ "$rc" -eq 0 ] && grep -q 'dataset fashion-mnist' <<<"$out" &&
        grep -a -q '"dataset":"fashion-mnist"\|"dataset": *"fashion-mnist"' "$tmp/fm/model.safetensors"; then
        ok "fashion-mnist: named in the Plan line and the model's metadata"
    else
        bad "fashion-mnist --save -> exit $rc, stdout: $out, stderr: $err"
    fi
    # its classes by name, as torchvision's FashionMNIST.classes
    run eval --model "$tmp/fm"
    if [ "$rc" -eq 0 ] && grep -q '^  class 0 (T-shirt/top): 0\.[0-9]\{4\} (' <<<"$out" &&
        grep -q '^  class 9 (Ankle boot): ' <<<"$out"; then
        ok "eval of a fashion-mnist model names its classes: $(grep -m1 'class 9' <<<"$out")"
    else
        bad "eval of the fashion-mnist model -> exit $rc: $out $err"
    fi
    python3 "$here/st_tool.py" export "$fm" 0 "$tmp/item.png"
    run predict --model "$tmp/fm" "$tmp/item.png"
    if [ "$rc" -eq 0 ] && grep -Eq "^$tmp/item.png: [0-9] (T-shirt/top|Trouser|Pullover|Dress|Coat|Sandal|Shirt|Sneaker|Bag|Ankle boot) \(0\.[0-9]{4}\)  top 3: " <<<"$out"; then
        ok "predict with a fashion-mnist model names the class: $out"
    else
        bad "predict with the fashion-mnist model -> exit $rc: $out $err"
    fi
    # show names the classes under the images; a wrong prediction's name on a second line,
    # so each row of cells is 28 * 3 + 2 + 34 pixels high (18 with numbers only)
    run show --model "$tmp/fm" --wrong --count 4 --cols 2 --out "$tmp/fm_wrong.png"
    size=$(python3 "$here/st_tool.py" png "$tmp/fm_wrong.png" 2>&1 | cut -d' ' -f2)
    if [ "$rc" -eq 0 ] && [ "$size" = $((30 + 2 * (28 * 3 + 2 + 34) + 2)) ]; then
        ok "show of a fashion-mnist model's mistakes: names on two lines (height $size)"
    else
        bad "show --wrong of the fashion-mnist model -> exit $rc, height $size: $out $err"
    fi
else
    echo "SKIP fashion-mnist: $fm not found (apt-get install dataset-fashion-mnist)"
fi

# CIFAR-10's binary format (the real set cannot be downloaded here): a small random set written
# here trains end to end, and --augment auto turns crop + flip on for it (not for digits)
if python3 -c 'pass' 2>/dev/null; then
    mkdir -p "$tmp/cifar"
    python3 - "$tmp/cifar" <<'PY'
import os, random, sys
random.seed(3)
def batch(name, n):
    with open(os.path.join(sys.argv[1], name), "wb") as f:
        for _ in range(n):
            f.write(bytes([random.randrange(10)]) + bytes(random.randrange(256) for _ in range(3072)))
for i in range(1, 6):
    batch("data_batch_%d.bin" % i, 24)
batch("test_batch.bin", 20)
PY
    tiny='conv(4,3),relu,maxpool(2),flatten,linear(10)'
    run train --dataset cifar10 --data "$tmp/cifar" --val-size 40 --epochs 1 --lr 0.01 --model "$tiny" \
        --save "$tmp/cif"
    plan=$(grep '^Plan: ' <<<"$out")
    [ "$rc" -eq 0 ] && grep -qF 'augment: random crop (padding 4) + horizontal flip' <<<"$plan" &&
        grep -q '^test_loss: ' <<<"$out" && ok "cifar10 trains, with crop + flip by default: $plan" ||
        bad "cifar10 (auto augment) -> exit $rc, plan: $plan, stderr: $err"
    # --normalize auto: each channel's mean and std of the 120 training images (their pixels are
    # uniform in 0..255: about 0.5 and 0.29), a normalize layer in front that eval applies too
    run train --dataset cifar10 --data "$tmp/cifar" --val-size 40 --epochs 1 --lr 0.01 --model "$tiny" \
        --normalize auto --save "$tmp/cifn"
    model=$(grep '^Model: ' <<<"$out")
    want=$(grep '^test_loss' <<<"$out")
    got=$("$CT" eval --model "$tmp/cifn" --data "$tmp/cifar" 2>&1 | grep '^test_loss')
    [ "$rc" -eq 0 ] && grep -Eq '^Model: normalize\(0\.(49|50|51)[0-9]*,0\.[45][0-9]*,0\.[45][0-9]*,0\.2[89][0-9]*,0\.2[89][0-9]*,0\.2[89][0-9]*\),conv' <<<"$model" &&
        [ -n "$want" ] && [ "$got" = "$want" ] &&
        ok "cifar10 --normalize auto: per-channel, eval applies it ($model; $got)" ||
        bad "cifar10 --normalize auto -> exit $rc: $model; eval '$got' vs '$want'; $err"
    run train --dataset cifar10 --data "$tmp/cifar" --val-size 40 --epochs 1 --lr 0.01 --model "$tiny" \
        --augment off
    [ "$rc" -eq 0 ] && ! grep -q 'augment' <<<"$out" && ok "cifar10 --augment off: no augmentation" ||
        bad "cifar10 --augment off -> exit $rc, stdout: $out, stderr: $err"
    # a colour photo with a light border is not inverted for a colour model (MNIST's habit), and
    # --fit digit is refused for it
    python3 - "$tmp/photo.png" <<'PY'
import struct, sys, zlib
def chunk(t, d): return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
rows = b"".join(b"\0" + b"".join(bytes((230, 230, 230)) if x in (0, 31) or y in (0, 31)
                                  else bytes((40, 120, 200)) for x in range(32)) for y in range(32))
open(sys.argv[1], "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 32, 32, 8, 2, 0, 0, 0)) +
                              chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
PY
    run predict --model "$tmp/cif" "$tmp/photo.png"
    [ "$rc" -eq 0 ] && grep -q "^$tmp/photo.png: [0-9]" <<<"$out" && ! grep -q inverted <<<"$out" &&
        ok "predict, a colour model: a light-bordered photo is not inverted" ||
        bad "predict of a photo with a colour model -> exit $rc, stdout: $out, stderr: $err"
    run predict --model "$tmp/cif" --fit digit "$tmp/photo.png"
    [ "$rc" -eq 2 ] && grep -q '^ctrain: --fit digit: .*this one takes 3 channels' <<<"$err" &&
        ok "predict --fit digit with a colour model -> exit 2" || bad "predict --fit digit, colour model -> exit $rc: $err"
else
    echo "SKIP cifar10: no python3 to write the test's files"
fi

echo
finish cli_models
