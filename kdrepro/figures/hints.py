"""FitNets' picture: the teacher's hint layer, the student's guided layer and the regressor."""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch


def _box(ax, x, y, w, h, text, color):
    ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.02", fc=color, ec="black", lw=0.8))
    ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=8)


def _arrow(ax, a, b, text=""):
    ax.add_patch(FancyArrowPatch(a, b, arrowstyle="-|>", mutation_scale=10, lw=0.8))
    if text:
        ax.text((a[0] + b[0]) / 2 + 0.05, (a[1] + b[1]) / 2, text, fontsize=7, va="center")


def plot_hint_diagram(teacher: str, student: str, teacher_groups: list, student_groups: list, hint: int,
                      guided: int, regressor: str):
    """Both nets as stacks of feature groups (shapes C×H×W); the hint and guided layers are
    highlighted and joined through the regressor, whose description is ``regressor``."""
    fig, ax = plt.subplots(figsize=(8, 3.4))
    n = max(len(teacher_groups), len(student_groups))
    for row, (name, groups, special, color) in enumerate(((teacher, teacher_groups, hint, "#f4c7a1"),
                                                        (student, student_groups, guided, "#a9cce3"))):
        y = 1.6 - 1.4 * row
        ax.text(-0.1, y + 0.25, name, ha="right", va="center", fontsize=9, weight="bold")
        for i, shape in enumerate(groups):
            label = ("stem" if i == 0 else f"group {i}") + "\n" + "×".join(map(str, shape))
            _box(ax, i * 1.25, y, 1.0, 0.5, label, "#e74c3c" if i == special and row == 0 else
                 "#2e86c1" if i == special else color)
            if i:
                _arrow(ax, ((i - 1) * 1.25 + 1.0, y + 0.25), (i * 1.25, y + 0.25))
    gx = guided * 1.25 + 0.5
    hx = hint * 1.25 + 0.5
    _box(ax, (gx + hx) / 2 - 0.55, 0.95, 1.1, 0.4, "regressor r\n" + regressor, "#d5f5e3")
    _arrow(ax, (gx, 0.7), ((gx + hx) / 2, 0.95))
    _arrow(ax, ((gx + hx) / 2, 1.35), (hx, 1.6), "  hint loss ‖u_h − r(v_g)‖²")
    ax.set_xlim(-1.3, n * 1.25)
    ax.set_ylim(0, 2.3)
    ax.axis("off")
    ax.set_title("FitNets: the student's guided layer (blue) learns the teacher's hint (red) through r", fontsize=9)
    return fig
