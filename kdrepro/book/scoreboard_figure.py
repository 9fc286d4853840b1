"""The scoreboard's figure: every checked number, published against measured, with the diagonal.

One panel per unit (test errors, top-1 %, ...). A point on the diagonal reproduced the paper
exactly; the bar through a point is the check's tolerance around the published value. Colour
*and* marker give the verdict (pass ○, fail ✕, not comparable □), so it reads in grey too.
Numbers a run did not measure (a pair only the full scale trains) have no point; the caption
under the figure counts them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..checks.published import get_published, is_published
from .checks_table import as_dict

STYLE = {  # verdict: (colour, marker, filled)
    "pass": ("#198754", "o", True),
    "fail": ("#b02a37", "X", True),
    "inconclusive": ("#997404", "D", True),
    "not comparable": ("#6c757d", "s", False),
}


@dataclass(frozen=True)
class Point:
    chapter: int
    label: str
    unit: str
    published: float
    measured: float
    verdict: str
    tolerance: tuple[float, float]  # allowed deviation below and above the published value


def _number(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _tolerance(key: str) -> tuple[float, float]:
    if not is_published(key):
        return (0.0, 0.0)
    p = get_published(key)
    tol = float(p.tolerance or 0.0)
    return {"at most": (0.0, tol), "at least": (tol, 0.0)}.get(p.sense, (tol, tol))


def points(published: list[tuple[int, dict]]) -> tuple[list[Point], int]:
    """``(number, results)`` of each chapter → its plottable checks, and how many numeric
    checks had no measurement."""
    found, unmeasured = [], 0
    for number, results in published:
        for check in map(as_dict, results.get("checks") or []):
            pub, meas = _number(check.get("published")), _number(check.get("measured"))
            if pub is None:
                continue
            if meas is None:
                unmeasured += 1
                continue
            key = str(check.get("key", ""))
            found.append(Point(number, key.rsplit("/", 1)[-1], str(check.get("unit") or "value"), pub, meas,
                               str(check.get("verdict")), _tolerance(key)))
    return found, unmeasured


def plot_scoreboard(pts: list[Point], path: Path) -> Path:
    """Draw ``pts`` into an SVG at ``path`` (byte-for-byte the same for the same points)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    units = sorted({p.unit for p in pts}) or ["value"]
    with plt.rc_context({"svg.hashsalt": "kdrepro-scoreboard", "svg.fonttype": "path", "font.size": 9}):
        fig, axes = plt.subplots(1, len(units), figsize=(max(7.0, 5.2 * len(units)), 5.0), squeeze=False)
        for ax, unit in zip(axes[0], units):
            _panel(ax, [p for p in pts if p.unit == unit], unit)
        handles = [plt.Line2D([], [], linestyle="", marker=m, markersize=7, color=c,
                              markerfacecolor=c if filled else "none", label=v)
                   for v, (c, m, filled) in STYLE.items()]
        fig.legend(handles=handles, loc="lower center", ncol=3, frameon=False)
        fig.suptitle("Published against measured, every checked number")
        fig.tight_layout(rect=(0, 0.07, 1, 0.95))
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, format="svg", metadata={"Date": None, "Creator": None})
        plt.close(fig)
    return path


def _panel(ax, pts: list[Point], unit: str) -> None:
    if not pts:
        ax.text(0.5, 0.5, "no checked number\nwas measured yet", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return
    values = [v for p in pts for v in (p.published - p.tolerance[0], p.published + p.tolerance[1], p.measured)]
    low, high = min(values), max(values)
    pad = 0.08 * (high - low or 1.0)
    lim = (low - pad, high + pad)
    ax.plot(lim, lim, color="#adb5bd", linestyle="--", linewidth=1, zorder=0, label="_diagonal")
    for p in pts:
        colour, marker, filled = STYLE.get(p.verdict, STYLE["not comparable"])
        ax.errorbar([p.published], [p.published], yerr=[[p.tolerance[0]], [p.tolerance[1]]], fmt="none",
                    ecolor=colour, alpha=0.35, elinewidth=6, zorder=1)
        ax.plot([p.published], [p.measured], linestyle="", marker=marker, markersize=7, color=colour,
                markerfacecolor=colour if filled else "none", zorder=3)
    if len(pts) <= 16:
        _labels(ax, pts, lim)
    ax.set(xlim=lim, ylim=lim, xlabel=f"published ({unit})", ylabel=f"measured ({unit})", aspect="equal",
           title=unit)
    ax.grid(alpha=0.3)


def _labels(ax, pts: list[Point], lim: tuple[float, float]) -> None:
    """Label each point right of it, nudging labels apart so that none overlaps another."""
    gap = 0.045 * (lim[1] - lim[0])
    placed: list[float] = []
    for p in sorted(pts, key=lambda q: q.measured):
        y = max([p.measured] + [q + gap for q in placed])
        placed.append(y)
        ax.annotate(f"{p.chapter}: {p.label}", (p.published, p.measured), xytext=(p.published + gap, y),
                    textcoords="data", fontsize=7, color="#212529", va="center",
                    arrowprops={"arrowstyle": "-", "color": "#adb5bd", "linewidth": 0.6})
