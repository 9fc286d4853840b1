"""DINO's recipe at each scale.

``full`` (:class:`DinoImageNetRecipe`) is the official repository's vanilla ViT-S/16 run on
ImageNet-1k, the one its README gives a result for (100 epochs on 8 GPUs: 69.3 % k-NN, ~73.8 %
linear); every value is ``main_dino.py``'s default, read first-hand. ``medium`` trains a small ViT
(4×4 patches) on 32×32 images with the same algorithm and schedules, shorter; ``smoke`` runs a few
steps (CI).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from ..data.multicrop import MultiCrop
from ..engine import TrainConfig
from . import CHECKPOINT_EVERY
from ..errors import ConfigError
from . import pick


@dataclass(frozen=True)
class DinoRecipe:
    datasets: tuple[str, ...]  # the first one prepared is used
    backbone: dict = field(default_factory=dict)  # ViT size: depth, embed_dim, num_heads
    out_dim: int = 4096
    hidden_dim: int = 512
    bottleneck_dim: int = 128
    crops: MultiCrop = MultiCrop()
    epochs: int = 30
    batch_size: int = 256
    lr: float = 5e-4  # per 256 images (the paper's linear scaling rule)
    weight_decay: float = 0.04
    warmup_epochs: float = 3.0
    student_temp: float = 0.1
    teacher_temp: float = 0.07
    teacher_temp_start: float = 0.04
    teacher_temp_warmup_epochs: float = 10.0
    momentum: float = 0.996
    train_subset: int | None = None
    test_subset: int | None = None
    knn_memory: int | None = None  # training images the k-NN vote uses (None: all)
    max_steps_per_epoch: int | None = None
    seed: int = 0

    def config(self, seed: int | None = None) -> TrainConfig:
        return TrainConfig(epochs=self.epochs, batch_size=self.batch_size, optimizer="adamw",
                           lr=self.lr * self.batch_size / 256, weight_decay=self.weight_decay, schedule="cosine",
                           warmup_epochs=self.warmup_epochs, final_lr_factor=1e-3,
                           seed=self.seed if seed is None else seed, max_steps_per_epoch=self.max_steps_per_epoch,
                           grad_clip=3.0)


_DATA = ("cifar100", "cifar10", "cifar10-jpeg75")
RECIPES: dict[str, DinoRecipe] = {
    "smoke": DinoRecipe(_DATA, backbone=dict(depth=2, embed_dim=48, num_heads=3), out_dim=256, hidden_dim=128,
                        bottleneck_dim=64, crops=MultiCrop(n_local=2), epochs=2, batch_size=32, warmup_epochs=0.0,
                        teacher_temp_warmup_epochs=1.0, train_subset=512, test_subset=256, knn_memory=512,
                        max_steps_per_epoch=3),
    # medium: each run within ~15 min on one CPU thread; 470 steps in all, so the teacher's EMA starts
    # at 0.99 (an averaging horizon of ~100 steps) rather than the paper's 0.996 (~250 steps, over half the run)
    "medium": DinoRecipe(_DATA, backbone=dict(depth=4, embed_dim=64, num_heads=2), out_dim=1024, hidden_dim=256,
                         bottleneck_dim=64, crops=MultiCrop(n_local=2), epochs=6, batch_size=128, warmup_epochs=1.0,
                         teacher_temp_warmup_epochs=2.0, momentum=0.99, train_subset=10_000, test_subset=5_000),
}


@dataclass(frozen=True)
class DinoImageNetRecipe:
    """The official vanilla run (facebookresearch/dino README: ``main_dino.py --arch deit_small`` on one
    8-GPU node, every other argument at its default, read first-hand in ``main_dino.py``); ``BOOSTED``
    is the README's longer run."""

    name: str = "vanilla"  # which of the README's runs: its setting in the registry is dino-<name>-<epochs>
    dataset: str = "imagenet"
    model: str = "vit_small_patch16_224"  # DINO's vit_small (DeiT-S/16): timm's, 224-px position grid
    out_dim: int = 65536
    hidden_dim: int = 2048
    bottleneck_dim: int = 256
    norm_last_layer: bool = True
    crops: MultiCrop = MultiCrop(global_size=224, local_size=96, n_local=8)  # main.py: 8 local crops
    epochs: int = 100
    batch_size: int = 512  # 64 per GPU × 8
    lr: float = 5e-4  # per 256 images: 1e-3 at batch 512
    min_lr: float = 1e-6
    warmup_epochs: float = 10.0
    weight_decay: float = 0.04  # cosine to weight_decay_end, biases and norms exempt
    weight_decay_end: float = 0.4
    clip_grad: float = 3.0  # per parameter, as utils.clip_gradients
    freeze_last_layer: int = 1  # epochs with the head's last layer frozen
    drop_path: float = 0.1
    student_temp: float = 0.1
    teacher_temp: float = 0.04  # the vanilla run: 0.04 throughout (the "boosted" 300-epoch run warms to 0.07)
    teacher_temp_start: float = 0.04
    teacher_temp_warmup_epochs: float = 0.0
    momentum: float = 0.996
    workers: int = 10  # DataLoader workers per process
    knn_k: int = 20  # eval_knn.py: weighted 20-NN, T = 0.07, features of the teacher's backbone
    knn_temperature: float = 0.07
    linear_epochs: int = 100  # eval_linear.py: SGD, lr 0.001 per 256, momentum 0.9, no weight decay,
    linear_batch_size: int = 1024  # cosine to 0, the class tokens of the last 4 blocks
    linear_lr: float = 1e-3
    linear_blocks: int = 4
    seed: int = 0

    def config(self, seed: int | None = None) -> TrainConfig:
        lr = self.lr * self.batch_size / 256
        return TrainConfig(epochs=self.epochs, batch_size=self.batch_size, optimizer="adamw", lr=lr,
                           weight_decay=self.weight_decay, weight_decay_end=self.weight_decay_end,
                           decay_exempt="bias_and_norm", schedule="cosine", warmup_epochs=self.warmup_epochs,
                           final_lr_factor=self.min_lr / lr, grad_clip=self.clip_grad, clip_per_parameter=True,
                           seed=self.seed if seed is None else seed, checkpoint_every=CHECKPOINT_EVERY)

    def linear_config(self) -> TrainConfig:
        lr = self.linear_lr * self.linear_batch_size / 256
        return TrainConfig(epochs=self.linear_epochs, batch_size=self.linear_batch_size, optimizer="sgd", lr=lr,
                           momentum=0.9, weight_decay=0.0, schedule="cosine", seed=self.seed,
                           checkpoint_every=CHECKPOINT_EVERY)


FULL = DinoImageNetRecipe()
# The README's "boosting DINO performance" run (read first-hand): 300 epochs, the teacher's temperature
# warmed from 0.04 to 0.07 over 30 epochs, the head's last layer not weight-normalised, on 16 GPUs
# (2 nodes × 8, 64 images each: batch 1024); "should reach 73.3% on k-NN eval and ~76.1% on linear eval".
BOOSTED = replace(FULL, name="boosted", epochs=300, batch_size=1024, teacher_temp=0.07,
                  teacher_temp_warmup_epochs=30.0, norm_last_layer=False)
FULL_RUNS = {"vanilla": FULL, "boosted": BOOSTED}


def recipe(scale: str, run: str = "vanilla") -> DinoRecipe | DinoImageNetRecipe:
    """The scale's recipe; at full, the README's ``run`` (``vanilla`` or ``boosted``)."""
    if scale == "full" and run not in FULL_RUNS:
        raise ConfigError(f"unknown DINO run {run!r}; valid: {', '.join(FULL_RUNS)} (the official README's two)")
    return pick({**RECIPES, "full": FULL_RUNS.get(run)}, scale)
