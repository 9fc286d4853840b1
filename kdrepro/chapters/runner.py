"""Run a chapter's notebook headlessly with papermill into ``runs/CHAPTER/SCALE/``."""

from __future__ import annotations

import ast
import json
import os
import shutil
import sys
import time
from pathlib import Path

from .registry import Chapter, check_scale, get
from ..engine.accel import launched_processes
from ..paths import REHEARSE_ENV
from ..errors import ConfigError, KdreproError
from ..io import write_json
from ..paths import runs_root

RESERVED = ("scale", "out_dir")  # set by the runner itself


def notebook_parameters(chapter: Chapter) -> dict:
    """The names and defaults of the notebook's ``parameters`` cell."""
    import papermill

    found = papermill.inspect_notebook(str(chapter.source))
    if not found:
        raise ConfigError(f"{chapter.source.name} has no cell tagged 'parameters'")
    return {name: spec["default"] for name, spec in found.items()}


def parse_value(text: str):
    """``-p epochs 5`` gives 5, ``-p widths [30,800]`` a list, ``-p imagenet true`` (or ``True``) a bool;
    anything else stays a string."""
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def run_dir(chapter: str, scale: str) -> Path:
    """``runs/CHAPTER/SCALE`` (``runs/rehearsal/CHAPTER/SCALE`` in a rehearsal)."""
    return runs_root() / chapter / scale


def refuse_under_launch() -> None:
    """A chapter runs in one process (its notebook kernel): under ``accelerate launch`` every process
    would execute it and write the same notebook and results."""
    if launched_processes() > 1:
        raise ConfigError("`kdrepro run` executes a chapter in one process: run it without `accelerate launch` "
                          "(launch the training commands, `kdrepro teacher train` and `kdrepro pair train`, instead)")


def run_chapter(name: str, scale: str = "smoke", parameters: dict | None = None, *,
                out_dir: str | Path | None = None, fresh: bool = False, log_output: bool = True,
                rehearse: bool = False) -> Path:
    """Execute chapter ``name`` at ``scale``; returns the executed notebook's path.

    Training runs inside the chapter checkpoint into the output folder, so running it again
    resumes (and skips what is finished); ``fresh`` deletes the folder first. Unknown chapters,
    scales and parameter names are refused with the valid ones, and so is a run under ``accelerate launch``.
    ``rehearse`` (full scale only) runs the full recipe capped to a few steps (:mod:`kdrepro.engine.rehearsal`).
    """
    refuse_under_launch()
    chapter = get(name)
    check_scale(scale)
    if rehearse and scale != "full":
        raise ConfigError(f"--rehearse runs the full recipe capped to a few steps: use it with --scale full, not {scale}")
    parameters = dict(parameters or {})
    valid = notebook_parameters(chapter)
    unknown = sorted(set(parameters) - set(valid))
    if unknown:
        raise ConfigError(f"unknown parameter(s) {', '.join(unknown)} for chapter {name!r}; "
                          f"valid: {', '.join(sorted(set(valid) - set(RESERVED)))}")
    clash = sorted(set(parameters) & set(RESERVED))
    if clash:
        raise ConfigError(f"set {', '.join(clash)} with --scale/--out, not as a parameter")
    before = os.environ.get(REHEARSE_ENV)
    if rehearse:  # the notebook's kernel inherits it (see kdrepro.engine.rehearsal)
        os.environ[REHEARSE_ENV] = "1"
    try:
        return _execute(chapter, scale, parameters, out_dir, fresh, log_output)
    finally:
        if before is None:
            os.environ.pop(REHEARSE_ENV, None)
        else:
            os.environ[REHEARSE_ENV] = before


def _execute(chapter: Chapter, scale: str, parameters: dict, out_dir, fresh: bool, log_output: bool) -> Path:
    import papermill

    out = Path(out_dir) if out_dir is not None else run_dir(chapter.name, scale)
    if fresh and out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    target = out / chapter.notebook
    started = time.time()
    try:
        papermill.execute_notebook(str(chapter.source), str(target),
                                   parameters={**parameters, "scale": scale,
                                               **({"out_dir": str(out)} if out_dir is not None else {})},
                                   cwd=str(chapter.source.parent), log_output=log_output,
                                   progress_bar=sys.stderr.isatty())
    except papermill.PapermillExecutionError as error:
        raise _stopped(chapter, error, target) from None
    add_run_time(out / "results.json", started)
    return target


# kdrepro's own refusals, whose message already says what to do
_OWN_ERRORS = {cls.__name__ for cls in (KdreproError, *KdreproError.__subclasses__())} | {"FileNotFoundError"}


def _stopped(chapter: Chapter, error, notebook: Path) -> KdreproError:
    """One line for a chapter that stopped in a cell, instead of papermill's traceback: a refusal's own
    message, or the exception and where its traceback is."""
    where = f"the partial notebook, with the traceback: {notebook}"
    if error.ename in _OWN_ERRORS:
        return KdreproError(f"{chapter.name} stopped: {error.evalue} ({where})")
    return KdreproError(f"{chapter.name} failed in cell {error.exec_count}: {error.ename}: {error.evalue} ({where})")


def add_run_time(results: Path, started: float) -> None:
    """Add the whole execution's seconds (kernel start and imports included, which the notebook's
    own ``wall_time_s`` cannot see) to the ``results.json`` this run wrote."""
    if results.is_file() and results.stat().st_mtime >= started:
        record = json.loads(results.read_text())
        record["run_time_s"] = round(time.time() - started, 1)
        write_json(results, record)
