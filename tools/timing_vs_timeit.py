"""Does symbench's timing core agree with ``timeit`` (best of repeats) at 1 000 000 elements?

For each (kernel, backend) pair, alternates the two measurements ``--rounds`` times on the
same compiled callable and inputs, then compares symbench's min sample with timeit's best
of ``repeat`` (both seconds per call). Prints one JSON object per pair and a summary line.

    python tools/timing_vs_timeit.py [--size 1000000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import timeit

from symbench import get_backend, get_kernel, make_inputs
from symbench.timing import time_compiled

PAIRS = [("add", "numpy"), ("sinc", "numba"), ("gelu", "cython"), ("black_scholes", "jax")]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=1_000_000)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    diffs = []
    for kernel, backend in PAIRS:
        k = get_kernel(kernel)
        b = get_backend(backend)
        if b.unavailable_reason():
            print(
                json.dumps(
                    {"kernel": kernel, "backend": backend, "skipped": b.unavailable_reason()}
                )
            )
            continue
        compiled = b.compile(k, "float64")
        inputs = make_inputs(k, args.size, "float64")
        dev = compiled.to_device(inputs)
        fn, sync = compiled.fn, compiled.sync

        def call(fn=fn, sync=sync, dev=dev):
            return sync(fn(*dev))

        ours, theirs = [], []
        for _ in range(args.rounds):
            ours.append(time_compiled(compiled, inputs).min)
            timer = timeit.Timer(call)
            loops, _ = timer.autorange()
            theirs.append(min(timer.repeat(repeat=7, number=loops)) / loops)
        rel = statistics.median(ours) / statistics.median(theirs) - 1
        diffs.append(abs(rel))
        print(
            json.dumps(
                {
                    "kernel": kernel,
                    "backend": backend,
                    "size": args.size,
                    "symbench_min_s": statistics.median(ours),
                    "timeit_best_s": statistics.median(theirs),
                    "relative_difference": rel,
                }
            )
        )
    print(json.dumps({"max_abs_relative_difference": max(diffs) if diffs else None}))


if __name__ == "__main__":
    main()
