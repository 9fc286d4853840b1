"""A dataset split resident in memory: the tensor counterpart of a streamed
:class:`~kdrepro.data.streaming.StreamSplit`."""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor


@dataclass
class Split:
    """A dataset split as tensors: uint8 images N×C×H×W, int64 labels, and its normalisation."""

    images: Tensor
    labels: Tensor
    mean: tuple[float, ...]
    std: tuple[float, ...]
    indices: Tensor | None = None  # a subset (e.g. a transfer set, or a smoke-scale slice)

    @property
    def size(self) -> int:
        """The number of samples in the split (its subset's, when it has one)."""
        return len(self.labels) if self.indices is None else len(self.indices)
