"""The run record's schema: its version and upgrade chain, the one encoding of non-finite
numbers, typed views for reading, and the one factory that builds records.

A record is a JSON object and stays one: the file is the source of truth, and
``docs/records.md`` documents every field. Readers use the views (``RunView``,
``ResultView``, ``TimingView``) instead of spelling string keys, so a missing field is
handled in one place and a renamed field in one upgrade step.

Versions:

1. The first schema (2026-11). A result that was never timed had no ``timings`` and one
   without generated source no ``source_sha256``; ``max_ulp`` and the other error figures
   were written as the strings ``"inf"``/``"nan"`` where not finite.
2. (2026-12) Every result carries every field of ``RESULT_FIELDS`` (its empty value where it
   does not apply), and every non-finite number anywhere in the record is written as one of
   the strings ``"inf"``, ``"-inf"``, ``"nan"`` (``encode_number`` / ``number``).
"""

from __future__ import annotations

import copy
import math
import numbers
from collections.abc import Callable, Iterator, Mapping
from typing import Any

SCHEMA_VERSION = 2
REQUIRED = ("schema_version", "run_id", "created", "provenance", "settings", "kernels", "results")

# Every result's fields and their value where they do not apply (schema 2).
RESULT_FIELDS: dict[str, Any] = {
    "kernel": None,
    "backend": None,
    "device": "cpu",
    "dtype": None,
    "status": None,
    "reason": "",
    "max_ulp": None,
    "max_rel_err": None,
    "max_abs_err": None,
    "nonfinite_match": None,
    "points": 0,
    "size": 0,
    "special": [],
    "tolerance": {},
    "build": {},
    "compile": {},
    "compile_s": None,
    "source_sha256": None,
    "timings": [],
}
NONFINITE = {"inf": math.inf, "-inf": -math.inf, "nan": math.nan}


# --- non-finite numbers ----------------------------------------------------------------


def encode_number(value: float) -> float | str:
    """A float as a record stores it: itself when finite, else ``"inf"``, ``"-inf"`` or
    ``"nan"`` (JSON has no non-finite numbers)."""
    if math.isfinite(value):
        return value
    return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")


def number(value: Any) -> float | None:
    """A stored number back as a float (None stays None); the inverse of ``encode_number``."""
    if value is None:
        return None
    if isinstance(value, str):
        if value not in NONFINITE:
            raise ValueError(f"not a stored number: {value!r}")
        return NONFINITE[value]
    return float(value)


def encode_tree(obj: Any) -> Any:
    """``obj`` with every non-finite float (also NumPy scalars) encoded; used by the store
    right before writing, so no module encodes on its own."""
    if isinstance(obj, dict):
        return {k: encode_tree(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [encode_tree(v) for v in obj]
    if isinstance(obj, numbers.Real) and not isinstance(obj, numbers.Integral):
        return encode_number(float(obj))  # also NumPy's float32 and float64 scalars
    return obj


# --- upgrades ----------------------------------------------------------------------------


def _v1_to_v2(record: dict[str, Any]) -> dict[str, Any]:
    for result in record.get("results", []):
        for name, empty in RESULT_FIELDS.items():
            if name not in result:
                result[name] = copy.deepcopy(empty)
        for name in ("max_ulp", "max_rel_err", "max_abs_err"):
            if isinstance(result[name], str):  # schema 1 wrote str(float): "inf", "nan"
                result[name] = encode_number(number(result[name]))
    record["schema_version"] = 2
    return record


# UPGRADES[n] turns a schema-n record into a schema-(n+1) one.
UPGRADES: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {1: _v1_to_v2}


def upgrade(record: dict[str, Any]) -> dict[str, Any]:
    """Bring a record up to ``SCHEMA_VERSION``, one step per version; returns a new dict
    (the argument is not changed). A newer or unknown version raises ValueError."""
    out = copy.deepcopy(record)
    version = out.get("schema_version")
    if not isinstance(version, int) or version < 1 or version > SCHEMA_VERSION:
        raise ValueError(f"cannot upgrade schema version {version!r} to {SCHEMA_VERSION}")
    while out["schema_version"] < SCHEMA_VERSION:
        out = UPGRADES[out["schema_version"]](out)
    return out


# --- the shape every reader relies on ---------------------------------------------------

_TOP_TYPES = {"run_id": str, "created": str, "provenance": dict, "settings": dict,
              "kernels": dict, "results": list}  # fmt: skip


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _seconds(value: Any) -> bool:
    return (
        isinstance(value, numbers.Real)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value >= 0
    )


def shape_problem(record: Mapping[str, Any]) -> str | None:
    """What in a (parsed, upgraded) record is not shaped as symbench writes it, or None.
    Checked on every load, so a damaged or hand-made record is refused with one line instead
    of breaking a command that reads it: the types of the top-level fields, each result's
    names, and each timing's size and samples (finite seconds, as ``new_timing`` writes)."""
    for name, kind in _TOP_TYPES.items():
        if not isinstance(record[name], kind):
            return f"{name} is not a JSON {'object' if kind is dict else kind.__name__}"
    sizes = record["settings"].get("sizes")
    if sizes is not None and not (isinstance(sizes, list) and all(map(_count, sizes))):
        return "settings.sizes is not a list of sizes"
    for i, result in enumerate(record["results"]):
        where = f"results[{i}]"
        if not isinstance(result, dict):
            return f"{where} is not a JSON object"
        for name in ("kernel", "backend", "dtype"):
            if not isinstance(result.get(name), str):
                return f"{where}.{name} is not a name"
        timings = result.get("timings") or []
        if not isinstance(timings, list):
            return f"{where}.timings is not a list"
        for j, timing in enumerate(timings):
            at = f"{where}.timings[{j}]"
            if not isinstance(timing, dict) or not _count(timing.get("size")):
                return f"{at} has no size"
            samples = timing.get("samples") or []
            if not isinstance(samples, list) or not all(map(_seconds, samples)):
                return f"{at}.samples are not finite times in seconds"
            for name in ("median_s", "min_s"):
                if timing.get(name) is not None and not _seconds(timing[name]):
                    return f"{at}.{name} is not a finite time in seconds"
    return None


# --- the one factory ---------------------------------------------------------------------


def new_result(kernel: str, backend: str, dtype: str = "float64", **fields: Any) -> dict:
    """A result entry with every field present (``fields`` override the empty values;
    ``timing_error`` is the one optional field, present only when timing broke)."""
    entry = copy.deepcopy(RESULT_FIELDS) | {"kernel": kernel, "backend": backend, "dtype": dtype}
    unknown = set(fields) - set(RESULT_FIELDS) - {"timing_error"}
    if unknown:
        raise TypeError(f"unknown result fields: {', '.join(sorted(unknown))}")
    return entry | fields


def new_timing(size: int, samples: list[float], **fields: Any) -> dict[str, Any]:
    """A timing entry for ``size`` elements from its raw samples (seconds per call)."""
    ordered = sorted(samples)
    n = len(ordered)
    median = (ordered[(n - 1) // 2] + ordered[n // 2]) / 2 if n else None
    return {
        "size": size,
        "samples": list(samples),
        "median_s": median,
        "min_s": ordered[0] if n else None,
    } | fields


def new_record(
    run_id: str, created: str, results: list[dict[str, Any]] | None = None, **fields: Any
) -> dict[str, Any]:
    """A record of the current schema: the required fields (empty where not given), the
    results, and any further top-level ``fields`` (bandwidth, sources, summary ...)."""
    return {
        "schema_version": SCHEMA_VERSION,
        "run_id": run_id,
        "created": created,
        "provenance": {},
        "settings": {},
        "kernels": {},
        "results": list(results or []),
    } | fields


# --- typed views -------------------------------------------------------------------------


class TimingView:
    """One size's timing of one result: raw samples and their summary."""

    __slots__ = ("raw",)

    def __init__(self, raw: Mapping[str, Any]):
        self.raw = raw

    size = property(lambda self: int(self.raw["size"]))
    samples = property(lambda self: list(self.raw.get("samples") or []))
    median_s = property(lambda self: number(self.raw.get("median_s")))
    min_s = property(lambda self: number(self.raw.get("min_s")))
    first_call_s = property(lambda self: number(self.raw.get("first_call_s")))
    bw_fraction = property(lambda self: number(self.raw.get("bw_fraction")))
    gbs = property(lambda self: number(self.raw.get("gbs")))
    latency = property(lambda self: self.raw.get("latency") or None)
    end_to_end = property(lambda self: self.raw.get("end_to_end") or None)


class ResultView:
    """One (kernel, backend, dtype, device) entry: its verdict and its timings."""

    __slots__ = ("raw",)

    def __init__(self, raw: Mapping[str, Any]):
        self.raw = raw

    kernel = property(lambda self: self.raw["kernel"])
    backend = property(lambda self: self.raw["backend"])
    dtype = property(lambda self: self.raw["dtype"])
    device = property(lambda self: self.raw.get("device") or "cpu")
    status = property(lambda self: self.raw.get("status"))
    reason = property(lambda self: self.raw.get("reason") or "")
    max_ulp = property(lambda self: number(self.raw.get("max_ulp")))
    compile = property(lambda self: self.raw.get("compile") or {})
    source_sha256 = property(lambda self: self.raw.get("source_sha256"))

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.kernel, self.backend, self.dtype, self.device)

    @property
    def timings(self) -> list[TimingView]:
        return [TimingView(t) for t in self.raw.get("timings") or []]

    def timing_at(self, size: int) -> TimingView | None:
        return next((t for t in self.timings if t.size == size), None)

    @property
    def timed(self) -> bool:
        """Passed the check and has at least one timing."""
        return self.status == "pass" and bool(self.raw.get("timings"))


class RunView:
    """A whole record: identity, provenance, settings and its results."""

    __slots__ = ("raw",)

    def __init__(self, raw: Mapping[str, Any]):
        self.raw = raw

    run_id = property(lambda self: self.raw.get("run_id", "?"))
    created = property(lambda self: self.raw.get("created", ""))
    provenance = property(lambda self: self.raw.get("provenance") or {})
    settings = property(lambda self: self.raw.get("settings") or {})
    kernels = property(lambda self: self.raw.get("kernels") or {})

    @property
    def results(self) -> list[ResultView]:
        return [ResultView(r) for r in self.raw.get("results") or []]

    def timings(self) -> Iterator[tuple[ResultView, TimingView]]:
        """Every (result, timing) pair, in record order."""
        for r in self.results:
            for t in r.timings:
                yield r, t
