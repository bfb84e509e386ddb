"""How much error a point may have: the expression's own conditioning, scaled by the
measured error of the backend's math library.

**The rule.** A backend's result at a point passes when its error against the mpmath truth
is at most ``SAFETY`` times the *running error bound* of the expression as written, at
that point, in that dtype. The bound is first-order forward error analysis (Wilkinson's
running error analysis; Higham, *Accuracy and Stability of Numerical Algorithms*, 2nd ed.,
3.3): walking the expression tree once, every node carries its value and a bound on the
absolute error a correct IEEE evaluation can have accumulated there::

    leaf x            exact (inputs are already rounded to the dtype)
    constant c        u|c| twice over (a constant is rounded once or twice) unless exact
    a1 + ... + an     sum of the Ei  +  u(|v| + (n-2) sum|ai|)    (any summation order)
    a1 * ... * an     sum_i Ei prod_{j!=i}|aj|  +  (n-1) u|v|
    b ** n (integer)  |n b^(n-1)| Eb  +  (multiplications it takes) u|v|
    f(a) (library)    |f'(a)| Ea  +  (1 ULP, times the measured error of f's family)

with ``u`` the dtype's unit roundoff, plus the dtype's smallest normal number per
operation for underflow (covering flush-to-zero). Cancellation is therefore allowed
exactly where it is inherent: ``8x**3 - 12x`` next to its root keeps the absolute errors
of ``8x**3`` and ``12x`` while its value goes to zero, so the relative error a correct
evaluation makes there is large and the bound says so; away from roots the bound is a
few ULP and a real defect shows.

Why this method and not rounding-emulation in mpmath: the bound is an upper bound for
*every* correct evaluation order (backends reorder sums, use FMA, print ``x**2`` as ``x*x``
or ``pow``), whereas one emulated evaluation describes one order only; and it is one
vectorised NumPy pass per node, so a 10 000-term expression costs milliseconds, not the
minutes that per-point mpmath arithmetic would.

The bound is kept split by source (``ARITH`` for arithmetic and constants, one part per
function family), because first-order propagation is linear in the local errors: a
backend whose ``exp`` was measured at 2 ULP (``math_accuracy.toml``, ``symbench
accuracy``) gets the ``exp`` part doubled and nothing else. Only last-bit errors are
absorbed: a family measured above ``LAST_BITS_ULP`` scales nothing, so a diverging
library fails and must be declared in ``divergences.toml`` with its reason.

A kernel may add an explicit allowance (``Tolerance(rtol, atol, reason)``); none of the
catalog's kernels needs one.
"""

from __future__ import annotations

import math
import sys
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np
import sympy as sp
from sympy.functions.elementary.piecewise import ExprCondPair

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

from .backends import REGISTRY, get_backend
from .errors import BadInput
from .kernels.core import Kernel, Tolerance

SAFETY = 2.0  # the bound is first order: room for second-order terms and FMA-free paths
BASELINE_ULP = 1.0  # what the bound assumes of a math function without a measurement
LAST_BITS_ULP = 8.0  # above this a library's error is a divergence, not rounding noise
WELL_CONDITIONED_ULP = 64.0  # max ULP is reported where the bound allows at most this
FALLBACK_ULP = 512.0  # where no bound can be computed: about the old fixed rtol (1e-13, 3e-5)
ARITH = "arithmetic"

# Function families: the SymPy functions whose library error one measurement describes.
FAMILY_FUNCTIONS: Mapping[str, tuple[str, ...]] = {
    "exp": ("exp",),
    "log": ("log",),
    "sqrt": ("sqrt",),
    "pow": ("Pow",),
    "trig": ("sin", "cos", "tan"),
    "inverse_trig": ("asin", "acos", "atan", "atan2"),
    "hyperbolic": ("sinh", "cosh"),
    # Its own family: XLA's tanh is ~6 ULP off near saturation, and must not be judged by
    # its sinh (17-24 ULP, a divergence) nor the other way round.
    "tanh": ("tanh",),
    "erf": ("erf",),
    # Its own family: erfc's tail, where exp(-x*x) must be computed without rounding x*x,
    # is where libraries differ most (tens of ULP), and erf must not pay for that.
    "erfc": ("erfc",),
    "gamma": ("gamma",),
}
_BY_FUNCTION = {fn: fam for fam, fns in FAMILY_FUNCTIONS.items() for fn in fns}


def families_of(expr: sp.Expr) -> frozenset[str]:
    """The measured function families ``expr`` calls. A power with an integer exponent is
    repeated multiplication and a power of constants is a constant: neither calls ``pow``."""
    found = set()
    for node in sp.preorder_traversal(expr):
        if isinstance(node, sp.Pow):
            if node.exp.is_Integer or not node.free_symbols:
                continue
            found.add("sqrt" if abs(node.exp) == sp.S.Half else "pow")
        elif isinstance(node, sp.Function):
            family = _BY_FUNCTION.get(type(node).__name__)
            if family:
                found.add(family)
    return frozenset(found)


def device_kind(device: str) -> str:
    """``gpu:0`` -> ``gpu``: accuracy belongs to a library on a kind of device."""
    return device.split(":", 1)[0]


# --------------------------------------------------------------------------- measured table


@dataclass(frozen=True)
class Measured:
    """One measured family: the worst error of a backend's probes on a kind of device."""

    backend: str
    device: str  # device kind: cpu, gpu, tpu
    dtype: str
    family: str
    max_ulp: float
    worst: str  # the probe and input of the worst error
    machine: str
    library: str
    command: str
    date: str

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.backend, self.device, self.dtype, self.family)


def load(path: str | Path | None = None) -> dict[tuple[str, str, str, str], Measured]:
    """The entries of the packaged ``math_accuracy.toml`` (or of ``path``), by key."""
    name = str(path) if path is not None else "math_accuracy.toml"
    try:
        text = (
            Path(path).read_text()
            if path is not None
            else files("symbench").joinpath("math_accuracy.toml").read_text()
        )
        data = tomllib.loads(text)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise BadInput(f"accuracy table {name}: {exc}") from None
    fields = Measured.__dataclass_fields__
    table = {}
    for i, item in enumerate(data.get("measured", [])):
        missing = [f for f in fields if f not in item]
        if missing:
            raise BadInput(f"accuracy table {name}, entry {i}: missing {', '.join(missing)}")
        if item["family"] not in FAMILY_FUNCTIONS:
            raise BadInput(f"accuracy table {name}, entry {i}: unknown family {item['family']!r}")
        try:
            entry = Measured(**{f: item[f] for f in fields} | {"max_ulp": float(item["max_ulp"])})
        except (TypeError, ValueError):
            raise BadInput(f"accuracy table {name}, entry {i}: max_ulp must be a number") from None
        table[entry.key] = entry
    return table


_TABLE: dict | None = None


def accuracy_of(backend: str) -> str:
    """The backend id whose ``math_accuracy.toml`` entries apply to ``backend`` (a variant
    calling its base's math functions shares them; see ``Backend.accuracy_of``)."""
    return get_backend(backend).accuracy_of() if backend in REGISTRY else backend


def table() -> dict[tuple[str, str, str, str], Measured]:
    global _TABLE
    if _TABLE is None:
        _TABLE = load()
    return _TABLE


@dataclass(frozen=True)
class Effective:
    """How a pair's bound is scaled: one factor per measured family, and why."""

    scales: Mapping[str, float]
    why: str

    @property
    def scale(self) -> float:
        """The largest factor (1 when nothing is scaled)."""
        return max(self.scales.values(), default=1.0)


def effective_tolerance(
    kernel: Kernel,
    backend: str,
    device: str,
    dtype: str,
    entries: Mapping[tuple[str, str, str, str], Measured] | None = None,
) -> Effective:
    """The factor on each function family's part of the bound for this pair: the family's
    measured max ULP where it lies between 1 and ``LAST_BITS_ULP``, otherwise 1."""
    entries = table() if entries is None else entries
    kind = device_kind(device)
    scales: dict[str, float] = {}
    why = []
    backend = accuracy_of(backend)
    for family in sorted(families_of(kernel.expr)):
        m = entries.get((backend, kind, dtype, family))
        if m is None or not BASELINE_ULP < m.max_ulp <= LAST_BITS_ULP:
            continue
        scales[family] = m.max_ulp / BASELINE_ULP
        why.append(
            f"{family} measured at {m.max_ulp:.3g} ULP on {backend}/{kind} {dtype} "
            f"({m.machine}, {m.date})"
        )
    return Effective(scales, "; ".join(why))


# --------------------------------------------------------------------------- the bound


class NoErrorModel(Exception):
    """The expression uses something the running bound has no rule for."""


Parts = dict[str, np.ndarray]  # error bound by source, absolute, per point


@dataclass(frozen=True)
class Bound:
    """Per point: what a correct evaluation in ``dtype`` may be off by, split by source
    (``ARITH`` and one part per function family, each assuming a 1-ULP library).

    ``unknown`` says why no bound could be computed (then ``parts`` is empty and every
    point falls back to ``FALLBACK_ULP``)."""

    dtype: str
    points: int
    parts: Mapping[str, np.ndarray] = field(default_factory=dict)
    unknown: str = ""
    # points where some intermediate value of the expression as written exceeds the dtype's
    # range: there every correct evaluation gives inf or NaN, whatever the final value
    overflow: np.ndarray | None = None

    def total(self, scales: Mapping[str, float] | None = None) -> np.ndarray:
        scales = scales or {}
        out = np.zeros(self.points)
        for name, part in self.parts.items():
            out = out + scales.get(name, 1.0) * part
        return out


def _exact_in(value: sp.Basic, dtype: str) -> bool:
    """Whether a numeric leaf is exactly representable in ``dtype``."""
    if not isinstance(value, (sp.Rational, sp.Float)):
        return False
    try:
        f = float(value)
    except (TypeError, ValueError, OverflowError):
        return False
    if not math.isfinite(f) or sp.Rational(f) != sp.Rational(value):
        return False
    return float(np.dtype(dtype).type(f)) == f


def _with(parts: Parts, name: str, extra: np.ndarray) -> Parts:
    out = dict(parts)
    out[name] = out[name] + extra if name in out else extra
    return out


def _scaled(parts: Parts, sens: np.ndarray) -> Parts:
    """``sens * parts``, where a zero error stays zero even at an infinite sensitivity."""
    return {k: np.where(p == 0, 0.0, sens * p) for k, p in parts.items()}


def _sum(items: Sequence[Parts]) -> Parts:
    out: Parts = {}
    for parts in items:
        for k, p in parts.items():
            out[k] = out[k] + p if k in out else p
    return out


def _total(parts: Parts, n: int) -> np.ndarray:
    return sum(parts.values(), np.zeros(n))


_VALUE_FNS: dict[tuple[type, int], Callable] = {}
_DERIV_FNS: dict[tuple[type, int, int], Callable | None] = {}


def _dummies(n: int) -> tuple[sp.Symbol, ...]:
    return tuple(sp.Dummy(f"a{i}", real=True) for i in range(n))


def _mp_vectorised(args, expr) -> Callable:
    """Fallback for a function NumPy/SciPy lack: mpmath point by point."""
    import mpmath

    fn = sp.lambdify(args, expr, modules="mpmath")

    def call(*cols):
        def one(*p):
            try:
                with mpmath.workdps(30):
                    v = fn(*(mpmath.mpf(float(c)) for c in p))
                return float(v.real) if isinstance(v, mpmath.mpc) else float(v)
            except (ValueError, ZeroDivisionError, OverflowError, TypeError):
                return float("nan")

        return np.frompyfunc(one, len(cols), 1)(*cols).astype(np.float64)

    return call


def _array_fn(args, expr) -> Callable:
    """``expr`` of ``args`` on float64 arrays: SciPy/NumPy when they can, else mpmath."""
    try:
        fn = sp.lambdify(args, expr, modules=["scipy", "numpy"])
        probe = [np.array([0.5, 1.5])] * len(args)
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = np.asarray(fn(*probe), dtype=np.float64)
        if out.shape not in ((2,), ()):
            raise TypeError("not elementwise")
        return fn
    except Exception:
        return _mp_vectorised(args, expr)


def _function_value(node: sp.Function) -> Callable:
    key = (node.func, len(node.args))
    if key not in _VALUE_FNS:
        d = _dummies(len(node.args))
        _VALUE_FNS[key] = _array_fn(d, node.func(*d))
    return _VALUE_FNS[key]


def _function_derivative(node: sp.Function, i: int) -> Callable | None:
    key = (node.func, len(node.args), i)
    if key not in _DERIV_FNS:
        d = _dummies(len(node.args))
        try:
            deriv = sp.diff(node.func(*d), d[i])
        except Exception:
            deriv = None
        if deriv is None or deriv.has(sp.Derivative, sp.Subs, sp.DiracDelta):
            _DERIV_FNS[key] = None
        else:
            _DERIV_FNS[key] = _array_fn(d, deriv)
    return _DERIV_FNS[key]


def _call(fn: Callable, cols: Sequence[np.ndarray], n: int) -> np.ndarray:
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = np.asarray(fn(*cols), dtype=np.float64)
    return np.broadcast_to(out, (n,)).copy() if out.shape != (n,) else out


@dataclass
class _Logic:
    """A condition's truth per point, and where rounding could flip it."""

    value: np.ndarray
    uncertain: np.ndarray


class _Propagator:
    """One bottom-up pass over the expression DAG (iterative: deep nesting is fine)."""

    def __init__(self, args: Sequence[sp.Symbol], columns: Sequence[np.ndarray], dtype: str):
        self.n = len(columns[0]) if columns else 0
        self.columns = {a: np.asarray(c, dtype=np.float64) for a, c in zip(args, columns)}
        info = np.finfo(np.dtype(dtype))
        self.dtype = dtype
        self.u = float(info.eps) / 2
        self.eta = float(info.tiny)
        self.max = float(info.max)
        self.overflow = np.zeros(self.n, bool)

    def run(self, expr: sp.Basic):
        memo: dict[sp.Basic, Any] = {}
        stack: list[tuple[sp.Basic, bool]] = [(expr, False)]
        while stack:
            node, ready = stack.pop()
            if node in memo:
                continue
            children = [] if self._is_leaf(node) else list(node.args)
            if ready or not children:
                memo[node] = value = self.rule(node, [memo[c] for c in children])
                if isinstance(value, tuple) and len(value) == 2 and isinstance(value[1], dict):
                    with np.errstate(all="ignore"):
                        self.overflow |= np.abs(value[0]) > self.max
            else:
                stack.append((node, True))
                stack.extend((c, False) for c in children if c not in memo)
        return memo[expr]

    @staticmethod
    def _is_leaf(node: sp.Basic) -> bool:
        return node.is_Atom or (isinstance(node, sp.Expr) and node.is_number and not node.args)

    def rounding(self, v: np.ndarray, ops: float = 1.0) -> np.ndarray:
        return ops * (self.u * np.abs(v) + self.eta)

    def rule(self, node: sp.Basic, kids: list):
        n = self.n
        with np.errstate(all="ignore"):
            if isinstance(node, sp.Symbol):
                return self.columns[node], {}
            if isinstance(node, (sp.Number, sp.NumberSymbol)) or (
                node.is_Atom and getattr(node, "is_number", False)
            ):
                try:
                    c = float(node)
                except (TypeError, ValueError, OverflowError):
                    c = float("nan")
                v = np.full(n, c)
                err = np.zeros(n) if _exact_in(node, self.dtype) else 2 * self.u * np.abs(v)
                return v, {ARITH: err}
            if isinstance(node, sp.Add):
                return self.add(kids)
            if isinstance(node, sp.Mul):
                return self.mul(node, kids)
            if isinstance(node, sp.Pow):
                return self.pow(node, kids)
            if isinstance(node, sp.Piecewise):
                return self.piecewise(kids)
            if isinstance(node, ExprCondPair):
                return tuple(kids)
            if isinstance(node, sp.core.relational.Relational):
                return self.relational(node, kids)
            if isinstance(node, (sp.And, sp.Or, sp.Not, sp.Xor)):
                values = np.array([k.value for k in kids])
                op = {sp.And: np.all, sp.Or: np.any}.get(type(node))
                if isinstance(node, sp.Not):
                    value = ~kids[0].value
                elif isinstance(node, sp.Xor):
                    value = np.logical_xor.reduce(values)
                else:
                    value = op(values, axis=0)
                return _Logic(value, np.any([k.uncertain for k in kids], axis=0))
            if node in (sp.true, sp.false):
                return _Logic(np.full(n, bool(node)), np.zeros(n, bool))
            if isinstance(node, (sp.Max, sp.Min)):
                return self.max_min(node, kids)
            if isinstance(node, sp.Abs):
                ((v, e),) = kids
                return np.abs(v), e
            if isinstance(node, (sp.sign, sp.floor, sp.ceiling, sp.Heaviside)):
                return self.step(node, kids)
            if isinstance(node, sp.Function):
                return self.function(node, kids)
        raise NoErrorModel(f"no error model for {type(node).__name__}")

    def add(self, kids):
        values = [v for v, _ in kids]
        v = np.sum(values, axis=0)
        spread = np.sum(np.abs(values), axis=0)
        local = self.u * (np.abs(v) + (len(kids) - 2) * spread) + (len(kids) - 1) * self.eta
        return v, _with(_sum([e for _, e in kids]), ARITH, local)

    def mul(self, node, kids):
        values = [v for v, _ in kids]
        mags = np.abs(values)
        # prod_{j != i} |v_j| from prefix and suffix products (no division: zeros are fine)
        prefix = np.cumprod(np.vstack([np.ones(self.n), mags[:-1]]), axis=0)
        suffix = np.cumprod(np.vstack([np.ones(self.n), mags[::-1][:-1]]), axis=0)[::-1]
        parts = _sum([_scaled(e, prefix[i] * suffix[i]) for i, (_, e) in enumerate(kids)])
        v = np.prod(values, axis=0)
        ops = len(kids) - 1 - sum(1 for a in node.args if a in (sp.S.NegativeOne, sp.S.One))
        return v, _with(parts, ARITH, self.rounding(v, max(ops, 0)))

    def pow(self, node, kids):
        (b, eb), (p, ep) = kids
        v = np.power(b, p)
        expo = node.exp
        sens_b = np.abs(p * np.power(b, p - 1))
        parts = _scaled(eb, sens_b)
        if expo.is_Integer:
            k = abs(int(expo))
            ops = min(k - 1, 2 * k.bit_length()) + (1 if expo < 0 else 0)
            return v, _with(parts, ARITH, self.rounding(v, max(ops, 1 if k != 1 else 0)))
        parts = _sum([parts, _scaled(ep, np.abs(v * np.log(np.abs(b))))])
        family = "sqrt" if abs(expo) == sp.S.Half else "pow"
        parts = _with(parts, family, self.rounding(v, 2.0))
        if expo.is_number and expo < 0:
            parts = _with(parts, ARITH, self.rounding(v))
        return v, parts

    def function(self, node, kids):
        cols = [v for v, _ in kids]
        try:
            v = _call(_function_value(node), cols, self.n)
        except Exception as exc:  # an undefined function, or one no library evaluates
            raise NoErrorModel(f"cannot evaluate {type(node).__name__}: {exc}") from None
        terms = []
        value_fn = _function_value(node)
        for i, (a, e) in enumerate(kids):
            if not any(np.any(p != 0) for p in e.values()):
                continue
            deriv = _function_derivative(node, i)
            if deriv is None:
                raise NoErrorModel(f"no derivative of {type(node).__name__} in argument {i + 1}")
            # First order holds while the argument's error is small against the function's
            # curvature. Over the widest interval the argument may stray (the bound times
            # SAFETY and the largest scale), take the largest |f'| at five points; where it
            # varies that much (sin of a rounded 1e15) also allow the range f spans there.
            reach = SAFETY * LAST_BITS_ULP * _total(e, self.n)
            slopes, spans = [], []
            for t in (0.0, -0.5, 0.5, -1.0, 1.0):
                shifted = [*cols[:i], a + t * reach, *cols[i + 1 :]]
                slopes.append(np.abs(_call(deriv, shifted, self.n)))
                if t:
                    spans.append(np.abs(_call(value_fn, shifted, self.n) - v))
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: NaN, handled
                slope = np.nanmax(slopes, axis=0)
                nonlinear = slope > 2 * slopes[0]
                span = np.where(nonlinear, np.nanmax(spans, axis=0) / SAFETY, 0.0)
            terms.append(_scaled(e, np.where(np.isnan(slope), slopes[0], slope)))
            terms.append({ARITH: np.nan_to_num(span, nan=0.0)})
        name = type(node).__name__
        family = _BY_FUNCTION.get(name, name)
        return v, _with(_sum(terms), family, self.rounding(v, 2.0))

    def max_min(self, node, kids):
        values = np.array([v for v, _ in kids])
        v = values.max(axis=0) if isinstance(node, sp.Max) else values.min(axis=0)
        names = {k for _, e in kids for k in e}
        zero = np.zeros(self.n)
        # 1-Lipschitz in the max norm: the largest error of any argument bounds it
        return v, {k: np.max([e.get(k, zero) for _, e in kids], axis=0) for k in names}

    def step(self, node, kids):
        (a, e) = kids[0]
        err = _total(e, self.n)
        if isinstance(node, (sp.floor, sp.ceiling)):
            v = np.floor(a) if isinstance(node, sp.floor) else np.ceil(a)
            near = np.minimum(a - np.floor(a), np.ceil(a) - a) <= err
            jump = 1.0
        else:
            v = _call(_function_value(node), [k[0] for k in kids], self.n)
            near = np.abs(a) <= err
            jump = 2.0 if isinstance(node, sp.sign) else 1.0
        return v, {ARITH: np.where(near & (err > 0), jump, 0.0)}

    def relational(self, node, kids):
        (lhs, el), (rhs, er) = kids
        ops = {
            sp.StrictLessThan: np.less,
            sp.LessThan: np.less_equal,
            sp.StrictGreaterThan: np.greater,
            sp.GreaterThan: np.greater_equal,
            sp.Equality: np.equal,
            sp.Unequality: np.not_equal,
        }
        op = ops.get(type(node))
        if op is None:
            raise NoErrorModel(f"no error model for {type(node).__name__}")
        err = _total(el, self.n) + _total(er, self.n)
        return _Logic(op(lhs, rhs), (np.abs(lhs - rhs) <= err) & (err > 0))

    def piecewise(self, kids):
        v = np.full(self.n, np.nan)
        parts: Parts = {}
        decided = np.zeros(self.n, bool)
        uncertain = np.zeros(self.n, bool)
        for (bv, be), cond in kids:
            take = cond.value & ~decided
            uncertain |= cond.uncertain & ~decided
            v = np.where(take, bv, v)
            for k, p in be.items():
                parts[k] = np.where(take, p, parts.get(k, np.zeros(self.n)))
            decided |= take
        # where rounding could pick another branch, any branch's value is a correct answer
        jumps = [np.where(uncertain, np.abs(bv - v), 0.0) for (bv, _), _ in kids]
        jump = np.nan_to_num(np.max(jumps, axis=0), nan=0.0, posinf=np.inf)
        return v, _with(parts, ARITH, jump)


def running_bound(kernel: Kernel, columns: Sequence[np.ndarray], dtype: str) -> Bound:
    """The running error bound of ``kernel`` at each row of ``columns`` (exact inputs)."""
    n = len(columns[0]) if columns else 0
    propagator = _Propagator(kernel.args, columns, dtype)
    try:
        value = propagator.run(kernel.expr)
    except (NoErrorModel, RecursionError) as exc:
        return Bound(dtype, n, {}, str(exc) or type(exc).__name__)
    if isinstance(value, _Logic):
        return Bound(dtype, n, {}, "a condition is not an expression")
    _, parts = value
    return Bound(
        dtype,
        n,
        {k: np.broadcast_to(p, (n,)).copy() for k, p in parts.items()},
        overflow=propagator.overflow,
    )


# --------------------------------------------------------------------------- allowed error


@dataclass(frozen=True)
class Allowed:
    """The error each compared point may have for one pair, and how it was made."""

    error: np.ndarray  # absolute, per reference point
    effective: Effective
    extra: Tolerance
    unbounded: int  # points where the bound is infinite (ill-conditioned at a singularity)
    fallback: int  # points judged by FALLBACK_ULP because no bound could be computed
    unknown: str
    overflow: np.ndarray  # points where the expression as written overflows the dtype

    def describe(self, index: int | None, truth: float | None, dtype: str) -> dict[str, Any]:
        """What the result records: the method, the scaling, and the bound at ``index``."""
        u = float(np.finfo(np.dtype(dtype)).eps) / 2
        d: dict[str, Any] = {
            "method": "running error bound" if not self.unknown else "fallback",
            "safety": SAFETY,
            "scale": self.effective.scale,
            "scales": dict(self.effective.scales),
            "why": self.effective.why,
            "rtol": self.extra.rtol,
            "atol": self.extra.atol,
            "extra_reason": self.extra.reason,
            "unbounded_points": self.unbounded,
            "fallback_points": self.fallback,
            "overflow_points": int(self.overflow.sum()),
        }
        if self.unknown:
            d["unknown"] = self.unknown
        if index is not None:
            at = float(self.error[index])
            d["at_worst"] = {
                "allowed": at,
                "units_of_u_truth": at / (u * abs(truth)) if truth else None,
            }
        return d


def allowed_error(
    bound: Bound,
    truth: np.ndarray,
    kernel: Kernel,
    backend: str,
    device: str,
    dtype: str,
    entries: Mapping[tuple[str, str, str, str], Measured] | None = None,
) -> Allowed:
    """``SAFETY * bound`` with each family's part scaled by its measured error, plus the
    kernel's explicit allowance. Points without a finite bound are counted: an infinite
    bound (a singularity whose argument carries rounding error) allows anything finite;
    an unknown one falls back to ``FALLBACK_ULP`` of the truth."""
    effective = effective_tolerance(kernel, backend, device, dtype, entries)
    extra = kernel.tolerance(dtype)
    u = float(np.finfo(np.dtype(dtype)).eps) / 2
    mag = np.abs(truth)
    with np.errstate(all="ignore"):
        err = SAFETY * bound.total(effective.scales) if bound.parts else np.full(len(truth), np.nan)
        unknown = np.isnan(err) & np.isfinite(truth)
        err = np.where(unknown, FALLBACK_ULP * u * mag, err)
        err = err + extra.atol + extra.rtol * mag
    unbounded = int((np.isinf(err) & np.isfinite(truth)).sum())
    overflow = bound.overflow if bound.overflow is not None else np.zeros(len(truth), bool)
    return Allowed(err, effective, extra, unbounded, int(unknown.sum()), bound.unknown, overflow)
