"""The training engine: Accelerate set-up, the shared loop, evaluation and checkpoints."""

from .accel import make_accelerator
from .checkpoint import load_model, save_model
from .config import TrainConfig
from .evaluate import evaluate, predict_logits
from .trainer import Split, Trainer, TrainState, final_metrics

__all__ = ["make_accelerator", "load_model", "save_model", "TrainConfig", "evaluate", "predict_logits",
           "Split", "Trainer", "TrainState", "final_metrics"]
