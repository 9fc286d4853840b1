"""A Sphinx extension that serves MathJax 2.7 from the built book instead of a CDN.

The files come from the ``jupyter_server_mathjax`` package and are copied to
``_static/mathjax/`` when an HTML build finishes; ``_config.yml`` points ``mathjax_path``
there. Loaded through ``sphinx: local_extensions`` so that a plain
``jupyter-book build .`` works offline.
"""

from __future__ import annotations

import shutil
from pathlib import Path

TARGET = "mathjax"
"""Folder under ``_static/`` that receives the MathJax files."""


def mathjax_source() -> Path:
    """The MathJax 2.7 tree shipped by ``jupyter_server_mathjax``."""
    import jupyter_server_mathjax

    root = Path(jupyter_server_mathjax.__file__).parent / "static"
    if not (root / "MathJax.js").is_file():
        raise FileNotFoundError(
            f"MathJax.js is missing from {root}; reinstall it: pip install jupyter-server-mathjax"
        )
    return root


def copy_mathjax(static_dir: Path) -> Path:
    """Copy MathJax into ``static_dir/mathjax`` (skipped when already up to date)."""
    source = mathjax_source()
    target = Path(static_dir) / TARGET
    stamp = target / "MathJax.js"
    if not stamp.is_file() or stamp.stat().st_size != (source / "MathJax.js").stat().st_size:
        shutil.copytree(source, target, dirs_exist_ok=True)
    return target


def _drop_mathjax3_config(app) -> None:
    """MathJax 2 reads its configuration from ``mathjax2_config``; drop the v3 one myst-parser adds."""
    if "MathJax.js" in (app.config.mathjax_path or ""):
        app.config.mathjax3_config = None


def _copy_after_build(app, exception) -> None:
    if app.builder.format == "html":
        copy_mathjax(Path(app.outdir) / "_static")


def setup(app):
    mathjax_source()  # fail early, and clearly, when the package is missing
    app.connect("builder-inited", _drop_mathjax3_config, priority=900)
    app.connect("build-finished", _copy_after_build)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
