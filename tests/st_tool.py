#!/usr/bin/env python3
"""st_tool.py — an independent reader and writer of safetensors files, PNG and MNIST for the tests.

Python 3 standard library only (struct, json, zlib): nothing here shares code with ctrain.

    st_tool.py read FILE [DUMP.f32]      print the header; with a raw float32 dump of
                                         ct_model_get_params, check every tensor's values
                                         (concatenated in header order) are bit-identical
    st_tool.py write-mlp FILE SEED H [--meta]   an MLP 784 -> H -> ReLU -> 10 with random
                                         weights under the tutorial's names (optionally with
                                         ctrain's metadata)
    st_tool.py write-const FILE CLASS    one linear layer 784 -> 10, zero weights, bias 1 at
                                         CLASS: every image is predicted CLASS
    st_tool.py bad DIR CASE              writes DIR/model.safetensors broken as CASE says
    st_tool.py meta FILE KEY VALUE [FIELD]   sets metadata KEY of FILE to the string VALUE, or
                                         FIELD of the JSON object in KEY to the JSON VALUE
    st_tool.py forward FILE MNIST_DIR N  class probabilities of the first N test images, by a
                                         pure-Python forward pass of the MLP in FILE
    st_tool.py export MNIST_DIR I OUT    test image I as OUT (.png grey, .pgm, or -inv-rgb.png:
                                         dark on light, RGB, 3x larger)
    st_tool.py png FILE                  "WIDTH HEIGHT DISTINCT_COLOURS NON_BACKGROUND_FRACTION"
    st_tool.py const-expect MNIST_DIR CLASS   the loss and accuracy write-const's model must get
    st_tool.py poke FILE TENSOR INDEX VALUE   sets element INDEX of the F32 tensor TENSOR of FILE
                                         to VALUE (a float: nan, inf and -1 too), in place
    st_tool.py same A B                  the tensors of A, in order, each "NAME same" (B has
                                         it with the same dtype, shape and bytes), "NAME
                                         differs" or "NAME missing"; then B's others, "NAME
                                         extra"
"""
import json
import math
import os
import random
import struct
import sys
import zlib

# --------------------------------------------------------------------------- safetensors


def st_read(path):
    """(header dict, metadata dict, data bytes) with the format's rules checked."""
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        raise ValueError("shorter than 8 bytes")
    n = struct.unpack("<Q", raw[:8])[0]
    if n > len(raw) - 8:
        raise ValueError("header length past the end")
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    data = raw[8 + n:]
    meta = header.pop("__metadata__", {})
    assert all(isinstance(v, str) for v in meta.values()), "metadata values must be strings"
    sizes = {"F32": 4, "F64": 8, "I64": 8, "I32": 4, "F16": 2, "BF16": 2, "U8": 1}
    spans = []
    for name, t in header.items():
        numel = 1
        for d in t["shape"]:
            numel *= d
        b, e = t["data_offsets"]
        assert e - b == numel * sizes[t["dtype"]], name + ": size does not match the shape"
        spans.append((b, e, name))
    spans.sort()
    at = 0
    for b, e, name in spans:
        assert b == at, name + ": hole or overlap"
        at = e
    assert at == len(data), "data not fully covered"
    return header, meta, data


def st_write(path, tensors, meta=None):
    """tensors: list of (name, shape, list of floats) written as F32 in that order."""
    header, blobs, off = {}, [], 0
    if meta is not None:
        header["__metadata__"] = meta
    for name, shape, values in tensors:
        blob = struct.pack("<%df" % len(values), *values)
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [off, off + len(blob)]}
        blobs.append(blob)
        off += len(blob)
    text = json.dumps(header).encode("utf-8")
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def floats(data, t):
    b, e = t["data_offsets"]
    return struct.unpack("<%df" % ((e - b) // 4), data[b:e])


def cmd_read(args):
    header, meta, data = st_read(args[0])
    names = sorted(header, key=lambda k: header[k]["data_offsets"][0])
    for name in names:
        t = header[name]
        print("%s %s %s" % (name, t["dtype"], t["shape"]))
    for k in sorted(meta):
        print("meta %s = %s" % (k, meta[k][:120]))
    if len(args) > 1:
        with open(args[1], "rb") as f:
            dump = f.read()
        got = b"".join(data[header[n]["data_offsets"][0]:header[n]["data_offsets"][1]]
                       for n in names)
        if got != dump:
            print("MISMATCH: tensor data differs from the parameter dump (%d vs %d bytes)"
                  % (len(got), len(dump)))
            return 1
        print("values: identical to the dump (%d floats)" % (len(dump) // 4))
    return 0


# --------------------------------------------------------------------------- models


def random_mlp(seed, hidden):
    rng = random.Random(seed)
    def uni(n, fan_in):
        bound = 1.0 / math.sqrt(fan_in)
        return [struct.unpack("<f", struct.pack("<f", rng.uniform(-bound, bound)))[0]
                for _ in range(n)]
    return [("linear1.weight", [hidden, 784], uni(hidden * 784, 784)),
            ("linear1.bias", [hidden], uni(hidden, 784)),
            ("linear2.weight", [10, hidden], uni(10 * hidden, hidden)),
            ("linear2.bias", [10], uni(10, hidden))]


def cmd_write_mlp(args):
    path, seed, hidden = args[0], int(args[1]), int(args[2])
    meta = None
    if "--meta" in args:
        meta = {"format": "pt", "model_spec": "flatten,linear(%d),relu,linear(10)" % hidden,
                "input_shape": "[1, 28, 28]", "classes": "10", "written_by": "st_tool.py"}
    st_write(path, random_mlp(seed, hidden), meta)
    return 0


def cmd_write_const(args):
    path, cls = args[0], int(args[1])
    bias = [0.0] * 10
    bias[cls] = 1.0
    st_write(path, [("linear1.weight", [10, 784], [0.0] * 7840), ("linear1.bias", [10], bias)])
    return 0


def cmd_bad(args):
    d, case = args[0], args[1]
    path = os.path.join(d, "model.safetensors")
    good = random_mlp(1, 32)
    meta = {"model_spec": "flatten,linear(32),relu,linear(10)", "input_shape": "[1, 28, 28]"}
    st_write(path, good, meta)
    with open(path, "rb") as f:
        raw = f.read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    data = raw[8 + n:]

    def rewrite(h, d=data):
        text = json.dumps(h).encode()
        with open(path, "wb") as f:
            f.write(struct.pack("<Q", len(text)) + text + d)

    if case == "truncated":          # cut inside the 8-byte length
        open(path, "wb").write(raw[:5])
    elif case == "truncated-data":   # cut inside the data
        open(path, "wb").write(raw[:len(raw) - 1000])
    elif case == "header-past-end":
        open(path, "wb").write(struct.pack("<Q", len(raw) * 4) + raw[8:])
    elif case == "malformed-json":
        text = raw[8:8 + n].replace(b'"dtype"', b'"dtype" "', 1)
        open(path, "wb").write(struct.pack("<Q", len(text)) + text + data)
    elif case == "dtype-f64":        # a valid file, but not F32: the bytes are re-declared
        h = dict(header)
        t = h["linear1.weight"]
        t["dtype"] = "F64"
        t["shape"] = [16, 784]        # the same byte count as F32 [32, 784]
        rewrite(h)
    elif case == "unknown-dtype":
        header["linear1.bias"]["dtype"] = "Q4"
        rewrite(header)
    elif case == "offsets-out-of-bounds":
        b, e = header["linear2.bias"]["data_offsets"]
        header["linear2.bias"]["data_offsets"] = [b + 400, e + 400]
        rewrite(header)
    elif case == "offsets-overlap":
        header["linear2.bias"]["data_offsets"] = list(header["linear1.bias"]["data_offsets"])
        header["linear2.bias"]["shape"] = [32]
        rewrite(header)
    elif case == "shape-mismatch":   # the shape does not fit the bytes the offsets give
        header["linear1.weight"]["shape"] = [32, 100]
        rewrite(header)
    elif case == "wrong-shape-for-model":
        st_write(path, [(nm, sh, v) for nm, sh, v in random_mlp(1, 16)], meta)
    elif case == "missing-tensor":
        st_write(path, good[:3], meta)
    elif case == "not-object":
        text = b"[1, 2, 3]"
        open(path, "wb").write(struct.pack("<Q", len(text)) + text)
    elif case == "metadata-not-string":
        header["__metadata__"]["input_shape"] = [1, 28, 28]
        rewrite(header)
    elif case == "nan-weight":       # a valid file whose weights hold a NaN (element 5 of linear2.weight)
        b = header["linear2.weight"]["data_offsets"][0]
        d = bytearray(data)
        d[b + 20:b + 24] = struct.pack("<f", float("nan"))
        rewrite(header, bytes(d))
    elif case == "overflowing":      # finite weights (1e30, 3e38) whose products overflow: NaN out
        d = bytearray(data)
        for name, value in (("linear1.weight", 1e30), ("linear2.weight", 3e38)):
            b, e = header[name]["data_offsets"]
            d[b:e] = struct.pack("<%df" % ((e - b) // 4), *([value] * ((e - b) // 4)))
        rewrite(header, bytes(d))
    elif case == "input-too-large":  # each side allowed, but 2^31 values per image
        header["__metadata__"]["input_shape"] = "[1, 46341, 46341]"
        rewrite(header)
    else:
        print("unknown case " + case)
        return 2
    return 0


# --------------------------------------------------------------------------- MNIST


def mnist_test(d):
    def read(name):
        for p in (os.path.join(d, name), os.path.join(d, name + ".gz")):
            if os.path.exists(p):
                with open(p, "rb") as f:
                    raw = f.read()
                return zlib.decompress(raw, 16 + zlib.MAX_WBITS) if p.endswith(".gz") else raw
        raise FileNotFoundError(name)
    images = read("t10k-images-idx3-ubyte")[16:]
    labels = read("t10k-labels-idx1-ubyte")[8:]
    return images, labels


def cmd_forward(args):
    header, meta, data = st_read(args[0])
    images, _ = mnist_test(args[1])
    n = int(args[2])
    w1, b1 = floats(data, header["linear1.weight"]), floats(data, header["linear1.bias"])
    w2, b2 = floats(data, header["linear2.weight"]), floats(data, header["linear2.bias"])
    hdim = header["linear1.weight"]["shape"][0]
    for i in range(n):
        x = [v / 255.0 for v in images[i * 784:(i + 1) * 784]]
        h = [max(0.0, b1[j] + sum(w1[j * 784 + k] * x[k] for k in range(784) if x[k]))
             for j in range(hdim)]
        z = [b2[c] + sum(w2[c * hdim + j] * h[j] for j in range(hdim)) for c in range(10)]
        m = max(z)
        e = [math.exp(v - m) for v in z]
        s = sum(e)
        print(" ".join("%.6f" % (v / s) for v in e))
    return 0


def png_write(path, w, h, rows, colour):
    def chunk(t, b):
        return struct.pack(">I", len(b)) + t + b + struct.pack(">I", zlib.crc32(t + b) & 0xffffffff)
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2 if colour else 0, 0, 0, 0)
    raw = b"".join(b"\x00" + r for r in rows)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw))
                + chunk(b"IEND", b""))


def cmd_export(args):
    images, _ = mnist_test(args[0])
    i, out = int(args[1]), args[2]
    px = images[i * 784:(i + 1) * 784]
    if out.endswith("-inv-rgb.png"):
        rows = []
        for r in range(84):
            src = px[(r // 3) * 28:(r // 3 + 1) * 28]
            rows.append(b"".join(bytes([255 - v, 255 - v, 255 - v]) * 3 for v in src))
        png_write(out, 84, 84, rows, True)
    elif out.endswith(".png"):
        png_write(out, 28, 28, [px[r * 28:(r + 1) * 28] for r in range(28)], False)
    else:
        with open(out, "wb") as f:
            f.write(b"P5\n# MNIST test image %d\n28 28\n255\n" % i + px)
    return 0


def cmd_const_expect(args):
    _, labels = mnist_test(args[0])
    cls = int(args[1])
    z = 1.0 + 9.0 / math.e  # softmax denominator with the logits shifted by 1: e^0 + 9 e^-1
    loss = sum(math.log(z) if l == cls else 1.0 + math.log(z) for l in labels) / len(labels)
    acc = sum(1 for l in labels if l == cls) / len(labels)
    print("test_loss: %.4f, test_acc: %.4f" % (loss, acc))
    return 0


# --------------------------------------------------------------------------- PNG


def cmd_png(args):
    with open(args[0], "rb") as f:
        raw = f.read()
    assert raw[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, w = 8, b"", 0
    while pos < len(raw):
        n = struct.unpack(">I", raw[pos:pos + 4])[0]
        t, body = raw[pos + 4:pos + 8], raw[pos + 8:pos + 8 + n]
        if t == b"IHDR":
            w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
            assert depth == 8, "8-bit PNGs only"
        elif t == b"IDAT":
            idat += body
        pos += 12 + n
    bpp = {0: 1, 2: 3, 4: 2, 6: 4}[ctype]
    data, stride, prev, pixels = zlib.decompress(idat), w * bpp, bytearray(w * bpp), []
    for y in range(h):
        f, line = data[y * (stride + 1)], bytearray(data[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for x in range(stride):  # undo the PNG filters
            a = line[x - bpp] if x >= bpp else 0
            b, c = prev[x], prev[x - bpp] if x >= bpp else 0
            if f == 1: line[x] = (line[x] + a) & 255
            elif f == 2: line[x] = (line[x] + b) & 255
            elif f == 3: line[x] = (line[x] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        pixels.extend(bytes(line[i:i + bpp]) for i in range(0, stride, bpp))
        prev = line
    counts = {}
    for p in pixels:
        counts[p] = counts.get(p, 0) + 1
    background = max(counts, key=counts.get)
    print("%d %d %d %.4f" % (w, h, len(counts), 1.0 - counts[background] / len(pixels)))
    return 0


def cmd_meta(args):
    path, key, value = args[0], args[1], args[2]
    with open(path, "rb") as f:
        raw = f.read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    if len(args) > 3:
        obj = json.loads(header["__metadata__"][key])
        obj[args[3]] = json.loads(value)
        value = json.dumps(obj)
    header["__metadata__"][key] = value
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + raw[8 + n:])
    return 0


def cmd_meta_del(args):
    path, keys = args[0], args[1:]
    with open(path, "rb") as f:
        raw = f.read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    for k in keys:
        del header["__metadata__"][k]
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + raw[8 + n:])
    return 0


def cmd_same(args):
    ha, _, da = st_read(args[0])
    hb, _, db = st_read(args[1])
    for name in sorted(ha, key=lambda k: ha[k]["data_offsets"][0]):
        a, b = ha[name], hb.get(name)
        if b is None:
            print(name, "missing")
            continue
        same = (a["dtype"], a["shape"]) == (b["dtype"], b["shape"]) and \
            da[a["data_offsets"][0]:a["data_offsets"][1]] == db[b["data_offsets"][0]:b["data_offsets"][1]]
        print(name, "same" if same else "differs")
    for name in hb:
        if name not in ha:
            print(name, "extra")
    return 0


def cmd_poke(args):
    path, name, index, value = args[0], args[1], int(args[2]), float(args[3])
    header, _, _ = st_read(path)
    t = header[name]
    assert t["dtype"] == "F32", name + " is not F32"
    b, e = t["data_offsets"]
    assert 0 <= index < (e - b) // 4, "index out of range"
    with open(path, "r+b") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        f.seek(8 + n + b + 4 * index)
        f.write(struct.pack("<f", value))
    return 0


COMMANDS = {"poke": cmd_poke, "same": cmd_same, "read": cmd_read, "write-mlp": cmd_write_mlp, "write-const": cmd_write_const,
            "bad": cmd_bad, "forward": cmd_forward, "export": cmd_export, "png": cmd_png,
            "const-expect": cmd_const_expect, "meta": cmd_meta, "meta-del": cmd_meta_del}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        print(__doc__)
        sys.exit(2)
    sys.exit(COMMANDS[sys.argv[1]](sys.argv[2:]))
