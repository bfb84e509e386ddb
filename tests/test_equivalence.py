"""The equivalence matrix (every kernel x available backend x dtype) and the judge itself."""

import numpy as np
import pytest

from symbench import get_backend, get_kernel, make_inputs
from symbench.backends.base import Backend, Compiled
from symbench.divergences import Divergence, load
from symbench.equivalence import FAILING, check_matrix, check_one, compare
from symbench.reference import reference

from .conftest import AVAILABLE, DTYPES, KERNELS


@pytest.mark.slow
@pytest.mark.usefixtures("prepared")
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("backend", AVAILABLE)
@pytest.mark.parametrize("kernel", KERNELS)
def test_matrix(kernel, backend, dtype):
    res = check_one(get_kernel(kernel), get_backend(backend), dtype)
    assert res.status not in FAILING, res.reason
    if res.status == "pass":
        assert res.nonfinite_match and res.max_rel_err is not None


class Scaled(Backend):
    """Test-only backend: numpy's result times (1 + eps), or NaN-free where numpy is NaN."""

    id = "test-scaled"
    library = "numpy"

    def __init__(self, factor=1.0, fill_nan=None):
        self.factor, self.fill_nan = factor, fill_nan

    def _compile(self, kernel, dtype, device):
        inner = get_backend("numpy").compile(kernel, dtype, device)

        def fn(*a):
            out = (inner.fn(*a) * self.factor).astype(dtype)
            if self.fill_nan is not None:
                out[np.isnan(out)] = self.fill_nan
            return out

        return Compiled(self.id, kernel.name, dtype, device, fn, inner.source)


def test_a_wrong_backend_fails_with_a_reason():
    res = check_one(get_kernel("sigmoid"), Scaled(1 + 1e-9), "float64")
    assert res.status == "fail"
    assert "outside tolerance" in res.reason and "x=" in res.reason
    assert res.max_ulp > 1e3


def test_nan_placement_is_judged():
    # sin(x)/x at x=0 is NaN in the truth; returning the limit 1.0 there is a failure.
    res = check_one(get_kernel("sinc"), Scaled(1.0, fill_nan=1.0), "float64")
    assert res.status == "fail" and "NaN/Inf placement" in res.reason
    assert res.nonfinite_match is False
    assert res.special[0]["got"] == "1" and res.special[0]["want"] == "nan"


def test_correct_backend_passes_and_reports_special_points():
    res = check_one(get_kernel("sinc"), Scaled(1.0), "float64")
    assert res.status == "pass", res.reason
    assert res.special[0]["inputs"] == {"x": 0.0} and res.special[0]["got"] == "nan"


def test_declared_divergence_is_a_strict_xfail():
    k = get_kernel("sigmoid")
    entry = [Divergence("sigmoid", "test-scaled", "float64", "test", "https://example.invalid")]
    wrong = check_one(k, Scaled(1 + 1e-9), "float64", divergences=entry)
    assert wrong.status == "xfail" and "known divergence" in wrong.reason
    fixed = check_one(k, Scaled(1.0), "float64", divergences=entry)
    assert fixed.status == "fail" and "no longer reproduces" in fixed.reason


def test_wrong_output_dtype_is_a_failure():
    class Upcast(Scaled):
        def _compile(self, kernel, dtype, device):
            c = super()._compile(kernel, dtype, device)
            inner = c.fn
            c.fn = lambda *a: inner(*a).astype(np.float64)
            return c

    res = check_one(get_kernel("square"), Upcast(), "float32")
    assert res.status == "fail" and "float64 for float32" in res.reason


def test_compare_measures_ulps():
    k = get_kernel("square")
    x = make_inputs(k, 100, "float64")
    ref = reference(k, x)
    exact = x[0] * x[0]
    two_ulps = np.nextafter(np.nextafter(exact, np.inf), np.inf)
    cmp = compare(ref, two_ulps, "float64", np.zeros(len(ref.hi)), x, k.arg_names)
    assert 1.4 <= cmp.max_ulp <= 2.6  # 2 ULPs from a correctly rounded value (+-0.5)


def test_packaged_divergences_file_is_valid():
    for d in load():
        assert (d.kernel in KERNELS or d.function) and d.reason and d.link


def test_check_matrix_reports_unavailable_backends_without_compiling():
    class Missing(Scaled):
        id = "test-missing"

        def check_available(self):
            from symbench import Unavailable

            raise Unavailable("not here")

    res = check_matrix([get_kernel("add")], [Missing(), Scaled()], ["float64"])
    assert [r.status for r in res] == ["unavailable", "pass"]
    assert res[0].reason == "not here"


def test_a_function_divergence_names_itself_and_keeps_the_fail():
    k = get_kernel("sigmoid")
    entry = [
        Divergence(
            "", "test-scaled", "float64", "exp is off", "https://example.invalid", None, "exp"
        )
    ]
    wrong = check_one(k, Scaled(1 + 1e-9), "float64", divergences=entry)
    assert wrong.status == "fail" and "known divergence of test-scaled's exp: exp is off" in (
        wrong.reason
    )
    assert check_one(k, Scaled(1.0), "float64", divergences=entry).status == "pass"
    other = check_one(get_kernel("square"), Scaled(1 + 1e-9), "float64", divergences=entry)
    assert "known divergence" not in other.reason
