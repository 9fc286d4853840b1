"""The chapters' layer: one module per page of the book, holding that page's set-up, runs, tables
and checks, so that the notebook only sets parameters, calls, plots and explains.

- :mod:`~kdrepro.chapters.registry`: the list of chapters, their short names and scales;
- :mod:`~kdrepro.chapters.runner`: running a chapter's notebook headlessly (papermill);
- :mod:`~kdrepro.chapters.results`: the ``results.json`` a run writes;
- one module per page: ``hinton``, ``cifar`` (FitNets, AT, AB and the same-pairs benchmark), ``dml``,
  ``takd``, ``ctkd``, ``deit``, ``dino`` and ``tinyvit``.

Above this layer sit only the book (:mod:`kdrepro.book`), the benchmark and the command line.
"""
