"""Is the loader or the model the bottleneck? Images per second of the streamed ImageNet data path
— JPEG decoding and DeiT's augmentation (timm's transform) in ``DataLoader`` workers — beside those
of DeiT-Ti's training step at 224 px, without and with the RegNetY-16GF teacher, measured in one run.

The images are generated JPEGs of ImageNet's typical size (500 × 375) in its folder layout, so the
benchmark needs no dataset. A loader ÷ step ratio above 1 means the workers keep up with training.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from ..data.image_folders import IMAGENET_MEAN, IMAGENET_STD
from ..data.imagenet import TrainTransform
from ..data.streaming import StreamLoader, StreamSplit
from ..engine import Split, TrainConfig, Trainer
from ..methods import CrossEntropy
from ..methods.deit import DeiT
from ..models import create_model
from .timing import StepClock

CLASSES = 10
PREFETCH = 4  # batches each StreamLoader worker prepares ahead (its DataLoader's prefetch_factor)


@dataclass(frozen=True)
class DataPathSize:
    batch_size: int  # the training steps'
    warmup: int
    steps: int
    workers: int
    teacher: str | None = "regnety_160"  # None: the step without a teacher only
    loader_batch: int = 16

    def loader_batches(self) -> tuple[int, int]:
        """(warm-up, timed) batches of the loader: the warm-up drains what the workers prepared while
        starting, so the timed batches measure how fast they decode, not their head start."""
        ahead = PREFETCH * self.workers
        return ahead + 1, max(ahead, 4)

    @property
    def images(self) -> int:
        """Generated JPEGs: one epoch of the folder covers the loader's batches."""
        return self.loader_batch * sum(self.loader_batches())


def make_jpeg_folder(root: Path, n: int, size=(500, 375), seed: int = 0) -> Path:
    """``n`` smooth random JPEGs of ``size`` in ``root/<class>/``, ImageFolder's layout."""
    from PIL import Image

    g = torch.Generator().manual_seed(seed)
    for i in range(n):
        folder = root / f"n{i % CLASSES:08d}"
        folder.mkdir(parents=True, exist_ok=True)
        coarse = torch.randint(0, 256, (3, size[1] // 25, size[0] // 25), generator=g, dtype=torch.uint8).float()
        image = torch.nn.functional.interpolate(coarse[None], size=(size[1], size[0]), mode="bilinear")[0]
        Image.fromarray(image.clamp(0, 255).byte().permute(1, 2, 0).numpy()).save(folder / f"{i}.JPEG", quality=90)
    return root


def loader_images_per_s(folder: Path, size: DataPathSize, device: torch.device) -> float:
    """Decoded, augmented images per second delivered on ``device`` by the streamed loader."""
    from torchvision.datasets import ImageFolder

    dataset = ImageFolder(str(folder), transform=TrainTransform().build(IMAGENET_MEAN, IMAGENET_STD))
    split = StreamSplit.from_image_folder(dataset, workers=size.workers)
    loader = StreamLoader(split, size.loader_batch, device=device)
    warmup, steps = size.loader_batches()
    clock = StepClock(device, warmup, steps)
    for done, _ in enumerate(loader, 1):
        clock.tick()
        if done == warmup + steps:
            break
    return clock.images_per_s(size.loader_batch)


def step_images_per_s(size: DataPathSize, device: torch.device, teacher: str | None,
                      store_dir: Path | None = None) -> float:
    """Images per second of DeiT-Ti's training step at 224 px (AdamW), from device-resident images;
    with ``teacher``, hard distillation through the distillation token from that (random) timm model —
    live, or with ``store_dir`` read from its top-10 recorded there beforehand on the same batches
    (:mod:`kdrepro.stores.batches`; the recording is not timed)."""
    n = size.batch_size * (size.warmup + size.steps)
    config = TrainConfig(epochs=1, batch_size=size.batch_size, optimizer="adamw", lr=1e-3, schedule="constant",
                         max_steps_per_epoch=size.warmup + size.steps)
    g = torch.Generator().manual_seed(0)
    split = Split(torch.randint(0, 256, (n, 3, 224, 224), generator=g, dtype=torch.uint8),
                  torch.randint(0, CLASSES, (n,), generator=g), IMAGENET_MEAN, IMAGENET_STD)
    if teacher is None:
        method = CrossEntropy(create_model("deit_tiny_patch16_224", num_classes=CLASSES, seed=0))
    else:
        import timm

        from ..models.pretrained import TimmClassifier

        model = TimmClassifier(timm.create_model(teacher, pretrained=False, num_classes=CLASSES)).eval()
        if store_dir is not None:
            from ..stores.batches import BatchStoredTeacher, record_batch_topk

            model = BatchStoredTeacher(record_batch_topk(model, split, config, CLASSES, store_dir))
        method = DeiT(create_model("deit_tiny_distilled_patch16_224", num_classes=CLASSES, seed=0), model,
                      mode="token_hard")
    box = {}

    def tick(event, state, trainer):
        if event == "step":
            box.setdefault("clock", StepClock(trainer.device, size.warmup, size.steps)).tick()

    Trainer(config, verbose=False, progress=False, callbacks=[tick]).fit(method, split)
    return box["clock"].images_per_s(size.batch_size)


def measure_data_path(size: DataPathSize, device: torch.device, work_dir: Path, log=print) -> dict:
    """The loader's and the steps' images per second, and their ratios (loader ÷ step)."""
    folder = work_dir / "jpegs"
    if not folder.is_dir():
        make_jpeg_folder(folder, size.images)
    rows = {f"decode + augment (timm's DeiT transform), {size.workers} workers": loader_images_per_s(folder, size,
                                                                                                    device)}
    rows["DeiT-Ti training step, no teacher"] = step_images_per_s(size, device, None)
    extra = []
    if size.teacher is not None:
        live = f"DeiT-Ti training step, {size.teacher} teacher (hard, distillation token)"
        stored = f"DeiT-Ti training step, {size.teacher} teacher read from its store of these batches"
        rows[live] = step_images_per_s(size, device, size.teacher)
        rows[stored] = step_images_per_s(size, device, size.teacher, work_dir / "teacher_store")
        extra = [{"what": "DeiT-Ti step, teacher read from the store ÷ run live (the pass recording it, paid once "
                          "per seed for every distilled run, not included)",
                  "ratio": round(rows[stored] / rows[live], 3)}]
    for what, value in rows.items():
        log(f"data path: {what:<70} {value:9.1f} images/s")
    loader, *steps = rows
    return {"settings": {"images": size.images, "batch_size": size.batch_size, "steps": size.steps,
                         "workers": size.workers, "loader_batches": list(size.loader_batches()), "image_size": 224},
            "rows": [{"what": k, "images_per_s": round(v, 2)} for k, v in rows.items()],
            "ratios": [{"what": f"loader ÷ {step.split(', ', 1)[1]}", "ratio": round(rows[loader] / rows[step], 3)}
                       for step in steps] + extra}
