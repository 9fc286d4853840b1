"""ResNet-50 with a CIFAR stem, as RepDistiller's ``ResNet50`` (``models/resnetv2.py``).

The ImageNet ResNet-50's bottleneck stages (He et al. 2016: 3, 4, 6, 3 blocks of 1×1–3×3–1×1
convolutions, widths 64, 128, 256, 512 expanded ×4, strides 1, 2, 2, 2, projection shortcuts
where the shape changes) on a CIFAR stem: one 3×3 stride-1 conv–BN–ReLU to 64 channels, no
max-pool. Global average pooling and a linear head on 2048 features.

Features: the stem, each stage after (and before) its last block's ReLU, the pooled vector.
"""

from __future__ import annotations

import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from .cifar_resnet import conv3x3
from .registry import register_model
from .staged import Stage, StagedCNN, init_weights


class Bottleneck(nn.Module):
    """1×1 reduce, 3×3 (carrying the stride), 1×1 expand ×4, plus a shortcut; returns (out, pre-ReLU)."""

    expansion = 4

    def __init__(self, cin: int, planes: int, stride: int = 1):
        super().__init__()
        cout = planes * self.expansion
        self.conv1, self.bn1 = nn.Conv2d(cin, planes, 1, bias=False), nn.BatchNorm2d(planes)
        self.conv2, self.bn2 = conv3x3(planes, planes, stride), nn.BatchNorm2d(planes)
        self.conv3, self.bn3 = nn.Conv2d(planes, cout, 1, bias=False), nn.BatchNorm2d(cout)
        self.shortcut = None
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        pre = self.bn3(self.conv3(out)) + (x if self.shortcut is None else self.shortcut(x))
        return F.relu(pre), pre


class CifarResNet50(StagedCNN):
    def __init__(self, blocks=(3, 4, 6, 3), num_classes: int = 100):
        super().__init__()
        cin = 64
        self.stem = nn.Sequential(conv3x3(3, cin), nn.BatchNorm2d(cin), nn.ReLU(inplace=True))
        stages = []
        for i, (planes, n) in enumerate(zip((64, 128, 256, 512), blocks)):
            stride = 1 if i == 0 else 2
            stage = []
            for j in range(n):
                stage.append(Bottleneck(cin, planes, stride if j == 0 else 1))
                cin = planes * Bottleneck.expansion
            stages.append(Stage(stage))
        self.stages = nn.ModuleList(stages)
        self.fc = nn.Linear(cin, num_classes)
        self.num_classes = num_classes
        init_weights(self)


@register_model
def resnet50(num_classes: int = 100) -> CifarResNet50:
    """ResNet-50 (bottleneck, 3-4-6-3) with a 3×3 CIFAR stem."""
    return CifarResNet50(num_classes=num_classes)
