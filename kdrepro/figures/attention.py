"""Attention maps (mean over channels of A², Zagoruyko & Komodakis 2017) of several models on the
same test images, one row per image, one column per model, for one feature group."""

from __future__ import annotations

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F

from ..data import normalize
from ..methods.attention_transfer import attention_map


@torch.no_grad()
def plot_attention_maps(images: torch.Tensor, models: dict, mean, std, group: int = 2, labels=None):
    """``images``: uint8 N×3×H×W; ``models``: label → model (eval mode); ``group``: index into
    ``features`` (1 … stages). Each map is shown at the image's size."""
    x = normalize(images, mean, std)
    maps = {}
    for name, model in models.items():
        model.eval()
        f = model(x.to(next(model.parameters()).device)).features[group].cpu()
        q = attention_map(f, normalize=False).view(len(x), 1, *f.shape[2:])
        maps[name] = F.interpolate(q, size=images.shape[2:], mode="bilinear", align_corners=False)[:, 0]
    n, cols = len(images), 1 + len(models)
    fig, axes = plt.subplots(n, cols, figsize=(1.9 * cols, 1.9 * n), squeeze=False)
    for i in range(n):
        axes[i, 0].imshow(images[i].permute(1, 2, 0).numpy())
        axes[i, 0].set_title(labels[i] if labels is not None else "", fontsize=8)
        for j, (name, m) in enumerate(maps.items(), start=1):
            axes[i, j].imshow(m[i].numpy(), cmap="inferno")
            if i == 0:
                axes[i, j].set_title(name, fontsize=9)
    for ax in axes.flat:
        ax.axis("off")
    fig.suptitle(f"Attention maps at feature group {group}", fontsize=10)
    fig.tight_layout()
    return fig
