"""One Accelerate set-up for every run: CPU or GPU, one process or many."""

from __future__ import annotations

import os

import torch
from accelerate import Accelerator, PartialState
from accelerate.state import is_initialized

from ..errors import ConfigError


def make_accelerator(mixed_precision: str = "auto") -> Accelerator:
    """An Accelerator on the GPU if there is one (bf16 autocast under "auto"), else on the CPU.

    ``cpu=True`` matters on CPU-only machines: without it, processes started by
    ``accelerate launch`` do not join one group and silently run as separate jobs. The number
    of processes Accelerate sees is checked against the launcher's WORLD_SIZE to catch that.

    Several processes on one CPU machine: ``accelerate launch --multi_gpu --num_processes N
    script.py`` (the processes find no GPU and join one gloo group on the CPU);
    ``accelerate launch --cpu`` starts one process only, whatever ``--num_processes`` says.
    """
    on_gpu = torch.cuda.is_available()
    if mixed_precision == "auto":
        mixed_precision = "bf16" if on_gpu else "no"
    try:
        accelerator = Accelerator(cpu=not on_gpu, mixed_precision=mixed_precision)
    except ValueError as err:  # Accelerate keeps one state per process
        raise ConfigError(f"every recipe trained in one process must use the same mixed_precision "
                          f"(this one asks for {mixed_precision!r}): {err}") from err
    expected = int(os.environ.get("WORLD_SIZE", "1"))
    if accelerator.num_processes != expected:
        raise ConfigError(
            f"the launcher started {expected} processes but Accelerate sees {accelerator.num_processes}: "
            "they would train as separate jobs. Create the Accelerator with cpu=True on a CPU machine "
            "(or set ACCELERATE_USE_CPU=1), and launch with `accelerate launch --multi_gpu --num_processes N`.")
    return accelerator


def is_main_process() -> bool:
    """True in the first process of an ``accelerate launch`` (and in a process run on its own):
    the one that writes shared files and prints."""
    return int(os.environ.get("RANK", "0")) == 0


def wait_for_everyone() -> None:
    """Wait until every launched process gets here; at once with one process (or no Accelerator yet)."""
    if is_initialized():
        PartialState().wait_for_everyone()
