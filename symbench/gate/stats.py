"""The gate's statistics: NumPy arrays in, plain numbers out (no pairs, no records)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

# Records mode: a pair's deviation from the suite shift, in units of its noise, is judged on a
# Student t with this many degrees of freedom, not a normal: between-run deviations have heavy
# tails (with a normal, 2 of 20 A/A gate runs on the development VM flagged a pair where the
# false discovery rate allows 0.2; with t(4), none did).
NOISE_DF = 4
BOOTSTRAP_RESAMPLES = 999
CONFIDENCE = 0.95
_RNG_SEED = 20261123  # bootstrap intervals are reproducible from the same samples


def bootstrap(data: tuple[np.ndarray, ...], statistic: Callable[..., Any]):
    """``scipy.stats.bootstrap`` with the gate's settings (percentile, fixed seed)."""
    from scipy.stats import bootstrap as scipy_bootstrap

    return scipy_bootstrap(
        data,
        statistic,
        n_resamples=BOOTSTRAP_RESAMPLES,
        confidence_level=CONFIDENCE,
        method="percentile",
        vectorized=True,
        random_state=np.random.default_rng(_RNG_SEED),
    )


def log_median_diff(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
    """median(b) - median(a): of log times, the log ratio of medians."""
    return np.median(b, axis=axis) - np.median(a, axis=axis)


def median_diff_and_se(log_a: np.ndarray, log_b: np.ndarray) -> tuple[float, float]:
    """The log ratio of medians of two unpaired samples and its bootstrap standard error."""
    d = float(log_median_diff(log_a, log_b))
    return d, float(bootstrap((log_a, log_b), log_median_diff).standard_error)


def median_and_interval(d: np.ndarray) -> tuple[float, float, float]:
    """Median of paired log ratios and its bootstrap confidence interval."""
    ci = bootstrap((d,), np.median).confidence_interval
    return float(np.median(d)), float(ci.low), float(ci.high)


def between_run_variance(
    groups: Mapping[str, Sequence[tuple[float, float]]], shift: float, min_pairs: int
) -> dict[str, float]:
    """tau^2 per group (pooled over all groups for a group of fewer than ``min_pairs``) from
    (log ratio, standard error) estimates: the robust spread of the residual log ratios minus
    the part the estimates' own sampling noise explains (DerSimonian-Laird in spirit, MAD for
    robustness: up to half of the pairs may have really changed without inflating it)."""

    def tau2(items: Sequence[tuple[float, float]]) -> float:
        resid = np.array([d - shift for d, _ in items])
        mad = 1.4826 * float(np.median(np.abs(resid - np.median(resid))))
        return max(0.0, mad**2 - float(np.median([se**2 for _, se in items])))

    pooled = tau2([est for items in groups.values() for est in items])
    return {g: tau2(items) if len(items) >= min_pairs else pooled for g, items in groups.items()}


def t_critical() -> float:
    """The two-sided ``CONFIDENCE`` quantile of Student's t with ``NOISE_DF`` df."""
    from scipy.stats import t as student_t

    return float(student_t(NOISE_DF).ppf(0.5 + CONFIDENCE / 2))


def t_two_sided_p(deviation: float, sd: float) -> float:
    """Two-sided p-value of ``deviation`` in units of ``sd`` on Student's t (NOISE_DF)."""
    from scipy.stats import t as student_t

    if sd <= 0:
        return 0.0 if deviation else 1.0
    return float(2 * student_t(NOISE_DF).sf(abs(deviation) / sd))


def wilcoxon_p(d: np.ndarray) -> float:
    """Exact two-sided Wilcoxon signed-rank p-value of paired differences (1 when all 0)."""
    from scipy.stats import wilcoxon

    return 1.0 if not d.any() else float(wilcoxon(d).pvalue)


def bh_qvalues(pvalues: Sequence[float]) -> list[float]:
    """Benjamini-Hochberg adjusted p-values (``scipy.stats.false_discovery_control``)."""
    from scipy.stats import false_discovery_control

    return [float(q) for q in false_discovery_control(list(pvalues), method="bh")]


def min_paired_pairs(n_comparisons: int, alpha: float) -> int:
    """Fewest paired samples with which the exact two-sided Wilcoxon test can reach the
    Benjamini-Hochberg bar for a lone change among ``n_comparisons`` (p <= alpha / m)."""
    n = 1
    while 2.0 ** (1 - n) > alpha / max(n_comparisons, 1):
        n += 1
    return n
