"""The CUDA code generated for the cupy backend compiles with nvcc, without a GPU."""

import shutil
import subprocess

import pytest

from symbench import Unavailable, catalog, get_backend
from symbench.backends.cupy_backend import cuda_translation_unit

from .conftest import DTYPES

NVCC = shutil.which("nvcc")


@pytest.mark.slow
@pytest.mark.skipif(NVCC is None, reason="nvcc not installed")
@pytest.mark.parametrize("dtype", DTYPES)
def test_generated_cuda_compiles_with_nvcc(dtype, tmp_path):
    kernels = list(catalog().values())
    source, skipped = cuda_translation_unit(kernels, dtype)
    assert set(skipped) <= {"bessel_j0"}  # only what C99 cannot print
    cu = tmp_path / f"kernels_{dtype}.cu"
    cu.write_text(source)
    proc = subprocess.run(
        [NVCC, "-c", "-O3", "-Werror", "all-warnings", str(cu), "-o", str(tmp_path / "k.o")],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "k.o").stat().st_size > 0


def test_float32_cuda_uses_float_functions():
    source, _ = cuda_translation_unit([catalog()["gelu"]], "float32")
    assert "erff(" in source and "double" not in source


def test_cupy_is_unavailable_with_a_reason_without_a_gpu():
    b = get_backend("cupy")
    reason = b.unavailable_reason()
    if reason is None:
        pytest.skip("a CUDA device is present")
    assert "cupy" in reason or "CUDA" in reason
    with pytest.raises(Unavailable):
        b.compile(catalog()["add"], "float64", "gpu:0")
