"""Turn the names and options a user typed into kernels and backends, collecting mistakes.

Unknown names do not stop the valid ones from running: each mistake becomes one error
line (the CLI then exits 2 after doing the rest of the work).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from .backends import REGISTRY, Backend, get_backend, with_variants
from .errors import BadInput, unknown_name
from .kernels import Domain, Kernel, Tolerance, catalog, load_kernels_file
from .kernels.core import DTYPES


def split_names(values: Iterable[str] | None) -> list[str]:
    """``["a,b", "c"]`` -> ``["a", "b", "c"]`` (options may repeat and take commas). An empty
    name (``--kernel ""``, ``a,,b``) is BadInput: it used to mean "all" silently."""
    names = []
    for v in values or []:
        parts = [n.strip() for n in v.split(",")]
        if not all(parts):
            raise BadInput(f"empty name in {v!r}: give names separated by commas")
        names += parts
    return names


def parse_domain_options(options: Iterable[str]) -> dict[str, Domain]:
    """``["x=-1:1", "y=0:2"]`` -> ``{"x": Domain(-1, 1), "y": Domain(0, 2)}`` (order kept)."""
    domains: dict[str, Domain] = {}
    for opt in options:
        name, sep, rng = opt.partition("=")
        name = name.strip()
        if not sep or not name:
            raise BadInput(f"cannot read --domain {opt!r}: expected NAME=LO:HI, e.g. x=-10:10")
        if name in domains:
            raise BadInput(f"--domain {name} given twice")
        domains[name] = Domain.parse(rng.strip())
    return domains


@dataclass
class Selection:
    kernels: list[Kernel] = field(default_factory=list)
    backends: list[Backend] = field(default_factory=list)
    dtypes: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def _resolve(names: list[str], known, kind: str, errors: list[str]) -> list:
    """The known entries for ``names`` (values of a dict, or the names themselves); each
    unknown name becomes one error line instead of stopping the others."""
    found = []
    for n in dict.fromkeys(names):  # each name once: add,add is one kernel
        if n in known:
            found.append(known[n] if isinstance(known, dict) else n)
        else:
            errors.append(str(unknown_name(kind, n, known)))
    return found


def select(
    kernel_names: Iterable[str] | None = None,
    backend_names: Iterable[str] | None = None,
    dtype_names: Iterable[str] | None = None,
    expr: str | None = None,
    domain_options: Iterable[str] | None = None,
    kernels_file: str | None = None,
    rtol: float | None = None,
    atol: float | None = None,
    variants: bool = False,
) -> Selection:
    """Resolve CLI-style choices. Raises ``BadInput`` only when nothing could be selected
    or the user's own kernel is unusable; unknown names are collected in ``errors``."""
    sel = Selection()
    extra: list[Kernel] = []
    if domain_options and not expr:
        raise BadInput("--domain needs --expr")
    if expr is not None:
        tolerances = None
        if rtol is not None or atol is not None:
            allowance = Tolerance(rtol or 0.0, atol or 0.0, "given on the command line")
            tolerances = dict.fromkeys(DTYPES, allowance)
        domains = parse_domain_options(domain_options or [])
        extra.append(Kernel.from_expr(expr, domains, name="expr", tolerances=tolerances))
    elif rtol is not None or atol is not None:
        raise BadInput("--rtol/--atol apply to --expr; a catalog kernel states its own tolerances")
    if kernels_file:
        extra.extend(load_kernels_file(kernels_file))
    pool = {k.name: k for k in extra}
    pool.update({n: k for n, k in catalog().items() if n not in pool})
    names = split_names(kernel_names)
    sel.kernels = (
        _resolve(names, pool, "kernel", sel.errors) if names else extra or list(pool.values())
    )
    named = _resolve(split_names(backend_names), list(REGISTRY), "backend", sel.errors)
    if named or not split_names(backend_names):
        sel.backends = [get_backend(b) for b in with_variants(named, variants)]
    sel.dtypes = _resolve(split_names(dtype_names) or list(DTYPES), DTYPES, "dtype", sel.errors)
    if not (sel.kernels and sel.backends and sel.dtypes):
        raise BadInput("; ".join(sel.errors) or "nothing selected")
    return sel
