"""CTKD's ImageNet-1k row, at the full scale of the CTKD chapter: ResNet18 distilled from torchvision's
pretrained ResNet34 by plain KD and by KD + CTKD (the global temperature), with the official script's
recipe (:mod:`kdrepro.recipes.ctkd_imagenet`), on streamed ImageNet; checked against the README's
70.83 % / 71.32 % and their difference."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import torch

from ..checks import Check, check
from ..data.imagenet import crop_flip_transform, eval_transform, num_classes, streamed
from ..data.streaming import StreamSplit
from ..engine import Trainer, is_main_process, process_device
from ..engine.evaluate import evaluate_split
from ..engine.rehearsal import rehearsal_subset
from ..errors import ConfigError
from ..methods import KD
from ..methods.ctkd import CTKD, CurriculumTemperature, GlobalTemperature
from ..models.pretrained import TimmClassifier, pretrained_teacher
from ..paths import runs_root
from ..recipes.ctkd_imagenet import RECIPE, CtkdImageNetRecipe

METHODS = ("kd", "ctkd")
LABELS = {"kd": "KD (τ = 4)", "ctkd": "KD + CTKD (global)"}
PAIR = ("resnet34", "resnet18")


@dataclass
class CtkdImageNet:
    recipe: CtkdImageNetRecipe
    teacher: torch.nn.Module
    teacher_accuracy: float
    splits: tuple[StreamSplit, StreamSplit]  # augmented training images, validation images
    seeds: tuple[int, ...]
    classes: int
    runs: dict[tuple[str, int], tuple[list[dict], Path]] = field(default_factory=dict)

    @property
    def setting(self) -> dict:
        return {"dataset": self.recipe.dataset, "recipe": "ctkd-imagenet", "teacher": PAIR[0], "student": PAIR[1]}

    def run_dirs(self) -> list[Path]:
        return [folder for _, folder in self.runs.values()]

    def describe(self) -> str:
        r = self.recipe
        return (f"ImageNet: {r.teacher} ({self.teacher_accuracy:.2f} % on the validation images) → {r.student}, "
                f"{self.splits[0].size:,} training images, {r.epochs} epochs, batch {r.batch_size}, seeds "
                f"{list(self.seeds)}")


def setup(scale: str, teacher_checkpoint: str | None = None, workers: int | None = None,
          seeds=None) -> CtkdImageNet:
    """The registered ImageNet folder and the pretrained teacher (its validation accuracy measured)."""
    if scale != "full":
        raise ConfigError(f"CTKD's ImageNet row is the full scale's (ResNet34 → ResNet18, 120 epochs), not "
                          f"{scale!r}: run with --scale full")
    r = RECIPE
    workers = r.workers if workers is None else workers
    splits = (streamed(r.dataset, "train", crop_flip_transform(), workers),
              streamed(r.dataset, "val", eval_transform(interpolation="bilinear"), workers))
    classes = num_classes(r.dataset)
    teacher = pretrained_teacher(r.teacher, teacher_checkpoint, num_classes=classes).to(process_device())
    accuracy = evaluate_split(teacher, rehearsal_subset(splits[1]))["accuracy"]
    return CtkdImageNet(r, teacher, accuracy, splits, tuple(seeds if seeds is not None else r.seeds), classes)


def student(name: str, classes: int, seed: int) -> TimmClassifier:
    """timm's ResNet ``name`` as torchvision builds it (residual branches not zero-initialised), seeded."""
    import timm

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return TimmClassifier(timm.create_model(name, num_classes=classes, zero_init_last=False))


def train(ci: CtkdImageNet, method: str, seed: int, verbose: bool | int = True) -> list[dict]:
    """Train (or reload) ``method`` for ``seed``; CTKD's learned temperature is recorded every epoch."""
    if method not in METHODS:
        raise ConfigError(f"unknown method {method!r}; valid: {', '.join(METHODS)}")
    if (method, seed) in ci.runs:
        return ci.runs[(method, seed)][0]
    r = ci.recipe
    weights = {"soft_weight": r.kd_weight, "hard_weight": r.ce_weight}
    if method == "kd":
        distiller, probes = KD(student(r.student, ci.classes, seed), ci.teacher, r.temperature, **weights), None
    else:
        curriculum = CurriculumTemperature(GlobalTemperature(), loops=r.curriculum_epochs)
        distiller = CTKD(student(r.student, ci.classes, seed), ci.teacher, curriculum, **weights)
        probes = {"temperature": lambda d: float(d.temperature.value(None, None).mean())}  # one τ for all
    folder = runs_root() / "ctkd" / r.dataset / "full" / f"{PAIR[0]}-{PAIR[1]}" / method / f"seed{seed}"
    if is_main_process():
        print(f"— {LABELS[method]}, seed {seed}", flush=True)
    history = Trainer(r.config(seed), folder, verbose=verbose).fit(distiller, ci.splits[0], ci.splits[1],
                                                                   probes=probes)
    ci.runs[(method, seed)] = (history, folder)
    return history


def run(ci: CtkdImageNet, verbose: bool | int = True) -> None:
    for seed in ci.seeds:
        for method in METHODS:
            train(ci, method, seed, verbose)


def _histories(ci: CtkdImageNet, method: str) -> list[list[dict]]:
    return [h for (m, _), (h, _) in sorted(ci.runs.items()) if m == method]


def accuracies(ci: CtkdImageNet, method: str) -> list[float]:
    """The last epoch's top-1 of every seed trained with ``method``."""
    return [h[-1]["test_accuracy"] for h in _histories(ci, method)]


def table(ci: CtkdImageNet) -> pd.DataFrame:
    """Ours beside the README's: the last epoch's top-1 (mean over seeds) and the best epoch's."""
    rows = []
    for method, published in zip(METHODS, (70.83, 71.32)):
        last = accuracies(ci, method)
        best = [max(e["test_accuracy"] for e in h) for h in _histories(ci, method)]
        if last:
            rows.append({"method": LABELS[method], "top-1, last epoch (%)": round(statistics.fmean(last), 2),
                         "top-1, best epoch (%)": round(statistics.fmean(best), 2), "seeds": len(last),
                         "README (%)": published})
    return pd.DataFrame(rows).set_index("method")


def checks(ci: CtkdImageNet) -> list[Check]:
    """The README's ImageNet row: KD, KD + CTKD and CTKD's gain, on the means of the last epochs."""
    kd, ctkd = accuracies(ci, "kd"), accuracies(ci, "ctkd")
    if not (kd and ctkd):
        return []
    t, s = PAIR
    kd_mean, ctkd_mean = statistics.fmean(kd), statistics.fmean(ctkd)
    return [check(f"li2023/imagenet/kd/{t}-{s}", kd_mean, scale="full", setting=ci.setting),
            check(f"li2023/imagenet/ctkd/{t}-{s}", ctkd_mean, scale="full", setting=ci.setting),
            check(f"li2023/imagenet/gain/{t}-{s}", ctkd_mean - kd_mean, scale="full", setting=ci.setting)]


__all__ = ["METHODS", "LABELS", "CtkdImageNet", "setup", "train", "run", "accuracies", "table", "checks"]
