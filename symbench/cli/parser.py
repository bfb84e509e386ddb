"""The argument parser of every command, and `main` (exit codes: 0 success, 1 checked and found
wrong, 2 bad input with one line on stderr, 3 undecided from `gate`).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys

from .. import __version__, gate
from ..accuracy import FAMILIES
from ..equivalence import DEFAULT_SIZE
from ..errors import SymbenchError
from ..inputs import DEFAULT_SEED
from . import fuzz as fuzz_cli
from .check import cmd_accuracy, cmd_check
from .decide import cmd_export, cmd_gate, cmd_recommend, cmd_report
from .inspect import cmd_backends, cmd_history, cmd_kernels, cmd_show
from .output import (
    error_line,
)
from .run import cmd_run, cmd_verify


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

    fuzz_cli.register(sub)

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
        "--rtol",
        type=float,
        help="extra relative allowance for --expr, on top of the expression's own "
        "rounding-error bound (default 0)",
    )
    p.add_argument(
        "--atol",
        type=float,
        help="extra absolute allowance for --expr, on top of the bound (default 0)",
    )
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
        args.seed = DEFAULT_SEED
    if getattr(args, "repeats", 1) < 1:
        error_line(f"--repeats must be at least 1, got {args.repeats}")
        return 2
    if getattr(args, "size", 1) < 1:
        error_line(f"--size must be at least 1, got {args.size}")
        return 2
    try:
        return args.func(args)
    except SymbenchError as exc:
        error_line(str(exc))
        return exc.exit_code
    except KeyboardInterrupt:
        error_line("interrupted")
        return 130
    except BrokenPipeError:
        # The reader went away (| head): stop quietly, as Unix tools do, and keep Python
        # from complaining again when it flushes stdout at exit.
        # (stdout without a file descriptor, embedded or captured, has nothing to flush)
        with contextlib.suppress(OSError, AttributeError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE
