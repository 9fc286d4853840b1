"""``results.json``: what a chapter run measured, where, when, on which code, and its checks."""

from __future__ import annotations

import datetime as _dt
import json
import time
from pathlib import Path

from ..checks import Check
from ..engine.accel import auto_precision, use_gpu
from ..engine.rehearsal import rehearsing
from ..engine.speed import speed_switches
from ..io import write_json
from ..provenance import git_commit, machine
from ..training.shared_pairs import SHARED_PASS
from .registry import check_scale, get

SCHEMA = 1


class RunRecord:
    """Started at the top of a chapter, written at the end: ``RunRecord(...).write(metrics, checks)``."""

    def __init__(self, chapter: str, scale: str, dataset: str, out_dir: str | Path, parameters: dict):
        self.chapter = get(chapter)
        self.scale = check_scale(scale)
        self.dataset = dataset
        self.out_dir = Path(out_dir)
        self.parameters = dict(parameters)
        self.started = time.time()
        self.shared_runs: list[Path] = []

    def add_runs(self, run_dirs) -> None:
        """Count runs kept outside ``out_dir`` (shared teachers and students) in the training time."""
        self.shared_runs += [Path(p) for p in run_dirs]

    def training_time(self) -> float:
        """Seconds spent in training epochs, summed over every run under ``out_dir``.

        Read from each run's ``history.json``, so epochs finished before an interruption (and
        skipped when the chapter resumed) still count; shared runs added with :meth:`add_runs` too.
        Students trained together in one pass (:mod:`kdrepro.training.shared_pairs`) each carry the
        pass's epoch times: an epoch of a pass is counted once, not once per student.
        """
        total, passes = 0.0, {}
        found = set(self.out_dir.rglob("history.json"))
        found |= {p / "history.json" for p in self.shared_runs if (p / "history.json").is_file()}
        for path in sorted(found):
            for row in json.loads(path.read_text()):
                if SHARED_PASS in row:
                    passes[(row[SHARED_PASS], row.get("epoch"))] = float(row.get("time_s", 0.0))
                else:
                    total += float(row.get("time_s", 0.0))
        return round(total + sum(passes.values()), 1)

    def write(self, metrics: dict, checks: list[Check]) -> Path:
        commit, dirty = git_commit()
        record = {
            "schema": SCHEMA,
            "chapter": self.chapter.name,
            "title": self.chapter.title,
            "paper": self.chapter.paper,
            "scale": self.scale,
            "rehearsal": rehearsing(),  # the full recipe capped to a few steps: never published
            "dataset": self.dataset,
            "machine": machine(),
            "precision": auto_precision(use_gpu()),  # what "auto" recipes computed in (KDREPRO_PRECISION can force it)
            "speed_switches": [name for name, on in speed_switches().items() if on],  # of new runs (reused: their own)
            "commit": commit,
            "dirty": dirty,
            "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "wall_time_s": round(time.time() - self.started, 1),
            "training_time_s": self.training_time(),
            "parameters": self.parameters,
            "metrics": metrics,
            "checks": [c.to_dict() for c in checks],
        }
        return write_json(self.out_dir / "results.json", record)
