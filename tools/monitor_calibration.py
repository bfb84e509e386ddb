"""Calibrate ``symbench monitor`` with this machine's run-to-run noise.

The noise is taken from a real history (``--store``, e.g. one made by
``tools/monitor_history.py``): for every series (pair and size) with at least ``--min-runs``
runs before ``--flat-until``, after the suite-drift correction monitor applies, its log
times minus their median are the residuals of that series. Each synthetic series draws a real series at random and resamples its residuals
(so heavy tails and the spread of noise between pairs are this machine's), then:

Three noise models: the resampled real residuals (heavy tails, load episodes included),
and Gaussian noise at the median and at the 90th percentile of the measured sigmas.

- ``flat``: 50 runs, no change: a series with any change point is a false alarm;
- ``step``: 50 runs with a ``--step`` slowdown from a random run in 10..40: found when a
  slowdown step is reported within +-2 runs of it.

Each series is judged alone (``monitor.detect`` on one series), as a pair's history is.

    python tools/monitor_calibration.py --store DIR [--series 500] [--step 0.1] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from symbench import monitor
from symbench.records import open_store


def residuals(store: str, flat_until: int, min_runs: int) -> list[np.ndarray]:
    records, _ = open_store(store).load_all()
    series, _ = monitor.histories(records[:flat_until])
    drift = monitor.correct_drift(series)  # the noise a pair's series has as monitor sees it
    monitor.leave_out(series, monitor.disturbed_runs(drift))
    out = []
    for s in series:
        if len(s.times_s) >= min_runs:
            y = np.log(np.asarray(s.times_s))
            out.append(y - np.median(y))
    return out


def trial(rng, pool, n, step, at, sigma=None) -> monitor.Series:
    """A synthetic series: residuals resampled from a random real series (``sigma`` None),
    or Gaussian noise of that standard deviation (in log time)."""
    if sigma is None:
        drawn = pool[rng.integers(len(pool))]
        y = rng.choice(drawn, size=n, replace=True)
    else:
        y = rng.normal(0.0, sigma, n)
    if step:
        y = y + np.where(np.arange(n) >= at, np.log1p(step), 0.0)
    s = monitor.Series("synthetic", "k", "b", "cpu", "float64", 1)
    s.run_ids = [f"run{i}" for i in range(n)]
    s.times_s = list(np.exp(y) * 1e-3)
    s.noise = monitor.noise(drawn) if sigma is None else sigma  # the noise it was drawn with
    return s


#: noise bands of the drawn series, for the resampled step trials (a 10 % step is under two
#: sigma in the noisiest series: no method locates it from single medians)
BANDS = ((0.0, 0.02), (0.02, 0.04), (0.04, 0.06), (0.06, 1.0))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--store", required=True)
    p.add_argument("--flat-until", type=int, default=11, help="runs of the store without change")
    p.add_argument("--min-runs", type=int, default=8)
    p.add_argument("--series", type=int, default=500)
    p.add_argument("--runs", type=int, default=50)
    p.add_argument("--step", type=float, default=0.10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    pool = residuals(args.store, args.flat_until, args.min_runs)
    if not pool:
        print("no series long enough in the store", file=sys.stderr)
        return 2
    sigmas = np.array([monitor.noise(r) for r in pool])
    models = {
        "resampled real residuals": None,
        "gaussian, median measured sigma": float(np.median(sigmas)),
        "gaussian, 90th-percentile measured sigma": float(np.percentile(sigmas, 90)),
    }
    rows = []
    for label, sigma in models.items():
        rng = np.random.default_rng(args.seed)
        false = 0
        for _ in range(args.series):
            s = trial(rng, pool, args.runs, 0.0, 0, sigma)
            monitor.detect([s])
            false += bool(s.steps)
        trials = []  # (noise of the drawn series, found, located)
        for _ in range(args.series):
            at = int(rng.integers(10, 41))
            s = trial(rng, pool, args.runs, args.step, at, sigma)
            monitor.detect([s])
            ups = [st for st in s.steps if st.change > 0]
            trials.append((s.noise, bool(ups), any(abs(st.index - at) <= 2 for st in ups)))
        row = {"noise": label, "sigma": sigma,
               "false_alarm_rate": false / args.series,
               "step_found_rate": sum(t[1] for t in trials) / args.series,
               "step_located_within_2_rate": sum(t[2] for t in trials) / args.series}  # fmt: skip
        if sigma is None:
            row["by_noise_of_the_drawn_series"] = [
                {"sigma": f"{lo:.0%}-{hi:.0%}" if hi < 1 else f"over {lo:.0%}",
                 "trials": len(band),
                 "step_found_rate": sum(t[1] for t in band) / max(len(band), 1),
                 "step_located_within_2_rate": sum(t[2] for t in band) / max(len(band), 1)}
                for lo, hi in BANDS
                for band in [[t for t in trials if lo <= t[0] < hi]]
            ]  # fmt: skip
        rows.append(row)
    out = {
        "store": args.store,
        "noise_series": len(pool),
        "noise_sigma_percentiles_25_50_75_90": [
            round(float(v), 4) for v in np.percentile(sigmas, [25, 50, 75, 90])
        ],
        "series_per_case": args.series,
        "runs_per_series": args.runs,
        "step": args.step,
        "penalty": monitor.PENALTY,
        "alpha": monitor.DEFAULT_ALPHA,
        "min_change": monitor.DEFAULT_MIN_CHANGE,
        "rows": rows,
    }
    print(json.dumps(out, indent=1 if args.json else None))
    return 0


if __name__ == "__main__":
    sys.exit(main())
