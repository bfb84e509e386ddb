import json

import pytest
import sympy as sp

from symbench import BadInput, catalog, exprcodec, get_kernel
from symbench.exprcodec import dumps, loads
from symbench.kernels.storage import kernel_from_dict, kernel_to_dict
from symbench.records import SCHEMA_VERSION, RecordError, Store, load_file, new_record, new_run_id


def minimal_record(run_id=None, created="2026-01-01T00:00:00+00:00"):
    return new_record(run_id or new_run_id(), created)


def test_save_and_load_roundtrip(tmp_path):
    store = Store(tmp_path)
    rec = minimal_record()
    path = store.save(rec)
    assert load_file(path) == rec
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary left behind


def test_records_are_never_overwritten(tmp_path):
    store = Store(tmp_path)
    rec = minimal_record("20260101T000000Z-aaaaaa")
    store.save(rec)
    with pytest.raises(FileExistsError):
        store.save(rec | {"created": "changed"})
    assert store.load("20260101T000000Z-aaaaaa")["created"] == rec["created"]


def test_corrupt_records_are_named_and_skipped(tmp_path):
    store = Store(tmp_path)
    good = store.save(minimal_record())
    text = good.read_text()
    (tmp_path / "20250101T000000Z-bbbbbb.json").write_text(text[: len(text) // 2])
    (tmp_path / ".20250101T000000Z-cccccc.x.tmp").write_text("partial")  # interrupted write
    records, problems = store.load_all()
    assert len(records) == 1
    assert len(problems) == 1 and "20250101T000000Z-bbbbbb.json" in problems[0]
    assert "corrupt or truncated" in problems[0]


def _timed(record, **timing):
    result = {"kernel": "add", "backend": "numpy", "dtype": "float64", "status": "pass"}
    timing = {"size": 10, "samples": [1e-6, 2e-6], "median_s": 1.5e-6} | timing
    return record | {"settings": {"sizes": [10]}, "results": [result | {"timings": [timing]}]}


DAMAGED = {  # each of these once broke a command that read the store with a traceback
    "binary": lambda rec: b"\x89PNG\r\n\x1a\n\xff\xfe" * 50,
    "results null": lambda rec: rec | {"results": None},
    "results of strings": lambda rec: rec | {"results": ["a", "b"]},
    "settings a list": lambda rec: rec | {"settings": [1]},
    "sizes a string": lambda rec: rec | {"settings": {"sizes": "abc"}},
    "run_id a number": lambda rec: rec | {"run_id": 5},
    "nested 100 000 deep": lambda rec: "[" * 100_000 + "]" * 100_000,
    "NaN samples": lambda rec: _timed(rec, samples=[float("nan")] * 3),
    "a negative median": lambda rec: _timed(rec, median_s=-1.0),
    "a timing without size": lambda rec: _timed(rec, size="ten"),
}


@pytest.mark.parametrize("damage", DAMAGED)
def test_a_damaged_record_is_refused_in_one_line_and_the_others_still_read(tmp_path, damage):
    from symbench.cli import main

    store = Store(tmp_path)
    good = store.save(_timed(minimal_record("20260101T000000Z-aaaaaa")))
    bad = DAMAGED[damage](minimal_record("20260102T000000Z-bbbbbb"))
    bad = bad if isinstance(bad, (bytes, str)) else json.dumps(bad)
    path = tmp_path / "20260102T000000Z-bbbbbb.json"
    path.write_bytes(bad if isinstance(bad, bytes) else bad.encode())
    with pytest.raises(RecordError, match="corrupt|not a JSON object|no schema_version"):
        load_file(path)
    records, problems = store.load_all()
    assert [r["run_id"] for r in records] == ["20260101T000000Z-aaaaaa"] and len(problems) == 1
    assert main(["show", "20260102T000000Z-bbbbbb", "--store", str(tmp_path)]) == 2
    assert main(["history", "--store", str(tmp_path)]) == 0
    assert load_file(good) == store.load("20260101T000000Z-aaaaaa")  # nothing lost


def test_newer_schema_is_refused_with_a_clear_message(tmp_path):
    p = tmp_path / "new.json"
    p.write_text(json.dumps(minimal_record() | {"schema_version": SCHEMA_VERSION + 1}))
    with pytest.raises(RecordError, match="upgrade symbench"):
        load_file(p)


def test_resolve_prefix_latest_and_suggestions(tmp_path):
    store = Store(tmp_path)
    store.save(minimal_record("20260101T000000Z-aaaaaa"))
    store.save(minimal_record("20260102T000000Z-bbbbbb"))
    assert store.resolve("20260101").name.startswith("20260101")
    assert store.resolve("latest").name.startswith("20260102")
    with pytest.raises(BadInput, match="ambiguous"):
        store.resolve("2026010")
    with pytest.raises(BadInput, match="closest: 20260102T000000Z-bbbbbb"):
        store.resolve("20260102T000000Z-bbbbbc")


def test_unwritable_store_is_bad_input(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(BadInput, match="not writable"):
        Store(blocker / "runs").ensure_writable()


def test_expressions_roundtrip_without_evaluation(monkeypatch):
    def no_eval(*a, **k):
        raise AssertionError("sympify/eval called while loading")

    monkeypatch.setattr(sp, "sympify", no_eval)
    monkeypatch.setattr("builtins.eval", no_eval)
    for k in catalog().values():
        assert kernel_from_dict(kernel_to_dict(k)) == k


@pytest.mark.parametrize(
    "text",
    [
        "__import__('os').system('true')",
        "Symbol.__subclasses__()",
        "(lambda: 1)()",
        "x.y",
        "open('f')",
    ],
)
def test_malicious_expressions_are_refused(text):
    with pytest.raises(BadInput):
        loads(text)


def test_altered_stored_kernel_is_detected():
    d = kernel_to_dict(get_kernel("square"))
    d["expr"] = dumps(sp.Symbol("x", real=True) ** 3)
    with pytest.raises(BadInput, match="content hash"):
        kernel_from_dict(d)


def test_concurrent_atomic_writes_of_one_path_never_collide(tmp_path):
    # Regression: temporary names once depended on the pid only, so two threads writing the
    # same content-addressed file (numba's float32 and float64 builds) raced on the rename.
    from concurrent.futures import ThreadPoolExecutor

    from symbench.cache import atomic_write_bytes

    target = tmp_path / "same.bin"
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: atomic_write_bytes(target, b"x" * 100_000), range(64)))
    assert target.read_bytes() == b"x" * 100_000
    assert [p.name for p in tmp_path.iterdir()] == ["same.bin"]


def test_a_store_that_is_a_file_is_bad_input_not_an_empty_history(tmp_path, capsys):
    # Regression: `history --store FILE` printed an empty table and exited 0.
    from symbench.cli import main

    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert main(["history", "--store", str(blocker)]) == 2
    assert "not a directory" in capsys.readouterr().err


def test_loading_survives_user_defined_sympy_classes():
    # sp.Function("g") makes a class whose __module__ is None; the allow-list walk over
    # SymPy's classes used to crash on it, so no record could be loaded afterwards.
    sp.Function("g_defined_by_a_user")
    exprcodec._CLASSES.clear()  # the walk happens once per process
    for k in catalog().values():
        assert kernel_from_dict(kernel_to_dict(k)) == k


def test_a_mistyped_sqlite_store_is_bad_input_before_mlflow_is_asked(tmp_path, capsys):
    # MLflow created a missing path's directories silently, and on an unwritable one
    # retried for 100 s, then printed a database driver's traceback (bad-input sweep).
    from symbench.cli import main

    not_a_db = tmp_path / "notes.txt"
    not_a_db.write_text("<html>")
    cases = {
        f"sqlite:///{tmp_path}/missing/dir/m.db": "does not exist",
        f"sqlite:///{not_a_db}": "is not an SQLite database",
        f"sqlite:///{tmp_path}": "is not a file",
        "sqlite:////proc/symbench-test.db": "cannot create",
    }
    for uri, message in cases.items():
        assert main(["history", "--store", uri]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err, err
    assert not (tmp_path / "missing").exists()


def test_an_unreachable_servers_error_is_a_few_words():
    from symbench.records.mlflow_store import _reason

    nested = ("API request to http://h:1/api/2.0/mlflow/experiments/get-by-name failed with "
              "exception HTTPConnectionPool(host='h', port=1): Max retries exceeded with url: "
              "(Caused by NewConnectionError('<urllib3.connection.HTTPConnection>: Failed to "
              "establish a new connection: [Errno 111] Connection refused'))")  # fmt: skip
    assert _reason(Exception(nested)) == "cannot reach the server (connection refused)"
    long = _reason(Exception("word " * 100))
    assert len(long) <= 204 and long.endswith(" ...") and "wor ..." not in long


def test_a_stray_json_file_is_not_a_record_nor_latest(tmp_path):
    store = Store(tmp_path)
    store.save(minimal_record("20260101T000000Z-aaaaaa"))
    (tmp_path / "notes.json").write_text('{"mine": 1}')  # sorted after every run id
    assert store.resolve("latest").name == "20260101T000000Z-aaaaaa.json"
    records, problems = store.load_all()
    assert len(records) == 1 and problems == []


@pytest.mark.parametrize("version", ["2", 2.5, True])
def test_a_schema_version_that_is_not_a_number_is_named(tmp_path, version):
    p = tmp_path / "20260101T000000Z-aaaaaa.json"
    p.write_text(json.dumps(minimal_record() | {"schema_version": version}))
    with pytest.raises(RecordError, match="not a version number"):
        load_file(p)
