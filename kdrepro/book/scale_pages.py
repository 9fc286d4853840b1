"""Which published run a chapter's page shows, and where its other scales' pages live.

A chapter's page (``book/chapters/STEM.ipynb``) shows its largest published scale: the full run
once there is one. A run of another scale stays reachable as ``book/chapters/<scale>/STEM.ipynb``
(with its ``results.json`` beside it): publishing a full run moves the medium page there, and
publishing a medium run beside a full page puts it there directly. Only the chapter's page feeds
the scoreboard and the landing table.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..chapters.registry import SCALES
from .run_info import load_results

RANK = {scale: i for i, scale in enumerate(SCALES)}  # smoke < medium < full


def page_scale(chapters: Path, stem: str) -> str | None:
    """The scale of the run that the chapter's page shows, None when none is published."""
    results = chapters / f"{stem}.results.json"
    return str(load_results(results).get("scale")) if results.is_file() else None


def _move(chapters: Path, stem: str, to: Path) -> None:
    to.mkdir(parents=True, exist_ok=True)
    for suffix in (".ipynb", ".results.json"):
        if (chapters / f"{stem}{suffix}").is_file():
            os.replace(chapters / f"{stem}{suffix}", to / f"{stem}{suffix}")


def place(chapters: Path, stem: str, scale: str) -> Path:
    """Where a ``scale`` run of the chapter ``stem`` is published (its notebook's path). A larger
    scale than the page shows takes the page, which moves to ``<its scale>/``."""
    shown = page_scale(chapters, stem)
    if shown is None or shown == scale or RANK[scale] > RANK.get(shown, -1):
        if shown not in (None, scale):
            _move(chapters, stem, chapters / shown)
        for suffix in (".ipynb", ".results.json"):  # this scale now has the chapter's page
            (chapters / scale / f"{stem}{suffix}").unlink(missing_ok=True)
        return chapters / f"{stem}.ipynb"
    return chapters / scale / f"{stem}.ipynb"


def other_scales(chapters: Path, stem: str) -> list[str]:
    """The scales with a page of their own for the chapter ``stem`` (not its main page), smallest first."""
    return [s for s in SCALES if (chapters / s / f"{stem}.ipynb").is_file() and
            (chapters / s / f"{stem}.results.json").is_file()]
