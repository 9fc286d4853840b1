"""Pretrained timm teachers: from a checkpoint file, refused offline without one, and damaged or
mismatched checkpoints refused in one line."""

import pytest
import timm
import torch

from kdrepro.errors import ConfigError
from kdrepro.models.pretrained import pretrained_teacher


def test_offline_without_a_checkpoint_the_teacher_is_refused_with_both_ways_to_get_it(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ConfigError, match=r"offline .*teacher_checkpoint PATH"):
        pretrained_teacher("regnety_160")
    with pytest.raises(ConfigError, match="unknown timm model"):
        pretrained_teacher("regnety_16gf")


def test_a_checkpoint_gives_the_same_weights_behind_kdrepros_model_interface(tmp_path):
    source = timm.create_model("resnet18", pretrained=False, num_classes=10)
    torch.save({"model": source.state_dict()}, tmp_path / "teacher.pth")  # wrapped, as training scripts save
    teacher = pretrained_teacher("resnet18", tmp_path / "teacher.pth", num_classes=10)
    assert not teacher.training
    x = torch.randn(2, 3, 32, 32)
    out = teacher(x)
    source.eval()
    assert torch.allclose(out.logits, source(x), atol=1e-6) and out.features[0].shape[:2] == (2, 512)


def test_damaged_missing_or_mismatched_checkpoints_are_refused(tmp_path):
    good = tmp_path / "good.pth"
    torch.save(timm.create_model("resnet18", pretrained=False, num_classes=10).state_dict(), good)
    damaged = tmp_path / "damaged.pth"
    damaged.write_bytes(good.read_bytes()[:1000])
    with pytest.raises(ConfigError, match="damaged"):
        pretrained_teacher("resnet18", damaged, num_classes=10)
    with pytest.raises(ConfigError, match="does not exist"):
        pretrained_teacher("resnet18", tmp_path / "nothing.pth", num_classes=10)
    with pytest.raises(ConfigError, match="is not a resnet34 with 10 classes"):
        pretrained_teacher("resnet34", good, num_classes=10)
    torch.save([1, 2, 3], tmp_path / "list.pth")
    with pytest.raises(ConfigError, match="no state dict"):
        pretrained_teacher("resnet18", tmp_path / "list.pth", num_classes=10)


class _Config:  # stands for a training script's config object pickled beside the weights
    epochs = 90


def test_a_training_checkpoint_with_pickled_objects_is_refused_with_how_to_extract_its_weights(tmp_path):
    state = timm.create_model("resnet18", pretrained=False, num_classes=10).state_dict()
    checkpoint = tmp_path / "train.pth"
    torch.save({"model": state, "config": _Config()}, checkpoint)
    with pytest.raises(ConfigError, match="holds Python objects besides its weights") as err:
        pretrained_teacher("resnet18", checkpoint, num_classes=10)
    command = str(err.value).split("python -c ")[1].split(" — and")[0].strip('"')
    exec(command.replace("c.get", "c.get"), {})  # the command the message gives works (the file is trusted here)
    model = pretrained_teacher("resnet18", f"{checkpoint}.weights.pt", num_classes=10)
    assert torch.equal(model.model.fc.weight, state["fc.weight"])


def test_the_extraction_advice_names_a_missing_package_the_objects_need():
    from kdrepro.models.pretrained import _needed_package

    assert _needed_package("Unsupported global: GLOBAL yacs_not_here.config.CfgNode was not an allowed") == \
        " (with the yacs_not_here package installed: pip install yacs_not_here)"
    assert _needed_package("Unsupported global: GLOBAL torch.nn.Linear was not an allowed") == ""  # importable
    assert _needed_package("something else") == ""
