"""TinyViT's ImageNet recipes, the TinyViT chapter's ``full`` scale.

Every value is read first-hand in microsoft/Cream ``TinyViT/`` (``config.py``'s defaults, the
``configs/22k_distill``, ``configs/22kto1k`` and ``configs/1k`` files, ``main.py``,
``docs/TRAINING.md``, ``docs/SAVE_TEACHER_LOGITS.md``):

- **in21k** (the README's 80.7 / 83.2 / 84.8 %): *pretraining distillation* on ImageNet-22k
  (21,841 classes) from the stored top-100 probabilities of CLIP-ViT-L/14-22k — 90 epochs, the
  soft cross-entropy with the teacher's distribution only (no labels; Mixup and CutMix off), 4
  machines × 8 GPUs × 128 = batch 4,096, AdamW with lr 2.5e-4 per 512 images, 5 warm-up epochs,
  weight decay 0.01 — then *fine-tuning* on ImageNet-1k: 30 epochs, batch 1,024, lr 2.5e-4 per 512
  images down to 1e-5 per 512, 5 warm-up epochs, weight decay 1e-8, layer-wise lr decay 0.8,
  BatchNorm statistics frozen (``EVAL_BN_WHEN_TRAINING``), label smoothing 0.1, no Mixup/CutMix.
- **in1k** (79.1 / 81.5 / 83.1 %): trained *from scratch* on ImageNet-1k without distillation —
  300 epochs, batch 1,024, lr 5e-4 per 512 images down to 5e-6 per 512, 20 warm-up epochs, weight
  decay 0.05, Mixup 0.8 / CutMix 1.0 with label smoothing 0.1.

Common to all (``config.py``): AdamW (β 0.9, 0.999, ε 1e-8), cosine schedule stepped per iteration,
gradients clipped at global norm 5, timm's training transform (``rand-m9-mstd0.5-inc1``, random
erasing 0.25 in "pixel" mode, bicubic), evaluation on a 224 centre crop of the image resized to 256
(bicubic), weight decay spared for biases, 1-d parameters and ``attention_biases``. ``main.py``
scales every learning rate by (total batch) / 512. Drop path per model and stage below.

One difference: the official warm-up starts from 5e-7 per 512 images (``WARMUP_LR``), ours from 0 —
the first step's learning rate differs by that much.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..engine import TrainConfig
from . import CHECKPOINT_EVERY
from ..errors import ConfigError

SIZES = ("5m", "11m", "21m")
ROUTES = ("in21k", "in1k")  # the registry's rows: pretraining distillation then fine-tuning; from scratch


@dataclass(frozen=True)
class Stage:
    """One training stage of the official configs; learning rates are per 512 images (``main.py``)."""

    dataset: str
    epochs: int
    batch_size: int
    base_lr: float
    warmup_epochs: float
    weight_decay: float
    drop_path: tuple[float, float, float]  # TinyViT-5M, -11M, -21M
    min_lr: float = 5e-6
    layer_decay: float | None = None
    bn_eval: bool = False
    mixup: float = 0.0
    cutmix: float = 0.0
    smoothing: float = 0.1  # label smoothing (the distillation stage has no labels: unused there)

    @property
    def lr(self) -> float:
        return self.base_lr * self.batch_size / 512

    def drop_path_of(self, size: str) -> float:
        return self.drop_path[SIZES.index(size)]

    def config(self, seed: int = 0) -> TrainConfig:
        return TrainConfig(epochs=self.epochs, batch_size=self.batch_size, optimizer="adamw", lr=self.lr,
                           weight_decay=self.weight_decay, decay_exempt="timm", schedule="cosine",
                           warmup_epochs=self.warmup_epochs, final_lr_factor=self.min_lr / self.base_lr,
                           grad_clip=5.0, layer_decay=self.layer_decay, bn_eval=self.bn_eval, seed=seed,
                           checkpoint_every=CHECKPOINT_EVERY)


@dataclass(frozen=True)
class TinyVitImageNetRecipe:
    size: str = "5m"  # which TinyViT (timm's tiny_vit_<size>_224)
    routes: tuple[str, ...] = ROUTES
    teacher: str = "clip_vit_large_patch14_22k"  # the official teacher file (wkcn/TinyViT-model-zoo)
    k: int = 100  # DISTILL.LOGITS_TOPK
    store_seed: int = 0  # the seed every view of the pretraining is replayed from
    workers: int = 8  # DataLoader workers per process (DATA.NUM_WORKERS)
    teacher_batch: int = 128  # per process, the teacher pass's (SAVE_TEACHER_LOGITS.md: --batch-size 128)
    seeds: tuple[int, ...] = (0,)
    pretrain: Stage = field(default_factory=lambda: Stage("imagenet21k", 90, 4096, 2.5e-4, 5, 0.01, (0.0, 0.0, 0.1)))
    finetune: Stage = field(default_factory=lambda: Stage("imagenet", 30, 1024, 2.5e-4, 5, 1e-8, (0.0, 0.0, 0.1),
                                                          min_lr=1e-5, layer_decay=0.8, bn_eval=True))
    scratch: Stage = field(default_factory=lambda: Stage("imagenet", 300, 1024, 5e-4, 20, 0.05, (0.0, 0.1, 0.2),
                                                         mixup=0.8, cutmix=1.0))

    def __post_init__(self):
        if self.size not in SIZES:
            raise ConfigError(f"unknown TinyViT size {self.size!r}; valid: {', '.join(SIZES)}")
        unknown = [r for r in self.routes if r not in ROUTES]
        if unknown or not self.routes:
            raise ConfigError(f"unknown route(s) {', '.join(map(repr, unknown)) or '(none given)'}; valid: "
                              f"{', '.join(ROUTES)} (in21k: pretraining distillation on ImageNet-22k, then "
                              "fine-tuning on ImageNet-1k; in1k: from scratch on ImageNet-1k)")

    @property
    def model(self) -> str:
        return f"tiny_vit_{self.size}_224"


FULL = TinyVitImageNetRecipe()
