"""augment_torch.py — bench/augment.sh's PyTorch side: MNIST's training images through the
torchvision transforms that ctrain's --augment imitates, one image at a time as a Dataset's
__getitem__ applies them (on the uint8 tensor made float in [0, 1], as ToTensor does;
TrivialAugmentWide, RandAugment, AutoAugment and AugMix, which take bytes, before that; one
thread), and the images per second.
Usage: python3 augment_torch.py MNIST_DIR [IMAGES]
"""
import gzip
import os
import sys
import time

import numpy as np
import torch
import torchvision.transforms as T

torch.set_num_threads(1)
d = sys.argv[1]
n = int(sys.argv[2]) if len(sys.argv) > 2 else 60000
path = os.path.join(d, "train-images-idx3-ubyte")
raw = open(path, "rb").read() if os.path.exists(path) else gzip.open(path + ".gz").read()
images = torch.from_numpy(np.frombuffer(raw, np.uint8, offset=16).reshape(-1, 1, 28, 28).copy())
n = min(n, len(images))
kinds = {
    "none": T.Compose([]),
    "crop": T.Compose([T.RandomCrop(28, padding=2), T.RandomHorizontalFlip()]),
    "affine": T.RandomAffine(10, translate=(0.1, 0.1), scale=(0.9, 1.1)),
    "resized": T.Compose([T.RandomResizedCrop(28, antialias=True), T.RandomHorizontalFlip()]),
    "jitter": T.ColorJitter(brightness=0.4, contrast=0.4),
    "erase": T.RandomErasing(p=0.5),
    "all": T.Compose([T.RandomResizedCrop(28, antialias=True), T.RandomHorizontalFlip(),
                      T.ColorJitter(brightness=0.4, contrast=0.4), T.RandomErasing(p=0.5)]),
    "trivial": T.TrivialAugmentWide(),
    "randaugment": T.RandAugment(),
    "autoaugment": T.AutoAugment(),
    "augmix": T.AugMix(),
}
on_bytes = {"trivial", "randaugment", "autoaugment", "augmix"}
torch.manual_seed(0)
for name, tf in kinds.items():
    t0 = time.perf_counter()
    for i in range(n):
        if name in on_bytes:
            tf(images[i]).float().div_(255)
        else:
            tf(images[i].float().div_(255))
    print("%s %.0f" % (name, n / (time.perf_counter() - t0)), flush=True)
