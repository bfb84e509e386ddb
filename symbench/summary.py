"""Kept import path: this module lives in ``symbench.records.summary``."""

from .records.summary import (
    BASELINE,
    BOUND_MIN_SIZE,
    MEMORY_BOUND_FRACTION,
    boundness,
    compile_cost,
    device_speedups,
    history_rows,
    summarize,
)

__all__ = [
    "BASELINE",
    "MEMORY_BOUND_FRACTION",
    "BOUND_MIN_SIZE",
    "compile_cost",
    "summarize",
    "boundness",
    "history_rows",
    "device_speedups",
]
