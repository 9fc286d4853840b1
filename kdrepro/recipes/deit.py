"""DeiT's recipe at each scale.

``full`` is the paper's (:class:`DeitImageNetRecipe`): ImageNet-1k, timm's DeiT models, 300
epochs, AdamW (lr 5e-4 × batch / 512, weight decay 0.05), batch 1024, cosine schedule with 5
warm-up epochs down to 1e-5, drop path 0.1, a RegNetY-16GF teacher (82.9 %, second-hand), τ = 3, λ = 0.1, and
the paper's augmentation (RandAugment, random erasing, Mixup, CutMix, label smoothing, repeated
augmentation). ``medium`` trains a small ViT on 32×32 images (4×4 patches) from a CIFAR CNN teacher of
the zoo, with AdamW, a cosine schedule and crop + flip: it checks the paper's *claims*, which
survive the change of scale, not its ImageNet numbers. ``smoke`` runs a few steps (CI).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..engine import TrainConfig
from . import CHECKPOINT_EVERY
from ..errors import ConfigError
from . import pick


@dataclass(frozen=True)
class DeitRecipe:
    datasets: tuple[str, ...]  # the first one prepared is used
    teacher: str  # a zoo CNN, trained by kdrepro.training.teachers with the CIFAR recipe of the same scale
    student: dict = field(default_factory=dict)  # ViT size: depth, embed_dim, num_heads
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


@dataclass(frozen=True)
class DeitImageNetRecipe:
    """The paper's ImageNet-1k setting. Every value is the official ``main.py``'s default
    (facebookresearch/deit, read first-hand) unless noted."""

    dataset: str = "imagenet"
    teacher: str = "regnety_160.deit_in1k"  # the official regnety_160-a5fe301d.pth (82.9 %, second-hand)
    sizes: tuple[str, ...] = ("tiny",)  # DeiT-Ti by default; "small" and "base" are Table 3's other columns
    epochs: int = 300
    batch_size: int = 1024  # the paper's; main.py takes it per GPU (e.g. 128 × 8)
    base_lr: float = 5e-4  # per 512 images: lr = 5e-4 × batch / 512
    weight_decay: float = 0.05
    warmup_epochs: float = 5.0
    min_lr: float = 1e-5
    drop_path: float = 0.1
    image_size: int = 224
    crop_pct: float = 0.875  # evaluation: resize to 256, centre crop 224
    rand_augment: str = "rand-m9-mstd0.5-inc1"
    re_prob: float = 0.25  # random erasing, "pixel" mode, one box
    mixup: float = 0.8
    cutmix: float = 1.0
    smoothing: float = 0.1
    repeats: int = 3  # repeated augmentation
    temperature: float = 3.0  # soft distillation: the paper's τ and λ (main.py's defaults are 1.0 and 0.5)
    lam: float = 0.1
    kl_normalisation: str = "elements"
    workers: int = 10  # DataLoader workers per process (main.py's num_workers)
    seeds: tuple[int, ...] = (0,)
    # beyond the official code: "store" records the teacher's top-``store_k`` once per seed on the run's
    # exact (mixed) batches and trains the distilled students from it (kdrepro.stores.batches)
    teacher_source: str = "live"
    store_k: int = 100

    def __post_init__(self):
        if self.teacher_source not in ("live", "store"):
            raise ConfigError(f"unknown teacher_source {self.teacher_source!r}; valid: live (the teacher run at "
                              "every step), store (its top-K recorded once per seed on the run's batches)")

    @property
    def lr(self) -> float:
        return self.base_lr * self.batch_size / 512

    def config(self, seed: int = 0) -> TrainConfig:
        # decay_exempt="timm": main.py's create_optimizer (timm, filter_bias_and_bn) spares biases, norms,
        # pos_embed, cls_token and dist_token the weight decay
        return TrainConfig(epochs=self.epochs, batch_size=self.batch_size, optimizer="adamw", lr=self.lr,
                           weight_decay=self.weight_decay, schedule="cosine", warmup_epochs=self.warmup_epochs,
                           final_lr_factor=self.min_lr / self.lr, decay_exempt="timm", seed=seed,
                           checkpoint_every=CHECKPOINT_EVERY)


FULL = DeitImageNetRecipe()


def recipe(scale: str) -> DeitRecipe | DeitImageNetRecipe:
    return pick({**RECIPES, "full": FULL}, scale)
