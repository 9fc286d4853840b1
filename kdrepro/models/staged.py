"""The skeleton the CIFAR CNNs share: a stem, stages, global average pooling, a linear head.

A :class:`StagedCNN` builds ``stem``, ``stages`` (each returning ``(out, preact)``) and
``fc`` in its ``__init__``; the base class runs them (timm's ``forward_features`` /
``forward_head`` split) and returns a :class:`~kdrepro.models.ModelOutput` with
``features = [stem, stage 1, …, stage k, pooled]`` and ``preact_features`` the same
positions before each stage's last non-linearity. A model overrides a hook only where it
differs: :meth:`~StagedCNN.forward_stem`, :meth:`~StagedCNN.forward_stages` (VGG's
max-pools, MobileNetV2's feature groups) and :meth:`~StagedCNN.forward_pre_pool` (a last
1×1 convolution before pooling).
"""

from __future__ import annotations

from typing import Callable, Iterator

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from .output import ModelOutput
from .registry import register_model


class Stage(nn.Module):
    """Blocks applied in turn; returns the last block's output and its pre-ReLU response."""

    def __init__(self, blocks: list[nn.Module]):
        super().__init__()
        self.blocks = nn.ModuleList(blocks)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        pre = x
        for block in self.blocks:
            x, pre = block(x)
        return x, pre


class StagedCNN(nn.Module):
    """Stem → stages → (pre-pool step) → global average pool → ``fc``."""

    stem: nn.Module
    stages: nn.ModuleList
    fc: nn.Linear

    def forward_stem(self, x: Tensor) -> Tensor:
        return self.stem(x)

    def forward_stages(self, x: Tensor) -> Iterator[tuple[Tensor, Tensor]]:
        """Each stage's (output, pre-activation output), in turn; the last output is pooled."""
        for stage in self.stages:
            x, pre = stage(x)
            yield x, pre

    def forward_pre_pool(self, x: Tensor) -> Tensor:
        """What the last stage's output goes through before pooling (nothing, by default)."""
        return x

    def forward_features(self, x: Tensor) -> tuple[Tensor, list[Tensor], list[Tensor]]:
        x = self.forward_stem(x)
        feats, preacts = [x], [x]
        for x, pre in self.forward_stages(x):
            feats.append(x)
            preacts.append(pre)
        pooled = torch.flatten(F.adaptive_avg_pool2d(self.forward_pre_pool(x), 1), 1)
        return pooled, feats + [pooled], preacts + [pooled]

    def forward_head(self, pooled: Tensor) -> Tensor:
        return self.fc(pooled)

    def forward(self, x: Tensor) -> ModelOutput:
        pooled, feats, preacts = self.forward_features(x)
        return ModelOutput(self.forward_head(pooled), feats, preacts)


def init_weights(model: nn.Module, linear_std: float | None = None) -> None:
    """He (fan-out) initialisation for convolutions (a bias, if any, at 0), BatchNorm and
    GroupNorm at weight 1 and bias 0. With ``linear_std``, linear layers get N(0, std²)
    weights and a zero bias (VGG's and MobileNetV2's references); otherwise PyTorch's default."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear) and linear_std is not None:
            nn.init.normal_(m.weight, 0, linear_std)
            nn.init.zeros_(m.bias)


def register_variant(name: str, doc: str, build: Callable[..., nn.Module], *args) -> Callable[..., nn.Module]:
    """Register ``name(num_classes=100)``, returning ``build(*args, num_classes)``, with the
    docstring ``doc``: a family's variants registered from a table. Returns the factory."""
    def factory(num_classes: int = 100) -> nn.Module:
        return build(*args, num_classes)
    factory.__name__ = factory.__qualname__ = name
    factory.__doc__ = doc
    return register_model(factory)
