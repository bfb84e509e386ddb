"""Turn user text into a SymPy expression, with one clear error for text that is not one."""

from __future__ import annotations

import sympy as sp
from sympy.parsing.sympy_parser import convert_xor, parse_expr, standard_transformations

from ..errors import BadInput, first_line

# No implicit multiplication on purpose: "sinx" must not silently mean sin(x).
_TRANSFORMS = (*standard_transformations, convert_xor)


def parse_expression(text: str) -> sp.Expr:
    """Parse ``text`` (``x**2``, ``x^2`` and ``sin(x)/x`` all work) into a SymPy Expr.

    SymPy's parser evaluates Python: use it on text you would run yourself (the CLI's
    ``--expr``), never on text read from a record.
    """
    if not text or not text.strip():
        raise BadInput("empty expression")
    try:
        expr = parse_expr(text, transformations=_TRANSFORMS, evaluate=True)
    except (
        Exception
    ) as exc:  # SyntaxError, TokenError, TypeError, NameError, ...: all "not parsable"
        raise BadInput(f"cannot parse expression {text!r}: {first_line(exc)}") from None
    if not isinstance(expr, sp.Expr):
        raise BadInput(f"{text!r} is not an arithmetic expression (it is a {type(expr).__name__})")
    if not expr.free_symbols:
        raise BadInput(f"expression {text!r} has no variables")
    return expr
