"""One prepared check for the first machine with a GPU: ``kdrepro gpu-check``.

It runs, each in its own process, what the CPU suite cannot reach, and writes one report
(``report.json`` and ``report.md``): the machine (GPU, torch, CUDA); the tests of the CUDA path
(``pytest -m gpu``); every chapter at smoke scale through papermill on the GPU; every chapter's
full recipe rehearsed on the GPU on generated stand-ins of its data (``tests/test_rehearsal.py``,
which makes them); and the speed benchmark at its ``gpu`` size with the peak GPU memory. On a machine without a GPU the same command
runs its CPU parts at their smallest (the tests and chapters are skipped, the bench runs ``quick``)
and says what it skipped, so that the check itself is exercised in CI.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import torch

from .crd_run import LIVE, PAIR, RECORDING, STORED, TARGET_MINUTES, crd_run_lines
from ..engine import use_gpu
from ..io import write_json, write_text
from ..paths import REPO_ROOT
from ..provenance import git_commit, machine


def _run(cmd: list[str], env: dict, timeout: float, log: Path) -> dict:
    """Run ``cmd``; its output goes to ``log``; returns the exit status, seconds and the last lines."""
    start = time.perf_counter()
    try:
        done = subprocess.run(cmd, cwd=REPO_ROOT, env={**os.environ, **env}, capture_output=True, text=True,
                              timeout=timeout)
        status, output = done.returncode, done.stdout + done.stderr
    except subprocess.TimeoutExpired as e:
        status, output = "timeout", f"{e.stdout or ''}{e.stderr or ''}"
        output = output.decode() if isinstance(output, bytes) else output
    write_text(log, output)
    return {"command": " ".join(cmd), "status": status, "ok": status == 0,
            "seconds": round(time.perf_counter() - start, 1), "tail": output.strip().splitlines()[-3:], "log": str(log)}


def run_check(chapters: list[str], out_dir: Path, *, budget_s: float = 480, log=print) -> dict:
    """Every part of the check that this machine can run, within about ``budget_s`` seconds."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    on_gpu, kdrepro = use_gpu(), [sys.executable, "-m", "kdrepro"]
    commit, dirty = git_commit()
    report = {"machine": machine(), "commit": commit, "dirty": dirty, "torch": torch.__version__,
              "cuda": torch.version.cuda, "gpu": on_gpu, "parts": {}, "skipped": []}
    deadline = time.perf_counter() + budget_s

    def left() -> float:
        return max(30.0, deadline - time.perf_counter())

    if on_gpu:
        log("— the CUDA path's tests (pytest -m gpu)")
        report["parts"]["gpu tests"] = _run([sys.executable, "-m", "pytest", "-m", "gpu", "tests", "-q", "-rs",
                                             "-p", "no:cacheprovider"], {"KDREPRO_TEST_GPU": "1"}, left(),
                                            out_dir / "gpu-tests.log")
        runs = {"KDREPRO_RUNS": str(out_dir / "runs")}
        for name in chapters:
            log(f"— chapter {name} at smoke scale on the GPU")
            report["parts"][f"chapter {name}"] = _run(kdrepro + ["run", name, "--scale", "smoke"], runs, left(),
                                                      out_dir / f"chapter-{name}.log")
        log("— every chapter's full recipe rehearsed on the GPU (stand-ins of its data)")
        report["parts"]["full-scale rehearsals"] = _run(
            [sys.executable, "-m", "pytest", "tests/test_rehearsal.py", "-q", "-rs", "-p", "no:cacheprovider",
             "-k", "every_full_recipe"], {"KDREPRO_TEST_GPU": "1"}, left(), out_dir / "rehearsals.log")
    else:
        report["skipped"] += ["the CUDA path's tests (no GPU)", "every chapter at smoke scale on the GPU (no GPU)",
                              "the full-scale rehearsals on the GPU (no GPU; CI rehearses them on the CPU)"]
    size = "gpu" if on_gpu else "quick"
    log(f"— the speed benchmark, {size} size")
    bench_out = out_dir / "bench"
    report["parts"]["bench"] = _run(kdrepro + ["bench", "--size", size, "--out", str(bench_out)], {}, left(),
                                    out_dir / "bench.log")
    if (bench_out / "results.json").is_file():
        bench = json.loads((bench_out / "results.json").read_text())
        report["bench"] = {"size": size, "precision": bench.get("precision"), "ratios": bench["ratios"],
                           "peak_gpu_memory_mib": bench.get("peak_gpu_memory_mib"), "crd_run": bench.get("crd_run")}
    report["ok"] = all(p["ok"] for p in report["parts"].values())
    write_json(out_dir / "report.json", report)
    write_text(out_dir / "report.md", report_markdown(report))
    return report


def report_markdown(report: dict) -> str:
    """The report as a page: the machine, each part's outcome and time, the ratios, what was skipped."""
    lines = [f"# GPU check on {report['machine']['summary']}", "",
             f"torch {report['torch']}, CUDA {report['cuda'] or '—'}, commit {report['commit']}"
             + (" (dirty)" if report["dirty"] else ""), "", "| part | outcome | seconds |", "|---|---|--:|"]
    for name, p in report["parts"].items():
        outcome = "passed" if p["ok"] else f"failed ({p['status']})"
        lines.append(f"| {name} | {outcome} | {p['seconds']} |")
    if "bench" in report:
        b = report["bench"]
        precision = {"no": "float32"}.get((b["precision"] or {}).get("kdrepro"), (b["precision"] or {}).get("kdrepro"))
        lines += ["", f"Benchmark ({b['size']} size, kdrepro in {precision}; "
                      f"peak GPU memory {b['peak_gpu_memory_mib'] or '—'} MiB):", ""]
        lines += [f"- {r['pair']}: {r['what']}: **{r['ratio']:.2f}×**" for r in b["ratios"]]
        lines += ["", *crd_run_lines(b.get("crd_run"), judge=report["gpu"])]
    lines += [""] + [f"- skipped: {s}" for s in report["skipped"]]
    return "\n".join(lines) + "\n"


def report_format() -> str:
    """The report's layout, every value a placeholder in angle brackets (the Performance page shows it
    until a GPU has run the check)."""
    part = {"ok": True, "status": 0, "seconds": "<s>"}
    crd = {"pair": " → ".join(PAIR), "epochs": 240, "train_images": 50_000, "batch_size": 64,
           "steps_per_epoch": 781, "steps_timed": 781,
           "rows": [{"what": w, "seconds_per_epoch": 0.0, "run_minutes": 0.0, "target_minutes": TARGET_MINUTES.get(w)}
                    for w in (LIVE, RECORDING, STORED)]}
    report = {"machine": {"summary": "<GPU>, <cores>"}, "torch": "<version>", "cuda": "<version>",
              "commit": "<commit>", "dirty": False, "gpu": True,
              "parts": {name: part for name in ("gpu tests", "chapter <name> (one row per chapter)",
                                                "full-scale rehearsals", "bench")},
              "bench": {"size": "gpu", "precision": {"kdrepro": "<precision>"}, "peak_gpu_memory_mib": "<MiB>",
                        "ratios": [{"pair": "<pair>", "what": "<ratio of two variants>", "ratio": 0.0}],
                        "crd_run": crd},
              "skipped": ["<what this machine could not run>"]}
    text = report_markdown(report).replace("**0.00×**", "**<×>**").replace("| 0.00 | 0.0 |", "| <s> | <min> |")
    text = text.replace("| passed |", "| <passed, or failed (its status)> |")
    return text.replace("— **met**", "— **<met or missed>**").replace("— **missed**", "— **<met or missed>**")

