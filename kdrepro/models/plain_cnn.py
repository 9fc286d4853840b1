"""The plain CNNs of Teacher-Assistant KD (Mirzadeh et al., AAAI 2020): 2, 4, 6, 8 and 10 layers.

"Plain" means no shortcuts: 3×3 convolutions (with bias) each followed by BatchNorm and ReLU,
2×2 max-pools between groups, the map flattened (no global pooling) into one or two fully
connected layers. The depth counts the convolutions. The paper gives the family only by
depth; the widths below are those of the authors' code, which uses narrower networks for
CIFAR-10 than for CIFAR-100 — so the 10-class and the 100-class ``plain6`` differ in more than
their last layer (the CIFAR-100 ``plain6`` also has no last max-pool). ``num_classes`` picks
the table: 100 takes the CIFAR-100 widths, any other count the CIFAR-10 ones.

``features`` are the outputs of each group of convolutions (after its pool, where there is
one) and the flattened vector the classifier reads; the convolutions end in ReLU, so
``preact_features`` are not separate and repeat ``features``.
"""

from __future__ import annotations

import torch
import torch.nn as nn
from torch import Tensor

from .output import ModelOutput
from .registry import register_model

# depth: (groups of convolution widths; a group ends in a 2×2 max-pool unless it is marked
# "no pool"), hidden fully connected widths before the classifier
CIFAR10_SPECS = {
    2: ([(16,), (16,)], True, ()),
    4: ([(16, 16), (32, 32)], True, ()),
    6: ([(16, 16), (32, 32), (64, 64)], True, ()),
    8: ([(16, 16), (32, 32), (64, 64), (128, 128)], True, (64,)),
    10: ([(32, 32), (64, 64), (128, 128), (256, 256, 256, 256)], True, (128,)),
}
CIFAR100_SPECS = {
    2: ([(32,), (32,)], True, ()),
    4: ([(32, 32), (64, 64)], True, ()),
    6: ([(32, 32), (64, 64), (128, 128)], False, ()),  # the authors' table has no pool after the last group
    8: ([(32, 32), (64, 64), (128, 128), (256, 256)], True, (64,)),
    10: ([(32, 32), (64, 64), (128, 128), (256, 256, 256, 256)], True, (512,)),
}


def conv_bn_relu(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


class PlainCNN(nn.Module):
    """Groups of conv-BN-ReLU with max-pools between them, flattened into fully connected layers."""

    def __init__(self, groups: list[tuple[int, ...]], pool_last: bool, hidden: tuple[int, ...],
                 num_classes: int, in_channels: int = 3, image_size: int = 32):
        super().__init__()
        blocks, channels, size = [], in_channels, image_size
        for g, widths in enumerate(groups):
            layers = []
            for width in widths:
                layers.append(conv_bn_relu(channels, width))
                channels = width
            if pool_last or g < len(groups) - 1:
                layers.append(nn.MaxPool2d(2))
                size //= 2
            blocks.append(nn.Sequential(*layers))
        self.groups = nn.ModuleList(blocks)
        fc, width = [], channels * size * size
        for h in hidden:
            fc += [nn.Linear(width, h), nn.ReLU(inplace=True)]
            width = h
        self.hidden = nn.Sequential(*fc)
        self.fc = nn.Linear(width, num_classes)

    def forward(self, x: Tensor) -> ModelOutput:
        features = []
        for group in self.groups:
            x = group(x)
            features.append(x)
        flat = torch.flatten(x, 1)
        features.append(flat)
        return ModelOutput(self.fc(self.hidden(flat)), features, list(features))


def _plain(depth: int, num_classes: int) -> PlainCNN:
    specs = CIFAR100_SPECS if num_classes == 100 else CIFAR10_SPECS
    groups, pool_last, hidden = specs[depth]
    return PlainCNN(groups, pool_last, hidden, num_classes)


@register_model
def plain2(num_classes: int = 10) -> PlainCNN:
    return _plain(2, num_classes)


@register_model
def plain4(num_classes: int = 10) -> PlainCNN:
    return _plain(4, num_classes)


@register_model
def plain6(num_classes: int = 10) -> PlainCNN:
    return _plain(6, num_classes)


@register_model
def plain8(num_classes: int = 10) -> PlainCNN:
    return _plain(8, num_classes)


@register_model
def plain10(num_classes: int = 10) -> PlainCNN:
    return _plain(10, num_classes)
