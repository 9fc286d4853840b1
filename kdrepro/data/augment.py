"""Batch-wise augmentation of N x C x H x W tensors (uint8 or float) on their own device.

Every function draws its randomness from the ``torch.Generator`` it is given (on the
tensor's device), one draw per sample, with no per-sample Python loop.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


def random_crop(x: torch.Tensor, padding: int, generator: torch.Generator) -> torch.Tensor:
    """Zero-pad by ``padding`` on every side, then cut a random H x W window per sample."""
    if padding <= 0:
        return x
    n, _, h, w = x.shape
    padded = F.pad(x, (padding, padding, padding, padding))
    top, left = torch.randint(0, 2 * padding + 1, (2, n, 1), generator=generator, device=x.device)
    rows = top + torch.arange(h, device=x.device)  # n x h
    cols = left + torch.arange(w, device=x.device)  # n x w
    batch = torch.arange(n, device=x.device)[:, None, None]
    # Advanced indices separated by a slice put their dims first: n x h x w x c.
    return padded[batch, :, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2).contiguous()


def jitter(x: torch.Tensor, max_shift: int, generator: torch.Generator) -> torch.Tensor:
    """Hinton et al.'s jitter: shift each image by integers in [-max_shift, max_shift] per axis.

    Pixels shifted out are lost and zeros enter; the size is kept. This is exactly
    ``random_crop`` with ``padding=max_shift``.
    """
    return random_crop(x, max_shift, generator)


def horizontal_flip(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Mirror each sample left-right with probability 1/2."""
    flip = torch.rand(x.shape[0], generator=generator, device=x.device) < 0.5
    return torch.where(flip[:, None, None, None], x.flip(3), x)


@dataclass(frozen=True)
class Augment:
    """A fixed pipeline: random crop, then jitter, then horizontal flip (each optional)."""

    crop_padding: int = 0
    flip: bool = False
    jitter: int = 0

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        x = random_crop(x, self.crop_padding, generator)
        x = jitter(x, self.jitter, generator)
        return horizontal_flip(x, generator) if self.flip else x
