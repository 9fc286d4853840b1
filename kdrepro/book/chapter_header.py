"""The header every published chapter page opens with, under its title and the paper's claim.

It says which run the page shows (scale, dataset, machine, commit, date, wall time), gives the
run's checks against the paper (the judged ones in a table, the not-comparable ones folded
under it), and a "rerun this chapter" box: the exact ``kdrepro run`` and ``papermill`` commands
for every scale, with the time each took on the machine it was measured on. The header is
rebuilt from ``results.json`` and ``book/run_times.json`` whenever the book is built, so a
change to its layout reaches every published page without rerunning anything.
"""

from __future__ import annotations

import ast
import json
import shlex
from pathlib import Path

import nbformat

from ..chapters.registry import ALL_CHAPTERS, SCALES, Chapter
from ..io import write_text
from ..paths import book_root
from .checks_table import checks_html_folded
from .run_info import load_results, run_facts
from .run_times import load_times, time_text
from .scale_pages import other_scales
from .summary import ChapterSummary, badge_html

HEADER_TAG = "kdrepro-run-card"

SCALE_TEXT = {
    "smoke": "a few steps on a slice of the data: proves the chapter runs (CI runs it); never compared with the paper",
    "medium": "the chapter's reduced recipe (its parameters cell and `kdrepro/recipes/` give it exactly)",
    "full": "the paper's setting, on the paper's dataset (the chapter refuses, saying what to prepare, if it is "
            "missing)",
}


def _literal(value: str):
    try:
        return ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return value


def kdrepro_command(chapter: str, scale: str, params: list[tuple[str, str]] = ()) -> str:
    """``kdrepro run`` with the given parameters (name, source text), quoted for a POSIX shell."""
    def bare(value: str) -> str:  # a string parameter is passed bare, as `kdrepro run` reads it
        literal = _literal(value)
        return literal if isinstance(literal, str) else value

    return " ".join([f"kdrepro run {chapter} --scale {scale}",
                     *(f"-p {name} {shlex.quote(bare(value))}" for name, value in params)])


def papermill_command(chapter: Chapter, scale: str, params: list[tuple[str, str]] = ()) -> str:
    """The same run with papermill, from the repository root, into the folder ``kdrepro run`` uses
    (created first: papermill does not create it).

    Strings and numbers go through ``-p``; lists, booleans and None through ``-y`` (YAML), which
    papermill does not guess from ``-p``.
    """
    folder = f"runs/{chapter.name}/{scale}"
    parts = [f"mkdir -p {folder} && papermill notebooks/{chapter.notebook} {folder}/{chapter.notebook}",
             f"-p scale {scale}"]
    for name, value in params:
        literal = _literal(value)
        if isinstance(literal, str) or (isinstance(literal, (int, float)) and not isinstance(literal, bool)):
            parts.append(f"-p {name} {shlex.quote(str(literal))}")
        else:
            parts.append(f"-y {shlex.quote(f'{name}: {json.dumps(literal)}')}")
    return " ".join(parts)


def rerun_box(chapter: Chapter, scale: str, params: list[tuple[str, str]], times: dict) -> str:
    """The "Rerun this chapter" admonition (MyST)."""
    rows = ["| Scale | What it runs | Time it took |", "|---|---|---|"]
    rows += [f"| **{s}** | {SCALE_TEXT[s]} | {time_text(times.get(s))} |" for s in SCALES]
    commands = []
    for s in SCALES:
        commands += [f"# {s}", kdrepro_command(chapter.name, s), papermill_command(chapter, s)]
    exact = []
    if params:
        exact = [f"This page's **{scale}** run set parameters of its own; to repeat exactly that run:", "",
                 "```bash", kdrepro_command(chapter.name, scale, params), papermill_command(chapter, scale, params),
                 "```", ""]
    return "\n".join([
        "::::{admonition} Rerun this chapter",
        ":class: tip",
        "",
        "From the repository root, after `make install` (or `pip install -r requirements.txt && pip install -e .`). "
        "A rerun resumes from the checkpoints of an interrupted one; `kdrepro run … --fresh` starts over. "
        "The times are those measured for this chapter, each on the machine named.",
        "",
        *rows,
        "",
        "```bash",
        *commands,
        "```",
        "",
        *exact,
        f"`kdrepro publish {chapter.name} SCALE` then puts a finished run into the book, with this header.",
        "::::",
    ])


def _other_runs(stem: str, page_of: str | None, others: list[str]) -> list[str]:
    """A line linking the chapter's other published scales (or, on such a page, its main page)."""
    if page_of:
        return ["", f"This page keeps the chapter's **{page_of}** run; {{doc}}`the chapter's page <../{stem}>` "
                    "shows its largest published scale."]
    if others:
        links = ", ".join(f"{{doc}}`the {s} run <{s}/{stem}>`" for s in others)
        return ["", f"Also published: {links}."]
    return []


def header_markdown(chapter: Chapter, results: dict, params: list[tuple[str, str]], times: dict,
                    others: list[str] = (), page_of: str | None = None) -> str:
    """The whole header cell: run facts, checks, rerun box. ``others``: the scales published on pages
    of their own; ``page_of``: set on such a page (one folder down), to its scale."""
    summary = ChapterSummary(chapter, results)
    scale = str(results.get("scale", "?"))
    up = "../../" if page_of else "../"
    return "\n".join([
        ":::{admonition} About this run",
        ":class: note",
        "",
        *run_facts({**results, "scale": scale}),
        "",
        f"The {{doc}}`scoreboard <{up}scoreboard>` sets this chapter beside the others.",
        *_other_runs(Path(chapter.notebook).stem, page_of, list(others)),
        ":::",
        "",
        f"**Checks against the paper:** {badge_html(summary.verdict)} — {summary.counts_text()}. "
        "The same table, with every figure behind it, closes the chapter.",
        "",
        checks_html_folded(summary.checks),
        rerun_box(chapter, scale, params, times),
    ])


def injected_parameters(nb: nbformat.NotebookNode) -> list[tuple[str, str]]:
    """The parameters papermill injected into an executed notebook (its ``injected-parameters``
    cell), as (name, source text) pairs, less those the runner sets itself (scale, out_dir)."""
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


def set_header(nb: nbformat.NotebookNode, text: str) -> nbformat.NotebookNode:
    """Put ``text`` right after the first (title) Markdown cell, replacing an earlier header."""
    nb.cells = [c for c in nb.cells if HEADER_TAG not in c.get("metadata", {}).get("tags", [])]
    cell = nbformat.v4.new_markdown_cell(text, metadata={"tags": [HEADER_TAG]})
    if nb.nbformat_minor < 5:
        cell.pop("id", None)
    else:
        cell["id"] = HEADER_TAG
    first = next((i for i, c in enumerate(nb.cells) if c.cell_type == "markdown"), -1)
    nb.cells.insert(first + 1, cell)
    return nb


def refresh_chapter_pages(book: Path | None = None) -> list[Path]:
    """Rebuild the header of every published chapter page from its results and the measured
    times; returns the pages that changed."""
    book = Path(book or book_root())
    times = load_times(book)
    by_stem = {Path(c.notebook).stem: c for c in ALL_CHAPTERS}
    chapters = book / "chapters"
    pages = [(p, None) for p in sorted(chapters.glob("*.results.json"))]
    pages += [(p, scale) for scale in SCALES for p in sorted((chapters / scale).glob("*.results.json"))]
    changed = []
    for results_path, page_of in pages:
        stem = results_path.name[: -len(".results.json")]
        page, chapter = results_path.with_name(stem + ".ipynb"), by_stem.get(stem)
        if chapter is None or not page.is_file():
            continue
        results = load_results(results_path)
        nb = nbformat.read(page, as_version=4)
        others = [] if page_of else other_scales(chapters, stem)
        text = header_markdown(chapter, results, injected_parameters(nb), times.get(chapter.name, {}),
                               others, page_of)
        old = next((c.source for c in nb.cells if HEADER_TAG in c.get("metadata", {}).get("tags", [])), None)
        if old != text:
            write_text(page, nbformat.writes(set_header(nb, text)))
            changed.append(page)
    return changed
