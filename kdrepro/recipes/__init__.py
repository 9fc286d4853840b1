"""Each chapter's recipe at each scale (smoke, medium, full), as data the notebook reads."""

from __future__ import annotations

from ..errors import ConfigError, DatasetError


def pick(recipes: dict, scale: str, full_missing: str | None = None):
    """The recipe of ``scale``. ``full_missing`` says why the full scale cannot run yet (e.g. no
    ImageNet pipeline): it is then refused with that message, as an unknown scale is with the valid ones."""
    if scale == "full" and full_missing:
        raise DatasetError(full_missing)
    if scale not in recipes:
        valid = list(recipes) + (["full"] if full_missing and "full" not in recipes else [])
        raise ConfigError(f"unknown scale {scale!r}; valid scales: {', '.join(valid)}")
    return recipes[scale]

# ImageNet's epochs are long (DeiT-S on one GPU: about an hour): its recipes also checkpoint inside an
# epoch, every this many steps (kdrepro/engine/within_epoch.py); a rerun goes on from the last of them.
CHECKPOINT_EVERY = 500
