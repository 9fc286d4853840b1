"""Teacher-Assistant KD: distillation through a chain, teacher → assistant(s) → student.

Every step of a chain is ordinary KD from the previous model, ``(1 − λ) · CE + λ · T² · KL``
(:class:`~kdrepro.methods.KD` with ``soft_weight = λ``). A *chain* is a tuple of zoo names, the
last one trained: ``("plain10",)`` is plain10 trained alone, ``("plain10", "plain4", "plain2")``
is plain2 taught by plain4, itself taught by plain10. The recipe has no data augmentation (as the
authors'), so each teacher's logits are computed once over the training images, stored beside
it, and looked up by index: a step costs what training the student alone costs.

λ and T are chosen on a held-out part of the training set — never on the test set — from the
recipe's grid, by last-epoch held-out accuracy; the test set is read only to report. Runs live in
``<runs>/takd/<dataset>/<scale>/<chain>/<λ,T>/seed<k>/`` and resume where they stopped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn as nn

from ..data import DatasetSpec, choose_dataset, get_spec
from ..engine import Split, Trainer, evaluate, final_metrics, is_main_process, predict_logits
from ..errors import ConfigError
from ..io import atomic_write
from ..methods import KD, CrossEntropy, StoredTeacher
from ..models import create_model, list_models
from ..paths import runs_root
from ..recipes.takd import TakdRecipe
from ..recipes.takd import recipe as takd_recipe
from .teachers import load_splits

Chain = tuple[str, ...]


@dataclass
class StepRun:
    """One trained model of a chain: its KD setting (None when trained alone) and accuracies."""

    chain: Chain
    seed: int
    lam: float | None
    temperature: float | None
    model: nn.Module
    history: list[dict]  # per epoch; "test_*" here is the held-out part of the training set
    folder: Path
    test_accuracy: float

    @property
    def heldout_accuracy(self) -> float:
        return final_metrics(self.history)["test_accuracy"]


@dataclass
class TakdSetup:
    scale: str
    recipe: TakdRecipe
    dataset: str
    spec: DatasetSpec
    seeds: tuple[int, ...]
    train: Split  # the training images minus the held-out part
    heldout: Split
    test: Split
    runs: dict[tuple[Chain, int, float | None, float | None], StepRun] = field(default_factory=dict)
    chosen: dict[tuple[Chain, int], tuple[float, float]] = field(default_factory=dict)  # (step's chain, seed) → (λ, T)

    @property
    def setting(self) -> dict:
        return {"dataset": self.spec.comparable_to or self.dataset,
                "recipe": "takd-200" if self.scale == "full" else f"kdrepro-{self.scale}",
                "comparison": "same student, data and recipe"}

    def run_dirs(self) -> list[Path]:
        return [r.folder for r in self.runs.values()]

    def describe(self) -> str:
        r = self.recipe
        lossy = " (a lossy JPEG copy of CIFAR-10: close to, not equal to, CIFAR-10)" if self.spec.lossy else ""
        n_train = self.train.size
        return "\n".join([
            f"{self.scale} scale on {self.dataset}{lossy}",
            f"teacher {r.teacher}, assistants {', '.join(r.assistants)}, student {r.student}; "
            f"gap curve over teachers {', '.join(r.gap_teachers)}",
            f"{r.epochs} epochs on {n_train:,} training images; (λ, T) chosen on {len(self.heldout.indices):,} "
            f"held-out training images from {len(r.grid)} candidates "
            + ("for every step" if r.tune_each_pair else f"once, on {r.teacher} → {r.student}"),
            f"seeds {list(self.seeds)}"])


def split_holdout(train: Split, n: int) -> tuple[Split, Split]:
    """The training split without its last ``n`` samples (of a fixed shuffle), and those ``n``."""
    idx = torch.arange(len(train.labels)) if train.indices is None else train.indices
    if not 0 < n < len(idx):
        raise ConfigError(f"cannot hold out {n} of {len(idx)} training images: choose 0 < holdout < {len(idx)}")
    order = idx[torch.randperm(len(idx), generator=torch.Generator().manual_seed(1))]
    keep, held = order[:-n].sort().values, order[-n:].sort().values
    as_split = lambda i: Split(train.images, train.labels, train.mean, train.std, i)  # noqa: E731
    return as_split(keep), as_split(held)


def setup(scale: str, dataset: str | None = None, seeds=None, teacher: str | None = None,
          assistants=None, student: str | None = None, grid=None) -> TakdSetup:
    """Pick the data and the family; the recipe's choices unless overridden (``grid``: the (λ, T)
    candidates the held-out images choose from)."""
    r = takd_recipe(scale)
    dataset = choose_dataset(scale, dataset, r.datasets)
    names = [teacher or r.teacher, *(assistants or r.assistants), student or r.student]
    unknown = [n for n in names if n not in list_models()]
    if unknown:
        raise ConfigError(f"unknown network(s) {', '.join(unknown)}; valid: {', '.join(list_models())}")
    if teacher or assistants or student:
        from dataclasses import replace
        r = replace(r, teacher=names[0], assistants=tuple(names[1:-1]), student=names[-1])
    if grid is not None:
        pairs = tuple((float(lam), float(t)) for lam, t in grid)
        if not pairs or any(not 0 <= lam <= 1 or t <= 0 for lam, t in pairs):
            raise ConfigError(f"grid must list (λ, T) pairs with 0 ≤ λ ≤ 1 and T > 0, e.g. [[0.5, 2.0]], not {grid!r}")
        from dataclasses import replace
        r = replace(r, grid=pairs)
    train, test = load_splits(dataset, r.train_subset, r.test_subset)
    train, heldout = split_holdout(train, r.holdout)
    return TakdSetup(scale, r, dataset, get_spec(dataset), tuple(seeds if seeds is not None else r.seeds),
                     train, heldout, test)


def step_dir(ts: TakdSetup, chain: Chain, seed: int, lam: float | None, temperature: float | None) -> Path:
    tag = "alone" if lam is None else f"lam{lam:g}-T{temperature:g}"
    return runs_root() / "takd" / ts.dataset / ts.scale / ">".join(chain) / tag / f"seed{seed}"


def _say(text: str) -> None:
    if is_main_process():
        print(text, flush=True)


def _stored_logits(ts: TakdSetup, teacher: StepRun) -> StoredTeacher:
    """The teacher's logits on the training images, computed once and kept beside its run (reused
    bit for bit, so a resumed student sees exactly the targets it started with)."""
    path = teacher.folder / "train_logits.pt"
    if path.is_file():
        return StoredTeacher(torch.load(path, weights_only=True))
    idx = torch.arange(len(ts.train.labels)) if ts.train.indices is None else ts.train.indices
    logits = torch.zeros(len(ts.train.labels), ts.spec.num_classes)  # looked up by index: only idx is ever read
    logits[idx] = predict_logits(teacher.model, ts.train.images, ts.train.labels, mean=ts.train.mean,
                                 std=ts.train.std, indices=idx)
    if is_main_process():
        atomic_write(path, lambda f: torch.save(logits, f))
    return StoredTeacher(logits)


def train_step(ts: TakdSetup, chain: Chain, seed: int, lam: float | None = None, temperature: float | None = None,
               verbose: bool | int = False) -> StepRun:
    """Train (or reload) the last model of ``chain``: alone for a one-model chain, else by KD at
    (λ, T) from the chain's previous model (which must have been trained)."""
    key = (chain, seed, lam, temperature)
    if key in ts.runs:
        return ts.runs[key]
    model = create_model(chain[-1], num_classes=ts.spec.num_classes, seed=seed)
    if len(chain) == 1:
        distiller = CrossEntropy(model)
    else:
        distiller = KD(model, _stored_logits(ts, teacher_run(ts, chain[:-1], seed)), temperature, lam, 1 - lam)
    folder = step_dir(ts, chain, seed, lam, temperature)
    history = Trainer(ts.recipe.config(chain[-1], seed), folder, verbose=verbose).fit(distiller, ts.train, ts.heldout)
    test = evaluate(model, ts.test.images, ts.test.labels, mean=ts.test.mean, std=ts.test.std,
                    indices=ts.test.indices)["accuracy"]
    run = StepRun(chain, seed, lam, temperature, model.eval(), history, folder, test)
    ts.runs[key] = run
    return run


def teacher_run(ts: TakdSetup, chain: Chain, seed: int, verbose: bool | int = False) -> StepRun:
    """The trained run of ``chain`` (trained first if needed): alone, or distilled at its chosen (λ, T)."""
    if len(chain) == 1:
        return train_step(ts, chain, seed, verbose=verbose)
    return distill(ts, chain, seed, verbose)


def _global_choice(ts: TakdSetup, seed: int, verbose: bool | int = False) -> tuple[float, float]:
    """The (λ, T) chosen on teacher → student, for recipes that tune once."""
    key = ((ts.recipe.teacher, ts.recipe.student), seed)
    if key not in ts.chosen:
        distill(ts, key[0], seed, verbose)
    return ts.chosen[key]


def distill(ts: TakdSetup, chain: Chain, seed: int, verbose: bool | int = False) -> StepRun:
    """KD along ``chain`` (every earlier step trained first), its last step at the chosen (λ, T):
    the grid is searched on the held-out images for this step, or once on teacher → student
    when the recipe does not tune every pair."""
    if len(chain) < 2:
        raise ConfigError(f"a distillation chain needs a teacher and a student, got {list(chain)}")
    teacher_run(ts, chain[:-1], seed, verbose)
    r = ts.recipe
    if (chain, seed) not in ts.chosen:
        if r.tune_each_pair or chain == (r.teacher, r.student):
            _say(f"— choosing (λ, T) for {' → '.join(chain)}, seed {seed}, on the held-out images")
            candidates = [train_step(ts, chain, seed, lam, t, verbose) for lam, t in r.grid]
            best = max(candidates, key=lambda run: run.heldout_accuracy)  # ties: the first in the grid
            ts.chosen[(chain, seed)] = (best.lam, best.temperature)
        else:
            ts.chosen[(chain, seed)] = _global_choice(ts, seed, verbose)
    lam, t = ts.chosen[(chain, seed)]
    return train_step(ts, chain, seed, lam, t, verbose)


def grid_table(ts: TakdSetup, chain: Chain, seed: int):
    """Held-out and test accuracy of every (λ, T) tried for ``chain`` (the chosen one marked)."""
    import pandas as pd

    rows = []
    chosen = ts.chosen.get((chain, seed))
    for (c, s, lam, t), run in sorted(ts.runs.items(), key=lambda kv: (kv[0][2] or 0, kv[0][3] or 0)):
        if c == chain and s == seed and lam is not None:
            rows.append({"λ": lam, "T": t, "held-out accuracy": round(run.heldout_accuracy, 2),
                         "test accuracy": round(run.test_accuracy, 2), "chosen": "✔" if (lam, t) == chosen else ""})
    return pd.DataFrame(rows)


__all__ = ["Chain", "StepRun", "TakdSetup", "setup", "split_holdout", "train_step", "distill", "teacher_run",
           "grid_table"]
