"""`symbench gate`, `recommend`, `report` and `export`: what the records are used for."""

from __future__ import annotations

import argparse
import json

from .. import gate
from ..errors import BadInput
from ..export import export, export_from_record
from ..fmt import fmt_number, fmt_seconds
from ..gate import rerun
from ..kernels import catalog, load_kernels_file
from ..recommend import recommend
from ..records import Store
from ..report import build_report
from ..selection import select
from .output import (
    RichReporter,
    escape,
    get_console,
    print_json,
    select_from,
)
from .run import parse_sizes


def cmd_gate(args: argparse.Namespace) -> int:
    store = Store.open(args.store)
    threshold = gate.parse_threshold(args.threshold)
    if not 0 < args.alpha < 1:
        raise BadInput(f"--alpha must be between 0 and 1, got {args.alpha}")
    if args.rerun:
        if args.current:
            raise BadInput("--rerun measures the current code now: give only BASELINE")

        if args.samples < 2 or args.min_sample_s <= 0:
            raise BadInput("--samples must be at least 2 and --min-sample-s positive")
        heads = None
        if args.kernels_file:
            heads = catalog() | {k.name: k for k in load_kernels_file(args.kernels_file)}
        with RichReporter(enabled=not args.no_progress) as reporter:
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
        print_json(report.to_dict())
        return report.exit_code
    console = get_console()
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
                fmt_number(c.ratio, ".3f"),
                interval,
                fmt_number(c.q, ".2g"),
                escape(c.note),
            )
        console.print(table)
    for line in gate.summary_lines(report):
        console.print(escape(line))
    colour = {"pass": "green", "regression": "bold red", "undecided": "yellow"}[report.verdict]
    console.print(f"gate: [{colour}]{report.verdict}[/] (exit {report.exit_code})")
    return report.exit_code


def cmd_recommend(args: argparse.Namespace) -> int:
    if not args.kernel and not args.expr:
        raise BadInput("give --kernel NAME or --expr EXPR with --domain")
    sel = select_from(args, dtypes=[args.dtype])
    if sel.errors:
        raise BadInput(sel.errors[0])
    if len(sel.kernels) != 1:
        raise BadInput(f"recommend answers for one kernel at a time, got {len(sel.kernels)}")
    if args.max_compile_s is not None and args.max_compile_s < 0:
        raise BadInput("--max-compile-s must not be negative")
    store = Store.open(args.store)
    with RichReporter(enabled=not args.no_progress) as reporter:
        rec = recommend(
            sel.kernels[0],
            list(parse_sizes(args.batch, "--batch")),
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
        print_json(rec.to_dict())
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
            str(p.batch), f"[bold]{b.backend}[/]", fmt_seconds(b.p50_s), fmt_seconds(b.p99_s),
            f"{b.throughput:.3g}/s", fmt_seconds(b.compile_s), fmt_seconds(b.cold_start_s),
            runner, b.run_id,
        )  # fmt: skip
    console = get_console()
    console.print(table)
    out = {b: why for p in rec.picks for b, why in p.excluded.items()}
    for backend, why in sorted(out.items()):
        console.print(f"[dim]{backend}: {escape(why)}[/]")
    source = f"measured now as run {rec.measured_run}" if rec.measured_run else "from the store"
    console.print(f"answered {source}; runs used: {', '.join(rec.runs_used) or 'none'}")
    return 0 if all(p.best for p in rec.picks) else 1


def cmd_report(args: argparse.Namespace) -> int:
    store = Store.open(args.store)
    records = [store.load(ref) for ref in (args.runs or ["latest"])]
    fmt = args.format or ("md" if str(args.out).endswith(".md") else "html")
    path = build_report(records, args.out, fmt)
    if args.json:
        print_json({"path": str(path), "format": fmt, "runs": [r["run_id"] for r in records]})
    else:
        get_console().print(f"report: {path} ({fmt}, {len(records)} run(s))")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    if args.run:
        record = Store.open(args.store).load(args.run)
        path = export_from_record(
            record, args.out, kernel=args.kernel, backend=args.backend, dtype=args.dtype
        )
    else:
        if not ((args.kernel or args.expr) and args.backend):
            raise BadInput("give RUN, or --kernel K (or --expr E --domain ...) and --backend B")

        sel = select([args.kernel] if args.kernel else None, [args.backend], [args.dtype or "float64"], args.expr,
                     args.domain, args.kernels_file)  # fmt: skip
        if sel.errors:
            raise BadInput(sel.errors[0])
        path = export(sel.kernels[0], args.backend, sel.dtypes[0], args.out, args.device)
    manifest = json.loads((path / "manifest.json").read_text())
    if args.json:
        print_json({"path": str(path), "manifest": manifest})
    else:
        get_console().print(
            f"exported {manifest['kernel']['name']} / {manifest['backend']['id']} / "
            f"{manifest['dtype']} to {path} (load: python {path / 'loader.py'} --check)"
        )
    return 0
