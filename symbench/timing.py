"""The measurement core: warm-up, calibration, repeated samples, device sync.

Every benchmark path (``symbench run``, asv, pytest-benchmark) times through here, so the
discipline lives in one place: the callable is compiled and warmed up before timing; the
loop count is calibrated so one sample lasts at least ``min_sample_s`` (one call per sample
when a call is slower); each sample's calls include the device synchronization (JAX
``block_until_ready``, CUDA stream sync), so asynchronous backends are timed to completion;
the garbage collector is paused while sampling, as ``timeit`` does; every raw sample is kept.
"""

from __future__ import annotations

import contextlib
import gc
import math
import os
import statistics
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from .backends import backend_ids, get_backend

DEFAULT_REPEATS = 7
# Thread settings of the libraries under every backend (OpenMP, BLAS); each backend adds
# its own in ``Backend.thread_env``.
COMMON_THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
DEFAULT_MIN_SAMPLE_S = 0.01

# glibc's malloc raises its mmap threshold each time a process frees a block mapped above
# it, so whether a NumPy temporary or a fresh output (8 MB at 10^6 float64) is mapped and
# page-faulted in on every call depends on what the process did before: the same NumPy
# kernel ran 36-60 % faster late in one process than early in another. Fixing the
# thresholds at the values the moving one tops out at (32 MiB on 64-bit) makes every
# timing the steady state of a long-lived process, from the first call on.
MMAP_THRESHOLD = 32 * 2**20
TRIM_THRESHOLD = 128 * 2**20
STEADY_MALLOC = f"glibc mallopt: mmap_threshold={MMAP_THRESHOLD}, trim_threshold={TRIM_THRESHOLD}"
SYSTEM_MALLOC = "system default"
# The same thresholds for a process started with them (the gate's workers).
GLIBC_TUNABLES = (
    f"glibc.malloc.mmap_threshold={MMAP_THRESHOLD}:glibc.malloc.trim_threshold={TRIM_THRESHOLD}"
)


@dataclass
class Timing:
    """Seconds per call: one value per sample, each the mean over ``loops`` calls."""

    samples: list[float]
    loops: int
    warmup_calls: int
    calibration_s: float = 0.0

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def min(self) -> float:
        return min(self.samples)

    @property
    def iqr(self) -> float:
        q1, q3 = np.percentile(self.samples, [25, 75])
        return float(q3 - q1)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.update(median_s=self.median, iqr_s=self.iqr, min_s=self.min)
        return d


def steady_malloc() -> str:
    """Fix glibc's malloc thresholds in this process (``mallopt``; the gate's workers get
    the same through ``GLIBC_TUNABLES``). Returns what is in force: ``STEADY_MALLOC``, or
    ``SYSTEM_MALLOC`` where the C library has no glibc ``mallopt`` (macOS, musl)."""
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return SYSTEM_MALLOC
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    m_trim_threshold, m_mmap_threshold = -1, -3  # <malloc.h>
    fixed = mallopt(m_mmap_threshold, MMAP_THRESHOLD) == 1
    fixed = mallopt(m_trim_threshold, TRIM_THRESHOLD) == 1 and fixed
    return STEADY_MALLOC if fixed else SYSTEM_MALLOC


def _run(call: Callable[[], Any], loops: int) -> float:
    start = time.perf_counter()
    for _ in range(loops):
        call()
    return time.perf_counter() - start


@contextlib.contextmanager
def _no_fp_warnings():
    """A kernel's NaN at a special point is judged by the harness, not printed per call."""
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


@contextlib.contextmanager
def _quiet():
    """While sampling: no garbage collection, as timeit does."""
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if gc_was_enabled:
            gc.enable()


def calibrate(
    call: Callable[[], Any],
    min_sample_s: float = DEFAULT_MIN_SAMPLE_S,
    *,
    warm_call_s: float | None = None,
) -> int:
    """Loops per sample, so that one sample lasts about ``min_sample_s``.

    A call that already lasts that long (``warm_call_s``: a warm-up call's time) is
    sampled alone, with no calibration calls. Otherwise runs of 1, 10, 100 ... calls until
    one lasts a tenth of ``min_sample_s``, and the loop count follows from its time per
    call. (timeit's ``autorange`` runs 1, 2, 5, 10 ... calls up to a whole sample: that
    costs about two samples' time per pair and overshoots the sample up to 2.5 times.)"""
    return _calibrated(call, min_sample_s, warm_call_s)[0]


def _calibrated(call, min_sample_s, warm_call_s=None) -> tuple[int, float]:
    """(loops, estimated seconds per call)."""
    if warm_call_s is not None and warm_call_s >= min_sample_s:
        return 1, warm_call_s
    loops = 1
    while True:
        elapsed = _run(call, loops)
        if elapsed >= min_sample_s:
            return loops, elapsed / loops
        if elapsed >= min_sample_s / 10:
            per_call = max(elapsed, 1e-9) / loops
            return max(loops, math.ceil(min_sample_s / per_call)), per_call
        loops *= 10


def measure(
    call: Callable[[], Any],
    *,
    repeats: int = DEFAULT_REPEATS,
    min_sample_s: float = DEFAULT_MIN_SAMPLE_S,
    warmup: int = 2,
) -> Timing:
    """Time ``call`` (which must include its own device sync) in ``repeats`` samples."""
    (timing,) = round_robin([call], repeats=repeats, min_sample_s=min_sample_s, warmup=warmup)
    if isinstance(timing, Exception):
        raise timing
    return timing


def round_robin(
    calls: list[Callable[[], Any]],
    *,
    repeats: int = DEFAULT_REPEATS,
    min_sample_s: float = DEFAULT_MIN_SAMPLE_S,
    warmup: int = 2,
    shared_loops: bool = False,
    min_repeats: int | None = None,
    max_time_s: float | None = None,
    warmed: list[float | None] | None = None,
) -> list[Timing | Exception]:
    """Samples of several callables taken in turns: round ``i`` takes sample ``i`` of each
    (odd rounds in reverse order), so a burst of load or a drift of the machine's speed is
    spread over all of them instead of shifting one block of them, which a comparison of
    two runs would take for a code change. Each callable is warmed up and calibrated first,
    on its own loop count or (``shared_loops``) all on the largest. One that raises keeps
    the exception in its place, and the others go on.

    With ``max_time_s`` (asv's ``repeat=(min, max, max_time)``, per callable), a callable
    whose ``repeats`` samples would take longer than that gets fewer, down to
    ``min_repeats``, and sits out the last rounds: slow calls need fewer samples to be
    measured well, and a run's time goes where the spread is.

    ``warmed[i]``, where not None, is the time of a call of ``calls[i]`` the caller has
    just made (the same function on the same inputs): it stands in for the warm-up calls
    and for the first calibration run.
    """
    if repeats < 1:
        raise ValueError("repeats must be at least 1")
    n = len(calls)
    failed: list[Exception | None] = [None] * n
    loops = [1] * n
    per_call = [0.0] * n
    calibration_s = [0.0] * n
    samples: list[list[float]] = [[] for _ in calls]
    warmed = warmed or [None] * n
    warmups = [warmup if w is None else 0 for w in warmed]
    with _no_fp_warnings():
        for i, call in enumerate(calls):
            try:
                warm_s = warmed[i]
                for _ in range(warmups[i]):
                    start = time.perf_counter()
                    call()
                    warm_s = time.perf_counter() - start
                start = time.perf_counter()
                loops[i], per_call[i] = _calibrated(call, min_sample_s, warm_s)
                calibration_s[i] = time.perf_counter() - start
            except Exception as exc:
                failed[i] = exc
        if shared_loops:
            loops = [max(loops)] * n
        wanted = [repeats] * n
        if max_time_s is not None:
            floor = min(repeats, min_repeats or repeats)
            wanted = [
                max(floor, min(repeats, int(max_time_s / max(loops[i] * per_call[i], 1e-12))))
                for i in range(n)
            ]
        for r in range(repeats):
            with _quiet():
                for i in range(n) if r % 2 == 0 else reversed(range(n)):
                    if failed[i] is not None or r >= wanted[i]:
                        continue
                    try:
                        samples[i].append(_run(calls[i], loops[i]) / loops[i])
                    except Exception as exc:
                        failed[i] = exc
    return [
        failed[i] or Timing(samples[i], loops[i], warmups[i], calibration_s[i]) for i in range(n)
    ]


def interleave(
    call_a: Callable[[], Any],
    call_b: Callable[[], Any],
    *,
    pairs: int,
    min_sample_s: float = DEFAULT_MIN_SAMPLE_S,
    warmup: int = 2,
) -> tuple[Timing, Timing]:
    """Paired samples of two callables, taken alternately in ABBA order.

    Both run the same loop count (the larger of their calibrations), and sample ``i`` of
    ``a`` and of ``b`` sit next to each other in time, so a drift of the machine's speed
    (frequency, a neighbour's load) moves both alike and cancels in their ratio; the
    ABBA order also cancels a linear trend within each block. Used by ``gate --rerun``.
    """
    if pairs < 1:
        raise ValueError("pairs must be at least 1")
    # Two callables round-robin on one loop count: rounds alternate a b, b a = ABBA.
    a, b = round_robin(
        [call_a, call_b],
        repeats=pairs,
        min_sample_s=min_sample_s,
        warmup=warmup,
        shared_loops=True,
    )
    for timing in (a, b):
        if isinstance(timing, Exception):
            raise timing
    return a, b


LATENCY_CALLS = (3, 400)  # fewest and most single calls for the per-call percentiles


def latencies_round_robin(
    calls: list[Callable[[], Any]], *, budget_s: float, typical_s: list[float]
) -> list[dict[str, Any] | Exception]:
    """Per-call latencies (serving cares about the tail, which sample means hide): for each
    callable, as many single timed calls as fit in ``budget_s`` at its ``typical_s``, within
    LATENCY_CALLS, so fast kernels get hundreds of calls and slow ones a few (with fewer
    than 100 calls the p99 is close to the maximum; ``calls`` says how many).

    Taken in LATENCY_CALLS[0] rounds, a block of consecutive calls of each callable per
    round (alternate rounds reversed), as ``round_robin`` takes samples: a burst of load
    lands on a block of many callables, not on all the calls of one, whose p50 ``recommend``
    would then rank too low. Blocks, not single calls in turn: a served process calls one
    backend back to back, and a call right after another library's (whose thread pool may
    still spin) is not what it sees. p50/p90/p99/max and every raw value; a callable that
    raises keeps the exception in its place. The calls are warm (already timed)."""
    lo = LATENCY_CALLS[0]
    counts = [latency_calls(budget_s, t) for t in typical_s]
    taken: list[list[float]] = [[] for _ in calls]
    failed: list[Exception | None] = [None] * len(calls)
    clock = time.perf_counter
    with _no_fp_warnings(), _quiet():
        for r in range(lo):
            for i in range(len(calls)) if r % 2 == 0 else reversed(range(len(calls))):
                block = -(-counts[i] * (r + 1) // lo) - len(taken[i])  # spread evenly
                try:
                    for _ in range(block if failed[i] is None else 0):
                        start = clock()
                        calls[i]()
                        taken[i].append(clock() - start)
                except Exception as exc:
                    failed[i] = exc
    return [failed[i] or _percentiles(taken[i]) for i in range(len(calls))]


def latency_calls(budget_s: float, typical_s: float) -> int:
    """How many single calls ``latencies_round_robin`` takes of a call of ``typical_s``."""
    lo, hi = LATENCY_CALLS
    return int(min(hi, max(lo, budget_s / max(typical_s, 1e-9))))


def latencies_from_samples(timing: Timing, budget_s: float) -> dict[str, Any] | None:
    """The per-call latencies a Timing already holds: where every sample is one call
    (``loops == 1``) of the very call a caller makes (``timed_is_served``), its samples
    are single-call latencies, and where there are at least as many as
    ``latencies_round_robin`` would take within ``budget_s``, timing the call again would
    only add to the run's time. None otherwise."""
    if timing.loops != 1 or len(timing.samples) < latency_calls(budget_s, timing.min):
        return None
    return _percentiles(list(timing.samples)) | {"from": "timing samples"}


def _percentiles(out: list[float]) -> dict[str, Any]:
    p50, p90, p99 = np.percentile(out, [50, 90, 99])
    return {
        "calls": len(out),
        "p50_s": float(p50),
        "p90_s": float(p90),
        "p99_s": float(p99),
        "max_s": max(out),
        "samples": out,
    }


PAGE = 4096
SLOT = 256  # the k-th array of a call starts k * SLOT bytes past a page boundary


def placed(a: np.ndarray, slot: int) -> np.ndarray:
    """A copy of ``a`` starting ``slot * SLOT`` bytes (mod a page) past a page boundary.

    Where an array lands in memory changes a vectorized loop's speed: a 16-byte-aligned
    input against a 64-byte-aligned one, or an input and the output at the same offset in
    their pages (4K aliasing), moved the same kernel in two processes by more than 10 %
    here. Fixing every array's offset makes the layout the same in every process and run,
    so runs and gate sides compare the kernel, not where malloc put its arrays."""
    a = np.ascontiguousarray(a)
    offset = (slot * SLOT) % PAGE
    buf = np.empty(a.nbytes + PAGE + offset, dtype=np.uint8)
    start = (-buf.ctypes.data) % PAGE + offset
    out = buf[start : start + a.nbytes].view(a.dtype).reshape(a.shape)
    out[...] = a
    return out


def device_call(compiled, inputs: list[np.ndarray], preallocated: bool = True) -> Callable[[], Any]:
    """One synchronized evaluation on inputs moved to the kernel's device beforehand; with
    ``preallocated`` (and a backend that can, ``Compiled.fn_out``) into one output array
    allocated beforehand, so the kernel is timed without a fresh output's page faults. Host
    arrays sit at fixed offsets in their pages (``placed``)."""
    inputs = [placed(a, k) for k, a in enumerate(inputs)]
    device_inputs = compiled.to_device(inputs)
    sync = compiled.sync
    if preallocated and compiled.fn_out is not None:
        n = np.shape(inputs[0])[0]
        zeros = placed(np.zeros(n, dtype=compiled.dtype), len(inputs))
        out = compiled.to_device([zeros])[0]  # pages touched now
        fn_out = compiled.fn_out

        def call_into():
            return sync(fn_out(*device_inputs, out))

        return call_into
    fn = compiled.fn

    def call():
        return sync(fn(*device_inputs))

    return call


def served_function(compiled) -> Callable[..., Any]:
    """The function ``symbench.compile`` hands out, with as little in between as possible:
    on the CPU, NumPy arrays in and a new NumPy array out (a JAX result converted); on an
    accelerator, device arrays in and out."""
    if compiled.device != "cpu" or compiled.to_host is np.asarray and compiled.to_device is list:
        return compiled.fn  # host backends return NumPy; device backends keep device arrays
    fn, to_host = compiled.fn, compiled.to_host

    def to_numpy(*arrays):
        return np.asarray(to_host(fn(*arrays)))

    return to_numpy


def timed_is_served(compiled) -> bool:
    """Whether ``device_call`` times the very function ``symbench.compile`` hands out: a
    host backend that allocates its result (NumPy, numexpr, SymEngine). Its first call
    is then also its warm-up, and its one-call samples are served latencies."""
    return (
        compiled.device == "cpu"
        and compiled.fn_out is None
        and served_function(compiled) is compiled.fn
    )


def served_call(compiled, inputs: list[np.ndarray]) -> Callable[[], Any]:
    """One call of what ``symbench.compile`` hands out, on the arrays it takes (NumPy on
    the CPU, device arrays moved there beforehand on an accelerator), synchronized: the
    output is allocated by the call, as it is for a caller."""
    fn, sync = served_function(compiled), compiled.sync
    if compiled.device == "cpu":
        args = list(inputs)
        return lambda: fn(*args)  # NumPy out: nothing left to wait for
    args = compiled.to_device(inputs)
    return lambda: sync(fn(*args))


def time_end_to_end(compiled, inputs: list[np.ndarray], **kwargs) -> Timing:
    """Host arrays in, host array out: transfers to the device and back included. Beside
    the device-resident time it shows what a caller holding NumPy arrays pays."""
    return measure(lambda: compiled(*inputs), **kwargs)


def time_compiled(compiled, inputs: list[np.ndarray], **kwargs) -> Timing:
    """Steady-state time of a Compiled kernel on device-resident inputs, sync included.

    The inputs are moved to the compiled kernel's device once, outside the timed region.
    """
    return measure(device_call(compiled, inputs), **kwargs)


def thread_settings() -> dict[str, Any]:
    """Environment and library settings that decide how many threads kernels use (and how
    JAX takes device memory): OpenMP's and the BLAS libraries', then each registered
    backend's ``thread_env`` and ``runtime_settings()``."""
    backends = [get_backend(i) for i in backend_ids()]
    keys = dict.fromkeys(COMMON_THREAD_ENV + tuple(k for b in backends for k in b.thread_env))
    settings: dict[str, Any] = {k: os.environ.get(k) for k in keys}
    settings["cpu_count"] = os.cpu_count()
    if hasattr(os, "sched_getaffinity"):
        settings["affinity"] = len(os.sched_getaffinity(0))
    for b in backends:
        settings.update(b.runtime_settings())
    return settings
