r"""Knowledge distillation with soft targets — Hinton, Vinyals & Dean (2015).

A teacher's class probabilities, softened by a temperature :math:`T`,

.. math:: p_i = \frac{\exp(v_i / T)}{\sum_j \exp(v_j / T)}, \qquad
          q_i = \frac{\exp(z_i / T)}{\sum_j \exp(z_j / T)}

(:math:`v` the teacher's logits, :math:`z` the student's; the paper's Eq. 1), carry how the
teacher ranks the wrong classes — the "dark knowledge" that hard labels lack. The student
minimises a weighted average of two objectives (Section 2): the cross-entropy with the soft
targets at the same temperature, and the ordinary cross-entropy with the labels at
:math:`T = 1`. The soft term's gradient is
:math:`\partial C / \partial z_i = \frac{1}{T}(q_i - p_i)` (Eq. 2), which for large
:math:`T` approaches :math:`\frac{1}{N T^2}(z_i - v_i)` (Eq. 4): its magnitude falls as
:math:`1/T^2`, so the soft term is multiplied by :math:`T^2` to keep the balance of the two
objectives as :math:`T` changes.

We compute the soft term as :math:`\mathrm{KL}(p \,\|\, q)`, which differs from the paper's
cross-entropy :math:`H(p, q)` by the teacher's entropy :math:`H(p)`, a constant for the
student: the gradients, hence training, are identical, and the logged value is zero at a
perfect match. It is summed over classes and averaged over the batch (PyTorch's
``batchmean``), as RepDistiller's KD loss is; averaging over batch × classes instead would
shrink the term by the number of classes.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from ..models import ModelOutput
from .base import Distiller


def soft_target_loss(student_logits: Tensor, teacher_logits: Tensor, temperature: float) -> Tensor:
    """:math:`T^2 \\cdot \\mathrm{KL}(p_T \\| q_T)`, summed over classes, averaged over the batch.

    Computed in float32 whatever the autocast dtype: softmax at a high temperature is sensitive.
    """
    t = temperature
    log_q = F.log_softmax(student_logits.float() / t, dim=-1)
    log_p = F.log_softmax(teacher_logits.float() / t, dim=-1)
    return F.kl_div(log_q, log_p, reduction="batchmean", log_target=True) * (t * t)


def kd_loss(student_logits: Tensor, teacher_logits: Tensor, labels: Tensor, temperature: float,
            soft_weight: float = 0.9, hard_weight: float = 0.1) -> dict[str, Tensor]:
    """The paper's weighted average of soft-target and hard-label objectives, as named parts."""
    return {
        "soft": soft_weight * soft_target_loss(student_logits, teacher_logits, temperature),
        "hard": hard_weight * F.cross_entropy(student_logits.float(), labels),
    }


class KD(Distiller):
    """A student trained on the teacher's soft targets at ``temperature`` plus the labels."""

    def __init__(self, student, teacher, temperature: float = 4.0, soft_weight: float = 0.9,
                 hard_weight: float = 0.1):
        super().__init__(student, teacher)
        self.temperature = temperature
        self.soft_weight = soft_weight
        self.hard_weight = hard_weight

    def forward(self, x: Tensor, y: Tensor, index: Tensor | None = None) -> tuple[ModelOutput, dict[str, Tensor]]:
        teacher_logits = self.teacher_output(x, index).logits
        out = self.student(x)
        losses = kd_loss(out.logits, teacher_logits, y, self.temperature, self.soft_weight, self.hard_weight)
        return out, losses
