"""Where kdrepro keeps things: the repository, the data root and the runs folder.

Environment variables override every default:

- ``KDREPRO_DATA``: the data root (default ``~/.cache/kdrepro/data``, or
  ``$XDG_CACHE_HOME/kdrepro/data``).
- ``KDREPRO_MIRROR``: an offline mirror folder that data preparation may copy from
  (unset by default; this project's machines use ``../shared/data``).
- ``KDREPRO_RUNS``: where chapter runs are written (default ``<repo>/runs``).
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def data_root() -> Path:
    """The folder that holds prepared datasets."""
    if os.environ.get("KDREPRO_DATA"):
        return Path(os.environ["KDREPRO_DATA"]).expanduser().resolve()
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return (cache / "kdrepro" / "data").resolve()


def mirror_root() -> Path | None:
    """The offline mirror folder, if one is configured and exists."""
    value = os.environ.get("KDREPRO_MIRROR")
    if not value:
        return None
    path = Path(value).expanduser().resolve()
    return path if path.is_dir() else None


REHEARSE_ENV = "KDREPRO_REHEARSE"


def rehearsing() -> bool:
    """Whether this process runs a rehearsal (``KDREPRO_REHEARSE=1``; see :mod:`kdrepro.engine.rehearsal`)."""
    return os.environ.get(REHEARSE_ENV, "").lower() in ("1", "true", "yes")


def runs_root() -> Path:
    """The folder under which ``kdrepro run`` writes ``CHAPTER/SCALE/`` (and shared teachers, pairs,
    stores); a rehearsal writes under its ``rehearsal/`` sub-folder, so its capped runs never meet real ones."""
    root = Path(os.environ["KDREPRO_RUNS"]).expanduser().resolve() if os.environ.get("KDREPRO_RUNS") \
        else REPO_ROOT / "runs"
    return root / "rehearsal" if rehearsing() else root


def book_root() -> Path:
    """The book's source folder (executed chapters, scoreboard, landing page)."""
    return REPO_ROOT / "book"
