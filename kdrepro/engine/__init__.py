"""The training engine: one loop for every method (Accelerate set-up, the training loop, evaluation,
checkpoints and resume). It knows methods only through :class:`kdrepro.methods.Distiller`."""

from .accel import is_main_process, make_accelerator, process_device, use_gpu, wait_for_everyone
from .checkpoint import load_model, save_model
from .config import TrainConfig
from .evaluate import evaluate, predict_logits
from .trainer import Split, Trainer, TrainState, final_metrics

__all__ = ["make_accelerator", "is_main_process", "process_device", "use_gpu", "wait_for_everyone", "load_model",
           "save_model", "TrainConfig", "evaluate", "predict_logits", "Split", "Trainer", "TrainState", "final_metrics"]
