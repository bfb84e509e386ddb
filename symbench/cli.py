"""Command line: argument parsing and printing only; every subcommand calls the library.

Exit codes: 0 success, 1 checked and found wrong, 2 bad input (one line on stderr).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from . import __version__
from .errors import SymbenchError

STATUS_STYLE = {
    "pass": "green",
    "xfail": "yellow",
    "fail": "bold red",
    "error": "bold red",
    "unsupported": "dim",
    "unavailable": "dim",
}


def _console(stderr: bool = False):
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=False)


def escape(text: str) -> str:
    from rich.markup import escape as rich_escape

    return rich_escape(text)


def _print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, allow_nan=False, default=str)
    sys.stdout.write("\n")


def _fmt(v: float | None, spec: str = ".3g") -> str:
    if v is None:
        return "-"
    return format(v, spec) if isinstance(v, float) else str(v)


# ---------------------------------------------------------------- backends / kernels


def cmd_backends(args: argparse.Namespace) -> int:
    from .backends import backend_ids, get_backend

    rows = [get_backend(b).describe() for b in backend_ids()]
    if args.json:
        _print_json(rows)
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
    _console().print(table)
    return 0


def cmd_kernels(args: argparse.Namespace) -> int:
    from .kernels import catalog, load_kernels_file

    kernels = list(catalog().values())
    if args.kernels_file:
        kernels = load_kernels_file(args.kernels_file) + kernels
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
        _print_json(rows)
        return 0
    from rich.table import Table

    table = Table(title="kernels")
    for col in ("name", "args", "expression", "doc"):
        table.add_column(col, overflow="fold")
    for r in rows:
        expr = r["expr"] if len(r["expr"]) <= 60 else r["expr"][:57] + "..."
        table.add_row(r["name"], ", ".join(r["args"]), escape(expr), escape(r["doc"]))
    _console().print(table)
    return 0


# ---------------------------------------------------------------------------- check


def _progress(total: int, enabled: bool):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    progress = Progress(
        TextColumn("[bold]check"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
        console=_console(stderr=True),
        disable=not enabled,
        transient=True,
    )
    task = progress.add_task("", total=total)
    return progress, task


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
            _fmt(r.max_ulp, ".1f"),
            _fmt(r.max_rel_err, ".2g"),
            escape(_special_text(r.special)),
            escape(r.reason if len(r.reason) < 160 else r.reason[:157] + "..."),
        )
    console = _console()
    console.print(table)
    unavailable: dict[str, str] = {}
    for r in results:
        if r.status == "unavailable":
            unavailable.setdefault(r.backend, r.reason)
    for backend, reason in unavailable.items():
        console.print(f"[dim]{backend}: unavailable ({escape(reason)})[/]")
    counts: dict[str, int] = {}
    for r in results:
        counts[r.status] = counts.get(r.status, 0) + 1
    console.print(", ".join(f"{n} {s}" for s, n in sorted(counts.items())))


def cmd_check(args: argparse.Namespace) -> int:
    from .equivalence import FAILING, check_matrix, matrix_size
    from .selection import select

    sel = select(
        args.kernel,
        args.backend,
        args.dtype,
        args.expr,
        args.domain,
        args.kernels_file,
        rtol=args.rtol,
        atol=args.atol,
    )
    devices = [args.device] if args.device else None
    total = matrix_size(sel.kernels, sel.backends, sel.dtypes, devices)
    progress, task = _progress(total, enabled=not args.no_progress)

    def advance(r) -> None:
        progress.update(task, advance=1, description=f"{r.kernel} {r.backend} {r.dtype}")

    with progress:
        results = check_matrix(
            sel.kernels,
            sel.backends,
            sel.dtypes,
            devices,
            size=args.size,
            seed=args.seed,
            on_result=advance,
            jobs=args.jobs,
        )
    if args.json:
        _print_json([r.to_dict(with_source=args.with_source) for r in results])
    else:
        _check_table(results)
    for err in sel.errors:
        _error(err)
    if sel.errors:
        return 2
    return 1 if any(r.status in FAILING for r in results) else 0


# ----------------------------------------------------------------------------- main


def _error(message: str) -> None:
    sys.stderr.write(f"symbench: error: {message}\n")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse's own errors: one line, exit 2
        self.exit(2, f"symbench: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="symbench",
        description=(
            "Compile SymPy expressions through every available backend, check each result "
            "against a high-precision mpmath reference, and time the correct ones."
        ),
        epilog="Exit codes: 0 success, 1 checked and found wrong, 2 bad input.",
    )
    parser.add_argument("--version", action="version", version=f"symbench {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser("backends", help="list backends: version, devices, available or why not")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=cmd_backends)

    p = sub.add_parser("kernels", help="list the kernel catalog")
    p.add_argument("--kernels-file", metavar="FILE", help="also list KERNELS from this file")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=cmd_kernels)

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
    p.add_argument(
        "--kernel",
        "-k",
        action="append",
        metavar="NAME",
        help="kernel name(s), repeatable or comma-separated (default: all)",
    )
    p.add_argument(
        "--backend",
        "-b",
        action="append",
        metavar="ID",
        help="backend id(s), repeatable or comma-separated (default: all)",
    )
    p.add_argument(
        "--dtype", action="append", metavar="DTYPE", help="float64 and/or float32 (default: both)"
    )
    p.add_argument("--device", metavar="DEV", help="only this device (cpu, gpu:0, tpu:0)")
    p.add_argument("--expr", metavar="EXPR", help='check your own expression, e.g. "sin(x)/x"')
    p.add_argument(
        "--domain",
        action="append",
        metavar="NAME=LO:HI",
        help="input range of one symbol of --expr (one per symbol)",
    )
    p.add_argument(
        "--rtol", type=float, help="relative tolerance for --expr (default 1e-13 / 1e-5)"
    )
    p.add_argument("--atol", type=float, help="absolute tolerance for --expr (default 0)")
    p.add_argument("--kernels-file", metavar="FILE", help="a Python file defining KERNELS")
    p.add_argument("--size", type=int, default=1000, help="elements per input (default 1000)")
    p.add_argument("--seed", type=int, default=None, help="input seed (default: fixed)")
    p.add_argument("--jobs", "-j", type=int, default=None, help="parallel builds (default: cores)")
    p.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    p.add_argument("--with-source", action="store_true", help="include generated source in JSON")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_check)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    if getattr(args, "seed", 0) is None:
        from .inputs import DEFAULT_SEED

        args.seed = DEFAULT_SEED
    if getattr(args, "size", 1) < 1:
        _error(f"--size must be at least 1, got {args.size}")
        return 2
    try:
        return args.func(args)
    except SymbenchError as exc:
        _error(str(exc))
        return exc.exit_code
    except KeyboardInterrupt:
        _error("interrupted")
        return 130
