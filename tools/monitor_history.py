"""A real history for calibrating ``symbench monitor``: ``--runs`` stored ``--quick`` runs,
one after another, with one pair slowed by ``--slowdown`` from run ``--from-run`` on.

The slowed pair is timed through the gate calibration's test-only ``SlowedBackend`` (the
kernel, then busy work for ``factor`` x the call's own time), recorded under the wrapped
backend's own id, so its history continues as if a commit had made it slower.

    python tools/monitor_history.py --store DIR [--runs 20] [--from-run 12]
        [--pair hydrogen_sum8/numba/float64] [--slowdown 0.2] [--backend numpy,numba,...]

Then ``symbench monitor --store DIR`` must find the step at run 12 +- 2 in that pair only.
Measure with nothing else running (docs/measured.md).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gate_calibration import SlowedBackend  # noqa: E402

from symbench.backends import get_backend  # noqa: E402
from symbench.kernels import get_kernel  # noqa: E402
from symbench.records import Store  # noqa: E402
from symbench.runner import QUICK_KERNELS, QUICK_SIZES, RunSettings, run  # noqa: E402


class SameId(SlowedBackend):
    """``SlowedBackend`` for one (kernel, dtype) only, its results under the wrapped
    backend's own id."""

    def __init__(self, inner: str, factor: float, kernel: str, dtype: str):
        super().__init__(inner, factor)
        self.id, self.only = inner, (kernel, dtype)

    def compile(self, kernel, dtype, device="cpu"):
        if (kernel.name, dtype) != self.only:  # every other pair runs as usual
            return self.inner.compile(kernel, dtype, device)
        return super().compile(kernel, dtype, device)

    def __getattr__(self, name):  # every other fact is the wrapped backend's
        return getattr(self.inner, name)


def one_run(args, slowed_now: bool) -> dict:
    kernel, slowed, dtype = args.pair.split("/")
    backends = [
        SameId(b, args.slowdown, kernel, dtype) if b == slowed and slowed_now
        else get_backend(b)
        for b in args.backend.split(",")
    ]  # fmt: skip
    record, _ = run([get_kernel(k) for k in QUICK_KERNELS], backends,
                    RunSettings(sizes=QUICK_SIZES, quick=True), Store.open(args.store),
                    argv=["tools/monitor_history.py", *sys.argv[1:]])  # fmt: skip
    return {"run_id": record["run_id"], "slowed": slowed_now}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--store", required=True)
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--from-run", type=int, default=12, help="first slowed run (1-based)")
    p.add_argument("--pair", default="hydrogen_sum8/numba/float64", help="KERNEL/BACKEND/DTYPE")
    p.add_argument("--slowdown", type=float, default=0.2)
    p.add_argument("--backend", default="numpy,numexpr,numba,cython")
    p.add_argument("--one", choices=("plain", "slowed"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.one:  # one run, in its own process (as `symbench run` would be)
        print(json.dumps(one_run(args, args.one == "slowed")))
        return 0
    for i in range(1, args.runs + 1):
        start = time.perf_counter()
        mode = "slowed" if i >= args.from_run else "plain"
        out = subprocess.run([sys.executable, __file__, *sys.argv[1:], "--one", mode],
                             capture_output=True, text=True, check=True).stdout  # fmt: skip
        row = {"run": i, **json.loads(out.strip().splitlines()[-1]),
               "seconds": round(time.perf_counter() - start, 1)}  # fmt: skip
        print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
