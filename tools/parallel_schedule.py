"""Parallel over serial at 10^6 float64, with other loop schedules beside ours.

    python tools/parallel_schedule.py [KERNEL] [NUMBA_CHUNK]

One process, round-robin (``timing.round_robin``), 15 samples, three rounds: cython,
cython-parallel (static, as built), cython-parallel rebuilt with ``schedule="guided"``,
numba, numba-parallel, and numba-parallel under ``numba.set_parallel_chunksize``.
Measure with nothing else running (docs/measured.md).
"""

from __future__ import annotations

import argparse
import sys

import symbench.backends.cython_backend as cb
from symbench import get_backend, get_kernel, make_inputs
from symbench.errors import SymbenchError
from symbench.timing import device_call, round_robin


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("kernel", nargs="?", default="hydrogen_r31")
    p.add_argument("chunk", nargs="?", type=int, default=4096, help="numba chunk size")
    args = p.parse_args()
    chunk = args.chunk
    try:
        kernel = get_kernel(args.kernel)
        for backend in ("cython", "cython-parallel", "numba", "numba-parallel"):
            if reason := get_backend(backend).unavailable_reason():
                raise SymbenchError(f"{backend} is unavailable here: {reason}")
    except SymbenchError as exc:
        print(f"parallel_schedule: {exc}", file=sys.stderr)
        return 2
    import numba

    x = make_inputs(kernel, 10**6, "float64")
    calls = {
        b: device_call(get_backend(b).compile(kernel, "float64"), x)
        for b in ("cython", "cython-parallel", "numba", "numba-parallel")
    }
    static = cb._PARALLEL_LOOP
    cb._PARALLEL_LOOP = static.replace('schedule="static"', 'schedule="guided"')
    try:
        guided = get_backend("cython-parallel").compile(kernel, "float64")
    finally:
        cb._PARALLEL_LOOP = static
    calls["cython-parallel-guided"] = device_call(guided, x)
    prange_loop = calls["numba-parallel"]

    def chunked():
        old = numba.set_parallel_chunksize(chunk)
        try:
            return prange_loop()
        finally:
            numba.set_parallel_chunksize(old)

    calls["numba-parallel-chunk"] = chunked
    names = list(calls)
    for _ in range(3):
        timings = round_robin([calls[n] for n in names], repeats=15, min_sample_s=0.01)
        med = {n: t.median for n, t in zip(names, timings)}
        print({n: round(v * 1e3, 2) for n, v in med.items()})
        print(
            f"  cython parallel/serial: static {med['cython'] / med['cython-parallel']:.2f}, "
            f"guided {med['cython'] / med['cython-parallel-guided']:.2f} | numba: default "
            f"{med['numba'] / med['numba-parallel']:.2f}, chunk {chunk} "
            f"{med['numba'] / med['numba-parallel-chunk']:.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
