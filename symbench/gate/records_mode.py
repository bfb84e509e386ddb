"""Records mode (``gate BASELINE CURRENT``): the raw samples of two stored runs, each pair's
log ratio modelled as suite shift + between-run noise + sampling noise (see the package
docstring), after checking that both runs come from the same environment and method."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..errors import BadInput
from ..records.provenance import environment_changes
from ..records.schema import RunView
from .report import (
    DEFAULT_ALPHA,
    DEFAULT_THRESHOLD,
    IMPROVEMENT,
    REGRESSION,
    UNDECIDED,
    Comparison,
    GateReport,
    PairKey,
    assign_verdicts,
)
from .stats import (
    between_run_variance,
    median_diff_and_se,
    t_critical,
    t_two_sided_p,
)

MIN_SAMPLES = 5  # per side
MIN_PAIRS_FOR_NOISE = 8  # pairs needed to estimate the between-run spread of a backend
# How samples were taken; a run recorded before a field existed used the value given here.
METHOD_FIELDS = {
    "sampling": "per-pair blocks",
    "min_sample_s": None,
    "threads": None,
    "outputs": "allocated",
    "layout": "as allocated",
    "malloc": "system default",
}


def record_samples(record: Mapping[str, Any]) -> dict[PairKey, list[float]]:
    """Raw timing samples (seconds per call) of every timed pair and size of a record."""
    return {
        PairKey(r.kernel, r.backend, r.device, r.dtype, t.size): [float(s) for s in t.samples]
        for r, t in RunView(record).timings()
    }


def method_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """Differences in how two runs sampled (a change there moves timings like code does)."""
    changes = []
    for name, default in METHOD_FIELDS.items():
        a, b = old.get(name, default), new.get(name, default)
        if a != b:
            changes.append(f"{name}: {a} -> {b}")
    return changes


def compare_samples(
    base: Mapping[PairKey, list[float]],
    current: Mapping[PairKey, list[float]],
    *,
    threshold: float = DEFAULT_THRESHOLD,
    alpha: float = DEFAULT_ALPHA,
    baseline_id: str = "baseline",
    current_id: str = "current",
) -> GateReport:
    """Unpaired samples from two separate runs (see the package docstring)."""
    common = sorted(set(base) & set(current))
    report = GateReport(
        "records",
        baseline_id,
        current_id,
        threshold,
        alpha,
        [],
        only_baseline=[str(k) for k in sorted(set(base) - set(current))],
        only_current=[str(k) for k in sorted(set(current) - set(base))],
    )
    estimates: dict[PairKey, tuple[float, float]] = {}
    for key in common:
        a, b = np.log(base[key]), np.log(current[key])
        if min(len(a), len(b)) < MIN_SAMPLES or not (np.isfinite(a).all() and np.isfinite(b).all()):
            report.comparisons.append(
                Comparison.undecided(key, len(a), len(b), f"needs >= {MIN_SAMPLES} samples a side")
            )
            continue
        estimates[key] = median_diff_and_se(a, b)
    if not estimates:
        return report
    if len(estimates) < MIN_PAIRS_FOR_NOISE:
        report.problems.append(
            f"only {len(estimates)} common pairs: at least {MIN_PAIRS_FOR_NOISE} are needed to "
            "tell a change from run-to-run noise (use --rerun to measure both now)"
        )
        for key, (d, _) in estimates.items():
            undecided = Comparison.undecided(
                key, len(base[key]), len(current[key]), "too few pairs"
            )
            undecided.ratio = math.exp(d)
            report.comparisons.append(undecided)
        return report
    shift = float(np.median([d for d, _ in estimates.values()]))
    by_backend: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for key, est in estimates.items():
        by_backend[key.backend].append(est)
    tau2 = between_run_variance(by_backend, shift, MIN_PAIRS_FOR_NOISE)
    report.suite_shift = math.exp(shift)
    report.noise = {group: math.sqrt(v) for group, v in sorted(tau2.items())}
    z_crit = t_critical()
    resolvable = math.log1p(threshold) / 2  # a threshold-sized change is >= 2 noise sd
    for key, (d, se) in estimates.items():
        tau = math.sqrt(tau2[key.backend])
        sd = math.sqrt(se**2 + tau**2)
        resid = d - shift
        # Every noise figure printed is the one the test used: sd, from its two parts.
        noise = (
            f"noise ±{math.expm1(sd):.0%} (samples ±{math.expm1(se):.0%}, between runs "
            f"±{math.expm1(tau):.0%})"
        )
        report.comparisons.append(
            Comparison(
                key,
                math.exp(resid),
                math.exp(resid - z_crit * sd),
                math.exp(resid + z_crit * sd),
                t_two_sided_p(resid, sd),
                len(base[key]),
                len(current[key]),
                note=f"x{math.exp(d):.3f} raw, relative to the suite shift; {noise}"
                + (
                    f": too noisy to see a {threshold:.0%} change (use --rerun)"
                    if sd > resolvable
                    else ""
                ),
            )
        )
    assign_verdicts(report.comparisons, threshold, alpha)
    if abs(shift) > math.log1p(threshold):
        typical = math.sqrt(float(np.median(list(tau2.values()))))
        if typical > resolvable:  # pairs scatter this much: the machine itself moved
            report.suite_verdict = UNDECIDED
            report.problems.append(
                f"the whole suite moved x{report.suite_shift:.2f} while single pairs scatter "
                f"±{math.expm1(typical):.0%} between these runs: a change of the machine's "
                "speed cannot be told from a change of the code (use --rerun)"
            )
        else:
            report.suite_verdict = REGRESSION if shift > 0 else IMPROVEMENT
    report.comparisons.sort(key=lambda c: c.key)
    return report


def compare_records(
    baseline: Mapping[str, Any],
    current: Mapping[str, Any],
    *,
    threshold: float = DEFAULT_THRESHOLD,
    alpha: float = DEFAULT_ALPHA,
    allow_env_change: bool = False,
) -> GateReport:
    """Gate two stored runs. BadInput when their environments differ, unless allowed."""
    changes = environment_changes(
        baseline["provenance"], current["provenance"], ignore=("symbench",)
    ) + method_changes(baseline.get("settings", {}), current.get("settings", {}))
    if changes and not allow_env_change:
        raise BadInput(
            "records come from different environments (" + "; ".join(changes) + "); "
            "pass --allow-env-change to compare them anyway"
        )
    report = compare_samples(
        record_samples(baseline),
        record_samples(current),
        threshold=threshold,
        alpha=alpha,
        baseline_id=baseline["run_id"],
        current_id=current["run_id"],
    )
    report.environment = changes
    return report
