"""Several students taught by one teacher forward per batch.

Training the same-pairs table one method at a time pays for the teacher's forward pass once per
method; on the CRD pairs that pass is most of a step's arithmetic (resnet32x4 → resnet8x4: 2.17
of about 3.2 GFLOP per image). :class:`SharedTeacher` holds several distillers — each its own
student and method (KD, FitNet, AT, AB, …) — computes the teacher's output once per batch and
hands it to every member. The members' losses are summed; as their students share no parameters,
the gradient each student receives is exactly the one it would receive trained alone, and SGD
updates it exactly as alone (one optimiser, the same recipe for all). Each member still draws
the same batches, so what changes is only the cost.
"""

from __future__ import annotations

import torch.nn as nn
from torch import Tensor

from ..models import ModelOutput
from .base import Distiller


class _Answer(nn.Module):
    """Stands in for the teacher inside each member: returns the batch's shared output."""

    def __init__(self):
        super().__init__()
        self.output: ModelOutput | None = None

    def forward(self, x: Tensor) -> ModelOutput:
        if self.output is None:
            raise RuntimeError("a SharedTeacher member was called on its own; call the SharedTeacher")
        return self.output


class SharedTeacher(Distiller):
    """``members`` (name → distiller, built with the same teacher) trained in one pass.

    ``student`` is the first member's (what the engine evaluates after each epoch); every
    member's student is reachable as ``shared.members[name].student``.
    """

    def __init__(self, teacher: nn.Module, members: dict[str, Distiller]):
        if not members:
            raise ValueError("a SharedTeacher needs at least one member")
        first = next(iter(members.values()))
        super().__init__(first.student, teacher)
        self.members = nn.ModuleDict(members)
        self._answer = _Answer()
        for member in members.values():
            if member.teacher is None:
                raise ValueError("every SharedTeacher member must be a method with a teacher")
            member._frozen["teacher"] = self._answer
        self.partial_graph = any(m.partial_graph for m in members.values())

    def forward(self, x: Tensor, y: Tensor, index: Tensor | None = None) -> tuple[ModelOutput, dict[str, Tensor]]:
        self._answer.output = self.teacher_output(x, index)  # the one teacher pass of this batch
        try:
            outputs, losses = {}, {}
            for name, member in self.members.items():
                outputs[name], parts = member(x, y, index)
                losses.update({f"{name}/{k}": v for k, v in parts.items()})
        finally:
            self._answer.output = None
        first, *others = self.members
        self._others = {f"{name}/": ModelOutput(outputs[name].logits.detach()) for name in others}
        return outputs[first], losses

    def also_evaluate(self) -> dict[str, nn.Module]:
        """Every member's student besides the first (which the engine evaluates as ``student``),
        under the prefix ``"<name>/"``."""
        first, *others = self.members
        return {f"{name}/": self.members[name].student for name in others}

    def also_outputs(self) -> dict[str, ModelOutput]:
        return getattr(self, "_others", {})

    def set_epoch(self, epoch: int) -> None:
        for member in self.members.values():
            member.set_epoch(epoch)

    def apply_constraints(self) -> None:
        for member in self.members.values():
            member.apply_constraints()
