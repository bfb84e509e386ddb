"""Options several commands share (store, kernel and backend selection, output), so each is
spelled and explained once; defaults come from the library."""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Callable

from ..errors import BadInput
from ..gate.report import parse_threshold
from ..kernels.core import DTYPES
from ..records import open_store
from ..runner import MAX_ELEMENTS

DTYPE_CHOICES = tuple(DTYPES)


def store_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--store",
        metavar="DIR|URI",
        help="run store: a directory, or an MLflow tracking URI (http://host:5000, "
        "sqlite:///mlflow.db) (default $SYMBENCH_STORE or ./.symbench/runs)",
    )
    p.add_argument(
        "--experiment",
        metavar="NAME",
        help="MLflow experiment of an MLflow store (default $SYMBENCH_EXPERIMENT or symbench)",
    )
    p.add_argument(
        "--local",
        metavar="DIR",
        help="with an MLflow store: the directory that keeps each record before and after "
        "it is pushed (default $SYMBENCH_LOCAL_STORE or ./.symbench/runs)",
    )


def store_from(args: argparse.Namespace):
    """The store ``--store``/``--experiment``/``--local`` name (see ``open_store``)."""
    return open_store(args.store, getattr(args, "experiment", None), getattr(args, "local", None))


def kernel_options(p: argparse.ArgumentParser) -> None:
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
        help="backend id(s), repeatable or comma-separated (default: all but the "
        "code-generation variants)",
    )
    p.add_argument(
        "--variants",
        action="store_true",
        help="also the code-generation variants (cython-nocse, cython-powmul, "
        "cython-fastmath, numba-fastmath) of the chosen backends",
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


def selection_options(p: argparse.ArgumentParser) -> None:
    kernel_options(p)
    dtype_device_options(p)


def dtype_device_options(p: argparse.ArgumentParser) -> None:
    """--dtype, --device and --seed, for commands that evaluate on inputs."""
    p.add_argument(
        "--dtype",
        action="append",
        metavar="DTYPE",
        help=" and/or ".join(DTYPES) + " (default: all)",
    )
    p.add_argument(
        "--device", type=device, metavar="DEV", help="only this device (cpu, gpu:0, tpu:0)"
    )
    p.add_argument("--seed", type=whole(0), default=None, help="input seed (default: fixed)")


def output_options(p: argparse.ArgumentParser, json_help: str, progress: bool = True) -> None:
    p.add_argument("--json", action="store_true", help=json_help)
    if progress:
        p.add_argument("--no-progress", action="store_true", help="no progress bar")


def percentage(text: str) -> float:
    """An argparse type: ``10%`` or ``0.1`` -> 0.1 (see ``gate.parse_threshold``)."""
    try:
        return parse_threshold(text)
    except BadInput as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def probability(text: str) -> float:
    """An argparse type: a number strictly between 0 and 1."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


def decision_options(
    p: argparse.ArgumentParser,
    *,
    threshold: float,
    alpha: float,
    threshold_help: str,
    alpha_help: str,
) -> None:
    """``--threshold`` (a percentage) and ``--alpha`` (a false-discovery rate) of the
    commands that decide whether a timing changed (``gate``, ``monitor``), parsed and
    checked here."""
    p.add_argument(
        "--threshold",
        type=percentage,
        default=threshold,
        metavar="PCT",
        help=f"{threshold_help} (default {threshold * 100:g}%%)",
    )
    p.add_argument(
        "--alpha", type=probability, default=alpha, help=f"{alpha_help} (default {alpha:g})"
    )


def whole(minimum: int, maximum: int | None = None) -> Callable[[str], int]:
    """An argparse type: a whole number within ``[minimum, maximum]`` (a count, a size, a
    seed), so a bad one is one line and exit 2 before any work."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        if maximum is not None and value > maximum:
            raise argparse.ArgumentTypeError(f"must be at most {maximum:,}, got {value:,}")
        return value

    return parse


ELEMENTS = whole(1, MAX_ELEMENTS)  # a size, batch or point count: one array within the budget


def seconds(text: str) -> float:
    """An argparse type: a finite, non-negative number (seconds, or a fraction)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
    return value


def device(text: str) -> str:
    """An argparse type: ``cpu``, ``gpu``, ``gpu:N``, ``tpu`` or ``tpu:N`` (whether that
    device exists here is for each backend to say: unavailable, with its reason)."""
    if not re.fullmatch(r"cpu|(gpu|tpu)(:\d+)?", text):
        raise argparse.ArgumentTypeError(f"unknown device {text!r}: cpu, gpu:N or tpu:N")
    return text
