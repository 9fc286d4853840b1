"""CTKD: the gradient-reversal layer, the curriculum, the temperature's range and its training
against the student, and the plug-in's agreement with plain KD."""

import math
import sys

import pytest
import torch

from conftest import HELPERS

from kdrepro.engine import Trainer, TrainConfig
from kdrepro.methods import soft_target_loss
from kdrepro.methods.ctkd import (CTKD, CurriculumTemperature, GlobalTemperature, InstanceTemperature,
                                  curriculum_lambda, global_ctkd, instance_ctkd, reverse_gradient,
                                  soft_target_loss_at)
from kdrepro.models import create_model

sys.path.insert(0, str(HELPERS))
from tiny_run import synthetic  # noqa: E402


@pytest.mark.parametrize("strength", [0.0, 0.3, 1.0])
def test_the_reversed_gradient_is_minus_lambda_times_the_plain_one(strength):
    x = torch.tensor([0.7, -1.2], requires_grad=True)
    (torch.sin(x) * 3).sum().backward()
    plain = x.grad.clone()
    x.grad = None
    y = reverse_gradient(x, strength)
    assert torch.equal(y, x)  # identity forward
    (torch.sin(y) * 3).sum().backward()
    torch.testing.assert_close(x.grad, -strength * plain)


def test_curriculum_values_at_start_middle_and_end():
    assert curriculum_lambda(0) == pytest.approx(0.0, abs=1e-12)
    assert curriculum_lambda(5) == pytest.approx(0.5)
    assert curriculum_lambda(10) == pytest.approx(1.0)
    assert curriculum_lambda(100) == pytest.approx(1.0)  # constant after the curriculum
    assert curriculum_lambda(2) == pytest.approx(0.5 * (1 + math.cos(1.2 * math.pi)))
    values = [curriculum_lambda(n) for n in range(11)]
    assert values == sorted(values)  # rising: easy to hard


def _official_cosine_decay(epoch, max_value=0.0, min_value=-1.0, loops=10):
    """zhengli97/CTKD train_student.py's CosineDecay.get_value with the CIFAR script's settings
    (--decay_max 0 --decay_min -1 --decay_loops 10); its GRL multiplies the gradient by it."""
    i = min(max(epoch, 0), loops)
    return (math.cos(i * math.pi / loops) + 1.0) * 0.5 * (max_value - min_value) + min_value


def test_the_curriculum_counts_epochs_from_one_as_the_official_loop():
    # hand-computed: the official loop's epoch 1 gives -(1 - cos(π/10))/2, its epoch 10 gives -1
    assert -_official_cosine_decay(1) == pytest.approx((1 - math.cos(math.pi / 10)) / 2)
    assert -_official_cosine_decay(10) == pytest.approx(1.0)
    module = CurriculumTemperature(GlobalTemperature())
    assert module.strength == pytest.approx(0.0244717, abs=1e-7)  # before any set_epoch: the first epoch's
    module.set_epoch(0)  # the engine's first epoch is the official epoch 1
    assert module.strength == pytest.approx(-_official_cosine_decay(1), abs=1e-12)
    assert module.strength == pytest.approx(0.0244717, abs=1e-7)
    module.set_epoch(9)  # the tenth epoch: the curriculum is complete
    assert module.strength == pytest.approx(-_official_cosine_decay(10)) == 1.0
    for e in range(15):
        module.set_epoch(e)
        assert module.strength == pytest.approx(-_official_cosine_decay(e + 1), abs=1e-12)


def test_the_temperature_stays_in_the_official_range():
    module = CurriculumTemperature(InstanceTemperature(num_classes=5))
    tau = module(torch.randn(64, 5) * 50, torch.randn(64, 5) * 50)
    assert tau.shape == (64, 1) and bool(((tau >= 1) & (tau <= 21)).all())
    g = CurriculumTemperature(GlobalTemperature())
    assert g(None, None).item() == pytest.approx(1 + 20 / (1 + math.exp(-1)))  # official init: raw 1


def test_scalar_temperature_loss_equals_hinton_kd():
    s, t = torch.randn(8, 10), torch.randn(8, 10)
    torch.testing.assert_close(soft_target_loss_at(s, t, torch.tensor([4.0])), soft_target_loss(s, t, 4.0))
    per = torch.full((8, 1), 4.0)
    torch.testing.assert_close(soft_target_loss_at(s, t, per), soft_target_loss(s, t, 4.0))


def _setup(strength_epoch):
    student = create_model("mlp", hidden=(16,), in_features=64, num_classes=4, seed=0)
    teacher = create_model("mlp", hidden=(32,), in_features=64, num_classes=4, seed=1)
    method = global_ctkd(student, teacher)
    method.set_epoch(strength_epoch)
    return method


def test_the_temperature_ascends_the_loss_the_student_descends():
    x, y = torch.randn(16, 1, 8, 8), torch.randint(0, 4, (16,))
    method = _setup(strength_epoch=9)  # the tenth epoch: λ = 1
    _, losses = method(x, y)
    soft = losses["soft"]
    raw = method.temperature.module.raw
    (g_reversed,) = torch.autograd.grad(soft, raw, retain_graph=True)
    # the same loss with the temperature as an ordinary input: the plain gradient
    tau = 1 + 20 * torch.sigmoid(raw)
    plain = method.soft_weight * soft_target_loss_at(method.student(x).logits, method.teacher(x).logits, tau)
    (g_plain,) = torch.autograd.grad(plain, raw)
    torch.testing.assert_close(g_reversed, -g_plain)
    assert g_plain.abs().item() > 0


def test_at_lambda_zero_the_temperature_does_not_move():
    student = create_model("mlp", hidden=(16,), in_features=64, num_classes=4, seed=0)
    teacher = create_model("mlp", hidden=(32,), in_features=64, num_classes=4, seed=1)
    method = CTKD(student, teacher, CurriculumTemperature(GlobalTemperature(), loops=10, lam_max=0.0))
    before = method.temperature.module.raw.detach().clone()
    w0 = torch.nn.utils.parameters_to_vector(student.parameters()).detach().clone()
    config = TrainConfig(epochs=1, batch_size=16, lr=0.1, momentum=0.0, schedule="constant", seed=0,
                         max_steps_per_epoch=3)
    Trainer(config, verbose=False).fit(method, synthetic(64, 0))
    assert torch.equal(method.temperature.module.raw.detach(), before)  # λ = 0 throughout, no weight decay
    assert not torch.equal(torch.nn.utils.parameters_to_vector(student.parameters()), w0)  # the student did


def test_after_the_curriculum_the_temperature_is_trained_and_checkpointed(tmp_path):
    student = create_model("mlp", hidden=(16,), in_features=64, num_classes=4, seed=0)
    teacher = create_model("mlp", hidden=(32,), in_features=64, num_classes=4, seed=1)
    method = CTKD(student, teacher, CurriculumTemperature(GlobalTemperature(), loops=1))
    before = method.temperature.module.raw.detach().clone()
    config = TrainConfig(epochs=2, batch_size=16, lr=0.1, schedule="constant", seed=0, max_steps_per_epoch=3)
    Trainer(config, tmp_path, verbose=False).fit(method, synthetic(64, 0))
    assert not torch.equal(method.temperature.module.raw.detach(), before)
    saved = torch.load(tmp_path / "checkpoint.pt", weights_only=False)["model"]
    assert "temperature.module.raw" in saved


def test_instance_wise_temperature_does_not_train_the_student_through_its_inputs():
    student = create_model("mlp", hidden=(16,), in_features=64, num_classes=4, seed=0)
    teacher = create_model("mlp", hidden=(32,), in_features=64, num_classes=4, seed=1)
    method = instance_ctkd(student, teacher, num_classes=4)
    method.set_epoch(10)
    x = torch.randn(8, 1, 8, 8)
    s = student(x).logits
    tau = method.temperature(teacher(x).logits, s)
    (grad,) = torch.autograd.grad(tau.sum(), s, allow_unused=True)
    assert grad is None  # the MLP reads detached logits
    assert sum(p.numel() for p in method.temperature.parameters()) == (8 * 256 + 256) + (256 + 1)


def _pair_setup(accuracies: dict[str, list[float]], scale: str = "medium"):
    from types import SimpleNamespace

    from kdrepro.chapters.cifar import PairSetup
    from kdrepro.data import get_spec
    from kdrepro.training.pairs import PairRun
    from kdrepro.recipes.cifar import recipe

    runs = {(m, seed): PairRun(m, None, [{"test_accuracy": acc}]) for m, values in accuracies.items()
            for seed, acc in enumerate(values)}
    teacher = SimpleNamespace(info={"model": "resnet20"}, accuracy=79.5)
    return PairSetup(scale, recipe(scale), "cifar10-jpeg75", get_spec("cifar10-jpeg75"), teacher, "resnet8",
                     (0, 1), runs=runs)


def test_the_chapter_judges_the_store_against_live_kd_with_the_seeds_spread():
    from kdrepro.chapters.ctkd import checks

    def verdict(acc):
        return next(c for c in checks(_pair_setup(acc)) if c.key == "wu2022/claim/store_matches_live")

    live = [74.0, 74.4]
    assert verdict({"kd": live, "kd_store": [74.1, 74.3]}).verdict == "pass"
    assert verdict({"kd": live, "kd_store": [72.0, 72.2]}).verdict == "fail"
    assert verdict({"kd": live[:1], "kd_store": [74.1]}).verdict == "inconclusive"  # one run each
    missing = verdict({"kd": live})
    assert missing.verdict == "not comparable" and "not trained" in missing.reason
    smoke = next(c for c in checks(_pair_setup({"kd": live, "kd_store": live}, "smoke"))
                 if c.key == "wu2022/claim/store_matches_live")
    assert smoke.verdict == "not comparable"


def test_the_imagenet_row_has_the_official_scripts_recipe_and_is_full_scale_only():
    from kdrepro.chapters import ctkd_imagenet as cki
    from kdrepro.chapters.runner import parse_value
    from kdrepro.errors import ConfigError
    from kdrepro.recipes.ctkd_imagenet import RECIPE

    c = RECIPE.config(seed=1)
    assert (c.epochs, c.batch_size, c.lr, c.milestones, c.weight_decay) == (120, 256, 0.1, [30, 60, 90], 1e-4)
    assert (RECIPE.kd_weight, RECIPE.ce_weight, RECIPE.temperature, RECIPE.curriculum_epochs) == (1.0, 1.0, 4.0, 5)
    assert RECIPE.teacher == "resnet34.tv_in1k" and c.seed == 1
    with pytest.raises(ConfigError, match="--scale full"):
        cki.setup("medium")
    assert parse_value("true") is True and parse_value("False") is False  # -p imagenet true


def test_the_imagenet_student_is_torchvisions_resnet18_seeded():
    import torchvision

    from kdrepro.chapters import ctkd_imagenet as cki

    a, b = cki.student("resnet18", 10, 0), cki.student("resnet18", 10, 0)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    reference = torchvision.models.resnet18(num_classes=10)
    assert a.model.load_state_dict(reference.state_dict()) is not None  # torchvision's names and shapes
    assert sum(p.numel() for p in a.parameters()) == sum(p.numel() for p in reference.parameters())
