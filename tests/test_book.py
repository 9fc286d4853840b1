"""The book: publishing runs, the toc, the scoreboard, the checks table, and an offline build."""

from __future__ import annotations

import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest

from kdrepro.book import build_book, publish, write_scoreboard, write_toc
from kdrepro.book.build import build_command
from kdrepro.book.checks_table import checks_html, checks_markdown, verdict_counts
from kdrepro.book.publish import RUN_CARD_TAG
from kdrepro.chapters.registry import ALL_CHAPTERS
from kdrepro.errors import ConfigError
from kdrepro.paths import REPO_ROOT

CHECKS = [
    {"key": "hinton2015/mnist/distilled_errors", "claim": "Distilled 800-800 student, T = 20",
     "published": 74, "measured": 81, "unit": "test errors", "tolerance": "±15 errors", "difference": 7,
     "verdict": "pass", "reason": "", "source": "Hinton et al. 2015, Section 3", "setting": {"dataset": "mnist"}},
    {"key": "hinton2015/mnist/teacher_errors", "claim": "Teacher <1200-1200>", "published": 67,
     "measured": 120.25, "unit": "test errors", "tolerance": "≤ published +20", "difference": 53.25,
     "verdict": "fail", "reason": "", "source": "Hinton et al. 2015, Section 3", "setting": {}},
    {"key": "hinton2015/mnist/claim", "claim": "Soft targets transfer dark knowledge", "published": "yes",
     "measured": None, "unit": "", "tolerance": "", "difference": None, "verdict": "not comparable",
     "reason": "smoke run: a few steps on a slice of the data", "source": "Section 3", "setting": {}},
]


def results_for(chapter="hinton", scale="medium", checks=CHECKS, dataset="mnist", dirty=True) -> dict:
    title = next(c.title for c in ALL_CHAPTERS if c.name == chapter)
    return {
        "schema": 1, "chapter": chapter, "title": title, "paper": "hinton2015distilling",
        "scale": scale, "dataset": dataset,
        "machine": {"summary": "Test CPU, 2 cores, no GPU", "cpu": "Test CPU", "cores": 2, "gpu": None,
                    "python": "3.11.7", "torch": "2.14.1", "platform": "Linux"},
        "commit": "abcdef0", "dirty": dirty, "date": "2026-11-23T12:34:56Z", "wall_time_s": 1234.4,
        "parameters": {"scale": scale, "seed": 0}, "metrics": {}, "checks": checks,
    }


def make_run(runs: Path, chapter="hinton", scale="medium", results: dict | None = None) -> Path:
    """A fake executed run: a tiny notebook (title, parameters, one output) and its results.json."""
    notebook = next(c.notebook for c in ALL_CHAPTERS if c.name == chapter)
    folder = runs / chapter / scale
    folder.mkdir(parents=True, exist_ok=True)
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        nbformat.v4.new_markdown_cell("# A chapter title\n\nIt cites {cite:t}`hinton2015distilling`: $T = 20$."),
        nbformat.v4.new_code_cell("scale = 'smoke'", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_markdown_cell("## Results"),
        nbformat.v4.new_code_cell("show_checks(checks)", execution_count=1, outputs=[nbformat.v4.new_output(
            "display_data", data={"text/html": checks_html(CHECKS), "text/plain": "<HTML>"})]),
    ]
    nbformat.write(nb, folder / notebook)
    (folder / "results.json").write_text(json.dumps(results or results_for(chapter, scale)))
    return folder


def copy_book_sources(root: Path) -> Path:
    """The repository's book sources (config, landing page, bibliography) in ``root``."""
    shutil.copy(REPO_ROOT / "_config.yml", root / "_config.yml")
    (root / "book").mkdir()
    for name in ("intro.md", "bibliography.md", "references.bib"):
        shutil.copy(REPO_ROOT / "book" / name, root / "book" / name)
    shutil.copytree(REPO_ROOT / "book" / "_static", root / "book" / "_static")
    return root / "book"


# ------------------------------------------------------------------ publish


def test_publish_copies_the_run_with_a_run_card(tmp_path):
    runs, book = tmp_path / "runs", tmp_path / "book"
    source = make_run(runs)
    target = publish("hinton", "medium", runs=runs, book=book)

    assert target == book / "chapters" / "01_hinton_kd.ipynb"
    published_results = book / "chapters" / "01_hinton_kd.results.json"
    assert published_results.read_bytes() == (source / "results.json").read_bytes()

    nb = nbformat.read(target, as_version=4)
    assert [c.cell_type for c in nb.cells] == ["markdown", "markdown", "code", "markdown", "code"]
    card = nb.cells[1]
    assert RUN_CARD_TAG in card.metadata["tags"]
    for text in ("medium", "`mnist`", "Test CPU, 2 cores, no GPU", "`abcdef0`", "dirty", "2026-11-23T12:34:56Z",
                 "20 min 34 s", "kdrepro run hinton --scale medium"):
        assert text in card.source, text
    assert nb.cells[4].outputs[0]["data"]["text/html"] == checks_html(CHECKS)  # outputs kept

    assert "book/chapters/01_hinton_kd" in (tmp_path / "_toc.yml").read_text()
    assert "Distilling the Knowledge in a Neural Network" in (book / "scoreboard.md").read_text()


def test_publishing_again_keeps_a_single_run_card(tmp_path):
    runs, book = tmp_path / "runs", tmp_path / "book"
    make_run(runs, results=results_for(dirty=False))
    publish("hinton", "medium", runs=runs, book=book)
    target = publish("hinton", "medium", runs=runs, book=book)
    cards = [c for c in nbformat.read(target, as_version=4).cells if RUN_CARD_TAG in c.metadata.get("tags", [])]
    assert len(cards) == 1 and "dirty" not in cards[0].source


def test_run_card_repeats_the_parameters_papermill_injected(tmp_path):
    runs, book = tmp_path / "runs", tmp_path / "book"
    folder = make_run(runs, chapter="at")
    path = folder / "03_attention_transfer.ipynb"
    nb = nbformat.read(path, as_version=4)
    nb.cells.insert(2, nbformat.v4.new_code_cell('scale = "medium"\nseeds = [0, 1]\nteacher_mode = "load"\nout_dir = "/tmp/x"\n',
                                                 metadata={"tags": ["injected-parameters"]}))
    nbformat.write(nb, path)
    card = next(c for c in nbformat.read(publish("at", "medium", runs=runs, book=book), as_version=4).cells
                if RUN_CARD_TAG in c.metadata.get("tags", []))
    assert "kdrepro run at --scale medium -p seeds '[0, 1]' -p teacher_mode load\n" in card.source
    exact = ("mkdir -p runs/at/medium && papermill notebooks/03_attention_transfer.ipynb "
             "runs/at/medium/03_attention_transfer.ipynb "
             "-p scale medium -y 'seeds: [0, 1]' -p teacher_mode load\n")
    assert exact in card.source


def test_publish_refuses_a_missing_run(tmp_path):
    with pytest.raises(FileNotFoundError, match="kdrepro run hinton --scale medium"):
        publish("hinton", "medium", runs=tmp_path / "runs", book=tmp_path / "book")
    assert not (tmp_path / "book").exists()


def test_publish_refuses_results_of_another_run(tmp_path):
    runs = tmp_path / "runs"
    make_run(runs, results=results_for(scale="smoke"))  # a smoke results.json in the medium folder
    with pytest.raises(ConfigError, match="kdrepro run hinton --scale medium"):
        publish("hinton", "medium", runs=runs, book=tmp_path / "book")


def test_publish_refuses_unknown_chapters_and_scales(tmp_path):
    with pytest.raises(ConfigError, match="valid chapters"):
        publish("nosuch", "medium", runs=tmp_path, book=tmp_path / "book")
    with pytest.raises(ConfigError, match="valid scales"):
        publish("hinton", "huge", runs=tmp_path, book=tmp_path / "book")


# ------------------------------------------------------------------ toc and scoreboard


def test_toc_lists_published_chapters_in_number_order(tmp_path):
    book = tmp_path / "book"
    text = write_toc(book).read_text()
    assert "root: book/intro" in text and "Chapters" not in text  # no empty part

    (book / "chapters").mkdir(parents=True)
    for stem in ("10_tinyvit", "02_fitnets", "01_hinton_kd"):
        (book / "chapters" / f"{stem}.ipynb").write_text("{}")
    text = write_toc(book).read_text()
    order = [text.index(f"book/chapters/{s}") for s in ("01_hinton_kd", "02_fitnets", "10_tinyvit")]
    assert order == sorted(order)
    assert text.index("book/scoreboard") < text.index("caption: Chapters") < order[0]
    assert text.index("book/bibliography") > order[-1]


def test_a_further_page_of_a_chapter_is_a_section_under_it(tmp_path):
    import yaml

    book = tmp_path / "book"
    (book / "chapters").mkdir(parents=True)
    for stem in ("03_attention_transfer", "02b_fitnets_mnist", "02_fitnets", "01_hinton_kd", "05b_orphan"):
        (book / "chapters" / f"{stem}.ipynb").write_text("{}")
    chapters = yaml.safe_load(write_toc(book).read_text())["parts"][1]["chapters"]
    assert [c["file"] for c in chapters] == [f"book/chapters/{s}" for s in (
        "01_hinton_kd", "02_fitnets", "03_attention_transfer", "05b_orphan")]  # no chapter 5: its own entry
    assert chapters[1]["sections"] == [{"file": "book/chapters/02b_fitnets_mnist"}]
    assert "sections" not in chapters[0] and "sections" not in chapters[2]


def test_the_page_shows_the_largest_scale_and_the_others_stay_reachable(tmp_path):
    import yaml

    runs, book = tmp_path / "runs", tmp_path / "book"
    chapters = book / "chapters"
    make_run(runs, scale="medium")
    publish("hinton", "medium", runs=runs, book=book)
    make_run(runs, scale="full", results=results_for(scale="full"))
    assert publish("hinton", "full", runs=runs, book=book) == chapters / "01_hinton_kd.ipynb"
    assert json.loads((chapters / "01_hinton_kd.results.json").read_text())["scale"] == "full"
    assert json.loads((chapters / "medium" / "01_hinton_kd.results.json").read_text())["scale"] == "medium"
    # a later medium run goes beside the full page, not over it
    assert publish("hinton", "medium", runs=runs, book=book) == chapters / "medium" / "01_hinton_kd.ipynb"
    assert json.loads((chapters / "01_hinton_kd.results.json").read_text())["scale"] == "full"

    toc = yaml.safe_load((tmp_path / "_toc.yml").read_text())["parts"][1]["chapters"]
    assert toc == [{"file": "book/chapters/01_hinton_kd", "sections": [{"file": "book/chapters/medium/01_hinton_kd"}]}]
    main, kept = (nbformat.read(p, as_version=4) for p in (chapters / "01_hinton_kd.ipynb",
                                                          chapters / "medium" / "01_hinton_kd.ipynb"))
    header = next(c.source for c in main.cells if RUN_CARD_TAG in c.metadata.get("tags", []))
    assert "**Scale:** full" in header and "{doc}`the medium run <medium/01_hinton_kd>`" in header
    header = next(c.source for c in kept.cells if RUN_CARD_TAG in c.metadata.get("tags", []))
    assert "**Scale:** medium" in header and "<../../scoreboard>" in header and "<../01_hinton_kd>" in header
    assert "<td>full</td>" in (book / "scoreboard.md").read_text()  # the scoreboard reads the chapter's page
    assert "<td>medium</td>" not in (book / "scoreboard.md").read_text()


def test_scoreboard_without_chapters_says_so(tmp_path):
    text = write_scoreboard(tmp_path / "book").read_text()
    assert "No chapter has been published yet" in text


def test_scoreboard_gathers_every_published_chapter(tmp_path):
    chapters = tmp_path / "book" / "chapters"
    chapters.mkdir(parents=True)
    (chapters / "02_fitnets.results.json").write_text(json.dumps(results_for(
        "fitnets", "smoke", CHECKS[2:], dataset="cifar10-jpeg75")))
    (chapters / "01_hinton_kd.results.json").write_text(json.dumps(results_for()))
    (chapters / "01_hinton_kd.ipynb").write_text("{}")
    text = write_scoreboard(tmp_path / "book").read_text()

    assert "1 pass, 1 fail, 2 not comparable" in text  # totals
    assert text.index("1. Distilling the Knowledge") < text.index("2. FitNets")
    assert "{doc}`Read the chapter <chapters/01_hinton_kd>`" in text
    assert "chapters/02_fitnets>" not in text  # no notebook, no link
    assert "`cifar10-jpeg75`" in text and "Test CPU, 2 cores, no GPU" in text
    assert "<td>smoke</td>" in text and "<td>medium</td>" in text  # scale column
    assert "smoke run: a few steps on a slice of the data" in text
    assert "\n\n<tr" not in text  # each HTML table is a single raw block


# ------------------------------------------------------------------ checks table


def test_checks_table_spells_out_and_colours_every_verdict():
    html = checks_html(CHECKS)
    for verdict in ("pass", "fail", "not comparable"):
        assert f"<strong>{verdict}</strong>" in html
    assert html.count("background-color:") == 3
    assert "Teacher &lt;1200-1200&gt;" in html  # escaped
    assert ">+7<" in html and ">120.2<" in html and ">+53.25<" in html and ">—<" in html
    assert "smoke run: a few steps" in html
    md = checks_markdown(CHECKS)
    assert md.count("\n") == 2 + len(CHECKS)
    assert "**not comparable**: smoke run" in md
    assert verdict_counts(CHECKS) == {"pass": 1, "fail": 1, "inconclusive": 0, "not comparable": 1}


# ------------------------------------------------------------------ sources kept consistent


def test_landing_page_lists_every_chapter_from_the_registry():
    intro = (REPO_ROOT / "book" / "intro.md").read_text()
    for chapter in ALL_CHAPTERS:
        row = next((line for line in intro.splitlines() if line.startswith(f"| {chapter.label} |")), "")
        assert chapter.title in row and f"(`{chapter.name}`)" in row, chapter.name
        assert f"`{chapter.paper}`" in row and chapter.summary in row, chapter.name


def test_bibliography_has_every_cited_paper():
    bib = (REPO_ROOT / "book" / "references.bib").read_text()
    keys = set(re.findall(r"^@\w+\{([^,]+),", bib, re.M))
    needed = {c.paper for c in ALL_CHAPTERS} | {"srivastava2014dropout", "tian2020contrastive"}
    assert needed <= keys, needed - keys


# ------------------------------------------------------------------ the built book reads offline


class _Resources(HTMLParser):
    """Every URL a page loads (src, srcset, link href, ...) and every anchor href."""

    LOADING = {"src", "srcset", "data", "poster", "background", "action", "formaction"}

    def __init__(self):
        super().__init__()
        self.loads: list[tuple[str, str, str]] = []
        self.anchors: list[str] = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if not value:
                continue
            if name == "href" and tag == "a":
                self.anchors.append(value)
            elif name == "href" or name in self.LOADING:
                self.loads.append((tag, name, value))
            elif name == "style" and "url(" in value:
                self.loads.append((tag, name, value))


_EXTERNAL = re.compile(r"(^|[\s,(\"'])(https?:)?//", re.I)


def _external_loads(html_dir: Path) -> list[str]:
    bad = []
    for page in sorted(html_dir.rglob("*.html")):
        parser = _Resources()
        parser.feed(page.read_text(encoding="utf-8"))
        bad += [f"{page.relative_to(html_dir)}: <{t} {a}={v!r}>" for t, a, v in parser.loads if _EXTERNAL.search(v)]
    for sheet in sorted(html_dir.rglob("*.css")):
        text = sheet.read_text(encoding="utf-8", errors="replace")
        bad += [f"{sheet.relative_to(html_dir)}: {m.group(0)}"
                for m in re.finditer(r"(url\(\s*['\"]?|@import\s+['\"])(https?:)?//[^)'\"]*", text)]
    return bad


def _assert_mathjax_is_local(html_dir: Path, page: str) -> None:
    text = (html_dir / page).read_text(encoding="utf-8")
    scripts = re.findall(r'<script[^>]*src="([^"]*MathJax[^"]*)"', text)
    assert scripts, f"{page} loads no MathJax"
    for src in scripts:
        assert "://" not in src and "_static/mathjax/MathJax.js" in src, src
        assert ((html_dir / page).parent / src.split("?")[0]).resolve().is_file(), src


def test_the_build_treats_warnings_as_errors(tmp_path):
    command = build_command(tmp_path)
    assert Path(command[0]).name == "jupyter-book" and command[1:3] == ["build", str(tmp_path)]
    assert command[3:] == ["-W", "-n", "--keep-going"]
    assert build_command(tmp_path, strict=False)[3:] == []


@pytest.mark.slow
def test_the_repository_book_builds_strictly_and_reads_offline():
    html = build_book(strict=True)
    assert (html / "index.html").is_file()
    _assert_mathjax_is_local(html, "book/intro.html")
    assert any((html / "_static" / "mathjax" / "fonts" / "HTML-CSS" / "STIX-Web" / "woff").glob("*.woff"))
    assert _external_loads(html) == []


@pytest.mark.slow
def test_a_published_chapter_builds_strictly_and_reads_offline(tmp_path):
    book = copy_book_sources(tmp_path)
    make_run(tmp_path / "runs")
    publish("hinton", "medium", runs=tmp_path / "runs", book=book)
    make_run(tmp_path / "runs", scale="full", results=results_for(scale="full"))
    publish("hinton", "full", runs=tmp_path / "runs", book=book)  # the medium page moves one folder down
    html = build_book(strict=True, root=tmp_path)
    assert "About this run" in (html / "book" / "chapters" / "medium" / "01_hinton_kd.html").read_text()
    page = html / "book" / "chapters" / "01_hinton_kd.html"
    text = page.read_text(encoding="utf-8")
    words = " ".join(re.sub(r"<[^>]+>", " ", text).split())
    assert "About this run" in words and "kdrepro run hinton --scale full" in words and "the medium run" in words
    assert "<strong>not comparable</strong>" in text  # the notebook's checks table output
    assert "Read the chapter" in (html / "book" / "scoreboard.html").read_text(encoding="utf-8")
    _assert_mathjax_is_local(html, "book/chapters/01_hinton_kd.html")
    assert _external_loads(html) == []
