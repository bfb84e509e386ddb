"""Exceptions users and backends raise. Each maps to one line and an exit code in the CLI."""

from __future__ import annotations


class SymbenchError(Exception):
    """Base class: a problem symbench can explain in one line."""

    exit_code = 2


class BadInput(SymbenchError):
    """The user's input (expression, domain, name, file, store) cannot be used. Exit code 2."""

    exit_code = 2


def unknown_name(kind: str, name: str, known) -> BadInput:
    """``unknown kernel 'sinx' (did you mean sinc?); known: ...`` as a BadInput."""
    import difflib

    known = list(known)
    close = difflib.get_close_matches(name, known, n=3)
    hint = f" (did you mean {', '.join(close)}?)" if close else ""
    return BadInput(f"unknown {kind} {name!r}{hint}; known: {', '.join(known)}")


def first_line(exc: BaseException) -> str:
    """``TypeName: first line of the message``, for one-line reasons."""
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


class Unavailable(SymbenchError):
    """A backend's library, compiler or device is missing on this machine.

    A result, not a crash: the harness reports the pair as ``unavailable`` with this reason.
    """


class Unsupported(SymbenchError):
    """A backend cannot compile this kernel (or dtype, or device), with the reason why.

    A result, not a crash: the harness reports the pair as ``unsupported`` with this reason.
    """
