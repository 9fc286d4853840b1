"""The command line refuses bad input with the valid choices, and runs a chapter."""

import json
import os

import pytest

from conftest import REPO
from kdrepro.cli import main


def _error(capsys, *argv) -> str:
    assert main(list(argv)) == 2
    return capsys.readouterr().err


def test_unknown_chapter_lists_valid_ones(capsys):
    err = _error(capsys, "run", "nosuch")
    assert "unknown chapter 'nosuch'" in err and "hinton" in err


def test_planned_chapter_is_refused_as_unknown(capsys, monkeypatch, tmp_path):
    from kdrepro.chapters import registry as chapters
    monkeypatch.setattr(chapters, "REPO_ROOT", tmp_path)  # as if the TinyViT notebook were not written yet
    assert "planned but not written yet" in _error(capsys, "run", "tinyvit")


def test_unknown_scale(capsys):
    err = _error(capsys, "run", "hinton", "--scale", "huge")
    assert "unknown scale 'huge'" in err and "smoke, medium, full" in err


def test_unknown_parameter_lists_valid_ones(capsys):
    err = _error(capsys, "run", "hinton", "-p", "temprature", "4")
    assert "unknown parameter(s) temprature" in err and "temperature" in err


def test_reserved_parameter(capsys):
    assert "--scale" in _error(capsys, "run", "hinton", "-p", "scale", "full")


def test_unknown_dataset(capsys):
    err = _error(capsys, "data", "prepare", "imagenet-21k")
    assert "unknown dataset" in err and "mnist" in err


def test_publish_of_a_missing_run(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("KDREPRO_RUNS", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="kdrepro run hinton --scale medium"):
        main(["publish", "hinton", "medium"])


def test_chapters_listing(capsys):
    assert main(["chapters"]) == 0
    out = capsys.readouterr().out
    assert "hinton" in out and "tinyvit" in out and "ready" in out  # every chapter is written now
    lines = {line.split()[0]: line for line in out.splitlines()}
    assert lines["dino"].endswith("[full: imagenet]") and lines["hinton"].endswith("[full: mnist]")
    assert lines["tinyvit"].endswith("[full: imagenet21k + imagenet]")


@pytest.mark.slow
def test_run_hinton_smoke_writes_notebook_and_results(capsys, tmp_path):
    run = tmp_path / "hinton-smoke"
    assert main(["run", "hinton", "--scale", "smoke", "-p", "seed", "1", "--out", str(run)]) == 0
    results = json.loads((run / "results.json").read_text())
    assert results["chapter"] == "hinton" and results["scale"] == "smoke" and results["parameters"]["seed"] == 1
    assert results["checks"] and all(c["verdict"] == "not comparable" for c in results["checks"])
    for field in ("machine", "commit", "date", "wall_time_s", "dataset", "metrics"):
        assert field in results
    # the runner adds the whole execution's time, which the kernel's start makes the longer
    assert results["run_time_s"] >= results["wall_time_s"]
    assert (run / "01_hinton_kd.ipynb").exists()


@pytest.mark.parametrize("rank", ["0", "1"])
def test_run_under_accelerate_launch_is_refused_with_the_commands_to_launch(capsys, monkeypatch, tmp_path, rank):
    monkeypatch.setenv("WORLD_SIZE", "2")  # as `accelerate launch --num_processes 2` sets it in every process
    monkeypatch.setenv("RANK", rank)
    monkeypatch.setenv("KDREPRO_RUNS", str(tmp_path))
    err = _error(capsys, "run", "hinton")
    assert "without `accelerate launch`" in err and "kdrepro pair train" in err and len(err.strip().splitlines()) == 1
    assert not any(tmp_path.iterdir())  # nothing written


@pytest.mark.slow
def test_a_chapter_that_stops_on_missing_data_says_what_to_do_not_papermills_traceback(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("KDREPRO_DATA", str(tmp_path / "empty"))
    monkeypatch.delenv("KDREPRO_MIRROR", raising=False)
    run = tmp_path / "run"
    err = _error(capsys, "run", "hinton", "--scale", "smoke", "--out", str(run))
    assert "Traceback" not in err and "PapermillExecutionError" not in err and len(err.splitlines()) < 20
    assert err.startswith("kdrepro: error: hinton stopped: ") and "kdrepro data prepare mnist" in err
    assert str(run / "01_hinton_kd.ipynb") in err and (run / "01_hinton_kd.ipynb").is_file()


def test_the_speed_switches_reach_the_chapters_kernel_through_the_environment(monkeypatch):
    from kdrepro import cli

    seen = {}
    monkeypatch.setattr("kdrepro.chapters.runner.run_chapter",
                        lambda *a, **k: seen.update(cl=os.environ.get("KDREPRO_CHANNELS_LAST"),
                                                    comp=os.environ.get("KDREPRO_COMPILE"),
                                                    graphs=os.environ.get("KDREPRO_CUDA_GRAPHS")) or REPO / "x" / "nb")
    for name in ("KDREPRO_CHANNELS_LAST", "KDREPRO_COMPILE", "KDREPRO_CUDA_GRAPHS"):
        monkeypatch.setenv(name, "0")  # recorded, so that the "1" the CLI sets is undone after the test
    assert cli.main(["run", "hinton", "--channels-last", "--compile", "--cuda-graphs"]) == 0
    assert seen == {"cl": "1", "comp": "1", "graphs": "1"}
    for name in ("KDREPRO_CHANNELS_LAST", "KDREPRO_COMPILE", "KDREPRO_CUDA_GRAPHS"):
        monkeypatch.delenv(name)
    assert cli.main(["run", "hinton", "--no-channels-last"]) == 0  # the others left to their defaults
    assert seen == {"cl": "0", "comp": None, "graphs": None}
