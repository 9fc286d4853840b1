"""TinyViT's figure: test accuracy and storage against the number K of stored logits."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd


def plot_k_ablation(table: pd.DataFrame):
    """Accuracy of the students trained from the top-K store (bars: its size on disk), with the
    live teacher's students as a line."""
    stored = table[table["storage (MiB)"].notna()]
    fig, ax = plt.subplots(figsize=(6.0, 3.4))
    ks = [name.split("top-")[-1] for name in stored.index]
    ax.plot(ks, stored["test accuracy (%)"], marker="o", color="C0", label="from the store")
    if "live teacher" in table.index:
        ax.axhline(table.loc["live teacher", "test accuracy (%)"], ls="--", color="C3", label="live teacher")
    ax.set(xlabel="K (top-K probabilities stored)", ylabel="test accuracy (%)", title="Accuracy and storage against K")
    twin = ax.twinx()
    twin.bar(ks, stored["storage (MiB)"], alpha=0.25, color="gray", label="storage")
    twin.set_ylabel("storage (MiB)")
    ax.set_zorder(twin.get_zorder() + 1)
    ax.patch.set_visible(False)
    ax.legend(fontsize=8, loc="lower right")
    return fig
