"""Teacher-Assistant KD: the held-out split, (λ, T) chosen without the test set, chains trained in
order from stored logits equal to the live teacher's, reuse of finished runs, the intended schedule."""

import pytest
import torch

from kdrepro.training import assistant_chains as takd, teachers
from kdrepro.chapters import takd as tc
from kdrepro.engine import Split, predict_logits
from kdrepro.engine.schedule import lr_factor
from kdrepro.errors import ConfigError
from kdrepro.recipes.takd import recipe
from tests.helpers.run_stamps import checkpoint_stamps


@pytest.fixture
def fake_cifar(monkeypatch, tmp_path):
    g = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 10, (1100,), generator=g)
    images = (torch.randint(0, 128, (1100, 3, 32, 32), dtype=torch.uint8, generator=g) + labels.view(-1, 1, 1, 1) * 12)
    test_labels = torch.randint(0, 10, (600,), generator=g)
    test = (torch.randint(0, 128, (600, 3, 32, 32), dtype=torch.uint8, generator=g)
            + test_labels.view(-1, 1, 1, 1) * 12, test_labels)
    splits = {"train": (images, labels), "test": test}
    monkeypatch.setattr(teachers, "load", lambda name, split: splits[split])
    monkeypatch.setenv("KDREPRO_RUNS", str(tmp_path / "runs"))
    return splits


def test_the_held_out_images_are_training_images_no_run_trains_on():
    train = Split(torch.zeros(100, 1, 2, 2, dtype=torch.uint8), torch.arange(100) % 10, (0.5,), (0.5,),
                  torch.arange(0, 100, 2))
    kept, held = takd.split_holdout(train, 10)
    assert len(kept.indices) == 40 and len(held.indices) == 10
    assert not set(kept.indices.tolist()) & set(held.indices.tolist())
    assert set(kept.indices.tolist()) | set(held.indices.tolist()) == set(range(0, 100, 2))
    with pytest.raises(ConfigError, match="hold out"):
        takd.split_holdout(train, 50)


def test_the_choice_of_lambda_and_t_never_reads_the_test_set(fake_cifar):
    ts = takd.setup("smoke", "cifar10")
    run = takd.distill(ts, ("plain6", "plain2"), 0)
    chosen, heldout = ts.chosen[(("plain6", "plain2"), 0)], run.heldout_accuracy
    # the same search with the test labels scrambled: the same choice, the same held-out accuracies
    scrambled = takd.setup("smoke", "cifar10")
    scrambled.test = Split(scrambled.test.images, scrambled.test.labels.flip(0), scrambled.test.mean,
                           scrambled.test.std, scrambled.test.indices)
    again = takd.distill(scrambled, ("plain6", "plain2"), 0)
    assert scrambled.chosen[(("plain6", "plain2"), 0)] == chosen and again.heldout_accuracy == heldout
    assert len(takd.grid_table(ts, ("plain6", "plain2"), 0)) == len(ts.recipe.grid)


def test_a_chain_trains_its_steps_in_order_from_the_previous_models_stored_logits(fake_cifar):
    ts = takd.setup("smoke", "cifar10")
    student = takd.distill(ts, ("plain6", "plain4", "plain2"), 0)
    assistant = takd.teacher_run(ts, ("plain6", "plain4"), 0)
    teacher = takd.teacher_run(ts, ("plain6",), 0)
    assert teacher.lam is None and assistant.lam is not None and student.lam is not None
    stored = torch.load(assistant.folder / "train_logits.pt", weights_only=True)
    idx = ts.train.indices
    live = predict_logits(assistant.model, ts.train.images, ts.train.labels, mean=ts.train.mean, std=ts.train.std,
                          indices=idx)
    torch.testing.assert_close(stored[idx], live)  # no augmentation: stored targets are the live ones
    assert student.folder.parts[-3] == "plain6>plain4>plain2"


def test_finished_runs_are_reloaded_not_trained_again(fake_cifar, tmp_path):
    ts = takd.setup("smoke", "cifar10")
    first = takd.distill(ts, ("plain4", "plain2"), 0)
    stamps = checkpoint_stamps(tmp_path / "runs")
    again = takd.setup("smoke", "cifar10")
    second = takd.distill(again, ("plain4", "plain2"), 0)
    assert checkpoint_stamps(tmp_path / "runs") == stamps
    assert second.test_accuracy == first.test_accuracy


def test_the_chapter_runs_and_judges_nothing_at_smoke_scale(fake_cifar):
    ts = takd.setup("smoke", "cifar10")
    tc.run(ts)
    checks = tc.checks(ts)
    assert {c.key for c in checks} >= {"mirzadeh2020/claim/takd_beats_kd", "mirzadeh2020/cifar10/plain/takd"}
    assert all(c.verdict == "not comparable" for c in checks)
    assert list(tc.gap_table(ts).index) == list(ts.recipe.gap_teachers)


def test_a_lossy_copy_shows_its_numbers_beside_table_1_without_judging_them(fake_cifar):
    ts = takd.setup("smoke", "cifar10-jpeg75", teacher="plain10", assistants=["plain4"])  # the paper's chain
    tc.run(ts)
    row = {c.key: c for c in tc.checks(ts)}
    takd_row, other = row["mirzadeh2020/cifar10/plain/takd"], row["mirzadeh2020/cifar100/plain/takd"]
    assert isinstance(takd_row.measured, float) and takd_row.verdict == "not comparable"  # measured, shown
    assert other.measured is None and "not trained" in other.reason  # another dataset: only listed


def test_resnets_get_the_schedule_the_authors_meant_not_their_bug():
    config = recipe("full").config("resnet8")
    assert config.lr == 0.1 and config.milestones == [100, 150]
    assert [round(config.lr * lr_factor(config, e), 6) for e in (0, 99, 100, 149, 150, 199)] == \
        [0.1, 0.1, 0.01, 0.01, 0.001, 0.001]
    plain = recipe("full").config("plain10")
    assert plain.lr == 0.01 and plain.schedule == "constant" and plain.batch_size == 128


def test_unknown_networks_and_datasets_are_refused(fake_cifar):
    with pytest.raises(ConfigError, match="unknown network"):
        takd.setup("smoke", "cifar10", teacher="plain12")
    with pytest.raises(ConfigError, match="runs on"):
        takd.setup("smoke", "mnist")
    with pytest.raises(ConfigError, match="grid must list"):
        takd.setup("smoke", "cifar10", grid=[[2.0, 1.0]])  # λ is a weight in [0, 1]


def test_a_grid_of_candidates_replaces_the_recipes(fake_cifar):
    assert takd.setup("smoke", "cifar10", grid=[[0.5, 2]]).recipe.grid == ((0.5, 2.0),)
