"""What the Hinton et al. (2015) MNIST chapter runs and checks: the teacher, the student on hard
labels and distilled at T = 20, the temperature sweeps of a wide and a narrow student, and two
restricted transfer sets: one without any 3 and one of only 7s and 8s, each with the bias shift
that recovers the digits the student never saw."""

from __future__ import annotations

import dataclasses
import statistics
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import torch
from torch import Tensor

from .. import data
from ..checks import Check, check, check_claim, check_seeds, get_published
from ..data import DatasetSpec
from ..engine import Split, TrainConfig, Trainer, predict_logits, process_device, save_model
from ..errors import ConfigError
from ..evaluation.error_counts import best_bias_shift, class_bias, error_count, errors_per_class
from ..methods import KD, CrossEntropy, StoredTeacher
from ..models import create_model
from ..recipes.hinton import HintonRecipe, recipe

TEACHER = "mlp_1200_1200_dropout"
PAPER_SHIFT_3 = 3.5  # the paper's bias shift for class 3 (chosen on the test set, Section 3)
PAPER_SHIFT_78 = -7.6  # the paper's shift of the biases of 7 and 8 (also chosen on the test set)
SHIFTS = torch.arange(0, 12.01, 0.25)  # the bias shifts searched on training images (in magnitude)
HEADLINE = ("teacher", "student", "distilled")  # the nets trained with every seed of the recipe


@dataclass
class Seeds:
    """The headline nets' test errors for each seed."""
    errors: dict[int, dict[str, int]]  # seed → net → test errors

    def of(self, name: str) -> list[int]:
        return [by_net[name] for by_net in self.errors.values()]

    def table(self) -> pd.DataFrame:
        """One row per seed, then the mean and the standard deviation."""
        rows = {f"seed {s}": by_net for s, by_net in self.errors.items()}
        rows["mean"] = {n: round(statistics.fmean(self.of(n)), 1) for n in HEADLINE}
        if len(self.errors) > 1:
            rows["sd"] = {n: round(statistics.stdev(self.of(n)), 1) for n in HEADLINE}
        return pd.DataFrame(rows).T.rename_axis("test errors")


@dataclass
class HintonSetup:
    scale: str
    seed: int
    temperature: float
    recipe: HintonRecipe
    teacher_cfg: TrainConfig
    student_cfg: TrainConfig
    out: Path
    spec: DatasetSpec
    train: Split
    test: Split
    device: str  # where the logits are computed: the Trainer's device
    teacher: torch.nn.Module | None = None
    stored: StoredTeacher | None = None  # the teacher's logits on the training images, computed once
    hist: dict[str, list[dict]] = field(default_factory=dict)  # every trained net's history, by name
    seeds: Seeds | None = None  # the headline over the recipe's seeds, once trained

    @property
    def n_train(self) -> int:
        return self.train.size

    @property
    def verbose(self) -> int:
        return max(1, self.teacher_cfg.epochs // 5)

    def parameters(self) -> dict:
        r = self.recipe
        return {"scale": self.scale, "seed": self.seed, "temperature": self.temperature,
                "soft_weight": r.soft_weight, "hard_weight": r.hard_weight, "distil_lr": r.distil_lr,
                "narrow_lr": r.narrow_lr,
                "teacher": self.teacher_cfg.to_dict(), "student": self.student_cfg.to_dict()}

    def describe(self) -> str:
        return (f"scale {self.scale}: {self.n_train} training images, teacher {self.teacher_cfg.epochs} epochs, "
                f"students {self.student_cfg.epochs} epochs, writing to {self.out}")

    def errors(self, name: str) -> int:
        """Test errors of the net ``name`` (``teacher``, ``student``, ``distilled``, …) after its last epoch."""
        return self.hist[name][-1]["test_errors"]

    def headline(self, name: str) -> list[int]:
        """Test errors of the headline net ``name`` for every seed trained (this run's alone before
        :func:`train_seeds`)."""
        return self.seeds.of(name) if self.seeds else [self.errors(name)]


def setup(scale: str, out: Path, seed: int = 0, temperature: float = 20.0, teacher_epochs: int | None = None,
          student_epochs: int | None = None) -> HintonSetup:
    """The scale's recipe (epochs overridable) and MNIST, prepared if it is not yet."""
    r = recipe(scale)
    teacher_cfg = r.teacher.replace(seed=seed, **({"epochs": teacher_epochs} if teacher_epochs else {}))
    student_cfg = r.student.replace(seed=seed, **({"epochs": student_epochs} if student_epochs else {}))
    data.prepare("mnist")  # no-op once prepared; see `kdrepro data prepare --help`
    spec = data.get_spec("mnist")
    train_x, train_y = data.load("mnist", "train")
    test_x, test_y = data.load("mnist", "test")
    subset = None if r.train_subset is None else torch.arange(r.train_subset)
    return HintonSetup(scale, seed, temperature, r, teacher_cfg, student_cfg, Path(out), spec,
                       Split(train_x, train_y, spec.mean, spec.std, subset), Split(test_x, test_y, spec.mean, spec.std),
                       str(process_device()))


def logits(hs: HintonSetup, model: torch.nn.Module, split: Split, *, subset: bool = False) -> Tensor:
    """``model``'s logits on every image of ``split`` (only the run's training subset if ``subset``)."""
    return predict_logits(model, split.images, split.labels, mean=hs.spec.mean, std=hs.spec.std, device=hs.device,
                          indices=split.indices if subset else None)


def train_teacher(hs: HintonSetup) -> torch.nn.Module:
    """784-1200-1200-10 with dropout, max-norm and ±2-pixel jitter; its training logits are stored."""
    teacher = create_model(TEACHER, seed=hs.seed)
    hs.hist["teacher"] = Trainer(hs.teacher_cfg, hs.out / "teacher", verbose=hs.verbose).fit(
        CrossEntropy(teacher), hs.train, hs.test, augment=data.Augment(jitter=hs.recipe.jitter))
    save_model(teacher, hs.out / "teacher" / "model.pt", test_errors=hs.errors("teacher"))
    hs.teacher = teacher.eval()
    hs.stored = StoredTeacher(training_logits(hs, teacher))
    return hs.teacher


def training_logits(hs: HintonSetup, model: torch.nn.Module) -> Tensor:
    """``model``'s logits on the run's training images, at their indices in the whole training set (a
    stored teacher is looked up by sample index); zeros at the images a subset leaves out."""
    if hs.train.indices is None:
        return logits(hs, model, hs.train)
    known = logits(hs, model, hs.train, subset=True)
    return known.new_zeros(len(hs.train.labels), known.shape[1]).index_copy_(0, hs.train.indices, known)


def student(hs: HintonSetup, hidden=(800, 800)) -> torch.nn.Module:
    """An unregularised MLP student (no dropout, no jitter, no weight decay)."""
    return create_model("mlp", hidden=hidden, seed=hs.seed)


def distil(hs: HintonSetup, model: torch.nn.Module, temperature: float, folder: str, cfg: TrainConfig | None = None,
           train: Split | None = None, verbose: bool | int = False) -> list[dict]:
    """KD from the stored teacher logits at ``temperature`` with the recipe's soft and hard weights, at
    its ``distil_lr`` unless ``cfg`` says otherwise."""
    r = hs.recipe
    return Trainer(cfg or hs.student_cfg.replace(lr=r.distil_lr), hs.out / folder, verbose=verbose).fit(
        KD(model, hs.stored, temperature, r.soft_weight, r.hard_weight), train or hs.train, hs.test)


def train_students(hs: HintonSetup) -> pd.DataFrame:
    """The 800-800 student on hard labels, and the same student distilled at the chapter's T."""
    hs.hist["student"] = Trainer(hs.student_cfg, hs.out / "student", verbose=hs.verbose).fit(
        CrossEntropy(student(hs)), hs.train, hs.test)
    hs.hist["distilled"] = distil(hs, student(hs), hs.temperature, f"distilled_T{hs.temperature:g}",
                                  verbose=hs.verbose)
    return pd.DataFrame({name: {"test errors": h[-1]["test_errors"], "test accuracy %": h[-1]["test_accuracy"]}
                         for name, h in hs.hist.items()}).T


def reseeded(hs: HintonSetup, seed: int) -> HintonSetup:
    """The chapter's setup with another seed, writing to ``out/seed<seed>``."""
    return dataclasses.replace(hs, seed=seed, teacher_cfg=hs.teacher_cfg.replace(seed=seed),
                               student_cfg=hs.student_cfg.replace(seed=seed), out=hs.out / f"seed{seed}",
                               teacher=None, stored=None, hist={}, seeds=None)


def train_seed(hs: HintonSetup, seed: int) -> dict[str, int]:
    """The teacher, the student on hard labels and the distilled student with ``seed``: their test errors.
    Separate processes may train different seeds at once; the chapter then reuses their runs."""
    other = reseeded(hs, seed)
    train_teacher(other)
    train_students(other)
    return {name: other.errors(name) for name in HEADLINE}


def train_seeds(hs: HintonSetup) -> Seeds:
    """The headline over the recipe's seeds: this run's own seed and the ``recipe.seeds - 1`` after it."""
    errors = {hs.seed: {name: hs.errors(name) for name in HEADLINE}}
    for seed in range(hs.seed + 1, hs.seed + hs.recipe.seeds):
        errors[seed] = train_seed(hs, seed)
    hs.seeds = Seeds(errors)
    return hs.seeds


def teacher_gap(hs: HintonSetup) -> tuple[float, float]:
    """How many more test errors the distilled student makes than its own teacher: ours (means over
    the seeds trained) and the paper's (74 − 67). A gap like the paper's puts a miss of the paper's
    distilled count on the teacher; a wider one, on what the student learns from it."""
    ours = statistics.fmean(hs.headline("distilled")) - statistics.fmean(hs.headline("teacher"))
    paper = get_published("hinton2015/mnist/distilled_errors").value - get_published("hinton2015/mnist/teacher_errors").value
    return round(ours, 1), paper


@dataclass
class Sweeps:
    wide: dict[float, int]  # 800-800 students: T → test errors
    narrow: dict[float, int]  # 30-30 students
    narrow_hard: int  # the 30-30 student on hard labels

    def table(self, narrow_width: int) -> pd.DataFrame:
        return pd.DataFrame({"800-800": pd.Series(self.wide),
                             f"{narrow_width}-{narrow_width}": pd.Series(self.narrow)}).rename_axis("T")


def temperature_sweeps(hs: HintonSetup) -> Sweeps:
    """Distil an 800-800 and a 30-30 student at each of the recipe's temperatures."""
    r = hs.recipe
    narrow_cfg = hs.student_cfg.replace(lr=r.narrow_lr)
    narrow_hidden = (r.narrow_width,) * 2

    def errors(hidden, T, cfg=None):
        return distil(hs, student(hs, hidden), T, f"sweep_{hidden[0]}_T{T:g}", cfg)[-1]["test_errors"]

    def wide_errors(T):  # at the chapter's T, the headline's distilled student (reused once trained)
        if T != hs.temperature:
            return errors((800, 800), T)
        # hs.temperature, not T: the run's fingerprint tells 20 from 20.0, and the headline trained with the former
        return distil(hs, student(hs), hs.temperature, f"distilled_T{T:g}")[-1]["test_errors"]

    wide = {T: wide_errors(T) for T in r.wide_temperatures}
    narrow = {T: errors(narrow_hidden, T, narrow_cfg) for T in r.narrow_temperatures}
    narrow_hard = Trainer(narrow_cfg, hs.out / "narrow_hard_labels", verbose=False).fit(
        CrossEntropy(student(hs, narrow_hidden)), hs.train, hs.test)[-1]["test_errors"]
    return Sweeps(wide, narrow, narrow_hard)


@dataclass
class RestrictedTransfer:
    """A student distilled on a transfer set restricted to some classes (or without one), judged on the
    whole test set before and after adding a shift to the biases of ``classes``."""
    classes: tuple[int, ...]  # the classes whose bias is shifted
    test_logits: Tensor
    test_labels: Tensor
    shift: float  # chosen on the training images
    paper_shift: float

    def errors(self, shift: float = 0.0) -> tuple[int, int]:
        """(all test errors, errors on the test images of ``classes``) after adding ``shift`` to their biases."""
        bias = class_bias(self.test_logits.shape[1], self.classes, shift)
        wrong = errors_per_class(self.test_logits + bias, self.test_labels)
        return error_count(self.test_logits, self.test_labels, bias), int(wrong[list(self.classes)].sum())

    def error_rate(self, shift: float = 0.0) -> float:
        """Test errors in % of the test set (the unit of the paper's 7-and-8 numbers)."""
        return round(100 * self.errors(shift)[0] / len(self.test_labels), 2)

    @property
    def class_names(self) -> str:
        return " and ".join(f"{c}s" for c in self.classes)

    def table(self) -> pd.DataFrame:
        rows = {"no shift": self.errors(), f"shift {self.shift:g} (chosen on training images)": self.errors(self.shift),
                f"shift {self.paper_shift:g} (the paper's)": self.errors(self.paper_shift)}
        n = int(torch.isin(self.test_labels, torch.tensor(self.classes)).sum())
        return pd.DataFrame(rows, index=["test errors", f"errors on the {n} test {self.class_names}"]).T

    def curve(self, shifts: Tensor) -> list[tuple[float, int, int]]:
        """(shift, test errors, errors on ``classes``) over ``shifts``."""
        return [(s, *self.errors(s)) for s in shifts.tolist()]


def distil_restricted(hs: HintonSetup, keep: Tensor, folder: str, classes: tuple[int, ...], shifts: Tensor,
                      paper_shift: float) -> RestrictedTransfer:
    """Distil the 800-800 student at the chapter's T from the training images ``keep``; choose the
    shift of the biases of ``classes`` on all the training images (the paper chose it on the test set)."""
    train_x, train_y = hs.train.images, hs.train.labels
    if hs.train.indices is not None:
        keep = keep[torch.isin(keep, hs.train.indices)]
    model = student(hs)
    hs.hist[folder] = distil(hs, model, hs.temperature, folder,
                             train=Split(train_x, train_y, hs.spec.mean, hs.spec.std, keep), verbose=hs.verbose)
    train_labels = train_y if hs.train.indices is None else train_y[hs.train.indices]
    shift, _ = best_bias_shift(logits(hs, model, hs.train, subset=True), train_labels, classes, shifts)
    return RestrictedTransfer(classes, logits(hs, model, hs.test), hs.test.labels, shift, paper_shift)


def omit_class(hs: HintonSetup, cls: int = 3, paper_shift: float = PAPER_SHIFT_3) -> RestrictedTransfer:
    """A transfer set with no image of ``cls``; the bias of ``cls`` is then raised."""
    keep = torch.nonzero(hs.train.labels != cls).squeeze(1)
    return distil_restricted(hs, keep, f"omit{cls}", (cls,), SHIFTS, paper_shift)


def only_classes(hs: HintonSetup, classes: tuple[int, ...] = (7, 8),
                 paper_shift: float = PAPER_SHIFT_78) -> RestrictedTransfer:
    """A transfer set of only ``classes``; their biases are then lowered."""
    keep = torch.nonzero(torch.isin(hs.train.labels, torch.tensor(classes))).squeeze(1)
    return distil_restricted(hs, keep, "only" + "".join(map(str, classes)), tuple(classes), -SHIFTS, paper_shift)


def checks(hs: HintonSetup, sweeps: Sweeps, omitted: RestrictedTransfer,
           only78: RestrictedTransfer | None = None) -> list[Check]:
    """Every published MNIST number and claim beside ours, each with its exact setting."""
    base = {"dataset": "mnist", "train_size": hs.n_train, "test_size": len(hs.test.labels)}
    pair = {**base, "teacher": TEACHER, "student": "mlp_800_800", "temperature": hs.temperature}
    no3_pair = {**pair, "transfer_set": "no 3s"}
    unshifted, shifted = omitted.errors(), omitted.errors(omitted.shift)
    flat = [sweeps.wide[T] for T in sweeps.wide if T >= 8]
    flat_ok = max(flat) - min(flat) <= max(15, 0.2 * sum(flat) / len(flat))
    inside = [sweeps.narrow[T] for T in sweeps.narrow if 2.5 <= T <= 4]
    outside = [sweeps.narrow[T] for T in sweeps.narrow if not 2.5 <= T <= 4]
    scale = hs.scale
    out = [
        check_seeds("hinton2015/mnist/teacher_errors", hs.headline("teacher"), scale=scale,
                    setting={**base, "model": TEACHER, "jitter": hs.recipe.jitter}),
        check_seeds("hinton2015/mnist/student_errors", hs.headline("student"), scale=scale,
                    setting={**base, "model": "mlp_800_800", "jitter": 0}),
        check_seeds("hinton2015/mnist/distilled_errors", hs.headline("distilled"), scale=scale, setting=pair),
        check("hinton2015/mnist/omit3_errors", unshifted[0], scale=scale, setting=no3_pair),
        check("hinton2015/mnist/omit3_errors_on_3", unshifted[1], scale=scale, setting=no3_pair),
        check("hinton2015/mnist/omit3_bias_errors", shifted[0], scale=scale, setting=no3_pair),
        check("hinton2015/mnist/omit3_bias_errors_on_3", shifted[1], scale=scale, setting=no3_pair),
        check_claim("hinton2015/mnist/wide_temperature_flat", flat_ok,
                    f"800-800 errors at T ≥ 8: {', '.join(str(e) for e in flat)} (spread {max(flat) - min(flat)}; "
                    f"'similar' = within max(15, 20 % of their mean))", scale=scale,
                    setting={**base, "teacher": TEACHER}),
        check_claim("hinton2015/mnist/narrow_temperature_best", min(inside) < min(outside),
                    f"30-30 errors: best in 2.5–4 = {min(inside)}, best outside = {min(outside)}",
                    scale=scale, setting={**base, "teacher": TEACHER}),
    ]
    if only78 is not None:
        only_pair = {**pair, "transfer_set": "only 7s and 8s"}
        out += [check("hinton2015/mnist/only78_error_rate", only78.error_rate(), scale=scale, setting=only_pair),
                check("hinton2015/mnist/only78_bias_error_rate", only78.error_rate(only78.shift), scale=scale,
                      setting=only_pair)]
    return out


def metrics(hs: HintonSetup, sweeps: Sweeps, omitted: RestrictedTransfer,
            only78: RestrictedTransfer | None = None) -> dict:
    """What ``results.json`` keeps of the run."""
    unshifted, shifted, paper = omitted.errors(), omitted.errors(omitted.shift), omitted.errors(omitted.paper_shift)
    extra = {} if only78 is None else {
        "only78_error_rate": only78.error_rate(), "only78_chosen_shift": only78.shift,
        "only78_shifted_error_rate": only78.error_rate(only78.shift),
        "only78_paper_shift_error_rate": only78.error_rate(only78.paper_shift)}
    return {
        "teacher_test_errors": hs.errors("teacher"),
        "student_test_errors": hs.errors("student"),
        "distilled_test_errors": hs.errors("distilled"),
        "wide_sweep_errors": {str(k): v for k, v in sweeps.wide.items()},
        "narrow_sweep_errors": {str(k): v for k, v in sweeps.narrow.items()},
        "narrow_hard_label_errors": sweeps.narrow_hard,
        "omit3_errors": unshifted[0], "omit3_errors_on_3": unshifted[1],
        "omit3_chosen_shift": omitted.shift, "omit3_shifted_errors": shifted[0], "omit3_shifted_errors_on_3": shifted[1],
        "omit3_paper_shift_errors": paper[0], "omit3_paper_shift_errors_on_3": paper[1],
        **extra,
        "seeds": {str(seed): by_net for seed, by_net in hs.seeds.errors.items()} if hs.seeds else {},
        "train_size": hs.n_train, "epochs": {"teacher": hs.teacher_cfg.epochs, "student": hs.student_cfg.epochs},
    }


PARTS = ("headline", "sweeps", "restricted")  # what `kdrepro hinton train --parts` can train


def train_parts(hs: HintonSetup, parts: tuple[str, ...], seeds: list[int]) -> list[str]:
    """Train the chapter's runs of ``parts`` for each of ``seeds`` in this process, into the folders
    the notebook uses: ``headline`` (teacher, student, distilled), ``sweeps`` (the temperature sweeps)
    and ``restricted`` (the transfer sets without 3s and of only 7s and 8s; the last two serve the
    chapter at its own seed). Several processes can so share one long run: each trains what it is
    given, waits for a run another one is training, and the notebook then reuses every finished run.
    Returns one line per part and seed saying what it measured."""
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        raise ConfigError(f"unknown part(s) {', '.join(unknown)} of the Hinton chapter; valid: {', '.join(PARTS)}")
    lines = []
    for seed in seeds:
        run = hs if seed == hs.seed else reseeded(hs, seed)
        train_teacher(run)  # every part needs it (reused when trained, awaited when another process trains it)
        if "headline" in parts:
            train_students(run)
            lines.append(f"seed {seed}: " + ", ".join(f"{n} {run.errors(n)} test errors" for n in HEADLINE))
        if "sweeps" in parts:
            sw = temperature_sweeps(run)
            lines.append(f"seed {seed}: test errors by T, 800-800 {sw.wide}, {run.recipe.narrow_width}-"
                         f"{run.recipe.narrow_width} {sw.narrow} (hard labels {sw.narrow_hard})")
        if "restricted" in parts:
            no3, only78 = omit_class(run), only_classes(run)
            lines.append(f"seed {seed}: no 3s {no3.errors()[0]} test errors ({no3.errors(no3.shift)[0]} after a "
                         f"shift of {no3.shift:g}); only 7s and 8s {only78.error_rate()} % ({only78.error_rate(only78.shift)} "
                         f"% after {only78.shift:g})")
    return lines
