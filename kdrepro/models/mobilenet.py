"""MobileNet (Howard et al. 2017) for CIFAR: the "MobileNet" of Deep Mutual Learning's table.

The ImageNet network with the stride of its stem removed for 32×32 inputs, the usual CIFAR
adaptation (3.3 M parameters with 100 classes, as DML's Table 1 lists): a 3×3 conv–BN–ReLU stem
of 32 channels, then thirteen depthwise-separable blocks (3×3 depthwise conv–BN–ReLU, 1×1
pointwise conv–BN–ReLU) of widths 64, 128, 128, 256, 256, 512 ×6, 1024, 1024, the first of
each new width after 64 with stride 2; global average pooling and a linear head.

Stages (for feature methods) are the runs of blocks at one resolution: 32×32, 16×16, 8×8, 4×4
and 2×2 on CIFAR; ``preact_features`` are their last block's outputs before the final ReLU.
"""

from __future__ import annotations

import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from .registry import register_model
from .staged import Stage, StagedCNN, init_weights

# (output channels, stride) of the thirteen blocks, grouped by output resolution
_STAGES = (((64, 1),), ((128, 2), (128, 1)), ((256, 2), (256, 1)),
           ((512, 2),) + ((512, 1),) * 5, ((1024, 2), (1024, 1)))


class DepthwiseSeparable(nn.Module):
    """3×3 depthwise conv–BN–ReLU, then 1×1 pointwise conv–BN–ReLU; returns (out, pre-ReLU out)."""

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.depthwise = nn.Conv2d(cin, cin, 3, stride, 1, groups=cin, bias=False)
        self.bn1 = nn.BatchNorm2d(cin)
        self.pointwise = nn.Conv2d(cin, cout, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        x = F.relu(self.bn1(self.depthwise(x)))
        pre = self.bn2(self.pointwise(x))
        return F.relu(pre), pre


class MobileNet(StagedCNN):
    def __init__(self, num_classes: int = 100):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 32, 3, 1, 1, bias=False), nn.BatchNorm2d(32), nn.ReLU(inplace=True))
        cin, stages = 32, []
        for blocks in _STAGES:
            layers = []
            for cout, stride in blocks:
                layers.append(DepthwiseSeparable(cin, cout, stride))
                cin = cout
            stages.append(Stage(layers))
        self.stages = nn.ModuleList(stages)
        self.fc = nn.Linear(cin, num_classes)
        self.num_classes = num_classes
        init_weights(self)


@register_model
def mobilenet(num_classes: int = 100) -> MobileNet:
    """MobileNet v1 for CIFAR (stem stride 1), 3.3 M parameters at 100 classes."""
    return MobileNet(num_classes)
