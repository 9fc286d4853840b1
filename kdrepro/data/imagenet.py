"""ImageNet as the papers read it: a registered image folder (:mod:`kdrepro.data.image_folders`)
streamed through ``DataLoader`` workers (:mod:`kdrepro.data.streaming`), with timm's transforms.

Training images: timm's ``create_transform`` — a random resized crop, flip, RandAugment and random
erasing, bicubic resizing; evaluation images: resize to ``size / crop_pct`` (256 for 224), centre
crop. Both normalise with ImageNet's mean and standard deviation.

One repair: at its top magnitudes timm's RandAugment (``inc1``) asks to posterize to 0 bits, which
the Pillow the papers used turned into a black image and recent Pillow (13 here) refuses with an
error that stops the worker, and the run, at a random step. :func:`posterize` keeps the old meaning.
"""

from __future__ import annotations

from dataclasses import dataclass

from .image_folders import IMAGENET_MEAN, IMAGENET_STD, folder_spec, image_folder, read_folder_meta
from .streaming import StreamSplit


def posterize(img, bits_to_keep, **_):
    """timm's posterize op, with 0 bits kept giving a black image (as Pillow before 13 did)."""
    from PIL import Image, ImageOps

    if bits_to_keep >= 8:
        return img
    if bits_to_keep <= 0:
        return Image.new(img.mode, img.size)
    return ImageOps.posterize(img, bits_to_keep)


def _use_our_posterize() -> None:
    from timm.data import auto_augment

    for name in ("Posterize", "PosterizeIncreasing", "PosterizeOriginal"):
        auto_augment.NAME_TO_OP[name] = posterize


@dataclass(frozen=True)
class TrainTransform:
    """timm's training transform for ``size``-pixel crops (the DeiT defaults)."""

    size: int = 224
    rand_augment: str | None = "rand-m9-mstd0.5-inc1"
    re_prob: float = 0.25
    interpolation: str = "bicubic"

    def build(self, mean, std):
        from timm.data import create_transform

        _use_our_posterize()  # the ops built below hold it (by reference: it pickles into spawned workers)
        return create_transform(self.size, is_training=True, auto_augment=self.rand_augment,
                                interpolation=self.interpolation, re_prob=self.re_prob, re_mode="pixel", re_count=1,
                                mean=mean, std=std)


def eval_transform(size: int = 224, crop_pct: float = 0.875, mean=IMAGENET_MEAN, std=IMAGENET_STD,
                   interpolation: str = "bicubic"):
    """Resize the shorter side to ``size / crop_pct`` (bicubic: DeiT's and DINO's; bilinear: torchvision's
    ImageNet example), centre crop ``size``, normalise."""
    from timm.data import create_transform

    return create_transform(size, is_training=False, interpolation=interpolation, crop_pct=crop_pct, mean=mean,
                            std=std)


def crop_flip_transform(size: int = 224, mean=IMAGENET_MEAN, std=IMAGENET_STD):
    """The ResNet-era training transform (torchvision's ImageNet example; DINO's linear evaluation,
    ``eval_linear.py``; CTKD's ImageNet run): a random resized crop (bilinear, 8–100 % of the area) and
    a flip, normalised."""
    import torch
    from torchvision.transforms import v2

    return v2.Compose([v2.PILToTensor(), v2.RandomResizedCrop(size, antialias=True), v2.RandomHorizontalFlip(),
                       v2.ToDtype(torch.float32, scale=True), v2.Normalize(mean, std)])


def num_classes(name: str = "imagenet") -> int:
    """The classes of the registered folder (1,000 for ImageNet-1k; a stand-in's own in tests)."""
    return len(read_folder_meta(name)["classes"])


def streamed(name: str, split: str, transform, workers: int = 8, **kw) -> StreamSplit:
    """The registered folder's ``split`` through ``transform``, read by ``workers`` DataLoader workers."""
    return StreamSplit.from_image_folder(image_folder(name, split, transform), workers=workers, **kw)


def folder_splits(name: str, train: TrainTransform, *, eval_size: int = 224, crop_pct: float = 0.875,
                  workers: int = 8, repeats: int = 1) -> tuple[StreamSplit, StreamSplit]:
    """The registered folder's train split (augmented by ``train``, with ``repeats``-fold repeated
    augmentation) and its val split (evaluation transform), as streamed splits."""
    spec = folder_spec(name)
    return (streamed(name, "train", train.build(spec.mean, spec.std), workers, repeats=repeats),
            streamed(name, "val", eval_transform(eval_size, crop_pct, spec.mean, spec.std), workers))
