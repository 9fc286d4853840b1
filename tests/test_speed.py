"""The speed switches: how a process runs the steps (channels-last, torch.compile, CUDA graphs)."""

import pytest
import torch

from kdrepro.engine import Split, Trainer, TrainConfig, speed
from kdrepro.engine.speed import compile_mode, speed_switches
from kdrepro.errors import ConfigError
from kdrepro.methods import CrossEntropy
from kdrepro.models import create_model

CPU, CUDA = torch.device("cpu"), torch.device("cuda")  # a device object needs no GPU


def test_each_switch_picks_its_compile_mode_and_cuda_graphs_only_on_a_gpu():
    assert compile_mode({}, CPU) is None
    assert compile_mode({"compile": True}, CPU) == "default"
    assert compile_mode({"cuda_graphs": True}, CUDA) == "reduce-overhead"
    assert compile_mode({"compile": True, "cuda_graphs": True}, CUDA) == "reduce-overhead"  # graphs imply compiling
    with pytest.raises(ConfigError, match="--cuda-graphs .* needs a CUDA GPU and this run is on cpu"):
        compile_mode({"cuda_graphs": True}, CPU)


def test_compiling_under_bf16_autocast_on_a_cpu_is_refused_before_it_trains(tmp_path, monkeypatch):
    # torch 2.14's inductor gave NaN gradients for the compiled bf16 KD step of resnet32x4 → resnet8x4
    from accelerate.state import AcceleratorState

    assert compile_mode({"compile": True}, CPU, "no") == "default"
    assert compile_mode({"compile": True}, CUDA, "bf16") == "default"
    assert compile_mode({}, CPU, "bf16") is None
    with pytest.raises(ConfigError, match="--compile .* bf16 autocast on a CPU .* --precision fp32"):
        compile_mode({"compile": True}, CPU, "bf16")
    monkeypatch.setenv("KDREPRO_COMPILE", "1")
    monkeypatch.setenv("KDREPRO_PRECISION", "bf16")  # the suite forces fp32
    model = create_model("mlp", hidden=(8,), in_features=64, num_classes=4, seed=0)
    images = torch.randint(0, 255, (32, 1, 8, 8), dtype=torch.uint8)
    AcceleratorState._reset_state(True)  # one precision per process otherwise
    try:
        with pytest.raises(ConfigError, match="--precision fp32"):
            Trainer(TrainConfig(epochs=1, batch_size=16), tmp_path, verbose=False).fit(
                CrossEntropy(model), Split(images, torch.arange(32) % 4, (0.5,), (0.25,)))
    finally:
        AcceleratorState._reset_state(True)
    assert not (tmp_path / "checkpoint.pt").exists()


def test_the_switches_are_read_from_the_environment_else_channels_last_alone_is_on(monkeypatch):
    for env in speed.SPEED_SWITCHES.values():
        monkeypatch.delenv(env, raising=False)
    assert speed_switches() == {"channels_last": True, "compile": False, "cuda_graphs": False}  # the defaults
    monkeypatch.setenv("KDREPRO_CUDA_GRAPHS", "1")
    monkeypatch.setenv("KDREPRO_CHANNELS_LAST", "0")  # --no-channels-last: the plain layout
    assert speed_switches() == {"channels_last": False, "compile": False, "cuda_graphs": True}


def test_a_step_is_marked_for_cuda_graphs_only_in_their_mode(monkeypatch):
    marks = []
    monkeypatch.setattr(torch.compiler, "cudagraph_mark_step_begin", lambda: marks.append(1))
    speed.begin_step(None)
    speed.begin_step("default")
    assert marks == []
    speed.begin_step("reduce-overhead")
    assert marks == [1]


def test_a_run_asked_for_cuda_graphs_on_a_cpu_is_refused_before_it_trains(tmp_path, monkeypatch):
    monkeypatch.setenv("KDREPRO_CUDA_GRAPHS", "1")
    model = create_model("mlp", hidden=(8,), in_features=64, num_classes=4, seed=0)
    images = torch.randint(0, 255, (32, 1, 8, 8), dtype=torch.uint8)
    with pytest.raises(ConfigError, match="needs a CUDA GPU"):
        Trainer(TrainConfig(epochs=1, batch_size=16), tmp_path, verbose=False).fit(
            CrossEntropy(model), Split(images, torch.arange(32) % 4, (0.5,), (0.25,)))
    assert not (tmp_path / "checkpoint.pt").exists()


def test_the_graph_variant_joins_the_bench_only_on_a_gpu_with_compilation():
    from kdrepro.bench.suite import COMPILED, GRAPHS, comparisons

    assert GRAPHS not in comparisons("no")[0] and GRAPHS not in comparisons("no", compile=False, cuda=True)[0]
    variants, ratios = comparisons("bf16", cuda=True)
    assert variants[GRAPHS].switches == ("cuda_graphs",) and (GRAPHS, COMPILED) in [(a, b) for a, b, _ in ratios]


FLUSH_CHECK = """
import torch
from kdrepro.engine import Split, Trainer, TrainConfig
from kdrepro.methods import CrossEntropy
from kdrepro.models import create_model

subnormal = lambda: (torch.tensor([1e-39]) * 1.0).item()  # noqa: E731
before = subnormal()
model = create_model("mlp", hidden=(8,), in_features=64, num_classes=4, seed=0)
images = torch.randint(0, 255, (32, 1, 8, 8), dtype=torch.uint8)
Trainer(TrainConfig(epochs=1, batch_size=16), verbose=False).fit(
    CrossEntropy(model), Split(images, torch.arange(32) % 4, (0.5,), (0.25,)))
print(before > 0, subnormal() == 0)
"""


def test_training_on_a_cpu_treats_subnormal_floats_as_zero():
    import subprocess
    import sys

    # A fresh process: the setting is the process's, and another test's training would already have made it.
    done = subprocess.run([sys.executable, "-c", FLUSH_CHECK], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["True", "True"]  # kept before training, flushed once a run trains
