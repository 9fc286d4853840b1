"""Teachers saved and loaded by name, pair runs by method, and their refusals."""

from __future__ import annotations

import pytest
import torch

import kdrepro.training.teachers as teachers
from kdrepro.cli import main
from kdrepro.errors import ConfigError
from kdrepro.training.pairs import METHODS, run_dir, train_pair
from kdrepro.paths import runs_root


@pytest.fixture
def fake_cifar(monkeypatch, tmp_path):
    """A small random CIFAR-shaped dataset in place of the real one, and a fresh runs folder."""
    g = torch.Generator().manual_seed(0)
    splits = {"train": (torch.randint(0, 256, (1100, 3, 32, 32), dtype=torch.uint8, generator=g),
                        torch.randint(0, 10, (1100,), generator=g)),
              "test": (torch.randint(0, 256, (600, 3, 32, 32), dtype=torch.uint8, generator=g),
                       torch.randint(0, 10, (600,), generator=g))}
    monkeypatch.setattr(teachers, "load", lambda name, split: splits[split])
    monkeypatch.setenv("KDREPRO_RUNS", str(tmp_path / "runs"))
    return splits


def test_a_missing_teacher_is_an_error_with_the_command_to_train_it(fake_cifar):
    with pytest.raises(teachers.TeacherMissingError,
                       match="kdrepro teacher train resnet8 --dataset cifar10 --scale smoke --seed 0"):
        teachers.get_teacher("resnet8", "cifar10", "smoke", mode="load")
    assert not teachers.teacher_dir("resnet8", "cifar10", "smoke").exists()  # nothing was trained


def test_a_trained_teacher_is_saved_with_its_accuracy_and_loaded_by_name(fake_cifar):
    t = teachers.get_teacher("resnet8", "cifar10", "smoke", mode="train", verbose=False)
    assert t.path.is_file() and 0 <= t.accuracy <= 100
    assert t.info["recipe"]["epochs"] == 1 and t.info["scale"] == "smoke"
    again = teachers.get_teacher("resnet8", "cifar10", "smoke", mode="load")
    for a, b in zip(t.model.state_dict().values(), again.model.state_dict().values()):
        assert torch.equal(a, b)
    assert [r["model"] for r in teachers.list_teachers()] == ["resnet8"]
    with pytest.raises(ConfigError, match="unknown teacher_mode"):
        teachers.get_teacher("resnet8", "cifar10", "smoke", mode="download")


def test_every_method_trains_saves_and_reloads_without_training_again(fake_cifar):
    teacher = teachers.get_teacher("resnet14", "cifar10", "smoke", verbose=False)
    for method in METHODS:
        run = train_pair(method, "resnet8", None if method == "student" else teacher, "cifar10", "smoke",
                         verbose=False)
        folder = run_dir("cifar10", "smoke", "resnet8", method, "resnet14", 0)
        assert (folder / "student.pt").is_file()
        again = train_pair(method, "resnet8", None if method == "student" else teacher, "cifar10", "smoke",
                           verbose=False)
        assert again.history == run.history  # reloaded from the finished checkpoint, not retrained
    stores = list((runs_root() / "stores").rglob("store.json"))
    assert len(stores) == 1 and "resnet14-views0-e1-k10" in str(stores[0])  # kd_store's teacher pass, kept for reuse
    ab = train_pair("ab", "resnet8", teacher, "cifar10", "smoke", verbose=False)
    assert set(ab.stages) == {"init", "train"}
    assert all("probe_boundary_agreement" in r for h in ab.stages.values() for r in h)


def test_pair_refusals(fake_cifar):
    teacher = teachers.get_teacher("resnet14", "cifar10", "smoke", verbose=False)
    with pytest.raises(ConfigError, match="unknown method 'crd'"):
        train_pair("crd", "resnet8", teacher, "cifar10", "smoke")
    with pytest.raises(ConfigError, match="needs a teacher"):
        train_pair("kd", "resnet8", None, "cifar10", "smoke")
    with pytest.raises(ConfigError, match="trained on cifar10, not cifar100"):
        train_pair("kd", "resnet8", teacher, "cifar100", "smoke")


def test_cli_pair_train_refuses_a_missing_teacher(fake_cifar, capsys):
    assert main(["pair", "train", "--scale", "smoke", "--dataset", "cifar10", "--teacher-mode", "load"]) == 2
    err = capsys.readouterr().err
    assert "no smoke teacher resnet14" in err and "kdrepro teacher train resnet14" in err
    assert main(["teacher", "train", "resnet999", "--scale", "smoke", "--dataset", "cifar10"]) == 2
    assert "unknown model 'resnet999'" in capsys.readouterr().err


def test_full_scale_refuses_without_cifar100_and_says_how_to_prepare_it(monkeypatch, tmp_path):
    from kdrepro.chapters.cifar import setup
    from kdrepro.errors import DatasetError

    monkeypatch.setenv("KDREPRO_DATA", str(tmp_path / "empty"))
    with pytest.raises(DatasetError, match="kdrepro data prepare cifar100"):
        setup("full")
    with pytest.raises(DatasetError, match="kdrepro data prepare cifar100"):
        setup("full", dataset="cifar10-jpeg75")


def test_every_chapter_picks_its_data_the_same_way(monkeypatch, tmp_path):
    from kdrepro.chapters import dml as dml_chapter
    from kdrepro.training import assistant_chains as takd
    from kdrepro.errors import ConfigError, DatasetError

    monkeypatch.setenv("KDREPRO_DATA", str(tmp_path / "empty"))
    with pytest.raises(DatasetError, match="kdrepro data prepare cifar100"):
        dml_chapter.setup("full", dataset="cifar10-jpeg75")
    with pytest.raises(DatasetError, match="kdrepro data prepare cifar10"):
        takd.setup("full", dataset="cifar10-jpeg75")
    with pytest.raises(ConfigError, match="the medium recipe runs on"):
        dml_chapter.setup("medium", dataset="mnist")
    with pytest.raises(DatasetError, match="none of"):
        dml_chapter.setup("medium")


def _measured_pair(accuracies: dict[str, list[float]], scale: str = "medium", dataset: str = "cifar10"):
    """A PairSetup holding finished runs with the given last-epoch accuracies (no training)."""
    from types import SimpleNamespace

    from kdrepro.chapters.cifar import PairSetup
    from kdrepro.data import get_spec
    from kdrepro.recipes.cifar import recipe
    from kdrepro.training.pairs import PairRun

    runs = {(m, seed): PairRun(m, None, [{"test_accuracy": acc}]) for m, values in accuracies.items()
            for seed, acc in enumerate(values)}
    teacher = SimpleNamespace(info={"model": "resnet20"}, accuracy=90.0)
    return PairSetup(scale, recipe(scale), dataset, get_spec(dataset), teacher, "resnet8", (0,), runs=runs)


def test_a_one_seed_claim_within_the_test_sets_sampling_noise_is_inconclusive():
    from kdrepro.chapters.cifar import beats_claim

    key = "tian2020/claim/kd_beats_student"
    ps = _measured_pair({"kd": [70.1], "student": [70.0]})
    assert ps.test_images == 10_000
    tie = beats_claim(ps, key, "kd", "student")  # +0.1 point on 10,000 images, one seed each
    assert tie.verdict == "inconclusive" and "sampling noise" in tie.reason
    assert "10,000 images" in tie.measured and "cifar10" in tie.measured
    # two standard errors of the difference at 70 %: 200·sqrt(2·0.7·0.3/10,000) ≈ 1.30 points
    assert beats_claim(_measured_pair({"kd": [71.5], "student": [70.0]}), key, "kd", "student").verdict == "pass"
    assert beats_claim(_measured_pair({"kd": [68.5], "student": [70.0]}), key, "kd", "student").verdict == "fail"
    seeds = _measured_pair({"kd": [71.0, 71.2], "student": [70.0, 70.2]})  # two seeds: the seeds' spread decides
    assert beats_claim(seeds, key, "kd", "student").verdict == "pass"
    assert _measured_pair({"kd": [70.0]}, scale="smoke").test_images == 500  # the smoke recipe's slice


def test_methods_sharing_the_teachers_forward_train_exactly_the_runs_they_train_alone(fake_cifar, monkeypatch,
                                                                                      tmp_path):
    from kdrepro.chapters.cifar import run_methods, setup
    from kdrepro.training.shared_pairs import SHARED_PASS, train_sharing_teacher

    teacher = teachers.get_teacher("resnet14", "cifar10", "smoke", verbose=False)
    methods = ["student", "kd", "fitnet", "at", "ctkd_instance"]
    ps = setup("smoke", "resnet14", "resnet8", "cifar10", teacher_mode="load", seeds=[0], verbose=False)
    shared = run_methods(ps, methods, verbose=False)  # KD, FitNet, AT and CTKD in one pass, the student alone
    group = "shared_kd+fitnet+at+ctkd_instance"
    assert (run_dir("cifar10", "smoke", "resnet8", group, "resnet14", 0) / "train").is_dir()
    monkeypatch.setenv("KDREPRO_RUNS", str(tmp_path / "alone"))
    teachers.get_teacher("resnet14", "cifar10", "smoke", verbose=False)  # the same teacher, trained again
    ps_alone = setup("smoke", "resnet14", "resnet8", "cifar10", teacher_mode="load", seeds=[0], verbose=False)
    alone = run_methods(ps_alone, methods, verbose=False, share_teacher=False)
    assert not run_dir("cifar10", "smoke", "resnet8", group, "resnet14", 0).exists()
    for key in alone:
        a, b = shared[key], alone[key]
        for (name, x), (_, y) in zip(a.student.state_dict().items(), b.student.state_dict().items()):
            assert torch.equal(x, y), (key, name)  # bit for bit: each student got exactly its own gradient
        # only the epoch times and the pass a shared member names differ
        drop = lambda h: [{k: v for k, v in r.items() if k not in ("time_s", SHARED_PASS)} for r in h]  # noqa: E731
        assert drop(a.history) == drop(b.history), key
        assert all((SHARED_PASS in r) == (key[0] != "student") for r in a.history), key
        assert not any(SHARED_PASS in r for r in b.history), key
    assert "probe_temperature_std" in shared[("ctkd_instance", 0)].history[-1]  # CTKD's probes, as alone
    # a second call finds every member trained (in its own folder) and trains nothing
    assert train_sharing_teacher(["kd", "fitnet", "at", "ctkd_instance"], "resnet8", ps_alone.teacher, "cifar10", "smoke") == []
