"""Checkpoints written atomically, the previous one kept as a fallback, and trained models saved
with what they scored."""

from __future__ import annotations

import os
import pickle
import warnings
import zipfile
from pathlib import Path

import torch
import torch.nn as nn

from ..errors import ConfigError
from ..io import atomic_write
from ..models import create_model
from .accel import is_main_process, wait_for_everyone


# what torch.load raises on a truncated or overwritten file
_DAMAGE = (RuntimeError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile, ValueError, OSError)


def previous_checkpoint(path: Path) -> Path:
    """Where the checkpoint before ``path`` is kept: ``checkpoint.prev.pt`` beside ``checkpoint.pt``."""
    path = Path(path)
    return path.with_name(f"{path.stem}.prev{path.suffix}")


def save_checkpoint(path: Path, state: dict, *, keep_previous: bool = False) -> None:
    """``torch.save`` to a temporary file, then rename: a kill never leaves half a checkpoint. With
    ``keep_previous`` the one it replaces stays beside it, for when the new one is later damaged (a
    full disk, a copy cut short)."""
    path = Path(path)
    if keep_previous and path.is_file():
        os.replace(path, previous_checkpoint(path))
    atomic_write(path, lambda f: torch.save(state, f))


def load_checkpoint(path: Path) -> dict | None:
    """The checkpoint at ``path`` (None if there is none). A damaged one falls back, with a warning, to
    the previous checkpoint kept beside it; when none is readable the refusal says which file and what
    to do."""
    path = Path(path)
    candidates = [p for p in (path, previous_checkpoint(path)) if p.is_file()]
    damage = []
    for candidate in candidates:
        try:
            state = torch.load(candidate, map_location="cpu", weights_only=False)
        except _DAMAGE as error:
            damage.append(f"{candidate.name}: {str(error).splitlines()[0] if str(error) else type(error).__name__}")
            continue
        if candidate != path:
            what = f"{path} is damaged ({damage[0]})" if damage else f"{path} is missing"
            warnings.warn(f"{what}; resuming from the previous checkpoint, {candidate.name}", stacklevel=2)
        return state
    if not damage:
        return None
    raise ConfigError(f"{path} is damaged and no earlier checkpoint is readable ({'; '.join(damage)}): "
                      f"delete {path} (and {previous_checkpoint(path).name} beside it) to start that run over, "
                      "or rerun the chapter with `kdrepro run CHAPTER --fresh`")


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
