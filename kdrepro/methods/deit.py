r"""DeiT: distillation through attention — Touvron et al. (ICML 2021).

A vision transformer learns from a (CNN) teacher in one of the paper's ways (Section 4):

- **soft distillation** (Eq. 2), on the class token:
  :math:`(1-\lambda)\,\mathcal{L}_{CE}(\psi(Z_s), y) + \lambda\tau^2\,\mathrm{KL}(\psi(Z_t/\tau) \,\|\, \psi(Z_s/\tau))`,
  the paper's λ = 0.1, τ = 3;
- **hard-label distillation** (Eq. 3), on the class token:
  :math:`\tfrac12\mathcal{L}_{CE}(\psi(Z_s), y) + \tfrac12\mathcal{L}_{CE}(\psi(Z_s), y_t)`,
  :math:`y_t = \arg\max_c Z_t(c)`;
- **the distillation token**: a second token beside the class token, with its own head; the
  class head learns the labels and the distillation head the teacher — hard
  (:math:`\tfrac12\mathcal{L}_{CE}(Z_{cls}, y) + \tfrac12\mathcal{L}_{CE}(Z_{dist}, y_t)`) or soft. At test
  time the two heads are combined (:class:`~kdrepro.models.vit.ViT`: softmax outputs added for the small
  ViTs, logits averaged — the official code's — for DeiT's ImageNet models).

``two_class_tokens`` is the paper's control: the same two-token model with *both* heads on the
labels and no teacher; its two learned class tokens converge to nearly the same vector (cosine
0.999), where the learned class and distillation tokens stay distinct (cosine 0.06).

The KL term's normalisation (``kl_normalisation``): ``"elements"``, the default, is the official
code's, which produced Table 3 (``losses.py``, ``DistillationLoss``, ``'soft'``): the KL summed
over batch and classes, times τ², divided by the number of *elements* (batch × classes).
``"batch"`` averages over the batch only, as Hinton KD and a literal reading of Eq. 2 — larger by
the number of classes (a thousandfold on ImageNet-1k).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import ConfigError
from ..models import ModelOutput
from .base import Distiller
from .hinton_kd import soft_target_loss

MODES = ("soft", "hard", "token_hard", "token_soft", "two_class_tokens")


KL_NORMALISATIONS = ("elements", "batch")


def check_normalisation(normalisation: str) -> None:
    if normalisation not in KL_NORMALISATIONS:
        raise ConfigError(f"unknown KL normalisation {normalisation!r}; valid: {', '.join(KL_NORMALISATIONS)}")


def soft_kl(student_logits: Tensor, teacher_logits: Tensor, temperature: float,
            normalisation: str = "elements") -> Tensor:
    """τ² KL(teacher_τ ‖ student_τ) summed over classes and samples, divided by batch × classes
    (``"elements"``, the official code's) or by the batch size (``"batch"``)."""
    check_normalisation(normalisation)
    loss = soft_target_loss(student_logits, teacher_logits, temperature)  # the batch mean
    return loss / student_logits.shape[-1] if normalisation == "elements" else loss


def soft_distillation(student_logits: Tensor, teacher_logits: Tensor, labels: Tensor, temperature: float = 3.0,
                      lam: float = 0.1, normalisation: str = "elements") -> dict[str, Tensor]:
    """Eq. 2: the labels at weight 1 − λ, the teacher's softened distribution at weight λ."""
    return {"ce": (1 - lam) * F.cross_entropy(student_logits.float(), labels),
            "kl": lam * soft_kl(student_logits, teacher_logits, temperature, normalisation)}


def hard_distillation(student_logits: Tensor, teacher_logits: Tensor, labels: Tensor) -> dict[str, Tensor]:
    """Eq. 3: half cross-entropy with the labels, half with the teacher's decision."""
    teacher_labels = teacher_logits.argmax(dim=-1)
    return {"ce": 0.5 * F.cross_entropy(student_logits.float(), labels),
            "teacher_ce": 0.5 * F.cross_entropy(student_logits.float(), teacher_labels)}


class DeiT(Distiller):
    """A ViT student (``vit_tiny_p4``-like for ``soft``/``hard``; ``deit_tiny_distilled_p4``-like for
    the token modes) taught by ``teacher`` in one of :data:`MODES`."""

    def __init__(self, student, teacher=None, mode: str = "token_hard", temperature: float = 3.0, lam: float = 0.1,
                 kl_normalisation: str = "elements"):
        if mode not in MODES:
            raise ConfigError(f"unknown DeiT mode {mode!r}; valid: {', '.join(MODES)}")
        check_normalisation(kl_normalisation)
        two_heads = getattr(student, "num_prefix", 1) == 2
        if mode.startswith("token") or mode == "two_class_tokens":
            if not two_heads:
                raise ConfigError(f"mode {mode!r} needs a student with a distillation token "
                                  "(e.g. deit_tiny_distilled_p4), not one with a class token only")
        elif two_heads:
            raise ConfigError(f"mode {mode!r} distils into the class token: use a student without a distillation "
                              "token (e.g. vit_tiny_p4), or mode 'token_hard' / 'token_soft'")
        if (mode == "two_class_tokens") != (teacher is None):
            raise ConfigError("mode 'two_class_tokens' trains without a teacher; every other mode needs one")
        super().__init__(student, teacher)
        self.mode = mode
        self.temperature = temperature
        self.lam = lam
        self.kl_normalisation = kl_normalisation

    def forward(self, x: Tensor, y: Tensor, index: Tensor | None = None) -> tuple[ModelOutput, dict[str, Tensor]]:
        out = self.student(x)
        if self.mode == "two_class_tokens":  # both heads on the labels: the paper's control
            return out, {"ce": 0.5 * F.cross_entropy(out.heads["cls"].float(), y),
                         "ce_second": 0.5 * F.cross_entropy(out.heads["dist"].float(), y)}
        teacher_logits = self.teacher_output(x, index).logits
        if self.teacher is not None and teacher_logits.shape[-1] != out.logits.shape[-1]:
            raise ConfigError(f"the teacher predicts {teacher_logits.shape[-1]} classes, the student "
                              f"{out.logits.shape[-1]}: use a teacher trained on the student's dataset")
        if self.mode == "soft":
            return out, soft_distillation(out.logits, teacher_logits, y, self.temperature, self.lam,
                                          self.kl_normalisation)
        if self.mode == "hard":
            return out, hard_distillation(out.logits, teacher_logits, y)
        cls, dist = out.heads["cls"], out.heads["dist"]
        if self.mode == "token_hard":
            return out, {"ce": 0.5 * F.cross_entropy(cls.float(), y),
                         "teacher_ce": 0.5 * F.cross_entropy(dist.float(), teacher_logits.argmax(-1))}
        return out, {"ce": (1 - self.lam) * F.cross_entropy(cls.float(), y),
                     "kl": self.lam * soft_kl(dist, teacher_logits, self.temperature, self.kl_normalisation)}


def _two_tokens(model, what: str) -> None:
    if getattr(model, "num_prefix", 1) != 2:
        raise ConfigError(f"{what} needs a model with two prefix tokens (e.g. deit_tiny_distilled_p4)")


@torch.no_grad()
def learned_token_cosine(model) -> float:
    """Cosine similarity between the two learned prefix tokens of a two-token ViT — the embedding
    vectors themselves, as trained, before any position embedding or block. The paper's Section 4:
    0.06 between the class and distillation tokens; 0.999 between the two class tokens of the
    control, which "converge towards the same vector"."""
    _two_tokens(model, "learned_token_cosine")
    vit = model.vit
    return float(F.cosine_similarity(vit.cls_token.flatten(), vit.dist_token.flatten(), dim=0))


@torch.no_grad()
def token_cosine(model, x: Tensor) -> list[float]:
    """Mean cosine similarity between the two prefix tokens' embeddings of a two-token ViT on
    images ``x``: at the input of the first block (position embeddings added), after each block
    and after the final norm (the paper: the class and distillation embeddings grow more similar
    through the layers, to 0.93 at the last one)."""
    _two_tokens(model, "token_cosine")
    was_training = model.training
    model.eval()
    try:
        layers = model.prefix_tokens(x)
    finally:
        model.train(was_training)
    return [float(F.cosine_similarity(t[:, 0], t[:, 1], dim=-1).mean()) for t in layers]
