"""``numexpr``: ``sympy.lambdify`` to one ``numexpr.evaluate`` string.

numexpr evaluates the whole expression blockwise in cache-sized chunks on its own thread
pool, so no full-size temporaries. It knows a fixed set of functions (no erf, gamma,
Bessel). It types Python float literals as double, so for float32 the constants are passed
in as float32 variables instead (otherwise the whole expression is computed in float64).
"""

from __future__ import annotations

import sys

import numpy as np
import sympy as sp
from sympy.core.parameters import evaluate

from ..errors import Unsupported
from ..kernels.core import Kernel
from .base import Backend, Compiled
from .codegen import lambdified_source, lambdify_checked, with_float_constants

# Measured: a sum of sin(i*x) compiles at 200 terms (598 operations) and runs out of
# numexpr's registers at 400 (1198); compile time grows quadratically on the way.
MAX_OPS = 1000


def _printer_class():
    """SymPy's NumExprPrinter with elementwise Max/Min and bitwise logic: it prints
    ``max(x, y)`` (a reduction in numexpr) and ``and``/``or`` (which numexpr refuses)."""
    from sympy.printing.lambdarepr import NumExprPrinter

    class Printer(NumExprPrinter):
        def _print_And(self, expr):
            return "(" + " & ".join(f"({self._print(a)})" for a in expr.args) + ")"

        def _print_Or(self, expr):
            return "(" + " | ".join(f"({self._print(a)})" for a in expr.args) + ")"

        def _print_Not(self, expr):
            return f"(~({self._print(expr.args[0])}))"

        def _fold(self, expr, op):
            out = self._print(expr.args[0])
            for a in expr.args[1:]:
                b = self._print(a)
                out = f"where(({out}) {op} ({b}), {out}, {b})"
            return out

        def _print_Max(self, expr):
            return self._fold(expr, ">=")

        def _print_Min(self, expr):
            return self._fold(expr, "<=")

    return Printer


class NumexprBackend(Backend):
    id = "numexpr"
    library = "numexpr"
    requires = ("numexpr",)
    threaded = True
    packages = ("numexpr",)
    requirements = {"": ("numexpr>=2.9",)}
    thread_env = ("NUMEXPR_NUM_THREADS", "NUMEXPR_MAX_THREADS")
    threads_var = "NUMEXPR_NUM_THREADS"

    def runtime_settings(self) -> dict:
        if "numexpr" not in sys.modules:
            return {}
        return {"numexpr_threads": sys.modules["numexpr"].get_num_threads()}

    def set_threads(self, n: int) -> None:
        if "numexpr" in sys.modules:
            sys.modules["numexpr"].set_num_threads(n)
        else:
            super().set_threads(n)

    export_kind = "python"
    export_modules = ("numexpr", "numpy", "math")
    export_requires = ("numpy", "numexpr")

    def _compile(self, kernel: Kernel, dtype: str, device: str) -> Compiled:
        import numexpr
        from sympy.printing.lambdarepr import NumExprPrinter

        known = set(NumExprPrinter._numexpr_functions) | {"Piecewise", "Max", "Min"}
        lacking = sorted({type(f).__name__ for f in kernel.expr.atoms(sp.Function)} - known)
        if lacking:
            raise Unsupported(f"numexpr has no {', '.join(lacking)}")
        ops = sp.count_ops(kernel.expr)
        if ops > MAX_OPS:  # numexpr would spend a minute compiling, then run out of registers
            raise Unsupported(f"numexpr's 255 registers do not fit {ops} operations")
        expr = with_float_constants(kernel.expr)
        floats = sorted(expr.atoms(sp.Float), key=float) if dtype == "float32" else []
        limit = (64 if np.lib.NumpyVersion(np.__version__) >= "2.0.0" else 32) - 1
        if len(kernel.args) + len(floats) > limit:
            raise Unsupported(
                f"float32 needs {len(floats)} constants as float32 operands; with "
                f"{len(kernel.args)} arguments that exceeds numexpr's {limit} operands"
            )
        names = tuple(sp.Symbol(f"_sb_c{i}", real=True) for i in range(len(floats)))
        with evaluate(False):  # replacing must not re-evaluate: exp(x)*exp(-x) stays
            expr = expr.xreplace(dict(zip(floats, names)))
        constants = [np.asarray(float(c), dtype=dtype) for c in floats]
        # cse=False: lambdify's numexpr printer emits a single evaluate() string.
        lam = lambdify_checked(
            kernel,
            [{"numexpr": numexpr}],
            self.id,
            cse=False,
            expr=expr,
            extra_args=names,
            printer=_printer_class(),
        )

        def fn(*arrays):
            return lam(*arrays, *constants)

        try:  # numexpr compiles on first call; its program has 255 registers at most
            fn(*(np.ones(1, dtype=dtype) for _ in kernel.args))
        except (ValueError, RuntimeError, MemoryError, SyntaxError, RecursionError) as exc:
            raise Unsupported(f"numexpr cannot compile this expression: {exc}") from None

        source = lambdified_source(lam)
        if constants:
            source += (
                "# float32 constants: "
                + ", ".join(f"{n}={float(c)!r}" for n, c in zip(names, floats))
                + "\n"
            )
        return self._result(
            kernel,
            dtype,
            device,
            fn,
            source,
            build={"printer": "NumExprPrinter", "threads": numexpr.get_num_threads()},
            extra_args=tuple(float(c) for c in floats),
        )
