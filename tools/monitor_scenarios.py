"""Synthetic stores for ``symbench monitor``: known steps in a store shaped like a real one.

Each store has ``--pairs`` pairs at 3 sizes on one machine (105 series by default, as a
``--quick`` history of numpy, numexpr, numba and cython), every series with its own noise:
Student-t with 4 degrees of freedom (heavy tails, as this VM's), a standard deviation drawn
from ``--sigma LO,HI`` (the development VM measured 1.9-4.2 % and 3.3-9.6 % on two days).
Each scenario then moves some series and runs ``monitor.judge`` over the whole store, as
``symbench monitor`` does: drift correction, disturbed runs left out, every series tested
together. A scenario passes when exactly the moved series are flagged (a step beyond 10 %),
each with a step within +-2 runs of where it was made; the suite-wide ones are expected in
the drift series only.

    python tools/monitor_scenarios.py [--seeds 5] [--sigma 0.019,0.042] [--json]
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from symbench import monitor

SIZES = (1, 1000, 100000)


def store(runs: int, rng, pairs: int, sigma: tuple[float, float]) -> list[monitor.Series]:
    out = []
    for p in range(pairs):
        for n in SIZES:
            sd = rng.uniform(*sigma)
            y = rng.standard_t(4, runs) * sd / np.sqrt(2)  # t4 has variance 2
            s = monitor.Series("m", f"k{p}", f"b{p % 4}", "cpu", "float64", n)
            s.run_ids = [f"r{j:02d}" for j in range(runs)]
            s.times_s = list(np.exp(y) * 1e-4 * (p + 1))
            s.positions = list(range(1, runs + 1))
            s.length = runs
            out.append(s)
    return out


def move(series, pick, at: int, change: float, until: int | None = None) -> None:
    for s in series:
        if pick(s):
            for j in range(at, until or len(s.times_s)):
                s.times_s[j] *= 1 + change


def one_pair(name):
    return lambda s: s.kernel == name


#: name: (runs, moves [(pick, first moved 0-based run, change, end)], expected flagged steps
#: as {(kernel, size) or "drift": [1-based run numbers]}; sizes None means all three)
SCENARIOS = {
    "one pair +15 % at run 31 of 40": (40, [(one_pair("k3"), 30, 0.15)], {"k3": [31]}),
    "one pair at one size +12 % at run 9 of 25": (
        25, [(lambda s: s.kernel == "k5" and s.size == 1000, 8, 0.12)], {("k5", 1000): [9]},
    ),
    "one pair +25 % in the newest 6 of 30": (30, [(one_pair("k7"), 24, 0.25)], {"k7": [25]}),
    "one backend (9 pairs) +20 % at run 16 of 30": (
        30, [(lambda s: s.backend == "b1", 15, 0.20)],
        {f"k{p}": [16] for p in range(35) if p % 4 == 1},
    ),
    "whole suite +20 % at run 21 of 30": (30, [(lambda s: True, 20, 0.20)], {"drift": [21]}),
    "one pair -30 % at run 11 of 30": (30, [(one_pair("k2"), 10, -0.30)], {"k2": [11]}),
    "one pair +20 % from run 11, back at run 21": (
        30, [(one_pair("k4"), 10, 0.20, 20)], {"k4": [11, 21]},
    ),
    "three loaded runs (1.6x) and one pair +20 % at run 19": (
        30,
        [*((lambda s: True, r, 0.6, r + 1) for r in (12, 14, 16)), (one_pair("k9"), 18, 0.2)],
        {"k9": [19]},
    ),
    "one run 3x slower in one pair": (30, [(one_pair("k1"), 15, 2.0, 16)], {}),
    "flat, 50 runs": (50, [], {}),
}  # fmt: skip


def judge(name: str, seed: int, pairs: int, sigma) -> dict:
    runs, moves, expected = SCENARIOS[name]
    series = store(runs, np.random.default_rng(seed), pairs, sigma)
    for m in moves:
        move(series, *m)
    report = monitor.judge(series, {"m": "m"}, runs)
    want = {}
    for key, at in expected.items():
        if key == "drift":
            want.update({(monitor.DRIFT, n): at for n in SIZES})
        elif isinstance(key, tuple):
            want[key] = at
        else:
            want.update({(key, n): at for n in SIZES})
    got = {(s.kernel, s.size): [st.number for st in s.steps] for s in report.flagged}
    located = set(want) == set(got) and all(
        len(got[k]) == len(at) and all(abs(g - a) <= 2 for g, a in zip(got[k], at))
        for k, at in want.items()
    )
    return {
        "scenario": name, "seed": seed, "passed": located, "exit_code": report.exit_code,
        "flagged": {f"{k}/n={n}": v for (k, n), v in got.items()},
        "expected": {f"{k}/n={n}": v for (k, n), v in want.items()},
        "change_points": len(report.change_points),
    }  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--pairs", type=int, default=35)
    p.add_argument("--sigma", default="0.019,0.042", help="LO,HI of each series' noise (log)")
    p.add_argument("--json", action="store_true")
    a = p.parse_args()
    lo, hi = (float(v) for v in a.sigma.split(","))
    rows = [judge(n, seed, a.pairs, (lo, hi)) for n in SCENARIOS for seed in range(a.seeds)]
    if a.json:
        print(json.dumps(rows, indent=1))
        return
    for name in SCENARIOS:
        mine = [r for r in rows if r["scenario"] == name]
        misses = [r for r in mine if not r["passed"]]
        print(f"{sum(r['passed'] for r in mine)}/{len(mine)}  {name}")
        for r in misses:
            print(f"      seed {r['seed']}: flagged {r['flagged']}, expected {r['expected']}")


if __name__ == "__main__":
    main()
