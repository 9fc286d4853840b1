"""FitNets on MNIST (Table 4): the maxout nets, the paper's KD stage and hint regressor, the chapter's table."""

import pytest
import torch
import torch.nn.functional as F

from kdrepro.checks import NOT_COMPARABLE, get_published
from kdrepro.methods import StoredTeacher
from kdrepro.methods.fitnets import AnnealedKD, HintPretraining, annealed_weight
from kdrepro.models import create_model
from kdrepro.models.maxout import MaxoutConv2d


def _count(model) -> int:
    return sum(p.numel() for p in model.parameters())


def test_the_nets_have_the_papers_parameter_counts_and_layer_sizes():
    teacher, fitnet = create_model("maxout_mnist_teacher"), create_model("fitnet_mnist")
    assert _count(teacher) == 361_066  # the paper: 361K
    assert _count(fitnet) == 30_130  # the paper: 30K
    assert _count(create_model("fitnet_mnist", pieces=(2,) * 4 + (4, 4))) == 36_226  # the authors' yaml
    x = torch.zeros(2, 1, 28, 28)
    assert [tuple(f.shape[1:]) for f in teacher(x).features] == [(48, 10, 10), (48, 4, 4), (24, 3, 3)]
    assert [tuple(f.shape[1:]) for f in fitnet(x).features] == [
        (16, 24, 24), (16, 10, 10), (16, 12, 12), (16, 4, 4), (12, 8, 8), (12, 3, 3)]
    assert teacher(x).logits.shape == (2, 10)


def test_a_maxout_channel_is_the_max_of_its_consecutive_filters_then_ceil_pooled():
    layer = MaxoutConv2d(1, 2, 3, kernel=1, pool=2, stride=2)
    with torch.no_grad():
        layer.conv.weight.copy_(torch.tensor([1.0, -1.0, 0.5, 2.0, -2.0, 0.0]).view(6, 1, 1, 1))
        layer.conv.bias.zero_()
    x = torch.tensor([[-1.0, 3.0, 0.0], [2.0, -4.0, 1.0], [0.0, 0.0, -5.0]]).view(1, 1, 3, 3)
    out = layer(x)
    assert out.shape == (1, 2, 2, 2)  # 3×3 pooled 2×2 / 2, rounding up (cuda-convnet)
    unit0 = torch.maximum(x.abs(), 0.5 * x)  # max(x, −x, x/2)
    unit1 = torch.maximum(2 * x.abs(), torch.zeros_like(x))
    assert torch.equal(out[0, 0], F.max_pool2d(unit0, 2, 2, ceil_mode=True)[0, 0])
    assert torch.equal(out[0, 1], F.max_pool2d(unit1, 2, 2, ceil_mode=True)[0, 0])


def test_max_norm_bounds_every_filter_and_every_class():
    net = create_model("fitnet_mnist", seed=0)
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(50)
    net.apply_constraints()
    for layer in net.layers:
        assert layer.conv.weight.flatten(1).norm(dim=1).max() <= layer.max_kernel_norm + 1e-5
    assert net.head.weight.norm(dim=1).max() <= 1.9365 + 1e-5
    authors = create_model("fitnet_mnist", init_range=0.005, seed=0)
    assert authors.layers[0].conv.weight.abs().max() <= 0.005 and authors.layers[0].conv.bias.abs().max() == 0


def test_the_kd_weight_falls_from_4_to_1_over_150_epochs():
    assert [annealed_weight(e) for e in (0, 75, 150, 400)] == pytest.approx([4, 2.5, 1, 1])
    kd = AnnealedKD(create_model("fitnet_mnist", seed=0), StoredTeacher(torch.randn(8, 10)), anneal_epochs=10)
    kd.set_epoch(5)
    assert kd.weight == pytest.approx(2.5)


def test_the_kd_stage_is_ce_plus_lambda_times_the_soft_kl_without_tau_squared():
    torch.manual_seed(0)
    student = create_model("fitnet_mnist", seed=0)
    teacher_logits = torch.randn(4, 10) * 3
    kd = AnnealedKD(student, StoredTeacher(teacher_logits), temperature=3.0)
    x, y = torch.randn(4, 1, 28, 28), torch.tensor([1, 2, 3, 4])
    out, losses = kd(x, y, torch.arange(4))
    z = out.logits
    kl = (F.softmax(teacher_logits / 3, 1) * (F.log_softmax(teacher_logits / 3, 1) - F.log_softmax(z / 3, 1))).sum(1)
    assert losses["ce"].item() == pytest.approx(F.cross_entropy(z, y).item(), rel=1e-5)
    assert losses["soft"].item() == pytest.approx(4 * kl.mean().item(), rel=1e-4)


def test_hint_training_regresses_the_fitnets_4th_layer_onto_the_teachers_2nd():
    from kdrepro.chapters.fitnets_mnist import GUIDED_LAYER, HINT_LAYER, hint_regressor

    teacher, student = create_model("maxout_mnist_teacher", seed=0), create_model("fitnet_mnist", seed=1)
    reg = hint_regressor(student, teacher)
    assert (reg.conv.in_channels, reg.conv.out_channels, reg.conv.kernel_size, reg.pieces) == (16, 96, (1, 1), 2)
    stage1 = HintPretraining(student, teacher, image_shape=(1, 28, 28), hint_layer=HINT_LAYER,
                             guided_layer=GUIDED_LAYER, weight=1.0, reduction="paper", regressor=reg)
    _, losses = stage1(torch.randn(3, 1, 28, 28), torch.zeros(3, dtype=torch.long))
    losses["hint"].backward()
    assert student.layers[GUIDED_LAYER].conv.weight.grad is not None
    assert student.layers[GUIDED_LAYER + 1].conv.weight.grad is None and student.head.weight.grad is None
    with torch.no_grad():
        reg.conv.weight.mul_(100)
    stage1.apply_constraints()  # the regressor's max-norm too
    assert reg.conv.weight.flatten(1).norm(dim=1).max() <= 0.9 + 1e-5


def test_table_4_is_in_the_registry_and_a_smoke_run_is_never_comparable(tmp_path, monkeypatch):
    from kdrepro.chapters import fitnets_mnist as fm

    assert [get_published(f"romero2015/mnist/{k}").value for k in ("teacher", "backprop", "kd", "hints")] == [
        0.55, 1.9, 0.65, 0.51]

    ms = fm.setup("smoke", tmp_path)
    ms.hist = {n: [{"epoch": 1, "test_errors": e, "best_epoch": 1}] for n, e in
               (("teacher", 3), ("backprop", 20), ("kd", 8), ("hints", 5), ("hints_stage1", 0))}
    assert ms.error_rate("backprop") == round(100 * 20 / ms.test.size, 2)
    table = fm.table(ms)
    assert table["paper (% errors)"].tolist() == [0.55, 1.9, 0.65, 0.51]
    assert table["parameters"].tolist() == [361_066, 30_130, 30_130, 30_130]
    checks = fm.checks(ms)
    assert all(c.verdict == NOT_COMPARABLE for c in checks)
    assert fm.metrics(ms)["hints_test_errors"] == 5


def test_the_train_command_trains_table_4s_nets_and_the_chapter_reuses_them(tmp_path, monkeypatch, capsys):
    from kdrepro.chapters import fitnets_mnist as fm
    from kdrepro.chapters.runner import run_dir
    from kdrepro.cli import main
    from tests.helpers.run_stamps import checkpoint_stamps

    monkeypatch.setenv("KDREPRO_RUNS", str(tmp_path))
    assert main(["fitnets-mnist", "train", "--scale", "smoke", "--parts", "kd", "hint"]) == 2
    assert "unknown part(s) hint of FitNets on MNIST; valid: teacher, backprop, kd, hints" in capsys.readouterr().err
    assert main(["fitnets-mnist", "train", "--scale", "smoke", "--parts", "kd"]) == 0  # the teacher first: KD needs it
    said = [line for line in capsys.readouterr().out.splitlines() if not line.startswith("epoch")]
    assert [line.split(":")[0] for line in said] == [fm.ROWS["teacher"], fm.ROWS["kd"]]
    folder = run_dir("fitnets_mnist", "smoke")
    trained = checkpoint_stamps(folder)
    assert sorted(p.parent.name for p in trained) == ["kd", "teacher"]
    ms = fm.setup("smoke", folder)  # the chapter, as its notebook sets up
    fm.train_teacher(ms)
    fm.train_kd(ms)
    assert said[1].startswith(f"{fm.ROWS['kd']}: {ms.error_rate('kd')} % test errors")
    assert checkpoint_stamps(folder) == trained  # reused, not retrained
