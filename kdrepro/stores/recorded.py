"""Recording a teacher's logits on exactly the batches a run will train on, every epoch.

A run's batches depend only on its recipe (seed, batch size, steps per epoch), the training set,
the augmentation and the process count (see :func:`~kdrepro.engine.trainer.loader_key`), so
they can be replayed before training: one teacher pass per epoch, stored, then read by every
logit-based student trained with those batches (KD with several students or temperatures, at
any scale) instead of a live teacher forward on every step. This is TinyViT's stored-logit
pretraining made general; TinyViT keeps only the top-k logits of ImageNet-21k, here the store
is dense (``dtype=torch.float16`` halves it: 240 CIFAR-100 epochs take 2.4 GB).
"""

from __future__ import annotations

import torch
import torch.nn as nn

from ..data import Augment
from ..methods import StoredTeacher
from ..engine.rehearsal import rehearsal_config, rehearsal_train
from ..engine.accel import process_device
from ..engine.config import TrainConfig
from ..engine.trainer import Split, loader_key, train_loader


@torch.no_grad()
def record_teacher_logits(teacher: nn.Module, train: Split, config: TrainConfig, augment: Augment | None, *,
                          device: str | torch.device | None = None, dtype: torch.dtype = torch.float32,
                          num_classes: int | None = None) -> StoredTeacher:
    """The teacher's logits for every epoch of a one-process run of ``config`` on ``train``.

    ``device`` must be the one the run trains on (augmentation is drawn from that device's
    generator); by default the device the Trainer's Accelerator picks (the GPU when there is one).
    """
    config, train = rehearsal_config(config), rehearsal_train(train)  # what a rehearsal's capped runs will read
    device = torch.device(device) if device is not None else process_device()
    teacher = teacher.to(device).eval()
    loader = train_loader(config, train, augment, device)
    steps = len(loader) if config.max_steps_per_epoch is None else min(len(loader), config.max_steps_per_epoch)
    store = None
    for epoch in range(config.epochs):
        loader.set_epoch(epoch)
        batches = iter(loader)
        for _ in range(steps):
            batch = next(batches)
            logits = teacher(batch.x).logits
            if store is None:
                classes = num_classes or logits.shape[1]
                store = torch.zeros(config.epochs, len(train.labels), classes, dtype=dtype)
            store[epoch, batch.index.cpu()] = logits.to("cpu", dtype)
    return StoredTeacher(store, loader_key(config, train, augment, 1, device))
