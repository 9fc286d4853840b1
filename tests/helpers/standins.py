"""Generated stand-ins of datasets this machine does not have (CIFAR-100), in the prepared format:
random images of the real shape and label range, recorded as a stand-in in meta.json."""

from pathlib import Path

import torch

from kdrepro.data.formats import RawData
from kdrepro.data.prepare import _write
from kdrepro.data.registry import get_spec


def make_standin(name: str, root: Path, n_train: int = 1000, n_test: int = 500, seed: int = 0) -> Path:
    spec = get_spec(name)
    g = torch.Generator().manual_seed(seed)
    splits = {}
    for split, n in (("train", n_train), ("test", n_test)):
        labels = torch.arange(n) % spec.num_classes  # every class present
        images = torch.randint(0, 256, (n, *spec.shape), generator=g, dtype=torch.uint8)
        splits[split] = (images, labels[torch.randperm(n, generator=g)])
    folder = Path(root) / name
    _write(folder, spec, RawData(splits, {"generated": "stand-in"}), source="generated stand-in (tests)")
    return folder
