"""Rehearsal: every chapter's full recipe, end to end, capped to a few steps, on generated stand-ins of
the data this machine lacks (CIFAR-100, ImageNet's folder layout, a pretrained teacher's weights); never
comparable, never published."""

import json
import os
import sys

import pytest

from kdrepro.chapters.registry import available
from kdrepro.chapters.runner import run_chapter, run_dir
from kdrepro.engine import TrainConfig
from kdrepro.engine.rehearsal import rehearsal_config, rehearsal_subset, rehearsal_train
from kdrepro.errors import ConfigError
from kdrepro.paths import data_root, runs_root

from conftest import HELPERS

sys.path.insert(0, str(HELPERS))
from standins import (make_imagenet22k_standin, make_imagenet_standin, make_standin,  # noqa: E402
                      save_random_clip_checkpoint, save_random_timm_checkpoint)

# One seed (and the benchmark and DML one pair each) keeps CI's time down; every other part of the full recipe is
# rehearsed.
SMALLER = {"fitnets": {"seeds": [0]}, "at": {"seeds": [0]}, "ab": {"seeds": [0]}, "ctkd": {"seeds": [0]},
           "takd": {"seeds": [0], "assistants": ["plain4"], "grid": [[0.5, 2.0], [0.9, 5.0]]},  # not 30 (λ, T)
           "dml": {"seeds": [0], "pairs": [["mobilenet", "resnet32"]], "peer_counts": [2]},  # two of Table 2's nets
           "cifar_bench": {"seeds": [0], "pairs": [["resnet56", "resnet20"]]},
           # DeiT: the class-token and the distillation-token paths (soft differs from hard in its loss only)
           "deit": {"modes": ["none", "hard", "token_hard"], "workers": 1},
           "dino": {"workers": 1}}


def _imagenet(data_root, tmp_path) -> dict:
    """An ImageNet-layout stand-in (4 classes) and a random RegNetY-16GF state dict as the teacher's file."""
    make_imagenet_standin(data_root)
    return {"teacher_checkpoint": str(save_random_timm_checkpoint("regnety_160", 4, tmp_path / "regnety_160.pt"))}


def _imagenet_only(data_root, tmp_path) -> dict:
    make_imagenet_standin(data_root)
    return {}


def _imagenet_resnet34(data_root, tmp_path) -> dict:
    """CTKD's ImageNet row too: the stand-in and a random ResNet34 state dict as torchvision's file."""
    make_imagenet_standin(data_root)
    checkpoint = save_random_timm_checkpoint("resnet34", 4, tmp_path / "resnet34.pt")
    return {"imagenet": True, "teacher_checkpoint": str(checkpoint), "workers": 1}


def _imagenet_22k_and_clip(data_root, tmp_path) -> dict:
    """TinyViT's: ImageNet-1k and -22k stand-ins (the 22k lacking one 1k class) and a random CLIP-ViT-L/14
    of the stand-in's classes in the official teacher file's layout."""
    make_imagenet_standin(data_root)
    classes = json.loads((make_imagenet22k_standin(data_root) / "meta.json").read_text())["classes"]
    return {"teacher_checkpoint": str(save_random_clip_checkpoint(tmp_path / "clip.pth", classes)), "workers": 0}


EXTRA_DATA = {"deit": _imagenet, "dino": _imagenet_only, "ctkd": _imagenet_resnet34, "tinyvit": _imagenet_22k_and_clip}
IMAGENET_CHECK = {"dino": "caron2021/imagenet/knn/vit_s16_100ep", "ctkd": "li2023/imagenet/ctkd/resnet34-resnet18",
                  "tinyvit": "wu2022/imagenet/in21k/tinyvit_5m"}


def test_a_rehearsal_caps_every_recipe_and_held_out_split_and_moves_its_runs(monkeypatch, tmp_path):
    full = TrainConfig(epochs=240, batch_size=64, schedule="step", milestones=[150, 180, 210], warmup_epochs=5,
                       patience=100)
    assert rehearsal_config(full) == full  # not rehearsing: unchanged
    monkeypatch.setenv("KDREPRO_RUNS", str(tmp_path))
    before = runs_root()
    monkeypatch.setenv("KDREPRO_REHEARSE", "1")
    capped = rehearsal_config(full)
    assert (capped.epochs, capped.max_steps_per_epoch, capped.patience, capped.warmup_epochs) == (2, 2, None, 2)
    assert capped.batch_size == 8 and capped.eval_batch_size == 256
    assert capped.milestones == full.milestones and capped.lr == full.lr  # the recipe otherwise as it is
    assert runs_root() == before / "rehearsal" and run_dir("hinton", "full") == before / "rehearsal" / "hinton" / "full"
    import torch

    from kdrepro.engine import Split

    split = Split(torch.zeros(1000, 1, 2, 2, dtype=torch.uint8), torch.zeros(1000, dtype=torch.long), (0.0,), (1.0,))
    assert rehearsal_subset(split).size == 256 and rehearsal_subset(split, 10).indices.tolist() == list(range(10))
    assert rehearsal_train(split).size == 256


def test_only_a_full_run_can_be_rehearsed_and_a_rehearsal_is_never_published(tmp_path):
    from kdrepro.book import publish

    with pytest.raises(ConfigError, match="use it with --scale full"):
        run_chapter("hinton", "medium", rehearse=True)
    folder = tmp_path / "runs" / "hinton" / "full"
    folder.mkdir(parents=True)
    (folder / "01_hinton_kd.ipynb").write_text("{}")
    (folder / "results.json").write_text(json.dumps({"chapter": "hinton", "scale": "full", "rehearsal": True}))
    with pytest.raises(ConfigError, match="is a rehearsal"):
        publish("hinton", "full", runs=tmp_path / "runs", book=tmp_path / "book")


@pytest.fixture
def standin_data(tmp_path, monkeypatch):
    """A data root with MNIST (this machine's, linked) and a generated CIFAR-100 stand-in."""
    root = tmp_path / "data"
    root.mkdir()
    mnist = data_root() / "mnist"
    if not (mnist / "meta.json").is_file():
        pytest.skip("MNIST is not prepared (make test prepares it)")
    (root / "mnist").symlink_to(mnist)
    make_standin("cifar100", root, n_train=6000, n_test=300)  # TAKD holds out 5,000 training images
    monkeypatch.setenv("KDREPRO_DATA", str(root))
    monkeypatch.setenv("KDREPRO_RUNS", str(tmp_path / "runs"))
    return root


@pytest.mark.parametrize("chapter", sorted(c.name for c in available()))
def test_every_full_recipe_runs_end_to_end_as_a_rehearsal(chapter, standin_data):
    extra = EXTRA_DATA[chapter](standin_data, standin_data.parent) if chapter in EXTRA_DATA else {}
    notebook = run_chapter(chapter, "full", {**SMALLER.get(chapter, {}), **extra}, rehearse=True, log_output=False)
    assert "KDREPRO_REHEARSE" not in os.environ  # restored for whatever runs next
    results = json.loads((notebook.parent / "results.json").read_text())
    assert notebook.parent == standin_data.parent / "runs" / "rehearsal" / chapter / "full"
    assert results["rehearsal"] is True and results["scale"] == "full" and results["checks"]
    assert {c["verdict"] for c in results["checks"]} == {"not comparable"}
    assert any(c["reason"].startswith("rehearsal") for c in results["checks"])  # others: pairs not trained
    if chapter == "tinyvit":  # the pretraining scored ImageNet-1k through the class map at every epoch
        pretrain = notebook.parent.parent / "imagenet" / "full" / "tinyvit_5m" / "pretrain" / "seed0"
        history = json.loads((pretrain / "history.json").read_text())
        assert len(history) == 2 and all(0 <= e["probe_imagenet1k_top1"] <= 100 for e in history)
    if chapter in IMAGENET_CHECK:  # the ImageNet path ran and was checked (as a rehearsal)
        found = [c for c in results["checks"] if c["key"] == IMAGENET_CHECK[chapter]]
        assert found and found[0]["reason"].startswith("rehearsal"), found
