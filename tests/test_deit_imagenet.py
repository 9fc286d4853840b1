"""DeiT's ImageNet recipe, piece by piece: timm's DeiT models, Mixup/CutMix on the batch, repeated
augmentation, the recipe's numbers; the chapter end to end is rehearsed in test_rehearsal.py."""

import sys

import pytest
import torch

from kdrepro.data.loader import Batch
from kdrepro.data.mixing import BatchMix
from kdrepro.engine import TrainConfig, Trainer
from kdrepro.errors import ConfigError
from kdrepro.methods import CrossEntropy
from kdrepro.models import create_model

from conftest import HELPERS

sys.path.insert(0, str(HELPERS))
from test_streaming import _splits  # noqa: E402


def test_deits_imagenet_models_are_timms_and_average_their_heads_logits():
    import timm

    ours = create_model("deit_tiny_distilled_patch16_224", num_classes=5, seed=0).eval()
    theirs = timm.create_model("deit_tiny_distilled_patch16_224", num_classes=5).eval()
    theirs.load_state_dict(ours.vit.state_dict())
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        out = ours(x)
        assert torch.allclose(out.logits, theirs(x), atol=1e-5)  # the official combination: logits averaged
        assert torch.allclose(out.logits, (out.heads["cls"] + out.heads["dist"]) / 2)
    assert ours.num_prefix == 2 and create_model("deit_small_patch16_224", num_classes=5).num_prefix == 1
    assert sum(p.numel() for p in create_model("deit_tiny_patch16_224").parameters()) == 5_717_416  # DeiT-Ti: 5.7 M


def test_the_full_recipe_is_the_official_one():
    from kdrepro.recipes.deit import recipe

    r = recipe("full")
    cfg = r.config(0)
    assert (r.epochs, r.batch_size, cfg.lr, cfg.weight_decay, cfg.warmup_epochs) == (300, 1024, 1e-3, 0.05, 5)
    assert cfg.optimizer == "adamw" and cfg.schedule == "cosine" and cfg.final_lr_factor * cfg.lr == pytest.approx(1e-5)
    assert (r.mixup, r.cutmix, r.smoothing, r.repeats, r.re_prob, r.drop_path) == (0.8, 1.0, 0.1, 3, 0.25, 0.1)
    assert (r.temperature, r.lam, r.teacher) == (3.0, 0.1, "regnety_160.deit_in1k")


def test_batch_mix_gives_soft_labels_repeatably_and_refuses_an_odd_batch():
    mix = BatchMix(10)
    batch = Batch(torch.randn(8, 3, 16, 16), torch.arange(8), torch.arange(8))
    mix.reseed(3)
    a = mix(batch)
    mix.reseed(3)
    b = mix(batch)
    assert a.y.shape == (8, 10) and torch.allclose(a.y.sum(1), torch.ones(8))
    assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y) and torch.equal(a.index, batch.index)
    assert a.y.min() >= 0.1 / 10 - 1e-6  # label smoothing 0.1 leaves every class its share
    with pytest.raises(ConfigError, match="odd"):
        mix(Batch(batch.x[:7], batch.y[:7], batch.index[:7]))


def test_a_mixed_streamed_run_with_repeated_augmentation_repeats_exactly_and_resumes(tmp_path):
    train, test = _splits(tmp_path / "folder", workers=1)
    train.repeats = 3
    cfg = TrainConfig(epochs=2, batch_size=6, lr=0.05, eval_batch_size=8)

    def run(folder, callbacks=()):
        model = create_model("mlp", hidden=(16,), in_features=3 * 16 * 16, num_classes=3, seed=0)
        history = Trainer(cfg, folder, verbose=False, callbacks=list(callbacks)).fit(
            CrossEntropy(model), train, test, mix=BatchMix(3, mixup=0.8, cutmix=1.0))
        return history, model

    def interrupt(event, state, trainer):
        if event == "epoch":  # after the first epoch's checkpoint
            raise KeyboardInterrupt

    whole, model = run(tmp_path / "a")
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "b", [interrupt])
    import numpy as np

    np.random.seed(12345)  # the global generator in another state: the mixing is reseeded per epoch
    resumed, model2 = run(tmp_path / "b")
    strip = lambda h: [{k: v for k, v in r.items() if k != "time_s"} for r in h]  # noqa: E731
    assert strip(resumed) == strip(whole)
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), model2.parameters()))


def test_repeated_augmentation_shows_each_drawn_image_three_times_across_processes():
    from kdrepro.data.streaming import _RepeatedBatches

    shares = [_RepeatedBatches(12, 2, 3, rank, 2, drop_last=True) for rank in (0, 1)]
    for s in shares:
        s.set_epoch(4)
    seen = [i for s in shares for batch in s for i in batch]
    counts = torch.bincount(torch.tensor(seen), minlength=12)
    assert len(seen) == 12 and set(counts.tolist()) <= {0, 3}  # an epoch's length, each drawn image 3 times
    assert all(len(list(s)) == len(s) for s in shares)


def test_mixing_refuses_a_stored_teacher():
    from kdrepro.methods import KD, StoredTeacher

    student = create_model("mlp", hidden=(8,), in_features=3 * 16 * 16, num_classes=3, seed=0)
    images = torch.zeros(16, 3, 16, 16, dtype=torch.uint8)
    from kdrepro.engine import Split

    split = Split(images, torch.arange(16) % 3, (0.5,) * 3, (0.25,) * 3)
    with pytest.raises(ConfigError, match="un-mixed"):
        Trainer(TrainConfig(epochs=1, batch_size=4), None, verbose=False).fit(
            KD(student, StoredTeacher(torch.zeros(16, 3))), split, mix=BatchMix(3))


def test_the_deit_teacher_is_refused_offline_without_weights(monkeypatch):
    from kdrepro.models.pretrained import pretrained_teacher

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ConfigError, match="teacher_checkpoint"):
        pretrained_teacher("regnety_160.deit_in1k", None, num_classes=1000)


@pytest.mark.slow
def test_deits_imagenet_step_runs_on_two_machines_then_the_chapter_reuses_it(tmp_path, monkeypatch):
    """`accelerate launch --num_machines 2` (two launches joined over 127.0.0.1, one process each) trains
    DeiT's full recipe, rehearsed on an ImageNet-layout stand-in; one process then finds it finished."""
    import os

    from conftest import launch_two_cpu_machines
    from standins import make_imagenet_standin, save_random_timm_checkpoint

    data = tmp_path / "data"
    make_imagenet_standin(data)
    checkpoint = save_random_timm_checkpoint("regnety_160", 4, tmp_path / "regnety_160.pt")
    env = {**os.environ, "KDREPRO_DATA": str(data), "KDREPRO_RUNS": str(tmp_path / "runs"), "KDREPRO_REHEARSE": "1",
           "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    args = ["-m", "kdrepro", "deit", "train", "--modes", "none", "--workers", "1", "--teacher-checkpoint",
            str(checkpoint)]
    machines = launch_two_cpu_machines(*args, env=env)
    for m in machines:
        assert m.returncode == 0, m.stderr[-3000:]
    said = [line for m in machines for line in m.stdout.splitlines() if line.startswith("none")]
    assert len(said) == 1 and "deit_tiny_patch16_224" in said[0]  # one writer
    import json

    history = json.loads((tmp_path / "runs" / "rehearsal" / "deit" / "imagenet" / "full" / "deit_tiny" / "none" /
                          "seed0" / "history.json").read_text())
    assert [r["processes"] for r in history] == [2, 2]
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    from kdrepro.chapters import deit as dc

    ds = dc.setup("full", teacher_checkpoint=str(checkpoint), workers=0, evaluate_teacher=False)
    _, reused, _ = dc.train(ds, "none", 0, verbose=False)
    assert reused == history


def test_randaugments_top_magnitude_posterizes_to_black_instead_of_stopping_the_run():
    """At magnitude 10 timm's increasing posterize keeps 0 bits, which Pillow 13 refuses (a crash at a random
    step of a real run, found by `kdrepro bench`); kdrepro's op gives the black image earlier Pillow gave."""
    from PIL import Image

    from kdrepro.data.imagenet import TrainTransform, posterize

    image = Image.fromarray(torch.randint(0, 256, (40, 48, 3), dtype=torch.uint8).numpy())
    import numpy as np

    assert np.asarray(posterize(image, 0)).max() == 0 and posterize(image, 0).size == image.size
    assert posterize(image, 8) is image
    transform = TrainTransform(size=32, rand_augment="rand-m10-n3-mstd0-inc1").build((0.5,) * 3, (0.25,) * 3)
    torch.manual_seed(0)
    for _ in range(60):  # posterize among 3 of ~15 ops per image: drawn many times over
        assert transform(image).shape == (3, 32, 32)


@pytest.mark.slow
def test_deit_trains_from_its_teacher_recorded_once_on_the_mixed_batches(tmp_path, monkeypatch):
    """teacher_source "store": one teacher pass per seed on the full recipe's own (mixed, repeated) batches
    serves every distilled mode, and a student from it trains as with the live teacher (rehearsed)."""
    import json

    from standins import make_imagenet_standin, save_random_timm_checkpoint

    from kdrepro.chapters import deit as dc

    make_imagenet_standin(tmp_path / "data")
    checkpoint = save_random_timm_checkpoint("regnety_160", 4, tmp_path / "regnety_160.pt")
    for key, value in {"KDREPRO_DATA": tmp_path / "data", "KDREPRO_RUNS": tmp_path / "runs",
                       "KDREPRO_REHEARSE": "1"}.items():
        monkeypatch.setenv(key, str(value))
    with pytest.raises(ConfigError, match="unknown teacher_source 'cache'"):
        dc.setup("full", teacher_checkpoint=str(checkpoint), workers=0, evaluate_teacher=False, teacher_source="cache")
    live = dc.setup("full", teacher_checkpoint=str(checkpoint), workers=1, evaluate_teacher=False)
    stored = dc.setup("full", teacher_checkpoint=str(checkpoint), workers=1, evaluate_teacher=False,
                      teacher_source="store")
    _, from_live, _ = dc.train(live, "hard", 0, verbose=False)
    _, from_store, folder = dc.train(stored, "hard", 0, verbose=False)
    assert folder.parent.name == "hard-from_store"
    assert [e["train_loss"] for e in from_store] == pytest.approx([e["train_loss"] for e in from_live], rel=1e-4)
    dc.train(stored, "token_hard", 0, verbose=False)
    stores = list((tmp_path / "runs" / "rehearsal" / "deit" / "imagenet" / "full" / "teacher_store").iterdir())
    assert [s.name for s in stores] == ["seed0-k4"]  # one pass for both modes (K capped at the 4 classes)
    assert json.loads((stores[0] / "pass.json").read_text())["seconds"] > 0
    with pytest.raises(ConfigError, match="full scale's"):
        dc.setup("smoke", teacher_source="store")
    no_workers = dc.setup("full", teacher_checkpoint=str(checkpoint), workers=0, evaluate_teacher=False,
                          teacher_source="store")
    with pytest.raises(ConfigError, match="only when DataLoader workers decode them"):
        dc.train(no_workers, "soft", 0, verbose=False)
