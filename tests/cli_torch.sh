#!/usr/bin/env bash
# cli_torch.sh — ctrain's checkpoints in PyTorch (tools/ctrain_torch.py, which reads them without
# ctrain): a saved MLP, a CNN with every kind of layer and a ResNet (residual blocks with identity
# and projection shortcuts, global average pooling), rebuilt as nn.Modules from their
# metadata, give on the test images the loss, accuracy and top-K accuracy `ctrain eval` prints (and the class
# probabilities of `ctrain predict`); a train state and best.safetensors load as the model file
# does; a state_dict PyTorch saves loads into ctrain (--init) and back, and so does an
# nn.Sequential's ("1.weight", ...), as ctrain eval shows. Skips when Debian's
# python3-torch is not installed (make bench installs it), or without MNIST.
# Usage: bash tests/cli_torch.sh path/to/ctrain
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/clilib.sh"
. "$here/small_mnist.sh"
CT=${1:?usage: bash cli_torch.sh path/to/ctrain}
CT=$(cd "$(dirname "$CT")" && pwd)/$(basename "$CT")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1

torch_or_skip cli_torch
# save_sd.save(state_dict, path): what safetensors.torch.save_file writes (no metadata)
cat >"$tmp/save_sd.py" <<'EOF'
import json, struct
def save(sd, path):
    header, blobs, off = {}, [], 0
    for k, v in sd.items():
        b = v.contiguous().numpy().tobytes()
        header[k] = {"dtype": "F32", "shape": list(v.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    open(path, "wb").write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
EOF
dir=$("$CT" data path) || { echo "FAIL - ctrain data path"; exit 1; }
ntrain=3000 # (a sanitizer build 1000: the same code paths, a third of its minutes)
[ "${CTRAIN_TEST_SANITIZED:-OFF}" = ON ] && ntrain=1000
small_mnist "$dir" "$tmp/small" $ntrain 500 || { echo "SKIP cli_torch: no MNIST in $dir"; exit 0; }
echo "torch: $("$PY" -c 'import torch; print(torch.__version__)')"

# near_line A B: two "test_loss: L, test_acc: A" lines that agree: the accuracy as printed, the
# loss to a unit of its last printed digit plus 2e-6 of itself (the same network's float sums in
# another order: a trained resnext50 whose eval loss is 1052.15 differs in its 4th decimal)
near_line() {
    awk -v a="$1" -v b="$2" 'BEGIN {
        if (split(a, x, /[:,] */) != 4 || split(b, y, /[:,] */) != 4 || x[1] != "test_loss" ||
            y[1] != "test_loss") exit 1
        d = x[2] - y[2]; m = x[2] < 0 ? -x[2] : x[2]
        exit !(x[4] == y[4] && (d < 0 ? -d : d) <= 1.0001e-4 + 2e-6 * m) }'
}

# torch_eval MODEL [K]: "test_loss: L, test_acc: A" of the model in PyTorch, on the small test
# set; with K, then "top-K accuracy: A (N of M)" (torch.topk)
torch_eval() {
    "$PY" - "$here" "$tmp/small" "$1" "${2:-0}" <<'EOF'
import sys
import torch
sys.path.insert(0, sys.argv[1])
from torch_parity import test_outputs, test_line  # (and tools/ on the path: ctrain_torch)
import ctrain_torch
out, y = test_outputs(ctrain_torch.load_model(sys.argv[3]), sys.argv[2])
print(test_line(out, y))
k = int(sys.argv[4])
if k:
    hits = (out.topk(k, 1).indices == y.unsqueeze(1)).any(1).sum().item()
    print("top-%d accuracy: %.4f (%d of %d)" % (k, hits / len(y), hits, len(y)))
EOF
}

# later_eval KEY MODEL [K]: torch_eval's lines, later: torch_evals runs every one queued in one
# Python process (its imports take a second a process) into PT[KEY]
declare -A PT CTL
: >"$tmp/evals"
later_eval() { printf '%s\t%s\t%s\n' "$1" "$2" "${3:-0}" >>"$tmp/evals"; }
torch_evals() {
    local key line
    PT=()
    while IFS=$'\t' read -r key line; do
        PT[$key]+="${PT[$key]:+$'\n'}$line"
    done < <("$PY" - "$here" "$tmp/small" "$tmp/evals" 2>"$tmp/evals.err" <<'EOF'
import sys, traceback
import torch
sys.path.insert(0, sys.argv[1])
from torch_parity import test_outputs, test_line  # (and tools/ on the path: ctrain_torch)
import ctrain_torch
for job in open(sys.argv[3]):
    key, path, k = job.rstrip("\n").split("\t")
    try:
        out, y = test_outputs(ctrain_torch.load_model(path), sys.argv[2])
        print("%s\t%s" % (key, test_line(out, y)), flush=True)
        if int(k):
            hits = (out.topk(int(k), 1).indices == y.unsqueeze(1)).any(1).sum().item()
            print("%s\ttop-%d accuracy: %.4f (%d of %d)" % (key, int(k), hits / len(y), hits, len(y)))
    except Exception:
        print("%s\terror: %s" % (key, traceback.format_exc().replace("\n", " | ")), flush=True)
EOF
    )
    PT[_err]=$(head -c 1500 "$tmp/evals.err")
}

# ------------------------------------------------------------------ the tutorial's MLP
run train --dataset idx --data "$tmp/small" --val-size 500 --epochs 2 --lr 0.5 --quiet --save "$tmp/mlp" --save-best
mlp_rc=$rc mlp_err=$err
CTL[mlp]=$("$CT" eval --model "$tmp/mlp" --dataset idx --data "$tmp/small" 2>&1 | grep '^test_loss')
later_eval mlp "$tmp/mlp"
# eval's top-K accuracy: PyTorch's topk (K 1 is test_acc)
for k in 3 1; do
    CTL[top$k]=$("$CT" eval --model "$tmp/mlp" --dataset idx --data "$tmp/small" --top-k $k 2>&1 | grep -E '^(test_loss|top-)')
    later_eval top$k "$tmp/mlp" $k
done
for f in train_state.safetensors best.safetensors; do
    CTL[$f]=$("$CT" eval --model "$tmp/mlp/$f" --dataset idx --data "$tmp/small" 2>&1 | grep '^test_loss')
    later_eval $f "$tmp/mlp/$f"
done

# ------------------------------------------------------------------ every kind of layer; residual blocks
# same_in_torch NAME SPEC WHAT: SPEC trained (2 epochs of Adam) into $tmp/NAME, rebuilt in
# PyTorch, gives ctrain eval's loss and accuracy (same_checks, after torch_evals)
declare -A SAME_RC SAME_ERR SAME_WHAT
same_names=()
same_in_torch() {
    run train --dataset idx --data "$tmp/small" --val-size 500 --epochs 2 --model "$2" --optimizer adam \
        --quiet --save "$tmp/$1"
    SAME_RC[$1]=$rc SAME_ERR[$1]=$err SAME_WHAT[$1]=$3
    CTL[$1]=$("$CT" eval --model "$tmp/$1" --dataset idx --data "$tmp/small" 2>&1 | grep '^test_loss')
    later_eval "$1" "$tmp/$1"
    same_names+=("$1")
}
same_in_torch cnn "normalize(0.1307,0.3081),conv(8,3,1,1),batchnorm,relu,se(4),maxpool(2),conv(8,3,2,1),leakyrelu(0.2),avgpool(2,2,1),dropout(0.25),flatten,linear(32),batchnorm,gelu,linear(16),tanh,linear(16),sigmoid,linear(10)" \
    "a CNN of every layer kind"
same_in_torch res "conv(8,3,1,1),batchnorm,relu,residual(conv(8,3,1,1),batchnorm,relu,conv(8,3,1,1),batchnorm),relu,residual(conv(16,3,2,1),batchnorm,relu,conv(16,3,1,1),batchnorm),relu,globalavgpool,linear(10)" \
    "a ResNet (identity and projection shortcuts)"
# GroupNorm and LayerNorm: on images (LayerNorm's weight of the image's shape), on a 1x1 plane
# (its weight of (C)) and on flat features
same_in_torch norms "conv(8,3,1,1),groupnorm(4),relu,maxpool(2),conv(8,3,2,1),layernorm,tanh,conv(12,3,2,1),globalavgpool,layernorm(0.001),flatten,linear(32),groupnorm(2),relu,linear(16),layernorm,linear(10)" \
    "GroupNorm and LayerNorm"
# a vision transformer (nn.MultiheadAttention, its dropout too, each token's LayerNorm and MLP),
# and a sequence flattened
same_in_torch vit "conv(16,7,7,0),tokens,clstoken,posembed,residual(layernorm(1e-6),attention(4,0.1),dropout(0.1)),residual(layernorm(1e-6),linear(32),gelu,dropout(0.1),linear(16),dropout(0.1)),layernorm(1e-6),clspool,linear(10)" \
    "a vision transformer"
same_in_torch seqflat "conv(8,4,4,0),tokens,attention(2),layernorm,flatten,linear(10)" \
    "attention on 49 tokens, flattened"
same_in_torch seqmean "conv(8,4,4,0),tokens,posembed,attention(2),layernorm,globalavgpool,linear(10)" \
    "attention on 49 tokens, averaged"

torch_evals
ct=${CTL[mlp]} pt=${PT[mlp]:-${PT[_err]}}
[ "$mlp_rc" -eq 0 ] && [ -n "$ct" ] && [ "$ct" = "$pt" ] &&
    ok "the MLP in PyTorch: $pt, as ctrain eval" || bad "MLP: ctrain '$ct' vs PyTorch '$pt' (train exit $mlp_rc: $mlp_err)"
for k in 3 1; do
    ct=${CTL[top$k]} pt=${PT[top$k]:-${PT[_err]}}
    [ "$(grep -c '' <<<"$ct")" -eq 2 ] && [ "$ct" = "$pt" ] &&
        ok "eval --top-k $k as PyTorch's topk: $(tail -n 1 <<<"$ct")" || bad "--top-k $k: ctrain '$ct' vs PyTorch '$pt'"
done
for f in train_state.safetensors best.safetensors; do
    want=${CTL[$f]} pt2=${PT[$f]:-${PT[_err]}}
    [ -n "$want" ] && [ "$pt2" = "$want" ] &&
        ok "$f in PyTorch: $pt2, as ctrain eval" || bad "$f in PyTorch: '$pt2' (ctrain eval: '$want')"
done
for name in "${same_names[@]}"; do
    ct=${CTL[$name]} pt=${PT[$name]:-${PT[_err]}} what=${SAME_WHAT[$name]}
    [ "${SAME_RC[$name]}" -eq 0 ] && near_line "$ct" "$pt" && ok "$what in PyTorch: $pt, as ctrain eval" ||
        bad "$what: ctrain '$ct' vs PyTorch '$pt' (train exit ${SAME_RC[$name]}: ${SAME_ERR[$name]})"
done

# --------------------- torchvision's ResNets, ResNeXt, MobileNetV2 and V3, EfficientNet-B0
# the resnet18, resnet50, resnext50_32x4d, mobilenet_v2, mobilenet_v3_small and efficientnet_b0
# presets are torchvision.models' (num_classes=10; their first conv on one channel; resnet34, 101 and 152,
# the wide ResNets, the other ResNeXts and mobilenet_v3_large are built of the same blocks):
# the same parameter count, and ctrain's trained tensors, given in order to torchvision's module
# by position (shapes checked), give ctrain eval's loss and accuracy
# tv_train NAME [FLAG...]: NAME (with TV_LAYERS set: those layers, not NAME's) trained on the
# tiny cut into $tmp/NAME (with flags: NAME_flags), its eval line and parameter count kept; the
# models' weights are then given to torchvision's modules in one Python process (its imports
# take a second or two a process) and tv_check compares
declare -A TV_CT TV_PARAMS TV_RC TV_ERR TV_PT
tv_keys=()
: >"$tmp/tv_list"
tv_train() {
    local name=$1 key="$*" dir="$tmp/$1${2:+_flags}"
    shift
    run train --dataset idx --data "$tmp/tiny" --val-size 0 --epochs 2 --batch-size 8 --lr 0.02 \
        --model "${TV_LAYERS:-$name}" --quiet --save "$dir" "$@"
    TV_RC[$key]=$rc TV_ERR[$key]=$err
    TV_CT[$key]=$("$CT" eval --model "$dir" --dataset idx --data "$tmp/tiny" 2>&1 | grep '^test_loss')
    TV_PARAMS[$key]=$("$CT" summary --model "$name" | sed -n 's/^Total params: \([0-9]*\) .*/\1/p')
    tv_keys+=("$key")
    printf '%s\t%s\t%s\n' "$key" "$dir" "$name" >>"$tmp/tv_list"
}
# tv_python SCRIPT LIST: runs SCRIPT (stdin) on LIST's "KEY\tFILE\tNAME" lines; its "KEY\tLINE"
# lines into TV_PT[KEY] (a model that fails says so on its line, the others still run; what
# Python says on stderr in TV_PT[_err])
tv_python() {
    local key line
    TV_PT=()
    while IFS=$'\t' read -r key line; do
        TV_PT[$key]+="${TV_PT[$key]:+$'\n'}$line"
    done < <("$PY" - "$here" "$tmp/tiny" "$2" 2>"$tmp/tv_py.err" <<<"$1")
    TV_PT[_err]=$(head -c 1500 "$tmp/tv_py.err")
}
TV_PY_HEAD='import sys, traceback
import torch, torchvision
sys.path.insert(0, sys.argv[1])
from torch_parity import save_state_dict, test_outputs, test_line  # (and tools/: ctrain_torch)
import ctrain_torch
def one_channel(tv, arch):  # (MNIST: the first conv on one channel)
    if isinstance(tv, torchvision.models.VisionTransformer):
        tv.conv_proj = torch.nn.Conv2d(1, tv.hidden_dim, tv.patch_size, tv.patch_size)
    elif arch.startswith(("mobilenet", "efficientnet")):  # (a stem of 32 channels, V3s 16)
        tv.features[0][0] = torch.nn.Conv2d(1, tv.features[0][0].out_channels, 3, 2, 1, bias=False)
    else:
        tv.conv1 = torch.nn.Conv2d(1, 64, 7, 2, 3, bias=False)
def each(job):
    for line in open(sys.argv[3]):
        key, path, arch = line.rstrip("\n").split("\t")
        try:
            for out in job(path, arch):
                print("%s\t%s" % (key, out), flush=True)
        except Exception:
            print("%s\terror: %s" % (key, traceback.format_exc().replace("\n", " | ")), flush=True)
'
tv_check() { # KEY: ctrain's trained KEY in torchvision's module gives ctrain eval's line
    local key=$1 name=${1%% *} ct=${TV_CT[$1]} params=${TV_PARAMS[$1]} pt=${TV_PT[$1]:-${TV_PT[_err]}}
    [ "${TV_RC[$key]}" -eq 0 ] && near_line "$ct" "$(grep '^test_loss' <<<"$pt")" &&
        [ "$(grep '^params' <<<"$pt")" = "params $params" ] &&
        # (trained: outputs far from uniform, whose loss would be ln 10 = 2.3026 in any model)
        awk -v l="${ct#test_loss: }" 'BEGIN { d = l - 2.3026; exit !(d > 0.05 || d < -0.05) }' &&
        ok "$key is torchvision's $name ($params parameters): its weights there give $ct, as ctrain eval" ||
        bad "$key vs torchvision: ctrain '$ct' ($params parameters) vs '$pt' (train exit ${TV_RC[$key]}: ${TV_ERR[$key]})"
}
if [ "${CTRAIN_TEST_SANITIZED:-OFF}" = ON ]; then # (its code paths: the small ResNet above)
    echo "SKIP cli_torch torchvision's presets: a sanitizer build (minutes of them there); the release tree runs them"
elif ! "$PY" -c 'import torchvision' 2>/dev/null; then
    echo "SKIP cli_torch torchvision's presets: $PY cannot import torchvision (apt-get install python3-torchvision)"
else
    # (160 training images, no validation, 200 test images)
    small_mnist "$dir" "$tmp/tiny" 160 200 || bad "could not cut 160 images from $dir"
    tv_train resnet18
    tv_train resnet50
    tv_train resnext50_32x4d # (grouped convs)
    # (depthwise convs, ReLU6, inverted residuals; at lr 0.02 its outputs stay near uniform)
    tv_train mobilenet_v2 --lr 0.1
    # (squeeze-and-excitation, Hardswish; its batch norms' momentum, 0.01, leaves their running
    # statistics near their start in 40 steps, eval's outputs near uniform: trained with 0.5,
    # which its state_dict does not hold, its layers otherwise the preset's)
    run train --dataset idx --data "$tmp/tiny" --val-size 0 --epochs 1 --model mobilenet_v3_small \
        --quiet --save "$tmp/v3_preset"
    v3=$("$PY" -c 'import sys; sys.path.insert(0, sys.argv[1]); import ctrain_torch
print(ctrain_torch.load_metadata(sys.argv[2])["model_spec"].replace("batchnorm(0.001,0.01)", "batchnorm(0.001,0.5)"))' "$here/../tools" "$tmp/v3_preset")
    TV_LAYERS=$v3 tv_train mobilenet_v3_small --lr 0.1
    tv_train efficientnet_b0 --lr 0.01 # (stochastic depth, SiLU, SE of SiLU and sigmoid)
    tv_train resnet18 --normalize 0.1307,0.3081 # (nn.Sequential(Normalize, the ResNet))
    # a ViT (7x7 patches, two encoder blocks, attention's dropout in one): torchvision's
    # VisionTransformer class, by ctrain_torch.load_torchvision(path, "VisionTransformer")
    TV_LAYERS="conv(16,7,7,0),tokens,clstoken,posembed,residual(layernorm(1e-6),attention(4,0.1)),residual(layernorm(1e-6),linear(32),gelu,linear(16)),residual(layernorm(1e-6),attention(4)),residual(layernorm(1e-6),linear(32),gelu,linear(16)),layernorm(1e-6),clspool,linear(10)" \
        tv_train VisionTransformer
    TV_PARAMS[VisionTransformer]=$("$CT" summary --model "$tmp/VisionTransformer" | sed -n 's/^Total params: \([0-9]*\) .*/\1/p')
    tv_python "$TV_PY_HEAD"'
def job(path, arch):
    tv = ctrain_torch.load_torchvision(path, arch)  # torchvision module, our weights
    net = tv[-1] if isinstance(tv, torch.nn.Sequential) else tv  # (after a normalize)
    assert type(net) is (torchvision.models.VisionTransformer if arch == "VisionTransformer" else
                         getattr(torchvision.models, arch)(num_classes=10).__class__)
    yield "params %d" % sum(p.numel() for p in tv.parameters())
    yield test_line(*test_outputs(tv, sys.argv[2]))
each(job)' "$tmp/tv_list"
    for key in "${tv_keys[@]}"; do tv_check "$key"; done
    # ctrain export FILE.safetensors: the state_dict torchvision's own class loads, strict
    : >"$tmp/tv_exports"
    declare -A EX_RC EX_OUT EX_ERR EX_CT
    exports="resnet18 resnet50 resnext50_32x4d mobilenet_v2 mobilenet_v3_small efficientnet_b0"
    for name in $exports; do
        run_dir=$tmp/$name
        [ -d "$run_dir" ] || run_dir=${run_dir}_flags # (the MobileNets': trained with an --lr)
        run export --model "$run_dir" --out "$tmp/$name.tv.safetensors"
        EX_RC[$name]=$rc EX_OUT[$name]=$out EX_ERR[$name]=$err
        EX_CT[$name]=$("$CT" eval --model "$run_dir" --dataset idx --data "$tmp/tiny" 2>&1 | grep '^test_loss')
        printf '%s\t%s\t%s\n' "$name" "$tmp/$name.tv.safetensors" "$name" >>"$tmp/tv_exports"
    done
    # a ViT (the vit model above, its dropout too) under torchvision's names: the
    # VisionTransformer the export line names (its conv_proj on one channel) loads it, strict
    run export --model "$tmp/vit" --out "$tmp/vit.tv.safetensors"
    vit_call=$(sed -n 's/.*; torchvision\.models\.\(VisionTransformer(.*)\) loads them$/\1/p' <<<"$out")
    EX_RC[vit]=$rc EX_OUT[vit]=$out EX_ERR[vit]=$err
    EX_CT[vit]=$("$CT" eval --model "$tmp/vit" --dataset idx --data "$tmp/tiny" 2>&1 | grep '^test_loss')
    printf '%s\t%s\t%s\n' vit "$tmp/vit.tv.safetensors" "${vit_call:-none}" >>"$tmp/tv_exports"
    tv_python "$TV_PY_HEAD"'
def job(path, arch):
    if arch.startswith("VisionTransformer("):  # (the call the export line names)
        tv = eval("torchvision.models." + arch)
    else:
        tv = getattr(torchvision.models, arch)(num_classes=10)
    one_channel(tv, arch)
    tv.load_state_dict(ctrain_torch.load_state_dict(path), strict=True)
    yield test_line(*test_outputs(tv.eval(), sys.argv[2]))
each(job)' "$tmp/tv_exports"
    for name in $exports; do
        ct=${EX_CT[$name]} pt=${TV_PT[$name]:-${TV_PT[_err]}}
        [ "${EX_RC[$name]}" -eq 0 ] && grep -q "under torchvision's names (its first conv on 1 channel, 10 outputs)" <<<"${EX_OUT[$name]}" &&
            near_line "$ct" "$pt" &&
            ok "export $name.safetensors: torchvision's $name loads it (strict) and gets $ct, as ctrain eval" ||
            bad "export $name.safetensors -> exit ${EX_RC[$name]}: ${EX_OUT[$name]} ${EX_ERR[$name]}; torchvision '$pt' vs ctrain '$ct'"
    done
    ct=${EX_CT[vit]} pt=${TV_PT[vit]:-${TV_PT[_err]}}
    [ "${EX_RC[vit]}" -eq 0 ] && [ "$vit_call" = "VisionTransformer(image_size=28, patch_size=7, num_layers=1, num_heads=4, hidden_dim=16, mlp_dim=32, num_classes=10)" ] &&
        near_line "$ct" "$pt" &&
        ok "export vit.safetensors: torchvision's $vit_call loads it (strict) and gets $ct, as ctrain eval" ||
        bad "export vit.safetensors -> exit ${EX_RC[vit]}: ${EX_OUT[vit]} ${EX_ERR[vit]}; torchvision '$pt' vs ctrain '$ct'"
    # read back by torchvision's names, into the same layers but layer norms of eps 1e-5 (no
    # tensor holds it: loaded, its outputs a little other)
    vit_spec=$(sed -n 's/^Model: \(.*\) ([0-9]* parameters.*/\1/p' <<<"$("$CT" eval --model "$tmp/vit" --dataset idx --data "$tmp/tiny" 2>&1)")
    run eval --model "$tmp/vit.tv.safetensors" --spec "${vit_spec//layernorm(1e-6)/layernorm}" --dataset idx --data "$tmp/tiny"
    [ "$rc" -eq 0 ] && [ -n "$vit_spec" ] && grep -q '^test_loss' <<<"$out" &&
        ok "the ViT's torchvision file read back by its names into layer norms of eps 1e-5: $(grep '^test_loss' <<<"$out")" ||
        bad "eval of vit.tv.safetensors as '${vit_spec//layernorm(1e-6)/layernorm}' -> exit $rc: $err"
    run export --model "$tmp/resnet18_flags" --out "$tmp/r18n.tv.safetensors"
    [ "$rc" -eq 0 ] && grep -q "normalize its inputs as the model's normalize layer does)$" <<<"$out" &&
        ok "export of a --normalize resnet18 says its inputs want normalizing: $out" ||
        bad "export resnet18_flags -> exit $rc: $out $err"
    run export --model "$tmp/res" --out "$tmp/res.tv.safetensors" # (its stem conv has a bias)
    [ "$rc" -eq 1 ] && grep -q "(conv1: a conv with a bias, which torchvision's have not)" <<<"$err" &&
        [ ! -e "$tmp/res.tv.safetensors" ] && ok "export of a ResNet whose convs have biases -> exit 1" ||
        bad "export res.safetensors -> exit $rc: $err"
    run export --model "$tmp/mlp" --out "$tmp/mlp.tv.safetensors"
    [ "$rc" -eq 1 ] && grep -q "is not a torchvision ResNet's layers (linear1: a layer where" <<<"$err" &&
        [ ! -e "$tmp/mlp.tv.safetensors" ] && ok "export of the MLP as torchvision's -> exit 1: $err" ||
        bad "export mlp.safetensors -> exit $rc: $err"
    run export --model "$tmp/seqflat" --out "$tmp/seqflat.tv.safetensors" # (no class token)
    [ "$rc" -eq 1 ] && grep -q "is not a torchvision VisionTransformer's layers (not tokens,clstoken,posembed after the conv)" <<<"$err" &&
        [ ! -e "$tmp/seqflat.tv.safetensors" ] && ok "export of attention that is no torchvision ViT -> exit 1: $err" ||
        bad "export seqflat.safetensors -> exit $rc: $err"
    run train --dataset idx --data "$tmp/tiny" --val-size 0 --epochs 1 --quiet --save "$tmp/r6" \
        --model "conv(8,3,1,1,0),batchnorm,relu6,conv(8,3,2,1,0,8),relu6,flatten,linear(10)"
    run export --model "$tmp/r6" --out "$tmp/r6.tv.safetensors" # (ReLU6: taken for a MobileNetV2)
    [ "$rc" -eq 1 ] && grep -q "is not a torchvision MobileNetV2's layers (conv2: a conv without a batch norm after it)" <<<"$err" &&
        [ ! -e "$tmp/r6.tv.safetensors" ] && ok "export of a ReLU6 CNN that is no MobileNetV2 -> exit 1: $err" ||
        bad "export r6.safetensors -> exit $rc: $err"
    run train --dataset idx --data "$tmp/tiny" --val-size 0 --epochs 1 --quiet --save "$tmp/se" \
        --model "conv(8,3,1,1,0),batchnorm,relu,se(4,relu,hardsigmoid),conv(16,1,1,0,0),batchnorm,hardswish,globalavgpool,linear(12),hardswish,linear(10)"
    run export --model "$tmp/se" --out "$tmp/se.tv.safetensors" # (a hard SE: a MobileNetV3's)
    [ "$rc" -eq 1 ] && grep -q "is not a torchvision MobileNetV3's layers (se1: a layer where MobileNetV3 has none)" <<<"$err" &&
        [ ! -e "$tmp/se.tv.safetensors" ] && ok "export of an SE CNN that is no MobileNetV3 -> exit 1: $err" ||
        bad "export se.safetensors -> exit $rc: $err"
    # (a block with a projection shortcut; a linear layer before the last conv: refused, not
    # written under names torchvision's modules have not)
    # refused_export SPEC DATA WANT WHAT: SPEC trained a little on $tmp/DATA, its export under
    # torchvision's names refused (exit 1, its message with WANT), nothing written
    refused_export() {
        rm -rf "$tmp/bx" "$tmp/bx.tv.safetensors"
        run train --dataset idx --data "$tmp/$2" --val-size 0 --epochs 1 --quiet --save "$tmp/bx" --model "$1"
        run export --model "$tmp/bx" --out "$tmp/bx.tv.safetensors"
        [ "$rc" -eq 1 ] && grep -qF "$3" <<<"$err" && [ ! -e "$tmp/bx.tv.safetensors" ] &&
            ok "export of $4 -> exit 1: ...${err#*\" }" || bad "export of $1 on $2 -> exit $rc: $err"
    }
    for bad_mb in "conv(16,3,2,1,0),batchnorm,hardswish,residual(conv(16,3,1,1,0,16),batchnorm,relu,se(8,relu,hardsigmoid),conv(24,1,1,0,0),batchnorm),conv(32,1,1,0,0),batchnorm,hardswish,globalavgpool,linear(16),hardswish,linear(10)|conv4: a projection shortcut" \
        "conv(8,3,2,1,0),batchnorm,relu6,flatten,linear(8),conv(48,1,1,0,0),batchnorm,relu6,conv(8,1,1,0,0),batchnorm,conv(16,1,1,0,0),batchnorm,relu6,linear(10)|linear1: a linear layer before the blocks"; do
        refused_export "${bad_mb%|*}" tiny "${bad_mb#*|}" "a MobileNet-like model torchvision has no names for"
    done
    run export --model "$tmp/resnet18" --out "$tmp/resnet18/model.safetensors"
    [ "$rc" -eq 2 ] && grep -q "is the model's own file" <<<"$err" && ok "export onto the model's own file -> exit 2" ||
        bad "export onto its own file -> exit $rc: $err"
    # and the other way: torchvision's own state_dicts (as its pretrained weights, saved as
    # safetensors), read by their names: ctrain eval of the file alone (the preset found from its
    # tensors) gives torchvision's loss and accuracy; --init fine-tunes from it
    sds="resnet18 resnet50 resnext50_32x4d mobilenet_v2 mobilenet_v3_large mobilenet_v3_small efficientnet_b0"
    for name in $sds; do printf '%s\t%s\t%s\n' "$name" "$tmp/tv_$name.safetensors" "$name"; done >"$tmp/tv_sds"
    tv_python "$TV_PY_HEAD"'
def job(path, arch):
    torch.manual_seed(5)
    tv = getattr(torchvision.models, arch)(num_classes=10)
    one_channel(tv, arch)
    for m in tv.modules():  # (batch norms not at their defaults: their order matters)
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2), m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5), m.bias.data.uniform_(-0.2, 0.2)
        if isinstance(m, torch.nn.Linear) and arch.startswith("mobilenet"):
            m.weight.data.normal_(0, 0.2)  # (not N(0, 0.01): outputs far from uniform)
    tv.eval()
    save_state_dict(tv.state_dict(), path)
    yield test_line(*test_outputs(tv, sys.argv[2]))
each(job)' "$tmp/tv_sds"
    for name in $sds; do
        pt=${TV_PT[$name]:-${TV_PT[_err]}}
        run eval --model "$tmp/tv_$name.safetensors" --dataset idx --data "$tmp/tiny"
        [ "$name" = resnet18 ] && pt18=$pt
        [ "$rc" -eq 0 ] && near_line "$pt" "$(grep '^test_loss' <<<"$out")" &&
            grep -q "^Model: $name (" <<<"$out" &&
            ok "torchvision's $name state_dict read by its names, the preset found: $pt, as torchvision" ||
            bad "eval of torchvision's $name -> exit $rc: '$(grep '^test_loss' <<<"$out")' vs torchvision's '$pt' $err"
    done
    # torchvision's older weights have no num_batches_tracked (0, as load_state_dict makes it);
    # a ResNeXt of no preset's groups (16 groups of 8) is named, not mistaken for another
    "$PY" - "$here" "$tmp" <<'EOF' || bad "writing the older and the ResNeXt-like state_dicts"
import sys
import torch
sys.path.insert(0, sys.argv[1])
from torch_parity import save_state_dict
from ctrain_torch import load_state_dict
sd = load_state_dict(sys.argv[2] + "/tv_resnet18.safetensors")
save_state_dict({k: v for k, v in sd.items() if not k.endswith("num_batches_tracked")},
                sys.argv[2] + "/tv_old.safetensors")
save_state_dict({"conv1.weight": torch.zeros(64, 1, 7, 7), "bn1.weight": torch.ones(64),
                 "layer1.0.conv1.weight": torch.zeros(128, 64, 1, 1),
                 "layer1.0.conv2.weight": torch.zeros(128, 8, 3, 3),  # (16 groups)
                 "fc.weight": torch.zeros(10, 2048)}, sys.argv[2] + "/tv_next.safetensors")
EOF
    run eval --model "$tmp/tv_old.safetensors" --dataset idx --data "$tmp/tiny"
    [ "$rc" -eq 0 ] && [ "$(grep '^test_loss' <<<"$out")" = "$(grep '^test_loss' <<<"$pt18")" ] &&
        ok "torchvision's resnet18 without num_batches_tracked: $(grep '^test_loss' <<<"$out"), as with" ||
        bad "tv_old -> exit $rc: $out $err (with: $pt18)"
    run eval --model "$tmp/tv_next.safetensors" --dataset idx --data "$tmp/tiny"
    [ "$rc" -eq 1 ] && grep -q "a torchvision model's but of none of the presets resnet18 .*another width or depth" <<<"$err" &&
        ok "a ResNeXt of 16 groups -> exit 1: $err" || bad "tv_next -> exit $rc: $out $err"
    run train --dataset idx --data "$tmp/tiny" --epochs 1 --init "$tmp/tv_next.safetensors"
    [ "$rc" -eq 1 ] && grep -q "another width or depth, say; give its layers: .*train's --model" <<<"$err" &&
        ok "--init from a ResNeXt of 16 groups -> exit 1, says why" || bad "--init tv_next -> exit $rc: $err"
    run eval --model "$tmp/tv_resnet18.safetensors" --spec resnet34 --dataset idx --data "$tmp/tiny"
    [ "$rc" -eq 1 ] && [ "$(wc -l <<<"$err")" -eq 1 ] &&
        grep -q "its tensors are a torchvision ResNet's, of 41 modules with tensors, but the model resnet34 has 73" <<<"$err" &&
        ok "torchvision's resnet18 as --spec resnet34 -> exit 1: $err" || bad "tv_resnet18 --spec resnet34 -> exit $rc: $err"
    run train --dataset idx --data "$tmp/tiny" --val-size 0 --epochs 1 --batch-size 8 --lr 0.01 \
        --init "$tmp/tv_resnet18.safetensors" --quiet
    [ "$rc" -eq 0 ] && grep -q '^test_loss' <<<"$out" && ok "--init from torchvision's resnet18 state_dict trains: $(grep '^test_loss' <<<"$out")" ||
        bad "--init tv_resnet18 -> exit $rc: $out $err"
    # torchvision's vit_b_16 (image_size 32, its conv_proj on one channel, its head not zeros)
    # read by its names, the preset found from its tensors (the heads, which no tensor holds, the
    # preset's 12): eval on 20 digits padded to 32x32 gives torchvision's loss; on 28x28 images
    # its position embeddings do not fit, and that is said
    vit_pt=$("$PY" - "$here" "$tmp" <<'EOF' 2>"$tmp/vit_pt.err"
import os, struct, sys
import torch, torchvision
sys.path.insert(0, sys.argv[1])
from torch_parity import idx, save_state_dict, test_outputs, test_line
t = sys.argv[2]
os.makedirs(t + "/tiny32", exist_ok=True)
for part, n in (("train", 16), ("t10k", 20)):
    x = torch.nn.functional.pad(idx(t + "/tiny/%s-images-idx3-ubyte" % part)[:n], (2, 2, 2, 2))
    y = idx(t + "/tiny/%s-labels-idx1-ubyte" % part)[:n]
    open(t + "/tiny32/%s-images-idx3-ubyte" % part, "wb").write(
        struct.pack(">IIII", 0x803, n, 32, 32) + x.numpy().tobytes())
    open(t + "/tiny32/%s-labels-idx1-ubyte" % part, "wb").write(
        struct.pack(">II", 0x801, n) + y.numpy().tobytes())
torch.manual_seed(7)
tv = torchvision.models.vit_b_16(num_classes=10, image_size=32)
tv.conv_proj = torch.nn.Conv2d(1, 768, 16, 16)
torch.nn.init.normal_(tv.heads.head.weight, 0, 0.05)  # (torchvision's zeros: uniform outputs)
save_state_dict(tv.state_dict(), t + "/tv_vit_b_16.safetensors")
print(test_line(*test_outputs(tv.eval(), t + "/tiny32")))
EOF
)
    run eval --model "$tmp/tv_vit_b_16.safetensors" --dataset idx --data "$tmp/tiny32"
    [ "$rc" -eq 0 ] && near_line "$vit_pt" "$(grep '^test_loss' <<<"$out")" && grep -q "^Model: vit_b_16 (85265674 parameters" <<<"$out" &&
        ok "torchvision's vit_b_16 state_dict read by its names, the preset found: $vit_pt, as torchvision" ||
        bad "eval of torchvision's vit_b_16 -> exit $rc: '$(grep -E '^(Model|test_loss)' <<<"$out")' vs torchvision's '$vit_pt' $err $(head -c 1500 "$tmp/vit_pt.err")"
    run eval --model "$tmp/tv_vit_b_16.safetensors" --dataset idx --data "$tmp/tiny"
    [ "$rc" -eq 1 ] && grep -q "tensor encoder.pos_embedding has shape \[1, 5, 768\] but the model vit_b_16 needs \[1, 2, 768\]" <<<"$err" &&
        ok "torchvision's vit_b_16 of 32x32 images on 28x28 ones -> exit 1: $err" ||
        bad "tv_vit_b_16 on 28x28 -> exit $rc: $err"
    # fine-tuning a ViT on images of another size: torchvision's VisionTransformer of 4x4
    # patches of 7 (image_size 28) --init on 35x35 digits, 5x5 patches: its position embeddings
    # resized as torchvision's interpolate_embeddings resizes them (bicubic), said on the Model
    # line (the layers up to them frozen: saved as loaded)
    vit_small="conv(16,7,7,0),tokens,clstoken,posembed,residual(layernorm(1e-6),attention(4)),residual(layernorm(1e-6),linear(32),gelu,linear(16)),layernorm(1e-6),clspool,linear(10)"
    "$PY" - "$here" "$tmp" <<'EOF' || bad "writing the 35x35 digits and a small ViT's state_dict"
import os, struct, sys
import torch, torchvision
sys.path.insert(0, sys.argv[1])
from torch_parity import idx, save_state_dict
t = sys.argv[2]
os.makedirs(t + "/tiny35", exist_ok=True)
for part in ("train", "t10k"):
    x = torch.nn.functional.pad(idx(t + "/tiny/%s-images-idx3-ubyte" % part), (3, 4, 3, 4))
    open(t + "/tiny35/%s-images-idx3-ubyte" % part, "wb").write(
        struct.pack(">IIII", 0x803, x.shape[0], 35, 35) + x.numpy().tobytes())
    open(t + "/tiny35/%s-labels-idx1-ubyte" % part, "wb").write(
        open(t + "/tiny/%s-labels-idx1-ubyte" % part, "rb").read())
torch.manual_seed(8)
tv = torchvision.models.VisionTransformer(image_size=28, patch_size=7, num_layers=1, num_heads=4,
                                          hidden_dim=16, mlp_dim=32, num_classes=10)
tv.conv_proj = torch.nn.Conv2d(1, 16, 7, 7)
torch.nn.init.normal_(tv.encoder.pos_embedding, 0, 1)  # (not 0.02: differences that show)
save_state_dict(tv.state_dict(), t + "/tv_vit_small.safetensors")
EOF
    run train --dataset idx --data "$tmp/tiny35" --val-size 0 --epochs 1 --batch-size 32 --model "$vit_small" \
        --init "$tmp/tv_vit_small.safetensors" --freeze posembed1 --save "$tmp/vit35"
    pos=$("$PY" - "$here" "$tmp" 2>"$tmp/pos.err" <<'EOF'
import sys
import torch
from torchvision.models.vision_transformer import interpolate_embeddings
sys.path.insert(0, sys.argv[1] + "/../tools")
import ctrain_torch
t = sys.argv[2]
want = interpolate_embeddings(35, 7, ctrain_torch.load_state_dict(t + "/tv_vit_small.safetensors"))
want = want["encoder.pos_embedding"]
got = ctrain_torch.load_state_dict(t + "/vit35/model.safetensors")["posembed1.pos_embedding"]
print("shape %s, largest difference %.3g of %.3g" % (tuple(got.shape), (got - want).abs().max(),
                                                     want.abs().max()))
EOF
)
    [ "$rc" -eq 0 ] && grep -q "^Model: .*weights from .*tv_vit_small.safetensors, the position embeddings resized from 4x4 to 5x5 patches)$" <<<"$out" &&
        awk -v p="$pos" 'BEGIN { exit !(p ~ /^shape \(1, 26, 16\), largest difference/ && split(p, w, " ") && w[7] + 0 < 1e-5) }' &&
        ok "--init from a ViT of 4x4 patches on 35x35 images: $pos, as torchvision's interpolate_embeddings" ||
        bad "--init tv_vit_small on 35x35 -> exit $rc: $(grep '^Model' <<<"$out") $err; $pos $(head -c 1500 "$tmp/pos.err")"
    # what torchvision's VisionTransformer cannot be: refused, nothing written (a layer norm of
    # eps 1e-5: its are 1e-6; blocks of 4 and 2 heads: its have one num_heads; 32x32 images in
    # patches of 7)
    two_heads="conv(16,7,7,0),tokens,clstoken,posembed,residual(layernorm(1e-6),attention(4)),residual(layernorm(1e-6),linear(32),gelu,linear(16)),residual(layernorm(1e-6),attention(2)),residual(layernorm(1e-6),linear(32),gelu,linear(16)),layernorm(1e-6),clspool,linear(10)"
    for bad_vit in "${vit_small%layernorm(1e-6),clspool*}layernorm,clspool,linear(10)|tiny|a layer norm of another eps than 1e-6" \
        "$two_heads|tiny|blocks of other heads than the first's: torchvision's have one num_heads" \
        "$vit_small|tiny32|(32x32 images in patches of 7: torchvision's take square ones, a multiple of the patch)"; do
        IFS='|' read -r spec data want <<<"$bad_vit"
        refused_export "$spec" "$data" "$want" "a ViT torchvision's class cannot be"
    done
    # an ImageNet-shaped one (3 input channels, 1000 classes) on grey digits: a new fc, and conv1
    # summed over its input channels
    "$PY" -c 'import sys, torch, torchvision; sys.path.insert(0, sys.argv[1]); from torch_parity import save_state_dict
torch.manual_seed(6); save_state_dict(torchvision.models.resnet18().state_dict(), sys.argv[2])' "$here" "$tmp/tv_rgb.safetensors" ||
        bad "writing an RGB resnet18"
    run train --dataset idx --data "$tmp/tiny" --val-size 0 --epochs 1 --batch-size 8 --lr 0.01 \
        --init "$tmp/tv_rgb.safetensors" --model resnet18
    [ "$rc" -eq 0 ] && grep -q "^Model: resnet18 (11175370 parameters, weights from .*tv_rgb.safetensors but the last layer's, new for these classes, the first conv's summed over its 3 input channels for grey images)$" <<<"$out" &&
        ok "--init from an RGB, 1000-class resnet18 on grey digits: $(grep '^Model' <<<"$out")" ||
        bad "--init tv_rgb -> exit $rc: $(grep '^Model' <<<"$out") $err"
    # every torchvision preset: its layers with weights, in order, hold as many as torchvision's
    # modules in its state_dict's order (ctrain summary's rows against named_modules; the
    # ResNeXt-101s are resnext50_32x4d's blocks, their parameter counts test_nn_grad's)
    presets="resnet18 resnet34 resnet50 resnet101 resnet152 wide_resnet50_2 wide_resnet101_2
        resnext50_32x4d mobilenet_v2 mobilenet_v3_large mobilenet_v3_small efficientnet_b0"
    "$PY" - "$tmp" $presets <<'EOF' || bad "torchvision's modules of $presets"
import sys
import torch, torchvision
for arch in sys.argv[2:]:  # (one process for all: its imports take a second)
    m = getattr(torchvision.models, arch)(num_classes=10)
    if arch.startswith(("mobilenet", "efficientnet")):  # (MNIST: one channel)
        m.features[0][0] = torch.nn.Conv2d(1, m.features[0][0].out_channels, 3, 2, 1, bias=False)
    else:
        m.conv1 = torch.nn.Conv2d(1, 64, 7, 2, 3, bias=False)
    se, counts = (), []  # (a squeeze-and-excitation's fc1 and fc2: one layer, se(...), in ctrain)
    for name, mod in m.named_modules():
        if isinstance(mod, torchvision.ops.SqueezeExcitation):
            se = name + "."
            counts.append(sum(p.numel() for p in mod.parameters()))
        elif not (se and name.startswith(se)):
            n = sum(p.numel() for p in mod.parameters(recurse=False))
            if n:
                counts.append(n)
    with open("%s/modules_%s.txt" % (sys.argv[1], arch), "w") as f:
        f.write("".join("%d\n" % n for n in counts))
EOF
    for name in $presets; do
        ours=$("$CT" summary --model "$name" | awk '/^Total params/ { exit } NR > 3 && $(NF - 1) > 0 { print $(NF - 1) }')
        theirs=$(cat "$tmp/modules_$name.txt" 2>/dev/null)
        [ -n "$ours" ] && [ "$ours" = "$theirs" ] &&
            ok "$name: its $(wc -l <<<"$ours") layers with weights hold torchvision's $name's modules' parameters, in order" ||
            bad "$name vs torchvision's modules: $(diff <(echo "$ours") <(echo "$theirs") | head -5)"
    done
fi

# ------------------------------------------------------------------ predict's probabilities
"$PY" "$here/st_tool.py" export "$tmp/small" 7 "$tmp/seven.png"
got=$("$CT" predict --model "$tmp/cnn" "$tmp/seven.png" 2>&1)
want=$("$PY" - "$here/../tools" "$tmp/small" "$tmp/cnn" <<'EOF'
import sys
import torch
sys.path.insert(0, sys.argv[1])
import ctrain_torch
raw = open(sys.argv[2] + "/t10k-images-idx3-ubyte", "rb").read()
x = torch.frombuffer(bytearray(raw[16 + 7 * 784:16 + 8 * 784]), dtype=torch.uint8).float().div(255)
p = ctrain_torch.load_model(sys.argv[3])(x.reshape(1, 1, 28, 28)).softmax(1)[0]
print("%d (%.4f)" % (p.argmax().item(), p.max().item()))
EOF
)
grep -q ": $want " <<<"$got" && ok "ctrain predict and PyTorch agree on test image 7: $want" ||
    bad "predict '$got' vs PyTorch '$want'"

# ------------------------------------------------------------------ and back: PyTorch's state_dict
"$PY" - "$tmp/pt.safetensors" "$tmp" <<'EOF'
import sys
import torch
torch.manual_seed(3)
m = torch.nn.Sequential()
m.add_module("flatten", torch.nn.Flatten())
m.add_module("linear1", torch.nn.Linear(784, 24))
m.add_module("relu", torch.nn.ReLU())
m.add_module("linear2", torch.nn.Linear(24, 10))
sys.path.insert(0, sys.argv[2])
import save_sd
save_sd.save(m.state_dict(), sys.argv[1])
EOF
run train --init "$tmp/pt.safetensors" --dataset idx --data "$tmp/small" --val-size 500 --epochs 1 --lr 0.1 --quiet --save "$tmp/back"
ct=$("$CT" eval --model "$tmp/back" --dataset idx --data "$tmp/small" 2>&1 | grep '^test_loss')
pt=$(torch_eval "$tmp/back" 2>&1)
[ "$rc" -eq 0 ] && [ -n "$ct" ] && [ "$ct" = "$pt" ] &&
    ok "a PyTorch state_dict trained on by ctrain (--init, its model inferred) and read back: $pt" ||
    bad "--init from PyTorch and back: ctrain '$ct' vs PyTorch '$pt' (train exit $rc: $err)"

# ------------------------------------------------------------------ PyTorch's nn.Sequential names
# a Sequential's state_dict ("1.weight", ...), trained a little in PyTorch: ctrain eval gets the
# loss and accuracy PyTorch gets (the MLP's layers inferred; the CNN's given with --spec)
for case in "mlp|" "cnn|conv(4,3,1,1),relu,maxpool(2),flatten,linear(10)"; do
    IFS='|' read -r name spec <<<"$case"
    want=$("$PY" - "$tmp/small" "$tmp/seq_$name.safetensors" "$name" "$tmp" "$here" <<'EOF'
import sys
import torch
from torch import nn
sys.path.insert(0, sys.argv[5])
from torch_parity import idx, test_outputs, test_line
torch.manual_seed(5)
if sys.argv[3] == "mlp":
    m = nn.Sequential(nn.Flatten(), nn.Linear(784, 20), nn.ReLU(), nn.Linear(20, 10))
else:
    m = nn.Sequential(nn.Conv2d(1, 4, 3, 1, 1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                      nn.Linear(4 * 14 * 14, 10))
x = idx(sys.argv[1] + "/train-images-idx3-ubyte").float().div(255).unsqueeze(1)
y = idx(sys.argv[1] + "/train-labels-idx1-ubyte").long()
opt = torch.optim.SGD(m.parameters(), lr=0.1)
for i in range(0, 3000, 100):
    opt.zero_grad()
    nn.functional.cross_entropy(m(x[i:i + 100]), y[i:i + 100]).backward()
    opt.step()
sys.path.insert(0, sys.argv[4])
import save_sd
save_sd.save(m.state_dict(), sys.argv[2])
print(test_line(*test_outputs(m, sys.argv[1])))
EOF
)
    [ "$name" = mlp ] && want_mlp=$want
    # shellcheck disable=SC2046 # --spec SPEC only for the CNN
    got=$("$CT" eval --model "$tmp/seq_$name.safetensors" --dataset idx --data "$tmp/small" \
          $([ -n "$spec" ] && echo --spec "$spec") 2>&1)
    line=$(grep '^test_loss' <<<"$got")
    [ -n "$line" ] && [ "$line" = "$want" ] &&
        ok "an nn.Sequential $name's state_dict in ctrain eval: $line, as in PyTorch" ||
        bad "nn.Sequential $name: ctrain '$got' vs PyTorch '$want'"
done
pt=$(torch_eval "$tmp/seq_mlp.safetensors" 2>&1) # and ctrain_torch reads one as ctrain does
[ "$pt" = "$want_mlp" ] && ok "ctrain_torch.load_model of an nn.Sequential MLP's file: $pt" ||
    bad "ctrain_torch.load_model of seq_mlp.safetensors: '$pt' (want '$want_mlp')"

echo
finish cli_torch
