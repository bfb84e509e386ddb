"""`symbench run` (check, time, record) and `symbench verify` (rerun a record)."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from ..asv_machine import results_dir
from ..backends import backend_ids, get_backend
from ..envs import DEFAULT_ROOT as ENV_ROOT
from ..envs import create as create_env
from ..equivalence import FAILING
from ..errors import BadInput
from ..runner import DEFAULT_SIZES, MAX_ELEMENTS, QUICK_KERNELS, QUICK_SIZES, RunSettings, run
from ..timing import DEFAULT_MIN_SAMPLE_S, DEFAULT_REPEATS
from ..verify import DEFAULT_MAX_OUTSIDE, DEFAULT_MEAN_TOLERANCE, DEFAULT_TIMING_FLOOR, verify
from .options import (
    output_options,
    seconds,
    selection_options,
    store_from,
    store_option,
    whole,
)
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
        values = [float(t) for t in text.split(",")]
    except ValueError:
        raise BadInput(f"cannot read {option} {text!r}: expected e.g. 1,1000,1e6") from None
    if not all(math.isfinite(v) and v >= 1 and v == int(v) for v in values):
        raise BadInput(f"{option} must be positive integers, got {text!r}")
    if max(values) > MAX_ELEMENTS:
        raise BadInput(
            f"{option} {text!r} asks for {max(values):.3g} elements, more than {MAX_ELEMENTS:,} "
            "(one float64 input within the 2 GiB input budget)"
        )
    return tuple(int(v) for v in values)


def cmd_run(args: argparse.Namespace) -> int:
    kernel_names = args.kernel or (list(QUICK_KERNELS) if args.quick and not args.expr else None)
    sel = select_from(args, kernel_names=kernel_names)
    store = store_from(args)  # run() proves it writable before measuring anything
    settings = RunSettings(
        sizes=parse_sizes(args.sizes) or (QUICK_SIZES if args.quick else RunSettings.sizes),
        dtypes=tuple(sel.dtypes),
        repeats=args.repeats,
        min_sample_s=args.min_sample_s,
        seed=args.seed,
        devices=(args.device,) if args.device else None,
        quick=args.quick,
        threads=args.threads,
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
                "variants": record["variants"],
            }
        )
    else:
        summary_table(record)
        get_console().print(f"record: {path}  ({record['duration_s']:.0f} s)")
    if selection_errors(sel):
        return 2
    return 1 if any(r["status"] in FAILING for r in record["results"]) else 0


def cmd_push(args: argparse.Namespace) -> int:
    store = store_from(args)
    if not hasattr(store, "push_pending"):
        raise BadInput(
            f"push sends local records to an MLflow store; {args.store or 'the default store'!r} "
            "is a directory (give --store http://host:5000 or sqlite:///mlflow.db)"
        )
    for option, given in (("--asv", args.asv), ("--local", args.local)):
        if given and not Path(given).is_dir():  # a typo would push nothing and exit 0
            raise BadInput(f"{option} {given!r} is not a directory")
    done = store.push_pending()
    asv = store.push_asv(Path(args.asv)) if args.asv else {}
    if args.json:
        print_json({"store": store.uri, "local": str(store.local.path), "runs": done, "asv": asv})
    else:
        for what, items, where in (
            ("run(s)", done, store.local.path),
            ("asv result(s)", asv, args.asv),
        ):
            if what.startswith("asv") and not args.asv:
                continue
            pushed = sum(1 for how in items.values() if how == "pushed")
            get_console().print(
                f"{pushed} {what} pushed to {store.uri} (experiment {store.experiment!r}), "
                f"{len(items) - pushed} already there, from {where}"
            )
    return 0


def cmd_env_create(args: argparse.Namespace) -> int:
    env = create_env(
        ref=args.ref,
        requirements=args.requirements,
        root=Path(args.root),
        extras=args.extras,
        system_site_packages=args.system_site_packages,
    )
    if args.json:
        print_json({"python": env.python, "key": env.key, "source": env.source,
                    "reused": env.reused})  # fmt: skip
    else:
        how = "reused" if env.reused else "made"
        get_console().print(f"{how} {env.source}")
        print(env.python)  # the last line: `--base-env $(symbench env create ... | tail -1)`
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    record = store_from(args).load(args.run)
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


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``run``, ``verify`` to the ``symbench`` parser."""
    p = sub.add_parser(
        "run",
        help="the main job: check, time every correct pair, store a run record",
        description=(
            "Check every kernel x backend x dtype, time the pairs that pass at each size "
            "(warm-up, calibrated loops, >= "
            + str(DEFAULT_REPEATS)
            + " samples, device sync inside the timed region), "
            "measure the device's memory bandwidth, and store everything as one JSON run "
            "record. Prints per kernel and size the fastest correct backend, its speedup over "
            "numpy, its compile cost and the calls after which compiling pays off."
        ),
    )
    selection_options(p)
    p.add_argument(
        "--sizes",
        metavar="N,N,...",
        help="elements per call (default " + ",".join(map(str, DEFAULT_SIZES)) + ")",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help=f"{len(QUICK_KERNELS)} representative kernels at sizes "
        + ",".join(map(str, QUICK_SIZES))
        + " (about a minute once built)",
    )
    p.add_argument(
        "--repeats",
        type=whole(1),
        default=DEFAULT_REPEATS,
        help="timing samples per size (default %(default)s)",
    )
    p.add_argument(
        "--min-sample-s",
        type=seconds,
        default=DEFAULT_MIN_SAMPLE_S,
        help="calibrate loops so a sample lasts at least this long (default %(default)s)",
    )
    p.add_argument(
        "--threads",
        type=whole(1, 4096),
        metavar="N",
        help="threads for every threaded backend ("
        + ", ".join(i for i in backend_ids() if get_backend(i).threads_var)
        + "; default: each library's own), recorded in the run",
    )
    store_option(p)
    output_options(p, "print the summary and record path as JSON")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser(
        "push",
        help="send the records an MLflow store lacks from the local store",
        description=(
            "Push every record in the local store (--local) that the MLflow store (--store) "
            "does not hold complete yet: runs recorded while the server was away, or a push "
            "that was interrupted. Pushing twice creates no duplicate. Exit 0 when everything "
            "is there, 1 when the server cannot be reached, 2 for bad input."
        ),
    )
    store_option(p)
    p.add_argument(
        "--asv",
        nargs="?",
        const=str(results_dir()),
        metavar="DIR",
        help="also log asv's result files (default dir: asv.conf.json's results_dir) to "
        "the experiment <experiment>-asv, each with its commit, machine and the file",
    )
    output_options(p, "print what was pushed as JSON", progress=False)
    p.set_defaults(func=cmd_push)

    p = sub.add_parser(
        "env",
        help="make the baseline environment for gate --rerun --base-env",
        description=(
            "`symbench env create --ref main` makes a virtualenv holding symbench as it is "
            "at that git ref, with its dependencies; `--requirements FILE` one holding this "
            "code with those packages. Made once per ref commit (or file and commit) under "
            "--root and reused, so CI can cache the directory. Prints the interpreter to give "
            "`gate --rerun BASELINE --base-env`. Exit 2 for a ref that names no commit, 1 "
            "when git, venv or pip fails."
        ),
    )
    env_sub = p.add_subparsers(dest="env_command", metavar="create")
    c = env_sub.add_parser("create", help="make (or reuse) a baseline environment")
    c.add_argument("--ref", help="git ref of the baseline code (branch, tag, commit)")
    c.add_argument("--requirements", metavar="FILE", help="pip requirements of the baseline")
    c.add_argument(
        "--root", default=str(ENV_ROOT), help="where environments live (default %(default)s)"
    )
    c.add_argument("--extras", default="", help="setup.py extras to install (e.g. gpu)")
    c.add_argument(
        "--system-site-packages",
        action="store_true",
        help="let the environment see this interpreter's packages (faster to make; only "
        "what the ref or file pins differs)",
    )
    output_options(c, "print the environment as JSON", progress=False)
    c.set_defaults(func=cmd_env_create)
    p.set_defaults(func=lambda a, env_parser=p: (env_parser.print_help(), 2)[1])

    p = sub.add_parser(
        "verify",
        help="rerun a stored run here and say whether it reproduces",
        description=(
            "Rerun exactly what a record describes: same kernels, inputs, backends, sizes and "
            "timing settings. Reproduced = same statuses, identical generated sources and "
            "inputs, and best times that agree with the record as a whole (geometric mean "
            f"within {DEFAULT_MEAN_TOLERANCE:.0%}, at most {DEFAULT_MAX_OUTSIDE:.0%} of comparisons "
            "outside their noise band). Exit 0 "
            "reproduced, 1 not."
        ),
    )
    p.add_argument("run", metavar="RUN", help="run id, unique prefix, 'latest', or a .json path")
    store_option(p)
    p.add_argument("--no-timings", action="store_true", help="check results and sources only")
    p.add_argument(
        "--timing-floor",
        type=seconds,
        default=DEFAULT_TIMING_FLOOR,
        help="smallest noise band of one timing comparison, as a fraction (default %(default)s)",
    )
    p.add_argument(
        "--strict-timings",
        action="store_true",
        help="fail on any timing outside its band (default: judge the timings as a whole)",
    )
    output_options(p, "print the report as JSON")
    p.set_defaults(func=cmd_verify)
