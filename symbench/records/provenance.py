"""One ``collect()`` of everything needed to know what produced a number and to rerun it.

Used by run records (and, later, by the asv and pytest-benchmark hooks).
"""

from __future__ import annotations

import platform
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from .._version import __version__
from ..backends import backend_ids, get_backend
from ..backends.cbuild import c_compiler, compiler_version, recipe
from ..devices import fingerprint
from ..timing import thread_settings

__all__ = [
    "CORE_PACKAGES",
    "packages",
    "package_versions",
    "git_state",
    "compiler_info",
    "collect",
    "data_files",
    "environment_changes",
]

# symbench's own dependencies; each backend adds its libraries (``Backend.packages``).
CORE_PACKAGES = ("symbench", "sympy", "numpy", "scipy", "mpmath")


def packages() -> tuple[str, ...]:
    """Every distribution a run records the version of, core ones first."""
    extra = (p for i in backend_ids() for p in get_backend(i).packages)
    return tuple(dict.fromkeys((*CORE_PACKAGES, *extra)))


def package_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in packages():
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def git_state(path: str | Path = ".") -> dict[str, Any]:
    """Commit and dirty flag of the git work tree at ``path`` (None outside a work tree)."""

    def git(*args: str) -> str | None:
        try:
            proc = subprocess.run(
                ["git", "-C", str(path), *args], capture_output=True, text=True, timeout=10
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return proc.stdout.strip() if proc.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return {"commit": None, "dirty": None, "root": None}
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(status), "root": git("rev-parse", "--show-toplevel")}


def compiler_info() -> dict[str, Any]:
    try:
        return recipe([]) | {"compiler": " ".join(c_compiler()), "version": compiler_version()}
    except Exception as exc:  # a missing compiler is recorded, not fatal
        return {"error": str(exc)}


def collect(argv: list[str] | None = None) -> dict[str, Any]:
    return {
        "symbench": __version__,
        "command": list(sys.argv if argv is None else argv),
        "git": git_state(),
        "python": {
            "version": platform.python_version(),
            "implementation": platform.python_implementation(),
            "executable": sys.executable,
        },
        "packages": package_versions(),
        "compiler": compiler_info(),
        "machine": fingerprint(),
        "threads": thread_settings(),
        "data": data_files(),
    }


def data_files() -> dict[str, str]:
    """sha256 of the packaged data that judges results: known divergences and the measured
    math-library accuracy that scales tolerances."""
    import hashlib
    from importlib.resources import files

    return {
        name: hashlib.sha256(files("symbench").joinpath(name).read_bytes()).hexdigest()
        for name in ("divergences.toml", "math_accuracy.toml")
    }


def environment_changes(
    old: dict[str, Any], new: dict[str, Any], ignore: tuple[str, ...] = ()
) -> list[str]:
    """Human-readable differences between two provenance blocks that can change results
    (package versions, Python, CPU, cores, compiler, flags, host, GPUs); packages named in
    ``ignore`` are left out."""
    changes = []
    for name in sorted((set(old.get("packages", {})) | set(new.get("packages", {}))) - set(ignore)):
        a, b = old.get("packages", {}).get(name), new.get("packages", {}).get(name)
        if a != b:
            changes.append(f"{name}: {a or 'absent'} -> {b or 'absent'}")
    pairs = [
        ("python", ("python", "version")),
        ("CPU", ("machine", "cpu", "model")),
        ("cores", ("machine", "cpu", "cores_usable")),
        ("C compiler", ("compiler", "version")),
        ("CFLAGS", ("compiler", "env_cflags")),
        ("host", ("machine", "hostname")),
    ]
    for label, path in pairs:
        a, b = old, new
        for key in path:
            a = a.get(key) if isinstance(a, dict) else None
            b = b.get(key) if isinstance(b, dict) else None
        if a != b:
            changes.append(f"{label}: {a} -> {b}")
    old_gpus = [g.get("name") for g in old.get("machine", {}).get("gpus", [])]
    new_gpus = [g.get("name") for g in new.get("machine", {}).get("gpus", [])]
    if old_gpus != new_gpus:
        changes.append(f"GPUs: {old_gpus or 'none'} -> {new_gpus or 'none'}")
    return changes
