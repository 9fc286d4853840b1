"""What the DeiT chapter runs and checks: one small ViT trained without a teacher, with soft and hard
distillation on its class token, with the distillation token, and the two-class-token control; the
accuracy of each head; the cosine of the two tokens through the layers; the claims and Table 3.

At full scale it is the paper's ImageNet-1k setting (:class:`~kdrepro.recipes.deit.DeitImageNetRecipe`):
timm's DeiT of one size (``size``), the pretrained RegNetY-16GF teacher, streamed images with timm's
augmentation, Mixup/CutMix and repeated augmentation, and Table 3's column of that size checked.

Soft distillation runs twice: ``soft`` with the official code's KL normalisation (÷ batch ×
classes, what produced Table 3) and ``soft_batch``, the ablation with the KL averaged over the
batch only (larger by the number of classes)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import torch
import torch.nn as nn

from ..checks import Check, check, check_claim, check_improvement, not_measured
from ..checks.published import DEIT_TABLE3
from ..data import Augment, DatasetSpec, choose_dataset, get_spec
from ..data.imagenet import TrainTransform, folder_splits, num_classes
from ..data.mixing import BatchMix
from ..engine import Split, Trainer, final_metrics, is_main_process, process_device
from ..engine.evaluate import evaluate_split
from ..engine.rehearsal import rehearsal_subset
from ..errors import ConfigError
from ..methods import CrossEntropy
from ..methods.deit import DeiT, learned_token_cosine, token_cosine
from ..models import ModelOutput, create_model
from ..training.pairs import probe_batch
from ..paths import runs_root
from ..models.pretrained import pretrained_teacher
from ..recipes.deit import DeitImageNetRecipe, DeitRecipe
from ..recipes.deit import recipe as deit_recipe
from ..stores.batches import BatchStoredTeacher, record_batch_topk
from ..training.teachers import Teacher, get_teacher, load_splits

MODES = ("none", "soft", "soft_batch", "hard", "token_hard", "two_class_tokens")
LABELS = {"none": "no teacher", "soft": "soft distillation (class token)",
          "soft_batch": "soft distillation, KL ÷ batch (ablation)", "hard": "hard distillation (class token)",
          "token_hard": "distillation token (hard)", "two_class_tokens": "two class tokens, no teacher"}
# The soft runs' KL normalisation (kdrepro.methods.deit.soft_kl): the recipe's (the official code's) for
# "soft", the batch mean for the ablation.
_FOLDERS = {"soft": "soft_elements"}  # not "soft": that folder may hold a run of the former batch-mean loss
SIZES = ("tiny", "small", "base")
DEIT_NAMES = {"tiny": "DeiT-Ti", "small": "DeiT-S", "base": "DeiT-B"}
TABLE3_MODES = {"none": "none", "soft": "soft", "hard": "hard", "token": "token_hard"}  # Table 3's row → mode


@dataclass
class DeitSetup:
    scale: str
    recipe: DeitRecipe | DeitImageNetRecipe
    dataset: str
    spec: DatasetSpec | None  # None on ImageNet (a streamed image folder)
    teacher: Teacher
    seeds: tuple[int, ...]
    splits: tuple[Split, Split]
    runs: dict[tuple[str, int], tuple[nn.Module, list[dict], Path]] = field(default_factory=dict)
    size: str | None = None  # ImageNet: which DeiT (tiny, small, base)
    classes: int = 0

    @property
    def imagenet(self) -> bool:
        return isinstance(self.recipe, DeitImageNetRecipe)

    @property
    def setting(self) -> dict:
        same = "same ViT, teacher, data and recipe"
        if self.imagenet:
            return {"dataset": self.dataset, "recipe": "deit-300", "model": f"deit_{self.size}", "comparison": same}
        return {"dataset": self.spec.comparable_to or self.dataset, "recipe": f"kdrepro-{self.scale}",
                "comparison": same}

    def run_folders(self) -> list[Path]:
        """Every run folder this chapter trained or read (the CIFAR teacher's too)."""
        folders = [folder for (_, _, folder) in self.runs.values()]
        return folders if self.imagenet else folders + [self.teacher.path.parent / "run"]

    def student_name(self, mode: str) -> str:
        two_tokens = mode in ("token_hard", "two_class_tokens")
        if self.imagenet:
            return f"deit_{self.size}_{'distilled_' if two_tokens else ''}patch16_224"
        return "deit_tiny_distilled_p4" if two_tokens else "vit_tiny_p4"

    def student_kwargs(self) -> dict:
        return {"drop_path_rate": self.recipe.drop_path} if self.imagenet else dict(self.recipe.student)

    def describe(self) -> str:
        if self.imagenet:
            r = self.recipe
            return "\n".join([f"full scale on {self.dataset} ({self.classes} classes; "
                               f"{self.splits[0].size:,} training, {self.splits[1].size:,} validation images)",
                               f"teacher {r.teacher}: {self.teacher.accuracy:.2f} % top-1 on the validation images",
                               f"student {DEIT_NAMES[self.size]} (timm's deit_{self.size}_patch16_224); "
                               f"{r.epochs} epochs, AdamW lr {r.lr:g}, batch {r.batch_size}",
                               f"seeds {list(self.seeds)}"])
        r, s = self.recipe, self.recipe.student
        lossy = " (a lossy JPEG copy of CIFAR-10: close to, not equal to, CIFAR-10)" if self.spec.lossy else ""
        return "\n".join([f"{self.scale} scale on {self.dataset}{lossy}",
                          f"teacher {r.teacher}: {self.teacher.accuracy:.2f} % test accuracy",
                          f"student ViT: {s.get('depth')} blocks, width {s.get('embed_dim')}, 4×4 patches; "
                          f"{r.epochs} epochs, AdamW lr {r.lr:g}, batch {r.batch_size}", f"seeds {list(self.seeds)}"])


def setup(scale: str, dataset: str | None = None, seeds=None, teacher_mode: str = "train",
          verbose: bool | int = True, size: str | None = None, teacher_checkpoint: str | None = None,
          workers: int | None = None, evaluate_teacher: bool = True, teacher_source: str | None = None) -> DeitSetup:
    """The chapter's runs to make: on CIFAR-sized images (smoke, medium), or on ImageNet (full:
    ``size`` picks the DeiT, ``teacher_checkpoint`` the teacher's weights when the Hub is not reachable;
    the teacher's validation accuracy is measured unless ``evaluate_teacher`` is false)."""
    r = deit_recipe(scale)
    if isinstance(r, DeitImageNetRecipe):
        return _imagenet_setup(r, dataset, seeds, size, teacher_checkpoint, workers, evaluate_teacher, teacher_source)
    if teacher_source not in (None, "live"):
        raise ConfigError("teacher_source store is the full scale's (ImageNet, Mixup/CutMix): the smaller scales "
                          "run the teacher live")
    dataset = choose_dataset(scale, dataset, r.datasets)
    teacher = get_teacher(r.teacher, dataset, scale, 0, mode=teacher_mode, verbose=verbose)
    splits = load_splits(dataset, r.train_subset, r.test_subset)
    spec = get_spec(dataset)
    return DeitSetup(scale, r, dataset, spec, teacher, tuple(seeds if seeds is not None else r.seeds), splits,
                     classes=spec.num_classes)


def _imagenet_setup(r: DeitImageNetRecipe, dataset: str | None, seeds, size: str | None,
                    teacher_checkpoint: str | None, workers: int | None, evaluate_teacher: bool,
                    teacher_source: str | None = None) -> DeitSetup:
    if teacher_source is not None:
        r = dataclasses.replace(r, teacher_source=teacher_source)
    size = size or r.sizes[0]
    if size not in SIZES:
        raise ConfigError(f"unknown DeiT size {size!r}; valid: {', '.join(SIZES)}")
    if dataset not in (None, r.dataset):
        raise ConfigError(f"the full scale trains on {r.dataset}, not {dataset!r}")
    classes = num_classes(r.dataset)
    splits = folder_splits(r.dataset, TrainTransform(r.image_size, r.rand_augment, r.re_prob),
                           eval_size=r.image_size, crop_pct=r.crop_pct,
                           workers=r.workers if workers is None else workers,
                           repeats=r.repeats)
    model = pretrained_teacher(r.teacher, teacher_checkpoint, num_classes=classes).to(process_device())
    accuracy = evaluate_split(model, rehearsal_subset(splits[1]))["accuracy"] if evaluate_teacher else float("nan")
    teacher = Teacher(model, {"test_accuracy": accuracy, "model": r.teacher, "checkpoint": teacher_checkpoint},
                      runs_root() / "deit" / r.dataset / "full" / "teacher")
    return DeitSetup("full", r, r.dataset, None, teacher, tuple(seeds if seeds is not None else r.seeds), splits,
                     size=size, classes=classes)


def run_dir(ds: DeitSetup, mode: str, seed: int) -> Path:
    base = runs_root() / "deit" / ds.dataset / ds.scale
    folder = _FOLDERS.get(mode, mode)
    if ds.imagenet:
        base = base / f"deit_{ds.size}"
        if ds.recipe.teacher_source == "store" and mode not in ("none", "two_class_tokens"):
            folder += "-from_store"  # beside the live teacher's run of the mode, not in its place
    return base / folder / f"seed{seed}"


def build_method(r: DeitRecipe, mode: str, student: nn.Module, teacher: nn.Module | None) -> nn.Module:
    """The method that trains ``student`` in the chapter's ``mode``."""
    if mode not in MODES:
        raise ConfigError(f"unknown mode {mode!r}; valid: {', '.join(MODES)}")
    if mode == "none":
        return CrossEntropy(student)
    if mode == "two_class_tokens":
        return DeiT(student, None, mode=mode)
    if mode == "soft_batch":
        return DeiT(student, teacher, mode="soft", temperature=r.temperature, lam=r.lam, kl_normalisation="batch")
    return DeiT(student, teacher, mode=mode, temperature=r.temperature, lam=r.lam,
                kl_normalisation=r.kl_normalisation)


def train(ds: DeitSetup, mode: str, seed: int, verbose: bool | int = True):
    """Train (or reload) the ViT of ``mode`` for ``seed``; the same initial weights for every mode
    with the same number of tokens."""
    if mode not in MODES:
        raise ConfigError(f"unknown mode {mode!r}; valid: {', '.join(MODES)}")
    if (mode, seed) in ds.runs:
        return ds.runs[(mode, seed)]
    r = ds.recipe
    student = create_model(ds.student_name(mode), num_classes=ds.classes, seed=seed, **ds.student_kwargs())
    teacher = None if mode in ("none", "two_class_tokens") else ds.teacher.model
    if teacher is not None and ds.imagenet and r.teacher_source == "store":
        teacher = BatchStoredTeacher(teacher_store(ds, seed))
    method = build_method(r, mode, student, teacher)
    folder = run_dir(ds, mode, seed)
    train_split, test_split = ds.splits
    if ds.imagenet:  # the images come augmented from the workers; Mixup/CutMix on the batch
        extra = {"mix": _mix(ds)}
    else:
        extra = {"augment": Augment(crop_padding=r.crop_padding, flip=True)}
    history = Trainer(r.config(seed), folder, verbose=verbose).fit(method, train_split, test_split, **extra)
    ds.runs[(mode, seed)] = (student.eval(), history, folder)
    return ds.runs[(mode, seed)]


def _mix(ds: DeitSetup) -> BatchMix:
    r = ds.recipe
    return BatchMix(ds.classes, mixup=r.mixup, cutmix=r.cutmix, label_smoothing=r.smoothing)


def teacher_store(ds: DeitSetup, seed: int):
    """The teacher's top-``store_k`` on every (mixed) batch the ImageNet runs of ``seed`` train on,
    recorded once (the pass resumes where it stopped) and read by each distilled mode of that seed."""
    r = ds.recipe
    k = min(r.store_k, ds.classes)
    path = runs_root() / "deit" / ds.dataset / "full" / "teacher_store" / f"seed{seed}-k{k}"
    return record_batch_topk(ds.teacher.model, ds.splits[0], r.config(seed), k, path, mix=_mix(ds))


def run(ds: DeitSetup, modes=MODES, verbose: bool | int = True) -> None:
    unknown = [m for m in modes if m not in MODES]
    if unknown:
        raise ConfigError(f"unknown mode(s) {', '.join(map(repr, unknown))}; valid: {', '.join(MODES)}")
    for seed in ds.seeds:
        for mode in modes:
            if (mode, seed) not in ds.runs and is_main_process():
                print(f"— {LABELS[mode]}, seed {seed}", flush=True)
            train(ds, mode, seed, verbose)


def accuracies(ds: DeitSetup, mode: str) -> list[float]:
    return [final_metrics(h)["test_accuracy"] for (m, _), (_, h, _) in sorted(ds.runs.items()) if m == mode]


class _Head(nn.Module):
    """One head of a two-token ViT, as a model of its own (for evaluation)."""

    def __init__(self, model: nn.Module, head: str):
        super().__init__()
        self.model, self.head = model, head

    def forward(self, x):
        return ModelOutput(self.model(x).heads[self.head])


def head_table(ds: DeitSetup, seed: int) -> pd.DataFrame:
    """Test accuracy of the class head, the second head and their combination, per two-token run."""
    _, test = ds.splits
    rows = []
    for mode in ("token_hard", "two_class_tokens"):
        if (mode, seed) not in ds.runs:
            continue
        model = ds.runs[(mode, seed)][0]
        both = "both (logits averaged)" if getattr(model, "combine", "softmax") == "logits" else "both (softmax added)"
        acc = {name: evaluate_split(net, test)["accuracy"]
               for name, net in (("class head", _Head(model, "cls")), ("second head", _Head(model, "dist")),
                                 (both, model))}
        rows.append({"run": LABELS[mode], **{k: round(v, 2) for k, v in acc.items()}})
    return pd.DataFrame(rows).set_index("run")


LEARNED, OUTPUT = "learned tokens", "output (normed)"


def cosine_table(ds: DeitSetup, seed: int, n: int = 256) -> pd.DataFrame:
    """Cosine of the two learned tokens themselves (the paper's 0.06 and 0.999), then the mean cosine
    of their embeddings at the input, after each block and after the final norm (the paper's 0.93)."""
    x = probe_batch(ds.splits[1], n)
    cols = {}
    for mode in ("token_hard", "two_class_tokens"):
        if (mode, seed) in ds.runs:
            model = ds.runs[(mode, seed)][0]
            device = next(model.parameters()).device
            cols[LABELS[mode]] = [learned_token_cosine(model)] + token_cosine(model, x.to(device))
    depth = len(next(iter(cols.values()))) - 3 if cols else 0
    index = [LEARNED, "input"] + [f"block {i + 1}" for i in range(depth)] + [OUTPUT]
    return pd.DataFrame(cols, index=index)


def checks(ds: DeitSetup, cosines: pd.DataFrame) -> list[Check]:
    """The claims on our runs (improvements against the seeds' spread, or with one seed the test
    set's sampling noise); Table 3's column of the size trained at full scale, the rest listed."""
    n_test = ds.splits[1].size
    out = []
    for key, better, worse, names in (("touvron2021/claim/distilled_beats_alone", "token_hard", "none",
                                       ("distillation token", "no teacher")),
                                      ("touvron2021/claim/hard_at_least_soft", "hard", "soft", ("hard", "soft"))):
        a, b = accuracies(ds, better), accuracies(ds, worse)
        if not (a and b):
            out.append(not_measured(key, f"needs the {better} and {worse} runs (this run's modes left one out)"))
            continue
        c = check_improvement(key, a, b, scale=ds.scale, setting=ds.setting, names=names, test_images=n_test)
        if better == "hard" and c.verdict == "inconclusive":  # "at least as good": a tie within the spread holds
            c.verdict, c.reason = "pass", ("a tie within the spread (or, with one seed, the sampling noise): hard is "
                                           "at least as good as soft")
        out.append(c)
    token, twins = LABELS["token_hard"], LABELS["two_class_tokens"]
    if token in cosines and twins in cosines:
        learned_t, learned_c = cosines.at[LEARNED, token], cosines.at[LEARNED, twins]
        out_t, out_c = cosines.at[OUTPUT, token], cosines.at[OUTPUT, twins]
        holds = learned_t < learned_c and learned_t < out_t and out_t < out_c
        out.append(check_claim("touvron2021/claim/tokens_distinct", bool(holds),
                               f"learned tokens: class/distillation {learned_t:.3f}, two class tokens {learned_c:.3f}; "
                               f"embeddings at the output: class/distillation {out_t:.3f}, two class tokens "
                               f"{out_c:.3f}", scale=ds.scale, setting=ds.setting))
    for row in DEIT_TABLE3:
        for size in SIZES:
            key, mode = f"touvron2021/imagenet/{row}/deit_{size}", TABLE3_MODES[row]
            measured = accuracies(ds, mode) if ds.imagenet and size == ds.size else []
            if measured:
                out.append(check(key, sum(measured) / len(measured), scale=ds.scale, setting=ds.setting))
            elif ds.imagenet:
                out.append(not_measured(key, f"not run here: `kdrepro run deit --scale full -p size {size}`"
                                        if size != ds.size else f"the {mode} run was not part of this run's modes"))
            else:
                out.append(not_measured(key, "ImageNet-1k, 300 epochs: the chapter's full scale (`kdrepro run deit "
                                             "--scale full`), not this one"))
    return out


@torch.no_grad()
def teacher_agreement(ds: DeitSetup, seed: int, n: int = 1000) -> pd.DataFrame:
    """How often each student's prediction agrees with the teacher's on test images (the paper's
    Table 4 idea: the distilled heads side with the teacher more than a ViT trained alone)."""
    x = probe_batch(ds.splits[1], n)
    teacher = ds.teacher.model.eval()
    t = teacher(x.to(next(teacher.parameters()).device)).logits.argmax(-1).cpu()
    rows = []
    for (mode, s), (model, _, _) in sorted(ds.runs.items()):
        if s == seed:
            pred = model(x.to(next(model.parameters()).device)).logits.argmax(-1).cpu()
            rows.append({"run": LABELS[mode], "agrees with the teacher (%)": round(100 * float((pred == t).float().mean()), 2)})
    return pd.DataFrame(rows).set_index("run")


__all__ = ["MODES", "LABELS", "DeitSetup", "setup", "build_method", "train", "run", "accuracies", "head_table",
           "cosine_table", "checks", "teacher_agreement"]
