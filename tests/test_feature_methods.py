"""FitNets, attention transfer and AB distillation: losses by hand, invariances, gradients, errors."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn as nn

from kdrepro.errors import ConfigError
from kdrepro.methods.ab_distillation import ABInitialization, Connectors, ab_loss, boundary_agreement
from kdrepro.methods.attention_transfer import AttentionTransfer, at_loss, attention_map, paired_groups
from kdrepro.methods.fitnets import ConvRegressor, FitNet, HintPretraining, hint_loss
from kdrepro.models import ModelOutput, create_model


class Stub(nn.Module):
    """A model whose feature groups have the given per-sample shapes (plus a pooled vector)."""

    def __init__(self, shapes):
        super().__init__()
        self.shapes = shapes
        self.scale = nn.Parameter(torch.ones(()))
        self.fc = nn.Linear(4, 10)

    def forward(self, x):
        n = x.shape[0]
        feats = [self.scale * torch.randn(n, *s) for s in self.shapes]
        pooled = torch.randn(n, 4)
        return ModelOutput(self.fc(pooled), [feats[0], *feats, pooled], [feats[0], *feats, pooled])


def _pair(seed=0):
    teacher = create_model("resnet14", num_classes=10, seed=seed)
    student = create_model("resnet8", num_classes=10, seed=seed + 1)
    return teacher, student


# -- FitNets -------------------------------------------------------------------------------

def test_hint_loss_by_hand():
    guided = torch.tensor([1.0, 2.0, 3.0, 4.0]).view(1, 1, 2, 2)
    hint = torch.zeros(1, 1, 2, 2)
    assert hint_loss(guided, hint, "mean").item() == pytest.approx(7.5)  # (1+4+9+16)/4
    assert hint_loss(guided, hint, "paper").item() == pytest.approx(15.0)  # ½ Σ, one sample
    with pytest.raises(ConfigError, match="differ"):
        hint_loss(guided, torch.zeros(1, 2, 2, 2))


@pytest.mark.parametrize("student, teacher", [
    ((16, 32, 32), (32, 16, 16)),  # twice as large: stride-2 conv
    ((16, 16, 16), (32, 32, 32)),  # half as large: transposed conv
    ((16, 10, 10), (8, 8, 8)),  # larger by 2: a valid 3×3 conv
    ((16, 8, 8), (64, 8, 8)),  # same size: 1×1
])
def test_conv_regressor_maps_student_onto_teacher(student, teacher):
    reg = ConvRegressor(student, teacher)
    assert reg(torch.randn(2, *student)).shape == (2, *teacher)


def test_conv_regressor_refuses_an_impossible_pair():
    with pytest.raises(ConfigError, match="smaller than the teacher's hint"):
        ConvRegressor((16, 8, 8), (16, 32, 32))
    with pytest.raises(ConfigError, match="convolutional hint/guided"):
        ConvRegressor((800,), (1200,))


def test_fitnet_gradients_reach_student_and_regressor_never_teacher():
    teacher, student = _pair()
    d = FitNet(student, teacher, weight=100.0)
    x, y = torch.randn(4, 3, 32, 32), torch.randint(0, 10, (4,))
    _, losses = d(x, y)
    sum(losses.values()).backward()
    assert all(p.grad is None for p in teacher.parameters())
    assert all(p.grad is not None for p in d.regressor.parameters())
    assert student.fc.weight.grad is not None
    assert not any(p is q for p in d.parameters() for q in teacher.parameters())


def test_hint_pretraining_trains_only_up_to_the_guided_layer():
    teacher, student = _pair()
    d = HintPretraining(student, teacher, hint_layer=2)
    _, losses = d(torch.randn(4, 3, 32, 32), torch.zeros(4, dtype=torch.long))
    assert set(losses) == {"hint"}
    losses["hint"].backward()
    assert student.stages[0].blocks[0].conv1.weight.grad is not None  # below the guided layer
    assert student.stages[1].blocks[0].conv1.weight.grad is not None  # the guided stage itself
    assert student.stages[2].blocks[0].conv1.weight.grad is None  # above it: nothing to learn yet
    assert student.fc.weight.grad is None
    assert all(p.grad is None for p in teacher.parameters())


def test_fitnet_names_a_missing_layer():
    teacher, student = _pair()
    with pytest.raises(ConfigError, match="hint layer 9 does not exist: the teacher has 5"):
        FitNet(student, teacher, hint_layer=9, guided_layer=2)
    with pytest.raises(ConfigError, match="guided layer 7 does not exist: the student has 5"):
        FitNet(student, teacher, hint_layer=2, guided_layer=7)


# -- Attention transfer --------------------------------------------------------------------

def test_attention_map_by_hand():
    # two channels over two positions: channel 0 = [1, 2], channel 1 = [3, 0]
    a = torch.tensor([[1.0, 2.0], [3.0, 0.0]]).view(1, 2, 1, 2)
    q = attention_map(a, normalize=False)
    assert q.tolist() == [[5.0, 2.0]]  # mean over channels of the squares
    assert attention_map(a).tolist()[0] == pytest.approx([5 / math.sqrt(29), 2 / math.sqrt(29)])


def test_at_loss_by_hand():
    s = torch.tensor([[1.0, 2.0], [3.0, 0.0]]).view(1, 2, 1, 2)  # map ∝ (5, 2)
    t = torch.tensor([[1.0, 0.0], [1.0, 0.0]]).view(1, 2, 1, 2)  # map ∝ (1, 0)
    d = torch.tensor([5 / math.sqrt(29) - 1, 2 / math.sqrt(29)])
    assert at_loss(s, t, distance="code").item() == pytest.approx(d.pow(2).mean().item())
    assert at_loss(s, t, distance="paper").item() == pytest.approx(d.norm().item())
    assert at_loss(s, s).item() == 0


def test_attention_map_ignores_the_scale_of_each_sample():
    f = torch.randn(3, 8, 4, 4)
    scaled = f * torch.tensor([0.01, 7.0, 300.0]).view(3, 1, 1, 1)
    assert torch.allclose(attention_map(f), attention_map(scaled), atol=1e-6)
    assert at_loss(scaled, f).item() == pytest.approx(0.0, abs=1e-10)


def test_at_pools_the_larger_map_and_refuses_unpaired_groups():
    assert at_loss(torch.randn(2, 4, 8, 8), torch.randn(2, 6, 4, 4)).dim() == 0
    with pytest.raises(ConfigError, match="N×C×H×W"):
        at_loss(torch.randn(2, 4), torch.randn(2, 4))
    with pytest.raises(ConfigError, match="3 feature groups and the teacher 4"):
        paired_groups(Stub([(4, 8, 8)] * 3)(torch.zeros(1)).features, Stub([(4, 8, 8)] * 4)(torch.zeros(1)).features)


def test_attention_transfer_gradients_never_reach_the_teacher():
    teacher, student = _pair()
    d = AttentionTransfer(student, teacher, weight=1000.0)
    _, losses = d(torch.randn(4, 3, 32, 32), torch.randint(0, 10, (4,)))
    assert set(losses) == {"ce", "at"} and losses["at"].item() > 0
    sum(losses.values()).backward()
    assert all(p.grad is None for p in teacher.parameters())
    assert student.stages[0].blocks[0].conv1.weight.grad.abs().sum() > 0


# -- AB distillation -----------------------------------------------------------------------

def test_ab_loss_by_hand():
    s = torch.tensor([2.0, -0.5, 0.5, -2.0])
    t = torch.tensor([1.0, 1.0, -1.0, -1.0])  # on, on, off, off
    # 2 ≥ m: free; −0.5 < m with teacher on: (1 + 0.5)²; 0.5 > −m with teacher off: (1 + 0.5)²; −2: free
    assert ab_loss(s, t, margin=1.0).item() == pytest.approx(4.5)


def test_ab_loss_is_zero_beyond_the_margin_on_the_teachers_side():
    t = torch.randn(4, 8, 5, 5)
    s = torch.sign(t) * (1.0 + torch.rand_like(t))  # |s| ≥ margin on the teacher's side
    s[t == 0] = -1.5
    assert ab_loss(s, t, margin=1.0).item() == 0
    assert ab_loss(-s, t, margin=1.0).item() > 0
    assert boundary_agreement([s], [t]) == 1.0 and boundary_agreement([-s], [t]) == 0.0


def test_ab_connectors_identity_when_shapes_agree_conv_otherwise():
    c = Connectors([(16, 8, 8), (32, 4, 4)], [(16, 8, 8), (64, 4, 4)])
    assert isinstance(c.maps[0], nn.Identity) and isinstance(c.maps[1], ConvRegressor)
    out = c([torch.randn(2, 16, 8, 8), torch.randn(2, 32, 4, 4)])
    assert out[1].shape == (2, 64, 4, 4) and out[1].min() < 0  # pre-ReLU targets: no ReLU
    with pytest.raises(ConfigError, match="AB pairs them one to one"):
        Connectors([(16, 8, 8)], [(16, 8, 8), (32, 4, 4)])


def test_ab_initialization_trains_hidden_layers_and_connectors_only():
    teacher = create_model("resnet32x4", num_classes=10, seed=0)  # wider: every connector is a conv
    student = create_model("resnet8", num_classes=10, seed=1)
    d = ABInitialization(student, teacher)
    assert d.weights == [0.25, 0.5, 1.0]  # the deepest group weighs most (the table's code)
    _, losses = d(torch.randn(2, 3, 32, 32), torch.zeros(2, dtype=torch.long))
    assert set(losses) == {"ab"}
    losses["ab"].backward()
    assert all(p.grad is None for p in teacher.parameters())
    assert student.fc.weight.grad is None  # the classifier is trained only in the next stage
    assert all(p.grad is not None for p in d.connectors.parameters())
    assert 0.0 <= d.agreement(torch.randn(2, 3, 32, 32)) <= 1.0
