"""The built book in a real browser: headless Chromium through the DevTools Protocol.

A tiny hand-made site first proves that the checker fails on each kind of problem (and passes a
clean site); then the repository's book must open clean, with screenshots of two pages. Without
Chromium these tests fail with the install hint; KDREPRO_SKIP_BROWSER=1 skips them on purpose.
"""

import json
import os
import re
from pathlib import Path

import pytest
import yaml
from PIL import Image

from kdrepro.book import build_book
from kdrepro.book.browser import BrowserError, book_pages, check_book, find_chromium
from kdrepro.book.offline_mathjax import mathjax_source
from kdrepro.cli import main
from kdrepro.paths import REPO_ROOT


@pytest.fixture(scope="module")
def chromium():
    """Chromium is required: a missing one fails the test (with the hint), unless skipped on purpose."""
    if os.environ.get("KDREPRO_SKIP_BROWSER") == "1":
        pytest.skip("KDREPRO_SKIP_BROWSER=1: the headless-Chromium checks are skipped on purpose")
    return find_chromium()


def _page(title: str, body: str, head: str = "") -> str:
    return f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}</title>{head}</head>" \
           f"<body>{body}</body></html>"


def _with_mathjax(site: Path) -> str:
    """Serve the book's MathJax 2.7 in ``site`` (a link) with the book's configuration; return its head tags."""
    (site / "_static").mkdir()
    (site / "_static" / "mathjax").symlink_to(mathjax_source(), target_is_directory=True)
    config = yaml.safe_load((REPO_ROOT / "_config.yml").read_text())["sphinx"]["config"]["mathjax2_config"]
    return (f"<script type='text/x-mathjax-config'>MathJax.Hub.Config({json.dumps(config)})</script>"
            "<script async src='_static/mathjax/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full'></script>")


def _write(site: Path, pages: dict[str, str]) -> Path:
    for name, text in pages.items():
        (site / name).parent.mkdir(parents=True, exist_ok=True)
        (site / name).write_text(text, encoding="utf-8")
    return site


# ------------------------------------------------------------------ a site with one problem per page

BAD_PAGES = ["broken_link.html", "missing_image.html", "console_error.html", "exception.html", "external.html",
             "raw_tex.html", "math_error.html", "nosuch.html"]


@pytest.fixture(scope="module")
def bad_site_problems(chromium, tmp_path_factory) -> list[str]:
    site = tmp_path_factory.mktemp("bad_site")
    mathjax = _with_mathjax(site)
    _write(site, {
        "target.html": _page("Target", "<h1 id='here'>Here</h1>"),
        "broken_link.html": _page("Links", "<p id='top'><a href='nope.html'>a missing page</a> "
                                  "<a href='target.html#nowhere'>a missing anchor</a> "
                                  "<a href='#missing-here'>a missing anchor here</a> "
                                  "<a href='target.html#here'>fine</a> <a href='#top'>fine</a></p>"),
        "missing_image.html": _page("Image", "<img src='_images/gone.png' alt='gone'>"),
        "console_error.html": _page("Console", '<script>console.error("x marks the spot")</script>'),
        "exception.html": _page("Exception", '<script>throw new Error("boom")</script>'),
        "external.html": _page("External", "<img src='http://example.com/x.png' alt='remote'>"),
        "raw_tex.html": _page("TeX", r"<p>Display $$x^2$$ left raw.</p><span class='math'>\(y\)</span>"
                              r"<pre>$$in_pre$$</pre><code>\frac{in}{code}</code>"),
        "math_error.html": _page("Math", r"<p>Broken: \(\frac{1}{\)</p>", mathjax),
    })
    return check_book(site, pages=BAD_PAGES, timeout=30)


def _of(problems: list[str], page: str) -> str:
    return "\n".join(p for p in problems if p.startswith(f"{page}: "))


def test_broken_internal_links_and_anchors_are_reported(bad_site_problems):
    found = _of(bad_site_problems, "broken_link.html")
    assert "broken link to nope.html (no such file)" in found
    assert "broken link to target.html#nowhere (no such id" in found
    assert "broken link to broken_link.html#missing-here (no such id" in found
    assert "#here" not in found and "#top" not in found


def test_missing_image_is_reported(bad_site_problems):
    found = _of(bad_site_problems, "missing_image.html")
    assert "missing image" in found and "_images/gone.png" in found
    assert "HTTP 404 for" in found


def test_console_error_and_exception_are_reported(bad_site_problems):
    assert "console.error: x marks the spot" in _of(bad_site_problems, "console_error.html")
    assert re.search(r"uncaught exception: .*boom", _of(bad_site_problems, "exception.html"))


def test_request_to_another_host_is_reported(bad_site_problems):
    found = _of(bad_site_problems, "external.html")
    assert "request to an external host: http://example.com/x.png" in found
    assert "ERR_NAME_NOT_RESOLVED" in found  # the resolver rule kept it off the network


def test_raw_tex_is_reported_outside_code_only(bad_site_problems):
    found = _of(bad_site_problems, "raw_tex.html")
    assert 'raw TeX "$$"' in found and r'raw TeX "\("' in found
    assert "in_pre" not in found and "in}{code" not in found


def test_mathjax_error_is_reported(bad_site_problems):
    assert "MathJax error" in _of(bad_site_problems, "math_error.html")


def test_page_that_does_not_load_is_reported(bad_site_problems):
    assert "does not load (HTTP 404" in _of(bad_site_problems, "nosuch.html")


def test_every_problem_names_its_page(bad_site_problems):
    assert bad_site_problems and all(p.split(": ")[0] in BAD_PAGES for p in bad_site_problems)


# ------------------------------------------------------------------ a clean site


def test_clean_site_has_no_problems_and_gets_screenshots(chromium, tmp_path):
    site = tmp_path / "html"
    site.mkdir()
    mathjax = _with_mathjax(site)
    (site / "_images").mkdir()
    Image.new("RGB", (40, 20), "teal").save(site / "_images" / "box.png")
    _write(site, {
        # like the book's: a redirect to the landing page
        "index.html": "<meta http-equiv='Refresh' content='0; url=book/intro.html' />",
        "book/intro.html": _page("Intro", "<h1 id='top'>Intro</h1><img src='../_images/box.png' alt='box'>"
                                 "<a href='scoreboard.html#totals'>totals</a> <a href='#top'>top</a> "
                                 "<a href='https://example.com/'>an external link is not a request</a> "
                                 "<a href='mailto:someone@example.com'>mail</a> <a href='../'>home</a>"
                                 r"<p>Rendered: \(\frac{a}{b}\) and \[x^2 + \mathrm{KL}(p \| q)\]</p>"
                                 r"<pre>$$shown as code$$</pre>", mathjax.replace("_static", "../_static")),
        "book/scoreboard.html": _page("Scoreboard", "<h2 id='totals'>Totals</h2>"),
    })
    assert book_pages(site) == ["book/intro.html", "book/scoreboard.html", "index.html"]
    shots = tmp_path / "browser"
    assert check_book(site, screenshots=shots) == []
    for name in ("home.png", "scoreboard.png"):
        with Image.open(shots / name) as image:
            assert image.format == "PNG" and image.width >= 1200


# ------------------------------------------------------------------ finding Chromium, the command line


def test_missing_chromium_says_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.delenv("KDREPRO_CHROMIUM", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(BrowserError, match="apt-get install chromium"):
        find_chromium()
    monkeypatch.setenv("KDREPRO_CHROMIUM", str(tmp_path / "no-such-browser"))
    with pytest.raises(BrowserError, match="KDREPRO_CHROMIUM"):
        find_chromium()


def test_book_check_command_lists_problems_and_fails(monkeypatch, capsys, tmp_path):
    html = tmp_path / "_build" / "html"
    seen = {}

    def fake_check(path, screenshots=None):
        seen.update(path=path, screenshots=screenshots)
        return seen.get("problems", [])

    monkeypatch.setattr("kdrepro.book.build_book", lambda strict=True: html)
    monkeypatch.setattr("kdrepro.book.browser.check_book", fake_check)
    assert main(["book", "--check"]) == 0
    assert seen == {"path": html, "screenshots": tmp_path / "_build" / "browser"}
    assert f"screenshots: {tmp_path / '_build' / 'browser'}" in capsys.readouterr().out
    seen["problems"] = ["book/intro.html: console.error: x", "index.html: missing image y.png"]
    assert main(["book", "--check"]) == 2
    err = capsys.readouterr().err
    assert "2 problem(s)" in err and "book/intro.html: console.error: x" in err and "missing image y.png" in err


# ------------------------------------------------------------------ the repository's book


@pytest.mark.slow
def test_the_repository_book_opens_clean_in_chromium(chromium):
    html = build_book(strict=True)
    shots = html.parent / "browser"
    for old in shots.glob("*.png"):
        old.unlink()
    problems = check_book(html, screenshots=shots)
    assert problems == [], "the built book has problems in a browser:\n" + "\n".join(problems)
    assert {"index.html", "book/intro.html", "book/scoreboard.html"} <= set(book_pages(html))
    for name in ("home.png", "scoreboard.png"):
        with Image.open(shots / name) as image:
            assert image.format == "PNG" and image.width >= 1200 and image.height >= 1000
            assert len(image.convert("L").resize((64, 64)).getcolors(256)) > 20  # not a blank page
