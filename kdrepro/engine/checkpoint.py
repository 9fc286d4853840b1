"""Checkpoints written atomically, and trained models saved with what they scored."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn

from ..errors import ConfigError
from ..io import atomic_write
from ..models import create_model
from .accel import is_main_process, wait_for_everyone


def save_checkpoint(path: Path, state: dict) -> None:
    """``torch.save`` to a temporary file, then rename: a kill never leaves half a checkpoint."""
    atomic_write(path, lambda f: torch.save(state, f))


def load_checkpoint(path: Path) -> dict | None:
    path = Path(path)
    if not path.is_file():
        return None
    return torch.load(path, map_location="cpu", weights_only=False)


def save_model(model: nn.Module, path: str | Path, /, **info) -> Path:
    """Save a registered model's weights with its name, arguments and any metrics (``info``).

    Under several processes every one calls this: the main process writes, the others wait for the file.
    """
    name = getattr(model, "model_name", None)
    if name is None:
        raise ConfigError("only models built with kdrepro.models.create_model can be saved by name")
    if is_main_process():
        state = {"model": name, "kwargs": getattr(model, "model_kwargs", {}), "state_dict": model.state_dict(),
                 "info": info}
        save_checkpoint(Path(path), state)
    wait_for_everyone()
    return Path(path)


def load_model(path: str | Path) -> tuple[nn.Module, dict]:
    """Rebuild a model saved by :func:`save_model`; returns it (eval mode) and its info."""
    state = load_checkpoint(path)
    if state is None:
        raise FileNotFoundError(f"no saved model at {path}: train it first (its chapter says how)")
    model = create_model(state["model"], **state["kwargs"])
    model.load_state_dict(state["state_dict"])
    return model.eval(), state["info"]
