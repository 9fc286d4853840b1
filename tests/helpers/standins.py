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


WNIDS = ("n01440764", "n01443537", "n01484850", "n01491361")


def make_image_folder(root: Path, per_class=(2, 1), wnids=WNIDS[:3], flat_val: bool = False, seed: int = 0) -> Path:
    """ImageNet's layout — train/<wnid>/*.JPEG, val/<wnid>/*.JPEG — with small random JPEGs of varied
    sizes (a flat val/ folder, as the ILSVRC download has it, with ``flat_val``)."""
    from PIL import Image

    g = torch.Generator().manual_seed(seed)
    for split, n in zip(("train", "val"), per_class):
        for c, wnid in enumerate(wnids):
            folder = root / split if (flat_val and split == "val") else root / split / wnid
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                pixels = torch.randint(0, 256, (40 + 8 * c + i % 5, 48 + 3 * (i % 4), 3), generator=g,
                                       dtype=torch.uint8).numpy()
                Image.fromarray(pixels).save(folder / f"{wnid}_{i}.JPEG", quality=90)
    return root


def make_imagenet_standin(data_root: Path, per_class=(12, 4), wnids=WNIDS) -> Path:
    """A generated ImageNet-layout folder registered as ``imagenet`` in ``data_root`` (its own counts)."""
    from kdrepro.data.image_folders import register

    source = make_image_folder(Path(data_root).parent / "imagenet-standin", per_class, wnids)
    sizes = {"train": per_class[0] * len(wnids), "val": per_class[1] * len(wnids)}
    return register("imagenet", source, root=data_root, expected=sizes, expected_classes=len(wnids))


def save_random_timm_checkpoint(name: str, num_classes: int, path: Path) -> Path:
    """A state dict of timm's ``name`` with random weights (a stand-in for a pretrained teacher's file)."""
    import timm

    torch.save(timm.create_model(name, pretrained=False, num_classes=num_classes).state_dict(), path)
    return path
