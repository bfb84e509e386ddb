"""What issue 5 asks to report from a run on an accelerator, computed from stored records.

    python tools/device_findings.py [RUN ...] [--json]

For the given runs of one machine taken together (default: the newest run; ``--all``: every
run in the store): equivalence per kernel on every device,
``add`` (x + y) at the largest float32 size as a fraction of the device's measured copy
bandwidth, and the fastest correct backend on each accelerator against the fastest on the
CPU, size by size. Run ``invoke gpu`` on a GPU machine to produce such a record.
"""

from __future__ import annotations

import argparse
import json
import sys

from symbench.errors import BadInput, SymbenchError
from symbench.records import Store
from symbench.records.summary import device_speedups


def merge(records: list[dict]) -> dict:
    """One record's worth of results from several runs of one machine (later runs win)."""
    results: dict[tuple, dict] = {}
    bandwidth: dict = {}
    for rec in records:
        bandwidth.update(rec.get("bandwidth", {}))
        for r in rec["results"]:
            key = (r["kernel"], r["backend"], r["device"], r["dtype"])
            if r["status"] != "unavailable" or key not in results:
                results[key] = r
    runs = ", ".join(rec["run_id"] for rec in records)
    return {"run_id": runs, "bandwidth": bandwidth, "results": list(results.values())}


def findings(record: dict) -> dict:
    checks: dict[str, dict[str, str]] = {}
    for r in record["results"]:
        pair = f"{r['backend']}/{r['device']}/{r['dtype']}"
        checks.setdefault(r["kernel"], {})[pair] = r["status"]
    speedups = device_speedups(record)
    add = [s for s in speedups if s["kernel"] == "add" and s["dtype"] == "float32"]
    largest_add = max(add, key=lambda s: s["size"], default=None)
    if largest_add is not None:
        copy = record.get("bandwidth", {}).get(largest_add["device"], {}).get("copy_gbs")
        gbs = largest_add.get("gbs")
        largest_add["copy_fraction"] = gbs / copy if gbs and copy else None
    return {
        "run_id": record["run_id"],
        "bandwidth": record.get("bandwidth", {}),
        "equivalence": checks,
        "add_float32_largest": largest_add,
        "speedups": speedups,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="*", help="run ids or record paths (default: the newest run)")
    p.add_argument("--store", help="run store (default $SYMBENCH_STORE or ./.symbench/runs)")
    p.add_argument("--all", action="store_true", help="every run in the store, together")
    p.add_argument("--json", action="store_true", help="print JSON")
    args = p.parse_args(argv)
    store = Store.open(args.store)
    try:
        if args.all:
            records, problems = store.load_all()
            if problems or not records:
                raise BadInput("; ".join(problems) or f"no runs in {store.path}")
        else:
            records = [store.load(r) for r in args.runs or ["latest"]]
    except SymbenchError as exc:
        print(f"device_findings: error: {exc}", file=sys.stderr)
        return exc.exit_code
    out = [findings(merge(records))]
    if args.json:
        json.dump(out, sys.stdout, indent=1, default=str)
        print()
        return 0
    for f in out:
        print(f"run {f['run_id']}")
        for dev, bw in f["bandwidth"].items():
            print(f"  {dev}: copy {bw.get('copy_gbs', float('nan')):.0f} GB/s")
        for kernel, pairs in f["equivalence"].items():
            print(f"  {kernel}: " + ", ".join(f"{p} {s}" for p, s in pairs.items()))
        a = f["add_float32_largest"]
        if a:
            frac = "n/a" if a["copy_fraction"] is None else f"{a['copy_fraction']:.0%}"
            print(
                f"  add float32 n={a['size']:.0e} on {a['device']} ({a['backend']}): "
                f"{a['gbs']:.0f} GB/s, {frac} of the measured copy bandwidth"
            )
        for s in f["speedups"]:
            print(
                f"  {s['kernel']} {s['dtype']} n={s['size']:.0e}: {s['backend']}@{s['device']} "
                f"{s['median_s']:.3g} s vs {s['baseline_backend']}@cpu "
                f"{s['baseline_median_s']:.3g} s = x{s['speedup']:.3g}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
