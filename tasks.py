"""invoke tasks: each a one-line call of symbench, pytest or a tool script.

invoke --list
"""

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
def asv(c, quick=True, bench=""):
    """asv in the current environment, results saved for HEAD (`--no-quick` for full timing)."""
    flags = f"{'--quick' if quick else ''} {f'-b {bench}' if bench else ''}"
    c.run(
        f"asv machine --yes && asv run --python=same {flags} --set-commit-hash $(git rev-parse HEAD)"
    )


@task
def asv_publish(c):
    """Build asv's HTML pages into .asv/html."""
    c.run("asv publish")
