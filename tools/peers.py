"""symbench's backends beside the peers a user would call directly, in one process.

For each case (kernel, dtype) at one size (default 10^6), round-robin (``timing.round_robin``):
every symbench backend that passes its equivalence check (timed as ``symbench run`` times it:
device-resident inputs, a preallocated output where the backend can write into one), and the
peers called the way their users call them: ``sympy.lambdify(args, expr)`` (NumPy),
``sympy.utilities.autowrap.ufuncify(args, expr, backend="numpy")`` (the seed study's call,
float64) and SymEngine's ``Lambdify(..., backend="llvm")``. Ratios are against the seed's
float64 ``ufuncify`` of the same kernel.

    python tools/peers.py [--size N] [--json]

Issue 12, item 7. Measure with nothing else running (docs/measured.md).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import warnings

import numpy as np

from symbench import get_kernel
from symbench.backends import backend_ids
from symbench.bench import prepare
from symbench.errors import SymbenchError
from symbench.inputs import make_inputs
from symbench.timing import round_robin

CASES = [
    ("hydrogen_r31", "float64"),
    ("hydrogen_r31", "float32"),
    ("poly8", "float64"),
    ("softplus", "float64"),
    ("sinc", "float32"),
]


def peers(kernel, dtype: str, inputs: list[np.ndarray]) -> dict:
    """The peers' callables on ``inputs`` (those that cannot be built are left out)."""
    import sympy as sp

    out = {}
    args, expr = list(kernel.args), kernel.expr
    f = sp.lambdify(args, expr)
    out["sympy.lambdify"] = lambda: f(*inputs)
    cwd = os.getcwd()
    try:
        from sympy.utilities.autowrap import ufuncify

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            u = ufuncify(args, expr, backend="numpy", tempdir=tempfile.mkdtemp())
        as64 = [a.astype(np.float64) for a in inputs]
        out["sympy ufuncify (seed, float64)"] = lambda: u(*as64)
    except Exception as exc:  # no compiler
        print(f"ufuncify: {exc}", file=sys.stderr)
    finally:
        os.chdir(cwd)
    try:
        import symengine as se

        lam = se.Lambdify(
            [se.Symbol(str(a)) for a in args], [se.sympify(expr)], backend="llvm",
            real=True, cse=True, dtype=np.dtype(dtype).type,
        )  # fmt: skip
        stacked = np.column_stack(inputs) if len(inputs) > 1 else inputs[0]
        out["symengine Lambdify (llvm)"] = lambda: lam(stacked)
    except Exception as exc:
        print(f"symengine: {exc}", file=sys.stderr)
    return out


def case(name: str, dtype: str, size: int) -> dict:
    kernel = get_kernel(name)
    inputs = make_inputs(kernel, size, dtype, 0)
    calls = {}
    for bid in backend_ids():
        try:  # compiled, checked and placed as every benchmark harness does
            calls[f"symbench {bid}"] = prepare(name, bid, dtype, size, seed=0).call
        except SymbenchError:  # unavailable, unsupported, or not correct
            continue
    seed_kernel_inputs = make_inputs(kernel, size, "float64", 0)
    calls |= peers(kernel, dtype, seed_kernel_inputs if dtype == "float64" else inputs)
    if dtype != "float64":  # the base stays the seed's float64 ufuncify
        base = peers(kernel, "float64", seed_kernel_inputs)
        if "sympy ufuncify (seed, float64)" in base:
            calls["sympy ufuncify (seed, float64)"] = base["sympy ufuncify (seed, float64)"]
    names = list(calls)
    timings = round_robin([calls[n] for n in names], repeats=7, min_sample_s=0.01)
    medians = {n: t.median for n, t in zip(names, timings) if not isinstance(t, Exception)}
    base = medians.get("sympy ufuncify (seed, float64)")
    return {
        "kernel": name,
        "dtype": dtype,
        "size": size,
        "median_s": medians,
        "speedup_vs_seed_ufuncify": {n: base / m for n, m in medians.items()} if base else {},
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=1_000_000)
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    rows = []
    for name, dtype in CASES:
        row = case(name, dtype, args.size)
        rows.append(row)
        if not args.json:
            print(f"== {name} {dtype}, n={args.size}")
            for n, m in sorted(row["median_s"].items(), key=lambda kv: kv[1]):
                x = row["speedup_vs_seed_ufuncify"].get(n)
                print(f"  {n:34s} {m * 1e3:9.3f} ms  {f'{x:.2f}x' if x else ''}", flush=True)
    if args.json:
        print(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
