"""A reference-style KD training loop, written for the benchmark to measure kdrepro against.

It trains the way RepDistiller and mdistiller do: a torchvision ``Dataset`` that turns each
uint8 image into a PIL image and runs ``RandomCrop(32, padding=4)``, ``RandomHorizontalFlip``,
``ToTensor`` and ``Normalize`` in ``DataLoader`` workers, float32 throughout, eager PyTorch,
and a live teacher forward on every step. The loss is KD as in the CRD recipe (0.9 × T²·KL at
T = 4 + 0.1 × CE), SGD with momentum. Only its speed is used; nothing trains with it.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from .timing import StepClock


class PilImages(Dataset):
    """uint8 N×H×W×C images and their labels, served as torchvision-transformed tensors."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, mean, std):
        from torchvision import transforms

        self.images, self.labels = images, labels
        self.transform = transforms.Compose([
            transforms.RandomCrop(32, padding=4), transforms.RandomHorizontalFlip(), transforms.ToTensor(),
            transforms.Normalize(mean, std)])

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        from PIL import Image

        return self.transform(Image.fromarray(self.images[i])), int(self.labels[i])


def reference_kd_steps(student, teacher, images: torch.Tensor, labels: torch.Tensor, mean, std, *,
                       batch_size: int, steps: int, warmup: int, workers: int, device: torch.device,
                       temperature: float = 4.0, precision: str = "no") -> float:
    """Train ``student`` from ``teacher`` for ``warmup + steps`` steps; return images/s over ``steps``.
    ``precision="bf16"`` runs the forwards and the loss under bf16 autocast (to compare like for like
    with kdrepro's bf16 default on a GPU); ``"no"``, the references' own, is float32."""
    if precision not in ("no", "bf16"):
        raise ValueError(f"the reference pipeline runs in float32 ('no') or 'bf16', not {precision!r}")
    data = PilImages(images.permute(0, 2, 3, 1).numpy().astype(np.uint8), labels.numpy(), mean, std)
    loader = DataLoader(data, batch_size=batch_size, shuffle=True, num_workers=workers, drop_last=True,
                        pin_memory=device.type == "cuda", persistent_workers=False)
    student.to(device).train()
    teacher.to(device).eval()
    optimizer = torch.optim.SGD(student.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    clock = StepClock(device, warmup, steps)
    batches = iter(loader)
    for _ in range(warmup + steps):
        x, y = next(batches)
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
            with torch.no_grad():
                t_logits = teacher(x).logits
            s_logits = student(x).logits
            soft = F.kl_div(F.log_softmax(s_logits / temperature, 1), F.softmax(t_logits / temperature, 1),
                            reduction="batchmean") * temperature**2
            loss = 0.9 * soft + 0.1 * F.cross_entropy(s_logits, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        clock.tick()
    return clock.images_per_s(batch_size)
