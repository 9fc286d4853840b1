"""Publishing an executed chapter run into the book, with a run card on top."""

from __future__ import annotations

from pathlib import Path

import nbformat

from ..chapters import ALL_CHAPTERS, Chapter, check_scale
from ..errors import ConfigError
from ..io import atomic_write, write_text
from ..paths import book_root, runs_root
from .run_info import load_results, run_facts
from .scoreboard import write_scoreboard
from .toc import write_toc

RUN_CARD_TAG = "kdrepro-run-card"


def _chapter(name: str) -> Chapter:
    for chapter in ALL_CHAPTERS:
        if chapter.name == name:
            return chapter
    valid = ", ".join(c.name for c in ALL_CHAPTERS)
    raise ConfigError(f"unknown chapter {name!r}; valid chapters: {valid}")


def overrides(nb: nbformat.NotebookNode) -> list[tuple[str, str]]:
    """The parameters papermill injected into an executed notebook (its ``injected-parameters``
    cell), as (name, source text) pairs, less those the runner sets itself (scale, out_dir)."""
    import ast

    for cell in nb.cells:
        if "injected-parameters" in cell.get("metadata", {}).get("tags", []):
            found = []
            for node in ast.parse(cell.source).body:
                if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                    name = node.targets[0].id
                    if name not in ("scale", "out_dir"):
                        found.append((name, ast.get_source_segment(cell.source, node.value)))
            return found
    return []


def rerun_command(chapter: str, scale: str, params: list[tuple[str, str]] = ()) -> str:
    """``kdrepro run`` with the same parameters, quoted for a POSIX shell."""
    import ast
    import shlex

    def plain(value: str) -> str:  # a string parameter is passed bare, as `kdrepro run` reads it
        try:
            literal = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            return value
        return literal if isinstance(literal, str) else value

    return " ".join([f"kdrepro run {chapter} --scale {scale}",
                     *(f"-p {name} {shlex.quote(plain(value))}" for name, value in params)])


def run_card(results: dict, chapter: str, scale: str, params: list[tuple[str, str]] = ()) -> str:
    """The Markdown of the run card: what ran, where, when, and how to rerun it."""
    return "\n".join([
        ":::{admonition} About this run",
        ":class: note",
        "",
        *run_facts({**results, "scale": scale}),
        "",
        f"Rerun it with `{rerun_command(chapter, scale, params)}`; the {{doc}}`scoreboard <../scoreboard>` "
        "collects the checks of every chapter.",
        ":::",
    ])


def add_run_card(nb: nbformat.NotebookNode, card: str) -> nbformat.NotebookNode:
    """Put ``card`` right after the first (title) Markdown cell, replacing an earlier card."""
    nb.cells = [c for c in nb.cells if RUN_CARD_TAG not in c.get("metadata", {}).get("tags", [])]
    cell = nbformat.v4.new_markdown_cell(card, metadata={"tags": [RUN_CARD_TAG]})
    if nb.nbformat_minor < 5:
        cell.pop("id", None)
    first = next((i for i, c in enumerate(nb.cells) if c.cell_type == "markdown"), -1)
    nb.cells.insert(first + 1, cell)
    return nb


def publish(chapter_name: str, scale: str, runs: Path | None = None, book: Path | None = None) -> Path:
    """Copy ``runs/CHAPTER/SCALE/`` (executed notebook + results.json) into ``book/chapters/``.

    Returns the published notebook's path; regenerates the toc and the scoreboard.
    """
    chapter = _chapter(chapter_name)
    check_scale(scale)
    run_dir = Path(runs or runs_root()) / chapter.name / scale
    book = Path(book or book_root())
    rerun = f"kdrepro run {chapter.name} --scale {scale}"
    notebook, results_path = run_dir / chapter.notebook, run_dir / "results.json"
    for needed in (notebook, results_path):
        if not needed.is_file():
            raise FileNotFoundError(f"no finished {scale} run of {chapter.name!r}: {needed} is missing; "
                                    f"run it first: {rerun}")
    results = load_results(results_path)
    if results.get("chapter") != chapter.name or results.get("scale") != scale:
        raise ConfigError(
            f"{results_path} belongs to chapter {results.get('chapter')!r} at scale {results.get('scale')!r}, "
            f"not {chapter.name!r} at {scale!r}; rerun it: {rerun}")

    nb = nbformat.read(notebook, as_version=4)
    add_run_card(nb, run_card(results, chapter.name, scale, overrides(nb)))
    stem = Path(chapter.notebook).stem
    target = book / "chapters" / f"{stem}.ipynb"
    raw_results = results_path.read_bytes()
    atomic_write(target.with_name(f"{stem}.results.json"), lambda f: f.write(raw_results))
    write_text(target, nbformat.writes(nb))
    write_toc(book)
    write_scoreboard(book)
    return target
