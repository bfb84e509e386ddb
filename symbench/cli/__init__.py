"""Command line: argument parsing and printing only; every subcommand calls the library.

One module per group of commands (``inspect``, ``check``, ``run``, ``decide``), the parser and
``main`` in ``parser``, shared printing in ``output``. Exit codes: 0 success, 1 checked and
found wrong, 2 bad input (one line on stderr), 3 undecided (``gate``).
"""

from .inspect import device_lines
from .parser import build_parser, main

__all__ = ["build_parser", "device_lines", "main"]
