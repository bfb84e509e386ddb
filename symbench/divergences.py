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

import sympy

from .errors import BadInput

_FIELDS = ("backend", "dtype", "reason", "link")


@dataclass(frozen=True)
class Divergence:
    """A library's known failure. A ``kernel`` entry is a strict xfail of that kernel; a
    ``function`` entry (no kernel) names a library function that is off on some inputs:
    a kernel calling it that fails keeps its ``fail`` (users must see it) with the entry
    named in the reason, and the fuzzer counts the failure as explained."""

    kernel: str
    backend: str
    dtype: str
    reason: str
    link: str
    device: str | None = None
    function: str | None = None

    def matches(self, kernel: str, backend: str, dtype: str, device: str) -> bool:
        return (
            self.function is None
            and (self.kernel, self.backend, self.dtype) == (kernel, backend, dtype)
            and self.device in (None, device)
        )

    def matches_function(self, functions, backend: str, dtype: str, device: str) -> bool:
        return (
            self.function is not None
            and self.function in functions
            and (self.backend, self.dtype) == (backend, dtype)
            and self.device in (None, device.split(":", 1)[0], device)
        )


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
        if bool(item.get("kernel")) == bool(item.get("function")):
            missing.append("kernel or function (exactly one)")
        if missing:
            raise BadInput(f"divergence entry {i}: missing {', '.join(missing)}")
        fields = (*_FIELDS, "device", "function")
        entries.append(
            Divergence(kernel=item.get("kernel", ""), **{k: item[k] for k in fields if k in item})
        )
    return entries


def lookup(
    kernel: str, backend: str, dtype: str, device: str, entries: list[Divergence] | None = None
) -> Divergence | None:
    for d in load() if entries is None else entries:
        if d.matches(kernel, backend, dtype, device):
            return d
    return None


def lookup_functions(
    expr, backend: str, dtype: str, device: str, entries: list[Divergence] | None = None
) -> list[Divergence]:
    """The function-level entries for a kernel whose expression ``expr`` calls them."""
    functions = {type(f).__name__ for f in expr.atoms(sympy.Function)}
    return [
        d
        for d in (load() if entries is None else entries)
        if d.matches_function(functions, backend, dtype, device)
    ]
