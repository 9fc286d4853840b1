"""Teachers: trained once with a recipe, saved with their accuracy, loaded by name.

A teacher lives in ``<runs>/teachers/<dataset>/<scale>/<model>-seed<k>/``: its training run
(checkpoint and history, so an interrupted run resumes) and ``teacher.pt``, the final model
with its accuracy, recipe and the code it was trained with. Chapters call
:func:`get_teacher`; with ``mode="load"`` a missing teacher is an error that gives the
command to train it — a chapter never trains a teacher it was told to load.
"""

from __future__ import annotations

import datetime as _dt
import json
from dataclasses import dataclass
from pathlib import Path

import torch.nn as nn

from ..data import Augment, get_spec, load
from ..data.loader import subset_indices
from ..engine import Split, Trainer, final_metrics, load_model, save_model
from ..errors import ConfigError, KdreproError
from ..methods import CrossEntropy
from ..models import create_model
from ..paths import runs_root
from ..provenance import git_commit
from ..recipes.cifar import recipe as cifar_recipe

TEACHER_FILE = "teacher.pt"
MODES = ("load", "train")


class TeacherMissingError(KdreproError):
    """A chapter was told to load a teacher that has not been trained."""


@dataclass
class Teacher:
    model: nn.Module
    info: dict  # accuracy, dataset, scale, seed, recipe, commit, date
    path: Path

    @property
    def accuracy(self) -> float:
        return self.info["test_accuracy"]


def teacher_dir(model: str, dataset: str, scale: str, seed: int = 0) -> Path:
    return runs_root() / "teachers" / dataset / scale / f"{model}-seed{seed}"


def train_command(model: str, dataset: str, scale: str, seed: int = 0) -> str:
    return f"kdrepro teacher train {model} --dataset {dataset} --scale {scale} --seed {seed}"


def load_splits(dataset: str, train_subset: int | None = None, test_subset: int | None = None) -> tuple[Split, Split]:
    """The dataset's train and test splits, each optionally a fixed subset."""
    spec = get_spec(dataset)
    train_x, train_y = load(dataset, "train")
    test_x, test_y = load(dataset, "test")
    return (Split(train_x, train_y, spec.mean, spec.std, subset_indices(len(train_y), train_subset)),
            Split(test_x, test_y, spec.mean, spec.std, subset_indices(len(test_y), test_subset)))


def train_teacher(model: str, dataset: str, scale: str, seed: int = 0, *, verbose: bool | int = True) -> Teacher:
    """Train ``model`` on ``dataset`` with the CIFAR recipe of ``scale`` (resuming if interrupted)
    and save it with its last-epoch test accuracy."""
    r = cifar_recipe(scale)
    spec = get_spec(dataset)
    out = teacher_dir(model, dataset, scale, seed)
    train, test = load_splits(dataset, r.train_subset, r.test_subset)
    net = create_model(model, num_classes=spec.num_classes, seed=seed)
    history = Trainer(r.teacher_config(seed), out / "run", verbose=verbose).fit(
        CrossEntropy(net), train, test, augment=Augment(crop_padding=r.crop_padding, flip=True))
    last = final_metrics(history)
    commit, dirty = git_commit()
    info = {"model": model, "dataset": dataset, "scale": scale, "seed": seed,
            "test_accuracy": last["test_accuracy"], "epochs": len(history),
            "recipe": r.teacher_config(seed).to_dict(), "train_subset": r.train_subset,
            "training_time_s": round(sum(h["time_s"] for h in history), 1),
            "commit": commit, "dirty": dirty, "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}
    path = save_model(net, out / TEACHER_FILE, **info)
    return Teacher(net.eval(), info, path)


def load_teacher(model: str, dataset: str, scale: str, seed: int = 0) -> Teacher:
    path = teacher_dir(model, dataset, scale, seed) / TEACHER_FILE
    if not path.is_file():
        raise TeacherMissingError(
            f"no {scale} teacher {model} (seed {seed}) on {dataset} in {path.parent}. Train it with "
            f"`{train_command(model, dataset, scale, seed)}`, or run the chapter with teacher_mode='train'")
    net, info = load_model(path)
    return Teacher(net, info, path)


def get_teacher(model: str, dataset: str, scale: str, seed: int = 0, mode: str = "train",
                verbose: bool | int = True) -> Teacher:
    """``mode="load"``: the saved teacher or an error; ``"train"``: the saved one, else train it now."""
    if mode not in MODES:
        raise ConfigError(f"unknown teacher_mode {mode!r}; valid: {', '.join(MODES)}")
    try:
        return load_teacher(model, dataset, scale, seed)
    except TeacherMissingError:
        if mode == "load":
            raise
    return train_teacher(model, dataset, scale, seed, verbose=verbose)


def list_teachers() -> list[dict]:
    """Every saved teacher's info (model, dataset, scale, seed, accuracy, …) and path."""
    found = []
    for path in sorted((runs_root() / "teachers").glob(f"*/*/*/{TEACHER_FILE}")):
        info = json.loads(json.dumps(load_model(path)[1], default=str))
        found.append({**info, "path": str(path)})
    return found
