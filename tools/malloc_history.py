"""NumPy's served call early in a process, and after glibc's mmap threshold moved.

    python tools/malloc_history.py default|fixed KERNEL

Times the served NumPy call of KERNEL at 10^6 float64 (NumPy in, a new array out), frees a
20 MB block (glibc then raises its mmap threshold past NumPy's temporaries) and times it
again. With ``fixed``, ``timing.steady_malloc`` runs first, as ``symbench run`` does.
Measure with nothing else running (docs/measured.md).
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from symbench import get_backend, get_kernel, make_inputs
from symbench.errors import SymbenchError
from symbench.timing import measure, served_call, steady_malloc


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("mode", choices=("default", "fixed"))
    p.add_argument("kernel")
    args = p.parse_args()
    mode, name = args.mode, args.kernel
    try:
        kernel = get_kernel(name)
    except SymbenchError as exc:
        print(f"malloc_history: {exc}", file=sys.stderr)
        return 2
    if mode == "fixed":
        steady_malloc()
    call = served_call(
        get_backend("numpy").compile(kernel, "float64"), make_inputs(kernel, 10**6, "float64")
    )
    before = measure(call, repeats=5, min_sample_s=0.01).median
    big = np.ones(20 * 2**20 // 8)
    del big  # glibc's moving threshold rises to this block's size
    after = measure(call, repeats=5, min_sample_s=0.01).median
    print(f"{mode} {name}: before {before * 1e3:.2f} ms, after a 20 MB free {after * 1e3:.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
