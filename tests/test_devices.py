"""Devices and precision without a GPU: the suite's CPU pin, and helpers that run models the engine
moved to the accelerator. A model moved to the ``meta`` device stands in for one on the GPU: a
helper that forgets to move its inputs to the model's device fails on the CPU with a device mismatch."""

from __future__ import annotations

import os

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from kdrepro.engine import Trainer, TrainConfig
from kdrepro.engine import accel
from kdrepro.evaluation.frozen_features import knn_predict
from kdrepro.methods import KD, soft_target_loss
from kdrepro.methods import ab_distillation, attention_transfer
from kdrepro.methods.base import device_of
from kdrepro.models import create_model

META = torch.device("meta")
GPU_RUN = os.environ.get("KDREPRO_TEST_GPU", "") not in ("", "0")


# -- the suite's pin to the CPU ------------------------------------------------------------------
@pytest.mark.skipif(GPU_RUN, reason="KDREPRO_TEST_GPU=1 lifts the CPU pin")
def test_the_suite_is_pinned_to_the_cpu_in_float32_even_where_cuda_is_available(monkeypatch):
    assert os.environ["ACCELERATE_USE_CPU"] == "1" and os.environ["CUDA_VISIBLE_DEVICES"] == ""  # subprocesses too
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # as on a GPU machine
    assert not accel.use_gpu()
    trainer = Trainer(TrainConfig(epochs=1, batch_size=4), verbose=False)
    assert trainer.device.type == "cpu" and trainer.accelerator.mixed_precision == "no"
    assert accel.process_device().type == "cpu"


def test_without_the_pin_a_gpu_machine_trains_on_the_gpu(monkeypatch):
    monkeypatch.delenv("ACCELERATE_USE_CPU", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert accel.use_gpu()  # so the pin above is what keeps the suite on the CPU
    monkeypatch.setenv("ACCELERATE_USE_CPU", "1")
    assert not accel.use_gpu()


@pytest.mark.gpu
def test_a_trainer_picks_the_gpu_and_bf16_when_asked_to():
    trainer = Trainer(TrainConfig(epochs=1, batch_size=4), verbose=False)
    assert trainer.device.type == "cuda" and trainer.accelerator.mixed_precision == "bf16"


# -- device_of -----------------------------------------------------------------------------------
def test_device_of_reads_parameters_then_buffers_else_the_cpu():
    assert device_of(nn.Linear(2, 2).to(META)) == META
    only_buffers = nn.BatchNorm1d(2, affine=False).to(META)
    assert list(only_buffers.parameters()) == [] and device_of(only_buffers) == META
    assert device_of(nn.ReLU()) == torch.device("cpu")


# -- helpers that pair models with inputs -------------------------------------------------------
def _cifar_pair(num_classes: int = 10):
    return (create_model("resnet8", num_classes=num_classes, seed=0),
            create_model("resnet14", num_classes=num_classes, seed=1))


@pytest.mark.parametrize("teacher_on", ["meta", "cpu"])
def test_attention_distance_runs_each_model_on_its_device(monkeypatch, teacher_on):
    student, teacher = _cifar_pair()
    student.to(META)  # a trained student left on the accelerator
    teacher.to(teacher_on)  # the teacher there too, or loaded from disk on the CPU
    seen = []

    def spy(s, t, p=2.0, distance="code"):
        seen.append((s.device, t.device))
        return torch.zeros(())

    monkeypatch.setattr(attention_transfer, "at_loss", spy)
    gaps = attention_transfer.attention_distance(student, teacher, torch.rand(2, 3, 32, 32))
    assert gaps == [0.0] * len(seen) and len(seen) == 3 and set(seen) == {(META, META)}


def test_attention_distance_on_the_cpu_is_unchanged():
    student, teacher = _cifar_pair()
    x = torch.rand(4, 3, 32, 32)
    gaps = attention_transfer.attention_distance(student, teacher, x)
    with torch.no_grad():
        pairs = attention_transfer.paired_groups(student(x).features, teacher(x).features)
    assert gaps == pytest.approx([attention_transfer.at_loss(s, t, distance="paper").item() for s, t in pairs])


@pytest.mark.parametrize("teacher_on", ["meta", "cpu"])
def test_ab_agreement_puts_the_batch_on_the_networks_devices(monkeypatch, teacher_on):
    from kdrepro.training import pairs

    student, teacher = _cifar_pair()
    init = ab_distillation.ABInitialization(student, teacher)
    init.to(META)  # what Trainer.fit does to the student and the connectors
    teacher.to(teacher_on)
    seen = []

    def spy(s, t):
        seen.extend((a.device, b.device) for a, b in zip(s, t))
        return 0.5

    monkeypatch.setattr(ab_distillation, "boundary_agreement", spy)
    x = torch.rand(2, 3, 32, 32)  # the probe batch, built on the CPU
    assert init.agreement(x) == 0.5 and pairs._agreement(init, x) == 0.5
    assert seen and {s for s, _ in seen} == {META} and {t for _, t in seen} == {torch.device(teacher_on)}
    assert init.training  # the mode is restored


def test_boundary_agreement_compares_maps_from_two_devices():
    s = [torch.tensor([1.0, -1.0, 2.0, -3.0])]
    assert ab_distillation.boundary_agreement(s, [torch.tensor([1.0, 1.0, 2.0, -3.0])]) == 0.75


@pytest.mark.parametrize("method", ["ctkd", "ctkd_instance"])
def test_ctkd_temperatures_rebuild_the_student_on_the_teachers_device(tmp_path, monkeypatch, method):
    from kdrepro.methods.ctkd import global_ctkd, instance_ctkd
    from kdrepro.training import pairs
    from kdrepro.training.teachers import Teacher

    monkeypatch.setenv("KDREPRO_RUNS", str(tmp_path))
    classes = 100  # cifar100's
    student, teacher_net = _cifar_pair(classes)
    ctkd = global_ctkd(student, teacher_net) if method == "ctkd" else instance_ctkd(student, teacher_net, classes)
    folder = pairs.run_dir("cifar100", "smoke", "resnet8", method, "resnet14", 0) / "train"
    folder.mkdir(parents=True)
    torch.save({"model": ctkd.state_dict()}, folder / "checkpoint.pt")
    teacher = Teacher(teacher_net, {"model": "resnet14", "dataset": "cifar100"}, tmp_path)
    x = torch.rand(3, 3, 32, 32)

    on_cpu = pairs.temperatures("cifar100", "smoke", "resnet8", method, teacher, x)
    assert on_cpu.device.type == "cpu" and on_cpu.shape == (3,) and bool(((on_cpu >= 1) & (on_cpu <= 21)).all())

    teacher_net.to(META)  # trained in this process: left on the accelerator by Trainer.fit
    real, seen = pairs._temperatures, []

    def spy(m, batch):
        tau = real(m, batch)  # the real computation, on the meta device (a meta tensor cannot come back)
        seen.append((device_of(m.student), device_of(m.temperature), tau.device))
        return torch.ones(len(batch))

    monkeypatch.setattr(pairs, "_temperatures", spy)
    pairs.temperatures("cifar100", "smoke", "resnet8", method, teacher, x)
    assert seen == [(META, META, META)]


def test_knn_votes_on_the_features_device():
    g = torch.Generator().manual_seed(0)
    train = F.normalize(torch.randn(30, 8, generator=g), dim=-1)
    labels = torch.randint(0, 3, (30,), generator=g)
    test = F.normalize(torch.randn(7, 8, generator=g), dim=-1)
    pred = knn_predict(train, labels, test, num_classes=3, k=5, chunk=4)
    assert pred.device.type == "cpu" and pred.shape == (7,)
    assert knn_predict(train.to(META), labels, test.to(META), num_classes=3, k=5).device == META


# -- precision: the soft targets at a high temperature are computed in float32 ---------------
def test_the_kd_soft_target_loss_is_float32_under_bf16_autocast():
    g = torch.Generator().manual_seed(0)
    student = (torch.randn(64, 100, generator=g) * 3).bfloat16()  # the logits a bf16 forward returns
    teacher = (torch.randn(64, 100, generator=g) * 3).bfloat16()
    exact = soft_target_loss(student.double(), teacher.double(), 4.0)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = soft_target_loss(student, teacher, 4.0)
        in_bf16 = F.kl_div(F.log_softmax(student / 4.0, -1), F.log_softmax(teacher / 4.0, -1),
                           reduction="batchmean", log_target=True) * 16
    assert loss.dtype == torch.float32
    assert abs(loss.item() - exact.item()) < 1e-5 * exact.item()
    assert abs(in_bf16.item() - exact.item()) > 1e-4 * exact.item()  # what softmax in bf16 would lose


def test_kd_forward_under_bf16_autocast_returns_float32_losses():
    student, teacher = _cifar_pair()
    kd = KD(student, teacher, temperature=4.0)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out, losses = kd(torch.rand(4, 3, 32, 32), torch.tensor([0, 1, 2, 3]))
    assert out.logits.dtype == torch.bfloat16  # the forward ran in bf16 ...
    assert losses["soft"].dtype == torch.float32 and losses["hard"].dtype == torch.float32  # ... the losses did not


def test_dino_head_and_ctkd_temperature_stay_float32_under_bf16_autocast():
    from kdrepro.methods.ctkd import CurriculumTemperature, InstanceTemperature
    from kdrepro.methods.dino import DinoHead

    torch.manual_seed(0)
    head, f = DinoHead(32, 256), torch.randn(8, 32).bfloat16()
    reference = head(f.float())
    temperature, t, s = CurriculumTemperature(InstanceTemperature(10)), torch.randn(8, 10), torch.randn(8, 10)
    tau_reference = temperature(t, s)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out, tau = head(f), temperature(t, s)
    assert out.dtype == torch.float32 and torch.allclose(out, reference, atol=1e-6)
    assert tau.dtype == torch.float32 and torch.allclose(tau, tau_reference, atol=1e-6)


def test_deterministic_kernels_are_selected_when_asked(monkeypatch):
    from kdrepro.engine.accel import deterministic_requested, use_deterministic_kernels

    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)  # restored after the test
    monkeypatch.setenv("KDREPRO_DETERMINISTIC", "1")
    assert deterministic_requested()
    monkeypatch.setenv("KDREPRO_DETERMINISTIC", "0")
    assert not deterministic_requested()
    before = torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.deterministic
    try:
        use_deterministic_kernels()
        assert torch.are_deterministic_algorithms_enabled() and torch.backends.cudnn.deterministic
        assert not torch.backends.cudnn.benchmark and os.environ["CUBLAS_WORKSPACE_CONFIG"]
    finally:
        torch.use_deterministic_algorithms(before[0])
        torch.backends.cudnn.deterministic = before[1]
