"""Baseline environments for ``gate --rerun --base-env``: a virtualenv holding another
version of symbench (a git ref) or other packages (a requirements file), made once and
reused (CI caches the directory).

    symbench env create --ref main            # the code at main, with its own dependencies
    symbench env create --requirements old.txt   # this code, with those package versions

An environment lives in ``<root>/<key>/`` (``root`` default ``.symbench/envs``): ``src/`` (the
ref's files, from ``git archive``), ``venv/`` and ``env.json`` (what it was made from, written
last, so a half-made environment is made again). ``key`` is the ref's commit, or the sha256
of the requirements file with this checkout's commit.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tarfile
import venv
from dataclasses import asdict, dataclass
from pathlib import Path

from .errors import BadInput, SymbenchError

DEFAULT_ROOT = Path(".symbench") / "envs"


class EnvError(SymbenchError):
    """Making the environment failed (git, venv or pip said why). Exit code 1."""

    exit_code = 1


@dataclass
class Env:
    key: str
    python: str
    source: str  # "ref main (commit ...)" or "requirements old.txt (sha256 ...)"
    reused: bool


def _run(cmd: list[str], cwd: Path | None = None) -> str:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        raise EnvError(f"{' '.join(cmd[:4])} ... failed: " + " | ".join(tail))
    return proc.stdout


def _python(venv_dir: Path) -> Path:
    """The environment's interpreter, as an absolute path (usable from any directory)."""
    return venv_dir.absolute() / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def create(
    *,
    ref: str | None = None,
    requirements: str | None = None,
    root: Path = DEFAULT_ROOT,
    extras: str = "",
    system_site_packages: bool = False,
    repo: Path = Path("."),
) -> Env:
    """Make (or find) the environment for ``ref`` or ``requirements``; see the module doc."""
    if bool(ref) == bool(requirements):
        raise BadInput("give --ref REF or --requirements FILE (one of them)")
    head = _run(["git", "rev-parse", "HEAD"], repo).strip()
    if ref:
        try:
            commit = _run(["git", "rev-parse", "--verify", f"{ref}^{{commit}}"], repo).strip()
        except EnvError:  # the git repository answered: the ref is what is wrong
            raise BadInput(f"--ref {ref!r} names no commit in {repo.absolute()}") from None
        key, source = commit[:16], f"ref {ref} (commit {commit})"
    else:
        path = Path(requirements)
        if not path.is_file():
            raise BadInput(f"requirements file {requirements!r} does not exist")
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        key = hashlib.sha256(f"{digest}{head}".encode()).hexdigest()[:16]
        source = f"requirements {requirements} (sha256 {digest[:16]}) with commit {head}"
    where = root / key
    venv_dir = where / "venv"
    marker = where / "env.json"
    if marker.exists() and _python(venv_dir).exists():
        return Env(key, str(_python(venv_dir)), source, True)
    shutil.rmtree(where, ignore_errors=True)
    src = where / "src"
    src.mkdir(parents=True)
    archive = where / "src.tar"
    _run(["git", "archive", "--format=tar", "-o", str(archive.resolve()), commit if ref else head],
         repo)  # fmt: skip
    with tarfile.open(archive) as tar:
        try:
            tar.extractall(src, filter="data")  # refuses links and paths out of src
        except TypeError:  # Python before 3.10.12 / 3.11.4: git archive of our own repo
            tar.extractall(src)  # noqa: S202
    archive.unlink()
    venv.EnvBuilder(with_pip=True, system_site_packages=system_site_packages).create(venv_dir)
    python = str(_python(venv_dir))
    pip = [python, "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    if requirements:
        _run([*pip, "-r", str(Path(requirements).resolve())])
    target = f"{src.resolve()}[{extras}]" if extras else str(src.resolve())
    _run([*pip, target])
    marker.write_text(json.dumps(asdict(Env(key, python, source, False)), indent=1))
    return Env(key, python, source, False)
