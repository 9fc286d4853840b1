"""Learning-rate and weight-decay schedules as pure functions of training progress (nothing to checkpoint)."""

from __future__ import annotations

import math

from .config import TrainConfig


def lr_factor(config: TrainConfig, epoch_progress: float) -> float:
    """The multiplier of ``config.lr`` after ``epoch_progress`` epochs (fractional)."""
    if config.warmup_epochs > 0 and epoch_progress < config.warmup_epochs:
        return (epoch_progress + 1e-8) / config.warmup_epochs
    if config.schedule == "constant":
        return 1.0
    if config.schedule == "exponential":  # pylearn2's ExponentialDecay, per step: gamma per epoch, floored
        return max(config.gamma ** max(epoch_progress - config.warmup_epochs, 0.0), config.final_lr_factor)
    if config.schedule == "step":  # RepDistiller: divide by 1/gamma at each milestone epoch
        passed = sum(1 for m in config.milestones if int(epoch_progress) >= m)
        return config.gamma ** passed
    span = max(config.epochs - config.warmup_epochs, 1e-8)
    t = min(max((epoch_progress - config.warmup_epochs) / span, 0.0), 1.0)
    end = config.final_lr_factor
    if config.schedule == "linear":
        return 1.0 - (1.0 - end) * t
    return end + (1.0 - end) * 0.5 * (1.0 + math.cos(math.pi * t))  # cosine


def weight_decay_at(config: TrainConfig, epoch_progress: float) -> float:
    """The weight decay after ``epoch_progress`` epochs: a cosine from ``weight_decay`` to
    ``weight_decay_end`` over the whole run, without warm-up (DINO's), or constant when unset."""
    if config.weight_decay_end is None:
        return config.weight_decay
    t = min(max(epoch_progress / config.epochs, 0.0), 1.0)
    end = config.weight_decay_end
    return end + (config.weight_decay - end) * 0.5 * (1.0 + math.cos(math.pi * t))
