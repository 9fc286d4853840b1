"""VGG with BatchNorm for CIFAR (Simonyan & Zisserman 2015), as used by RepDistiller/CRD.

Five groups of 3×3 convolutions (each conv–BN–ReLU, convolutions with a bias) at widths
64, 128, 256, 512, 512, separated by 2×2 max-pools, then global average pooling and a single
linear layer (no fully connected stack). ``vgg8``/``vgg11``/``vgg13``/``vgg16``/``vgg19``
have 1-1-1-1-1, 1-1-2-2-2, 2-2-2-2-2, 2-2-3-3-3 and 2-2-4-4-4 convolutions a group (RepDistiller's
``vgg*_bn``). As in the reference, the max-pool between the fourth and fifth groups is used
only for 64×64 inputs, so on CIFAR the last two groups both run at 4×4.

Features: the first group is the stem; the other four are the stages, each before (preact)
and after its closing ReLU; then the pooled vector.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from .output import ModelOutput
from .registry import register_model

# convolutions in each of the five groups
_DEPTHS = {
    "vgg8": (1, 1, 1, 1, 1),
    "vgg11": (1, 1, 2, 2, 2),
    "vgg13": (2, 2, 2, 2, 2),
    "vgg16": (2, 2, 3, 3, 3),
    "vgg19": (2, 2, 4, 4, 4),
}
_WIDTHS = (64, 128, 256, 512, 512)


def conv_group(cin: int, cout: int, n: int) -> nn.Sequential:
    """``n`` × (conv3×3 with bias, BN, ReLU), without the final ReLU (the caller applies it)."""
    layers: list[nn.Module] = []
    for i in range(n):
        layers += [nn.Conv2d(cin if i == 0 else cout, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers[:-1])


class VGG(nn.Module):
    def __init__(self, depths: tuple[int, ...], num_classes: int = 100):
        super().__init__()
        cins = (3,) + _WIDTHS[:-1]
        groups = [conv_group(cin, cout, n) for cin, cout, n in zip(cins, _WIDTHS, depths)]
        self.stem = groups[0]
        self.stages = nn.ModuleList(groups[1:])
        self.fc = nn.Linear(_WIDTHS[-1], num_classes)
        self.num_classes = num_classes
        init_weights(self)

    def forward_features(self, x: Tensor) -> tuple[Tensor, list[Tensor], list[Tensor]]:
        pool_last = x.shape[2] == 64  # the reference's rule for the fourth max-pool
        x = F.relu(self.stem(x))
        feats, preacts = [x], [x]
        for i, stage in enumerate(self.stages):
            if i < len(self.stages) - 1 or pool_last:
                x = F.max_pool2d(x, 2)
            pre = stage(x)
            x = F.relu(pre)
            feats.append(x)
            preacts.append(pre)
        pooled = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
        return pooled, feats + [pooled], preacts + [pooled]

    def forward_head(self, pooled: Tensor) -> Tensor:
        return self.fc(pooled)

    def forward(self, x: Tensor) -> ModelOutput:
        pooled, feats, preacts = self.forward_features(x)
        return ModelOutput(self.forward_head(pooled), feats, preacts)


def init_weights(model: nn.Module) -> None:
    """The reference's: He (fan-out) convolutions with zero bias, BN 1/0, linear N(0, 0.01²) with zero bias."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0, 0.01)
            nn.init.zeros_(m.bias)


def _make(name: str):
    depths = _DEPTHS[name]

    def factory(num_classes: int = 100) -> VGG:
        return VGG(depths, num_classes)
    factory.__name__ = factory.__qualname__ = name
    factory.__doc__ = f"VGG-{name[3:]} with BatchNorm, {'-'.join(map(str, depths))} convolutions a group."
    return factory


for _name in _DEPTHS:
    globals()[_name] = register_model(_make(_name))
