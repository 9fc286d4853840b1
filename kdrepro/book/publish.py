"""Publishing an executed chapter run into the book, with its header (run card, checks, rerun box) on top."""

from __future__ import annotations

from pathlib import Path

import nbformat

from ..chapters.registry import ALL_CHAPTERS, Chapter, check_scale
from ..errors import ConfigError
from ..io import atomic_write, write_text
from ..paths import book_root, runs_root
from .chapter_header import HEADER_TAG, refresh_chapter_pages
from .landing import write_landing
from .performance import write_performance
from .run_info import load_results
from .run_times import record_time
from .scale_pages import place
from .scoreboard import write_scoreboard
from .toc import write_toc

RUN_CARD_TAG = HEADER_TAG  # the header cell's tag (it began as the "run card")


def _chapter(name: str) -> Chapter:
    for chapter in ALL_CHAPTERS:
        if chapter.name == name:
            return chapter
    valid = ", ".join(c.name for c in ALL_CHAPTERS)
    raise ConfigError(f"unknown chapter {name!r}; valid chapters: {valid}")


def publish(chapter_name: str, scale: str, runs: Path | None = None, book: Path | None = None,
            time_only: bool = False) -> Path:
    """Copy ``runs/CHAPTER/SCALE/`` (executed notebook + results.json) into ``book/chapters/``: the
    chapter's page shows its largest published scale, another scale goes to ``book/chapters/SCALE/``.

    Records the run's time in ``book/run_times.json``; ``time_only`` records only that (how a
    smoke run's time reaches the rerun box without its page replacing the book's). Returns the
    published notebook's path (``run_times.json`` with ``time_only``); regenerates the toc, the
    scoreboard and the landing page.
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
    if results.get("rehearsal"):
        raise ConfigError(f"{results_path} is a rehearsal (the full recipe capped to a few steps): it shows the code "
                          f"runs, not the paper's numbers, and is never published; run it for real: {rerun}")
    if results.get("chapter") != chapter.name or results.get("scale") != scale:
        raise ConfigError(
            f"{results_path} belongs to chapter {results.get('chapter')!r} at scale {results.get('scale')!r}, "
            f"not {chapter.name!r} at {scale!r}; rerun it: {rerun}")

    times_file = record_time(chapter.name, scale, results, book)
    target = times_file
    if not time_only:
        nb = nbformat.read(notebook, as_version=4)  # its header is added by refresh_book below
        stem = Path(chapter.notebook).stem
        target = place(book / "chapters", stem, scale)  # the chapter's page shows its largest scale
        target.parent.mkdir(parents=True, exist_ok=True)
        raw_results = results_path.read_bytes()
        atomic_write(target.with_name(f"{stem}.results.json"), lambda f: f.write(raw_results))
        write_text(target, nbformat.writes(nb))
    refresh_book(book)
    return target


def refresh_book(book: Path | None = None) -> None:
    """Regenerate everything derived from the published runs: the performance page, the toc, the
    chapter headers, the scoreboard (and its figure) and the landing page's chapter table."""
    write_performance(book)
    write_toc(book)
    refresh_chapter_pages(book)
    write_scoreboard(book)
    write_landing(book)
