"""The base of every method: a student, what the method learns beside it, a frozen teacher.

A method is a :class:`Distiller`. Its ``forward(x, y)`` returns the student's
:class:`~kdrepro.models.ModelOutput` and a dict of named, already-weighted losses; the
engine sums them, and owns everything else (loop, optimiser, schedule, evaluation). The
teacher is kept outside the module tree, so it is never in ``parameters()``, never in the
optimiser, never wrapped in DDP and never in the checkpoint; it stays in eval mode whatever
``train()`` is called with.
"""

from __future__ import annotations

import torch
import torch.nn as nn
from torch import Tensor

from ..models import ModelOutput


class StoredTeacher(nn.Module):
    """A teacher's logits computed once for every training sample, looked up by index.

    Valid only when the student sees exactly the images the logits were computed on (no
    augmentation): the engine refuses it otherwise.
    """

    def __init__(self, logits: Tensor):
        super().__init__()
        self.register_buffer("logits", logits.float())

    def lookup(self, index: Tensor | None) -> ModelOutput:
        if index is None:
            raise ValueError("a StoredTeacher needs the batch's sample indices: call the distiller as "
                             "distiller(batch.x, batch.y, batch.index) with batches from BatchLoader")
        return ModelOutput(self.logits[index])


def freeze(model: nn.Module) -> nn.Module:
    """Eval mode and no gradients: a teacher that only answers questions."""
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


class Distiller(nn.Module):
    # True when the method's loss leaves some trainable parameters without a gradient (a stage
    # that trains only the lower layers): the engine then lets DDP look for unused parameters.
    # Such a method returns its ModelOutput detached, as DDP walks the graph from the outputs.
    partial_graph: bool = False

    def __init__(self, student: nn.Module, teacher: nn.Module | None = None):
        super().__init__()
        self.student = student
        # A plain dict hides the teacher from nn.Module's registry (parameters, state_dict, DDP).
        self._frozen: dict[str, nn.Module] = {} if teacher is None else {"teacher": freeze(teacher)}

    @property
    def teacher(self) -> nn.Module | None:
        return self._frozen.get("teacher")

    def frozen_modules(self) -> list[nn.Module]:
        """Modules the engine must move to the device but never train."""
        return list(self._frozen.values())

    def train(self, mode: bool = True) -> "Distiller":
        super().train(mode)
        for m in self._frozen.values():
            m.eval()
        return self

    @torch.no_grad()
    def teacher_output(self, x: Tensor, index: Tensor | None = None) -> ModelOutput:
        """The teacher's answer for this batch: a live forward pass, or a look-up by sample index
        when the teacher is a :class:`~kdrepro.methods.StoredTeacher`."""
        if isinstance(self.teacher, StoredTeacher):
            return self.teacher.lookup(index)
        return self.teacher(x)

    def forward(self, x: Tensor, y: Tensor, index: Tensor | None = None) -> tuple[ModelOutput, dict[str, Tensor]]:
        raise NotImplementedError

    def apply_constraints(self) -> None:
        """Called by the engine after each optimiser step (e.g. max-norm on the student)."""
        fn = getattr(self.student, "apply_constraints", None)
        if fn is not None:
            fn()
