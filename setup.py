"""Packaging metadata for symbench; build-system and tool config live in pyproject.toml."""

import ast
import re
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent
VERSION = re.search(
    r'__version__ = "([^"]+)"', (HERE / "symbench" / "_version.py").read_text()
).group(1)

# symbench's own dependencies. Lower bounds are the versions this project was developed and
# tested against; run records store the exact versions used.
CORE = [
    "numpy>=1.24",
    "sympy>=1.13",
    "mpmath>=1.3",
    "scipy>=1.11",  # stats.false_discovery_control (gate)
    "rich>=13",
    "matplotlib>=3.7",  # symbench report; imported only there
    "tomli>=2; python_version<'3.11'",
    "ruptures>=1.1.9",  # symbench monitor: change points (imported only there)
]

# Optional stores: a team's MLflow tracking server (or a local sqlite:/// MLflow database).
STORES = {"mlflow": ["mlflow>=3,<4"]}


def backend_requirements() -> dict[str, list[str]]:
    """Each backend's pip requirements per extra ("" is the plain install), read from the
    ``requirements`` literal of the classes in the backend registry without importing
    symbench (which needs these very packages). Every CPU backend comes with the plain
    install; GPU libraries come with the ``gpu`` extra."""
    backends = HERE / "symbench" / "backends"
    tree = ast.parse((backends / "__init__.py").read_text())
    registry = next(
        ast.literal_eval(n.value)
        for n in ast.walk(tree)
        if isinstance(n, ast.AnnAssign) and getattr(n.target, "id", "") == "REGISTRY"
    )
    out: dict[str, list[str]] = {}
    for target in registry.values():
        module, _, cls = target.partition(":")
        source = backends / (module.rsplit(".", 1)[1] + ".py")
        for node in ast.walk(ast.parse(source.read_text())):
            if not (isinstance(node, ast.ClassDef) and node.name == cls):
                continue
            for stmt in node.body:
                if isinstance(stmt, ast.Assign) and getattr(stmt.targets[0], "id", "") == (
                    "requirements"
                ):
                    for extra, reqs in ast.literal_eval(stmt.value).items():
                        out.setdefault(extra, [])
                        out[extra] += [r for r in reqs if r not in out[extra]]
    return out


BACKENDS = backend_requirements()

TEST = [
    "pytest>=8",
    "pytest-benchmark>=4",
    "hypothesis>=6",
    "asv>=0.6",
    "invoke>=2",
    "ruff>=0.5",
    *STORES["mlflow"],  # the MLflow store is tested against a real `mlflow server`
]

setup(
    name="symbench",
    version=VERSION,
    description="Compile one SymPy expression through every backend, check it, time it, record it.",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["symbench", "symbench.*"]),
    package_data={"symbench": ["divergences.toml", "math_accuracy.toml"]},
    install_requires=CORE + BACKENDS.pop("", []),
    extras_require={"test": TEST, **STORES, **BACKENDS},
    entry_points={"console_scripts": ["symbench = symbench.cli:main"]},
    classifiers=[
        "Programming Language :: Python :: 3",
        "Programming Language :: Python :: 3.10",
        "Programming Language :: Python :: 3.11",
        "Programming Language :: Python :: 3.12",
        "Programming Language :: Python :: 3.13",
        "Topic :: Scientific/Engineering",
    ],
)
