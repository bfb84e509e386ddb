"""How accurate each backend's math library is, per function family and dtype, measured.

GPU math libraries (CUDA's libdevice, XLA's own approximations) and fused multiply-add
differ from the CPU's libm in the last bits, and so do NumPy's SIMD loops. Loosening every
kernel's tolerance on every accelerator would hide real bugs, so symbench measures instead:

* ``survey`` evaluates single-function probes (``exp(x)``, ``erf(x)``, ``x**y``, ...) on a
  backend and device at exactly representable inputs and compares them with the mpmath
  truth at those same inputs, so the error it finds is the library's alone (a probe has no
  conditioning to amplify it). ``symbench accuracy`` runs it; ``--toml`` prints the result
  as entries for ``math_accuracy.toml``, each saying where and with what it was measured.
* ``effective_tolerance`` reads those entries when a kernel is checked. A kernel's
  tolerances assume math functions accurate to 1 ULP; to first order the error of an
  expression is linear in the error of each operation, so a library measured at ``u`` ULP
  for a family the kernel uses scales the kernel's ``rtol`` and ``atol`` by ``u`` (never
  below 1). Only families the kernel calls count, only for that backend, device kind and
  dtype. A pair with no measurement keeps the kernel's tolerances unchanged: nothing is
  loosened on a guess.
* Only last-bit differences are absorbed this way: a family measured above
  ``LAST_BITS_ULP`` (JAX's gamma at hundreds of ULP, say) scales nothing. Where such a
  library makes a kernel fail, that is a real divergence, to be declared with its reason
  in ``divergences.toml``, not hidden by a wider tolerance.
"""

from __future__ import annotations

import datetime as _dt
import math
import platform
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

import sympy as sp

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

from .errors import BadInput, unknown_name
from .kernels.core import Domain, Kernel, Tolerance

BASELINE_ULP = 1.0  # what kernel tolerances assume of a math function
LAST_BITS_ULP = 8.0  # above this a library's error is a divergence, not rounding noise
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


# Function families: the SymPy functions each covers and the probes that measure it. The
# domains keep float32 results finite and normal, so an error is an error in the last bits.
FAMILIES: Mapping[str, tuple[tuple[str, ...], tuple[Probe, ...]]] = {
    "exp": (("exp",), (Probe("exp(x)", {"x": _lin(-80, 80)}), Probe("exp(x)", {"x": _lin(-1, 1)}))),
    "log": (
        ("log",),
        (Probe("log(x)", {"x": _log(1e-30, 1e30)}), Probe("log(x)", {"x": _lin(0.5, 2)})),
    ),
    "sqrt": (("sqrt",), (Probe("sqrt(x)", {"x": _log(1e-30, 1e30)}),)),
    "pow": (("Pow",), (Probe("x**y", {"x": _log(0.1, 10), "y": _lin(-30, 30)}),)),
    "trig": (
        ("sin", "cos", "tan"),
        (
            Probe("sin(x)", {"x": _lin(-100, 100)}),
            Probe("cos(x)", {"x": _lin(-100, 100)}),
            Probe("tan(x)", {"x": _lin(-1.5, 1.5)}),
        ),
    ),
    "inverse_trig": (
        ("asin", "acos", "atan", "atan2"),
        (
            Probe("asin(x)", {"x": _lin(-1, 1)}),
            Probe("acos(x)", {"x": _lin(-1, 1)}),
            Probe("atan(x)", {"x": _lin(-100, 100)}),
        ),
    ),
    "hyperbolic": (
        ("sinh", "cosh", "tanh"),
        (
            Probe("sinh(x)", {"x": _lin(-80, 80)}),
            Probe("cosh(x)", {"x": _lin(-80, 80)}),
            Probe("tanh(x)", {"x": _lin(-10, 10)}),
        ),
    ),
    "erf": (("erf",), (Probe("erf(x)", {"x": _lin(-6, 6)}),)),
    # Its own family: erfc's tail, where exp(-x*x) must be computed without rounding x*x,
    # is where libraries differ most (tens of ULP), and erf must not pay for that.
    "erfc": (("erfc",), (Probe("erfc(x)", {"x": _lin(-6, 9)}),)),
    "gamma": (("gamma",), (Probe("gamma(x)", {"x": _lin(0.1, 30)}),)),
}
_BY_FUNCTION = {fn: fam for fam, (fns, _) in FAMILIES.items() for fn in fns}


def families_of(expr: sp.Expr) -> frozenset[str]:
    """The function families ``expr`` calls. A power with an integer exponent is repeated
    multiplication and a power of constants is a constant: neither calls ``pow``."""
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
        if item["family"] not in FAMILIES:
            raise BadInput(f"accuracy table {name}, entry {i}: unknown family {item['family']!r}")
        try:
            entry = Measured(**{f: item[f] for f in fields} | {"max_ulp": float(item["max_ulp"])})
        except (TypeError, ValueError):
            raise BadInput(f"accuracy table {name}, entry {i}: max_ulp must be a number") from None
        table[entry.key] = entry
    return table


_TABLE: dict | None = None


def table() -> dict[tuple[str, str, str, str], Measured]:
    global _TABLE
    if _TABLE is None:
        _TABLE = load()
    return _TABLE


@dataclass(frozen=True)
class Effective:
    """The tolerance a pair is judged with, and why it differs from the kernel's."""

    tolerance: Tolerance
    scale: float
    why: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "rtol": self.tolerance.rtol,
            "atol": self.tolerance.atol,
            "scale": self.scale,
            "why": self.why,
        }


def effective_tolerance(
    kernel: Kernel,
    backend: str,
    device: str,
    dtype: str,
    entries: Mapping[tuple[str, str, str, str], Measured] | None = None,
) -> Effective:
    """The kernel's tolerance for ``dtype``, scaled by the worst measured family it uses."""
    entries = table() if entries is None else entries
    base = kernel.tolerance(dtype)
    kind = device_kind(device)
    measured = [
        entries[key]
        for key in ((backend, kind, dtype, f) for f in sorted(families_of(kernel.expr)))
        if key in entries
    ]
    absorbed = [m for m in measured if m.max_ulp <= LAST_BITS_ULP]
    worst = max(absorbed, key=lambda m: m.max_ulp, default=None)
    if worst is None or worst.max_ulp <= BASELINE_ULP:
        return Effective(base, 1.0, "")
    scale = worst.max_ulp / BASELINE_ULP
    why = (
        f"{worst.family} measured at {worst.max_ulp:.3g} ULP on {backend}/{kind} {dtype} "
        f"({worst.machine}, {worst.date})"
    )
    return Effective(Tolerance(base.rtol * scale, base.atol * scale), scale, why)


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
    from .equivalence import plan_devices

    probes = sum(len(FAMILIES[f][1]) for f in families)
    pairs = sum(len(devs) for _, _, devs in plan_devices(list(backends), devices))
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
    from .equivalence import plan_devices
    from .inputs import DEFAULT_SEED, make_inputs
    from .reference import reference

    seed = DEFAULT_SEED if seed is None else seed
    plan = plan_devices(list(backends), devices)
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
    from .equivalence import Outcome, compare, compile_and_call, output_problem

    try:
        _, got = compile_and_call(kernel, backend, dtype, device, inputs)
        problem = output_problem(got, len(inputs[0]), dtype)
        if problem is not None:
            raise problem
    except Outcome as out:
        r.status = out.status if out.status in ("unsupported", "unavailable") else "error"
        r.reason = out.reason
        return
    cmp = compare(ref, got, dtype, Tolerance(0.0), inputs, kernel.arg_names)
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
