"""What every kdrepro model returns: logits plus the features distillation methods need."""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import Tensor


@dataclass
class ModelOutput:
    """``logits`` (N×classes); ``features``: one tensor per stage after its non-linearity;
    ``preact_features``: the same stages before it (AB distillation needs those)."""

    logits: Tensor
    features: list[Tensor] = field(default_factory=list)
    preact_features: list[Tensor] = field(default_factory=list)
