r"""Curriculum Temperature for Knowledge Distillation (CTKD) — Li et al. (AAAI 2023).

KD's temperature :math:`\tau` becomes a learned quantity, trained *against* the student: the
student minimises the distillation loss while the temperature module maximises it, through a
gradient-reversal layer (GRL) that is the identity going forward and multiplies the gradient by
:math:`-\lambda` going backward (Section 3.2). With :math:`\theta_{stu}` the student and
:math:`\theta_{temp}` the temperature module, one SGD step does

.. math:: \theta_{stu} \leftarrow \theta_{stu} - \mu \frac{\partial L}{\partial \theta_{stu}}, \qquad
          \theta_{temp} \leftarrow \theta_{temp} + \mu \lambda \frac{\partial L}{\partial \theta_{temp}}.

The reversal strength follows a cosine curriculum over the first :math:`E` epochs (Eq. 8),

.. math:: \lambda_n = \lambda_{min} + \tfrac12(\lambda_{max} - \lambda_{min})
          \bigl(1 + \cos\bigl((1 + \tfrac{\min(n, E)}{E})\pi\bigr)\bigr),

from 0 to 1 with :math:`E = 10`: distillation starts easy and gets harder. As in the official
training loop (``for epoch in range(1, epochs + 1)``, the cosine decay evaluated at ``epoch``),
:math:`n` counts epochs from 1: the first epoch trains at :math:`\lambda_1 = (1 - \cos(\pi/10))/2
\approx 0.024`, the tenth and every later one at 1. The raw output of the
module is mapped into the official code's range, :math:`\tau = 1 + 20\,\sigma(\cdot)`.

Two modules: a *global* temperature (one learnable scalar, initialised at 1 as in the official
code, so :math:`\tau` starts at :math:`1 + 20\sigma(1) \approx 15.6`), and an *instance-wise* one
(a two-layer MLP from the teacher's and student's logits to one :math:`\tau` per sample; its
inputs are detached, so the student learns only through the distillation loss).

:class:`CurriculumTemperature` is the plug-in: it produces :math:`\tau` for a batch and can feed
any logit-based loss that takes a temperature; :class:`CTKD` wires it to Hinton KD.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from ..models import ModelOutput
from .base import Distiller, float32_region


class _ReverseGradient(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, strength: float) -> Tensor:
        ctx.strength = strength
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: Tensor):
        return -ctx.strength * grad, None


def reverse_gradient(x: Tensor, strength: float) -> Tensor:
    """Identity forward; the gradient times ``-strength`` backward (Ganin & Lempitsky's GRL)."""
    return _ReverseGradient.apply(x, strength)


def curriculum_lambda(epoch: int, loops: int = 10, lam_min: float = 0.0, lam_max: float = 1.0) -> float:
    """Eq. 8: the reversal strength in epoch ``epoch`` counted from 1 (the official loop's
    numbering), rising from ``lam_min`` to ``lam_max`` along half a cosine until epoch ``loops``,
    then constant."""
    if loops <= 0:
        return lam_max
    n = min(max(epoch, 0), loops)
    return lam_min + 0.5 * (lam_max - lam_min) * (1 + math.cos((1 + n / loops) * math.pi))


class GlobalTemperature(nn.Module):
    """One learnable scalar for every sample (its raw value, before the range mapping)."""

    def __init__(self, init: float = 1.0):
        super().__init__()
        self.raw = nn.Parameter(torch.full((1,), float(init)))

    def forward(self, teacher_logits: Tensor, student_logits: Tensor) -> Tensor:
        return self.raw


class InstanceTemperature(nn.Module):
    """A raw temperature per sample from the concatenated teacher and student logits (N × 1)."""

    def __init__(self, num_classes: int, hidden: int = 256):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(2 * num_classes, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, 1))

    def forward(self, teacher_logits: Tensor, student_logits: Tensor) -> Tensor:
        x = torch.cat([teacher_logits.detach(), student_logits.detach()], dim=1).float()
        with float32_region(x):  # τ in float32, not bf16's coarse steps
            return self.mlp(x)


class CurriculumTemperature(nn.Module):
    """The plug-in: ``module``'s raw output, through the GRL at the curriculum's strength, mapped
    to ``t_min + t_range · sigmoid(raw)``. Call :meth:`set_epoch` with the engine's 0-based epoch at
    the start of every epoch: engine epoch ``e`` is the official loop's epoch ``e + 1``."""

    def __init__(self, module: nn.Module, t_min: float = 1.0, t_range: float = 20.0, loops: int = 10,
                 lam_min: float = 0.0, lam_max: float = 1.0):
        super().__init__()
        self.module = module
        self.t_min, self.t_range = t_min, t_range
        self.loops, self.lam_min, self.lam_max = loops, lam_min, lam_max
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        self.strength = curriculum_lambda(epoch + 1, self.loops, self.lam_min, self.lam_max)

    def forward(self, teacher_logits: Tensor, student_logits: Tensor) -> Tensor:
        raw = reverse_gradient(self.module(teacher_logits, student_logits), self.strength)
        return self.t_min + self.t_range * torch.sigmoid(raw)

    @torch.no_grad()
    def value(self, teacher_logits: Tensor, student_logits: Tensor) -> Tensor:
        """The temperature the module gives now (no gradient, no reversal)."""
        return self.t_min + self.t_range * torch.sigmoid(self.module(teacher_logits, student_logits))


def soft_target_loss_at(student_logits: Tensor, teacher_logits: Tensor, temperature: Tensor) -> Tensor:
    r""":math:`\tau^2 \mathrm{KL}(p_\tau \| q_\tau)` per sample, averaged over the batch, with ``temperature``
    a scalar, shape (1,), or one per sample (N × 1). For a scalar it equals
    :func:`~kdrepro.methods.hinton_kd.soft_target_loss`; the gradient reaches ``temperature``."""
    t = temperature.float()
    if t.dim() == 1:
        t = t.view(-1, 1)
    log_q = F.log_softmax(student_logits.float() / t, dim=-1)
    log_p = F.log_softmax(teacher_logits.float() / t, dim=-1)
    per_sample = (log_p.exp() * (log_p - log_q)).sum(dim=-1, keepdim=True)
    return (per_sample * t * t).mean()


class CTKD(Distiller):
    """Hinton KD (``soft_weight`` × KL + ``hard_weight`` × CE) at a temperature learned by
    ``temperature`` (a :class:`CurriculumTemperature`): global or instance-wise."""

    def __init__(self, student, teacher, temperature: CurriculumTemperature, soft_weight: float = 0.9,
                 hard_weight: float = 0.1):
        super().__init__(student, teacher)
        self.temperature = temperature
        self.soft_weight = soft_weight
        self.hard_weight = hard_weight
        self.temperature_kind = type(temperature.module).__name__  # in the checkpoint fingerprint

    def set_epoch(self, epoch: int) -> None:
        self.temperature.set_epoch(epoch)

    def forward(self, x: Tensor, y: Tensor, index: Tensor | None = None) -> tuple[ModelOutput, dict[str, Tensor]]:
        teacher_logits = self.teacher_output(x, index).logits
        out = self.student(x)
        tau = self.temperature(teacher_logits, out.logits)
        return out, {"soft": self.soft_weight * soft_target_loss_at(out.logits, teacher_logits, tau),
                     "hard": self.hard_weight * F.cross_entropy(out.logits.float(), y)}


def global_ctkd(student, teacher, **kw) -> CTKD:
    """KD + CTKD with one learned temperature (the CIFAR script's ``--mlp_name global``)."""
    return CTKD(student, teacher, CurriculumTemperature(GlobalTemperature()), **kw)


def instance_ctkd(student, teacher, num_classes: int, **kw) -> CTKD:
    """KD + CTKD with a temperature per sample from a small MLP."""
    return CTKD(student, teacher, CurriculumTemperature(InstanceTemperature(num_classes)), **kw)
