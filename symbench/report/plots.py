"""Plots for the HTML report: matplotlib figures on an Agg canvas, embedded as PNG.
matplotlib is imported inside the functions only, so importing this module stays light."""

from __future__ import annotations

import base64
import html
import io
import math
from typing import Any

from ..records.summary import BASELINE
from .data import BASELINE_DEVICE, Data, Entry, Grid, Series


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


def history_plot(series: list, max_panels: int = 12) -> str | None:
    """Median time over runs for series with change points (``symbench.monitor``), one
    panel each, each change point a dashed vertical line labelled with its step."""
    import matplotlib

    shown = [s for s in series if s.steps][:max_panels]
    if not shown:
        return None
    ncols = min(3, len(shown))
    nrows = math.ceil(len(shown) / ncols)
    with matplotlib.rc_context(_plot_rc()):
        fig = _figure(4.4 * ncols, 2.8 * nrows + 0.3)
        axes = fig.subplots(nrows, ncols, squeeze=False)
        for ax, s in zip(axes.flat, shown):
            x = list(range(1, len(s.times_s) + 1))
            ax.plot(x, s.times_s, marker=".", linewidth=1)
            for st in s.steps:
                ax.axvline(st.index + 0.5, color="tab:red", linestyle="--", linewidth=1)
                ax.annotate(f"{st.change:+.0%}", (st.index + 0.6, max(s.times_s)),
                            color="tab:red", fontsize=8, va="top")  # fmt: skip
            ax.set_title(s.key, **PLAIN)
            ax.set_xlabel("run (oldest first)")
            ax.set_ylabel("median time (s)")
            ax.grid(True, alpha=0.3)
        for ax in list(axes.flat)[len(shown) :]:
            ax.set_visible(False)
        return _png_tag(fig, "timing history with change points")
