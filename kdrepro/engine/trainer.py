"""The training loop, shared by every method.

A :class:`~kdrepro.methods.Distiller` supplies the losses; the :class:`Trainer` owns the rest:
Accelerate set-up, batches, optimiser and schedule, evaluation, logging, and a checkpoint
after every epoch. A method that trains several networks at once (Deep Mutual Learning) names
them in ``Distiller.parts()``: each then gets its own optimiser, schedule and distributed
wrapper, and the method's ``train_step`` decides the order of their updates. Every epoch's
randomness (batch order, augmentation, dropout) is drawn from generators seeded by (seed,
epoch, process), so a run killed at any point and resumed from its last checkpoint ends
exactly where an uninterrupted run with the same seed ends.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
from accelerate.utils import gather_object
from torch import Tensor

from ..data import Augment, BatchLoader
from ..data.loader import mix_seed
from ..data.mixing import BatchMix
from ..data.streaming import StreamLoader, StreamSplit
from ..errors import ConfigError
from ..io import write_json
from ..methods import Distiller, TeacherStore
from . import within_epoch
from .accel import make_accelerator
from .checkpoint import load_checkpoint, save_checkpoint
from .config import TrainConfig
from .evaluate import evaluate_split, method_loss
from .nonfinite import CHECK_EVERY, NonFiniteWatch
from .optim import clip_each_grad_norm_, make_optimizer, param_groups, set_schedule
from .rehearsal import rehearsal_config, rehearsal_subset, rehearsal_train
from .run_lock import run_lock
from .speed import begin_step, compile_mode, compile_step, flush_denormals, speed_switches
from .split import Split

CHECKPOINT = "checkpoint.pt"
HISTORY = "history.json"


@dataclass
class TrainState:
    """What callbacks see: the epoch (0-based), the step within it, and the history so far."""

    epoch: int = 0
    step: int = 0
    global_step: int = 0
    history: list[dict] = field(default_factory=list)
    last_losses: dict[str, Tensor] = field(default_factory=dict)  # detached, on the device: no sync per step
    batch_index: Tensor | None = None  # the dataset indices of the step's batch (this process's share)


Callback = Callable[[str, TrainState, "Trainer"], None]  # event: "step" or "epoch"
Probe = Callable[[Distiller], float]  # a measurement taken after each epoch, kept in the history


def _progress_default() -> bool:
    return sys.stderr.isatty() and not os.environ.get("CI")


class Trainer:
    def __init__(self, config: TrainConfig, run_dir: str | Path | None = None, *, verbose: bool | int = True,
                 progress: bool | None = None, callbacks: list[Callback] = ()):
        self.config = rehearsal_config(config)  # capped to a few steps in a rehearsal, else as given
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.verbose = verbose
        self.progress = _progress_default() if progress is None else progress
        self.callbacks = list(callbacks)
        self.accelerator = make_accelerator(config.mixed_precision)
        self.switches = speed_switches()
        self.state = TrainState()
        self._stores: list[TeacherStore] = []  # the distiller's stored teachers (read by step)

    # -- conveniences ---------------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        return self.accelerator.device

    @property
    def context(self) -> dict:
        """What a checkpoint must share with the process resuming it for the run to stay exact."""
        acc = self.accelerator
        on = {name: True for name, value in self.switches.items() if value}  # (absent when off, as before they existed)
        return {"device": acc.device.type, "mixed_precision": str(acc.mixed_precision), "processes": acc.num_processes,
                **on}

    @property
    def is_main(self) -> bool:
        return self.accelerator.is_main_process

    def _log(self, text: str) -> None:
        """Print on the main process; ``verbose=n`` prints every n-th epoch's line."""
        if self.verbose and self.is_main:
            print(text, flush=True)

    def fingerprint(self, distiller: Distiller, train: Split, augment: Augment | None = None,
                    mix: BatchMix | None = None) -> str:
        """The digest a checkpoint of ``fit(distiller, train, augment=augment, mix=mix)`` records (its
        training split as the fit takes it: capped in a rehearsal)."""
        return run_fingerprint(distiller, rehearsal_train(train), augment, mix)

    # -- the loop -------------------------------------------------------------------------
    def fit(self, distiller: Distiller, train: Split, test: Split | None = None, *,
            augment: Augment | None = None, resume: bool = True, probes: dict[str, Probe] | None = None,
            valid: Split | None = None, mix: BatchMix | None = None) -> list[dict]:
        """Train ``distiller`` for ``config.epochs`` epochs and return the per-epoch history.

        With ``valid``, every epoch is scored on it (``config.monitor``: the student's errors, or
        the method's loss) and the distiller ends with the weights of its best epoch (the earliest
        of equals); each record names that epoch as ``best_epoch``. With ``config.patience`` too,
        training stops once that many epochs pass without a new best (early stopping).

        ``mix`` (Mixup/CutMix, :class:`~kdrepro.data.mixing.BatchMix`) transforms every training
        batch on the device; the labels the method sees are then soft (class probabilities).

        ``probes`` are called with the distiller after each epoch's evaluation; their values are
        recorded as ``probe_<name>`` in that epoch's history record.

        With ``resume`` and a checkpoint in ``run_dir`` from the same recipe, training goes on
        from the epoch after it; a finished run returns its history without training.
        """
        with run_lock(self.run_dir if self.is_main else None):  # one process at a time in a run folder
            return self._fit(distiller, train, test, augment=augment, resume=resume, probes=probes, valid=valid,
                             mix=mix)

    def _fit(self, distiller: Distiller, train: Split, test: Split | None, *, augment: Augment | None, resume: bool,
             probes: dict[str, Probe] | None, valid: Split | None, mix: BatchMix | None) -> list[dict]:
        c, acc = self.config, self.accelerator
        world, rank = acc.num_processes, acc.process_index
        train, test, valid = rehearsal_train(train), rehearsal_subset(test), rehearsal_subset(valid)
        if c.patience is not None and valid is None:
            raise ConfigError("early stopping (patience) needs a validation split: pass valid= to Trainer.fit")
        if c.batch_size % world:
            raise ConfigError(f"batch_size {c.batch_size} does not split evenly over {world} processes: choose "
                              f"a batch_size divisible by {world}, or launch a process count that divides it")
        stored = [m for m in distiller.frozen_modules() if isinstance(m, TeacherStore)]
        if mix is not None and not all(m.on_mixed_batches for m in stored):
            raise ConfigError("a stored teacher holds its outputs for un-mixed images: train with the live teacher "
                              "when mixing (Mixup/CutMix), record the teacher on the run's mixed batches "
                              "(kdrepro.stores.batches.record_batch_topk), or train without mixing")
        for m in stored:  # a store refuses a run whose images it did not see
            m.check_run(loader_key(c, train, augment, world, acc.device, mix), augment, c.epochs, train)
        self._stores = stored
        flush_denormals(acc.device)
        for module in distiller.frozen_modules():
            module.to(acc.device)
        distiller.to(acc.device)
        if self.switches["channels_last"]:  # 4-d weights (and, per step, the images) in NHWC order
            for module in (distiller, *distiller.frozen_modules()):
                module.to(memory_format=torch.channels_last)
        parts = distiller.parts()  # None: the whole distiller is one network with one optimiser
        modules = {"": distiller} if parts is None else dict(parts)
        optimizers = {n: make_optimizer(param_groups(m, c), c) for n, m in modules.items()}
        start_epoch, history, best, within = 0, [], None, None
        fingerprint = self.fingerprint(distiller, train, augment, mix) if self.run_dir else ""  # only checkpoints need it
        checkpoint = load_checkpoint(self.run_dir / CHECKPOINT) if (resume and self.run_dir) else None
        if checkpoint is not None:
            if not _same_recipe(checkpoint["config"], c) or checkpoint.get("fingerprint") != fingerprint:
                raise ConfigError(f"{self.run_dir} holds a checkpoint of a different recipe, method, model or "
                                  "training data: use another "
                                  "run folder, start over with `kdrepro run CHAPTER --fresh`, or pass resume=False")
            if checkpoint["epoch"] + 1 < c.epochs:  # a finished run is only reused, on any set-up
                _check_context(checkpoint.get("context"), self.context, self.run_dir)
            distiller.load_state_dict(checkpoint["model"])
            start_epoch, history = checkpoint["epoch"] + 1, checkpoint["history"]
            best = checkpoint.get("best")
            within = checkpoint.get("within_epoch")  # stopped inside epoch start_epoch (see within_epoch.py)
            if checkpoint.get("stopped"):
                start_epoch = c.epochs
            if start_epoch >= c.epochs:
                self._log(f"already trained: {self.run_dir} ({start_epoch} epochs), reusing it")
            elif within is not None:
                self._log(f"resuming from {self.run_dir / CHECKPOINT} at step {within['step']} of epoch "
                          f"{start_epoch + 1}")
            else:
                self._log(f"resuming from {self.run_dir / CHECKPOINT} after epoch {start_epoch}")
        if world > 1 and distiller.partial_graph:  # else DDP waits forever for the unused gradients
            from accelerate.utils import DistributedDataParallelKwargs
            acc.ddp_handler = DistributedDataParallelKwargs(find_unused_parameters=True)
        wrapped = {}
        for name in modules:  # one distributed wrapper, one optimiser per trained network
            wrapped[name], optimizers[name] = acc.prepare(modules[name], optimizers[name])
        if checkpoint is not None:  # after prepare, which would move Adam's step counters onto the GPU
            _load_optimizers(optimizers, checkpoint["optimizer"], parts is None)
        # torch.compile's mode of the step (None: eager)
        step_mode = compile_mode(self.switches, acc.device, str(acc.mixed_precision))
        wrapped = compile_step(wrapped, step_mode)
        loader = train_loader(c, train, augment, acc.device, rank, world)
        steps = len(loader) if c.max_steps_per_epoch is None else min(len(loader), c.max_steps_per_epoch)
        if steps == 0:
            raise ConfigError(f"the training set ({loader.num_samples} samples) is smaller than one batch of "
                              f"{c.batch_size}: lower batch_size or train on more samples")
        if within is not None and (within["epoch"] != start_epoch or len(within["processes"]) != world):
            within = None  # (a checkpoint inside an epoch is only ever the next epoch's, on as many processes)
        self.state = TrainState(epoch=start_epoch, global_step=start_epoch * steps + (within or {}).get("step", 0),
                                history=history)
        for epoch in range(start_epoch, c.epochs):
            t0 = time.perf_counter()
            self.state.epoch = epoch
            torch.manual_seed(c.seed * 100_003 + epoch * 1_009 + rank)  # dropout etc. of this epoch
            loader.set_epoch(epoch)
            if mix is not None:
                mix.reseed(mix_seed(c.seed, epoch, "mix", rank))
            for m in stored:
                m.set_epoch(epoch)
            distiller.set_epoch(epoch)
            distiller.train()
            for net in wrapped.values():  # the distributed wrappers keep their own mode flag
                net.train()
            if c.bn_eval:  # after every train(), which would switch them back (TinyViT's set_bn_state)
                freeze_batchnorm(distiller.student)

            def save_within(step: int, partial: dict) -> None:  # a checkpoint `step` steps into this epoch
                parts = gather_object([partial])  # every process's sums and generators
                self._end_epoch(distiller, optimizers, epoch - 1, history, fingerprint, best,
                                within={"epoch": epoch, "step": step, "processes": parts})

            resumed = within["step"] if within is not None and epoch == start_epoch else 0
            carried = within["processes"][rank] if resumed else None
            sums = self._train_epoch(wrapped, distiller, optimizers, loader, steps, epoch, mix, resumed, carried,
                                     save_within if self.run_dir is not None else None, step_mode)
            self._sync_buffers(distiller)
            group = next(iter(optimizers.values())).param_groups[0]
            lr = group["lr"] / group.get("lr_scale", 1.0)  # the base lr, whatever the group's layer scale
            record = {"epoch": epoch + 1, "lr": lr, **sums,
                      "time_s": time.perf_counter() - t0, "processes": world}
            if test is not None:
                for prefix, net in {"": distiller.student, **distiller.also_evaluate()}.items():
                    ev = evaluate_split(net, test, accelerator=acc, batch_size=c.eval_batch_size)
                    record.update({f"{prefix}test_{k}": v for k, v in ev.items() if k != "n"})
            if valid is not None:
                record.update(self._validate(distiller, valid))
                if best is None or record["valid_score"] < best["score"]:
                    best = {"epoch": epoch + 1, "score": record["valid_score"],
                            "model": {k: v.detach().to("cpu", copy=True) for k, v in distiller.state_dict().items()}}
                record["best_epoch"] = best["epoch"]
            for name, probe in (probes or {}).items():
                record[f"probe_{name}"] = float(probe(distiller))
            history.append(record)
            stopped = c.patience is not None and epoch + 1 - best["epoch"] >= c.patience and epoch + 1 < c.epochs
            self._end_epoch(distiller, optimizers, epoch, history, fingerprint, best, stopped)
            for cb in self.callbacks:
                cb("epoch", self.state, self)
            every = int(self.verbose)
            if every and ((epoch + 1) % every == 0 or epoch + 1 == c.epochs or stopped):
                self._log(_format(record, c.epochs))
            if stopped:
                self._log(f"early stop after epoch {epoch + 1}: no better validation {c.monitor} for {c.patience} "
                          f"epochs; keeping epoch {best['epoch']}")
                break
        if best is not None:  # the best validation epoch's weights, as pylearn2's MonitorBasedSaveBest keeps them
            distiller.load_state_dict(best["model"])
        return history

    def _validate(self, distiller: Distiller, valid: Split) -> dict:
        """The validation record of one epoch: the student's loss, accuracy and errors, and the
        score early stopping watches (``config.monitor``)."""
        c, acc = self.config, self.accelerator
        ev = evaluate_split(distiller.student, valid, accelerator=acc, batch_size=c.eval_batch_size)
        record = {f"valid_{k}": v for k, v in ev.items() if k != "n"}
        if c.monitor == "loss":
            record["valid_method_loss"] = method_loss(distiller, valid, accelerator=acc, batch_size=c.eval_batch_size)
        record["valid_score"] = float(record["valid_method_loss"] if c.monitor == "loss" else record["valid_errors"])
        return record

    def _train_epoch(self, wrapped: dict, distiller: Distiller, optimizers: dict, loader, steps: int,
                     epoch: int, mix: BatchMix | None = None, first: int = 0, carried: dict | None = None,
                     save_within: Callable[[int, dict], None] | None = None, step_mode: str | None = None) -> dict:
        """One epoch's steps from step ``first`` (with the sums and generators ``carried`` from a
        checkpoint inside it); every ``checkpoint_every`` steps, ``save_within`` checkpoints;
        ``step_mode``: the compiled step's mode (CUDA graphs mark where each step begins)."""
        c, acc = self.config, self.accelerator
        totals: dict[str, Tensor] = {}
        correct = torch.zeros((), device=acc.device)
        also_correct: dict[str, Tensor] = {}
        seen = 0
        if carried is not None:
            totals, also_correct, correct, seen = within_epoch.restore(carried, acc.device)
        batches = iter(loader) if first == 0 else loader.iter_from(first)
        watch = NonFiniteWatch(acc.device)
        bar = None
        if self.progress and self.is_main:
            from tqdm.auto import tqdm
            bar = tqdm(total=steps, desc=f"epoch {epoch + 1}/{c.epochs}", leave=False)
        for step in range(first, steps):
            begin_step(step_mode)
            batch = next(batches)
            if mix is not None:
                batch = mix(batch)
            if self.switches["channels_last"] and isinstance(batch.x, Tensor) and batch.x.dim() == 4:
                batch = batch._replace(x=batch.x.contiguous(memory_format=torch.channels_last))
            set_schedule(optimizers.values(), c, epoch + step / steps)
            for store in self._stores:
                store.set_step(step)

            def update(name: str, losses: dict[str, Tensor]) -> None:
                self._update(wrapped[name], optimizers[name], losses, watch, step, distiller)

            if "" in wrapped:  # one network: forward, then one update
                out, losses = wrapped[""](batch.x, batch.y, batch.index)
                update("", losses)
            else:  # several: the method runs the forwards and calls update() per network
                out, losses = distiller.train_step(wrapped, batch, update)
            distiller.apply_constraints()
            for k, v in losses.items():
                totals[k] = totals.get(k, 0) + v.detach().float()
            if distiller.uses_labels:
                labels = batch.y if batch.y.dim() == 1 else batch.y.argmax(1)  # mixed: the larger share
                correct += (out.logits.argmax(1) == labels).sum()
                for prefix, other in distiller.also_outputs().items():  # e.g. a SharedTeacher's other members
                    also_correct[prefix] = also_correct.get(prefix, 0) + (other.logits.argmax(1) == labels).sum()
            seen += batch.y.numel()
            self.state.step, self.state.global_step = step, self.state.global_step + 1
            if (step + 1) % CHECK_EVERY == 0:
                watch.check(epoch, acc)
            if save_within is not None and c.checkpoint_every and (step + 1) % c.checkpoint_every == 0 \
                    and step + 1 < steps:
                watch.check(epoch, acc)  # never a checkpoint of a run gone non-finite
                save_within(step + 1, within_epoch.capture(totals, also_correct, correct, seen))
            if self.callbacks:
                self.state.last_losses = {k: v.detach() for k, v in losses.items()}
                self.state.batch_index = batch.index
                for cb in self.callbacks:
                    cb("step", self.state, self)
            if bar is not None:
                bar.update(1)
        if bar is not None:
            bar.close()
        watch.check(epoch, acc)
        stacked = torch.stack([totals[k] for k in totals] + [also_correct[k] for k in also_correct]
                              + [correct, torch.tensor(float(seen), device=acc.device)])
        if acc.num_processes > 1:
            stacked = acc.reduce(stacked, reduction="sum")
        values = stacked.tolist()
        n_proc = acc.num_processes
        record = {f"train_{k}": values[i] / (steps * n_proc) for i, k in enumerate(totals)}
        record["train_loss"] = sum(record.values())
        if distiller.uses_labels:  # a self-supervised method's outputs are not class scores
            record["train_accuracy"] = 100.0 * values[-2] / max(values[-1], 1)
            for i, prefix in enumerate(also_correct, start=len(totals)):
                record[f"{prefix}train_accuracy"] = 100.0 * values[i] / max(values[-1], 1)
        return record

    def _update(self, model, optimizer, losses: dict[str, Tensor], watch: NonFiniteWatch, step: int,
                distiller: Distiller) -> None:
        """One optimiser step of one network on the sum of its ``losses``; ``watch`` notes a
        non-finite loss, which stops every process at its next check (the last checkpoint is kept).
        ``distiller`` may edit the gradients before the step (:meth:`Distiller.before_optimizer_step`)."""
        c, acc = self.config, self.accelerator
        loss = sum(losses.values())
        watch.observe(step, loss, losses)
        optimizer.zero_grad(set_to_none=True)
        acc.backward(loss)
        if c.grad_clip is not None and c.clip_per_parameter:
            acc.unscale_gradients(optimizer)  # fp16: the true gradients, as clip_grad_norm_ sees them
            clip_each_grad_norm_(model.parameters(), c.grad_clip)
        elif c.grad_clip is not None:
            acc.clip_grad_norm_(model.parameters(), c.grad_clip)
        distiller.before_optimizer_step()
        optimizer.step()

    def _sync_buffers(self, distiller: Distiller) -> None:
        """Give every process the main process's buffers (BatchNorm running statistics).

        DDP copies them from the main process only as a forward starts, so after an epoch's last
        step each process holds its own; synced, every process evaluates, and returns, the model
        the checkpoint holds."""
        if self.accelerator.num_processes > 1:
            for buffer in distiller.buffers():
                torch.distributed.broadcast(buffer, src=0)

    def _end_epoch(self, distiller: Distiller, optimizers: dict, epoch: int, history: list[dict],
                   fingerprint: str, best: dict | None = None, stopped: bool = False, within: dict | None = None
                   ) -> None:
        """Checkpoint (main process only), then let every process go on together. ``epoch``: the last
        finished one; ``within``: where in the next one this checkpoint is taken (see within_epoch.py)."""
        if self.run_dir is not None and self.is_main:
            states = {n: o.state_dict() for n, o in optimizers.items()}
            state = {"epoch": epoch, "config": self.config.to_dict(), "fingerprint": fingerprint, "context": self.context,
                     "model": distiller.state_dict(), "best": best, "stopped": stopped,
                     "optimizer": states[""] if "" in states else states, "history": history, "within_epoch": within}
            save_checkpoint(self.run_dir / CHECKPOINT, state, keep_previous=True)
            write_json(self.run_dir / HISTORY, history)
        self.accelerator.wait_for_everyone()


def freeze_batchnorm(module: torch.nn.Module) -> None:
    """Every BatchNorm of ``module`` in eval mode: normalising with, and not updating, its running
    statistics (its affine weights still train). TinyViT's ``EVAL_BN_WHEN_TRAINING``."""
    for m in module.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.eval()


def _check_context(saved: dict | None, current: dict, run_dir) -> None:
    """Refuse to resume on another device type, precision or process count: the batches and the
    arithmetic would change mid-run, so it would no longer be the run it started as. (A checkpoint
    written before the context was recorded has none and resumes as before.)"""
    if saved is None or saved == current:
        return
    said = ", ".join(f"{k} {saved.get(k)!r} → {current.get(k)!r}" for k in {**saved, **current}
                     if saved.get(k) != current.get(k))
    raise ConfigError(f"{run_dir} was trained with another set-up ({said}): resuming would change its batches, "
                      "precision or kernels mid-run; resume it as it was trained (a run from before channels-last "
                      "became the default: add --no-channels-last), or start over with `kdrepro run CHAPTER --fresh` "
                      "(or resume=False)")


def _load_optimizers(optimizers: dict, saved, single: bool) -> None:
    """Restore the optimisers' states: one state for a one-network method, one per part otherwise."""
    if single:
        optimizers[""].load_state_dict(saved)
        return
    for name, optimizer in optimizers.items():
        optimizer.load_state_dict(saved[name])


def train_loader(c: TrainConfig, train: Split | StreamSplit, augment: Augment | None, device, rank: int = 0,
                 world: int = 1) -> BatchLoader | StreamLoader:
    """The batches a run of recipe ``c`` trains on (this process's share of them): sliced from the
    device for a tensor ``Split``, decoded by workers for a streamed one (its transform augments)."""
    if isinstance(train, StreamSplit):
        if augment is not None:
            raise ConfigError("a streamed split augments in its own transform: pass augment=None")
        return StreamLoader(train, c.batch_size // world, shuffle=True, seed=c.seed, device=device, rank=rank,
                            world_size=world, drop_last=True)
    return BatchLoader(train.images, train.labels, c.batch_size // world, shuffle=True, augment=augment,
                       mean=train.mean, std=train.std, seed=c.seed, device=device, rank=rank, world_size=world,
                       drop_last=True, indices=train.indices)


def loader_key(c: TrainConfig, train: Split | StreamSplit, augment: Augment | None, world: int, device,
               mix: BatchMix | None = None) -> str:
    """A digest of everything that decides a run's batches: two runs with the same key see the
    same images, augmented (and mixed) the same way, in the same order, epoch after epoch. For a
    streamed split: its transform, workers (each decodes a fixed share of the batches, from its own
    seeded generators), repeated augmentation and replay seed too."""
    h = hashlib.sha256(repr((c.seed, c.batch_size, c.max_steps_per_epoch, augment, world,
                             torch.device(device).type, train.mean, train.std)).encode())
    if isinstance(train, StreamSplit):
        h.update(repr((getattr(train.dataset, "transform", None), train.workers, train.repeats,
                       train.replay_seed)).encode())
    if mix is not None:
        h.update(repr(mix).encode())
    indices = torch.arange(len(train.labels)) if train.indices is None else train.indices
    for tensor in (indices, train.labels):
        h.update(tensor.detach().reshape(-1).cpu().contiguous().view(torch.uint8).numpy().tobytes())
    return h.hexdigest()[:16]


def _same_recipe(saved: dict, config: TrainConfig) -> bool:
    """Whether a checkpoint's recipe is ``config``: a setting added to :class:`TrainConfig` after the
    checkpoint was written counts at its default (which keeps the earlier behaviour); how often it
    checkpoints is not part of the recipe."""
    try:
        return TrainConfig.from_dict(saved).replace(checkpoint_every=None) == config.replace(checkpoint_every=None)
    except ConfigError:  # a setting since removed
        return False


def run_fingerprint(distiller: Distiller, train: Split, augment: Augment | None, mix: BatchMix | None = None) -> str:
    """A digest of what, besides the recipe, makes a run this run: the method and its scalar
    settings, the student (and any frozen teacher's weights or stored logits), the training
    samples and the augmentation. Resuming from a checkpoint with another fingerprint is refused."""
    h = hashlib.sha256()
    settings = {k: v for k, v in vars(distiller).items()
                if k != "training" and isinstance(v, (int, float, str, bool, type(None)))}
    student = distiller.student
    h.update(repr((type(distiller).__name__, sorted(settings.items()), getattr(student, "model_name", None),
                   sorted(getattr(student, "model_kwargs", {}).items()), augment)).encode())
    if mix is not None:  # (only then: the runs from before mixing existed keep their fingerprints)
        h.update(repr(mix).encode())
    indices = torch.arange(len(train.labels)) if train.indices is None else train.indices
    for tensor in (indices, train.labels, *[t for m in distiller.frozen_modules() for t in m.state_dict().values()]):
        h.update(tensor.detach().reshape(-1).cpu().contiguous().view(torch.uint8).numpy().tobytes())
    return h.hexdigest()[:16]


def _format(record: dict, epochs: int) -> str:
    parts = [f"epoch {record['epoch']:>3}/{epochs}", f"loss {record['train_loss']:.4f}"]
    if "train_accuracy" in record:
        parts.append(f"train acc {record['train_accuracy']:.2f}%")
    if "test_accuracy" in record:
        parts.append(f"test acc {record['test_accuracy']:.2f}% ({record['test_errors']} errors)")
    parts.append(f"{record['time_s']:.1f}s")
    return " | ".join(parts)


def final_metrics(history: list[dict]) -> dict:
    """The last epoch's record (the papers in this book report last-epoch numbers)."""
    if not history:
        raise ValueError("empty history: nothing was trained")
    return dict(history[-1])


__all__ = ["Trainer", "Split", "TrainState", "final_metrics"]
