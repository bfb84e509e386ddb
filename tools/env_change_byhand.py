"""Check a gate finding by hand: one backend's kernel timed with plain ``timeit`` in *this*
interpreter's environment, one JSON line out. Run it alternately with the two
environments' interpreters (one process each) and compare the lines:

    for i in 1 2 3 4; do
        taskset -c 1 BASE/bin/python tools/env_change_byhand.py add 100000 --placed
        taskset -c 1 python tools/env_change_byhand.py add 100000 --placed
    done

Each dtype: ``fn_out`` into a preallocated output, ``timeit``'s autorange loop count, 15
repeats; min and median per call. ``--placed`` puts the arrays where the gate's workers put
them (``timing.device_call``), else they are NumPy's own.
"""

from __future__ import annotations

import argparse
import json
import timeit
from importlib.metadata import version

import numpy as np

from symbench import get_backend, get_kernel
from symbench.inputs import make_inputs
from symbench.timing import device_call


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kernel")
    parser.add_argument("size", type=int)
    parser.add_argument("--backend", default="cython")
    parser.add_argument("--placed", action="store_true")
    args = parser.parse_args()
    kernel, backend = get_kernel(args.kernel), get_backend(args.backend)
    out = {"backend": args.backend, "versions": {"cython": version("Cython")}}
    for dtype in ("float32", "float64"):
        compiled = backend.compile(kernel, dtype)
        inputs = make_inputs(kernel, args.size, dtype, 20261123)
        if args.placed:
            call = device_call(compiled, inputs)
        else:
            dst = np.empty(args.size, dtype=dtype)

            def call(compiled=compiled, inputs=inputs, dst=dst):
                return compiled.fn_out(*inputs, dst)

        timer = timeit.Timer(call)
        loops, _ = timer.autorange()
        per_call = sorted(t / loops for t in timer.repeat(15, loops))
        out[dtype] = {"min_us": per_call[0] * 1e6, "median_us": per_call[7] * 1e6}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
