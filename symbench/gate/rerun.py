"""``symbench gate --rerun BASELINE``: measure the baseline's pairs again, base and head
side by side, so a CI job compares them on the same runner in the same job.

"Base code" is the baseline record's kernel definition (read back from its stored
expression, never executed); "head code" is the kernel of the same name as the current
catalog or ``--kernels-file`` defines it now. Both are compiled by the installed backends,
the head is checked against the reference (a head that is no longer correct is a
regression), and the two are sampled alternately by ``timing.interleave``. A pair whose
base and head cannot both be loaded (kernel gone, arguments changed, backend unavailable)
is reported as undecided with the reason. Generated sources stored in the record are not
executed; a change of installed package versions is shown but cannot be interleaved.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from ..backends import REGISTRY, Compiled, get_backend
from ..equivalence import check_one
from ..errors import SymbenchError
from ..inputs import make_inputs
from ..kernels import Kernel, catalog
from ..kernels.storage import kernel_from_dict
from ..records.provenance import collect, environment_changes
from ..runner import Reporter
from ..timing import device_call, interleave
from .records_mode import record_samples
from .report import (
    DEFAULT_ALPHA,
    DEFAULT_RERUN_PAIRS,
    DEFAULT_RERUN_SAMPLE_S,
    DEFAULT_THRESHOLD,
    INCORRECT,
    UNDECIDED,
    Comparison,
    GateReport,
    PairKey,
    assign_verdicts,
)
from .stats import median_and_interval, min_paired_pairs, wilcoxon_p

# (kernel, backend id, dtype, device) -> Compiled; the calibration script passes its own to
# inject a known slowdown into the head (tools/gate_calibration.py).
Compile = Callable[[Kernel, str, str, str], Compiled]


def _compile(kernel: Kernel, backend: str, dtype: str, device: str) -> Compiled:
    return get_backend(backend).compile(kernel, dtype, device)


def rerun(
    baseline: Mapping[str, Any],
    *,
    current_kernels: Mapping[str, Kernel] | None = None,
    pairs: int = DEFAULT_RERUN_PAIRS,
    min_sample_s: float = DEFAULT_RERUN_SAMPLE_S,
    threshold: float = DEFAULT_THRESHOLD,
    alpha: float = DEFAULT_ALPHA,
    compile_base: Compile = _compile,
    compile_head: Compile = _compile,
    reporter: Reporter | None = None,
) -> GateReport:
    reporter = reporter or Reporter()
    heads = dict(catalog()) if current_kernels is None else dict(current_kernels)
    seed = baseline["settings"]["seed"]
    keys = sorted(record_samples(baseline))
    by_pair: dict[tuple[str, str, str, str], list[int]] = {}
    for k in keys:
        by_pair.setdefault((k.kernel, k.backend, k.dtype, k.device), []).append(k.size)

    samples: dict[PairKey, tuple[list[float], list[float]]] = {}
    notes: dict[PairKey, tuple[str, str]] = {}
    reporter.phase("gate", len(keys))
    for (name, backend, dtype, device), sizes in by_pair.items():
        pair_keys = [PairKey(name, backend, device, dtype, n) for n in sizes]
        try:
            base_c, head_c, head_k = _load_both(
                baseline, heads, name, backend, dtype, device, compile_base, compile_head
            )
            verdict = check_one(
                head_k, get_backend(backend), dtype, device, seed=seed, compiled=head_c
            )
            if verdict.status != "pass":
                raise _Incorrect(f"head is {verdict.status}: {verdict.reason}".strip())
        except _Incorrect as exc:
            notes.update({k: (INCORRECT, str(exc)) for k in pair_keys})
            continue
        except (SymbenchError, ImportError) as exc:
            notes.update({k: (UNDECIDED, f"cannot load base and head: {exc}") for k in pair_keys})
            continue
        for key in pair_keys:
            inputs = make_inputs(head_k, key.size, dtype, seed)
            a, b = interleave(
                device_call(base_c, inputs),
                device_call(head_c, inputs),
                pairs=pairs,
                min_sample_s=min_sample_s,
            )
            samples[key] = (a.samples, b.samples)
            reporter.advance(str(key))
    report = compare_paired(
        samples,
        threshold=threshold,
        alpha=alpha,
        baseline_id=baseline["run_id"],
        current_id="rerun now",
        notes=notes,
    )
    report.environment = environment_changes(
        baseline["provenance"], collect(), ignore=("symbench",)
    )
    return report


class _Incorrect(SymbenchError):
    pass


def _load_both(
    baseline: Mapping[str, Any],
    heads: Mapping[str, Kernel],
    name: str,
    backend: str,
    dtype: str,
    device: str,
    compile_base: Compile,
    compile_head: Compile,
) -> tuple[Compiled, Compiled, Kernel]:
    if backend not in REGISTRY:
        raise SymbenchError(f"backend {backend!r} does not exist in this symbench")
    if name not in heads:
        raise SymbenchError(f"kernel {name!r} is not defined now (pass --kernels-file)")
    base_k, head_k = kernel_from_dict(baseline["kernels"][name]), heads[name]
    if [a.name for a in base_k.args] != [a.name for a in head_k.args]:
        raise SymbenchError(f"kernel {name!r} changed its arguments")
    base_c = compile_base(base_k, backend, dtype, device)
    if compile_head is compile_base and base_k.expr == head_k.expr:
        return base_c, base_c, head_k  # the same code: one build serves both sides
    return base_c, compile_head(head_k, backend, dtype, device), head_k


def compare_paired(
    pairs: Mapping[PairKey, tuple[list[float], list[float]]],
    *,
    threshold: float = DEFAULT_THRESHOLD,
    alpha: float = DEFAULT_ALPHA,
    baseline_id: str = "baseline",
    current_id: str = "current",
    notes: Mapping[PairKey, tuple[str, str]] | None = None,
) -> GateReport:
    """``pairs[key] = (base_samples, current_samples)`` taken alternately: paired log
    ratios, the exact Wilcoxon signed-rank test and a bootstrap interval of their median."""
    report = GateReport("rerun", baseline_id, current_id, threshold, alpha, [])
    needed = min_paired_pairs(len(pairs), alpha)
    for key in sorted(pairs):
        a, b = (np.asarray(x, dtype=float) for x in pairs[key])
        if len(a) != len(b) or len(a) < needed or (a <= 0).any() or (b <= 0).any():
            note = (
                f"{len(a)} paired samples; {needed} are needed to decide among "
                f"{len(pairs)} comparisons at alpha {alpha:g}"
            )
            report.comparisons.append(Comparison.undecided(key, len(a), len(b), note))
            continue
        d = np.log(b) - np.log(a)
        median, low, high = median_and_interval(d)
        report.comparisons.append(
            Comparison(
                key, math.exp(median), math.exp(low), math.exp(high), wilcoxon_p(d), len(a), len(b)
            )
        )
    for key, (verdict, note) in (notes or {}).items():
        noted = Comparison.undecided(key, 0, 0, note)
        noted.verdict = verdict
        report.comparisons.append(noted)
    assign_verdicts(report.comparisons, threshold, alpha)
    measured = [c.ratio for c in report.comparisons if c.ratio]
    if measured:
        report.suite_shift = math.exp(float(np.median(np.log(measured))))
    report.comparisons.sort(key=lambda c: c.key)
    return report
