"""Turn user text into a SymPy expression without ever evaluating Python.

SymPy's ``parse_expr`` runs the text as Python (``__import__('os').system(...)`` executes),
so text from a command line, a configuration file or a request goes through this parser
instead: a tokenizer and an operator-precedence (shunting-yard) parser with explicit
stacks, which builds the expression from an allow-list:

* numbers (``2``, ``2.5``, ``1e-3``; ``1/3`` stays the exact rational), symbols (any Unicode
  identifier: ``x``, ``lambda``, ``int``, ``α``; a function's name without a call is a
  symbol too), and the constants ``pi``, ``E``, ``I``, ``oo``, ``zoo``, ``nan``, ``True``,
  ``False``, ``EulerGamma``;
* ``+ - * / ** ^`` (``^`` is a power, as in SymPy's ``convert_xor``), unary ``-``/``+``, and
  for conditions ``< <= > >= == !=``, ``&``, ``|``, ``~``;
* calls of the functions in ``FUNCTIONS`` (those the backends know), with tuples only as
  ``Piecewise`` arguments: ``Piecewise((x**2/2, Abs(x) <= 1), (Abs(x) - 1/2, True))``.

Nothing else is accepted, and no implicit multiplication (``sinx`` must not mean
``sin(x)``). Sums and products are collected before SymPy sees them, so a 10 000-term sum
is built once, not term by term; the stacks are explicit, so nesting is limited only by
``MAX_DEPTH``. ``--kernels-file`` is different: it is Python that the user writes and runs.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

import sympy as sp

from ..errors import BadInput, first_line

MAX_DEPTH = 1000  # nested parentheses and calls
MAX_TOKENS = 1_000_000
MAX_LENGTH = 10_000_000  # characters

# SymPy builds, prints and queries expressions recursively, several Python frames per level
# of nesting; a MAX_DEPTH-deep expression needs far more than Python's default 1000.
RECURSION_LIMIT = 40 * MAX_DEPTH
if sys.getrecursionlimit() < RECURSION_LIMIT:
    sys.setrecursionlimit(RECURSION_LIMIT)

FUNCTIONS: dict[str, Callable] = {
    "exp": sp.exp,
    "log": sp.log,
    "ln": sp.log,
    "sqrt": sp.sqrt,
    "cbrt": sp.cbrt,
    "sin": sp.sin,
    "cos": sp.cos,
    "tan": sp.tan,
    "asin": sp.asin,
    "acos": sp.acos,
    "atan": sp.atan,
    "atan2": sp.atan2,
    "sinh": sp.sinh,
    "cosh": sp.cosh,
    "tanh": sp.tanh,
    "asinh": sp.asinh,
    "acosh": sp.acosh,
    "atanh": sp.atanh,
    "erf": sp.erf,
    "erfc": sp.erfc,
    "gamma": sp.gamma,
    "loggamma": sp.loggamma,
    "besselj": sp.besselj,
    "bessely": sp.bessely,
    "Abs": sp.Abs,
    "abs": sp.Abs,
    "Max": sp.Max,
    "Min": sp.Min,
    "sign": sp.sign,
    "floor": sp.floor,
    "ceiling": sp.ceiling,
    "Heaviside": sp.Heaviside,
    "Piecewise": sp.Piecewise,
}
CONSTANTS: dict[str, sp.Basic] = {
    "pi": sp.pi,
    "E": sp.E,
    "I": sp.I,
    "oo": sp.oo,
    "zoo": sp.zoo,
    "nan": sp.nan,
    "True": sp.true,
    "False": sp.false,
    "EulerGamma": sp.EulerGamma,
}

_TOKEN = re.compile(
    r"\s*(?:(?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)"
    r"|(?P<name>[^\W\d]\w*)"
    r"|(?P<op>\*\*|<=|>=|==|!=|[-+*/^()<>,&|~]))"
)

# binary operators: precedence, right-associative
_BINARY = {
    "|": (1, False),
    "&": (2, False),
    "<": (3, False),
    "<=": (3, False),
    ">": (3, False),
    ">=": (3, False),
    "==": (3, False),
    "!=": (3, False),
    "+": (4, False),
    "-": (4, False),
    "*": (5, False),
    "/": (5, False),
    "**": (7, True),
    "^": (7, True),
}
_PREFIX = {"-": 6, "+": 6, "~": 2}  # as in Python: -x**2 is -(x**2)
_RELATIONS = {
    "<": sp.StrictLessThan,
    "<=": sp.LessThan,
    ">": sp.StrictGreaterThan,
    ">=": sp.GreaterThan,
    "==": sp.Eq,
    "!=": sp.Ne,
}


class _Terms:
    """A sum or product still being collected: built into SymPy once, when it is used."""

    __slots__ = ("kind", "items")

    def __init__(self, kind: str, items: list) -> None:
        self.kind, self.items = kind, items

    def build(self) -> sp.Basic:
        return sp.Add(*self.items) if self.kind == "+" else sp.Mul(*self.items)


def _value(v):
    return v.build() if isinstance(v, _Terms) else v


def _expr(v, what: str) -> sp.Expr:
    v = _value(v)
    if isinstance(v, tuple):
        raise BadInput(f"a tuple cannot be {what} (tuples are Piecewise arguments only)")
    if not isinstance(v, sp.Expr):
        raise BadInput(f"a condition cannot be {what}")
    return v


def _binary(op: str, a, b):
    if op in ("+", "-"):
        right = _expr(b, "added")
        right = -right if op == "-" else right
        if isinstance(a, _Terms) and a.kind == "+":
            a.items.append(right)
            return a
        return _Terms("+", [_expr(a, "added"), right])
    if op in ("*", "/"):
        right = _expr(b, "multiplied")
        right = sp.Pow(right, -1) if op == "/" else right
        if isinstance(a, _Terms) and a.kind == "*":
            a.items.append(right)
            return a
        return _Terms("*", [_expr(a, "multiplied"), right])
    if op in ("**", "^"):
        return sp.Pow(_expr(a, "a base"), _expr(b, "an exponent"))
    if op in _RELATIONS:
        return _RELATIONS[op](_expr(a, "compared"), _expr(b, "compared"))
    left, right = _value(a), _value(b)
    if not all(isinstance(v, (sp.Expr, sp.logic.boolalg.Boolean)) for v in (left, right)):
        raise BadInput(f"'{op}' joins conditions, not tuples")
    return sp.And(left, right) if op == "&" else sp.Or(left, right)


def _prefix(op: str, a):
    if op == "~":
        return sp.Not(_value(a))
    value = _expr(a, "negated")
    return -value if op == "-" else value


@dataclass
class _Paren:
    function: str | None
    position: int
    args: int = 0
    operands_before: int = 0
    ops: list = field(default_factory=list)


def _call(name: str, args: list, position: int):
    fn = FUNCTIONS[name]
    values = [_value(a) for a in args]
    if name != "Piecewise" and any(not isinstance(v, sp.Expr) for v in values):
        raise BadInput(f"{name}() takes expressions, at position {position}")
    if name == "Piecewise" and not all(isinstance(v, tuple) and len(v) == 2 for v in values):
        raise BadInput("Piecewise takes (expression, condition) pairs")
    try:
        return fn(*values)
    except BadInput:
        raise
    except Exception as exc:  # wrong arity, a condition SymPy cannot use, ...
        raise BadInput(f"{name}(...) at position {position}: {first_line(exc)}") from None


def _tokens(text: str):
    pos = 0
    n = len(text)
    count = 0
    while pos < n:
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            rest = text[pos:].lstrip()
            if not rest:
                return
            at = n - len(rest)
            raise BadInput(f"unexpected character {rest[0]!r} at position {at}")
        pos = m.end()
        kind = m.lastgroup
        if kind is None:
            continue
        count += 1
        if count > MAX_TOKENS:
            raise BadInput(f"expression longer than {MAX_TOKENS} tokens")
        yield kind, m.group(kind), m.start(kind)


def _parse(text: str):
    operands: list = []
    stack: list = []  # pending operators: ("bin"|"pre", op, position) and _Paren marks
    expect_operand = True
    depth = 0
    tokens = list(_tokens(text))

    def reduce_top():
        kind, op, pos = stack.pop()
        if kind == "pre":
            if not operands:
                raise BadInput(f"'{op}' at position {pos} has no operand")
            operands.append(_prefix(op, operands.pop()))
            return
        if len(operands) < 2:
            raise BadInput(f"'{op}' at position {pos} is missing an operand")
        b, a = operands.pop(), operands.pop()
        if op in _RELATIONS and isinstance(_value(a), sp.core.relational.Relational):
            raise BadInput(f"chained comparison at position {pos}: use & between comparisons")
        operands.append(_binary(op, a, b))

    def reduce_to_paren():
        while stack and not isinstance(stack[-1], _Paren):
            reduce_top()

    for i, (kind, tok, pos) in enumerate(tokens):
        nxt = tokens[i + 1][1] if i + 1 < len(tokens) else None
        if kind in ("num", "name"):
            if not expect_operand:
                raise BadInput(
                    f"missing operator before {tok!r} at position {pos} "
                    "(write 2*x, not 2x; no implicit multiplication)"
                )
            if kind == "num":
                operands.append(sp.Integer(tok) if tok.isdigit() else sp.Float(tok))
            elif nxt == "(":
                if tok not in FUNCTIONS:
                    raise BadInput(
                        f"unknown function {tok!r} at position {pos}; known: "
                        + ", ".join(sorted(set(FUNCTIONS)))
                    )
                stack.append(("fn", tok, pos))
                continue  # the '(' comes next, still expecting an operand
            else:
                operands.append(CONSTANTS[tok] if tok in CONSTANTS else sp.Symbol(tok))
            expect_operand = False
        elif tok == "(":
            depth += 1
            if depth > MAX_DEPTH:
                raise BadInput(f"nested deeper than {MAX_DEPTH} levels at position {pos}")
            function = None
            if stack and isinstance(stack[-1], tuple) and stack[-1][0] == "fn":
                function = stack.pop()[1]
            stack.append(_Paren(function, pos, operands_before=len(operands)))
            expect_operand = True
        elif tok in (",", ")"):
            if expect_operand and not (tok == ")" and _empty_call(stack, operands)):
                raise BadInput(f"missing operand before {tok!r} at position {pos}")
            reduce_to_paren()
            if not stack:
                raise BadInput(f"unbalanced {tok!r} at position {pos}")
            paren = stack[-1]
            if tok == ",":
                expect_operand = True
                continue
            stack.pop()
            depth -= 1
            args = operands[paren.operands_before :]
            del operands[paren.operands_before :]
            if paren.function is not None:
                operands.append(_call(paren.function, args, paren.position))
            elif len(args) == 1:
                operands.append(args[0])
            elif not args:
                raise BadInput(f"empty parentheses at position {paren.position}")
            else:
                operands.append(tuple(_value(a) for a in args))
            expect_operand = False
        elif expect_operand:
            if tok not in _PREFIX:
                raise BadInput(f"missing operand before {tok!r} at position {pos}")
            stack.append(("pre", tok, pos))
        else:
            if tok not in _BINARY:
                raise BadInput(f"{tok!r} at position {pos} is not a binary operator")
            prec, right = _BINARY[tok]
            while stack and isinstance(stack[-1], tuple) and stack[-1][0] in ("bin", "pre"):
                top_kind, top_op = stack[-1][0], stack[-1][1]
                top_prec = _PREFIX[top_op] if top_kind == "pre" else _BINARY[top_op][0]
                if top_prec > prec or (top_prec == prec and not right):
                    reduce_top()
                else:
                    break
            stack.append(("bin", tok, pos))
            expect_operand = True
    if expect_operand:
        raise BadInput("the expression ends where an operand is expected")
    while stack:
        if isinstance(stack[-1], _Paren):
            raise BadInput(f"unclosed '(' at position {stack[-1].position}")
        reduce_top()
    if len(operands) != 1:
        raise BadInput("cannot read the expression")
    return _value(operands[0])


def _empty_call(stack, operands) -> bool:
    """``f()``: a call with no arguments, which the function itself then refuses."""
    return (
        bool(stack)
        and isinstance(stack[-1], _Paren)
        and stack[-1].function is not None
        and (len(operands) == stack[-1].operands_before)
    )


def parse_expression(text: str) -> sp.Expr:
    """Parse ``text`` (``x**2``, ``x^2`` and ``sin(x)/x`` all work) into a SymPy Expr.

    Never evaluates Python; anything outside the allow-list is a ``BadInput`` naming what
    and where.
    """
    if not isinstance(text, str):
        raise BadInput(f"expression must be text, got {type(text).__name__}")
    if not text.strip():
        raise BadInput("empty expression")
    if len(text) > MAX_LENGTH:
        raise BadInput(f"expression longer than {MAX_LENGTH} characters")
    try:
        expr = _parse(text)
    except BadInput as exc:
        raise BadInput(f"cannot parse expression {_short(text)}: {exc}") from None
    except RecursionError:
        raise BadInput(f"cannot parse expression {_short(text)}: nested too deeply") from None
    if isinstance(expr, tuple) or not isinstance(expr, sp.Expr):
        kind = "tuple" if isinstance(expr, tuple) else type(expr).__name__
        raise BadInput(f"{_short(text)} is not an arithmetic expression (it is a {kind})")
    problem = nonfinite_constant(expr)
    if problem:
        raise BadInput(f"{_short(text)}: {problem}")
    if not expr.free_symbols:
        raise BadInput(f"expression {_short(text)} has no variables")
    return expr


_NONFINITE = {
    sp.zoo: "complex infinity, e.g. from a division by zero",
    sp.nan: "an undefined value, e.g. 0/0 or oo - oo",
    sp.oo: "infinity",
    -sp.oo: "minus infinity",
}


def nonfinite_constant(expr: sp.Basic) -> str:
    """Why ``expr`` is not a finite real expression (``zoo``, ``nan``, ``oo``), or ''."""
    for const, what in _NONFINITE.items():
        if expr == const or expr.has(const):
            return (
                f"the expression {expr} contains {const} ({what}); "
                "symbench compares finite real expressions"
            )
    return ""


def parse_number(text: str) -> float:
    """A constant expression (``-pi``, ``1e-3``, ``2*pi``) as a float, parsed the same way."""
    try:
        value = _parse(text) if text.strip() else None
    except BadInput as exc:
        raise BadInput(f"cannot read number {text!r}: {exc}") from None
    if not isinstance(value, sp.Expr) or value.free_symbols:
        raise BadInput(f"cannot read number {text!r}: expected a constant")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise BadInput(f"cannot read number {text!r}: it is not a real number") from None


def _short(text: str) -> str:
    return repr(text) if len(text) <= 80 else repr(text[:60] + "...") + f" ({len(text)} chars)"
