"""Provenance: which machine and which commit produced a result (chapters, teachers, benchmarks)."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

import torch

from .paths import REPO_ROOT


def cpu_flags() -> set[str]:
    """The CPU's feature flags (Linux's ``/proc/cpuinfo``; empty elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def cpu_has_native_bf16() -> bool:
    """Whether the CPU multiplies bf16 matrices natively (AVX-512 BF16 or AMX), where bf16 autocast
    is much faster than float32; elsewhere bf16 is emulated and slower."""
    return bool({"avx512_bf16", "amx_bf16"} & cpu_flags())


def machine() -> dict:
    """The CPU (model, cores) and the GPUs this run computes on (none under ``ACCELERATE_USE_CPU=1``),
    with a one-line summary."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    on_gpu = torch.cuda.is_available() and os.environ.get("ACCELERATE_USE_CPU", "").lower() not in ("1", "true", "yes")
    gpu = torch.cuda.get_device_name(0) if on_gpu else None
    # the GPUs the run used: one per launched process (a chapter runs in one), not every visible one
    n_gpu = min(int(os.environ.get("WORLD_SIZE", "1")), torch.cuda.device_count()) if gpu else 0
    summary = f"{n_gpu}× {gpu} ({cpu}, {cores} cores)" if gpu else f"{cpu}, {cores} cores, no GPU"
    return {"summary": summary, "cpu": cpu, "cores": cores, "gpu": gpu, "gpus": n_gpu,
            "cpu_native_bf16": cpu_has_native_bf16(),
            "python": platform.python_version(), "torch": torch.__version__, "platform": platform.platform()}


def git_commit(repo: Path = REPO_ROOT) -> tuple[str | None, bool]:
    """The checked-out commit and whether tracked files differ from it (None outside git)."""
    try:
        commit = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=repo, capture_output=True,
                                text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=repo,
                               capture_output=True, text=True, check=True).stdout.strip() != ""
        return commit, dirty
    except (OSError, subprocess.CalledProcessError):
        return None, False
