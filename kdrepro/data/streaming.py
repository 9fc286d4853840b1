"""Streamed data, for datasets that do not fit in memory (ImageNet): the same batches, in the same
order rules, as the device-resident :class:`~kdrepro.data.BatchLoader`, read by ``DataLoader``
workers that decode and augment the images (timm's or torchvision's transforms).

A :class:`StreamSplit` is what the engine's ``Trainer`` takes in place of a tensor ``Split``; one
training loop serves both. An epoch's order is a permutation drawn from (seed, epoch); each global
batch of ``batch_size × processes`` samples is cut into one slice per process, so in every epoch the
processes see disjoint images and together all of them (but the last, short global batch, dropped
while training). The workers' random augmentations are seeded from (seed, epoch) too, so a run
resumed at an epoch boundary replays the epochs it has not done yet exactly as they would have been.

Repeated augmentation (DeiT's, ``StreamSplit.repeats`` > 1) is timm's ``RepeatAugSampler`` (DeiT's
``RASampler``): each epoch draws about 1/repeats of the images and shows each ``repeats`` times, in
different augmentations, on different processes; its order is drawn from the epoch alone, as DeiT's.

Replayed views (TinyViT's, ``StreamSplit.replay_seed``): the transform of image *i* in epoch *e* draws
all its randomness (Python's, NumPy's and torch's generators) from a seed of (replay seed, *e*, *i*)
alone, so a teacher pass and a student pass see the same view whatever batch, order, worker or process
it lands in — what a store of the teacher's outputs on those views needs.
"""

from __future__ import annotations

import itertools
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from kdrepro.data.loader import Batch, mix_seed
from kdrepro.errors import ConfigError


@dataclass
class StreamSplit:
    """A split read from storage: ``dataset[i]`` gives (image tensor, already transformed and
    normalised, label); ``labels`` are every sample's labels (``ImageFolder.targets``), which the
    engine's run digests read; ``indices`` restricts it to a subset."""

    dataset: Dataset
    labels: torch.Tensor
    indices: torch.Tensor | None = None
    workers: int = 8
    mean: tuple[float, ...] | None = None  # the transform normalises; nothing left for the engine
    std: tuple[float, ...] | None = None
    repeats: int = 1  # repeated augmentation (training only): each drawn image this many times per epoch
    replay_seed: int | None = None  # each (epoch, image)'s view drawn from its own seed (see the module)

    def __post_init__(self):
        if self.repeats < 1:
            raise ConfigError(f"repeats must be at least 1, not {self.repeats}")
        self.labels = torch.as_tensor(self.labels, dtype=torch.int64)
        if len(self.labels) != len(self.dataset):
            raise ConfigError(f"{len(self.labels)} labels for a dataset of {len(self.dataset)} samples")

    @property
    def size(self) -> int:
        return len(self.labels) if self.indices is None else len(self.indices)

    @classmethod
    def from_image_folder(cls, dataset, **kw) -> "StreamSplit":
        """A torchvision ``ImageFolder`` (its ``targets`` are the labels)."""
        return cls(dataset, torch.as_tensor(dataset.targets), **kw)


class ShardSampler(Sampler[int]):
    """One process's sample positions for one epoch, in batch order (see the module docstring)."""

    def __init__(self, n: int, batch_size: int, *, seed: int = 0, rank: int = 0, world_size: int = 1,
                 shuffle: bool = True, drop_last: bool = True):
        if batch_size < 1 or world_size < 1 or not 0 <= rank < world_size:
            raise ConfigError(f"bad batching: batch_size={batch_size}, rank={rank}, world_size={world_size}")
        self.n, self.batch_size, self.seed, self.rank, self.world_size = n, batch_size, seed, rank, world_size
        self.shuffle, self.drop_last, self.epoch = shuffle, drop_last, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def batches(self) -> int:
        global_batch = self.batch_size * self.world_size
        return self.n // global_batch if self.drop_last else -(-self.n // global_batch)

    def shards(self) -> Iterator[torch.Tensor]:
        """This process's positions, one batch at a time."""
        global_batch = self.batch_size * self.world_size
        if self.shuffle:
            order = torch.randperm(self.n, generator=torch.Generator().manual_seed(mix_seed(self.seed, self.epoch,
                                                                                            "order")))
        else:
            order = torch.arange(self.n)
        for b in range(self.batches()):
            chunk = order[b * global_batch:(b + 1) * global_batch]
            if len(chunk) == global_batch:
                yield chunk[self.rank * self.batch_size:(self.rank + 1) * self.batch_size]
            else:
                yield torch.tensor_split(chunk, self.world_size)[self.rank]

    def __iter__(self) -> Iterator[int]:
        for shard in self.shards():
            yield from shard.tolist()

    def __len__(self) -> int:
        return sum(len(s) for s in self.shards())


class _BatchSampler(Sampler[list[int]]):
    def __init__(self, shard_sampler: ShardSampler):
        self.shards = shard_sampler

    def __iter__(self):
        for shard in self.shards.shards():
            if len(shard):
                yield shard.tolist()

    def __len__(self) -> int:
        return sum(1 for s in self.shards.shards() if len(s))


class _RepeatedBatches(Sampler[list[int]]):
    """Batches of timm's ``RepeatAugSampler`` (this process's share of an epoch of repeated images)."""

    def __init__(self, size: int, batch_size: int, repeats: int, rank: int, world_size: int, drop_last: bool):
        from timm.data.distributed_sampler import RepeatAugSampler

        self.sampler = RepeatAugSampler(range(size), num_replicas=world_size, rank=rank, shuffle=True,
                                        num_repeats=repeats)
        self.batch_size, self.drop_last = batch_size, drop_last

    def set_epoch(self, epoch: int) -> None:
        self.sampler.set_epoch(epoch)

    def batches(self) -> int:
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self):
        positions = list(self.sampler)
        for b in range(self.batches()):
            yield positions[b * self.batch_size:(b + 1) * self.batch_size]

    def __len__(self) -> int:
        return self.batches()


class _From(Sampler[list[int]]):
    """A batch sampler's batches from number ``start`` on."""

    def __init__(self, batches: Sampler[list[int]], start: int):
        self.batches, self.start = batches, start

    def __iter__(self):
        return itertools.islice(iter(self.batches), self.start, None)

    def __len__(self) -> int:
        return max(0, len(self.batches) - self.start)


@contextmanager
def replayed(seed: int, epoch: int, index: int):
    """Python's, NumPy's and torch's generators seeded from (``seed``, ``epoch``, ``index``) inside the
    block (a transform called there makes that sample's view of that epoch), restored after."""
    import random

    import numpy as np

    from .augment import sample_seeds

    s = int(sample_seeds(seed, epoch, torch.tensor([index]))[0]) & (2**32 - 1)
    state = random.getstate(), np.random.get_state()
    with torch.random.fork_rng(devices=[]):
        random.seed(s)
        np.random.seed(s)
        torch.manual_seed(s)
        try:
            yield
        finally:
            random.setstate(state[0])
            np.random.set_state(state[1])


class _Indexed(Dataset):
    """(image, label, index in the whole split) for the positions of a subset, in ``epoch`` (the
    replayed views' epoch: a new loader, with its workers, is made every epoch)."""

    def __init__(self, split: StreamSplit, epoch: int = 0):
        self.split, self.epoch = split, epoch

    def __len__(self) -> int:
        return self.split.size

    def __getitem__(self, position: int):
        index = position if self.split.indices is None else int(self.split.indices[position])
        if self.split.replay_seed is None:
            x, _ = self.split.dataset[index]
        else:
            with replayed(self.split.replay_seed, self.epoch, index):
                x, _ = self.split.dataset[index]
        return x, self.split.labels[index], index


class StreamLoader:
    """``BatchLoader``'s interface over a :class:`StreamSplit`: ``len``, ``set_epoch``,
    ``num_samples``, and :class:`~kdrepro.data.Batch` es on ``device``."""

    def __init__(self, split: StreamSplit, batch_size: int, *, shuffle: bool = True, seed: int = 0,
                 device: str | torch.device = "cpu", rank: int = 0, world_size: int = 1, drop_last: bool = True):
        self.split, self.device, self.seed = split, torch.device(device), seed
        self.sampler = ShardSampler(split.size, batch_size, seed=seed, rank=rank, world_size=world_size,
                                    shuffle=shuffle, drop_last=drop_last)
        # repeated augmentation when training (held-out splits are read once, in order)
        self.repeated = (_RepeatedBatches(split.size, batch_size, split.repeats, rank, world_size, drop_last)
                         if split.repeats > 1 and shuffle else None)
        self.epoch = 0

    @property
    def num_samples(self) -> int:
        return self.split.size

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)
        self.sampler.set_epoch(epoch)
        if self.repeated is not None:
            self.repeated.set_epoch(epoch)

    def __len__(self) -> int:
        return self.sampler.batches() if self.repeated is None else self.repeated.batches()

    def __iter__(self) -> Iterator[Batch]:
        return self.iter_from(0)

    def iter_from(self, start: int) -> Iterator[Batch]:
        """This epoch's batches from batch number ``start`` on (to resume inside an epoch: the same
        images in the same order; augmentations replayed only with ``replay_seed``)."""
        generator = torch.Generator().manual_seed(mix_seed(self.seed, self.epoch, "workers", self.sampler.rank))
        workers = self.split.workers
        batches = _BatchSampler(self.sampler) if self.repeated is None else self.repeated
        if start:
            batches = _From(batches, start)
        loader = DataLoader(_Indexed(self.split, self.epoch), batch_sampler=batches, num_workers=workers,
                            pin_memory=self.device.type == "cuda", generator=generator,
                            persistent_workers=False, prefetch_factor=4 if workers else None)
        for x, y, index in loader:  # x: a batch of images, or a list of batches of views (DINO's multi-crop)
            x = [v.to(self.device, non_blocking=True).float() for v in x] if isinstance(x, list) else \
                x.to(self.device, non_blocking=True).float()
            yield Batch(x, y.to(self.device, non_blocking=True), index.to(self.device, non_blocking=True))
