"""results.json: every field a reader needs, written atomically, training time summed over runs."""

import json

import pytest
import torch

from kdrepro.book.run_info import run_facts
from kdrepro.checks import check
from kdrepro.errors import ConfigError
from kdrepro.io import write_json
from kdrepro.chapters.results import RunRecord


def test_run_record_fields_and_training_time(tmp_path, monkeypatch):
    monkeypatch.delenv("KDREPRO_CHANNELS_LAST", raising=False)
    write_json(tmp_path / "teacher" / "history.json", [{"epoch": 1, "time_s": 10.0}, {"epoch": 2, "time_s": 5.5}])
    write_json(tmp_path / "student" / "history.json", [{"epoch": 1, "time_s": 4.5}])
    record = RunRecord("hinton", "smoke", "mnist", tmp_path, {"seed": 0})
    c = check("hinton2015/mnist/teacher_errors", 80, scale="smoke", setting={})
    results = json.loads(record.write({"teacher_test_errors": 80}, [c]).read_text())
    for field in ("chapter", "title", "paper", "scale", "dataset", "machine", "commit", "dirty", "date",
                  "wall_time_s", "training_time_s", "parameters", "metrics", "checks"):
        assert field in results, field
    assert results["training_time_s"] == 20.0
    assert results["speed_switches"] == ["channels_last"]  # the default, as this process trains
    assert results["machine"]["summary"] and results["machine"]["cores"] >= 1
    assert results["checks"][0]["verdict"] == "not comparable"
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_resumed_run_says_how_long_training_took():
    facts = "\n".join(run_facts({"scale": "medium", "wall_time_s": 60, "training_time_s": 1800}))
    assert "resumed from checkpoints" in facts and "30 min" in facts
    assert "resumed" not in "\n".join(run_facts({"wall_time_s": 1800, "training_time_s": 1700}))


def test_run_record_refuses_unknown_chapter_and_scale(tmp_path):
    with pytest.raises(ConfigError, match="unknown chapter"):
        RunRecord("nosuch", "smoke", "mnist", tmp_path, {})
    with pytest.raises(ConfigError, match="unknown scale"):
        RunRecord("hinton", "large", "mnist", tmp_path, {})


def test_results_are_strict_json_with_a_missing_value_as_null(tmp_path):
    import numpy as np

    path = write_json(tmp_path / "r.json", {"storage": [float("nan"), 1.5], "x": np.float64("inf"), "ok": 2.0})
    text = path.read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text, parse_constant=lambda c: pytest.fail(f"non-strict constant {c}")) == \
        {"storage": [None, 1.5], "x": None, "ok": 2.0}


def test_the_machine_counts_the_gpus_the_run_uses_not_every_visible_one(monkeypatch):
    from kdrepro.provenance import machine

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 8)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda i=0: "NVIDIA H200")
    monkeypatch.delenv("ACCELERATE_USE_CPU", raising=False)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert machine()["gpus"] == 1 and machine()["summary"].startswith("1× NVIDIA H200")
    monkeypatch.setenv("WORLD_SIZE", "4")
    assert machine()["gpus"] == 4
    monkeypatch.setenv("ACCELERATE_USE_CPU", "1")
    assert machine()["gpu"] is None and machine()["gpus"] == 0


def test_training_time_counts_a_shared_pass_once(tmp_path):
    """Students trained in one pass each carry the pass's epoch times; the chapter pays for them once."""
    from kdrepro.training.shared_pairs import member_history

    history = [{"epoch": e, "lr": 0.1, "time_s": 100.0, "train_kd/kd": 1.0, "at/train_at/at": 2.0} for e in (1, 2)]
    for method, first in (("kd", True), ("at", False)):
        for seed in (0, 1):  # two seeds: two passes, each counted once
            rows = member_history(history, method, first, shared_pass=f"pairs/x/shared_kd+at/seed{seed}/train")
            write_json(tmp_path / method / f"seed{seed}" / "history.json", rows)
    write_json(tmp_path / "teacher" / "history.json", [{"epoch": 1, "time_s": 30.0}])
    record = RunRecord("at", "smoke", "cifar10", tmp_path, {})
    assert record.training_time() == 30.0 + 2 * 200.0
