"""Calibrate ``symbench gate`` on this machine: false alarms (A/A) and detection (injected).

    python tools/gate_calibration.py aa --runs 20 [--baseline RUN]
    python tools/gate_calibration.py inject --runs 20 [--baseline RUN] [--slowdowns 0.2,0.1]
    python tools/gate_calibration.py records --store DIR   # records mode, from stored runs

``aa``: the same code against itself, ``--runs`` gate runs of ``gate --rerun`` over the
baseline's pairs; a run that flags anything is a false alarm.

``inject``: in each gate run one randomly chosen (kernel, backend, dtype) pair per slowdown
is given a test-only backend, ``SlowedBackend``, whose every call does ``factor`` more work
(it evaluates, then keeps the CPU busy for ``factor`` times the time the evaluation took).
The base side of the same pair is wrapped with factor 0, so both pay the same wrapper
overhead and the true ratio is exactly ``1 + factor``. Reported: the fraction of runs in
which the gate flagged the injected pair (per size, and at any size), and false alarms
on the untouched pairs.

``records``: records mode on a store of repeated runs of the same code: every consecutive
pair of records is an A/A gate run; then each record is gated against a copy of the next
one with one pair's samples scaled by each slowdown.

The baseline is a ``symbench run --quick`` record (made in a temporary store when
``--baseline`` is not given). Results: one JSON line per gate run, then a summary line;
``--out FILE`` also writes them as one JSON document.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from symbench.backends import Backend, Compiled, get_backend
from symbench.gate import DEFAULT_RERUN_PAIRS, DEFAULT_RERUN_SAMPLE_S, compare_records, rerun
from symbench.records import Store
from symbench.runner import QUICK_KERNELS, QUICK_SIZES, RunSettings, run


class SlowedBackend(Backend):
    """Test-only: the wrapped backend's kernel, then busy work for ``factor`` x the time a
    call costs the caller.

    That time is the call's own duration, or, when calls come back to back (the timing
    core's inner loop), the period between them minus the previous busy work, which also
    counts the caller's per-call overhead; otherwise at one element, where that overhead is
    a large part of a call, the injected slowdown would be well under ``factor``."""

    library = "symbench"

    def __init__(self, inner: str, factor: float):
        self.inner, self.factor = get_backend(inner), factor
        self.id = f"{inner}+{factor:.0%}"

    def compile(self, kernel, dtype, device="cpu") -> Compiled:
        compiled = self.inner.compile(kernel, dtype, device)
        # Both calls are slowed: timing uses the one writing into a preallocated output
        # (``fn_out``) where the backend has it, callers the allocating one.
        compiled.fn = self._slowed(compiled.fn, compiled.sync)
        if compiled.fn_out is not None:
            compiled.fn_out = self._slowed(compiled.fn_out, compiled.sync)
        return compiled

    def _slowed(self, fn, sync):
        factor = self.factor
        clock = time.perf_counter
        last = {"entry": -1.0, "spun": 0.0}

        def slowed(*args):
            entry = clock()
            out = sync(fn(*args))
            own = clock() - entry
            gap = entry - last["entry"]
            previous = own + last["spun"]
            back_to_back = gap < previous + max(0.5 * previous, 20e-6)
            work = gap - last["spun"] if back_to_back else own
            spin = factor * work
            last["entry"], last["spun"] = entry, spin
            end = clock() + spin
            while clock() < end:
                pass
            return out

        return slowed


def quick_baseline(store: Path) -> dict[str, Any]:
    from symbench.backends import select_backends
    from symbench.kernels import get_kernel

    settings = RunSettings(sizes=QUICK_SIZES, quick=True)
    record, _ = run([get_kernel(k) for k in QUICK_KERNELS], select_backends(None), settings,
                    Store.open(store))  # fmt: skip
    return record


def flagged(report) -> list[str]:
    return [str(c.key) for c in report.regressions + report.improvements]


def aa(baseline, args) -> list[dict[str, Any]]:
    rows = []
    for i in range(args.runs):
        start = time.perf_counter()
        report = rerun(baseline, pairs=args.samples, min_sample_s=args.min_sample_s)
        rows.append(
            {
                "run": i,
                "seconds": round(time.perf_counter() - start, 1),
                "comparisons": len(report.comparisons),
                "flagged": flagged(report),
                "exit_code": report.exit_code,
                "max_ratio": max(c.ratio for c in report.comparisons if c.ratio),
                "min_ratio": min(c.ratio for c in report.comparisons if c.ratio),
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    alarms = sum(1 for r in rows if r["flagged"])
    print(json.dumps({"summary": "aa", "runs": len(rows), "runs_flagging_anything": alarms}))
    return rows


def inject(baseline, args) -> list[dict[str, Any]]:
    slowdowns = [float(s) for s in args.slowdowns.split(",")]
    pairs = sorted(
        {(r["kernel"], r["backend"], r["dtype"]) for r in baseline["results"] if r.get("timings")}
    )
    rows = []
    for i in range(args.runs):
        targets = dict(zip(random.Random(i).sample(pairs, len(slowdowns)), slowdowns))

        def wrap(factor_if_target: bool, targets=targets):
            def compile_(kernel, backend, dtype, device):
                factor = targets.get((kernel.name, backend, dtype))
                if factor is None:
                    return get_backend(backend).compile(kernel, dtype, device)
                return SlowedBackend(backend, factor if factor_if_target else 0.0).compile(
                    kernel, dtype, device
                )

            return compile_

        start = time.perf_counter()
        report = rerun(
            baseline,
            pairs=args.samples,
            min_sample_s=args.min_sample_s,
            compile_base=wrap(False),
            compile_head=wrap(True),
        )
        row: dict[str, Any] = {"run": i, "injected": [], "false_alarms": [],
                               "seconds": round(time.perf_counter() - start, 1)}  # fmt: skip
        for c in report.comparisons:
            factor = targets.get((c.key.kernel, c.key.backend, c.key.dtype))
            if factor is None:
                if c.verdict in ("regression", "improvement", "incorrect"):
                    row["false_alarms"].append(str(c.key))
                continue
            row["injected"].append(
                {"pair": str(c.key), "factor": factor, "size": c.key.size,
                 "ratio": c.ratio, "q": c.q, "caught": c.verdict == "regression"}
            )  # fmt: skip
        rows.append(row)
        print(json.dumps(row), flush=True)
    summary: dict[str, Any] = {"summary": "inject", "runs": len(rows)}
    for factor in slowdowns:
        hits = [h for r in rows for h in r["injected"] if h["factor"] == factor]
        by_size: dict[str, list[bool]] = {}
        for h in hits:
            by_size.setdefault(str(h["size"]), []).append(h["caught"])
        summary[f"{factor:.0%}"] = {
            "runs_caught_at_any_size": sum(
                any(h["caught"] for h in r["injected"] if h["factor"] == factor) for r in rows
            ),
            "caught_per_size": {s: f"{sum(v)}/{len(v)}" for s, v in sorted(by_size.items())},
        }
    summary["runs_with_false_alarms"] = sum(1 for r in rows if r["false_alarms"])
    print(json.dumps(summary))
    return rows


def records(args) -> list[dict[str, Any]]:
    import copy

    store = Store.open(args.store)
    recs = [store.load(p.stem) for p in sorted(Path(args.store).glob("*.json"))]
    slowdowns = [float(s) for s in args.slowdowns.split(",")]
    rows = []
    for i, (a, b) in enumerate(zip(recs, recs[1:])):
        report = compare_records(a, b)
        row: dict[str, Any] = {
            "pair": [a["run_id"], b["run_id"]],
            "aa_flagged": flagged(report)
            + (["suite"] if report.suite_verdict in ("regression", "improvement") else []),
            "aa_exit_code": report.exit_code,
            "aa_undecided": len(report.undecided),
            "suite_shift": report.suite_shift,
        }
        timed = [r for r in b["results"] if r.get("timings")]
        for factor in slowdowns:
            slow = copy.deepcopy(b)
            target = random.Random(i).choice(range(len(timed)))
            r = [x for x in slow["results"] if x.get("timings")][target]
            for t in r["timings"]:
                t["samples"] = [s * (1 + factor) for s in t["samples"]]
            rep = compare_records(a, slow)
            row[f"{factor:.0%}"] = sum(
                c.verdict == "regression"
                for c in rep.comparisons
                if (c.key.kernel, c.key.backend, c.key.dtype) == (r["kernel"], r["backend"], r["dtype"])
            )  # fmt: skip
        rows.append(row)
        print(json.dumps(row), flush=True)
    n = len(rows)
    summary = {
        "summary": "records",
        "gate_runs": n,
        "aa_runs_flagging_anything": sum(1 for r in rows if r["aa_flagged"]),
        "aa_exit_codes": {str(c): sum(r["aa_exit_code"] == c for r in rows) for c in (0, 1, 3)},
    }
    for factor in slowdowns:
        summary[f"{factor:.0%}_sizes_caught"] = f"{sum(r[f'{factor:.0%}'] for r in rows)}/{3 * n}"
    print(json.dumps(summary))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", choices=("aa", "inject", "records"))
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--baseline", help="a run record path (default: a fresh --quick run)")
    parser.add_argument("--store", help="records mode: a store of repeated runs")
    parser.add_argument("--slowdowns", default="0.2,0.1")
    parser.add_argument("--samples", type=int, default=DEFAULT_RERUN_PAIRS)
    parser.add_argument("--min-sample-s", type=float, default=DEFAULT_RERUN_SAMPLE_S)
    parser.add_argument("--out", help="also write all rows to this JSON file")
    args = parser.parse_args()
    if args.mode == "records":
        if not args.store:
            parser.error("records mode needs --store")
        rows = records(args)
    else:
        if args.baseline:
            baseline = Store.open(Path(args.baseline).parent).load(args.baseline)
        else:
            baseline = quick_baseline(Path(tempfile.mkdtemp(prefix="symbench-gate-")))
        rows = (aa if args.mode == "aa" else inject)(baseline, args)
    if args.out:
        Path(args.out).write_text(json.dumps({"mode": args.mode, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
