"""Kept import path: this module lives in ``symbench.records.summary``."""

from .records.summary import *  # noqa: F403
from .records.summary import __all__  # noqa: F401
