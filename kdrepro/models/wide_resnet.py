"""Wide residual networks (Zagoruyko & Komodakis 2016) for CIFAR, as used by RepDistiller/CRD.

WRN-d-k: a plain 3×3 convolution to 16 channels, three stages of ``n = (d - 4) / 6``
pre-activation basic blocks (BN–ReLU–conv3×3–BN–ReLU–conv3×3 plus a shortcut) with widths
16k, 32k, 64k at strides 1, 2, 2, then BN–ReLU, global average pooling and a linear head.
No dropout. ``wrn_40_2``, ``wrn_16_2``, ``wrn_40_1`` and ``wrn_16_1`` are the CRD
teacher/student pairs; ``wrn_28_10`` is the usual large WRN.

Features. In a pre-activation network a stage ends in a raw residual sum: the BN–ReLU that
turns it into an activation is the first thing the next stage does (or, after the last
stage, the final BN–ReLU before pooling). Here that BN closes the stage that it normalises
(:class:`WideStage`), so a stage returns its activation ``relu(bn(sum))`` (``features``) and
``bn(sum)`` (``preact_features``) and the next stage starts from the activation. The
arithmetic and the parameters are those of the reference; only where the BN is listed moves.
``preact_features`` are exactly RepDistiller's ``preact=True`` stage features; its
``preact=False`` list holds the raw sums, which our convention (features after the ReLU)
replaces by their activations. The stem is the bare convolution in both lists.
"""

from __future__ import annotations

import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from .cifar_resnet import conv3x3
from .staged import StagedCNN, init_weights, register_variant


class WideBlock(nn.Module):
    """A pre-activation basic block.

    ``preactivated=True``: the input is already the previous stage's BN–ReLU activation, so
    the block has no input BN and its shortcut is a 1×1 projection of that activation (the
    first block of stages 2 and 3). Otherwise the block normalises its own input; the
    shortcut is the raw input when the width is unchanged, else a 1×1 projection of the
    normalised, activated input.
    """

    def __init__(self, cin: int, cout: int, stride: int = 1, preactivated: bool = False):
        super().__init__()
        if preactivated and cin == cout:
            raise ValueError("a preactivated block changes the width (its shortcut is a projection)")
        self.bn1 = None if preactivated else nn.BatchNorm2d(cin)
        self.conv1 = conv3x3(cin, cout, stride)
        self.bn2 = nn.BatchNorm2d(cout)
        self.conv2 = conv3x3(cout, cout)
        self.shortcut = None if cin == cout else nn.Conv2d(cin, cout, 1, stride, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        act = x if self.bn1 is None else F.relu(self.bn1(x))
        out = self.conv2(F.relu(self.bn2(self.conv1(act))))
        return out + (x if self.shortcut is None else self.shortcut(act))


class WideStage(nn.Module):
    """Blocks in turn, closed by the BN that normalises their sum; returns (ReLU of it, it)."""

    def __init__(self, blocks: list[nn.Module], width: int):
        super().__init__()
        self.blocks = nn.Sequential(*blocks)
        self.bn = nn.BatchNorm2d(width)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        pre = self.bn(self.blocks(x))
        return F.relu(pre), pre


class WideResNet(StagedCNN):
    def __init__(self, depth: int, widen_factor: int, num_classes: int = 100):
        super().__init__()
        if (depth - 4) % 6:
            raise ValueError(f"a wide ResNet has depth 6n + 4 (10, 16, 28, 40, …); got {depth}")
        n = (depth - 4) // 6
        widths = (16, 16 * widen_factor, 32 * widen_factor, 64 * widen_factor)
        self.stem = conv3x3(3, widths[0])
        stages, cin = [], widths[0]
        for i, cout in enumerate(widths[1:]):
            # stage 1 takes the bare stem convolution; stages 2 and 3 the previous stage's activation
            first = WideBlock(cin, cout, 1 if i == 0 else 2, preactivated=i > 0)
            stages.append(WideStage([first] + [WideBlock(cout, cout) for _ in range(n - 1)], cout))
            cin = cout
        self.stages = nn.ModuleList(stages)
        self.fc = nn.Linear(cin, num_classes)
        self.num_classes = num_classes
        init_weights(self)
        nn.init.zeros_(self.fc.bias)  # as the reference; the weight keeps PyTorch's default


# name: (depth, widen factor, docstring)
_VARIANTS = {
    "wrn_16_1": (16, 1, "WRN-16-1: two blocks a stage, widths 16-32-64."),
    "wrn_16_2": (16, 2, "WRN-16-2: two blocks a stage, widths 32-64-128."),
    "wrn_40_1": (40, 1, "WRN-40-1: six blocks a stage, widths 16-32-64."),
    "wrn_40_2": (40, 2, "WRN-40-2: six blocks a stage, widths 32-64-128."),
    "wrn_28_10": (28, 10, "WRN-28-10: four blocks a stage, widths 160-320-640."),
}

for _name, (_depth, _k, _doc) in _VARIANTS.items():
    globals()[_name] = register_variant(_name, _doc, WideResNet, _depth, _k)
