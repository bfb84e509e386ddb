"""Change points over a store's history: when did a pair's timing really move?

Each series is one pair at one size on one machine (``machine_key``: host, CPU model, GPU
names): the median time of every stored run, oldest first, on a log scale (a step is a
ratio). Candidate steps come from ``ruptures``' PELT search with an L2 cost and a penalty of
``PENALTY * sigma**2 * log(n)`` (a BIC-style penalty scaled by the series' own noise, sigma
estimated robustly from successive differences); each candidate is then tested, as Apache
Otava does after E-divisive, between the segments on either side: a permutation test of the
largest rank-based Mann-Whitney U over the places a step could take there (Otava uses
Student's t at the chosen place; here one run slowed by a neighbour's load must not make a
step, and the test pays for PELT having chosen the place). Before that, each run's
suite-wide factor is divided out (``correct_drift``), and runs the whole suite ran more than
``DISTURBED`` slower in are left out (``disturbed_runs``). The p-values of every candidate
in every series are corrected together (Benjamini-Hochberg,
``scipy.stats.false_discovery_control``), so a store with hundreds of series does not flag
noise somewhere by sheer number. A step is reported (a change point) when its corrected
p-value is below ``alpha`` and it changes the time by at least ``min_change``; its
confidence is ``1 - p``. A series is *flagged* when one of its steps is beyond ``threshold``
either way, and ``monitor`` fails (exit 1) when a series' newest step is a slowdown beyond
it, the suite drift series included (a lasting slowdown of every pair is divided out of
each).

Why ruptures: it is maintained, works with NumPy 2 (MongoDB's signal-processing-algorithms,
the E-divisive implementation Otava uses, pins NumPy 1), and PELT finds several steps in one
series exactly for a given penalty; the significance test is added here because ruptures
has none. Calibration on this machine: ``tools/monitor_calibration.py``, figures in
docs/measured.md.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from .records.mlflow_store import machine_key
from .records.schema import RunView

PENALTY = 3.0
MODEL = "l2"  # ruptures cost
MIN_SEGMENT = 3  # runs on each side of a step
MERGE_P = 0.05  # a candidate less significant than this (uncorrected) is merged away
DEFAULT_ALPHA = 0.01
DEFAULT_MIN_CHANGE = 0.05
DEFAULT_THRESHOLD = 0.10
DEFAULT_MIN_RUNS = 8
#: a machine's runs are corrected for suite-wide drift when it has at least this many series
MIN_SERIES_FOR_DRIFT = 10
#: a run is disturbed (taken while the machine was loaded) at a machine, device and size
#: when its suite-wide factor is this much above the median of the runs around it
#: (``DISTURBED_WINDOW`` on each side): measured on the development VM, a neighbour's load
#: episode made every other run 1.5-1.7x slower suite-wide for 8 runs, by 1.35x for numpy
#: pairs and 2x for numexpr's threads, so that dividing out one factor left steps of
#: +-8-19 % in pairs that never changed
DISTURBED = 0.10
#: runs on each side whose median is a run's usual level: a change that lasts longer than
#: this is the machine's new level (a step of the drift series), not an episode
DISTURBED_WINDOW = 4
DRIFT = "(suite drift)"

EXIT_OK, EXIT_SLOWER, EXIT_TOO_SHORT = 0, 1, 3


@dataclass
class Step:
    index: int  # the first run at the new level (0-based in the series)
    run_id: str
    before_s: float  # median of the segment before
    after_s: float
    change: float  # after / before - 1 (positive: slower)
    p_value: float  # permutation test of the largest U, corrected over every candidate
    confidence: float
    number: int = 0  # the run's 1-based position in the series' whole history


@dataclass
class Series:
    machine: str
    kernel: str
    backend: str
    device: str
    dtype: str
    size: int
    run_ids: list[str] = field(default_factory=list)
    times_s: list[float] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    # 1-based position of each run in the whole history (disturbed runs left out, numbered)
    positions: list[int] = field(default_factory=list)
    length: int = 0  # runs in the whole history, disturbed ones included

    @property
    def key(self) -> str:
        return f"{self.kernel}/{self.backend}/{self.device}/{self.dtype}/n={self.size}"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["key"] = self.key
        return d


@dataclass
class Report:
    series: list[Series]
    threshold: float
    alpha: float
    min_runs: int
    runs: int
    machines: dict[str, str]  # machine key -> description
    drift: list[Series] = field(default_factory=list)  # per machine, when corrected
    # runs left out of the pairs' series, per "machine/device/n=size"
    disturbed: dict[str, list[str]] = field(default_factory=dict)

    @property
    def change_points(self) -> list[Series]:
        """Series with at least one step (of at least ``min_change``)."""
        return [s for s in self.series if s.steps]

    @property
    def stepped(self) -> list[Series]:
        """Pairs' and drift series with a step: a whole suite that moved for good moved
        every pair, and is as much a change as one pair's."""
        return [*self.change_points, *(d for d in self.drift if d.steps)]

    @property
    def flagged(self) -> list[Series]:
        """Series with a step beyond the threshold, either way: what a user should look at."""
        return [s for s in self.stepped if any(beyond(st, self) for st in s.steps)]

    @property
    def newest_slowdowns(self) -> list[Series]:
        """Series whose newest step is a slowdown beyond the threshold."""
        return [s for s in self.stepped if s.steps[-1].change > self.threshold]

    @property
    def long_enough(self) -> list[Series]:
        return [s for s in self.series if len(s.times_s) >= self.min_runs]

    @property
    def exit_code(self) -> int:
        if not self.long_enough:
            return EXIT_TOO_SHORT
        return EXIT_SLOWER if self.newest_slowdowns else EXIT_OK

    def to_dict(self) -> dict[str, Any]:
        return {
            "exit_code": self.exit_code,
            "runs": self.runs,
            "series": len(self.series),
            "series_long_enough": len(self.long_enough),
            "threshold": self.threshold,
            "alpha": self.alpha,
            "min_runs": self.min_runs,
            "machines": self.machines,
            "drift_corrected": [d.machine for d in self.drift],
            "drift_steps": [d.to_dict() for d in self.drift if d.steps],
            "disturbed_runs": self.disturbed,
            "change_points": [s.to_dict() for s in self.change_points],
            "flagged": [s.key for s in self.flagged],
            "newest_slowdowns": [s.key for s in self.newest_slowdowns],
        }


def beyond(step: Step, report: Report) -> bool:
    return abs(step.change) > report.threshold


def histories(records: list[dict[str, Any]]) -> tuple[list[Series], dict[str, str]]:
    """One series per (machine, pair, size), records oldest first."""
    records = sorted(records, key=lambda r: (r.get("created", ""), r.get("run_id", "")))
    out: dict[tuple, Series] = {}
    machines: dict[str, str] = {}
    for record in records:
        view = RunView(record)
        machine = view.provenance.get("machine") or {}
        mkey = machine_key(machine)
        cpu = (machine.get("cpu") or {}).get("model", "?")
        machines[mkey] = f"{machine.get('hostname', '?')} ({cpu})"
        for r, t in view.timings():
            if t.median_s is None or t.median_s <= 0:
                continue
            key = (mkey, r.kernel, r.backend, r.device, r.dtype, t.size)
            s = out.setdefault(key, Series(*key))
            s.run_ids.append(view.run_id)
            s.times_s.append(t.median_s)
            s.length += 1
            s.positions.append(s.length)
    return list(out.values()), machines


def correct_drift(series: list[Series]) -> list[Series]:
    """Divide out each run's suite-wide factor, per machine, device and size, and return
    the factors as series.

    On a shared machine a neighbour's load slows every pair of a run at once (this VM:
    +13 to +38 % for three runs in a row, at 10^5 elements more than at 1, as memory
    bandwidth is what the neighbour takes); that is the machine's change, not a pair's. A
    run's factor is the median, over the series of that machine, device and size that
    have that run, of the series' log time minus its own median; a pair's steps are searched after dividing it
    out, and the factors themselves form a ``(suite drift)`` series, searched like the
    others, so a change of the whole environment (a compiler upgrade) is still reported,
    once. Machines with fewer than ``MIN_SERIES_FOR_DRIFT`` series are left as they are.
    """
    by_machine: dict[tuple[str, str, int], list[Series]] = {}
    for s in series:
        by_machine.setdefault((s.machine, s.device, s.size), []).append(s)
    drift = []
    for (machine, device, size), group in by_machine.items():
        if len(group) < MIN_SERIES_FOR_DRIFT:
            continue
        devs: dict[str, list[float]] = {}
        for s in group:
            y = np.log(np.asarray(s.times_s))
            for rid, d in zip(s.run_ids, y - np.median(y)):
                devs.setdefault(rid, []).append(float(d))
        factor = {rid: float(np.median(d)) for rid, d in devs.items()}
        for s in group:
            s.times_s = [t / math.exp(factor[r]) for t, r in zip(s.times_s, s.run_ids)]
        order = list(dict.fromkeys(r for s in group for r in s.run_ids))
        order.sort(key=lambda r: min(s.run_ids.index(r) for s in group if r in s.run_ids))
        d = Series(machine, DRIFT, "all", device, "-", size)
        d.run_ids = order
        d.times_s = [math.exp(factor[r]) for r in order]
        d.length = len(order)
        d.positions = list(range(1, len(order) + 1))
        drift.append(d)
    return drift


def disturbed_runs(drift: list[Series]) -> dict[tuple[str, str, int], list[str]]:
    """The runs of each (machine, device, size) whose suite drift factor is more than
    ``DISTURBED`` above the median of the ``DISTURBED_WINDOW`` runs on either side.

    A neighbour's load slows pairs by different factors (threads and memory-bound loops
    more), so a run taken under it is an outlier for every pair even after its suite-wide
    factor is divided out; Mann-Whitney between segments takes a cluster of such runs for a
    step. Those runs are left out of every series, the drift's too, and named in the
    report. The level is local, so a change that lasts (a compiler upgrade) is not an
    episode: from its first run on, most of the window sits at the new level, and the drift
    series shows it as a step. Load only slows, so only runs above the level count."""
    out: dict[tuple[str, str, int], list[str]] = {}
    w = DISTURBED_WINDOW
    for d in drift:
        y = np.log(np.asarray(d.times_s))
        hit = [
            r
            for i, r in enumerate(d.run_ids)
            if y[i] - float(np.median(y[max(0, i - w) : i + w + 1])) > math.log1p(DISTURBED)
        ]
        if hit:
            out[(d.machine, d.device, d.size)] = hit
    return out


def leave_out(series: list[Series], runs: dict[tuple[str, str, int], list[str]]) -> None:
    """Drop each series' runs that ``runs`` names for its machine, device and size."""
    for s in series:
        skip = set(runs.get((s.machine, s.device, s.size), ()))
        if skip:
            kept = [i for i, r in enumerate(s.run_ids) if r not in skip]
            s.run_ids = [s.run_ids[i] for i in kept]
            s.times_s = [s.times_s[i] for i in kept]
            s.positions = [s.positions[i] for i in kept]


def noise(y: np.ndarray) -> float:
    """Robust standard deviation of a series' run-to-run noise, from successive
    differences (a step moves one difference, not the median of them)."""
    if len(y) < 3:
        return float(np.std(y)) or 1e-12
    mad = float(np.median(np.abs(np.diff(y) - np.median(np.diff(y)))))
    return max(1.4826 * mad / math.sqrt(2), 1e-12)


def candidates(y: np.ndarray, penalty: float = PENALTY) -> list[int]:
    """Change-point indices (first index of each new segment) from ruptures' PELT."""
    import ruptures as rpt

    n = len(y)
    if n < 2 * MIN_SEGMENT:
        return []
    sigma = noise(y)
    algo = rpt.Pelt(model=MODEL, min_size=MIN_SEGMENT, jump=1).fit(y.reshape(-1, 1))
    return [b for b in algo.predict(pen=penalty * sigma**2 * math.log(n)) if b < n]


def _pvalues(y: np.ndarray, bounds: list[int]) -> list[float]:
    """p-value of each internal boundary: is there a step anywhere in the window between
    its neighbouring boundaries? (``window_pvalue``)"""
    edges = [0, *bounds, len(y)]
    return [window_pvalue(y[edges[i - 1] : edges[i + 1]]) for i in range(1, len(edges) - 1)]


def window_pvalue(x: np.ndarray, seed: int = 0) -> float:
    """Permutation p-value of the largest standardized Mann-Whitney U over the window's
    splits (at least ``MIN_SEGMENT`` runs on each side), as E-divisive judges its steps.

    PELT put the boundary where the two sides differ most, so U's own p-value at that
    place, computed as if the place had been fixed, is too small: flat series of 30 runs
    with heavy-tailed noise had a step at alpha 0.01 in 7.5 % of them, and a synthetic
    store of 105 flat series had one flagged in 3 of 20 trials. Comparing the largest U
    over every split with the same maximum over shuffled orders pays for the choice
    (2 %). Rank-based, so one slow run among many does not make a step. Shuffles come in
    rounds of 999, 9 000 and 90 000 until 20 of them reach the observed value (seeded: the
    same history gives the same p-value); the smallest p-value is 1e-5."""
    from scipy import stats

    ranks = stats.rankdata(x)
    observed = _largest_u(ranks[None, :])[0]
    rng = np.random.default_rng(seed)
    hits = total = 0
    chunk = max(1, 2_000_000 // len(x))
    for shuffles in (999, 9_000, 90_000):
        for done in range(0, shuffles, chunk):
            rows = rng.permuted(np.tile(ranks, (min(chunk, shuffles - done), 1)), axis=1)
            hits += int(np.count_nonzero(_largest_u(rows) >= observed - 1e-9))
            total += len(rows)
        if hits >= 20:
            break
    return (1 + hits) / (1 + total)


def _largest_u(ranks: np.ndarray) -> np.ndarray:
    """Per row of ranks, the largest |z| of Mann-Whitney's U between the first k and the
    rest, over k with ``MIN_SEGMENT`` on each side (normal standardization, no tie term)."""
    m = ranks.shape[1]
    k = np.arange(MIN_SEGMENT, m - MIN_SEGMENT + 1)
    if len(k) == 0:
        return np.zeros(len(ranks))
    u = np.cumsum(ranks, axis=1)[:, k - 1] - k * (k + 1) / 2
    z = (u - k * (m - k) / 2) / np.sqrt(k * (m - k) * (m + 1) / 12)
    return np.max(np.abs(z), axis=1)


def detect(
    series: list[Series],
    *,
    alpha: float = DEFAULT_ALPHA,
    min_change: float = DEFAULT_MIN_CHANGE,
    penalty: float = PENALTY,
    min_runs: int = DEFAULT_MIN_RUNS,
) -> None:
    """Fill each series' ``steps`` (see the module docstring)."""
    from scipy import stats

    found: list[tuple[Series, np.ndarray, int, float]] = []
    for s in series:
        s.steps = []
        if len(s.times_s) < min_runs:
            continue
        y = np.log(np.asarray(s.times_s))
        bounds = candidates(y, penalty)
        # A boundary whose segments do not differ (p > MERGE_P) is removed and its
        # neighbours merged, least significant first, so each test sees whole segments.
        while bounds:
            ps = _pvalues(y, bounds)
            worst = int(np.argmax(ps))
            if ps[worst] <= MERGE_P:
                break
            bounds.pop(worst)
        for b, p in zip(bounds, _pvalues(y, bounds)):
            found.append((s, y, b, p))
    if not found:
        return
    adjusted = stats.false_discovery_control([p for *_, p in found], method="bh")
    for (s, y, b, _), p in zip(found, adjusted):
        if p >= alpha:
            continue
        idx = [0, *candidates_of(s, found), len(y)]
        pos = idx.index(b)
        before = float(np.exp(np.median(y[idx[pos - 1] : b])))
        after = float(np.exp(np.median(y[b : idx[pos + 1]])))
        change = after / before - 1
        if abs(change) < min_change:
            continue
        number = s.positions[b] if s.positions else b + 1
        s.steps.append(Step(b, s.run_ids[b], before, after, change, float(p), 1 - float(p), number))


def candidates_of(s: Series, found: list) -> list[int]:
    return sorted(b for (t, _, b, _) in found if t is s)


def monitor(
    records: list[dict[str, Any]],
    *,
    threshold: float = DEFAULT_THRESHOLD,
    alpha: float = DEFAULT_ALPHA,
    min_change: float = DEFAULT_MIN_CHANGE,
    min_runs: int = DEFAULT_MIN_RUNS,
    kernels: list[str] | None = None,
    backends: list[str] | None = None,
    normalize: bool = True,
) -> Report:
    series, machines = histories(records)
    if kernels:
        series = [s for s in series if s.kernel in kernels]
    if backends:
        series = [s for s in series if s.backend in backends]
    return judge(
        series, machines, len(records), threshold=threshold, alpha=alpha,
        min_change=min_change, min_runs=min_runs, normalize=normalize,
    )  # fmt: skip


def judge(
    series: list[Series],
    machines: dict[str, str],
    runs: int,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    alpha: float = DEFAULT_ALPHA,
    min_change: float = DEFAULT_MIN_CHANGE,
    min_runs: int = DEFAULT_MIN_RUNS,
    normalize: bool = True,
) -> Report:
    """Steps in ``series`` (from ``histories``): the drift divided out, disturbed runs left
    out, then ``detect`` over all of them together."""
    drift = correct_drift(series) if normalize else []
    disturbed = disturbed_runs(drift)
    leave_out([*series, *drift], disturbed)
    detect([*series, *drift], alpha=alpha, min_change=min_change, min_runs=min_runs)
    named = {f"{m}/{d}/n={n}": ids for (m, d, n), ids in disturbed.items()}
    return Report(series, threshold, alpha, min_runs, runs, machines, drift, named)
