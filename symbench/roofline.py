"""Roofline context: the memory bandwidth of a device, measured in the same run.

STREAM-like copy (``b = a``) and add (``c = a + b``) on arrays far larger than the caches,
timed through the same measurement core; bytes are counted as STREAM does (copy 2 arrays,
add 3), ignoring write-allocate traffic.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .timing import measure

DEFAULT_ELEMENTS = 1 << 24  # 128 MiB per float64 array


def cpu_bandwidth(elements: int = DEFAULT_ELEMENTS, repeats: int = 5) -> dict[str, Any]:
    a = np.random.default_rng(0).random(elements)
    b = np.empty_like(a)
    c = np.empty_like(a)
    copy = measure(lambda: np.copyto(b, a), repeats=repeats, warmup=1)
    add = measure(lambda: np.add(a, b, out=c), repeats=repeats, warmup=1)
    nbytes = a.nbytes
    return {
        "device": "cpu",
        "method": "numpy copyto / add, single thread",
        "array_bytes": nbytes,
        "copy_gbs": 2 * nbytes / copy.min / 1e9,
        "add_gbs": 3 * nbytes / add.min / 1e9,
        "copy_samples_s": copy.samples,
        "add_samples_s": add.samples,
    }


def bandwidth(device: str = "cpu", **kwargs) -> dict[str, Any] | None:
    """Measured bandwidth of ``device`` (None where no measurement exists for it yet)."""
    if device == "cpu":
        return cpu_bandwidth(**kwargs)
    return None


def peak_gbs(bw: dict[str, Any] | None) -> float | None:
    return max(bw["copy_gbs"], bw["add_gbs"]) if bw else None


def traffic_bytes(nargs: int, size: int, dtype: str) -> int:
    """Bytes a kernel must move at least: every input read once, the output written once."""
    return (nargs + 1) * size * np.dtype(dtype).itemsize
