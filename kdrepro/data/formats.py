"""Readers of the raw formats: IDX (MNIST), torchvision's CIFAR pickles, the JPEG tarball.

Each reader takes a folder and returns ``RawData`` (both splits as uint8 N x C x H x W
images and int64 labels, plus the checksums of the inputs it read), raises
``SourceMissing`` when the folder does not hold its files, and ``DatasetError`` when
they are there but corrupt.
"""

from __future__ import annotations

import gzip
import io
import pickle
import tarfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
import torch
from PIL import Image

from kdrepro.data import checksums
from kdrepro.data.registry import get_spec
from kdrepro.errors import DatasetError

SPLITS = ("train", "test")


class SourceMissing(Exception):
    """The folder does not hold this reader's files (the message says what is missing)."""


@dataclass
class RawData:
    splits: dict[str, tuple[torch.Tensor, torch.Tensor]]  # split -> (images, labels)
    inputs: dict[str, str]  # input file name -> "algorithm:hexdigest"


# ---------------------------------------------------------------- IDX (MNIST family)

IDX_FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
             "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}


def read_idx(folder: Path, name: str) -> RawData:
    """The four IDX files (each plain or ``.gz``), checked against the published MD5s."""
    expected = checksums.PUBLISHED_MD5[name]
    blobs, inputs = {}, {}
    for stem in expected:
        path = next((p for p in (folder / stem, folder / f"{stem}.gz") if p.is_file()), None)
        if path is None:
            raise SourceMissing(f"no {stem}[.gz] there")
        try:
            data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        except (OSError, EOFError) as err:
            raise DatasetError(f"cannot decompress {path}: {err}; replace the file") from err
        actual = checksums.md5_bytes(data)
        checksums.verify(path, "md5 (uncompressed)", expected[stem], actual)
        blobs[stem], inputs[path.name] = data, f"md5:{actual}"
    splits = {}
    for split, (images, labels) in IDX_FILES.items():
        x = _parse_idx(blobs[images], folder / images)
        splits[split] = (x.unsqueeze(1), _parse_idx(blobs[labels], folder / labels).long())
    return RawData(splits, inputs)


def _parse_idx(data: bytes, path: Path) -> torch.Tensor:
    magic = int.from_bytes(data[:4], "big")
    ndim, dtype_code = magic & 0xFF, (magic >> 8) & 0xFF
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    values = np.frombuffer(data, np.uint8, offset=4 + 4 * ndim)
    if dtype_code != 0x08 or values.size != int(np.prod(dims)):
        raise DatasetError(f"{path} is not a uint8 IDX file of shape {dims}")
    return torch.from_numpy(values.reshape(dims).copy())


# ---------------------------------------------------------------- CIFAR python pickles

CIFAR_LAYOUT = {  # name -> (torchvision folder, label key, files per split)
    "cifar10": ("cifar-10-batches-py", "labels",
                {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}),
    "cifar100": ("cifar-100-python", "fine_labels", {"train": ["train"], "test": ["test"]}),
}


def read_cifar(folder: Path, name: str) -> RawData:
    """torchvision's ``cifar-10-batches-py`` / ``cifar-100-python`` folder inside ``folder``."""
    base, label_key, files = CIFAR_LAYOUT[name]
    base_dir = folder / base
    if not base_dir.is_dir():
        raise SourceMissing(f"no {base}/ folder there")
    expected = checksums.PUBLISHED_MD5[name]
    splits, inputs = {}, {}
    for split, names in files.items():
        images, labels = [], []
        for file_name in names:
            path = base_dir / file_name
            if not path.is_file():
                raise DatasetError(f"{path} is missing: {base}/ is incomplete; copy it again")
            raw = path.read_bytes()
            actual = checksums.md5_bytes(raw)
            checksums.verify(path, "md5", expected[file_name], actual)
            inputs[f"{base}/{file_name}"] = f"md5:{actual}"
            entry = pickle.loads(raw, encoding="latin1")
            entry = {k.decode() if isinstance(k, bytes) else k: v for k, v in entry.items()}
            images.append(np.asarray(entry["data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
            labels.append(np.asarray(entry[label_key], dtype=np.int64))
        splits[split] = (torch.from_numpy(np.concatenate(images)),
                         torch.from_numpy(np.concatenate(labels)))
    return RawData(splits, inputs)


# ---------------------------------------------------------------- JPEG tarball

JPEG_ARCHIVES = {"cifar10-jpeg75": "cifar10-jpeg75.tar.gz"}


def read_jpeg_tar(folder: Path, name: str) -> RawData:
    """A ``{train,test}/{class}/NNNN.jpg`` tarball, decoded from the stream (no extraction).

    Images are ordered by (split, class, file name), so the result is deterministic.
    """
    path = folder / JPEG_ARCHIVES[name]
    if not path.is_file():
        raise SourceMissing(f"no {path.name} there")
    actual = checksums.sha256_file(path)
    checksums.verify(path, "sha256", checksums.ARCHIVE_SHA256[name], actual)
    spec = get_spec(name)
    label_of = {cls: i for i, cls in enumerate(spec.classes)}
    records: dict[str, list[tuple[int, str, bytes]]] = {split: [] for split in SPLITS}
    with tarfile.open(path, "r|gz") as archive:
        for member in archive:
            if not (member.isfile() and member.name.endswith(".jpg")):
                continue
            split, cls, file_name = PurePosixPath(member.name).parts[-3:]
            if split not in records or cls not in label_of:
                raise DatasetError(f"{path}: unexpected entry {member.name}")
            records[split].append((label_of[cls], file_name, archive.extractfile(member).read()))
    channels, height, width = spec.shape
    splits = {}
    for split, items in records.items():
        items.sort(key=lambda item: item[:2])
        images = np.empty((len(items), height, width, channels), dtype=np.uint8)
        for i, (_, file_name, data) in enumerate(items):
            pixels = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
            if pixels.shape != images.shape[1:]:
                raise DatasetError(f"{path}: {split} image {file_name} has shape {pixels.shape}")
            images[i] = pixels
        labels = torch.tensor([label for label, _, _ in items], dtype=torch.int64)
        splits[split] = (torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(), labels)
    return RawData(splits, {path.name: f"sha256:{actual}"})
