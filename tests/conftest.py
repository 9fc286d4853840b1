"""Paths and helpers the tests share (the environment is set up by the repository's conftest.py)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HELPERS = REPO / "tests" / "helpers"


def launch_two_cpu_processes(*argv: str, timeout: int = 600) -> subprocess.CompletedProcess:
    """``accelerate launch`` two CPU processes (one gloo group) running ``argv`` (a script and its arguments)."""
    launch = shutil.which("accelerate", path=os.path.dirname(sys.executable)) or "accelerate"
    return subprocess.run([launch, "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
                           "--mixed_precision", "no", "--dynamo_backend", "no", *argv],
                          capture_output=True, text=True, cwd=REPO, timeout=timeout)
