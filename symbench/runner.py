"""``symbench run``, the main job: equivalence first, then timing, then one run record."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .backends import Backend, get_backend
from .equivalence import DEFAULT_SIZE, check_matrix, matrix_size
from .inputs import DEFAULT_SEED, inputs_hash, make_inputs
from .kernels import Kernel
from .kernels.core import DTYPES
from .kernels.storage import kernel_to_dict
from .provenance import collect
from .records import SCHEMA_VERSION, Store, new_run_id, now_iso, text_sha256
from .roofline import DEFAULT_ELEMENTS, bandwidth, peak_gbs, traffic_bytes
from .summary import boundness, summarize
from .timing import (
    DEFAULT_MIN_SAMPLE_S,
    DEFAULT_REPEATS,
    device_call,
    latencies,
    measure,
    time_end_to_end,
)

DEFAULT_SIZES = (1, 1_000, 1_000_000)
# --quick: one kernel per character (memory-bound, special point, special function, many
# inputs, big expression) at sizes that keep it to about a minute once builds are cached.
QUICK_KERNELS = ("add", "sinc", "gelu", "black_scholes", "hydrogen_sum8")
QUICK_SIZES = (1, 1_000, 100_000)


@dataclass
class RunSettings:
    sizes: tuple[int, ...] = DEFAULT_SIZES
    dtypes: tuple[str, ...] = DTYPES
    repeats: int = DEFAULT_REPEATS
    min_sample_s: float = DEFAULT_MIN_SAMPLE_S
    seed: int = DEFAULT_SEED
    check_size: int = DEFAULT_SIZE
    devices: tuple[str, ...] | None = None
    quick: bool = False
    measure_bandwidth: bool = True
    bandwidth_elements: int = DEFAULT_ELEMENTS
    latency_s: float = 0.05  # per size: single-call latencies for p50/p99 (0: none)


class Reporter:
    """Progress callbacks; the CLI draws bars, the library default stays silent."""

    def phase(self, name: str, total: int) -> None: ...

    def advance(self, description: str) -> None: ...


def time_pair(
    kernel: Kernel,
    backend: Backend,
    dtype: str,
    device: str,
    settings: RunSettings,
    peak: float | None,
    on_size: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Compile again (a cache hit where the backend caches) and time every size."""
    compiled = backend.compile(kernel, dtype, device)
    out: dict[str, Any] = {"again_s": compiled.compile_s, "timings": []}
    for size in settings.sizes:
        inputs = make_inputs(kernel, size, dtype, settings.seed)
        with np.errstate(all="ignore"):  # NaN at special points is judged, not warned
            start = time.perf_counter()
            compiled(*inputs)  # first call: transfers, lazy JIT compile, cold caches
            first = time.perf_counter() - start
        # The first call above already warmed up; one more keeps caches hot.
        call = device_call(compiled, inputs)  # inputs moved to the device once, for both
        t = measure(call, repeats=settings.repeats, min_sample_s=settings.min_sample_s, warmup=1)
        latency = (
            latencies(call, budget_s=settings.latency_s, typical_s=t.min)
            if settings.latency_s > 0
            else None
        )
        end_to_end = None
        if device != "cpu":  # an accelerator: the transfers are reported separately
            e2e = time_end_to_end(
                compiled, inputs, repeats=settings.repeats, min_sample_s=settings.min_sample_s
            )
            end_to_end = {
                "median_s": e2e.median,
                "min_s": e2e.min,
                "transfer_s": e2e.median - t.median,
                "samples": e2e.samples,
                "loops": e2e.loops,
            }
        nbytes = traffic_bytes(len(kernel.args), size, dtype)
        gbs = nbytes / t.median / 1e9
        out["timings"].append(
            t.to_dict()
            | {
                "size": size,
                "first_call_s": first,
                "elements_per_s": size / t.median,
                "bytes": nbytes,
                "gbs": gbs,
                "bw_fraction": gbs / peak if peak else None,
                "inputs_sha256": inputs_hash(inputs),
                "latency": latency,
                "end_to_end": end_to_end,
            }
        )
        if on_size:
            on_size(size)
    return out


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
    run_id, created = new_run_id(), now_iso()
    started = time.perf_counter()
    devices = list(settings.devices) if settings.devices else None
    dtypes = list(settings.dtypes)

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

    bw = {}
    if settings.measure_bandwidth:
        for dev in sorted({c.device for c in checks if c.status == "pass"}):
            measured = bandwidth(dev, elements=settings.bandwidth_elements)
            if measured:
                bw[dev] = measured

    by_name = {k.name: k for k in kernels}
    passing = [c for c in checks if c.status == "pass"]
    reporter.phase("time", len(passing) * len(settings.sizes))
    sources: dict[str, dict[str, str]] = {}
    results = []
    for c in checks:
        entry = c.to_dict()
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
            k, b = by_name[c.kernel], get_backend(c.backend)
            try:
                timed = time_pair(
                    k,
                    b,
                    c.dtype,
                    c.device,
                    settings,
                    peak_gbs(bw.get(c.device)),
                    on_size=lambda s, c=c: reporter.advance(
                        f"{c.kernel} {c.backend} {c.dtype} n={s}"
                    ),
                )
                entry["compile"]["again_s"] = timed["again_s"]
                entry["timings"] = timed["timings"]
            except Exception as exc:  # a pair that broke while timing keeps its check result
                entry["timing_error"] = f"{type(exc).__name__}: {exc}"
        results.append(entry)

    # Inputs already hashed while timing are not generated a second time.
    hashed = {
        f"{r['kernel']}/{r['dtype']}/{t['size']}": t["inputs_sha256"]
        for r in results
        for t in r.get("timings", [])
    }
    record: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "run_id": run_id,
        "created": created,
        "duration_s": None,
        "provenance": collect(argv),
        "settings": asdict(settings),
        "bandwidth": bw,
        "kernels": {k.name: kernel_to_dict(k) for k in kernels},
        "inputs": {
            f"{k.name}/{dt}/{n}": hashed.get(f"{k.name}/{dt}/{n}")
            or inputs_hash(make_inputs(k, n, dt, settings.seed))
            for k in kernels
            for dt in dtypes
            for n in sorted({*settings.sizes, settings.check_size})
        },
        "sources": sources,
        "results": results,
    }
    record["summary"] = summarize(record)
    record["boundness"] = boundness(record)
    record["duration_s"] = time.perf_counter() - started
    path = store.save(record)
    return record, path
