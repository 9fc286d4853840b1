"""Evaluation on a held-out split: logits in order, or loss, accuracy and error count summed
over processes. A split is either kind — tensors (:class:`Split`) or streamed
(:class:`~kdrepro.data.streaming.StreamSplit`) — and reaches the model through one loader."""

from __future__ import annotations

from typing import Iterator

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from ..data import BatchLoader
from ..data.streaming import StreamLoader, StreamSplit
from ..methods.base import device_of
from .split import Split


def held_out_batches(split, batch_size: int, device, rank: int = 0, world: int = 1):
    """A held-out split's batches in order, every sample once, this process's share: a tensor
    ``Split`` from the device, a streamed one through its workers."""
    if isinstance(split, StreamSplit):
        return StreamLoader(split, batch_size, shuffle=False, device=device, rank=rank, world_size=world,
                            drop_last=False)
    return BatchLoader(split.images, split.labels, batch_size, shuffle=False, mean=split.mean, std=split.std,
                       device=device, drop_last=False, indices=split.indices, rank=rank, world_size=world)


def _placement(module: nn.Module, accelerator) -> tuple[torch.device, int, int]:
    """(device, rank, world size): the accelerator's, or the module's device in a single process."""
    if accelerator is None:
        return device_of(module), 0, 1
    return accelerator.device, accelerator.process_index, accelerator.num_processes


def _summed(totals: Tensor, accelerator, world: int) -> list[float]:
    """Per-process totals summed over every process."""
    return (accelerator.reduce(totals, reduction="sum") if world > 1 else totals).tolist()


def _iter_logits(model: nn.Module, batches) -> Iterator[tuple[Tensor, Tensor]]:
    """(float32 logits, labels) batch by batch, in order, with the model in eval mode; the model's
    mode is restored afterwards, whatever happens."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for batch in batches:
                out = model(batch.x)
                yield (out.logits if hasattr(out, "logits") else out).float(), batch.y
    finally:
        model.train(was_training)


def split_logits(model: nn.Module, split: Split | StreamSplit, *, batch_size: int = 1000,
                 device: str | torch.device | None = None) -> Tensor:
    """Logits (float32, on the CPU) for every image of a split, tensors or streamed, in order;
    ``device`` defaults to the model's."""
    device = device if device is not None else device_of(model)
    return torch.cat([logits.cpu() for logits, _ in _iter_logits(model, held_out_batches(split, batch_size, device))])


def predict_logits(model: nn.Module, images: Tensor, labels: Tensor, *, mean, std, batch_size: int = 1000,
                   device: str | torch.device | None = None, indices: Tensor | None = None) -> Tensor:
    """:func:`split_logits` on tensors given one by one."""
    return split_logits(model, Split(images, labels, mean, std, indices), batch_size=batch_size, device=device)


def evaluate_split(model: nn.Module, split: Split | StreamSplit, *, accelerator=None,
                   batch_size: int = 1000) -> dict[str, float]:
    """Loss, accuracy (%) and number of errors on a split; each process takes its shard, then sums."""
    device, rank, world = _placement(model, accelerator)
    totals = torch.zeros(3, dtype=torch.float64, device=device)  # loss sum, errors, count
    for logits, y in _iter_logits(model, held_out_batches(split, batch_size, device, rank, world)):
        totals[0] += F.cross_entropy(logits, y, reduction="sum").double()
        totals[1] += (logits.argmax(1) != y).sum()
        totals[2] += y.numel()
    loss, errors, n = _summed(totals, accelerator, world)
    return {"loss": loss / max(n, 1), "accuracy": 100.0 * (1 - errors / max(n, 1)), "errors": int(errors), "n": int(n)}


def evaluate(model: nn.Module, images: Tensor, labels: Tensor, *, mean, std, accelerator=None,
             batch_size: int = 1000, indices: Tensor | None = None) -> dict[str, float]:
    """:func:`evaluate_split` on tensors given one by one."""
    return evaluate_split(model, Split(images, labels, mean, std, indices), accelerator=accelerator,
                          batch_size=batch_size)


def method_loss(distiller, split, *, accelerator=None, batch_size: int = 1000) -> float:
    """A method's total loss on a held-out split, per sample, in eval mode (a live teacher only:
    a stored one holds the training images' outputs, not these)."""
    device, rank, world = _placement(distiller, accelerator)
    totals = torch.zeros(2, dtype=torch.float64, device=device)  # loss sum, count
    was_training = distiller.training
    distiller.eval()
    try:
        with torch.no_grad():
            for batch in held_out_batches(split, batch_size, device, rank, world):
                _, losses = distiller(batch.x, batch.y, None)
                totals[0] += sum(losses.values()).double() * batch.y.numel()
                totals[1] += batch.y.numel()
    finally:
        distiller.train(was_training)
    loss, n = _summed(totals, accelerator, world)
    return loss / max(n, 1)
