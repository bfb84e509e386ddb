"""symbench export: artifacts that load without symbench, refuse when damaged or foreign."""

from __future__ import annotations

import ast
import hashlib
import importlib.machinery
import importlib.util
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from symbench import BadInput, get_backend, get_kernel
from symbench.backends import backend_ids
from symbench.backends.cython_backend import FLAGS as CYTHON_FLAGS
from symbench.export import ExportError, NotEquivalent, export, export_from_record, fastest_pair
from symbench.records import Store
from symbench.runner import RunSettings, run

# (backend, kernel, source file): numba is cheap once its cache is warm.
CASES = [
    ("numpy", "gelu", "kernel.py"),
    ("cython", "gelu", "kernel.pyx"),
    ("numba", "sinc", "kernel.py"),
]


def truth(kernel: str, x: np.ndarray) -> np.ndarray:
    """The kernel written with NumPy by hand (not through symbench)."""
    with np.errstate(all="ignore"):
        if kernel == "sinc":
            return np.sin(x) / x
        from scipy.special import erf

        return 0.5 * x * (1.0 + erf(x / np.sqrt(2.0)))


def needs(backend: str) -> None:
    reason = get_backend(backend).unavailable_reason()
    if reason:
        pytest.skip(f"{backend} unavailable: {reason}")


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """One artifact per case, exported once; tests that damage one work on a copy."""
    root = tmp_path_factory.mktemp("artifacts")
    made = {}
    for backend, kernel, _ in CASES:
        if get_backend(backend).unavailable_reason() is None:
            made[backend] = export(get_kernel(kernel), backend, "float64", root / backend)
    return made


def artifact(exported, backend, tmp_path):
    """A private copy of the exported artifact for ``backend``."""
    needs(backend)
    return shutil.copytree(exported[backend], tmp_path / backend)


def loader_module(directory):
    """The artifact's own loader.py, imported from the artifact (not from symbench)."""
    spec = importlib.util.spec_from_file_location(
        f"loader_{directory.name}", directory / "loader.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def edit_manifest(directory, change):
    path = directory / "manifest.json"
    manifest = json.loads(path.read_text())
    change(manifest)
    path.write_text(json.dumps(manifest))


def flip_byte(path, offset=None):
    data = bytearray(path.read_bytes())
    i = len(data) // 2 if offset is None else offset
    data[i] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("backend,kernel,source", CASES)
def test_artifact_holds_source_recipe_and_hashes(exported, backend, kernel, source):
    needs(backend)
    out = exported[backend]
    manifest = json.loads((out / "manifest.json").read_text())
    compiled = get_backend(backend).compile(get_kernel(kernel), "float64")
    assert (out / source).read_text() == compiled.source  # exactly what the backend generated
    names = {p.name for p in out.iterdir()} - {"manifest.json"}
    assert {source, "loader.py", "README.txt"} <= names
    assert set(manifest["files"]) == names  # every other file is listed ...
    for name, sha in manifest["files"].items():  # ... with its sha256
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() == sha
    assert manifest["kernel"]["name"] == kernel and manifest["kernel"]["args"] == ["x"]
    assert manifest["kernel"]["srepr"].startswith("Mul(") and manifest["kernel"]["text"]
    assert manifest["dtype"] == "float64" and manifest["device"] == "cpu"
    assert manifest["backend"]["id"] == backend and manifest["backend"]["version"]
    assert manifest["python"]["major_minor"] == f"{sys.version_info[0]}.{sys.version_info[1]}"
    assert manifest["platform"]["sys_platform"] == sys.platform
    assert manifest["requires"]["numpy"] == np.__version__
    assert manifest["equivalence"]["status"] == "pass"
    assert manifest["equivalence"]["max_ulp"] is not None
    assert manifest["run_id"] is None
    recipe = {k: v for k, v in compiled.build.items() if k != "cache_hit"}
    assert manifest["build"] == json.loads(json.dumps(recipe, default=str))
    if backend == "cython":
        binary = manifest["binary"]
        assert binary["file"] in names and binary["file"].startswith(binary["module"])
        assert binary["suffix"] in importlib.machinery.EXTENSION_SUFFIXES
        assert manifest["platform"]["extension_suffix"] == importlib.machinery.EXTENSION_SUFFIXES[0]
        assert manifest["build"]["compiler"] and manifest["build"]["extra_flags"] == CYTHON_FLAGS
        assert "Cython" not in manifest["requires"]  # a build tool, not needed to load
    else:
        assert manifest["binary"] is None
    if backend == "numba":
        assert manifest["requires"]["numba"] and manifest["load"]["compiles_on_load"] is True
    if backend == "numpy":  # gelu's erf comes from scipy.special
        assert manifest["load"]["bindings"]["erf"] == {"module": "scipy.special", "attr": "erf"}
        assert "scipy" in manifest["requires"]


def test_loader_imports_nothing_from_symbench():
    from symbench.export import _loader_text

    tree = ast.parse(_loader_text())
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert imported and not any(m.split(".")[0] == "symbench" for m in imported), imported
    assert all(n.level == 0 for n in ast.walk(tree) if isinstance(n, ast.ImportFrom))


LOAD_IN_FRESH_PYTHON = """
import json, sys
sys.modules["symbench"] = None  # symbench is installed here: make sure nothing can use it
try:
    import symbench
except ImportError:
    pass
else:
    raise SystemExit("symbench is importable")
sys.path.insert(0, {dir!r})
import numpy as np
from loader import load
f = load()
x = np.linspace(-7.5, 7.5, 301)
y = f(x)
assert isinstance(y, np.ndarray) and y.dtype == np.float64 and y.shape == x.shape
print(json.dumps([float(v).hex() for v in y]))
print(json.dumps(sorted(m for m, v in sys.modules.items() if m.split(".")[0] == "symbench" and v)))
"""


@pytest.mark.parametrize("backend,kernel,source", CASES)
def test_artifact_loads_and_computes_without_symbench(exported, backend, kernel, source, tmp_path):
    needs(backend)
    code = LOAD_IN_FRESH_PYTHON.format(dir=str(exported[backend]))
    proc = subprocess.run(
        [sys.executable, "-I", "-c", code], cwd=tmp_path, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr + proc.stdout
    values, modules = proc.stdout.strip().splitlines()[-2:]
    got = np.array([float.fromhex(v) for v in json.loads(values)])
    x = np.linspace(-7.5, 7.5, 301)
    assert np.allclose(got, truth(kernel, x), rtol=1e-12, atol=1e-300, equal_nan=True)
    assert json.loads(modules) == []


def test_loaded_kernel_converts_and_broadcasts(exported, tmp_path):
    out = artifact(exported, "cython", tmp_path)
    f = loader_module(out).load(out)
    x = np.linspace(-3, 3, 12, dtype=np.float32).reshape(3, 4)  # float32, 2-D
    y = f(x)
    assert y.dtype == np.float64 and y.shape == (3, 4)
    assert np.allclose(y, truth("gelu", x.astype(np.float64)))
    assert np.allclose(f([0.5, 1.0]), truth("gelu", np.array([0.5, 1.0])))
    with pytest.raises(TypeError, match="takes 1 arrays"):
        f(x, x)


@pytest.mark.parametrize("backend,victim", [("numpy", "kernel.py"), ("cython", "binary")])
def test_a_changed_byte_is_refused_naming_the_file(exported, backend, victim, tmp_path):
    out = artifact(exported, backend, tmp_path)
    manifest = json.loads((out / "manifest.json").read_text())
    name = manifest["binary"]["file"] if victim == "binary" else victim
    flip_byte(out / name)
    loader = loader_module(out)
    for strict in (True, False):  # never downgraded
        with pytest.raises(loader.ArtifactError, match=f"{name} does not match its sha256"):
            loader.load(out, strict=strict)
    proc = subprocess.run(
        [sys.executable, "-I", str(out / "loader.py"), "--check"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1 and "FAILED" in proc.stdout and name in proc.stdout


def test_a_missing_file_is_refused(exported, tmp_path):
    out = artifact(exported, "numpy", tmp_path)
    (out / "kernel.py").unlink()
    loader = loader_module(out)
    with pytest.raises(loader.ArtifactError, match="kernel.py is missing"):
        loader.load(out)


@pytest.mark.parametrize("backend", ["numpy", "cython"])
def test_another_python_version_is_refused(exported, backend, tmp_path):
    out = artifact(exported, backend, tmp_path)
    edit_manifest(out, lambda m: m["python"].update(major_minor="3.0", version="3.0.1"))
    loader = loader_module(out)
    with pytest.raises(loader.ArtifactError, match=r"python 3\.0 required"):
        loader.load(out)
    if backend == "cython":  # a compiled module never loads into another Python
        with pytest.raises(loader.ArtifactError, match="python"):
            loader.load(out, strict=False)
    else:
        with pytest.warns(RuntimeWarning, match=r"python 3\.0 required"):
            f = loader.load(out, strict=False)
        assert np.allclose(f(np.array([1.0])), truth("gelu", np.array([1.0])))


def test_package_versions_are_checked_by_major_minor(exported, tmp_path):
    out = artifact(exported, "numpy", tmp_path)
    major, minor = (int(p) for p in np.__version__.split(".")[:2])
    # Another patch release is fine; another minor release is not.
    edit_manifest(out, lambda m: m["requires"].update(numpy=f"{major}.{minor}.999"))
    loader = loader_module(out)
    loader.load(out)
    edit_manifest(out, lambda m: m["requires"].update(numpy=f"{major}.{minor + 1}.0"))
    with pytest.raises(loader.ArtifactError, match=rf"numpy {major}\.{minor + 1}\.0 required"):
        loader.load(out)
    with pytest.warns(RuntimeWarning, match="numpy"):
        loader.load(out, strict=False)
    edit_manifest(out, lambda m: m["requires"].update(nosuchpackage_sb="1.0"))
    with (
        pytest.raises(loader.ArtifactError, match="nosuchpackage_sb is not installed"),
        pytest.warns(RuntimeWarning, match="numpy"),
    ):
        loader.load(out, strict=False)


def test_a_binary_for_another_abi_or_machine_is_refused(exported, tmp_path):
    out = artifact(exported, "cython", tmp_path)
    loader = loader_module(out)
    edit_manifest(out, lambda m: m["binary"].update(suffix=".cpython-27-sparc.so"))
    with pytest.raises(loader.ArtifactError, match="extension ABI"):
        loader.load(out, strict=False)
    edit_manifest(out, lambda m: m["platform"].update(machine="sparc64"))
    with pytest.raises(loader.ArtifactError, match="machine: .*sparc64"):
        loader.load(out, strict=False)


def test_script_mode_checks_loads_and_self_tests(exported, tmp_path):
    out = artifact(exported, "numpy", tmp_path)
    for args in ([], ["--check"]):
        proc = subprocess.run(
            [sys.executable, "-I", str(out / "loader.py"), *args],
            cwd=tmp_path,
            capture_output=True,
            text=True,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert proc.stdout.startswith("OK: gelu (numpy, float64)")
    # A self-test sample that disagrees with the kernel is reported (exit 1).
    edit_manifest(out, lambda m: m["selftest"]["output"].__setitem__(3, (123.0).hex()))
    proc = subprocess.run(
        [sys.executable, "-I", str(out / "loader.py")], cwd=tmp_path, capture_output=True, text=True
    )
    assert proc.returncode == 1 and "self-test" in proc.stdout and "index 3" in proc.stdout


def test_unsupported_pair_is_refused_and_writes_nothing(tmp_path):
    needs("ufuncify")
    out = tmp_path / "gelu-ufuncify-f32"
    with pytest.raises(ExportError, match=r"unsupported: .*float64-only") as info:
        export(get_kernel("gelu"), "ufuncify", "float32", out)
    assert isinstance(info.value, BadInput) and info.value.exit_code == 2
    assert not out.exists() and list(tmp_path.iterdir()) == []
    with pytest.raises(BadInput, match="unknown backend"):
        export(get_kernel("gelu"), "numpyy", "float64", out)


def test_a_pair_that_fails_equivalence_is_refused(monkeypatch, tmp_path):
    from symbench import equivalence

    real = equivalence.check_one

    def failing(*args, **kw):
        result = real(*args, **kw)
        result.status, result.reason = "fail", "3 of 1000 points wrong"
        return result

    monkeypatch.setattr(equivalence, "check_one", failing)
    with pytest.raises(NotEquivalent, match="equivalence check fail: 3 of 1000") as info:
        export(get_kernel("sinc"), "numpy", "float64", tmp_path / "out")
    assert info.value.exit_code == 1 and list(tmp_path.iterdir()) == []


def test_an_existing_artifact_is_never_overwritten(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(ExportError, match="not empty"):
        export(get_kernel("sinc"), "numpy", "float64", out)
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert export(get_kernel("sinc"), "numpy", "float64", empty) == empty
    assert (empty / "manifest.json").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging left


def _result(backend, medians, status="pass", kernel="sinc", dtype="float64"):
    timings = [{"size": s, "median_s": m} for s, m in medians.items()]
    return {
        "kernel": kernel,
        "backend": backend,
        "dtype": dtype,
        "device": "cpu",
        "status": status,
        "timings": timings if status == "pass" else [],
    }


def test_fastest_pair_is_judged_at_the_largest_size_among_passing_pairs():
    record = {
        "run_id": "r1",
        "results": [
            _result("numpy", {1: 1e-6, 1000: 5e-5}),
            _result("numba", {1: 3e-7, 1000: 6e-5}),  # faster only at size 1
            _result("cython", {1: 4e-6, 1000: 4e-5}),
            _result("jax", {1: 1e-9, 1000: 1e-9}, status="fail"),  # fastest, but wrong
            _result("cython", {1: 1e-9, 1000: 1e-9}, dtype="float32"),
        ],
    }
    assert fastest_pair(record)["backend"] == "cython"  # float64 preferred over float32
    assert fastest_pair(record)["dtype"] == "float64"
    assert fastest_pair(record, dtype="float32")["dtype"] == "float32"
    assert fastest_pair(record, backend="numba")["backend"] == "numba"
    with pytest.raises(BadInput, match="no passing, timed pair.*jax.*fail"):
        fastest_pair(record, backend="jax")
    with pytest.raises(
        BadInput, match="run r1 has no backend 'cupy' \\(it has cython, jax, numba, numpy\\)"
    ):
        fastest_pair(record, backend="cupy")
    record["results"].append(_result("numpy", {1: 1e-6, 1000: 1e-6}, kernel="add"))
    with pytest.raises(BadInput, match=r"several kernels \(add, sinc\)"):
        fastest_pair(record)
    assert fastest_pair(record, kernel="add")["kernel"] == "add"


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    for b in ("numpy", "numba"):
        needs(b)
    settings = RunSettings(
        sizes=(1, 64), repeats=3, min_sample_s=0.001, check_size=200, bandwidth_elements=1 << 16
    )
    store = Store(tmp_path_factory.mktemp("runs"))
    kernels = [get_kernel("add"), get_kernel("sinc")]
    backends = [get_backend("numpy"), get_backend("numba")]
    record, _ = run(kernels, backends, settings, store, argv=["symbench", "run"])
    return record


def test_export_from_record_takes_the_fastest_passing_pair(recorded, tmp_path):
    candidates = [
        r
        for r in recorded["results"]
        if r["kernel"] == "sinc" and r["dtype"] == "float64" and r["status"] == "pass"
    ]
    assert {r["backend"] for r in candidates} == {"numpy", "numba"}
    want = min(candidates, key=lambda r: r["timings"][-1]["median_s"])  # at size 64
    out = export_from_record(recorded, tmp_path / "fastest", kernel="sinc")
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["run_id"] == recorded["run_id"]
    assert (manifest["backend"]["id"], manifest["dtype"]) == (want["backend"], "float64")
    assert manifest["record"]["source_matches_record"] is True
    assert manifest["record"]["median_s"]["64"] == want["timings"][-1]["median_s"]
    assert manifest["kernel"]["content_hash"] == recorded["kernels"]["sinc"]["content_hash"]
    f = loader_module(out).load(out)
    x = np.linspace(0.5, 9.0, 50)
    assert np.allclose(f(x), truth("sinc", x))

    chosen = export_from_record(
        recorded, tmp_path / "chosen", kernel="add", backend="numpy", dtype="float32"
    )
    manifest = json.loads((chosen / "manifest.json").read_text())
    assert (manifest["kernel"]["name"], manifest["backend"]["id"], manifest["dtype"]) == (
        "add",
        "numpy",
        "float32",
    )
    with pytest.raises(BadInput, match="several kernels"):
        export_from_record(recorded, tmp_path / "ambiguous")
    with pytest.raises(BadInput, match="has no kernel 'gelu'"):
        export_from_record(recorded, tmp_path / "nope", kernel="gelu")


def test_loader_source_is_the_template_verbatim(exported):
    from symbench.export import _loader_text

    needs("numpy")
    assert (exported["numpy"] / "loader.py").read_text() == _loader_text()


@pytest.mark.slow
@pytest.mark.parametrize(
    "backend", [b for b in backend_ids() if get_backend(b).export_kind is not None]
)
def test_every_exportable_backend_round_trips(backend, tmp_path):
    """Each backend that names an export kind exports, and its artifact loads, computes and
    self-tests in a fresh interpreter with its own loader (read-only broadcast inputs)."""
    needs(backend)
    out = export(get_kernel("sigmoid"), backend, "float64", tmp_path / backend)
    proc = subprocess.run(
        [sys.executable, str(out / "loader.py")], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0 and proc.stdout.startswith("OK"), proc.stdout + proc.stderr
    fn = loader_module(out).load(out)
    x = np.broadcast_to(np.linspace(-3, 3, 7), (2, 7))  # read-only, broadcast
    assert np.allclose(fn(x), 1 / (1 + np.exp(-x)))
