"""`symbench run` (check, time, record) and `symbench verify` (rerun a record)."""

from __future__ import annotations

import argparse

from ..equivalence import FAILING
from ..errors import BadInput
from ..records import Store
from ..runner import QUICK_KERNELS, QUICK_SIZES, RunSettings, run
from ..verify import verify
from .output import (
    RichReporter,
    escape,
    get_console,
    print_json,
    select_from,
    selection_errors,
    summary_table,
)


def parse_sizes(text: str | None, option: str = "--sizes") -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        sizes = tuple(int(float(t)) for t in text.split(",") if t.strip())
    except ValueError:
        raise BadInput(f"cannot read {option} {text!r}: expected e.g. 1,1000,1e6") from None
    if not sizes or min(sizes) < 1:
        raise BadInput(f"{option} must be positive integers, got {text!r}")
    return sizes


def cmd_run(args: argparse.Namespace) -> int:
    kernel_names = args.kernel or (list(QUICK_KERNELS) if args.quick and not args.expr else None)
    sel = select_from(args, kernel_names=kernel_names)
    store = Store.open(args.store)  # run() proves it writable before measuring anything
    settings = RunSettings(
        sizes=parse_sizes(args.sizes) or (QUICK_SIZES if args.quick else RunSettings.sizes),
        dtypes=tuple(sel.dtypes),
        repeats=args.repeats,
        min_sample_s=args.min_sample_s,
        seed=args.seed,
        devices=(args.device,) if args.device else None,
        quick=args.quick,
    )
    with RichReporter(enabled=not args.no_progress) as reporter:
        record, path = run(
            sel.kernels,
            sel.backends,
            settings,
            store,
            argv=["symbench", *args.argv],
            reporter=reporter,
        )
    if args.json:
        print_json(
            {
                "run_id": record["run_id"],
                "path": str(path),
                "summary": record["summary"],
                "boundness": record["boundness"],
            }
        )
    else:
        summary_table(record)
        get_console().print(f"record: {path}  ({record['duration_s']:.0f} s)")
    if selection_errors(sel):
        return 2
    return 1 if any(r["status"] in FAILING for r in record["results"]) else 0


def cmd_verify(args: argparse.Namespace) -> int:
    record = Store.open(args.store).load(args.run)
    with RichReporter(enabled=not args.no_progress) as reporter:
        report = verify(
            record,
            timings=not args.no_timings,
            timing_floor=args.timing_floor,
            strict=args.strict_timings,
            reporter=reporter,
        )
    if args.json:
        print_json(report.to_dict())
    else:
        console = get_console()
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
