"""pytest-benchmark suite over the same matrix and prepare path as ``symbench run``.

Skipped in the normal test run (``--benchmark-skip`` is in pytest's addopts); run with
``pytest tests/perf --benchmark-only``. Never asserts on speed.
"""

import pytest

from symbench import Unavailable, Unsupported
from symbench.bench import prepare

from ..conftest import BACKENDS, DTYPES, KERNELS

SIZES = [1_000, 1_000_000]


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kernel", KERNELS)
def test_eval(benchmark, kernel, backend, dtype, size):
    try:
        prepared = prepare(kernel, backend, dtype, size)
    except (Unavailable, Unsupported) as exc:
        pytest.skip(str(exc))
    benchmark.group = f"{kernel}-{dtype}-{size}"
    benchmark.extra_info.update(
        kernel=kernel,
        backend=backend,
        dtype=dtype,
        size=size,
        device="cpu",
        compile_s=prepared.compile_s,
        max_ulp=prepared.check.max_ulp,
    )
    benchmark(prepared.call)
