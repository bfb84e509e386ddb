"""Does symbench's timing core agree with ``timeit`` (best of repeats) at 1 000 000 elements?

For each (kernel, backend) pair, alternates the two measurements ``--rounds`` times on the
same compiled callable and inputs and compares symbench's min sample with timeit's best of
``repeat`` (both seconds per call) *within each round*: the machine's drift between rounds
(on a shared VM, +-10 % for memory-bound calls) then cancels, and the median of the
per-round differences is reported. Prints one JSON object per pair and a summary line.

    python tools/timing_vs_timeit.py [--size 1000000] [--rounds 11]
"""

from __future__ import annotations

import argparse
import json
import statistics
import timeit

from symbench import get_backend, get_kernel, make_inputs
from symbench.timing import time_compiled

PAIRS = [("add", "numpy"), ("sinc", "numba"), ("gelu", "cython"), ("black_scholes", "jax")]


def compare(kernel: str, backend: str, size: int, rounds: int) -> dict:
    k, b = get_kernel(kernel), get_backend(backend)
    if b.unavailable_reason():
        return {"kernel": kernel, "backend": backend, "skipped": b.unavailable_reason()}
    compiled = b.compile(k, "float64")
    inputs = make_inputs(k, size, "float64")
    dev = compiled.to_device(inputs)
    fn, sync = compiled.fn, compiled.sync

    def call():
        return sync(fn(*dev))

    ours, theirs, rel = [], [], []
    for _ in range(rounds):
        ours.append(time_compiled(compiled, inputs).min)
        timer = timeit.Timer(call)
        loops, _ = timer.autorange()
        theirs.append(min(timer.repeat(repeat=7, number=loops)) / loops)
        rel.append(ours[-1] / theirs[-1] - 1)
    return {
        "kernel": kernel,
        "backend": backend,
        "size": size,
        "rounds": rounds,
        "symbench_min_s": statistics.median(ours),
        "timeit_best_s": statistics.median(theirs),
        "median_paired_relative_difference": statistics.median(rel),
        "paired_differences": rel,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=1_000_000)
    ap.add_argument("--rounds", type=int, default=11)
    args = ap.parse_args()
    worst = 0.0
    for kernel, backend in PAIRS:
        row = compare(kernel, backend, args.size, args.rounds)
        worst = max(worst, abs(row.get("median_paired_relative_difference", 0.0)))
        print(json.dumps(row))
    print(json.dumps({"max_abs_median_paired_relative_difference": worst}))


if __name__ == "__main__":
    main()
