"""The shared prepare path of the benchmark harnesses (asv, pytest-benchmark)."""

import numpy as np
import pytest

from symbench import Unsupported, get_kernel, make_inputs
from symbench.bench import NotCorrect, prepare


def test_prepare_returns_a_warm_call_on_device_inputs():
    p = prepare("add", "numpy", "float64", 10)
    assert p.check.status == "pass" and p.compile_s >= 0 and p.size == 10
    x, y = make_inputs(get_kernel("add"), 10, "float64")
    assert np.array_equal(p.call(), x + y)


def test_prepare_refuses_unsupported_pairs():
    with pytest.raises(Unsupported, match="besselj"):
        prepare("bessel_j0", "numba", "float64", 10)


def test_prepare_refuses_pairs_that_are_not_correct(monkeypatch):
    from symbench import backends as registry

    from .test_equivalence import Scaled

    monkeypatch.setitem(registry.REGISTRY, "test-scaled", "tests.test_equivalence:Scaled")
    monkeypatch.setitem(registry._INSTANCES, "test-scaled", Scaled(1 + 1e-6))
    with pytest.raises(NotCorrect, match="fail"):
        prepare("sigmoid", "test-scaled", "float64", 10)
