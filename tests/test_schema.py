"""The record schema: upgrades from a real schema-1 record, one non-finite encoding, views,
the factory, and every command on a record made before the schema changed."""

from __future__ import annotations

import copy
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from symbench.cli import main
from symbench.records import (
    SCHEMA_VERSION,
    RecordError,
    RunView,
    Store,
    encode_number,
    load_file,
    new_record,
    new_result,
    new_timing,
    number,
    upgrade,
)
from symbench.records.schema import RESULT_FIELDS, encode_tree
from symbench.records.summary import summarize

# Written by `symbench run --kernel add,gamma --backend numpy,numexpr,numba --sizes
# 1000,100000 --repeats 5 --dtype float64` at commit bc6e080 (schema 1), unedited.
SCHEMA1 = Path(__file__).parent / "fixtures" / "record-schema1.json"


@pytest.fixture
def old_store(tmp_path):
    shutil.copy(SCHEMA1, tmp_path / SCHEMA1.name.replace("record-schema1", _run_id()))
    return tmp_path


def _run_id() -> str:
    return json.loads(SCHEMA1.read_text())["run_id"]


def test_the_fixture_is_a_real_schema_1_record():
    raw = json.loads(SCHEMA1.read_text())
    assert raw["schema_version"] == 1
    untimed = [r for r in raw["results"] if r["status"] != "pass"]
    assert untimed and all("timings" not in r for r in untimed)  # what schema 2 fills in


def test_schema_1_upgrades_to_the_current_schema_keeping_every_value():
    raw = json.loads(SCHEMA1.read_text())
    record = load_file(SCHEMA1)
    assert record["schema_version"] == SCHEMA_VERSION == 2
    for old, new in zip(raw["results"], record["results"]):
        assert set(new) >= set(RESULT_FIELDS)
        assert {k: new[k] for k in old} == old  # nothing recorded is changed
    assert summarize(record) == raw["summary"]  # old records summarize the same way
    assert raw["schema_version"] == 1 and upgrade(raw) is not raw  # the input is not changed


def test_unknown_and_newer_versions_are_refused(tmp_path):
    with pytest.raises(ValueError, match="cannot upgrade"):
        upgrade({"schema_version": SCHEMA_VERSION + 1})
    p = tmp_path / "r.json"
    p.write_text(json.dumps({"schema_version": 0}))
    with pytest.raises(RecordError, match="schema_version 0, not a version number"):
        load_file(p)


def test_one_encoding_of_non_finite_numbers():
    for value in (math.inf, -math.inf, 1.5, 0.0):
        assert number(encode_number(value)) == value
    assert math.isnan(number(encode_number(math.nan)))
    assert number(None) is None
    with pytest.raises(ValueError):
        number("Infinity")  # not ours
    tree = {"a": [np.float32("inf"), 1, {"b": -math.inf, "c": np.float64(2.5)}], "d": "inf"}
    assert encode_tree(tree) == {"a": ["inf", 1, {"b": "-inf", "c": 2.5}], "d": "inf"}


def test_the_store_writes_non_finite_numbers_in_the_one_encoding(tmp_path):
    record = new_record(
        "20260101T000000Z-aaaaaa",
        "2026-01-01T00:00:00+00:00",
        [new_result("sinc", "numpy", max_ulp=math.inf, max_rel_err=np.float64("nan"))],
    )
    path = Store(tmp_path).save(record)
    text = json.loads(path.read_text())["results"][0]
    assert (text["max_ulp"], text["max_rel_err"]) == ("inf", "nan")
    view = RunView(load_file(path)).results[0]
    assert view.max_ulp == math.inf and view.timings == []


def test_views_read_a_record_without_string_keys():
    run = RunView(load_file(SCHEMA1))
    assert run.run_id == _run_id() and run.settings["repeats"] == 5
    pairs = list(run.timings())
    assert {t.size for _, t in pairs} == {1000, 100000}
    r, t = pairs[0]
    assert (
        r.timed
        and t.median_s == json.loads(SCHEMA1.read_text())["results"][0]["timings"][0]["median_s"]
    )
    assert r.timing_at(1000) is not None and r.timing_at(7) is None
    unsupported = [r for r in run.results if r.status == "unsupported"]
    assert unsupported and not unsupported[0].timed and unsupported[0].reason


def test_the_factory_makes_records_the_store_accepts(tmp_path):
    timing = new_timing(1000, [3e-6, 1e-6, 2e-6])
    assert (timing["median_s"], timing["min_s"]) == (2e-6, 1e-6)
    record = new_record(
        "20260101T000000Z-aaaaaa", "2026-01-01T00:00:00+00:00", [new_result("add", "numpy")]
    )
    assert load_file(Store(tmp_path).save(record)) == record
    with pytest.raises(TypeError, match="unknown result fields"):
        new_result("add", "numpy", max_ulps=1)


# --- every command on a record made before the change ----------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["show", "latest", "--json"],
        ["history", "--json"],
        ["gate", "RUN", "COPY"],
        ["recommend", "--kernel", "add", "--json"],
        ["report", "latest", "--format", "md"],
    ],
    ids=lambda a: a[0],
)
def test_commands_read_a_schema_1_record(argv, old_store, capsys):
    if argv[0] == "gate":  # a run is not gated with itself: a second schema-1 run, same timings
        raw = json.loads(SCHEMA1.read_text())
        raw["run_id"] = raw["run_id"][:-6] + "bbbbbb"
        (old_store / f"{raw['run_id']}.json").write_text(json.dumps(raw))
        argv = ["gate", _run_id(), raw["run_id"]]
    code = main([*argv, "--store", str(old_store)])
    out, err = capsys.readouterr()
    # gate: equal timings with 5 samples a pair are "pass" or "undecided" (exit 3), as before
    assert code in ((0, 3) if argv[0] == "gate" else (0,)), err
    assert out.strip()
    if "--json" in argv:
        json.loads(out)


def test_export_from_a_schema_1_record(old_store, tmp_path, capsys):
    argv = ["export", "latest", "--kernel", "gamma", "--store", str(old_store)]
    code = main([*argv, "--out", str(tmp_path / "art")])
    assert code == 0, capsys.readouterr().err
    manifest = json.loads((tmp_path / "art" / "manifest.json").read_text())
    assert manifest["run_id"] == _run_id()


@pytest.mark.slow
def test_verify_reruns_a_schema_1_record(old_store, capsys):
    code = main(["verify", "latest", "--store", str(old_store), "--no-timings", "--no-progress"])
    out, err = capsys.readouterr()
    assert code == 0, out + err


def test_show_json_of_an_old_record_holds_its_recorded_values(old_store, capsys):
    assert main(["show", "latest", "--json", "--store", str(old_store)]) == 0
    shown = json.loads(capsys.readouterr().out)
    raw = json.loads(SCHEMA1.read_text())
    got = shown.get("results", shown) if isinstance(shown, dict) else shown
    old = copy.deepcopy(raw["results"])
    assert [{k: r[k] for k in o} for r, o in zip(got, old)] == old
