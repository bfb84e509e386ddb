"""Kept import path: rerun mode lives in ``symbench.gate.rerun``."""

from .gate.rerun import rerun

__all__ = ["rerun"]
