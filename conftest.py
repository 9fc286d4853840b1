"""pytest set-up for the whole repository (tests/ and the nbval run of notebooks/).

Chapter runs made by tests (nbval, ``kdrepro run``) go to a temporary ``KDREPRO_RUNS``, so
they never reuse or overwrite a run in ``runs/``. The data root is the user's (or CI's).

The suite runs on the CPU in float32 even on a GPU machine (its exact-equality tests, e.g. resume
and stored = live, assume it): ``ACCELERATE_USE_CPU=1`` for kdrepro and Accelerate, and
``CUDA_VISIBLE_DEVICES=""`` for torch and every subprocess (notebook kernels, ``accelerate launch``),
and ``KDREPRO_PRECISION=fp32`` (a CPU with native bf16 would otherwise pick bf16 under "auto").
``KDREPRO_TEST_GPU=1`` lifts the pin and runs the tests marked ``gpu`` (skipped otherwise):
``KDREPRO_TEST_GPU=1 pytest -m gpu``.
"""

import os
import shutil
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent
GPU_TESTS = os.environ.get("KDREPRO_TEST_GPU", "") not in ("", "0")

os.environ.setdefault("HF_HUB_OFFLINE", "1")
for _switch in ("KDREPRO_CHANNELS_LAST", "KDREPRO_COMPILE"):  # eager, NCHW: the tests that want them set them
    os.environ.pop(_switch, None)
if not GPU_TESTS:  # set before anything initialises CUDA
    os.environ["ACCELERATE_USE_CPU"] = "1"
    os.environ["CUDA_VISIBLE_DEVICES"] = ""
    # float32 on every CPU, also one with native bf16 (where "auto" picks bf16): the suite's exact
    # comparisons (resume, stored = live) are float32's; the bf16 tests set their precision themselves
    os.environ["KDREPRO_PRECISION"] = "fp32"
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


def pytest_collection_modifyitems(config, items):
    """Tests marked ``gpu`` run only under ``KDREPRO_TEST_GPU=1`` on a machine with a GPU."""
    if GPU_TESTS:
        import torch

        if torch.cuda.is_available():
            return
        reason = "KDREPRO_TEST_GPU=1 but torch sees no CUDA device"
    else:
        reason = "needs a GPU: run with KDREPRO_TEST_GPU=1 (the suite is pinned to the CPU otherwise)"
    for item in items:
        if item.get_closest_marker("gpu"):
            item.add_marker(pytest.mark.skip(reason=reason))
