"""symbench gate: statistics on synthetic samples, exit codes, and the --rerun path.

Statistics are tested on samples drawn here (known truth); the rerun path is tested for
behaviour (what is measured, incorrect heads, missing kernels), never for speed.
"""

import copy
import json
import math
from pathlib import Path

import numpy as np
import pytest

from symbench import BadInput, Kernel, get_backend, get_kernel
from symbench.cli import main
from symbench.gate import (
    EXIT_NOT_ENOUGH_DATA,
    PairKey,
    compare_paired,
    compare_process_pairs,
    compare_records,
    min_paired_pairs,
    parse_threshold,
    record_samples,
    summary_lines,
)
from symbench.gate.stats import t_critical
from symbench.gate_rerun import rerun
from symbench.records import Store, new_record, new_result
from symbench.runner import RunSettings, run
from symbench.timing import interleave

BACKENDS = ("numpy", "numba", "cython", "jax")
SIZES = (1, 10, 100, 1000, 10_000)
KERNELS = ("add", "sinc", "gelu", "rbf", "poly8")


def fake_record(run_id, seed, *, noise=0.02, repeats=7, scale=None, cpu="test-cpu"):
    """A record with 100 timed pairs (4 backends x 5 kernels x 5 sizes) of lognormal samples.
    ``scale`` maps (kernel, backend) to a factor applied to that pair's samples."""
    rng = np.random.default_rng(seed)
    results = []
    for backend in BACKENDS:
        for kernel in KERNELS:
            factor = (scale or {}).get((kernel, backend), 1.0)
            timings = [
                {
                    "size": n,
                    "samples": list(
                        factor * 1e-6 * (1 + n / 100) * np.exp(rng.normal(0, noise, repeats))
                    ),
                }
                for n in SIZES
            ]
            results.append(new_result(kernel, backend, status="pass", timings=timings))
    return new_record(
        run_id,
        "2026-11-23T00:00:00+00:00",
        results,
        provenance={"packages": {"numpy": "2.0"}, "machine": {"cpu": {"model": cpu}}},
        settings={"seed": 0},
    )


def slower_copy(record, factor, run_id="slow"):
    out = copy.deepcopy(record)
    out["run_id"] = run_id
    for r in out["results"]:
        for t in r["timings"]:
            t["samples"] = [s * factor for s in t["samples"]]
    return out


# ------------------------------------------------------------------ records mode


def test_identical_records_pass():
    rec = fake_record("a", 1)
    report = compare_records(rec, rec)
    assert report.exit_code == 0
    assert len(report.comparisons) == 100 and report.suite_shift == pytest.approx(1.0)
    assert not report.regressions and not report.improvements


def test_a_uniformly_slower_copy_is_a_suite_regression():
    rec = fake_record("a", 1)
    report = compare_records(rec, slower_copy(rec, 1.3))
    assert report.exit_code == 1
    assert report.suite_verdict == "regression" and report.suite_shift == pytest.approx(1.3)


def test_independent_runs_of_the_same_code_pass():
    report = compare_records(fake_record("a", 1), fake_record("b", 2))
    assert report.exit_code == 0, [str(c.key) for c in report.regressions]


def test_one_slower_pair_is_found_among_noisy_others():
    base = fake_record("a", 1)
    current = fake_record("b", 2, scale={("sinc", "numba"): 1.3, ("add", "jax"): 0.6})
    report = compare_records(base, current)
    assert report.exit_code == 1
    regressed = {(c.key.kernel, c.key.backend) for c in report.regressions}
    improved = {(c.key.kernel, c.key.backend) for c in report.improvements}
    assert regressed == {("sinc", "numba")}
    assert improved == {("add", "jax")}
    worst = max(report.regressions, key=lambda c: c.ratio)
    assert 1.2 < worst.ratio < 1.4 and worst.low > 1.0 and worst.q <= report.alpha


def test_a_change_below_the_threshold_is_not_a_regression():
    base = fake_record("a", 1, noise=0.005)
    current = fake_record("b", 2, noise=0.005, scale={("sinc", "numba"): 1.05})
    assert compare_records(base, current, threshold=0.10).exit_code == 0
    assert compare_records(base, current, threshold=0.02).exit_code == 1


def test_a_record_gated_against_itself_passes_whatever_its_noise():
    for noise in (0.005, 0.3):
        record = fake_record("a", 1, noise=noise)
        report = compare_records(record, record)
        assert report.exit_code == 0 and report.verdict == "pass"
        assert not report.undecided and not report.regressions


def test_every_noise_figure_printed_is_the_one_the_test_used():
    base, current = fake_record("a", 1, noise=0.3), fake_record("b", 2, noise=0.3)
    report = compare_records(base, current)
    for c in report.comparisons:
        low = math.log(c.low)
        high = math.log(c.high)
        sd = (high - low) / 2 / t_critical()  # the interval the verdict used
        printed = float(c.note.split("noise ±")[1].split("%")[0]) / 100
        assert abs(math.expm1(sd) - printed) <= 0.006, c.note
    lines = list(summary_lines(report))
    shown = [ln for ln in lines if ln.startswith("between-run noise")]
    for backend, tau in report.noise.items():
        assert f"{backend} ±{math.expm1(tau):.0%}" in shown[0]


def test_runs_too_noisy_for_the_threshold_are_undecided_not_guessed():
    base, current = fake_record("a", 1, noise=0.3), fake_record("b", 2, noise=0.3)
    report = compare_records(base, current)
    assert report.exit_code == EXIT_NOT_ENOUGH_DATA
    # undecided: a ratio beyond the threshold that the noise does not let us confirm
    assert all(c.ratio > 1.1 or c.ratio < 1 / 1.1 for c in report.undecided)
    assert "use --rerun" in report.undecided[0].note
    drifted = compare_records(base, slower_copy(fake_record("c", 3, noise=0.3), 1.5))
    assert drifted.suite_verdict == "undecided" and "machine's speed" in drifted.problems[0]
    assert drifted.exit_code == EXIT_NOT_ENOUGH_DATA


def test_records_from_different_machines_are_refused_unless_allowed():
    a, b = fake_record("a", 1), fake_record("b", 2, cpu="other-cpu")
    with pytest.raises(BadInput, match="different environments.*CPU: test-cpu -> other-cpu"):
        compare_records(a, b)
    report = compare_records(a, b, allow_env_change=True)
    assert report.environment == ["CPU: test-cpu -> other-cpu"]


def test_too_few_samples_or_pairs_is_not_enough_data():
    few_samples = compare_records(fake_record("a", 1, repeats=3), fake_record("b", 2, repeats=3))
    assert few_samples.exit_code == EXIT_NOT_ENOUGH_DATA
    assert len(few_samples.insufficient) == 100
    small = fake_record("a", 1)
    small["results"] = small["results"][:1]  # 5 pairs: too few to estimate between-run noise
    report = compare_records(small, small)
    assert report.exit_code == EXIT_NOT_ENOUGH_DATA and "at least 8" in report.problems[0]
    assert compare_records(small, fake_record("x", 3) | {"results": []}).exit_code == 3


def test_record_samples_keys():
    keys = record_samples(fake_record("a", 1))
    assert PairKey("add", "numpy", "cpu", "float64", 10) in keys
    assert str(PairKey("add", "numpy", "cpu", "float64", 10)) == "add/numpy/cpu/float64/n=10"


# ------------------------------------------------------------------ paired (rerun) mode


def paired(n, factor=1.0, noise=0.02, seed=0, drift=True):
    rng = np.random.default_rng(seed)
    # a strong common drift (the machine's speed) that interleaving cancels
    speed = np.exp(np.cumsum(rng.normal(0, 0.1, n))) if drift else np.ones(n)
    a = 1e-5 * speed * np.exp(rng.normal(0, noise, n))
    b = factor * 1e-5 * speed * np.exp(rng.normal(0, noise, n))
    return list(a), list(b)


def test_paired_samples_cancel_drift_and_find_the_slow_pair():
    keys = [PairKey("k", "numpy", "cpu", "float64", n) for n in range(30)]
    data = {k: paired(21, seed=i) for i, k in enumerate(keys)}
    assert compare_paired(data).exit_code == 0
    data[keys[3]] = paired(21, factor=1.2, seed=99)
    report = compare_paired(data)
    assert report.exit_code == 1 and [c.key for c in report.regressions] == [keys[3]]
    assert report.regressions[0].low > 1.1


def test_a_change_counts_only_where_every_process_pair_shows_it():
    keys = [PairKey("k", "numpy", "cpu", "float64", n) for n in range(30)]
    first = {k: paired(21, seed=i) for i, k in enumerate(keys)}
    second = {k: paired(21, seed=100 + i) for i, k in enumerate(keys)}
    # one pair of processes differs steadily on keys[0] (placement), the other does not
    first[keys[0]] = paired(21, factor=1.15, seed=7)
    assert [c.key for c in compare_paired(first).regressions] == [keys[0]]
    report = compare_process_pairs([first, second])
    assert report.exit_code == 0
    c0 = next(c for c in report.comparisons if c.key == keys[0])
    assert c0.verdict == "unchanged" and c0.n_base == c0.n_current == 42
    assert c0.note.startswith("process pairs: x1.1")
    # a real slowdown shows in both: the ratio nearer 1 and the larger p-value are kept
    first[keys[3]], second[keys[3]] = paired(21, factor=1.3, seed=8), paired(21, factor=1.2, seed=9)
    report = compare_process_pairs([first, second])
    assert [c.key for c in report.regressions] == [keys[3]]
    c3 = report.regressions[0]
    alone = [compare_paired(b).comparisons[3] for b in (first, second)]
    assert c3.ratio == min(a.ratio for a in alone) and c3.p == max(a.p for a in alone)
    # opposite directions: their geometric mean, which is within the threshold here
    first[keys[5]], second[keys[5]] = paired(21, factor=1.2, seed=10), paired(21, 0.8, seed=11)
    c5 = compare_process_pairs([first, second]).comparisons[5]
    assert c5.verdict == "unchanged" and 0.9 < c5.ratio < 1.1
    # opposite directions whose geometric mean lies beyond the threshold (measured: a numpy
    # pair of a Cython-only change went x1.097 in one pair of workers, x0.693 in the other):
    # neither pair confirms what the other shows, so no change is claimed
    first[keys[6]], second[keys[6]] = paired(21, factor=1.1, seed=12), paired(21, 0.69, seed=13)
    c6 = compare_process_pairs([first, second]).comparisons[6]
    assert c6.ratio < 1 / 1.1 and c6.verdict == "undecided" and c6.p == 1.0
    assert "opposite directions" in c6.note


def test_a_process_pair_with_too_few_samples_leaves_the_pair_undecided():
    keys = [PairKey("k", "numpy", "cpu", "float64", n) for n in range(30)]
    full = {k: paired(21, seed=i) for i, k in enumerate(keys)}
    short = {**full, keys[2]: paired(3, seed=1)}
    report = compare_process_pairs([full, short])
    assert [c.key for c in report.undecided] == [keys[2]] and report.exit_code == 3


def test_too_few_paired_samples_is_not_enough_data():
    keys = [PairKey("k", "numpy", "cpu", "float64", n) for n in range(30)]
    need = min_paired_pairs(30, 0.01)
    assert 2.0 ** (1 - need) <= 0.01 / 30 < 2.0 ** (2 - need)
    report = compare_paired({k: paired(need - 1, factor=2.0) for k in keys})
    assert (
        report.exit_code == EXIT_NOT_ENOUGH_DATA
        and f"{need} are needed" in report.insufficient[0].note
    )


def test_interleave_alternates_abba():
    calls = []
    a, b = interleave(lambda: calls.append("a"), lambda: calls.append("b"), pairs=4,
                      min_sample_s=0, warmup=0)  # fmt: skip
    assert len(a.samples) == len(b.samples) == 4 and a.loops == b.loops == 1
    assert "".join(calls[-8:]) == "abbaabba"


@pytest.mark.parametrize(("text", "value"), [("10%", 0.1), ("2.5 %", 0.025), ("0.3", 0.3)])
def test_threshold_parsing(text, value):
    assert parse_threshold(text) == pytest.approx(value)


@pytest.mark.parametrize("text", ["ten", "0%", "-5%", "2000%"])
def test_bad_threshold_is_bad_input(text):
    with pytest.raises(BadInput):
        parse_threshold(text)


# ------------------------------------------------------------------ rerun (real measurements)


@pytest.fixture(scope="module")
def baseline(tmp_path_factory):
    settings = RunSettings(sizes=(1, 64), repeats=3, min_sample_s=0.001, check_size=200,
                           measure_bandwidth=False)  # fmt: skip
    record, _ = run([get_kernel("add"), get_kernel("sinc")], [get_backend("numpy")], settings,
                    Store(tmp_path_factory.mktemp("runs")))  # fmt: skip
    return record


def test_rerun_measures_every_pair_of_the_baseline(baseline):
    report = rerun(baseline, pairs=min_paired_pairs(8, 0.01), min_sample_s=0.0005)
    assert report.mode == "rerun"
    assert {c.key for c in report.comparisons} == set(record_samples(baseline))
    assert all(c.n_base == c.n_current == min_paired_pairs(8, 0.01) for c in report.comparisons)
    assert not report.insufficient and report.exit_code in (0, 1)


def test_rerun_reports_a_head_that_is_no_longer_correct(baseline):
    wrong = Kernel.from_expr("x*y", {"x": (-1, 1), "y": (-1, 1)}, name="add")

    def compile_head(kernel, backend, dtype, device):
        if kernel.name == "add":
            return get_backend(backend).compile(wrong, dtype, device)
        return get_backend(backend).compile(kernel, dtype, device)

    report = rerun(baseline, pairs=min_paired_pairs(8, 0.01), min_sample_s=0.0005,
                   compile_head=compile_head)  # fmt: skip
    assert report.exit_code == 1
    assert {c.key.kernel for c in report.regressions} == {"add"}
    assert all(c.verdict == "incorrect" and "head is fail" in c.note for c in report.regressions)


def test_rerun_without_the_current_kernel_is_undecided(baseline):
    report = rerun(baseline, current_kernels={"sinc": get_kernel("sinc")},
                   pairs=min_paired_pairs(8, 0.01), min_sample_s=0.0005)  # fmt: skip
    assert report.exit_code == EXIT_NOT_ENOUGH_DATA
    assert {c.key.kernel for c in report.insufficient} == {"add"}
    assert "not defined now" in report.insufficient[0].note


# ------------------------------------------------------------------ CLI


def write(tmp_path, record):
    path = tmp_path / f"{record['run_id']}.json"
    path.write_text(json.dumps(record))
    return str(path)


def test_cli_exit_codes(tmp_path, capsys):
    base = fake_record("20261123T000000Z-aaaaaa", 1)
    a = write(tmp_path, base)
    assert main(["gate", a, a]) == 2  # a run compared with itself says nothing
    assert "same run" in capsys.readouterr().err
    assert (
        main(["gate", a, write(tmp_path, slower_copy(base, 1.0, "20261123T000003Z-dddddd"))]) == 0
    )
    slow = write(tmp_path, slower_copy(base, 1.3, "20261123T000001Z-bbbbbb"))
    assert main(["gate", a, slow]) == 1
    assert "suite shift: x1.300 (regression)" in capsys.readouterr().out
    assert main(["gate", a, slow, "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["verdict"] == "regression"
    other = write(tmp_path, fake_record("20261123T000002Z-cccccc", 2, cpu="elsewhere"))
    assert main(["gate", a, other]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "CPU: test-cpu -> elsewhere" in err
    assert main(["gate", a, other, "--allow-env-change"]) == 0


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["gate", "A"], "give BASELINE and CURRENT"),
        (["gate", "A", "A", "--rerun"], "give only BASELINE"),
        (["gate", "A", "A", "--threshold", "lots"], "not a number"),
        (["gate", "A", "A", "--alpha", "2"], "--alpha"),
        (["gate", "A", "CORRUPT"], "corrupt or truncated"),
        # monitor took any --alpha (2: every step "significant") and shares gate's options now
        (["monitor", "--alpha", "2"], "--alpha"),
        (["monitor", "--alpha", "none"], "--alpha"),
        (["monitor", "--threshold", "-5%"], "--threshold"),
        (["monitor", "--min-change", "0"], "--min-change"),
    ],
)
def test_cli_bad_input(tmp_path, capsys, argv, message):
    a = write(tmp_path, fake_record("20261123T000000Z-aaaaaa", 1))
    corrupt = tmp_path / "20261123T000009Z-dddddd.json"
    corrupt.write_text(Path(a).read_text()[:100])
    argv = [{"A": a, "CORRUPT": str(corrupt)}.get(x, x) for x in argv]
    try:
        code = main([*argv, "--store", str(tmp_path)] if argv[0] == "monitor" else argv)
    except SystemExit as exc:  # argparse's own errors: one line, exit 2
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err


def test_runs_sampled_differently_are_not_compared_silently():
    from symbench.gate import method_changes

    old = {"min_sample_s": 0.01}  # recorded before the sampling field existed
    new = {"min_sample_s": 0.01, "sampling": "round-robin"}
    assert method_changes(old, new) == ["sampling: per-pair blocks -> round-robin"]
    assert method_changes(new, dict(new)) == []
    # a run with malloc's thresholds fixed against one made before: NumPy's allocating
    # calls moved up to 2x with the process's history then
    steady = new | {"malloc": "glibc mallopt: mmap_threshold=33554432, trim_threshold=134217728"}
    assert method_changes(new, steady) == [f"malloc: system default -> {steady['malloc']}"]


def test_markdown_and_junit_show_each_pair_for_ci(tmp_path, capsys):
    import xml.etree.ElementTree as ET

    store = Store(tmp_path / "runs")
    store.path.mkdir()
    base = fake_record("20260101T000000Z-aaaaaa", 1, noise=0.005)
    current = fake_record("20260101T000001Z-bbbbbb", 2, noise=0.005,
                          scale={("sinc", "numba"): 1.3, ("add", "jax"): 0.7})  # fmt: skip
    for r in (base, current):
        store.save(r)
    junit = tmp_path / "gate.xml"
    args = ["gate", base["run_id"], current["run_id"], "--store", str(store.path)]
    assert main([*args, "--format", "md", "--junit", str(junit)]) == 1
    md = capsys.readouterr().out
    assert md.startswith("### symbench gate: 🔴 regression (exit 1)")
    assert "#### 🔴 Regressions" in md and "#### 🟢 Improvements" in md
    assert "| `sinc/numba/" in md and "| `add/jax/" in md
    suite = ET.parse(junit).getroot()
    cases = suite.findall("testcase")
    assert int(suite.get("tests")) == len(cases) == 100
    failed = {(c.get("classname"), c.get("name")) for c in cases if c.find("failure") is not None}
    assert failed and all(cls == "sinc.numba" for cls, _ in failed)
    assert int(suite.get("failures")) == len(failed)
    assert main([*args, "--junit", str(tmp_path / "missing-dir" / "x.xml")]) == 2


@pytest.mark.parametrize(
    "argv",
    [
        ["gate", "A", "A", "--junit", "A"],
        ["report", "A", "--store", "S", "--out", "A", "--format", "md"],
        ["accuracy", "--family", "exp", "--backend", "numpy", "--points", "10", "--out", "A"],
    ],
)
def test_an_output_path_never_replaces_a_stored_record(tmp_path, capsys, argv):
    # Each of these once wrote its output over the record and exited 0.
    a = write(tmp_path, fake_record("20261123T000000Z-aaaaaa", 1))
    before = Path(a).read_bytes()
    argv = [{"A": a, "S": str(tmp_path)}.get(x, x) for x in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "it is a stored run record" in err
    assert Path(a).read_bytes() == before
