"""``symbench export``: one compiled kernel as a self-contained deployment artifact.

An artifact is a directory that runs without symbench (and without SymPy or a compiler)::

    manifest.json    what it is, what built it, what it needs, sha256 of every other file
    kernel.<ext>     the generated source exactly as the backend produced it
    <module>.so      the compiled extension module (cython, ufuncify) from the build cache
    loader.py        standalone ``load(path=None, *, strict=True)`` (stdlib + numpy + the
                     backend's library); also ``python loader.py [--check]``
    README.txt       how to load it

Nothing is exported unless the pair passes the equivalence check against the mpmath
reference on this machine, now. Backends without a binary (numpy, numexpr, numba, jax) ship
their Python source: the loader executes it in a fresh namespace whose globals are imported
by name from the manifest (numba compiles it on load, jax on first call).
"""

from __future__ import annotations

import ast
import builtins
import dis
import hashlib
import importlib
import importlib.machinery
import importlib.resources
import json
import os
import platform
import shutil
import sys
import sysconfig
import tempfile
import types
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np

from . import equivalence, exprcodec, tolerance
from ._version import __version__
from .backends import Backend, Compiled, backend_ids, get_backend
from .backends.cbuild import BuildCache, find_extension, load_extension
from .errors import BadInput, Unavailable, Unsupported
from .inputs import DEFAULT_SEED, make_inputs
from .kernels.core import Kernel
from .kernels.storage import kernel_from_dict, kernel_to_dict
from .records import now_iso, text_sha256

FORMAT = "symbench-artifact/1"
MANIFEST = "manifest.json"
LOADER = "loader.py"
README = "README.txt"
SELFTEST_SIZE = 16
SOURCE_SUFFIX = {"python": ".py", "cython": ".pyx", "c": ".c", "cuda": ".cu"}

# Load kinds that ship the compiled extension module instead of source (the others ship the
# generated Python source, which the loader executes); each backend names its kind in
# ``Backend.export_kind``, and the standalone loader knows every kind.
EXTENSION_KINDS = ("cython", "ufunc-extension")
STDLIB = frozenset({"math", "builtins"})
_EQUIVALENCE = (
    "status",
    "max_ulp",
    "max_rel_err",
    "max_abs_err",
    "nonfinite_match",
    "points",
    "size",
)

__all__ = [
    "FORMAT",
    "ExportError",
    "NotEquivalent",
    "export",
    "export_from_record",
    "fastest_pair",
]


class ExportError(BadInput):
    """The pair cannot be exported (unsupported, unavailable, target not empty). Exit 2."""


class NotEquivalent(ExportError):
    """The pair was checked against the reference and did not pass. Exit 1."""

    exit_code = 1


def export(
    kernel: Kernel,
    backend: str,
    dtype: str,
    out: str | Path,
    device: str = "cpu",
    *,
    record: dict | None = None,
) -> Path:
    """Compile (cache hit where built), check equivalence and write the artifact ``out``.

    Refuses with ``ExportError`` (a ``BadInput``) when the backend cannot compile the pair
    here or ``out`` exists and is not empty, and with ``NotEquivalent`` when the pair does
    not pass the equivalence check now. ``record`` (a run record) puts its run id and the
    pair's recorded results in the manifest. Returns the artifact directory.
    """

    b = get_backend(backend)
    target = _check_target(Path(out))
    pair = f"{kernel.name} with {backend} ({dtype}, {device})"
    if b.export_kind is None:
        exportable = [i for i in backend_ids() if get_backend(i).export_kind]
        raise ExportError(
            f"cannot export {pair}: export supports {', '.join(exportable)}; {backend} "
            "ships no standalone binary or Python source"
        )
    try:
        compiled = b.compile(kernel, dtype, device)
    except Unsupported as exc:
        raise ExportError(f"cannot export {pair}: unsupported: {exc}") from None
    except Unavailable as exc:
        raise ExportError(f"cannot export {pair}: unavailable here: {exc}") from None
    settings = (record or {}).get("settings", {})
    size = int(settings.get("check_size") or equivalence.DEFAULT_SIZE)
    seed = int(settings.get("seed") or DEFAULT_SEED)
    result = equivalence.check_one(
        kernel, b, dtype, device, size=size, seed=seed, compiled=compiled
    )
    if result.status != "pass":
        raise NotEquivalent(
            f"refusing to export {pair}: equivalence check {result.status}: {result.reason}"
        )

    files: dict[str, bytes] = {}
    source_name = "kernel" + SOURCE_SUFFIX.get(compiled.language, ".txt")
    files[source_name] = compiled.source.encode()
    load, binary, modules = _load_spec(compiled, kernel, b, source_name, files)
    requires = {}
    for dist in sorted(set(b.export_requires) | modules):
        try:
            requires[dist] = version(dist)
        except PackageNotFoundError:
            raise ExportError(f"cannot export {pair}: {dist} has no installed version") from None

    manifest: dict[str, Any] = {
        "format": FORMAT,
        "symbench": __version__,
        "created": _now(),
        "kernel": {
            "name": kernel.name,
            "args": list(kernel.arg_names),
            "text": str(kernel.expr),
            "srepr": exprcodec.dumps(kernel.expr),
            "content_hash": kernel.content_hash,
            "definition": kernel_to_dict(kernel),
        },
        "dtype": dtype,
        "device": device,
        "backend": {"id": backend, "library": b.library, "version": b.version()},
        "language": compiled.language,
        "source": {"file": source_name, "language": compiled.language},
        "binary": binary,
        "load": load,
        # the recipe: whether this export's compile hit the build cache is not part of it
        "build": {k: v for k, v in compiled.build.items() if k != "cache_hit"},
        "python": {
            "version": platform.python_version(),
            "major_minor": f"{sys.version_info.major}.{sys.version_info.minor}",
            "implementation": platform.python_implementation(),
        },
        "platform": {
            "sys_platform": sys.platform,
            "machine": platform.machine(),
            "platform": sysconfig.get_platform(),
            "extension_suffix": importlib.machinery.EXTENSION_SUFFIXES[0],
            "soabi": sysconfig.get_config_var("SOABI"),
        },
        "requires": requires,
        "equivalence": {k: v for k, v in result.to_dict().items() if k in _EQUIVALENCE}
        | {"seed": seed},
        "selftest": _selftest(compiled, kernel, dtype, seed),
        "run_id": record.get("run_id") if record else None,
        "record": _record_summary(record, kernel.name, backend, dtype, device, compiled)
        if record
        else None,
    }
    files[LOADER] = _loader_text().encode()
    files[README] = _readme(manifest, source_name, binary).encode()
    manifest["files"] = {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}
    return _write(target, manifest, files)


def export_from_record(
    record: dict,
    out: str | Path,
    *,
    kernel: str | None = None,
    backend: str | None = None,
    dtype: str | None = None,
) -> Path:
    """Export the fastest passing pair of a stored run (narrowed by kernel, backend, dtype).

    The kernel is rebuilt from the record's own definition (no code from the record runs)
    and checked again here; the manifest keeps the record's ``run_id``.
    """
    chosen = fastest_pair(record, kernel=kernel, backend=backend, dtype=dtype)
    definition = record.get("kernels", {}).get(chosen["kernel"])
    if definition is None:
        raise BadInput(f"run {record.get('run_id')} has no definition of {chosen['kernel']!r}")
    return export(
        kernel_from_dict(definition),
        chosen["backend"],
        chosen["dtype"],
        out,
        chosen.get("device", "cpu"),
        record=record,
    )


def fastest_pair(
    record: dict,
    *,
    kernel: str | None = None,
    backend: str | None = None,
    dtype: str | None = None,
) -> dict[str, Any]:
    """The record's result entry that passed and has the lowest median at the largest size
    all candidates were timed at.

    Several kernels need ``kernel``; several dtypes prefer ``float64`` (float32 would change
    the precision callers get). ``BadInput`` says what was found when nothing fits.
    """
    run = record.get("run_id", "?")
    results = list(record.get("results", []))
    for name, value in (("kernel", kernel), ("backend", backend), ("dtype", dtype)):
        if value is not None:
            known = sorted({r[name] for r in results})
            if value not in known:
                raise BadInput(f"run {run} has no {name} {value!r} (it has {', '.join(known)})")
            results = [r for r in results if r[name] == value]
    timed = [r for r in results if r.get("status") == "pass" and r.get("timings")]
    if not timed:
        why = "; ".join(
            f"{r['kernel']}/{r['backend']}/{r['dtype']}: {r.get('status')}"
            + (f" ({r['reason'].splitlines()[0][:80]})" if r.get("reason") else "")
            + (" (timing failed)" if r.get("status") == "pass" else "")
            for r in results[:6]
        )
        raise BadInput(
            f"run {run} has no passing, timed pair to export" + (f": {why}" if why else "")
        )
    kernels = sorted({r["kernel"] for r in timed})
    if len(kernels) > 1:
        raise BadInput(f"run {run} has several kernels ({', '.join(kernels)}): choose one")
    dtypes = sorted({r["dtype"] for r in timed})
    if len(dtypes) > 1:
        keep = "float64" if "float64" in dtypes else None
        if keep is None:
            raise BadInput(f"run {run} has several dtypes ({', '.join(dtypes)}): choose one")
        timed = [r for r in timed if r["dtype"] == keep]
    sizes = set.intersection(*({t["size"] for t in r["timings"]} for r in timed))
    size = max(sizes) if sizes else None

    def median(r: dict) -> float:
        if size is None:  # no size common to all candidates: each one's largest
            return r["timings"][-1]["median_s"]
        return next(t["median_s"] for t in r["timings"] if t["size"] == size)

    return min(timed, key=lambda r: (median(r), r["backend"], r.get("device", "")))


# --- what the loader needs per backend ------------------------------------------------------


def _load_spec(
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
            load["function"] = "evaluate"
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


# --- manifest parts -------------------------------------------------------------------------


def _selftest(compiled: Compiled, kernel: Kernel, dtype: str, seed: int) -> dict[str, Any]:
    """A few inputs (special points first) and this export's outputs, so ``python loader.py``
    can show the kernel computes the same on the target."""
    inputs = make_inputs(kernel, SELFTEST_SIZE, dtype, seed)
    with np.errstate(all="ignore"):
        got = np.asarray(compiled(*inputs), dtype=np.float64)
    # Two correct evaluations may each be off by the allowed error: their difference by twice
    # that. The allowed error is the running bound at each sample point (symbench.tolerance).
    bound = tolerance.running_bound(kernel, inputs, dtype)
    allowed = tolerance.allowed_error(bound, got, kernel, compiled.backend, compiled.device, dtype)
    return {
        "inputs": [[float(v).hex() for v in a] for a in inputs],
        "output": [float(v).hex() for v in got],
        "rtol": 0.0,
        "atol": [2 * float(a) if np.isfinite(a) else None for a in allowed.error],
        "tolerance": "twice the running error bound of each point (symbench.tolerance)",
    }


def _record_summary(
    record: dict, kernel: str, backend: str, dtype: str, device: str, compiled: Compiled
) -> dict[str, Any]:

    entry = next(
        (
            r
            for r in record.get("results", [])
            if (r.get("kernel"), r.get("backend"), r.get("dtype"), r.get("device", "cpu"))
            == (kernel, backend, dtype, device)
        ),
        {},
    )
    recorded_sha = entry.get("source_sha256")
    return {
        "run_id": record.get("run_id"),
        "created": record.get("created"),
        "status": entry.get("status"),
        "max_ulp": entry.get("max_ulp"),
        "median_s": {str(t["size"]): t["median_s"] for t in entry.get("timings", [])},
        "source_sha256": recorded_sha,
        # False when this machine's generator now prints different code than the run timed.
        "source_matches_record": recorded_sha == text_sha256(compiled.source)
        if recorded_sha
        else None,
    }


def _loader_text() -> str:
    return importlib.resources.files(__package__).joinpath("export_loader.py").read_text()


def _readme(manifest: dict[str, Any], source_name: str, binary: dict | None) -> str:
    k, b = manifest["kernel"], manifest["backend"]
    needs = ", ".join(f"{n} {'.'.join(v.split('.')[:2])}" for n, v in manifest["requires"].items())
    py = manifest["python"]
    lines = [
        f"symbench artifact: {k['name']}({', '.join(k['args'])}) = {k['text']}",
        f"backend {b['id']} ({b['library']} {b['version']}), {manifest['dtype']}, device "
        f"{manifest['device']}; exported by symbench {manifest['symbench']}",
        "",
        f"Needs {py['implementation']} {py['major_minor']} and {needs}; symbench is not needed.",
    ]
    if binary:
        lines.append(
            f"The compiled module {binary['file']} loads only on "
            f"{manifest['platform']['sys_platform']}/{manifest['platform']['machine']} "
            f"with extension ABI {binary['suffix']}."
        )
    if manifest["load"].get("note"):
        lines.append(manifest["load"]["note"][0].upper() + manifest["load"]["note"][1:] + ".")
    lines += [
        "",
        "Load it from Python:",
        "",
        "    import importlib.util",
        '    spec = importlib.util.spec_from_file_location("artifact_loader", "DIR/loader.py")',
        "    loader = importlib.util.module_from_spec(spec); spec.loader.exec_module(loader)",
        f'    {k["name"]} = loader.load()   # or loader.load("DIR"); raises loader.ArtifactError',
        f"    y = {k['name']}({', '.join(k['args'])})   # NumPy arrays in, NumPy array out",
        "",
        "(or put DIR on sys.path and `from loader import load`). load() first checks the",
        "sha256 of every file against manifest.json and this environment against what the",
        "artifact needs; load(strict=False) turns version mismatches into warnings.",
        "",
        "From a shell:",
        "",
        "    python DIR/loader.py --check   # verify files and environment, load nothing",
        "    python DIR/loader.py           # verify, load and compare with stored samples",
        "",
        f"{source_name} is the generated source as the backend produced it; manifest.json",
        "holds the build recipe, the equivalence result and the versions it was built with.",
        "",
    ]
    return "\n".join(lines)


# --- writing --------------------------------------------------------------------------------


def _check_target(out: Path) -> Path:
    if out.exists() and not out.is_dir():
        raise ExportError(f"export target {str(out)!r} exists and is not a directory")
    if out.is_dir() and any(out.iterdir()):
        raise ExportError(f"export target {str(out)!r} exists and is not empty; choose a new one")
    return out


def _write(out: Path, manifest: dict[str, Any], files: dict[str, bytes]) -> Path:
    """Write into a hidden sibling directory and rename it into place: an interrupted export
    leaves no half-written artifact, and nothing that exists is overwritten."""
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    except OSError as exc:
        raise ExportError(f"cannot write to {str(out.parent)!r}: {exc.strerror or exc}") from None
    try:
        for name, data in files.items():
            (staging / name).write_bytes(data)
        binary = manifest.get("binary")
        if binary:
            os.chmod(staging / binary["file"], 0o755)
        text = json.dumps(manifest, indent=1, sort_keys=True, allow_nan=False, default=str)
        (staging / MANIFEST).write_text(text + "\n", encoding="utf-8")
        os.chmod(staging, 0o755)
        _check_target(out)  # still free (a concurrent export may have taken it)
        try:
            os.rename(staging, out)  # replaces only an empty directory
        except OSError as exc:
            raise ExportError(f"cannot create {str(out)!r}: {exc.strerror or exc}") from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out


def _now() -> str:
    return now_iso()
