#!/usr/bin/env bash
# cli_onnx.sh — ctrain export: saved models as ONNX files that ONNX's own checker accepts
# (onnx.checker.check_model with full_check: types and shapes inferred through the whole graph;
# Debian's python3-onnx) and that ONNX Runtime (npm's onnxruntime-node, fetched once into
# ~/.cache/ctrain/) runs to ctrain eval's test_loss and test_acc on 2000 MNIST test images: the
# tutorial's MLP, a CNN with every kind of layer, one that reshapes a flat vector back into an
# image, residual blocks (identity and projection shortcuts; on images and on flat vectors,
# where the shortcut's 1x1 conv gives an image the add flattens; stochastic depth, the identity
# at inference), and grouped and depthwise convs with ReLU6, Hardswish, SiLU, Hardsigmoid and
# squeeze-and-excitation (an inverted residual block), group and layer norm. Bad flags and
# outputs are refused, and an
# existing file that is not ONNX is not overwritten. Each reference prints SKIP where it cannot be had (no python3-onnx; no npm, node or
# network for ONNX Runtime).
# Usage: bash tests/cli_onnx.sh path/to/ctrain
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/clilib.sh"
CT=${1:?usage: bash cli_onnx.sh path/to/ctrain}
CT=$(cd "$(dirname "$CT")" && pwd)/$(basename "$CT")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1

dir=$("$CT" data path) || { echo "FAIL - ctrain data path"; exit 1; }
[ -f "$dir/t10k-images-idx3-ubyte" ] || [ -f "$dir/t10k-images-idx3-ubyte.gz" ] ||
    { echo "SKIP cli_onnx: no MNIST in $dir"; exit 0; }

# ONNX's checker (python3-onnx)
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3
have_onnx=1
"$PY" -c 'import onnx' 2>/dev/null || { have_onnx=0; echo "SKIP cli_onnx checker: $PY cannot import onnx (apt-get install python3-onnx)"; }
# ONNX Runtime (npm pack onnxruntime-node onnxruntime-common, the Linux x64 library kept)
ORT_VERSION=1.30.0
ort=${XDG_CACHE_HOME:-$HOME/.cache}/ctrain/onnxruntime-node-$ORT_VERSION
have_ort=1
fetch_ort() { # into $ort, whole or not at all
    command -v npm >/dev/null && command -v node >/dev/null || return 1
    mkdir -p "$tmp/ort/node_modules" || return 1
    (cd "$tmp/ort" && timeout 300 npm pack --silent "onnxruntime-node@$ORT_VERSION" \
        "onnxruntime-common@$ORT_VERSION") >/dev/null 2>&1 || return 1 # (a stalled registry: SKIP)
    local p
    for p in node common; do
        mkdir -p "$tmp/ort/node_modules/onnxruntime-$p" &&
            tar xzf "$tmp/ort/onnxruntime-$p-$ORT_VERSION.tgz" -C "$tmp/ort/node_modules/onnxruntime-$p" \
                --strip-components 1 || return 1
    done
    # (the other systems' libraries: 200 MB not needed here)
    find "$tmp/ort/node_modules/onnxruntime-node/bin" -mindepth 3 -maxdepth 3 -type d ! -path '*/linux/x64' \
        -exec rm -rf {} + 2>/dev/null
    rm -f "$tmp/ort"/*.tgz
    mkdir -p "$(dirname "$ort")" && rm -rf "$ort.part.$$" && mv "$tmp/ort" "$ort.part.$$" || return 1
    mv -T "$ort.part.$$" "$ort" 2>/dev/null || rm -rf "$ort.part.$$" # (another got there first)
}
[ -d "$ort/node_modules/onnxruntime-node" ] || fetch_ort
if ! NODE_PATH=$ort/node_modules node -e 'require("onnxruntime-node")' 2>/dev/null; then
    have_ort=0
    echo "SKIP cli_onnx runtime: ONNX Runtime could not be had (npm pack onnxruntime-node@$ORT_VERSION; node)"
fi

# check NAME MODEL_DIR [EVAL FLAGS]: exports MODEL_DIR to NAME.onnx, then the checker and ONNX Runtime
# (on the cut's test images, as ctrain eval --model MODEL_DIR [EVAL FLAGS] evaluates them)
check() { # NAME MODEL_DIR [EVAL FLAGS...]: ctrain eval's test set must be the cut's
    local name=$1 model=$2
    shift 2
    run export --model "$model" --out "$name.onnx"
    if [ "$rc" -ne 0 ] || ! grep -q "^Wrote $name.onnx: " <<<"$out"; then
        bad "$name: export -> exit $rc: $out $err"
        return
    fi
    ok "$name: $out"
    if [ "$have_onnx" -eq 1 ]; then
        if "$PY" - "$name.onnx" >"$name.chk" 2>&1 <<'EOF'; then
import sys
import onnx
m = onnx.load(sys.argv[1])
onnx.checker.check_model(m, full_check=True)
meta = {p.key: p.value for p in m.metadata_props}
assert [o.name for o in m.graph.output] == ["logits", "probabilities"], m.graph.output
assert m.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
assert "model_spec" in meta and "test_acc" in meta, meta
print("opset %d, %d nodes, %d initializers, metadata %s" % (
    m.opset_import[0].version, len(m.graph.node), len(m.graph.initializer), sorted(meta)))
EOF
            ok "$name: onnx.checker (full_check) accepts it: $(cat "$name.chk")"
        else
            bad "$name: onnx.checker: $(cat "$name.chk")"
        fi
    fi
    if [ "$have_ort" -eq 1 ]; then
        local want got
        want=$("$CT" eval --model "$model" "$@" 2>&1 | grep '^test_loss')
        if got=$(NODE_PATH=$ort/node_modules node "$here/onnx_eval.js" "$name.onnx" "$img" "$lab" 2>&1); then
            local line # (as numbers: a loss within 1e-4 of the printed one, the accuracy's digits)
            line=$(awk '/^loss/ {printf "test_loss: %.6f, test_acc: %.4f", $2, $4}' <<<"$got")
            if [ -n "$want" ] && awk -v a="$line" -v b="$want" 'BEGIN {
                    split(a, x, /[:,] */); split(b, y, /[:,] */);
                    d = x[2] - y[2]; if (d < 0) d = -d; exit !(d <= 1e-4 && x[4] == y[4]) }' &&
                awk '/^max/ {exit !($NF < 1e-5)}' <<<"$got"; then
                ok "$name: ONNX Runtime gives ctrain eval's $want ($(tr '\n' ' ' <<<"$got"))"
            else
                bad "$name: ONNX Runtime '$line' ($got) vs ctrain eval '$want'"
            fi
        else
            bad "$name: onnx_eval.js: $got"
        fi
    fi
}

# ------------------------------------------------------------------ models
# each trained on 4000 images without validation passes (CUT; a sanitizer build 1000: the same
# code paths, a quarter of its minutes), evaluated on the cut's 2000 test images by ctrain eval
# and by ONNX Runtime
. "$here/small_mnist.sh"
# (trained: the models' test accuracy at least 0.3, the small MobileNet's loss under 2.2; a
# sanitizer build's, on a quarter of the images, only a test line, and for the MobileNet a loss
# that is finite)
ntrain=4000 trained='test_acc: 0\.[3-9]' mobile_loss=2.2
[ "${CTRAIN_TEST_SANITIZED:-OFF}" = ON ] && ntrain=1000 trained='test_acc: [01]\.' mobile_loss=1e30
small_mnist "$dir" "$tmp/cut" $ntrain 2000 || bad "could not cut $ntrain images from $dir"
img=$tmp/cut/t10k-images-idx3-ubyte lab=$tmp/cut/t10k-labels-idx1-ubyte
CUT=(--dataset idx --data "$tmp/cut")
run train "${CUT[@]}" --val-size 0 --epochs 1 --quiet --save mlp
[ "$rc" -eq 0 ] || bad "train mlp -> exit $rc: $err"
check mlp mlp "${CUT[@]}"
every="normalize(0.1307,0.3081),conv(8,3,1,1),batchnorm,relu,maxpool(2),conv(8,3,2,1),leakyrelu(0.2),avgpool(2,2,1),dropout(0.25),flatten,linear(32),batchnorm,gelu,linear(16),tanh,linear(16),sigmoid,linear(10)"
run train "${CUT[@]}" --model "$every" --optimizer adam --lr 0.003 --epochs 2 --val-size 0 --quiet --save cnn
[ "$rc" -eq 0 ] && grep -q "$trained" <<<"$out" || bad "train cnn -> exit $rc: $out $err"
check cnn cnn "${CUT[@]}"
run train "${CUT[@]}" --model "conv(4,3),flatten,batchnorm,maxpool(1),linear(10)" --epochs 1 --val-size 0 \
    --quiet --save reshaped
[ "$rc" -eq 0 ] || bad "train reshaped -> exit $rc: $err"
check reshaped reshaped "${CUT[@]}"
res="conv(8,3,1,1,0),batchnorm,relu,residual(conv(8,3,1,1,0),batchnorm,relu,conv(8,3,1,1,0),batchnorm),relu,residual(conv(16,3,2,1,0),batchnorm,relu,conv(16,3,1,1),batchnorm),relu,globalavgpool,linear(10)"
run train "${CUT[@]}" --model "$res" --lr 0.05 --momentum 0.9 --batch-size 32 --epochs 2 --val-size 0 \
    --quiet --save resnet
[ "$rc" -eq 0 ] && grep -q "$trained" <<<"$out" || bad "train resnet -> exit $rc: $out $err"
check resnet resnet "${CUT[@]}"
run train "${CUT[@]}" --model "flatten,linear(32),residual(linear(32),relu,droppath(0.2)),residual(linear(16),tanh),linear(10)" \
    --epochs 1 --val-size 0 --quiet --save flatres
[ "$rc" -eq 0 ] || bad "train flatres -> exit $rc: $err"
check flatres flatres "${CUT[@]}"
# grouped and depthwise convs (Conv's group), ReLU6 (Clip), an inverted residual block, SiLU
# (x * Sigmoid), Hardswish (x * HardSigmoid: HardSwish is opset 14's), Hardsigmoid, squeeze-and-
# excitation (GlobalAveragePool, 1x1 Convs, Mul)
mobile="conv(8,3,1,1,0),batchnorm,relu6,residual(conv(16,1,1,0,0),batchnorm,hardswish,conv(16,3,1,1,0,16),batchnorm,relu6,se(8,relu,hardsigmoid),conv(8,1,1,0,0),batchnorm),conv(16,3,2,1,0,4),batchnorm,silu,se(4,silu),globalavgpool,linear(16),hardsigmoid,linear(10)"
run train "${CUT[@]}" --model "$mobile" --optimizer adam --lr 0.005 --batch-size 32 --epochs 2 \
    --val-size 0 --quiet --save mobile
# (trained: its loss well under chance's ln 10 = 2.3026; this small net with its gates learns
# slowly in 2 epochs, 1.75 here, its accuracy anywhere from 0.17 to 0.43 as the float sums'
# order changes)
[ "$rc" -eq 0 ] && awk -v l="$(sed -n 's/^test_loss: \([0-9.]*\),.*/\1/p' <<<"$out")" -v most="$mobile_loss" 'BEGIN { exit !(l != "" && l + 0 < most + 0) }' ||
    bad "train mobile -> exit $rc: $out $err"
check mobile mobile "${CUT[@]}"
# GroupNorm and LayerNorm (opset 13 has neither: ReduceMean, Sub, Mul, ReduceMean, Add, Sqrt,
# Div, then the weight and bias; a group norm between Reshapes), on images, on a 1x1 plane and
# on features
norms="conv(8,3,1,1),groupnorm(4),relu,maxpool(2),conv(8,3,2,1),layernorm,tanh,conv(12,3,2,1),globalavgpool,layernorm(0.001),flatten,linear(32),groupnorm(2),relu,linear(10)"
run train "${CUT[@]}" --model "$norms" --lr 0.05 --momentum 0.9 --batch-size 32 --epochs 1 \
    --val-size 0 --quiet --save norms
[ "$rc" -eq 0 ] && grep -q "$trained" <<<"$out" || bad "train norms -> exit $rc: $out $err"
check norms norms "${CUT[@]}"
# a vision transformer (tokens: Reshape, Transpose; the class token Expanded to the batch and
# Concatenated; nn.MultiheadAttention as torch.onnx writes it, MatMul, Softmax, ...; each
# token's LayerNorm and MLP; the class token Gathered), and a sequence flattened
vit="conv(16,7,7,0),tokens,clstoken,posembed,residual(layernorm(1e-6),attention(4),dropout(0.1)),residual(layernorm(1e-6),linear(32),gelu,dropout(0.1),linear(16)),layernorm(1e-6),clspool,linear(10)"
run train "${CUT[@]}" --model "$vit" --optimizer adam --lr 0.003 --batch-size 64 --epochs 1 \
    --val-size 0 --quiet --save vit
[ "$rc" -eq 0 ] && grep -q "$trained" <<<"$out" || bad "train vit -> exit $rc: $out $err"
check vit vit "${CUT[@]}"
run train "${CUT[@]}" --model "conv(16,4,4,0),tokens,attention(2),layernorm,linear(16),relu,flatten,linear(10)" \
    --optimizer adam --lr 0.003 --batch-size 64 --epochs 1 --val-size 0 --quiet --save seqflat
[ "$rc" -eq 0 ] && grep -q "$trained" <<<"$out" || bad "train seqflat -> exit $rc: $out $err"
check seqflat seqflat "${CUT[@]}"
run train "${CUT[@]}" --model "conv(32,7,7,0),tokens,posembed,residual(layernorm,attention(2)),layernorm,globalavgpool,linear(10)" \
    --optimizer adam --lr 0.01 --batch-size 64 --epochs 1 --val-size 0 --quiet --save seqmean
[ "$rc" -eq 0 ] && grep -q "$trained" <<<"$out" || bad "train seqmean -> exit $rc: $out $err"
check seqmean seqmean "${CUT[@]}"

# ------------------------------------------------------------------ bad flags and outputs
run export --out x.onnx
[ "$rc" -eq 2 ] && grep -q -- '--model: required' <<<"$err" && ok "export without --model -> exit 2" ||
    bad "export without --model -> exit $rc: $err"
run export --model mlp --out mlp.txt
[ "$rc" -eq 2 ] && grep -q -- '--out mlp.txt: the file.s name must end in .onnx' <<<"$err" &&
    ok "export --out mlp.txt -> exit 2" || bad "export --out mlp.txt -> exit $rc: $err"
run export --model mlp --out nowhere/m.onnx
[ "$rc" -eq 1 ] && grep -q 'its folder nowhere does not exist' <<<"$err" &&
    ok "export into a missing folder -> exit 1" || bad "export --out nowhere/m.onnx -> exit $rc: $err"
run export --model missing_dir --out m.onnx
[ "$rc" -eq 1 ] && [ "$(printf '%s' "$err" | grep -c '')" -eq 1 ] && grep -q 'missing_dir' <<<"$err" && [ ! -e m.onnx ] &&
    ok "export of a missing model -> exit 1, one line, nothing written: $err" || bad "export --model missing_dir -> exit $rc: $err"
cp mlp/model.safetensors keep.onnx
run export --model mlp --out keep.onnx
[ "$rc" -eq 1 ] && grep -q 'exists and is not an ONNX model; not overwriting it' <<<"$err" &&
    cmp -s keep.onnx mlp/model.safetensors && ok "export onto a file that is not ONNX -> exit 1, the file whole" ||
    bad "export --out keep.onnx -> exit $rc: $err"
run export --model mlp --out mlp.onnx
[ "$rc" -eq 0 ] && ok "export onto an earlier ONNX file: replaced" || bad "export again -> exit $rc: $err"
run export --model mlp --dataset mnist --out d.onnx
[ "$rc" -eq 2 ] && grep -q -- '--dataset: .* records its input shape' <<<"$err" &&
    ok "export --dataset of a file that records its shape -> exit 2" || bad "export --dataset -> exit $rc: $err"
finish cli_onnx
