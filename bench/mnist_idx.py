"""MNIST IDX files for the PyTorch benchmark programs (tutorial.py, tuned.py).

Finds the four files of the original distribution in a folder (raw or .gz), reads them with the
standard library only, and can lay them out the way torchvision.datasets.MNIST expects
(ROOT/MNIST/raw/<name>, uncompressed) so the tutorial program can use torchvision as written.
"""
import gzip
import os
import re
import shutil
import struct
import tempfile

NAMES = {
    ("train", "images"): "train-images-idx3-ubyte",
    ("train", "labels"): "train-labels-idx1-ubyte",
    ("test", "images"): "t10k-images-idx3-ubyte",
    ("test", "labels"): "t10k-labels-idx1-ubyte",
}


def find(data_dir, part, kind):
    """Path of one MNIST file in data_dir: the raw name, else the name + '.gz'."""
    name = NAMES[(part, kind)]
    for cand in (name, name + ".gz"):
        p = os.path.join(data_dir, cand)
        if os.path.isfile(p):
            return p
    raise FileNotFoundError("MNIST file %s(.gz) not found in %s" % (name, data_dir))


def read_bytes(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        return f.read()


def read_idx(path):
    """(dims, payload bytes) of an unsigned-byte IDX file."""
    buf = read_bytes(path)
    if len(buf) < 4:
        raise ValueError("%s: too short for an IDX header" % path)
    zero, dtype, ndims = struct.unpack(">HBB", buf[:4])
    if zero != 0 or dtype != 0x08 or ndims not in (1, 3):
        raise ValueError("%s: not an unsigned-byte IDX1/IDX3 file" % path)
    dims = struct.unpack(">" + "I" * ndims, buf[4:4 + 4 * ndims])
    off = 4 + 4 * ndims
    n = 1
    for d in dims:
        n *= d
    if len(buf) - off != n:
        raise ValueError("%s: expected %d data bytes, found %d" % (path, n, len(buf) - off))
    return dims, buf[off:]


def load(data_dir, part):
    """(images uint8 bytes (N*28*28), labels uint8 bytes (N), N) for 'train' or 'test'."""
    idims, images = read_idx(find(data_dir, part, "images"))
    ldims, labels = read_idx(find(data_dir, part, "labels"))
    if idims[0] != ldims[0]:
        raise ValueError("%s: %d images but %d labels" % (part, idims[0], ldims[0]))
    return images, labels, idims[0]


def torchvision_root(data_dir):
    """A temporary folder ROOT with ROOT/MNIST/raw/<raw names> (symlinks to the raw files, or
    decompressed copies of .gz ones), as torchvision.datasets.MNIST(root=ROOT) reads them.
    The caller removes it (shutil.rmtree)."""
    root = tempfile.mkdtemp(prefix="ctrain-bench-mnist-")
    raw = os.path.join(root, "MNIST", "raw")
    os.makedirs(raw)
    for name in NAMES.values():
        src = None
        for part_kind, n in NAMES.items():
            if n == name:
                src = find(data_dir, *part_kind)
        dst = os.path.join(raw, name)
        if src.endswith(".gz"):
            with gzip.open(src, "rb") as fi, open(dst, "wb") as fo:
                shutil.copyfileobj(fi, fo)
        else:
            os.symlink(os.path.abspath(src), dst)
    return root


def blas_info(torch):
    """Which BLAS this torch process actually uses: the BLAS/LAPACK libraries mapped into the
    process (after a matmul has run), plus the BLAS line of torch.__config__.show()."""
    a = torch.ones(64, 64)
    (a @ a).sum().item()
    libs = set()
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                p = line.split()[-1] if len(line.split()) >= 6 else ""
                b = os.path.basename(p)
                if "blas" in b or "lapack" in b or "mkl" in b:
                    libs.add(os.path.realpath(p))
    except OSError:
        pass
    cfg = ""
    try:
        m = re.search(r"BLAS_INFO=([^,\s]+)", torch.__config__.show())
        cfg = "BLAS_INFO=" + m.group(1) if m else ""
    except Exception:  # noqa: BLE001 - informative only
        pass
    return {"loaded": sorted(libs), "config": cfg}
