"""Command line: argument parsing and printing only; every subcommand calls the library.

One module per group of commands (``inspect``, ``check``, ``run``, ``fuzz``, ``decide``), each
registering its subcommands next to their handlers (``register``); shared options in
``options``, the top-level parser and ``main`` in ``parser``, shared printing in ``output``.
Exit codes: 0 success, 1 checked and found wrong, 2 bad input (one line on stderr),
3 undecided (``gate``).
"""

from .inspect import device_lines
from .parser import build_parser, main

__all__ = ["build_parser", "device_lines", "main"]
