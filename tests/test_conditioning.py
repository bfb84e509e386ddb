"""The running error bound: correct evaluations of ill-conditioned expressions pass, and
deliberately broken backends (``symbench.defects``) still fail with a clear reason."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
from sympy.physics.hydrogen import R_nl

from symbench import Kernel, get_backend, get_kernel
from symbench import tolerance as tol
from symbench.defects import DroppedTerm, Float32Arithmetic, NaNInjected, SloppyExp, WrongSign
from symbench.equivalence import check_one

from .conftest import AVAILABLE, DTYPES, KERNELS

x = sp.Symbol("x", real=True)
FAST = [b for b in ("numpy", "numexpr", "numba", "jax") if b in AVAILABLE]

# Expressions evaluated across their roots and with heavy cancellation: a correct IEEE
# evaluation loses relative accuracy next to each root, and must pass.
ILL_CONDITIONED = {
    "oscillator3": ("sqrt(3)*(8*x**3 - 12*x)*exp(-x**2/2)/(12*pi**(1/4))", {"x": (-5, 5)}),
    "hydrogen_r52": (R_nl(5, 2, x, 1), {"x": (0, 40)}),
    "legendre7": (sp.legendre(7, x), {"x": (-1, 1)}),
    "chebyshev12": (sp.chebyshevt(12, x), {"x": (-1, 1)}),
    "hermite9": (sp.hermite(9, x), {"x": (-4, 4)}),
    "laguerre8": (sp.laguerre(8, x), {"x": (0, 30)}),
    "expm1_as_written": ("exp(x) - 1 - x", {"x": (-1, 1)}),
    "one_minus_cos": ("(1 - cos(x))/x**2", {"x": (-1, 1)}),
    "sqrt_difference": ("sqrt(x**2 + 1) - x", {"x": (0, 1e4)}),
    "log1p_tiny": ("sin(log(erf(erf(x))**2 + 1))", {"x": (-3, 3)}),
    "crossing_product": ("y*(x - sqrt(cos(2)**2 + 1))", {"x": (-3, 3), "y": (-3, 3)}),
    "two_arg_cancel": ("x*exp(-x**2) + y", {"x": (-3, 3), "y": (-1, 1)}),
    "lattice": ("Abs(x) + Max(x, y)", {"x": (-3, 3), "y": (-3, 3)}),
}


def _kernel(name: str) -> Kernel:
    expr, domains = ILL_CONDITIONED[name]
    return Kernel.from_expr(expr, domains, name=name)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("backend", FAST)
@pytest.mark.parametrize("name", list(ILL_CONDITIONED))
def test_correct_evaluations_across_roots_pass(name, backend, dtype):
    res = check_one(_kernel(name), get_backend(backend), dtype)
    assert res.status in ("pass", "unsupported"), res.reason
    if res.status == "pass":
        assert res.tolerance["method"] == "running error bound"


def test_the_bound_widens_only_next_to_a_root():
    # 8x^3 - 12x has a root at sqrt(3/2): the allowed relative error is large there and a
    # few units of roundoff elsewhere.
    k = Kernel.from_expr("8*x**3 - 12*x", {"x": (1.0, 2.0)})
    cols = [np.array([1.0, 1.2247448713915889, 2.0])]
    bound = tol.running_bound(k, cols, "float64")
    u = 2.0**-53
    rel = bound.total() / (u * np.abs(8 * cols[0] ** 3 - 12 * cols[0]))
    assert rel[0] < 30 and rel[2] < 30
    assert rel[1] > 1e10


def test_a_sum_of_terms_of_one_sign_gets_no_cancellation_allowance():
    k = Kernel.from_expr("x**2 + y**2 + 1", {"x": (-1, 1), "y": (-1, 1)})
    cols = [np.linspace(-1, 1, 50), np.linspace(1, -1, 50)]
    bound = tol.running_bound(k, cols, "float64")
    value = cols[0] ** 2 + cols[1] ** 2 + 1
    assert np.all(bound.total() <= 8 * 2.0**-53 * value)


def test_bound_is_split_by_function_family():
    k = Kernel.from_expr("exp(x) + erf(x)", {"x": (-1, 1)})
    bound = tol.running_bound(k, [np.linspace(-1, 1, 11)], "float32")
    assert {"exp", "erf", tol.ARITH} <= set(bound.parts)
    scaled = bound.total({"exp": 3.0}) - bound.total()
    assert np.allclose(scaled, 2 * bound.parts["exp"])


def test_a_deep_and_a_long_expression_get_a_bound():
    deep = x
    for _ in range(600):
        deep = sp.sin(deep)
    long = sp.Add(*(sp.sin(i * x) for i in range(1, 3001)))
    for expr in (deep, long):
        k = Kernel("big", (x,), expr, (get_kernel("sinc").domains[0],))
        bound = tol.running_bound(k, [np.linspace(-1, 1, 20)], "float64")
        assert not bound.unknown and np.all(np.isfinite(bound.total()))


def test_unknown_functions_fall_back_with_a_reason():
    f = sp.Function("f")
    k = Kernel("undef", (x,), f(x) + x, (get_kernel("sinc").domains[0],))
    bound = tol.running_bound(k, [np.linspace(-1, 1, 5)], "float64")
    truth = np.linspace(-1, 1, 5)
    allowed = tol.allowed_error(bound, truth, k, "numpy", "cpu", "float64", {})
    assert allowed.fallback == 5 and allowed.unknown


# --------------------------------------------------------------------------- real defects


def _well_conditioned_exp() -> list[Kernel]:
    return [
        Kernel.from_expr("exp(x)", {"x": (-5, 5)}, name="exp_only"),
        Kernel.from_expr("x*exp(x)", {"x": (0.5, 5)}, name="x_exp"),
        get_kernel("rbf"),
    ]


@pytest.mark.parametrize("kernel", KERNELS)
def test_float32_arithmetic_for_float64_fails(kernel):
    res = check_one(get_kernel(kernel), Float32Arithmetic(), "float64")
    assert res.status in ("fail", "unsupported"), res.reason
    if res.status == "fail":
        assert "outside tolerance" in res.reason or "NaN/Inf" in res.reason


@pytest.mark.parametrize("dtype", DTYPES)
def test_a_dropped_term_of_relative_size_1e_6_fails(dtype):
    k = Kernel.from_expr("x**3 + x + exp(x)/1000000", {"x": (1, 2)}, name="small_term")
    res = check_one(k, DroppedTerm(), dtype)
    assert res.status == "fail" and "outside tolerance" in res.reason


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ulps", [8, 16])
@pytest.mark.parametrize("index", range(3))
def test_an_exp_off_by_8_to_16_ulp_fails_on_well_conditioned_kernels(index, ulps, dtype):
    kernel = _well_conditioned_exp()[index]
    res = check_one(kernel, SloppyExp(ulps), dtype, accuracy={})
    assert res.status == "fail", f"{kernel.name}: {res.tolerance}"
    assert "outside tolerance" in res.reason


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kernel", KERNELS)
def test_nan_where_the_truth_is_finite_fails(kernel, dtype):
    res = check_one(get_kernel(kernel), NaNInjected(), dtype)
    assert res.status in ("fail", "unsupported"), res.reason
    if res.status == "fail":
        assert "NaN/Inf placement differs" in res.reason


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kernel", [*KERNELS, *ILL_CONDITIONED])
def test_a_wrong_sign_away_from_roots_fails(kernel, dtype):
    k = _kernel(kernel) if kernel in ILL_CONDITIONED else get_kernel(kernel)
    res = check_one(k, WrongSign(), dtype)
    assert res.status in ("fail", "unsupported"), res.reason
    if res.status == "fail":
        assert "outside tolerance" in res.reason
