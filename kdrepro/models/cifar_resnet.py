"""CIFAR ResNets (He et al. 2016, Section 4.2), with the widths used by RepDistiller/CRD.

A 3×3 stem, three stages of ``n`` basic blocks each (``depth = 6n + 2``) at strides 1, 2, 2,
global average pooling and a linear head. ``resnet20``…``resnet110`` use widths
16-16-32-64; the "×4" variants (``resnet8x4``, ``resnet32x4``) use 32-64-128-256.

Feature convention shared by every CNN in the zoo (:class:`~kdrepro.models.ModelOutput`):
``features = [stem, stage 1, …, stage k, pooled]`` after the ReLU and ``preact_features``
the same positions before the last ReLU of each stage (the stem and the pooled vector are
the same in both lists). Methods pair ``features[1:-1]`` (the stages) of teacher and
student; FitNets' hint is ``features[2]``.
"""

from __future__ import annotations

import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from .staged import Stage, StagedCNN, init_weights, register_variant


def conv3x3(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride, 1, bias=False)


class BasicBlock(nn.Module):
    """Two 3×3 convolutions and an identity (or 1×1 projection) shortcut; returns (out, pre-ReLU)."""

    expansion = 1

    def __init__(self, cin: int, cout: int, stride: int = 1):
        super().__init__()
        self.conv1, self.bn1 = conv3x3(cin, cout, stride), nn.BatchNorm2d(cout)
        self.conv2, self.bn2 = conv3x3(cout, cout), nn.BatchNorm2d(cout)
        self.shortcut = None
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        out = F.relu(self.bn1(self.conv1(x)))
        pre = self.bn2(self.conv2(out)) + (x if self.shortcut is None else self.shortcut(x))
        return F.relu(pre), pre


class CifarResNet(StagedCNN):
    def __init__(self, depth: int, widths: tuple[int, int, int, int], num_classes: int = 100):
        super().__init__()
        if (depth - 2) % 6:
            raise ValueError(f"a CIFAR ResNet has depth 6n + 2 (8, 14, 20, …); got {depth}")
        n = (depth - 2) // 6
        self.stem = nn.Sequential(conv3x3(3, widths[0]), nn.BatchNorm2d(widths[0]), nn.ReLU(inplace=True))
        stages, cin = [], widths[0]
        for i, cout in enumerate(widths[1:]):
            stride = 1 if i == 0 else 2
            stages.append(Stage([BasicBlock(cin if j == 0 else cout, cout, stride if j == 0 else 1)
                                 for j in range(n)]))
            cin = cout
        self.stages = nn.ModuleList(stages)
        self.fc = nn.Linear(cin, num_classes)
        self.num_classes = num_classes
        init_weights(self)


_NARROW, _WIDE = (16, 16, 32, 64), (32, 64, 128, 256)

for _depth in (8, 14, 20, 32, 44, 56, 110):
    globals()[f"resnet{_depth}"] = register_variant(
        f"resnet{_depth}", f"CIFAR ResNet-{_depth}, widths 16-16-32-64.", CifarResNet, _depth, _NARROW)
for _depth in (8, 32):
    globals()[f"resnet{_depth}x4"] = register_variant(
        f"resnet{_depth}x4", f"CIFAR ResNet-{_depth}×4, widths 32-64-128-256.", CifarResNet, _depth, _WIDE)
