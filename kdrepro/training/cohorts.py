"""Networks that learn from each other (Deep Mutual Learning) and their independent twins.

A cohort is a list of zoo names trained together with :class:`~kdrepro.methods.MutualLearning`;
peer ``k`` of a run with seed ``s`` starts from the weights ``create_model(name, seed=peer_seed(s, k))``.
Its *independent twin* is the same network from the same initial weights, trained alone with the
same recipe on the same batches: the two differ only by the mutual term, so the gap between them
is DML's gain. Runs live in ``<runs>/dml/<dataset>/<scale>/`` (cohorts as ``a+b/seed<s>``, twins
as ``alone/<name>-init<k>/seed<s>``) and resume where they stopped.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..data import Augment, get_spec
from ..engine import Split, Trainer, final_metrics
from ..errors import ConfigError
from ..methods import CrossEntropy
from ..methods.mutual_learning import MutualLearning
from ..models import create_model, list_models
from ..paths import runs_root
from ..recipes.dml import DmlRecipe
from ..recipes.dml import recipe as dml_recipe


@dataclass
class CohortRun:
    """One training run: a cohort (several peers) or one network alone."""

    models: tuple[str, ...]
    seed: int
    history: list[dict]
    run_dir: Path

    @property
    def prefixes(self) -> list[str]:
        return [""] + [f"peer{k + 1}_" for k in range(1, len(self.models))]

    def curve(self, k: int = 0) -> list[float]:
        """Peer ``k``'s test accuracy after each epoch."""
        return [r[f"{self.prefixes[k]}test_accuracy"] for r in self.history]

    @property
    def accuracies(self) -> list[float]:
        """Every peer's last-epoch test accuracy (%), in peer order."""
        last = final_metrics(self.history)
        return [last[f"{p}test_accuracy"] for p in self.prefixes]


def peer_seed(seed: int, k: int) -> int:
    """The initial-weights seed of peer ``k`` (0-based) in a run of seed ``seed``."""
    return 1000 * seed + k


def cohort_dir(dataset: str, scale: str, models, seed: int, sequential: bool = True) -> Path:
    tag = "+".join(models) + ("" if sequential else "-simultaneous")
    return runs_root() / "dml" / dataset / scale / tag / f"seed{seed}"


def alone_dir(dataset: str, scale: str, model: str, k: int, seed: int) -> Path:
    return runs_root() / "dml" / dataset / scale / "alone" / f"{model}-init{k}" / f"seed{seed}"


def _check_models(models) -> None:
    unknown = [m for m in models if m not in list_models()]
    if unknown:
        raise ConfigError(f"unknown network(s) {', '.join(unknown)}; valid: {', '.join(list_models())}")


def _fit(distiller, r: DmlRecipe, seed: int, folder: Path, splits: tuple[Split, Split], verbose) -> list[dict]:
    augment = Augment(crop_padding=r.crop_padding, flip=True)
    train, test = splits
    return Trainer(r.config(seed), folder, verbose=verbose).fit(distiller, train, test, augment=augment)


def train_cohort(models, dataset: str, scale: str, seed: int, splits: tuple[Split, Split], *,
                 recipe: DmlRecipe | None = None, sequential: bool = True, verbose: bool | int = True) -> CohortRun:
    """Train (or resume, or reload) ``models`` together with mutual learning."""
    models = tuple(models)
    _check_models(models)
    if len(models) < 2:
        raise ConfigError(f"a cohort needs at least two networks, got {list(models)}")
    r = recipe or dml_recipe(scale)
    classes = get_spec(dataset).num_classes
    peers = [create_model(m, num_classes=classes, seed=peer_seed(seed, k)) for k, m in enumerate(models)]
    folder = cohort_dir(dataset, scale, models, seed, sequential)
    history = _fit(MutualLearning(peers, sequential=sequential), r, seed, folder, splits, verbose)
    return CohortRun(models, seed, history, folder)


def train_alone(model: str, k: int, dataset: str, scale: str, seed: int, splits: tuple[Split, Split], *,
                recipe: DmlRecipe | None = None, verbose: bool | int = True) -> CohortRun:
    """The independent twin of peer ``k`` of a cohort: same network, initial weights, recipe and batches."""
    _check_models([model])
    r = recipe or dml_recipe(scale)
    net = create_model(model, num_classes=get_spec(dataset).num_classes, seed=peer_seed(seed, k))
    folder = alone_dir(dataset, scale, model, k, seed)
    history = _fit(CrossEntropy(net), r, seed, folder, splits, verbose)
    return CohortRun((model,), seed, history, folder)


__all__ = ["CohortRun", "peer_seed", "cohort_dir", "alone_dir", "train_cohort", "train_alone"]
