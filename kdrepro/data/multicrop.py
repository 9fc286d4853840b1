"""DINO's multi-crop views (Caron et al. 2021, Section 3.1 and Appendix), batch-wise on the
images' own device.

Every image gives ``n_global`` large views and ``n_local`` small ones, each a random resized crop
(a random area fraction in ``*_scale`` and aspect ratio in [3/4, 4/3], resampled bilinearly to the
view's size) with a random horizontal flip, then BYOL's colour augmentation: colour jitter
(brightness 0.4, contrast 0.4, saturation 0.2, hue 0.1) with probability 0.8, grayscale with
probability 0.2, and solarisation on the second global view with probability 0.2. Gaussian blur,
which the paper also applies, is left out: on 32×32 images it wipes out most of the content
(the CIFAR set-ups of the self-supervised benchmarks leave it out too).

Randomness comes from the global generator of the images' device, which the engine seeds per
(seed, epoch, process), so a resumed run draws the same views.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor


def resized_crop_and_flip(x: Tensor, size: int, scale: tuple[float, float], ratio=(3 / 4, 4 / 3)) -> Tensor:
    """A random crop per image (area fraction in ``scale``, aspect ratio in ``ratio``), resized to
    ``size`` × ``size`` and mirrored with probability 1/2: one affine grid per image."""
    n, dev = x.shape[0], x.device
    area = torch.empty(n, device=dev).uniform_(*scale)
    log_r = torch.empty(n, device=dev).uniform_(math.log(ratio[0]), math.log(ratio[1]))
    aspect = torch.exp(log_r)
    w = torch.sqrt(area * aspect).clamp(max=1.0)  # width and height as fractions of the image
    h = torch.sqrt(area / aspect).clamp(max=1.0)
    cx = (torch.rand(n, device=dev) * (1 - w) + w / 2) * 2 - 1  # centre in [-1, 1] coordinates
    cy = (torch.rand(n, device=dev) * (1 - h) + h / 2) * 2 - 1
    flip = torch.where(torch.rand(n, device=dev) < 0.5, -1.0, 1.0)
    theta = torch.zeros(n, 2, 3, device=dev)
    theta[:, 0, 0], theta[:, 0, 2] = w * flip, cx
    theta[:, 1, 1], theta[:, 1, 2] = h, cy
    grid = F.affine_grid(theta, [n, x.shape[1], size, size], align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def _gray(x: Tensor) -> Tensor:
    return (0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3]).expand_as(x)


_YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
_YIQ_ON: dict[torch.device, tuple[Tensor, Tensor]] = {}  # (RGB → YIQ, YIQ → RGB) per device, made once


def _yiq(device: torch.device) -> tuple[Tensor, Tensor]:
    if device not in _YIQ_ON:
        _YIQ_ON[device] = (_YIQ.to(device), torch.linalg.inv(_YIQ).to(device))
    return _YIQ_ON[device]


def _rotate_hue(x: Tensor, turns: Tensor) -> Tensor:
    """Rotate the hue by ``turns`` of a full turn: a rotation of the chroma plane of YIQ."""
    yiq, rgb = _yiq(x.device)
    c, s = torch.cos(2 * math.pi * turns), torch.sin(2 * math.pi * turns)
    one, zero = torch.ones_like(c), torch.zeros_like(c)
    rot = torch.stack([torch.stack([one, zero, zero], -1), torch.stack([zero, c, -s], -1),
                       torch.stack([zero, s, c], -1)], -2)  # n × 3 × 3
    m = rgb @ rot @ yiq
    return torch.einsum("nij,njhw->nihw", m, x)


def color_jitter(x: Tensor, brightness=0.4, contrast=0.4, saturation=0.2, hue=0.1, p: float = 0.8) -> Tensor:
    """Random brightness, contrast, saturation and hue factors per image, applied with probability ``p``."""
    n, dev = x.shape[0], x.device

    def factor(amount: float) -> Tensor:
        return torch.empty(n, 1, 1, 1, device=dev).uniform_(1 - amount, 1 + amount)

    y = x * factor(brightness)
    mean = _gray(y).mean(dim=(1, 2, 3), keepdim=True)
    y = (y - mean) * factor(contrast) + mean
    g = _gray(y)
    y = (y - g) * factor(saturation) + g
    y = _rotate_hue(y.clamp(0, 1), torch.empty(n, device=dev).uniform_(-hue, hue))
    keep = torch.rand(n, 1, 1, 1, device=dev) < p
    return torch.where(keep, y.clamp(0, 1), x)


def random_grayscale(x: Tensor, p: float = 0.2) -> Tensor:
    keep = torch.rand(x.shape[0], 1, 1, 1, device=x.device) < p
    return torch.where(keep, _gray(x), x)


def random_solarize(x: Tensor, p: float, threshold: float = 0.5) -> Tensor:
    keep = torch.rand(x.shape[0], 1, 1, 1, device=x.device) < p
    return torch.where(keep & (x >= threshold), 1 - x, x)


@dataclass(frozen=True)
class MultiCrop:
    """The views of one batch: ``n_global`` of ``global_size`` px and ``n_local`` of ``local_size`` px."""

    global_size: int = 32
    local_size: int = 16
    n_global: int = 2
    n_local: int = 4
    global_scale: tuple[float, float] = (0.4, 1.0)  # the official defaults
    local_scale: tuple[float, float] = (0.05, 0.4)
    solarize_p: float = 0.2  # on the second global view

    @property
    def n_views(self) -> int:
        return self.n_global + self.n_local

    def __call__(self, x: Tensor) -> list[Tensor]:
        """Views of ``x`` (N × 3 × H × W, values in [0, 1]): the global ones first."""
        views = []
        for i in range(self.n_views):
            is_global = i < self.n_global
            v = resized_crop_and_flip(x, self.global_size if is_global else self.local_size,
                                      self.global_scale if is_global else self.local_scale)
            v = random_grayscale(color_jitter(v))
            if i == 1:
                v = random_solarize(v, self.solarize_p)
            views.append(v)
        return views


__all__ = ["MultiCrop", "resized_crop_and_flip", "color_jitter", "random_grayscale", "random_solarize"]
