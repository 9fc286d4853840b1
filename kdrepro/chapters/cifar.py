"""What the CIFAR chapters (FitNets, AT, AB and the same-pairs benchmark) share: choosing the
data, teacher and pair for a scale, running methods over seeds, and comparing with the CRD table.

A chapter calls :func:`setup`, then :func:`run_methods`; both reuse finished runs (teacher and
students live in shared folders, see :mod:`kdrepro.training.teachers` and :mod:`kdrepro.training.pairs`).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

import pandas as pd

from ..checks import Check, check, check_improvement, is_published, not_measured
from ..checks.published import AT_TABLE1, CRD_CROSS, CRD_METHODS, CRD_SAME
from ..data import DatasetSpec, choose_dataset, get_spec
from ..engine import is_main_process
from ..errors import ConfigError
from ..training.pairs import LABELS, METHODS, PairRun, train_pair
from ..training.shared_pairs import train_sharing_teacher
from ..recipes.cifar import LIGHT_STUDENTS, CifarRecipe
from ..recipes.cifar import recipe as cifar_recipe
from ..training.teachers import Teacher, get_teacher


@dataclass
class PairSetup:
    scale: str
    recipe: CifarRecipe
    dataset: str
    spec: DatasetSpec
    teacher: Teacher
    student: str
    seeds: tuple[int, ...]
    method_seeds: dict[str, tuple[int, ...]] = field(default_factory=dict)  # per-method overrides of seeds
    runs: dict[tuple[str, int], PairRun] = field(default_factory=dict)

    def seeds_for(self, method: str) -> tuple[int, ...]:
        return tuple(self.method_seeds.get(method, self.seeds))

    @property
    def teacher_name(self) -> str:
        return self.teacher.info["model"]

    @property
    def setting(self) -> dict:
        """The run's setting, in the keys the published entries use."""
        return {"dataset": self.spec.comparable_to or self.dataset,
                "recipe": "crd-240" if self.scale == "full" else f"kdrepro-{self.scale}",
                "teacher": self.teacher_name, "student": self.student,
                "comparison": "same student, teacher, data and recipe"}

    @property
    def test_images(self) -> int:
        """How many test images each accuracy is measured on (the recipe's slice, or the whole test set)."""
        n = self.spec.test_size
        return n if self.recipe.test_subset is None else min(self.recipe.test_subset, n)

    def run_dirs(self) -> list:
        """The teacher's and every student's run folders (for the chapter's training time)."""
        return [self.teacher.path.parent / "run"] + [d for r in self.runs.values() for d in r.run_dirs]

    def describe(self) -> str:
        """A few lines: data, teacher, student, recipe length and seeds."""
        r = self.recipe
        lines = [f"{self.scale} scale on {self.dataset}"
                 + (" (a lossy JPEG copy of CIFAR-10: close to, not equal to, CIFAR-10)" if self.spec.lossy else ""),
                 f"teacher {self.teacher_name}: {self.teacher.accuracy:.2f} % test accuracy after "
                 f"{self.teacher.info['epochs']} epochs",
                 f"student {self.student}: {r.student_epochs} epochs (+{r.init_epochs} for AB's and FitNets' first "
                 f"stage) on {'all' if r.train_subset is None else f'{r.train_subset:,} of the'} training images",
                 f"seeds {list(self.seeds)}" + "".join(f"; {m}: seeds {list(v)}" for m, v in self.method_seeds.items())]
        return "\n".join(lines)

def setup(scale: str, teacher: str | None = None, student: str | None = None, dataset: str | None = None,
          teacher_mode: str = "train", seeds=None, method_seeds: dict | None = None,
          verbose: bool | int = True) -> PairSetup:
    """Pick the data (the first prepared of the scale's datasets), then load — or, with
    ``teacher_mode="train"``, train if missing — the teacher. ``method_seeds`` gives some
    methods other seeds than ``seeds`` (e.g. more seeds for the baselines)."""
    r = cifar_recipe(scale)
    dataset = choose_dataset(scale, dataset, r.datasets)
    t, s = teacher or r.pairs[0][0], student or r.pairs[0][1]
    t_model = get_teacher(t, dataset, scale, 0, mode=teacher_mode, verbose=verbose)
    unknown = sorted(set(method_seeds or {}) - set(METHODS))
    if unknown:
        raise ConfigError(f"method_seeds names unknown method(s) {', '.join(unknown)}; valid: {', '.join(METHODS)}")
    return PairSetup(scale, r, dataset, get_spec(dataset), t_model, s, tuple(seeds if seeds is not None else r.seeds),
                     {m: tuple(v) for m, v in (method_seeds or {}).items()})


def run_methods(ps: PairSetup, methods, verbose: bool | int = True,
                share_teacher: bool = True) -> dict[tuple[str, int], PairRun]:
    """Train (or reload) every method for every seed; the result is also kept in ``ps.runs``. With
    ``share_teacher``, the one-stage methods of a seed not trained yet (KD, FitNet, AT) train together
    on one teacher forward per batch (:mod:`kdrepro.training.shared_pairs`: the same runs, cheaper)."""
    for method in methods:
        if method not in METHODS:
            raise ConfigError(f"unknown method {method!r}; valid: {', '.join(METHODS)}")
    for seed in sorted({s for m in methods for s in ps.seeds_for(m)}):
        if share_teacher:
            train_sharing_teacher([m for m in methods if seed in ps.seeds_for(m) and (m, seed) not in ps.runs],
                                  ps.student, ps.teacher, ps.dataset, ps.scale, seed, recipe=ps.recipe,
                                  verbose=verbose)
        for method in methods:
            if seed in ps.seeds_for(method) and (method, seed) not in ps.runs:
                if is_main_process():  # under `accelerate launch`, every process runs this loop
                    print(f"— {LABELS[method]}, seed {seed}", flush=True)
                ps.runs[(method, seed)] = train_pair(method, ps.student, None if method == "student" else ps.teacher,
                                                     ps.dataset, ps.scale, seed, recipe=ps.recipe, verbose=verbose)
    return ps.runs


def accuracies(ps: PairSetup, method: str) -> list[float]:
    """Last-epoch accuracy of every seed trained with ``method``, in seed order."""
    return [run.accuracy for (m, _), run in sorted(ps.runs.items()) if m == method]


def mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def published_row(teacher: str, student: str) -> dict | None:
    """The CRD table's row for this pair (teacher, student, kd, fitnet, at, ab), or None."""
    values = CRD_SAME.get((teacher, student)) or CRD_CROSS.get((teacher, student))
    if values is None:
        return None
    return dict(zip(("teacher", "student", *CRD_METHODS), values))


def summary_table(ps: PairSetup, methods) -> pd.DataFrame:
    """Ours (mean ± std over seeds, last epoch) beside the CRD table's number for the pair."""
    pub = published_row(ps.teacher_name, ps.student) or {}
    rows = [{"method": f"teacher ({ps.teacher_name})", "ours": f"{ps.teacher.accuracy:.2f}", "seeds": 1,
             "CRD table (CIFAR-100)": pub.get("teacher", "—")}]
    for m in methods:
        acc = accuracies(ps, m)
        if not acc:
            continue
        mu, sd = mean_std(acc)
        rows.append({"method": LABELS[m], "ours": f"{mu:.2f} ± {sd:.2f}" if len(acc) > 1 else f"{mu:.2f}",
                     "seeds": len(acc), "CRD table (CIFAR-100)": pub.get("student" if m == "student" else m, "—")})
    return pd.DataFrame(rows).set_index("method")


def table_checks(setups, methods, include_baselines: bool = False) -> list[Check]:
    """Every CRD-table number of ``methods`` (and, with ``include_baselines``, the teachers' and
    students'): ours against it for each pair these runs trained (one :class:`PairSetup` or a
    list), "not measured" for the other pairs."""
    setups = [setups] if isinstance(setups, PairSetup) else list(setups)
    out = [c for ps in setups for c in _measured_table_checks(ps, methods, include_baselines)]
    done = {c.key for c in out}
    trained = ", ".join(f"{ps.teacher_name} → {ps.student}" for ps in setups)
    why = f"pair not trained in this run ({setups[0].scale} scale: {trained})"
    for (t, s) in (*CRD_SAME, *CRD_CROSS):
        keys = [f"tian2020/cifar100/{m}/{t}-{s}" for m in methods if m in CRD_METHODS]
        if include_baselines:
            keys += [f"tian2020/cifar100/teacher/{t}", f"tian2020/cifar100/student/{s}"]
        for key in keys:
            if key not in done:
                done.add(key)
                out.append(not_measured(key, why))
    return out


def _measured_table_checks(ps: PairSetup, methods, include_baselines: bool) -> list[Check]:
    out = []
    setting = ps.setting
    t, s = ps.teacher_name, ps.student
    if include_baselines and is_published(f"tian2020/cifar100/teacher/{t}"):
        out.append(check(f"tian2020/cifar100/teacher/{t}", ps.teacher.accuracy, scale=ps.scale,
                         setting={**setting, "model": t, "lr": 0.05}))
    for m in methods:
        acc = accuracies(ps, m)
        if not acc or (m == "student" and not include_baselines):
            continue
        key = f"tian2020/cifar100/student/{s}" if m == "student" else f"tian2020/cifar100/{m}/{t}-{s}"
        if is_published(key):
            lr = 0.01 if s in LIGHT_STUDENTS else 0.05
            out.append(check(key, mean_std(acc)[0], scale=ps.scale, setting={**setting, "model": s, "lr": lr}))
    return out


def at_table1_checks(ps: PairSetup) -> list[Check]:
    """Attention Transfer's own CIFAR-10 Table 1 (test error %): ours for the pair this run
    trained, "not measured" for the others; comparable only on exact CIFAR-10 with the paper's recipe."""
    out = []
    for (t, s) in AT_TABLE1:
        for name, method in (("student", "student"), ("at", "at"), ("kd", "kd"), ("teacher", None)):
            key = f"zagoruyko2017/cifar10/{name}/{t}-{s}"
            acc = ps.teacher.accuracy if method is None else (accuracies(ps, method) or [None])
            if (t, s) != (ps.teacher_name, ps.student) or acc == [None]:
                out.append(not_measured(key, f"pair not trained here ({ps.teacher_name} → {ps.student})"))
                continue
            value = acc if method is None else mean_std(acc)[0]
            out.append(check(key, 100 - value, scale=ps.scale, setting=ps.setting))
    return out


def beats_claim(ps: PairSetup, key: str, better: str, worse: str) -> Check:
    """A claim "``better`` beats ``worse``" on our runs: the mean gain over seeds against the seeds'
    spread or, with one seed per side, against the test set's sampling noise; within it, inconclusive."""
    c = check_improvement(key, accuracies(ps, better), accuracies(ps, worse), scale=ps.scale, setting=ps.setting,
                          names=(LABELS[better], LABELS[worse]), test_images=ps.test_images)
    c.measured = f"{c.measured} on {ps.dataset}"
    return c


__all__ = ["PairSetup", "setup", "run_methods", "accuracies", "mean_std", "published_row", "summary_table",
           "table_checks", "at_table1_checks", "beats_claim"]
