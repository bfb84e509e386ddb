"""Expression preparation and code printing shared by the backends (sympy printers only)."""

from __future__ import annotations

import builtins
import dis
import hashlib
import inspect
from collections.abc import Callable

import sympy as sp
from sympy.core.parameters import distribute
from sympy.core.relational import Relational
from sympy.logic.boolalg import BooleanFunction

from ..errors import Unsupported
from ..kernels.core import Kernel


def with_float_constants(expr: sp.Expr) -> sp.Expr:
    """Turn exact numeric constants (1/3, sqrt(2), pi) into Floats, keeping integer powers.

    Printed as plain literals they take the dtype of the arrays (NumPy's weak scalars,
    C's ``F`` suffix for float32) instead of silently promoting float32 work to float64.
    """
    # distribute(False): SymPy multiplies a number into a sum (0.84*(x + y) becomes
    # 0.84*x + 0.84*y), which turns an exact x + y into two roundings and a cancellation;
    # the generated code must evaluate the expression as written.
    with distribute(False):
        if expr.is_Atom:
            return sp.nfloat(expr, n=17, exponent=False) if isinstance(expr, sp.Expr) else expr
        if isinstance(expr, sp.Expr) and not expr.has(Relational, BooleanFunction):
            return sp.nfloat(expr, n=17, exponent=False)
        # sympy's nfloat fails on conditions (And has no .n()): convert around them.
        return expr.func(*(with_float_constants(a) for a in expr.args))


def lambdify_checked(
    kernel: Kernel,
    modules,
    backend_id: str,
    *,
    cse: bool = True,
    arrays: bool = True,
    expr: sp.Expr | None = None,
    extra_args: tuple[sp.Symbol, ...] = (),
    printer=None,
) -> Callable:
    """``sympy.lambdify`` that fails at compile time, not call time, on unknown functions.

    lambdify prints a function the target library lacks as a plain call (``besselj(0, x)``)
    that only raises NameError when called, or silently binds it to Python's scalar
    ``math`` function, which fails on arrays. Here every global the generated code loads
    must exist in its namespace and, for array backends (``arrays=True``), must not come
    from ``math``; otherwise the kernel is ``Unsupported``.
    """
    expr = with_float_constants(kernel.expr) if expr is None else expr
    try:
        fn = sp.lambdify(
            (*kernel.args, *extra_args), expr, modules=modules, cse=cse, printer=printer
        )
    except (TypeError, NameError, NotImplementedError, KeyError) as exc:
        raise Unsupported(f"{backend_id}: {exc}") from None
    missing = sorted(
        {
            ins.argval
            for ins in dis.get_instructions(fn)
            if ins.opname in ("LOAD_GLOBAL", "LOAD_NAME")
            and ins.argval not in fn.__globals__
            and not hasattr(builtins, ins.argval)
        }
    )
    if missing:
        raise Unsupported(f"{backend_id} has no implementation of {', '.join(missing)}")
    if arrays:
        scalar = sorted(
            {
                ins.argval
                for ins in dis.get_instructions(fn)
                if ins.opname in ("LOAD_GLOBAL", "LOAD_NAME")
                and getattr(fn.__globals__.get(ins.argval), "__module__", None) == "math"
            }
        )
        if scalar:
            raise Unsupported(
                f"{backend_id} has no array implementation of {', '.join(scalar)} "
                "(lambdify would fall back to Python's scalar math module)"
            )
    return fn


def lambdified_source(fn: Callable) -> str:
    return inspect.getsource(fn)


def c_printer(dtype: str):
    """SymPy's C99 printer for ``dtype``: float32 prints ``sinf``/``1.0F`` (no double promotion)."""
    from sympy.codegen.ast import float32, float64, real
    from sympy.printing.c import C99CodePrinter

    alias = {"float64": float64, "float32": float32}[dtype]
    return C99CodePrinter(settings={"type_aliases": {real: alias}, "strict": True})


C_TYPES = {"float64": "double", "float32": "float"}


def c_function(kernel: Kernel, dtype: str, name: str, qualifiers: str = "static inline") -> str:
    """A C function ``name(args) -> value`` computing the kernel, with CSE temporaries.

    Raises ``Unsupported`` when the C99 printer cannot express a function (e.g. Bessel).
    """
    from sympy.printing.codeprinter import PrintMethodNotImplementedError

    ctype = C_TYPES[dtype]
    printer = c_printer(dtype)
    expr = with_float_constants(kernel.expr)
    replacements, (reduced,) = sp.cse(expr, symbols=sp.numbered_symbols("t"))
    try:
        lines = [f"    const {ctype} {s} = {printer.doprint(v)};" for s, v in replacements]
        lines.append(f"    return {printer.doprint(reduced)};")
    except PrintMethodNotImplementedError as exc:
        first = str(exc).splitlines()[0]
        raise Unsupported(f"C99 code printer: {first}") from None
    params = ", ".join(f"{ctype} {a}" for a in kernel.arg_names)
    body = "\n".join(lines)
    return f"{qualifiers} {ctype} {name}({params}) {{\n{body}\n}}\n"


def source_hash(*parts: str) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p.encode())
        h.update(b"\0")
    return h.hexdigest()
