"""pytest set-up for the whole repository (tests/ and the nbval run of notebooks/).

Chapter runs made by tests (nbval, ``kdrepro run``) go to a temporary ``KDREPRO_RUNS``, so
they never reuse or overwrite a run in ``runs/``. The data root is the user's (or CI's).
"""

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent

os.environ.setdefault("HF_HUB_OFFLINE", "1")
if "KDREPRO_MIRROR" not in os.environ and (REPO.parent / "shared" / "data").is_dir():
    os.environ["KDREPRO_MIRROR"] = str(REPO.parent / "shared" / "data")


@pytest.fixture(autouse=True, scope="session")
def _runs_in_tmp(tmp_path_factory):
    os.environ["KDREPRO_RUNS"] = str(tmp_path_factory.mktemp("runs"))
    yield
