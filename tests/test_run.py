"""symbench run / show / history / verify, on small settings (correctness, not speed)."""

import hashlib
import json
import os
import platform
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from symbench import get_backend, get_kernel, runner
from symbench.cli import main
from symbench.records import Store, load_file
from symbench.runner import RunSettings, run
from symbench.timing import STEADY_MALLOC, SYSTEM_MALLOC, steady_malloc

SMALL = ["--sizes", "1,64", "--repeats", "3", "--min-sample-s", "0.001", "--no-progress"]


def small_settings(**kw):
    return RunSettings(
        sizes=(1, 64),
        repeats=3,
        min_sample_s=0.001,
        check_size=200,
        bandwidth_elements=1 << 16,
        **kw,
    )


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    store = Store(tmp_path_factory.mktemp("runs"))
    kernels = [get_kernel("add"), get_kernel("sinc")]
    backends = [get_backend("numpy"), get_backend("numba")]
    record, path = run(kernels, backends, small_settings(), store, argv=["symbench", "run"])
    return store, record, path


def test_record_has_the_provenance_needed_to_rerun(recorded):
    store, record, path = recorded
    assert load_file(path) == json.loads(path.read_text())
    prov = record["provenance"]
    assert prov["symbench"] and prov["python"]["version"]
    assert set(prov["data"]) == {"divergences.toml", "math_accuracy.toml"}
    assert all(len(h) == 64 for h in prov["data"].values())
    for pkg in ("sympy", "numpy", "mpmath", "numba", "llvmlite"):
        assert prov["packages"][pkg]
    assert set(prov["git"]) == {"commit", "dirty", "root"}
    assert prov["machine"]["cpu"]["model"] and prov["machine"]["cpu"]["cores_logical"]
    assert "version" in prov["compiler"] or "error" in prov["compiler"]
    assert prov["threads"]["cpu_count"]
    assert record["settings"]["seed"] and record["inputs"]
    assert record["kernels"]["sinc"]["expr"].startswith("Mul(")  # srepr, rebuilt without eval


def test_every_source_is_stored_with_its_sha256(recorded):
    _, record, _ = recorded
    for sha, src in record["sources"].items():
        assert hashlib.sha256(src["text"].encode()).hexdigest() == sha
    assert all(
        r["source_sha256"] in record["sources"] for r in record["results"] if r["status"] == "pass"
    )


def test_passing_pairs_keep_every_raw_sample(recorded):
    _, record, _ = recorded
    timed = [r for r in record["results"] if r["status"] == "pass"]
    assert timed
    for r in timed:
        assert "timing_error" not in r, r["timing_error"]
        assert [t["size"] for t in r["timings"]] == [1, 64]
        for t in r["timings"]:
            assert len(t["samples"]) == 3 and t["median_s"] > 0 and t["loops"] >= 1
            assert t["gbs"] > 0 and t["bw_fraction"] is not None
    assert record["summary"] and record["bandwidth"]["cpu"]["copy_gbs"] > 0


def test_only_passing_pairs_are_timed(tmp_path, monkeypatch):
    from symbench import backends as registry

    from .test_equivalence import Scaled

    monkeypatch.setitem(registry.REGISTRY, "test-scaled", "tests.test_equivalence:Scaled")
    wrong = Scaled(1 + 1e-6)
    monkeypatch.setitem(registry._INSTANCES, "test-scaled", wrong)
    record, _ = run(
        [get_kernel("sigmoid")],
        [get_backend("numpy"), wrong],
        small_settings(dtypes=("float64",)),
        Store(tmp_path),
    )
    by = {r["backend"]: r for r in record["results"]}
    assert by["numpy"]["timings"] and by["test-scaled"]["status"] == "fail"
    assert not by["test-scaled"]["timings"] and by["test-scaled"]["reason"]  # schema 2: []


def test_show_history_and_verify(recorded, capsys):
    store, record, _ = recorded
    args = ["--store", str(store.path)]
    assert main(["show", record["run_id"][:12], *args, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["run_id"] == record["run_id"]
    assert main(["show", "latest", *args]) == 0
    assert "fastest correct backend" in capsys.readouterr().out
    assert main(["history", *args, "--kernel", "sinc", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["run_id"] for r in rows] == [record["run_id"]]
    assert main(["history", *args, "--kernel", "sinc,nope"]) == 2  # a typo is not "no runs"
    assert "no stored run has kernel 'nope' (stored: " in capsys.readouterr().err
    # The timing band is opened wide so this checks the mechanism, not this machine's noise.
    verify = ["verify", record["run_id"], *args, "--timing-floor", "100", "--no-progress", "--json"]
    assert main([*verify, "--strict-timings"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["reproduced"] and report["pairs"] and not report["timing_outside_band"]
    assert all(p["timing_ratios"] for p in report["pairs"] if p["was"] == "pass")
    assert report["timing_comparisons"] == sum(len(p["timing_ratios"]) for p in report["pairs"])


def test_verify_timing_verdict_is_on_the_whole():
    from symbench.verify import PairOutcome, VerifyReport

    def report(ratios, outliers=0, strict=False):
        p = PairOutcome(
            "k",
            "b",
            "cpu",
            "float64",
            "pass",
            "pass",
            timing_ratios=dict(enumerate(ratios)),
            timing_outliers=["x"] * outliers,
        )
        return VerifyReport("r", [p], [], [], strict=strict)

    assert report([1.0] * 20, outliers=1).reproduced  # 5 % outside: noise
    assert not report([1.0] * 20, outliers=1, strict=True).reproduced
    assert not report([1.0] * 20, outliers=3).reproduced  # 15 % outside
    assert not report([1.3] * 20).reproduced  # everything 30 % slower
    assert report([1.05, 0.97] * 10).reproduced


def test_verify_says_what_does_not_reproduce(recorded, tmp_path, capsys):
    _, record, _ = recorded
    tampered = json.loads(json.dumps(record))
    tampered["run_id"] = "20200101T000000Z-000000"
    first = next(r for r in tampered["results"] if r["status"] == "pass")
    first["source_sha256"] = "0" * 64
    tampered["provenance"]["packages"]["numpy"] = "0.0.1"
    store = Store(tmp_path)
    store.save(tampered)
    code = main(["verify", "20200101", "--store", str(tmp_path), "--no-timings", "--no-progress"])
    out = capsys.readouterr().out
    assert code == 1
    assert "generated source differs" in out and "not reproduced" in out
    assert "numpy: 0.0.1 ->" in out


def test_unknown_run_suggests_close_ids(recorded, capsys):
    store, record, _ = recorded
    wrong = record["run_id"][:-1] + ("0" if record["run_id"][-1] != "0" else "1")
    assert main(["show", wrong, "--store", str(store.path)]) == 2
    assert "closest:" in capsys.readouterr().err


def test_corrupt_and_newer_records(tmp_path, recorded, capsys):
    _, record, path = recorded
    store = Store(tmp_path)
    store.save(record)
    (tmp_path / "20990101T000000Z-dead00.json").write_text(path.read_text()[:100])
    newer = dict(record, run_id="20990102T000000Z-beef00", schema_version=99)
    (tmp_path / "20990102T000000Z-beef00.json").write_text(json.dumps(newer))
    assert main(["history", "--store", str(tmp_path), "--json"]) == 0
    out, err = capsys.readouterr()
    assert [r["run_id"] for r in json.loads(out)] == [record["run_id"]]
    assert "20990101T000000Z-dead00.json" in err and "schema version 99" in err
    assert main(["show", "20990101", "--store", str(tmp_path)]) == 2
    assert "corrupt or truncated" in capsys.readouterr().err


def _cli(*argv, store, **kw):
    return subprocess.Popen(
        [sys.executable, "-m", "symbench", *argv, "--store", str(store)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kw,
    )


def test_unwritable_store_fails_before_measuring(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    start = time.perf_counter()
    proc = _cli("run", "--kernel", "add", *SMALL, store=blocker / "runs")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 2 and "not writable" in err and "Traceback" not in err
    assert time.perf_counter() - start < 60  # nothing was measured first (generous bound)


@pytest.mark.slow
def test_two_runs_at_once_keep_both_records(tmp_path):
    argv = ("run", "--kernel", "add", "--backend", "numpy", *SMALL)
    procs = [_cli(*argv, store=tmp_path) for _ in range(2)]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    records, problems = Store(tmp_path).load_all()
    assert len(records) == 2 and not problems


@pytest.mark.slow
def test_a_killed_run_leaves_no_record(tmp_path):
    proc = _cli(
        "run",
        "--kernel",
        "add,sinc",
        "--backend",
        "numpy,numba",
        *SMALL,
        store=tmp_path,
        start_new_session=True,
    )
    time.sleep(4)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)
    records, problems = Store(tmp_path).load_all()
    assert not problems
    assert all(json.loads(p.read_text()) for p in tmp_path.glob("*.json"))  # complete if any
    assert not [p for p in tmp_path.iterdir() if p.suffix == ".json" and p.stat().st_size == 0]


@pytest.mark.slow
def test_cold_compile_time_survives_into_the_next_run(tmp_cache, tmp_path):
    # Regression: the record once stored the (contended) first compile of this run as the
    # cold time, so a warm run reported cache-hit costs as cold compile costs.
    store = Store(tmp_path)
    kernels, backends = [get_kernel("poly8")], [get_backend("numba"), get_backend("cython")]
    settings = small_settings(dtypes=("float64",))
    first, _ = run(kernels, backends, settings, store)
    second, _ = run(kernels, backends, settings, store)
    for a, b in zip(first["results"], second["results"]):
        assert a["compile"]["cold_build_s"] is not None
        assert b["compile"]["cold_build_s"] == a["compile"]["cold_build_s"]
    assert second["results"][1]["compile"]["cache_hit"] is True  # cython


def test_pairs_are_timed_in_groups_within_the_input_budget():
    from symbench.runner import TimingJob, _groups, time_jobs

    kernels = [get_kernel("add"), get_kernel("sinc")]
    jobs = [TimingJob(k, get_backend("numpy"), "float64", "cpu") for k in kernels]
    # add at n=64: 3 arrays of 512 bytes, twice (host and device copy)
    tight = small_settings(input_budget_bytes=2 * 3 * 64 * 8)
    assert [len(g) for g in _groups(jobs, 64, tight)] == [1, 1]
    assert [len(g) for g in _groups(jobs, 64, small_settings())] == [2]
    time_jobs(jobs, tight)
    for job in jobs:
        assert job.error is None
        assert [t["size"] for t in job.out["timings"]] == [1, 64]
        assert all(len(t["samples"]) == 3 for t in job.out["timings"])


def test_a_pair_that_breaks_while_timing_does_not_stop_the_others():
    from symbench.backends.base import Backend, Compiled
    from symbench.runner import TimingJob, time_jobs

    class BreaksAtSize64(Backend):
        id = "test-breaks"
        library = "numpy"

        def _compile(self, kernel, dtype, device):
            def fn(*a):
                if len(a[0]) == 64:
                    raise MemoryError("out of device memory")
                return a[0] + a[1]

            return Compiled(self.id, kernel.name, dtype, device, fn, "")

    add = get_kernel("add")
    broken = TimingJob(add, BreaksAtSize64(), "float64", "cpu")
    fine = TimingJob(add, get_backend("numpy"), "float64", "cpu")
    time_jobs([broken, fine], small_settings())
    assert "MemoryError: out of device memory" in broken.error
    assert fine.error is None and len(fine.out["timings"]) == 2


def test_the_record_says_how_samples_were_taken(recorded):
    _, record, _ = recorded
    assert record["settings"]["sampling"] == "round-robin"
    assert record["settings"]["layout"] == "fixed page offsets"  # timing.placed
    assert record["settings"]["min_repeats"] == 5 and record["settings"]["max_time_s"] > 0
    assert record["settings"]["malloc"] in (STEADY_MALLOC, SYSTEM_MALLOC)


@pytest.mark.skipif(
    not (sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"),
    reason="mallopt's thresholds are glibc's",
)
def test_a_run_fixes_mallocs_moving_thresholds_on_glibc():
    import ctypes

    # mallinfo2 is glibc 2.33+; without it, the return value is all that can be checked
    assert steady_malloc() == STEADY_MALLOC
    # a block above the old 128 kB default and below the fixed threshold comes from the
    # heap now: freeing it keeps the heap, where a mapped block would be unmapped
    libc = ctypes.CDLL(None)
    if not hasattr(libc, "mallinfo2"):
        return

    class Mallinfo2(ctypes.Structure):
        _fields_ = [(n, ctypes.c_size_t) for n in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
            "uordblks", "fordblks", "keepcost")]  # fmt: skip

    libc.mallinfo2.restype = Mallinfo2
    mapped_before = libc.mallinfo2().hblkhd
    block = np.empty(4 * 2**20, dtype=np.uint8)  # 4 MiB
    assert libc.mallinfo2().hblkhd - mapped_before < 4 * 2**20  # not a fresh mapping
    del block


def test_the_record_says_where_the_run_spent_its_time(recorded):
    _, record, _ = recorded
    phases = record["phases_s"]
    assert list(phases) == ["check", "bandwidth", "timing", "record"]
    assert all(v >= 0 for v in phases.values())
    assert phases["timing"] > 0 and sum(phases.values()) <= record["duration_s"]


def test_pairs_sharing_inputs_record_one_hash_of_them(recorded):
    _, record, _ = recorded
    for r in record["results"]:
        for t in r.get("timings", []):
            assert t["inputs_sha256"] == record["inputs"][f"{r['kernel']}/{r['dtype']}/{t['size']}"]


def test_threads_are_applied_and_recorded(tmp_path):
    numexpr = pytest.importorskip("numexpr")
    before = numexpr.get_num_threads()
    try:
        record, _ = run(
            [get_kernel("add")],
            [get_backend("numexpr")],
            small_settings(dtypes=("float64",), threads=1),
            Store(tmp_path),
        )
    finally:
        numexpr.set_num_threads(before)
    assert record["settings"]["threads"] == 1
    assert record["provenance"]["threads"]["numexpr_threads"] == 1


def test_each_timing_says_how_its_output_was_made(tmp_path):
    record, _ = run(
        [get_kernel("add")],
        [get_backend("numpy"), get_backend("numba")],
        small_settings(dtypes=("float64",)),
        Store(tmp_path),
    )
    output = {r["backend"]: {t["output"] for t in r["timings"]} for r in record["results"]}
    assert output == {"numpy": {"allocated"}, "numba": {"preallocated"}}
    assert record["settings"]["outputs"] == "preallocated where supported"
    assert all(t["latency"]["calls"] >= 5 for r in record["results"] for t in r["timings"])


def test_a_long_served_call_is_not_timed_twice(tmp_path, monkeypatch):
    from symbench import timing

    # NumPy's call is the served call; with one-call samples they are its latencies
    settings = RunSettings(
        sizes=(200_000,), dtypes=("float64",), repeats=3, min_sample_s=1e-6, latency_s=1e-4,
        check_size=200, measure_bandwidth=False,
    )  # fmt: skip
    monkeypatch.setattr(runner, "latencies_round_robin", _refuse_numpy(timing))
    record, _ = run(
        [get_kernel("gelu")], [get_backend("numpy"), get_backend("numba")], settings,
        Store(tmp_path),
    )  # fmt: skip
    (np_t,) = [t for r in record["results"] if r["backend"] == "numpy" for t in r["timings"]]
    (nb_t,) = [t for r in record["results"] if r["backend"] == "numba" for t in r["timings"]]
    assert np_t["loops"] == 1 and np_t["warmup_calls"] == 0
    assert np_t["latency"]["from"] == "timing samples"
    assert np_t["latency"]["samples"] == np_t["samples"]
    assert "from" not in nb_t["latency"] and nb_t["warmup_calls"] == 1  # measured apart


def _refuse_numpy(timing):
    def latencies(calls, **kw):
        assert len(calls) == 1, "only numba's served call is measured again"
        return timing.latencies_round_robin(calls, **kw)

    return latencies


def test_each_size_is_judged_against_the_ceiling_measured_at_that_size(tmp_path):
    settings = RunSettings(
        sizes=(1, 4096), repeats=3, min_sample_s=0.001, check_size=200,
        bandwidth_elements=1 << 16,
    )  # fmt: skip
    record, _ = run([get_kernel("add")], [get_backend("numpy")], settings, Store(tmp_path))
    bw = record["bandwidth"]["cpu"]
    # no ceiling where a call's fixed cost dominates; one per dtype, on arrays of as many
    # bytes as the kernel's (float32: half the float64 elements)
    assert set(bw["by_size"]) == {"float64/4096", "float32/4096"}
    assert bw["by_size"]["float64/4096"]["array_bytes"] == 4096 * 8
    assert bw["by_size"]["float32/4096"]["array_bytes"] == 4096 * 4
    large = max(bw["copy_gbs"], bw["add_gbs"])  # below 1 000 elements: the large-array one
    for result in record["results"]:
        by = {t["size"]: t for t in result["timings"]}
        ceiling = bw["by_size"][f"{result['dtype']}/4096"]
        peak = max(ceiling["copy_gbs"], ceiling["add_gbs"])
        assert by[1]["bw_fraction"] == pytest.approx(by[1]["gbs"] / large)
        assert by[4096]["bw_fraction"] == pytest.approx(by[4096]["gbs"] / peak)


def test_older_records_keyed_their_ceilings_by_size_alone():
    from symbench.roofline import peak_at

    bw = {
        "copy_gbs": 10.0,
        "add_gbs": 12.0,
        "by_size": {"4096": {"copy_gbs": 50.0, "add_gbs": 40.0}},
    }
    assert peak_at(bw, 4096, "float32") == 50.0 and peak_at(bw, 1, "float64") == 12.0


def test_variants_run_on_request_and_the_summary_says_what_each_buys(tmp_path, capsys):
    from symbench.records.summary import variant_gains

    args = ["run", "--kernel", "hydrogen_sum8", "--backend", "numba", "--variants"]
    code = main([*args, "--dtype", "float64", "--store", str(tmp_path), *SMALL, "--json"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    (row,) = out["variants"]
    assert (row["variant"], row["base"], row["kernels"]) == ("numba-fastmath", "numba", 1)
    assert row["speedup_geomean"] > 0 and row["lost"] == []
    record = load_file(Store(tmp_path).resolve("latest"))
    assert {r["backend"] for r in record["results"]} == {"numba", "numba-fastmath"}
    # a variant that fails where its base passes is named, with its reason
    for r in record["results"]:
        if r["backend"] == "numba-fastmath":
            r["status"], r["reason"] = "fail", "1 of 1000 points wrong (NaN/Inf placement differs)"
    (row,) = variant_gains(record)
    assert row["kernels"] == 0 and row["lost"] == [
        "hydrogen_sum8: fail (1 of 1000 points wrong (NaN/Inf placement differs))"
    ]


def test_the_backend_objects_checked_are_the_ones_timed(tmp_path):
    # Regression: run() timed a fresh registry backend under the same id, so a caller's
    # own instance (the calibration's slowed backend) was checked but never timed.
    calls = []

    class Counting(type(get_backend("numpy"))):
        def _compile(self, kernel, dtype, device):
            compiled = super()._compile(kernel, dtype, device)
            inner = compiled.fn
            compiled.fn = lambda *a: calls.append(1) or inner(*a)
            return compiled

    record, _ = run(
        [get_kernel("add")], [Counting()], small_settings(dtypes=("float64",)), Store(tmp_path)
    )
    # the check calls it a couple of times; the timing loops (every sample) far more
    samples = sum(len(t["samples"]) for r in record["results"] for t in r["timings"])
    assert samples and len(calls) > samples
