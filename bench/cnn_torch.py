"""cnn_torch.py — bench/cnn.sh's PyTorch side: the model of a ctrain checkpoint (its model_spec,
rebuilt by tools/ctrain_torch.py with PyTorch's own initialisation) trained as a tuned loop
trains it on the CPU: the IDX training images as one float tensor (pixels / 255), randperm
batches by index, SGD with momentum, cross-entropy, THREADS threads. Prints the seconds of each
epoch's training. Usage: python3 cnn_torch.py CHECKPOINT_DIR IDX_DIR EPOCHS THREADS
"""
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
import ctrain_torch  # noqa: E402

ckpt, data, epochs, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
torch.set_num_threads(threads)
torch.manual_seed(0)


def idx(path):
    raw = open(path, "rb").read()
    nd = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(nd)]
    return torch.from_numpy(np.frombuffer(raw, np.uint8, offset=4 + 4 * nd).reshape(dims).copy())


x = idx(os.path.join(data, "train-images-idx3-ubyte")).float().div(255).unsqueeze(1)
y = idx(os.path.join(data, "train-labels-idx1-ubyte")).long()
meta = ctrain_torch.load_metadata(ckpt)
model = ctrain_torch.build_model(meta["model_spec"], tuple(x.shape[1:]))
model.train()
opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
n = len(x)
for e in range(epochs):
    t = time.perf_counter()
    perm = torch.randperm(n)
    for i in range(0, n, 128):
        b = perm[i:i + 128]
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(model(x[b]), y[b])
        loss.backward()
        opt.step()
    print("epoch %d %.4f loss %.4f" % (e, time.perf_counter() - t, loss.item()), flush=True)
