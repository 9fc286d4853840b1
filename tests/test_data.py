"""Tests of kdrepro.data on small generated stand-ins (and the real MNIST when mirrored)."""

from __future__ import annotations

import gzip
import importlib
import hashlib
import io
import os
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from kdrepro.data import (Augment, BatchLoader, checksums, first_available, get_spec,
                          horizontal_flip, is_prepared, jitter, load, make_loader, prepare,
                          random_crop, read_meta)
from kdrepro.data.registry import DATASETS
from kdrepro.errors import ConfigError, DatasetError

REAL_MIRROR = Path(os.environ.get("KDREPRO_MIRROR")
                   or Path(__file__).resolve().parent.parent.parent / "shared" / "data")
IDX_STEMS = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte",
             "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """Every test gets an empty data root, no mirror and no network."""
    monkeypatch.setenv("KDREPRO_DATA", str(tmp_path / "root"))
    monkeypatch.setenv("KDREPRO_OFFLINE", "1")
    monkeypatch.delenv("KDREPRO_MIRROR", raising=False)


@pytest.fixture
def root(tmp_path):
    return tmp_path / "root"


# ------------------------------------------------------------------ fake raw data

def idx_bytes(array: np.ndarray) -> bytes:
    header = (0x0800 | array.ndim).to_bytes(4, "big")
    header += b"".join(d.to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def fake_mnist(folder: Path, monkeypatch, n_train=12, n_test=6, gz=True, seed=0):
    """Four IDX files in ``folder``; the published MD5s are patched to theirs."""
    rng = np.random.default_rng(seed)
    arrays = {"train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28)),
              "train-labels-idx1-ubyte": rng.integers(0, 10, n_train),
              "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28)),
              "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test)}
    folder.mkdir(parents=True, exist_ok=True)
    md5s = {}
    for stem, array in arrays.items():
        data = idx_bytes(array)
        md5s[stem] = hashlib.md5(data).hexdigest()
        if gz:
            (folder / f"{stem}.gz").write_bytes(gzip.compress(data))
        else:
            (folder / stem).write_bytes(data)
    monkeypatch.setitem(checksums.PUBLISHED_MD5, "mnist", md5s)
    return arrays


def fake_cifar100(raw: Path, monkeypatch, n_train=20, n_test=10):
    """torchvision's cifar-100-python folder (pickled dicts with bytes keys)."""
    rng = np.random.default_rng(1)
    base = raw / "cifar-100-python"
    base.mkdir(parents=True)
    md5s, content = {}, {}
    for split, n in (("train", n_train), ("test", n_test)):
        entry = {b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                 b"fine_labels": rng.integers(0, 100, n).tolist(),
                 b"coarse_labels": rng.integers(0, 20, n).tolist()}
        data = pickle.dumps(entry)
        (base / split).write_bytes(data)
        md5s[split] = hashlib.md5(data).hexdigest()
        content[split] = entry
    monkeypatch.setitem(checksums.PUBLISHED_MD5, "cifar100", md5s)
    return content


def fake_jpeg_tarball(mirror: Path, monkeypatch, per_class=2):
    """A tiny ``{train,test}/{class}/NNNN.jpg`` tarball, members in scrambled order.

    Each image is a flat colour that encodes (split, class, number), so order is checkable.
    """
    classes = get_spec("cifar10-jpeg75").classes
    entries = []
    for s, split in enumerate(("train", "test")):
        for c, cls in enumerate(classes):
            for k in range(per_class):
                colour = (20 * c + 5, 100 * s + 40 * k + 10, 128)
                buffer = io.BytesIO()
                Image.new("RGB", (32, 32), colour).save(buffer, "JPEG", quality=95)
                entries.append((f"{split}/{cls}/{k:04d}.jpg", buffer.getvalue()))
    mirror.mkdir(parents=True, exist_ok=True)
    path = mirror / "cifar10-jpeg75.tar.gz"
    with tarfile.open(path, "w:gz") as archive:
        for name, data in reversed(entries):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    monkeypatch.setitem(checksums.ARCHIVE_SHA256, "cifar10-jpeg75",
                        hashlib.sha256(path.read_bytes()).hexdigest())
    return path


# ------------------------------------------------------------------ registry

def test_registry_specs_are_consistent():
    for spec in DATASETS.values():
        assert len(spec.classes) == spec.num_classes
        assert len(spec.mean) == len(spec.std) == spec.shape[0]
    assert get_spec("cifar100").num_classes == 100
    jpeg = get_spec("cifar10-jpeg75")
    assert jpeg.lossy and jpeg.comparable_to is None and "jpeg" in jpeg.name
    assert get_spec("cifar10").comparable_to == "cifar10" and not get_spec("cifar10").lossy


def test_unknown_dataset_lists_valid_names(root):
    with pytest.raises(ConfigError, match="cifar10-jpeg75"):
        prepare("cifar-10", root)


# ------------------------------------------------------------------ prepare + load

def test_prepare_from_mirror_verifies_and_loads(tmp_path, root, monkeypatch):
    arrays = fake_mnist(tmp_path / "mirror" / "mnist", monkeypatch)
    monkeypatch.setenv("KDREPRO_MIRROR", str(tmp_path / "mirror"))
    assert not is_prepared("mnist", root)
    assert prepare("mnist", root) == root / "mnist"
    assert is_prepared("mnist", root)
    images, labels = load("mnist", "train", root)
    assert images.shape == (12, 1, 28, 28) and images.dtype == torch.uint8
    assert labels.shape == (12,) and labels.dtype == torch.int64
    assert torch.equal(images[:, 0], torch.from_numpy(arrays["train-images-idx3-ubyte"].astype(np.uint8)))
    assert load("mnist", "test", root)[0].shape == (6, 1, 28, 28)
    meta = read_meta("mnist", root)
    assert meta["source"].startswith("offline mirror") and meta["lossy"] is False
    assert meta["inputs"]["train-images-idx3-ubyte.gz"] == \
        "md5:" + checksums.PUBLISHED_MD5["mnist"]["train-images-idx3-ubyte"]
    assert set(meta["files"]) == {"train.pt", "test.pt"}


def test_prepare_prefers_raw_files_in_root(tmp_path, root, monkeypatch):
    fake_mnist(tmp_path / "mirror" / "mnist", monkeypatch)
    fake_mnist(root / "mnist" / "raw", monkeypatch, gz=False)  # same content, uncompressed
    monkeypatch.setenv("KDREPRO_MIRROR", str(tmp_path / "mirror"))
    prepare("mnist", root)
    assert read_meta("mnist", root)["source"] == f"raw files in {root / 'mnist' / 'raw'}"


def test_corrupt_input_is_rejected_and_nothing_is_written(tmp_path, root, monkeypatch):
    mirror = tmp_path / "mirror"
    fake_mnist(mirror / "mnist", monkeypatch)
    bad = mirror / "mnist" / "t10k-labels-idx1-ubyte.gz"
    data = bytearray(gzip.decompress(bad.read_bytes()))
    data[-1] ^= 1
    bad.write_bytes(gzip.compress(bytes(data)))
    monkeypatch.setenv("KDREPRO_MIRROR", str(mirror))
    with pytest.raises(DatasetError) as err:
        prepare("mnist", root)
    message = str(err.value)
    assert str(bad) in message
    assert checksums.PUBLISHED_MD5["mnist"]["t10k-labels-idx1-ubyte"] in message
    assert hashlib.md5(bytes(data)).hexdigest() in message
    assert not (root / "mnist").exists()


def test_missing_dataset_errors_name_the_fix(root):
    with pytest.raises(DatasetError) as err:
        prepare("cifar100", root)
    message = str(err.value)
    for needed in ("kdrepro data prepare cifar100", "cifar-100-python",
                   str(root / "cifar100" / "raw"), "KDREPRO_MIRROR", "KDREPRO_OFFLINE=1"):
        assert needed in message
    with pytest.raises(DatasetError, match="lossy JPEG copy"):
        prepare("cifar10", root)
    with pytest.raises(DatasetError, match=r"not prepared .* run `kdrepro data prepare mnist`"):
        load("mnist", "train", root)
    assert not root.exists() or not any(root.iterdir())


def test_download_false_is_skipped_without_network(root, monkeypatch):
    monkeypatch.delenv("KDREPRO_OFFLINE")
    with pytest.raises(DatasetError, match=r"skipped \(download=False\)"):
        prepare("mnist", root, download=False)


def test_first_available(tmp_path, root, monkeypatch):
    with pytest.raises(DatasetError) as err:
        first_available(["cifar100", "mnist"], root)
    assert "kdrepro data prepare cifar100" in str(err.value)
    assert "kdrepro data prepare mnist" in str(err.value)
    fake_mnist(root / "mnist" / "raw", monkeypatch)
    prepare("mnist", root)
    assert first_available(["cifar100", "mnist"], root) == "mnist"


def test_corrupt_prepared_file_and_force(root, monkeypatch):
    fake_mnist(root / "mnist" / "raw", monkeypatch)
    prepare("mnist", root)
    meta_before = (root / "mnist" / "meta.json").read_text()
    assert prepare("mnist", root) == root / "mnist"  # already prepared: untouched
    assert (root / "mnist" / "meta.json").read_text() == meta_before
    path = root / "mnist" / "train.pt"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(DatasetError, match=r"corrupt.*--force"):
        load("mnist", "train", root)
    prepare("mnist", root, force=True)
    assert load("mnist", "train", root)[0].shape == (12, 1, 28, 28)
    with pytest.raises(ConfigError, match="valid splits"):
        load("mnist", "validation", root)


def test_interrupted_prepare_does_not_look_finished(root, monkeypatch):
    fake_mnist(root / "mnist" / "raw", monkeypatch)

    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    module = importlib.import_module("kdrepro.data.prepare")
    original = module.write_json
    monkeypatch.setattr(module, "write_json", crash)
    with pytest.raises(KeyboardInterrupt):
        prepare("mnist", root)
    assert not is_prepared("mnist", root)
    assert not list((root / "mnist").glob(".*.tmp"))
    monkeypatch.setattr(module, "write_json", original)
    prepare("mnist", root)
    assert is_prepared("mnist", root)


def test_prepare_cifar100_from_torchvision_folder(root, monkeypatch):
    content = fake_cifar100(root / "cifar100" / "raw", monkeypatch)
    prepare("cifar100", root)
    for split in ("train", "test"):
        images, labels = load("cifar100", split, root)
        assert images.shape == (len(labels), 3, 32, 32) and images.dtype == torch.uint8
        assert labels.tolist() == content[split][b"fine_labels"]
        assert torch.equal(images.reshape(len(labels), -1), torch.from_numpy(content[split][b"data"]))
    assert read_meta("cifar100", root)["comparable_to"] == "cifar100"


def test_prepare_jpeg_tarball_from_mirror(tmp_path, root, monkeypatch):
    fake_jpeg_tarball(tmp_path / "mirror", monkeypatch)
    monkeypatch.setenv("KDREPRO_MIRROR", str(tmp_path / "mirror"))
    prepare("cifar10-jpeg75", root)
    images, labels = load("cifar10-jpeg75", "train", root)
    assert images.shape == (20, 3, 32, 32) and images.dtype == torch.uint8
    assert labels.tolist() == [c for c in range(10) for _ in range(2)]  # sorted by class, file
    red = images[:, 0, 16, 16].int()
    assert torch.all((red - (20 * labels + 5)).abs() <= 3)  # JPEG: close, not equal
    green = images[:, 1, 16, 16].int()
    assert torch.all((green - torch.tensor([10, 50] * 10)).abs() <= 3)
    assert load("cifar10-jpeg75", "test", root)[0][:, 1, 0, 0].float().mean() > 100
    meta = read_meta("cifar10-jpeg75", root)
    assert meta["lossy"] is True and meta["comparable_to"] is None


def test_jpeg_tarball_wrong_sha256_is_rejected(tmp_path, root, monkeypatch):
    path = fake_jpeg_tarball(tmp_path / "mirror", monkeypatch)
    monkeypatch.setitem(checksums.ARCHIVE_SHA256, "cifar10-jpeg75", "0" * 64)
    monkeypatch.setenv("KDREPRO_MIRROR", str(tmp_path / "mirror"))
    with pytest.raises(DatasetError, match=rf"{path.name}.*expected sha256 0{{64}}"):
        prepare("cifar10-jpeg75", root)
    assert not (root / "cifar10-jpeg75").exists()


@pytest.mark.skipif(not (REAL_MIRROR / "mnist").is_dir(), reason="offline mirror not present")
def test_real_mnist_from_mirror(root, monkeypatch):
    monkeypatch.setenv("KDREPRO_MIRROR", str(REAL_MIRROR))
    prepare("mnist", root)
    images, labels = load("mnist", "train", root)
    assert images.shape == (60_000, 1, 28, 28) and labels[:5].tolist() == [5, 0, 4, 1, 9]
    assert load("mnist", "test", root)[0].shape == (10_000, 1, 28, 28)
    inputs = read_meta("mnist", root)["inputs"]
    assert inputs["t10k-images-idx3-ubyte.gz"] == "md5:2646ac647ad5339dbf082846283269ea"


# ------------------------------------------------------------------ augmentation

def gen(seed):
    return torch.Generator().manual_seed(seed)


@pytest.fixture
def batch():
    return torch.randint(1, 256, (16, 3, 8, 8), generator=gen(0)).to(torch.uint8)


def shifted(image: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """``image`` moved down by dy and right by dx, zeros entering."""
    out = torch.zeros_like(image)
    h, w = image.shape[-2:]
    out[:, max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = \
        image[:, max(-dy, 0):h + min(-dy, 0), max(-dx, 0):w + min(-dx, 0)]
    return out


def test_crop_and_jitter_keep_shape_and_dtype(batch):
    for x in (batch, batch.float()):
        assert random_crop(x, 4, gen(1)).shape == x.shape
        assert jitter(x, 2, gen(1)).dtype == x.dtype
        assert Augment(crop_padding=2, flip=True, jitter=1)(x, gen(1)).shape == x.shape
    assert torch.equal(jitter(batch, 0, gen(1)), batch)


def test_jitter_is_a_zero_filled_shift(batch):
    out = jitter(batch, 2, gen(3))
    shifts = set()
    for image, result in zip(batch, out):
        matches = [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)
                   if torch.equal(shifted(image, dy, dx), result)]
        assert len(matches) == 1  # pixels are non-zero, so the shift is unique
        shifts.add(matches[0])
    assert len(shifts) > 1


def test_flip_twice_is_identity_and_flips_some(batch):
    once = horizontal_flip(batch, gen(5))
    assert torch.equal(horizontal_flip(once, gen(5)), batch)
    flipped = [torch.equal(o, b.flip(-1)) for o, b in zip(once, batch)]
    assert any(flipped) and not all(flipped)


def test_augment_is_reproducible_by_seed(batch):
    aug = Augment(crop_padding=4, flip=True)
    assert torch.equal(aug(batch, gen(7)), aug(batch, gen(7)))
    assert not torch.equal(aug(batch, gen(7)), aug(batch, gen(8)))


# ------------------------------------------------------------------ loader

@pytest.fixture
def data():
    images = torch.randint(0, 256, (100, 3, 8, 8), generator=gen(0)).to(torch.uint8)
    return images, torch.arange(100) % 10


def epoch_indices(loader, epoch):
    loader.set_epoch(epoch)
    return [b.index.tolist() for b in loader]


def test_loader_batches_types_and_length(data):
    images, labels = data
    loader = BatchLoader(images, labels, 16, mean=(0.5,) * 3, std=(0.25,) * 3,
                         augment=Augment(crop_padding=2, flip=True))
    assert len(loader) == 6
    batches = list(loader)
    assert len(batches) == 6
    b = batches[0]
    assert b.x.dtype == torch.float32 and b.x.shape == (16, 3, 8, 8)
    assert b.y.dtype == torch.int64 and b.index.dtype == torch.int64
    assert b.x.device == b.y.device == b.index.device == loader.device
    assert torch.equal(b.y, labels[b.index])
    plain = BatchLoader(images, labels, 16, shuffle=False, drop_last=False, mean=(0.5,) * 3,
                        std=(0.25,) * 3)
    assert len(plain) == 7 and sum(len(b.y) for b in plain) == 100
    first = next(iter(plain))
    assert torch.allclose(first.x, (images[:16].float() / 255 - 0.5) / 0.25)


def test_loader_replays_by_seed_and_epoch(data):
    aug = Augment(crop_padding=2, flip=True)
    a = BatchLoader(*data, 10, augment=aug, seed=3)
    b = BatchLoader(*data, 10, augment=aug, seed=3)
    assert epoch_indices(a, 4) == epoch_indices(b, 4)
    a.set_epoch(4), b.set_epoch(4)
    assert all(torch.equal(x.x, y.x) for x, y in zip(a, b))
    assert epoch_indices(a, 4) != epoch_indices(a, 5)
    assert epoch_indices(a, 4) != epoch_indices(BatchLoader(*data, 10, seed=4), 4)
    a.set_epoch(4)
    resumed = [batch.index.tolist() for batch in a.iter_from(3)]
    assert resumed == epoch_indices(b, 4)[3:]


def test_ranks_take_disjoint_slices_of_each_global_batch(data):
    single = BatchLoader(*data, 16, seed=1)
    ranks = [BatchLoader(*data, 8, seed=1, rank=r, world_size=2) for r in range(2)]
    assert len(ranks[0]) == len(ranks[1]) == len(single) == 6
    for whole, r0, r1 in zip(single, *ranks):
        assert set(r0.index.tolist()).isdisjoint(r1.index.tolist())
        assert sorted(r0.index.tolist() + r1.index.tolist()) == sorted(whole.index.tolist())
    evals = [BatchLoader(*data, 8, shuffle=False, drop_last=False, rank=r, world_size=3)
             for r in range(3)]
    assert len({len(e) for e in evals}) == 1
    seen = [i for e in evals for b in e for i in b.index.tolist()]
    assert sorted(seen) == list(range(100))


def test_loader_respects_indices(data):
    images, labels = data
    keep = (labels != 3).nonzero().flatten()
    loader = BatchLoader(images, labels, 10, indices=keep, drop_last=False)
    seen = torch.cat([b.index for b in loader])
    assert sorted(seen.tolist()) == keep.tolist()
    assert all((b.y != 3).all() for b in loader)
    first = next(iter(loader))
    assert torch.allclose(first.x, images[first.index].float() / 255)


def test_make_loader_uses_registry_normalisation(root, monkeypatch):
    fake_mnist(root / "mnist" / "raw", monkeypatch)
    prepare("mnist", root)
    train = make_loader("mnist", "train", 4, train=True, seed=0, root=root, subset=8,
                        augment=Augment(jitter=1))
    assert len(train) == 2 and train.augment is not None and train.num_samples == 8
    test = make_loader("mnist", "test", 4, train=False, root=root)
    assert test.augment is None and len(test) == 2
    images, _ = load("mnist", "test", root)
    x = next(iter(test)).x
    assert torch.allclose(x, (images[:4].float() / 255 - 0.1307) / 0.3081)


@pytest.mark.gpu
def test_loader_on_cuda(data):
    loader = BatchLoader(*data, 10, device="cuda", augment=Augment(crop_padding=2, flip=True))
    b = next(iter(loader))
    assert b.x.is_cuda and b.y.is_cuda and b.index.is_cuda
    assert epoch_indices(loader, 2) == epoch_indices(loader, 2)


def test_normalize_scales_uint8_then_standardises_per_channel_without_touching_the_input():
    from kdrepro.data import normalize

    x = torch.tensor([0, 255], dtype=torch.uint8).view(1, 2, 1, 1)
    assert normalize(x, (0.5, 0.0), (0.5, 2.0)).flatten().tolist() == [-1.0, 0.5]
    f = torch.ones(1, 1, 2, 2)
    normalize(f, (0.5,), (0.25,))
    assert torch.equal(f, torch.ones(1, 1, 2, 2))
