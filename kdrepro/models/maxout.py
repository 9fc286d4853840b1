"""Convolutional maxout nets of the FitNets MNIST experiment (Romero et al. 2015, Section 4.2, Table 4).

A maxout unit (Goodfellow et al. 2013) outputs the maximum of ``pieces`` linear responses; in a
convolutional maxout layer each output channel is the maximum over ``pieces`` consecutive filter
maps, followed by max-pooling. Weights are bounded by a max-norm constraint on each filter
(pylearn2's ``max_kernel_norm``) and on each class's softmax weights (``max_col_norm``), applied
after every optimiser step. Initial weights are PyTorch's default (He-uniform), not the authors'
uniform ±0.005 (``init_range=0.005`` restores it): with that, the FitNet's output is 10⁻¹⁰ of its
input's scale and its gradients about 10⁻⁹, and in our runs neither net left chance level in its
first 150 steps.

- ``maxout_mnist_teacher``: three layers of 48-48-24 channels, 2 pieces each, 8×8, 8×8 and 5×5
  kernels (zero-padding 0, 3, 3), max-pooling 4×4/2, 4×4/2 and 2×2/2, dropout 20 % on the input
  and 50 % on each hidden layer, then softmax — 361,066 parameters (the paper: "361K"). It is
  the MNIST convolutional net of the maxout paper (``pylearn2/scripts/papers/maxout/mnist.yaml``)
  with 2 pieces in its last layer instead of 4, which is what gives 361K.
- ``fitnet_mnist``: six layers of 16-16-16-16-12-12 channels, 2 pieces each, kernels 5, 3, 5,
  3, 3, 3 (padding 0, 0, 3, 0, 3, 0), max-pooling after every second layer (4×4/2, 4×4/2,
  2×2/2), then softmax — 30,130 parameters (the paper: "30K"). The architecture is the one in the
  authors' ``yaml/MNIST_fitnet_valid.yaml``, whose last two layers have 4 pieces (36K
  parameters); ``pieces=(2,) * 4 + (4, 4)`` builds that variant.

Pooling rounds the output size *up* (cuda-convnet's rule, which pylearn2's ``C01B`` layers use):
a 21×21 map pooled 4×4 with stride 2 gives 10×10. ``features`` are each layer's output (after
maxout and pooling); the FitNet's 4th layer (index 3, 16×4×4) is guided by the teacher's 2nd
(index 1, 48×4×4).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from .output import ModelOutput
from .registry import register_model

AUTHORS_INIT_RANGE = 0.005  # the authors' irange (see the module docstring)


class MaxoutConv2d(nn.Module):
    """``channels`` maxout units of ``pieces`` filters each, then max-pooling (ceil mode)."""

    def __init__(self, in_channels: int, channels: int, pieces: int, kernel: int, padding: int = 0,
                 pool: int = 1, stride: int = 1, max_kernel_norm: float | None = None, init_range: float | None = None):
        super().__init__()
        self.channels, self.pieces = channels, pieces
        self.conv = nn.Conv2d(in_channels, channels * pieces, kernel, padding=padding)
        self.pool, self.stride, self.max_kernel_norm = pool, stride, max_kernel_norm
        if init_range is not None:  # else PyTorch's default
            nn.init.uniform_(self.conv.weight, -init_range, init_range)
            nn.init.zeros_(self.conv.bias)

    def forward(self, x: Tensor) -> Tensor:
        z = self.conv(x)
        n, _, h, w = z.shape
        z = z.view(n, self.channels, self.pieces, h, w).amax(2)  # channel c = max of filters c·k … c·k + k − 1
        if self.pool > 1:
            z = F.max_pool2d(z, self.pool, self.stride, ceil_mode=True)
        return z

    @torch.no_grad()
    def apply_constraints(self) -> None:
        """Rescale every filter whose norm (over input channels × rows × columns) exceeds the bound."""
        if self.max_kernel_norm is not None:
            w = self.conv.weight
            norms = w.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1, 1)
            w.mul_(torch.clamp(self.max_kernel_norm / norms, max=1.0))


class MaxoutConvNet(nn.Module):
    """Maxout convolutional layers, then a linear softmax layer on the flattened map."""

    def __init__(self, layers: list[MaxoutConv2d], image_shape=(1, 28, 28), num_classes: int = 10,
                 input_dropout: float = 0.0, hidden_dropout: float = 0.0, max_col_norm: float | None = None,
                 init_range: float | None = None):
        super().__init__()
        self.layers = nn.ModuleList(layers)
        self.input_dropout, self.hidden_dropout = nn.Dropout(input_dropout), nn.Dropout(hidden_dropout)
        with torch.no_grad():
            flat = self.forward_features(torch.zeros(1, *image_shape))[0].numel()
        self.head = nn.Linear(flat, num_classes)
        if init_range is not None:
            nn.init.uniform_(self.head.weight, -init_range, init_range)
            nn.init.zeros_(self.head.bias)
        self.max_col_norm, self.num_classes = max_col_norm, num_classes

    def forward_features(self, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        h, feats = self.input_dropout(x), []
        for layer in self.layers:
            h = layer(h)
            feats.append(h)
            h = self.hidden_dropout(h)
        return h.flatten(1), feats

    def forward_head(self, h: Tensor) -> Tensor:
        return self.head(h)

    def forward(self, x: Tensor) -> ModelOutput:
        h, feats = self.forward_features(x)
        return ModelOutput(self.forward_head(h), feats, feats)  # maxout has no separate pre-activation

    @torch.no_grad()
    def apply_constraints(self) -> None:
        for layer in self.layers:
            layer.apply_constraints()
        if self.max_col_norm is not None:  # each class's incoming weights
            w = self.head.weight
            w.mul_(torch.clamp(self.max_col_norm / w.norm(dim=1, keepdim=True).clamp_min(1e-12), max=1.0))


def _stack(spec, pieces, norms, init_range, in_channels: int = 1) -> list[MaxoutConv2d]:
    layers = []
    for (channels, kernel, padding, pool, stride), k, norm in zip(spec, pieces, norms):
        layers.append(MaxoutConv2d(in_channels, channels, k, kernel, padding, pool, stride, norm, init_range))
        in_channels = channels
    return layers


@register_model
def maxout_mnist_teacher(num_classes: int = 10, pieces: tuple[int, ...] = (2, 2, 2),
                         init_range: float | None = None) -> MaxoutConvNet:
    """FitNets' MNIST teacher: 48-48-24 maxout convolutions (361K parameters), dropout 0.2/0.5."""
    spec = [(48, 8, 0, 4, 2), (48, 8, 3, 4, 2), (24, 5, 3, 2, 2)]  # channels, kernel, padding, pool, stride
    layers = _stack(spec, pieces, (0.9, 1.9365, 1.9365), init_range)
    return MaxoutConvNet(layers, num_classes=num_classes, input_dropout=0.2, hidden_dropout=0.5, max_col_norm=1.9365,
                         init_range=init_range)


@register_model
def fitnet_mnist(num_classes: int = 10, pieces: tuple[int, ...] = (2,) * 6,
                 init_range: float | None = None) -> MaxoutConvNet:
    """FitNets' MNIST student: six 16-16-16-16-12-12 maxout convolutions (30K parameters)."""
    spec = [(16, 5, 0, 1, 1), (16, 3, 0, 4, 2), (16, 5, 3, 1, 1), (16, 3, 0, 4, 2), (12, 3, 3, 1, 1),
            (12, 3, 0, 2, 2)]
    layers = _stack(spec, pieces, (0.9, 0.9) + (1.9365,) * 4, init_range)
    return MaxoutConvNet(layers, num_classes=num_classes, max_col_norm=1.9365, init_range=init_range)
