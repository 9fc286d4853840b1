"""The benchmarks' data: random images of CIFAR-100's shape and statistics, and the CRD recipe's
augmentation (a step's speed does not depend on what the images show)."""

from __future__ import annotations

import torch

from ..data import Augment
from ..engine import Split

CIFAR_MEAN, CIFAR_STD = (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)  # CIFAR-100's, as the CRD code
AUGMENT = Augment(crop_padding=4, flip=True)  # the CRD recipe's crop and flip
NUM_CLASSES = 100


def synthetic_split(n: int, seed: int = 0) -> Split:
    g = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, 3, 32, 32), generator=g, dtype=torch.uint8)
    labels = torch.randint(0, NUM_CLASSES, (n,), generator=g)
    return Split(images, labels, CIFAR_MEAN, CIFAR_STD)


__all__ = ["synthetic_split", "AUGMENT", "NUM_CLASSES", "CIFAR_MEAN", "CIFAR_STD"]
