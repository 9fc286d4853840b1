"""Evaluation on a held-out split: logits in order, or loss, accuracy and error count summed
over processes."""

from __future__ import annotations

from typing import Iterator

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from ..data import BatchLoader
from ..data.streaming import StreamLoader, StreamSplit
from ..methods.base import device_of


def held_out_batches(split, batch_size: int, device, rank: int = 0, world: int = 1):
    """A held-out split's batches in order, every sample once, this process's share: a tensor
    ``Split`` from the device, a :class:`~kdrepro.data.streaming.StreamSplit` through its workers."""
    if isinstance(split, StreamSplit):
        return StreamLoader(split, batch_size, shuffle=False, device=device, rank=rank, world_size=world,
                            drop_last=False)
    return BatchLoader(split.images, split.labels, batch_size, shuffle=False, mean=split.mean, std=split.std,
                       device=device, drop_last=False, indices=split.indices, rank=rank, world_size=world)


def evaluate_split(model: nn.Module, split, *, accelerator=None, batch_size: int = 1000) -> dict[str, float]:
    """:func:`evaluate` on a split of either kind (tensors or streamed)."""
    if isinstance(split, StreamSplit):
        return evaluate(model, None, split.labels, mean=None, std=None, accelerator=accelerator,
                        batch_size=batch_size, stream=split)
    return evaluate(model, split.images, split.labels, mean=split.mean, std=split.std, accelerator=accelerator,
                    batch_size=batch_size, indices=split.indices)


def _iter_logits(model: nn.Module, images: Tensor, labels: Tensor, *, mean, std, batch_size: int, device,
                 indices: Tensor | None, rank: int = 0, world: int = 1, stream=None) -> Iterator[tuple[Tensor, Tensor]]:
    """(float32 logits, labels) batch by batch, in dataset order, with the model in eval mode;
    the model's mode is restored afterwards, whatever happens."""
    was_training = model.training
    model.eval()
    if stream is not None:
        loader = held_out_batches(stream, batch_size, device, rank, world)
    else:
        loader = BatchLoader(images, labels, batch_size, shuffle=False, mean=mean, std=std, device=device,
                             drop_last=False, indices=indices, rank=rank, world_size=world)
    try:
        with torch.no_grad():
            for batch in loader:
                out = model(batch.x)
                yield (out.logits if hasattr(out, "logits") else out).float(), batch.y
    finally:
        model.train(was_training)


def predict_logits(model: nn.Module, images: Tensor, labels: Tensor, *, mean, std, batch_size: int = 1000,
                   device: str | torch.device | None = None, indices: Tensor | None = None) -> Tensor:
    """Logits (float32, on the CPU) for every image in order; ``device`` defaults to the model's."""
    device = device if device is not None else device_of(model)
    return torch.cat([logits.cpu() for logits, _ in _iter_logits(
        model, images, labels, mean=mean, std=std, batch_size=batch_size, device=device, indices=indices)])


def evaluate(model: nn.Module, images: Tensor, labels: Tensor, *, mean, std, accelerator=None,
             batch_size: int = 1000, indices: Tensor | None = None, stream=None) -> dict[str, float]:
    """Test loss, accuracy (%) and number of errors; each process takes its shard, then sums."""
    device = accelerator.device if accelerator is not None else device_of(model)
    rank = accelerator.process_index if accelerator is not None else 0
    world = accelerator.num_processes if accelerator is not None else 1
    totals = torch.zeros(3, dtype=torch.float64, device=device)  # loss sum, errors, count
    for logits, y in _iter_logits(model, images, labels, mean=mean, std=std, batch_size=batch_size,
                                  device=device, indices=indices, rank=rank, world=world, stream=stream):
        totals[0] += F.cross_entropy(logits, y, reduction="sum").double()
        totals[1] += (logits.argmax(1) != y).sum()
        totals[2] += y.numel()
    if world > 1:
        totals = accelerator.reduce(totals, reduction="sum")
    loss, errors, n = totals.tolist()
    return {"loss": loss / max(n, 1), "accuracy": 100.0 * (1 - errors / max(n, 1)), "errors": int(errors), "n": int(n)}


def method_loss(distiller, split, *, accelerator=None, batch_size: int = 1000) -> float:
    """A method's total loss on a held-out split, per sample, in eval mode (a live teacher only:
    a stored one holds the training images' outputs, not these)."""
    device = accelerator.device if accelerator is not None else device_of(distiller)
    rank = accelerator.process_index if accelerator is not None else 0
    world = accelerator.num_processes if accelerator is not None else 1
    totals = torch.zeros(2, dtype=torch.float64, device=device)  # loss sum, count
    was_training = distiller.training
    distiller.eval()
    loader = held_out_batches(split, batch_size, device, rank, world)
    try:
        with torch.no_grad():
            for batch in loader:
                _, losses = distiller(batch.x, batch.y, None)
                totals[0] += sum(losses.values()).double() * batch.y.numel()
                totals[1] += batch.y.numel()
    finally:
        distiller.train(was_training)
    if world > 1:
        totals = accelerator.reduce(totals, reduction="sum")
    loss, n = totals.tolist()
    return loss / max(n, 1)

