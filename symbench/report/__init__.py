"""Static reports of run records: one self-contained HTML page, or Markdown for a pull request.

Reads records only and never measures, so a report of an old record shows exactly the numbers
that were recorded. Several records (say one CPU run and one GPU run) are combined into one
matrix; a backend/device that appears in more than one run carries a run tag in its label.

matplotlib is imported inside the plotting functions (``import symbench`` must stay light), and
figures are drawn on an Agg canvas without pyplot, so a caller's interactive backend and
pyplot's global figure list are left alone.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import BadInput, unknown_name
from ..records.store import refuse_overwriting_a_record
from .data import collect
from .html import render_html
from .markdown import render_md

__all__ = ["FORMATS", "build_report"]

FORMATS = ("html", "md")


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
    refuse_overwriting_a_record(out)
    data = collect(records)
    text = render_html(data) if fmt == "html" else render_md(data)
    path = Path(out)
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise BadInput(f"cannot write report {str(path)!r}: {exc.strerror or exc}") from None
    return path
