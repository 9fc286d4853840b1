r"""Deep Mutual Learning — Zhang, Xiang, Hospedales & Lu (CVPR 2018).

No pretrained teacher: :math:`K` networks train together from scratch and teach each other.
Network :math:`k` minimises its own cross-entropy with the labels plus the mean
Kullback–Leibler divergence from every peer's predicted distribution to its own (Eq. 10):

.. math:: L_{\Theta_k} = L_{C_k} + \frac{1}{K-1} \sum_{l \ne k} D_{KL}(p_l \,\|\, p_k),

which for two networks is Eq. 4–5, :math:`L_{\Theta_1} = L_{C_1} + D_{KL}(p_2 \| p_1)`. The
peers' :math:`p_l` are targets in that term: no gradient flows into a peer through another
network's loss. The paper uses the plain softmax (no temperature); ``temperature`` > 1 softens
both sides and scales the term by :math:`T^2`, as in Hinton KD.

Each network has its own optimiser and they are updated in turn (Algorithm 1): network 1 steps
on the peers' current predictions, then its predictions are recomputed with its new weights
before network 2 steps, and so on. ``sequential=False`` instead updates every network from the
same predictions (one forward each, as most reimplementations do).
"""

from __future__ import annotations

from contextlib import contextmanager

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from ..models import ModelOutput
from .base import Distiller
from .hinton_kd import soft_target_loss


def mutual_loss(logits: Tensor, peer_logits: list[Tensor], labels: Tensor, temperature: float = 1.0) -> dict[str, Tensor]:
    """Eq. 10 for one network: its cross-entropy and the mean KL from each peer (peers detached)."""
    if not peer_logits:
        raise ValueError("mutual learning needs at least one peer")
    kl = sum(soft_target_loss(logits, p.detach(), temperature) for p in peer_logits) / len(peer_logits)
    return {"ce": F.cross_entropy(logits.float(), labels), "kl": kl}


@contextmanager
def batchnorm_statistics_kept(model: nn.Module):
    """Run ``model`` in training mode (batch statistics) without moving its running statistics:
    re-computing a network's predictions must not count the batch twice in them."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [(m.momentum, m.num_batches_tracked.clone() if m.num_batches_tracked is not None else None)
             for m in norms]
    for m in norms:
        m.momentum = 0.0  # running = (1 - 0) · running + 0 · batch
    try:
        yield model
    finally:
        for m, (momentum, tracked) in zip(norms, saved):
            m.momentum = momentum
            if tracked is not None:
                m.num_batches_tracked.copy_(tracked)


class MutualLearning(Distiller):
    """``peers`` (two or more networks, any mix of the zoo) learning from each other. The first
    is the "student" the engine evaluates and checkpoints by default; every peer's test
    accuracy is recorded (``peer2_test_accuracy``, …)."""

    def __init__(self, peers: list[nn.Module], temperature: float = 1.0, sequential: bool = True):
        if len(peers) < 2:
            raise ValueError(f"mutual learning needs at least two networks, got {len(peers)}")
        if len({id(p) for p in peers}) != len(peers):
            raise ValueError("each peer must be its own network: the same module was passed twice")
        super().__init__(peers[0])
        del self.student  # the peers hold every network; `student` is peer 1 (the property below)
        self.peers = nn.ModuleList(peers)
        self.temperature = temperature
        self.sequential = sequential
        self.peer_models = ",".join(str(getattr(p, "model_name", type(p).__name__)) for p in peers)  # in the fingerprint

    @property
    def student(self) -> nn.Module:
        return self.peers[0]

    @property
    def names(self) -> list[str]:
        return [f"peer{k + 1}" for k in range(len(self.peers))]

    def parts(self) -> dict[str, nn.Module]:
        return dict(zip(self.names, self.peers))

    def also_evaluate(self) -> dict[str, nn.Module]:
        return {f"{name}_": peer for name, peer in zip(self.names[1:], self.peers[1:])}

    def train_step(self, nets, batch, update) -> tuple[ModelOutput, dict[str, Tensor]]:
        """Algorithm 1: every network's forward with gradients (through its own wrapper), then the
        networks step one after another, each on the peers' latest predictions."""
        outs = [nets[name](batch.x) for name in self.names]  # each network's weights are unchanged until its turn
        targets = [o.logits.detach() for o in outs]
        logged: dict[str, Tensor] = {}
        for k, name in enumerate(self.names):
            losses = mutual_loss(outs[k].logits, targets[:k] + targets[k + 1:], batch.y, self.temperature)
            update(name, losses)
            logged.update({f"{name}_{part}": v for part, v in losses.items()})
            if self.sequential and k + 1 < len(self.peers):  # the later peers see this one's new predictions
                with torch.no_grad(), batchnorm_statistics_kept(self.peers[k]) as net:
                    targets[k] = net(batch.x).logits
        return outs[0], logged

    def forward(self, x: Tensor, y: Tensor, index: Tensor | None = None) -> tuple[ModelOutput, dict[str, Tensor]]:
        """All peers from the same predictions (no update in between): the loss of every network."""
        outs = [peer(x) for peer in self.peers]
        logits = [o.logits for o in outs]
        losses = {}
        for k, name in enumerate(self.names):
            parts = mutual_loss(logits[k], logits[:k] + logits[k + 1:], y, self.temperature)
            losses.update({f"{name}_{part}": v for part, v in parts.items()})
        return outs[0], losses
