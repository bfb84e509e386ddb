"""invoke tasks: each a one-line call of symbench, pytest or a tool script.

invoke --list
"""

import os

from invoke import task


@task
def test(c, slow=True):
    """Run the test suite (`--no-slow` skips compiled builds and the full matrix)."""
    c.run("pytest" if slow else "pytest -m 'not slow'", pty=False)


@task
def lint(c):
    """ruff lint and format check."""
    c.run("ruff check . && ruff format --check .")


@task
def check(c, kernel="", backend=""):
    """Equivalence of every kernel x backend x dtype against the mpmath reference."""
    c.run(
        f"symbench check {f'--kernel {kernel}' if kernel else ''} {f'--backend {backend}' if backend else ''}"
    )


@task
def run(c, quick=False):
    """The main job: check, time and record (`--quick` for the representative subset)."""
    c.run(f"symbench run {'--quick' if quick else ''}")


@task
def perf(c):
    """pytest-benchmark over the same matrix and prepare path as `symbench run`."""
    c.run("pytest tests/perf --benchmark-only")


@task
def timeit_agreement(c):
    """Compare the timing core with timeit (best of repeats) at 1 000 000 elements."""
    c.run("python tools/timing_vs_timeit.py")


@task
def asv(c, quick=True, bench="", own_env=False):
    """asv with our device fingerprint in the machine info; results saved for HEAD.

    Default: the current environment, `--quick`. `--no-quick` times properly; `--own-env`
    lets asv build its own virtualenv from the repository (asv's normal way)."""
    flags = f"{'--quick' if quick else ''} {f'-b {bench}' if bench else ''}"
    where = "" if own_env else "--python=same --set-commit-hash $(git rev-parse HEAD)"
    c.run("asv machine --yes && python -m symbench.asv_machine")
    c.run(f"asv run --launch-method forkserver {where} {flags}")
    # Results live in the tracked asv/results (commit them: that is the history); with an
    # MLflow store configured, each result file is also logged there with its machine.
    from symbench.records.mlflow_store import is_tracking_uri

    if is_tracking_uri(os.environ.get("SYMBENCH_STORE")):
        c.run("symbench push --asv")


@task
def gate(c, baseline="", current="", rerun=False, threshold="10%"):
    """Regression gate: `--baseline A --current B`, or `--baseline A --rerun` (for CI)."""
    if rerun:
        c.run(f"symbench gate --rerun {baseline or 'latest'} --threshold {threshold}")
    else:
        c.run(f"symbench gate {baseline} {current} --threshold {threshold}")


@task
def calibrate(c, runs=20, mode="aa", baseline=""):
    """Gate calibration on this machine: `--mode aa` (false alarms), `inject` (20 %/10 %
    slowdowns), `records` (two-run mode, from `--baseline`'s store directory)."""
    if mode == "records":
        c.run(f"python tools/gate_calibration.py records --store {baseline or '.symbench/runs'}")
    else:
        base = f"--baseline {baseline}" if baseline else ""
        c.run(f"python tools/gate_calibration.py {mode} --runs {runs} {base}")


@task
def recommend(c, kernel="gelu", batch="1,1000,1000000"):
    """Which backend to serve a kernel with, per batch size (from the store, else measured)."""
    c.run(f"symbench recommend --kernel {kernel} --batch {batch}")


@task
def report(c, out="report.html"):
    """HTML report of the latest run (`--out report.md` for Markdown)."""
    c.run(f"symbench report --out {out}")


@task
def serve_overhead(c):
    """Overhead of symbench.compile(...) over the backend's own function at batch 1."""
    c.run("python tools/serve_overhead.py")


@task
def asv_publish(c):
    """Build asv's HTML pages into .asv/html from the tracked results in asv/results."""
    c.run("asv publish")


@task
def accuracy(c, backend="", device=""):
    """Each backend's math library per function family (max ULP), as math_accuracy.toml
    entries (`--backend jax --device gpu:0` on an accelerator)."""
    b = f"--backend {backend}" if backend else ""
    d = f"--device {device}" if device else ""
    c.run(f"symbench accuracy {b} {d} --toml")


@task
def gpu(c, device="gpu:0"):
    """On a GPU machine: check, accuracy survey, GPU and CPU runs, findings (results/<GPU>/)."""
    c.run(f"tools/gpu_run.sh {device}")


@task
def fma_effect(c):
    """What fused multiply-add (as nvcc contracts by default) alone does to each kernel."""
    c.run("python tools/fma_effect.py")
