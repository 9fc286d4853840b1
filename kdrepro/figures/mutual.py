"""Deep Mutual Learning's figures: peers against their independent twins, and cohort size."""

from __future__ import annotations

import matplotlib.pyplot as plt


def plot_peers_vs_alone(cohort, twins, title: str = "", ax=None):
    """Each peer's test accuracy per epoch (solid) beside its independent twin's (dashed, same colour).

    ``cohort`` is a :class:`~kdrepro.training.cohorts.CohortRun`; ``twins`` the twins' runs in peer order."""
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 3.8))
    for k, (net, twin) in enumerate(zip(cohort.models, twins)):
        colour = f"C{k}"
        epochs = [r["epoch"] for r in cohort.history]
        ax.plot(epochs, cohort.curve(k), color=colour, marker=".", label=f"peer {k + 1} ({net}) with DML")
        ax.plot([r["epoch"] for r in twin.history], twin.curve(0), color=colour, ls="--", marker=".",
                label=f"peer {k + 1} ({net}) alone")
    ax.set(xlabel="epoch", ylabel="test accuracy (%)", title=title or " + ".join(cohort.models))
    ax.legend(fontsize=8)
    return ax.figure


def plot_cohort_size(table, model: str, ax=None):
    """Mean accuracy (± std over seeds) against the number of networks (1 = trained alone)."""
    if ax is None:
        _, ax = plt.subplots(figsize=(4.8, 3.4))
    ax.errorbar(table.index, table["mean accuracy"], yerr=table["std over seeds"], marker="o", capsize=3)
    ax.set_xticks(list(table.index))
    ax.set(xlabel="networks in the cohort (1 = alone)", ylabel="mean test accuracy (%)",
           title=f"Cohorts of {model}")
    return ax.figure
