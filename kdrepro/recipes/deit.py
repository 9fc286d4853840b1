"""DeiT's recipe at each scale.

``full`` is the paper's: ImageNet-1k, 300 epochs, AdamW (lr 5e-4 × batch / 512, weight decay
0.05), batch 1024, cosine schedule with 5 warm-up epochs, a RegNetY-16GF teacher, τ = 3, λ = 0.1,
and the heavy augmentation of the paper (RandAugment, Mixup, CutMix, random erasing, repeated
augmentation). kdrepro's data pipeline has no ImageNet yet, so ``full`` refuses with that
message. ``medium`` trains a small ViT on 32×32 images (4×4 patches) from a CIFAR CNN teacher of
the zoo, with AdamW, a cosine schedule and crop + flip: it checks the paper's *claims*, which
survive the change of scale, not its ImageNet numbers. ``smoke`` runs a few steps (CI).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..engine import TrainConfig
from . import pick


@dataclass(frozen=True)
class DeitRecipe:
    datasets: tuple[str, ...]  # the first one prepared is used
    teacher: str  # a zoo CNN, trained by kdrepro.training.teachers with the CIFAR recipe of the same scale
    student: dict = field(default_factory=dict)  # CifarViT size: depth, embed_dim, num_heads
    epochs: int = 10
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 0.05
    warmup_epochs: float = 1.0
    train_subset: int | None = None
    test_subset: int | None = None
    max_steps_per_epoch: int | None = None
    seeds: tuple[int, ...] = (0,)
    temperature: float = 3.0  # soft distillation, the paper's τ and λ
    lam: float = 0.1
    kl_normalisation: str = "elements"  # the official code's (Table 3); "batch": the chapter's ablation
    crop_padding: int = 4

    def config(self, seed: int = 0) -> TrainConfig:
        return TrainConfig(epochs=self.epochs, batch_size=self.batch_size, optimizer="adamw", lr=self.lr,
                           weight_decay=self.weight_decay, schedule="cosine", warmup_epochs=self.warmup_epochs,
                           seed=seed, max_steps_per_epoch=self.max_steps_per_epoch)


_DATA = ("cifar100", "cifar10", "cifar10-jpeg75")
RECIPES: dict[str, DeitRecipe] = {
    "smoke": DeitRecipe(_DATA, teacher="resnet14", student=dict(depth=2, embed_dim=48, num_heads=3),
                        epochs=1, batch_size=64, train_subset=1024, test_subset=500, max_steps_per_epoch=3,
                        warmup_epochs=0.0),
    # medium: each run within ~15 min on one CPU thread (this project's 2-core CPU runs two at a time)
    "medium": DeitRecipe(_DATA, teacher="resnet20", student=dict(depth=4, embed_dim=64, num_heads=2),
                         epochs=8, train_subset=20_000, warmup_epochs=1.0),
}
FULL_MESSAGE = ("full scale is the paper's ImageNet-1k setting (300 epochs, RegNetY-16GF teacher), which kdrepro's "
                "data pipeline does not provide yet: run the medium scale, or train with the official DeiT code")


def recipe(scale: str) -> DeitRecipe:
    return pick(RECIPES, scale, FULL_MESSAGE)
