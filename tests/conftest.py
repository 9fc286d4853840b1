"""Paths the tests share (the environment is set up by the repository's conftest.py)."""

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HELPERS = REPO / "tests" / "helpers"
