"""How an artifact's loader rebuilds the compiled kernel: the load instructions for the
backend's export kind (``Backend.export_kind``), the compiled module from the build cache, and
the imports or values behind every global the generated source uses."""

from __future__ import annotations

import ast
import builtins
import dis
import importlib
import importlib.machinery
import types
from pathlib import Path
from typing import Any

import numpy as np

from ..backends import Backend, Compiled
from ..backends.cbuild import BuildCache, find_extension, load_extension
from ..kernels.core import Kernel
from .errors import ExportError

# Load kinds that ship the compiled extension module instead of source (the others ship the
# generated Python source, which the loader executes); each backend names its kind in
# ``Backend.export_kind``, and the standalone loader knows every kind.
EXTENSION_KINDS = ("cython", "ufunc-extension")
STDLIB = frozenset({"math", "builtins"})


def load_spec(
    compiled: Compiled, kernel: Kernel, backend: Backend, source_name: str, files: dict[str, bytes]
) -> tuple[dict[str, Any], dict[str, Any] | None, set[str]]:
    """(load instructions, binary description or None, distributions the globals need);
    adds the compiled module to ``files`` where there is one."""
    kind = backend.export_kind
    if kind in EXTENSION_KINDS:
        path, module = _built_extension(compiled)
        files[path.name] = path.read_bytes()
        binary = {"file": path.name, "module": module, "suffix": _extension_suffix(path, module)}
        load = {"kind": kind, "file": path.name, "module": module}
        if kind == "ufunc-extension":
            load["attribute"] = _ufunc_attribute(compiled, path, module)
        else:
            load["function"] = compiled.build.get("function", "evaluate")
        return load | {"compiles_on_load": False}, binary, set()

    func, params = _function_def(compiled.source)
    bindings = _bindings(compiled, backend.export_modules, func)
    modules = {
        how["module"].partition(".")[0] for how in bindings.values() if "module" in how
    } - STDLIB
    load: dict[str, Any] = {
        "kind": kind,
        "source": source_name,
        "function": func,
        "bindings": bindings,
        "extra_args": _extra_args(compiled, kernel, params),
        "compiles_on_load": False,
    }
    return load | backend.export_options(compiled, kernel), None, modules


def _built_extension(compiled: Compiled) -> tuple[Path, str]:
    """The extension module a C backend built: from its build-cache entry."""

    key = compiled.build.get("cache_key")
    hit = BuildCache(compiled.backend).lookup(key) if key else None
    if hit is None:
        raise ExportError(
            f"the {compiled.backend} build of {compiled.kernel} is not in the build cache "
            f"(key {key!r}); compile it again"
        )
    final, manifest = hit
    module = manifest["module"]
    path = find_extension(final, module)
    if path is None:
        raise ExportError(f"the {compiled.backend} build in {final} has no extension module")
    recorded = compiled.build.get("module_path")
    if recorded and Path(recorded).resolve() != path.resolve():
        raise ExportError(f"build cache entry {final} does not hold {recorded}")
    return path, module


def _extension_suffix(path: Path, module: str) -> str:
    suffix = path.name[len(module) :]
    if suffix not in importlib.machinery.EXTENSION_SUFFIXES:
        raise ExportError(f"{path.name} does not end in an extension suffix of this Python")
    return suffix


def _ufunc_attribute(compiled: Compiled, path: Path, module: str) -> str:
    mod = load_extension(path, module)
    found = [n for n, v in vars(mod).items() if isinstance(v, np.ufunc)]
    same = [n for n in found if getattr(mod, n) is compiled.fn]
    if len(same) == 1 or len(found) == 1:
        return (same or found)[0]
    raise ExportError(f"{path.name} holds {len(found)} ufuncs ({found}); cannot tell which")


def _function_def(source: str) -> tuple[str, list[str]]:
    tree = ast.parse(source)
    defs = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
    if len(defs) != 1:
        raise ExportError(f"generated source defines {len(defs)} functions, expected one")
    return defs[0].name, [a.arg for a in defs[0].args.args]


def _global_names(code: types.CodeType) -> set[str]:
    """Globals the code reads and does not bind itself (a source that imports its own
    modules at the top needs no bindings for them)."""
    return _names(code, ("LOAD_GLOBAL", "LOAD_NAME")) - _names(code, ("STORE_NAME", "STORE_GLOBAL"))


def _names(code: types.CodeType, opnames: tuple[str, ...]) -> set[str]:
    names = {i.argval for i in dis.get_instructions(code) if i.opname in opnames}
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _names(const, opnames)
    return names


def _function_globals(fn: Any, name: str) -> dict[str, Any] | None:
    """The globals of the Python function called ``name`` behind a compiled callable (the
    function itself, ``jax.jit``'s ``__wrapped__``, numba's dispatcher, a closure)."""
    stack, seen = [fn], set()
    while stack:
        f = stack.pop()
        if f is None or id(f) in seen:
            continue
        seen.add(id(f))
        if isinstance(f, types.FunctionType):
            if f.__code__.co_name == name:
                return f.__globals__
            stack.extend(c.cell_contents for c in f.__closure__ or () if _cell_callable(c))
        stack.append(getattr(f, "__wrapped__", None))
        stack.append(getattr(f, "py_func", None))
        stack.append(getattr(getattr(f, "_dispatcher", None), "py_func", None))
    return None


def _cell_callable(cell: Any) -> bool:
    try:
        return callable(cell.cell_contents)
    except ValueError:  # an empty cell
        return False


def _bindings(
    compiled: Compiled, candidates: tuple[str, ...], func: str
) -> dict[str, dict[str, Any]]:
    """How the loader rebuilds each global the generated source uses: ``{"module", "attr"}``
    imported by name (from the first of ``candidates`` that has it), or ``{"value"}`` for a
    float constant. Builtins need nothing."""
    code = compile(compiled.source, "<generated>", "exec")
    names = _global_names(code) - {func}
    namespace = _function_globals(compiled.fn, func)
    out: dict[str, dict[str, Any]] = {}
    for name in sorted(names):
        how = _describe(name, namespace, candidates)
        if how is not None:
            out[name] = how
    return out


def _describe(name: str, namespace: dict | None, candidates: tuple[str, ...]):
    if namespace is None:  # no Python function to ask (numba-parallel): resolve by name
        for mod in candidates:
            if hasattr(importlib.import_module(mod), name):
                return {"module": mod, "attr": name}
        if hasattr(builtins, name):
            return None
        raise ExportError(f"generated code uses {name!r}, found in none of {candidates}")
    if name not in namespace:
        if hasattr(builtins, name):
            return None
        raise ExportError(f"generated code uses {name!r}, which its namespace lacks")
    value = namespace[name]
    if getattr(builtins, name, object()) is value:
        return None
    if isinstance(value, float) or (isinstance(value, int) and not isinstance(value, bool)):
        return {"value": float(value).hex()}
    if isinstance(value, types.ModuleType):
        return {"module": value.__name__}
    for mod in candidates:
        m = importlib.import_module(mod)
        for attr in dict.fromkeys((name, getattr(value, "__name__", None))):
            if attr and getattr(m, attr, None) is value:
                return {"module": mod, "attr": attr}
    raise ExportError(
        f"generated code uses {name} = {value!r}, which cannot be imported from "
        f"{', '.join(candidates)}: a standalone loader could not rebuild it"
    )


def _extra_args(compiled: Compiled, kernel: Kernel, params: list[str]) -> list[str]:
    """Values of parameters beyond the kernel's arguments (``Compiled.extra_args``, such as
    numexpr's float32 constants, which it passes as typed operands), as float hex strings."""
    extra = params[len(kernel.args) :]
    if not extra:
        return []
    values = compiled.extra_args
    if len(values) != len(extra):
        raise ExportError(
            f"{compiled.backend} source takes extra parameters {extra} whose values cannot be found"
        )
    return [float(v).hex() for v in values]
