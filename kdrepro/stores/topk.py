"""TinyViT's fast pretraining distillation store (Wu et al. 2022, Section 3.1), for any logit method.

A teacher pass runs the teacher once per (image, epoch) on the view a :class:`~kdrepro.data.SeededAugment`
draws from the sample's own seed, and keeps its top-K probabilities (float16 values, int16/int32
class indices) in a folder of fixed-size arrays: ``values`` and ``indices`` of shape E × N × K and
``written`` (E × N flags). Each process writes its own rows of the same files, and a student
reads a batch's rows by seeking — nothing is loaded whole. The student's loader replays the same
views from the same seeds, in any batch order, and :class:`SparseStoredTeacher` rebuilds the dense
target: the K kept probabilities, and the rest of the mass (1 − their sum) spread evenly over the
other classes. It answers with the log of that distribution as its logits, so KD, CTKD or DeiT's
soft and hard distillation train from it unchanged (softmax of it at T = 1 is the target itself).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ..data import SeededAugment, normalize
from ..data.streaming import StreamLoader, StreamSplit
from ..engine.rehearsal import rehearsal_epochs, rehearsal_train
from ..engine import Split, is_main_process, process_device, wait_for_everyone
from ..errors import ConfigError
from ..io import write_json
from ..methods import TeacherStore
from ..methods.base import device_of
from ..models import ModelOutput

META = "store.json"
PASS = "pass.json"  # the teacher pass's wall time
TIE_BREAK = 1e-5  # added to the recorded top class's log-probability (see SparseLogitStore.logits)


class SparseLogitStore:
    """The on-disk arrays of one teacher pass (see the module docstring)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        meta_path = self.path / META
        if not meta_path.is_file():
            raise FileNotFoundError(f"no logit store at {self.path}: record one with kdrepro.stores.topk.record_sparse_logits")
        self.meta = json.loads(meta_path.read_text())
        shape = (self.meta["epochs"], self.meta["num_samples"], self.meta["k"])
        self.values = np.memmap(self.path / "values.f16", dtype=np.float16, mode="r+", shape=shape)
        self.indices = np.memmap(self.path / "indices.bin", dtype=np.dtype(self.meta["index_dtype"]), mode="r+",
                                 shape=shape)
        self.written = np.memmap(self.path / "written.u8", dtype=np.uint8, mode="r+", shape=shape[:2])

    @classmethod
    def create(cls, path: str | Path, *, epochs: int, num_samples: int, k: int, num_classes: int,
               augment: SeededAugment | dict, teacher: str) -> "SparseLogitStore":
        """Allocate the arrays (main process only; the others wait for it), or reopen a store of the
        same layout to finish it. ``augment``: the replayed views (a :class:`SeededAugment`, or a
        streamed split's :func:`streamed_views`)."""
        path = Path(path)
        meta = {"epochs": epochs, "num_samples": num_samples, "k": k, "num_classes": num_classes,
                "index_dtype": "int16" if num_classes <= 32767 else "int32",
                "augment": augment if isinstance(augment, dict) else asdict(augment), "teacher": teacher}
        if is_main_process():
            if (path / META).is_file():
                old = json.loads((path / META).read_text())
                if old != meta:
                    raise ConfigError(f"{path} holds a store of another teacher, augmentation or size: "
                                      "use another folder or delete it")
            else:
                path.mkdir(parents=True, exist_ok=True)
                shape = (epochs, num_samples, k)
                np.memmap(path / "values.f16", dtype=np.float16, mode="w+", shape=shape).flush()
                np.memmap(path / "indices.bin", dtype=np.dtype(meta["index_dtype"]), mode="w+", shape=shape).flush()
                np.memmap(path / "written.u8", dtype=np.uint8, mode="w+", shape=shape[:2]).flush()
                write_json(path / META, meta)  # last: a store without its meta is not a store
        wait_for_everyone()  # the others open the store only once the main process has written it
        if not (path / META).is_file():
            raise ConfigError(f"the main process wrote no store at {path}: see its error, or check that every "
                              "process of the launch sees the same runs folder (KDREPRO_RUNS)")
        return cls(path)

    @property
    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.meta, sort_keys=True).encode()).hexdigest()[:16]

    def write(self, epoch: int, index: Tensor, probs_topk: Tensor, classes_topk: Tensor) -> None:
        rows = index.cpu().numpy()
        self.values[epoch, rows] = probs_topk.cpu().to(torch.float16).numpy()
        self.indices[epoch, rows] = classes_topk.cpu().numpy().astype(self.indices.dtype)
        self.written[epoch, rows] = 1

    def flush(self) -> None:
        for array in (self.values, self.indices, self.written):
            array.flush()

    def dense(self, epoch: int, index: Tensor, k: int | None = None, device: torch.device | str | None = None
              ) -> Tensor:
        """The rebuilt probability targets (N × C, float32) of samples ``index`` in ``epoch``, from
        the stored top-K or only their first ``k`` (the top-``k``: a smaller store read from a larger),
        built on ``device`` (the index's by default): only the N × k rows cross from the host, pinned
        and without blocking on a GPU, never the dense N × C target."""
        device = torch.device(device) if device is not None else index.device
        rows = index.cpu().numpy()
        k = self.meta["k"] if k is None else k
        values = torch.from_numpy(np.asarray(self.values[epoch, rows, :k], dtype=np.float32))
        classes = torch.from_numpy(np.asarray(self.indices[epoch, rows, :k], dtype=np.int64))
        if device.type == "cuda":
            values, classes = (t.pin_memory().to(device, non_blocking=True) for t in (values, classes))
        else:
            values, classes = values.to(device), classes.to(device)
        return dense_target(values, classes, self.meta["num_classes"])

    def logits(self, epoch: int, index: Tensor, k: int | None = None, device: torch.device | str | None = None
               ) -> Tensor:
        """The rebuilt targets as a teacher's logits (their log: softmax at T = 1 gives the target back),
        with the recorded top class kept the argmax where float16 rounding tied it with another — hard
        distillation reads the teacher's own first choice (a nudge of ``TIE_BREAK``, far below float16's
        resolution of the probabilities)."""
        device = torch.device(device) if device is not None else index.device
        logits = self.dense(epoch, index, k, device).clamp_min(1e-12).log()
        top = torch.from_numpy(np.asarray(self.indices[epoch, index.cpu().numpy(), 0], dtype=np.int64)).to(device)
        return logits.scatter_add_(1, top[:, None], torch.full((len(top), 1), TIE_BREAK, device=device))

    def complete(self, epochs: int, index: Tensor) -> bool:
        return bool(np.asarray(self.written[:epochs, index.cpu().numpy()]).all())

    def bytes_for(self, k: int | None = None, num_samples: int | None = None) -> int:
        """The size on disk of a store of this layout keeping the top-``k``: values (float16), class
        indices and the written flags, for every epoch and sample."""
        m = self.meta
        k = m["k"] if k is None else k
        rows = m["epochs"] * (m["num_samples"] if num_samples is None else num_samples)
        return rows * (k * (2 + np.dtype(m["index_dtype"]).itemsize) + 1)


def dense_target(values: Tensor, classes: Tensor, num_classes: int) -> Tensor:
    """Top-K probabilities put back in place, the remaining mass spread evenly over the other classes."""
    k = values.shape[-1]
    rest = (1.0 - values.sum(-1, keepdim=True)).clamp_min(0) / max(num_classes - k, 1)
    out = rest.expand(values.shape[0], num_classes).clone()
    return out.scatter_(1, classes, values)


@torch.no_grad()
def record_sparse_logits(teacher: torch.nn.Module, train: Split, augment: SeededAugment, epochs: int, k: int,
                         path: str | Path, *, batch_size: int = 500, device=None) -> SparseLogitStore:
    """The teacher pass: every sample of ``train``, every epoch, on its seeded view; top-``k``
    probabilities written to the store at ``path``. Under ``accelerate launch`` each process takes
    its share of the samples; an interrupted pass resumes (finished rows are kept).

    The pass runs on ``device``, by default this process's accelerator (its GPU when there is one,
    whatever device the teacher was loaded on): the teacher is moved there in place and left there,
    as the Trainer does."""
    world, rank = int(os.environ.get("WORLD_SIZE", "1")), int(os.environ.get("RANK", "0"))
    device = torch.device(device) if device is not None else process_device()  # also joins a launch's group
    idx = torch.arange(len(train.labels)) if train.indices is None else train.indices
    if len(idx) == 0:
        raise ConfigError("the training split is empty: nothing to record")
    teacher.to(device).eval()
    return _teacher_pass(teacher, train, augment, epochs, k, path, batch_size, device, idx, rank, world)


def _teacher_pass(teacher, train: Split, augment: SeededAugment, epochs: int, k: int, path, batch_size: int,
                  device: torch.device, idx: Tensor, rank: int, world: int) -> SparseLogitStore:
    """The pass itself, with the teacher already on ``device`` (see :func:`record_sparse_logits`)."""
    probe = teacher(normalize(train.images[idx[:1]].to(device), train.mean, train.std)).logits
    store = _teacher_store(path, teacher, probe.shape[-1], epochs=epochs, num_samples=len(train.labels), k=k,
                           augment=augment)
    mine = idx[rank::world]
    for epoch in range(epochs):
        for start in range(0, len(mine), batch_size):
            index = mine[start:start + batch_size]
            if bool(np.asarray(store.written[epoch, index.cpu().numpy()]).all()):
                continue  # recorded before an interruption
            views = augment.apply(train.images[index].to(device), augment.seeds(epoch, index.to(device)))
            logits = teacher(normalize(views, train.mean, train.std)).logits.float()
            probs, classes = F.softmax(logits, -1).topk(k, dim=-1)
            store.write(epoch, index, probs, classes)
        store.flush()  # an interrupted pass keeps every finished epoch
    wait_for_everyone()
    return store


def _teacher_store(path, teacher: torch.nn.Module, num_classes: int, **layout) -> SparseLogitStore:
    """The store a teacher pass writes to (created, or reopened to finish), its ``k`` checked against
    the teacher's ``num_classes``."""
    if layout["k"] > num_classes:
        raise ConfigError(f"k = {layout['k']} is more than the teacher's {num_classes} classes")
    return SparseLogitStore.create(path, num_classes=num_classes, **layout,
                                   teacher=str(getattr(teacher, "model_name", type(teacher).__name__)))


def streamed_views(train: StreamSplit) -> dict:
    """What makes a streamed split's views: its replay seed and its transform (as the store records them)."""
    if train.replay_seed is None:
        raise ConfigError("a store over streamed images needs their views replayed: give the StreamSplit a "
                          "replay_seed (each image's view in each epoch drawn from its own seed)")
    return {"replay_seed": train.replay_seed, "transform": repr(getattr(train.dataset, "transform", None))}


@torch.no_grad()
def record_streamed_logits(teacher: torch.nn.Module, train: StreamSplit, epochs: int, k: int, path: str | Path, *,
                           batch_size: int = 256, device=None) -> SparseLogitStore:
    """The teacher pass over streamed images (ImageNet): every image of ``train``, every epoch, on its
    replayed view (``train.replay_seed``), read by the loader's workers; top-``k`` probabilities written
    to the store at ``path``. Under ``accelerate launch`` each process takes its share; an epoch
    already recorded by every process is skipped when the pass is run again."""
    epochs, train = rehearsal_epochs(epochs), rehearsal_train(train)
    views = streamed_views(train)
    world, rank = int(os.environ.get("WORLD_SIZE", "1")), int(os.environ.get("RANK", "0"))
    device = torch.device(device) if device is not None else process_device()
    teacher.to(device).eval()
    store = None
    idx = torch.arange(len(train.labels)) if train.indices is None else train.indices
    for epoch in range(epochs):
        if store is not None and store.complete(epoch + 1, idx):
            continue
        loader = StreamLoader(train, batch_size, shuffle=False, device=device, rank=rank, world_size=world,
                              drop_last=False)
        loader.set_epoch(epoch)
        for batch in loader:
            probs = F.softmax(teacher(batch.x).logits.float(), -1)
            if store is None:  # the first batch tells the teacher's classes
                store = _teacher_store(path, teacher, probs.shape[-1], epochs=epochs, num_samples=len(train.labels),
                                       k=k, augment=views)
                if store.complete(epoch + 1, idx):
                    break  # recorded before: this epoch is done
            values, classes = probs.topk(k, dim=-1)
            store.write(epoch, batch.index, values, classes)
        store.flush()
    wait_for_everyone()
    return store


def open_or_record(teacher: torch.nn.Module, train: Split, augment: SeededAugment, epochs: int, k: int,
                   path: str | Path) -> tuple[SparseLogitStore, float | None]:
    """The store at ``path`` if it already covers ``epochs`` of ``train``, else the teacher pass
    (resumed where it stopped); with the pass's wall time in seconds, or None when nothing was recorded."""
    epochs, train = rehearsal_epochs(epochs), rehearsal_train(train)  # what a rehearsal's capped runs will read
    idx = torch.arange(len(train.labels)) if train.indices is None else train.indices
    try:
        store = SparseLogitStore(path)
        if store.complete(epochs, idx) and store.meta["k"] == k and store.meta["augment"] == asdict(augment):
            return store, None
    except FileNotFoundError:
        pass
    start = time.perf_counter()
    store = record_sparse_logits(teacher, train, augment, epochs, k, path)
    seconds = time.perf_counter() - start
    if is_main_process():  # kept beside the store, so a chapter that reopens it can still say what it cost
        write_json(Path(path) / PASS, {"seconds": round(seconds, 3), "processes": int(os.environ.get("WORLD_SIZE", "1"))})
    return store, seconds


def pass_seconds(store: SparseLogitStore) -> float | None:
    """The wall time of the teacher pass that recorded ``store`` (None if it was not timed)."""
    path = store.path / PASS
    return json.loads(path.read_text())["seconds"] if path.is_file() else None


@torch.no_grad()
def target_agreement(store: SparseLogitStore, teacher: torch.nn.Module, train: Split, epoch: int = 0,
                     n: int = 1000, k: int | None = None) -> dict:
    """Stored against live targets on the same replayed views (the first ``n`` training samples of
    ``epoch``): the largest difference in any class probability, the mean total-variation distance,
    and how often the top-1 class agrees (%). With K = C the store differs from the live teacher only
    by float16 rounding; with K < C also by the flattened tail."""
    augment = SeededAugment(**store.meta["augment"])
    train = rehearsal_train(train)  # a rehearsal's store covers these only
    idx = (torch.arange(len(train.labels)) if train.indices is None else train.indices)[:n]
    device = device_of(teacher)
    teacher.eval()
    views = augment.apply(train.images[idx].to(device), augment.seeds(epoch, idx.to(device)))
    live = F.softmax(teacher(normalize(views, train.mean, train.std)).logits.float(), -1).cpu()
    stored = store.dense(epoch, idx, k)
    gap = (stored - live).abs()
    return {"samples": len(idx), "max |Δp|": float(gap.max()), "mean total variation": float(gap.sum(-1).mean() / 2),
            "top-1 agreement (%)": 100 * float((stored.argmax(-1) == live.argmax(-1)).float().mean())}


class SparseStoredTeacher(TeacherStore):
    """A teacher read from a :class:`SparseLogitStore`: the log of each sample's rebuilt target
    distribution, for the epoch the engine sets."""

    def __init__(self, store: SparseLogitStore, k: int | None = None):
        super().__init__()
        if k is not None and not 1 <= k <= store.meta["k"]:
            raise ConfigError(f"k = {k}: the store keeps the top {store.meta['k']}, so k must be between 1 and that")
        self.store = store
        self.k = store.meta["k"] if k is None else k
        # in the state dict, so a checkpoint's fingerprint names the store (and the k) it trained from
        self.register_buffer("store_digest", torch.tensor(list(bytes.fromhex(store.digest)), dtype=torch.uint8))
        self.register_buffer("top_k", torch.tensor(self.k))

    def check_run(self, loader_key: str, augment, epochs: int, train) -> None:
        meta = self.store.meta
        if isinstance(train, StreamSplit):
            if train.replay_seed is None or streamed_views(train) != meta["augment"]:
                raise ConfigError(f"the stored logits were recorded on the views {meta['augment']}: train on the "
                                  "same images with the same transform and replay_seed")
        elif not isinstance(augment, SeededAugment) or asdict(augment) != meta["augment"]:
            raise ConfigError(f"the stored logits were recorded on the views of {meta['augment']}: train with "
                              f"kdrepro.data.SeededAugment(**{meta['augment']}) so each sample's view is replayed")
        if epochs > meta["epochs"]:
            raise ConfigError(f"the store covers {meta['epochs']} epochs, the run trains {epochs}: record more")
        if len(train.labels) != meta["num_samples"]:
            raise ConfigError("the store was recorded on another dataset split (a different number of samples)")
        idx = torch.arange(len(train.labels)) if train.indices is None else train.indices
        if not self.store.complete(epochs, idx):
            raise ConfigError("the store misses some of this run's samples or epochs: record it for this training "
                              "set (record_sparse_logits resumes an unfinished pass)")

    def lookup(self, index: Tensor | None) -> ModelOutput:
        if index is None:
            raise ValueError("a SparseStoredTeacher needs the batch's sample indices (batches from BatchLoader)")
        return ModelOutput(self.store.logits(self.epoch, index, self.k, device=index.device))


__all__ = ["SparseLogitStore", "dense_target", "record_sparse_logits", "record_streamed_logits", "streamed_views",
           "open_or_record", "pass_seconds", "target_agreement", "SparseStoredTeacher"]
