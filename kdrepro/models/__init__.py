"""The model zoo, registered by name (timm-style): ``create_model("mlp_800_800")``.

Every model returns a :class:`ModelOutput` (logits, and each stage's features after and
before its non-linearity) and may define ``apply_constraints()``, which the engine calls
after each optimiser step (max-norm, for instance).
"""

from . import (  # noqa: F401  (registers the models)
    cifar_resnet, cifar_resnet50, maxout, mlp, mobilenet, mobilenetv2, plain_cnn, shufflenetv1, shufflenetv2, tinyvit, vgg,
    vit, wide_resnet,
)
from .output import ModelOutput
from .registry import create_model, list_models, register_model

__all__ = ["ModelOutput", "create_model", "list_models", "register_model"]
