"""Generated stand-ins of datasets this machine does not have (CIFAR-100), in the prepared format:
random images of the real shape and label range, recorded as a stand-in in meta.json."""

from pathlib import Path

import torch

from kdrepro.data.formats import RawData
from kdrepro.data.prepare import _write
from kdrepro.data.registry import get_spec


def make_standin(name: str, root: Path, n_train: int = 1000, n_test: int = 500, seed: int = 0) -> Path:
    spec = get_spec(name)
    g = torch.Generator().manual_seed(seed)
    splits = {}
    for split, n in (("train", n_train), ("test", n_test)):
        labels = torch.arange(n) % spec.num_classes  # every class present
        images = torch.randint(0, 256, (n, *spec.shape), generator=g, dtype=torch.uint8)
        splits[split] = (images, labels[torch.randperm(n, generator=g)])
    folder = Path(root) / name
    _write(folder, spec, RawData(splits, {"generated": "stand-in"}), source="generated stand-in (tests)")
    return folder


WNIDS = ("n01440764", "n01443537", "n01484850", "n01491361")


def make_image_folder(root: Path, per_class=(2, 1), wnids=WNIDS[:3], flat_val: bool = False, seed: int = 0) -> Path:
    """ImageNet's layout — train/<wnid>/*.JPEG, val/<wnid>/*.JPEG — with small random JPEGs of varied
    sizes (a flat val/ folder, as the ILSVRC download has it, with ``flat_val``)."""
    from PIL import Image

    g = torch.Generator().manual_seed(seed)
    for split, n in zip(("train", "val"), per_class):
        for c, wnid in enumerate(wnids):
            folder = root / split if (flat_val and split == "val") else root / split / wnid
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                pixels = torch.randint(0, 256, (40 + 8 * c + i % 5, 48 + 3 * (i % 4), 3), generator=g,
                                       dtype=torch.uint8).numpy()
                Image.fromarray(pixels).save(folder / f"{wnid}_{i}.JPEG", quality=90)
    return root


def make_imagenet_standin(data_root: Path, per_class=(12, 4), wnids=WNIDS) -> Path:
    """A generated ImageNet-layout folder registered as ``imagenet`` in ``data_root`` (its own counts)."""
    from kdrepro.data.image_folders import register

    source = make_image_folder(Path(data_root).parent / "imagenet-standin", per_class, wnids)
    sizes = {"train": per_class[0] * len(wnids), "val": per_class[1] * len(wnids)}
    return register("imagenet", source, root=data_root, expected=sizes, expected_classes=len(wnids))


def save_random_timm_checkpoint(name: str, num_classes: int, path: Path) -> Path:
    """A state dict of timm's ``name`` with random weights (a stand-in for a pretrained teacher's file)."""
    import timm

    torch.save(timm.create_model(name, pretrained=False, num_classes=num_classes).state_dict(), path)
    return path


def save_random_clip_checkpoint(path: Path, num_classes: int = 21841, *, width: int = 1024, layers: int = 24,
                                patch_size: int = 14, image_size: int = 224, embed_dim: int = 768,
                                seed: int = 0) -> Path:
    """A random CLIP-ViT teacher in TinyViT's official layout (``visual.*`` + ``head.*``, under
    ``'model'``), in float16 to keep files small; the defaults are CLIP-ViT-L/14-22k's sizes."""
    g = torch.Generator().manual_seed(seed)

    def rand(*shape, std=None):  # fan-in scaled, so that outputs depend visibly on the image
        return (torch.randn(*shape, generator=g) * (std or shape[-1] ** -0.5)).half()

    def norm(name):
        return {f"{name}.weight": 1 + rand(width, std=0.1), f"{name}.bias": rand(width, std=0.1)}

    v = {"conv1.weight": rand(width, 3, patch_size, patch_size, std=(3 * patch_size ** 2) ** -0.5),
         "class_embedding": rand(width), "positional_embedding": rand((image_size // patch_size) ** 2 + 1, width),
         **norm("ln_pre")}
    for i in range(layers):
        b = f"transformer.resblocks.{i}."
        v |= {b + "attn.in_proj_weight": rand(3 * width, width), b + "attn.in_proj_bias": rand(3 * width, std=0.1),
              b + "attn.out_proj.weight": rand(width, width), b + "attn.out_proj.bias": rand(width, std=0.1),
              b + "mlp.c_fc.weight": rand(4 * width, width), b + "mlp.c_fc.bias": rand(4 * width, std=0.1),
              b + "mlp.c_proj.weight": rand(width, 4 * width), b + "mlp.c_proj.bias": rand(width, std=0.1),
              **{b + k: t for k, t in norm("ln_1").items()}, **{b + k: t for k, t in norm("ln_2").items()}}
    v |= {**norm("ln_post"), "proj": rand(width, embed_dim, std=width ** -0.5)}
    state = {f"visual.{k}": t for k, t in v.items()}
    state |= {"head.weight": rand(num_classes, embed_dim), "head.bias": rand(num_classes, std=0.1)}
    torch.save({"model": state}, path)
    return Path(path)


def make_imagenet22k_standin(data_root: Path, wnids=WNIDS[:3] + ("n00004475", "n00007846"), per_class: int = 2,
                             seed: int = 0) -> Path:
    """ImageNet-22k in TinyViT's layout — one zip of ``{name}.jpeg`` files per class and the list of
    image names — with small random JPEGs, registered as ``imagenet21k`` in ``data_root`` (its own
    class count). By default it shares three classes with :func:`make_imagenet_standin` and lacks its
    fourth, as a 22k set may lack a 1k class."""
    import io
    import zipfile

    from PIL import Image

    from kdrepro.data.imagenet22k import NAMES_FILE, register

    source = Path(data_root).parent / "imagenet22k-standin"
    source.mkdir(parents=True, exist_ok=True)
    g = torch.Generator().manual_seed(seed)
    names = []
    for c, wnid in enumerate(sorted(wnids)):
        with zipfile.ZipFile(source / f"{wnid}.zip", "w") as archive:
            for i in range(per_class):
                pixels = torch.randint(0, 256, (36 + 6 * c, 44 + 4 * i, 3), generator=g, dtype=torch.uint8).numpy()
                buffer = io.BytesIO()
                Image.fromarray(pixels).save(buffer, format="JPEG", quality=90)
                archive.writestr(f"{wnid}_{i}.jpeg", buffer.getvalue())
                names.append(f"{wnid}_{i}")
    (source / NAMES_FILE).write_text("\n".join(names) + "\n")
    return register(source, data_root, expected_classes=len(wnids))
