"""A measurement against a published number of the same setting: pass, fail or not comparable;
a claim that one method beats another can also be *inconclusive* (a difference within the seeds' spread)."""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass

from ..paths import rehearsing
from .published import Published, get_published

PASS, FAIL, NOT_COMPARABLE, INCONCLUSIVE = "pass", "fail", "not comparable", "inconclusive"
ANY = "any"  # a setting value that any stated run value matches (claims comparing two of our runs)


@dataclass
class Check:
    key: str
    claim: str
    published: float | str | None
    measured: float | str | None
    unit: str
    tolerance: str
    difference: float | None
    verdict: str
    reason: str
    source: str
    setting: dict

    def to_dict(self) -> dict:
        return asdict(self)


def _mismatch(published: Published, run_setting: dict) -> list[str]:
    """The keys of the paper's setting on which the run differs (or says nothing)."""
    return [f"{k}: paper {v!r}, run {run_setting.get(k, 'unset')!r}"
            for k, v in published.setting.items()
            if not (run_setting.get(k) == v or (v == ANY and run_setting.get(k) is not None))]


def _comparability(published: Published, scale: str, run_setting: dict) -> str:
    if scale == "smoke":
        return "smoke run: a few steps on a slice of the data, not the paper's setting"
    if rehearsing():  # see kdrepro.engine.rehearsal
        return "rehearsal: the full recipe capped to a few steps, not the paper's setting"
    diffs = _mismatch(published, run_setting)
    return "setting differs — " + "; ".join(diffs) if diffs else ""


def _tolerance_text(p: Published) -> str:
    sign = {"two-sided": "±", "at most": "≤ published +", "at least": "≥ published −"}[p.sense]
    return f"{sign}{p.tolerance:g}"


def check(key: str, measured: float, *, scale: str, setting: dict) -> Check:
    """Compare ``measured`` with the published number ``key`` under the run's ``setting``."""
    p = get_published(key)
    if p.value is None:
        raise ValueError(f"{key} is a qualitative claim: use check_claim")
    diff = float(measured) - p.value
    reason = _comparability(p, scale, setting)
    if reason:
        verdict = NOT_COMPARABLE
    elif p.sense == "at most":
        verdict = PASS if diff <= p.tolerance else FAIL
    elif p.sense == "at least":
        verdict = PASS if diff >= -p.tolerance else FAIL
    else:
        verdict = PASS if abs(diff) <= p.tolerance else FAIL
    return Check(key, p.claim, p.value, measured, p.unit, _tolerance_text(p), round(diff, 4), verdict, reason,
                 p.source, dict(p.setting))


def check_seeds(key: str, values: list[float], *, scale: str, setting: dict) -> Check:
    """:func:`check` on the mean of ``values`` (one per seed); the seeds and their spread are
    written beneath the verdict."""
    mean = statistics.fmean(values)
    result = check(key, round(mean, 2), scale=scale, setting=setting)
    spread = f", sd {statistics.stdev(values):.1f}" if len(values) > 1 else ""
    seeds = f"mean of {len(values)} seed(s): {', '.join(f'{v:g}' for v in values)}{spread}"
    result.reason = f"{result.reason}; {seeds}" if result.reason else seeds
    result.tolerance += " (on the mean)"
    return result


def check_claim(key: str, holds: bool, evidence: str, *, scale: str, setting: dict, undecided: str = "") -> Check:
    """A qualitative claim: pass when our measurement shows it (``evidence`` says what we saw);
    *inconclusive* when ``undecided`` says why the measurement cannot tell (e.g. within its noise)."""
    p = get_published(key)
    reason = _comparability(p, scale, setting)
    if reason:
        verdict = NOT_COMPARABLE
    elif undecided:
        verdict, reason = INCONCLUSIVE, undecided
    else:
        verdict = PASS if holds else FAIL
    return Check(key, p.claim, "holds", evidence, p.unit, "—", None, verdict, reason, p.source, dict(p.setting))


def sampling_noise(a: float, b: float, n: int) -> float:
    """Two standard errors (in points) of the difference of two accuracies ``a`` and ``b`` (%), each
    measured on ``n`` test images: a smaller difference between two single runs may be sampling noise."""
    pa, pb = (min(max(v / 100, 0.0), 1.0) for v in (a, b))
    return 200 * ((pa * (1 - pa) + pb * (1 - pb)) / n) ** 0.5


def check_improvement(key: str, better: list[float], worse: list[float], *, scale: str, setting: dict,
                      names: tuple[str, str] = ("method", "baseline"), unit: str = "%",
                      test_images: int | None = None) -> Check:
    """The claim "``better`` beats ``worse``", judged on the means over seeds against the run-to-run
    spread (the pooled standard deviation of the seeds): pass when the gain exceeds the spread,
    fail when the loss does, *inconclusive* in between. With one seed per side the spread is not
    known: given ``test_images`` (accuracies in %), the test set's sampling noise takes its place;
    otherwise the sign decides. The evidence says which."""
    p = get_published(key)
    mean_b, mean_w = statistics.fmean(better), statistics.fmean(worse)
    gain = mean_b - mean_w
    variances = [(statistics.variance(v), len(v) - 1) for v in (better, worse) if len(v) > 1]
    spread = (sum(v * d for v, d in variances) / sum(d for _, d in variances)) ** 0.5 if variances else None
    evidence = (f"{names[0]} {mean_b:.2f} {unit} ({len(better)} run(s)) vs {names[1]} {mean_w:.2f} {unit} "
                f"({len(worse)}): {gain:+.2f}")
    why_undecided = "the difference is within the run-to-run spread: more seeds are needed to tell"
    if spread is None and test_images:
        spread = sampling_noise(mean_b, mean_w, test_images)
        evidence += (f"; one run each: a difference counts beyond the test set's sampling noise {spread:.2f} "
                     f"(two standard errors on {test_images:,} images)")
        why_undecided = "the difference is within the test set's sampling noise: more seeds are needed to tell"
    elif spread is None:
        evidence += "; one run each: the spread is not measured, the sign decides"
    else:
        evidence += f"; run-to-run spread (pooled std of the runs) {spread:.2f}"
    if spread is None:
        verdict = PASS if gain > 0 else FAIL
    else:
        verdict = PASS if gain > spread else FAIL if gain < -spread else INCONCLUSIVE
    reason = _comparability(p, scale, setting)
    if reason:
        verdict = NOT_COMPARABLE
    elif verdict == INCONCLUSIVE:
        reason = why_undecided
    return Check(key, p.claim, "holds", evidence, p.unit, "spread of the seeds", round(gain, 4), verdict, reason,
                 p.source, dict(p.setting))


def check_equivalence(key: str, a: list[float], b: list[float], *, scale: str, setting: dict,
                      names: tuple[str, str] = ("method", "baseline"), unit: str = "%") -> Check:
    """The claim "``a`` matches ``b``", judged against the run-to-run spread (pooled std of the
    seeds): pass when the means differ by at most the spread, fail when by more than twice it,
    *inconclusive* in between or when either side has one run (the spread is then unknown)."""
    p = get_published(key)
    diff = statistics.fmean(a) - statistics.fmean(b)
    variances = [(statistics.variance(v), len(v) - 1) for v in (a, b) if len(v) > 1]
    spread = (sum(v * d for v, d in variances) / sum(d for _, d in variances)) ** 0.5 if variances else None
    evidence = (f"{names[0]} {statistics.fmean(a):.2f} {unit} ({len(a)} run(s)) vs {names[1]} "
                f"{statistics.fmean(b):.2f} {unit} ({len(b)}): {diff:+.2f}")
    if spread is None:
        verdict, reason = INCONCLUSIVE, "one run each: the run-to-run spread is not measured"
    else:
        evidence += f"; run-to-run spread (pooled std of the runs) {spread:.2f}"
        verdict = PASS if abs(diff) <= spread else FAIL if abs(diff) > 2 * spread else INCONCLUSIVE
        reason = "the difference is between one and two spreads: more seeds are needed to tell" \
            if verdict == INCONCLUSIVE else ""
    not_comparable = _comparability(p, scale, setting)
    if not_comparable:
        verdict, reason = NOT_COMPARABLE, not_comparable
    return Check(key, p.claim, "holds", evidence, p.unit, "spread of the seeds", round(diff, 4), verdict, reason,
                 p.source, dict(p.setting))


def not_measured(key: str, reason: str) -> Check:
    """A published number this chapter covers but did not measure in this run (e.g. a pair that
    only the full scale trains): listed, never judged."""
    p = get_published(key)
    published = "holds" if p.value is None else p.value
    tol = "—" if p.value is None else _tolerance_text(p)
    return Check(key, p.claim, published, None, p.unit, tol, None, NOT_COMPARABLE, reason, p.source, dict(p.setting))
