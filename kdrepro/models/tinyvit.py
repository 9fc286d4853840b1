"""TinyViT (Wu et al., ECCV 2022) for small images, on timm's ``TinyVit``.

``tinyvit_5m`` has TinyViT-5M's widths (64, 128, 160, 320), depths (2, 2, 6, 2) and heads
(2, 4, 5, 10): a convolutional first stage (MBConv) then three stages of windowed attention with
local convolutions. On 32×32 images the stem's stride 4 leaves 8×8 tokens, halved by each stage;
the attention windows (8, 4, 2, 1) then cover each stage's whole map (224-pixel ImageNet images use
7, 14 and 7). Other sizes: pass ``embed_dims``, ``depths``, ``num_heads``.
"""

from __future__ import annotations

import torch.nn as nn
from timm.models.tiny_vit import TinyVit
from torch import Tensor

from .output import ModelOutput
from .registry import register_model


class CifarTinyViT(nn.Module):
    def __init__(self, num_classes: int = 100, *, embed_dims=(64, 128, 160, 320), depths=(2, 2, 6, 2),
                 num_heads=(2, 4, 5, 10), window_sizes=(8, 4, 2, 1), drop_path_rate: float = 0.0):
        super().__init__()
        self.net = TinyVit(num_classes=num_classes, embed_dims=tuple(embed_dims), depths=tuple(depths),
                           num_heads=tuple(num_heads), window_sizes=tuple(window_sizes),
                           drop_path_rate=drop_path_rate)

    def forward(self, x: Tensor) -> ModelOutput:
        features = self.net.forward_features(x)
        return ModelOutput(self.net.forward_head(features), features=[features])


@register_model
def tinyvit_5m(num_classes: int = 100, **kwargs) -> CifarTinyViT:
    """TinyViT-5M's shape for 32×32 images (about 5.1 M parameters with 10 classes)."""
    return CifarTinyViT(num_classes, **kwargs)
