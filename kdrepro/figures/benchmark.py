"""The same-pairs benchmark: each method's accuracy (mean ± std over seeds) beside the CRD table."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np


def plot_benchmark(rows: list[dict], title: str):
    """``rows``: dicts with ``method``, ``mean``, ``std`` and ``published`` (None when absent)."""
    fig, ax = plt.subplots(figsize=(7, 3.6))
    x = np.arange(len(rows))
    ax.bar(x - 0.2, [r["mean"] for r in rows], 0.4, yerr=[r["std"] for r in rows], capsize=3, label="ours")
    pub = [r["published"] if r["published"] is not None else np.nan for r in rows]
    if any(p == p for p in pub):  # the pair is in the CRD table
        ax.bar(x + 0.2, pub, 0.4, color="lightgray", edgecolor="gray", label="CRD table (CIFAR-100)")
    ax.set_xticks(x, [r["method"] for r in rows], rotation=20, fontsize=8)
    lo = min([r["mean"] - r["std"] for r in rows] + [p for p in pub if p == p]) - 3
    ax.set_ylim(max(lo, 0), None)
    ax.set(ylabel="top-1 test accuracy (%)", title=title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
