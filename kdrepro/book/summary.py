"""One line per chapter: its headline check and an overall verdict, for the scoreboard and the landing page.

The overall verdict rolls up the checks a run could judge (pass, fail or inconclusive): *reproduced*
when all of them pass and at least one is a published number, *claims hold* when all pass but only
qualitative claims could be judged (a reduced recipe: the paper's numbers belong to another
setting), *partly reproduced* when some fail or are inconclusive (a difference within the seeds'
spread) beside passes, *not reproduced* when none passes and some fail, *inconclusive* when every
judged check is, and *not comparable* when the run judged none (a smoke run). Every verdict is a word as well as a colour.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

from ..chapters.registry import Chapter
from .checks_table import JUDGED, as_dict, verdict_counts

REPRODUCED, CLAIMS_HOLD = "reproduced", "claims hold"
PARTLY, NOT_REPRODUCED = "partly reproduced", "not reproduced"
NOT_COMPARABLE, NOT_PUBLISHED, PLANNED = "not comparable", "not published yet", "planned"
INCONCLUSIVE = "inconclusive"

BADGE_STYLE = {
    REPRODUCED: "background-color:#d1e7dd;color:#0f5132;border:1px solid #0f5132;",
    CLAIMS_HOLD: "background-color:#e8f4ee;color:#0f5132;border:1px dashed #0f5132;",
    PARTLY: "background-color:#fff3cd;color:#664d03;border:1px solid #664d03;",
    NOT_REPRODUCED: "background-color:#f8d7da;color:#842029;border:1px solid #842029;",
    NOT_COMPARABLE: "background-color:#e2e3e5;color:#41464b;border:1px solid #41464b;",
    NOT_PUBLISHED: "background-color:#ffffff;color:#41464b;border:1px dashed #41464b;",
    INCONCLUSIVE: "background-color:#fff3cd;color:#664d03;border:1px dashed #664d03;",
}
BADGE_STYLE[PLANNED] = BADGE_STYLE[NOT_PUBLISHED]
BADGE_STYLE.update({"pass": BADGE_STYLE[REPRODUCED], "fail": BADGE_STYLE[NOT_REPRODUCED]})  # one check's verdict
SYMBOL = {REPRODUCED: "✔", CLAIMS_HOLD: "✔", PARTLY: "◐", NOT_REPRODUCED: "✘", NOT_COMPARABLE: "–",
          NOT_PUBLISHED: "…", PLANNED: "…", "pass": "✔", "fail": "✘", INCONCLUSIVE: "≈"}


def overall_verdict(checks) -> str:
    """Roll a run's checks up into REPRODUCED, CLAIMS_HOLD, PARTLY, NOT_REPRODUCED or NOT_COMPARABLE."""
    checks = [as_dict(c) for c in checks]
    counts = verdict_counts(checks)
    passed, failed, unsure = counts.get("pass", 0), counts.get("fail", 0), counts.get(INCONCLUSIVE, 0)
    if passed and not failed and not unsure:
        numbers = [c for c in checks if c.get("verdict") == "pass" and _is_number(c.get("published"))]
        return REPRODUCED if numbers else CLAIMS_HOLD
    if passed:
        return PARTLY
    if failed:
        return NOT_REPRODUCED
    return INCONCLUSIVE if unsure else NOT_COMPARABLE


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def headline_check(chapter: Chapter | None, checks) -> dict | None:
    """The check that sums a run up: the chapter's first headline key the run could judge, else
    its first judged check, else its first headline key, else its first check."""
    checks = [as_dict(c) for c in checks]
    if not checks:
        return None
    by_key = {c.get("key"): c for c in checks}
    preferred = [by_key[k] for k in (chapter.headline if chapter else ()) if k in by_key]
    judged = [c for c in preferred + checks if c.get("verdict") in JUDGED]
    return (judged or preferred or checks)[0]


@dataclass(frozen=True)
class ChapterSummary:
    chapter: Chapter
    results: dict | None  # the published run's results.json, None when not published

    @property
    def verdict(self) -> str:
        if self.results is None:
            return NOT_PUBLISHED if self.chapter.exists else PLANNED
        return overall_verdict(self.checks)

    @property
    def checks(self) -> list[dict]:
        return [as_dict(c) for c in (self.results or {}).get("checks") or []]

    @property
    def counts(self) -> dict[str, int]:
        return verdict_counts(self.checks)

    @property
    def headline(self) -> dict | None:
        return headline_check(self.chapter, self.checks)

    @property
    def run_text(self) -> str:
        """``medium · cifar10-jpeg75``, or ``—`` when unpublished."""
        if self.results is None:
            return "—"
        return f"{self.results.get('scale', '?')} · {self.results.get('dataset', '?')}"

    def counts_text(self) -> str:
        c = self.counts
        unsure = f" · {c['inconclusive']} inconclusive" if c.get("inconclusive") else ""
        return f"{c['pass']} pass · {c['fail']} fail{unsure} · {c['not comparable']} not comparable"


def badge_html(verdict: str, detail: str = "") -> str:
    """An inline badge: symbol and word (readable without colour), coloured by the verdict."""
    style = BADGE_STYLE.get(verdict, BADGE_STYLE[NOT_COMPARABLE])
    text = f"{SYMBOL.get(verdict, '?')} {verdict}" + (f" · {detail}" if detail else "")
    return (f'<span class="kd-badge kd-badge-{verdict.replace(" ", "-")}" '
            f'style="{style}border-radius:0.8em;padding:0.05em 0.6em;font-size:0.85em;display:inline-block;">'
            f"{html.escape(text)}</span>")
