"""Teacher-Assistant KD's figures: the capacity-gap curve and the assistant size."""

from __future__ import annotations

import matplotlib.pyplot as plt


def plot_gap_curve(gap, baseline: float, student: str, ax=None):
    """Student accuracy against the teacher it learned from: directly, and through the assistant
    (``gap``: :func:`kdrepro.chapters.takd.gap_table`); the dotted line is the student alone."""
    if ax is None:
        _, ax = plt.subplots(figsize=(6.0, 3.6))
    x = list(gap.index)
    ax.plot(x, gap["student, KD from the teacher"], marker="o", label="KD from the teacher")
    through = [c for c in gap.columns if c.startswith("student, through")]
    for column in through:
        ax.plot(x, gap[column], marker="s", ls="--", label=column.replace("student, ", "KD "))
    ax.axhline(baseline, ls=":", color="gray", lw=1)
    ax.annotate(f"{student} alone", (0, baseline), fontsize=8, color="gray", va="bottom")
    ax.set(xlabel="teacher", ylabel=f"{student} test accuracy (%)", title="The capacity gap")
    ax.legend(fontsize=8)
    return ax.figure


def plot_assistant_size(table, student: str, teacher: str, direct: float, ax=None):
    """Student accuracy through each assistant size; the dotted line is KD straight from the teacher."""
    if ax is None:
        _, ax = plt.subplots(figsize=(4.8, 3.4))
    ax.bar(list(table.index), table["student accuracy"], color="C2")
    ax.axhline(direct, ls=":", color="gray", lw=1)
    ax.annotate(f"directly from {teacher}", (0, direct), fontsize=8, color="gray", va="bottom")
    low = min(list(table["student accuracy"]) + [direct])
    ax.set(xlabel="assistant", ylabel=f"{student} test accuracy (%)", title="Which assistant?", ylim=(low - 2, None))
    return ax.figure
