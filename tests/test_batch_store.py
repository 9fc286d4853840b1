"""A teacher recorded on a run's exact (mixed) batches: students trained from it see the answers the
live teacher gives on the same blends — tensor-resident and streamed data, Mixup/CutMix and repeated
augmentation — and a run whose batches differ is refused."""

import numpy as np
import pytest
import torch
from PIL import Image

from kdrepro.data import Augment
from kdrepro.data.mixing import BatchMix
from kdrepro.data.streaming import StreamSplit
from kdrepro.engine import Split, Trainer, TrainConfig
from kdrepro.errors import ConfigError
from kdrepro.methods import KD
from kdrepro.models import create_model
from kdrepro.stores.batches import BatchStoredTeacher, record_batch_topk
from kdrepro.stores.topk import SparseLogitStore

CLASSES = 4


def _tensor_split(n=48) -> Split:
    g = torch.Generator().manual_seed(0)
    return Split(torch.randint(0, 256, (n, 3, 8, 8), generator=g, dtype=torch.uint8), torch.arange(n) % CLASSES,
                 (0.5,) * 3, (0.25,) * 3)


def _net(seed):
    return create_model("mlp", hidden=(16,), in_features=3 * 8 * 8, num_classes=CLASSES, seed=seed)


def _losses(teacher, split, config, augment, mix, folder):
    history = Trainer(config, folder, verbose=False).fit(
        KD(_net(1), teacher, temperature=4.0, soft_weight=0.5, hard_weight=0.5), split, augment=augment, mix=mix)
    return [e["train_soft"] for e in history], history


def test_students_from_the_store_of_mixed_augmented_batches_train_as_with_the_live_teacher(tmp_path):
    split, teacher = _tensor_split(), _net(0).eval()
    config = TrainConfig(epochs=2, batch_size=8, optimizer="adamw", lr=1e-3, seed=5)
    augment = Augment(crop_padding=1, flip=True)
    store = record_batch_topk(teacher, split, config, CLASSES, tmp_path / "store", mix=BatchMix(CLASSES),
                              augment=augment)
    assert store.meta["num_samples"] == 6 * 8  # 6 steps × 8 slots an epoch
    live, _ = _losses(teacher, split, config, augment, BatchMix(CLASSES), tmp_path / "live")
    stored, _ = _losses(BatchStoredTeacher(store), split, config, augment, BatchMix(CLASSES), tmp_path / "stored")
    assert stored == pytest.approx(live, rel=2e-3)  # float16 rounding of the stored probabilities only
    unmixed, _ = _losses(teacher, split, config, augment, None, tmp_path / "unmixed")
    assert unmixed != pytest.approx(live, rel=2e-3)  # the mixing matters: the store holds the blends' answers


def test_a_run_with_other_batches_is_refused_and_drifted_batches_stop_the_run(tmp_path):
    split, teacher = _tensor_split(), _net(0).eval()
    config = TrainConfig(epochs=1, batch_size=8, seed=5)
    store = record_batch_topk(teacher, split, config, 2, tmp_path / "store", mix=BatchMix(CLASSES))
    stored = BatchStoredTeacher(store)
    for other, mix in ((config.replace(batch_size=16), BatchMix(CLASSES)), (config.replace(seed=6), BatchMix(CLASSES)),
                       (config, BatchMix(CLASSES, mixup=0.5))):
        with pytest.raises(ConfigError, match="recorded on other batches"):
            Trainer(other, None, verbose=False).fit(KD(_net(1), stored), split, mix=mix)
    writable = np.memmap(store.path / "samples.i64", dtype=np.int64, mode="r+", shape=stored.samples.shape)
    writable[0, 3] = (writable[0, 3] + 1) % len(split.labels)
    writable.flush()
    tampered = BatchStoredTeacher(SparseLogitStore(store.path))  # slot 3 of epoch 1 now names another image
    with pytest.raises(RuntimeError, match="batches drifted"):
        Trainer(config, None, verbose=False).fit(KD(_net(1), tampered), split, mix=BatchMix(CLASSES))
    with pytest.raises(ConfigError, match="between 1 and"):
        BatchStoredTeacher(store, k=3)


def _folder(root, n_per_class=6) -> None:
    g = torch.Generator().manual_seed(0)
    for c in range(CLASSES):
        folder = root / f"n0000000{c}"
        folder.mkdir(parents=True)
        for i in range(n_per_class):
            pixels = torch.randint(0, 256, (20 + i, 18 + c, 3), generator=g, dtype=torch.uint8)
            Image.fromarray(pixels.numpy()).save(folder / f"{i}.png")


@pytest.mark.slow
def test_a_streamed_run_with_repeated_augmentation_workers_and_mixing_replays_its_recorded_batches(tmp_path):
    from timm.data import create_transform
    from torchvision.datasets import ImageFolder

    _folder(tmp_path / "images")
    transform = create_transform(8, is_training=True, auto_augment="rand-m9-mstd0.5-inc1", re_prob=0.25,
                                 interpolation="bicubic")

    def split():  # built anew for each run, as a chapter does
        return StreamSplit.from_image_folder(ImageFolder(str(tmp_path / "images"), transform=transform), workers=2,
                                             repeats=2)

    teacher, config = _net(0).eval(), TrainConfig(epochs=2, batch_size=8, optimizer="adamw", lr=1e-3, seed=2)
    store = record_batch_topk(teacher, split(), config, CLASSES, tmp_path / "store", mix=BatchMix(CLASSES))
    live, _ = _losses(teacher, split(), config, None, BatchMix(CLASSES), tmp_path / "live")
    stored, _ = _losses(BatchStoredTeacher(store), split(), config, None, BatchMix(CLASSES), tmp_path / "stored")
    assert stored == pytest.approx(live, rel=2e-3)
    again = record_batch_topk(_Refuses(), split(), config, CLASSES, tmp_path / "store", mix=BatchMix(CLASSES))
    assert again.digest == store.digest  # a finished pass is not run again: the teacher is not called


class _Refuses(torch.nn.Module):
    def forward(self, x):
        raise AssertionError("the teacher ran again")


def test_a_float16_tie_keeps_the_teachers_recorded_first_class_on_top(tmp_path):
    """Two probabilities equal once rounded to float16: the rebuilt logits still put the class the teacher
    ranked first on top (hard distillation reads the teacher's own choice); the target barely moves."""
    store = SparseLogitStore.create(tmp_path / "store", epochs=1, num_samples=1, k=2, num_classes=3,
                                    augment={"loader_key": "x"}, teacher="t")
    first, second = 0.4000001, 0.4  # float32: class 2 ahead; float16: the same value
    store.write(0, torch.tensor([0]), torch.tensor([[first, second]]), torch.tensor([[2, 1]]))
    dense = store.dense(0, torch.tensor([0]))
    assert dense[0, 1] == dense[0, 2] and dense.argmax().item() == 1  # the tie, broken the wrong way by argmax
    logits = store.logits(0, torch.tensor([0]))
    assert logits.argmax().item() == 2
    torch.testing.assert_close(logits.softmax(-1), dense, atol=1e-5, rtol=0)
