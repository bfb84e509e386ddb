"""The data that describes a kernel: Domain, Tolerance and Kernel (all frozen)."""

from __future__ import annotations

import functools
import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import sympy as sp

from ..errors import BadInput, first_line
from .parse import nonfinite_constant, parse_expression, parse_number

DTYPES = ("float64", "float32")
CODEGEN_PREFIX = "sbarg"  # arguments' names inside generated code (Kernel.for_codegen)


@dataclass(frozen=True)
class Domain:
    """Where one argument's inputs are drawn from.

    Values are uniform on ``[lo, hi]`` (``scale="log"``: log-uniform, needs ``lo > 0``).
    ``special`` points (such as 0 for ``sin(x)/x``) are always included exactly, at the
    start of every input array, so each backend's behaviour there is visible.
    """

    lo: float
    hi: float
    special: tuple[float, ...] = ()
    scale: str = "linear"

    def __post_init__(self) -> None:
        if not (math.isfinite(self.lo) and math.isfinite(self.hi)):
            raise BadInput(f"domain bounds must be finite numbers, got [{self.lo}, {self.hi}]")
        if self.lo >= self.hi:
            raise BadInput(f"empty domain: lo={self.lo} must be smaller than hi={self.hi}")
        if self.scale not in ("linear", "log"):
            raise BadInput(f"domain scale must be 'linear' or 'log', got {self.scale!r}")
        if self.scale == "log" and self.lo <= 0:
            raise BadInput(f"a log-scale domain needs lo > 0, got lo={self.lo}")
        for s in self.special:
            if not self.lo <= s <= self.hi:
                raise BadInput(f"special point {s} lies outside [{self.lo}, {self.hi}]")

    @classmethod
    def parse(cls, text: str) -> Domain:
        """Parse ``"lo:hi"`` (as given to ``--domain x=lo:hi``)."""
        parts = text.split(":")
        if len(parts) != 2:
            raise BadInput(f"cannot read domain {text!r}: expected lo:hi, e.g. -10:10")
        try:
            lo, hi = (parse_number(p) for p in parts)
        except BadInput:
            raise BadInput(
                f"cannot read domain {text!r}: bounds must be numbers (e.g. -pi:pi, 0:1e3)"
            ) from None
        special = (0.0,) if lo <= 0.0 <= hi else ()
        return cls(lo, hi, special=special)


@dataclass(frozen=True)
class Tolerance:
    """An explicit allowance on top of the expression's own rounding-error bound.

    Every point may already be off by what a correct floating-point evaluation of the
    expression as written can be off there (``symbench.tolerance``: the running error
    bound, scaled by the backend's measured math-library error). ``Tolerance`` adds
    ``atol + rtol * |truth|`` to that, and must say why in ``reason``: no catalog kernel
    needs one, and a user's ``--rtol``/``--atol`` is recorded as given on the command line.
    """

    rtol: float = 0.0
    atol: float = 0.0
    reason: str = ""

    def __post_init__(self) -> None:
        for name in ("rtol", "atol"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise BadInput(f"tolerance {name} must be a finite number >= 0, got {value!r}")


DEFAULT_TOLERANCES: Mapping[str, Tolerance] = MappingProxyType(
    {"float64": Tolerance(), "float32": Tolerance()}
)


def _freeze(mapping: Mapping[str, Tolerance] | None) -> Mapping[str, Tolerance]:
    merged = dict(DEFAULT_TOLERANCES)
    merged.update(mapping or {})
    return MappingProxyType(merged)


@dataclass(frozen=True)
class Kernel:
    """One SymPy expression plus what is needed to check and time it.

    ``args`` are the argument symbols in call order; ``domains`` gives one Domain per
    argument (same order). Names are permanent: records and asv history are keyed by them.
    """

    name: str
    args: tuple[sp.Symbol, ...]
    expr: sp.Expr
    domains: tuple[Domain, ...]
    doc: str = ""
    source: str = ""
    tolerances: Mapping[str, Tolerance] = field(default_factory=lambda: _freeze(None))

    def __post_init__(self) -> None:
        object.__setattr__(self, "args", tuple(self.args))
        object.__setattr__(self, "domains", tuple(self.domains))
        object.__setattr__(self, "tolerances", _freeze(self.tolerances))
        if not self.name or not self.name.replace("_", "").isalnum():
            raise BadInput(f"kernel name {self.name!r} must be letters, digits and '_'")
        if len(self.domains) != len(self.args):
            raise BadInput(
                f"kernel {self.name}: {len(self.args)} arguments but {len(self.domains)} domains"
            )
        missing = self.expr.free_symbols - set(self.args)
        if missing:
            names = ", ".join(sorted(str(s) for s in missing))
            raise BadInput(f"kernel {self.name}: symbol(s) {_short(names)} have no domain")
        problem = nonfinite_constant(self.expr)
        if problem:
            raise BadInput(f"kernel {self.name}: {problem}")
        if self.expr.has(sp.I) or self.expr.is_real is False:
            raise BadInput(f"kernel {self.name}: expression is complex-valued: {_short(self.expr)}")

    def tolerance(self, dtype: str) -> Tolerance:
        return self.tolerances[dtype]

    def for_codegen(self) -> Kernel:
        """The same kernel with its arguments renamed ``sbarg0``, ``sbarg1``, ...

        Any valid SymPy name (a C, C++ or Python keyword, a builtin, a name the generated
        code uses itself, Unicode, names differing only in case) becomes an identifier that
        is safe in every language a backend writes. Backends compile this view; reports
        keep the user's names (``arg_names`` of the kernel itself).
        """
        # Made once per kernel (every backend compiles the same view, and re-creating a
        # large expression's nodes is SymPy's slowest step); kept outside the dataclass's
        # fields, so equality and hashing do not see it.
        view = self.__dict__.get("_codegen_view")
        if view is not None:
            return view
        safe = tuple(
            sp.Symbol(f"{CODEGEN_PREFIX}{i}", **a.assumptions0) for i, a in enumerate(self.args)
        )
        view = self
        if safe != self.args:
            view = Kernel(
                name=self.name,
                args=safe,
                expr=self.expr.xreplace(dict(zip(self.args, safe))),
                domains=self.domains,
                doc=self.doc,
                source=self.source,
                tolerances=self.tolerances,
            )
        object.__setattr__(self, "_codegen_view", view)
        return view

    @property
    def arg_names(self) -> tuple[str, ...]:
        return tuple(str(a) for a in self.args)

    @property
    def content_hash(self) -> str:
        """A stable hash of what defines the kernel's values (expression, args, domains)."""
        text = repr((srepr(self.expr), self.arg_names, self.domains))
        return hashlib.sha256(text.encode()).hexdigest()

    @classmethod
    def from_expr(
        cls,
        expr: str | sp.Expr,
        domains: Mapping[str, Domain | tuple[float, float] | str],
        *,
        name: str = "expr",
        doc: str = "",
        source: str = "user",
        tolerances: Mapping[str, Tolerance] | None = None,
    ) -> Kernel:
        """Build a kernel from an expression (text or SymPy) and one domain per symbol.

        Arguments are ordered as ``domains`` is. Symbols are made real, so the check
        that rejects complex-valued expressions sees what the user means.

        >>> k = Kernel.from_expr("sin(x)/x", {"x": (-10, 10)})
        """
        if isinstance(expr, str):
            parsed = parse_expression(expr)
        else:
            try:
                parsed = sp.sympify(expr, strict=True)  # strict: never parses strings
            except sp.SympifyError as exc:
                raise BadInput(f"not a SymPy expression: {first_line(exc)}") from None
        by_name = {str(s): s for s in parsed.free_symbols}
        unknown = [n for n in domains if n not in by_name]
        if unknown:
            raise BadInput(
                f"domain given for {_short(', '.join(unknown))}, which the expression "
                f"{_short(parsed)} "
                f"does not contain"
            )
        missing = sorted(set(by_name) - set(domains))
        if missing:
            raise BadInput(
                f"symbol(s) {_short(', '.join(missing))} in {_short(parsed)} have no domain: "
                f"add --domain {missing[0]}=LO:HI"
            )
        real = {n: sp.Symbol(n, real=True) for n in domains}
        parsed = parsed.xreplace({by_name[n]: real[n] for n in domains})
        doms = tuple(_as_domain(domains[n]) for n in domains)
        return cls(
            name=name,
            args=tuple(real[n] for n in domains),
            expr=parsed,
            domains=doms,
            # The user's own text where there is one (printing a large SymPy expression
            # sorts its terms: seconds for a few thousand).
            doc=doc or f"user expression {expr if isinstance(expr, str) else parsed}",
            source=source,
            tolerances=tolerances,
        )


def _short(value: object, limit: int = 120) -> str:
    """``value`` as text for a one-line message: a 10 000-character expression is cut."""
    text = str(value)
    return text if len(text) <= limit else text[: limit - 5] + " ..."


@functools.lru_cache(maxsize=64)
def srepr(expr: sp.Basic) -> str:
    """``sympy.srepr``, remembered per expression: hashes and cache keys of a kernel are taken
    many times a run, and SymPy's printer sorts the terms of a large sum every time (about
    5 s for 3000 terms)."""
    return sp.srepr(expr)


def _as_domain(value: Domain | tuple[float, float] | str) -> Domain:
    if isinstance(value, Domain):
        return value
    if isinstance(value, str):
        return Domain.parse(value)
    lo, hi = value
    lo, hi = float(lo), float(hi)
    return Domain(lo, hi, special=(0.0,) if lo <= 0.0 <= hi else ())
