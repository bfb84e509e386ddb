"""``symbench gate``: a statistical performance regression gate.

The package: ``stats`` (arrays in, numbers out), ``report`` (pairs, comparisons, verdicts,
the report), ``records_mode`` (two stored runs), ``rerun`` (measure base and head now).

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

from .records_mode import (
    METHOD_FIELDS,
    MIN_PAIRS_FOR_NOISE,
    MIN_SAMPLES,
    compare_records,
    compare_samples,
    method_changes,
    record_samples,
)
from .render import to_junit, to_markdown
from .report import (
    DEFAULT_ALPHA,
    DEFAULT_RERUN_PAIRS,
    DEFAULT_RERUN_SAMPLE_S,
    DEFAULT_THRESHOLD,
    EXIT_NOT_ENOUGH_DATA,
    EXIT_REGRESSION,
    VERDICTS,
    Comparison,
    GateReport,
    PairKey,
    parse_threshold,
    summary_lines,
)
from .rerun import compare_paired, compare_process_pairs, rerun
from .stats import CONFIDENCE, min_paired_pairs

__all__ = [
    "CONFIDENCE",
    "DEFAULT_ALPHA",
    "DEFAULT_RERUN_PAIRS",
    "DEFAULT_RERUN_SAMPLE_S",
    "DEFAULT_THRESHOLD",
    "EXIT_NOT_ENOUGH_DATA",
    "EXIT_REGRESSION",
    "METHOD_FIELDS",
    "MIN_PAIRS_FOR_NOISE",
    "MIN_SAMPLES",
    "VERDICTS",
    "Comparison",
    "GateReport",
    "PairKey",
    "compare_paired",
    "compare_process_pairs",
    "compare_records",
    "compare_samples",
    "method_changes",
    "min_paired_pairs",
    "parse_threshold",
    "record_samples",
    "rerun",
    "summary_lines",
    "to_junit",
    "to_markdown",
]
