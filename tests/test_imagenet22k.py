"""ImageNet-22k as TinyViT reads it: one zip per class and the list of image names; checked, recorded,
read from the archives in the workers."""

import pickle
import re
import zipfile

import pytest
import torch

from kdrepro.data.imagenet22k import NAMES_FILE, ZipPerClass, register
from kdrepro.errors import DatasetError

CLASSES = ("n00007846", "n00004475", "n01440764")  # listed out of order: indices follow the sorted names


def _standin(root, per_class=3, fname="{}.jpeg", drop_zip=None):
    from PIL import Image

    root.mkdir(parents=True, exist_ok=True)
    names = []
    for c, cls in enumerate(CLASSES):
        if cls == drop_zip:
            names += [f"{cls}_{i}" for i in range(per_class)]
            continue
        with zipfile.ZipFile(root / f"{cls}.zip", "w") as archive:
            for i in range(per_class):
                name = f"{cls}_{i}"
                names.append(name)
                image = Image.new("RGB", (20 + i, 16), (40 * c, 10 * i, 200))
                with archive.open(fname.format(name), "w") as f:
                    image.save(f, format="JPEG")
    (root / NAMES_FILE).write_text("\n".join(names) + "\n")
    return root


def _size(image) -> torch.Tensor:
    return torch.tensor(image.size)


def test_a_complete_copy_is_recorded_and_read_out_of_its_archives(tmp_path):
    source = _standin(tmp_path / "in22k")
    folder = register(source, tmp_path / "data", expected_classes=3)
    assert (folder / "meta.json").is_file()
    data = ZipPerClass(_size, root=tmp_path / "data", open_archives=2)
    assert len(data) == 9 and data.classes == sorted(CLASSES)
    size, target = data[[data.sample(i) for i in range(len(data))].index(("n00007846_1", 1))]
    assert target == 1 and size.tolist() == [21, 16]  # n00007846 is the second class once sorted
    assert [data[i][1] for i in range(9)] == [0, 0, 0, 1, 1, 1, 2, 2, 2] and len(data._archives) == 2
    copy = pickle.loads(pickle.dumps(data))  # as a spawned DataLoader worker receives it: no open archives
    assert copy._archives == {} and copy[4][1] == 1


@pytest.mark.parametrize("damage, message", [
    ("no list", "download TinyViT's list"),
    ("missing zip", "lacks the archives of 1 classes (e.g. n01440764.zip)"),
    ("other format", "give the archives' file-name format"),
    ("classes", "names 3 classes, ImageNet-22k has 21,841"),
])
def test_a_partial_or_malformed_copy_is_refused_with_what_to_do(tmp_path, damage, message):
    source = _standin(tmp_path / "in22k", drop_zip="n01440764" if damage == "missing zip" else None,
                      fname="imagenet22k/{}.JPEG" if damage == "other format" else "{}.jpeg")
    if damage == "no list":
        (source / NAMES_FILE).unlink()
    with pytest.raises(DatasetError, match=re.escape(message)):
        register(source, tmp_path / "data", **({} if damage == "classes" else {"expected_classes": 3}))
    if damage == "other format":  # the format the archives use is accepted once given
        register(source, tmp_path / "data", fname_format="imagenet22k/{}.JPEG", expected_classes=3)


def test_an_unregistered_copy_says_how_to_register_it(tmp_path):
    with pytest.raises(DatasetError, match="kdrepro data prepare imagenet21k --from PATH"):
        ZipPerClass(root=tmp_path)


def test_the_cli_checks_a_copy_against_the_real_class_count(tmp_path, monkeypatch, capsys):
    from kdrepro.cli import main

    monkeypatch.setenv("KDREPRO_DATA", str(tmp_path / "data"))
    assert main(["data", "prepare", "imagenet21k", "--from", str(_standin(tmp_path / "in22k"))]) == 2
    assert "names 3 classes, ImageNet-22k has 21,841" in capsys.readouterr().err
    assert main(["data", "prepare", "imagenet21k"]) == 2  # nothing registered: how to register it
    assert "kdrepro data prepare imagenet21k --from PATH" in capsys.readouterr().err
