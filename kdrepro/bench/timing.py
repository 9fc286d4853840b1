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


def compare_speed(distillers: dict, config, train, augments: dict, *, steps: int = 20, repeats: int = 3,
                  warmup: int = 2):
    """Training images per second of each named distiller, measured side by side: the runs alternate
    (``repeats`` rounds), each for ``warmup`` + ``steps`` steps of one epoch of ``config``, on
    ``train`` with its own augmentation from ``augments``. ``distillers`` maps a name to a function
    that builds a fresh distiller. The first name is the reference of the speed-up column."""
    import pandas as pd

    from ..engine import Trainer
    from ..engine.rehearsal import STEPS, rehearsing

    if rehearsing():  # the runs are capped to STEPS steps: time one after one of warm-up (a meaningless number)
        warmup, steps = 1, STEPS - 1
    speeds: dict[str, list[float]] = {name: [] for name in distillers}
    cfg = config.replace(epochs=1, warmup_epochs=min(config.warmup_epochs, 1.0), max_steps_per_epoch=warmup + steps)
    for _ in range(repeats):
        for name, build in distillers.items():
            clocks: list[StepClock] = []

            def tick(event, state, trainer, clocks=clocks):
                if event == "step":
                    if not clocks:
                        clocks.append(StepClock(trainer.device, warmup, steps))
                    clocks[0].tick()

            Trainer(cfg, verbose=False, progress=False, callbacks=[tick]).fit(build(), train, augment=augments[name])
            speeds[name].append(clocks[0].images_per_s(cfg.batch_size))
    rows = [{"teacher": name, "images/s (median)": round(sorted(v)[len(v) // 2], 1),
             "repeats": ", ".join(f"{x:.1f}" for x in v)} for name, v in speeds.items()]
    table = pd.DataFrame(rows).set_index("teacher")
    table["speed-up"] = (table["images/s (median)"] / table["images/s (median)"].iloc[0]).round(2)
    return table
