"""The directory store: one schema-versioned JSON file per run, written atomically, never
overwritten.

A record holds everything needed to rerun and re-judge its numbers: provenance (code,
versions, compiler, machine), settings, the kernels (expressions as ``srepr`` text, read back
without evaluating code), input hashes, generated sources with their sha256, equivalence
results and every raw timing sample.

Store layout: ``<store>/<run_id>.json``. Files are written to a hidden temporary name and
``os.link``-ed into place, which fails rather than overwrite; an interrupted run leaves at
most a hidden ``.tmp`` file, which readers ignore.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import secrets
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..errors import BadInput
from .schema import REQUIRED, SCHEMA_VERSION, encode_tree, shape_problem, upgrade

STORE_ENV = "SYMBENCH_STORE"
DEFAULT_STORE = Path(".symbench") / "runs"


class RecordError(BadInput):
    """A record that cannot be read: names the file and why."""


def default_store() -> Path:
    """The default directory store (``$SYMBENCH_STORE`` when it names a directory)."""
    env = os.environ.get(STORE_ENV)
    return Path(env) if env and "://" not in env else DEFAULT_STORE


def text_sha256(text: str) -> str:
    """sha256 of a generated source, as stored in records (``sources`` keys)."""
    import hashlib

    return hashlib.sha256(text.encode()).hexdigest()


def new_run_id(now: datetime | None = None) -> str:
    """``YYYYmmddTHHMMSSZ-xxxxxx``: sortable by time, unique across concurrent runs."""
    now = now or datetime.now(timezone.utc)
    return f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


RECORD_FILE = re.compile(r"\d{8}T\d{6}Z-[0-9a-f]{6}\.json")


def refuse_overwriting_a_record(path: str | Path) -> None:
    """BadInput if ``path`` is an existing run record (a file named as ``new_run_id`` names
    them): an output path (a report, JUnit XML, accuracy tables) never replaces one."""
    target = Path(path)
    if RECORD_FILE.fullmatch(target.name) and target.exists():
        raise BadInput(f"refusing to write over {path}: it is a stored run record")


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass
class Store:
    path: Path

    @classmethod
    def open(cls, path: str | Path | None = None) -> Store:
        """The directory store at ``path`` (default: ``default_store()``). ``open_store``
        also opens MLflow stores."""
        return cls(Path(path) if path is not None else default_store())

    def ensure_writable(self) -> None:
        """Create the store and prove it takes a file; BadInput (exit 2) otherwise."""
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            fd, probe = tempfile.mkstemp(prefix=".probe-", dir=self.path)
            os.close(fd)
            os.unlink(probe)
        except OSError as exc:
            raise BadInput(
                f"run store {str(self.path)!r} is not writable: {exc.strerror or exc}"
            ) from None

    def save(self, record: dict[str, Any]) -> Path:
        """Write ``record`` as ``<run_id>.json`` atomically; never replaces an existing file."""
        final = self.path / f"{record['run_id']}.json"
        data = json.dumps(
            encode_tree(record), indent=1, sort_keys=True, allow_nan=False, default=_json_default
        )
        fd, tmp = tempfile.mkstemp(prefix=f".{record['run_id']}.", suffix=".tmp", dir=self.path)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(data)
                f.flush()
                os.fchmod(f.fileno(), 0o666 & ~_umask())  # mkstemp's 0600 hides it from colleagues
                os.fsync(f.fileno())
            os.link(tmp, final)  # fails with FileExistsError instead of overwriting
        finally:
            os.unlink(tmp)
        return final

    def files(self) -> list[Path]:
        if self.path.exists() and not self.path.is_dir():
            raise BadInput(f"run store {str(self.path)!r} is not a directory")
        if not self.path.is_dir():
            return []
        # Records only (named by run id): a stray notes.json is neither a record nor "latest".
        return sorted(p for p in self.path.glob("*.json") if RECORD_FILE.fullmatch(p.name))

    def load_all(self) -> tuple[list[dict[str, Any]], list[str]]:
        """All readable records, oldest first, and one message per unreadable file."""
        records, problems = [], []
        for p in self.files():
            try:
                records.append(load_file(p))
            except RecordError as exc:
                problems.append(str(exc))
        records.sort(key=lambda r: (r["created"], r["run_id"]))
        return records, problems

    def resolve(self, ref: str) -> Path:
        """A record file from a run id, a unique id prefix, ``latest``, or a path."""
        as_path = Path(ref)
        if as_path.suffix == ".json" and as_path.is_file():
            return as_path
        return (
            self.path / f"{resolve_ref(ref, [p.stem for p in self.files()], str(self.path))}.json"
        )

    def load(self, ref: str) -> dict[str, Any]:
        return load_file(self.resolve(ref))

    def newest_first(self, machine: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
        """Readable records, newest first, read one at a time (callers stop early);
        ``machine`` is a hint a remote store filters by (callers still check)."""
        for path in reversed(self.files()):
            try:
                yield load_file(path)
            except RecordError:
                continue


def resolve_ref(ref: str, ids: list[str], where: str) -> str:
    """The run id ``ref`` names among ``ids``: itself, a unique prefix, or ``latest``."""
    if ref == "latest":
        if not ids:
            raise BadInput(f"no runs in store {where!r}; run `symbench run` first")
        return max(ids)
    if ref in ids:
        return ref
    matches = [i for i in ids if i.startswith(ref)]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise BadInput(f"run id {ref!r} is ambiguous: {', '.join(matches[:5])}")
    close = difflib.get_close_matches(ref, ids, n=3, cutoff=0.3)
    hint = f"; closest: {', '.join(close)}" if close else ""
    raise BadInput(f"unknown run {ref!r} in store {where!r}{hint}")


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def load_file(path: Path) -> dict[str, Any]:
    """Read and validate one record; RecordError names the file and what is wrong."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RecordError(f"cannot read record {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise RecordError(f"record {path} is corrupt: not UTF-8 text") from None
    return parse_record(text, str(path))


def parse_record(text: str, path: str) -> dict[str, Any]:
    """A record from its JSON text (a file's, or an MLflow artifact's): parsed as data, never
    evaluated; ``path`` names it in errors."""
    try:
        record = json.loads(text)
    except ValueError as exc:
        raise RecordError(f"record {path} is corrupt or truncated: {exc}") from None
    except RecursionError:
        raise RecordError(f"record {path} is corrupt: nested too deeply") from None
    if not isinstance(record, dict):
        raise RecordError(f"record {path} is not a JSON object")
    version = record.get("schema_version")
    if "schema_version" not in record:
        raise RecordError(f"record {path} has no schema_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise RecordError(f"record {path} has schema_version {version!r}, not a version number")
    if version > SCHEMA_VERSION:
        raise RecordError(
            f"record {path} has schema version {version}, newer than the {SCHEMA_VERSION} this "
            "symbench reads: upgrade symbench to read it"
        )
    record = upgrade(record)
    missing = [k for k in REQUIRED if k not in record]
    if missing:
        raise RecordError(f"record {path} lacks {', '.join(missing)}")
    problem = shape_problem(record)
    if problem:
        raise RecordError(f"record {path} is corrupt: {problem}")
    return record


def _json_default(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serializable: {type(obj).__name__}")
