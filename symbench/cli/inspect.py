"""`symbench backends`, `kernels`, `show` and `history`: what is here and what was stored."""

from __future__ import annotations

import argparse
import math
from typing import Any

from ..backends import backend_ids, get_backend
from ..devices import fingerprint
from ..errors import BadInput
from ..fmt import fmt_number, fmt_seconds
from ..kernels import catalog, load_kernels_file
from ..records import RunView
from ..records.summary import history_rows, names_not_stored
from ..selection import split_names
from .options import store_from, store_option
from .output import (
    STATUS_STYLE,
    escape,
    get_console,
    print_json,
    summary_table,
    warn_line,
)


def cmd_backends(args: argparse.Namespace) -> int:
    rows = [get_backend(b).describe() for b in backend_ids()]
    if args.json:
        print_json(rows)
        return 0
    from rich.table import Table

    table = Table(title="backends")
    for col in ("id", "version", "devices", "status"):
        table.add_column(col)
    for r in rows:
        status = (
            "[green]available[/]"
            if r["available"]
            else f"[dim]unavailable: {escape(r['reason'])}[/]"
        )
        table.add_row(r["id"], r["version"] or "-", ", ".join(r["devices"]) or "-", status)
    console = get_console()
    console.print(table)
    for line in device_lines(fingerprint()):
        console.print(escape(line))
    return 0


def device_lines(fp: dict[str, Any]) -> list[str]:
    """The machine's devices as ``symbench backends`` prints them under its table."""
    cpu = fp["cpu"]
    lines = [f"cpu: {cpu['model']}, {cpu['cores_usable']} usable cores, host {fp['hostname']}"]
    for g in fp.get("gpus", []):
        mem = f"{g['memory_bytes'] / 2**30:.0f} GiB" if g.get("memory_bytes") else "?"
        clocks = f", SM max {g['sm_clock_max_mhz']} MHz" if g.get("sm_clock_max_mhz") else ""
        lines.append(
            f"{g['id']}: {g['name']} (cc {g['compute_capability']}, {mem}, driver "
            f"{g['driver']}, CUDA {g['cuda_driver']}{clocks}) uuid {g['uuid']}"
        )
    lines += [
        f"jax {d['id']}: {d['kind']}" for d in fp.get("jax_devices", []) if d["platform"] != "cpu"
    ]
    if len(lines) == 1:
        lines.append("no GPU or TPU found (NVML and JAX see none)")
    return lines


def cmd_kernels(args: argparse.Namespace) -> int:
    # What the other commands use: a file's kernel replaces the catalog's of the same name.
    mine = {k.name: k for k in load_kernels_file(args.kernels_file)} if args.kernels_file else {}
    kernels = [*mine.values(), *(k for name, k in catalog().items() if name not in mine)]
    rows = [
        {
            "name": k.name,
            "args": list(k.arg_names),
            "expr": str(k.expr),
            "domains": {n: [d.lo, d.hi] for n, d in zip(k.arg_names, k.domains)},
            "doc": k.doc,
            "source": k.source,
        }
        for k in kernels
    ]
    if args.json:
        print_json(rows)
        return 0
    from rich.table import Table

    table = Table(title="kernels")
    for col in ("name", "args", "expression", "doc"):
        table.add_column(col, overflow="fold")
    for r in rows:
        expr = r["expr"] if len(r["expr"]) <= 60 else r["expr"][:57] + "..."
        table.add_row(r["name"], ", ".join(r["args"]), escape(expr), escape(r["doc"]))
    get_console().print(table)
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    record = store_from(args).load(args.run)
    if args.json:
        print_json(record)
        return 0
    from rich.table import Table

    run = RunView(record)
    sizes = sorted({t.size for _, t in run.timings()})
    table = Table(title=f"run {run.run_id}  ({run.created})")
    for col in ("kernel", "backend", "device", "dtype", "status", "max ULP"):
        table.add_column(col)
    for n in sizes:
        table.add_column(f"n={n:,}", justify="right")
    for r in run.results:
        if r.status == "unavailable":
            continue
        by = {t.size: t for t in r.timings}
        ulp = r.max_ulp
        table.add_row(
            r.kernel,
            r.backend,
            r.device,
            r.dtype,
            f"[{STATUS_STYLE.get(r.status, '')}]{r.status}[/]",
            fmt_number(ulp, ".1f") if ulp is None or math.isfinite(ulp) else str(ulp),
            *[fmt_seconds(by[n].median_s) if n in by else "-" for n in sizes],
        )
    get_console().print(table)
    summary_table(record)
    prov = record["provenance"]
    git = prov.get("git", {})
    get_console().print(
        f"[dim]symbench {prov.get('symbench')}, git {str(git.get('commit'))[:12]}"
        f"{' (dirty)' if git.get('dirty') else ''}, python {prov['python']['version']}, "
        f"{prov['machine']['cpu']['model']}[/]"
    )
    return 0


def cmd_history(args: argparse.Namespace) -> int:
    records, problems = store_from(args).load_all()
    for p in problems:
        warn_line(f"{p} (skipped)")
    kernels, backends = split_names(args.kernel), split_names(args.backend)
    if problem := names_not_stored(records, kernels, backends):
        raise BadInput(problem)
    rows = history_rows(records, kernels, backends)
    if args.json:
        print_json(rows)
        return 0
    from rich.table import Table

    table = Table(title="run history (oldest first)")
    for col in ("run", "created", "commit", "pairs", "passed", "best time at largest size", "cpu"):
        table.add_column(col)
    for r in rows:
        size = (
            "-"
            if r["largest_size"] is None
            else f"{fmt_seconds(r['best_median_s'])} (n={r['largest_size']:,})"
        )
        table.add_row(
            r["run_id"],
            r["created"],
            r["commit"] or "-",
            str(r["pairs"]),
            str(r["passed"]),
            size,
            r["cpu"],
        )
    get_console().print(table)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``backends``, ``kernels``, ``show``, ``history`` to the ``symbench`` parser."""
    p = sub.add_parser("backends", help="list backends: version, devices, available or why not")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=cmd_backends)

    p = sub.add_parser("kernels", help="list the kernel catalog")
    p.add_argument("--kernels-file", metavar="FILE", help="also list KERNELS from this file")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=cmd_kernels)

    p = sub.add_parser("show", help="show a stored run (table or --json)")
    p.add_argument("run", metavar="RUN", help="run id, unique prefix, 'latest', or a .json path")
    store_option(p)
    p.add_argument("--json", action="store_true", help="print the whole record")
    p.set_defaults(func=cmd_show)

    p = sub.add_parser("history", help="one row per stored run, oldest first")
    p.add_argument(
        "--kernel", "-k", action="append", metavar="NAME", help="only runs with these kernels"
    )
    p.add_argument(
        "--backend", "-b", action="append", metavar="ID", help="only runs with these backends"
    )
    store_option(p)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_history)
