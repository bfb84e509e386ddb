"""The gate's report for CI systems: a Markdown table (a job summary or a pull-request
comment) and JUnit XML (each pair a test case, so a CI page lists them)."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET

from .report import (
    IMPROVEMENT,
    INCORRECT,
    REGRESSION,
    UNDECIDED,
    GateReport,
    summary_lines,
)
from .stats import CONFIDENCE

_ICON = {REGRESSION: "🔴", INCORRECT: "🔴", IMPROVEMENT: "🟢", UNDECIDED: "🟡"}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(report: GateReport) -> str:
    """Verdict, then one table per verdict that is not ``unchanged`` (regressions first),
    then the summary sentences the terminal shows."""
    icon = {"pass": "✅", "regression": "🔴", "undecided": "🟡"}[report.verdict]
    out = [
        f"### symbench gate: {icon} {report.verdict} (exit {report.exit_code})",
        "",
        f"`{report.baseline}` → `{report.current}`, {report.mode} mode, threshold "
        f"{report.threshold:.0%}, false discovery rate {report.alpha:g}",
        "",
    ]
    for verdict, title in ((REGRESSION, "Regressions"), (INCORRECT, "Incorrect"),
                           (IMPROVEMENT, "Improvements"), (UNDECIDED, "Undecided")):  # fmt: skip
        rows = [c for c in report.comparisons if c.verdict == verdict]
        if not rows:
            continue
        out += [f"#### {_ICON[verdict]} {title} ({len(rows)})", "",
                f"| pair | ratio | {CONFIDENCE:.0%} interval | q | note |",
                "| --- | ---: | --- | ---: | --- |"]  # fmt: skip
        for c in rows:
            ratio = "-" if c.ratio is None else f"{c.ratio:.3f}"
            interval = "-" if c.low is None else f"{c.low:.3f}–{c.high:.3f}"
            q = "-" if c.q is None else f"{c.q:.2g}"
            out.append(f"| `{c.key}` | {ratio} | {interval} | {q} | {_cell(c.note)} |")
        out.append("")
    unchanged = sum(1 for c in report.comparisons if c.verdict == "unchanged")
    out += [f"{unchanged} of {len(report.comparisons)} pairs unchanged.", ""]
    out += [f"- {_cell(line)}" for line in summary_lines(report)]
    return "\n".join(out) + "\n"


def to_junit(report: GateReport) -> str:
    """JUnit XML: one test suite, one test case per pair (classname ``kernel.backend``,
    name ``device/dtype/n=size``); a regression or incorrect pair is a failure, an
    undecided pair is skipped with its reason, the rest pass."""
    failures = len(report.regressions)
    skipped = len(report.undecided)
    suite = ET.Element(
        "testsuite",
        name=f"symbench gate {report.baseline} -> {report.current}",
        tests=str(len(report.comparisons)),
        failures=str(failures),
        errors="0",
        skipped=str(skipped),
    )
    props = ET.SubElement(suite, "properties")
    for name, value in (("verdict", report.verdict), ("mode", report.mode),
                        ("threshold", f"{report.threshold:g}"), ("alpha", f"{report.alpha:g}"),
                        ("suite_shift", "" if report.suite_shift is None
                         else f"{report.suite_shift:.4f}")):  # fmt: skip
        ET.SubElement(props, "property", name=name, value=value)
    for c in report.comparisons:
        k = c.key
        case = ET.SubElement(
            suite, "testcase", classname=f"{k.kernel}.{k.backend}",
            name=f"{k.device}/{k.dtype}/n={k.size}", time="0",
        )  # fmt: skip
        ratio = "n/a" if c.ratio is None or not math.isfinite(c.ratio) else f"x{c.ratio:.3f}"
        text = f"{c.verdict}: {ratio}; {c.note}".strip()
        if c.verdict in (REGRESSION, INCORRECT):
            ET.SubElement(case, "failure", message=text, type=c.verdict).text = text
        elif c.verdict == UNDECIDED:
            ET.SubElement(case, "skipped", message=text)
        else:
            ET.SubElement(case, "system-out").text = text
    ET.indent(suite)
    return ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"
