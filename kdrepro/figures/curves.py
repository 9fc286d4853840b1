"""Test accuracy per epoch for several runs on one axis."""

from __future__ import annotations

import matplotlib.pyplot as plt


def plot_test_accuracy(histories: dict[str, list[dict]], title: str = "Test accuracy during training",
                       reference: dict[str, float] | None = None, ax=None):
    """One line per run (label → per-epoch history); ``reference`` adds dotted horizontal lines."""
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 3.8))
    for label, history in histories.items():
        ax.plot([r["epoch"] for r in history], [r["test_accuracy"] for r in history], marker=".", label=label)
    for label, value in (reference or {}).items():
        ax.axhline(value, ls=":", lw=1, color="gray")
        ax.annotate(label, (ax.get_xlim()[0], value), fontsize=8, color="gray", va="bottom")
    ax.set(xlabel="epoch", ylabel="test accuracy (%)", title=title)
    ax.legend(fontsize=8)
    return ax.figure
