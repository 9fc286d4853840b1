r"""FitNets: hints for thin deep nets — Romero et al. (ICLR 2015).

A *hint* is the output of one of the teacher's hidden layers; the student's *guided* layer is
taught to predict it. Their widths and sizes differ, so a learned regressor :math:`r` maps the
student's guided layer onto the teacher's hint, and the hint loss (the paper's Eq. 3) is

.. math:: \mathcal{L}_{HT}(W_{Guided}, W_r) = \tfrac{1}{2}\,\lVert u_h(x; W_{Hint}) - r(v_g(x; W_{Guided}); W_r) \rVert^2 .

The paper uses a convolutional regressor, which needs far fewer parameters than a fully
connected one. Training has two stages (Section 2.3 and Algorithm 1): first the student's
layers up to the guided layer and the regressor minimise :math:`\mathcal{L}_{HT}` alone (hint
pre-training); then the whole student is trained with KD (Eq. 2) from those weights.

RepDistiller, which produced the CRD benchmark table, uses a *one-stage* form instead:
cross-entropy plus 100 × the hint loss throughout, with the hint taken as the mean squared
error over all elements (``MSELoss``) — not the paper's half sum — on the second feature
group, through a convolution + BatchNorm + ReLU regressor. :class:`FitNet` implements both:
``weight=100, reduction="mean"`` is the table's setting; :class:`HintPretraining` is the
paper's first stage.

The paper's own second stage, :class:`AnnealedKD`, is KD (Eq. 2) with the soft term's weight
:math:`\lambda` annealed: the hard cross-entropy plus :math:`\lambda_e\, H(P_T^\tau, P_S^\tau)`,
:math:`\lambda` falling linearly from 4 to 1 over the first 150 epochs, :math:`\tau = 3`, and no
:math:`\tau^2` factor (the authors' ``KDCost``). For the MNIST experiment (Table 4) the
regressor is, like the teacher's hint layer, a maxout convolution (``regressor=``).
"""

from __future__ import annotations

import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from ..errors import ConfigError
from ..models import ModelOutput
from ..models.output import feature_shapes
from .base import Distiller
from .hinton_kd import soft_target_loss


class ConvRegressor(nn.Module):
    """Maps a student feature map (C_s×H_s×W_s) onto the teacher's (C_t×H_t×W_t).

    Equal sizes or a student larger by any amount: a valid convolution whose kernel is
    (1 + H_s − H_t) × (1 + W_s − W_t) (the paper's choice, Section 2.2). Twice as large: a
    stride-2 3×3 convolution; half as large: a stride-2 transposed convolution. BatchNorm and
    ReLU follow, since the hint is a post-ReLU response (``relu=False`` for pre-ReLU targets).
    """

    def __init__(self, student_shape: tuple[int, ...], teacher_shape: tuple[int, ...], relu: bool = True):
        super().__init__()
        self.relu = relu
        if len(student_shape) != 3 or len(teacher_shape) != 3:
            raise ConfigError(f"a conv regressor maps C×H×W maps; got student {tuple(student_shape)} and "
                              f"teacher {tuple(teacher_shape)}: choose a convolutional hint/guided layer pair")
        (cs, hs, ws), (ct, ht, wt) = student_shape, teacher_shape
        if (hs, ws) == (2 * ht, 2 * wt):
            self.conv = nn.Conv2d(cs, ct, 3, stride=2, padding=1)
        elif (2 * hs, 2 * ws) == (ht, wt):
            self.conv = nn.ConvTranspose2d(cs, ct, 4, stride=2, padding=1)
        elif hs >= ht and ws >= wt:
            self.conv = nn.Conv2d(cs, ct, (1 + hs - ht, 1 + ws - wt))
        else:
            raise ConfigError(f"the student's guided layer ({hs}×{ws}) is smaller than the teacher's hint "
                              f"({ht}×{wt}) and not half its size: pick a deeper hint layer or a shallower "
                              "guided layer")
        self.bn = nn.BatchNorm2d(ct)

    def forward(self, x: Tensor) -> Tensor:
        x = self.bn(self.conv(x))
        return F.relu(x) if self.relu else x


def hint_loss(guided: Tensor, hint: Tensor, reduction: str = "mean") -> Tensor:
    """Eq. 3 between a regressed student map and the teacher's hint.

    ``"paper"``: ½‖·‖² per sample, averaged over the batch; ``"mean"``: the mean squared error
    over all elements (RepDistiller's, used for the CRD table with weight 100).
    """
    if guided.shape != hint.shape:
        raise ConfigError(f"regressed guided layer {tuple(guided.shape)} and hint {tuple(hint.shape)} differ")
    diff = guided.float() - hint.float()
    if reduction == "paper":
        return 0.5 * diff.pow(2).flatten(1).sum(1).mean()
    if reduction == "mean":
        return diff.pow(2).mean()
    raise ConfigError(f"unknown hint loss reduction {reduction!r}; valid: paper, mean")


class _Hinted(Distiller):
    """Student, teacher and the regressor from the student's guided layer to the teacher's hint."""

    def __init__(self, student, teacher, image_shape=(3, 32, 32), hint_layer: int = 2, guided_layer: int | None = None,
                 regressor: nn.Module | None = None):
        super().__init__(student, teacher)
        self.hint_layer = hint_layer
        self.guided_layer = hint_layer if guided_layer is None else guided_layer
        s_shapes, t_shapes = feature_shapes(student, image_shape), feature_shapes(teacher, image_shape)
        for name, owner, idx, shapes in (("guided", "student", self.guided_layer, s_shapes),
                                         ("hint", "teacher", hint_layer, t_shapes)):
            if not -len(shapes) <= idx < len(shapes):
                raise ConfigError(f"{name} layer {idx} does not exist: the {owner} has {len(shapes)} feature "
                                  f"groups (0 to {len(shapes) - 1})")
        self.regressor = regressor or ConvRegressor(s_shapes[self.guided_layer], t_shapes[hint_layer])

    def apply_constraints(self) -> None:
        super().apply_constraints()
        fn = getattr(self.regressor, "apply_constraints", None)  # a maxout regressor's max-norm
        if fn is not None:
            fn()

    def hint_term(self, out: ModelOutput, teacher_out: ModelOutput, reduction: str) -> Tensor:
        guided = self.regressor(out.features[self.guided_layer])
        return hint_loss(guided, teacher_out.features[self.hint_layer], reduction)


class FitNet(_Hinted):
    """One stage (RepDistiller): cross-entropy + ``weight`` × hint loss, all epochs."""

    def __init__(self, student, teacher, weight: float = 100.0, reduction: str = "mean", ce_weight: float = 1.0,
                 **kw):
        super().__init__(student, teacher, **kw)
        self.weight, self.reduction, self.ce_weight = weight, reduction, ce_weight

    def forward(self, x, y, index=None):
        t = self.teacher_output(x, index)
        out = self.student(x)
        return out, {"ce": self.ce_weight * F.cross_entropy(out.logits.float(), y),
                     "hint": self.weight * self.hint_term(out, t, self.reduction)}


class HintPretraining(_Hinted):
    """The paper's stage 1: only the hint loss, so only the layers up to the guided layer and
    the regressor learn (the later layers get no gradient). Stage 2 is :class:`~kdrepro.methods.KD`
    on the same student.

    The loss's scale sets the step size under SGD; by default it is the one-stage form's
    100 × MSE, so both forms run at the same learning rate (the paper's ½-sum over a 32×16×16
    map is about 80 times larger and was tuned for its own optimiser).
    """

    partial_graph = True  # the layers above the guided layer get no gradient in this stage

    def __init__(self, student, teacher, weight: float = 100.0, reduction: str = "mean", **kw):
        super().__init__(student, teacher, **kw)
        self.weight, self.reduction = weight, reduction

    def forward(self, x, y, index=None):
        t = self.teacher_output(x, index)
        out = self.student(x)
        hint = self.weight * self.hint_term(out, t, self.reduction)
        return out.detach(), {"hint": hint}  # the logits only feed the accuracy shown in the log


def annealed_weight(epoch: int, start: float = 4.0, end: float = 1.0, epochs: int = 150) -> float:
    """λ of the paper's KD stage at the 0-based ``epoch``: linear from ``start`` to ``end`` over
    ``epochs`` epochs, then ``end``."""
    return start + (end - start) * min(epoch / epochs, 1.0)


class AnnealedKD(Distiller):
    """The paper's stage 2: cross-entropy + λ_e · KL(p_τ ‖ q_τ), λ annealed (:func:`annealed_weight`).

    The KL differs from the authors' cross-entropy with the teacher's softened output by that
    output's entropy, a constant: the same gradients. No τ² factor, as in their code.
    """

    def __init__(self, student, teacher, temperature: float = 3.0, start: float = 4.0, end: float = 1.0,
                 anneal_epochs: int = 150):
        super().__init__(student, teacher)
        self.temperature, self.start, self.end, self.anneal_epochs = temperature, start, end, anneal_epochs
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        super().set_epoch(epoch)
        self.weight = annealed_weight(epoch, self.start, self.end, self.anneal_epochs)

    def forward(self, x, y, index=None):
        teacher_logits = self.teacher_output(x, index).logits
        out = self.student(x)
        t = self.temperature
        soft = soft_target_loss(out.logits, teacher_logits, t) / (t * t)  # the paper's term carries no τ²
        return out, {"ce": F.cross_entropy(out.logits.float(), y), "soft": self.weight * soft}

