"""Does ``symbench.compile(backend="auto")`` hand out the fastest served callable?

For every catalog kernel and dtype at one batch size (default 10^6): ``recommend`` picks a
backend from a store (measuring what the store lacks), then the served callable of every
backend that passes is timed side by side, round-robin (``timing.round_robin`` over
``timing.served_call``: NumPy in, a new NumPy array out). The pick is fine when it is within
10 % of the fastest of them.

    python tools/serve_auto_check.py [--store DIR] [--batch N] [--kernel K ...] [--json]

Issue 12, item 6. Measure with nothing else running (docs/measured.md). Exit 1 when a pick is
more than 10 % slower than the fastest served backend.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile

from symbench import catalog
from symbench.backends import backend_ids
from symbench.bench import prepare
from symbench.errors import SymbenchError
from symbench.inputs import make_inputs
from symbench.recommend import recommend
from symbench.records import Store
from symbench.timing import round_robin, served_call

TOLERANCE = 1.10


def check_kernel(kernel, dtype: str, batch: int, store: Store) -> dict:
    pick = recommend(kernel, [batch], dtype=dtype, store=store).picks[0]
    chosen = pick.best.backend if pick.best else None
    inputs = make_inputs(kernel, batch, dtype, 0)
    calls, names = [], []
    for bid in backend_ids():
        try:  # compiled and checked as every benchmark harness does
            compiled = prepare(kernel.name, bid, dtype, batch, seed=0).compiled
        except SymbenchError:  # unavailable, unsupported, or not correct
            continue
        calls.append(served_call(compiled, inputs))
        names.append(bid)
    timings = round_robin(calls, repeats=7, min_sample_s=0.01)
    medians = {n: t.median for n, t in zip(names, timings) if not isinstance(t, Exception)}
    fastest = min(medians, key=medians.get)
    ratio = medians[chosen] / medians[fastest] if chosen in medians else None
    return {
        "kernel": kernel.name,
        "dtype": dtype,
        "batch": batch,
        "auto": chosen,
        "fastest": fastest,
        "ratio": ratio,
        "ok": ratio is not None and ratio <= TOLERANCE,
        "served_median_s": medians,
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--store", help="run store to answer from (default: a new one)")
    p.add_argument("--batch", type=int, default=1_000_000)
    p.add_argument("--kernel", action="append")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    store = Store.open(args.store or tempfile.mkdtemp(prefix="serve-check-"))
    kernels = [catalog()[k] for k in args.kernel] if args.kernel else list(catalog().values())
    rows = []
    for kernel in kernels:
        for dtype in ("float64", "float32"):
            row = check_kernel(kernel, dtype, args.batch, store)
            rows.append(row)
            if not args.json:
                ratio = f"{row['ratio']:.3f}" if row["ratio"] else "-"
                print(
                    f"{row['kernel']:14s} {dtype}: auto {row['auto']}, fastest served "
                    f"{row['fastest']}, auto/fastest {ratio} {'ok' if row['ok'] else 'OFF'}",
                    flush=True,
                )
    if args.json:
        print(json.dumps(rows, indent=1))
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
