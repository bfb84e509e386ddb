"""The backend contract and the registry, for every registered backend."""

import importlib
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from symbench import REGISTRY, Unavailable, Unsupported, get_backend, get_kernel, make_inputs
from symbench.backends import backend_ids

from .conftest import AVAILABLE, BACKENDS, DTYPES

CONTRACT_KERNELS = ["add", "sinc", "huber", "black_scholes"]


def test_registry_entries_import_and_match_their_ids():
    for bid, target in REGISTRY.items():
        module, _, cls = target.partition(":")
        assert getattr(importlib.import_module(module), cls).id == bid
    assert backend_ids() == list(REGISTRY)


def test_unknown_backend_lists_the_known_ones():
    from symbench import BadInput

    with pytest.raises(BadInput, match="known: numpy"):
        get_backend("nmupy")


@pytest.mark.parametrize("backend", BACKENDS)
def test_describe_is_honest(backend):
    info = get_backend(backend).describe()
    assert info["id"] == backend and info["strategy"]
    if info["available"]:
        assert info["devices"] and info["version"]
    else:
        assert info["reason"]  # an unavailable backend always says why


@pytest.mark.slow
@pytest.mark.usefixtures("prepared")
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kernel", CONTRACT_KERNELS)
@pytest.mark.parametrize("backend", AVAILABLE)
def test_contract_shape_dtype_determinism(backend, kernel, dtype):
    k = get_kernel(kernel)
    b = get_backend(backend)
    try:
        compiled = b.compile(k, dtype)
    except Unsupported as exc:
        assert str(exc)
        assert dtype not in b.dtypes or backend == "numexpr"
        return
    assert compiled.source.strip() and compiled.compile_s >= 0
    inputs = make_inputs(k, 257, dtype)
    before = [a.copy() for a in inputs]
    out1, out2 = compiled(*inputs), compiled(*inputs)
    assert out1.shape == (257,) and out1.dtype == np.dtype(dtype)
    assert np.array_equal(out1, out2, equal_nan=True)  # deterministic
    assert all(np.array_equal(a, b) for a, b in zip(inputs, before))  # inputs untouched


@pytest.mark.parametrize("backend", ["numexpr", "numba", "jax", "cython"])
def test_unsupported_functions_are_caught_at_compile_time(backend):
    b = get_backend(backend)
    if b.unavailable_reason():
        pytest.skip(b.unavailable_reason())
    with pytest.raises(Unsupported, match="besselj"):
        b.compile(get_kernel("bessel_j0"), "float64")


def test_ufuncify_float32_is_unsupported_not_upcast():
    b = get_backend("ufuncify")
    if b.unavailable_reason():
        pytest.skip(b.unavailable_reason())
    with pytest.raises(Unsupported, match="float64-only"):
        b.compile(get_kernel("add"), "float32")


@pytest.mark.parametrize("backend", ["cython", "ufuncify"])
def test_missing_compiler_makes_build_backends_unavailable(backend, monkeypatch):
    monkeypatch.setenv("CC", "symbench-no-such-compiler")
    b = get_backend(backend)
    with pytest.raises(Unavailable, match="symbench-no-such-compiler"):
        b.check_available()
    with pytest.raises(Unavailable):
        b.compile(get_kernel("add"), "float64")


@pytest.mark.slow
def test_ufuncify_build_leaks_no_global_state(tmp_cache):
    b = get_backend("ufuncify")
    if b.unavailable_reason():
        pytest.skip(b.unavailable_reason())
    cwd, path, modules = os.getcwd(), list(sys.path), set(sys.modules)
    c = b.compile(get_kernel("poly8"), "float64")
    assert not c.build["cache_hit"]
    assert os.getcwd() == cwd and sys.path == path
    assert not [m for m in set(sys.modules) - modules if m.startswith("wrapper_module")]
    again = b.compile(get_kernel("poly8"), "float64")
    assert again.build["cache_hit"] and again.build["cache_key"] == c.build["cache_key"]


@pytest.mark.slow
def test_cython_cache_hit_reuses_the_build(tmp_cache):
    b = get_backend("cython")
    if b.unavailable_reason():
        pytest.skip(b.unavailable_reason())
    cold = b.compile(get_kernel("rbf"), "float32")
    warm = b.compile(get_kernel("rbf"), "float32")
    assert not cold.build["cache_hit"] and warm.build["cache_hit"]
    assert "-O3" in cold.build["extra_flags"] and cold.build["compiler_version"]
    x = make_inputs(get_kernel("rbf"), 10, "float32")
    assert np.array_equal(cold(*x), warm(*x))
    entries = [p for p in (tmp_cache / "cython").iterdir() if not p.name.startswith((".", "by-"))]
    modules = [p for p in entries if list(p.glob("sb_cy_*.so"))]
    assert len(modules) == 1 and len(entries) == 2  # the module, and the kernel's entry in it
    assert warm.source == cold.source and warm.build["module_kernels"] == 1


@pytest.mark.slow
def test_a_build_prepared_in_another_cache_does_not_make_a_later_hit_cold(tmp_cache, monkeypatch):
    # prepare() in one SYMBENCH_CACHE, then the same kernels in a new one: the second compile
    # there is a cache hit (the prepared build once made it report itself cold)
    b = _cython_or_skip()
    kernels = [get_kernel("rbf"), get_kernel("add")]
    b.prepare(kernels, ["float32"])
    monkeypatch.setenv("SYMBENCH_CACHE", str(tmp_cache.parent / "another"))
    cold = b.compile(kernels[0], "float32")
    warm = b.compile(kernels[0], "float32")
    assert not cold.build["cache_hit"] and warm.build["cache_hit"]


def _cython_or_skip():
    b = get_backend("cython")
    if b.unavailable_reason():
        pytest.skip(b.unavailable_reason())
    return b


@pytest.mark.slow
def test_cython_prepare_builds_the_missing_kernels_as_one_module(tmp_cache):
    b = _cython_or_skip()
    kernels = [get_kernel(n) for n in ("add", "sinc", "bessel_j0")]  # no C99 bessel: left out
    b.prepare(kernels, ["float64", "float32"])
    built = [b.compile(k, dt) for k in kernels[:2] for dt in ("float64", "float32")]
    assert {c.build["module_path"] for c in built} == {built[0].build["module_path"]}
    assert all(c.build["module_kernels"] == 4 and not c.build["cache_hit"] for c in built)
    assert len({c.build["function"] for c in built}) == 4
    with pytest.raises(Unsupported):
        b.compile(kernels[2], "float64")
    ref = get_backend("numpy")
    for c in built:
        k = get_kernel(c.kernel)
        x = make_inputs(k, 50, c.dtype)
        np.testing.assert_allclose(c(*x), ref.compile(k, c.dtype)(*x), rtol=1e-5)
    again = b.compile(kernels[0], "float64")
    assert again.build["cache_hit"] and again.build["function"] == built[0].build["function"]
    # the kernel's recorded source is a module of its own, with the names it was built with
    assert again.source.count("def evaluate") == 1 and again.build["function"] in again.source


@pytest.mark.slow
def test_cython_module_that_fails_to_build_leaves_each_kernel_to_build_alone(
    tmp_cache, monkeypatch
):
    from symbench.backends.cython_backend import CythonBackend

    b = _cython_or_skip()
    real = CythonBackend._build

    def fails_together(self, planned, build):
        if len(planned) > 1:
            raise RuntimeError("Cython build failed")
        return real(self, planned, build)

    monkeypatch.setattr(CythonBackend, "_build", fails_together)
    kernels = [get_kernel("add"), get_kernel("rbf")]
    b.prepare(kernels, ["float64"])  # says nothing: compile() reports
    compiled = [b.compile(k, "float64") for k in kernels]
    assert [c.build["module_kernels"] for c in compiled] == [1, 1]


@pytest.mark.slow
def test_cython_kernel_whose_shared_module_is_gone_is_built_alone(tmp_cache):
    import shutil

    b = _cython_or_skip()
    kernels = [get_kernel("add"), get_kernel("rbf")]
    b.prepare(kernels, ["float64"])
    shared = b.compile(kernels[0], "float64")
    assert shared.build["module_kernels"] == 2
    shutil.rmtree(Path(shared.build["module_path"]).parent)
    alone = b.compile(kernels[0], "float64")
    assert alone.build["module_kernels"] == 1 and not alone.build["cache_hit"]
    assert b.compile(kernels[0], "float64").build["cache_hit"]


@pytest.mark.slow
def test_cython_kernel_whose_module_is_gone_is_built_again(tmp_cache):
    import shutil

    b = _cython_or_skip()
    first = b.compile(get_kernel("add"), "float64")
    shutil.rmtree(Path(first.build["module_path"]).parent)
    again = b.compile(get_kernel("add"), "float64")
    assert not again.build["cache_hit"] and Path(again.build["module_path"]).exists()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("backend", "generator"),
    [
        ("cython", "symbench.backends.cython_backend.pyx_section"),
        ("ufuncify", "symbench.backends.ufuncify_backend.c_function"),
    ],
)
def test_cache_hit_does_not_regenerate_source(backend, generator, tmp_cache, monkeypatch):
    # Regression: a hit regenerated C (CSE over hundreds of operations) before looking up
    # the cache, which made hits for big kernels cost more than 1/20 of a cold build.
    b = get_backend(backend)
    if b.unavailable_reason():
        pytest.skip(b.unavailable_reason())
    k = get_kernel("huber")
    b.compile(k, "float64")

    def boom(*a, **kw):
        raise AssertionError("source regenerated on a cache hit")

    monkeypatch.setattr(generator, boom)
    hit = b.compile(k, "float64")
    assert hit.build["cache_hit"] and hit.build["cold_build_s"] > 0


def test_cython_float32_source_has_no_double_promotion():
    from symbench.backends.cython_backend import pyx_source

    src = pyx_source(get_kernel("gelu"), "float32")
    assert "erff(" in src and "M_SQRT" not in src and "double" not in src


def test_jax_devices_include_cpu():
    b = get_backend("jax")
    if b.unavailable_reason():
        pytest.skip(b.unavailable_reason())
    assert "cpu" in b.devices()
    with pytest.raises(Unsupported):
        b.compile(get_kernel("add"), "float64", device="tpu:7")


@pytest.mark.parametrize("preset, expected", [(None, "false"), ("true", "true")])
def test_jax_does_not_take_the_gpu_memory_cupy_needs_unless_told_to(preset, expected):
    import subprocess

    pytest.importorskip("jax")
    env = {k: v for k, v in os.environ.items() if k != "XLA_PYTHON_CLIENT_PREALLOCATE"}
    if preset is not None:
        env["XLA_PYTHON_CLIENT_PREALLOCATE"] = preset
    code = (
        "import os; from symbench.backends.jax_backend import _jax; _jax(); "
        "print(os.environ['XLA_PYTHON_CLIENT_PREALLOCATE'])"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.strip() == expected, out.stderr


def test_per_backend_facts_are_read_from_the_registry(monkeypatch):
    """Provenance, thread settings, setup.py's extras and the fingerprint take each backend's
    facts from its class: what a backend declares appears there."""
    import runpy

    import setuptools

    from symbench.devices import fingerprint
    from symbench.records.provenance import packages
    from symbench.timing import thread_settings

    seen = {}
    monkeypatch.setattr(setuptools, "setup", lambda **kw: seen.update(kw))
    runpy.run_path(os.path.join(os.path.dirname(__file__), "..", "setup.py"))
    install, extras = seen["install_requires"], seen["extras_require"]
    settings, recorded, fp = thread_settings(), packages(), fingerprint()
    for bid in backend_ids():
        b = get_backend(bid)
        assert set(b.packages) <= set(recorded), bid
        assert set(b.thread_env) <= set(settings), bid
        assert set(b.device_fingerprint()) <= set(fp), bid
        for extra, reqs in b.requirements.items():
            assert set(reqs) <= set(install if extra == "" else extras[extra]), (bid, extra)
        assert b.export_kind is None or set(b.export_requires) >= {"numpy"}, bid


def test_roofline_asks_backends_for_device_bandwidth(monkeypatch):
    from symbench.roofline import bandwidth

    asked = []

    def fake(self, device, **kw):
        asked.append(self.id)
        return {"device": device, "by": self.id} if self.id == "jax" else None

    for bid in backend_ids():
        monkeypatch.setattr(type(get_backend(bid)), "measure_bandwidth", fake)
        monkeypatch.setattr(type(get_backend(bid)), "unavailable_reason", lambda self: None)
    assert bandwidth("tpu:0") == {"device": "tpu:0", "by": "jax"}
    assert asked[0] == "cupy" and asked[-1] == "jax"  # the GPU-only library asked first


@pytest.mark.parametrize("backend", ["cython", "cython-parallel"])
def test_cython_evaluate_refuses_arrays_it_cannot_read(backend):
    """The raw-buffer loop checks what the memoryviews used to: item size and length."""
    from symbench.backends.cbuild import load_extension

    b = get_backend(backend)
    if b.unavailable_reason():
        pytest.skip(b.unavailable_reason())
    c = b.compile(get_kernel("add"), "float64")
    path = c.build["module_path"]
    module = load_extension(path, os.path.basename(path).split(".")[0])
    evaluate = getattr(module, c.build["function"])
    x = np.ones(4)
    with pytest.raises(ValueError, match="C-contiguous float64"):
        evaluate(x, x, np.empty(4, dtype=np.float32))
    with pytest.raises(ValueError, match="C-contiguous float64"):
        evaluate(x, np.ones(4, dtype=np.int64), np.empty(4))  # 8 bytes, not a double
    with pytest.raises(ValueError, match="one length"):
        evaluate(x, np.ones(3), np.empty(4))
    with pytest.raises(ValueError, match="not C-contiguous"):
        evaluate(x, x, np.empty(8)[::2])
    out = np.empty(4)
    evaluate(x, x, out)
    assert (out == 2).all()


def test_threads_reach_every_threaded_backend(monkeypatch):
    """--threads: a loaded library changes its thread count at once; OpenMP, which reads it
    when it starts, gets the variable. Everything is restored after the test."""
    numba = pytest.importorskip("numba")
    numexpr = pytest.importorskip("numexpr")
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    threaded = [get_backend(b) for b in backend_ids() if get_backend(b).threads_var]
    assert {b.id for b in threaded} >= {"numexpr", "numba-parallel", "cython-parallel"}
    before = numba.get_num_threads(), numexpr.get_num_threads()
    try:
        for b in threaded:
            b.set_threads(1)
        assert numba.get_num_threads() == 1 and numexpr.get_num_threads() == 1
        assert os.environ["OMP_NUM_THREADS"] == "1"
    finally:
        numba.set_num_threads(before[0])
        numexpr.set_num_threads(before[1])


def test_a_compiler_without_openmp_makes_cython_parallel_unavailable(monkeypatch, tmp_path):
    from symbench.backends import cbuild

    if shutil.which("gcc") is None:
        pytest.skip("the stand-in compiler wraps gcc")
    fake = tmp_path / "cc-without-openmp"
    fake.write_text(
        '#!/bin/sh\ncase " $* " in *" -fopenmp "*) echo "unsupported option -fopenmp" >&2; '
        'exit 1;; esac\nexec gcc "$@"\n'
    )
    fake.chmod(0o755)
    monkeypatch.setenv("CC", str(fake))
    monkeypatch.setattr(cbuild, "_PROBED", {})
    with pytest.raises(Unavailable, match="cannot build OpenMP code: unsupported option"):
        get_backend("cython-parallel").check_available()
    get_backend("cython").check_available()  # the serial build needs no OpenMP


@pytest.mark.parametrize("backend", ["cython", "ufuncify"])
def test_a_compiler_that_builds_nothing_makes_c_backends_unavailable(monkeypatch, backend):
    from symbench.backends import cbuild

    monkeypatch.setenv("CC", "/bin/false")  # found, but every build fails without a word
    monkeypatch.setattr(cbuild, "_PROBED", {})
    with pytest.raises(Unavailable, match="cannot build a trivial C program: exit status 1"):
        get_backend(backend).check_available()


# ------------------------------------------------------------ code-generation variants

VARIANTS = [b for b in BACKENDS if get_backend(b).variant_of]


def test_variants_are_registered_beside_their_base_and_left_out_by_default():
    from symbench.backends import with_variants

    assert {"cython-nocse", "cython-powmul", "cython-fastmath", "numba-fastmath"} <= set(VARIANTS)
    for v in VARIANTS:
        base = get_backend(get_backend(v).variant_of)
        assert base.variant_of is None  # one step from a plain backend
        # exactly one code-generation choice differs from the base
        diff = [f for f, val in get_backend(v).variant.describe().items()
                if val != base.variant.describe()[f]]  # fmt: skip
        assert len(diff) == 1, (v, diff)
    default = with_variants(None)
    assert not set(VARIANTS) & set(default) and "cython" in default
    assert with_variants(["cython"], variants=True) == [
        "cython", "cython-nocse", "cython-powmul", "cython-fastmath"
    ]  # fmt: skip
    assert with_variants(["cython-fastmath"]) == ["cython-fastmath"]  # asked for by name


def test_powmul_writes_integer_powers_as_products_and_nocse_repeats_work():
    from symbench.backends.codegen import Variant, c_function

    poly8 = get_kernel("poly8").for_codegen()
    assert "pow(" in c_function(poly8, "float64", "f")
    expanded = c_function(poly8, "float64", "f", variant=Variant(pow_as_mul=True))
    assert (
        "pow(" not in expanded
        and "sbarg0*sbarg0*sbarg0*sbarg0*sbarg0*sbarg0*sbarg0*sbarg0" in expanded
    )
    h = get_kernel("hydrogen_sum8").for_codegen()
    with_cse = c_function(h, "float64", "f")
    without = c_function(h, "float64", "f", variant=Variant(cse=False))
    assert "const double t0" in with_cse and "const double t0" not in without
    assert without.count("exp(") > with_cse.count("exp(")


def test_fastmath_variants_record_their_flags_and_target(tmp_cache):
    from symbench.backends.cython_backend import FAST_MATH_FLAGS

    b = get_backend("cython-fastmath")
    if b.unavailable_reason():
        pytest.skip(b.unavailable_reason())
    c = b.compile(get_kernel("sinc"), "float64")
    assert set(FAST_MATH_FLAGS) <= set(c.build["extra_flags"])
    assert c.build["variant"] == {"cse": True, "pow_as_mul": False, "fast_math": True}
    assert c.build["march_native"]  # what -march=native meant when it was built
    plain = get_backend("cython").compile(get_kernel("sinc"), "float64")
    assert plain.build["cache_key"] != c.build["cache_key"]  # never share a build


def test_variants_are_judged_with_the_right_math_library_accuracy():
    from symbench.tolerance import accuracy_of, table

    assert accuracy_of("cython-nocse") == "cython" and accuracy_of("cython-powmul") == "cython"
    # fast-math calls glibc's vector math, not libm's scalar functions: measured on its own
    assert accuracy_of("cython-fastmath") == "cython-fastmath"
    assert any(key[0] == "cython-fastmath" for key in table())
    assert accuracy_of("no-such-backend") == "no-such-backend"
