"""The parts of an artifact's manifest beyond the build: the self-test sample, the summary
of the run record it came from, the README, and the standalone loader's text."""

from __future__ import annotations

import importlib.resources
from typing import Any

import numpy as np

from .. import tolerance
from ..backends import Compiled
from ..inputs import make_inputs
from ..kernels.core import Kernel
from ..records import text_sha256

SELFTEST_SIZE = 16
LOADER_TEMPLATE = "loader_template.py"


def selftest(compiled: Compiled, kernel: Kernel, dtype: str, seed: int) -> dict[str, Any]:
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


def record_summary(
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
    """The standalone loader, copied verbatim into every artifact as ``loader.py``."""
    return importlib.resources.files(__package__).joinpath(LOADER_TEMPLATE).read_text()


def readme(manifest: dict[str, Any], source_name: str, binary: dict | None) -> str:
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
