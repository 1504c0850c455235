#!/usr/bin/env python3
"""make_seeds.py CTRAIN — writes the fuzz targets' seed inputs into tests/fuzz/corpus/TARGET/.

Small valid files of each kind (and a few near misses) for libFuzzer to start from; run once
when a reader learns a new kind of file, and commit what it writes. Checkpoints come from
CTRAIN itself (tiny trainings on a 4x4 IDX dataset), so they are what users' runs write.
"""
import gzip, os, struct, subprocess, sys, tempfile, zlib

here = os.path.dirname(os.path.abspath(__file__))
ctrain = os.path.abspath(sys.argv[1])


def put(target, name, data):
    d = os.path.join(here, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def idx(magic, dims, payload):
    return struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in dims) + payload


# ---- IDX
images = idx(0x803, [3, 4, 4], bytes(range(48)))
labels = idx(0x801, [3], bytes([0, 1, 2]))
put("idx", "images", images)
put("idx", "labels", labels)
put("idx", "images.gz", gzip.compress(images, mtime=0))
put("idx", "labels.gz", gzip.compress(labels, mtime=0))
put("idx", "two-members.gz", gzip.compress(labels[:6], mtime=0) + gzip.compress(labels[6:], mtime=0))
put("idx", "truncated", images[:20])


# ---- images
def png(w, h, color_type, depth, rows, palette=None):
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    out = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, color_type, 0, 0, 0))
    if palette:
        out += chunk(b"PLTE", palette)
    raw = b"".join(b"\x00" + r for r in rows)
    return out + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")

put("image", "grey8.png", png(5, 4, 0, 8, [bytes((x * 50 + y * 10) % 256 for x in range(5)) for y in range(4)]))
put("image", "grey16.png", png(3, 3, 0, 16, [bytes(range(6)) for _ in range(3)]))
put("image", "rgb.png", png(4, 2, 2, 8, [bytes(range(12)), bytes(range(100, 112))]))
put("image", "rgba.png", png(2, 2, 6, 8, [bytes([255, 0, 0, 128, 0, 255, 0, 255])] * 2))
put("image", "palette.png", png(4, 1, 3, 2, [bytes([0b00011011])], palette=bytes([0, 0, 0, 255, 255, 255, 9, 90, 200, 7, 7, 7])))
put("image", "grey1.png", png(9, 2, 0, 1, [bytes([0xAA, 0x80])] * 2))
put("image", "p5.pgm", b"P5\n4 3\n255\n" + bytes(range(0, 240, 20)))
put("image", "p2.pgm", b"P2\n# ascii\n3 2\n15\n0 5 10\n15 3 1\n")
put("image", "p6.ppm", b"P6\n2 2\n255\n" + bytes(range(12)))
put("image", "p4.pbm", b"P4\n10 2\n" + bytes([0xF0, 0x40, 0x0F, 0xC0]))
put("image", "p1.pbm", b"P1\n3 2\n1 0 1\n0 1 0\n")
put("image", "p7.pam", b"P7\nWIDTH 2\nHEIGHT 1\nDEPTH 4\nMAXVAL 255\nTUPLTYPE RGB_ALPHA\nENDHDR\n" + bytes(range(8)))
put("image", "p5-16bit.pgm", b"P5\n2 1\n65535\n" + bytes([0, 1, 255, 254]))
try:  # JPEGs (grey, RGB, progressive), as PIL writes them
    import io
    from PIL import Image
    for name, mode, size, extra in (("grey.jpg", "L", (5, 4), {}), ("rgb.jpg", "RGB", (4, 3), {}),
                                    ("progressive.jpg", "RGB", (9, 7), {"progressive": True})):
        im = Image.frombytes(mode, size, bytes((i * 37) % 256 for i in range(size[0] * size[1] * len(mode))))
        b = io.BytesIO()
        im.save(b, "JPEG", quality=75, **extra)
        put("image", name, b.getvalue())
except ImportError:
    print("make_seeds: no PIL, no JPEG seeds", file=sys.stderr)

# ---- model specs
for i, s in enumerate([
        "mlp", "lenet5", "cnn", "flatten,linear(32),relu,linear(10)",
        "conv(4,3),relu,maxpool(2),flatten,linear(10)",
        "conv(2,3,2,1),batchnorm,leakyrelu,avgpool(2),dropout(0.25),flatten,linear(5)",
        "conv(3,5,1,2),tanh,maxpool(3,2),flatten,linear(8),gelu,linear(4),sigmoid,linear(3)",
        "flatten,batchnorm(1e-3,0.2),linear(6),dropout,linear(2)",
        "flatten,linear(0)", "conv(4,13),flatten,linear(2)", "flatten,linear(3",
        "flatten , linear( 7 ) , relu , linear(2)", "resnet8",
        "conv(4,3,1,1),relu,residual(conv(4,3,1,1),batchnorm,relu,conv(4,3,1,1)),relu,"
        "residual(conv(8,3,2,1),batchnorm),globalavgpool,linear(3)",
        "flatten,linear(6),residual(linear(4),tanh),residual(dropout),linear(2)",
        "residual(maxpool(2)),flatten,linear(2)", "residual(residual(relu)),linear(2)",
        "conv(8,3,1,1,0),relu6,residual(conv(16,1,1,0,0),relu6,conv(16,3,1,1,0,16),"
        "conv(8,1,1,0,0)),conv(16,3,2,1,0,4),globalavgpool,linear(3)",
        "conv(6,3,1,1,0,4),flatten,linear(2)"]):
    put("spec", "%02d" % i, s)

# ---- train command lines (arguments separated by newlines)
train_lines = {
    "epochs-lr": ["--epochs", "3", "--lr", "0.1"],
    "schedule": ["--schedule", "5@0.5,5@0.1", "--batch-size=256"],
    "adam": ["--optimizer", "adam", "--betas", "0.9,0.999", "--eps", "1e-8", "--weight-decay", "0.01"],
    "cosine": ["--lr-schedule", "cosine", "--eta-min", "0.001", "--warmup-epochs", "2",
               "--warmup-start-factor", "0.1", "--epochs", "6"],
    "onecycle": ["--lr-schedule", "onecycle", "--pct-start", "0.3", "--clip-grad-norm", "1"],
    "step": ["--lr-schedule", "step", "--step-size", "2", "--gamma", "0.5", "--optimizer", "adamw"],
    "plateau": ["--lr-schedule", "plateau", "--lr-patience", "3", "--patience", "5"],
    "multistep": ["--lr-schedule", "multistep", "--milestones", "2,5,9", "--gamma", "0.5",
                  "--warmup-epochs", "1", "--warmup-method", "constant"],
    "polynomial": ["--lr-schedule", "polynomial", "--power", "2", "--epochs", "4"],
    "cyclic": ["--lr-schedule", "cyclic", "--base-lr", "0.01", "--step-size-up", "500",
               "--step-size-down", "300", "--cyclic-mode", "exp_range", "--gamma", "0.999",
               "--cycle-momentum", "0.8,0.95"],
    "sgd": ["--momentum", "0.9", "--nesterov", "--weight-decay", "5e-4", "--seed", "7"],
    "cifar": ["--dataset", "cifar10", "--augment", "crop=4,flip", "--model", "cnn"],
    "trivial": ["--dataset", "cifar10", "--augment", "resized-crop,flip,trivial=15,erase=0.1"],
    "recipe": ["--dataset", "cifar10", "--augment", "resized-crop,flip,randaugment=2:9,bilinear",
               "--lr-schedule", "cosine", "--lr-step", "epoch", "--warmup-epochs", "2",
               "--warmup-sequential", "--warmup-start-factor", "0.01"],
    "autoaug": ["--augment", "flip,autoaugment=svhn,erase=0.2"],
    "augmix": ["--augment", "augmix=3:3:-1:1,bilinear", "--mixup-alpha", "0.2"],
    "photos": ["--dataset", "folder", "--data", "p", "--augment",
               "resized-crop=0.08:1,ratio=0.75:1.33,flip,brightness=0.4,contrast=0.4,"
               "saturation=0.4,hue=0.1,grey=0.2,erase=0.25", "--mixup-alpha", "0.2",
               "--cutmix-alpha", "1"],
    "mlp": ["--model", "mlp", "--hidden", "64", "--val-size", "5000", "--device", "cpu",
            "--threads", "2", "--workers", "2", "--prefetch", "4", "--data-on-device", "off"],
    "outputs": ["--save", "runs/a", "--save-every", "2", "--save-best", "--plot", "p",
                "--log", "l.jsonl", "--quiet", "--", "extra"],
    "bad": ["--lr=abc", "--hidden", "64", "--model", "cnn"],
    "help": ["--help"],
}
for name, args in train_lines.items():
    put("train_flags", name, "\n".join(args))

# ---- checkpoints: torchvision ResNet names (a state_dict without ctrain's metadata): too few
# stages for a preset, and a ResNeXt's grouped 3x3
def safetensors(shapes):
    import json
    header, blob = {}, b""
    for name, shape in shapes.items():
        n = 1
        for d in shape:
            n *= d
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [len(blob), len(blob) + 4 * n]}
        blob += struct.pack("<%df" % n, *[0.25] * n)
    h = json.dumps(header).encode()
    return struct.pack("<Q", len(h)) + h + blob


tv = {"conv1.weight": [4, 1, 3, 3], "bn1.weight": [4], "bn1.bias": [4],
      "layer1.0.conv1.weight": [4, 4, 1, 1], "layer1.0.conv2.weight": [4, 4, 3, 3],
      "layer1.0.downsample.0.weight": [4, 4, 1, 1], "fc.weight": [3, 4], "fc.bias": [3]}
put("checkpoint", "torchvision-names", safetensors(tv))
put("checkpoint", "torchvision-grouped", safetensors(dict(tv, **{"layer1.0.conv2.weight": [4, 1, 3, 3]})))

# ---- checkpoints: tiny trainings with ctrain
with tempfile.TemporaryDirectory() as tmp:
    data = os.path.join(tmp, "data")
    os.makedirs(data)
    n = 16
    for part, count in (("train", n), ("t10k", 4)):
        with open(os.path.join(data, part + "-images-idx3-ubyte"), "wb") as f:
            f.write(idx(0x803, [count, 4, 4], bytes((i * 7) % 256 for i in range(count * 16))))
        with open(os.path.join(data, part + "-labels-idx1-ubyte"), "wb") as f:
            f.write(idx(0x801, [count], bytes(i % 3 for i in range(count))))
    runs = {
        "mlp": ["--model", "flatten,linear(3),relu,linear(3)", "--epochs", "2"],
        "bn": ["--model", "conv(2,3),batchnorm,relu,flatten,linear(3)", "--optimizer", "adam",
               "--epochs", "2", "--lr-schedule", "plateau"],
        "sgdm": ["--model", "flatten,linear(4),tanh,linear(3)", "--momentum", "0.9",
                 "--schedule", "1@0.5,1@0.1"],
        "cyclic": ["--model", "flatten,linear(3),relu,linear(3)", "--epochs", "2",
                   "--lr-schedule", "cyclic", "--base-lr", "0.01", "--step-size-up", "3",
                   "--cyclic-mode", "triangular2"],
        "multistep": ["--model", "flatten,linear(3),relu,linear(3)", "--epochs", "3",
                      "--lr-schedule", "multistep", "--milestones", "1,2", "--warmup-epochs", "1",
                      "--warmup-method", "constant"],
    }
    for name, flags in runs.items():
        out = os.path.join(tmp, name)
        subprocess.run([ctrain, "train", "--dataset", "idx", "--data", data, "--val-size", "4",
                        "--batch-size", "4", "--quiet", "--save", out] + flags,
                       check=True, stdout=subprocess.DEVNULL)
        for f in ("model", "train_state"):
            with open(os.path.join(out, f + ".safetensors"), "rb") as fh:
                put("checkpoint", name + "-" + f, fh.read())
print("seeds written under", os.path.join(here, "corpus"))
