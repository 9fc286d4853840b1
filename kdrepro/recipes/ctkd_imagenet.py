"""CTKD's ImageNet-1k row: ResNet34 → ResNet18, as the official script trains it
(``scripts/run_imagenet_distill.sh`` with ``train_student.py``'s defaults, read first-hand in
zhengli97/CTKD): 120 epochs, SGD with momentum 0.9, batch 256, learning rate 0.1 divided by 10 at
epochs 30, 60 and 90, weight decay 1e-4 (the temperature module included, as it sits in the same
optimiser); cross-entropy and KL weighted 1 and 1 (``-r 1 -a 1``); plain KD at τ = 4; CTKD with the
global temperature in [1, 21] and its curriculum over 5 epochs (``--decay_loops 5``). The teacher is
torchvision's pretrained ResNet34 (``IMAGENET1K_V1``, 73.3 %), which timm serves as ``resnet34.tv_in1k``;
the README's own teacher reaches 73.96 % (its file is shared on Baidu Yun only): a different teacher,
which the chapter says beside the numbers;
the student, torchvision's ResNet18 architecture (timm's ``resnet18`` without zero-initialised
residual branches), trained from scratch. Augmentation: random resized crop 224 and flip; evaluation
on a 224 centre crop of the image resized to 256 (the standard pipeline; the repository's
``dataset/imagenet.py`` was not read, so this is second-hand).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..engine import TrainConfig
from . import CHECKPOINT_EVERY


@dataclass(frozen=True)
class CtkdImageNetRecipe:
    dataset: str = "imagenet"
    teacher: str = "resnet34.tv_in1k"  # torchvision's weights (73.3 % top-1, torchvision's model card)
    student: str = "resnet18"
    epochs: int = 120
    batch_size: int = 256
    lr: float = 0.1
    milestones: tuple[int, ...] = (30, 60, 90)
    weight_decay: float = 1e-4
    temperature: float = 4.0  # plain KD's τ
    kd_weight: float = 1.0  # -a 1
    ce_weight: float = 1.0  # -r 1
    curriculum_epochs: int = 5  # --decay_loops 5 (CIFAR: 10)
    workers: int = 8  # DataLoader workers per process (the script's 32 shared by 8 GPUs: 4 each)
    seeds: tuple[int, ...] = (0,)

    def config(self, seed: int = 0) -> TrainConfig:
        return TrainConfig(epochs=self.epochs, batch_size=self.batch_size, optimizer="sgd", lr=self.lr, momentum=0.9,
                           weight_decay=self.weight_decay, schedule="step", milestones=list(self.milestones),
                           gamma=0.1, seed=seed, checkpoint_every=CHECKPOINT_EVERY)


RECIPE = CtkdImageNetRecipe()
