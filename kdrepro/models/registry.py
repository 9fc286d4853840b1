"""Models registered by name, so chapters, teachers and checkpoints can refer to them by name."""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn as nn

from ..errors import ConfigError

_MODELS: dict[str, Callable[..., nn.Module]] = {}


def register_model(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
    """Decorator: register a factory function under its own name."""
    if fn.__name__ in _MODELS:
        raise ValueError(f"model {fn.__name__!r} is registered twice")
    _MODELS[fn.__name__] = fn
    return fn


def create_model(name: str, *, seed: int | None = None, **kwargs) -> nn.Module:
    """Build the model registered as ``name``; an unknown name lists the valid ones.

    With ``seed``, the initial weights depend on it alone, not on the global random state.
    """
    if name not in _MODELS:
        raise ConfigError(f"unknown model {name!r}; valid models: {', '.join(sorted(_MODELS))}")
    if seed is None:
        model = _MODELS[name](**kwargs)
    else:
        with torch.random.fork_rng(devices=[]):  # leave the global random state as it was
            torch.manual_seed(seed)
            model = _MODELS[name](**kwargs)
    model.model_name = name
    model.model_kwargs = dict(kwargs)
    return model


def list_models() -> list[str]:
    return sorted(_MODELS)
