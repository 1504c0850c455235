#!/usr/bin/env python3
"""idx_subset.py — the images of some classes of an IDX dataset (MNIST's four files), relabelled.

    python3 tests/idx_subset.py SRC DEST LABELS [NTRAIN [NTEST]]

writes into DEST the training and test images of SRC (raw or .gz IDX files named as MNIST's)
whose label is one of LABELS ("5,6,7,8,9"), the first NTRAIN and NTEST of them (default: all),
with label LABELS[k] written as k: `ctrain train --dataset idx --data DEST` then trains on
len(LABELS) classes. As Keras' mnist_transfer_cnn example splits MNIST into digits 0-4 and
5-9. Standard library only (the tests and bench/transfer.sh run it with any python3).
"""
import gzip
import os
import struct
import sys


def read(path):
    for p in (path, path + ".gz"):
        if os.path.exists(p):
            with (gzip.open(p) if p.endswith(".gz") else open(p, "rb")) as f:
                return f.read()
    sys.exit(f"idx_subset.py: {path} (or .gz) not found")


def subset(src, dest, part, labels, limit):
    images, tags = read(f"{src}/{part}-images-idx3-ubyte"), read(f"{src}/{part}-labels-idx1-ubyte")
    n, rows, cols = struct.unpack(">III", images[4:16])
    if struct.unpack(">I", tags[4:8])[0] != n:
        sys.exit(f"idx_subset.py: {src}/{part}: images and labels differ in number")
    size = rows * cols
    keep = [i for i in range(n) if tags[8 + i] in labels]
    if limit is not None:
        keep = keep[:limit]
    out_images = bytearray(struct.pack(">IIII", 0x803, len(keep), rows, cols))
    out_tags = bytearray(struct.pack(">II", 0x801, len(keep)))
    for i in keep:
        out_images += images[16 + i * size:16 + (i + 1) * size]
        out_tags.append(labels.index(tags[8 + i]))
    with open(f"{dest}/{part}-images-idx3-ubyte", "wb") as f:
        f.write(out_images)
    with open(f"{dest}/{part}-labels-idx1-ubyte", "wb") as f:
        f.write(out_tags)


def main():
    if len(sys.argv) not in (4, 5, 6):
        sys.exit(__doc__.strip().splitlines()[2].strip())
    src, dest, labels = sys.argv[1], sys.argv[2], [int(x) for x in sys.argv[3].split(",")]
    limits = [int(x) for x in sys.argv[4:]] + [None, None]
    os.makedirs(dest, exist_ok=True)
    subset(src, dest, "train", labels, limits[0])
    subset(src, dest, "t10k", labels, limits[1])


if __name__ == "__main__":
    main()
