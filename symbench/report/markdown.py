"""Markdown tables of a report, for a pull request."""

from __future__ import annotations

import html
from typing import Any

from ..fmt import fmt_count
from .data import (
    NO_TIMINGS,
    Data,
    Grid,
    command_line,
    crossover_text,
    crossovers,
    error_grid,
    math_library_grid,
    packages_rows,
    runs_rows,
    speedup_grid,
)


def _md(text: Any) -> str:
    """A Markdown table cell: pipes escaped, HTML neutralised, one line."""
    s = " ".join(str(text).split())
    return html.escape(s, quote=False).replace("|", "\\|")


def _md_table(head: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(_md(h) for h in head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(_md(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def _md_grid(grid: Grid, first: str = "kernel · dtype") -> str:
    rows = [[label, *texts] for label, texts in zip(grid.rows, grid.texts)]
    return _md_table([first, *grid.cols], rows)


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
        head = ["kernel", "device", "dtype", *(f"n={fmt_count(n)}" for n in sizes)]
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
    out += ["## Math libraries (max ULP per function family, `symbench accuracy`)", ""]
    grid = math_library_grid(data)
    out += [_md_grid(grid, "family") if grid else "No measured entries for these backends.", ""]
    return "\n".join(out)
