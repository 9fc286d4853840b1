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

    def detach(self) -> "ModelOutput":
        """The same output cut from the graph: what a method returns for monitoring only, so
        DDP does not take the parameters behind it for ones the loss uses."""
        return ModelOutput(self.logits.detach(), [f.detach() for f in self.features],
                           [f.detach() for f in self.preact_features])
