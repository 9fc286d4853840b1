"""DINO's figures: k-NN accuracy and the collapse diagnostics over training (the paper's Figure 7),
and the class token's self-attention over test images (its Figure 1)."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import pandas as pd
import torch


def plot_collapse_curves(curves: pd.DataFrame, out_dim: int, initial_knn: float | None = None):
    """Per variant and epoch: the teacher's k-NN accuracy, its output entropy (0: one dimension;
    log K: uniform) and the KL divergence from the teacher's output to the student's."""
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.4))
    columns = ("k-NN accuracy (%)", "teacher entropy", "KL(teacher ‖ student)")
    for variant, rows in curves.groupby("variant", sort=False):
        for ax, column in zip(axes, columns):
            ax.plot(rows["epoch"], rows[column], marker=".", label=variant)
    if initial_knn is not None:
        axes[0].axhline(initial_knn, ls=":", color="gray", lw=1)
        axes[0].annotate("untrained", (curves["epoch"].min(), initial_knn), fontsize=8, color="gray", va="bottom")
    axes[1].axhline(math.log(out_dim), ls="--", color="gray", lw=1)
    axes[1].annotate("uniform (log K)", (curves["epoch"].min(), math.log(out_dim)), fontsize=8, color="gray",
                     va="top")
    for ax, column in zip(axes, columns):
        ax.set(xlabel="epoch", title=column)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_class_attention(images: torch.Tensor, attention: torch.Tensor):
    """Each image beside its class token's attention over the patches, one map per head."""
    n, heads = attention.shape[:2]
    fig, axes = plt.subplots(n, heads + 1, figsize=(1.7 * (heads + 1), 1.7 * n), squeeze=False)
    for i in range(n):
        axes[i, 0].imshow(images[i].permute(1, 2, 0).numpy())
        for h in range(heads):
            axes[i, h + 1].imshow(attention[i, h].numpy(), cmap="inferno")
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0, 0].set_title("image", fontsize=9)
    for h in range(heads):
        axes[0, h + 1].set_title(f"head {h + 1}", fontsize=9)
    fig.tight_layout()
    return fig
