"""One teacher forward for several students: the same students as training each alone, for less."""

from __future__ import annotations

import pytest
import torch

from kdrepro.bench.suite import synthetic_split
from kdrepro.engine import TrainConfig, Trainer
from kdrepro.methods import KD, SharedTeacher
from kdrepro.methods.attention_transfer import AttentionTransfer
from kdrepro.models import create_model

CONFIG = TrainConfig(epochs=1, batch_size=16, lr=0.05, momentum=0.9, weight_decay=5e-4, schedule="constant",
                     max_steps_per_epoch=3)


def _teacher():
    return create_model("resnet14", num_classes=100, seed=0)


def _student(seed):
    return create_model("resnet8", num_classes=100, seed=seed)


class CountingTeacher(torch.nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net, self.calls = net, 0

    def forward(self, x):
        self.calls += 1
        return self.net(x)


def _train(distiller):
    Trainer(CONFIG, verbose=False, progress=False).fit(distiller, synthetic_split(64))


def test_shared_students_end_exactly_as_students_trained_alone():
    alone = [_student(1), _student(2)]
    for s in alone:
        _train(KD(s, _teacher()))
    shared = [_student(1), _student(2)]
    teacher = CountingTeacher(_teacher())
    _train(SharedTeacher(teacher, {"kd1": KD(shared[0], teacher), "kd2": KD(shared[1], teacher)}))
    assert teacher.calls == CONFIG.max_steps_per_epoch  # one teacher forward per batch, not one per student
    for a, b in zip(alone, shared):
        for (name, p), q in zip(a.state_dict().items(), b.state_dict().values()):
            assert torch.allclose(p.float(), q.float(), atol=1e-6), name


def test_members_may_use_features_and_report_their_own_losses():
    teacher = _teacher()
    shared = SharedTeacher(teacher, {"kd": KD(_student(1), teacher),
                                     "at": AttentionTransfer(_student(2), teacher)})
    split = synthetic_split(16)
    out, losses = shared((split.images.float() / 255), split.labels)
    assert out.logits.shape == (16, 100)
    assert {k.split("/")[0] for k in losses} == {"kd", "at"} and all(torch.isfinite(v) for v in losses.values())


def test_a_member_is_not_called_alone_and_needs_a_teacher():
    teacher = _teacher()
    member = KD(_student(1), teacher)
    SharedTeacher(teacher, {"kd": member})
    with pytest.raises(RuntimeError, match="call the SharedTeacher"):
        member(torch.zeros(2, 3, 32, 32), torch.zeros(2, dtype=torch.long))
    with pytest.raises(ValueError):
        SharedTeacher(teacher, {})
