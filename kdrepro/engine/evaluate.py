"""Evaluation on a held-out split: loss, accuracy and error count, summed over processes."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from ..data import BatchLoader


def _logits(model: nn.Module, x: Tensor) -> Tensor:
    out = model(x)
    return out.logits if hasattr(out, "logits") else out


@torch.no_grad()
def predict_logits(model: nn.Module, images: Tensor, labels: Tensor, *, mean, std, batch_size: int = 1000,
                   device: str | torch.device = "cpu", indices: Tensor | None = None) -> Tensor:
    """Logits (float32, on the CPU) for every image in order, with the model in eval mode."""
    was_training = model.training
    model.eval()
    loader = BatchLoader(images, labels, batch_size, shuffle=False, mean=mean, std=std, device=device,
                         drop_last=False, indices=indices)
    outs = [_logits(model, batch.x).float().cpu() for batch in loader]
    model.train(was_training)
    return torch.cat(outs)


@torch.no_grad()
def evaluate(model: nn.Module, images: Tensor, labels: Tensor, *, mean, std, accelerator=None,
             batch_size: int = 1000, indices: Tensor | None = None) -> dict[str, float]:
    """Test loss, accuracy (%) and number of errors; each process takes its shard, then sums."""
    device = accelerator.device if accelerator is not None else "cpu"
    rank = accelerator.process_index if accelerator is not None else 0
    world = accelerator.num_processes if accelerator is not None else 1
    was_training = model.training
    model.eval()
    loader = BatchLoader(images, labels, batch_size, shuffle=False, mean=mean, std=std, device=device,
                         drop_last=False, indices=indices, rank=rank, world_size=world)
    totals = torch.zeros(3, dtype=torch.float64, device=device)  # loss sum, errors, count
    for batch in loader:
        logits = _logits(model, batch.x).float()
        totals[0] += F.cross_entropy(logits, batch.y, reduction="sum").double()
        totals[1] += (logits.argmax(1) != batch.y).sum()
        totals[2] += batch.y.numel()
    if world > 1:
        totals = accelerator.reduce(totals, reduction="sum")
    model.train(was_training)
    loss, errors, n = totals.tolist()
    return {"loss": loss / max(n, 1), "accuracy": 100.0 * (1 - errors / max(n, 1)), "errors": int(errors), "n": int(n)}
