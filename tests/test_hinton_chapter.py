"""The Hinton chapter's module: the omitted-class table and the bias shift, on logits made by hand."""

import torch

from kdrepro.chapters.hinton import RestrictedTransfer


def _omitted() -> RestrictedTransfer:
    # Four test images: two 3s the student calls 5 (logit 3 short by 1 and by 4), a 5 and a 7 it gets right.
    logits = torch.full((4, 10), -10.0)
    logits[0, 3], logits[0, 5] = 1.0, 2.0
    logits[1, 3], logits[1, 5] = -2.0, 2.0
    logits[2, 5], logits[2, 3] = 2.0, 0.0
    logits[3, 7] = 2.0
    return RestrictedTransfer((3,), logits, torch.tensor([3, 3, 5, 7]), shift=1.5, paper_shift=5.0)


def test_a_bias_shift_recovers_the_omitted_class_and_can_overshoot():
    om = _omitted()
    assert om.errors() == (2, 2)  # both 3s wrong
    assert om.errors(1.5) == (1, 1)  # the near 3 recovered
    assert om.errors(5.0) == (1, 0)  # every 3 right, but the 5 is now called 3


def test_the_table_and_the_curve_report_the_same_counts():
    om = _omitted()
    table = om.table()
    assert list(table.index) == ["no shift", "shift 1.5 (chosen on training images)", "shift 5 (the paper's)"]
    assert list(table.columns) == ["test errors", "errors on the 2 test 3s"]
    assert table.loc["shift 5 (the paper's)"].tolist() == [1, 0]
    curve = dict((s, (e, e3)) for s, e, e3 in om.curve(torch.tensor([0.0, 1.5, 5.0])))
    assert curve == {0.0: (2, 2), 1.5: (1, 1), 5.0: (1, 0)}


def test_lowering_two_biases_together_counts_errors_on_both_classes():
    # A 7 and an 8 right, a 1 and a 2 that the student (trained on 7s and 8s only) calls 7 and 8.
    logits = torch.full((4, 10), -10.0)
    logits[0, 7], logits[1, 8] = 5.0, 5.0
    logits[0, 1], logits[1, 2] = 0.0, 0.0  # their runners-up
    logits[2, 7], logits[2, 1] = 3.0, 1.0
    logits[3, 8], logits[3, 2] = 3.0, 0.0
    only78 = RestrictedTransfer((7, 8), logits, torch.tensor([7, 8, 1, 2]), shift=-2.5, paper_shift=-7.6)
    assert only78.errors() == (2, 0) and only78.error_rate() == 50.0
    assert only78.errors(-2.5) == (1, 0)  # the 1 recovered; the 2 needs more than 3
    assert only78.errors(-7.6) == (2, 2)  # too far: the 7 and the 8 are lost, the 1 and the 2 recovered
    assert "errors on the 2 test 7s and 8s" in only78.table().columns


def test_the_best_shift_is_searched_both_ways_and_ties_go_to_the_smallest():
    from kdrepro.evaluation.error_counts import best_bias_shift

    logits = torch.tensor([[0.0, 1.0], [0.0, 1.0]])
    assert best_bias_shift(logits, torch.tensor([1, 1]), 1, -torch.arange(0, 3.01, 1.0)) == (0.0, 0)
    assert best_bias_shift(logits, torch.tensor([0, 0]), 1, -torch.arange(0, 3.01, 1.0)) == (-1.0, 0)  # a tie at -1 goes to the first class, the right one


def test_the_headline_is_trained_for_every_seed_and_a_run_trained_elsewhere_is_reused(tmp_path):
    import pytest

    from kdrepro.chapters import hinton as hc
    from kdrepro.paths import data_root

    if not (data_root() / "mnist" / "meta.json").is_file():
        pytest.skip("MNIST is not prepared (make test prepares it)")
    hs = hc.setup("smoke", tmp_path, seed=4)  # the smoke recipe trains 2 seeds
    elsewhere = hc.train_seed(hs, 5)  # as a second process would, before the chapter gets there
    hc.train_teacher(hs)
    hc.train_students(hs)
    seeds = hc.train_seeds(hs)
    assert list(seeds.errors) == [4, 5] and seeds.errors[5] == elsewhere
    assert (tmp_path / "seed5" / "teacher" / "model.pt").is_file() and not (tmp_path / "seed4").exists()
    assert hs.headline("distilled") == [hs.errors("distilled"), elsewhere["distilled"]]
    table = seeds.table()
    assert list(table.index) == ["seed 4", "seed 5", "mean", "sd"] and list(table.columns) == list(hc.HEADLINE)
    assert table.loc["mean", "teacher"] == sum(seeds.of("teacher")) / 2


def test_the_train_command_trains_parts_in_another_process_and_the_chapter_reuses_them(tmp_path, monkeypatch,
                                                                                     capsys):
    import pytest

    from kdrepro.chapters import hinton as hc
    from kdrepro.chapters.runner import run_dir
    from kdrepro.cli import main
    from kdrepro.engine.checkpoint import load_checkpoint
    from kdrepro.engine.trainer import CHECKPOINT
    from kdrepro.paths import data_root
    from tests.helpers.run_stamps import checkpoint_stamps

    if not (data_root() / "mnist" / "meta.json").is_file():
        pytest.skip("MNIST is not prepared (make test prepares it)")
    monkeypatch.setenv("KDREPRO_RUNS", str(tmp_path))
    assert main(["hinton", "train", "--scale", "smoke", "--parts", "nosuch"]) == 2
    assert "unknown part(s) nosuch of the Hinton chapter; valid: headline, sweeps, restricted" in capsys.readouterr().err
    assert main(["hinton", "train", "--scale", "smoke", "--seeds", "1", "--parts", "headline", "sweeps",
                 "restricted"]) == 0
    said = [line for line in capsys.readouterr().out.splitlines() if not line.startswith("epoch")]
    assert len(said) == 3 and all(line.startswith("seed 1: ") for line in said)
    trained = checkpoint_stamps(tmp_path / "hinton" / "smoke" / "seed1")
    assert len(trained) == 1 + 2 + 2 + 3 + 1 + 2  # teacher, headline students, wide T ≠ 20, narrow, hard, restricted
    runs = ("student", "distilled_T20", "sweep_800_T2", "sweep_30_T3", "omit3", "only78")
    lr = {run: load_checkpoint(tmp_path / "hinton" / "smoke" / "seed1" / run / CHECKPOINT)["config"]["lr"]
          for run in runs}
    r = hc.recipe("smoke")  # every distilled student at distil_lr (the students' 0.05 diverged from a full teacher)
    assert lr == dict(zip(runs, (r.student.lr, r.distil_lr, r.distil_lr, r.narrow_lr, r.distil_lr, r.distil_lr)))
    assert r.distil_lr != r.student.lr
    hs = hc.setup("smoke", run_dir("hinton", "smoke"))  # the chapter, as its notebook sets up
    errors = hc.train_seed(hs, 1)
    assert said[0] == "seed 1: " + ", ".join(f"{n} {errors[n]} test errors" for n in hc.HEADLINE)
    seed1 = hc.reseeded(hs, 1)
    hc.train_teacher(seed1)
    sweeps = hc.temperature_sweeps(seed1)
    assert sweeps.wide[hs.temperature] == errors["distilled"]  # the headline's distilled student, not trained twice
    assert checkpoint_stamps(tmp_path / "hinton" / "smoke" / "seed1") == trained  # every run reused, none retrained


def test_the_distilled_students_distance_to_its_teacher_is_the_mean_over_seeds_beside_the_papers_7():
    from types import SimpleNamespace

    from kdrepro.chapters import hinton as hc

    errors = {"teacher": [98, 90, 95], "distilled": [104, 99, 101]}
    assert hc.teacher_gap(SimpleNamespace(headline=errors.__getitem__)) == (7.0, 7)  # 101.3 − 94.3; 74 − 67
