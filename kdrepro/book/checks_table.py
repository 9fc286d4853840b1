"""Checks (published vs measured) as an HTML or a Markdown table.

The verdict cell is coloured *and* spells the verdict out, so the table reads without
colour; a "not comparable" (or any) verdict shows its reason beneath the word.
"""

from __future__ import annotations

import dataclasses
import html
import math
from typing import Any, Iterable, Mapping

COLUMNS = ("Claim", "Published", "Measured", "Difference", "Tolerance", "Verdict", "Source")

VERDICT_STYLE = {
    "pass": "background-color:#d1e7dd;color:#0f5132;",
    "fail": "background-color:#f8d7da;color:#842029;",
    "not comparable": "background-color:#e2e3e5;color:#41464b;",
    "inconclusive": "background-color:#fff3cd;color:#664d03;",
}
JUDGED = ("pass", "fail", "inconclusive")  # verdicts a run reached (the rest could not be judged)
_UNKNOWN_STYLE = "background-color:#fff3cd;color:#664d03;"


def as_dict(check: Any) -> dict:
    """A check as a plain dict, whether it is a mapping, a dataclass or has ``to_dict()``."""
    if isinstance(check, Mapping):
        return dict(check)
    if hasattr(check, "to_dict"):
        return dict(check.to_dict())
    if dataclasses.is_dataclass(check):
        return dataclasses.asdict(check)
    raise TypeError(f"cannot read a check from {type(check).__name__}")


def format_value(value: Any, signed: bool = False) -> str:
    """A number or a qualitative value, short and readable; ``—`` for none."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            return str(value)
        if float(value).is_integer() and abs(value) < 1e15:
            text = str(int(value))
        elif abs(value) >= 1000:
            text = f"{value:.1f}"
        else:
            text = f"{value:.4g}"
        return f"+{text}" if signed and value > 0 else text
    return str(value)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def display_cells(check: Mapping) -> dict:
    """Display strings for one check (not yet escaped), each on one line."""
    return {key: _one_line(value) for key, value in _raw_cells(check).items()}


def _raw_cells(check: Mapping) -> dict:
    return {
        "claim": str(check.get("claim", "") or check.get("key", "")),
        "unit": str(check.get("unit", "") or ""),
        "published": format_value(check.get("published")),
        "measured": format_value(check.get("measured")),
        "difference": format_value(check.get("difference"), signed=True),
        "tolerance": str(check.get("tolerance", "") or "—"),
        "verdict": str(check.get("verdict", "") or "unknown"),
        "reason": str(check.get("reason", "") or ""),
        "source": str(check.get("source", "") or "—"),
    }


def verdict_counts(checks: Iterable[Any]) -> dict[str, int]:
    """How many checks pass, fail, are inconclusive and are not comparable."""
    counts = {"pass": 0, "fail": 0, "inconclusive": 0, "not comparable": 0}
    for check in checks:
        verdict = str(as_dict(check).get("verdict", ""))
        counts[verdict] = counts.get(verdict, 0) + 1
    return counts


def checks_html(checks: Iterable[Any], extra: Mapping[str, str] | None = None) -> str:
    """An HTML table of ``checks``; ``extra`` adds constant columns (e.g. ``{"Scale": "medium"}``).

    The table has no blank lines, so it can sit in a Markdown page as one raw HTML block.
    """
    extra = dict(extra or {})
    esc = html.escape
    head = "".join(f"<th>{esc(c)}</th>" for c in (*COLUMNS, *extra))
    rows = []
    for check in checks:
        c = display_cells(as_dict(check))
        claim = esc(c["claim"]) + (f'<br><small>{esc(c["unit"])}</small>' if c["unit"] else "")
        style = VERDICT_STYLE.get(c["verdict"], _UNKNOWN_STYLE)
        verdict = f"<strong>{esc(c['verdict'])}</strong>"
        if c["reason"]:
            verdict += f"<br><small>{esc(c['reason'])}</small>"
        cells = [
            f"<td>{claim}</td>",
            f'<td style="text-align:right">{esc(c["published"])}</td>',
            f'<td style="text-align:right">{esc(c["measured"])}</td>',
            f'<td style="text-align:right">{esc(c["difference"])}</td>',
            f"<td>{esc(c['tolerance'])}</td>",
            f'<td class="kd-verdict kd-verdict-{esc(c["verdict"].replace(" ", "-"))}" style="{style}">{verdict}</td>',
            f"<td>{esc(c['source'])}</td>",
            *(f"<td>{esc(str(v))}</td>" for v in extra.values()),
        ]
        rows.append("<tr>" + "".join(cells) + "</tr>")
    if not rows:
        rows.append(f'<tr><td colspan="{len(COLUMNS) + len(extra)}">No checks.</td></tr>')
    return (
        '<table class="table kd-checks">\n<thead><tr>' + head + "</tr></thead>\n<tbody>\n"
        + "\n".join(rows) + "\n</tbody>\n</table>\n"
    )


def checks_html_folded(checks: Iterable[Any], extra: Mapping[str, str] | None = None) -> str:
    """The judged checks (pass, fail or inconclusive) as a table, and the not-comparable ones folded
    under it in a ``<details>`` block that says how many there are; one raw HTML block, no blank lines."""
    checks = [as_dict(c) for c in checks]
    judged = [c for c in checks if c.get("verdict") in JUDGED]
    folded = [c for c in checks if c.get("verdict") not in JUDGED]
    parts = [checks_html(judged, extra)] if judged or not folded else []
    if folded:
        label = f"{len(folded)} check{'s' if len(folded) != 1 else ''} not comparable in this run, each with its reason"
        parts.append(f"<details class=\"kd-not-comparable\"><summary>{html.escape(label)}</summary>\n"
                     + checks_html(folded, extra) + "</details>\n")
    return "".join(parts)


def _md(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def checks_markdown(checks: Iterable[Any], extra: Mapping[str, str] | None = None) -> str:
    """The same table in Markdown (the verdict in bold, its reason after it)."""
    extra = dict(extra or {})
    header = (*COLUMNS, *extra)
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for check in checks:
        c = display_cells(as_dict(check))
        claim = c["claim"] + (f" ({c['unit']})" if c["unit"] else "")
        verdict = f"**{c['verdict']}**" + (f": {c['reason']}" if c["reason"] else "")
        row = [claim, c["published"], c["measured"], c["difference"], c["tolerance"], verdict,
               c["source"], *(str(v) for v in extra.values())]
        lines.append("| " + " | ".join(_md(x) for x in row) + " |")
    return "\n".join(lines) + "\n"


def show_checks(checks: Iterable[Any]) -> None:
    """Display the checks table in a notebook (plain Markdown text outside IPython)."""
    checks = list(checks)
    try:
        from IPython import get_ipython
        from IPython.display import HTML, display
    except ImportError:
        get_ipython = None
    if get_ipython is None or get_ipython() is None:
        print(checks_markdown(checks))
        return
    display(HTML(checks_html(checks)))
