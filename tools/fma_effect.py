"""What fused multiply-add alone does to each catalog kernel, measured on the CPU.

    python tools/fma_effect.py [--json]          (invoke fma-effect)

nvcc and NVRTC contract ``a*b + c`` into one FMA by default, so GPU results differ from the
CPU's in the last bits even where the math library does not. This isolates that effect:
each kernel's Cython build (the C99 printer's code, as CuPy's kernels use) is compiled twice,
as usual and with ``CFLAGS="-mfma -ffp-contract=fast"`` (GCC then contracts like nvcc), and
both are judged against the mpmath reference at the check's 1000 points. Needs an x86 CPU
with FMA and a C compiler.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

from symbench import get_backend
from symbench.accuracy import effective_tolerance
from symbench.devices import cpu_fingerprint
from symbench.equivalence import DEFAULT_SIZE, Outcome, compare, compile_and_call
from symbench.inputs import make_inputs
from symbench.kernels import catalog
from symbench.kernels.core import DTYPES
from symbench.reference import reference

FMA_FLAGS = "-mfma -ffp-contract=fast"


def _build(kernel, dtype, inputs, cflags: str):
    old = os.environ.get("CFLAGS")
    os.environ["CFLAGS"] = cflags  # part of the build's cache key (cbuild.recipe)
    try:
        return compile_and_call(kernel, get_backend("cython"), dtype, "cpu", inputs)[1]
    finally:
        if old is None:
            del os.environ["CFLAGS"]
        else:
            os.environ["CFLAGS"] = old


def measure() -> list[dict]:
    rows = []
    for kernel in catalog().values():
        for dtype in DTYPES:
            inputs = make_inputs(kernel, DEFAULT_SIZE, dtype)
            ref = reference(kernel, inputs)
            tol = effective_tolerance(kernel, "cython", "cpu", dtype).tolerance
            try:
                plain = _build(kernel, dtype, inputs, "")
                fused = _build(kernel, dtype, inputs, FMA_FLAGS)
            except Outcome as out:
                rows.append({"kernel": kernel.name, "dtype": dtype, "status": out.status})
                continue
            a = compare(ref, plain, dtype, tol, inputs, kernel.arg_names)
            b = compare(ref, fused, dtype, tol, inputs, kernel.arg_names)
            same = (plain == fused) | (np.isnan(plain) & np.isnan(fused))
            rows.append(
                {
                    "kernel": kernel.name,
                    "dtype": dtype,
                    "status": "pass" if b.passed else "fail",
                    "max_ulp": a.max_ulp,
                    "max_ulp_fma": b.max_ulp,
                    "points_changed": int((~same).sum()),
                    "points": len(plain),
                    "reason": b.reason,
                }
            )
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--json", action="store_true", help="print JSON")
    args = p.parse_args(argv)
    if "fma" not in cpu_fingerprint().get("flags", []):
        print("fma_effect: error: this CPU has no FMA instructions", file=sys.stderr)
        return 2
    rows = measure()
    if args.json:
        json.dump(rows, sys.stdout, indent=1)
        print()
    else:
        print(f"{'kernel':15} {'dtype':8} {'max ULP':>9} {'with FMA':>9} {'changed':>8}  status")
        for r in rows:
            if "max_ulp" not in r:
                print(f"{r['kernel']:15} {r['dtype']:8} {r['status']}")
                continue
            print(
                f"{r['kernel']:15} {r['dtype']:8} {r['max_ulp']:9.3g} {r['max_ulp_fma']:9.3g} "
                f"{r['points_changed']:4}/{r['points']}  {r['status']} {r['reason'][:80]}"
            )
    return 1 if any(r["status"] == "fail" for r in rows) else 0


if __name__ == "__main__":
    raise SystemExit(main())
