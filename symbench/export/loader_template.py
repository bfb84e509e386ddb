"""Load one symbench export artifact: ``load()`` returns the kernel as a NumPy function.

This file is copied verbatim into every artifact as ``loader.py``. It is standalone: it
imports only the standard library, NumPy and the backend's own library (numba, jax,
numexpr, scipy where the kernel uses it), never symbench, so it runs where symbench is not
installed.

Before anything is imported or executed, every file listed in ``manifest.json`` must exist
and match its sha256, and this interpreter must match what the artifact needs (Python
major.minor and implementation; for compiled modules also the platform, machine and
extension ABI; the major.minor version of each required package). The hashes catch damaged
or edited files; they are not a signature (whoever can edit ``manifest.json`` can edit the
hashes too), so pin ``sha256sum manifest.json`` where that matters.

Usage::

    from loader import load          # with the artifact directory on sys.path
    f = load()                       # or load("/path/to/artifact")
    y = f(x)                         # NumPy arrays in, NumPy array out

    python loader.py [--check] [--no-strict] [ARTIFACT_DIR]
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import json
import math
import platform
import sys
import warnings
from pathlib import Path

FORMAT = "symbench-artifact/1"
MANIFEST = "manifest.json"

__all__ = ["ArtifactError", "check", "load", "main"]


class ArtifactError(RuntimeError):
    """The artifact is damaged, or cannot be loaded in this environment (says what differs)."""


def _root(path) -> Path:
    root = Path(path) if path is not None else Path(__file__).resolve().parent
    return root.parent if root.name == MANIFEST else root


def read_manifest(root: Path) -> dict:
    try:
        manifest = json.loads((root / MANIFEST).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ArtifactError(f"cannot read {root / MANIFEST}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise ArtifactError(f"{root / MANIFEST} is not valid JSON: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        found = manifest.get("format") if isinstance(manifest, dict) else None
        raise ArtifactError(f"{root / MANIFEST} is not a {FORMAT} manifest (format {found!r})")
    return manifest


def verify_files(root: Path, manifest: dict) -> dict[str, bytes]:
    """Every listed file present and matching its sha256; returns their contents.

    What is executed or imported later is read here, so a file is hashed as it is used.
    """
    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        raise ArtifactError(f"{root / MANIFEST} lists no files")
    blobs, problems = {}, []
    for name, want in sorted(files.items()):
        path = root / name
        if Path(name).is_absolute() or ".." in Path(name).parts or name == MANIFEST:
            problems.append(f"{name}: not a plain file name inside the artifact")
            continue
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            problems.append(f"{name} is missing (listed in {MANIFEST})")
            continue
        except OSError as exc:
            problems.append(f"{name} cannot be read: {exc.strerror or exc}")
            continue
        got = hashlib.sha256(data).hexdigest()
        if got != want:
            problems.append(
                f"{name} does not match its sha256 in {MANIFEST} (modified or damaged: "
                f"expected {want[:12]}..., found {got[:12]}...)"
            )
            continue
        blobs[name] = data
    if problems:
        raise ArtifactError(f"artifact {root} failed verification: " + "; ".join(problems))
    return blobs


def _major_minor(v: str) -> tuple[int, ...]:
    parts = []
    for p in str(v).split(".")[:2]:
        digits = "".join(ch for ch in p if ch.isdigit()) if p else ""
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


def _installed(name: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return None


def environment_problems(manifest: dict) -> tuple[list[str], list[str]]:
    """(fatal, version) problems: fatal ones always refuse (wrong ABI, missing package);
    version mismatches refuse in strict mode and are warnings otherwise."""
    fatal: list[str] = []
    soft: list[str] = []
    py = manifest.get("python", {})
    here = f"{sys.version_info.major}.{sys.version_info.minor}"
    impl = platform.python_implementation()
    if py.get("implementation") and py["implementation"] != impl:
        fatal.append(
            f"python implementation: artifact needs {py['implementation']}, this is {impl}"
        )
    if py.get("major_minor") and py["major_minor"] != here:
        message = (
            f"python {py['major_minor']} required (exported with {py.get('version')}), "
            f"this is python {platform.python_version()}"
        )
        # A compiled module is built for one Python ABI: never load it into another.
        (fatal if manifest.get("binary") else soft).append(message)
    binary = manifest.get("binary")
    if binary:
        plat = manifest.get("platform", {})
        if plat.get("sys_platform") and plat["sys_platform"] != sys.platform:
            fatal.append(
                f"platform: compiled module built for {plat['sys_platform']}, "
                f"this is {sys.platform}"
            )
        if plat.get("machine") and plat["machine"] != platform.machine():
            fatal.append(
                f"machine: compiled module built for {plat['machine']}, "
                f"this is {platform.machine()}"
            )
        suffix = binary.get("suffix")
        if suffix and suffix not in importlib.machinery.EXTENSION_SUFFIXES:
            fatal.append(
                f"extension ABI: compiled module has suffix {suffix!r}, this interpreter loads "
                f"{', '.join(importlib.machinery.EXTENSION_SUFFIXES)}"
            )
    for name, wanted in sorted(manifest.get("requires", {}).items()):
        found = _installed(name)
        if found is None:
            fatal.append(f"package {name} is not installed (artifact needs {name} {wanted})")
        elif _major_minor(found) != _major_minor(wanted):
            soft.append(f"package {name} {wanted} required (major.minor), found {found}")
    return fatal, soft


def check(path=None, *, strict: bool = True) -> dict:
    """Verify files and environment without importing or executing anything from the
    artifact; returns the manifest, raises ``ArtifactError`` naming every problem."""
    root = _root(path)
    manifest = read_manifest(root)
    verify_files(root, manifest)
    _check_environment(root, manifest, strict)
    return manifest


def _check_environment(root: Path, manifest: dict, strict: bool) -> None:
    fatal, soft = environment_problems(manifest)
    if strict:
        fatal += soft
    else:
        for message in soft:
            warnings.warn(f"artifact {root}: {message}", RuntimeWarning, stacklevel=3)
    if fatal:
        raise ArtifactError(f"artifact {root} cannot be loaded here: " + "; ".join(fatal))


def load(path=None, *, strict: bool = True):
    """The artifact's kernel as ``f(*arrays) -> numpy.ndarray``.

    ``path`` is the artifact directory (default: the directory of this file). Inputs are
    converted to the artifact's dtype and broadcast to one shape. ``strict=False`` turns
    Python and package version mismatches into warnings; damaged or missing files and a
    compiled module built for another platform or ABI always raise ``ArtifactError``.
    """
    root = _root(path)
    manifest = read_manifest(root)
    blobs = verify_files(root, manifest)
    _check_environment(root, manifest, strict)
    kind = manifest["load"]["kind"]
    try:
        builder = _BUILDERS[kind]
    except KeyError:
        raise ArtifactError(f"artifact {root}: unknown load kind {kind!r}") from None
    raw = builder(root, manifest, blobs)
    return _wrap(raw, manifest)


def _load_extension(path: Path, module: str):
    spec = importlib.util.spec_from_file_location(module, path)
    if spec is None or spec.loader is None:
        raise ArtifactError(f"cannot load compiled module {path}")
    # Single-phase-init extensions register themselves in sys.modules; restore it.
    previous = sys.modules.get(module)
    try:
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
    except ImportError as exc:
        raise ArtifactError(f"cannot import compiled module {path.name}: {exc}") from None
    finally:
        if previous is None:
            sys.modules.pop(module, None)
        else:
            sys.modules[module] = previous
    return mod


def _build_cython(root: Path, manifest: dict, blobs: dict):
    import numpy as np

    spec = manifest["load"]
    evaluate = getattr(_load_extension(root / spec["file"], spec["module"]), spec["function"])
    dtype = np.dtype(manifest["dtype"])

    def fn(*arrays):
        out = np.empty(arrays[0].shape[0], dtype=dtype)
        evaluate(*arrays, out)
        return out

    return fn


def _build_ufunc(root: Path, manifest: dict, blobs: dict):
    spec = manifest["load"]
    return getattr(_load_extension(root / spec["file"], spec["module"]), spec["attribute"])


def _bind(bindings: dict) -> dict:
    import importlib

    namespace = {}
    for name, how in bindings.items():
        if "value" in how:
            namespace[name] = float.fromhex(how["value"])
            continue
        obj = importlib.import_module(how["module"])
        if how.get("attr"):
            obj = getattr(obj, how["attr"])
        namespace[name] = obj
    return namespace


def _python_function(root: Path, manifest: dict, blobs: dict):
    spec = manifest["load"]
    name = spec["source"]
    module_name = f"symbench_artifact_{manifest['files'][name][:16]}"
    namespace = {
        "__name__": module_name,
        "__file__": str(root / name),
        "__builtins__": __builtins__,
    }
    namespace.update(_bind(spec.get("bindings", {})))
    code = compile(blobs[name], str(root / name), "exec")
    exec(code, namespace)  # the artifact's own source, verified against its sha256 above
    return namespace[spec["function"]]


def _build_python(root: Path, manifest: dict, blobs: dict):
    import numpy as np

    fn = _python_function(root, manifest, blobs)
    dtype = manifest["dtype"]
    extra = [np.asarray(float.fromhex(v), dtype=dtype) for v in manifest["load"]["extra_args"]]
    if not extra:
        return fn
    return lambda *arrays: fn(*arrays, *extra)


def _build_numba(root: Path, manifest: dict, blobs: dict):
    import numba

    spec = manifest["load"]
    fn = _python_function(root, manifest, blobs)
    # Compiled here, on load: numba generates machine code for this CPU.
    fastmath = bool(spec.get("fastmath", False))
    return numba.vectorize(spec["signatures"], target=spec["target"], fastmath=fastmath)(fn)


def _build_jax(root: Path, manifest: dict, blobs: dict):
    import jax

    if manifest["dtype"] == "float64":
        jax.config.update("jax_enable_x64", True)  # otherwise jax computes in float32
    fn = jax.jit(_python_function(root, manifest, blobs))
    platform_name, _, index = manifest["device"].partition(":")
    try:
        device = jax.devices(platform_name)[int(index or 0)]
    except (RuntimeError, IndexError, ValueError):
        raise ArtifactError(
            f"artifact {root} was exported for jax device {manifest['device']!r}, which this "
            "machine does not have"
        ) from None

    def run(*arrays):
        out = fn(*[jax.device_put(a, device) for a in arrays])
        return out.block_until_ready()

    return run


_BUILDERS = {
    "cython": _build_cython,
    "ufunc-extension": _build_ufunc,
    "python": _build_python,
    "numba-vectorize": _build_numba,
    "jax-jit": _build_jax,
}


def _wrap(raw, manifest: dict):
    import numpy as np

    dtype = np.dtype(manifest["dtype"])
    args = list(manifest["kernel"]["args"])

    def kernel(*arrays):
        if len(arrays) != len(args):
            raise TypeError(
                f"{manifest['kernel']['name']} takes {len(args)} arrays ({', '.join(args)}), "
                f"got {len(arrays)}"
            )
        arrays = [np.asarray(a, dtype=dtype) for a in arrays]
        shape = np.broadcast_shapes(*(a.shape for a in arrays))
        flat = [np.ascontiguousarray(np.broadcast_to(a, shape)).reshape(-1) for a in arrays]
        out = np.asarray(raw(*flat))
        n = math.prod(shape)
        if out.shape != (n,):  # lambdify returns a scalar for a constant expression
            out = np.broadcast_to(out, (n,)).copy()
        return out.reshape(shape)

    kernel.__name__ = manifest["kernel"]["name"]
    kernel.__doc__ = (
        f"{manifest['kernel']['text']}  ({manifest['backend']['id']}, {manifest['dtype']}); "
        f"arguments: {', '.join(args)}"
    )
    kernel.manifest = manifest
    return kernel


def selftest(fn, manifest: dict) -> str | None:
    """Run the artifact's stored sample through ``fn``; a problem line, or None when the
    results agree with the exporter's within the stored allowance (per point)."""
    import numpy as np

    sample = manifest.get("selftest")
    if not sample:
        return None
    inputs = [
        np.array([float.fromhex(v) for v in col], dtype=manifest["dtype"])
        for col in sample["inputs"]
    ]
    want = np.array([float.fromhex(v) for v in sample["output"]], dtype=np.float64)
    with np.errstate(all="ignore"):
        got = np.asarray(fn(*inputs), dtype=np.float64)
        same_nonfinite = (np.isnan(got) == np.isnan(want)) & (np.isinf(got) == np.isinf(want))
        finite = np.isfinite(want) & np.isfinite(got)
        atol = sample["atol"]
        if isinstance(atol, list):  # per point; None where no finite bound exists
            atol = np.array([np.inf if a is None else a for a in atol], dtype=np.float64)
        close = np.abs(got - want) <= atol + sample["rtol"] * np.abs(want)
    bad = ~same_nonfinite | (finite & ~close) | (np.isinf(want) & (got != want))
    if bad.any():
        i = int(np.argmax(bad))
        return (
            f"self-test: {int(bad.sum())} of {len(want)} sample values differ from the "
            f"exporter's; first at index {i}: got {got[i]!r}, want {want[i]!r}"
        )
    return None


def main(argv=None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description="Verify (and load) a symbench artifact.")
    parser.add_argument("path", nargs="?", default=None, help="artifact directory")
    parser.add_argument(
        "--check", action="store_true", help="verify files and environment only; load nothing"
    )
    parser.add_argument(
        "--no-strict", action="store_true", help="version mismatches warn instead of refusing"
    )
    args = parser.parse_args(argv)
    try:
        if args.check:
            manifest = check(args.path, strict=not args.no_strict)
            what = "verified"
        else:
            fn = load(args.path, strict=not args.no_strict)
            manifest = fn.manifest
            problem = selftest(fn, manifest)
            if problem:
                print(f"FAILED: {problem}")
                return 1
            what = "verified, loaded and self-tested"
    except ArtifactError as exc:
        print(f"FAILED: {exc}")
        return 1
    except Exception as exc:  # a backend library that fails while loading
        print(f"FAILED: {type(exc).__name__}: {exc}")
        return 1
    k = manifest["kernel"]
    print(f"OK: {k['name']} ({manifest['backend']['id']}, {manifest['dtype']}) {what}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
