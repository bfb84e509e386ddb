"""Overhead of ``symbench.compile(...)`` over calling the backend's compiled function directly.

For each backend, at batch 1 (where a per-call overhead matters most): the served callable
and the direct call (the backend's function; for JAX on the CPU plus ``np.asarray``, which
both need to hand back a NumPy array) are timed alternately with ``timeit`` for ``--rounds``
rounds of best-of-``--repeat``; the median of the per-round ratios is reported, so the
machine's drift between rounds cancels.

    python tools/serve_overhead.py [--kernel sigmoid] [--batch 1] [--rounds 21]
"""

from __future__ import annotations

import argparse
import json
import statistics
import timeit

import numpy as np

import symbench
from symbench import get_kernel, make_inputs

BACKENDS = ["numpy", "numexpr", "ufuncify", "cython", "numba", "jax"]


def direct_call(served):
    c = served.compiled
    fn, to_host = c.fn, c.to_host
    if c.to_device is list and to_host is np.asarray:
        return fn
    return lambda *a: np.asarray(to_host(fn(*a)))


def measure(kernel: str, backend: str, batch: int, rounds: int, repeat: int) -> dict:
    served = symbench.compile(kernel, backend=backend)
    direct = direct_call(served)
    inputs = make_inputs(get_kernel(kernel), batch, "float64")
    np.testing.assert_array_equal(served(*inputs), direct(*inputs))
    t_served = timeit.Timer(lambda: served(*inputs))
    t_direct = timeit.Timer(lambda: direct(*inputs))
    number, _ = t_direct.autorange()
    ratios, best_direct = [], []
    for _ in range(rounds):
        d = min(t_direct.repeat(repeat, number)) / number
        s = min(t_served.repeat(repeat, number)) / number
        ratios.append(s / d)
        best_direct.append(d)
    return {
        "backend": backend,
        "kernel": kernel,
        "batch": batch,
        "direct_s": min(best_direct),
        "overhead": statistics.median(ratios) - 1,
        "overhead_iqr": [float(q) - 1 for q in np.percentile(ratios, [25, 75])],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kernel", default="sigmoid")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    for backend in BACKENDS:
        print(json.dumps(measure(args.kernel, backend, args.batch, args.rounds, args.repeat)))


if __name__ == "__main__":
    main()
