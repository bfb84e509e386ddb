"""The report's data model (records flattened onto a kernel x backend matrix), the text
formatting of its numbers and run headers, and the grids and crossovers drawn from it."""

from __future__ import annotations

import math
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..accuracy import FAMILIES, device_kind, table
from ..backends import backend_ids
from ..fmt import fmt_count, fmt_ratio, fmt_seconds, fmt_ulp
from ..records.schema import number
from ..records.summary import BASELINE

BASELINE_DEVICE = "cpu"
# Statuses whose check ran the compiled code, so ULP and compile numbers exist.
COMPILED = ("pass", "fail", "xfail")
MISSING = "missing"  # no result for this pair in any of the runs


# --------------------------------------------------------------------------- data model


@dataclass(frozen=True)
class Series:
    """One line in a plot, one column in a table: a backend on a device (from one run when
    the same backend/device was measured in several runs)."""

    backend: str
    device: str
    tag: str = ""

    @property
    def label(self) -> str:
        name = self.backend if self.device == BASELINE_DEVICE else f"{self.backend} @ {self.device}"
        return f"{name} [{self.tag}]" if self.tag else name


@dataclass(frozen=True)
class Entry:
    """One result of one record, placed on its series."""

    run_id: str
    series: Series
    result: dict[str, Any] = field(hash=False, compare=False)

    @property
    def row(self) -> tuple[str, str]:
        return (self.result["kernel"], self.result["dtype"])

    @property
    def group(self) -> tuple[str, str, str]:
        return (self.result["kernel"], self.result["device"], self.result["dtype"])

    @property
    def status(self) -> str:
        return str(self.result.get("status", "error"))

    @property
    def timings(self) -> list[dict[str, Any]]:
        return [t for t in self.result.get("timings") or [] if t.get("median_s")]

    def timing(self, size: int) -> dict[str, Any] | None:
        return next((t for t in self.timings if t.get("size") == size), None)


@dataclass
class Data:
    """Every record's results on one (kernel, dtype) x series matrix."""

    records: list[dict[str, Any]]
    tags: dict[str, str]
    entries: list[Entry]
    series: list[Series]
    rows: list[tuple[str, str]]
    kernels: dict[str, dict[str, Any]]

    def cell(self, row: tuple[str, str], series: Series) -> Entry | None:
        return next((e for e in self.entries if e.row == row and e.series == series), None)

    def timed(self) -> list[Entry]:
        return [e for e in self.entries if e.timings]

    def groups(self) -> list[tuple[tuple[str, str, str], list[Entry]]]:
        """Timed entries by (kernel, device, dtype), in row order, CPU before other devices."""
        order = {r: i for i, r in enumerate(self.rows)}
        out: dict[tuple[str, str, str], list[Entry]] = {}
        for e in self.timed():
            out.setdefault(e.group, []).append(e)
        key = lambda g: (order[(g[0], g[2])], g[1] != BASELINE_DEVICE, g[1])  # noqa: E731
        return [(g, out[g]) for g in sorted(out, key=key)]


def run_tags(run_ids: Iterable[str]) -> dict[str, str]:
    """Short labels for runs: the random suffix of the run id, the full id if two collide."""
    ids = list(dict.fromkeys(run_ids))
    short = {i: i.rsplit("-", 1)[-1] for i in ids}
    clash = len(set(short.values())) < len(ids)
    return {i: (i if clash else short[i]) for i in ids}


def _backend_order(backend: str) -> tuple[int, str]:
    ids = backend_ids()
    return (ids.index(backend) if backend in ids else len(ids), backend)


def _superseding(records: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Each run's results, less ``unavailable`` ones for a backend/device that another run
    had: a CPU run's "cupy unavailable" must not crowd the GPU run's cupy numbers."""
    had: set[tuple[str, str]] = {
        (r["backend"], r["device"])
        for rec in records
        for r in rec.get("results", [])
        if r.get("status") != "unavailable"
    }
    return {
        rec["run_id"]: [
            r
            for r in rec.get("results", [])
            if r.get("status") != "unavailable" or (r["backend"], r["device"]) not in had
        ]
        for rec in records
    }


def collect(records: list[dict[str, Any]]) -> Data:
    """Flatten records into entries; tag series only where a backend/device is ambiguous."""
    records = list({r["run_id"]: r for r in reversed(records)}.values())[::-1]  # dedupe
    tags = run_tags(r["run_id"] for r in records)
    kept = _superseding(records)
    runs_of: dict[tuple[str, str], set[str]] = {}
    for rec in records:
        for r in kept[rec["run_id"]]:
            runs_of.setdefault((r["backend"], r["device"]), set()).add(rec["run_id"])
    entries, kernels, order = [], {}, {}
    for rec in records:
        kernels = {**rec.get("kernels", {}), **kernels}
        for r in kept[rec["run_id"]]:
            ambiguous = len(runs_of[(r["backend"], r["device"])]) > 1
            tag = tags[rec["run_id"]] if ambiguous else ""
            entries.append(Entry(rec["run_id"], Series(r["backend"], r["device"], tag), r))
            order.setdefault(r["kernel"], len(order))
    run_index = {r["run_id"]: i for i, r in enumerate(records)}
    series = sorted(
        {e.series: e.run_id for e in entries}.items(),
        key=lambda s: (_backend_order(s[0].backend), s[0].device != "cpu", run_index[s[1]]),
    )
    dtype_order = {"float64": 0, "float32": 1}
    rows = sorted(
        {e.row for e in entries}, key=lambda r: (order[r[0]], dtype_order.get(r[1], 2), r[1])
    )
    return Data(records, tags, entries, [s for s, _ in series], rows, kernels)


# --------------------------------------------------------------------------- formatting


def ulp_value(value: Any) -> float | None:
    """max_ulp as a float (the record schema's encoding of inf and NaN read back); None
    when absent or unreadable."""
    try:
        return number(value)
    except (TypeError, ValueError):
        return None


def command_line(record: dict[str, Any]) -> str:
    cmd = record.get("provenance", {}).get("command") or []
    return shlex.join(str(c) for c in cmd) if cmd else "(not recorded)"


def blank_reason(entry: Entry | None) -> str:
    """Why a cell holds no number: the pair's status, or ``missing`` when no run has it."""
    return MISSING if entry is None else entry.status


def untimed_reason(entry: Entry | None) -> str:
    """Why a pair has no timings: its status, or, for a pass, what went wrong in timing."""
    reason = blank_reason(entry)
    if entry is not None and reason == "pass" and not entry.timings:
        return "timing error" if entry.result.get("timing_error") else "not timed"
    return reason


# --------------------------------------------------------------------------- run headers


def machine_text(record: dict[str, Any]) -> tuple[str, str]:
    """(CPU, GPUs) one-liners from provenance.machine."""
    m = record.get("provenance", {}).get("machine", {})
    cpu = m.get("cpu", {})
    cpu_text = f"{cpu.get('model', '?')} ({cpu.get('cores_logical', '?')} logical cores)"
    if m.get("hostname"):
        cpu_text += f" on {m['hostname']}"
    gpus = [
        f"{g.get('id', '?')}: {g.get('name', '?')} (driver {g.get('driver', '?')}, "
        f"CUDA {g.get('cuda_driver', '?')})"
        for g in m.get("gpus") or []
    ]
    return cpu_text, "; ".join(gpus) or "none"


def git_text(record: dict[str, Any]) -> str:
    git = record.get("provenance", {}).get("git", {})
    commit = (git.get("commit") or "")[:12]
    return (commit + (" (dirty)" if git.get("dirty") else "")) if commit else "not a git checkout"


def settings_text(record: dict[str, Any]) -> str:
    s = record.get("settings", {})
    sizes = ", ".join(fmt_count(n) for n in s.get("sizes", []))
    return (
        f"sizes {sizes}; dtypes {', '.join(s.get('dtypes', []))}; {s.get('repeats', '?')} "
        f"samples of at least {s.get('min_sample_s', '?')} s each; equivalence on "
        f"{s.get('check_size', '?')} points; seed {s.get('seed', '?')}"
    )


def bandwidth_text(record: dict[str, Any]) -> str:
    parts = [
        f"{dev}: copy {bw['copy_gbs']:.1f} GB/s"
        for dev, bw in (record.get("bandwidth") or {}).items()
        if isinstance(bw, dict) and bw.get("copy_gbs")
    ]
    return "; ".join(parts) or "not measured"


def runs_rows(data: Data) -> list[list[str]]:
    rows = []
    for rec in data.records:
        cpu, gpus = machine_text(rec)
        duration = rec.get("duration_s")
        rows.append(
            [
                f"{rec['run_id']} [{data.tags[rec['run_id']]}]",
                str(rec.get("created", "?")),
                fmt_seconds(duration, "—") if duration is not None else "?",
                cpu,
                gpus,
                git_text(rec),
                command_line(rec),
                settings_text(rec),
                bandwidth_text(rec),
            ]
        )
    return rows


RUN_HEAD = [
    "run [tag]",
    "created",
    "took",
    "CPU",
    "GPUs",
    "git",
    "command",
    "settings",
    "bandwidth",
]


def packages_rows(data: Data) -> tuple[list[str], list[list[str]]]:
    """Package versions, one column per run (``—`` where a package was not installed)."""
    names: dict[str, None] = {}
    for rec in data.records:
        prov = rec.get("provenance", {})
        names.update({"python": None, **dict.fromkeys(prov.get("packages", {}))})
    head = ["package", *(data.tags[r["run_id"]] for r in data.records)]
    rows = []
    for name in names:
        cells = []
        for rec in data.records:
            prov = rec.get("provenance", {})
            v = prov.get("python", {}).get("version") if name == "python" else None
            v = v or prov.get("packages", {}).get(name)
            cells.append(v or "—")
        rows.append([name, *cells])
    return head, rows


NO_TIMINGS = (
    "No timed pairs in these runs. Only pairs that pass their equivalence check are timed; "
    "“Pairs without timings” below gives each pair's status."
)


# --------------------------------------------------------------------------- tables as grids


@dataclass
class Grid:
    """A labelled matrix drawn as a heatmap (``values`` colour it) and printed as a table
    (``texts``); ``None`` values are blank cells whose text says why."""

    title: str
    rows: list[str]
    cols: list[str]
    values: list[list[float | None]]
    texts: list[list[str]]


def _row_label(row: tuple[str, str]) -> str:
    return f"{row[0]} · {row[1]}"


def speedup_row(data: Data, row: tuple[str, str]) -> tuple[int | None, dict[Series, float]]:
    """numpy's median over each backend's at numpy's largest timed size, numpy taken from the
    same run as the backend where that run has one (so one machine is compared with itself)."""
    bases = [
        e
        for e in data.entries
        if e.row == row and e.result["backend"] == BASELINE and e.result["device"] == "cpu"
    ]
    bases = [e for e in bases if e.timings]
    if not bases:
        return None, {}
    size = max(t["size"] for t in bases[0].timings)
    out = {}
    for s in data.series:
        e = data.cell(row, s)
        t = e.timing(size) if e else None
        if e is None or t is None:
            continue
        base = next((b for b in bases if b.run_id == e.run_id and b.timing(size)), bases[0])
        bt = base.timing(size)
        if bt:
            out[s] = bt["median_s"] / t["median_s"]
    return size, out


def speedup_grid(data: Data) -> Grid | None:
    if not data.timed():
        return None
    rows, values, texts = [], [], []
    for row in data.rows:
        size, ratios = speedup_row(data, row)
        rows.append(_row_label(row) + (f" @ n={fmt_count(size)}" if size else " (no numpy timing)"))
        values.append([ratios.get(s) for s in data.series])
        texts.append([_speedup_text(data, row, s, ratios, size) for s in data.series])
    title = "Speedup over numpy (CPU) at the largest size numpy was timed at"
    return Grid(title, rows, [s.label for s in data.series], values, texts)


def _speedup_text(
    data: Data, row: tuple[str, str], s: Series, ratios: dict[Series, float], size: int | None
) -> str:
    if s in ratios:
        return fmt_ratio(ratios[s])
    reason = untimed_reason(data.cell(row, s))
    if reason == "pass":
        return "no numpy" if size is None else f"no n={fmt_count(size)}"
    return reason


def error_grid(data: Data) -> Grid | None:
    if not any(ulp_value(e.result.get("max_ulp")) is not None for e in data.entries):
        return None
    values, texts = [], []
    for row in data.rows:
        cells = [_error_cell(data.cell(row, s)) for s in data.series]
        values.append([v for v, _ in cells])
        texts.append([t for _, t in cells])
    title = "Max error in ULPs of the target dtype, against the mpmath reference"
    return Grid(
        title, [_row_label(r) for r in data.rows], [s.label for s in data.series], values, texts
    )


def math_library_grid(data: Data, entries: Mapping | None = None) -> Grid | None:
    """Function families x the report's backends (by device kind and dtype), from the measured
    table (``math_accuracy.toml``): the math library under each series, not these runs."""

    entries = table() if entries is None else entries
    present = {(s.backend, device_kind(s.device)) for s in data.series}
    cols = sorted({(b, k, dt) for b, k, dt, _ in entries if (b, k) in present})
    if not cols:
        return None
    values, texts = [], []
    for family in FAMILIES:
        row_values, row_texts = [], []
        for b, k, dt in cols:
            m = entries.get((b, k, dt, family))
            row_values.append(m.max_ulp if m else None)
            row_texts.append(fmt_ulp(m.max_ulp) if m else "-")
        values.append(row_values)
        texts.append(row_texts)
    labels = [f"{b} {dt}" if k == BASELINE_DEVICE else f"{b} @ {k} {dt}" for b, k, dt in cols]
    title = "Max ULP of each math function family (symbench accuracy, math_accuracy.toml)"
    return Grid(title, list(FAMILIES), labels, values, texts)


def _error_cell(entry: Entry | None) -> tuple[float | None, str]:
    ulp = ulp_value(entry.result.get("max_ulp")) if entry else None
    if entry is None or ulp is None:
        return None, blank_reason(entry)
    text = fmt_ulp(ulp) if not math.isnan(ulp) else "nan"
    if entry.status != "pass":
        text += f" ({entry.status})"
    return (None if math.isnan(ulp) else ulp), text


def compile_seconds(result: dict[str, Any]) -> tuple[float | None, bool]:
    """The cold build time where the build cache recorded one, else the first compile of the
    check phase; the flag says which (first_s ran alongside other pairs' compiles)."""
    c = result.get("compile") or {}
    if c.get("cold_build_s") is not None:
        return float(c["cold_build_s"]), True
    first = c.get("first_s", result.get("compile_s"))
    return (float(first) if first is not None else None), False


def compile_grid(data: Data) -> Grid | None:
    values, texts = [], []
    for row in data.rows:
        cells = [_compile_cell(data.cell(row, s)) for s in data.series]
        values.append([v for v, _ in cells])
        texts.append([t for _, t in cells])
    if all(v is None for r in values for v in r):
        return None
    title = "Compile cost: cold build (where recorded), else first compile (*)"
    return Grid(
        title, [_row_label(r) for r in data.rows], [s.label for s in data.series], values, texts
    )


def _compile_cell(entry: Entry | None) -> tuple[float | None, str]:
    if entry is None or entry.status not in COMPILED:
        return None, blank_reason(entry)
    seconds, cold = compile_seconds(entry.result)
    if seconds is None:
        return None, "not recorded"
    return seconds, fmt_seconds(seconds, "—") + ("" if cold else " *")


@dataclass
class Crossover:
    """The fastest series at each size of one (kernel, device, dtype), and its margin."""

    group: tuple[str, str, str]
    cells: dict[int, tuple[Series, float | None, Series | None]]

    def changes(self) -> list[str]:
        """Where the winner changes, e.g. ``numpy → numba between n=1 and n=1,000``."""
        out, prev = [], None
        for size in sorted(self.cells):
            win = self.cells[size][0]
            if prev is not None and win != prev[1]:
                out.append(
                    f"{prev[1].label} → {win.label} between n={fmt_count(prev[0])} and n={fmt_count(size)}"
                )
            prev = (size, win)
        return out


def crossovers(data: Data) -> tuple[list[int], list[Crossover]]:
    sizes = sorted({t["size"] for e in data.timed() for t in e.timings})
    out = []
    for group, entries in data.groups():
        cells = {}
        for size in sizes:
            ranked = sorted(
                ((t["median_s"], e.series) for e in entries if (t := e.timing(size))),
                key=lambda p: p[0],
            )
            if ranked:
                margin = ranked[1][0] / ranked[0][0] if len(ranked) > 1 else None
                cells[size] = (ranked[0][1], margin, ranked[1][1] if len(ranked) > 1 else None)
        out.append(Crossover(group, cells))
    return sizes, out


def crossover_text(cell: tuple[Series, float | None, Series | None] | None) -> tuple[str, str]:
    """(winner, 'by how much over whom') for one crossover cell."""
    if cell is None:
        return "—", ""
    win, margin, second = cell
    if second is None or margin is None:
        return win.label, "only one timed"
    return win.label, f"{fmt_ratio(margin)} over {second.label}"


def untimed(data: Data) -> list[tuple[Series, str, str, list[str]]]:
    """Pairs without timings, grouped by series, status and reason (one line each)."""
    groups: dict[tuple[Series, str, str], list[str]] = {}
    for e in data.entries:
        if e.timings:
            continue
        status = untimed_reason(e)
        reason = e.result.get("timing_error") or e.result.get("reason") or ""
        key = (e.series, status, str(reason).strip().splitlines()[0] if reason else "")
        groups.setdefault(key, []).append(f"{e.result['kernel']}/{e.result['dtype']}")
    return [(s, st, r, pairs) for (s, st, r), pairs in groups.items()]
