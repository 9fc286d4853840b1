"""Every number this book compares with, in one place, with its source and exact setting.

An entry's ``setting`` lists what the paper fixed for that number; a measurement is only
compared with it when the run's setting agrees on every one of those keys (see
:mod:`kdrepro.checks.verdict`). ``tolerance`` is stated per entry with its reason.
``sense`` says which side counts: ``"two-sided"`` (within ±tolerance), ``"at most"``
(lower is better: pass when measured ≤ published + tolerance) or ``"at least"``.
A ``claim`` entry has no number: the chapter measures whether the claim holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import ConfigError


@dataclass(frozen=True)
class Published:
    key: str
    paper: str  # citation key in book/references.bib
    claim: str  # what was measured, in a few words
    value: float | None  # None for a qualitative claim
    unit: str
    source: str  # paper and table/section, or repository file
    setting: dict = field(default_factory=dict)
    tolerance: float = 0.0
    sense: str = "two-sided"
    tolerance_reason: str = ""


# Hinton, Vinyals & Dean (2015), Section 3 (MNIST) — none of these numbers comes with an epoch count,
# optimiser or learning rate: the paper fixes the architectures, the regularisation, the jitter,
# the temperature and the data.
_HINTON_MNIST = {"dataset": "mnist", "train_size": 60000, "test_size": 10000}
_HINTON_PAIR = {**_HINTON_MNIST, "teacher": "mlp_1200_1200_dropout", "student": "mlp_800_800", "temperature": 20}
_ERR_TOL = ("about two binomial standard deviations of an error count on 10,000 test images "
            "(sqrt(errors)) plus seed-to-seed spread")

PUBLISHED: tuple[Published, ...] = (
    Published("hinton2015/mnist/teacher_errors", "hinton2015distilling",
              "Teacher 784-1200-1200-10, dropout, inputs jittered ±2 px", 67, "test errors",
              "Hinton et al. 2015, Section 3",
              {**_HINTON_MNIST, "model": "mlp_1200_1200_dropout", "jitter": 2}, 20, "at most", _ERR_TOL),
    Published("hinton2015/mnist/student_errors", "hinton2015distilling",
              "Student 784-800-800-10, hard labels only, no regularisation", 146, "test errors",
              "Hinton et al. 2015, Section 3",
              {**_HINTON_MNIST, "model": "mlp_800_800", "jitter": 0}, 30, "two-sided", _ERR_TOL),
    Published("hinton2015/mnist/distilled_errors", "hinton2015distilling",
              "Same student distilled from the teacher at T = 20", 74, "test errors",
              "Hinton et al. 2015, Section 3", _HINTON_PAIR, 20, "at most", _ERR_TOL),
    Published("hinton2015/mnist/omit3_errors", "hinton2015distilling",
              "Distilled on a transfer set with no 3s: all test errors", 206, "test errors",
              "Hinton et al. 2015, Section 3", {**_HINTON_PAIR, "transfer_set": "no 3s"}, 60, "two-sided",
              "wide: the count is dominated by the bias of one unseen class, which varies from run to run"),
    Published("hinton2015/mnist/omit3_errors_on_3", "hinton2015distilling",
              "…of which errors on the 1010 test 3s", 133, "test errors",
              "Hinton et al. 2015, Section 3", {**_HINTON_PAIR, "transfer_set": "no 3s"}, 60, "two-sided",
              "wide: the count is dominated by the bias of one unseen class, which varies from run to run"),
    Published("hinton2015/mnist/omit3_bias_errors", "hinton2015distilling",
              "Same model, bias of class 3 raised (paper: by 3.5)", 109, "test errors",
              "Hinton et al. 2015, Section 3", {**_HINTON_PAIR, "transfer_set": "no 3s"}, 30, "at most", _ERR_TOL),
    Published("hinton2015/mnist/omit3_bias_errors_on_3", "hinton2015distilling",
              "…of which errors on the 1010 test 3s", 14, "test errors",
              "Hinton et al. 2015, Section 3", {**_HINTON_PAIR, "transfer_set": "no 3s"}, 15, "at most", _ERR_TOL),
    Published("hinton2015/mnist/wide_temperature_flat", "hinton2015distilling",
              "With ≥300 units per layer, all temperatures above 8 give fairly similar results", None, "claim",
              "Hinton et al. 2015, Section 3", {**_HINTON_MNIST, "teacher": "mlp_1200_1200_dropout"}),
    Published("hinton2015/mnist/narrow_temperature_best", "hinton2015distilling",
              "With 30 units per layer, temperatures 2.5–4 work significantly better than higher or lower ones",
              None, "claim", "Hinton et al. 2015, Section 3", {**_HINTON_MNIST, "teacher": "mlp_1200_1200_dropout"}),
)

_BY_KEY = {p.key: p for p in PUBLISHED}
if len(_BY_KEY) != len(PUBLISHED):
    raise RuntimeError("duplicate key in the published-number registry")


def get_published(key: str) -> Published:
    if key not in _BY_KEY:
        raise ConfigError(f"no published number {key!r}; known keys start with: "
                          f"{', '.join(sorted({k.split('/')[0] for k in _BY_KEY}))}")
    return _BY_KEY[key]


def published_for(paper_prefix: str) -> list[Published]:
    """All entries whose key starts with ``paper_prefix`` (e.g. ``"hinton2015"``)."""
    return [p for p in PUBLISHED if p.key.startswith(paper_prefix)]
