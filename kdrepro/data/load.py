"""Reading prepared datasets: ``<root>/<name>/{train,test}.pt`` checked against meta.json."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Iterable

import torch

from kdrepro.data import checksums
from kdrepro.data.formats import SPLITS
from kdrepro.data.registry import get_spec
from kdrepro.errors import ConfigError, DatasetError
from kdrepro.paths import data_root

META = "meta.json"


def dataset_dir(name: str, root: str | Path | None = None) -> Path:
    """``<root>/<name>``, with ``root`` defaulting to ``data_root()``."""
    get_spec(name)
    return (Path(root).expanduser() if root is not None else data_root()) / name


def is_prepared(name: str, root: str | Path | None = None) -> bool:
    """True when meta.json (written last by ``prepare``) and both splits exist."""
    folder = dataset_dir(name, root)
    return (folder / META).is_file() and all((folder / f"{s}.pt").is_file() for s in SPLITS)


def read_meta(name: str, root: str | Path | None = None) -> dict:
    """The meta.json of a prepared dataset."""
    folder = dataset_dir(name, root)
    if not is_prepared(name, root):
        raise DatasetError(f"dataset {name} is not prepared in {folder.parent}: "
                           f"run `kdrepro data prepare {name}`")
    return json.loads((folder / META).read_text())


def load(name: str, split: str, root: str | Path | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(images uint8 N x C x H x W, labels int64 N) of a prepared split, checksum-verified."""
    if split not in SPLITS:
        raise ConfigError(f"unknown split {split!r}; valid splits: {', '.join(SPLITS)}")
    meta = read_meta(name, root)
    path = dataset_dir(name, root) / f"{split}.pt"
    data = path.read_bytes()
    actual = checksums.sha256_bytes(data)
    if actual != meta["files"][path.name]:
        raise DatasetError(f"{path} is corrupt (sha256 {actual}, meta.json says "
                           f"{meta['files'][path.name]}): run `kdrepro data prepare {name} --force`")
    blob = torch.load(io.BytesIO(data), weights_only=True)
    return blob["images"], blob["labels"]


def choose_dataset(scale: str, requested: str | None, candidates: Iterable[str]) -> str:
    """The dataset a recipe of ``scale`` runs on: ``requested`` if the recipe allows it, else the
    first prepared of ``candidates``. A full-scale recipe runs on the paper's data only, and says
    how to prepare it."""
    candidates = list(candidates)
    if requested is None:
        return first_available(candidates)
    if requested not in candidates:
        if scale == "full":
            fixes = " or ".join(f"`kdrepro data prepare {name}`" for name in candidates)
            raise DatasetError(f"full scale is the paper's setting ({', '.join(candidates)}), not {requested}: "
                               f"prepare it with {fixes} (torchvision download, or a local copy in the data root)")
        raise ConfigError(f"the {scale} recipe runs on {', '.join(candidates)}, not {requested!r}")
    return requested


def first_available(names: Iterable[str], root: str | Path | None = None) -> str:
    """The first of ``names`` that is prepared; DatasetError saying how to prepare each."""
    names = list(names)
    for name in names:
        if is_prepared(name, root):
            return name
    where = dataset_dir(names[0], root).parent if names else root
    fixes = "; ".join(f"`kdrepro data prepare {name}`" for name in names)
    raise DatasetError(f"none of {', '.join(names)} is prepared in {where}. Prepare one: {fixes}")
