"""The datasets kdrepro knows: shape, classes, sizes, normalisation and provenance."""

from __future__ import annotations

from dataclasses import dataclass

from kdrepro.errors import ConfigError


@dataclass(frozen=True)
class DatasetSpec:
    """What a dataset is. ``comparable_to`` names the dataset a paper means by it.

    A lossy copy has ``comparable_to=None``: no check may compare its results with a
    paper's numbers on the original as if they were the same experiment. It names the original in
    ``stands_in_for``, so a chapter can still set its measurement beside the paper's (not judged).
    """

    name: str
    num_classes: int
    shape: tuple[int, int, int]  # (C, H, W)
    classes: tuple[str, ...]
    train_size: int
    test_size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    lossy: bool = False
    comparable_to: str | None = None
    description: str = ""
    stands_in_for: str | None = None  # a lossy copy: the dataset it replaces


CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer",
                   "dog", "frog", "horse", "ship", "truck")

CIFAR100_CLASSES = tuple("""
apple aquarium_fish baby bear beaver bed bee beetle bicycle bottle bowl boy bridge bus
butterfly camel can castle caterpillar cattle chair chimpanzee clock cloud cockroach couch
crab crocodile cup dinosaur dolphin elephant flatfish forest fox girl hamster house kangaroo
keyboard lamp lawn_mower leopard lion lizard lobster man maple_tree motorcycle mountain mouse
mushroom oak_tree orange orchid otter palm_tree pear pickup_truck pine_tree plain plate poppy
porcupine possum rabbit raccoon ray road rocket rose sea seal shark shrew skunk skyscraper
snail snake spider squirrel streetcar sunflower sweet_pepper table tank telephone television
tiger tractor train trout tulip turtle wardrobe whale willow_tree wolf woman worm
""".split())

_SPECS = (
    DatasetSpec("mnist", 10, (1, 28, 28), tuple(str(d) for d in range(10)), 60_000, 10_000,
                (0.1307,), (0.3081,), comparable_to="mnist",
                description="MNIST handwritten digits (exact)"),
    DatasetSpec("fashion-mnist", 10, (1, 28, 28),
                ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                 "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"), 60_000, 10_000,
                (0.2860,), (0.3530,), comparable_to="fashion-mnist",
                description="Fashion-MNIST (exact)"),
    DatasetSpec("cifar10", 10, (3, 32, 32), CIFAR10_CLASSES, 50_000, 10_000,
                (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616), comparable_to="cifar10",
                description="CIFAR-10 (exact, torchvision's python version)"),
    DatasetSpec("cifar10-jpeg75", 10, (3, 32, 32), CIFAR10_CLASSES, 50_000, 10_000,
                (0.4913, 0.4821, 0.4465), (0.2452, 0.2428, 0.2606), lossy=True,
                comparable_to=None,
                description="CIFAR-10 re-encoded as JPEG quality 75: a lossy stand-in whose "
                            "accuracies are close to, not equal to, CIFAR-10's", stands_in_for="cifar10"),
    DatasetSpec("cifar100", 100, (3, 32, 32), CIFAR100_CLASSES, 50_000, 10_000,
                (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762), comparable_to="cifar100",
                description="CIFAR-100 (exact, torchvision's python version, fine labels)"),
)

DATASETS: dict[str, DatasetSpec] = {spec.name: spec for spec in _SPECS}


def dataset_names() -> list[str]:
    """The names ``get_spec`` accepts."""
    return list(DATASETS)


def get_spec(name: str) -> DatasetSpec:
    """The spec of dataset ``name``; ConfigError listing the valid names otherwise."""
    try:
        return DATASETS[name]
    except KeyError:
        raise ConfigError(f"unknown dataset {name!r}; valid names: "
                          f"{', '.join(DATASETS)}") from None
