"""One Accelerate set-up for every run: CPU or GPU, one process or many."""

from __future__ import annotations

import os

import torch
from accelerate import Accelerator, PartialState
from accelerate.state import is_initialized
from accelerate.utils import parse_flag_from_env

from ..errors import ConfigError
from ..provenance import cpu_has_native_bf16


def use_gpu() -> bool:
    """Whether this process computes on the GPU: when there is one, unless ``ACCELERATE_USE_CPU=1``
    (which the test suite sets, so that it runs on the CPU in float32 on a GPU machine too)."""
    return torch.cuda.is_available() and not parse_flag_from_env("ACCELERATE_USE_CPU")


def launched_processes() -> int:
    """The number of processes the launcher started (``accelerate launch`` sets WORLD_SIZE; 1 otherwise)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def process_state() -> PartialState:
    """Accelerate's state of this process, created on first use with the same CPU/GPU choice as
    :func:`make_accelerator`: under ``accelerate launch`` creating it joins the launcher's process
    group, so barriers and devices work before (or without) any Accelerator."""
    return PartialState(cpu=not use_gpu())


def process_device() -> torch.device:
    """The device this process computes on, as the Trainer's Accelerator chooses it (its own GPU
    under ``accelerate launch``)."""
    return process_state().device


PRECISION_ENV = "KDREPRO_PRECISION"  # "fp32" forces float32 wherever a recipe says "auto"; "bf16" forces bf16
_FORCED = {"fp32": "no", "no": "no", "bf16": "bf16", "auto": None, "": None}


def forced_precision() -> str | None:
    """What ``KDREPRO_PRECISION`` imposes on "auto" (``fp32`` → "no", ``bf16``), or None; anything
    else is refused with the valid values."""
    value = os.environ.get(PRECISION_ENV, "").strip().lower()
    if value not in _FORCED:
        raise ConfigError(f"{PRECISION_ENV}={value!r} is not a precision; valid: fp32, bf16, auto")
    return _FORCED[value]


def auto_precision(on_gpu: bool) -> str:
    """``"auto"``'s precision: bf16 autocast on a GPU that computes bf16 natively (Ampere and later)
    and on a CPU that does (AVX-512 BF16 or AMX); float32 elsewhere — on GPUs that only emulate bf16
    (V100, T4) and on other CPUs. ``KDREPRO_PRECISION=fp32`` (``kdrepro run --precision fp32``) keeps
    float32 everywhere, for bit-for-bit runs. The parts that need float32 stay there under autocast
    (softmax at a high temperature, DINO's centre and head, CTKD's temperature, BatchNorm statistics)."""
    forced = forced_precision()
    if forced is not None:
        return forced
    if on_gpu:
        return "bf16" if torch.cuda.is_bf16_supported(including_emulation=False) else "no"
    return "bf16" if cpu_has_native_bf16() else "no"


def deterministic_requested() -> bool:
    """``KDREPRO_DETERMINISTIC=1``: bitwise-repeatable kernels on a GPU (see :func:`make_accelerator`)."""
    return os.environ.get("KDREPRO_DETERMINISTIC", "").lower() in ("1", "true", "yes")


def use_deterministic_kernels() -> None:
    """Make every kernel deterministic (cuDNN without autotuning, cuBLAS with a fixed workspace, and
    an error from any operation that has no deterministic version). Slower on a GPU."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    torch.use_deterministic_algorithms(True)


def make_accelerator(mixed_precision: str = "auto") -> Accelerator:
    """An Accelerator on the GPU if there is one (under "auto", bf16 autocast where the GPU has it
    natively: :func:`auto_precision`), else on the CPU.

    ``cpu=True`` matters on CPU-only machines: without it, processes started by
    ``accelerate launch`` do not join one group and silently run as separate jobs. The number
    of processes Accelerate sees is checked against the launcher's WORLD_SIZE to catch that.

    Several processes on one CPU machine: ``accelerate launch --multi_gpu --num_processes N
    script.py`` (the processes find no GPU and join one gloo group on the CPU);
    ``accelerate launch --cpu`` starts one process only, whatever ``--num_processes`` says.

    What "exact" means: on the CPU a run, killed and resumed, ends bitwise equal to one that ran
    through (tested). On a GPU the same batches, weights, optimiser and random states are restored,
    but some kernels (cuDNN's autotuned convolutions, atomics in backward passes such as a ViT's
    position-embedding interpolation) are not bitwise repeatable, so a resumed or repeated GPU run
    agrees only to rounding unless ``KDREPRO_DETERMINISTIC=1`` selects deterministic kernels.
    """
    on_gpu = use_gpu()
    if deterministic_requested():
        use_deterministic_kernels()
    if mixed_precision == "auto":
        mixed_precision = auto_precision(on_gpu)
    try:
        accelerator = Accelerator(cpu=not on_gpu, mixed_precision=mixed_precision)
    except ValueError as err:  # Accelerate keeps one state per process
        raise ConfigError(f"every recipe trained in one process must use the same mixed_precision "
                          f"(this one asks for {mixed_precision!r}): {err}") from err
    expected = launched_processes()
    if accelerator.num_processes != expected:
        raise ConfigError(
            f"the launcher started {expected} processes but Accelerate sees {accelerator.num_processes}: "
            "they would train as separate jobs. Create the Accelerator with cpu=True on a CPU machine "
            "(or set ACCELERATE_USE_CPU=1), and launch with `accelerate launch --multi_gpu --num_processes N`.")
    return accelerator


def is_main_process() -> bool:
    """True in the first process of an ``accelerate launch`` (and in a process run on its own):
    the one that writes shared files and prints."""
    return int(os.environ.get("RANK", "0")) == 0


def wait_for_everyone() -> None:
    """Wait until every launched process gets here; at once with one process. Under ``accelerate
    launch`` this works before any Accelerator exists (it joins the process group first), so a
    process that starts by reading what the main one writes (a store) really waits for it."""
    if is_initialized() or launched_processes() > 1:
        process_state().wait_for_everyone()
