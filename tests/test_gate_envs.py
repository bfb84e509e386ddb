"""gate --rerun --base-env: two worker processes, a real second virtualenv, and workers that
crash or hang."""

import json
import os
import subprocess
import sys
import venv

import pytest

from symbench import BadInput, get_backend, get_kernel
from symbench.cli import main
from symbench.gate.envs import rerun_envs
from symbench.records import Store
from symbench.runner import RunSettings, run


@pytest.fixture(scope="module")
def baseline(tmp_path_factory):
    store = Store(tmp_path_factory.mktemp("runs"))
    settings = RunSettings(sizes=(1000,), dtypes=("float64",), repeats=3, min_sample_s=0.001,
                           check_size=200, measure_bandwidth=False)  # fmt: skip
    record, _ = run([get_kernel("add"), get_kernel("sinc")], [get_backend("numpy")], settings,
                    store)  # fmt: skip
    return store, record


@pytest.fixture(scope="module")
def second_venv(tmp_path_factory):
    """A real second virtualenv, seeing this one's packages (and symbench) through
    --system-site-packages: another interpreter, another process, same code."""
    root = tmp_path_factory.mktemp("venv") / "base"
    venv.EnvBuilder(system_site_packages=True, with_pip=False).create(root)
    python = root / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    probe = subprocess.run([str(python), "-c", "import symbench.gate.worker"],
                           capture_output=True, text=True, check=False)  # fmt: skip
    if probe.returncode != 0:
        pytest.skip(f"the second virtualenv cannot import symbench: {probe.stderr[-300:]}")
    return str(python)


def _gate(store, record, *extra):
    return ["gate", "--rerun", record["run_id"], "--store", str(store.path), "--no-progress",
            "--samples", "16", "--min-sample-s", "0.001", *extra]  # fmt: skip


def test_identical_environments_in_two_processes_pass(baseline, second_venv, capsys):
    store, record = baseline
    # a relative path, as `symbench env create` users type it (the worker starts elsewhere)
    code = main(_gate(store, record, "--base-env", os.path.relpath(second_venv), "--json"))
    out = json.loads(capsys.readouterr().out)
    assert out["mode"] == "two environments" and code == out["exit_code"]
    assert out["counts"]["regression"] == 0 and out["counts"]["incorrect"] == 0
    assert len(out["comparisons"]) == 2  # add and sinc, numpy, float64, n=1000
    for c in out["comparisons"]:
        # matching sample counts, ABBA, from each of the two pairs of workers
        assert c["n_base"] == c["n_current"] == 2 * 16
        assert c["note"].startswith("process pairs: x") and c["note"].count(", x") == 1
    changes = "\n".join(out["environment_changes"])
    assert "baseline: symbench" in changes and "current: symbench" in changes
    assert "2 pairs of workers" in changes


def _fake_python(tmp_path, body: str) -> str:
    script = tmp_path / "python"
    script.write_text(f"#!{sys.executable}\nimport sys, time\n{body}\n")
    script.chmod(0o755)
    return str(script)


def test_a_worker_that_crashes_gives_exit_2_and_its_last_error(baseline, tmp_path, capsys):
    store, record = baseline
    python = _fake_python(
        tmp_path, "sys.stderr.write('ImportError: no symbench here\\n')\nsys.exit(1)"
    )
    assert main(_gate(store, record, "--base-env", python)) == 2
    err = capsys.readouterr().err
    assert "baseline worker" in err and "no symbench here" in err


def test_a_worker_that_hangs_is_stopped_by_the_timeout(baseline, tmp_path, capsys):
    store, record = baseline
    python = _fake_python(tmp_path, "time.sleep(600)")
    assert main(_gate(store, record, "--base-env", python, "--worker-timeout", "2")) == 2
    assert "did not answer hello within 2 s" in capsys.readouterr().err


def test_process_pairs_must_be_at_least_one(baseline, capsys):
    store, record = baseline
    with pytest.raises(SystemExit) as exc:  # argparse's one line
        main(_gate(store, record, "--base-env", sys.executable, "--process-pairs", "0"))
    assert exc.value.code == 2 and "--process-pairs: must be at least 1" in capsys.readouterr().err
    with pytest.raises(BadInput, match="--process-pairs must be at least 1"):  # the library
        rerun_envs(record, sys.executable, process_pairs=0)


def test_base_env_needs_rerun(baseline):
    store, record = baseline
    assert main(["gate", record["run_id"], record["run_id"], "--store", str(store.path),
                 "--base-env", sys.executable]) == 2  # fmt: skip


def test_base_dir_needs_base_env_and_a_ref_must_name_a_commit(baseline, capsys, tmp_path):
    # both were accepted: --base-dir ignored (exit 0), an unknown ref exit 1 (bad-input sweep)
    store, record = baseline
    assert main(_gate(store, record, "--base-dir", str(tmp_path))) == 2
    assert "goes with --base-env" in capsys.readouterr().err
    assert main(["env", "create", "--ref", "no-such-ref-anywhere", "--root", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "names no commit" in err


def test_env_create_makes_a_baseline_from_a_ref_once_and_the_gate_runs_in_it(
    baseline, tmp_path, capsys
):
    from pathlib import Path

    if not (Path(__file__).resolve().parents[1] / ".git").exists():
        pytest.skip("needs a git checkout")
    args = ["env", "create", "--ref", "HEAD", "--system-site-packages", "--root",
            str(tmp_path / "envs"), "--json"]  # fmt: skip
    assert main(args) == 0
    made = json.loads(capsys.readouterr().out)
    assert not made["reused"] and made["source"].startswith("ref HEAD (commit ")
    assert main(args) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["reused"] and again["python"] == made["python"]
    # the environment holds its own copy of symbench (the ref's files), not this checkout
    where = subprocess.run([made["python"], "-c", "import symbench; print(symbench.__file__)"],
                           capture_output=True, text=True, check=True, cwd=tmp_path).stdout  # fmt: skip
    assert str(tmp_path / "envs") in where
    store, record = baseline
    assert main(_gate(store, record, "--base-env", made["python"], "--json")) in (0, 3)
    out = json.loads(capsys.readouterr().out)
    assert any(c.startswith("baseline environment: ref HEAD") for c in out["environment_changes"])


def test_env_create_needs_exactly_one_source(tmp_path):
    assert main(["env", "create", "--root", str(tmp_path)]) == 2
    req = tmp_path / "r.txt"
    req.write_text("")
    assert main(["env", "create", "--ref", "HEAD", "--requirements", str(req)]) == 2
    assert main(["env", "create", "--requirements", str(tmp_path / "missing.txt")]) == 2
