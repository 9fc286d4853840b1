"""Teacher logits recorded per epoch on a run's augmented batches: the same student as a live
teacher gives, and refused for any other run."""

from __future__ import annotations

import pytest
import torch

from kdrepro.bench.suite import synthetic_split
from kdrepro.data import Augment
from kdrepro.engine import TrainConfig, Trainer
from kdrepro.stores import record_teacher_logits
from kdrepro.errors import ConfigError
from kdrepro.methods import KD, StoredTeacher
from kdrepro.models import create_model

CONFIG = TrainConfig(epochs=2, batch_size=16, lr=0.05, momentum=0.9, weight_decay=5e-4, schedule="constant",
                     max_steps_per_epoch=3)
AUGMENT = Augment(crop_padding=4, flip=True)


def _teacher():
    return create_model("resnet14", num_classes=100, seed=0)


def _fit(teacher, split, config=CONFIG, augment=AUGMENT):
    student = create_model("resnet8", num_classes=100, seed=1)
    Trainer(config, verbose=False, progress=False).fit(KD(student, teacher), split, augment=augment)
    return student


def test_a_student_taught_from_recorded_logits_is_the_live_taught_student():
    split = synthetic_split(64)
    live = _fit(_teacher(), split)
    store = record_teacher_logits(_teacher(), split, CONFIG, AUGMENT, device="cpu")
    assert store.per_epoch and store.epochs == 2
    assert not torch.equal(store.logits[0], store.logits[1])  # each epoch its own augmented views
    stored = _fit(store, split)
    for (name, a), b in zip(live.state_dict().items(), stored.state_dict().values()):
        assert torch.allclose(a.float(), b.float(), atol=1e-5), name


def test_recorded_logits_are_refused_for_other_batches():
    split = synthetic_split(64)
    store = record_teacher_logits(_teacher(), split, CONFIG, AUGMENT, device="cpu")
    with pytest.raises(ConfigError, match="recorded for other batches"):
        _fit(store, split, config=CONFIG.replace(seed=1))
    with pytest.raises(ConfigError, match="recorded for other batches"):
        _fit(store, split, augment=Augment(crop_padding=4))
    with pytest.raises(ConfigError, match="cover 2 epochs, the run trains 3"):
        _fit(store, split, config=CONFIG.replace(epochs=3))


def test_unaugmented_logits_still_refuse_augmentation():
    split = synthetic_split(32)
    plain = StoredTeacher(torch.zeros(32, 100))
    with pytest.raises(ConfigError, match="un-augmented"):
        _fit(plain, split)
    with pytest.raises(ValueError, match="loader_key"):
        StoredTeacher(torch.zeros(2, 32, 100))


def test_per_epoch_logits_stay_on_the_host_and_move_one_epoch_at_a_time():
    from kdrepro.methods import StoredTeacher

    logits = torch.randn(3, 10, 4)
    store = StoredTeacher(logits, loader_key="k").to("meta")  # what the engine does, with a stand-in device
    assert store.logits.device.type == "cpu"  # not moved whole
    assert set(store.state_dict()) == {"logits_digest"}  # the fingerprint reads 32 bytes, not E × N × C
    store.set_epoch(1)
    out = store.lookup(torch.tensor([2, 5], device="meta"))
    assert out.logits.device.type == "meta" and store._table[1].shape == (10, 4)
    torch.testing.assert_close(StoredTeacher(logits, loader_key="k").lookup(torch.tensor([2, 5])).logits, logits[0, [2, 5]])
    other = logits.clone()
    other[2, 0, 0] += 1
    assert not torch.equal(StoredTeacher(other, "k").logits_digest, StoredTeacher(logits, "k").logits_digest)
