"""MobileNetV2 (Sandler et al. 2018) for CIFAR at width 0.5: the "MobileNetV2" of the CRD tables.

RepDistiller's ``mobile_half``: expansion 6, width multiplier 0.5. A stride-2 3×3 conv–BN–ReLU
stem (16 channels), seven groups of inverted residual blocks (1×1 expansion–BN–ReLU, 3×3
depthwise–BN–ReLU, 1×1 projection–BN, with an identity shortcut when the stride is 1 and the
width unchanged) of widths 8, 12, 16, 32, 48, 80, 160 (``int(c × 0.5)`` of 16 … 320), a
1×1 conv–BN–ReLU to 1280 channels, global average pooling and a linear head. As in the
reference, the first group keeps its 1×1 expansion conv even though its ratio is 1.

Features: the stem, the outputs of groups 2, 3, 5 and 7 (1-based; 16×16, 8×8, 4×4, 2×2 on
CIFAR), then the pooled vector. An inverted residual block ends in a *linear* bottleneck, so
these stage outputs have no ReLU: they can be negative, and ``preact_features`` is the same
list as ``features`` (RepDistiller returns the one list whatever ``preact`` says).
"""

from __future__ import annotations

from typing import Iterator

import torch.nn as nn
from torch import Tensor

from .registry import register_model
from .staged import StagedCNN, init_weights

# (expansion ratio, None for the network's; output channels before the width multiplier;
#  blocks; stride of the first block)
_GROUPS = ((1, 16, 1, 1), (None, 24, 2, 1), (None, 32, 3, 2), (None, 64, 4, 2),
           (None, 96, 3, 1), (None, 160, 3, 2), (None, 320, 1, 1))
# the groups whose outputs are the stage features (0-based); the last one's is also pooled
_FEATURE_GROUPS = (1, 2, 4, 6)


def conv_bn_relu(cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False),
            nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


class InvertedResidual(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, expansion: int):
        super().__init__()
        hidden = cin * expansion
        self.conv = nn.Sequential(
            *conv_bn_relu(cin, hidden, 1),
            *conv_bn_relu(hidden, hidden, 3, stride, groups=hidden),
            nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout),
        )
        self.residual = stride == 1 and cin == cout

    def forward(self, x: Tensor) -> Tensor:
        return x + self.conv(x) if self.residual else self.conv(x)


class MobileNetV2(StagedCNN):
    def __init__(self, expansion: int = 6, width_mult: float = 0.5, num_classes: int = 100):
        super().__init__()
        cin = int(32 * width_mult)
        self.stem = nn.Sequential(*conv_bn_relu(3, cin, 3, stride=2))
        groups = []
        for t, c, n, s in _GROUPS:
            cout = int(c * width_mult)
            blocks = []
            for j in range(n):
                blocks.append(InvertedResidual(cin, cout, s if j == 0 else 1, expansion if t is None else t))
                cin = cout
            groups.append(nn.Sequential(*blocks))
        self.groups = nn.ModuleList(groups)  # not ``stages``: see forward_stages
        last = int(1280 * width_mult) if width_mult > 1.0 else 1280
        self.last_conv = nn.Sequential(*conv_bn_relu(cin, last, 1))
        self.fc = nn.Linear(last, num_classes)
        self.num_classes = num_classes
        init_weights(self, linear_std=0.01)  # as VGG's reference: linear N(0, 0.01²), zero bias

    def forward_stages(self, x: Tensor) -> Iterator[tuple[Tensor, Tensor]]:
        for i, group in enumerate(self.groups):
            x = group(x)
            if i in _FEATURE_GROUPS:
                yield x, x  # a linear bottleneck: no ReLU, so preact is the feature itself

    def forward_pre_pool(self, x: Tensor) -> Tensor:
        return self.last_conv(x)


@register_model
def mobilenetv2(num_classes: int = 100) -> MobileNetV2:
    """MobileNetV2 with expansion 6 and width 0.5 (RepDistiller's ``mobile_half``)."""
    return MobileNetV2(6, 0.5, num_classes)
