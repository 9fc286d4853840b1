"""TinyViT's chapter parts: the store read at a smaller K, its size on disk, the student model, a
student from the full store training exactly like one from the live teacher, and the equivalence
verdict."""

import sys

import pytest
import torch

from conftest import HELPERS
from kdrepro.checks import check_equivalence
from kdrepro.data import SeededAugment
from kdrepro.engine import Trainer, TrainConfig
from kdrepro.errors import ConfigError
from kdrepro.stores.topk import SparseStoredTeacher, dense_target, record_sparse_logits
from kdrepro.methods import KD
from kdrepro.models import create_model

sys.path.insert(0, str(HELPERS))
from tiny_run import synthetic  # noqa: E402


def _store(tmp_path, k=4, epochs=2):
    data = synthetic(48, 0, channels=3)
    augment = SeededAugment(crop_padding=2, flip=True, seed=1)
    teacher = create_model("resnet8", num_classes=4, seed=1).eval()
    return data, augment, teacher, record_sparse_logits(teacher, data, augment, epochs=epochs, k=k,
                                                         path=tmp_path / "store")


def test_a_smaller_k_reads_the_first_k_of_the_stored_top_k(tmp_path):
    _, _, _, store = _store(tmp_path)
    index = torch.arange(10)
    top = torch.from_numpy(store.values[1, :10].astype("float32"))
    classes = torch.from_numpy(store.indices[1, :10].astype("int64"))
    stored = SparseStoredTeacher(store, k=2)
    stored.set_epoch(1)
    torch.testing.assert_close(stored.lookup(index).logits.exp(), dense_target(top[:, :2], classes[:, :2], 4))
    assert (top[:, 0] >= top[:, 1]).all()  # stored in decreasing order, so the first k are the top k
    with pytest.raises(ConfigError, match="between 1 and"):
        SparseStoredTeacher(store, k=5)


def test_storage_formula_matches_the_files_on_disk(tmp_path):
    _, _, _, store = _store(tmp_path)
    on_disk = sum((store.path / name).stat().st_size for name in ("values.f16", "indices.bin", "written.u8"))
    assert store.bytes_for() == on_disk
    assert store.bytes_for(1) < store.bytes_for(2) < store.bytes_for(4)


def test_a_student_from_the_full_store_trains_like_one_from_the_live_teacher(tmp_path):
    data, augment, teacher, store = _store(tmp_path)  # k = all 4 classes: the dense target up to float16
    config = TrainConfig(epochs=2, batch_size=16, lr=0.05, seed=0)
    histories = []
    for source in (teacher, SparseStoredTeacher(store)):
        student = create_model("resnet8", num_classes=4, seed=3)
        histories.append(Trainer(config, verbose=False).fit(KD(student, source, 1.0, 1.0, 0.0), data,
                                                           augment=augment))
    live, stored = (h[-1]["train_soft"] for h in histories)
    assert stored == pytest.approx(live, rel=1e-2)


def test_tinyvit_5m_has_the_papers_size_and_takes_32_pixel_images():
    model = create_model("tinyvit_5m", num_classes=10, seed=0)
    assert 5.0e6 < sum(p.numel() for p in model.parameters()) < 5.2e6
    assert model(torch.randn(2, 3, 32, 32)).logits.shape == (2, 10)


def test_equivalence_verdicts():
    setting = {"dataset": "cifar10", "comparison": "same student, teacher, data and recipe"}
    kw = dict(scale="medium", setting=setting)
    key = "wu2022/claim/store_matches_live"
    assert check_equivalence(key, [70.0, 70.4], [70.1, 70.5], **kw).verdict == "pass"
    assert check_equivalence(key, [72.0, 72.4], [70.1, 70.5], **kw).verdict == "fail"
    assert check_equivalence(key, [70.5, 70.9], [70.1, 70.5], **kw).verdict == "inconclusive"
    assert check_equivalence(key, [70.0], [70.1], **kw).verdict == "inconclusive"
    assert check_equivalence(key, [70.0, 70.4], [70.1, 70.5], scale="smoke", setting=setting).verdict \
        == "not comparable"


def test_recipe_ks_and_full_scale():
    from kdrepro.recipes.tinyvit import recipe
    from kdrepro.recipes.tinyvit_imagenet import TinyVitImageNetRecipe
    assert recipe("medium").ks(10) == (1, 3, 10) and recipe("medium").ks(100) == (1, 10, 100)
    assert isinstance(recipe("full"), TinyVitImageNetRecipe)  # the paper's ImageNet setting
