#!/usr/bin/env python3
"""Writes tests/golden/mlp.txt: what PyTorch computes for the tutorial's MLP (784 -> 32 -> ReLU
-> 10) on a fixed batch with fixed weights, for tests/test_golden.c (like llm.c's test_gpt2).

Weights and inputs follow formulas the C test repeats, so only PyTorch's results are stored:
logits, the mean cross-entropy, every gradient's sum and sum of squares plus a few entries,
and the losses of SGD steps (momentum 0.9, Nesterov, weight decay 1e-3, lr 0.05).
Run with Debian's python3-torch:  /usr/bin/python3 tests/golden/make_golden.py
"""
import math
import os
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_default_dtype(torch.float32)
B, IN, H, OUT = 8, 784, 32, 10


def fill(shape, salt, scale):
    n = 1
    for d in shape:
        n *= d
    v = [scale * math.sin(0.37 * i + salt) for i in range(n)]
    return torch.tensor(v, dtype=torch.float32).reshape(shape)


class Mnistmodel(nn.Module):  # the tutorial's model
    def __init__(self):
        super().__init__()
        self.linear1 = nn.Linear(IN, H)
        self.linear2 = nn.Linear(H, OUT)

    def forward(self, xb):
        return self.linear2(F.relu(self.linear1(xb.view(xb.size(0), -1))))


m = Mnistmodel()
with torch.no_grad():
    m.linear1.weight.copy_(fill((H, IN), 1.0, 0.05))
    m.linear1.bias.copy_(fill((H,), 2.0, 0.1))
    m.linear2.weight.copy_(fill((OUT, H), 3.0, 0.3))
    m.linear2.bias.copy_(fill((OUT,), 4.0, 0.1))
# pixels like ToTensor: bytes / 255; the bytes follow a formula
x = torch.tensor([[(37 * b + 11 * j) % 256 for j in range(IN)] for b in range(B)],
                 dtype=torch.float32) / 255.0
y = torch.tensor([(3 * b + 1) % OUT for b in range(B)])

logits = m(x)
loss = F.cross_entropy(logits, y)
loss.backward()

out = []
out.append("logits " + " ".join("%.9g" % v for v in logits.detach().flatten().tolist()))
out.append("loss %.9g" % loss.item())
for name, p in m.named_parameters():
    g = p.grad.double().flatten()
    picks = [0, 1, min(17, g.numel() - 2), g.numel() // 2, g.numel() - 1]
    out.append("grad %s sum %.12g sumsq %.12g picks %s" % (
        name, g.sum().item(), (g * g).sum().item(),
        " ".join("%d:%.9g" % (i, g[i].item()) for i in picks)))

opt = torch.optim.SGD(m.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3)
losses = []
for step in range(5):
    opt.zero_grad()
    l = F.cross_entropy(m(x), y)
    l.backward()
    opt.step()
    losses.append(l.item())
out.append("sgd_losses " + " ".join("%.9g" % v for v in losses))
out.append("final_loss %.9g" % F.cross_entropy(m(x), y).item())

path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "mlp.txt")
with open(path, "w") as f:
    f.write("# PyTorch %s, written by tests/golden/make_golden.py\n" % torch.__version__)
    f.write("\n".join(out) + "\n")
print("wrote", path)
