"""Streamed data through the same Trainer: the shard sampler's guarantees, and a run on a generated
image folder read by DataLoader workers with timm's transforms."""

import pytest
import torch
from PIL import Image

from kdrepro.data.streaming import ShardSampler, StreamLoader, StreamSplit
from kdrepro.engine import Trainer, TrainConfig
from kdrepro.errors import ConfigError
from kdrepro.methods import CrossEntropy
from kdrepro.models import create_model


@pytest.mark.parametrize("n", [103, 96])
def test_each_epoch_the_processes_see_distinct_images_and_together_all(n):
    for epoch in (0, 1):
        shards = []
        for rank in range(2):
            s = ShardSampler(n, 8, seed=3, rank=rank, world_size=2)
            s.set_epoch(epoch)
            shards.append(list(s))
        assert not set(shards[0]) & set(shards[1])  # no image twice
        assert len(shards[0]) == len(shards[1]) == (n // 16) * 8
        assert len(set(shards[0]) | set(shards[1])) == (n // 16) * 16  # only the last short global batch dropped
        held_out = []
        for rank in range(2):
            held_out += list(ShardSampler(n, 8, rank=rank, world_size=2, shuffle=False, drop_last=False))
        assert sorted(held_out) == list(range(n))  # evaluation: every image once
    a, b = ShardSampler(n, 8, seed=3), ShardSampler(n, 8, seed=3)
    b.set_epoch(1)
    assert list(a) != list(b) and list(a) == list(ShardSampler(n, 8, seed=3))  # per epoch, repeatable


def _folder(root, n_per_class=12) -> None:
    g = torch.Generator().manual_seed(0)
    for c in range(3):
        folder = root / f"n0000000{c}"
        folder.mkdir(parents=True)
        for i in range(n_per_class):
            base = torch.zeros(20, 20, 3, dtype=torch.uint8)
            base[..., c] = 200  # each class its own colour, plus noise
            noise = torch.randint(0, 50, (20, 20, 3), generator=g, dtype=torch.uint8)
            Image.fromarray((base + noise).numpy()).save(folder / f"{i}.png")


def _splits(root, workers):
    from timm.data import create_transform
    from torchvision.datasets import ImageFolder as image_folder

    if not root.exists():
        _folder(root)
    train_tf = create_transform(16, is_training=True, auto_augment="rand-m9-mstd0.5-inc1", re_prob=0.25,
                                interpolation="bicubic", hflip=0.5)
    eval_tf = create_transform(16, interpolation="bicubic", crop_pct=0.875)
    return (StreamSplit.from_image_folder(image_folder(str(root), transform=train_tf), workers=workers),
            StreamSplit.from_image_folder(image_folder(str(root), transform=eval_tf), workers=workers))


def test_a_streamed_run_trains_in_the_same_trainer_repeats_exactly_and_resumes(tmp_path):
    train, test = _splits(tmp_path / "folder", workers=2)
    cfg = TrainConfig(epochs=3, batch_size=6, lr=0.05, eval_batch_size=8)

    def run(folder):
        model = create_model("mlp", hidden=(32,), in_features=3 * 16 * 16, num_classes=3, seed=0)
        return Trainer(cfg, folder, verbose=False).fit(CrossEntropy(model), train, test), model

    first, model = run(tmp_path / "a")
    again, model2 = run(tmp_path / "b")
    assert [r["train_loss"] for r in first] == [r["train_loss"] for r in again]  # workers seeded per epoch
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), model2.parameters()))
    assert first[-1]["test_errors"] <= 4 and "test_accuracy" in first[-1]  # 36 images of 3 colours (chance: 24 errors)
    resumed, _ = run(tmp_path / "a")  # finished: reused
    assert resumed == first
    with pytest.raises(ConfigError, match="its own transform"):
        from kdrepro.data import Augment

        Trainer(cfg, None, verbose=False).fit(CrossEntropy(model), train, augment=Augment(jitter=1))


def test_stream_batches_carry_the_split_index_and_a_subset_stays_a_subset(tmp_path):
    train, _ = _splits(tmp_path / "folder", workers=0)
    sub = StreamSplit(train.dataset, train.labels, indices=torch.arange(10, 30), workers=0)
    loader = StreamLoader(sub, 4, shuffle=False, drop_last=False)
    batches = list(loader)
    index = torch.cat([b.index for b in batches])
    assert index.tolist() == list(range(10, 30)) and len(loader) == 5
    assert torch.equal(torch.cat([b.y for b in batches]), train.labels[10:30])
    assert batches[0].x.shape == (4, 3, 16, 16) and batches[0].x.dtype == torch.float32
    with pytest.raises(ConfigError, match="labels for a dataset"):
        StreamSplit(train.dataset, train.labels[:5])


def test_two_processes_stream_distinct_images_and_all_of_them_each_epoch(tmp_path):
    import json

    from conftest import HELPERS, launch_two_cpu_processes

    run = launch_two_cpu_processes(str(HELPERS / "tiny_run.py"), str(tmp_path), "--method", "stream", "--epochs", "2")
    assert run.returncode == 0, run.stderr[-3000:]
    results = [json.loads((tmp_path / f"result-rank{r}.json").read_text()) for r in range(2)]
    assert all(r["num_processes"] == 2 for r in results) and results[0]["digest"] == results[1]["digest"]
    for epoch in ("0", "1"):
        mine, theirs = (r["seen"][epoch] for r in results)
        assert len(mine) == len(theirs) == 256 and not set(mine) & set(theirs)  # no image twice
        assert sorted(mine + theirs) == list(range(512))  # none missed
    assert results[0]["seen"]["0"] != results[0]["seen"]["1"]  # a new order each epoch



def _views(split, seed: int, epoch: int, batch_size: int) -> dict[int, torch.Tensor]:
    loader = StreamLoader(split, batch_size, seed=seed)
    loader.set_epoch(epoch)
    return {int(i): x for batch in loader for x, i in zip(batch.x, batch.index)}


def test_replayed_views_are_the_same_in_any_order_and_worker_and_new_each_epoch(tmp_path):
    from dataclasses import replace

    from torchvision.datasets import ImageFolder

    from kdrepro.data.imagenet import TrainTransform

    _folder(tmp_path)
    transform = TrainTransform(16, re_prob=0.5).build((0.5,) * 3, (0.25,) * 3)  # crop, flip, RandAugment, erasing
    replay = StreamSplit.from_image_folder(ImageFolder(str(tmp_path), transform=transform), workers=0, replay_seed=7)
    a = _views(replay, seed=0, epoch=0, batch_size=6)
    b = _views(replace(replay, workers=2), seed=1, epoch=0, batch_size=4)  # other order, batches, workers
    assert a.keys() == b.keys() and all(torch.equal(a[i], b[i]) for i in a)
    later = _views(replay, seed=0, epoch=1, batch_size=6)
    assert sum(torch.equal(a[i], later[i]) for i in a.keys() & later.keys()) < 3  # a new view each epoch
    free = replace(replay, replay_seed=None)  # drawn from the workers' generators: order matters
    c, d = _views(free, seed=0, epoch=0, batch_size=6), _views(free, seed=1, epoch=0, batch_size=4)
    assert sum(torch.equal(c[i], d[i]) for i in c.keys() & d.keys()) < 3
