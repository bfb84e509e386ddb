"""The top-level parser, which each command group fills (``register`` in ``inspect``,
``check``, ``run``, ``fuzz``, ``decide``), and ``main`` (exit codes: 0 success, 1 checked and
found wrong, 2 bad input with one line on stderr, 3 undecided from ``gate``).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys

from .. import __version__
from ..errors import SymbenchError
from ..inputs import DEFAULT_SEED
from . import check, decide, fuzz, inspect, run
from .output import error_line


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

    # Each group of commands registers its own subcommands, next to their handlers.
    for group in (inspect, check, run, fuzz, decide):
        group.register(sub)
    return parser


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
