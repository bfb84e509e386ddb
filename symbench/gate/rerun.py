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
from collections.abc import Callable, Mapping, Sequence
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


Paired = tuple[Sequence[float], Sequence[float]]  # (base samples, current samples), alternated


def compare_paired(pairs: Mapping[PairKey, Paired], **options: Any) -> GateReport:
    """``pairs[key] = (base_samples, current_samples)`` taken alternately: paired log
    ratios, the exact Wilcoxon signed-rank test and a bootstrap interval of their median
    (``options``: those of ``compare_process_pairs``)."""
    return compare_process_pairs([pairs], **options)


def compare_process_pairs(
    blocks: Sequence[Mapping[PairKey, Paired]],
    *,
    threshold: float = DEFAULT_THRESHOLD,
    alpha: float = DEFAULT_ALPHA,
    baseline_id: str = "baseline",
    current_id: str = "current",
    notes: Mapping[PairKey, tuple[str, str]] | None = None,
) -> GateReport:
    """``compare_paired`` over samples taken by several pairs of processes, one block per
    pair. A change counts only when every process pair shows it (an intersection-union
    test): a pair's p-value is the largest of its blocks', its ratio the block ratio nearest
    1 when all blocks move the same way; blocks that move in opposite directions claim no
    change (p-value 1, the ratio their geometric mean). Two processes running
    the same code can differ by more than the threshold on a short call (code and data
    placement: one A/A gate of the development VM flagged add/numpy at n=1 in both dtypes),
    and such a difference, steady within the two processes, is significant to a paired
    test; a second pair of processes does not repeat it."""
    report = GateReport("rerun", baseline_id, current_id, threshold, alpha, [])
    keys = sorted({k for block in blocks for k in block})
    needed = min_paired_pairs(len(keys), alpha)
    for key in keys:
        per_block = [_paired_comparison(key, block[key], needed, len(keys), alpha)
                     for block in blocks if key in block]  # fmt: skip
        report.comparisons.append(_every_block(key, per_block))
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


def _paired_comparison(
    key: PairKey, pair: Paired, needed: int, n_comparisons: int, alpha: float
) -> Comparison:
    a, b = (np.asarray(x, dtype=float) for x in pair)
    if len(a) != len(b) or len(a) < needed or (a <= 0).any() or (b <= 0).any():
        note = (
            f"{len(a)} paired samples; {needed} are needed to decide among "
            f"{n_comparisons} comparisons at alpha {alpha:g}"
        )
        return Comparison.undecided(key, len(a), len(b), note)
    d = np.log(b) - np.log(a)
    median, low, high = median_and_interval(d)
    return Comparison(
        key, math.exp(median), math.exp(low), math.exp(high), wilcoxon_p(d), len(a), len(b)
    )


def _every_block(key: PairKey, per_block: list[Comparison]) -> Comparison:
    """One comparison from the same pair measured by several process pairs (see
    ``compare_process_pairs``); an undecided block makes it undecided."""
    undecided = next((c for c in per_block if c.ratio is None), None)
    if undecided is not None or len(per_block) == 1:
        return undecided or per_block[0]
    logs = [math.log(c.ratio) for c in per_block]
    note = "process pairs: " + ", ".join(f"x{c.ratio:.3f}" for c in per_block)
    if all(x > 0 for x in logs) or all(x < 0 for x in logs):
        nearest = min(per_block, key=lambda c: abs(math.log(c.ratio)))
        ratio, low, high = nearest.ratio, nearest.low, nearest.high
        p = max(c.p for c in per_block)
    else:
        # No pair confirms the other's direction: a pair that moved the other way is no
        # evidence for a change in this one (its one-sided p-value is at least 1/2), so
        # nothing is claimed; beyond the threshold the verdict is undecided.
        ratio = math.exp(sum(logs) / len(logs))
        low, high = min(c.low for c in per_block), max(c.high for c in per_block)
        p, note = 1.0, note + " (opposite directions)"
    return Comparison(
        key, ratio, low, high, p,
        sum(c.n_base for c in per_block), sum(c.n_current for c in per_block), note=note,
    )  # fmt: skip
