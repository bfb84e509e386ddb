"""Run records: the directory store, the schema (versions, upgrades, views, the factory),
provenance and the summary of a run.

``symbench.records`` keeps the names it has always had (``Store``, ``load_file``,
``SCHEMA_VERSION`` ...); ``symbench.provenance`` and ``symbench.summary`` still import.
"""

from .mlflow_store import MlflowStore, open_store
from .schema import (
    REQUIRED,
    SCHEMA_VERSION,
    ResultView,
    RunView,
    TimingView,
    encode_number,
    new_record,
    new_result,
    new_timing,
    number,
    upgrade,
)
from .store import (
    DEFAULT_STORE,
    STORE_ENV,
    RecordError,
    Store,
    default_store,
    load_file,
    new_run_id,
    now_iso,
    text_sha256,
)

__all__ = [
    "DEFAULT_STORE",
    "REQUIRED",
    "SCHEMA_VERSION",
    "STORE_ENV",
    "MlflowStore",
    "RecordError",
    "ResultView",
    "RunView",
    "Store",
    "TimingView",
    "default_store",
    "encode_number",
    "load_file",
    "new_record",
    "new_result",
    "new_run_id",
    "new_timing",
    "now_iso",
    "number",
    "open_store",
    "text_sha256",
    "upgrade",
]
