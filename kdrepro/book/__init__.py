"""The Jupyter book: publishing executed chapter runs, the scoreboard, the toc and the build."""

from .build import build_book
from .checks_table import checks_html, checks_markdown, show_checks
from .landing import write_landing
from .publish import publish, refresh_book
from .scoreboard import write_scoreboard
from .toc import write_toc

__all__ = ["build_book", "checks_html", "checks_markdown", "publish", "refresh_book", "show_checks", "write_landing",
           "write_scoreboard",
           "write_toc"]
