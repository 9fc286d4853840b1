"""``kdrepro bench``: the speed of kdrepro's KD training step against a reference-style pipeline,
and of a live teacher against stored logits, measured side by side in one run.

Every comparison trains the same models (fresh, same seed) with the same batch size for the
same number of steps after the same warm-up, on the machine it runs on; the variants of a
repeat run one after another and repeats alternate, so a slow spell of the machine hits both
sides. Throughput is images per second over the timed steps; the table reports the median of
the repeats and each ratio from those medians. The images are random uint8 arrays of CIFAR's
shape (speed does not depend on their content), so the benchmark needs no dataset.

Several students sharing one teacher forward are timed per student (student-images per second),
so that the ratio to one student at a time is the saving on a table of methods. Stored logits
are recorded for exactly the run's augmented batches before its clock starts (one teacher pass
per epoch, paid once for every student trained on those batches). Every kdrepro variant names the
speed switches of ``kdrepro run`` it has on, and has the others off: "kdrepro" is the plain eager
step (``--no-channels-last``), the reference path, against which the switches are timed —
convolutions in channels-last layout (kdrepro's default since it was measured faster here), and
``torch.compile`` of each trained network (its compilation falls in the warm-up steps); on a CUDA
GPU also the compiled step replayed as CUDA graphs.

Beside them, the streamed ImageNet data path (:mod:`kdrepro.bench.data_path`): decoding and
augmenting JPEGs in workers against DeiT-Ti's training step, so the table says which one limits.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import os
import statistics
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from ..engine import Split, TrainConfig, Trainer, process_device, use_gpu
from ..engine.accel import auto_precision
from ..engine.speed import SPEED_SWITCHES, compile_refused
from ..stores import record_teacher_logits
from ..errors import ConfigError
from ..io import write_json
from ..methods import KD, SharedTeacher
from ..models import create_model
from ..provenance import git_commit, machine
from .crd_run import CrdRunSize, measure_crd_run
from .data_path import DataPathSize, measure_data_path
from .figure import plot_bench
from .reference import reference_kd_steps
from .synthetic import AUGMENT, NUM_CLASSES, synthetic_split
from .timing import StepClock

NOT_BUILT: tuple[str, ...] = ()  # speed features kdrepro lacks, named on the Performance page


@dataclass(frozen=True)
class BenchSize:
    pairs: tuple[tuple[str, str], ...]
    batch_size: int
    warmup: int
    steps: int
    repeats: int
    compile: bool = True  # time the torch.compile variant (minutes of compilation per model on a CPU)


SIZES = {
    # the CRD recipe's batch and two of its pairs; few steps on a CPU, many on a GPU
    "cpu": BenchSize((("resnet32x4", "resnet8x4"), ("wrn_40_2", "wrn_16_2")), 64, 2, 10, 3),
    "gpu": BenchSize((("resnet32x4", "resnet8x4"), ("wrn_40_2", "wrn_16_2")), 64, 20, 200, 3),
    "quick": BenchSize((("resnet14", "resnet8"),), 16, 1, 2, 1, compile=False),  # the tests: it runs, not how fast
}

SHARED_STUDENTS = 4


def loader_workers() -> int:
    """The reference pipeline's DataLoader workers: the references use 8, capped at the cores here."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return min(8, cores)


DATA_PATH = {
    "cpu": DataPathSize(batch_size=16, warmup=1, steps=3, workers=loader_workers()),
    "gpu": DataPathSize(batch_size=128, warmup=5, steps=20, workers=min(16, os.cpu_count() or 1)),
    "quick": DataPathSize(batch_size=2, warmup=1, steps=1, workers=1, teacher=None, loader_batch=2),
}

CRD_RUN = {"cpu": CrdRunSize(steps=5), "gpu": CrdRunSize(steps=None), "quick": CrdRunSize(steps=1)}


@dataclass(frozen=True)
class Variant:
    pipeline: str  # "reference" or "kdrepro"
    teacher: str  # "live" or "stored"
    augment: bool
    students: int = 1  # > 1: that many KD students share each teacher forward (throughput per student)
    precision: str = "no"  # the reference's; kdrepro's variants run in their default ("auto")
    switches: tuple[str, ...] = ()  # kdrepro's speed switches turned on (engine.speed.SPEED_SWITCHES)


REFERENCE, KDREPRO = "reference-style", "kdrepro"
SHARED = f"kdrepro, {SHARED_STUDENTS} students sharing one teacher forward"
STORED = "kdrepro, stored logits recorded for these batches"
CHANNELS_LAST = "kdrepro, channels-last convolutions"
COMPILED = "kdrepro, torch.compile"
FASTEST = "kdrepro, channels-last + torch.compile"  # every CPU speed switch on: the fastest live-teacher step
GRAPHS = "kdrepro, torch.compile replayed as CUDA graphs"  # a CUDA GPU only
VARIANTS = {
    REFERENCE: Variant("reference", "live", True),
    KDREPRO: Variant("kdrepro", "live", True),
    SHARED: Variant("kdrepro", "live", True, SHARED_STUDENTS),
    STORED: Variant("kdrepro", "stored", True),
    CHANNELS_LAST: Variant("kdrepro", "live", True, switches=("channels_last",)),
    COMPILED: Variant("kdrepro", "live", True, switches=("compile",)),
    FASTEST: Variant("kdrepro", "live", True, switches=("channels_last", "compile")),
}
RATIOS = (  # (numerator, denominator, what it shows)
    (KDREPRO, REFERENCE, "kdrepro's train step ÷ the reference-style pipeline"),
    (SHARED, KDREPRO, f"{SHARED_STUDENTS} students sharing a teacher forward ÷ one student at a time (per student)"),
    (STORED, KDREPRO, "stored teacher logits ÷ a live teacher"),
    (CHANNELS_LAST, KDREPRO, "channels-last ÷ the default layout (--channels-last)"),
    (COMPILED, KDREPRO, "torch.compile ÷ eager (--compile; compilation not timed)"),
    (FASTEST, REFERENCE, "kdrepro with every speed switch (--channels-last --compile) ÷ the reference-style pipeline"),
)
SAME_PRECISION = "reference-style, in kdrepro's precision"
GPU_ONLY = {GRAPHS: (Variant("kdrepro", "live", True, switches=("cuda_graphs",)),
                     (GRAPHS, COMPILED, "CUDA graphs ÷ torch.compile alone (--cuda-graphs)"))}


def comparisons(precision: str, compile: bool = True, cuda: bool = False) -> tuple[dict[str, Variant], tuple]:
    """The variants and ratios when kdrepro's default runs in ``precision``. In float32 (CPUs without
    native bf16) they are :data:`VARIANTS` and :data:`RATIOS`; in bf16 (a GPU, or a CPU with AVX-512
    BF16 or AMX) the reference also runs in bf16, so that one ratio compares like for like and the
    other shows what kdrepro's default gains.
    Without ``compile`` the torch.compile variants are left out; with ``cuda`` (and ``compile``), the
    CUDA-graph variant of :data:`GPU_ONLY` is added."""
    variants, ratios = dict(VARIANTS), RATIOS
    if precision != "no":
        variants[SAME_PRECISION] = Variant("reference", "live", True, precision=precision)
        ratios = ((KDREPRO, REFERENCE, f"kdrepro's train step ({precision}) ÷ the reference-style pipeline "
                                       "(float32)"),
                  (KDREPRO, SAME_PRECISION, f"like for like: kdrepro's train step ÷ the reference-style pipeline, "
                                            f"both in {precision}"), *RATIOS[1:])
    if not compile:
        variants.pop(COMPILED)
        variants.pop(FASTEST)
        ratios = tuple(r for r in ratios if r[0] not in (COMPILED, FASTEST))
    elif cuda:
        for name, (variant, ratio) in GPU_ONLY.items():
            variants[name] = variant
            ratios = (*ratios, ratio)
    return variants, ratios


@contextlib.contextmanager
def switched_on(switches: tuple[str, ...]):
    """kdrepro's speed switches ``switches`` on (and the others off) inside the block, as
    ``kdrepro run --channels-last --compile`` sets them; the environment restored after."""
    saved = {env: os.environ.get(env) for env in SPEED_SWITCHES.values()}
    try:
        for name, env in SPEED_SWITCHES.items():
            os.environ[env] = "1" if name in switches else "0"
        yield
    finally:
        for env, value in saved.items():
            if value is None:
                os.environ.pop(env, None)
            else:
                os.environ[env] = value


@dataclass
class Row:
    pair: str
    variant: str
    images_per_s: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.images_per_s)


def default_size() -> str:
    return "gpu" if use_gpu() else "cpu"


def _models(pair: tuple[str, str]):
    teacher = create_model(pair[0], num_classes=NUM_CLASSES, seed=0)
    return teacher, create_model(pair[1], num_classes=NUM_CLASSES, seed=1)


def bench_config(size: BenchSize) -> TrainConfig:
    """The recipe of every kdrepro variant: CRD's SGD at batch ``size.batch_size``, one short epoch."""
    return TrainConfig(epochs=1, batch_size=size.batch_size, lr=0.05, momentum=0.9, weight_decay=5e-4,
                       schedule="constant", max_steps_per_epoch=size.warmup + size.steps)


def kdrepro_steps(distiller, split: Split, size: BenchSize, augment: bool) -> float:
    """kdrepro's engine training ``distiller`` for ``warmup + steps`` steps; images/s over the timed steps."""
    clock_box = {}

    def tick(event, state, trainer):
        if event == "step":
            clock_box.setdefault("clock", StepClock(trainer.device, size.warmup, size.steps)).tick()

    trainer = Trainer(bench_config(size), verbose=False, progress=False, callbacks=[tick])
    trainer.fit(distiller, split, augment=AUGMENT if augment else None)
    return clock_box["clock"].images_per_s(size.batch_size)


def measure(variant: Variant, pair: tuple[str, str], split: Split, size: BenchSize, device: torch.device) -> float:
    """Images (per student) per second of ``variant`` on ``pair``, fresh models of fixed seeds."""
    teacher, student = _models(pair)
    if variant.pipeline == "reference":
        return reference_kd_steps(student, teacher, split.images, split.labels, split.mean, split.std,
                                  batch_size=size.batch_size, steps=size.steps, warmup=size.warmup,
                                  workers=loader_workers(), device=device, precision=variant.precision)
    if variant.teacher == "stored":  # recorded before the clock starts: one pass, shared by every student
        teacher = record_teacher_logits(teacher, split, bench_config(size), AUGMENT if variant.augment else None,
                                        device=device)
    if variant.students == 1:
        with switched_on(variant.switches):
            return kdrepro_steps(KD(student, teacher), split, size, variant.augment)
    members = {f"kd{k}": KD(create_model(pair[1], num_classes=NUM_CLASSES, seed=k + 1), teacher)
               for k in range(variant.students)}
    with switched_on(variant.switches):
        return variant.students * kdrepro_steps(SharedTeacher(teacher, members), split, size, variant.augment)


def compile_here(size: BenchSize, device: torch.device, precision: str) -> tuple[bool, list[str]]:
    """Whether the torch.compile variants run, and why not where the engine refuses them (under bf16
    autocast on a CPU: :func:`kdrepro.engine.speed.compile_mode`)."""
    if size.compile and compile_refused(device, precision):
        return False, [f"{COMPILED} and {FASTEST} (--compile is refused under bf16 autocast on a CPU: "
                       "NaN gradients with this torch)"]
    return size.compile, []


def compile_left_out(results: dict) -> bool:
    """Whether a bench run (its results) left its torch.compile variants out because the engine
    refuses --compile where it ran (bf16 on a CPU): read from the run's own size, machine and precision."""
    device = torch.device("cuda" if results.get("machine", {}).get("gpus") else "cpu")
    precision = results.get("precision", {}).get("kdrepro", "no")
    return bool(results.get("settings", {}).get("compile")) and compile_refused(device, precision)


def run_bench(size_name: str | None = None, out_dir: Path | None = None, log=print) -> dict:
    """Run every comparison of ``size_name`` (default: "gpu" on a GPU, else "cpu"); return the
    results (also written to ``out_dir/results.json`` when given)."""
    size_name = size_name or default_size()
    if size_name not in SIZES:
        raise ConfigError(f"unknown bench size {size_name!r}; valid: {', '.join(SIZES)}")
    size = SIZES[size_name]
    device, precision = process_device(), auto_precision(use_gpu())  # as the Trainer picks them
    compiled, compile_skipped = compile_here(size, device, precision)
    variants, ratios = comparisons(precision, compiled, cuda=device.type == "cuda")
    split = synthetic_split(size.batch_size * (size.warmup + size.steps) * 2)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    rows = {(p, v): Row(f"{p[0]} → {p[1]}", v) for p in size.pairs for v in variants}
    for repeat in range(size.repeats):
        for pair in size.pairs:
            for variant in variants:
                value = measure(variants[variant], pair, split, size, device)
                rows[(pair, variant)].images_per_s.append(value)
                log(f"[{repeat + 1}/{size.repeats}] {pair[0]} → {pair[1]:<10} {variant:<52} {value:9.1f} images/s")
    with tempfile.TemporaryDirectory() as scratch:
        data_path = measure_data_path(DATA_PATH[size_name], device, Path(out_dir or scratch), log)
    crd_run = measure_crd_run(CRD_RUN[size_name], log)
    commit, dirty = git_commit()
    results = {
        "schema": 1, "kind": "bench", "size": size_name, "settings": asdict(size) | {"workers": loader_workers()},
        "machine": machine(), "commit": commit, "dirty": dirty,
        "precision": {"kdrepro": precision, "reference": "no"},
        "peak_gpu_memory_mib": (round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
                                if device.type == "cuda" else None),
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "rows": [{"pair": r.pair, "variant": r.variant, "images_per_s": round(r.median, 2),
                  "repeats": [round(v, 2) for v in r.images_per_s]} for r in rows.values()],
        "ratios": [{"pair": f"{p[0]} → {p[1]}", "ratio": round(rows[(p, a)].median / rows[(p, b)].median, 3),
                    "numerator": a, "denominator": b, "what": what}
                   for p in size.pairs for a, b, what in ratios],
        "data_path": data_path,
        "crd_run": crd_run,
        "not_built": list(NOT_BUILT),
        "not_here": ([] if device.type == "cuda" else [f"{name} (a CUDA GPU only)" for name in GPU_ONLY])
        + compile_skipped,
    }
    if out_dir is not None:
        write_json(Path(out_dir) / "results.json", results)
        plot_bench(results, Path(out_dir) / "bench.svg")
    return results


def table_text(results: dict) -> str:
    """The results as aligned plain text: throughput per variant, then the ratios."""
    lines = [f"kdrepro bench ({results['size']}) on {results['machine']['summary']}, batch "
             f"{results['settings']['batch_size']}, {results['settings']['steps']} timed steps, "
             f"median of {results['settings']['repeats']}", ""]
    lines += [f"  {r['pair']:<24} {r['variant']:<52} {r['images_per_s']:10.1f} images/s" for r in results["rows"]]
    lines += [""] + [f"  {r['pair']:<24} {r['what']:<78} {r['ratio']:6.2f}×" for r in results["ratios"]]
    if "data_path" in results:
        dp = results["data_path"]
        lines += ["", f"  data path (224 px, batch {dp['settings']['batch_size']}):"]
        lines += [f"  {r['what']:<78} {r['images_per_s']:10.1f} images/s" for r in dp["rows"]]
        lines += [f"  {r['what']:<78} {r['ratio']:6.2f}×" for r in dp["ratios"]]
    if "crd_run" in results:
        crd = results["crd_run"]
        lines += ["", f"  the CRD run ({crd['pair']}, {crd['epochs']} epochs), extrapolated from "
                      f"{crd['steps_timed']} of an epoch's {crd['steps_per_epoch']} steps:"]
        lines += [f"  {r['what']:<78} {r['seconds_per_epoch']:8.2f} s/epoch {r['run_minutes']:9.1f} min"
                  for r in crd["rows"]]
    lines += [""] + [f"  not built yet: {n}" for n in results["not_built"]]
    lines += [f"  not measured on this machine: {n}" for n in results.get("not_here", [])]
    return "\n".join(lines)
