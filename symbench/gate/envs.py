"""``symbench gate --rerun BASELINE --base-env PYTHON``: two environments measured
interleaved.

``gate --rerun`` alone compares the baseline's kernel definitions with the current ones in
one process, so it cannot see a slower *environment* (a numba or Cython upgrade, new
compiler flags, a change of symbench's own code generation). Here each side is its own
worker process (``symbench.gate.worker``): the baseline's under ``PYTHON`` (another
virtualenv, or another checkout of the code, ``--base-dir``), the current one under this
interpreter. For every pair of the baseline record both workers compile their own
definition of the kernel; the current side is also checked against the reference (a
current pair that is no longer correct is ``incorrect``). Samples are then taken in ABBA
order (base, current, current, base, ...) with the same loop count on both sides, and the
paired statistics of ``gate --rerun`` decide. This is done by two pairs of workers, one
after the other, and a change counts only where both pairs show it: two processes of the
same environment can differ steadily on a short call. What differs between the two
environments (package versions, Python, compiler, symbench, git commit) is named in the
report.

The workers talk JSON lines over pipes; every answer has a deadline. A worker that crashes
or hangs stops the gate with ``WorkerFailed`` (exit 2) and the worker's last error.
"""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..backends import REGISTRY, get_backend
from ..errors import BadInput, SymbenchError
from ..records.provenance import environment_changes
from ..runner import Reporter
from ..timing import GLIBC_TUNABLES
from .records_mode import record_samples
from .report import (
    DEFAULT_ALPHA,
    DEFAULT_RERUN_PAIRS,
    DEFAULT_RERUN_SAMPLE_S,
    DEFAULT_THRESHOLD,
    INCORRECT,
    UNDECIDED,
    GateReport,
    PairKey,
)
from .rerun import compare_process_pairs

DEFAULT_TIMEOUT_S = 300.0  # one answer (a cold Cython build is the slowest, seconds)
# Pairs of workers measured one after the other; a change must show in each (why:
# rerun.compare_process_pairs).
DEFAULT_PROCESS_PAIRS = 2

# Both workers start alike: malloc's thresholds fixed (why: timing.steady_malloc; glibc's
# tunables, ignored elsewhere) and a fixed hash seed make them the same kind of process.
SAME_PROCESS_ENV = {"GLIBC_TUNABLES": GLIBC_TUNABLES, "PYTHONHASHSEED": "0"}


class WorkerFailed(SymbenchError):
    """A worker crashed, hung or could not start. Exit code 2: the gate decided nothing."""

    exit_code = 2


class Side:
    """One worker process and its pipes."""

    def __init__(
        self, name: str, python: str, cwd: str | None, timeout_s: float, cpus: set[int] | None
    ):
        if os.sep in python or "/" in python:  # a path: from here, not from the worker's cwd
            python = os.path.abspath(python)
        self.name, self.python, self.timeout_s = name, python, timeout_s
        self.log = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 (closed with the side)
        env = dict(os.environ)
        env.pop("PYTHONPATH", None)  # the side's own symbench, not ours
        for key, value in SAME_PROCESS_ENV.items():
            env.setdefault(key, value)  # a user's own setting reaches both sides alike
        try:
            self.proc = subprocess.Popen(
                [python, "-m", "symbench.gate.worker"], cwd=cwd, env=env, text=True,
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log,
            )  # fmt: skip
        except OSError as exc:
            raise WorkerFailed(f"{name} worker ({python}) did not start: {exc}") from None
        if cpus and hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(self.proc.pid, cpus)  # before it has threads to move
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.proc.stdout, selectors.EVENT_READ)

    def last_error(self) -> str:
        self.log.seek(0)
        lines = [ln for ln in self.log.read().splitlines() if ln.strip()]
        return lines[-1] if lines else "(no output)"

    def ask(self, **req: Any) -> dict[str, Any]:
        """Send one request and wait for its answer, at most ``timeout_s``."""
        try:
            self.proc.stdin.write(json.dumps(req) + "\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            self._fail(f"exited (code {self.proc.poll()}) before {req['op']}")
        deadline = time.monotonic() + self.timeout_s
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not self.sel.select(timeout=left):
                self.proc.kill()
                self._fail(f"did not answer {req['op']} within {self.timeout_s:g} s")
            line = self.proc.stdout.readline()
            if not line:
                self.proc.wait(10)
                self._fail(f"exited (code {self.proc.returncode}) during {req['op']}")
            try:
                return json.loads(line)
            except ValueError:
                continue  # a library printed on stdout: not an answer

    def _fail(self, what: str) -> None:
        raise WorkerFailed(
            f"{self.name} worker ({self.python}) {what}; its last error: {self.last_error()}"
        )

    def close(self, kill: bool = False) -> None:
        if self.log.closed:
            return
        if self.proc.poll() is None:
            if not kill:
                try:
                    self.proc.stdin.write('{"op": "quit"}\n')
                    self.proc.stdin.flush()
                    self.proc.wait(10)
                except (OSError, subprocess.TimeoutExpired):
                    pass
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(10)
        self.log.close()


def worker_cpus(backends: set[str]) -> set[int] | None:
    """The CPUs both workers run on: the same ones, so a core that a neighbour slows slows
    both sides alike (unpinned, the two workers of an A/A gate sat on different vCPUs and 4
    to 16 of 90 pairs differed by more than 10 % for minutes at a time). One core when
    every backend is serial; all usable cores when one is threaded."""
    if not hasattr(os, "sched_getaffinity"):
        return None
    usable = os.sched_getaffinity(0)
    if any(b in REGISTRY and get_backend(b).threaded for b in backends):
        return set(usable)
    return {max(usable)}


def rerun_envs(
    baseline: Mapping[str, Any],
    base_python: str,
    *,
    base_dir: str | None = None,
    current_python: str = sys.executable,
    pairs: int = DEFAULT_RERUN_PAIRS,
    min_sample_s: float = DEFAULT_RERUN_SAMPLE_S,
    threshold: float = DEFAULT_THRESHOLD,
    alpha: float = DEFAULT_ALPHA,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    process_pairs: int = DEFAULT_PROCESS_PAIRS,
    reporter: Reporter | None = None,
) -> GateReport:
    """Gate ``baseline``'s pairs measured under ``base_python`` against ``current_python``:
    ``process_pairs`` times a fresh pair of workers takes ``pairs`` ABBA samples of every
    pair, and a change counts only where every pair of workers shows it
    (``compare_process_pairs``)."""
    reporter = reporter or Reporter()
    if not Path(base_python).exists() and "/" in base_python:
        raise WorkerFailed(f"--base-env {base_python!r} does not exist")
    if process_pairs < 1:
        raise BadInput("--process-pairs must be at least 1")
    keys = sorted(record_samples(baseline))
    cpus = worker_cpus({k.backend for k in keys})
    blocks: list[dict[PairKey, tuple[list[float], list[float]]]] = []
    notes: dict[PairKey, tuple[str, str]] = {}
    hellos: dict[str, dict[str, Any]] = {}
    reporter.phase("gate", len(keys) * process_pairs)
    # `python -m` puts the working directory first on sys.path: the base worker must not
    # start where this checkout's symbench would shadow the one of its environment.
    with tempfile.TemporaryDirectory(prefix="symbench-base-") as neutral:
        for _ in range(process_pairs):
            base = Side("baseline", base_python, base_dir or neutral, timeout_s, cpus)
            head = None
            try:
                head = Side("current", current_python, None, timeout_s, cpus)
                hellos = {side.name: _hello(side) for side in (base, head)}
                todo = [k for k in keys if k not in notes]
                blocks.append(_measure(baseline, todo, base, head, notes, pairs,
                                       min_sample_s, reporter))  # fmt: skip
            finally:
                base.close()
                if head is not None:
                    head.close()
    blocks = [{k: v for k, v in block.items() if k not in notes} for block in blocks]
    report = compare_process_pairs(blocks, threshold=threshold, alpha=alpha,
                                   baseline_id=f"{baseline['run_id']} in {base_python}",
                                   current_id=f"now in {current_python}", notes=notes)  # fmt: skip
    report.mode = "two environments"
    report.environment = environment_changes(hellos["baseline"], hellos["current"])
    if cpus:
        report.environment.append(f"both workers ran on CPU(s) {', '.join(map(str, sorted(cpus)))}")
    if process_pairs > 1:
        report.environment.append(
            f"{process_pairs} pairs of workers, one after the other; a change counts where "
            "every pair shows it"
        )
    made = Path(base_python).absolute().parents[2] / "env.json"  # symbench env create's
    if made.is_file():
        report.environment.append(f"baseline environment: {json.loads(made.read_text())['source']}")
    for side in ("baseline", "current"):
        git = hellos[side].get("git") or {}
        report.environment.append(
            f"{side}: symbench {hellos[side].get('symbench')}, commit "
            f"{str(git.get('commit') or 'unknown')[:12]}{' (dirty)' if git.get('dirty') else ''}"
        )
    return report


def _hello(side: Side) -> dict[str, Any]:
    hi = side.ask(op="hello")
    if not hi.get("ok"):
        side._fail(f"refused hello: {hi.get('error')}")
    return hi["provenance"]


def _measure(
    baseline: Mapping[str, Any],
    keys: list[PairKey],
    base: Side,
    head: Side,
    notes: dict[PairKey, tuple[str, str]],
    pairs: int,
    min_sample_s: float,
    reporter: Reporter,
) -> dict[PairKey, tuple[list[float], list[float]]]:
    """One pair of workers: each key loaded on both sides, then ``pairs`` ABBA samples with
    the same loop count. A key that cannot be run, or whose current side fails its check,
    goes to ``notes`` instead."""
    seed = baseline["settings"]["seed"]
    samples: dict[PairKey, tuple[list[float], list[float]]] = {}
    for i, key in enumerate(keys):
        req = {"id": str(i), "kernel_name": key.kernel,
               "kernel": baseline["kernels"][key.kernel], "backend": key.backend,
               "dtype": key.dtype, "device": key.device, "size": key.size, "seed": seed}  # fmt: skip
        a = base.ask(op="load", **req)
        b = head.ask(op="load", check=True, **req)
        if not (a.get("ok") and b.get("ok")):
            err = a.get("error") if not a.get("ok") else b.get("error")
            side = "baseline" if not a.get("ok") else "current"
            notes[key] = (UNDECIDED, f"{side} environment cannot run it: {err}")
            continue
        if b.get("status") != "pass":
            notes[key] = (INCORRECT, f"current is {b.get('status')}: {b.get('reason', '')}")
            continue
        loops = max(base.ask(op="calibrate", id=req["id"], min_sample_s=min_sample_s)["loops"],
                    head.ask(op="calibrate", id=req["id"], min_sample_s=min_sample_s)["loops"])  # fmt: skip
        xs: list[float] = []
        ys: list[float] = []
        for p in range(pairs):  # ABBA: base, current, current, base, base, ...
            order = (base, head) if p % 2 == 0 else (head, base)
            for side in order:
                t = side.ask(op="time", id=req["id"], loops=loops)
                if not t.get("ok"):
                    side._fail(f"failed timing {key}: {t.get('error')}")
                (xs if side is base else ys).append(t["seconds"])
        samples[key] = (xs, ys)
        reporter.advance(str(key))
    return samples
