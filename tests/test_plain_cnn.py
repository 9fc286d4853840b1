"""TAKD's plain CNNs: the layer tables of the authors' code, counted independently of ours."""

from __future__ import annotations

import pytest
import torch

from kdrepro.models import create_model

# The authors' tables as layer strings (C = 3×3 conv + BN + ReLU, M = 2×2 max-pool, F = linear).
TABLES = {
    10: {2: "C16 M C16 M F10", 4: "C16 C16 M C32 C32 M F10", 6: "C16 C16 M C32 C32 M C64 C64 M F10",
         8: "C16 C16 M C32 C32 M C64 C64 M C128 C128 M F64 F10",
         10: "C32 C32 M C64 C64 M C128 C128 M C256 C256 C256 C256 M F128 F10"},
    100: {2: "C32 M C32 M F100", 4: "C32 C32 M C64 C64 M F100", 6: "C32 C32 M C64 C64 M C128 C128 F100",
          8: "C32 C32 M C64 C64 M C128 C128 M C256 C256 M F64 F100",
          10: "C32 C32 M C64 C64 M C128 C128 M C256 C256 C256 C256 M F512 F100"},
}


def count(table: str) -> tuple[int, int]:
    """Parameters and convolutions of a layer string, for 3×32×32 inputs."""
    params, channels, size, width, convs = 0, 3, 32, None, 0
    for layer in table.split():
        n = int(layer[1:]) if layer != "M" else 0
        if layer.startswith("C"):
            params += 9 * channels * n + n + 2 * n  # conv weights and bias, BatchNorm scale and shift
            channels, convs = n, convs + 1
        elif layer == "M":
            size //= 2
        else:
            width = width or channels * size * size
            params += width * n + n
            width = n
    return params, convs


@pytest.mark.parametrize("classes", [10, 100])
@pytest.mark.parametrize("depth", [2, 4, 6, 8, 10])
def test_plain_cnns_match_the_authors_tables(classes, depth):
    model = create_model(f"plain{depth}", num_classes=classes)
    params, convs = count(TABLES[classes][depth])
    assert convs == depth
    assert sum(p.numel() for p in model.parameters()) == params
    out = model(torch.zeros(2, 3, 32, 32))
    assert out.logits.shape == (2, classes) and out.features[-1].dim() == 2
