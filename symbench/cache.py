"""Where symbench keeps what it can rebuild: reference values and compiled modules."""

from __future__ import annotations

import contextlib
import os
import tempfile
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
    """Write ``data`` to ``path`` through a unique temporary file and a rename, so readers
    never see a half-written file and concurrent writers (threads or processes) never
    share a temporary name."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
