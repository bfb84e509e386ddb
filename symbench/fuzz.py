"""``symbench fuzz``: random expressions through every backend, failures shrunk by Hypothesis.

Expressions are drawn by a Hypothesis strategy over the operators and the functions every
CPU backend prints (``FUNCTIONS``), in ``x`` and ``y`` on ``DOMAIN``. They are real-valued
by construction: ``log`` and ``sqrt`` only see positive arguments (``a**2 + c`` or
``exp(a)``) and division is by those too. Expressions whose intermediate values overflow
float32 on the domain are discarded (``assume``), so the suite judges accuracy, not range.

Each expression is judged on every selected backend and dtype by the one judge
(``equivalence.check_one``). A pair that ends in ``error`` is always our bug; a ``fail``
is either our bug or a real library divergence, which ``divergences.toml`` must then state
(with its reason) for the fuzzer to call it explained. When a pair goes wrong,
Hypothesis shrinks the expression to a minimal one that still goes wrong the same way,
and the search goes on with what remains of the budget, skipping failures that a known
finding already explains. Findings are appended to a corpus file; the project's own
corpus (``tests/fuzz_corpus.json``) is replayed as regression tests.
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import sympy as sp

from . import divergences as _div
from . import equivalence
from .backends import Backend
from .cache import atomic_write_bytes
from .errors import BadInput
from .inputs import DEFAULT_SEED, make_inputs
from .kernels.core import Domain, Kernel
from .reference import reference
from .tolerance import running_bound

FUNCTIONS = (sp.exp, sp.log, sp.sin, sp.cos, sp.tanh, sp.sqrt, sp.erf, sp.atan)
DOMAIN = (-3.0, 3.0)
POINTS = 200  # per expression and dtype: enough to cross roots, cheap enough for hundreds
MAX_LEAVES = 8
SYMBOLS = sp.symbols("x y", real=True)
BAD = ("fail", "error")


def expressions(max_leaves: int = MAX_LEAVES):
    """The Hypothesis strategy of real-valued expressions in ``x`` and ``y``."""
    from hypothesis import strategies as st

    constants = st.sampled_from(
        [sp.Integer(1), sp.Integer(2), sp.Integer(3), sp.Rational(1, 2), sp.Float(0.1), sp.pi]
    )
    leaves = st.one_of(st.sampled_from(SYMBOLS), st.sampled_from(SYMBOLS), constants)

    def extend(inner):
        shifts = st.sampled_from([sp.Integer(1), sp.Integer(2), sp.Rational(1, 2)])
        positive = st.one_of(
            st.tuples(inner, shifts).map(lambda t: t[0] ** 2 + t[1]), inner.map(sp.exp)
        )
        pair = st.tuples(inner, inner)
        return st.one_of(
            pair.map(lambda t: t[0] + t[1]),
            pair.map(lambda t: t[0] - t[1]),
            pair.map(lambda t: t[0] * t[1]),
            st.tuples(inner, positive).map(lambda t: t[0] / t[1]),
            st.tuples(inner, st.sampled_from([2, 3])).map(lambda t: t[0] ** t[1]),
            *(inner.map(f) for f in (sp.sin, sp.cos, sp.tanh, sp.erf, sp.atan, sp.exp)),
            positive.map(sp.log),
            positive.map(sp.sqrt),
        )

    return st.recursive(leaves, extend, max_leaves=max_leaves).filter(
        lambda e: isinstance(e, sp.Expr) and bool(e.free_symbols) and e.is_finite is not False
    )


def kernel_of(expr: sp.Expr, name: str = "fuzz") -> Kernel:
    """The expression as a kernel on ``DOMAIN`` for each of its symbols (sorted by name)."""
    names = sorted(str(s) for s in expr.free_symbols)
    return Kernel.from_expr(expr, {n: Domain(*DOMAIN, special=(0.0,)) for n in names}, name=name)


@dataclass
class Finding:
    """One pair that went wrong on a (shrunk) expression."""

    expr: str  # text, readable by symbench's parser
    srepr: str
    backend: str
    dtype: str
    status: str  # fail or error
    reason: str
    functions: list[str] = field(default_factory=list)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.backend, self.dtype, self.status)

    def covers(self, backend: str, dtype: str, status: str, functions: set[str]) -> bool:
        """Whether this finding already explains a failure of the same kind elsewhere."""
        return self.key == (backend, dtype, status) and set(self.functions) <= functions


@dataclass
class FuzzReport:
    seed: int
    backends: list[str]
    dtypes: list[str]
    expressions: int = 0
    discarded: int = 0
    explained: int = 0  # failing pairs that a function-level divergence explains
    pairs: dict[str, int] = field(default_factory=dict)  # status -> count
    findings: list[Finding] = field(default_factory=list)
    seconds: float = 0.0
    stopped: str = ""  # why the search ended early, if it did

    @property
    def errors(self) -> int:
        return sum(1 for f in self.findings if f.status == "error")

    @property
    def unexplained(self) -> int:
        return sum(1 for f in self.findings if f.status == "fail")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["errors"], d["unexplained_fails"] = self.errors, self.unexplained
        return d


def _functions(expr: sp.Expr) -> set[str]:
    names = {type(f).__name__ for f in expr.atoms(sp.Function)}
    if any(not p.exp.is_Integer for p in expr.atoms(sp.Pow)):
        names.add("Pow")
    return names


def judge(
    expr: sp.Expr,
    backends: Iterable[Backend],
    dtypes: Iterable[str],
    *,
    seed: int = DEFAULT_SEED,
    divergences: list[_div.Divergence] | None = None,
) -> list[equivalence.CheckResult] | None:
    """Every pair's result for one expression; None when it overflows float32 on the domain
    (discarded: the fuzzer judges accuracy, not range)."""
    kernel = kernel_of(expr)
    results = []
    for dtype in dtypes:
        inputs = make_inputs(kernel, POINTS, dtype, seed)
        # Before the reference: mpmath's sin of an astronomically large intermediate needs pi
        # to as many digits (sin(exp(exp(exp(3)))) would take hours).
        if running_bound(kernel, inputs, "float32").overflow.any():
            return None
        ref = reference(kernel, inputs, use_cache=False)
        bound = equivalence.bound_at(kernel, inputs, ref, dtype)
        for b in backends:
            results.append(
                equivalence.check_one(
                    kernel,
                    b,
                    dtype,
                    size=POINTS,
                    seed=seed,
                    divergences=divergences,
                    ref=ref,
                    inputs=inputs,
                    bound=bound,
                )
            )
    return results


class _Found(Exception):
    def __init__(self, finding: Finding) -> None:
        super().__init__(f"{finding.backend} {finding.dtype} {finding.status}: {finding.expr}")
        self.finding = finding


def run(
    backends: list[Backend],
    dtypes: list[str],
    *,
    count: int = 100,
    seed: int = 0,
    max_seconds: float | None = None,
    max_findings: int = 20,
    on_expression: Callable[[int], None] | None = None,
) -> FuzzReport:
    """Judge ``count`` generated expressions on every backend and dtype; shrink each new
    way of going wrong to a minimal expression. Needs Hypothesis."""
    try:
        import hypothesis
        from hypothesis import HealthCheck, Phase, given, settings
    except ImportError:
        raise BadInput("symbench fuzz needs Hypothesis: pip install 'symbench[test]'") from None

    report = FuzzReport(seed, [b.id for b in backends], list(dtypes))
    entries = _div.load()
    start = time.monotonic()
    state: dict[str, Any] = {"target": None}

    def out_of_time() -> bool:
        return max_seconds is not None and time.monotonic() - start > max_seconds

    def body(expr: sp.Expr) -> None:
        target = state["target"]
        if target is None and (report.expressions >= count or out_of_time()):
            return
        chosen = [b for b in backends if target is None or b.id == target[0]]
        chosen_dtypes = [d for d in dtypes if target is None or d == target[1]]
        results = judge(expr, chosen, chosen_dtypes, seed=DEFAULT_SEED, divergences=entries)
        if results is None:
            if target is None:
                report.discarded += 1
            hypothesis.assume(False)
        if target is None:
            report.expressions += 1
            for r in results:
                report.pairs[r.status] = report.pairs.get(r.status, 0) + 1
            if on_expression is not None:
                on_expression(report.expressions)
        functions = _functions(expr)
        for r in results:
            if r.status not in BAD:
                continue
            known = _div.lookup_functions(expr, r.backend, r.dtype, r.device, entries)
            if r.status == "fail" and known:
                if target is None:
                    report.explained += 1
                continue
            if any(f.covers(r.backend, r.dtype, r.status, functions) for f in report.findings):
                continue
            key = (r.backend, r.dtype, r.status)
            if target is not None and key != target:
                continue
            state["target"] = key
            raise _Found(
                Finding(
                    expr=str(expr),
                    srepr=sp.srepr(expr),
                    backend=r.backend,
                    dtype=r.dtype,
                    status=r.status,
                    reason=r.reason,
                    functions=sorted(functions),
                )
            )

    rounds = 0
    while report.expressions < count and not out_of_time():
        if len(report.findings) >= max_findings:
            report.stopped = f"stopped after {max_findings} findings"
            break
        state["target"] = None
        test = settings(
            max_examples=max(1, count - report.expressions),
            database=None,
            deadline=None,
            phases=[Phase.generate, Phase.shrink],
            suppress_health_check=list(HealthCheck),
            report_multiple_bugs=False,
            print_blob=False,
            verbosity=hypothesis.Verbosity.quiet,
        )(given(expressions())(body))
        test = hypothesis.seed(seed + rounds)(test)
        rounds += 1
        before = report.expressions
        try:
            with warnings.catch_warnings():
                # a long expression's repr is large; Hypothesis warns about building it
                warnings.simplefilter("ignore", hypothesis.errors.HypothesisWarning)
                test()
        except _Found as found:
            report.findings.append(found.finding)
        except hypothesis.errors.Unsatisfiable:
            report.stopped = "Hypothesis could not generate enough valid expressions"
            break
        else:
            if report.expressions == before:
                break
    if out_of_time() and report.expressions < count:
        report.stopped = f"stopped at --max-seconds {max_seconds:g}"
    report.seconds = time.monotonic() - start
    return report


# --------------------------------------------------------------------------- the corpus


def load_corpus(path: str | Path) -> list[dict[str, Any]]:
    """The findings stored in a corpus file ([] when it does not exist)."""
    p = Path(path)
    if not p.exists():
        return []
    try:
        data = json.loads(p.read_text())
    except (OSError, ValueError) as exc:
        raise BadInput(f"fuzz corpus {p}: {exc}") from None
    if not isinstance(data, list):
        raise BadInput(f"fuzz corpus {p}: expected a list of findings")
    return data


def save_corpus(path: str | Path, findings: Iterable[Finding]) -> int:
    """Append new findings (by expression, backend, dtype); returns how many were new."""
    p = Path(path)
    entries = load_corpus(p)
    seen = {(e.get("srepr"), e.get("backend"), e.get("dtype")) for e in entries}
    added = 0
    for f in findings:
        if (f.srepr, f.backend, f.dtype) in seen:
            continue
        entries.append(asdict(f) | {"found": time.strftime("%Y-%m-%d")})
        added += 1
    if added:
        p.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(p, (json.dumps(entries, indent=1) + "\n").encode())
    return added
