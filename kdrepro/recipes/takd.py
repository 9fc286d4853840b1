"""Teacher-Assistant KD's CIFAR recipe (Mirzadeh et al. 2020; the authors' ``train.py``) at each scale.

``full`` is the authors' setting: 200 epochs (their script's default), batch 128, SGD with momentum
0.9 and weight decay 1e-4, no data augmentation (their loader's default), learning rate 0.01
constant for the plain CNNs; for the ResNets 0.1, divided by 10 at half and again at three
quarters of training — the schedule the code means to apply: its first condition
(``epoch < int(epoch / 2.0)``) is never true, so the published ResNet runs started at 0.01, a bug
we do not reproduce. KD at each step of a chain: (1 − λ) · cross-entropy + λ · T² · KL. λ and T
are chosen on a held-out part of the training set (the authors tuned them on the test set).
``medium`` keeps everything but the length and the data; ``smoke`` runs a few steps (CI).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..engine import TrainConfig
from ..errors import ConfigError

PLAIN_FAMILY = ("plain2", "plain4", "plain6", "plain8", "plain10")
RESNET_FAMILY = ("resnet8", "resnet14", "resnet20", "resnet32", "resnet44", "resnet56", "resnet110")


@dataclass(frozen=True)
class TakdRecipe:
    datasets: tuple[str, ...]  # the first one prepared is used
    epochs: int
    teacher: str
    assistants: tuple[str, ...]  # each tried as the assistant of teacher → assistant → student
    student: str
    gap_teachers: tuple[str, ...]  # teachers of growing size, each distilled straight into the student
    grid: tuple[tuple[float, float], ...]  # (λ, T) candidates
    tune_each_pair: bool  # True: choose (λ, T) for every step; False: once, on teacher → student
    train_subset: int | None = None  # None: the whole training set (held-out part included)
    holdout: int = 5000  # training images kept aside to choose (λ, T)
    test_subset: int | None = None
    max_steps_per_epoch: int | None = None
    seeds: tuple[int, ...] = (0,)

    def config(self, model: str, seed: int = 0) -> TrainConfig:
        common = dict(epochs=self.epochs, batch_size=128, optimizer="sgd", momentum=0.9, weight_decay=1e-4,
                      seed=seed, max_steps_per_epoch=self.max_steps_per_epoch)
        if model.startswith("plain"):
            return TrainConfig(lr=0.01, schedule="constant", **common)
        milestones = [round(self.epochs / 2), round(self.epochs * 3 / 4)]
        return TrainConfig(lr=0.1, schedule="step", milestones=milestones, gamma=0.1, **common)


_GRID = tuple((lam, t) for lam in (0.5, 0.9) for t in (2.0, 5.0, 10.0))
_FULL_GRID = tuple((lam, t) for lam in (0.1, 0.3, 0.5, 0.7, 0.9) for t in (1.0, 2.0, 5.0, 10.0, 15.0, 20.0))

RECIPES: dict[str, TakdRecipe] = {
    "smoke": TakdRecipe(("cifar100", "cifar10", "cifar10-jpeg75"), epochs=1, teacher="plain6", assistants=("plain4",),
                        student="plain2", gap_teachers=("plain4", "plain6"), grid=((0.9, 5.0), (0.5, 2.0)),
                        tune_each_pair=False, train_subset=1024, holdout=256, test_subset=500,
                        max_steps_per_epoch=3),
    "medium": TakdRecipe(("cifar10", "cifar100", "cifar10-jpeg75"), epochs=10, teacher="plain10",
                         assistants=("plain4", "plain6", "plain8"), student="plain2",
                         gap_teachers=("plain4", "plain6", "plain8", "plain10"), grid=_GRID, tune_each_pair=False,
                         train_subset=20_000, holdout=5_000),
    "full": TakdRecipe(("cifar10", "cifar100"), epochs=200, teacher="plain10", assistants=("plain4", "plain6", "plain8"),
                       student="plain2", gap_teachers=("plain4", "plain6", "plain8", "plain10"), grid=_FULL_GRID,
                       tune_each_pair=True, seeds=(0, 1, 2)),
}
FAMILIES = {"plain": ("plain10", ("plain4",), "plain2"), "resnet": ("resnet110", ("resnet20",), "resnet8")}


def recipe(scale: str) -> TakdRecipe:
    if scale not in RECIPES:
        raise ConfigError(f"unknown scale {scale!r}; valid scales: {', '.join(RECIPES)}")
    return RECIPES[scale]
