"""ShuffleNet V1 (Zhang et al. 2018) for CIFAR, as RepDistiller's ``ShuffleV1`` (CRD tables).

Groups g = 3, stage widths 240, 480, 960 with 4, 8, 4 units, each stage opening with a
stride-2 unit. The stem is a 1×1 conv–BN–ReLU to 24 channels at full resolution (no
stride, no max-pool). A unit is grouped 1×1 conv (to a quarter of the unit's output
width)–BN–ReLU, channel shuffle, 3×3 depthwise conv–BN–ReLU, grouped 1×1 conv–BN, then the
shortcut: added (stride 1) or a 3×3 average pool concatenated after the branch (stride 2),
and a ReLU. As in the reference, the depthwise conv is followed by a ReLU and the very first
1×1 conv (24 input channels) is not grouped. Global average pooling and a linear head.

Features: the stem, each stage after (and before) its last unit's ReLU, the pooled vector.
Initialisation is PyTorch's default, as in the reference (which sets none).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from .registry import register_model
from .staged import Stage, StagedCNN


def channel_shuffle(x: Tensor, groups: int) -> Tensor:
    """Interleave the channels of ``groups`` equal groups: (g, C/g) → (C/g, g)."""
    n, c, h, w = x.shape
    return x.view(n, groups, c // groups, h, w).transpose(1, 2).reshape(n, c, h, w)


class ShuffleUnit(nn.Module):
    """One ShuffleNet unit; ``cout`` is the unit's output width (shortcut included)."""

    def __init__(self, cin: int, cout: int, stride: int, groups: int, group_first: bool = True):
        super().__init__()
        branch = cout - cin if stride == 2 else cout
        mid = branch // 4
        self.first_groups = groups if group_first else 1
        self.stride = stride
        self.conv1 = nn.Conv2d(cin, mid, 1, groups=self.first_groups, bias=False)
        self.bn1 = nn.BatchNorm2d(mid)
        self.conv2 = nn.Conv2d(mid, mid, 3, stride, 1, groups=mid, bias=False)
        self.bn2 = nn.BatchNorm2d(mid)
        self.conv3 = nn.Conv2d(mid, branch, 1, groups=groups, bias=False)
        self.bn3 = nn.BatchNorm2d(branch)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        out = channel_shuffle(F.relu(self.bn1(self.conv1(x))), self.first_groups)
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.stride == 2:
            pre = torch.cat([out, F.avg_pool2d(x, 3, 2, 1)], 1)
        else:
            pre = out + x
        return F.relu(pre), pre


class ShuffleNetV1(StagedCNN):
    def __init__(self, widths=(240, 480, 960), units=(4, 8, 4), groups: int = 3, num_classes: int = 100):
        super().__init__()
        cin = 24
        self.stem = nn.Sequential(nn.Conv2d(3, cin, 1, bias=False), nn.BatchNorm2d(cin), nn.ReLU(inplace=True))
        stages = []
        for i, (cout, n) in enumerate(zip(widths, units)):
            blocks = [ShuffleUnit(cin, cout, 2, groups, group_first=i > 0)]
            blocks += [ShuffleUnit(cout, cout, 1, groups) for _ in range(n - 1)]
            stages.append(Stage(blocks))
            cin = cout
        self.stages = nn.ModuleList(stages)
        self.fc = nn.Linear(cin, num_classes)
        self.num_classes = num_classes


@register_model
def shufflenetv1(num_classes: int = 100) -> ShuffleNetV1:
    """ShuffleNet V1, g = 3, widths 240-480-960 (RepDistiller's ``ShuffleV1``)."""
    return ShuffleNetV1(num_classes=num_classes)
