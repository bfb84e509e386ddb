"""``symbench export``: one compiled kernel as a self-contained deployment artifact.

The package: ``artifact`` (check, assemble and write an artifact; pick a record's fastest
pair), ``bindings`` (how the loader rebuilds the kernel: load instructions per export kind,
the compiled module, the generated source's globals), ``manifest`` (self-test sample, record
summary, README) and ``loader_template.py``, the standalone loader copied verbatim into each
artifact (it imports nothing from symbench).
"""

from .artifact import FORMAT, export, export_from_record, fastest_pair
from .errors import ExportError, NotEquivalent
from .manifest import _loader_text as _loader_text  # the loader template's text (tests)

__all__ = [
    "FORMAT",
    "ExportError",
    "NotEquivalent",
    "export",
    "export_from_record",
    "fastest_pair",
]
