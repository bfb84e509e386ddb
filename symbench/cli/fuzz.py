"""``symbench fuzz``: random expressions through every backend (see ``symbench.fuzz``)."""

from __future__ import annotations

import argparse
import contextlib
from pathlib import Path

from .. import fuzz
from ..selection import select, split_names
from .options import seconds, whole
from .output import (
    RichReporter,
    check_writable,
    error_line,
    escape,
    get_console,
    print_json,
    selection_errors,
)

DEFAULT_CORPUS = ".symbench/fuzz-corpus.json"


def register(sub) -> None:
    p = sub.add_parser(
        "fuzz",
        help="judge random expressions on every backend; shrink what goes wrong",
        description=(
            "Draw random real-valued expressions in x and y on [-3, 3] (Hypothesis "
            "strategies over + - * / ** and "
            + ", ".join(f.__name__ for f in fuzz.FUNCTIONS)
            + "), judge each on every selected backend and dtype against the mpmath truth, "
            "and shrink every new way of going wrong to a minimal expression. An error is "
            "always symbench's bug; a fail is symbench's bug or a library divergence, which "
            "divergences.toml must state to count as explained. Findings are appended to the "
            "corpus file. Exit 0 with no error and no unexplained fail, 1 otherwise, 2 for "
            "bad input. Needs Hypothesis (pip install 'symbench[test]')."
        ),
    )
    p.add_argument("--count", type=whole(1), default=100, help="expressions to judge (default 100)")
    p.add_argument("--seed", type=whole(0), default=0, help="Hypothesis seed (default 0)")
    p.add_argument(
        "--backend", "-b", action="append", metavar="ID", help="backend id(s) (default: all)"
    )
    p.add_argument(
        "--dtype", action="append", metavar="DTYPE", help="float64 and/or float32 (default: both)"
    )
    p.add_argument(
        "--max-seconds", type=seconds, default=None, help="stop generating after this long"
    )
    p.add_argument(
        "--corpus",
        metavar="FILE",
        default=DEFAULT_CORPUS,
        help=f"append findings here (default {DEFAULT_CORPUS}; '' to keep none)",
    )
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_fuzz)


def cmd_fuzz(args: argparse.Namespace) -> int:
    if args.max_seconds is not None and args.max_seconds <= 0:
        error_line(f"--max-seconds must be positive, got {args.max_seconds}")
        return 2
    if args.corpus:
        # the default corpus lives in ./.symbench, which a fresh directory does not have yet
        with contextlib.suppress(OSError):
            Path(args.corpus).parent.mkdir(parents=True, exist_ok=True)
        check_writable(args.corpus)
    sel = select(None, split_names(args.backend), split_names(args.dtype))
    console = get_console(stderr=True)
    backends = []
    for b in sel.backends:
        reason = b.unavailable_reason()
        if reason is None:
            backends.append(b)
        elif args.backend:  # asked for by name: say why it is left out
            console.print(f"{b.id}: unavailable ({escape(reason)})")
    if not backends:
        error_line("no selected backend is available here")
        return 2
    with RichReporter(enabled=not args.no_progress) as reporter:
        reporter.phase("expression", args.count)
        report = fuzz.run(
            backends,
            sel.dtypes,
            count=args.count,
            seed=args.seed,
            max_seconds=args.max_seconds,
            on_expression=lambda i: reporter.advance(f"expression {i}"),
        )
    added = fuzz.save_corpus(args.corpus, report.findings) if args.corpus else 0
    if args.json:
        print_json(report.to_dict() | {"corpus": args.corpus or None, "corpus_added": added})
    else:
        _print_report(report, args.corpus, added)
    if selection_errors(sel):
        return 2
    return 1 if report.errors or report.unexplained else 0


def _print_report(report: fuzz.FuzzReport, corpus: str, added: int) -> None:
    from rich.table import Table

    console = get_console()
    if report.findings:
        table = Table(title="findings (shrunk by Hypothesis)")
        for col in ("backend", "dtype", "status", "expression", "reason"):
            table.add_column(col, overflow="fold")
        for f in report.findings:
            table.add_row(f.backend, f.dtype, f.status, escape(f.expr), escape(f.reason))
        console.print(table)
    pairs = ", ".join(f"{n} {s}" for s, n in sorted(report.pairs.items()))
    console.print(
        f"{report.expressions} expressions on {', '.join(report.backends)} "
        f"({', '.join(report.dtypes)}) in {report.seconds:.0f} s: {pairs or 'no pairs'}; "
        f"{report.discarded} discarded (overflow float32), {report.explained} failing pairs "
        f"explained by divergences.toml"
    )
    console.print(
        f"{report.errors} errors, {report.unexplained} unexplained fails"
        + (f"; {added} new findings in {corpus}" if corpus and added else "")
        + (f"; {report.stopped}" if report.stopped else "")
    )
