"""Store SymPy expressions as text and read them back without executing anything.

``dumps`` writes ``sympy.srepr``. ``loads`` reads it with ``ast.parse`` (which only parses)
and builds the expression from an allow-list: SymPy classes that are ``Basic`` subclasses or
singletons, Python literals, tuples and keyword arguments. No ``eval``, no ``sympify``, so a
tampered record cannot run code when it is loaded.
"""

from __future__ import annotations

import ast
from typing import Any

import sympy as sp

from .errors import BadInput

_SINGLETONS = {
    "pi": sp.pi,
    "E": sp.E,
    "I": sp.I,
    "oo": sp.oo,
    "zoo": sp.zoo,
    "nan": sp.nan,
    "true": sp.true,
    "false": sp.false,
    "EulerGamma": sp.EulerGamma,
    "Catalan": sp.Catalan,
    "GoldenRatio": sp.GoldenRatio,
}


_CLASSES: dict[str, type] = {}


def _sympy_classes() -> dict[str, type]:
    """Every Basic subclass defined inside SymPy, by name (the constructors srepr uses)."""
    if not _CLASSES:
        stack = [sp.Basic]
        while stack:
            cls = stack.pop()
            if (getattr(cls, "__module__", None) or "").startswith("sympy."):
                _CLASSES.setdefault(cls.__name__, cls)
            stack.extend(cls.__subclasses__())
    return _CLASSES


def _constructor(name: str):
    obj = getattr(sp, name, None)
    if isinstance(obj, type) and issubclass(obj, sp.Basic):
        return obj
    if name in _sympy_classes():
        return _sympy_classes()[name]
    raise BadInput(f"stored expression uses {name!r}, which is not a SymPy class")


def dumps(expr: sp.Basic) -> str:
    return sp.srepr(expr)


def _build(node: ast.AST) -> Any:
    if isinstance(node, ast.Expression):
        return _build(node.body)
    if isinstance(node, ast.Constant) and isinstance(
        node.value, (int, float, str, bool, type(None))
    ):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_build(node.operand)
    if isinstance(node, ast.Tuple):
        return tuple(_build(e) for e in node.elts)
    if isinstance(node, ast.Name):
        if node.id in _SINGLETONS:
            return _SINGLETONS[node.id]
        raise BadInput(f"stored expression refers to unknown name {node.id!r}")
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Call):
        # Function('f')(x): an undefined function applied to arguments
        return _build(node.func)(*(_build(a) for a in node.args))
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        cls = _constructor(node.func.id)
        args = [_build(a) for a in node.args]
        kwargs = {k.arg: _build(k.value) for k in node.keywords if k.arg}
        return cls(*args, **kwargs)
    raise BadInput(f"stored expression contains unsupported syntax: {ast.dump(node)[:80]}")


def loads(text: str) -> sp.Basic:
    """Rebuild an expression written by ``dumps``; BadInput for anything else."""
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise BadInput(f"stored expression is not valid srepr text: {exc.msg}") from None
    try:
        return _build(tree)
    except BadInput:
        raise
    except Exception as exc:
        raise BadInput(
            f"stored expression cannot be rebuilt: {type(exc).__name__}: {exc}"
        ) from None
