r"""Activation-boundary (AB) distillation — Heo, Lee, Yun & Choi (AAAI 2019).

A ReLU neuron splits its input space by an *activation boundary*: it is on (response > 0) on
one side and off on the other. AB transfers where those boundaries lie rather than the
response magnitudes. Exact agreement, :math:`\lVert\rho(T) - \rho(S)\rVert_1` with the step
:math:`\rho(x) = \mathbb{1}[x > 0]`, has no gradient, so the paper minimises a squared hinge
that pushes each student response to the teacher's side of zero by a margin :math:`\mu`
(Eq. 5), on the pre-ReLU responses :math:`T(I)` and :math:`r(S(I))`:

.. math:: \mathcal{L}(I) = \bigl\lVert \rho(T(I)) \odot \sigma(\mu \mathbf{1} - r(S(I)))
          + (\mathbf{1} - \rho(T(I))) \odot \sigma(\mu \mathbf{1} + r(S(I))) \bigr\rVert_2^2 ,

with :math:`\sigma(x) = \max(0, x)` and :math:`r` a connector (1×1 convolution + BatchNorm)
that maps the student's responses to the teacher's shape. A student neuron whose response
already lies beyond the margin on the teacher's side costs nothing.

Training has an *initialisation* stage: the student's hidden layers (and the connectors) are
trained with the AB loss alone, then the whole student is trained normally — with
cross-entropy alone in the CRD table's setting, or with KD (the paper's option).

The table's code (RepDistiller, after the authors' code) sums the loss over the middle
feature groups with weights :math:`2^{i-n+1}` (the deepest group weight 1, each earlier one
half the next), divides by the batch size and multiplies by 3/1000, and uses an identity
connector where the student's and teacher's maps have the same shape. Those constants set
the step size of the initialisation stage under SGD, so :class:`ABInitialization` keeps them
as its defaults.
"""

from __future__ import annotations

import torch
import torch.nn as nn
from torch import Tensor

from ..errors import ConfigError
from ..models.output import feature_shapes
from .base import Distiller, device_of
from .fitnets import ConvRegressor


def ab_loss(student_preact: Tensor, teacher_preact: Tensor, margin: float = 1.0) -> Tensor:
    """Eq. 5 for one layer, summed over neurons and samples (divide by the batch size outside)."""
    if student_preact.shape != teacher_preact.shape:
        raise ConfigError(f"AB compares responses neuron by neuron: student {tuple(student_preact.shape)} vs "
                          f"teacher {tuple(teacher_preact.shape)} (connect them first)")
    s, on = student_preact.float(), teacher_preact > 0
    below = torch.clamp(margin - s, min=0) * on  # teacher on: student should be ≥ +margin
    above = torch.clamp(margin + s, min=0) * ~on  # teacher off: student should be ≤ −margin
    return (below.pow(2) + above.pow(2)).sum()


def boundary_agreement(student_preacts: list[Tensor], teacher_preacts: list[Tensor]) -> float:
    """The fraction of neurons (over every paired map, position and sample) on the same side of
    their activation boundary in student and teacher: 1 means every boundary transferred."""
    same = total = 0
    for s, t in zip(student_preacts, teacher_preacts):
        same += ((s > 0) == (t > 0).to(s.device)).sum().item()
        total += t.numel()
    return same / max(total, 1)


class Connectors(nn.Module):
    """One connector per paired group: identity where shapes agree, else a 1×1-style conv + BN."""

    def __init__(self, student_shapes: list[tuple[int, ...]], teacher_shapes: list[tuple[int, ...]]):
        super().__init__()
        if len(student_shapes) != len(teacher_shapes):
            raise ConfigError(f"the student has {len(student_shapes)} feature groups and the teacher "
                              f"{len(teacher_shapes)}: AB pairs them one to one")
        self.maps = nn.ModuleList(
            nn.Identity() if tuple(s) == tuple(t) else ConvRegressor(s, t, relu=False)
            for s, t in zip(student_shapes, teacher_shapes))

    def forward(self, feats: list[Tensor]) -> list[Tensor]:
        return [m(f) for m, f in zip(self.maps, feats)]


class ABInitialization(Distiller):
    """The initialisation stage: the AB loss alone on the middle groups' pre-ReLU responses."""

    partial_graph = True  # the classifier gets no gradient in this stage

    def __init__(self, student, teacher, margin: float = 1.0, image_shape=(3, 32, 32), scale: float = 3 / 1000,
                 layer_weights: str = "geometric"):
        super().__init__(student, teacher)
        self.margin, self.scale, self.layer_weights = margin, scale, layer_weights
        self.connectors = Connectors(feature_shapes(student, image_shape, preact=True)[1:-1],
                                     feature_shapes(teacher, image_shape, preact=True)[1:-1])
        n = len(self.connectors.maps)
        if layer_weights == "geometric":
            self.weights = [2.0 ** (i - n + 1) for i in range(n)]
        elif layer_weights == "equal":
            self.weights = [1.0] * n
        else:
            raise ConfigError(f"unknown layer_weights {layer_weights!r}; valid: geometric, equal")

    def connected(self, x: Tensor, index: Tensor | None = None):
        """(student output, connected student pre-activations, teacher pre-activations)."""
        t = self.teacher_output(x, index)
        out = self.student(x)
        return out, self.connectors(out.preact_features[1:-1]), t.preact_features[1:-1]

    def forward(self, x, y, index=None):
        out, s, t = self.connected(x, index)
        loss = sum(w * ab_loss(a, b, self.margin) for w, a, b in zip(self.weights, s, t))
        return out.detach(), {"ab": self.scale * loss / x.shape[0]}  # logits: for the log only

    @torch.no_grad()
    def agreement(self, x: Tensor) -> float:
        """:func:`boundary_agreement` on a batch, in eval mode; ``x`` goes to each network's device
        (the student and connectors on one, the live teacher possibly on another)."""
        was = self.training
        self.eval()
        try:
            t = self.teacher(x.to(device_of(self.teacher))).preact_features[1:-1]
            s = self.connectors(self.student(x.to(device_of(self.student))).preact_features[1:-1])
        finally:
            self.train(was)
        return boundary_agreement(s, t)
