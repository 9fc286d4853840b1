"""What the Deep Mutual Learning chapter runs and checks: cohorts, their independent twins,
Table 2 of the paper (CIFAR-100) beside ours, the gain, and the "more peers" experiment (the paper's is
on Market-1501, mAP of MobileNet cohorts; ours is a CIFAR analogue)."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

import pandas as pd

from ..checks import Check, check, check_claim, check_improvement, is_published, not_measured
from ..checks.published import DML_TABLE2
from ..training.cohorts import CohortRun, train_alone, train_cohort
from ..data import DatasetSpec, choose_dataset, get_spec
from ..engine import Split, is_main_process
from ..errors import ConfigError
from ..models import list_models
from ..recipes.dml import DmlRecipe
from ..recipes.dml import recipe as dml_recipe
from ..training.teachers import load_splits


@dataclass
class DmlSetup:
    scale: str
    recipe: DmlRecipe
    dataset: str
    spec: DatasetSpec
    pairs: tuple[tuple[str, str], ...]
    peer_counts: tuple[int, ...]
    seeds: tuple[int, ...]
    sequential: bool = True
    splits: tuple[Split, Split] | None = None
    cohorts: dict[tuple[tuple[str, ...], int], CohortRun] = field(default_factory=dict)
    alone: dict[tuple[str, int, int], CohortRun] = field(default_factory=dict)  # (model, peer k, seed)

    @property
    def setting(self) -> dict:
        return {"dataset": self.spec.comparable_to or self.dataset,
                "recipe": "dml-200" if self.scale == "full" else f"kdrepro-{self.scale}",
                "comparison": "same networks, initial weights, data and recipe"}

    @property
    def count_model(self) -> str:
        """The network the "more peers" cohorts are made of (the first pair's first network)."""
        return self.pairs[0][0]

    def cohort_list(self) -> list[tuple[str, ...]]:
        """Every cohort to train: the pairs, then ``K`` copies of ``count_model`` for each peer count."""
        out = [tuple(p) for p in self.pairs]
        out += [(self.count_model,) * k for k in self.peer_counts if (self.count_model,) * k not in out]
        return out

    def run_dirs(self) -> list:
        return [r.run_dir for r in (*self.cohorts.values(), *self.alone.values())]

    def describe(self) -> str:
        r = self.recipe
        data = f"{self.scale} scale on {self.dataset}" + (
            " (a lossy JPEG copy of CIFAR-10: close to, not equal to, CIFAR-10)" if self.spec.lossy else "")
        return "\n".join([
            data, f"pairs: {', '.join(' + '.join(p) for p in self.pairs)}; "
                  f"cohorts of {', '.join(map(str, self.peer_counts))} × {self.count_model}",
            f"{r.epochs} epochs on {'all' if r.train_subset is None else f'{r.train_subset:,} of the'} training images, "
            f"{'sequential updates (Algorithm 1)' if self.sequential else 'simultaneous updates'}",
            f"seeds {list(self.seeds)}"])


def setup(scale: str, pairs=None, peer_counts=None, dataset: str | None = None, seeds=None,
          sequential: bool = True) -> DmlSetup:
    """Pick the data (the first prepared of the scale's datasets) and what to train."""
    r = dml_recipe(scale)
    dataset = choose_dataset(scale, dataset, r.datasets)
    pairs = tuple(tuple(p) for p in (pairs or r.pairs))
    if any(len(p) < 2 for p in pairs):
        raise ConfigError(f"every cohort in pairs needs two or more networks, got {[list(p) for p in pairs]}")
    unknown = sorted({m for p in pairs for m in p} - set(list_models()))
    if unknown:
        raise ConfigError(f"unknown network(s) {', '.join(unknown)}; valid: {', '.join(list_models())}")
    counts = tuple(peer_counts if peer_counts is not None else r.peer_counts)
    if any(k < 2 for k in counts):
        raise ConfigError(f"peer_counts are cohort sizes of two or more, got {list(counts)}")
    return DmlSetup(scale, r, dataset, get_spec(dataset), pairs, counts,
                    tuple(seeds if seeds is not None else r.seeds), sequential)


def run(ds: DmlSetup, verbose: bool | int = True) -> None:
    """Train (or reload) every cohort and every peer's independent twin, for every seed."""
    if ds.splits is None:
        ds.splits = load_splits(ds.dataset, ds.recipe.train_subset, ds.recipe.test_subset)
    for seed in ds.seeds:
        for models in ds.cohort_list():
            if (models, seed) not in ds.cohorts:
                _say(f"— DML {' + '.join(models)}, seed {seed}")
                ds.cohorts[(models, seed)] = train_cohort(models, ds.dataset, ds.scale, seed, ds.splits,
                                                          recipe=ds.recipe, sequential=ds.sequential,
                                                          verbose=verbose)
            for k, model in enumerate(models):
                if (model, k, seed) not in ds.alone:
                    _say(f"— {model} alone (twin of peer {k + 1}), seed {seed}")
                    ds.alone[(model, k, seed)] = train_alone(model, k, ds.dataset, ds.scale, seed, ds.splits,
                                                             recipe=ds.recipe, verbose=verbose)


def _say(text: str) -> None:
    if is_main_process():
        print(text, flush=True)


def mean_std(values) -> tuple[float, float]:
    values = list(values)
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def peer_accuracies(ds: DmlSetup, models: tuple[str, ...], k: int) -> tuple[list[float], list[float]]:
    """Peer ``k`` of cohort ``models``: (its DML accuracies, its twin's), one per seed."""
    dml = [ds.cohorts[(models, s)].accuracies[k] for s in ds.seeds]
    alone = [ds.alone[(models[k], k, s)].accuracies[0] for s in ds.seeds]
    return dml, alone


def _fmt(values: list[float]) -> str:
    mu, sd = mean_std(values)
    return f"{mu:.2f} ± {sd:.2f}" if len(values) > 1 else f"{mu:.2f}"


def summary_table(ds: DmlSetup) -> pd.DataFrame:
    """Each network of each pair: alone, with DML, the gain (mean ± std over seeds), and the paper's."""
    rows = []
    for models in ds.pairs:
        published = DML_TABLE2.get(tuple(models))
        for k, net in enumerate(models):
            dml, alone = peer_accuracies(ds, models, k)
            gains = [a - b for a, b in zip(dml, alone)]
            rows.append({"pair": " + ".join(models), "network": f"{k + 1}: {net}", "alone": _fmt(alone),
                         "DML": _fmt(dml), "gain": _fmt(gains),
                         "paper alone → DML (CIFAR-100)": "—" if published is None or k > 1
                         else f"{published[k]:.2f} → {published[2 + k]:.2f}"})
    return pd.DataFrame(rows).set_index(["pair", "network"])


def peers_table(ds: DmlSetup) -> pd.DataFrame:
    """Mean accuracy of the networks against the cohort size (1: the independent twins)."""
    m = ds.count_model
    rows = []
    for size in (1, *ds.peer_counts):
        if size == 1:
            values = [ds.alone[(m, 0, s)].accuracies[0] for s in ds.seeds]
        else:
            values = [statistics.fmean(ds.cohorts[((m,) * size, s)].accuracies) for s in ds.seeds]
        mu, sd = mean_std(values)
        rows.append({"networks": size, "mean accuracy": round(mu, 2), "std over seeds": round(sd, 2)})
    return pd.DataFrame(rows).set_index("networks")


def checks(ds: DmlSetup) -> list[Check]:
    """Table 2 (absolute and gain) for every pair trained, "not measured" for the others, and the claims."""
    out = []
    for models in ds.pairs:
        pair = "-".join(models)
        if not is_published(f"zhang2018/cifar100/dml/{pair}/net1"):
            continue
        for k, net in enumerate(models):
            dml, alone = peer_accuracies(ds, models, k)
            setting = {**ds.setting, "pair": pair}
            out.append(check(f"zhang2018/cifar100/dml/{pair}/net{k + 1}", mean_std(dml)[0], scale=ds.scale,
                             setting=setting))
            out.append(check(f"zhang2018/cifar100/gain/{pair}/net{k + 1}",
                             mean_std(a - b for a, b in zip(dml, alone))[0], scale=ds.scale, setting=setting))
            key = f"zhang2018/cifar100/independent/{net}"
            if key not in {c.key for c in out}:
                out.append(check(key, mean_std(alone)[0], scale=ds.scale, setting={**ds.setting, "model": net}))
    done = {c.key for c in out}
    why = f"pair not trained in this run ({ds.scale} scale: {', '.join(' + '.join(p) for p in ds.pairs)})"
    for (a, b) in DML_TABLE2:
        keys = [f"zhang2018/cifar100/{kind}/{a}-{b}/net{k}" for kind in ("dml", "gain") for k in (1, 2)]
        keys += [f"zhang2018/cifar100/independent/{n}" for n in (a, b)]
        for key in keys:
            if key not in done:
                done.add(key)
                out.append(not_measured(key, why))
    return [*claim_checks(ds), *out]


def claim_checks(ds: DmlSetup) -> list[Check]:
    """DML beats training alone — per pair, the DML networks against their twins over every seed,
    judged against the seeds' spread (a pair of one architecture pools its networks: each is a
    sample of the same experiment) — and more peers, higher accuracy."""
    out = []
    for models in ds.pairs:
        dml = [a for k in range(len(models)) for a in peer_accuracies(ds, models, k)[0]]
        alone = [a for k in range(len(models)) for a in peer_accuracies(ds, models, k)[1]]
        if len(set(models)) > 1:  # different networks: the mean gain per network, not a pooled spread
            dml = [statistics.fmean(peer_accuracies(ds, models, k)[0]) for k in range(len(models))]
            alone = [statistics.fmean(peer_accuracies(ds, models, k)[1]) for k in range(len(models))]
        c = check_improvement("zhang2018/claim/dml_beats_independent", dml, alone, scale=ds.scale,
                              setting=ds.setting, names=(f"DML ({' + '.join(models)})", "alone"))
        c.measured = f"{' + '.join(models)} on {ds.dataset}: {c.measured}"
        out.append(c)
    table = peers_table(ds)["mean accuracy"]
    if len(table) >= 3:  # alone, and at least two cohort sizes
        rising = all(b > a for a, b in zip(table.values[1:], table.values[2:]))
        out.append(check_claim("zhang2018/claim/more_peers_help", bool(rising),
                               f"analogue on {ds.dataset} ({ds.count_model} cohorts; the paper: Market-1501 mAP): "
                               "mean top-1 accuracy by cohort size: "
                               + ", ".join(f"{n}: {v:.2f}" for n, v in table.items()),
                               scale=ds.scale, setting=ds.setting))
    else:
        out.append(not_measured("zhang2018/claim/more_peers_help",
                                f"needs two or more cohort sizes; this run trained {list(ds.peer_counts)}"))
    return out


__all__ = ["DmlSetup", "setup", "run", "summary_table", "peers_table", "checks", "claim_checks",
           "peer_accuracies", "mean_std"]
