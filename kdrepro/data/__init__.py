"""Datasets: preparing them once, loading them verified, batching them on the device.

Prepared datasets live in the data root, ``<root>/<name>/{train.pt,test.pt,meta.json}``.
The root is ``KDREPRO_DATA`` (default ``~/.cache/kdrepro/data``). ``prepare`` looks for
raw files in ``<root>/<name>/raw/``, then tries torchvision's download (skipped when
``KDREPRO_OFFLINE=1``), then the offline mirror named by ``KDREPRO_MIRROR``. Inputs are
checked against their published checksums; meta.json records the source and hashes.

``cifar10-jpeg75`` is a lossy copy of CIFAR-10 (every image re-encoded as JPEG quality
75, from the offline mirror). It is its own dataset, never CIFAR-10: its spec has
``lossy=True`` and ``comparable_to=None``, and any result on it must say so.

ImageNet is too large for that: ``kdrepro data prepare imagenet --from PATH`` checks a folder in the
standard ``train/<wnid>/``, ``val/<wnid>/`` layout and records where it is (``image_folders``).
"""

from kdrepro.data.augment import Augment, SeededAugment, horizontal_flip, jitter, random_crop, sample_seeds
from kdrepro.data.load import choose_dataset, first_available, is_prepared, load, read_meta
from kdrepro.data.loader import Batch, BatchLoader, make_loader, normalize, subset_indices
from kdrepro.data.prepare import prepare
from kdrepro.data.registry import DATASETS, DatasetSpec, dataset_names, get_spec

__all__ = [
    "Augment", "SeededAugment", "sample_seeds", "Batch", "BatchLoader", "DATASETS", "DatasetSpec", "dataset_names",
    "choose_dataset", "first_available", "get_spec", "horizontal_flip", "is_prepared", "jitter", "load",
    "make_loader", "normalize", "prepare", "random_crop", "read_meta", "subset_indices",
]
