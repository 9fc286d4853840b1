"""Deep Mutual Learning's CIFAR-100 recipe (Zhang et al. 2018, Section 4.1) at each scale.

``full`` is the paper's setting: CIFAR-100, 200 epochs, batch 64, SGD with Nesterov momentum 0.9,
learning rate 0.1 divided by 10 every 60 epochs, random crop and flip. The paper does not state
a weight decay; we use 5e-4, as the CIFAR reimplementations of DML do (and say so in the
chapter). ``medium`` keeps the optimiser and schedule shrunk in proportion, on resnet8 peers and
half the training images; ``smoke`` runs a few steps (CI).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..engine import TrainConfig
from ..errors import ConfigError

# DML Table 1's pairs (network 1, network 2)
PAPER_PAIRS = (("resnet32", "resnet32"), ("wrn_28_10", "resnet32"), ("mobilenet", "resnet32"),
               ("mobilenet", "mobilenet"), ("wrn_28_10", "mobilenet"), ("wrn_28_10", "wrn_28_10"))


@dataclass(frozen=True)
class DmlRecipe:
    datasets: tuple[str, ...]  # the first one prepared is used
    epochs: int
    pairs: tuple[tuple[str, str], ...]
    peer_counts: tuple[int, ...]  # cohorts of identical networks for the "more peers" figure
    seeds: tuple[int, ...] = (0,)
    train_subset: int | None = None
    test_subset: int | None = None
    max_steps_per_epoch: int | None = None
    crop_padding: int = 4

    def config(self, seed: int = 0) -> TrainConfig:
        """SGD, Nesterov 0.9, lr 0.1 ÷ 10 every 60 of 200 epochs (milestones scaled to ``epochs``)."""
        milestones = [round(self.epochs * m / 200) for m in (60, 120, 180)]
        return TrainConfig(epochs=self.epochs, batch_size=64, optimizer="sgd", lr=0.1, momentum=0.9, nesterov=True,
                           weight_decay=5e-4, schedule="step", milestones=milestones, gamma=0.1, seed=seed,
                           max_steps_per_epoch=self.max_steps_per_epoch)


_DATA = ("cifar100", "cifar10", "cifar10-jpeg75")

RECIPES: dict[str, DmlRecipe] = {
    "smoke": DmlRecipe(_DATA, epochs=1, pairs=(("resnet8", "resnet8"),), peer_counts=(2, 3), train_subset=1024,
                       test_subset=500, max_steps_per_epoch=4),
    "medium": DmlRecipe(_DATA, epochs=10, pairs=(("resnet8", "resnet8"),), peer_counts=(2,), train_subset=25_000),
    "full": DmlRecipe(("cifar100",), epochs=200, pairs=PAPER_PAIRS, peer_counts=(2, 3, 4, 5), seeds=(0, 1, 2)),
}


def recipe(scale: str) -> DmlRecipe:
    if scale not in RECIPES:
        raise ConfigError(f"unknown scale {scale!r}; valid scales: {', '.join(RECIPES)}")
    return RECIPES[scale]
