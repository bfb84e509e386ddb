"""``symbench run``, the main job: equivalence first, then timing, then one run record."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from .backends import Backend, get_backend
from .equivalence import DEFAULT_SIZE, check_matrix, matrix_size
from .inputs import DEFAULT_SEED, inputs_hash, make_inputs
from .kernels import Kernel
from .kernels.core import DTYPES
from .kernels.storage import kernel_to_dict
from .records import Store, new_record, new_result, new_run_id, now_iso, text_sha256
from .records.provenance import collect
from .records.summary import boundness, summarize, variant_gains
from .roofline import (
    DEFAULT_ELEMENTS,
    MIN_CEILING_ELEMENTS,
    ceiling,
    ceiling_elements,
    peak_at,
    size_key,
    traffic_bytes,
)
from .timing import (
    DEFAULT_MIN_SAMPLE_S,
    DEFAULT_REPEATS,
    STEADY_MALLOC,
    device_call,
    latencies_from_samples,
    latencies_round_robin,
    round_robin,
    served_call,
    steady_malloc,
    time_end_to_end,
    timed_is_served,
)

# The default run: a call's fixed cost (1), the crossover where it still counts (10^3), and
# throughput (10^5; 0.8 MB per float64 array, past the L2 cache of most CPUs). 10^6 is
# asked for (--sizes 1,1e3,1e6): at 10^6 one call of each of the default 231 pairs adds up
# to 9-11 s on the 2-core development VM, and a first call, warm-up, 5 samples and the
# served-call latencies made the warm default run 148-157 s against 84-88 s without it.
DEFAULT_SIZES = (1, 1_000, 100_000)
INPUT_BUDGET_BYTES = 2 * 2**30  # inputs held at once (round-robin holds many pairs' inputs)
MAX_ELEMENTS = INPUT_BUDGET_BYTES // 8  # the largest size: one float64 input in the budget
# --quick: one kernel per character (memory-bound, special point, special function, many
# inputs, big expression) at sizes that keep it to about a minute once builds are cached.
QUICK_KERNELS = ("add", "sinc", "gelu", "black_scholes", "hydrogen_sum8")
QUICK_SIZES = (1, 1_000, 100_000)


@dataclass
class RunSettings:
    sizes: tuple[int, ...] = DEFAULT_SIZES
    dtypes: tuple[str, ...] = DTYPES
    repeats: int = DEFAULT_REPEATS
    # A pair whose samples at a size would take longer than max_time_s gets fewer, down to
    # min_repeats (asv's repeat=(min, max, max_time)); 5 is what the records gate needs.
    min_repeats: int = 5
    max_time_s: float = 0.05
    min_sample_s: float = DEFAULT_MIN_SAMPLE_S
    seed: int = DEFAULT_SEED
    check_size: int = DEFAULT_SIZE
    devices: tuple[str, ...] | None = None
    quick: bool = False
    measure_bandwidth: bool = True
    bandwidth_elements: int = DEFAULT_ELEMENTS
    latency_s: float = 0.03  # per size: single-call latencies for p50/p99 (0: none)
    # Round-robin sampling holds the inputs of many pairs at once; more are timed in groups.
    input_budget_bytes: int = INPUT_BUDGET_BYTES
    sampling: str = "round-robin"  # over all pairs at a size (recorded for comparisons)
    threads: int | None = None  # threads of every threaded backend (None: each one's default)
    # Samples write into one output allocated beforehand where the backend can (a fresh
    # output's page faults are not the kernel); latencies are of the served, allocating call.
    outputs: str = "preallocated where supported"
    # Every timed host array starts at a fixed offset in its pages (timing.placed).
    layout: str = "fixed page offsets"
    # malloc's thresholds, fixed for the run where the C library allows (timing.steady_malloc)
    malloc: str = STEADY_MALLOC


class Reporter:
    """Progress callbacks; the CLI draws bars, the library default stays silent."""

    def phase(self, name: str, total: int) -> None: ...

    def advance(self, description: str) -> None: ...


@dataclass
class TimingJob:
    """One passing pair to time at every size; ``out`` receives ``again_s`` and
    ``timings``, and ``error`` says why a pair that broke while timing stopped."""

    kernel: Kernel
    backend: Backend
    dtype: str
    device: str
    bandwidth: dict[str, Any] | None = None  # the run's ceilings for this device
    out: dict[str, Any] = field(default_factory=lambda: {"again_s": None, "timings": []})
    error: str | None = None
    compiled: Any = None


def time_pair(
    kernel: Kernel,
    backend: Backend,
    dtype: str,
    device: str,
    settings: RunSettings,
    bandwidth: dict[str, Any] | None,
    on_size: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Compile again (a cache hit where the backend caches) and time every size."""
    job = TimingJob(kernel, backend, dtype, device, bandwidth)
    time_jobs([job], settings, on_size=lambda _, size: on_size(size) if on_size else None)
    if job.error is not None:
        raise RuntimeError(job.error)
    return job.out


def time_jobs(
    jobs: list[TimingJob],
    settings: RunSettings,
    on_size: Callable[[TimingJob, int], None] | None = None,
) -> None:
    """Time every job at every size, size by size, with the samples of all jobs at one size
    taken round-robin (``timing.round_robin``), so that load that comes and goes during a
    run spreads over every pair instead of landing on a few. Jobs are grouped so that the
    inputs held at once stay within ``settings.input_budget_bytes``."""
    for job in jobs:
        try:
            job.compiled = job.backend.compile(job.kernel, job.dtype, job.device)
            job.out["again_s"] = job.compiled.compile_s
        except Exception as exc:
            job.error = f"{type(exc).__name__}: {exc}"
    for size in settings.sizes:
        for group in _groups([j for j in jobs if j.error is None], size, settings):
            _time_group(group, size, settings, on_size)
    for job in jobs:
        job.compiled = None


def _input_bytes(job: TimingJob, size: int) -> int:
    return (len(job.kernel.args) + 1) * size * np.dtype(job.dtype).itemsize


def _groups(jobs: list[TimingJob], size: int, settings: RunSettings):
    group: list[TimingJob] = []
    held = 0
    for job in jobs:
        need = 2 * _input_bytes(job, size)  # host inputs and the device's copy
        if group and held + need > settings.input_budget_bytes:
            yield group
            group, held = [], 0
        group.append(job)
        held += need
    if group:
        yield group


def _time_group(group, size: int, settings: RunSettings, on_size) -> None:
    inputs_by: dict[tuple[str, str], list[np.ndarray]] = {}
    hashes: dict[tuple[str, str], str] = {}  # hashed once per kernel and dtype, not per pair
    ready, calls, served, firsts, warmed = [], [], [], [], []
    for job in group:
        key = (job.kernel.name, job.dtype)
        if key not in inputs_by:
            inputs_by[key] = make_inputs(job.kernel, size, job.dtype, settings.seed)
            hashes[key] = inputs_hash(inputs_by[key])
        try:
            with np.errstate(all="ignore"):  # NaN at special points is judged, not warned
                start = time.perf_counter()
                job.compiled(*inputs_by[key])  # first call: transfers, lazy JIT, cold caches
                firsts.append(time.perf_counter() - start)
            # inputs moved to the device once; samples into a preallocated output where the
            # backend can write into one; latencies of the call symbench.compile hands out
            calls.append(device_call(job.compiled, inputs_by[key]))
            served.append(served_call(job.compiled, inputs_by[key]))
            # the first call was of the timed function itself: it was the warm-up
            warmed.append(firsts[-1] if timed_is_served(job.compiled) else None)
            ready.append(job)
        except Exception as exc:
            job.error = f"{type(exc).__name__}: {exc}"
    timings = round_robin(
        calls,
        repeats=settings.repeats,
        min_sample_s=settings.min_sample_s,
        warmup=1,
        min_repeats=settings.min_repeats,
        max_time_s=settings.max_time_s,
        warmed=warmed,
    )
    timed = [i for i, t in enumerate(timings) if not isinstance(t, Exception)]
    lats: dict[int, dict[str, Any] | Exception | None] = dict.fromkeys(timed)
    if settings.latency_s > 0:  # the calls symbench.compile hands out, round-robin too
        for i in timed:
            if warmed[i] is not None:  # samples of the served call itself, if one call each
                lats[i] = latencies_from_samples(timings[i], settings.latency_s)
        fresh = [i for i in timed if lats[i] is None]
        found = latencies_round_robin(
            [served[i] for i in fresh],
            budget_s=settings.latency_s,
            typical_s=[timings[i].min for i in fresh],
        )
        lats.update(zip(fresh, found))
    for i, (job, first, t) in enumerate(zip(ready, firsts, timings)):
        if isinstance(t, Exception) or isinstance(lats[i], Exception):
            broke = t if isinstance(t, Exception) else lats[i]
            job.error = f"{type(broke).__name__}: {broke}"
            continue
        try:
            key = (job.kernel.name, job.dtype)
            job.out["timings"].append(
                _timing_entry(job, size, inputs_by[key], hashes[key], lats[i], first, t, settings)
            )
        except Exception as exc:
            job.error = f"{type(exc).__name__}: {exc}"
        if on_size:
            on_size(job, size)


def _timing_entry(
    job: TimingJob, size, inputs, inputs_sha256, latency, first, t, settings
) -> dict[str, Any]:
    end_to_end = None
    if job.device != "cpu":  # an accelerator: the transfers are reported separately
        e2e = time_end_to_end(
            job.compiled, inputs, repeats=settings.repeats, min_sample_s=settings.min_sample_s
        )
        end_to_end = {
            "median_s": e2e.median,
            "min_s": e2e.min,
            "transfer_s": e2e.median - t.median,
            "samples": e2e.samples,
            "loops": e2e.loops,
        }
    nbytes = traffic_bytes(len(job.kernel.args), size, job.dtype)
    gbs = nbytes / t.median / 1e9
    return t.to_dict() | {
        "size": size,
        "output": "preallocated" if job.compiled.fn_out is not None else "allocated",
        "first_call_s": first,
        "elements_per_s": size / t.median,
        "bytes": nbytes,
        "gbs": gbs,
        "bw_fraction": gbs / peak if (peak := peak_at(job.bandwidth, size, job.dtype)) else None,
        "inputs_sha256": inputs_sha256,
        "latency": latency,
        "end_to_end": end_to_end,
    }


def run(
    kernels: list[Kernel],
    backends: list[Backend],
    settings: RunSettings,
    store: Store,
    *,
    argv: list[str] | None = None,
    reporter: Reporter | None = None,
) -> tuple[dict[str, Any], Path]:
    """Check, time and record. The store is proven writable before anything is measured."""
    reporter = reporter or Reporter()
    store.ensure_writable()
    settings = replace(settings, malloc=steady_malloc())
    if settings.threads is not None:
        for b in backends:
            b.set_threads(settings.threads)
    run_id, created = new_run_id(), now_iso()
    started = time.perf_counter()
    devices = list(settings.devices) if settings.devices else None
    dtypes = list(settings.dtypes)

    phases: dict[str, float] = {}  # wall seconds of each phase, recorded as phases_s
    mark = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal mark
        now = time.perf_counter()
        phases[name] = now - mark
        mark = now

    reporter.phase("check", matrix_size(kernels, backends, dtypes, devices))
    checks = check_matrix(
        kernels,
        backends,
        dtypes,
        devices,
        size=settings.check_size,
        seed=settings.seed,
        on_result=lambda r: reporter.advance(f"{r.kernel} {r.backend} {r.dtype}"),
    )

    lap("check")
    bw = {}
    if settings.measure_bandwidth:
        for dev in sorted({c.device for c in checks if c.status == "pass"}):
            measured = ceiling(dev, elements=settings.bandwidth_elements)
            if measured:
                # Again at each timed size: a working set that fits a cache is judged
                # against that cache, not against memory.
                measured["by_size"] = {
                    size_key(n, dt): ceiling(dev, elements=ceiling_elements(n, dt))
                    for n in settings.sizes
                    if n >= MIN_CEILING_ELEMENTS
                    for dt in dtypes
                }
                bw[dev] = measured

    lap("bandwidth")
    by_name = {k.name: k for k in kernels}
    # The backend objects that were checked are the ones timed (a caller's own Backend
    # instance too, not a fresh one from the registry under the same id).
    by_id = {b.id: b for b in backends}
    passing = [c for c in checks if c.status == "pass"]
    reporter.phase("time", len(passing) * len(settings.sizes))
    sources: dict[str, dict[str, str]] = {}
    results = []
    jobs: dict[int, TimingJob] = {}
    for c in checks:
        entry = new_result(**c.to_dict())
        if c.source is not None:
            sha = text_sha256(c.source)
            sources[sha] = {"language": c.build.get("language", ""), "text": c.source}
            entry["source_sha256"] = sha
        # first_s was measured while other pairs compiled on other threads; again_s (timing
        # phase, serial) and cold_build_s (recorded by the build cache when the build was
        # made: Cython, ufuncify, numba) are not.
        entry["compile"] = {
            "first_s": c.compile_s,
            "cache_hit": c.build.get("cache_hit"),
            "cold_build_s": c.build.get("cold_build_s"),
        }
        if c.status == "pass":
            b = by_id.get(c.backend) or get_backend(c.backend)
            jobs[len(results)] = TimingJob(
                by_name[c.kernel], b, c.dtype, c.device, bw.get(c.device)
            )
        results.append(entry)
    time_jobs(
        list(jobs.values()),
        settings,
        on_size=lambda j, s: reporter.advance(f"{j.kernel.name} {j.backend.id} {j.dtype} n={s}"),
    )
    lap("timing")
    for i, job in jobs.items():
        results[i]["compile"]["again_s"] = job.out["again_s"]
        if job.error is None:
            results[i]["timings"] = job.out["timings"]
        else:  # a pair that broke while timing keeps its check result
            results[i]["timing_error"] = job.error

    # Inputs already hashed while timing are not generated a second time.
    hashed = {
        f"{r['kernel']}/{r['dtype']}/{t['size']}": t["inputs_sha256"]
        for r in results
        for t in r.get("timings", [])
    }
    record = new_record(
        run_id,
        created,
        results,
        duration_s=None,
        provenance=collect(argv),
        settings=asdict(settings),
        bandwidth=bw,
        kernels={k.name: kernel_to_dict(k) for k in kernels},
        inputs={
            f"{k.name}/{dt}/{n}": hashed.get(f"{k.name}/{dt}/{n}")
            or inputs_hash(make_inputs(k, n, dt, settings.seed))
            for k in kernels
            for dt in dtypes
            for n in sorted({*settings.sizes, settings.check_size})
        },
        sources=sources,
    )
    record["summary"] = summarize(record)
    record["boundness"] = boundness(record)
    record["variants"] = variant_gains(record)
    lap("record")
    record["phases_s"] = phases
    record["duration_s"] = time.perf_counter() - started
    path = store.save(record)
    return record, path
