"""``symbench gate``: a statistical performance regression gate.

Two ways to get the timings it judges:

* **records** (``gate BASELINE CURRENT``): the raw samples of two stored runs. Two runs on
  a shared machine differ by far more than the noise inside one run (measured on the
  development VM: within-run relative IQR median 0.7 %, run-to-run ratios of one pair up to
  x1.6), so each pair's log ratio is modelled as *suite shift + between-run noise +
  sampling noise*. The suite shift is the median log ratio over all pairs; the between-run
  spread ``tau`` is estimated robustly (MAD) from the pairs themselves, per backend (the
  multi-threaded ones suffer most from a busy neighbour), in the
  manner of a random-effects meta-analysis; the sampling noise of each pair is the
  bootstrap standard error of its log ratio of medians (``scipy.stats.bootstrap``). A pair
  regresses when it is slower than the suite shift by more than the threshold and
  significantly so; the suite shift itself regresses when it exceeds the threshold.
  Where the estimated noise is too large for a threshold-sized change to stand 2 standard
  deviations clear of it, the pair (or the suite shift) is "undecided", exit 3, never a
  guess: on a shared VM two separate runs often are (use ``--rerun``).
* **rerun** (``gate --rerun BASELINE``): the baseline's pairs are measured again now, the
  baseline's kernel definition and the current one compiled side by side and sampled
  alternately (``timing.interleave``, ABBA order, one loop count), so base and head share the
  runner's state. Each pair gives paired log ratios, tested with the Wilcoxon signed-rank
  test (``scipy.stats.wilcoxon``, exact), with a bootstrap interval of their median. This is
  the mode for CI on noisy shared runners.

In both, many pairs are compared at once, so the p-values are adjusted with
Benjamini-Hochberg (``scipy.stats.false_discovery_control``): a verdict needs an adjusted
p-value at most ``alpha`` *and* a ratio beyond the threshold. Under "nothing changed" that
bounds the chance that a gate run flags anything by ``alpha``.

Exit codes: 0 nothing regressed, 1 a regression (or a current pair that fails its
equivalence check), 2 bad input (including records from different environments without
``--allow-env-change``), 3 not enough data to decide.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from .errors import BadInput
from .records.provenance import environment_changes
from .records.schema import RunView

EXIT_REGRESSION = 1
EXIT_NOT_ENOUGH_DATA = 3
DEFAULT_THRESHOLD = 0.10
DEFAULT_ALPHA = 0.01
DEFAULT_RERUN_PAIRS = 21
DEFAULT_RERUN_SAMPLE_S = 0.005
MIN_SAMPLES = 5  # per side, records mode
MIN_PAIRS_FOR_NOISE = 8  # pairs needed to estimate the between-run spread of a backend
# Records mode: a pair's deviation from the suite shift, in units of its noise, is judged on a
# Student t with this many degrees of freedom, not a normal: between-run deviations have heavy
# tails (with a normal, 2 of 20 A/A gate runs on the development VM flagged a pair where the
# false discovery rate allows 0.2; with t(4), none did).
NOISE_DF = 4
BOOTSTRAP_RESAMPLES = 999
CONFIDENCE = 0.95
_RNG_SEED = 20261123  # bootstrap intervals are reproducible from the same samples


@dataclass(frozen=True, order=True)
class PairKey:
    kernel: str
    backend: str
    device: str
    dtype: str
    size: int

    def __str__(self) -> str:
        return f"{self.kernel}/{self.backend}/{self.device}/{self.dtype}/n={self.size}"


@dataclass
class Comparison:
    """One pair: ``ratio`` is current time / baseline time (> 1 is slower)."""

    key: PairKey
    ratio: float | None
    low: float | None
    high: float | None
    p: float | None
    n_base: int
    n_current: int
    verdict: str = "unchanged"  # regression, improvement, unchanged, insufficient, incorrect
    q: float | None = None
    note: str = ""

    @classmethod
    def undecided(cls, key: PairKey, n_base: int, n_current: int, note: str) -> Comparison:
        return cls(key, None, None, None, None, n_base, n_current, "insufficient", note=note)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["key"] = str(self.key)
        d.update(asdict(self.key))
        return d


@dataclass
class GateReport:
    mode: str  # "records" or "rerun"
    baseline: str
    current: str
    threshold: float
    alpha: float
    comparisons: list[Comparison]
    suite_shift: float | None = None
    suite_verdict: str = "unchanged"
    noise: dict[str, float] = field(default_factory=dict)
    environment: list[str] = field(default_factory=list)
    only_baseline: list[str] = field(default_factory=list)
    only_current: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def _with(self, verdict: str) -> list[Comparison]:
        return [c for c in self.comparisons if c.verdict == verdict]

    @property
    def regressions(self) -> list[Comparison]:
        return self._with("regression") + self._with("incorrect")

    @property
    def improvements(self) -> list[Comparison]:
        return self._with("improvement")

    @property
    def insufficient(self) -> list[Comparison]:
        return self._with("insufficient")

    @property
    def exit_code(self) -> int:
        if self.regressions or self.suite_verdict == "regression":
            return EXIT_REGRESSION
        if self.insufficient or self.problems or not self.comparisons:
            return EXIT_NOT_ENOUGH_DATA
        return 0

    @property
    def verdict(self) -> str:
        return {0: "pass", EXIT_REGRESSION: "regression", EXIT_NOT_ENOUGH_DATA: "undecided"}[
            self.exit_code
        ]

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "exit_code": self.exit_code,
            "mode": self.mode,
            "baseline": self.baseline,
            "current": self.current,
            "threshold": self.threshold,
            "alpha": self.alpha,
            "suite_shift": self.suite_shift,
            "suite_verdict": self.suite_verdict,
            "noise": self.noise,
            "environment_changes": self.environment,
            "only_baseline": self.only_baseline,
            "only_current": self.only_current,
            "problems": self.problems,
            "counts": {
                v: len(self._with(v))
                for v in ("regression", "incorrect", "improvement", "unchanged", "insufficient")
            },
            "comparisons": [c.to_dict() for c in self.comparisons],
        }


def parse_threshold(text: str) -> float:
    """``10%``, ``10 %`` or ``0.1`` -> 0.1; BadInput for anything else or out of (0, 10)."""
    raw = text.strip()
    try:
        value = float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
    except ValueError:
        raise BadInput(f"threshold {text!r} is not a number or percentage (e.g. 10%)") from None
    if not 0 < value < 10:
        raise BadInput(f"threshold {text!r} must be above 0% and below 1000%")
    return value


def record_samples(record: Mapping[str, Any]) -> dict[PairKey, list[float]]:
    """Raw timing samples (seconds per call) of every timed pair and size of a record."""
    return {
        PairKey(r.kernel, r.backend, r.device, r.dtype, t.size): [float(s) for s in t.samples]
        for r, t in RunView(record).timings()
    }


def _adjust(comparisons: list[Comparison], threshold: float, alpha: float) -> None:
    """Benjamini-Hochberg over the pairs with a p-value, then the verdicts."""
    from scipy.stats import false_discovery_control

    tested = [c for c in comparisons if c.p is not None]
    if not tested:
        return
    qs = false_discovery_control([c.p for c in tested], method="bh")
    for c, q in zip(tested, qs):
        c.q = float(q)
        if c.verdict != "unchanged" or q > alpha:
            continue
        effect = c.ratio
        if effect > 1 + threshold:
            c.verdict = "regression"
        elif effect < 1 / (1 + threshold):
            c.verdict = "improvement"


def _bootstrap(data: tuple[np.ndarray, ...], statistic: Callable[..., Any]):
    from scipy.stats import bootstrap

    return bootstrap(
        data,
        statistic,
        n_resamples=BOOTSTRAP_RESAMPLES,
        confidence_level=CONFIDENCE,
        method="percentile",
        vectorized=True,
        random_state=np.random.default_rng(_RNG_SEED),
    )


def _log_median_diff(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.median(b, axis=axis) - np.median(a, axis=axis)


def compare_samples(
    base: Mapping[PairKey, list[float]],
    current: Mapping[PairKey, list[float]],
    *,
    threshold: float = DEFAULT_THRESHOLD,
    alpha: float = DEFAULT_ALPHA,
    baseline_id: str = "baseline",
    current_id: str = "current",
) -> GateReport:
    """Records mode: unpaired samples from two separate runs (see the module docstring)."""
    from scipy.stats import t as student_t

    dist = student_t(NOISE_DF)
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
        d = float(_log_median_diff(a, b))
        se = float(_bootstrap((a, b), _log_median_diff).standard_error)
        estimates[key] = (d, se)
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
    tau2 = _between_run_variance(estimates, shift)
    report.suite_shift = math.exp(shift)
    report.noise = {group: math.sqrt(v) for group, v in sorted(tau2.items())}
    z_crit = dist.ppf(0.5 + CONFIDENCE / 2)
    resolvable = math.log1p(threshold) / 2  # a threshold-sized change is >= 2 noise sd
    for key, (d, se) in estimates.items():
        sd = math.sqrt(se**2 + tau2[key.backend])
        resid = d - shift
        if sd > resolvable:
            undecided = Comparison.undecided(
                key,
                len(base[key]),
                len(current[key]),
                f"run-to-run noise ±{math.expm1(sd):.0%} cannot resolve a {threshold:.0%} "
                "change (use --rerun)",
            )
            undecided.ratio = math.exp(resid)
            report.comparisons.append(undecided)
            continue
        p = float(2 * dist.sf(abs(resid) / sd)) if sd > 0 else (0.0 if resid else 1.0)
        report.comparisons.append(
            Comparison(
                key,
                math.exp(resid),
                math.exp(resid - z_crit * sd),
                math.exp(resid + z_crit * sd),
                p,
                len(base[key]),
                len(current[key]),
                note=f"x{math.exp(d):.3f} raw, relative to the suite shift",
            )
        )
    _adjust(report.comparisons, threshold, alpha)
    if abs(shift) > math.log1p(threshold):
        typical = math.sqrt(float(np.median(list(tau2.values()))))
        if typical > resolvable:  # pairs scatter this much: the machine itself moved
            report.suite_verdict = "undecided"
            report.problems.append(
                f"the whole suite moved x{report.suite_shift:.2f} while single pairs scatter "
                f"±{math.expm1(typical):.0%} between these runs: a change of the machine's "
                "speed cannot be told from a change of the code (use --rerun)"
            )
        else:
            report.suite_verdict = "regression" if shift > 0 else "improvement"
    report.comparisons.sort(key=lambda c: c.key)
    return report


def _between_run_variance(
    estimates: Mapping[PairKey, tuple[float, float]], shift: float
) -> dict[str, float]:
    """tau^2 per backend (pooled for backends with too few pairs): robust spread of the residual log ratios minus the part
    the pairs' own sampling noise explains (DerSimonian-Laird in spirit, MAD for robustness:
    up to half of the pairs may have really changed without inflating it)."""

    def tau2(items: list[tuple[float, float]]) -> float:
        resid = np.array([d - shift for d, _ in items])
        mad = 1.4826 * float(np.median(np.abs(resid - np.median(resid))))
        return max(0.0, mad**2 - float(np.median([se**2 for _, se in items])))

    groups: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for key, est in estimates.items():
        groups[key.backend].append(est)
    pooled = tau2(list(estimates.values()))
    return {
        group: tau2(items) if len(items) >= MIN_PAIRS_FOR_NOISE else pooled
        for group, items in groups.items()
    }


def min_paired_pairs(n_comparisons: int, alpha: float) -> int:
    """Fewest paired samples with which the exact two-sided Wilcoxon test can reach the
    Benjamini-Hochberg bar for a lone change among ``n_comparisons`` (p <= alpha / m)."""
    n = 1
    while 2.0 ** (1 - n) > alpha / max(n_comparisons, 1):
        n += 1
    return n


def compare_paired(
    pairs: Mapping[PairKey, tuple[list[float], list[float]]],
    *,
    threshold: float = DEFAULT_THRESHOLD,
    alpha: float = DEFAULT_ALPHA,
    baseline_id: str = "baseline",
    current_id: str = "current",
    notes: Mapping[PairKey, tuple[str, str]] | None = None,
) -> GateReport:
    """Rerun mode: ``pairs[key] = (base_samples, current_samples)`` taken alternately."""
    from scipy.stats import wilcoxon

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
        ci = _bootstrap((d,), np.median).confidence_interval
        p = 1.0 if not d.any() else float(wilcoxon(d).pvalue)
        report.comparisons.append(
            Comparison(
                key,
                math.exp(float(np.median(d))),
                math.exp(ci.low),
                math.exp(ci.high),
                p,
                len(a),
                len(b),
            )
        )
    for key, (verdict, note) in (notes or {}).items():
        noted = Comparison.undecided(key, 0, 0, note)
        noted.verdict = verdict
        report.comparisons.append(noted)
    _adjust(report.comparisons, threshold, alpha)
    measured = [c.ratio for c in report.comparisons if c.ratio]
    if measured:
        report.suite_shift = math.exp(float(np.median(np.log(measured))))
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


# How samples were taken; a run recorded before a field existed used the value given here.
METHOD_FIELDS = {"sampling": "per-pair blocks", "min_sample_s": None}


def method_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """Differences in how two runs sampled (a change there moves timings like code does)."""
    changes = []
    for name, default in METHOD_FIELDS.items():
        a, b = old.get(name, default), new.get(name, default)
        if a != b:
            changes.append(f"{name}: {a} -> {b}")
    return changes


def summary_lines(report: GateReport) -> Iterable[str]:
    """Plain sentences for the end of the CLI output."""
    n = len(report.comparisons)
    yield (
        f"{report.mode}: {n} comparisons, {len(report.regressions)} regressed, "
        f"{len(report.improvements)} improved, {len(report.insufficient)} undecided "
        f"(threshold {report.threshold:.0%}, false discovery rate {report.alpha:g})"
    )
    if report.suite_shift is not None:
        yield f"suite shift: x{report.suite_shift:.3f} ({report.suite_verdict})"
    if report.noise:
        spread = ", ".join(f"{k} ±{math.expm1(v):.0%}" for k, v in report.noise.items())
        yield f"between-run noise estimated from the suite: {spread}"
    yield from report.problems
    if report.environment:
        yield "environment changes: " + "; ".join(report.environment)
