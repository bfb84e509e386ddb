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

import hashlib
import importlib.machinery
import json
import os
import platform
import shutil
import sys
import sysconfig
import tempfile
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from .. import equivalence, exprcodec
from .._version import __version__
from ..backends import backend_ids, get_backend
from ..errors import BadInput, Unavailable, Unsupported
from ..inputs import DEFAULT_SEED
from ..kernels.core import Kernel
from ..kernels.storage import kernel_from_dict, kernel_to_dict
from ..records import now_iso
from .bindings import load_spec
from .errors import ExportError, NotEquivalent
from .manifest import _loader_text, readme, record_summary, selftest

FORMAT = "symbench-artifact/1"
MANIFEST = "manifest.json"
LOADER = "loader.py"
README = "README.txt"
SOURCE_SUFFIX = {"python": ".py", "cython": ".pyx", "c": ".c", "cuda": ".cu"}
_EQUIVALENCE = (
    "status",
    "max_ulp",
    "max_rel_err",
    "max_abs_err",
    "nonfinite_match",
    "points",
    "size",
)


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
    load, binary, modules = load_spec(compiled, kernel, b, source_name, files)
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
        "selftest": selftest(compiled, kernel, dtype, seed),
        "run_id": record.get("run_id") if record else None,
        "record": record_summary(record, kernel.name, backend, dtype, device, compiled)
        if record
        else None,
    }
    files[LOADER] = _loader_text().encode()
    files[README] = readme(manifest, source_name, binary).encode()
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
