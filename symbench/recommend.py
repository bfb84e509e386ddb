"""``symbench recommend``: which backend to serve an expression with, per batch size.

For each batch size: the fastest backend whose equivalence check passed (by per-call p50
latency, or p99 with ``by="p99"``), with its p50/p99 latency per call, throughput, compile
cost and cold start (compile plus first call), and the runner-up with the margin.

Answers come from stored runs made on this machine (host, CPU model and GPUs match) whose
kernel has the same expression (compared as ``srepr`` text, so a renamed or edited kernel
never borrows another's numbers), newest first; ``from_run`` names one run to use instead. What
no stored run covers is measured by one ``symbench run`` restricted to the missing
backends and batch sizes, and stored like any run, so asking again is answered from the
store.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from .backends import REGISTRY, get_backend
from .devices import fingerprint
from .kernels import Kernel
from .kernels.storage import kernel_to_dict
from .records import ResultView, Store, open_store
from .runner import Reporter, RunSettings, run

RANK_BY = ("p50", "p99")
# Single-call latencies per size when recommend measures: what it ranks, so more of them
# than a run keeps (symbench run: 30 ms).
RECOMMEND_LATENCY_S = 0.1
DEFAULT_BATCHES = (1, 64, 4096)  # one request, a small batch, a large one


@dataclass
class Candidate:
    backend: str
    p50_s: float
    p99_s: float
    throughput: float  # elements per second at p50
    compile_s: float | None  # the cold build where the cache recorded it, else first compile
    cold_start_s: float | None  # compile + first call: what a fresh server pays once
    run_id: str

    def latency(self, by: str) -> float:
        return self.p99_s if by == "p99" else self.p50_s


NOT_MEASURED = "not measured at this batch size"


@dataclass
class Pick:
    batch: int
    best: Candidate | None = None
    runner_up: Candidate | None = None
    margin: float | None = None  # runner-up latency / best latency
    excluded: dict[str, str] = field(default_factory=dict)  # backend -> why not

    @property
    def unmeasured(self) -> bool:
        """No answer because nothing was measured at this batch (``measure=False``), which
        is not the same as every backend failing."""
        return self.best is None and set(self.excluded.values()) == {NOT_MEASURED}


@dataclass
class Recommendation:
    kernel: str
    expression: str
    device: str
    dtype: str
    by: str
    picks: list[Pick]
    runs_used: list[str]
    measured_run: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def exit_code(self) -> int:
        """0 every batch has a pick, 1 some batch has none that passed, 3 some batch was not
        measured (``--no-measure``) and none failed."""
        if any(p.best is None and not p.unmeasured for p in self.picks):
            return 1
        return 3 if any(p.unmeasured for p in self.picks) else 0


def _pair_status(record: dict[str, Any], name: str, dtype: str, device: str):
    """(backend -> result entry) for one kernel/dtype/device of a record."""
    return {
        r["backend"]: r
        for r in record["results"]
        if r["kernel"] == name and r["dtype"] == dtype and r["device"] == device
    }


def _candidate(entry: dict[str, Any], batch: int, run_id: str) -> Candidate | None:
    result = ResultView(entry)
    timing = result.timing_at(batch)
    if timing is None or not timing.latency:
        return None
    lat = timing.latency
    compile_s = result.compile.get("cold_build_s") or result.compile.get("first_s")
    first = timing.first_call_s
    return Candidate(
        backend=result.backend,
        p50_s=lat["p50_s"],
        p99_s=lat["p99_s"],
        throughput=batch / lat["p50_s"],
        compile_s=compile_s,
        cold_start_s=(compile_s or 0.0) + first if first is not None else None,
        run_id=run_id,
    )


def _records(store: Store, from_run: str | None) -> Iterable[dict[str, Any]]:
    """Newest first; unreadable records are skipped (``show``/``history`` name them). A
    remote store sends only this machine's runs."""
    if from_run:
        yield store.load(from_run)
        return
    yield from store.newest_first(machine=fingerprint())


def _machine(fp: dict[str, Any] | None) -> tuple:
    """What must match for stored latencies to apply here: host, CPU model, GPU names."""
    fp = fp or {}
    return (
        fp.get("hostname"),
        (fp.get("cpu") or {}).get("model"),
        tuple(g.get("name") for g in fp.get("gpus", [])),
    )


def _matching_kernel(record: dict[str, Any], expr_text: str) -> str | None:
    for name, k in record.get("kernels", {}).items():
        if k.get("expr") == expr_text:
            return name
    return None


def _collect(
    kernel: Kernel, batches: list[int], backends: list[str], dtype: str, device: str,
    store: Store, from_run: str | None,
) -> tuple[dict[tuple[str, int], Candidate], dict[str, str], list[str]]:  # fmt: skip
    """Newest covering data per (backend, batch), why backends are out, and runs used."""
    expr_text = kernel_to_dict(kernel)["expr"]
    here = _machine(fingerprint())
    found: dict[tuple[str, int], Candidate] = {}
    excluded: dict[str, str] = {}
    used: list[str] = []
    wanted = {(b, n) for b in backends for n in batches}
    for record in _records(store, from_run):
        name = _matching_kernel(record, expr_text)
        if name is None or (not from_run and _machine(record["provenance"].get("machine")) != here):
            continue
        entries = _pair_status(record, name, dtype, device)
        took = False
        for backend, entry in entries.items():
            if backend not in backends or backend in excluded:
                continue
            if entry["status"] != "pass":
                if not any(k[0] == backend for k in found):  # a newer run had it passing
                    excluded[backend] = f"{entry['status']}: {entry.get('reason', '')}".strip()
                    took = True
                continue
            for n in batches:
                if (backend, n) not in found:
                    cand = _candidate(entry, n, record["run_id"])
                    if cand is not None:
                        found[(backend, n)] = cand
                        took = True
        if took:
            used.append(record["run_id"])
        if all(k in found or k[0] in excluded for k in wanted):
            break
    return found, excluded, used


def recommend(
    kernel: Kernel,
    batches: list[int],
    *,
    device: str = "cpu",
    dtype: str = "float64",
    max_compile_s: float | None = None,
    by: str = "p50",
    store: Store | None = None,
    from_run: str | None = None,
    measure: bool = True,
    backends: list[str] | None = None,
    reporter: Reporter | None = None,
    argv: list[str] | None = None,
) -> Recommendation:
    """The backend to serve ``kernel`` with at each batch size (see the module docstring);
    ``backends`` limits the choice (default: every registered backend)."""
    store = store or open_store()
    backends = list(backends or REGISTRY)
    found, excluded, used = _collect(kernel, batches, backends, dtype, device, store, from_run)
    gaps = {b for b in backends for n in batches if (b, n) not in found and b not in excluded}
    # Only backends with gaps are imported: an answer from the store imports no backend.
    unavailable = {b: r for b in sorted(gaps) if (r := get_backend(b).unavailable_reason())}
    usable = [b for b in backends if b not in unavailable]
    missing = [(b, n) for b in sorted(gaps - set(unavailable)) for n in batches
               if (b, n) not in found]  # fmt: skip
    measured = None
    if missing and measure:
        settings = RunSettings(
            sizes=tuple(sorted({n for _, n in missing})),
            dtypes=(dtype,),
            devices=(device,),
            measure_bandwidth=False,  # latency is the question here, not the roofline
            latency_s=RECOMMEND_LATENCY_S,
        )
        record, _ = run(
            [kernel],
            [get_backend(b) for b in sorted({b for b, _ in missing})],
            settings,
            store,
            argv=argv or ["symbench.recommend", kernel.name, *map(str, batches)],
            reporter=reporter,
        )
        measured = record["run_id"]
        found, excluded, used = _collect(kernel, batches, usable, dtype, device, store, None)
    picks = []
    for n in batches:
        pick = Pick(n, excluded=dict(excluded))
        pick.excluded.update({b: f"unavailable: {r}" for b, r in unavailable.items()})
        cands = []
        for b in usable:
            cand = found.get((b, n))
            if b in excluded:
                continue
            if cand is None:
                pick.excluded[b] = NOT_MEASURED
            elif max_compile_s is not None and (cand.compile_s or 0) > max_compile_s:
                pick.excluded[b] = f"compile {cand.compile_s:.2g} s > {max_compile_s:g} s"
            else:
                cands.append(cand)
        cands.sort(key=lambda c: c.latency(by))
        if cands:
            pick.best = cands[0]
        if len(cands) > 1:
            pick.runner_up = cands[1]
            pick.margin = cands[1].latency(by) / cands[0].latency(by)
        picks.append(pick)
    return Recommendation(
        kernel.name,
        str(kernel.expr),
        device,
        dtype,
        by,
        picks,
        sorted(set(used)),
        measured,
    )
