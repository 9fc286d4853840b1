"""Teacher stores: a teacher's outputs recorded once and read back by any number of students.

- :mod:`~kdrepro.stores.recorded`: full logits on exactly the batches one run will train on,
  every epoch (exact: a student trains as with a live teacher);
- :mod:`~kdrepro.stores.topk`: TinyViT's sparse store, the top-K probabilities of every
  (image, epoch) view, replayed from the views' seeds.
"""

from .recorded import record_teacher_logits
from .topk import (SparseLogitStore, SparseStoredTeacher, dense_target, open_or_record, pass_seconds,
                   record_sparse_logits, target_agreement)

__all__ = ["record_teacher_logits", "SparseLogitStore", "SparseStoredTeacher", "dense_target", "open_or_record",
           "pass_seconds", "record_sparse_logits", "target_agreement"]
