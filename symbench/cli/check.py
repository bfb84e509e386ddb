"""`symbench check` (equivalence against the reference) and `symbench accuracy` (math libraries
per function family).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from .. import accuracy
from ..accuracy import DEFAULT_POINTS, FAMILIES, LAST_BITS_ULP, device_kind, summarize
from ..backends import get_backend
from ..devices import device_summary, fingerprint
from ..equivalence import DEFAULT_SIZE, FAILING, check_matrix, matrix_size
from ..fmt import fmt_number
from ..records.provenance import collect, package_versions
from ..selection import select, split_names
from .options import ELEMENTS, dtype_device_options, output_options, selection_options, whole
from .output import (
    STATUS_STYLE,
    RichReporter,
    check_writable,
    error_line,
    escape,
    get_console,
    print_json,
    print_unavailable,
    save_json,
    select_from,
    selection_errors,
)


def _special_text(special: list[dict[str, Any]]) -> str:
    parts = []
    for s in special[:3]:
        first = next(iter(s["inputs"].items()), None)
        if first is not None:
            parts.append(f"{first[0]}={first[1]:g}→{s['got']}")
    return " ".join(parts)


def _check_table(results) -> None:
    from rich.table import Table

    shown = [r for r in results if r.status != "unavailable"]
    table = Table(title="equivalence against the mpmath reference")
    for col in ("kernel", "backend", "device", "dtype", "status", "max ULP", "max rel err"):
        table.add_column(col, justify="right" if col.startswith("max") else "left")
    table.add_column("at special points")
    table.add_column("reason", overflow="fold")
    for r in shown:
        style = STATUS_STYLE.get(r.status, "")
        table.add_row(
            r.kernel,
            r.backend,
            r.device,
            r.dtype,
            f"[{style}]{r.status}[/]",
            fmt_number(r.max_ulp, ".1f"),
            fmt_number(r.max_rel_err, ".2g"),
            escape(_special_text(r.special)),
            escape(r.reason if len(r.reason) < 160 else r.reason[:157] + "..."),
        )
    console = get_console()
    console.print(table)
    print_unavailable(console, results)
    counts: dict[str, int] = {}
    for r in results:
        counts[r.status] = counts.get(r.status, 0) + 1
    console.print(", ".join(f"{n} {s}" for s, n in sorted(counts.items())))


def cmd_check(args: argparse.Namespace) -> int:
    sel = select_from(args)
    devices = [args.device] if args.device else None
    with RichReporter(enabled=not args.no_progress) as reporter:
        reporter.phase("check", matrix_size(sel.kernels, sel.backends, sel.dtypes, devices))
        results = check_matrix(
            sel.kernels,
            sel.backends,
            sel.dtypes,
            devices,
            size=args.size,
            seed=args.seed,
            on_result=lambda r: reporter.advance(f"{r.kernel} {r.backend} {r.dtype}"),
            jobs=args.jobs,
        )
    if args.json:
        print_json([r.to_dict(with_source=args.with_source) for r in results])
    else:
        _check_table(results)
    if selection_errors(sel):
        return 2
    return 1 if any(r.status in FAILING for r in results) else 0


def cmd_accuracy(args: argparse.Namespace) -> int:
    families = accuracy.select_families(split_names(args.family))
    if args.out:
        check_writable(args.out)
    sel = select(None, args.backend, args.dtype)
    devices = [args.device] if args.device else None
    if args.points < 10:
        error_line(f"--points must be at least 10, got {args.points}")
        return 2
    total = accuracy.survey_size(families, sel.backends, sel.dtypes, devices)
    with RichReporter(enabled=not args.no_progress) as reporter:
        reporter.phase("probe", total)
        results = accuracy.survey(
            families,
            sel.backends,
            sel.dtypes,
            devices,
            points=args.points,
            seed=args.seed,
            on_result=lambda r: reporter.advance(f"{r.probe} {r.backend} {r.dtype}"),
        )
    if args.out:
        save_json(
            args.out,
            {
                "kind": "symbench-accuracy",
                "provenance": collect(["symbench", *args.argv]),
                "points": args.points,
                "results": [r.to_dict() for r in results],
            },
        )
    if args.toml:
        sys.stdout.write(_accuracy_toml(results, args.argv))
    elif args.json:
        print_json([r.to_dict() for r in results])
    else:
        (_accuracy_table if args.detail else _accuracy_matrix)(results)
    if selection_errors(sel):
        return 2
    return 1 if any(r.status == "error" for r in results) else 0


def _accuracy_toml(results, argv: list[str]) -> str:
    fp = fingerprint()
    devices = sorted({r.device for r in results if r.status == "measured"})
    machine = "; ".join(device_summary(fp, d) for d in devices)
    libraries = {r.backend: get_backend(r.backend).library for r in results}
    command = " ".join(["symbench", *(a for a in argv if a not in ("--toml", "--no-progress"))])
    return accuracy.to_toml(results, machine, package_versions(), command, libraries)


def _accuracy_matrix(results) -> None:
    """Family x (backend, device, dtype): the worst probe's max ULP; above the last-bits
    limit in bold (a divergence: it scales nothing)."""
    from rich.table import Table

    worst = summarize(results)
    columns = sorted({(r.backend, r.device, r.dtype) for r in results if r.status != "unavailable"})
    table = Table(title="math library accuracy: max ULP per function family (--detail: per probe)")
    table.add_column("family")
    for backend, device, dtype in columns:
        table.add_column(f"{backend}\n{device} {dtype.replace('float', 'f')}", justify="right")
    for family in dict.fromkeys(r.family for r in results):
        cells = []
        for backend, device, dtype in columns:
            r = worst.get((backend, device_kind(device), dtype, family))
            if r is None:
                cells.append("[dim]-[/]")
            else:
                text = fmt_number(r.max_ulp, ".3g")
                cells.append(f"[bold red]{text}[/]" if r.max_ulp > LAST_BITS_ULP else text)
        table.add_row(family, *cells)
    console = get_console()
    console.print(table)
    console.print("[dim]-: unsupported or not measured (--detail says why)[/]")
    print_unavailable(console, results)


def _accuracy_table(results) -> None:
    from rich.table import Table

    table = Table(title="math library accuracy: single-function probes against mpmath")
    for col in ("family", "probe", "backend", "device", "dtype", "max ULP", "worst at"):
        table.add_column(col, justify="right" if col == "max ULP" else "left")
    for r in results:
        if r.status == "unavailable":
            continue
        ulp = fmt_number(r.max_ulp, ".3g") if r.status == "measured" else f"[dim]{r.status}[/]"
        detail = r.worst if r.status == "measured" else r.reason
        table.add_row(r.family, r.probe, r.backend, r.device, r.dtype, ulp, escape(detail[:100]))
    console = get_console()
    console.print(table)
    print_unavailable(console, results)


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``check``, ``accuracy`` to the ``symbench`` parser."""
    p = sub.add_parser(
        "check",
        help="check every kernel x backend x dtype against the mpmath reference",
        description=(
            "Compile each selected kernel with each selected backend and compare its output "
            "with an mpmath reference (40 digits) on deterministic inputs. Statuses: pass, "
            "fail, xfail (known divergence), unsupported, unavailable, error. Exit 1 if any "
            "pair failed or errored."
        ),
    )
    selection_options(p)
    p.add_argument(
        "--size",
        type=ELEMENTS,
        default=DEFAULT_SIZE,
        help=f"elements per input (default {DEFAULT_SIZE})",
    )
    p.add_argument(
        "--jobs", "-j", type=whole(1), default=None, help="parallel builds (default: cores)"
    )
    p.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    p.add_argument("--with-source", action="store_true", help="include generated source in JSON")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser(
        "accuracy",
        help="measure each backend's math library per function family (ULP vs mpmath)",
        description=(
            "Evaluate single-function probes (exp, log, erf, x**y, ...) at exactly "
            "representable inputs on each backend and device, and report the largest error "
            "in ULPs against the mpmath truth: the math library's own error, which check "
            "uses to scale that family's share of a kernel's error bound (see "
            "math_accuracy.toml). Exit 0 when "
            "measured, 1 when a backend returned NaN/Inf where the truth is finite (or the "
            "reverse), 2 for bad input."
        ),
    )
    p.add_argument(
        "--family",
        "-f",
        action="append",
        metavar="NAME",
        help="function family (default: all of " + ", ".join(FAMILIES) + ")",
    )
    p.add_argument(
        "--backend", "-b", action="append", metavar="ID", help="backend id(s) (default: all)"
    )
    dtype_device_options(p)
    p.add_argument(
        "--points",
        type=ELEMENTS,
        default=DEFAULT_POINTS,
        help="inputs per probe (default %(default)s)",
    )
    p.add_argument("--out", metavar="FILE", help="also save the results with provenance (JSON)")
    p.add_argument(
        "--toml", action="store_true", help="print entries for math_accuracy.toml instead"
    )
    p.add_argument("--detail", action="store_true", help="one row per probe, with the worst input")
    output_options(p, "print the results as JSON")
    p.set_defaults(func=cmd_accuracy)
