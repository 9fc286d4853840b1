"""ImageNet as a registered folder, on generated stand-ins of its layout (the real one is not here)."""

import json
import subprocess
import sys

import pytest

from kdrepro.data.image_folders import image_folder, read_folder_meta, register
from kdrepro.errors import DatasetError

from conftest import HELPERS

sys.path.insert(0, str(HELPERS))
from standins import WNIDS, make_image_folder  # noqa: E402

SMALL = {"train": 6, "val": 3}


def _standin(root, per_class=(2, 1), wnids=WNIDS[:3], flat_val=False):
    return make_image_folder(root, per_class, wnids, flat_val)


def test_a_complete_folder_is_recorded_with_its_classes_in_imagefolder_order(tmp_path):
    src = _standin(tmp_path / "ilsvrc")
    folder = register("imagenet", src, root=tmp_path / "data", expected=SMALL, expected_classes=3)
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["path"] == str(src.resolve()) and meta["sizes"] == SMALL and meta["classes"] == list(WNIDS[:3])
    assert not any(folder.glob("*.pt"))  # nothing copied
    from timm.data import create_transform

    train = image_folder("imagenet", "train", create_transform(224, is_training=True, auto_augment="rand-m9-mstd0.5-inc1",
                                                                re_prob=0.25, interpolation="bicubic"),
                         root=tmp_path / "data")
    val = image_folder("imagenet", "val", create_transform(224, interpolation="bicubic", crop_pct=0.875),
                       root=tmp_path / "data")
    x, y = train[5]
    assert x.shape == (3, 224, 224) and y == 2 and len(train) == 6
    assert val[0][0].shape == (3, 224, 224) and [c for _, c in val.samples] == [0, 1, 2]


@pytest.mark.parametrize("damage, message", [
    ("flat_val", "no class folders: sort the validation images into val/<wnid>/"),
    ("no_val", "does not exist"),
    ("odd_name", "not named by WordNet id"),
    ("val_class_missing", "different classes"),
    ("empty_class", "holds no images"),
    ("one_image_missing", "holds 5 images, imagenet's train split has 6: a partial copy"),
])
def test_a_partial_or_malformed_folder_is_refused_with_what_to_do(tmp_path, damage, message):
    src = _standin(tmp_path / "ilsvrc", flat_val=damage == "flat_val")
    if damage == "no_val":
        for f in (src / "val").rglob("*.JPEG"):
            f.unlink()
        for d in sorted((src / "val").iterdir(), reverse=True):
            d.rmdir()
        (src / "val").rmdir()
    elif damage == "odd_name":
        (src / "train" / WNIDS[0]).rename(src / "train" / "tench")
    elif damage == "val_class_missing":
        for f in (src / "val" / WNIDS[2]).iterdir():
            f.unlink()
        (src / "val" / WNIDS[2]).rmdir()
    elif damage == "empty_class":
        for f in (src / "val" / WNIDS[1]).iterdir():
            f.unlink()
    elif damage == "one_image_missing":
        next((src / "train" / WNIDS[0]).iterdir()).unlink()
    with pytest.raises(DatasetError, match=message):
        register("imagenet", src, root=tmp_path / "data", expected=SMALL, expected_classes=3)
    assert not (tmp_path / "data" / "imagenet" / "meta.json").exists()


def test_the_real_counts_refuse_a_stand_in_and_an_unregistered_or_moved_folder_says_how(tmp_path):
    src = _standin(tmp_path / "ilsvrc")
    with pytest.raises(DatasetError, match="has 3 classes, imagenet has 1000"):
        register("imagenet", src, root=tmp_path / "data")
    with pytest.raises(DatasetError, match="kdrepro data prepare imagenet --from PATH"):
        read_folder_meta("imagenet", root=tmp_path / "data")
    register("imagenet", src, root=tmp_path / "data", expected=SMALL, expected_classes=3)
    src.rename(tmp_path / "moved")
    with pytest.raises(DatasetError, match="which is gone"):
        image_folder("imagenet", "train", root=tmp_path / "data")


def test_the_cli_registers_a_folder_and_refuses_one_that_is_not_imagenet(tmp_path):
    src = _standin(tmp_path / "ilsvrc")
    env = {"KDREPRO_DATA": str(tmp_path / "data")}
    run = subprocess.run([sys.executable, "-m", "kdrepro", "data", "prepare", "imagenet", "--from", str(src)],
                         capture_output=True, text=True, env={**__import__("os").environ, **env})
    assert run.returncode != 0 and "has 3 classes, imagenet has 1000" in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1  # one line, no traceback
    run = subprocess.run([sys.executable, "-m", "kdrepro", "data", "prepare", "imagenet"],
                         capture_output=True, text=True, env={**__import__("os").environ, **env})
    assert run.returncode != 0 and "is not registered" in run.stderr and "image-net.org" in run.stderr
