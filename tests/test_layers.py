"""The package map is the architecture: each layer imports only from the layers below it."""

import ast
from pathlib import Path

import kdrepro

PACKAGE = Path(kdrepro.__file__).parent
LAYERS = [  # lowest first; the package docstring lists the same order
    {"errors", "io", "paths", "provenance"},
    {"data", "models", "checks"},
    {"methods", "engine"},
    {"recipes", "stores", "evaluation", "training", "figures", "bench"},
    {"chapters"},
    {"book", "cli", "__main__"},
]


def layer_of(top: str) -> int:
    for i, names in enumerate(LAYERS):
        if top in names:
            return i
    raise AssertionError(f"kdrepro.{top} is in no layer: add it to LAYERS and the package docstring")


def is_module(name: str) -> bool:
    return (PACKAGE / f"{name}.py").is_file() or (PACKAGE / name / "__init__.py").is_file()


def imported_tops(path: Path) -> set[str]:
    """The top-level kdrepro names that ``path`` imports (relative and absolute imports)."""
    rel = path.relative_to(PACKAGE).with_suffix("").parts
    package = rel[:-1] if rel[-1] != "__init__" else rel[:-1]
    tops = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(package[: len(package) - (node.level - 1)])
                parts = base + (node.module.split(".") if node.module else [])
                if parts:
                    tops.add(parts[0])
                else:  # `from . import x` at the package top
                    tops |= {a.name for a in node.names if is_module(a.name)}
            elif node.module and node.module.split(".")[0] == "kdrepro":
                parts = node.module.split(".")[1:] or [a.name for a in node.names if is_module(a.name)]
                tops |= set(parts[:1])
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] == "kdrepro" and "." in a.name:
                    tops.add(a.name.split(".")[1])
    return tops


def test_top_level_holds_layers_and_core_modules_only():
    tops = {p.stem if p.is_file() else p.name for p in PACKAGE.iterdir()
            if (p.is_file() and p.suffix == ".py") or (p.is_dir() and (p / "__init__.py").is_file())}
    assert tops - {"__init__"} == set().union(*LAYERS)


def test_no_import_runs_back_up():
    upward = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).with_suffix("").parts
        own = layer_of(rel[0] if rel[0] != "__init__" else "__main__")
        for top in imported_tops(path) - {rel[0]}:
            if layer_of(top) > own:
                upward.append(f"{'/'.join(rel)}.py imports kdrepro.{top}")
    assert not upward, "imports running back up the layers:\n" + "\n".join(upward)


def test_every_module_imports():
    import importlib
    import pkgutil

    for info in pkgutil.walk_packages([str(PACKAGE)], prefix="kdrepro."):
        if info.name != "kdrepro.__main__":  # runs the command line
            importlib.import_module(info.name)
