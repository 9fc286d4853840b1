"""The CLI under ``accelerate launch``: a teacher and its students trained by two CPU processes
(one writer, one line per result), then found and reused by a single process without training."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
import torch

from conftest import REPO
from kdrepro.cli import main
from kdrepro.data import first_available, is_prepared
from kdrepro.errors import DatasetError
from tests.helpers.run_stamps import checkpoint_stamps
from kdrepro.training.pairs import run_dir, train_pair
from kdrepro.recipes.cifar import recipe
from kdrepro.training.teachers import get_teacher, teacher_dir


def _smoke_dataset() -> str:
    """``cifar10-jpeg75`` if prepared, else the dataset the CIFAR smoke chapters pick (CI's `make data`)."""
    if is_prepared("cifar10-jpeg75"):
        return "cifar10-jpeg75"
    try:
        return first_available(recipe("smoke").datasets)
    except DatasetError as err:
        pytest.skip(f"no CIFAR dataset prepared: {err}")


def _launch(env: dict, *argv: str) -> subprocess.CompletedProcess:
    """``accelerate launch`` two CPU processes running ``python -m kdrepro ARGV``."""
    accelerate = shutil.which("accelerate", path=os.path.dirname(sys.executable)) or "accelerate"
    return subprocess.run([accelerate, "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
                           "--mixed_precision", "no", "--dynamo_backend", "no", "-m", "kdrepro", *argv],
                          capture_output=True, text=True, cwd=REPO, env=env, timeout=600)


@pytest.mark.slow
def test_teacher_and_pairs_trained_by_two_processes_are_reused_by_one(tmp_path, monkeypatch, capsys):
    dataset = _smoke_dataset()
    runs = tmp_path / "runs"
    monkeypatch.setenv("KDREPRO_RUNS", str(runs))
    env = {**os.environ}
    teacher_args = ["teacher", "train", "resnet14", "--scale", "smoke", "--dataset", dataset]
    pair_args = ["pair", "train", "--scale", "smoke", "--dataset", dataset, "--methods", "kd", "at", "--seeds", "0",
                 "--teacher-mode", "load"]

    teacher = _launch(env, *teacher_args)
    assert teacher.returncode == 0, teacher.stderr[-3000:]
    pair = _launch(env, *pair_args)
    assert pair.returncode == 0, pair.stderr[-3000:]

    # one line per result, from the main process only
    assert teacher.stdout.count("teacher resnet14 on") == 1 and teacher.stdout.count("epoch   1/1") == 1
    assert pair.stdout.count("— KD, seed 0") == 1 and pair.stdout.count("— AT, seed 0") == 1
    assert pair.stdout.count("kd       seed 0:") == 1 and pair.stdout.count("at       seed 0:") == 1

    # every output once, nothing half-written, and both trained by two processes
    t_dir = teacher_dir("resnet14", dataset, "smoke")
    pair_dirs = [run_dir(dataset, "smoke", "resnet8", m, "resnet14", 0) for m in ("kd", "at")]
    expected = {t_dir / "teacher.pt", t_dir / "run" / "checkpoint.pt", t_dir / "run" / "history.json"}
    for d in pair_dirs:
        expected |= {d / "student.pt", d / "train" / "checkpoint.pt", d / "train" / "history.json"}
    shared = run_dir(dataset, "smoke", "resnet8", "shared_kd+at", "resnet14", 0) / "train"  # KD and AT's one pass
    expected |= {shared / "checkpoint.pt", shared / "history.json"}
    assert {p for p in runs.rglob("*") if p.is_file() and p.name != ".lock"} == expected  # (and each folder's lock)
    for history in [t_dir / "run" / "history.json"] + [d / "train" / "history.json" for d in pair_dirs]:
        assert [r["processes"] for r in json.loads(history.read_text())] == [2]

    # the saved teacher is the checkpointed model, BatchNorm statistics included
    saved = torch.load(t_dir / "teacher.pt", weights_only=False)["state_dict"]
    checkpoint = torch.load(t_dir / "run" / "checkpoint.pt", weights_only=False)["model"]
    assert all(torch.equal(v, checkpoint[f"student.{k}"]) for k, v in saved.items())

    # one process finds every run finished: nothing trains, nothing is checkpointed again
    before = checkpoint_stamps(runs)
    capsys.readouterr()
    assert main(teacher_args) == 0 and main(pair_args) == 0
    out = capsys.readouterr().out
    assert out.count("already trained") == 3 and "epoch   1/1" not in out
    t = get_teacher("resnet14", dataset, "smoke", mode="load")
    assert t.accuracy == json.loads((t_dir / "run" / "history.json").read_text())[-1]["test_accuracy"]
    kd = train_pair("kd", "resnet8", t, dataset, "smoke", verbose=False)
    assert kd.history == json.loads((pair_dirs[0] / "train" / "history.json").read_text())
    assert checkpoint_stamps(runs) == before
