"""symbench monitor: change points in stored histories (synthetic series and real records)."""

import copy
import json

import numpy as np
import pytest

pytest.importorskip("ruptures")

from symbench import get_backend, get_kernel, monitor  # noqa: E402
from symbench.cli import main  # noqa: E402
from symbench.records import Store  # noqa: E402
from symbench.runner import RunSettings, run  # noqa: E402


def _series(values) -> monitor.Series:
    s = monitor.Series("m", "k", "b", "cpu", "float64", 1000)
    s.run_ids = [f"r{i:02d}" for i in range(len(values))]
    s.times_s = list(values)
    return s


def _noisy(n, sigma, seed, step=0.0, at=None):
    rng = np.random.default_rng(seed)
    y = rng.normal(0.0, sigma, n)
    if at is not None:
        y[at:] += np.log1p(step)
    return np.exp(y) * 1e-3


def test_a_clear_step_is_found_where_it_happened_with_its_size():
    s = _series(_noisy(40, 0.03, seed=1, step=0.3, at=20))
    monitor.detect([s])
    (step,) = s.steps
    assert abs(step.index - 20) <= 1 and step.run_id == s.run_ids[step.index]
    assert 0.2 < step.change < 0.4 and step.confidence > 0.99


def test_flat_noise_has_no_change_points():
    flagged = 0
    for seed in range(40):
        s = _series(_noisy(50, 0.05, seed=seed))
        monitor.detect([s])
        flagged += bool(s.steps)
    assert flagged <= 2  # the calibration's limit is 5 %


def test_a_boundary_placed_where_noise_differs_most_is_not_significant_by_that():
    # PELT puts the boundary where the two sides differ most; with U's p-value computed as
    # if that place had been fixed, 30 of these 400 flat heavy-tailed series had a step at
    # alpha 0.01 (7.5 %); the permutation test of the largest U has 9
    rng = np.random.default_rng(5)
    stepped = 0
    for _ in range(400):
        s = _series(np.exp(rng.standard_t(4, 30) * 0.02))
        monitor.detect([s], min_change=0.0)
        stepped += bool(s.steps)
    assert stepped <= 14


def test_a_step_is_called_once_five_runs_follow_it_not_three():
    # three runs at the top of thirty are too common among shuffles to call a step
    early = _series(_noisy(30, 0.02, seed=4, step=0.25, at=27))
    called = _series(_noisy(30, 0.02, seed=4, step=0.25, at=25))
    monitor.detect([early])
    monitor.detect([called])
    assert early.steps == [] and [st.index for st in called.steps] == [25]


def test_exit_codes_say_slower_improved_or_too_short():
    slower = monitor.Report([_series(_noisy(30, 0.02, 3, step=0.25, at=15))], 0.10, 0.01, 8, 30, {})
    monitor.detect(slower.series)
    assert slower.exit_code == monitor.EXIT_SLOWER
    faster = monitor.Report(
        [_series(_noisy(30, 0.02, 3, step=-0.25, at=15))], 0.10, 0.01, 8, 30, {}
    )
    monitor.detect(faster.series)
    assert faster.flagged and faster.exit_code == monitor.EXIT_OK
    small = monitor.Report([_series(_noisy(30, 0.01, 3, step=0.07, at=15))], 0.10, 0.01, 8, 30, {})
    monitor.detect(small.series)  # a change point, but within the threshold: not flagged
    assert small.change_points and not small.flagged and small.exit_code == monitor.EXIT_OK
    short = monitor.Report([_series(_noisy(5, 0.02, 3))], 0.10, 0.01, 8, 5, {})
    assert short.exit_code == monitor.EXIT_TOO_SHORT


def _suite(runs, episode, sensitivity, seed=0, step_at=None, sigma=0.02):
    """16 series of one machine, device and size: seeded noise, every run in ``episode``
    slowed suite-wide (series i by ``sensitivity[i]`` times a 1.6x load, as a neighbour's
    load slows threads and memory-bound loops more), series 0 slowed 20 % from ``step_at``."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(16):
        y = rng.normal(0.0, sigma, runs)
        y[list(episode)] += sensitivity[i] * np.log(1.6)
        if step_at is not None and i == 0:
            y[step_at:] += np.log(1.2)
        s = monitor.Series("m", f"k{i}", "b", "cpu", "float64", 1000)
        s.run_ids = [f"r{j:02d}" for j in range(runs)]
        s.times_s = list(np.exp(y) * 1e-3)
        s.positions = list(range(1, runs + 1))
        s.length = runs
        out.append(s)
    return out


# The development VM's load episode of 2026-12-04: every other run from the 14th on.
EPISODE = (13, 15, 17, 19)
SENSITIVITY = np.linspace(0.5, 1.6, 16)


def test_runs_under_a_load_episode_are_left_out_not_taken_for_steps():
    for seed in range(3):
        report = monitor.judge(_suite(22, EPISODE, SENSITIVITY, seed=seed, step_at=11), {}, 22)
        assert report.disturbed == {"m/cpu/n=1000": [f"r{j:02d}" for j in EPISODE]}
        assert [s.kernel for s in report.flagged] == ["k0"]
        (step,) = report.flagged[0].steps
        assert abs(step.number - 12) <= 2 and step.run_id == f"r{step.number - 1:02d}"
        assert 0.15 < step.change < 0.25
        assert all(len(s.times_s) == 22 - len(EPISODE) for s in report.series)


def test_without_leaving_out_the_episode_the_report_is_wrong(monkeypatch):
    monkeypatch.setattr(monitor, "DISTURBED", 10.0)  # nothing counts as disturbed
    for seed in range(3):  # the episode hides the real step, or adds false ones
        report = monitor.judge(_suite(22, EPISODE, SENSITIVITY, seed=seed, step_at=11), {}, 22)
        assert not report.disturbed and [s.kernel for s in report.flagged] != ["k0"]


def test_a_lasting_level_change_is_the_machines_step_not_an_episode():
    report = monitor.judge(_suite(24, range(12, 24), np.ones(16) * 0.4), {}, 24)
    assert report.disturbed == {} and not report.change_points  # divided out of each pair
    (drift,) = report.drift
    (step,) = drift.steps
    assert step.number == 13 and 0.15 < step.change < 0.25
    # ... but every pair is 20 % slower for good: that fails the monitor like one pair would
    assert report.flagged == report.newest_slowdowns == [drift]
    assert report.exit_code == monitor.EXIT_SLOWER


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    """A store of 16 real records made from one run: numba's add at n=1000 slowed by 30 %
    from the 9th on, a little seeded noise on every timing."""
    root = tmp_path_factory.mktemp("history")
    settings = RunSettings(sizes=(1000,), dtypes=("float64",), repeats=3, min_sample_s=0.001,
                           check_size=200, measure_bandwidth=False)  # fmt: skip
    base, path = run([get_kernel("add")], [get_backend("numpy"), get_backend("numba")],
                     settings, Store(root / "seed"))  # fmt: skip
    store = Store(root / "runs")
    store.path.mkdir()
    rng = np.random.default_rng(0)
    for i in range(16):
        r = copy.deepcopy(base)
        r["run_id"] = f"20260101T0000{i:02d}Z-{i:06x}"
        r["created"] = f"2026-01-01T00:00:{i:02d}+00:00"
        for res in r["results"]:
            for t in res["timings"]:
                factor = np.exp(rng.normal(0, 0.02))
                if res["backend"] == "numba" and i >= 8:
                    factor *= 1.3
                t["median_s"] *= factor
        store.save(r)
    return store


def test_monitor_on_a_store_names_the_run_and_fails_on_a_newest_slowdown(history, capsys):
    code = main(["monitor", "--store", str(history.path), "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 1 and out["exit_code"] == 1
    (flag,) = out["change_points"]
    assert flag["key"] == "add/numba/cpu/float64/n=1000"
    assert out["flagged"] == [flag["key"]]
    (step,) = flag["steps"]
    assert abs(step["index"] - 8) <= 2 and 0.2 < step["change"] < 0.4
    assert out["newest_slowdowns"] == ["add/numba/cpu/float64/n=1000"]
    assert main(["monitor", "--store", str(history.path), "--threshold", "50%"]) == 0
    assert main(["monitor", "--store", str(history.path), "--backend", "numpy"]) == 0
    assert main(["monitor", "--store", str(history.path), "--backend", "numpyy"]) == 2
    assert main(["monitor", "--store", str(history.path), "--min-runs", "40"]) == 3


def test_report_marks_the_change_points(history, tmp_path):
    records, _ = history.load_all()
    out = tmp_path / "r.html"
    assert main(["report", *[r["run_id"] for r in records], "--store", str(history.path),
                 "--out", str(out)]) == 0  # fmt: skip
    page = out.read_text()
    assert "Change points over the runs" in page and "timing history with change points" in page


def _scenarios():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "tools" / "monitor_scenarios.py"
    spec = importlib.util.spec_from_file_location("monitor_scenarios", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    "name", ["one backend (9 pairs) +20 % at run 16 of 30", "whole suite +20 % at run 21 of 30"]
)
def test_the_scenario_tool_flags_exactly_the_moved_series(name):
    row = _scenarios().judge(name, seed=0, pairs=35, sigma=(0.019, 0.042))
    assert row["passed"], row
    assert row["flagged"] == row["expected"] and row["exit_code"] == monitor.EXIT_SLOWER
