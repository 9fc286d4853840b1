"""kdrepro: reproducing knowledge-distillation papers, one executable chapter each.

The package is layered; each layer imports only from the layers listed before it:

1. core modules every layer uses: ``errors``, ``io`` (atomic writes), ``paths``, ``provenance``;
2. ``data``, ``models`` and ``checks`` (the published numbers and the verdicts against them);
3. ``methods`` (one file per paper's loss) and ``engine`` (the one training loop);
4. ``recipes`` (each chapter's settings per scale), ``stores`` (teachers recorded once),
   ``evaluation`` (k-NN, linear probe, error counts) and ``training`` (teachers, pairs, cohorts and
   TAKD chains, trained once in shared folders and reused); ``figures``;
5. ``chapters`` (one module per page of the book, its registry and runner);
6. ``book``, ``bench`` and the command line (``cli``).
"""

__version__ = "0.1.0"
