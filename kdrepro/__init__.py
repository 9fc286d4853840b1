"""kdrepro: reproducing knowledge-distillation papers, one executable chapter each.

The package holds all the logic the chapters share: data (`kdrepro.data`), models
(`kdrepro.models`), the distillation methods (`kdrepro.methods`), the training engine
(`kdrepro.engine`), the published numbers and the checks against them (`kdrepro.checks`),
and the tools that run chapters and publish them into the book (`kdrepro.chapters`,
`kdrepro.book`).
"""

__version__ = "0.1.0"
