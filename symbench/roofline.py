"""Roofline context: the memory bandwidth of a device, measured in the same run.

STREAM-like copy (``b = a``) and add (``c = a + b``) on arrays far larger than the caches,
timed through the same measurement core; bytes are counted as STREAM does (copy 2 arrays,
add 3), ignoring write-allocate traffic.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .backends import backend_ids, get_backend
from .timing import measure

DEFAULT_ELEMENTS = 1 << 24  # 128 MiB per float64 array


def cpu_bandwidth(elements: int = DEFAULT_ELEMENTS, repeats: int = 5) -> dict[str, Any]:
    a = np.random.default_rng(0).random(elements)
    b = np.empty_like(a)
    c = np.empty_like(a)
    copy = measure(lambda: np.copyto(b, a), repeats=repeats, warmup=1)
    add = measure(lambda: np.add(a, b, out=c), repeats=repeats, warmup=1)
    return _result("cpu", "numpy copyto / add, single thread", a.nbytes, copy, add)


def cupy_bandwidth(device: str, elements: int = DEFAULT_ELEMENTS, repeats: int = 5):
    """Copy and add on the GPU with CuPy, the stream synchronized inside each sample."""
    import cupy

    with cupy.cuda.Device(int(device.partition(":")[2] or 0)):
        a = cupy.random.default_rng(0).random(elements)
        b, c = cupy.empty_like(a), cupy.empty_like(a)
        stream = cupy.cuda.get_current_stream()

        def copy():
            cupy.copyto(b, a)
            stream.synchronize()

        def add():
            cupy.add(a, b, out=c)
            stream.synchronize()

        return _result(device, "cupy copyto / add", a.nbytes, measure(copy, repeats=repeats),
                       measure(add, repeats=repeats))  # fmt: skip


def jax_bandwidth(device: str, elements: int = DEFAULT_ELEMENTS, repeats: int = 5):
    """Add (and a copy as ``a + 0`` fused into one pass) on any device JAX sees: the same
    code for a GPU, a TPU or, in the tests, the CPU."""
    import jax
    import jax.numpy as jnp

    platform, _, index = device.partition(":")
    dev = jax.devices(platform)[int(index or 0)]
    a = jax.device_put(np.random.default_rng(0).random(elements, dtype=np.float32), dev)
    b = jax.device_put(np.ones(elements, dtype=np.float32), dev)
    add_fn = jax.jit(lambda x, y: x + y)
    copy_fn = jax.jit(lambda x: x + jnp.float32(0))
    copy = measure(lambda: copy_fn(a).block_until_ready(), repeats=repeats)
    add = measure(lambda: add_fn(a, b).block_until_ready(), repeats=repeats)
    return _result(device, f"jax.jit x+0 / x+y on {dev.device_kind}", a.nbytes, copy, add)


def _result(device: str, method: str, nbytes: int, copy, add) -> dict[str, Any]:
    return {
        "device": device,
        "method": method,
        "array_bytes": nbytes,
        "copy_gbs": 2 * nbytes / copy.min / 1e9,
        "add_gbs": 3 * nbytes / add.min / 1e9,
        "copy_samples_s": copy.samples,
        "add_samples_s": add.samples,
    }


def bandwidth(device: str = "cpu", **kwargs) -> dict[str, Any] | None:
    """Measured bandwidth of ``device``: NumPy on the CPU; elsewhere the first backend that
    can measure it (``Backend.measure_bandwidth``: CuPy on an NVIDIA GPU where installed,
    else JAX on whatever device it sees); None when none can measure."""
    if device == "cpu":
        return cpu_bandwidth(**kwargs)
    # A library made for the device alone (CuPy) measures before a general one (JAX).
    candidates = sorted(
        (get_backend(i) for i in backend_ids()), key=lambda b: "cpu" in b.device_kinds
    )
    for backend in candidates:
        if backend.unavailable_reason() is None:
            found = backend.measure_bandwidth(device, **kwargs)
            if found is not None:
                return found
    return None


def peak_gbs(bw: dict[str, Any] | None) -> float | None:
    return max(bw["copy_gbs"], bw["add_gbs"]) if bw else None


def traffic_bytes(nargs: int, size: int, dtype: str) -> int:
    """Bytes a kernel must move at least: every input read once, the output written once."""
    return (nargs + 1) * size * np.dtype(dtype).itemsize
