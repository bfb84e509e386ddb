"""How accurate each backend's math library is, per function family and dtype, measured.

GPU math libraries (CUDA's libdevice, XLA's own approximations) and fused multiply-add
differ from the CPU's libm in the last bits, and so do NumPy's SIMD loops. Loosening every
kernel's tolerance on every accelerator would hide real bugs, so symbench measures instead:

* ``survey`` evaluates single-function probes (``exp(x)``, ``erf(x)``, ``x**y``, ...) on a
  backend and device at exactly representable inputs and compares them with the mpmath
  truth at those same inputs, so the error it finds is the library's alone (a probe has no
  conditioning to amplify it). ``symbench accuracy`` runs it; ``--toml`` prints the result
  as entries for ``math_accuracy.toml``, each saying where and with what it was measured.
* ``tolerance.effective_tolerance`` reads those entries when a kernel is checked. The
  running error bound assumes math functions accurate to 1 ULP and keeps each family's
  share of the bound apart; to first order an expression's error is linear in each
  operation's, so a library measured at ``m`` ULP for a family multiplies that family's
  share by ``m`` (never below 1). Only families the kernel calls count, only for that
  backend, device kind and dtype. A pair with no measurement is not loosened on a guess.
* Only last-bit differences are absorbed this way: a family measured above
  ``LAST_BITS_ULP`` (JAX's gamma at hundreds of ULP, say) scales nothing. Where such a
  library makes a kernel fail, that is a real divergence, to be declared with its reason
  in ``divergences.toml``, not hidden by a wider tolerance.
"""

from __future__ import annotations

import datetime as _dt
import math
import platform
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from . import equivalence
from .errors import unknown_name
from .inputs import DEFAULT_SEED, make_inputs
from .kernels.core import Domain, Kernel
from .reference import reference
from .tolerance import (  # noqa: F401  (public names kept at their old import path)
    BASELINE_ULP,
    FAMILY_FUNCTIONS,
    LAST_BITS_ULP,
    Effective,
    Measured,
    device_kind,
    effective_tolerance,
    families_of,
    load,
    table,
)

DEFAULT_POINTS = 10_000


@dataclass(frozen=True)
class Probe:
    """One single-function kernel: ``expr`` over ``domains`` (one per symbol, in order)."""

    expr: str
    domains: Mapping[str, Domain]

    def kernel(self, family: str, index: int) -> Kernel:
        return Kernel.from_expr(
            self.expr,
            dict(self.domains),
            name=f"probe_{family}_{index}",
            doc=f"accuracy probe {self.expr}",
            source="symbench.accuracy",
        )


def _lin(lo: float, hi: float) -> Domain:
    return Domain(lo, hi)


def _log(lo: float, hi: float) -> Domain:
    return Domain(lo, hi, scale="log")


# The probes that measure each function family (``tolerance.FAMILY_FUNCTIONS`` names the
# functions it covers). The domains keep float32 results finite and normal, so an error
# is an error in the last bits.
PROBES: Mapping[str, tuple[Probe, ...]] = {
    "exp": (Probe("exp(x)", {"x": _lin(-80, 80)}), Probe("exp(x)", {"x": _lin(-1, 1)})),
    "log": (Probe("log(x)", {"x": _log(1e-30, 1e30)}), Probe("log(x)", {"x": _lin(0.5, 2)})),
    "sqrt": (Probe("sqrt(x)", {"x": _log(1e-30, 1e30)}),),
    "pow": (Probe("x**y", {"x": _log(0.1, 10), "y": _lin(-30, 30)}),),
    "trig": (
        Probe("sin(x)", {"x": _lin(-100, 100)}),
        Probe("cos(x)", {"x": _lin(-100, 100)}),
        Probe("tan(x)", {"x": _lin(-1.5, 1.5)}),
    ),
    "inverse_trig": (
        Probe("asin(x)", {"x": _lin(-1, 1)}),
        Probe("acos(x)", {"x": _lin(-1, 1)}),
        Probe("atan(x)", {"x": _lin(-100, 100)}),
    ),
    "hyperbolic": (
        Probe("sinh(x)", {"x": _lin(-80, 80)}),
        Probe("cosh(x)", {"x": _lin(-80, 80)}),
    ),
    # up to where float64's tanh saturates (|x| ~ 19), where libraries differ most
    "tanh": (Probe("tanh(x)", {"x": _lin(-20, 20)}),),
    "erf": (Probe("erf(x)", {"x": _lin(-6, 6)}),),
    "erfc": (Probe("erfc(x)", {"x": _lin(-6, 9)}),),
    "gamma": (Probe("gamma(x)", {"x": _lin(0.1, 30)}),),
}
# family -> (functions it covers, probes that measure it)
FAMILIES: Mapping[str, tuple[tuple[str, ...], tuple[Probe, ...]]] = {
    fam: (FAMILY_FUNCTIONS[fam], PROBES[fam]) for fam in FAMILY_FUNCTIONS
}


# --------------------------------------------------------------------------- the survey


@dataclass
class ProbeResult:
    family: str
    probe: str
    backend: str
    device: str
    dtype: str
    status: str  # measured, unsupported, unavailable, error
    max_ulp: float | None = None
    worst: str = ""
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if d["max_ulp"] is not None and not math.isfinite(d["max_ulp"]):
            d["max_ulp"] = str(d["max_ulp"])
        return d


def select_families(names: Iterable[str] | None) -> list[str]:
    chosen = list(names or FAMILIES)
    for n in chosen:
        if n not in FAMILIES:
            raise unknown_name("function family", n, FAMILIES)
    return chosen


def survey_size(families, backends, dtypes, devices=None) -> int:
    """How many results ``survey`` produces (for progress bars)."""
    probes = sum(len(FAMILIES[f][1]) for f in families)
    pairs = sum(len(devs) for _, _, devs in equivalence.plan_devices(list(backends), devices))
    return probes * pairs * len(list(dtypes))


def survey(
    families: Iterable[str],
    backends,
    dtypes: Iterable[str],
    devices: Iterable[str] | None = None,
    *,
    points: int = DEFAULT_POINTS,
    seed: int | None = None,
    on_result: Callable[[ProbeResult], None] | None = None,
) -> list[ProbeResult]:
    """Measure each family's probes on each backend, device and dtype (``devices=None``:
    each backend's own). Never raises for a backend's failure."""
    seed = DEFAULT_SEED if seed is None else seed
    plan = equivalence.plan_devices(list(backends), devices)
    results = []
    for family in families:
        for i, probe in enumerate(FAMILIES[family][1]):
            kernel = probe.kernel(family, i)
            for dtype in dtypes:
                inputs = make_inputs(kernel, points, dtype, seed)
                ref = reference(kernel, inputs, points=points)
                for b, reason, devs in plan:
                    for dev in devs:
                        r = ProbeResult(family, probe.expr, b.id, dev, dtype, "unavailable")
                        if reason is None:
                            _measure(r, kernel, b, dev, dtype, ref, inputs)
                        else:
                            r.reason = reason
                        results.append(r)
                        if on_result is not None:
                            on_result(r)
    return results


def _measure(r: ProbeResult, kernel: Kernel, backend, device, dtype, ref, inputs) -> None:
    """Fill ``r`` with the worst error of one probe, judged at zero tolerance so that the
    comparison names the point where it is largest."""
    try:
        _, got = equivalence.compile_and_call(kernel, backend, dtype, device, inputs)
        problem = equivalence.output_problem(got, len(inputs[0]), dtype)
        if problem is not None:
            raise problem
    except equivalence.Outcome as out:
        r.status = out.status if out.status in ("unsupported", "unavailable") else "error"
        r.reason = out.reason
        return
    cmp = equivalence.compare(ref, got, dtype, np.zeros(len(ref.hi)), inputs, kernel.arg_names)
    if not cmp.nonfinite_match:
        r.status, r.reason = "error", cmp.reason
        return
    r.status, r.max_ulp = "measured", cmp.max_ulp or 0.0
    if cmp.worst is not None:
        i = int(ref.indices[cmp.worst])
        r.worst = ", ".join(f"{n}={float(a[i])!r}" for n, a in zip(kernel.arg_names, inputs))


def summarize(results: list[ProbeResult]) -> dict[tuple[str, str, str, str], ProbeResult]:
    """The worst measured probe per (backend, device kind, dtype, family)."""
    worst: dict[tuple[str, str, str, str], ProbeResult] = {}
    for r in results:
        if r.status != "measured":
            continue
        key = (r.backend, device_kind(r.device), r.dtype, r.family)
        if key not in worst or r.max_ulp > worst[key].max_ulp:
            worst[key] = r
    return worst


def to_toml(
    results: list[ProbeResult],
    machine: str,
    versions: Mapping[str, str | None],
    command: str,
    library_of: Mapping[str, str],
) -> str:
    """``[[measured]]`` entries for ``math_accuracy.toml``, one per measured family."""
    date = _dt.date.today().isoformat()
    libc = " ".join(platform.libc_ver()).strip()  # the C math library under compiled code
    blocks = []
    for (backend, kind, dtype, family), r in sorted(summarize(results).items()):
        lib = library_of.get(backend, backend)
        entry = {
            "backend": backend,
            "device": kind,
            "dtype": dtype,
            "family": family,
            "max_ulp": round(r.max_ulp, 3),
            "worst": f"{r.probe}: {r.worst}" if r.worst else r.probe,
            "machine": machine,
            "library": f"{lib} {versions.get(lib) or ''}".strip() + (f"; {libc}" if libc else ""),
            "command": command,
            "date": date,
        }
        lines = ["[[measured]]"]
        for k, v in entry.items():
            lines.append(f"{k} = {_toml_value(v)}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


def _toml_value(v: Any) -> str:
    if isinstance(v, float):
        return repr(v)
    text = str(v).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'
