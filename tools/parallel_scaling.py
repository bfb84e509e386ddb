"""Threaded backends against their serial twins, each alone in a fresh process (no other
library's thread pool in the way): best of 7 repeats of about 0.2 s each.

    python tools/parallel_scaling.py [--kernel K ...] [--size N ...]

Defaults: hydrogen_r31 and gelu at 10^5 and 10^6, float64; pairs numba / numba-parallel and
cython / cython-parallel. Measure with nothing else running (docs/measured.md).
"""

from __future__ import annotations

import argparse
import subprocess
import sys

PAIRS = [("numba", "numba-parallel"), ("cython", "cython-parallel")]
ONE = """
import sys, timeit
from symbench import get_backend, get_kernel, make_inputs
from symbench.timing import device_call
b, kn, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
k = get_kernel(kn)
call = device_call(get_backend(b).compile(k, "float64"), make_inputs(k, n, "float64", 20261123))
once = min(timeit.repeat(call, number=1, repeat=3))
reps = max(1, int(0.2 / max(once, 1e-7)))
print(min(timeit.repeat(call, number=reps, repeat=7)) / reps)
"""


def alone(backend: str, kernel: str, size: int) -> float:
    out = subprocess.run(
        [sys.executable, "-c", ONE, backend, kernel, str(size)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return float(out.stdout.strip().splitlines()[-1])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--kernel", action="append", default=None)
    p.add_argument("--size", action="append", type=int, default=None)
    args = p.parse_args()
    for kernel in args.kernel or ["hydrogen_r31", "gelu"]:
        for size in args.size or [100_000, 1_000_000]:
            for serial, parallel in PAIRS:
                a, b = alone(serial, kernel, size), alone(parallel, kernel, size)
                print(
                    f"{kernel} n={size}: {serial} {a * 1e3:.3f} ms, {parallel} {b * 1e3:.3f} ms"
                    f" ({a / b:.2f}x)",
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
