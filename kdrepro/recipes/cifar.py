"""The CIFAR recipe of the CRD benchmark (Tian et al. 2020, RepDistiller) at each scale.

``full`` is the published setting: CIFAR-100, 240 epochs, batch 64, SGD (momentum 0.9,
weight decay 5e-4), learning rate 0.05 (0.01 for MobileNet/ShuffleNet students) divided by
10 after epochs 150, 180 and 210, random crop (4-pixel padding) and horizontal flip; KD at
T = 4 (0.9 on the KL term, 0.1 on cross-entropy); FitNet 100 × hint MSE; AT 1000 × the AT
loss; AB 30 epochs of the AB loss alone before the 240. ``medium`` keeps every setting but
the length (the same schedule shrunk in proportion), the size of the pair and the amount
of data, so one run takes minutes on a GPU and well under an hour on a 2-core CPU;
``smoke`` runs a few steps (CI).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..engine import TrainConfig
from ..errors import ConfigError

LIGHT_STUDENTS = ("mobilenetv2", "shufflenetv1", "shufflenetv2")  # trained at lr 0.01 in the table

# The published same-architecture pairs (CRD Table 1) and cross-architecture pairs (Table 2).
SAME_PAIRS = (("wrn_40_2", "wrn_16_2"), ("wrn_40_2", "wrn_40_1"), ("resnet56", "resnet20"),
              ("resnet110", "resnet20"), ("resnet110", "resnet32"), ("resnet32x4", "resnet8x4"),
              ("vgg13", "vgg8"))
CROSS_PAIRS = (("vgg13", "mobilenetv2"), ("resnet50", "mobilenetv2"), ("resnet50", "vgg8"),
               ("resnet32x4", "shufflenetv1"), ("resnet32x4", "shufflenetv2"), ("wrn_40_2", "shufflenetv1"))


def step_config(epochs: int, lr: float = 0.05, **kw) -> TrainConfig:
    """RepDistiller's schedule with its milestones (150, 180, 210 of 240) scaled to ``epochs``."""
    milestones = [round(epochs * m / 240) for m in (150, 180, 210)]
    return TrainConfig(epochs=epochs, batch_size=64, optimizer="sgd", lr=lr, momentum=0.9, weight_decay=5e-4,
                       schedule="step", milestones=milestones, gamma=0.1, **kw)


@dataclass(frozen=True)
class CifarRecipe:
    datasets: tuple[str, ...]  # the first one prepared is used
    teacher_epochs: int
    student_epochs: int
    init_epochs: int  # AB's initialisation stage, and FitNets' hint stage in its two-stage form
    pairs: tuple[tuple[str, str], ...]  # (teacher, student) pairs of the same-pairs table
    seeds: tuple[int, ...] = (0,)
    train_subset: int | None = None  # None: the whole training set
    test_subset: int | None = None  # None: the whole test set (smoke evaluates on a slice)
    max_steps_per_epoch: int | None = None
    temperature: float = 4.0
    kd_weight: float = 0.9
    ce_weight: float = 0.1
    fitnet_weight: float = 100.0
    hint_layer: int = 2
    at_weight: float = 1000.0
    ab_margin: float = 1.0
    crop_padding: int = 4
    store_k: int = 10  # kd_store: the teacher's top-K kept (TinyViT's K on ImageNet; all of CIFAR-10's classes)
    store_seed: int = 0  # kd_store: the seed of the replayed views, shared by every student of the store

    def teacher_config(self, seed: int = 0) -> TrainConfig:
        return step_config(self.teacher_epochs, seed=seed, max_steps_per_epoch=self.max_steps_per_epoch)

    def student_config(self, student: str, seed: int = 0) -> TrainConfig:
        lr = 0.01 if student in LIGHT_STUDENTS else 0.05
        return step_config(self.student_epochs, lr=lr, seed=seed, max_steps_per_epoch=self.max_steps_per_epoch)

    def init_config(self, student: str, seed: int = 0) -> TrainConfig:
        """The initialisation stage: RepDistiller keeps the learning rate constant there."""
        lr = 0.01 if student in LIGHT_STUDENTS else 0.05
        return TrainConfig(epochs=self.init_epochs, batch_size=64, optimizer="sgd", lr=lr, momentum=0.9,
                           weight_decay=5e-4, schedule="constant", seed=seed,
                           max_steps_per_epoch=self.max_steps_per_epoch)


_DATA = ("cifar100", "cifar10", "cifar10-jpeg75")

RECIPES: dict[str, CifarRecipe] = {
    "smoke": CifarRecipe(_DATA, teacher_epochs=1, student_epochs=1, init_epochs=1,
                         pairs=(("resnet14", "resnet8"),), train_subset=1024, test_subset=500,
                         max_steps_per_epoch=4),
    "medium": CifarRecipe(_DATA, teacher_epochs=15, student_epochs=10, init_epochs=2,
                          pairs=(("resnet20", "resnet8"),), seeds=(0, 1, 2), train_subset=25_000),
    "full": CifarRecipe(("cifar100",), teacher_epochs=240, student_epochs=240, init_epochs=30,
                        pairs=SAME_PAIRS, seeds=(0, 1, 2)),
}


def recipe(scale: str) -> CifarRecipe:
    if scale not in RECIPES:
        raise ConfigError(f"unknown scale {scale!r}; valid scales: {', '.join(RECIPES)}")
    return RECIPES[scale]
