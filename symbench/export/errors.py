"""Why an export is refused."""

from __future__ import annotations

from ..errors import BadInput


class ExportError(BadInput):
    """The pair cannot be exported (unsupported, unavailable, target not empty). Exit 2."""


class NotEquivalent(ExportError):
    """The pair was checked against the reference and did not pass. Exit 1."""

    exit_code = 1
