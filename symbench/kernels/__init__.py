"""Kernels as data: the catalog, lookup by name, and user kernels from a file or expression.

The catalog is the concatenation of the family modules' ``KERNELS`` lists. Names are
permanent (records and asv history are keyed by them): retire a kernel, never rename it.
"""

from __future__ import annotations

import runpy
from pathlib import Path

from ..errors import BadInput, unknown_name
from .core import DEFAULT_TOLERANCES, DTYPES, Domain, Kernel, Tolerance
from .parse import parse_expression

__all__ = [
    "DEFAULT_TOLERANCES",
    "DTYPES",
    "Domain",
    "Kernel",
    "Tolerance",
    "catalog",
    "get_kernel",
    "load_kernels_file",
    "parse_expression",
]

_FAMILIES = ("classic", "serving", "numerics")
_CATALOG: dict[str, Kernel] | None = None


def catalog() -> dict[str, Kernel]:
    """All catalog kernels by name, in a stable order (family, then definition order)."""
    global _CATALOG
    if _CATALOG is None:
        import importlib

        found: dict[str, Kernel] = {}
        for family in _FAMILIES:
            module = importlib.import_module(f"{__name__}.{family}")
            for k in module.KERNELS:
                if k.name in found:
                    raise RuntimeError(f"kernel name {k.name!r} defined twice")
                found[k.name] = k
        _CATALOG = found
    return dict(_CATALOG)


def get_kernel(name: str) -> Kernel:
    """The catalog kernel called ``name``; BadInput naming the known ones otherwise."""
    kernels = catalog()
    if name not in kernels:
        raise unknown_name("kernel", name, kernels)
    return kernels[name]


def load_kernels_file(path: str | Path) -> list[Kernel]:
    """Run a Python file and return the Kernel objects in its ``KERNELS`` list.

    The file is executed: load only files you trust, as you would ``import`` them.
    """
    p = Path(path)
    if not p.is_file():
        raise BadInput(f"kernels file {str(p)!r} does not exist")
    try:
        namespace = runpy.run_path(str(p))
    except BadInput as exc:
        raise BadInput(f"kernels file {p}: {exc}") from None
    except (Exception, SystemExit) as exc:  # SystemExit too: a file may not end symbench
        raise BadInput(f"kernels file {p} failed to run: {type(exc).__name__}: {exc}") from None
    if "KERNELS" not in namespace:
        raise BadInput(f"kernels file {p} defines no KERNELS list")
    kernels = namespace["KERNELS"]
    if isinstance(kernels, Kernel):
        kernels = [kernels]
    try:
        kernels = list(kernels)
    except TypeError:
        raise BadInput(f"kernels file {p}: KERNELS must be a list of Kernel objects") from None
    bad = [type(k).__name__ for k in kernels if not isinstance(k, Kernel)]
    if bad:
        raise BadInput(f"kernels file {p}: KERNELS holds non-Kernel items ({', '.join(bad)})")
    if not kernels:
        raise BadInput(f"kernels file {p}: KERNELS is empty")
    return kernels
