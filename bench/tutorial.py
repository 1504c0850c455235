#!/usr/bin/python3
"""The tutorial's program (shared/SEED.md, "train an MNIST classifier on the GPU"), as written,
with only the fixes it needs to run, plus timers for the benchmark.

Fixes (everything else is the tutorial's code, including its per-sample ToTensor transform,
DataLoader(num_workers=2, pin_memory=True), shuffled validation loader and evaluate() without
torch.no_grad()):
  1. DeviceDataLoader: the class is defined as `DevicedataLoader` but used as
     `DeviceDataLoader`; it is defined under the name it is used with.
  2. `accuracy` is used but never defined; it is the one from the course the tutorial follows:
     torch.tensor(torch.sum(preds == labels).item() / len(preds)).
  3. The training cell is missing; it is the course's: evaluate once, fit(5, 0.5), fit(5, 0.1)
     (the schedule is a flag, --epochs-schedule).
  4. The data comes from the raw IDX files in --data (no download): torchvision's MNIST pointed
     at them when torchvision is installed, else a minimal Dataset that returns what
     MNIST + ToTensor return: (float tensor (1, 28, 28) in [0, 1], int label).
  5. Unused notebook imports (matplotlib, make_grid) and `%matplotlib inline` are dropped.
  6. torch.manual_seed(--seed) before the split and the model, for repeatable runs.
  7. A test-set evaluation (with the tutorial's evaluate) after training.
Added for the benchmark only: wall-clock timers around each training epoch and each evaluation
(torch.cuda.synchronize() first on CUDA) and one final JSON line with the results.
"""
import time

T_START = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mnist_idx  # noqa: E402

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch.utils.data.dataloader import DataLoader  # noqa: E402
from torch.utils.data import random_split  # noqa: E402

try:
    from torchvision.datasets import MNIST
    from torchvision.transforms import ToTensor
    HAVE_TORCHVISION = True
except ImportError:
    HAVE_TORCHVISION = False


def parse_schedule(text):
    """'5@0.5,5@0.1' -> [(5, 0.5), (5, 0.1)]"""
    phases = []
    for part in text.split(","):
        n, lr = part.split("@")
        phases.append((int(n), float(lr)))
    return phases


ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
ap.add_argument("--data", required=True, help="folder with the four MNIST IDX files (raw or .gz)")
ap.add_argument("--device", choices=["cpu", "cuda"], default=None,
                help="default: the tutorial's get_default_device()")
ap.add_argument("--epochs-schedule", default="5@0.5,5@0.1", help="EPOCHS@LR,... (default %(default)s)")
ap.add_argument("--seed", type=int, default=42)
args = ap.parse_args()
torch.manual_seed(args.seed)

TIMES = {"epoch": [], "eval": []}


def _sync():
    if device.type == "cuda":
        torch.cuda.synchronize()


# ---- Step 3: datasets (fix 4) -------------------------------------------------------------
class IdxMNIST(torch.utils.data.Dataset):
    """What MNIST(transform=ToTensor()) returns, without torchvision."""

    def __init__(self, data_dir, train):
        images, labels, n = mnist_idx.load(data_dir, "train" if train else "test")
        self.images = torch.frombuffer(bytearray(images), dtype=torch.uint8).view(n, 1, 28, 28)
        self.labels = list(labels)

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return self.images[i].float().div(255), self.labels[i]


tv_root = None
if HAVE_TORCHVISION:
    tv_root = mnist_idx.torchvision_root(args.data)
    dataset = MNIST(root=tv_root, download=False, transform=ToTensor())
    test_set = MNIST(root=tv_root, train=False, download=False, transform=ToTensor())
else:
    dataset = IdxMNIST(args.data, train=True)
    test_set = IdxMNIST(args.data, train=False)

# Splitting dataset to train and validation
val_size = 10000
train_size = len(dataset) - val_size
train_set, val_set = random_split(dataset, [train_size, val_size])

# ---- Step 4 -------------------------------------------------------------------------------
batch_size = 128
train_loader = DataLoader(train_set, batch_size=128, shuffle=True, num_workers=2, pin_memory=True)
val_loader = DataLoader(val_set, batch_size=256, shuffle=True, num_workers=2, pin_memory=True)


# ---- fix 2 --------------------------------------------------------------------------------
def accuracy(outputs, labels):
    _, preds = torch.max(outputs, dim=1)
    return torch.tensor(torch.sum(preds == labels).item() / len(preds))


# ---- Step 5 -------------------------------------------------------------------------------
class Mnistmodel(nn.Module):
    def __init__(self, input_size, hidden_size, out_size):
        super().__init__()
        # hidden layer
        self.linear1 = nn.Linear(input_size, hidden_size)
        # Output layer
        self.linear2 = nn.Linear(hidden_size, out_size)

    def forward(self, xb):
        xb = xb.view(xb.size(0), -1)
        # Output of hidden layer
        out = self.linear1(xb)
        # Applying Relu activation on output of hidden layer
        rel = F.relu(out)
        # Final output
        out = self.linear2(rel)
        return out

    def training_step(self, batch):
        """ Returns loss for a training data"""
        images, labels = batch
        out = self(images)
        loss = F.cross_entropy(out, labels)
        return loss

    def validation_step(self, batch):
        """Finding loss and accuracy for a batch of validation data"""
        images, labels = batch
        out = self(images)
        loss = F.cross_entropy(out, labels)
        acc = accuracy(out, labels)
        return {'val_loss': loss, 'val_acc': acc}

    def validation_epoch_end(self, outputs):
        batch_losses = [x['val_loss'] for x in outputs]
        epoch_loss = torch.stack(batch_losses).mean()
        batch_accuracy = [x['val_acc'] for x in outputs]
        epoch_accuracy = torch.stack(batch_accuracy).mean()
        return {'val_loss': epoch_loss, 'val_acc': epoch_accuracy}

    def epoch_end(self, epoch, result):
        print("Epoch [{}], val_loss: {:.4f}, val_acc: {:.4f}".format(epoch, result['val_loss'], result['val_acc']),
              flush=True)


# ---- Step 6 -------------------------------------------------------------------------------
def get_default_device():
    """Picking GPU if available or else CPU"""
    if torch.cuda.is_available():
        return torch.device('cuda')
    else:
        return torch.device('cpu')


device = torch.device(args.device) if args.device else get_default_device()


# ---- Step 7 -------------------------------------------------------------------------------
def to_device(data, device):
    """Move tensor(s) to chosen device"""
    if isinstance(data, (list, tuple)):
        return [to_device(x, device) for x in data]
    return data.to(device, non_blocking=True)


# ---- Step 8 (fix 1: the name) -------------------------------------------------------------
class DeviceDataLoader():
    def __init__(self, dl, device):
        self.dl = dl
        self.device = device

    def __iter__(self):
        for b in self.dl:
            yield to_device(b, self.device)

    def __len__(self):
        return len(self.dl)


train_loader = DeviceDataLoader(train_loader, device)
val_loader = DeviceDataLoader(val_loader, device)


# ---- Step 9 (+ timers) --------------------------------------------------------------------
def fit(epochs, lr, model, train_loader, val_loader, opt_func=torch.optim.SGD):
    history = []
    optimizer = opt_func(model.parameters(), lr)
    for epoch in range(epochs):
        # training phase
        t0 = time.perf_counter()
        for batch in train_loader:
            loss = model.training_step(batch)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
        _sync()
        TIMES["epoch"].append(time.perf_counter() - t0)
        # Validation phase
        result = evaluate(model, val_loader)
        model.epoch_end(epoch, result)  # Result after each epoch
        history.append(result)
    return history


def evaluate(model, val_loader):
    t0 = time.perf_counter()
    outputs = [model.validation_step(batch) for batch in val_loader]
    result = model.validation_epoch_end(outputs)
    _sync()
    TIMES["eval"].append(time.perf_counter() - t0)
    return result


# ---- Step 10 ------------------------------------------------------------------------------
num_classes = 10
model = Mnistmodel(input_size=784, hidden_size=32, out_size=num_classes)
to_device(model, device)

# ---- Step 11: the training cell (fix 3) ---------------------------------------------------
history = [evaluate(model, val_loader)]
for n_epochs, lr in parse_schedule(args.epochs_schedule):
    history += fit(n_epochs, lr, model, train_loader, val_loader)

# ---- fix 7: test set ----------------------------------------------------------------------
test_loader = DeviceDataLoader(DataLoader(test_set, batch_size=256, num_workers=2, pin_memory=True), device)
val_times = list(TIMES["eval"])
test_result = evaluate(model, test_loader)
print("test_loss: {:.4f}, test_acc: {:.4f}".format(test_result['val_loss'], test_result['val_acc']), flush=True)

if tv_root:
    shutil.rmtree(tv_root, ignore_errors=True)
print(json.dumps({
    "program": "tutorial",
    "device": device.type,
    "torch": torch.__version__,
    "threads": torch.get_num_threads(),
    "torchvision": HAVE_TORCHVISION,
    "epoch_times": [round(t, 6) for t in TIMES["epoch"]],
    "val_times": [round(t, 6) for t in val_times],
    "val_time": round(statistics.median(val_times), 6),
    "test_time": round(TIMES["eval"][-1], 6),
    "total_s": round(time.perf_counter() - T_START, 6),
    "val_acc": round(float(history[-1]['val_acc']), 6),
    "test_acc": round(float(test_result['val_acc']), 6),
    "blas": mnist_idx.blas_info(torch),
}), flush=True)
