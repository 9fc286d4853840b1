"""TinyViT's sparse logit store: per-sample seeded views replayed in any batch order, top-K targets
rebuilt densely, stored targets equal to the live teacher's on the replayed views, writes shared by
processes, and clear refusals of runs the store does not fit."""

import json
import shutil
import sys

import pytest
import torch

from conftest import HELPERS, launch_two_cpu_processes
from kdrepro.data import Augment, BatchLoader, SeededAugment, sample_seeds
from kdrepro.engine import Trainer, TrainConfig
from kdrepro.errors import ConfigError
from kdrepro.engine import accel
from kdrepro.stores import topk
from kdrepro.stores.topk import (SparseLogitStore, SparseStoredTeacher, dense_target, open_or_record, pass_seconds,
                                 record_sparse_logits, target_agreement)
from kdrepro.methods import KD
from kdrepro.models import create_model

sys.path.insert(0, str(HELPERS))
from tiny_run import synthetic  # noqa: E402


def test_a_samples_seed_depends_on_seed_epoch_and_index_only():
    idx = torch.arange(50)
    perm = torch.randperm(50)
    assert torch.equal(sample_seeds(3, 2, idx)[perm], sample_seeds(3, 2, idx[perm]))
    assert not torch.equal(sample_seeds(3, 2, idx), sample_seeds(3, 1, idx))
    assert not torch.equal(sample_seeds(3, 2, idx), sample_seeds(4, 2, idx))
    assert len(set(sample_seeds(3, 2, idx).tolist())) == 50


def test_a_samples_view_is_replayed_in_any_batch_order():
    data = synthetic(64, 0, channels=3)
    augment = SeededAugment(crop_padding=2, flip=True, seed=7)
    views = {}
    for batch_size, loader_seed in ((8, 0), (16, 5)):
        loader = BatchLoader(data.images, data.labels, batch_size, augment=augment, seed=loader_seed)
        loader.set_epoch(3)
        for batch in loader:
            for x, i in zip(batch.x, batch.index.tolist()):
                if i in views:
                    torch.testing.assert_close(views[i], x)
                views[i] = x
    assert len(views) == 64
    flipped = augment.apply(data.images[:64], augment.seeds(3, torch.arange(64)))
    assert not torch.equal(flipped, data.images[:64])  # it does augment


def test_the_dense_target_keeps_the_top_k_and_spreads_the_rest():
    target = dense_target(torch.tensor([[0.6, 0.2]]), torch.tensor([[3, 0]]), 5)
    torch.testing.assert_close(target, torch.tensor([[0.2, 0.2 / 3, 0.2 / 3, 0.6, 0.2 / 3]]))
    assert target.sum().item() == pytest.approx(1.0)


def _teacher():
    return create_model("resnet8", num_classes=4, seed=1).eval()


def test_stored_targets_equal_the_live_teachers_on_the_replayed_views(tmp_path):
    data = synthetic(96, 0, channels=3)
    augment = SeededAugment(crop_padding=2, flip=True, seed=1)
    teacher = _teacher()
    store = record_sparse_logits(teacher, data, augment, epochs=2, k=2, path=tmp_path / "store", batch_size=40)
    stored = SparseStoredTeacher(store)
    loader = BatchLoader(data.images, data.labels, 16, augment=augment, mean=data.mean, std=data.std, seed=9)
    for epoch in (0, 1):
        loader.set_epoch(epoch)
        stored.set_epoch(epoch)
        batch = next(iter(loader))
        with torch.no_grad():
            live = torch.softmax(teacher(batch.x).logits, -1)
        top_live, cls_live = live.topk(2, -1)
        target = stored.lookup(batch.index).logits.exp()
        torch.testing.assert_close(target.gather(1, cls_live), top_live, atol=1e-3, rtol=1e-3)  # float16 values
        assert target.sum(-1).sub(1).abs().max() < 1e-3


def test_the_agreement_report_measures_what_the_top_k_keeps(tmp_path):
    data = synthetic(64, 0, channels=3)
    augment = SeededAugment(crop_padding=2, flip=True, seed=1)
    teacher = _teacher()
    store, seconds = open_or_record(teacher, data, augment, 2, 4, tmp_path / "store")  # K = C: all classes
    assert seconds is not None and seconds > 0
    first = seconds
    full = target_agreement(store, teacher, data, epoch=1, n=50)
    assert full["samples"] == 50 and full["top-1 agreement (%)"] == 100.0
    assert full["max |Δp|"] < 2e-3  # float16 rounding only
    top1 = target_agreement(store, teacher, data, epoch=1, n=50, k=1)
    assert top1["mean total variation"] > 10 * full["mean total variation"]  # the flattened tail differs
    again, seconds = open_or_record(teacher, data, augment, 2, 4, tmp_path / "store")
    assert seconds is None and again.meta == store.meta  # reopened, not recorded again
    assert pass_seconds(again) == pytest.approx(first, abs=1e-3)  # the first pass's time, kept beside the store
    store.written[1, :5] = 0  # an interrupted pass: the missing rows are recorded, the rest kept
    _, seconds = open_or_record(teacher, data, augment, 2, 4, tmp_path / "store")
    assert seconds is not None and SparseLogitStore(tmp_path / "store").complete(2, torch.arange(64))


def test_two_processes_write_their_own_rows_of_one_store(tmp_path, monkeypatch):
    data = synthetic(40, 0, channels=3)
    augment = SeededAugment(crop_padding=1, seed=2)
    monkeypatch.setattr(topk, "wait_for_everyone", lambda: None)  # the ranks run one after the other here,
    monkeypatch.setattr(topk, "process_device", lambda: torch.device("cpu"))  # in one process: no process group
    for rank in (0, 1):  # as under `accelerate launch`: each process its share, the same files
        monkeypatch.setenv("WORLD_SIZE", "2")
        monkeypatch.setenv("RANK", str(rank))
        store = record_sparse_logits(_teacher(), data, augment, epochs=1, k=3, path=tmp_path / "s", batch_size=7)
        assert store.written[0].sum() == (20 if rank == 0 else 40)
    assert SparseLogitStore(tmp_path / "s").complete(1, torch.arange(40))


def test_kd_trains_from_the_store_and_runs_it_does_not_fit_are_refused(tmp_path):
    data = synthetic(64, 0, channels=3)
    augment = SeededAugment(crop_padding=2, flip=True, seed=1)
    store = record_sparse_logits(_teacher(), data, augment, epochs=2, k=2, path=tmp_path / "store")
    config = TrainConfig(epochs=2, batch_size=16, lr=0.05, seed=0, max_steps_per_epoch=2)
    student = create_model("resnet8", num_classes=4, seed=3)
    history = Trainer(config, verbose=False).fit(KD(student, SparseStoredTeacher(store), 1.0), data, augment=augment)
    assert len(history) == 2 and history[-1]["train_soft"] > 0
    with pytest.raises(ConfigError, match="SeededAugment"):
        Trainer(config, verbose=False).fit(KD(student, SparseStoredTeacher(store)), data, augment=Augment(2, True))
    with pytest.raises(ConfigError, match="covers 2 epochs"):
        Trainer(config.replace(epochs=3), verbose=False).fit(KD(student, SparseStoredTeacher(store)), data,
                                                             augment=augment)
    with pytest.raises(ConfigError, match="another teacher, augmentation or size"):
        record_sparse_logits(_teacher(), data, SeededAugment(crop_padding=1, seed=1), epochs=2, k=2,
                             path=tmp_path / "store")
    with pytest.raises(FileNotFoundError, match="record one"):
        SparseLogitStore(tmp_path / "nothing")


def test_under_a_launch_the_barrier_works_before_any_accelerator(monkeypatch):
    calls = []

    class State:
        def wait_for_everyone(self):
            calls.append("barrier")

    monkeypatch.setattr(accel, "is_initialized", lambda: False)  # no Accelerator created yet
    monkeypatch.setattr(accel, "process_state", State)
    monkeypatch.setenv("WORLD_SIZE", "1")
    accel.wait_for_everyone()
    assert calls == []  # one process: nothing to wait for
    monkeypatch.setenv("WORLD_SIZE", "2")
    accel.wait_for_everyone()
    assert calls == ["barrier"]


def _layout(augment):
    return dict(epochs=1, num_samples=40, k=3, num_classes=4, augment=augment, teacher="CifarResNet")


def test_a_non_main_process_opens_the_store_only_after_the_barrier(tmp_path, monkeypatch):
    augment = SeededAugment(crop_padding=1, seed=2)
    SparseLogitStore.create(tmp_path / "written", **_layout(augment))  # what the main process writes

    def barrier():  # the main process reaches the barrier once its store is written
        shutil.copytree(tmp_path / "written", tmp_path / "store")

    monkeypatch.setattr(topk, "is_main_process", lambda: False)
    monkeypatch.setattr(topk, "wait_for_everyone", barrier)
    store = SparseLogitStore.create(tmp_path / "store", **_layout(augment))
    assert store.meta["k"] == 3 and store.written.shape == (1, 40)


def test_a_non_main_process_refuses_when_the_main_one_wrote_no_store(tmp_path, monkeypatch):
    monkeypatch.setattr(topk, "is_main_process", lambda: False)
    monkeypatch.setattr(topk, "wait_for_everyone", lambda: None)
    with pytest.raises(ConfigError, match="main process wrote no store"):
        SparseLogitStore.create(tmp_path / "store", **_layout(SeededAugment(crop_padding=1, seed=2)))
    assert not (tmp_path / "store").exists()


@pytest.mark.parametrize("given", [None, "meta"])
def test_the_teacher_pass_runs_on_the_accelerators_device_or_the_one_given(tmp_path, monkeypatch, given):
    seen = []

    def pass_(teacher, train, augment, epochs, k, path, batch_size, device, *rest):
        seen.append((next(teacher.parameters()).device, device))
        return "store"

    monkeypatch.setattr(topk, "_teacher_pass", pass_)
    accelerator = "meta" if given is None else "cpu"  # meta: as if the accelerator were a GPU
    monkeypatch.setattr(topk, "process_device", lambda: torch.device(accelerator))
    teacher = _teacher()  # loaded from disk: on the CPU
    data = synthetic(8, 0, channels=3)
    assert record_sparse_logits(teacher, data, SeededAugment(seed=1), 1, 2, tmp_path / "s", device=given) == "store"
    assert seen == [(torch.device("meta"), torch.device("meta"))]


@pytest.mark.slow
def test_under_accelerate_launch_the_other_process_waits_for_the_store(tmp_path):
    proc = launch_two_cpu_processes(str(HELPERS / "store_first.py"), str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-3000:]
    for rank in (0, 1):
        result = json.loads((tmp_path / f"rank{rank}.json").read_text())
        assert result == {"k": 3, "complete": True, "device": "cpu"}


def test_the_dense_target_is_built_on_the_device_asked_only_the_top_k_rows_cross(tmp_path, monkeypatch):
    import kdrepro.stores.topk as topk

    data = synthetic(32, 0, channels=3)
    augment = SeededAugment(crop_padding=2, flip=True, seed=1)
    store = record_sparse_logits(_teacher(), data, augment, epochs=1, k=2, path=tmp_path / "store", batch_size=16)
    seen = []
    build = topk.dense_target
    monkeypatch.setattr(topk, "dense_target", lambda v, c, n: seen.append((v.device.type, tuple(v.shape))) or build(v, c, n))
    on_cpu = store.dense(0, torch.arange(8))
    assert store.dense(0, torch.arange(8), device="meta").device.type == "meta"  # a stand-in for the GPU
    assert seen == [("cpu", (8, 2)), ("meta", (8, 2))]  # N × k values reach the device, not N × C targets
    assert on_cpu.shape == (8, 4)


def _streamed(root, replay_seed=7):
    from dataclasses import replace

    from torchvision.datasets import ImageFolder

    from kdrepro.data.imagenet import TrainTransform
    from kdrepro.data.streaming import StreamSplit
    from standins import make_image_folder

    make_image_folder(root, per_class=(6, 1))
    transform = TrainTransform(16, re_prob=0.0).build((0.5,) * 3, (0.25,) * 3)
    split = StreamSplit.from_image_folder(ImageFolder(str(root / "train"), transform=transform), workers=0,
                                          replay_seed=replay_seed)
    return split, replace


def test_a_store_over_streamed_images_holds_the_live_teachers_targets_on_the_replayed_views(tmp_path):
    import torch.nn.functional as F

    from kdrepro.data.streaming import StreamLoader
    from kdrepro.stores.topk import record_streamed_logits

    split, replace = _streamed(tmp_path / "folder")
    teacher = create_model("resnet8", num_classes=3, seed=0).eval()
    store = record_streamed_logits(teacher, split, epochs=2, k=3, path=tmp_path / "store", batch_size=5,
                                   device="cpu")
    assert store.complete(2, torch.arange(18)) and store.meta["augment"]["replay_seed"] == 7
    calls = []
    hook = teacher.register_forward_hook(lambda *_: calls.append(1))
    record_streamed_logits(teacher, split, epochs=2, k=3, path=tmp_path / "store", batch_size=5, device="cpu")
    hook.remove()
    assert len(calls) == 1  # run again: one batch to learn the classes, then every recorded epoch skipped
    loader = StreamLoader(replace(split, workers=1), 4, seed=3)  # another order, batch size and worker
    loader.set_epoch(1)
    with torch.no_grad():
        for batch in loader:
            live = F.softmax(teacher(batch.x).logits, -1)
            assert (store.dense(1, batch.index) - live).abs().max() < 2e-3  # float16 rounding only
    # a student trains from it on the same views; another replay seed is refused
    stored = SparseStoredTeacher(store)
    config = TrainConfig(epochs=2, batch_size=6, lr=0.01)
    history = Trainer(config, verbose=False).fit(KD(create_model("resnet8", num_classes=3, seed=1), stored), split)
    assert len(history) == 2
    with pytest.raises(ConfigError, match="same images with the same transform and replay_seed"):
        Trainer(config, verbose=False).fit(KD(create_model("resnet8", num_classes=3, seed=1), stored),
                                           replace(split, replay_seed=8))
    with pytest.raises(ConfigError, match="replay_seed"):
        record_streamed_logits(teacher, replace(split, replay_seed=None), 1, 3, tmp_path / "other", device="cpu")
