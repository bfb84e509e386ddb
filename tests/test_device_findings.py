"""Best accelerator against best CPU backend, from records alone (issue 5's GPU findings)."""

import importlib.util
import json
from pathlib import Path

import pytest

from symbench.records import Store, new_record
from symbench.summary import device_speedups

TOOL = Path(__file__).resolve().parent.parent / "tools" / "device_findings.py"


def _tool():
    spec = importlib.util.spec_from_file_location("device_findings", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _pair(kernel, backend, device, times, status="pass", e2e=None):
    return {
        "kernel": kernel,
        "backend": backend,
        "device": device,
        "dtype": "float32",
        "status": status,
        "timings": [
            {
                "size": n,
                "median_s": t,
                "bw_fraction": 0.9 if device != "cpu" else 0.5,
                "gbs": 3 * 4 * n / t / 1e9,
                "end_to_end": {"median_s": e2e} if e2e else None,
            }
            for n, t in times.items()
        ],
    }


def _record(run_id, results, bandwidth=None):
    return new_record(run_id, run_id, results, bandwidth=bandwidth or {})


def test_best_accelerator_against_best_cpu_size_by_size():
    record = _record(
        "r1",
        [
            _pair("add", "numpy", "cpu", {10**6: 4e-3, 10**8: 0.4}),
            _pair("add", "numexpr", "cpu", {10**6: 2e-3, 10**8: 0.1}),
            _pair("add", "cupy", "gpu:0", {10**6: 2e-5, 10**8: 4e-4}, e2e=0.05),
            _pair("add", "jax", "gpu:0", {10**6: 1e-5, 10**8: 5e-4}),
            _pair("sigmoid", "numpy", "cpu", {10**6: 1e-3}),  # never on the GPU: no row
        ],
    )
    rows = {(r["kernel"], r["size"]): r for r in device_speedups(record)}
    assert set(rows) == {("add", 10**6), ("add", 10**8)}
    small, large = rows["add", 10**6], rows["add", 10**8]
    assert (small["backend"], small["baseline_backend"]) == ("jax", "numexpr")
    assert small["speedup"] == pytest.approx(2e-3 / 1e-5)
    assert (large["backend"], large["baseline_backend"]) == ("cupy", "numexpr")
    assert large["speedup"] == pytest.approx(0.1 / 4e-4)
    assert large["end_to_end_s"] == 0.05 and small["end_to_end_s"] is None


def test_findings_merge_runs_of_one_machine(tmp_path, capsys):
    store = Store.open(tmp_path)
    gpu = _record(
        "20261123T000001Z-aaaaaa",
        [
            _pair("add", "cupy", "gpu:0", {10**8: 4e-4}),
            _pair("add", "cython", "gpu:0", {}, status="unsupported"),
        ],
        {"gpu:0": {"copy_gbs": 3000.0}},
    )
    cpu = _record(
        "20261123T000002Z-bbbbbb",
        [_pair("add", "numexpr", "cpu", {10**8: 0.1})],
        {"cpu": {"copy_gbs": 40.0}},
    )
    for rec in (gpu, cpu):
        (tmp_path / f"{rec['run_id']}.json").write_text(json.dumps(rec))
    tool = _tool()
    assert tool.main(["--store", str(store.path), "--all", "--json"]) == 0
    (out,) = json.loads(capsys.readouterr().out)
    assert set(out["bandwidth"]) == {"gpu:0", "cpu"}
    assert out["add_float32_largest"]["speedup"] == pytest.approx(250)
    assert out["equivalence"]["add"]["cython/gpu:0/float32"] == "unsupported"
    assert tool.main(["--store", str(store.path), "--all"]) == 0
    text = capsys.readouterr().out
    # add at 10^8 float32 moves 1.2 GB: in 0.4 ms that is 3000 GB/s, all of the copy bandwidth
    assert out["add_float32_largest"]["copy_fraction"] == pytest.approx(1.0)
    assert "3000 GB/s, 100% of the measured copy bandwidth" in text and "x250" in text


def test_findings_on_an_empty_store_is_one_line_and_exit_2(tmp_path, capsys):
    assert _tool().main(["--store", str(tmp_path), "--all"]) == 2
    assert "no runs" in capsys.readouterr().err


def test_the_gpu_script_is_valid_bash_and_every_symbench_call_parses():
    """tools/gpu_run.sh cannot run without a GPU; at least its commands must be right."""
    import re
    import shlex
    import subprocess

    from symbench.cli import build_parser

    script = TOOL.parent / "gpu_run.sh"
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
    text = script.read_text().replace("\\\n", " ")
    values = {"dev": "gpu:0", "out": "results/x", "store": "results/x/runs", "kernels": "add"}
    values |= {"parallel": "jax,numexpr", "serial": "numpy,numba"}  # read from the registry
    calls = [line.strip() for line in text.splitlines() if line.strip().startswith("symbench ")]
    assert len(calls) >= 5
    parser = build_parser()
    for line in calls:
        command = re.split(r" \|\| | \| | > ", line)[0]  # no pipes or redirections
        command = re.sub(r"\$(\w+)", lambda m: values[m.group(1)], command)
        argv = shlex.split(command)[1:]
        parser.parse_args(argv)  # argparse exits (SystemExit) on an unknown option
