"""TinyViT's ImageNet-22k teacher, CLIP-ViT-L/14-22k, as timm's ViT behind kdrepro's model interface.

Sources, read first-hand in microsoft/Cream: ``TinyViT/models/clip.py`` (the model: OpenAI CLIP's
visual tower — conv patchify, class token + positions, ``ln_pre``, pre-norm blocks with QuickGELU,
``ln_post`` on the class token, ``@ proj`` — then ``head``), ``TinyViT/models/build.py``
(``clip_vit_large14_224``: embed_dim 768, resolution 224, 24 layers, width 1024, patch 14, heads =
width // 64), ``TinyViT/data/build.py`` (CLIP's mean/std, chosen by the teacher config's
``MEAN_AND_STD_TYPE: clip``) and ``TinyViT/utils.py`` (checkpoints keep the weights under ``'model'``).
The weights: https://github.com/wkcn/TinyViT-model-zoo/releases/download/pretrained_teacher/clip_vit_large_patch14_22k.pth

The official state dict goes through timm's own OpenAI-CLIP key converter into
``vit_large_patch14_clip_quickgelu_224``. The official ``ln_post → @ proj (no bias) → head`` is two
linear maps in a row; they are folded into timm's single head, ``head.weight = head_w @ proj.T``,
``head.bias = head_b``: exact up to float rounding. The teacher saw CLIP-normalised images, while
kdrepro's ImageNet pipeline normalises with ImageNet's mean/std; the model renormalises its input,
``(x * std_in + mean_in - mean_clip) / std_clip`` — exact, so teacher and student read one view.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn
from torch import Tensor

from ..errors import ConfigError
from .output import ModelOutput
from .pretrained import TimmClassifier, _state_dict

URL = ("https://github.com/wkcn/TinyViT-model-zoo/releases/download/pretrained_teacher/"
       "clip_vit_large_patch14_22k.pth")
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
TIMM_NAME = "vit_large_patch14_clip_quickgelu_224"


class ClipTeacher(TimmClassifier):
    """timm's CLIP ViT fed ImageNet-normalised images, renormalised to CLIP's statistics first."""

    model_name = "clip_vit_large_patch14_22k"

    def __init__(self, model: nn.Module):
        super().__init__(model)
        from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD

        mean_in, std_in, mean, std = (torch.tensor(v).view(1, 3, 1, 1) for v in
                                      (IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD, CLIP_MEAN, CLIP_STD))
        self.register_buffer("scale", std_in / std, persistent=False)
        self.register_buffer("shift", (mean_in - mean) / std, persistent=False)

    def forward(self, x: Tensor) -> ModelOutput:
        return super().forward(x * self.scale.to(x.dtype) + self.shift.to(x.dtype))


def _convert(state: dict) -> dict:
    """The official layout in timm's: timm's converter for the ``visual.*`` keys, then the folded head."""
    from timm.models.vision_transformer import _convert_openai_clip

    state = {k.removeprefix("module."): v for k, v in state.items()}
    out = _convert_openai_clip({k: v for k, v in state.items() if k != "visual.proj"}, None)
    out.update({k: v for k, v in state.items() if not k.startswith(("visual.", "head."))})  # kept: unexpected
    if {"visual.proj", "head.weight", "head.bias"} <= state.keys():
        proj, head_w = state["visual.proj"].double(), state["head.weight"].double()
        if proj.ndim == 2 and head_w.ndim == 2 and proj.shape[1] == head_w.shape[1]:
            out["head.weight"] = (head_w @ proj.T).float()
            out["head.bias"] = state["head.bias"].float()
        else:  # shapes that cannot chain: leave the head unfolded so the shape check names it
            out["head.weight"] = head_w
    return {k: v.float() for k, v in out.items()}


def clip_vit_l14_22k(checkpoint: str | Path | None, *, num_classes: int = 21841, **arch) -> nn.Module:
    """TinyViT's CLIP-ViT-L/14-22k teacher from the official ``checkpoint`` (eval mode), taking
    ImageNet-normalised input. ``arch`` (embed_dim = CLIP's width, depth, num_heads — default
    width // 64 as the official model —, img_size, patch_size) overrides the sizes, for tests."""
    import timm

    if checkpoint is None:
        raise ConfigError(f"the CLIP-ViT-L/14-22k teacher has no Hub copy: download {URL} "
                          "and pass it with -p teacher_checkpoint PATH")
    if "embed_dim" in arch:
        arch.setdefault("num_heads", max(1, arch["embed_dim"] // 64))
    with torch.device("meta"):  # no random init of 300M weights: the checkpoint's are assigned below
        model = timm.create_model(TIMM_NAME, pretrained=False, num_classes=num_classes, **arch)
    path = Path(checkpoint).expanduser()
    state = _convert(_state_dict(path))
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong = [f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}" for k, v in expected.items()
             if k in state and state[k].shape != v.shape]
    if missing or unexpected or wrong:
        raise ConfigError(f"teacher checkpoint {path} is not TinyViT's CLIP-ViT-L/14-22k with {num_classes} classes "
                          f"in the official layout ({len(missing)} weights missing, e.g. {missing[:2]}; "
                          f"{len(unexpected)} unexpected, e.g. {unexpected[:2]}; {len(wrong)} of the wrong shape, "
                          f"e.g. {wrong[:2]}): pass {URL.rsplit('/', 1)[1]} from {URL.rsplit('/', 1)[0]}")
    model.load_state_dict(state, assign=True)
    return ClipTeacher(model).eval()
