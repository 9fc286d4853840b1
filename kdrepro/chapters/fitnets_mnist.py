"""What the FitNets MNIST section runs and checks (Romero et al. 2015, Table 4): a maxout teacher
and the same 30K-parameter FitNet trained three ways — standard backprop, KD, and hint-based
training (stage 1 on the teacher's 2nd layer, then KD) — each stopped early on a held-out
validation set, judged on the MNIST test set."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import torch

from .. import data
from ..checks import Check, check, check_claim
from ..checks.verdict import sampling_noise
from ..data import DatasetSpec
from ..engine import Split, TrainConfig, Trainer, predict_logits, process_device, save_model
from ..engine.rehearsal import rehearsal_train
from ..errors import ConfigError
from ..methods import CrossEntropy, StoredTeacher
from ..methods.fitnets import AnnealedKD, HintPretraining
from ..models import create_model
from ..models.maxout import MaxoutConv2d
from ..models.output import feature_shapes
from ..recipes.fitnets_mnist import FitNetsMnistRecipe, recipe

TEACHER, STUDENT = "maxout_mnist_teacher", "fitnet_mnist"
HINT_LAYER, GUIDED_LAYER = 1, 3  # the teacher's 2nd layer guides the FitNet's 4th (0-based here)
IMAGE = (1, 28, 28)
PAPER = {"teacher": 0.55, "backprop": 1.9, "kd": 0.65, "hints": 0.51}  # Table 4, % test errors
ROWS = {"teacher": "Teacher (maxout, 361K)", "backprop": "FitNet, standard backprop", "kd": "FitNet, KD",
        "hints": "FitNet, hint-based training"}


@dataclass
class MnistSetup:
    scale: str
    seed: int
    recipe: FitNetsMnistRecipe
    out: Path
    spec: DatasetSpec
    train: Split
    valid: Split
    test: Split
    device: str
    teacher: torch.nn.Module | None = None
    stored: StoredTeacher | None = None  # the teacher's logits on every training image, computed once
    hist: dict[str, list[dict]] = field(default_factory=dict)  # each trained net's history, by name

    def parameters(self) -> dict:
        r = self.recipe
        return {"scale": self.scale, "seed": self.seed, "temperature": r.temperature,
                "lambda": [r.lambda_start, r.lambda_end, r.anneal_epochs], "teacher": r.teacher.to_dict(),
                "student": r.student.to_dict(), "hints": r.hints.to_dict()}

    def describe(self) -> str:
        r = self.recipe
        stop = (f"early stopping after {r.student.patience} epochs without a better validation error"
                if r.student.patience else f"teacher {r.teacher.epochs} epochs, FitNets {r.student.epochs}")
        return (f"scale {self.scale}: {self.train.size} training and {self.valid.size} validation images, {stop}, "
                f"writing to {self.out}")

    def best(self, name: str) -> dict:
        """The history record of ``name``'s kept epoch (the best on the validation images)."""
        h = self.hist[name]
        return h[h[-1]["best_epoch"] - 1]

    def error_rate(self, name: str) -> float:
        """Test errors in % (Table 4's unit) of the net ``name`` as kept."""
        r = self.best(name)
        return round(100 * r["test_errors"] / self.test.size, 2)


def setup(scale: str, out: Path, seed: int = 0) -> MnistSetup:
    """The scale's recipe and MNIST split as the authors split it: train on the first 50,000
    training images, validate on the last 10,000, test on the test set."""
    r = recipe(scale)
    data.prepare("mnist")  # no-op once prepared
    spec = data.get_spec("mnist")
    train_x, train_y = data.load("mnist", "train")
    test_x, test_y = data.load("mnist", "test")
    n_train = r.train_subset or r.train_size
    n_valid = len(train_y) - r.train_size if r.train_subset is None else r.train_subset // 4
    train = Split(train_x, train_y, spec.mean, spec.std, torch.arange(n_train))
    valid = Split(train_x, train_y, spec.mean, spec.std, torch.arange(r.train_size, r.train_size + n_valid))
    test = Split(test_x, test_y, spec.mean, spec.std, None if r.train_subset is None else torch.arange(n_valid))
    train = rehearsal_train(train)  # a rehearsal stores the teacher's logits for these only
    return MnistSetup(scale, seed, r, Path(out), spec, train, valid, test, str(process_device()))


def _fit(ms: MnistSetup, name: str, method, cfg: TrainConfig) -> list[dict]:
    cfg = cfg.replace(seed=ms.seed)
    ms.hist[name] = Trainer(cfg, ms.out / name, verbose=max(1, cfg.epochs // 10)).fit(
        method, ms.train, ms.test, valid=ms.valid)
    return ms.hist[name]


def train_teacher(ms: MnistSetup) -> torch.nn.Module:
    """The maxout teacher (dropout, max-norm), kept at its best validation epoch; its logits on
    the training images are stored for the KD stages."""
    teacher = create_model(TEACHER, seed=ms.seed)
    _fit(ms, "teacher", CrossEntropy(teacher), ms.recipe.teacher)
    save_model(teacher, ms.out / "teacher" / "model.pt", test_errors=ms.best("teacher")["test_errors"])
    ms.teacher = teacher.eval()
    logits = torch.zeros(len(ms.train.labels), 10)  # looked up by image index; only the training images are used
    logits[ms.train.indices] = predict_logits(teacher, ms.train.images, ms.train.labels, mean=ms.spec.mean,
                                              std=ms.spec.std, device=ms.device, indices=ms.train.indices)
    ms.stored = StoredTeacher(logits)
    return teacher


def fitnet(ms: MnistSetup) -> torch.nn.Module:
    return create_model(STUDENT, seed=ms.seed)


def annealed_kd(ms: MnistSetup, student: torch.nn.Module) -> AnnealedKD:
    r = ms.recipe
    return AnnealedKD(student, ms.stored, r.temperature, r.lambda_start, r.lambda_end, r.anneal_epochs)


def hint_regressor(student: torch.nn.Module, teacher: torch.nn.Module) -> MaxoutConv2d:
    """The authors' regressor for a maxout hint layer: a maxout convolution with the hint's
    channels and pieces, kernel (1 + H_guided − H_hint), weights in ±0.05, max-norm 0.9."""
    (cs, hs, _), (ct, ht, _) = feature_shapes(student, IMAGE)[GUIDED_LAYER], feature_shapes(teacher, IMAGE)[HINT_LAYER]
    pieces = teacher.layers[HINT_LAYER].pieces
    return MaxoutConv2d(cs, ct, pieces, 1 + hs - ht, max_kernel_norm=0.9, init_range=0.05)


def train_backprop(ms: MnistSetup) -> list[dict]:
    """The FitNet on hard labels alone (standard backprop): no teacher needed."""
    return _fit(ms, "backprop", CrossEntropy(fitnet(ms)), ms.recipe.student)


def train_kd(ms: MnistSetup) -> list[dict]:
    """The FitNet by KD from the stored teacher, its soft weight annealed."""
    return _fit(ms, "kd", annealed_kd(ms, fitnet(ms)), ms.recipe.student)


def train_hints(ms: MnistSetup) -> list[dict]:
    """Hint-based training, the paper's two stages: the guided layer and a regressor fit the
    teacher's hint (stage 1), then the whole FitNet by annealed KD (stage 2)."""
    student = fitnet(ms)
    torch.manual_seed(ms.seed)  # the regressor's initial weights
    stage1 = HintPretraining(student, ms.teacher, image_shape=IMAGE, hint_layer=HINT_LAYER,
                             guided_layer=GUIDED_LAYER, weight=1.0, reduction="paper",
                             regressor=hint_regressor(student, ms.teacher))
    _fit(ms, "hints_stage1", stage1, ms.recipe.hints)
    return _fit(ms, "hints", annealed_kd(ms, student), ms.recipe.student)


def train_students(ms: MnistSetup) -> pd.DataFrame:
    """The FitNet three ways: hard labels alone, KD, and hints then KD (the paper's two stages)."""
    train_backprop(ms)
    train_kd(ms)
    train_hints(ms)
    return table(ms)


PARTS = {"teacher": train_teacher, "backprop": train_backprop, "kd": train_kd, "hints": train_hints}


def train_parts(ms: MnistSetup, parts: tuple[str, ...]) -> list[str]:
    """Train Table 4's nets ``parts`` in this process, into the folders the notebook uses, so that
    several processes can share the full run (``kdrepro fitnets-mnist train``): each trains what it
    is given, waits for a run another one is training (the teacher, before KD and hints), and the
    notebook then reuses every finished run. One line per net with its test error."""
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        raise ConfigError(f"unknown part(s) {', '.join(unknown)} of FitNets on MNIST; valid: {', '.join(PARTS)}")
    lines = []
    for part in PARTS:  # in the table's order: the teacher first, which KD and hints need
        if part in parts or (part == "teacher" and {"kd", "hints"} & set(parts)):
            PARTS[part](ms)
            lines.append(f"{ROWS[part]}: {ms.error_rate(part)} % test errors (best validation epoch "
                         f"{ms.hist[part][-1]['best_epoch']} of {len(ms.hist[part])})")
    return lines


def table(ms: MnistSetup) -> pd.DataFrame:
    """Table 4 beside ours: parameters, test error (%) of each net at its kept epoch."""
    params = {"teacher": sum(p.numel() for p in create_model(TEACHER).parameters()),
              **dict.fromkeys(("backprop", "kd", "hints"), sum(p.numel() for p in create_model(STUDENT).parameters()))}
    rows = {ROWS[n]: {"parameters": params[n], "test errors": ms.best(n)["test_errors"],
                      "ours (% errors)": ms.error_rate(n), "paper (% errors)": PAPER[n],
                      "kept epoch": ms.best(n)["epoch"], "epochs trained": len(ms.hist[n])} for n in PAPER}
    return pd.DataFrame.from_dict(rows, orient="index")


def _setting(ms: MnistSetup, model: str) -> dict:
    r = ms.recipe
    stop = (f"best validation epoch, patience {r.student.patience}" if r.student.patience
            else f"best validation epoch of {r.student.epochs} (teacher {r.teacher.epochs})")
    return {"dataset": "mnist", "train_size": ms.train.size, "valid_size": ms.valid.size,
            "test_size": ms.test.size, "model": model, "stopping": stop}


def checks(ms: MnistSetup) -> list[Check]:
    """Table 4's four numbers, and its ordering (hints < KD < backprop) judged against sampling noise."""
    r = ms.recipe
    student = {**_setting(ms, STUDENT), "teacher": TEACHER, "temperature": r.temperature}
    out = [check("romero2015/mnist/teacher", ms.error_rate("teacher"), scale=ms.scale,
                 setting=_setting(ms, TEACHER)),
           check("romero2015/mnist/backprop", ms.error_rate("backprop"), scale=ms.scale,
                 setting=_setting(ms, STUDENT)),
           check("romero2015/mnist/kd", ms.error_rate("kd"), scale=ms.scale, setting=student),
           check("romero2015/mnist/hints", ms.error_rate("hints"), scale=ms.scale,
                 setting={**student, "hint": "teacher layer 2 → FitNet layer 4"})]
    rates = {n: ms.error_rate(n) for n in ("backprop", "kd", "hints")}
    n = ms.test.size
    gaps = [(a, b, rates[a] - rates[b], sampling_noise(100 - rates[a], 100 - rates[b], n))
            for a, b in (("backprop", "kd"), ("kd", "hints"))]
    holds = all(gap > 0 for *_, gap, _ in gaps)
    noisy = [f"{b} vs {a}" for a, b, gap, noise in gaps if abs(gap) < noise]
    evidence = ", ".join(f"{k} {v:.2f} %" for k, v in rates.items())
    out.append(check_claim("romero2015/mnist/claim/hints_beat_kd_beat_backprop", holds, evidence, scale=ms.scale,
                           setting={"dataset": "mnist"},
                           undecided=(f"{', '.join(noisy)}: the difference is within two standard errors of "
                                      f"{n:,} test images" if noisy else "")))
    return out


def metrics(ms: MnistSetup) -> dict:
    """What ``results.json`` keeps of the run."""
    return {**{f"{n}_test_error_rate": ms.error_rate(n) for n in PAPER},
            **{f"{n}_test_errors": ms.best(n)["test_errors"] for n in PAPER},
            **{f"{n}_kept_epoch": ms.best(n)["epoch"] for n in (*PAPER, "hints_stage1")},
            **{f"{n}_epochs_trained": len(ms.hist[n]) for n in (*PAPER, "hints_stage1")},
            "train_size": ms.train.size, "valid_size": ms.valid.size}
