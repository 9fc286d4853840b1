"""What the Teacher-Assistant KD chapter runs and checks: the student alone, taught by each teacher
size (the gap curve), taught through each assistant, Table 1 beside ours, and the paper's claims."""

from __future__ import annotations

import statistics

import pandas as pd

from ..checks import Check, check, check_claim, check_improvement, not_measured
from ..checks.published import TAKD_CHAINS, TAKD_TABLE1
from ..training.assistant_chains import TakdSetup, distill, train_step

_SIZE = lambda name: int("".join(ch for ch in name if ch.isdigit()))  # noqa: E731  plain10 → 10


def run(ts: TakdSetup, verbose: bool | int = False) -> None:
    """Every run the chapter shows, for every seed (finished runs are reloaded)."""
    r = ts.recipe
    for seed in ts.seeds:
        train_step(ts, (r.student,), seed, verbose=verbose)
        distill(ts, (r.teacher, r.student), seed, verbose)  # chooses (λ, T) when tuned once
        for teacher in r.gap_teachers:
            distill(ts, (teacher, r.student), seed, verbose)
            if _SIZE(teacher) > _SIZE(r.assistants[0]):  # the same teacher through the paper's assistant
                distill(ts, (teacher, r.assistants[0], r.student), seed, verbose)
        for assistant in r.assistants:
            distill(ts, (r.teacher, assistant, r.student), seed, verbose)


def accuracies(ts: TakdSetup, chain) -> list[float]:
    """Test accuracy of ``chain``'s last model at its chosen (λ, T) (alone: no KD), one per seed."""
    chain = tuple(chain)
    out = []
    for seed in ts.seeds:
        lam, t = (None, None) if len(chain) == 1 else ts.chosen[(chain, seed)]
        out.append(ts.runs[(chain, seed, lam, t)].test_accuracy)
    return out


def _mean(values) -> float:
    return statistics.fmean(values)


def _fmt(values) -> str:
    values = list(values)
    return f"{_mean(values):.2f} ± {statistics.stdev(values):.2f}" if len(values) > 1 else f"{values[0]:.2f}"


def summary_table(ts: TakdSetup) -> pd.DataFrame:
    """The paper's three columns for our family: no KD, KD from the teacher, TAKD (each assistant)."""
    r = ts.recipe
    family = "plain" if r.student.startswith("plain") else "resnet"
    published = TAKD_TABLE1.get((ts.spec.comparable_to or ts.dataset, family))
    rows = [("no KD", (r.student,), 0), (f"KD from {r.teacher}", (r.teacher, r.student), 1)]
    rows += [(f"TAKD through {a}", (r.teacher, a, r.student), 2) for a in r.assistants]
    return pd.DataFrame([{"student": r.student, "training": label, "test accuracy": _fmt(accuracies(ts, chain)),
                          "chosen (λ, T)": "—" if len(chain) == 1 else
                          ", ".join(f"({ts.chosen[(chain, s)][0]:g}, {ts.chosen[(chain, s)][1]:g})" for s in ts.seeds),
                          "paper": "—" if published is None or (col == 2 and chain[1] != TAKD_CHAINS[family][1])
                          else f"{published[col]:.2f}"}
                         for label, chain, col in rows]).set_index("training")


def gap_table(ts: TakdSetup) -> pd.DataFrame:
    """Student accuracy against teacher size: taught directly, and through the paper's assistant."""
    r = ts.recipe
    a = r.assistants[0]
    rows = []
    for teacher in r.gap_teachers:
        through = (teacher, a, r.student) if _SIZE(teacher) > _SIZE(a) else None
        rows.append({"teacher": teacher, "teacher accuracy": round(_mean(accuracies(ts, (teacher,))), 2),
                     "student, KD from the teacher": round(_mean(accuracies(ts, (teacher, r.student))), 2),
                     f"student, through {a}": round(_mean(accuracies(ts, through)), 2) if through else None})
    return pd.DataFrame(rows).set_index("teacher")


def assistant_table(ts: TakdSetup) -> pd.DataFrame:
    """Student accuracy through each assistant size (teacher fixed)."""
    r = ts.recipe
    return pd.DataFrame([{"assistant": a, "assistant accuracy": round(_mean(accuracies(ts, (r.teacher, a))), 2),
                          "student accuracy": round(_mean(accuracies(ts, (r.teacher, a, r.student))), 2)}
                         for a in r.assistants]).set_index("assistant")


def checks(ts: TakdSetup) -> list[Check]:
    """Claims on our runs (against the seeds' spread, or with one seed the test set's sampling noise),
    Table 1 for the family and dataset trained."""
    r = ts.recipe
    a = r.assistants[0]
    nokd, kd = accuracies(ts, (r.student,)), accuracies(ts, (r.teacher, r.student))
    takd = accuracies(ts, (r.teacher, a, r.student))
    out = [check_improvement("mirzadeh2020/claim/takd_beats_kd", takd, kd, scale=ts.scale, setting=ts.setting,
                             names=(f"through {a}", f"directly from {r.teacher}"), test_images=ts.test.size),
           check_improvement("mirzadeh2020/claim/kd_beats_nokd", kd, nokd, scale=ts.scale, setting=ts.setting,
                             names=(f"KD from {r.teacher}", "alone"), test_images=ts.test.size)]
    gap = gap_table(ts)["student, KD from the teacher"]
    largest, best = gap.iloc[-1], gap.max()
    out.append(check_claim("mirzadeh2020/claim/gap_hurts", bool(largest < best),
                           "student accuracy by teacher: " + ", ".join(f"{t} {v:.2f}" for t, v in gap.items())
                           + f" (the largest teacher {'is not' if largest < best else 'is'} the best)",
                           scale=ts.scale, setting=ts.setting))
    family = "plain" if r.student.startswith("plain") else "resnet"
    trained = (r.teacher, a, r.student) == TAKD_CHAINS[family]
    dataset = ts.spec.comparable_to or ts.spec.stands_in_for or ts.dataset  # a lossy copy: shown, not judged
    chain = ">".join(TAKD_CHAINS[family])
    for (d, f), _ in TAKD_TABLE1.items():
        for kind, values in (("nokd", nokd), ("kd", kd), ("takd", takd)):
            key = f"mirzadeh2020/{d}/{f}/{kind}"
            if (d, f) == (dataset, family) and trained:
                out.append(check(key, _mean(values), scale=ts.scale, setting={**ts.setting, "chain": chain}))
            else:
                out.append(not_measured(key, f"not trained in this run ({ts.scale} scale: "
                                             f"{' → '.join((r.teacher, a, r.student))} on {ts.dataset})"))
    return out


__all__ = ["run", "accuracies", "summary_table", "gap_table", "assistant_table", "checks"]
