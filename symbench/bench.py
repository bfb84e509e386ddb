"""The prepare path every benchmark harness shares (symbench run, asv, pytest-benchmark).

``prepare`` compiles (timed separately), judges equivalence once against the reference,
creates deterministic inputs, places them on the device and warms up. The returned
``Prepared.call`` evaluates once and synchronizes the device: it is exactly what the
timing core times, so every harness measures the same thing.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .backends import Compiled, get_backend
from .equivalence import CheckResult, check_one
from .errors import Unsupported
from .inputs import DEFAULT_SEED, make_inputs
from .kernels import get_kernel
from .timing import device_call


class NotCorrect(Unsupported):
    """The pair did not pass equivalence, so it is not benchmarked."""


@dataclass
class Prepared:
    compiled: Compiled
    check: CheckResult
    call: Callable[[], Any]
    compile_s: float
    size: int


def prepare(
    kernel: str,
    backend: str,
    dtype: str,
    size: int,
    device: str = "cpu",
    *,
    seed: int = DEFAULT_SEED,
) -> Prepared:
    """Compile, check and warm up one pair. Raises ``Unavailable``, ``Unsupported`` or
    ``NotCorrect`` (a subclass of Unsupported) for pairs that must not be timed."""
    k, b = get_kernel(kernel), get_backend(backend)
    start = time.perf_counter()
    compiled = b.compile(k, dtype, device)
    compile_s = time.perf_counter() - start
    result = check_one(k, b, dtype, device, seed=seed, compiled=compiled)
    if result.status != "pass":
        raise NotCorrect(f"{kernel}/{backend}/{dtype}: {result.status} {result.reason}".strip())
    call = device_call(compiled, make_inputs(k, size, dtype, seed))
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # NaN at a special point is judged
        call()  # warm-up: first-call compilation and caches stay out of the timed region
    return Prepared(compiled, result, call, compile_s, size)
