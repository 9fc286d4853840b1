"""requirements.txt pins everything; environment.yml only wraps it; the Makefile and CI agree."""

import re

from conftest import REPO


def _requirements() -> dict[str, str]:
    pins = {}
    for line in (REPO / "requirements.txt").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = re.fullmatch(r"([A-Za-z0-9_.\-\[\]]+)==([^\s;]+)", line)
        assert m, f"requirements.txt line is not an exact pin: {line!r}"
        pins[m.group(1).lower().replace("_", "-")] = m.group(2)
    return pins


def test_every_dependency_is_pinned_exactly():
    pins = _requirements()
    assert pins["torch"] == "2.14.1" and pins["torchvision"] == "0.29.1"
    assert pins["jupyter-book"].startswith("1.")
    for needed in ("timm", "accelerate", "papermill", "nbval", "ipykernel", "matplotlib", "pandas", "pytest"):
        assert needed in pins, f"{needed} is missing from requirements.txt"


def test_pyproject_dependencies_are_all_pinned():
    text = (REPO / "pyproject.toml").read_text()
    block = text.split("dependencies = [", 1)[1].split("]", 1)[0]
    names = re.findall(r'"([A-Za-z0-9_.\-]+)', block)
    pins = _requirements()
    assert names and all(n.lower() in pins for n in names), set(n for n in names if n.lower() not in pins)


def test_environment_yml_wraps_requirements():
    env = (REPO / "environment.yml").read_text()
    assert re.search(r"^\s*-\s*python=3\.11\s*$", env, re.M)
    assert "-r requirements.txt" in env and "-e ." in env
    listed = re.findall(r"^\s*-\s*([A-Za-z][A-Za-z0-9_.\-]*)[=<>]", env, re.M)
    assert listed == ["python"], f"environment.yml pins packages of its own: {listed}"


def test_ci_runs_the_readme_test_command():
    assert "make test" in (REPO / ".ci" / "run").read_text()
    readme = (REPO / "README.md").read_text()
    assert "make book" in readme and "make test" in readme
