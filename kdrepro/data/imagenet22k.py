"""ImageNet-22k (21,841 classes, about 14 M images: the fall 2011 release) in the layout TinyViT's code reads
(microsoft/Cream, ``TinyViT/docs/PREPARATION.md`` and ``data/imagenet22k_dataset.py``, read first-hand):
one zip archive per class and a list of every image::

    PATH/in22k_image_names.txt      one image name per line, e.g. n00007846_10001
    PATH/n00004475.zip … n15102894.zip

An image's class is the part of its name before the first ``_``; class indices follow the sorted
class names; inside its class's archive the image is the file ``fname_format.format(name)``
(``{}.jpeg`` by default, TinyViT's ``DATA.FNAME_FORMAT``). ``kdrepro data prepare imagenet21k
--from PATH`` checks the list, that every class has its archive and that the archives hold files of
that format, and records the folder in the data root without copying; :class:`ZipPerClass` then
reads images out of the archives in the ``DataLoader`` workers. The list is TinyViT's download
(https://github.com/wkcn/TinyViT-model-zoo/releases/download/datasets/in22k_image_names.txt).
"""

from __future__ import annotations

import io
import zipfile
from collections import OrderedDict, defaultdict
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from torch.utils.data import Dataset

from kdrepro import __version__
from kdrepro.data.image_folders import META, read_registration
from kdrepro.errors import DatasetError
from kdrepro.io import write_json
from kdrepro.paths import data_root

NAME = "imagenet21k"
NAMES_FILE = "in22k_image_names.txt"
CLASSES = 21841
NAMES_URL = "https://github.com/wkcn/TinyViT-model-zoo/releases/download/datasets/in22k_image_names.txt"
WHERE = "image-net.org (ImageNet-21k, the fall 2011 release of 21,841 classes; a licence is required), one zip per class"


def read_names(path: Path) -> dict[str, list[str]]:
    """The image names of ``path/in22k_image_names.txt``, by class (sorted classes, names in file order)."""
    names_file = path / NAMES_FILE
    if not names_file.is_file():
        raise DatasetError(f"{names_file} does not exist: download TinyViT's list of ImageNet-22k images from "
                           f"{NAMES_URL} into {path}")
    by_class: dict[str, list[str]] = defaultdict(list)
    with open(names_file) as f:
        for line_no, line in enumerate(f, 1):
            name = line.strip()
            if not name:
                continue
            if "_" not in name:
                raise DatasetError(f"{names_file}:{line_no}: {name!r} is not an image name like n00007846_10001: "
                                   f"download the list again from {NAMES_URL}")
            by_class[name[:name.index("_")]].append(name)
    return dict(sorted(by_class.items()))


def register(path: str | Path, root: str | Path | None = None, *, fname_format: str = "{}.jpeg",
             expected_classes: int = CLASSES) -> Path:
    """Check the folder ``path`` (see the module docstring) and record it as ``imagenet21k``.
    ``expected_classes`` replaces the 21,841 classes (tests, on generated stand-ins)."""
    path = Path(path).expanduser().resolve()
    if not path.is_dir():
        raise DatasetError(f"{path} is not a folder: pass the folder holding {NAMES_FILE} and one zip per class "
                           f"(get ImageNet-21k from {WHERE})")
    by_class = read_names(path)
    if len(by_class) != expected_classes:
        raise DatasetError(f"{path / NAMES_FILE} names {len(by_class):,} classes, ImageNet-22k has "
                           f"{expected_classes:,}: download the list again from {NAMES_URL}")
    missing = [c for c in by_class if not (path / f"{c}.zip").is_file()]
    if missing:
        raise DatasetError(f"{path} lacks the archives of {len(missing):,} classes (e.g. {missing[0]}.zip): the copy "
                           "is incomplete; copy every class's zip")
    first_class, names = next(iter(by_class.items()))
    with zipfile.ZipFile(path / f"{first_class}.zip") as archive:
        inside = set(archive.namelist())
    if fname_format.format(names[0]) not in inside:
        example = sorted(inside)[0] if inside else "nothing"
        raise DatasetError(f"{path / (first_class + '.zip')} has no {fname_format.format(names[0])!r} (it holds e.g. "
                           f"{example!r}): give the archives' file-name format, e.g. --fname-format 'imagenet22k/{{}}.JPEG'")
    folder = (Path(root).expanduser() if root is not None else data_root()) / NAME
    write_json(folder / META, {
        "dataset": NAME, "kind": "zip-per-class", "path": str(path), "fname_format": fname_format,
        "classes": len(by_class), "images": sum(len(v) for v in by_class.values()),
        "prepared_at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "kdrepro_version": __version__})
    return folder


def read_meta(root: str | Path | None = None) -> dict:
    """The record of the registered folder; says how to register it when it is not."""
    return read_registration(NAME, f"get it from {WHERE} and TinyViT's image list ({NAMES_URL}), then run "
                                   f"`kdrepro data prepare {NAME} --from PATH`", root)


class ZipPerClass(Dataset):
    """The registered ImageNet-22k: ``dataset[i]`` is (``transform(image)``, class index). Each worker keeps
    its most recently used archives open (``open_archives`` of them). The 14 M image names and classes are
    held in two NumPy arrays (fixed-width bytes, int32): a few hundred MB that every DataLoader worker
    receives as one buffer, not 14 M Python objects (about 2 GB, and copied page by page in forked workers)."""

    def __init__(self, transform=None, root: str | Path | None = None, open_archives: int = 64):
        record = read_meta(root)
        self.path, self.fname_format = Path(record["path"]), record["fname_format"]
        self.transform, self.open_archives = transform, open_archives
        by_class = read_names(self.path)
        self.classes = list(by_class)
        self.names = np.array([name for names in by_class.values() for name in names], dtype=np.bytes_)
        self.targets = np.repeat(np.arange(len(by_class), dtype=np.int32), [len(v) for v in by_class.values()])
        self._archives: OrderedDict[str, zipfile.ZipFile] = OrderedDict()

    def __len__(self) -> int:
        return len(self.names)

    def sample(self, i: int) -> tuple[str, int]:
        """Image ``i``'s name and class index."""
        return self.names[i].decode(), int(self.targets[i])

    def _archive(self, cls: str) -> zipfile.ZipFile:
        if cls in self._archives:
            self._archives.move_to_end(cls)
        else:
            self._archives[cls] = zipfile.ZipFile(self.path / f"{cls}.zip")
            if len(self._archives) > self.open_archives:
                self._archives.popitem(last=False)[1].close()
        return self._archives[cls]

    def __getitem__(self, i: int):
        from PIL import Image

        name, target = self.sample(i)
        data = self._archive(self.classes[target]).read(self.fname_format.format(name))
        image = Image.open(io.BytesIO(data)).convert("RGB")
        return (self.transform(image) if self.transform is not None else image), target

    def __getstate__(self) -> dict:  # open archives stay in the process that opened them
        return {**self.__dict__, "_archives": OrderedDict()}


__all__ = ["NAME", "NAMES_FILE", "CLASSES", "read_names", "register", "read_meta", "ZipPerClass"]
