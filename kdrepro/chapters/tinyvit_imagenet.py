"""The TinyViT chapter at the paper's scale: the README's ImageNet-1k rows, by both of its routes
(:mod:`kdrepro.recipes.tinyvit_imagenet`).

- **in21k**: the teacher pass runs CLIP-ViT-L/14-22k once over every (image, epoch) view of the
  90-epoch ImageNet-22k pretraining, each view replayed from its own seed in the loader's workers,
  and keeps its top-100 probabilities (:func:`~kdrepro.stores.topk.record_streamed_logits`); the
  TinyViT is pretrained from that store alone (soft cross-entropy, no labels, no teacher in memory),
  then fine-tuned on ImageNet-1k with its 22k head's rows of the 1k classes.
- **in1k**: the same TinyViT trained from scratch on ImageNet-1k, without distillation.

The 1k → 22k class map is read from the two registered folders (the same WordNet id), which is
what the official ``imagenet_1kto22k.txt`` lists; a 1k class missing from the 22k classes is
answered by a constant logit when the pretrained model is scored on ImageNet-1k (the official
``RemapLayer``) and starts its fine-tuning head from the mean of the mapped rows (``load_pretrained``).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn as nn

from ..checks import Check, check, not_measured
from ..data.image_folders import read_folder_meta
from ..data.imagenet import IMAGENET_MEAN, IMAGENET_STD, TrainTransform, eval_transform, num_classes, streamed
from ..data.imagenet22k import ZipPerClass
from ..data.mixing import BatchMix
from ..data.streaming import StreamSplit
from ..engine import Trainer, is_main_process
from ..engine.evaluate import evaluate_split
from ..engine.rehearsal import rehearsal_epochs, rehearsal_subset, rehearsal_train
from ..methods import KD, CrossEntropy
from ..models import ModelOutput
from ..models.clip_teacher import clip_vit_l14_22k
from ..models.pretrained import TimmClassifier
from ..paths import runs_root
from ..recipes.tinyvit_imagenet import FULL, TinyVitImageNetRecipe
from ..stores.topk import SparseLogitStore, SparseStoredTeacher, record_streamed_logits

STAGES = ("pretrain", "finetune", "scratch")
LABELS = {"pretrain": "pretraining distillation on ImageNet-22k (scored on ImageNet-1k through the class map)",
          "finetune": "ImageNet-22k distilled, then fine-tuned on ImageNet-1k",
          "scratch": "from scratch on ImageNet-1k, no distillation"}
ROUTE_STAGE = {"in21k": "finetune", "in1k": "scratch"}  # the stage whose accuracy is the route's row
ROUTE_SETTING = {"in21k": {"pretraining": "in21k", "distillation": "fast pretraining distillation (in21k)"},
                 "in1k": {"pretraining": "none", "distillation": "none"}}


class Remapped(nn.Module):
    """A 22k classifier scored on ImageNet-1k: each 1k class reads the logit of its 22k class; a
    class the 22k set lacks (``-1`` in the map) reads a constant 0."""

    def __init__(self, model: nn.Module, class_map: torch.Tensor):
        super().__init__()
        self.model = model
        self.register_buffer("class_map", class_map.clone())

    def forward(self, x: torch.Tensor) -> ModelOutput:
        logits = self.model(x).logits
        padded = torch.cat([logits, logits.new_zeros(len(logits), 1)], dim=1)  # index -1: the constant
        return ModelOutput(padded[:, self.class_map])


@dataclass
class TinyVitImageNet:
    recipe: TinyVitImageNetRecipe
    teacher_checkpoint: str | None
    val: StreamSplit  # ImageNet-1k validation images
    classes: int  # ImageNet-1k's
    seeds: tuple[int, ...]
    workers: int
    runs: dict[tuple[str, int], tuple[list[dict], Path, float]] = field(default_factory=dict)  # → history, folder, top-1
    store: SparseLogitStore | None = None
    store_seconds: float | None = None

    @property
    def size(self) -> str:
        return self.recipe.size

    @property
    def setting(self) -> dict:
        return {"dataset": "imagenet", "model": f"tinyvit_{self.size}"}

    def run_dirs(self) -> list[Path]:
        return [folder for _, folder, _ in self.runs.values()]

    def describe(self) -> str:
        r = self.recipe
        lines = [f"full scale: TinyViT-{r.size.upper()} (timm's {r.model}), routes {', '.join(r.routes)}, "
                 f"seeds {list(self.seeds)}; ImageNet-1k: {self.classes} classes, {self.val.size:,} validation images"]
        if "in21k" in r.routes:
            p, f = r.pretrain, r.finetune
            lines.append(f"in21k: {p.epochs} epochs on ImageNet-22k from the top-{r.k} of {r.teacher} (batch "
                         f"{p.batch_size}, lr {p.lr:g}), then {f.epochs} epochs on ImageNet-1k (batch {f.batch_size}, "
                         f"lr {f.lr:g}, layer decay {f.layer_decay})")
        if "in1k" in r.routes:
            s = r.scratch
            lines.append(f"in1k: {s.epochs} epochs from scratch (batch {s.batch_size}, lr {s.lr:g}, Mixup {s.mixup} / "
                         f"CutMix {s.cutmix})")
        return "\n".join(lines)


def setup(size: str | None = None, routes=None, teacher_checkpoint: str | None = None, workers: int | None = None,
          seeds=None) -> TinyVitImageNet:
    """The registered ImageNet-1k validation images and the run's choices (the rest is built per stage)."""
    import dataclasses

    r = dataclasses.replace(FULL, **{k: v for k, v in (("size", size), ("routes", tuple(routes or ())))
                                     if v})
    workers = r.workers if workers is None else workers
    val = streamed("imagenet", "val", eval_transform(224, 0.875), workers)
    return TinyVitImageNet(r, teacher_checkpoint, val, num_classes("imagenet"),
                           tuple(seeds if seeds is not None else r.seeds), workers)


def _root(ti: TinyVitImageNet) -> Path:
    return runs_root() / "tinyvit" / "imagenet" / "full"


def _train_transform():
    return TrainTransform(224).build(IMAGENET_MEAN, IMAGENET_STD)


def pretraining_split(ti: TinyVitImageNet) -> StreamSplit:
    """ImageNet-22k's images with the training transform, every view replayed from its (epoch, image) seed."""
    return StreamSplit.from_image_folder(ZipPerClass(_train_transform()), workers=ti.workers,
                                         replay_seed=ti.recipe.store_seed)


def class_map(classes_22k: list[str]) -> torch.Tensor:
    """For each ImageNet-1k class (sorted WordNet ids of the registered folder), its index among the
    22k classes, or -1 when the 22k set lacks it."""
    position = {wnid: i for i, wnid in enumerate(classes_22k)}
    return torch.tensor([position.get(wnid, -1) for wnid in read_folder_meta("imagenet")["classes"]])


def store_k(r: TinyVitImageNetRecipe, classes: int) -> int:
    """The K stored: the recipe's 100, or every class of a stand-in with fewer (a rehearsal's)."""
    return min(r.k, classes)


def record_store(ti: TinyVitImageNet, train: StreamSplit) -> SparseLogitStore:
    """The teacher pass over the pretraining's views (skipped where it is already recorded): CLIP-ViT-L/14-22k
    is loaded only if some epoch is missing."""
    import time

    r = ti.recipe
    path = _root(ti) / f"store-{r.teacher}-k{store_k(r, len(train.dataset.classes))}"
    epochs, idx = rehearsal_epochs(r.pretrain.epochs), rehearsal_train(train).indices
    idx = torch.arange(len(train.labels)) if idx is None else idx
    try:
        store = SparseLogitStore(path)
        if store.complete(epochs, idx):
            ti.store = store
            return store
    except FileNotFoundError:
        pass
    classes = len(train.dataset.classes)
    teacher = clip_vit_l14_22k(ti.teacher_checkpoint, num_classes=classes)
    start = time.perf_counter()
    ti.store = record_streamed_logits(teacher, train, r.pretrain.epochs, store_k(r, classes), path,
                                      batch_size=r.teacher_batch)
    ti.store_seconds = time.perf_counter() - start
    del teacher
    return ti.store


def student(ti: TinyVitImageNet, classes: int, drop_path: float, seed: int) -> TimmClassifier:
    """timm's TinyViT of the recipe's size, seeded."""
    import timm

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return TimmClassifier(timm.create_model(ti.recipe.model, num_classes=classes, drop_path_rate=drop_path))


def _fit(ti: TinyVitImageNet, stage: str, seed: int, method, train, test, verbose, **extra) -> list[dict]:
    cfg = getattr(ti.recipe, stage).config(seed)
    folder = _root(ti) / f"tinyvit_{ti.size}" / stage / f"seed{seed}"
    if is_main_process():
        print(f"— {LABELS[stage]}, seed {seed}", flush=True)
    history = Trainer(cfg, folder, verbose=verbose).fit(method, train, test, **extra)
    return history, folder


PROBE = "imagenet1k_top1"  # the pretraining's history: ImageNet-1k top-1 through the class map, every epoch


def pretrain(ti: TinyVitImageNet, seed: int, verbose: bool | int = True) -> tuple[TimmClassifier, torch.Tensor]:
    """The pretraining distillation from the store; the student and the 1k → 22k class map. As the
    official loop does, every epoch ends with the student's ImageNet-1k top-1 through the map
    (``probe_imagenet1k_top1`` in the history); the last is the stage's accuracy."""
    train = pretraining_split(ti)
    store = record_store(ti, train)
    classes_22k = list(train.dataset.classes)
    s = ti.recipe.pretrain
    net = student(ti, len(classes_22k), s.drop_path_of(ti.size), seed)
    # TinyViT's loss: soft cross-entropy with the stored distribution — KD at T = 1 without the labels' term
    method = KD(net, SparseStoredTeacher(store), temperature=1.0, soft_weight=1.0, hard_weight=0.0)
    mapping = class_map(classes_22k)
    val = rehearsal_subset(ti.val)  # the engine's cap on held-out images in a rehearsal

    def top1_1k(distiller) -> float:
        device = next(distiller.student.parameters()).device
        return evaluate_split(Remapped(distiller.student, mapping).to(device), val)["accuracy"]

    history, folder = _fit(ti, "pretrain", seed, method, train, None, verbose, probes={PROBE: top1_1k})
    ti.runs[("pretrain", seed)] = (history, folder, history[-1][f"probe_{PROBE}"])
    return net, mapping


def one_k_head(pretrained: TimmClassifier, mapping: torch.Tensor, classes: int, drop_path: float,
               ti: TinyVitImageNet, seed: int) -> TimmClassifier:
    """The fine-tuning's TinyViT: the pretrained weights, and as its head the 22k head's rows of the 1k
    classes (a class the 22k set lacks: the mean of the mapped rows)."""
    net = student(ti, classes, drop_path, seed)
    state = {k: v.detach().cpu() for k, v in pretrained.state_dict().items()}
    head = [k for k in state if k.startswith("model.head.fc.")]
    for key in head:
        rows = state[key]
        padded = torch.cat([rows, rows[mapping[mapping >= 0]].mean(0, keepdim=True)])
        state[key] = padded[mapping]  # -1 picks the appended mean
    net.load_state_dict(state)
    return net


def finetune(ti: TinyVitImageNet, seed: int, verbose: bool | int = True) -> list[dict]:
    pretrained, mapping = pretrain(ti, seed, verbose)
    s = ti.recipe.finetune
    net = one_k_head(pretrained, mapping, ti.classes, s.drop_path_of(ti.size), ti, seed)
    train = streamed("imagenet", "train", _train_transform(), ti.workers)
    history, folder = _fit(ti, "finetune", seed, CrossEntropy(net, label_smoothing=s.smoothing), train, ti.val,
                           verbose)
    ti.runs[("finetune", seed)] = (history, folder, history[-1]["test_accuracy"])
    return history


def scratch(ti: TinyVitImageNet, seed: int, verbose: bool | int = True) -> list[dict]:
    s = ti.recipe.scratch
    net = student(ti, ti.classes, s.drop_path_of(ti.size), seed)
    train = streamed("imagenet", "train", _train_transform(), ti.workers)
    mix = BatchMix(ti.classes, mixup=s.mixup, cutmix=s.cutmix, label_smoothing=s.smoothing)
    history, folder = _fit(ti, "scratch", seed, CrossEntropy(net), train, ti.val, verbose, mix=mix)
    ti.runs[("scratch", seed)] = (history, folder, history[-1]["test_accuracy"])
    return history


def run(ti: TinyVitImageNet, verbose: bool | int = True) -> None:
    for seed in ti.seeds:
        if "in21k" in ti.recipe.routes:
            finetune(ti, seed, verbose)
        if "in1k" in ti.recipe.routes:
            scratch(ti, seed, verbose)


def accuracies(ti: TinyVitImageNet, stage: str) -> list[float]:
    """The top-1 (%) on ImageNet-1k of every seed's ``stage`` (its last epoch; the pretraining's through the map)."""
    return [acc for (s, _), (_, _, acc) in sorted(ti.runs.items()) if s == stage]


def table(ti: TinyVitImageNet):
    """Ours beside the README's, per stage (the mean over seeds; best epoch too where it was scored)."""
    import pandas as pd

    from ..checks.published import TINYVIT_IMAGENET

    in1k, in21k = TINYVIT_IMAGENET[ti.size]
    readme = {"pretrain": None, "finetune": in21k, "scratch": in1k}
    rows = []
    for stage in STAGES:
        acc = accuracies(ti, stage)
        if not acc:
            continue
        best = [max((e.get("test_accuracy", float("nan")) for e in h), default=float("nan"))
                for (s, _), (h, _, _) in sorted(ti.runs.items()) if s == stage]
        rows.append({"stage": LABELS[stage], "top-1 (%)": round(statistics.fmean(acc), 2),
                     "best epoch (%)": None if stage == "pretrain" else round(statistics.fmean(best), 2),
                     "seeds": len(acc), "README (%)": readme[stage]})
    return pd.DataFrame(rows).set_index("stage")


def checks(ti: TinyVitImageNet) -> list[Check]:
    """The README's row of each route run: the fine-tuned (in21k) and the from-scratch (in1k) top-1, on the
    mean of the seeds' last epochs; the rows of the other sizes and routes, and the claims (checked at the
    smaller scales), listed as not measured."""
    from ..checks.published import TINYVIT_IMAGENET

    out = []
    for size in TINYVIT_IMAGENET:
        for route, stage in ROUTE_STAGE.items():
            key, acc = f"wu2022/imagenet/{route}/tinyvit_{size}", accuracies(ti, stage) if size == ti.size else []
            if acc:
                out.append(check(key, statistics.fmean(acc), scale="full", setting={**ti.setting, **ROUTE_SETTING[route]}))
            else:
                out.append(not_measured(key, f"not run here: -p size {size} -p routes '[\"{route}\"]'"))
    why = "the claims on the store are measured at the smaller scales (smoke, medium), on CIFAR-sized runs"
    out += [not_measured(f"wu2022/claim/{c}", why) for c in ("store_matches_live", "sparse_k_enough", "store_saves_time")]
    return out


__all__ = ["STAGES", "LABELS", "Remapped", "TinyVitImageNet", "setup", "pretraining_split", "class_map",
           "record_store", "student", "pretrain", "one_k_head", "finetune", "scratch", "run", "accuracies", "table",
           "checks"]
