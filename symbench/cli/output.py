"""What the commands share: the console, small formatting helpers, progress bars, JSON, the
one-line error, and the kernel selection from the shared options."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from ..cache import atomic_write_bytes
from ..errors import BadInput
from ..fmt import fmt_seconds
from ..records.schema import encode_tree
from ..records.store import refuse_overwriting_a_record
from ..records.summary import boundness, summarize, variant_gains
from ..selection import select

STATUS_STYLE = {
    "pass": "green",
    "xfail": "yellow",
    "fail": "bold red",
    "error": "bold red",
    "unsupported": "dim",
    "unavailable": "dim",
}


def get_console(stderr: bool = False):
    from rich.console import Console

    console = Console(stderr=stderr, highlight=False, soft_wrap=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console.width = 180  # piped or logged: do not squeeze tables to 80 columns
    return console


def escape(text: str) -> str:
    from rich.markup import escape as rich_escape

    return rich_escape(text)


def print_json(data: Any) -> None:
    json.dump(encode_tree(data), sys.stdout, indent=2, allow_nan=False, default=str)
    sys.stdout.write("\n")


def print_unavailable(console, results) -> None:
    """One dim line per unavailable backend, with the reason (its rows are not shown)."""
    unavailable: dict[str, str] = {}
    for r in results:
        if r.status == "unavailable":
            unavailable.setdefault(r.backend, r.reason)
    for backend, reason in unavailable.items():
        console.print(f"[dim]{backend}: unavailable ({escape(reason)})[/]")


def check_writable(path: str) -> None:
    """Refuse an output path before the work, not after it."""
    refuse_overwriting_a_record(path)
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent) or not os.access(parent, os.W_OK) or os.path.isdir(path):
        raise BadInput(f"cannot write {path}: its directory is missing or not writable")


def save_json(path: str, data: Any) -> None:
    """Write ``data`` atomically; an unwritable path is bad input (exit 2), not a traceback."""
    write_text(path, json.dumps(data, indent=1, default=str))


def write_text(path: str, text: str) -> None:
    """Write ``text`` atomically with the user's umask; an unwritable path is bad input."""
    from pathlib import Path

    refuse_overwriting_a_record(path)
    try:
        atomic_write_bytes(Path(path), text.encode())
        mask = os.umask(0)  # a file for people to keep: the usual permissions, not mkstemp's
        os.umask(mask)
        os.chmod(path, 0o666 & ~mask)
    except OSError as exc:
        raise BadInput(f"cannot write {path}: {exc.strerror or exc}") from None


class RichReporter:
    """Draws one progress bar per phase (check, time, verify) on stderr."""

    def __init__(self, enabled: bool) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self.progress = Progress(
            TextColumn("[bold]{task.fields[phase]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.description}"),
            console=get_console(stderr=True),
            disable=not enabled,
            transient=True,
        )
        self.task = None

    def phase(self, name: str, total: int) -> None:
        if self.task is not None:
            self.progress.remove_task(self.task)
        self.task = self.progress.add_task("", total=total, phase=name)

    def advance(self, description: str) -> None:
        if self.task is not None:
            self.progress.update(self.task, advance=1, description=escape(description))

    def __enter__(self):
        self.progress.__enter__()
        return self

    def __exit__(self, *exc):
        return self.progress.__exit__(*exc)


def warn_line(message: str) -> None:
    sys.stderr.write(f"symbench: warning: {message}\n")


def error_line(message: str) -> None:
    sys.stderr.write(f"symbench: error: {message}\n")


def summary_table(record: dict[str, Any]) -> None:
    from rich.table import Table

    rows = record.get("summary") or summarize(record)
    table = Table(title=f"fastest correct backend per kernel and size  (run {record['run_id']})")
    for col in (
        "kernel",
        "device",
        "dtype",
        "size",
        "fastest",
        "time/call",
        "vs numpy",
        "compile",
        "break-even calls",
        "% of bandwidth",
    ):
        table.add_column(
            col, justify="left" if col in ("kernel", "fastest", "device", "dtype") else "right"
        )
    for r in rows:
        speed = r["speedup_vs_numpy"]
        be = r["break_even_calls"]
        table.add_row(
            r["kernel"],
            r["device"],
            r["dtype"],
            f"{r['size']:,}",
            r["backend"],
            fmt_seconds(r["median_s"]),
            "-" if speed is None else f"{speed:.2f}x",
            fmt_seconds(r["compile_s"]),
            "never" if be is None and speed is not None else ("-" if be is None else f"{be:,}"),
            "-" if r["bw_fraction"] is None else f"{100 * r['bw_fraction']:.0f}%",
        )
    console = get_console()
    console.print(table)
    bounds = record.get("boundness") or boundness(record)
    if bounds:
        mem = sorted(k for k, v in bounds.items() if v == "memory-bound")
        comp = sorted(k for k, v in bounds.items() if v == "compute-bound")
        console.print(f"memory-bound here: {', '.join(mem) or '-'}")
        console.print(f"compute-bound here: {', '.join(comp) or '-'}")
    variants_table(console, record.get("variants") or variant_gains(record))
    for dev, bw in (record.get("bandwidth") or {}).items():
        console.print(
            f"[dim]{dev} bandwidth (measured in this run, {bw['method']}, on "
            f"{bw['array_bytes'] // 2**20} MiB arrays): copy {bw['copy_gbs']:.1f} GB/s, "
            f"add {bw['add_gbs']:.1f} GB/s; each size's % is of the ceiling measured on "
            "arrays of as many bytes (caches included)[/]"
        )


def variants_table(console, rows: list[dict[str, Any]]) -> None:
    """What each code-generation variant buys over its base, and at what ULP cost."""
    if not rows:
        return
    from rich.table import Table

    table = Table(
        title="what each code-generation variant buys over its base "
        "(speedup at the largest size, kernels both pass)"
    )
    for col in ("variant", "base", "device", "dtype", "kernels", "speedup (geo-mean)", "range",
                "max ULP base -> variant", "fails where base passes"):  # fmt: skip
        table.add_column(
            col, justify="right" if col in ("kernels", "speedup (geo-mean)") else "left"
        )
    for r in rows:
        g = r["speedup_geomean"]
        table.add_row(
            r["variant"],
            r["base"],
            r["device"],
            r["dtype"],
            str(r["kernels"]),
            "-" if g is None else f"{g:.2f}x",
            "-" if g is None else f"{r['speedup_min']:.2f}x - {r['speedup_max']:.2f}x",
            f"{r['base_max_ulp']:.1f} -> {r['variant_max_ulp']:.1f}",
            escape("; ".join(r["lost"])) or "-",
        )
    console.print(table)


def select_from(args: argparse.Namespace, kernel_names=None, dtypes=None):
    """The kernels, backends and dtypes the shared kernel options (``--kernel``, ``--backend``,
    ``--expr``/``--domain``, ``--kernels-file``, ``--rtol``/``--atol``) ask for."""

    return select(
        args.kernel if kernel_names is None else kernel_names,
        args.backend,
        args.dtype if dtypes is None else dtypes,
        args.expr,
        args.domain,
        args.kernels_file,
        rtol=args.rtol,
        atol=args.atol,
        variants=getattr(args, "variants", False),
    )


def selection_errors(sel) -> bool:
    """Print each name the user got wrong (the valid ones already ran); True if any."""
    for err in sel.errors:
        error_line(err)
    return bool(sel.errors)
