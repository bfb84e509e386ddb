"""Where symbench keeps what it can rebuild: reference values and compiled modules."""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """``$SYMBENCH_CACHE``, else ``$XDG_CACHE_HOME/symbench``, else ``~/.cache/symbench``."""
    env = os.environ.get("SYMBENCH_CACHE")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "symbench"


def cache_dir(kind: str) -> Path:
    """A sub-directory of the cache root for one kind of artefact, created on demand."""
    path = cache_root() / kind
    path.mkdir(parents=True, exist_ok=True)
    return path


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename (never half-written)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
