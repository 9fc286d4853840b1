"""VGG with BatchNorm for CIFAR (Simonyan & Zisserman 2015), as used by RepDistiller/CRD.

Five groups of 3×3 convolutions (each conv–BN–ReLU, convolutions with a bias) at widths
64, 128, 256, 512, 512, separated by 2×2 max-pools, then global average pooling and a single
linear layer (no fully connected stack). ``vgg8``/``vgg11``/``vgg13``/``vgg16``/``vgg19``
have 1-1-1-1-1, 1-1-2-2-2, 2-2-2-2-2, 2-2-3-3-3 and 2-2-4-4-4 convolutions a group (RepDistiller's
``vgg*_bn``). As in the reference, the max-pool between the fourth and fifth groups is used
only for 64×64 inputs, so on CIFAR the last two groups both run at 4×4.

Features: the first group is the stem; the other four are the stages, each before (preact)
and after its closing ReLU; then the pooled vector.
"""

from __future__ import annotations

from typing import Iterator

import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from .staged import StagedCNN, init_weights, register_variant

# convolutions in each of the five groups
_DEPTHS = {
    "vgg8": (1, 1, 1, 1, 1),
    "vgg11": (1, 1, 2, 2, 2),
    "vgg13": (2, 2, 2, 2, 2),
    "vgg16": (2, 2, 3, 3, 3),
    "vgg19": (2, 2, 4, 4, 4),
}
_WIDTHS = (64, 128, 256, 512, 512)


def conv_group(cin: int, cout: int, n: int) -> nn.Sequential:
    """``n`` × (conv3×3 with bias, BN, ReLU), without the final ReLU (the caller applies it)."""
    layers: list[nn.Module] = []
    for i in range(n):
        layers += [nn.Conv2d(cin if i == 0 else cout, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers[:-1])


class VGG(StagedCNN):
    def __init__(self, depths: tuple[int, ...], num_classes: int = 100):
        super().__init__()
        cins = (3,) + _WIDTHS[:-1]
        groups = [conv_group(cin, cout, n) for cin, cout, n in zip(cins, _WIDTHS, depths)]
        self.stem = groups[0]
        self.stages = nn.ModuleList(groups[1:])
        self.fc = nn.Linear(_WIDTHS[-1], num_classes)
        self.num_classes = num_classes
        init_weights(self, linear_std=0.01)  # the reference's: linear N(0, 0.01²), zero bias

    def forward_stem(self, x: Tensor) -> Tensor:
        return F.relu(self.stem(x))

    def forward_stages(self, x: Tensor) -> Iterator[tuple[Tensor, Tensor]]:
        # the reference's rule for the fourth max-pool; the stem keeps the input's resolution
        pool_last = x.shape[2] == 64
        for i, stage in enumerate(self.stages):
            if i < len(self.stages) - 1 or pool_last:
                x = F.max_pool2d(x, 2)
            pre = stage(x)
            x = F.relu(pre)
            yield x, pre


for _name, _depths in _DEPTHS.items():
    _doc = f"VGG-{_name[3:]} with BatchNorm, {'-'.join(map(str, _depths))} convolutions a group."
    globals()[_name] = register_variant(_name, _doc, VGG, _depths)
