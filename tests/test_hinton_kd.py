"""Hinton et al.'s soft-target loss: hand-computed values, gradients, and the T² argument."""

import math

import pytest
import torch

from kdrepro.methods import KD, kd_loss, soft_target_loss
from kdrepro.models import create_model


def test_soft_target_loss_by_hand():
    # teacher p = (3/4, 1/4) at T = 1; student q = (1/2, 1/2)
    v = torch.tensor([[math.log(3.0), 0.0]])
    z = torch.zeros(1, 2)
    kl = 0.75 * math.log(0.75 / 0.5) + 0.25 * math.log(0.25 / 0.5)
    assert soft_target_loss(z, v, 1.0).item() == pytest.approx(kl, rel=1e-6)
    # the same p at T = 2 needs logits doubled; the loss is then scaled by T² = 4
    assert soft_target_loss(z, 2 * v, 2.0).item() == pytest.approx(4 * kl, rel=1e-6)


def test_loss_is_zero_at_a_perfect_match_and_averaged_over_the_batch():
    z = torch.randn(5, 10)
    assert soft_target_loss(z, z.clone(), 4.0).item() == pytest.approx(0.0, abs=1e-6)
    one = soft_target_loss(z[:1], torch.zeros(1, 10), 3.0)
    two = soft_target_loss(torch.cat([z[:1], z[:1]]), torch.zeros(2, 10), 3.0)
    assert one.item() == pytest.approx(two.item(), rel=1e-6)  # batchmean, not a sum


def test_gradient_is_T_times_q_minus_p_over_batch():
    # Eq. 2: dC/dz = (q - p) / T for the cross-entropy; with the T² factor, T (q - p) / N
    torch.manual_seed(0)
    z, v, T = torch.randn(4, 6, requires_grad=True), torch.randn(4, 6), 5.0
    soft_target_loss(z, v, T).backward()
    q, p = torch.softmax(z.detach() / T, 1), torch.softmax(v / T, 1)
    assert torch.allclose(z.grad, T * (q - p) / 4, atol=1e-6)


def test_T_squared_keeps_the_soft_gradient_scale():
    """The paper's reason for the T² factor: without it the gradient falls like 1/T²."""
    g = torch.Generator().manual_seed(0)
    z0, v = torch.randn(64, 10, generator=g), torch.randn(64, 10, generator=g)
    norms = {}
    for T in (4.0, 8.0, 16.0, 32.0):
        z = z0.clone().requires_grad_(True)
        soft_target_loss(z, v, T).backward()
        norms[T] = z.grad.norm().item()
    assert 0.8 < norms[32.0] / norms[8.0] < 1.25  # with T²: about constant
    assert norms[32.0] / 32**2 < norms[8.0] / 8**2 / 10  # without it: 16× smaller


def test_kd_loss_parts_and_weights():
    z, v, y = torch.randn(3, 5), torch.randn(3, 5), torch.tensor([0, 1, 2])
    parts = kd_loss(z, v, y, temperature=4.0, soft_weight=0.9, hard_weight=0.1)
    assert set(parts) == {"soft", "hard"}
    assert parts["soft"].item() == pytest.approx(0.9 * soft_target_loss(z, v, 4.0).item(), rel=1e-6)
    assert parts["hard"].item() == pytest.approx(0.1 * torch.nn.functional.cross_entropy(z, y).item(), rel=1e-6)


def test_kd_distiller_uses_the_teacher_and_trains_only_the_student():
    teacher = create_model("mlp", hidden=(16,), in_features=64, num_classes=4, seed=0)
    student = create_model("mlp", hidden=(8,), in_features=64, num_classes=4, seed=1)
    kd = KD(student, teacher, temperature=2.0)
    x, y = torch.randn(6, 1, 8, 8), torch.randint(0, 4, (6,))
    out, losses = kd(x, y)
    expected = kd_loss(student(x).logits, teacher(x).logits, y, 2.0)
    assert losses["soft"].item() == pytest.approx(expected["soft"].item(), rel=1e-5)
    assert {n.split(".")[0] for n, _ in kd.named_parameters()} == {"student"}
