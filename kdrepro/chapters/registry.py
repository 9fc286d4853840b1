"""The book's chapters: one paper each, with a short stable name used on the command line.

A chapter exists once its source notebook is in ``notebooks/``; the others are listed so
the book can show what is planned, but ``kdrepro run`` refuses them as unknown.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError
from ..paths import REPO_ROOT

SCALES = ("smoke", "medium", "full")
"""smoke: CPU, minutes (CI); medium: a reduced recipe, within an hour on a 2-core CPU and
minutes on one GPU; full: the paper's setting."""


@dataclass(frozen=True)
class Chapter:
    name: str  # short command-line name
    number: int
    notebook: str  # file name in notebooks/
    title: str
    paper: str  # citation key in book/references.bib
    summary: str  # one line for the landing page
    kind: str = "paper"  # "paper": one paper's chapter; "benchmark": several papers' methods side by side
    headline: tuple[str, ...] = ()  # check keys for the scoreboard's one-line summary, in order of preference
    section: str = ""  # "b", "c", …: a further page of chapter ``number`` (its notebook is numbered alike: 02b_…)
    full_data: str = "cifar100"  # what the full scale trains on (``kdrepro chapters`` says it)

    @property
    def label(self) -> str:
        """The chapter's number as the book shows it: ``2``, or ``2b`` for a further page of chapter 2."""
        return f"{self.number}{self.section}"

    @property
    def source(self) -> Path:
        return REPO_ROOT / "notebooks" / self.notebook

    @property
    def exists(self) -> bool:
        return self.source.is_file()


ALL_CHAPTERS: tuple[Chapter, ...] = (
    Chapter("hinton", 1, "01_hinton_kd.ipynb", "Distilling the Knowledge in a Neural Network",
            "hinton2015distilling", "Soft targets at a high temperature carry a teacher's dark knowledge to a smaller net.",
            headline=("hinton2015/mnist/distilled_errors",), full_data="mnist"),
    Chapter("fitnets", 2, "02_fitnets.ipynb", "FitNets: Hints for Thin Deep Nets",
            "romero2015fitnets", "A thin, deep student learns from the teacher's middle layer through a regressor.",
            headline=("romero2015/claim/hints_then_kd_beat_kd",)),
    Chapter("fitnets_mnist", 2, "02b_fitnets_mnist.ipynb", "FitNets on MNIST: Table 4",
            "romero2015fitnets", "The paper's MNIST experiment: a 30K-parameter FitNet from a 361K maxout teacher, "
            "trained three ways.", headline=("romero2015/mnist/hints", "romero2015/mnist/claim/hints_beat_kd_beat_backprop"),
            section="b", full_data="mnist"),
    Chapter("at", 3, "03_attention_transfer.ipynb", "Attention Transfer",
            "zagoruyko2017attention", "The student matches the teacher's spatial attention maps.",
            headline=("zagoruyko2017/claim/at_beats_student",)),
    Chapter("dml", 4, "04_dml.ipynb", "Deep Mutual Learning",
            "zhang2018deep", "Students with no pretrained teacher teach each other.",
            headline=("zhang2018/cifar100/dml/resnet32-resnet32/net1", "zhang2018/claim/dml_beats_independent")),
    Chapter("takd", 5, "05_takd.ipynb", "Teacher Assistant Knowledge Distillation",
            "mirzadeh2020improved", "An assistant bridges the capacity gap between a large teacher and a small student.",
            full_data="cifar10 or cifar100 (the first prepared)"),
    Chapter("ab", 6, "06_ab_distillation.ipynb", "Activation Boundary Distillation",
            "heo2019knowledge", "The student learns where the teacher's neurons switch on and off.",
            headline=("heo2019/claim/ab_beats_student",)),
    Chapter("deit", 7, "07_deit.ipynb", "DeiT: Distillation through Attention",
            "touvron2021training", "A distillation token lets a vision transformer learn from a CNN teacher.",
            headline=("touvron2021/claim/distilled_beats_alone", "touvron2021/claim/tokens_distinct"),
            full_data="imagenet"),
    Chapter("dino", 8, "08_dino.ipynb", "DINO: Self-Distillation with No Labels",
            "caron2021emerging", "A momentum teacher, centring and sharpening teach a ViT without labels.",
            headline=("caron2021/claim/knn_above_chance", "caron2021/claim/no_centering_collapses"),
            full_data="imagenet"),
    Chapter("ctkd", 9, "09_ctkd.ipynb", "Curriculum Temperature for Knowledge Distillation",
            "li2023curriculum", "An adversarially learned temperature makes distillation harder along a curriculum.",
            headline=("li2023/cifar100/ctkd/resnet56-resnet20", "li2023/claim/ctkd_beats_kd"),
            full_data="cifar100; -p imagenet true: imagenet too"),
    Chapter("tinyvit", 10, "10_tinyvit.ipynb", "TinyViT: Fast Pretraining Distillation",
            "wu2022tinyvit", "Stored sparse teacher logits make pretraining distillation cheap.",
            headline=("wu2022/claim/store_matches_live", "wu2022/claim/store_saves_time"),
            full_data="imagenet21k + imagenet"),
    Chapter("cifar_bench", 11, "11_cifar_benchmark.ipynb", "CIFAR benchmark: every CNN method on the same pairs",
            "tian2020contrastive", "Student, KD, FitNets, AT and AB on the same teacher–student pairs, one recipe, "
            "several seeds, beside the CRD table.", kind="benchmark",
            headline=("tian2020/cifar100/kd/resnet32x4-resnet8x4", "tian2020/claim/kd_beats_student")),
)


def available() -> list[Chapter]:
    """Chapters whose notebook exists."""
    return [c for c in ALL_CHAPTERS if c.exists]


def get(name: str) -> Chapter:
    """The chapter called ``name``; an unknown or unwritten one is refused with the valid names."""
    valid = [c.name for c in available()]
    for chapter in ALL_CHAPTERS:
        if chapter.name == name and chapter.exists:
            return chapter
    planned = [c.name for c in ALL_CHAPTERS if not c.exists]
    hint = f" ({name!r} is planned but not written yet)" if name in planned else ""
    raise ConfigError(f"unknown chapter {name!r}{hint}; valid chapters: {', '.join(valid) or 'none'}")


def check_scale(scale: str) -> str:
    """Return ``scale`` if it is one of SCALES, else refuse with the valid ones."""
    if scale not in SCALES:
        raise ConfigError(f"unknown scale {scale!r}; valid scales: {', '.join(SCALES)}")
    return scale
