"""Reading a run's ``results.json`` and describing the run in words."""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import ConfigError


def load_results(path: Path) -> dict:
    """The parsed ``results.json`` at ``path``; a malformed file is refused with its path."""
    path = Path(path)
    try:
        results = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path} is not valid JSON ({exc}); rerun the chapter to rewrite it") from exc
    if not isinstance(results, dict):
        raise ConfigError(f"{path} does not hold a JSON object; rerun the chapter to rewrite it")
    return results


def machine_summary(results: dict) -> str:
    machine = results.get("machine")
    if isinstance(machine, dict):
        return str(machine.get("summary") or machine.get("cpu") or "unknown machine")
    return str(machine or "unknown machine")


def commit_markdown(results: dict) -> str:
    """The commit in Markdown, flagged when the working tree had uncommitted changes."""
    text = f"`{results.get('commit') or 'unknown'}`"
    return text + " **(dirty: uncommitted changes)**" if results.get("dirty") else text


def wall_time_text(seconds) -> str:
    """``1234.5`` → ``20 min 35 s``."""
    if not isinstance(seconds, (int, float)):
        return "unknown"
    seconds = round(float(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {secs:02d} s"
    return f"{secs} s"


def run_facts(results: dict) -> list[str]:
    """Markdown bullets: scale, dataset, machine, commit, date and wall time of a run."""
    return [
        f"- **Scale:** {results.get('scale', '?')}",
        f"- **Dataset:** `{results.get('dataset', '?')}`",
        f"- **Machine:** {machine_summary(results)}",
        f"- **Commit:** {commit_markdown(results)}",
        f"- **Date:** {results.get('date', '?')}",
        f"- **Wall time:** {wall_time_text(results.get('wall_time_s'))}{_training_note(results)}",
    ]


def _training_note(results: dict) -> str:
    """Where training epochs were resumed from checkpoints, say how long they took in all."""
    wall, train = results.get("wall_time_s"), results.get("training_time_s")
    if isinstance(wall, (int, float)) and isinstance(train, (int, float)) and train > wall:
        return f" (resumed from checkpoints; its training epochs took {wall_time_text(train)} in all)"
    return ""
