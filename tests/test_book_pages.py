"""The pages built from the published runs: chapter headers, measured times, the scoreboard at a
glance with its figure, and the landing page's chapter table."""

from __future__ import annotations

import dataclasses
import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from kdrepro.book import publish, refresh_book, write_landing
from kdrepro.book.chapter_header import HEADER_TAG, papermill_command, refresh_chapter_pages
from kdrepro.book.run_times import load_times, measured_time, rough_time, time_text
from kdrepro.book.scoreboard import FIGURE, glance_table, scoreboard_text
from kdrepro.book.scoreboard_figure import points
from kdrepro.book.summary import (CLAIMS_HOLD, NOT_COMPARABLE, NOT_REPRODUCED, PARTLY, PLANNED, REPRODUCED,
                                  ChapterSummary, headline_check, overall_verdict)
from kdrepro.chapters.registry import ALL_CHAPTERS, SCALES
from kdrepro.errors import ConfigError
from kdrepro.paths import REPO_ROOT

from test_book import CHECKS, make_run, results_for

HINTON = next(c for c in ALL_CHAPTERS if c.name == "hinton")


def header_of(page: Path) -> str:
    cells = [c for c in nbformat.read(page, as_version=4).cells if HEADER_TAG in c.metadata.get("tags", [])]
    assert len(cells) == 1
    return cells[0].source


def book_with_intro(tmp_path: Path) -> Path:
    book = tmp_path / "book"
    book.mkdir()
    shutil.copy(REPO_ROOT / "book" / "intro.md", book / "intro.md")
    return book


# ------------------------------------------------------------------ verdicts


def check(verdict, published=67, key="k"):
    return {"key": key, "claim": key, "published": published, "measured": 1, "verdict": verdict}


@pytest.mark.parametrize("checks, expected", [
    ([check("pass"), check("not comparable")], REPRODUCED),
    ([check("pass", published="holds"), check("not comparable")], CLAIMS_HOLD),
    ([check("pass"), check("fail")], PARTLY),
    ([check("fail"), check("not comparable")], NOT_REPRODUCED),
    ([check("not comparable")], NOT_COMPARABLE),
    ([], NOT_COMPARABLE),
])
def test_overall_verdict_rolls_up_the_judged_checks(checks, expected):
    assert overall_verdict(checks) == expected


def test_headline_is_the_first_preferred_check_the_run_could_judge():
    chapter = next(c for c in ALL_CHAPTERS if c.name == "cifar_bench")
    crd, claim = chapter.headline
    checks = [check("pass", key="other"), check("not comparable", key=crd), check("pass", key=claim)]
    assert headline_check(chapter, checks)["key"] == claim
    checks[1]["verdict"] = "fail"
    assert headline_check(chapter, checks)["key"] == crd
    assert headline_check(chapter, [check("not comparable", key="x"), check("fail", key="y")])["key"] == "y"
    assert headline_check(chapter, [check("not comparable", key="x")])["key"] == "x"
    assert headline_check(chapter, []) is None


def test_a_chapter_without_a_run_is_planned_or_not_published():
    written = next(c for c in ALL_CHAPTERS if c.exists)
    assert ChapterSummary(written, None).verdict == "not published yet"
    planned = dataclasses.replace(written, notebook="99_not_written.ipynb")  # every chapter is written now
    assert not planned.exists and ChapterSummary(planned, None).verdict == PLANNED


# ------------------------------------------------------------------ measured times


def test_a_resumed_run_is_timed_by_its_training_epochs():
    assert measured_time({"wall_time_s": 30.0, "training_time_s": 3600.0})[0] == 3600.0
    assert measured_time({"wall_time_s": 120.0, "training_time_s": 100.0}) == (120.0, "wall time of one run")
    assert measured_time({"wall_time_s": 9.0, "run_time_s": 25.0, "training_time_s": 3.0})[0] == 25.0
    assert measured_time({})[0] is None
    assert time_text(None) == "not measured yet"
    assert rough_time(3485) == "58 min" and rough_time(5460) == "1 h 31 min" and rough_time(75) == "1 min 15 s"


def test_publish_records_times_and_time_only_keeps_the_page(tmp_path):
    runs, book = tmp_path / "runs", tmp_path / "book"
    make_run(runs, scale="medium")
    page = publish("hinton", "medium", runs=runs, book=book)
    before = page.read_text()
    smoke = results_for(scale="smoke", checks=[])
    smoke["wall_time_s"] = 75.0
    make_run(runs, scale="smoke", results=smoke)
    assert publish("hinton", "smoke", runs=runs, book=book, time_only=True) == book / "run_times.json"

    times = load_times(book)["hinton"]
    assert times["medium"]["time_s"] == 1234.4 and times["smoke"]["time_s"] == 75.0
    assert times["smoke"]["machine"] == "Test CPU, 2 cores, no GPU"
    header = header_of(page)
    assert "about 1 min 15 s on Test CPU, 2 cores, no GPU" in header  # the smoke row
    assert "about 21 min on Test CPU" in header  # the medium row (1234.4 s)
    assert page.read_text() != before  # its header now shows the smoke time...
    published = json.loads((book / "chapters" / "01_hinton_kd.results.json").read_text())
    assert published["scale"] == "medium"  # ...but the page is still the medium run


# ------------------------------------------------------------------ chapter header


def test_the_header_has_run_facts_checks_and_a_rerun_box_for_every_scale(tmp_path):
    runs, book = tmp_path / "runs", tmp_path / "book"
    make_run(runs)
    header = header_of(publish("hinton", "medium", runs=runs, book=book))
    for text in ("About this run", "`mnist`", "`abcdef0`", "2026-11-23T12:34:56Z", "20 min 34 s",
                 "Checks against the paper", "partly reproduced", "1 pass · 1 fail · 1 not comparable",
                 "Rerun this chapter", "1 check not comparable in this run"):
        assert text in header, text
    for scale in SCALES:
        assert f"kdrepro run hinton --scale {scale}\n" in header
        assert f"{papermill_command(HINTON, scale)}\n" in header
    assert "| **full** |" in header and "not measured yet" in header
    # the judged checks come first, the not-comparable one is folded under them
    assert header.index("Distilled 800-800") < header.index("<details") < header.index("Soft targets transfer")


def test_refreshing_headers_is_stable_and_follows_new_times(tmp_path):
    runs, book = tmp_path / "runs", tmp_path / "book"
    make_run(runs)
    page = publish("hinton", "medium", runs=runs, book=book)
    assert refresh_chapter_pages(book) == []  # nothing changed: no rewrite
    times = json.loads((book / "run_times.json").read_text())
    times["hinton"]["full"] = {**times["hinton"]["medium"], "time_s": 7200.0, "machine": "1× Test GPU"}
    (book / "run_times.json").write_text(json.dumps(times))
    assert refresh_chapter_pages(book) == [page]
    assert "about 2 h 00 min on 1× Test GPU" in header_of(page)
    ids = [c.get("id") for c in nbformat.read(page, as_version=4).cells]
    assert len(ids) == len(set(ids))


def test_the_papermill_command_sets_the_parameters_it_shows(tmp_path):
    """papermill --prepare-only injects the parameters without running: what the box prints works."""
    chapter = next(c for c in ALL_CHAPTERS if c.name == "at")
    params = [("seeds", "[0, 1]"), ("teacher_mode", "'load'"), ("teacher", "None")]
    command = papermill_command(chapter, "medium", params)
    assert command.startswith("mkdir -p runs/at/medium && papermill ")  # papermill needs the folder to exist
    argv = shlex.split(command.split(" && ", 1)[1])
    out = tmp_path / "out.ipynb"
    argv[2] = str(out)  # write into tmp_path instead of runs/
    papermill = Path(sys.executable).parent / "papermill"
    proc = subprocess.run([str(papermill), *argv[1:], "--prepare-only"], cwd=REPO_ROOT, capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stderr
    injected = next(c.source for c in nbformat.read(out, as_version=4).cells
                    if "injected-parameters" in c.metadata.get("tags", []))
    namespace: dict = {}
    exec(injected, namespace)
    assert namespace["scale"] == "medium" and namespace["seeds"] == [0, 1]
    assert namespace["teacher_mode"] == "load" and namespace["teacher"] is None


# ------------------------------------------------------------------ scoreboard at a glance


def test_the_glance_table_has_one_row_per_chapter_with_words_for_verdicts(tmp_path):
    runs, book = tmp_path / "runs", tmp_path / "book"
    make_run(runs)
    publish("hinton", "medium", runs=runs, book=book)
    path = book / "chapters" / "01_hinton_kd.results.json"
    table = glance_table([(path, json.loads(path.read_text()))])
    rows = table.splitlines()[2:]
    assert len(rows) == len(ALL_CHAPTERS)
    first = rows[0]
    # the headline of this run is the distilled student: published 74, ours 81, difference +7, pass
    for text in ("{doc}`Distilling the Knowledge", "run: medium · mnist", "Distilled 800-800 student, T = 20",
                 "| 74 |", "81<br><small>difference +7</small>", "✔ pass", "◐ partly reproduced"):
        assert text in first, text
    waiting = [(r, c) for r, c in zip(rows, ALL_CHAPTERS)][1:]  # only hinton was published here
    assert waiting and all(("… planned" if not c.exists else "… not published yet") in r for r, c in waiting)


def test_the_scoreboard_figure_plots_every_measured_number(tmp_path):
    runs, book = tmp_path / "runs", tmp_path / "book"
    make_run(runs)
    publish("hinton", "medium", runs=runs, book=book)
    results = json.loads((book / "chapters" / "01_hinton_kd.results.json").read_text())
    unmeasured = {**CHECKS[0], "key": "x/y", "measured": None, "verdict": "not comparable"}
    pts, missing = points([(1, {**results, "checks": results["checks"] + [unmeasured]})])
    assert [(p.published, p.measured, p.verdict) for p in pts] == [(74.0, 81.0, "pass"), (67.0, 120.25, "fail")]
    assert missing == 1  # a number the run did not measure is counted, not plotted
    svg = (book / FIGURE).read_bytes()
    assert svg.startswith(b"<?xml") and b"<svg" in svg
    scoreboard_text(book)
    assert (book / FIGURE).read_bytes() == svg  # the same points draw the same bytes
    assert f"```{{figure}} {FIGURE}" in (book / "scoreboard.md").read_text()


# ------------------------------------------------------------------ landing page


def test_the_landing_table_carries_a_badge_per_chapter(tmp_path):
    runs, book = tmp_path / "runs", book_with_intro(tmp_path)
    make_run(runs)
    publish("hinton", "medium", runs=runs, book=book)
    intro = (book / "intro.md").read_text()
    row = next(line for line in intro.splitlines() if line.startswith("| 1 |"))
    assert "{doc}`Distilling the Knowledge in a Neural Network <chapters/01_hinton_kd>`" in row
    assert "◐ partly reproduced · medium · mnist" in row
    unpublished = next(line for line in intro.splitlines() if line.startswith("| 2 |"))
    assert "{doc}" not in unpublished and "not published yet" in unpublished
    refresh_book(book)
    assert (book / "intro.md").read_text() == intro  # regenerating again changes nothing


def test_the_landing_page_needs_its_table_markers(tmp_path):
    book = tmp_path / "book"
    book.mkdir()
    (book / "intro.md").write_text("# A book\n")
    with pytest.raises(ConfigError, match="chapters-table"):
        write_landing(book)


def test_every_chapter_opens_with_its_title_and_what_the_paper_claims():
    """The header goes under the first cell, so that cell must be the title and the claim."""
    for chapter in (c for c in ALL_CHAPTERS if c.exists):
        first = nbformat.read(chapter.source, as_version=4).cells[0]
        assert first.cell_type == "markdown" and first.source.startswith(f"# {chapter.title}\n"), chapter.name
        assert re.search(r"\*\*What the (paper|benchmark) claims\.\*\*", first.source), chapter.name
