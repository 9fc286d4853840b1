"""Checkpoints inside an epoch, for epochs that take long (ImageNet's: an hour or more on one GPU).

With ``TrainConfig.checkpoint_every`` = k, the engine also checkpoints after every k-th step of an
epoch. Besides the weights and optimiser state, such a checkpoint holds what the rest of the epoch
needs to go on as if never stopped, from every process: its running sums of the losses and correct
answers, and its random generators (Python's, NumPy's — Mixup draws there — torch's, CUDA's), which
dropout, drop path and the mixing have advanced since the epoch's start. The batches resume at the
next one in the epoch's order. Device-resident batches, and streamed views replayed from per-image
seeds, are then exactly those of an uninterrupted run; a streamed split's ordinary augmentations
are drawn afresh in its workers (the same images in the same order, other random crops).
"""

from __future__ import annotations

import random

import numpy as np
import torch
from torch import Tensor


def capture(totals: dict[str, Tensor], also_correct: dict[str, Tensor], correct: Tensor, seen: int) -> dict:
    """This process's state k steps into an epoch (on the CPU)."""
    rng = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        rng["cuda"] = torch.cuda.get_rng_state_all()
    return {"totals": {k: v.detach().cpu() for k, v in totals.items()},
            "also_correct": {k: v.detach().cpu() for k, v in also_correct.items()},
            "correct": correct.detach().cpu(), "seen": seen, "rng": rng}


def restore(state: dict, device) -> tuple[dict[str, Tensor], dict[str, Tensor], Tensor, int]:
    """Set this process's generators as captured; its running sums, on ``device``."""
    rng = state["rng"]
    random.setstate(rng["python"])
    np.random.set_state(rng["numpy"])
    torch.set_rng_state(rng["torch"])
    if "cuda" in rng and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(rng["cuda"])
    return ({k: v.to(device) for k, v in state["totals"].items()},
            {k: v.to(device) for k, v in state["also_correct"].items()},
            state["correct"].to(device), int(state["seen"]))
