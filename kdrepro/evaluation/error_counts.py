"""Small measurements on logits that several chapters use."""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor


def error_count(logits: Tensor, labels: Tensor, bias: Tensor | None = None) -> int:
    """Test errors, optionally after adding ``bias`` (one value per class) to every logit vector."""
    if bias is not None:
        logits = logits + bias
    return int((logits.argmax(1) != labels).sum())


def errors_per_class(logits: Tensor, labels: Tensor, num_classes: int | None = None) -> Tensor:
    """How many test images of each true class are misclassified."""
    num_classes = num_classes or logits.shape[1]
    wrong = logits.argmax(1) != labels
    return torch.bincount(labels[wrong], minlength=num_classes)


def class_bias(num_classes: int, cls: int | Sequence[int], shift: float) -> Tensor:
    """A bias vector that adds ``shift`` to the class ``cls`` (or to each of several classes)."""
    b = torch.zeros(num_classes)
    b[list(cls) if isinstance(cls, (tuple, list)) else cls] = shift
    return b


def best_bias_shift(logits: Tensor, labels: Tensor, cls: int | Sequence[int], shifts: Tensor) -> tuple[float, int]:
    """The shift of the bias of class ``cls`` (or of each of several classes), among ``shifts``, that
    minimises the errors on (``logits``, ``labels``); returns (shift, errors). Ties go to the
    smallest shift in magnitude (no shift if none helps)."""
    best = (0.0, error_count(logits, labels))
    for s in sorted(shifts.tolist(), key=abs):
        e = error_count(logits, labels, class_bias(logits.shape[1], cls, s))
        if e < best[1]:
            best = (s, e)
    return best
