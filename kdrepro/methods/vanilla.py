"""Training on hard labels alone: the baseline every method is compared with."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from ..models import ModelOutput
from .base import Distiller


class CrossEntropy(Distiller):
    """No teacher: the loss is the cross-entropy with the labels."""

    def __init__(self, student, label_smoothing: float = 0.0):
        super().__init__(student)
        self.label_smoothing = label_smoothing

    def forward(self, x: Tensor, y: Tensor, index: Tensor | None = None) -> tuple[ModelOutput, dict[str, Tensor]]:
        out = self.student(x)
        return out, {"ce": F.cross_entropy(out.logits, y, label_smoothing=self.label_smoothing)}
