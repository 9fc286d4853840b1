"""DeiT: the ViT with class and distillation tokens, the paper's losses by hand, the test-time
combination, the token-cosine analysis, and clear refusals of impossible set-ups."""

import math

import pytest
import torch
import torch.nn.functional as F

from kdrepro.errors import ConfigError
from kdrepro.methods.deit import DeiT, hard_distillation, soft_distillation, soft_kl, token_cosine
from kdrepro.models import create_model

SMALL = dict(depth=2, embed_dim=48, num_heads=3, drop_path_rate=0.0)


def _vit(distilled: bool, seed: int = 0, classes: int = 10):
    return create_model("deit_tiny_distilled_p4" if distilled else "vit_tiny_p4", num_classes=classes, seed=seed,
                        **SMALL)


def test_token_counts_heads_and_the_papers_test_time_combination():
    x = torch.randn(4, 3, 32, 32)
    plain, distilled = _vit(False).eval(), _vit(True).eval()
    assert plain.vit.pos_embed.shape[1] == 64 + 1 and distilled.vit.pos_embed.shape[1] == 64 + 2
    out = distilled(x)
    expected = (F.softmax(out.heads["cls"], -1) + F.softmax(out.heads["dist"], -1)) / 2  # softmax outputs added
    torch.testing.assert_close(out.logits.exp(), expected)
    assert set(plain(x).heads) == {"cls"}
    assert len(distilled.prefix_tokens(x)) == SMALL["depth"] + 2


def test_default_size_is_deit_tiny():
    model = create_model("vit_tiny_p4", num_classes=100)
    blocks, width = len(model.vit.blocks), model.vit.embed_dim
    assert (blocks, width, model.vit.blocks[0].attn.num_heads) == (12, 192, 3)


def test_soft_and_hard_distillation_by_hand():
    s, t, y = torch.tensor([[2.0, 0.0, -1.0]]), torch.tensor([[0.0, 3.0, 0.0]]), torch.tensor([0])
    q = F.softmax(s / 3, -1)[0].tolist()
    p = F.softmax(t / 3, -1)[0].tolist()
    kl = sum(pi * math.log(pi / qi) for pi, qi in zip(p, q))
    soft = soft_distillation(s, t, y, temperature=3.0, lam=0.1)
    assert soft["kl"].item() == pytest.approx(0.1 * 9 * kl, rel=1e-5)
    assert soft["ce"].item() == pytest.approx(0.9 * F.cross_entropy(s, y).item(), rel=1e-6)
    assert soft_kl(s, t, 3.0, "elements").item() == pytest.approx(9 * kl / 3, rel=1e-5)  # official code: ÷ classes
    hard = hard_distillation(s, t, y)
    assert hard["teacher_ce"].item() == pytest.approx(0.5 * F.cross_entropy(s, torch.tensor([1])).item(), rel=1e-6)


def test_the_distillation_head_learns_the_teacher_and_the_class_head_the_labels():
    student, teacher = _vit(True), create_model("resnet8", num_classes=10, seed=1)
    method = DeiT(student, teacher, mode="token_hard")
    x, y = torch.randn(6, 3, 32, 32), torch.randint(0, 10, (6,))
    out, losses = method(x, y)
    losses["teacher_ce"].backward()
    assert student.vit.head.weight.grad is None or not student.vit.head.weight.grad.any()
    assert student.vit.head_dist.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in teacher.parameters())


def test_tokens_cosine_is_measured_per_layer():
    cos = token_cosine(_vit(True), torch.randn(8, 3, 32, 32))
    assert len(cos) == SMALL["depth"] + 2 and all(-1 <= c <= 1 for c in cos)


def test_impossible_set_ups_are_refused_with_what_to_do():
    teacher = create_model("resnet8", num_classes=10)
    with pytest.raises(ConfigError, match="distillation token"):
        DeiT(_vit(False), teacher, mode="token_hard")
    with pytest.raises(ConfigError, match="class token"):
        DeiT(_vit(True), teacher, mode="soft")
    with pytest.raises(ConfigError, match="without a teacher"):
        DeiT(_vit(True), teacher, mode="two_class_tokens")
    with pytest.raises(ConfigError, match="valid"):
        DeiT(_vit(True), teacher, mode="medium")
    wrong = DeiT(_vit(True, classes=10), create_model("resnet8", num_classes=100), mode="token_hard")
    with pytest.raises(ConfigError, match="teacher predicts 100 classes"):
        wrong(torch.randn(2, 3, 32, 32), torch.tensor([0, 1]))
    with pytest.raises(ConfigError, match="two prefix tokens"):
        token_cosine(_vit(False), torch.randn(2, 3, 32, 32))
