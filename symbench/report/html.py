"""The self-contained HTML page: run headers, the plots, the tables, escaped text."""

from __future__ import annotations

import html
from typing import Any

from ..fmt import fmt_count
from ..monitor import DEFAULT_MIN_RUNS as MIN_RUNS
from ..monitor import monitor
from .data import (
    NO_TIMINGS,
    RUN_HEAD,
    Crossover,
    Data,
    command_line,
    compile_grid,
    crossover_text,
    crossovers,
    error_grid,
    math_library_grid,
    packages_rows,
    runs_rows,
    speedup_grid,
    untimed,
)
from .plots import compile_plot, error_plot, history_plot, speedup_plot, timing_plot

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


def _history_html(data: Data) -> str:
    """Change points over the reported runs (``symbench monitor``), when there are enough."""
    if len(data.records) < MIN_RUNS:
        return ""
    report = monitor(data.records)
    how = (
        f"Median time per run, oldest first, for each pair and size where `symbench monitor` "
        f"finds a change point over these {len(data.records)} runs (dashed line: the step, "
        f"labelled with its size; false-discovery rate {report.alpha:g} over all series)."
    )
    plot = history_plot(report.series)
    body = plot or _empty(f"no change point in {len(report.series)} series")
    return _section("history", "Change points over the runs", how, body)


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
        "points. Exact results show 0 in the lightest colour; failing pairs are marked. The "
        "count is taken at the well-conditioned points (where a correct evaluation of the "
        "expression is good to 64 ULP): next to a root of a cancelling expression a tiny "
        "absolute error is a huge number of the truth's tiny ULPs, and the judge holds it to "
        "the expression's running error bound there instead."
    )
    body = error_plot(grid) if grid else _empty("No equivalence results with errors recorded.")
    return _section("errors", "3. Accuracy (max ULP)", how, body)


def _math_html(data: Data) -> str:
    grid = math_library_grid(data)
    how = (
        "The math library under each backend, per function family: the largest error, in ULPs, "
        "of single-function probes at exactly representable inputs against the mpmath truth, "
        "as measured by <code>symbench accuracy</code> on the machine each entry of "
        "<code>math_accuracy.toml</code> names (not by these runs). A check scales each "
        "family's share of the expression's error bound by its measured error, up to 8 ULP; "
        "above that the library diverges and a failure it causes is a known divergence."
    )
    body = error_plot(grid) if grid else _empty("No measured entries for these backends.")
    return _section("mathlib", "5. Math libraries (measured per function family)", how, body)


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
    head = ["kernel", "device", "dtype", *(f"n={fmt_count(n)}" for n in sizes), "winner changes"]
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
        _history_html(data),
        _speedup_html(data),
        _error_html(data),
        _compile_html(data),
        _crossover_html(data),
        _math_html(data),
        _untimed_html(data),
        "</body></html>",
    ]
    return "\n".join(parts)
