"""ShuffleNet V2 (Ma et al. 2018) for CIFAR, as RepDistiller's ``ShuffleV2`` (CRD tables).

The 1× network: stage widths 116, 232, 464 with 3, 7, 3 basic units, each stage opening with
a stride-2 down-sampling unit, then a 1×1 conv–BN–ReLU to 1024 channels, global average
pooling and a linear head. The stem is a 1×1 conv–BN–ReLU to 24 channels at full resolution
(no stride, no max-pool). A basic unit splits the channels in half, passes one half through
and sends the other through 1×1 conv–BN–ReLU, 3×3 depthwise conv–BN, 1×1 conv–BN–ReLU, then
concatenates the halves and shuffles them (2 groups). A down-sampling unit runs two
branches on the whole input (3×3 depthwise stride 2–BN, 1×1–BN–ReLU; and 1×1–BN–ReLU, 3×3
depthwise stride 2–BN, 1×1–BN–ReLU) and concatenates and shuffles them.

Features: the stem, each stage after (and before) its last unit's final ReLU, the pooled
vector (after the 1024-channel conv). The pre-ReLU version of a unit's output is shuffled
like the output itself, so ``relu(preact) == feature`` channel by channel (RepDistiller
returns it unshuffled: the same values in another channel order).
Initialisation is PyTorch's default, as in the reference (which sets none).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from .registry import register_model
from .shufflenetv1 import channel_shuffle
from .staged import Stage, StagedCNN


def conv_bn(cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]


class BasicUnit(nn.Module):
    """Split, transform one half, concatenate, shuffle; returns (output, pre-ReLU output)."""

    def __init__(self, channels: int):
        super().__init__()
        half = channels // 2
        self.half = half
        self.branch = nn.Sequential(
            *conv_bn(half, half, 1), nn.ReLU(inplace=True),
            *conv_bn(half, half, 3, groups=half),
            *conv_bn(half, half, 1),
        )

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        x1, x2 = x[:, :self.half], x[:, self.half:]
        pre = channel_shuffle(torch.cat([x1, self.branch(x2)], 1), 2)
        return F.relu(pre), pre  # x1 comes out of a ReLU already, so this only touches the branch


class DownUnit(nn.Module):
    """Two stride-2 branches, each to half the output width, concatenated and shuffled."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        mid = cout // 2
        self.left = nn.Sequential(
            *conv_bn(cin, cin, 3, 2, groups=cin),
            *conv_bn(cin, mid, 1), nn.ReLU(inplace=True),
        )
        self.right = nn.Sequential(
            *conv_bn(cin, mid, 1), nn.ReLU(inplace=True),
            *conv_bn(mid, mid, 3, 2, groups=mid),
            *conv_bn(mid, mid, 1), nn.ReLU(inplace=True),
        )

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        out = channel_shuffle(torch.cat([self.left(x), self.right(x)], 1), 2)
        return out, out


class ShuffleNetV2(StagedCNN):
    def __init__(self, widths=(116, 232, 464), units=(3, 7, 3), last: int = 1024, num_classes: int = 100):
        super().__init__()
        cin = 24
        self.stem = nn.Sequential(*conv_bn(3, cin, 1), nn.ReLU(inplace=True))
        stages = []
        for cout, n in zip(widths, units):
            stages.append(Stage([DownUnit(cin, cout)] + [BasicUnit(cout) for _ in range(n)]))
            cin = cout
        self.stages = nn.ModuleList(stages)
        self.last_conv = nn.Sequential(*conv_bn(cin, last, 1), nn.ReLU(inplace=True))
        self.fc = nn.Linear(last, num_classes)
        self.num_classes = num_classes

    def forward_pre_pool(self, x: Tensor) -> Tensor:
        return self.last_conv(x)


@register_model
def shufflenetv2(num_classes: int = 100) -> ShuffleNetV2:
    """ShuffleNet V2 1×, widths 116-232-464 (RepDistiller's ``ShuffleV2``)."""
    return ShuffleNetV2(num_classes=num_classes)
