"""Kept import path: this module lives in ``symbench.records.provenance``."""

from .records.provenance import (
    CORE_PACKAGES,
    collect,
    compiler_info,
    data_files,
    environment_changes,
    git_state,
    package_versions,
    packages,
)

__all__ = [
    "CORE_PACKAGES",
    "packages",
    "package_versions",
    "git_state",
    "compiler_info",
    "collect",
    "data_files",
    "environment_changes",
]
