"""What the CTKD chapter checks: KD against KD + CTKD on the chapter's pair (the README's table
for the pairs it lists) and the claims, judged against the seeds' spread; and, the other plug-in of
a logit loss, KD with its teacher read from TinyViT's store against KD with the live teacher."""

from __future__ import annotations

import pandas as pd

from ..bench.timing import compare_speed
from ..checks import Check, check, check_equivalence, check_improvement, is_published, not_measured
from ..checks.published import CTKD_IMAGENET, CTKD_README
from .cifar import PairSetup, accuracies, mean_std
from ..data import Augment
from ..engine import Split
from ..stores.topk import SparseLogitStore, SparseStoredTeacher
from ..methods import KD
from ..models import create_model
from ..training.pairs import LABELS, store_augment

DEFAULT_SEEDS = {"smoke": (0,), "medium": (0, 1), "full": (0, 1, 2)}
METHODS = ("kd", "ctkd", "ctkd_instance")
STORE_METHODS = ("kd", "kd_store")  # the live teacher against the stored one


def checks(ps: PairSetup, imagenet: list[Check] = ()) -> list[Check]:
    """The claims (each CTKD variant against KD, with the spread; KD from the store against live KD),
    the README's numbers for the pair trained, ``imagenet``'s (:func:`kdrepro.chapters.ctkd_imagenet.checks`,
    when the full run trained the ImageNet row), and "not measured" for every other pair."""
    out = list(imagenet)
    kd = accuracies(ps, "kd")
    for method, key in (("ctkd", "li2023/claim/ctkd_beats_kd"), ("ctkd_instance", "li2023/claim/instance_ctkd_beats_kd")):
        ours = accuracies(ps, method)
        if ours and kd:
            out.append(check_improvement(key, ours, kd, scale=ps.scale, setting=ps.setting,
                                         names=("KD + CTKD" + (" (instance-wise)" if method == "ctkd_instance" else ""),
                                                "KD")))
        else:
            out.append(not_measured(key, f"{method} was not trained in this run"))
    out.append(store_check(ps))
    t, s = ps.teacher_name, ps.student
    setting = {**ps.setting, "teacher": t, "student": s}
    if is_published(f"li2023/cifar100/kd/{t}-{s}") and kd and accuracies(ps, "ctkd"):
        ctkd = accuracies(ps, "ctkd")
        out += [check(f"li2023/cifar100/kd/{t}-{s}", mean_std(kd)[0], scale=ps.scale, setting=setting),
                check(f"li2023/cifar100/ctkd/{t}-{s}", mean_std(ctkd)[0], scale=ps.scale, setting=setting),
                check(f"li2023/cifar100/gain/{t}-{s}", mean_std(ctkd)[0] - mean_std(kd)[0], scale=ps.scale,
                      setting=setting)]
    done = {c.key for c in out}
    why = f"pair not trained in this run ({ps.scale} scale: {t} → {s})"
    for dataset, table in (("cifar100", CTKD_README), ("imagenet", CTKD_IMAGENET)):
        for (a, b) in table:
            for kind in ("kd", "ctkd", "gain"):
                key = f"li2023/{dataset}/{kind}/{a}-{b}"
                if key not in done:
                    out.append(not_measured(key, why if dataset == "cifar100" else
                                            "measured by the full scale with -p imagenet true (ResNet34 → "
                                            "ResNet18 on ImageNet-1k)"))
    return out


def store_check(ps: PairSetup) -> Check:
    """TinyViT's claim on a CNN pair: KD from the store matches KD from the live teacher (spread of the seeds)."""
    live, stored = accuracies(ps, "kd"), accuracies(ps, "kd_store")
    if not (live and stored):
        return not_measured("wu2022/claim/store_matches_live", "KD from the store was not trained in this run")
    return check_equivalence("wu2022/claim/store_matches_live", stored, live, scale=ps.scale, setting=ps.setting,
                             names=("KD from the store", "KD from the live teacher"))


def store_table(ps: PairSetup, store: SparseLogitStore, train: Split) -> pd.DataFrame:
    """KD from the live teacher beside KD from the store: accuracy over seeds and the size of the
    store's rows for ``train`` (the chapter's training split)."""
    n = len(train.indices) if train.indices is not None else None
    rows = []
    for m in STORE_METHODS:
        acc = accuracies(ps, m)
        if acc:
            mu, sd = mean_std(acc)
            rows.append({"teacher": LABELS[m], "test accuracy (%)": f"{mu:.2f} ± {sd:.2f}" if len(acc) > 1
                         else f"{mu:.2f}", "seeds": len(acc),
                         "stored (MiB)": f"{store.bytes_for(None, n) / 2 ** 20:.2f}" if m == "kd_store" else "—"})
    return pd.DataFrame(rows).set_index("teacher")


def time_store(ps: PairSetup, store: SparseLogitStore, train: Split, steps: int = 30, repeats: int = 3
               ) -> pd.DataFrame:
    """Training images per second of KD with the live teacher and from the store, side by side
    (alternating rounds of ``steps`` steps on ``train``, the chapter's student and recipe)."""
    r = ps.recipe

    def kd(teacher):
        student = create_model(ps.student, num_classes=ps.spec.num_classes, seed=0)
        return KD(student, teacher, r.temperature, r.kd_weight, r.ce_weight)

    builds = {LABELS["kd"]: lambda: kd(ps.teacher.model), LABELS["kd_store"]: lambda: kd(SparseStoredTeacher(store))}
    augments = {LABELS["kd"]: Augment(crop_padding=r.crop_padding, flip=True), LABELS["kd_store"]: store_augment(r)}
    return compare_speed(builds, r.student_config(ps.student), train, augments, steps=steps, repeats=repeats)


__all__ = ["DEFAULT_SEEDS", "METHODS", "STORE_METHODS", "checks", "store_check", "store_table", "time_store"]
