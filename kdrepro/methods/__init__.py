"""Distillation methods: one file per paper, each a pure loss function plus a small
:class:`Distiller` that wires it to the engine."""

from .base import Distiller, StoredTeacher, TeacherStore, freeze
from .hinton_kd import KD, kd_loss, soft_target_loss
from .shared_teacher import SharedTeacher
from .vanilla import CrossEntropy

__all__ = ["Distiller", "StoredTeacher", "TeacherStore", "freeze", "KD", "kd_loss", "soft_target_loss", "SharedTeacher", "CrossEntropy"]
