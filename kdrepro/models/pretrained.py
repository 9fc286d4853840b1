"""Pretrained ImageNet teachers from timm (DeiT's RegNetY-16GF, CTKD's ResNet-34, …), as kdrepro models.

Weights come from a checkpoint file the user names, or from the Hugging Face Hub through timm when
the machine is online; offline and without a file, the teacher is refused with both ways to get it.
A damaged or mismatched checkpoint is refused in one line saying which. The model returns a
:class:`ModelOutput` (logits, and the last feature map as its one feature), like every model here.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import torch
import torch.nn as nn
from torch import Tensor

from ..errors import ConfigError
from .output import ModelOutput

OFFLINE_ENV = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")


class TimmClassifier(nn.Module):
    """A timm classifier seen through kdrepro's model interface."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        self.num_classes = getattr(model, "num_classes", None)

    def forward(self, x: Tensor) -> ModelOutput:
        features = self.model.forward_features(x)
        return ModelOutput(self.model.forward_head(features), [features], [features])


def _offline() -> bool:
    return any(os.environ.get(k, "").lower() in ("1", "true", "yes") for k in OFFLINE_ENV)


def _needed_package(message: str) -> str:
    """What unpickling the objects torch refused needs installed, when it is missing here (a TinyViT
    training checkpoint pickles its yacs config): " (with the yacs package installed)", or ""."""
    import importlib.util
    import re

    found = re.search(r"GLOBAL ([A-Za-z_][\w.]*)", message)
    module = found.group(1).split(".")[0] if found else None
    if module is None or importlib.util.find_spec(module) is not None:
        return ""
    return f" (with the {module} package installed: pip install {module})"


def _state_dict(path: Path) -> dict:
    if not path.is_file():
        raise ConfigError(f"teacher checkpoint {path} does not exist: pass the path of a saved state dict")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        if "weights only" not in str(err).lower():
            raise ConfigError(f"teacher checkpoint {path} is damaged or not a PyTorch file (UnpicklingError): "
                              "download it again") from err
        # a training checkpoint that pickles more than tensors (e.g. its config): not unpickled here unasked
        raise ConfigError(f"teacher checkpoint {path} holds Python objects besides its weights (a training "
                          "checkpoint?), which are not unpickled unasked: if you trust the file, save its weights "
                          f"alone{_needed_package(str(err))} — python -c \"import torch; c = torch.load('{path}', "
                          f"weights_only=False); torch.save(c.get('model', c), '{path}.weights.pt')\" — and pass "
                          "that file") from err
    except Exception as err:  # truncated, not a torch file, …
        raise ConfigError(f"teacher checkpoint {path} is damaged or not a PyTorch file ({type(err).__name__}): "
                          "download it again") from err
    for key in ("state_dict", "model", "state_dict_ema"):  # the usual wrappers of training scripts
        if isinstance(blob, dict) and isinstance(blob.get(key), dict):
            blob = blob[key]
    if not isinstance(blob, dict) or not all(isinstance(v, Tensor) for v in blob.values()):
        raise ConfigError(f"teacher checkpoint {path} holds no state dict of tensors: save model.state_dict()")
    return blob


def pretrained_teacher(name: str, checkpoint: str | Path | None = None, num_classes: int = 1000) -> TimmClassifier:
    """timm's ``name`` with pretrained weights: from ``checkpoint`` if given, else from the Hub (online only)."""
    import timm

    if not timm.is_model(name):
        raise ConfigError(f"unknown timm model {name!r}: see timm.list_models() (e.g. regnety_160, resnet34)")
    if checkpoint is not None:
        model = timm.create_model(name, pretrained=False, num_classes=num_classes)
        state = _state_dict(Path(checkpoint).expanduser())
        missing, unexpected = model.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise ConfigError(f"teacher checkpoint {checkpoint} is not a {name} with {num_classes} classes "
                              f"({len(missing)} weights missing, e.g. {missing[:2]}; {len(unexpected)} unexpected, "
                              f"e.g. {unexpected[:2]}): pass a checkpoint of that model")
        return TimmClassifier(model).eval()
    if _offline():
        raise ConfigError(f"the pretrained {name} needs its weights: this machine is offline (HF_HUB_OFFLINE=1); "
                          f"run where the Hugging Face Hub is reachable, or pass a checkpoint "
                          f"(-p teacher_checkpoint PATH, a state dict saved from timm's {name})")
    try:
        model = timm.create_model(name, pretrained=True, num_classes=num_classes)
    except Exception as err:  # no network, hub error, …
        raise ConfigError(f"could not fetch the pretrained {name} ({type(err).__name__}: {err}); pass a checkpoint "
                          "(-p teacher_checkpoint PATH) instead") from err
    return TimmClassifier(model).eval()
