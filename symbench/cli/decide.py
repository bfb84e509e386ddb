"""`symbench gate`, `recommend`, `report` and `export`: what the records are used for."""

from __future__ import annotations

import argparse
import json
import sys

from .. import gate, monitor
from ..errors import BadInput
from ..export import export, export_from_record
from ..fmt import fmt_number, fmt_seconds
from ..gate import rerun
from ..gate.envs import DEFAULT_PROCESS_PAIRS, DEFAULT_TIMEOUT_S, rerun_envs
from ..kernels import catalog, load_kernels_file
from ..recommend import DEFAULT_BATCHES, RANK_BY, recommend
from ..records.summary import names_not_stored
from ..report import build_report
from ..selection import select, split_names
from .options import (
    DTYPE_CHOICES,
    decision_options,
    device,
    kernel_options,
    output_options,
    percentage,
    seconds,
    store_from,
    store_option,
    whole,
)
from .output import (
    RichReporter,
    check_writable,
    escape,
    get_console,
    print_json,
    select_from,
    warn_line,
    write_text,
)
from .run import parse_sizes


def cmd_gate(args: argparse.Namespace) -> int:
    if args.junit:
        check_writable(args.junit)  # before the measuring, not after
    store = store_from(args)
    if (args.base_env or args.base_dir) and not args.rerun:
        raise BadInput("--base-env and --base-dir go with --rerun BASELINE")
    if args.base_dir and not args.base_env:
        raise BadInput("--base-dir is the baseline worker's directory: it goes with --base-env")
    if args.rerun:
        if args.current:
            raise BadInput("--rerun measures the current code now: give only BASELINE")

        if args.samples < 2 or args.min_sample_s <= 0:
            raise BadInput("--samples must be at least 2 and --min-sample-s positive")
        heads = None
        if args.kernels_file:
            heads = catalog() | {k.name: k for k in load_kernels_file(args.kernels_file)}
        if args.base_env:
            if args.kernels_file:
                raise BadInput("--base-env: each environment uses its own kernel catalog")
            with RichReporter(enabled=not args.no_progress) as reporter:
                report = rerun_envs(
                    store.load(args.baseline),
                    args.base_env,
                    base_dir=args.base_dir,
                    pairs=args.samples,
                    min_sample_s=args.min_sample_s,
                    threshold=args.threshold,
                    alpha=args.alpha,
                    timeout_s=args.worker_timeout,
                    process_pairs=args.process_pairs,
                    reporter=reporter,
                )
            return _print_gate(args, report)
        with RichReporter(enabled=not args.no_progress) as reporter:
            report = rerun(
                store.load(args.baseline),
                current_kernels=heads,
                pairs=args.samples,
                min_sample_s=args.min_sample_s,
                threshold=args.threshold,
                alpha=args.alpha,
                reporter=reporter,
            )
    else:
        if not args.current:
            raise BadInput("give BASELINE and CURRENT runs, or --rerun BASELINE")
        baseline, current = store.load(args.baseline), store.load(args.current)
        if baseline.get("run_id") == current.get("run_id"):
            raise BadInput(
                f"{args.baseline!r} and {args.current!r} are the same run "
                f"({baseline.get('run_id')}): a run compared with itself cannot move"
            )
        report = gate.compare_records(
            baseline,
            current,
            threshold=args.threshold,
            alpha=args.alpha,
            allow_env_change=args.allow_env_change,
        )
    return _print_gate(args, report)


def _print_gate(args: argparse.Namespace, report: gate.GateReport) -> int:
    if args.junit:
        write_text(args.junit, gate.to_junit(report))
    if args.json or args.format == "json":
        print_json(report.to_dict())
        return report.exit_code
    if args.format == "md":
        sys.stdout.write(gate.to_markdown(report))
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


def cmd_monitor(args: argparse.Namespace) -> int:
    records, problems = store_from(args).load_all()
    for problem in problems:
        warn_line(problem)
    kernels, backends = split_names(args.kernel), split_names(args.backend)
    if problem := names_not_stored(records, kernels, backends):
        raise BadInput(problem)
    report = monitor.monitor(
        records,
        threshold=args.threshold,
        alpha=args.alpha,
        min_change=args.min_change,
        min_runs=args.min_runs,
        kernels=kernels or None,
        backends=backends or None,
    )
    if args.json:
        print_json(report.to_dict())
    else:
        print_monitor(report)
    return report.exit_code


def print_monitor(report: monitor.Report) -> None:
    from rich.table import Table

    console = get_console()
    table = Table(title=f"change points over {report.runs} runs (FDR {report.alpha:g})")
    for col in ("machine", "pair", "run", "#", "before", "after", "change", "confidence"):
        table.add_column(col, justify="right" if col in ("#", "change", "confidence") else "left")
    shown = report.stepped
    for s in shown:
        level = fmt_seconds if s.kernel != monitor.DRIFT else "{:.3f}".format  # a factor
        for st in s.steps:
            style = "bold" if monitor.beyond(st, report) else None
            table.add_row(
                s.machine, escape(s.key), st.run_id, f"{st.number}/{s.length}",
                level(st.before_s), level(st.after_s),
                f"{st.change:+.1%}", f"{st.confidence:.4f}", style=style,
            )  # fmt: skip
    if shown:
        console.print(table)
    for key, what in report.machines.items():
        console.print(f"[dim]machine {key}: {escape(what)}[/]")
    for where, runs in report.disturbed.items():
        console.print(
            f"[dim]left out as disturbed (the whole suite over {monitor.DISTURBED:.0%} slower) "
            f"on {escape(where)}: {len(runs)} run(s), {', '.join(runs)}[/]"
        )
    drifted = len(shown) - len(report.change_points)
    console.print(
        f"{len(report.series)} series, {len(report.long_enough)} with at least "
        f"{report.min_runs} runs; {len(report.stepped)} with a change point"
        f"{f' ({drifted} of them the whole suite)' if drifted else ''}, "
        f"{len(report.flagged)} flagged (a step beyond {report.threshold:.0%}, in bold)"
    )
    if report.exit_code == monitor.EXIT_TOO_SHORT:
        console.print(f"too short to say: no series has {report.min_runs} runs yet (exit 3)")
    for s in report.newest_slowdowns:
        st = s.steps[-1]
        what = (
            f"every pair ({s.device}, n={s.size})" if s.kernel == monitor.DRIFT else escape(s.key)
        )
        console.print(
            f"[red]SLOWER[/] {what} on {s.machine}: {st.change:+.1%} from run "
            f"{st.run_id} (threshold {report.threshold:.0%})"
        )


def cmd_recommend(args: argparse.Namespace) -> int:
    if not args.kernel and not args.expr:
        raise BadInput("give --kernel NAME or --expr EXPR with --domain")
    sel = select_from(args, dtypes=[args.dtype])
    if sel.errors:
        raise BadInput(sel.errors[0])
    if len(sel.kernels) != 1:
        raise BadInput(f"recommend answers for one kernel at a time, got {len(sel.kernels)}")
    batches = list(parse_sizes(args.batch, "--batch"))  # before any progress is drawn
    store = store_from(args)
    with RichReporter(enabled=not args.no_progress) as reporter:
        rec = recommend(
            sel.kernels[0],
            batches,
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
        return rec.exit_code
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
            verdict = "[yellow]not measured[/]" if p.unmeasured else "[red]none passed[/]"
            table.add_row(str(p.batch), verdict, *["-"] * 7)
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
    return rec.exit_code


def cmd_report(args: argparse.Namespace) -> int:
    store = store_from(args)
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
        record = store_from(args).load(args.run)
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


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``gate``, ``recommend``, ``report``, ``export`` to the ``symbench`` parser."""
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
    decision_options(
        p,
        threshold=gate.DEFAULT_THRESHOLD,
        alpha=gate.DEFAULT_ALPHA,
        threshold_help="smallest slowdown that counts",
        alpha_help="false discovery rate",
    )
    p.add_argument(
        "--allow-env-change",
        action="store_true",
        help="compare records from different machines or package versions anyway",
    )
    p.add_argument(
        "--samples",
        type=whole(1),
        default=gate.DEFAULT_RERUN_PAIRS,
        help="--rerun: paired samples per size (default %(default)s)",
    )
    p.add_argument(
        "--min-sample-s",
        type=seconds,
        default=gate.DEFAULT_RERUN_SAMPLE_S,
        help="--rerun: shortest sample in seconds (default %(default)s)",
    )
    p.add_argument("--kernels-file", metavar="FILE", help="--rerun: current KERNELS file")
    p.add_argument(
        "--base-env",
        metavar="PYTHON",
        help="--rerun: the baseline's environment, as its Python interpreter (another "
        "virtualenv with the baseline's symbench and packages, e.g. from `symbench env "
        "create`); base and current are then measured by two worker processes, "
        "alternately (ABBA), so a slower environment shows",
    )
    p.add_argument(
        "--base-dir",
        metavar="DIR",
        help="--base-env: the baseline's checkout, the base worker's working directory",
    )
    p.add_argument(
        "--worker-timeout",
        type=seconds,
        default=DEFAULT_TIMEOUT_S,
        metavar="S",
        help="--base-env: longest wait for one answer of a worker (default %(default)s s); a "
        "worker that crashes or hangs ends the gate with exit 2 and its last error",
    )
    p.add_argument(
        "--process-pairs",
        type=whole(1),
        default=DEFAULT_PROCESS_PAIRS,
        metavar="N",
        help="--base-env: pairs of workers started one after the other, each taking "
        "--samples of every pair; a change counts only where every pair of workers shows it "
        "(two processes of one environment can differ steadily on a short call) "
        "(default %(default)s)",
    )
    p.add_argument(
        "--format",
        choices=("text", "md", "json"),
        default="text",
        help="text (a table), md (Markdown: regressions, improvements and undecided pairs, "
        "for a CI job summary or pull-request comment) or json (default %(default)s)",
    )
    p.add_argument(
        "--junit",
        metavar="FILE",
        help="also write JUnit XML, one test case per pair (regression: failure, "
        "undecided: skipped)",
    )
    store_option(p)
    output_options(p, "print the report as JSON (same as --format json)")
    p.set_defaults(func=cmd_gate)

    p = sub.add_parser(
        "monitor",
        help="find the runs where each pair's timing really changed (change points)",
        description=(
            "For each pair and size on each machine, the history of stored median times "
            "is searched for steps (ruptures' PELT on log times, a noise-scaled penalty), "
            "each step tested with Mann-Whitney U and the p-values of all series corrected "
            "together (Benjamini-Hochberg). Reports the run where each step happened, its "
            "size and confidence. Exit 0 no newest step is a slowdown beyond --threshold, "
            "1 one is, 3 no series has --min-runs runs yet, 2 bad input."
        ),
    )
    p.add_argument("--kernel", "-k", action="append", metavar="NAME", help="only these kernels")
    p.add_argument("--backend", "-b", action="append", metavar="ID", help="only these backends")
    decision_options(
        p,
        threshold=monitor.DEFAULT_THRESHOLD,
        alpha=monitor.DEFAULT_ALPHA,
        threshold_help="a newest step slower than this fails (exit 1)",
        alpha_help="false-discovery rate over all steps found",
    )
    p.add_argument(
        "--min-change",
        type=percentage,
        default=monitor.DEFAULT_MIN_CHANGE,
        metavar="PCT",
        help=f"smallest step reported (default {monitor.DEFAULT_MIN_CHANGE * 100:g}%%)",
    )
    p.add_argument(
        "--min-runs",
        type=whole(3),
        default=monitor.DEFAULT_MIN_RUNS,
        help="shortest history searched (default %(default)s)",
    )
    store_option(p)
    output_options(p, "print the change points as JSON", progress=False)
    p.set_defaults(func=cmd_monitor)

    p = sub.add_parser(
        "recommend",
        help="which backend to serve an expression with, per batch size",
        description=(
            "For each batch size, the fastest backend whose equivalence check passed, with "
            "p50/p99 latency per call, throughput, compile cost, cold start (compile + first "
            "call) and the runner-up. Answers from stored runs of this machine with the same "
            "expression; measures only what they do not cover and stores that as a run. "
            "Exit 1 when no backend passed for some batch size, 3 when --no-measure left one "
            "unmeasured."
        ),
    )
    kernel_options(p)
    p.add_argument(
        "--batch",
        default=",".join(map(str, DEFAULT_BATCHES)),
        metavar="N,N,...",
        help="batch sizes (default %(default)s)",
    )
    p.add_argument("--device", type=device, default="cpu", help="cpu, gpu:0, tpu:0 (default cpu)")
    p.add_argument("--dtype", default=DTYPE_CHOICES[0], choices=DTYPE_CHOICES)
    p.add_argument(
        "--max-compile-s", type=seconds, metavar="S", help="leave out backends compiling longer"
    )
    p.add_argument(
        "--by", choices=RANK_BY, default=RANK_BY[0], help="rank by median or tail latency"
    )
    p.add_argument("--from-run", metavar="RUN", help="answer from this run only")
    p.add_argument("--no-measure", action="store_true", help="never measure; report gaps")
    store_option(p)
    output_options(p, "print JSON")
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
    store_option(p)
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
    p.add_argument("--dtype", choices=DTYPE_CHOICES, help=f"default {DTYPE_CHOICES[0]}")
    p.add_argument("--device", type=device, default="cpu", help="default cpu")
    p.add_argument("--expr", metavar="EXPR", help="your own expression instead of --kernel")
    p.add_argument("--domain", action="append", metavar="NAME=LO:HI", help="domain of --expr")
    p.add_argument("--kernels-file", metavar="FILE", help="a Python file defining KERNELS")
    p.add_argument("--out", "-o", required=True, metavar="DIR", help="new or empty directory")
    store_option(p)
    p.add_argument("--json", action="store_true", help="print the manifest as JSON")
    p.set_defaults(func=cmd_export)
