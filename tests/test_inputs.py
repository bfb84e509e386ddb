import numpy as np
import pytest

from symbench import BadInput, get_kernel, make_inputs
from symbench.inputs import inputs_hash, make_input
from symbench.kernels import Domain

from .conftest import DTYPES, KERNELS


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", KERNELS)
def test_inputs_are_deterministic_and_inside_the_domain(name, dtype):
    k = get_kernel(name)
    a = make_inputs(k, 500, dtype, seed=7)
    b = make_inputs(k, 500, dtype, seed=7)
    assert inputs_hash(a) == inputs_hash(b)
    for arr, dom in zip(a, k.domains):
        assert arr.dtype == np.dtype(dtype) and arr.shape == (500,)
        assert np.all(arr >= dom.lo) and np.all(arr <= dom.hi)
        assert list(arr[: len(dom.special)]) == list(np.asarray(dom.special, dtype=dtype))


def test_seed_and_argument_index_change_values():
    d = Domain(-1.0, 1.0)
    base = make_input(d, 100, "float64", seed=1, index=0)
    assert not np.array_equal(base, make_input(d, 100, "float64", seed=2, index=0))
    assert not np.array_equal(base, make_input(d, 100, "float64", seed=1, index=1))


def test_prefix_stability_small_sizes():
    d = Domain(0.0, 1.0, special=(0.0,))
    assert make_input(d, 1, "float64", 3)[0] == 0.0
    assert make_input(d, 0, "float64", 3).shape == (0,)


def test_log_scale_domain():
    v = make_input(Domain(1e-3, 1e3, scale="log"), 2000, "float64", 1)
    assert (v >= 1e-3).all() and (v <= 1e3).all()
    assert np.median(v) < 10  # log-uniform: the median sits near the geometric middle


def test_unknown_dtype():
    with pytest.raises(BadInput, match="unknown dtype"):
        make_input(Domain(0.0, 1.0), 3, "float16", 1)
