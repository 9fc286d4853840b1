"""A measurement against a published number of the same setting: pass, fail or not comparable."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from .published import Published, get_published

PASS, FAIL, NOT_COMPARABLE = "pass", "fail", "not comparable"
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


def check_claim(key: str, holds: bool, evidence: str, *, scale: str, setting: dict) -> Check:
    """A qualitative claim: pass when our measurement shows it (``evidence`` says what we saw)."""
    p = get_published(key)
    reason = _comparability(p, scale, setting)
    verdict = NOT_COMPARABLE if reason else (PASS if holds else FAIL)
    return Check(key, p.claim, "holds", evidence, p.unit, "—", None, verdict, reason, p.source, dict(p.setting))


def not_measured(key: str, reason: str) -> Check:
    """A published number this chapter covers but did not measure in this run (e.g. a pair that
    only the full scale trains): listed, never judged."""
    p = get_published(key)
    published = "holds" if p.value is None else p.value
    tol = "—" if p.value is None else _tolerance_text(p)
    return Check(key, p.claim, published, None, p.unit, tol, None, NOT_COMPARABLE, reason, p.source, dict(p.setting))
