"""Kept import path: this module lives in ``symbench.records.provenance``."""

from .records.provenance import *  # noqa: F403
from .records.provenance import __all__  # noqa: F401
