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


def launch_two_cpu_machines(*argv: str, env: dict | None = None,
                            timeout: int = 600) -> list[subprocess.CompletedProcess]:
    """Two "machines" on this one: two ``accelerate launch`` commands, one process each, joined over
    127.0.0.1 (``--num_machines 2 --machine_rank 0|1``), as a two-node job is launched."""
    import socket

    launch = shutil.which("accelerate", path=os.path.dirname(sys.executable)) or "accelerate"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = str(s.getsockname()[1])
    procs = [subprocess.Popen([launch, "launch", "--multi_gpu", "--num_machines", "2", "--machine_rank", str(rank),
                               "--num_processes", "2", "--main_process_ip", "127.0.0.1", "--main_process_port", port,
                               "--mixed_precision", "no", "--dynamo_backend", "no", *argv],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
                              env=env if env is not None else os.environ.copy())
             for rank in (0, 1)]
    done = []
    for p in procs:
        out, err = p.communicate(timeout=timeout)
        done.append(subprocess.CompletedProcess(p.args, p.returncode, out, err))
    return done
