"""Deliberately wrong backends that the judge must fail.

They are never registered: the tests and ``tools/defect_detection.py`` use them to show
that a tolerance which follows the expression's conditioning still catches real defects.
Each wraps the NumPy backend and breaks one thing:

* ``Float32Arithmetic``: float32 arithmetic where float64 was asked (result cast back);
* ``DroppedTerm``: the smallest top-level term of a sum left out (say one of relative size
  1e-6);
* ``SloppyExp``: ``exp`` replaced by an approximation ``ulps`` ULP off (8 to 16 by default);
* ``NaNInjected``: NaN at every 97th point where the output is finite;
* ``WrongSign``: the sign flipped at every 50th point whose value is at least a hundredth of
  the largest, so away from roots.
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from .backends import get_backend
from .backends.base import Backend, Compiled
from .backends.codegen import lambdified_source, lambdify_checked
from .errors import Unsupported
from .kernels.core import Kernel


class _Defect(Backend):
    library = "numpy"
    requires = ("numpy",)

    def _inner(self, kernel: Kernel, dtype: str, device: str) -> Compiled:
        return get_backend("numpy").compile(kernel, dtype, device)

    def _wrap(self, kernel, dtype, device, fn, source) -> Compiled:
        return Compiled(self.id, kernel.name, dtype, device, fn, source)


class Float32Arithmetic(_Defect):
    id = "defect-float32"

    def _compile(self, kernel, dtype, device):
        inner = self._inner(kernel, "float32", device)

        def fn(*arrays):
            out = inner.fn(*(np.asarray(a, dtype=np.float32) for a in arrays))
            return np.asarray(out, dtype=np.float32).astype(dtype)

        return self._wrap(kernel, dtype, device, fn, inner.source)


class DroppedTerm(_Defect):
    id = "defect-dropped-term"

    def _compile(self, kernel, dtype, device):
        expr = kernel.expr
        if not isinstance(expr, sp.Add):
            raise Unsupported("the kernel is not a sum: no term to drop")
        grid = [np.linspace(d.lo, d.hi, 101) for d in kernel.domains]
        sizes = []
        for term in expr.args:
            try:
                f = sp.lambdify(kernel.args, term, modules="numpy")
                with np.errstate(all="ignore"):
                    values = np.broadcast_to(np.asarray(f(*grid), dtype=float), (101,))
            except (TypeError, ValueError) as exc:
                raise Unsupported(f"cannot size the term {term}: {exc}") from None
            sizes.append(float(np.nanmedian(np.abs(values))))
        smallest = expr.args[int(np.argmin(sizes))]
        if (expr - smallest).free_symbols != expr.free_symbols:
            raise Unsupported("dropping the smallest term would drop an argument")
        rest = Kernel(kernel.name, kernel.args, expr - smallest, kernel.domains)
        inner = self._inner(rest, dtype, device)
        return self._wrap(kernel, dtype, device, inner.fn, inner.source)


class SloppyExp(_Defect):
    id = "defect-sloppy-exp"

    def __init__(self, ulps: int = 8) -> None:
        self.ulps = ulps

    def _compile(self, kernel, dtype, device):
        if not kernel.expr.has(sp.exp):
            raise Unsupported("the kernel calls no exp")
        eps = np.finfo(np.dtype(dtype)).eps
        factor = np.dtype(dtype).type(1 + self.ulps * eps)  # ulps to 2*ulps ULP off

        def sloppy_exp(a):
            return np.exp(a) * factor

        fn = lambdify_checked(kernel, [{"exp": sloppy_exp}, "scipy", "numpy"], self.id)
        return self._wrap(kernel, dtype, device, fn, lambdified_source(fn))


class NaNInjected(_Defect):
    id = "defect-nan"

    def _compile(self, kernel, dtype, device):
        inner = self._inner(kernel, dtype, device)

        def fn(*arrays):
            out = np.array(inner.fn(*arrays), dtype=dtype)
            hit = np.zeros(out.shape, bool)
            hit[::97] = True
            out[hit & np.isfinite(out)] = np.nan
            return out

        return self._wrap(kernel, dtype, device, fn, inner.source)


class WrongSign(_Defect):
    id = "defect-sign"

    def _compile(self, kernel, dtype, device):
        inner = self._inner(kernel, dtype, device)

        def fn(*arrays):
            out = np.array(inner.fn(*arrays), dtype=dtype)
            with np.errstate(all="ignore"):
                big = np.abs(out) >= 0.01 * np.nanmax(np.abs(np.where(np.isfinite(out), out, 0)))
            hit = np.zeros(out.shape, bool)
            hit[::50] = True
            out[hit & big & (out != 0)] *= -1
            return out

        return self._wrap(kernel, dtype, device, fn, inner.source)


DEFECTS: tuple[type[_Defect], ...] = (
    Float32Arithmetic,
    DroppedTerm,
    SloppyExp,
    NaNInjected,
    WrongSign,
)
