r"""Attention transfer — Zagoruyko & Komodakis (ICLR 2017).

A network's *spatial attention* at a layer with activations :math:`A \in \mathbb{R}^{C\times H\times W}`
is a map over positions that says where it looks. The paper's preferred mapping (Section 3.1)
is :math:`F^p_{sum}(A) = \sum_{c} |A_c|^p` with :math:`p = 2`. The student is trained to make
its normalised maps match the teacher's at several paired layers :math:`j \in \mathcal{I}`
(Eq. 2):

.. math:: \mathcal{L}_{AT} = \mathcal{L}(W_S, x) + \frac{\beta}{2} \sum_{j \in \mathcal{I}}
          \Bigl\lVert \frac{Q_S^j}{\lVert Q_S^j \rVert_2} - \frac{Q_T^j}{\lVert Q_T^j \rVert_2} \Bigr\rVert_p ,
          \qquad Q^j = \mathrm{vec}(F(A^j)).

Normalising each map makes the loss blind to the scale of a sample's activations.

The official code differs from the formula in two ways that matter for the numbers: the map
is the *mean* of :math:`A_c^2` over channels (the same map up to a factor, which the
normalisation removes), and the distance is the *squared* difference averaged over positions
and samples, with :math:`\beta = 1000`. RepDistiller, whose table we compare with, uses that
code's distance with weight 1000 on the sum over groups (no ½). ``distance="code"`` (default)
is that setting; ``distance="paper"`` is Eq. 2's ℓ2 norm per sample, averaged over the batch.
Maps of different spatial size (e.g. a VGG pair) are average-pooled to the smaller one, as
RepDistiller does.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import ConfigError
from .base import Distiller, device_of


def attention_map(features: Tensor, p: float = 2.0, normalize: bool = True) -> Tensor:
    """:math:`Q = \\mathrm{vec}(\\mathrm{mean}_c |A_c|^p)` (N × HW), unit ℓ2 norm per sample."""
    q = features.float().abs().pow(p).mean(1).flatten(1)
    return F.normalize(q, dim=1) if normalize else q


def at_loss(student_features: Tensor, teacher_features: Tensor, p: float = 2.0, distance: str = "code") -> Tensor:
    """The attention distance between one student and one teacher layer (see the module doc)."""
    if student_features.dim() != 4 or teacher_features.dim() != 4:
        raise ConfigError(f"attention transfer pairs N×C×H×W maps; got {tuple(student_features.shape)} and "
                          f"{tuple(teacher_features.shape)}")
    hs, ht = student_features.shape[2], teacher_features.shape[2]
    if hs > ht:
        student_features = F.adaptive_avg_pool2d(student_features, teacher_features.shape[2:])
    elif ht > hs:
        teacher_features = F.adaptive_avg_pool2d(teacher_features, student_features.shape[2:])
    diff = attention_map(student_features, p) - attention_map(teacher_features, p)
    if distance == "code":
        return diff.pow(2).mean()
    if distance == "paper":
        return diff.norm(p=2, dim=1).mean()
    raise ConfigError(f"unknown attention distance {distance!r}; valid: code, paper")


def paired_groups(student_features: list[Tensor], teacher_features: list[Tensor]) -> list[tuple[Tensor, Tensor]]:
    """The middle feature groups (``features[1:-1]``) of student and teacher, pair by pair."""
    s, t = student_features[1:-1], teacher_features[1:-1]
    if len(s) != len(t):
        raise ConfigError(f"the student has {len(s)} feature groups and the teacher {len(t)}: attention "
                          "transfer pairs them one to one; choose a pair with as many stages")
    return list(zip(s, t))


class AttentionTransfer(Distiller):
    """Cross-entropy + ``weight`` × Σ over the paired groups of :func:`at_loss` (β = 1000 in the table)."""

    def __init__(self, student, teacher, weight: float = 1000.0, p: float = 2.0, distance: str = "code"):
        super().__init__(student, teacher)
        self.weight, self.p, self.distance = weight, p, distance

    def forward(self, x, y, index=None):
        t = self.teacher_output(x, index)
        out = self.student(x)
        at = sum(at_loss(s, tf, self.p, self.distance) for s, tf in paired_groups(out.features, t.features))
        return out, {"ce": F.cross_entropy(out.logits.float(), y), "at": self.weight * at}


@torch.no_grad()
def attention_distance(student, teacher, x: Tensor, distance: str = "paper") -> list[float]:
    """Per paired group, the attention distance between two models on images ``x`` (eval mode):
    how far the student looks from where the teacher looks. Each model runs on its own device (a
    trained student may sit on the GPU, a loaded teacher on the CPU); the distance is taken on the student's."""
    student.eval()
    teacher.eval()
    device = device_of(student)
    s_feats = student(x.to(device)).features
    t_feats = [f.to(device) for f in teacher(x.to(device_of(teacher))).features]
    return [at_loss(s, t, distance=distance).item() for s, t in paired_groups(s_feats, t_feats)]
