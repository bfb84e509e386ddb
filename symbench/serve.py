"""``symbench.compile``: a ready callable for serving, with ``backend="auto"``.

The returned ``Served`` is a ``functools.partial`` subclass: calling it goes through
CPython's C-level partial call straight into the backend's function, so the wrapper costs
tens of nanoseconds per call (a Python ``__call__`` would cost more than the kernel itself
at batch 1 for the compiled CPU backends). Host backends take and return NumPy arrays as
they are; JAX on the CPU converts its result to NumPy; on an accelerator, device arrays go
in and come out (the caller synchronizes, as JAX and CuPy users expect).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import sympy as sp

from .backends import Compiled, get_backend
from .equivalence import check_one
from .errors import BadInput
from .kernels import Domain, Kernel, catalog
from .recommend import recommend
from .records import MlflowStore, Store, open_store, text_sha256
from .timing import served_function


class Served(functools.partial):
    """The compiled kernel: ``served(*arrays) -> array``; ``served.metadata`` says what it is
    (kernel, expression, backend, device, dtype, why this backend, equivalence, source)."""

    metadata: dict[str, Any]
    compiled: Compiled


def _as_kernel(
    expr_or_kernel: Kernel | str | sp.Expr,
    domains: Mapping[str, Domain | tuple[float, float] | str] | None,
) -> Kernel:
    if isinstance(expr_or_kernel, Kernel):
        return expr_or_kernel
    if isinstance(expr_or_kernel, str) and expr_or_kernel in catalog() and not domains:
        return catalog()[expr_or_kernel]
    if not domains:
        raise BadInput(
            "an expression needs domains to be checked against the reference, e.g. "
            "symbench.compile('sin(x)/x', domains={'x': (-10, 10)})"
        )
    return Kernel.from_expr(expr_or_kernel, domains, name="served")


def compile(
    expr_or_kernel: Kernel | str | sp.Expr,
    backend: str = "auto",
    *,
    device: str = "cpu",
    dtype: str = "float64",
    batch: int = 1,
    domains: Mapping[str, Domain | tuple[float, float] | str] | None = None,
    max_compile_s: float | None = None,
    store: Store | MlflowStore | str | None = None,
    among: list[str] | None = None,
) -> Served:
    """Compile for serving. ``backend="auto"`` asks ``recommend`` for ``batch`` (from stored
    runs, measuring what is missing; ``among`` limits the candidates) and takes its pick; a
    named backend is compiled as is.
    Either way the result passed its equivalence check, or ``BadInput`` says why not."""
    kernel = _as_kernel(expr_or_kernel, domains)
    chosen: dict[str, Any] = {"by": "caller"}
    if backend == "auto":
        rec = recommend(
            kernel,
            [batch],
            device=device,
            dtype=dtype,
            max_compile_s=max_compile_s,
            store=store if isinstance(store, (Store, MlflowStore)) else open_store(store),
            backends=among,
        )
        pick = rec.picks[0]
        if pick.best is None:
            why = "; ".join(f"{b}: {r}" for b, r in pick.excluded.items())
            raise BadInput(f"no backend passed for {kernel.name} on {device} {dtype} ({why})")
        backend = pick.best.backend
        chosen = {
            "by": "auto",
            "batch": batch,
            "p50_s": pick.best.p50_s,
            "p99_s": pick.best.p99_s,
            "runner_up": pick.runner_up.backend if pick.runner_up else None,
            "margin": pick.margin,
            "run_id": pick.best.run_id,
        }
    b = get_backend(backend)
    compiled = b.compile(kernel, dtype, device)
    check = check_one(kernel, b, dtype, device, compiled=compiled)
    if check.status != "pass":
        raise BadInput(f"{kernel.name} with {backend} {dtype}: {check.status} {check.reason}")
    served = Served(served_function(compiled))
    served.compiled = compiled
    served.metadata = {
        "kernel": kernel.name,
        "expression": str(kernel.expr),
        "args": [str(a) for a in kernel.args],
        "backend": backend,
        "device": device,
        "dtype": dtype,
        "chosen": chosen,
        "max_ulp": check.max_ulp,
        "compile_s": compiled.compile_s,
        "source_sha256": text_sha256(compiled.source),
    }
    return served
