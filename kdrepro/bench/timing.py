"""Timing training steps: a clock that starts after the warm-up steps and stops after the last."""

from __future__ import annotations

import time

import torch


class StepClock:
    """Call :meth:`tick` after every step; the clock reads the ``steps`` after ``warmup``.

    On a GPU it synchronises only at those two moments, so timing adds no stall to the steps.
    """

    def __init__(self, device: torch.device, warmup: int, steps: int):
        if warmup < 1 or steps < 1:
            raise ValueError("time at least one step after at least one warm-up step")
        self.device, self.warmup, self.steps = torch.device(device), warmup, steps
        self.done = 0
        self.start = self.stop = None

    def _now(self) -> float:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return time.perf_counter()

    def tick(self) -> None:
        self.done += 1
        if self.done == self.warmup:
            self.start = self._now()
        elif self.done == self.warmup + self.steps:
            self.stop = self._now()

    def images_per_s(self, batch_size: int) -> float:
        if self.stop is None:
            raise RuntimeError(f"the clock saw {self.done} of {self.warmup + self.steps} steps")
        return self.steps * batch_size / (self.stop - self.start)
