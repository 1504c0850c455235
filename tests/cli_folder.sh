#!/usr/bin/env bash
# cli_folder.sh — `--dataset folder`, a folder of images as torchvision's ImageFolder reads one.
# A 2000/500-image cut of MNIST is written as DIR/train/CLASS/NNNNN.pgm (some as grey PNGs and,
# where python3 has PIL, JPEGs; test images also as RGB PNGs and JPEGs; beside a hidden file and
# a README that are skipped) and, in the order ImageFolder reads them (classes sorted, files sorted), as IDX
# files of the pixels PIL decodes: training on the folder must print exactly what training on
# those IDX files prints. Then the class names (saved in the model, shown by eval), val/ for
# test/, val/ beside test/ as the validation set, summary, and the refusals: a BMP, an image of another size, a test class that train
# lacks, no --data, no images.
# Skips when the MNIST files are not in `ctrain data path` or python3 is missing.
# Usage: bash tests/cli_folder.sh path/to/ctrain
set -u
. "$(cd "$(dirname "$0")" && pwd)/clilib.sh"
. "$(cd "$(dirname "$0")" && pwd)/small_mnist.sh"
CT=${1:?usage: bash cli_folder.sh path/to/ctrain}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1

PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3
command -v "$PY" >/dev/null || { echo "SKIP cli_folder: no python3"; exit 0; }
dir=$("$CT" data path) || { echo "FAIL - ctrain data path"; exit 1; }
small_mnist "$dir" sm 2000 500 || { echo "SKIP cli_folder: no MNIST in $dir (run: ctrain data fetch mnist)"; exit 0; }

# sm (IDX) -> folder/{train,test}/D_NAME/NNNNN.{pgm,png} and sorted/ (IDX, ImageFolder's order)
"$PY" - sm folder sorted <<'EOF' || { echo "FAIL - writing the image folder"; exit 1; }
import io, os, struct, sys, zlib
src, out, srt = sys.argv[1:4]
try:
    from PIL import Image
except ImportError:
    Image = None
    print("SKIP cli_folder JPEG files: python3 has no PIL (apt-get install python3-pil)")
names = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
def png(path, w, h, rows, colour):
    def chunk(t, d): return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
    raw = b"".join(b"\0" + r for r in rows)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2 if colour else 0, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
for part, idx in (("train", "train"), ("test", "t10k")):
    imgs = open(f"{src}/{idx}-images-idx3-ubyte", "rb").read()
    labs = open(f"{src}/{idx}-labels-idx1-ubyte", "rb").read()
    n, h, w = struct.unpack(">III", imgs[4:16])
    items = []
    for i in range(n):
        lab = labs[8 + i]
        px = imgs[16 + i * h * w:16 + (i + 1) * h * w]
        d = f"{out}/{part}/{lab}_{names[lab]}"
        os.makedirs(d, exist_ok=True)
        name = f"{i:05d}"
        rows = [px[r * w:(r + 1) * w] for r in range(h)]
        colour = part == "test"  # (one colour training image would make the dataset colour)
        if Image and i % 7 in (1, 6): # a JPEG, grey or RGB; the pixels as PIL decodes them
            im = Image.frombytes("L", (w, h), px)
            if i % 7 == 6 and colour: im = im.convert("RGB")
            im.save(f"{d}/{name}.jpg", quality=90)
            px = Image.open(f"{d}/{name}.jpg").convert("L").tobytes()
        elif i % 7 == 3: # a grey PNG
            png(f"{d}/{name}.png", w, h, rows, False)
        elif i % 7 == 5 and colour: # an RGB PNG of the same grey (PIL's L of it: the grey again)
            png(f"{d}/{name}.PNG", w, h, [bytes(v for p in r for v in (p, p, p)) for r in rows], True)
        else:
            with open(f"{d}/{name}.pgm", "wb") as f:
                f.write(b"P5\n%d %d\n255\n" % (w, h) + px)
        items.append((f"{lab}_{names[lab]}", name, lab, px))
    items.sort(key=lambda t: (t[0], t[1]))  # ImageFolder: classes sorted, then files
    os.makedirs(srt, exist_ok=True)
    with open(f"{srt}/{idx}-images-idx3-ubyte", "wb") as f:
        f.write(struct.pack(">IIII", 0x803, n, h, w) + b"".join(t[3] for t in items))
    with open(f"{srt}/{idx}-labels-idx1-ubyte", "wb") as f:
        f.write(struct.pack(">II", 0x801, n) + bytes(t[2] for t in items))
open(f"{out}/train/0_zero/.hidden.pgm", "wb").write(b"not an image")
open(f"{out}/train/3_three/README.txt", "w").write("not an image either\n")
EOF

# refuse NAME EXPECT-RC PATTERN ARGS...: the run exits EXPECT-RC before training, its message
# matching PATTERN
refuse() { # NAME EXPECT-RC PATTERN ARGS...
    local name=$1 want=$2 pat=$3
    shift 3
    run "$@"
    if [ "$rc" -eq "$want" ] && grep -q -- "$pat" <<<"$err" && ! grep -q "^Epoch" <<<"$out"; then
        ok "$name -> exit $rc: $(head -n 1 <<<"$err")"
    else
        bad "$name -> exit $rc (want $want, /$pat/): $err"
    fi
}

A=(--val-size 300 --epochs 2 --lr 0.3 --batch-size 64 --quiet)
"$CT" train --dataset idx --data sorted "${A[@]}" >idx.out 2>idx.err || bad "train on the sorted IDX files: $(cat idx.err)"
"$CT" train --dataset folder --data folder "${A[@]}" --save run >folder.out 2>folder.err
rc=$?
if [ $rc -eq 0 ] && [ -n "$(results idx)" ] && [ "$(results idx)" = "$(results folder)" ]; then
    ok "train --dataset folder = train on the same images as IDX in ImageFolder's order: $(results folder | tail -n 1)"
else
    bad "--dataset folder -> exit $rc: $(cat folder.out folder.err)"$'\n'"IDX: $(cat idx.out)"
fi
"$CT" train --dataset folder --data folder "${A[@]}" --model lenet5 >folder5.out 2>&1 &&
    grep -q "^test_loss" folder5.out && ok "--model lenet5 on the folder" || bad "--model lenet5 on the folder: $(cat folder5.out)"

# a resume finds the folder again (its absolute path is in the train state)
"$CT" train --resume run --epochs 3 --quiet >resumed.out 2>resumed.err &&
    grep -q "^Epoch \[2\]" resumed.out && ok "--resume of a folder run without --data: $(grep '^Epoch \[2\]' resumed.out)" ||
    bad "--resume run --epochs 3: $(cat resumed.out resumed.err)"

# the class names: the folders', in the model, shown by eval
run eval --model run --data folder
if [ "$rc" -eq 0 ] && grep -q "3_three" <<<"$out" && grep -q "9_nine" <<<"$out"; then
    ok "eval --model run --data folder: the classes named as their folders"
else
    bad "eval of the folder's model -> exit $rc: $out $err"
fi
jpg=$(ls folder/test/7_seven/*.jpg 2>/dev/null | head -n 1)
if [ -n "$jpg" ]; then
    run predict --model run "$jpg"
    [ "$rc" -eq 0 ] && grep -q "[0-9]_[a-z]" <<<"$out" && ok "predict a JPEG: $(head -n 1 <<<"$out")" ||
        bad "predict $jpg -> exit $rc: $out $err"
fi
# predict FOLDER: its images one by one in ImageFolder's order, each line as predict FILE's
run predict --model run folder/test/7_seven
want=$(find folder/test/7_seven -type f \( -iname '*.png' -o -iname '*.jpg' -o -iname '*.jpeg' \
    -o -iname '*.pgm' -o -iname '*.ppm' \) | LC_ALL=C sort)
first=$(head -n 1 <<<"$want")
if [ "$rc" -eq 0 ] && [ "$(cut -d: -f1 <<<"$out")" = "$want" ]; then
    one=$("$CT" predict --model run "$first" 2>/dev/null)
    [ "$one" = "$(head -n 1 <<<"$out")" ] &&
        ok "predict FOLDER: its $(wc -l <<<"$want") images in order, as predict FILE classifies them" ||
        bad "predict FOLDER's first line ($(head -n 1 <<<"$out")) is not predict FILE's ($one)"
else
    bad "predict folder/test/7_seven -> exit $rc: $(head -n 3 <<<"$out") $err"
fi
mkdir -p empty_dir
run predict --model run empty_dir "$first"
[ "$rc" -eq 1 ] && grep -q "empty_dir: no images in this folder" <<<"$err" && [ "$(wc -l <<<"$out")" -eq 1 ] &&
    ok "predict of an empty folder and an image -> exit 1, the image still classified" ||
    bad "predict empty_dir IMAGE -> exit $rc: $out $err"
run show --model run --data folder --count 16 --out grid.png
[ "$rc" -eq 0 ] && [ -s grid.png ] && ok "show --model run --data folder: a grid of the folder's test images" ||
    bad "show of the folder -> exit $rc: $err"
run summary --dataset folder --data folder
[ "$rc" -eq 0 ] && grep -q "1x28x28\|(1, 28, 28)\|28, 28" <<<"$out" && ok "summary --dataset folder: the images' shape" ||
    bad "summary --dataset folder -> exit $rc: $out $err"

# val/ for test/
cp -r folder fv && mv fv/test fv/val
"$CT" train --dataset folder --data fv "${A[@]}" >fv.out 2>fv.err
[ $? -eq 0 ] && [ "$(results fv)" = "$(results folder)" ] && ok "DIR/val instead of DIR/test" || bad "DIR/val: $(cat fv.out fv.err)"

# train/, val/ and test/ (as many datasets come): val/'s images are the validation set, after
# train/'s (not a split of them); here val/ holds the test images, so the last epoch's val line
# is the test line; eval --part val reads val/ again; --val-size may only be 0 (none)
cp -r folder ftv && cp -r folder/test ftv/val
run train --dataset folder --data ftv --epochs 2 --lr 0.3 --batch-size 64 --save tvrun
val_line=$(sed -n 's/^Epoch \[1\], val_loss: \([0-9.]*\), val_acc: \([0-9.]*\)$/\1 \2/p' <<<"$out")
test_line=$(sed -n 's/^test_loss: \([0-9.]*\), test_acc: \([0-9.]*\)$/\1 \2/p' <<<"$out")
if [ "$rc" -eq 0 ] && grep -q '^Data: 2000 train / 500 val (the val folder) / 500 test images' <<<"$out" &&
    [ -n "$val_line" ] && [ "$val_line" = "$test_line" ]; then
    ok "train/, val/, test/: val/ is the validation set (2000 / 500 / 500; the val line is the test line: $val_line)"
else
    bad "train/val/test folder -> exit $rc: $out $err"
fi
run eval --model tvrun --data ftv --part val
[ "$rc" -eq 0 ] && grep -q "^val_loss: ${val_line% *}, val_acc: ${val_line#* }$" <<<"$out" &&
    ok "eval --part val of a train/val/test folder's model: val/'s images again" ||
    bad "eval --part val -> exit $rc: $out $err"
# (val/ is a copy of test/: the same predictions, each at its place in its folder's order)
"$CT" eval --model tvrun --data ftv --part val --predictions pv.csv >/dev/null 2>&1 &&
    "$CT" eval --model tvrun --data ftv --predictions pt.csv >/dev/null 2>&1 &&
    [ "$(sed -n '2p' pv.csv | cut -d, -f1)" = 0 ] && [ "$(grep -c '' pv.csv)" -eq 501 ] && cmp -s pv.csv pt.csv &&
    ok "eval --predictions of val/ and of test/ (its copy): the same rows, val/'s places from 0" ||
    bad "eval --part val --predictions: $(head -3 pv.csv) vs $(head -3 pt.csv)"
run train --resume tvrun --epochs 3 --quiet
[ "$rc" -eq 0 ] && grep -q '^Epoch \[2\], val_loss' <<<"$out" && ok "--resume of a train/val/test run" ||
    bad "--resume tvrun -> exit $rc: $out $err"
run train --resume tvrun --val-size 0.5 --epochs 4
[ "$rc" -eq 2 ] && grep -q -- '--val-size 0.5: .*ftv has a val folder' <<<"$err" &&
    ok "--resume of a train/val/test run with a --val-size fraction -> exit 2" ||
    bad "--resume tvrun --val-size 0.5 -> exit $rc: $err"
run eval --model tvrun --data ftv --part train
[ "$rc" -eq 0 ] && grep -q '^Data: folder training set, 2000 images$' <<<"$out" &&
    ok "eval --part train of a train/val/test folder: train/'s 2000 images" ||
    bad "eval --part train -> exit $rc: $out $err"
norm() { sed -n 's/^Model: \(normalize([^)]*)\).*/\1/p' <<<"$out"; }
run train --dataset folder --data ftv --normalize auto --val-size 0 --epochs 1
n1=$(norm)
run train --dataset folder --data folder --normalize auto --val-size 0 --epochs 1
[ -n "$n1" ] && [ "$n1" = "$(norm)" ] && ok "--normalize auto over train/'s images, not val/'s: $n1" ||
    bad "--normalize auto with a val folder: '$n1' vs '$(norm)'"
refuse "--val-size beside a val folder" 2 "--val-size 300: ftv has a val folder beside test, whose 500 images are the validation set" \
    train --dataset folder --data ftv --val-size 300 --epochs 1
run train --dataset folder --data ftv --val-size 0 --epochs 1 --quiet
[ "$rc" -eq 0 ] && grep -q '^Epoch \[0\], train_loss' <<<"$out" && ok "--val-size 0 beside a val folder: no validation" ||
    bad "--val-size 0 with a val folder -> exit $rc: $out $err"

# ImageFolder's walk: a class's images in its sub-folders too, in sorted(os.walk) order; hidden
# folders skipped (not a class); one colour training image makes the dataset colour
mkdir -p nest/train/a/sub nest/train/a/sub2 nest/train/b nest/train/.ipynb_checkpoints nest/test/a
px() { printf 'P5\n2 1\n255\n'; printf "\\x$(printf %02x "$1")\\x$(printf %02x "$1")"; }
px 10 >nest/train/a/z.pgm; px 20 >nest/train/a/sub/y.pgm; px 30 >nest/train/a/sub2/x.pgm
px 40 >nest/train/a/m.pgm; px 50 >nest/train/b/k.pgm; px 60 >nest/train/.ipynb_checkpoints/q.pgm
px 70 >nest/test/a/t.pgm
run show --dataset folder --data nest --part train --count 5 --scale 16 --out nest.png
# (labelled with the class folders' names: as --class-names a,b draws them, not as 0,1)
printf 'a\nb\n' >ab.txt; printf '0\n1\n' >01.txt
run show --dataset folder --data nest --part train --count 5 --scale 16 --class-names ab.txt --out nest_ab.png
run show --dataset folder --data nest --part train --count 5 --scale 16 --class-names 01.txt --out nest_01.png
[ "$rc" -eq 0 ] && cmp -s nest.png nest_ab.png && ! cmp -s nest.png nest_01.png &&
    ok "show of a folder without a model: labelled with its class folders' names" ||
    bad "show of a folder: labels -> exit $rc: $err"
# a class folder's name longer than a model keeps (64 bytes): train refuses, show draws numbers
long=$(printf 'x%.0s' $(seq 1 70))
mkdir -p longname/train/"$long" longname/train/b longname/test/b
px 10 >longname/train/"$long"/1.pgm; px 20 >longname/train/b/2.pgm; px 30 >longname/test/b/3.pgm
run train --dataset folder --data longname --val-size 0 --epochs 1 --batch-size 1
[ "$rc" -eq 1 ] && grep -q "a class folder's name longer than 64 bytes" <<<"$err" &&
    ok "a class folder's name of 70 bytes -> train exits 1, names it" || bad "a 70-byte class name -> exit $rc: $err"
run show --dataset folder --data longname --part train --out longname.png
[ "$rc" -eq 0 ] && [ "$out" = "Wrote longname.png: 2 images" ] &&
    ok "show of that folder: drawn (labelled by number)" || bad "show of a 70-byte class name -> exit $rc: $err"
# a class folder named in Latin-1, not UTF-8: show draws its byte as U+FFFD (cairo refused the
# text: no picture, after all the work), as train saves the name; and so does eval's confusion
# matrix of a --class-names file in Latin-1
latin1=$(printf 'caf\xe9')
mkdir -p latin/train/"$latin1" latin/train/b latin/test/b latin/test/"$latin1"
px 10 >latin/train/"$latin1"/1.pgm; px 20 >latin/train/b/2.pgm; px 30 >latin/test/b/3.pgm
px 40 >latin/test/"$latin1"/4.pgm
run show --dataset folder --data latin --part train --out latin.png
[ "$rc" -eq 0 ] && [ "$out" = "Wrote latin.png: 2 images" ] && [ -s latin.png ] &&
    ok "show of a class folder named in Latin-1: drawn" || bad "show of a Latin-1 class name -> exit $rc: $err"
printf 'b\n%s\n' "$latin1" >latin.txt
run train --dataset folder --data latin --val-size 0 --epochs 1 --batch-size 1 --quiet --save latrun
run eval --model latrun --data latin --class-names latin.txt --confusion latin_cm.png
[ "$rc" -eq 0 ] && [ -s latin_cm.png ] &&
    ok "eval --confusion with a --class-names file in Latin-1: drawn" || bad "eval --confusion, Latin-1 names -> exit $rc: $err"
run train --dataset folder --data nest --val-size 0 --epochs 1 --batch-size 1
if [ "$rc" -eq 0 ] && grep -q "Data: 5 train / 0 val / 1 test images (1x1x2)" <<<"$out" &&
    grep -q "Model: 2 -> 32 -> ReLU -> 2 " <<<"$out" &&
    grep -q "^Classes: 2, training images each (before the split): a 4, b 1$" <<<"$out"; then
    ok "images in a class's sub-folders count, .ipynb_checkpoints is no class: 5 images, 2 classes ($(grep ^Classes <<<"$out"))"
else
    bad "nested class folders -> exit $rc: $out $err"
fi
printf 'P6\n2 1\n255\n\x01\x02\x03\x04\x05\x06' >nest/train/b/colour.ppm
run train --dataset folder --data nest --val-size 0 --epochs 1 --batch-size 1 --save ncol
[ "$rc" -eq 0 ] && grep -q "(3x1x2)" <<<"$out" && ok "one colour training image: a colour dataset (3x1x2)" ||
    bad "a colour image among grey ones -> exit $rc: $out $err"
rm nest/train/b/colour.ppm # (a grey folder now: eval gives its images the model's 3 channels)
run eval --model ncol --data nest
[ "$rc" -eq 0 ] && grep -q "accuracy" <<<"$out" && ok "eval of a colour model on a grey folder: its images made colour" ||
    bad "eval --model ncol --data nest -> exit $rc: $out $err"
mkdir -p nest/train/c
refuse "an empty training class" 1 "nest/train/c: no images in this class" train --dataset folder --data nest --val-size 0
rmdir nest/train/c
# a preset ends in one output a class folder (torchvision's num_classes); layers must too, or
# eval, show and predict would find more outputs than class names
run train --dataset folder --data nest --val-size 0 --epochs 1 --batch-size 2 --model resnet8 --save nres
[ "$rc" -eq 0 ] && grep -q "^Model: resnet8 for 2 classes (77234 parameters, convs initialised as torchvision's ResNets)$" <<<"$out" &&
    "$CT" predict --model nres nest/test/a/t.pgm 2>&1 | grep -q "t.pgm: [01] [ab] " &&
    ok "--model resnet8 on 2 class folders: linear(2) last, and predict names the classes" ||
    bad "resnet8 on nest -> exit $rc: $out $err"
run train --dataset folder --data nest --val-size 0 --epochs 1 --batch-size 2 --model resnet8 --normalize 0.5,0.25
[ "$rc" -eq 0 ] && grep -q "^Model: resnet8 for 2 classes, after normalize(0.5,0.25) (77234 parameters, convs initialised as torchvision's ResNets)$" <<<"$out" &&
    ok "the Model line names the preset, its classes and the normalize layer in front" ||
    bad "resnet8 --normalize on nest -> exit $rc: $out $err"
refuse "layers of 10 outputs for 2 class folders" 2 "its last layer outputs 10 classes, but the folder data has 2 class folders (end it with linear(2))" \
    train --dataset folder --data nest --val-size 0 --model "flatten,linear(10)"
if [ -n "$jpg" ]; then
    cp -r folder ft && head -c $(($(stat -c %s "$jpg") - 40)) "$jpg" >ft/train/2_two/cut.jpg
    refuse "a truncated JPEG" 1 "cut.jpg: a truncated JPEG" train --dataset folder --data ft "${A[@]}"
    # predict reads an image of a folder model as training read it: dark on light stays so
    "$PY" -c 'import sys; d=open(sys.argv[1],"rb").read(); open(sys.argv[2],"wb").write(d[:15]+bytes(255-b for b in d[15:]))' \
        "$(ls folder/test/7_seven/*.pgm | head -n 1)" dark.pgm
    run predict --model run dark.pgm
    [ "$rc" -eq 0 ] && ! grep -q "inverted" <<<"$out" && ok "predict of a folder model: not inverted ($out)" ||
        bad "predict dark.pgm -> exit $rc: $out $err"
    run predict --model run --invert auto dark.pgm
    [ "$rc" -eq 0 ] && grep -q "inverted" <<<"$out" && ok "predict --invert auto: MNIST's rule again" ||
        bad "predict --invert auto dark.pgm -> exit $rc: $out $err"
fi

# --image-size: images of many sizes (grey, grey as RGB, colour; some with a gAMA chunk) resized
# as torchvision's Resize((24, 20)) resizes PIL images: the numbers of IDX files of PIL's pixels
if "$PY" -c 'import PIL' 2>/dev/null; then
    "$PY" - sm sized sizedref <<'EOF' || bad "writing the folder of many sizes"
import os, random, struct, sys
from PIL import Image, PngImagePlugin
src, out, srt = sys.argv[1:4]
random.seed(1)
H, W = 24, 20
for part, idx, n in (("train", "train", 600), ("test", "t10k", 200)):
    im = open(f"{src}/{idx}-images-idx3-ubyte", "rb").read()
    lb = open(f"{src}/{idx}-labels-idx1-ubyte", "rb").read()
    items = []
    for i in range(n):
        lab = lb[8 + i]
        img = Image.frombytes("L", (28, 28), im[16 + i * 784:16 + (i + 1) * 784])
        img = img.resize((random.randint(12, 60), random.randint(12, 60)), Image.NEAREST)
        if part == "test" and i % 3 == 1:  # (a colour training image: a colour dataset)
            img = img.convert("RGB")
        if part == "test" and i % 5 == 2:
            g = img.convert("L")
            img = Image.merge("RGB", (g, g.point(lambda v: 255 - v), g.point(lambda v: v // 2)))
        d = f"{out}/{part}/{lab}"
        os.makedirs(d, exist_ok=True)
        info = PngImagePlugin.PngInfo()
        if i % 4 == 3:  # a gamma of 0.5, which PIL (and so ctrain) leaves alone
            info.add(b"gAMA", struct.pack(">I", 50000))
        img.save(f"{d}/{i:05d}.png", pnginfo=info)
        ref = Image.open(f"{d}/{i:05d}.png").resize((W, H), Image.BILINEAR).convert("L").tobytes()
        items.append((str(lab), f"{i:05d}", lab, ref))
    items.sort(key=lambda t: (t[0], t[1]))
    os.makedirs(srt, exist_ok=True)
    with open(f"{srt}/{idx}-images-idx3-ubyte", "wb") as f:
        f.write(struct.pack(">IIII", 0x803, n, H, W) + b"".join(t[3] for t in items))
    with open(f"{srt}/{idx}-labels-idx1-ubyte", "wb") as f:
        f.write(struct.pack(">II", 0x801, n) + bytes(t[2] for t in items))
EOF
    S=(--val-size 100 --epochs 2 --lr 0.3 --batch-size 32 --quiet)
    "$CT" train --dataset idx --data sizedref "${S[@]}" >sref.out 2>&1 || bad "train on PIL's resized pixels: $(cat sref.out)"
    "$CT" train --dataset folder --data sized --image-size 24,20 "${S[@]}" --save srun >sized.out 2>sized.err
    rc=$?
    if [ $rc -eq 0 ] && [ -n "$(results sref)" ] && [ "$(results sized)" = "$(results sref)" ]; then
        ok "--image-size 24,20 on images of 12 to 60 pixels a side: the numbers of PIL's resize: $(results sized | tail -n 1)"
    else
        bad "--image-size -> exit $rc: $(cat sized.out sized.err)"$'\n'"PIL's: $(cat sref.out)"
    fi
    t=$(sed -n 's/^test_loss: \([0-9.]*\), test_acc: \([0-9.]*\)$/\1 \2/p' sized.out)
    run eval --model srun --data sized
    if [ "$rc" -eq 0 ] && grep -q "${t% *}" <<<"$out" && grep -q "${t#* }" <<<"$out"; then
        ok "eval resizes the folder to the model's 24x20: test_loss and test_acc $t as trained"
    else
        bad "eval --model srun --data sized -> exit $rc: $out $err (trained: $t)"
    fi
    run summary --model cnn --dataset folder --data sized --image-size 24,20
    [ "$rc" -eq 0 ] && grep -q "input 1x24x20 (folder)" <<<"$out" && ok "summary --image-size 24,20: the folder's model at that size" ||
        bad "summary --image-size -> exit $rc: $out $err"
    # show draws such a folder at a size too (as training sees it), or refuses without one
    run show --dataset folder --data sized --part train --image-size 24,20 --count 8 --out sized.png
    [ "$rc" -eq 0 ] && [ "$out" = "Wrote sized.png: 8 images" ] && [ -s sized.png ] &&
        ok "show --image-size 24,20 of images of many sizes: $out" || bad "show --image-size -> exit $rc: $out $err"
    run show --dataset folder --data sized --part train --count 8 --out sized2.png
    [ "$rc" -eq 1 ] && grep -q -- "--image-size" <<<"$err" && [ ! -e sized2.png ] &&
        ok "show of images of many sizes without --image-size -> exit 1, names it" ||
        bad "show without --image-size -> exit $rc: $err"
    run show --model srun --data sized --image-size 24,20 --out sized3.png
    [ "$rc" -eq 2 ] && grep -q "not with --model" <<<"$err" && ok "show --image-size with --model -> exit 2" ||
        bad "show --image-size --model -> exit $rc: $err"
    "$CT" train --resume srun --epochs 3 --quiet >sres.out 2>sres.err && grep -q "^Epoch \[2\]" sres.out &&
        ok "--resume keeps the run's --image-size" || bad "--resume srun: $(cat sres.out sres.err)"
    run train --resume srun --epochs 3 --image-size 28
    [ "$rc" -eq 2 ] && grep -q "trained at 24,20" <<<"$err" && ok "--resume with another --image-size -> exit 2: $err" ||
        bad "--resume --image-size 28 -> exit $rc: $err"
    run train --dataset folder --data sized --val-size 100 --epochs 1
    [ "$rc" -eq 1 ] && grep -q "pixels, but the dataset's images are" <<<"$err" && grep -q -- "--image-size" <<<"$err" &&
        ok "images of many sizes without --image-size -> exit 1: $err" || bad "no --image-size -> exit $rc: $err"
    # --val-resize 28: the test images as torchvision's evaluation transform makes them from the
    # PIL images (Resize(28), CenterCrop((24, 20))), the training images as before: the numbers
    # of IDX files of those pixels; eval, show and a resume read the test images so too
    if "$PY" - sized sizedref sizedev <<'EOF'
import os, shutil, struct, sys
from PIL import Image
from torchvision import transforms
src, ref, out = sys.argv[1:4]
os.makedirs(out, exist_ok=True)
for f in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-labels-idx1-ubyte"):
    shutil.copy(f"{ref}/{f}", f"{out}/{f}")
tf = transforms.Compose([transforms.Resize(28), transforms.CenterCrop((24, 20))])
pixels = b""
for c in sorted(os.listdir(f"{src}/test")):
    for name in sorted(os.listdir(f"{src}/test/{c}")):
        pixels += tf(Image.open(f"{src}/test/{c}/{name}")).convert("L").tobytes()
n = len(pixels) // (24 * 20)
with open(f"{out}/t10k-images-idx3-ubyte", "wb") as f:
    f.write(struct.pack(">IIII", 0x803, n, 24, 20) + pixels)
EOF
    then
        "$CT" train --dataset idx --data sizedev "${S[@]}" >sev.out 2>&1 || bad "train on torchvision's pixels: $(cat sev.out)"
        run train --dataset folder --data sized --image-size 24,20 --val-resize 28 "${S[@]}" --save srv
        echo "$out" >srv.out
        [ "$rc" -eq 0 ] && [ -n "$(results sev)" ] && [ "$(results srv)" = "$(results sev)" ] &&
            [ "$(grep '^test_loss' sev.out)" != "$(grep '^test_loss' sized.out)" ] &&
            ok "--val-resize 28 --image-size 24,20: the numbers of torchvision's Resize(28), CenterCrop((24, 20)): $(grep '^test_loss' sev.out)" ||
            bad "--val-resize 28 -> exit $rc: $out $err"$'\n'"torchvision's: $(cat sev.out)"
        t=$(grep '^test_loss' sev.out)
        run eval --model srv --data sized
        [ "$rc" -eq 0 ] && grep -qF "${t%%,*}" <<<"$out" && ok "eval of a --val-resize model reads the test images so: ${t%%,*}" ||
            bad "eval --model srv -> exit $rc: $out $err (trained: $t)"
        run train --resume srv --epochs 3
        [ "$rc" -eq 0 ] && grep -q '^Data: .*(1x24x20; test: Resize(28), CenterCrop)' <<<"$out" && grep -q '^Epoch \[2\]' <<<"$out" &&
            ok "--resume keeps --val-resize: $(grep '^Data: ' <<<"$out")" || bad "--resume srv -> exit $rc: $out $err"
        run train --resume srv --epochs 4 --val-resize 30
        [ "$rc" -eq 2 ] && grep -q -- "--val-resize 30: the run in srv was saved with --val-resize 28" <<<"$err" &&
            ok "--resume with another --val-resize -> exit 2" || bad "--resume --val-resize 30 -> exit $rc: $err"
        run show --model srv --data sized --count 4 --out srv.png
        [ "$rc" -eq 0 ] && [ -s srv.png ] && ok "show --model of a --val-resize model: $out" || bad "show --model srv -> exit $rc: $err"
        # predict reads each image as the test set's: its accuracy over test/ is eval's
        e=$("$CT" eval --model srv --data sized | sed -n 's/^test_loss: .*, test_acc: //p')
        run predict --model srv sized/test
        acc=$(awk -F': ' '{ split($1, p, "/"); split($2, q, " "); n++; c += q[2] == p[3] }
                          END { if (n) printf "%.4f", c / n }' <<<"$out")
        [ "$rc" -eq 0 ] && [ "$(wc -l <<<"$out")" -eq 200 ] && [ -n "$e" ] && [ "$acc" = "$e" ] &&
            ok "predict with a --val-resize model: test/'s 200 images at eval's accuracy, $acc" ||
            bad "predict --model srv sized/test -> exit $rc: accuracy '$acc' vs eval's '$e' $err"
    else
        echo "SKIP cli_folder --val-resize: $PY cannot import torchvision (apt-get install python3-torchvision)"
    fi
    run train --dataset folder --data sized --image-size 24,20 --val-resize 20 --epochs 1
    [ "$rc" -eq 2 ] && grep -q -- "--val-resize 20: less than the --image-size 24,20" <<<"$err" &&
        ok "--val-resize under --image-size -> exit 2: $err" || bad "--val-resize 20 -> exit $rc: $err"
    run train --val-resize 32 --epochs 1
    [ "$rc" -eq 2 ] && grep -q -- "--val-resize: only for --dataset folder" <<<"$err" &&
        ok "--val-resize on MNIST -> exit 2: $err" || bad "--val-resize on mnist -> exit $rc: $err"
else
    echo "SKIP cli_folder --image-size: python3 has no PIL (apt-get install python3-pil)"
fi
run train --image-size 32
[ "$rc" -eq 2 ] && grep -q "only for --dataset folder" <<<"$err" && ok "--image-size with mnist -> exit 2" ||
    bad "--image-size with mnist -> exit $rc: $err"
n_bad=0
for bad_size in 0 x 32,0 32x32 5000 4096,4096 ,3; do
    run train --dataset folder --data folder --image-size "$bad_size"
    [ "$rc" -eq 2 ] && grep -q -- "--image-size: expected SIDE or HEIGHT,WIDTH" <<<"$err" ||
        { bad "--image-size $bad_size -> exit $rc: $err"; n_bad=1; }
done
[ $n_bad -eq 0 ] && ok "--image-size 0, x, 32,0, 32x32, 5000, 4096,4096 and ,3 -> exit 2 each"

# refusals, each naming what is wrong
cp -r folder fj && printf 'BM' >fj/train/2_two/photo.bmp
refuse "a BMP in the folder" 1 "photo.bmp: .bmp images are not read" train --dataset folder --data fj "${A[@]}"
cp -r folder fk && printf '\xff\xd8\xff\xe0 truncated' >fk/train/2_two/broken.jpg
refuse "a broken JPEG" 1 "broken.jpg: not a readable JPEG" train --dataset folder --data fk "${A[@]}"
cp -r folder fs && printf 'P5\n20 28\n255\n' >fs/test/4_four/small.pgm && head -c 560 /dev/zero >>fs/test/4_four/small.pgm
refuse "an image of another size" 1 "small.pgm: 20x28 pixels, but the dataset's images are 28x28" train --dataset folder --data fs "${A[@]}"
cp -r folder fc && mkdir fc/test/cat && cp folder/test/1_one/*.pgm fc/test/cat/ 2>/dev/null
refuse "a test class train lacks" 1 "fc/test/cat: a class that" train --dataset folder --data fc "${A[@]}"
refuse "--dataset folder without --data" 2 "needs --data DIR" train --dataset folder "${A[@]}"
long=$(printf 'c%.0s' $(seq 70))
mkdir -p fl/train/$long fl/test/$long
for f in $(ls folder/train/1_one/*.pgm | head -n 3); do cp "$f" fl/train/$long/; cp "$f" fl/test/$long/; done
refuse "a class name over 64 bytes" 1 "longer than 64 bytes" train --dataset folder --data fl "${A[@]}"
mkdir -p fe/train/a fe/test/a
refuse "no images" 1 "no images" train --dataset folder --data fe "${A[@]}"
refuse "no train folder" 1 "no train folder" train --dataset folder --data sm "${A[@]}"

finish cli_folder
