"""What every kdrepro model returns: logits plus the features distillation methods need."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor


@dataclass
class ModelOutput:
    """``logits`` (N×classes); ``features``: one tensor per stage after its non-linearity;
    ``preact_features``: the same stages before it (AB distillation needs those); ``heads``: the
    separate classifiers of a model with several (DeiT's class and distillation heads), by name."""

    logits: Tensor
    features: list[Tensor] = field(default_factory=list)
    preact_features: list[Tensor] = field(default_factory=list)
    heads: dict[str, Tensor] = field(default_factory=dict)

    def detach(self) -> "ModelOutput":
        """The same output cut from the graph: what a method returns for monitoring only, so
        DDP does not take the parameters behind it for ones the loss uses."""
        return ModelOutput(self.logits.detach(), [f.detach() for f in self.features],
                           [f.detach() for f in self.preact_features], {k: v.detach() for k, v in self.heads.items()})


def feature_shapes(model, image_shape: tuple[int, ...], preact: bool = False) -> list[tuple[int, ...]]:
    """Per-sample shapes of a model's ``features`` (or ``preact_features``) for inputs of
    ``image_shape``, found with a dry forward pass in eval mode (the mode is restored)."""
    was_training = model.training
    model.eval()
    with torch.no_grad():
        param = next(model.parameters())
        out = model(torch.zeros(2, *image_shape, device=param.device, dtype=param.dtype))
    model.train(was_training)
    return [tuple(f.shape[1:]) for f in (out.preact_features if preact else out.features)]
