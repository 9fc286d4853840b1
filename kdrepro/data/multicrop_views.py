"""DINO's multi-crop views made in the ``DataLoader`` workers, from full-size images (ImageNet), with
torchvision's v2 transforms — the counterpart of :mod:`kdrepro.data.multicrop`, which crops small
images batch-wise on the device.

Per image, as DINO's ``DataAugmentationDINO``: two global views (random resized crop of 40–100 % of
the area to 224 px, bicubic) and ``n_local`` local ones (5–40 % to 96 px); each flipped with
probability 1/2, colour-jittered (brightness 0.4, contrast 0.4, saturation 0.2, hue 0.1) with
probability 0.8 and turned grey with probability 0.2; Gaussian blur (σ in [0.1, 2]) always on the
first global view, with probability 0.1 on the second and 0.5 on the local ones; solarisation
(threshold 128) with probability 0.2 on the second global view; then normalised. DINO blurs with
PIL's radius-σ filter; torchvision's blur takes a kernel size, 23 px here for 224 px views (and
scaled with the view) as the torchvision ports of BYOL's and DINO's augmentations use.
"""

from __future__ import annotations

from dataclasses import dataclass

from .image_folders import IMAGENET_MEAN, IMAGENET_STD
from .multicrop import MultiCrop

IMAGENET_CROPS = MultiCrop(global_size=224, local_size=96, n_local=10)  # the paper's 2 × 224 px + 10 × 96 px


@dataclass(frozen=True)
class MultiCropViews:
    """A transform: PIL image → list of normalised view tensors, the global ones first. ``crops`` is the
    views' geometry, the same :class:`~kdrepro.data.multicrop.MultiCrop` the DINO method is given."""

    crops: MultiCrop = IMAGENET_CROPS
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD

    def __post_init__(self):
        object.__setattr__(self, "_views", self._build())

    def _build(self) -> list:
        import torch
        from torchvision.transforms import InterpolationMode, v2

        def kernel(size: int) -> int:
            return max(3, round(23 * size / 224) // 2 * 2 + 1)  # odd, 23 px at 224 px

        def view(size: int, scale, blur_p: float, solarize_p: float = 0.0):
            steps = [v2.PILToTensor(),
                     v2.RandomResizedCrop(size, scale=scale, interpolation=InterpolationMode.BICUBIC, antialias=True),
                     v2.RandomHorizontalFlip(0.5),
                     v2.RandomApply([v2.ColorJitter(0.4, 0.4, 0.2, 0.1)], p=0.8),
                     v2.RandomGrayscale(0.2),
                     v2.RandomApply([v2.GaussianBlur(kernel(size), sigma=(0.1, 2.0))], p=blur_p)]
            if solarize_p:
                steps.append(v2.RandomSolarize(threshold=128, p=solarize_p))
            steps += [v2.ToDtype(torch.float32, scale=True), v2.Normalize(self.mean, self.std)]
            return v2.Compose(steps)

        c = self.crops
        firsts = [view(c.global_size, c.global_scale, 1.0), view(c.global_size, c.global_scale, 0.1, c.solarize_p)]
        globals_ = [firsts[min(i, 1)] for i in range(c.n_global)]
        return globals_ + [view(c.local_size, c.local_scale, 0.5)] * c.n_local

    def __call__(self, image) -> list:
        return [v(image.convert("RGB")) for v in self._views]
