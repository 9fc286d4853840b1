"""The base of every method: a student, what the method learns beside it, a frozen teacher.

A method is a :class:`Distiller`. Its ``forward(x, y)`` returns the student's
:class:`~kdrepro.models.ModelOutput` and a dict of named, already-weighted losses; the
engine sums them, and owns everything else (loop, optimiser, schedule, evaluation). The
teacher is kept outside the module tree, so it is never in ``parameters()``, never in the
optimiser, never wrapped in DDP and never in the checkpoint; it stays in eval mode whatever
``train()`` is called with.
"""

from __future__ import annotations

import contextlib
import hashlib

import torch
import torch.nn as nn
from torch import Tensor

from ..errors import ConfigError
from ..models import ModelOutput


class TeacherStore(nn.Module):
    """A teacher's answers computed ahead of time and looked up by sample index, in place of a live
    teacher. The engine calls :meth:`check_run` before training (a store must refuse a run whose
    images it did not see) and :meth:`set_epoch` before every epoch."""

    epoch: int = 0
    step: int = 0
    on_mixed_batches: bool = False  # True: its answers are for the mixed (Mixup/CutMix) images themselves

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def set_step(self, step: int) -> None:
        """Called by the engine before each step of an epoch (a store of a run's batches reads by step)."""
        self.step = int(step)

    def check_run(self, loader_key: str, augment, epochs: int, train) -> None:
        raise NotImplementedError

    def lookup(self, index: Tensor | None) -> ModelOutput:
        raise NotImplementedError


class StoredTeacher(TeacherStore):
    """A teacher's logits computed once, looked up by sample index.

    Two kinds. ``logits`` of shape N×C are the teacher's answers on the un-augmented images:
    valid only when the student sees exactly those images (the engine refuses augmentation).
    ``logits`` of shape E×N×C with a ``loader_key`` are its answers on the augmented images
    each epoch of one run will show (recorded by :func:`kdrepro.stores.record_teacher_logits`,
    TinyViT's store generalised): the engine accepts them only for a run whose batches have
    that key, and sets the epoch before each one.
    """

    def __init__(self, logits: Tensor, loader_key: str | None = None):
        super().__init__()
        if logits.dim() == 3 and loader_key is None:
            raise ValueError("per-epoch logits need the loader_key of the batches they were recorded on")
        logits = logits if logits.dtype == torch.float16 else logits.float()
        if logits.dim() == 3:
            # E × N × C can be gigabytes: kept on the host (not a buffer, so never moved whole to a GPU),
            # one epoch's table moved at a time; the state dict holds only their digest, computed once
            self.logits = logits.cpu()
            digest = hashlib.sha256(self.logits.contiguous().view(torch.uint8).numpy()).digest()
            self.register_buffer("logits_digest", torch.tensor(list(digest), dtype=torch.uint8))
        else:
            self.register_buffer("logits", logits)
        self.loader_key = loader_key
        self.epoch = 0
        self._table: tuple[int, Tensor] | None = None  # (epoch, that epoch's logits on the batches' device)

    @property
    def per_epoch(self) -> bool:
        return self.logits.dim() == 3

    @property
    def epochs(self) -> int | None:
        return self.logits.shape[0] if self.per_epoch else None

    def check_run(self, loader_key: str, augment, epochs: int, train) -> None:
        """Un-augmented logits fit only un-augmented runs; per-epoch ones only the batches they were
        recorded on, for every epoch of the run."""
        if not self.per_epoch:
            if augment is not None:
                raise ConfigError("stored teacher logits were computed on un-augmented images: train without "
                                  "augmentation, record them per epoch (kdrepro.stores.record_teacher_logits), "
                                  "or use a live teacher")
            return
        if self.loader_key != loader_key:
            raise ConfigError("these stored teacher logits were recorded for other batches (another seed, batch "
                              "size, augmentation, training set, process count or device): record them again "
                              "for this run with kdrepro.stores.record_teacher_logits")
        if self.epochs < epochs:
            raise ConfigError(f"the stored teacher logits cover {self.epochs} epochs, the run trains {epochs}: "
                              "record them for every epoch")

    def lookup(self, index: Tensor | None) -> ModelOutput:
        if index is None:
            raise ValueError("a StoredTeacher needs the batch's sample indices: call the distiller as "
                             "distiller(batch.x, batch.y, batch.index) with batches from BatchLoader")
        if not self.per_epoch:
            return ModelOutput(self.logits[index].float())
        if self._table is None or self._table[0] != self.epoch or self._table[1].device != index.device:
            self._table = (self.epoch, self.logits[self.epoch].to(index.device))
        return ModelOutput(self._table[1][index].float())


def float32_region(x: Tensor):
    """A context in which autocast is off for ``x``'s device: what runs inside stays float32 (a sharp
    softmax's input, a learned temperature). A no-op on devices autocast does not know (``meta``)."""
    if x.device.type in ("cpu", "cuda", "xpu", "mps"):
        return torch.autocast(device_type=x.device.type, enabled=False)
    return contextlib.nullcontext()


def device_of(module: nn.Module) -> torch.device:
    """The device of ``module``'s parameters (or buffers; the CPU if it has neither): where a helper
    that runs it must put its inputs. The engine moves models to the accelerator in place."""
    for t in module.parameters():
        return t.device
    for t in module.buffers():
        return t.device
    return torch.device("cpu")


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
    # False for a self-supervised method (DINO): its outputs are not class scores, so the engine
    # reports no training accuracy.
    uses_labels: bool = True

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
        if isinstance(self.teacher, TeacherStore):
            return self.teacher.lookup(index)
        return self.teacher(x)

    def forward(self, x: Tensor, y: Tensor, index: Tensor | None = None) -> tuple[ModelOutput, dict[str, Tensor]]:
        raise NotImplementedError

    def set_epoch(self, epoch: int) -> None:
        """Called by the engine before each (0-based) epoch: for methods with a per-epoch schedule
        of their own (CTKD's curriculum)."""

    # -- methods that train several networks at once (Deep Mutual Learning) --------------------
    def parts(self) -> dict[str, nn.Module] | None:
        """The separately optimised networks, by name, or None (the default) for one network.

        Each part gets its own optimiser, learning-rate schedule and distributed wrapper, and the
        engine calls :meth:`train_step` instead of ``forward``."""
        return None

    def train_step(self, nets: dict[str, nn.Module], batch, update) -> tuple[ModelOutput, dict[str, Tensor]]:
        """One training step of a several-part method. ``nets`` are the parts as the engine wrapped
        them (run the forward passes that need gradients through these); ``update(name, losses)``
        back-propagates the sum of ``losses`` into part ``name`` and steps its optimiser. Returns
        the student's output and every loss (for the logs)."""
        raise NotImplementedError(f"{type(self).__name__} names parts() but has no train_step")

    def also_evaluate(self) -> dict[str, nn.Module]:
        """Networks besides the student whose test accuracy the engine records each epoch, by
        the prefix of their history keys (``"peer2_"`` gives ``peer2_test_accuracy``)."""
        return {}

    def also_outputs(self) -> dict[str, ModelOutput]:
        """The last training step's outputs of networks besides the student, by history-key prefix:
        the engine counts their training accuracy too (``"kd/"`` gives ``kd/train_accuracy``)."""
        return {}

    def before_optimizer_step(self) -> None:
        """Called after the backward pass and clipping, before the optimiser steps: a method may edit
        gradients here (e.g. DINO drops the last layer's gradients in its first epoch)."""

    def apply_constraints(self) -> None:
        """Called by the engine after each optimiser step (e.g. max-norm on the student)."""
        fn = getattr(self.student, "apply_constraints", None)
        if fn is not None:
            fn()
