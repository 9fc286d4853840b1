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


_MASK63 = (1 << 63) - 1


def _mix(x: torch.Tensor) -> torch.Tensor:
    """A splitmix64-style scramble of int64 values (wrapping arithmetic, logical shifts), kept
    non-negative: equal inputs give equal outputs on any device."""
    def shr(v: torch.Tensor, k: int) -> torch.Tensor:  # logical shift right on int64
        return (v >> k) & ((1 << (64 - k)) - 1)
    x = x + 0x1E3779B97F4A7C15  # the golden-ratio increment, folded into int64's range
    x = (x ^ shr(x, 30)) * -0x40A7B892E31B1A47  # 0xBF58476D1CE4E5B9 as a signed 64-bit constant
    x = (x ^ shr(x, 27)) * -0x6B2FB644ECCEEE15  # 0x94D049BB133111EB as a signed 64-bit constant
    return (x ^ shr(x, 31)) & _MASK63


def sample_seeds(seed: int, epoch: int, index: torch.Tensor) -> torch.Tensor:
    """One seed per sample for one epoch: a function of (seed, epoch, sample index) only, so a
    sample's view is the same whatever batch, order or process it lands in."""
    base = mix_base(seed, epoch)
    return _mix(index.to(torch.int64) ^ base)


def mix_base(seed: int, epoch: int) -> int:
    """The per-epoch base of :func:`sample_seeds` (a plain int, the same on every device)."""
    value = torch.tensor([seed * 1_000_003 + epoch], dtype=torch.int64)
    return int(_mix(value).item())


@dataclass(frozen=True)
class SeededAugment:
    """:class:`Augment`'s crop and flip with each sample's randomness drawn from its own seed
    (TinyViT's replayable augmentation): a teacher pass and a student pass that share ``seed``
    see the same view of sample *i* in epoch *e*, in any batch order."""

    crop_padding: int = 0
    flip: bool = False
    seed: int = 0
    per_sample = True  # the loader passes sample seeds instead of a batch generator

    def seeds(self, epoch: int, index: torch.Tensor) -> torch.Tensor:
        return sample_seeds(self.seed, epoch, index)

    def apply(self, x: torch.Tensor, seeds: torch.Tensor) -> torch.Tensor:
        """The views of ``x`` (N×C×H×W) for the per-sample ``seeds`` (int64, N)."""
        seeds = seeds.to(x.device)
        n, _, h, w = x.shape
        if self.crop_padding > 0:
            span, p = 2 * self.crop_padding + 1, self.crop_padding
            top, left = seeds % span, (seeds // span) % span
            padded = F.pad(x, (p, p, p, p))
            rows = top[:, None] + torch.arange(h, device=x.device)
            cols = left[:, None] + torch.arange(w, device=x.device)
            batch = torch.arange(n, device=x.device)[:, None, None]
            x = padded[batch, :, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2).contiguous()
        if self.flip:
            flip = ((seeds >> 20) & 1).bool()
            x = torch.where(flip[:, None, None, None], x.flip(3), x)
        return x

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        raise TypeError("a SeededAugment needs each sample's seed: call apply(x, seeds(epoch, index))")
