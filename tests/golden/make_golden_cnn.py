#!/usr/bin/env python3
"""Writes tests/golden/cnn.txt: what PyTorch computes for a small CNN with every new layer kind
(conv with stride and padding, BatchNorm2d and BatchNorm1d in training mode, ReLU, max and
average pooling, Tanh, GELU, Linear) on a fixed batch with fixed weights, for
tests/test_golden_cnn.c.

Weights and inputs follow formulas the C test repeats, so only PyTorch's results are stored:
the logits and mean cross-entropy of a training-mode forward, every gradient's sum and sum of
squares plus a few entries, the losses of five AdamW steps (lr 0.01, weight decay 0.01), the
batch norm running statistics after those six training forwards, and the eval-mode loss.
Batch norm follows an activation here: a bias right before it has a zero gradient in exact
arithmetic, and Adam would then move it by the sign of rounding noise, which the running
statistics would show.
Run with Debian's python3-torch:  /usr/bin/python3 tests/golden/make_golden_cnn.py
"""
import math
import os
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_default_dtype(torch.float32)
B, C, H, W, K = 6, 1, 10, 10, 5
SPEC = ("conv(4,3,1,1),relu,batchnorm,maxpool(2),conv(6,3,2,1),tanh,avgpool(3,1,1),flatten,"
        "linear(16),gelu,batchnorm,linear(5)")


def fill(n, salt, scale, offset=0.0):
    return torch.tensor([offset + scale * math.sin(0.37 * i + salt) for i in range(n)],
                        dtype=torch.float32)


net = nn.Sequential(
    nn.Conv2d(1, 4, 3, 1, 1), nn.ReLU(), nn.BatchNorm2d(4), nn.MaxPool2d(2),
    nn.Conv2d(4, 6, 3, 2, 1), nn.Tanh(), nn.AvgPool2d(3, 1, 1), nn.Flatten(),
    nn.Linear(54, 16), nn.GELU(), nn.BatchNorm1d(16), nn.Linear(16, 5))
names = []
with torch.no_grad():
    for k, (name, t) in enumerate(net.named_parameters()):
        bn = isinstance(net[int(name.split('.')[0])], (nn.BatchNorm1d, nn.BatchNorm2d))
        if bn and name.endswith("weight"):
            v = fill(t.numel(), k + 1.0, 0.1, 1.0)
        else:
            v = fill(t.numel(), k + 1.0, 0.3 if name.endswith("weight") else 0.05)
        t.copy_(v.reshape(t.shape))
        names.append(name)
x = fill(B * C * H * W, 0.5, 1.0).reshape(B, C, H, W)
y = torch.tensor([(3 * i + 1) % K for i in range(B)])

out = []
net.train()
logits = net(x)
loss = F.cross_entropy(logits, y)
loss.backward()
out.append("logits " + " ".join("%.9g" % v for v in logits.flatten().tolist()))
out.append("loss %.9g" % loss.item())
for name, t in zip(names, net.parameters()):
    g = t.grad.flatten().double()
    picks = [0, g.numel() // 3, g.numel() - 1]
    out.append("grad %s %.9g %.9g %s" % (name, g.sum().item(), (g * g).sum().item(),
               " ".join("%d %.9g" % (i, g[i].item()) for i in picks)))
opt = torch.optim.AdamW(net.parameters(), lr=0.01, weight_decay=0.01)
losses = []
for step in range(5):
    opt.zero_grad()
    l = F.cross_entropy(net(x), y)
    l.backward()
    opt.step()
    losses.append(l.item())
out.append("adamw_losses " + " ".join("%.9g" % v for v in losses))
for i in (2, 10):
    bn = net[i]
    out.append("running " + " ".join("%.9g" % v for v in
               bn.running_mean.tolist() + bn.running_var.tolist()))
    out.append("batches_tracked %d" % bn.num_batches_tracked.item())
net.eval()
with torch.no_grad():
    out.append("eval_loss %.9g" % F.cross_entropy(net(x), y).item())
path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cnn.txt")
with open(path, "w") as f:
    f.write("# written by tests/golden/make_golden_cnn.py with torch %s; model %s\n"
            % (torch.__version__, SPEC))
    f.write("\n".join(out) + "\n")
print("wrote", path)
