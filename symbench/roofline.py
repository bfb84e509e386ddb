"""Roofline context: the memory bandwidth of a device, measured in the same run.

STREAM-like copy (``b = a``) and add (``c = a + b``) on all cores, timed through the same
measurement core, on arrays far larger than the caches and again at each timed size (so a
working set that fits a cache is judged against that cache's bandwidth); bytes are counted
as STREAM does (copy 2 arrays, add 3), ignoring write-allocate traffic.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .backends import backend_ids, get_backend
from .timing import measure

DEFAULT_ELEMENTS = 1 << 24  # 128 MiB per float64 array
# Below this many elements a call's fixed cost, not memory, sets the time: no ceiling.
MIN_CEILING_ELEMENTS = 1000


def cpu_bandwidth(elements: int = DEFAULT_ELEMENTS, repeats: int = 5) -> dict[str, Any]:
    """Copy and add with NumPy on one thread: the fallback when no threaded backend can
    measure all cores (``bandwidth``)."""
    return loop_bandwidth(
        lambda a, b: np.copyto(b, a),
        lambda a, b, c: np.add(a, b, out=c),
        "numpy copyto / add, single thread",
        elements=elements,
        repeats=repeats,
    )


def loop_bandwidth(
    copy_fn, add_fn, method: str, elements: int = DEFAULT_ELEMENTS, repeats: int = 5
) -> dict[str, Any]:
    """Copy and add with a backend's own loops ``copy_fn(a, b)`` and ``add_fn(a, b, c)``
    (float64, outputs preallocated), timed like every kernel."""
    a = np.random.default_rng(0).random(elements)
    b = np.empty_like(a)
    c = np.empty_like(a)
    copy = measure(lambda: copy_fn(a, b), repeats=repeats, warmup=1)
    add = measure(lambda: add_fn(a, b, c), repeats=repeats, warmup=1)
    return stream_result("cpu", method, a.nbytes, copy, add)


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

        return stream_result(device, "cupy copyto / add", a.nbytes,
                             measure(copy, repeats=repeats), measure(add, repeats=repeats))  # fmt: skip


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
    return stream_result(device, f"jax.jit x+0 / x+y on {dev.device_kind}", a.nbytes, copy, add)


def stream_result(device: str, method: str, nbytes: int, copy, add) -> dict[str, Any]:
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
    """Measured bandwidth of ``device``, through the first backend that can measure it
    (``Backend.measure_bandwidth``). On the CPU: all cores, with a threaded backend's own
    loops (numba-parallel's ``prange``), else NumPy on one thread. Elsewhere: CuPy on an
    NVIDIA GPU where installed, else JAX on whatever device it sees; None when none can."""
    backends = [get_backend(i) for i in backend_ids()]
    if device == "cpu":
        candidates = [b for b in backends if b.threaded and "cpu" in b.device_kinds]
    else:  # a library made for the device alone (CuPy) measures before a general one (JAX)
        candidates = sorted(backends, key=lambda b: "cpu" in b.device_kinds)
    for backend in candidates:
        if backend.unavailable_reason() is None:
            found = backend.measure_bandwidth(device, **kwargs)
            if found is not None:
                return found
    return cpu_bandwidth(**kwargs) if device == "cpu" else None


def single_thread_bandwidths(**kwargs) -> list[dict[str, Any]]:
    """Copy and add on one CPU thread: with each serial backend's own compiled loops
    (``Backend.measure_bandwidth`` of a backend that is not threaded: numba's) and with
    NumPy."""
    found = []
    for backend in (get_backend(i) for i in backend_ids()):
        if backend.threaded or backend.variant_of or "cpu" not in backend.device_kinds:
            continue
        if backend.unavailable_reason() is None:
            measured = backend.measure_bandwidth("cpu", **kwargs)
            if measured is not None:
                found.append(measured)
    return [*found, cpu_bandwidth(**kwargs)]


def ceiling(device: str = "cpu", **kwargs) -> dict[str, Any] | None:
    """The bandwidth a kernel on ``device`` is judged against at one working-set size: on
    the CPU the best of all cores (``bandwidth``) and one thread, compiled or NumPy
    (``single_thread_bandwidths``), because on small arrays a thread pool's dispatch, or
    NumPy's, costs more than the copy itself."""
    found = bandwidth(device, **kwargs)
    if device == "cpu" and found is not None:
        for single in single_thread_bandwidths(**kwargs):
            if single["method"] != found["method"] and peak_gbs(single) > peak_gbs(found):
                found = single
    return found


def ceiling_elements(size: int, dtype: str) -> int:
    """float64 elements of the ceiling for ``size`` elements of ``dtype``: arrays of as
    many bytes, so a float32 kernel is judged against the cache level its arrays sit in
    (float64 arrays of as many elements are twice as large and fall out of it)."""
    return max(1, size * np.dtype(dtype).itemsize // 8)


def size_key(size: int, dtype: str) -> str:
    return f"{dtype}/{size}"


def peak_at(bw: dict[str, Any] | None, size: int, dtype: str = "float64") -> float | None:
    """The ceiling (GB/s) a timing at ``size`` is judged against, from a run's bandwidth
    entry for one device: the one measured on arrays of as many bytes (``by_size``, keyed
    ``dtype/size``; runs before 2026-12-03 keyed it by size alone, in float64), else
    (below MIN_CEILING_ELEMENTS, where a call's fixed cost dominates) the large-array one."""
    if not bw:
        return None
    by_size = bw.get("by_size") or {}
    return peak_gbs(by_size.get(size_key(size, dtype)) or by_size.get(str(size)) or bw)


def peak_gbs(bw: dict[str, Any] | None) -> float | None:
    return max(bw["copy_gbs"], bw["add_gbs"]) if bw else None


def traffic_bytes(nargs: int, size: int, dtype: str) -> int:
    """Bytes a kernel must move at least: every input read once, the output written once."""
    return (nargs + 1) * size * np.dtype(dtype).itemsize
