"""Device-resident batching: the uint8 images live on the device once; batches are slices.

An epoch's order and augmentation depend only on (seed, epoch) (and the rank, for the
augmentation of that rank's slice), so a resumed run replays the same batches.
"""

from __future__ import annotations

import hashlib
from typing import Iterator, NamedTuple, Sequence

import torch

from kdrepro.data.augment import Augment
from kdrepro.data.load import load
from kdrepro.data.registry import get_spec
from kdrepro.errors import ConfigError


class Batch(NamedTuple):
    x: torch.Tensor  # float32 N x C x H x W, normalised (a list of such views for DINO from streamed images)
    y: torch.Tensor  # int64 labels
    index: torch.Tensor  # int64 indices into the full dataset split


class BatchLoader:
    """Shuffled, augmented, normalised batches of ``images``/``labels`` on ``device``.

    With ``world_size > 1`` every rank walks the same permutation; each global batch of
    ``batch_size * world_size`` samples is cut into ``world_size`` disjoint slices and
    rank ``r`` takes slice ``r``. Without ``drop_last`` the final, short global batch is
    split as evenly as possible (a rank may get fewer samples, or none).
    ``indices`` restricts the loader to those samples of the split.
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, batch_size: int, *,
                 shuffle: bool = True, augment: Augment | None = None,
                 mean: Sequence[float] | None = None, std: Sequence[float] | None = None,
                 seed: int = 0, device: str | torch.device = "cpu", rank: int = 0,
                 world_size: int = 1, drop_last: bool = True,
                 indices: Sequence[int] | torch.Tensor | None = None):
        if len(images) != len(labels):
            raise ConfigError(f"{len(images)} images but {len(labels)} labels")
        if batch_size < 1 or world_size < 1 or not 0 <= rank < world_size:
            raise ConfigError(f"bad batching: batch_size={batch_size}, rank={rank}, "
                              f"world_size={world_size}")
        self.device = torch.device(device)
        if indices is None:
            self.index = torch.arange(len(labels))
        else:
            self.index = torch.as_tensor(indices, dtype=torch.int64).flatten()
            images, labels = images[self.index.to(images.device)], labels[self.index.to(labels.device)]
        self.index = self.index.to(self.device)
        self.images = images.to(self.device)
        self.labels = labels.to(self.device, torch.int64)
        self.batch_size, self.shuffle, self.augment = batch_size, shuffle, augment
        self.seed, self.rank, self.world_size, self.drop_last = seed, rank, world_size, drop_last
        channels = (1, -1, 1, 1)
        self.mean = None if mean is None else torch.tensor(mean, device=self.device).view(channels)
        self.std = None if std is None else torch.tensor(std, device=self.device).view(channels)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    @property
    def num_samples(self) -> int:
        return len(self.index)

    def __len__(self) -> int:
        global_batch = self.batch_size * self.world_size
        if self.drop_last:
            return self.num_samples // global_batch
        return -(-self.num_samples // global_batch)

    def __iter__(self) -> Iterator[Batch]:
        return self.iter_from(0)

    def iter_from(self, start: int) -> Iterator[Batch]:
        """This epoch's batches from batch number ``start`` on (to resume mid-epoch)."""
        n, global_batch = self.num_samples, self.batch_size * self.world_size
        if self.shuffle:
            order = torch.randperm(n, generator=self._generator("order"), device=self.device)
        else:
            order = torch.arange(n, device=self.device)
        for b in range(start, len(self)):
            chunk = order[b * global_batch:(b + 1) * global_batch]
            if len(chunk) == global_batch:
                mine = chunk[self.rank * self.batch_size:(self.rank + 1) * self.batch_size]
            else:
                mine = torch.tensor_split(chunk, self.world_size)[self.rank]
            yield self._batch(mine, b)

    def _batch(self, positions: torch.Tensor, number: int) -> Batch:
        x = self.images[positions]
        if getattr(self.augment, "per_sample", False):  # each sample's view from its own seed
            x = self.augment.apply(x, self.augment.seeds(self.epoch, self.index[positions]))
        elif self.augment is not None:
            x = self.augment(x, self._generator("augment", self.rank, number))
        return Batch(normalize(x, self.mean, self.std), self.labels[positions], self.index[positions])

    def _generator(self, *keys) -> torch.Generator:
        generator = torch.Generator(device=self.device)
        generator.manual_seed(mix_seed(self.seed, self.epoch, *keys))
        return generator


def normalize(images: torch.Tensor, mean=None, std=None) -> torch.Tensor:
    """Images as a network's input: uint8 scaled to [0, 1], then (x − mean) / std per channel
    (``mean``/``std`` sequences or tensors; N×C×H×W images). Never changes ``images``."""
    x = images.float() / 255 if images.dtype == torch.uint8 else images.float()
    shape = (1, -1, 1, 1)
    if mean is not None:
        x = x - torch.as_tensor(mean, dtype=x.dtype, device=x.device).view(shape)
    if std is not None:
        x = x / torch.as_tensor(std, dtype=x.dtype, device=x.device).view(shape)
    return x


def mix_seed(*keys) -> int:
    """A well-spread 63-bit seed from any printable keys (stable across runs and machines)."""
    digest = hashlib.blake2b(repr(keys).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


def subset_indices(size: int, subset: int | Sequence[int] | torch.Tensor | None) -> torch.Tensor | None:
    """None (all), explicit indices, or an int n: n samples from a fixed, seed-independent
    random permutation (so every class appears even in class-sorted data), kept in order."""
    if subset is None:
        return None
    if not isinstance(subset, int):
        return torch.as_tensor(subset, dtype=torch.int64)
    if not 0 < subset <= size:
        raise ConfigError(f"subset of {subset} samples from a split of {size}")
    chosen = torch.randperm(size, generator=torch.Generator().manual_seed(0))[:subset]
    return chosen.sort().values


def make_loader(name: str, split: str, batch_size: int, *, train: bool,
                augment: Augment | None = None, device: str | torch.device = "cpu",
                seed: int = 0, rank: int = 0, world_size: int = 1,
                subset: int | Sequence[int] | torch.Tensor | None = None,
                root=None) -> BatchLoader:
    """A loader over a prepared split with the registry's normalisation.

    ``train=True`` shuffles, augments and drops the last short batch; otherwise the order
    is fixed, there is no augmentation and every sample is seen.
    """
    spec = get_spec(name)
    images, labels = load(name, split, root)
    return BatchLoader(images, labels, batch_size, shuffle=train,
                       augment=augment if train else None, mean=spec.mean, std=spec.std,
                       seed=seed, device=device, rank=rank, world_size=world_size,
                       drop_last=train, indices=subset_indices(len(labels), subset))
