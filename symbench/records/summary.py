"""What a run means, computed from the record alone (so old records summarize the same way).

Per kernel, dtype and size: the fastest backend whose equivalence passed, its speedup over
``numpy``, its compile cost, and the break-even number of calls after which compiling pays
off: ``(cost_b - cost_numpy) / (t_numpy - t_b)``, where a cost is the cold compile time plus
the first call's excess over a steady call (JAX compiles on first call).
"""

from __future__ import annotations

import math
from typing import Any

from ..backends import REGISTRY, get_backend
from .schema import ResultView, RunView, TimingView

__all__ = [
    "BASELINE",
    "MEMORY_BOUND_FRACTION",
    "BOUND_MIN_SIZE",
    "compile_cost",
    "summarize",
    "boundness",
    "history_rows",
    "device_speedups",
    "variant_gains",
]

BASELINE = "numpy"
MEMORY_BOUND_FRACTION = 0.5
BOUND_MIN_SIZE = 100_000


def compile_cost(result: ResultView, timing: TimingView) -> float:
    """Cold build time where the backend recorded one (Cython, ufuncify, numba), else the
    uncontended compile measured in the timing phase, plus the first call's excess."""
    c = result.compile
    build = c.get("cold_build_s") or c.get("again_s") or c.get("first_s") or 0.0
    return build + max(0.0, (timing.first_call_s or 0.0) - timing.median_s)


def summarize(record: dict[str, Any]) -> list[dict[str, Any]]:
    groups: dict[tuple, list[tuple[ResultView, TimingView]]] = {}
    for r, t in RunView(record).timings():
        groups.setdefault((r.kernel, r.device, r.dtype, t.size), []).append((r, t))
    rows = []
    for (kernel, device, dtype, size), pairs in sorted(groups.items()):
        best_r, best_t = min(pairs, key=lambda p: p[1].median_s)
        base = next(((r, t) for r, t in pairs if r.backend == BASELINE), None)
        row = {
            "kernel": kernel,
            "device": device,
            "dtype": dtype,
            "size": size,
            "backend": best_r.backend,
            "median_s": best_t.median_s,
            "speedup_vs_numpy": None,
            "compile_s": compile_cost(best_r, best_t),
            "break_even_calls": None,
            "bw_fraction": best_t.bw_fraction,
            "candidates": len(pairs),
        }
        if base is not None:
            base_r, base_t = base
            row["speedup_vs_numpy"] = base_t.median_s / best_t.median_s
            saving = base_t.median_s - best_t.median_s
            extra = row["compile_s"] - compile_cost(base_r, base_t)
            if best_r.backend == BASELINE:
                row["break_even_calls"] = 0
            elif saving > 0:
                row["break_even_calls"] = max(0, math.ceil(extra / saving))
        rows.append(row)
    return rows


def boundness(record: dict[str, Any]) -> dict[str, str]:
    """``kernel/device/dtype`` -> memory-bound or compute-bound, judged at the largest size
    (>= 100 000 elements) by the fastest correct backend's fraction of measured bandwidth."""
    out: dict[str, str] = {}
    largest: dict[tuple, dict] = {}
    for row in summarize(record):
        key = (row["kernel"], row["device"], row["dtype"])
        eligible = row["size"] >= BOUND_MIN_SIZE and row["bw_fraction"] is not None
        if eligible and (key not in largest or row["size"] > largest[key]["size"]):
            largest[key] = row
    for (kernel, device, dtype), row in largest.items():
        bound = "memory-bound" if row["bw_fraction"] >= MEMORY_BOUND_FRACTION else "compute-bound"
        out[f"{kernel}/{device}/{dtype}"] = bound
    return out


def names_not_stored(records: list[dict[str, Any]], kernels=None, backends=None) -> str | None:
    """Why a ``--kernel``/``--backend`` filter over stored runs matches nothing: the first
    name no record holds, with the names they do hold (a typo would otherwise give an
    empty table and exit 0). None when every name is stored, or nothing is stored yet."""
    if not records:
        return None
    views = [RunView(r).results for r in records]
    for what, wanted in (("kernel", kernels), ("backend", backends)):
        stored = sorted({getattr(r, what) for results in views for r in results})
        for name in wanted or []:
            if name not in stored:
                shown = ", ".join(stored[:20]) + (" ..." if len(stored) > 20 else "")
                return f"no stored run has {what} {name!r} (stored: {shown or 'none'})"
    return None


def history_rows(
    records: list[dict[str, Any]], kernels=None, backends=None
) -> list[dict[str, Any]]:
    """One row per record (oldest first as given), restricted to runs that hold one of
    ``kernels`` / ``backends`` when given: pairs, passes and the best time at the largest size."""
    kernels, backends = set(kernels or []), set(backends or [])
    rows = []
    for rec in map(RunView, records):
        pairs = [
            r
            for r in rec.results
            if (not kernels or r.kernel in kernels) and (not backends or r.backend in backends)
        ]
        if (kernels or backends) and not pairs:
            continue
        timed = [t for r in pairs for t in r.timings]
        largest = max((t.size for t in timed), default=None)
        git = rec.provenance.get("git", {})
        rows.append(
            {
                "run_id": rec.run_id,
                "created": rec.created,
                "commit": (git.get("commit") or "")[:12] + ("+" if git.get("dirty") else ""),
                "cpu": ((rec.provenance.get("machine") or {}).get("cpu") or {}).get("model", "?"),
                "pairs": len(pairs),
                "passed": sum(r.status == "pass" for r in pairs),
                "largest_size": largest,
                "best_median_s": min(
                    (t.median_s for t in timed if t.size == largest), default=None
                ),
            }
        )
    return rows


def device_speedups(record: dict[str, Any], baseline: str = "cpu") -> list[dict[str, Any]]:
    """Per kernel, dtype and size timed on both: the fastest correct backend on each other
    device against the fastest on ``baseline``, with the accelerator's fraction of its
    measured copy bandwidth and its end-to-end time (transfers included) where recorded."""
    best = {(r["kernel"], r["device"], r["dtype"], r["size"]): r for r in summarize(record)}
    timing = {(*r.key, t.size): t for r, t in RunView(record).timings()}
    rows = []
    for (kernel, device, dtype, size), row in sorted(best.items()):
        base = best.get((kernel, baseline, dtype, size))
        if device == baseline or base is None:
            continue
        t = timing[kernel, row["backend"], dtype, device, size]
        transfers = t.end_to_end or {}
        rows.append(
            {
                "kernel": kernel,
                "dtype": dtype,
                "size": size,
                "device": device,
                "backend": row["backend"],
                "median_s": row["median_s"],
                "gbs": t.gbs,
                "bw_fraction": row["bw_fraction"],
                "end_to_end_s": transfers.get("median_s"),
                "baseline_backend": base["backend"],
                "baseline_median_s": base["median_s"],
                "speedup": base["median_s"] / row["median_s"],
            }
        )
    return rows


def _variant_of(backend: str) -> str | None:
    return get_backend(backend).variant_of if backend in REGISTRY else None


def variant_gains(record: dict[str, Any]) -> list[dict[str, Any]]:
    """What each code-generation variant buys over its base backend, per device and dtype:
    the geometric-mean speedup (and its range) over the kernels both passed, timed at the
    largest size both have; the largest max-ULP each reached on those kernels; and the
    kernels the variant fails where its base passes (with the first reason)."""
    results = {r.key: r for r in RunView(record).results}
    groups: dict[tuple[str, str, str, str], dict[str, Any]] = {}
    for (kernel, backend, dtype, device), r in results.items():
        base_id = _variant_of(backend)
        base = results.get((kernel, base_id, dtype, device)) if base_id else None
        if base is None or base.status != "pass":
            continue
        g = groups.setdefault(
            (backend, base_id, device, dtype),
            {"ratios": [], "base_ulp": 0.0, "variant_ulp": 0.0, "lost": []},
        )
        if r.status != "pass":
            g["lost"].append(
                f"{kernel}: {r.status} ({r.reason.splitlines()[0] if r.reason else '-'})"
            )
            continue
        sizes = {t.size for t in r.timings} & {t.size for t in base.timings}
        if sizes:
            size = max(sizes)
            g["ratios"].append(base.timing_at(size).median_s / r.timing_at(size).median_s)
        g["base_ulp"] = max(g["base_ulp"], base.max_ulp or 0.0)
        g["variant_ulp"] = max(g["variant_ulp"], r.max_ulp or 0.0)
    rows = []
    for (variant, base_id, device, dtype), g in sorted(groups.items()):
        ratios = g["ratios"]
        rows.append(
            {
                "variant": variant,
                "base": base_id,
                "device": device,
                "dtype": dtype,
                "kernels": len(ratios),
                "speedup_geomean": (
                    math.exp(sum(math.log(x) for x in ratios) / len(ratios)) if ratios else None
                ),
                "speedup_min": min(ratios, default=None),
                "speedup_max": max(ratios, default=None),
                "base_max_ulp": g["base_ulp"],
                "variant_max_ulp": g["variant_ulp"],
                "lost": g["lost"],
            }
        )
    return rows
