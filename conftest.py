"""pytest set-up for the whole repository (tests/ and the nbval run of notebooks/).

Chapter runs made by tests (nbval, ``kdrepro run``) go to a temporary ``KDREPRO_RUNS``, so
they never reuse or overwrite a run in ``runs/``. The data root is the user's (or CI's).
"""

import os
import shutil
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent

os.environ.setdefault("HF_HUB_OFFLINE", "1")
if "KDREPRO_MIRROR" not in os.environ and (REPO.parent / "shared" / "data").is_dir():
    os.environ["KDREPRO_MIRROR"] = str(REPO.parent / "shared" / "data")


_RUNS = None


def pytest_configure(config):
    """Point KDREPRO_RUNS at a fresh folder before anything runs: set here rather than in a
    fixture, because nbval's notebook kernels start from this environment and use no fixtures."""
    global _RUNS
    _RUNS = tempfile.mkdtemp(prefix="kdrepro-test-runs-")
    os.environ["KDREPRO_RUNS"] = _RUNS


def pytest_unconfigure(config):
    if _RUNS:
        shutil.rmtree(_RUNS, ignore_errors=True)
