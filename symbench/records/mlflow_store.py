"""The MLflow store: a team's runs on an MLflow tracking server (or a local ``sqlite:///``
MLflow database), each symbench run one MLflow run.

A run is written to a local directory store first (``--local``, default ``./.symbench/runs``)
and then pushed; the JSON record, stored as the MLflow run's artifact ``record.json``, stays
the source of truth, and is read back by the same loader as a file (parsed, never
evaluated; its sha256 is checked against the tag written with it). Params, tags and metrics
are a searchable index of that record, for MLflow's UI and queries:

- params: package versions, short machine fields, run settings;
- tags: ``symbench.run_id``, git commit, host, GPUs, schema version, machine key, sha256,
  and ``symbench.complete``, set last;
- metrics: one key per ``kernel/backend/device/dtype/size/statistic`` (median, min, p50, p99
  in seconds) and ``kernel/backend/device/dtype/max_ulp`` / ``compile_s``.

A push that dies halfway leaves a run without ``symbench.complete``: readers never see it,
and the next push deletes it and pushes the record again, so pushing twice, or after a crash,
leaves exactly one complete copy. MLflow is imported on first use (``pip install
"symbench[mlflow]"``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import exprcodec
from ..cache import atomic_write_bytes, cache_dir
from ..errors import BadInput, SymbenchError
from .schema import RunView
from .store import DEFAULT_STORE, STORE_ENV, RecordError, Store, parse_record, resolve_ref

SCHEMES = ("http://", "https://", "sqlite:///", "postgresql://", "mysql://", "databricks")
DEFAULT_EXPERIMENT = "symbench"
EXPERIMENT_ENV = "SYMBENCH_EXPERIMENT"
LOCAL_ENV = "SYMBENCH_LOCAL_STORE"
ARTIFACT = "record.json"
TAG = "symbench."  # prefix of every tag symbench writes
COMPLETE = TAG + "complete"


_REASONS = ("Connection refused", "Name or service not known", "timed out", "No route to host",
            "Temporary failure in name resolution", "Connection reset")  # fmt: skip


def _reason(exc: Exception) -> str:
    """An MLflow error in a few words: the network reason when there is one (its messages
    nest a whole retry history on one line), else its first line, cut at a word."""
    text = str(exc).strip()
    known = next((r for r in _REASONS if r in text), None)
    if known:
        return f"cannot reach the server ({known.lower()})"
    first = text.splitlines()[0] if text else type(exc).__name__
    return first if len(first) <= 200 else first[:200].rsplit(" ", 1)[0] + " ..."


class Unreachable(SymbenchError):
    """The tracking server did not answer or refused a call (a record being saved stays in
    the local store). Exit code 1: nothing the user typed was wrong."""

    exit_code = 1


def is_tracking_uri(text: str | os.PathLike | None) -> bool:
    return isinstance(text, str) and text.startswith(SCHEMES)


def _mlflow():
    # Fail fast when a server is away: MLflow's default is 7 retries with backoff (minutes).
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")
    # MLflow prints "View run ... at: URL" on stdout when a run ends: stdout is ours (--json).
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    try:
        import mlflow
        from mlflow.tracking import MlflowClient
    except ImportError as exc:
        raise BadInput(
            f'an MLflow store needs MLflow ({exc}): pip install "symbench[mlflow]"'
        ) from None
    # A local SQLite store logs its schema migrations at INFO on stderr, in every command
    # that opens a new one: symbench's stderr carries its own lines only.
    for name in ("mlflow.store.db.utils", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)
    return mlflow, MlflowClient


def machine_key(machine: dict[str, Any] | None) -> str:
    """12 hex digits naming a machine: host, CPU model and GPU names (what must match for
    stored timings to apply here; ``recommend`` and ``monitor`` group by it)."""
    m = machine or {}
    text = json.dumps(
        [m.get("hostname"), (m.get("cpu") or {}).get("model"),
         [g.get("name") for g in m.get("gpus", [])]]
    )  # fmt: skip
    return hashlib.sha256(text.encode()).hexdigest()[:12]


_KEY_OK = re.compile(r"[^A-Za-z0-9_\-. /:]")


def _key(text: str, limit: int) -> str:
    """An MLflow entity key: allowed characters only, at most ``limit`` long (a long key
    keeps its start and a hash of the whole)."""
    text = _KEY_OK.sub("_", text)
    if len(text) <= limit:
        return text
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    return f"{text[: limit - 13]}~{digest}"


def _flat(prefix: str, value: Any, out: dict[str, str]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _flat(f"{prefix}.{k}" if prefix else str(k), v, out)
    elif value is not None:
        out[prefix] = value if isinstance(value, str) else json.dumps(value)


def index_entries(
    record: dict[str, Any],
) -> tuple[dict[str, str], dict[str, str], dict[str, float]]:
    """(params, tags, metrics) for one record; keys within MLflow's limits."""
    from mlflow.utils.validation import MAX_ENTITY_KEY_LENGTH, MAX_PARAM_VAL_LENGTH

    view = RunView(record)
    prov = view.provenance
    machine = prov.get("machine") or {}
    cpu = machine.get("cpu") or {}
    params: dict[str, str] = {}
    _flat("package", prov.get("packages") or {}, params)
    _flat("setting", view.settings, params)
    _flat("machine", {
        "cpu_model": cpu.get("model"), "cores": cpu.get("cores_usable"),
        "memory_bytes": cpu.get("memory_bytes"), "os": cpu.get("os"),
        "python": (prov.get("python") or {}).get("version"),
        "compiler": (prov.get("compiler") or {}).get("version"),
    }, params)  # fmt: skip
    params = {_key(k, MAX_ENTITY_KEY_LENGTH): v[:MAX_PARAM_VAL_LENGTH] for k, v in params.items()}
    git = prov.get("git") or {}
    tags = {
        TAG + "run_id": view.run_id,
        TAG + "created": view.created,
        TAG + "schema_version": str(record.get("schema_version")),
        TAG + "git_commit": str(git.get("commit") or "unknown"),
        TAG + "git_dirty": str(git.get("dirty")),
        TAG + "host": str(machine.get("hostname")),
        TAG + "gpus": ", ".join(g.get("name", "?") for g in machine.get("gpus", [])) or "none",
        TAG + "machine": machine_key(machine),
        "mlflow.runName": view.run_id,
    }
    metrics: dict[str, float] = {}
    for r in view.results:
        pair = f"{r.kernel}/{r.backend}/{r.device}/{r.dtype}"
        if r.max_ulp is not None:
            metrics[f"{pair}/max_ulp"] = r.max_ulp
        compile_s = r.compile.get("cold_build_s") or r.compile.get("first_s")
        if isinstance(compile_s, (int, float)):
            metrics[f"{pair}/compile_s"] = float(compile_s)
        for t in r.timings:
            lat = t.latency or {}
            for stat, value in (("median_s", t.median_s), ("min_s", t.min_s),
                                ("p50_s", lat.get("p50_s")), ("p99_s", lat.get("p99_s"))):  # fmt: skip
                if isinstance(value, (int, float)):
                    metrics[f"{pair}/{t.size}/{stat}"] = float(value)
    metrics = {_key(k, MAX_ENTITY_KEY_LENGTH): v for k, v in metrics.items()}
    return params, tags, metrics


def _chunks(items: list, size: int) -> Iterator[list]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


@dataclass
class MlflowStore:
    """Runs on an MLflow tracking server; the same methods as the directory ``Store``."""

    uri: str
    experiment: str = DEFAULT_EXPERIMENT
    local: Store = field(
        default_factory=lambda: Store(Path(os.environ.get(LOCAL_ENV) or DEFAULT_STORE))
    )
    _client: Any = field(default=None, repr=False)
    _experiment_id: str | None = field(default=None, repr=False)

    @property
    def path(self) -> str:  # what messages name the store by
        return self.uri

    # --- connection ------------------------------------------------------------------

    def client(self):
        if self._client is None:
            _, MlflowClient = _mlflow()
            self._client = MlflowClient(tracking_uri=self.uri)
        return self._client

    def _call(self, what: str, fn, *args, **kwargs):
        """Call the client; an unreachable server becomes ``Unreachable`` (one line)."""
        from mlflow.exceptions import MlflowException

        try:
            return fn(*args, **kwargs)
        except MlflowException as exc:
            raise Unreachable(f"MLflow store {self.uri}: {what} failed: {_reason(exc)}") from None
        except OSError as exc:
            raise Unreachable(f"MLflow store {self.uri}: {what} failed: {exc}") from None

    def experiment_id(self, create: bool = False) -> str | None:
        if self._experiment_id is None:
            c = self.client()
            exp = self._call("looking up the experiment", c.get_experiment_by_name, self.experiment)
            if exp is None and create:
                try:
                    self._experiment_id = self._call(
                        "creating the experiment", c.create_experiment, self.experiment
                    )
                except Unreachable:  # a concurrent push created it first
                    exp = self._call("looking up the experiment", c.get_experiment_by_name,
                                     self.experiment)  # fmt: skip
                    if exp is None:
                        raise
            if exp is not None:
                self._experiment_id = exp.experiment_id
        return self._experiment_id

    # --- writing ---------------------------------------------------------------------

    def ensure_writable(self) -> None:
        """The local store must take the record; the server may be away (then the record
        waits there for ``symbench push``)."""
        _mlflow()
        self.local.ensure_writable()

    def save(self, record: dict[str, Any]) -> Path:
        """Keep the record locally, then push it; an unreachable server costs one line on
        stderr, never the record."""
        import sys

        path = self.local.save(record)
        try:
            self.push_record(record, path.read_text(encoding="utf-8"))
        except Unreachable as exc:
            sys.stderr.write(
                f"symbench: {exc}; run {record['run_id']} is kept in {self.local.path} "
                f"(`symbench push --store {self.uri}` sends it later)\n"
            )
        return path

    def _runs(self, filter_string: str, max_results: int = 1000) -> list:
        exp = self.experiment_id()
        if exp is None:
            return []
        c = self.client()
        out, token = [], None
        while True:
            page = self._call(
                "searching runs", c.search_runs, [exp], filter_string=filter_string,
                max_results=max_results, order_by=["attributes.start_time DESC"], page_token=token,
            )  # fmt: skip
            out.extend(page)
            token = page.token
            if not token:
                return out

    def push_record(self, record: dict[str, Any], text: str) -> str:
        """Push one record unless a complete copy is there; returns ``pushed`` or
        ``present``. Incomplete copies (an interrupted push) are deleted first."""
        from mlflow.entities import Metric, Param, RunTag
        from mlflow.utils.time import get_current_time_millis
        from mlflow.utils.validation import (
            MAX_ENTITIES_PER_BATCH,
            MAX_METRICS_PER_BATCH,
            MAX_PARAMS_TAGS_PER_BATCH,
        )

        run_id = record["run_id"]
        c = self.client()
        exp = self.experiment_id(create=True)
        existing = self._runs(f"tags.`{TAG}run_id` = '{run_id}'")
        if any(r.data.tags.get(COMPLETE) == "true" for r in existing):
            return "present"
        for r in existing:
            self._call("removing an interrupted push", c.delete_run, r.info.run_id)
        params, tags, metrics = index_entries(record)
        tags[TAG + "sha256"] = hashlib.sha256(text.encode()).hexdigest()
        run = self._call("creating the run", c.create_run, exp, tags={TAG + "run_id": run_id})
        rid = run.info.run_id
        now = get_current_time_millis()
        entities: list = [Param(k, v) for k, v in params.items()]
        entities += [RunTag(k, v) for k, v in tags.items()]
        entities += [Metric(k, v, now, 0) for k, v in metrics.items()]
        # log_batch takes at most 1000 entities, 1000 metrics and 100 params + tags at once.
        small = [e for e in entities if not isinstance(e, Metric)]
        for part in _chunks(small, MAX_PARAMS_TAGS_PER_BATCH):
            self._call("logging params and tags", c.log_batch, rid,
                       params=[e for e in part if isinstance(e, Param)],
                       tags=[e for e in part if isinstance(e, RunTag)])  # fmt: skip
        big = [e for e in entities if isinstance(e, Metric)]
        for part in _chunks(big, min(MAX_METRICS_PER_BATCH, MAX_ENTITIES_PER_BATCH)):
            self._call("logging metrics", c.log_batch, rid, metrics=part)
        with tempfile.TemporaryDirectory() as tmp:
            f = Path(tmp) / ARTIFACT
            f.write_text(text, encoding="utf-8")
            self._call("uploading the record", c.log_artifact, rid, str(f))
        self._call("marking the run complete", c.set_tag, rid, COMPLETE, "true")
        self._call("finishing the run", c.set_terminated, rid, "FINISHED")
        return "pushed"

    def push_pending(self) -> dict[str, str]:
        """Push every record of the local store the server lacks: run id -> ``pushed`` or
        ``present``."""
        done: dict[str, str] = {}
        for p in self.local.files():
            text = p.read_text(encoding="utf-8")
            record = parse_record(text, str(p))
            done[record["run_id"]] = self.push_record(record, text)
        return done

    # --- asv results -----------------------------------------------------------------

    def push_asv(self, results: Path) -> dict[str, str]:
        """Log every asv result file under ``results`` (``<machine>/<commit>-<env>.json``)
        as a run of the experiment ``<experiment>-asv``: the commit, asv's machine info,
        symbench's machine key, the result file and the machine's symbench fingerprint as
        artifacts. A file already logged (same sha256) is not logged again."""
        c = self.client()
        name = f"{self.experiment}-asv"
        exp = self._call("looking up the asv experiment", c.get_experiment_by_name, name)
        exp_id = exp.experiment_id if exp else self._call("creating the asv experiment",
                                                          c.create_experiment, name)  # fmt: skip
        done: dict[str, str] = {}
        for f in sorted(Path(results).glob("*/*.json")):
            if f.name in ("machine.json", "benchmarks.json"):
                continue
            text = f.read_text(encoding="utf-8")
            try:
                data = json.loads(text)
            except ValueError:
                done[str(f)] = "unreadable"
                continue
            sha = hashlib.sha256(text.encode()).hexdigest()
            flt = f"tags.`{TAG}asv_sha256` = '{sha}' and tags.`{COMPLETE}` = 'true'"
            page = self._call("searching asv runs", c.search_runs, [exp_id], filter_string=flt)
            if page:
                done[str(f)] = "present"
                continue
            fingerprints = sorted(f.parent.glob("symbench-fingerprint-*.json.txt"))
            fp = json.loads(fingerprints[-1].read_text()) if fingerprints else {}
            params = {_key(f"asv.{k}", 250): str(v)[:6000]
                      for k, v in (data.get("params") or {}).items()}  # fmt: skip
            tags = {
                TAG + "kind": "asv",
                TAG + "git_commit": str(data.get("commit_hash")),
                TAG + "asv_machine": f.parent.name,
                TAG + "asv_file": f.name,
                TAG + "asv_sha256": sha,
                TAG + "machine": machine_key(fp) if fp else "unknown",
                "mlflow.runName": f"asv {f.parent.name} {str(data.get('commit_hash'))[:8]}",
            }
            run = self._call("creating an asv run", c.create_run, exp_id, tags=tags)
            rid = run.info.run_id
            from mlflow.entities import Param

            items = [Param(k, v) for k, v in params.items()]
            for part in _chunks(items, 100):
                self._call("logging asv params", c.log_batch, rid, params=part)
            self._call("uploading the asv result", c.log_artifact, rid, str(f))
            for fpf in fingerprints[-1:]:
                self._call("uploading the fingerprint", c.log_artifact, rid, str(fpf))
            self._call("marking the asv run complete", c.set_tag, rid, COMPLETE, "true")
            self._call("finishing the asv run", c.set_terminated, rid, "FINISHED")
            done[str(f)] = "pushed"
        return done

    # --- reading ---------------------------------------------------------------------

    def _complete(self, machine: str | None = None) -> list:
        flt = f"tags.`{COMPLETE}` = 'true'"
        if machine:
            flt += f" and tags.`{TAG}machine` = '{machine}'"
        seen, out = set(), []
        for r in self._runs(flt):
            rid = r.data.tags.get(TAG + "run_id")
            if rid and rid not in seen:  # two concurrent pushes of one record: keep one
                seen.add(rid)
                out.append(r)
        return out

    def _fetch(self, run) -> dict[str, Any]:
        """The record artifact of an MLflow run, checked against its sha256 tag, parsed
        by the same loader as a file (cached locally: records never change)."""
        rid = run.data.tags[TAG + "run_id"]
        want = run.data.tags.get(TAG + "sha256", "")
        name = f"{self.uri}#{rid}"
        cached = cache_dir("mlflow-records") / f"{want or run.info.run_id}.json"
        if cached.exists():
            text = cached.read_text(encoding="utf-8")
        else:
            with tempfile.TemporaryDirectory() as tmp:
                local = self._call("downloading a record", self.client().download_artifacts,
                                   run.info.run_id, ARTIFACT, tmp)  # fmt: skip
                text = Path(local).read_text(encoding="utf-8")
        if hashlib.sha256(text.encode()).hexdigest() != want:
            raise RecordError(
                f"record {name}: its artifact does not match the sha256 it was pushed with "
                "(edited or damaged on the server); refusing it"
            )
        record = parse_record(text, name)
        validate_kernels(record, name)
        if not cached.exists():
            atomic_write_bytes(cached, text.encode())
        return record

    def ids(self) -> list[str]:
        return sorted(r.data.tags[TAG + "run_id"] for r in self._complete())

    def load_all(self) -> tuple[list[dict[str, Any]], list[str]]:
        records, problems = [], []
        for run in self._complete():
            try:
                records.append(self._fetch(run))
            except RecordError as exc:
                problems.append(str(exc))
        records.sort(key=lambda r: (r["created"], r["run_id"]))
        return records, problems

    def newest_first(self, machine: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
        """Readable records, newest first; with ``machine``, only that machine's."""
        for run in self._complete(machine_key(machine) if machine is not None else None):
            try:
                yield self._fetch(run)
            except RecordError:
                continue

    def resolve(self, ref: str) -> str:
        return resolve_ref(ref, self.ids(), self.uri)

    def load(self, ref: str) -> dict[str, Any]:
        rid = self.resolve(ref)
        for run in self._runs(f"tags.`{TAG}run_id` = '{rid}' and tags.`{COMPLETE}` = 'true'"):
            return self._fetch(run)
        raise BadInput(f"unknown run {ref!r} in MLflow store {self.uri}")


def validate_kernels(record: dict[str, Any], name: str) -> None:
    """Every stored expression must rebuild with the safe decoder (``exprcodec``): a record
    edited to carry code is refused here, before anything uses it."""
    for kname, k in (record.get("kernels") or {}).items():
        try:
            exprcodec.loads(str(k.get("expr", "")))
        except BadInput as exc:
            raise RecordError(f"record {name}, kernel {kname!r}: {exc}; refusing it") from None


SQLITE_HEADER = b"SQLite format 3\x00"


def _check_sqlite_file(db: Path, uri: str) -> None:
    """A local MLflow store's database must be an SQLite file, or a new one in a writable
    directory that exists: MLflow would otherwise create a mistyped path's directories
    silently, or retry for minutes and end in a database driver's traceback."""
    if db.is_file():
        with db.open("rb") as f:
            header = f.read(len(SQLITE_HEADER))
        if header and header != SQLITE_HEADER:
            raise BadInput(f"store {uri}: {db} is not an SQLite database")
        return
    if db.exists():
        raise BadInput(f"store {uri}: {db} is not a file")
    parent = db.parent if str(db.parent) else Path(".")
    if not parent.is_dir():
        raise BadInput(f"store {uri}: directory {parent} does not exist")
    try:
        fd, probe = tempfile.mkstemp(prefix=".probe-", dir=parent)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise BadInput(f"store {uri}: cannot create {db}: {exc.strerror or exc}") from None


def open_store(
    path: str | os.PathLike | None = None,
    experiment: str | None = None,
    local: str | os.PathLike | None = None,
) -> Store | MlflowStore:
    """The store ``path`` names (default ``$SYMBENCH_STORE``, else ``./.symbench/runs``): a
    directory, or an MLflow tracking URI (``http://host:5000``, ``sqlite:///mlflow.db``)
    whose runs go in ``experiment`` (default ``$SYMBENCH_EXPERIMENT``, else ``symbench``)
    and whose records are kept first in ``local`` (default ``$SYMBENCH_LOCAL_STORE``, else
    ``./.symbench/runs``)."""
    where = path if path is not None else os.environ.get(STORE_ENV)
    if not is_tracking_uri(where):
        return Store(Path(where) if where else DEFAULT_STORE)
    if where.startswith("sqlite:///"):
        _check_sqlite_file(Path(where[len("sqlite:///") :]), where)
    store = MlflowStore(
        str(where), experiment or os.environ.get(EXPERIMENT_ENV) or DEFAULT_EXPERIMENT
    )
    if local:
        store.local = Store(Path(local))
    return store
