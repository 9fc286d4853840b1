"""The CUDA path, run only where there is a GPU: `KDREPRO_TEST_GPU=1 .venv/bin/python -m pytest -m gpu tests`.

Each test executes a branch that the CPU suite cannot reach: the Trainer on the GPU in its default
precision, the teacher pass and the stores on the device, the k-NN vote, the non-finite check and the
machine record. Every Trainer here uses the default precision, as Accelerate keeps one per process.
"""

import sys

import pytest
import torch

from conftest import HELPERS
from kdrepro.data import Augment, BatchLoader, SeededAugment
from kdrepro.engine import Trainer, TrainConfig
from kdrepro.engine.accel import auto_precision
from kdrepro.errors import NonFiniteLossError
from kdrepro.methods import KD, CrossEntropy, StoredTeacher
from kdrepro.models import create_model
from kdrepro.stores import SparseStoredTeacher, record_sparse_logits, record_teacher_logits

sys.path.insert(0, str(HELPERS))
from tiny_run import synthetic  # noqa: E402

pytestmark = pytest.mark.gpu
CONFIG = TrainConfig(epochs=2, batch_size=32)


def _cifar(n=64):
    return synthetic(n, 0, channels=3)


def test_a_short_run_trains_on_the_gpu_in_the_default_precision(tmp_path):
    trainer = Trainer(CONFIG, tmp_path, verbose=False)
    assert trainer.context == {"device": "cuda", "mixed_precision": auto_precision(True), "processes": 1}
    model = create_model("mlp", hidden=(16,), in_features=64, num_classes=4, seed=0)
    history = trainer.fit(CrossEntropy(model), synthetic(256, 0), synthetic(64, 1))
    assert len(history) == 2 and history[-1]["train_loss"] == history[-1]["train_loss"]  # finite
    assert next(model.parameters()).is_cuda
    again = Trainer(CONFIG, tmp_path, verbose=False).fit(
        CrossEntropy(create_model("mlp", hidden=(16,), in_features=64, num_classes=4, seed=0)), synthetic(256, 0))
    assert again == history  # the finished run is reloaded on the GPU


def test_a_non_finite_loss_on_the_gpu_is_caught_at_its_step(tmp_path):
    from test_engine import _NaNAtStep3

    model = create_model("mlp", hidden=(8,), in_features=64, num_classes=4, seed=0)
    with pytest.raises(NonFiniteLossError, match="epoch 1, step 3"):
        Trainer(TrainConfig(epochs=1, batch_size=32), tmp_path, verbose=False).fit(_NaNAtStep3(model), synthetic(256, 0))


def test_recorded_logits_default_to_the_gpu_and_train_a_student_there():
    split = _cifar()
    augment = Augment(crop_padding=2, flip=True)
    store = record_teacher_logits(create_model("resnet8", num_classes=4, seed=0), split, CONFIG, augment)
    assert store.logits.device.type == "cpu"  # kept on the host, moved one epoch at a time
    student = create_model("resnet8", num_classes=4, seed=1)
    Trainer(CONFIG, verbose=False).fit(KD(student, store), split, augment=augment)  # the batches' key matches
    assert store._table[1].is_cuda


def test_the_sparse_store_records_on_the_gpu_and_builds_targets_there(tmp_path):
    split = _cifar()
    augment = SeededAugment(crop_padding=2, flip=True, seed=1)
    teacher = create_model("resnet8", num_classes=4, seed=0)
    store = record_sparse_logits(teacher, split, augment, epochs=1, k=2, path=tmp_path / "store", batch_size=16)
    assert next(teacher.parameters()).is_cuda  # the pass ran on the accelerator's device
    index = torch.arange(8)
    on_gpu = SparseStoredTeacher(store).lookup(index.cuda()).logits
    assert on_gpu.is_cuda
    torch.testing.assert_close(on_gpu.cpu(), SparseStoredTeacher(store).lookup(index).logits)


def test_un_augmented_stored_logits_are_looked_up_on_the_gpu():
    store = StoredTeacher(torch.randn(16, 4)).cuda()
    assert store.lookup(torch.arange(4, device="cuda")).logits.is_cuda


def test_the_loader_draws_its_batches_on_the_gpu():
    split = _cifar()
    loader = BatchLoader(split.images, split.labels, 16, augment=Augment(crop_padding=2, flip=True),
                         mean=split.mean, std=split.std, device="cuda", seed=0)
    batch = next(iter(loader))
    assert batch.x.is_cuda and batch.index.is_cuda


def test_knn_votes_on_the_gpu():
    from kdrepro.evaluation.frozen_features import knn_predict

    f = torch.nn.functional.normalize(torch.randn(40, 8, device="cuda"), dim=-1)
    labels = torch.randint(0, 3, (40,))
    assert knn_predict(f, labels, f[:5], 3, k=3).is_cuda


def test_dino_stays_float32_where_it_sharpens_under_gpu_autocast():
    from test_dino import _tiny_dino

    m = _tiny_dino().cuda()
    x = torch.randn(2, 3, 8, 8, device="cuda")
    with torch.autocast("cuda", dtype=torch.bfloat16):
        views = m.views(x)
        head = m.student.head(torch.randn(2, 12, device="cuda").bfloat16())
    assert all(v.dtype == torch.float32 for v in views) and head.dtype == torch.float32


def test_the_machine_record_names_the_gpu_used():
    from kdrepro.provenance import machine

    m = machine()
    assert m["gpu"] and m["gpus"] == 1 and m["summary"].startswith("1× ")


def test_the_compiled_step_replayed_as_cuda_graphs_trains_as_the_eager_step_does(tmp_path, monkeypatch):
    def run(graphs: bool, folder):
        monkeypatch.setenv("KDREPRO_CUDA_GRAPHS", "1" if graphs else "0")
        model = create_model("resnet8", num_classes=4, seed=0)
        history = Trainer(TrainConfig(epochs=2, batch_size=16, mixed_precision="no"), folder, verbose=False).fit(
            CrossEntropy(model), _cifar(64), augment=Augment(crop_padding=2, flip=True))
        return history, model

    eager, _ = run(False, tmp_path / "eager")
    graphs, model = run(True, tmp_path / "graphs")
    assert next(model.parameters()).is_cuda
    for a, b in zip(eager, graphs):  # the same steps in float32: equal up to the compiled kernels' rounding
        assert b["train_loss"] == pytest.approx(a["train_loss"], rel=1e-3)
