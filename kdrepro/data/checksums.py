"""Published checksums of the raw inputs, and the helpers that check them."""

from __future__ import annotations

import hashlib
from pathlib import Path

from kdrepro.errors import DatasetError

# MD5 of each raw file, keyed by dataset then file name. The IDX hashes are of the
# *uncompressed* files; the CIFAR ones are torchvision's for its python pickles.
PUBLISHED_MD5: dict[str, dict[str, str]] = {
    "mnist": {
        "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
        "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
        "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
        "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
        "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
        "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
        "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965",
    },
    "cifar10": {
        "data_batch_1": "c99cafc152244af753f735de768cd75f",
        "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
        "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
        "data_batch_4": "634d18415352ddfa80567beed471001a",
        "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
        "test_batch": "40351d587109b95175f43aff81a1287e",
    },
    "cifar100": {
        "train": "16019d7e3df5f24257cddd939b257f8d",
        "test": "f0ef6b0ae62326f3e7ffdfab6717acfc",
    },
}

# SHA-256 of whole archives, keyed by dataset.
ARCHIVE_SHA256: dict[str, str] = {
    "cifar10-jpeg75": "00a78acaf3d7c27307ba029958650e48cba76f3704c03e4cd1dd6bf77963ed47",
}


def md5_bytes(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def verify(path: Path, algorithm: str, expected: str, actual: str) -> None:
    """Raise DatasetError naming ``path`` when ``actual`` differs from ``expected``."""
    if actual != expected:
        raise DatasetError(
            f"checksum mismatch for {path}: expected {algorithm} {expected}, got {actual}. "
            "The file is corrupt or not the published one; replace it and prepare again."
        )
