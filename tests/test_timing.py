import gc
import itertools
import time

import numpy as np
import pytest

from symbench.backends.base import Compiled
from symbench.timing import calibrate, measure, thread_settings, time_compiled, time_end_to_end


def test_calibration_makes_a_sample_last_about_the_minimum():
    # a sleep never returns early, so a call lasts >= 1 ms: at most 10 loops; and a run
    # of one call already lasts a tenth of the sample, so the count comes from its time
    loops = calibrate(lambda: time.sleep(0.001), min_sample_s=0.01)
    assert 4 <= loops <= 10
    assert calibrate(lambda: time.sleep(0.02), min_sample_s=0.01) == 1


def test_calibration_of_a_fast_call_grows_tenfold_then_predicts():
    counted = {"calls": 0}

    def call():
        counted["calls"] += 1
        time.sleep(0.00005)

    loops = calibrate(call, min_sample_s=0.02)
    # runs of 1, 10 (and maybe 100) calls, never a whole sample's worth before it
    assert counted["calls"] <= 111
    assert 2 <= loops <= 400  # about 0.1 ms a call here; a loaded machine sleeps longer


def test_a_warm_call_as_long_as_a_sample_is_not_called_again_to_calibrate():
    def call():
        raise AssertionError("calibration called it")

    assert calibrate(call, min_sample_s=0.01, warm_call_s=0.03) == 1


def test_measure_keeps_every_raw_sample_and_consistent_statistics():
    t = measure(lambda: sum(range(100)), repeats=9, min_sample_s=0.001)
    assert len(t.samples) == 9 and t.loops >= 1
    assert t.min == min(t.samples)
    assert t.median == float(np.median(t.samples))
    q1, q3 = np.percentile(t.samples, [25, 75])
    assert t.iqr == pytest.approx(q3 - q1)
    d = t.to_dict()
    assert d["samples"] == t.samples and d["median_s"] == t.median


def test_gc_is_restored_after_sampling():
    assert gc.isenabled()
    measure(lambda: None, repeats=2, min_sample_s=0.0005)
    assert gc.isenabled()


def test_sync_is_inside_the_timed_region_and_inputs_move_once():
    moves = []

    def to_device(arrays):
        moves.append(1)
        return list(arrays)

    def slow_sync(out):  # an asynchronous device finishing its work
        time.sleep(0.002)
        return out

    c = Compiled(
        "fake",
        "k",
        "float64",
        "cpu",
        fn=lambda x: x,
        source="",
        to_device=to_device,
        sync=slow_sync,
    )
    t = time_compiled(c, [np.ones(3)], repeats=3, min_sample_s=0.001)
    assert t.min >= 0.002  # the sync's wait is part of every timed call
    assert moves == [1]


def test_repeats_must_be_positive():
    with pytest.raises(ValueError):
        measure(lambda: None, repeats=0)


def test_thread_settings_are_recorded():
    s = thread_settings()
    assert "OMP_NUM_THREADS" in s and s["cpu_count"] >= 1


def test_end_to_end_includes_both_transfers():
    moved = {"in": 0, "out": 0}

    def to_device(arrays):
        moved["in"] += 1
        time.sleep(0.001)  # a slow bus
        return list(arrays)

    def to_host(out):
        moved["out"] += 1
        return np.asarray(out)

    c = Compiled("fake", "k", "float64", "gpu:0", fn=lambda x: x, source="",
                 to_device=to_device, to_host=to_host)  # fmt: skip
    resident = time_compiled(c, [np.ones(3)], repeats=3, min_sample_s=0.001)
    e2e = time_end_to_end(c, [np.ones(3)], repeats=3, min_sample_s=0.001)
    assert e2e.min >= 0.001 > resident.min
    assert moved["out"] >= 3 * e2e.loops and moved["in"] >= 3 * e2e.loops + 1


def test_device_bandwidth_code_is_device_generic():
    pytest.importorskip("jax")
    from symbench.roofline import bandwidth, jax_bandwidth

    bw = jax_bandwidth("cpu", elements=1 << 16, repeats=2)  # the GPU/TPU path, on the CPU
    assert bw["device"] == "cpu" and bw["copy_gbs"] > 0 and bw["add_gbs"] > 0
    assert len(bw["add_samples_s"]) == 2
    assert bandwidth("gpu:7") is None  # no device: no made-up number


def _logged(log: list, sleep_s: float):
    """make(name): a call that appends its name to ``log`` and sleeps ``sleep_s``."""

    def make(name):
        def call():
            log.append(name)
            time.sleep(sleep_s)

        return call

    return make


def test_round_robin_takes_sample_i_of_every_callable_in_round_i():
    from symbench.timing import round_robin

    log = []
    make = _logged(log, sleep_s=0.001)

    timings = round_robin([make(i) for i in range(3)], repeats=4, min_sample_s=0.0005, warmup=1)
    assert all(t.loops == 1 and len(t.samples) == 4 for t in timings)
    # the last 12 calls are the samples: forward, then reverse, and so on
    assert log[-12:] == [0, 1, 2, 2, 1, 0, 0, 1, 2, 2, 1, 0]


def test_round_robin_gives_slow_callables_fewer_samples_within_max_time():
    from symbench.timing import round_robin

    log = []

    def slow():
        log.append("slow")
        time.sleep(0.02)

    def fast():
        log.append("fast")
        time.sleep(0.0002)

    # margins wide enough for a loaded machine: a sleep never returns early, and the fast
    # one's 1 ms samples may take 8 ms each and still fit
    s, f = round_robin(
        [slow, fast], repeats=6, min_sample_s=0.001, warmup=1, min_repeats=3, max_time_s=0.05
    )
    assert s.loops == 1 and len(s.samples) == 3  # 6 x 20 ms > 50 ms: down to the floor
    assert len(f.samples) == 6  # its 6 samples fit in 50 ms
    # the slow one sits out the last three rounds
    assert "slow" not in log[-3 * f.loops :] and log[-3 * f.loops - 1 - f.loops] == "slow"


def test_round_robin_keeps_going_when_one_callable_breaks():
    from symbench.timing import round_robin

    calls = {"n": 0}

    def breaks_later():
        calls["n"] += 1
        if calls["n"] > 4:
            raise RuntimeError("device lost")

    def fine():
        time.sleep(0.0002)

    broken, ok = round_robin([breaks_later, fine], repeats=5, min_sample_s=0.0001, warmup=1)
    assert isinstance(broken, RuntimeError) and "device lost" in str(broken)
    assert len(ok.samples) == 5


@pytest.mark.parametrize("backend", ["numpy", "numba", "numba-parallel", "cython", "ufuncify"])
def test_backends_that_can_write_into_an_output_are_timed_that_way(backend):
    from symbench import get_backend, get_kernel, make_inputs
    from symbench.timing import device_call, served_call

    b = get_backend(backend)
    if b.unavailable_reason():
        pytest.skip(b.unavailable_reason())
    c = b.compile(get_kernel("sigmoid"), "float64")
    inputs = make_inputs(get_kernel("sigmoid"), 1000, "float64", 0)
    call = device_call(c, inputs)
    first, second = call(), call()
    assert np.array_equal(first, c(*inputs))
    assert (first is second) == (c.fn_out is not None)  # one output, written again
    served = served_call(c, inputs)
    assert served() is not served() and np.array_equal(served(), first)  # a new array each
    assert (c.fn_out is None) == (backend == "numpy")


def test_the_cpu_ceiling_is_the_best_of_all_cores_and_one_thread(monkeypatch):
    from symbench import roofline

    fast = {"method": "threads", "copy_gbs": 9.0, "add_gbs": 8.0}
    slow = {"method": "numpy copyto / add, single thread", "copy_gbs": 3.0, "add_gbs": 2.0}
    monkeypatch.setattr(roofline, "bandwidth", lambda device, **kw: fast)
    monkeypatch.setattr(roofline, "single_thread_bandwidths", lambda **kw: [slow])
    assert roofline.ceiling("cpu", elements=10) is fast
    fast = {"method": "threads", "copy_gbs": 1.0, "add_gbs": 1.0}  # dispatch costs more
    assert roofline.ceiling("cpu", elements=10) is slow


def test_one_thread_is_measured_with_compiled_loops_as_well_as_numpy():
    from symbench import get_backend, roofline

    methods = [m["method"] for m in roofline.single_thread_bandwidths(elements=4096, repeats=2)]
    assert methods[-1] == "numpy copyto / add, single thread"
    if get_backend("numba").unavailable_reason() is None:
        assert methods[:-1] == ["numba loop copy / add, single thread"]  # not its variants


def test_latencies_are_taken_in_rounds_across_callables():
    from symbench.timing import LATENCY_CALLS, latencies_round_robin

    log = []

    def make(name):
        return lambda: log.append(name)

    slow_typical, fast_typical = 1.0, 1e-6  # the fewest calls, and the most
    a, b = latencies_round_robin(
        [make("a"), make("b")], budget_s=0.01, typical_s=[slow_typical, fast_typical]
    )
    lo, hi = LATENCY_CALLS
    assert a["calls"] == lo and b["calls"] == hi and len(b["samples"]) == hi
    # lo rounds, each a block of each callable's calls, alternate rounds reversed
    # (a round-0 block, b's; reversed: b's, a's; then a's, b's: neighbouring blocks merge)
    assert lo == 3
    per = [-(-hi * (r + 1) // lo) - -(-hi * r // lo) for r in range(lo)]
    blocks = [(name, len(list(group))) for name, group in itertools.groupby(log)]
    assert blocks == [("a", 1), ("b", per[0] + per[1]), ("a", 2), ("b", per[2])]
    assert a["p50_s"] <= a["p99_s"] <= a["max_s"]


def test_a_callable_that_raises_keeps_its_error_and_the_others_go_on():
    from symbench.timing import latencies_round_robin

    def broken():
        raise RuntimeError("device lost")

    bad, good = latencies_round_robin(
        [broken, lambda: None], budget_s=0.001, typical_s=[1e-4, 1e-4]
    )
    assert isinstance(bad, RuntimeError) and good["calls"] == 10


def test_a_call_already_made_stands_in_for_the_warm_up():
    from symbench.timing import round_robin

    log = []
    make = _logged(log, sleep_s=0.02)

    warmed, cold = round_robin(
        [make("warmed"), make("cold")], repeats=3, min_sample_s=0.01, warmup=1,
        warmed=[0.02, None],
    )  # fmt: skip
    # 0.02 s >= the sample: one loop, no warm-up and no calibration run for "warmed"
    assert log.count("warmed") == 3 and log.count("cold") == 4
    assert warmed.warmup_calls == 0 and cold.warmup_calls == 1
    assert warmed.loops == cold.loops == 1


def test_one_call_samples_of_the_served_call_are_its_latencies():
    from symbench.timing import Timing, latencies_from_samples

    long = Timing([0.02, 0.03, 0.025, 0.021, 0.022], loops=1, warmup_calls=0)
    lat = latencies_from_samples(long, budget_s=0.03)  # 3 calls of 20 ms would be taken
    assert lat["calls"] == 5 and lat["samples"] == long.samples
    assert lat["p50_s"] == 0.022 and lat["max_s"] == 0.03 and lat["from"] == "timing samples"
    # a budget that asks for more single calls than the samples hold: measure them
    assert latencies_from_samples(long, budget_s=0.2) is None
    # samples of many calls each are means, not latencies
    assert latencies_from_samples(Timing([0.001] * 5, 10, 1), budget_s=0.001) is None


@pytest.mark.parametrize("backend", ["numpy", "numba", "cython", "jax", "numexpr", "symengine"])
def test_only_a_host_backend_that_allocates_is_timed_as_it_is_served(backend):
    from symbench import get_backend, get_kernel
    from symbench.timing import timed_is_served

    b = get_backend(backend)
    if b.unavailable_reason():
        pytest.skip(b.unavailable_reason())
    c = b.compile(get_kernel("add"), "float64")
    # numba and cython are timed writing into an output, jax on device arrays
    assert timed_is_served(c) == (backend in ("numpy", "numexpr", "symengine"))
