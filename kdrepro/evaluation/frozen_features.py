"""Evaluating frozen features, as self-supervised papers do (DINO, Section 4.1 and Appendix):
a weighted k-nearest-neighbour vote (Wu et al. 2018; k = 20, temperature 0.07) and a linear
classifier trained on top of them.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from ..data.streaming import StreamSplit
from ..engine import Split
from ..engine.evaluate import split_logits
from ..models import ModelOutput


@torch.no_grad()
def extract_features(backbone: nn.Module, split: Split | StreamSplit, batch_size: int = 500) -> Tensor:
    """ℓ2-normalised features (the backbone's ``logits``) of every image of ``split`` (tensors, or
    streamed through its evaluation transform), computed on the backbone's device, returned on the CPU."""
    return F.normalize(split_logits(backbone, split, batch_size=batch_size), dim=-1)


def split_labels(split: Split) -> Tensor:
    return split.labels if split.indices is None else split.labels[split.indices]


@torch.no_grad()
def knn_predict(train_features: Tensor, train_labels: Tensor, test_features: Tensor, num_classes: int,
                k: int = 20, temperature: float = 0.07, chunk: int = 1000) -> Tensor:
    """Each test sample's class: its ``k`` most cosine-similar training samples vote with weight
    exp(similarity / temperature). Features must be ℓ2-normalised; the vote runs on the training
    features' device, and the predictions are returned there."""
    k = min(k, len(train_labels))
    train_labels = train_labels.to(train_features.device)
    out = []
    for start in range(0, len(test_features), chunk):
        sim = test_features[start:start + chunk].to(train_features.device) @ train_features.T
        top, idx = sim.topk(k, dim=1)
        votes = torch.zeros(len(top), num_classes, dtype=top.dtype, device=top.device)
        votes.scatter_add_(1, train_labels[idx], torch.exp(top / temperature))
        out.append(votes.argmax(1))
    return torch.cat(out)


def knn_accuracy(backbone: nn.Module, train: Split | StreamSplit, test: Split | StreamSplit, num_classes: int,
                 k: int = 20, temperature: float = 0.07, chunk: int = 1000) -> float:
    """Weighted k-NN test accuracy (%) of ``backbone``'s frozen features, the training split as memory;
    the vote runs on the backbone's device (the whole of ImageNet's training features fit on a GPU),
    ``chunk`` test images at a time."""
    memory = extract_features(backbone, train).to(next(backbone.parameters()).device)
    pred = knn_predict(memory, split_labels(train), extract_features(backbone, test), num_classes, k, temperature,
                       chunk)
    return 100.0 * float((pred.cpu() == split_labels(test)).float().mean())


class LinearOnFrozen(nn.Module):
    """DINO's linear evaluation (``eval_linear.py``): a linear layer (weights N(0, 0.01), zero bias) on a
    frozen ViT's class tokens of its last ``blocks`` blocks. Only the layer trains — through the
    ordinary ``Trainer`` with a cross-entropy, on streamed, augmented images — and the backbone
    stays in evaluation mode (no drop path) whatever mode the module is put in."""

    def __init__(self, backbone: nn.Module, num_classes: int, blocks: int = 4):
        super().__init__()
        self.backbone, self.blocks = backbone, blocks
        for p in backbone.parameters():
            p.requires_grad_(False)
        width = backbone.vit.embed_dim * blocks
        self.linear = nn.Linear(width, num_classes)
        nn.init.normal_(self.linear.weight, std=0.01)
        nn.init.zeros_(self.linear.bias)
        self.backbone.eval()

    def train(self, mode: bool = True) -> "LinearOnFrozen":
        super().train(mode)
        self.backbone.eval()
        return self

    def forward(self, x: Tensor) -> ModelOutput:
        with torch.no_grad():
            features = self.backbone.last_class_tokens(x, self.blocks)
        return ModelOutput(self.linear(features.float()))


def linear_probe_accuracy(train_features: Tensor, train_labels: Tensor, test_features: Tensor, test_labels: Tensor,
                          num_classes: int, epochs: int = 100, lr: float = 0.1, weight_decay: float = 1e-4,
                          seed: int = 0) -> float:
    """Test accuracy (%) of a linear classifier trained on frozen features (full-batch AdamW on
    the cross-entropy; the features are standardised with the training set's statistics)."""
    mu, sd = train_features.mean(0), train_features.std(0).clamp_min(1e-6)
    xtr, xte = (train_features - mu) / sd, (test_features - mu) / sd
    gen = torch.Generator().manual_seed(seed)
    layer = nn.Linear(xtr.shape[1], num_classes)
    with torch.no_grad():
        layer.weight.copy_(torch.randn(layer.weight.shape, generator=gen) * 0.01)
        layer.bias.zero_()
    opt = torch.optim.AdamW(layer.parameters(), lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    for _ in range(epochs):
        opt.zero_grad()
        F.cross_entropy(layer(xtr), train_labels).backward()
        opt.step()
        sched.step()
    with torch.no_grad():
        return 100.0 * float((layer(xte).argmax(1) == test_labels).float().mean())


__all__ = ["extract_features", "knn_predict", "knn_accuracy", "linear_probe_accuracy", "split_labels",
           "LinearOnFrozen"]
