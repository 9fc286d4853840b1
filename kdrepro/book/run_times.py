"""How long each chapter takes at each scale, as measured: ``book/run_times.json``.

``kdrepro publish CHAPTER SCALE`` records the time of the run it publishes; with ``--time-only``
it records a run's time without putting its page in the book (how the smoke times get there).
A chapter page's "rerun" box and the landing page read the times from here, each with the
machine it was measured on; a scale that was never run says so instead of guessing.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..io import write_text
from ..paths import book_root
from .run_info import machine_summary, wall_time_text

FILE = "run_times.json"


def measured_time(results: dict) -> tuple[float | None, str]:
    """Seconds a run of this chapter takes from scratch, and how that number was obtained.

    ``kdrepro run`` adds the whole execution's time (``run_time_s``, the kernel's start included);
    a notebook run otherwise knows its own ``wall_time_s``. A run that resumed from checkpoints
    took less than a fresh one; its training epochs (summed over every run it used, teachers
    included) are then the better measure.
    """
    wall = results.get("run_time_s", results.get("wall_time_s"))
    train = results.get("training_time_s")
    if isinstance(train, (int, float)) and isinstance(wall, (int, float)) and train > wall:
        return float(train), "its training epochs, summed (the run resumed from checkpoints)"
    if isinstance(wall, (int, float)):
        return float(wall), "wall time of one run"
    return None, "not recorded"


def entry(results: dict) -> dict:
    """The ``run_times.json`` record of one run."""
    seconds, how = measured_time(results)
    return {"time_s": seconds, "how": how, "machine": machine_summary(results), "dataset": results.get("dataset"),
            "commit": results.get("commit"), "date": results.get("date")}


def load_times(book: Path | None = None) -> dict:
    """``{chapter: {scale: entry}}``; empty when nothing was recorded yet."""
    path = Path(book or book_root()) / FILE
    return json.loads(path.read_text()) if path.is_file() else {}


def record_time(chapter: str, scale: str, results: dict, book: Path | None = None) -> Path:
    """Store the time of ``results`` (a run of ``chapter`` at ``scale``) in ``book/run_times.json``."""
    path = Path(book or book_root()) / FILE
    times = load_times(book)
    times.setdefault(chapter, {})[scale] = entry(results)
    ordered = {c: dict(sorted(s.items())) for c, s in sorted(times.items())}
    write_text(path, json.dumps(ordered, indent=1, ensure_ascii=False) + "\n")
    return path


def time_text(record: dict | None) -> str:
    """``about 58 min 05 s on <machine>``, or that the scale has not been measured."""
    if not record or record.get("time_s") is None:
        return "not measured yet"
    text = f"about {rough_time(record['time_s'])} on {record.get('machine') or 'an unnamed machine'}"
    return text + (" (its training epochs, summed)" if "training epochs" in str(record.get("how")) else "")


def rough_time(seconds: float) -> str:
    """A duration to the minute from ten minutes up (``1 h 31 min``, ``58 min``), else to the second."""
    if seconds < 600:
        return wall_time_text(seconds)
    hours, minutes = divmod(round(seconds / 60), 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min"
