#!/usr/bin/python3
"""The tutorial's model and schedule in a tuned PyTorch loop (or, with --model cnn, ctrain's `cnn`
preset, the Keras MNIST convnet, for the CNN row of bench/run): the whole dataset as one float
tensor on the device (pixels / 255, once), a torch.randperm per epoch, batches by index
(no DataLoader, no per-sample transforms), evaluation under torch.no_grad(),
torch.set_num_threads(--threads, default 2).

Same job as the tutorial: seeded 50000/10000 split of the 60000 training images, 784->H->ReLU->10
(PyTorch's default init), SGD, batch 128 train / 256 eval, evaluate once before training, then the
schedule (default 5 epochs at lr 0.5, 5 at lr 0.1), evaluating after every epoch, then the test
set. Prints the tutorial's lines and one final JSON line (same keys as tutorial.py).
"""
import time

T_START = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mnist_idx  # noqa: E402

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402


def parse_schedule(text):
    phases = []
    for part in text.split(","):
        n, lr = part.split("@")
        phases.append((int(n), float(lr)))
    return phases


ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
ap.add_argument("--data", required=True, help="folder with the four MNIST IDX files (raw or .gz)")
ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
ap.add_argument("--hidden", type=int, default=32)
ap.add_argument("--batch-size", type=int, default=128)
ap.add_argument("--eval-batch-size", type=int, default=256)
ap.add_argument("--epochs-schedule", default="5@0.5,5@0.1", help="EPOCHS@LR,... (default %(default)s)")
ap.add_argument("--epochs", type=int, default=None, help="with --lr: replaces the schedule by EPOCHS@LR")
ap.add_argument("--lr", type=float, default=None)
ap.add_argument("--model", choices=["mlp", "cnn"], default="mlp",
                help="mlp: 784->H->ReLU->10; cnn: ctrain's `cnn` preset (the Keras MNIST convnet)")
ap.add_argument("--optimizer", choices=["sgd", "adam"], default="sgd",
                help="torch.optim.SGD or torch.optim.Adam (PyTorch's defaults but lr)")
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--fp32", action="store_true",
                help="on CUDA: plain FP32 math, as ctrain's (PyTorch's default lets cuDNN's convolutions use TF32)")
ap.add_argument("--seed", type=int, default=42)
args = ap.parse_args()
if args.epochs is not None or args.lr is not None:
    schedule = [(args.epochs if args.epochs is not None else 10, args.lr if args.lr is not None else 0.5)]
else:
    schedule = parse_schedule(args.epochs_schedule)

torch.set_num_threads(args.threads)
if args.fp32:
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
torch.manual_seed(args.seed)
device = torch.device(args.device)


def sync():
    if device.type == "cuda":
        torch.cuda.synchronize()


def to_tensors(part):
    images, labels, n = mnist_idx.load(args.data, part)
    x = torch.frombuffer(bytearray(images), dtype=torch.uint8).view(n, 784)
    y = torch.frombuffer(bytearray(labels), dtype=torch.uint8).long()
    return x.to(device).float().div_(255), y.to(device)


x_all, y_all = to_tensors("train")
x_test, y_test = to_tensors("test")
perm = torch.randperm(x_all.shape[0]).to(device)
val_idx, train_idx = perm[:10000], perm[10000:]
x_train, y_train = x_all[train_idx].contiguous(), y_all[train_idx].contiguous()
x_val, y_val = x_all[val_idx].contiguous(), y_all[val_idx].contiguous()
del x_all, y_all

if args.model == "mlp":
    model = nn.Sequential(nn.Linear(784, args.hidden), nn.ReLU(), nn.Linear(args.hidden, 10))
else:  # conv(32,3),relu,conv(64,3),relu,maxpool(2),dropout(0.25),flatten,linear(128),relu,dropout(0.5),linear(10)
    model = nn.Sequential(
        nn.Unflatten(1, (1, 28, 28)), nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 64, 3), nn.ReLU(),
        nn.MaxPool2d(2), nn.Dropout(0.25), nn.Flatten(), nn.Linear(9216, 128), nn.ReLU(),
        nn.Dropout(0.5), nn.Linear(128, 10))
model = model.to(device)
TIMES = {"epoch": [], "eval": []}


@torch.no_grad()
def evaluate(x, y):
    model.eval()
    t0 = time.perf_counter()
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    for i in range(0, x.shape[0], args.eval_batch_size):
        out = model(x[i:i + args.eval_batch_size])
        yb = y[i:i + args.eval_batch_size]
        loss_sum += F.cross_entropy(out, yb, reduction="sum")
        correct += (out.argmax(1) == yb).sum()
    loss, acc = loss_sum.item() / x.shape[0], correct.item() / x.shape[0]
    TIMES["eval"].append(time.perf_counter() - t0)
    return loss, acc


val_loss, val_acc = evaluate(x_val, y_val)
print("Epoch [-], val_loss: {:.4f}, val_acc: {:.4f}  (before training)".format(val_loss, val_acc), flush=True)
epoch_no = 0
n = x_train.shape[0]
bs = args.batch_size
for n_epochs, lr in schedule:
    if args.optimizer == "adam":
        opt = torch.optim.Adam(model.parameters(), lr=lr)
    else:
        opt = torch.optim.SGD(model.parameters(), lr=lr)
    model.train()
    for _ in range(n_epochs):
        t0 = time.perf_counter()
        order = torch.randperm(n, device=device)
        for i in range(0, n, bs):
            idx = order[i:i + bs]
            loss = F.cross_entropy(model(x_train[idx]), y_train[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        sync()
        TIMES["epoch"].append(time.perf_counter() - t0)
        val_loss, val_acc = evaluate(x_val, y_val)
        model.train()
        print("Epoch [{}], val_loss: {:.4f}, val_acc: {:.4f}".format(epoch_no, val_loss, val_acc), flush=True)
        epoch_no += 1

val_times = list(TIMES["eval"])
test_loss, test_acc = evaluate(x_test, y_test)
print("test_loss: {:.4f}, test_acc: {:.4f}".format(test_loss, test_acc), flush=True)
print(json.dumps({
    "program": "tuned",
    "device": device.type,
    "torch": torch.__version__,
    "threads": torch.get_num_threads(),
    "model": args.model,
    "hidden": args.hidden,
    "batch_size": bs,
    "tf32": {"cudnn": torch.backends.cudnn.allow_tf32, "matmul": torch.backends.cuda.matmul.allow_tf32},
    "epoch_times": [round(t, 6) for t in TIMES["epoch"]],
    "val_times": [round(t, 6) for t in val_times],
    "val_time": round(statistics.median(val_times), 6),
    "test_time": round(TIMES["eval"][-1], 6),
    "total_s": round(time.perf_counter() - T_START, 6),
    "val_acc": round(val_acc, 6),
    "test_acc": round(test_acc, 6),
    "blas": mnist_idx.blas_info(torch),
}), flush=True)
