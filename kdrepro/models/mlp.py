"""Fully connected nets of Hinton et al. (2015), Section 3: MNIST MLPs with ReLU hidden layers.

The teacher is 784-1200-1200-10 trained with dropout (Srivastava et al. 2014: 20 % on the
inputs, 50 % on hidden units, a max-norm constraint on each unit's incoming weights); the
students are 784-800-800-10 (and 784-30-30-10 in the temperature study) with no
regularisation. ``forward`` returns a :class:`ModelOutput` with every hidden layer's
activations, before and after the ReLU, so no hooks are needed to reach them.
"""

from __future__ import annotations

import torch
import torch.nn as nn
from torch import Tensor

from .output import ModelOutput
from .registry import register_model


class MLP(nn.Module):
    def __init__(self, in_features: int = 784, hidden: tuple[int, ...] = (800, 800), num_classes: int = 10,
                 input_dropout: float = 0.0, hidden_dropout: float = 0.0, max_norm: float | None = None):
        super().__init__()
        widths = (in_features, *hidden)
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:]))
        self.head = nn.Linear(widths[-1], num_classes)
        self.input_dropout = nn.Dropout(input_dropout)
        self.hidden_dropout = nn.Dropout(hidden_dropout)
        self.max_norm = max_norm
        self.num_classes = num_classes

    def forward_features(self, x: Tensor) -> tuple[Tensor, list[Tensor], list[Tensor]]:
        h = self.input_dropout(x.flatten(1))
        feats, preacts = [], []
        for layer in self.hidden:
            z = layer(h)
            h = torch.relu(z)
            preacts.append(z)
            feats.append(h)
            h = self.hidden_dropout(h)
        return h, feats, preacts

    def forward_head(self, h: Tensor) -> Tensor:
        return self.head(h)

    def forward(self, x: Tensor) -> ModelOutput:
        h, feats, preacts = self.forward_features(x)
        return ModelOutput(self.forward_head(h), feats, preacts)

    @torch.no_grad()
    def apply_constraints(self) -> None:
        """Max-norm (Srivastava et al. 2014, Sec. 5.1): rescale any unit whose incoming weight
        vector is longer than ``max_norm``. The engine calls this after every optimiser step."""
        if self.max_norm is None:
            return
        for layer in [*self.hidden, self.head]:
            norms = layer.weight.norm(dim=1, keepdim=True)
            layer.weight.mul_(torch.clamp(self.max_norm / norms, max=1.0))


@register_model
def mlp_1200_1200_dropout(num_classes: int = 10, in_features: int = 784) -> MLP:
    """Hinton et al.'s MNIST teacher: 2×1200 ReLU units, dropout 0.2/0.5, max-norm 3.5."""
    return MLP(in_features, (1200, 1200), num_classes, input_dropout=0.2, hidden_dropout=0.5, max_norm=3.5)


@register_model
def mlp_1200_1200(num_classes: int = 10, in_features: int = 784) -> MLP:
    return MLP(in_features, (1200, 1200), num_classes)


@register_model
def mlp_800_800(num_classes: int = 10, in_features: int = 784) -> MLP:
    """Hinton et al.'s MNIST student: 2×800 ReLU units, no regularisation."""
    return MLP(in_features, (800, 800), num_classes)


@register_model
def mlp(hidden: tuple[int, ...] = (800, 800), num_classes: int = 10, in_features: int = 784, **kwargs) -> MLP:
    """Any width and depth, e.g. ``create_model("mlp", hidden=(30, 30))``."""
    return MLP(in_features, tuple(hidden), num_classes, **kwargs)
