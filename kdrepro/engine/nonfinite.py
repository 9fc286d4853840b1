"""Stopping on a non-finite loss without a host synchronisation on every step.

Each step records, on the device, whether its loss is finite and keeps the first bad step's
number and losses; the host reads that once every :data:`CHECK_EVERY` steps and at the end of the
epoch (one all-reduce there with several processes). A non-finite step is then reported exactly
(epoch, step, losses) though training ran on for at most ``CHECK_EVERY - 1`` steps: those steps
only touch weights that no checkpoint will keep, since the check precedes the epoch's checkpoint.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..errors import NonFiniteLossError

CHECK_EVERY = 50  # steps between two reads of the flag by the host


class NonFiniteWatch:
    """The first non-finite step of an epoch, kept on the device until :meth:`check` reads it."""

    def __init__(self, device: torch.device):
        self.device = device
        self.first_step = torch.full((), -1, dtype=torch.long, device=device)
        self.values: Tensor | None = None  # [total loss, each part] at the first bad step
        self.names: list[str] = []

    def observe(self, step: int, loss: Tensor, losses: dict[str, Tensor]) -> None:
        """Record ``step``'s losses (no synchronisation: tensor operations only)."""
        current = torch.stack([loss.detach().float(), *(v.detach().float() for v in losses.values())])
        if self.values is None:
            self.names, self.values = list(losses), torch.zeros_like(current)
        new = (~torch.isfinite(current[0])) & (self.first_step < 0)
        self.first_step = torch.where(new, torch.full_like(self.first_step, step), self.first_step)
        self.values = torch.where(new, current, self.values)

    def check(self, epoch: int, accelerator) -> None:
        """Raise if any process saw a non-finite loss (every process raises together)."""
        bad = (self.first_step >= 0).float()
        if accelerator.num_processes > 1:
            bad = accelerator.reduce(bad, reduction="sum")
        if not bad.item():
            return
        step = int(self.first_step)
        if step < 0:
            raise NonFiniteLossError(f"the loss became non-finite in another process at epoch {epoch + 1}; the "
                                     "last good checkpoint is kept. Lower the learning rate or check the inputs.")
        total, *parts = self.values.tolist()
        said = ", ".join(f"{k}={v:.4g}" for k, v in zip(self.names, parts))
        raise NonFiniteLossError(
            f"the loss became {total} at epoch {epoch + 1}, step {step + 1} ({said}); "
            "the last good checkpoint is kept. Lower the learning rate or check the inputs.")
