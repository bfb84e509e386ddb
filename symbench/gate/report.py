"""What the gate decides: pair keys, comparisons, the one word per verdict, the report, and
the sentences the CLI prints under its table."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from ..errors import BadInput
from .stats import bh_qvalues

EXIT_REGRESSION = 1
EXIT_NOT_ENOUGH_DATA = 3
DEFAULT_THRESHOLD = 0.10
DEFAULT_ALPHA = 0.01
DEFAULT_RERUN_PAIRS = 21
DEFAULT_RERUN_SAMPLE_S = 0.005

# One word per verdict, for a pair, for the suite shift and for the whole gate run.
REGRESSION = "regression"
IMPROVEMENT = "improvement"
UNCHANGED = "unchanged"
UNDECIDED = "undecided"  # the data cannot tell a threshold-sized change from noise
INCORRECT = "incorrect"  # the current pair fails its equivalence check
VERDICTS = (REGRESSION, INCORRECT, IMPROVEMENT, UNCHANGED, UNDECIDED)


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
    verdict: str = UNCHANGED  # one of VERDICTS
    q: float | None = None
    note: str = ""

    @classmethod
    def undecided(cls, key: PairKey, n_base: int, n_current: int, note: str) -> Comparison:
        return cls(key, None, None, None, None, n_base, n_current, UNDECIDED, note=note)

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
    suite_verdict: str = UNCHANGED
    noise: dict[str, float] = field(default_factory=dict)
    environment: list[str] = field(default_factory=list)
    only_baseline: list[str] = field(default_factory=list)
    only_current: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def _with(self, verdict: str) -> list[Comparison]:
        return [c for c in self.comparisons if c.verdict == verdict]

    @property
    def regressions(self) -> list[Comparison]:
        return self._with(REGRESSION) + self._with(INCORRECT)

    @property
    def improvements(self) -> list[Comparison]:
        return self._with(IMPROVEMENT)

    @property
    def undecided(self) -> list[Comparison]:
        return self._with(UNDECIDED)

    # The name this list had before the verdict got one word (kept for existing callers).
    insufficient = undecided

    @property
    def exit_code(self) -> int:
        if self.regressions or self.suite_verdict == REGRESSION:
            return EXIT_REGRESSION
        if self.undecided or self.problems or not self.comparisons:
            return EXIT_NOT_ENOUGH_DATA
        return 0

    @property
    def verdict(self) -> str:
        return {0: "pass", EXIT_REGRESSION: REGRESSION, EXIT_NOT_ENOUGH_DATA: UNDECIDED}[
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
            "counts": {v: len(self._with(v)) for v in VERDICTS},
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


def assign_verdicts(comparisons: list[Comparison], threshold: float, alpha: float) -> None:
    """Benjamini-Hochberg over the pairs with a p-value, then each pair's verdict: a change
    needs an adjusted p-value at most ``alpha`` and a ratio beyond the threshold; a ratio
    beyond the threshold that is not significant is ``undecided`` (it looks like a change
    the noise does not let us confirm); anything else is ``unchanged``, so identical runs
    pass whatever their noise."""
    tested = [c for c in comparisons if c.p is not None]
    if not tested:
        return
    for c, q in zip(tested, bh_qvalues([c.p for c in tested])):
        c.q = q
        if c.verdict != UNCHANGED:
            continue
        beyond = c.ratio > 1 + threshold or c.ratio < 1 / (1 + threshold)
        if beyond and q > alpha:
            c.verdict = UNDECIDED
        elif beyond:
            c.verdict = REGRESSION if c.ratio > 1 else IMPROVEMENT


def summary_lines(report: GateReport) -> Iterable[str]:
    """Plain sentences for the end of the CLI output."""
    n = len(report.comparisons)
    yield (
        f"{report.mode}: {n} comparisons, {len(report.regressions)} regressed, "
        f"{len(report.improvements)} improved, {len(report.undecided)} undecided "
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
