"""The truth: each kernel evaluated with mpmath at high precision, cached by content hash.

The reference is the exact value of the expression *as written* at the exact (already
rounded) input values, computed with ``dps`` significant digits and stored as a
double-double pair ``(hi, lo)`` with ``hi + lo`` accurate to about 32 digits, so errors of
float64 results can be measured in fractions of an ULP.

Where the expression is undefined at a point (mpmath raises, e.g. 0/0 in ``sin(x)/x`` at
``x=0``), the truth is NaN, which is what IEEE arithmetic gives for 0/0: the limit (1 for
``sin(x)/x``) is a property of a different, rewritten expression.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
from dataclasses import dataclass

import mpmath
import numpy as np
import sympy as sp

from .backends.codegen import rebuild_bottom_up, shallow_cse
from .cache import atomic_write_bytes, cache_dir
from .errors import BadInput
from .kernels.core import Kernel, srepr

DEFAULT_DPS = 40
REFERENCE_POINTS = 1000  # larger inputs are checked on this fixed subsample
_FORMAT = 1  # bump when the stored layout or the evaluation rules change

_MEMORY: dict[str, tuple[np.ndarray, np.ndarray]] = {}


class ComplexValued(BadInput):
    """The expression takes complex values inside its domain."""


@dataclass(frozen=True)
class Reference:
    """Reference values at ``indices`` of the input arrays: ``hi + lo`` ~ the exact value."""

    indices: np.ndarray
    hi: np.ndarray
    lo: np.ndarray
    dps: int


def subsample(size: int, points: int = REFERENCE_POINTS, nspecial: int = 0) -> np.ndarray:
    """Fixed indices at which a size-``size`` output is compared: the special points, then an
    even spread over the whole array (deterministic, so records can be re-checked)."""
    if size <= points:
        return np.arange(size)
    spread = np.linspace(0, size - 1, points - nspecial).astype(np.int64)
    return np.unique(np.concatenate([np.arange(nspecial), spread]))


class sb_pow(sp.Function):  # noqa: N801 (printed as a call in the generated mpmath code)
    """``base**exponent`` with a variable exponent, evaluated by ``_bounded_pow``."""

    nargs = 2


MAX_LOG_MAGNITUDE = 2**16  # |ln|x**y|| beyond this: far out of every float format's range


def _bounded_pow(base, exponent):
    """mpmath's ``base**exponent``, except where ``|exponent * ln|base||`` is astronomical.
    There mpmath turns an integer-valued exponent such as 10**(10**10) into a Python int of
    10**10 digits and never returns (``x**x**x**x`` at x = 10); the power is +-inf or 0 in
    every float format, and that is what is returned."""
    if base == 0 or not mpmath.isfinite(base) or mpmath.isnan(exponent):
        return base**exponent
    if mpmath.isinf(exponent):  # an exponent that overflowed: C99's pow, by |base|
        grows = (abs(base) > 1) == (exponent > 0)
        return mpmath.mpf(1) if abs(base) == 1 else (mpmath.inf if grows else mpmath.mpf(0))
    if abs(exponent) < MAX_LOG_MAGNITUDE:  # |ln|base|| <= ~2**30 for any mpf we meet here
        return base**exponent
    t = exponent * mpmath.log(abs(base))
    if abs(t) <= MAX_LOG_MAGNITUDE:
        return base**exponent
    if base < 0:  # real only for an integer exponent; its parity from the mantissa
        man, exp = exponent.man_exp
        if not (exp >= 0 or (exp > -64 and man % (1 << -exp) == 0)):
            return mpmath.mpf("nan")  # complex: the caller reports it like any complex value
        odd = exp == 0 and man % 2 == 1
        sign = -1 if odd else 1
    else:
        sign = 1
    return sign * mpmath.inf if t > 0 else mpmath.mpf(0)


#: an argument beyond which exp, sinh, cosh and gamma are +-inf or 0 in every float format;
#: far above what mpmath computes quickly (exp(1e30) takes a millisecond), far below where
#: the result's exponent no longer fits in memory (exp(exp(exp(1000))) raised MemoryError)
MAX_ARGUMENT = mpmath.mpf(2) ** 100


def _saturating(fn, above, below=None):
    """``fn``, except that an argument beyond +-``MAX_ARGUMENT`` (only an intermediate
    result can be one: no float input is) gives ``above`` or ``below`` directly."""

    def bounded(x):
        if isinstance(x, mpmath.mpf) and mpmath.isfinite(x) and abs(x) > MAX_ARGUMENT:
            if x > 0:
                return above
            if below is not None:
                return below
        return fn(x)

    return bounded


_SATURATING = {
    "exp": _saturating(mpmath.exp, mpmath.inf, mpmath.mpf(0)),
    "sinh": _saturating(mpmath.sinh, mpmath.inf, -mpmath.inf),
    "cosh": _saturating(mpmath.cosh, mpmath.inf, mpmath.inf),
    "gamma": _saturating(mpmath.gamma, mpmath.inf),
}


def _bounded_powers(expr: sp.Basic) -> sp.Basic:
    """Every power with a variable exponent becomes ``sb_pow`` (iteratively: deep is fine)."""

    def leaf(node: sp.Basic) -> sp.Basic | None:
        return None if node.args else node

    def rebuild(node: sp.Basic, args: list[sp.Basic]) -> sp.Basic:
        if isinstance(node, sp.Pow) and not node.exp.is_Number:
            return sb_pow(*args)
        return node.func(*args) if args != list(node.args) else node

    return rebuild_bottom_up(expr, leaf, rebuild)


def _evaluator(kernel: Kernel):
    # shallow_cse: deeply nested expressions become temporaries (Python refuses 200 nested
    # parentheses in one line); it changes how the exact value is computed, not the value.
    return sp.lambdify(
        kernel.args,
        _bounded_powers(kernel.expr),
        modules=[{"sb_pow": _bounded_pow, **_SATURATING}, "mpmath"],
        cse=shallow_cse,
    )


def _to_double_double(value) -> tuple[float, float]:
    if isinstance(value, mpmath.mpc):
        raise TypeError("complex")
    if mpmath.isnan(value):
        return float("nan"), 0.0
    if mpmath.isinf(value):
        return float(value), 0.0
    hi = float(value)
    if not np.isfinite(hi):  # overflows float64: the rounded truth is +-inf
        return hi, 0.0
    return hi, float(value - mpmath.mpf(hi))


def evaluate(kernel: Kernel, columns: list[np.ndarray], dps: int = DEFAULT_DPS):
    """Evaluate ``kernel`` at each row of ``columns`` with ``dps`` digits; returns (hi, lo)."""
    fn = _evaluator(kernel)
    n = len(columns[0]) if columns else 0
    hi = np.empty(n)
    lo = np.empty(n)
    with mpmath.workdps(dps):
        for i in range(n):
            point = [mpmath.mpf(float(c[i])) for c in columns]
            try:
                value = fn(*point)
            except (ZeroDivisionError, ValueError, OverflowError):
                value = mpmath.mpf("nan")
            except MemoryError:  # a magnitude no bound above caught: say where, not a traceback
                raise BadInput(
                    f"kernel {kernel.name}: the reference ran out of memory at "
                    f"{_point(kernel, columns, i)} (an "
                    "intermediate value beyond any float format); narrow the domain"
                ) from None
            if isinstance(value, mpmath.mpc):
                if abs(value.imag) > abs(value) * mpmath.mpf(10) ** (-dps // 2):
                    raise ComplexValued(
                        f"kernel {kernel.name}: expression is complex-valued at "
                        f"{_point(kernel, columns, i)} "
                        f"(value {mpmath.nstr(value, 8)}); narrow the domain"
                    )
                value = value.real
            if not isinstance(value, mpmath.mpf):
                value = mpmath.mpf(value)
            hi[i], lo[i] = _to_double_double(value)
    return hi, lo


def _point(kernel: Kernel, columns: list[np.ndarray], i: int) -> str:
    """Row ``i`` of ``columns`` as ``x=0.5, y=2.0``, for an error that names where."""
    return ", ".join(f"{a}={float(c[i])!r}" for a, c in zip(kernel.args, columns))


def _key(kernel: Kernel, columns: list[np.ndarray], dps: int) -> str:
    h = hashlib.sha256()
    h.update(f"{_FORMAT}|{dps}|{srepr(kernel.expr)}|{kernel.arg_names}".encode())
    for c in columns:
        h.update(c.dtype.str.encode())
        h.update(np.ascontiguousarray(c).tobytes())
    return h.hexdigest()


def reference(
    kernel: Kernel,
    inputs: list[np.ndarray],
    *,
    dps: int = DEFAULT_DPS,
    points: int = REFERENCE_POINTS,
    use_cache: bool = True,
) -> Reference:
    """The reference at a fixed subsample of ``inputs`` (all of them when small).

    Cached in memory and on disk (``<cache>/reference/<sha256>.npz``) by the hash of the
    expression, the precision and the exact input bytes.
    """
    if dps < 30:
        raise BadInput(f"reference precision must be at least 30 digits, got {dps}")
    size = len(inputs[0])
    nspecial = max((len(d.special) for d in kernel.domains), default=0)
    idx = subsample(size, points, nspecial)
    columns = [np.ascontiguousarray(a[idx]) for a in inputs]
    key = _key(kernel, columns, dps)
    if use_cache and key in _MEMORY:
        hi, lo = _MEMORY[key]
        return Reference(idx, hi, lo, dps)
    path = cache_dir("reference") / f"{key}.npz"
    if use_cache and path.exists():
        try:
            with np.load(path) as data:
                hi, lo = data["hi"], data["lo"]
            if hi.shape == (len(idx),):
                _MEMORY[key] = (hi, lo)
                return Reference(idx, hi, lo, dps)
        except Exception:
            pass  # a damaged cache entry is recomputed and overwritten
    hi, lo = evaluate(kernel, columns, dps)
    if use_cache:
        buf = io.BytesIO()
        np.savez(buf, hi=hi, lo=lo)
        with contextlib.suppress(OSError):  # a read-only cache costs time, not correctness
            atomic_write_bytes(path, buf.getvalue())
        _MEMORY[key] = (hi, lo)
    return Reference(idx, hi, lo, dps)
