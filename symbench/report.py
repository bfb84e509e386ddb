"""Static reports of run records: one self-contained HTML page, or Markdown for a pull request.

Reads records only and never measures, so a report of an old record shows exactly the numbers
that were recorded. Several records (say one CPU run and one GPU run) are combined into one
matrix; a backend/device that appears in more than one run carries a run tag in its label.

matplotlib is imported inside the plotting functions (``import symbench`` must stay light), and
figures are drawn on an Agg canvas without pyplot, so a caller's interactive backend and
pyplot's global figure list are left alone.
"""

from __future__ import annotations

import base64
import html
import io
import math
import shlex
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import BadInput, unknown_name
from .summary import BASELINE

FORMATS = ("html", "md")
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
    from .backends import backend_ids  # registry order, like every other listing

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


def fmt_s(seconds: float | None) -> str:
    """Seconds with an SI prefix, three significant digits."""
    if seconds is None or not math.isfinite(seconds):
        return "—"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9)):
        if abs(seconds) >= scale or unit == "ns":
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds:.3g} s"


def fmt_x(ratio: float) -> str:
    return f"{ratio:.2f}×" if ratio < 10 else f"{ratio:.3g}×" if ratio < 1000 else f"{ratio:.0f}×"


def fmt_n(size: int) -> str:
    return f"{size:,}"


def ulp_value(value: Any) -> float | None:
    """max_ulp as a float: records store inf and NaN as strings (JSON has neither)."""
    if value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def fmt_ulp(ulp: float) -> str:
    return "0" if ulp == 0 else f"{ulp:.3g}"


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
        rows.append(_row_label(row) + (f" @ n={fmt_n(size)}" if size else " (no numpy timing)"))
        values.append([ratios.get(s) for s in data.series])
        texts.append([_speedup_text(data, row, s, ratios, size) for s in data.series])
    title = "Speedup over numpy (CPU) at the largest size numpy was timed at"
    return Grid(title, rows, [s.label for s in data.series], values, texts)


def _speedup_text(
    data: Data, row: tuple[str, str], s: Series, ratios: dict[Series, float], size: int | None
) -> str:
    if s in ratios:
        return fmt_x(ratios[s])
    reason = untimed_reason(data.cell(row, s))
    if reason == "pass":
        return "no numpy" if size is None else f"no n={fmt_n(size)}"
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
    return seconds, fmt_s(seconds) + ("" if cold else " *")


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
                    f"{prev[1].label} → {win.label} between n={fmt_n(prev[0])} and n={fmt_n(size)}"
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
    return win.label, f"{fmt_x(margin)} over {second.label}"


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


# --------------------------------------------------------------------------- plots


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _png_tag(fig, alt: str) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _plot_rc() -> dict[str, Any]:
    return {"font.size": 9, "axes.titlesize": 10}


# Text from records is never parsed as mathtext ("$" in a kernel name stays text); the rc
# setting cannot be used for this because log-axis tick labels need mathtext.
PLAIN = {"parse_math": False}


def _styles(series: list[Series]) -> dict[Series, dict[str, Any]]:
    """One colour per backend (the same in every report), and a marker and line style per
    device/run of that backend, so numpy from two runs reads as numpy twice."""
    from matplotlib import colormaps

    backends = list(dict.fromkeys(s.backend for s in series))
    cmap = colormaps["tab10" if len(backends) <= 10 else "tab20"]
    seen: dict[str, int] = {}
    out = {}
    for s in series:
        k = seen[s.backend] = seen.get(s.backend, -1) + 1
        out[s] = {
            "color": cmap(backends.index(s.backend) % cmap.N),
            "marker": "osD^v<>"[k % 7],
            "linestyle": ("-", "--", ":", "-.")[k % 4],
        }
    return out


def timing_plot(data: Data) -> str | None:
    """Time per element against size, log-log, one panel per (kernel, device, dtype)."""
    import matplotlib
    from matplotlib.lines import Line2D

    groups = data.groups()
    if not groups:
        return None
    ncols = min(3, len(groups))
    nrows = math.ceil(len(groups) / ncols)
    styles = _styles(data.series)
    with matplotlib.rc_context(_plot_rc()):
        fig = _figure(4.4 * ncols, 3.1 * nrows + 0.8)
        axes = fig.subplots(nrows, ncols, squeeze=False)
        for ax, (group, entries) in zip(axes.flat, groups):
            _timing_panel(ax, group, entries, styles, _cpu_reference(data, group))
        for ax in list(axes.flat)[len(groups) :]:
            ax.set_visible(False)
        shown = [s for s in data.series if any(e.series == s for e in data.timed())]
        handles = [Line2D([], [], label=s.label, **styles[s]) for s in shown]
        ncols = math.ceil(len(shown) / math.ceil(len(shown) / 8))  # balanced legend rows
        legend = fig.legend(handles=handles, loc="outside upper center", ncols=ncols)
        for text in legend.get_texts():
            text.set_parse_math(False)
        return _png_tag(fig, "time per element against size, per backend")


def _cpu_reference(data: Data, group: tuple[str, str, str]) -> list[Entry]:
    """numpy on the CPU for an accelerator panel: the line a GPU backend has to beat."""
    kernel, device, dtype = group
    if device == BASELINE_DEVICE:
        return []
    return [
        e
        for e in data.timed()
        if e.group == (kernel, BASELINE_DEVICE, dtype) and e.result["backend"] == BASELINE
    ]


def _timing_panel(
    ax, group: tuple[str, str, str], entries: list[Entry], styles, reference: list[Entry]
) -> None:
    lines = [(e, {"alpha": 0.35}) for e in reference] + [(e, {}) for e in entries]
    for e, faint in lines:
        ts = sorted(e.timings, key=lambda t: t["size"])
        x = [t["size"] for t in ts]
        ax.plot(x, [t["median_s"] / t["size"] for t in ts], **styles[e.series], **faint)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_title(" · ".join(group), **PLAIN)
    ax.set_xlabel("elements n")
    ax.set_ylabel("median time / n (s)")
    ax.grid(True, which="major", alpha=0.4)
    ax.grid(True, which="minor", alpha=0.12)


def heatmap(grid: Grid, norm: Any, cmap_name: str, cbar_label: str) -> str:
    """A heatmap with every cell annotated; blank cells show their status in grey."""
    import matplotlib
    import numpy as np
    from matplotlib import colormaps

    values = np.array([[np.nan if v is None else v for v in r] for r in grid.values], float)
    masked = np.ma.masked_invalid(values)
    cmap = colormaps[cmap_name].with_extremes(bad="#f3f3f3")
    with matplotlib.rc_context(_plot_rc()):
        width = 3.0 + 1.05 * len(grid.cols) + max(len(r) for r in grid.rows) * 0.055
        fig = _figure(width, 1.6 + 0.42 * len(grid.rows))
        ax = fig.subplots()
        im = ax.imshow(masked, cmap=cmap, norm=norm, aspect="auto")
        ax.set_xticks(range(len(grid.cols)), grid.cols, rotation=30, ha="right", **PLAIN)
        ax.set_yticks(range(len(grid.rows)), grid.rows, **PLAIN)
        ax.tick_params(length=0)
        ax.set_title(grid.title)
        for i, row in enumerate(grid.texts):
            for j, text in enumerate(row):
                _annotate(ax, i, j, text, values[i, j], im)
        _colorbar(fig, im, ax, cbar_label)
        return _png_tag(fig, grid.title)


def _colorbar(fig, im, ax, label: str) -> None:
    """Plain numbers at 1-2-5 steps on a narrow range, which otherwise gets labels like
    9×10⁻¹ on minor ticks."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    cbar = fig.colorbar(im, ax=ax, label=label, shrink=0.9, pad=0.01)
    if im.norm.vmax / im.norm.vmin > 100:
        return  # several decades: matplotlib's 10^k labels read well
    cbar.ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    cbar.ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.3g}"))
    cbar.ax.yaxis.set_minor_formatter(NullFormatter())


def _annotate(ax, i: int, j: int, text: str, value: float, im) -> None:
    if math.isnan(value):
        kw = {"color": "#777", "style": "italic", **PLAIN}
        ax.text(j, i, text, ha="center", va="center", fontsize=7.5, **kw)
        return
    r, g, b, _ = im.cmap(im.norm(value))
    dark = 0.299 * r + 0.587 * g + 0.114 * b < 0.5
    color = "white" if dark else "black"
    ax.text(j, i, text, ha="center", va="center", fontsize=8, color=color, **PLAIN)


def _log_norm(grid: Grid, symmetric_about_one: bool = False):
    """A log colour scale over the grid's finite positive values (0 and inf are clipped)."""
    from matplotlib.colors import LogNorm

    finite = [v for r in grid.values for v in r if v is not None and 0 < v < math.inf]
    lo, hi = (min(finite), max(finite)) if finite else (0.5, 1.0)
    if symmetric_about_one:
        m = max(hi, 1 / lo, 2.0)  # +-10 % of noise must not look like a verdict
        return LogNorm(1 / m, m, clip=True)
    return LogNorm(lo, max(hi, lo * 10), clip=True)


def _clip_zero(grid: Grid, norm) -> Grid:
    """Exact (0 ULP) cells take the bottom colour instead of LogNorm's masked blank."""
    values = [[None if v is None else max(v, norm.vmin) for v in r] for r in grid.values]
    values = [[None if v is None else min(v, norm.vmax) for v in r] for r in values]
    return Grid(grid.title, grid.rows, grid.cols, values, grid.texts)


def speedup_plot(grid: Grid) -> str:
    norm = _log_norm(grid, symmetric_about_one=True)
    return heatmap(grid, norm, "RdBu", "× numpy (log; > 1 faster)")


def error_plot(grid: Grid) -> str:
    norm = _log_norm(grid)
    return heatmap(_clip_zero(grid, norm), norm, "YlOrRd", "max ULP (log)")


def compile_plot(grid: Grid) -> str:
    norm = _log_norm(grid)
    return heatmap(grid, norm, "Purples", "seconds (log)")


# --------------------------------------------------------------------------- HTML

CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 24px auto;
       max-width: 1400px; padding: 0 16px; color: #222; }
h1 { font-size: 24px; } h2 { font-size: 19px; margin-top: 34px; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 8px 0 14px; font-size: 13px; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f5f5f5; }
code { font: 12px ui-monospace, Menlo, Consolas, monospace; background: #f4f4f4; padding: 1px 3px; }
img { max-width: 100%; height: auto; display: block; margin: 6px 0; }
p.how { color: #555; font-size: 13px; max-width: 1000px; }
p.empty { background: #fff6dd; border: 1px solid #f0d98c; padding: 6px 10px; display: inline-block; }
td.change { background: #eef6ff; } .muted { color: #888; font-style: italic; }
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _table(head: list[str], rows: list[list[str]], raw: bool = False) -> str:
    """An HTML table; cells are escaped unless ``raw`` (then the caller escaped them)."""
    cell = (lambda c: c) if raw else _e
    out = ["<table><tr>" + "".join(f"<th>{_e(h)}</th>" for h in head) + "</tr>"]
    out += ["<tr>" + "".join(f"<td>{cell(c)}</td>" for c in r) + "</tr>" for r in rows]
    return "\n".join(out) + "</table>"


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
    sizes = ", ".join(fmt_n(n) for n in s.get("sizes", []))
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
                fmt_s(duration) if duration is not None else "?",
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


def _header_html(data: Data) -> str:
    head, pkgs = packages_rows(data)
    kernel_rows = [
        [_e(name), _expr_cell(str(k.get("text", ""))), _e(k.get("doc", ""))]
        for name, k in sorted(data.kernels.items(), key=lambda kv: _kernel_rank(data, kv[0]))
    ]
    return "\n".join(
        [
            "<section id='runs'><h2>Runs</h2>",
            "<p class='how'>Every number below was read from these run records; none was "
            "measured again. To reproduce one, run the command of its run on a machine like "
            "the one named here. Tags in square brackets label a backend measured in several "
            "runs.</p>",
            _table(RUN_HEAD, runs_rows(data)),
            "<h3>Package versions</h3>",
            _table(head, pkgs),
            "<h3>Kernels</h3>",
            _table(["kernel", "expression", "description"], kernel_rows, raw=True),
            "</section>",
        ]
    )


def _expr_cell(text: str, limit: int = 160) -> str:
    """Long expressions fold away (a <details> element: no script needed)."""
    if len(text) <= limit:
        return f"<code>{_e(text)}</code>"
    head = f"<code>{_e(text[:limit])}…</code> ({len(text):,} characters)"
    return f"<details><summary>{head}</summary><code>{_e(text)}</code></details>"


def _kernel_rank(data: Data, name: str) -> int:
    kernels = list(dict.fromkeys(r[0] for r in data.rows))
    return kernels.index(name) if name in kernels else len(kernels)


def _empty(message: str) -> str:
    return f"<p class='empty'>{_e(message)}</p>"


NO_TIMINGS = (
    "No timed pairs in these runs. Only pairs that pass their equivalence check are timed; "
    "“Pairs without timings” below gives each pair's status."
)


def _commands_html(data: Data) -> str:
    cmds = sorted({command_line(r) for r in data.records})
    return ", ".join(f"<code>{_e(c)}</code>" for c in cmds)


def _timing_html(data: Data) -> str:
    plot = timing_plot(data)
    how = (
        "Median of the recorded samples divided by the number of elements n. Each sample is "
        "the mean of many back-to-back calls on inputs already on the device, after a "
        "warm-up call; compile time is not included. Panels of an accelerator show numpy on "
        f"the CPU faintly, for reference. Recorded by {_commands_html(data)}."
    )
    body = plot or _empty(NO_TIMINGS)
    return _section("timing", "1. Time per element", how, body)


def _section(sid: str, title: str, how: str, body: str) -> str:
    return f"<section id='{sid}'><h2>{_e(title)}</h2>\n<p class='how'>{how}</p>\n{body}</section>"


def _speedup_html(data: Data) -> str:
    grid = speedup_grid(data)
    how = (
        "numpy's median time divided by the backend's, for the same kernel and dtype, at the "
        "largest size numpy was timed at (named in each row). numpy is taken from the same run "
        "as the backend where that run has it, else from the first run. Blank cells name the "
        "pair's status: <i>unsupported</i> (the backend cannot compile this kernel), "
        "<i>unavailable</i> (library or device missing), <i>fail</i>/<i>error</i> (not timed "
        "because the result was wrong or crashed), <i>missing</i> (not in any run)."
    )
    body = speedup_plot(grid) if grid else _empty(NO_TIMINGS)
    return _section("speedup", "2. Speedup over numpy", how, body)


def _error_html(data: Data) -> str:
    grid = error_grid(data)
    how = (
        "Largest error of the compiled function against the mpmath reference (computed at high "
        "precision, rounded to the target dtype), in units in the last place of that dtype, over "
        "the equivalence check's points (count in each run's settings) and the kernel's special "
        "points. Exact results show 0 in the lightest colour; failing pairs are marked. A pair "
        "passes by its kernel's rtol/atol, so a huge ULP count where the true value is near "
        "zero (tiny ULPs) can still pass."
    )
    body = error_plot(grid) if grid else _empty("No equivalence results with errors recorded.")
    return _section("errors", "3. Accuracy (max ULP)", how, body)


def _compile_html(data: Data) -> str:
    grid = compile_grid(data)
    how = (
        "The cold build time recorded by symbench's build cache when the build was made "
        "(Cython, ufuncify, numba), even when this run found it cached; else (marked *) the "
        "first compile in the check phase, which ran concurrently with other pairs' compiles."
    )
    body = compile_plot(grid) if grid else _empty("No compile times recorded.")
    return _section("compile", "4. Compile cost", how, body)


def _crossover_html(data: Data) -> str:
    sizes, rows = crossovers(data)
    how = (
        "For each kernel, device and dtype: the backend with the smallest median time at each "
        "size, and its margin over the runner-up (runner-up's median / winner's). Shaded cells "
        "are where the winner changes."
    )
    if not rows:
        return _section(
            "crossover", "5. Crossover: fastest backend by size", how, _empty(NO_TIMINGS)
        )
    head = ["kernel", "device", "dtype", *(f"n={fmt_n(n)}" for n in sizes), "winner changes"]
    out = ["<table><tr>" + "".join(f"<th>{_e(h)}</th>" for h in head) + "</tr>"]
    for c in rows:
        out.append(
            "<tr>" + "".join(f"<td>{_e(g)}</td>" for g in c.group) + _crossover_cells(c, sizes)
        )
        out.append(f"<td>{'<br>'.join(_e(x) for x in c.changes()) or '—'}</td></tr>")
    return _section(
        "crossover", "5. Crossover: fastest backend by size", how, "\n".join(out) + "</table>"
    )


def _crossover_cells(c: Crossover, sizes: list[int]) -> str:
    cells, prev = [], None
    for size in sizes:
        cell = c.cells.get(size)
        win, by = crossover_text(cell)
        changed = cell is not None and prev is not None and cell[0] != prev
        cls = " class='change'" if changed else ""
        cells.append(f"<td{cls}><b>{_e(win)}</b><br><span class='muted'>{_e(by)}</span></td>")
        prev = cell[0] if cell else prev
    return "".join(cells)


def _untimed_html(data: Data) -> str:
    rows = [
        [s.label, status, reason or "—", f"{len(pairs)}: {', '.join(pairs)}"]
        for s, status, reason, pairs in untimed(data)
    ]
    how = "Pairs with no timings, grouped by backend, status and reason."
    body = (
        _table(["backend", "status", "reason", "pairs (kernel/dtype)"], rows)
        if rows
        else _empty("Every pair was timed.")
    )
    return _section("untimed", "Pairs without timings", how, body)


def render_html(data: Data) -> str:
    ids = ", ".join(r["run_id"] for r in data.records)
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>symbench report: {_e(ids)}</title><style>{CSS}</style></head><body>",
        f"<h1>symbench report</h1><p>{len(data.records)} run(s): {_e(ids)}</p>",
        _header_html(data),
    ]
    if not data.entries:
        parts.append(_empty("These runs hold no results."))
    parts += [
        _timing_html(data),
        _speedup_html(data),
        _error_html(data),
        _compile_html(data),
        _crossover_html(data),
        _untimed_html(data),
        "</body></html>",
    ]
    return "\n".join(parts)


# --------------------------------------------------------------------------- Markdown


def _md(text: Any) -> str:
    """A Markdown table cell: pipes escaped, HTML neutralised, one line."""
    s = " ".join(str(text).split())
    return html.escape(s, quote=False).replace("|", "\\|")


def _md_table(head: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(_md(h) for h in head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(_md(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def _md_grid(grid: Grid) -> str:
    rows = [[label, *texts] for label, texts in zip(grid.rows, grid.texts)]
    return _md_table(["kernel · dtype", *grid.cols], rows)


def _md_header(data: Data) -> list[str]:
    out = ["# symbench report", ""]
    for rec, row in zip(data.records, runs_rows(data)):
        out += [
            f"- **run** `{_md(rec['run_id'])}` [{_md(data.tags[rec['run_id']])}], "
            f"created {_md(row[1])}, took {_md(row[2])}",
            f"  - CPU: {_md(row[3])}; GPUs: {_md(row[4])}; git {_md(row[5])}",
            f"  - command: `{command_line(rec).replace('`', '')}`",
            f"  - settings: {_md(row[7])}; bandwidth: {_md(row[8])}",
        ]
    head, pkgs = packages_rows(data)
    out += ["", _md_table(head, pkgs), ""]
    return out


def render_md(data: Data) -> str:
    out = _md_header(data)
    out += ["## Crossover: fastest backend by size", ""]
    sizes, rows = crossovers(data)
    if rows:
        head = ["kernel", "device", "dtype", *(f"n={fmt_n(n)}" for n in sizes)]
        body = []
        for c in rows:
            texts = [crossover_text(c.cells.get(n)) for n in sizes]
            body.append([*c.group, *(f"**{w}** {by}".strip() if by else w for w, by in texts)])
        out += [_md_table(head, body), ""]
        out += ["Margin: runner-up's median time / winner's.", ""]
    else:
        out += [NO_TIMINGS, ""]
    out += ["## Speedup over numpy", ""]
    grid = speedup_grid(data)
    out += [_md_grid(grid) if grid else NO_TIMINGS, ""]
    out += ["numpy's median / the backend's, at the size named in each row.", ""]
    out += ["## Max error (ULP) against the mpmath reference", ""]
    grid = error_grid(data)
    out += [_md_grid(grid) if grid else "No equivalence results with errors recorded.", ""]
    return "\n".join(out)


# --------------------------------------------------------------------------- entry point


def build_report(records: list[dict], out: str | Path, fmt: str = "html") -> Path:
    """Write a static report of one or more run records; returns the path written.

    ``fmt="html"``: one self-contained page (plots embedded as PNG, no scripts, no external
    resources). ``fmt="md"``: Markdown tables for a pull request. Any other format, or no
    records, is BadInput; a path that cannot be written is BadInput naming it.
    """
    if fmt not in FORMATS:
        raise unknown_name("report format", fmt, FORMATS)
    if not records:
        raise BadInput("no run records to report")
    data = collect(records)
    text = render_html(data) if fmt == "html" else render_md(data)
    path = Path(out)
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise BadInput(f"cannot write report {str(path)!r}: {exc.strerror or exc}") from None
    return path
