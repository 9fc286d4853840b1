"""Vision transformers on timm's ViT: with one class token, or with DeiT's class and distillation
tokens (Touvron et al. 2021) — small ones for 32×32 images, and DeiT's own ImageNet models.

``vit_tiny_p4`` is DeiT-Ti's width (192, 3 heads, 12 blocks) on 4×4 patches, so a 32×32 image
is 64 tokens; ``deit_tiny_distilled_p4`` adds the distillation token and its head. Both take
``depth``, ``embed_dim``, ``num_heads``, ``img_size`` and ``patch_size`` to make smaller or
larger ones. Every model returns a :class:`~kdrepro.models.ModelOutput` whose ``heads`` holds
each classifier's logits (``cls``; and ``dist`` for the distilled model). The distilled model's
``logits`` are the paper's test-time combination: the two heads' softmax outputs added
(returned as the log of their mean, so ``argmax`` and cross-entropy read it as any logits);
timm averages the two heads' logits instead. ``features`` are the final token states of the
prefix tokens, and :meth:`ViT.prefix_tokens` gives them after every block.

DeiT's ImageNet models (``deit_tiny_patch16_224`` … and their ``_distilled_`` variants) and DINO's
ViT-S/16 (``vit_small_patch16_224``) are timm's,
built by ``timm.create_model`` under the same names; their two heads are combined as the official
code (and timm) combine them, by averaging the logits (``combine="logits"``), which produced the
paper's Table 3.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor
from timm.models.deit import VisionTransformerDistilled
from timm.models.vision_transformer import VisionTransformer

from .output import ModelOutput
from .registry import register_model


COMBINATIONS = ("softmax", "logits")


class ViT(nn.Module):
    """A timm ViT with ``num_prefix`` = 1 (class token) or 2 (class and distillation tokens): built
    from its sizes, or ``timm_name`` for one of timm's registered models (DeiT's)."""

    def __init__(self, num_classes: int = 100, *, distilled: bool = False, img_size: int = 32, patch_size: int = 4,
                 embed_dim: int = 192, depth: int = 12, num_heads: int = 3, drop_path_rate: float = 0.1,
                 dynamic_img_size: bool = False, timm_name: str | None = None, combine: str = "softmax"):
        super().__init__()
        if combine not in COMBINATIONS:
            raise ValueError(f"unknown combine {combine!r}; valid: {', '.join(COMBINATIONS)}")
        if timm_name is not None:
            import timm

            extra = {"dynamic_img_size": True} if dynamic_img_size else {}
            self.vit = timm.create_model(timm_name, pretrained=False, num_classes=num_classes,
                                         drop_path_rate=drop_path_rate, **extra)
            distilled = isinstance(self.vit, VisionTransformerDistilled)
        else:
            build = VisionTransformerDistilled if distilled else VisionTransformer
            # dynamic_img_size: other image sizes too (DINO's small views), the position embedding interpolated
            self.vit = build(img_size=img_size, patch_size=patch_size, in_chans=3, num_classes=num_classes,
                             embed_dim=embed_dim, depth=depth, num_heads=num_heads, drop_path_rate=drop_path_rate,
                             dynamic_img_size=dynamic_img_size)
        self.distilled = distilled
        self.combine = combine
        self.num_classes = num_classes

    @property
    def num_prefix(self) -> int:
        return 2 if self.distilled else 1

    def _embed(self, x: Tensor) -> Tensor:
        v = self.vit
        return v.norm_pre(v.patch_drop(v._pos_embed(v.patch_embed(x))))

    def prefix_tokens(self, x: Tensor) -> list[Tensor]:
        """The prefix tokens (N × prefix × D) at the input of the first block, after each block,
        and after the final norm: ``depth + 2`` tensors."""
        h = self._embed(x)
        out = [h[:, :self.num_prefix]]
        for block in self.vit.blocks:
            h = block(h)
            out.append(h[:, :self.num_prefix])
        out.append(self.vit.norm(h)[:, :self.num_prefix])
        return out

    def last_class_tokens(self, x: Tensor, n: int) -> Tensor:
        """The class token after each of the last ``n`` blocks, each through the final norm, concatenated
        (N × n·D): the features DINO's linear evaluation reads (``get_intermediate_layers``)."""
        h = self._embed(x)
        out = []
        for i, block in enumerate(self.vit.blocks):
            h = block(h)
            if i >= len(self.vit.blocks) - n:
                out.append(self.vit.norm(h)[:, 0])
        return torch.cat(out, dim=-1)

    @torch.no_grad()
    def class_attention(self, x: Tensor) -> Tensor:
        """The last block's self-attention of the class token over the patches, per head
        (N × heads × H/p × W/p): what DINO's first figure shows."""
        h = self._embed(x)
        for block in self.vit.blocks[:-1]:
            h = block(h)
        attn = self.vit.blocks[-1].attn
        n, t, d = h.shape
        qkv = attn.qkv(self.vit.blocks[-1].norm1(h)).reshape(n, t, 3, attn.num_heads, d // attn.num_heads)
        q, k = attn.q_norm(qkv[:, :, 0].transpose(1, 2)), attn.k_norm(qkv[:, :, 1].transpose(1, 2))
        weights = ((q @ k.transpose(-2, -1)) * attn.scale).softmax(-1)  # N × heads × tokens × tokens
        side = int(round((t - self.num_prefix) ** 0.5))
        return weights[:, :, 0, self.num_prefix:].reshape(n, attn.num_heads, side, side)

    def forward(self, x: Tensor) -> ModelOutput:
        tokens = self.vit.forward_features(x)
        cls = self.vit.head(tokens[:, 0])
        if not self.distilled:
            return ModelOutput(cls, features=[tokens[:, 0]], heads={"cls": cls})
        dist = self.vit.head_dist(tokens[:, 1])
        if self.combine == "logits":  # the official code's and timm's test-time combination
            combined = (cls + dist) / 2
        else:  # log((softmax(cls) + softmax(dist)) / 2)
            combined = torch.logsumexp(torch.stack([F.log_softmax(cls.float(), -1), F.log_softmax(dist.float(), -1)]),
                                       dim=0) - math.log(2)
        return ModelOutput(combined, features=[tokens[:, 0], tokens[:, 1]], heads={"cls": cls, "dist": dist})


@register_model
def vit_tiny_p4(num_classes: int = 100, **kwargs) -> ViT:
    """DeiT-Ti's transformer (192 wide, 3 heads, 12 blocks) on 4×4 patches of 32×32 images."""
    return ViT(num_classes, distilled=False, **kwargs)


@register_model
def deit_tiny_distilled_p4(num_classes: int = 100, **kwargs) -> ViT:
    """``vit_tiny_p4`` with DeiT's distillation token and head."""
    return ViT(num_classes, distilled=True, **kwargs)


def _deit(name: str, num_classes: int, kwargs: dict) -> ViT:
    kwargs.setdefault("combine", "logits")
    return ViT(num_classes, timm_name=name, **kwargs)


@register_model
def deit_tiny_patch16_224(num_classes: int = 1000, **kwargs) -> ViT:
    """DeiT-Ti (timm's): 192 wide, 3 heads, 12 blocks, 16×16 patches of 224×224 images; 5.7 M parameters."""
    return _deit("deit_tiny_patch16_224", num_classes, kwargs)


@register_model
def deit_small_patch16_224(num_classes: int = 1000, **kwargs) -> ViT:
    """DeiT-S (timm's): 384 wide, 6 heads; 22 M parameters."""
    return _deit("deit_small_patch16_224", num_classes, kwargs)


@register_model
def deit_base_patch16_224(num_classes: int = 1000, **kwargs) -> ViT:
    """DeiT-B (timm's): 768 wide, 12 heads; 86 M parameters."""
    return _deit("deit_base_patch16_224", num_classes, kwargs)


@register_model
def vit_small_patch16_224(num_classes: int = 0, **kwargs) -> ViT:
    """ViT-S/16 (timm's; DINO's ``vit_small``, the DeiT-S architecture): 384 wide, 6 heads, 12 blocks, 16×16
    patches; any image size (the 224-px position embedding interpolated, for DINO's 96-px views)."""
    kwargs.setdefault("dynamic_img_size", True)
    return ViT(num_classes, timm_name="vit_small_patch16_224", **kwargs)


@register_model
def deit_tiny_distilled_patch16_224(num_classes: int = 1000, **kwargs) -> ViT:
    """DeiT-Ti with the distillation token and head (timm's)."""
    return _deit("deit_tiny_distilled_patch16_224", num_classes, kwargs)


@register_model
def deit_small_distilled_patch16_224(num_classes: int = 1000, **kwargs) -> ViT:
    """DeiT-S with the distillation token and head (timm's)."""
    return _deit("deit_small_distilled_patch16_224", num_classes, kwargs)


@register_model
def deit_base_distilled_patch16_224(num_classes: int = 1000, **kwargs) -> ViT:
    """DeiT-B with the distillation token and head (timm's)."""
    return _deit("deit_base_distilled_patch16_224", num_classes, kwargs)
