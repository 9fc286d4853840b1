"""Training one student of a teacher–student pair with one method, as the CRD table does.

Methods by name (the CNN chapters and the same-pairs benchmark share them):

- ``student``: cross-entropy alone (no teacher) — the baseline;
- ``kd``: Hinton KD at T = 4, 0.9 × KL + 0.1 × cross-entropy;
- ``fitnet``: RepDistiller's one-stage FitNet, cross-entropy + 100 × hint MSE;
- ``fitnet2``: the FitNets paper's two stages, hint pre-training then KD;
- ``at``: attention transfer, cross-entropy + 1000 × the AT loss;
- ``ab``: AB initialisation stage, then cross-entropy alone;
- ``ctkd`` / ``ctkd_instance``: KD at a temperature learned against the student (CTKD), one
  global temperature / one per sample;
- ``kd_store``: ``kd`` with the teacher read from TinyViT's store (its top-``store_k``
  probabilities on seeded, replayed views, recorded once per teacher, dataset and scale in
  ``<runs>/stores/``) instead of run at every step.

Every run lives in ``<runs>/pairs/<dataset>/<scale>/<student>/<method>[-from-<teacher>]/seed<k>/``
(one folder per stage), so a chapter that needs a run another chapter already made reuses it,
and an interrupted run resumes. The final student is saved there as ``student.pt``.
"""

from __future__ import annotations

import contextlib

from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn as nn

from ..data import Augment, SeededAugment, get_spec, normalize
from ..data.streaming import StreamSplit
from ..engine import Split, Trainer, final_metrics, load_model, save_model
from ..errors import ConfigError
from ..stores.topk import SparseLogitStore, SparseStoredTeacher, open_or_record
from ..methods import KD, CrossEntropy
from ..methods.ab_distillation import ABInitialization, boundary_agreement
from ..methods.attention_transfer import AttentionTransfer
from ..methods.base import Distiller, device_of
from ..methods.ctkd import CTKD, global_ctkd, instance_ctkd
from ..methods.fitnets import FitNet, HintPretraining
from ..models import create_model
from ..paths import runs_root
from ..recipes.cifar import CifarRecipe
from ..recipes.cifar import recipe as cifar_recipe
from .teachers import Teacher, load_splits

METHODS = ("student", "kd", "fitnet", "fitnet2", "at", "ab", "ctkd", "ctkd_instance", "kd_store")
LABELS = {"student": "student (no teacher)", "kd": "KD", "fitnet": "FitNet (one stage)",
          "fitnet2": "FitNet (two stages)", "at": "AT", "ab": "AB", "ctkd": "KD + CTKD (global)",
          "ctkd_instance": "KD + CTKD (instance-wise)", "kd_store": "KD from the stored top-K logits"}


@dataclass
class PairRun:
    method: str
    student: nn.Module
    history: list[dict]  # the last stage's per-epoch history
    stages: dict[str, list[dict]] = field(default_factory=dict)  # every stage's history by name
    run_dirs: list[Path] = field(default_factory=list)

    @property
    def accuracy(self) -> float:
        """Last-epoch top-1 test accuracy (%), as the CRD table reports."""
        return final_metrics(self.history)["test_accuracy"]


def run_dir(dataset: str, scale: str, student: str, method: str, teacher: str | None, seed: int) -> Path:
    tag = method if method == "student" else f"{method}-from-{teacher}"
    return runs_root() / "pairs" / dataset / scale / student / tag / f"seed{seed}"


def store_augment(r: CifarRecipe) -> SeededAugment:
    """The recipe's crop and flip, drawn per sample from ``store_seed`` so a store's views can be replayed."""
    return SeededAugment(crop_padding=r.crop_padding, flip=True, seed=r.store_seed)


def teacher_store(teacher: Teacher, dataset: str, scale: str, recipe: CifarRecipe | None = None,
                  train: Split | None = None) -> tuple[SparseLogitStore, float | None]:
    """The teacher's top-K store for the recipe's student epochs (recorded once, then reopened; an
    interrupted pass resumes), and the pass's wall time when this call recorded it. ``train``: the
    recipe's training split, when the caller has it loaded already."""
    r = recipe or cifar_recipe(scale)
    k = min(r.store_k, get_spec(dataset).num_classes)
    augment = store_augment(r)
    path = (runs_root() / "stores" / dataset / scale
            / f"{teacher.info['model']}-views{augment.seed}-e{r.student_epochs}-k{k}")
    if train is None:
        train, _ = load_splits(dataset, r.train_subset, r.test_subset)
    return open_or_record(teacher.model, train, augment, r.student_epochs, k, path)


def probe_batch(test, n: int = 256) -> torch.Tensor:
    """A fixed batch of normalised test images for probes (first ``n`` of the test split; a streamed
    split's through its evaluation transform)."""
    idx = torch.arange(len(test.labels)) if test.indices is None else test.indices
    if isinstance(test, StreamSplit):
        return torch.stack([test.dataset[int(i)][0] for i in idx[:n]])
    return normalize(test.images[idx[:n]], test.mean, test.std)


ONE_STAGE = ("kd", "fitnet", "at", "ctkd", "ctkd_instance")  # one stage, a live teacher: they can share its forward


@contextlib.contextmanager
def seeded_init(seed: int):
    """A method's own modules (FitNet's regressor, AB's connectors, CTKD's temperature) drawn from the
    run's seed alone, whatever ran before in the process (the global generator is left as it was)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def one_stage_distiller(method: str, student: nn.Module, teacher: nn.Module, r: CifarRecipe, spec,
                        seed: int) -> Distiller:
    """The distiller of a one-stage method (``ONE_STAGE``) with the recipe's weights."""
    with seeded_init(seed):
        return _one_stage(method, student, teacher, r, spec)


def _one_stage(method: str, student: nn.Module, teacher: nn.Module, r: CifarRecipe, spec) -> Distiller:
    if method == "kd":
        return KD(student, teacher, r.temperature, r.kd_weight, r.ce_weight)
    if method == "fitnet":
        return FitNet(student, teacher, r.fitnet_weight, hint_layer=r.hint_layer, image_shape=spec.shape)
    if method == "at":
        return AttentionTransfer(student, teacher, r.at_weight)
    if method == "ctkd":
        return global_ctkd(student, teacher, soft_weight=r.kd_weight, hard_weight=r.ce_weight)
    if method == "ctkd_instance":
        return instance_ctkd(student, teacher, spec.num_classes, soft_weight=r.kd_weight, hard_weight=r.ce_weight)
    raise ValueError(f"{method!r} is not a one-stage method ({', '.join(ONE_STAGE)})")


def one_stage_probes(distiller: Distiller, teacher: nn.Module, probe_x: torch.Tensor) -> dict:
    """What a one-stage run records after each epoch besides accuracy: CTKD's temperatures on a fixed
    test batch (their mean and spread; ``teacher`` answers, whatever the distiller holds in its place)."""
    if not isinstance(distiller, CTKD):
        return {}
    return {"temperature": lambda d: _temperatures(distiller, probe_x, teacher).mean().item(),
            "temperature_std": lambda d: _temperatures(distiller, probe_x, teacher).std(unbiased=False).item()}


def train_pair(method: str, student_name: str, teacher: Teacher | None, dataset: str, scale: str, seed: int = 0,
               *, recipe: CifarRecipe | None = None, verbose: bool | int = True) -> PairRun:
    """Train (or resume, or reload) ``student_name`` with ``method`` from ``teacher``."""
    if method not in METHODS:
        raise ConfigError(f"unknown method {method!r}; valid: {', '.join(METHODS)}")
    if method != "student" and teacher is None:
        raise ConfigError(f"method {method!r} needs a teacher: pass one from kdrepro.training.teachers.get_teacher")
    if teacher is not None and teacher.info["dataset"] != dataset:
        raise ConfigError(f"the teacher was trained on {teacher.info['dataset']}, not {dataset}: "
                          "train a teacher on this dataset")
    r = recipe or cifar_recipe(scale)
    spec = get_spec(dataset)
    train, test = load_splits(dataset, r.train_subset, r.test_subset)
    augment = Augment(crop_padding=r.crop_padding, flip=True)
    t_net = None if teacher is None else teacher.model
    t_name = None if teacher is None else teacher.info["model"]
    folder = run_dir(dataset, scale, student_name, method, t_name, seed)
    student = create_model(student_name, num_classes=spec.num_classes, seed=seed)
    config = r.student_config(student_name, seed)
    probe_x = probe_batch(test)

    def fit(distiller, cfg, stage: str, probes=None, views=augment) -> list[dict]:
        return Trainer(cfg, folder / stage, verbose=verbose).fit(distiller, train, test, augment=views,
                                                                 probes=probes)

    stages: dict[str, list[dict]] = {}
    if method == "student":
        stages["train"] = fit(CrossEntropy(student), config, "train")
    elif method in ONE_STAGE:
        distiller = one_stage_distiller(method, student, t_net, r, spec, seed)
        stages["train"] = fit(distiller, config, "train", one_stage_probes(distiller, t_net, probe_x))
    elif method == "fitnet2":
        with seeded_init(seed):
            hint = HintPretraining(student, t_net, r.fitnet_weight, hint_layer=r.hint_layer, image_shape=spec.shape)
        stages["hint"] = fit(hint, r.init_config(student_name, seed), "hint")
        stages["train"] = fit(KD(student, t_net, r.temperature, r.kd_weight, r.ce_weight), config, "train")
    elif method == "ab":
        with seeded_init(seed):
            init = ABInitialization(student, t_net, r.ab_margin, image_shape=spec.shape)
        probe = {"boundary_agreement": lambda d: _agreement(init, probe_x)}
        stages["init"] = fit(init, r.init_config(student_name, seed), "init", probe)
        stages["train"] = fit(CrossEntropy(student), config, "train", probe)
    elif method == "kd_store":  # TinyViT's store (Section 3.1) under Hinton KD: no teacher forward while training
        store, _ = teacher_store(teacher, dataset, scale, r, train)
        stages["train"] = fit(KD(student, SparseStoredTeacher(store), r.temperature, r.kd_weight, r.ce_weight),
                              config, "train", views=store_augment(r))
    history = stages["train"]
    save_model(student, folder / "student.pt", method=method, teacher=t_name, dataset=dataset, scale=scale,
               seed=seed, test_accuracy=final_metrics(history)["test_accuracy"])
    return PairRun(method, student.eval(), history, stages, [folder / s for s in stages])


@torch.no_grad()
def _agreement(init: ABInitialization, x: torch.Tensor) -> float:
    """Boundary agreement of the student (through the initialisation stage's connectors) on ``x``
    (moved to the networks' devices by :meth:`ABInitialization.agreement`)."""
    return init.agreement(x)


@torch.no_grad()
def _temperatures(method: CTKD, x: torch.Tensor, teacher: nn.Module | None = None) -> torch.Tensor:
    """The temperatures CTKD's module gives now on ``x`` (one per image; all equal when global), on
    the device of the student and the temperature module (the answer of ``teacher``, default the
    method's, is brought there)."""
    teacher = method.teacher if teacher is None else teacher
    was_training = method.training
    method.eval()
    try:
        device = device_of(method.student)
        teacher_logits = teacher(x.to(device_of(teacher))).logits.to(device)
        tau = method.temperature.value(teacher_logits, method.student(x.to(device)).logits)
    finally:
        method.train(was_training)
    return tau.expand(len(x), 1).flatten()


def temperatures(dataset: str, scale: str, student: str, method: str, teacher: Teacher, x: torch.Tensor,
                 seed: int = 0) -> torch.Tensor:
    """The final temperatures of a trained CTKD run on images ``x`` (from its checkpoint), on the CPU.
    The student is rebuilt on the teacher's device (the GPU, once a run in this process trained there)."""
    folder = run_dir(dataset, scale, student, method, teacher.info["model"], seed) / "train"
    spec = get_spec(dataset)
    net = create_model(student, num_classes=spec.num_classes)
    ctkd = global_ctkd(net, teacher.model) if method == "ctkd" else instance_ctkd(net, teacher.model,
                                                                                  spec.num_classes)
    state = torch.load(folder / "checkpoint.pt", map_location="cpu", weights_only=False)["model"]
    ctkd.load_state_dict(state)
    ctkd.to(device_of(teacher.model))  # the student and the temperature module; the teacher stays put
    return _temperatures(ctkd, x).cpu()


def load_student(dataset: str, scale: str, student: str, method: str, teacher: str | None, seed: int = 0):
    """A trained pair student and its info, or FileNotFoundError naming the run to make."""
    path = run_dir(dataset, scale, student, method, teacher, seed) / "student.pt"
    return load_model(path)


__all__ = ["METHODS", "LABELS", "ONE_STAGE", "one_stage_distiller", "one_stage_probes", "probe_batch", "PairRun", "train_pair", "run_dir", "load_student", "boundary_agreement",
           "temperatures", "store_augment", "teacher_store"]
