"""Mixup and CutMix of a training batch (DeiT's recipe), through timm's ``Mixup``.

timm mixes a batch with its flip — Mixup (Zhang et al. 2018) blends two images, CutMix (Yun et al.
2019) pastes a box of one into the other — and returns soft labels: the two one-hot labels,
label-smoothed, in the same proportion. The engine's losses read soft labels as class
probabilities (``F.cross_entropy`` takes either). timm draws its λ and boxes from NumPy's global
generator, which :meth:`BatchMix.reseed` seeds from (run seed, epoch, process) at every epoch, so
a resumed run mixes its remaining epochs as an uninterrupted one would.
"""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError
from .loader import Batch


class BatchMix:
    """``timm.data.Mixup`` in ``"batch"`` mode as a transform of a :class:`~kdrepro.data.Batch`."""

    def __init__(self, num_classes: int, *, mixup: float = 0.8, cutmix: float = 1.0, prob: float = 1.0,
                 switch_prob: float = 0.5, label_smoothing: float = 0.1):
        from timm.data import Mixup

        if mixup <= 0 and cutmix <= 0:
            raise ConfigError("BatchMix needs mixup > 0 or cutmix > 0 (or no BatchMix at all)")
        self.settings = dict(mixup=mixup, cutmix=cutmix, prob=prob, switch_prob=switch_prob,
                             label_smoothing=label_smoothing, num_classes=num_classes)
        self.mix = Mixup(mixup_alpha=mixup, cutmix_alpha=cutmix, prob=prob, switch_prob=switch_prob, mode="batch",
                         label_smoothing=label_smoothing, num_classes=num_classes)

    def reseed(self, seed: int) -> None:
        np.random.seed(seed % 2 ** 32)

    def __call__(self, batch: Batch) -> Batch:
        if len(batch.y) % 2:
            raise ConfigError(f"Mixup/CutMix pair each image with another: a batch of {len(batch.y)} per process is "
                              "odd; choose an even per-process batch size")
        x, y = self.mix(batch.x, batch.y)
        return Batch(x, y, batch.index)

    def __repr__(self) -> str:  # in a run's fingerprint
        return f"BatchMix({', '.join(f'{k}={v!r}' for k, v in self.settings.items())})"
