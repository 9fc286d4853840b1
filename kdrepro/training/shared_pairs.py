"""Several methods of one pair and seed trained in one pass: one teacher forward per batch for all.

Trained one at a time, KD, FitNet, AT and CTKD each pay for the teacher's forward pass at every step —
on the CRD pairs, most of a step's arithmetic. :func:`train_sharing_teacher` trains the missing
ones together under :class:`~kdrepro.methods.SharedTeacher` (the same seed, batches, recipe and
initial weights as alone; their losses summed, so each student gets exactly its own gradient) and
then writes each one's finished run into the folder it would have trained in alone. The next
:func:`~kdrepro.training.pairs.train_pair` of that method finds it finished and reuses it, so the
chapters, the book and a later single-method run see one kind of run whichever way it was trained.
Only the epoch times (``time_s``, the shared pass's) and the ``shared_pass`` that names the pass tell
them apart: a chapter summing its training time counts each pass once, not once per member.
"""

from __future__ import annotations

from pathlib import Path

import torch.nn as nn

from ..data import Augment, get_spec
from ..engine import Trainer, TrainConfig, is_main_process, wait_for_everyone
from ..engine.checkpoint import load_checkpoint, save_checkpoint
from ..engine.optim import make_optimizer, param_groups
from ..engine.trainer import CHECKPOINT, HISTORY
from ..io import write_json
from ..methods import SharedTeacher
from ..models import create_model
from ..paths import runs_root
from ..recipes.cifar import CifarRecipe
from ..recipes.cifar import recipe as cifar_recipe
from .pairs import LABELS, ONE_STAGE, one_stage_distiller, one_stage_probes, probe_batch, run_dir
from .teachers import Teacher, load_splits

SAME_FOR_ALL = ("epoch", "lr", "time_s", "processes")  # history keys every member shares
SHARED_PASS = "shared_pass"  # history key: the pass a member trained in (its folder, relative to the runs root)


def train_sharing_teacher(methods, student_name: str, teacher: Teacher, dataset: str, scale: str, seed: int = 0,
                          *, recipe: CifarRecipe | None = None, verbose: bool | int = True) -> list[str]:
    """Train together those of ``methods`` that can share the teacher (``ONE_STAGE``) and have no run
    of their own yet (a started run resumes alone); returns them, or [] when fewer than two remain."""
    r = recipe or cifar_recipe(scale)
    t_name = teacher.info["model"]

    def own_folder(method: str) -> Path:
        return run_dir(dataset, scale, student_name, method, t_name, seed) / "train"

    todo = [m for m in dict.fromkeys(methods) if m in ONE_STAGE and not (own_folder(m) / CHECKPOINT).is_file()]
    if len(todo) < 2:
        return []
    spec = get_spec(dataset)
    train, test = load_splits(dataset, r.train_subset, r.test_subset)
    augment = Augment(crop_padding=r.crop_padding, flip=True)
    folder = run_dir(dataset, scale, student_name, "shared_" + "+".join(todo), t_name, seed) / "train"
    members = {m: one_stage_distiller(m, create_model(student_name, num_classes=spec.num_classes, seed=seed),
                                      teacher.model, r, spec, seed) for m in todo}
    trainer = Trainer(r.student_config(student_name, seed), folder, verbose=verbose)
    fingerprints = {m: trainer.fingerprint(d, train, augment) for m, d in members.items()}  # as alone: before sharing
    probe_x = probe_batch(test)
    probes = {f"{m}/{name}": probe for m, d in members.items()
              for name, probe in one_stage_probes(d, teacher.model, probe_x).items()}
    shared = SharedTeacher(teacher.model, members)
    if is_main_process():
        print(f"— {' + '.join(LABELS[m] for m in todo)} with one teacher forward, seed {seed}", flush=True)
    history = trainer.fit(shared, train, test, augment=augment, probes=probes)
    if is_main_process():
        optimizer = load_checkpoint(folder / CHECKPOINT)["optimizer"]
        for i, (method, member) in enumerate(members.items()):
            state = {"epoch": len(history) - 1, "config": trainer.config.to_dict(), "fingerprint": fingerprints[method],
                     "context": trainer.context, "model": member.state_dict(), "best": None, "stopped": False,
                     "optimizer": member_optimizer_state(shared, member, optimizer, trainer.config),
                     "history": member_history(history, method, first=i == 0,
                                               shared_pass=folder.relative_to(runs_root()).as_posix())}
            save_checkpoint(own_folder(method) / CHECKPOINT, state)
            write_json(own_folder(method) / HISTORY, state["history"])
    wait_for_everyone()
    return todo


def member_history(history: list[dict], method: str, first: bool, shared_pass: str = "") -> list[dict]:
    """One member's history as its run alone records it: its own losses (and their sum), its
    training and test accuracy; the epoch, learning rate and time are the shared pass's, which
    each row names (``shared_pass``) so that the pass's time is counted once for all members."""
    prefix = "" if first else f"{method}/"  # the first member is the engine's ``student``: unprefixed
    own_losses = f"train_{method}/"
    out = []
    for record in history:
        row = {k: record[k] for k in SAME_FOR_ALL if k in record}
        if shared_pass:
            row[SHARED_PASS] = shared_pass
        losses = {f"train_{k[len(own_losses):]}": v for k, v in record.items() if k.startswith(own_losses)}
        row.update(losses)
        row["train_loss"] = sum(losses.values())
        if f"{prefix}train_accuracy" in record:
            row["train_accuracy"] = record[f"{prefix}train_accuracy"]
        for key, value in record.items():
            name = key[len(prefix):] if key.startswith(prefix) else ""
            if name.startswith("test_") and "/" not in name:
                row[name] = value
            elif key.startswith(f"probe_{method}/"):
                row[f"probe_{key[len(f'probe_{method}/'):]}"] = value
        out.append(row)
    return out


def member_optimizer_state(shared: nn.Module, member: nn.Module, saved: dict, c: TrainConfig) -> dict:
    """The shared optimiser's state of ``member``'s parameters, as the optimiser of its run alone
    holds it (its parameters numbered in its own order)."""
    def flat(groups) -> list:
        return [p for g in groups for p in (g["params"] if isinstance(g, dict) else [g])]

    where = {id(p): i for i, p in enumerate(flat(param_groups(shared, c)))}
    own = flat(param_groups(member, c))
    state = make_optimizer(param_groups(member, c), c).state_dict()
    state["state"] = {j: saved["state"][where[id(p)]] for j, p in enumerate(own) if where[id(p)] in saved["state"]}
    return state


__all__ = ["train_sharing_teacher", "member_history", "SHARED_PASS"]
