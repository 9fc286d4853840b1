"""AB distillation: the fraction of neurons on the teacher's side of their activation boundary,
over the initialisation stage and the training that follows."""

from __future__ import annotations

import matplotlib.pyplot as plt


def plot_boundary_agreement(stages: dict[str, list[dict]], start: float | None = None, ax=None):
    """``stages``: stage name → history with ``probe_boundary_agreement``; ``start``: the value
    before any training (plotted at epoch 0)."""
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 3.5))
    offset = 0
    if start is not None:
        ax.plot([0], [100 * start], "ko", label="before training")
    for name, history in stages.items():
        xs = [offset + r["epoch"] for r in history]
        ax.plot(xs, [100 * r["probe_boundary_agreement"] for r in history], marker=".", label=name)
        offset = xs[-1] if xs else offset
        ax.axvline(offset, color="gray", lw=0.5)
    ax.axhline(50, ls=":", color="gray", lw=1)
    ax.set(xlabel="epoch (initialisation, then training)", ylabel="boundaries that agree (%)",
           title="Activation boundaries shared with the teacher (test images)")
    ax.legend(fontsize=8)
    return ax.figure
