"""How long would the CRD recipe's resnet32x4 → resnet8x4 KD run take here? Its 240 epochs of CIFAR-100's
50,000 training images at batch 64, extrapolated from an epoch timed through the engine: with the live
teacher, and from teacher logits recorded beforehand (the recording pass, one teacher forward per
epoch, is timed as well and reported beside it: one student pays it, several share it).

Each variant trains two epochs and the second is timed (the first pays compilation, cuDNN's autotuning
and the caches' warm-up). On a GPU the timed epoch is whole; on a CPU it is capped to its first steps and
scaled to the epoch's 781 (``steps_per_epoch``). The images are random of CIFAR's shape: the time of a
step does not depend on them. The targets are issue 18's: the run within 5 minutes on one H100/H200 with
the live teacher, within 3 from recorded logits.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from ..engine import Split, Trainer
from ..methods import KD
from ..models import create_model
from ..recipes.cifar import recipe as cifar_recipe
from ..stores import record_teacher_logits
from .synthetic import AUGMENT, NUM_CLASSES, synthetic_split

PAIR = ("resnet32x4", "resnet8x4")
TRAIN_IMAGES = 50_000  # CIFAR-100's training set
LIVE, STORED, RECORDING = "live teacher", "from recorded logits", "recording the logits (per epoch of the run)"
TARGET_MINUTES = {LIVE: 5.0, STORED: 3.0}  # on one H100/H200 (issue 18)


@dataclass(frozen=True)
class CrdRunSize:
    steps: int | None  # timed steps of the epoch; None: the whole epoch (a GPU)


def run_config(size: CrdRunSize):
    """The full recipe's student config (240 epochs, batch 64, SGD 0.05, steps at 150/180/210), for the
    two epochs this measures, capped to ``size.steps`` steps each."""
    return cifar_recipe("full").student_config(PAIR[1]).replace(epochs=2, max_steps_per_epoch=size.steps)


def _second_epoch_seconds(teacher, split: Split, config) -> tuple[float, int]:
    """Train KD for ``config``'s two epochs; the second epoch's seconds and its steps."""
    student = create_model(PAIR[1], num_classes=NUM_CLASSES, seed=1)
    history = Trainer(config, verbose=False, progress=False).fit(KD(student, teacher), split, augment=AUGMENT)
    return history[-1]["time_s"], len(split.labels) // config.batch_size


def measure_crd_run(size: CrdRunSize, log=print) -> dict:
    """Seconds per epoch and the extrapolated run, per variant, with the settings behind them."""
    config = run_config(size)
    full_epochs = cifar_recipe("full").student_epochs
    steps_per_epoch = TRAIN_IMAGES // config.batch_size
    split = synthetic_split(TRAIN_IMAGES if size.steps is None else config.batch_size * size.steps)
    teacher = create_model(PAIR[0], num_classes=NUM_CLASSES, seed=0)
    seconds = {}
    log(f"— the CRD run ({PAIR[0]} → {PAIR[1]}): an epoch with the live teacher")
    seconds[LIVE], steps = _second_epoch_seconds(teacher, split, config)
    log("— recording the teacher's logits for the run's batches, then an epoch from them")
    start = time.perf_counter()
    store = record_teacher_logits(teacher, split, config, AUGMENT, num_classes=NUM_CLASSES)
    seconds[RECORDING] = (time.perf_counter() - start) / config.epochs
    seconds[STORED], _ = _second_epoch_seconds(store, split, config)
    scale = steps_per_epoch / steps  # 1 when the timed epoch was whole
    rows = [{"what": what, "seconds_per_epoch": round(s * scale, 3),
             "run_minutes": round(s * scale * full_epochs / 60, 2), "target_minutes": TARGET_MINUTES.get(what)}
            for what, s in seconds.items()]
    return {"pair": f"{PAIR[0]} → {PAIR[1]}", "epochs": full_epochs, "train_images": TRAIN_IMAGES,
            "batch_size": config.batch_size, "steps_per_epoch": steps_per_epoch, "steps_timed": steps,
            "rows": rows}


def crd_run_lines(crd: dict | None, judge: bool) -> list[str]:
    """The extrapolated run as a Markdown table (with the targets, met or missed, when ``judge``)."""
    if not crd:
        return []
    timed = "one whole epoch" if crd["steps_timed"] == crd["steps_per_epoch"] else \
        f"the first {crd['steps_timed']} steps of an epoch, scaled to its {crd['steps_per_epoch']}"
    lines = ["### The CRD run, extrapolated", "",
             f"{crd['pair']} with KD, the CRD recipe ({crd['epochs']} epochs of {crd['train_images']:,} images, batch "
             f"{crd['batch_size']}): {timed} timed through the engine (after an epoch of warm-up), times "
             f"{crd['epochs']}.", "",
             "| Variant | Seconds per epoch | The run, minutes |" + (" Target |" if judge else ""),
             "|---|--:|--:|" + ("---|" if judge else "")]
    for r in crd["rows"]:
        target = ""
        if judge:
            t = r.get("target_minutes")
            target = " — |" if t is None else \
                f" ≤ {t:g} min — **{'met' if r['run_minutes'] <= t else 'missed'}** |"
        lines.append(f"| {r['what']} | {r['seconds_per_epoch']:.2f} | {r['run_minutes']:.1f} |{target}")
    return lines + [""]


__all__ = ["CrdRunSize", "measure_crd_run", "crd_run_lines", "run_config", "PAIR", "TARGET_MINUTES", "LIVE", "STORED",
           "RECORDING"]
