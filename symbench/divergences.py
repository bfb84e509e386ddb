"""Known divergences are data (``divergences.toml``) and become strict expected failures."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

from .errors import BadInput

_FIELDS = ("kernel", "backend", "dtype", "reason", "link")


@dataclass(frozen=True)
class Divergence:
    kernel: str
    backend: str
    dtype: str
    reason: str
    link: str
    device: str | None = None

    def matches(self, kernel: str, backend: str, dtype: str, device: str) -> bool:
        return (self.kernel, self.backend, self.dtype) == (
            kernel,
            backend,
            dtype,
        ) and self.device in (None, device)


def load(path: str | Path | None = None) -> list[Divergence]:
    """Entries of the packaged ``divergences.toml`` (or of ``path``)."""
    text = (
        Path(path).read_text()
        if path is not None
        else files("symbench").joinpath("divergences.toml").read_text()
    )
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise BadInput(f"divergences file {path or 'divergences.toml'}: {exc}") from None
    entries = []
    for i, item in enumerate(data.get("divergence", [])):
        missing = [f for f in _FIELDS if not item.get(f)]
        if missing:
            raise BadInput(f"divergence entry {i}: missing {', '.join(missing)}")
        entries.append(Divergence(**{k: item[k] for k in (*_FIELDS, "device") if k in item}))
    return entries


def lookup(
    kernel: str, backend: str, dtype: str, device: str, entries: list[Divergence] | None = None
) -> Divergence | None:
    for d in load() if entries is None else entries:
        if d.matches(kernel, backend, dtype, device):
            return d
    return None
