"""How numbers are written for people: the one formatting module of the CLI and the reports."""

from __future__ import annotations

import math


def fmt_seconds(seconds: float | None, missing: str = "-") -> str:
    """Seconds with an SI prefix, three significant digits (``1.23 ms``); ``missing`` for
    None or a non-finite value (the CLI writes ``-``, the reports ``—``)."""
    if seconds is None or not math.isfinite(seconds):
        return missing
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9)):
        if abs(seconds) >= scale or unit == "ns":
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds:.3g} s"


def fmt_number(v: float | None, spec: str = ".3g") -> str:
    """A float in ``spec``, ``-`` for None, anything else as text."""
    if v is None:
        return "-"
    return format(v, spec) if isinstance(v, float) else str(v)


def fmt_ratio(ratio: float) -> str:
    """A speedup or slowdown factor: ``1.23×``, ``45.6×``, ``1234×``."""
    return f"{ratio:.2f}×" if ratio < 10 else f"{ratio:.3g}×" if ratio < 1000 else f"{ratio:.0f}×"


def fmt_count(n: int) -> str:
    """An element count with thousands separators: ``1,000,000``."""
    return f"{n:,}"


def fmt_ulp(ulp: float) -> str:
    return "0" if ulp == 0 else f"{ulp:.3g}"
