"""Calibrate ``symbench gate --rerun --base-env`` on this machine.

    python tools/gate_envs_calibration.py aa --runs 20 [--base-env PY]
    python tools/gate_envs_calibration.py inject --runs 20 [--slowdown 0.2]
    python tools/gate_envs_calibration.py once --base-env PY     # a real environment change

A baseline record of the ``--quick`` kernels on ``--backends`` is made once (``--store``).
``aa``: the two workers run identical environments (``--base-env``, default this
interpreter): every pair flagged is a false alarm. ``inject``: in each run one randomly chosen
(kernel, backend, dtype) of the *current* worker does ``--slowdown`` more work per call (the
gate calibration's ``SlowedBackend`` busy work, applied inside a worker started by this
script, never by symbench itself); caught when that pair is a regression at some size.
``once``: one gate against another environment, printed as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import stat
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from symbench.backends import get_backend  # noqa: E402
from symbench.gate.envs import rerun_envs  # noqa: E402
from symbench.kernels import get_kernel  # noqa: E402
from symbench.records import Store  # noqa: E402
from symbench.runner import QUICK_KERNELS, QUICK_SIZES, RunSettings, run  # noqa: E402


def inject_worker() -> int:
    """The current side with one pair slowed (``SYMBENCH_INJECT=kernel/backend/dtype=0.2``)."""
    from gate_calibration import SlowedBackend

    from symbench.gate import worker

    target, _, factor = os.environ["SYMBENCH_INJECT"].partition("=")

    class Slowed(worker.Worker):
        def load(self, req):
            out = super().load(req)
            if f"{req['kernel_name']}/{req['backend']}/{req['dtype']}" == target:
                slow = SlowedBackend(req["backend"], float(factor))
                self.calls[req["id"]] = slow._slowed(self.calls[req["id"]], lambda r: r)
            return out

    worker.Worker = Slowed
    return worker.main()


def wrapper(tmp: Path) -> str:
    """An 'interpreter' that starts ``inject_worker`` whatever module it is asked for."""
    path = tmp / "python-injecting"
    path.write_text(f"#!/bin/sh\nexec {sys.executable} {Path(__file__).resolve()} _worker\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return str(path)


def baseline(store: Path, backends: list[str]) -> dict:
    s = Store(store)
    records, _ = s.load_all()
    if records:
        return records[-1]
    record, _ = run([get_kernel(k) for k in QUICK_KERNELS], [get_backend(b) for b in backends],
                    RunSettings(sizes=QUICK_SIZES, quick=True), s)  # fmt: skip
    return record


def flagged(report) -> list[str]:
    """Each pair flagged, with its ratio and (two process pairs) each pair's ratio."""
    return [" ".join(filter(None, (str(c.key), c.ratio and f"x{c.ratio:.3f}", c.note)))
            for c in report.regressions + report.improvements]  # fmt: skip


def main() -> int:
    if sys.argv[1:2] == ["_worker"]:
        return inject_worker()
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("mode", choices=("aa", "inject", "once"))
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--store", default=".symbench/gate-envs-calibration")
    p.add_argument("--backends", default="numpy,numba,cython")
    p.add_argument("--base-env", default=sys.executable)
    p.add_argument("--slowdown", type=float, default=0.2)
    args = p.parse_args()
    base = baseline(Path(args.store), args.backends.split(","))
    pairs = sorted({(r["kernel"], r["backend"], r["dtype"]) for r in base["results"]
                    if r.get("timings")})  # fmt: skip
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(1 if args.mode == "once" else args.runs):
            current = sys.executable
            target = None
            if args.mode == "inject":
                target = "/".join(random.Random(i).choice(pairs))
                os.environ["SYMBENCH_INJECT"] = f"{target}={args.slowdown}"
                current = wrapper(Path(tmp))
            start = time.perf_counter()
            report = rerun_envs(base, args.base_env, current_python=current)
            row = {"run": i, "seconds": round(time.perf_counter() - start, 1),
                   "exit_code": report.exit_code, "comparisons": len(report.comparisons),
                   "flagged": flagged(report), "undecided": len(report.undecided),
                   "undecided_pairs": [f"{c.key} {c.note}" for c in report.undecided]}  # fmt: skip
            if target:

                def of(c):
                    return f"{c.key.kernel}/{c.key.backend}/{c.key.dtype}"

                row["injected"] = target
                row["caught"] = any(of(c) == target for c in report.regressions)
                row["false_alarms"] = [str(c.key) for c in report.regressions + report.improvements
                                       if of(c) != target]  # fmt: skip
            if args.mode == "once":
                row["report"] = report.to_dict()
            rows.append(row)
            print(json.dumps(row), flush=True)
    if args.mode == "aa":
        n = sum(r["comparisons"] for r in rows)
        alarms = sum(len(r["flagged"]) for r in rows)
        print(json.dumps({"summary": "aa", "runs": len(rows),
                          "runs_with_a_false_alarm": sum(bool(r["flagged"]) for r in rows),
                          "false_alarms": alarms, "comparisons": n,
                          "per_comparison_rate": alarms / n if n else None}))  # fmt: skip
    elif args.mode == "inject":
        print(json.dumps({"summary": "inject", "runs": len(rows),
                          "caught": sum(r["caught"] for r in rows)}))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
