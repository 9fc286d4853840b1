"""How a process runs the training steps, not what they compute: the speed switches.

Each is read from its environment variable, ``1`` or ``0`` (``kdrepro run`` sets them from its flags,
and a chapter's kernel inherits them), and otherwise takes its default: convolutions in channels-last
memory layout (``--channels-last``, on by default: faster wherever ``kdrepro bench`` timed it, and
``--no-channels-last`` gives the plain layout back), ``torch.compile`` of each trained network's
forward, its method's losses included (``--compile``, off: minutes of compiling per network), and, on
a CUDA GPU, that compiled step replayed as CUDA graphs (``--cuda-graphs``, off: torch.compile's
``reduce-overhead`` mode; the training loader drops the last short batch, so every step has the
same shapes and one graph serves the whole run). The CUDA-only part lives here and nowhere else.
"""

from __future__ import annotations

import os

import torch

from ..errors import ConfigError

SPEED_SWITCHES = {"channels_last": "KDREPRO_CHANNELS_LAST", "compile": "KDREPRO_COMPILE",
                  "cuda_graphs": "KDREPRO_CUDA_GRAPHS"}
# On unless switched off: channels-last ran the KD step 1.28× and 1.31× as fast as the plain layout on a
# 2-core Intel Xeon (bf16) and 1.32× and 1.19× on a 2-core AMD EPYC (float32) in `kdrepro bench`
# (2026-12-02; resnet32x4 → resnet8x4, wrn_40_2 → wrn_16_2), and it is the layout GPUs' convolutions prefer.
DEFAULT_ON = ("channels_last",)


COMPILE_BF16_CPU = ("--compile (KDREPRO_COMPILE) under bf16 autocast on a CPU gives NaN gradients with this torch: "
                    "add --precision fp32 (KDREPRO_PRECISION=fp32) to compile, or leave --compile off")


def speed_switches() -> dict[str, bool]:
    """Which switches this process has on: each from its variable (``KDREPRO_COMPILE=1``,
    ``KDREPRO_CHANNELS_LAST=0`` and so on), else its default (:data:`DEFAULT_ON`)."""
    switches = {}
    for name, env in SPEED_SWITCHES.items():
        value = os.environ.get(env, "").strip().lower()
        switches[name] = value in ("1", "true", "yes") if value else name in DEFAULT_ON
    return switches


def flush_denormals(device: torch.device) -> None:
    """On a CPU, have this process treat subnormal floats (below 1.2e-38 in float32 and bf16) as zero.

    x86 cores compute with subnormals many times slower than with normal numbers, and training makes
    them: late in distillation at T = 20 without weight decay, 10–30 % of SGD's momentum entries of
    Hinton's 800-800 student were subnormal, and its step took 25 ms instead of 9 (2026-12-02, Intel
    Xeon, one thread). Values that small change no update that matters; the setting is the process's,
    as torch has it, and GPUs' kernels are left as they are."""
    if device.type == "cpu":
        torch.set_flush_denormal(True)


def compile_refused(device: torch.device, precision: str) -> bool:
    """Whether ``--compile`` is refused for a run on ``device`` in ``precision`` (bf16 on a CPU)."""
    return device.type == "cpu" and precision == "bf16"


def compile_mode(switches: dict[str, bool], device: torch.device, precision: str = "no") -> str | None:
    """The ``torch.compile`` mode of the training step: None (eager), ``"default"`` (``--compile``) or
    ``"reduce-overhead"`` (``--cuda-graphs``, CUDA only: a one-line refusal elsewhere).

    ``--compile`` under bf16 autocast on a CPU is refused: with torch 2.14's inductor, the compiled
    KD step of resnet32x4 → resnet8x4 gave NaN gradients from its first step where the eager step
    did not (found on an AMX CPU, 2026-12-02). Compile in float32 there (``--precision fp32``)."""
    if switches.get("cuda_graphs"):
        if device.type != "cuda":
            raise ConfigError(f"--cuda-graphs (KDREPRO_CUDA_GRAPHS) needs a CUDA GPU and this run is on "
                              f"{device.type}: leave it off here (--compile works on every device)")
        return "reduce-overhead"
    if switches.get("compile") and compile_refused(device, precision):
        raise ConfigError(COMPILE_BF16_CPU)
    return "default" if switches.get("compile") else None


def compile_step(modules: dict, mode: str | None) -> dict:
    """``modules`` compiled in ``mode`` (unchanged when None); the eager modules stay what is saved
    and evaluated."""
    if mode is None:
        return modules
    return {name: torch.compile(module, mode=mode) for name, module in modules.items()}


def begin_step(mode: str | None) -> None:
    """Mark a new training step for CUDA graphs (the previous step's graph outputs may be overwritten
    from here on: the engine keeps only copies of them)."""
    if mode == "reduce-overhead":
        torch.compiler.cudagraph_mark_step_begin()


__all__ = ["SPEED_SWITCHES", "DEFAULT_ON", "COMPILE_BF16_CPU", "speed_switches", "flush_denormals", "compile_refused",
           "compile_mode", "compile_step", "begin_step"]
