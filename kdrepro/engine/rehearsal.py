"""Rehearsal: a chapter's *full* recipe run end to end — its models, data format, schedules, stages,
evaluation, checks and ``results.json`` — with every training run capped to a few small steps.

``kdrepro run CHAPTER --scale full --rehearse`` sets ``KDREPRO_REHEARSE=1`` for the notebook's
kernel, and every run folder moves under ``runs/rehearsal/``. The engine then caps each recipe it is
given (:func:`rehearsal_config`: at most 2 epochs of 2 steps of at most 8 images, early stopping
off), trains on the first 256 images of its training split (and a teacher's recorded outputs cover
those) and evaluates on the first 256 images of each held-out split; the recipe is otherwise built
exactly as at full scale (schedule lengths included, so its shape is not
what a short run would have). What a rehearsal measures is never compared with a paper (every
check says "not comparable"), its results are marked ``"rehearsal": true``, and ``kdrepro publish``
refuses them. It proves that the code a user runs on a GPU box with the paper's data executes.
"""

from __future__ import annotations

from ..paths import REHEARSE_ENV, rehearsing  # noqa: F401  (re-exported)

EPOCHS, STEPS, BATCH, TRAIN, HELD_OUT = 2, 2, 8, 256, 256


def rehearsal_config(config):
    """``config`` capped for a rehearsal (unchanged otherwise)."""
    if not rehearsing():
        return config
    steps = STEPS if config.max_steps_per_epoch is None else min(config.max_steps_per_epoch, STEPS)
    return config.replace(epochs=min(config.epochs, EPOCHS), max_steps_per_epoch=steps, patience=None,
                          warmup_epochs=min(config.warmup_epochs, min(config.epochs, EPOCHS)),
                          batch_size=min(config.batch_size, BATCH),
                          eval_batch_size=min(config.eval_batch_size, HELD_OUT),
                          checkpoint_every=config.checkpoint_every and 1)  # a checkpoint inside every epoch


def rehearsal_epochs(epochs: int) -> int:
    """An epoch count capped as :func:`rehearsal_config` caps a recipe's (a store recorded for the runs)."""
    return min(epochs, EPOCHS) if rehearsing() else epochs


def rehearsal_subset(split, n: int = HELD_OUT):
    """The first ``n`` images of a split during a rehearsal (the split otherwise): the engine's cap on
    held-out splits."""
    if not rehearsing() or split is None or split.size <= n:
        return split
    import dataclasses

    import torch

    indices = torch.arange(len(split.labels)) if split.indices is None else split.indices
    return dataclasses.replace(split, indices=indices[:n])


def rehearsal_train(split):
    """A training split as a rehearsal trains on it (its first :data:`TRAIN` images; unchanged
    otherwise): the Trainer's cap, and that of whatever records a teacher's outputs for its runs."""
    return rehearsal_subset(split, TRAIN)
