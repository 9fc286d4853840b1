"""Training helpers the chapters share, over the engine: teachers trained once and reused
(:mod:`~kdrepro.training.teachers`), a teacher–student pair trained with any CNN method
(:mod:`~kdrepro.training.pairs`), DML cohorts and their students alone (:mod:`~kdrepro.training.cohorts`),
and TAKD's teacher → assistant → student chains (:mod:`~kdrepro.training.assistant_chains`).
Each keeps its runs in shared folders under ``runs/`` and resumes them.
"""
