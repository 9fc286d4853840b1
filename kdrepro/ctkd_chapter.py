"""What the CTKD chapter checks: KD against KD + CTKD on the chapter's pair (the README's table
for the pairs it lists) and the claims, judged against the seeds' spread."""

from __future__ import annotations

from .checks import Check, check, check_improvement, is_published, not_measured
from .checks.published import CTKD_IMAGENET, CTKD_README
from .cifar_chapter import PairSetup, accuracies, mean_std

DEFAULT_SEEDS = {"smoke": (0,), "medium": (0, 1), "full": (0, 1, 2)}
METHODS = ("kd", "ctkd", "ctkd_instance")


def checks(ps: PairSetup) -> list[Check]:
    """The claims (each CTKD variant against KD, with the spread), the README's numbers for the pair
    trained, and "not measured" for every other pair (and ImageNet)."""
    out = []
    kd = accuracies(ps, "kd")
    for method, key in (("ctkd", "li2023/claim/ctkd_beats_kd"), ("ctkd_instance", "li2023/claim/instance_ctkd_beats_kd")):
        ours = accuracies(ps, method)
        if ours and kd:
            out.append(check_improvement(key, ours, kd, scale=ps.scale, setting=ps.setting,
                                         names=("KD + CTKD" + (" (instance-wise)" if method == "ctkd_instance" else ""),
                                                "KD")))
        else:
            out.append(not_measured(key, f"{method} was not trained in this run"))
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
                                            "ImageNet is not part of this chapter's scales (CIFAR only)"))
    return out


__all__ = ["DEFAULT_SEEDS", "METHODS", "checks"]
