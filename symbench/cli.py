"""Command line: argument parsing and printing only; every subcommand calls the library.

Exit codes: 0 success, 1 checked and found wrong, 2 bad input (one line on stderr).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from . import __version__
from .devices import device_summary, fingerprint
from .equivalence import DEFAULT_SIZE
from .errors import BadInput, SymbenchError

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

    console = Console(stderr=stderr, highlight=False, soft_wrap=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console.width = 180  # piped or logged: do not squeeze tables to 80 columns
    return console


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
    console = _console()
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


def _special_text(special: list[dict[str, Any]]) -> str:
    parts = []
    for s in special[:3]:
        first = next(iter(s["inputs"].items()), None)
        if first is not None:
            parts.append(f"{first[0]}={first[1]:g}→{s['got']}")
    return " ".join(parts)


def _print_unavailable(console, results) -> None:
    """One dim line per unavailable backend, with the reason (its rows are not shown)."""
    unavailable: dict[str, str] = {}
    for r in results:
        if r.status == "unavailable":
            unavailable.setdefault(r.backend, r.reason)
    for backend, reason in unavailable.items():
        console.print(f"[dim]{backend}: unavailable ({escape(reason)})[/]")


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
    _print_unavailable(console, results)
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
    with _RichReporter(enabled=not args.no_progress) as reporter:
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
        _print_json([r.to_dict(with_source=args.with_source) for r in results])
    else:
        _check_table(results)
    for err in sel.errors:
        _error(err)
    if sel.errors:
        return 2
    return 1 if any(r.status in FAILING for r in results) else 0


def cmd_accuracy(args: argparse.Namespace) -> int:
    from . import accuracy
    from .provenance import collect
    from .selection import select, split_names

    families = accuracy.select_families(split_names(args.family))
    if args.out:
        _writable_target(args.out)
    sel = select(None, args.backend, args.dtype)
    devices = [args.device] if args.device else None
    if args.points < 10:
        _error(f"--points must be at least 10, got {args.points}")
        return 2
    total = accuracy.survey_size(families, sel.backends, sel.dtypes, devices)
    with _RichReporter(enabled=not args.no_progress) as reporter:
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
        _save_json(
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
        _print_json([r.to_dict() for r in results])
    else:
        (_accuracy_table if args.detail else _accuracy_matrix)(results)
    for err in sel.errors:
        _error(err)
    if sel.errors:
        return 2
    return 1 if any(r.status == "error" for r in results) else 0


def _writable_target(path: str) -> None:
    """Refuse an output path before the work, not after it."""
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent) or not os.access(parent, os.W_OK) or os.path.isdir(path):
        raise BadInput(f"cannot write {path}: its directory is missing or not writable")


def _save_json(path: str, data: Any) -> None:
    """Write ``data`` atomically; an unwritable path is bad input (exit 2), not a traceback."""
    from pathlib import Path

    from .cache import atomic_write_bytes

    try:
        atomic_write_bytes(Path(path), json.dumps(data, indent=1, default=str).encode())
        mask = os.umask(0)  # a file for people to keep: the usual permissions, not mkstemp's
        os.umask(mask)
        os.chmod(path, 0o666 & ~mask)
    except OSError as exc:
        raise BadInput(f"cannot write {path}: {exc.strerror or exc}") from None


def _accuracy_toml(results, argv: list[str]) -> str:
    from . import accuracy
    from .backends import get_backend
    from .provenance import package_versions

    fp = fingerprint()
    devices = sorted({r.device for r in results if r.status == "measured"})
    machine = "; ".join(device_summary(fp, d) for d in devices)
    libraries = {r.backend: get_backend(r.backend).library for r in results}
    command = " ".join(["symbench", *(a for a in argv if a not in ("--toml", "--no-progress"))])
    return accuracy.to_toml(results, machine, package_versions(), command, libraries)


def _accuracy_matrix(results) -> None:
    """Family x (backend, device, dtype): the worst probe's max ULP; above the last-bits
    limit in bold (a divergence: it scales no tolerance)."""
    from rich.table import Table

    from .accuracy import LAST_BITS_ULP, device_kind, summarize

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
                text = _fmt(r.max_ulp, ".3g")
                cells.append(f"[bold red]{text}[/]" if r.max_ulp > LAST_BITS_ULP else text)
        table.add_row(family, *cells)
    console = _console()
    console.print(table)
    console.print("[dim]-: unsupported or not measured (--detail says why)[/]")
    _print_unavailable(console, results)


def _accuracy_table(results) -> None:
    from rich.table import Table

    table = Table(title="math library accuracy: single-function probes against mpmath")
    for col in ("family", "probe", "backend", "device", "dtype", "max ULP", "worst at"):
        table.add_column(col, justify="right" if col == "max ULP" else "left")
    for r in results:
        if r.status == "unavailable":
            continue
        ulp = _fmt(r.max_ulp, ".3g") if r.status == "measured" else f"[dim]{r.status}[/]"
        detail = r.worst if r.status == "measured" else r.reason
        table.add_row(r.family, r.probe, r.backend, r.device, r.dtype, ulp, escape(detail[:100]))
    console = _console()
    console.print(table)
    _print_unavailable(console, results)


# ------------------------------------------------------------- run / show / history


class _RichReporter:
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
            console=_console(stderr=True),
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


def _seconds(v: float | None) -> str:
    if v is None:
        return "-"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if v >= scale:
            return f"{v / scale:.3g} {unit}"
    return f"{v * 1e9:.3g} ns"


def _parse_sizes(text: str | None, option: str = "--sizes") -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        sizes = tuple(int(float(t)) for t in text.split(",") if t.strip())
    except ValueError:
        raise BadInput(f"cannot read {option} {text!r}: expected e.g. 1,1000,1e6") from None
    if not sizes or min(sizes) < 1:
        raise BadInput(f"{option} must be positive integers, got {text!r}")
    return sizes


def _summary_table(record: dict[str, Any]) -> None:
    from rich.table import Table

    from .summary import boundness, summarize

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
            _seconds(r["median_s"]),
            "-" if speed is None else f"{speed:.2f}x",
            _seconds(r["compile_s"]),
            "never" if be is None and speed is not None else ("-" if be is None else f"{be:,}"),
            "-" if r["bw_fraction"] is None else f"{100 * r['bw_fraction']:.0f}%",
        )
    console = _console()
    console.print(table)
    bounds = record.get("boundness") or boundness(record)
    if bounds:
        mem = sorted(k for k, v in bounds.items() if v == "memory-bound")
        comp = sorted(k for k, v in bounds.items() if v == "compute-bound")
        console.print(f"memory-bound here: {', '.join(mem) or '-'}")
        console.print(f"compute-bound here: {', '.join(comp) or '-'}")
    for dev, bw in (record.get("bandwidth") or {}).items():
        console.print(
            f"[dim]{dev} bandwidth (measured in this run, single-threaded STREAM on "
            f"{bw['array_bytes'] // 2**20} MiB arrays): copy {bw['copy_gbs']:.1f} GB/s, "
            f"add {bw['add_gbs']:.1f} GB/s; above 100 % the working set sat in the caches "
            "or several threads shared the work[/]"
        )


def cmd_run(args: argparse.Namespace) -> int:
    from .equivalence import FAILING
    from .records import Store
    from .runner import QUICK_KERNELS, QUICK_SIZES, RunSettings, run
    from .selection import select

    kernel_names = args.kernel or (list(QUICK_KERNELS) if args.quick and not args.expr else None)
    sel = select(
        kernel_names,
        args.backend,
        args.dtype,
        args.expr,
        args.domain,
        args.kernels_file,
        rtol=args.rtol,
        atol=args.atol,
    )
    store = Store.open(args.store)  # run() proves it writable before measuring anything
    settings = RunSettings(
        sizes=_parse_sizes(args.sizes) or (QUICK_SIZES if args.quick else RunSettings.sizes),
        dtypes=tuple(sel.dtypes),
        repeats=args.repeats,
        min_sample_s=args.min_sample_s,
        seed=args.seed,
        devices=(args.device,) if args.device else None,
        quick=args.quick,
    )
    with _RichReporter(enabled=not args.no_progress) as reporter:
        record, path = run(
            sel.kernels,
            sel.backends,
            settings,
            store,
            argv=["symbench", *args.argv],
            reporter=reporter,
        )
    if args.json:
        _print_json(
            {
                "run_id": record["run_id"],
                "path": str(path),
                "summary": record["summary"],
                "boundness": record["boundness"],
            }
        )
    else:
        _summary_table(record)
        _console().print(f"record: {path}  ({record['duration_s']:.0f} s)")
    for err in sel.errors:
        _error(err)
    if sel.errors:
        return 2
    return 1 if any(r["status"] in FAILING for r in record["results"]) else 0


def _warn(message: str) -> None:
    sys.stderr.write(f"symbench: warning: {message}\n")


def cmd_show(args: argparse.Namespace) -> int:
    from .records import Store

    record = Store.open(args.store).load(args.run)
    if args.json:
        _print_json(record)
        return 0
    from rich.table import Table

    sizes = sorted({t["size"] for r in record["results"] for t in r.get("timings", [])})
    table = Table(title=f"run {record['run_id']}  ({record['created']})")
    for col in ("kernel", "backend", "device", "dtype", "status", "max ULP"):
        table.add_column(col)
    for n in sizes:
        table.add_column(f"n={n:,}", justify="right")
    for r in record["results"]:
        if r["status"] == "unavailable":
            continue
        by = {t["size"]: t for t in r.get("timings", [])}
        table.add_row(
            r["kernel"],
            r["backend"],
            r["device"],
            r["dtype"],
            f"[{STATUS_STYLE.get(r['status'], '')}]{r['status']}[/]",
            _fmt(r.get("max_ulp"), ".1f")
            if not isinstance(r.get("max_ulp"), str)
            else r["max_ulp"],
            *[_seconds(by[n]["median_s"]) if n in by else "-" for n in sizes],
        )
    _console().print(table)
    _summary_table(record)
    prov = record["provenance"]
    git = prov.get("git", {})
    _console().print(
        f"[dim]symbench {prov.get('symbench')}, git {str(git.get('commit'))[:12]}"
        f"{' (dirty)' if git.get('dirty') else ''}, python {prov['python']['version']}, "
        f"{prov['machine']['cpu']['model']}[/]"
    )
    return 0


def cmd_history(args: argparse.Namespace) -> int:
    from .records import Store
    from .summary import history_rows

    records, problems = Store.open(args.store).load_all()
    for p in problems:
        _warn(f"{p} (skipped)")
    rows = history_rows(records, args.kernel, args.backend)
    if args.json:
        _print_json(rows)
        return 0
    from rich.table import Table

    table = Table(title="run history (oldest first)")
    for col in ("run", "created", "commit", "pairs", "passed", "best time at largest size", "cpu"):
        table.add_column(col)
    for r in rows:
        size = (
            "-"
            if r["largest_size"] is None
            else f"{_seconds(r['best_median_s'])} (n={r['largest_size']:,})"
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
    _console().print(table)
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from .records import Store
    from .verify import verify

    record = Store.open(args.store).load(args.run)
    with _RichReporter(enabled=not args.no_progress) as reporter:
        report = verify(
            record,
            timings=not args.no_timings,
            timing_floor=args.timing_floor,
            strict=args.strict_timings,
            reporter=reporter,
        )
    if args.json:
        _print_json(report.to_dict())
    else:
        console = _console()
        bad = [p for p in report.pairs if not p.reproduced]
        for problem in report.input_problems:
            console.print(f"[red]{escape(problem)}[/]")
        for p in bad:
            for problem in p.problems:
                console.print(
                    f"[red]{p.kernel} {p.backend} {p.device} {p.dtype}:[/] {escape(problem)}"
                )
        for p in report.pairs:
            for outlier in p.timing_outliers:
                console.print(
                    f"[yellow]{p.kernel} {p.backend} {p.device} {p.dtype}:[/] {escape(outlier)}"
                )
        if report.comparisons:
            console.print(
                f"timings: {report.comparisons - report.outside} of {report.comparisons} within "
                f"their noise band; best times x{report.mean_ratio:.3f} of the record's "
                "(geometric mean)"
            )
        for problem in report.timing_problems:
            console.print(f"[red]{escape(problem)}[/]")
        verdict = "[green]reproduced[/]" if report.reproduced else "[bold red]not reproduced[/]"
        console.print(
            f"run {report.run_id}: {verdict} ({len(report.pairs) - len(bad)} of {len(report.pairs)} pairs)"
        )
        if report.environment:
            console.print("environment changes since the record:")
            for change in report.environment:
                console.print(f"  {escape(change)}")
        elif not report.reproduced:
            console.print("environment: no change in versions, machine or compiler")
    return 0 if report.reproduced else 1


def cmd_gate(args: argparse.Namespace) -> int:
    from . import gate
    from .records import Store

    store = Store.open(args.store)
    threshold = gate.parse_threshold(args.threshold)
    if not 0 < args.alpha < 1:
        raise BadInput(f"--alpha must be between 0 and 1, got {args.alpha}")
    if args.rerun:
        if args.current:
            raise BadInput("--rerun measures the current code now: give only BASELINE")
        from .gate_rerun import rerun

        if args.samples < 2 or args.min_sample_s <= 0:
            raise BadInput("--samples must be at least 2 and --min-sample-s positive")
        heads = None
        if args.kernels_file:
            from .kernels import catalog, load_kernels_file

            heads = catalog() | {k.name: k for k in load_kernels_file(args.kernels_file)}
        with _RichReporter(enabled=not args.no_progress) as reporter:
            report = rerun(
                store.load(args.baseline),
                current_kernels=heads,
                pairs=args.samples,
                min_sample_s=args.min_sample_s,
                threshold=threshold,
                alpha=args.alpha,
                reporter=reporter,
            )
    else:
        if not args.current:
            raise BadInput("give BASELINE and CURRENT runs, or --rerun BASELINE")
        report = gate.compare_records(
            store.load(args.baseline),
            store.load(args.current),
            threshold=threshold,
            alpha=args.alpha,
            allow_env_change=args.allow_env_change,
        )
    if args.json:
        _print_json(report.to_dict())
        return report.exit_code
    console = _console()
    shown = [c for c in report.comparisons if c.verdict != "unchanged"]
    if shown:
        from rich.table import Table

        table = Table(title=f"gate {report.baseline} -> {report.current}")
        for col in ("pair", "verdict", "ratio", f"{gate.CONFIDENCE:.0%} interval", "q", "note"):
            table.add_column(col)
        style = {"regression": "bold red", "incorrect": "bold red", "improvement": "green"}
        for c in shown:
            interval = f"{c.low:.3f}-{c.high:.3f}" if c.low is not None else "-"
            table.add_row(
                str(c.key),
                f"[{style.get(c.verdict, 'yellow')}]{c.verdict}[/]",
                _fmt(c.ratio, ".3f"),
                interval,
                _fmt(c.q, ".2g"),
                escape(c.note),
            )
        console.print(table)
    for line in gate.summary_lines(report):
        console.print(escape(line))
    colour = {"pass": "green", "regression": "bold red", "undecided": "yellow"}[report.verdict]
    console.print(f"gate: [{colour}]{report.verdict}[/] (exit {report.exit_code})")
    return report.exit_code


def cmd_recommend(args: argparse.Namespace) -> int:
    from .recommend import recommend
    from .records import Store
    from .selection import select

    if not args.kernel and not args.expr:
        raise BadInput("give --kernel NAME or --expr EXPR with --domain")
    sel = select(
        args.kernel, args.backend, [args.dtype], args.expr, args.domain, args.kernels_file,
        rtol=args.rtol, atol=args.atol,
    )  # fmt: skip
    if sel.errors:
        raise BadInput(sel.errors[0])
    if len(sel.kernels) != 1:
        raise BadInput(f"recommend answers for one kernel at a time, got {len(sel.kernels)}")
    if args.max_compile_s is not None and args.max_compile_s < 0:
        raise BadInput("--max-compile-s must not be negative")
    store = Store.open(args.store)
    with _RichReporter(enabled=not args.no_progress) as reporter:
        rec = recommend(
            sel.kernels[0],
            list(_parse_sizes(args.batch, "--batch")),
            device=args.device,
            dtype=args.dtype,
            max_compile_s=args.max_compile_s,
            by=args.by,
            store=store,
            from_run=args.from_run,
            measure=not args.no_measure,
            backends=[b.id for b in sel.backends] if args.backend else None,
            reporter=reporter,
            argv=["symbench", *args.argv],
        )
    if args.json:
        _print_json(rec.to_dict())
        return 0 if all(p.best for p in rec.picks) else 1
    from rich.table import Table

    table = Table(
        title=f"{rec.kernel} = {escape(rec.expression)} on {rec.device} {rec.dtype} "
        f"(fastest correct backend by {rec.by} latency per call)"
    )
    for col in ("batch", "backend", "p50", "p99", "throughput", "compile", "cold start",
                "runner-up", "run"):  # fmt: skip
        table.add_column(col, justify="right" if col not in ("backend", "runner-up") else "left")
    for p in rec.picks:
        b = p.best
        if b is None:
            table.add_row(str(p.batch), "[red]none passed[/]", *["-"] * 7)
            continue
        runner = f"{p.runner_up.backend} (x{p.margin:.2f} slower)" if p.runner_up else "-"
        table.add_row(
            str(p.batch), f"[bold]{b.backend}[/]", _seconds(b.p50_s), _seconds(b.p99_s),
            f"{b.throughput:.3g}/s", _seconds(b.compile_s), _seconds(b.cold_start_s),
            runner, b.run_id,
        )  # fmt: skip
    console = _console()
    console.print(table)
    out = {b: why for p in rec.picks for b, why in p.excluded.items()}
    for backend, why in sorted(out.items()):
        console.print(f"[dim]{backend}: {escape(why)}[/]")
    source = f"measured now as run {rec.measured_run}" if rec.measured_run else "from the store"
    console.print(f"answered {source}; runs used: {', '.join(rec.runs_used) or 'none'}")
    return 0 if all(p.best for p in rec.picks) else 1


def cmd_report(args: argparse.Namespace) -> int:
    from .records import Store
    from .report import build_report

    store = Store.open(args.store)
    records = [store.load(ref) for ref in (args.runs or ["latest"])]
    fmt = args.format or ("md" if str(args.out).endswith(".md") else "html")
    path = build_report(records, args.out, fmt)
    if args.json:
        _print_json({"path": str(path), "format": fmt, "runs": [r["run_id"] for r in records]})
    else:
        _console().print(f"report: {path} ({fmt}, {len(records)} run(s))")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from .export import export, export_from_record

    if args.run:
        from .records import Store

        record = Store.open(args.store).load(args.run)
        path = export_from_record(
            record, args.out, kernel=args.kernel, backend=args.backend, dtype=args.dtype
        )
    else:
        if not ((args.kernel or args.expr) and args.backend):
            raise BadInput("give RUN, or --kernel K (or --expr E --domain ...) and --backend B")
        from .selection import select

        sel = select([args.kernel] if args.kernel else None, [args.backend], [args.dtype or "float64"], args.expr,
                     args.domain, args.kernels_file)  # fmt: skip
        if sel.errors:
            raise BadInput(sel.errors[0])
        path = export(sel.kernels[0], args.backend, sel.dtypes[0], args.out, args.device)
    manifest = json.loads((path / "manifest.json").read_text())
    if args.json:
        _print_json({"path": str(path), "manifest": manifest})
    else:
        _console().print(
            f"exported {manifest['kernel']['name']} / {manifest['backend']['id']} / "
            f"{manifest['dtype']} to {path} (load: python {path / 'loader.py'} --check)"
        )
    return 0


# ----------------------------------------------------------------------------- main


def _error(message: str) -> None:
    sys.stderr.write(f"symbench: error: {message}\n")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse's own errors: one line, exit 2
        self.exit(2, f"symbench: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    from . import gate  # its defaults are the gate's

    parser = _Parser(
        prog="symbench",
        description=(
            "Compile SymPy expressions through every available backend, check each result "
            "against a high-precision mpmath reference, and time the correct ones."
        ),
        epilog=(
            "Exit codes: 0 success, 1 checked and found wrong, 2 bad input, "
            "3 (gate) not enough data to decide."
        ),
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
    _selection_options(p)
    p.add_argument(
        "--size",
        type=int,
        default=DEFAULT_SIZE,
        help=f"elements per input (default {DEFAULT_SIZE})",
    )
    p.add_argument("--jobs", "-j", type=int, default=None, help="parallel builds (default: cores)")
    p.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    p.add_argument("--with-source", action="store_true", help="include generated source in JSON")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser(
        "run",
        help="the main job: check, time every correct pair, store a run record",
        description=(
            "Check every kernel x backend x dtype, time the pairs that pass at each size "
            "(warm-up, calibrated loops, >= 7 samples, device sync inside the timed region), "
            "measure the device's memory bandwidth, and store everything as one JSON run "
            "record. Prints per kernel and size the fastest correct backend, its speedup over "
            "numpy, its compile cost and the calls after which compiling pays off."
        ),
    )
    _selection_options(p)
    p.add_argument("--sizes", metavar="N,N,...", help="elements per call (default 1,1000,1000000)")
    p.add_argument(
        "--quick",
        action="store_true",
        help="5 representative kernels at sizes 1,1000,100000 (about a minute once built)",
    )
    p.add_argument("--repeats", type=int, default=7, help="timing samples per size (default 7)")
    p.add_argument(
        "--min-sample-s",
        type=float,
        default=0.01,
        help="calibrate loops so a sample lasts at least this long (default 0.01)",
    )
    _store_option(p)
    _output_options(p, "print the summary and record path as JSON")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser(
        "accuracy",
        help="measure each backend's math library per function family (ULP vs mpmath)",
        description=(
            "Evaluate single-function probes (exp, log, erf, x**y, ...) at exactly "
            "representable inputs on each backend and device, and report the largest error "
            "in ULPs against the mpmath truth: the math library's own error, which check "
            "uses to scale a kernel's tolerance (see math_accuracy.toml). Exit 0 when "
            "measured, 1 when a backend returned NaN/Inf where the truth is finite (or the "
            "reverse), 2 for bad input."
        ),
    )
    p.add_argument(
        "--family",
        "-f",
        action="append",
        metavar="NAME",
        help="function family (default: all of " + ", ".join(_families()) + ")",
    )
    p.add_argument(
        "--backend", "-b", action="append", metavar="ID", help="backend id(s) (default: all)"
    )
    p.add_argument(
        "--dtype", action="append", metavar="DTYPE", help="float64 and/or float32 (default: both)"
    )
    p.add_argument("--device", metavar="DEV", help="only this device (cpu, gpu:0, tpu:0)")
    p.add_argument("--points", type=int, default=10_000, help="inputs per probe (default 10000)")
    p.add_argument("--seed", type=int, default=None, help="input seed (default: fixed)")
    p.add_argument("--out", metavar="FILE", help="also save the results with provenance (JSON)")
    p.add_argument(
        "--toml", action="store_true", help="print entries for math_accuracy.toml instead"
    )
    p.add_argument("--detail", action="store_true", help="one row per probe, with the worst input")
    _output_options(p, "print the results as JSON")
    p.set_defaults(func=cmd_accuracy)

    p = sub.add_parser("show", help="show a stored run (table or --json)")
    p.add_argument("run", metavar="RUN", help="run id, unique prefix, 'latest', or a .json path")
    _store_option(p)
    p.add_argument("--json", action="store_true", help="print the whole record")
    p.set_defaults(func=cmd_show)

    p = sub.add_parser("history", help="one row per stored run, oldest first")
    p.add_argument(
        "--kernel", "-k", action="append", metavar="NAME", help="only runs with this kernel"
    )
    p.add_argument(
        "--backend", "-b", action="append", metavar="ID", help="only runs with this backend"
    )
    _store_option(p)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_history)

    p = sub.add_parser(
        "verify",
        help="rerun a stored run here and say whether it reproduces",
        description=(
            "Rerun exactly what a record describes: same kernels, inputs, backends, sizes and "
            "timing settings. Reproduced = same statuses, identical generated sources and "
            "inputs, and best times that agree with the record as a whole (geometric mean "
            "within 10%%, at most 10%% of comparisons outside their noise band). Exit 0 "
            "reproduced, 1 not."
        ),
    )
    p.add_argument("run", metavar="RUN", help="run id, unique prefix, 'latest', or a .json path")
    _store_option(p)
    p.add_argument("--no-timings", action="store_true", help="check results and sources only")
    p.add_argument(
        "--timing-floor",
        type=float,
        default=0.25,
        help="smallest noise band of one timing comparison, as a fraction (default 0.25)",
    )
    p.add_argument(
        "--strict-timings",
        action="store_true",
        help="fail on any timing outside its band (default: judge the timings as a whole)",
    )
    _output_options(p, "print the report as JSON")
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser(
        "gate",
        help="statistical regression gate between two runs (or --rerun the baseline now)",
        description=(
            "Compare timings pair by pair from raw samples. A pair regresses when it is "
            "slower than --threshold and the difference is significant after a "
            "Benjamini-Hochberg false-discovery-rate correction over all pairs (--alpha). "
            "BASELINE CURRENT: two stored runs; between-run noise is estimated from the "
            "suite. --rerun BASELINE: measure the baseline's kernels and the current ones "
            "now, alternately (ABBA), and test the paired ratios (Wilcoxon): the mode for "
            "CI on shared runners. Improvements are reported too."
        ),
        epilog=(
            "Exit codes: 0 no regression, 1 regression (or the current code fails its "
            "equivalence check), 2 bad input or records from different environments, "
            "3 not enough data to decide."
        ),
    )
    p.add_argument("baseline", metavar="BASELINE", help="baseline run (id, prefix, latest, path)")
    p.add_argument("current", metavar="CURRENT", nargs="?", help="current run (records mode)")
    p.add_argument(
        "--rerun", action="store_true", help="measure BASELINE's pairs now, base vs head"
    )
    p.add_argument(
        "--threshold",
        default=f"{gate.DEFAULT_THRESHOLD:.0%}",
        help="smallest slowdown that counts (default %(default)s)",
    )
    p.add_argument(
        "--alpha",
        type=float,
        default=gate.DEFAULT_ALPHA,
        help="false discovery rate (default %(default)s)",
    )
    p.add_argument(
        "--allow-env-change",
        action="store_true",
        help="compare records from different machines or package versions anyway",
    )
    p.add_argument(
        "--samples",
        type=int,
        default=gate.DEFAULT_RERUN_PAIRS,
        help="--rerun: paired samples per size (default %(default)s)",
    )
    p.add_argument(
        "--min-sample-s",
        type=float,
        default=gate.DEFAULT_RERUN_SAMPLE_S,
        help="--rerun: shortest sample in seconds (default %(default)s)",
    )
    p.add_argument("--kernels-file", metavar="FILE", help="--rerun: current KERNELS file")
    _store_option(p)
    _output_options(p, "print the report as JSON")
    p.set_defaults(func=cmd_gate)

    p = sub.add_parser(
        "recommend",
        help="which backend to serve an expression with, per batch size",
        description=(
            "For each batch size, the fastest backend whose equivalence check passed, with "
            "p50/p99 latency per call, throughput, compile cost, cold start (compile + first "
            "call) and the runner-up. Answers from stored runs of this machine with the same "
            "expression; measures only what they do not cover and stores that as a run. "
            "Exit 1 when no backend passed for some batch size."
        ),
    )
    _kernel_options(p)
    p.add_argument(
        "--batch", default="1,64,4096", metavar="N,N,...", help="batch sizes (default 1,64,4096)"
    )
    p.add_argument("--device", default="cpu", help="cpu, gpu:0, tpu:0 (default cpu)")
    p.add_argument("--dtype", default="float64", choices=("float64", "float32"))
    p.add_argument(
        "--max-compile-s", type=float, metavar="S", help="leave out backends compiling longer"
    )
    p.add_argument(
        "--by", choices=("p50", "p99"), default="p50", help="rank by median or tail latency"
    )
    p.add_argument("--from-run", metavar="RUN", help="answer from this run only")
    p.add_argument("--no-measure", action="store_true", help="never measure; report gaps")
    _store_option(p)
    _output_options(p, "print JSON")
    p.set_defaults(func=cmd_recommend)

    p = sub.add_parser(
        "report",
        help="static HTML (or Markdown) report of stored runs, with plots",
        description=(
            "One self-contained HTML page from one or more run records (default: the latest): "
            "time per element against size per backend (log-log, a panel per kernel, device "
            "and dtype), speedup over numpy, max ULP error, compile cost, and the crossover "
            "table (which backend wins at which size). --format md gives tables for a pull "
            "request. Reads records only; never measures."
        ),
    )
    p.add_argument("runs", nargs="*", metavar="RUN", help="run ids, prefixes, latest or paths")
    p.add_argument("--out", "-o", default="report.html", help="output file (default report.html)")
    p.add_argument(
        "--format", choices=("html", "md"), help="html or md (default: from --out's suffix)"
    )
    _store_option(p)
    p.add_argument("--json", action="store_true", help="print the path as JSON")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser(
        "export",
        help="a self-contained deployment artifact of one compiled kernel",
        description=(
            "Write a directory with the generated source, the build recipe, the compiled "
            "module where the backend makes one (cython, ufuncify), a manifest with sha256 "
            "hashes and a standalone loader.py that checks the hashes and the target "
            "environment before loading. RUN exports the fastest passing pair of a stored "
            "run (narrow it with --kernel/--backend/--dtype); without RUN give --kernel and "
            "--backend. The pair is checked against the reference again before export."
        ),
        epilog="Exit codes: 0 exported, 1 the pair fails its equivalence check, 2 bad input.",
    )
    p.add_argument("run", nargs="?", metavar="RUN", help="a stored run (id, prefix, latest, path)")
    p.add_argument("--kernel", "-k", metavar="NAME", help="kernel name (catalog or yours)")
    p.add_argument("--backend", "-b", metavar="ID", help="backend id")
    p.add_argument("--dtype", choices=("float64", "float32"), help="default float64")
    p.add_argument("--device", default="cpu", help="default cpu")
    p.add_argument("--expr", metavar="EXPR", help="your own expression instead of --kernel")
    p.add_argument("--domain", action="append", metavar="NAME=LO:HI", help="domain of --expr")
    p.add_argument("--kernels-file", metavar="FILE", help="a Python file defining KERNELS")
    p.add_argument("--out", "-o", required=True, metavar="DIR", help="new or empty directory")
    _store_option(p)
    p.add_argument("--json", action="store_true", help="print the manifest as JSON")
    p.set_defaults(func=cmd_export)
    return parser


def _families() -> list[str]:
    from .accuracy import FAMILIES

    return list(FAMILIES)


def _store_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--store", metavar="DIR", help="run store (default $SYMBENCH_STORE or ./.symbench/runs)"
    )


def _kernel_options(p: argparse.ArgumentParser) -> None:
    """Which kernels and backends: catalog names, your own --expr, or a KERNELS file."""
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
    p.add_argument("--expr", metavar="EXPR", help='your own expression, e.g. "sin(x)/x"')
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


def _selection_options(p: argparse.ArgumentParser) -> None:
    _kernel_options(p)
    p.add_argument(
        "--dtype", action="append", metavar="DTYPE", help="float64 and/or float32 (default: both)"
    )
    p.add_argument("--device", metavar="DEV", help="only this device (cpu, gpu:0, tpu:0)")
    p.add_argument("--seed", type=int, default=None, help="input seed (default: fixed)")


def _output_options(p: argparse.ArgumentParser, json_help: str, progress: bool = True) -> None:
    p.add_argument("--json", action="store_true", help=json_help)
    if progress:
        p.add_argument("--no-progress", action="store_true", help="no progress bar")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    args.argv = argv
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    if getattr(args, "seed", 0) is None:
        from .inputs import DEFAULT_SEED

        args.seed = DEFAULT_SEED
    if getattr(args, "repeats", 1) < 1:
        _error(f"--repeats must be at least 1, got {args.repeats}")
        return 2
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
