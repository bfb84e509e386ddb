"""The CI recipes' own commands, run here: the `run:` steps of
.github/workflows/perf-gate.yml and the `script:` of .gitlab-ci.yml's perf-gate job, in a
fresh clone of this repository, with the base ref at HEAD and the matrix narrowed through
the variables the recipes expose (the rest of each command is exactly as written)."""

import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parents[1]
NARROW = {
    "SYMBENCH_GATE_RUN_ARGS": "--kernel add,sinc --backend numpy --dtype float64 "
    "--sizes 1000 --repeats 3 --min-sample-s 0.001",
    "SYMBENCH_ENV_ARGS": "--system-site-packages",  # fast: only symbench itself is installed
    "BASE_REF": "HEAD",
}
SKIP = ("python -m pip install -e .", "gh pr comment")  # installed already; needs GitHub


@pytest.fixture
def clone(tmp_path):
    if not (ROOT / ".git").exists() or shutil.which("git") is None:
        pytest.skip("needs a git checkout")
    dest = tmp_path / "repo"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(dest)], check=True)
    return dest


def _bash(script: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-e", "-c", script], cwd=cwd, env=env, text=True,
                          capture_output=True, timeout=900, check=False)  # fmt: skip


def test_github_workflow_steps_run_here(clone, tmp_path):
    flow = yaml.safe_load((clone / ".github/workflows/perf-gate.yml").read_text())
    steps = flow["jobs"]["gate"]["steps"]
    files = {
        k: tmp_path / k.lower() for k in ("GITHUB_ENV", "GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY")
    }
    for f in files.values():
        f.write_text("")
    env = {**os.environ, **{k: str(v) for k, v in flow["env"].items()}, **NARROW,
           **{k: str(v) for k, v in files.items()}}  # fmt: skip
    outputs: dict[str, dict[str, str]] = {}
    ran = 0
    for step in steps:
        script = step.get("run")
        if not script or any(s in script for s in SKIP):
            continue
        # ${{ steps.ID.outputs.NAME }}: what an earlier step wrote to GITHUB_OUTPUT
        script = re.sub(r"\$\{\{\s*steps\.(\w+)\.outputs\.(\w+)\s*\}\}",
                        lambda m: outputs[m.group(1)][m.group(2)], script)  # fmt: skip
        assert "${{" not in script, script
        for line in files["GITHUB_ENV"].read_text().splitlines():
            key, _, value = line.partition("=")
            env[key] = value
        proc = _bash(script, clone, env)
        assert proc.returncode == 0, (step.get("name"), proc.stdout[-1500:], proc.stderr[-1500:])
        if step.get("id"):
            outputs[step["id"]] = dict(
                ln.split("=", 1)
                for ln in files["GITHUB_OUTPUT"].read_text().splitlines()
                if "=" in ln
            )
        ran += 1
    assert ran >= 4
    assert outputs["gate"]["code"] in ("0", "3")
    summary = files["GITHUB_STEP_SUMMARY"].read_text()
    assert summary.startswith("### symbench gate:")
    suite = ET.parse(clone / "gate-junit.xml").getroot()
    assert int(suite.get("tests")) == 2  # add and sinc


def test_gitlab_job_script_runs_here(clone):
    job = yaml.safe_load((clone / ".gitlab-ci.yml").read_text())["perf-gate"]
    lines = [ln for ln in job["script"] if not any(s in ln for s in SKIP)]
    env = {**os.environ, **{k: str(v) for k, v in job["variables"].items()}, **NARROW}
    proc = _bash("\n".join(lines), clone, env)
    assert proc.returncode == 0, (proc.stdout[-1500:], proc.stderr[-1500:])
    assert "### symbench gate:" in proc.stdout
    assert (clone / "gate-junit.xml").exists() and (clone / "gate.md").exists()
