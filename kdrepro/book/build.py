"""Building the HTML book: regenerate what derives from the published runs, then run ``jupyter-book build``."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from ..errors import KdreproError
from ..paths import REPO_ROOT, book_root
from .publish import refresh_book


class BookBuildError(KdreproError):
    """``jupyter-book build`` failed (with -W, any warning fails it)."""


def jupyter_book_command() -> str:
    """The ``jupyter-book`` script of this Python's environment (else the one on PATH)."""
    beside = Path(sys.executable).parent / "jupyter-book"
    if beside.is_file():
        return str(beside)
    found = shutil.which("jupyter-book")
    if not found:
        raise BookBuildError("jupyter-book is not installed; install the pinned set: pip install -r requirements.txt")
    return found


def build_command(root: Path, strict: bool = True) -> list[str]:
    """The build command line; ``strict`` turns warnings into errors (``-W -n --keep-going``)."""
    command = [jupyter_book_command(), "build", str(root)]
    return command + (["-W", "-n", "--keep-going"] if strict else [])


def build_book(strict: bool = True, root: Path | None = None) -> Path:
    """Regenerate what derives from the published runs (toc, chapter headers, scoreboard, landing
    page), build the book; return ``_build/html``."""
    root = Path(root or REPO_ROOT)
    book = root / "book" if root != REPO_ROOT else book_root()
    refresh_book(book)
    proc = subprocess.run(build_command(root, strict), cwd=root, capture_output=True, text=True)
    html = root / "_build" / "html"
    if proc.returncode != 0 or not (html / "index.html").is_file():
        output = (proc.stdout + proc.stderr).strip()
        raise BookBuildError(f"jupyter-book build failed (exit {proc.returncode}):\n{output[-6000:]}")
    return html
