"""``cupy``: one fused ``cupy.ElementwiseKernel`` per expression on an NVIDIA GPU, its body a
``__device__`` function printed by SymPy's C99 printer (CUDA's math library has the C99
names: ``sin``/``sinf``, ``erf``, ``tgamma``). Compiled by NVRTC on first call, cached by CuPy.
"""

from __future__ import annotations

from ..errors import Unavailable, Unsupported
from ..kernels.core import Kernel
from ..roofline import cupy_bandwidth
from .base import Backend, Compiled
from .codegen import C_TYPES, c_function


def cuda_source(kernel: Kernel, dtype: str, name: str = "sb_kernel") -> tuple[str, str, str, str]:
    """(preamble, in_params, out_params, operation) of the ElementwiseKernel.

    Raises ``Unsupported`` when the C99 printer cannot express the kernel.
    """
    ctype = C_TYPES[dtype]
    preamble = c_function(kernel, dtype, name, qualifiers="__device__ static inline")
    n = len(kernel.args)
    in_params = ", ".join(f"{ctype} a{i}" for i in range(n))
    operation = f"out = {name}({', '.join(f'a{i}' for i in range(n))})"
    return preamble, in_params, f"{ctype} out", operation


def cuda_translation_unit(kernels: list[Kernel], dtype: str) -> tuple[str, list[str]]:
    """One .cu file with each kernel's device function and a ``__global__`` loop around it,
    as CuPy's ElementwiseKernel would instantiate it; returns (source, unsupported names).
    Lets nvcc check the generated code on a machine without a GPU."""
    ctype = C_TYPES[dtype]
    parts, skipped = ["#include <math.h>"], []
    for k in kernels:
        name = f"sb_{k.name}"
        try:
            preamble, _, _, _ = cuda_source(k, dtype, name)
        except Unsupported:
            skipped.append(k.name)
            continue
        n = len(k.args)
        params = ", ".join(f"const {ctype}* __restrict__ a{i}" for i in range(n))
        items = ", ".join(f"a{i}[i]" for i in range(n))
        parts.append(preamble)
        parts.append(
            f'extern "C" __global__ void {name}_loop({params}, {ctype}* __restrict__ out, '
            f"long long n) {{\n    long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x;\n"
            f"    if (i < n) out[i] = {name}({items});\n}}\n"
        )
    return "\n".join(parts), skipped


class CupyBackend(Backend):
    id = "cupy"
    library = "cupy"
    requires = ("cupy",)
    device_kinds = ("gpu",)
    packages = ("cupy", "cupy-cuda12x")
    requirements = {"gpu": ("cupy-cuda12x>=13",)}

    def measure_bandwidth(self, device: str, **kwargs) -> dict | None:
        if device not in self.devices():
            return None
        return cupy_bandwidth(device, **kwargs)

    def check_available(self) -> None:
        import importlib.util

        if importlib.util.find_spec("cupy") is None:
            raise Unavailable(
                "cupy is not installed (pip install 'symbench[gpu]' on a CUDA machine)"
            )
        super().check_available()
        import cupy

        try:
            count = cupy.cuda.runtime.getDeviceCount()
        except Exception as exc:  # CUDARuntimeError when there is no driver or no device
            raise Unavailable(f"no CUDA device: {exc}") from None
        if count == 0:
            raise Unavailable("no CUDA device")

    def devices(self) -> list[str]:
        if self.unavailable_reason():
            return []
        import cupy

        return [f"gpu:{i}" for i in range(cupy.cuda.runtime.getDeviceCount())]

    def compile(self, kernel: Kernel, dtype: str, device: str = "gpu:0") -> Compiled:
        if device == "cpu":
            self.check_available()
            raise Unsupported("cupy runs on GPUs only; use --device gpu:0")
        return super().compile(kernel, dtype, device)

    def _compile(self, kernel: Kernel, dtype: str, device: str) -> Compiled:
        import cupy

        preamble, in_params, out_params, operation = cuda_source(kernel, dtype)
        name = f"sb_{kernel.name}_{dtype}"
        ew = cupy.ElementwiseKernel(in_params, out_params, operation, name, preamble=preamble)
        index = int(device.partition(":")[2] or 0)
        dev = cupy.cuda.Device(index)

        def to_device(arrays):
            with dev:
                return [cupy.asarray(a) for a in arrays]

        def sync(out):
            cupy.cuda.get_current_stream().synchronize()
            return out

        return self._result(
            kernel,
            dtype,
            device,
            ew,
            f"{preamble}\n// ElementwiseKernel({in_params!r}, {out_params!r}, {operation!r})\n",
            language="cuda",
            build={"compiler": "nvrtc (cupy.ElementwiseKernel)", "cupy": cupy.__version__},
            fn_out=lambda *arrays_and_out: ew(*arrays_and_out),  # output parameters go last
            to_device=to_device,
            sync=sync,
            to_host=cupy.asnumpy,
        )
