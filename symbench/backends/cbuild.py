"""What the C-building backends share: the compiler, the recipe and the build cache.

A build lives in ``<cache>/<backend>/<key>/`` where ``key`` hashes the generated source, the
flags and every version that affects the binary. A build happens in a private temporary
directory that is renamed into place only when complete, so an interrupted or concurrent
build never leaves a half-built entry.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path
from types import ModuleType
from typing import Any

from ..cache import atomic_write_bytes, cache_dir
from ..errors import Unavailable

_COMPILER_VERSION: dict[str, str] = {}


def c_compiler() -> list[str]:
    """The compiler command setuptools will use: ``$CC`` if set, else Python's own ``CC``."""
    cc = os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc"
    return shlex.split(cc)


def require_c_compiler() -> str:
    """The compiler's path, or ``Unavailable`` saying which compiler is missing or why it
    cannot build a trivial C program (``CC=/bin/false``: exit status 1, nothing said)."""
    cmd = c_compiler()
    path = shutil.which(cmd[0]) if cmd else None
    if not path:
        raise Unavailable(
            f"C compiler {cmd[0] if cmd else '(none)'!r} not found (set CC or install gcc)"
        )
    if (why := _probe(cmd, [], _C_PROBE)) is not None:
        raise Unavailable(f"C compiler {cmd[0]!r} cannot build a trivial C program: {why}")
    return path


_PROBED: dict[tuple[str, ...], str | None] = {}
_C_PROBE = "int main(void) { return 0; }\n"
_OPENMP_PROBE = "#include <omp.h>\nint main(void) { return omp_get_max_threads() < 1; }\n"


def _probe(cmd: list[str], flags: list[str], source: str) -> str | None:
    """Why ``cmd`` cannot compile and link ``source`` with ``flags`` (None: it can).
    Probed once per compiler, flags and process."""
    key = (*cmd, *flags, source)
    if key not in _PROBED:
        with tempfile.TemporaryDirectory() as tmp:
            src = Path(tmp) / "probe.c"
            src.write_text(source)
            try:
                proc = subprocess.run(
                    [*cmd, *flags, str(src), "-o", str(Path(tmp) / "probe")],
                    capture_output=True, text=True, timeout=60, check=False,
                )  # fmt: skip
                said = (proc.stderr.strip() or proc.stdout.strip()).splitlines()
                why = None if proc.returncode == 0 else (
                    said[0] if said else f"exit status {proc.returncode}, nothing said"
                )  # fmt: skip
            except (OSError, subprocess.SubprocessError) as exc:
                why = str(exc)
        _PROBED[key] = why
    return _PROBED[key]


def require_openmp() -> None:
    """``Unavailable`` when the C compiler cannot build and link OpenMP code (``-fopenmp``):
    Apple's clang, for one, has no OpenMP."""
    cmd = c_compiler()
    if (why := _probe(cmd, ["-fopenmp"], _OPENMP_PROBE)) is not None:
        raise Unavailable(f"C compiler {cmd[0]!r} cannot build OpenMP code: {why}")


def native_target() -> str:
    """What ``-march=native`` means to this compiler on this CPU (gcc's resolved
    ``-march``, e.g. ``znver4``): a fast-math build is for that target only."""
    cmd = c_compiler()
    key = "native " + " ".join(cmd)
    if key not in _COMPILER_VERSION:
        try:
            out = subprocess.run(
                [*cmd, "-march=native", "-Q", "--help=target"],
                capture_output=True, text=True, timeout=30, check=False,
            ).stdout  # fmt: skip
            found = [ln.split()[-1] for ln in out.splitlines() if ln.strip().startswith("-march=")]
            _COMPILER_VERSION[key] = found[0] if found else platform.machine()
        except (OSError, subprocess.SubprocessError):
            _COMPILER_VERSION[key] = platform.machine()
    return _COMPILER_VERSION[key]


def compiler_version() -> str:
    cmd = c_compiler()
    key = " ".join(cmd)
    if key not in _COMPILER_VERSION:
        try:
            out = subprocess.run(
                [*cmd, "--version"], capture_output=True, text=True, timeout=30, check=False
            ).stdout
            _COMPILER_VERSION[key] = out.splitlines()[0] if out else "unknown"
        except (OSError, subprocess.SubprocessError):
            _COMPILER_VERSION[key] = "unknown"
    return _COMPILER_VERSION[key]


def recipe(extra_flags: list[str]) -> dict[str, Any]:
    """The build recipe recorded with every compiled module (and hashed into its key)."""
    return {
        "compiler": " ".join(c_compiler()),
        "compiler_version": compiler_version(),
        "python_cflags": sysconfig.get_config_var("CFLAGS") or "",
        "env_cflags": os.environ.get("CFLAGS", ""),
        "extra_flags": list(extra_flags),
        "python": platform.python_version(),
        "platform": sysconfig.get_platform(),
    }


def find_extension(directory: Path, module: str) -> Path | None:
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        candidate = directory / f"{module}{suffix}"
        if candidate.exists():
            return candidate
    return None


def load_extension(path: Path, module: str) -> ModuleType:
    """Import a compiled extension from ``path`` without touching ``sys.path``/``sys.modules``."""
    spec = importlib.util.spec_from_file_location(module, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    # Single-phase-init extensions (ufuncify's) register themselves in sys.modules while
    # loading; put back whatever was there so builds never leak module names.
    previous = sys.modules.get(module)
    try:
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
    finally:
        if previous is None:
            sys.modules.pop(module, None)
        else:
            sys.modules[module] = previous
    return mod


class BuildCache:
    """Content-addressed build directories for one backend."""

    def __init__(self, backend_id: str) -> None:
        self.root = cache_dir(backend_id)

    def lookup(self, key: str) -> tuple[Path, dict[str, Any]] | None:
        """The finished build for ``key`` and its manifest, or None. An entry built into
        a module with other kernels (its manifest names the ``batch``) is found in that
        module's directory, and is gone when that directory is."""
        final = self.root / key
        manifest = final / "manifest.json"
        if not manifest.exists():
            return None
        try:
            found = json.loads(manifest.read_text())
        except (OSError, ValueError):
            return None
        if "batch" in found:
            final = self.root / found["batch"]
            if not (final / "manifest.json").exists():
                return None
        return final, found

    def indexed_key(self, expr_key: str) -> str | None:
        """The build key last published for an expression key (see ``remember``)."""
        try:
            return json.loads((self.root / "by-expr" / f"{expr_key}.json").read_text())["key"]
        except (OSError, ValueError, KeyError):
            return None

    def remember(self, expr_key: str, key: str) -> None:
        """Map an expression key to the source-keyed build, so a cache hit does not have to
        regenerate the source to find its build."""

        index = self.root / "by-expr"
        index.mkdir(exist_ok=True)
        atomic_write_bytes(index / f"{expr_key}.json", json.dumps({"key": key}).encode())

    def discard(self, key: str) -> None:
        """Remove an entry (one whose module is gone, before it is built again)."""
        shutil.rmtree(self.root / key, ignore_errors=True)

    def staging(self) -> Path:
        return Path(tempfile.mkdtemp(prefix=".build-", dir=self.root))

    def publish(self, staging: Path, key: str, manifest: dict[str, Any]) -> Path:
        """Write the manifest and rename the build into place (first finisher wins)."""
        (staging / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True))
        final = self.root / key
        try:
            os.rename(staging, final)
        except OSError:  # another process published the same key first: keep theirs
            shutil.rmtree(staging, ignore_errors=True)
        return final


def run_build(cmd: list[str], cwd: Path, what: str) -> None:
    """Run a build command; a failure becomes an error naming the command and its output."""
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-15:]
        raise RuntimeError(f"{what} build failed ({' '.join(cmd[:3])} ...):\n" + "\n".join(tail))


PYTHON = sys.executable
