"""What the DINO chapter runs and checks: a small ViT trained by self-distillation with no labels,
and the two collapse ablations (no centring, no sharpening); the teacher's k-NN accuracy, output
entropy and teacher–student KL after every epoch; a linear probe at the end; the claims, and the
published numbers as not comparable."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import torch
import torch.nn as nn

from ..checks import Check, check_claim, not_measured, sampling_noise
from ..checks.published import DINO_ENTRIES
from ..data import DatasetSpec, choose_dataset, get_spec
from ..engine import Split, Trainer, final_metrics, is_main_process
from ..errors import ConfigError
from ..evaluation.frozen_features import extract_features, knn_accuracy, linear_probe_accuracy, split_labels
from ..methods.dino import DINO, DinoHead, DinoNet
from ..models import create_model
from ..training.pairs import probe_batch
from ..paths import runs_root
from ..recipes.dino import DinoRecipe
from ..recipes.dino import recipe as dino_recipe
from ..training.teachers import load_splits

VARIANTS = ("dino", "no_centering", "no_sharpening")
LABELS = {"dino": "DINO (centring + sharpening)", "no_centering": "sharpening only (no centring)",
          "no_sharpening": "centring only (no sharpening)"}


@dataclass
class DinoSetup:
    scale: str
    recipe: DinoRecipe
    dataset: str
    spec: DatasetSpec
    splits: tuple[Split, Split]  # training images (labels unused in training), test images
    memory: Split  # the k-NN vote's labelled memory (a part of the training set)
    runs: dict[str, tuple[DINO, list[dict], Path]] = field(default_factory=dict)

    @property
    def setting(self) -> dict:
        return {"dataset": self.spec.comparable_to or self.dataset, "recipe": f"kdrepro-{self.scale}",
                "model": "vit_p4"}

    def describe(self) -> str:
        r, b = self.recipe, self.recipe.backbone
        lossy = " (a lossy JPEG copy of CIFAR-10: close to, not equal to, CIFAR-10)" if self.spec.lossy else ""
        c = r.crops
        return "\n".join([
            f"{self.scale} scale on {self.dataset}{lossy}; labels used only by the k-NN memory and the linear probe",
            f"ViT: {b.get('depth')} blocks, width {b.get('embed_dim')}, 4×4 patches; head → {r.out_dim} outputs",
            f"views: {c.n_global} × {c.global_size} px + {c.n_local} × {c.local_size} px; {r.epochs} epochs, "
            f"AdamW lr {r.lr * r.batch_size / 256:g}, batch {r.batch_size}",
            f"τ_s {r.student_temp}, τ_t {r.teacher_temp_start} → {r.teacher_temp} over "
            f"{r.teacher_temp_warmup_epochs:g} epochs, teacher momentum {r.momentum} → 1"])


def setup(scale: str, dataset: str | None = None) -> DinoSetup:
    r = dino_recipe(scale)
    dataset = choose_dataset(scale, dataset, r.datasets)
    train, test = load_splits(dataset, r.train_subset, r.test_subset)
    memory = train
    if r.knn_memory is not None:
        idx = torch.arange(len(train.labels)) if train.indices is None else train.indices
        memory = Split(train.images, train.labels, train.mean, train.std, idx[:r.knn_memory])
    return DinoSetup(scale, r, dataset, get_spec(dataset), (train, test), memory)


def run_dir(ds: DinoSetup, variant: str) -> Path:
    return runs_root() / "dino" / ds.dataset / ds.scale / variant / f"seed{ds.recipe.seed}"


def build(ds: DinoSetup, variant: str, total_steps: int) -> DINO:
    """The student (ViT backbone + head, seeded) and its DINO wrapper for ``variant``."""
    if variant not in VARIANTS:
        raise ConfigError(f"unknown variant {variant!r}; valid: {', '.join(VARIANTS)}")
    r = ds.recipe
    backbone = create_model("vit_tiny_p4", num_classes=0, seed=r.seed, dynamic_img_size=True, **r.backbone)
    with torch.random.fork_rng(devices=[]):  # seeded like create_model: the global random state is left alone
        torch.manual_seed(r.seed)
        head = DinoHead(r.backbone.get("embed_dim", 192), r.out_dim, r.hidden_dim, r.bottleneck_dim)
    train = ds.splits[0]
    return DINO(DinoNet(backbone, head), mean=train.mean, std=train.std, total_steps=total_steps, crops=r.crops,
                student_temp=r.student_temp, teacher_temp=r.teacher_temp, teacher_temp_start=r.teacher_temp_start,
                teacher_temp_warmup_epochs=r.teacher_temp_warmup_epochs, momentum=r.momentum,
                centering=variant != "no_centering", sharpening=variant != "no_sharpening")


def _steps(ds: DinoSetup) -> int:
    r = ds.recipe
    n = ds.splits[0].size
    per_epoch = n // r.batch_size
    return r.epochs * (per_epoch if r.max_steps_per_epoch is None else min(per_epoch, r.max_steps_per_epoch))


def train(ds: DinoSetup, variant: str, verbose: bool | int = True):
    """Train (or reload) ``variant``; after each epoch the teacher's k-NN accuracy and the
    collapse diagnostics are recorded (``probe_knn``, ``probe_teacher_entropy``, ``probe_kl``)."""
    if variant in ds.runs:
        return ds.runs[variant]
    method = build(ds, variant, _steps(ds))
    probe_x = probe_batch(ds.splits[1], 512)
    k = ds.spec.num_classes

    def knn(m: DINO) -> float:
        return knn_accuracy(m.momentum_teacher.backbone, ds.memory, ds.splits[1], k)

    def stats(name: str):
        return lambda m: m.output_statistics(probe_x.to(m.centre.device))[name]

    probes = {"knn": knn, "teacher_entropy": stats("teacher_entropy"), "kl": stats("kl_teacher_student")}
    folder = run_dir(ds, variant)
    history = Trainer(ds.recipe.config(), folder, verbose=verbose).fit(method, ds.splits[0], None, probes=probes)
    ds.runs[variant] = (method.eval(), history, folder)
    return ds.runs[variant]


def run(ds: DinoSetup, variants=VARIANTS, verbose: bool | int = True) -> None:
    for variant in variants:
        if variant not in ds.runs and is_main_process():
            print(f"— {LABELS[variant]}", flush=True)
        train(ds, variant, verbose)


def initial_knn(ds: DinoSetup) -> float:
    """The k-NN accuracy of the untrained network (every variant starts from it): a random ViT's
    features already beat chance, so the claim is judged against this, not against chance alone."""
    method = build(ds, "dino", 1)
    return knn_accuracy(method.momentum_teacher.backbone, ds.memory, ds.splits[1], ds.spec.num_classes)


def curves(ds: DinoSetup) -> pd.DataFrame:
    """Per epoch and variant: the teacher's k-NN accuracy, output entropy and KL to the student."""
    rows = [{"variant": LABELS[v], "epoch": e["epoch"], "k-NN accuracy (%)": e["probe_knn"],
             "teacher entropy": e["probe_teacher_entropy"], "KL(teacher ‖ student)": e["probe_kl"]}
            for v, (_, history, _) in ds.runs.items() for e in history]
    return pd.DataFrame(rows)


def final_table(ds: DinoSetup, linear_epochs: int = 100) -> pd.DataFrame:
    """The last epoch of every variant, with a linear probe on the teacher's frozen features."""
    train, test = ds.memory, ds.splits[1]
    rows = []
    for v, (method, history, _) in ds.runs.items():
        last = final_metrics(history)
        backbone = method.momentum_teacher.backbone
        lin = linear_probe_accuracy(extract_features(backbone, train), split_labels(train),
                                    extract_features(backbone, test), split_labels(test), ds.spec.num_classes,
                                    epochs=linear_epochs)
        rows.append({"variant": LABELS[v], "k-NN (%)": round(last["probe_knn"], 2), "linear probe (%)": round(lin, 2),
                     "teacher entropy": round(last["probe_teacher_entropy"], 3),
                     "log K (uniform)": round(float(torch.log(torch.tensor(float(ds.recipe.out_dim)))), 3),
                     "KL(teacher ‖ student)": round(last["probe_kl"], 3)})
    return pd.DataFrame(rows).set_index("variant")


def checks(ds: DinoSetup, initial: float) -> list[Check]:
    """The three claims on our runs (``initial``: the untrained network's k-NN accuracy); the
    published numbers (ImageNet, solo-learn CIFAR) as not comparable."""
    out: list[Check] = []
    chance = 100.0 / ds.spec.num_classes
    log_k = float(torch.log(torch.tensor(float(ds.recipe.out_dim))))
    if "dino" in ds.runs:
        h = ds.runs["dino"][1]
        first, last = h[0]["probe_knn"], h[-1]["probe_knn"]
        n_test = ds.splits[1].size
        noise = sampling_noise(last, initial, n_test)
        rise = last - initial
        undecided = "" if rise <= 0 or rise > noise or last <= 2 * chance else \
            f"the rise over the untrained network ({rise:+.2f}) is within the test set's sampling noise ({noise:.2f})"
        out.append(check_claim("caron2021/claim/knn_above_chance", bool(last > 2 * chance and rise > noise),
                               f"k-NN accuracy untrained {initial:.2f} % → {first:.2f} % after epoch 1 → "
                               f"{last:.2f} % after epoch {len(h)} (chance {chance:.1f} %); a rise counts beyond "
                               f"{noise:.2f} points (two standard errors of a difference of two accuracies on "
                               f"{n_test:,} test images)",
                               scale=ds.scale, setting=ds.setting, undecided=undecided))
    else:
        out.append(not_measured("caron2021/claim/knn_above_chance", "DINO was not trained in this run"))
    for variant, key in (("no_centering", "caron2021/claim/no_centering_collapses"),
                         ("no_sharpening", "caron2021/claim/no_sharpening_collapses")):
        if variant not in ds.runs or "dino" not in ds.runs:
            out.append(not_measured(key, f"{variant} was not trained in this run"))
            continue
        ent, kl = ds.runs[variant][1][-1]["probe_teacher_entropy"], ds.runs[variant][1][-1]["probe_kl"]
        ref = ds.runs["dino"][1][-1]["probe_teacher_entropy"]
        if variant == "no_centering":  # one dimension dominates: entropy near 0, well below DINO's
            holds = ent < 0.1 * log_k and ent < ref
        else:  # uniform: entropy near log K, above DINO's, and the student agrees with it
            holds = ent > 0.9 * log_k and ent > ref
        out.append(check_claim(key, bool(holds), f"teacher entropy at the end {ent:.3f} (DINO {ref:.3f}, uniform "
                                                 f"{log_k:.3f}); KL to the student {kl:.3f}",
                               scale=ds.scale, setting=ds.setting))
    why_imagenet = "ImageNet-1k, ViT-S/16: not part of this chapter's scales on this project's machines"
    why_solo = "a ResNet-18 trained 1000 epochs by solo-learn (online linear classifier); this chapter trains a ViT"
    for p in DINO_ENTRIES:
        if p.value is not None:
            out.append(not_measured(p.key, why_imagenet if "imagenet" in p.key else why_solo))
    return out


@torch.no_grad()
def attention_maps(ds: DinoSetup, variant: str = "dino", n: int = 6) -> tuple[torch.Tensor, torch.Tensor]:
    """Test images (N × 3 × H × W in [0, 1]) and the teacher's class-token attention of the last
    block over their patches, per head (N × heads × h × w)."""
    test = ds.splits[1]
    x = probe_batch(test, n)
    backbone: nn.Module = ds.runs[variant][0].momentum_teacher.backbone
    attn = backbone.class_attention(x.to(next(backbone.parameters()).device)).cpu()
    mean, std = torch.tensor(test.mean).view(1, -1, 1, 1), torch.tensor(test.std).view(1, -1, 1, 1)
    return (x.cpu() * std + mean).clamp(0, 1), attn


__all__ = ["VARIANTS", "LABELS", "DinoSetup", "setup", "build", "train", "run", "initial_knn", "curves",
           "final_table", "checks", "attention_maps"]
