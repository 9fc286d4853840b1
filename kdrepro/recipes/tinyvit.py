"""TinyViT's fast-distillation recipe at each scale.

``full`` is the paper's (:mod:`kdrepro.recipes.tinyvit_imagenet`): ImageNet-22k pretraining distillation
(90 epochs from the stored top-100 of CLIP-ViT-L/14-22k) then ImageNet-1k fine-tuning, and training from
scratch on ImageNet-1k (300 epochs). ``medium`` distils a zoo CNN (trained by :mod:`kdrepro.training.teachers`) into TinyViT-5M's
shape on 32×32 images, from the live teacher and from the store at several K; ``smoke`` runs a
few steps of a very small TinyViT (CI).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..engine import TrainConfig
from . import pick
from .tinyvit_imagenet import FULL, TinyVitImageNetRecipe


@dataclass(frozen=True)
class TinyVitRecipe:
    datasets: tuple[str, ...]  # the first one prepared is used
    teacher: str  # a zoo CNN, trained by kdrepro.training.teachers with the CIFAR recipe of the same scale
    student: dict = field(default_factory=dict)  # tinyvit_5m's sizes (empty: TinyViT-5M's)
    epochs: int = 15
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 0.05
    warmup_epochs: float = 1.0
    train_subset: int | None = None
    test_subset: int | None = None
    max_steps_per_epoch: int | None = None
    seeds: tuple[int, ...] = (0, 1)  # the live teacher and the full store; the other K take the first
    store_seed: int = 0  # the augmentation seed every student replays (one store serves them all)
    crop_padding: int = 4
    timing_steps: int = 20  # the side-by-side timing: steps per measurement, after 2 warm-up steps
    timing_repeats: int = 3

    def ks(self, num_classes: int) -> tuple[int, ...]:
        """The K of the top-K ablation, densest last: 1, about a tenth of the classes, all of them."""
        return tuple(sorted({1, max(1, round(num_classes / 10)) if num_classes > 10 else 3, num_classes}))

    def config(self, seed: int = 0) -> TrainConfig:
        return TrainConfig(epochs=self.epochs, batch_size=self.batch_size, optimizer="adamw", lr=self.lr,
                           weight_decay=self.weight_decay, schedule="cosine", warmup_epochs=self.warmup_epochs,
                           seed=seed, max_steps_per_epoch=self.max_steps_per_epoch, grad_clip=5.0)


_DATA = ("cifar100", "cifar10", "cifar10-jpeg75")
RECIPES: dict[str, TinyVitRecipe] = {
    "smoke": TinyVitRecipe(_DATA, teacher="resnet14",
                           student=dict(embed_dims=(16, 32, 32, 64), depths=(1, 1, 1, 1), num_heads=(1, 2, 2, 4)),
                           epochs=2, batch_size=64, train_subset=512, test_subset=500, max_steps_per_epoch=3,
                           warmup_epochs=0.0, seeds=(0, 1), timing_steps=3, timing_repeats=1),
    # medium: a 4-stage TinyViT narrower than 5M's (0.55 M parameters), each run within ~10 min on one CPU thread
    "medium": TinyVitRecipe(_DATA, teacher="resnet20", epochs=8, train_subset=15_000,
                            student=dict(embed_dims=(32, 64, 96, 128), depths=(1, 1, 2, 1), num_heads=(1, 2, 3, 4))),
}
def recipe(scale: str) -> TinyVitRecipe | TinyVitImageNetRecipe:
    """The scale's recipe; ``full`` is the paper's ImageNet setting (:mod:`kdrepro.recipes.tinyvit_imagenet`)."""
    return pick({**RECIPES, "full": FULL}, scale)
