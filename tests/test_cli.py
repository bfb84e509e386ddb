"""The command line, including every bad input the foundation issue lists."""

import json
import subprocess
import sys
import warnings

import pytest

from symbench.cli import main


def run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def run_subprocess(*argv, env=None):
    import os

    proc = subprocess.run(
        [sys.executable, "-m", "symbench", *argv],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=600,
    )
    return proc.returncode, proc.stdout, proc.stderr


def one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert lines[0].startswith("symbench: error: ")
    return lines[0]


def test_backends_json(capsys):
    code, out, _ = run_cli(capsys, "backends", "--json")
    rows = json.loads(out)
    assert code == 0
    assert {r["id"] for r in rows} >= {
        "numpy",
        "numexpr",
        "ufuncify",
        "cython",
        "numba",
        "jax",
        "cupy",
    }
    for r in rows:
        assert set(r) >= {"id", "version", "devices", "available", "reason"}
        assert r["available"] or r["reason"]


def test_kernels_json(capsys):
    code, out, _ = run_cli(capsys, "kernels", "--json")
    rows = json.loads(out)
    assert code == 0 and len(rows) >= 14
    assert {"name", "args", "expr", "doc"} <= set(rows[0])


def test_check_expr_json(capsys):
    code, out, err = run_cli(
        capsys,
        "check",
        "--expr",
        "x*exp(-x**2) + y",
        "--domain",
        "x=-3:3",
        "--domain",
        "y=1:2",
        "--backend",
        "numpy,numba",
        "--json",
        "--no-progress",
    )
    rows = json.loads(out)
    assert code == 0, [(r["backend"], r["dtype"], r["status"], r["reason"]) for r in rows]
    assert len(rows) == 4  # 2 backends x 2 dtypes
    for r in rows:
        assert {
            "kernel",
            "backend",
            "device",
            "dtype",
            "status",
            "max_ulp",
            "max_rel_err",
            "reason",
        } <= set(r)
        assert r["kernel"] == "expr" and r["status"] == "pass", r


def test_cancellation_inherent_to_the_expression_passes_and_an_allowance_is_recorded(capsys):
    # x*exp(-x**2) + y crosses zero inside its domain: a correct float32 evaluation loses
    # relative accuracy there, and the running error bound allows exactly that.
    argv = [
        "check",
        "--expr",
        "x*exp(-x**2) + y",
        "--domain",
        "x=-3:3",
        "--domain",
        "y=-1:1",
        "--backend",
        "numpy",
        "--dtype",
        "float32",
        "--json",
        "--no-progress",
    ]
    code, out, _ = run_cli(capsys, *argv)
    res = json.loads(out)[0]
    assert code == 0 and res["status"] == "pass", res["reason"]
    assert res["tolerance"]["method"] == "running error bound"
    assert res["tolerance"]["at_worst"]["allowed"] > 0
    code, out, _ = run_cli(capsys, *argv, "--atol", "1e-6")
    res = json.loads(out)[0]
    assert code == 0 and res["tolerance"]["atol"] == 1e-6
    assert res["tolerance"]["extra_reason"] == "given on the command line"


def test_check_table_and_exit_code_on_failure(capsys, tmp_path):
    # cosh(x)/sinh(x) overflows float32 at x > 89: inf/inf is NaN where the truth is ~1.
    # Checked and found wrong -> 1.
    f = tmp_path / "overflow.py"
    f.write_text(
        "from symbench import Kernel\n"
        "KERNELS = [Kernel.from_expr('cosh(x)/sinh(x)', {'x': (1, 100)}, name='overflow')]\n"
    )
    code, out, _ = run_cli(
        capsys,
        "check",
        "--kernels-file",
        str(f),
        "--backend",
        "numpy",
        "--dtype",
        "float32",
        "--no-progress",
    )
    assert code == 1
    assert "fail" in out and "overflow" in out


BAD_INPUTS = [
    (["check", "--expr", "sin(x", "--domain", "x=0:1"], "cannot parse"),
    (["check", "--expr", "x + y", "--domain", "x=0:1"], "have no domain"),
    (["check", "--kernel", "sinx"], "unknown kernel 'sinx'"),
    (["check", "--backend", "nmupy", "--kernel", "add"], "known: numpy"),
    (["check", "--expr", "x", "--domain", "x=1:1"], "empty domain"),
    (["check", "--expr", "x", "--domain", "x=3:1"], "empty domain"),
    (["check", "--expr", "I*x", "--domain", "x=0:1"], "complex-valued"),
    (["check", "--expr", "sqrt(x)", "--domain", "x=-1:1", "--backend", "numpy"], "complex-valued"),
    (["check", "--kernels-file", "/nonexistent/kernels.py"], "does not exist"),
    (["check", "--domain", "x=0:1"], "--domain needs --expr"),
    (["check", "--expr", "x", "--domain", "x=zero:1"], "bounds must be numbers"),
    (["check", "--dtype", "float16", "--kernel", "add"], "unknown dtype"),
    (["check", "--size", "0"], "--size"),
    (["nosuchcommand"], "invalid choice"),
]


@pytest.mark.parametrize(("argv", "message"), BAD_INPUTS, ids=[m for _, m in BAD_INPUTS])
def test_bad_input_is_one_line_and_exit_2(capsys, argv, message):
    try:
        code = main([*argv, "--no-progress"] if argv[0] == "check" else argv)
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    out, err = capsys.readouterr()
    assert code == 2
    assert message in one_error_line(err)


def test_kernels_file_without_kernels(capsys, tmp_path):
    f = tmp_path / "empty.py"
    f.write_text("x = 1\n")
    code, _, err = run_cli(capsys, "check", "--kernels-file", str(f), "--no-progress")
    assert code == 2 and "defines no KERNELS" in one_error_line(err)


def test_unknown_backend_still_runs_the_known_ones(capsys):
    code, out, err = run_cli(
        capsys, "check", "--kernel", "add", "--backend", "numpy,bogus", "--json", "--no-progress"
    )
    assert code == 2 and "unknown backend 'bogus'" in one_error_line(err)
    assert {r["backend"] for r in json.loads(out)} == {"numpy"}


def test_missing_compiler_is_unavailable_and_others_still_run():
    code, out, err = run_subprocess(
        "check",
        "--kernel",
        "add",
        "--backend",
        "numpy,cython",
        "--json",
        "--no-progress",
        env={"CC": "symbench-no-such-compiler"},
    )
    rows = json.loads(out)
    assert code == 0, err
    by = {(r["backend"], r["dtype"]): r for r in rows}
    assert by["cython", "float64"]["status"] == "unavailable"
    assert "symbench-no-such-compiler" in by["cython", "float64"]["reason"]
    assert by["numpy", "float64"]["status"] == "pass"


def test_no_traceback_in_a_real_process():
    code, out, err = run_subprocess("check", "--expr", "sin(x", "--domain", "x=0:1")
    assert code == 2 and "cannot parse" in one_error_line(err)


def test_help_explains_the_commands():
    code, out, _ = run_subprocess("--help")
    assert code == 0 and "check" in out and "Exit codes" in out
    code, out, _ = run_subprocess("check", "--help")
    assert code == 0 and "--expr" in out and "--domain" in out


def test_every_command_has_help(capsys):
    from symbench.cli import build_parser

    sub = next(a for a in build_parser()._actions if a.dest == "command")
    assert {"gate", "recommend", "report", "export"} <= set(sub.choices)
    for name in sub.choices:
        with pytest.raises(SystemExit) as exc:
            main([name, "--help"])
        assert exc.value.code == 0
        assert "usage: symbench " + name in capsys.readouterr().out


def test_backends_lists_the_devices_with_their_fingerprint():
    from symbench.cli import device_lines

    fp = {
        "hostname": "box",
        "cpu": {"model": "Some CPU", "cores_usable": 8},
        "gpus": [
            {
                "id": "gpu:0",
                "name": "NVIDIA H100",
                "compute_capability": "9.0",
                "memory_bytes": 80 * 2**30,
                "driver": "550.54",
                "cuda_driver": "12.4",
                "uuid": "GPU-1234",
                "sm_clock_max_mhz": 1980,
            }  # fmt: skip
        ],
        "jax_devices": [{"id": "tpu:0", "platform": "tpu", "kind": "TPU v5 lite"}],
    }
    lines = device_lines(fp)
    assert lines[0] == "cpu: Some CPU, 8 usable cores, host box"
    assert "NVIDIA H100 (cc 9.0, 80 GiB, driver 550.54, CUDA 12.4" in lines[1]
    assert "GPU-1234" in lines[1] and lines[2] == "jax tpu:0: TPU v5 lite"
    bare = device_lines(fp | {"gpus": [], "jax_devices": []})
    assert bare[1].startswith("no GPU or TPU found")


def test_a_closed_pipe_is_not_a_traceback(monkeypatch):
    class ClosedPipe:
        def write(self, text):
            raise BrokenPipeError(32, "Broken pipe")

        def flush(self):
            raise BrokenPipeError(32, "Broken pipe")

        def fileno(self):
            raise ValueError("no descriptor")

    monkeypatch.setattr("sys.stdout", ClosedPipe())
    assert main(["kernels", "--json"]) == 141


def test_a_closed_pipe_in_a_shell_pipeline():
    proc = subprocess.run(
        f"{sys.executable} -m symbench kernels --json | head -c 1",
        shell=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.stdout == "[" and "Traceback" not in proc.stderr and proc.stderr == ""


def test_no_numpy_warnings_reach_the_terminal(capsys):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for expr in ("exp(x)", "x**30", "1/x", "log(x)*exp(x)"):
            code, _, _ = run_cli(
                capsys, "check", "--expr", expr, "--domain", "x=0:800", "-b", "numpy",
                "--no-progress",
            )  # fmt: skip
            assert code in (0, 1)
    assert not [w for w in caught if issubclass(w.category, RuntimeWarning)], caught


@pytest.mark.parametrize(
    ("argv", "message"),
    [  # a bad-input sweep found each of these hanging, crashing or accepted
        (["run", "--threads", "0"], "--threads: must be at least 1"),
        (["run", "--min-sample-s", "nan"], "--min-sample-s: must be a finite number"),
        (["run", "--min-sample-s", "inf"], "--min-sample-s: must be a finite number"),
        (["run", "--min-sample-s", "-1"], "--min-sample-s: must be a finite number"),
        (["run", "--sizes", "1e99"], "more than 268,435,456"),
        (["run", "--sizes", "10,,20"], "cannot read --sizes"),
        (["run", "--sizes", "2.5"], "must be positive integers"),
        (["check", "--seed", "-1"], "--seed: must be at least 0"),
        (["check", "--size", "10000000000000"], "--size: must be at most"),
        (["check", "--jobs", "0"], "--jobs/-j: must be at least 1"),
        (["accuracy", "--points", "99999999999999"], "--points: must be at most"),
        (["recommend", "--kernel", "add", "--batch", "1e99"], "--batch '1e99' asks for"),
        (["verify", "latest", "--timing-floor", "-1"], "--timing-floor: must be a finite"),
        (["monitor", "--min-runs", "0"], "--min-runs: must be at least 3"),
        (["fuzz", "--max-seconds", "nan"], "--max-seconds: must be a finite number"),
        (["gate", "latest", "--rerun", "--worker-timeout", "-1"], "--worker-timeout: must be"),
        (["check", "--device", "banana"], "unknown device 'banana'"),
        (["recommend", "-k", "add", "--device", "gpu0"], "unknown device 'gpu0'"),
    ],
)
def test_bad_numbers_are_one_line_and_exit_2(capsys, tmp_path, argv, message):
    try:
        code = main([*argv, "--store", str(tmp_path)] if argv[0] != "fuzz" else argv)
    except SystemExit as exc:  # argparse's own errors: one line, exit 2
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and message in err, err


def test_empty_names_are_bad_input_and_repeated_names_count_once(capsys, tmp_path):
    # `--kernel ""` meant "every kernel", and add,add checked each pair twice (sweep)
    for option in ("--kernel", "--backend", "--dtype"):
        code, _, err = run_cli(capsys, "check", option, "")
        assert code == 2 and err.count("\n") == 1 and "empty name" in err
    code, _, err = run_cli(capsys, "check", "-k", "add,,sinc", "-b", "numpy")
    assert code == 2 and "empty name in 'add,,sinc'" in err
    code, out, _ = run_cli(capsys, "check", "-k", "add,add", "-b", "numpy,numpy",
                           "--dtype", "float64,float64", "--json", "--no-progress")  # fmt: skip
    assert code == 0 and len(json.loads(out)) == 1


def test_a_kernels_file_cannot_end_symbench(capsys, tmp_path):
    for code_line in ("raise SystemExit(0)", "raise SystemExit(1)", "import sys; sys.exit()"):
        path = tmp_path / "k.py"
        path.write_text(code_line + "\n")
        code, _, err = run_cli(capsys, "check", "--kernels-file", str(path))
        assert code == 2 and "failed to run: SystemExit" in err


def test_kernels_lists_a_files_kernel_in_place_of_the_catalogs(capsys, tmp_path):
    f = tmp_path / "mine.py"
    f.write_text(
        "from symbench import Kernel\n"
        "KERNELS = [Kernel.from_expr('x + 2*y', {'x': (-1, 1), 'y': (-1, 1)}, name='add')]\n"
    )
    code, out, _ = run_cli(capsys, "kernels", "--kernels-file", str(f), "--json")
    rows = json.loads(out)
    (add,) = [r for r in rows if r["name"] == "add"]  # once, and it is the file's
    assert code == 0 and add["expr"] == "x + 2*y"
    assert {r["name"] for r in rows} >= {"sinc", "gelu"}
