"""CTKD's figures: the learned temperature over training, and its spread over images."""

from __future__ import annotations

import matplotlib.pyplot as plt
import torch


def plot_temperature_curves(histories: dict[str, list[dict]], ax=None):
    """The learned temperature after each epoch (mean over probe images, ± one std for instance-wise)."""
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 3.6))
    for label, history in histories.items():
        epochs = [r["epoch"] for r in history]
        mean = [r["probe_temperature"] for r in history]
        std = [r.get("probe_temperature_std", 0.0) for r in history]
        line, = ax.plot(epochs, mean, marker=".", label=label)
        if any(std):
            ax.fill_between(epochs, [m - s for m, s in zip(mean, std)], [m + s for m, s in zip(mean, std)],
                            color=line.get_color(), alpha=0.2)
    ax.axhline(4.0, ls=":", color="gray", lw=1)
    ax.annotate("KD's fixed T = 4", (ax.get_xlim()[0], 4.0), fontsize=8, color="gray", va="bottom")
    ax.set(xlabel="epoch", ylabel="temperature τ", title="The learned temperature during training", ylim=(0, 21.5))
    ax.legend(fontsize=8)
    return ax.figure


def plot_temperature_histogram(tau: torch.Tensor, ax=None):
    """How the instance-wise temperatures spread over test images at the end of training."""
    if ax is None:
        _, ax = plt.subplots(figsize=(5.0, 3.4))
    ax.hist(tau.numpy(), bins=30, range=(1, 21), color="C1")
    ax.set(xlabel="temperature τ", ylabel="test images", title=f"Instance-wise τ at the end ({len(tau)} images)")
    return ax.figure
