"""Preparing a dataset: find its raw files, verify them, write ``train.pt``/``test.pt``/meta.json.

Sources, in order: the prepared files themselves; raw files the user put in
``<root>/<name>/raw/``; torchvision's download (unless ``download=False`` or
``KDREPRO_OFFLINE=1``); the offline mirror ``KDREPRO_MIRROR``. Every file is written
atomically and meta.json last, so an interrupted prepare never looks finished.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import socket
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterator

import torch

from kdrepro import __version__
from kdrepro.data import checksums
from kdrepro.data.formats import RawData, SourceMissing, read_cifar, read_idx, read_jpeg_tar
from kdrepro.data.load import META, dataset_dir, is_prepared
from kdrepro.data.registry import DatasetSpec, get_spec
from kdrepro.errors import DatasetError
from kdrepro.io import atomic_write, write_json
from kdrepro.paths import mirror_root

DOWNLOAD_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Recipe:
    """Where a dataset's raw files can come from."""

    read: Callable[[Path, str], RawData]
    raw_hint: str  # what the raw folder (or mirror folder) must hold
    torchvision: str | None  # torchvision.datasets class that downloads it
    mirror: str  # folder inside the mirror that holds ``raw_hint``
    note: str = ""


RECIPES = {
    "mnist": Recipe(read_idx, "the four MNIST IDX files (.gz or not)", "MNIST", "mnist"),
    "fashion-mnist": Recipe(read_idx, "the four Fashion-MNIST IDX files (.gz or not)",
                            "FashionMNIST", "fashion-mnist"),
    "cifar10": Recipe(read_cifar, "torchvision's cifar-10-batches-py folder", "CIFAR10", "cifar10",
                      note="The offline mirror holds only a lossy JPEG copy: `cifar10-jpeg75` "
                           "(results on it must say so)."),
    "cifar10-jpeg75": Recipe(read_jpeg_tar, "cifar10-jpeg75.tar.gz", None, "."),
    "cifar100": Recipe(read_cifar, "torchvision's cifar-100-python folder", "CIFAR100", "cifar100"),
}


def prepare(name: str, root: str | Path | None = None, *, download: bool = True,
            force: bool = False) -> Path:
    """Make ``<root>/<name>/{train.pt,test.pt,meta.json}`` and return that folder."""
    spec = get_spec(name)
    folder = dataset_dir(name, root)
    if is_prepared(name, root) and not force:
        return folder
    tried = []
    for label, attempt in _sources(name, folder, download):
        try:
            raw = attempt()
        except SourceMissing as why:
            tried.append(f"{label}: {why}")
            continue
        _write(folder, spec, raw, source=label)
        return folder
    raise DatasetError(_no_source_message(name, folder, tried))


def _sources(name: str, folder: Path, download: bool) -> Iterator[tuple[str, Callable[[], RawData]]]:
    recipe = RECIPES[name]
    yield f"raw files in {folder / 'raw'}", lambda: recipe.read(folder / "raw", name)
    if recipe.torchvision:
        yield "torchvision download", lambda: _download(name, folder, download)
    mirror = mirror_root()
    where = mirror / recipe.mirror if mirror else None
    yield f"offline mirror {where or '(KDREPRO_MIRROR)'}", lambda: _from_mirror(name, where)


def _from_mirror(name: str, where: Path | None) -> RawData:
    if where is None:
        raise SourceMissing("KDREPRO_MIRROR is unset or not a folder")
    return RECIPES[name].read(where, name)


def _download(name: str, folder: Path, allowed: bool) -> RawData:
    """Fetch with torchvision into a temporary folder, read it, and delete the folder."""
    if not allowed:
        raise SourceMissing("skipped (download=False)")
    if os.environ.get("KDREPRO_OFFLINE") == "1":
        raise SourceMissing("skipped (KDREPRO_OFFLINE=1)")
    import torchvision.datasets

    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}-download-", dir=folder.parent))
    previous_timeout = socket.getdefaulttimeout()
    try:
        socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
        quiet = io.StringIO()
        with contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):
            try:
                dataset = getattr(torchvision.datasets, RECIPES[name].torchvision)(
                    str(tmp), train=True, download=True)
            except Exception as err:  # any network or server failure: fall through
                raise SourceMissing(f"failed ({type(err).__name__}: {err})") from err
        return RECIPES[name].read(Path(getattr(dataset, "raw_folder", tmp)), name)
    finally:
        socket.setdefaulttimeout(previous_timeout)
        shutil.rmtree(tmp, ignore_errors=True)


def _write(folder: Path, spec: DatasetSpec, raw: RawData, source: str) -> None:
    for split, (images, labels) in raw.splits.items():
        _check(spec, split, images, labels)
    (folder / META).unlink(missing_ok=True)  # a re-prepare is unfinished until meta.json returns
    files = {}
    for split, (images, labels) in raw.splits.items():
        buffer = io.BytesIO()
        torch.save({"images": images.contiguous(), "labels": labels.contiguous()}, buffer)
        data = buffer.getvalue()
        files[f"{split}.pt"] = checksums.sha256_bytes(data)
        atomic_write(folder / f"{split}.pt", lambda f, data=data: f.write(data))
    write_json(folder / META, {
        "dataset": spec.name,
        "description": spec.description,
        "lossy": spec.lossy,
        "comparable_to": spec.comparable_to,
        "source": source,
        "inputs": raw.inputs,
        "files": files,
        "sizes": {split: len(labels) for split, (_, labels) in raw.splits.items()},
        "prepared_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "kdrepro_version": __version__,
    })


def _check(spec: DatasetSpec, split: str, images: torch.Tensor, labels: torch.Tensor) -> None:
    ok = (images.dtype == torch.uint8 and tuple(images.shape[1:]) == spec.shape
          and labels.dtype == torch.int64 and labels.shape == images.shape[:1]
          and (labels.numel() == 0 or 0 <= int(labels.min()) <= int(labels.max()) < spec.num_classes))
    if not ok:
        raise DatasetError(f"{spec.name} {split}: read images {tuple(images.shape)} {images.dtype} "
                           f"and labels {tuple(labels.shape)}, expected N x {spec.shape} uint8 and "
                           f"N labels in [0, {spec.num_classes})")


def _no_source_message(name: str, folder: Path, tried: list[str]) -> str:
    recipe = RECIPES[name]
    fixes = []
    if recipe.torchvision:
        fixes.append(f"run `kdrepro data prepare {name}` on a networked machine and copy "
                     f"{folder} here")
    fixes.append(f"put {recipe.raw_hint} in {folder / 'raw'}/")
    inside = "top level" if recipe.mirror == "." else f"{recipe.mirror}/ folder"
    fixes.append(f"set KDREPRO_MIRROR to an offline mirror whose {inside} holds {recipe.raw_hint}")
    lines = [f"could not prepare {name} in {folder.parent}. Tried:"]
    lines += [f"  - {attempt}" for attempt in tried]
    lines.append("Fix: " + "; or ".join(fixes) + ".")
    if recipe.note:
        lines.append(recipe.note)
    return "\n".join(lines)
