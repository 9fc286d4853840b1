"""Datasets too large to hold in memory (ImageNet), used where they lie: a folder in the standard
layout, checked once and recorded in the data root, never copied.

The layout is torchvision's ``ImageFolder`` one, which the papers' code (DeiT, DINO, TinyViT) reads:
``PATH/train/<wnid>/*.JPEG`` and ``PATH/val/<wnid>/*.JPEG``, one folder per class named by its WordNet
id (``n01440764``). ``kdrepro data prepare imagenet --from PATH`` checks the class folders, that train
and val have the same classes, and the image counts of ILSVRC-2012 (1,281,167 training and 50,000
validation images in 1,000 classes); a partial, flat or malformed folder is refused with what is
wrong and what to do. ``<root>/imagenet/meta.json`` then records the path, the counts and the
classes in order (class index = position in the sorted list of wnids, as ``ImageFolder`` assigns it).
ImageNet is licensed: it is never downloaded, only registered.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from kdrepro import __version__
from kdrepro.errors import ConfigError, DatasetError
from kdrepro.io import write_json
from kdrepro.paths import data_root

META = "meta.json"
WNID = re.compile(r"^n\d{8}$")
IMAGE_SUFFIXES = {".jpeg", ".jpg", ".png"}


IMAGENET_MEAN = (0.485, 0.456, 0.406)  # the ImageNet statistics every paper here normalises with
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class FolderSpec:
    name: str
    classes: int
    sizes: dict[str, int]  # split → images
    where: str  # where a user gets it
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD


FOLDER_DATASETS = {
    "imagenet": FolderSpec("imagenet", 1000, {"train": 1_281_167, "val": 50_000},
                           "ILSVRC-2012 from https://image-net.org (a licence is required) or Kaggle's "
                           "imagenet-object-localization-challenge"),
}

VAL_FIX = ("sort the validation images into val/<wnid>/ folders with the devkit's ground truth (for "
           "instance with Kaggle's LOC_val_solution.csv, or the widely used valprep.sh script)")


def folder_spec(name: str) -> FolderSpec:
    if name not in FOLDER_DATASETS:
        raise ConfigError(f"unknown image-folder dataset {name!r}; valid: {', '.join(FOLDER_DATASETS)}")
    return FOLDER_DATASETS[name]


def _images(folder: Path) -> int:
    with os.scandir(folder) as entries:
        return sum(1 for e in entries if e.is_file() and os.path.splitext(e.name)[1].lower() in IMAGE_SUFFIXES)


def scan_split(path: Path, split: str) -> dict[str, int]:
    """Images per class folder of ``path/split``; refuses a missing, flat or oddly named split."""
    folder = path / split
    if not folder.is_dir():
        raise DatasetError(f"{folder} does not exist: the folder must hold train/ and val/, each with one "
                           "sub-folder per class (train/n01440764/*.JPEG)")
    loose = _images(folder)
    classes = sorted(e.name for e in os.scandir(folder) if e.is_dir())
    if loose and not classes:
        fix = VAL_FIX if split == "val" else "put each class's images in its own train/<wnid>/ folder"
        raise DatasetError(f"{folder} holds {loose:,} images but no class folders: {fix}")
    odd = [c for c in classes if not WNID.match(c)]
    if odd:
        raise DatasetError(f"{folder} has class folders not named by WordNet id (e.g. {odd[0]!r}); expected "
                           "names like n01440764: use the ILSVRC-2012 class folders as they are")
    counts = {c: _images(folder / c) for c in classes}
    empty = [c for c, n in counts.items() if n == 0]
    if empty:
        raise DatasetError(f"{folder / empty[0]} holds no images ({len(empty)} empty class folders): the copy is "
                           "incomplete; copy it again")
    return counts


def register(name: str, path: str | Path, root: str | Path | None = None,
             expected: dict[str, int] | None = None, expected_classes: int | None = None) -> Path:
    """Check the folder ``path`` and record it as dataset ``name`` in ``<root>/<name>/meta.json``.

    ``expected``/``expected_classes`` replace the dataset's real counts (tests, on generated stand-ins)."""
    spec = folder_spec(name)
    path = Path(path).expanduser().resolve()
    if not path.is_dir():
        raise DatasetError(f"{path} is not a folder: pass the folder that holds train/ and val/ "
                           f"(get {name} from {spec.where})")
    sizes, n_classes = expected or spec.sizes, expected_classes or spec.classes
    counts = {split: scan_split(path, split) for split in sizes}
    train_classes = sorted(counts["train"])
    for split, per_class in counts.items():
        if sorted(per_class) != train_classes:
            missing = sorted(set(train_classes) - set(per_class))[:3]
            extra = sorted(set(per_class) - set(train_classes))[:3]
            raise DatasetError(f"{path / split} and {path / 'train'} have different classes (missing {missing}, "
                               f"extra {extra}): both must hold the same {n_classes} class folders")
    if len(train_classes) != n_classes:
        raise DatasetError(f"{path / 'train'} has {len(train_classes)} classes, {name} has {n_classes}: "
                           "a partial copy? Copy every class folder")
    for split, per_class in counts.items():
        found = sum(per_class.values())
        if found != sizes[split]:
            raise DatasetError(f"{path / split} holds {found:,} images, {name}'s {split} split has {sizes[split]:,}: "
                               f"{'a partial copy? Copy it again' if found < sizes[split] else 'remove what is not ' + name}")
    folder = (Path(root).expanduser() if root is not None else data_root()) / name
    write_json(folder / META, {
        "dataset": name, "kind": "image-folder", "path": str(path),
        "sizes": {split: sum(c.values()) for split, c in counts.items()}, "classes": train_classes,
        "prepared_at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "kdrepro_version": __version__})
    return folder


def read_registration(name: str, how: str, root: str | Path | None = None) -> dict:
    """The record of a dataset registered where it lies (``<root>/<name>/meta.json``); refuses with
    ``how`` to register it when it is not, and says to register it again when its folder is gone."""
    import json

    meta = (Path(root).expanduser() if root is not None else data_root()) / name / META
    if not meta.is_file():
        raise DatasetError(f"{name} is not registered: {how}")
    record = json.loads(meta.read_text())
    if not Path(record["path"]).is_dir():
        raise DatasetError(f"{name} was registered at {record['path']}, which is gone: register it again with "
                           f"`kdrepro data prepare {name} --from PATH`")
    return record


def read_folder_meta(name: str, root: str | Path | None = None) -> dict:
    """The record of a registered folder dataset; says how to register it when it is not."""
    spec = folder_spec(name)
    return read_registration(name, f"get it from {spec.where}, then run `kdrepro data prepare {name} --from PATH` "
                                   "(PATH holds train/ and val/)", root)


def image_folder(name: str, split: str, transform=None, root: str | Path | None = None):
    """``torchvision.datasets.ImageFolder`` over a registered split, its classes checked against the record
    (same classes, same order: index = position among the sorted wnids)."""
    from torchvision.datasets import ImageFolder

    record = read_folder_meta(name, root)
    if split not in record["sizes"]:
        raise ConfigError(f"unknown split {split!r} of {name}; valid: {', '.join(record['sizes'])}")
    dataset = ImageFolder(str(Path(record["path"]) / split), transform=transform)
    if dataset.classes != record["classes"]:
        raise DatasetError(f"{record['path']}/{split} no longer has the classes recorded for {name}: register it "
                           f"again with `kdrepro data prepare {name} --from PATH`")
    return dataset
