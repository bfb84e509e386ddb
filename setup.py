"""Packaging metadata for symbench; build-system and tool config live in pyproject.toml."""

import re
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent
VERSION = re.search(
    r'__version__ = "([^"]+)"', (HERE / "symbench" / "_version.py").read_text()
).group(1)

# Every CPU backend comes with the plain install. Lower bounds are the versions this
# project was developed and tested against; run records store the exact versions used.
CPU_BACKENDS = [
    "numpy>=1.24",
    "sympy>=1.13",
    "mpmath>=1.3",
    "scipy>=1.11",  # stats.false_discovery_control (gate)
    "Cython>=3.0",
    "setuptools>=64",
    "numba>=0.59",
    "jax[cpu]>=0.4.30",
    "numexpr>=2.9",
    "rich>=13",
    "matplotlib>=3.7",  # symbench report; imported only there
    "tomli>=2; python_version<'3.11'",
]

TEST = [
    "pytest>=8",
    "pytest-benchmark>=4",
    "hypothesis>=6",
    "asv>=0.6",
    "invoke>=2",
    "ruff>=0.5",
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
    install_requires=CPU_BACKENDS,
    extras_require={
        "test": TEST,
        # CUDA 12 GPUs: CuPy, and JAX's CUDA plugin with the CUDA libraries as wheels. The
        # plugin pins jax to its own version; pip resolves the pair cleanly on Linux (checked
        # with `pip install --dry-run ".[gpu]"`), and no plugin exists for other systems.
        "gpu": ["cupy-cuda12x>=13", "jax[cuda12]; sys_platform == 'linux'"],
    },
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
