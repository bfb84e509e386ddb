"""The only place correctness is judged: a compiled kernel against the mpmath reference.

Never compares two backends with each other. For each (kernel, backend, device, dtype) it
reports the max error in ULPs of the target dtype, the max relative and absolute error,
whether NaN and +-Inf appear in the same places as in the truth, a status and the reason.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from . import divergences as _div
from . import tolerance as _tol
from .backends import Backend, Compiled
from .errors import Unavailable, Unsupported, first_line
from .inputs import DEFAULT_SEED, make_inputs
from .kernels.core import Kernel
from .records.schema import encode_number
from .reference import Reference, reference

STATUSES = ("pass", "fail", "xfail", "unsupported", "unavailable", "error")
FAILING = frozenset({"fail", "error"})
DEFAULT_SIZE = 1000


@dataclass
class Comparison:
    """Errors of ``got`` against the reference, over the compared points.

    ``max_ulp`` is taken over the well-conditioned points (where a correct evaluation is
    good to ``WELL_CONDITIONED_ULP``): near a root of a cancelling expression a tiny
    absolute error is a huge count of the truth's tiny ULPs. The relative and absolute
    errors are taken over all points.
    """

    points: int
    max_ulp: float | None
    max_rel_err: float | None
    max_abs_err: float | None
    nonfinite_match: bool
    bad_points: int
    worst: int | None  # index (into the compared points) of the worst offender
    reason: str

    @property
    def passed(self) -> bool:
        return self.nonfinite_match and self.bad_points == 0


@dataclass
class CheckResult:
    kernel: str
    backend: str
    device: str
    dtype: str
    status: str
    reason: str = ""
    max_ulp: float | None = None
    max_rel_err: float | None = None
    max_abs_err: float | None = None
    nonfinite_match: bool | None = None
    points: int = 0
    size: int = 0
    compile_s: float | None = None
    special: list[dict[str, Any]] = field(default_factory=list)
    source: str | None = None
    build: dict[str, Any] = field(default_factory=dict)
    # how the allowed error was made (method, scaling, why) and its value at the worst point
    tolerance: dict[str, Any] = field(default_factory=dict)

    def to_dict(self, with_source: bool = False) -> dict[str, Any]:
        d = asdict(self)
        if not with_source:
            d.pop("source")
        for k in ("max_ulp", "max_rel_err", "max_abs_err"):
            if d[k] is not None:
                d[k] = encode_number(d[k])  # JSON has no inf: the record schema's encoding
        return d


def _fmt(v: float) -> str:
    return repr(float(v)) if math.isnan(v) or math.isinf(v) else f"{float(v):.17g}"


def compare(
    ref: Reference,
    got: np.ndarray,
    dtype: str,
    allowed: np.ndarray,
    inputs: list[np.ndarray],
    names,
    overflow: np.ndarray | None = None,
) -> Comparison:
    """Compare a backend's full output ``got`` with ``ref`` at the reference's indices;
    ``allowed`` is the absolute error each reference point may have, ``overflow`` marks the
    points where the expression as written overflows the dtype (named in the reason)."""
    dt = np.dtype(dtype)
    g = np.asarray(got)[ref.indices]
    with np.errstate(all="ignore"):
        ref_t = ref.hi.astype(dt)  # the truth rounded to the target dtype (+-inf/NaN places)
        g64 = g.astype(np.float64)
        same_nan = np.isnan(ref.hi) == np.isnan(g)
        same_pinf = np.isposinf(ref_t) == np.isposinf(g)
        same_ninf = np.isneginf(ref_t) == np.isneginf(g)
        nonfinite_ok = same_nan & same_pinf & same_ninf
        finite = np.isfinite(ref_t) & np.isfinite(g)
        # (g - hi) is exact when g is close to hi (Sterbenz); the lo part adds the rest.
        err = np.where(finite, (g64 - ref.hi) - ref.lo, 0.0)
        abs_err = np.abs(err)
        mag = np.abs(ref.hi)
        rel = np.where(
            mag > 0, abs_err / np.where(mag > 0, mag, 1.0), np.where(abs_err > 0, np.inf, 0.0)
        )
        spacing = np.spacing(np.abs(ref_t).astype(dt)).astype(np.float64)
        ulp = np.where(finite, abs_err / np.where(spacing > 0, spacing, 1.0), 0.0)
        within = abs_err <= allowed
        ratio = np.where(finite, abs_err / np.where(allowed > 0, allowed, np.inf), 0.0)
        ratio = np.where(finite & (allowed <= 0) & (abs_err > 0), np.inf, ratio)
    bad = (~within & finite) | ~nonfinite_ok
    nbad = int(bad.sum())
    any_finite = bool(finite.any())
    worst = None
    reason = ""
    if nbad:
        # the worst bad point: misplaced NaN/Inf first, then error/allowed, then ULPs
        score = np.where(bad, np.where(nonfinite_ok, ratio, np.inf), -1.0)
        worst = int(np.lexsort((np.where(bad, ulp, -1.0), score))[-1])
        i = int(ref.indices[worst])
        where = ", ".join(f"{n}={_fmt(a[i])}" for n, a in zip(names, inputs))
        kind = "NaN/Inf placement differs" if not nonfinite_ok[worst] else "outside tolerance"
        detail = (
            f" (error {abs_err[worst]:.3g}, allowed {allowed[worst]:.3g} there)"
            if nonfinite_ok[worst]
            else ""
        )
        reason = (
            f"{nbad} of {len(g)} points wrong ({kind}); worst at {where}: got {_fmt(g[worst])}, "
            f"want {_fmt(ref.hi[worst])}{detail}"
        )
        if overflow is not None and overflow[bad].any():
            reason += (
                f"; the expression as written overflows {dtype} at {int(overflow[bad].sum())} "
                "of them (an intermediate value exceeds its range)"
            )
    elif any_finite:
        worst = int(np.lexsort((np.where(finite, ulp, -1.0), np.where(finite, ratio, -1.0)))[-1])
    # ULPs are reported where a correct evaluation is good to a few ULPs: near a root of a
    # cancelling expression a tiny absolute error is a huge count of the truth's tiny ULPs.
    well = finite & (allowed <= _tol.WELL_CONDITIONED_ULP * spacing)
    ulp_points = well if well.any() else finite
    return Comparison(
        points=len(g),
        max_ulp=float(ulp[ulp_points].max()) if any_finite else None,
        max_rel_err=float(rel[finite].max()) if any_finite else None,
        max_abs_err=float(abs_err[finite].max()) if any_finite else None,
        nonfinite_match=bool(nonfinite_ok.all()),
        bad_points=nbad,
        worst=worst,
        reason=reason,
    )


def _special(kernel: Kernel, inputs, got, ref: Reference) -> list[dict[str, Any]]:
    """The backend's values at the domains' special points (e.g. sin(x)/x at x=0)."""
    n = max((len(d.special) for d in kernel.domains), default=0)
    rows = []
    for i in range(min(n, len(got))):
        rows.append(
            {
                "inputs": {name: float(a[i]) for name, a in zip(kernel.arg_names, inputs)},
                "got": _fmt(got[i]),
                "want": _fmt(ref.hi[i]) if i < len(ref.hi) and ref.indices[i] == i else None,
            }
        )
    return rows


def bound_at(kernel: Kernel, inputs: list[np.ndarray], ref: Reference, dtype: str) -> _tol.Bound:
    """The running error bound of ``kernel`` at the reference's points."""
    return _tol.running_bound(kernel, [np.asarray(a)[ref.indices] for a in inputs], dtype)


class Outcome(Exception):
    """A pair that ended before its output could be judged: a status and its reason."""

    def __init__(self, status: str, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


def compile_and_call(
    kernel: Kernel,
    backend: Backend,
    dtype: str,
    device: str,
    inputs: list[np.ndarray],
    compiled: Compiled | None = None,
) -> tuple[Compiled, np.ndarray]:
    """Compile (unless given) and call once; raises ``Outcome`` for every way that fails
    (unavailable, unsupported, compile or call error)."""
    try:
        if compiled is None:
            compiled = backend.compile(kernel, dtype, device)
    except Unavailable as exc:
        raise Outcome("unavailable", str(exc)) from None
    except Unsupported as exc:
        raise Outcome("unsupported", str(exc)) from None
    except Exception as exc:
        raise Outcome("error", f"compile failed: {first_line(exc)}") from None
    try:
        with np.errstate(all="ignore"):
            got = compiled(*inputs)
    except Exception as exc:
        raise Outcome("error", f"call failed: {first_line(exc)}") from None
    return compiled, got


def output_problem(got: np.ndarray, size: int, dtype: str) -> Outcome | None:
    """A wrong shape is an error; a wrong dtype is a failure (computed in the wrong precision)."""
    if got.shape != (size,):
        return Outcome("error", f"returned shape {got.shape}, expected ({size},)")
    if got.dtype != np.dtype(dtype):
        return Outcome(
            "fail", f"returned {got.dtype} for {dtype} inputs (computed in the wrong precision)"
        )
    return None


def check_one(
    kernel: Kernel,
    backend: Backend,
    dtype: str,
    device: str = "cpu",
    *,
    size: int = DEFAULT_SIZE,
    seed: int = DEFAULT_SEED,
    divergences: list[_div.Divergence] | None = None,
    accuracy: Mapping[tuple[str, str, str, str], _tol.Measured] | None = None,
    ref: Reference | None = None,
    inputs: list[np.ndarray] | None = None,
    compiled: Compiled | None = None,
    bound: _tol.Bound | None = None,
) -> CheckResult:
    """Compile ``kernel`` with ``backend`` and judge its output. Never raises for a backend's
    failure: every outcome is a status with a reason.

    Each point may be off by ``SAFETY`` times the expression's running error bound there
    (``symbench.tolerance``), with each function family's share scaled by the measured
    accuracy of the backend's math library (``accuracy``: the packaged
    ``math_accuracy.toml`` when None); ``CheckResult.tolerance`` says how, and the
    allowed error at the worst point.
    """
    result = CheckResult(kernel.name, backend.id, device, dtype, "error", size=size)
    if inputs is None:
        inputs = make_inputs(kernel, size, dtype, seed)
    if ref is None:
        ref = reference(kernel, inputs)
    if bound is None:
        bound = bound_at(kernel, inputs, ref, dtype)
    try:
        compiled, got = compile_and_call(kernel, backend, dtype, device, inputs, compiled)
    except Outcome as out:
        result.status, result.reason = out.status, out.reason
        return result
    result.compile_s = compiled.compile_s
    result.source = compiled.source
    result.build = compiled.build | {"language": compiled.language}
    problem = output_problem(got, size, dtype)
    if problem is not None:
        result.status, result.reason = problem.status, problem.reason
        return result
    allowed = _tol.allowed_error(bound, ref.hi, kernel, backend.id, device, dtype, accuracy)
    cmp = compare(ref, got, dtype, allowed.error, inputs, kernel.arg_names, allowed.overflow)
    truth = float(ref.hi[cmp.worst]) if cmp.worst is not None else None
    result.tolerance = allowed.describe(cmp.worst, truth, dtype)
    result.max_ulp, result.max_rel_err, result.max_abs_err = (
        cmp.max_ulp,
        cmp.max_rel_err,
        cmp.max_abs_err,
    )
    result.nonfinite_match, result.points = cmp.nonfinite_match, cmp.points
    result.special = _special(kernel, inputs, got, ref)
    result.status, result.reason = ("pass", "") if cmp.passed else ("fail", cmp.reason)
    if cmp.reason and allowed.effective.why:
        result.reason += f"; bound scaled by measured libraries ({allowed.effective.why})"
    if result.status == "fail":
        for d in _div.lookup_functions(kernel.expr, backend.id, dtype, device, divergences):
            result.reason += f"; known divergence of {backend.id}'s {d.function}: {d.reason}"
    known = _div.lookup(kernel.name, backend.id, dtype, device, divergences)
    if known is not None:
        if result.status == "fail":
            result.status = "xfail"
            result.reason = f"known divergence: {known.reason} ({known.link}); {cmp.reason}"
        else:
            result.status = "fail"
            result.reason = (
                "declared divergence no longer reproduces (strict xfail): remove the "
                f"{kernel.name}/{backend.id}/{dtype} entry from divergences.toml"
            )
    return result


def check_matrix(
    kernels: Iterable[Kernel],
    backends: Iterable[Backend],
    dtypes: Iterable[str],
    devices: Iterable[str] | None = None,
    *,
    size: int = DEFAULT_SIZE,
    seed: int = DEFAULT_SEED,
    on_result: Callable[[CheckResult], None] | None = None,
    jobs: int | None = None,
) -> list[CheckResult]:
    """Check every kernel x backend x device x dtype. ``devices=None``: each backend's own.

    The reference is computed before any backend is compiled, so a bad kernel (complex
    valued on its domain) raises ``BadInput`` before any work is done for it.
    """
    kernels, backends, dtypes = list(kernels), list(backends), list(dtypes)
    entries = _div.load()
    plan = plan_devices(backends, devices)
    prepared = {}
    for k in kernels:
        for dt in dtypes:
            inputs = make_inputs(k, size, dt, seed)
            ref = reference(k, inputs)
            prepared[k.name, dt] = (inputs, ref, bound_at(k, inputs, ref, dt))
    jobs_list = []
    for k in kernels:
        for b, reason, devs in plan:
            for dev in devs:
                for dt in dtypes:
                    jobs_list.append((k, b, reason, dev, dt))

    def run(job) -> CheckResult:
        k, b, reason, dev, dt = job
        if reason is not None:
            return CheckResult(k.name, b.id, dev, dt, "unavailable", reason, size=size)
        inputs, ref, bound = prepared[k.name, dt]
        return check_one(
            k,
            b,
            dt,
            dev,
            size=size,
            seed=seed,
            divergences=entries,
            ref=ref,
            inputs=inputs,
            bound=bound,
        )

    # Builds (Cython, ufuncify) are subprocesses: running pairs on a few threads keeps every
    # core compiling. Compile times measured here include that contention; the timing core
    # measures compile cost on its own.
    def prepare(backend: Backend) -> None:
        # compile() builds each kernel alone and says what broke
        with contextlib.suppress(Exception):
            backend.prepare(kernels, dtypes)

    results: list[CheckResult] = []
    with ThreadPoolExecutor(max_workers=max(1, jobs or os.cpu_count() or 1)) as pool:
        # Backends that build many kernels at once do it first, side by side.
        list(pool.map(prepare, [b for b, reason, _ in plan if reason is None]))
        for res in pool.map(run, jobs_list):
            results.append(res)
            if on_result is not None:
                on_result(res)
    return results


def plan_devices(backends: list[Backend], devices: Iterable[str] | None):
    """(backend, unavailable reason or None, devices to check) for each backend. An
    unavailable backend lists no devices of its own; it is reported once on its first
    usual device (``gpu:0`` for GPU-only backends)."""
    plan = []
    for b in backends:
        devs = list(devices) if devices is not None else (b.devices() or ["gpu:0"])
        plan.append((b, b.unavailable_reason(), devs))
    return plan


def matrix_size(kernels, backends, dtypes, devices=None) -> int:
    """How many results ``check_matrix`` will produce (for progress bars)."""
    pairs = sum(len(devs) for _, _, devs in plan_devices(list(backends), devices))
    return pairs * len(list(kernels)) * len(list(dtypes))
