"""What the optimiser trains and how: the optimiser a config names, its parameter groups (timm's
weight-decay exemptions, TinyViT's layer-wise lr decay), the schedule applied to the groups, and
DINO's per-parameter gradient clipping."""

from __future__ import annotations

import torch

from ..errors import ConfigError
from .config import TrainConfig
from .schedule import lr_factor, weight_decay_at


def make_optimizer(params, c: TrainConfig) -> torch.optim.Optimizer:
    """The optimiser ``c.optimizer`` names over ``params`` (a list of tensors or of groups)."""
    if c.optimizer == "sgd":
        return torch.optim.SGD(params, lr=c.lr, momentum=c.momentum, nesterov=c.nesterov, weight_decay=c.weight_decay)
    if c.optimizer == "rmsprop":  # pylearn2's RMSProp floors the RMS at 1e-5 (its max_scaling 1e5)
        return torch.optim.RMSprop(params, lr=c.lr, alpha=c.alpha, eps=1e-5, weight_decay=c.weight_decay)
    if c.optimizer == "adam":
        return torch.optim.Adam(params, lr=c.lr, weight_decay=c.weight_decay)
    return torch.optim.AdamW(params, lr=c.lr, weight_decay=c.weight_decay)


def set_schedule(optimizers, c: TrainConfig, epoch_progress: float) -> None:
    """Set every group's lr (and, with ``weight_decay_end``, weight decay) for ``epoch_progress``
    epochs into the run: ``c.lr`` × the schedule's factor × the group's ``lr_scale`` (its layer's, with
    ``layer_decay``; 1 without), as TinyViT's ``LRSchedulerWrapper`` and timm's schedulers scale them."""
    lr = c.lr * lr_factor(c, epoch_progress)
    decay = weight_decay_at(c, epoch_progress) if c.weight_decay_end is not None else None
    for optimizer in optimizers:
        for group in optimizer.param_groups:
            group["lr"] = lr * group.get("lr_scale", 1.0)
            if decay is not None and group["weight_decay"] != 0:  # an exempt group stays at 0
                group["weight_decay"] = decay


def no_weight_decay_names(module: torch.nn.Module) -> set[str]:
    """The full names of the parameters that a submodule of ``module`` exempts from weight decay by
    its ``no_weight_decay()`` (a timm ViT's ``pos_embed``, ``cls_token``, ``dist_token``) or, as the
    official TinyViT's ``set_weight_decay`` reads it, by a keyword of ``no_weight_decay_keywords()``
    in the name (TinyViT's ``attention_biases``)."""
    names = set()
    for prefix, sub in module.named_modules():
        if callable(getattr(sub, "no_weight_decay", None)):
            names |= {f"{prefix}.{n}" if prefix else n for n in sub.no_weight_decay()}
        if callable(getattr(sub, "no_weight_decay_keywords", None)):
            keywords = tuple(sub.no_weight_decay_keywords())
            names |= {f"{prefix}.{n}" if prefix else n for n, _ in sub.named_parameters()
                      if any(k in n for k in keywords)}
    return names


def param_groups(module: torch.nn.Module, c: TrainConfig) -> list:
    """What the optimiser of ``module`` trains: its parameters that need a gradient, all decayed
    (``decay_exempt="none"``), or in timm's two groups, the exempt one with weight decay 0. With
    ``layer_decay``, each of those is split further by layer, each group with its ``lr_scale``
    (TinyViT's ``divide_param_groups_by_lr_scale``; see :func:`layer_lr_scales`)."""
    if c.layer_decay is not None:
        return _layer_groups(module, c)
    if c.decay_exempt == "none":
        return [p for p in module.parameters() if p.requires_grad]
    from timm.optim import param_groups_weight_decay

    exempt = no_weight_decay_names(module) if c.decay_exempt == "timm" else ()
    return param_groups_weight_decay(module, c.weight_decay, no_weight_decay_list=exempt)


def _layer_groups(module: torch.nn.Module, c: TrainConfig) -> list:
    """One group per (layer scale, weight decay or not), in the order the parameters come; the
    exemption as ``decay_exempt`` makes it without layers (timm's ``param_groups_weight_decay``)."""
    import fnmatch

    scales = layer_lr_scales(module, c.layer_decay)
    listed = no_weight_decay_names(module) if c.decay_exempt == "timm" else set()
    groups: dict[tuple[float, bool], dict] = {}
    for name, p in module.named_parameters():
        if not p.requires_grad:
            continue
        exempt = c.decay_exempt != "none" and (not c.weight_decay or p.ndim <= 1 or name.endswith(".bias")
                                               or any(fnmatch.fnmatch(name, n) for n in listed))
        scale = scales.get(name, 1.0)  # outside the TinyViT (a method's own heads): the top's, as officially
        key = (scale, exempt)
        if key not in groups:
            groups[key] = {"params": [], "lr_scale": scale}
            if c.decay_exempt != "none":
                groups[key]["weight_decay"] = 0.0 if exempt else c.weight_decay
        groups[key]["params"].append(p)
    return list(groups.values())


def layer_lr_scales(module: torch.nn.Module, layer_decay: float) -> dict[str, float]:
    """Each parameter of every timm ``TinyVit`` inside ``module`` (a wrapper's ``.model``/``.net``, a
    distiller's ``student``), by its name in ``module``: the lr scale of its layer, by the official
    TinyViT's ``set_layer_lr_decay`` (see :func:`tinyvit_lr_scales`). A ConfigError for a module
    without one: no other model's layers are assigned."""
    from timm.models.tiny_vit import TinyVit

    found = [(prefix, sub) for prefix, sub in module.named_modules() if isinstance(sub, TinyVit)]
    if not found:
        raise ConfigError(f"layer_decay assigns layers only in a TinyViT (timm's TinyVit) and {type(module).__name__} "
                          "holds none: leave layer_decay unset (None) for this model")
    scales = {}
    for prefix, net in found:
        scales |= {f"{prefix}.{n}" if prefix else n: s for n, s in tinyvit_lr_scales(net, layer_decay).items()}
    return scales


def tinyvit_lr_scales(net: torch.nn.Module, layer_decay: float) -> dict[str, float]:
    """The official TinyViT's layer-wise lr decay (``TinyViT.set_layer_lr_decay``) on timm's
    ``TinyVit``'s names. With D blocks in all (12 in TinyViT-5M), block i (counted over all stages)
    gets ``layer_decay ** (D - 1 - i)``; the patch embedding the first block's scale, a patch merging
    the scale of the last block before it, the final norm and the head the last block's (1).

    timm's ``param_groups_layer_decay`` (through ``TinyVit.group_matcher``) differs: it gives the
    patch embedding and the head layers of their own (D + 2 layers, every block one factor lower:
    ``layer_decay ** (D - i)``, the patch embedding ``** (D + 1)``). Its patch merging, at the start
    of timm's next stage, groups with that stage's first block, which lands on the same scale as the
    official's last block before it."""
    depths = [len(stage.blocks) for stage in net.stages]
    depth = sum(depths)
    scale = [layer_decay ** (depth - 1 - i) for i in range(depth)]
    first = [sum(depths[:s]) for s in range(len(depths))]  # the overall index of each stage's first block
    out = {}
    for name, _ in net.named_parameters():
        part = name.split(".")
        if part[0] == "patch_embed":
            out[name] = scale[0]
        elif part[0] == "stages" and part[2] == "blocks":
            out[name] = scale[first[int(part[1])] + int(part[3])]
        elif part[0] == "stages" and part[2] == "downsample" and first[int(part[1])] > 0:
            out[name] = scale[first[int(part[1])] - 1]  # officially the end of the stage before
        elif part[0] == "head":
            out[name] = scale[-1]
        else:
            raise ConfigError(f"layer_decay: no layer for TinyVit parameter {name!r} (an unknown timm TinyVit layout)")
    return out


@torch.no_grad()
def clip_each_grad_norm_(parameters, max_norm: float) -> None:
    """Scale each gradient whose norm exceeds ``max_norm`` down to it, each on its own (DINO's
    ``clip_gradients``), without reading the norms back to the host."""
    for p in parameters:
        if p.grad is not None:
            p.grad.mul_((max_norm / (p.grad.norm() + 1e-6)).clamp(max=1.0))


__all__ = ["make_optimizer", "param_groups", "set_schedule", "layer_lr_scales", "tinyvit_lr_scales",
           "no_weight_decay_names", "clip_each_grad_norm_"]
