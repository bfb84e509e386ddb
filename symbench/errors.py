"""Exceptions users and backends raise. Each maps to one line and an exit code in the CLI."""

from __future__ import annotations


class SymbenchError(Exception):
    """Base class: a problem symbench can explain in one line."""

    exit_code = 2


class BadInput(SymbenchError):
    """The user's input (expression, domain, name, file, store) cannot be used. Exit code 2."""

    exit_code = 2


class Unavailable(SymbenchError):
    """A backend's library, compiler or device is missing on this machine.

    A result, not a crash: the harness reports the pair as ``unavailable`` with this reason.
    """


class Unsupported(SymbenchError):
    """A backend cannot compile this kernel (or dtype, or device), with the reason why.

    A result, not a crash: the harness reports the pair as ``unsupported`` with this reason.
    """
