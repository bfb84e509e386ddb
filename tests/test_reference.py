import json
import math
import subprocess
import sys

import mpmath
import numpy as np
import pytest

from symbench import Kernel, get_kernel, make_inputs
from symbench import reference as ref_mod
from symbench.reference import ComplexValued, reference, subsample


def test_sinc_truth_at_zero_is_nan_and_elsewhere_exact(tmp_cache):
    k = get_kernel("sinc")
    x = np.array([0.0, 1.0, -2.5, 1e-8])
    r = reference(k, [x])
    assert math.isnan(r.hi[0])
    with mpmath.workdps(50):
        for i in (1, 2, 3):
            exact = mpmath.sin(mpmath.mpf(x[i])) / mpmath.mpf(x[i])
            assert abs((mpmath.mpf(r.hi[i]) + mpmath.mpf(r.lo[i])) - exact) < mpmath.mpf(1e-30)


def test_double_double_carries_more_than_float64(tmp_cache):
    k = Kernel.from_expr("x/3", {"x": (0, 2)})
    r = reference(k, [np.array([1.0])])
    assert r.hi[0] == 1.0 / 3.0 and r.lo[0] != 0.0


def test_reference_is_cached_on_disk(tmp_cache, monkeypatch):
    k = get_kernel("sigmoid")
    inputs = make_inputs(k, 50, "float64")
    first = reference(k, inputs)
    monkeypatch.setattr(ref_mod, "_MEMORY", {})

    def boom(*a, **kw):
        raise AssertionError("recomputed despite the cache")

    monkeypatch.setattr(ref_mod, "evaluate", boom)
    second = reference(k, inputs)
    assert np.array_equal(first.hi, second.hi) and np.array_equal(first.lo, second.lo)
    assert list((tmp_cache / "reference").glob("*.npz"))


def test_corrupt_cache_entry_is_recomputed(tmp_cache, monkeypatch):
    k = get_kernel("square")
    inputs = make_inputs(k, 20, "float64")
    reference(k, inputs)
    (entry,) = (tmp_cache / "reference").glob("*.npz")
    entry.write_bytes(b"garbage")
    monkeypatch.setattr(ref_mod, "_MEMORY", {})
    r = reference(k, inputs)
    assert np.allclose(r.hi, inputs[0] ** 2, rtol=1e-15)


def test_complex_valued_on_domain_is_bad_input(tmp_cache):
    k = Kernel.from_expr("sqrt(x)", {"x": (-1, 1)})
    with pytest.raises(ComplexValued, match="complex-valued"):
        reference(k, make_inputs(k, 10, "float64"))


def test_subsample_keeps_special_points_and_spans_the_array():
    idx = subsample(10_000, points=100, nspecial=2)
    assert idx[0] == 0 and idx[1] == 1 and idx[-1] == 9_999
    assert len(idx) <= 100
    assert list(subsample(5)) == [0, 1, 2, 3, 4]


def test_precision_below_30_digits_is_refused(tmp_cache):
    k = get_kernel("square")
    with pytest.raises(Exception, match="at least 30"):
        reference(k, make_inputs(k, 3, "float64"), dps=20)


def test_an_astronomical_power_is_inf_or_zero_not_a_hang():
    # mpmath turned 10**(10**10), an integer-valued exponent, into a Python int of 10**10
    # digits and never returned: `check --expr "x**x**x**x" --domain x=0:10` hung (sweep).
    # In a child process, so that a regression fails after 120 s instead of hanging here.
    code = (
        "import json\n"
        "import numpy as np\n"
        "from symbench import Kernel\n"
        "from symbench.reference import evaluate\n"
        "k = Kernel.from_expr('x**x**x**x', {'x': (0, 10)})\n"
        "print(json.dumps(list(evaluate(k, [np.array([0.5, 2.0, 3.0, 10.0])])[0])))\n"
        "k = Kernel.from_expr('(-x)**(x**x**x)', {'x': (0, 10)})\n"
        "print(json.dumps(list(evaluate(k, [np.array([2.0, 3.0, 10.0])])[0])))\n"
        "k = Kernel.from_expr('1/(1 + x**x**x**x)', {'x': (0, 10)})\n"
        "print(json.dumps(list(evaluate(k, [np.array([2.0, 10.0])])[0])))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    towers, signed, inverse = (json.loads(line) for line in proc.stdout.split("\n")[:3])
    assert towers[0] == pytest.approx(0.5 ** (0.5 ** (0.5**0.5))) and towers[1] == 2.0**16
    assert towers[2:] == [math.inf, math.inf]  # 3**(3**27) and beyond: overflow
    assert signed == [65536.0, -math.inf, math.inf]  # (-3)**odd, then C99's pow(-10, inf)
    assert inverse == [pytest.approx(1 / 65537), 0.0]


def test_an_astronomical_argument_saturates_exp_sinh_cosh_gamma():
    # exp(exp(exp(1000))) raised MemoryError from mpmath, a traceback out of `check` (sweep).
    x = np.array([0.0, 5.0, 1000.0, -1000.0])
    cases = {
        "exp(exp(exp(x)))": [math.exp(math.exp(1.0)), math.inf, math.inf, math.exp(1.0)],
        "exp(-exp(exp(x)))": [math.exp(-math.exp(1.0)), 0.0, 0.0, math.exp(-1.0)],
        "sinh(-exp(exp(x)))": [math.sinh(-math.e), -math.inf, -math.inf, math.sinh(-1.0)],
        "cosh(exp(exp(x)))": [math.cosh(math.e), math.inf, math.inf, math.cosh(1.0)],
        "gamma(exp(exp(x)))": [math.gamma(math.e), math.inf, math.inf, 1.0],
    }
    for text, expected in cases.items():
        k = Kernel.from_expr(text, {"x": (-1000, 1000)})
        hi, _ = ref_mod.evaluate(k, [x])
        assert list(hi) == pytest.approx(expected, rel=1e-15), text


def test_a_reference_out_of_memory_is_bad_input_at_its_point(monkeypatch):
    def exhausted(*args):
        raise MemoryError

    monkeypatch.setattr(ref_mod, "_evaluator", lambda kernel: exhausted)
    k = Kernel.from_expr("x", {"x": (0, 1)})
    with pytest.raises(ref_mod.BadInput, match=r"out of memory at x=0\.5 .*narrow the domain"):
        ref_mod.evaluate(k, [np.array([0.5])])
