"""Expression preparation and code printing shared by the backends (sympy printers only)."""

from __future__ import annotations

import builtins
import dis
import functools
import hashlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass

import sympy as sp
from sympy.core.parameters import distribute

from ..errors import Unsupported
from ..kernels.core import Kernel


@functools.lru_cache(maxsize=64)
def with_float_constants(expr: sp.Expr) -> sp.Expr:
    """Turn exact numeric constants (1/3, sqrt(2), pi) into Floats, keeping integer powers.

    Printed as plain literals they take the dtype of the arrays (NumPy's weak scalars,
    C's ``F`` suffix for float32) instead of silently promoting float32 work to float64.
    Remembered per expression: every backend starts from it, and re-creating the nodes of
    a large expression is slow in SymPy (a 3000-term sum of sines: about 6 s).
    """

    # distribute(False): SymPy multiplies a number into a sum (0.84*(x + y) becomes
    # 0.84*x + 0.84*y), which turns an exact x + y into two roundings and a cancellation;
    # the generated code must evaluate the expression as written. The walk is iterative and
    # evaluates each maximal constant subtree once (sympy.nfloat evaluates every function
    # node's whole subtree, which is cubic in the nesting depth, and fails on conditions).
    def leaf(node: sp.Basic) -> sp.Basic | None:
        if isinstance(node, sp.Expr) and not node.free_symbols:
            return _as_float(node)
        return None if node.args else node

    def rebuild(node: sp.Basic, args: list[sp.Basic]) -> sp.Basic:
        if isinstance(node, sp.Pow) and node.exp.is_number:
            args[1] = node.exp  # keep exponents exact: x**2 stays a square
        if isinstance(node, sp.Mul):  # -x stays a negation, not a product with -1.0
            args = [a if a is sp.S.NegativeOne else r for a, r in zip(node.args, args)]
        if args == list(node.args):
            return node
        out = node.func(*args)
        if isinstance(out, sp.Expr) and out.is_number and not node.is_number:
            # Evaluating with float constants cancelled every variable away (exp(x)*exp(-x-1)
            # became 0.37): keep the product as written, so the result is still an array.
            out = node.func(*args, evaluate=False)
        return out

    with distribute(False):
        return rebuild_bottom_up(expr, leaf, rebuild)


def rebuild_bottom_up(
    expr: sp.Basic,
    leaf: Callable[[sp.Basic], sp.Basic | None],
    rebuild: Callable[[sp.Basic, list[sp.Basic]], sp.Basic],
) -> sp.Basic:
    """Rebuild ``expr`` from the bottom up without recursion (deep expressions are fine):
    ``leaf(node)`` gives a node's replacement without looking inside (None: look inside),
    ``rebuild(node, new_args)`` the replacement of a node from its children's. Shared
    subexpressions are visited once."""
    done: dict[sp.Basic, sp.Basic] = {}
    stack = [(expr, False)]
    while stack:
        node, ready = stack.pop()
        if node in done:
            continue
        if not ready:
            replaced = leaf(node)
            if replaced is not None:
                done[node] = replaced
                continue
            stack.append((node, True))
            stack.extend((a, False) for a in node.args if a not in done)
            continue
        done[node] = rebuild(node, [done[a] for a in node.args])
    return done[expr]


def _as_float(node: sp.Expr) -> sp.Expr:
    value = node.evalf(17)
    return sp.Float(value, 17) if isinstance(value, sp.Float) else value


MAX_NESTING = 40  # Python's parser refuses 200 nested parentheses; compilers slow down too


def shallow_cse(exprs, symbols=None, *, eliminate: bool = True, **kwargs):
    """``sympy.cse``, then every subexpression nested ``MAX_NESTING`` deep becomes a
    temporary of its own, so generated code never nests deeper than that (a 500-deep
    ``sin(sin(...))`` is valid SymPy but not valid Python in one line). Same signature and
    result as ``sympy.cse``: lambdify accepts it as ``cse=``. ``eliminate=False`` skips
    ``sympy.cse`` and makes only the temporaries that bound the nesting."""
    symbols = iter(symbols if symbols is not None else sp.numbered_symbols("x"))
    single = isinstance(exprs, sp.Basic)  # lambdify passes one expression, wants one back
    if eliminate:
        replacements, reduced = sp.cse([exprs] if single else exprs, symbols=symbols, **kwargs)
    else:
        replacements, reduced = [], [exprs] if single else list(exprs)
    out: list[tuple[sp.Symbol, sp.Basic]] = []

    depth: dict[sp.Basic, int] = {}  # of each rebuilt node, in levels since a temporary

    def leaf(node: sp.Basic) -> sp.Basic | None:
        if node.args and not isinstance(node, (sp.Symbol, sp.Number)):
            return None
        depth[node] = 0
        return node

    def rebuild(node: sp.Basic, args: list[sp.Basic]) -> sp.Basic:
        new = node.func(*args) if args != list(node.args) else node
        d = 1 + max(depth.get(a, 0) for a in args)
        if d >= MAX_NESTING and isinstance(new, sp.Expr):
            temp = next(symbols)
            out.append((temp, new))
            new, d = temp, 0
        depth[new] = d
        return new

    def flatten(expr: sp.Basic) -> sp.Basic:
        return rebuild_bottom_up(expr, leaf, rebuild)

    for sym, value in replacements:
        out.append((sym, flatten(value)))
    reduced = [flatten(e) for e in reduced]
    return out, (reduced[0] if single else reduced)


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
            (*kernel.args, *extra_args),
            expr,
            modules=modules,
            cse=shallow_cse if cse else False,
            printer=printer,
        )
    except (TypeError, NameError, NotImplementedError, KeyError, SyntaxError) as exc:
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

#: the highest integer power written out as multiplications by ``Variant.pow_as_mul``
POW_LIMIT = 8


@dataclass(frozen=True)
class Variant:
    """How a code-generating backend writes its kernel: one choice per field, recorded in
    every build. A variant backend (``cython-fastmath``) is its base with one field changed,
    so what the change buys, and what it costs in ULP, is measured against the base alone."""

    cse: bool = True  # SymPy's cse: each repeated subexpression computed once
    pow_as_mul: bool = False  # x**k, |k| <= POW_LIMIT, as x*x*...*x (SymPy's codegen rewriting)
    fast_math: bool = False  # gcc -Ofast with glibc's vector math; numba fastmath=True

    def describe(self) -> dict:
        return {"cse": self.cse, "pow_as_mul": self.pow_as_mul, "fast_math": self.fast_math}


BASE = Variant()


def pow_as_mul(expr: sp.Basic) -> sp.Basic:
    """Integer powers of any base (``x**8``, ``(x+1)**2``) as unevaluated products, which the
    C printer writes as ``x*x*...``: gcc does not expand ``pow(x, 8)`` without fast-math."""
    from sympy.codegen.rewriting import create_expand_pow_optimization

    expand = create_expand_pow_optimization(POW_LIMIT, base_req=lambda b: True)
    return expand(expr)


def c_function(
    kernel: Kernel,
    dtype: str,
    name: str,
    qualifiers: str = "static inline",
    variant: Variant = BASE,
) -> str:
    """A C function ``name(args) -> value`` computing the kernel, with CSE temporaries
    (as ``variant`` says).

    Raises ``Unsupported`` when the C99 printer cannot express a function (e.g. Bessel).
    """
    from sympy.printing.codeprinter import PrintMethodNotImplementedError

    ctype = C_TYPES[dtype]
    printer = c_printer(dtype)
    expr = with_float_constants(kernel.expr)
    symbols = sp.numbered_symbols("t")
    replacements, (reduced,) = shallow_cse([expr], symbols=symbols, eliminate=variant.cse)
    if variant.pow_as_mul:
        replacements = [(s, pow_as_mul(v)) for s, v in replacements]
        reduced = pow_as_mul(reduced)
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
