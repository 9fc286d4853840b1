"""Recipes for FitNets on MNIST (Romero et al. 2015, Table 4) at each scale.

``full`` is the authors' setting as their pylearn2 configurations give it: the first 50,000
training images to train on, the last 10,000 to validate, early stopping once the validation
error has not fallen for 100 epochs, the best validation epoch kept. The teacher is trained with
the maxout paper's MNIST recipe (SGD, learning rate divided by 1.00004 at every step, batch 128;
``pylearn2/scripts/papers/maxout/mnist.yaml``) at a learning rate of 0.02 instead of 0.05: from
PyTorch's default initialisation (see :mod:`kdrepro.models.maxout`) 0.05 diverged in its first 150
steps, 0.02 did not. The FitNets with RMSProp (learning rate
0.0005, decay 0.9, batch 128; ``yaml/MNIST_fitnet_valid.yaml``). Stage 1 of hint training stops
on the validation hint loss, as the authors' ``fitnets_training.py`` does. ``medium`` keeps data,
nets and optimisers but trains a few epochs each (about an hour on one core of a 2-core CPU), still
keeping the best validation epoch; ``smoke`` runs a few steps on a slice (CI).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..engine import TrainConfig
from . import pick

STEPS_PER_EPOCH = 391  # 50,000 images in batches of 128
TEACHER_DECAY = 1.00004 ** -STEPS_PER_EPOCH  # pylearn2's ExponentialDecay(1.00004) per step, as a per-epoch factor
MAX_EPOCHS = 1000  # early stopping ends the full runs; this only bounds them


@dataclass(frozen=True)
class FitNetsMnistRecipe:
    teacher: TrainConfig
    student: TrainConfig  # standard backprop, KD, and stage 2 of hint training
    hints: TrainConfig  # stage 1: the guided layers and the regressor on the hint loss
    train_size: int = 50_000  # the rest of the 60,000 training images validate
    train_subset: int | None = None  # smoke: fewer images, for speed
    temperature: float = 3.0  # τ of the KD stage (the paper's)
    lambda_start: float = 4.0  # the KD stage's soft weight, annealed linearly…
    lambda_end: float = 1.0
    anneal_epochs: int = 150  # …over the first 150 epochs (the paper's)


def _teacher(**kw) -> TrainConfig:  # momentum: the maxout recipe raises it from 0.5 to 0.7 over 250 epochs
    return TrainConfig(batch_size=128, optimizer="sgd", lr=0.02, momentum=0.5, schedule="exponential",
                       gamma=TEACHER_DECAY, final_lr_factor=1e-6 / 0.02, **kw)


def _fitnet(**kw) -> TrainConfig:
    return TrainConfig(batch_size=128, optimizer="rmsprop", lr=5e-4, alpha=0.9, schedule="constant", **kw)


RECIPES: dict[str, FitNetsMnistRecipe] = {
    "smoke": FitNetsMnistRecipe(
        teacher=_teacher(epochs=2, max_steps_per_epoch=4), student=_fitnet(epochs=2, max_steps_per_epoch=4),
        hints=_fitnet(epochs=1, max_steps_per_epoch=4, monitor="loss"), train_subset=2000, anneal_epochs=2),
    "medium": FitNetsMnistRecipe(
        teacher=_teacher(epochs=6), student=_fitnet(epochs=6), hints=_fitnet(epochs=2, monitor="loss"),
        anneal_epochs=4),
    "full": FitNetsMnistRecipe(
        teacher=_teacher(epochs=MAX_EPOCHS, patience=100), student=_fitnet(epochs=MAX_EPOCHS, patience=100),
        hints=_fitnet(epochs=MAX_EPOCHS, patience=100, monitor="loss")),
}


def recipe(scale: str) -> FitNetsMnistRecipe:
    return pick(RECIPES, scale)
