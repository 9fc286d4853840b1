"""The training engine: Accelerate set-up, the shared loop, evaluation and checkpoints."""

from .accel import is_main_process, make_accelerator, wait_for_everyone
from .checkpoint import load_model, save_model
from .config import TrainConfig
from .evaluate import evaluate, predict_logits
from .trainer import Split, Trainer, TrainState, final_metrics
from .teacher_logits import record_teacher_logits

__all__ = ["make_accelerator", "is_main_process", "wait_for_everyone", "load_model", "save_model", "TrainConfig",
           "evaluate", "predict_logits", "Split", "Trainer", "TrainState", "final_metrics", "record_teacher_logits"]
