"""One process at a time in a run folder.

Two chapters started side by side (two cores, two jobs) may need the same run — the CIFAR chapters
share their teacher. Without a lock both would train it, each overwriting the other's checkpoints.
With it the second waits, then finds the run finished (or resumes it) like any later process.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

LOCK = ".lock"


@contextlib.contextmanager
def run_lock(run_dir: Path | None):
    """Hold ``run_dir``'s lock for the block (no lock for ``None``: no folder, or not the main process);
    while another process holds it, say so once and wait."""
    if run_dir is None:
        yield
        return
    from filelock import FileLock, Timeout

    run_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(run_dir / LOCK)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        print(f"waiting: another process is training {run_dir}; this one goes on from its checkpoint "
              "once that one stops", flush=True)
        lock.acquire()
    try:
        yield
    finally:
        lock.release()
