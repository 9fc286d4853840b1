r"""DINO: self-distillation with no labels — Caron et al. (ICCV 2021).

A student :math:`g_{\theta_s}` and a teacher :math:`g_{\theta_t}` of the same architecture
(backbone + projection head) see different views of an image. The teacher sees only the global
views; the student sees every view; the student is trained to match the teacher on every pair of
*different* views (Eq. 3):

.. math:: \min_{\theta_s} \sum_{x \in \{x^g_1, x^g_2\}} \sum_{x' \in V,\, x' \ne x} H(P_t(x), P_s(x')),
   \qquad H(a, b) = -a \log b

with :math:`P_s = \mathrm{softmax}(g_{\theta_s}(x)/\tau_s)` and
:math:`P_t = \mathrm{softmax}((g_{\theta_t}(x) - c)/\tau_t)`: the teacher's output is **centred**
(:math:`c`, a moving average of its batch means, Eq. 4) and **sharpened** (:math:`\tau_t < \tau_s`).
No gradient reaches the teacher; after each step its weights follow the student's as an
exponential moving average, :math:`\theta_t \leftarrow \lambda\theta_t + (1-\lambda)\theta_s`, with
λ rising from 0.996 to 1 on a cosine schedule over training. Centring alone collapses the output
to the uniform distribution, sharpening alone to one dimension; together they balance
(Section 5.3) — ``centering=False`` / ``sharpening=False`` are those ablations (without sharpening
the teacher's temperature equals the student's).

As the official code, the head's last layer can be frozen for the first epochs
(``freeze_last_layer``: its gradients are dropped, so the optimiser leaves it alone), and views of
the same size go through each network in one forward pass (``MultiCropWrapper``'s batching: the
same outputs, fewer calls). The weight-decay schedule and per-parameter clipping are the engine's
(:class:`~kdrepro.engine.TrainConfig`).
"""

from __future__ import annotations

import copy
import math

import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from ..data.multicrop import MultiCrop
from ..errors import ConfigError
from ..models import ModelOutput
from .base import Distiller, float32_region


class DinoHead(nn.Module):
    """The projection head: an MLP (GELU) to a bottleneck, ℓ2-normalised, then a weight-normalised
    linear layer to ``out_dim`` outputs whose weight norm is fixed to 1 (``norm_last_layer``)."""

    def __init__(self, in_dim: int, out_dim: int = 65536, hidden_dim: int = 2048, bottleneck_dim: int = 256,
                 layers: int = 3, norm_last_layer: bool = True):
        super().__init__()
        dims = [in_dim] + [hidden_dim] * (layers - 1) + [bottleneck_dim]
        blocks: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(dims[:-1], dims[1:])):
            blocks.append(nn.Linear(a, b))
            if i < len(dims) - 2:
                blocks.append(nn.GELU())
        self.mlp = nn.Sequential(*blocks)
        for m in self.mlp:
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)
        # Weight normalisation w = g · v / ‖v‖ per output; g = 1 and frozen when norm_last_layer.
        self.last_v = nn.Parameter(torch.empty(out_dim, bottleneck_dim))
        nn.init.trunc_normal_(self.last_v, std=0.02)
        self.last_g = nn.Parameter(torch.ones(out_dim, 1), requires_grad=not norm_last_layer)

    def forward(self, features: Tensor) -> Tensor:
        # float32 under any autocast: the output is divided by τ_t = 0.04 before a softmax, and bf16
        # rounding of the bottleneck or of the output would move the sharpened logits by ~0.1
        with float32_region(features):
            z = F.normalize(self.mlp(features.float()), dim=-1)
            return F.linear(z, self.last_g * F.normalize(self.last_v, dim=-1))


class DinoNet(nn.Module):
    """A backbone whose ``logits`` are its features (e.g. ``vit_tiny_p4`` with ``num_classes=0``:
    the final class token) followed by a :class:`DinoHead`. ``features[0]`` is the backbone's
    output, which k-NN and the linear probe evaluate."""

    def __init__(self, backbone: nn.Module, head: DinoHead):
        super().__init__()
        self.backbone, self.head = backbone, head

    def forward(self, x: Tensor) -> ModelOutput:
        f = self.backbone(x).logits
        return ModelOutput(self.head(f), features=[f])


def dino_loss(student_out: list[Tensor], teacher_out: list[Tensor], centre: Tensor, student_temp: float,
              teacher_temp: float) -> Tensor:
    """Eq. 3, averaged over the pairs of different views: teacher view ``i`` is student view ``i``."""
    targets = [F.softmax((t.float() - centre) / teacher_temp, dim=-1) for t in teacher_out]
    log_probs = [F.log_softmax(s.float() / student_temp, dim=-1) for s in student_out]
    total, pairs = 0.0, 0
    for i, p in enumerate(targets):
        for j, log_q in enumerate(log_probs):
            if i != j:
                total = total + (-(p * log_q).sum(-1)).mean()
                pairs += 1
    return total / pairs


def same_size_forward(net: nn.Module, views: list[Tensor]) -> list[Tensor]:
    """``net``'s logits for each view, consecutive views of one size batched into one forward pass."""
    outputs, start = [], 0
    while start < len(views):
        end = start + 1
        while end < len(views) and views[end].shape[-2:] == views[start].shape[-2:]:
            end += 1
        logits = net(torch.cat(views[start:end])).logits
        outputs += list(logits.chunk(end - start))
        start = end
    return outputs


def teacher_momentum(progress: float, base: float = 0.996) -> float:
    """The EMA coefficient after ``progress`` ∈ [0, 1] of training: cosine from ``base`` to 1."""
    return 1 - (1 - base) * (math.cos(math.pi * min(max(progress, 0.0), 1.0)) + 1) / 2


def teacher_temperature(epoch: int, start: float = 0.04, end: float = 0.04, warmup_epochs: int = 0) -> float:
    """τ_t in (0-based) epoch ``epoch``: the official schedule (``main_dino.py``), ``warmup_epochs``
    values evenly spaced from ``start`` to ``end`` inclusive — ``end`` is reached in the *last*
    warm-up epoch, ``warmup_epochs - 1`` — then ``end`` (the paper: 0.04 → 0.07 over 30 epochs).
    Over 3 warm-up epochs: 0.04, 0.055, 0.07, 0.07, … One warm-up epoch gives ``start`` then ``end``.
    The value is per epoch: every step of an epoch uses it, as in the official code."""
    warmup = int(round(warmup_epochs))
    if warmup != warmup_epochs:
        raise ConfigError(f"the teacher temperature warms up over whole epochs, not {warmup_epochs}")
    epoch = int(epoch)
    if warmup <= 0 or epoch >= warmup:
        return end
    if warmup == 1:
        return start
    return start + (end - start) * max(epoch, 0) / (warmup - 1)


def _all_mean(x: Tensor) -> Tensor:
    """The mean of ``x`` over every process (Eq. 4's batch mean is over the global batch)."""
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        x = x.clone()
        dist.all_reduce(x)
        x /= dist.get_world_size()
    return x


class DINO(Distiller):
    """DINO on batches of normalised images (``mean``/``std`` undo the normalisation before the
    colour augmentation of :class:`~kdrepro.data.multicrop.MultiCrop`). ``total_steps`` is the
    number of optimiser steps of the run (the momentum schedule's length)."""

    uses_labels = False

    def __init__(self, student: DinoNet, *, mean, std, total_steps: int, crops: MultiCrop = MultiCrop(),
                 student_temp: float = 0.1, teacher_temp: float = 0.04, teacher_temp_start: float | None = None,
                 teacher_temp_warmup_epochs: int = 0, momentum: float = 0.996, centre_momentum: float = 0.9,
                 centering: bool = True, sharpening: bool = True, freeze_last_layer: int = 0):
        super().__init__(student)
        # The teacher is trained (by EMA, not by gradients), so it is a submodule: checkpointed with
        # the student, moved with it, never in the optimiser (no gradients).
        self.momentum_teacher = copy.deepcopy(student)
        for p in self.momentum_teacher.parameters():
            p.requires_grad_(False)
        out_dim = student.head.last_v.shape[0]
        self.register_buffer("centre", torch.zeros(1, out_dim))
        self.register_buffer("steps_done", torch.zeros((), dtype=torch.long))
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))
        self.crops = crops
        self.crops_setting = repr(crops)  # a scalar setting: part of the run's fingerprint
        self.total_steps = int(total_steps)
        self.student_temp, self.teacher_temp = student_temp, teacher_temp
        self.teacher_temp_start = teacher_temp if teacher_temp_start is None else teacher_temp_start
        self.teacher_temp_warmup_epochs = teacher_temp_warmup_epochs
        teacher_temperature(0, self.teacher_temp_start, teacher_temp, teacher_temp_warmup_epochs)  # whole epochs
        self.momentum, self.centre_momentum = momentum, centre_momentum
        self.centering, self.sharpening = centering, sharpening
        self.freeze_last_layer = int(freeze_last_layer)
        self.epoch = 0
        self._steps: int | None = None  # a host copy of ``steps_done``: no device read per step

    def train(self, mode: bool = True) -> "DINO":
        super().train(mode)
        self.momentum_teacher.eval()
        return self

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def current_teacher_temp(self) -> float:
        if not self.sharpening:
            return self.student_temp
        return teacher_temperature(self.epoch, self.teacher_temp_start, self.teacher_temp,
                                   self.teacher_temp_warmup_epochs)

    def views(self, x: Tensor | list[Tensor]) -> list[Tensor]:
        """The multi-crop views of a normalised batch, normalised again; computed in float32 under any
        autocast (bf16 would round the crop grids and the colour matrices). A list is the views
        themselves, made by the loader's workers (:class:`~kdrepro.data.multicrop_views.MultiCropViews`)."""
        if isinstance(x, (list, tuple)):
            if len(x) != self.crops.n_views:
                raise ConfigError(f"the loader made {len(x)} views, the method expects {self.crops.n_views} "
                                  f"({self.crops.n_global} global + {self.crops.n_local} local)")
            return list(x)
        with float32_region(x):
            images = (x.float() * self.std + self.mean).clamp(0, 1)
            return [(v - self.mean) / self.std for v in self.crops(images)]

    def forward(self, x: Tensor, y: Tensor, index: Tensor | None = None) -> tuple[ModelOutput, dict[str, Tensor]]:
        views = self.views(x)
        n_global = self.crops.n_global
        with torch.no_grad():
            teacher_out = same_size_forward(self.momentum_teacher, views[:n_global])
        student_out = same_size_forward(self.student, views)
        centre = self.centre if self.centering else torch.zeros_like(self.centre)
        loss = dino_loss(student_out, teacher_out, centre, self.student_temp, self.current_teacher_temp())
        if self.training:
            with torch.no_grad():  # Eq. 4: c ← m c + (1 − m) · mean of this (global) batch of teacher outputs
                batch_centre = _all_mean(torch.cat(teacher_out).float().mean(0, keepdim=True))
                self.centre.mul_(self.centre_momentum).add_(batch_centre, alpha=1 - self.centre_momentum)
        return ModelOutput(student_out[0]), {"dino": loss}

    def before_optimizer_step(self) -> None:
        """In the first ``freeze_last_layer`` epochs the head's last layer keeps its initial weights
        (the official ``cancel_gradients_last_layer``)."""
        if self.epoch < self.freeze_last_layer:
            for p in (self.student.head.last_v, self.student.head.last_g):
                p.grad = None

    @torch.no_grad()
    def apply_constraints(self) -> None:
        """After each optimiser step: the teacher follows the (unwrapped) student."""
        super().apply_constraints()
        if self._steps is None:  # read the buffer once (fresh or just loaded), then count on the host
            self._steps = int(self.steps_done)
        m = teacher_momentum(self._steps / max(self.total_steps, 1), self.momentum)
        for p_t, p_s in zip(self.momentum_teacher.parameters(), self.student.parameters()):
            p_t.mul_(m).add_(p_s.detach(), alpha=1 - m)
        self.steps_done += 1
        self._steps += 1

    def _load_from_state_dict(self, *args, **kwargs):  # called however the state is loaded (also by a parent)
        self._steps = None  # the loaded buffer is the step count now
        super()._load_from_state_dict(*args, **kwargs)

    @torch.no_grad()
    def output_statistics(self, x: Tensor) -> dict[str, float]:
        """Section 5.3's collapse diagnostics on un-augmented images ``x``: the entropy of the
        teacher's (centred, sharpened) output and its KL divergence to the student's output."""
        was = self.training
        self.eval()
        p_t = F.softmax((self.momentum_teacher(x).logits.float() - (self.centre if self.centering else 0))
                        / self.current_teacher_temp(), dim=-1)
        log_q = F.log_softmax(self.student(x).logits.float() / self.student_temp, dim=-1)
        log_p = torch.log(p_t.clamp_min(1e-30))
        entropy = float(-(p_t * log_p).sum(-1).mean())
        kl = float((p_t * (log_p - log_q)).sum(-1).mean())
        self.train(was)
        return {"teacher_entropy": entropy, "kl_teacher_student": kl, "max_entropy": math.log(p_t.shape[-1])}


__all__ = ["DinoHead", "DinoNet", "DINO", "dino_loss", "same_size_forward", "teacher_momentum", "teacher_temperature"]
