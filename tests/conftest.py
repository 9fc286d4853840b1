"""Shared test set-up: runs go to a temporary folder; the data root is the user's (or CI's)."""

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
HELPERS = REPO / "tests" / "helpers"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("KDREPRO_QUIET", "1")
if "KDREPRO_MIRROR" not in os.environ and (REPO.parent / "shared" / "data").is_dir():
    os.environ["KDREPRO_MIRROR"] = str(REPO.parent / "shared" / "data")


@pytest.fixture(autouse=True, scope="session")
def _runs_in_tmp(tmp_path_factory):
    """Chapter runs (nbval, kdrepro run) write under a temporary KDREPRO_RUNS, never into runs/."""
    os.environ["KDREPRO_RUNS"] = str(tmp_path_factory.mktemp("runs"))
    yield


@pytest.fixture
def python() -> str:
    return sys.executable
