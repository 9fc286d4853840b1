"""A teacher's top-K on exactly the (mixed) batches a run will train on: DeiT's distillation from a
store, Mixup, CutMix and repeated augmentation included.

TinyViT's store (:mod:`~kdrepro.stores.topk`) keys each answer by (epoch, image), which needs one
view per image per epoch and no mixing. DeiT's recipe breaks both: repeated augmentation shows an
image three times an epoch, and Mixup/CutMix blends each image with another of its batch — the
teacher's answer belongs to the blend. But a run's batches are a function of its recipe (seed,
batch size, steps), data, transform, workers, process count and mixing, all in its
:func:`~kdrepro.engine.trainer.loader_key`; so the teacher pass replays the run's own loader and
:class:`~kdrepro.data.mixing.BatchMix` (re-seeded per epoch as the engine does) and keys each
answer by its *slot*: (epoch, step, process, position in the batch). A student reads its batch's
slots and checks that the images there are the ones recorded (else it stops: the batches drifted).
One pass serves every student with that recipe and seed — DeiT's soft, hard and token runs.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ..data.loader import mix_seed
from ..data.mixing import BatchMix
from ..data.streaming import StreamSplit
from ..engine import is_main_process, process_device, wait_for_everyone
from ..engine.config import TrainConfig
from ..engine.rehearsal import rehearsal_config, rehearsal_train
from ..engine.trainer import loader_key, train_loader
from ..errors import ConfigError
from ..io import write_json
from ..methods import TeacherStore
from ..models import ModelOutput
from .topk import META, PASS, SparseLogitStore, _teacher_store

SAMPLES = "samples.i64"  # epoch × slot: the image each slot held when recorded


def _placement() -> tuple[int, int]:
    return int(os.environ.get("WORLD_SIZE", "1")), int(os.environ.get("RANK", "0"))


def _samples(path: Path, epochs: int, slots: int, mode: str) -> np.memmap:
    return np.memmap(path / SAMPLES, dtype=np.int64, mode=mode, shape=(epochs, slots))


@torch.no_grad()
def record_batch_topk(teacher: torch.nn.Module, train, config: TrainConfig, k: int, path: str | Path, *,
                      mix: BatchMix | None = None, augment=None) -> SparseLogitStore:
    """The teacher's top-``k`` probabilities on every batch a run of ``config`` on ``train`` (mixed by
    ``mix``, augmented by ``augment`` for a tensor split) will train on, written to ``path``; each
    process records its own share. Epochs already recorded are skipped when run again."""
    if isinstance(train, StreamSplit) and train.workers == 0:
        raise ConfigError("a run's batches can be recorded only when DataLoader workers decode them (their "
                          "generators are seeded per epoch); with workers=0 the transforms draw from the training "
                          "process's generators, which training draws from too: use workers of 1 or more")
    config, train = rehearsal_config(config), rehearsal_train(train)
    world, rank = _placement()
    device = process_device()
    teacher.to(device).eval()
    loader = train_loader(config, train, augment, device, rank, world)
    steps = len(loader) if config.max_steps_per_epoch is None else min(len(loader), config.max_steps_per_epoch)
    per_process, slots = config.batch_size // world, steps * config.batch_size
    key = loader_key(config, train, augment, world, device, mix)
    store, samples, start = None, None, time.perf_counter()
    if (Path(path) / META).is_file():  # a pass made before: its finished epochs are skipped
        store = SparseLogitStore(path)
        if (store.meta["augment"] != {"loader_key": key} or store.meta["epochs"] != config.epochs
                or store.meta["k"] != k or store.meta["num_samples"] != slots):
            raise ConfigError(f"{path} holds a store of other batches or another k: use another folder or delete it")
        samples = _samples(Path(path), config.epochs, slots, "r+")
    for epoch in range(config.epochs):
        if store is not None and bool(np.asarray(store.written[epoch]).all()):
            continue
        loader.set_epoch(epoch)
        if mix is not None:
            mix.reseed(mix_seed(config.seed, epoch, "mix", rank))
        batches = iter(loader)
        for step in range(steps):
            batch = next(batches)
            if mix is not None:
                batch = mix(batch)
            probs = F.softmax(teacher(batch.x).logits.float(), -1)
            if store is None:  # the first batch tells the teacher's classes
                store = _teacher_store(path, teacher, probs.shape[-1], epochs=config.epochs, num_samples=slots, k=k,
                                       augment={"loader_key": key})
                if is_main_process() and not (Path(path) / SAMPLES).is_file():
                    _samples(Path(path), config.epochs, slots, "w+").flush()
                wait_for_everyone()
                samples = _samples(Path(path), config.epochs, slots, "r+")
            first = (step * world + rank) * per_process
            slot = torch.arange(first, first + len(batch.index))
            values, classes = probs.topk(k, dim=-1)
            samples[epoch, slot.numpy()] = batch.index.cpu().numpy()
            store.write(epoch, slot, values, classes)
        store.flush()
        samples.flush()
    wait_for_everyone()
    if store is None:
        raise ConfigError("the run has no training batch: nothing to record")
    if is_main_process() and not (Path(path) / PASS).is_file():  # the first, complete pass's time
        write_json(Path(path) / PASS, {"seconds": round(time.perf_counter() - start, 3), "processes": world})
    return store


class BatchStoredTeacher(TeacherStore):
    """A teacher read from a :func:`record_batch_topk` store: for the engine's (epoch, step) and this
    process, the log of each slot's rebuilt target distribution (see :class:`~kdrepro.stores.topk.SparseStoredTeacher`)."""

    on_mixed_batches = True  # the store holds the teacher's answers on the blends themselves

    def __init__(self, store: SparseLogitStore, k: int | None = None):
        super().__init__()
        if "loader_key" not in store.meta["augment"]:
            raise ConfigError(f"{store.path} is a store of (epoch, image) views, not of a run's batches: read it with "
                              "SparseStoredTeacher")
        if k is not None and not 1 <= k <= store.meta["k"]:
            raise ConfigError(f"k = {k}: the store keeps the top {store.meta['k']}, so k must be between 1 and that")
        self.store, self.k = store, store.meta["k"] if k is None else k
        self.samples = _samples(store.path, store.meta["epochs"], store.meta["num_samples"], "r")
        self.register_buffer("store_digest", torch.tensor(list(bytes.fromhex(store.digest)), dtype=torch.uint8))
        self.register_buffer("top_k", torch.tensor(self.k))

    def check_run(self, loader_key: str, augment, epochs: int, train) -> None:
        if loader_key != self.store.meta["augment"]["loader_key"]:
            raise ConfigError("the stored teacher answers were recorded on other batches (another seed, batch size, "
                              "step count, data, transform, workers, mixing or process count): record them for this "
                              "run with kdrepro.stores.batches.record_batch_topk")
        if epochs > self.store.meta["epochs"]:
            raise ConfigError(f"the store covers {self.store.meta['epochs']} epochs, the run trains {epochs}: record more")
        if not bool(np.asarray(self.store.written[:epochs]).all()):
            raise ConfigError("the store misses some of this run's batches: finish its teacher pass "
                              "(record_batch_topk resumes it)")

    def lookup(self, index: Tensor | None) -> ModelOutput:
        if index is None:
            raise ValueError("a BatchStoredTeacher needs the batch's sample indices")
        world, rank = _placement()
        first = (self.step * world + rank) * len(index)
        slot = torch.arange(first, first + len(index))
        if not np.array_equal(self.samples[self.epoch, slot.numpy()], index.cpu().numpy()):
            raise RuntimeError(f"epoch {self.epoch + 1}, step {self.step + 1}: this batch's images are not the ones "
                               "the teacher was recorded on — the batches drifted from the recorded run (another "
                               "worker count, sampler or code version): record the store again")
        return ModelOutput(self.store.logits(self.epoch, slot, self.k, device=index.device))


__all__ = ["record_batch_topk", "BatchStoredTeacher"]
