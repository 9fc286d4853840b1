"""A training recipe: everything the engine needs to know, and nothing about any method."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from ..errors import ConfigError

OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop")
SCHEDULES = ("constant", "step", "cosine", "linear", "exponential")
MONITORS = ("errors", "loss")
PRECISIONS = ("auto", "no", "bf16", "fp16")
DECAY_EXEMPT = ("none", "bias_and_norm", "timm")


@dataclass
class TrainConfig:
    """One recipe. ``batch_size`` is the global batch: with N processes each takes 1/N of it."""

    epochs: int = 10
    batch_size: int = 128
    optimizer: str = "sgd"
    lr: float = 0.1
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 0.0
    weight_decay_end: float | None = None  # set: a cosine from weight_decay to this over the run (DINO's)
    decay_exempt: str = "none"  # no weight decay on: "bias_and_norm" (1-d parameters), "timm" (+ no_weight_decay())
    layer_decay: float | None = None  # set: TinyViT's layer-wise lr decay, lr × layer_decay ** (blocks above)
    schedule: str = "cosine"
    milestones: list[int] = field(default_factory=list)  # epochs, for schedule="step"
    gamma: float = 0.1  # factor at each milestone ("step"), or per epoch ("exponential")
    warmup_epochs: float = 0.0
    final_lr_factor: float = 0.0  # where "cosine"/"linear" end, and "exponential"'s floor, as a fraction of lr
    alpha: float = 0.99  # RMSProp's smoothing of the squared gradient (pylearn2's "decay")
    patience: int | None = None  # early stopping: epochs without a new best validation score before stopping
    monitor: str = "errors"  # the validation score: the student's "errors", or the method's "loss"
    grad_clip: float | None = None
    clip_per_parameter: bool = False  # grad_clip bounds each parameter's gradient norm (DINO's), not the global one
    bn_eval: bool = False  # the student's BatchNorms stay in eval mode while training (TinyViT's EVAL_BN_WHEN_TRAINING)
    seed: int = 0
    mixed_precision: str = "auto"  # "auto": bf16 on a GPU, fp32 on a CPU
    max_steps_per_epoch: int | None = None  # smoke runs: cut every epoch short
    checkpoint_every: int | None = None  # also checkpoint every this many steps inside an epoch (long epochs)
    eval_batch_size: int = 1000

    def __post_init__(self):
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"unknown optimizer {self.optimizer!r}; valid: {', '.join(OPTIMIZERS)}")
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"unknown schedule {self.schedule!r}; valid: {', '.join(SCHEDULES)}")
        if self.monitor not in MONITORS:
            raise ConfigError(f"unknown monitor {self.monitor!r}; valid: {', '.join(MONITORS)}")
        if self.patience is not None and self.patience < 1:
            raise ConfigError("patience must be at least 1 epoch, or None to train every epoch")
        if self.mixed_precision not in PRECISIONS:
            raise ConfigError(f"unknown mixed_precision {self.mixed_precision!r}; valid: {', '.join(PRECISIONS)}")
        if self.decay_exempt not in DECAY_EXEMPT:
            raise ConfigError(f"unknown decay_exempt {self.decay_exempt!r}; valid: {', '.join(DECAY_EXEMPT)}")
        if self.weight_decay_end is not None and self.weight_decay <= 0:
            raise ConfigError("weight_decay_end schedules the decay from weight_decay: set weight_decay above 0")
        if self.layer_decay is not None and not 0 < self.layer_decay <= 1:
            raise ConfigError(f"layer_decay must be in (0, 1], or None for one lr everywhere, not {self.layer_decay}")
        if self.epochs < 1 or self.batch_size < 1:
            raise ConfigError("epochs and batch_size must be at least 1")
        if self.lr <= 0:
            raise ConfigError(f"lr must be positive, not {self.lr}")
        if self.max_steps_per_epoch is not None and self.max_steps_per_epoch < 1:
            raise ConfigError("max_steps_per_epoch must be at least 1, or None for whole epochs")
        if self.checkpoint_every is not None and self.checkpoint_every < 1:
            raise ConfigError("checkpoint_every must be at least 1 step, or None to checkpoint at epoch ends only")
        if not 0 <= self.warmup_epochs <= self.epochs:
            raise ConfigError(f"warmup_epochs must be between 0 and epochs ({self.epochs})")
        self.milestones = list(self.milestones)

    @classmethod
    def from_dict(cls, values: dict) -> "TrainConfig":
        """Build from a dict, refusing unknown keys with the list of valid ones."""
        valid = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - valid)
        if unknown:
            raise ConfigError(f"unknown training setting(s) {', '.join(unknown)}; valid: {', '.join(sorted(valid))}")
        return cls(**values)

    def to_dict(self) -> dict:
        return asdict(self)

    def replace(self, **changes) -> "TrainConfig":
        return TrainConfig.from_dict({**self.to_dict(), **changes})
