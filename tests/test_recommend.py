"""recommend and symbench.compile: choices come from stored runs, gaps are measured once."""

import json

import numpy as np
import pytest

import symbench
from symbench import BadInput, Kernel, get_kernel
from symbench.cli import main
from symbench.recommend import RECOMMEND_LATENCY_S, recommend
from symbench.records import Store
from symbench.runner import RunSettings

BACKENDS = ["numpy", "numba"]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return Store(tmp_path_factory.mktemp("runs"))


@pytest.fixture(scope="module")
def first(store):
    return recommend(get_kernel("add"), [1, 64], store=store, backends=BACKENDS)


def test_first_answer_measures_and_stores_a_run(first, store):
    assert first.measured_run is not None
    assert [p.batch for p in first.picks] == [1, 64]
    record = store.load(first.measured_run)
    assert record["settings"]["sizes"] == [1, 64]
    for pick in first.picks:
        assert pick.best.backend in BACKENDS and pick.runner_up.backend in BACKENDS
        assert pick.best.p50_s <= pick.runner_up.p50_s and pick.margin >= 1
        assert pick.best.p50_s <= pick.best.p99_s
        assert pick.best.throughput == pytest.approx(pick.batch / pick.best.p50_s)
        assert pick.best.cold_start_s >= pick.best.compile_s >= 0


def test_second_answer_comes_from_the_store(first, store):
    again = recommend(get_kernel("add"), [1, 64], store=store, backends=BACKENDS)
    assert again.measured_run is None and again.runs_used == [first.measured_run]
    assert [p.best.backend for p in again.picks] == [p.best.backend for p in first.picks]
    assert len(store.files()) == 1


def test_latency_percentiles_come_from_single_calls(first, store):
    record = store.load(first.measured_run)
    timing = next(r for r in record["results"] if r.get("timings"))["timings"][0]
    lat = timing["latency"]
    assert lat["calls"] == len(lat["samples"]) >= 5
    assert lat["p50_s"] == pytest.approx(float(np.percentile(lat["samples"], 50)))
    assert lat["p99_s"] == pytest.approx(float(np.percentile(lat["samples"], 99)))
    # recommend measures latency, what it ranks, longer than a run does
    assert record["settings"]["latency_s"] == RECOMMEND_LATENCY_S > RunSettings().latency_s


def test_another_expression_never_borrows_numbers(first, store):
    other = Kernel.from_expr("x*y", {"x": (-1, 1), "y": (-1, 1)}, name="add")  # same name
    rec = recommend(other, [1], store=store, backends=["numpy"])
    assert rec.measured_run is not None and rec.measured_run != first.measured_run


def test_runs_from_another_machine_are_not_used(first, store, tmp_path):
    record = store.load(first.measured_run)
    record["run_id"] = "20200101T000000Z-000000"
    record["provenance"]["machine"]["hostname"] = "some-other-host"
    other = Store(tmp_path)
    other.save(record)
    rec = recommend(get_kernel("add"), [1], store=other, backends=["numpy"], measure=False)
    assert rec.picks[0].best is None and "not measured" in rec.picks[0].excluded["numpy"]
    # unmeasured is not "none passed" (exit 1, which it was): exit 3, not enough data
    assert rec.picks[0].unmeasured and rec.exit_code == 3
    named = recommend(get_kernel("add"), [1], store=other, backends=["numpy"], measure=False,
                      from_run=record["run_id"])  # fmt: skip
    assert named.picks[0].best.backend == "numpy"  # an explicitly named run is used as is


def test_compile_budget_excludes_backends(first, store):
    rec = recommend(get_kernel("add"), [1], store=store, backends=BACKENDS, max_compile_s=0.0)
    pick = rec.picks[0]
    assert pick.best is None or (pick.best.compile_s or 0) <= 0.0
    assert any("compile" in why for why in pick.excluded.values())
    assert not pick.unmeasured and rec.exit_code == (1 if pick.best is None else 0)


def test_cli_recommend_json_and_bad_input(first, store, capsys):
    argv = ["recommend", "-k", "add", "--batch", "1,64", "-b", "numpy,numba", "--json",
            "--store", str(store.path), "--no-progress"]  # fmt: skip
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["measured_run"] is None and [p["batch"] for p in out["picks"]] == [1, 64]
    assert main(["recommend", "--batch", "1", "--store", str(store.path)]) == 2
    assert "--kernel" in capsys.readouterr().err
    assert main(["recommend", "-k", "add", "--batch", "0", "--store", str(store.path)]) == 2
    assert "--batch must be positive" in capsys.readouterr().err


# ---------------------------------------------------------------- symbench.compile


def test_compile_auto_serves_the_recommended_backend(first, store):
    served = symbench.compile("add", backend="auto", batch=64, store=store, among=BACKENDS)
    x, y = np.linspace(-1, 1, 64), np.linspace(2, 3, 64)
    assert np.array_equal(served(x, y), x + y)
    meta = served.metadata
    assert meta["chosen"]["by"] == "auto" and meta["chosen"]["run_id"] == first.measured_run
    assert meta["backend"] == first.picks[1].best.backend and meta["max_ulp"] <= 0.5


def test_compile_named_backends_return_numpy_arrays():
    x = np.linspace(-3, 3, 101)
    for backend in ("numpy", "jax"):
        served = symbench.compile("sigmoid", backend=backend)
        out = served(x)
        assert isinstance(out, np.ndarray)
        np.testing.assert_allclose(out, 1 / (1 + np.exp(-x)), rtol=1e-12)
    user = symbench.compile("x*tanh(y)", backend="numpy", domains={"x": (-2, 2), "y": (-2, 2)})
    assert user(np.array([2.0]), np.array([0.0]))[0] == 0.0


def test_compile_refuses_what_it_cannot_check():
    with pytest.raises(BadInput, match="needs domains"):
        symbench.compile("sin(x)/x", backend="numpy")
    with pytest.raises(symbench.Unsupported, match="erf"):
        symbench.compile("gelu", backend="numexpr")
